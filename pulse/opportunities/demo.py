"""Demo opportunities for ``manage.py seed_demo``: three pipelines, about 150 deals with a
year of stage history, line items, contact roles, exchange rates, quotas and weekly
forecast snapshots.

``seed`` runs inside ``tenant_context(org, actor=owner)``. Deals are made and moved
through the services (so they validate, and their history and change log are real),
then their dates are spread over the past year with queryset ``update()`` calls: demo
staging, not anyone's change, so it stays out of the change log.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

# (pipeline name, deals, median value in EUR, what the deals are called)
PIPELINES = (
    (
        "New business",
        80,
        15_000,
        ("CRM roll-out", "Sales team licences", "Pilot project", "Support desk", "Data migration"),
    ),
    ("Renewals", 45, 8_000, ("Annual renewal", "Renewal and upsell", "Two-year renewal")),
    ("Partners", 25, 30_000, ("Reseller agreement", "Referral partnership", "OEM licence")),
)
# Outcome mix of the demo deals: about half still open, the rest won or lost.
OUTCOMES = (("open", 50), ("won", 24), ("lost", 26))
# Where open deals sit (index into the open stages), and how far lost ones got.
OPEN_AT = (34, 28, 22, 16)
LOST_FROM = (30, 30, 25, 15)
# Deal currencies (the demo organization reports in EUR).
CURRENCIES = (("EUR", 78), ("USD", 15), ("GBP", 7))
# 1 USD / 1 GBP in EUR, twelve months ago; the monthly rates drift from there.
RATES_A_YEAR_AGO = {"USD": Decimal("0.9210"), "GBP": Decimal("1.1820")}
SOURCES = ("web_form", "referral", "event", "campaign", "manual", "email", "social")
COMPETITORS = ("Salesforce", "HubSpot", "Pipedrive", "Zoho")
PRODUCTS = (
    ("PulseCRM Professional (seat, 1 year)", Decimal("420.00"), (5, 10, 20, 25, 40, 60)),
    ("PulseCRM Enterprise (seat, 1 year)", Decimal("780.00"), (10, 20, 35, 50)),
    ("Onboarding package", Decimal("2500.00"), (1,)),
    ("Data migration", Decimal("4800.00"), (1,)),
    ("Premium support (1 year)", Decimal("3600.00"), (1,)),
    ("Training day", Decimal("1200.00"), (1, 2, 3)),
)
ROLES = ("decision_maker", "champion", "influencer", "user")
NOTES = (
    "",
    "",
    "Demo went well.",
    "Budget confirmed.",
    "Waiting for legal review.",
    "Sent the revised proposal.",
    "Procurement asked for a discount.",
)


@dataclass
class DemoDeal:
    """One planned deal: its path through the stages and when each move happened."""

    opportunity: object
    stages: list
    moments: list  # datetime of each entry into ``stages[i]`` (the first: creation)
    close_date: datetime.date | None = None
    rotting: bool = False


def seed(org, users, rng) -> None:
    """Everything the opportunity screens show, for the demo organization."""
    pipelines = seed_pipelines(org, users)
    seed_exchange_rates(org, users, rng)
    deals = seed_opportunities(org, users, rng, pipelines)
    seed_line_items(org, users, rng, deals)
    seed_contact_roles(org, users, rng, deals)
    seed_quotas(org, users, rng)
    seed_forecast_snapshots(org, users, rng)


def _owner(users):
    return users["owner"]


def _sellers(users) -> list:
    """Who owns deals, weighted: the two reps most, then the manager and the owner."""
    return [users["rep1"]] * 4 + [users["rep2"]] * 4 + [users["manager"]] * 2 + [users["owner"]]


def _weighted(rng, pairs):
    return rng.choices([v for v, _w in pairs], [w for _v, w in pairs])[0]


def _index(rng, weights) -> int:
    return rng.choices(range(len(weights)), weights)[0]


# --- pipelines and rates ------------------------------------------------------------------------


def seed_pipelines(org, users) -> list:
    """New business (the default, with the loss reasons), Renewals and Partners, each
    with the six default stages."""
    from .selectors import pipelines_of
    from .services import pipeline_create, pipeline_ensure_defaults

    owner = _owner(users)
    existing = {p.name for p in pipeline_ensure_defaults(org=org, actor=owner)}
    for position, (name, *_rest) in enumerate(PIPELINES):
        if name not in existing:
            pipeline_create(org=org, actor=owner, name=name, position=position)
    return pipelines_of(org)


def seed_exchange_rates(org, users, rng) -> None:
    """A USD and a GBP rate on the first of each month over the last year (and this
    month), drifting a little, as an admin would import them."""
    from django.utils import timezone

    from pulse.currencies.services import exchangerate_create

    today = timezone.localdate()
    first = datetime.date(today.year - 1, today.month, 1)
    for currency, rate in RATES_A_YEAR_AGO.items():
        day = first
        while day <= today:
            exchangerate_create(
                org=org,
                actor=users["admin"],
                currency=currency,
                rate=rate.quantize(Decimal("0.0001")),
                valid_from=day,
                source="import",
            )
            rate *= Decimal(str(round(1 + rng.gauss(0, 0.01), 4)))
            day = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)


# --- the deals ----------------------------------------------------------------------------------


def _path(rng, top: int, n_open: int) -> list[int]:
    """Open-stage indices a deal went through up to ``top``; one deal in six slipped
    back a stage once on the way."""
    path = list(range(top + 1))
    if top >= 1 and rng.random() < 1 / 6:
        j = rng.randrange(1, top + 1)
        path[j + 1 : j + 1] = [j - 1, j]
    return path


def seed_opportunities(org, users, rng, pipelines) -> list[DemoDeal]:
    """About 150 deals over the last year: created and moved through the services, then
    dated. Won and lost deals closed over the past 12 months; open ones in every stage,
    a few of them rotting (no activity for longer than their stage allows)."""
    from django.utils import timezone

    from pulse.contacts.models import Contact
    from pulse.extras.models import Tag

    from .models import ForecastCategory, LossReason, StageType
    from .services import opportunity_create, opportunity_move

    now = timezone.now()
    today = timezone.localdate()
    sellers = _sellers(users)
    contacts = list(
        Contact.objects.filter(company__isnull=False).select_related("company").order_by("pk")
    )
    tags = list(Tag.objects.filter(name__in=["Key account", "Upsell", "VIP", "Partner"]))
    reasons = list(LossReason.objects.filter(active=True).order_by("position"))
    by_name = {p.name: p for p in pipelines}
    deals: list[DemoDeal] = []
    for name, count, median, titles in PIPELINES:
        pipeline = by_name[name]
        open_stages = [s for s in pipeline.stage_list if s.type == StageType.OPEN]
        won = next(s for s in pipeline.stage_list if s.type == StageType.WON)
        lost = next(s for s in pipeline.stage_list if s.type == StageType.LOST)
        for _n in range(count):
            outcome = _weighted(rng, OUTCOMES)
            seller = rng.choice(sellers)
            contact = rng.choice(contacts)
            currency = _weighted(rng, CURRENCIES)
            value = Decimal(max(500, round(rng.lognormvariate(0, 0.6) * median / 500) * 500))
            if currency != "EUR":
                value = (value / RATES_A_YEAR_AGO[currency]).quantize(Decimal("100"))
            if outcome == "open":
                top = _index(rng, OPEN_AT)
                age = min(300.0, rng.lognormvariate(math.log(35), 0.8))
                created = now - datetime.timedelta(days=age, hours=rng.randint(0, 23))
                end = now - datetime.timedelta(hours=rng.randint(2, 72))
                close_date = None
                # Most open deals are due within the next four months, some this quarter.
                expected = today + datetime.timedelta(days=rng.randint(-10, 120))
            else:
                top = len(open_stages) - 1 if outcome == "won" else _index(rng, LOST_FROM)
                end = now - datetime.timedelta(days=rng.uniform(1, 360), hours=rng.randint(0, 8))
                cycle = rng.lognormvariate(math.log(40 if outcome == "won" else 25), 0.6)
                created = end - datetime.timedelta(days=max(2.0, cycle))
                close_date = timezone.localdate(end)
                expected = close_date + datetime.timedelta(days=rng.randint(-15, 20))
            path = _path(rng, top, len(open_stages))
            stages = [open_stages[i] for i in path]
            if outcome != "open":
                stages.append(won if outcome == "won" else lost)
            rotting = outcome == "open" and rng.random() < 0.1
            if rotting:
                # Quiet since it entered its stage, long enough ago to be flagged.
                quiet = (stages[-1].rotting_days or 14) + rng.randint(3, 20)
                end = now - datetime.timedelta(days=quiet, hours=rng.randint(0, 23))
                created = min(created, end - datetime.timedelta(days=rng.randint(5, 30)))
            span = (end - created).total_seconds()
            if outcome == "open":
                offsets = sorted(rng.uniform(0.05, 1) * span for _ in stages[1:])
            else:
                offsets = sorted(rng.uniform(0.05, 0.95) * span for _ in stages[2:]) + [span]
            moments = [created] + [created + datetime.timedelta(seconds=s) for s in offsets]
            category = ForecastCategory.PIPELINE
            if outcome == "open":
                late = top / (len(open_stages) - 1)
                roll = rng.random()
                if roll < 0.55 * late:
                    category = ForecastCategory.COMMIT
                elif roll < 0.55 * late + 0.3:
                    category = ForecastCategory.BEST_CASE
            opportunity = opportunity_create(
                org=org,
                actor=seller,
                name=f"{contact.company.name}: {rng.choice(titles)}",
                pipeline=pipeline,
                stage=stages[0],
                contact=contact,
                company=contact.company,
                value=value,
                currency=currency,
                expected_close_date=expected,
                forecast_category=category,
                source=rng.choice(SOURCES),
                assigned_to=seller,
                tags=rng.sample(tags, rng.choice((0, 0, 0, 1, 1, 2))) if tags else [],
                description=f"{rng.choice(titles)} for {contact.company.name}.",
            )
            deal = DemoDeal(opportunity, stages, moments, close_date=close_date, rotting=rotting)
            for stage in stages[1:]:
                close = {}
                if stage.type == StageType.WON:
                    close["actual_close_date"] = close_date
                elif stage.type == StageType.LOST:
                    reason = rng.choice(reasons)
                    close["loss_reason"] = reason
                    close["actual_close_date"] = close_date
                    if "competitor" in reason.name.lower():
                        close["competitor"] = rng.choice(COMPETITORS)
                deal.opportunity = opportunity_move(
                    opportunity=deal.opportunity,
                    stage=stage,
                    actor=seller,
                    notes=rng.choice(NOTES),
                    **close,
                )
            deals.append(deal)
    _backdate(deals, rng, now)
    return deals


def _backdate(deals: list[DemoDeal], rng, now) -> None:
    """Spread each deal's history over its planned moments: the history rows (oldest
    first, in the order the moves were made), the time spent in each stage, and the
    deal's created / in-stage-since / last-activity dates."""
    from .models import Opportunity, OpportunityStageChange

    for deal in deals:
        rows = list(
            OpportunityStageChange.objects.filter(opportunity=deal.opportunity)
            .order_by("changed_at", "from_stage_id")
            .values_list("pk", "from_stage_id")
        )
        # Moves made within one microsecond keep creation order: the row without a
        # from-stage is the creation, then each row's from-stage is the previous one's to.
        ordered = _in_move_order(rows, deal)
        for i, pk in enumerate(ordered):
            seconds = None
            if i:
                seconds = int((deal.moments[i] - deal.moments[i - 1]).total_seconds())
            OpportunityStageChange.objects.filter(pk=pk).update(
                changed_at=deal.moments[i], seconds_in_from_stage=seconds
            )
        entered = deal.moments[-1]
        if deal.rotting or deal.close_date is not None:
            last_activity = entered
        else:
            last_activity = max(entered, now - datetime.timedelta(hours=rng.randint(1, 96)))
        Opportunity.objects.filter(pk=deal.opportunity.pk).update(
            created_at=deal.moments[0],
            stage_changed_at=entered,
            last_activity_at=last_activity,
            updated_at=last_activity,
        )


