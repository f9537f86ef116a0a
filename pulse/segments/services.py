"""Every state change of segments and static lists (DESIGN rule 3).

Segments go through ``pulse.core.services`` (validation, versions, trash, change log).
List memberships are added and removed in bulk; those writes log one change-log entry
on the segment per call (``members_added`` / ``members_removed``) since bulk rows pass
no save signal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from pulse.accounts.permissions import can
from pulse.audit.models import Action
from pulse.audit.receivers import _write as write_audit_entry
from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create, record_delete, record_restore, record_update

from .models import NON_FILTER_KEYS, Segment, SegmentKind, SegmentMembership

# One call adds or removes at most this many contacts (the API's and bulk bar's cap).
MEMBERS_LIMIT = 1000
# Names written into one change-log entry; the rest are counted.
LOGGED_NAMES = 50


# --- filters ------------------------------------------------------------------------------


def _filter_keys(filterset) -> set[str]:
    """Query-string names the contact FilterSet reads (``created`` → ``created_after``…)."""
    keys = set()
    for name, field in filterset.form.fields.items():
        html_name = filterset.form.add_prefix(name)
        suffixes = getattr(field.widget, "suffixes", None)
        if suffixes:
            keys.update(f"{html_name}_{s}" for s in suffixes)
        else:
            keys.add(html_name)
    return keys


def clean_filters(filters: Any, *, actor) -> dict[str, list[str]]:
    """Normalize and validate a dynamic segment's filters as the contact list reads them.

    Accepts a dict (``{param: value or [values]}``), a QueryDict or a query string.
    Paging, sorting and column parameters are dropped, empty values too; an unknown
    parameter or an invalid value is refused with the filter's own message.
    """
    from .selectors import contact_filterset

    if isinstance(filters, str):
        filters = QueryDict(filters.lstrip("?"))
    if isinstance(filters, QueryDict):
        filters = {k: filters.getlist(k) for k in filters}
    if filters in (None, ""):
        filters = {}
    if not isinstance(filters, dict):
        raise ApplicationError(errors={"filters": [_("Send the filters as an object.")]})
    cleaned: dict[str, list[str]] = {}
    for key, value in filters.items():
        if key in NON_FILTER_KEYS:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        kept = [str(v).strip() for v in values if v not in (None, "") and str(v).strip()]
        if kept:
            cleaned[str(key)] = kept
    filterset = contact_filterset(cleaned, user=actor)
    unknown = sorted(set(cleaned) - _filter_keys(filterset))
    if unknown:
        raise ApplicationError(
            errors={"filters": [_("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)}]}
        )
    if not filterset.is_valid():
        messages = [
            f"{filterset.form.fields[name].label}: {message}"
            if name in filterset.form.fields
            else str(message)
            for name, errors in filterset.form.errors.items()
            for message in errors
        ]
        raise ApplicationError(errors={"filters": messages})
    return dict(sorted(cleaned.items()))


def _segment_fields(fields: dict[str, Any], *, actor, kind: str) -> dict[str, Any]:
    fields = dict(fields)
    for name in ("name", "description"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    if kind == SegmentKind.STATIC:
        if fields.get("filters"):
            raise ApplicationError(
                errors={"filters": [_("A static list has no filters: add members instead.")]}
            )
        fields.pop("filters", None)
    elif "filters" in fields:
        fields["filters"] = clean_filters(fields["filters"], actor=actor)
    return fields


# --- segments -----------------------------------------------------------------------------


@transaction.atomic
def segment_create(*, org, actor, **fields) -> Segment:
    """Create a dynamic segment (with ``filters``) or a static list (``kind="static"``)."""
    fields.setdefault("assigned_to", actor)
    kind = fields.get("kind") or SegmentKind.DYNAMIC
    fields["kind"] = kind
    return record_create(
        Segment, org=org, actor=actor, **_segment_fields(fields, actor=actor, kind=kind)
    )


@transaction.atomic
def segment_update(
    *, segment: Segment, actor, expected_version: int | None = None, **fields
) -> Segment:
    """Change a segment's name, description, owner, tags or (dynamic) filters.

    The kind is fixed: a saved filter and a hand-picked list are different things.
    """
    if "kind" in fields and fields["kind"] != segment.kind:
        raise ApplicationError(errors={"kind": [_("The kind of a segment cannot change.")]})
    fields.pop("kind", None)
    fields = _segment_fields(fields, actor=actor, kind=segment.kind)
    return record_update(segment, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def segment_delete(*, segment: Segment, actor) -> Segment:
    """Move a segment to the trash; a static list keeps its members for a restore."""
    return record_delete(segment, actor=actor)


@transaction.atomic
def segment_restore(*, segment: Segment, actor) -> Segment:
    """Bring a segment back from the trash, with its members."""
    return record_restore(segment, actor=actor)


# --- static list members -------------------------------------------------------------------


def _member_names(contacts: list[Contact]) -> list[str]:
    names = sorted(str(c) for c in contacts[:LOGGED_NAMES])
    if len(contacts) > LOGGED_NAMES:
        names.append(_("… and %(n)d more") % {"n": len(contacts) - LOGGED_NAMES})
    return names


def _editable_list(segment: Segment, actor) -> None:
    if not can(actor, "edit", Segment):
        raise PermissionDeniedError(_("Your role does not allow this."))
    if segment.is_deleted:
        raise ApplicationError(_("This list is in the trash; restore it first."))
    if segment.kind != SegmentKind.STATIC:
        raise ApplicationError(
            _("Members of a dynamic segment follow its filters; edit the filters instead.")
        )


def _visible_contacts(contacts: Iterable, actor) -> list[Contact]:
    """The given contacts (instances or ids) that ``actor`` may see; refuse any other."""
    ids = []
    for item in contacts:
        ids.append(item.pk if isinstance(item, Contact) else item)
        if len(ids) > MEMBERS_LIMIT:
            raise ApplicationError(
                errors={
                    "contacts": [
                        _("Choose at most %(n)d contacts at a time.") % {"n": MEMBERS_LIMIT}
                    ]
                }
            )
    try:
        found = list(Contact.objects.restrict(actor, "view").filter(pk__in=ids))
    except (ValueError, TypeError, ValidationError) as exc:
        raise ApplicationError(errors={"contacts": [_("Not a valid contact id.")]}) from exc
    if len(found) != len({str(i) for i in ids}):
        raise ApplicationError(errors={"contacts": [_("Some of these contacts do not exist.")]})
    return found


@transaction.atomic
def segment_add_members(*, segment: Segment, contacts: Iterable, actor) -> int:
    """Add contacts (instances or ids, at most ``MEMBERS_LIMIT``) to a static list.

    Contacts already on the list are skipped; returns how many were added. All or
    nothing: one contact the actor cannot see refuses the whole call.
    """
    _editable_list(segment, actor)
    found = _visible_contacts(contacts, actor)
    present = set(
        SegmentMembership.objects.filter(segment=segment, contact__in=found).values_list(
            "contact_id", flat=True
        )
    )
    new = [c for c in found if c.pk not in present]
    # ignore_conflicts: a concurrent add of the same contact is not an error (rule 9).
    SegmentMembership.objects.bulk_create(
        [
            SegmentMembership(
                organization_id=segment.organization_id, segment=segment, contact=c, added_by=actor
            )
            for c in new
        ],
        ignore_conflicts=True,
    )
    if new:
        write_audit_entry(
            segment, Action.UPDATE, {"members_added": [None, _member_names(new)]}, actor.pk
        )
    return len(new)


@transaction.atomic
def segment_remove_members(*, segment: Segment, contacts: Iterable, actor) -> int:
    """Take contacts (instances or ids) off a static list; returns how many were removed."""
    _editable_list(segment, actor)
    found = _visible_contacts(contacts, actor)
    rows = SegmentMembership.objects.filter(segment=segment, contact__in=found)
    removed_ids = set(rows.values_list("contact_id", flat=True))
    rows.delete()
    removed = [c for c in found if c.pk in removed_ids]
    if removed:
        write_audit_entry(
            segment, Action.UPDATE, {"members_removed": [_member_names(removed), None]}, actor.pk
        )
    return len(removed)


@transaction.atomic
def segment_memberships_move(*, source: Contact, target: Contact, actor) -> int:
    """Move ``source``'s list memberships to ``target`` (a merge keeps the survivor listed).

    Lists that already hold ``target`` just lose ``source``. Returns the lists moved.
    """
    rows = list(SegmentMembership.objects.filter(contact=source).select_related("segment"))
    held = set(
        SegmentMembership.objects.filter(contact=target).values_list("segment_id", flat=True)
    )
    moved = 0
    for row in rows:
        if row.segment_id in held:
            SegmentMembership.objects.filter(pk=row.pk).delete()
            changes = {"members_removed": [[str(source)], None]}
        else:
            SegmentMembership.objects.filter(pk=row.pk).update(contact=target)
            changes = {
                "members_removed": [[str(source)], None],
                "members_added": [None, [str(target)]],
            }
            moved += 1
        write_audit_entry(row.segment, Action.UPDATE, changes, actor.pk if actor else None)
    return moved
