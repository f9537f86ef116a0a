"""Every change lands in the log: actor, source, and each field old → new (rule 5)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from pulse.audit.models import AppendOnlyError, AuditEntry
from pulse.audit.services import trash_purge, trash_restore
from pulse.contacts.models import Contact
from pulse.core.services import record_create, record_delete, record_update
from pulse.core.testing import api_client
from pulse.extras.models import Tag
from pulse.extras.services import tag_create, tag_delete
from tests.conftest import login


def _entries(obj) -> list[tuple]:
    return list(
        AuditEntry.objects.unscoped()
        .filter(object_id=str(obj.pk))
        .order_by("created_at", "pk")
        .values_list("action", "actor_id", "source", "changes")
    )


def test_web_create_update_delete_restore_purge_are_logged(in_org, owner):
    client = login(owner, in_org)
    client.post(reverse("extras:tag_create"), {"name": "VIP", "color": "#00ff00"})
    tag = Tag.objects.get()
    client.post(reverse("extras:tag_edit", args=[tag.pk]), {"name": "V.I.P.", "color": "#00ff00"})
    client.post(reverse("extras:tag_delete", args=[tag.pk]))
    client.post(reverse("audit:trash_restore", args=["extras.tag", tag.pk]))
    client.post(reverse("extras:tag_delete", args=[tag.pk]))
    client.post(reverse("audit:trash_purge", args=["extras.tag", tag.pk]))

    assert not Tag.objects.unscoped().filter(pk=tag.pk).exists()
    assert _entries(tag) == [
        ("create", owner.pk, "web", {"name": [None, "VIP"], "color": [None, "#00ff00"]}),
        ("update", owner.pk, "web", {"name": ["VIP", "V.I.P."]}),
        ("delete", owner.pk, "web", {}),
        ("restore", owner.pk, "web", {}),
        ("delete", owner.pk, "web", {}),
        ("purge", owner.pk, "web", {}),
    ]
    entry = AuditEntry.objects.unscoped().filter(object_id=str(tag.pk)).order_by("created_at")[0]
    assert entry.object_repr == "VIP"
    assert entry.content_type == ContentType.objects.get_for_model(Tag)
    assert entry.organization_id == in_org.pk
    assert len(entry.request_id) == 32


def test_api_changes_are_logged_with_source_api(in_org, admin_user):
    client = api_client(admin_user, in_org)
    tag_id = client.post(
        "/api/crm/tags/", {"name": "Hot", "color": "#ff0000"}, format="json"
    ).json()["id"]
    client.patch(f"/api/crm/tags/{tag_id}/", {"color": "#00ff00"}, format="json")
    client.delete(f"/api/crm/tags/{tag_id}/")
    client.post(f"/api/crm/trash/extras.tag/{tag_id}/restore/")
    tag = Tag.objects.get(pk=tag_id)

    assert _entries(tag) == [
        ("create", admin_user.pk, "api", {"name": [None, "Hot"], "color": [None, "#ff0000"]}),
        ("update", admin_user.pk, "api", {"color": ["#ff0000", "#00ff00"]}),
        ("delete", admin_user.pk, "api", {}),
        ("restore", admin_user.pk, "api", {}),
    ]


def test_tag_changes_on_a_record_are_logged_as_one_field(in_org, owner, admin_user):
    hot = tag_create(org=in_org, actor=owner, name="Hot")
    vip = tag_create(org=in_org, actor=owner, name="VIP")
    contact = record_create(Contact, org=in_org, actor=owner, first_name="Ada", tags=[hot])
    record_update(contact, actor=admin_user, tags=[hot, vip])
    record_update(contact, actor=admin_user, tags=[])

    tag_changes = [
        (action, actor, changes["tags"])
        for action, actor, _source, changes in _entries(contact)
        if "tags" in changes
    ]
    assert tag_changes == [
        ("update", owner.pk, [[], ["Hot"]]),
        ("update", admin_user.pk, [["Hot"], ["Hot", "VIP"]]),
        ("update", admin_user.pk, [["Hot", "VIP"], []]),
    ]


def test_foreign_key_and_custom_field_changes_read_as_names(in_org, owner, admin_user):
    from pulse.audit.changes import prepare_entries
    from pulse.extras.services import customfield_create

    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="tier",
        label="Tier",
        field_type="text",
    )
    contact = record_create(
        Contact, org=in_org, actor=owner, first_name="Ada", custom_fields={"tier": "Gold"}
    )
    record_update(
        contact,
        actor=owner,
        assigned_to=admin_user,
        custom_fields={"tier": "Silver"},
        lifecycle_stage="customer",
    )
    entry = AuditEntry.objects.filter(object_id=str(contact.pk), action="update").get()
    (prepared,) = prepare_entries([entry], org=in_org)
    rows = {row.field: (row.label, row.old, row.new) for row in prepared.change_rows}
    assert rows == {
        "assigned_to": ("Owner", "—", "Adam Admin"),
        "custom_fields.tier": ("Custom fields: tier", "Gold", "Silver"),
        "lifecycle_stage": ("Lifecycle stage", "Lead", "Customer"),
    }
    assert prepared.record_url == contact.get_absolute_url()


def test_entries_cannot_be_changed_or_deleted(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    entry = AuditEntry.objects.get(object_id=str(tag.pk))
    entry.object_repr = "forged"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert AuditEntry.objects.get(object_id=str(tag.pk)).object_repr == "VIP"


def test_services_log_the_actor_they_are_given(in_org, owner, admin_user):
    tag = tag_create(org=in_org, actor=admin_user, name="VIP")  # context actor is the owner
    tag_delete(tag=tag, actor=admin_user)
    trash_restore(instance=Tag.trash.get(), actor=owner)
    record_delete(Tag.objects.get(), actor=admin_user)
    trash_purge(instance=Tag.trash.get(), actor=owner)
    assert [(a, actor) for a, actor, _s, _c in _entries(tag)] == [
        ("create", admin_user.pk),
        ("delete", admin_user.pk),
        ("restore", owner.pk),
        ("delete", admin_user.pk),
        ("purge", owner.pk),  # a purge has no row left: the context's actor
    ]


def test_api_token_creation_and_revocation_are_logged_without_the_secret(org, owner):
    from pulse.accounts.models import ApiToken
    from pulse.accounts.services import api_token_create, api_token_revoke
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner, source="web"):
        token, key = api_token_create(user=owner, org=org, name="Zapier")
        api_token_revoke(token=ApiToken.objects.get(pk=token.pk), actor=owner)
        entries = list(AuditEntry.objects.filter(object_id=str(token.pk)).order_by("created_at"))
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[0].actor == owner and entries[0].source == "web"
    assert entries[0].changes["name"] == [None, "Zapier"]
    assert "key_hash" not in entries[0].changes
    assert key not in str(entries[0].changes) and token.key_hash not in str(entries[0].changes)
    assert list(entries[1].changes) == ["revoked_at"]
