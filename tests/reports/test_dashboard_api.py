"""``GET /api/crm/dashboard/``: the default widgets' numbers for a period and scope,
limited by the caller's visibility; 400 for unknown input, 403 for a team not theirs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.core.testing import api_client, assert_error_shape
from pulse.reports.metrics import DEFAULT_LAYOUT
from tests.reports.test_metrics import world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

URL = "/api/crm/dashboard/"


def test_the_url_is_named():
    assert reverse("dashboard-metrics-list") == URL


def test_default_widgets_for_a_period(world):  # noqa: F811
    w = world
    response = api_client(w.owner, w.org).get(URL, {"period": "last_30_days", "scope": "org"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body["widgets"]) == [kind for kind, _w, _p in DEFAULT_LAYOUT]
    assert body["period"]["key"] == "last_30_days"
    assert body["period"]["last"] == w.today.isoformat()
    assert body["scope"] == {"key": "org", "label": w.org.name, "team": None, "owner_ids": None}
    revenue = body["widgets"]["revenue_won"]
    assert (revenue["number"], revenue["value"], revenue["delta"]) == (
        "5000.00",
        "EUR 5,000",
        25.0,
    )
    assert revenue["period"] == "last_30_days"
    assert revenue["link"].startswith("/opportunities/?")
    assert body["widgets"]["win_rate"]["number"] == 75.0
    assert body["widgets"]["open_pipeline"]["number"] == "10500.00"
    stages = body["widgets"]["pipeline_by_stage"]
    assert stages["chart"]["type"] == "bar"  # a funnel is drawn as horizontal bars
    assert stages["chart"]["options"]["indexAxis"] == "y"
    assert body["widgets"]["overdue_tasks"]["number"] == 2


def test_each_widget_its_own_period_by_default_and_chosen_widgets(world):  # noqa: F811
    w = world
    body = (
        api_client(w.rita, w.org)
        .get(URL, {"widgets": "revenue_won,overdue_tasks,leaderboard"})
        .json()
    )
    assert list(body["widgets"]) == ["revenue_won", "overdue_tasks", "leaderboard"]
    assert body["period"]["key"] is None
    assert body["scope"]["key"] == "me"
    assert body["scope"]["owner_ids"] == [w.rita.pk]
    assert body["widgets"]["overdue_tasks"]["number"] == 1
    assert body["widgets"]["revenue_won"]["period"] == "this_month"


def test_team_scope(world):  # noqa: F811
    w = world
    body = (
        api_client(w.mia, w.org)
        .get(URL, {"scope": "team", "team": str(w.north.pk), "period": "last_30_days"})
        .json()
    )
    assert body["scope"]["team"] == str(w.north.pk)
    assert body["widgets"]["revenue_won"]["number"] == "2000.00"


def test_a_team_not_yours_is_403(world):  # noqa: F811
    w = world
    response = api_client(w.rita, w.org).get(URL, {"scope": "team", "team": str(w.south.pk)})
    assert_error_shape(response, 403)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "someday"}, "period"),
        ({"scope": "universe"}, "scope"),
        ({"scope": "team", "team": "nope"}, "team"),
        ({"widgets": "open_pipeline,bogus"}, "widgets"),
    ],
)
def test_bad_input_is_400(world, params, field):  # noqa: F811
    response = api_client(world.owner, world.org).get(URL, params)
    assert field in assert_error_shape(response, 400)


def test_signed_out_is_refused(client):
    assert client.get(URL).status_code in (401, 403)


MINE = (
    "open_pipeline,revenue_won,win_rate,new_leads,pipeline_by_stage,forecast_vs_quota,"
    "my_tasks_today,overdue_tasks,upcoming_meetings,leaderboard,activities_by_type"
)


def test_dashboard_query_count(world, django_assert_num_queries):  # noqa: F811
    w = world
    client = api_client(w.owner, w.org)
    params = {"period": "this_quarter", "scope": "org", "widgets": MINE}
    # Eleven widgets in one request: a fixed number of aggregate queries (token,
    # membership, data version, exchange rates and pipelines once, then each widget's own).
    with django_assert_num_queries(30):
        assert client.get(URL, params).status_code == 200
    # Cached: the token, the membership and the organization's data version only.
    with django_assert_num_queries(3):
        assert client.get(URL, params).status_code == 200
