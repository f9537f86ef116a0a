"""/api/crm/activities/ and /api/crm/activity-templates/: CRUD, filters, complete with a
follow-up, cancel, nested checklist, permissions, the error shape."""

from __future__ import annotations

import datetime

import pytest

from pulse.activities.models import Activity, ActivityTemplate
from pulse.core.tenancy import tenant_context
from pulse.core.testing import APITestCases, api_client, assert_error_shape
from pulse.core.testing.records import snapshot
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db
URL = "/api/crm/activities/"


class TestActivityAPI(APITestCases.APITestCase):
    model = Activity
    api_basename = "activity"

    def create_data(self, world):
        contact = make_contact(world.org, world.owner)
        return {
            "type": "meeting",
            "subject": "Quarterly review",
            "scheduled_at": "2099-03-01T10:00:00Z",
            "duration_minutes": 60,
            "contact_id": str(contact.pk),
            "location": "HQ",
        }

    update_data = {"subject": "Quarterly review (moved)", "priority": "high"}
    invalid_create_data = {"type": "meeting", "subject": "", "due_date": "someday"}
    invalid_create_error_fields = {"subject", "due_date"}


class TestActivityTemplateAPI(APITestCases.APITestCase):
    model = ActivityTemplate
    api_basename = "activitytemplate"
    create_data = {
        "name": "Demo",
        "type": "meeting",
        "subject": "Product demo",
        "duration_minutes": 60,
    }
    update_data = {"subject": "Product demo (45 min)", "duration_minutes": 45}
    invalid_create_data = {"name": "", "type": "lunch"}
    invalid_create_error_fields = {"name", "type"}


def _act(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_activity(org, owner, **fields)


def test_list_filters_equal_the_ui(org, owner, rep):
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada", last_name="L")
    a = _act(org, owner, subject="Call Ada", contact=ada)
    b = _act(
        org, owner, type="task", subject="Late", due_date=datetime.date(2020, 1, 1), assigned_to=rep
    )
    api = api_client(owner, org)

    def ids(params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids({"contact": str(ada.pk)}) == {str(a.pk)}
    assert ids({"company": str(ada.company_id)} if ada.company_id else {"type": "call"}) == {
        str(a.pk)
    }
    assert ids({"overdue": "true"}) == {str(b.pk)}
    assert ids({"assigned_to": str(rep.pk)}) == {str(b.pk)}
    assert ids({"type": "task", "status": "pending"}) == {str(b.pk)}
    assert ids({"search": "ada"}) == {str(a.pk)}
    assert ids({"occurred_after": "2020-01-01", "occurred_before": "2020-01-01"}) == {str(b.pk)}
    rows = api.get(URL, {"ordering": "subject"}).json()["results"]
    assert [r["subject"] for r in rows] == ["Call Ada", "Late"]
    row = rows[0]
    assert row["contact_id"] == str(ada.pk) and row["assigned_to"] == owner.pk
    assert row["created_by"] == owner.pk and "created_at" in row and row["is_overdue"] is False


def test_bad_filter_is_400_with_error_shape(org, owner):
    response = api_client(owner, org).get(URL, {"occurred_after": "yesterday", "type": "lunch"})
    assert_error_shape(response, 400, {"occurred", "type"} & set(response.json()["errors"]) or None)


def test_complete_with_follow_up_and_cancel(org, owner):
    call = _act(org, owner, subject="Discovery")
    api = api_client(owner, org)
    response = api.post(
        f"{URL}{call.pk}/complete/",
        {
            "version": call.version,
            "call_outcome": "connected",
            "follow_up": {"type": "task", "subject": "Send proposal", "due_date": "2099-01-02"},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (
        body["activity"]["status"] == "completed"
        and body["activity"]["call_outcome"] == "connected"
    )
    assert body["follow_up"]["subject"] == "Send proposal"
    assert body["follow_up"]["follow_up_of"] == str(call.pk)

    other = _act(org, owner, subject="Check-in")
    response = api.post(f"{URL}{other.pk}/cancel/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    # Completing a cancelled activity is refused with the error shape, nothing changes.
    before = snapshot(Activity.objects.unscoped().get(pk=other.pk))
    assert_error_shape(api.post(f"{URL}{other.pk}/complete/", {}, format="json"), 400)
    assert snapshot(Activity.objects.unscoped().get(pk=other.pk)) == before


def test_stale_version_is_refused(org, owner):
    call = _act(org, owner)
    api = api_client(owner, org)
    response = api.patch(
        f"{URL}{call.pk}/", {"subject": "x", "version": call.version + 5}, format="json"
    )
    assert_error_shape(response, 400, {"version"})


def test_checklist_nested(org, owner):
    task = _act(org, owner, type="task", subject="Prepare")
    api = api_client(owner, org)
    first = api.post(f"{URL}{task.pk}/checklist/", {"text": "Slides"}, format="json").json()
    second = api.post(f"{URL}{task.pk}/checklist/", {"text": "Demo data"}, format="json").json()
    response = api.patch(f"{URL}{task.pk}/checklist/{first['id']}/", {"done": True}, format="json")
    assert response.status_code == 200 and response.json()["done"] is True
    response = api.post(
        f"{URL}{task.pk}/checklist/reorder/", {"ids": [second["id"], first["id"]]}, format="json"
    )
    assert [r["text"] for r in response.json()] == ["Demo data", "Slides"]
    assert api.delete(f"{URL}{task.pk}/checklist/{second['id']}/").status_code == 204
    rows = api.get(f"{URL}{task.pk}/checklist/").json()
    assert [(r["text"], r["done"]) for r in rows] == [("Slides", True)]
    assert_error_shape(api.post(f"{URL}{task.pk}/checklist/", {"text": ""}, format="json"), 400)


def test_read_only_member_cannot_write(org, owner):
    reader = make_member(org, "read_only", full_name="Rob Reader")
    call = _act(org, owner)
    before = snapshot(call)
    api = api_client(reader, org)
    assert api.get(f"{URL}{call.pk}/").status_code == 200
    assert api.patch(f"{URL}{call.pk}/", {"subject": "x"}, format="json").status_code == 403
    assert api.post(f"{URL}{call.pk}/complete/", {}, format="json").status_code == 403
    assert snapshot(call) == before


def test_other_organization_gets_404(org, owner, other_org, other_owner):
    task = _act(org, owner, type="task")
    api = api_client(other_owner, other_org)
    for method, path in (
        ("get", f"{URL}{task.pk}/"),
        ("post", f"{URL}{task.pk}/complete/"),
        ("post", f"{URL}{task.pk}/cancel/"),
        ("get", f"{URL}{task.pk}/checklist/"),
    ):
        assert getattr(api, method)(path, {}, format="json").status_code == 404
