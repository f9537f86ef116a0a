"""The .ics import: parser limits (Hypothesis for arbitrary bytes and generated events),
the service (create, update not duplicate, contacts by attendee email, all-or-nothing),
the page and the API."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.activities import ical_import, services
from pulse.activities.models import Activity, ActivityAttendee
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from tests.conftest import login
from tests.contacts.factories import make_contact

NOW = datetime.datetime(2026, 1, 1, 8, 0, tzinfo=datetime.UTC)


def ics(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n".encode()


def event(uid="e1", summary="Kick-off", start="20260110T090000Z", end="20260110T100000Z", more=""):
    return f"UID:{uid}\r\nSUMMARY:{summary}\r\nDTSTART:{start}\r\nDTEND:{end}\r\n{more}".strip()


# --- the parser ---------------------------------------------------------------------------------


def test_parser_reads_times_attendees_and_all_day():
    result = ical_import.parse_ics(
        ics(
            event(more="ATTENDEE;CN=Ada;PARTSTAT=ACCEPTED:mailto:ada@example.com\r\nLOCATION:HQ"),
            "UID:e2\r\nSUMMARY:Offsite\r\nDTSTART;VALUE=DATE:20260301",
        ),
        now=NOW,
    )
    first, second = result.events
    assert (first.uid, first.subject, first.duration_minutes, first.location) == (
        "e1",
        "Kick-off",
        60,
        "HQ",
    )
    assert first.scheduled_at == datetime.datetime(2026, 1, 10, 9, 0, tzinfo=datetime.UTC)
    assert [(a.email, a.name, a.response) for a in first.attendees] == [
        ("ada@example.com", "Ada", "accepted")
    ]
    assert (second.all_day, second.duration_minutes) == (True, None)
    assert result.skipped == []


def test_recurring_without_end_is_bounded_and_exdates_are_honoured():
    result = ical_import.parse_ics(
        ics(event(more="RRULE:FREQ=DAILY\r\nEXDATE:20260111T090000Z")), now=NOW
    )
    assert len(result.events) == ical_import.MAX_OCCURRENCES
    uids = [e.uid for e in result.events]
    assert uids[:2] == ["e1/20260110T090000", "e1/20260112T090000"]
    assert len(set(uids)) == len(uids)


def test_too_frequent_and_ancient_rules_are_skipped_with_reasons():
    result = ical_import.parse_ics(
        ics(
            event(uid="m", summary="Every minute", more="RRULE:FREQ=MINUTELY"),
            event(
                uid="h",
                summary="Hourly since 1990",
                start="19900101T000000Z",
                end="19900101T010000Z",
                more="RRULE:FREQ=HOURLY",
            ),
            event(uid="ok", summary="Fine"),
        ),
        now=NOW,
    )
    assert [e.uid for e in result.events] == ["ok"]
    assert result.skipped == [
        ("Every minute", "It repeats more often than hourly."),
        ("Hourly since 1990", "Its repeat rule starts too long ago."),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (
            b"BEGIN:VEVENT\r\nEND:VEVENT\r\n",
            "This is not an iCalendar (.ics) file: it holds no VCALENDAR.",
        ),
        (
            b"x" * (ical_import.MAX_BYTES + 1),
            "The file is larger than 2 MB; split it or export a shorter period.",
        ),
    ],
)
def test_parser_refuses_whole_files_clearly(data, message):
    with pytest.raises(ApplicationError) as exc:
        ical_import.parse_ics(data, now=NOW)
    assert exc.value.errors == {"file": [message]}


def test_parser_refuses_too_many_events():
    data = ics(*[event(uid=f"u{i}") for i in range(ical_import.MAX_EVENTS + 1)])
    with pytest.raises(ApplicationError) as exc:
        ical_import.parse_ics(data, now=NOW)
    assert exc.value.errors == {
        "file": ["The file holds 2001 events; at most 2000 can be imported at once."]
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_the_clear_error(data):
    try:
        ical_import.parse_ics(data, now=NOW)
    except ApplicationError as exc:
        assert list(exc.errors) == ["file"]


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300),
    st.sampled_from(["DTSTART:", "RRULE:", "DTEND:", "DURATION:", "ATTENDEE:", "EXDATE:"]),
)
def test_garbage_property_values_never_raise_anything_but_the_clear_error(junk, prop):
    value = junk.replace(b"\r", b"").replace(b"\n", b"")
    data = ics(event()).replace(b"SUMMARY:", prop.encode() + value + b"\r\nSUMMARY:", 1)
    try:
        ical_import.parse_ics(data, now=NOW)
    except ApplicationError as exc:
        assert list(exc.errors) == ["file"]


safe_text = (
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\\;,"),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=100, deadline=None)
@given(
    uid=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-@.", min_size=1, max_size=40),
    summary=safe_text,
    start=st.datetimes(
        min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2090, 1, 1)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 14),
)
def test_generated_events_round_trip(uid, summary, start, minutes):
    import icalendar

    start = start.replace(microsecond=0, tzinfo=datetime.UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//t//EN")
    cal.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", uid)
    vevent.add("summary", summary)
    vevent.add("dtstart", start)
    vevent.add("dtend", start + datetime.timedelta(minutes=minutes))
    cal.add_component(vevent)
    (parsed,) = ical_import.parse_ics(cal.to_ical(), now=NOW).events
    assert (parsed.uid, parsed.subject, parsed.scheduled_at, parsed.duration_minutes) == (
        uid,
        summary,
        start,
        minutes,
    )


# --- the service --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_creates_meetings_linked_to_contacts_then_updates_on_reimport(org, owner, in_org):
    contact = make_contact(org, owner, first_name="Ada", email="ada@example.com")
    data = ics(
        event(more="ATTENDEE:mailto:ADA@example.com\r\nATTENDEE:mailto:bob@example.org"),
        "UID:bad\r\nSUMMARY:No start",
    )
    result = services.ics_import(org=org, actor=owner, data=data)
    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    assert result.skipped == [{"event": "No start", "reason": "It has no start."}]
    meeting = Activity.objects.get(ical_uid="e1")
    assert (meeting.type, meeting.assigned_to, meeting.contact) == ("meeting", owner, contact)
    assert sorted(
        ActivityAttendee.objects.filter(activity=meeting).values_list("email", "contact")
    ) == [("ADA@example.com", contact.pk), ("bob@example.org", None)]
    again = services.ics_import(org=org, actor=owner, data=data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    moved = services.ics_import(
        org=org,
        actor=owner,
        data=ics(
            event(summary="Kick-off (moved)", start="20260111T090000Z", end="20260111T100000Z")
        ),
    )
    assert (moved.created, moved.updated, moved.skipped) == (0, 1, [])
    meeting.refresh_from_db()
    assert (meeting.subject, meeting.scheduled_at.day) == ("Kick-off (moved)", 11)
    assert Activity.objects.filter(ical_uid="e1").count() == 1


@pytest.mark.django_db
def test_malformed_file_imports_nothing(org, owner, in_org):
    with pytest.raises(ApplicationError):
        services.ics_import(org=org, actor=owner, data=b"BEGIN:VCALENDAR\r\ngarbage")
    with pytest.raises(ApplicationError) as exc:
        services.ics_import(org=org, actor=owner, data=ics())
    assert exc.value.errors == {"file": ["The file holds no events."]}
    assert Activity.objects.count() == 0


# --- page and API -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_page_shows_the_summary_and_errors(org, owner):
    client = login(owner, org)
    assert client.get("/calendar/import/").status_code == 200
    upload = SimpleUploadedFile("cal.ics", ics(event()), content_type="text/calendar")
    page = client.post("/calendar/import/", {"file": upload})
    assert page.status_code == 200
    assert 'data-testid="ics-import-result"' in page.content.decode()
    bad = SimpleUploadedFile("cal.ics", b"not a calendar", content_type="text/calendar")
    page = client.post("/calendar/import/", {"file": bad})
    assert page.status_code == 400
    assert "This is not an iCalendar (.ics) file" in page.content.decode()
    with tenant_context(org, actor=owner):
        assert Activity.objects.count() == 1


@pytest.mark.django_db
def test_import_api_answers_the_result_or_400(org, owner):
    client = login(owner, org)
    upload = SimpleUploadedFile("cal.ics", ics(event(), "UID:x\r\nSUMMARY:No start"))
    response = client.post("/api/crm/calendar/import/", {"file": upload})
    assert response.status_code == 200
    assert response.json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": [{"event": "No start", "reason": "It has no start."}],
    }
    bad = client.post("/api/crm/calendar/import/", {"file": SimpleUploadedFile("a.ics", b"\xff")})
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["file"]
