"""Columns of the contact and company list pages: what each shows, sorts by, needs, edits.

A list page shows the columns named in its query string, ``?columns=key1,key2,…`` (the
agreed interface: saved views and exports carry the same parameter); without one, the
user's last choice for that list (kept in the session), else the defaults. Keys are
model field names plus ``full_name``, ``company``, ``tags``, ``assigned_to`` (and
``contacts`` for a company's contact count); ``cf_<key>`` shows a custom field.

Each column declares what it needs (``select_related`` / ``prefetch_related``), so a
page joins only what its chosen columns show and costs a fixed number of queries
(rule 7), and renders its cell in Python: one function call per cell instead of one
template include, which keeps a 200-row page cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.extras.selectors import tags_of, tags_prefetch

from .models import Company, Contact

COLUMNS_PARAM = "columns"
CUSTOM_PREFIX = "cf_"
# A query string may name at most this many columns (everything else is ignored).
MAX_COLUMNS = 60
EMPTY = mark_safe('<span class="text-secondary">—</span>')


@dataclass
class CellContext:
    """What rendering a cell may need beyond the record itself."""

    org: Any = None
    can_edit: bool = False
    inline_url: Callable[[Any, str], str] | None = None
    contacts_counts: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)
    edit_labels: dict = field(default_factory=dict)

    @property
    def date_format(self) -> str:
        return getattr(self.org, "date_format", "") or "Y-m-d"

    @property
    def region(self) -> str:
        return getattr(self.org, "country", "") or ""


@dataclass(frozen=True)
class Column:
    """One column a list page can show.

    ``value(record, ctx)`` gives the cell's HTML (safe), ``text(record)`` its plain
    text (exports). ``ordering`` is the ``?ordering=`` name ("" = not sortable);
    ``edit_fields`` the form fields an inline edit of the cell changes ("" = read-only).
    """

    key: str
    label: Any
    value: Callable[[Any, CellContext], str]
    text: Callable[[Any], str]
    ordering: str = ""
    default: bool = False
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    edit_fields: tuple[str, ...] = ()
    css: str = ""

    @property
    def sortable(self) -> bool:
        return bool(self.ordering)

    @property
    def editable(self) -> bool:
        return bool(self.edit_fields)

    def cell(self, record, ctx: CellContext) -> SafeString:
        """The cell's inner HTML: the value, plus an edit button where the user may edit."""
        html = self.value(record, ctx)
        if not (self.edit_fields and ctx.can_edit and ctx.inline_url):
            return html
        # The button's words are the same on every row: translated once per table.
        labels = ctx.edit_labels.get(self.key)
        if labels is None:
            labels = ctx.edit_labels[self.key] = (
                _("Edit"),
                _("Edit %(column)s") % {"column": self.label},
            )
        return format_html(
            '<div class="cell-edit-wrap"><div class="cell-edit-value">{}</div>'
            '<button type="button" class="btn btn-link btn-sm '
            'cell-edit-btn" hx-get="{}" hx-target="closest td" hx-swap="innerHTML" '
            'data-inline-edit title="{}" aria-label="{}"><i class="bi bi-pencil"></i>'
            "</button></div>",
            html,
            ctx.inline_url(record.pk, self.key),
            *labels,
        )


# --- renderers ------------------------------------------------------------------------


def _plain(name: str) -> Callable[[Any], str]:
    def text(record) -> str:
        value = getattr(record, name, "")
        return "" if value is None else str(value)

    return text


def _display(name: str) -> Callable[[Any], str]:
    # get_<name>_display() rebuilds the field's choices dict on every call; a table asks
    # for it once per row, so the labels are looked up in one dict made per column.
    labels: dict = {}

    def text(record) -> str:
        if not labels:
            field = record._meta.get_field(name)
            labels.update((str(k), v) for k, v in field.flatchoices)
        value = getattr(record, name)
        return str(labels.get(str(value), value) or "")

    return text


def _text_cell(text: Callable[[Any], str], *, truncate: bool = False) -> Callable:
    def value(record, ctx) -> str:
        shown = text(record)
        if not shown:
            return EMPTY
        if truncate:
            return format_html('<span class="cell-truncate" title="{}">{}</span>', shown, shown)
        return format_html("{}", shown)

    return value