def _in_move_order(rows, deal: DemoDeal) -> list:
    """History row ids in the order the moves were made (timestamps may tie)."""
    remaining = list(rows)
    ordered, previous = [], None
    for stage in deal.stages:
        for i, (pk, from_stage) in enumerate(remaining):
            if from_stage == (previous.pk if previous is not None else None):
                ordered.append(pk)
                del remaining[i]
                break
        previous = stage
    return ordered


# --- line items and contact roles ----------------------------------------------------------------


def seed_line_items(org, users, rng, deals: list[DemoDeal]) -> None:
    """Product lines on about a third of the New business deals (their value follows)."""
    from .models import OpportunityStageChange
    from .services import opportunity_set_line_items

    for deal in deals:
        opp = deal.opportunity
        if opp.pipeline.name != "New business" or rng.random() > 0.35:
            continue
        lines = []
        for product, price, quantities in rng.sample(PRODUCTS, rng.randint(1, 3)):
            unit = price if opp.currency == "EUR" else (price * Decimal("1.1")).quantize(Decimal(1))
            lines.append(
                {
                    "product_name": product,
                    "quantity": Decimal(rng.choice(quantities)),
                    "unit_price": unit,
                    "discount": Decimal(rng.choice((0, 0, 0, 5, 10, 15))),
                }
            )
        deal.opportunity = opportunity_set_line_items(
            opportunity=opp, actor=opp.assigned_to, items=lines
        )
        # The history's value at each move: what the lines give (they were there then).
        OpportunityStageChange.objects.filter(opportunity=opp).update(value=deal.opportunity.value)
    _restamp(deals)


