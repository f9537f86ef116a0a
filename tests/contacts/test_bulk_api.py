"""Bulk create/update endpoints: ``/api/crm/contacts/bulk/`` and ``/api/crm/companies/bulk/``.

All or nothing: one refused record means nothing is written and every refusal is
reported by its index.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from pulse.core.testing.records import snapshot
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db

CONTACTS_BULK = "contact-bulk-write"
COMPANIES_BULK = "company-bulk-write"


@pytest.fixture
def client(org, owner):
    org.country = "BG"
    org.save(update_fields=["country"])
    return api_client(owner, org)


def _count(org, model) -> int:
    return model.objects.unscoped().filter(organization=org, deleted_at__isnull=True).count()


# --- create ----------------------------------------------------------------------------


def test_bulk_create_contacts_writes_all_and_answers_them(org, owner, client):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner, name="Analytical Engines")
    records = [
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        {
            "first_name": "Grace",
            "phone": "02 123 4567",
            "company_id": str(company.pk),
            "other_emails": [{"label": "home", "email": "grace@home.example"}],
        },
    ]

    response = client.post(reverse(CONTACTS_BULK), {"records": records}, format="json")

    assert response.status_code == 201, response.content[:500]
    body = response.json()["records"]
    assert [(r["first_name"], r["phone"], r["company_name"]) for r in body] == [
        ("Ada", "", None),
        ("Grace", "+35921234567", "Analytical Engines"),
    ]
    assert body[1]["other_emails"] == [{"label": "home", "email": "grace@home.example"}]
    assert _count(org, Contact) == 2
    created = {r["id"] for r in body}
    entries = AuditEntry.objects.unscoped().filter(action="create", object_id__in=created)
    assert entries.count() == 2


def test_bulk_create_with_a_bad_record_writes_nothing_and_reports_each(org, client):
    records = [
        {"first_name": "Ada"},
        {"first_name": "Bad", "email": "not-an-email", "phone": "12"},
        {"first_name": "Fine"},
        {"first_name": "", "last_name": ""},
        "not an object",
    ]

    audit_before = AuditEntry.objects.unscoped().filter(organization=org).count()

    response = client.post(reverse(CONTACTS_BULK), {"records": records}, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]["records"]
    assert set(errors) == {"1", "3", "4"}
    assert set(errors["1"]) == {"email", "phone"}
    assert errors["1"]["phone"] == ["Enter a valid phone number, such as +359 2 123 4567."]
    assert errors["3"] == {"last_name": ["Give the contact a name or an email address."]}
    assert list(errors["4"]) == ["__all__"]
    assert _count(org, Contact) == 0
    assert AuditEntry.objects.unscoped().filter(organization=org).count() == audit_before


def test_bulk_create_more_than_1000_is_refused_with_a_clear_message(org, client):
    records = [{"first_name": f"P{i}"} for i in range(1001)]

    response = client.post(reverse(CONTACTS_BULK), {"records": records}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"records": ["Send at most 1,000 records in one call (this one has 1,001)."]}
    }
    assert _count(org, Contact) == 0


@pytest.mark.parametrize("body", [{}, {"records": []}, {"records": {"a": 1}}, []])
def test_bulk_create_needs_a_list_of_records(org, client, body):
    response = client.post(reverse(CONTACTS_BULK), body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["records"]


def test_bulk_create_1000_companies_in_one_call(org, client):
    records = [{"name": f"Company {i:04d}", "phone": "+35921234567"} for i in range(1000)]

    response = client.post(reverse(COMPANIES_BULK), {"records": records}, format="json")

    assert response.status_code == 201
    assert len(response.json()["records"]) == 1000
    assert _count(org, Company) == 1000


def test_bulk_create_is_denied_to_a_read_only_member(org, client):
    viewer = make_member(org, Role.READ_ONLY)
    response = api_client(viewer, org).post(
        reverse(CONTACTS_BULK), {"records": [{"first_name": "Ada"}]}, format="json"
    )
    assert response.status_code == 403
    assert _count(org, Contact) == 0


# --- update ----------------------------------------------------------------------------


def test_bulk_update_contacts_changes_each_with_its_version(org, owner, client):
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada")
        grace = make_contact(org, owner, first_name="Grace")
    records = [
        {"id": str(ada.pk), "title": "Countess", "version": 1},
        {"id": str(grace.pk), "mobile": "0888 123 456"},
    ]

    response = client.patch(reverse(CONTACTS_BULK), {"records": records}, format="json")

    assert response.status_code == 200, response.content[:500]
    body = response.json()["records"]
    assert [(r["id"], r["title"], r["mobile"], r["version"]) for r in body] == [
        (str(ada.pk), "Countess", "", 2),
        (str(grace.pk), "", "+359888123456", 2),
    ]
    ada.refresh_from_db()
    assert ada.title == "Countess"


def test_bulk_update_with_a_stale_or_unknown_record_changes_nothing(
    org, owner, other_org, other_owner, client
):
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada")
        grace = make_contact(org, owner, first_name="Grace")
    with tenant_context(other_org, actor=other_owner):
        theirs = make_contact(other_org, other_owner, first_name="Theirs")
    before = [snapshot(ada), snapshot(grace), snapshot(theirs)]
    records = [
        {"id": str(ada.pk), "title": "Countess"},
        {"id": str(grace.pk), "title": "Admiral", "version": 7},
        {"id": str(theirs.pk), "title": "Mine now"},
        {"title": "No id"},
        {"id": str(ada.pk), "title": "Twice"},
        {"id": str(grace.pk) + "x"},
    ]

    response = client.patch(reverse(CONTACTS_BULK), {"records": records}, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]["records"]
    assert set(errors) == {"1", "2", "3", "4", "5"}
    assert list(errors["1"]) == ["version"]
    assert errors["2"] == {"id": ["Not found."]}
    assert errors["3"] == {"id": ["Give the id of the record to change."]}
    assert errors["4"] == {"id": ["This record is already in this call."]}
    assert errors["5"] == {"id": ["Give the id of the record to change."]}
    assert [snapshot(ada), snapshot(grace), snapshot(theirs)] == before


def test_bulk_update_companies(org, owner, client):
    with tenant_context(org, actor=owner):
        acme = make_company(org, owner, name="Acme")
    response = client.patch(
        reverse(COMPANIES_BULK),
        {"records": [{"id": str(acme.pk), "industry": "Anvils", "phone": "bad"}]},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]["records"]["0"]) == ["phone"]

    response = client.patch(
        reverse(COMPANIES_BULK),
        {"records": [{"id": str(acme.pk), "industry": "Anvils"}]},
        format="json",
    )
    assert response.status_code == 200
    acme.refresh_from_db()
    assert acme.industry == "Anvils"


def test_bulk_schema_documents_both_methods(client):
    response = client.get(reverse("api-schema"), {"format": "json"})
    paths = response.json()["paths"]
    assert set(paths["/api/crm/contacts/bulk/"]) == {"post", "patch"}
    assert set(paths["/api/crm/companies/bulk/"]) == {"post", "patch"}
