"""Dashboard widgets: exact numbers on a small world (two reps in two teams, a manager,
deals won and lost in and out of the period in two currencies, leads, activities),
the scopes and what each viewer may see, the cache and its invalidation, and a fixed
number of queries per widget."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import Organization, Role
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.currencies.models import ExchangeRate
from pulse.leads.models import Lead
from pulse.opportunities.models import Opportunity, Quota
from pulse.opportunities.services import opportunity_update, pipeline_ensure_defaults
from pulse.reports.metrics import (
    DEFAULT_LAYOUT,
    WIDGETS,
    WidgetData,
    dashboard_context,
    widget_data,
)
from tests.accounts.factories import make_member, make_team
from tests.activities.factories import make_activity
from tests.contacts.factories import make_contact
from tests.leads.factories import make_lead
from tests.opportunities.factories import make_opportunity

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def _at(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(10), tzinfo=datetime.UTC)


class World:
    pass


@pytest.fixture
def world(org, owner, settings):
    """Rita (North) and Sam (South) sell; Mia manages North; 1 USD = 0.50 EUR."""
    settings.TIME_ZONE = "UTC"
    w = World()
    w.org, w.owner = org, owner
    w.today = timezone.localdate()
    today = w.today
    w.rita = make_member(org, Role.SALES_REP, full_name="Rita Rep")
    w.sam = make_member(org, Role.SALES_REP, full_name="Sam Seller")
    w.mia = make_member(org, Role.MANAGER, full_name="Mia Manager")
    w.north = make_team(org, "North", manager=w.mia, members=[w.rita])
    w.south = make_team(org, "South", members=[w.sam])
    with tenant_context(org, actor=owner):
        record_create(
            ExchangeRate,
            org=org,
            actor=owner,
            currency="USD",
            rate=Decimal("0.50"),
            valid_from=datetime.date(2000, 1, 1),
        )
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stages = {s.name: s for s in pipeline.stage_list}
        w.pipeline, w.stages = pipeline, stages
        first_open = next(s for s in pipeline.stage_list if s.type == "open")

        def deal(who, value, currency, stage, closed=None, created=None, **kw):
            fields = dict(assigned_to=who, value=Decimal(value), currency=currency, **kw)
            if stage == "Lost":
                from pulse.opportunities.models import LossReason

                fields["loss_reason"] = LossReason.objects.first()
            if closed is not None:
                fields["actual_close_date"] = closed
            d = make_opportunity(org, owner, stage=stages[stage], **fields)
            if created is not None:
                Opportunity.objects.filter(pk=d.pk).update(created_at=_at(created))
            return d

        # In the period (the last 30 days) …
        deal(w.rita, "1000", "EUR", "Won", today - 1 * DAY, today - 11 * DAY)
        deal(w.rita, "2000", "USD", "Won", today - 2 * DAY, today - 22 * DAY)  # EUR 1,000
        deal(w.rita, "500", "EUR", "Lost", today - 3 * DAY)
        deal(w.sam, "3000", "EUR", "Won", today - 5 * DAY, today - 5 * DAY)
        # … the period before …
        deal(w.sam, "4000", "EUR", "Won", today - 40 * DAY, today - 50 * DAY)
        # … and open now.
        w.big = deal(w.rita, "10000", "EUR", first_open.name, probability=50)
        deal(w.sam, "1000", "USD", first_open.name, probability=20)  # EUR 500, weighted 100

        def lead(who, created, source="web_form", converted=False):
            item = make_lead(org, owner, assigned_to=who, source=source)
            update = {"created_at": _at(created)}
            if converted:
                update["converted_at"] = _at(created + DAY)
            Lead.objects.filter(pk=item.pk).update(**update)

        lead(w.rita, today - 1 * DAY, converted=True)
        lead(w.rita, today - 2 * DAY)
        lead(w.rita, today - 3 * DAY, source="referral")
        lead(w.sam, today - 4 * DAY, source="referral")
        lead(w.rita, today - 35 * DAY)

        w.c1 = make_contact(org, owner, first_name="Ann", last_name="Active", assigned_to=w.rita)
        w.c2 = make_contact(org, owner, first_name="Quinn", last_name="Quiet", assigned_to=w.rita)
        make_activity(
            org,
            owner,
            type="call",
            subject="Done call",
            status="completed",
            completed_at=timezone.now() - DAY,
            assigned_to=w.rita,
            contact=w.c1,
        )
        make_activity(
            org, owner, type="task", subject="Late", due_date=today - DAY, assigned_to=w.rita
        )
        make_activity(
            org, owner, type="task", subject="Due today", due_date=today, assigned_to=w.rita
        )
        make_activity(
            org, owner, type="task", subject="Sam late", due_date=today - 3 * DAY, assigned_to=w.sam
        )
        make_activity(
            org,
            owner,
            type="meeting",
            subject="Demo",
            scheduled_at=timezone.now() + 2 * DAY,
            assigned_to=w.rita,
        )
        make_activity(
            org,
            owner,
            type="meeting",
            subject="Far away",
            scheduled_at=timezone.now() + 20 * DAY,
            assigned_to=w.rita,
        )
    return w


def data(w, user, kind, scope="org", period="last_30_days", team=None, **options) -> WidgetData:
    with tenant_context(w.org, actor=user):
        ctx = dashboard_context(user=user, org=w.org, scope=scope, team=team, period=period)
        return widget_data(kind, ctx, options)


# --- the catalogue ----------------------------------------------------------------------------


def test_every_widget_of_the_issue_is_registered():
    assert set(WIDGETS) >= {
        "new_leads",
        "leads_by_source",
        "lead_conversion_rate",
        "open_pipeline",
        "pipeline_by_stage",
        "deals_won_lost",
        "revenue_won",
        "win_rate",
        "avg_deal_size",
        "avg_sales_cycle",
        "pipeline_velocity",
        "forecast_vs_quota",
        "activities_by_type",
        "overdue_tasks",
        "my_tasks_today",
        "upcoming_meetings",
        "leaderboard",
        "inactive_contacts",
        "top_engaged_contacts",
    }
    assert {kind for kind, _w, _p in DEFAULT_LAYOUT} <= set(WIDGETS)


def test_every_widget_answers_for_an_empty_organization(org, owner):
    for kind in WIDGETS:
        with tenant_context(org, actor=owner):
            ctx = dashboard_context(user=owner, org=org, scope="org", period="this_quarter")
            result = widget_data(kind, ctx)
        assert isinstance(result, WidgetData), kind


def test_an_unknown_widget_says_so(world):
    result = data(world, world.owner, "no_such_widget")
    assert result.empty and result.value == ""


# --- exact numbers ------------------------------------------------------------------------------


def test_deals_won_lost_revenue_rate_size_cycle(world):
    w = world
    won_lost = data(w, w.owner, "deals_won_lost")
    assert (won_lost.number, won_lost.value) == (3, "3 won · 1 lost")
    assert [(r["label"], r["value"], r["detail"]) for r in won_lost.rows] == [
        ("Won", 3, "EUR 5,000"),
        ("Lost", 1, "EUR 500"),
    ]
    assert won_lost.chart.datasets[0]["data"] == [3, 1]
    assert "status=won" in won_lost.rows[0]["url"]

    revenue = data(w, w.owner, "revenue_won")
    assert (revenue.number, revenue.value, revenue.delta) == ("5000.00", "EUR 5,000", 25.0)
    assert revenue.link.startswith(reverse("opportunities:opportunity_list") + "?")
    assert f"closed_from={w.today - 29 * DAY}" in revenue.link

    rate = data(w, w.owner, "win_rate")
    assert (rate.number, rate.delta) == (75.0, -25.0)

    size = data(w, w.owner, "avg_deal_size")
    assert (size.number, size.delta) == ("1666.67", -58.3)

    cycle = data(w, w.owner, "avg_sales_cycle")
    assert (cycle.number, cycle.delta, cycle.value) == (10.0, 0.0, "10.0 days")


def test_open_pipeline_and_stages_in_the_org_currency(world):
    w = world
    pipe = data(w, w.owner, "open_pipeline")
    assert (pipe.number, pipe.value) == ("10500.00", "EUR 10,500")
    assert pipe.rows == [
        {"label": "Open deals", "value": 2},
        {"label": "Weighted value", "value": "EUR 5,100"},
    ]
    stages = data(w, w.owner, "pipeline_by_stage")
    first = next(s for s in w.pipeline.stage_list if s.type == "open")
    assert stages.number == "10500.00"
    assert stages.rows[0]["label"] == first.name
    assert (stages.rows[0]["value"], stages.rows[0]["detail"]) == (2, "EUR 10,500")
    assert all(r["value"] == 0 for r in stages.rows[1:])
    assert stages.chart.type == "funnel"
    assert stages.chart.labels == [s.name for s in w.pipeline.stage_list if s.type == "open"]
    assert f"stage={first.pk}" in stages.rows[0]["url"]
    # Another pipeline by option: it has no deals.
    with tenant_context(w.org, actor=w.owner):
        from tests.opportunities.factories import make_pipeline

        other = make_pipeline(w.org, w.owner)
    assert data(w, w.owner, "pipeline_by_stage", pipeline=str(other.pk)).number == "0"


def test_pipeline_velocity_reuses_the_analysis(world):
    w = world
    velocity = data(w, w.owner, "pipeline_velocity")
    # open EUR 10,500 × 75 % ÷ 10 days
    assert velocity.number == "787.50"
    assert velocity.value == "EUR 788 / day"


def test_leads(world):
    w = world
    new = data(w, w.owner, "new_leads")
    assert (new.number, new.delta) == (4, 300.0)
    assert sum(new.chart.datasets[0]["data"]) == 4
    assert len(new.chart.labels) == 30
    assert f"created_after={w.today - 29 * DAY}" in new.link
    by_source = data(w, w.owner, "leads_by_source")
    assert [(r["label"], r["value"]) for r in by_source.rows] == [
        ("Referral", 2),
        ("Web form", 2),
    ] or [(r["label"], r["value"]) for r in by_source.rows] == [("Web form", 2), ("Referral", 2)]
    assert by_source.chart.type == "pie"
    conversion = data(w, w.owner, "lead_conversion_rate")
    assert (conversion.number, conversion.delta) == (25.0, None)
    assert conversion.secondary == "1 of 4 leads"


def test_activities(world):
    w = world
    overdue = data(w, w.owner, "overdue_tasks")
    assert overdue.number == 2
    assert [r["label"] for r in overdue.rows] == ["Sam late", "Late"]
    assert "overdue=true" in overdue.link
    assert data(w, w.rita, "overdue_tasks", scope="me").number == 1
    today = data(w, w.rita, "my_tasks_today", scope="me")
    assert (today.number, [r["label"] for r in today.rows]) == (1, ["Due today"])
    meetings = data(w, w.rita, "upcoming_meetings", scope="me")
    assert (meetings.number, [r["label"] for r in meetings.rows]) == (1, ["Demo"])
    by_type = data(w, w.owner, "activities_by_type")
    names = by_type.chart.labels
    assert set(names) == {"Rita Rep", "Sam Seller"}
    calls = next(d for d in by_type.chart.datasets if d["label"] == "Call")
    assert calls["data"][names.index("Rita Rep")] == 1


def test_leaderboard(world):
    w = world
    board = data(w, w.owner, "leaderboard")
    assert [(r["label"], r["value"], r["won"], r["activities"]) for r in board.rows] == [
        ("Sam Seller", "EUR 3,000", 1, 0),
        ("Rita Rep", "EUR 2,000", 2, 1),
    ]
    assert board.value == "Sam Seller"


def test_engagement(world):
    w = world
    quiet = data(w, w.owner, "inactive_contacts", days=30)
    assert (quiet.number, [r["label"] for r in quiet.rows]) == (1, [str(w.c2)])
    assert data(w, w.owner, "inactive_contacts", days="oops").number == 1  # the default, 30
    engaged = data(w, w.owner, "top_engaged_contacts")
    assert [(r["label"], r["value"]) for r in engaged.rows] == [(str(w.c1), 1)]


def test_forecast_vs_quota(world):
    w = world
    from pulse.opportunities.forecast import fiscal_period_of

    quarter = fiscal_period_of(w.org, "quarter", w.today)
    with tenant_context(w.org, actor=w.owner):
        record_create(
            Quota,
            org=w.org,
            actor=w.owner,
            user=w.rita,
            period="quarter",
            period_start=quarter.start,
            metric="revenue",
            target=Decimal("4000"),
        )
    won = sum(
        (
            Decimal(v)
            for v, day in (("1000", w.today - DAY), ("1000", w.today - 2 * DAY))
            if quarter.start <= day
        ),
        Decimal("0"),
    )
    result = data(w, w.rita, "forecast_vs_quota", scope="me", period="this_quarter")
    assert result.number == str(won.quantize(Decimal("0.01")))
    assert result.rows[-1] == {"label": "Quota", "value": "EUR 4,000"}
    assert f"{int(won * 100 / 4000)}.0 %" in result.secondary


# --- scope and visibility -------------------------------------------------------------------------


def test_scopes_me_team_org(world):
    w = world
    assert data(w, w.rita, "revenue_won", scope="me").number == "2000.00"
    assert data(w, w.rita, "revenue_won", scope="team").number == "2000.00"  # North
    assert data(w, w.owner, "revenue_won", scope="team", team=w.south).number == "3000.00"
    assert data(w, w.mia, "revenue_won", scope="team", team=w.north.pk).number == "2000.00"
    assert data(w, w.owner, "revenue_won", scope="org").number == "5000.00"


def test_a_rep_may_not_see_another_team(world):
    w = world
    with pytest.raises(PermissionDeniedError):
        data(w, w.rita, "revenue_won", scope="team", team=w.south)
    with pytest.raises(PermissionDeniedError):  # a manager: only the teams they manage
        data(w, w.mia, "revenue_won", scope="team", team=w.south)


def test_bad_scope_team_and_period_are_field_errors(world):
    w = world
    for kwargs, field in (
        ({"scope": "galaxy"}, "scope"),
        ({"period": "next_century"}, "period"),
        ({"scope": "team", "team": "not-a-uuid"}, "team"),
    ):
        with pytest.raises(ApplicationError) as caught:
            data(w, w.owner, "revenue_won", **kwargs)
        assert field in caught.value.errors
    loner = make_member(w.org, Role.SALES_REP, full_name="Lonely Rep")
    with pytest.raises(ApplicationError) as caught:  # in no team at all
        data(w, loner, "revenue_won", scope="team")
    assert "team" in caught.value.errors


def test_team_visibility_limits_the_org_scope_of_a_rep(world):
    w = world
    Organization.objects.filter(pk=w.org.pk).update(record_visibility="team")
    w.org.refresh_from_db()
    # Rita sees her own team's deals only: Sam's win is not hers to count.
    assert data(w, w.rita, "revenue_won", scope="org").number == "2000.00"
    assert data(w, w.rita, "open_pipeline", scope="org").number == "10000.00"
    assert data(w, w.owner, "revenue_won", scope="org").number == "5000.00"


# --- the cache --------------------------------------------------------------------------------


def test_a_write_changes_the_number_at_once(world):
    w = world
    assert data(w, w.owner, "open_pipeline").number == "10500.00"
    with tenant_context(w.org, actor=w.owner):
        opportunity_update(opportunity=w.big, actor=w.owner, value=Decimal("12000"))
    assert data(w, w.owner, "open_pipeline").number == "12500.00"


def test_numbers_are_cached_per_viewer(world, django_assert_num_queries):
    w = world
    data(w, w.owner, "revenue_won")
    with tenant_context(w.org, actor=w.owner):
        ctx = dashboard_context(user=w.owner, org=w.org, scope="org", period="last_30_days")
        with django_assert_num_queries(1):  # the organization's data version only
            assert widget_data("revenue_won", ctx).number == "5000.00"
    assert data(w, w.rita, "revenue_won", scope="me").number == "2000.00"


def test_widget_data_pickles(world):
    import pickle

    for kind in WIDGETS:
        result = data(world, world.owner, kind)
        assert pickle.loads(pickle.dumps(result)) == result, kind


# --- queries per widget ---------------------------------------------------------------------------

QUERIES = {
    # data version + the widget's own queries (+ exchange rates, + pipelines and stages)
    "new_leads": 3,
    "leads_by_source": 2,
    "lead_conversion_rate": 2,
    "open_pipeline": 3,
    "pipeline_by_stage": 5,
    "deals_won_lost": 3,
    "revenue_won": 3,
    "win_rate": 3,
    "avg_deal_size": 3,
    "avg_sales_cycle": 2,
    "pipeline_velocity": 5,
    "activities_by_type": 2,
    "overdue_tasks": 4,  # the two halves of overdue_condition are counted apart
    "my_tasks_today": 3,
    "upcoming_meetings": 3,
    "leaderboard": 5,
    "inactive_contacts": 3,
    "top_engaged_contacts": 3,
}


@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_queries_per_widget(world, kind, django_assert_num_queries):
    w = world
    with tenant_context(w.org, actor=w.owner):
        ctx = dashboard_context(user=w.owner, org=w.org, scope="org", period="last_30_days")
        with django_assert_num_queries(QUERIES[kind]):
            widget_data(kind, ctx)
