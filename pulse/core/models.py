"""Framework models: the tenant-owned base classes and their fail-closed manager.

No business models live here (DESIGN layout).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.expressions import Expression

from .errors import TenantContextMissing
from .tenancy import get_current_org


class NoTenant(Expression):
    """Stands for "the current organization" when there is none.

    A queryset built with no organization in context carries this in its WHERE
    clause; building it is harmless (form fields are declared at import time),
    but any evaluation -- iteration, count(), exists(), update(), delete(), use as
    a subquery -- compiles it and raises. That is rule 1's fail-closed wall.
    """

    output_field = models.UUIDField()

    def as_sql(self, compiler, connection):
        raise TenantContextMissing(
            "A tenant-scoped query ran with no organization in context; set it with "
            "tenant_context(org) or use Model.objects.unscoped() deliberately."
        )


class TenantQuerySet(models.QuerySet):
    """Querysets of tenant-owned rows."""

    def restrict(self, user, action: str = "view") -> TenantQuerySet:
        """The rows ``user`` may ``action`` in the current organization (rule 2).

        Role (permission matrix) and record visibility are applied here and only here.
        """
        from pulse.accounts.permissions import restrict_queryset

        return restrict_queryset(self, user, action)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Default manager: rows of the current organization only, fail-closed.

    ``deleted`` selects live rows (False), trashed rows (True) or both (None).
    """

    def __init__(self, *, deleted: bool | None = False):
        super().__init__()
        self.deleted = deleted

    def get_queryset(self) -> TenantQuerySet:
        qs = super().get_queryset()
        org = get_current_org()
        qs = qs.filter(organization=NoTenant()) if org is None else qs.filter(organization=org)
        if self.deleted is not None and _has_trash(self.model):
            qs = qs.filter(deleted_at__isnull=not self.deleted)
        return qs

    def unscoped(self) -> TenantQuerySet:
        """Every organization's rows, trashed ones included. Rare and deliberate."""
        return TenantQuerySet(self.model, using=self._db)


def _has_trash(model) -> bool:
    return any(f.name == "deleted_at" for f in model._meta.concrete_fields)


class TenantScopedModel(models.Model):
    """Anything that belongs to one organization. Its default manager fails closed."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", editable=False
    )

    objects = TenantManager()

    class Meta:
        abstract = True


class AuditedMixin:
    """Rows whose saves the audit receivers log, field by field.

    ``from_db`` keeps what came from the database so the receiver can diff it
    against what is saved; ``audit_organization_id`` says whose log it goes to.
    """

    audit_exclude: frozenset[str] = frozenset(
        {"updated_at", "updated_by", "version", "created_at", "created_by", "deleted_by"}
    )

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance

    @property
    def audit_organization_id(self):
        return self.organization_id


class TenantModel(AuditedMixin, TenantScopedModel):
    """Base of every tenant-owned record people work with.

    UUID primary key, created/updated by and at, a version number against lost
    updates (rule 9), and soft delete into the trash (rule 5). The audit app
    diffs ``_loaded_values`` (what came from the database) against the saved row.

    Class attributes a subclass may set:
      ``visibility_field``  user FK that record visibility filters on (e.g. "assigned_to")
      ``permission_group``  which column of the default permission matrix applies
      ``audit_exclude``     fields left out of the change log
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = TenantManager()
    trash = TenantManager(deleted=True)

    visibility_field: str | None = None
    permission_group: str = "records"

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