def _date_text(name: str) -> Callable[[Any], str]:
    def text(record) -> str:
        value = getattr(record, name, None)
        return value.isoformat() if value else ""

    return text


def _date_cell(name: str) -> Callable:
    def value(record, ctx) -> str:
        stamp = getattr(record, name, None)
        if stamp is None:
            return EMPTY
        if hasattr(stamp, "tzinfo") and timezone.is_aware(stamp):
            stamp = timezone.localtime(stamp)
        return format_html(
            '<span class="text-secondary small">{}</span>', date_filter(stamp, ctx.date_format)
        )

    return value


def _phone_cell(name: str, fallback: str = "") -> Callable:
    from .phones import format_phone

    def value(record, ctx) -> str:
        raw = getattr(record, name, "") or (getattr(record, fallback, "") if fallback else "")
        if not raw:
            return EMPTY
        return format_html(
            '<a class="text-body" href="tel:{}">{}</a>', raw, format_phone(raw, ctx.region)
        )

    return value


def _email_cell(record, ctx) -> str:
    if not record.email:
        return EMPTY
    html = format_html(
        '<a href="mailto:{}" class="text-body cell-truncate" title="{}">{}</a>',
        record.email,
        record.email,
        record.email,
    )
    if getattr(record, "do_not_contact", False):
        html += format_html(
            ' <i class="bi bi-slash-circle text-danger" title="{}"></i>', _("Do not contact")
        )
    return html


def _link(url: str) -> str:
    if not url:
        return EMPTY
    return format_html(
        '<a href="{}" class="text-body cell-truncate" target="_blank" '
        'rel="noopener noreferrer" title="{}">{}</a>',
        url,
        url,
        url.split("://", 1)[-1].rstrip("/"),
    )


def _url_cell(name: str) -> Callable:
    def value(record, ctx) -> str:
        return _link(getattr(record, name, ""))

    return value


def _owner_text(record) -> str:
    return str(record.assigned_to) if record.assigned_to_id else ""


def _owner_cell(record, ctx) -> str:
    user = record.assigned_to if record.assigned_to_id else None
    if user is None:
        return EMPTY
    return format_html(
        '<span class="pulse-avatar record-avatar me-1" title="{}">{}</span>'
        '<span class="owner-name">{}</span>',
        str(user),
        user.initials,
        user.get_short_name(),
    )


def _tags_text(record) -> str:
    return ", ".join(t.name for t in tags_of(record))


def _tags_cell(record, ctx) -> str:
    tags = tags_of(record)
    if not tags:
        return mark_safe("")
    return format_html_join(
        "",
        '<span class="tag-badge me-1" style="background: {}">{}</span>',
        ((t.color, t.name) for t in tags),
    )


_stage_text = _display("lifecycle_stage")


def _stage_cell(record, ctx) -> str:
    return format_html(
        '<span class="badge stage-badge stage-{}">{}</span>',
        record.lifecycle_stage,
        _stage_text(record),
    )


def _contact_name_cell(record, ctx) -> str:
    title = ""
    if record.title:
        title = format_html(
            '<span class="d-block small text-secondary cell-truncate">{}</span>', record.title
        )
    return format_html(
        '<a class="d-flex align-items-center gap-2" href="{}">'
        '<span class="pulse-avatar record-avatar bg-secondary-subtle text-secondary-emphasis '
        'flex-shrink-0">{}</span><span class="lh-sm"><span class="fw-semibold cell-truncate">'
        "{}</span>{}</span></a>",
        record.get_absolute_url(),
        record.initials,
        str(record),
        title,
    )


def _contact_company_text(record) -> str:
    return record.company.name if record.company_id and record.company else ""


def _contact_company_cell(record, ctx) -> str:
    company = record.company if record.company_id else None
    if company is None or company.is_deleted:
        return EMPTY
    return format_html(
        '<a href="{}" class="cell-truncate" style="max-width: 10rem" title="{}">{}</a>',
        company.get_absolute_url(),
        company.name,
        company.name,
    )


