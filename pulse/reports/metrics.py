"""Dashboard widgets: the catalogue of metrics and how each is computed.

Every widget computes one ``WidgetData`` for a ``DashboardContext``: whose numbers
(``scope``: me, a team, the whole organization, still limited by what the viewer may see)
and which period. Numbers are cached through ``pulse.reports.cache.cached_aggregate`` (a
minute at most, forgotten on any write). Each number links to the records behind it
(``link``: a filtered list page).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncDay, TruncMonth, TruncWeek
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .engine import ChartData
from .periods import DateSpan


@dataclass
class DashboardContext:
    """Whose numbers and when.

    ``owner_ids``: the users whose records count (``None`` = everyone the viewer may see);
    the rows are always ``Model.objects.restrict(user, "view")`` first, so a rep who picks
    "whole organization" under team visibility still sees only what they may see.
    """

    user: Any
    org: Any
    scope: str  # me · team · org
    owner_ids: list | None
    span: DateSpan
    team: Any = None
    scope_label: str = ""

    def cache_key(self, kind: str, options: dict | None = None) -> str:
        owners = "all" if self.owner_ids is None else ",".join(sorted(map(str, self.owner_ids)))
        opts = ",".join(f"{k}={v}" for k, v in sorted((options or {}).items()))
        return f"{kind}:{self.user.pk}:{owners}:{self.span.key}:{self.span.first}:{opts}"


@dataclass
class WidgetData:
    """What a widget shows: a headline number and/or a chart and/or a short list.

    ``value``     the headline, formatted (``"€ 1.2M"``, ``"34 %"``); ``number`` the raw value
    ``delta``     change against the previous period, in percent (``None``: not comparable)
    ``secondary`` a second line (``"weighted € 420k"``)
    ``rows``      a short list: ``[{"label": …, "value": …, "url": …, "detail": …}]``
    ``link``      the records behind the headline number
    ``empty``     a message when there is nothing to show yet
    """

    value: str = ""
    number: Any = None
    delta: float | None = None
    secondary: str = ""
    chart: ChartData | None = None
    rows: list[dict] = field(default_factory=list)
    link: str = ""
    empty: str = ""


@dataclass(frozen=True)
class WidgetSpec:
    """A kind of widget in the catalogue."""

    key: str
    label: str
    description: str
    compute: Callable[[DashboardContext, dict], WidgetData]
    group: str = ""  # leads · pipeline · forecast · activities · team · engagement
    default_width: int = 4
    default_period: str = "this_month"
    periodic: bool = True  # False: the widget ignores the period (overdue tasks, today)


WIDGETS: dict[str, WidgetSpec] = {}


def widget(key: str, label, description, **options):
    """Register the decorated ``compute(ctx, options) -> WidgetData`` as widget ``key``."""

    def register(compute):
        WIDGETS[key] = WidgetSpec(key, label, description, compute, **options)
        return compute

    return register


# The widgets a new dashboard starts with, in order: (kind, width, period).
DEFAULT_LAYOUT: list[tuple[str, int, str]] = [
    ("open_pipeline", 3, "this_quarter"),
    ("revenue_won", 3, "this_quarter"),
    ("win_rate", 3, "this_quarter"),
    ("new_leads", 3, "this_month"),
    ("pipeline_by_stage", 6, "this_quarter"),
    ("forecast_vs_quota", 6, "this_quarter"),
    ("my_tasks_today", 4, "today"),
    ("overdue_tasks", 4, "today"),
    ("upcoming_meetings", 4, "next_7_days"),
    ("leaderboard", 6, "this_quarter"),
    ("activities_by_type", 6, "this_month"),
]


def dashboard_context(
    *, user, org, scope: str = "me", team=None, period: str = "this_month", today=None
) -> DashboardContext:
    """Resolve scope and period for ``user`` (H4): a rep may pick "me" or their team;
    managers their teams; admins anyone. ``PermissionDeniedError`` otherwise.

    ``team`` is a ``Team`` or its id (a team scope without one means the viewer's first
    team); an unknown period, scope or team is an ``ApplicationError`` on that field.
    """
    from pulse.accounts.models import Role, Team
    from pulse.accounts.permissions import membership_for
    from pulse.core.errors import ApplicationError, PermissionDeniedError

    from .models import DashboardScope
    from .periods import period_span

    membership = membership_for(user, org)
    if membership is None:
        raise PermissionDeniedError(str(_("You are not a member of this organization.")))
    span = period_span(org, period, today=today)
    if scope not in DashboardScope.values:
        raise ApplicationError(
            errors={
                "scope": [
                    str(_("Unknown scope “%(value)s”. Use one of: %(known)s."))
                    % {"value": str(scope)[:40], "known": ", ".join(DashboardScope.values)}
                ]
            }
        )
    if scope == DashboardScope.ME:
        label = getattr(user, "full_name", "") or str(user)
        return DashboardContext(user, org, scope, [user.pk], span, None, label)
    if scope == DashboardScope.ORG:
        return DashboardContext(user, org, scope, None, span, None, org.name)

    teams = Team.objects.unscoped().filter(organization=org, deleted_at__isnull=True)
    if not membership.is_admin:
        mine = Q(members=user)
        if membership.role == Role.MANAGER:
            mine |= Q(manager=user)
        allowed = teams.filter(mine)
    else:
        allowed = teams
    if team is None or team == "":
        team = allowed.order_by("name").first()
        if team is None:
            raise ApplicationError(errors={"team": [str(_("You belong to no team."))]})
    else:
        team_id = getattr(team, "pk", team)
        try:
            team = teams.filter(pk=team_id).first()
        except (ValueError, TypeError, ValidationError):  # a malformed id
            team = None
        if team is None:
            raise ApplicationError(errors={"team": [str(_("Choose one of your teams."))]})
        if not allowed.filter(pk=team.pk).exists():
            raise PermissionDeniedError(str(_("You may not see the numbers of this team.")))
    owner_ids = list(
        Team.members.through.objects.filter(team_id=team.pk)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    return DashboardContext(user, org, scope, owner_ids, span, team, team.name)


def widget_data(kind: str, ctx: DashboardContext, options: dict | None = None) -> WidgetData:
    """The widget's data, cached (H4). Unknown kinds answer ``empty`` with a message."""
    from .cache import cached_aggregate

    spec = WIDGETS.get(kind)
    if spec is None:
        return WidgetData(empty=str(_("This widget no longer exists.")))
    options = dict(options or {})
    return cached_aggregate(
        ctx.org.pk, ctx.cache_key(kind, options), lambda: spec.compute(ctx, options)
    )


