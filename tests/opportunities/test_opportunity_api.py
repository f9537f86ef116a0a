"""The opportunity API beyond the generic tests: the spec's POST body (stage by name),
bad input answered 400 in the one error shape with nothing saved, nested line items,
contact roles, and a stale version."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from pulse.core.testing.api import assert_error_shape
from pulse.core.testing.records import snapshot
from pulse.opportunities.models import Opportunity, OpportunityContact, OpportunityLineItem
from pulse.opportunities.services import pipeline_ensure_defaults
from tests.contacts.factories import make_contact
from tests.opportunities.factories import make_opportunity, make_pipeline

pytestmark = pytest.mark.django_db
URL = "/api/crm/opportunities/"


def _count(org) -> int:
    return Opportunity.objects.unscoped().filter(organization=org).count()


def test_spec_post_body_with_stage_name(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
    body = {
        "name": "Acme – 50 seats",
        "contact_id": str(contact.pk),
        "value": "15000.00",
        "probability": 60,
        "expected_close_date": "2026-11-30",
        "stage": "proposal",
    }

    response = api_client(owner, org).post(URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["stage_name"] == "Proposal" and data["status"] == "open"
    assert (data["value"], data["currency"], data["probability"]) == (
        "15000.00",
        org.default_currency,
        60,
    )
    assert data["probability_is_custom"] is True
    assert data["weighted_value"] == "9000.00"
    assert data["contact_id"] == str(contact.pk) and data["assigned_to"] == owner.pk
    assert data["is_rotting"] is False and data["days_in_stage"] == 0
    assert data["line_items"] == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"value": "-10"}, "value", "greater than or equal to 0"),
        ({"probability": 101}, "probability", "less than or equal to 100"),
        ({"expected_close_date": "31/12/2026"}, "expected_close_date", "Date has wrong format"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"stage": "Nowhere"}, "stage", "choose one of: Qualification"),
        ({"stage": "Won"}, "actual_close_date", "needs the date it closed"),
    ],
)
def test_bad_input_is_400_and_saves_nothing(org, owner, body, field, words):
    with tenant_context(org, actor=owner):
        pipeline_ensure_defaults(org=org, actor=owner)
    before = _count(org)

    response = api_client(owner, org).post(URL, {"name": "Bad", **body}, format="json")

    errors = assert_error_shape(response, 400, {field})
    assert any(words in m for m in errors[field]), errors
    assert _count(org) == before


def test_moving_to_a_stage_of_another_pipeline_is_400_and_changes_nothing(org, owner):
    with tenant_context(org, actor=owner):
        deal = make_opportunity(org, owner)
        partners = make_pipeline(org, owner, name="Partners")
        other_stage = partners.stages.order_by("position").first()
    before = snapshot(deal)

    response = api_client(owner, org).patch(
        f"{URL}{deal.pk}/", {"stage": str(other_stage.pk), "name": "Moved?"}, format="json"
    )

    errors = assert_error_shape(response, 400, {"stage"})
    assert "another pipeline" in errors["stage"][0]
    assert snapshot(deal) == before


def test_stale_version_is_a_conflict_and_keeps_the_first_save(org, owner):
    with tenant_context(org, actor=owner):
        deal = make_opportunity(org, owner, name="Original")
    client = api_client(owner, org)
    url = f"{URL}{deal.pk}/"
    first = client.patch(url, {"name": "First", "version": deal.version}, format="json")
    assert first.status_code == 200

    second = client.patch(url, {"name": "Second", "version": deal.version}, format="json")

    errors = assert_error_shape(second, 400, {"version"})
    assert "Someone else changed this record" in errors["version"][0]
    assert Opportunity.objects.unscoped().get(pk=deal.pk).name == "First"


def test_line_items_nested_drive_the_value(org, owner):
    client = api_client(owner, org)
    created = client.post(
        URL,
        {
            "name": "With lines",
            "value": "1.00",
            "line_items": [
                {"product_name": "Seats", "quantity": "10", "unit_price": "100.00"},
                {"product_name": "Setup", "unit_price": "500.00", "discount": "20"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["value"] == "1400.00"
    assert [(li["product_name"], li["total"]) for li in data["line_items"]] == [
        ("Seats", "1000.00"),
        ("Setup", "400.00"),
    ]

    keep = data["line_items"][0]
    changed = client.patch(
        f"{URL}{data['id']}/",
        {"line_items": [{**keep, "quantity": "3"}], "version": data["version"]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["value"] == "300.00"
    assert len(changed.json()["line_items"]) == 1

    typed = client.patch(f"{URL}{data['id']}/", {"value": "9.00"}, format="json")
    assert_error_shape(typed, 400, {"value"})


def test_a_bad_line_on_create_saves_no_deal(org, owner):
    before = _count(org), OpportunityLineItem.objects.unscoped().count()
    response = api_client(owner, org).post(
        URL,
        {
            "name": "Half",
            "line_items": [
                {"product_name": "Good", "unit_price": "1.00"},
                {"product_name": "Bad", "unit_price": "1.00", "quantity": "0"},
            ],
        },
        format="json",
    )
    assert_error_shape(response, 400, {"line_items"})
    assert (_count(org), OpportunityLineItem.objects.unscoped().count()) == before


def test_contact_roles_sub_resource(org, owner, other_org, other_owner):
    with tenant_context(org, actor=owner):
        deal = make_opportunity(org, owner)
        ada = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
    client = api_client(owner, org)
    url = f"{URL}{deal.pk}/contacts/"

    added = client.post(url, {"contact_id": str(ada.pk), "role": "champion"}, format="json")
    assert added.status_code == 201, added.content
    assert added.json()["contact_name"] == "Ada Lovelace"
    client.post(url, {"contact_id": str(ada.pk), "role": "decision_maker"}, format="json")
    listed = client.get(url).json()
    assert [(r["contact_id"], r["role"]) for r in listed] == [(str(ada.pk), "decision_maker")]

    assert_error_shape(client.post(url, {"contact_id": str(ada.pk), "role": "boss"}), 400, {"role"})
    role_id = listed[0]["id"]
    other = api_client(other_owner, other_org)
    assert other.get(url).status_code == 404
    assert other.delete(f"{url}{role_id}/").status_code == 404

    assert client.delete(f"{url}{role_id}/").status_code == 204
    assert OpportunityContact.objects.unscoped().get(pk=role_id).deleted_at is not None
    assert client.delete(f"{url}{role_id}/").status_code == 404


def test_filters_and_ordering_in_the_api(org, owner):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner, name="Cheap", value=Decimal("10"))
        make_opportunity(org, owner, name="Dear", value=Decimal("1000"))
    client = api_client(owner, org)
    names = [r["name"] for r in client.get(URL, {"ordering": "-value"}).json()["results"]]
    assert names == ["Dear", "Cheap"]
    assert [r["name"] for r in client.get(URL, {"value_max": "100"}).json()["results"]] == ["Cheap"]
    assert_error_shape(client.get(URL, {"status": "maybe"}), 400, {"status"})
