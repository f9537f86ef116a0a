"""The demo's routing rules and conversions (``manage.py seed_demo`` runs them)."""

from __future__ import annotations

import random

from pulse.accounts.models import Role
from pulse.leads.demo import seed_assignment_rules, seed_conversions
from pulse.leads.models import AssignmentRule, Lead
from pulse.leads.services import lead_create
from tests.accounts.factories import make_member, make_team


def test_demo_rules_route_and_conversions_convert(in_org, owner):
    people = {
        "owner": owner,
        "manager": make_member(in_org, Role.MANAGER, full_name="Maria Georgieva"),
        "rep1": make_member(in_org, Role.SALES_REP, full_name="Nikolay Ivanov"),
        "rep2": make_member(in_org, Role.SALES_REP, full_name="Elena Dimitrova"),
    }
    make_team(in_org, "Enterprise Sales", members=[people["rep1"], people["rep2"]])

    seed_assignment_rules(in_org, people, random.Random(1))

    assert list(AssignmentRule.objects.order_by("position").values_list("name", flat=True)) == [
        "Bulgaria → Maria",
        "Big deals: Enterprise Sales round robin",
        "Everyone else: fewest open leads",
    ]
    sofia = lead_create(org=in_org, actor=owner, title="Sofia", last_name="A", country="BG")
    big = lead_create(org=in_org, actor=owner, title="Big", last_name="B", value="50000")
    assert sofia.assigned_to == people["manager"]
    assert big.assigned_to in (people["rep1"], people["rep2"])

    for i in range(3):
        lead_create(org=in_org, actor=owner, title=f"Co {i}", last_name="C", company_name=f"Co {i}")
    seed_conversions(in_org, people, random.Random(1), count=2)

    converted = Lead.objects.filter(converted_at__isnull=False)
    assert converted.count() == 2
    assert all(lead.converted_contact_id and lead.converted_company_id for lead in converted)
