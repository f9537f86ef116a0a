"""Activities: tables (see DESIGN.md for this file's role)."""

from __future__ import annotations

from django.template.defaultfilters import date
from django.utils import timezone
from django.utils.html import format_html, format_html_join
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
    _owner_column,
    _stamp_columns,
    _text_cell,
)

from .models import Activity, ActivityStatus

# --- activities ---

# Imports of this section (the lead hoists them).


# Bootstrap icon of each activity type (list, detail, search, reports).
TYPE_ICONS = {
    "call": "bi-telephone",
    "email": "bi-envelope",
    "meeting": "bi-people",
    "task": "bi-check2-square",
    "note": "bi-sticky",
}
STATUS_BADGES = {
    ActivityStatus.PENDING: "text-bg-light border",
    ActivityStatus.COMPLETED: "text-bg-success",
    ActivityStatus.CANCELLED: "text-bg-secondary",
}
PRIORITY_BADGES = {
    "low": "text-secondary",
    "normal": "",
    "high": "text-warning",
    "urgent": "text-danger",
}

_type_text = _display("type")
_status_text = _display("status")


def type_badge(activity) -> str:
    return format_html(
        '<span class="text-nowrap" data-type="{}"><i class="bi {} me-1"></i>{}</span>',
        activity.type,
        TYPE_ICONS.get(activity.type, "bi-circle"),
        _type_text(activity),
    )


def status_badge(activity) -> str:
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>',
        STATUS_BADGES.get(activity.status, "text-bg-secondary"),
        activity.status,
        _status_text(activity),
    )


def overdue_badge() -> str:
    return format_html(
        '<span class="badge text-bg-danger" data-testid="overdue">{}</span>', _("Overdue")
    )


def _subject_cell(activity, ctx) -> str:
    css = "fw-semibold cell-truncate"
    if activity.status == ActivityStatus.CANCELLED:
        css += " text-decoration-line-through text-secondary"
    flag = format_html(" {}", overdue_badge()) if activity.is_overdue else ""
    return format_html(
        '<a class="{}" style="max-width: 20rem" href="{}" title="{}">{}</a>{}',
        css,
        activity.get_absolute_url(),
        activity.subject,
        activity.subject,
        flag,
    )


def _stamp_text(name):
    def text(activity) -> str:
        value = getattr(activity, name)
        return timezone.localtime(value).isoformat(timespec="minutes") if value else ""

    return text


def _stamp_cell(name):
    def value(activity, ctx) -> str:
        stamp = getattr(activity, name)
        if stamp is None:
            return EMPTY
        stamp = timezone.localtime(stamp)
        shown = date(stamp, ctx.date_format)
        if not (name == "scheduled_at" and activity.all_day):
            shown = f"{shown} {stamp:%H:%M}"
        return format_html('<span class="text-nowrap small">{}</span>', shown)

    return value


def _link_of(name):
    def text(activity) -> str:
        related = getattr(activity, name) if getattr(activity, f"{name}_id") else None
        return str(related) if related is not None else ""

    def value(activity, ctx) -> str:
        related = getattr(activity, name) if getattr(activity, f"{name}_id") else None
        if related is None:
            return EMPTY
        return format_html(
            '<a class="text-body cell-truncate" href="{}" title="{}">{}</a>',
            related.get_absolute_url(),
            str(related),
            str(related),
        )

    return text, value


_RELATED_ICONS = (
    ("contact", "bi-person"),
    ("company", "bi-building"),
    ("lead", "bi-funnel"),
    ("opportunity", "bi-briefcase"),
)


def _related_text(activity) -> str:
    return " · ".join(
        str(getattr(activity, name))
        for name, _icon in _RELATED_ICONS
        if getattr(activity, f"{name}_id")
    )


def _related_cell(activity, ctx) -> str:
    links = [
        (getattr(activity, name).get_absolute_url(), icon, str(getattr(activity, name)))
        for name, icon in _RELATED_ICONS
        if getattr(activity, f"{name}_id")
    ]
    if not links:
        return EMPTY
    return format_html_join(
        " ",
        '<a class="text-body text-nowrap small" href="{}"><i class="bi {}"></i> {}</a>',
        links,
    )


