"""Forms of the report builder, schedules and dashboard settings."""

from __future__ import annotations

# --- report builder (H2) ----------------------------------------------------------------------
import re
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field

from django import forms
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from pulse.accounts.models import Role
from pulse.core.forms import (
    ServiceForm,
    TenantModelForm,
)

from .engine import AGGREGATES, DATE_PERIODS, ReportDefinition
from .models import (
    ChartType,
    DashboardScope,
    RecordType,
    ReportSchedule,
    ReportVisibility,
    WidgetWidth,
)
from .periods import PERIODS

# The operators a filter row offers, by the field's kind (engine.py lists the same).
FILTER_OPERATORS: dict[str, list[tuple[str, str]]] = {
    "text": [
        ("contains", _("contains")),
        ("eq", _("is")),
        ("ne", _("is not")),
        ("not_contains", _("does not contain")),
        ("starts_with", _("starts with")),
        ("empty", _("is empty")),
        ("not_empty", _("is not empty")),
    ],
    "number": [
        ("eq", _("=")),
        ("ne", _("≠")),
        ("gt", _(">")),
        ("gte", _("≥")),
        ("lt", _("<")),
        ("lte", _("≤")),
        ("between", _("between")),
        ("empty", _("is empty")),
        ("not_empty", _("is not empty")),
    ],
    "date": [
        ("period", _("in period")),
        ("on", _("on")),
        ("before", _("before")),
        ("after", _("after")),
        ("between", _("between")),
        ("empty", _("is empty")),
        ("not_empty", _("is not empty")),
    ],
    "choice": [
        ("in", _("is any of")),
        ("not_in", _("is none of")),
        ("empty", _("is empty")),
        ("not_empty", _("is not empty")),
    ],
    "bool": [("is", _("is"))],
    "tags": [("any", _("has any of")), ("all", _("has all of")), ("none", _("has none of"))],
}
KIND_OPERATORS = {
    "money": "number",
    "datetime": "date",
    "user": "choice",
    "relation": "choice",
}
NO_VALUE_OPS = {"empty", "not_empty"}
MULTI_VALUE_OPS = {"in", "not_in", "any", "all", "none"}


def operators_for(kind: str) -> list[tuple[str, str]]:
    """The operators a filter on a field of ``kind`` may use, the default first."""
    return FILTER_OPERATORS.get(KIND_OPERATORS.get(kind, kind), FILTER_OPERATORS["text"])


def value_widget(kind: str, op: str) -> str:
    """Which value input fits a filter row: none · text · number · date · period · multi ·
    bool, and ``…2`` (two inputs) for ``between``."""
    if op in NO_VALUE_OPS:
        return "none"
    if op in MULTI_VALUE_OPS:
        return "multi"
    if kind == "bool":
        return "bool"
    if kind in ("date", "datetime"):
        if op == "period":
            return "period"
        return "date2" if op == "between" else "date"
    if kind in ("number", "money"):
        return "number2" if op == "between" else "number"
    return "text"


