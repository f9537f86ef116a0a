"""iCalendar (RFC 5545) for activities: an activity as a VEVENT, a set of them as a
calendar. The feed, the .ics downloads, the invitations and the CalDAV push all build
their events here, so one meeting looks the same everywhere (same UID, same times)."""

from __future__ import annotations

import datetime

import icalendar
from django.utils import timezone

from .models import Activity, ActivityStatus

PRODID = "-//PulseCRM//Activities//EN"


def activity_to_event(activity: Activity, *, url: str = "") -> icalendar.Event:
    """The VEVENT of a scheduled activity (a meeting, a call, a task with a time)."""
    event = icalendar.Event()
    event.add("uid", activity.ical_uid or f"{activity.pk}@pulsecrm")
    event.add("dtstamp", timezone.now())
    event.add("summary", activity.subject)
    if activity.all_day:
        day = timezone.localtime(activity.scheduled_at).date()
        event.add("dtstart", day)
        event.add("dtend", day + datetime.timedelta(days=1))
    else:
        event.add("dtstart", activity.scheduled_at)
        event.add("dtend", activity.ends_at)
    if activity.location:
        event.add("location", activity.location)
    if url or activity.video_url:
        event.add("url", url or activity.video_url)
    event.add("sequence", activity.version)
    event.add("last-modified", activity.updated_at or timezone.now())
    status = {
        ActivityStatus.CANCELLED: "CANCELLED",
        ActivityStatus.COMPLETED: "CONFIRMED",
        ActivityStatus.PENDING: "CONFIRMED",
    }[activity.status]
    event.add("status", status)
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
