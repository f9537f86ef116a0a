"""Every change to activities: create, update, complete (with a follow-up), cancel,
delete and restore; checklist items, attendees, reminders, templates; calendar feeds and
CalDAV connections. Each function is atomic, takes the acting user, validates through
the model and is audited (DESIGN rules 3 and 5)."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import nh3
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Lower
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError
from pulse.core.services import (
    check_same_org,
    record_create,
    record_delete,
    record_restore,
    record_update,
)
from pulse.opportunities.services import opportunity_touch

from . import caldav
from .ical_import import ParsedEvent, file_error, parse_ics
from .models import (
    REMINDER_OFFSETS,
    Activity,
    ActivityAttendee,
    ActivityChecklistItem,
    ActivityReminder,
    ActivityStatus,
    ActivityTemplate,
    ActivityType,
    AttendeeResponse,
    CalDavConnection,
    CalDavEvent,
    CalendarFeed,
)

# --- rich text ----------------------------------------------------------------------------------

# What a description or note may keep: text formatting, lists, links, quotes, code. Scripts,
# styles, event handlers and javascript: links are dropped by nh3 (an allow-list).
RICH_TEXT_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "a", "blockquote",
    "code", "pre", "h3", "h4", "span",
}  # fmt: skip
RICH_TEXT_ATTRIBUTES = {"a": {"href", "title"}, "span": {"class"}}


def sanitize_rich_text(html: str) -> str:
    """The HTML of a description or note, reduced to the allowed tags and attributes."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=RICH_TEXT_TAGS,
        attributes=RICH_TEXT_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
    ).strip()


# --- activities: create, update, complete, cancel, delete ----------------------------------------


def occurred_at_of(activity: Activity) -> datetime.datetime:
    """The timeline's date of an activity: scheduled, due, completed, or written down."""
    if activity.scheduled_at is not None:
        return activity.scheduled_at
    if activity.due_date is not None:
        tz = timezone.get_current_timezone()
        return datetime.datetime.combine(activity.due_date, datetime.time(9, 0), tzinfo=tz)
    if activity.completed_at is not None:
        return activity.completed_at
    return activity.created_at or timezone.now()


def _prepare(fields: dict[str, Any], *, current: Activity | None = None) -> dict[str, Any]:
    """Sanitize rich text, trim the subject, and fill the company from the contact or the
    deal when none is given (so a company's timeline reads one index)."""
    fields = dict(fields)
    for name in ("description", "notes"):
        if isinstance(fields.get(name), str):
            fields[name] = sanitize_rich_text(fields[name])
    if isinstance(fields.get("subject"), str):
        fields["subject"] = fields["subject"].strip()
    company_given = "company" in fields and fields["company"] is not None
    current_company = current.company_id if current is not None else None
    if not company_given and current_company is None:
        contact = fields.get("contact")
        opportunity = fields.get("opportunity")
        if contact is not None and contact.company_id:
            fields["company_id"] = contact.company_id
            fields.pop("company", None)
        elif opportunity is not None and opportunity.company_id:
            fields["company_id"] = opportunity.company_id
            fields.pop("company", None)
    return fields


def _touch_records(activity: Activity) -> None:
    """Anything done on a deal resets its rotting clock (issue 5's flag)."""
    if activity.opportunity_id and activity.status != ActivityStatus.CANCELLED:
        opportunity_touch(
            opportunity_ids=[activity.opportunity_id],
            when=min(activity.occurred_at, timezone.now()),
        )


@transaction.atomic
def activity_create(*, org, actor, **fields) -> Activity:
    """Write down or schedule an activity. ``status="completed"`` logs one already done
    (a call just made): ``completed_at`` defaults to now."""
    fields = _prepare(fields)
    check_same_org(
        org,
        **{k: fields.get(k) for k in ("contact", "company", "lead", "opportunity", "assigned_to")},
    )
    if fields.get("status") == ActivityStatus.COMPLETED and not fields.get("completed_at"):
        fields["completed_at"] = timezone.now()
    fields.setdefault("assigned_to", actor)
    fields["occurred_at"] = occurred_at_of(Activity(organization=org, **fields))
    if fields.get("type") == ActivityType.MEETING and not fields.get("ical_uid"):
        # The UID invitations, the feed and CalDAV share, written with the row itself.
        fields["id"] = uuid.uuid4()
        fields["ical_uid"] = f"{fields['id']}@pulsecrm"
    activity = record_create(Activity, org=org, actor=actor, **fields)
    _touch_records(activity)
    _after_change(activity, actor=actor, created=True)
    return activity


@transaction.atomic
def activity_update(
    *, activity: Activity, actor, expected_version: int | None = None, **fields
) -> Activity:
    """Change an activity's fields (a version check when ``expected_version`` is given)."""
    fields = _prepare(fields, current=activity)
    org = activity.organization
    check_same_org(
        org,
        **{k: fields.get(k) for k in ("contact", "company", "lead", "opportunity", "assigned_to")},
    )
    if fields.get("status") == ActivityStatus.PENDING:
        fields["completed_at"] = None
    elif fields.get("status") == ActivityStatus.COMPLETED and not (
        fields.get("completed_at") or activity.completed_at
    ):
        fields["completed_at"] = timezone.now()
    probe = Activity(
        **{
            "scheduled_at": activity.scheduled_at,
            "due_date": activity.due_date,
            "completed_at": activity.completed_at,
            "created_at": activity.created_at,
            **{
                k: v for k, v in fields.items() if k in ("scheduled_at", "due_date", "completed_at")
            },
        }
    )
    fields["occurred_at"] = occurred_at_of(probe)
    before = {name: getattr(activity, name) for name in _INVITATION_FIELDS}
    activity = record_update(activity, actor=actor, expected_version=expected_version, **fields)
    _touch_records(activity)
    _after_change(activity, actor=actor, created=False)
    if any(getattr(activity, name) != value for name, value in before.items()):
        # What an invitation says changed: those already invited get the update (or the
        # cancellation); notes, outcome or links alone do not email anybody.
        meeting_invitations_follow(activity=activity, actor=actor)
    return activity


# The fields an invitation carries (see ical.activity_to_event).
_INVITATION_FIELDS = (
    "subject",
    "scheduled_at",
    "duration_minutes",
    "all_day",
    "location",
    "video_url",
    "status",
)


