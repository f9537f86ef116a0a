"""Activities and their companions for tests, made through the services.

Sections switch a factory to their own service once it exists (``checklist_item_add`` …).
"""

from __future__ import annotations

import datetime
import itertools

from django.utils import timezone

from pulse.activities.models import (
    Activity,
    ActivityAttendee,
    ActivityChecklistItem,
    ActivityReminder,
    ActivityTemplate,
    CalDavConnection,
    CalDavEvent,
    CalendarFeed,
)
from pulse.activities.services import activity_create
from pulse.core.services import record_create
from pulse.core.testing import register_factory

_n = itertools.count(1)


@register_factory(Activity)
def make_activity(org, actor, **fields):
    """A pending call by default; pass ``type``, links (``contact=`` …) and dates."""
    fields.setdefault("type", "call")
    fields.setdefault("subject", f"Call #{next(_n)}")
    if fields["type"] == "meeting":
        fields.setdefault("scheduled_at", timezone.now() + datetime.timedelta(days=1))
        fields.setdefault("duration_minutes", 30)
    return activity_create(org=org, actor=actor, **fields)


@register_factory(ActivityChecklistItem)
def make_checklist_item(org, actor, *, activity=None, **fields):
    activity = activity or make_activity(org, actor, type="task", subject="Prepare the demo")
    fields.setdefault("text", f"Step {next(_n)}")
    return record_create(ActivityChecklistItem, org=org, actor=actor, activity=activity, **fields)


@register_factory(ActivityAttendee)
def make_attendee(org, actor, *, activity=None, **fields):
    activity = activity or make_activity(org, actor, type="meeting", subject="Kick-off")
    if not any(fields.get(k) for k in ("user", "contact", "email")):
        fields["email"] = f"guest{next(_n)}@example.com"
    return record_create(ActivityAttendee, org=org, actor=actor, activity=activity, **fields)


@register_factory(ActivityReminder)
def make_reminder(org, actor, *, activity=None, **fields):
    activity = activity or make_activity(org, actor, type="meeting", subject="Review")
    fields.setdefault("recipient", actor)
    fields.setdefault("offset_minutes", 15)
    fields.setdefault(
        "remind_at", activity.scheduled_at - datetime.timedelta(minutes=fields["offset_minutes"])
    )
    return ActivityReminder.objects.unscoped().create(organization=org, activity=activity, **fields)


@register_factory(ActivityTemplate)
def make_activity_template(org, actor, **fields):
    fields.setdefault("name", f"Discovery call {next(_n)}")
    fields.setdefault("type", "call")
    fields.setdefault("subject", "Discovery call")
    fields.setdefault("duration_minutes", 30)
    return record_create(ActivityTemplate, org=org, actor=actor, **fields)


@register_factory(CalendarFeed)
def make_calendar_feed(org, actor, **fields):
    fields.setdefault("user", actor)
    return record_create(CalendarFeed, org=org, actor=actor, **fields)


@register_factory(CalDavConnection)
def make_caldav_connection(org, actor, **fields):
    """Through ``caldav_connection_create`` (the actor's own calendar; pass ``password``)."""
    from pulse.activities.services import caldav_connection_create

    fields.pop("user", None)  # a connection is always its creator's
    fields.setdefault("name", "Work calendar")
    fields.setdefault("url", "http://127.0.0.1:5232/user/calendar/")
    fields.setdefault("username", "user")
    fields.setdefault("password", "app-password")
    return caldav_connection_create(org=org, actor=actor, **fields)


@register_factory(CalDavEvent)
def make_caldav_event(org, actor, *, connection=None, **fields):
    connection = connection or make_caldav_connection(org, actor)
    fields.setdefault("uid", f"event-{next(_n)}@example.com")
    return CalDavEvent.objects.unscoped().create(organization=org, connection=connection, **fields)
