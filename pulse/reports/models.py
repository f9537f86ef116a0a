"""Reports and dashboards: saved report definitions, their schedules and deliveries, and
the dashboards people arrange out of widgets.

A **report** is a definition over one record type (contacts, companies, leads,
opportunities, activities): filters, columns, up to two groupings (dates by day, week,
month, quarter or year) with aggregates, and a chart type. ``pulse.reports.engine``
validates and runs it; the rows are always the caller's visible rows (``restrict``).

A **dashboard** is an ordered list of widgets. Each user arranges their own (``owner``);
an admin may publish a dashboard (``owner`` empty) to roles or teams, or make it the
organization's default. A user who has not arranged their own sees the published one that
applies to them; their first change copies it into their own (``source`` remembers it).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel, TenantScopedModel


class RecordType(models.TextChoices):
    CONTACTS = "contacts", _("Contacts")
    COMPANIES = "companies", _("Companies")
    LEADS = "leads", _("Leads")
    OPPORTUNITIES = "opportunities", _("Opportunities")
    ACTIVITIES = "activities", _("Activities")


class ChartType(models.TextChoices):
    TABLE = "table", _("Table")
    BAR = "bar", _("Bar chart")
    LINE = "line", _("Line chart")
    PIE = "pie", _("Pie chart")
    FUNNEL = "funnel", _("Funnel")


class ReportVisibility(models.TextChoices):
    PRIVATE = "private", _("Only me")
    SHARED = "shared", _("Everyone in the organization")


class Report(TenantModel):
    """A saved report definition (see ``pulse.reports.engine`` for the JSON shapes).

    ``filters``    ``[{"field": "stage", "op": "in", "value": ["<uuid>", …]}, …]``
    ``columns``    ``["name", "value", "assigned_to", …]`` (rows of an ungrouped report)
    ``group_by``   ``[{"field": "assigned_to"}, {"field": "actual_close_date", "period": "month"}]``
    ``aggregates`` ``[{"fn": "count"}, {"fn": "sum", "field": "value"}]``
    ``ordering``   a column or aggregate key, ``-`` for descending

    ``key`` names a ready-made report (``sales_by_rep`` …); empty for reports people build.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    record_type = models.CharField(_("record type"), max_length=20, choices=RecordType.choices)
    filters = models.JSONField(_("filters"), default=list, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    group_by = models.JSONField(_("group by"), default=list, blank=True)
    aggregates = models.JSONField(_("aggregates"), default=list, blank=True)
    ordering = models.CharField(_("sort by"), max_length=80, blank=True)
    chart_type = models.CharField(
        _("show as"), max_length=10, choices=ChartType.choices, default=ChartType.TABLE
    )
    visibility = models.CharField(
        _("visible to"),
        max_length=10,
        choices=ReportVisibility.choices,
        default=ReportVisibility.PRIVATE,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        verbose_name=_("owner"),
    )
    key = models.CharField(_("ready-made report"), max_length=40, blank=True, editable=False)

    permission_group = "personal"

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"], name="report_org_name")]
        constraints = [
            models.UniqueConstraint(
                "organization",
                "key",
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(key=""),
                name="report_unique_key",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reports:report_detail", args=[self.pk])

    @property
    def is_grouped(self) -> bool:
        return bool(self.group_by)

    @staticmethod
    def restrict_for(qs, membership, action):
        """Everyone sees shared reports; only the owner (or an admin) changes them."""
        mine = models.Q(owner_id=membership.user_id)
        if action in ("view", "export"):
            return qs.filter(mine | models.Q(visibility=ReportVisibility.SHARED))
        return qs if membership.is_admin else qs.filter(mine)


class ScheduleFrequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"
    PDF = "pdf", "PDF"


class ReportSchedule(TenantModel):
    """Email a report's export to members on a daily, weekly or monthly rhythm.

    ``next_run_at`` is the next moment (UTC) it is due; the beat task claims due rows with
    a conditional update, so two workers never send the same run twice. ``send_time``,
    ``weekday`` (0 = Monday) and ``day_of_month`` (1–28) are read in the organization's
    time zone. Recipients who have left the organization are skipped, and the delivery
    says so (``ReportDelivery``).
    """

    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="schedules", verbose_name=_("report")
    )
    frequency = models.CharField(
        _("how often"),
        max_length=10,
        choices=ScheduleFrequency.choices,
        default=ScheduleFrequency.WEEKLY,
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), default=0, validators=[MaxValueValidator(6)]
    )
    day_of_month = models.PositiveSmallIntegerField(
        _("day of the month"), default=1, validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    send_time = models.TimeField(_("time of day"), default="07:00")
    format = models.CharField(
        _("format"), max_length=5, choices=ExportFormat.choices, default=ExportFormat.PDF
    )
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="report_schedules",
        verbose_name=_("recipients"),
        blank=True,
    )
    active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_status = models.CharField(_("last status"), max_length=10, blank=True, editable=False)
    last_message = models.TextField(_("last message"), blank=True, editable=False)

    permission_group = "personal"
    audit_exclude = ("next_run_at", "last_run_at", "last_status", "last_message")

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        ordering = ["report__name", "created_at"]
        indexes = [
            models.Index(
                fields=["next_run_at"],
                name="reportschedule_due",
                condition=models.Q(active=True, deleted_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.report} · {self.get_frequency_display()}"

    @staticmethod
    def restrict_for(qs, membership, action):
        """A schedule follows its report: the report's owner (or an admin) manages it."""
        if membership.is_admin:
            return qs
        mine = models.Q(report__owner_id=membership.user_id) | models.Q(
            created_by_id=membership.user_id
        )
        return qs.filter(mine)


class DeliveryStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    PARTIAL = "partial", _("Sent to some")
    SKIPPED = "skipped", _("Not sent")
    FAILED = "failed", _("Failed")


class ReportDelivery(TenantScopedModel):
    """One run of a schedule: who got it, who was skipped and why."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schedule = models.ForeignKey(
        ReportSchedule, on_delete=models.CASCADE, related_name="deliveries"
    )
    ran_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    sent_to = models.JSONField(default=list, blank=True)
    skipped = models.JSONField(default=list, blank=True)  # [{"email": …, "reason": …}]
    rows = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-ran_at"]
        indexes = [models.Index(fields=["schedule", "-ran_at"], name="reportdelivery_schedule")]


class DashboardScope(models.TextChoices):
    ME = "me", _("Me")
    TEAM = "team", _("My team")
    ORG = "org", _("Whole organization")


class Dashboard(TenantModel):
    """A user's own arrangement (``owner`` set) or a published one (``owner`` empty).

    A published dashboard applies to members whose role is in ``roles`` or who belong to
    one of ``teams``; ``is_default`` makes it the fallback for everyone else. ``scope``
    and ``scope_team`` remember whose numbers the owner last looked at.
    """

    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dashboards",
        verbose_name=_("owner"),
    )
    roles = models.JSONField(_("published to roles"), default=list, blank=True)
    teams = models.ManyToManyField(
        "accounts.Team", blank=True, related_name="dashboards", verbose_name=_("published to teams")
    )
    is_default = models.BooleanField(_("organization default"), default=False)
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        editable=False,
    )
    scope = models.CharField(
        _("numbers of"), max_length=5, choices=DashboardScope.choices, default=DashboardScope.ME
    )
    scope_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )

    permission_group = "personal"

    class Meta:
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboards")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                "owner",
                condition=models.Q(deleted_at__isnull=True, owner__isnull=False),
                name="dashboard_one_per_owner",
            ),
            models.UniqueConstraint(
                "organization",
                condition=models.Q(deleted_at__isnull=True, is_default=True),
                name="dashboard_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_published(self) -> bool:
        return self.owner_id is None

    @staticmethod
    def restrict_for(qs, membership, action):
        """Own dashboards, and published ones to view; admins manage the published ones."""
        mine = models.Q(owner_id=membership.user_id)
        published = models.Q(owner__isnull=True)
        if action == "view":
            return qs.filter(mine | published)
        return qs.filter(mine | published) if membership.is_admin else qs.filter(mine)


class WidgetWidth(models.IntegerChoices):
    QUARTER = 3, _("Quarter width")
    THIRD = 4, _("Third width")
    HALF = 6, _("Half width")
    TWO_THIRDS = 8, _("Two thirds")
    FULL = 12, _("Full width")


class DashboardWidget(TenantModel):
    """One tile: a metric from ``pulse.reports.metrics.WIDGETS`` (``kind``) or a saved report
    (``kind="report"``), with its own period and size, at ``position`` in the grid."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="widgets")
    kind = models.CharField(_("widget"), max_length=40)
    report = models.ForeignKey(
        Report,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="widgets",
        verbose_name=_("report"),
    )
    title = models.CharField(_("title"), max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    width = models.PositiveSmallIntegerField(
        _("width"), choices=WidgetWidth.choices, default=WidgetWidth.THIRD
    )
    height = models.PositiveSmallIntegerField(
        _("height"), default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    period = models.CharField(_("period"), max_length=20, default="this_month")
    options = models.JSONField(_("options"), default=dict, blank=True)

    permission_group = "personal"

    class Meta:
        verbose_name = _("widget")
        verbose_name_plural = _("widgets")
        ordering = ["dashboard", "position", "created_at"]
        indexes = [models.Index(fields=["dashboard", "position"], name="widget_dashboard_pos")]

    def __str__(self) -> str:
        return self.title or self.kind

    @staticmethod
    def restrict_for(qs, membership, action):
        """A widget follows its dashboard."""
        mine = models.Q(dashboard__owner_id=membership.user_id)
        published = models.Q(dashboard__owner__isnull=True)
        if action == "view":
            return qs.filter(mine | published)
        return qs.filter(mine | published) if membership.is_admin else qs.filter(mine)
