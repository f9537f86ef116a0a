"""The "Opportunities" panels of the contact and company pages: a contact's deals (as the
deal's contact or with a role), a company's deals and its hierarchy's totals rolled up
over every company below, in the organization's currency; loaded after the page."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.contacts.selectors import company_opportunity_rollup, contact_opportunities
from pulse.contacts.services import company_create, contact_create
from pulse.core.services import record_create
from pulse.currencies.models import ExchangeRate
from pulse.opportunities.models import LossReason
from pulse.opportunities.selectors import stages_of
from pulse.opportunities.services import (
    opportunity_contact_add,
    opportunity_create,
    pipeline_ensure_defaults,
)
from tests.conftest import login


def _stages(org):
    return {s.name: s for s in stages_of(pipeline_ensure_defaults(org=org)[0])}


def _deal(org, actor, name, value, currency="EUR", stage="Qualification", **fields):
    stages = _stages(org)
    if stage == "Won":
        fields["actual_close_date"] = datetime.date(2024, 5, 1)
    if stage == "Lost":
        fields["loss_reason"] = LossReason.objects.first()
    return opportunity_create(
        org=org,
        actor=actor,
        name=name,
        value=Decimal(value),
        currency=currency,
        stage=stages[stage],
        **fields,
    )


@pytest.fixture
def group(in_org, owner):
    """Holding → Subsidiary → Branch, and a company outside the group."""
    record_create(
        ExchangeRate,
        org=in_org,
        actor=owner,
        currency="USD",
        rate=Decimal("0.5"),
        valid_from=datetime.date(2020, 1, 1),
    )
    holding = company_create(org=in_org, actor=owner, name="Holding")
    subsidiary = company_create(org=in_org, actor=owner, name="Subsidiary", parent=holding)
    branch = company_create(org=in_org, actor=owner, name="Branch", parent=subsidiary)
    outside = company_create(org=in_org, actor=owner, name="Outside")
    _deal(in_org, owner, "H open", "1000", company=holding)
    _deal(in_org, owner, "H won", "300", stage="Won", company=holding)
    _deal(in_org, owner, "S won", "500", stage="Won", company=subsidiary)
    _deal(in_org, owner, "B open", "200", currency="USD", company=branch)
    _deal(in_org, owner, "B lost", "900", stage="Lost", company=branch)
    _deal(in_org, owner, "Elsewhere", "7777", company=outside)
    return {"holding": holding, "subsidiary": subsidiary, "branch": branch}


def test_company_rollup_totals_the_hierarchy(group, owner):
    deals, tree = company_opportunity_rollup(company=group["holding"], user=owner)

    assert sorted(d.name for d in deals) == ["H open", "H won"]
    own, total = tree.own, tree.total
    assert (own.open_count, own.open_value, own.won_count, own.won_value) == (
        1,
        Decimal("1000.00"),
        1,
        Decimal("300.00"),
    )
    # + Subsidiary's won 500, + Branch's open 200 USD × 0.5 and its lost deal.
    assert (total.open_count, total.open_value, total.won_count, total.won_value) == (
        2,
        Decimal("1100.00"),
        2,
        Decimal("800.00"),
    )
    assert total.lost_count == 1
    (subsidiary,) = tree.children
    assert (subsidiary.total.open_value, subsidiary.total.won_value) == (
        Decimal("100.00"),
        Decimal("500.00"),
    )
    assert [(depth, node.company.name) for depth, node in tree.flat()] == [
        (0, "Holding"),
        (1, "Subsidiary"),
        (2, "Branch"),
    ]


def test_contact_panel_lists_deals_by_contact_and_by_role(in_org, owner):
    ada = contact_create(org=in_org, actor=owner, first_name="Ada", last_name="Lovelace")
    other = contact_create(org=in_org, actor=owner, last_name="Babbage")
    _deal(in_org, owner, "Hers", "100", contact=ada)
    involved = _deal(in_org, owner, "With a role", "50", stage="Won", contact=other)
    opportunity_contact_add(opportunity=involved, contact=ada, role="champion", actor=owner)
    _deal(in_org, owner, "Not hers", "9", contact=other)

    deals, totals, count = contact_opportunities(contact=ada, user=owner)

    assert sorted(d.name for d in deals) == ["Hers", "With a role"]
    assert count == 2
    assert (totals.open_value, totals.won_value) == (Decimal("100.00"), Decimal("50.00"))


def test_panels_render_and_the_pages_load_them(group, in_org, org, owner):
    client = login(owner, org)
    holding = group["holding"]

    page = client.get(holding.get_absolute_url()).content.decode()
    url = reverse("opportunities:company_opportunities", args=[holding.pk])
    assert f'hx-get="{url}"' in page

    panel = client.get(url)
    assert panel.status_code == 200
    html = panel.content.decode()
    assert 'data-testid="hierarchy-opportunities"' in html
    assert "H open" in html and "Elsewhere" not in html
    assert "1,100" in html and "800" in html

    ada = contact_create(org=in_org, actor=owner, last_name="Lovelace", company=holding)
    _deal(in_org, owner, "Ada's deal", "42", contact=ada)
    page = client.get(ada.get_absolute_url()).content.decode()
    url = reverse("opportunities:contact_opportunities", args=[ada.pk])
    assert f'hx-get="{url}"' in page
    html = client.get(url).content.decode()
    assert "Ada&#x27;s deal" in html and 'data-testid="contact-opportunity-totals"' in html


def test_panels_cost_a_fixed_number_of_queries(
    group, in_org, org, owner, django_assert_max_num_queries
):
    client = login(owner, org)
    for n in range(8):
        _deal(in_org, owner, f"More {n}", "10", company=group["branch"])
    with django_assert_max_num_queries(PANEL_QUERIES):
        assert (
            client.get(
                reverse("opportunities:company_opportunities", args=[group["holding"].pk])
            ).status_code
            == 200
        )


PANEL_QUERIES = 14  # measured with 3 hierarchy levels (one query per level)


def test_a_company_of_another_organization_is_not_found(group, other_org, other_owner):
    client = login(other_owner, other_org)
    url = reverse("opportunities:company_opportunities", args=[group["holding"].pk])
    assert client.get(url).status_code == 404
