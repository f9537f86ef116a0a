"""Reads of opportunities that span relations or aggregate (tenant-scoped).

Sections: pipelines (shared), the board and list (A); forecasting lives in
``forecast.py`` (C) and win/loss and stage-history analysis in ``analytics.py`` (D).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.tenancy import memoized

from .models import (
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    OpportunityStageChange,
    Pipeline,
    Stage,
)

# --- pipelines and stages (shared, read once per request) ---------------------------------------


def pipelines_of(org) -> list[Pipeline]:
    """The organization's live pipelines in order, each with ``stage_list`` (live, ordered)."""

    def read() -> list[Pipeline]:
        pipelines = list(
            Pipeline.objects.unscoped()
            .filter(organization=org, deleted_at__isnull=True)
            .order_by("position", "name")
        )
        stages = (
            Stage.objects.unscoped()
            .filter(organization=org, deleted_at__isnull=True)
            .order_by("position", "name")
        )
        by_pipeline: dict = {}
        for stage in stages:
            by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
        for pipeline in pipelines:
            pipeline.stage_list = by_pipeline.get(pipeline.pk, [])
            for stage in pipeline.stage_list:
                stage.pipeline = pipeline  # no query when a stage names its pipeline
        return pipelines

    # Forgotten when a pipeline or a stage changes (record_* forget by model label).
    kinds = (Pipeline._meta.label_lower, Stage._meta.label_lower)
    return memoized((kinds, org.pk), read)


def stages_of(pipeline: Pipeline) -> list[Stage]:
    """A pipeline's live stages in order (from the per-request read when it is there)."""
    for p in pipelines_of(pipeline.organization):
        if p.pk == pipeline.pk:
            return p.stage_list
    return list(
        Stage.objects.unscoped()
        .filter(pipeline=pipeline, deleted_at__isnull=True)
        .order_by("position", "name")
    )


def stage_in_org(org, stage_id) -> Stage | None:
    """A live stage of the organization by id, from the per-request read."""
    for pipeline in pipelines_of(org):
        for stage in pipeline.stage_list:
            if str(stage.pk) == str(stage_id):
                return stage
    return None


# --- board and list (A) ---------------------------------------------------------------------------

# What ``?search=`` looks in (list, board, API): every word must match one of them.
OPPORTUNITY_SEARCH_FIELDS = (
    "name",
    "company__name",
    "contact__first_name",
    "contact__last_name",
)

# What the list page (default columns), the API list and the export join.
OPPORTUNITY_LIST_SELECT_RELATED = ("stage", "assigned_to", "company", "contact")
OPPORTUNITY_DETAIL_SELECT_RELATED = (
    "stage",
    "pipeline",
    "assigned_to",
    "company",
    "contact",
    "lead",
    "loss_reason",
    "created_by",
    "updated_by",
)
# A stage move also writes these; the timeline tells a move once, by its stage-change row.
_STAGE_MOVE_FIELDS = frozenset(
    {
        "stage",
        "pipeline",
        "status",
        "probability",
        "probability_is_custom",
        "actual_close_date",
        "loss_reason",
        "forecast_category",
        "competitor",
    }
)


@dataclass
class PathStep:
    """One stage of the path on the detail page: how long the deal spent in it."""

    stage: Stage
    seconds: int
    is_current: bool
    visited: bool

    @property
    def days(self) -> float:
        return round(self.seconds / 86400, 1)


def pipeline_stages(opportunity: Opportunity, org) -> list[Stage]:
    """The stages of the deal's pipeline in order, from the per-request read of ``org``."""
    for pipeline in pipelines_of(org):
        if pipeline.pk == opportunity.pipeline_id:
            return pipeline.stage_list
    return []