def _company_name_cell(record, ctx) -> str:
    parent = ""
    if record.parent_id and record.parent is not None:
        parent = format_html(
            '<span class="d-block small text-secondary cell-truncate">{}</span>',
            _("part of %(parent)s") % {"parent": record.parent.name},
        )
    return format_html(
        '<a class="fw-semibold cell-truncate" style="max-width: 14rem" href="{}" title="{}">'
        '<i class="bi bi-building text-secondary me-1"></i>{}</a>{}',
        record.get_absolute_url(),
        record.name,
        record.name,
        parent,
    )


def _company_parent_text(record) -> str:
    return record.parent.name if record.parent_id and record.parent else ""


def _company_parent_cell(record, ctx) -> str:
    parent = record.parent if record.parent_id else None
    if parent is None:
        return EMPTY
    return format_html(
        '<a href="{}" class="cell-truncate" title="{}">{}</a>',
        parent.get_absolute_url(),
        parent.name,
        parent.name,
    )


def _domain_cell(record, ctx) -> str:
    if record.website:
        return format_html(
            '<a href="{}" class="text-body cell-truncate" style="max-width: 13rem" '
            'target="_blank" rel="noopener noreferrer">{}</a>',
            record.website,
            record.domain or record.website,
        )
    return format_html("{}", record.domain) if record.domain else EMPTY


def _revenue_text(record) -> str:
    if record.annual_revenue is None:
        return ""
    return f"{record.annual_revenue} {record.currency}".strip()


def _revenue_cell(record, ctx) -> str:
    if record.annual_revenue is None:
        return EMPTY
    return format_html(
        '<span class="font-monospace">{}</span> <span class="text-secondary small">{}</span>',
        f"{record.annual_revenue:,.0f}",
        record.currency or getattr(ctx.org, "default_currency", ""),
    )


def _contacts_count_cell(record, ctx) -> str:
    return format_html(
        '<a href="{}?company={}">{}</a>',
        reverse("contacts:contact_list"),
        record.pk,
        ctx.contacts_counts.get(record.pk, 0),
    )


def _contacts_count_text(record) -> str:
    return str(getattr(record, "contacts_count", ""))


def _bool_text(name: str) -> Callable[[Any], str]:
    def text(record) -> str:
        return _("Yes") if getattr(record, name) else _("No")

    return text


# --- the catalogues -------------------------------------------------------------------


def _field(key, label, *, ordering="", default=False, edit=True, value=None, text=None, css=""):
    """A column showing model field ``key`` as text, editable in place unless ``edit=False``."""
    text = text or _plain(key)
    return Column(
        key=key,
        label=label,
        value=value or _text_cell(text, truncate=True),
        text=text,
        ordering=ordering,
        default=default,
        edit_fields=(key,) if edit else (),
        css=css,
    )


def _choice(key, label, *, ordering="", default=False, edit=True):
    text = _display(key)
    return Column(
        key=key,
        label=label,
        value=_text_cell(text),
        text=text,
        ordering=ordering,
        default=default,
        edit_fields=(key,) if edit else (),
    )


def _owner_column():
    return Column(
        key="assigned_to",
        label=gettext_lazy("Owner"),
        value=_owner_cell,
        text=_owner_text,
        ordering="assigned_to",
        default=True,
        select_related=("assigned_to",),
        edit_fields=("assigned_to",),
    )


def _tags_column():
    return Column(
        key="tags",
        label=gettext_lazy("Tags"),
        value=_tags_cell,
        text=_tags_text,
        default=True,
        prefetch_related=(tags_prefetch(),),
        css="wrap",
    )


def _stamp_columns():
    return [
        Column(
            key="created_at",
            label=gettext_lazy("Created"),
            value=_date_cell("created_at"),
            text=_date_text("created_at"),
            ordering="created_at",
            default=True,
        ),
        Column(
            key="updated_at",
            label=gettext_lazy("Updated"),
            value=_date_cell("updated_at"),
            text=_date_text("updated_at"),
            ordering="updated_at",
        ),
    ]


