"""Privacy pages through the web client."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import ViewTestCases, web_client
from pulse.core.testing.records import snapshot
from pulse.privacy.models import ConsentRecord, PrivacyRequest
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.privacy.factories import make_consent, make_privacy_request

pytestmark = pytest.mark.django_db


class TestConsentRecordViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = ConsentRecord
    edit_data = {"purpose": "Product updates", "lawful_basis": "contract", "source": "email"}
    invalid_form_data = {"purpose": "", "lawful_basis": "whim", "source": "web_form"}

    def form_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {
            "contact": str(contact.pk),
            "purpose": "Newsletter",
            "lawful_basis": "consent",
            "source": "web_form",
            "given_at": "2026-01-05T10:30:00+00:00",
        }


class TestPrivacyRequestViews(ViewTestCases.ListView, ViewTestCases.DetailView):
    model = PrivacyRequest


def test_record_consent_from_the_contact_page_prefills_the_contact(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner)

    response = owner_client.get(reverse("privacy:consentrecord_create"), {"contact": contact.pk})

    assert response.status_code == 200
    assert response.context["form"]["contact"].value() == str(contact.pk)
    assert "Newsletter" in response.context["purposes"]


def test_withdraw_from_the_card(org, owner, owner_client):
    with tenant_context(org):
        consent = make_consent(org, owner)

    response = owner_client.post(reverse("privacy:consentrecord_withdraw", args=[consent.pk]))

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None


def test_withdraw_needs_edit(org, owner):
    reader = make_member(org, Role.READ_ONLY)
    with tenant_context(org):
        consent = make_consent(org, owner)
    before = snapshot(consent)

    response = web_client(reader, org).post(
        reverse("privacy:consentrecord_withdraw", args=[consent.pk])
    )

    assert response.status_code == 403
    assert snapshot(consent) == before


def test_contact_privacy_card(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner)
        make_consent(org, owner, contact=contact, purpose="Product updates")

    response = owner_client.get(reverse("privacy:contact_privacy", args=[contact.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Product updates" in content
    assert reverse("privacy:contact_export", args=[contact.pk]) in content
    assert reverse("privacy:contact_erase", args=[contact.pk]) in content


def test_a_rep_sees_no_erase_button(org, owner):
    rep = make_member(org, Role.SALES_REP)
    with tenant_context(org):
        contact = make_contact(org, owner, assigned_to=rep)

    response = web_client(rep, org).get(reverse("privacy:contact_privacy", args=[contact.pk]))

    assert response.context["can_export"] is True
    assert response.context["can_erase"] is False


def test_export_then_download(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner, first_name="Ada", last_name="Lovelace")

    response = owner_client.post(reverse("privacy:contact_export", args=[contact.pk]))

    with tenant_context(org):
        request = PrivacyRequest.objects.get()
    assert response["Location"] == request.get_absolute_url()
    page = owner_client.get(request.get_absolute_url())
    assert reverse("privacy:privacyrequest_download", args=[request.pk]) in page.content.decode()
    download = owner_client.get(reverse("privacy:privacyrequest_download", args=[request.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    data = json.loads(b"".join(download.streaming_content))
    assert data["contact"]["last_name"] == "Lovelace"


def test_download_is_refused_to_other_members_and_roles_without_export(org, owner, owner_client):
    agent = make_member(org, Role.SUPPORT_AGENT)
    rep = make_member(org, Role.SALES_REP)
    with tenant_context(org):
        contact = make_contact(org, owner)
    owner_client.post(reverse("privacy:contact_export", args=[contact.pk]))
    with tenant_context(org):
        request = PrivacyRequest.objects.get()
    url = reverse("privacy:privacyrequest_download", args=[request.pk])

    # A rep sees only the requests they made; an agent may not export at all.
    assert web_client(rep, org).get(url).status_code == 404
    assert web_client(agent, org).get(url).status_code == 404


def test_erase_page_needs_the_typed_word(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner, last_name="Lovelace")
    url = reverse("privacy:contact_erase", args=[contact.pk])

    assert owner_client.get(url).status_code == 200
    refused = owner_client.post(url, {"confirmation": "erase"})

    assert refused.status_code == 400
    assert refused.context["form"].errors["confirmation"] == ["Type ERASE to confirm the erasure."]
    contact.refresh_from_db()
    assert contact.last_name == "Lovelace"

    done = owner_client.post(url, {"confirmation": "ERASE", "notes": "Asked by phone"})

    assert done.status_code == 302
    contact.refresh_from_db()
    assert str(contact) == "Erased contact"


def test_erase_page_is_for_admins_only(org, owner):
    manager = make_member(org, Role.MANAGER)
    with tenant_context(org):
        contact = make_contact(org, owner, last_name="Lovelace")
    before = snapshot(contact)
    client = web_client(manager, org)
    url = reverse("privacy:contact_erase", args=[contact.pk])

    assert client.get(url).status_code == 403
    assert client.post(url, {"confirmation": "ERASE"}).status_code == 403
    assert snapshot(contact) == before
    assert PrivacyRequest.objects.unscoped().count() == 0


def test_requests_page_lists_kind_status_and_who(org, owner, owner_client):
    with tenant_context(org):
        erased = make_privacy_request(org, owner)

    response = owner_client.get(reverse("privacy:privacyrequest_list"), {"kind": "erase"})

    content = response.content.decode()
    assert erased.subject_label in content
    assert "Completed" in content and "Olivia Owner" in content
