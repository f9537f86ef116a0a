"""Consent, export and erasure services: given / when / then, with the real database."""

from __future__ import annotations

import datetime
import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Contact
from pulse.contacts.services import company_create, contact_update
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tasks import TenantTask
from pulse.core.testing.records import snapshot
from pulse.extras.models import FieldType
from pulse.extras.services import customfield_create, tag_create
from pulse.privacy import services
from pulse.privacy.models import ConsentRecord, PrivacyRequest
from pulse.privacy.tasks import build_export_task
from pulse.segments.models import SegmentMembership
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.privacy.factories import make_consent
from tests.segments.factories import make_segment, make_static_list

pytestmark = pytest.mark.django_db


# --- consents ---------------------------------------------------------------------------------


def test_record_and_withdraw_a_consent(in_org, owner):
    contact = make_contact(in_org, owner)
    given = timezone.now() - datetime.timedelta(days=3)

    consent = services.consent_record(
        org=in_org,
        actor=owner,
        contact=contact,
        purpose=" Newsletter ",
        lawful_basis="consent",
        source="web_form",
        given_at=given,
    )
    assert (consent.purpose, consent.given_at, consent.is_active) == ("Newsletter", given, True)

    services.consent_withdraw(consent=consent, actor=owner)

    consent.refresh_from_db()
    assert consent.withdrawn_at is not None and not consent.is_active
    assert AuditEntry.objects.filter(object_id=str(consent.pk)).count() == 2


def test_withdrawing_twice_is_refused(in_org, owner):
    consent = make_consent(in_org, owner)
    services.consent_withdraw(consent=consent, actor=owner)
    before = snapshot(consent)

    with pytest.raises(ApplicationError):
        services.consent_withdraw(consent=consent, actor=owner)

    assert snapshot(consent) == before


def test_withdrawn_before_given_is_refused(in_org, owner):
    consent = make_consent(in_org, owner)
    before = snapshot(consent)

    with pytest.raises(ApplicationError) as exc:
        services.consent_update(
            consent=consent,
            actor=owner,
            withdrawn_at=consent.given_at - datetime.timedelta(days=1),
        )

    assert "withdrawn_at" in exc.value.errors
    assert snapshot(consent) == before


def test_a_consent_needs_a_purpose(in_org, owner):
    contact = make_contact(in_org, owner)

    with pytest.raises(ApplicationError) as exc:
        services.consent_record(org=in_org, actor=owner, contact=contact, purpose="  ")

    assert "purpose" in exc.value.errors
    assert ConsentRecord.objects.count() == 0


def test_a_consent_cannot_move_to_another_contact(in_org, owner):
    consent = make_consent(in_org, owner)
    before = snapshot(consent)

    with pytest.raises(ApplicationError):
        services.consent_update(consent=consent, actor=owner, contact=make_contact(in_org, owner))

    assert snapshot(consent) == before


# --- export -----------------------------------------------------------------------------------


@pytest.fixture
def rich_contact(in_org, owner):
    """A contact with a company, tags, custom fields, a consent, a list and history."""
    content_type = ContentType.objects.get_for_model(Contact)
    for key, kind in (("nickname", FieldType.TEXT), ("budget", FieldType.NUMBER)):
        customfield_create(
            org=in_org,
            actor=owner,
            content_type=content_type,
            key=key,
            label=key.title(),
            field_type=kind,
        )
    company = company_create(org=in_org, actor=owner, name="Analytical Engines Ltd")
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    contact = make_contact(
        in_org,
        owner,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        other_emails=[{"label": "home", "email": "ada@home.example"}],
        phone="+44 20 7946 0000",
        title="Countess",
        street="12 St James's Square",
        city="London",
        country="GB",
        birthday=datetime.date(1815, 12, 10),
        notes="Met Ada Lovelace at the Royal Society.",
        company=company,
        tags=[tag],
        lifecycle_stage="customer",
        custom_fields={"nickname": "Enchantress", "budget": 1200},
    )
    contact_update(contact=contact, actor=owner, title="Countess of Lovelace")
    make_consent(in_org, owner, contact=contact, purpose="Newsletter", notes="Ada signed up")
    make_static_list(in_org, owner, name="VIP static list", contacts=[contact])
    make_segment(in_org, owner, name="Customers", filters={"lifecycle_stage": ["customer"]})
    return contact


