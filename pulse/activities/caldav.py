"""CalDAV two-way sync of a user's CRM meetings with one remote calendar, and the cipher
that keeps the calendar's password.

**The cipher.** Passwords are stored with Fernet (AES-128-CBC + HMAC); its key is derived
with HKDF-SHA256 from ``PULSE_CALDAV_KEY`` when that is set, else from ``SECRET_KEY``,
under a fixed context label, so the key is never the secret itself and a leaked database
alone reveals no password. Changing the secret makes stored passwords unreadable: the
sync then says so and asks for the password again.

**The sync** (``sync_connection``), in one pass:

1. *Pull.* Ask the calendar what changed since the stored sync-token (RFC 6578
   ``sync-collection``; the ``caldav`` library falls back to a full listing when a server
   has no tokens or forgot ours). A new remote event becomes a meeting assigned to the
   connection's user, linked to the first contact whose email is an attendee's, with the
   attendees as ``ActivityAttendee`` rows. A changed event (its ETag differs from the one
   we stored) updates the meeting through the activity services — unless the meeting was
   also changed in the CRM since the last sync: then the newer side wins, by the event's
   LAST-MODIFIED against the meeting's ``updated_at`` (the CRM wins a tie or an event
   without LAST-MODIFIED), and the result lists the conflict. An event deleted remotely
   **cancels** the meeting (it stays on the timelines, struck through, with its notes;
   a completed one stays completed) rather than trashing it: a calendar clean-up should
   not erase CRM history. It is not pushed back unless someone changes it again.
2. *Push.* The user's meetings and scheduled calls from 30 days back to 365 days ahead
   whose ``version`` differs from the one last synced are PUT as VEVENTs (built by
   ``ical.activity_to_event``, with the meeting's ``ical_uid``), conditionally on the ETag
   we know (``If-Match``), so a remote edit made meanwhile is never overwritten blindly:
   the next pull sees it. A synced meeting moved to the CRM's trash is deleted remotely.

``CalDavEvent`` rows hold the state (uid, href, etag, ``activity_version``): running the
sync twice changes nothing the second time. Each event's CRM write and its state row
commit together; a network failure mid-way leaves what was done consistent and the rest
for the next run. One unreadable event is skipped and named in the connection's error
while the others sync; the sync-token is then not advanced, so it is tried again.

**Failures** (server down, too slow, garbage) set ``last_error``/``last_error_at``, count
``failures`` and put ``next_sync_at`` off by ``5 min · 2^(failures − 1)``, at most 6 h; a
success resets them. CRM writes are audited with source "import" (the audit has no
"caldav" source yet) and the connection's user as actor.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import re
from dataclasses import dataclass, field

import caldav
import icalendar
from caldav.elements import dav
from caldav.lib import error as caldav_error
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context

from .ical import activity_to_event, calendar_of
from .ical_import import EventError, ParsedEvent, event_of
from .models import Activity, ActivityStatus, ActivityType, CalDavConnection, CalDavEvent

logger = logging.getLogger(__name__)

# --- the password cipher ----------------------------------------------------------------

CIPHER_CONTEXT = b"pulsecrm activities caldav password v1"


def _fernet() -> Fernet:
    secret = os.environ.get("PULSE_CALDAV_KEY") or settings.SECRET_KEY
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CIPHER_CONTEXT).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_password(password: str) -> str:
    """The stored form of a CalDAV password."""
    return _fernet().encrypt(password.encode()).decode()


def decrypt_password(token: str) -> str:
    """The password back; ``CalDavError`` if the key changed since it was stored."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise CalDavError(
            _(
                "The stored password cannot be read any more (the server's secret key "
                "changed). Edit the connection and enter the password again."
            )
        )


# --- talking to the server -----------------------------------------------------------------

