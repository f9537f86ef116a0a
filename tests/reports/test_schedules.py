"""Scheduled reports: next runs, claiming, sending, skipped recipients and failures."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.accounts.models import Membership, Role
from pulse.accounts.services import membership_remove
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Notification
from pulse.extras.services import customfield_delete
from pulse.opportunities.models import Opportunity
from pulse.reports.models import ReportDelivery, ReportSchedule
from pulse.reports.services import (
    schedule_create,
    schedule_delete,
    schedule_next_run,
    schedule_send,
    schedule_update,
    schedules_claim_due,
)
from pulse.reports.tasks import schedules_send_due
from tests.accounts.factories import make_member
from tests.extras.factories import make_custom_field
from tests.opportunities.factories import make_opportunity
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def _schedule(**fields) -> ReportSchedule:
    """An unsaved schedule for next-run arithmetic."""
    return ReportSchedule(**fields)


@pytest.fixture
def sofia(org):
    org.time_zone = "Europe/Sofia"
    org.save(update_fields=["time_zone"])
    return org


# --- next run ---


def test_daily_runs_today_when_the_time_is_ahead_else_tomorrow(sofia):
    schedule = _schedule(organization=sofia, frequency="daily", send_time=datetime.time(7, 0))
    # 07:00 in Sofia in January is 05:00 UTC.
    assert schedule_next_run(schedule, _at(2026, 1, 10, 4, 0)) == _at(2026, 1, 10, 5, 0)
    assert schedule_next_run(schedule, _at(2026, 1, 10, 5, 0)) == _at(2026, 1, 11, 5, 0)


def test_daily_keeps_its_wall_clock_time_across_daylight_saving(sofia):
    schedule = _schedule(organization=sofia, frequency="daily", send_time=datetime.time(7, 0))
    # Clocks go forward on 29 March 2026 (UTC+2 → UTC+3) and back on 25 October.
    assert schedule_next_run(schedule, _at(2026, 3, 28, 5, 0)) == _at(2026, 3, 29, 4, 0)
    assert schedule_next_run(schedule, _at(2026, 10, 24, 4, 0)) == _at(2026, 10, 25, 5, 0)


def test_a_time_that_does_not_exist_or_repeats_runs_once(sofia):
    schedule = _schedule(organization=sofia, frequency="daily", send_time=datetime.time(3, 30))
    # 03:30 does not exist on 29 March: it runs at the pre-change offset (04:30 local).
    assert schedule_next_run(schedule, _at(2026, 3, 28, 12, 0)) == _at(2026, 3, 29, 1, 30)
    # 03:30 happens twice on 25 October: the first one.
    first = schedule_next_run(schedule, _at(2026, 10, 24, 12, 0))
    assert first == _at(2026, 10, 25, 0, 30)
    assert schedule_next_run(schedule, first) == _at(2026, 10, 26, 1, 30)


def test_weekly_runs_on_its_weekday(org):
    schedule = _schedule(
        organization=org, frequency="weekly", weekday=0, send_time=datetime.time(8, 0)
    )
    # Wednesday 7 January 2026 → Monday 12 January.
    assert schedule_next_run(schedule, _at(2026, 1, 7, 9, 0)) == _at(2026, 1, 12, 8, 0)
    # On a Monday after the time → next Monday.
    assert schedule_next_run(schedule, _at(2026, 1, 12, 8, 0)) == _at(2026, 1, 19, 8, 0)
    # On a Monday before the time → today.
    assert schedule_next_run(schedule, _at(2026, 1, 12, 7, 59)) == _at(2026, 1, 12, 8, 0)


def test_monthly_runs_on_its_day_across_month_and_year_ends(org):
    schedule = _schedule(
        organization=org, frequency="monthly", day_of_month=28, send_time=datetime.time(6, 0)
    )
    assert schedule_next_run(schedule, _at(2026, 1, 31, 12, 0)) == _at(2026, 2, 28, 6, 0)
    assert schedule_next_run(schedule, _at(2026, 2, 28, 6, 0)) == _at(2026, 3, 28, 6, 0)
    assert schedule_next_run(schedule, _at(2026, 12, 29, 0, 0)) == _at(2027, 1, 28, 6, 0)
    first = _schedule(
        organization=org, frequency="monthly", day_of_month=1, send_time=datetime.time(6, 0)
    )
    assert schedule_next_run(first, _at(2026, 1, 31, 12, 0)) == _at(2026, 2, 1, 6, 0)


# --- create, update, delete ---


@pytest.fixture
def report(org, owner):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner, name="Alpha", value=Decimal("1000"))
        make_opportunity(org, owner, name="Beta", value=Decimal("2500"))
        return make_report(
            org,
            owner,
            name="Open deals",
            group_by=[],
            aggregates=[],
            columns=["name", "value"],
            ordering="name",
            chart_type="table",
        )


def _create(org, actor, report, **fields):
    fields.setdefault("frequency", "daily")
    fields.setdefault("send_time", datetime.time(7, 0))
    fields.setdefault("format", "csv")
    fields.setdefault("recipients", [actor])
    with tenant_context(org, actor=actor):
        return schedule_create(report=report, actor=actor, **fields)


def test_create_sets_the_next_run_and_recipients(org, owner, rep, report):
    schedule = _create(org, owner, report, recipients=[owner, rep])

    assert set(schedule.recipients.all()) == {owner, rep}
    assert schedule.created_by == owner
    assert schedule.next_run_at is not None
    assert schedule.next_run_at.timetz().replace(tzinfo=None) == datetime.time(7, 0)


def test_recipients_must_be_active_members(org, owner, other_owner, report):
    with pytest.raises(ApplicationError) as caught:
        _create(org, owner, report, recipients=[owner, other_owner])
    assert caught.value.errors == {
        "recipients": ["Not an active member of this organization: Oscar Other."]
    }
    with pytest.raises(ApplicationError) as caught:
        _create(org, owner, report, recipients=[])
    assert caught.value.errors == {"recipients": ["Choose at least one recipient."]}
    assert not ReportSchedule.objects.unscoped().exists()


def test_a_private_report_of_someone_else_cannot_be_scheduled(org, owner, rep):
    with tenant_context(org, actor=owner):
        private = make_report(org, owner, visibility="private")
    with pytest.raises(PermissionDeniedError):
        _create(org, rep, private)
    assert not ReportSchedule.objects.unscoped().exists()


def test_update_retimes_and_delete_stops(org, owner, report):
    schedule = _create(org, owner, report)
    with tenant_context(org, actor=owner):
        updated = schedule_update(
            schedule=schedule,
            actor=owner,
            frequency="weekly",
            weekday=4,
            send_time=datetime.time(16, 30),
        )
        assert updated.next_run_at.weekday() == 4
        assert updated.next_run_at.timetz().replace(tzinfo=None) == datetime.time(16, 30)
        paused = schedule_update(schedule=updated, actor=owner, active=False)
        assert paused.next_run_at is None
        schedule_delete(schedule=paused, actor=owner)
    assert ReportSchedule.objects.unscoped().get(pk=schedule.pk).deleted_at is not None


# --- claiming ---


def test_a_due_schedule_is_claimed_once(org, owner, report):
    schedule = _create(org, owner, report)
    due_at = _at(2026, 5, 4, 7, 0)
    ReportSchedule.objects.unscoped().filter(pk=schedule.pk).update(next_run_at=due_at)
    now = _at(2026, 5, 4, 7, 3)

    first = schedules_claim_due(now)
    second = schedules_claim_due(now)

    assert first == [(org.pk, schedule.pk, due_at)]
    assert second == []
    assert ReportSchedule.objects.unscoped().get(pk=schedule.pk).next_run_at == _at(
        2026, 5, 5, 7, 0
    )


def test_paused_deleted_and_future_schedules_are_not_claimed(org, owner, report):
    past = _at(2026, 5, 4, 7, 0)
    paused = _create(org, owner, report)
    deleted = _create(org, owner, report)
    future = _create(org, owner, report)
    manager = ReportSchedule.objects.unscoped()
    manager.filter(pk__in=[paused.pk, deleted.pk]).update(next_run_at=past)
    manager.filter(pk=paused.pk).update(active=False)
    with tenant_context(org, actor=owner):
        schedule_delete(schedule=deleted, actor=owner)
    manager.filter(pk=future.pk).update(next_run_at=_at(2026, 5, 4, 8, 0))

    assert schedules_claim_due(_at(2026, 5, 4, 7, 30)) == []


# --- sending ---


def _due(schedule):
    ReportSchedule.objects.unscoped().filter(pk=schedule.pk).update(
        next_run_at=_at(2020, 1, 1, 7, 0)
    )


def test_the_beat_task_emails_the_report_once(
    org, owner, rep, report, mailoutbox, django_capture_on_commit_callbacks
):
    schedule = _create(org, owner, report, recipients=[owner, rep])
    _due(schedule)

    with django_capture_on_commit_callbacks(execute=True):
        totals = schedules_send_due.apply().result
    with django_capture_on_commit_callbacks(execute=True):
        again = schedules_send_due.apply().result

    assert totals["claimed"] == 1 and totals["sent"] == 1
    assert again["claimed"] == 0
    assert sorted(m.to[0] for m in mailoutbox) == sorted([owner.email, rep.email])
    message = mailoutbox[0]
    assert message.subject.startswith("Report: Open deals (")
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == ("open-deals.csv", "text/csv; charset=utf-8")
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))  # text/*: a str
    assert rows == [["Name", "Value"], ["Alpha", "1,000.00 EUR"], ["Beta", "2,500.00 EUR"]]
    assert message.alternatives[0][1] == "text/html"
    assert "Open the report in PulseCRM" in message.alternatives[0][0]
    delivery = ReportDelivery.objects.unscoped().get(schedule=schedule)
    assert (delivery.status, delivery.rows, delivery.skipped) == ("sent", 2, [])
    assert sorted(delivery.sent_to) == sorted([owner.email, rep.email])
    schedule = ReportSchedule.objects.unscoped().get(pk=schedule.pk)
    assert (schedule.last_status, schedule.last_message) == ("sent", "Sent to 2 recipients.")


@pytest.mark.parametrize(
    ("fmt", "filename", "mimetype", "magic"),
    [
        (
            "xlsx",
            "open-deals.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK",
        ),
        ("pdf", "open-deals.pdf", "application/pdf", b"%PDF-"),
    ],
)
def test_attachment_formats(
    org,
    owner,
    report,
    mailoutbox,
    django_capture_on_commit_callbacks,
    fmt,
    filename,
    mimetype,
    magic,
):
    schedule = _create(org, owner, report, format=fmt)

    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        schedule_send(schedule, _at(2026, 5, 4, 7, 0))

    ((name, content, kind),) = mailoutbox[0].attachments
    assert (name, kind) == (filename, mimetype)
    assert content.startswith(magic)  # binary types stay bytes


def test_recipients_who_left_are_skipped_with_the_reason(
    org, owner, rep, report, mailoutbox, django_capture_on_commit_callbacks
):
    gone = make_member(org, Role.SALES_REP, full_name="Gail Gone", email="gail@example.com")
    off = make_member(org, Role.SALES_REP, full_name="Otto Off", email="otto@example.com")
    schedule = _create(org, owner, report, recipients=[owner, gone, off])
    membership = Membership.objects.unscoped().get(organization=org, user=gone)
    membership_remove(membership=membership, actor=owner)
    off.is_active = False
    off.save(update_fields=["is_active"])

    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        delivery = schedule_send(schedule, _at(2026, 5, 4, 7, 0))

    assert [m.to for m in mailoutbox] == [[owner.email]]
    assert delivery.status == "partial"
    assert delivery.sent_to == [owner.email]
    assert sorted(delivery.skipped, key=lambda s: s["email"]) == [
        {"email": "gail@example.com", "reason": "no longer a member of the organization"},
        {"email": "otto@example.com", "reason": "account deactivated"},
    ]
    assert delivery.message == (
        "Sent to 1; skipped gail@example.com (no longer a member of the organization), "
        "otto@example.com (account deactivated)."
    )


def test_a_creator_who_left_skips_the_run(
    org, owner, admin_user, report, mailoutbox, django_capture_on_commit_callbacks
):
    schedule = _create(org, admin_user, report, recipients=[owner])
    membership_remove(
        membership=Membership.objects.unscoped().get(organization=org, user=admin_user),
        actor=owner,
    )

    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        delivery = schedule_send(schedule, _at(2026, 5, 4, 7, 0))

    assert mailoutbox == []
    assert delivery.status == "skipped"
    assert delivery.message.startswith(
        "Not sent: the person who scheduled this report is no longer a member"
    )
    assert ReportSchedule.objects.unscoped().get(pk=schedule.pk).last_status == "skipped"


def test_a_report_with_a_deleted_field_fails_and_tells_its_creator(
    org, owner, mailoutbox, django_capture_on_commit_callbacks
):
    with tenant_context(org, actor=owner):
        field = make_custom_field(
            org,
            owner,
            content_type=ContentType.objects.get_for_model(Opportunity),
            key="region",
            label="Region",
            field_type="text",
        )
        report = make_report(org, owner, name="By region", group_by=[{"field": "cf_region"}])
    schedule = _create(org, owner, report)
    with tenant_context(org, actor=owner):
        customfield_delete(field=field, actor=owner)

    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        delivery = schedule_send(schedule, _at(2026, 5, 4, 7, 0))

    assert mailoutbox == []
    message = (
        "The report could not run: The field “region” no longer exists; "
        "edit the report to remove it."
    )
    assert (delivery.status, delivery.message) == ("failed", message)
    schedule = ReportSchedule.objects.unscoped().get(pk=schedule.pk)
    assert (schedule.last_status, schedule.last_message) == ("failed", message)
    note = Notification.objects.unscoped().get(recipient=owner)
    assert note.verb == "Scheduled report “By region” failed"
    assert note.body == message
    assert note.url == report.get_absolute_url()


def test_the_report_runs_with_the_creators_visibility(
    org, owner, rep, report, mailoutbox, django_capture_on_commit_callbacks
):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    with tenant_context(org, actor=rep):
        make_opportunity(org, rep, name="Rep deal", value=Decimal("10"), assigned_to=rep)
    schedule = _create(org, rep, report, recipients=[rep, owner])

    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        schedule_send(schedule, _at(2026, 5, 4, 7, 0))

    content = mailoutbox[0].attachments[0][1].lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(content))) == [["Name", "Value"], ["Rep deal", "10.00 EUR"]]
