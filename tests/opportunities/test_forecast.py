"""Forecasting (section C): exact numbers on a small hand-built book of deals, period
boundaries of a fiscal year starting in April, quotas in revenue and in deals, currency
conversion with dated rates, snapshots (idempotent) and accuracy, and a manager's
forecast-category adjustment with its audit trail (a rep is refused, nothing changes).
"""

from __future__ import annotations

import datetime
from decimal import Decimal as D

import pytest

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create
from pulse.currencies.models import ExchangeRate
from pulse.opportunities.forecast import (
    category_changes,
    fiscal_periods,
    fiscal_year_of,
    forecast,
    forecast_query,
    forecast_snapshot_take,
    opportunity_forecast_category_set,
)
from pulse.opportunities.models import ForecastSnapshot, LossReason, Opportunity, Quota
from pulse.opportunities.selectors import pipelines_of
from pulse.opportunities.services import (
    opportunity_create,
    opportunity_move,
    pipeline_ensure_defaults,
)
from pulse.opportunities.tasks import forecast_snapshot_all
from tests.accounts.factories import make_member, make_team

TODAY = datetime.date(2024, 8, 15)  # in Q2 of fiscal 2024 (April 2024 – March 2025)


def _d(y, m, d):
    return datetime.date(y, m, d)


@pytest.fixture
def world(in_org, owner):
    """Maria and Bob (team East), a manager Boris; EUR books, USD at 0.90 then 0.80.

    Q1 (Apr–Jun 2024): Maria won 10,000 EUR on 1 Apr and 5,000 USD (= 4,500 EUR at the
    rate of 30 Jun) on 30 Jun; Bob lost 3,000 (not counted).
    Q2 (Jul–Sep): Bob won 6,000 on 15 Jul; open: Maria 8,000 commit at 50 % due 30 Sep,
    Maria 2,000 USD best case at 25 % due 1 Jul (= 1,600 EUR at today's 0.80), Bob 4,000
    pipeline at 10 % due 20 Aug, Bob 1,000 omitted (not counted).
    Q3: Bob 100,000 JPY open (no rate: flagged, left out).
    Outside the year: a deal won 31 Mar 2024 and one due 1 Apr 2025.
    """
    org = in_org
    org.fiscal_year_start_month = 4
    org.default_currency = "EUR"
    org.save()
    pipeline_ensure_defaults(org=org, actor=owner)
    stages = {s.name: s for s in pipelines_of(org)[0].stage_list}
    reason = LossReason.objects.order_by("position").first()
    maria = make_member(org, Role.SALES_REP, full_name="Maria Ivanova")
    bob = make_member(org, Role.SALES_REP, full_name="Bob Brown")
    boris = make_member(org, Role.MANAGER, full_name="Boris Manager")
    east = make_team(org, "East", manager=boris, members=[maria, bob])
    for day, rate in ((_d(2024, 1, 1), "0.90"), (_d(2024, 7, 1), "0.80")):
        record_create(
            ExchangeRate, org=org, actor=owner, currency="USD", valid_from=day, rate=D(rate)
        )

    def deal(name, who, value, stage="Qualification", currency="EUR", **fields):
        return opportunity_create(
            org=org,
            actor=owner,
            name=name,
            assigned_to=who,
            value=D(value),
            currency=currency,
            stage=stages[stage],
            **fields,
        )

    deals = {
        "m1": deal("M1", maria, "10000", "Won", actual_close_date=_d(2024, 4, 1)),
        "m2": deal("M2", maria, "5000", "Won", "USD", actual_close_date=_d(2024, 6, 30)),
        "b1": deal(
            "B1", bob, "3000", "Lost", actual_close_date=_d(2024, 5, 10), loss_reason=reason
        ),
        "b2": deal("B2", bob, "6000", "Won", actual_close_date=_d(2024, 7, 15)),
        "m3": deal(
            "M3",
            maria,
            "8000",
            probability=50,
            forecast_category="commit",
            expected_close_date=_d(2024, 9, 30),
        ),
        "m4": deal(
            "M4",
            maria,
            "2000",
            currency="USD",
            probability=25,
            forecast_category="best_case",
            expected_close_date=_d(2024, 7, 1),
        ),
        "b3": deal("B3", bob, "4000", probability=10, expected_close_date=_d(2024, 8, 20)),
        "b4": deal(
            "B4", bob, "1000", forecast_category="omitted", expected_close_date=_d(2024, 8, 1)
        ),
        "b5": deal("B5", bob, "100000", currency="JPY", expected_close_date=_d(2024, 11, 15)),
        "x1": deal("X1", bob, "9999", "Won", actual_close_date=_d(2024, 3, 31)),
        "x2": deal("X2", maria, "7777", expected_close_date=_d(2025, 4, 1)),
    }

    def quota(period, start, target, metric="revenue", **who):
        return record_create(
            Quota,
            org=org,
            actor=owner,
            period=period,
            period_start=start,
            metric=metric,
            target=D(target),
            **who,
        )

    quota("quarter", _d(2024, 4, 1), "20000", user=maria)
    for month in (7, 8, 9):
        quota("month", _d(2024, month, 1), "5000", user=maria)
    quota("quarter", _d(2024, 7, 1), "2", metric="count", user=bob)
    quota("quarter", _d(2024, 7, 1), "30000", team=east)
    return {
        "org": org,
        "owner": owner,
        "maria": maria,
        "bob": bob,
        "boris": boris,
        "east": east,
        "stages": stages,
        "deals": deals,
        "reason": reason,
    }


