"""The import engine: read, build, dedupe and write rows in batches; undo a whole import.

How an import stays whole (DESIGN rule 8, "no import is left half-applied"):

* A row is written completely or not at all: it is validated before the batch is
  written, and a row that fails is reported with its line number and reason (and
  copied to the error file) -- never written in part.
* Rows are written in batches of ``BATCH_SIZE``, each in one transaction together with
  its change-log entries, its ``ImportRecord`` rows and the job's progress and cursor.
  A redelivered task resumes after the last committed batch.
* The import as a whole is one unit: everything it created or updated is listed in
  ``ImportRecord``, and ``undo_job`` trashes what it created and puts back the fields it
  changed. When a run fails on an unexpected error, the same undo runs at once, so a
  crashed import leaves nothing behind.

Speed: the organization's duplicate keys are loaded once into memory; rows are
validated with the model's field validators (no per-row queries); records, tags,
change-log entries and import records are written with ``bulk_create``/``bulk_update``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.audit.models import Action, AuditEntry, Source
from pulse.audit.receivers import jsonable

from . import parsers
from .models import ImportJob, ImportRecord
from .targets import Decision, Prepared, RowInvalid, get_target
from .values import is_formula_like, unneutralise

logger = logging.getLogger("pulse.imports")

BATCH_SIZE = 2000
MAX_SHOWN_ERRORS = 100
UNDO_CHUNK = 1000


class ConcurrentRun(Exception):
    """Another runner moved the job's cursor: this one stops without writing."""


def _content_type_id(model) -> int:
    return ContentType.objects.get_for_model(model, for_concrete_model=False).pk


def _label(model) -> str:
    return model._meta.label_lower


def _model_for(label: str):
    from django.apps import apps

    return apps.get_model(label)


def _tracked(model) -> list:
    exclude = set(model.audit_exclude) | {"id", "organization"}
    return [f for f in model._meta.concrete_fields if f.name not in exclude]


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def format_errors(errors: dict[str, str], labels: dict[str, str]) -> str:
    """``{"email": "Enter a valid…"}`` → ``"E-mail: Enter a valid…"`` (column names)."""
    return "; ".join(f"{labels.get(key, key)}: {message}" for key, message in errors.items())


# --- writing --------------------------------------------------------------------------------


def _insert_fields(model) -> list:
    return [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]


def fast_insert(model, rows: list[dict]) -> None:
    """Insert complete rows (attname → value): ``COPY`` on PostgreSQL, else ``bulk_create``.

    The rows are whole (every concrete field but an auto-increment key); no signal
    fires, which is why the engine writes the change log itself.
    """
    if not rows:
        return
    fields = _insert_fields(model)
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create([model(**row) for row in rows], batch_size=BATCH_SIZE)
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    names = [(f.attname, isinstance(f, models.JSONField)) for f in fields]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[name], cls=DjangoJSONEncoder) if is_json else row[name]
                    for name, is_json in names
                ]
            )


def instance_row(instance, fields, now) -> dict:
    """A model instance as a complete insert row, with its timestamps set to ``now``."""
    row = {f.attname: getattr(instance, f.attname) for f in fields}
    for name in ("created_at", "updated_at"):
        if name in row:
            row[name] = now
    return row


