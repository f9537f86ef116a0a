"""Win/loss and stage-history analysis of opportunities.

Every number is an SQL aggregate over the opportunities the user may see (``restrict``)
that pass the filters (closed between two dates, pipeline, owner, team): a fixed number
of grouped queries whatever the number of deals, never a Python loop over deals.

Definitions (the page and the API say the same):

- **Closed deals**: won or lost, with an ``actual_close_date`` in the range. Win rate,
  deal size, cycle length, loss reasons and the stage funnel are about them.
- **Win rate**: won ÷ (won + lost), in percent.
- **Average deal size**: the won value ÷ the won deals, in the organization's currency
  (each deal converted at the rate valid on the day it closed).
- **Sales cycle**: days from the day a won deal was created to the day it closed.
- **Stage reached**: a deal reached an open stage when it entered that stage or a later
  one of its pipeline (by position); a won deal reached every open stage. The
  conversion of a stage is the share of the deals that reached it which reached the
  next open stage (for the last open stage: which were won).
- **Time in stage**: from the stage history (``seconds_in_from_stage``) of moves out of
  a stage made in the range, by deals that pass the other filters.
- **Pipeline velocity**: (open deals × their average value × win rate) ÷ average sales
  cycle — the money the current pipeline is expected to turn into per day. The open
  deals are today's, valued at today's rates.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.currencies.selectors import converter
from pulse.leads.models import LeadSource

from .models import Opportunity, OpportunityStageChange, StageType
from .selectors import pipelines_of

MAX_RANGE_DAYS = 5 * 366  # at most 60 monthly buckets
CENT = Decimal("0.01")
DAY_SECONDS = 86400


# --- filters -----------------------------------------------------------------------------------


def default_range(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The last twelve months: the first day of the month eleven months ago to today."""
    today = today or timezone.localdate()
    month, year = today.month - 11, today.year
    if month < 1:
        month += 12
        year -= 1
    return datetime.date(year, month, 1), today


@dataclass(frozen=True)
class AnalysisFilters:
    """What the analysis looks at: deals closed from ``date_from`` to ``date_to``
    (inclusive), optionally of one pipeline, one owner, one team's members."""

    date_from: datetime.date
    date_to: datetime.date
    pipeline: object | None = None
    owner: object | None = None
    team: object | None = None

    def initial(self) -> dict:
        """The filter form's initial values for these filters."""
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "pipeline": str(self.pipeline.pk) if self.pipeline else "",
            "assigned_to": self.owner,
            "team": self.team,
        }

    def as_dict(self) -> dict:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "pipeline": str(self.pipeline.pk) if self.pipeline else None,
            "assigned_to": self.owner.pk if self.owner else None,
            "team": str(self.team.pk) if self.team else None,
        }


