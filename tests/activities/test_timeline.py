"""The unified timeline of contacts, companies, leads and deals: merging its sources
newest first, the company rollup, type filters, keyset pages, visibility, tenancy, the
inline composer, the quick "done" action, the CSV export and a pinned query count."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.activities.models import Activity
from pulse.activities.selectors import (
    TimelineCursorError,
    decode_timeline_cursor,
    parse_timeline_types,
    timeline,
    timeline_record,
)
from pulse.audit.models import AuditEntry
from pulse.contacts.services import company_update, contact_update
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from pulse.leads.models import LeadStageChange
from pulse.leads.services import lead_move_stage
from pulse.opportunities.models import Opportunity, OpportunityStageChange
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity
from tests.contacts.factories import make_company, make_contact
from tests.leads.factories import make_lead
from tests.opportunities.factories import make_opportunity

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def ago(minutes: int) -> datetime.datetime:
    return NOW - datetime.timedelta(minutes=minutes)


def _audit_at(record, when, action=None):
    """Date the record's audit entries (the log is append-only; tests set it up)."""
    qs = AuditEntry.objects.unscoped().filter(object_id=str(record.pk))
    if action:
        qs = qs.filter(action=action)
    qs.update(created_at=when)


def _done(org, actor, minutes, **fields):
    fields.setdefault("type", "call")
    return make_activity(org, actor, status="completed", completed_at=ago(minutes), **fields)


def _stage(org, name):
    return next(s for s in pipeline_ensure_defaults(org=org)[0].stage_list if s.name == name)


def _keys(page):
    return [(e.kind, e.subject) for e in page.entries]