class Writer:
    """Writes one batch: records, tags, change-log entries and import records."""

    def __init__(self, job: ImportJob, actor):
        self.job = job
        self.actor = actor
        self.org = job.organization
        self.now = timezone.now()
        self.audit: list[dict] = []
        self.records: list[dict] = []
        self.request_id = job.pk.hex
        self.actor_id = actor.pk if actor is not None else None

    def _entry(self, model, pk, repr_: str, action: str, changes: dict) -> None:
        self.audit.append(
            {
                "id": uuid.uuid4(),
                "organization_id": self.org.pk,
                "created_at": self.now,
                "actor_id": self.actor_id,
                "source": Source.IMPORT,
                "action": action,
                "content_type_id": _content_type_id(model),
                "object_id": str(pk),
                "object_repr": repr_[:200],
                "changes": changes,
                "request_id": self.request_id,
            }
        )

    def record(self, model, pk, action: str, line: int, previous: dict | None = None) -> None:
        self.records.append(
            {
                "id": uuid.uuid4(),
                "organization_id": self.org.pk,
                "job_id": self.job.pk,
                "model": _label(model),
                "object_id": pk,
                "action": action,
                "line": line,
                "previous": previous or {},
            }
        )

    def create_records(self, model, pairs: list[tuple[Any, int]], tag_names=None) -> None:
        """Insert new records (instances with their pk set) and log them as created."""
        if not pairs:
            return
        fields = _insert_fields(model)
        rows = [(instance_row(instance, fields, self.now), line) for instance, line in pairs]
        self.create_rows(model, rows, tag_names, describe=lambda row: str(model(**row)))

    def create_rows(self, model, rows: list[tuple[dict, int]], tag_names, describe) -> None:
        """Insert complete rows and log each as created (the receivers' change format)."""
        fast_insert(model, [row for row, _line in rows])
        tracked = [(f.name, f.attname) for f in _tracked(model)]
        tag_names = tag_names or {}
        for row, line in rows:
            pk = row["id"]
            changes = {
                name: [None, jsonable(row[attname])]
                for name, attname in tracked
                if not _empty(row[attname])
            }
            names = tag_names.get(pk)
            if names:
                changes["tags"] = [[], sorted(names)]
            self._entry(model, pk, describe(row), Action.CREATE, changes)
            self.record(model, pk, ImportRecord.Action.CREATE, line)

    def flush(self) -> None:
        fast_insert(AuditEntry, self.audit)
        fast_insert(ImportRecord, self.records)
        self.audit, self.records = [], []


class Tags:
    """The organization's tags by lower-cased name; missing ones created through the service."""

    def __init__(self, org, actor):
        from pulse.extras.models import Tag

        self.org = org
        self.actor = actor
        self.by_name: dict[str, Any] = {
            name.casefold(): pk for pk, name in Tag.objects.values_list("pk", "name")
        }
        self.names: dict[Any, str] = {pk: name for name, pk in self.by_name.items()}

    def ids(self, names: Iterable[str]) -> list:
        from pulse.core.errors import ApplicationError
        from pulse.extras.models import Tag
        from pulse.extras.services import tag_create

        found = []
        for name in names:
            key = name.casefold()
            if key not in self.by_name:
                try:
                    tag = tag_create(org=self.org, actor=self.actor, name=name)
                except ApplicationError:
                    tag = Tag.objects.filter(name__iexact=name).first()
                    if tag is None:
                        raise
                self.by_name[key] = tag.pk
                self.names[tag.pk] = tag.name
            found.append(self.by_name[key])
        return list(dict.fromkeys(found))


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failures: list[tuple[parsers.Row, str]] = field(default_factory=list)
    skips: list[tuple[int, str]] = field(default_factory=list)
    formulas: int = 0


