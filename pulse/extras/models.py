"""Mechanisms every record type uses: tags, custom fields, saved views, notifications."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.validators import RegexValidator
from django.db import models
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel


class CustomFieldsModel(models.Model):
    """Mixin for records that carry organization-defined custom fields.

    Values live in one JSON column keyed by the field's ``key``: filterable and
    sortable through JSON lookups, exported and serialized like any other field.
    """

    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)

    class Meta:
        abstract = True


class Tag(TenantModel):
    """An organization-scoped, coloured label attached to records."""

    name = models.CharField(_("name"), max_length=50)
    color = models.CharField(
        _("colour"),
        max_length=7,
        default="#6c757d",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #1a2b3c."))],
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("name"),
                "organization",
                condition=models.Q(deleted_at__isnull=True),
                name="tag_unique_name",
                violation_error_message=_("A tag with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    DECIMAL = "decimal", _("Decimal")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes/no")
    CHOICE = "choice", _("Single choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")
    URL = "url", _("URL")
    EMAIL = "email", _("Email")
    USER = "user", _("User")


class CustomField(TenantModel):
    """An organization-defined field on one record type."""

    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, related_name="+", verbose_name=_("record type")
    )
    key = models.SlugField(
        _("key"),
        max_length=50,
        help_text=_("Used in the API and exports; letters, digits, _."),
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]*$", _("Start with a letter; use a-z, 0-9 and _."))
        ],
    )
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=20, choices=FieldType.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    permission_group = "config"

    class Meta:
        ordering = ["content_type", "position", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "content_type", "key"],
                condition=models.Q(deleted_at__isnull=True),
                name="customfield_unique_key",
                violation_error_message=_("This record type already has a field with this key."),
            )
        ]

    def __str__(self) -> str:
        return self.label


class SavedView(TenantModel):
    """A named list configuration (filters, columns, sort) -- private or shared."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shared = models.BooleanField(_("shared with the organization"), default=False)
    filters = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    ordering = models.CharField(max_length=100, blank=True)

    permission_group = "personal"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def querystring(self) -> str:
        """The list page's query string this view applies (filters, columns, ordering)."""
        query = QueryDict(mutable=True)
        # Sorted: PostgreSQL's jsonb does not keep key order, the query string should.
        for key, value in sorted((self.filters or {}).items()):
            query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
        if self.columns:
            query.setlist("columns", list(self.columns))
        if self.ordering:
            query["ordering"] = self.ordering
        return query.urlencode()

    @staticmethod
    def restrict_for(qs, membership, action):
        """Anyone sees shared views; only the owner (or an admin) changes them."""
        mine = models.Q(owner_id=membership.user_id)
        if action == "view":
            return qs.filter(mine | models.Q(shared=True))
        return qs if membership.is_admin else qs.filter(mine)


class Notification(TenantModel):
    """An in-app notification for one user (the bell)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    verb = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    permission_group = "personal"
    audit_exclude = TenantModel.audit_exclude | {"read_at"}

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "recipient", "read_at"])]

    def __str__(self) -> str:
        return self.verb

    @staticmethod
    def restrict_for(qs, membership, action):
        return qs.filter(recipient_id=membership.user_id)


class BulkJob(TenantModel):
    """A long action over many records, run in the background with progress (rule 7).

    ``kind`` names the registered handler (``pulse.extras.services.register_bulk_job_kind``),
    ``params`` its JSON arguments (the action, the selection as ids or a list filter).
    The runner walks the selection in primary-key order, one atomic chunk at a time,
    and keeps its place in ``cursor`` in the same transaction as the chunk, so a
    redelivered task resumes where it stopped and never applies a chunk twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=80)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    # [{"id": record id, "record": its name, "message": why}], the first MAX_JOB_ERRORS.
    errors = models.JSONField(_("errors"), default=list, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    cursor = models.CharField(max_length=64, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    permission_group = "personal"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_by", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        """How far along, 0–100 (a job with nothing to do is complete when done)."""
        if self.total <= 0:
            return 100 if self.is_finished else 0
        return min(100, int(100 * self.done / self.total))

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @staticmethod
    def restrict_for(qs, membership, action):
        """A job belongs to whoever started it."""
        return qs.filter(created_by_id=membership.user_id)
