"""Reminders: planned from the activity's date, kept in step by every change, sent once
by the periodic task (also with two workers at once), skipped when pointless."""

from __future__ import annotations

import datetime
import threading
import zoneinfo

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from pulse.activities import services
from pulse.activities.models import ActivityReminder
from pulse.activities.services import (
    activity_cancel,
    activity_complete,
    activity_delete,
    activity_restore,
    activity_set_reminders,
    activity_update,
    reminders_claim,
)
from pulse.activities.tasks import reminders_send_due
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Notification
from tests.activities.factories import make_activity, make_reminder
from tests.contacts.factories import make_contact

HOUR = datetime.timedelta(hours=1)


def _reminders(activity):
    return list(
        ActivityReminder.objects.unscoped()
        .filter(activity_id=activity.pk)
        .order_by("offset_minutes")
        .values_list("recipient_id", "offset_minutes", "remind_at", "sent_at")
    )


def _meeting(org, actor, *, hours=5, **fields):
    start = (timezone.now() + datetime.timedelta(hours=hours)).replace(microsecond=0)
    return make_activity(org, actor, type="meeting", subject="Demo", scheduled_at=start, **fields)


def _notifications(org):
    return list(
        Notification.objects.unscoped()
        .filter(organization=org)
        .order_by("created_at")
        .values_list("recipient_id", "verb", "url")
    )


# --- planning --------------------------------------------------------------------------


def test_set_reminders_plans_the_owner_at_each_offset_before_the_start(org, owner, rep, in_org):
    meeting = _meeting(org, owner, assigned_to=rep)
    activity_set_reminders(activity=meeting, offsets=[60, 15, 15], actor=owner)
    start = meeting.scheduled_at
    assert _reminders(meeting) == [
        (rep.pk, 15, start - datetime.timedelta(minutes=15), None),
        (rep.pk, 60, start - HOUR, None),
    ]
    entry = AuditEntry.objects.filter(object_id=str(meeting.pk), action="update").latest("pk")
    assert entry.changes == {"reminders": [[], [15, 60]]}
    assert entry.actor_id == owner.pk


def test_a_task_is_reminded_from_nine_in_the_morning_of_its_due_day_local_time(org, owner, in_org):
    org.time_zone = "Europe/Sofia"
    org.save(update_fields=["time_zone"])
    due = timezone.localdate() + datetime.timedelta(days=3)
    task = make_activity(org, owner, type="task", subject="Send proposal", due_date=due)
    activity_set_reminders(activity=task, offsets=[1440], actor=owner)
    (row,) = _reminders(task)
    sofia = zoneinfo.ZoneInfo("Europe/Sofia")
    assert timezone.localtime(row[2], sofia) == datetime.datetime.combine(
        due - datetime.timedelta(days=1), datetime.time(9, 0), tzinfo=sofia
    )


def test_setting_again_replaces_the_unsent_and_keeps_what_was_sent(org, owner, in_org):
    meeting = _meeting(org, owner)
    activity_set_reminders(activity=meeting, offsets=[15, 60], actor=owner)
    sent_at = timezone.now()
    ActivityReminder.objects.filter(activity=meeting, offset_minutes=60).update(sent_at=sent_at)
    activity_set_reminders(activity=meeting, offsets=[60, 1440], actor=owner)
    start = meeting.scheduled_at
    assert _reminders(meeting) == [
        (owner.pk, 60, start - HOUR, sent_at),
        (owner.pk, 1440, start - datetime.timedelta(days=1), None),
    ]
    activity_set_reminders(activity=meeting, offsets=[], actor=owner)
    assert _reminders(meeting) == [(owner.pk, 60, start - HOUR, sent_at)]


@pytest.mark.parametrize(
    ("fields", "offsets", "message"),
    [
        ({"type": "meeting"}, [30], "Choose reminder times from the list."),
        ({"type": "meeting"}, ["soon"], "Choose reminder times from the list."),
        ({"type": "call"}, [15], "A reminder needs a date"),
    ],
)
def test_bad_reminder_requests_are_refused_and_change_nothing(
    org, owner, in_org, fields, offsets, message
):
    activity = (
        _meeting(org, owner) if fields["type"] == "meeting" else make_activity(org, owner, **fields)
    )
    if fields["type"] == "meeting":
        activity_set_reminders(activity=activity, offsets=[15], actor=owner)
    before = _reminders(activity)
    with pytest.raises(ApplicationError) as caught:
        activity_set_reminders(activity=activity, offsets=offsets, actor=owner)
    assert caught.value.errors["reminders"][0].startswith(message)
    assert _reminders(activity) == before