def stage_path(opportunity: Opportunity, *, org, now=None) -> list[PathStep]:
    """Every stage of the deal's pipeline in order with the time spent in it: the sum of
    the history's ``seconds_in_from_stage`` per stage, plus the time in the current one.

    One aggregate query (the pipeline's stages come from the per-request read).
    """
    now = now or timezone.now()
    spent: dict = {}
    rows = (
        OpportunityStageChange.objects.filter(
            opportunity_id=opportunity.pk, from_stage__isnull=False
        )
        .values("from_stage_id")
        .annotate(total=Sum("seconds_in_from_stage"))
        .order_by()
    )
    for row in rows:
        spent[row["from_stage_id"]] = int(row["total"] or 0)
    current_seconds = max(0, int((now - opportunity.stage_changed_at).total_seconds()))
    spent[opportunity.stage_id] = spent.get(opportunity.stage_id, 0) + current_seconds
    stages = pipeline_stages(opportunity, org)
    if all(s.pk != opportunity.stage_id for s in stages):
        stages = [*stages, opportunity.stage]  # its stage was deleted since: still shown
    return [
        PathStep(
            stage=stage,
            seconds=spent.get(stage.pk, 0),
            is_current=stage.pk == opportunity.stage_id,
            visited=stage.pk in spent,
        )
        for stage in stages
    ]


def opportunity_timeline(*, opportunity: Opportunity, limit: int = 30) -> list[dict]:
    """Stage moves (who, from, to, notes) and record history of a deal, newest first."""
    from pulse.audit.selectors import history_for

    events = []
    changes = OpportunityStageChange.objects.filter(opportunity_id=opportunity.pk).select_related(
        "from_stage", "to_stage", "changed_by"
    )
    for change in changes.order_by("-changed_at", "-id")[:limit]:
        events.append({"kind": "stage", "at": change.changed_at, "change": change})
    for entry in history_for(opportunity)[:limit]:
        changed = {k for k in (entry.changes or {}) if not k.startswith("_")}
        if entry.action == "update" and changed and changed <= _STAGE_MOVE_FIELDS:
            continue
        if entry.action == "create":
            continue  # the first stage-history row tells it, with the stage it began in
        events.append({"kind": "history", "at": entry.created_at, "entry": entry})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]


def opportunity_line_items(opportunity: Opportunity) -> list[OpportunityLineItem]:
    """The deal's live line items in order."""
    return list(
        OpportunityLineItem.objects.filter(opportunity_id=opportunity.pk).order_by(
            "position", "created_at"
        )
    )


def opportunity_contact_roles(opportunity: Opportunity) -> list[OpportunityContact]:
    """The people on the deal with their roles (live contacts only)."""
    return list(
        OpportunityContact.objects.filter(
            opportunity_id=opportunity.pk, contact__deleted_at__isnull=True
        )
        .select_related("contact", "contact__company")
        .order_by("created_at")
    )


# --- board columns and totals (K) ---


CENT = Decimal("0.01")

# Cards per column on the board (the API's ``cards`` goes up to BOARD_CARDS_MAX).
BOARD_CARDS = 50
BOARD_CARDS_MAX = 100
# Query parameters of the board that are not filters of ``OpportunityFilterSet``.
BOARD_PARAMS = frozenset({"pipeline", "cards", "sort", "format"})
BOARD_SORTS = ("newest", "close")


@dataclass
class BoardCurrencyTotal:
    """One currency's part of a column: the sums in that currency, and converted with the
    rate used (``converted`` is False when the organization has no rate for it)."""

    currency: str
    count: int = 0
    value: Decimal = Decimal("0")
    weighted: Decimal = Decimal("0")
    rate: Decimal | None = None
    rate_date: datetime.date | None = None
    converted: bool = True

    @property
    def rate_text(self) -> str:
        """The rate without trailing zeros: "0.9", "1.95583", "100"."""
        return "" if self.rate is None else format(self.rate.normalize(), "f")


@dataclass
class BoardWindow:
    """What the Won and Lost columns show: the deals closed in the current fiscal quarter
    (they grow for ever; a board is about the work in hand). ``start`` and ``end`` are
    inclusive."""

    start: datetime.date
    end: datetime.date
    label: str  # "Q3 FY 2026"