CONTACT_COLUMNS: list[Column] = [
    Column(
        key="full_name",
        label=gettext_lazy("Name"),
        value=_contact_name_cell,
        text=lambda c: c.full_name,
        ordering="name",
        default=True,
        edit_fields=("first_name", "last_name"),
    ),
    _field("first_name", gettext_lazy("First name"), ordering="first_name"),
    _field("last_name", gettext_lazy("Last name"), ordering="last_name"),
    _field("email", gettext_lazy("Email"), ordering="email", default=True, value=_email_cell),
    Column(
        key="phone",
        label=gettext_lazy("Phone"),
        value=_phone_cell("phone", fallback="mobile"),
        text=_plain("phone"),
        default=True,
        edit_fields=("phone",),
    ),
    Column(
        key="mobile",
        label=gettext_lazy("Mobile"),
        value=_phone_cell("mobile"),
        text=_plain("mobile"),
        edit_fields=("mobile",),
    ),
    _field("title", gettext_lazy("Job title")),
    _field("department", gettext_lazy("Department")),
    Column(
        key="company",
        label=gettext_lazy("Company"),
        value=_contact_company_cell,
        text=_contact_company_text,
        ordering="company",
        default=True,
        select_related=("company",),
        edit_fields=("company",),
    ),
    Column(
        key="lifecycle_stage",
        label=gettext_lazy("Stage"),
        value=_stage_cell,
        text=_display("lifecycle_stage"),
        ordering="lifecycle_stage",
        default=True,
        edit_fields=("lifecycle_stage",),
    ),
    _choice("lead_source", gettext_lazy("Lead source")),
    _owner_column(),
    _tags_column(),
    _field("city", gettext_lazy("City")),
    _choice("country", gettext_lazy("Country")),
    _field("website", gettext_lazy("Website"), value=_url_cell("website")),
    _field("x_handle", gettext_lazy("X handle")),
    Column(
        key="do_not_contact",
        label=gettext_lazy("Do not contact"),
        value=_text_cell(_bool_text("do_not_contact")),
        text=_bool_text("do_not_contact"),
    ),
    Column(
        key="birthday",
        label=gettext_lazy("Birthday"),
        value=_date_cell("birthday"),
        text=_date_text("birthday"),
    ),
    *_stamp_columns(),
]

COMPANY_COLUMNS: list[Column] = [
    Column(
        key="name",
        label=gettext_lazy("Name"),
        value=_company_name_cell,
        text=_plain("name"),
        ordering="name",
        default=True,
        select_related=("parent",),
        edit_fields=("name",),
    ),
    _field("domain", gettext_lazy("Domain"), ordering="domain", default=True, value=_domain_cell),
    _field("website", gettext_lazy("Website"), value=_url_cell("website")),
    _field("industry", gettext_lazy("Industry"), ordering="industry", default=True),
    _choice("size_band", gettext_lazy("Size")),
    Column(
        key="annual_revenue",
        label=gettext_lazy("Annual revenue"),
        value=_revenue_cell,
        text=_revenue_text,
        ordering="annual_revenue",
        edit_fields=("annual_revenue",),
    ),
    Column(
        key="phone",
        label=gettext_lazy("Phone"),
        value=_phone_cell("phone"),
        text=_plain("phone"),
        edit_fields=("phone",),
    ),
    _field("city", gettext_lazy("City")),
    _choice("country", gettext_lazy("Country"), ordering="country", default=True),
    _field("territory", gettext_lazy("Territory")),
    Column(
        key="parent",
        label=gettext_lazy("Parent company"),
        value=_company_parent_cell,
        text=_company_parent_text,
        select_related=("parent",),
    ),
    Column(
        key="contacts",
        label=gettext_lazy("Contacts"),
        value=_contacts_count_cell,
        text=_contacts_count_text,
        default=True,
    ),
    _owner_column(),
    _tags_column(),
    *_stamp_columns(),
]

BASE_COLUMNS: dict[type, list[Column]] = {Contact: CONTACT_COLUMNS, Company: COMPANY_COLUMNS}


# --- custom fields --------------------------------------------------------------------


def _custom_text(definition) -> Callable[[Any], str]:
    key = definition.key

    def text(record) -> str:
        value = (record.custom_fields or {}).get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    return text


def _custom_value(definition) -> Callable:
    from pulse.extras.models import FieldType

    text = _custom_text(definition)
    key = definition.key

    def value(record, ctx) -> str:
        raw = (record.custom_fields or {}).get(key)
        if raw is None or raw == []:
            return EMPTY
        if definition.field_type == FieldType.USER:
            member = ctx.members.get(raw)
            return format_html("{}", str(member) if member else raw)
        if definition.field_type == FieldType.URL:
            return _link(str(raw))
        return format_html('<span class="cell-truncate" title="{0}">{0}</span>', text(record))

    return value


