"""The Forecast page, its drill-down and inline category change, and the API twin
``GET /api/crm/opportunities/forecast/`` (+ ``POST …/{id}/forecast-category/``): exact
numbers, bad parameters, refusals, and query counts that do not grow with the data."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.testing import api_client
from pulse.opportunities.forecast import forecast_snapshot_take
from pulse.opportunities.models import Opportunity
from pulse.opportunities.services import opportunity_create
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.opportunities.test_forecast import world  # noqa: F401 (the shared fixture)

API = "/api/crm/opportunities/forecast/"
PAGE_QUERIES = 15
API_QUERIES = 9


def _drill(world, who="maria", start="2024-07-01"):  # noqa: F811
    owner = world[who].pk if who else "none"
    return (
        f"{reverse('opportunities:forecast_deals')}?period=quarter&year=2024&start={start}"
        f"&owner={owner}"
    )


def _grow(world, n=30):  # noqa: F811
    stage = world["stages"]["Proposal"]
    for i in range(n):
        who = make_member(world["org"], Role.SALES_REP, full_name=f"Rep {i}")
        opportunity_create(
            org=world["org"],
            actor=world["owner"],
            name=f"N{i}",
            assigned_to=who,
            value=D("100"),
            stage=stage,
            currency="USD" if i % 2 else "EUR",
            expected_close_date=datetime.date(2024, 4 + i % 9, 3),
        )


# --- the page ----------------------------------------------------------------------------------


def test_forecast_page_draws_chart_table_and_rates(world):  # noqa: F811
    forecast_snapshot_take(world["org"], on=datetime.date(2024, 8, 15))
    client = login(world["boris"], world["org"])
    response = client.get(reverse("opportunities:forecast"), {"year": "2024"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<canvas id="forecast-chart"' in html
    assert '<canvas id="forecast-history-chart"' in html  # Q2's snapshot
    assert "Maria Ivanova" in html and "Bob Brown" in html and "East" in html
    assert "Q2 FY 2024/25" in html
    assert "1 USD = 0.9 EUR" in html and "1 USD = 0.8 EUR" in html  # the rates used
    assert "100,000.00 JPY" in html  # left out, no rate
    data = response.context["forecast"]
    assert data.periods[1].total.closed_won == D("6000.00")
    assert response.context["chart"]["closed_won"] == [14500.0, 6000.0, 0.0, 0.0]


def test_forecast_page_bad_parameters_answer_400_with_the_reason(world):  # noqa: F811
    client = login(world["owner"], world["org"])
    response = client.get(reverse("opportunities:forecast"), {"period": "week", "year": "x"})
    assert response.status_code == 400
    assert set(response.context["errors"]) == {"period", "year"}
    assert 'data-testid="forecast-errors"' in response.content.decode()


def test_forecast_page_query_count_does_not_grow(world, django_assert_max_num_queries):  # noqa: F811
    client = login(world["owner"], world["org"])
    url = reverse("opportunities:forecast")
    client.get(url, {"year": "2024", "period": "month"})
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert client.get(url, {"year": "2024", "period": "month"}).status_code == 200
    _grow(world)
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert client.get(url, {"year": "2024", "period": "month"}).status_code == 200


# --- drill-down and inline category change ------------------------------------------------------


def test_drill_down_lists_the_owners_deals_of_the_period(world):  # noqa: F811
    client = login(world["boris"], world["org"])
    response = client.get(_drill(world), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert ">M3<" in html and ">M4<" in html and ">M1<" not in html  # M1 closed in Q1
    assert "≈ 1,600.00 EUR" in html  # the USD deal in the organization's currency
    assert html.count('name="forecast_category"') == 2  # a manager can change both


def test_drill_down_of_unassigned_deals_and_bad_parameters(world):  # noqa: F811
    client = login(world["owner"], world["org"])
    assert client.get(_drill(world, who=None)).status_code == 200
    for bad in ("start=2024-07-02", "start=nope"):
        url = f"{reverse('opportunities:forecast_deals')}?period=quarter&year=2024&{bad}"
        assert client.get(url).status_code == 400
    assert client.get(_drill(world) + "x").status_code == 400  # owner "123x"


def test_a_rep_sees_no_category_control_on_someone_elses_deals(world):  # noqa: F811
    client = login(world["bob"], world["org"])
    html = client.get(_drill(world)).content.decode()
    assert ">M3<" in html and 'name="forecast_category"' not in html
    own = client.get(_drill(world, who="bob")).content.decode()
    assert own.count('name="forecast_category"') == 2  # B3 and omitted B4 (B2 is won)


def _post(client, world, deal, category, **extra):  # noqa: F811
    url = reverse("opportunities:opportunity_forecast_category", args=[deal.pk])
    body = {
        "forecast_category": category,
        "period": "quarter",
        "start": "2024-07-01",
        "owner": deal.assigned_to_id,
        "version": deal.version,
    }
    return client.post(url, body, **extra)


def test_manager_changes_category_inline_and_sees_the_trail(world):  # noqa: F811
    client = login(world["boris"], world["org"])
    deal = world["deals"]["m3"]
    response = _post(client, world, deal, "best_case", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "best_case"
    html = response.content.decode()
    assert "Maria Ivanova · M3: Commit → Best case, by Boris Manager" in html
    # Without htmx: back to the forecast page.
    deal.refresh_from_db()
    response = _post(client, world, deal, "commit")
    assert response.status_code == 302 and response["Location"] == reverse("opportunities:forecast")
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "commit"


def test_rep_is_refused_on_someone_elses_deal_and_nothing_changes(world):  # noqa: F811
    client = login(world["bob"], world["org"])
    deal = world["deals"]["m3"]
    response = _post(client, world, deal, "omitted", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "Only a manager" in response.content.decode()
    after = Opportunity.objects.get(pk=deal.pk)
    assert (after.forecast_category, after.version) == ("commit", deal.version)


def test_stale_version_and_bad_category_are_refused(world):  # noqa: F811
    client = login(world["boris"], world["org"])
    deal = world["deals"]["m3"]
    deal.version -= 1
    assert _post(client, world, deal, "omitted", HTTP_HX_REQUEST="true").status_code == 400
    deal.refresh_from_db()
    assert _post(client, world, deal, "won", HTTP_HX_REQUEST="true").status_code == 400
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "commit"


# --- the API -------------------------------------------------------------------------------------


def test_api_forecast_by_quarter_is_exact(world):  # noqa: F811
    client = api_client(world["owner"], world["org"])
    response = client.get(API, {"period": "quarter", "year": "2024"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["currency"], body["period"], body["year"]) == ("EUR", "quarter", 2024)
    q1, q2, _q3, _q4 = body["periods"]
    assert (q1["start"], q1["end"], q1["label"]) == ("2024-04-01", "2024-06-30", "Q1 FY 2024/25")
    maria = next(o for o in q1["owners"] if o["name"] == "Maria Ivanova")
    assert (maria["id"], maria["closed_won"], maria["won_count"]) == (
        world["maria"].pk,
        "14500.00",
        2,
    )
    assert (maria["quota"], maria["attainment"]) == ("20000.00", "72.5")
    assert (q2["closed_won"], q2["commit"], q2["best_case"]) == ("6000.00", "8000.00", "1600.00")
    assert (q2["pipeline"], q2["pipeline_weighted"]) == ("13600.00", "4800.00")
    (east,) = q2["teams"]
    assert (east["name"], east["quota"], east["attainment"]) == ("East", "30000.00", "20.0")
    assert body["totals"]["closed_won"] == "20500.00"
    assert body["rates"] == [
        {"currency": "USD", "rate": "0.90000000", "rate_date": "2024-01-01"},
        {"currency": "USD", "rate": "0.80000000", "rate_date": "2024-07-01"},
    ]
    assert body["missing_rates"] == [{"currency": "JPY", "amount": "100000.00", "deals": 1}]


def test_api_forecast_includes_snapshot_history_and_accuracy(world):  # noqa: F811
    forecast_snapshot_take(world["org"], on=datetime.date(2024, 4, 5))
    body = api_client(world["owner"], world["org"]).get(API, {"year": "2024"}).json()
    q1 = body["periods"][0]
    assert q1["history"] == [
        {
            "taken_on": "2024-04-05",
            "closed": "14500.00",
            "commit": "0.00",
            "best_case": "0.00",
            "pipeline": "0.00",
        }
    ]
    assert q1["accuracy"]["accuracy"] == "100.0"  # the year's Q1 is closed (it is 2024+)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "week"}, "period"),
        ({"year": "abc"}, "year"),
        ({"team": "x"}, "team"),
        ({"assigned_to": "0"}, "assigned_to"),
        ({"pipeline": "00000000-0000-0000-0000-000000000000"}, "pipeline"),
    ],
)
def test_api_forecast_bad_parameters_are_400(world, params, field):  # noqa: F811
    response = api_client(world["owner"], world["org"]).get(API, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_api_forecast_query_count_does_not_grow(world, django_assert_max_num_queries):  # noqa: F811
    client = api_client(world["owner"], world["org"])
    client.get(API, {"year": "2024", "period": "month"})
    with django_assert_max_num_queries(API_QUERIES):
        assert client.get(API, {"year": "2024", "period": "month"}).status_code == 200
    _grow(world)
    with django_assert_max_num_queries(API_QUERIES):
        response = client.get(API, {"year": "2024", "period": "month"})
    assert len(response.json()["owners"]) == 32


def test_api_forecast_category_manager_yes_rep_no(world):  # noqa: F811
    deal = world["deals"]["m3"]
    url = f"/api/crm/opportunities/{deal.pk}/forecast-category/"
    refused = api_client(world["bob"], world["org"]).post(url, {"forecast_category": "omitted"})
    assert refused.status_code == 403
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "commit"
    bad = api_client(world["boris"], world["org"]).post(url, {"forecast_category": "closed"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["forecast_category"]
    ok = api_client(world["boris"], world["org"]).post(
        url, {"forecast_category": "best_case", "version": deal.version}, format="json"
    )
    assert ok.status_code == 200, ok.content
    assert ok.json() == {
        "id": str(deal.pk),
        "forecast_category": "best_case",
        "version": deal.version + 1,
    }


def test_api_forecast_category_of_another_organization_is_404(world, other_org, other_owner):  # noqa: F811
    deal = world["deals"]["m3"]
    url = f"/api/crm/opportunities/{deal.pk}/forecast-category/"
    response = api_client(other_owner, other_org).post(url, {"forecast_category": "omitted"})
    assert response.status_code == 404
    assert Opportunity.objects.get(pk=deal.pk).forecast_category == "commit"


def test_forecast_is_in_the_api_schema(world):  # noqa: F811
    schema = login(world["owner"], world["org"]).get("/api/schema/").content.decode()
    assert "/api/crm/opportunities/forecast/" in schema
    assert "/api/crm/opportunities/{id}/forecast-category/" in schema