# --- leads (H4) ------------------------------------------------------------------------------
# new_leads · leads_by_source · lead_conversion_rate


CENT = Decimal("0.01")
ROWS_SHOWN = 5  # the short list under a headline number


def _scoped(model, ctx: DashboardContext, owner_field: str = "assigned_to"):
    """``model``'s rows the viewer may see, of the scope's owners."""
    qs = model.objects.restrict(ctx.user, "view")
    if ctx.owner_ids is not None:
        qs = qs.filter(**{f"{owner_field}__in": ctx.owner_ids})
    return qs.order_by()


def _link(name: str, ctx: DashboardContext | None = None, **params) -> str:
    """A list page filtered to the scope's owners and ``params`` (lists repeat)."""
    if ctx is not None and ctx.owner_ids is not None:
        params["assigned_to"] = list(ctx.owner_ids)
    params = {k: v for k, v in params.items() if v not in (None, "", [])}
    url = reverse(name)
    return f"{url}?{urlencode(params, doseq=True)}" if params else url


def _span_params(span, prefix: str) -> dict:
    """``<prefix>_after``/``<prefix>_before`` of a list's date-range filter."""
    return {
        f"{prefix}_after": span.first.isoformat() if span.first else None,
        f"{prefix}_before": span.last.isoformat() if span.last else None,
    }


def _delta(current, previous) -> float | None:
    """Change against the previous period in percent (None: nothing to compare with)."""
    if current is None or not previous:
        return None
    return round(float((Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)), 1)


def _count(n: int) -> str:
    return formats.number_format(n, 0, force_grouping=True)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{formats.number_format(value, 1)} %"


def _money(amount, currency: str) -> str:
    """Money in a tile: ``EUR 1.2M``, ``EUR 450k``, ``EUR 9,870`` (rounded half up)."""
    if amount is None:
        return "–"
    amount = Decimal(amount)
    size = abs(amount)
    if size >= 1_000_000:
        text = f"{formats.number_format(_round(amount / 1_000_000, '0.1'), 1)}M"
    elif size >= 100_000:
        text = f"{formats.number_format(_round(amount / 1000), 0, force_grouping=True)}k"
    else:
        text = formats.number_format(_round(amount), 0, force_grouping=True)
    return f"{currency} {text}"


def _round(amount: Decimal, step: str = "1") -> Decimal:
    # number_format cuts digits off; a tile should round (787.50 is 788, not 787).
    return amount.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def _rate(part, whole) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _day(value) -> datetime.date | None:
    return value.date() if isinstance(value, datetime.datetime) else value


def _buckets(span) -> tuple[str, Any]:
    """The chart's step for a span: days up to a month, weeks up to a year, else months."""
    if span.first is None or span.last is None:
        return "month", TruncMonth
    days = (span.last - span.first).days + 1
    if days <= 31:
        return "day", TruncDay
    if days <= 366:
        return "week", TruncWeek
    return "month", TruncMonth


