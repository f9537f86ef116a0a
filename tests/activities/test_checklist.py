"""Checklist services and the detail page's htmx checklist."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.activities import services
from pulse.activities.models import ActivityChecklistItem
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity

pytestmark = pytest.mark.django_db


def _texts(task):
    return list(
        ActivityChecklistItem.objects.unscoped()
        .filter(activity=task, deleted_at__isnull=True)
        .order_by("position")
        .values_list("text", "done")
    )


def test_add_toggle_reorder_remove_are_audited(in_org, owner):
    task = make_activity(in_org, owner, type="task", subject="Prepare demo")
    a = services.checklist_item_add(activity=task, actor=owner, text=" Slides ")
    b = services.checklist_item_add(activity=task, actor=owner, text="Data")
    services.checklist_item_update(item=a, actor=owner, done=True)
    services.checklist_item_reorder(activity=task, actor=owner, ids=[b.pk, a.pk])
    assert _texts(task) == [("Data", False), ("Slides", True)]
    services.checklist_item_remove(item=b, actor=owner)
    assert _texts(task) == [("Slides", True)]
    logged = AuditEntry.objects.unscoped().filter(object_id=str(a.pk)).count()
    assert logged >= 3  # created, ticked, moved


def test_refusals_change_nothing(in_org, owner):
    call = make_activity(in_org, owner, type="call")
    task = make_activity(in_org, owner, type="task")
    a = services.checklist_item_add(activity=task, actor=owner, text="One")
    with pytest.raises(ApplicationError) as exc:
        services.checklist_item_add(activity=call, actor=owner, text="Nope")
    assert exc.value.errors == {"text": ["Only a task has a checklist."]}
    with pytest.raises(ApplicationError):
        services.checklist_item_add(activity=task, actor=owner, text="   ")
    with pytest.raises(ApplicationError):
        services.checklist_item_reorder(activity=task, actor=owner, ids=[a.pk, a.pk])
    assert _texts(task) == [("One", False)]


def test_htmx_checklist_on_the_page(org, owner):
    with tenant_context(org, actor=owner):
        task = make_activity(org, owner, type="task", subject="Prepare demo")
    client = web_client(owner, org)
    add = reverse("activities:activity_checklist_add", args=[task.pk])
    html = client.post(add, {"text": "Slides"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Slides" in html and 'data-testid="checklist-item"' in html
    client.post(add, {"text": "Room"}, HTTP_HX_REQUEST="true")
    first, second = (
        ActivityChecklistItem.objects.unscoped().filter(activity=task).order_by("position")
    )
    client.post(reverse("activities:checklistitem_toggle", args=[first.pk]), HTTP_HX_REQUEST="true")
    client.post(
        reverse("activities:activity_checklist_reorder", args=[task.pk]),
        {"id": [str(second.pk), str(first.pk)]},
        HTTP_HX_REQUEST="true",
    )
    response = client.post(reverse("activities:checklistitem_delete", args=[second.pk]))
    assert response.status_code == 302
    assert _texts(task) == [("Slides", True)]
    assert 'data-testid="checklist"' in client.get(task.get_absolute_url()).content.decode()


def test_checklist_denied_to_read_only_and_other_org(org, owner, other_org, other_owner):
    with tenant_context(org, actor=owner):
        task = make_activity(org, owner, type="task")
        item = services.checklist_item_add(activity=task, actor=owner, text="One")
    reader = make_member(org, "read_only", full_name="Rob Reader")
    toggle = reverse("activities:checklistitem_toggle", args=[item.pk])
    assert web_client(reader, org).post(toggle).status_code == 403
    assert web_client(other_owner, other_org).post(toggle).status_code == 404
    add = reverse("activities:activity_checklist_add", args=[task.pk])
    assert web_client(other_owner, other_org).post(add, {"text": "x"}).status_code == 404
    assert _texts(task) == [("One", False)]