@_dataclass
class FilterRow:
    """One filter row of the builder as the template draws it."""

    index: int
    field: str = ""
    op: str = ""
    value: object = None
    kind: str = "text"
    operators: list = _field(default_factory=list)
    widget: str = "text"
    options: list = _field(default_factory=list)  # [(value, label)] for multi-selects
    known: bool = True  # False: the field is gone (a deleted custom field)

    @property
    def values(self) -> list[str]:
        """The value as a list of strings (multi-selects, between)."""
        if self.value is None or self.value == "":
            return []
        if isinstance(self.value, (list, tuple)):
            return [str(v) for v in self.value]
        return [str(self.value)]

    @property
    def first(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def second(self) -> str:
        return self.values[1] if len(self.values) > 1 else ""


def _number(raw: str):
    """A number filter value as JSON: int or float when it reads as one; otherwise the text
    itself, so the engine answers the field error (never guessed away here)."""
    raw = (raw or "").strip()
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def _indices(data, prefix: str) -> list[int]:
    pattern = re.compile(rf"^{prefix}-(\d+)-(field|fn)$")
    found = {int(m.group(1)) for key in data if (m := pattern.match(key))}
    return sorted(found)


def filters_from_data(data, catalogue: dict) -> list[dict]:
    """Filter rows posted as ``filter-<n>-field/op/value[/value2]`` → engine filters.

    Rows with no field are dropped (a row just added); a field the catalogue does not
    know is kept as posted, so the engine names it in its error."""
    out = []
    for n in _indices(data, "filter"):
        key = (data.get(f"filter-{n}-field") or "").strip()
        if not key:
            continue
        op = (data.get(f"filter-{n}-op") or "").strip()
        report_field = catalogue.get(key)
        kind = report_field.kind if report_field else "text"
        if not op:
            op = operators_for(kind)[0][0]
        widget = value_widget(kind, op)
        item = {"field": key, "op": op}
        if widget == "none":
            pass
        elif widget == "multi":
            item["value"] = [v for v in data.getlist(f"filter-{n}-value") if v != ""]
        elif widget in ("number2", "date2"):
            low, high = data.get(f"filter-{n}-value", ""), data.get(f"filter-{n}-value2", "")
            item["value"] = [_number(low), _number(high)] if widget == "number2" else [low, high]
        elif widget == "number":
            item["value"] = _number(data.get(f"filter-{n}-value", ""))
        elif widget == "bool":
            item["value"] = data.get(f"filter-{n}-value", "true") in ("true", "1", "on", "yes")
        else:
            item["value"] = data.get(f"filter-{n}-value", "")
        out.append(item)
    return out


def groups_from_data(data, catalogue: dict) -> list[dict]:
    """Up to two groupings posted as ``group-<n>-field`` (+ ``-period`` for dates)."""
    out = []
    for n in (0, 1):
        key = (data.get(f"group-{n}-field") or "").strip()
        if not key:
            continue
        item = {"field": key}
        report_field = catalogue.get(key)
        if report_field is not None and report_field.is_date:
            item["period"] = data.get(f"group-{n}-period") or "month"
        out.append(item)
    return out


def aggregates_from_data(data) -> list[dict]:
    """Aggregate rows posted as ``agg-<n>-fn`` + ``agg-<n>-field`` (none for count)."""
    out = []
    for n in _indices(data, "agg"):
        fn = (data.get(f"agg-{n}-fn") or "").strip()
        if not fn:
            continue
        key = (data.get(f"agg-{n}-field") or "").strip()
        item = {"fn": fn} if fn == "count" else {"fn": fn, "field": key}
        if item not in out:
            out.append(item)
    return out


def definition_from_data(data, catalogue: dict, record_type: str) -> ReportDefinition:
    """The builder's posted form → an (unvalidated) ``ReportDefinition``."""
    groups = groups_from_data(data, catalogue)
    aggregates = aggregates_from_data(data)
    if not groups:
        aggregates = []  # values are per group; a list of records has none
    elif not aggregates:
        aggregates = [{"fn": "count"}]  # a grouping with nothing to show counts its rows
    ordering = (data.get("ordering") or "").strip()
    if ordering and data.get("ordering_desc"):
        ordering = "-" + ordering.lstrip("-")
    columns = [c for c in data.getlist("columns") if c]
    chart_type = data.get("chart_type") or ChartType.TABLE
    return ReportDefinition(
        record_type=record_type,
        filters=filters_from_data(data, catalogue),
        columns=list(dict.fromkeys(columns)),
        group_by=groups,
        aggregates=aggregates,
        ordering=ordering,
        chart_type=chart_type,
    )


def aggregate_key(item: dict) -> str:
    """The key of an aggregate in results (``count``, ``sum:value``)."""
    return item["fn"] if item.get("fn") == "count" else f"{item.get('fn')}:{item.get('field')}"


class ReportBuilderForm(ServiceForm):
    """The scalar parts of the builder; rows (filters, groups, aggregates) are parsed by
    ``definition_from_data`` because their number changes as people add and remove them."""

    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    record_type = forms.ChoiceField(label=_("Records"), choices=RecordType.choices)
    chart_type = forms.ChoiceField(label=_("Show as"), choices=ChartType.choices)
    visibility = forms.ChoiceField(
        label=_("Visible to"),
        choices=ReportVisibility.choices,
        initial=ReportVisibility.PRIVATE,
    )

    def clean_name(self):
        name = (self.cleaned_data.get("name") or "").strip()
        return name


PERIOD_CHOICES = list(PERIODS.items())
GROUP_PERIOD_CHOICES = list(DATE_PERIODS.items())
AGGREGATE_CHOICES = list(AGGREGATES.items())


# --- schedules (H3) ---------------------------------------------------------------------------


class ReportScheduleForm(TenantModelForm):
    """When and to whom a report is emailed; the service checks the recipients."""

    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=sorted(WEEKDAYS.items()), coerce=int, initial=0
    )
    recipients = forms.ModelMultipleChoiceField(
        label=_("Recipients"),
        queryset=None,
        widget=forms.SelectMultiple(attrs={"class": "form-select", "size": 6}),
        help_text=_("Members of the organization. The report runs with your visibility."),
    )

    class Meta:
        model = ReportSchedule
        fields = [
            "frequency",
            "weekday",
            "day_of_month",
            "send_time",
            "format",
            "recipients",
            "active",
        ]
        widgets = {"send_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}
        help_texts = {
            "day_of_month": _("1 to 28, so it exists in every month (monthly schedules)."),
            "send_time": _("In the organization's time zone."),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.accounts.selectors import organization_members

        self.fields["recipients"].queryset = organization_members(request.organization)
        if self.instance.pk is None and not self.is_bound:
            self.initial.setdefault("recipients", [request.user.pk])

    def schedule_fields(self) -> dict:
        """The cleaned values as the schedule services take them."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


# --- dashboards (H5) --------------------------------------------------------------------------


class WidgetAddForm(ServiceForm):
    """The "Add widget" dialog: a metric of the catalogue or ``report`` with a saved report.
    The kind is checked by ``widget_add`` (one message for UI and API)."""

    kind = forms.CharField(label=_("Widget"), max_length=40)
    report = forms.UUIDField(label=_("Report"), required=False)


class WidgetUpdateForm(ServiceForm):
    """Width, height, period or title of one widget; fields left out stay as they are."""

    width = forms.TypedChoiceField(
        label=_("Width"), choices=WidgetWidth.choices, coerce=int, required=False
    )
    height = forms.TypedChoiceField(
        label=_("Height"), choices=[(1, "1"), (2, "2"), (3, "3")], coerce=int, required=False
    )
    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES, required=False)
    title = forms.CharField(label=_("Title"), max_length=120, required=False)

    def changes(self) -> dict:
        """Only the fields that were posted (an empty title resets it)."""
        posted = [name for name in self.fields if name in self.data]
        return {
            name: self.cleaned_data[name]
            for name in posted
            if name == "title" or self.cleaned_data.get(name) not in (None, "")
        }


class DashboardScopeForm(ServiceForm):
    """Whose numbers: ``me``, ``org`` or ``team:<id>`` (one select in the header)."""

    scope = forms.CharField(label=_("Numbers of"), max_length=60)

    def clean_scope(self):
        value = self.cleaned_data["scope"]
        scope, _sep, team = value.partition(":")
        if scope not in DashboardScope.values or (scope == DashboardScope.TEAM) != bool(team):
            raise forms.ValidationError(_("Choose me, one of your teams or the organization."))
        return scope, team or None


class DashboardPublishForm(ServiceForm):
    """Publish the admin's arrangement to roles and teams, or as the organization default."""

    name = forms.CharField(label=_("Name"), max_length=120)
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Role.choices, required=False, widget=forms.SelectMultiple
    )
    teams = forms.MultipleChoiceField(label=_("Teams"), choices=(), required=False)
    is_default = forms.BooleanField(label=_("Organization default"), required=False)
    target = forms.ChoiceField(label=_("Publish as"), choices=(), required=False)

    def __init__(self, *args, teams=(), published=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"].choices = [(str(t.pk), t.name) for t in teams]
        self.fields["target"].choices = [("", _("A new published dashboard"))] + [
            (str(d.pk), _("Replace “%(name)s”") % {"name": d.name}) for d in published
        ]