def _row(rows, name):
    return next(r for r in rows if r.name == name)


def _money(figures):
    f = figures
    return (f.closed_won, f.commit, f.best_case, f.pipeline, f.pipeline_weighted)


# --- periods ---------------------------------------------------------------------------------


def test_fiscal_periods_start_in_april(world):
    org = world["org"]
    quarters = fiscal_periods(org, "quarter", 2024)
    assert [(p.start, p.end) for p in quarters] == [
        (_d(2024, 4, 1), _d(2024, 6, 30)),
        (_d(2024, 7, 1), _d(2024, 9, 30)),
        (_d(2024, 10, 1), _d(2024, 12, 31)),
        (_d(2025, 1, 1), _d(2025, 3, 31)),
    ]
    assert [p.label for p in quarters] == [
        "Q1 FY 2024/25",
        "Q2 FY 2024/25",
        "Q3 FY 2024/25",
        "Q4 FY 2024/25",
    ]
    months = fiscal_periods(org, "month", 2024)
    assert (len(months), months[0].start, months[-1].end) == (12, _d(2024, 4, 1), _d(2025, 3, 31))
    assert months[10].start == _d(2025, 2, 1) and months[10].end == _d(2025, 2, 28)
    (year,) = fiscal_periods(org, "year", 2024)
    assert (year.start, year.end, year.label) == (_d(2024, 4, 1), _d(2025, 3, 31), "FY 2024/25")
    assert fiscal_year_of(org, _d(2025, 3, 31)) == 2024
    assert fiscal_year_of(org, _d(2025, 4, 1)) == 2025


# --- the numbers -----------------------------------------------------------------------------