class Runner:
    """Runs one job over its file (see the module docstring)."""

    def __init__(self, job: ImportJob, actor):
        self.job = job
        self.actor = actor
        self.target = get_target(job.target)
        if self.target is None:
            raise RowInvalid({"target": _("Unknown import target.")})
        self.model = self.target.model
        self.run = self.target.start(job=job, actor=actor)
        self.tags = Tags(job.organization, actor)
        self.columns = sorted(((int(i), k) for i, k in job.mapping.items()), key=lambda c: c[0])
        # Field defaults of a new row: plain values once, callables (uuid4, dict) per row.
        fixed, computed = {}, []
        for f in _insert_fields(self.model):
            if f.has_default() and callable(f.default):
                computed.append((f.attname, f.default))
            else:
                fixed[f.attname] = f.get_default()
        self.defaults = (fixed, computed)
        self.labels = {}
        for index, key in self.columns:
            if index < len(job.headers):
                self.labels.setdefault(key, job.headers[index])

    # -- rows --

    @property
    def empty_row_message(self) -> str:
        return _("This row has no values in the mapped columns.")

    def values(self, row: parsers.Row, result: BatchResult) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        cells = row.cells
        for index, key in self.columns:
            if index >= len(cells):
                continue
            text = cells[index].strip()
            if not text:
                continue
            text = unneutralise(text)
            if is_formula_like(text):
                result.formulas += 1
            values.setdefault(key, []).append(text)
        return values

    def prepare(self, row: parsers.Row, result: BatchResult) -> tuple[Prepared | None, Decision]:
        if row.error:
            return None, Decision("fail", reason=row.error)
        values = self.values(row, result)
        if not values:
            return None, Decision("fail", reason=self.empty_row_message)
        try:
            prepared = self.run.build(values, row.line, row.cells)
        except RowInvalid as exc:
            return None, Decision("fail", reason=format_errors(exc.errors, self.labels))
        return prepared, self.run.decide(prepared, mode=self.job.mode, match_by=self.job.match_by)

    def batch(self, rows: list[parsers.Row]) -> BatchResult:
        result = BatchResult()
        creates: list[Prepared] = []
        updates: list[Prepared] = []
        for row in rows:
            prepared, decision = self.prepare(row, result)
            if decision.action == "fail":
                result.failures.append((row, decision.reason))
            elif decision.action == "skip":
                result.skipped += 1
                result.skips.append((row.line, decision.reason))
            elif decision.action == "update":
                prepared.pk = decision.pk
                updates.append(prepared)
                self.run.remember(prepared)
            else:
                prepared.pk = uuid.uuid4()
                assign = getattr(self.run, "assign_pk", None)
                if assign is not None:
                    assign(prepared)
                creates.append(prepared)
                self.run.remember(prepared)
        writer = Writer(self.job, self.actor)
        self.run.before_write(creates + updates, writer)
        result.created = self.write_creates(creates, writer)
        result.updated = self.write_updates(updates, writer, result)
        writer.flush()
        return result

    def write_creates(self, rows: list[Prepared], writer: Writer) -> int:
        if not rows:
            return 0
        actor_id = self.actor.pk if self.actor is not None else None
        stamp = {
            "organization_id": self.job.organization_id,
            "created_by_id": actor_id,
            "updated_by_id": actor_id,
            "created_at": writer.now,
            "updated_at": writer.now,
        }
        if hasattr(self.model, "assigned_to"):
            stamp["assigned_to_id"] = actor_id
        fixed, computed = self.defaults
        complete = []
        tag_rows: dict[Any, list] = {}
        tag_names: dict[Any, list[str]] = {}
        for row in rows:
            values = dict(fixed)
            for attname, default in computed:
                values[attname] = default()
            values.update(stamp)
            values.update(row.fields)
            values["id"] = row.pk
            complete.append((values, row.line))
            if row.tags:
                tag_rows[row.pk] = self.tags.ids(row.tags)
                tag_names[row.pk] = [self.tags.names[t] for t in tag_rows[row.pk]]
        writer.create_rows(self.model, complete, tag_names, describe=self.run.describe)
        self.add_tags(tag_rows)
        return len(complete)

    def add_tags(self, tag_rows: dict[Any, list]) -> None:
        if not tag_rows:
            return
        through = self.model.tags.through
        source = self.model.tags.field.m2m_field_name()
        target = self.model.tags.field.m2m_reverse_field_name()
        through.objects.bulk_create(
            [
                through(**{f"{source}_id": pk, f"{target}_id": tag})
                for pk, tags in tag_rows.items()
                for tag in tags
            ],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )

    def current_tags(self, pks) -> dict[Any, set]:
        through = self.model.tags.through
        source = self.model.tags.field.m2m_field_name()
        target = self.model.tags.field.m2m_reverse_field_name()
        found: dict[Any, set] = {}
        for pk, tag in through.objects.filter(**{f"{source}_id__in": pks}).values_list(
            f"{source}_id", f"{target}_id"
        ):
            found.setdefault(pk, set()).add(tag)
        return found

    def write_updates(self, rows: list[Prepared], writer: Writer, result: BatchResult) -> int:
        if not rows:
            return 0
        pks = [row.pk for row in rows]
        editable = {
            obj.pk: obj
            for obj in self.model.objects.restrict(self.actor, "edit")
            .select_for_update()
            .filter(pk__in=pks)
        }
        tags_now = self.current_tags(pks) if any(r.tags for r in rows) else {}
        fields_by_attname = {f.attname: f for f in self.model._meta.concrete_fields}
        changed_instances = []
        changed_fields: set[str] = set()
        tag_rows: dict[Any, list] = {}
        count = 0
        for row in rows:
            instance = editable.get(row.pk)
            if instance is None:
                result.failures.append(
                    (
                        parsers.Row(row.line, row.cells),
                        _("The matching record is not one you may edit."),
                    )
                )
                continue
            try:
                wanted = self.run.update_fields(row, instance)
            except RowInvalid as exc:
                result.failures.append(
                    (parsers.Row(row.line, row.cells), format_errors(exc.errors, self.labels))
                )
                continue
            diff = {}
            for attname, value in wanted.items():
                old = getattr(instance, attname)
                if old != value:
                    diff[attname] = (old, value)
            new_tags = [t for t in self.tags.ids(row.tags) if t not in tags_now.get(row.pk, set())]
            count += 1
            if not diff and not new_tags:
                continue
            changes = {}
            previous = {}
            for attname, (old, value) in diff.items():
                setattr(instance, attname, value)
                name = fields_by_attname[attname].name
                changes[name] = [jsonable(old), jsonable(value)]
                previous[attname] = [jsonable(old), jsonable(value)]
            if new_tags:
                tag_rows[row.pk] = new_tags
                before = sorted(self.tags.names.get(t, str(t)) for t in tags_now.get(row.pk, ()))
                after = sorted(before + [self.tags.names[t] for t in new_tags])
                changes["tags"] = [before, after]
                previous["__tags_added"] = [str(t) for t in new_tags]
            if diff:
                instance.version = (instance.version or 0) + 1
                instance.updated_by = self.actor
                instance.updated_at = writer.now
                changed_instances.append(instance)
                changed_fields.update(diff)
            writer._entry(self.model, instance.pk, str(instance), Action.UPDATE, changes)
            writer.record(self.model, instance.pk, ImportRecord.Action.UPDATE, row.line, previous)
        if changed_instances:
            self.model.objects.unscoped().bulk_update(
                changed_instances,
                [*sorted(changed_fields), "version", "updated_by", "updated_at"],
                batch_size=BATCH_SIZE,
            )
        self.add_tags(tag_rows)
        return count


