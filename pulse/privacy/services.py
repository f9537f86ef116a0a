"""Every state change of privacy records: consents, exports and erasures (DESIGN rule 3).

* ``consent_record`` / ``consent_withdraw`` / ``consent_update`` / ``consent_delete``
* ``privacy_export``: a JSON file of everything held about a contact (a background task
  when the contact has a lot of data, else at once)
* ``privacy_erase``: anonymize a contact for good, admins and owners only, with a typed
  confirmation; the change log's personal values are redacted too
  (``redact_audit_entries``, the one place the append-only log is rewritten).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.accounts.permissions import can, membership_for
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create, record_delete, record_update

from .models import ConsentRecord, PrivacyRequest, RequestKind, RequestStatus

# The word an admin types to confirm an erasure (shown on the page and in the API docs).
ERASE_CONFIRMATION = "ERASE"
# What an erased contact is called; also the text that replaces personal values.
REDACTED = "[erased]"
# An export with more rows than this (history + related rows) is built by a task.
EXPORT_SYNC_LIMIT = 2000


def _erased_name() -> str:
    return _("Erased contact")


# --- consents -------------------------------------------------------------------------------


def _check_contact(contact: Contact, org) -> None:
    if contact.organization_id != org.pk:
        raise ApplicationError(errors={"contact": [_("Choose a contact of this organization.")]})


@transaction.atomic
def consent_record(*, org, actor, contact: Contact, purpose: str, **fields) -> ConsentRecord:
    """Record that ``contact`` agreed to (or is processed under another basis for) ``purpose``.

    ``given_at`` defaults to now; ``lawful_basis``, ``source`` and ``notes`` are optional.
    """
    _check_contact(contact, org)
    if fields.get("given_at") is None:
        fields.pop("given_at", None)
    return record_create(
        ConsentRecord, org=org, actor=actor, contact=contact, purpose=purpose, **fields
    )


@transaction.atomic
def consent_update(
    *, consent: ConsentRecord, actor, expected_version: int | None = None, **fields
) -> ConsentRecord:
    """Correct a consent record (purpose, basis, source, dates, notes); not its contact."""
    if "contact" in fields and fields["contact"] != consent.contact:
        raise ApplicationError(
            errors={"contact": [_("A consent record cannot move to another contact.")]}
        )
    fields.pop("contact", None)
    return record_update(consent, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def consent_withdraw(*, consent: ConsentRecord, actor, withdrawn_at=None) -> ConsentRecord:
    """Mark a consent as withdrawn (now, unless ``withdrawn_at`` says when)."""
    if consent.withdrawn_at is not None:
        raise ApplicationError(_("This consent was already withdrawn."))
    return record_update(consent, actor=actor, withdrawn_at=withdrawn_at or timezone.now())


@transaction.atomic
def consent_delete(*, consent: ConsentRecord, actor) -> ConsentRecord:
    """Move a consent record entered by mistake to the trash (withdraw a real one instead)."""
    return record_delete(consent, actor=actor)


# --- export -----------------------------------------------------------------------------------


def _jsonable(value):
    from pulse.audit.receivers import jsonable

    return jsonable(value)


def _row(obj) -> dict:
    """Every concrete column of a row (foreign keys as ids), JSON-safe."""
    data = {f.attname: _jsonable(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}
    data["_label"] = str(obj)
    return data


def related_accessors(model=Contact):
    """(relation, queryset factory) for every model that points at a contact.

    Walks ``Contact._meta.related_objects``, so rows of apps added later (activities,
    opportunities, leads …) come along in exports and erasures by themselves.
    """
    for rel in model._meta.related_objects:
        related = rel.related_model
        name = rel.field.name

        def rows(contact, related=related, name=name):
            qs = related._base_manager.filter(**{name: contact})
            if any(f.name == "organization" for f in related._meta.concrete_fields):
                qs = qs.filter(organization_id=contact.organization_id)
            return qs

        yield rel, rows


def _history(obj) -> list[dict]:
    from pulse.audit.selectors import history_for

    return [
        {
            "at": _jsonable(e.created_at),
            "action": e.action,
            "actor": str(e.actor) if e.actor else None,
            "source": e.source,
            "changes": e.changes,
        }
        for e in history_for(obj).order_by("created_at", "pk")
    ]


def _export_size(contact: Contact) -> int:
    from pulse.audit.selectors import history_for

    size = history_for(contact).count()
    for _rel, rows in related_accessors():
        size += rows(contact).count()
    return size


def export_data(contact: Contact, *, user) -> dict[str, Any]:
    """Everything held about ``contact``, as one JSON-safe document (GDPR art. 15/20)."""
    from pulse.extras.customfields import definitions_for
    from pulse.segments.models import Segment, SegmentMembership
    from pulse.segments.selectors import segment_members

    contact = Contact._base_manager.select_related("company", "assigned_to").get(pk=contact.pk)
    definitions = {d.key: d for d in definitions_for(Contact)}
    company = contact.company
    memberships = SegmentMembership.objects.filter(contact=contact).select_related("segment")
    dynamic = []
    for segment in Segment.objects.filter(kind="dynamic").order_by("name")[:200]:
        if segment_members(segment, user).filter(pk=contact.pk).exists():
            dynamic.append({"id": str(segment.pk), "name": segment.name})
    handled = {ConsentRecord, SegmentMembership, PrivacyRequest}
    related: dict[str, list] = {}
    for rel, rows in related_accessors():
        if rel.related_model in handled:
            continue
        key = f"{rel.related_model._meta.label_lower}.{rel.field.name}"
        related[key] = [_row(r) for r in rows(contact)]
    consents = ConsentRecord._base_manager.filter(contact=contact).order_by("given_at")
    return {
        "format": "pulsecrm.privacy-export.v1",
        "generated_at": _jsonable(timezone.now()),
        "organization": contact.organization.name,
        "contact": {
            **_row(contact),
            "full_name": contact.full_name,
            "owner": str(contact.assigned_to) if contact.assigned_to else None,
        },
        "tags": sorted(t.name for t in contact.tags.all()),
        "custom_fields": [
            {
                "key": key,
                "label": definitions[key].label if key in definitions else key,
                "value": value,
            }
            for key, value in sorted((contact.custom_fields or {}).items())
        ],
        "company": (
            {
                "id": str(company.pk),
                "name": company.name,
                "website": company.website,
                "domain": company.domain,
                "industry": company.industry,
                "country": company.country,
            }
            if company
            else None
        ),
        "consents": [
            {
                "purpose": c.purpose,
                "lawful_basis": c.lawful_basis,
                "source": c.source,
                "given_at": _jsonable(c.given_at),
                "withdrawn_at": _jsonable(c.withdrawn_at),
                "notes": c.notes,
                "deleted": c.deleted_at is not None,
            }
            for c in consents
        ],
        "lists": [
            {"id": str(m.segment_id), "name": m.segment.name, "added_at": _jsonable(m.added_at)}
            for m in memberships
        ],
        "dynamic_segments": dynamic,
        "privacy_requests": [
            {
                "kind": r.kind,
                "status": r.status,
                "created_at": _jsonable(r.created_at),
                "completed_at": _jsonable(r.completed_at),
            }
            for r in PrivacyRequest._base_manager.filter(contact=contact).order_by("created_at")
        ],
        "history": _history(contact),
        "related": related,
    }


def build_export(*, request: PrivacyRequest, actor) -> PrivacyRequest:
    """Write the export file of ``request`` and mark it completed (safe to run twice)."""
    if request.status == RequestStatus.COMPLETED and request.export_file:
        return request
    if request.contact is None:
        return record_update(
            request, actor=actor, status=RequestStatus.FAILED, error=_("The contact is gone.")
        )
    document = export_data(request.contact, user=request.requested_by or actor)
    content = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
    # An unguessable name: the file is only ever served through the download view.
    name = default_storage.save(
        f"privacy/export-{uuid.uuid4().hex}.json", ContentFile(content.encode("utf-8"))
    )
    return record_update(
        request,
        actor=actor,
        status=RequestStatus.COMPLETED,
        completed_at=timezone.now(),
        export_file=name,
        error="",
    )


@transaction.atomic
def privacy_export(*, org, actor, contact: Contact, notes: str = "") -> PrivacyRequest:
    """Log an export request for ``contact`` and build its JSON file.

    Needs the ``export`` permission on contacts. Small exports are built at once;
    large ones by the ``privacy.build_export`` task after commit (status "pending").
    """
    _check_contact(contact, org)
    if not can(actor, "export", Contact):
        raise PermissionDeniedError(_("Your role does not allow exporting contact data."))
    request = record_create(
        PrivacyRequest,
        org=org,
        actor=actor,
        contact=contact,
        subject_label=str(contact)[:200],
        kind=RequestKind.EXPORT,
        requested_by=actor,
        notes=notes,
    )
    if _export_size(contact) > EXPORT_SYNC_LIMIT:
        from .tasks import build_export_task

        build_export_task.enqueue_on_commit(org=org, actor=actor, request_id=str(request.pk))
        return request
    return build_export(request=request, actor=actor)


# --- erasure -------------------------------------------------------------------------------------

# Contact fields an erasure keeps: non-personal aggregates and bookkeeping.
KEPT_FIELDS = frozenset(
    {
        "id",
        "organization",
        "company",
        "assigned_to",
        "lifecycle_stage",
        "lead_source",
        "tags",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "deleted_at",
        "deleted_by",
        "version",
        "do_not_contact",
        "custom_fields",
    }
)
# Custom field types that can hold personal data; numbers, choices, yes/no and users stay.
PERSONAL_CUSTOM_TYPES = frozenset({"text", "long_text", "email", "url", "date"})


def _erased_values(contact: Contact) -> dict[str, Any]:
    """The new value of every personal field: default deny, so fields added later go too.

    Every editable text, URL, email, date, JSON and optional choice field is emptied
    unless it is a kept aggregate (stage, lead source …); consents become "opted out".
    """
    from pulse.extras.customfields import definitions_for

    values: dict[str, Any] = {}
    for field in Contact._meta.concrete_fields:
        if field.name in KEPT_FIELDS or not field.editable:
            continue
        if field.name.endswith("_opt_in"):
            values[field.name] = "opted_out"
        elif field.choices:
            # Choices that are not kept aggregates (the country of the address) go too.
            if field.blank:
                values[field.name] = ""
        elif isinstance(field, models.CharField | models.TextField):
            values[field.name] = ""
        elif isinstance(field, models.JSONField):
            values[field.name] = field.get_default()
        elif isinstance(field, models.DateField) and field.null:
            values[field.name] = None
    values["last_name"] = _erased_name()
    values["do_not_contact"] = True
    personal = {d.key for d in definitions_for(Contact) if d.field_type in PERSONAL_CUSTOM_TYPES}
    known = {d.key for d in definitions_for(Contact)}
    values["custom_fields"] = {
        k: v for k, v in (contact.custom_fields or {}).items() if k in known and k not in personal
    }
    return values


# Strings that identify the person anywhere (whole-word matches); names are added for
# rows about the contact only, where "Ada" in a note means this Ada.
IDENTIFYING_FIELDS = (
    "email",
    "phone",
    "mobile",
    "street",
    "linkedin_url",
    "x_handle",
    "website",
    "other_emails",
)


def _secrets(contact: Contact, values: dict[str, Any], *, with_names: bool) -> list[str]:
    """The personal strings of ``contact`` to find and blank in free text elsewhere."""
    found = {contact.full_name}
    names = [n for n in IDENTIFYING_FIELDS if n in values]
    if with_names:
        names += ["first_name", "last_name"]
        kept = values.get("custom_fields", {})
        found.update(
            str(v)
            for k, v in (contact.custom_fields or {}).items()
            if k not in kept and isinstance(v, str)
        )
    for name in names:
        value = getattr(contact, name, None)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):  # other_emails: [{"label", "email"}]
            for item in value:
                if isinstance(item, dict):
                    found.update(str(v) for k, v in item.items() if k != "label")
                else:
                    found.add(str(item))
    # Very short values would blank unrelated words.
    return sorted((s.strip() for s in found if s and len(s.strip()) >= 2), key=len, reverse=True)


def _scrubber(secrets: list[str]):
    if not secrets:
        return lambda value: value
    pattern = re.compile(
        "|".join(rf"(?<!\w){re.escape(s)}(?!\w)" for s in secrets), flags=re.IGNORECASE
    )

    def scrub(value):
        if isinstance(value, str):
            return pattern.sub(REDACTED, value)
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    return scrub


def redact_audit_entries(entries, *, scrub, fields=(), object_repr: str | None = None) -> int:
    """Blank personal values in change-log entries; returns how many entries changed.

    THE DOCUMENTED EXCEPTION to the append-only change log: ``AuditEntry.save()`` refuses
    edits, and this function rewrites rows with a queryset update (``bulk_update``)
    instead. GDPR's right to erasure (art. 17) outranks keeping old values in the log;
    the entries themselves stay (who changed what, when), only the personal values go.
    Nothing else in PulseCRM may update audit entries.

    ``fields``: values of these fields become "[erased]"; every other value passes
    through ``scrub``. ``object_repr`` replaces the entry's record name when given.
    """
    fields = set(fields)
    changed = []
    for entry in entries:
        changes = {}
        for name, pair in (entry.changes or {}).items():
            if name in fields and isinstance(pair, list):
                changes[name] = [v if v in (None, "", [], {}) else REDACTED for v in pair]
            else:
                changes[name] = scrub(pair)
        label = object_repr if object_repr is not None else scrub(entry.object_repr)
        if changes != entry.changes or label != entry.object_repr:
            entry.changes, entry.object_repr = changes, label[:200]
            changed.append(entry)
    AuditEntry.objects.unscoped().bulk_update(changed, ["changes", "object_repr"], batch_size=500)
    return len(changed)


def _entries_of(model, pks) -> models.QuerySet:
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    return AuditEntry.objects.filter(
        content_type=content_type, object_id__in=[str(pk) for pk in pks]
    )


def _text_fields(model) -> list:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField) and not f.choices
    ]


def _scrub_related_rows(contact: Contact, *, scrub, actor) -> dict[type, list]:
    """Blank the contact's personal strings in every row that points at it.

    Returns {model: [pks]} of every related row, whose change-log entries are then
    redacted too. Rows are saved one by one so the change log records the edit.
    """
    from pulse.segments.models import SegmentMembership

    touched: dict[type, list] = {}
    for rel, rows in related_accessors():
        model = rel.related_model
        if model in (SegmentMembership, PrivacyRequest):
            continue  # no free text; requests are handled by the erasure itself
        # Free text, and JSON documents (raw payloads, old values) that may quote the person.
        text_fields = _text_fields(model) + [
            f for f in model._meta.concrete_fields if isinstance(f, models.JSONField)
        ]
        for row in rows(contact):
            touched.setdefault(model, []).append(row.pk)
            update = []
            for field in text_fields:
                value = getattr(row, field.attname)
                # A consent's notes are about the person: they go whole.
                wipe = model is ConsentRecord and field.name == "notes"
                new = "" if wipe else scrub(value)
                if new != value:
                    setattr(row, field.attname, new)
                    update.append(field.attname)
            if update:
                if hasattr(row, "updated_by_id"):
                    row.updated_by = actor
                    update += ["updated_by", "updated_at"]
                row.save(update_fields=update)
    _scrub_form_submissions(touched, scrub=scrub)
    return touched


def _scrub_form_submissions(touched: dict[type, list], *, scrub) -> None:
    """A lead's raw web-form posts point at the lead, not the contact: what the person
    typed, their IP address and browser go with the rest."""
    from pulse.leads.models import Lead, WebFormSubmission

    lead_ids = touched.get(Lead)
    if not lead_ids:
        return
    for row in WebFormSubmission.objects.filter(lead_id__in=lead_ids):
        row.data = scrub(row.data)
        row.referrer = scrub(row.referrer)
        row.ip_address = None
        row.user_agent = ""
        row.save(update_fields=["data", "referrer", "ip_address", "user_agent"])
        touched.setdefault(WebFormSubmission, []).append(row.pk)


def _check_may_erase(actor) -> None:
    membership = membership_for(actor)
    if membership is None or not membership.is_admin:
        raise PermissionDeniedError(_("Only owners and admins may erase a contact's data."))


@transaction.atomic
def privacy_erase(
    *, org, actor, contact: Contact, confirmation: str, notes: str = ""
) -> PrivacyRequest:
    """Erase ``contact``'s personal data for good (GDPR art. 17) and log the request.

    Owners and admins only, with ``confirmation`` = ``ERASE``. Personal fields are
    emptied (the name becomes "Erased contact"), personal custom fields cleared, the
    contact marked do-not-contact and opted out everywhere; the person's names, emails
    and phone numbers are blanked in free text of every related row (consent notes,
    later activities …) and in the change log of the contact and those rows. Kept:
    company link, owner, lifecycle stage, lead source, tags, numbers and choices,
    created_at, and related rows' non-personal values (opportunity amounts …).
    Earlier export files of the contact are deleted. Irreversible.
    """
    _check_contact(contact, org)
    _check_may_erase(actor)
    if (confirmation or "").strip() != ERASE_CONFIRMATION:
        raise ApplicationError(
            errors={
                "confirmation": [
                    _("Type %(word)s to confirm the erasure.") % {"word": ERASE_CONFIRMATION}
                ]
            }
        )
    if contact.is_deleted:
        raise ApplicationError(_("This contact is in the trash; restore it first."))
    label = f"{_erased_name()} #{str(contact.pk)[:8]}"
    request = record_create(
        PrivacyRequest,
        org=org,
        actor=actor,
        contact=contact,
        subject_label=label,
        kind=RequestKind.ERASE,
        status=RequestStatus.RUNNING,
        requested_by=actor,
        notes=notes,
    )
    values = _erased_values(contact)
    scrub = _scrubber(_secrets(contact, values, with_names=True))
    scrub_identifying = _scrubber(_secrets(contact, values, with_names=False))
    contact = record_update(contact, actor=actor, **values)
    # Derived columns (search or dedupe keys other apps keep) must not keep the old values.
    derived = []
    for field in _text_fields(Contact):
        if not field.editable and field.name not in KEPT_FIELDS:
            value = getattr(contact, field.attname)
            if scrub(value) != value:
                setattr(contact, field.attname, "")
                derived.append(field.attname)
    if derived:
        contact.save(update_fields=derived)

    touched = _scrub_related_rows(contact, scrub=scrub, actor=actor)
    # Earlier requests about the person: their labels name them, their files hold it all.
    for earlier in PrivacyRequest._base_manager.filter(contact=contact).exclude(pk=request.pk):
        if earlier.export_file:
            default_storage.delete(earlier.export_file)
        record_update(earlier, actor=actor, subject_label=label, export_file="")
        touched.setdefault(PrivacyRequest, []).append(earlier.pk)

    # The change log: the contact's own entries lose every personal value and its name ...
    redact_audit_entries(
        _entries_of(Contact, [contact.pk]),
        scrub=scrub,
        # custom_fields: only the erased keys' values go (through ``scrub``).
        fields=(set(values) - {"custom_fields"}) | {"email_domain", *derived},
        object_repr=_erased_name(),
    )
    # ... related rows' entries and static lists' member changes lose the strings.
    for model, pks in touched.items():
        redact_audit_entries(_entries_of(model, pks), scrub=scrub, fields={"notes"})
    redact_audit_entries(
        AuditEntry.objects.filter(
            content_type__app_label="segments",
            content_type__model="segment",
            changes__has_any_keys=["members_added", "members_removed"],
        ),
        scrub=scrub_identifying,
    )
    return record_update(
        request, actor=actor, status=RequestStatus.COMPLETED, completed_at=timezone.now()
    )
