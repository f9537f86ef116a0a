"""Segment services and selectors: given / when / then, with the real database."""

from __future__ import annotations

import pytest

from pulse.accounts.models import RecordVisibility, Role
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.core.testing.records import snapshot
from pulse.extras.services import tag_create
from pulse.segments import selectors
from pulse.segments.models import Segment, SegmentMembership
from pulse.segments.services import (
    clean_filters,
    segment_add_members,
    segment_create,
    segment_delete,
    segment_memberships_move,
    segment_remove_members,
    segment_restore,
    segment_update,
)
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.segments.factories import make_segment, make_static_list

pytestmark = pytest.mark.django_db


def _names(qs) -> set[str]:
    return {c.last_name for c in qs}


# --- dynamic segments ------------------------------------------------------------------------


def test_dynamic_segment_members_are_the_contacts_its_filters_match(in_org, owner):
    make_contact(in_org, owner, last_name="Ivanov", country="BG", lifecycle_stage="customer")
    make_contact(in_org, owner, last_name="Petrov", country="BG", lifecycle_stage="lead")
    make_contact(in_org, owner, last_name="Smith", country="GB", lifecycle_stage="customer")

    segment = segment_create(
        org=in_org,
        actor=owner,
        name="Customers in Bulgaria",
        filters={"country": "BG", "lifecycle_stage": ["customer"]},
    )

    assert segment.kind == "dynamic"
    assert segment.filters == {"country": ["BG"], "lifecycle_stage": ["customer"]}
    assert _names(selectors.segment_members(segment, owner)) == {"Ivanov"}
    assert selectors.segment_member_count(segment, owner) == 1


def test_dynamic_members_follow_changes_to_contacts(in_org, owner):
    segment = make_segment(in_org, owner, filters={"country": ["DE"]})
    assert selectors.segment_members(segment, owner).count() == 0

    make_contact(in_org, owner, last_name="Müller", country="DE")

    assert _names(selectors.segment_members(segment, owner)) == {"Müller"}


def test_filters_accept_the_contact_list_querystring_and_drop_paging(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")

    cleaned = clean_filters(
        f"?search=ada&tags={tag.pk}&page=3&ordering=-created_at&columns=email&created_after=2024-01-01",
        actor=owner,
    )

    assert cleaned == {
        "created_after": ["2024-01-01"],
        "search": ["ada"],
        "tags": [str(tag.pk)],
    }


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": "red"}, "Unknown filter: colour."),
        ({"lifecycle_stage": "wizard"}, "Lifecycle stage"),
        ({"created_after": "yesterday"}, "Created"),
        (["country"], "Send the filters as an object."),
    ],
)
def test_bad_filters_are_refused_and_nothing_is_saved(in_org, owner, filters, message):
    with pytest.raises(ApplicationError) as exc:
        segment_create(org=in_org, actor=owner, name="Broken", filters=filters)

    assert any(message in m for m in exc.value.errors["filters"])
    assert not Segment.objects.filter(name="Broken").exists()


def test_another_organizations_tag_is_not_a_valid_filter(in_org, owner, other_org, other_owner):
    with tenant_context(other_org, actor=other_owner):
        theirs = tag_create(org=other_org, actor=other_owner, name="Theirs")

    with pytest.raises(ApplicationError) as exc:
        segment_create(org=in_org, actor=owner, name="Leak", filters={"tags": [str(theirs.pk)]})

    assert "filters" in exc.value.errors


def test_a_segment_whose_filters_went_stale_has_no_members(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="Temporary")
    make_contact(in_org, owner, tags=[tag])
    segment = make_segment(in_org, owner, filters={"tags": [str(tag.pk)]})
    assert selectors.segment_members(segment, owner).count() == 1

    from pulse.extras.services import tag_delete

    tag_delete(tag=tag, actor=owner)

    assert selectors.segment_members(segment, owner).count() == 0


def test_members_are_limited_to_what_the_viewer_may_see(org, owner, in_org):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP)
    make_contact(org, owner, last_name="Mine", assigned_to=rep, country="BG")
    make_contact(org, owner, last_name="Hidden", assigned_to=owner, country="BG")
    segment = make_segment(org, owner, filters={"country": ["BG"]})

    assert _names(selectors.segment_members(segment, owner)) == {"Mine", "Hidden"}
    assert _names(selectors.segment_members(segment, rep)) == {"Mine"}
    assert selectors.segment_member_count(segment, rep) == 1


def test_the_kind_cannot_change(in_org, owner):
    segment = make_segment(in_org, owner)
    before = snapshot(segment)

    with pytest.raises(ApplicationError) as exc:
        segment_update(segment=segment, actor=owner, kind="static")

    assert "kind" in exc.value.errors
    assert snapshot(segment) == before


def test_update_filters_bumps_the_version_and_is_logged(in_org, owner):
    segment = make_segment(in_org, owner, filters={"country": ["BG"]})

    segment_update(segment=segment, actor=owner, filters={"country": ["RO"]})

    segment.refresh_from_db()
    assert segment.filters == {"country": ["RO"]}
    assert segment.version == 2
    entry = AuditEntry.objects.filter(object_id=str(segment.pk), action="update").get()
    assert entry.changes["filters"] == [{"country": ["BG"]}, {"country": ["RO"]}]


def test_names_are_unique_per_organization_case_insensitively(in_org, owner):
    make_segment(in_org, owner, name="VIP")

    with pytest.raises(ApplicationError) as exc:
        make_segment(in_org, owner, name="vip")

    assert exc.value.errors["__all__"] == ["A segment with this name already exists."]