@transaction.atomic
def activity_complete(
    *,
    activity: Activity,
    actor,
    expected_version: int | None = None,
    completed_at: datetime.datetime | None = None,
    follow_up: dict[str, Any] | None = None,
    **fields,
) -> tuple[Activity, Activity | None]:
    """Mark an activity done (with its outcome fields, e.g. a call's ``call_outcome`` or a
    meeting's ``notes``) and, in the same step, schedule a follow-up: ``follow_up`` holds
    the new activity's fields; it concerns the same records unless told otherwise."""
    if activity.status == ActivityStatus.CANCELLED:
        raise ApplicationError(_("This activity was cancelled; reopen it first."))
    activity = activity_update(
        activity=activity,
        actor=actor,
        expected_version=expected_version,
        status=ActivityStatus.COMPLETED,
        completed_at=completed_at or activity.completed_at or timezone.now(),
        **fields,
    )
    follow = None
    if follow_up:
        links = {
            name: getattr(activity, name) for name in ("contact", "company", "lead", "opportunity")
        }
        follow = activity_create(
            org=activity.organization,
            actor=actor,
            **{**links, "assigned_to": activity.assigned_to, **follow_up, "follow_up_of": activity},
        )
    return activity, follow


@transaction.atomic
def activity_cancel(*, activity: Activity, actor, expected_version: int | None = None) -> Activity:
    """Call an activity off (it stays on the timeline, struck through; no reminders)."""
    return activity_update(
        activity=activity,
        actor=actor,
        expected_version=expected_version,
        status=ActivityStatus.CANCELLED,
        completed_at=None,
    )


@transaction.atomic
def activity_delete(*, activity: Activity, actor) -> Activity:
    """Move an activity to the trash (its reminders are not sent while it is there)."""
    activity = record_delete(activity, actor=actor)
    _after_change(activity, actor=actor, created=False)
    meeting_invitations_follow(activity=activity, actor=actor)  # a CANCEL to the invited
    return activity


@transaction.atomic
def activity_restore(*, activity: Activity, actor) -> Activity:
    activity = record_restore(activity, actor=actor)
    _after_change(activity, actor=actor, created=False)
    return activity


def _after_change(activity: Activity, *, actor, created: bool) -> None:
    """What follows any change of an activity: its reminders are re-planned and mentions
    notified (the sections below fill these in)."""
    reminders_replan(activity=activity)
    mentions_notify(activity=activity, actor=actor, created=created)


# --- checklist items ---

# Imports of this section (the lead hoists them).


def _checklist_activity_open(activity: Activity) -> None:
    if activity.is_deleted:
        raise ApplicationError(_("This activity is in the trash; restore it first."))
    if activity.type != ActivityType.TASK:
        raise ApplicationError(errors={"text": [_("Only a task has a checklist.")]})


@transaction.atomic
def checklist_item_add(*, activity: Activity, actor, text: str) -> ActivityChecklistItem:
    """Add a line at the end of a task's checklist."""
    _checklist_activity_open(activity)
    text = (text or "").strip()
    if not text:
        raise ApplicationError(errors={"text": [_("Write what is to be done.")]})
    last = (
        ActivityChecklistItem.objects.unscoped()
        .filter(activity_id=activity.pk, deleted_at__isnull=True)
        .aggregate(last=Max("position"))["last"]
    )
    return record_create(
        ActivityChecklistItem,
        org=activity.organization,
        actor=actor,
        activity=activity,
        text=text,
        position=0 if last is None else last + 1,
    )


@transaction.atomic
def checklist_item_update(
    *,
    item: ActivityChecklistItem,
    actor,
    text: str | None = None,
    done: bool | None = None,
    expected_version: int | None = None,
) -> ActivityChecklistItem:
    """Rename a line or tick it off (``done=True``) or on again (``done=False``)."""
    fields: dict[str, Any] = {}
    if text is not None:
        text = text.strip()
        if not text:
            raise ApplicationError(errors={"text": [_("Write what is to be done.")]})
        fields["text"] = text
    if done is not None:
        fields["done"] = bool(done)
    return record_update(item, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def checklist_item_remove(*, item: ActivityChecklistItem, actor) -> ActivityChecklistItem:
    """Take a line off the checklist (to the trash, like every delete)."""
    return record_delete(item, actor=actor)


@transaction.atomic
def checklist_item_reorder(*, activity: Activity, actor, ids) -> list[ActivityChecklistItem]:
    """Put the checklist in the order of ``ids`` (all of its lines, each once)."""
    _checklist_activity_open(activity)
    items = {
        str(item.pk): item
        for item in ActivityChecklistItem.objects.unscoped().filter(
            activity_id=activity.pk, deleted_at__isnull=True
        )
    }
    wanted = [str(i) for i in ids]
    if sorted(wanted) != sorted(items) or len(set(wanted)) != len(wanted):
        raise ApplicationError(
            errors={"ids": [_("Send every line of this checklist once, in the new order.")]}
        )
    result = []
    for position, pk in enumerate(wanted):
        item = items[pk]
        if item.position != position:
            item = record_update(item, actor=actor, position=position)
        result.append(item)
    return result


# --- activity templates ---

TEMPLATE_FIELDS = (
    "name",
    "type",
    "subject",
    "description",
    "duration_minutes",
    "priority",
    "follow_up_type",
    "follow_up_subject",
    "follow_up_days",
)


def _template_fields(fields: dict[str, Any], current: ActivityTemplate | None = None) -> dict:
    fields = {k: v for k, v in fields.items() if k in TEMPLATE_FIELDS}
    for name in ("name", "subject", "follow_up_subject"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    if isinstance(fields.get("description"), str):
        fields["description"] = sanitize_rich_text(fields["description"])
    merged = {name: fields.get(name, getattr(current, name, None)) for name in TEMPLATE_FIELDS}
    errors: dict[str, list[str]] = {}
    if merged["follow_up_type"] and not merged["follow_up_subject"]:
        errors["follow_up_subject"] = [_("A follow-up needs a subject.")]
    if (merged["follow_up_subject"] or merged["follow_up_days"] is not None) and not merged[
        "follow_up_type"
    ]:
        errors["follow_up_type"] = [_("Choose what kind of follow-up to schedule.")]
    if errors:
        raise ApplicationError(errors=errors)
    return fields


@transaction.atomic
def activitytemplate_create(*, org, actor, **fields) -> ActivityTemplate:
    """A new activity template (its name is unique in the organization)."""
    return record_create(ActivityTemplate, org=org, actor=actor, **_template_fields(fields))


@transaction.atomic
def activitytemplate_update(
    *, template: ActivityTemplate, actor, expected_version: int | None = None, **fields
) -> ActivityTemplate:
    return record_update(
        template,
        actor=actor,
        expected_version=expected_version,
        **_template_fields(fields, current=template),
    )


@transaction.atomic
def activitytemplate_delete(*, template: ActivityTemplate, actor) -> ActivityTemplate:
    """Move a template to the trash (activities made from it keep their fields)."""
    return record_delete(template, actor=actor)


def default_activity_templates() -> list[dict[str, Any]]:
    """The templates a new organization starts with (names in its language)."""
    return [
        {
            "name": _("Discovery call"),
            "type": ActivityType.CALL,
            "subject": _("Discovery call"),
            "duration_minutes": 30,
            "follow_up_type": ActivityType.TASK,
            "follow_up_subject": _("Send proposal"),
            "follow_up_days": 2,
        },
        {
            "name": _("Demo meeting"),
            "type": ActivityType.MEETING,
            "subject": _("Product demo"),
            "duration_minutes": 60,
        },
        {
            "name": _("Send proposal"),
            "type": ActivityType.TASK,
            "subject": _("Send proposal"),
        },
        {
            "name": _("Check-in call"),
            "type": ActivityType.CALL,
            "subject": _("Check-in call"),
            "duration_minutes": 15,
        },
    ]


@transaction.atomic
def activitytemplate_ensure_defaults(org, actor=None) -> list[ActivityTemplate]:
    """Create the default templates the organization does not have yet (by name); safe to
    call again. Returns the ones created."""
    existing = set(
        ActivityTemplate.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True)
        .values_list("name", flat=True)
    )
    created = []
    for fields in default_activity_templates():
        if fields["name"] not in existing:
            created.append(activitytemplate_create(org=org, actor=actor, **fields))
    return created


def follow_up_from_template(
    template: ActivityTemplate | None, *, after: datetime.date | None = None
) -> dict[str, Any]:
    """The follow-up a template suggests: type, subject and due day (``after`` + its days)."""
    if template is None or not template.follow_up_type:
        return {}
    after = after or timezone.localdate()
    when = after + datetime.timedelta(days=template.follow_up_days or 0)
    return {
        "type": template.follow_up_type,
        "subject": template.follow_up_subject,
        "due_date": when,
    }


# --- mentions ---


# The canonical mention the autocomplete inserts: ``@[Full Name](42)``, the user's id in
# parentheses. It is plain text, so it survives sanitizing unchanged, and it parses
# without guessing where a name ends. ``@someone@example.com`` (a member's email address)
# is understood too, for people who type mentions by hand.
MENTION_RE = re.compile(r"@\[([^\]\n<>]{1,150})\]\((\d{1,18})\)")
MENTION_EMAIL_RE = re.compile(
    r"(?<![\w.+\-@])@([A-Za-z0-9][\w.+\-]{0,63}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+)"
)


@dataclass(frozen=True)
class MentionRefs:
    """Who a text mentions: user ids (canonical form) and email addresses (lower case)."""

    user_ids: frozenset[int] = frozenset()
    emails: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.emails)


