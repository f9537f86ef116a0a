"""Every change to activities: create, update, complete (with a follow-up), cancel,
delete and restore; checklist items, attendees, reminders, templates; calendar feeds and
CalDAV connections. Each function is atomic, takes the acting user, validates through
the model and is audited (DESIGN rules 3 and 5)."""

from __future__ import annotations

import datetime
from typing import Any

import nh3
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_restore, record_update
from pulse.opportunities.services import opportunity_touch

from .models import Activity, ActivityStatus, ActivityType

# --- imports (sections) ---

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


def _check_same_org(org, **related) -> None:
    for name, obj in related.items():
        if obj is not None and getattr(obj, "organization_id", org.pk) != org.pk:
            raise ApplicationError(errors={name: [_("Choose one of this organization's records.")]})


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
    _check_same_org(
        org,
        **{k: fields.get(k) for k in ("contact", "company", "lead", "opportunity", "assigned_to")},
    )
    if fields.get("status") == ActivityStatus.COMPLETED and not fields.get("completed_at"):
        fields["completed_at"] = timezone.now()
    fields.setdefault("assigned_to", actor)
    activity = Activity(organization=org, **{k: v for k, v in fields.items()})
    activity.occurred_at = occurred_at_of(activity)
    fields["occurred_at"] = activity.occurred_at
    activity = record_create(Activity, org=org, actor=actor, **fields)
    if activity.type == ActivityType.MEETING and not activity.ical_uid:
        activity.ical_uid = f"{activity.pk}@pulsecrm"
        Activity.objects.unscoped().filter(pk=activity.pk).update(ical_uid=activity.ical_uid)
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
    _check_same_org(
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
    activity = record_update(activity, actor=actor, expected_version=expected_version, **fields)
    _touch_records(activity)
    _after_change(activity, actor=actor, created=False)
    return activity


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


# --- checklist items (H1) ---


# --- activity templates (H1) ---


# --- mentions (H4) ---


def mentions_notify(*, activity: Activity, actor, created: bool) -> None:
    """Notify users @mentioned in the description or notes (H4 fills this in)."""


# --- reminders (H4) ---


def activity_set_reminders(*, activity: Activity, offsets, actor) -> None:
    """Remind the activity's owner at these offsets (minutes before; see
    ``REMINDER_OFFSETS``), replacing the ones not yet sent (H4 fills this in)."""


def reminders_replan(*, activity: Activity) -> None:
    """Move the activity's pending reminders to follow its date; drop them when it is
    done, cancelled or trashed (H4 fills this in)."""


# --- attendees and invitations (H3) ---


# --- calendar feeds and .ics (H3) ---


# --- CalDAV connections and sync (H5) ---
