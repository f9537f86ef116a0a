"""State changes of tags, custom field definitions, saved views and notifications.

Every function is atomic, takes the acting user and goes through the generic record
lifecycle (``pulse.core.services``), so validation, versioning, soft delete and the
audit log behave as everywhere else. Callers check permissions (views and viewsets
do it through ``restrict``/``can``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.models import TenantModel
from pulse.core.services import record_create, record_delete, record_update
from pulse.core.tenancy import tenant_context

from .customfields import CHOICE_TYPES, custom_field_models
from .models import BulkJob, CustomField, FieldType, Notification, SavedView, Tag

logger = logging.getLogger("pulse.jobs")

MAX_CHOICES = 200
MAX_CHOICE_LENGTH = 100
MAX_SAVED_FILTERS = 50
RESERVED_KEY_SUFFIXES = ("_min", "_max")  # cf_<key>_min/_max name range filters


def _unique(write: Callable[[], Any], message: str):
    """Run ``write``; a unique-constraint race (two people at once) becomes a clear error."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        raise ApplicationError(message)


# --- tags -----------------------------------------------------------------------------


def _tag_fields(fields: dict) -> dict:
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
    if fields.get("color"):
        fields["color"] = fields["color"].strip().lower()
    return fields


@transaction.atomic
def tag_create(*, org, actor, name: str, color: str | None = None) -> Tag:
    """Create a tag; its name is unique in the organization, case-insensitively."""
    fields = _tag_fields({"name": name, **({"color": color} if color else {})})
    return _unique(
        lambda: record_create(Tag, org=org, actor=actor, **fields),
        _("A tag with this name already exists."),
    )


@transaction.atomic
def tag_update(*, tag: Tag, actor, expected_version: int | None = None, **fields) -> Tag:
    """Rename or recolour a tag (``name``, ``color``)."""
    unknown = set(fields) - {"name", "color"}
    if unknown:
        raise ValueError(f"tag_update got unknown fields {sorted(unknown)}")
    fields = _tag_fields(fields)
    return _unique(
        lambda: record_update(tag, actor=actor, expected_version=expected_version, **fields),
        _("A tag with this name already exists."),
    )


@transaction.atomic
def tag_delete(*, tag: Tag, actor) -> Tag:
    """Move a tag to the trash; records keep the link, so a restore puts it back."""
    return record_delete(tag, actor=actor)


# --- custom field definitions ---------------------------------------------------------


def _clean_choices(field_type: str, choices: Any) -> list[str]:
    if field_type not in CHOICE_TYPES:
        return []
    if isinstance(choices, str):
        choices = choices.splitlines()
    if not isinstance(choices, list | tuple):
        raise ApplicationError(errors={"choices": [_("Send a list of choices.")]})
    cleaned: list[str] = []
    for choice in choices:
        if not isinstance(choice, str):
            raise ApplicationError(errors={"choices": [_("Each choice must be text.")]})
        choice = choice.strip()
        if "\x00" in choice or len(choice) > MAX_CHOICE_LENGTH:
            raise ApplicationError(
                errors={
                    "choices": [
                        _("Each choice is text of at most %(max)d characters.")
                        % {"max": MAX_CHOICE_LENGTH}
                    ]
                }
            )
        if choice and choice not in cleaned:
            cleaned.append(choice)
    if not cleaned:
        raise ApplicationError(errors={"choices": [_("Give at least one choice.")]})
    if len(cleaned) > MAX_CHOICES:
        raise ApplicationError(
            errors={"choices": [_("Give at most %(max)d choices.") % {"max": MAX_CHOICES}]}
        )
    return cleaned


def _check_custom_field_type(content_type: ContentType) -> None:
    if content_type.model_class() not in custom_field_models():
        raise ApplicationError(
            errors={"content_type": [_("This record type has no custom fields.")]}
        )