def mentions_parse(text: str) -> MentionRefs:
    """The mentions written in ``text`` (plain text or sanitized HTML). Never raises."""
    if not text:
        return MentionRefs()
    ids = frozenset(int(m.group(2)) for m in MENTION_RE.finditer(text))
    # Canonical mentions are blanked first, so a name holding an "@" is not read twice.
    rest = MENTION_RE.sub(" ", text)
    emails = frozenset(m.group(1).lower() for m in MENTION_EMAIL_RE.finditer(rest))
    return MentionRefs(user_ids=ids, emails=emails)


def mention_text(user) -> str:
    """The canonical mention of ``user`` that the autocomplete inserts."""
    name = " ".join((user.full_name or user.email).split())
    for char in "[]<>":
        name = name.replace(char, "")
    return f"@[{name[:150] or user.pk}]({user.pk})"


def mentions_render(text: str) -> str:
    """``text`` with each canonical mention shown as its ``@Full Name`` (plain text)."""
    return MENTION_RE.sub(lambda m: "@" + m.group(1), text or "")


def mentioned_members(org, refs: MentionRefs) -> list:
    """The active members of ``org`` that ``refs`` names (others are ignored)."""
    from pulse.accounts.selectors import organization_members

    if not refs:
        return []
    return list(
        organization_members(org)
        .annotate(email_lower=Lower("email"))
        .filter(Q(pk__in=refs.user_ids) | Q(email_lower__in=refs.emails))
        .distinct()
    )


def activity_path(activity: Activity) -> str:
    """Where an activity's page is (a notification's and an email's link)."""
    try:
        return reverse("activities:activity_detail", args=[activity.pk])
    except NoReverseMatch:  # the detail page's section is not wired yet
        return f"/activities/{activity.pk}/"


def _mention_url(activity: Activity) -> str:
    # The fragment tells a mention's notification from a reminder's, both linking to the
    # activity: "mentioned before" is read from the notifications already written.
    return activity_path(activity) + "#mentions"


def mentions_notify(*, activity: Activity, actor, created: bool) -> None:
    """Notify each member newly @mentioned in the description or notes, once per
    activity (a later edit that keeps the mention notifies nobody again), never the actor.

    "Newly" is read from the mention notifications already written for this activity
    (same link), so it holds across requests and workers; two saves inside one
    transaction are covered by a mark on the instance."""
    if activity.is_deleted:
        return
    text = f"{activity.description}\n{activity.notes}"
    refs = mentions_parse(text)
    if not refs:
        return
    org = activity.organization
    actor_id = getattr(actor, "pk", None)
    users = [u for u in mentioned_members(org, refs) if u.pk != actor_id]
    done = activity.__dict__.setdefault("_mentions_notified", set())
    users = [u for u in users if u.pk not in done]
    if not users:
        return
    from pulse.extras.models import Notification
    from pulse.extras.services import notify

    url = _mention_url(activity)
    already = set(
        Notification.objects.unscoped()
        .filter(organization=org, recipient__in=users, url=url)
        .values_list("recipient_id", flat=True)
    )
    excerpt = Truncator(" ".join(strip_tags(mentions_render(text)).split())).chars(200)
    who = str(actor) if actor is not None else ""
    for user in users:
        done.add(user.pk)
        if user.pk in already:
            continue
        with translation.override(user.language or settings.LANGUAGE_CODE):
            if who:
                verb = _("%(actor)s mentioned you in “%(subject)s”") % {
                    "actor": who,
                    "subject": activity.subject,
                }
            else:
                verb = _("You were mentioned in “%(subject)s”") % {"subject": activity.subject}
        notify(org=org, recipient=user, verb=verb, body=excerpt, url=url, actor=actor)


