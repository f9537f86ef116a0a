"""Schedules in the UI (panel, form, list, delete) and the API, with permissions."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.core.tenancy import tenant_context
from pulse.reports.models import ReportDelivery, ReportSchedule
from pulse.reports.services import schedule_create
from tests.conftest import login
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(org, owner):
    with tenant_context(org, actor=owner):
        return make_report(org, owner, name="Pipeline by stage")


def _schedule(org, actor, report, **fields):
    fields.setdefault("frequency", "weekly")
    fields.setdefault("weekday", 2)
    fields.setdefault("send_time", datetime.time(8, 15))
    fields.setdefault("format", "pdf")
    fields.setdefault("recipients", [actor])
    with tenant_context(org, actor=actor):
        return schedule_create(report=report, actor=actor, **fields)


def _deliveries(org, schedule, count):
    now = timezone.now()
    for i in range(count):
        ReportDelivery.objects.unscoped().create(
            organization=org,
            schedule=schedule,
            ran_at=now - datetime.timedelta(days=i),
            status="sent" if i else "partial",
            sent_to=["a@example.com"],
            message=f"run {i}",
        )


# --- web ---


def test_panel_lists_the_reports_schedules(org, owner, rep, report, django_assert_num_queries):
    first = _schedule(org, owner, report, recipients=[owner, rep])
    _schedule(org, owner, report, frequency="monthly", day_of_month=3, format="xlsx")
    client = login(owner, org)
    url = reverse("reports:schedule_panel", args=[report.pk])
    client.get(url)  # warm the session and membership caches

    # session, user, membership, report, schedules, recipients
    with django_assert_num_queries(6):
        response = client.get(url, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("data-schedule-id=") == 2
    assert "Weekly on Wednesday at 08:15 · PDF" in html
    assert "Monthly on day 3 at 08:15 · XLSX" in html
    assert "2 recipients" in html
    assert reverse("reports:schedule_edit", args=[first.pk]) in html


def test_create_through_the_form(org, owner, rep, report):
    client = login(owner, org)
    url = reverse("reports:schedule_create", args=[report.pk])

    page = client.get(url)
    response = client.post(
        url,
        {
            "frequency": "daily",
            "weekday": "0",
            "day_of_month": "1",
            "send_time": "06:45",
            "format": "csv",
            "recipients": [owner.pk, rep.pk],
            "active": "on",
        },
    )

    assert page.status_code == 200
    assert 'data-testid="schedule-form"' in page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == report.get_absolute_url()
    schedule = ReportSchedule.objects.unscoped().get(report=report)
    assert (schedule.frequency, schedule.format, schedule.send_time) == (
        "daily",
        "csv",
        datetime.time(6, 45),
    )
    assert set(schedule.recipients.all()) == {owner, rep}
    assert schedule.created_by == owner


def test_form_refuses_a_day_of_month_that_not_every_month_has(org, owner, report):
    response = login(owner, org).post(
        reverse("reports:schedule_create", args=[report.pk]),
        {
            "frequency": "monthly",
            "weekday": "0",
            "day_of_month": "31",
            "send_time": "06:45",
            "format": "csv",
            "recipients": [owner.pk],
        },
    )

    assert response.status_code == 400
    assert "Ensure this value is less than or equal to 28." in response.content.decode()
    assert not ReportSchedule.objects.unscoped().exists()


def test_form_offers_members_only(org, owner, other_owner, report):
    response = login(owner, org).post(
        reverse("reports:schedule_create", args=[report.pk]),
        {
            "frequency": "daily",
            "weekday": "0",
            "day_of_month": "1",
            "send_time": "06:45",
            "format": "csv",
            "recipients": [other_owner.pk],
        },
    )

    assert response.status_code == 400
    assert not ReportSchedule.objects.unscoped().exists()


def test_edit_and_delete(org, owner, report):
    schedule = _schedule(org, owner, report)
    client = login(owner, org)
    edit = reverse("reports:schedule_edit", args=[schedule.pk])

    assert client.get(edit).status_code == 200
    response = client.post(
        edit,
        {
            "frequency": "monthly",
            "weekday": "0",
            "day_of_month": "15",
            "send_time": "09:00",
            "format": "xlsx",
            "recipients": [owner.pk],
            "active": "on",
            "next": "list",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:schedule_list")
    schedule.refresh_from_db()
    assert (schedule.frequency, schedule.day_of_month, schedule.format) == (
        "monthly",
        15,
        "xlsx",
    )
    local = timezone.localtime(schedule.next_run_at, datetime.UTC)
    assert (local.day, local.hour) == (15, 9)

    deleted = client.post(reverse("reports:schedule_delete", args=[schedule.pk]))

    assert deleted.status_code == 302
    assert ReportSchedule.objects.unscoped().get(pk=schedule.pk).deleted_at is not None


def test_another_users_schedule_is_not_theirs_to_change(org, owner, rep, report):
    schedule = _schedule(org, owner, report)
    client = login(rep, org)
    before = ReportSchedule.objects.unscoped().get(pk=schedule.pk)

    assert client.get(reverse("reports:schedule_edit", args=[schedule.pk])).status_code == 404
    assert client.post(reverse("reports:schedule_delete", args=[schedule.pk])).status_code == 404
    after = ReportSchedule.objects.unscoped().get(pk=schedule.pk)
    assert (after.deleted_at, after.version) == (None, before.version)
    # The rep may schedule the shared report for themselves, and then manage that one.
    mine = _schedule(org, rep, report)
    assert client.get(reverse("reports:schedule_edit", args=[mine.pk])).status_code == 200


def test_schedule_list_shows_deliveries(org, owner, rep, report, django_assert_num_queries):
    first = _schedule(org, owner, report)
    second = _schedule(org, owner, report, frequency="daily")
    _schedule(org, rep, report)  # the rep's: an admin-less owner still sees it? (owner = admin)
    _deliveries(org, first, 7)
    _deliveries(org, second, 1)
    client = login(owner, org)
    url = reverse("reports:schedule_list")
    client.get(url)

    # session, user, membership, count, schedules, recipients, deliveries, + the base page's
    with django_assert_num_queries(8):
        response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("data-schedule-id=") == 3
    assert html.count("data-delivery-status=") == 5 + 1  # the latest five of seven, and one
    assert "run 0" in html and "run 4" in html and "run 5" not in html


def test_a_rep_sees_only_their_own_schedules(org, owner, rep, report):
    _schedule(org, owner, report)
    mine = _schedule(org, rep, report)

    html = login(rep, org).get(reverse("reports:schedule_list")).content.decode()

    assert html.count("data-schedule-id=") == 1
    assert f'data-schedule-id="{mine.pk}"' in html


# --- API ---


def test_api_crud_and_deliveries(org, owner, rep, report):
    client = login(owner, org)
    listing = reverse("reportschedule-list")

    created = client.post(
        listing,
        {
            "report_id": str(report.pk),
            "frequency": "weekly",
            "weekday": 4,
            "send_time": "17:00",
            "format": "xlsx",
            "recipients": [owner.pk, rep.pk],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["frequency"] == "weekly" and sorted(body["recipients"]) == sorted(
        [owner.pk, rep.pk]
    )
    assert body["next_run_at"] is not None and body["created_by"] == owner.pk
    detail = reverse("reportschedule-detail", args=[body["id"]])

    changed = client.patch(
        detail, {"format": "pdf", "recipients": [owner.pk]}, content_type="application/json"
    )
    assert changed.status_code == 200
    assert (changed.json()["format"], changed.json()["recipients"]) == ("pdf", [owner.pk])
    schedule = ReportSchedule.objects.unscoped().get(pk=body["id"])
    _deliveries(org, schedule, 2)
    runs = client.get(reverse("reportschedule-deliveries", args=[body["id"]]))
    assert runs.status_code == 200
    assert [d["message"] for d in runs.json()["results"]] == ["run 0", "run 1"]
    assert client.get(listing).json()["count"] == 1
    assert client.delete(detail).status_code == 204
    assert client.get(listing).json()["count"] == 0


def test_api_refuses_a_non_member_recipient(org, owner, other_owner, report):
    response = login(owner, org).post(
        reverse("reportschedule-list"),
        {"report_id": str(report.pk), "frequency": "daily", "recipients": [other_owner.pk]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["recipients"]
    assert not ReportSchedule.objects.unscoped().exists()


def test_api_isolation_and_visibility(org, owner, rep, other_owner, other_org, report):
    schedule = _schedule(org, owner, report)
    detail = reverse("reportschedule-detail", args=[schedule.pk])

    assert login(other_owner, other_org).get(detail).status_code == 404
    assert login(rep, org).get(detail).status_code == 404
    assert login(rep, org).get(reverse("reportschedule-list")).json()["count"] == 0
    assert (
        login(rep, org)
        .patch(detail, {"format": "csv"}, content_type="application/json")
        .status_code
        == 404
    )
    assert ReportSchedule.objects.unscoped().get(pk=schedule.pk).format == "pdf"
