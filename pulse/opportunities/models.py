"""Opportunities: pipelines and their stages, the opportunity with its line items and
contact roles, the stage history, loss reasons, quotas and forecast snapshots.

An opportunity lives in one pipeline and one of that pipeline's stages. The stage's
type (open, won, lost) sets the opportunity's status; its default probability sets the
opportunity's unless a person overrode it. Every stage change is a row in
``OpportunityStageChange`` (from, to, when, who), from which time in stage, velocity and
stage-to-stage conversion are derived.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.currencies import CURRENCY_CHOICES
from pulse.core.models import TenantModel, TenantScopedModel
from pulse.extras.models import CustomFieldsModel

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]
NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]


class StageType(models.TextChoices):
    """What reaching a stage means: still open, won, or lost."""

    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


# An opportunity's status is its stage's type; the same three values.
OpportunityStatus = StageType


class ForecastCategory(models.TextChoices):
    """Where a deal counts in the forecast (a manager may adjust a rep's choice)."""

    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    CLOSED = "closed", _("Closed")
    OMITTED = "omitted", _("Omitted")


class ContactRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    CHAMPION = "champion", _("Champion")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", _("User")
    OTHER = "other", _("Other")


# What a new organization starts with: one pipeline, its stages
# (name, probability, type, rotting days) and the loss reasons.
DEFAULT_PIPELINE = _("New business")
DEFAULT_STAGES = (
    (_("Qualification"), 10, StageType.OPEN, 14),
    (_("Needs analysis"), 25, StageType.OPEN, 14),
    (_("Proposal"), 50, StageType.OPEN, 10),
    (_("Negotiation"), 75, StageType.OPEN, 7),
    (_("Won"), 100, StageType.WON, None),
    (_("Lost"), 0, StageType.LOST, None),
)
DEFAULT_LOSS_REASONS = (
    _("Price too high"),
    _("Lost to a competitor"),
    _("No budget"),
    _("No decision"),
    _("Timing"),
    _("Missing features"),
)


class Pipeline(TenantModel):
    """A sales process with its own ordered stages (New business, Renewals, Partners…)."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_default = models.BooleanField(_("default pipeline"), default=False)

    permission_group = "config"

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="pipeline_unique_name",
                violation_error_message=_("A pipeline with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return f"{reverse('opportunities:opportunity_board')}?pipeline={self.pk}"

    def trash_companions(self):
        """The stages trashed together with this pipeline (``pipeline_delete`` gives them
        the pipeline's deletion time): restoring the pipeline restores them too. A stage
        deleted on its own earlier stays in the trash."""
        if self.deleted_at is None:
            return Stage.objects.none()
        return Stage.trash.filter(pipeline=self, deleted_at=self.deleted_at)


class Stage(TenantModel):
    """One column of a pipeline, in ``position`` order.

    ``probability`` is the default for opportunities in it; ``rotting_days`` flags an
    open opportunity with no activity for longer (empty: never).
    """

    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline")
    )
    name = models.CharField(_("name"), max_length=60)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(
        _("default probability"), default=0, validators=PERCENT
    )
    type = models.CharField(
        _("type"), max_length=4, choices=StageType.choices, default=StageType.OPEN
    )
    rotting_days = models.PositiveSmallIntegerField(
        _("rotting after (days)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    color = models.CharField(_("colour"), max_length=7, default="#6c757d")

    permission_group = "config"

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="stage_unique_name",
                violation_error_message=_("This pipeline already has a stage with this name."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.type != StageType.OPEN


class LossReason(TenantModel):
    """One entry of the organization's list of reasons a deal was lost."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("offered"), default=True)

    permission_group = "config"

    class Meta:
        verbose_name = _("loss reason")
        verbose_name_plural = _("loss reasons")
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="lossreason_unique_name",
                violation_error_message=_("This loss reason already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Opportunity(CustomFieldsModel, TenantModel):
    """A deal being worked: who, how much, in which stage, when it should close."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        verbose_name=_("lead"),
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        verbose_name=_("contact"),
    )
    company = models.ForeignKey(
        "contacts.Company",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        verbose_name=_("company"),
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.PROTECT, related_name="opportunities", verbose_name=_("pipeline")
    )
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="opportunities", verbose_name=_("stage")
    )
    stage_changed_at = models.DateTimeField(_("in stage since"), default=timezone.now)
    # Anything done on the deal (an edit, a move; the activities issue adds calls and
    # meetings): the rotting flag compares this with the stage's threshold.
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)

    value = models.DecimalField(
        _("value"), max_digits=14, decimal_places=2, default=Decimal("0"), validators=NOT_NEGATIVE
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        choices=CURRENCY_CHOICES,
        error_messages={"invalid_choice": _("“%(value)s” is not an ISO 4217 currency code.")},
    )
    probability = models.PositiveSmallIntegerField(_("probability"), validators=PERCENT)
    # False: the probability follows the stage's default; True: a person set it.
    probability_is_custom = models.BooleanField(_("probability set by hand"), default=False)
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    actual_close_date = models.DateField(_("actual close date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=4, choices=StageType.choices, default=StageType.OPEN
    )
    loss_reason = models.ForeignKey(
        LossReason,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("loss reason"),
    )
    competitor = models.CharField(_("competitor"), max_length=200, blank=True)
    forecast_category = models.CharField(
        _("forecast category"),
        max_length=9,
        choices=ForecastCategory.choices,
        default=ForecastCategory.PIPELINE,
    )
    # Where the deal came from (copied from the lead on conversion): win rate by source.
    source = models.CharField(_("source"), max_length=12, blank=True)

    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_opportunities",
        verbose_name=_("owner"),
    )
    tags = models.ManyToManyField(
        "extras.Tag", blank=True, related_name="opportunities", verbose_name=_("tags")
    )

    visibility_field = "assigned_to"
    audit_exclude = TenantModel.audit_exclude | {"stage_changed_at", "last_activity_at"}

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="opp_org_created"),
            models.Index(fields=["organization", "assigned_to"], name="opp_org_assigned"),
            models.Index(
                fields=["organization", "status", "expected_close_date"], name="opp_org_close"
            ),
            models.Index(
                fields=["organization", "status", "actual_close_date"], name="opp_org_closed"
            ),
            # The board: newest cards of one stage, and per-stage totals from the index.
            models.Index(
                fields=["organization", "stage", "-created_at"],
                condition=models.Q(deleted_at__isnull=True),
                name="opp_org_stage_created",
            ),
            models.Index(
                fields=["organization", "stage", "currency"],
                include=["value", "probability"],
                condition=models.Q(deleted_at__isnull=True),
                name="opp_org_stage_totals",
            ),
            # The board's Won and Lost columns: the deals closed this quarter, newest first
            # (0003_g_board_closed_index).
            models.Index(
                fields=["organization", "stage", "-actual_close_date"],
                include=["currency", "value", "probability"],
                condition=models.Q(status__in=["won", "lost"], deleted_at__isnull=True),
                name="opp_org_stage_closed",
            ),
            # The forecast's two aggregates as index-only scans (bench/notes/opportunities.md):
            # open deals by expected close date, won deals by close date. ``id`` is there
            # for COUNT(id).
            models.Index(
                fields=["organization", "expected_close_date"],
                include=[
                    "assigned_to",
                    "currency",
                    "forecast_category",
                    "value",
                    "probability",
                    "id",
                ],
                condition=models.Q(status="open", deleted_at__isnull=True),
                name="opp_forecast_open",
            ),
            models.Index(
                fields=["organization", "actual_close_date"],
                include=["assigned_to", "currency", "value", "id"],
                condition=models.Q(status="won", deleted_at__isnull=True),
                name="opp_forecast_won",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("opportunities:opportunity_detail", args=[self.pk])

    @property
    def weighted_value(self) -> Decimal:
        return (self.value * self.probability / Decimal(100)).quantize(Decimal("0.01"))

    @property
    def days_in_stage(self) -> int:
        return max(0, (timezone.now() - self.stage_changed_at).days)

    @property
    def is_rotting(self) -> bool:
        """Open, and no activity for longer than its stage allows (needs ``stage``)."""
        days = self.stage.rotting_days
        if self.status != StageType.OPEN or not days:
            return False
        return (timezone.now() - self.last_activity_at).days > days

    def clean(self):
        super().clean()
        errors: dict[str, str] = {}
        if self.currency:
            self.currency = self.currency.upper()
        if self.stage_id and self.pipeline_id and self.stage.pipeline_id != self.pipeline_id:
            errors["stage"] = _("This stage belongs to another pipeline.")
        if self.status == StageType.WON and not self.actual_close_date:
            errors["actual_close_date"] = _("A won deal needs the date it closed.")
        if self.status == StageType.LOST and not self.loss_reason_id:
            errors["loss_reason"] = _("Say why this deal was lost.")
        if self.status == StageType.OPEN and self.loss_reason_id:
            errors["loss_reason"] = _("Only a lost deal has a loss reason.")
        if errors:
            raise ValidationError(errors)


class OpportunityLineItem(TenantModel):
    """A product line of an opportunity; when an opportunity has lines, they drive its value.

    ``total`` = quantity × unit price × (1 − discount %), kept by the services.
    The catalogue (products issue) will add a product link; the name is kept either way.
    """

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="line_items"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    product_name = models.CharField(_("product"), max_length=200)
    quantity = models.DecimalField(
        _("quantity"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=14, decimal_places=2, validators=NOT_NEGATIVE
    )
    discount = models.DecimalField(
        _("discount %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=Decimal("0"))

    visibility_field = "opportunity__assigned_to"

    class Meta:
        verbose_name = _("line item")
        verbose_name_plural = _("line items")
        ordering = ["position", "created_at"]

    def __str__(self) -> str:
        return self.product_name

    def compute_total(self) -> Decimal:
        gross = (self.quantity or 0) * (self.unit_price or 0)
        return (gross * (Decimal(100) - (self.discount or 0)) / Decimal(100)).quantize(
            Decimal("0.01")
        )


class OpportunityContact(TenantModel):
    """A person involved in a deal, with their role in it."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="contact_roles"
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="opportunity_roles"
    )
    role = models.CharField(_("role"), max_length=16, choices=ContactRole.choices)

    visibility_field = "opportunity__assigned_to"

    class Meta:
        verbose_name = _("contact role")
        verbose_name_plural = _("contact roles")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity", "contact"],
                condition=models.Q(deleted_at__isnull=True),
                name="opportunitycontact_unique",
                violation_error_message=_("This contact is already on the deal."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_role_display()})"


class OpportunityStageChange(TenantScopedModel):
    """One move of an opportunity between stages: from, to, when, who (append-only).

    ``seconds_in_from_stage`` is how long it sat in ``from_stage`` (time in stage,
    velocity); ``value`` is the deal's value then, in ``currency``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    seconds_in_from_stage = models.BigIntegerField(null=True, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["opportunity", "-changed_at"], name="oppstagechange_opp"),
            models.Index(
                fields=["organization", "pipeline", "changed_at"], name="oppstagechange_org_pipe"
            ),
        ]


class QuotaPeriod(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class QuotaMetric(models.TextChoices):
    REVENUE = "revenue", _("Revenue")
    COUNT = "count", _("Deals won")


class Quota(TenantModel):
    """A goal for one user or one team over one period (month, quarter or fiscal year),
    in revenue (the organization's currency) or in deals won. Managers set them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quotas",
        verbose_name=_("user"),
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quotas",
        verbose_name=_("team"),
    )
    period = models.CharField(_("period"), max_length=7, choices=QuotaPeriod.choices)
    period_start = models.DateField(_("period starts"))
    metric = models.CharField(
        _("measured in"), max_length=7, choices=QuotaMetric.choices, default=QuotaMetric.REVENUE
    )
    target = models.DecimalField(
        _("target"), max_digits=14, decimal_places=2, validators=NOT_NEGATIVE
    )

    permission_group = "goals"

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        ordering = ["-period_start", "period"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=False)
                ),
                name="quota_user_or_team",
                violation_error_message=_("A quota is for one user or one team."),
            ),
            models.UniqueConstraint(
                fields=["organization", "user", "team", "period", "period_start", "metric"],
                condition=models.Q(deleted_at__isnull=True),
                nulls_distinct=False,
                name="quota_unique_period",
                violation_error_message=_("This quota already exists for that period."),
            ),
        ]

    def __str__(self) -> str:
        who = self.user or self.team
        return f"{who} · {self.get_period_display()} {self.period_start:%Y-%m-%d}"


class ForecastSnapshot(TenantScopedModel):
    """One owner's forecast for one period and category, as it stood on ``taken_on``.

    Written weekly by a periodic task (idempotent: one row per organization, day,
    period, owner and category). ``amount`` is in the organization's currency.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    taken_on = models.DateField()
    period = models.CharField(max_length=7, choices=QuotaPeriod.choices)
    period_start = models.DateField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    category = models.CharField(max_length=9, choices=ForecastCategory.choices)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    deals = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["taken_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "taken_on", "period", "period_start", "owner", "category"],
                nulls_distinct=False,
                name="forecastsnapshot_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "period", "period_start", "taken_on"],
                name="forecastsnapshot_period",
            )
        ]