def _restamp(deals: list[DemoDeal]) -> None:
    """Services stamp ``last_activity_at`` with now; put the planned dates back."""
    from .models import Opportunity

    for deal in deals:
        if deal.close_date is not None or deal.rotting:
            Opportunity.objects.filter(pk=deal.opportunity.pk).update(
                last_activity_at=deal.moments[-1], updated_at=deal.moments[-1]
            )


def seed_contact_roles(org, users, rng, deals: list[DemoDeal]) -> None:
    """On about 40% of the deals, one to three people of the deal's company with roles
    (the first is the decision maker)."""
    from pulse.contacts.models import Contact

    from .services import opportunity_contact_add

    people = defaultdict(list)
    for contact in Contact.objects.filter(company__isnull=False).order_by("pk"):
        people[contact.company_id].append(contact)
    for deal in deals:
        opp = deal.opportunity
        if rng.random() > 0.4:
            continue
        colleagues = people.get(opp.company_id) or [opp.contact]
        chosen = rng.sample(colleagues, min(len(colleagues), rng.randint(1, 3)))
        for i, contact in enumerate(chosen):
            role = ROLES[0] if i == 0 else rng.choice(ROLES[1:])
            opportunity_contact_add(
                opportunity=opp, contact=contact, role=role, actor=opp.assigned_to
            )
    _restamp(deals)