# --- reminders ---

# Reminder offsets people may choose (minutes before; see REMINDER_OFFSETS).
REMINDER_OFFSET_VALUES = frozenset(offset for offset, _label in REMINDER_OFFSETS)
# A task has a due day, not a time: its reminders count back from 09:00 that day in the
# organization's time zone.
TASK_REMINDER_TIME = datetime.time(9, 0)
# A claim older than this is taken again by the next run (a worker died mid-batch).
REMINDER_CLAIM_TIMEOUT = datetime.timedelta(minutes=10)


def reminder_anchor(activity: Activity) -> datetime.datetime | None:
    """What an activity's reminders count back from: its start; a task's due day at 09:00
    in the organization's time zone; ``None`` when it has no date."""
    if activity.scheduled_at is not None:
        return activity.scheduled_at
    if activity.due_date is not None:
        try:
            tz = zoneinfo.ZoneInfo(activity.organization.time_zone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = datetime.UTC
        return datetime.datetime.combine(activity.due_date, TASK_REMINDER_TIME, tzinfo=tz)
    return None


def _reminders_wanted(activity: Activity, anchor, now) -> bool:
    """Whether an activity should have pending reminders at all."""
    return (
        activity.status == ActivityStatus.PENDING
        and not activity.is_deleted
        and activity.assigned_to_id is not None
        and anchor is not None
        and anchor > now
    )


def _audit_reminders(activity: Activity, actor, old: list[int], new: list[int]) -> None:
    """One change-log line on the activity: the reminder offsets before and after."""
    from django.contrib.contenttypes.models import ContentType

    from pulse.audit.models import Action, AuditEntry
    from pulse.core import tenancy

    AuditEntry.objects.unscoped().create(
        organization_id=activity.organization_id,
        actor=actor,
        source=tenancy.get_current_source(),
        action=Action.UPDATE,
        content_type=ContentType.objects.get_for_model(Activity),
        object_id=str(activity.pk),
        object_repr=str(activity)[:200],
        changes={"reminders": [old, new]},
        request_id=tenancy.get_request_id(),
    )


def activity_reminder_offsets(activity: Activity) -> list[int]:
    """The offsets the activity's owner is reminded at (pending or already sent)."""
    if activity.assigned_to_id is None:
        return []
    return sorted(
        ActivityReminder.objects.unscoped()
        .filter(activity_id=activity.pk, recipient_id=activity.assigned_to_id)
        .values_list("offset_minutes", flat=True)
    )


@transaction.atomic
def activity_set_reminders(*, activity: Activity, offsets, actor) -> None:
    """Remind the activity's owner (``assigned_to``) at these offsets (minutes before its
    start or a task's due day at 09:00; see ``REMINDER_OFFSETS``), replacing the ones not
    yet sent. An offset already sent for this date is not sent again. A date in the past
    gets no reminders; no date, no owner, or a done activity with offsets is an error."""
    try:
        wanted = sorted({int(o) for o in (offsets or [])})
    except (TypeError, ValueError):
        wanted = [-1]
    if any(o not in REMINDER_OFFSET_VALUES for o in wanted):
        raise ApplicationError(errors={"reminders": [_("Choose reminder times from the list.")]})
    if activity.is_deleted:
        raise ApplicationError(_("This record is in the trash; restore it first."))
    anchor = reminder_anchor(activity)
    if wanted:
        if anchor is None:
            raise ApplicationError(
                errors={
                    "reminders": [
                        _("A reminder needs a date: schedule the activity or give it a due date.")
                    ]
                }
            )
        if activity.status != ActivityStatus.PENDING:
            raise ApplicationError(
                errors={"reminders": [_("A completed or cancelled activity has no reminders.")]}
            )
        if activity.assigned_to_id is None:
            raise ApplicationError(
                errors={"reminders": [_("A reminder goes to the activity's owner: assign it.")]}
            )
    old = activity_reminder_offsets(activity)
    rows = ActivityReminder.objects.unscoped().filter(activity_id=activity.pk)
    rows.filter(sent_at__isnull=True).delete()
    now = timezone.now()
    if wanted and anchor > now:
        sent = set(
            rows.filter(recipient_id=activity.assigned_to_id).values_list(
                "offset_minutes", flat=True
            )
        )
        ActivityReminder.objects.unscoped().bulk_create(
            [
                ActivityReminder(
                    organization_id=activity.organization_id,
                    activity_id=activity.pk,
                    recipient_id=activity.assigned_to_id,
                    offset_minutes=offset,
                    remind_at=anchor - datetime.timedelta(minutes=offset),
                )
                for offset in wanted
                if offset not in sent
            ]
        )
    new = activity_reminder_offsets(activity)
    if new != old:
        _audit_reminders(activity, actor, old, new)


def reminders_replan(*, activity: Activity) -> None:
    """Keep an activity's reminders in step with it after any change: pending ones move
    to the new date and follow a new owner; they are dropped (deleted) when the activity
    is completed, cancelled, trashed, loses its date or owner, or its date has passed. A
    reminder already sent fires again only when the date moves and its new time is still
    ahead. One read when the activity has no reminders."""
    rows = list(ActivityReminder.objects.unscoped().filter(activity_id=activity.pk))
    if not rows:
        return
    manager = ActivityReminder.objects.unscoped()
    now = timezone.now()
    anchor = reminder_anchor(activity)
    if not _reminders_wanted(activity, anchor, now):
        unsent = [r.pk for r in rows if r.sent_at is None]
        if unsent:
            manager.filter(pk__in=unsent, sent_at__isnull=True).delete()
        return
    owner = activity.assigned_to_id
    by_offset: dict[int, list] = {}
    for row in rows:
        by_offset.setdefault(row.offset_minutes, []).append(row)
    drop = []
    for offset, group in by_offset.items():
        new_at = anchor - datetime.timedelta(minutes=offset)
        mine = next((r for r in group if r.recipient_id == owner), None)
        keep = mine or next((r for r in group if r.sent_at is None), None)
        drop += [r.pk for r in group if r is not keep and r.sent_at is None]
        if keep is None:
            continue
        if keep.sent_at is None:
            if keep.remind_at != new_at or keep.recipient_id != owner:
                # A moved reminder loses its claim: a worker sending the old one cannot
                # mark it (its conditional UPDATE names the claim), so the new one stays.
                manager.filter(pk=keep.pk, sent_at__isnull=True).update(
                    remind_at=new_at, recipient_id=owner, claimed_at=None, claimed_by=""
                )
        elif keep.remind_at != new_at and new_at > now:
            manager.filter(pk=keep.pk).update(
                remind_at=new_at, sent_at=None, claimed_at=None, claimed_by=""
            )
    if drop:
        manager.filter(pk__in=drop, sent_at__isnull=True).delete()


def reminders_claim(*, claim: str, limit: int, now=None) -> dict:
    """Take up to ``limit`` due, unsent reminders for one worker's batch, across
    organizations; returns ``{organization_id: [reminder ids]}``.

    The claim is one conditional UPDATE (``WHERE sent_at IS NULL AND (claimed_at IS NULL
    OR claimed_at < stale)``): of two workers racing for a row, only one matches it. On
    PostgreSQL the candidates are first locked with ``FOR UPDATE SKIP LOCKED`` so the
    second worker takes the next rows instead of waiting. A claim older than
    ``REMINDER_CLAIM_TIMEOUT`` (its worker died) is taken again: at-least-once."""
    now = now or timezone.now()
    due = (
        ActivityReminder.objects.unscoped()
        .filter(sent_at__isnull=True, remind_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - REMINDER_CLAIM_TIMEOUT))
    )
    from django.db import connection

    with transaction.atomic():
        candidates = due.order_by("remind_at")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return {}
        due.filter(pk__in=ids).update(claimed_at=now, claimed_by=claim)
    claimed: dict = {}
    for org_id, pk in (
        ActivityReminder.objects.unscoped()
        .filter(pk__in=ids, claimed_by=claim, sent_at__isnull=True)
        .values_list("organization_id", "pk")
    ):
        claimed.setdefault(org_id, []).append(pk)
    return claimed


