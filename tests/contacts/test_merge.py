"""Merging duplicates: chosen values, every related row moved, one log entry, undo."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.accounts.models import Role
from pulse.audit.models import Action, AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import (
    company_merge,
    contact_delete,
    contact_merge,
    merge_undo,
    merge_undone,
)
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Tag
from pulse.privacy.models import ConsentRecord
from pulse.segments.models import Segment, SegmentMembership
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact


def _entries(record, action=None):
    qs = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(record)), object_id=str(record.pk)
    )
    return list(qs.filter(action=action) if action else qs)


def _tag(org, owner, name):
    return record_create(Tag, org=org, actor=owner, name=name)


def _static_list(org, owner, name, *contacts):
    segment = record_create(Segment, org=org, actor=owner, name=name, kind="static")
    for contact in contacts:
        SegmentMembership.objects.create(organization=org, segment=segment, contact=contact)
    return segment


@pytest.fixture
def pair(in_org, owner):
    vip, lead = _tag(in_org, owner, "VIP"), _tag(in_org, owner, "Lead")
    acme = make_company(in_org, owner, name="Acme")
    survivor = make_contact(
        in_org,
        owner,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@acme.io",
        title="",
        city="London",
        birthday=datetime.date(1815, 12, 10),
        other_emails=[{"label": "home", "email": "ada@home.org"}],
        custom_fields={},
        tags=[vip],
    )
    other = make_contact(
        in_org,
        owner,
        first_name="Augusta Ada",
        last_name="King",
        email="countess@lovelace.org",
        title="Countess",
        city="Paris",
        company=acme,
        other_emails=[{"label": "work", "email": "ADA@home.org"}],
        tags=[vip, lead],
    )
    return survivor, other


def test_merge_chooses_values_field_by_field(pair, owner):
    survivor, other = pair

    result = contact_merge(
        survivor=survivor,
        other=other,
        actor=owner,
        values={"last_name": "other", "city": "survivor"},
    )

    kept = Contact.objects.get(pk=survivor.pk)
    assert result.survivor == kept
    assert (kept.first_name, kept.last_name) == ("Ada", "King")
    assert kept.city == "London"
    assert kept.title == "Countess"  # empty on the survivor: the other's value fills it
    assert kept.company.name == "Acme"
    assert kept.birthday == datetime.date(1815, 12, 10)
    assert kept.email == "ada@acme.io"
    assert kept.other_emails == [
        {"label": "home", "email": "ada@home.org"},
        {"label": "other", "email": "countess@lovelace.org"},
    ]
    assert sorted(t.name for t in kept.tags.all()) == ["Lead", "VIP"]
    assert kept.version == survivor.version + 1


def test_merge_takes_the_others_email_and_keeps_the_survivors_as_further_email(pair, owner):
    survivor, other = pair

    contact_merge(survivor=survivor, other=other, actor=owner, values={"email": "other"})

    kept = Contact.objects.get(pk=survivor.pk)
    assert kept.email == "countess@lovelace.org"
    assert kept.email_domain == "lovelace.org"
    assert [e["email"] for e in kept.other_emails] == ["ada@home.org", "ada@acme.io"]


def test_merge_chooses_custom_fields_per_key(in_org, owner):
    survivor = make_contact(in_org, owner, last_name="A")
    other = make_contact(in_org, owner, last_name="B")
    Contact.objects.filter(pk=survivor.pk).update(custom_fields={"shoe": "42", "pet": "cat"})
    Contact.objects.filter(pk=other.pk).update(custom_fields={"shoe": "44", "car": "Zoe"})
    survivor.refresh_from_db()
    other.refresh_from_db()

    contact_merge(
        survivor=survivor, other=other, actor=owner, values={"custom_fields.shoe": "other"}
    )

    kept = Contact.objects.get(pk=survivor.pk)
    assert kept.custom_fields == {"car": "Zoe", "pet": "cat", "shoe": "44"}


def test_every_related_row_moves_and_duplicates_are_dropped(pair, owner, in_org):
    survivor, other = pair
    both = _static_list(in_org, owner, "Both", survivor, other)
    only_other = _static_list(in_org, owner, "Only other", other)
    consent = record_create(
        ConsentRecord, org=in_org, actor=owner, contact=other, purpose="Newsletter"
    )

    result = contact_merge(survivor=survivor, other=other, actor=owner, values={})

    assert set(
        SegmentMembership.objects.filter(contact=survivor).values_list("segment", flat=True)
    ) == {
        both.pk,
        only_other.pk,
    }
    assert not SegmentMembership.objects.filter(contact=other).exists()
    consent.refresh_from_db()
    assert consent.contact_id == survivor.pk
    moved = {(m["model"], m["field"]) for m in result.entry.changes["_merge"]["moved"]}
    assert moved == {
        ("contacts.contact_tags", "contact"),
        ("segments.segmentmembership", "contact"),
        ("privacy.consentrecord", "contact"),
    }
    vip = Tag.objects.get(name="VIP")
    dropped = result.entry.changes["_merge"]["dropped"]
    assert {(d["model"], d["row"].get("segment_id") or d["row"]["tag_id"]) for d in dropped} == {
        ("segments.segmentmembership", str(both.pk)),
        ("contacts.contact_tags", str(vip.pk)),
    }


def test_merge_trashes_the_other_and_writes_one_merge_entry(pair, owner):
    survivor, other = pair
    before = AuditEntry.objects.count()

    result = contact_merge(survivor=survivor, other=other, actor=owner, values={"city": "other"})

    assert Contact.objects.filter(pk=other.pk).exists() is False
    assert Contact.trash.get(pk=other.pk).deleted_by == owner
    new = AuditEntry.objects.order_by("created_at")[before:]
    assert [(e.action, e.object_id) for e in new] == [
        (Action.DELETE, str(other.pk)),
        (Action.MERGE, str(survivor.pk)),
    ]
    entry = result.entry
    assert entry.actor == owner
    assert entry.changes["city"] == ["London", "Paris"]
    assert entry.changes["title"] == ["", "Countess"]
    assert entry.changes["tags"] == [["VIP"], ["Lead", "VIP"]]
    assert entry.changes["_merge"]["merged"] == {"id": str(other.pk), "repr": "Augusta Ada King"}
    assert "first_name" not in entry.changes


def test_undo_restores_both_records_and_every_row(pair, owner, in_org):
    survivor, other = pair
    both = _static_list(in_org, owner, "Both", survivor, other)
    consent = record_create(
        ConsentRecord, org=in_org, actor=owner, contact=other, purpose="Newsletter"
    )
    original = Contact.objects.get(pk=survivor.pk)
    result = contact_merge(
        survivor=survivor, other=other, actor=owner, values={"email": "other", "city": "other"}
    )

    undone = merge_undo(entry=result.entry, actor=owner)

    kept = Contact.objects.get(pk=survivor.pk)
    back = Contact.objects.get(pk=other.pk)
    for name in ("email", "city", "title", "company_id", "other_emails", "email_domain"):
        assert getattr(kept, name) == getattr(original, name), name
    assert back.deleted_at is None
    assert sorted(t.name for t in kept.tags.all()) == ["VIP"]
    assert sorted(t.name for t in back.tags.all()) == ["Lead", "VIP"]
    assert set(
        SegmentMembership.objects.filter(segment=both).values_list("contact", flat=True)
    ) == {
        survivor.pk,
        other.pk,
    }
    consent.refresh_from_db()
    assert consent.contact_id == other.pk
    assert undone.entry.changes["_unmerge"] == {
        "entry": str(result.entry.pk),
        "restored": str(other.pk),
    }
    assert _entries(back, Action.RESTORE)
    assert merge_undone(result.entry) is True
    with pytest.raises(ApplicationError, match="already been undone"):
        merge_undo(entry=result.entry, actor=owner)


def test_undo_keeps_a_value_changed_after_the_merge(pair, owner):
    from pulse.contacts.services import contact_update

    survivor, other = pair
    result = contact_merge(survivor=survivor, other=other, actor=owner, values={"city": "other"})
    contact_update(contact=Contact.objects.get(pk=survivor.pk), actor=owner, city="Rome")

    merge_undo(entry=result.entry, actor=owner)

    assert Contact.objects.get(pk=survivor.pk).city == "Rome"


def _state(*records):
    return [
        (
            c.pk,
            c.deleted_at,
            c.version,
            getattr(c, "email", getattr(c, "parent_id", None)),
            c.city,
            sorted(str(t.pk) for t in c.tags.all()),
        )
        for c in type(records[0])
        ._base_manager.filter(pk__in=[r.pk for r in records])
        .order_by("pk")
    ]


def test_refuses_merging_a_record_with_itself(pair, owner):
    survivor, _ = pair
    before = (_state(survivor), AuditEntry.objects.count())

    with pytest.raises(ApplicationError, match="itself"):
        contact_merge(survivor=survivor, other=survivor, actor=owner, values={})

    assert (_state(survivor), AuditEntry.objects.count()) == before


def test_refuses_a_record_of_another_organization(pair, owner, other_org, other_owner):
    survivor, other = pair
    with tenant_context(other_org, actor=other_owner):
        foreign = make_contact(other_org, other_owner, email="ada@acme.io")
    before = (_state(survivor, other), _state(foreign), AuditEntry.objects.unscoped().count())

    with pytest.raises(ApplicationError, match="same organization"):
        contact_merge(survivor=survivor, other=foreign, actor=owner, values={})
    with pytest.raises(ApplicationError, match="same organization"):
        contact_merge(survivor=foreign, other=survivor, actor=owner, values={})

    assert (
        _state(survivor, other),
        _state(foreign),
        AuditEntry.objects.unscoped().count(),
    ) == before


def test_refuses_a_trashed_record(pair, owner):
    survivor, other = pair
    contact_delete(contact=other, actor=owner)
    other = Contact.trash.get(pk=other.pk)
    before = (_state(survivor, other), AuditEntry.objects.count())

    with pytest.raises(ApplicationError, match="trash"):
        contact_merge(survivor=survivor, other=other, actor=owner, values={})

    assert (_state(survivor, other), AuditEntry.objects.count()) == before


@pytest.mark.parametrize("role", [Role.READ_ONLY, Role.SUPPORT_AGENT])
def test_refuses_without_edit_and_delete_rights(pair, owner, in_org, role):
    survivor, other = pair
    user = make_member(in_org, role)
    before = (_state(survivor, other), AuditEntry.objects.count())

    with pytest.raises(PermissionDeniedError):
        contact_merge(survivor=survivor, other=other, actor=user, values={})

    assert (_state(survivor, other), AuditEntry.objects.count()) == before


def test_refuses_unknown_fields_or_sides(pair, owner):
    survivor, other = pair
    before = (_state(survivor, other), AuditEntry.objects.count())

    with pytest.raises(ApplicationError) as exc:
        contact_merge(
            survivor=survivor, other=other, actor=owner, values={"nope": "other", "city": "both"}
        )

    assert list(exc.value.errors) == ["values"]
    assert "city, nope" in exc.value.errors["values"][0]
    assert (_state(survivor, other), AuditEntry.objects.count()) == before


def test_undo_refuses_an_entry_that_is_no_merge(pair, owner):
    survivor, _ = pair
    entry = _entries(survivor, Action.CREATE)[0]

    with pytest.raises(ApplicationError, match="not a merge"):
        merge_undo(entry=entry, actor=owner)


# --- companies ---------------------------------------------------------------------------------


def test_company_merge_moves_contacts_and_children(in_org, owner):
    keep = make_company(in_org, owner, name="Acme", website="acme.io")
    dup = make_company(in_org, owner, name="ACME Inc.", industry="Rockets")
    person = make_contact(in_org, owner, company=dup)
    child = make_company(in_org, owner, name="Acme Labs", parent=dup)

    result = company_merge(survivor=keep, other=dup, actor=owner, values={})

    kept = Company.objects.get(pk=keep.pk)
    assert kept.industry == "Rockets"
    assert Contact.objects.get(pk=person.pk).company_id == keep.pk
    assert Company.objects.get(pk=child.pk).parent_id == keep.pk
    assert Company.trash.filter(pk=dup.pk).exists()
    assert {(m["model"], m["field"]) for m in result.entry.changes["_merge"]["moved"]} == {
        ("contacts.contact", "company"),
        ("contacts.company", "parent"),
    }

    merge_undo(entry=result.entry, actor=owner)

    assert Contact.objects.get(pk=person.pk).company_id == dup.pk
    assert Company.objects.get(pk=child.pk).parent_id == dup.pk
    assert Company.objects.get(pk=keep.pk).industry == ""


def test_company_merge_of_a_direct_child_into_the_parent_position(in_org, owner):
    top = make_company(in_org, owner, name="Holding")
    parent = make_company(in_org, owner, name="Acme", parent=top)
    child = make_company(in_org, owner, name="Acme", parent=parent)

    company_merge(survivor=child, other=parent, actor=owner, values={"parent": "survivor"})

    assert Company.objects.get(pk=child.pk).parent_id == top.pk


def test_company_merge_refuses_a_survivor_deeper_below_the_other(in_org, owner):
    top = make_company(in_org, owner, name="Acme")
    middle = make_company(in_org, owner, name="Acme Europe", parent=top)
    deep = make_company(in_org, owner, name="Acme", parent=middle)
    before = (_state(top, middle, deep), AuditEntry.objects.count())

    with pytest.raises(ApplicationError, match="below"):
        company_merge(survivor=deep, other=top, actor=owner, values={})

    assert (_state(top, middle, deep), AuditEntry.objects.count()) == before