class AnalysisFilterForm(forms.Form):
    """The analysis filters, parsed the same way for the page and the API (rule 4).

    Empty dates mean the last twelve months; the choice lists are read only when the
    form is rendered or a value is given.
    """

    date_from = forms.DateField(
        label=gettext_lazy("Closed from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    date_to = forms.DateField(
        label=gettext_lazy("Closed to"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    pipeline = forms.ChoiceField(
        label=gettext_lazy("Pipeline"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    assigned_to = forms.ModelChoiceField(
        label=gettext_lazy("Owner"),
        queryset=None,
        required=False,
        empty_label=gettext_lazy("Everyone"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    team = forms.ModelChoiceField(
        label=gettext_lazy("Team"),
        queryset=None,
        required=False,
        empty_label=gettext_lazy("All teams"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(self, data=None, *, org, **kwargs):
        from pulse.accounts.models import Team
        from pulse.accounts.selectors import organization_members

        super().__init__(data, **kwargs)
        self.org = org

        def pipeline_choices():
            return [("", _("All pipelines"))] + [(str(p.pk), p.name) for p in pipelines_of(org)]

        self.fields["pipeline"].choices = pipeline_choices
        self.fields["assigned_to"].queryset = organization_members(org)
        self.fields["team"].queryset = Team.objects.unscoped().filter(
            organization=org, deleted_at__isnull=True
        )

    def clean(self):
        data = super().clean()
        default_from, default_to = default_range()
        date_from = data.get("date_from") or default_from
        date_to = data.get("date_to") or default_to
        if date_from > date_to:
            self.add_error("date_to", _("The end comes before the start."))
        elif (date_to - date_from) > datetime.timedelta(days=MAX_RANGE_DAYS):
            self.add_error("date_from", _("Choose at most five years."))
        data["date_from"], data["date_to"] = date_from, date_to
        return data

    def filters(self) -> AnalysisFilters:
        """The cleaned filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        pipeline_id = data.get("pipeline")
        pipeline = next((p for p in pipelines_of(self.org) if str(p.pk) == pipeline_id), None)
        return AnalysisFilters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            pipeline=pipeline,
            owner=data.get("assigned_to"),
            team=data.get("team"),
        )


def _deals(user, filters: AnalysisFilters):
    """The deals ``user`` may see that pass the pipeline, owner and team filters."""
    qs = Opportunity.objects.restrict(user, "view")
    if filters.pipeline is not None:
        qs = qs.filter(pipeline_id=filters.pipeline.pk)
    if filters.owner is not None:
        qs = qs.filter(assigned_to_id=filters.owner.pk)
    if filters.team is not None:
        members = filters.team.members.through.objects.filter(team_id=filters.team.pk)
        qs = qs.filter(assigned_to_id__in=members.values("user_id"))
    return qs


def _closed(deals, filters: AnalysisFilters):
    return deals.filter(
        status__in=(StageType.WON, StageType.LOST),
        actual_close_date__gte=filters.date_from,
        actual_close_date__lte=filters.date_to,
    )


# --- results -----------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


@dataclass
class WinRateRow:
    """One group of closed deals (an owner, a source, a pipeline)."""

    key: str
    label: str
    won: int = 0
    lost: int = 0

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> float | None:
        return _rate(self.won, self.closed)

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "closed": self.closed,
            "won": self.won,
            "lost": self.lost,
            "win_rate": self.win_rate,
        }


@dataclass
class MonthRow:
    month: datetime.date
    won: int = 0
    lost: int = 0
    won_value: Decimal = Decimal("0")
    lost_value: Decimal = Decimal("0")

    def as_dict(self) -> dict:
        return {
            "month": self.month.isoformat()[:7],
            "won": self.won,
            "lost": self.lost,
            "won_value": _money(self.won_value),
            "lost_value": _money(self.lost_value),
        }


@dataclass
class LossReasonRow:
    key: str
    label: str
    count: int = 0
    value: Decimal = Decimal("0")
    share: float | None = None  # of the lost deals, in percent

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "count": self.count,
            "value": _money(self.value),
            "share": self.share,
        }


@dataclass
class StageRow:
    """One open stage of a pipeline: how many closed deals reached it, how many went on
    (to the next open stage, or won from the last one), how many of them were won, and
    the time deals spent in it."""

    stage: object
    reached: int = 0
    advanced: int = 0
    won: int = 0
    exits: int = 0  # moves out of the stage in the range (the time-in-stage sample)
    avg_days: float | None = None
    median_days: float | None = None

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.advanced, self.reached)

    @property
    def win_rate(self) -> float | None:
        return _rate(self.won, self.reached)

    def as_dict(self) -> dict:
        return {
            "id": str(self.stage.pk),
            "name": self.stage.name,
            "type": self.stage.type,
            "reached": self.reached,
            "advanced": self.advanced,
            "conversion_rate": self.conversion_rate,
            "won": self.won,
            "win_rate": self.win_rate,
            "exits": self.exits,
            "avg_days": self.avg_days,
            "median_days": self.median_days,
        }


@dataclass
class PipelineStages:
    pipeline: object
    # Open stages only: time "in" won or lost is not work on the deal.
    stages: list[StageRow] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "id": str(self.pipeline.pk),
            "name": self.pipeline.name,
            "stages": [s.as_dict() for s in self.stages],
        }


@dataclass
class Velocity:
    """(open deals × average value × win rate) ÷ average cycle, per day."""

    open_count: int = 0
    open_value: Decimal = Decimal("0")
    win_rate: float | None = None
    avg_cycle_days: float | None = None

    @property
    def avg_open_value(self) -> Decimal | None:
        if not self.open_count:
            return None
        return (self.open_value / self.open_count).quantize(CENT)

    @property
    def per_day(self) -> Decimal | None:
        if self.win_rate is None or self.avg_cycle_days is None:
            return None
        # A cycle shorter than a day (created and won the same day) counts as one day:
        # velocity is money per day, and a zero divisor says nothing useful.
        days = Decimal(str(max(self.avg_cycle_days, 1.0)))
        return (self.open_value * Decimal(str(self.win_rate)) / 100 / days).quantize(CENT)

    def as_dict(self) -> dict:
        return {
            "open_count": self.open_count,
            "open_value": _money(self.open_value),
            "avg_open_value": _money(self.avg_open_value),
            "win_rate": self.win_rate,
            "avg_cycle_days": self.avg_cycle_days,
            "per_day": _money(self.per_day),
        }


@dataclass
class WinLossAnalysis:
    filters: AnalysisFilters
    currency: str
    won: int = 0
    lost: int = 0
    won_value: Decimal = Decimal("0")
    lost_value: Decimal = Decimal("0")
    won_converted: int = 0  # won deals whose value could be converted (deal size divisor)
    avg_cycle_days: float | None = None
    velocity: Velocity = field(default_factory=Velocity)
    by_month: list[MonthRow] = field(default_factory=list)
    by_owner: list[WinRateRow] = field(default_factory=list)
    by_source: list[WinRateRow] = field(default_factory=list)
    by_pipeline: list[WinRateRow] = field(default_factory=list)
    loss_reasons: list[LossReasonRow] = field(default_factory=list)
    pipelines: list[PipelineStages] = field(default_factory=list)
    # Currencies without any exchange rate: their deals are counted but not valued.
    unconverted_currencies: list[str] = field(default_factory=list)
    unconverted_deals: int = 0

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> float | None:
        return _rate(self.won, self.closed)

    @property
    def avg_deal_size(self) -> Decimal | None:
        if not self.won_converted:
            return None
        return (self.won_value / self.won_converted).quantize(CENT)

    def as_dict(self) -> dict:
        """The API shape (also the page's chart data)."""
        return {
            "filters": self.filters.as_dict(),
            "currency": self.currency,
            "summary": {
                "closed": self.closed,
                "won": self.won,
                "lost": self.lost,
                "win_rate": self.win_rate,
                "won_value": _money(self.won_value),
                "lost_value": _money(self.lost_value),
                "avg_deal_size": _money(self.avg_deal_size),
                "avg_cycle_days": self.avg_cycle_days,
            },
            "velocity": self.velocity.as_dict(),
            "by_month": [r.as_dict() for r in self.by_month],
            "by_owner": [r.as_dict() for r in self.by_owner],
            "by_source": [r.as_dict() for r in self.by_source],
            "by_pipeline": [r.as_dict() for r in self.by_pipeline],
            "loss_reasons": [r.as_dict() for r in self.loss_reasons],
            "pipelines": [p.as_dict() for p in self.pipelines],
            "unconverted": {
                "currencies": self.unconverted_currencies,
                "deals": self.unconverted_deals,
            },
        }


# --- the analysis ------------------------------------------------------------------------------


def _months(date_from: datetime.date, date_to: datetime.date) -> list[datetime.date]:
    months, current = [], date_from.replace(day=1)
    while current <= date_to:
        months.append(current)
        current = (current + datetime.timedelta(days=32)).replace(day=1)
    return months


def _as_days(value) -> float | None:
    """An average duration from the database as days (backends differ in the type)."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    else:  # microseconds on some backends
        seconds = float(value) / 1_000_000
    return round(seconds / DAY_SECONDS, 1)


def _avg_cycle_days(closed) -> float | None:
    """Average days from creation (the organization's local day) to close of won deals."""
    cycle = ExpressionWrapper(
        F("actual_close_date") - TruncDate("created_at"), output_field=DurationField()
    )
    value = closed.filter(status=StageType.WON).aggregate(days=Avg(cycle))["days"]
    return _as_days(value)


def _open_pipeline(deals, rates, base: str, result_unconverted: dict) -> tuple[int, Decimal]:
    """Open deals today: how many, and their value at today's rates."""
    count, total = 0, Decimal("0")
    today = timezone.localdate()
    for row in (
        deals.filter(status=StageType.OPEN)
        .order_by()
        .values("currency")
        .annotate(n=Count("pk"), v=Sum("value"))
    ):
        count += row["n"]
        amount = rates.convert(row["v"] or Decimal("0"), row["currency"], today).amount
        if amount is None:
            result_unconverted[row["currency"]] = (
                result_unconverted.get(row["currency"], 0) + row["n"]
            )
        else:
            total += amount
    return count, total


def pipeline_velocity(*, user, org, filters: AnalysisFilters) -> Velocity:
    """Velocity alone (four queries): open pipeline, win rate and cycle of the range."""
    deals = _deals(user, filters)
    closed = _closed(deals, filters)
    counts = closed.aggregate(
        won=Count("pk", filter=Q(status=StageType.WON)),
        lost=Count("pk", filter=Q(status=StageType.LOST)),
    )
    rates = converter(org)
    count, value = _open_pipeline(deals, rates, org.default_currency, {})
    return Velocity(
        open_count=count,
        open_value=value,
        win_rate=_rate(counts["won"], counts["won"] + counts["lost"]),
        avg_cycle_days=_avg_cycle_days(closed),
    )


def win_loss_analysis(*, user, org, filters: AnalysisFilters) -> WinLossAnalysis:
    """Everything of the analysis page and endpoint for the deals ``user`` may see."""
    base = org.default_currency
    rates = converter(org)
    deals = _deals(user, filters)
    closed = _closed(deals, filters)
    result = WinLossAnalysis(filters=filters, currency=base)
    unconverted: dict[str, int] = {}

    # Counts and values by status, currency and close day: the totals, the months and
    # the deal size, each value converted at the rate of the day the deal closed.
    months = {m: MonthRow(m) for m in _months(filters.date_from, filters.date_to)}
    for row in (
        closed.order_by()
        .values("status", "currency", "actual_close_date")
        .annotate(n=Count("pk"), v=Sum("value"))
    ):
        won = row["status"] == StageType.WON
        amount = rates.convert(row["v"] or Decimal("0"), row["currency"], row["actual_close_date"])
        month = months[row["actual_close_date"].replace(day=1)]
        if won:
            result.won += row["n"]
            month.won += row["n"]
        else:
            result.lost += row["n"]
            month.lost += row["n"]
        if amount.amount is None:
            unconverted[row["currency"]] = unconverted.get(row["currency"], 0) + row["n"]
            continue
        if won:
            result.won_value += amount.amount
            result.won_converted += row["n"]
            month.won_value += amount.amount
        else:
            result.lost_value += amount.amount
            month.lost_value += amount.amount
    result.by_month = list(months.values())

    result.by_owner = _win_rates(
        closed,
        ("assigned_to", "assigned_to__full_name", "assigned_to__email"),
        lambda r: (
            str(r["assigned_to"] or ""),
            r["assigned_to__full_name"] or r["assigned_to__email"] or _("Unassigned"),
        ),
    )
    sources = dict(LeadSource.choices)
    result.by_source = _win_rates(
        closed,
        ("source",),
        lambda r: (r["source"], str(sources.get(r["source"], r["source"] or _("Not recorded")))),
    )
    pipelines = pipelines_of(org)
    names = {p.pk: p.name for p in pipelines}
    result.by_pipeline = _win_rates(
        closed,
        ("pipeline",),
        lambda r: (str(r["pipeline"]), names.get(r["pipeline"], _("Deleted pipeline"))),
    )
    result.loss_reasons = _loss_reasons(closed, rates, unconverted)
    result.avg_cycle_days = _avg_cycle_days(closed)
    count, value = _open_pipeline(deals, rates, base, unconverted)
    result.velocity = Velocity(
        open_count=count,
        open_value=value,
        win_rate=result.win_rate,
        avg_cycle_days=result.avg_cycle_days,
    )
    shown = [p for p in pipelines if filters.pipeline is None or p.pk == filters.pipeline.pk]
    result.pipelines = _stage_analysis(shown, deals, closed, filters)
    result.unconverted_currencies = sorted(unconverted)
    result.unconverted_deals = sum(unconverted.values())
    return result


def _win_rates(closed, fields: tuple[str, ...], key_label) -> list[WinRateRow]:
    rows: dict[str, WinRateRow] = {}
    for row in closed.order_by().values(*fields, "status").annotate(n=Count("pk")):
        key, label = key_label(row)
        item = rows.setdefault(key, WinRateRow(key, str(label)))
        if row["status"] == StageType.WON:
            item.won += row["n"]
        else:
            item.lost += row["n"]
    return sorted(rows.values(), key=lambda r: (-r.closed, r.label))


def _loss_reasons(closed, rates, unconverted: dict) -> list[LossReasonRow]:
    """Lost deals by reason, most frequent first (then by lost value), with their value."""
    rows: dict[str, LossReasonRow] = {}
    for row in (
        closed.filter(status=StageType.LOST)
        .order_by()
        .values("loss_reason", "loss_reason__name", "currency", "actual_close_date")
        .annotate(n=Count("pk"), v=Sum("value"))
    ):
        key = str(row["loss_reason"] or "")
        item = rows.setdefault(
            key, LossReasonRow(key, row["loss_reason__name"] or _("No reason given"))
        )
        item.count += row["n"]
        amount = rates.convert(row["v"] or Decimal("0"), row["currency"], row["actual_close_date"])
        if amount.amount is not None:
            item.value += amount.amount
        # (unconverted deals are already counted by the totals query)
    total = sum(r.count for r in rows.values())
    for item in rows.values():
        item.share = _rate(item.count, total)
    return sorted(rows.values(), key=lambda r: (-r.count, -r.value, r.label))


def _stage_analysis(pipelines, deals, closed, filters: AnalysisFilters) -> list[PipelineStages]:
    """The funnel (stage reached, conversion to the next stage, win rate from there) of
    the closed deals, and the time spent in each stage, for each pipeline shown."""
    if not pipelines:
        return []
    # Per closed deal: the furthest open stage of its own pipeline it ever entered.
    furthest = Subquery(
        OpportunityStageChange.objects.filter(
            opportunity=OuterRef("pk"),
            to_stage__type=StageType.OPEN,
            to_stage__pipeline=OuterRef("pipeline"),
        )
        .order_by()
        .values("opportunity")
        .annotate(m=Max("to_stage__position"))
        .values("m")[:1],
        output_field=IntegerField(),
    )
    reach: dict = {}  # pipeline id → list of (furthest position or None, status, count)
    for row in (
        closed.filter(pipeline_id__in=[p.pk for p in pipelines])
        .order_by()
        .annotate(furthest=furthest)
        .values("pipeline", "furthest", "status")
        .annotate(n=Count("pk"))
    ):
        reach.setdefault(row["pipeline"], []).append((row["furthest"], row["status"], row["n"]))

    times = _time_in_stage(deals, filters)
    result = []
    for pipeline in pipelines:
        open_stages = [s for s in pipeline.stage_list if s.type == StageType.OPEN]
        rows = [StageRow(stage) for stage in open_stages]
        groups = reach.get(pipeline.pk, [])
        won_total = sum(n for _f, status, n in groups if status == StageType.WON)
        for row in rows:
            position = row.stage.position
            row.won = won_total
            row.reached = won_total + sum(
                n
                for furthest, status, n in groups
                if status != StageType.WON and furthest is not None and furthest >= position
            )
            avg, median, exits = times.get(row.stage.pk, (None, None, 0))
            row.avg_days, row.median_days, row.exits = avg, median, exits
        for i, row in enumerate(rows):
            row.advanced = rows[i + 1].reached if i + 1 < len(rows) else won_total
        result.append(PipelineStages(pipeline, rows))
    return result


def _time_in_stage(deals, filters: AnalysisFilters) -> dict:
    """Stage id → (average days, median days, moves) of the moves out of it in the range.

    Two queries: the averages grouped by stage, and the middle rows of each stage's
    sorted durations (a window function; SQLite and PostgreSQL both have it).
    """
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(filters.date_from, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(
        filters.date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    moves = OpportunityStageChange.objects.filter(
        opportunity_id__in=deals.values("pk"),
        from_stage__isnull=False,
        seconds_in_from_stage__isnull=False,
        changed_at__gte=start,
        changed_at__lt=end,
    ).order_by()
    averages = {
        row["from_stage"]: (row["avg"], row["n"])
        for row in moves.values("from_stage").annotate(
            avg=Avg("seconds_in_from_stage"), n=Count("pk")
        )
    }
    middles: dict = {}
    ranked = moves.annotate(
        rn=Window(RowNumber(), partition_by=F("from_stage"), order_by="seconds_in_from_stage"),
        total=Window(Count("pk"), partition_by=F("from_stage")),
    )
    # The middle row (odd count) or the two middle rows (even): 2·rn ∈ [total, total + 2].
    for row in ranked.filter(rn__gte=F("total") / 2.0, rn__lte=F("total") / 2.0 + 1).values(
        "from_stage", "seconds_in_from_stage"
    ):
        middles.setdefault(row["from_stage"], []).append(row["seconds_in_from_stage"])
    result = {}
    for stage_id, (avg, n) in averages.items():
        middle = middles.get(stage_id) or []
        median = sum(middle) / len(middle) / DAY_SECONDS if middle else None
        result[stage_id] = (
            round(float(avg) / DAY_SECONDS, 1) if avg is not None else None,
            round(median, 1) if median is not None else None,
            n,
        )
    return result
