"""Exports of list views: CSV, XLSX and vCard, streamed in flat memory.

An export is the list page's rows: the same ``restrict``-ed queryset (with the
``export`` permission), the same FilterSet and ordering, and the same ``columns=``
keys as the page (``pulse.contacts.tables``); ``id`` repeated exports only those
records. Rows are read with ``.iterator(chunk_size=2000)``: CSV and vCard stream
straight to the client, XLSX is written by openpyxl's write-only mode to a temporary
file that is then streamed. Every text cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import datetime
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.http import QueryDict
from django.utils.translation import gettext as _

from pulse.core.countries import country_name
from pulse.core.errors import ApplicationError

from .engine import neutralise

CHUNK = 2000
FORMATS = ("csv", "xlsx", "vcf")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "vcf": "text/vcard; charset=utf-8",
}
MAX_IDS = 10_000


@dataclass
class ExportTarget:
    key: str
    model: type
    filterset_class: type
    orderings: dict
    default_ordering: str


def export_targets() -> dict[str, ExportTarget]:
    from pulse.contacts.filtersets import (
        COMPANY_ORDERINGS,
        CONTACT_ORDERINGS,
        CompanyFilterSet,
        ContactFilterSet,
    )
    from pulse.contacts.models import Company, Contact
    from pulse.leads import tables as _lead_columns  # noqa: F401 (registers the lead columns)
    from pulse.leads.filtersets import LEAD_ORDERINGS, LeadFilterSet
    from pulse.leads.models import Lead

    return {
        "contacts": ExportTarget(
            "contacts", Contact, ContactFilterSet, CONTACT_ORDERINGS, "-created_at"
        ),
        "companies": ExportTarget(
            "companies", Company, CompanyFilterSet, COMPANY_ORDERINGS, "name"
        ),
        "leads": ExportTarget("leads", Lead, LeadFilterSet, LEAD_ORDERINGS, "-created_at"),
        **_opportunity_targets(),
        **_activity_targets(),
    }


def _activity_targets() -> dict[str, ExportTarget]:
    # Activities (issue 6): the list page's columns, FilterSet and orderings.
    from pulse.activities import tables as _activity_columns  # noqa: F401 (registers)
    from pulse.activities.filtersets import ACTIVITY_ORDERINGS, ActivityFilterSet
    from pulse.activities.models import Activity

    return {
        "activities": ExportTarget(
            "activities", Activity, ActivityFilterSet, ACTIVITY_ORDERINGS, "-occurred_at"
        )
    }


def _opportunity_targets() -> dict[str, ExportTarget]:
    # Opportunities (issue 5): the list page's columns, FilterSet and orderings.
    from pulse.opportunities import tables as _opportunity_columns  # noqa: F401 (registers)
    from pulse.opportunities.filtersets import OPPORTUNITY_ORDERINGS, OpportunityFilterSet
    from pulse.opportunities.models import Opportunity

    return {
        "opportunities": ExportTarget(
            "opportunities",
            Opportunity,
            OpportunityFilterSet,
            OPPORTUNITY_ORDERINGS,
            "-created_at",
        )
    }


class _FilterRequest:
    """What the list FilterSets read from a request."""

    def __init__(self, *, user, organization):
        self.user = user
        self.organization = organization


@dataclass
class Export:
    """What to write: the target, the rows (a queryset) and the columns."""

    target: ExportTarget
    queryset: object
    columns: list
    file_format: str

    @property
    def filename(self) -> str:
        stamp = datetime.date.today().isoformat()
        return f"{self.target.key}-{stamp}.{self.file_format}"


def build_export(*, target: str, user, org, params: QueryDict) -> Export:
    """The rows and columns an export request names; ``ApplicationError`` for bad input."""
    from pulse.accounts.permissions import can
    from pulse.contacts import tables
    from pulse.contacts.filtersets import order_terms
    from pulse.core.errors import PermissionDeniedError

    spec = export_targets().get(target)
    if spec is None:
        raise ApplicationError(errors={"target": [_("Export contacts, companies or leads.")]})
    file_format = (params.get("format") or "csv").lower()
    if file_format not in FORMATS:
        raise ApplicationError(errors={"format": [_("Choose csv, xlsx or vcf.")]})
    if file_format == "vcf" and target in ("opportunities", "activities"):
        raise ApplicationError(errors={"format": [_("Export these records as csv or xlsx.")]})
    if not can(user, "export", spec.model):
        raise PermissionDeniedError(_("Your role does not allow exports."))
    qs = spec.model.objects.restrict(user, "export")
    ids = params.getlist("id")
    if ids:
        if len(ids) > MAX_IDS:
            raise ApplicationError(
                errors={"id": [_("Select at most %(n)d records.") % {"n": MAX_IDS}]}
            )
        valid = []
        for value in ids:
            try:
                valid.append(uuid.UUID(str(value)))
            except ValueError:
                raise ApplicationError(
                    errors={"id": [_("“%(id)s” is not a record id.") % {"id": value[:40]}]}
                )
        qs = qs.filter(pk__in=valid)
    else:
        filters = params.copy()
        for name in ("format", "columns", "page", "page_size", "id"):
            filters.pop(name, None)
        filterset = spec.filterset_class(
            filters, queryset=qs, request=_FilterRequest(user=user, organization=org)
        )
        if not filterset.is_valid():
            raise ApplicationError(
                errors={
                    name: [str(m) for m in messages] for name, messages in filterset.errors.items()
                }
            )
        qs = filterset.qs
    qs = qs.order_by(
        *order_terms(spec.model, spec.orderings, params.get("ordering", ""), spec.default_ordering)
    )
    available = tables.available_columns(spec.model)
    keys = tables.parse_columns(params.getlist("columns"))
    columns = tables.choose(spec.model, keys, available=available) if keys else []
    if not columns:
        columns = available
    select = tuple(dict.fromkeys(n for c in columns for n in c.select_related))
    prefetch = tuple(dict.fromkeys(n for c in columns for n in c.prefetch_related))
    if select:
        qs = qs.select_related(*select)
    if prefetch:
        qs = qs.prefetch_related(*prefetch)
    if file_format == "vcf":
        qs = qs.select_related("company") if spec.key == "contacts" else qs
        qs = qs.prefetch_related("tags")
    return Export(target=spec, queryset=qs, columns=columns, file_format=file_format)


def _rows(export: Export, user) -> Iterator:
    """Records in chunks; a company export fills the contact counts per chunk."""
    chunk = []
    needs_counts = export.target.key == "companies" and any(
        c.key == "contacts" for c in export.columns
    )
    for record in export.queryset.iterator(chunk_size=CHUNK):
        chunk.append(record)
        if len(chunk) >= CHUNK:
            yield from _with_counts(chunk, user, needs_counts)
            chunk = []
    yield from _with_counts(chunk, user, needs_counts)


def _with_counts(chunk: list, user, needs_counts: bool):
    if needs_counts and chunk:
        from pulse.contacts.selectors import contacts_counts

        counts = contacts_counts(company_ids=[c.pk for c in chunk], user=user)
        for company in chunk:
            company.contacts_count = counts.get(company.pk, 0)
    yield from chunk


class _Echo:
    """A file-like object whose ``write`` returns what it was given (for csv.writer)."""

    def write(self, value):
        return value


def header(export: Export) -> list[str]:
    return [str(c.label) for c in export.columns]


def cells(export: Export, record) -> list[str]:
    return [neutralise(c.text(record) or "") for c in export.columns]


def csv_stream(export: Export, user) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header(export))
    buffer = []
    for record in _rows(export, user):
        buffer.append(writer.writerow(cells(export, record)))
        if len(buffer) >= 500:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def xlsx_file(export: Export, user):
    """The workbook written in write-only mode to a temporary file, rewound for reading."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(export.target.model._meta.verbose_name_plural)[:31])
    sheet.append(header(export))
    for record in _rows(export, user):
        sheet.append([_xlsx_cell(v) for v in cells(export, record)])
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes it
    workbook.save(handle)
    handle.seek(0)
    return handle


