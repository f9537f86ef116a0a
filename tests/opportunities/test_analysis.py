"""Win/loss and stage analysis: exact numbers on a hand-built history, the filters, the
page and the API, and a fixed number of queries however many deals there are."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.services import record_create
from pulse.core.testing import api_client
from pulse.currencies.models import ExchangeRate
from pulse.opportunities.analytics import AnalysisFilters, pipeline_velocity, win_loss_analysis
from pulse.opportunities.models import LossReason, Opportunity, OpportunityStageChange
from pulse.opportunities.services import (
    opportunity_create,
    opportunity_move,
    pipeline_ensure_defaults,
)
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.opportunities.factories import make_pipeline

TZ = datetime.UTC
DAY = datetime.timedelta(days=1)
RANGE = (datetime.date(2024, 1, 1), datetime.date(2024, 3, 31))


def _at(y, m, d):
    return datetime.datetime(y, m, d, 9, 0, tzinfo=TZ)


def _build_deal(org, actor, *, name, owner, source, value, currency, created, path, close=None):
    """A deal created on ``created`` in ``path[0]``'s stage, moved through the rest of
    ``path`` — (stage name, days spent in the stage before) — and closed by ``close``
    = (won|lost, date, loss reason name) after the last move. The services write the
    rows; the test then sets the times the history should have."""
    pipeline = pipeline_ensure_defaults(org=org)[0]
    stages = {s.name: s for s in pipeline.stage_list}
    reasons = {r.name: r for r in LossReason.objects.all()}
    deal = opportunity_create(
        org=org,
        actor=actor,
        name=name,
        assigned_to=owner,
        source=source,
        value=Decimal(value),
        currency=currency,
        stage=stages[path[0]],
    )
    times = [created]
    for stage_name, days in path[1:]:
        deal = opportunity_move(opportunity=deal, stage=stages[stage_name], actor=actor)
        times.append(times[-1] + days * DAY)
    seconds = [None] + [days * 86400 for _name, days in path[1:]]
    if close is not None:
        kind, day, reason, days = close
        target = stages["Won" if kind == "won" else "Lost"]
        deal = opportunity_move(
            opportunity=deal,
            stage=target,
            actor=actor,
            actual_close_date=day,
            loss_reason=reasons.get(reason),
        )
        times.append(times[-1] + days * DAY)
        seconds.append(days * 86400)
    changes = list(OpportunityStageChange.objects.filter(opportunity=deal).order_by("changed_at"))
    assert len(changes) == len(times)
    for change, when, secs in zip(changes, times, seconds, strict=True):
        OpportunityStageChange.objects.filter(pk=change.pk).update(
            changed_at=when, seconds_in_from_stage=secs
        )
    Opportunity.objects.filter(pk=deal.pk).update(created_at=created)
    return deal


@pytest.fixture
def history(in_org, owner, settings):
    settings.TIME_ZONE = "UTC"
    maria = make_member(in_org, Role.SALES_REP, full_name="Maria Ivanova")
    bob = make_member(in_org, Role.SALES_REP, full_name="Bob Brown")
    # 1 USD = 0.90 EUR from January, 0.80 from 10 February (and still today).
    for rate, day in (("0.90", datetime.date(2024, 1, 1)), ("0.80", datetime.date(2024, 2, 10))):
        record_create(
            ExchangeRate,
            org=in_org,
            actor=owner,
            currency="USD",
            rate=Decimal(rate),
            valid_from=day,
        )

    def deal(**kw):
        return _build_deal(in_org, owner, **kw)

    deals = {
        "d1": deal(
            name="D1",
            owner=maria,
            source="web_form",
            value="1000",
            currency="EUR",
            created=_at(2024, 1, 1),
            path=["Qualification", ("Needs analysis", 10), ("Proposal", 5)],
            close=("won", datetime.date(2024, 1, 19), None, 3),
        ),
        "d2": deal(
            name="D2",
            owner=maria,
            source="web_form",
            value="2000",
            currency="EUR",
            created=_at(2024, 1, 5),
            path=["Qualification", ("Needs analysis", 4)],
            close=("lost", datetime.date(2024, 1, 15), "Price too high", 6),
        ),
        # Skips "Needs analysis"; in dollars, closed when 1 USD was 0.80 EUR.
        "d3": deal(
            name="D3",
            owner=bob,
            source="event",
            value="500",
            currency="USD",
            created=_at(2024, 2, 1),
            path=["Qualification", ("Proposal", 2), ("Negotiation", 8)],
            close=("won", datetime.date(2024, 2, 13), None, 2),
        ),
        "d4": deal(
            name="D4",
            owner=bob,
            source="event",
            value="3000",
            currency="EUR",
            created=_at(2024, 2, 10),
            path=["Qualification"],
            close=("lost", datetime.date(2024, 3, 1), "No budget", 20),
        ),
        "d5": deal(
            name="D5",
            owner=maria,
            source="referral",
            value="4000",
            currency="EUR",
            created=_at(2024, 2, 15),
            path=["Qualification"],
            close=("lost", datetime.date(2024, 2, 16), "Price too high", 1),
        ),
        # Open deals: the pipeline the velocity is about.
        "d6": deal(
            name="D6",
            owner=bob,
            source="manual",
            value="1000",
            currency="EUR",
            created=_at(2024, 3, 1),
            path=["Qualification", ("Needs analysis", 3)],
        ),
        "d7": deal(
            name="D7",
            owner=maria,
            source="manual",
            value="2000",
            currency="USD",
            created=_at(2024, 3, 10),
            path=["Proposal"],
        ),
        # Closed before the range: counted nowhere.
        "d8": deal(
            name="D8",
            owner=maria,
            source="web_form",
            value="9999",
            currency="EUR",
            created=_at(2023, 12, 1),
            path=["Qualification"],
            close=("won", datetime.date(2023, 12, 6), None, 5),
        ),
    }
    return {"maria": maria, "bob": bob, **deals}


def _analysis(user, org, **filters):
    filters.setdefault("date_from", RANGE[0])
    filters.setdefault("date_to", RANGE[1])
    return win_loss_analysis(user=user, org=org, filters=AnalysisFilters(**filters)).as_dict()


def test_summary_and_velocity_are_exact(history, in_org, owner):
    data = _analysis(owner, in_org)

    assert data["currency"] == "EUR"
    assert data["summary"] == {
        "closed": 5,
        "won": 2,
        "lost": 3,
        "win_rate": 40.0,
        "won_value": "1400.00",  # 1000 EUR + 500 USD × 0.80
        "lost_value": "9000.00",
        "avg_deal_size": "700.00",
        "avg_cycle_days": 15.0,  # D1: 18 days, D3: 12 days
    }
    # Open: D6 1000 EUR + D7 2000 USD × 0.80 today = 2600; × 40 % ÷ 15 days.
    assert data["velocity"] == {
        "open_count": 2,
        "open_value": "2600.00",
        "avg_open_value": "1300.00",
        "win_rate": 40.0,
        "avg_cycle_days": 15.0,
        "per_day": "69.33",
    }
    assert data["unconverted"] == {"currencies": [], "deals": 0}


def test_groups_are_exact(history, in_org, owner):
    data = _analysis(owner, in_org)

    assert data["by_month"] == [
        {"month": "2024-01", "won": 1, "lost": 1, "won_value": "1000.00", "lost_value": "2000.00"},
        {"month": "2024-02", "won": 1, "lost": 1, "won_value": "400.00", "lost_value": "4000.00"},
        {"month": "2024-03", "won": 0, "lost": 1, "won_value": "0.00", "lost_value": "3000.00"},
    ]
    assert [
        (r["label"], r["closed"], r["won"], r["lost"], r["win_rate"]) for r in data["by_owner"]
    ] == [
        ("Maria Ivanova", 3, 1, 2, 33.3),
        ("Bob Brown", 2, 1, 1, 50.0),
    ]
    assert [
        (r["key"], r["label"], r["won"], r["lost"], r["win_rate"]) for r in data["by_source"]
    ] == [
        ("event", "Event", 1, 1, 50.0),
        ("web_form", "Web form", 1, 1, 50.0),
        ("referral", "Referral", 0, 1, 0.0),
    ]
    assert [(r["label"], r["closed"], r["win_rate"]) for r in data["by_pipeline"]] == [
        ("New business", 5, 40.0)
    ]
    assert [(r["label"], r["count"], r["value"], r["share"]) for r in data["loss_reasons"]] == [
        ("Price too high", 2, "6000.00", 66.7),
        ("No budget", 1, "3000.00", 33.3),
    ]


def test_stage_funnel_and_time_in_stage_are_exact(history, in_org, owner):
    data = _analysis(owner, in_org)

    (pipeline,) = data["pipelines"]
    assert pipeline["name"] == "New business"
    rows = [
        (
            s["name"],
            s["reached"],
            s["advanced"],
            s["conversion_rate"],
            s["won"],
            s["win_rate"],
            s["exits"],
            s["avg_days"],
            s["median_days"],
        )
        for s in pipeline["stages"]
    ]
    assert rows == [
        # Exits from Qualification: 10, 4, 2, 20, 1 and 3 days (D6 is open, still counted).
        ("Qualification", 5, 3, 60.0, 2, 40.0, 6, 6.7, 3.5),
        ("Needs analysis", 3, 2, 66.7, 2, 66.7, 2, 5.5, 5.5),
        # D3 skipped "Needs analysis" but reached Proposal.
        ("Proposal", 2, 2, 100.0, 2, 100.0, 2, 5.5, 5.5),
        ("Negotiation", 2, 2, 100.0, 2, 100.0, 1, 2.0, 2.0),
    ]


def test_filters_owner_team_pipeline_and_range(history, in_org, owner):
    from pulse.accounts.models import Team

    bob = _analysis(owner, in_org, owner=history["bob"])
    assert (bob["summary"]["won"], bob["summary"]["lost"], bob["summary"]["win_rate"]) == (
        1,
        1,
        50.0,
    )
    assert bob["summary"]["won_value"] == "400.00"
    assert bob["velocity"]["open_count"] == 1

    team = record_create(Team, org=in_org, actor=owner, name="South")
    team.members.add(history["maria"])
    south = _analysis(owner, in_org, team=team)
    assert (south["summary"]["won"], south["summary"]["lost"]) == (1, 2)
    assert [r["label"] for r in south["by_owner"]] == ["Maria Ivanova"]

    other = make_pipeline(in_org, owner, name="Renewals")
    empty = _analysis(owner, in_org, pipeline=other)
    assert empty["summary"]["closed"] == 0
    assert empty["summary"]["win_rate"] is None
    assert empty["summary"]["avg_deal_size"] is None
    assert empty["velocity"]["per_day"] is None
    assert [p["name"] for p in empty["pipelines"]] == ["Renewals"]
    assert {s["reached"] for s in empty["pipelines"][0]["stages"]} == {0}

    december = _analysis(
        owner, in_org, date_from=datetime.date(2023, 12, 1), date_to=datetime.date(2023, 12, 31)
    )
    assert (december["summary"]["won"], december["summary"]["won_value"]) == (1, "9999.00")
    assert december["summary"]["avg_cycle_days"] == 5.0


def test_a_currency_without_any_rate_is_counted_but_not_valued(history, in_org, owner):
    deal = _build_deal(
        in_org,
        owner,
        name="Yen",
        owner=history["bob"],
        source="",
        value="100000",
        currency="JPY",
        created=_at(2024, 3, 1),
        path=["Qualification"],
        close=("won", datetime.date(2024, 3, 5), None, 4),
    )
    assert deal.currency == "JPY"
    data = _analysis(owner, in_org)
    assert (data["summary"]["won"], data["summary"]["won_value"]) == (3, "1400.00")
    assert data["summary"]["avg_deal_size"] == "700.00"  # of the two deals with a value
    assert data["unconverted"] == {"currencies": ["JPY"], "deals": 1}
    assert ("", "Not recorded") in [(r["key"], r["label"]) for r in data["by_source"]]


def test_a_rep_sees_only_deals_they_may_see(history, in_org):
    from pulse.accounts.models import Organization, RecordVisibility

    Organization.objects.filter(pk=in_org.pk).update(record_visibility=RecordVisibility.TEAM)
    in_org.record_visibility = RecordVisibility.TEAM
    data = _analysis(history["bob"], in_org)
    assert (data["summary"]["won"], data["summary"]["lost"]) == (1, 1)
    assert [r["label"] for r in data["by_owner"]] == ["Bob Brown"]


def test_velocity_alone_matches_the_analysis(history, in_org, owner):
    velocity = pipeline_velocity(
        user=owner, org=in_org, filters=AnalysisFilters(date_from=RANGE[0], date_to=RANGE[1])
    )
    assert velocity.as_dict() == _analysis(owner, in_org)["velocity"]


# --- the page and the API ----------------------------------------------------------------------


def test_page_shows_the_numbers_and_the_charts_data(history, org, owner):
    client = login(owner, org)
    url = reverse("opportunities:analysis")
    response = client.get(url, {"date_from": "2024-01-01", "date_to": "2024-03-31"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="kpi-win-rate"' in html and "40.0%" in html
    assert "Price too high" in html
    assert 'id="analysis-data"' in html
    assert 'id="chart-won-lost"' in html and 'id="chart-funnel"' in html


def test_page_refuses_a_bad_range_clearly(history, org, owner):
    client = login(owner, org)
    response = client.get(
        reverse("opportunities:analysis"), {"date_from": "2024-03-01", "date_to": "2024-01-01"}
    )
    assert response.status_code == 400
    assert "The end comes before the start." in response.content.decode()


def test_api_analysis_and_velocity(history, org, owner):
    client = api_client(owner, org)
    response = client.get(
        "/api/crm/opportunities/analysis/", {"date_from": "2024-01-01", "date_to": "2024-03-31"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"]["win_rate"] == 40.0
    assert body["loss_reasons"][0]["label"] == "Price too high"

    response = client.get(
        "/api/crm/opportunities/velocity/",
        {"date_from": "2024-01-01", "date_to": "2024-03-31", "assigned_to": history["bob"].pk},
    )
    assert response.status_code == 200, response.content
    assert response.json()["open_count"] == 1


def test_api_refuses_bad_filters_with_the_error_shape(history, org, owner):
    client = api_client(owner, org)
    response = client.get("/api/crm/opportunities/analysis/", {"date_from": "not a date"})
    assert response.status_code == 400
    assert "date_from" in response.json()["errors"]
    response = client.get("/api/crm/opportunities/analysis/", {"pipeline": "nope"})
    assert response.status_code == 400
    assert "pipeline" in response.json()["errors"]


@pytest.mark.parametrize("extra", [0, 12])
def test_query_count_does_not_grow_with_the_deals(
    history, in_org, org, owner, extra, django_assert_max_num_queries
):
    for n in range(extra):
        _build_deal(
            in_org,
            owner,
            name=f"X{n}",
            owner=history["maria"],
            source="event",
            value="10",
            currency="USD" if n % 2 else "EUR",
            created=_at(2024, 1, 2),
            path=["Qualification", ("Proposal", n + 1)],
            close=("lost" if n % 3 else "won", datetime.date(2024, 1, 2) + n * DAY, "Timing", 1),
        )
    client = login(owner, org)
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get(reverse("opportunities:analysis"), {"date_from": "2024-01-01"})
    assert response.status_code == 200
    api = api_client(owner, org)
    with django_assert_max_num_queries(API_QUERIES):
        response = api.get("/api/crm/opportunities/analysis/", {"date_from": "2024-01-01"})
    assert response.status_code == 200


PAGE_QUERIES = 22  # measured: the same with 0 and 12 more deals
API_QUERIES = 16  # measured: the same with 0 and 12 more deals