WINDOW_BACK = datetime.timedelta(days=30)
WINDOW_AHEAD = datetime.timedelta(days=365)
SYNC_INTERVAL = datetime.timedelta(minutes=5)
BACKOFF_BASE = datetime.timedelta(minutes=5)
BACKOFF_MAX = datetime.timedelta(hours=6)


class CalDavError(Exception):
    """The server could not be used; ``message`` says why, for the connection page."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class PreconditionFailed(Exception):
    """A conditional PUT found the event changed remotely meanwhile."""


def timeout_seconds() -> float:
    """How long one request may take (``CALDAV_TIMEOUT`` setting or
    ``PULSE_CALDAV_TIMEOUT``; 10 s by default)."""
    value = getattr(settings, "CALDAV_TIMEOUT", None) or os.environ.get("PULSE_CALDAV_TIMEOUT")
    return float(value or 10)


def describe_failure(exc: BaseException) -> str:
    """A sentence for the connection page about why the server could not be used."""
    if isinstance(exc, CalDavError):
        return exc.message
    if isinstance(exc, caldav_error.AuthorizationError):
        return _("The server refused the user name or password.")
    if isinstance(exc, caldav_error.NotFoundError):
        return _("The server has no calendar at this address.")
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc)
    if names & {"Timeout", "ReadTimeout", "ConnectTimeout", "TimeoutError"} or (
        "timed out" in text.lower()
    ):
        return _("The server did not answer within %(s)d seconds.") % {"s": timeout_seconds()}
    if names & {"ConnectionError", "ConnectionRefusedError", "OSError", "NewConnectionError"}:
        return _("Could not reach the server (%(reason)s). Check the address and port.") % {
            "reason": "connection refused" if "refused" in text.lower() else text[:120]
        }
    return _(
        "The server's answer was not understood (%(reason)s). Is this a CalDAV calendar address?"
    ) % {"reason": f"{type(exc).__name__}: {text[:160]}"}


def _etag(value) -> str:
    return str(value or "").removeprefix("W/").strip('"')


class Remote:
    """One remote calendar collection, through the ``caldav`` library's client."""

    def __init__(self, url: str, username: str, password: str):
        self.client = caldav.DAVClient(
            url=url,
            username=username,
            password=password,
            timeout=timeout_seconds(),
            enable_rfc6764=False,
        )
        self.calendar = self.client.calendar(url=url)

    def check(self) -> str:
        """The calendar's display name; ``CalDavError`` unless ``url`` is a calendar."""
        props = self.calendar.get_properties([dav.ResourceType(), dav.DisplayName()])
        kinds = props.get(dav.ResourceType.tag) or []
        if "{urn:ietf:params:xml:ns:caldav}calendar" not in kinds:
            raise CalDavError(
                _(
                    "The server answered, but this address is not a calendar. Use the "
                    "address of the calendar itself, not the server's or your account's."
                )
            )
        return str(props.get(dav.DisplayName.tag) or "")

    def changes(self, sync_token: str) -> tuple[str, dict[str, str], set[str], bool]:
        """(new token, {href: etag} changed or new, hrefs deleted, is a full listing)."""
        collection = self.calendar.get_objects_by_sync_token(
            sync_token=sync_token or None, load_objects=False
        )
        deleted = {str(url) for url in collection.deleted_urls}
        changed = {}
        for obj in collection.objects:
            href = str(obj.url.canonical())
            if href not in deleted:
                changed[href] = _etag((obj.props or {}).get(dav.GetEtag.tag))
        token = str(collection.sync_token or "")
        full = not sync_token or (token.startswith("fake-") and token != sync_token)
        return token, changed, deleted, full

    def get(self, href: str) -> str | None:
        """The object's iCalendar text (None: it is gone)."""
        response = self.client.request(href, "GET", headers={"Accept": "text/calendar"})
        if response.status == 404:
            return None
        if response.status >= 300:
            raise CalDavError(_("The server answered %(status)s.") % {"status": response.status})
        raw = response.raw
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw

    def href_for(self, uid: str) -> str:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", uid)[:200] or "event"
        return str(self.calendar.url.join(f"{name}.ics").canonical())

    def put(self, href: str, body: bytes, *, if_match: str = "") -> str:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if if_match:
            headers["If-Match"] = f'"{if_match}"'
        response = self.client.request(href, "PUT", body.decode(), headers=headers)
        if response.status == 412:
            raise PreconditionFailed(href)
        if response.status >= 300:
            raise CalDavError(
                _("The server refused an event (HTTP %(status)s).") % {"status": response.status}
            )
        return _etag(response.headers.get("ETag"))

    def delete(self, href: str) -> None:
        response = self.client.request(href, "DELETE")
        if response.status >= 300 and response.status != 404:
            raise CalDavError(
                _("The server refused to delete an event (HTTP %(status)s).")
                % {"status": response.status}
            )