def _reminder_message(reminder) -> tuple[str, str, str, str]:
    """(notification verb, notification body, email subject, email body) in the
    recipient's language and the organization's time zone."""
    activity = reminder.activity
    org = reminder.organization
    with translation.override(reminder.recipient.language or settings.LANGUAGE_CODE):
        from django.utils import formats

        if activity.scheduled_at is None:
            when = formats.date_format(activity.due_date, "DATE_FORMAT")
        else:
            try:
                tz = zoneinfo.ZoneInfo(org.time_zone or "UTC")
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                tz = datetime.UTC
            local = timezone.localtime(activity.scheduled_at, tz)
            if activity.all_day:
                when = formats.date_format(local.date(), "DATE_FORMAT")
            else:
                when = formats.date_format(local, "DATETIME_FORMAT")
        related = ", ".join(
            str(getattr(activity, name))
            for name in ("contact", "company", "lead", "opportunity")
            if getattr(activity, f"{name}_id")
        )
        link = settings.SITE_URL + reminder.path
        facts = {
            "type": activity.get_type_display(),
            "subject": activity.subject,
            "when": when,
        }
        verb = _("Reminder: %(subject)s") % facts
        body = _("%(type)s on %(when)s") % facts
        if related:
            body += " · " + related
        email_subject = _("Reminder: %(subject)s (%(when)s)") % facts
        lines = [_("%(type)s: %(subject)s") % facts, _("When: %(when)s") % facts]
        if related:
            lines.append(_("Concerns: %(related)s") % {"related": related})
        lines += ["", _("Open it in PulseCRM: %(link)s") % {"link": link}]
        return verb, body, email_subject, "\n".join(lines) + "\n"


def _reminder_skip_reason(reminder, members: set) -> str:
    activity = reminder.activity
    if activity.deleted_at is not None:
        return "deleted"
    if activity.status != ActivityStatus.PENDING:
        return activity.status
    if reminder.recipient_id != activity.assigned_to_id:
        return "owner changed"
    if not reminder.recipient.is_active or reminder.recipient_id not in members:
        return "recipient gone"
    return ""


def reminders_deliver(*, org, reminder_ids, claim: str) -> dict:
    """Send the reminders this worker claimed in ``org`` (run in its tenant context):
    an email each and an in-app notification each, then ``sent_at``. A reminder whose
    activity was deleted, completed or cancelled (or whose owner changed) is marked done
    without sending.

    Order and guarantees: the email goes first; then one transaction marks the reminders
    sent with a conditional UPDATE naming this claim and writes their notifications (bulk,
    with their change-log lines, as ``notify`` would). So a notification is never written
    twice; an email is sent twice only if the worker dies between sending it and that
    commit (then the claim goes stale and another run sends it again): at-least-once by
    choice, since a lost reminder is worse than a rare duplicate. An email that fails
    leaves its reminder claimed, to be retried after ``REMINDER_CLAIM_TIMEOUT``."""
    import logging

    from django.contrib.contenttypes.models import ContentType
    from django.core.mail import EmailMessage, get_connection

    from pulse.accounts.models import Membership
    from pulse.audit.models import Action, AuditEntry
    from pulse.core import tenancy
    from pulse.extras.models import Notification

    logger = logging.getLogger("pulse.activities.reminders")
    reminders = list(
        ActivityReminder.objects.filter(pk__in=reminder_ids, claimed_by=claim, sent_at__isnull=True)
        .select_related(
            "recipient",
            "activity",
            "activity__contact",
            "activity__company",
            "activity__lead",
            "activity__opportunity",
        )
        .order_by("remind_at")
    )
    if not reminders:
        return {"sent": 0, "skipped": 0, "failed": 0}
    members = set(
        Membership.objects.filter(
            deleted_at__isnull=True, user_id__in={r.recipient_id for r in reminders}
        ).values_list("user_id", flat=True)
    )
    skipped, outgoing = [], []
    for reminder in reminders:
        reminder.organization = org
        reminder.activity.organization = org
        reason = _reminder_skip_reason(reminder, members)
        if reason:
            skipped.append(reminder.pk)
            logger.info(
                "reminder skipped", extra={"reminder_id": str(reminder.pk), "reason": reason}
            )
            continue
        reminder.path = activity_path(reminder.activity)  # once: email link and bell
        outgoing.append((reminder, _reminder_message(reminder)))
    emailed, failed = [], 0
    if outgoing:
        # One connection for the batch (one SMTP session, not one per reminder).
        connection = get_connection()
        try:
            connection.open()
        except Exception:  # the mail server is down: all stay claimed, retried later
            logger.exception("reminder emails: no mail server", extra={"org_id": str(org.pk)})
            failed, outgoing = len(outgoing), []
        for reminder, (verb, body, subject, text) in outgoing:
            message = EmailMessage(
                subject,
                text,
                settings.DEFAULT_FROM_EMAIL,
                [reminder.recipient.email],
                connection=connection,
            )
            try:
                message.send()
            except Exception:  # refused: this one stays claimed, retried later
                failed += 1
                logger.exception("reminder email failed", extra={"reminder_id": str(reminder.pk)})
                continue
            emailed.append((reminder, verb, body))
        # The messages are out; closing is best effort.
        with contextlib.suppress(Exception):
            connection.close()
    now = timezone.now()
    with transaction.atomic():
        done_ids = skipped + [r.pk for r, _v, _b in emailed]
        marked = ActivityReminder.objects.filter(
            pk__in=done_ids, claimed_by=claim, sent_at__isnull=True
        ).update(sent_at=now)
        if marked != len(done_ids):
            # Some were re-planned or re-claimed meanwhile: notify only the ones we marked.
            mine = set(
                ActivityReminder.objects.filter(
                    pk__in=done_ids, claimed_by=claim, sent_at=now
                ).values_list("pk", flat=True)
            )
            emailed = [e for e in emailed if e[0].pk in mine]
        notifications = [
            Notification(
                organization=org,
                recipient_id=reminder.recipient_id,
                verb=verb[:200],
                body=body,
                url=reminder.path[:500],
            )
            for reminder, verb, body in emailed
        ]
        Notification.objects.bulk_create(notifications)
        content_type = ContentType.objects.get_for_model(Notification)
        AuditEntry.objects.unscoped().bulk_create(
            [
                AuditEntry(
                    organization_id=org.pk,
                    actor=None,
                    source=tenancy.get_current_source(),
                    action=Action.CREATE,
                    content_type=content_type,
                    object_id=str(n.pk),
                    object_repr=str(n)[:200],
                    changes={
                        "recipient": [None, n.recipient_id],
                        "verb": [None, n.verb],
                        "body": [None, n.body],
                        "url": [None, n.url],
                    },
                    request_id=tenancy.get_request_id(),
                )
                for n in notifications
            ]
        )
    return {"sent": len(emailed), "skipped": len(skipped), "failed": failed}


