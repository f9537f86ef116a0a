"""The trash: grouped by type, restore (with relations), delete forever, API, queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Role, Team
from pulse.audit.models import AuditEntry
from pulse.audit.selectors import trash_models
from pulse.contacts.models import Contact
from pulse.core.services import record_create, record_delete
from pulse.core.testing import api_client, get_factory
from pulse.core.testing.records import is_trashed, snapshot
from pulse.extras.models import Tag
from pulse.extras.services import tag_create, tag_delete
from tests.accounts.factories import make_member
from tests.conftest import login


@pytest.fixture
def trashed(in_org, owner, admin_user):
    hot = tag_create(org=in_org, actor=owner, name="Hot")
    vip = tag_create(org=in_org, actor=owner, name="VIP")
    contact = record_create(Contact, org=in_org, actor=owner, first_name="Ada", tags=[hot, vip])
    record_delete(contact, actor=admin_user)
    old_tag = tag_create(org=in_org, actor=owner, name="Old")
    tag_delete(tag=old_tag, actor=owner)
    team = record_create(Team, org=in_org, actor=owner, name="Closers")
    record_delete(team, actor=owner)
    return {"contact": contact, "tag": old_tag, "team": team, "hot": hot, "vip": vip}


def test_every_concrete_record_type_is_trashable():
    labels = {m._meta.label for m in trash_models()}
    assert {"contacts.Contact", "contacts.Company", "extras.Tag", "accounts.Team"} <= labels
    assert "audit.AuditEntry" not in labels


def test_trash_page_groups_by_type_with_who_and_when(trashed, in_org, owner):
    response = login(owner, in_org).get(reverse("audit:trash"))
    assert response.status_code == 200
    html = response.content.decode()
    groups = [
        chunk.split('"', 1)[0] for chunk in html.split('data-testid="trash-group" data-type="')[1:]
    ]
    assert groups == ["contacts.contact", "extras.tag", "accounts.team"]  # by type name
    assert html.count('data-testid="trash-row"') == 3
    assert "Ada" in html and "Adam Admin" in html and "Closers" in html
    assert reverse("audit:trash_restore", args=["contacts.contact", trashed["contact"].pk]) in html
    assert reverse("audit:trash_purge", args=["extras.tag", trashed["tag"].pk]) in html


def test_trash_shows_only_what_the_user_may_delete(trashed, in_org, rep):
    html = login(rep, in_org).get(reverse("audit:trash")).content.decode()
    assert "Ada" in html and "Old" in html
    assert "Closers" not in html  # teams are settings: reps may not delete them
    assert "Delete forever" not in html  # owners and admins only
    reader = make_member(in_org, Role.READ_ONLY)
    html = login(reader, in_org).get(reverse("audit:trash")).content.decode()
    assert 'data-testid="trash-empty"' in html


def test_trash_of_another_organization_is_invisible(trashed, other_org, other_owner):
    html = login(other_owner, other_org).get(reverse("audit:trash")).content.decode()
    assert 'data-testid="trash-empty"' in html
    assert "Ada" not in html


def test_one_type_is_paginated(trashed, in_org, owner):
    client = login(owner, in_org)
    html = client.get(reverse("audit:trash"), {"type": "extras.tag"}).content.decode()
    assert html.count('data-testid="trash-group"') == 1
    assert html.count('data-testid="trash-row"') == 1
    assert client.get(reverse("audit:trash"), {"type": "nope.nothing"}).status_code == 404


def test_restore_brings_the_record_back_with_its_tags(trashed, in_org, rep):
    contact = trashed["contact"]
    response = login(rep, in_org).post(
        reverse("audit:trash_restore", args=["contacts.contact", contact.pk]),
        {"next": reverse("audit:trash") + "?type=contacts.contact"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("audit:trash") + "?type=contacts.contact"
    restored = Contact.objects.get(pk=contact.pk)
    assert set(restored.tags.values_list("name", flat=True)) == {"Hot", "VIP"}
    entry = AuditEntry.objects.filter(object_id=str(contact.pk)).order_by("-created_at")[0]
    assert (entry.action, entry.actor, entry.source) == ("restore", rep, "web")


def test_restore_clash_explains_itself_and_changes_nothing(trashed, in_org, owner):
    tag_create(org=in_org, actor=owner, name="old")  # takes the trashed tag's name
    before = snapshot(trashed["tag"])
    response = login(owner, in_org).post(
        reverse("audit:trash_restore", args=["extras.tag", trashed["tag"].pk]), follow=True
    )
    html = response.content.decode()
    assert (
        "“Old” can&#x27;t be restored: A tag with this name already exists. Rename or delete "
        "the live record first, then try again." in html
    )
    assert snapshot(trashed["tag"]) == before


def test_restore_is_404_for_live_unknown_or_others_records(
    trashed, in_org, owner, other_org, other_owner
):
    client = login(owner, in_org)
    hot = trashed["hot"]  # live
    assert (
        client.post(reverse("audit:trash_restore", args=["extras.tag", hot.pk])).status_code == 404
    )
    assert client.post(reverse("audit:trash_restore", args=["no.model", hot.pk])).status_code == 404
    other = login(other_owner, other_org)
    url = reverse("audit:trash_restore", args=["contacts.contact", trashed["contact"].pk])
    assert other.post(url).status_code == 404
    assert is_trashed(trashed["contact"])


def test_read_only_cannot_restore(trashed, in_org):
    reader = make_member(in_org, Role.READ_ONLY)
    url = reverse("audit:trash_restore", args=["contacts.contact", trashed["contact"].pk])
    assert login(reader, in_org).post(url).status_code == 404
    assert is_trashed(trashed["contact"])


def test_delete_forever_is_for_owners_and_admins(trashed, in_org, rep, admin_user):
    url = reverse("audit:trash_purge", args=["extras.tag", trashed["tag"].pk])
    assert login(rep, in_org).post(url).status_code == 403
    assert is_trashed(trashed["tag"])

    assert login(admin_user, in_org).post(url).status_code == 302
    assert not Tag.objects.unscoped().filter(pk=trashed["tag"].pk).exists()
    entry = AuditEntry.objects.filter(object_id=str(trashed["tag"].pk)).order_by("-created_at")[0]
    assert (entry.action, entry.actor, entry.source, entry.object_repr) == (
        "purge",
        admin_user,
        "web",
        "Old",
    )


def test_purging_a_contact_keeps_its_tags(trashed, in_org, owner):
    url = reverse("audit:trash_purge", args=["contacts.contact", trashed["contact"].pk])
    assert login(owner, in_org).post(url).status_code == 302
    assert not Contact.objects.unscoped().filter(pk=trashed["contact"].pk).exists()
    assert set(Tag.objects.values_list("name", flat=True)) == {"Hot", "VIP"}


def test_trash_page_query_count_is_pinned(in_org, owner, admin_user, django_assert_num_queries):
    client = login(owner, in_org)
    client.get(reverse("audit:trash"))  # warm the content type cache
    types = len(trash_models())

    def trash(n):
        for i in range(n):
            tag_delete(tag=tag_create(org=in_org, actor=owner, name=f"T{n}-{i}"), actor=admin_user)
            contact = record_create(Contact, org=in_org, actor=owner, first_name=f"C{n}{i}")
            record_delete(contact, actor=admin_user)
            record_delete(get_factory(Team)(in_org, owner), actor=owner)

    trash(2)
    # session, user, membership (also the organization switcher's); one query per record
    # type; the bell.
    with django_assert_num_queries(types + 4):
        small = client.get(reverse("audit:trash"))
    trash(8)
    with django_assert_num_queries(types + 4):
        large = client.get(reverse("audit:trash"))
    small_rows = small.content.decode().count('data-testid="trash-row"')
    large_rows = large.content.decode().count('data-testid="trash-row"')
    assert (small_rows, large_rows) == (6, 30)  # 10 per type on the overview


# --- API ---------------------------------------------------------------------------------


def test_api_lists_trash_newest_first_with_type_filter(trashed, in_org, owner):
    client = api_client(owner, in_org)
    body = client.get("/api/crm/trash/").json()
    assert body["count"] == 3
    assert [(r["record_type"], r["name"]) for r in body["results"]] == [
        ("accounts.team", "Closers"),
        ("extras.tag", "Old"),
        ("contacts.contact", "Ada"),
    ]
    assert body["results"][2]["deleted_by_name"] == "Adam Admin"
    only = client.get("/api/crm/trash/", {"type": "contacts.contact"}).json()
    assert [r["id"] for r in only["results"]] == [str(trashed["contact"].pk)]
    bad = client.get("/api/crm/trash/", {"type": "nope.x"})
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"type": ["Unknown record type."]}}


def test_api_trash_is_per_user_permissions(trashed, in_org, rep):
    body = api_client(rep, in_org).get("/api/crm/trash/").json()
    assert {r["record_type"] for r in body["results"]} == {"extras.tag", "contacts.contact"}


def test_api_restore_and_purge(trashed, in_org, owner, rep):
    client = api_client(owner, in_org)
    contact = trashed["contact"]
    response = client.post(f"/api/crm/trash/contacts.contact/{contact.pk}/restore/")
    assert response.status_code == 200
    assert response.json()["name"] == "Ada"
    assert set(Contact.objects.get(pk=contact.pk).tags.values_list("name", flat=True)) == {
        "Hot",
        "VIP",
    }
    again = client.post(f"/api/crm/trash/contacts.contact/{contact.pk}/restore/")
    assert again.status_code == 404

    tag_url = f"/api/crm/trash/extras.tag/{trashed['tag'].pk}/"
    assert api_client(rep, in_org).delete(tag_url).status_code == 403
    assert is_trashed(trashed["tag"])
    assert client.delete(tag_url).status_code == 204
    assert not Tag.objects.unscoped().filter(pk=trashed["tag"].pk).exists()
    purge = AuditEntry.objects.get(object_id=str(trashed["tag"].pk), action="purge")
    assert (purge.actor, purge.source) == (owner, "api")


def test_api_restore_clash_is_a_400(trashed, in_org, owner):
    tag_create(org=in_org, actor=owner, name="OLD")
    response = api_client(owner, in_org).post(
        f"/api/crm/trash/extras.tag/{trashed['tag'].pk}/restore/"
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "__all__": [
                "“Old” can't be restored: A tag with this name already exists. Rename or "
                "delete the live record first, then try again."
            ]
        }
    }


def test_api_other_organization_cannot_restore(trashed, other_org, other_owner):
    response = api_client(other_owner, other_org).post(
        f"/api/crm/trash/contacts.contact/{trashed['contact'].pk}/restore/"
    )
    assert response.status_code == 404
    assert is_trashed(trashed["contact"])
