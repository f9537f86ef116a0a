"""Activity reports: per owner and type, completion rate, overdue, calls by outcome; the
page and GET /api/crm/activities/report/ give the same numbers."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.activities.selectors import activity_report
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape, web_client
from tests.activities.factories import make_activity

pytestmark = pytest.mark.django_db


def _data(org, owner, rep):
    today = timezone.localdate()
    with tenant_context(org, actor=owner):
        make_activity(
            org, owner, type="call", subject="c1", status="completed", call_outcome="connected"
        )
        make_activity(
            org, owner, type="call", subject="c2", status="completed", call_outcome="busy"
        )
        make_activity(
            org, owner, type="task", subject="t1", due_date=today - datetime.timedelta(days=1)
        )
        make_activity(
            org,
            rep,
            type="meeting",
            subject="m1",
            assigned_to=rep,
            scheduled_at=timezone.now() + datetime.timedelta(hours=1),
        )
        make_activity(
            org,
            owner,
            type="note",
            subject="old",
            status="completed",
            completed_at=timezone.now() - datetime.timedelta(days=400),
        )


def test_report_counts_in_sql(org, owner, rep):
    _data(org, owner, rep)
    today = timezone.localdate()
    with tenant_context(org, actor=owner):
        report = activity_report(
            user=owner,
            start=today - datetime.timedelta(days=29),
            end=today + datetime.timedelta(days=1),
        )
    assert (report.total, report.completed, report.pending, report.overdue) == (4, 2, 2, 1)
    assert report.completion_rate == 50.0
    assert report.per_type == {"call": 2, "email": 0, "meeting": 1, "task": 1, "note": 0}
    assert [(r["name"], r["total"], r["completed"]) for r in report.per_user] == [
        ("Olivia Owner", 3, 2),
        ("Rita Rep", 1, 0),
    ]
    assert [(k, n) for k, _label, n in report.calls_by_outcome] == [
        ("connected", 1),
        ("voicemail", 0),
        ("no_answer", 0),
        ("busy", 1),
    ]


def test_page_and_api_agree_and_scope_me(org, owner, rep):
    _data(org, owner, rep)
    html = (
        web_client(owner, org)
        .get(reverse("activities:activity_report"), {"period": "last30", "scope": "me"})
        .content.decode()
    )
    assert 'data-testid="report-total">3<' in html and "chart-per-user" in html
    body = (
        api_client(owner, org)
        .get("/api/crm/activities/report/", {"period": "last30", "scope": "me"})
        .json()
    )
    assert (body["total"], body["completed"], body["overdue"]) == (3, 2, 1)
    assert body["calls_by_outcome"][0] == {"outcome": "connected", "label": "Connected", "count": 1}


def test_rep_with_team_visibility_sees_own_numbers_only(org, owner, rep):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    _data(org, owner, rep)
    body = api_client(rep, org).get("/api/crm/activities/report/", {"period": "last30"}).json()
    assert body["total"] == 1 and [r["name"] for r in body["per_user"]] == ["Rita Rep"]


def test_bad_custom_range_is_400(org, owner):
    response = api_client(owner, org).get(
        "/api/crm/activities/report/",
        {"period": "custom", "start": "2026-05-01", "end": "2026-04-01"},
    )
    assert_error_shape(response, 400, {"end"})
    page = web_client(owner, org).get(reverse("activities:activity_report"), {"period": "custom"})
    assert page.status_code == 400