def test_a_date_in_the_past_gets_no_reminders(org, owner, in_org):
    meeting = _meeting(org, owner, hours=-2)
    activity_set_reminders(activity=meeting, offsets=[15], actor=owner)
    assert _reminders(meeting) == []


# --- re-planning after changes -----------------------------------------------------------


def test_moving_the_activity_moves_its_unsent_reminders(org, owner, in_org):
    meeting = _meeting(org, owner)
    activity_set_reminders(activity=meeting, offsets=[15, 60], actor=owner)
    later = meeting.scheduled_at + datetime.timedelta(days=2)
    activity_update(activity=meeting, actor=owner, scheduled_at=later)
    assert [r[2] for r in _reminders(meeting)] == [
        later - datetime.timedelta(minutes=15),
        later - HOUR,
    ]


def test_a_sent_reminder_fires_again_only_when_the_date_moves_ahead(org, owner, in_org):
    meeting = _meeting(org, owner)
    activity_set_reminders(activity=meeting, offsets=[60], actor=owner)
    ActivityReminder.objects.filter(activity=meeting).update(sent_at=timezone.now())
    activity_update(activity=meeting, actor=owner, subject="Demo (room 2)")
    assert _reminders(meeting)[0][3] is not None  # same date: not again
    later = meeting.scheduled_at + datetime.timedelta(days=1)
    activity_update(activity=meeting, actor=owner, scheduled_at=later)
    assert _reminders(meeting) == [(owner.pk, 60, later - HOUR, None)]


@pytest.mark.parametrize("change", ["complete", "cancel", "delete", "undate", "unassign", "past"])
def test_reminders_are_dropped_when_there_is_nothing_left_to_remind(org, owner, in_org, change):
    activity = make_activity(
        org,
        owner,
        type="call",
        subject="Call back",
        scheduled_at=timezone.now() + 5 * HOUR,
    )
    activity_set_reminders(activity=activity, offsets=[15, 60], actor=owner)
    sent_at = timezone.now()
    ActivityReminder.objects.filter(activity=activity, offset_minutes=60).update(sent_at=sent_at)
    if change == "complete":
        activity_complete(activity=activity, actor=owner)
    elif change == "cancel":
        activity_cancel(activity=activity, actor=owner)
    elif change == "delete":
        activity_delete(activity=activity, actor=owner)
    elif change == "undate":
        activity_update(activity=activity, actor=owner, scheduled_at=None)
    elif change == "unassign":
        activity_update(activity=activity, actor=owner, assigned_to=None)
    else:
        activity_update(activity=activity, actor=owner, scheduled_at=timezone.now() - HOUR)
    # Unsent rows are gone; what was sent stays as history.
    assert [(r[1], r[3]) for r in _reminders(activity)] == [(60, sent_at)]
    if change == "delete":
        activity_restore(activity=activity, actor=owner)
        assert [(r[1], r[3]) for r in _reminders(activity)] == [(60, sent_at)]


def test_reminders_follow_a_new_owner(org, owner, rep, in_org):
    meeting = _meeting(org, owner)
    activity_set_reminders(activity=meeting, offsets=[15, 60], actor=owner)
    activity_update(activity=meeting, actor=owner, assigned_to=rep)
    assert [(r[0], r[1]) for r in _reminders(meeting)] == [(rep.pk, 15), (rep.pk, 60)]


# --- the task ---------------------------------------------------------------------------


def _due(org, actor, activity, offset=15, **fields):
    """A reminder that is due now (written directly: the planning is tested above)."""
    return make_reminder(
        org,
        actor,
        activity=activity,
        recipient=activity.assigned_to,
        offset_minutes=offset,
        remind_at=timezone.now() - datetime.timedelta(minutes=1),
        **fields,
    )


