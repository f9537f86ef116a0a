"""Conversion analytics: exact numbers on a small history, the page and the API, and a
bounded number of queries however many leads there are."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.testing import api_client
from pulse.leads.analytics import conversion_analytics
from pulse.leads.conversion import lead_convert
from pulse.leads.models import Lead
from pulse.leads.services import lead_create, lead_move_stage
from tests.accounts.factories import make_member
from tests.conftest import login

TZ = datetime.UTC


def _at(y, m, d):
    return datetime.datetime(y, m, d, 12, 0, tzinfo=TZ)


@pytest.fixture
def history(in_org, owner, settings):
    settings.TIME_ZONE = "UTC"
    maria = make_member(in_org, Role.SALES_REP, full_name="Maria Ivanova")
    bob = make_member(in_org, Role.SALES_REP, full_name="Bob Brown")

    def lead(title, source, who, created, score):
        row = lead_create(
            org=in_org, actor=owner, title=title, last_name=title, source=source, assigned_to=who
        )
        Lead.objects.filter(pk=row.pk).update(created_at=created, score=score)
        row.refresh_from_db()
        return row

    l1 = lead("L1", "web_form", maria, _at(2024, 1, 10), 80)
    lead_convert(lead=l1, actor=owner, create_company=False)
    Lead.objects.filter(pk=l1.pk).update(converted_at=_at(2024, 1, 20))

    l2 = lead("L2", "web_form", maria, _at(2024, 1, 15), 20)
    lead_move_stage(lead=l2, stage="unqualified", actor=owner, reason="No budget")

    l3 = lead("L3", "event", bob, _at(2024, 2, 5), 60)
    for key in ("contacted", "qualified"):
        l3 = lead_move_stage(lead=l3, stage=key, actor=owner)
    lead_convert(lead=l3, actor=owner, create_company=False)
    Lead.objects.filter(pk=l3.pk).update(converted_at=_at(2024, 2, 9))

    l4 = lead("L4", "event", bob, _at(2024, 2, 7), 50)
    lead_move_stage(lead=l4, stage="contacted", actor=owner)

    # Outside the range: not counted anywhere.
    l5 = lead("L5", "referral", maria, _at(2023, 12, 31), 99)
    lead_convert(lead=l5, actor=owner, create_company=False)
    return {"maria": maria, "bob": bob}


def test_numbers_are_exact(history, owner):
    data = conversion_analytics(
        user=owner, date_from=datetime.date(2024, 1, 1), date_to=datetime.date(2024, 2, 29)
    ).as_dict()

    assert (data["total"], data["converted"], data["lost"], data["rate"]) == (4, 2, 1, 50.0)
    assert data["avg_days_to_convert"] == 7.0
    assert (data["avg_score_converted"], data["avg_score_lost"]) == (70.0, 20.0)
    assert data["by_source"] == [
        {"key": "event", "label": "Event", "total": 2, "converted": 1, "rate": 50.0},
        {"key": "web_form", "label": "Web form", "total": 2, "converted": 1, "rate": 50.0},
    ]
    assert [(r["label"], r["total"], r["converted"]) for r in data["by_owner"]] == [
        ("Bob Brown", 2, 1),
        ("Maria Ivanova", 2, 1),
    ]
    assert [(r["key"], r["total"], r["converted"]) for r in data["by_month"]] == [
        ("2024-01", 2, 1),
        ("2024-02", 2, 1),
    ]
    assert [(r["key"], r["reached"]) for r in data["funnel"]] == [
        ("new", 4),
        ("contacted", 3),
        ("qualified", 2),
        ("converted", 2),
    ]


def test_empty_range_has_zeros_and_no_averages(history, owner):
    data = conversion_analytics(
        user=owner, date_from=datetime.date(2020, 1, 1), date_to=datetime.date(2020, 3, 31)
    ).as_dict()
    assert (data["total"], data["rate"], data["avg_days_to_convert"]) == (0, 0.0, None)
    assert [r["total"] for r in data["by_month"]] == [0, 0, 0]
    assert data["by_source"] == []


def test_page_shows_numbers_with_bounded_queries(
    history, org, owner, django_assert_max_num_queries
):
    client = login(owner, org)
    url = reverse("leads:lead_analytics") + "?date_from=2024-01-01&date_to=2024-02-29"
    with django_assert_max_num_queries(20):
        response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "50.0%" in content
    assert "7.0 days" in content
    assert 'id="analytics-data"' in content

    # Many more leads: the same number of queries.
    for i in range(15):
        lead_create(org=org, actor=owner, title=f"More {i}", last_name="X", assigned_to=owner)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    url_all = reverse("leads:lead_analytics")
    with CaptureQueriesContext(connection) as many:
        client.get(url_all)
    assert len(many) == len(few)


def test_bad_range_is_a_clear_error(history, org, owner):
    client = login(owner, org)
    response = client.get(
        reverse("leads:lead_analytics") + "?date_from=2024-03-01&date_to=2024-01-01"
    )
    assert response.status_code == 400
    assert "The end comes before the start." in response.content.decode()

    api = api_client(owner, org)
    response = api.get("/api/crm/leads/analytics/?date_from=2010-01-01&date_to=2024-01-01")
    assert response.status_code == 400
    assert response.json() == {"errors": {"date_from": ["Choose at most five years."]}}


def test_api_returns_the_same_numbers(history, org, owner):
    response = api_client(owner, org).get(
        "/api/crm/leads/analytics/?date_from=2024-01-01&date_to=2024-02-29"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["converted"], body["avg_days_to_convert"]) == (4, 2, 7.0)
    assert body["date_from"] == "2024-01-01"


def test_visibility_applies(history, org, owner):
    from pulse.accounts.models import RecordVisibility

    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    bob = history["bob"]
    data = conversion_analytics(
        user=bob, date_from=datetime.date(2024, 1, 1), date_to=datetime.date(2024, 2, 29)
    )
    assert (data.total, data.converted) == (2, 1)
    assert [r.label for r in data.by_owner] == ["Bob Brown"]


def test_lead_moved_to_converted_stage_by_hand_counts(in_org, owner):
    lead = lead_create(org=in_org, actor=owner, title="Hand", last_name="H")
    lead_move_stage(lead=lead, stage="converted", actor=owner)
    from django.utils import timezone

    today = timezone.localdate()
    data = conversion_analytics(user=owner, date_from=today, date_to=today)
    assert (data.total, data.converted, data.avg_days_to_convert) == (1, 1, 0.0)