_ILLEGAL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def _xlsx_cell(value: str) -> str:
    # XML 1.0 cannot hold most control characters: openpyxl would refuse the cell.
    return value.translate(_ILLEGAL) if value else value


# --- vCard 3.0 ------------------------------------------------------------------------------


def _escape(value) -> str:
    text = str(value or "")
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """RFC 6350/2425 line folding: at most 75 characters, continuation lines start with a space."""
    if len(line) <= 75:
        return line + "\r\n"
    parts = [line[:75]]
    rest = line[75:]
    while rest:
        parts.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(parts) + "\r\n"


def vcard(record) -> str:
    """One contact, company or lead as a vCard 3.0."""
    from pulse.contacts.models import Contact
    from pulse.leads.models import Lead

    lines = ["BEGIN:VCARD", "VERSION:3.0"]
    if isinstance(record, Lead):
        name = record.full_name or record.title
        lines.append(f"N:{_escape(record.last_name)};{_escape(record.first_name)};;;")
        lines.append(f"FN:{_escape(name)}")
        if record.email:
            lines.append(f"EMAIL;TYPE=INTERNET,PREF:{_escape(record.email)}")
        if record.phone:
            lines.append(f"TEL;TYPE=WORK,VOICE:{_escape(record.phone)}")
        if record.company_name:
            lines.append(f"ORG:{_escape(record.company_name)}")
        if record.job_title:
            lines.append(f"TITLE:{_escape(record.job_title)}")
        lines.append(f"NOTE:{_escape(record.title)}")
    elif isinstance(record, Contact):
        lines.append(f"N:{_escape(record.last_name)};{_escape(record.first_name)};;;")
        lines.append(f"FN:{_escape(str(record))}")
        if record.email:
            lines.append(f"EMAIL;TYPE=INTERNET,PREF:{_escape(record.email)}")
        for other in record.other_emails or []:
            if isinstance(other, dict) and other.get("email"):
                lines.append(f"EMAIL;TYPE=INTERNET:{_escape(other['email'])}")
        if record.phone:
            lines.append(f"TEL;TYPE=WORK,VOICE:{_escape(record.phone)}")
        if record.mobile:
            lines.append(f"TEL;TYPE=CELL:{_escape(record.mobile)}")
        company = record.company.name if record.company_id and record.company else ""
        if company or record.department:
            lines.append(f"ORG:{_escape(company)};{_escape(record.department)}")
        if record.title:
            lines.append(f"TITLE:{_escape(record.title)}")
        if record.birthday:
            lines.append(f"BDAY:{record.birthday.isoformat()}")
        if record.notes:
            lines.append(f"NOTE:{_escape(record.notes)}")
        if record.linkedin_url:
            lines.append(f"X-SOCIALPROFILE;TYPE=linkedin:{record.linkedin_url}")
    else:
        lines.append(f"N:{_escape(record.name)};;;;")
        lines.append(f"FN:{_escape(record.name)}")
        lines.append(f"ORG:{_escape(record.name)}")
        if record.phone:
            lines.append(f"TEL;TYPE=WORK,VOICE:{_escape(record.phone)}")
        if record.description:
            lines.append(f"NOTE:{_escape(record.description)}")
    address = [getattr(record, n, "") for n in ("street", "city", "region", "postal_code")]
    if any(address) or (record.country and not isinstance(record, Lead)):
        country = country_name(record.country)
        parts = [*address, country]
        lines.append("ADR;TYPE=WORK:;;" + ";".join(_escape(p) for p in parts))
    if record.website:
        lines.append(f"URL:{record.website}")
    tags = [t.name for t in record.tags.all()]
    if tags:
        lines.append("CATEGORIES:" + ",".join(_escape(t) for t in tags))
    lines.append(f"UID:urn:uuid:{record.pk}")
    lines.append("END:VCARD")
    return "".join(_fold(line) for line in lines)


def vcf_stream(export: Export, user) -> Iterator[str]:
    buffer = []
    for record in _rows(export, user):
        buffer.append(vcard(record))
        if len(buffer) >= 200:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def response(export: Export, *, user, org, source: str = "web"):
    """The streaming HTTP response for an export (tenancy re-entered while streaming)."""
    from django.http import FileResponse, StreamingHttpResponse

    from pulse.core import tenancy

    def in_tenant(generator_factory):
        # The response body is produced after the view returned (and the middleware left
        # the tenancy): the rows' lazy relations need the organization while streaming.
        def generate():
            with tenancy.tenant_context(org, actor=user, source=source):
                yield from generator_factory()

        return generate()

    if export.file_format == "xlsx":
        with tenancy.tenant_context(org, actor=user, source=source):
            handle = xlsx_file(export, user)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=export.filename,
            content_type=CONTENT_TYPES["xlsx"],
        )
    stream = csv_stream if export.file_format == "csv" else vcf_stream
    result = StreamingHttpResponse(
        in_tenant(lambda: stream(export, user)), content_type=CONTENT_TYPES[export.file_format]
    )
    result["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    result["Cache-Control"] = "no-store"
    return result