@transaction.atomic
def customfield_create(
    *,
    org,
    actor,
    content_type: ContentType,
    key: str,
    label: str,
    field_type: str,
    choices: Any = None,
    required: bool = False,
    help_text: str = "",
    position: int | None = None,
) -> CustomField:
    """Define a custom field on a record type.

    ``key`` (letters, digits, _) names the value in the API, exports and filters; it,
    the record type and the field type are fixed once created, because stored values
    depend on them. Choice types need at least one choice; other types keep none.
    """
    _check_custom_field_type(content_type)
    key = (key or "").strip().lower()
    if key.endswith(RESERVED_KEY_SUFFIXES):
        raise ApplicationError(errors={"key": [_("A key may not end in _min or _max.")]})
    if field_type not in FieldType.values:
        raise ApplicationError(errors={"field_type": [_("Choose a valid field type.")]})
    if position is None:
        last = CustomField.objects.filter(content_type=content_type).aggregate(Max("position"))
        position = (last["position__max"] or 0) + 1
    fields = dict(
        content_type=content_type,
        key=key,
        label=(label or "").strip(),
        field_type=field_type,
        choices=_clean_choices(field_type, choices),
        required=bool(required),
        help_text=(help_text or "").strip(),
        position=position,
    )
    return _unique(
        lambda: record_create(CustomField, org=org, actor=actor, **fields),
        _("This record type already has a field with this key."),
    )


IMMUTABLE_CUSTOM_FIELD_ATTRS = ("key", "content_type", "field_type")


@transaction.atomic
def customfield_update(
    *, field: CustomField, actor, expected_version: int | None = None, **changes
) -> CustomField:
    """Change a definition's label, choices, required flag, help text or position."""
    for name in IMMUTABLE_CUSTOM_FIELD_ATTRS:
        if name in changes:
            current = getattr(field, name)
            if changes.pop(name) != current:
                raise ApplicationError(
                    errors={name: [_("This cannot be changed once the field exists.")]}
                )
    unknown = set(changes) - {"label", "choices", "required", "help_text", "position"}
    if unknown:
        raise ValueError(f"customfield_update got unknown fields {sorted(unknown)}")
    if "choices" in changes:
        changes["choices"] = _clean_choices(field.field_type, changes["choices"])
    for name in ("label", "help_text"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    return record_update(field, actor=actor, expected_version=expected_version, **changes)


@transaction.atomic
def customfield_delete(*, field: CustomField, actor) -> CustomField:
    """Move a definition to the trash. Records keep their values: a restore shows them."""
    return record_delete(field, actor=actor)


# --- saved views ----------------------------------------------------------------------


def savedview_parse_querystring(querystring: str) -> dict:
    """A list page's query string as ``filters``/``columns``/``ordering`` (page dropped)."""
    query = QueryDict(querystring or "", mutable=True)
    query.pop("page", None)
    ordering = query.pop("ordering", [""])[-1]
    columns = query.pop("columns", [])
    filters = {key: values if len(values) > 1 else values[0] for key, values in query.lists()}
    return {"filters": filters, "columns": columns, "ordering": ordering}


def _clean_saved_filters(filters: Any) -> dict:
    if filters is None:
        return {}
    message = _("Send filters as an object of parameter names and text (or lists of text).")
    if not isinstance(filters, dict) or len(filters) > MAX_SAVED_FILTERS:
        raise ApplicationError(errors={"filters": [message]})
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values) or key in ("page",):
            raise ApplicationError(errors={"filters": [message]})
    return filters


def _clean_columns(columns: Any) -> list[str]:
    if columns is None:
        return []
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ApplicationError(errors={"columns": [_("Send a list of column names.")]})
    return columns


def _check_saved_view_type(content_type: ContentType) -> None:
    model = content_type.model_class()
    if model is None or not issubclass(model, TenantModel):
        raise ApplicationError(errors={"content_type": [_("Choose a record type.")]})


@transaction.atomic
def savedview_create(
    *,
    org,
    actor,
    content_type: ContentType,
    name: str,
    filters: dict | None = None,
    columns: list[str] | None = None,
    ordering: str = "",
    shared: bool = False,
) -> SavedView:
    """Save a list configuration for ``actor``; ``shared`` shows it to the organization."""
    _check_saved_view_type(content_type)
    return record_create(
        SavedView,
        org=org,
        actor=actor,
        owner=actor,
        content_type=content_type,
        name=(name or "").strip(),
        filters=_clean_saved_filters(filters),
        columns=_clean_columns(columns),
        ordering=(ordering or "").strip(),
        shared=bool(shared),
    )


