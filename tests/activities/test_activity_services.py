"""Follow-up suggestions from templates and the list's overdue condition."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from pulse.activities.models import Activity
from pulse.activities.selectors import overdue_condition
from pulse.activities.services import follow_up_from_template
from tests.activities.factories import make_activity, make_activity_template

pytestmark = pytest.mark.django_db


def test_follow_up_from_template(in_org, owner):
    template = make_activity_template(
        in_org,
        owner,
        name="D",
        follow_up_type="task",
        follow_up_subject="Send proposal",
        follow_up_days=2,
    )
    plain = make_activity_template(in_org, owner, name="P")
    day = datetime.date(2026, 3, 1)
    assert follow_up_from_template(template, after=day) == {
        "type": "task",
        "subject": "Send proposal",
        "due_date": datetime.date(2026, 3, 3),
    }
    assert follow_up_from_template(plain) == {} and follow_up_from_template(None) == {}


def test_overdue_condition_matches_pending_past_due_or_started(in_org, owner):
    today = timezone.localdate()
    late = make_activity(in_org, owner, type="task", due_date=today - datetime.timedelta(days=1))
    started = make_activity(
        in_org, owner, type="call", scheduled_at=timezone.now() - datetime.timedelta(hours=2)
    )
    make_activity(in_org, owner, type="task", due_date=today)
    make_activity(
        in_org, owner, type="task", due_date=today - datetime.timedelta(days=3), status="completed"
    )
    assert set(Activity.objects.filter(overdue_condition()).values_list("pk", flat=True)) == {
        late.pk,
        started.pk,
    }
