"""Reads of imports: the history, a job's preview with per-cell validation, its columns."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from . import parsers
from .models import ImportJob
from .targets import RowInvalid, get_target

PREVIEW_ROWS = 20


def import_history(*, user) -> QuerySet[ImportJob]:
    """The imports ``user`` may see, newest first, with who started them."""
    return (
        ImportJob.objects.restrict(user, "view")
        .select_related("created_by", "undone_by")
        .order_by("-created_at", "-pk")
    )


@dataclass
class PreviewCell:
    text: str
    error: str = ""


@dataclass
class PreviewRow:
    line: int
    cells: list[PreviewCell]
    error: str = ""
    ok: bool = True


@dataclass
class MappedColumn:
    index: int
    header: str
    key: str
    label: str


@dataclass
class Preview:
    columns: list[MappedColumn]
    rows: list[PreviewRow] = field(default_factory=list)

    @property
    def failing(self) -> int:
        return sum(1 for r in self.rows if not r.ok)


def mapped_columns(job: ImportJob) -> list[MappedColumn]:
    target = get_target(job.target)
    fields = target.field_map() if target else {}
    columns = []
    for index_text, key in sorted(job.mapping.items(), key=lambda kv: int(kv[0])):
        index = int(index_text)
        if index < len(job.headers) and key in fields:
            columns.append(MappedColumn(index, job.headers[index], key, str(fields[key].label)))
    return columns


def sample_rows(job: ImportJob, limit: int = PREVIEW_ROWS) -> list[parsers.Row]:
    """The first data rows of the stored file, as the import will read them."""
    rows = parsers.data_rows(
        job.file.path,
        job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter,
        has_header=job.has_header,
        width=len(job.headers),
    )
    return [row for _i, row in zip(range(limit), rows, strict=False)]


def import_preview(*, job: ImportJob, actor, limit: int = PREVIEW_ROWS) -> Preview:
    """The first rows with each mapped cell's validation error (duplicates are checked
    when the import runs: that needs the whole organization's keys)."""
    from .engine import BatchResult, Runner

    columns = mapped_columns(job)
    preview = Preview(columns=columns)
    if not columns:
        return preview
    runner = Runner(job, actor)
    by_key: dict[str, list[int]] = {}
    for position, column in enumerate(columns):
        by_key.setdefault(column.key, []).append(position)
    for row in sample_rows(job, limit):
        cells = [
            PreviewCell(row.cells[c.index] if c.index < len(row.cells) else "") for c in columns
        ]
        shown = PreviewRow(line=row.line, cells=cells)
        preview.rows.append(shown)
        if row.error:
            shown.error, shown.ok = row.error, False
            continue
        values = runner.values(row, BatchResult())
        if not values:
            shown.error, shown.ok = runner.empty_row_message, False
            continue
        try:
            prepared = runner.run.build(values, row.line, row.cells)
            problem = runner.run.check(prepared) if runner.job.mode != "update" else ""
            if problem:
                shown.error, shown.ok = problem, False
        except RowInvalid as exc:
            shown.ok = False
            leftovers = []
            for key, message in exc.errors.items():
                positions = by_key.get(key) or by_key.get(_field_key(key), [])
                if positions:
                    for position in positions:
                        cells[position].error = message
                else:
                    leftovers.append(f"{runner.labels.get(key, key)}: {message}")
            shown.error = "; ".join(leftovers)
    return preview


def _field_key(name: str) -> str:
    return {"company": "company", "assigned_to": "assigned_to"}.get(name, name)