def check_calendar(*, url: str, username: str, password: str) -> str:
    """Reach the calendar and return its display name, or raise ``CalDavError`` with a
    sentence saying what went wrong."""
    try:
        return Remote(url, username, password).check()
    except CalDavError:
        raise
    except Exception as exc:  # noqa: BLE001 - the network and the peer fail in many ways
        raise CalDavError(describe_failure(exc))


# --- the sync ---------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one sync did; ``error`` is set when it could not finish."""

    pushed: int = 0
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    deleted_remotely: int = 0
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.errors

    @property
    def changes(self) -> int:
        return self.pushed + self.created + self.updated + self.cancelled + self.deleted_remotely

    def summary(self) -> str:
        return _(
            "%(pushed)d sent, %(created)d new from the calendar, %(updated)d updated, "
            "%(cancelled)d cancelled, %(deleted)d deleted in the calendar."
        ) % {
            "pushed": self.pushed,
            "created": self.created,
            "updated": self.updated,
            "cancelled": self.cancelled,
            "deleted": self.deleted_remotely,
        }


def changed_fields(activity: Activity, event: ParsedEvent) -> dict:
    """The fields of ``activity`` that ``event`` changes (only those)."""
    from .services import sanitize_rich_text

    changed = {}
    if activity.subject != event.subject:
        changed["subject"] = event.subject
    if event.all_day != activity.all_day:
        changed["all_day"] = event.all_day
        changed["scheduled_at"] = event.scheduled_at
    elif event.all_day:
        if timezone.localtime(activity.scheduled_at).date() != event.scheduled_at.date():
            changed["scheduled_at"] = event.scheduled_at
    elif activity.scheduled_at != event.scheduled_at:
        changed["scheduled_at"] = event.scheduled_at
    if not event.all_day and event.duration_minutes is not None:
        current = activity.duration_minutes or 30  # what ``ends_at`` assumes
        if current != event.duration_minutes:
            changed["duration_minutes"] = event.duration_minutes
    if activity.location != event.location:
        changed["location"] = event.location
    if event.video_url and activity.video_url != event.video_url:
        changed["video_url"] = event.video_url
    # We do not push descriptions (the CRM's are rich text); an event's own is taken over.
    if event.description and sanitize_rich_text(event.description) != activity.description:
        changed["description"] = event.description
    return changed


def _parse_remote(data: str) -> ParsedEvent:
    try:
        cal = icalendar.Calendar.from_ical(data)
        masters = [c for c in cal.walk("VEVENT") if c.get("recurrence-id") is None]
    except Exception as exc:  # noqa: BLE001 - garbage from the peer
        raise EventError(_("It is not valid iCalendar (%(error)s).") % {"error": str(exc)[:120]})
    if not masters:
        raise EventError(_("It holds no event."))
    try:
        return event_of(masters[0])
    except EventError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken property value
        raise EventError(_("It cannot be read (%(error)s).") % {"error": str(exc)[:120]})


