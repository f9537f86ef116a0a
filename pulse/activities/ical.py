"""iCalendar (RFC 5545) for activities: an activity as a VEVENT, a set of them as a
calendar. The feed, the .ics downloads, the invitations and the CalDAV push all build
their events here, so one meeting looks the same everywhere (same UID, same times)."""

from __future__ import annotations

import datetime

import icalendar
from django.utils import timezone
from django.utils.html import strip_tags

from .models import Activity, ActivityStatus, AttendeeResponse

PRODID = "-//PulseCRM//Activities//EN"

# An attendee's answer as iCalendar's participation status.
PARTSTAT = {
    AttendeeResponse.NEEDS_ACTION: "NEEDS-ACTION",
    AttendeeResponse.ACCEPTED: "ACCEPTED",
    AttendeeResponse.TENTATIVE: "TENTATIVE",
    AttendeeResponse.DECLINED: "DECLINED",
}


def _utc(value: datetime.datetime) -> datetime.datetime:
    # Times go out in UTC ("…Z"): every client reads them without a VTIMEZONE block.
    return value.astimezone(datetime.UTC)


def activity_to_event(activity: Activity, *, url: str = "") -> icalendar.Event:
    """The VEVENT of a scheduled activity (a meeting, a call, a task with a time), or of
    a task with only a due date (an all-day event on that day)."""
    event = icalendar.Event()
    event.add("uid", activity.ical_uid or f"{activity.pk}@pulsecrm")
    event.add("dtstamp", _utc(timezone.now()))
    event.add("summary", activity.subject)
    if activity.scheduled_at is None:
        day = activity.due_date or timezone.localdate(activity.created_at or timezone.now())
        event.add("dtstart", day)
        event.add("dtend", day + datetime.timedelta(days=1))
    elif activity.all_day:
        day = timezone.localtime(activity.scheduled_at).date()
        event.add("dtstart", day)
        event.add("dtend", day + datetime.timedelta(days=1))
    else:
        event.add("dtstart", _utc(activity.scheduled_at))
        event.add("dtend", _utc(activity.ends_at))
    if activity.location:
        event.add("location", activity.location)
    if url or activity.video_url:
        event.add("url", url or activity.video_url)
    description = strip_tags(activity.description or "").strip()
    if activity.video_url and activity.video_url not in description:
        description = f"{description}\n\n{activity.video_url}".strip()
    if description:
        event.add("description", description)
    event.add("categories", [activity.get_type_display()])
    event.add("sequence", activity.version)
    event.add("last-modified", _utc(activity.updated_at or timezone.now()))
    status = {
        ActivityStatus.CANCELLED: "CANCELLED",
        ActivityStatus.COMPLETED: "CONFIRMED",
        ActivityStatus.PENDING: "CONFIRMED",
    }[activity.status]
    event.add("status", status)
    return event


def add_people(event: icalendar.Event, *, organizer=None, attendees=()) -> icalendar.Event:
    """Add the ORGANIZER (a user) and one ATTENDEE line per attendee with an email (their
    name, their answer, and RSVP so calendar apps offer to reply)."""
    if organizer is not None and organizer.email:
        address = icalendar.vCalAddress(f"mailto:{organizer.email}")
        address.params["cn"] = str(organizer)
        event.add("organizer", address)
    for attendee in attendees:
        if not attendee.email:
            continue
        address = icalendar.vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["cn"] = attendee.name
        address.params["role"] = "REQ-PARTICIPANT"
        address.params["partstat"] = PARTSTAT.get(attendee.response, "NEEDS-ACTION")
        address.params["rsvp"] = "TRUE"
        event.add("attendee", address, encode=0)
    return event


def calendar_of(events, *, name: str = "", method: str = "") -> bytes:
    """A VCALENDAR holding ``events`` (VEVENTs), as bytes ready to serve or attach."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(event)
    return cal.to_ical()