# --- quotas and forecast snapshots ---------------------------------------------------------------


def seed_quotas(org, users, rng) -> None:
    """Revenue quotas for the current fiscal year: each rep and the manager by month and
    by quarter, and the Enterprise Sales team by quarter and year, plus a yearly
    deal-count goal per person."""
    from pulse.accounts.models import Team

    from .forecast import fiscal_periods, fiscal_year_of, org_today
    from .services import quota_create

    year = fiscal_year_of(org, org_today(org))
    months = [p.start for p in fiscal_periods(org, "month", year)]
    quarters = [p.start for p in fiscal_periods(org, "quarter", year)]
    manager = users["manager"]
    monthly = {users["rep1"]: 30_000, users["rep2"]: 26_000, manager: 18_000}
    for user, target in monthly.items():
        goals = [
            ("month", start, target + rng.choice((-2000, 0, 0, 2000, 4000))) for start in months
        ]
        goals += [("quarter", start, target * 3) for start in quarters]
        for period, start, amount in goals:
            quota_create(
                org=org,
                actor=manager,
                user=user,
                period=period,
                period_start=start,
                target=Decimal(amount),
            )
        quota_create(
            org=org,
            actor=manager,
            user=user,
            period="year",
            period_start=months[0],
            metric="count",
            target=Decimal(12 if user is manager else 20),
        )
    team = Team.objects.filter(name="Enterprise Sales").first()
    if team is not None:
        goals = [("quarter", start, 200_000) for start in quarters]
        for period, start, amount in [*goals, ("year", months[0], 800_000)]:
            quota_create(
                org=org,
                actor=users["owner"],
                team=team,
                period=period,
                period_start=start,
                target=Decimal(amount),
            )