def test_the_task_emails_and_notifies_each_due_reminder_once(org, owner, rep, in_org, settings):
    settings.SITE_URL = "https://crm.example.com"
    contact = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
    meeting = _meeting(org, owner, hours=1, assigned_to=rep, contact=contact)
    reminder = _due(org, owner, meeting)
    not_yet = make_reminder(org, owner, activity=meeting, recipient=rep, offset_minutes=0)

    totals = reminders_send_due.apply().get()

    assert totals == {"sent": 1, "skipped": 0, "failed": 0, "batches": 1}
    (message,) = mail.outbox
    assert message.to == [rep.email]
    assert message.subject.startswith("Reminder: Demo (")
    path = services.activity_path(meeting)
    assert f"Open it in PulseCRM: https://crm.example.com{path}" in message.body
    assert "Concerns: Ada Lovelace" in message.body
    assert "Meeting: Demo" in message.body
    assert _notifications(org) == [(rep.pk, "Reminder: Demo", path)]
    note = Notification.objects.get()
    assert note.body.startswith("Meeting on ") and note.body.endswith(" · Ada Lovelace")
    assert AuditEntry.objects.filter(object_id=str(note.pk), action="create").count() == 1
    reminder.refresh_from_db()
    not_yet.refresh_from_db()
    assert reminder.sent_at is not None and reminder.claimed_by
    assert not_yet.sent_at is None and not_yet.claimed_at is None

    assert reminders_send_due.apply().get()["sent"] == 0  # idempotent
    assert len(mail.outbox) == 1
    assert len(_notifications(org)) == 1


@pytest.mark.parametrize("state", ["deleted", "cancelled", "completed", "owner changed"])
def test_a_reminder_of_a_deleted_or_finished_activity_is_not_sent(org, owner, rep, in_org, state):
    meeting = _meeting(org, owner, hours=1)
    if state == "deleted":
        activity_delete(activity=meeting, actor=owner)
    elif state == "cancelled":
        activity_cancel(activity=meeting, actor=owner)
    elif state == "completed":
        activity_complete(activity=meeting, actor=owner)
    else:
        activity_update(activity=meeting, actor=owner, assigned_to=rep)
    # Written after the change, as if the worker raced it.
    reminder = make_reminder(
        org,
        owner,
        activity=meeting,
        recipient=owner,
        remind_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    totals = reminders_send_due.apply().get()
    assert totals == {"sent": 0, "skipped": 1, "failed": 0, "batches": 1}
    assert mail.outbox == []
    assert _notifications(org) == []
    reminder.refresh_from_db()
    assert reminder.sent_at is not None  # done: never tried again


def test_a_recipient_who_left_the_organization_gets_nothing(org, owner, rep, in_org):
    from pulse.accounts.models import Membership

    meeting = _meeting(org, owner, hours=1, assigned_to=rep)
    _due(org, owner, meeting)
    Membership.objects.filter(user=rep).update(deleted_at=timezone.now())
    assert reminders_send_due.apply().get()["skipped"] == 1
    assert mail.outbox == []


def test_each_organization_is_delivered_in_its_own_tenant_context(
    org, owner, other_org, other_owner
):
    with tenant_context(org, actor=owner):
        mine = _meeting(org, owner, hours=1)
        _due(org, owner, mine)
    with tenant_context(other_org, actor=other_owner):
        theirs = _meeting(other_org, other_owner, hours=1)
        _due(other_org, other_owner, theirs)
    totals = reminders_send_due.apply().get()
    assert totals["sent"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, other_owner.email])
    assert _notifications(org) == [(owner.pk, "Reminder: Demo", services.activity_path(mine))]
    assert _notifications(other_org) == [
        (other_owner.pk, "Reminder: Demo", services.activity_path(theirs))
    ]


def test_a_fresh_claim_is_left_alone_and_a_stale_one_is_taken_again(org, owner, in_org):
    meeting = _meeting(org, owner, hours=1)
    now = timezone.now()
    fresh = _due(org, owner, meeting, offset=15, claimed_at=now, claimed_by="w1")
    stale = _due(
        org,
        owner,
        meeting,
        offset=60,
        claimed_at=now - services.REMINDER_CLAIM_TIMEOUT - datetime.timedelta(seconds=1),
        claimed_by="w2",
    )
    assert reminders_claim(claim="w3", limit=10) == {org.pk: [stale.pk]}
    assert reminders_claim(claim="w4", limit=10) == {}
    fresh.refresh_from_db()
    assert fresh.claimed_by == "w1"


