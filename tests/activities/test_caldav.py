"""CalDAV two-way sync against a real Radicale, its failure modes against real (closed,
slow, garbage) peers, the password cipher, the connection page, the API and the task."""

from __future__ import annotations

import datetime
import socket
import uuid

import caldav
import icalendar
import pytest
from django.utils import timezone

from pulse.activities import caldav as engine
from pulse.activities import services
from pulse.activities.models import (
    Activity,
    ActivityAttendee,
    ActivityStatus,
    CalDavConnection,
    CalDavEvent,
)
from pulse.activities.tasks import caldav_sync_due
from pulse.audit.models import AuditEntry
from pulse.core.tenancy import tenant_context
from tests.activities.factories import make_activity
from tests.conftest import login
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def _client(radicale):
    return caldav.DAVClient(
        url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        enable_rfc6764=False,
    )


def _remote_events(radicale, url) -> dict[str, icalendar.Event]:
    calendar = _client(radicale).calendar(url=url)
    out = {}
    listing = calendar.get_objects_by_sync_token(load_objects=True)
    for obj in listing.objects:
        if obj.url.canonical() in listing.deleted_urls or not obj.data:
            continue
        cal = icalendar.Calendar.from_ical(obj.data)
        for event in cal.walk("VEVENT"):
            out[str(event["uid"])] = event
    return out


def _put_remote(
    radicale, url, uid, *, summary, start, attendees=(), modified=None, extra="", end=None
):
    end = end or start + datetime.timedelta(hours=1)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{NOW:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{start.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}",
        f"DTEND:{end.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}",
        f"SUMMARY:{summary}",
    ]
    if modified:
        lines.append(f"LAST-MODIFIED:{modified.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}")
    lines += [f"ATTENDEE;CN=Guest:mailto:{email}" for email in attendees]
    if extra:
        lines.append(extra)
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    href = f"{url}{uid}.ics"
    response = _client(radicale).request(
        href, "PUT", "\r\n".join(lines), headers={"Content-Type": "text/calendar"}
    )
    assert response.status in (201, 204), response.status
    return href


@pytest.fixture
def calendar_url(radicale):
    return radicale.new_calendar()


@pytest.fixture
def connection(org, owner, radicale, calendar_url):
    with tenant_context(org, actor=owner):
        return services.caldav_connection_create(
            org=org,
            actor=owner,
            name="Work",
            url=calendar_url,
            username=radicale.username,
            password=radicale.password,
        )


def _sync(connection):
    connection.refresh_from_db()
    return services.caldav_sync(connection=connection)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the cipher -------------------------------------------------------------------------


def test_password_is_stored_encrypted_and_read_back(connection, radicale):
    assert radicale.password not in connection.password_encrypted
    assert engine.decrypt_password(connection.password_encrypted) == radicale.password


def test_password_key_comes_from_pulse_caldav_key_when_set(monkeypatch):
    stored = engine.encrypt_password("s3cret")
    monkeypatch.setenv("PULSE_CALDAV_KEY", "another key")
    with pytest.raises(engine.CalDavError) as exc:
        engine.decrypt_password(stored)
    assert "enter the password again" in exc.value.message
    assert engine.decrypt_password(engine.encrypt_password("s3cret")) == "s3cret"


def test_create_needs_a_password_and_saves_nothing_without(org, owner, in_org):
    with pytest.raises(services.ApplicationError) as exc:
        services.caldav_connection_create(
            org=org, actor=owner, name="X", url="http://127.0.0.1/x/", username="u", password=""
        )
    assert exc.value.errors == {"password": ["Enter the password or app password."]}
    assert CalDavConnection.objects.count() == 0


def test_update_with_blank_password_keeps_it_and_a_new_url_restarts_the_sync(
    connection, owner, org
):
    stored = connection.password_encrypted
    with tenant_context(org, actor=owner):
        CalDavEvent.objects.create(organization=org, connection=connection, uid="u1", href="h")
        connection = services.caldav_connection_update(
            connection=connection, actor=owner, name="Renamed", password=""
        )
        assert connection.password_encrypted == stored
        assert CalDavEvent.objects.filter(connection=connection).count() == 1
        connection = services.caldav_connection_update(
            connection=connection, actor=owner, url="http://127.0.0.1:1/other/"
        )
        assert CalDavEvent.objects.filter(connection=connection).count() == 0
        assert connection.sync_token == ""