def _htmx(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true")


# --- merging ------------------------------------------------------------------------------


def test_a_deal_timeline_merges_activities_stage_moves_and_field_changes_newest_first(
    in_org, owner
):
    deal = make_opportunity(in_org, owner, name="Rollout")
    OpportunityStageChange.objects.unscoped().filter(opportunity=deal).update(changed_at=ago(60))
    deal = Opportunity.objects.get(pk=deal.pk)
    _done(in_org, owner, 50, subject="Discovery call", opportunity=deal)
    from pulse.opportunities.services import opportunity_update

    deal = opportunity_update(opportunity=deal, actor=owner, source="Referral")
    _audit_at(deal, ago(40), action="update")
    make_activity(
        in_org,
        owner,
        type="note",
        subject="Met the CFO",
        opportunity=deal,
        status="completed",
        completed_at=ago(30),
    )
    deal = opportunity_move(opportunity=deal, stage=_stage(in_org, "Proposal"), actor=owner)
    OpportunityStageChange.objects.unscoped().filter(
        opportunity=deal, from_stage__isnull=False
    ).update(changed_at=ago(20))
    AuditEntry.objects.unscoped().filter(object_id=str(deal.pk), changes__has_key="stage").update(
        created_at=ago(20)
    )
    make_activity(
        in_org,
        owner,
        type="task",
        subject="Send quote",
        opportunity=deal,
        due_date=(NOW + datetime.timedelta(days=2)).date(),
    )

    page = timeline(deal, user=owner)

    assert _keys(page) == [
        ("task", "Send quote"),
        ("stage", "Moved from Qualification to Proposal"),
        ("note", "Met the CFO"),
        ("field", "Updated: Rollout"),
        ("call", "Discovery call"),
        ("stage", "Created in Qualification"),
    ]  # the move's own audit row and the deal's creation are told by stage rows only
    assert page.next_cursor is None
    field = page.entries[3]
    assert [(r.label, r.old, r.new) for r in field.audit_entry.change_rows] == [
        ("Source", "—", "Referral")
    ]


def test_a_lead_timeline_tells_each_stage_move_once_with_its_notes(in_org, owner):
    lead = make_lead(in_org, owner)
    lead = lead_move_stage(lead=lead, stage="contacted", actor=owner, notes="Called back")
    make_activity(in_org, owner, type="call", subject="First call", lead=lead)

    page = timeline(lead, user=owner)

    kinds = [e.kind for e in page.entries]
    assert kinds.count("call") == 1
    assert [e.subject for e in page.entries if e.kind == "stage"] == [
        "Moved from New to Contacted",
        "Created in New",
    ]  # the move's audit row ("stage: New → Contacted") is not told again
    assert [e.audit_entry.action for e in page.entries if e.kind == "field"] == ["create"]
    stage = next(e for e in page.entries if e.kind == "stage")
    assert stage.summary == "Called back"


def test_a_company_timeline_rolls_up_its_contacts_and_deals(in_org, owner):
    company = make_company(in_org, owner, name="Acme")
    other = make_company(in_org, owner, name="Globex")
    ada = make_contact(in_org, owner, first_name="Ada", company=company)
    bob = make_contact(in_org, owner, first_name="Bob", company=other)
    deal = make_opportunity(in_org, owner, name="Acme deal", company=company)
    _done(in_org, owner, 10, subject="Call Ada", contact=ada)
    _done(in_org, owner, 9, subject="Call Bob", contact=bob)
    _done(in_org, owner, 8, subject="Deal call", opportunity=deal)
    _done(in_org, owner, 7, subject="Company note", type="note", company=company)
    contact_update(contact=ada, actor=owner, title="CTO")  # the contact's field change: not here
    company_update(company=company, actor=owner, industry="Rockets")

    page = timeline(company, user=owner)

    subjects = [e.subject for e in page.entries]
    assert "Call Bob" not in subjects and not any("Ada" in s and "Updated" in s for s in subjects)
    assert [e.subject for e in page.entries if e.activity] == [
        "Company note",
        "Deal call",
        "Call Ada",
    ]
    assert [e.subject for e in page.entries if e.kind == "stage"] == ["Created in Qualification"]
    assert [e.audit_entry.action for e in page.entries if e.kind == "field"] == [
        "update",
        "create",
    ]
    concerns = {e.subject: e.concerns for e in page.entries if e.activity}
    assert concerns == {"Company note": None, "Deal call": deal, "Call Ada": ada}
    assert next(e for e in page.entries if e.kind == "stage").concerns == deal


# --- filters, pages ---------------------------------------------------------------------


def test_type_filters_narrow_to_the_chosen_kinds(in_org, owner):
    lead = make_lead(in_org, owner)
    lead_move_stage(lead=lead, stage="contacted", actor=owner)
    for kind in ("note", "call", "meeting", "task", "email"):
        make_activity(in_org, owner, type=kind, subject=f"A {kind}", lead=lead)

    def kinds(*types):
        return sorted(e.kind for e in timeline(lead, user=owner, types=types).entries)

    assert kinds("call") == ["call"]
    assert kinds("note", "meeting") == ["meeting", "note"]
    assert kinds("stage") == ["stage", "stage"]  # created in New, moved to Contacted
    assert kinds("field") == ["field"]  # its creation; the move is told by its stage row
    assert kinds("email", "task") == ["email", "task"]
    assert parse_timeline_types(["call,stage", "note"]) == ("note", "call", "stage")
    assert parse_timeline_types([]) is None
    with pytest.raises(ValueError):
        parse_timeline_types(["calls"])


def test_keyset_pages_neither_repeat_nor_skip_with_ties_across_sources(in_org, owner):
    contact = make_contact(in_org, owner)
    same = ago(5)
    made = [
        make_activity(in_org, owner, type="meeting", scheduled_at=same, contact=contact)
        for _ in range(9)
    ]
    for i in range(4):
        contact = contact_update(contact=contact, actor=owner, title=f"Title {i}")
    _audit_at(contact, same)  # five audit rows at the activities' instant
    everything = timeline(contact, user=owner, limit=100)
    assert len(everything.entries) == 14 and everything.next_cursor is None

    seen, cursor, pages = [], None, 0
    while True:
        page = timeline(contact, user=owner, before=cursor, limit=4)
        seen += [e.id for e in page.entries]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [e.id for e in everything.entries]
    assert len(set(seen)) == 14 and pages == 4
    assert {a.pk for a in made} <= set(seen)


def test_pages_skip_past_audit_rows_that_stage_moves_tell(in_org, owner):
    lead = make_lead(in_org, owner)
    for stage in ("contacted", "qualified", "contacted", "qualified", "contacted"):
        lead = lead_move_stage(lead=lead, stage=stage, actor=owner)
    moves = LeadStageChange.objects.filter(lead=lead).count()

    seen, cursor = [], None
    for _ in range(20):
        page = timeline(lead, user=owner, before=cursor, limit=2)
        seen += [e.id for e in page.entries]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == moves + 1  # the moves and the lead's creation
    assert seen == [e.id for e in timeline(lead, user=owner, limit=100).entries]


def test_a_cursor_it_did_not_write_is_refused(in_org, owner):
    for bad in ("", "xyz", "bm90IGEgY3Vyc29y", "MjAyNC0wMS0wMXw5fGFi"):
        with pytest.raises(TimelineCursorError):
            decode_timeline_cursor(bad)


# --- visibility and tenancy ---------------------------------------------------------------


def test_activities_are_those_the_user_may_see(org, owner):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP, full_name="Rita Rep")
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, assigned_to=rep)
        make_activity(org, owner, subject="Rita's call", contact=contact, assigned_to=rep)
        make_activity(org, owner, subject="Owner's call", contact=contact, assigned_to=owner)
        subjects = [e.subject for e in timeline(contact, user=rep).entries if e.activity]
        assert subjects == ["Rita's call"]
        assert len([e for e in timeline(contact, user=owner).entries if e.activity]) == 2


