"""iCalendar out of the CRM: an activity as a VEVENT, the per-meeting .ics download, and
the private, revocable feed URL (page, public endpoint, API)."""

from __future__ import annotations

import datetime

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import Membership, Role
from pulse.activities.ical import activity_to_event, calendar_of
from pulse.activities.models import CalendarFeed
from pulse.activities.services import (
    activity_delete,
    activity_update,
    attendee_add,
    calendar_feed_create,
    calendar_feed_revoke,
)
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from tests.activities.factories import make_activity
from tests.conftest import login

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.UTC)


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def summaries(cal) -> list[str]:
    return sorted(str(e["summary"]) for e in cal.walk("VEVENT"))


@pytest.fixture
def meeting(org, owner, rep):
    with tenant_context(org, actor=owner):
        return make_activity(
            org,
            rep,
            type="meeting",
            subject="Kick-off",
            scheduled_at=START,
            duration_minutes=45,
            location="Sofia office",
            video_url="https://meet.example.com/abc",
            description="<p>Agenda: <b>pricing</b></p><script>x()</script>",
        )


def test_an_activity_as_a_vevent(org, meeting):
    event = activity_to_event(meeting)
    assert str(event["uid"]) == f"{meeting.pk}@pulsecrm"
    assert event.decoded("dtstart") == START
    assert event.decoded("dtend") == START + datetime.timedelta(minutes=45)
    assert str(event["location"]) == "Sofia office"
    assert str(event["url"]) == "https://meet.example.com/abc"
    assert str(event["description"]) == "Agenda: pricing\n\nhttps://meet.example.com/abc"
    assert (int(event["sequence"]), str(event["status"])) == (1, "CONFIRMED")
    cal = parse(calendar_of([event], name="Rita", method="PUBLISH"))
    assert (str(cal["method"]), str(cal["x-wr-calname"])) == ("PUBLISH", "Rita")


def test_a_due_date_task_is_an_all_day_event(org, owner, rep):
    with tenant_context(org, actor=owner):
        task = make_activity(org, rep, type="task", due_date=datetime.date(2026, 11, 27))
    event = activity_to_event(task)
    assert event.decoded("dtstart") == datetime.date(2026, 11, 27)
    assert event.decoded("dtend") == datetime.date(2026, 11, 28)


# --- the .ics download --------------------------------------------------------------------