@transaction.atomic
def savedview_update(
    *, view: SavedView, actor, expected_version: int | None = None, **changes
) -> SavedView:
    """Rename, share/unshare or change the stored filters, columns and ordering."""
    unknown = set(changes) - {"name", "filters", "columns", "ordering", "shared"}
    if unknown:
        raise ValueError(f"savedview_update got unknown fields {sorted(unknown)}")
    if "filters" in changes:
        changes["filters"] = _clean_saved_filters(changes["filters"])
    if "columns" in changes:
        changes["columns"] = _clean_columns(changes["columns"])
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
    return record_update(view, actor=actor, expected_version=expected_version, **changes)


@transaction.atomic
def savedview_delete(*, view: SavedView, actor) -> SavedView:
    """Move a saved view to the trash."""
    return record_delete(view, actor=actor)


# --- notifications --------------------------------------------------------------------


def notify(*, org, recipient, verb: str, body: str = "", url: str = "", actor=None) -> None:
    """Tell ``recipient`` something in the app (the bell), once the transaction commits.

    Nothing is created if the surrounding transaction rolls back (rule 6).
    """
    if recipient is None:
        return

    def create() -> None:
        # The commit may come after the caller's tenant context has ended (a task, a
        # command's outer atomic block): the callback carries its own.
        with tenant_context(org, actor=actor):
            record_create(
                Notification,
                org=org,
                actor=actor,
                recipient=recipient,
                verb=verb[:200],
                body=body,
                url=url[:500],
            )

    transaction.on_commit(create)