def test_only_the_owner_changes_a_connection(connection, org, admin_user):
    with tenant_context(org, actor=admin_user), pytest.raises(services.ApplicationError):
        services.caldav_connection_delete(connection=connection, actor=admin_user)
    connection.refresh_from_db()
    assert connection.deleted_at is None


# --- test connection ------------------------------------------------------------------------


def test_test_connection_finds_the_calendar(connection, org, owner):
    with tenant_context(org, actor=owner):
        assert services.caldav_connection_test(connection=connection) == (
            True,
            "Connected: found the calendar “Work”.",
        )


def test_test_connection_reports_wrong_password_and_non_calendar(radicale, calendar_url):
    assert services.caldav_connection_test(
        url=calendar_url, username="alice", password="wrong"
    ) == (False, "The server refused the user name or password.")
    ok, message = services.caldav_connection_test(
        url=f"{radicale.url}/alice/", username="alice", password=radicale.password
    )
    assert ok is False
    assert message.startswith("The server answered, but this address is not a calendar.")


def test_test_connection_reports_a_closed_port():
    ok, message = services.caldav_connection_test(
        url=f"http://127.0.0.1:{closed_port()}/alice/work/", username="a", password="b"
    )
    assert ok is False
    assert message.startswith("Could not reach the server (connection refused)")


# --- sync: push ---------------------------------------------------------------------------


def test_push_sends_meetings_and_calls_once(connection, org, owner, radicale, calendar_url):
    with tenant_context(org, actor=owner):
        meeting = make_activity(
            org, owner, type="meeting", subject="Demo", scheduled_at=NOW + datetime.timedelta(1)
        )
        call = make_activity(
            org, owner, type="call", subject="Ring", scheduled_at=NOW + datetime.timedelta(2)
        )
        make_activity(org, owner, type="task", subject="Not a calendar thing")
        make_activity(
            org,
            owner,
            type="meeting",
            subject="Long ago",
            scheduled_at=NOW - datetime.timedelta(days=90),
        )
    result = _sync(connection)
    assert (result.ok, result.pushed, result.created, result.error) == (True, 2, 0, "")
    remote = _remote_events(radicale, calendar_url)
    assert sorted(str(e["summary"]) for e in remote.values()) == ["Demo", "Ring"]
    assert meeting.ical_uid in remote
    assert f"{call.pk}@pulsecrm" in remote
    second = _sync(connection)
    assert (second.ok, second.changes) == (True, 0)
    connection.refresh_from_db()
    assert connection.last_synced_at is not None
    assert connection.failures == 0
    assert CalDavEvent.objects.unscoped().filter(connection=connection).count() == 2


def test_crm_change_is_pushed_and_trash_deletes_remotely(
    connection, org, owner, radicale, calendar_url
):
    with tenant_context(org, actor=owner):
        meeting = make_activity(org, owner, type="meeting", subject="Demo")
    _sync(connection)
    with tenant_context(org, actor=owner):
        services.activity_update(activity=meeting, actor=owner, subject="Demo v2")
    assert _sync(connection).pushed == 1
    assert str(_remote_events(radicale, calendar_url)[meeting.ical_uid]["summary"]) == "Demo v2"
    with tenant_context(org, actor=owner):
        services.activity_delete(activity=meeting, actor=owner)
    result = _sync(connection)
    assert (result.ok, result.deleted_remotely) == (True, 1)
    assert _remote_events(radicale, calendar_url) == {}
    assert _sync(connection).changes == 0


# --- sync: pull -----------------------------------------------------------------------------


