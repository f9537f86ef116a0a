"""The change log: one append-only row per create, update, delete, restore or purge."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantScopedModel


class Action(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    RESTORE = "restore", _("Restored")
    PURGE = "purge", _("Purged")
    MERGE = "merge", _("Merged")


class Source(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    IMPORT = "import", _("Import")
    TASK = "task", _("Background task")
    SYSTEM = "system", _("System")


class AppendOnlyError(RuntimeError):
    """The change log is never edited or deleted row by row."""


class AuditEntry(TenantScopedModel):
    """Who changed what, from where, with each field's old and new value.

    ``changes`` is ``{field: [old, new]}`` with JSON-safe values.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SYSTEM)
    action = models.CharField(max_length=10, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    permission_group = "audit"

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["organization", "content_type", "object_id", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    # The record's page, set by ``changes.prepare_entries`` (empty: no link).
    record_url = ""

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr}"

    @cached_property
    def change_rows(self):
        """Changed fields as label, old, new (``changes.prepare_entries`` adds names)."""
        from .changes import describe_changes

        return describe_changes(self)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit entries are append-only")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit entries are append-only")
