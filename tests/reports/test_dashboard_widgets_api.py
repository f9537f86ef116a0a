"""``/api/crm/dashboards/``: the caller's own and the published dashboards, their widgets
(add, change, remove, reorder) through the same services as the page; isolation between
organizations and between users; a rep cannot change a published dashboard."""

from __future__ import annotations

import pytest

from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape
from pulse.reports import services
from pulse.reports.models import Dashboard, DashboardWidget

pytestmark = pytest.mark.django_db

BASE = "/api/crm/dashboards/"


def layout(dashboard) -> list[tuple]:
    return [
        (w.kind, w.width, w.period, w.position)
        for w in DashboardWidget.objects.unscoped()
        .filter(dashboard=dashboard, deleted_at__isnull=True)
        .order_by("position")
    ]


@pytest.fixture
def shared(org, owner):
    with tenant_context(org, actor=owner):
        return services.dashboard_create(org=org, actor=owner, name="Reps", roles=["sales_rep"])


@pytest.fixture
def mine(org, rep, shared):
    with tenant_context(org, actor=rep):
        return services.dashboard_for_user(user=rep, org=org, for_edit=True)


def test_list_is_own_and_published_with_widgets(
    org, owner, rep, shared, mine, django_assert_num_queries
):
    with tenant_context(org, actor=owner):
        services.dashboard_for_user(user=owner, org=org, for_edit=True)  # not the rep's
    client = api_client(rep, org)
    client.get(BASE)
    with django_assert_num_queries(6):
        response = client.get(BASE)
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert {(r["name"], r["is_published"]) for r in rows} == {
        ("Reps", True),
        ("Dashboard", True),  # the organization default, made when the owner first looked
        ("My dashboard", False),
    }
    own = next(r for r in rows if not r["is_published"])
    assert own["source"] == str(shared.pk)
    assert [w["kind"] for w in own["widgets"]] == [k for k, *_ in layout(mine)]
    current = client.get(f"{BASE}current/").json()
    assert current["id"] == str(mine.pk)


def test_another_organization_sees_none_of_them(org, shared, mine, other_org, other_owner):
    client = api_client(other_owner, other_org)
    assert client.get(f"{BASE}{shared.pk}/").status_code == 404
    assert client.get(f"{BASE}{mine.pk}/").status_code == 404
    widget = DashboardWidget.objects.unscoped().filter(dashboard=mine).first()
    response = client.patch(f"{BASE}{mine.pk}/widgets/{widget.pk}/", {"width": 12}, format="json")
    assert response.status_code == 404
    assert layout(mine)[0][1] == 3


def test_another_users_own_dashboard_is_404(org, owner, mine):
    client = api_client(owner, org)  # even an owner does not see a rep's own arrangement
    assert client.get(f"{BASE}{mine.pk}/").status_code == 404


def test_arrange_widgets_through_the_api(org, rep, mine):
    client = api_client(rep, org)
    url = f"{BASE}{mine.pk}/widgets/"
    added = client.post(url, {"kind": "win_rate", "period": "this_year", "width": 6}, format="json")
    assert added.status_code == 201
    body = added.json()
    count = len(layout(mine))
    assert (body["kind"], body["width"], body["period"], body["position"]) == (
        "win_rate",
        6,
        "this_year",
        count - 1,
    )
    changed = client.patch(f"{url}{body['id']}/", {"width": 12, "title": "Wins"}, format="json")
    assert (changed.json()["width"], changed.json()["title"]) == (12, "Wins")
    ids = [w["id"] for w in client.get(url).json()]
    wanted = [ids[-1], *ids[:-1]]
    reordered = client.post(f"{url}reorder/", {"ids": wanted}, format="json")
    assert [w["id"] for w in reordered.json()] == wanted
    assert client.delete(f"{url}{ids[0]}/").status_code == 204
    live = DashboardWidget.objects.unscoped().filter(dashboard=mine, deleted_at__isnull=True)
    assert [str(w.pk) for w in live.order_by("position")] == [i for i in wanted if i != ids[0]]


