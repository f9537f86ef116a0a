"""``GET /api/crm/timeline/``: the unified timeline's twin in the API — entry shape,
cursor pages, type filters, 400 for bad parameters and 404 for records you cannot see."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape
from tests.activities.factories import make_activity
from tests.contacts.factories import make_company, make_contact
from tests.opportunities.factories import make_opportunity

pytestmark = pytest.mark.django_db
URL = "/api/crm/timeline/"


def _contact_with_history(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner, name="Acme")
        contact = make_contact(org, owner, first_name="Ada", last_name="King", company=company)
        done = timezone.now() - datetime.timedelta(hours=1)
        call = make_activity(
            org,
            owner,
            type="call",
            subject="Intro call",
            contact=contact,
            status="completed",
            completed_at=done,
            call_direction="inbound",
            call_outcome="connected",
            duration_minutes=7,
        )
    return company, contact, call


def test_entries_have_one_shape_newest_first(org, owner):
    _company, contact, call = _contact_with_history(org, owner)

    response = api_client(owner, org).get(URL, {"record_type": "contact", "record_id": contact.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["next_cursor"] is None
    created, logged = body["results"]
    assert created["kind"] == "field" and created["subject"] == "Created: Ada King"
    assert created["activity_id"] is None and created["details"]["action"] == "create"
    assert logged == {
        "kind": "call",
        "id": str(call.pk),
        "occurred_at": logged["occurred_at"],
        "actor": {"id": owner.pk, "name": "Olivia Owner"},
        "subject": "Intro call",
        "summary": "Connected",
        "details": {
            "type": "call",
            "status": "completed",
            "priority": "normal",
            "direction": "inbound",
            "outcome": "connected",
            "duration_minutes": 7,
            "description": "",
            "notes": "",
        },
        "activity_id": str(call.pk),
        "concerns": None,
    }


def test_a_company_timeline_says_what_each_line_concerns(org, owner):
    company, contact, _call = _contact_with_history(org, owner)
    with tenant_context(org, actor=owner):
        deal = make_opportunity(org, owner, name="Big deal", company=company)

    body = (
        api_client(owner, org)
        .get(URL, {"record_type": "company", "record_id": company.pk, "types": "call,stage"})
        .json()
    )

    assert [(e["kind"], e["concerns"]) for e in body["results"]] == [
        ("stage", {"record_type": "opportunity", "id": str(deal.pk), "name": "Big deal"}),
        ("call", {"record_type": "contact", "id": str(contact.pk), "name": "Ada King"}),
    ]


def test_cursor_pages_walk_the_whole_timeline(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
        for _ in range(7):
            make_activity(org, owner, type="note", contact=contact)
    client = api_client(owner, org)

    seen, params, pages = [], {"record_type": "contact", "record_id": contact.pk, "limit": 3}, 0
    url = URL
    while url:
        body = client.get(url, params).json()
        seen += [e["id"] for e in body["results"]]
        url, params, pages = body["next"], None, pages + 1

    assert pages == 3 and len(seen) == len(set(seen)) == 8  # seven notes and the creation


def test_bad_parameters_answer_400_in_the_error_shape(org, owner):
    _company, contact, _call = _contact_with_history(org, owner)
    client = api_client(owner, org)
    cases = [
        ({}, {"record_type", "record_id"}),
        ({"record_type": "ticket", "record_id": contact.pk}, {"record_type"}),
        ({"record_type": "contact", "record_id": "42"}, {"record_id"}),
        ({"record_type": "contact", "record_id": contact.pk, "types": "gossip"}, {"types"}),
        ({"record_type": "contact", "record_id": contact.pk, "cursor": "abc"}, {"cursor"}),
        ({"record_type": "contact", "record_id": contact.pk, "limit": "500"}, {"limit"}),
    ]
    for params, fields in cases:
        response = client.get(URL, params)
        assert response.status_code == 400, params
        assert_error_shape(response)
        assert set(response.json()["errors"]) == fields, params


def test_another_organizations_record_answers_404(org, owner, other_org, other_owner):
    _company, contact, _call = _contact_with_history(org, owner)
    response = api_client(other_owner, other_org).get(
        URL, {"record_type": "contact", "record_id": contact.pk}
    )
    assert response.status_code == 404
    assert response.json() == {"errors": {"__all__": ["Not found."]}}