def test_quarters_per_owner_team_and_total_are_exact(world):
    result = forecast(world["org"], world["owner"], "quarter", 2024, today=TODAY)
    q1, q2, q3, q4 = result.periods
    assert result.currency == "EUR"
    assert (q1.is_closed, q2.is_current, q3.is_closed) == (True, True, False)

    maria, bob = _row(q1.owners, "Maria Ivanova"), _row(q1.owners, "Bob Brown")
    # Won on the first and on the last day of Q1; USD at the rate of its close date.
    assert _money(maria.figures) == (D("14500.00"), 0, 0, 0, 0)
    assert maria.figures.won_count == 2
    assert (maria.figures.quota, maria.figures.attainment) == (D("20000.00"), D("72.5"))
    # Bob's lost deal and his deal won the day before the fiscal year count nowhere.
    assert _money(bob.figures) == (0, 0, 0, 0, 0) and bob.figures.won_count == 0

    maria, bob = _row(q2.owners, "Maria Ivanova"), _row(q2.owners, "Bob Brown")
    # 8,000 commit + 2,000 USD best case at today's 0.80; weighted 4,000 + 400.
    assert _money(maria.figures) == (0, D("8000.00"), D("1600.00"), D("9600.00"), D("4400.00"))
    assert (maria.figures.commit_count, maria.figures.best_case_count) == (1, 1)
    assert maria.figures.pipeline_count == 2
    # No quarter quota of her own: her three monthly quotas add up.
    assert (maria.figures.quota, maria.figures.attainment) == (D("15000.00"), D("0.0"))
    # The omitted deal is not in Bob's pipeline; his quota is in deals.
    assert _money(bob.figures) == (D("6000.00"), 0, 0, D("4000.00"), D("400.00"))
    assert (bob.figures.won_count, bob.figures.pipeline_count) == (1, 1)
    assert (bob.figures.quota, bob.figures.quota_deals) == (None, D("2.00"))
    assert bob.figures.attainment_deals == D("50.0")

    (east,) = q2.teams
    assert east.name == "East"
    assert _money(east.figures) == (
        D("6000.00"),
        D("8000.00"),
        D("1600.00"),
        D("13600.00"),
        D("4800.00"),
    )
    assert (east.figures.quota, east.figures.attainment) == (D("30000.00"), D("20.0"))
    assert _money(q2.total) == _money(east.figures)
    assert (q2.total.quota, q2.total.quota_deals) == (D("15000.00"), D("2.00"))
    assert q2.total.attainment == D("40.0")

    # Q3: only the JPY deal, which has no rate: flagged, not counted.
    assert _money(q3.total) == (0, 0, 0, 0, 0)
    assert _row(q3.owners, "Bob Brown").figures.unconverted_count == 1
    assert [(m.currency, m.amount, m.deals) for m in result.missing_rates] == [
        ("JPY", D("100000.00"), 1)
    ]
    assert _money(q4.total) == (0, 0, 0, 0, 0)

    # The year: its periods added up, with the year's quotas (Q1's + Q2's months).
    year_maria = _row(result.owners, "Maria Ivanova").figures
    assert _money(year_maria) == (
        D("14500.00"),
        D("8000.00"),
        D("1600.00"),
        D("9600.00"),
        D("4400.00"),
    )
    assert (year_maria.quota, year_maria.attainment) == (D("35000.00"), D("41.4"))
    assert _money(result.total) == (
        D("20500.00"),
        D("8000.00"),
        D("1600.00"),
        D("13600.00"),
        D("4800.00"),
    )
    # The rates used: USD on M2's close date (0.90) and today's for open deals (0.80).
    assert [(r.currency, r.rate, r.rate_date) for r in result.rates] == [
        ("USD", D("0.90000000"), _d(2024, 1, 1)),
        ("USD", D("0.80000000"), _d(2024, 7, 1)),
    ]


def test_months_and_the_whole_year(world):
    result = forecast(world["org"], world["owner"], "month", 2024, today=TODAY)
    assert len(result.periods) == 12
    by_label = {p.label: p.total for p in result.periods}
    assert by_label["Apr 2024"].closed_won == D("10000.00")
    assert by_label["Jun 2024"].closed_won == D("4500.00")
    assert (by_label["Jul 2024"].closed_won, by_label["Jul 2024"].best_case) == (
        D("6000.00"),
        D("1600.00"),
    )
    assert by_label["Aug 2024"].pipeline == D("4000.00")
    assert by_label["Sep 2024"].commit == D("8000.00")
    maria_aug = _row(result.periods[4].owners, "Maria Ivanova").figures
    assert (maria_aug.quota, maria_aug.attainment) == (D("5000.00"), D("0.0"))

    (year,) = forecast(world["org"], world["owner"], "year", 2024, today=TODAY).periods
    assert (year.total.closed_won, year.total.pipeline) == (D("20500.00"), D("13600.00"))
    assert year.total.quota == D("35000.00")  # Maria's (Q1 + her months); Bob's is in deals


def test_filters_owner_team_pipeline_and_visibility(world):
    org, owner = world["org"], world["owner"]
    only_bob = forecast(org, owner, "quarter", 2024, assigned_to=world["bob"], today=TODAY)
    assert [r.name for r in only_bob.periods[1].owners] == ["Bob Brown"]
    assert only_bob.periods[1].total.closed_won == D("6000.00")
    assert only_bob.periods[1].total.quota_deals == D("2.00")

    team = forecast(org, owner, "quarter", 2024, team=world["east"], today=TODAY)
    assert team.periods[1].total.quota == D("30000.00")  # the team's own quota
    assert team.periods[1].total.attainment == D("20.0")

    from tests.opportunities.factories import make_pipeline

    other = make_pipeline(org, owner, name="Renewals")
    empty = forecast(org, owner, "quarter", 2024, pipeline=other, today=TODAY)
    assert empty.total.closed_won == 0 and empty.total.pipeline == 0

    # Team visibility: a rep outside the team sees only their own deals (none).
    org.record_visibility = "team"
    org.save()
    loner = make_member(org, Role.SALES_REP, full_name="Lone Rep")

    mine = forecast(org, loner, "quarter", 2024, today=TODAY)
    assert mine.total.closed_won == 0 and mine.total.pipeline == 0