def test_pull_creates_a_meeting_linked_to_the_contact_and_keeps_attendees(
    connection, org, owner, radicale, calendar_url
):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ada", email="Ada@Example.com")
    start = (NOW + datetime.timedelta(days=3)).replace(second=0)
    _put_remote(
        radicale,
        calendar_url,
        "remote-1",
        summary="Lunch with Ada",
        start=start,
        attendees=["ada@example.com", "stranger@example.org"],
    )
    result = _sync(connection)
    assert (result.ok, result.created, result.pushed) == (True, 1, 0)
    with tenant_context(org, actor=owner):
        meeting = Activity.objects.get(ical_uid="remote-1")
        assert (meeting.type, meeting.subject, meeting.scheduled_at, meeting.duration_minutes) == (
            "meeting",
            "Lunch with Ada",
            start,
            60,
        )
        assert (meeting.assigned_to, meeting.contact) == (owner, contact)
        rows = sorted(
            ActivityAttendee.objects.filter(activity=meeting).values_list("email", "contact")
        )
        assert rows == [("ada@example.com", contact.pk), ("stranger@example.org", None)]
        entry = AuditEntry.objects.get(object_id=str(meeting.pk), action="create")
        assert (entry.source, entry.actor) == ("import", owner)
    assert _sync(connection).changes == 0


def test_remote_change_updates_and_remote_delete_cancels(
    connection, org, owner, radicale, calendar_url
):
    start = NOW + datetime.timedelta(days=3)
    href = _put_remote(radicale, calendar_url, "remote-2", summary="Call Bob", start=start)
    _sync(connection)
    _put_remote(radicale, calendar_url, "remote-2", summary="Call Bob (moved)", start=start)
    result = _sync(connection)
    assert (result.ok, result.updated) == (True, 1)
    with tenant_context(org, actor=owner):
        meeting = Activity.objects.get(ical_uid="remote-2")
    assert meeting.subject == "Call Bob (moved)"
    _client(radicale).request(href, "DELETE")
    result = _sync(connection)
    assert (result.ok, result.cancelled) == (True, 1)
    meeting.refresh_from_db()
    assert (meeting.status, meeting.deleted_at) == (ActivityStatus.CANCELLED, None)
    assert _sync(connection).changes == 0
    assert _remote_events(radicale, calendar_url) == {}


def test_conflict_newer_side_wins(connection, org, owner, radicale, calendar_url):
    start = NOW + datetime.timedelta(days=3)
    _put_remote(radicale, calendar_url, "remote-3", summary="Original", start=start)
    _sync(connection)
    with tenant_context(org, actor=owner):
        meeting = Activity.objects.get(ical_uid="remote-3")
        services.activity_update(activity=meeting, actor=owner, subject="CRM edit")
    # The calendar's edit is older than the CRM's: the CRM wins and overwrites it.
    _put_remote(
        radicale,
        calendar_url,
        "remote-3",
        summary="Calendar edit (old)",
        start=start,
        modified=NOW - datetime.timedelta(hours=1),
    )
    result = _sync(connection)
    assert result.ok
    assert result.conflicts == [
        "“CRM edit” changed on both sides; the CRM's change is newer and was kept."
    ]
    assert str(_remote_events(radicale, calendar_url)["remote-3"]["summary"]) == "CRM edit"
    # Now a newer calendar edit against an older CRM one: the calendar wins.
    with tenant_context(org, actor=owner):
        meeting.refresh_from_db()
        services.activity_update(activity=meeting, actor=owner, location="Room 1")
    _put_remote(
        radicale,
        calendar_url,
        "remote-3",
        summary="Calendar edit (new)",
        start=start,
        modified=timezone.now() + datetime.timedelta(minutes=5),
    )
    result = _sync(connection)
    meeting.refresh_from_db()
    assert (result.ok, meeting.subject) == (True, "Calendar edit (new)")
    assert str(_remote_events(radicale, calendar_url)["remote-3"]["summary"]) == (
        "Calendar edit (new)"
    )