def _pull_one(conn, href, etag, data, state, by_uid, result: SyncResult) -> None:
    from . import services

    user = conn.user
    event = _parse_remote(data)
    if state is None:
        state = by_uid.get(event.uid)
    activity = state.activity if state is not None else None
    if state is not None and (activity is None or activity.is_deleted):
        return  # gone in the CRM: the push deletes it remotely
    if state is None:
        activity = (
            Activity.objects.filter(ical_uid=event.uid, assigned_to=user)
            .order_by("created_at")
            .first()
        )
        if activity is None:
            if event.cancelled:
                return
            activity = services.meeting_from_event(
                org=conn.organization, actor=user, event=event, assigned_to=user
            )
            result.created += 1
        else:
            changed = changed_fields(activity, event)
            if changed:
                activity = services.activity_update(activity=activity, actor=user, **changed)
                result.updated += 1
        by_uid[event.uid] = CalDavEvent.objects.create(
            organization=conn.organization,
            connection=conn,
            activity=activity,
            uid=event.uid,
            href=href,
            etag=etag,
            activity_version=activity.version,
        )
        return
    if activity.version != state.activity_version:
        remote_time = event.last_modified
        if remote_time is None or remote_time <= activity.updated_at:
            result.conflicts.append(
                _("“%(subject)s” changed on both sides; the CRM's change is newer and was kept.")
                % {"subject": activity.subject}
            )
            # The push overwrites the remote copy (If-Match this ETag).
            state.etag, state.href = etag, href
            state.save(update_fields=["etag", "href"])
            return
        result.conflicts.append(
            _("“%(subject)s” changed on both sides; the calendar's change is newer and was kept.")
            % {"subject": activity.subject}
        )
    changed = changed_fields(activity, event)
    if changed:
        activity = services.activity_update(activity=activity, actor=user, **changed)
    if event.cancelled and activity.status == ActivityStatus.PENDING:
        activity = services.activity_cancel(activity=activity, actor=user)
        changed["status"] = ActivityStatus.CANCELLED
    if changed:
        result.updated += 1
    state.etag, state.href, state.activity_version = etag, href, activity.version
    state.synced_at = timezone.now()
    state.save(update_fields=["etag", "href", "activity_version", "synced_at"])


def _remote_deleted(conn, state, result: SyncResult) -> None:
    from . import services

    activity = state.activity
    if activity is not None and not activity.is_deleted:
        if activity.status == ActivityStatus.PENDING:
            activity = services.activity_cancel(activity=activity, actor=conn.user)
            result.cancelled += 1
        state.activity_version = activity.version
    # Kept with no href: "gone remotely", so the meeting is not pushed back unchanged.
    state.href, state.etag, state.synced_at = "", "", timezone.now()
    state.save(update_fields=["href", "etag", "activity_version", "synced_at"])


def _label(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1]


def _pull(conn, remote: Remote, result: SyncResult) -> str:
    """Carry the calendar's changes into the CRM; the new sync-token."""
    states = list(CalDavEvent.objects.filter(connection=conn).select_related("activity"))
    by_href = {s.href: s for s in states if s.href}
    by_uid = {s.uid: s for s in states}
    token, changed, deleted, full = remote.changes(conn.sync_token)
    if full:
        deleted |= {href for href in by_href if href not in changed}
    for href, etag in changed.items():
        state = by_href.get(href)
        if state is not None and etag and state.etag == etag:
            continue
        data = remote.get(href)
        if data is None:
            deleted.add(href)
            continue
        try:
            with transaction.atomic():
                _pull_one(conn, href, etag, data, state, by_uid, result)
        except (EventError, ApplicationError) as exc:
            result.errors.append(f"{_label(href)}: {exc}")
    for href in deleted:
        state = by_href.get(href)
        if state is not None:
            with transaction.atomic():
                _remote_deleted(conn, state, result)
    return token