# --- the error file --------------------------------------------------------------------------


def neutralise(value: str) -> str:
    """Prefix a cell a spreadsheet would run with ``'`` (formula injection)."""
    from .values import FORMULA_TRIGGERS

    if value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


class ErrorFile:
    """The failed rows as CSV (the file's columns, its line number, the reason)."""

    def __init__(self, job: ImportJob):
        self.job = job
        if not job.error_file:
            job.error_file.name = f"imports/{job.organization_id}/{job.pk}/errors.csv"
            ImportJob.objects.filter(pk=job.pk).update(error_file=job.error_file.name)
        self.path = default_storage.path(job.error_file.name)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.new = not os.path.exists(self.path)

    def write(self, failures: list[tuple[parsers.Row, str]]) -> None:
        if not failures:
            return
        with open(self.path, "a", newline="", encoding="utf-8-sig" if self.new else "utf-8") as out:
            writer = csv.writer(out)
            if self.new:
                writer.writerow([*self.job.headers, _("Line"), _("Error")])
                self.new = False
            width = len(self.job.headers)
            for row, reason in failures:
                cells = (list(row.cells) + [""] * width)[:width]
                writer.writerow([*(neutralise(c) for c in cells), row.line, reason])


# --- running a job -------------------------------------------------------------------------


def _errors_json(job_errors: list, result: BatchResult) -> list:
    errors = list(job_errors or [])
    for row, reason in result.failures:
        if len([e for e in errors if e.get("kind") != "skipped"]) >= MAX_SHOWN_ERRORS:
            break
        errors.append({"line": row.line, "reason": reason, "kind": "failed"})
    for line, reason in result.skips:
        if len([e for e in errors if e.get("kind") == "skipped"]) >= MAX_SHOWN_ERRORS:
            break
        errors.append({"line": line, "reason": reason, "kind": "skipped"})
    return errors


def _commit_progress(job: ImportJob, rows: list[parsers.Row], result: BatchResult) -> None:
    """Progress and cursor, in the batch's transaction; refuses if another runner moved on."""
    current = (
        ImportJob.objects.select_for_update()
        .filter(pk=job.pk)
        .values_list("cursor_line", "errors", "status")
        .first()
    )
    if current is None or current[0] != job.cursor_line or current[2] != ImportJob.Status.RUNNING:
        raise ConcurrentRun()
    last_line = rows[-1].line
    ImportJob.objects.filter(pk=job.pk).update(
        cursor_line=last_line,
        processed_rows=F("processed_rows") + len(rows),
        created_count=F("created_count") + result.created,
        updated_count=F("updated_count") + result.updated,
        skipped_count=F("skipped_count") + result.skipped,
        failed_count=F("failed_count") + len(result.failures),
        formula_cells=F("formula_cells") + result.formulas,
        errors=_errors_json(current[1], result),
    )
    job.cursor_line = last_line


