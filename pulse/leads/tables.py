"""Columns of the lead list page, on the contacts' table machinery (``pulse.contacts.tables``).

The lead list offers its own catalogue of columns; choosing, remembering, custom-field
columns, inline edit and the column chooser come from the shared machinery, which
finds this catalogue in ``BASE_COLUMNS``. Cells are rendered with ``format_html`` so a
``<script>`` in any field shows as text.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from pulse.contacts.tables import (
    BASE_COLUMNS,
    EMPTY,
    Column,
    _choice,
    _date_cell,
    _date_text,
    _field,
    _owner_column,
    _phone_cell,
    _plain,
    _stamp_columns,
    _tags_column,
    _text_cell,
    _url_cell,
)

from .models import Lead

BAND_CLASSES = {"hot": "text-bg-danger", "warm": "text-bg-warning", "cold": "text-bg-info"}
BAND_LABELS = {
    "hot": gettext_lazy("Hot"),
    "warm": gettext_lazy("Warm"),
    "cold": gettext_lazy("Cold"),
}


def band_badge(band: str) -> str:
    if not band:
        return ""
    return format_html(
        '<span class="badge {}" data-band="{}">{}</span>',
        BAND_CLASSES[band],
        band,
        BAND_LABELS[band],
    )


def _title_cell(lead, ctx) -> str:
    who = lead.full_name or lead.company_name
    sub = (
        format_html('<span class="d-block small text-secondary cell-truncate">{}</span>', who)
        if who
        else ""
    )
    return format_html(
        '<a class="fw-semibold cell-truncate" style="max-width: 16rem" href="{}" title="{}">'
        "{}</a>{}",
        lead.get_absolute_url(),
        lead.title,
        lead.title,
        sub,
    )


def _stage_cell(lead, ctx) -> str:
    return format_html(
        '<span class="badge lead-stage-badge" style="background: {}">{}</span>',
        lead.stage.color,
        lead.stage.name,
    )


def _score_cell(lead, ctx) -> str:
    # The list view sets ``band`` on each row from the organization's thresholds.
    band = getattr(lead, "band", "")
    return format_html(
        '<span class="font-monospace me-1">{}</span>{}', lead.score, band_badge(band)
    )


def _value_text(lead) -> str:
    if lead.value is None:
        return ""
    return f"{lead.value} {lead.currency}".strip()


def _value_cell(lead, ctx) -> str:
    if lead.value is None:
        return EMPTY
    return format_html(
        '<span class="font-monospace">{}</span> <span class="text-secondary small">{}</span>',
        f"{lead.value:,.2f}",
        lead.currency or getattr(ctx.org, "default_currency", ""),
    )


def _name_text(lead) -> str:
    return lead.full_name


def _email_cell(lead, ctx) -> str:
    if not lead.email:
        return EMPTY
    return format_html(
        '<a href="mailto:{0}" class="text-body cell-truncate" title="{0}">{0}</a>', lead.email
    )


def _probability_text(lead) -> str:
    value = lead.effective_probability
    return "" if value is None else f"{value}%"


LEAD_COLUMNS: list[Column] = [
    Column(
        key="title",
        label=gettext_lazy("Title"),
        value=_title_cell,
        text=_plain("title"),
        ordering="title",
        default=True,
        select_related=("contact",),
        edit_fields=("title",),
    ),
    Column(
        key="full_name",
        label=gettext_lazy("Name"),
        value=_text_cell(_name_text, truncate=True),
        text=_name_text,
        select_related=("contact",),
    ),
    _field("company_name", gettext_lazy("Company"), default=True),
    Column(
        key="email",
        label=gettext_lazy("Email"),
        value=_email_cell,
        text=_plain("email"),
        edit_fields=("email",),
    ),
    Column(
        key="phone",
        label=gettext_lazy("Phone"),
        value=_phone_cell("phone"),
        text=_plain("phone"),
    ),
    Column(
        key="stage",
        label=gettext_lazy("Stage"),
        value=_stage_cell,
        text=lambda lead: lead.stage.name,
        ordering="stage",
        default=True,
        select_related=("stage",),
    ),
    Column(
        key="score",
        label=gettext_lazy("Score"),
        value=_score_cell,
        text=_plain("score"),
        ordering="score",
        default=True,
    ),
    Column(
        key="value",
        label=gettext_lazy("Value"),
        value=_value_cell,
        text=_value_text,
        ordering="value",
        default=True,
        edit_fields=("value",),
    ),
    Column(
        key="probability",
        label=gettext_lazy("Probability"),
        value=_text_cell(_probability_text),
        text=_probability_text,
        edit_fields=("probability",),
    ),
    Column(
        key="expected_close_date",
        label=gettext_lazy("Expected close"),
        value=_date_cell("expected_close_date"),
        text=_date_text("expected_close_date"),
        ordering="expected_close_date",
        edit_fields=("expected_close_date",),
    ),
    _choice("source", gettext_lazy("Source"), ordering="source", default=True, edit=False),
    _field("utm_source", gettext_lazy("UTM source"), edit=False),
    _field("utm_medium", gettext_lazy("UTM medium"), edit=False),
    _field("utm_campaign", gettext_lazy("UTM campaign"), edit=False),
    _field("job_title", gettext_lazy("Job title")),
    _field("industry", gettext_lazy("Industry")),
    _choice("country", gettext_lazy("Country"), edit=False),
    _field("website", gettext_lazy("Website"), value=_url_cell("website"), edit=False),
    _owner_column(),
    _tags_column(),
    Column(
        key="converted_at",
        label=gettext_lazy("Converted"),
        value=_date_cell("converted_at"),
        text=_date_text("converted_at"),
    ),
    *_stamp_columns(),
]

# The shared machinery looks a record type's catalogue up here.
BASE_COLUMNS.setdefault(Lead, LEAD_COLUMNS)