# --- attendees and invitations ---


def _lock(activity: Activity) -> None:
    """Serialize attendee changes of one meeting (the duplicate check below reads, then
    writes; the row lock makes two people adding the same guest at once add it once)."""
    Activity.objects.unscoped().select_for_update().filter(pk=activity.pk).values_list("pk").first()


@transaction.atomic
def attendee_add(
    *, activity: Activity, actor, user=None, contact=None, email: str = "", name: str = ""
) -> ActivityAttendee:
    """Invite someone to a meeting: a user of the organization, a contact, or a bare email
    address. A bare email that belongs to a contact (or a member) is linked to them. The
    same person is not added twice."""
    from pulse.accounts.selectors import organization_members
    from pulse.contacts.models import Contact

    if activity.type != ActivityType.MEETING:
        raise ApplicationError(_("Only a meeting has attendees."))
    org = activity.organization
    check_same_org(org, contact=contact)
    email = (email or "").strip()
    if user is None and contact is None and email:
        lowered = email.lower()
        contact = (
            Contact.objects.alias(_email=Lower("email"))
            .filter(_email=lowered)
            .order_by("pk")
            .first()
        )
        if contact is None:
            user = organization_members(org).filter(email__iexact=lowered).first()
    if user is not None and not organization_members(org).filter(pk=user.pk).exists():
        raise ApplicationError(errors={"user": [_("Choose a member of this organization.")]})
    if user is not None:
        email, name = email or user.email, name or user.get_full_name() or str(user)
    elif contact is not None:
        email = email or contact.email
        name = name or str(contact)
    if user is None and contact is None and not email:
        raise ApplicationError(errors={"email": [_("Choose a person or enter an email address.")]})
    _lock(activity)
    existing = ActivityAttendee.objects.filter(activity=activity)
    same = (
        existing.filter(user=user)
        if user is not None
        else existing.filter(contact=contact)
        if contact is not None
        else existing.filter(email__iexact=email)
    )
    if same.exists():
        raise ApplicationError(
            errors={"email": [_("%(name)s is already invited.") % {"name": name or email}]}
        )
    return record_create(
        ActivityAttendee,
        org=org,
        actor=actor,
        activity=activity,
        user=user,
        contact=contact,
        email=email,
        name=name[:200],
    )


@transaction.atomic
def attendee_remove(*, attendee: ActivityAttendee, actor) -> ActivityAttendee:
    """Take someone off a meeting; if they had been invited, they get a cancellation."""
    activity = attendee.activity
    was_invited = attendee.invited_at is not None and bool(attendee.email)
    attendee = record_delete(attendee, actor=actor)
    if was_invited:
        _send_on_commit(activity, [attendee], method="CANCEL", actor=actor)
    return attendee


@transaction.atomic
def attendee_respond(*, attendee: ActivityAttendee, response: str, actor) -> ActivityAttendee:
    """Record an attendee's answer (accepted, tentative, declined)."""
    if response not in AttendeeResponse.values:
        raise ApplicationError(errors={"response": [_("Choose one of the answers offered.")]})
    return record_update(attendee, actor=actor, response=response)


def _organizer(activity: Activity):
    return activity.assigned_to or activity.created_by


def invitation_calendar(activity: Activity, *, method: str, attendees=None) -> bytes:
    """The iCalendar of a meeting invitation (METHOD REQUEST or CANCEL), with its
    ORGANIZER and ATTENDEE lines."""
    from .ical import activity_to_event, add_people, calendar_of

    event = activity_to_event(activity)
    if attendees is None:
        attendees = list(activity.attendees.all())
    add_people(event, organizer=_organizer(activity), attendees=attendees)
    if method == "CANCEL":
        event["status"] = "CANCELLED"
    return calendar_of([event], method=method)