def test_a_meeting_downloads_as_ics_with_its_people(org, rep, meeting):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, email="guest@example.com", name="Guest")
    response = login(rep, org).get(reverse("activities:activity_ics", args=[meeting.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="invite.ics"'
    (event,) = parse(response.content).walk("VEVENT")
    assert str(event["summary"]) == "Kick-off"
    assert str(event["organizer"]) == f"mailto:{rep.email}"
    assert str(event["attendee"]) == "mailto:guest@example.com"
    assert event["attendee"].params["CN"] == "Guest"


def test_an_activity_without_a_date_has_no_ics(org, owner, rep):
    with tenant_context(org, actor=owner):
        note = make_activity(org, rep, type="note", subject="Met at the fair")
    response = login(rep, org).get(reverse("activities:activity_ics", args=[note.pk]))
    assert response.status_code == 404


def test_another_organizations_meeting_has_no_ics(meeting, other_org, other_owner):
    response = login(other_owner, other_org).get(
        reverse("activities:activity_ics", args=[meeting.pk])
    )
    assert response.status_code == 404


# --- the private feed ---------------------------------------------------------------------


@pytest.fixture
def feed(org, rep):
    with tenant_context(org, actor=rep):
        return calendar_feed_create(org=org, actor=rep)


def feed_url(feed) -> str:
    return reverse("activities:calendar_feed", kwargs={"token": feed.token})


def test_the_feed_serves_the_users_calendar_without_a_login(org, owner, rep, feed):
    now = timezone.now()
    with tenant_context(org, actor=owner):
        make_activity(
            org, rep, type="meeting", subject="Soon", scheduled_at=now + datetime.timedelta(days=3)
        )
        make_activity(
            org,
            rep,
            type="call",
            subject="Done call",
            scheduled_at=now - datetime.timedelta(days=10),
            status="completed",
        )
        make_activity(
            org,
            rep,
            type="task",
            subject="Due task",
            due_date=(now + datetime.timedelta(days=5)).date(),
        )
        make_activity(
            org,
            rep,
            type="meeting",
            subject="Long ago",
            scheduled_at=now - datetime.timedelta(days=120),
        )
        make_activity(
            org,
            rep,
            type="meeting",
            subject="Far ahead",
            scheduled_at=now + datetime.timedelta(days=400),
        )
        make_activity(org, rep, type="note", subject="A note")
        make_activity(
            org,
            owner,
            type="meeting",
            subject="Not hers",
            scheduled_at=now + datetime.timedelta(days=1),
        )
        trashed = make_activity(
            org,
            rep,
            type="meeting",
            subject="Trashed",
            scheduled_at=now + datetime.timedelta(days=2),
        )
        activity_delete(activity=trashed, actor=owner)
    response = Client().get(feed_url(feed))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["ETag"].startswith('"') and response["Last-Modified"]
    cal = parse(response.content)
    assert summaries(cal) == ["Done call", "Due task", "Soon"]
    assert str(cal["x-wr-calname"]) == "Acme Ltd: Rita Rep"
    with tenant_context(org):
        feed.refresh_from_db()
    assert feed.last_fetched_at is not None


def test_an_unchanged_feed_answers_304_and_a_change_changes_the_etag(org, owner, rep, feed):
    with tenant_context(org, actor=owner):
        soon = make_activity(
            org, rep, type="meeting", scheduled_at=timezone.now() + datetime.timedelta(days=1)
        )
    client = Client()
    etag = client.get(feed_url(feed))["ETag"]
    again = client.get(feed_url(feed), HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    with tenant_context(org, actor=owner):
        activity_update(activity=soon, actor=owner, location="Room 2")
    changed = client.get(feed_url(feed), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_unknown_and_revoked_feeds_are_404(org, rep, feed):
    assert Client().get(feed_url(feed)).status_code == 200
    assert Client().get("/calendar/feed/no-such-token.ics").status_code == 404
    with tenant_context(org, actor=rep):
        calendar_feed_revoke(feed=feed, actor=rep)
    assert Client().get(feed_url(feed)).status_code == 404


def test_a_feed_of_someone_who_left_the_organization_is_404(org, rep, feed):
    Membership.objects.unscoped().filter(organization=org, user=rep).update(
        deleted_at=timezone.now()
    )
    assert Client().get(feed_url(feed)).status_code == 404


def test_a_feed_shows_only_its_own_organizations_activities(org, rep, feed, other_org, other_owner):
    """The same person in two organizations: each feed serves its own organization's
    activities, whatever organization the caller's session is in."""
    Membership.objects.unscoped().create(organization=other_org, user=rep, role=Role.SALES_REP)
    soon = timezone.now() + datetime.timedelta(days=1)
    with tenant_context(other_org, actor=other_owner):
        make_activity(other_org, rep, type="meeting", subject="Globex meeting", scheduled_at=soon)
        other_feed = calendar_feed_create(org=other_org, actor=rep)
    with tenant_context(org, actor=rep):
        make_activity(org, rep, type="meeting", subject="Acme meeting", scheduled_at=soon)
    as_other = login(other_owner, other_org)
    assert summaries(parse(as_other.get(feed_url(feed)).content)) == ["Acme meeting"]
    assert summaries(parse(Client().get(feed_url(other_feed)).content)) == ["Globex meeting"]


def test_a_new_feed_revokes_the_old_one(org, rep, feed):
    with tenant_context(org, actor=rep):
        renewed = calendar_feed_create(org=org, actor=rep)
        feed.refresh_from_db()
    assert feed.revoked_at is not None and renewed.revoked_at is None
    assert renewed.token != feed.token
    assert Client().get(feed_url(feed)).status_code == 404
    assert Client().get(feed_url(renewed)).status_code == 200


def test_nobody_revokes_someone_elses_feed(org, owner, rep, feed):
    with tenant_context(org, actor=owner), pytest.raises(ApplicationError):
        calendar_feed_revoke(feed=feed, actor=owner)
    response = login(owner, org).post(reverse("activities:calendar_feed_revoke", args=[feed.pk]))
    assert response.status_code == 404
    with tenant_context(org):
        feed.refresh_from_db()
    assert feed.revoked_at is None


def test_the_feed_settings_page_creates_shows_and_revokes(org, rep):
    client = login(rep, org)
    page = reverse("activities:calendar_feed_settings")
    assert "Create my feed URL" in client.get(page).content.decode()
    response = client.post(reverse("activities:calendar_feed_create"))
    assert response.status_code == 302
    with tenant_context(org):
        feed = CalendarFeed.objects.get()
    html = client.get(page).content.decode()
    assert f"http://testserver{feed_url(feed)}" in html
    assert "No calendar app has read it yet." in html
    response = client.post(reverse("activities:calendar_feed_revoke", args=[feed.pk]))
    assert response.status_code == 302
    with tenant_context(org):
        feed.refresh_from_db()
    assert feed.revoked_at is not None
    assert "Create my feed URL" in client.get(page).content.decode()


def test_the_feed_api_lists_creates_and_revokes_own_feeds(org, owner, rep, feed):
    with tenant_context(org, actor=owner):
        calendar_feed_create(org=org, actor=owner)
    client = api_client(rep, org)
    listed = client.get("/api/crm/calendar-feeds/").json()["results"]
    assert [f["id"] for f in listed] == [str(feed.pk)]
    assert listed[0]["url"] == f"http://testserver{feed_url(feed)}"
    created = client.post("/api/crm/calendar-feeds/")
    assert created.status_code == 201
    assert created.json()["active"] is True
    listed = client.get("/api/crm/calendar-feeds/").json()["results"]
    assert [(f["id"], f["active"]) for f in listed] == [
        (created.json()["id"], True),
        (str(feed.pk), False),
    ]
    revoked = client.post(f"/api/crm/calendar-feeds/{created.json()['id']}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    with tenant_context(org):
        owners = CalendarFeed.objects.get(user=owner)
    assert client.post(f"/api/crm/calendar-feeds/{owners.pk}/revoke/").status_code == 404
    # One feed: your own is read back, a colleague's is not there for you.
    mine = client.get(f"/api/crm/calendar-feeds/{feed.pk}/")
    assert (mine.status_code, mine.json()["id"]) == (200, str(feed.pk))
    assert client.get(f"/api/crm/calendar-feeds/{owners.pk}/").status_code == 404
    with tenant_context(org):
        owners.refresh_from_db()
    assert owners.revoked_at is None
