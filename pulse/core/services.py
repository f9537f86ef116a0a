"""Generic record lifecycle shared by every domain's services.

Domain services (``contact_create`` …) call these so that validation, versioning,
soft delete and audit behave the same everywhere. Each is atomic and takes the actor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import ApplicationError
from .models import TenantModel
from .tenancy import forget


def full_clean_or_raise(instance: models.Model, *, exclude: Iterable[str] | None = None) -> None:
    """Validate through the model so UI and API report the same errors (rule 3)."""
    try:
        instance.full_clean(exclude=list(exclude or []))
    except ValidationError as exc:
        raise ApplicationError.from_validation_error(exc)


def _set_m2m(instance: models.Model, m2m: dict[str, Any]) -> None:
    for name, values in m2m.items():
        getattr(instance, name).set(values)


def _split_m2m(model: type[models.Model], fields: dict[str, Any]) -> tuple[dict, dict]:
    m2m_names = {f.name for f in model._meta.many_to_many}
    plain = {k: v for k, v in fields.items() if k not in m2m_names}
    m2m = {k: v for k, v in fields.items() if k in m2m_names}
    return plain, m2m


def check_same_org(org, **related) -> None:
    """Refuse related records (``contact=…``, ``stage=…``) of another organization, as a
    field error on the argument's name; ``None`` values pass."""
    for name, obj in related.items():
        if obj is not None and getattr(obj, "organization_id", org.pk) != org.pk:
            raise ApplicationError(errors={name: [_("Choose one of this organization's records.")]})


@transaction.atomic
def record_create(model: type[TenantModel], *, org, actor, **fields) -> TenantModel:
    """Create a tenant record owned by ``org``, validated, audited as a create."""
    plain, m2m = _split_m2m(model, fields)
    instance = model(organization=org, created_by=actor, updated_by=actor, **plain)
    full_clean_or_raise(instance)
    instance.save()
    _set_m2m(instance, m2m)
    forget(model._meta.label_lower)  # reads memoized in this request see the change
    return instance


@transaction.atomic
def record_update(
    instance: TenantModel, *, actor, expected_version: int | None = None, **fields
) -> TenantModel:
    """Change fields of a live record; refuse a stale ``expected_version`` (rule 9)."""
    if instance.is_deleted:
        raise ApplicationError(_("This record is in the trash; restore it first."))
    if expected_version is not None:
        current = (
            type(instance)
            .objects.unscoped()
            .select_for_update()
            .values_list("version", flat=True)
            .get(pk=instance.pk)
        )
        if current != expected_version:
            raise ApplicationError(
                errors={
                    "version": [
                        _(
                            "Someone else changed this record since you opened it. "
                            "Reload to see their changes."
                        )
                    ]
                }
            )
    plain, m2m = _split_m2m(type(instance), fields)
    for name, value in plain.items():
        setattr(instance, name, value)
    instance.updated_by = actor
    full_clean_or_raise(instance)
    changed = list(plain)
    if changed or m2m:
        instance.version = models.F("version") + 1
        instance.save(update_fields=[*changed, "updated_by", "updated_at", "version"])
        instance.refresh_from_db(fields=["version"])
    _set_m2m(instance, m2m)
    forget(instance._meta.label_lower)
    return instance


@transaction.atomic
def record_delete(instance: TenantModel, *, actor) -> TenantModel:
    """Move a record to the trash (soft delete); relations stay for a restore."""
    if instance.is_deleted:
        return instance
    instance.deleted_at = timezone.now()
    instance.deleted_by = actor
    instance.updated_by = actor
    instance.save(update_fields=["deleted_at", "deleted_by", "updated_by", "updated_at"])
    forget(instance._meta.label_lower)
    return instance


@transaction.atomic
def record_restore(instance: TenantModel, *, actor) -> TenantModel:
    """Bring a record back from the trash, with the relations it kept."""
    if not instance.is_deleted:
        return instance
    instance.deleted_at = None
    instance.deleted_by = None
    instance.updated_by = actor
    try:
        instance.validate_constraints()
    except ValidationError as exc:
        raise ApplicationError.from_validation_error(exc)
    instance.save(update_fields=["deleted_at", "deleted_by", "updated_by", "updated_at"])
    forget(instance._meta.label_lower)
    return instance