def test_a_claimed_reminder_moved_meanwhile_is_not_marked_by_the_old_claim(org, owner, in_org):
    meeting = _meeting(org, owner, hours=1)
    activity_set_reminders(activity=meeting, offsets=[60], actor=owner)  # due already
    assert reminders_claim(claim="w1", limit=10) == {org.pk: [ActivityReminder.objects.get().pk]}
    later = meeting.scheduled_at + datetime.timedelta(days=1)
    activity_update(activity=meeting, actor=owner, scheduled_at=later)
    result = services.reminders_deliver(
        org=org, reminder_ids=[ActivityReminder.objects.get().pk], claim="w1"
    )
    assert result == {"sent": 0, "skipped": 0, "failed": 0}
    assert mail.outbox == []
    assert _reminders(meeting) == [(owner.pk, 60, later - HOUR, None)]


def test_when_the_mail_server_is_down_nothing_is_lost(org, owner, in_org, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    meeting = _meeting(org, owner, hours=1)
    reminder = _due(org, owner, meeting)
    totals = reminders_send_due.apply().get()
    assert totals == {"sent": 0, "skipped": 0, "failed": 1, "batches": 1}
    reminder.refresh_from_db()
    assert reminder.sent_at is None and reminder.claimed_at is not None
    assert _notifications(org) == []
    # After the claim times out, the next run sends it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ActivityReminder.objects.filter(pk=reminder.pk).update(
        claimed_at=timezone.now() - services.REMINDER_CLAIM_TIMEOUT - HOUR
    )
    assert reminders_send_due.apply().get()["sent"] == 1
    assert len(mail.outbox) == 1


def test_batches_are_bounded_and_queries_do_not_grow_per_reminder(
    org, owner, in_org, django_assert_max_num_queries
):
    meetings = [_meeting(org, owner, hours=1) for _ in range(3)]
    for meeting in meetings:
        for offset in (0, 15, 60, 1440):
            _due(org, owner, meeting, offset=offset)
    # 12 reminders in batches of 5: three batches; the queries per batch are fixed.
    with django_assert_max_num_queries(3 * 14):
        totals = reminders_send_due.apply(kwargs={"batch_size": 5}).get()
    assert totals == {"sent": 12, "skipped": 0, "failed": 0, "batches": 3}
    assert len(mail.outbox) == 12


# --- two workers ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's test database is one in-memory connection: threads cannot share it, "
    "so two concurrent workers can only be shown on PostgreSQL",
)
def test_two_workers_at_once_send_each_of_200_reminders_exactly_once(org, owner):
    with tenant_context(org, actor=owner):
        meetings = [
            make_activity(
                org,
                owner,
                type="meeting",
                subject=f"Meeting {n:02d}",
                scheduled_at=timezone.now() + HOUR,
            )
            for n in range(50)
        ]
    past = timezone.now() - datetime.timedelta(minutes=1)
    ActivityReminder.objects.unscoped().bulk_create(
        ActivityReminder(
            organization=org,
            activity=meeting,
            recipient=owner,
            offset_minutes=offset,
            remind_at=past,
        )
        for meeting in meetings
        for offset in (0, 15, 60, 1440)
    )
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        from django.db import connection as thread_connection

        try:
            start.wait()
            results.append(reminders_send_due(batch_size=10))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sum(r["sent"] for r in results) == 200
    assert all(r["sent"] > 0 for r in results), results  # both took part
    assert len(mail.outbox) == 200
    per_meeting = {}
    for message in mail.outbox:
        subject = message.subject.split("(")[0].removeprefix("Reminder: ").strip()
        per_meeting[subject] = per_meeting.get(subject, 0) + 1
    assert per_meeting == {f"Meeting {n:02d}": 4 for n in range(50)}
    assert Notification.objects.unscoped().filter(organization=org).count() == 200
    assert ActivityReminder.objects.unscoped().filter(sent_at__isnull=True).count() == 0
