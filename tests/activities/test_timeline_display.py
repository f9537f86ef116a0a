"""What a timeline line says, worked out once per page by ``selectors.timeline_display``
(badges, "for", dates, the call, meeting, task and email lines, links) and printed by the
lean ``timeline_entries.html``; and the company timeline's stage moves read page by page."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.activities.selectors import timeline, timeline_display
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity
from tests.contacts.factories import make_company, make_contact
from tests.opportunities.factories import make_opportunity

pytestmark = pytest.mark.django_db


def _entry_html(html: str, subject: str) -> str:
    """The ``<li>`` of the line whose subject is ``subject``."""
    for chunk in html.split('<li class="tl-entry')[1:]:
        if f">{subject}</a>" in chunk:
            return chunk.split("</li>")[0]
    raise AssertionError(f"no line {subject!r}")


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_each_kind_of_line_says_what_happened(org, owner):
    now = timezone.now()
    colleague = make_member(org, full_name="Rita Rep")
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ana", last_name="Petrova")
        make_activity(
            org,
            owner,
            type="call",
            subject="Intro",
            contact=contact,
            status="completed",
            call_direction="inbound",
            call_outcome="connected",
            duration_minutes=1,
        )
        make_activity(
            org,
            owner,
            type="task",
            subject="Send the deck",
            contact=contact,
            due_date=(now - datetime.timedelta(days=3)).date(),
            priority="urgent",
            assigned_to=colleague,
        )
        make_activity(
            org,
            owner,
            type="meeting",
            subject="Offsite",
            contact=contact,
            scheduled_at=datetime.datetime(2030, 3, 4, tzinfo=datetime.UTC),
            all_day=True,
            video_url="https://meet.example.com/x",
        )
        email = make_activity(
            org,
            owner,
            type="email",
            subject="Re: prices",
            contact=contact,
            status="completed",
            email_from="ana@example.com",
            email_to="me@example.com",
        )
    html = (
        web_client(owner, org)
        .get(reverse("activities:timeline", args=["contact", contact.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )

    call = _entry_html(html, "Intro")
    assert 'data-kind="call"' in call and "bi-telephone-inbound" in call
    assert "Done" in _text(call) and "Inbound · Connected · 1 minute" in _text(call)
    task = _entry_html(html, "Send the deck")
    assert "Overdue" in _text(task) and "Urgent" in _text(task)
    assert "for Rita Rep" in _text(task) and "text-danger" in task
    assert 'data-testid="complete-activity"' in task and "Mark done" in task
    meeting = _entry_html(html, "Offsite")
    assert "March 4, 2030 (all day)" in _text(meeting)
    assert 'href="https://meet.example.com/x"' in meeting and "Video link" in meeting
    assert re.search(r">in \d+\xa0years?", meeting)  # relative, ahead
    line = _entry_html(html, "Re: prices")
    assert "ana@example.com → me@example.com" in _text(line)
    assert f'href="{email.get_absolute_url()}"' in line
    assert 'data-testid="complete-activity"' not in line  # an email is not "done" later


def test_the_display_rows_name_records_with_their_own_links(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner)
        contacts = [make_contact(org, owner, company=company) for _ in range(3)]
        for contact in contacts:
            make_activity(org, owner, type="note", subject="Hi", contact=contact)
        page = timeline(company, user=owner, types=("note",))
        rows = timeline_display(page.entries)
    assert sorted(r["concerns_url"] for r in rows) == sorted(c.get_absolute_url() for c in contacts)
    assert [r["url"] for r in rows] == [e.activity.get_absolute_url() for e in page.entries]
    assert {r["actor"] for r in rows} == {str(owner)}
    assert all(r["when"]["text"].endswith(" ago") for r in rows)


def test_a_company_timeline_pages_through_its_deals_stage_moves(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner)
        other = make_company(org, owner)
        stages = pipeline_ensure_defaults(org=org)[0].stage_list
        deals = [make_opportunity(org, owner, company=company) for _ in range(4)]
        stranger = make_opportunity(org, owner, company=other)
        for deal in [*deals, stranger]:
            for stage in stages[1:4]:
                opportunity_move(opportunity=deal, stage=stage, actor=owner)
        seen, cursor = [], None
        while True:
            page = timeline(company, user=owner, types=("stage",), limit=5, before=cursor)
            seen += page.entries
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    # Each deal: its creation and three moves; none of the other company's deal.
    assert len(seen) == 16 and len({e.id for e in seen}) == 16
    assert {e.concerns.pk for e in seen} == {d.pk for d in deals}
    keys = [e.key for e in seen]
    assert keys == sorted(keys, reverse=True)
