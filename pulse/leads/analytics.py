"""Conversion analytics of leads: rates by source, owner and month, time to convert,
the stage funnel, and the average score of converted versus lost leads.

Every number is an SQL aggregate over the leads the user may see (``restrict``) that
were created in the chosen date range: a handful of grouped queries whatever the
number of leads, never a Python loop over them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Lead, LeadSource, LeadStage, LeadStageChange, StageKind

MAX_RANGE_DAYS = 5 * 366  # at most 60 monthly buckets


@dataclass(frozen=True)
class RateRow:
    """One group of leads: how many were created, how many converted, the rate (0–100)."""

    key: str
    label: str
    total: int
    converted: int

    @property
    def rate(self) -> float:
        return round(100 * self.converted / self.total, 1) if self.total else 0.0


@dataclass(frozen=True)
class FunnelRow:
    stage: LeadStage
    reached: int


@dataclass
class ConversionAnalytics:
    date_from: datetime.date
    date_to: datetime.date
    total: int = 0
    converted: int = 0
    lost: int = 0
    avg_days_to_convert: float | None = None
    avg_score_converted: float | None = None
    avg_score_lost: float | None = None
    by_source: list[RateRow] = field(default_factory=list)
    by_owner: list[RateRow] = field(default_factory=list)
    by_month: list[RateRow] = field(default_factory=list)
    funnel: list[FunnelRow] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return round(100 * self.converted / self.total, 1) if self.total else 0.0

    def as_dict(self) -> dict:
        """The API shape (also the page's chart data)."""

        def rows(items):
            return [
                {
                    "key": r.key,
                    "label": r.label,
                    "total": r.total,
                    "converted": r.converted,
                    "rate": r.rate,
                }
                for r in items
            ]

        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "total": self.total,
            "converted": self.converted,
            "lost": self.lost,
            "rate": self.rate,
            "avg_days_to_convert": self.avg_days_to_convert,
            "avg_score_converted": self.avg_score_converted,
            "avg_score_lost": self.avg_score_lost,
            "by_source": rows(self.by_source),
            "by_owner": rows(self.by_owner),
            "by_month": rows(self.by_month),
            "funnel": [
                {
                    "key": f.stage.key,
                    "label": f.stage.name,
                    "kind": f.stage.kind,
                    "reached": f.reached,
                }
                for f in self.funnel
            ],
        }


def default_range(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The last twelve months: the first day of the month eleven months ago to today."""
    today = today or timezone.localdate()
    month = today.month - 11
    year = today.year
    while month < 1:
        month += 12
        year -= 1
    return datetime.date(year, month, 1), today


def _bounds(date_from: datetime.date, date_to: datetime.date):
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(date_from, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(
        date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    return start, end


def _months(date_from: datetime.date, date_to: datetime.date) -> list[datetime.date]:
    months, current = [], date_from.replace(day=1)
    while current <= date_to:
        months.append(current)
        current = (current + datetime.timedelta(days=32)).replace(day=1)
    return months


# Converted: by ``lead_convert`` (converted_at set), or moved into a converted-kind stage
# by hand (the pipeline and the scoring history do that); it then counts from the
# day it entered that stage.
_CONVERTED = Q(converted_at__isnull=False) | Q(stage__kind=StageKind.CONVERTED)
_CONVERTED_AT = Coalesce("converted_at", "stage_changed_at")


def conversion_analytics(
    *, user, date_from: datetime.date, date_to: datetime.date
) -> ConversionAnalytics:
    """Conversion numbers of the leads ``user`` may see created from ``date_from`` to
    ``date_to`` (inclusive, in the organization's time zone)."""
    start, end = _bounds(date_from, date_to)
    leads = Lead.objects.restrict(user, "view").filter(created_at__gte=start, created_at__lt=end)
    result = ConversionAnalytics(date_from=date_from, date_to=date_to)

    totals = leads.aggregate(
        total=Count("pk"),
        converted=Count("pk", filter=_CONVERTED),
        lost=Count("pk", filter=Q(stage__kind=StageKind.UNQUALIFIED, converted_at__isnull=True)),
        days=Avg(
            ExpressionWrapper(_CONVERTED_AT - F("created_at"), output_field=DurationField()),
            filter=_CONVERTED,
        ),
        score_converted=Avg("score", filter=_CONVERTED),
        score_lost=Avg(
            "score", filter=Q(stage__kind=StageKind.UNQUALIFIED, converted_at__isnull=True)
        ),
    )
    result.total, result.converted, result.lost = (
        totals["total"],
        totals["converted"],
        totals["lost"],
    )
    if totals["days"] is not None:
        days = totals["days"]
        if isinstance(days, datetime.timedelta):
            days = days.total_seconds() / 86400
        else:  # some backends hand back microseconds
            days = float(days) / 86_400_000_000
        result.avg_days_to_convert = round(days, 1)
    for name in ("score_converted", "score_lost"):
        if totals[name] is not None:
            setattr(result, f"avg_{name}", round(float(totals[name]), 1))

    sources = dict(LeadSource.choices)
    result.by_source = sorted(
        (
            RateRow(
                row["source"], str(sources.get(row["source"], row["source"])), row["n"], row["c"]
            )
            for row in leads.order_by()
            .values("source")
            .annotate(n=Count("pk"), c=Count("pk", filter=_CONVERTED))
        ),
        key=lambda r: (-r.total, r.label),
    )
    result.by_owner = sorted(
        (
            RateRow(
                str(row["assigned_to"] or ""),
                row["assigned_to__full_name"] or row["assigned_to__email"] or _("Unassigned"),
                row["n"],
                row["c"],
            )
            for row in leads.order_by()
            .values("assigned_to", "assigned_to__full_name", "assigned_to__email")
            .annotate(n=Count("pk"), c=Count("pk", filter=_CONVERTED))
        ),
        key=lambda r: (-r.total, r.label),
    )
    per_month = {
        (row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"]): row
        for row in leads.order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(n=Count("pk"), c=Count("pk", filter=_CONVERTED))
    }
    result.by_month = [
        RateRow(
            month.isoformat()[:7],
            month.strftime("%Y-%m"),
            per_month.get(month, {}).get("n", 0),
            per_month.get(month, {}).get("c", 0),
        )
        for month in _months(date_from, date_to)
    ]
    result.funnel = _funnel(leads, user)
    return result


def _funnel(leads, user) -> list[FunnelRow]:
    """Leads that reached each open or converted stage, or one after it (by position),
    from the stage history. One grouped query: leads by the furthest stage they reached.
    """
    stages = [
        s
        for s in LeadStage.objects.restrict(user, "view").order_by("position", "name")
        if s.kind != StageKind.UNQUALIFIED
    ]
    furthest = Subquery(
        LeadStageChange.objects.filter(lead=OuterRef("pk"))
        .exclude(to_stage__kind=StageKind.UNQUALIFIED)
        .order_by()
        .values("lead")
        .annotate(m=Max("to_stage__position"))
        .values("m")[:1]
    )
    counts = {
        row["furthest"]: row["n"]
        for row in leads.order_by()
        .annotate(furthest=furthest)
        .values("furthest")
        .annotate(n=Count("pk"))
        if row["furthest"] is not None
    }
    return [
        FunnelRow(stage, sum(n for position, n in counts.items() if position >= stage.position))
        for stage in stages
    ]
