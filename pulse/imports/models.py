"""Imports: an uploaded file, its column mapping, its run and what it wrote (for undo).

``ImportJob`` is one import from upload to summary; ``ImportRecord`` remembers every
record the job created or updated (with the previous values of an update) so the job
can be undone as one unit; ``ImportMapping`` is the column mapping an organization
saved for files with the same header row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel, TenantScopedModel


def import_upload_to(instance, filename: str) -> str:
    """``imports/<organization id>/<job id>/<original name>`` under MEDIA_ROOT."""
    return f"imports/{instance.organization_id}/{instance.pk}/{filename}"


class ImportJob(TenantModel):
    """One import: the stored file, how it is read and mapped, progress and results."""

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Waiting for mapping")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNDOING = "undoing", _("Undoing")
        UNDONE = "undone", _("Undone")

    class Mode(models.TextChoices):
        CREATE = "create", _("Create a new record for every row")
        UPDATE = "update", _("Update matching records, create the others")
        SKIP = "skip", _("Skip rows that look like duplicates")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"
        VCF = "vcf", "vCard"

    target = models.CharField(_("import into"), max_length=40)
    file = models.FileField(_("file"), upload_to=import_upload_to, max_length=500)
    original_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("file size"), default=0)
    file_format = models.CharField(_("format"), max_length=10, choices=Format.choices)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    has_header = models.BooleanField(_("the first row holds column names"), default=True)
    headers = models.JSONField(_("columns"), default=list, blank=True)
    # {column index (as text): field key}; unmapped columns are left out.
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.SKIP)
    # "email" or a custom field key ("cf_<key>") holding the other system's record id.
    match_by = models.CharField(_("match by"), max_length=60, default="email")
    # Reader warnings found when the file was analysed (encoding, headers, formulas…).
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.MAPPING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows read"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped as duplicates"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    # The last file line whose row is fully handled (written with its batch): a
    # redelivered task resumes after it.
    cursor_line = models.PositiveIntegerField(default=0, editable=False)
    # The first MAX_SHOWN_ERRORS failed rows: [{"line", "reason"}]; all are in error_file.
    errors = models.JSONField(_("errors"), default=list, blank=True)
    formula_cells = models.PositiveIntegerField(_("formula-like cells"), default=0)
    error_file = models.FileField(upload_to=import_upload_to, max_length=500, blank=True)
    message = models.TextField(_("message"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    audit_exclude = TenantModel.audit_exclude | {
        "processed_rows",
        "cursor_line",
        "errors",
        "created_count",
        "updated_count",
        "skipped_count",
        "failed_count",
        "formula_cells",
    }

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="importjob_org_created")
        ]

    def __str__(self) -> str:
        return self.original_name or str(_("Import"))

    def get_absolute_url(self) -> str:
        return reverse("imports:import_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        if self.status in (self.Status.DONE, self.Status.UNDONE):
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(100 * self.processed_rows / self.total_rows))

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING, self.Status.UNDOING)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.UNDONE)

    @property
    def can_undo(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED) and (
            self.created_count or self.updated_count
        )

    @staticmethod
    def restrict_for(qs, membership, action):
        """Admins see every import of the organization; others the ones they started."""
        if membership.is_admin:
            return qs
        return qs.filter(created_by_id=membership.user_id)


class ImportRecord(TenantScopedModel):
    """A record an import created or updated; ``previous`` holds an update's old values."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="records")
    # "contacts.contact" …: one import may write several record types (contacts and the
    # companies it created for them).
    model = models.CharField(max_length=100)
    object_id = models.UUIDField()
    action = models.CharField(max_length=10, choices=Action.choices)
    line = models.PositiveIntegerField(default=0)
    # {field attname: old JSON value} for updates, {"tags": [tag ids]} when tags were added.
    previous = models.JSONField(default=dict, blank=True)

    permission_group = "records"

    class Meta:
        indexes = [models.Index(fields=["job", "model", "action"], name="importrecord_job")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.model} {self.object_id}"


class ImportMapping(TenantModel):
    """A column mapping an organization saved, found again by the file's header row."""

    target = models.CharField(max_length=40)
    # sha256 of the normalised header row: the same export layout finds its mapping.
    signature = models.CharField(max_length=64)
    headers = models.JSONField(default=list, blank=True)
    # {header text: field key}
    mapping = models.JSONField(default=dict, blank=True)

    permission_group = "records"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "target", "signature"],
                condition=models.Q(deleted_at__isnull=True),
                name="importmapping_unique_signature",
                violation_error_message=_("A mapping for these columns already exists."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.target}: {', '.join(self.headers[:4])}"
