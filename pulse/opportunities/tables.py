"""Columns of the opportunity list page, on the contacts' table machinery
(``pulse.contacts.tables``): choosing, remembering, custom-field columns, inline edit and
the column chooser come from there; this module declares what each column shows, sorts
by, joins and edits. Cells are rendered with ``format_html`` so text is always escaped.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.contacts.tables import (
    BASE_COLUMNS,
    EMPTY,
    Column,
    _choice,
    _date_cell,
    _date_text,
    _display,
    _field,
    _owner_column,
    _stamp_columns,
    _tags_column,
    _text_cell,
)

from .models import Opportunity


def _money(value, currency) -> str:
    return format_html(
        '<span class="font-monospace">{}</span> <span class="text-secondary small">{}</span>',
        f"{value:,.2f}",
        currency,
    )


def rotting_badge() -> str:
    return format_html(
        '<span class="badge text-bg-warning" data-testid="rotting" title="{}">'
        '<i class="bi bi-hourglass-bottom"></i> {}</span>',
        _("No activity for longer than this stage allows"),
        _("Rotting"),
    )


def stage_badge(stage) -> str:
    return format_html(
        '<span class="badge opp-stage-badge" style="background: {}">{}</span>',
        stage.color,
        stage.name,
    )


def status_badge(opportunity) -> str:
    classes = {"open": "text-bg-light border", "won": "text-bg-success", "lost": "text-bg-danger"}
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>',
        classes.get(opportunity.status, "text-bg-secondary"),
        opportunity.status,
        opportunity.get_status_display(),
    )


def _name_cell(opp, ctx) -> str:
    flag = format_html(" {}", rotting_badge()) if opp.is_rotting else ""
    return format_html(
        '<a class="fw-semibold cell-truncate" style="max-width: 16rem" href="{}" title="{}">'
        "{}</a>{}",
        opp.get_absolute_url(),
        opp.name,
        opp.name,
        flag,
    )


def _value_text(opp) -> str:
    return f"{opp.value} {opp.currency}"


def _value_cell(opp, ctx) -> str:
    return _money(opp.value, opp.currency)


def _weighted_text(opp) -> str:
    return f"{opp.weighted_value} {opp.currency}"


def _weighted_cell(opp, ctx) -> str:
    return _money(opp.weighted_value, opp.currency)


def _stage_cell(opp, ctx) -> str:
    return (
        format_html("{} {}", stage_badge(opp.stage), status_badge(opp))
        if (opp.status != "open")
        else stage_badge(opp.stage)
    )


def _probability_text(opp) -> str:
    return f"{opp.probability}%"


def _company_text(opp) -> str:
    return opp.company.name if opp.company_id else ""


def _company_cell(opp, ctx) -> str:
    if not opp.company_id:
        return EMPTY
    return format_html(
        '<a class="text-body cell-truncate" href="{}" title="{}">{}</a>',
        opp.company.get_absolute_url(),
        opp.company.name,
        opp.company.name,
    )


def _contact_text(opp) -> str:
    return str(opp.contact) if opp.contact_id else ""


def _contact_cell(opp, ctx) -> str:
    if not opp.contact_id:
        return EMPTY
    return format_html(
        '<a class="text-body cell-truncate" href="{}">{}</a>',
        opp.contact.get_absolute_url(),
        str(opp.contact),
    )


def _rotting_text(opp) -> str:
    return _("Yes") if opp.is_rotting else _("No")


def _rotting_cell(opp, ctx) -> str:
    return rotting_badge() if opp.is_rotting else mark_safe("")


def _source_text(opp) -> str:
    from pulse.leads.models import LeadSource

    return str(dict(LeadSource.choices).get(opp.source, opp.source))


def _days_text(opp) -> str:
    return str(opp.days_in_stage)


OPPORTUNITY_COLUMNS: list[Column] = [
    Column(
        key="name",
        label=gettext_lazy("Name"),
        value=_name_cell,
        text=lambda opp: opp.name,
        ordering="name",
        default=True,
        select_related=("stage",),  # the rotting flag reads the stage's threshold
        edit_fields=("name",),
    ),
    Column(
        key="company",
        label=gettext_lazy("Company"),
        value=_company_cell,
        text=_company_text,
        ordering="company",
        default=True,
        select_related=("company",),
    ),
    Column(
        key="contact",
        label=gettext_lazy("Contact"),
        value=_contact_cell,
        text=_contact_text,
        select_related=("contact",),
    ),
    Column(
        key="stage",
        label=gettext_lazy("Stage"),
        value=_stage_cell,
        text=lambda opp: opp.stage.name,
        ordering="stage",
        default=True,
        select_related=("stage",),
    ),
    Column(
        key="value",
        label=gettext_lazy("Value"),
        value=_value_cell,
        text=_value_text,
        ordering="value",
        default=True,
        edit_fields=("value",),
        css="text-end text-nowrap",
    ),
    Column(
        key="weighted_value",
        label=gettext_lazy("Weighted"),
        value=_weighted_cell,
        text=_weighted_text,
        default=True,
        css="text-end text-nowrap",
    ),
    Column(
        key="probability",
        label=gettext_lazy("Probability"),
        value=_text_cell(_probability_text),
        text=_probability_text,
        ordering="probability",
        default=True,
        edit_fields=("probability",),
    ),
    Column(
        key="expected_close_date",
        label=gettext_lazy("Expected close"),
        value=_date_cell("expected_close_date"),
        text=_date_text("expected_close_date"),
        ordering="expected_close_date",
        default=True,
        edit_fields=("expected_close_date",),
    ),
    Column(
        key="actual_close_date",
        label=gettext_lazy("Closed on"),
        value=_date_cell("actual_close_date"),
        text=_date_text("actual_close_date"),
    ),
    _owner_column(),
    Column(
        key="rotting",
        label=gettext_lazy("Rotting"),
        value=_rotting_cell,
        text=_rotting_text,
        select_related=("stage",),
    ),
    Column(
        key="days_in_stage",
        label=gettext_lazy("Days in stage"),
        value=_text_cell(_days_text),
        text=_days_text,
    ),
    Column(
        key="status",
        label=gettext_lazy("Status"),
        value=lambda opp, ctx: status_badge(opp),
        text=_display("status"),
    ),
    _choice("forecast_category", gettext_lazy("Forecast category"), edit=True),
    Column(
        key="source",
        label=gettext_lazy("Source"),
        value=_text_cell(_source_text),
        text=_source_text,
    ),
    _field("competitor", gettext_lazy("Competitor"), edit=False),
    Column(
        key="currency",
        label=gettext_lazy("Currency"),
        value=_text_cell(lambda opp: opp.currency),
        text=lambda opp: opp.currency,
    ),
    _tags_column(),
    *_stamp_columns(),
]

# The shared machinery looks a record type's catalogue up here.
BASE_COLUMNS.setdefault(Opportunity, OPPORTUNITY_COLUMNS)