def custom_field_columns(model) -> list[Column]:
    """One column per custom field the current organization defines on ``model``."""
    from pulse.extras.customfields import definitions_for
    from pulse.extras.models import FieldType

    columns = []
    for definition in definitions_for(model):
        columns.append(
            Column(
                key=CUSTOM_PREFIX + definition.key,
                label=definition.label,
                value=_custom_value(definition),
                text=_custom_text(definition),
                ordering=CUSTOM_PREFIX + definition.key,
                # Long text is edited on the record's page, not squeezed into a cell.
                edit_fields=()
                if definition.field_type == FieldType.LONG_TEXT
                else (CUSTOM_PREFIX + definition.key,),
            )
        )
    return columns


# --- choosing columns -----------------------------------------------------------------


def available_columns(model) -> list[Column]:
    """Every column ``model``'s list can show: the built-in ones, then custom fields."""
    return [*BASE_COLUMNS[model], *custom_field_columns(model)]


def default_keys(model) -> list[str]:
    return [c.key for c in BASE_COLUMNS[model] if c.default]


def parse_columns(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` (comma lists, or the parameter repeated) → ``["a", "b", "c"]``."""
    keys: list[str] = []
    for value in values:
        for key in str(value).split(","):
            key = key.strip()
            if key and key not in keys and len(keys) < MAX_COLUMNS:
                keys.append(key)
    return keys


def session_key(model) -> str:
    return f"pulse.columns.{model._meta.label_lower}"


@dataclass
class Table:
    """The columns one list page shows, chosen from what its record type offers."""

    model: type
    available: list[Column]
    columns: list[Column]
    # True when the query string named the columns (else: remembered or defaults).
    explicit: bool = False

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]

    @property
    def param(self) -> str:
        """The ``columns=`` value for the current choice."""
        return ",".join(self.keys)

    @property
    def select_related(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for c in self.columns for n in c.select_related))

    @property
    def prefetch_related(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for c in self.columns for n in c.prefetch_related))

    @property
    def is_default(self) -> bool:
        return self.keys == default_keys(self.model)

    def shows(self, key: str) -> bool:
        return key in self.keys

    def chooser(self) -> list[tuple[Column, bool]]:
        """(column, shown) for the chooser: shown columns in their order, then the rest."""
        shown = set(self.keys)
        return [(c, True) for c in self.columns] + [
            (c, False) for c in self.available if c.key not in shown
        ]

    def rows(self, records, ctx: CellContext) -> list[tuple[Any, list[tuple[Column, str]]]]:
        """[(record, [(column, cell html), …]), …] for the table body."""
        return [(r, [(c, c.cell(r, ctx)) for c in self.columns]) for r in records]


def choose(model, keys: Iterable[str], *, available: list[Column] | None = None) -> list[Column]:
    """The known columns among ``keys``, in that order (unknown keys are dropped)."""
    by_key = {c.key: c for c in (available if available is not None else available_columns(model))}
    return [by_key[k] for k in keys if k in by_key]


def table_for(model, request) -> Table:
    """The table a list request shows.

    ``?columns=`` wins (and is remembered in the session for this list); without it the
    remembered choice, else the defaults. A choice naming no known column falls back
    to the defaults.
    """
    available = available_columns(model)
    requested = parse_columns(request.GET.getlist(COLUMNS_PARAM))
    session = getattr(request, "session", None)
    explicit = bool(requested)
    if not requested and session is not None:
        requested = list(session.get(session_key(model)) or [])
    columns = choose(model, requested, available=available)
    if not columns:
        columns = choose(model, default_keys(model), available=available)
        explicit = False
    table = Table(model=model, available=available, columns=columns, explicit=explicit)
    if explicit and session is not None and session.get(session_key(model)) != table.keys:
        session[session_key(model)] = table.keys
    return table


def inline_url_builder(url_name: str) -> Callable[[Any, str], str]:
    """``(pk, key) → URL`` of the inline editor, reversing once per table, not per cell."""
    placeholder_pk = uuid.UUID(int=0)
    template = reverse(url_name, args=[placeholder_pk])

    def build(pk, key: str) -> str:
        return f"{template.replace(str(placeholder_pk), str(pk))}?column={key}"

    return build
