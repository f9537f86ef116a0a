"""The privacy API: consents CRUD, export and erasure requests, download."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import APITestCases, api_client, assert_error_shape
from pulse.core.testing.records import snapshot
from pulse.privacy.models import ConsentRecord, PrivacyRequest
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.privacy.factories import make_consent

pytestmark = pytest.mark.django_db


class TestConsentRecordAPI(APITestCases.APITestCase):
    model = ConsentRecord
    api_basename = "consentrecord"
    update_data = {"purpose": "Product updates", "source": "phone"}
    invalid_create_error_fields = {"lawful_basis"}

    def create_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {"contact_id": str(contact.pk), "purpose": "Newsletter", "source": "api"}

    def invalid_create_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {"contact_id": str(contact.pk), "purpose": "Newsletter", "lawful_basis": "whim"}


class TestPrivacyRequestAPI(APITestCases.ListAPI, APITestCases.RetrieveAPI, APITestCases.CreateAPI):
    model = PrivacyRequest
    api_basename = "privacyrequest"
    invalid_create_error_fields = {"confirmation"}

    def create_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {"contact_id": str(contact.pk), "kind": "export", "notes": "Asked by email"}

    def invalid_create_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {"contact_id": str(contact.pk), "kind": "erase", "confirmation": "please"}


def test_consents_filter_by_contact_and_state(org, owner):
    with tenant_context(org):
        ada, grace = make_contact(org, owner), make_contact(org, owner)
        kept = make_consent(org, owner, contact=ada)
        make_consent(org, owner, contact=grace)
        from pulse.privacy.services import consent_withdraw

        gone = consent_withdraw(consent=make_consent(org, owner, contact=ada), actor=owner)
    client = api_client(owner, org)

    ids = {
        r["id"]
        for r in client.get(reverse("consentrecord-list"), {"contact": ada.pk}).json()["results"]
    }
    active = client.get(reverse("consentrecord-list"), {"contact": ada.pk, "active": "true"})

    assert ids == {str(kept.pk), str(gone.pk)}
    assert [r["id"] for r in active.json()["results"]] == [str(kept.pk)]


def test_withdraw_action(org, owner):
    with tenant_context(org):
        consent = make_consent(org, owner)
    client = api_client(owner, org)
    url = reverse("consentrecord-withdraw", args=[consent.pk])

    response = client.post(url, {}, format="json")
    again = client.post(url, {}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert_error_shape(again, 400)


def test_export_and_download_through_the_api(org, owner):
    with tenant_context(org):
        contact = make_contact(org, owner, last_name="Lovelace")
    client = api_client(owner, org)

    created = client.post(
        reverse("privacyrequest-list"),
        {"contact_id": str(contact.pk), "kind": "export"},
        format="json",
    )
    body = created.json()
    download = client.get(body["download_url"])

    assert (body["status"], body["kind"], body["subject_label"]) == (
        "completed",
        "export",
        "Ada Lovelace",
    )
    assert download.status_code == 200
    assert json.loads(b"".join(download.streaming_content))["contact"]["last_name"] == "Lovelace"


def test_erase_through_the_api(org, owner):
    with tenant_context(org):
        contact = make_contact(org, owner, last_name="Lovelace")

    response = api_client(owner, org).post(
        reverse("privacyrequest-list"),
        {"contact_id": str(contact.pk), "kind": "erase", "confirmation": "ERASE"},
        format="json",
    )

    assert response.status_code == 201
    contact.refresh_from_db()
    assert contact.last_name == "Erased contact"


def test_erase_by_a_manager_is_forbidden(org, owner):
    manager = make_member(org, Role.MANAGER)
    with tenant_context(org):
        contact = make_contact(org, owner, last_name="Lovelace")
    before = snapshot(contact)

    response = api_client(manager, org).post(
        reverse("privacyrequest-list"),
        {"contact_id": str(contact.pk), "kind": "erase", "confirmation": "ERASE"},
        format="json",
    )

    assert_error_shape(response, 403)
    assert snapshot(contact) == before
    assert PrivacyRequest.objects.unscoped().count() == 0


def test_requests_cannot_be_edited_or_deleted(org, owner):
    with tenant_context(org):
        contact = make_contact(org, owner)
    client = api_client(owner, org)
    created = client.post(
        reverse("privacyrequest-list"),
        {"contact_id": str(contact.pk), "kind": "export"},
        format="json",
    ).json()
    url = reverse("privacyrequest-detail", args=[created["id"]])

    assert client.patch(url, {"notes": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405


def test_download_before_an_export_exists_is_404(org, owner):
    with tenant_context(org):
        from tests.privacy.factories import make_privacy_request

        erasure = make_privacy_request(org, owner)

    response = api_client(owner, org).get(reverse("privacyrequest-download", args=[erasure.pk]))

    assert_error_shape(response, 404)