def test_forecast_takes_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    org, owner = world["org"], world["owner"]
    forecast(org, owner, "month", 2024, today=TODAY)  # warm the per-user membership cache
    with django_assert_max_num_queries(7):  # 6 + the exchange rates (once per request)
        forecast(org, owner, "month", 2024, today=TODAY)
    # Ten times the deals (and more owners) cost no extra query.
    stage = world["stages"]["Proposal"]
    for i in range(30):
        who = make_member(org, Role.SALES_REP, full_name=f"Rep {i}")
        opportunity_create(
            org=org,
            actor=owner,
            name=f"N{i}",
            assigned_to=who,
            value=D("100"),
            stage=stage,
            currency="USD" if i % 2 else "EUR",
            expected_close_date=_d(2024, 4 + i % 9, 3),
        )
    with django_assert_max_num_queries(7):  # 6 + the exchange rates (once per request)
        result = forecast(org, owner, "month", 2024, today=TODAY)
    assert len(result.owners) == 32


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "week"}, "period"),
        ({"year": "20x4"}, "year"),
        ({"year": "1999"}, "year"),
        ({"team": "not-a-uuid"}, "team"),
        ({"team": "00000000-0000-0000-0000-000000000000"}, "team"),
        ({"assigned_to": "abc"}, "assigned_to"),
        ({"assigned_to": "999999"}, "assigned_to"),
        ({"pipeline": "nope"}, "pipeline"),
    ],
)
def test_bad_parameters_are_field_errors(world, params, field):
    with pytest.raises(ApplicationError) as caught:
        forecast_query(world["org"], params)
    assert list(caught.value.errors) == [field]


def test_someone_elses_team_is_refused(world, other_org, other_owner):
    foreign = make_team(other_org, "Theirs", members=[other_owner])
    with pytest.raises(ApplicationError) as caught:
        forecast_query(world["org"], {"team": str(foreign.pk), "assigned_to": str(other_owner.pk)})
    assert set(caught.value.errors) == {"team", "assigned_to"}


# --- snapshots and accuracy --------------------------------------------------------------------


def _snapshot_rows(org, on):
    return sorted(
        (s.period, str(s.period_start), s.owner.full_name, s.category, s.amount, s.deals)
        for s in ForecastSnapshot.objects.filter(organization=org, taken_on=on).select_related(
            "owner"
        )
    )


def test_snapshot_writes_owner_by_category_for_the_current_periods(world):
    org = world["org"]
    assert forecast_snapshot_take(org, on=TODAY) == 10
    assert _snapshot_rows(org, TODAY) == [
        ("month", "2024-08-01", "Bob Brown", "pipeline", D("4000.00"), 1),
        ("quarter", "2024-07-01", "Bob Brown", "closed", D("6000.00"), 1),
        ("quarter", "2024-07-01", "Bob Brown", "pipeline", D("4000.00"), 1),
        ("quarter", "2024-07-01", "Maria Ivanova", "best_case", D("1600.00"), 1),
        ("quarter", "2024-07-01", "Maria Ivanova", "commit", D("8000.00"), 1),
        ("year", "2024-04-01", "Bob Brown", "closed", D("6000.00"), 1),
        ("year", "2024-04-01", "Bob Brown", "pipeline", D("4000.00"), 1),
        ("year", "2024-04-01", "Maria Ivanova", "best_case", D("1600.00"), 1),
        ("year", "2024-04-01", "Maria Ivanova", "closed", D("14500.00"), 2),
        ("year", "2024-04-01", "Maria Ivanova", "commit", D("8000.00"), 1),
    ]


def test_snapshot_twice_the_same_day_rewrites_never_duplicates(world):
    org = world["org"]
    forecast_snapshot_take(org, on=TODAY)
    opportunity_forecast_category_set(
        opportunity=world["deals"]["b3"], category="commit", actor=world["boris"]
    )
    assert forecast_snapshot_take(org, on=TODAY) == 10
    assert ForecastSnapshot.objects.filter(organization=org, taken_on=TODAY).count() == 10
    rows = _snapshot_rows(org, TODAY)
    assert ("quarter", "2024-07-01", "Bob Brown", "commit", D("4000.00"), 1) in rows
    assert not [r for r in rows if r[2] == "Bob Brown" and r[3] == "pipeline"]


