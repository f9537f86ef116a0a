"""Notifications: notify after commit, the page, mark read (one / all), per-user isolation."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from pulse.core.testing import api_client
from pulse.extras.models import Notification
from pulse.extras.services import notify
from tests.conftest import login
from tests.extras.factories import make_notification


def test_notify_creates_after_commit_only(in_org, owner, rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify(
            org=in_org, recipient=rep, verb="You were assigned Ada", url="/contacts/1/", actor=owner
        )
        assert Notification.objects.count() == 0  # not before the commit
    assert len(callbacks) == 1
    notification = Notification.objects.get()
    assert (
        notification.recipient,
        notification.verb,
        notification.url,
        notification.created_by,
    ) == (
        rep,
        "You were assigned Ada",
        "/contacts/1/",
        owner,
    )


def test_notify_in_a_rolled_back_transaction_creates_nothing(
    in_org, owner, rep, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(org=in_org, recipient=rep, verb="Never", actor=owner)
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert Notification.objects.count() == 0


@pytest.fixture
def inbox(in_org, owner, rep):
    return {
        "old": make_notification(in_org, owner, recipient=rep, verb="Old news"),
        "new": make_notification(in_org, owner, recipient=rep, verb="Fresh news", url="/x/"),
        "owners": make_notification(in_org, owner, recipient=owner, verb="For the owner"),
    }


def test_page_lists_only_my_notifications_unread_first(inbox, in_org, rep):
    from django.utils import timezone

    Notification.objects.filter(pk=inbox["new"].pk).update(read_at=timezone.now())
    response = login(rep, in_org).get(reverse("extras:notification_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "For the owner" not in html
    assert html.index("Old news") < html.index("Fresh news")  # unread first
    assert html.count('data-unread="true"') == 1
    assert '<span class="position-absolute' in html  # the bell shows the unread count


def test_mark_one_read_with_htmx_updates_item_and_bell(inbox, in_org, rep):
    response = login(rep, in_org).post(
        reverse("extras:notification_read", args=[inbox["old"].pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{inbox["old"].pk}"' in html
    assert 'data-unread="true"' not in html
    assert 'id="notification-bell" hx-swap-oob="true"' in html
    inbox["old"].refresh_from_db()
    assert inbox["old"].read_at is not None
    assert Notification.objects.get(pk=inbox["new"].pk).read_at is None


def test_cannot_mark_someone_elses_notification(inbox, in_org, rep):
    response = login(rep, in_org).post(
        reverse("extras:notification_read", args=[inbox["owners"].pk])
    )
    assert response.status_code == 404
    assert Notification.objects.get(pk=inbox["owners"].pk).read_at is None


def test_mark_all_read_touches_only_mine(inbox, in_org, rep):
    client = login(rep, in_org)
    response = client.post(reverse("extras:notification_read_all"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="notification-list"' in response.content.decode()
    assert set(
        Notification.objects.filter(read_at__isnull=True).values_list("verb", flat=True)
    ) == {"For the owner"}
    plain = client.post(reverse("extras:notification_read_all"))
    assert plain.status_code == 302


def test_notifications_list_page_htmx_gets_the_partial(inbox, in_org, rep):
    response = login(rep, in_org).get(reverse("extras:notification_list"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="notification-list"' in html


# --- API ------------------------------------------------------------------------------------


def test_api_lists_own_notifications_and_marks_them_read(inbox, in_org, rep):
    client = api_client(rep, in_org)
    listed = client.get("/api/crm/notifications/").json()
    assert [n["verb"] for n in listed["results"]] == ["Fresh news", "Old news"]
    assert all(n["read"] is False for n in listed["results"])

    read = client.post(f"/api/crm/notifications/{inbox['old'].pk}/read/")
    assert read.status_code == 200
    assert read.json()["read"] is True
    assert [
        n["verb"]
        for n in client.get("/api/crm/notifications/", {"unread": "true"}).json()["results"]
    ] == ["Fresh news"]
    assert client.get(f"/api/crm/notifications/{inbox['new'].pk}/").json()["verb"] == "Fresh news"

    assert client.post("/api/crm/notifications/read-all/").json() == {"marked": 1}
    assert Notification.objects.get(pk=inbox["owners"].pk).read_at is None


def test_api_others_notifications_are_404_and_untouched(inbox, in_org, rep):
    client = api_client(rep, in_org)
    assert client.get(f"/api/crm/notifications/{inbox['owners'].pk}/").status_code == 404
    assert client.post(f"/api/crm/notifications/{inbox['owners'].pk}/read/").status_code == 404
    assert Notification.objects.get(pk=inbox["owners"].pk).read_at is None


def test_api_notifications_cannot_be_created_changed_or_deleted(inbox, in_org, rep):
    client = api_client(rep, in_org)
    url = f"/api/crm/notifications/{inbox['old'].pk}/"
    assert client.post("/api/crm/notifications/", {"verb": "x"}, format="json").status_code == 405
    assert client.patch(url, {"verb": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert Notification.objects.count() == 3
