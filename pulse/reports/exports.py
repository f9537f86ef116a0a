"""A report as a file: CSV (streamed), XLSX (openpyxl) and PDF (WeasyPrint, with the chart
drawn as SVG by ``pulse.reports.charts``). Used by the export views, the API and the
scheduled emails alike."""

from __future__ import annotations

# --- exports (H3) -----------------------------------------------------------------------------
import csv
import datetime
import decimal
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .charts import chart_svg
from .engine import (
    AGGREGATES,
    DATE_PERIODS,
    MAX_EXPORT_ROWS,
    MAX_GROUPS,
    ReportColumn,
    ReportDefinition,
    ReportError,
    field_options,
    iter_report_rows,
    report_fields,
    run_report,
)
from .periods import PERIODS, org_zone

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
# A PDF is read, not processed: the table stops at the engine's group limit (WeasyPrint
# lays out every row, and thousands of pages help no one); CSV and Excel carry the rest.
PDF_MAX_ROWS = MAX_GROUPS
CSV_CHUNK = 500  # rows per streamed chunk

OPERATOR_WORDS = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "starts_with": gettext_lazy("starts with"),
    "empty": gettext_lazy("is empty"),
    "not_empty": gettext_lazy("is not empty"),
    "gt": gettext_lazy("is more than"),
    "gte": gettext_lazy("is at least"),
    "lt": gettext_lazy("is less than"),
    "lte": gettext_lazy("is at most"),
    "between": gettext_lazy("is between"),
    "on": gettext_lazy("is on"),
    "before": gettext_lazy("is before"),
    "after": gettext_lazy("is after"),
    "period": gettext_lazy("is in"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "is": gettext_lazy("is"),
    "any": gettext_lazy("has any of"),
    "all": gettext_lazy("has all of"),
    "none": gettext_lazy("has none of"),
}


@dataclass
class ExportTable:
    """What every format writes: a header, the rows (a list, or a lazy iterator for an
    ungrouped report), a totals row for grouped reports, notices and the chart."""

    title: str
    definition: ReportDefinition
    columns: list[ReportColumn]
    rows: Any  # list[list] or Iterator[list]
    totals: list | None = None
    notices: list[str] = field(default_factory=list)
    chart: Any = None
    currency: str = ""
    count: int = 0  # rows written (known once ``rows`` has been consumed)


@dataclass
class ExportFile:
    """A rendered export (for the XLSX/PDF downloads and the scheduled emails)."""

    content: bytes
    filename: str
    content_type: str
    rows: int


def _definition_and_title(report_or_definition) -> tuple[ReportDefinition, str]:
    if isinstance(report_or_definition, ReportDefinition):
        return report_or_definition, _("Report")
    return ReportDefinition.from_report(report_or_definition), report_or_definition.name


def export_filename(report_or_definition, fmt: str) -> str:
    """``sales-by-rep.xlsx`` from the report's name (``report.xlsx`` when it has none)."""
    _definition, title = _definition_and_title(report_or_definition)
    return f"{slugify(title, allow_unicode=True) or 'report'}.{fmt}"


def export_table(report_or_definition, *, user, org, max_rows: int = MAX_EXPORT_ROWS):
    """The report as an ``ExportTable``, run as ``user`` (their visible rows only).

    The report runs (or, ungrouped, is probed with one row) before anything is written,
    so a ``ReportError`` (a deleted field …) surfaces here rather than halfway through a
    streamed download. An ungrouped report's rows stay lazy (``iter_report_rows``), at
    most ``max_rows`` with a notice when there were more."""
    definition, title = _definition_and_title(report_or_definition)
    if definition.group_by:
        result = run_report(definition, user=user, org=org, max_groups=MAX_GROUPS)
        groups = result.groups[:max_rows]
        width = len(groups[0].labels) if groups else len(definition.group_by)
        value_columns = result.columns[width:]
        rows = [list(g.labels) + [g.values.get(c.key) for c in value_columns] for g in groups]
        notices = list(result.notices)
        if len(result.groups) > max_rows:
            notices.append(
                _("Only the first %(count)s groups are shown.") % {"count": f"{max_rows:,}"}
            )
        totals = None
        if result.totals:
            totals = [_("Total")] + [""] * (width - 1) if width else []
            totals += [result.totals.get(c.key, "") for c in value_columns]
        return ExportTable(
            title=title,
            definition=definition,
            columns=list(result.columns),
            rows=rows,
            totals=totals,
            notices=notices,
            chart=result.chart,
            currency=result.currency,
            count=len(rows),
        )
    probe = run_report(definition, user=user, org=org, page=1, page_size=1)
    table = ExportTable(
        title=title,
        definition=definition,
        columns=list(probe.columns),
        rows=None,
        notices=list(probe.notices),
        chart=probe.chart,
        currency=probe.currency,
    )
    table.rows = _bounded(
        table, iter_report_rows(definition, user=user, org=org, limit=max_rows + 1), max_rows
    )
    return table