def _priority_cell(activity, ctx) -> str:
    return format_html(
        '<span class="{}">{}</span>',
        PRIORITY_BADGES.get(activity.priority, ""),
        _display("priority")(activity),
    )


def _duration_text(activity) -> str:
    return str(activity.duration_minutes) if activity.duration_minutes else ""


def _link_column(name, label, *, default=False):
    text, value = _link_of(name)
    return Column(
        key=name, label=label, value=value, text=text, default=default, select_related=(name,)
    )


ACTIVITY_COLUMNS: list[Column] = [
    Column(
        key="type",
        label=gettext_lazy("Type"),
        value=lambda a, ctx: type_badge(a),
        text=_type_text,
        ordering="type",
        default=True,
    ),
    Column(
        key="subject",
        label=gettext_lazy("Subject"),
        value=_subject_cell,
        text=lambda a: a.subject,
        ordering="subject",
        default=True,
        edit_fields=("subject",),
    ),
    Column(
        key="status",
        label=gettext_lazy("Status"),
        value=lambda a, ctx: status_badge(a),
        text=_status_text,
        ordering="status",
        default=True,
    ),
    Column(
        key="priority",
        label=gettext_lazy("Priority"),
        value=_priority_cell,
        text=_display("priority"),
        ordering="priority",
        default=True,
        edit_fields=("priority",),
    ),
    Column(
        key="occurred_at",
        label=gettext_lazy("Date"),
        value=_stamp_cell("occurred_at"),
        text=_stamp_text("occurred_at"),
        ordering="occurred_at",
        default=True,
    ),
    Column(
        key="scheduled_at",
        label=gettext_lazy("Scheduled"),
        value=_stamp_cell("scheduled_at"),
        text=_stamp_text("scheduled_at"),
        ordering="scheduled_at",
    ),
    Column(
        key="due_date",
        label=gettext_lazy("Due"),
        value=_date_cell("due_date"),
        text=_date_text("due_date"),
        ordering="due_date",
        default=True,
        edit_fields=("due_date",),
    ),
    Column(
        key="completed_at",
        label=gettext_lazy("Completed"),
        value=_stamp_cell("completed_at"),
        text=_stamp_text("completed_at"),
        ordering="completed_at",
    ),
    Column(
        key="related",
        label=gettext_lazy("Concerns"),
        value=_related_cell,
        text=_related_text,
        default=True,
        select_related=("contact", "company", "lead", "opportunity"),
        css="wrap",
    ),
    _link_column("contact", gettext_lazy("Contact")),
    _link_column("company", gettext_lazy("Company")),
    _link_column("lead", gettext_lazy("Lead")),
    _link_column("opportunity", gettext_lazy("Opportunity")),
    _owner_column(),
    _choice("call_direction", gettext_lazy("Direction"), edit=False),
    _choice("call_outcome", gettext_lazy("Outcome"), edit=False),
    Column(
        key="duration_minutes",
        label=gettext_lazy("Duration (minutes)"),
        value=_text_cell(_duration_text),
        text=_duration_text,
    ),
    Column(
        key="location",
        label=gettext_lazy("Location"),
        value=_text_cell(lambda a: a.location, truncate=True),
        text=lambda a: a.location,
    ),
    *_stamp_columns(),
]
# Only the columns above are on by default (the stamp columns' "Created" is not).
ACTIVITY_COLUMNS = [
    c if c.key != "created_at" else Column(**{**c.__dict__, "default": False})
    for c in ACTIVITY_COLUMNS
]

# The shared machinery looks a record type's catalogue up here.
BASE_COLUMNS.setdefault(Activity, ACTIVITY_COLUMNS)

# --- timeline ---

# --- calendar and iCalendar ---

# --- reminders and mentions ---

# --- CalDAV ---