def run_job(*, job_id, actor) -> ImportJob | None:
    """Run (or resume) an import to the end; safe to call twice (rule 6).

    A finished job is left alone; a running one resumes after its cursor. An
    unexpected error fails the job and undoes what it wrote.
    """
    job = ImportJob.objects.filter(pk=job_id).select_related("organization").first()
    if job is None or job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return job
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    job.refresh_from_db()
    if job.status != ImportJob.Status.RUNNING:
        return job
    try:
        runner = Runner(job, actor)
        errors = ErrorFile(job)
        rows = parsers.data_rows(
            job.file.path,
            job.file_format,
            encoding=job.encoding,
            delimiter=job.delimiter,
            has_header=job.has_header,
            width=len(job.headers),
        )
        batch: list[parsers.Row] = []
        for row in rows:
            if row.line <= job.cursor_line:
                continue
            batch.append(row)
            if len(batch) >= BATCH_SIZE:
                _run_batch(job, runner, errors, batch)
                batch = []
        if batch:
            _run_batch(job, runner, errors, batch)
    except ConcurrentRun:
        logger.info("import runner stopped: another runner moved on", extra={"job": str(job.pk)})
        return ImportJob.objects.filter(pk=job.pk).first()
    except Exception as exc:
        logger.exception("import failed", extra={"job": str(job.pk)})
        message = (
            exc.message
            if isinstance(exc, parsers.ImportFileError)
            else _("The import stopped on an unexpected error (%(why)s).")
            % {"why": exc.__class__.__name__}
        )
        _fail_and_roll_back(job, actor, message)
        return ImportJob.objects.filter(pk=job.pk).first()
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now()
    )
    job.refresh_from_db()
    _notify(job)
    return job


def _run_batch(job, runner: Runner, errors: ErrorFile, rows: list[parsers.Row]) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A bulk load need not wait for each batch's WAL flush: a batch lost in a
            # server crash is simply read again (the cursor commits with the batch).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        result = runner.batch(rows)
        _commit_progress(job, rows, result)
    errors.write(result.failures)


def _fail_and_roll_back(job: ImportJob, actor, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, finished_at=timezone.now(), message=message
    )
    job.refresh_from_db()
    if job.records.exists():
        undo_records(job, actor)
        ImportJob.objects.filter(pk=job.pk).update(
            undone_at=timezone.now(),
            message=message + " " + _("Everything it had written was undone."),
        )
    job.refresh_from_db()
    _notify(job)


def _notify(job: ImportJob) -> None:
    if job.created_by_id is None:
        return
    from pulse.extras.services import notify

    if job.status == ImportJob.Status.DONE:
        verb = _("Import of %(name)s finished") % {"name": job.original_name}
        body = _(
            "%(created)d created, %(updated)d updated, %(skipped)d skipped, %(failed)d failed."
        ) % {
            "created": job.created_count,
            "updated": job.updated_count,
            "skipped": job.skipped_count,
            "failed": job.failed_count,
        }
    else:
        verb = _("Import of %(name)s failed") % {"name": job.original_name}
        body = job.message
    try:
        notify(
            org=job.organization,
            recipient=job.created_by,
            verb=verb[:200],
            body=body,
            url=job.get_absolute_url(),
        )
    except Exception:  # noqa: BLE001 - a notification never fails the import
        logger.exception("import notification failed", extra={"job": str(job.pk)})


# --- undo -------------------------------------------------------------------------------------


def _python_value(field, value):
    if value is None:
        return None
    if isinstance(field, models.ForeignKey):
        return field.target_field.to_python(value)
    if isinstance(field, models.JSONField):
        return value
    return field.to_python(value)


