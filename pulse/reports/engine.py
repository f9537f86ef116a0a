"""The report engine: what can be reported on, and running a definition safely.

A definition (``ReportDefinition``) names a record type, filters, columns, up to two
groupings and aggregates. ``validate_definition`` checks it against the record type's
field catalogue (``report_fields``, custom fields included) and answers bad input with
field errors; ``run_report`` runs it over the caller's visible rows only
(``Model.objects.restrict(user, "view")``), bounded: ungrouped reports page, grouped ones
stop at ``MAX_GROUPS`` groups and say so, and on PostgreSQL a statement timeout ends a
runaway query with a clear message instead of tying up the request.

Money (``kind == "money"``) is summed per currency in SQL and converted to the
organization's currency in Python at today's rates (``pulse.currencies``); amounts with no
rate are left out of the total and reported as a notice.

Shapes (JSON, as stored on ``Report``):
    filter     {"field": key, "op": op, "value": …}
               ops by kind: text eq ne contains not_contains starts_with empty not_empty
                            number/money eq ne gt gte lt lte between empty not_empty
                            date/datetime on before after between period empty not_empty
                                 (period value = a key of ``pulse.reports.periods.PERIODS``)
                            choice/user/relation in not_in empty not_empty
                            bool is ; tags any all none
    group      {"field": key} or {"field": key, "period": "day|week|month|quarter|year"}
    aggregate  {"fn": "count"} or {"fn": "sum|avg|min|max", "field": numeric key}
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    F,
    JSONField,
    Max,
    Min,
    Q,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform, KeyTransformExact
from django.db.models.functions import (
    Cast,
    TruncDay,
    TruncMonth,
    TruncQuarter,
    TruncWeek,
    TruncYear,
)
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pulse.core.errors import ApplicationError

MAX_GROUPS = 500  # groups shown (and exported) per run; more → a notice
PAGE_SIZE = 50  # rows of an ungrouped report per page
MAX_EXPORT_ROWS = 100_000  # rows of an ungrouped export; more → a notice in the file
STATEMENT_TIMEOUT_MS = 5_000  # PostgreSQL, inside a web request
WORK_MEM_MB = 64  # PostgreSQL, per sort or hash of one report query (a bounded run)

DATE_PERIODS = {
    "day": _("Day"),
    "week": _("Week"),
    "month": _("Month"),
    "quarter": _("Quarter"),
    "year": _("Year"),
}
AGGREGATES = {
    "count": _("Count"),
    "sum": _("Sum"),
    "avg": _("Average"),
    "min": _("Minimum"),
    "max": _("Maximum"),
}


class ReportError(Exception):
    """A saved report that can no longer run as saved (a deleted field, a query that ran
    too long): the page shows ``message`` and a link to edit the report, the API a 400."""

    def __init__(self, message: str, *, field: str = "__all__"):
        self.message = message
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class ReportField:
    """One field of a record type as the builder offers it.

    ``kind``: text · number · money · date · datetime · choice · user · relation · bool · tags
    ``lookup``: the ORM path (``assigned_to``, ``stage``, ``custom_fields__region``)
    ``choices``: for choice fields, ``[(value, label)]``; relations and users list their
    options through ``field_options`` instead (they can be many).
    """

    key: str
    label: str
    kind: str
    lookup: str
    choices: tuple = ()
    groupable: bool = True
    filterable: bool = True
    custom: bool = False
    related: str = ""  # relations: the related model ("opportunities.Stage")
    currency_lookup: str = ""  # money: the ORM path of the amount's currency
    multi: bool = False  # a multiple-choice custom field (filters only)

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "money")

    @property
    def is_date(self) -> bool:
        return self.kind in ("date", "datetime")


@dataclass
class ReportDefinition:
    """A report's definition, from a saved ``Report`` or the builder's form."""

    record_type: str
    filters: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    group_by: list[dict] = field(default_factory=list)
    aggregates: list[dict] = field(default_factory=list)
    ordering: str = ""
    chart_type: str = "table"

    @classmethod
    def from_report(cls, report) -> ReportDefinition:
        return cls(
            record_type=report.record_type,
            filters=list(report.filters or []),
            columns=list(report.columns or []),
            group_by=list(report.group_by or []),
            aggregates=list(report.aggregates or []),
            ordering=report.ordering or "",
            chart_type=report.chart_type or "table",
        )

    def as_fields(self) -> dict:
        """The model fields of ``Report`` this definition fills."""
        return {
            "record_type": self.record_type,
            "filters": self.filters,
            "columns": self.columns,
            "group_by": self.group_by,
            "aggregates": self.aggregates,
            "ordering": self.ordering,
            "chart_type": self.chart_type,
        }


@dataclass
class ChartData:
    """What a chart draws, ready for Chart.js (``as_chartjs``) and for the PDF's SVG.

    ``type``: bar · line · pie · funnel (a funnel is drawn as horizontal bars in order).
    ``datasets``: ``[{"label": str, "data": [number, …]}]``, one value per label.
    """

    type: str
    labels: list[str]
    datasets: list[dict]
    value_format: str = "number"  # number · money · percent
    currency: str = ""

    def as_chartjs(self) -> dict:
        """The JSON a ``<canvas data-chart='…'>`` hands to ``new Chart()``."""
        kind = {"funnel": "bar", "pie": "doughnut"}.get(self.type, self.type)
        options: dict[str, Any] = {"responsive": True, "maintainAspectRatio": False}
        if self.type == "funnel":
            options["indexAxis"] = "y"
        return {
            "type": kind,
            "data": {"labels": self.labels, "datasets": self.datasets},
            "options": options,
            "pulse": {"format": self.value_format, "currency": self.currency},
        }


@dataclass
class GroupRow:
    """One group: its keys (raw, for links and sorting), labels (shown) and aggregates."""

    keys: tuple
    labels: tuple[str, ...]
    values: dict[str, Any]  # aggregate key ("count", "sum:value") → number
    url: str = ""  # the records behind the group (a filtered list), when one exists


@dataclass
class ReportColumn:
    key: str
    label: str
    kind: str


@dataclass
class ReportResult:
    """A run: either ``rows`` (ungrouped, one page) or ``groups`` with ``totals``."""

    definition: ReportDefinition
    columns: list[ReportColumn]
    rows: list[list[Any]] = field(default_factory=list)  # display values per column
    row_urls: list[str] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    chart: ChartData | None = None
    page: int = 1
    has_next: bool = False
    total_rows: int | None = None  # capped count; None when not counted
    notices: list[str] = field(default_factory=list)
    currency: str = ""

    @property
    def grouped(self) -> bool:
        return bool(self.definition.group_by)


# --- the catalogue (H1) ----------------------------------------------------------------------


RECORD_MODELS = {
    "contacts": "contacts.Contact",
    "companies": "contacts.Company",
    "leads": "leads.Lead",
    "opportunities": "opportunities.Opportunity",
    "activities": "activities.Activity",
}
FIELD_OPTIONS_LIMIT = 200  # relation options offered per filter (companies can be many)
NONE_LABEL = _("(none)")

# Per record type: (key, kind, lookup or None = key, extras). Labels come from the model
# field's verbose name unless given; choices from the model field unless given.
_CATALOGUE: dict[str, list[tuple]] = {
    "opportunities": [
        ("name", "text", None, {}),
        ("value", "money", None, {"currency_lookup": "currency"}),
        ("currency", "choice", None, {}),
        ("probability", "number", None, {}),
        ("status", "choice", None, {}),
        ("pipeline", "relation", None, {"related": "opportunities.Pipeline"}),
        ("stage", "relation", None, {"related": "opportunities.Stage"}),
        ("loss_reason", "relation", None, {"related": "opportunities.LossReason"}),
        ("assigned_to", "user", None, {}),
        ("company", "relation", None, {"related": "contacts.Company"}),
        ("contact", "relation", None, {"related": "contacts.Contact"}),
        ("forecast_category", "choice", None, {}),
        ("source", "choice", None, {"choices": "leads.LeadSource"}),
        ("competitor", "text", None, {}),
        ("expected_close_date", "date", None, {}),
        ("actual_close_date", "date", None, {}),
        ("stage_changed_at", "datetime", None, {}),
        ("last_activity_at", "datetime", None, {}),
        ("tags", "tags", None, {}),
        ("created_by", "user", None, {"label": _("Created by")}),
        ("created_at", "datetime", None, {"label": _("Created")}),
        ("updated_at", "datetime", None, {"label": _("Updated")}),
    ],
    "leads": [
        ("title", "text", None, {}),
        ("first_name", "text", None, {}),
        ("last_name", "text", None, {}),
        ("email", "text", None, {}),
        ("company_name", "text", None, {}),
        ("source", "choice", None, {}),
        ("stage", "relation", None, {"related": "leads.LeadStage"}),
        ("status", "choice", "stage__kind", {"label": _("Status"), "choices": "leads.StageKind"}),
        ("score", "number", None, {}),
        ("value", "money", None, {"currency_lookup": "currency"}),
        ("probability", "number", None, {}),
        ("expected_close_date", "date", None, {}),
        ("assigned_to", "user", None, {}),
        ("industry", "text", None, {}),
        ("country", "choice", None, {}),
        ("utm_campaign", "text", None, {}),
        ("converted_at", "datetime", None, {}),
        ("tags", "tags", None, {}),
        ("created_by", "user", None, {"label": _("Created by")}),
        ("created_at", "datetime", None, {"label": _("Created")}),
        ("updated_at", "datetime", None, {"label": _("Updated")}),
    ],
    "contacts": [
        ("first_name", "text", None, {}),
        ("last_name", "text", None, {}),
        ("email", "text", None, {}),
        ("phone", "text", None, {}),
        ("title", "text", None, {}),
        ("department", "text", None, {}),
        ("company", "relation", None, {"related": "contacts.Company"}),
        ("lead_source", "choice", None, {}),
        ("lifecycle_stage", "choice", None, {}),
        ("city", "text", None, {}),
        ("country", "choice", None, {}),
        ("do_not_contact", "bool", None, {}),
        ("birthday", "date", None, {}),
        ("assigned_to", "user", None, {}),
        ("tags", "tags", None, {}),
        ("created_by", "user", None, {"label": _("Created by")}),
        ("created_at", "datetime", None, {"label": _("Created")}),
        ("updated_at", "datetime", None, {"label": _("Updated")}),
    ],
    "companies": [
        ("name", "text", None, {}),
        ("industry", "text", None, {}),
        ("size_band", "choice", None, {}),
        ("annual_revenue", "money", None, {"currency_lookup": "currency"}),
        ("city", "text", None, {}),
        ("country", "choice", None, {}),
        ("territory", "text", None, {}),
        ("parent", "relation", None, {"related": "contacts.Company"}),
        ("assigned_to", "user", None, {}),
        ("tags", "tags", None, {}),
        ("created_by", "user", None, {"label": _("Created by")}),
        ("created_at", "datetime", None, {"label": _("Created")}),
        ("updated_at", "datetime", None, {"label": _("Updated")}),
    ],
    "activities": [
        ("subject", "text", None, {}),
        ("type", "choice", None, {}),
        ("status", "choice", None, {}),
        ("priority", "choice", None, {}),
        ("assigned_to", "user", None, {}),
        ("occurred_at", "datetime", None, {}),
        ("scheduled_at", "datetime", None, {}),
        ("due_date", "date", None, {}),
        ("completed_at", "datetime", None, {}),
        ("duration_minutes", "number", None, {}),
        ("call_direction", "choice", None, {}),
        ("call_outcome", "choice", None, {}),
        ("contact", "relation", None, {"related": "contacts.Contact"}),
        ("company", "relation", None, {"related": "contacts.Company"}),
        ("lead", "relation", None, {"related": "leads.Lead"}),
        ("opportunity", "relation", None, {"related": "opportunities.Opportunity"}),
        ("created_by", "user", None, {"label": _("Created by")}),
        ("created_at", "datetime", None, {"label": _("Created")}),
    ],
}

# Columns of an ungrouped report when none are chosen.
DEFAULT_COLUMNS = {
    "opportunities": ["name", "company", "stage", "value", "assigned_to", "expected_close_date"],
    "leads": ["title", "company_name", "stage", "source", "score", "assigned_to"],
    "contacts": ["first_name", "last_name", "email", "company", "assigned_to"],
    "companies": ["name", "industry", "country", "assigned_to"],
    "activities": ["subject", "type", "status", "occurred_at", "assigned_to"],
}

# The list page of each record type and the query parameter its filter reads, per report
# field, for a group's click-through (GroupRow.url). ``"key"``: the related row's key.
LIST_URLS = {
    "opportunities": "opportunities:opportunity_list",
    "leads": "leads:lead_list",
    "contacts": "contacts:contact_list",
    "companies": "contacts:company_list",
    "activities": "activities:activity_list",
}
LIST_PARAMS: dict[str, dict[str, str]] = {
    "opportunities": {
        "stage": "stage",
        "pipeline": "pipeline",
        "status": "status",
        "assigned_to": "assigned_to",
        "forecast_category": "forecast_category",
        "source": "source",
    },
    "leads": {"stage": "stage:key", "source": "source", "assigned_to": "assigned_to"},
    "contacts": {
        "assigned_to": "assigned_to",
        "lifecycle_stage": "lifecycle_stage",
        "company": "company",
        "lead_source": "lead_source",
        "country": "country",
    },
    "companies": {
        "assigned_to": "assigned_to",
        "size_band": "size_band",
        "country": "country",
        "parent": "parent",
    },
    "activities": {
        "type": "type",
        "status": "status",
        "priority": "priority",
        "assigned_to": "assigned_to",
        "contact": "contact",
        "company": "company",
        "lead": "lead",
        "opportunity": "opportunity",
    },
}
# List parameters that take one value only (the others repeat: ``?stage=a&stage=b``).
_SINGLE_VALUE_PARAMS = {
    ("opportunities", "pipeline"),
    ("contacts", "company"),
    ("contacts", "lead_source"),
    ("contacts", "country"),
    ("companies", "country"),
    ("companies", "parent"),
}
# List parameters of "assigned_to" that take "unassigned" for an empty owner.
_UNASSIGNED_PARAM = {"opportunities", "leads", "activities"}

_CUSTOM_KINDS = {
    "text": "text",
    "long_text": "text",
    "url": "text",
    "email": "text",
    "number": "number",
    "decimal": "number",
    "date": "date",
    "boolean": "bool",
    "choice": "choice",
    "multi_choice": "multi_choice",
    "user": "user",
}


def record_model(record_type: str):
    """The model behind a record type key."""
    from django.apps import apps

    try:
        return apps.get_model(RECORD_MODELS[record_type])
    except KeyError:
        raise ApplicationError(
            errors={
                "record_type": [
                    gettext("Unknown record type “%(value)s”.") % {"value": str(record_type)[:40]}
                ]
            }
        ) from None


def _choices_of(spec) -> tuple:
    if isinstance(spec, str):
        from django.utils.module_loading import import_string

        app, name = spec.split(".")
        return tuple(import_string(f"pulse.{app}.models.{name}").choices)
    return tuple(spec)


def report_fields(record_type: str, org) -> dict[str, ReportField]:
    """Every field of ``record_type`` the builder offers, custom fields of ``org`` included,
    in the order the builder lists them."""
    model = record_model(record_type)
    out: dict[str, ReportField] = {}
    for key, kind, lookup, extras in _CATALOGUE[record_type]:
        model_field = model._meta.get_field(key if lookup is None else lookup.split("__")[0])
        label = extras.get("label") or capfirst(model_field.verbose_name)
        choices: tuple = ()
        if kind == "choice":
            choices = _choices_of(extras.get("choices") or model_field.choices or ())
        out[key] = ReportField(
            key=key,
            label=str(label),
            kind=kind,
            lookup=lookup or key,
            choices=choices,
            groupable=kind not in ("tags",) and key not in ("name", "title", "subject"),
            related=extras.get("related", ""),
            currency_lookup=extras.get("currency_lookup", ""),
        )
    for definition in _custom_definitions(model, org):
        kind = _CUSTOM_KINDS.get(definition.field_type, "text")
        key = f"cf_{definition.key}"
        out[key] = ReportField(
            key=key,
            label=definition.label,
            kind="choice" if kind == "multi_choice" else kind,
            lookup=f"custom_fields__{definition.key}",
            choices=tuple((c, c) for c in definition.choices or ())
            if kind in ("choice", "multi_choice")
            else (),
            groupable=kind not in ("multi_choice",) and definition.field_type != "long_text",
            custom=True,
            multi=kind == "multi_choice",
        )
    return out


def _custom_definitions(model, org) -> list:
    from pulse.core.tenancy import get_current_org
    from pulse.extras.customfields import definitions_for
    from pulse.extras.models import CustomField

    current = get_current_org()
    if current is not None and org is not None and current.pk == org.pk:
        return definitions_for(model)  # memoized per request
    from django.contrib.contenttypes.models import ContentType

    return list(
        CustomField.objects.unscoped()
        .filter(
            organization=org,
            deleted_at__isnull=True,
            content_type=ContentType.objects.get_for_model(model),
        )
        .order_by("position", "label", "pk")
    )


def _related_model(report_field: ReportField):
    from django.apps import apps

    return apps.get_model(report_field.related)


def field_options(report_field: ReportField, *, user, org) -> list[tuple[str, str]]:
    """Values a choice/user/relation filter may pick from (members, stages, pipelines …)."""
    if report_field.kind == "choice":
        return [(str(value), str(label)) for value, label in report_field.choices]
    if report_field.kind == "bool":
        return [("true", gettext("Yes")), ("false", gettext("No"))]
    if report_field.kind == "user":
        from pulse.accounts.selectors import organization_members

        return [(str(u.pk), str(u)) for u in organization_members(org)[:FIELD_OPTIONS_LIMIT]]
    if report_field.kind == "tags":
        from pulse.extras.models import Tag

        rows = Tag.objects.unscoped().filter(organization=org, deleted_at__isnull=True)
        return [(str(t.pk), t.name) for t in rows.order_by("name")[:FIELD_OPTIONS_LIMIT]]
    if report_field.kind == "relation" and report_field.related:
        model = _related_model(report_field)
        rows = model.objects.restrict(user, "view") if user is not None else model.objects.all()
        if report_field.related == "opportunities.Stage":
            rows = rows.select_related("pipeline").order_by("pipeline__position", "position")
            return [
                (str(s.pk), f"{s.pipeline.name} · {s.name}") for s in rows[:FIELD_OPTIONS_LIMIT]
            ]
        return [(str(r.pk), str(r)) for r in rows[:FIELD_OPTIONS_LIMIT]]
    return []


# --- validation (H1) -------------------------------------------------------------------------

MAX_GROUP_BY = 2
MAX_FILTERS = 50
MAX_COLUMNS = 40
MAX_LIST_VALUES = 500
OPS = {
    "text": ("eq", "ne", "contains", "not_contains", "starts_with", "empty", "not_empty"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "empty", "not_empty"),
    "date": ("on", "before", "after", "between", "period", "empty", "not_empty"),
    "choice": ("in", "not_in", "empty", "not_empty"),
    "bool": ("is",),
    "tags": ("any", "all", "none"),
}
_OPS_BY_KIND = {
    "text": OPS["text"],
    "number": OPS["number"],
    "money": OPS["number"],
    "date": OPS["date"],
    "datetime": OPS["date"],
    "choice": OPS["choice"],
    "user": OPS["choice"],
    "relation": OPS["choice"],
    "bool": OPS["bool"],
    "tags": OPS["tags"],
}


def field_operators(report_field: ReportField) -> list[str]:
    """The filter operators ``report_field`` takes."""
    if report_field.multi:
        return ["in", "not_in", "empty", "not_empty"]
    return list(_OPS_BY_KIND.get(report_field.kind, ()))


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER_LIMIT = decimal.Decimal(10) ** 15


class _Bad(Exception):
    """One definition entry's error message (internal to validation)."""


