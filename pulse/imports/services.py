"""Every state change of imports: upload, read options, mapping, start, undo (rule 3).

The flow: ``import_upload`` stores and analyses the file (format, encoding, delimiter,
headers, a first guess at the mapping) → ``import_set_mapping`` checks and saves the
mapping and mode (and remembers it for the organization) → ``import_start`` queues the
run → the task (``pulse.imports.tasks.run_import``) writes in batches → ``import_undo``
queues the undo of the whole import.
"""

from __future__ import annotations

import os
import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create, record_update

from . import mapping as mapping_module
from . import parsers
from .models import ImportJob, ImportMapping
from .targets import get_target, unknown_target_message

MODES = tuple(ImportJob.Mode.values)


def max_upload_size() -> int:
    return int(getattr(settings, "IMPORT_MAX_FILE_SIZE", 512 * 1024 * 1024))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _target(key: str, actor):
    target = get_target(key or "")
    if target is None:
        raise ApplicationError(errors={"target": [unknown_target_message()]})
    if not can(actor, "import", target.model):
        raise PermissionDeniedError(_("Your role does not allow imports."))
    return target


def _check_mode(target, mode: str, match_by: str) -> tuple[str, str]:
    errors = {}
    if mode not in MODES:
        errors["mode"] = [_("Choose create, update or skip.")]
    options = [value for value, _label in target.match_options()]
    if not match_by:
        match_by = target.default_match_by()
    if mode == "update" and match_by not in options:
        errors["match_by"] = [_("Match by one of: %(choices)s.") % {"choices": ", ".join(options)}]
    if errors:
        raise ApplicationError(errors=errors)
    return mode, match_by


def _saved_mapping(target, headers: list[str]) -> dict | None:
    saved = (
        ImportMapping.objects.filter(target=target.key, signature=mapping_module.signature(headers))
        .values_list("mapping", flat=True)
        .first()
    )
    return saved


def _apply_analysis(target, info: parsers.FileInfo) -> dict:
    saved = _saved_mapping(target, info.headers)
    return {
        "file_format": info.file_format,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
        "has_header": info.has_header,
        "headers": info.headers,
        "warnings": info.warnings,
        "total_rows": info.total_rows,
        "mapping": mapping_module.guess(target, info.headers, saved),
    }


@transaction.atomic
def import_upload(
    *,
    org,
    actor,
    target: str,
    file,
    encoding: str = "",
    delimiter: str = "",
    has_header: bool | None = None,
    mode: str = ImportJob.Mode.SKIP,
    match_by: str = "",
) -> ImportJob:
    """Store an uploaded file under MEDIA_ROOT and analyse it; returns the job to map.

    The upload is copied to storage in chunks (never read whole into memory). A file
    that is too large, empty or unreadable is refused with a ``file`` error and
    nothing is kept.
    """
    import_target = _target(target, actor)
    mode, match_by = _check_mode(import_target, mode, match_by)
    if file is None:
        raise ApplicationError(errors={"file": [_("Choose a file to import.")]})
    size = getattr(file, "size", 0) or 0
    limit = max_upload_size()
    if size > limit:
        raise ApplicationError(
            errors={
                "file": [
                    _("This file is %(size)s; files up to %(limit)s can be imported.")
                    % {"size": _megabytes(size), "limit": _megabytes(limit)}
                ]
            }
        )
    if size == 0:
        raise ApplicationError(errors={"file": [_("The file is empty.")]})
    pk = uuid.uuid4()
    name = os.path.basename(getattr(file, "name", "") or "import.csv")[:200] or "import.csv"
    safe_name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
    stored = default_storage.save(f"imports/{org.pk}/{pk}/{safe_name}", file)
    path = default_storage.path(stored)
    try:
        info = parsers.analyse(
            path, name, encoding=encoding, delimiter=delimiter, has_header=has_header
        )
    except parsers.ImportFileError as exc:
        default_storage.delete(stored)
        raise ApplicationError(errors={"file": [exc.message]})
    fields = {
        "id": pk,
        "target": import_target.key,
        "file": stored,
        "original_name": name,
        "file_size": size,
        "mode": mode,
        "match_by": match_by,
    }
    fields.update(_apply_analysis(import_target, info))
    try:
        return record_create(ImportJob, org=org, actor=actor, **fields)
    except Exception:
        default_storage.delete(stored)
        raise


def _editable(job: ImportJob) -> None:
    if job.status != ImportJob.Status.MAPPING:
        raise ApplicationError(_("This import has already started; its settings cannot change."))


