"""Tags: services, the TagFilter, the tags page and API, and who may change them."""

from __future__ import annotations

import django_filters
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError
from pulse.core.services import record_create
from pulse.core.testing import api_client, web_client
from pulse.core.testing.records import snapshot
from pulse.extras.filters import TagFilter
from pulse.extras.models import Tag
from pulse.extras.services import tag_create, tag_delete, tag_update
from tests.accounts.factories import make_member
from tests.conftest import login

# --- services ----------------------------------------------------------------------------


def test_tag_names_are_unique_case_insensitively(in_org, owner):
    tag_create(org=in_org, actor=owner, name="VIP")
    with pytest.raises(ApplicationError) as caught:
        tag_create(org=in_org, actor=owner, name=" vip ")
    assert caught.value.errors == {"__all__": ["A tag with this name already exists."]}
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]


def test_a_trashed_tag_frees_its_name(in_org, owner):
    old = tag_create(org=in_org, actor=owner, name="VIP")
    tag_delete(tag=old, actor=owner)
    new = tag_create(org=in_org, actor=owner, name="VIP", color="#ABCDEF")
    assert new.color == "#abcdef"
    assert Tag.trash.get().pk == old.pk


def test_stale_version_is_refused(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    tag_update(tag=tag, actor=owner, name="V.I.P.", expected_version=1)
    with pytest.raises(ApplicationError) as caught:
        tag_update(tag=Tag.objects.get(), actor=owner, name="Lost", expected_version=1)
    assert list(caught.value.errors) == ["version"]
    assert Tag.objects.get().name == "V.I.P."


# --- TagFilter -----------------------------------------------------------------------------


class ContactTagFilterSet(django_filters.FilterSet):
    tags = TagFilter()

    class Meta:
        model = Contact
        fields = ["tags"]


@pytest.fixture
def tagged(in_org, owner):
    hot, cold, vip = (tag_create(org=in_org, actor=owner, name=n) for n in ("Hot", "Cold", "VIP"))

    def contact(name, *tags):
        return record_create(Contact, org=in_org, actor=owner, first_name=name, tags=list(tags))

    return {
        "tags": {"hot": hot, "cold": cold, "vip": vip},
        "contacts": {
            "ada": contact("Ada", hot, vip),
            "bob": contact("Bob", cold),
            "cy": contact("Cy", hot),
            "dee": contact("Dee"),
        },
    }


def _filter(params, tagged):
    filterset = ContactTagFilterSet(params, queryset=Contact.objects.all())
    assert filterset.is_valid(), filterset.errors
    names = {c.pk: name for name, c in tagged["contacts"].items()}
    return filterset.qs, {names[pk] for pk in filterset.qs.values_list("pk", flat=True)}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["hot"], {"ada", "cy"}),
        (["vip"], {"ada"}),
        (["hot", "cold"], {"ada", "bob", "cy"}),
        (["hot", "vip"], {"ada", "cy"}),
        ([], {"ada", "bob", "cy", "dee"}),
    ],
)
def test_tag_filter_matches_any_of_the_tags(tagged, tags, expected):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.setlist("tags", [str(tagged["tags"][t].pk) for t in tags])
    assert _filter(query, tagged)[1] == expected


def test_tag_filter_uses_a_subquery_not_join_and_distinct(tagged):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.setlist("tags", [str(tagged["tags"]["hot"].pk), str(tagged["tags"]["cold"].pk)])
    qs, names = _filter(query, tagged)
    sql = str(qs.query).upper()
    assert "DISTINCT" not in sql
    assert " IN (SELECT" in sql
    assert "JOIN" not in sql
    assert len(names) == qs.count() == 3  # every record once