def undo_records(job: ImportJob, actor) -> dict:
    """Trash what ``job`` created and put back the fields it changed; returns counts.

    Each chunk is one transaction with its change-log entries. A field someone changed
    after the import keeps their value (only values still as the import left them are
    put back).
    """
    counts = {"trashed": 0, "restored": 0, "kept": 0}
    org_id = job.organization_id
    now = timezone.now()
    labels = list(job.records.values_list("model", flat=True).distinct().order_by("model"))
    for label in labels:
        model = _model_for(label)
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        updates = job.records.filter(model=label, action=ImportRecord.Action.UPDATE).order_by("-id")
        last = None
        while True:
            chunk = list(updates.filter(id__lt=last)[:UNDO_CHUNK] if last else updates[:UNDO_CHUNK])
            if not chunk:
                break
            last = chunk[-1].id
            with transaction.atomic():
                counts_chunk = _undo_updates(model, content_type, chunk, actor, org_id, job, now)
            counts["restored"] += counts_chunk[0]
            counts["kept"] += counts_chunk[1]
        creates = job.records.filter(model=label, action=ImportRecord.Action.CREATE).order_by("id")
        last = None
        while True:
            page = creates.filter(id__gt=last) if last is not None else creates
            chunk = list(page.values_list("id", "object_id")[:UNDO_CHUNK])
            if not chunk:
                break
            last = chunk[-1][0]
            pks = [pk for _id, pk in chunk]
            with transaction.atomic():
                live = list(
                    model.objects.unscoped()
                    .filter(organization_id=org_id, pk__in=pks, deleted_at__isnull=True)
                    .select_for_update()
                )
                if live:
                    model.objects.unscoped().filter(pk__in=[r.pk for r in live]).update(
                        deleted_at=now, deleted_by=actor, updated_by=actor, updated_at=now
                    )
                    AuditEntry.objects.bulk_create(
                        [
                            AuditEntry(
                                organization_id=org_id,
                                actor=actor,
                                source=Source.IMPORT,
                                action=Action.DELETE,
                                content_type=content_type,
                                object_id=str(r.pk),
                                object_repr=str(r)[:200],
                                changes={},
                                request_id=job.pk.hex,
                            )
                            for r in live
                        ],
                        batch_size=BATCH_SIZE,
                    )
                counts["trashed"] += len(live)
    return counts


def _undo_updates(model, content_type, chunk, actor, org_id, job, now) -> tuple[int, int]:
    fields_by_attname = {f.attname: f for f in model._meta.concrete_fields}
    instances = {
        obj.pk: obj
        for obj in model.objects.unscoped()
        .filter(organization_id=org_id, pk__in=[r.object_id for r in chunk])
        .select_for_update()
    }
    changed = []
    changed_fields: set[str] = set()
    entries = []
    tag_removals: list[tuple[Any, list]] = []
    restored = kept = 0
    for record in chunk:
        instance = instances.get(record.object_id)
        if instance is None:
            continue
        changes = {}
        for attname, pair in (record.previous or {}).items():
            if attname == "__tags_added":
                tag_removals.append((instance.pk, pair))
                continue
            field = fields_by_attname.get(attname)
            if field is None:
                continue
            old, new = pair
            current = getattr(instance, attname)
            if jsonable(current) != new:
                kept += 1
                continue
            value = _python_value(field, old)
            setattr(instance, attname, value)
            changes[field.name] = [jsonable(current), old]
            changed_fields.add(attname)
        if changes:
            instance.version = (instance.version or 0) + 1
            instance.updated_by = actor
            instance.updated_at = now
            changed.append(instance)
            restored += 1
            entries.append(
                AuditEntry(
                    organization_id=org_id,
                    actor=actor,
                    source=Source.IMPORT,
                    action=Action.UPDATE,
                    content_type=content_type,
                    object_id=str(instance.pk),
                    object_repr=str(instance)[:200],
                    changes=changes,
                    request_id=job.pk.hex,
                )
            )
    if changed:
        model.objects.unscoped().bulk_update(
            changed, [*sorted(changed_fields), "version", "updated_by", "updated_at"]
        )
    if tag_removals and hasattr(model, "tags"):
        through = model.tags.through
        source = model.tags.field.m2m_field_name()
        target = model.tags.field.m2m_reverse_field_name()
        for pk, tags in tag_removals:
            through.objects.filter(**{f"{source}_id": pk, f"{target}_id__in": tags}).delete()
    AuditEntry.objects.bulk_create(entries, batch_size=BATCH_SIZE)
    return restored, kept


def undo_job(*, job_id, actor) -> ImportJob | None:
    """Undo a finished import as one unit (the task body); safe to run twice."""
    job = ImportJob.objects.filter(pk=job_id).select_related("organization").first()
    if job is None or job.status != ImportJob.Status.UNDOING:
        return job
    counts = undo_records(job, actor)
    job.refresh_from_db()
    job.status = ImportJob.Status.UNDONE
    job.undone_at = timezone.now()
    job.undone_by = actor
    job.updated_by = actor
    job.message = (
        _(
            "Undone: %(trashed)d records moved to the trash, %(restored)d records put back"
            " as they were."
        )
        % counts
    )
    if counts["kept"]:
        job.message += (
            " "
            + _("%(kept)d fields changed by someone since the import were left as they are.")
            % counts
        )
    # A save, not an update: the change log records who undid the import.
    job.save(
        update_fields=["status", "undone_at", "undone_by", "updated_by", "updated_at", "message"]
    )
    return job