def test_one_bad_event_is_named_and_does_not_stop_the_others(
    connection, org, owner, radicale, calendar_url
):
    start = NOW + datetime.timedelta(days=3)
    _put_remote(radicale, calendar_url, "good-1", summary="Good", start=start)
    _put_remote(
        radicale,
        calendar_url,
        "bad-1",
        summary="Bad",
        start=start,
        end=start - datetime.timedelta(hours=1),
    )
    result = _sync(connection)
    assert result.created == 1
    assert result.errors == ["bad-1.ics: It ends before it starts."]
    connection.refresh_from_db()
    assert connection.failures == 1
    assert (
        connection.last_error == "1 event could not be read: bad-1.ics: It ends before it starts."
    )
    with tenant_context(org, actor=owner):
        assert list(Activity.objects.values_list("ical_uid", flat=True)) == ["good-1"]


# --- failures -----------------------------------------------------------------------------------


def _failing_connection(org, owner, url):
    with tenant_context(org, actor=owner):
        return services.caldav_connection_create(
            org=org, actor=owner, name="Broken", url=url, username="a", password="b"
        )


def test_server_down_is_recorded_with_backoff_and_loses_nothing(org, owner):
    connection = _failing_connection(org, owner, f"http://127.0.0.1:{closed_port()}/a/b/")
    with tenant_context(org, actor=owner):
        meeting = make_activity(org, owner, type="meeting", subject="Keep me")
    first = services.caldav_sync(connection=connection, now=NOW)
    assert first.error.startswith("Could not reach the server (connection refused)")
    connection.refresh_from_db()
    assert (connection.failures, connection.last_error_at, connection.next_sync_at) == (
        1,
        NOW,
        NOW + datetime.timedelta(minutes=5),
    )
    services.caldav_sync(connection=connection, now=NOW)
    connection.refresh_from_db()
    assert (connection.failures, connection.next_sync_at) == (
        2,
        NOW + datetime.timedelta(minutes=10),
    )
    assert engine.backoff(12) == datetime.timedelta(hours=6)
    meeting.refresh_from_db()
    assert (meeting.deleted_at, meeting.status) == (None, "pending")
    assert CalDavEvent.objects.unscoped().filter(connection=connection).count() == 0


def test_slow_server_times_out(org, owner, bad_server, settings):
    settings.CALDAV_TIMEOUT = 1
    connection = _failing_connection(org, owner, bad_server(mode="slow", delay=3))
    result = services.caldav_sync(connection=connection, now=NOW)
    assert result.error == "The server did not answer within 1 seconds."
    connection.refresh_from_db()
    assert connection.failures == 1


def test_garbage_answer_is_reported(org, owner, bad_server):
    connection = _failing_connection(org, owner, bad_server(mode="garbage"))
    result = services.caldav_sync(connection=connection, now=NOW)
    assert result.error.startswith("The server's answer was not understood")
    connection.refresh_from_db()
    assert (connection.failures, connection.last_error) == (1, result.error)


def test_a_success_resets_the_failures(connection, org, owner):
    CalDavConnection.objects.unscoped().filter(pk=connection.pk).update(
        failures=3, last_error="boom", last_error_at=NOW
    )
    result = _sync(connection)
    connection.refresh_from_db()
    assert result.ok
    assert (connection.failures, connection.last_error, connection.last_error_at) == (0, "", None)


# --- the periodic task -----------------------------------------------------------------------


def test_task_syncs_due_connections_and_one_failure_does_not_stop_the_others(
    connection, org, owner, other_org, other_owner
):
    broken = _failing_connection(org, owner, f"http://127.0.0.1:{closed_port()}/a/b/")
    with tenant_context(other_org, actor=other_owner):
        later = services.caldav_connection_create(
            org=other_org,
            actor=other_owner,
            name="Later",
            url="http://127.0.0.1:9/x/",
            username="u",
            password="p",
        )
    CalDavConnection.objects.unscoped().filter(pk=later.pk).update(
        next_sync_at=timezone.now() + datetime.timedelta(hours=1)
    )
    with tenant_context(org, actor=owner):
        make_activity(org, owner, type="meeting", subject="Demo")
    assert caldav_sync_due.apply().get() == {"synced": 1, "failed": 1}
    connection.refresh_from_db()
    broken.refresh_from_db()
    later.refresh_from_db()
    assert (connection.failures, connection.last_synced_at is not None) == (0, True)
    assert broken.failures == 1
    assert (later.failures, later.last_synced_at) == (0, None)
    assert caldav_sync_due.apply().get() == {"synced": 0, "failed": 0}