def _short(value: Any) -> str:
    return str(value)[:40]


def _as_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise _Bad(gettext("“%(value)s” is not a number.") % {"value": _short(value)})
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise _Bad(gettext("“%(value)s” is not a number.") % {"value": _short(value)}) from None
    if not number.is_finite() or abs(number) >= _NUMBER_LIMIT:
        raise _Bad(gettext("“%(value)s” is not a number.") % {"value": _short(value)})
    return str(number)


def _as_date(value: Any) -> str:
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _Bad(gettext("“%(value)s” is not a date (use YYYY-MM-DD).") % {"value": _short(value)})


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple) else [value]
    if len(items) > MAX_LIST_VALUES:
        raise _Bad(gettext("Pick at most %(max)d values.") % {"max": MAX_LIST_VALUES})
    return list(items)


def _clean_member_value(report_field: ReportField, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Bad(gettext("“%(value)s” is not a valid choice.") % {"value": _short(value)})
    text = str(value).strip()
    if report_field.kind == "user":
        if text in ("me",) or re.fullmatch(r"\d{1,18}", text):
            return text
    elif report_field.kind == "relation":
        try:
            return str(uuid.UUID(text))
        except ValueError:
            pass
    else:
        known = {str(v) for v, _label in report_field.choices}
        if text in known:
            return text
    raise _Bad(gettext("“%(value)s” is not a valid choice.") % {"value": _short(value)})


def _clean_filter(raw: Any, fields: dict[str, ReportField]) -> dict:
    if not isinstance(raw, dict):
        raise _Bad(gettext("A filter names a field, an operator and a value."))
    key = raw.get("field")
    if not isinstance(key, str) or key not in fields:
        raise _Bad(gettext("Unknown field “%(field)s”.") % {"field": _short(key)})
    report_field = fields[key]
    if not report_field.filterable:
        raise _Bad(gettext("“%(field)s” cannot be filtered on.") % {"field": report_field.label})
    ops = _OPS_BY_KIND[report_field.kind]
    op = raw.get("op")
    if report_field.multi:
        ops = ("in", "not_in", "empty", "not_empty")
    if op not in ops:
        raise _Bad(
            gettext("“%(op)s” does not apply to “%(field)s”; use one of: %(ops)s.")
            % {"op": _short(op), "field": report_field.label, "ops": ", ".join(ops)}
        )
    value = raw.get("value")
    kind = report_field.kind
    if op in ("empty", "not_empty"):
        value = None
    elif kind == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _Bad(gettext("Enter text for “%(field)s”.") % {"field": report_field.label})
        value = str(value)[:200]
    elif kind in ("number", "money"):
        if op == "between":
            items = _as_list(value)
            if len(items) != 2:
                raise _Bad(gettext("“Between” takes two numbers."))
            value = [_as_number(item) for item in items]
        else:
            value = _as_number(value)
    elif kind in ("date", "datetime"):
        if op == "period":
            from .periods import PERIODS

            if not isinstance(value, str) or value not in PERIODS:
                raise _Bad(
                    gettext("Unknown period “%(value)s”. Use one of: %(known)s.")
                    % {"value": _short(value), "known": ", ".join(PERIODS)}
                )
        elif op == "between":
            items = _as_list(value)
            if len(items) != 2:
                raise _Bad(gettext("“Between” takes two dates."))
            value = [_as_date(item) for item in items]
        else:
            value = _as_date(value)
    elif kind in ("choice", "user", "relation"):
        value = [_clean_member_value(report_field, item) for item in _as_list(value)]
        if not value:
            raise _Bad(gettext("Pick at least one value for “%(f)s”.") % {"f": report_field.label})
    elif kind == "bool":
        if value in (True, "true", "1", 1, "yes"):
            value = True
        elif value in (False, "false", "0", 0, "no"):
            value = False
        else:
            raise _Bad(gettext("“%(value)s” is not yes or no.") % {"value": _short(value)})
    elif kind == "tags":
        try:
            value = [str(uuid.UUID(str(item))) for item in _as_list(value)]
        except (ValueError, TypeError, AttributeError):
            raise _Bad(gettext("Pick tags from the list.")) from None
        if not value:
            raise _Bad(gettext("Pick at least one tag."))
    return {"field": key, "op": op, "value": value}


def _clean_group(raw: Any, fields: dict[str, ReportField]) -> dict:
    if isinstance(raw, str):
        raw = {"field": raw}
    if not isinstance(raw, dict):
        raise _Bad(gettext("A grouping names a field."))
    key = raw.get("field")
    if not isinstance(key, str) or key not in fields:
        raise _Bad(gettext("Unknown field “%(field)s”.") % {"field": _short(key)})
    report_field = fields[key]
    if not report_field.groupable:
        raise _Bad(gettext("“%(field)s” cannot be grouped by.") % {"field": report_field.label})
    period = raw.get("period")
    if report_field.is_date:
        period = period or "month"
        if period not in DATE_PERIODS:
            raise _Bad(
                gettext("Unknown period “%(value)s”. Use one of: %(known)s.")
                % {"value": _short(period), "known": ", ".join(DATE_PERIODS)}
            )
        return {"field": key, "period": period}
    if period:
        raise _Bad(
            gettext("Only dates are grouped by a period; “%(field)s” is not a date.")
            % {"field": report_field.label}
        )
    return {"field": key}


def _clean_aggregate(raw: Any, fields: dict[str, ReportField]) -> dict:
    if isinstance(raw, str):
        fn, _sep, key = raw.partition(":")
        raw = {"fn": fn, "field": key} if key else {"fn": fn}
    if not isinstance(raw, dict):
        raise _Bad(gettext("An aggregate is count, sum, average, minimum or maximum."))
    fn = raw.get("fn")
    if fn not in AGGREGATES:
        raise _Bad(
            gettext("Unknown aggregate “%(value)s”. Use one of: %(known)s.")
            % {"value": _short(fn), "known": ", ".join(AGGREGATES)}
        )
    if fn == "count":
        return {"fn": "count"}
    key = raw.get("field")
    if not isinstance(key, str) or key not in fields:
        raise _Bad(gettext("Unknown field “%(field)s”.") % {"field": _short(key)})
    if not fields[key].numeric:
        raise _Bad(
            gettext("“%(fn)s” needs a number field; “%(field)s” is not one.")
            % {"fn": AGGREGATES[fn], "field": fields[key].label}
        )
    return {"fn": fn, "field": key}


def aggregate_key(aggregate: dict) -> str:
    """``count`` or ``sum:value``: how results and ``ordering`` name an aggregate."""
    return (
        aggregate["fn"] if aggregate["fn"] == "count" else f"{aggregate['fn']}:{aggregate['field']}"
    )


def aggregate_label(aggregate: dict, fields: dict[str, ReportField]) -> str:
    if aggregate["fn"] == "count":
        return str(AGGREGATES["count"])
    return f"{AGGREGATES[aggregate['fn']]} · {fields[aggregate['field']].label}"


def _clean_all(items: Any, clean, fields, errors: list, limit: int) -> list:
    if items in (None, ""):
        return []
    if not isinstance(items, list | tuple):
        errors.append(gettext("Expected a list."))
        return []
    if len(items) > limit:
        errors.append(gettext("Use at most %(max)d entries.") % {"max": limit})
        return []
    out = []
    for item in items:
        try:
            out.append(clean(item, fields))
        except _Bad as exc:
            errors.append(str(exc))
    return out


def validate_definition(definition: ReportDefinition, *, org) -> ReportDefinition:
    """The definition, normalised; ``ApplicationError`` with field errors
    (``filters``, ``columns``, ``group_by``, ``aggregates``, ``ordering``) when it is not
    one the engine can run. Values of the wrong type (a word in a number filter, an
    unknown period) are errors here, never at run time."""
    from .models import ChartType

    if not isinstance(definition.record_type, str) or definition.record_type not in RECORD_MODELS:
        raise ApplicationError(
            errors={
                "record_type": [
                    gettext("Unknown record type “%(value)s”.")
                    % {"value": _short(definition.record_type)}
                ]
            }
        )
    fields = report_fields(definition.record_type, org)
    errors: dict[str, list[str]] = {}

    def bucket(name: str) -> list:
        return errors.setdefault(name, [])

    filters = _clean_all(definition.filters, _clean_filter, fields, bucket("filters"), MAX_FILTERS)
    group_by = _clean_all(definition.group_by, _clean_group, fields, bucket("group_by"), 99)
    if len(group_by) > MAX_GROUP_BY:
        bucket("group_by").append(
            gettext("Group by at most %(max)d fields.") % {"max": MAX_GROUP_BY}
        )
    elif len({g["field"] for g in group_by}) < len(group_by):
        bucket("group_by").append(gettext("Group by a field only once."))
    aggregates = _clean_all(
        definition.aggregates, _clean_aggregate, fields, bucket("aggregates"), 10
    )
    if aggregates and len({aggregate_key(a) for a in aggregates}) < len(aggregates):
        bucket("aggregates").append(gettext("Each aggregate only once."))
    columns: list[str] = []
    raw_columns = definition.columns
    if raw_columns in (None, ""):
        raw_columns = []
    if not isinstance(raw_columns, list | tuple):
        bucket("columns").append(gettext("Expected a list."))
        raw_columns = []
    elif len(raw_columns) > MAX_COLUMNS:
        bucket("columns").append(gettext("Use at most %(max)d entries.") % {"max": MAX_COLUMNS})
        raw_columns = []
    for column in raw_columns:
        if not isinstance(column, str) or column not in fields:
            bucket("columns").append(
                gettext("Unknown field “%(field)s”.") % {"field": _short(column)}
            )
        elif column not in columns:
            columns.append(column)
    if group_by:
        if not aggregates and not errors.get("aggregates"):
            aggregates = [{"fn": "count"}]
    elif not columns and not errors.get("columns"):
        columns = [c for c in DEFAULT_COLUMNS[definition.record_type] if c in fields]
    ordering = definition.ordering or ""
    if not isinstance(ordering, str):
        bucket("ordering").append(gettext("Sort by a column or an aggregate."))
        ordering = ""
    if ordering:
        name = ordering.removeprefix("-")
        allowed = (
            {aggregate_key(a) for a in aggregates} | {g["field"] for g in group_by}
            if group_by
            else set(columns)
        )
        if name not in allowed:
            bucket("ordering").append(
                gettext("Sort by one of the report's columns or aggregates, not “%(value)s”.")
                % {"value": _short(name)}
            )
    chart_type = definition.chart_type or ChartType.TABLE
    if chart_type not in ChartType.values:
        errors.setdefault("chart_type", []).append(
            gettext("Unknown chart type “%(value)s”.") % {"value": _short(chart_type)}
        )
    errors = {key: messages for key, messages in errors.items() if messages}
    if errors:
        raise ApplicationError(errors=errors)
    return ReportDefinition(
        record_type=definition.record_type,
        filters=filters,
        columns=columns,
        group_by=group_by,
        aggregates=aggregates,
        ordering=ordering,
        chart_type=chart_type,
    )


# --- running (H1) ----------------------------------------------------------------------------

_TRUNC = {
    "day": TruncDay,
    "week": TruncWeek,
    "month": TruncMonth,
    "quarter": TruncQuarter,
    "year": TruncYear,
}
# Money groups are split by currency in SQL; allow this many rows per shown group.
_CURRENCY_SPLIT_FACTOR = 20
_CURRENCY_ALIAS = "_cur"


def _deleted_field_error(key: str) -> ReportError:
    name = key.removeprefix("cf_")
    return ReportError(
        gettext("The field “%(field)s” no longer exists; edit the report to remove it.")
        % {"field": name},
        field=key,
    )


def _referenced_fields(definition: ReportDefinition) -> list[str]:
    keys: list[str] = []
    for item in definition.filters or []:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            keys.append(item["field"])
    for item in definition.group_by or []:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            keys.append(item["field"])
    for item in definition.aggregates or []:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            keys.append(item["field"])
    keys += [c for c in definition.columns or [] if isinstance(c, str)]
    return keys


def _checked(definition: ReportDefinition, org) -> tuple[ReportDefinition, dict]:
    """The definition validated for running; a saved one naming a field that is gone (a
    deleted custom field) is a ``ReportError`` naming it."""
    if definition.record_type not in RECORD_MODELS:
        raise ReportError(gettext("This report's record type is not known."), field="record_type")
    fields = report_fields(definition.record_type, org)
    for key in _referenced_fields(definition):
        if key not in fields:
            raise _deleted_field_error(key)
    try:
        definition = validate_definition(definition, org=org)
    except ApplicationError as exc:
        field_name, messages = next(iter(exc.errors.items()))
        raise ReportError(str(messages[0]), field=field_name) from exc
    return definition, fields


def _alias_name(report_field: ReportField) -> str:
    return "_f_" + re.sub(r"\W", "_", report_field.key)


def _field_expression(report_field: ReportField):
    """The SQL expression of a field (custom fields read from the JSON column)."""
    if not report_field.custom:
        return F(report_field.lookup)
    key = report_field.lookup.split("__", 1)[1]
    text = KeyTextTransform(key, "custom_fields")
    if report_field.kind == "number":
        return Cast(text, DecimalField(max_digits=30, decimal_places=6))
    return text


def _custom_date_expression(report_field: ReportField):
    """A custom date (stored as "YYYY-MM-DD" text) as a date, for truncating."""
    from django.db.models import ExpressionWrapper

    text = KeyTextTransform(report_field.lookup.split("__", 1)[1], "custom_fields")
    if connection.vendor == "postgresql":
        return Cast(text, DateField())
    # SQLite's date functions read ISO text as it is.
    return ExpressionWrapper(text, output_field=DateField())


def _path(qs, report_field: ReportField):
    """(queryset, lookup path) for filtering on ``report_field``."""
    if not report_field.custom:
        return qs, report_field.lookup
    alias = _alias_name(report_field)
    return qs.alias(**{alias: _field_expression(report_field)}), alias


def _day_start(day: datetime.date, zone) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


def _filter_q(qs, item: dict, report_field: ReportField, *, user, org):
    """(queryset, Q) of one validated filter."""
    from .periods import org_zone, period_span

    op, value, kind = item["op"], item["value"], report_field.kind
    model = qs.model
    if kind == "tags":
        through = model._meta.get_field("tags").remote_field.through
        field = model._meta.get_field("tags")
        record_col, tag_col = field.m2m_field_name(), field.m2m_reverse_field_name()

        def having(ids):
            return Q(
                pk__in=through._base_manager.filter(**{f"{tag_col}__in": ids}).values(record_col)
            )

        if op == "any":
            return qs, having(value)
        if op == "none":
            return qs, ~having(value)
        condition = Q()
        for tag_id in value:  # all: one semi-join per tag, never a DISTINCT join
            condition &= having([tag_id])
        return qs, condition
    if report_field.custom and kind == "bool":
        key = report_field.lookup.split("__", 1)[1]
        return qs, Q(
            KeyTransformExact(
                KeyTransform(key, "custom_fields"), Value(bool(value), output_field=JSONField())
            )
        )
    if report_field.multi:
        from pulse.extras.customfields import JSONArrayContains

        key = report_field.lookup.split("__", 1)[1]
        if op in ("empty", "not_empty"):
            qs, path = _path(qs, report_field)
            empty = Q(**{f"{path}__isnull": True}) | Q(**{path: "[]"})
            return qs, empty if op == "empty" else ~empty
        condition = Q()
        for choice in value:
            condition |= Q(JSONArrayContains("custom_fields", key, choice))
        return qs, condition if op == "in" else ~condition
    qs, path = _path(qs, report_field)
    if op in ("empty", "not_empty"):
        empty = Q(**{f"{path}__isnull": True})
        if kind in ("text", "choice") or (report_field.custom and kind != "number"):
            empty |= Q(**{path: ""})
        return qs, empty if op == "empty" else ~empty
    if kind == "text":
        lookups = {"eq": "iexact", "ne": "iexact", "contains": "icontains"}
        lookups |= {"not_contains": "icontains", "starts_with": "istartswith"}
        condition = Q(**{f"{path}__{lookups[op]}": value})
        return qs, ~condition if op in ("ne", "not_contains") else condition
    if kind in ("number", "money"):
        if op == "between":
            low, high = (decimal.Decimal(v) for v in value)
            return qs, Q(**{f"{path}__gte": low, f"{path}__lte": high})
        number = decimal.Decimal(value)
        if op in ("eq", "ne"):
            condition = Q(**{path: number})
            return qs, ~condition if op == "ne" else condition
        return qs, Q(**{f"{path}__{op}": number})
    if kind in ("date", "datetime"):
        zone = org_zone(org)
        if op == "period":
            span = period_span(org, value)
            first, last = span.first, span.last
        elif op == "between":
            first, last = (datetime.date.fromisoformat(v) for v in value)
        elif op == "on":
            first = last = datetime.date.fromisoformat(value)
        elif op == "before":
            first, last = None, datetime.date.fromisoformat(value) - datetime.timedelta(days=1)
        else:  # after
            first, last = datetime.date.fromisoformat(value) + datetime.timedelta(days=1), None
        condition = Q()
        if kind == "datetime":
            if first is not None:
                condition &= Q(**{f"{path}__gte": _day_start(first, zone)})
            if last is not None:
                end = _day_start(last + datetime.timedelta(days=1), zone)
                condition &= Q(**{f"{path}__lt": end})
        else:
            as_value = (lambda d: d.isoformat()) if report_field.custom else (lambda d: d)
            if first is not None:
                condition &= Q(**{f"{path}__gte": as_value(first)})
            if last is not None:
                condition &= Q(**{f"{path}__lte": as_value(last)})
        return qs, condition
    if kind in ("choice", "user", "relation"):
        values = [str(user.pk) if (kind == "user" and v == "me") else v for v in value]
        if kind == "user" and not report_field.custom:
            values = [int(v) for v in values]
        condition = Q(**{f"{path}__in": values})
        return qs, ~condition if op == "not_in" else condition
    if kind == "bool":
        return qs, Q(**{path: bool(value)})
    return qs, Q()  # pragma: no cover - validation knows every kind


def _filtered(definition: ReportDefinition, fields, *, user, org):
    qs = record_model(definition.record_type).objects.restrict(user, "view")
    for item in definition.filters:
        qs, condition = _filter_q(qs, item, fields[item["field"]], user=user, org=org)
        qs = qs.filter(condition)
    return qs


def _group_expression(group: dict, report_field: ReportField, org):
    from .periods import org_zone

    period = group.get("period")
    if period:
        trunc = _TRUNC[period]
        if report_field.custom:
            return trunc(_custom_date_expression(report_field), output_field=DateField())
        if report_field.kind == "datetime":
            return trunc(report_field.lookup, tzinfo=org_zone(org))
        return trunc(report_field.lookup)
    return _field_expression(report_field)


def _as_day(value, org) -> datetime.date | None:
    from django.utils import timezone

    from .periods import org_zone

    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            return timezone.localtime(value, org_zone(org)).date()
        return value.date()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return value


def _period_label(day: datetime.date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _weekday = day.isocalendar()
        return f"W{week:02d} {year}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"Q{(day.month - 1) // 3 + 1} {day.year}"
    return str(day.year)


def _period_end(day: datetime.date, period: str) -> datetime.date:
    from .periods import _month_start

    if period == "day":
        return day
    if period == "week":
        return day + datetime.timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    return _month_start(day, months) - datetime.timedelta(days=1)


def _normal_key(value, group: dict, report_field: ReportField, org):
    """A group's key as Python compares and links it (dates as days, ids as text)."""
    if value is None or value == "":
        return None
    if group.get("period"):
        return _as_day(value, org)
    if report_field.kind == "bool":
        return value in (True, 1, "true", "1")
    if report_field.kind in ("relation",) or (report_field.custom and report_field.kind == "user"):
        return str(value)
    return value


class _Labels:
    """Group labels, each related model read in one query."""

    def __init__(self, fields, org):
        self.fields = fields
        self.org = org
        self.names: dict[str, dict] = {}  # field key → {key: (label, sort, extra)}

    def load(self, group: dict, keys: set):
        report_field = self.fields[group["field"]]
        keys = {k for k in keys if k is not None}
        found: dict = {}
        if group.get("period") or not keys:
            pass
        elif report_field.kind == "user":
            from django.contrib.auth import get_user_model

            ids = {int(k) for k in keys if str(k).isdigit()}
            for user in get_user_model().objects.filter(pk__in=ids).only("full_name", "email"):
                label = str(user)
                found[user.pk] = found[str(user.pk)] = (label, label.lower(), None)
        elif report_field.kind == "relation":
            model = _related_model(report_field)
            rows = model.objects.filter(pk__in=list(keys))
            if report_field.related == "opportunities.Stage":
                rows = rows.select_related("pipeline")
            for row in rows:
                sort: tuple = (str(row).lower(),)
                extra = None
                if report_field.related == "opportunities.Stage":
                    sort = (row.pipeline.position, row.pipeline.name, row.position)
                elif report_field.related == "leads.LeadStage":
                    sort, extra = (row.position,), row.key
                elif report_field.related == "opportunities.Pipeline":
                    sort = (row.position, row.name)
                found[str(row.pk)] = (str(row), sort, extra)
        self.names[group["field"]] = found

    def label(self, group: dict, key) -> str:
        report_field = self.fields[group["field"]]
        if key is None:
            return str(NONE_LABEL)
        if group.get("period"):
            return _period_label(key, group["period"])
        if report_field.kind in ("user", "relation"):
            known = self.names.get(group["field"], {}).get(key)
            return known[0] if known else gettext("(deleted)")
        if report_field.kind == "choice":
            return str(dict(report_field.choices).get(key, key))
        if report_field.kind == "bool":
            return gettext("Yes") if key else gettext("No")
        return str(key)

    def sort_key(self, group: dict, key):
        report_field = self.fields[group["field"]]
        if key is None:
            return (1, ())
        if group.get("period"):
            return (0, (key.toordinal(),))
        if report_field.kind in ("user", "relation"):
            known = self.names.get(group["field"], {}).get(key)
            return (
                0,
                tuple(known[1])
                if known and isinstance(known[1], tuple)
                else (known[1] if known else "",),
            )
        if report_field.kind == "choice":
            order = [str(v) for v, _label in report_field.choices]
            return (0, (order.index(str(key)) if str(key) in order else len(order), str(key)))
        if isinstance(key, int | float | decimal.Decimal | bool):
            return (0, (key,))
        return (0, (str(key).lower(),))

    def related_key(self, group: dict, key):
        known = self.names.get(group["field"], {}).get(key)
        return known[2] if known else None


class _Accumulator:
    """One group's aggregates, merged over currency rows and converted."""

    def __init__(self, aggregates, fields):
        self.aggregates = aggregates
        self.fields = fields
        self.state: dict[str, Any] = {}

    def add(self, row: dict, rate):
        """Merge one SQL row (``rate``: the currency's conversion factor, None = no rate)."""
        for aggregate in self.aggregates:
            key = aggregate_key(aggregate)
            fn = aggregate["fn"]
            if fn == "count":
                self.state[key] = self.state.get(key, 0) + (row[_agg_alias(aggregate)] or 0)
                continue
            money = self.fields[aggregate["field"]].kind == "money"
            factor = rate if money else decimal.Decimal(1)
            raw = row[_agg_alias(aggregate)]
            if raw is not None and factor is None:
                continue  # no rate: left out (a notice says so)
            value = None if raw is None else decimal.Decimal(raw) * factor
            if fn == "sum":
                self.state[key] = self.state.get(key, decimal.Decimal(0)) + (value or 0)
            elif fn == "avg":
                total, n = self.state.get(key, (decimal.Decimal(0), 0))
                self.state[key] = (
                    total + (value or 0),
                    n + (row[_agg_alias(aggregate) + "_n"] or 0),
                )
            else:
                current = self.state.get(key)
                if value is not None:
                    better = min if fn == "min" else max
                    self.state[key] = value if current is None else better(current, value)

    def merge(self, other: _Accumulator):
        for aggregate in self.aggregates:
            key = aggregate_key(aggregate)
            if key not in other.state:
                continue
            theirs, mine = other.state[key], self.state.get(key)
            if mine is None:
                self.state[key] = theirs
            elif aggregate["fn"] in ("count", "sum"):
                self.state[key] = mine + theirs
            elif aggregate["fn"] == "avg":
                self.state[key] = (mine[0] + theirs[0], mine[1] + theirs[1])
            else:
                self.state[key] = (min if aggregate["fn"] == "min" else max)(mine, theirs)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for aggregate in self.aggregates:
            key = aggregate_key(aggregate)
            value = self.state.get(key)
            if aggregate["fn"] == "count":
                out[key] = value or 0
                continue
            if aggregate["fn"] == "avg":
                value = (value[0] / value[1]) if value and value[1] else None
            elif aggregate["fn"] == "sum" and value is None:
                value = decimal.Decimal(0)
            if value is not None:
                places = "0.01" if self.fields[aggregate["field"]].kind == "money" else "0.01"
                value = decimal.Decimal(value).quantize(decimal.Decimal(places))
            out[key] = value
        return out


def _agg_alias(aggregate: dict) -> str:
    return "_a_" + re.sub(r"\W", "_", aggregate_key(aggregate))


def _sql_aggregates(aggregates, fields) -> dict:
    out = {}
    for aggregate in aggregates:
        alias = _agg_alias(aggregate)
        if aggregate["fn"] == "count":
            out[alias] = Count("pk")
            continue
        expr = _field_expression(fields[aggregate["field"]])
        fn = {"sum": Sum, "avg": Sum, "min": Min, "max": Max}[aggregate["fn"]]
        out[alias] = fn(expr)
        if aggregate["fn"] == "avg":
            out[alias + "_n"] = Count(expr)
    return out


def _money_currency_lookup(definition, fields) -> str:
    for aggregate in definition.aggregates:
        if aggregate["fn"] != "count" and fields[aggregate["field"]].kind == "money":
            return fields[aggregate["field"]].currency_lookup
    return ""


class _Rates:
    """Today's rate per currency (one query per request, ``converter``); remembers the
    currencies it could not convert, for the notice."""

    def __init__(self, org):
        self.org = org
        self.missing: set[str] = set()
        self._converter = None

    def factor(self, currency: str | None):
        if currency is None or currency == "":
            return decimal.Decimal(1)  # no currency recorded: taken as the organization's
        from pulse.currencies.selectors import converter

        if self._converter is None:
            self._converter = converter(self.org)
        rate, _day = self._converter.rate(currency)
        if rate is None:
            self.missing.add(currency)
        return rate


def _run_bounded(work):
    """``work()`` inside a transaction with ``SET LOCAL statement_timeout`` on PostgreSQL;
    a query that runs too long becomes a ``ReportError``."""
    if connection.vendor != "postgresql":
        return work()
    nested = connection.in_atomic_block
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # SET LOCAL of both in one statement. work_mem: room to group in memory;
                # at the default 4 MB, grouping 300,000 deals by owner × month sorted on
                # disk (bench/notes/reports.md).
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('work_mem', %s, true)",
                    [str(int(STATEMENT_TIMEOUT_MS)), f"{int(WORK_MEM_MB)}MB"],
                )
            result = work()
            if nested:
                # SET LOCAL lasts until the outer transaction ends: give both back.
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SET LOCAL statement_timeout TO DEFAULT; SET LOCAL work_mem TO DEFAULT"
                    )
            return result
    except OperationalError as exc:
        if "statement timeout" not in str(exc) and "canceling statement" not in str(exc):
            raise
        raise ReportError(
            gettext(
                "This report took too long to run. Add filters (a shorter period, one "
                "pipeline, one owner) and run it again."
            )
        ) from exc


def _report_columns(definition, fields) -> list[ReportColumn]:
    if definition.group_by:
        columns = [
            ReportColumn(g["field"], fields[g["field"]].label, fields[g["field"]].kind)
            for g in definition.group_by
        ]
        for aggregate in definition.aggregates:
            kind = "number"
            if aggregate["fn"] != "count" and fields[aggregate["field"]].kind == "money":
                kind = "money"
            columns.append(
                ReportColumn(aggregate_key(aggregate), aggregate_label(aggregate, fields), kind)
            )
        return columns
    return [ReportColumn(key, fields[key].label, fields[key].kind) for key in definition.columns]


def run_report(
    definition: ReportDefinition,
    *,
    user,
    org,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    max_groups: int = MAX_GROUPS,
) -> ReportResult:
    """Run ``definition`` over ``user``'s visible rows. Raises ``ReportError`` when a saved
    definition refers to something that no longer exists or the query ran too long."""
    definition, fields = _checked(definition, org)
    result = ReportResult(
        definition=definition,
        columns=_report_columns(definition, fields),
        currency=getattr(org, "default_currency", "") or "",
    )
    if definition.group_by:
        return _run_bounded(lambda: _run_grouped(definition, fields, result, user, org, max_groups))
    return _run_bounded(lambda: _run_rows(definition, fields, result, user, org, page, page_size))


# --- grouped ---


def _run_grouped(definition, fields, result, user, org, max_groups):
    qs = _filtered(definition, fields, user=user, org=org)
    groups = definition.group_by
    aliases = [f"_g{i}" for i in range(len(groups))]
    qs = qs.annotate(
        **{
            a: _group_expression(g, fields[g["field"]], org)
            for a, g in zip(aliases, groups, strict=True)
        }
    )
    currency_lookup = _money_currency_lookup(definition, fields)
    value_names = list(aliases)
    if currency_lookup:
        qs = qs.annotate(**{_CURRENCY_ALIAS: F(currency_lookup)})
        value_names.append(_CURRENCY_ALIAS)
    qs = qs.values(*value_names).annotate(**_sql_aggregates(definition.aggregates, fields))
    ordering = definition.ordering
    sql_by_aggregate = (
        bool(ordering)
        and not currency_lookup
        and ordering.removeprefix("-") in {aggregate_key(a) for a in definition.aggregates}
    )
    if sql_by_aggregate:
        aggregate = next(
            a for a in definition.aggregates if aggregate_key(a) == ordering.removeprefix("-")
        )
        alias = _agg_alias(aggregate)
        qs = qs.order_by(
            F(alias).desc(nulls_last=True)
            if ordering.startswith("-")
            else F(alias).asc(nulls_last=True),
            *aliases,
        )
    else:
        qs = qs.order_by(*aliases)
    limit = (max_groups + 1) * (_CURRENCY_SPLIT_FACTOR if currency_lookup else 1)
    sql_rows = list(qs[:limit])
    hit_limit = len(sql_rows) >= limit

    rates = _Rates(org)
    merged: OrderedDict = OrderedDict()
    for row in sql_rows:
        key = tuple(
            _normal_key(row[a], g, fields[g["field"]], org)
            for a, g in zip(aliases, groups, strict=True)
        )
        rate = rates.factor(row.get(_CURRENCY_ALIAS)) if currency_lookup else decimal.Decimal(1)
        merged.setdefault(key, _Accumulator(definition.aggregates, fields)).add(row, rate)
    if hit_limit and currency_lookup and merged:
        merged.popitem()  # the last group may be missing some of its currencies
    truncated = hit_limit or len(merged) > max_groups

    labels = _Labels(fields, org)
    for level, group in enumerate(groups):
        labels.load(group, {key[level] for key in merged})
    keys = list(merged)
    if ordering and not sql_by_aggregate:
        name = ordering.removeprefix("-")
        if name in {g["field"] for g in groups}:
            level = [g["field"] for g in groups].index(name)
            keys.sort(
                key=lambda k: labels.sort_key(groups[level], k[level]),
                reverse=ordering.startswith("-"),
            )
        else:
            values = {k: merged[k].values().get(name) for k in keys}
            present = [k for k in keys if values[k] is not None]
            present.sort(key=lambda k: values[k], reverse=ordering.startswith("-"))
            keys = present + [k for k in keys if values[k] is None]
    elif not ordering:
        keys.sort(key=lambda k: tuple(labels.sort_key(g, k[i]) for i, g in enumerate(groups)))
    keys = keys[:max_groups]

    url_base = _group_url_base(definition, fields)
    for key in keys:
        result.groups.append(
            GroupRow(
                keys=key,
                labels=tuple(labels.label(g, key[i]) for i, g in enumerate(groups)),
                values=merged[key].values(),
                url=_group_url(definition, fields, labels, key, url_base),
            )
        )
    if truncated:
        result.notices.append(
            gettext(
                "Only the first %(max)d groups are shown; add filters or group by fewer "
                "values to see the rest."
            )
            % {"max": max_groups}
        )
    if hit_limit:
        # The groups read are not all of them: the totals need their own query.
        result.totals = _totals_query(definition, fields, user, org, rates, currency_lookup)
    else:
        # Every group was read (only the display stops at ``max_groups``): add them up
        # instead of aggregating every row a second time.
        total = _Accumulator(definition.aggregates, fields)
        for accumulator in merged.values():
            total.merge(accumulator)
        result.totals = total.values()
    if rates.missing:
        result.notices.append(
            gettext(
                "Amounts in %(currencies)s are left out: there is no exchange rate to "
                "%(base)s. Add one under Settings → Currencies."
            )
            % {"currencies": ", ".join(sorted(rates.missing)), "base": result.currency}
        )
    result.chart = _chart(definition, fields, result)
    return result


def _totals_query(definition, fields, user, org, rates, currency_lookup) -> dict:
    qs = _filtered(definition, fields, user=user, org=org)
    aggregates = _sql_aggregates(definition.aggregates, fields)
    total = _Accumulator(definition.aggregates, fields)
    if currency_lookup:
        rows = qs.annotate(**{_CURRENCY_ALIAS: F(currency_lookup)}).values(_CURRENCY_ALIAS)
        for row in rows.annotate(**aggregates).order_by():
            total.add(row, rates.factor(row[_CURRENCY_ALIAS]))
    else:
        total.add(qs.aggregate(**aggregates), decimal.Decimal(1))
    return total.values()


# Date groups with a matching list filter: (from parameter, to parameter).
_DATE_PARAMS = {
    ("opportunities", "actual_close_date"): ("closed_from", "closed_to"),
    ("opportunities", "expected_close_date"): ("close_from", "close_to"),
}


def _group_url_base(definition, fields) -> list | None:
    """The list URL's parameters from the report's filters; None when one of them has no
    matching list filter (the link would show other records)."""
    params = LIST_PARAMS.get(definition.record_type, {})
    out: list = []
    for item in definition.filters:
        param = params.get(item["field"])
        if param is None or item["op"] != "in" or ":" in param:
            return None
        if len(item["value"]) > 1 and (definition.record_type, param) in _SINGLE_VALUE_PARAMS:
            return None
        for value in item["value"]:
            out.append((param, value))
    return out


def _group_url(definition, fields, labels, key, base) -> str:
    if base is None:
        return ""
    params = LIST_PARAMS.get(definition.record_type, {})
    query = list(base)
    for level, group in enumerate(definition.group_by):
        value = key[level]
        if group.get("period"):
            names = _DATE_PARAMS.get((definition.record_type, group["field"]))
            if names is None or value is None:
                return ""
            query += [
                (names[0], value.isoformat()),
                (names[1], _period_end(value, group["period"]).isoformat()),
            ]
            continue
        param = params.get(group["field"])
        if param is None:
            return ""
        if value is None:
            if group["field"] == "assigned_to" and definition.record_type in _UNASSIGNED_PARAM:
                query.append((param, "unassigned"))
                continue
            return ""
        if param.endswith(":key"):
            related_key = labels.related_key(group, value)
            if not related_key:
                return ""
            query.append((param.split(":")[0], related_key))
        else:
            query.append((param, str(value).lower() if isinstance(value, bool) else str(value)))
    return f"{reverse(LIST_URLS[definition.record_type])}?{urlencode(query)}"


CHART_SERIES = 10  # datasets of a two-level chart; the rest become "Other"


def _chart(definition, fields, result) -> ChartData | None:
    if definition.chart_type in ("", "table") or not definition.aggregates:
        return None
    aggregate = definition.aggregates[0]
    key = aggregate_key(aggregate)
    money = aggregate["fn"] != "count" and fields[aggregate["field"]].kind == "money"
    chart = ChartData(
        type=definition.chart_type,
        labels=[],
        datasets=[],
        value_format="money" if money else "number",
        currency=result.currency if money else "",
    )

    def number(value):
        return 0 if value is None else float(value)

    if len(definition.group_by) == 1:
        chart.labels = [group.labels[0] for group in result.groups]
        chart.datasets = [
            {
                "label": aggregate_label(aggregate, fields),
                "data": [number(group.values.get(key)) for group in result.groups],
            }
        ]
        return chart
    firsts: list[str] = []
    series: dict[str, dict[str, float]] = OrderedDict()
    weight: dict[str, float] = {}
    for group in result.groups:
        first, second = group.labels
        if first not in firsts:
            firsts.append(first)
        value = number(group.values.get(key))
        series.setdefault(second, {})[first] = value
        weight[second] = weight.get(second, 0) + abs(value)
    names = list(series)
    if len(names) > CHART_SERIES:
        keep = set(sorted(names, key=lambda n: -weight[n])[:CHART_SERIES])
        other: dict[str, float] = {}
        for name in names:
            if name not in keep:
                for first, value in series[name].items():
                    if aggregate["fn"] in ("count", "sum"):
                        other[first] = other.get(first, 0) + value
                    elif aggregate["fn"] == "max":
                        other[first] = max(other.get(first, value), value)
                    elif aggregate["fn"] == "min":
                        other[first] = min(other.get(first, value), value)
        names = [n for n in names if n in keep]
        if other:
            series[gettext("Other")] = other
            names.append(gettext("Other"))
    chart.labels = firsts
    chart.datasets = [
        {"label": name, "data": [series[name].get(first, 0) for first in firsts]} for name in names
    ]
    return chart


# --- ungrouped ---


def _ordered(qs, definition, fields):
    from django.db.models import OrderBy

    ordering = definition.ordering
    if not ordering:
        return qs.order_by(*(qs.model._meta.ordering or ["-created_at"]), "pk")
    report_field = fields[ordering.removeprefix("-")]
    if report_field.kind == "tags":
        return qs.order_by(*(qs.model._meta.ordering or ["-created_at"]), "pk")
    if report_field.custom:
        expr = _field_expression(report_field)
    elif report_field.kind in ("user",):
        expr = F(f"{report_field.lookup}__full_name")
    else:
        expr = F(report_field.lookup)
    term = (
        OrderBy(expr, descending=True, nulls_last=True)
        if ordering.startswith("-")
        else OrderBy(expr, nulls_last=True)
    )
    return qs.order_by(term, "pk")


def _rows_queryset(definition, fields, *, user, org):
    qs = _ordered(_filtered(definition, fields, user=user, org=org), definition, fields)
    related = [
        fields[c].lookup
        for c in definition.columns
        if fields[c].kind in ("user", "relation") and not fields[c].custom
    ]
    if related:
        qs = qs.select_related(*related)
    if any(fields[c].kind == "tags" for c in definition.columns):
        qs = qs.prefetch_related("tags")
    return qs


class _RowFormatter:
    """Display values of record rows (custom user fields' names read once per batch)."""

    def __init__(self, definition, fields, org):
        from .periods import org_zone

        self.columns = [fields[c] for c in definition.columns]
        self.zone = org_zone(org)
        self.user_names: dict[str, str] = {}

    def prepare(self, records):
        user_columns = [f for f in self.columns if f.custom and f.kind == "user"]
        if not user_columns:
            return
        from django.contrib.auth import get_user_model

        ids = set()
        for record in records:
            for column in user_columns:
                value = (record.custom_fields or {}).get(column.key.removeprefix("cf_"))
                if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                    ids.add(int(value))
        ids -= {int(k) for k in self.user_names}
        if ids:
            for user in get_user_model().objects.filter(pk__in=ids).only("full_name", "email"):
                self.user_names[str(user.pk)] = str(user)

    def row(self, record) -> list:
        return [self.value(record, column) for column in self.columns]

    def value(self, record, column: ReportField):
        from django.utils import timezone

        if column.custom:
            value = (record.custom_fields or {}).get(column.key.removeprefix("cf_"))
            if value is None or value == "":
                return ""
            if column.kind == "user":
                return self.user_names.get(str(value), "")
            if column.kind == "bool":
                return gettext("Yes") if value else gettext("No")
            if isinstance(value, list):
                return ", ".join(str(v) for v in value)
            return value
        if column.kind == "tags":
            return ", ".join(sorted(tag.name for tag in record.tags.all()))
        value = record
        for part in column.lookup.split("__"):
            value = getattr(value, part, None) if value is not None else None
        if value is None or value == "":
            return ""
        if column.kind == "choice":
            return str(dict(column.choices).get(value, value))
        if column.kind in ("user", "relation"):
            return str(value)
        if column.kind == "bool":
            return gettext("Yes") if value else gettext("No")
        if column.kind == "money":
            currency = getattr(record, column.currency_lookup, "") if column.currency_lookup else ""
            return f"{number_format(value, 2, force_grouping=True)} {currency}".strip()
        if column.kind == "datetime":
            return timezone.localtime(value, self.zone).strftime("%Y-%m-%d %H:%M")
        if column.kind == "date":
            return value.isoformat()
        return value


def _run_rows(definition, fields, result, user, org, page, page_size):
    from django.core.paginator import EmptyPage, PageNotAnInteger

    from pulse.core.pagination import CappedCountPaginator

    qs = _rows_queryset(definition, fields, user=user, org=org)
    paginator = CappedCountPaginator(qs, page_size)
    try:
        page_obj = paginator.page(page)
    except PageNotAnInteger:
        page_obj = paginator.page(1)
    except EmptyPage:
        page_obj = paginator.page(1 if paginator.count_is_capped else max(paginator.num_pages, 1))
    records = list(page_obj.object_list)
    formatter = _RowFormatter(definition, fields, org)
    formatter.prepare(records)
    result.rows = [formatter.row(record) for record in records]
    result.row_urls = [
        record.get_absolute_url() if hasattr(record, "get_absolute_url") else ""
        for record in records
    ]
    result.page = page_obj.number
    result.has_next = page_obj.has_next()
    result.total_rows = paginator.count
    if paginator.count_is_capped:
        result.notices.append(
            gettext("More than %(count)s rows match; the report pages through them.")
            % {"count": f"{paginator.count:,}"}
        )
    return result


def iter_report_rows(
    definition: ReportDefinition, *, user, org, limit: int = MAX_EXPORT_ROWS
) -> Iterator[list[Any]]:
    """Every row of an ungrouped report (display values per column), for exports; at most
    ``limit``. A grouped report yields its groups (labels then aggregates)."""
    definition, fields = _checked(definition, org)
    if definition.group_by:
        result = run_report(definition, user=user, org=org)
        keys = [aggregate_key(a) for a in definition.aggregates]
        for group in result.groups:
            yield [*group.labels, *(group.values.get(k) for k in keys)]
        return
    qs = _rows_queryset(definition, fields, user=user, org=org)[:limit]
    formatter = _RowFormatter(definition, fields, org)
    batch: list = []
    for record in qs.iterator(chunk_size=2000):
        batch.append(record)
        if len(batch) >= 2000:
            formatter.prepare(batch)
            yield from (formatter.row(r) for r in batch)
            batch = []
    formatter.prepare(batch)
    yield from (formatter.row(r) for r in batch)
