"""Reads of leads: the list queryset, the pipeline (kanban board and API), date ranges.

Everything starts from ``Lead.objects.restrict(user, "view")`` (rule 2). The pipeline
is built for 200,000 leads (rule 7): one ``GROUP BY`` gives every column's count and
value totals, then each column fetches only its first ``PIPELINE_CARDS`` cards through
the ``(organization, stage, -created_at)`` index. It never loads all leads.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.core.errors import ApplicationError
from pulse.extras.selectors import tags_prefetch

from .models import Lead, LeadStage

LEAD_LIST_SELECT_RELATED = ("stage", "assigned_to", "contact")
LEAD_LIST_PREFETCH_RELATED = ("tags",)
LEAD_DETAIL_SELECT_RELATED = (
    "stage",
    "assigned_to",
    "contact",
    "created_by",
    "updated_by",
    "converted_contact",
    "converted_company",
    "converted_opportunity",  # (D, issue 5) the deal conversion opened
    "web_form",
)
LEAD_SEARCH_FIELDS = ("title", "first_name", "last_name", "email", "company_name")
CARD_SELECT_RELATED = ("assigned_to", "contact")
# What a card shows (board template, API ``LeadCardSerializer``): the rest of the row
# (description, JSON score factors, custom fields…) is left in the database.
CARD_FIELDS = (
    "organization",
    "title",
    "first_name",
    "last_name",
    "company_name",
    "value",
    "currency",
    "score",
    "stage",
    "assigned_to",
    "contact",
    "created_at",
)

# Cards per kanban column (the column links to the list for the rest).
PIPELINE_CARDS = 20

DATE_RANGES = {
    "today": gettext_lazy("Today"),
    "this_week": gettext_lazy("This week"),
    "this_month": gettext_lazy("This month"),
    "this_quarter": gettext_lazy("This quarter"),
    "last_30_days": gettext_lazy("Last 30 days"),
}


def lead_list(*, user, action: str = "view") -> QuerySet[Lead]:
    """Leads ``user`` may ``action`` with stage, owner, contact and tags for list rows."""
    return (
        Lead.objects.restrict(user, action)
        .select_related(*LEAD_LIST_SELECT_RELATED)
        .prefetch_related(tags_prefetch())
    )


def lead_stages(*, org) -> list[LeadStage]:
    """The organization's live stages in board order (defaults created the first time).

    One plain query once the stages exist: pages ask for them several times (filter bar,
    bulk bar, board), and the service's transaction cost two more round trips each.
    """
    from pulse.core.tenancy import memoized

    from .services import leadstage_ensure_defaults

    def read() -> list[LeadStage]:
        stages = LeadStage.objects.unscoped().filter(organization=org, deleted_at__isnull=True)
        return sorted(stages, key=lambda s: (s.position, s.name))

    # Once per request (stage writes go through record_* services, which forget it).
    stages = memoized((LeadStage._meta.label_lower, org.pk), read)
    return list(stages) if stages else leadstage_ensure_defaults(org=org)


# --- date ranges --------------------------------------------------------------------------

DATE_PARAMS = ("date_range", "date_from", "date_to")


def _org_zone(org) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(org, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def _start_of(day: datetime.date, zone) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


def date_range_bounds(
    *, org, date_range: str = "", date_from: str = "", date_to: str = "", now=None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """``[start, end)`` as aware datetimes for a named range or explicit dates.

    Days are the organization's days (its time zone); ``this_quarter`` follows its
    fiscal year (``fiscal_year_start_month``); ``this_week`` starts on Monday;
    ``last_30_days`` is today and the 29 days before. ``date_from``/``date_to`` are
    ISO dates, both inclusive. A value we cannot read is a field error (400).
    """
    zone = _org_zone(org)
    today = timezone.localtime(now or timezone.now(), zone).date()
    start = end = None
    errors: dict[str, list[str]] = {}
    if date_range:
        if date_range == "today":
            first, last = today, today
        elif date_range == "this_week":
            first = today - datetime.timedelta(days=today.weekday())
            last = first + datetime.timedelta(days=6)
        elif date_range == "this_month":
            first = today.replace(day=1)
            last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(1)
        elif date_range == "this_quarter":
            fiscal = int(getattr(org, "fiscal_year_start_month", 1) or 1)
            offset = (today.month - fiscal) % 12  # months since the fiscal year began
            month0 = today.month - offset % 3  # first month of this quarter (may be <1)
            year = today.year + (month0 - 1) // 12
            month = (month0 - 1) % 12 + 1
            first = datetime.date(year, month, 1)
            after = datetime.date(year + (month + 2) // 12, (month + 2) % 12 + 1, 1)
            last = after - datetime.timedelta(days=1)
        elif date_range == "last_30_days":
            first, last = today - datetime.timedelta(days=29), today
        else:
            known = ", ".join(DATE_RANGES)
            errors["date_range"] = [
                _("Unknown date range “%(value)s”. Use one of: %(known)s, or date_from/date_to.")
                % {"value": date_range[:40], "known": known}
            ]
            first = last = None
        if first is not None:
            start = _start_of(first, zone)
            end = _start_of(last + datetime.timedelta(days=1), zone)
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if not value:
            continue
        try:
            day = parse_date(value)
        except ValueError:
            day = None
        if day is None:
            errors[name] = [_("Enter a date as YYYY-MM-DD.")]
            continue
        if name == "date_from":
            start = max(start, _start_of(day, zone)) if start else _start_of(day, zone)
        else:
            stop = _start_of(day + datetime.timedelta(days=1), zone)
            end = min(end, stop) if end else stop
    if errors:
        raise ApplicationError(errors=errors)
    if start and end and start >= end and date_from and date_to:
        raise ApplicationError(errors={"date_to": [_("The end date is before the start date.")]})
    return start, end


def apply_date_range(qs: QuerySet, params, *, org, field_name: str = "created_at") -> QuerySet:
    """``qs`` narrowed by ``date_range`` / ``date_from`` / ``date_to`` in ``params``."""
    start, end = date_range_bounds(
        org=org,
        date_range=(params.get("date_range") or "").strip(),
        date_from=(params.get("date_from") or "").strip(),
        date_to=(params.get("date_to") or "").strip(),
    )
    if start is not None:
        qs = qs.filter(**{f"{field_name}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field_name}__lt": end})
    return qs


# --- the pipeline -------------------------------------------------------------------------


@dataclass
class PipelineColumn:
    """One stage of the board: how many leads, their value per currency, the first cards."""

    stage: LeadStage
    count: int = 0
    # {currency: total}: values are not converted (there are no exchange rates yet).
    totals: dict[str, Decimal] = field(default_factory=dict)
    cards: list[Lead] = field(default_factory=list)
    currency: str = ""

    @property
    def value_total(self) -> Decimal:
        """The total in the organization's currency (other currencies are in ``totals``)."""
        return self.totals.get(self.currency, Decimal("0"))

    @property
    def other_totals(self) -> list[tuple[str, Decimal]]:
        return sorted((c, t) for c, t in self.totals.items() if c != self.currency)

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.cards))