def test_tag_filter_refuses_another_organizations_tag(tagged, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        foreign = tag_create(org=other_org, actor=other_owner, name="Hot")
    filterset = ContactTagFilterSet({"tags": [str(foreign.pk)]}, queryset=Contact.objects.all())
    assert not filterset.is_valid()
    assert list(filterset.errors) == ["tags"]


# --- tags page -----------------------------------------------------------------------------


def test_tags_page_lists_tags_with_colour_and_create_form(in_org, owner):
    tag_create(org=in_org, actor=owner, name="Hot lead", color="#ff0000")
    response = login(owner, in_org).get(reverse("extras:tag_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hot lead" in html
    assert "background:#ff0000" in html
    assert 'data-testid="tag-create-form"' in html
    assert reverse("extras:tag_edit", args=[Tag.objects.get().pk]) in html


def test_tags_page_search_htmx_returns_table_partial(in_org, owner):
    tag_create(org=in_org, actor=owner, name="Hot lead")
    tag_create(org=in_org, actor=owner, name="Cold lead")
    response = login(owner, in_org).get(
        reverse("extras:tag_list"), {"search": "hot"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html
    assert "Hot lead" in html
    assert "Cold lead" not in html


def test_create_edit_delete_tag_through_the_web(in_org, owner):
    client = login(owner, in_org)
    response = client.post(reverse("extras:tag_create"), {"name": "VIP", "color": "#00ff00"})
    assert response.status_code == 302
    assert response["Location"] == reverse("extras:tag_list")
    tag = Tag.objects.get()
    assert (tag.name, tag.color) == ("VIP", "#00ff00")

    response = client.post(
        reverse("extras:tag_edit", args=[tag.pk]),
        {"name": "Very important", "color": "#00ff00", "version": 1},
    )
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.version) == ("Very important", 2)

    response = client.post(reverse("extras:tag_delete", args=[tag.pk]))
    assert response.status_code == 302
    assert Tag.trash.get().pk == tag.pk
    actions = list(
        AuditEntry.objects.filter(object_id=str(tag.pk))
        .order_by("created_at")
        .values_list("action", "source")
    )
    assert actions == [("create", "web"), ("update", "web"), ("delete", "web")]


def test_duplicate_tag_name_shows_form_error_and_saves_nothing(in_org, owner):
    tag_create(org=in_org, actor=owner, name="VIP")
    response = login(owner, in_org).post(
        reverse("extras:tag_create"), {"name": "vip", "color": "#00ff00"}
    )
    assert response.status_code == 400
    assert "A tag with this name already exists." in response.content.decode()
    assert Tag.objects.count() == 1


def test_edit_page_of_another_organizations_tag_is_404(in_org, owner, other_org, other_owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    response = login(other_owner, other_org).get(reverse("extras:tag_edit", args=[tag.pk]))
    assert response.status_code == 404


def test_read_only_cannot_create_tags_via_ui_or_api(in_org):
    reader = make_member(in_org, Role.READ_ONLY)
    api = api_client(reader, in_org)  # making its token is itself logged
    audit_before = AuditEntry.objects.count()

    page = login(reader, in_org).get(reverse("extras:tag_list"))
    assert page.status_code == 200
    assert 'data-testid="tag-create-form"' not in page.content.decode()
    web = login(reader, in_org).post(
        reverse("extras:tag_create"), {"name": "X", "color": "#000000"}
    )
    api = api.post("/api/crm/tags/", {"name": "X", "color": "#000000"}, format="json")

    assert web.status_code == 403
    assert api.status_code == 403
    assert api.json() == {"errors": {"__all__": ["Your role does not allow this."]}}
    assert Tag.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


def test_read_only_cannot_edit_or_delete_tags(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    reader = make_member(in_org, Role.READ_ONLY)
    before = snapshot(tag)
    client = login(reader, in_org)
    assert client.post(reverse("extras:tag_edit", args=[tag.pk]), {"name": "X"}).status_code == 403
    assert client.post(reverse("extras:tag_delete", args=[tag.pk])).status_code == 403
    assert snapshot(tag) == before


def test_sales_rep_may_manage_tags_per_the_matrix(in_org, rep):
    response = login(rep, in_org).post(
        reverse("extras:tag_create"), {"name": "Rep tag", "color": "#123456"}
    )
    assert response.status_code == 302
    assert Tag.objects.get().created_by == rep


def test_tags_page_query_count_does_not_grow_with_tags(in_org, owner):
    client = login(owner, in_org)
    client.get(reverse("extras:tag_list"))  # warm caches (content types, session)
    for n in range(3):
        tag_create(org=in_org, actor=owner, name=f"Tag {n}")
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("extras:tag_list"))
    for n in range(3, 30):
        tag_create(org=in_org, actor=owner, name=f"Tag {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("extras:tag_list"))
    assert len(many) == len(few)


# --- API ---------------------------------------------------------------------------------


def test_api_tags_crud_and_search(in_org, owner):
    client = api_client(owner, in_org)
    created = client.post("/api/crm/tags/", {"name": "Hot lead", "color": "#FF0000"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["color"], body["version"]) == ("Hot lead", "#ff0000", 1)
    client.post("/api/crm/tags/", {"name": "Cold lead"}, format="json")

    listed = client.get("/api/crm/tags/", {"search": "HOT"}).json()
    assert [t["name"] for t in listed["results"]] == ["Hot lead"]

    url = f"/api/crm/tags/{body['id']}/"
    assert client.get(url).json()["name"] == "Hot lead"
    patched = client.patch(url, {"name": "Warm lead", "version": 1}, format="json")
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    stale = client.patch(url, {"name": "Lost", "version": 1}, format="json")
    assert stale.status_code == 400
    assert list(stale.json()["errors"]) == ["version"]
    assert client.delete(url).status_code == 204
    assert Tag.trash.get().name == "Warm lead"
    sources = set(AuditEntry.objects.filter(object_id=body["id"]).values_list("source", flat=True))
    assert sources == {"api"}


def test_api_duplicate_tag_is_a_400(in_org, owner):
    client = api_client(owner, in_org)
    client.post("/api/crm/tags/", {"name": "VIP"}, format="json")
    response = client.post("/api/crm/tags/", {"name": "vip"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": {"__all__": ["A tag with this name already exists."]}}


def test_web_client_sees_tags_of_its_organization_only(in_org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    tag_create(org=in_org, actor=owner, name="Mine")
    with tenant_context(other_org, actor=other_owner):
        tag_create(org=other_org, actor=other_owner, name="Theirs")
    html = web_client(owner, in_org).get(reverse("extras:tag_list")).content.decode()
    assert "Mine" in html and "Theirs" not in html