def _push(conn, remote: Remote, result: SyncResult, now) -> None:
    """Send the CRM's new and changed meetings and calls; delete trashed ones remotely."""
    states = {
        s.activity_id: s
        for s in CalDavEvent.objects.filter(connection=conn, activity__isnull=False)
    }
    activities = Activity.objects.filter(
        assigned_to=conn.user,
        type__in=[ActivityType.MEETING, ActivityType.CALL],
        scheduled_at__gte=now - WINDOW_BACK,
        scheduled_at__lte=now + WINDOW_AHEAD,
    ).order_by("scheduled_at", "pk")
    for activity in activities:
        state = states.get(activity.pk)
        if state is not None and state.activity_version == activity.version:
            continue
        if state is None and activity.status == ActivityStatus.CANCELLED:
            continue
        uid = activity.ical_uid or f"{activity.pk}@pulsecrm"
        known = state is not None and bool(state.href)
        href = state.href if known else remote.href_for(uid)
        body = calendar_of([activity_to_event(activity)])
        try:
            etag = remote.put(href, body, if_match=state.etag if known else "")
        except PreconditionFailed:
            result.conflicts.append(
                _("“%(subject)s” changed in the calendar meanwhile; it is read next time.")
                % {"subject": activity.subject}
            )
            continue
        if state is None:
            state = CalDavEvent(organization=conn.organization, connection=conn, activity=activity)
        state.uid, state.href, state.etag = uid, href, etag
        state.activity_version, state.synced_at = activity.version, timezone.now()
        state.save()
        result.pushed += 1
    gone = CalDavEvent.objects.filter(connection=conn).exclude(href="")
    gone = gone.filter(Q(activity__isnull=True) | Q(activity__deleted_at__isnull=False))
    for state in gone:
        remote.delete(state.href)
        state.delete()
        result.deleted_remotely += 1


def backoff(failures: int) -> datetime.timedelta:
    """How long to wait after the ``failures``-th failure in a row."""
    return min(BACKOFF_BASE * 2 ** max(failures - 1, 0), BACKOFF_MAX)


def sync_connection(connection: CalDavConnection, *, now=None) -> SyncResult:
    """One two-way sync of ``connection`` (see the module docstring). Never raises for
    what the server does: the outcome is recorded on the connection and returned."""
    now = now or timezone.now()
    conn = connection
    result = SyncResult()
    token = conn.sync_token
    with tenant_context(conn.organization, actor=conn.user, source="import"):
        try:
            remote = Remote(conn.url, conn.username, decrypt_password(conn.password_encrypted))
            token = _pull(conn, remote, result)
            _push(conn, remote, result, now)
        except Exception as exc:  # noqa: BLE001 - recorded for the page, retried later
            result.error = describe_failure(exc)
            logger.warning(
                "caldav sync failed",
                extra={"connection_id": str(conn.pk), "error": result.error},
            )
        _record(conn, result, token, now)
    return result


def _record(conn, result: SyncResult, token: str, now) -> None:
    fields: dict = {}
    if result.ok:
        fields.update(
            failures=0,
            last_error="",
            last_error_at=None,
            last_synced_at=now,
            next_sync_at=now + SYNC_INTERVAL,
            sync_token=token,
        )
    else:
        failures = conn.failures + 1
        message = result.error
        if not message:
            message = ngettext(
                "%(n)d event could not be read: %(which)s",
                "%(n)d events could not be read: %(which)s",
                len(result.errors),
            ) % {"n": len(result.errors), "which": "; ".join(result.errors)[:2000]}
            fields["last_synced_at"] = now  # the rest did sync; the token stays for a retry
        fields.update(
            failures=failures,
            last_error=message,
            last_error_at=now,
            next_sync_at=now + backoff(failures),
        )
    CalDavConnection.objects.unscoped().filter(pk=conn.pk).update(**fields)
    for name, value in fields.items():
        setattr(conn, name, value)