def _bounded(table: ExportTable, rows: Iterator[list], limit: int) -> Iterator[list]:
    """At most ``limit`` rows; one more means the report has more, which the file says."""
    for row in rows:
        if table.count >= limit:
            table.notices.append(
                _(
                    "The report has more rows than fit an export: only the first %(count)s are "
                    "included. Add filters to narrow it down."
                )
                % {"count": f"{limit:,}"}
            )
            return
        table.count += 1
        yield list(row)


def _cell_text(value) -> str:
    """A value as CSV text: numbers plainly, dates in ISO form, nothing for ``None``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime.datetime):
        return (
            timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
        )
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class _Echo:
    """A file-like that hands back what ``csv.writer`` writes (streaming, no buffer)."""

    def write(self, value):
        return value


def export_csv(report_or_definition, *, user, org) -> Iterator[str]:
    """The report as CSV text chunks (header first, UTF-8 BOM so Excel reads accents),
    for a ``StreamingHttpResponse``. Cells a spreadsheet would run as formulas are
    neutralised. Raises ``ReportError`` before yielding anything when the report cannot run."""
    table = export_table(report_or_definition, user=user, org=org)
    return _csv_chunks(table)


def _csv_chunks(table: ExportTable) -> Iterator[str]:
    from pulse.imports.engine import neutralise

    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([str(c.label) for c in table.columns])
    buffer = []
    for row in table.rows:
        buffer.append(writer.writerow([neutralise(_cell_text(v)) for v in row]))
        if len(buffer) >= CSV_CHUNK:
            yield "".join(buffer)
            buffer = []
    if table.totals:
        buffer.append(writer.writerow([neutralise(_cell_text(v)) for v in table.totals]))
    for notice in table.notices:
        buffer.append(writer.writerow([neutralise(str(notice))]))
    if buffer:
        yield "".join(buffer)


def _xlsx_format(column: ReportColumn, value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime.datetime):
        return "yyyy-mm-dd hh:mm"
    if isinstance(value, datetime.date):
        return "yyyy-mm-dd"
    if isinstance(value, (int, float, decimal.Decimal)):
        if column.kind == "money" or (
            isinstance(value, (float, decimal.Decimal)) and value != int(value)
        ):
            return "#,##0.00"
        return "#,##0"
    return None


def _xlsx_value(value, zone):
    from pulse.imports.engine import neutralise

    if value is None:
        return None
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime.datetime):
        # Excel has no time zones: the organization's wall-clock time.
        return (
            timezone.localtime(value, zone).replace(tzinfo=None)
            if timezone.is_aware(value)
            else value
        )
    if isinstance(value, (int, float, decimal.Decimal, datetime.date)):
        return value
    return neutralise(_cell_text(value))


def export_xlsx(report_or_definition, *, user, org) -> bytes:
    """The report as an Excel workbook (write-only: constant memory): a bold header,
    number and date formats per column, a bold totals row for grouped reports, notices
    below the table."""
    return _xlsx_bytes(export_table(report_or_definition, user=user, org=org), org)


def _xlsx_bytes(table: ExportTable, org) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    zone = org_zone(org)
    workbook = Workbook(write_only=True)
    title = "".join(ch for ch in table.title if ch not in "[]:*?/\\")[:31] or "Report"
    sheet = workbook.create_sheet(title)
    bold = Font(bold=True)

    def cells(values, *, font=None):
        out = []
        for column, raw in zip(table.columns, values, strict=False):
            value = _xlsx_value(raw, zone)
            cell = WriteOnlyCell(sheet, value=value)
            number_format = _xlsx_format(column, value)
            if number_format:
                cell.number_format = number_format
            if font is not None:
                cell.font = font
            out.append(cell)
        return out

    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=str(column.label))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append(cells(row))
    if table.totals:
        sheet.append(cells(table.totals, font=bold))
    if table.notices:
        sheet.append([])
        for notice in table.notices:
            sheet.append([str(notice)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def describe_filters(definition: ReportDefinition, *, user, org) -> list[str]:
    """The filters in words (“Stage is one of Won, Negotiation”), for the PDF and emails."""
    try:
        catalogue = report_fields(definition.record_type, org)
    except (KeyError, ValueError, ReportError):
        catalogue = {}
    sentences = []
    for item in definition.filters or []:
        key, op, value = item.get("field", ""), item.get("op", ""), item.get("value")
        report_field = catalogue.get(key)
        label = str(report_field.label) if report_field else key
        words = str(OPERATOR_WORDS.get(op, op))
        if op in ("empty", "not_empty"):
            sentences.append(f"{label} {words}")
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        names = {}
        if report_field is not None and report_field.kind in ("choice", "user", "relation"):
            options = report_field.choices or field_options(report_field, user=user, org=org)
            names = {str(k): str(v) for k, v in options}
        if op == "period":
            values = [PERIODS.get(str(v), v) for v in values]
        shown = [names.get(str(v), _cell_text(v)) for v in values]
        joiner = _(" and ") if op == "between" else ", "
        sentences.append(f"{label} {words} {joiner.join(str(s) for s in shown)}")
    return sentences


def _grouping_words(definition: ReportDefinition, org) -> str:
    try:
        catalogue = report_fields(definition.record_type, org)
    except (KeyError, ValueError, ReportError):
        catalogue = {}
    parts = []
    for group in definition.group_by or []:
        report_field = catalogue.get(group.get("field", ""))
        label = str(report_field.label) if report_field else group.get("field", "")
        if group.get("period"):
            label += f" ({DATE_PERIODS.get(group['period'], group['period'])})"
        parts.append(label)
    return ", ".join(parts)


def export_pdf(report_or_definition, *, user, org) -> bytes:
    """The report as an A4 landscape PDF (WeasyPrint): title, organization, when it was
    made, the filters in words, the chart (inline SVG) and the table (at most
    ``PDF_MAX_ROWS`` rows, with a notice when there are more)."""
    table = export_table(report_or_definition, user=user, org=org, max_rows=PDF_MAX_ROWS)
    return _pdf_bytes(table, user=user, org=org)


def _pdf_bytes(table: ExportTable, *, user, org) -> bytes:
    from weasyprint import HTML

    rows = [[_cell_text(v) for v in row] for row in table.rows]
    chart = ""
    if table.chart is not None and table.definition.chart_type != "table":
        chart = chart_svg(table.chart, width=960, height=340)
    numeric = [c.kind in ("number", "money") for c in table.columns]
    generated_at = timezone.localtime(timezone.now(), org_zone(org))
    html = render_to_string(
        "reports/pdf.html",
        {
            "title": table.title,
            "organization": org,
            "generated_at": generated_at,
            "filters": describe_filters(table.definition, user=user, org=org),
            "grouping": _grouping_words(table.definition, org),
            "aggregates": [
                str(AGGREGATES.get(a.get("fn"), "")) for a in table.definition.aggregates
            ],
            "chart_svg": chart,
            "columns": list(zip(table.columns, numeric, strict=False)),
            "rows": [list(zip(row, numeric, strict=False)) for row in rows],
            "totals": list(zip([_cell_text(v) for v in table.totals], numeric, strict=False))
            if table.totals
            else None,
            "notices": table.notices,
            "currency": table.currency,
        },
    )
    return HTML(string=html).write_pdf()


def render_export(report, fmt: str, *, user, org) -> ExportFile:
    """``report`` rendered whole in ``fmt`` (csv, xlsx or pdf) as ``user`` sees it: the
    scheduled emails' attachment and the XLSX/PDF downloads."""
    if fmt == "csv":
        table = export_table(report, user=user, org=org)
        content = "".join(_csv_chunks(table)).encode("utf-8")
        rows = table.count
    elif fmt == "xlsx":
        table = export_table(report, user=user, org=org)
        content = _xlsx_bytes(table, org)
        rows = table.count
    elif fmt == "pdf":
        table = export_table(report, user=user, org=org, max_rows=PDF_MAX_ROWS)
        content = _pdf_bytes(table, user=user, org=org)
        rows = table.count
    else:
        raise ReportError(_("Choose CSV, XLSX or PDF."), field="format")
    return ExportFile(content, export_filename(report, fmt), CONTENT_TYPES[fmt], rows)