def test_another_organizations_record_has_no_timeline(org, owner, other_org, other_owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
    with tenant_context(other_org, actor=other_owner):
        assert timeline_record(user=other_owner, record_type="contact", pk=contact.pk) is None
    client = web_client(other_owner, other_org)
    url = reverse("activities:timeline", args=["contact", contact.pk])
    assert _htmx(client, "get", url).status_code == 404
    compose = reverse("activities:timeline_compose", args=["contact", contact.pk])
    assert client.post(compose, {"kind": "note", "description": "Hi"}).status_code == 404
    export = reverse("activities:timeline_export")
    assert (
        client.get(export, {"record_type": "contact", "record_id": contact.pk}).status_code == 404
    )
    assert Activity.objects.unscoped().count() == 0


# --- the panel ---------------------------------------------------------------------------


def test_every_record_page_loads_its_timeline(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner)
        contact = make_contact(org, owner, company=company)
        lead = make_lead(org, owner)
        deal = make_opportunity(org, owner)
    client = web_client(owner, org)
    for record_type, record in (
        ("contact", contact),
        ("company", company),
        ("lead", lead),
        ("opportunity", deal),
    ):
        html = client.get(record.get_absolute_url()).content.decode()
        url = reverse("activities:timeline", args=[record_type, record.pk])
        assert f'hx-get="{url}"' in html, record_type
        assert 'data-testid="timeline"' in html


def test_the_panel_shows_entries_composer_and_chips(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
        make_activity(
            org,
            owner,
            type="call",
            subject="Intro call",
            contact=contact,
            status="completed",
            call_outcome="voicemail",
        )
        make_activity(
            org,
            owner,
            type="note",
            subject="Likes <b>tea</b>",
            contact=contact,
            description="<p>Likes <b>tea</b><script>alert(1)</script></p>",
        )
        make_activity(
            org, owner, type="meeting", subject="Demo", contact=contact, location="Sofia office"
        )
    url = reverse("activities:timeline", args=["contact", contact.pk])

    response = _htmx(web_client(owner, org), "get", url)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="timeline-entry"') == 4  # three activities + its creation
    for testid in (
        "timeline",
        "timeline-composer",
        "composer-save",
        "composer-tab-note",
        "composer-tab-call",
        "composer-tab-meeting",
        "composer-tab-task",
        "timeline-filter-stage",
        "timeline-export",
    ):
        assert f'data-testid="{testid}"' in html, testid
    assert "Left voicemail" in html and "Sofia office" in html
    assert "<p>Likes <b>tea</b></p>" in html and "<script>alert(1)" not in html
    assert "data-mentions" in html


def test_the_panel_filters_and_loads_more_as_you_scroll(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
        for i in range(30):
            _done(org, owner, 100 - i, subject=f"Call {i}", contact=contact)
    client = web_client(owner, org)
    url = reverse("activities:timeline", args=["contact", contact.pk])

    first = _htmx(client, "get", url).content.decode()
    assert first.count('data-testid="timeline-entry"') == 25
    assert 'data-testid="timeline-more"' in first and 'hx-trigger="revealed, click"' in first
    with tenant_context(org, actor=owner):
        cursor = timeline(contact, user=owner).next_cursor
    more = _htmx(client, "get", url, {"cursor": cursor}).content.decode()
    assert more.count('data-testid="timeline-entry"') == 6  # 5 calls + the creation
    assert 'data-testid="timeline-more"' not in more and "Call 0" in more
    calls = _htmx(client, "get", url, {"types": "field"}).content.decode()
    assert calls.count('data-testid="timeline-entry"') == 1
    assert _htmx(client, "get", url, {"cursor": "nonsense"}).status_code == 400
    assert _htmx(client, "get", url, {"types": "gossip"}).status_code == 400
    assert client.get(url).status_code == 200  # without htmx: a page of its own


def test_the_panel_takes_a_fixed_number_of_queries(org, owner, django_assert_max_num_queries):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner)
        contact = make_contact(org, owner, company=company)
        deal = make_opportunity(org, owner, company=company, contact=contact)
    client = web_client(owner, org)
    url = reverse("activities:timeline", args=["company", company.pk])
    _htmx(client, "get", url)
    with django_assert_max_num_queries(10) as few:  # 3 of them: session, user, membership
        assert _htmx(client, "get", url).status_code == 200
    with tenant_context(org, actor=owner):
        for i in range(20):
            kind = ("call", "meeting", "task", "note")[i % 4]
            make_activity(org, owner, type=kind, contact=contact, opportunity=deal)
        opportunity_move(opportunity=deal, stage=_stage(org, "Proposal"), actor=owner)
        company_update(company=company, actor=owner, industry="Rockets", assigned_to=owner)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert _htmx(client, "get", url).status_code == 200


# --- the composer --------------------------------------------------------------------------


def test_a_note_from_the_composer_is_linked_and_sanitized(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner)
        contact = make_contact(org, owner, company=company)
    url = reverse("activities:timeline_compose", args=["contact", contact.pk])

    response = _htmx(
        web_client(owner, org),
        "post",
        url,
        {"kind": "note", "description": "<p>Wants a <b>demo</b><script>x()</script></p>"},
    )

    assert response.status_code == 200
    with tenant_context(org):
        note = Activity.objects.get()
    assert (note.type, note.status, note.subject) == ("note", "completed", "Wants a demo")
    assert note.description == "<p>Wants a <b>demo</b></p>"
    assert (note.contact_id, note.company_id, note.created_by_id) == (
        contact.pk,
        company.pk,
        owner.pk,
    )
    assert 'data-testid="timeline-notice"' in response.content.decode()


def test_logging_a_call_offers_a_follow_up_meeting_with_the_same_links(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
        deal = make_opportunity(org, owner, contact=contact)
    client = web_client(owner, org)
    url = reverse("activities:timeline_compose", args=["contact", contact.pk])
    call_fields = {
        "kind": "call",
        "subject": "Pricing call",
        "call_direction": "outbound",
        "call_outcome": "connected",
        "duration_minutes": "12",
        "notes": "Asked for a demo",
        "done": "on",
    }

    logged = _htmx(client, "post", url, call_fields).content.decode()

    with tenant_context(org):
        call = Activity.objects.get()
    assert (call.type, call.status, call.call_outcome, call.duration_minutes) == (
        "call",
        "completed",
        "connected",
        12,
    )
    assert call.completed_at is not None and call.contact_id == contact.pk
    assert 'data-testid="follow-up-meeting"' in logged
    assert f'name="follow_up_of" value="{call.pk}"' in logged
    assert 'value="Follow-up: Pricing call"' in logged
    # The follow-up meeting, as the rep would send it from the offered tab.
    Activity.objects.unscoped().filter(pk=call.pk).update(opportunity=deal)
    day = timezone.localdate() + datetime.timedelta(days=3)
    response = _htmx(
        client,
        "post",
        url,
        {
            "kind": "meeting",
            "subject": "Follow-up: Pricing call",
            "date": day.isoformat(),
            "time": "10:30",
            "duration_minutes": "45",
            "location": "Their office",
            "follow_up_of": str(call.pk),
        },
    )
    assert response.status_code == 200
    with tenant_context(org):
        meeting = Activity.objects.get(type="meeting")
        deal.refresh_from_db()
    assert meeting.follow_up_of_id == call.pk
    assert (meeting.contact_id, meeting.opportunity_id) == (contact.pk, deal.pk)
    assert timezone.localtime(meeting.scheduled_at).strftime("%H:%M") == "10:30"
    assert meeting.duration_minutes == 45 and meeting.status == "pending"
    assert deal.last_activity_at is not None


def test_a_task_on_a_deal_sets_its_last_activity(org, owner):
    with tenant_context(org, actor=owner):
        deal = make_opportunity(org, owner)
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(last_activity_at=ago(60 * 24 * 30))
    url = reverse("activities:timeline_compose", args=["opportunity", deal.pk])
    # Due tomorrow: scheduling it is the activity, so the clock resets to now (a task due
    # earlier today would count from its due time, which depends on when the test runs).
    due = timezone.localdate() + datetime.timedelta(days=1)
    response = _htmx(
        web_client(owner, org),
        "post",
        url,
        {
            "kind": "task",
            "subject": "Send the contract",
            "due_date": due.isoformat(),
            "priority": "high",
        },
    )
    assert response.status_code == 200
    with tenant_context(org):
        task = Activity.objects.get()
        deal.refresh_from_db()
    assert (task.opportunity_id, task.due_date, task.priority) == (deal.pk, due, "high")
    assert deal.last_activity_at > ago(5)


def test_bad_composer_input_shows_errors_and_saves_nothing(org, owner):
    with tenant_context(org, actor=owner):
        lead = make_lead(org, owner)
    client = web_client(owner, org)
    url = reverse("activities:timeline_compose", args=["lead", lead.pk])

    missing = _htmx(client, "post", url, {"kind": "meeting", "subject": "Demo"})
    empty_note = _htmx(client, "post", url, {"kind": "note", "description": "<p> </p>"})
    bad_link = _htmx(
        client,
        "post",
        url,
        {
            "kind": "meeting",
            "subject": "Demo",
            "date": "2030-01-01",
            "time": "09:00",
            "duration_minutes": "30",
            "video_url": "javascript:alert(1)",
        },
    )

    assert missing.status_code == 200 and "is-invalid" in missing.content.decode()
    assert "Write something first." in empty_note.content.decode()
    assert "is-invalid" in bad_link.content.decode()
    assert client.post(url, {"kind": "gossip"}).status_code == 400
    assert client.post(url, {"kind": "task"}).status_code == 400  # no subject, no htmx
    assert Activity.objects.unscoped().count() == 0


def test_a_read_only_member_sees_no_composer_and_cannot_post(org, owner):
    reader = make_member(org, Role.READ_ONLY)
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
    client = web_client(reader, org)
    panel = _htmx(client, "get", reverse("activities:timeline", args=["contact", contact.pk]))
    assert 'data-testid="timeline-composer"' not in panel.content.decode()
    url = reverse("activities:timeline_compose", args=["contact", contact.pk])
    assert client.post(url, {"kind": "note", "description": "Hi"}).status_code == 403
    assert Activity.objects.unscoped().count() == 0


def test_a_pending_task_is_marked_done_from_the_timeline(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
        other = make_contact(org, owner)
        task = make_activity(org, owner, type="task", subject="Call back", contact=contact)
        elsewhere = make_activity(org, owner, type="task", subject="Other", contact=other)
    client = web_client(owner, org)
    url = reverse("activities:timeline_complete", args=["contact", contact.pk])
    panel = _htmx(client, "get", reverse("activities:timeline", args=["contact", contact.pk]))
    assert 'data-testid="complete-activity"' in panel.content.decode()

    response = _htmx(client, "post", url, {"activity": str(task.pk)})

    assert response.status_code == 200 and "is done" in response.content.decode()
    assert client.post(url, {"activity": str(elsewhere.pk)}).status_code == 404
    assert client.post(url, {"activity": "nope"}).status_code == 404
    with tenant_context(org):
        assert Activity.objects.get(pk=task.pk).status == "completed"
        assert Activity.objects.get(pk=elsewhere.pk).status == "pending"


# --- export ----------------------------------------------------------------------------------


def test_the_csv_export_streams_every_entry(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ada", last_name="King")
        _done(org, owner, 10, subject="=HYPERLINK(evil)", contact=contact, call_outcome="busy")
        _done(
            org,
            owner,
            5,
            type="note",
            subject="Plain note",
            contact=contact,
            description="<p>Hello <b>there</b></p>",
        )
    url = reverse("activities:timeline_export")

    response = web_client(owner, org).get(url, {"record_type": "contact", "record_id": contact.pk})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response).decode().lstrip("\ufeff"))))
    assert rows[0] == [
        "Date",
        "Type",
        "Who",
        "Subject",
        "Details",
        "Status",
        "Concerns",
        "Activity ID",
    ]
    assert [r[1:4] for r in rows[1:]] == [
        ["Field changes", "Olivia Owner", "Created: Ada King"],
        ["Notes", "Olivia Owner", "Plain note"],
        ["Calls", "Olivia Owner", "'=HYPERLINK(evil)"],
    ]
    assert rows[2][4] == "Hello there" and rows[3][4] == "Busy" and rows[3][5] == "Completed"
    with tenant_context(org):
        call = Activity.objects.get(type="call")
    assert rows[3][7] == str(call.pk) and rows[1][7] == ""


def test_the_csv_export_answers_bad_requests_clearly(org, owner):
    support = make_member(org, Role.SUPPORT_AGENT)
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
    url = reverse("activities:timeline_export")
    client = web_client(owner, org)
    assert client.get(url).status_code == 400
    assert client.get(url, {"record_type": "ticket", "record_id": contact.pk}).status_code == 400
    assert client.get(url, {"record_type": "contact"}).status_code == 400
    assert client.get(url, {"record_type": "contact", "record_id": "x"}).status_code == 404
    assert (
        client.get(
            url, {"record_type": "contact", "record_id": contact.pk, "types": "x"}
        ).status_code
        == 400
    )
    denied = web_client(support, org).get(url, {"record_type": "contact", "record_id": contact.pk})
    assert denied.status_code == 403
