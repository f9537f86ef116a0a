"""Users, organizations (the tenant), memberships with roles, teams, invitations, API tokens."""

from __future__ import annotations

import hashlib
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.countries import COUNTRY_CHOICES
from pulse.core.models import AuditedMixin, TenantModel, TenantScopedModel


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    SALES_REP = "sales_rep", _("Sales rep")
    SUPPORT_AGENT = "support_agent", _("Support agent")
    READ_ONLY = "read_only", _("Read-only")


class RecordVisibility(models.TextChoices):
    ALL = "all", _("Everyone sees every record")
    TEAM = "team", _("Reps see their own and their team's records; managers their teams'")


class DateFormat(models.TextChoices):
    ISO = "Y-m-d", "2026-12-31"
    EU = "d.m.Y", "31.12.2026"
    UK = "d/m/Y", "31/12/2026"
    US = "m/d/Y", "12/31/2026"


TIME_ZONE_CHOICES = [
    (tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"
]
MONTH_CHOICES = [
    (i, _(name))
    for i, name in enumerate(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        start=1,
    )
]


currency_code_validator = RegexValidator(
    r"^[A-Z]{3}\Z", _("Enter a three-letter ISO 4217 currency code in capitals, such as EUR.")
)


def validate_logo_size(file) -> None:
    """A logo may not be larger than ``settings.MAX_LOGO_SIZE`` bytes."""
    if file and file.size > settings.MAX_LOGO_SIZE:
        raise ValidationError(
            _("The logo may be at most %(limit)s KB; this file is %(size)s KB."),
            code="file_too_large",
            params={"limit": settings.MAX_LOGO_SIZE // 1024, "size": -(-file.size // 1024)},
        )


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with an email address; may belong to several organizations."""

    id = models.BigAutoField(primary_key=True)
    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    last_organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def initials(self) -> str:
        parts = [p for p in (self.full_name or self.email).split() if p]
        return "".join(p[0] for p in parts[:2]).upper()


class Organization(AuditedMixin, models.Model):
    """The tenant. Every tenant-owned row points here; nothing crosses between two."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=150)
    slug = models.SlugField(max_length=60, unique=True)
    logo = models.ImageField(
        _("logo"), upload_to="logos/", blank=True, validators=[validate_logo_size]
    )
    default_currency = models.CharField(
        _("default currency"), max_length=3, default="EUR", validators=[currency_code_validator]
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        choices=COUNTRY_CHOICES,
        blank=True,
        help_text=_("Phone numbers typed without a +country code are read as this country's."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="UTC"
    )
    date_format = models.CharField(
        _("date format"), max_length=8, choices=DateFormat.choices, default=DateFormat.ISO
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        _("fiscal year starts in"), choices=MONTH_CHOICES, default=1
    )
    record_visibility = models.CharField(
        _("record visibility"),
        max_length=8,
        choices=RecordVisibility.choices,
        default=RecordVisibility.ALL,
    )
    trash_retention_days = models.PositiveSmallIntegerField(
        _("keep deleted records for (days)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # Per-organization changes to the default permission matrix: {role: {record_type: [actions]}}.
    permission_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organization_id(self):
        return self.pk


class Membership(TenantModel):
    """A user's place in an organization: their role. Removing a member trashes this row."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES_REP)
    # Assignment rules skip members who are away (holiday, full pipeline).
    available_for_assignment = models.BooleanField(_("takes new leads"), default=True)

    permission_group = "config"

    class Meta:
        ordering = ["user__full_name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


class Team(TenantModel):
    """A group of users with a manager; record visibility can follow teams."""

    name = models.CharField(_("name"), max_length=100)
    manager = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
        verbose_name=_("manager"),
    )
    members = models.ManyToManyField(
        User, blank=True, related_name="teams", verbose_name=_("members")
    )

    permission_group = "config"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="team_unique_name",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Invitation(AuditedMixin, TenantScopedModel):
    """An emailed, signed, expiring invitation to join an organization with a role."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES_REP)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Invitations are organization settings, and only those who may invite see them.
    permission_group = "config"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    @staticmethod
    def restrict_for(qs, membership, action):
        return qs if membership.is_admin else qs.none()

    @property
    def expires_at(self):
        return self.created_at + timezone.timedelta(seconds=settings.INVITATION_MAX_AGE)

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if timezone.now() > self.expires_at:
            return "expired"
        return "pending"


class ApiToken(AuditedMixin, TenantScopedModel):
    """A personal API token, bound to one user in one organization. Only its hash is kept."""

    PREFIX = "pulse_"
    # Creation and revocation are logged; the hash and the use stamp are not.
    audit_exclude = AuditedMixin.audit_exclude | {"key_hash", "last_used_at"}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    key_prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Everyone manages their own tokens; nobody sees anyone else's, admins included.
    permission_group = "personal"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def restrict_for(qs, membership, action):
        return qs.filter(user_id=membership.user_id)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @staticmethod
    def hash_key(key: str) -> str:
        # Tokens are 256-bit random strings, so a fast hash suffices (no brute-force risk).
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