def _document(privacy_request) -> dict:
    with default_storage.open(privacy_request.export_file) as handle:
        return json.load(handle)


def test_export_holds_everything_about_the_contact(in_org, owner, rich_contact):
    request = services.privacy_export(org=in_org, actor=owner, contact=rich_contact)

    assert request.status == "completed"
    assert request.kind == "export"
    assert request.requested_by == owner
    assert request.subject_label == "Ada Lovelace"
    assert request.export_file.startswith("privacy/export-")
    data = _document(request)
    assert data["contact"]["email"] == "ada@example.com"
    assert data["contact"]["other_emails"] == [{"label": "home", "email": "ada@home.example"}]
    assert data["contact"]["birthday"] == "1815-12-10"
    assert data["tags"] == ["VIP"]
    assert {c["key"]: c["value"] for c in data["custom_fields"]} == {
        "budget": 1200,
        "nickname": "Enchantress",
    }
    assert data["company"]["name"] == "Analytical Engines Ltd"
    assert [c["purpose"] for c in data["consents"]] == ["Newsletter"]
    assert [m["name"] for m in data["lists"]] == ["VIP static list"]
    assert [s["name"] for s in data["dynamic_segments"]] == ["Customers"]
    # created, tagged (a many-to-many change is its own entry), retitled
    assert [h["action"] for h in data["history"]] == ["create", "update", "update"]
    assert data["history"][2]["changes"]["title"] == ["Countess", "Countess of Lovelace"]
    assert [r["kind"] for r in data["privacy_requests"]] == ["export"]


def test_export_is_refused_to_a_role_without_export(org, owner, in_org):
    agent = make_member(org, Role.SUPPORT_AGENT)
    contact = make_contact(org, owner)

    with pytest.raises(PermissionDeniedError):
        services.privacy_export(org=org, actor=agent, contact=contact)

    assert PrivacyRequest.objects.count() == 0