@transaction.atomic
def import_set_options(
    *,
    job: ImportJob,
    actor,
    encoding: str = "",
    delimiter: str = "",
    has_header: bool | None = None,
) -> ImportJob:
    """Read the file again with another encoding, delimiter or header choice."""
    _editable(job)
    target = _target(job.target, actor)
    errors = {}
    if encoding and encoding not in parsers.ENCODINGS:
        errors["encoding"] = [_("Choose one of the listed encodings.")]
    if delimiter and delimiter not in parsers.DELIMITERS:
        errors["delimiter"] = [_("Choose one of the listed delimiters.")]
    if errors:
        raise ApplicationError(errors=errors)
    try:
        info = parsers.analyse(
            job.file.path,
            job.original_name,
            encoding=encoding,
            delimiter=delimiter,
            has_header=has_header,
        )
    except parsers.ImportFileError as exc:
        raise ApplicationError(errors={"file": [exc.message]})
    return record_update(job, actor=actor, **_apply_analysis(target, info))


@transaction.atomic
def import_set_mapping(
    *,
    job: ImportJob,
    actor,
    mapping: dict,
    mode: str | None = None,
    match_by: str | None = None,
    remember: bool = True,
) -> ImportJob:
    """Check and save the column mapping (and mode); remember it for this header row.

    Refuses a column the file does not have, a field the target does not have, and one
    field mapped twice (unless it takes several columns), keyed ``mapping.<column>``.
    """
    _editable(job)
    target = _target(job.target, actor)
    mode, match_by = _check_mode(target, mode or job.mode, match_by or job.match_by)
    cleaned, errors = mapping_module.clean_mapping(target, job.headers, mapping)
    if errors:
        raise ApplicationError(errors=errors)
    job = record_update(job, actor=actor, mapping=cleaned, mode=mode, match_by=match_by)
    if remember and job.has_header:
        _remember(job, actor, target)
    return job


def _remember(job: ImportJob, actor, target) -> None:
    signature = mapping_module.signature(job.headers)
    remembered = mapping_module.by_header(job.headers, job.mapping)
    existing = ImportMapping.objects.filter(target=target.key, signature=signature).first()
    if existing is not None:
        if existing.mapping != remembered:
            record_update(existing, actor=actor, mapping=remembered, headers=job.headers)
        return
    try:
        with transaction.atomic():
            record_create(
                ImportMapping,
                org=job.organization,
                actor=actor,
                target=target.key,
                signature=signature,
                headers=job.headers,
                mapping=remembered,
            )
    except (IntegrityError, ApplicationError):
        pass  # someone saved the same layout at the same moment: theirs is as good


def mapping_problems(job: ImportJob) -> list[str]:
    """What would make every row fail: nothing mapped, a required field left out."""
    target = get_target(job.target)
    problems = []
    if target is None:
        return [unknown_target_message()]
    mapped = set(job.mapping.values())
    if not mapped:
        problems.append(_("No column is mapped to a field."))
    if job.target == "contacts" and not mapped & {"first_name", "last_name", "full_name", "email"}:
        problems.append(target.required_hint())
    if job.target == "companies" and "name" not in mapped and job.mode != "update":
        problems.append(target.required_hint())
    if job.mode == "update":
        key = job.match_by
        if key not in mapped and not (key == "name" and "name" in mapped):
            problems.append(
                _("Update mode matches by “%(key)s”, but no column is mapped to it.")
                % {"key": dict(target.match_options()).get(key, key)}
            )
    return problems


@transaction.atomic
def import_start(*, job: ImportJob, actor) -> ImportJob:
    """Queue the run (it starts once this transaction commits)."""
    _editable(job)
    _target(job.target, actor)
    problems = mapping_problems(job)
    if problems:
        raise ApplicationError(errors={"mapping": problems})
    job = record_update(job, actor=actor, status=ImportJob.Status.QUEUED)
    from .tasks import run_import

    run_import.enqueue_on_commit(org=job.organization, actor=actor, job_id=str(job.pk))
    return job


@transaction.atomic
def import_undo(*, job: ImportJob, actor) -> ImportJob:
    """Queue the undo of a finished import: created records to the trash, updates put back."""
    _target(job.target, actor)
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if not locked.can_undo or locked.undone_at is not None:
        raise ApplicationError(_("Only a finished import that wrote records can be undone."))
    job = record_update(locked, actor=actor, status=ImportJob.Status.UNDOING)
    from .tasks import undo_import

    undo_import.enqueue_on_commit(org=job.organization, actor=actor, job_id=str(job.pk))
    return job


@transaction.atomic
def import_discard(*, job: ImportJob, actor) -> ImportJob:
    """Drop an import that has not started (moves it to the trash, deletes the file)."""
    from pulse.core.services import record_delete

    _editable(job)
    name = job.file.name
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))
    return record_delete(job, actor=actor)