@transaction.atomic
def notification_mark_read(*, notification: Notification, actor) -> Notification:
    """Mark one of the actor's notifications read (idempotent)."""
    if notification.recipient_id != actor.pk:
        raise ApplicationError(_("This notification is not yours."))
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notification_mark_all_read(*, actor) -> int:
    """Mark all of the actor's unread notifications in the organization read; how many.

    One UPDATE: ``read_at`` is left out of the change log, so no per-row signal is needed.
    """
    return Notification.objects.filter(recipient=actor, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- bulk jobs ------------------------------------------------------------------------

JOB_CHUNK_SIZE = 200
MAX_JOB_ERRORS = 100


@dataclass(frozen=True)
class BulkJobKind:
    """What a kind of bulk job does; registered by the app that owns the records.

    ``queryset(job, actor)`` is the selection still visible to the actor (restricted
    and filtered; the runner adds the cursor and the order); ``run_chunk(records, job,
    actor)`` applies the action to one chunk inside the runner's transaction and
    returns ``[(record, message), …]`` for the records it had to skip; ``describe(job)``
    is the sentence the notification starts with; ``url(job)`` where it links to.
    """

    name: str
    queryset: Callable[[Any, Any], Any]
    run_chunk: Callable[[list, Any, Any], list]
    describe: Callable[[Any], str]
    url: Callable[[Any], str] = lambda job: ""


_JOB_KINDS: dict[str, BulkJobKind] = {}


def register_bulk_job_kind(kind: BulkJobKind) -> BulkJobKind:
    """Make ``kind`` runnable (apps call this when their services module is imported)."""
    _JOB_KINDS[kind.name] = kind
    return kind


def bulk_job_kind(name: str) -> BulkJobKind:
    """The registered kind ``<app>.<what>``; the app's services module registers it."""
    if name not in _JOB_KINDS:
        app = name.split(".", 1)[0]
        if app.isidentifier():
            with contextlib.suppress(ImportError):
                import_module(f"pulse.{app}.services")
    try:
        return _JOB_KINDS[name]
    except KeyError:
        raise ApplicationError(_("Unknown kind of bulk job.")) from None


@transaction.atomic
def bulkjob_create(*, org, actor, kind: str, params: dict, total: int) -> BulkJob:
    """Queue a bulk job for ``actor``; the worker starts it once this transaction commits."""
    bulk_job_kind(kind)  # refuse an unknown kind now, not in the worker
    job = record_create(
        BulkJob, org=org, actor=actor, kind=kind, params=params, total=max(0, int(total))
    )
    from .tasks import run_bulk_job

    run_bulk_job.enqueue_on_commit(org=org, actor=actor, job_id=str(job.pk))
    return job


def _job_finish(job_id, *, status: str, result: dict) -> None:
    BulkJob.objects.filter(pk=job_id).exclude(
        status__in=(BulkJob.Status.DONE, BulkJob.Status.FAILED)
    ).update(status=status, result=result, finished_at=timezone.now())


def _run_one_chunk(job_id, kind: BulkJobKind, actor) -> bool:
    """Apply the action to the next chunk; False when nothing is left (or someone finished).

    The job row is locked for the chunk, and the chunk, its progress and the cursor
    commit together: a second runner waits, then continues after the cursor.
    """
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != BulkJob.Status.RUNNING:
            return False
        records = kind.queryset(job, actor)
        if job.cursor:
            records = records.filter(pk__gt=job.cursor)
        chunk = list(records.order_by("pk")[:JOB_CHUNK_SIZE])
        if not chunk:
            return False
        skipped = kind.run_chunk(chunk, job, actor)
        errors = list(job.errors or [])
        for record, message in skipped:
            if len(errors) < MAX_JOB_ERRORS:
                errors.append({"id": str(record.pk), "record": str(record), "message": message})
        BulkJob.objects.filter(pk=job_id).update(
            done=F("done") + len(chunk),
            failed=F("failed") + len(skipped),
            errors=errors,
            cursor=str(chunk[-1].pk),
        )
        return True


def bulkjob_run(*, job_id, actor) -> BulkJob | None:
    """Run (or resume) a bulk job to the end; safe to call twice (rule 6).

    A finished job is left alone; a running one continues after its cursor. Each
    chunk is its own transaction, so progress shows while the job runs. At the end
    the person who started it gets a notification.
    """
    job = BulkJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    kind = bulk_job_kind(job.kind)
    BulkJob.objects.filter(pk=job_id, status=BulkJob.Status.QUEUED).update(
        status=BulkJob.Status.RUNNING, started_at=timezone.now()
    )
    try:
        while _run_one_chunk(job_id, kind, actor):
            pass
    except Exception as exc:  # noqa: BLE001 - a failed job is reported, not lost
        logger.exception("bulk job failed", extra={"job_id": str(job_id)})
        _job_finish(job_id, status=BulkJob.Status.FAILED, result={"error": exc.__class__.__name__})
    else:
        job.refresh_from_db(fields=["done", "failed"])
        # Records that left the selection meanwhile (deleted by someone else) are not
        # "missing": the total becomes what was actually there.
        BulkJob.objects.filter(pk=job_id).update(total=job.done)
        _job_finish(
            job_id,
            status=BulkJob.Status.DONE,
            result={"processed": job.done - job.failed, "failed": job.failed},
        )
    job.refresh_from_db()
    if job.is_finished and job.created_by_id:
        _notify_job_finished(job, kind)
    return job


def _notify_job_finished(job: BulkJob, kind: BulkJobKind) -> None:
    if job.status == BulkJob.Status.FAILED:
        verb = _("%(what)s stopped with an error after %(done)d of %(total)d.") % {
            "what": kind.describe(job),
            "done": job.done,
            "total": job.total,
        }
    elif job.failed:
        verb = _("%(what)s finished: %(ok)d done, %(failed)d skipped.") % {
            "what": kind.describe(job),
            "ok": job.done - job.failed,
            "failed": job.failed,
        }
    else:
        verb = _("%(what)s finished: %(ok)d done.") % {
            "what": kind.describe(job),
            "ok": job.done,
        }
    body = "\n".join(f"{e['record']}: {e['message']}" for e in (job.errors or [])[:20])
    notify(
        org=job.organization,
        recipient=job.created_by,
        verb=verb,
        body=body,
        url=kind.url(job),
        actor=job.created_by,
    )
