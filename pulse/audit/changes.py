"""How a change log entry reads on screen: each changed field as label, old → new.

``AuditEntry.changes`` holds raw JSON values (``{field: [old, new]}``); foreign keys are
stored as ids. ``prepare_entries`` resolves those ids to names and finds each record's
page for a whole page of entries at once (one query per related model, never per row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.translation import gettext as _

EMPTY = "—"


@dataclass(frozen=True)
class ChangeRow:
    """One changed field of an entry, ready to show."""

    field: str
    label: str
    old: str
    new: str


def _model_field(model, name: str):
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _show(value: Any, field=None, names: dict | None = None) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field is not None and getattr(field, "many_to_one", False) and names is not None:
        return names.get((field.related_model, str(value)), str(value))
    if field is not None and getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) or EMPTY
    return str(value)


def describe_changes(entry, names: dict | None = None) -> list[ChangeRow]:
    """The entry's changed fields in model order; custom fields one row per key."""
    model = entry.content_type.model_class() if entry.content_type_id else None
    rows: list[ChangeRow] = []
    for name, pair in (entry.changes or {}).items():
        if name.startswith("_"):  # bookkeeping (a merge's moved rows), not a field
            continue
        old, new = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        field = _model_field(model, name)
        label = str(field.verbose_name).capitalize() if field is not None else name
        if name == "custom_fields" and isinstance(old or {}, dict) and isinstance(new or {}, dict):
            old, new = old or {}, new or {}
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    rows.append(
                        ChangeRow(
                            f"{name}.{key}",
                            f"{label}: {key}",
                            _show(old.get(key)),
                            _show(new.get(key)),
                        )
                    )
            continue
        rows.append(ChangeRow(name, label, _show(old, field, names), _show(new, field, names)))
    return rows


def prepare_entries(entries: Iterable, *, org=None, link_records: bool = True) -> list:
    """Attach ``change_rows`` (foreign keys as names) and ``record_url`` to each entry.

    Queries: one per related model named by a changed foreign key, plus (with
    ``link_records``) one per record type that has pages, whatever the number of entries.
    Only live records of ``org`` get a link.
    """
    entries = list(entries)
    wanted: dict[type, set[str]] = defaultdict(set)
    records: dict[type, set[str]] = defaultdict(set)
    for entry in entries:
        model = entry.content_type.model_class()
        if model is None:
            continue
        if link_records and hasattr(model, "get_absolute_url"):
            records[model].add(entry.object_id)
        for name, pair in (entry.changes or {}).items():
            field = _model_field(model, name)
            if field is None or not getattr(field, "many_to_one", False):
                continue
            for value in pair if isinstance(pair, list | tuple) else [pair]:
                if value not in (None, ""):
                    wanted[field.related_model].add(str(value))
    names: dict[tuple[type, str], str] = {}
    for related, ids in wanted.items():
        qs = related._base_manager.filter(pk__in=_valid_pks(related, ids))
        if org is not None and _has_field(related, "organization"):
            qs = qs.filter(organization=org)
        for obj in qs:
            names[(related, str(obj.pk))] = str(obj)
    urls: dict[tuple[type, str], str] = {}
    for model, ids in records.items():
        qs = model._base_manager.filter(pk__in=_valid_pks(model, ids))
        if org is not None and _has_field(model, "organization"):
            qs = qs.filter(organization=org)
        if _has_field(model, "deleted_at"):
            qs = qs.filter(deleted_at__isnull=True)
        for obj in qs:
            urls[(model, str(obj.pk))] = obj.get_absolute_url()
    for entry in entries:
        model = entry.content_type.model_class()
        entry.change_rows = describe_changes(entry, names)
        entry.record_url = urls.get((model, entry.object_id), "")
    return entries


def _has_field(model, name: str) -> bool:
    return _model_field(model, name) is not None


def _valid_pks(model, ids: set[str]) -> list:
    """Ids that fit the model's primary key (a stale or odd value must not break a page)."""
    pk_field: models.Field = model._meta.pk
    valid = []
    for value in ids:
        # Not an id of this model: the value is shown as stored.
        with suppress(ValidationError, ValueError, TypeError):
            valid.append(pk_field.to_python(value))
    return valid
