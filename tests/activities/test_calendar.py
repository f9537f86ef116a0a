"""The calendar page, its events endpoint and API twin, drag to reschedule, click to
create, and shared (member and team) calendars limited by record visibility."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import RecordVisibility, Role
from pulse.activities.models import Activity
from pulse.activities.services import activity_update
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape
from tests.accounts.factories import make_member, make_team
from tests.activities.factories import make_activity
from tests.conftest import login
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db

MONDAY = datetime.datetime(2026, 11, 23, tzinfo=datetime.UTC)
WEEK = {"start": "2026-11-23T00:00:00Z", "end": "2026-11-30T00:00:00Z"}
EVENTS = reverse("activities:calendar_events")


def at(days: float = 0, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return MONDAY + datetime.timedelta(days=days, hours=hour, minutes=minute)


def events_of(client, **params):
    response = client.get(EVENTS, {**WEEK, **params})
    assert response.status_code == 200, response.content
    return response.json()


def titles(payload) -> list[str]:
    return [e["title"] for e in payload["events"]]


@pytest.fixture
def week(org, owner, rep):
    """A rep's week: a meeting, a call, an all-day meeting, a due-only task, and things
    that are not on it (a note, last week's meeting, a colleague's meeting)."""
    with tenant_context(org, actor=owner):
        meeting = make_activity(
            org, rep, type="meeting", subject="Demo", scheduled_at=at(1, 10), duration_minutes=60
        )
        call = make_activity(org, rep, type="call", subject="Check-in", scheduled_at=at(2, 9))
        offsite = make_activity(
            org, rep, type="meeting", subject="Offsite", scheduled_at=at(3, 0), all_day=True
        )
        task = make_activity(org, rep, type="task", subject="Send proposal", due_date=at(4).date())
        make_activity(org, rep, type="note", subject="Met at the fair", scheduled_at=at(1, 12))
        make_activity(org, rep, type="meeting", subject="Last week", scheduled_at=at(-3, 10))
        make_activity(org, owner, type="meeting", subject="Owner's lunch", scheduled_at=at(1, 12))
    return {"meeting": meeting, "call": call, "offsite": offsite, "task": task}


def test_the_calendar_page_renders_fullcalendar(org, rep):
    response = login(rep, org).get(reverse("activities:calendar"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/fullcalendar/index.global.min.js" in html
    assert 'data-testid="calendar"' in html
    assert 'data-testid="calendar-whose"' not in html  # a rep has only their own
    assert 'id="calendar-create-modal"' in html


def test_a_rep_sees_their_own_week(org, rep, week):
    payload = events_of(login(rep, org))
    assert titles(payload) == ["Demo", "Check-in", "Offsite", "Send proposal"]
    assert payload["truncated"] is False
    demo, call, offsite, task = payload["events"]
    assert (demo["start"], demo["end"], demo["allDay"]) == (
        "2026-11-24T10:00:00+00:00",
        "2026-11-24T11:00:00+00:00",
        False,
    )
    assert call["end"] == "2026-11-25T09:30:00+00:00"  # 30 minutes when none is given
    assert (offsite["start"], offsite["end"], offsite["allDay"]) == (
        "2026-11-26",
        "2026-11-27",
        True,
    )
    assert (task["start"], task["end"], task["allDay"]) == ("2026-11-27", None, True)
    assert demo["extendedProps"]["type"] == "meeting"
    assert demo["extendedProps"]["version"] == week["meeting"].version
    assert demo["extendedProps"]["moveUrl"] == reverse(
        "activities:calendar_move", args=[week["meeting"].pk]
    )
    assert demo["classNames"] == ["ev-meeting", "ev-pending"]
    assert demo["editable"] is True


def test_cancelled_and_done_are_marked_and_not_draggable(org, owner, rep, week):
    with tenant_context(org, actor=owner):
        activity_update(activity=week["meeting"], actor=rep, status="cancelled")
        activity_update(activity=week["call"], actor=rep, status="completed")
    demo, call = events_of(login(rep, org))["events"][:2]
    assert (demo["classNames"], demo["editable"]) == (["ev-meeting", "ev-cancelled"], False)
    assert (call["classNames"], call["editable"]) == (["ev-call", "ev-completed"], False)


def test_a_read_only_member_sees_events_they_cannot_drag(org, owner):
    reader = make_member(org, Role.READ_ONLY)
    with tenant_context(org, actor=owner):
        make_activity(org, owner, type="meeting", subject="Audit", scheduled_at=at(1, 9),
                      assigned_to=reader)  # fmt: skip
    (event,) = events_of(login(reader, org))["events"]
    assert (event["title"], event["editable"]) == ("Audit", False)
    html = login(reader, org).get(reverse("activities:calendar")).content.decode()
    assert 'data-can-edit="0" data-can-create="0"' in html
    assert 'id="calendar-create-modal"' not in html


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-01-01", "end": "2026-03-15"}, "end"),  # 73 days
        ({"start": "2026-01-10", "end": "2026-01-01"}, "end"),
        ({"start": "yesterday", "end": "2026-01-01"}, "start"),
        ({"end": "2026-01-01"}, "start"),
    ],
)
def test_a_bad_window_is_a_400(org, rep, params, field):
    response = login(rep, org).get(EVENTS, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_window_may_be_62_days(org, rep):
    response = login(rep, org).get(EVENTS, {"start": "2026-01-01", "end": "2026-03-04"})
    assert response.status_code == 200


def test_a_rep_cannot_open_a_colleagues_calendar(org, owner, rep, week):
    response = login(rep, org).get(EVENTS, {**WEEK, "user": str(owner.pk)})
    assert response.status_code == 403
    assert list(response.json()["errors"]) == ["__all__"]
    # Their own id is fine.
    assert titles(events_of(login(rep, org), user=str(rep.pk)))[0] == "Demo"


def test_a_manager_opens_a_members_calendar(org, rep, week):
    manager = make_member(org, Role.MANAGER)
    assert titles(events_of(login(manager, org), user=str(rep.pk))) == [
        "Demo",
        "Check-in",
        "Offsite",
        "Send proposal",
    ]
    response = login(manager, org).get(EVENTS, {**WEEK, "user": "999999"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["user"]


def test_team_calendars_follow_record_visibility(org, owner, rep, week):
    """With team visibility, a manager sees their team's activities on a team calendar,
    and nothing of people outside their teams, even when asking for them."""
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    manager = make_member(org, Role.MANAGER, full_name="Mona Manager")
    outsider = make_member(org, Role.SALES_REP, full_name="Otto Outside")
    with tenant_context(org, actor=owner):
        team = make_team(org, "Field sales", manager=manager, members=[rep])
        other_team = make_team(org, "Inside sales", members=[outsider])
        make_activity(org, outsider, type="meeting", subject="Outside", scheduled_at=at(1, 15))
    client = login(manager, org)
    assert titles(events_of(client, team=str(team.pk))) == [
        "Demo",
        "Check-in",
        "Offsite",
        "Send proposal",
    ]
    assert titles(events_of(client, team=str(other_team.pk))) == []
    assert titles(events_of(client, user=str(outsider.pk))) == []
    # An admin sees everyone's.
    assert titles(events_of(login(owner, org), team=str(other_team.pk))) == ["Outside"]
    response = client.get(EVENTS, {**WEEK, "team": "not-a-team"})
    assert response.status_code == 400


def test_the_page_offers_managers_teams_and_people(org, owner, rep):
    manager = make_member(org, Role.MANAGER)
    with tenant_context(org, actor=owner):
        make_team(org, "Field sales", manager=manager, members=[rep])
    html = login(manager, org).get(reverse("activities:calendar")).content.decode()
    assert 'data-testid="calendar-whose"' in html
    assert "Field sales" in html and "Rita Rep" in html


def test_the_events_query_count_is_pinned(org, owner, rep, django_assert_max_num_queries):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ana", last_name="Petrova")
        for day in range(5):
            make_activity(
                org, rep, type="meeting", scheduled_at=at(day, 11), contact=contact, subject="M"
            )
            make_activity(org, rep, type="task", due_date=at(day).date(), subject="T")
    client = login(rep, org)
    client.get(EVENTS, WEEK)  # warm the session
    with django_assert_max_num_queries(6):
        payload = events_of(client)
    assert len(payload["events"]) == 10


def test_the_events_are_capped(org, owner, rep, monkeypatch):
    from pulse.activities import selectors

    monkeypatch.setattr(selectors, "CALENDAR_MAX_EVENTS", 3)
    with tenant_context(org, actor=owner):
        for hour in range(5):
            make_activity(org, rep, type="call", scheduled_at=at(1, 8 + hour))
    payload = events_of(login(rep, org))
    assert (len(payload["events"]), payload["truncated"]) == (3, True)


# --- drag to reschedule -----------------------------------------------------------------


def move(client, activity, **data):
    return client.post(
        reverse("activities:calendar_move", args=[activity.pk]),
        data,
        HTTP_ACCEPT="application/json",
    )


def test_a_drag_moves_the_meeting(org, rep, week):
    meeting = week["meeting"]
    response = move(
        login(rep, org),
        meeting,
        start="2026-11-26T14:00:00+00:00",
        end="2026-11-26T15:30:00+00:00",
        version=meeting.version,
    )
    assert response.status_code == 200, response.content
    with tenant_context(org):
        meeting.refresh_from_db()
    assert meeting.scheduled_at == at(3, 14)
    assert meeting.duration_minutes == 90
    assert meeting.occurred_at == at(3, 14)
    assert response.json()["version"] == meeting.version == 2
    assert response.json()["event"]["start"] == "2026-11-26T14:00:00+00:00"


def test_a_drag_to_the_all_day_row_and_back(org, rep, week):
    call, client = week["call"], login(rep, org)
    assert move(client, call, start="2026-11-27", all_day="on", version=1).status_code == 200
    with tenant_context(org):
        call.refresh_from_db()
    assert (call.all_day, call.scheduled_at) == (True, at(4, 0))
    response = move(client, call, start="2026-11-27T08:00:00Z", version=2)
    assert response.status_code == 200
    with tenant_context(org):
        call.refresh_from_db()
    assert (call.all_day, call.scheduled_at, call.duration_minutes) == (False, at(4, 8), 60)


def test_a_due_date_task_moves_to_another_day(org, rep, week):
    task = week["task"]
    response = move(login(rep, org), task, start="2026-11-25", all_day="on", version=1)
    assert response.status_code == 200
    with tenant_context(org):
        task.refresh_from_db()
    assert (task.due_date, task.scheduled_at) == (datetime.date(2026, 11, 25), None)


def test_a_stale_drag_is_refused_and_changes_nothing(org, owner, rep, week):
    meeting = week["meeting"]
    with tenant_context(org, actor=owner):
        activity_update(activity=meeting, actor=owner, location="Room 2")  # version 2
    response = move(login(rep, org), meeting, start="2026-11-26T14:00:00Z", version=1)
    assert response.status_code == 400
    assert "Someone else changed this activity" in response.json()["errors"]["version"][0]
    with tenant_context(org):
        meeting.refresh_from_db()
    assert (meeting.scheduled_at, meeting.version) == (at(1, 10), 2)


def test_a_read_only_member_cannot_drag(org, rep, week):
    reader = make_member(org, Role.READ_ONLY)
    meeting = week["meeting"]
    response = move(login(reader, org), meeting, start="2026-11-26T14:00:00Z", version=1)
    assert response.status_code == 403
    assert list(response.json()["errors"]) == ["__all__"]
    with tenant_context(org):
        meeting.refresh_from_db()
    assert meeting.scheduled_at == at(1, 10)


def test_a_hidden_activity_cannot_be_dragged(org, owner, rep):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    with tenant_context(org, actor=owner):
        lunch = make_activity(org, owner, type="meeting", scheduled_at=at(1, 12))
    response = move(login(rep, org), lunch, start="2026-11-26T14:00:00Z", version=1)
    assert response.status_code == 404
    with tenant_context(org):
        lunch.refresh_from_db()
    assert lunch.scheduled_at == at(1, 12)


def test_a_bad_drag_is_a_400(org, rep, week):
    response = move(login(rep, org), week["meeting"], start="soon", version="")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"start", "version"}


def test_a_done_activity_cannot_be_moved(org, owner, rep, week):
    call = week["call"]
    with tenant_context(org, actor=owner):
        call = activity_update(activity=call, actor=rep, status="completed")
    response = move(login(rep, org), call, start="2026-11-26T14:00:00Z", version=call.version)
    assert response.status_code == 400
    assert "Only a pending activity" in response.json()["errors"]["__all__"][0]


# --- click to create --------------------------------------------------------------------


def test_a_click_on_a_slot_creates_a_meeting(org, owner, rep):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ana", last_name="Petrova")
    response = login(rep, org).post(
        reverse("activities:calendar_create"),
        {
            "subject": "Discovery",
            "type": "meeting",
            "start": "2026-11-24T13:00:00Z",
            "duration_minutes": "45",
            "contact": str(contact.pk),
        },
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201, response.content
    with tenant_context(org):
        created = Activity.objects.get(subject="Discovery")
    assert (created.type, created.scheduled_at, created.duration_minutes) == (
        "meeting",
        at(1, 13),
        45,
    )
    assert (created.contact, created.assigned_to, created.created_by) == (contact, rep, rep)
    assert response.json()["event"]["id"] == str(created.pk)


def test_a_task_created_on_the_calendar_is_due_that_day(org, rep):
    response = login(rep, org).post(
        reverse("activities:calendar_create"),
        {
            "subject": "Call back",
            "type": "task",
            "start": "2026-11-25",
            "all_day": "on",
            "duration_minutes": "30",
        },  # fmt: skip
    )
    assert response.status_code == 302
    with tenant_context(org):
        task = Activity.objects.get(subject="Call back")
    assert (task.due_date, task.all_day) == (datetime.date(2026, 11, 25), True)


def test_a_bad_slot_dialog_creates_nothing(org, rep):
    response = login(rep, org).post(
        reverse("activities:calendar_create"),
        {"subject": "", "type": "lunch", "start": "2026-11-24T13:00:00Z", "duration_minutes": "0"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"subject", "type", "duration_minutes"}
    with tenant_context(org):
        assert Activity.objects.count() == 0


def test_a_read_only_member_cannot_create(org):
    reader = make_member(org, Role.READ_ONLY)
    response = login(reader, org).post(
        reverse("activities:calendar_create"),
        {"subject": "X", "type": "call", "start": "2026-11-24T13:00:00Z", "duration_minutes": "30"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    with tenant_context(org):
        assert Activity.objects.count() == 0


# --- API ----------------------------------------------------------------------------------


def test_the_api_calendar_is_the_pages_twin(org, rep, week):
    client = api_client(rep, org)
    response = client.get("/api/crm/calendar/", WEEK)
    assert response.status_code == 200
    assert response.json() == events_of(login(rep, org))
    too_long = client.get("/api/crm/calendar/", {"start": "2026-01-01", "end": "2026-06-01"})
    assert too_long.status_code == 400
    assert_error_shape(too_long)
    assert list(too_long.json()["errors"]) == ["end"]
    other = client.get("/api/crm/calendar/", {**WEEK, "user": str(week["meeting"].created_by_id)})
    assert other.status_code == 200  # the rep themself


def test_the_api_refuses_a_colleagues_calendar_to_a_rep(org, owner, rep):
    response = api_client(rep, org).get("/api/crm/calendar/", {**WEEK, "user": str(owner.pk)})
    assert response.status_code == 403
    assert_error_shape(response, status=403)


def test_an_all_day_window_in_the_org_time_zone(org, owner, rep):
    org.time_zone = "Europe/Sofia"
    org.save(update_fields=["time_zone"])
    with tenant_context(org, actor=owner), timezone.override("Europe/Sofia"):
        make_activity(
            org, rep, type="meeting", subject="Early", scheduled_at=at(1, 6), duration_minutes=30
        )
    payload = events_of(login(rep, org), start="2026-11-23", end="2026-11-30")
    assert payload["events"][0]["start"] == "2026-11-24T08:00:00+02:00"


def test_events_name_their_contact_and_leave_empty_details_out(org, owner, rep):
    from pulse.contacts.services import contact_delete

    with tenant_context(org, actor=owner):
        ana = make_contact(org, owner, first_name="Ana", last_name="Petrova")
        gone = make_contact(org, owner, first_name="Boris", last_name="Gone")
        make_activity(org, rep, type="meeting", subject="Demo", scheduled_at=at(1, 10),
                      contact=ana, location="Sofia")  # fmt: skip
        make_activity(org, rep, type="call", subject="Old friend", scheduled_at=at(2, 10),
                      contact=gone)  # fmt: skip
        make_activity(org, rep, type="task", subject="Alone", due_date=at(3).date())
        contact_delete(contact=gone, actor=owner)
    demo, call, task = events_of(login(rep, org))["events"]
    assert demo["extendedProps"]["contact"] == "Ana Petrova"
    assert demo["extendedProps"]["location"] == "Sofia"
    assert demo["extendedProps"]["assignedTo"] == str(rep)
    assert call["extendedProps"]["contact"] == "Boris Gone"  # in the trash: still named
    assert "contact" not in task["extendedProps"] and "location" not in task["extendedProps"]
    assert demo["url"] == reverse("activities:activity_detail", args=[demo["id"]])
    move = reverse("activities:calendar_move", args=[call["id"]])
    assert call["extendedProps"]["moveUrl"] == move