# --- pages and API ------------------------------------------------------------------------------


def test_connection_page_lists_own_connections_with_status(connection, org, owner, rep):
    CalDavConnection.objects.unscoped().filter(pk=connection.pk).update(
        last_error="The server did not answer within 10 seconds.", failures=2, last_error_at=NOW
    )
    page = login(owner, org).get("/settings/calendar-sync/")
    assert page.status_code == 200
    assert "The server did not answer within 10 seconds." in page.content.decode()
    assert "2 failures in a row" in page.content.decode()
    other = login(rep, org).get("/settings/calendar-sync/")
    assert "Work" not in other.content.decode().split("Calendar sync", 2)[-1].split("Connect")[0]
    assert login(rep, org).get(f"/settings/calendar-sync/{connection.pk}/edit/").status_code == 404


def test_add_test_edit_sync_and_delete_through_the_pages(org, owner, radicale, calendar_url):
    client = login(owner, org)
    data = {
        "name": "Radicale",
        "url": calendar_url,
        "username": radicale.username,
        "password": radicale.password,
        "enabled": "on",
    }
    tested = client.post("/settings/calendar-sync/new/", {**data, "test": "1"})
    assert tested.status_code == 200
    assert "Connected: found the calendar “Work”." in tested.content.decode()
    assert CalDavConnection.objects.unscoped().count() == 0
    assert client.post("/settings/calendar-sync/new/", {**data, "password": ""}).status_code == 400
    assert client.post("/settings/calendar-sync/new/", data).status_code == 302
    connection = CalDavConnection.objects.unscoped().get()
    assert radicale.password not in connection.password_encrypted
    form = client.get(f"/settings/calendar-sync/{connection.pk}/edit/").content.decode()
    assert radicale.password not in form
    edited = client.post(
        f"/settings/calendar-sync/{connection.pk}/edit/",
        {**data, "name": "Renamed", "password": "", "expected_version": connection.version},
    )
    assert edited.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert engine.decrypt_password(connection.password_encrypted) == radicale.password
    assert client.post(f"/settings/calendar-sync/{connection.pk}/test/").status_code == 302
    assert client.post(f"/settings/calendar-sync/{connection.pk}/sync/").status_code == 302
    connection.refresh_from_db()
    assert connection.last_synced_at is not None
    assert client.post(f"/settings/calendar-sync/{connection.pk}/delete/").status_code == 302
    connection.refresh_from_db()
    assert connection.deleted_at is not None


def test_api_password_is_write_only_and_actions_work(org, owner, radicale, calendar_url, rep):
    from tests.conftest import login as web_login

    client = web_login(owner, org)
    created = client.post(
        "/api/crm/caldav-connections/",
        {
            "name": "API cal",
            "url": calendar_url,
            "username": radicale.username,
            "password": radicale.password,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "password" not in body and "password_encrypted" not in body
    pk = body["id"]
    listed = client.get("/api/crm/caldav-connections/").json()
    assert [row["id"] for row in listed["results"]] == [pk]
    assert web_login(rep, org).get("/api/crm/caldav-connections/").json()["results"] == []
    test = client.post(f"/api/crm/caldav-connections/{pk}/test/")
    assert test.json() == {"ok": True, "message": "Connected: found the calendar “Work”."}
    synced = client.post(f"/api/crm/caldav-connections/{pk}/sync/")
    assert synced.status_code == 202
    assert synced.json()["last_synced_at"] is not None
    assert synced.json()["failures"] == 0
    missing = client.post(
        "/api/crm/caldav-connections/",
        {"name": "x", "url": calendar_url, "username": "u"},
        content_type="application/json",
    )
    assert missing.status_code == 400
    assert missing.json() == {"errors": {"password": ["Enter the password or app password."]}}
    assert client.delete(f"/api/crm/caldav-connections/{pk}/").status_code == 204


def test_new_calendar_urls_are_unique(radicale):
    assert radicale.new_calendar() != radicale.new_calendar()
    assert uuid  # noqa: B018 (imported for calendar ids in the fixture)