@dataclass
class Pipeline:
    columns: list[PipelineColumn]
    currency: str

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def totals(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for column in self.columns:
            for currency, total in column.totals.items():
                out[currency] = out.get(currency, Decimal("0")) + total
        return out


def stage_totals(qs: QuerySet[Lead]) -> QuerySet:
    """``(stage_id, currency, count, sum of value)`` rows of the leads in ``qs``.

    ``COUNT(*)`` rather than ``COUNT(id)``: every column the query reads is then in the
    partial covering index ``lead_org_stage_totals`` (organization, stage, currency;
    value included; live rows only), so PostgreSQL answers an unfiltered board from the
    index alone. At 200,000 leads that is ~1,600 index pages instead of ~9,400 table
    pages (see ``tests/leads/test_leads_speed.py`` for the plan check).
    """
    return (
        qs.order_by().values_list("stage_id", "currency").annotate(n=Count("*"), total=Sum("value"))
    )


def lead_pipeline(*, user, org, filters=None, cards: int = PIPELINE_CARDS, request=None):
    """Leads grouped by stage for the board and ``GET /api/crm/leads/pipeline/``.

    ``filters`` is a query dict: the list's filters (``LeadFilterSet``: stage keys,
    ``assigned_to`` incl. ``me``/``unassigned``, search, tags, band …) plus
    ``date_range``/``date_from``/``date_to`` on the creation date. Invalid filters are
    an ``ApplicationError`` (400 / form errors). Queries: the stages, one GROUP BY, and
    one bounded query per shown stage.

    At 200,000 leads the GROUP BY is the cost: ``stage_totals`` is answered on
    PostgreSQL by an index-only scan of ``lead_org_stage_totals`` (migration 0002) when
    no other filter applies; the cards use ``lead_org_stage_created`` and load only
    ``CARD_FIELDS``. Without filters no filter set is built (its choices cost queries).
    """
    from django.http import QueryDict

    from .filtersets import LeadFilterSet

    params = filters if filters is not None else QueryDict()
    qs = Lead.objects.restrict(user, "view")
    if any(key not in DATE_PARAMS for key in params):
        # (Built only when there is something to filter: its choices cost three queries.)
        filterset = LeadFilterSet(params, queryset=qs, request=request)
        if not filterset.is_valid():
            raise ApplicationError(
                errors={k: [str(m) for m in v] for k, v in filterset.errors.items()}
            )
        qs = filterset.qs
    qs = apply_date_range(qs, params, org=org)
    stages = lead_stages(org=org)
    wanted = set(params.getlist("stage")) if hasattr(params, "getlist") else set()
    if wanted:
        stages = [s for s in stages if s.key in wanted]
    currency = getattr(org, "default_currency", "") or ""
    columns = {s.pk: PipelineColumn(stage=s, currency=currency) for s in stages}
    for stage_id, row_currency, n, total in stage_totals(qs):
        column = columns.get(stage_id)
        if column is None:
            continue
        column.count += n
        if total is not None:
            key = row_currency or currency
            column.totals[key] = column.totals.get(key, Decimal("0")) + total
    for column in columns.values():
        if column.count and cards:
            column.cards = list(
                qs.filter(stage=column.stage)
                .select_related(*CARD_SELECT_RELATED)
                .only(*CARD_FIELDS)
                .order_by("-created_at", "-pk")[:cards]
            )
    return Pipeline(columns=list(columns.values()), currency=currency)


_STAGE_MOVE_FIELDS = frozenset({"stage", "stage_id", "unqualified_reason"})


def lead_timeline(*, lead: Lead, limit: int = 30) -> list[dict]:
    """Stage moves (with notes and reasons) and record history of a lead, newest first."""
    from pulse.audit.selectors import history_for

    events = []
    for change in lead.stage_changes.select_related("from_stage", "to_stage", "changed_by")[:limit]:
        events.append({"kind": "stage", "at": change.changed_at, "change": change})
    for entry in history_for(lead)[:limit]:
        # A stage move is told once, by its stage-change row (with notes and reason),
        # not again as "updated: stage".
        changed = {k for k in (entry.changes or {}) if not k.startswith("_")}
        if entry.action == "update" and changed and changed <= _STAGE_MOVE_FIELDS:
            continue
        events.append({"kind": "history", "at": entry.created_at, "entry": entry})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]