def test_the_weekly_task_snapshots_every_organization(world, other_org, other_owner):
    from pulse.core.tenancy import tenant_context
    from tests.opportunities.factories import make_opportunity

    with tenant_context(other_org, actor=other_owner):
        make_opportunity(other_org, other_owner, value=D("500"))
    written = forecast_snapshot_all.delay().get()
    today = datetime.date.today()
    mine = ForecastSnapshot.objects.unscoped().filter(organization=world["org"], taken_on=today)
    theirs = ForecastSnapshot.objects.unscoped().filter(organization=other_org, taken_on=today)
    # The world's deals are in 2024: this year holds only what is open in it (none).
    assert theirs.count() >= 1 and written == mine.count() + theirs.count()
    assert forecast_snapshot_all.delay().get() == written  # idempotent


def test_accuracy_of_a_closed_quarter(world):
    """Committed at the start of Q1 (commit + closed then) against what closed in Q1."""
    org, owner = world["org"], world["owner"]
    m5 = opportunity_create(
        org=org,
        actor=owner,
        name="M5",
        assigned_to=world["maria"],
        value=D("5000"),
        stage=world["stages"]["Proposal"],
        forecast_category="commit",
        expected_close_date=_d(2024, 5, 15),
    )
    forecast_snapshot_take(org, on=_d(2024, 4, 5))
    forecast_snapshot_take(org, on=_d(2024, 6, 1))
    opportunity_move(
        opportunity=m5, stage=world["stages"]["Lost"], actor=owner, loss_reason=world["reason"]
    )
    result = forecast(org, owner, "quarter", 2024, today=TODAY)
    q1 = result.periods[0]
    maria = _row(q1.owners, "Maria Ivanova")
    assert maria.accuracy.committed == D("19500.00")  # 14,500 closed + 5,000 commit
    assert (maria.accuracy.closed_won, maria.accuracy.variance) == (D("14500.00"), D("-5000.00"))
    assert maria.accuracy.accuracy == D("74.4")
    assert maria.accuracy.snapshot_on == _d(2024, 4, 5)  # the earliest snapshot of Q1
    assert _row(q1.owners, "Bob Brown").accuracy.accuracy is None  # nothing committed
    assert q1.teams[0].accuracy.accuracy == D("74.4")
    assert q1.accuracy.committed == D("19500.00")
    # Movement: both snapshots of Q1, in order.
    assert [(h.taken_on, h.commit, h.closed) for h in q1.history] == [
        (_d(2024, 4, 5), D("5000.00"), D("14500.00")),
        (_d(2024, 6, 1), D("5000.00"), D("14500.00")),
    ]
    # The open quarter has no accuracy yet.
    assert result.periods[1].accuracy is None


# --- a manager's adjustment ----------------------------------------------------------------------


def test_manager_changes_a_reps_category_with_an_audit_trail(world):
    deal = world["deals"]["m3"]
    opportunity_forecast_category_set(opportunity=deal, category="best_case", actor=world["boris"])
    deal.refresh_from_db()
    assert deal.forecast_category == "best_case"
    entry = AuditEntry.objects.filter(object_id=str(deal.pk), action="update").latest("created_at")
    assert entry.changes["forecast_category"] == ["commit", "best_case"]
    assert entry.actor == world["boris"]
    (change,) = category_changes(world["org"], [deal])
    assert (change.owner, change.deal, change.old, change.new, change.actor) == (
        "Maria Ivanova",
        "M3",
        "Commit",
        "Best case",
        "Boris Manager",
    )


def test_a_rep_cannot_change_someone_elses_category(world):
    deal = world["deals"]["m3"]
    before = (deal.version, AuditEntry.objects.filter(object_id=str(deal.pk)).count())
    with pytest.raises(PermissionDeniedError):
        opportunity_forecast_category_set(opportunity=deal, category="omitted", actor=world["bob"])
    deal.refresh_from_db()
    assert deal.forecast_category == "commit"
    assert (deal.version, AuditEntry.objects.filter(object_id=str(deal.pk)).count()) == before


def test_a_rep_may_change_their_own_and_bad_values_are_refused(world):
    deal = world["deals"]["b3"]
    opportunity_forecast_category_set(opportunity=deal, category="commit", actor=world["bob"])
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "commit"
    with pytest.raises(ApplicationError) as caught:
        opportunity_forecast_category_set(opportunity=deal, category="closed", actor=world["bob"])
    assert list(caught.value.errors) == ["forecast_category"]
    won = world["deals"]["b2"]
    with pytest.raises(ApplicationError):
        opportunity_forecast_category_set(opportunity=won, category="commit", actor=world["boris"])
    assert Opportunity.objects.get(pk=won.pk).forecast_category == "closed"
