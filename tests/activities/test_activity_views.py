"""Activity web pages: list (filters, quick filters, overdue rows, bulk, inline edit),
detail (facts, sanitized text, checklist, complete + follow-up, cancel, reopen), form
(prefill, template, type fields, reminders, version check), quick create; pinned counts."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.activities.models import Activity
from pulse.core.tenancy import tenant_context
from pulse.core.testing import ViewTestCases, api_client, web_client
from pulse.core.testing.records import snapshot
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity, make_activity_template
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"

FORM = {
    "type": "call",
    "subject": "Intro call with Initech",
    "priority": "high",
    "scheduled_at": "2099-05-04T10:30",
    "duration_minutes": "30",
    "call_direction": "outbound",
    "description": "Ask about the budget.",
}


class TestActivityViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = Activity
    form_data = {k: v for k, v in FORM.items() if k != "scheduled_at"}
    edit_data = {**form_data, "subject": "Intro call, rescheduled", "priority": "urgent"}
    invalid_form_data = {"type": "meeting", "subject": "", "video_url": "not a link"}


def _act(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_activity(org, owner, **fields)


def _row(html, record):
    at = html.index(f'data-record-id="{record.pk}"')
    row = html[html.rindex("<tr", 0, at) :]
    return row[: row.index("</tr>")]


# --- list ---------------------------------------------------------------------------------


def test_list_highlights_overdue_rows_and_filters_overdue(org, owner):
    late = _act(org, owner, type="task", subject="Late task", due_date=datetime.date(2020, 1, 1))
    fine = _act(org, owner, type="task", subject="Future task", due_date=datetime.date(2099, 1, 1))
    client = web_client(owner, org)

    html = client.get(reverse("activities:activity_list")).content.decode()
    assert "activity-overdue" in _row(html, late) and 'data-testid="overdue"' in _row(html, late)
    assert "activity-overdue" not in _row(html, fine)

    html = client.get(reverse("activities:activity_list"), {"overdue": "true"}).content.decode()
    assert "Late task" in html and "Future task" not in html


def test_list_quick_filter_my_open_tasks(org, owner, rep):
    _act(org, owner, type="task", subject="Mine open")
    _act(org, owner, type="task", subject="Rita's task", assigned_to=rep)
    _act(org, owner, type="call", subject="My call")
    done = _act(org, owner, type="task", subject="Mine done", status="completed")

    html = (
        web_client(owner, org)
        .get(
            reverse("activities:activity_list"),
            {"type": "task", "status": "pending", "assigned_to": "me"},
        )
        .content.decode()
    )
    assert "Mine open" in html
    assert "Rita&#x27;s task" not in html and "My call" not in html and str(done.pk) not in html
    assert 'aria-current="true"' in html  # the quick filter is shown as chosen


def test_list_filters_by_related_record_and_sorts(org, owner):
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
    _act(org, owner, subject="B with Ada", contact=ada)
    _act(org, owner, subject="A without")
    client = web_client(owner, org)

    html = client.get(
        reverse("activities:activity_list"), {"contact": str(ada.pk)}
    ).content.decode()
    assert "B with Ada" in html and "A without" not in html

    html = client.get(reverse("activities:activity_list"), {"ordering": "subject"}).content.decode()
    assert html.index("A without") < html.index("B with Ada")


def test_list_escapes_subjects(org, owner):
    _act(org, owner, subject=XSS)
    html = web_client(owner, org).get(reverse("activities:activity_list")).content.decode()
    assert XSS not in html and "&lt;script&gt;" in html


def test_rep_with_team_visibility_sees_only_own(org, owner, rep):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    _act(org, owner, subject="Owner's call")
    _act(org, owner, subject="Rita call", assigned_to=rep)
    html = web_client(rep, org).get(reverse("activities:activity_list")).content.decode()
    assert "Rita call" in html and "Owner&#x27;s call" not in html


def test_bulk_assign_complete_cancel_delete(org, owner, rep):
    one, two = _act(org, owner, subject="One"), _act(org, owner, subject="Two")
    client = web_client(owner, org)
    url = reverse("activities:activity_bulk")
    ids = [str(one.pk), str(two.pk)]

    assert (
        client.post(url, {"ids": ids, "action": "assign", "assigned_to": rep.pk}).status_code == 302
    )
    client.post(url, {"ids": [str(one.pk)], "action": "complete"})
    client.post(url, {"ids": [str(two.pk)], "action": "cancel"})
    rows = {a.pk: a for a in Activity.objects.unscoped().filter(pk__in=ids)}
    assert {a.assigned_to_id for a in rows.values()} == {rep.pk}
    assert rows[one.pk].status == "completed" and rows[one.pk].completed_at is not None
    assert rows[two.pk].status == "cancelled"

    client.post(url, {"ids": [str(one.pk)], "action": "delete"})
    assert Activity.objects.unscoped().get(pk=one.pk).deleted_at is not None


def test_bulk_without_selection_changes_nothing(org, owner):
    one = _act(org, owner)
    before = snapshot(one)
    response = web_client(owner, org).post(
        reverse("activities:activity_bulk"), {"action": "complete"}, follow=True
    )
    assert "Select at least one activity." in response.content.decode()
    assert snapshot(one) == before


def test_read_only_member_cannot_bulk_or_edit(org, owner):
    reader = make_member(org, "read_only", full_name="Rob Reader")
    one = _act(org, owner)
    before = snapshot(one)
    client = web_client(reader, org)
    response = client.post(
        reverse("activities:activity_bulk"), {"ids": [str(one.pk)], "action": "complete"}
    )
    assert response.status_code == 403
    assert client.post(reverse("activities:activity_complete", args=[one.pk])).status_code == 403
    assert snapshot(one) == before


def test_inline_edit_subject(org, owner):
    one = _act(org, owner, subject="Old")
    client = web_client(owner, org)
    url = reverse("activities:activity_inline_edit", args=[one.pk])
    assert client.get(url, {"column": "subject"}).status_code == 200
    response = client.post(
        f"{url}?column=subject",
        {"subject": "New", "expected_version": one.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Activity.objects.unscoped().get(pk=one.pk).subject == "New"


# --- detail -------------------------------------------------------------------------------


def test_detail_shows_facts_links_and_sanitized_description(org, owner):
    with tenant_context(org, actor=owner):
        acme = make_company(org, owner, name="Acme")
        ada = make_contact(org, owner, first_name="Ada", last_name="Lovelace", company=acme)
    call = _act(
        org,
        owner,
        subject="Budget call",
        contact=ada,
        call_direction="inbound",
        call_outcome="voicemail",
        description=f"<p>Hello <b>there</b></p>{XSS}",
    )
    html = web_client(owner, org).get(call.get_absolute_url()).content.decode()
    assert "Budget call" in html and "Left voicemail" in html and "Inbound" in html
    assert ada.get_absolute_url() in html and acme.get_absolute_url() in html
    assert "<p>Hello <b>there</b></p>" in html and XSS not in html


def test_detail_of_meeting_shows_its_facts_and_loads_the_attendee_panel(org, owner):
    from tests.activities.factories import make_attendee

    with tenant_context(org, actor=owner):
        meeting = make_activity(org, owner, type="meeting", subject="Kick-off", location="Room 1")
        make_attendee(org, owner, activity=meeting, email="guest@example.com")
    client = web_client(owner, org)
    html = client.get(meeting.get_absolute_url()).content.decode()
    panel_url = reverse("activities:attendee_panel", args=[meeting.pk])
    assert "Room 1" in html and f'hx-get="{panel_url}"' in html
    assert "guest@example.com" in client.get(panel_url).content.decode()


def test_complete_with_follow_up(org, owner):
    call = _act(org, owner, subject="Discovery")
    response = web_client(owner, org).post(
        reverse("activities:activity_complete", args=[call.pk]),
        {
            "expected_version": call.version,
            "call_outcome": "connected",
            "notes": "Went well",
            "follow_up": "on",
            "follow_up_type": "task",
            "follow_up_subject": "Send proposal",
            "follow_up_due_date": "2026-06-01",
        },
    )
    assert response.status_code == 302
    call = Activity.objects.unscoped().get(pk=call.pk)
    assert (call.status, call.call_outcome, call.notes) == ("completed", "connected", "Went well")
    follow = Activity.objects.unscoped().get(follow_up_of=call)
    assert (follow.type, follow.subject, follow.due_date) == (
        "task",
        "Send proposal",
        datetime.date(2026, 6, 1),
    )


def test_complete_dialog_suggests_the_templates_follow_up(org, owner):
    with tenant_context(org, actor=owner):
        make_activity_template(
            org,
            owner,
            name="Discovery",
            subject="Discovery call",
            follow_up_type="task",
            follow_up_subject="Send proposal",
            follow_up_days=2,
        )
    call = _act(org, owner, subject="Discovery call")
    html = web_client(owner, org).get(call.get_absolute_url()).content.decode()
    due = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    assert 'value="Send proposal"' in html and f'value="{due}"' in html


def test_complete_follow_up_without_subject_is_refused(org, owner):
    call = _act(org, owner)
    before = snapshot(call)
    response = web_client(owner, org).post(
        reverse("activities:activity_complete", args=[call.pk]),
        {"follow_up": "on", "follow_up_type": "task", "follow_up_subject": ""},
    )
    assert response.status_code == 400
    assert "A follow-up needs a subject." in response.content.decode()
    assert snapshot(call) == before


def test_cancel_and_reopen(org, owner):
    call = _act(org, owner)
    client = web_client(owner, org)
    assert client.post(reverse("activities:activity_cancel", args=[call.pk])).status_code == 302
    assert Activity.objects.unscoped().get(pk=call.pk).status == "cancelled"
    assert client.post(reverse("activities:activity_reopen", args=[call.pk])).status_code == 302
    assert Activity.objects.unscoped().get(pk=call.pk).status == "pending"


def test_actions_on_other_organization_are_404(org, owner, other_org, other_owner):
    call = _act(org, owner)
    client = web_client(other_owner, other_org)
    for name in ("activity_complete", "activity_cancel", "activity_reopen"):
        assert client.post(reverse(f"activities:{name}", args=[call.pk])).status_code == 404
    assert Activity.objects.unscoped().get(pk=call.pk).status == "pending"


# --- form ---------------------------------------------------------------------------------


def test_form_prefills_from_query_and_template(org, owner):
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
        template = make_activity_template(
            org, owner, name="Demo", type="meeting", subject="Product demo", duration_minutes=60
        )
    html = (
        web_client(owner, org)
        .get(
            reverse("activities:activity_create"),
            {"contact": str(ada.pk), "template": str(template.pk)},
        )
        .content.decode()
    )
    assert 'value="Product demo"' in html and 'value="60"' in html
    assert f'<option value="{ada.pk}" selected>' in html
    assert "data-mentions" in html and 'data-types="call"' in html


def test_create_blanks_fields_of_other_types_and_logs_done(org, owner):
    response = web_client(owner, org).post(
        reverse("activities:activity_create"),
        {**FORM, "type": "note", "subject": "Met at the fair", "log_as_done": "on"},
    )
    assert response.status_code == 302
    note = Activity.objects.unscoped().get(subject="Met at the fair")
    assert (note.type, note.call_direction, note.status) == ("note", "", "completed")


def test_create_saves_reminders_and_edit_shows_them(org, owner):
    from pulse.activities.models import ActivityReminder

    client = web_client(owner, org)
    response = client.post(
        reverse("activities:activity_create"),
        {**FORM, "assigned_to": owner.pk, "reminders": ["15", "1440"]},
    )
    assert response.status_code == 302
    call = Activity.objects.unscoped().get(subject=FORM["subject"])
    offsets = (
        ActivityReminder.objects.unscoped()
        .filter(activity=call)
        .values_list("offset_minutes", flat=True)
    )
    assert sorted(offsets) == [15, 1440]
    html = client.get(reverse("activities:activity_edit", args=[call.pk])).content.decode()
    import re

    checked = re.findall(r'<input type="checkbox" name="reminders" value="(\d+)"[^>]*checked', html)
    assert checked == ["15", "1440"]


def test_completed_activity_refuses_reminders(org, owner):
    response = web_client(owner, org).post(
        reverse("activities:activity_create"), {**FORM, "log_as_done": "on", "reminders": ["15"]}
    )
    assert response.status_code == 400
    assert "A completed or cancelled activity has no reminders." in response.content.decode()
    assert not Activity.objects.unscoped().filter(subject=FORM["subject"]).exists()


def test_edit_with_stale_version_changes_nothing(org, owner):
    call = _act(org, owner, subject="Before")
    with tenant_context(org, actor=owner):
        from pulse.activities.services import activity_update

        activity_update(activity=call, actor=owner, subject="Someone else")
    before = snapshot(Activity.objects.unscoped().get(pk=call.pk))
    response = web_client(owner, org).post(
        reverse("activities:activity_edit", args=[call.pk]),
        {**FORM, "subject": "Mine", "expected_version": "1"},
    )
    assert response.status_code == 400
    assert "Someone else changed this record" in response.content.decode()
    assert snapshot(Activity.objects.unscoped().get(pk=call.pk)) == before


def test_quick_create(org, owner):
    client = web_client(owner, org)
    url = reverse("activities:activity_quick_create")
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    response = client.post(
        url,
        {"type": "task", "subject": "Call back", "assigned_to": owner.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "pulse:quickCreated" in response["HX-Trigger"]
    assert Activity.objects.unscoped().filter(subject="Call back", type="task").count() == 1


def test_lead_and_opportunity_pickers(org, owner):
    from tests.leads.factories import make_lead
    from tests.opportunities.factories import make_opportunity

    with tenant_context(org, actor=owner):
        make_lead(org, owner, title="Umbrella inquiry")
        make_opportunity(org, owner, name="Umbrella deal")
    client = web_client(owner, org)
    leads = client.get(reverse("activities:lead_options"), {"q": "umbrella"}).json()["results"]
    deals = client.get(reverse("activities:opportunity_options"), {"q": "umbrella"}).json()[
        "results"
    ]
    assert [r["text"] for r in leads] == ["Umbrella inquiry"]
    assert [r["text"] for r in deals] == ["Umbrella deal"]


def test_global_search_finds_activities(org, owner):
    _act(org, owner, subject="Quarterly review call")
    response = web_client(owner, org).get(reverse("core:search"), {"q": "quarterly"})
    assert "Quarterly review call" in response.content.decode()


# --- pinned query counts ------------------------------------------------------------------

# The same for 3 or 25 rows. List: session, user, membership, custom fields, count, rows
# (owner and related records joined), saved views, owners, bell, overdue badge.
# Detail: session, user, membership, the activity (relations joined), template lookup,
# checklist or attendees, follow-ups, bell, overdue badge.
LIST_QUERIES = 12
DETAIL_QUERIES = 12
API_LIST_QUERIES = 7


def _many(org, owner, n):
    with tenant_context(org, actor=owner):
        acme = make_company(org, owner, name="Acme")
        ada = make_contact(org, owner, first_name="Ada", last_name="L", company=acme)
        for i in range(n):
            make_activity(org, owner, type="task", subject=f"Task {i}", contact=ada)


@pytest.mark.parametrize("rows", [3, 25])
def test_query_counts_are_pinned(org, owner, rows, django_assert_max_num_queries):
    _many(org, owner, rows)
    task = Activity.objects.unscoped().filter(organization=org).first()
    client = web_client(owner, org)
    api = api_client(owner, org)
    client.get(reverse("activities:activity_list"))  # warm caches
    with django_assert_max_num_queries(LIST_QUERIES):
        assert client.get(reverse("activities:activity_list")).status_code == 200
    with django_assert_max_num_queries(DETAIL_QUERIES):
        assert client.get(task.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(API_LIST_QUERIES):
        assert api.get("/api/crm/activities/").status_code == 200
