"""Leads: the record, its configurable stages and stage history, web-to-lead forms,
scoring (rules, engagement events, the learned model), assignment rules, settings.

A lead is either linked to a contact or carries the raw fields of someone we do not
know yet (first/last name, email, phone, company name, website). Conversion links it
to the contact, company (and, with the opportunities issue, the opportunity) it became;
the lead itself is kept.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from pulse.contacts.models import validate_phone
from pulse.core.countries import COUNTRY_CHOICES, country_name
from pulse.core.models import TenantModel, TenantScopedModel
from pulse.extras.models import CustomFieldsModel


class LeadSource(models.TextChoices):
    """Where a lead came from (the product spec's list)."""

    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    EMAIL = "email", _("Email")
    MANUAL = "manual", _("Entered by hand")
    REFERRAL = "referral", _("Referral")
    CAMPAIGN = "campaign", _("Campaign")
    SOCIAL = "social", _("Social media")
    EVENT = "event", _("Event")
    OTHER = "other", _("Other")


class StageKind(models.TextChoices):
    """What a stage means for reporting: still open, converted, or unqualified (lost)."""

    OPEN = "open", _("Open")
    CONVERTED = "converted", _("Converted")
    UNQUALIFIED = "unqualified", _("Unqualified")


# The stages a new organization starts with: (key, name, kind).
DEFAULT_STAGES = (
    ("new", _("New"), StageKind.OPEN),
    ("contacted", _("Contacted"), StageKind.OPEN),
    ("qualified", _("Qualified"), StageKind.OPEN),
    ("unqualified", _("Unqualified"), StageKind.UNQUALIFIED),
    ("converted", _("Converted"), StageKind.CONVERTED),
)


class LeadStage(TenantModel):
    """One column of an organization's lead pipeline, in ``position`` order.

    ``key`` is the stable name the API uses (``PUT /api/crm/leads/{id}/stage/`` takes
    it); ``requires_reason`` makes moving a lead here ask why (default for unqualified).
    """

    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=12, choices=StageKind.choices)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    requires_reason = models.BooleanField(_("asks for a reason"), default=False)
    color = models.CharField(_("colour"), max_length=7, default="#6c757d")

    permission_group = "config"

    class Meta:
        verbose_name = _("lead stage")
        verbose_name_plural = _("lead stages")
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"],
                condition=models.Q(deleted_at__isnull=True),
                name="leadstage_unique_key",
                violation_error_message=_("A stage with this key already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Lead(CustomFieldsModel, TenantModel):
    """Someone who might buy, before qualification: from a form, an import, the API…"""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        verbose_name=_("contact"),
    )
    # A raw lead's own details, used while there is no contact.
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True, validators=[validate_phone])
    company_name = models.CharField(_("company name"), max_length=200, blank=True)
    website = models.URLField(_("website"), max_length=300, blank=True)
    job_title = models.CharField(_("job title"), max_length=150, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    company_size = models.CharField(_("company size"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRY_CHOICES, blank=True)

    source = models.CharField(
        _("source"), max_length=12, choices=LeadSource.choices, default=LeadSource.MANUAL
    )
    utm_source = models.CharField(_("UTM source"), max_length=200, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=200, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=200, blank=True)
    referrer = models.CharField(_("referring page"), max_length=1000, blank=True)
    web_form = models.ForeignKey(
        "leads.WebForm",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        verbose_name=_("web form"),
    )

    stage = models.ForeignKey(
        LeadStage, on_delete=models.PROTECT, related_name="leads", verbose_name=_("stage")
    )
    stage_changed_at = models.DateTimeField(_("in stage since"), null=True, blank=True)
    unqualified_reason = models.CharField(_("reason"), max_length=300, blank=True)

    # Rule-based score (0–100 after clamping) and its explanation
    # [{"label": "Industry = Software", "points": 12}, …].
    score = models.SmallIntegerField(_("score"), default=0, db_index=False)
    score_factors = models.JSONField(_("score factors"), default=list, blank=True)
    scored_at = models.DateTimeField(_("scored at"), null=True, blank=True)
    # Learned conversion probability (0–1) and its factors for and against.
    predicted_probability = models.FloatField(_("predicted probability"), null=True, blank=True)
    prediction_factors = models.JSONField(_("prediction factors"), default=list, blank=True)
    last_engagement_at = models.DateTimeField(_("last engagement"), null=True, blank=True)

    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    # A person's probability (0–100) overrides the predicted one; who and when is kept.
    probability = models.PositiveSmallIntegerField(
        _("probability"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
    )
    probability_overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    probability_overridden_at = models.DateTimeField(null=True, blank=True, editable=False)
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)

    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_leads",
        verbose_name=_("owner"),
    )
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    tags = models.ManyToManyField(
        "extras.Tag", blank=True, related_name="leads", verbose_name=_("tags")
    )

    # What conversion made of this lead (kept, linked).
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    converted_contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="converted_leads",
        verbose_name=_("converted to contact"),
    )
    converted_company = models.ForeignKey(
        "contacts.Company",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="converted_leads",
        verbose_name=_("converted to company"),
    )
    converted_opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="converted_leads",
        editable=False,
        verbose_name=_("converted to opportunity"),
    )

    visibility_field = "assigned_to"
    # Derived bookkeeping: the stage history and the owner change already say when.
    audit_exclude = TenantModel.audit_exclude | {
        "stage_changed_at",
        "assigned_at",
        "score_factors",
        "scored_at",
        "prediction_factors",
        "predicted_probability",
        "last_engagement_at",
    }

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="lead_org_created"),
            models.Index(
                fields=["organization", "stage", "-created_at"], name="lead_org_stage_created"
            ),
            models.Index(fields=["organization", "assigned_to"], name="lead_org_assigned"),
            models.Index(fields=["organization", "-score"], name="lead_org_score"),
            models.Index(fields=["organization", "source"], name="lead_org_source"),
            models.Index("organization", Lower("email"), name="lead_org_email"),
            # (G) The pipeline's per-stage counts and totals, read from the index alone
            # (PostgreSQL index-only scan; SQLite ignores INCLUDE): selectors.lead_pipeline.
            models.Index(
                fields=["organization", "stage", "currency"],
                include=["value"],
                condition=models.Q(deleted_at__isnull=True),
                name="lead_org_stage_totals",
            ),
        ]

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("leads:lead_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        if self.contact_id and self.contact:
            return str(self.contact)
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def is_converted(self) -> bool:
        return self.converted_at is not None

    @property
    def effective_probability(self) -> int | None:
        """The person's override if any, else the learned probability, as a percentage."""
        if self.probability is not None:
            return self.probability
        if self.predicted_probability is not None:
            return round(self.predicted_probability * 100)
        return None

    def clean(self):
        super().clean()
        if self.email:
            self.email = self.email.strip()
        if self.value is not None and self.value < 0:
            raise ValidationError({"value": _("A value cannot be negative.")})
        if self.currency:
            self.currency = self.currency.upper()
            if len(self.currency) != 3 or not self.currency.isalpha():
                raise ValidationError({"currency": _("Use a three-letter ISO 4217 code.")})


class LeadStageChange(TenantScopedModel):
    """One move of a lead between stages, with the mover's notes (history and timeline)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(
        LeadStage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(LeadStage, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(_("notes"), blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["lead", "-changed_at"], name="leadstagechange_lead")]


class LeadSettings(TenantModel):
    """An organization's lead settings: score bands, decay and the flood guard."""

    hot_threshold = models.PositiveSmallIntegerField(
        _("hot from score"), default=70, validators=[MaxValueValidator(100)]
    )
    warm_threshold = models.PositiveSmallIntegerField(
        _("warm from score"), default=40, validators=[MaxValueValidator(100)]
    )
    # Engagement points halve every this many days (recency decay).
    decay_half_life_days = models.PositiveSmallIntegerField(
        _("engagement half-life (days)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # Public form posts accepted per IP address per minute.
    form_rate_limit_per_minute = models.PositiveSmallIntegerField(
        _("form posts per address per minute"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )

    permission_group = "config"

    class Meta:
        verbose_name = _("lead settings")
        verbose_name_plural = _("lead settings")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="leadsettings_one_per_org")
        ]

    def clean(self):
        super().clean()
        if self.warm_threshold >= self.hot_threshold:
            raise ValidationError(
                {"warm_threshold": _("Warm must start below hot.")}, code="band_order"
            )

    def band(self, score: int) -> str:
        if score >= self.hot_threshold:
            return "hot"
        if score >= self.warm_threshold:
            return "warm"
        return "cold"


class ScoringRule(TenantModel):
    """Points for a lead matching a field condition or showing an engagement.

    Field rules: ``field`` ``operator`` ``value`` (e.g. industry equals Software,
    job_title contains "head"). Engagement rules: ``event`` (email opened, form
    submitted…) worth ``points`` each time, decayed by the organization's half-life.
    """

    class Kind(models.TextChoices):
        FIELD = "field", _("Field condition")
        ENGAGEMENT = "engagement", _("Engagement")

    class Operator(models.TextChoices):
        EQUALS = "equals", _("equals")
        NOT_EQUALS = "not_equals", _("does not equal")
        CONTAINS = "contains", _("contains")
        IN = "in", _("is one of")
        GREATER = "gt", _("is greater than")
        LESS = "lt", _("is less than")
        IS_SET = "is_set", _("is set")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.FIELD)
    field = models.CharField(_("field"), max_length=60, blank=True)
    operator = models.CharField(_("operator"), max_length=12, choices=Operator.choices, blank=True)
    value = models.CharField(_("value"), max_length=300, blank=True)
    event = models.CharField(_("event"), max_length=20, blank=True)
    points = models.SmallIntegerField(
        _("points"), validators=[MinValueValidator(-100), MaxValueValidator(100)]
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)

    permission_group = "config"

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class EngagementKind(models.TextChoices):
    EMAIL_OPENED = "email_opened", _("Email opened")
    EMAIL_REPLIED = "email_replied", _("Email replied")
    FORM_SUBMITTED = "form_submitted", _("Form submitted")
    MEETING_HELD = "meeting_held", _("Meeting held")
    CALL_HELD = "call_held", _("Call held")
    PAGE_VISITED = "page_visited", _("Page visited")


class LeadEngagement(TenantScopedModel):
    """Something a lead did (opened an email, submitted a form…), for scoring.

    An event log, not an edited record: rows are only ever added. The activities and
    email issues record theirs here through ``pulse.leads.services.lead_engagement_record``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="engagements")
    kind = models.CharField(_("kind"), max_length=20, choices=EngagementKind.choices)
    occurred_at = models.DateTimeField(_("when"))
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="leadengagement_lead")]


class PredictiveModel(TenantScopedModel):
    """A conversion model learned from one organization's closed leads.

    ``status`` says whether there was enough history; ``parameters`` holds what the
    scorer needs (per-feature weights and the prior), ``backtest`` the held-out
    calibration by score band with sample sizes. The newest row decides: when the newest
    training found too little history, predictions are cleared and the rules stand alone
    (an old model would keep scoring on data the organization may have since removed).
    """

    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        INSUFFICIENT = "insufficient", _("Too little history")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    trained_at = models.DateTimeField(auto_now_add=True, db_index=True)
    converted_count = models.PositiveIntegerField(default=0)
    lost_count = models.PositiveIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    backtest = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-trained_at", "-id"]


class AssignmentRule(TenantModel):
    """Who gets a new lead: evaluated in ``position`` order, the first that matches wins.

    ``conditions`` narrows which leads the rule takes ([{"field", "operator", "value"}],
    all must hold; empty takes every lead). ``strategy`` picks the owner among
    ``users`` (or the ``team``'s members): round robin, by territory/country (the
    ``territories`` map {country or territory: user id}), to the one with the fewest
    open leads, or simply the first listed user (field criteria).
    """

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        TERRITORY = "territory", _("By territory or country")
        CRITERIA = "criteria", _("By field criteria")
        FEWEST_OPEN = "fewest_open", _("Fewest open leads")

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    strategy = models.CharField(_("strategy"), max_length=12, choices=Strategy.choices)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("users")
    )
    territories = models.JSONField(_("territories"), default=dict, blank=True)
    # Round robin's place: the user who got the last lead.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    permission_group = "config"
    audit_exclude = TenantModel.audit_exclude | {"last_assigned"}

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


def _form_key() -> str:
    return secrets.token_urlsafe(12)


class WebForm(TenantModel):
    """A web-to-lead form an admin designs; the public posts to ``/f/<key>/``.

    ``fields``: [{"name": lead field, "label": text, "required": bool}] in order.
    """

    name = models.CharField(_("name"), max_length=100)
    key = models.CharField(max_length=32, unique=True, default=_form_key, editable=False)
    fields = models.JSONField(_("fields"), default=list, blank=True)
    submit_label = models.CharField(_("button text"), max_length=60, blank=True)
    consent_text = models.TextField(_("consent checkbox text"), blank=True)
    thank_you_message = models.TextField(_("thank-you message"), blank=True)
    redirect_url = models.URLField(_("redirect to"), max_length=500, blank=True)
    default_source = models.CharField(
        _("source"), max_length=12, choices=LeadSource.choices, default=LeadSource.WEB_FORM
    )
    default_assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assign to"),
        help_text=_("Leave empty to let the assignment rules decide."),
    )
    double_opt_in = models.BooleanField(_("confirm by email (double opt-in)"), default=False)
    active = models.BooleanField(_("accepting submissions"), default=True)

    permission_group = "config"

    class Meta:
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebFormSubmission(TenantScopedModel):
    """One post to a public form: what was sent, from where, and what became of it."""

    # Raw posts hold prospects' personal data and IP addresses: readable by those who
    # manage the forms, not by every role that can read leads.
    permission_group = "config"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        PENDING = "pending", _("Waiting for email confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        SPAM = "spam", _("Spam")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="submissions")
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    data = models.JSONField(default=dict, blank=True)
    utm = models.JSONField(default=dict, blank=True)
    referrer = models.CharField(max_length=1000, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    consent_given = models.BooleanField(default=False)
    confirm_token = models.CharField(max_length=64, blank=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["form", "-created_at"], name="webformsub_form")]
