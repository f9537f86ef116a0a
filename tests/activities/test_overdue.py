"""Overdue and today's counts: the selector, its one query per request, the sidebar
badge and the API twin."""

from __future__ import annotations

import datetime

from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from pulse.activities.selectors import OverdueCounts, overdue_count, overdue_counts
from pulse.activities.services import activity_delete
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from tests.activities.factories import make_activity
from tests.conftest import login

DAY = datetime.timedelta(days=1)


def _world(org, owner, rep):
    today = timezone.localdate()
    now = timezone.now()
    make_activity(org, owner, type="task", subject="Overdue task", due_date=today - DAY)
    make_activity(org, owner, type="task", subject="Due today", due_date=today)
    make_activity(org, owner, type="task", subject="Tomorrow", due_date=today + DAY)
    make_activity(
        org,
        owner,
        type="call",
        subject="Ended call",
        scheduled_at=now - datetime.timedelta(hours=3),
        duration_minutes=30,
    )
    make_activity(  # started, not ended: not overdue yet
        org,
        owner,
        type="meeting",
        subject="Running meeting",
        scheduled_at=now - datetime.timedelta(minutes=10),
        duration_minutes=60,
    )
    make_activity(
        org, owner, type="meeting", subject="Later", scheduled_at=now + datetime.timedelta(days=2)
    )
    make_activity(
        org,
        owner,
        type="task",
        subject="Done",
        due_date=today - DAY,
        status="completed",
    )
    make_activity(org, owner, type="task", subject="Cancelled", due_date=today - DAY)
    gone = make_activity(org, owner, type="task", subject="Trashed", due_date=today - DAY)
    activity_delete(activity=gone, actor=owner)
    make_activity(org, owner, type="task", subject="Rep's", due_date=today - DAY, assigned_to=rep)


def test_overdue_counts_what_is_late_and_what_is_on_today(org, owner, rep, in_org):
    from pulse.activities.models import Activity
    from pulse.activities.services import activity_cancel

    _world(org, owner, rep)
    activity_cancel(activity=Activity.objects.get(subject="Cancelled"), actor=owner)
    # Late: the overdue task and the call that ended. Today: the task due today and the
    # running meeting (when "now" is not right after midnight, it started today).
    counts = overdue_counts(owner, org)
    assert counts.overdue == 2
    started_today = (
        timezone.localtime(timezone.now() - datetime.timedelta(minutes=10)).date()
        == timezone.localdate()
    )
    ended_today = (
        timezone.localtime(timezone.now() - datetime.timedelta(hours=3)).date()
        == timezone.localdate()
    )
    assert counts.today == 1 + started_today + ended_today
    assert overdue_count(rep, org) == 1


def test_an_all_day_activity_is_late_the_day_after(org, owner, in_org):
    now = timezone.now()
    running = now - datetime.timedelta(hours=23)
    make_activity(org, owner, type="meeting", subject="Fair", scheduled_at=running, all_day=True)
    assert overdue_count(owner, org) == 0
    ended = now - datetime.timedelta(hours=25)
    make_activity(org, owner, type="meeting", subject="Fair 2", scheduled_at=ended, all_day=True)
    assert overdue_count(owner, org) == 1


def test_one_query_per_request_however_often_it_is_asked(
    org, owner, in_org, django_assert_num_queries
):
    make_activity(org, owner, type="task", subject="Late", due_date=timezone.localdate() - DAY)
    with tenant_context(org, actor=owner), django_assert_num_queries(1):
        assert overdue_counts(owner, org) == OverdueCounts(overdue=1, today=0)
        assert overdue_count(owner, org) == 1


def test_another_organization_counts_nothing_of_ours(org, owner, other_org, in_org):
    make_activity(org, owner, type="task", subject="Late", due_date=timezone.localdate() - DAY)
    assert overdue_counts(owner, other_org) == OverdueCounts()
    assert overdue_counts(None, org) == OverdueCounts()


def _badge(user, org) -> str:
    request = RequestFactory().get("/")
    request.user = user
    request.organization = org
    with tenant_context(org, actor=user):
        return render_to_string(
            "activities/partials/overdue_badge.html", {"request": request}
        ).strip()


def test_the_badge_shows_the_counts_and_nothing_when_there_are_none(org, owner, rep, in_org):
    assert _badge(owner, org) == ""
    today = timezone.localdate()
    make_activity(org, owner, type="task", subject="Late 1", due_date=today - DAY)
    make_activity(org, owner, type="task", subject="Late 2", due_date=today - 2 * DAY)
    make_activity(org, owner, type="task", subject="Today", due_date=today)
    html = _badge(owner, org)
    assert 'data-testid="overdue-count"' in html
    assert 'title="2 overdue activities"' in html
    assert '>2<span class="visually-hidden"> overdue</span>' in html
    assert 'title="1 activity due today"' in html
    assert _badge(rep, org) == ""


def test_the_badge_renders_on_every_page_through_the_nav(owner_client, org, owner):
    # The badge renders on its own (the nav loads it after the page).
    response = owner_client.get("/")
    assert response.status_code == 200


def test_api_overdue_count_is_the_badges_twin(org, owner, rep):
    with tenant_context(org, actor=owner):
        make_activity(org, owner, type="task", subject="Late", due_date=timezone.localdate() - DAY)
        make_activity(org, owner, type="task", subject="Today", due_date=timezone.localdate())
    response = api_client(owner, org).get("/api/crm/activities/overdue-count/")
    assert response.status_code == 200
    assert response.json() == {"overdue": 1, "today": 1}
    assert api_client(rep, org).get("/api/crm/activities/overdue-count/").json() == {
        "overdue": 0,
        "today": 0,
    }


def test_every_page_loads_the_badge_after_itself(org, owner, in_org):
    make_activity(org, owner, type="task", subject="Late", due_date=timezone.localdate() - DAY)
    client = login(owner, org)
    badge_url = reverse("activities:overdue_badge")
    page = client.get(reverse("activities:activity_list")).content.decode()
    assert f'hx-get="{badge_url}"' in page
    badge = client.get(badge_url).content.decode()
    assert 'title="1 overdue activity"' in badge