def test_a_large_export_runs_as_a_task_after_commit(
    in_org, owner, rich_contact, settings, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(services, "EXPORT_SYNC_LIMIT", 1)

    with django_capture_on_commit_callbacks(execute=True):
        request = services.privacy_export(org=in_org, actor=owner, contact=rich_contact)
        assert request.status == "pending"

    request.refresh_from_db()
    assert request.status == "completed"
    assert _document(request)["contact"]["last_name"] == "Lovelace"


def test_the_export_task_is_idempotent(in_org, owner, rich_contact):
    request = services.privacy_export(org=in_org, actor=owner, contact=rich_contact)
    name = request.export_file

    result = build_export_task.apply(
        kwargs={**TenantTask.tenant_kwargs(in_org, owner), "request_id": str(request.pk)}
    ).get()

    request.refresh_from_db()
    assert result == "completed"
    assert request.export_file == name


# --- erasure ----------------------------------------------------------------------------------


def test_erase_anonymizes_the_contact_and_keeps_aggregates(in_org, owner, rich_contact):
    company_id = rich_contact.company_id

    request = services.privacy_erase(
        org=in_org, actor=owner, contact=rich_contact, confirmation="ERASE", notes="By email"
    )

    contact = Contact.objects.get(pk=rich_contact.pk)
    assert str(contact) == "Erased contact"
    assert (contact.first_name, contact.email, contact.phone, contact.title) == ("", "", "", "")
    assert (contact.street, contact.city, contact.country, contact.notes) == ("", "", "", "")
    assert contact.other_emails == []
    assert contact.birthday is None
    assert contact.do_not_contact is True
    assert (contact.email_opt_in, contact.sms_opt_in) == ("opted_out", "opted_out")
    assert contact.custom_fields == {"budget": 1200}
    assert contact.company_id == company_id
    assert contact.lifecycle_stage == "customer"
    assert [t.name for t in contact.tags.all()] == ["VIP"]
    assert request.kind == "erase" and request.status == "completed"
    assert request.requested_by == owner and request.completed_at is not None
    assert request.subject_label == f"Erased contact #{str(contact.pk)[:8]}"
    assert request.notes == "By email"
    consent = ConsentRecord.objects.get(contact=contact)
    assert (consent.purpose, consent.notes) == ("Newsletter", "")
    assert SegmentMembership.objects.filter(contact=contact).count() == 1


def test_erase_redacts_the_change_log(in_org, owner, rich_contact):
    services.privacy_erase(org=in_org, actor=owner, contact=rich_contact, confirmation="ERASE")

    text = json.dumps(list(AuditEntry.objects.values("object_repr", "changes")), ensure_ascii=False)
    for secret in ("Lovelace", "ada@example.com", "ada@home.example", "+44", "Enchantress", "1815"):
        assert secret not in text, secret
    entries = AuditEntry.objects.filter(object_id=str(rich_contact.pk)).order_by("created_at")
    assert {e.object_repr for e in entries} == {"Erased contact"}
    assert entries[0].changes["email"] == [None, "[erased]"]
    assert entries[0].changes["lifecycle_stage"] == [None, "customer"]
    assert entries[0].changes["custom_fields"][1]["budget"] == 1200


def test_erase_deletes_earlier_export_files(in_org, owner, rich_contact):
    export = services.privacy_export(org=in_org, actor=owner, contact=rich_contact)
    name = export.export_file

    services.privacy_erase(org=in_org, actor=owner, contact=rich_contact, confirmation="ERASE")

    export.refresh_from_db()
    assert not default_storage.exists(name)
    assert export.export_file == ""
    assert "Lovelace" not in export.subject_label


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES_REP])
def test_erase_needs_an_admin(org, owner, in_org, role):
    user = make_member(org, role)
    contact = make_contact(org, owner, last_name="Kept")
    before = snapshot(contact)

    with pytest.raises(PermissionDeniedError):
        services.privacy_erase(org=org, actor=user, contact=contact, confirmation="ERASE")

    assert snapshot(contact) == before
    assert PrivacyRequest.objects.count() == 0


@pytest.mark.parametrize("typed", ["", "erase", "yes"])
def test_erase_needs_the_typed_confirmation(in_org, owner, typed):
    contact = make_contact(in_org, owner, last_name="Kept")
    before = snapshot(contact)

    with pytest.raises(ApplicationError) as exc:
        services.privacy_erase(org=in_org, actor=owner, contact=contact, confirmation=typed)

    assert exc.value.errors == {"confirmation": ["Type ERASE to confirm the erasure."]}
    assert snapshot(contact) == before
    assert PrivacyRequest.objects.count() == 0


def test_scrubbing_matches_whole_words_only():
    scrub = services._scrubber(["Ada"])

    assert scrub("Ada met Adam; ada@x.com") == "[erased] met Adam; [erased]@x.com"
    assert scrub({"a": ["Ada", 3]}) == {"a": ["[erased]", 3]}


def test_erase_reaches_the_persons_leads_and_their_web_form_posts(in_org, owner, rich_contact):
    from pulse.leads.models import WebFormSubmission
    from tests.leads.factories import make_lead, make_web_form
    from tests.leads.factories import make_web_form_submission as make_post

    # Typed with the contact's email: the lead attaches to the known contact.
    lead = make_lead(in_org, owner, title="Ada Lovelace wants a demo", email="ada@example.com")
    post = make_post(
        in_org,
        owner,
        form=make_web_form(in_org, owner),
        lead=lead,
        data={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        ip_address="203.0.113.9",
        user_agent="Firefox",
    )

    services.privacy_erase(org=in_org, actor=owner, contact=rich_contact, confirmation="ERASE")

    lead.refresh_from_db()
    post = WebFormSubmission.objects.get(pk=post.pk)
    assert lead.contact_id == rich_contact.pk
    assert "Lovelace" not in lead.title and "ada@example.com" not in lead.email
    assert "Lovelace" not in json.dumps(post.data) and "ada@example.com" not in json.dumps(
        post.data
    )
    assert (post.ip_address, post.user_agent) == (None, "")
