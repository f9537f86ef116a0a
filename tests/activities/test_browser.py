"""Issue 6 in a real browser (headless chromium): a sales rep logs a call from a
contact's timeline, schedules a follow-up meeting from it, finds the meeting on the
calendar's week view and drags it to another day; the database has the new date and a
reload shows it there."""

from __future__ import annotations

import datetime
import os
import re

import pytest
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.activities.models import Activity
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import PASSWORD, OrganizationFactory, make_member
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.contacts.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("PULSE_ACTIVITY_SCREENSHOTS", "")
MOVE = re.compile(r"/calendar/[0-9a-f-]{36}/move/$")


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    size = page.viewport_size
    if width:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(400)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width and size:
        page.set_viewport_size(size)


def sign_in(page, email: str) -> None:  # noqa: F811
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/$"))


def day_column(page, day: datetime.date):  # noqa: F811
    return page.locator(f"td.fc-timegrid-col[data-date='{day.isoformat()}']")


def drag_event(page, event, column) -> None:  # noqa: F811
    """A real pointer drag, in small steps (FullCalendar follows the pointer moves). The
    pointer is released only once FullCalendar draws the event's mirror in the target
    column: a release while the mirror is still over a day passed on the way would drop
    it there."""
    event.scroll_into_view_if_needed()
    start = event.bounding_box()
    end = column.bounding_box()
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + min(10, start["height"] / 2)
    x, y = end["x"] + end["width"] / 2, y0
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 8, y0 + 2, steps=4)
    page.mouse.move(x, y, steps=30)
    for attempt in range(40):
        if column.locator(".fc-event-mirror").count():
            break
        page.wait_for_timeout(50)
        page.mouse.move(x + (4 if attempt % 2 else -4), y, steps=3)
    page.mouse.up()


def test_log_a_call_schedule_a_follow_up_and_drag_it_on_the_calendar(page, live_server):  # noqa: F811
    org = OrganizationFactory(name="Rila Outdoor")
    rep = make_member(org, Role.SALES_REP, email="rita@example.com", full_name="Rita Rep")
    with tenant_context(org, actor=rep):
        ana = make_contact(org, rep, first_name="Ana", last_name="Petrova", email="ana@rila.bg")
    today = timezone.localdate()
    # Next week's Tuesday, and the Thursday of that week to drag it to.
    tuesday = today + datetime.timedelta(days=7 - today.weekday() + 1)
    thursday = tuesday + datetime.timedelta(days=2)
    sign_in(page, "rita@example.com")

    # 1. Log a call on Ana's timeline.
    page.goto(ana.get_absolute_url())
    page.click("#tab-timeline")
    composer = page.locator("[data-testid=timeline-composer]")
    composer.wait_for()
    composer.locator("[data-testid=composer-tab-call]").click()
    composer.locator("[data-testid=composer-call-subject]").fill("Intro call")
    outcome = composer.locator("[data-testid=composer-call-call_outcome]")
    if outcome.count():
        outcome.select_option("connected")
    composer.locator("[data-testid=composer-save]").click()
    page.locator("[data-testid=timeline-entry]", has_text="Intro call").wait_for()
    with tenant_context(org):
        call = Activity.objects.get(subject="Intro call")
    assert (call.type, call.contact_id, call.status) == ("call", ana.pk, "completed")
    shot(page, "01-call-logged")

    # 2. Schedule the follow-up meeting from the notice.
    page.locator("[data-testid=follow-up-meeting]").click()
    composer = page.locator("[data-testid=timeline-composer]")
    composer.locator("[data-testid=composer-meeting-subject]").fill("Demo for Ana")
    composer.locator("[data-testid=composer-meeting-date]").fill(tuesday.isoformat())
    composer.locator("[data-testid=composer-meeting-time]").fill("10:00")
    composer.locator("[data-testid=composer-meeting-duration_minutes]").fill("60")
    composer.locator("[data-testid=composer-save]").click()
    page.locator("[data-testid=timeline-entry]", has_text="Demo for Ana").wait_for()
    with tenant_context(org):
        meeting = Activity.objects.get(subject="Demo for Ana")
    assert (meeting.type, meeting.contact_id) == ("meeting", ana.pk)
    assert timezone.localtime(meeting.scheduled_at).date() == tuesday

    # 3. Find it on the calendar's week view (from the sidebar).
    page.click("nav a:has-text('Calendar')")
    page.wait_for_url(re.compile(r"/calendar/$"))
    page.goto(f"/calendar/?date={tuesday.isoformat()}")
    event = day_column(page, tuesday).locator("[data-testid=calendar-event]", has_text="Demo")
    event.wait_for()
    assert page.locator(".fc-timeGridWeek-view").count() == 1
    shot(page, "02-calendar-week")

    # 4. Drag it to Thursday: saved at once.
    with page.expect_response(MOVE) as moved:
        drag_event(page, event, day_column(page, thursday))
    assert moved.value.status == 200
    with tenant_context(org):
        meeting.refresh_from_db()
    when = timezone.localtime(meeting.scheduled_at)
    assert (when.date(), when.hour, when.minute) == (thursday, 10, 0)
    assert meeting.duration_minutes == 60
    assert meeting.version == 2

    # 5. A reload shows it on Thursday, and no longer on Tuesday.
    page.reload()
    day_column(page, thursday).locator(
        "[data-testid=calendar-event]", has_text="Demo for Ana"
    ).wait_for()
    assert day_column(page, tuesday).locator("[data-testid=calendar-event]").count() == 0
    shot(page, "03-after-drag")
    shot(page, "03-after-drag-1400", width=1400)
    shot(page, "03-after-drag-phone", width=390)


def test_a_click_on_an_empty_slot_adds_a_meeting(page, live_server):  # noqa: F811
    org = OrganizationFactory(name="Rila Outdoor")
    make_member(org, Role.SALES_REP, email="rita@example.com", full_name="Rita Rep")
    monday = timezone.localdate() + datetime.timedelta(days=7 - timezone.localdate().weekday())
    sign_in(page, "rita@example.com")
    page.goto(f"/calendar/?date={monday.isoformat()}")
    page.locator(".fc-timegrid-slot-lane[data-time='11:00:00']").first.wait_for()
    column = day_column(page, monday).bounding_box()
    lane = page.locator(".fc-timegrid-slot-lane[data-time='11:00:00']").first.bounding_box()
    page.mouse.click(column["x"] + column["width"] / 2, lane["y"] + lane["height"] / 2)
    dialog = page.locator("[data-testid=calendar-create-dialog]")
    dialog.wait_for(state="visible")
    shot(page, "04-create-dialog")
    dialog.locator("[data-testid=calendar-create-subject]").fill("Team lunch")
    with page.expect_response(re.compile(r"/calendar/new/$")) as created:
        dialog.locator("[data-testid=calendar-create-save]").click()
    assert created.value.status == 201
    dialog.wait_for(state="hidden")
    page.wait_for_selector(".modal-backdrop", state="detached")
    day_column(page, monday).locator(
        "[data-testid=calendar-event]", has_text="Team lunch"
    ).wait_for()
    with tenant_context(org):
        lunch = Activity.objects.get(subject="Team lunch")
    when = timezone.localtime(lunch.scheduled_at)
    assert (lunch.type, when.date(), when.hour, lunch.duration_minutes) == (
        "meeting",
        monday,
        11,
        30,
    )