@dataclass(slots=True)
class BoardCard:
    """A deal as a card, read as plain values (no model instance) with what the card shows
    worked out once: the board page renders 300 of these and the API lists them."""

    pk: object
    name: str
    version: int
    value: Decimal
    currency: str
    probability: int
    expected_close_date: datetime.date | None
    actual_close_date: datetime.date | None
    status: str
    stage_id: object
    stage_changed_at: datetime.datetime
    last_activity_at: datetime.datetime
    company_id: object
    company_name: str | None
    assigned_to_id: int | None
    assigned_to_name: str | None
    assigned_to_initials: str = ""
    days_in_stage: int = 0
    is_rotting: bool = False
    idle_text: str = ""  # "Rotting · idle 3 weeks"
    days_text: str = ""  # "4 days"
    owner_label: str = ""  # "Owner: Olivia Owner"
    value_text: str = ""  # "12,500.00" (as ``floatformat:"2g"``)
    date_text: str = ""  # the expected close date (open) or the close date, short format
    url: str = ""
    move_url: str = ""
    overdue: bool = False

    @property
    def id(self):
        return self.pk


@dataclass
class BoardColumn:
    """One stage of the board: how many deals, their value and weighted value in the
    organization's currency, and the first cards. A closed column counts only the deals
    closed in ``window``."""

    stage: Stage
    currency: str
    count: int = 0
    value_total: Decimal = Decimal("0")
    weighted_total: Decimal = Decimal("0")
    totals: list[BoardCurrencyTotal] = field(default_factory=list)
    cards: list = field(default_factory=list)
    window: BoardWindow | None = None

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.cards))

    @property
    def unconverted(self) -> list[BoardCurrencyTotal]:
        """Currencies with no exchange rate: left out of the totals, shown beside them."""
        return [t for t in self.totals if not t.converted]


@dataclass
class Board:
    """A pipeline as columns, with the organization's other pipelines for the switcher."""

    pipeline: Pipeline
    pipelines: list[Pipeline]
    columns: list[BoardColumn]
    currency: str
    # The filter set the board was filtered with (None: no filter), for the filter bar.
    filterset: object = None
    window: BoardWindow | None = None

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def value_total(self) -> Decimal:
        return sum((c.value_total for c in self.columns), Decimal("0"))

    @property
    def weighted_total(self) -> Decimal:
        return sum((c.weighted_total for c in self.columns), Decimal("0"))

    @property
    def rates(self) -> list[BoardCurrencyTotal]:
        """The exchange rates the totals used, one per foreign currency on the board."""
        seen: dict[str, BoardCurrencyTotal] = {}
        for column in self.columns:
            for total in column.totals:
                if total.currency != self.currency and total.converted:
                    seen.setdefault(total.currency, total)
        return [seen[c] for c in sorted(seen)]


CLOSED_TYPES = ("won", "lost")


def board_window(org, today: datetime.date | None = None) -> BoardWindow:
    """The current fiscal quarter (in the organization's time zone and fiscal year)."""
    from .forecast import fiscal_period_of, org_today

    period = fiscal_period_of(org, "quarter", today or org_today(org))
    return BoardWindow(period.start, period.end, period.label)


def board_stage_totals(qs, open_ids, closed_ids, window: BoardWindow) -> QuerySet:
    """``(stage_id, currency, probability, count, sum of value)`` rows: open stages over
    all their live deals, closed (won/lost) stages over the deals closed in ``window``.

    Grouped by probability too (a handful of values per stage: its default and the
    custom ones), so the weighted sums are worked out per group in Python instead of a
    numeric multiplication per deal. One query (UNION ALL): the open half is an
    index-only scan of ``opp_org_stage_totals`` (``COUNT(*)``, every column read is in
    the index); the closed half a range scan of ``opp_org_stage_closed`` over one
    quarter, whatever the age of the pipeline.
    """

    def grouped(part):
        return (
            part.order_by()
            .values_list("stage_id", "currency", "probability")
            .annotate(n=Count("*"), total=Sum("value"))
        )

    parts = []
    if open_ids:
        parts.append(grouped(qs.filter(stage_id__in=open_ids)))
    if closed_ids:
        parts.append(
            grouped(
                qs.filter(
                    stage_id__in=closed_ids,
                    status__in=CLOSED_TYPES,  # (= the stage's type) the index's condition
                    actual_close_date__gte=window.start,
                    actual_close_date__lte=window.end,
                )
            )
        )
    if not parts:
        return qs.none().values_list("stage_id")
    if len(parts) == 1:
        return parts[0]
    return parts[0].union(parts[1], all=True)