def seed_forecast_snapshots(org, users, rng) -> None:
    """The weekly forecast snapshots (Mondays, as the periodic task writes them: one row
    per owner and category for the month, the quarter and the fiscal year containing the
    day) from the start of the previous quarter to today, reconstructed from the demo
    deals: ``closed`` is what had been won in the period by then; open deals due in the
    period count in their category, a commit often still a best case early on; deals
    won or lost later in the period were still in play (commit or best case / pipeline).
    The previous quarter's early commit against what closed is its forecast accuracy."""
    from pulse.currencies.selectors import converter

    from .forecast import PERIOD_KINDS, fiscal_periods, fiscal_year_of, org_today
    from .models import ForecastCategory, ForecastSnapshot, Opportunity, StageType

    today = org_today(org)

    def quarter_of(day: datetime.date):
        quarters = fiscal_periods(org, "quarter", fiscal_year_of(org, day))
        return next(q for q in quarters if q.start <= day <= q.end)

    first_day = quarter_of(quarter_of(today).start - datetime.timedelta(days=1)).start
    rates = converter(org)
    deals = list(
        Opportunity.objects.filter(deleted_at__isnull=True).values_list(
            "assigned_to_id",
            "status",
            "forecast_category",
            "value",
            "currency",
            "expected_close_date",
            "actual_close_date",
            "created_at",
        )
    )
    mondays = []
    day = first_day + datetime.timedelta(days=(7 - first_day.weekday()) % 7)
    while day <= today:
        mondays.append(day)
        day += datetime.timedelta(days=7)
    rows = []
    for taken_on in mondays:
        periods = [
            next(
                p
                for p in fiscal_periods(org, kind, fiscal_year_of(org, taken_on))
                if p.start <= taken_on <= p.end
            )
            for kind in PERIOD_KINDS
        ]
        for period in periods:
            progress = (taken_on - period.start).days / ((period.end - period.start).days + 1)
            totals: dict = defaultdict(lambda: [Decimal(0), 0])
            for owner, status, category, value, currency, expected, actual, created in deals:
                if created.date() > taken_on:
                    continue
                closed_in = actual is not None and period.start <= actual <= period.end
                if status == StageType.WON and closed_in and actual <= taken_on:
                    key = ForecastCategory.CLOSED
                elif status == StageType.WON and closed_in:
                    key = ForecastCategory.COMMIT
                elif status == StageType.LOST and closed_in and actual > taken_on:
                    key = ForecastCategory.BEST_CASE if rng.random() < 0.4 else "pipeline"
                elif (
                    status == StageType.OPEN and expected and period.start <= expected <= period.end
                ):
                    key = category
                    if key == ForecastCategory.COMMIT and rng.random() > 0.5 + 0.5 * progress:
                        key = ForecastCategory.BEST_CASE  # firmed up as the period went on
                else:
                    continue
                if key == ForecastCategory.OMITTED:
                    continue
                amount = rates.convert(value, currency, min(actual or taken_on, taken_on))
                totals[(owner, key)][0] += amount.amount or Decimal(0)
                totals[(owner, key)][1] += 1
            for (owner, key), (amount, count) in totals.items():
                rows.append(
                    ForecastSnapshot(
                        organization=org,
                        taken_on=taken_on,
                        period=period.kind,
                        period_start=period.start,
                        owner_id=owner,
                        category=key,
                        amount=amount,
                        deals=count,
                    )
                )
    # Snapshots are what the weekly task writes, not anyone's change: no service, no audit.
    ForecastSnapshot.objects.bulk_create(rows)