def _send_on_commit(activity: Activity, attendees, *, method: str, actor) -> None:
    """Email each attendee the meeting's invitation or cancellation once the transaction
    commits (rule 6). Each message carries the .ics as ``invite.ics``."""
    recipients = [a for a in attendees if a.email]
    if not recipients:
        return
    organizer = _organizer(activity)
    ics = invitation_calendar(
        activity, method=method, attendees=None if method == "REQUEST" else recipients
    )
    when = timezone.localtime(activity.scheduled_at)
    when_text = (
        when.strftime("%Y-%m-%d") if activity.all_day else when.strftime("%Y-%m-%d %H:%M %Z")
    )
    if method == "CANCEL":
        subject = _("Cancelled: %(subject)s (%(when)s)") % {
            "subject": activity.subject,
            "when": when_text,
        }
        lead = _("This meeting has been cancelled.")
    elif activity.version > 1 and any(a.invited_at for a in recipients):
        subject = _("Updated invitation: %(subject)s (%(when)s)") % {
            "subject": activity.subject,
            "when": when_text,
        }
        lead = _("This meeting has changed. The attached invitation has the new details.")
    else:
        subject = _("Invitation: %(subject)s (%(when)s)") % {
            "subject": activity.subject,
            "when": when_text,
        }
        lead = _("You are invited to a meeting.")
    lines = [lead, "", activity.subject, _("When: %(when)s") % {"when": when_text}]
    if not activity.all_day:
        lines.append(_("Duration: %(n)s minutes") % {"n": activity.duration_minutes or 30})
    if activity.location:
        lines.append(_("Where: %(place)s") % {"place": activity.location})
    if activity.video_url:
        lines.append(_("Video link: %(url)s") % {"url": activity.video_url})
    if organizer is not None:
        lines.append(
            _("Organizer: %(name)s <%(email)s>")
            % {"name": organizer.get_full_name() or organizer.email, "email": organizer.email}
        )
    body = "\n".join(lines) + "\n"
    messages = []
    for attendee in recipients:
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[attendee.email],
            reply_to=[organizer.email] if organizer is not None and organizer.email else None,
        )
        message.attach("invite.ics", ics.decode(), f"text/calendar; method={method}")
        messages.append(message)

    def send() -> None:
        from django.core.mail import get_connection

        get_connection().send_messages(messages)

    transaction.on_commit(send)


@transaction.atomic
def meeting_invite(*, activity: Activity, actor, attendees=None) -> list[ActivityAttendee]:
    """Email the meeting's attendees (all, or ``attendees``) an iCalendar REQUEST and
    note when each was invited. Sent again after a change, it carries the meeting's new
    SEQUENCE (its version), so calendar apps update the event they have."""
    if activity.type != ActivityType.MEETING or activity.scheduled_at is None:
        raise ApplicationError(_("Only a scheduled meeting can be sent as an invitation."))
    if activity.status == ActivityStatus.CANCELLED:
        raise ApplicationError(_("This meeting is cancelled; its attendees were told."))
    if attendees is None:
        attendees = list(activity.attendees.all())
    attendees = [a for a in attendees if a.email and a.activity_id == activity.pk]
    if not attendees:
        raise ApplicationError(_("Add an attendee with an email address first."))
    _send_on_commit(activity, attendees, method="REQUEST", actor=actor)
    now = timezone.now()
    return [record_update(a, actor=actor, invited_at=now) for a in attendees]


def meeting_invitations_follow(*, activity: Activity, actor) -> int:
    """After a meeting changed (moved, cancelled): those already invited get the update
    (a REQUEST with the new SEQUENCE) or a CANCEL. Returns how many were told."""
    if activity.type != ActivityType.MEETING or activity.scheduled_at is None:
        return 0
    invited = [a for a in activity.attendees.all() if a.invited_at and a.email]
    if not invited:
        return 0
    if activity.status == ActivityStatus.CANCELLED or activity.is_deleted:
        _send_on_commit(activity, invited, method="CANCEL", actor=actor)
        return len(invited)
    meeting_invite(activity=activity, actor=actor, attendees=invited)
    return len(invited)


# --- calendar feeds and .ics ---


@transaction.atomic
def calendar_feed_create(*, org, actor) -> CalendarFeed:
    """A new private feed URL for ``actor``; the feeds they had are revoked (one live URL
    per person, so "new URL" is this call)."""
    for feed in CalendarFeed.objects.filter(user=actor, revoked_at__isnull=True):
        calendar_feed_revoke(feed=feed, actor=actor)
    return record_create(CalendarFeed, org=org, actor=actor, user=actor)


@transaction.atomic
def calendar_feed_revoke(*, feed: CalendarFeed, actor) -> CalendarFeed:
    """Stop a feed URL from working (calendar apps subscribed to it get 404 from now on)."""
    if feed.user_id != actor.pk:
        raise ApplicationError(_("You can only revoke your own calendar feed."))
    if feed.revoked_at is not None:
        return feed
    return record_update(feed, actor=actor, revoked_at=timezone.now())


def calendar_feed_touch(*, feed: CalendarFeed) -> None:
    """Note that a calendar app fetched the feed (at most once an hour: bookkeeping,
    not audited, and no write on every poll)."""
    now = timezone.now()
    if feed.last_fetched_at is None or now - feed.last_fetched_at > datetime.timedelta(hours=1):
        CalendarFeed.objects.unscoped().filter(pk=feed.pk).update(last_fetched_at=now)
        feed.last_fetched_at = now


@transaction.atomic
def activity_reschedule(
    *,
    activity: Activity,
    actor,
    start: datetime.datetime,
    end: datetime.datetime | None = None,
    all_day: bool = False,
    expected_version: int | None = None,
) -> Activity:
    """Move an activity on the calendar (a drag or a resize): its start, its length, all
    day or not. A task with only a due date moved to another day gets that due date; one
    moved into a time slot gets the time. Attendees already invited get the update."""
    if activity.status != ActivityStatus.PENDING:
        raise ApplicationError(_("Only a pending activity can be moved; reopen it first."))
    fields: dict[str, Any] = {}
    day = timezone.localtime(start).date() if timezone.is_aware(start) else start.date()
    if activity.scheduled_at is None and activity.due_date is not None and all_day:
        fields["due_date"] = day
    else:
        fields["scheduled_at"] = start
        fields["all_day"] = all_day
        if not all_day and end is not None and end > start:
            fields["duration_minutes"] = max(5, round((end - start).total_seconds() / 60))
        elif not all_day and activity.all_day:
            fields["duration_minutes"] = activity.duration_minutes or 60
        if activity.due_date is not None:
            fields["due_date"] = day
    # activity_update tells the attendees already invited (a REQUEST or a CANCEL).
    return activity_update(
        activity=activity, actor=actor, expected_version=expected_version, **fields
    )


# --- CalDAV connections and sync ---


def _own_connection(connection: CalDavConnection, actor) -> None:
    if connection.user_id != actor.pk:
        raise ApplicationError(_("Only its owner can change a calendar connection."))