def _bucket_labels(span, step: str, found) -> list[datetime.date]:
    """Every bucket of the span in order (empty ones too), or the found ones if open."""
    if span.first is None or span.last is None:
        return sorted(found)
    day = span.first
    if step == "week":
        day -= datetime.timedelta(days=day.weekday())
    elif step == "month":
        day = day.replace(day=1)
    out = []
    while day <= span.last:
        out.append(day)
        if step == "day":
            day += datetime.timedelta(days=1)
        elif step == "week":
            day += datetime.timedelta(days=7)
        else:
            day = (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    return out


def _time_chart(qs, field_name: str, span, label: str, chart_type: str = "bar") -> ChartData:
    """Rows of ``qs`` counted per day, week or month of ``span`` (the org's days)."""
    step, trunc = _buckets(span)
    counts = {
        _day(row["bucket"]): row["n"]
        for row in qs.annotate(bucket=trunc(field_name, tzinfo=span.zone))
        .values("bucket")
        .annotate(n=Count("pk"))
        .order_by()
    }
    days = _bucket_labels(span, step, counts)
    return ChartData(
        chart_type,
        [d.isoformat() for d in days],
        [{"label": label, "data": [counts.get(d, 0) for d in days]}],
    )


def _spans(ctx: DashboardContext):
    """(this period, the one before or None, the first moment of both)."""
    previous = ctx.span.previous()
    return ctx.span, previous, (previous or ctx.span).start


@widget(
    "new_leads",
    _("New leads"),
    _("Leads created in the period, against the period before, by day or week."),
    group="leads",
    default_width=3,
)
def new_leads(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.leads.models import Lead

    span, previous, since = _spans(ctx)
    qs = _scoped(Lead, ctx)
    both = qs.filter(**{"created_at__gte": since} if since else {})
    if span.end is not None:
        both = both.filter(created_at__lt=span.end)
    aggregates = {"now": Count("pk", filter=Q(**span.datetime_filter("created_at")))}
    if previous is not None:
        aggregates["before"] = Count("pk", filter=Q(**previous.datetime_filter("created_at")))
    counts = {"before": None, **both.aggregate(**aggregates)}
    chart = _time_chart(
        qs.filter(**span.datetime_filter("created_at")), "created_at", span, gettext("Leads")
    )
    return WidgetData(
        value=_count(counts["now"]),
        number=counts["now"],
        delta=_delta(counts["now"], counts["before"]),
        secondary=gettext("%(n)s the period before") % {"n": _count(counts["before"])}
        if previous
        else "",
        chart=chart,
        link=_link("leads:lead_list", ctx, **_span_params(span, "created")),
        empty="" if counts["now"] else gettext("No new leads in this period."),
    )


@widget(
    "leads_by_source",
    _("Leads by source"),
    _("Where the period's new leads came from."),
    group="leads",
)
def leads_by_source(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.leads.models import Lead, LeadSource

    labels = dict(LeadSource.choices)
    rows = list(
        _scoped(Lead, ctx)
        .filter(**ctx.span.datetime_filter("created_at"))
        .values("source")
        .annotate(n=Count("pk"))
        .order_by("-n", "source")
    )
    total = sum(r["n"] for r in rows)
    created = _span_params(ctx.span, "created")
    return WidgetData(
        value=_count(total),
        number=total,
        chart=ChartData(
            "pie",
            [str(labels.get(r["source"], r["source"] or gettext("Not recorded"))) for r in rows],
            [{"label": gettext("Leads"), "data": [r["n"] for r in rows]}],
        ),
        rows=[
            {
                "label": str(labels.get(r["source"], r["source"] or gettext("Not recorded"))),
                "value": r["n"],
                "detail": _percent(_rate(r["n"], total)),
                "url": _link("leads:lead_list", ctx, source=r["source"], **created),
            }
            for r in rows
        ],
        link=_link("leads:lead_list", ctx, **created),
        empty="" if total else gettext("No new leads in this period."),
    )


@widget(
    "lead_conversion_rate",
    _("Lead conversion rate"),
    _("Leads created in the period that were converted, in percent."),
    group="leads",
    default_width=3,
)
def lead_conversion_rate(ctx: DashboardContext, options: dict) -> WidgetData:
    # The same definition of "converted" as the leads' conversion analytics.
    from pulse.leads.analytics import _CONVERTED
    from pulse.leads.models import Lead

    span, previous, since = _spans(ctx)
    qs = _scoped(Lead, ctx)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if span.end is not None:
        qs = qs.filter(created_at__lt=span.end)
    now = Q(**span.datetime_filter("created_at"))
    aggregates = {
        "total": Count("pk", filter=now),
        "converted": Count("pk", filter=now & _CONVERTED),
    }
    if previous is not None:
        before = Q(**previous.datetime_filter("created_at"))
        aggregates["total_before"] = Count("pk", filter=before)
        aggregates["converted_before"] = Count("pk", filter=before & _CONVERTED)
    counts = {"total_before": 0, "converted_before": 0, **qs.aggregate(**aggregates)}
    rate = _rate(counts["converted"], counts["total"])
    rate_before = _rate(counts["converted_before"], counts["total_before"])
    created = _span_params(span, "created")
    return WidgetData(
        value=_percent(rate),
        number=rate,
        delta=_delta(rate, rate_before),
        secondary=gettext("%(converted)s of %(total)s leads")
        % {"converted": _count(counts["converted"]), "total": _count(counts["total"])},
        link=_link("leads:lead_list", ctx, converted="true", **created),
        empty="" if counts["total"] else gettext("No new leads in this period."),
    )


# --- pipeline (H4) ---------------------------------------------------------------------------
# open_pipeline (unweighted + weighted) · pipeline_by_stage (funnel) · deals_won_lost ·
# revenue_won · win_rate · avg_deal_size · avg_sales_cycle · pipeline_velocity


class _Money:
    """Sums in the organization's currency (``pulse.currencies``): open deals at today's
    rate, won and lost ones at the rate of their close day; counts what has no rate."""

    def __init__(self, org):
        from pulse.currencies.selectors import converter

        self.conv = converter(org)
        self.base = org.default_currency
        self.unconverted = 0  # deals left out of a total: their currency has no rate

    def __call__(self, amount, currency: str, on=None, deals: int = 0) -> Decimal | None:
        amount = Decimal(amount or 0)
        if currency == self.base or not currency:
            return amount.quantize(CENT)
        converted = self.conv.convert(amount, currency, on or timezone.localdate()).amount
        if converted is None:
            self.unconverted += deals
        return converted

    def notice(self) -> str:
        if not self.unconverted:
            return ""
        return gettext("%(n)s deals left out: no exchange rate for their currency.") % {
            "n": _count(self.unconverted)
        }


def _rate_day(base: str):
    """The close day of a deal in a foreign currency (its rate's day); NULL for deals in
    the organization's currency, so those collapse into one group per owner and status."""
    return Case(
        When(currency=base, then=Value(None, output_field=DateField())),
        default=F("actual_close_date"),
        output_field=DateField(),
    )


@dataclass
class _Closed:
    """Won and lost deals closed in a span (values in the organization's currency)."""

    won: int = 0
    lost: int = 0
    won_value: Decimal = Decimal("0")
    lost_value: Decimal = Decimal("0")
    won_converted: int = 0  # won deals whose value is in ``won_value``

    @property
    def win_rate(self) -> float | None:
        return _rate(self.won, self.won + self.lost)

    @property
    def avg_size(self) -> Decimal | None:
        if not self.won_converted:
            return None
        return (self.won_value / self.won_converted).quantize(CENT)


def _closed(ctx: DashboardContext, money: _Money) -> tuple[_Closed, _Closed | None]:
    """(this period, the period before or None): one grouped query over both."""
    from pulse.opportunities.models import Opportunity, StageType

    span, previous, _since = _spans(ctx)
    first = (previous or span).first
    qs = _scoped(Opportunity, ctx).filter(status__in=(StageType.WON, StageType.LOST))
    if first is not None:
        qs = qs.filter(actual_close_date__gte=first)
    if span.last is not None:
        qs = qs.filter(actual_close_date__lte=span.last)
    now = Q(**span.date_filter("actual_close_date"))
    aggregates = {"n": Count("pk", filter=now), "v": Sum("value", filter=now)}
    if previous is not None:
        before = Q(**previous.date_filter("actual_close_date"))
        aggregates |= {
            "n_before": Count("pk", filter=before),
            "v_before": Sum("value", filter=before),
        }
    rows = (
        qs.annotate(rate_on=_rate_day(money.base))
        .values("status", "currency", "rate_on")
        .annotate(**aggregates)
        .order_by()
    )
    current, earlier = _Closed(), _Closed() if previous is not None else None
    for row in rows:
        for result, suffix in ((current, ""), (earlier, "_before")):
            if result is None or not row[f"n{suffix}"]:
                continue
            n = row[f"n{suffix}"]
            amount = money(row[f"v{suffix}"], row["currency"], row["rate_on"], n)
            if row["status"] == StageType.WON:
                result.won += n
                if amount is not None:
                    result.won_value += amount
                    result.won_converted += n
            else:
                result.lost += n
                if amount is not None:
                    result.lost_value += amount
    return current, earlier


def _deal_link(ctx: DashboardContext, status=None, span=None, **params) -> str:
    if span is not None:
        params["closed_from"] = span.first.isoformat() if span.first else None
        params["closed_to"] = span.last.isoformat() if span.last else None
    return _link("opportunities:opportunity_list", ctx, status=status, **params)


@widget(
    "open_pipeline",
    _("Open pipeline"),
    _("The value of the open deals today, and weighted by their probability."),
    group="pipeline",
    default_width=3,
    periodic=False,
)
def open_pipeline(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import Opportunity, StageType

    money = _Money(ctx.org)
    weighted = ExpressionWrapper(
        F("value") * F("probability") / 100,
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    count, total, total_weighted = 0, Decimal("0"), Decimal("0")
    for row in (
        _scoped(Opportunity, ctx)
        .filter(status=StageType.OPEN)
        .values("currency")
        .annotate(n=Count("pk"), v=Sum("value"), w=Sum(weighted))
        .order_by()
    ):
        count += row["n"]
        value = money(row["v"], row["currency"], deals=row["n"])
        if value is None:
            continue
        total += value
        total_weighted += money(row["w"], row["currency"]) or 0
    total_weighted = Decimal(total_weighted).quantize(CENT)
    return WidgetData(
        value=_money(total, money.base),
        number=str(total),
        secondary=gettext("weighted %(value)s · %(n)s deals")
        % {"value": _money(total_weighted, money.base), "n": _count(count)},
        rows=[
            {"label": gettext("Open deals"), "value": count},
            {"label": gettext("Weighted value"), "value": _money(total_weighted, money.base)},
        ],
        link=_deal_link(ctx, StageType.OPEN),
        empty=money.notice() if count else gettext("No open deals."),
    )


def _pipeline_of(org, options: dict):
    """The pipeline ``options["pipeline"]`` names, else the default one (else the first)."""
    from pulse.opportunities.selectors import pipelines_of

    pipelines = pipelines_of(org)
    wanted = str(options.get("pipeline") or "")
    chosen = next((p for p in pipelines if str(p.pk) == wanted), None)
    return (
        chosen
        or next((p for p in pipelines if p.is_default), None)
        or (pipelines[0] if pipelines else None)
    )


@widget(
    "pipeline_by_stage",
    _("Pipeline by stage"),
    _("Open deals in each stage of a pipeline: how many and their value (a funnel)."),
    group="pipeline",
    default_width=6,
    periodic=False,
)
def pipeline_by_stage(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import Opportunity, StageType

    pipeline = _pipeline_of(ctx.org, options)
    if pipeline is None:
        return WidgetData(empty=gettext("No pipeline yet."))
    money = _Money(ctx.org)
    stages = [s for s in pipeline.stage_list if s.type == StageType.OPEN]
    counts: dict = {s.pk: 0 for s in stages}
    values: dict = {s.pk: Decimal("0") for s in stages}
    for row in (
        # A deal in an open stage is open: no status test, so the grouping is an
        # index-only scan of ``opp_org_stage_totals`` (organization, stage, currency).
        _scoped(Opportunity, ctx)
        .filter(stage__in=[s.pk for s in stages])
        .values("stage", "currency")
        .annotate(n=Count("pk"), v=Sum("value"))
        .order_by()
    ):
        counts[row["stage"]] += row["n"]
        value = money(row["v"], row["currency"], deals=row["n"])
        if value is not None:
            values[row["stage"]] += value
    total = sum(values.values(), Decimal("0"))
    return WidgetData(
        value=_money(total, money.base),
        number=str(total),
        secondary=gettext("%(n)s open deals in %(pipeline)s")
        % {"n": _count(sum(counts.values())), "pipeline": pipeline.name},
        chart=ChartData(
            "funnel",
            [s.name for s in stages],
            [{"label": gettext("Value"), "data": [float(values[s.pk]) for s in stages]}],
            value_format="money",
            currency=money.base,
        ),
        rows=[
            {
                "label": s.name,
                "value": counts[s.pk],
                "detail": _money(values[s.pk], money.base),
                "url": _deal_link(ctx, StageType.OPEN, pipeline=str(pipeline.pk), stage=str(s.pk)),
            }
            for s in stages
        ],
        link=_deal_link(ctx, StageType.OPEN, pipeline=str(pipeline.pk)),
        empty=money.notice() if sum(counts.values()) else gettext("No open deals."),
    )


@widget(
    "deals_won_lost",
    _("Deals won and lost"),
    _("Deals closed in the period: how many were won and lost, and their value."),
    group="pipeline",
)
def deals_won_lost(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import StageType

    money = _Money(ctx.org)
    now, _before = _closed(ctx, money)
    return WidgetData(
        value=gettext("%(won)s won · %(lost)s lost")
        % {"won": _count(now.won), "lost": _count(now.lost)},
        number=now.won,
        secondary=gettext("won %(won)s · lost %(lost)s")
        % {"won": _money(now.won_value, money.base), "lost": _money(now.lost_value, money.base)},
        chart=ChartData(
            "bar",
            [gettext("Won"), gettext("Lost")],
            [{"label": gettext("Deals"), "data": [now.won, now.lost]}],
        ),
        rows=[
            {
                "label": gettext("Won"),
                "value": now.won,
                "detail": _money(now.won_value, money.base),
                "url": _deal_link(ctx, StageType.WON, ctx.span),
            },
            {
                "label": gettext("Lost"),
                "value": now.lost,
                "detail": _money(now.lost_value, money.base),
                "url": _deal_link(ctx, StageType.LOST, ctx.span),
            },
        ],
        link=_deal_link(ctx, [StageType.WON, StageType.LOST], ctx.span),
        empty=money.notice() if now.won + now.lost else gettext("No deals closed in this period."),
    )


@widget(
    "revenue_won",
    _("Revenue won"),
    _("The value of the deals won in the period, against the period before."),
    group="pipeline",
    default_width=3,
)
def revenue_won(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import StageType

    money = _Money(ctx.org)
    now, before = _closed(ctx, money)
    return WidgetData(
        value=_money(now.won_value, money.base),
        number=str(now.won_value),
        delta=_delta(now.won_value, before.won_value if before else None),
        secondary=gettext("%(n)s deals won") % {"n": _count(now.won)},
        link=_deal_link(ctx, StageType.WON, ctx.span),
        empty=money.notice() if now.won else gettext("No deals won in this period."),
    )


@widget(
    "win_rate",
    _("Win rate"),
    _("Deals won of the deals closed in the period, in percent."),
    group="pipeline",
    default_width=3,
)
def win_rate(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import StageType

    now, before = _closed(ctx, _Money(ctx.org))
    return WidgetData(
        value=_percent(now.win_rate),
        number=now.win_rate,
        delta=_delta(now.win_rate, before.win_rate if before else None),
        secondary=gettext("%(won)s won of %(closed)s closed")
        % {"won": _count(now.won), "closed": _count(now.won + now.lost)},
        link=_deal_link(ctx, [StageType.WON, StageType.LOST], ctx.span),
        empty="" if now.won + now.lost else gettext("No deals closed in this period."),
    )


@widget(
    "avg_deal_size",
    _("Average deal size"),
    _("The average value of the deals won in the period."),
    group="pipeline",
    default_width=3,
)
def avg_deal_size(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import StageType

    money = _Money(ctx.org)
    now, before = _closed(ctx, money)
    return WidgetData(
        value=_money(now.avg_size, money.base),
        number=None if now.avg_size is None else str(now.avg_size),
        delta=_delta(now.avg_size, before.avg_size if before else None),
        secondary=gettext("%(n)s deals won") % {"n": _count(now.won)},
        link=_deal_link(ctx, StageType.WON, ctx.span),
        empty=money.notice() if now.won else gettext("No deals won in this period."),
    )


def _as_days(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() / 86400, 1)
    return round(float(value) / 86_400_000_000, 1)  # some backends answer microseconds


@widget(
    "avg_sales_cycle",
    _("Average sales cycle"),
    _("Days from creation to close of the deals won in the period."),
    group="pipeline",
    default_width=3,
)
def avg_sales_cycle(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.models import Opportunity, StageType

    span, previous, _since = _spans(ctx)
    cycle = ExpressionWrapper(
        F("actual_close_date") - TruncDate("created_at", tzinfo=span.zone),
        output_field=DurationField(),
    )
    qs = _scoped(Opportunity, ctx).filter(status=StageType.WON)
    first = (previous or span).first
    if first is not None:
        qs = qs.filter(actual_close_date__gte=first)
    if span.last is not None:
        qs = qs.filter(actual_close_date__lte=span.last)
    now = Q(**span.date_filter("actual_close_date"))
    aggregates = {"days": Avg(cycle, filter=now), "n": Count("pk", filter=now)}
    if previous is not None:
        aggregates["days_before"] = Avg(
            cycle, filter=Q(**previous.date_filter("actual_close_date"))
        )
    result = {"days_before": None, **qs.aggregate(**aggregates)}
    days, days_before = _as_days(result["days"]), _as_days(result["days_before"])
    return WidgetData(
        value="–"
        if days is None
        else gettext("%(days)s days") % {"days": formats.number_format(days, 1)},
        number=days,
        delta=_delta(days, days_before),
        secondary=gettext("%(n)s deals won") % {"n": _count(result["n"])},
        link=_deal_link(ctx, StageType.WON, span),
        empty="" if result["n"] else gettext("No deals won in this period."),
    )


@widget(
    "pipeline_velocity",
    _("Pipeline velocity"),
    _("What the open pipeline turns into per day: open value × win rate ÷ sales cycle."),
    group="pipeline",
    default_width=3,
)
def pipeline_velocity(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.analytics import AnalysisFilters
    from pulse.opportunities.analytics import pipeline_velocity as velocity_of
    from pulse.opportunities.models import StageType

    from .periods import org_today

    span = ctx.span
    today = org_today(ctx.org)
    filters = AnalysisFilters(
        date_from=span.first or datetime.date(2000, 1, 1),
        date_to=span.last or today,
        owner=ctx.user if ctx.scope == "me" else None,
        team=ctx.team if ctx.scope == "team" else None,
    )
    velocity = velocity_of(user=ctx.user, org=ctx.org, filters=filters)
    per_day = velocity.per_day
    base = ctx.org.default_currency
    return WidgetData(
        value="–"
        if per_day is None
        else gettext("%(value)s / day") % {"value": _money(per_day, base)},
        number=None if per_day is None else str(per_day),
        secondary=gettext("%(n)s open · %(rate)s won · %(days)s days cycle")
        % {
            "n": _count(velocity.open_count),
            "rate": _percent(velocity.win_rate),
            "days": "–"
            if velocity.avg_cycle_days is None
            else formats.number_format(velocity.avg_cycle_days, 1),
        },
        rows=[
            {"label": gettext("Open deals"), "value": velocity.open_count},
            {"label": gettext("Open value"), "value": str(velocity.open_value)},
            {"label": gettext("Win rate"), "value": velocity.win_rate},
            {"label": gettext("Sales cycle (days)"), "value": velocity.avg_cycle_days},
        ],
        link=_deal_link(ctx, StageType.OPEN),
        empty="" if per_day is not None else gettext("Not enough closed deals to tell."),
    )


# --- forecast (H4) ---------------------------------------------------------------------------
# forecast_vs_quota


@widget(
    "forecast_vs_quota",
    _("Forecast vs quota"),
    _("Won, commit and best case of the current fiscal period against the quota."),
    group="forecast",
    default_width=6,
    default_period="this_quarter",
)
def forecast_vs_quota(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.opportunities.forecast import fiscal_year_of, forecast

    from .periods import org_today

    key = ctx.span.key
    kind = "month" if "month" in key else "year" if key.endswith("year") else "quarter"
    day = org_today(ctx.org)
    if key.startswith("last_") and ctx.span.first is not None:
        day = ctx.span.first
    result = forecast(
        ctx.org,
        ctx.user,
        period=kind,
        year=fiscal_year_of(ctx.org, day),
        team=ctx.team if ctx.scope == "team" else None,
        assigned_to=ctx.user if ctx.scope == "me" else None,
    )
    fp = next(p for p in result.periods if p.start <= day <= p.end)
    f = fp.total
    base = result.currency
    expected = f.closed_won + f.commit + f.best_case
    link = _deal_link(
        ctx,
        None,
        close_from=fp.start.isoformat(),
        close_to=fp.end.isoformat(),
        forecast_category=["commit", "best_case"],
    )
    return WidgetData(
        value=_money(f.closed_won, base),
        number=str(f.closed_won),
        secondary=(
            gettext("%(attainment)s of quota %(quota)s · %(period)s")
            % {
                "attainment": _percent(None if f.attainment is None else float(f.attainment)),
                "quota": _money(f.quota, base),
                "period": fp.label,
            }
            if f.quota is not None
            else gettext("No quota set for %(period)s") % {"period": fp.label}
        ),
        chart=ChartData(
            "bar",
            [gettext("Won"), gettext("Commit"), gettext("Best case"), gettext("Quota")],
            [
                {
                    "label": fp.label,
                    "data": [
                        float(f.closed_won),
                        float(f.commit),
                        float(f.best_case),
                        None if f.quota is None else float(f.quota),
                    ],
                }
            ],
            value_format="money",
            currency=base,
        ),
        rows=[
            {
                "label": gettext("Won"),
                "value": _money(f.closed_won, base),
                "detail": _count(f.won_count),
                "url": _deal_link(
                    ctx, "won", closed_from=fp.start.isoformat(), closed_to=fp.end.isoformat()
                ),
            },
            {
                "label": gettext("Commit"),
                "value": _money(f.commit, base),
                "detail": _count(f.commit_count),
            },
            {
                "label": gettext("Best case"),
                "value": _money(f.best_case, base),
                "detail": _count(f.best_case_count),
            },
            {"label": gettext("Won + commit + best case"), "value": _money(expected, base)},
            {
                "label": gettext("Quota"),
                "value": None if f.quota is None else _money(f.quota, base),
            },
        ],
        link=link,
    )


# --- activities (H4) -------------------------------------------------------------------------
# activities_by_type (by type and user) · overdue_tasks · my_tasks_today · upcoming_meetings

MAX_USERS_CHARTED = 10


def _activity_widget(qs, n: int, order: tuple[str, ...], link: str, empty: str) -> WidgetData:
    """A count of activities with the first few of ``qs`` listed, or ``empty`` when none."""
    return WidgetData(
        value=_count(n),
        number=n,
        rows=_activity_rows(qs, order) if n else [],
        link=link,
        empty="" if n else empty,
    )


def _activity_rows(qs, order: tuple[str, ...]) -> list[dict]:
    from pulse.activities.models import ActivityType

    types = dict(ActivityType.choices)
    return [
        {
            "label": a.subject,
            "value": formats.date_format(a.due_date, "SHORT_DATE_FORMAT")
            if a.due_date
            else (
                formats.date_format(timezone.localtime(a.scheduled_at), "SHORT_DATETIME_FORMAT")
                if a.scheduled_at
                else ""
            ),
            "detail": str(types.get(a.type, a.type)),
            "url": a.get_absolute_url(),
        }
        for a in qs.only("id", "subject", "type", "due_date", "scheduled_at").order_by(*order)[
            :ROWS_SHOWN
        ]
    ]


@widget(
    "activities_by_type",
    _("Activities by type and person"),
    _("Calls, emails, meetings, tasks and notes of the period, per person."),
    group="activities",
    default_width=6,
)
def activities_by_type(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.activities.models import Activity, ActivityType

    per_user: dict = {}
    names: dict = {}
    for row in (
        _scoped(Activity, ctx)
        .filter(**ctx.span.datetime_filter("occurred_at"))
        .values("assigned_to", "assigned_to__full_name", "assigned_to__email", "type")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        key = row["assigned_to"]
        names[key] = (
            row["assigned_to__full_name"] or row["assigned_to__email"] or gettext("Unassigned")
        )
        per_user.setdefault(key, {})[row["type"]] = row["n"]
    ranked = sorted(per_user, key=lambda k: (-sum(per_user[k].values()), names[k]))
    shown = ranked[:MAX_USERS_CHARTED]
    total = sum(sum(c.values()) for c in per_user.values())
    occurred = _span_params(ctx.span, "occurred")
    return WidgetData(
        value=_count(total),
        number=total,
        chart=ChartData(
            "bar",
            [names[k] for k in shown],
            [
                {
                    "label": str(label),
                    "data": [per_user[k].get(value, 0) for k in shown],
                    "stack": "types",
                }
                for value, label in ActivityType.choices
            ],
        ),
        rows=[
            {
                "label": names[k],
                "value": sum(per_user[k].values()),
                "url": _link(
                    "activities:activity_list",
                    None,
                    assigned_to=[k] if k is not None else None,
                    **occurred,
                ),
            }
            for k in shown
        ],
        link=_link("activities:activity_list", ctx, **occurred),
        empty="" if total else gettext("No activities in this period."),
    )


@widget(
    "overdue_tasks",
    _("Overdue tasks"),
    _("Pending activities whose due day or start has passed, the oldest first."),
    group="activities",
    periodic=False,
    default_period="today",
)
def overdue_tasks(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.activities.models import Activity
    from pulse.activities.selectors import overdue_condition, overdue_total

    now = timezone.now()
    scoped = _scoped(Activity, ctx)
    n = overdue_total(scoped, now)
    return _activity_widget(
        scoped.filter(overdue_condition(now)),
        n,
        ("due_date", "scheduled_at", "id"),
        _link("activities:activity_list", ctx, overdue="true"),
        gettext("Nothing overdue."),
    )


@widget(
    "my_tasks_today",
    _("Tasks today"),
    _("Pending activities due or scheduled today."),
    group="activities",
    periodic=False,
    default_period="today",
)
def my_tasks_today(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.activities.models import Activity, ActivityStatus

    from .periods import period_span

    today = period_span(ctx.org, "today")
    qs = _scoped(Activity, ctx).filter(
        Q(due_date=today.first) | Q(due_date__isnull=True, **today.datetime_filter("scheduled_at")),
        status=ActivityStatus.PENDING,
    )
    return _activity_widget(
        qs,
        qs.count(),
        ("scheduled_at", "due_date", "id"),
        _link("activities:activity_list", ctx, status="pending", **_span_params(today, "due")),
        gettext("Nothing due today."),
    )


@widget(
    "upcoming_meetings",
    _("Upcoming meetings"),
    _("Meetings in the next seven days."),
    group="activities",
    periodic=False,
    default_period="next_7_days",
)
def upcoming_meetings(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.activities.models import Activity, ActivityStatus, ActivityType

    now = timezone.now()
    qs = _scoped(Activity, ctx).filter(
        type=ActivityType.MEETING,
        status=ActivityStatus.PENDING,
        scheduled_at__gte=now,
        scheduled_at__lt=now + datetime.timedelta(days=7),
    )
    n = qs.count()
    week = DateSpan(
        "next_7_days",
        "",
        timezone.localdate(now),
        timezone.localdate(now) + datetime.timedelta(days=7),
    )
    return _activity_widget(
        qs,
        n,
        ("scheduled_at", "id"),
        _link(
            "activities:activity_list",
            ctx,
            type="meeting",
            status="pending",
            **_span_params(week, "occurred"),
        ),
        gettext("No meetings in the next seven days."),
    )


# --- team (H4) -------------------------------------------------------------------------------
# leaderboard (won revenue, deals, activities per rep)

LEADERBOARD_SIZE = 10


@widget(
    "leaderboard",
    _("Leaderboard"),
    _("Per person: revenue and deals won and activities completed in the period (top 10)."),
    group="team",
    default_width=6,
)
def leaderboard(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.accounts.models import User
    from pulse.activities.models import Activity, ActivityStatus
    from pulse.opportunities.models import Opportunity, StageType

    money = _Money(ctx.org)
    people: dict = {}

    def person(user_id) -> dict:
        return people.setdefault(user_id, {"revenue": Decimal("0"), "won": 0, "activities": 0})

    for row in (
        _scoped(Opportunity, ctx)
        .filter(
            status=StageType.WON,
            assigned_to__isnull=False,
            **ctx.span.date_filter("actual_close_date"),
        )
        .annotate(rate_on=_rate_day(money.base))
        .values("assigned_to", "currency", "rate_on")
        .annotate(n=Count("pk"), v=Sum("value"))
        .order_by()
    ):
        entry = person(row["assigned_to"])
        entry["won"] += row["n"]
        amount = money(row["v"], row["currency"], row["rate_on"], row["n"])
        if amount is not None:
            entry["revenue"] += amount
    for row in (
        _scoped(Activity, ctx)
        .filter(
            status=ActivityStatus.COMPLETED,
            assigned_to__isnull=False,
            **ctx.span.datetime_filter("occurred_at"),
        )
        .values("assigned_to")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        person(row["assigned_to"])["activities"] += row["n"]
    top = sorted(
        people.items(),
        key=lambda item: (-item[1]["revenue"], -item[1]["won"], -item[1]["activities"], item[0]),
    )[:LEADERBOARD_SIZE]
    names = (
        dict(User.objects.filter(pk__in=[k for k, _v in top]).values_list("pk", "full_name"))
        if top
        else {}
    )
    base = money.base
    closed = {"closed_from": ctx.span.first, "closed_to": ctx.span.last}
    closed = {k: v.isoformat() for k, v in closed.items() if v}
    return WidgetData(
        value=names.get(top[0][0], "") if top else "",
        number=str(top[0][1]["revenue"]) if top else None,
        chart=ChartData(
            "bar",
            [names.get(k) or str(k) for k, _v in top],
            [{"label": gettext("Revenue won"), "data": [float(v["revenue"]) for _k, v in top]}],
            value_format="money",
            currency=base,
        ),
        rows=[
            {
                "label": names.get(k) or str(k),
                "value": _money(v["revenue"], base),
                "detail": gettext("%(won)s won · %(activities)s activities")
                % {"won": _count(v["won"]), "activities": _count(v["activities"])},
                "won": v["won"],
                "activities": v["activities"],
                "url": _link(
                    "opportunities:opportunity_list", None, status="won", assigned_to=[k], **closed
                ),
            }
            for k, v in top
        ],
        link=_deal_link(ctx, StageType.WON, ctx.span),
        empty=money.notice() if top else gettext("Nothing won or done in this period yet."),
    )


# --- engagement (H4) -------------------------------------------------------------------------
# inactive_contacts (no activity in N days; options {"days": 30}) · top_engaged_contacts

MAX_INACTIVE_DAYS = 3650


def _days_option(options: dict, default: int = 30) -> int:
    try:
        days = int(options.get("days", default))
    except (TypeError, ValueError):
        return default
    return min(max(days, 1), MAX_INACTIVE_DAYS)


@widget(
    "inactive_contacts",
    _("Contacts gone quiet"),
    _("Contacts with no activity in the last N days (30 unless set)."),
    group="engagement",
    periodic=False,
    default_period="today",
)
def inactive_contacts(ctx: DashboardContext, options: dict) -> WidgetData:
    from django.db.models import Exists, OuterRef

    from pulse.activities.models import Activity
    from pulse.contacts.models import Contact

    days = _days_option(options)
    since = timezone.now() - datetime.timedelta(days=days)
    recent = Activity.objects.filter(
        contact=OuterRef("pk"), occurred_at__gte=since, deleted_at__isnull=True
    )
    qs = _scoped(Contact, ctx).filter(~Exists(recent))
    n = qs.count()
    rows = (
        [
            {"label": str(c), "value": "", "url": c.get_absolute_url()}
            for c in qs.only("id", "first_name", "last_name", "email").order_by("created_at", "id")[
                :ROWS_SHOWN
            ]
        ]
        if n
        else []
    )
    return WidgetData(
        value=_count(n),
        number=n,
        secondary=gettext("no activity in %(days)s days") % {"days": days},
        rows=rows,
        link=_link("contacts:contact_list", ctx),
        empty="" if n else gettext("Every contact had an activity lately."),
    )


@widget(
    "top_engaged_contacts",
    _("Most engaged contacts"),
    _("The contacts with the most activities in the period."),
    group="engagement",
)
def top_engaged_contacts(ctx: DashboardContext, options: dict) -> WidgetData:
    from pulse.activities.models import Activity
    from pulse.contacts.models import Contact

    qs = Activity.objects.restrict(ctx.user, "view").filter(
        contact__isnull=False, **ctx.span.datetime_filter("occurred_at")
    )
    if ctx.owner_ids is not None:
        qs = qs.filter(contact__assigned_to__in=ctx.owner_ids)
    top = list(
        qs.values("contact").annotate(n=Count("pk")).order_by("-n", "contact")[:LEADERBOARD_SIZE]
    )
    contacts = (
        Contact.objects.restrict(ctx.user, "view")
        .filter(pk__in=[r["contact"] for r in top])
        .only("id", "first_name", "last_name", "email")
        .in_bulk()
        if top
        else {}
    )
    rows = [
        {
            "label": str(contacts[r["contact"]]),
            "value": r["n"],
            "url": contacts[r["contact"]].get_absolute_url(),
        }
        for r in top
        if r["contact"] in contacts
    ]
    return WidgetData(
        value=rows[0]["label"] if rows else "",
        number=rows[0]["value"] if rows else None,
        chart=ChartData(
            "bar",
            [r["label"] for r in rows],
            [{"label": gettext("Activities"), "data": [r["value"] for r in rows]}],
        ),
        rows=rows,
        link=_link("contacts:contact_list", ctx),
        empty="" if rows else gettext("No activities with contacts in this period."),
    )


_ = _  # gettext_lazy is used by the sections' @widget labels


# --- recent changes (H5) ---------------------------------------------------------------------
# recent_changes: the change-log feed the home page used to show (``pulse.audit``)


@widget(
    "recent_changes",
    _("Recent changes"),
    _("The latest changes to records (everyone's for admins, your own otherwise)."),
    group="activities",
    default_width=6,
    periodic=False,
)
def recent_changes_widget(ctx: DashboardContext, options: dict) -> WidgetData:
    from django.utils.timesince import timesince
    from django.utils.translation import gettext

    from pulse.audit.selectors import recent_changes

    try:
        limit = max(1, min(int(options.get("limit", 8)), 20))
    except (TypeError, ValueError):
        limit = 8
    rows = [
        {
            "label": " ".join(
                [
                    str(entry.actor or gettext("System")),
                    entry.get_action_display().lower(),
                    str(entry.content_type.name),
                    entry.object_repr,
                ]
            ),
            "value": "",
            "detail": gettext("%(time)s ago") % {"time": timesince(entry.created_at)},
            "url": "",
        }
        for entry in recent_changes(user=ctx.user, limit=limit)
    ]
    return WidgetData(rows=rows, empty="" if rows else gettext("Nothing has changed yet."))


DEFAULT_LAYOUT.append(("recent_changes", 6, "this_month"))  # the old home page's feed
