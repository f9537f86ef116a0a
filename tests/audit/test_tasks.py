"""The scheduled trash purge: per organization retention, logged as the task, idempotent."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from pulse.audit.models import AuditEntry
from pulse.audit.services import purge_expired
from pulse.audit.tasks import purge_trash
from pulse.contacts.models import Contact
from pulse.core.services import record_create, record_delete
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Tag
from pulse.extras.services import tag_create, tag_delete


def _trash(org, actor, name, days_ago, model=Tag):
    """Trash a record ``days_ago`` days ago (test set-up dates the row directly)."""
    with tenant_context(org, actor=actor):
        if model is Tag:
            obj = tag_create(org=org, actor=actor, name=name)
            tag_delete(tag=obj, actor=actor)
        else:
            obj = record_create(model, org=org, actor=actor, first_name=name)
            record_delete(obj, actor=actor)
    model.objects.unscoped().filter(pk=obj.pk).update(
        deleted_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    return obj


@pytest.fixture
def trash(org, owner, other_org, other_owner):
    other_org.trash_retention_days = 7
    other_org.save(update_fields=["trash_retention_days"])
    return {
        "acme_expired": _trash(org, owner, "Acme expired", 31),
        "acme_contact_expired": _trash(org, owner, "Acme person", 45, model=Contact),
        "acme_kept": _trash(org, owner, "Acme kept", 29),
        "globex_expired": _trash(other_org, other_owner, "Globex expired", 8),
        "globex_kept": _trash(other_org, other_owner, "Globex kept", 6),
    }


def _exists(obj) -> bool:
    return type(obj).objects.unscoped().filter(pk=obj.pk).exists()


def test_purge_removes_only_expired_rows_of_each_organization(trash):
    assert purge_trash() == 3
    assert {name for name, obj in trash.items() if _exists(obj)} == {"acme_kept", "globex_kept"}
    purges = AuditEntry.objects.unscoped().filter(action="purge")
    assert sorted(purges.values_list("object_repr", "source", "actor_id")) == [
        ("Acme expired", "task", None),
        ("Acme person", "task", None),
        ("Globex expired", "task", None),
    ]
    globex_purge = purges.get(object_repr="Globex expired")
    assert globex_purge.organization_id == trash["globex_expired"].organization_id


def test_purge_is_safe_to_run_twice(trash):
    assert purge_trash() == 3
    entries = AuditEntry.objects.unscoped().count()
    assert purge_trash() == 0
    assert AuditEntry.objects.unscoped().count() == entries
    assert {name for name, obj in trash.items() if _exists(obj)} == {"acme_kept", "globex_kept"}


def test_live_records_are_never_purged(org, owner):
    with tenant_context(org, actor=owner):
        live = tag_create(org=org, actor=owner, name="Live")
    Tag.objects.unscoped().filter(pk=live.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=400)
    )
    assert purge_trash() == 0
    assert _exists(live)


def test_purge_service_refuses_to_run_outside_the_organizations_tenancy(org, other_org, owner):
    with tenant_context(other_org), pytest.raises(RuntimeError):
        purge_expired(org=org)
