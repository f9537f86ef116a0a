"""Conversion: contact + company (deduplicated), links, converted stage, audit, and a
second conversion refused with nothing changed (flat given / when / then)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import company_create, contact_create
from pulse.core.errors import ApplicationError
from pulse.core.testing.records import snapshot
from pulse.leads.conversion import conversion_proposal, lead_convert
from pulse.leads.models import Lead, LeadStageChange


def _lead(org, actor, **fields):
    from pulse.leads.services import lead_create

    fields.setdefault("title", "Website enquiry")
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", "Lovelace")
    fields.setdefault("email", "ada@analytical.example")
    fields.setdefault("company_name", "Analytical Engines Ltd")
    fields.setdefault("website", "https://analytical.example")
    fields.setdefault("assigned_to", actor)
    return lead_create(org=org, actor=actor, **fields)


def _entries(obj):
    ct = ContentType.objects.get_for_model(type(obj))
    return AuditEntry.objects.unscoped().filter(content_type=ct, object_id=str(obj.pk))


def test_convert_creates_contact_and_company_and_links_the_lead(in_org, owner):
    lead = _lead(in_org, owner, phone="+359 88 812 3456", job_title="CTO", source="event")

    result = lead_convert(lead=lead, actor=owner)

    assert result.contact_created and result.company_created
    contact, company = result.contact, result.company
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ada",
        "Lovelace",
        "ada@analytical.example",
    )
    assert contact.title == "CTO"
    assert contact.lead_source == "event"
    assert contact.lifecycle_stage == "sales_qualified"
    assert contact.company == company
    assert contact.assigned_to == owner
    assert (company.name, company.domain) == ("Analytical Engines Ltd", "analytical.example")
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.converted_contact == contact
    assert lead.converted_company == company
    assert lead.contact == contact
    assert lead.converted_by == owner
    assert lead.converted_at is not None
    assert lead.stage.kind == "converted"
    change = LeadStageChange.objects.filter(lead=lead).first()
    assert (change.from_stage.key, change.to_stage.key) == ("new", "converted")


def test_audit_shows_the_conversion_on_the_lead_and_creates(in_org, owner):
    lead = _lead(in_org, owner)
    result = lead_convert(lead=lead, actor=owner)

    entry = _entries(lead).filter(action="update").get()
    assert {
        "converted_at",
        "converted_by",
        "converted_contact",
        "converted_company",
        "stage",
    } <= set(entry.changes)
    assert entry.changes["converted_contact"] == [None, str(result.contact.pk)]
    assert entry.actor == owner
    assert _entries(result.contact).filter(action="create").count() == 1
    assert _entries(result.company).filter(action="create").count() == 1


def test_existing_contact_by_email_and_company_by_domain_are_reused(in_org, owner):
    # The lead came in before the contact existed, so it is not linked to it.
    lead = _lead(in_org, owner, email="augusta@analytical.example")
    assert lead.contact is None
    company = company_create(org=in_org, actor=owner, name="AE", website="analytical.example")
    contact = contact_create(
        org=in_org,
        actor=owner,
        first_name="Augusta",
        last_name="King",
        email="Augusta@Analytical.example",
        lifecycle_stage="lead",
    )

    result = lead_convert(lead=lead, actor=owner)

    assert not result.contact_created and not result.company_created
    assert result.contact.pk == contact.pk
    assert result.company == company
    assert Contact.objects.count() == 1
    assert Company.objects.count() == 1
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "sales_qualified"
    assert contact.company == company  # the reused contact had none


def test_lead_linked_to_contact_reuses_it_and_keeps_later_lifecycle(in_org, owner):
    contact = contact_create(
        org=in_org, actor=owner, first_name="Ada", email="ada@x.example", lifecycle_stage="customer"
    )
    lead = _lead(in_org, owner, email="ADA@x.example", company_name="")
    assert lead.contact == contact

    result = lead_convert(lead=lead, actor=owner)

    assert result.contact == contact and not result.contact_created
    assert result.company is None and not result.company_created
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "customer"


def test_company_with_same_name_key_is_reused(in_org, owner):
    company = company_create(org=in_org, actor=owner, name="The Analytical Engines, Inc.")
    lead = _lead(in_org, owner, website="")

    result = lead_convert(lead=lead, actor=owner)

    assert result.company == company
    assert result.contact.company == company


def test_company_by_email_domain_when_lead_has_no_website(in_org, owner):
    company = company_create(org=in_org, actor=owner, name="Babbage", website="analytical.example")
    lead = _lead(in_org, owner, website="", company_name="Something else entirely")

    result = lead_convert(lead=lead, actor=owner)

    assert result.company == company


def test_user_can_choose_to_create_new_despite_duplicates(in_org, owner):
    existing = contact_create(org=in_org, actor=owner, first_name="Ada", email="a@b.example")
    lead = _lead(in_org, owner, email="a@b.example")
    assert lead.contact == existing

    result = lead_convert(
        lead=lead,
        actor=owner,
        match_existing=False,
        contact_fields={"first_name": "Ada", "last_name": "New", "email": "new@b.example"},
        create_company=False,
    )

    assert result.contact_created and result.contact != existing
    assert result.contact.last_name == "New"
    assert result.company is None
    assert Company.objects.count() == 0
    lead.refresh_from_db()
    assert lead.contact == existing  # the link it had stays
    assert lead.converted_contact == result.contact


def test_chosen_existing_records_are_used(in_org, owner):
    contact = contact_create(org=in_org, actor=owner, first_name="Zed")
    company = company_create(org=in_org, actor=owner, name="Zed Corp")
    lead = _lead(in_org, owner)

    result = lead_convert(lead=lead, actor=owner, contact=contact, company=company)

    assert (result.contact, result.company) == (contact, company)
    assert not result.contact_created and not result.company_created


def test_second_conversion_is_refused_and_changes_nothing(in_org, owner):
    lead = _lead(in_org, owner)
    lead_convert(lead=lead, actor=owner)
    before = snapshot(lead)
    counts = (Contact.objects.count(), Company.objects.count(), AuditEntry.objects.count())

    with pytest.raises(ApplicationError) as exc:
        lead_convert(lead=lead, actor=owner)

    assert exc.value.message.startswith("This lead was already converted on ")
    assert snapshot(lead) == before
    assert (Contact.objects.count(), Company.objects.count(), AuditEntry.objects.count()) == counts


def test_two_conversions_of_one_lead_only_one_succeeds(in_org, owner):
    # Two requests loaded the same (unconverted) lead; the row lock decides.
    first_copy = Lead.objects.get(pk=_lead(in_org, owner).pk)
    second_copy = Lead.objects.get(pk=first_copy.pk)
    assert not second_copy.is_converted

    lead_convert(lead=first_copy, actor=owner)
    with pytest.raises(ApplicationError):
        lead_convert(lead=second_copy, actor=owner)

    assert Contact.objects.count() == 1
    assert Company.objects.count() == 1


def test_failed_conversion_rolls_back_everything(in_org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        foreign = company_create(org=other_org, actor=other_owner, name="Globex")
    lead = _lead(in_org, owner)
    before = snapshot(lead)

    with pytest.raises(ApplicationError) as exc:
        lead_convert(lead=lead, actor=owner, company=foreign)

    assert "company" in exc.value.errors
    assert snapshot(lead) == before
    assert Contact.objects.count() == 0


def test_bad_override_fields_are_field_errors(in_org, owner):
    lead = _lead(in_org, owner)
    with pytest.raises(ApplicationError) as exc:
        lead_convert(lead=lead, actor=owner, contact_fields={"password": "x"})
    assert list(exc.value.errors) == ["contact_fields"]
    with pytest.raises(ApplicationError) as exc:
        lead_convert(lead=lead, actor=owner, match_existing=False, contact_fields={"email": "no"})
    assert "email" in exc.value.errors
    lead.refresh_from_db()
    assert not lead.is_converted
    assert Contact.objects.count() == 0
    assert Company.objects.count() == 0


def test_lead_without_a_name_still_converts(in_org, owner):
    lead = _lead(in_org, owner, first_name="", last_name="", email="", company_name="")
    result = lead_convert(lead=lead, actor=owner)
    assert result.contact.last_name == "Website enquiry"


def test_proposal_lists_duplicates(in_org, owner):
    contact_create(
        org=in_org, actor=owner, first_name="Ada", last_name="Lovelace", phone="+359 88 812 3456"
    )
    company_create(org=in_org, actor=owner, name="Analytical Engines")
    lead = _lead(in_org, owner, phone="+359 88 812 3456")

    proposal = conversion_proposal(lead=lead, user=owner)

    assert [m.reasons for m in proposal.contact_matches][0][0] == "Same phone number"
    assert [str(m.record) for m in proposal.company_matches] == ["Analytical Engines"]
    assert proposal.suggested_contact is not None
    assert str(proposal.suggested_company) == "Analytical Engines"
