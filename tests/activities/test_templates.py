"""Activity templates: services, defaults, the settings page (admins write, others read)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.activities import services
from pulse.activities.models import ActivityTemplate
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import ViewTestCases, web_client
from tests.activities.factories import make_activity_template

pytestmark = pytest.mark.django_db


class TestActivityTemplateViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = ActivityTemplate
    form_data = {"name": "Demo", "type": "meeting", "subject": "Product demo", "priority": "normal"}
    invalid_form_data = {"name": "", "type": "lunch", "subject": ""}


def test_ensure_defaults_is_idempotent(in_org, owner):
    created = services.activitytemplate_ensure_defaults(in_org, owner)
    assert [t.name for t in created] == [
        "Discovery call",
        "Demo meeting",
        "Send proposal",
        "Check-in call",
    ]
    discovery = created[0]
    assert (discovery.duration_minutes, discovery.follow_up_type, discovery.follow_up_days) == (
        30,
        "task",
        2,
    )
    assert services.activitytemplate_ensure_defaults(in_org, owner) == []
    assert ActivityTemplate.objects.count() == 4


def test_follow_up_needs_a_subject_and_names_are_unique(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        services.activitytemplate_create(
            org=in_org, actor=owner, name="X", type="call", subject="X", follow_up_type="task"
        )
    assert exc.value.errors == {"follow_up_subject": ["A follow-up needs a subject."]}
    services.activitytemplate_create(org=in_org, actor=owner, name="Same", type="call", subject="S")
    with pytest.raises(ApplicationError):
        services.activitytemplate_create(
            org=in_org, actor=owner, name="Same", type="task", subject="T"
        )
    assert ActivityTemplate.objects.count() == 1


def test_description_is_sanitized(in_org, owner):
    template = services.activitytemplate_create(
        org=in_org,
        actor=owner,
        name="N",
        type="note",
        subject="S",
        description="<b>x</b><script>1</script>",
    )
    assert template.description == "<b>x</b>"


def test_rep_reads_but_cannot_write(org, owner, rep):
    with tenant_context(org, actor=owner):
        template = make_activity_template(org, owner, name="Check-in")
    client = web_client(rep, org)
    html = client.get(reverse("activities:activitytemplate_list")).content.decode()
    assert "Check-in" in html and reverse("activities:activitytemplate_create") not in html
    assert (
        client.post(reverse("activities:activitytemplate_create"), {"name": "x"}).status_code == 403
    )
    assert (
        client.post(reverse("activities:activitytemplate_delete", args=[template.pk])).status_code
        == 403
    )
    assert ActivityTemplate.objects.unscoped().filter(deleted_at__isnull=True).count() == 1
