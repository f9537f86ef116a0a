"""Assertions about records shared by the generic test classes."""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.core.exceptions import FieldDoesNotExist
from django.db import models

TRUE_STRINGS = {"on", "true", "True", "1", "yes"}
ROLES_WEAKEST_FIRST = ("read_only", "support_agent", "sales_rep", "manager", "admin")


def snapshot(instance) -> dict:
    """Every column of the row as the database holds it now (organization-independent)."""
    model = type(instance)
    manager = (
        model.objects.unscoped() if hasattr(model.objects, "unscoped") else model._base_manager
    )
    row = manager.filter(pk=instance.pk).values().first()
    if row is None:
        return {}
    m2m = {
        f.name: sorted(
            str(pk)
            for pk in f.remote_field.through._base_manager.filter(
                **{f.m2m_field_name(): instance.pk}
            ).values_list(f.m2m_reverse_field_name(), flat=True)
        )
        for f in model._meta.many_to_many
    }
    return {**row, **m2m}


def _normalize(field: models.Field, value):
    if isinstance(value, models.Model):
        value = value.pk
    if isinstance(field, models.BooleanField):
        return value in TRUE_STRINGS or value is True
    if value in ("", None) and field.null:
        return None
    target = field.target_field if field.is_relation else field
    try:
        return target.to_python(value)
    except Exception:  # noqa: BLE001 - compare as given when it does not parse
        return value


def _comparable(value):
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def assert_instance_matches(instance, data: dict, exclude=()) -> None:
    """Each model field named in ``data`` (form or API input) has that value on ``instance``.

    Keys that are not model fields (custom-field inputs, ``version`` …) are ignored.
    """
    instance.refresh_from_db()
    mismatches = {}
    for name, expected in data.items():
        if name in exclude:
            continue
        try:
            field = instance._meta.get_field(name)
        except FieldDoesNotExist:  # custom-field inputs, ``version`` …
            continue
        if field.many_to_many:
            raw = expected if isinstance(expected, list | tuple) else [expected]
            want = sorted(str(v.pk if isinstance(v, models.Model) else v) for v in raw)
            have = sorted(str(pk) for pk in getattr(instance, name).values_list("pk", flat=True))
        elif field.concrete:
            want = _comparable(_normalize(field, expected))
            have = _comparable(getattr(instance, field.attname))
        else:
            continue
        if want != have:
            mismatches[name] = {"expected": want, "actual": have}
    assert not mismatches, f"{type(instance).__name__} fields differ from the input: {mismatches}"


def denied_roles(model, action: str, org) -> list[str]:
    """The roles that may not ``action`` records of ``model`` in ``org`` (weakest first)."""
    from pulse.accounts.models import Membership
    from pulse.accounts.permissions import allowed_actions

    return [
        role
        for role in ROLES_WEAKEST_FIRST
        if action not in allowed_actions(Membership(role=role, organization=org), model)
    ]


def live_pks(model, org) -> set[str]:
    """Primary keys of ``org``'s live rows of ``model`` (trash excluded)."""
    qs = model.objects.unscoped().filter(organization=org)
    if any(f.name == "deleted_at" for f in model._meta.concrete_fields):
        qs = qs.filter(deleted_at__isnull=True)
    return {str(pk) for pk in qs.values_list("pk", flat=True)}


def is_trashed(instance) -> bool:
    """Soft-deleted: the row is still there with ``deleted_at`` set."""
    row = type(instance).objects.unscoped().filter(pk=instance.pk).values("deleted_at").first()
    return row is not None and row["deleted_at"] is not None
