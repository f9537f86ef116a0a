"""Lead conversion opens an opportunity (issue 4's open gap, issue 5): linked to the lead,
the contact and the company, with the lead's money, owner, tags and source; a bad
pipeline, stage or value refuses the whole conversion with nothing half-created."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.accounts.models import Organization, Role
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import contact_create
from pulse.core.errors import ApplicationError
from pulse.core.testing import api_client
from pulse.core.testing.records import snapshot
from pulse.extras.models import Tag
from pulse.leads.conversion import lead_convert
from pulse.leads.models import Lead
from pulse.opportunities.models import Opportunity, OpportunityStageChange
from pulse.opportunities.services import pipeline_ensure_defaults
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.opportunities.factories import make_pipeline

CLOSE = datetime.date(2031, 5, 31)


def _lead(org, actor, **fields):
    from pulse.leads.services import lead_create

    fields.setdefault("title", "Website enquiry")
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", "Lovelace")
    fields.setdefault("email", "ada@analytical.example")
    fields.setdefault("company_name", "Analytical Engines Ltd")
    fields.setdefault("assigned_to", actor)
    return lead_create(org=org, actor=actor, **fields)


def _counts():
    return (
        Contact.objects.count(),
        Company.objects.count(),
        Opportunity.objects.count(),
        OpportunityStageChange.objects.count(),
    )


def _stages(org, pipeline=None):
    from pulse.opportunities.selectors import stages_of

    pipeline = pipeline or pipeline_ensure_defaults(org=org)[0]
    return pipeline, {s.name: s for s in stages_of(pipeline)}


# --- the service ---------------------------------------------------------------------------------


def test_convert_without_an_opportunity_opens_none(in_org, owner):
    lead = _lead(in_org, owner, value=Decimal("100"), currency="EUR")

    result = lead_convert(lead=lead, actor=owner)

    assert result.opportunity is None
    assert Lead.objects.get(pk=lead.pk).converted_opportunity_id is None
    assert Opportunity.objects.count() == 0
    assert result.contact.lifecycle_stage == "sales_qualified"


def test_convert_opens_an_opportunity_from_the_lead(in_org, owner):
    maria = make_member(in_org, Role.SALES_REP, full_name="Maria Ivanova")
    tag = Tag.objects.create(organization=in_org, name="vip")
    lead = _lead(
        in_org,
        owner,
        title="Fleet tracking for 40 vans",
        description="Wants a pilot first.",
        value=Decimal("5000.00"),
        currency="USD",
        expected_close_date=CLOSE,
        source="event",
        assigned_to=maria,
    )
    lead.tags.add(tag)
    pipeline, stages = _stages(in_org)

    result = lead_convert(lead=lead, actor=owner, create_opportunity=True)

    deal = Opportunity.objects.get()
    assert result.opportunity == deal
    assert (deal.name, deal.description) == ("Fleet tracking for 40 vans", "Wants a pilot first.")
    assert (deal.pipeline, deal.stage, deal.status) == (pipeline, stages["Qualification"], "open")
    assert (deal.value, deal.currency, deal.probability) == (Decimal("5000.00"), "USD", 10)
    assert deal.expected_close_date == CLOSE
    assert (deal.assigned_to, deal.source) == (maria, "event")
    assert list(deal.tags.all()) == [tag]
    assert (deal.lead, deal.contact, deal.company) == (lead, result.contact, result.company)
    assert result.contact.lifecycle_stage == "opportunity"
    assert Lead.objects.get(pk=lead.pk).converted_opportunity == deal
    (change,) = OpportunityStageChange.objects.filter(opportunity=deal)
    assert (change.from_stage, change.to_stage, change.changed_by) == (
        None,
        stages["Qualification"],
        owner,
    )


def test_convert_opens_the_opportunity_asked_for(in_org, owner):
    renewals = make_pipeline(in_org, owner, name="Renewals")
    pipeline, stages = _stages(in_org, renewals)
    lead = _lead(in_org, owner, value=Decimal("10.00"))

    result = lead_convert(
        lead=lead,
        actor=owner,
        create_company=False,
        create_opportunity=True,
        pipeline=renewals,
        stage=stages["Proposal"],
        opportunity_name="  Renewal 2031  ",
        value=Decimal("1234.50"),
        expected_close_date=CLOSE,
    )

    deal = result.opportunity
    assert (deal.name, deal.pipeline, deal.stage) == ("Renewal 2031", renewals, stages["Proposal"])
    assert (deal.value, deal.currency, deal.probability) == (Decimal("1234.50"), "EUR", 50)
    assert deal.company is None and result.company is None
    assert deal.expected_close_date == CLOSE


def test_a_sales_qualified_contact_moves_on_to_opportunity(in_org, owner):
    contact = contact_create(
        org=in_org,
        actor=owner,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@analytical.example",
        lifecycle_stage="sales_qualified",
    )
    lead = _lead(in_org, owner, company_name="")

    result = lead_convert(lead=lead, actor=owner, create_opportunity=True)

    assert result.contact == contact and not result.contact_created
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "opportunity"
    assert result.opportunity.contact == contact


@pytest.mark.parametrize("problem", ["other_pipeline", "won_stage", "other_org", "negative"])
def test_a_bad_opportunity_refuses_the_whole_conversion(
    problem, in_org, owner, other_org, other_owner
):
    from pulse.core.tenancy import tenant_context

    renewals = make_pipeline(in_org, owner, name="Renewals")
    default, stages = _stages(in_org)
    _p, renewal_stages = _stages(in_org, renewals)
    lead = _lead(in_org, owner, value=Decimal("10.00"))
    before, counts = snapshot(lead), _counts()
    kwargs = {
        "other_pipeline": {"pipeline": default, "stage": renewal_stages["Proposal"]},
        "won_stage": {"stage": stages["Won"]},
        "negative": {"value": Decimal("-1")},
    }.get(problem)
    if problem == "other_org":
        with tenant_context(other_org, actor=other_owner, source="system"):
            foreign = pipeline_ensure_defaults(org=other_org)[0]
        kwargs = {"pipeline": foreign}

    with pytest.raises(ApplicationError) as caught:
        lead_convert(lead=lead, actor=owner, create_opportunity=True, **kwargs)

    key = {"other_pipeline": "stage", "won_stage": "stage", "other_org": "pipeline"}.get(
        problem, "value"
    )
    assert key in caught.value.errors
    assert snapshot(lead) == before
    assert _counts() == counts


# --- the page ------------------------------------------------------------------------------------


def test_convert_page_offers_the_opportunity_and_opens_it(in_org, org, owner):
    pipeline, stages = _stages(in_org)
    lead = _lead(in_org, owner, value=Decimal("700.00"), currency="EUR")
    client = login(owner, org)
    url = reverse("leads:lead_convert", args=[lead.pk])

    page = client.get(url).content.decode()
    assert 'data-testid="convert-opportunity"' in page
    assert 'name="create_opportunity"' in page and "data-stage-select" in page
    assert f'data-pipeline="{pipeline.pk}"' in page
    assert f'value="{stages["Proposal"].pk}"' in page
    assert f'value="{stages["Won"].pk}"' not in page  # closed stages are not offered

    response = client.post(
        url,
        {
            "contact_choice": "new",
            "last_name": "Lovelace",
            "company_choice": "none",
            "create_opportunity": "on",
            "pipeline": str(pipeline.pk),
            "stage": str(stages["Negotiation"].pk),
            "opportunity_name": "Analytical deal",
            "value": "900.00",
            "expected_close_date": "2031-05-31",
        },
    )

    deal = Opportunity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == deal.get_absolute_url()
    assert (deal.name, deal.stage, deal.value) == (
        "Analytical deal",
        stages["Negotiation"],
        Decimal("900.00"),
    )
    assert Lead.objects.get(pk=lead.pk).converted_opportunity == deal
    detail = client.get(lead.get_absolute_url()).content.decode()
    assert 'data-testid="converted-opportunity"' in detail and deal.get_absolute_url() in detail


def test_convert_page_refuses_a_bad_value_and_keeps_everything(in_org, org, owner):
    lead = _lead(in_org, owner)
    before, counts = snapshot(lead), _counts()
    client = login(owner, org)

    response = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {
            "contact_choice": "new",
            "last_name": "Lovelace",
            "company_choice": "new",
            "company_name": "Analytical Engines Ltd",
            "create_opportunity": "on",
            "value": "-5",
        },
    )

    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0" in response.content.decode()
    assert snapshot(lead) == before
    assert _counts() == counts


def test_convert_page_without_the_switch_opens_no_opportunity(in_org, org, owner):
    lead = _lead(in_org, owner)
    client = login(owner, org)
    response = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"contact_choice": "new", "last_name": "Lovelace", "company_choice": "none", "value": "5"},
    )
    assert response.status_code == 302
    assert Opportunity.objects.count() == 0


# --- the API -------------------------------------------------------------------------------------


def test_api_convert_opens_an_opportunity(in_org, org, owner):
    pipeline, stages = _stages(in_org)
    lead = _lead(in_org, owner, value=Decimal("300.00"))
    client = api_client(owner, org)

    response = client.post(
        f"/api/crm/leads/{lead.pk}/convert/",
        {"opportunity": {"stage": str(stages["Proposal"].pk), "name": "API deal"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    deal = Opportunity.objects.get()
    assert response.json()["opportunity"] == {"id": str(deal.pk), "name": "API deal"}
    assert (deal.stage, deal.value) == (stages["Proposal"], Decimal("300.00"))


def test_api_convert_without_an_opportunity_says_none(in_org, org, owner):
    lead = _lead(in_org, owner)
    response = api_client(owner, org).post(f"/api/crm/leads/{lead.pk}/convert/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["opportunity"] is None


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"stage": "00000000-0000-0000-0000-000000000000"}, "opportunity.stage"),
        ({"pipeline": "00000000-0000-0000-0000-000000000000"}, "opportunity.pipeline"),
        ({"value": "-1"}, "opportunity.value"),
        ({"expected_close_date": "soon"}, "opportunity"),
    ],
)
def test_api_convert_refuses_a_bad_opportunity_with_nothing_changed(in_org, org, owner, body, key):
    lead = _lead(in_org, owner)
    before, counts = snapshot(lead), _counts()

    response = api_client(owner, org).post(
        f"/api/crm/leads/{lead.pk}/convert/", {"opportunity": body}, format="json"
    )

    assert response.status_code == 400, response.content
    assert any(k.startswith(key) for k in response.json()["errors"]), response.json()
    assert snapshot(lead) == before
    assert _counts() == counts


def test_api_convert_refuses_an_opportunity_the_role_may_not_create(in_org, org, owner):
    rep = make_member(in_org, Role.SALES_REP, full_name="Rita Rep")
    Organization.objects.filter(pk=org.pk).update(
        permission_overrides={"sales_rep": {"opportunities.opportunity": ["view"]}}
    )
    lead = _lead(in_org, rep, assigned_to=rep)
    counts = _counts()

    response = api_client(rep, org).post(
        f"/api/crm/leads/{lead.pk}/convert/", {"opportunity": {}}, format="json"
    )

    assert response.status_code == 403
    assert _counts() == counts
    assert Lead.objects.get(pk=lead.pk).converted_at is None