def board_pipeline(org, pipeline_id=None) -> tuple[Pipeline, list[Pipeline]]:
    """The pipeline the board shows (``pipeline_id`` if it is the organization's, else
    the default one) and all of the organization's pipelines."""
    pipelines = pipelines_of(org)
    if not pipelines:
        from .services import pipeline_ensure_defaults

        pipelines = pipeline_ensure_defaults(org=org)
    chosen = None
    if pipeline_id:
        chosen = next((p for p in pipelines if str(p.pk) == str(pipeline_id)), None)
        if chosen is None:
            raise ApplicationError(errors={"pipeline": [_("Choose one of your pipelines.")]})
    if chosen is None:
        chosen = next((p for p in pipelines if p.is_default), pipelines[0])
    return chosen, pipelines


# What a card query reads (values_list: no model instances for 300 cards).
_CARD_COLUMNS = (
    "pk",
    "name",
    "version",
    "value",
    "currency",
    "probability",
    "expected_close_date",
    "actual_close_date",
    "status",
    "stage_id",
    "stage_changed_at",
    "last_activity_at",
    "company_id",
    "company__name",
    "assigned_to_id",
    "assigned_to__full_name",
    "assigned_to__email",
)


def _url_maker(name: str):
    """``reverse(name, args=[pk])`` for many pks at the cost of one reverse."""
    from django.urls import reverse

    marker = "00000000-0000-0000-0000-00000000beef"
    pattern = reverse(name, args=[marker])
    head, tail = pattern.split(marker)
    return lambda pk: f"{head}{pk}{tail}"


def _initials(name: str) -> str:
    """As ``User.initials``."""
    parts = [p for p in name.split() if p]
    return "".join(p[0] for p in parts[:2]).upper()


