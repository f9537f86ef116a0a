"""The demo activities (``manage.py seed_demo``): calls, emails, notes, meetings this week
and next with attendees and reminders, tasks (overdue, due today, with checklists),
follow-up chains and templates, all made through the services."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from pulse.accounts.models import Organization
from pulse.activities.models import (
    Activity,
    ActivityAttendee,
    ActivityChecklistItem,
    ActivityReminder,
    ActivityTemplate,
)
from pulse.activities.services import mentions_parse, occurred_at_of
from pulse.core.tenancy import tenant_context
from pulse.opportunities.models import Opportunity

pytestmark = pytest.mark.django_db


def test_seed_demo_fills_the_activity_screens():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    org = Organization.objects.get(slug="northwind-traders")
    with tenant_context(org):
        acts = list(Activity.objects.all())
        by_type = Counter(a.type for a in acts)
        assert set(by_type) == {"call", "email", "note", "meeting", "task"}
        assert by_type["call"] >= 150 and by_type["email"] >= 120 and by_type["note"] >= 40
        # 20 this week and next, 3 demos of the follow-up chains, a few on deals.
        assert 23 <= by_type["meeting"] <= 60
        # 45 planned, plus the proposals the two finished chains scheduled.
        assert by_type["task"] == 47
        for activity in acts:
            assert activity.occurred_at == occurred_at_of(activity)
            assert activity.created_by_id is not None and activity.assigned_to_id is not None

        today = timezone.localdate()
        tasks = [a for a in acts if a.type == "task"]
        overdue = [t for t in tasks if t.is_overdue]
        assert len(overdue) >= 8
        assert all(t.status == "pending" for t in overdue)
        assert sum(1 for t in tasks if t.due_date == today and t.status == "pending") >= 7
        assert ActivityChecklistItem.objects.filter(done=True).exists()
        assert ActivityChecklistItem.objects.filter(done=False).exists()

        calls = [a for a in acts if a.type == "call" and a.status == "completed"]
        assert {c.call_outcome for c in calls} == {"connected", "voicemail", "no_answer", "busy"}
        emails = [a for a in acts if a.type == "email"]
        assert all(e.email_from and e.email_to and e.message_id for e in emails)
        notes = [a for a in acts if a.type == "note"]
        assert any(mentions_parse(n.description).user_ids for n in notes)

        # Meetings from this Monday to next week's Friday: done ones and coming ones.
        monday = today - datetime.timedelta(days=today.weekday())
        window = [
            a
            for a in acts
            if a.type == "meeting"
            and monday <= timezone.localdate(a.scheduled_at) <= monday + datetime.timedelta(11)
        ]
        upcoming = [m for m in window if m.scheduled_at > timezone.now()]
        assert len(window) >= 20 and upcoming
        assert all(m.status == "pending" for m in upcoming)
        attendees = ActivityAttendee.objects.filter(activity__in=upcoming)
        assert attendees.filter(user__isnull=False).exists()
        assert attendees.filter(contact__isnull=False).exists()
        reminded = set(
            ActivityReminder.objects.filter(sent_at__isnull=True).values_list(
                "activity_id", flat=True
            )
        )
        assert {m.pk for m in upcoming} <= reminded

        # Follow-up chains: call → demo → proposal task.
        chained = [a for a in acts if a.follow_up_of_id]
        assert len(chained) == 5
        assert Counter(a.type for a in chained) == {"meeting": 3, "task": 2}
        assert ActivityTemplate.objects.count() >= 3

        # Every activity's links belong to the organization; a busy contact's timeline.
        contact_ids = Counter(a.contact_id for a in acts if a.contact_id)
        busiest, n = contact_ids.most_common(1)[0]
        assert n >= 8
        assert Activity.objects.filter(contact_id=busiest).count() == n
        assert all(a.created_at <= timezone.now() + datetime.timedelta(seconds=1) for a in acts)
        # Deals touched by activities: their last activity is the latest one on them.
        deal_ids = {a.opportunity_id for a in acts if a.opportunity_id}
        assert len(deal_ids) >= 30
        for deal in Opportunity.objects.filter(pk__in=deal_ids):
            latest = max(
                min(a.occurred_at, timezone.now())
                for a in acts
                if a.opportunity_id == deal.pk and a.status != "cancelled"
            )
            assert deal.last_activity_at >= latest
