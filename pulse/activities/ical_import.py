"""Reading iCalendar (RFC 5545) into meetings: the ``.ics`` upload and the CalDAV pull.

``parse_ics`` turns a file into ``ParsedEvent``s, bounded and forgiving: a file larger
than ``MAX_BYTES``, with more than ``MAX_EVENTS`` events, or that is not iCalendar at all
is refused whole with one clear message (``ApplicationError`` on ``file``); an event
that cannot become a meeting (no start, an absurd rule) is skipped with its reason.
Recurring events are expanded only inside ``[now − 1 day, now + RECURRENCE_WINDOW]`` and
to at most ``MAX_OCCURRENCES`` each, so a rule with no end never loops forever.

Writing the meetings is ``services.ics_import``; this module reads only.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field

import icalendar
from dateutil import rrule
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError

MAX_BYTES = 2 * 1024 * 1024
MAX_EVENTS = 2000
MAX_OCCURRENCES = 100
RECURRENCE_WINDOW = datetime.timedelta(days=365)
# How many occurrences of a rule may be stepped over before the window starts (an hourly
# rule from 1990 would otherwise cost minutes); beyond it the series is skipped.
MAX_RULE_STEPS = 20000
MAX_DURATION_MINUTES = 60 * 24 * 14

RESPONSES = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "needs_action",
}


@dataclass
class ParsedAttendee:
    email: str
    name: str = ""
    response: str = "needs_action"


@dataclass
class ParsedEvent:
    """One meeting to create or update, read from a VEVENT (or one occurrence of it)."""

    uid: str
    subject: str
    scheduled_at: datetime.datetime
    duration_minutes: int | None
    all_day: bool
    location: str = ""
    description: str = ""
    video_url: str = ""
    cancelled: bool = False
    last_modified: datetime.datetime | None = None
    attendees: list[ParsedAttendee] = field(default_factory=list)

    def activity_fields(self) -> dict:
        """The activity fields this event sets (what an update compares and writes)."""
        return {
            "subject": self.subject,
            "scheduled_at": self.scheduled_at,
            "duration_minutes": None if self.all_day else self.duration_minutes,
            "all_day": self.all_day,
            "location": self.location,
            "description": self.description,
            "video_url": self.video_url,
        }


@dataclass
class ParseResult:
    events: list[ParsedEvent] = field(default_factory=list)
    # (what, why): events left out, each with its reason.
    skipped: list[tuple[str, str]] = field(default_factory=list)


class EventError(ValueError):
    """One event cannot become a meeting (the message says why)."""


def file_error(message: str) -> ApplicationError:
    return ApplicationError(errors={"file": [message]})


def _text(component, name: str, limit: int) -> str:
    value = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0]
    return str(value).strip()[:limit]


def _as_datetime(value, tz) -> tuple[datetime.datetime, bool]:
    """(aware datetime, is a whole day) of a DTSTART/DTEND value."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # floating time: the importer's own zone
            value = value.replace(tzinfo=tz)
        return value, False
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(0, 0), tzinfo=tz), True
    raise EventError(_("Its start is not a date."))


def _attendees(component) -> list[ParsedAttendee]:
    raw = component.get("attendee")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    out, seen = [], set()
    for item in raw[:200]:
        address = str(item).strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        address = address.strip()[:254]
        if "@" not in address or address.lower() in seen:
            continue
        seen.add(address.lower())
        params = getattr(item, "params", {}) or {}
        response = RESPONSES.get(str(params.get("PARTSTAT", "")).upper(), "needs_action")
        out.append(ParsedAttendee(address, str(params.get("CN", ""))[:200], response))
    return out