def _idle_for(days: int) -> str:
    """ "12 days", "5 weeks", "4 months", "2 years": one unit, rounded down (Django's
    ``timesince`` is exact to two units, and costs more than the rest of a card)."""
    from django.utils.translation import ngettext

    if days < 14:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if days < 61:
        return ngettext("%(n)d week", "%(n)d weeks", days // 7) % {"n": days // 7}
    if days < 730:
        return ngettext("%(n)d month", "%(n)d months", days // 30) % {"n": days // 30}
    return ngettext("%(n)d year", "%(n)d years", days // 365) % {"n": days // 365}


def board_cards(
    qs, stage: Stage, *, order, limit: int, now, today, texts: bool = True
) -> list[BoardCard]:
    """The first ``limit`` cards of one column as ``BoardCard`` s (one query); ``texts``:
    with what the page shows worked out (the API lists the values only)."""
    from django.utils.formats import date_format, number_format
    from django.utils.translation import ngettext

    dates: dict = {}  # the same days recur: format each once

    def short(day):
        if day is None:
            return ""
        text = dates.get(day)
        if text is None:
            text = dates[day] = date_format(day, "SHORT_DATE_FORMAT")
        return text

    detail_url = _url_maker("opportunities:opportunity_detail")
    move_url = _url_maker("opportunities:opportunity_move")
    rotting_days = stage.rotting_days
    owners: dict = {}  # owner name -> (initials, "Owner: …")
    cards = []
    rows = qs.filter(stage_id=stage.pk).order_by(*order).values_list(*_CARD_COLUMNS)[:limit]
    for row in rows:
        card = BoardCard(*row[:16])
        email = row[16]
        if card.assigned_to_id is not None:
            card.assigned_to_name = card.assigned_to_name or email or ""
        days = card.days_in_stage = max(0, (now - card.stage_changed_at).days)
        if card.status == "open" and rotting_days:
            card.is_rotting = (now - card.last_activity_at).days > rotting_days
        cards.append(card)
        if not texts:
            continue
        if card.assigned_to_id is not None:
            owner = card.assigned_to_name
            if owner not in owners:
                owners[owner] = (_initials(owner), _("Owner: %(owner)s") % {"owner": owner})
            card.assigned_to_initials, card.owner_label = owners[owner]
        card.days_text = ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
        if card.is_rotting:
            card.idle_text = _("Rotting · idle %(idle)s") % {
                "idle": _idle_for((now - card.last_activity_at).days)
            }
        card.value_text = number_format(card.value, 2, force_grouping=True)
        card.date_text = short(
            card.expected_close_date if card.status == "open" else card.actual_close_date
        )
        card.overdue = bool(
            card.status == "open" and card.expected_close_date and card.expected_close_date < today
        )
        card.url = detail_url(card.pk)
        card.move_url = move_url(card.pk)
    return cards


def opportunity_board(
    *, user, org, params=None, cards: int = BOARD_CARDS, request=None, texts: bool = True
) -> Board:
    """One pipeline as kanban columns, for the board page and ``GET …/board/``.

    ``params`` is a query dict: ``pipeline`` (id; default pipeline otherwise), ``sort``
    (``newest`` or ``close``) and the filters of ``OpportunityFilterSet`` (owner, team,
    close dates, tags, value range…). Invalid ones raise ``ApplicationError``.
    Per stage: count, value and weighted value (value × probability) converted to the
    organization's currency at today's rate (per currency, the rate used is kept), and
    the first ``cards`` cards (``texts=False``: without the page's texts). Open stages
    count all their deals; Won and Lost only the deals closed in the current fiscal
    quarter (``Board.window``), most recently closed first. Queries: pipelines and
    stages (memoized), the rates (memoized), one GROUP BY (UNION ALL), and one bounded
    query per column that has deals — independent of the number of deals.
    """
    from django.http import QueryDict

    from pulse.currencies.selectors import converter

    from .filtersets import OpportunityFilterSet

    params = params if params is not None else QueryDict()
    pipeline, pipelines = board_pipeline(org, params.get("pipeline"))
    sort = params.get("sort") or "newest"
    if sort not in BOARD_SORTS:
        raise ApplicationError(errors={"sort": [_("Sort by “newest” or “close”.")]})
    qs = Opportunity.objects.restrict(user, "view")
    filterset = None
    filters = QueryDict(mutable=True)
    for key, values in params.lists():
        if key not in BOARD_PARAMS and any(v != "" for v in values):
            filters.setlist(key, values)
    if filters:
        # Built only when there is something to filter: its choices cost queries. The
        # filters read the user ("me") and the organization from the request.
        request = request or SimpleNamespace(user=user, organization=org)
        filterset = OpportunityFilterSet(filters, queryset=qs, request=request)
        if not filterset.is_valid():
            raise ApplicationError(
                errors={k: [str(m) for m in v] for k, v in filterset.errors.items()}
            )
        qs = filterset.qs
    currency = org.default_currency
    window = board_window(org)
    # (The pipeline comes from pipelines_of: its stage_list is read, no query.)
    columns = {
        s.pk: BoardColumn(
            stage=s, currency=currency, window=window if s.type in CLOSED_TYPES else None
        )
        for s in pipeline.stage_list
    }
    open_ids = [pk for pk, c in columns.items() if c.window is None]
    closed_ids = [pk for pk, c in columns.items() if c.window is not None]
    rates = converter(org)
    today = timezone.localdate()
    parts: dict = {}  # (stage id, currency) -> BoardCurrencyTotal
    for stage_id, row_currency, probability, n, total in board_stage_totals(
        qs, open_ids, closed_ids, window
    ):
        part = parts.get((stage_id, row_currency))
        if part is None:
            part = parts[(stage_id, row_currency)] = BoardCurrencyTotal(currency=row_currency)
        total = total or Decimal("0")
        part.count += n
        part.value += total
        part.weighted += total * (probability or 0) / 100
    for (stage_id, row_currency), part in parts.items():
        column = columns[stage_id]
        column.count += part.count
        value = rates.convert(part.value, row_currency, today)
        if value.amount is None:
            part.converted = False
        else:
            part.rate, part.rate_date = value.rate, value.rate_date
            column.value_total += value.amount
            column.weighted_total += rates.convert(part.weighted, row_currency, today).amount
        column.totals.append(part)
    if sort == "close":
        order = (F("expected_close_date").asc(nulls_last=True), "-created_at", "-pk")
    else:
        order = ("-created_at", "-pk")
    closed_order = ("-actual_close_date", "-created_at", "-pk")
    now = timezone.now()
    for column in columns.values():
        column.weighted_total = column.weighted_total.quantize(CENT)
        column.totals.sort(key=lambda t: (t.currency != currency, t.currency))
        if column.count and cards:
            if column.window is None:
                card_qs, card_order = qs, order
            else:
                card_qs = qs.filter(
                    status__in=CLOSED_TYPES,
                    actual_close_date__gte=window.start,
                    actual_close_date__lte=window.end,
                )
                card_order = closed_order
            column.cards = board_cards(
                card_qs,
                column.stage,
                order=card_order,
                limit=cards,
                now=now,
                today=today,
                texts=texts,
            )
    return Board(
        pipeline=pipeline,
        pipelines=pipelines,
        columns=list(columns.values()),
        currency=currency,
        filterset=filterset,
        window=window,
    )


# --- settings page and quota grid (B) -------------------------------------------------------------


def stage_deal_counts(org) -> dict:
    """Live deals per stage id (one grouped query on the board's stage index): the
    settings page says why a stage cannot be deleted before anyone tries."""
    from django.db.models import Count

    rows = (
        Opportunity.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True)
        .values_list("stage_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


@dataclass
class QuotaCell:
    owner: str  # "user:<id>" or "team:<id>"
    start: object  # the period's first day
    target: object = None  # Decimal, or None when no quota is set


@dataclass
class QuotaRow:
    owner: str
    label: str
    kind: str  # "user" or "team"
    cells: list
    total: object = None


@dataclass
class QuotaGrid:
    periods: list  # [(first day, label)]
    users: list
    teams: list


def quota_period_label(org, period: str, start) -> str:
    """ "Mar 2026", "Q2 FY2026" (fiscal quarters, the year the fiscal year starts in) or
    "FY2026"."""
    from django.utils.formats import date_format
    from django.utils.translation import gettext as _

    if period == "month":
        return date_format(start, "M Y")
    from .forecast import fiscal_year_of

    fiscal = int(getattr(org, "fiscal_year_start_month", 1) or 1)
    since = (start.month - fiscal) % 12
    year = fiscal_year_of(org, start)
    if period == "quarter":
        return _("Q%(n)d FY%(year)d") % {"n": since // 3 + 1, "year": year}
    return _("FY%(year)d") % {"year": year}


def quota_grid(*, org, user, period: str, fiscal_year: int, metric: str) -> QuotaGrid:
    """Members and teams × the periods of one fiscal year, with each quota's target (three
    queries: members, teams, quotas)."""
    from decimal import Decimal

    from pulse.accounts.models import Team
    from pulse.accounts.selectors import organization_members

    from .models import Quota
    from .services import quota_periods

    starts = quota_periods(org=org, period=period, fiscal_year=fiscal_year)
    targets = {
        (q.user_id, q.team_id, q.period_start): q.target
        for q in Quota.objects.restrict(user, "view")
        .filter(period=period, metric=metric, period_start__in=starts)
        .only("user_id", "team_id", "period_start", "target")
    }

    def row(kind: str, obj, label: str) -> QuotaRow:
        key = (obj.pk, None) if kind == "user" else (None, obj.pk)
        owner = f"{kind}:{obj.pk}"
        cells = [QuotaCell(owner, start, targets.get((*key, start))) for start in starts]
        set_targets = [c.target for c in cells if c.target is not None]
        total = sum(set_targets, Decimal("0")) if set_targets else None
        return QuotaRow(owner, label, kind, cells, total)

    return QuotaGrid(
        periods=[(start, quota_period_label(org, period, start)) for start in starts],
        users=[row("user", u, u.full_name or u.email) for u in organization_members(org)],
        teams=[
            row("team", t, t.name) for t in Team.objects.restrict(user, "view").order_by("name")
        ],
    )


def current_fiscal_year(org, today=None) -> int:
    """The calendar year the organization's current fiscal year started in."""
    from .forecast import fiscal_year_of

    return fiscal_year_of(org, today or timezone.localdate())