@transaction.atomic
def caldav_connection_create(
    *, org, actor, name: str, url: str, username: str, password: str = "", enabled: bool = True
) -> CalDavConnection:
    """Connect one of the actor's CalDAV calendars (the password is stored encrypted).
    It is synced by the next run of the periodic task (or "Sync now")."""
    if not password:
        raise ApplicationError(errors={"password": [_("Enter the password or app password.")]})
    return record_create(
        CalDavConnection,
        org=org,
        actor=actor,
        user=actor,
        name=(name or "").strip(),
        url=(url or "").strip(),
        username=(username or "").strip(),
        password_encrypted=caldav.encrypt_password(password),
        enabled=enabled,
    )


@transaction.atomic
def caldav_connection_update(
    *,
    connection: CalDavConnection,
    actor,
    expected_version: int | None = None,
    password: str = "",
    **fields,
) -> CalDavConnection:
    """Change a connection; a blank ``password`` keeps the stored one. Another address or
    account starts the sync afresh (its sync state is dropped; CRM meetings stay)."""
    _own_connection(connection, actor)
    fields = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    if password:
        fields["password_encrypted"] = caldav.encrypt_password(password)
    moved = any(k in fields and fields[k] != getattr(connection, k) for k in ("url", "username"))
    if moved:
        fields["sync_token"] = ""
        CalDavEvent.objects.filter(connection=connection).delete()
    if moved or password or fields.get("enabled") is True:
        # Try again at the next run, whatever the backoff said.
        fields.update(next_sync_at=None, failures=0)
    return record_update(connection, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def caldav_connection_delete(*, connection: CalDavConnection, actor) -> CalDavConnection:
    """Stop syncing (the connection goes to the trash). The CRM meetings stay, and so do
    the events already in the remote calendar."""
    _own_connection(connection, actor)
    return record_delete(connection, actor=actor)


def caldav_connection_test(
    *,
    connection: CalDavConnection | None = None,
    url: str = "",
    username: str = "",
    password: str = "",
) -> tuple[bool, str]:
    """Reach the calendar (of ``connection``, or of the credentials given, e.g. a form
    not saved yet); (it worked, a sentence saying what was found or what went wrong).
    Changes nothing."""
    try:
        if connection is not None:
            url = url or connection.url
            username = username or connection.username
            password = password or caldav.decrypt_password(connection.password_encrypted)
        name = caldav.check_calendar(url=url, username=username, password=password)
    except caldav.CalDavError as exc:
        return False, exc.message
    if name:
        return True, _("Connected: found the calendar “%(name)s”.") % {"name": name}
    return True, _("Connected: the address is a calendar.")


def caldav_sync(*, connection: CalDavConnection, now=None) -> caldav.SyncResult:
    """Sync one connection both ways now (see ``activities.caldav``); the outcome is
    recorded on it (last sync, last error, next retry) and returned."""
    return caldav.sync_connection(connection, now=now)


def _contacts_by_email(actor, emails) -> dict[str, Contact]:
    emails = sorted({e.lower() for e in emails if e})
    if not emails:
        return {}
    found: dict[str, Contact] = {}
    qs = Contact.objects.restrict(actor, "view").alias(_email=Lower("email"))
    for contact in qs.filter(_email__in=emails).order_by("created_at"):
        found.setdefault(contact.email.lower(), contact)
    return found


def meeting_from_event(
    *, org, actor, event: ParsedEvent, assigned_to, contacts: dict | None = None
) -> Activity:
    """A meeting made from a calendar event (a CalDAV pull or an ``.ics`` import): linked
    to the first contact among its attendees, the attendees kept as attendee rows (a
    contact when we know the address, else the address)."""
    if contacts is None:
        contacts = _contacts_by_email(actor, [a.email for a in event.attendees])
    contact = next(
        (contacts[a.email.lower()] for a in event.attendees if a.email.lower() in contacts), None
    )
    fields = event.activity_fields()
    activity = activity_create(
        org=org,
        actor=actor,
        type=ActivityType.MEETING,
        assigned_to=assigned_to,
        contact=contact,
        ical_uid=event.uid,
        **fields,
    )
    for attendee in event.attendees:
        person = contacts.get(attendee.email.lower())
        own_email = (assigned_to.email or "").lower() if assigned_to is not None else ""
        mine = bool(own_email) and attendee.email.lower() == own_email
        record_create(
            ActivityAttendee,
            org=org,
            actor=actor,
            activity=activity,
            user=assigned_to if mine else None,
            contact=person,
            email=attendee.email,
            name=attendee.name,
            response=attendee.response,
        )
    return activity


@dataclass
class IcsImportResult:
    """What an ``.ics`` import did: counts, and each event left out with its reason."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[dict] = field(default_factory=list)


@transaction.atomic
def ics_import(*, org, actor, data: bytes) -> IcsImportResult:
    """Import an ``.ics`` file: its events become meetings assigned to the actor (see
    ``activities.ical_import`` for the limits). A file refused as a whole imports nothing
    (``ApplicationError`` on ``file``); an event already imported (same UID) is updated,
    not duplicated; an event that cannot be a meeting is skipped with its reason."""
    parsed = parse_ics(data)
    if not parsed.events and not parsed.skipped:
        raise file_error(_("The file holds no events."))
    result = IcsImportResult(skipped=[{"event": w, "reason": r} for w, r in parsed.skipped])
    existing = {}
    uids = [e.uid for e in parsed.events]
    for start in range(0, len(uids), 500):
        for activity in Activity.objects.filter(
            ical_uid__in=uids[start : start + 500], assigned_to=actor
        ):
            existing.setdefault(activity.ical_uid, activity)
    contacts = _contacts_by_email(actor, [a.email for e in parsed.events for a in e.attendees])
    for event in parsed.events:
        try:
            with transaction.atomic():
                activity = existing.get(event.uid)
                if activity is not None:
                    changed = caldav.changed_fields(activity, event)
                    if changed:
                        activity_update(activity=activity, actor=actor, **changed)
                        result.updated += 1
                    else:
                        result.unchanged += 1
                elif event.cancelled:
                    result.skipped.append({"event": event.subject, "reason": _("It is cancelled.")})
                else:
                    meeting_from_event(
                        org=org, actor=actor, event=event, assigned_to=actor, contacts=contacts
                    )
                    result.created += 1
        except ApplicationError as exc:
            result.skipped.append({"event": event.subject, "reason": exc.message})
    return result
