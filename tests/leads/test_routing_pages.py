"""Routing screens and API: the generic page/API/filter tests for assignment rules, plus
reorder, toggle, availability, and "route again" on a lead."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Membership, Role
from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases, api_client
from pulse.leads.filtersets import AssignmentRuleFilterSet
from pulse.leads.models import AssignmentRule
from pulse.leads.routing import assignmentrule_create
from pulse.leads.services import lead_create
from tests.accounts.factories import make_member
from tests.conftest import login


class TestAssignmentRuleViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = AssignmentRule

    def form_data(self, world):
        return {
            "name": "Round robin EU",
            "strategy": "round_robin",
            "active": "on",
            "users": [str(world.owner.pk)],
        }

    edit_data = None
    invalid_form_data = {"name": "", "strategy": "territory", "territories": "BG = nobody"}


class TestAssignmentRuleAPI(APITestCases.APITestCase):
    model = AssignmentRule
    api_basename = "assignmentrule"

    def create_data(self, world):
        return {
            "name": "Bulgaria",
            "strategy": "territory",
            "territories": {"BG": world.owner.pk},
            "conditions": [{"field": "source", "operator": "equals", "value": "web_form"}],
        }

    update_data = {"name": "Renamed", "active": True}
    invalid_create_data = {"name": "No people", "strategy": "round_robin"}
    invalid_create_error_fields = {"users"}


class TestAssignmentRuleFilterSet(FilterSetTestCase):
    model = AssignmentRule
    filterset = AssignmentRuleFilterSet
    api_basename = "assignmentrule"

    def filter_objects(self, world):
        org, owner = world.org, world.owner
        return {
            "rr": assignmentrule_create(
                org=org, actor=owner, name="Sales round", strategy="round_robin", users=[owner]
            ),
            "terr": assignmentrule_create(
                org=org,
                actor=owner,
                name="Bulgaria",
                strategy="territory",
                territories={"BG": owner.pk},
                active=False,
            ),
        }

    filter_cases = [
        ({"search": "bulg"}, {"terr"}),
        ({"strategy": "round_robin"}, {"rr"}),
        ({"active": "false"}, {"terr"}),
        ({"active": "true"}, {"rr"}),
    ]


# --- flat tests -------------------------------------------------------------------------------


def test_rule_form_reads_conditions_and_territories_as_text(in_org, org, owner):
    client = login(owner, org)
    response = client.post(
        reverse("leads:assignmentrule_create"),
        {
            "name": "Bulgaria",
            "strategy": "territory",
            "active": "on",
            "conditions": "source in web_form, event\nvalue gt 1000",
            "territories": f"bg = {owner.email.upper()}",
        },
    )
    assert response.status_code == 302
    rule = AssignmentRule.objects.get()
    assert rule.conditions == [
        {"field": "source", "operator": "in", "value": "web_form, event"},
        {"field": "value", "operator": "gt", "value": "1000"},
    ]
    assert rule.territories == {"BG": owner.pk}
    page = client.get(reverse("leads:assignmentrule_edit", args=[rule.pk])).content.decode()
    assert f"BG = {owner.email}" in page
    assert "value gt 1000" in page


def test_rule_form_shows_field_errors(in_org, org, owner):
    response = login(owner, org).post(
        reverse("leads:assignmentrule_create"),
        {"name": "Bad", "strategy": "criteria", "users": [str(owner.pk)], "conditions": "age gt 3"},
    )
    assert response.status_code == 400
    assert "unknown field “age”" in response.context["form"].errors["conditions"][0]
    assert AssignmentRule.objects.count() == 0


def _rules(org, owner, n):
    return [
        assignmentrule_create(
            org=org, actor=owner, name=f"Rule {i}", strategy="criteria", users=[owner]
        )
        for i in range(n)
    ]


def test_routing_page_lists_rules_in_order_with_bounded_queries(
    in_org, org, owner, django_assert_max_num_queries
):
    _rules(in_org, owner, 3)
    client = login(owner, org)
    with django_assert_max_num_queries(25) as few:
        response = client.get(reverse("leads:assignmentrule_list"))
    assert response.status_code == 200
    content = response.content.decode()
    assert content.index("Rule 0") < content.index("Rule 1") < content.index("Rule 2")
    assert "Who takes new leads" in content

    _rules(in_org, owner, 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("leads:assignmentrule_list")).status_code == 200


def test_routing_page_is_for_admins(org, owner, rep):
    assert login(rep, org).get(reverse("leads:assignmentrule_list")).status_code == 403


def test_reorder_by_drag_and_drop(in_org, org, owner):
    a, b, c = _rules(in_org, owner, 3)
    response = login(owner, org).post(
        reverse("leads:assignmentrule_reorder"),
        {"id": [str(c.pk), str(a.pk), str(b.pk)]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert list(AssignmentRule.objects.order_by("position").values_list("name", flat=True)) == [
        "Rule 2",
        "Rule 0",
        "Rule 1",
    ]


def test_reorder_denied_to_rep(in_org, org, owner, rep):
    a, b = _rules(in_org, owner, 2)
    response = login(rep, org).post(
        reverse("leads:assignmentrule_reorder"), {"id": [str(b.pk), str(a.pk)]}
    )
    assert response.status_code == 403
    a.refresh_from_db()
    assert a.position == 0


def test_toggle_switches_a_rule_off_and_on(in_org, org, owner):
    (rule,) = _rules(in_org, owner, 1)
    client = login(owner, org)
    assert client.post(reverse("leads:assignmentrule_toggle", args=[rule.pk])).status_code == 302
    rule.refresh_from_db()
    assert rule.active is False
    client.post(reverse("leads:assignmentrule_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.active is True


def test_availability_toggle_on_the_routing_page(in_org, org, owner, rep):
    membership = Membership.objects.get(user=rep)
    response = login(owner, org).post(
        reverse("leads:member_availability", args=[membership.pk]), {"available": "off"}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.available_for_assignment is False


def test_availability_of_others_denied_to_rep(in_org, org, owner, rep):
    membership = Membership.objects.get(user=owner)
    response = login(rep, org).post(
        reverse("leads:member_availability", args=[membership.pk]), {"available": "off"}
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.available_for_assignment is True


def test_availability_api(in_org, org, owner, rep):
    client = api_client(owner, org)
    response = client.put(
        "/api/crm/assignment-rules/availability/",
        {"user": rep.pk, "available_for_assignment": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"user": rep.pk, "available_for_assignment": False}
    listed = client.get("/api/crm/assignment-rules/availability/").json()
    assert {"user": rep.pk, "available_for_assignment": False} in listed


def test_reorder_api(in_org, org, owner):
    a, b = _rules(in_org, owner, 2)
    response = api_client(owner, org).post(
        "/api/crm/assignment-rules/reorder/", {"ids": [str(b.pk), str(a.pk)]}, format="json"
    )
    assert response.status_code == 200
    assert [r["name"] for r in response.json()] == ["Rule 1", "Rule 0"]


def test_route_again_button_and_api(in_org, org, owner):
    maria = make_member(org, Role.SALES_REP, full_name="Maria")
    lead = lead_create(org=in_org, actor=owner, title="Sofia", last_name="X", country="BG")
    assert lead.assigned_to is None
    assignmentrule_create(
        org=in_org, actor=owner, name="BG", strategy="territory", territories={"BG": maria.pk}
    )

    response = login(owner, org).post(reverse("leads:lead_route", args=[lead.pk]), follow=True)
    assert response.status_code == 200
    assert "Rule “BG” chose Maria." in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == maria

    response = api_client(owner, org).post(f"/api/crm/leads/{lead.pk}/route/")
    assert response.status_code == 200
    assert response.json()["assigned_to"] == maria.pk


def test_route_of_other_organizations_lead_is_404(in_org, org, owner, other_org, other_owner):
    lead = lead_create(org=in_org, actor=owner, title="Mine", last_name="X")
    response = login(other_owner, other_org).post(reverse("leads:lead_route", args=[lead.pk]))
    assert response.status_code == 404


@pytest.fixture
def rep(org):
    return make_member(org, Role.SALES_REP, full_name="Rita Rep")
