"""The organization's audit log page and API: who may see it, filters, append-only, queries."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Contact
from pulse.core.services import record_create, record_delete, record_update
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from pulse.extras.models import Tag
from pulse.extras.services import tag_create, tag_update
from tests.accounts.factories import make_member
from tests.conftest import login


def _age(obj, action: str, days: int) -> None:
    """Test set-up: date an entry ``days`` ago (entries are append-only through the ORM)."""
    AuditEntry.objects.unscoped().filter(object_id=str(obj.pk), action=action).update(
        created_at=timezone.now() - datetime.timedelta(days=days)
    )


@pytest.fixture
def history(org, owner, admin_user):
    """A few changes by two people, from two sources, on two record types."""
    with tenant_context(org, actor=owner, source="web"):
        tag = tag_create(org=org, actor=owner, name="VIP")
        contact = record_create(Contact, org=org, actor=owner, first_name="Ada")
    with tenant_context(org, actor=admin_user, source="api"):
        tag_update(tag=tag, actor=admin_user, name="V.I.P.")
        record_update(contact, actor=admin_user, last_name="Lovelace")
        record_delete(contact, actor=admin_user)
    _age(tag, "create", 10)
    _age(contact, "create", 10)
    return {"tag": tag, "contact": contact}


def _rows(response) -> int:
    return response.content.decode().count('data-testid="audit-row"')


def test_owner_and_admin_see_the_log_others_get_403(history, org, owner, admin_user, rep):
    assert login(owner, org).get(reverse("audit:log")).status_code == 200
    assert login(admin_user, org).get(reverse("audit:log")).status_code == 200
    assert login(rep, org).get(reverse("audit:log")).status_code == 403
    reader = make_member(org, Role.READ_ONLY)
    assert login(reader, org).get(reverse("audit:log")).status_code == 403
    assert api_client(rep, org).get("/api/crm/audit-log/").status_code == 403


def test_log_rows_show_actor_source_record_and_changes(history, org, owner):
    html = (
        login(owner, org).get(reverse("audit:log"), {"record_type": "extras.tag"}).content.decode()
    )
    assert html.count('data-testid="audit-row"') == 2
    assert '<span class="change-old">VIP</span>' in html
    assert '<span class="change-new">V.I.P.</span>' in html
    assert "Adam Admin" in html and "API" in html


def test_log_links_live_records_with_pages(history, org, owner):
    with tenant_context(org, actor=owner):
        live = record_create(Contact, org=org, actor=owner, first_name="Grace")
    html = (
        login(owner, org)
        .get(reverse("audit:log"), {"record_type": "contacts.contact"})
        .content.decode()
    )
    assert f'href="{live.get_absolute_url()}"' in html
    # The trashed contact is listed, without a link.
    assert history["contact"].get_absolute_url() not in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # the organization and 2 memberships (fixtures), tag create/update, contact c/u/d,
        # and the creation of the API token this test reads the API with
        ({}, 9),
        ({"record_type": "extras.tag"}, 2),
        ({"record_type": "contacts.contact"}, 3),
        ({"record_type": "no.such"}, 0),
        ({"action": "update"}, 2),
        ({"action": "delete"}, 1),
        ({"source": "api"}, 3),
        ({"record_type": "contacts.contact", "source": "web"}, 1),
    ],
)
def test_log_filters(history, org, owner, params, expected):
    api = api_client(owner, org)
    response = login(owner, org).get(reverse("audit:log"), params)
    assert response.status_code == 200
    assert _rows(response) == expected
    assert len(api.get("/api/crm/audit-log/", params).json()["results"]) == expected


def test_log_filter_by_user_and_dates(history, org, owner, admin_user):
    client = login(owner, org)
    assert _rows(client.get(reverse("audit:log"), {"actor": admin_user.pk})) == 3
    today = timezone.localdate()
    old = (today - datetime.timedelta(days=10)).isoformat()
    assert _rows(client.get(reverse("audit:log"), {"date_to": old})) == 2
    assert _rows(client.get(reverse("audit:log"), {"date_from": today.isoformat()})) == 6
    assert _rows(client.get(reverse("audit:log"), {"date_from": old, "date_to": old})) == 2
    api = api_client(owner, org).get("/api/crm/audit-log/", {"actor": admin_user.pk}).json()
    assert {row["actor_name"] for row in api["results"]} == {"Adam Admin"}


def test_api_one_records_history(history, org, owner):
    contact = history["contact"]
    response = api_client(owner, org).get(
        "/api/crm/audit-log/",
        {
            "content_type": ContentType.objects.get_for_model(Contact).pk,
            "object_id": str(contact.pk),
        },
    )
    results = response.json()["results"]
    assert [(r["action"], r["source"], r["record_type"]) for r in results] == [
        ("delete", "api", "contacts.contact"),
        ("update", "api", "contacts.contact"),
        ("create", "web", "contacts.contact"),
    ]
    assert results[1]["changes"] == {"last_name": ["", "Lovelace"]}
    detail = api_client(owner, org).get(f"/api/crm/audit-log/{results[0]['id']}/")
    assert detail.json()["object_repr"] == "Ada Lovelace"


def test_api_log_is_append_only(history, org, owner):
    client = api_client(owner, org)
    entry = AuditEntry.objects.unscoped().filter(object_id=str(history["tag"].pk))[0]
    url = f"/api/crm/audit-log/{entry.pk}/"
    before = list(AuditEntry.objects.unscoped().order_by("pk").values())
    assert (
        client.post("/api/crm/audit-log/", {"action": "create"}, format="json").status_code == 405
    )
    assert client.put(url, {"object_repr": "x"}, format="json").status_code == 405
    assert client.patch(url, {"object_repr": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert list(AuditEntry.objects.unscoped().order_by("pk").values()) == before


def test_api_log_uses_cursor_pages(history, org, owner):
    client = api_client(owner, org)
    first = client.get("/api/crm/audit-log/", {"page_size": 5}).json()
    assert len(first["results"]) == 5 and "count" not in first
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 4 and second["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 9  # 8 from the fixture, 1 for the API token made here


def test_log_pages_without_counting(history, org, owner):
    client = login(owner, org)
    from pulse.audit.views import AuditLogView

    per_page = AuditLogView.per_page
    AuditLogView.per_page = 3
    try:
        first = client.get(reverse("audit:log"))
        third = client.get(reverse("audit:log"), {"page": 3})
    finally:
        AuditLogView.per_page = per_page
    assert _rows(first) == 3 and "page=2" in first.content.decode()
    assert _rows(third) == 2 and "page=4" not in third.content.decode()


def test_log_htmx_gets_the_table_partial(history, org, owner):
    response = login(owner, org).get(
        reverse("audit:log"), {"action": "delete"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html and _rows(response) == 1


def test_log_page_query_count_is_pinned(org, owner, admin_user, django_assert_num_queries):
    client = login(owner, org)
    client.get(reverse("audit:log"))  # warm the content type cache

    def changes(n):
        with tenant_context(org, actor=owner, source="web"):
            for i in range(n):
                tag = tag_create(org=org, actor=owner, name=f"Tag {n}-{i}")
                tag_update(tag=tag, actor=owner, name=f"Renamed {n}-{i}")
                contact = record_create(Contact, org=org, actor=owner, first_name=f"C{n}{i}")
                record_update(contact, actor=owner, assigned_to=admin_user)

    changes(2)
    # session, user, membership; the page of entries; one query per related model
    # named by a changed foreign key (users) and per record type with pages (contacts);
    # the "user" filter's options; the layout's bell (its organization switcher reuses
    # the middleware's memberships).
    with django_assert_num_queries(8):
        small = client.get(reverse("audit:log"))
    changes(10)
    with django_assert_num_queries(8):
        large = client.get(reverse("audit:log"))
    assert _rows(small) < _rows(large) == 50
    assert large.content.decode().count("Adam Admin") >= 10


def test_log_lists_only_the_current_organizations_entries(
    history, org, owner, other_org, other_owner
):
    with tenant_context(other_org, actor=other_owner):
        tag_create(org=other_org, actor=other_owner, name="Globex secret")
    html = login(owner, org).get(reverse("audit:log")).content.decode()
    assert "Globex secret" not in html
    assert "VIP" in html
    assert Tag.objects.unscoped().count() == 2
