"""Saved views: private vs shared, the list-page partial, the create/delete pages, the API."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from pulse.core.testing.records import snapshot
from pulse.extras.models import SavedView, Tag
from pulse.extras.selectors import saved_views_for
from pulse.extras.services import savedview_create, savedview_parse_querystring
from tests.conftest import login


@pytest.fixture
def contact_type(db):
    return ContentType.objects.get_for_model(Contact)


@pytest.fixture
def views(in_org, owner, rep, admin_user, contact_type):
    def make(actor, name, shared=False, content_type=contact_type):
        return savedview_create(
            org=in_org,
            actor=actor,
            content_type=content_type,
            name=name,
            shared=shared,
            **savedview_parse_querystring(
                "lifecycle_stage=customer&tags=1&tags=2&ordering=-created_at"
            ),
        )

    return {
        "owner_private": make(owner, "Owner private"),
        "owner_shared": make(owner, "Owner shared", shared=True),
        "rep_private": make(rep, "Rep private"),
        "admin_shared": make(admin_user, "Admin shared", shared=True),
        "tag_view": make(owner, "Other list", content_type=ContentType.objects.get_for_model(Tag)),
    }


def test_querystring_is_stored_without_page_and_given_back(views):
    view = views["owner_private"]
    assert view.filters == {"lifecycle_stage": "customer", "tags": ["1", "2"]}
    assert view.ordering == "-created_at"
    assert view.querystring == "lifecycle_stage=customer&tags=1&tags=2&ordering=-created_at"
    assert savedview_parse_querystring("page=3&q=x") == {
        "filters": {"q": "x"},
        "columns": [],
        "ordering": "",
    }


def test_users_see_their_own_and_shared_views_of_that_list(views, owner, rep):
    assert [v.name for v in saved_views_for(owner, Contact)] == [
        "Owner private",
        "Owner shared",
        "Admin shared",
    ]
    rep_views = saved_views_for(rep, Contact)
    assert [v.name for v in rep_views] == ["Rep private", "Admin shared", "Owner shared"]
    assert [v.name for v in rep_views.mine] == ["Rep private"]
    assert [v.name for v in rep_views.shared_by_others] == ["Admin shared", "Owner shared"]
    assert rep_views.content_type_id == ContentType.objects.get_for_model(Contact).pk


def test_views_of_another_organization_are_invisible(views, other_org, other_owner):
    with tenant_context(other_org, actor=other_owner):
        assert list(saved_views_for(other_owner, Contact)) == []


def test_partial_renders_views_and_save_form(views, owner, in_org):
    request = RequestFactory().get("/contacts/", {"lifecycle_stage": "lead", "page": "2"})
    request.user = owner
    html = render_to_string(
        "extras/partials/saved_views.html",
        {"saved_views": saved_views_for(owner, Contact), "request": request},
    )
    assert (
        'href="/contacts/?lifecycle_stage=customer&amp;tags=1&amp;tags=2&amp;ordering=-created_at"'
        in html
    )
    assert "Owner private" in html and "Admin shared" in html and "Rep private" not in html
    assert f'value="{ContentType.objects.get_for_model(Contact).pk}"' in html
    assert 'name="querystring" value="lifecycle_stage=lead&amp;page=2"' in html
    assert reverse("extras:savedview_create") in html
    assert reverse("extras:savedview_delete", args=[views["owner_private"].pk]) in html
    # No delete button for someone else's shared view.
    assert reverse("extras:savedview_delete", args=[views["admin_shared"].pk]) not in html


def test_save_current_view_through_the_web(in_org, rep, contact_type):
    response = login(rep, in_org).post(
        reverse("extras:savedview_create"),
        {
            "content_type": contact_type.pk,
            "name": "My customers",
            "shared": "on",
            "querystring": "lifecycle_stage=customer&page=4",
            "next": "/contacts/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/contacts/?lifecycle_stage=customer"
    view = SavedView.objects.get()
    assert (view.name, view.owner, view.shared, view.filters) == (
        "My customers",
        rep,
        True,
        {"lifecycle_stage": "customer"},
    )


def test_save_view_refuses_an_offsite_next_and_a_missing_name(in_org, rep, contact_type):
    client = login(rep, in_org)
    response = client.post(
        reverse("extras:savedview_create"),
        {"content_type": contact_type.pk, "name": "", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    assert SavedView.objects.count() == 0


def test_delete_own_view_but_not_someone_elses(views, in_org, rep):
    client = login(rep, in_org)
    foreign = views["owner_shared"]
    before = snapshot(foreign)
    response = client.post(
        reverse("extras:savedview_delete", args=[foreign.pk]), {"next": "/contacts/"}
    )
    assert response.status_code == 404
    assert snapshot(foreign) == before

    response = client.post(
        reverse("extras:savedview_delete", args=[views["rep_private"].pk]), {"next": "/contacts/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/contacts/"
    assert SavedView.trash.get().pk == views["rep_private"].pk


def test_service_refuses_bad_filters(in_org, owner, contact_type):
    with pytest.raises(ApplicationError) as caught:
        savedview_create(
            org=in_org, actor=owner, content_type=contact_type, name="x", filters={"a": {"b": 1}}
        )
    assert list(caught.value.errors) == ["filters"]


# --- API -----------------------------------------------------------------------------------


def test_api_lists_own_and_shared_views(views, in_org, rep):
    response = api_client(rep, in_org).get(
        "/api/crm/saved-views/", {"record_type": "contacts.contact"}
    )
    assert [v["name"] for v in response.json()["results"]] == [
        "Admin shared",
        "Owner shared",
        "Rep private",
    ]


def test_api_create_update_delete_own_view(in_org, rep):
    client = api_client(rep, in_org)
    created = client.post(
        "/api/crm/saved-views/",
        {
            "record_type": "contacts.contact",
            "name": "Hot",
            "filters": {"tags": ["a", "b"]},
            "ordering": "last_name",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["owner"], body["querystring"], body["shared"]) == (
        rep.pk,
        "tags=a&tags=b&ordering=last_name",
        False,
    )
    url = f"/api/crm/saved-views/{body['id']}/"
    assert client.patch(url, {"shared": True}, format="json").json()["shared"] is True
    moved = client.patch(url, {"record_type": "extras.tag"}, format="json")
    assert moved.status_code == 400
    assert moved.json() == {
        "errors": {"record_type": ["This cannot be changed once the view exists."]}
    }
    assert client.delete(url).status_code == 204


def test_api_others_shared_view_is_read_only(views, in_org, rep):
    client = api_client(rep, in_org)
    shared = views["owner_shared"]
    before = snapshot(shared)
    url = f"/api/crm/saved-views/{shared.pk}/"
    assert client.get(url).status_code == 200
    assert client.patch(url, {"name": "Mine now"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(f"/api/crm/saved-views/{views['owner_private'].pk}/").status_code == 404
    assert snapshot(shared) == before


def test_api_admin_may_delete_a_shared_view(views, in_org, admin_user):
    url = f"/api/crm/saved-views/{views['owner_shared'].pk}/"
    assert api_client(admin_user, in_org).delete(url).status_code == 204