def test_delete_and_restore_keep_a_static_lists_members(in_org, owner):
    contact = make_contact(in_org, owner)
    segment = make_static_list(in_org, owner, contacts=[contact])

    segment_delete(segment=segment, actor=owner)
    assert not Segment.objects.filter(pk=segment.pk).exists()
    segment_restore(segment=Segment.trash.get(pk=segment.pk), actor=owner)

    assert list(selectors.segment_members(segment, owner)) == [contact]


# --- static lists --------------------------------------------------------------------------


def test_add_members_skips_those_already_on_the_list_and_logs_once(in_org, owner):
    ada = make_contact(in_org, owner, first_name="Ada", last_name="Lovelace")
    grace = make_contact(in_org, owner, first_name="Grace", last_name="Hopper")
    segment = make_static_list(in_org, owner, contacts=[ada])

    added = segment_add_members(segment=segment, contacts=[ada, grace.pk], actor=owner)

    assert added == 1
    assert set(selectors.segment_members(segment, owner)) == {ada, grace}
    membership = SegmentMembership.objects.get(segment=segment, contact=grace)
    assert membership.added_by == owner
    entries = AuditEntry.objects.filter(object_id=str(segment.pk), action="update")
    assert [e.changes for e in entries.order_by("created_at")] == [
        {"members_added": [None, ["Ada Lovelace"]]},
        {"members_added": [None, ["Grace Hopper"]]},
    ]


def test_remove_members(in_org, owner):
    ada, grace = make_contact(in_org, owner), make_contact(in_org, owner)
    segment = make_static_list(in_org, owner, contacts=[ada, grace])

    removed = segment_remove_members(segment=segment, contacts=[str(ada.pk)], actor=owner)

    assert removed == 1
    assert list(selectors.segment_members(segment, owner)) == [grace]
    entry = AuditEntry.objects.filter(object_id=str(segment.pk)).order_by("-created_at").first()
    assert entry.changes == {"members_removed": [[str(ada)], None]}


def test_adding_to_a_dynamic_segment_is_refused(in_org, owner):
    contact = make_contact(in_org, owner)
    segment = make_segment(in_org, owner)

    with pytest.raises(ApplicationError):
        segment_add_members(segment=segment, contacts=[contact], actor=owner)

    assert SegmentMembership.objects.count() == 0


def test_a_role_without_edit_cannot_change_members(org, owner, in_org):
    reader = make_member(org, Role.READ_ONLY)
    contact = make_contact(org, owner)
    segment = make_static_list(org, owner)

    with pytest.raises(PermissionDeniedError):
        segment_add_members(segment=segment, contacts=[contact], actor=reader)

    assert SegmentMembership.objects.count() == 0


def test_contacts_the_actor_cannot_see_refuse_the_whole_call(org, owner, in_org):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP)
    mine = make_contact(org, owner, assigned_to=rep)
    hidden = make_contact(org, owner, assigned_to=owner)
    segment = make_static_list(org, owner)

    with pytest.raises(ApplicationError) as exc:
        segment_add_members(segment=segment, contacts=[mine, hidden], actor=rep)

    assert exc.value.errors == {"contacts": ["Some of these contacts do not exist."]}
    assert SegmentMembership.objects.count() == 0


def test_another_organizations_contact_cannot_be_added(in_org, owner, other_org, other_owner):
    with tenant_context(other_org, actor=other_owner):
        theirs = make_contact(other_org, other_owner)
    segment = make_static_list(in_org, owner)

    with pytest.raises(ApplicationError):
        segment_add_members(segment=segment, contacts=[theirs.pk], actor=owner)

    assert SegmentMembership.objects.unscoped().count() == 0


def test_malformed_ids_are_a_clear_error(in_org, owner):
    segment = make_static_list(in_org, owner)

    with pytest.raises(ApplicationError) as exc:
        segment_add_members(segment=segment, contacts=["not-a-uuid"], actor=owner)

    assert exc.value.errors == {"contacts": ["Not a valid contact id."]}


def test_trashed_contacts_are_not_members(in_org, owner):
    from pulse.contacts.services import contact_delete

    contact = make_contact(in_org, owner)
    segment = make_static_list(in_org, owner, contacts=[contact])

    contact_delete(contact=contact, actor=owner)

    assert selectors.segment_members(segment, owner).count() == 0


def test_memberships_move_to_a_merge_survivor(in_org, owner):
    source, target = make_contact(in_org, owner), make_contact(in_org, owner)
    both = make_static_list(in_org, owner, contacts=[source, target])
    only_source = make_static_list(in_org, owner, contacts=[source])

    moved = segment_memberships_move(source=source, target=target, actor=owner)

    assert moved == 1
    assert set(selectors.segment_members(both, owner)) == {target}
    assert set(selectors.segment_members(only_source, owner)) == {target}


# --- reads ------------------------------------------------------------------------------------


def test_filter_summary_names_what_the_ids_mean(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")

    summary = selectors.filter_summary(
        {"country": ["BG"], "tags": [str(tag.pk)], "lifecycle_stage": ["customer", "lead"]},
        user=owner,
    )

    assert summary == [
        ("Tags", "VIP"),
        ("Lifecycle stage", "Customer, Lead"),
        ("Country", "Bulgaria"),
    ]


def test_lists_of_a_contact_and_lists_to_add_to(in_org, owner):
    contact = make_contact(in_org, owner)
    on = make_static_list(in_org, owner, name="On it", contacts=[contact])
    off = make_static_list(in_org, owner, name="Not yet")
    make_segment(in_org, owner, name="Dynamic")

    assert selectors.contact_lists(contact=contact, user=owner) == [on]
    assert selectors.lists_to_add_to(contact=contact, user=owner) == [off]