def event_of(component, *, tz=None) -> ParsedEvent:
    """The meeting a VEVENT describes (its first occurrence); ``EventError`` if none."""
    tz = tz or timezone.get_current_timezone()
    uid = _text(component, "uid", 255)
    if not uid:
        raise EventError(_("It has no UID."))
    dtstart = component.get("dtstart")
    if dtstart is None:
        raise EventError(_("It has no start."))
    start, all_day = _as_datetime(dtstart.dt, tz)
    end = None
    if component.get("dtend") is not None:
        end, _day = _as_datetime(component.get("dtend").dt, tz)
    elif component.get("duration") is not None:
        delta = component.get("duration").dt
        if not isinstance(delta, datetime.timedelta):
            raise EventError(_("Its duration is not a duration."))
        end = start + delta
    minutes = None
    if end is not None and not all_day:
        minutes = int((end - start).total_seconds() // 60)
        if minutes < 0:
            raise EventError(_("It ends before it starts."))
        minutes = min(minutes, MAX_DURATION_MINUTES)
    url = _text(component, "url", 500)
    modified = component.get("last-modified") or component.get("dtstamp")
    last_modified = None
    if modified is not None and isinstance(modified.dt, datetime.datetime):
        last_modified, _day = _as_datetime(modified.dt, tz)
    return ParsedEvent(
        uid=uid,
        subject=_text(component, "summary", 255) or _("(no title)"),
        scheduled_at=start,
        duration_minutes=minutes,
        all_day=all_day,
        location=_text(component, "location", 255),
        description=_text(component, "description", 20000),
        video_url=url if url.startswith(("http://", "https://")) else "",
        cancelled=_text(component, "status", 20).upper() == "CANCELLED",
        last_modified=last_modified,
        attendees=_attendees(component),
    )


def _occurrences(component, first: ParsedEvent, *, now) -> list[ParsedEvent]:
    """The occurrences of a recurring VEVENT inside the window (bounded; see module)."""
    raw = component.get("rrule")
    if isinstance(raw, list):
        raw = raw[0]
    rule_text = raw.to_ical().decode()
    if any(f"FREQ={f}" in rule_text.upper() for f in ("SECONDLY", "MINUTELY")):
        raise EventError(_("It repeats more often than hourly."))
    dtstart = first.scheduled_at
    try:
        rule = rrule.rrulestr(rule_text, dtstart=dtstart, forceset=True, ignoretz=False)
    except (ValueError, TypeError, OverflowError) as exc:
        raise EventError(_("Its repeat rule cannot be read (%(error)s).") % {"error": exc})
    exdates = set()
    raw_exdates = component.get("exdate") or []
    for ex in raw_exdates if isinstance(raw_exdates, list) else [raw_exdates]:
        for value in getattr(ex, "dts", []) or []:
            when, _day = _as_datetime(value.dt, dtstart.tzinfo)
            exdates.add(when)
    begin, end = now - datetime.timedelta(days=1), now + RECURRENCE_WINDOW
    out: list[ParsedEvent] = []
    try:
        for step, when in enumerate(itertools.islice(rule, MAX_RULE_STEPS + MAX_OCCURRENCES)):
            if when > end or len(out) >= MAX_OCCURRENCES:
                break
            if when < begin or when in exdates:
                if step >= MAX_RULE_STEPS:
                    raise EventError(_("Its repeat rule starts too long ago."))
                continue
            out.append(
                ParsedEvent(
                    **{
                        **first.__dict__,
                        "uid": f"{first.uid}/{when.strftime('%Y%m%dT%H%M%S')}"[:255],
                        "scheduled_at": when,
                        "attendees": list(first.attendees),
                    }
                )
            )
    except EventError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise EventError(_("Its repeat rule cannot be read (%(error)s).") % {"error": exc})
    return out


def parse_ics(data: bytes, *, now: datetime.datetime | None = None, tz=None) -> ParseResult:
    """The meetings of an ``.ics`` file; ``ApplicationError`` (on ``file``) if the file
    as a whole is refused. Never raises anything else, whatever the bytes."""
    now = now or timezone.now()
    if len(data) > MAX_BYTES:
        raise file_error(
            _("The file is larger than %(mb)d MB; split it or export a shorter period.")
            % {"mb": MAX_BYTES // (1024 * 1024)}
        )
    if not data.strip():
        raise file_error(_("The file is empty."))
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds on garbage
        raise file_error(
            _("This is not an iCalendar (.ics) file: %(error)s") % {"error": str(exc)[:200]}
        )
    if not calendars or any(cal.name != "VCALENDAR" for cal in calendars):
        raise file_error(_("This is not an iCalendar (.ics) file: it holds no VCALENDAR."))
    try:
        components = [c for cal in calendars for c in cal.walk("VEVENT")]
    except Exception as exc:  # noqa: BLE001
        raise file_error(_("The file cannot be read: %(error)s") % {"error": str(exc)[:200]})
    if len(components) > MAX_EVENTS:
        raise file_error(
            _("The file holds %(n)d events; at most %(max)d can be imported at once.")
            % {"n": len(components), "max": MAX_EVENTS}
        )
    result = ParseResult()
    # Changed occurrences of a series (RECURRENCE-ID) replace the generated ones.
    overrides: dict[str, ParsedEvent] = {}
    masters = []
    for component in components:
        label = _text(component, "summary", 80) or _text(component, "uid", 80) or "?"
        try:
            event = event_of(component, tz=tz)
            recurrence_id = component.get("recurrence-id")
            if recurrence_id is not None:
                when, _day = _as_datetime(recurrence_id.dt, event.scheduled_at.tzinfo)
                event.uid = f"{event.uid}/{when.strftime('%Y%m%dT%H%M%S')}"[:255]
                overrides[event.uid] = event
            else:
                masters.append((label, component, event))
        except EventError as exc:
            result.skipped.append((label, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a broken property value
            result.skipped.append((label, _("It cannot be read: %(error)s") % {"error": exc}))
    seen: set[str] = set()
    for label, component, event in masters:
        try:
            if component.get("rrule") is not None:
                occurrences = _occurrences(component, event, now=now)
                if not occurrences:
                    result.skipped.append((label, _("No occurrence falls in the next 12 months.")))
            else:
                occurrences = [event]
        except EventError as exc:
            result.skipped.append((label, str(exc)))
            continue
        for occurrence in occurrences:
            occurrence = overrides.pop(occurrence.uid, occurrence)
            if occurrence.uid in seen:
                continue
            seen.add(occurrence.uid)
            result.events.append(occurrence)
    for uid, event in overrides.items():  # a changed occurrence whose series is not here
        if uid not in seen:
            seen.add(uid)
            result.events.append(event)
    if len(result.events) > MAX_EVENTS:
        raise file_error(
            _("The file expands to %(n)d meetings; at most %(max)d can be imported at once.")
            % {"n": len(result.events), "max": MAX_EVENTS}
        )
    return result
