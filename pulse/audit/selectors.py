"""Reads of the change log and the trash."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import CharField, QuerySet, Value

from pulse.core.models import TenantModel
from pulse.core.tenancy import get_current_org

from .changes import prepare_entries
from .models import AuditEntry

# --- change log ---------------------------------------------------------------------------


def history_for(obj) -> QuerySet[AuditEntry]:
    """A record's History tab: its entries, newest first, with actors."""
    return (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj), for_concrete_model=False),
            object_id=str(obj.pk),
        )
        .select_related("actor", "content_type")
        .order_by("-created_at", "-pk")
    )


def history_entries(obj, *, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` entries of a record, ready to show (foreign keys as names)."""
    return prepare_entries(history_for(obj)[:limit], org=get_current_org(), link_records=False)


def history_record(*, user, content_type_id: int, object_id):
    """The record behind a History link, if ``user`` may view it (live or trashed); else None."""
    try:
        content_type = ContentType.objects.get_for_id(content_type_id)
    except ContentType.DoesNotExist:
        return None
    model = content_type.model_class()
    if model is None or not issubclass(model, TenantModel):
        return None
    return (
        model.objects.restrict(user, "view").filter(pk=object_id).first()
        or model.trash.restrict(user, "view").filter(pk=object_id).first()
    )


def audit_log(*, user) -> QuerySet[AuditEntry]:
    """The organization-wide log (admins only, through ``restrict``)."""
    return (
        AuditEntry.objects.restrict(user, "view")
        .select_related("actor", "content_type")
        .order_by("-created_at", "-pk")
    )


def audited_models() -> list[type]:
    """Record types that appear in the change log (the log's "record type" filter)."""
    from pulse.accounts.models import Organization

    return sorted([Organization, *trash_models()], key=lambda m: str(m._meta.verbose_name))


def recent_changes(*, user, limit: int = 10) -> list[AuditEntry]:
    """The home page feed: the latest changes to records people work on.

    Admins see everyone's; others their own. Rows that belong to one person
    (notifications, saved views) are logged but left out: they would drown the feed.
    """
    from pulse.accounts.permissions import membership_for

    personal = [m for m in apps.get_models() if getattr(m, "permission_group", "") == "personal"]
    qs = AuditEntry.objects.select_related("actor", "content_type").exclude(
        content_type__in=ContentType.objects.get_for_models(*personal).values()
    )
    membership = membership_for(user)
    if membership is None:
        return []
    if not membership.is_admin:
        qs = qs.filter(actor=user)
    return list(qs.order_by("-created_at")[:limit])


# --- trash -----------------------------------------------------------------------------------


def trash_models() -> list[type[TenantModel]]:
    """Every concrete record type that can be in the trash, by name."""
    found = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy
    ]
    return sorted(found, key=lambda m: str(m._meta.verbose_name_plural))


def record_type_label(model) -> str:
    """A record type's stable name in URLs and the API: ``app_label.model``."""
    return model._meta.label_lower


def trash_model(label: str):
    """The trashable model named ``label`` (``app_label.model``), or None."""
    return next((m for m in trash_models() if record_type_label(m) == label), None)


def _str_relations(model) -> list[str]:
    # ``str(row)`` often reads a required relation (a membership shows its user):
    # join those, and who deleted the row, instead of one query per row.
    names = ["deleted_by"]
    for f in model._meta.concrete_fields:
        if f.many_to_one and not f.null and f.name != "organization":
            names.append(f.name)
    return names


def trash_for(*, user, model) -> QuerySet:
    """Trashed ``model`` rows the user may delete (or restore), most recently deleted first."""
    return (
        model.trash.restrict(user, "delete")
        .select_related(*_str_relations(model))
        .order_by("-deleted_at", "-pk")
    )


def trash_record(*, user, label: str, pk):
    """One trashed record the user may restore or purge, or None."""
    model = trash_model(label)
    if model is None:
        return None
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return None
    return trash_for(user=user, model=model).filter(pk=pk).first()


@dataclass
class TrashGroup:
    """One record type's rows on the trash page."""

    model: type
    rows: list = field(default_factory=list)
    has_more: bool = False

    @property
    def label(self) -> str:
        return record_type_label(self.model)

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()

    @property
    def content_type_id(self) -> int:
        return ContentType.objects.get_for_model(self.model).pk


def trash_groups(*, user, per_type: int = 10) -> list[TrashGroup]:
    """The trash page: each record type with its latest ``per_type`` trashed rows.

    One query per record type (types with no rows are left out).
    """
    groups = []
    for model in trash_models():
        rows = list(trash_for(user=user, model=model)[: per_type + 1])
        if rows:
            groups.append(TrashGroup(model, rows[:per_type], has_more=len(rows) > per_type))
    return groups


def trash_union(*, user, models=None) -> QuerySet:
    """All trashed rows the user may delete, across record types, as one sortable query.

    Rows are dicts ``{"trash_label", "id", "deleted_at", "deleted_by_id"}``, most
    recently deleted first, so the API can paginate the whole trash in SQL. (Not
    ``record_type``: saved reports have a field of that name.)
    """
    parts = [
        model.trash.restrict(user, "delete")
        .order_by()
        .annotate(trash_label=Value(record_type_label(model), output_field=CharField()))
        .values("trash_label", "id", "deleted_at", "deleted_by_id")
        for model in models or trash_models()
    ]
    first, *rest = parts
    combined = first.union(*rest, all=True) if rest else first
    return combined.order_by("-deleted_at", "-id")


def trash_rows_for_page(rows: list[dict]) -> list[dict]:
    """Fill a page of ``trash_union`` rows with each record (and who deleted it).

    One query per record type on the page, whatever the number of rows.
    """
    by_type: dict[str, list] = {}
    for row in rows:
        by_type.setdefault(row["trash_label"], []).append(row["id"])
    records = {}
    for label, ids in by_type.items():
        model = trash_model(label)
        qs = model.trash.filter(pk__in=ids).select_related(*_str_relations(model))
        records.update({(label, obj.pk): obj for obj in qs})
    return [
        {
            **row,
            "record_type": row["trash_label"],
            "record": records.get((row["trash_label"], row["id"])),
        }
        for row in rows
    ]