def test_bad_widgets_are_400_with_field_errors(org, rep, mine):
    client = api_client(rep, org)
    before = layout(mine)
    url = f"{BASE}{mine.pk}/widgets/"
    errors = assert_error_shape(client.post(url, {"kind": "tea_leaves"}, format="json"))
    assert errors == {"kind": ["Unknown widget “tea_leaves”."]}
    assert_error_shape(client.post(url, {"kind": "report"}, format="json"), fields=["report"])
    assert_error_shape(
        client.post(url, {"kind": "win_rate", "period": "someday"}, format="json"),
        fields=["period"],
    )
    errors = assert_error_shape(client.post(f"{url}reorder/", {"ids": []}, format="json"))
    assert errors == {"ids": ["Send every widget of this dashboard once, in the new order."]}
    assert layout(mine) == before


def test_a_rep_cannot_change_a_published_dashboard(org, rep, shared):
    client = api_client(rep, org)
    before = layout(shared)
    widget = DashboardWidget.objects.unscoped().filter(dashboard=shared).order_by("position")[0]
    url = f"{BASE}{shared.pk}/"
    attempts = [
        client.patch(url, {"name": "Mine now"}, format="json"),
        client.delete(url),
        client.post(f"{url}widgets/", {"kind": "win_rate"}, format="json"),
        client.patch(f"{url}widgets/{widget.pk}/", {"width": 12}, format="json"),
        client.delete(f"{url}widgets/{widget.pk}/"),
        client.post(f"{url}widgets/reorder/", {"ids": []}, format="json"),
        client.post(f"{url}publish/", {"name": "X", "roles": ["sales_rep"]}, format="json"),
        client.post(BASE, {"name": "Rep's own published"}, format="json"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    shared.refresh_from_db()
    assert (shared.name, shared.is_deleted) == ("Reps", False)
    assert layout(shared) == before
    assert Dashboard.objects.unscoped().filter(owner__isnull=True).count() == 1


def test_admin_creates_edits_and_publishes(org, owner, shared):
    client = api_client(owner, org)
    created = client.post(
        BASE, {"name": "Managers", "roles": ["manager"], "is_default": True}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["roles"], body["is_default"], body["owner"]) == (
        "Managers",
        ["manager"],
        True,
        None,
    )
    assert len(body["widgets"]) == len(layout(shared))
    # the admin edits the published one itself
    widget = body["widgets"][0]["id"]
    response = client.patch(f"{BASE}{body['id']}/widgets/{widget}/", {"width": 12}, format="json")
    assert response.status_code == 200
    assert layout(shared)[0][1] == 3  # another published dashboard is untouched
    renamed = client.patch(f"{BASE}{body['id']}/", {"name": "Leads"}, format="json")
    assert renamed.json()["name"] == "Leads"
    errors = assert_error_shape(
        client.patch(f"{BASE}{body['id']}/", {"roles": ["pope"]}, format="json")
    )
    assert list(errors) == ["roles"]
    # publish the admin's own arrangement over "Reps"
    with tenant_context(org, actor=owner):
        own = services.dashboard_for_user(user=owner, org=org, for_edit=True)
        services.widget_add(dashboard=own, actor=owner, kind="inactive_contacts")
    response = client.post(
        f"{BASE}{own.pk}/publish/",
        {"name": "Reps", "roles": ["sales_rep"], "target": str(shared.pk)},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["id"] == str(shared.pk)
    assert layout(shared)[-1][0] == "inactive_contacts"


def test_scope_through_the_api_is_limited_by_the_role(org, rep, mine):
    from tests.accounts.factories import make_team

    north = make_team(org, "North", members=[rep])
    south = make_team(org, "South")
    client = api_client(rep, org)
    url = f"{BASE}{mine.pk}/scope/"
    response = client.post(url, {"scope": "team", "team": str(north.pk)}, format="json")
    assert (response.json()["scope"], response.json()["scope_team"]) == ("team", str(north.pk))
    denied = client.post(url, {"scope": "team", "team": str(south.pk)}, format="json")
    assert denied.status_code == 403
    mine.refresh_from_db()
    assert (mine.scope, mine.scope_team) == ("team", north)
