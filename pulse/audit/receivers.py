"""The only signal receivers in PulseCRM (rule 5): they write the change log.

Every save of a ``TenantModel`` -- from a service, the admin, an import or a task --
passes through here, so nothing escapes the log. Domain reactions are explicit calls.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.contrib.contenttypes.models import ContentType
from django.db.models.fields.files import FieldFile
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from pulse.core import tenancy
from pulse.core.models import AuditedMixin, TenantModel

from .models import Action, AuditEntry


def jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return value
    if isinstance(value, FieldFile):  # hasattr(value, "url") raises on an empty file
        return value.name or None
    return str(value)


def _tracked_fields(instance: AuditedMixin):
    exclude = instance.audit_exclude
    for field in instance._meta.concrete_fields:
        if field.name in exclude or field.name in {"id", "organization"}:
            continue
        yield field


def _current_values(instance: AuditedMixin) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _write(instance, action: str, changes: dict, actor_id=None) -> None:
    if actor_id is None:
        actor = tenancy.get_current_actor()
        actor_id = actor.pk if actor is not None else None
    AuditEntry.objects.unscoped().create(
        organization_id=instance.audit_organization_id,
        actor_id=actor_id,
        source=tenancy.get_current_source(),
        action=action,
        content_type=ContentType.objects.get_for_model(type(instance), for_concrete_model=False),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes,
        request_id=tenancy.get_request_id(),
    )
    tenancy.forget("audit.newest")  # pulse.reports.cache keys numbers on the newest entry


def _actor_id(instance, action: str):
    """The acting user as the service recorded it on the row; else the context's actor."""
    attr = {"create": "created_by_id", "delete": "deleted_by_id"}.get(action, "updated_by_id")
    return getattr(instance, attr, None) or getattr(instance, "updated_by_id", None)


@receiver(post_save)
def log_save(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw or not isinstance(instance, AuditedMixin):
        return
    loaded = getattr(instance, "_loaded_values", None)
    if created or loaded is None:
        changes = {
            f.name: [None, jsonable(getattr(instance, f.attname))]
            for f in _tracked_fields(instance)
            if getattr(instance, f.attname) not in (None, "", [], {})
        }
        action = Action.CREATE if created else Action.UPDATE
    else:
        was_deleted = loaded.get("deleted_at") is not None
        is_deleted = getattr(instance, "deleted_at", None) is not None
        if was_deleted != is_deleted:
            action = Action.DELETE if is_deleted else Action.RESTORE
        else:
            action = Action.UPDATE
        changes = {}
        for f in _tracked_fields(instance):
            if f.name == "deleted_at" or (update_fields and f.name not in update_fields):
                continue
            old, new = loaded.get(f.attname), getattr(instance, f.attname)
            if old != new:
                changes[f.name] = [jsonable(old), jsonable(new)]
        if action == Action.UPDATE and not changes:
            instance._loaded_values = _current_values(instance)
            return
    _write(instance, action, changes, _actor_id(instance, action))
    instance._loaded_values = _current_values(instance)


@receiver(post_delete)
def log_purge(sender, instance, **kwargs):
    # Records purged from the trash; a deleted organization takes its log with it.
    if isinstance(instance, TenantModel):
        _write(instance, Action.PURGE, {})


@receiver(m2m_changed)
def log_m2m(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Tags, team members and other many-to-many changes, as one field change each."""
    if (
        reverse
        or not isinstance(instance, AuditedMixin)
        or action
        not in {"pre_add", "pre_remove", "pre_clear", "post_add", "post_remove", "post_clear"}
    ):
        return
    field = next(
        (f for f in type(instance)._meta.many_to_many if f.remote_field.through is sender), None
    )
    if field is None:
        return
    # Read the through table directly: it carries no tenant manager to trip over.
    rows = sender._base_manager.filter(**{field.m2m_field_name(): instance.pk})
    current = sorted(str(v) for v in rows.values_list(field.m2m_reverse_field_name(), flat=True))
    if action.startswith("pre_"):
        instance.__dict__.setdefault("_m2m_before", {})[field.name] = current
        return
    before = instance.__dict__.get("_m2m_before", {}).pop(field.name, [])
    after = current
    if before != after:
        names = {
            str(o.pk): str(o) for o in model._base_manager.filter(pk__in=set(before) | set(after))
        }
        _write(
            instance,
            Action.UPDATE,
            # Names sorted alphabetically: a stable, readable list whatever the ids.
            {
                field.name: [
                    sorted(names.get(p, p) for p in before),
                    sorted(names.get(p, p) for p in after),
                ]
            },
            getattr(instance, "updated_by_id", None),
        )
