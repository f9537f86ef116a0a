"""Contacts (people) and companies (accounts): the records sales and support work on."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_email
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from pulse.core.countries import COUNTRY_CHOICES, country_name
from pulse.core.models import TenantManager, TenantModel
from pulse.extras.models import CustomFieldsModel

from .phones import INVALID_PHONE, is_e164

MAX_HIERARCHY_DEPTH = 50


def validate_phone(value: str) -> None:
    """A stored phone number is E.164 (``+35921234567``, maybe ``;ext=12``).

    The services parse what people type with ``phonenumbers`` and the organization's
    country before saving (``pulse.contacts.phones``); this check stops anything that
    bypasses them from storing free text.
    """
    if value and not is_e164(value):
        raise ValidationError(INVALID_PHONE, code="invalid_phone")


validate_currency = RegexValidator(
    r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code such as EUR."), code="invalid_currency"
)
validate_x_handle = RegexValidator(
    r"^@?[A-Za-z0-9_]{1,15}$", _("Enter an X handle such as @northwind."), code="invalid_handle"
)
validate_language = RegexValidator(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
    _("Use a language code such as en, bg or pt-BR."),
    code="invalid_language",
)


# Legal-form words that do not tell two companies apart ("Acme Inc." is "ACME").
COMPANY_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "kk",
        "pty",
        "pte",
        "ood",
        "eood",
        "ead",
        "ad",
        "the",
    ]
)


def company_name_key(name: str) -> str:
    """What two spellings of one company share: ``The ACME, Inc.`` → ``acme``.

    Lower case, punctuation and accents folded, legal-form words dropped. Stored on the
    company (``name_key``) so duplicate detection is an index lookup.
    """
    import unicodedata

    folded = unicodedata.normalize("NFKD", name or "")
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    words = re.findall(r"[\w]+", folded)
    kept = [w for w in words if w not in COMPANY_SUFFIXES]
    return " ".join(kept or words)[:200]


def email_domain(email: str) -> str:
    """``Ada@Example.COM`` → ``example.com`` (empty for an empty or odd address)."""
    _, at, domain = (email or "").rpartition("@")
    return domain.strip().lower() if at else ""


def domain_from_website(website: str) -> str:
    """``https://www.Northwind.com/about`` → ``northwind.com``."""
    if not website:
        return ""
    host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


# --- further email addresses of a contact ----------------------------------------------

# Labels offered for further emails; any other short text is accepted as a label too.
EMAIL_LABELS = (("work", _("Work")), ("home", _("Home")), ("other", _("Other")))
MAX_EMAIL_LABEL_LENGTH = 30
MAX_OTHER_EMAILS = 20


def clean_other_emails(value, primary: str = "") -> list[dict[str, str]]:
    """``[{"label", "email"}]`` checked and tidied: stripped, known labels lower-cased, an
    empty label made ``other``; refuses bad addresses, long labels, repeats (ignoring
    case) and the primary address. Raises ``ValidationError`` with every problem.
    """
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError(
            _("Give a list of {label, email} entries."), code="invalid_other_emails"
        )
    if len(value) > MAX_OTHER_EMAILS:
        raise ValidationError(
            _("A contact can have at most %(n)d further emails.") % {"n": MAX_OTHER_EMAILS},
            code="too_many_emails",
        )
    known = {key for key, _label in EMAIL_LABELS}
    seen = {primary.strip().lower()} if primary else set()
    cleaned, errors = [], []
    for item in value:
        if isinstance(item, str):
            item = {"email": item}
        if not isinstance(item, dict) or set(item) - {"label", "email"}:
            errors.append(_("Give each further email as {label, email}."))
            continue
        email = str(item.get("email") or "").strip()
        label = str(item.get("label") or "").strip()
        if label.lower() in known or not label:
            label = label.lower() or "other"
        if not email:
            errors.append(_("Enter the address of each further email."))
            continue
        try:
            validate_email(email)
        except ValidationError:
            errors.append(_("“%(email)s” is not a valid email address.") % {"email": email})
            continue
        if len(email) > 254:
            errors.append(_("“%(email)s” is too long.") % {"email": email[:40]})
            continue
        if len(label) > MAX_EMAIL_LABEL_LENGTH:
            errors.append(
                _("Keep the label of “%(email)s” to %(n)d characters.")
                % {"email": email, "n": MAX_EMAIL_LABEL_LENGTH}
            )
            continue
        if email.lower() in seen:
            if primary and email.lower() == primary.strip().lower():
                errors.append(_("“%(email)s” is already the primary email.") % {"email": email})
            else:
                errors.append(_("“%(email)s” is listed twice.") % {"email": email})
            continue
        seen.add(email.lower())
        cleaned.append({"label": label, "email": email})
    if errors:
        raise ValidationError(errors, code="invalid_other_emails")
    return cleaned


class SizeBand(models.TextChoices):
    S1_10 = "1-10", "1–10"
    S11_50 = "11-50", "11–50"
    S51_200 = "51-200", "51–200"
    S201_500 = "201-500", "201–500"
    S501_1000 = "501-1000", "501–1,000"
    S1001_5000 = "1001-5000", "1,001–5,000"
    S5000_PLUS = "5000+", "5,000+"


class LeadSource(models.TextChoices):
    WEB = "web", _("Website")
    REFERRAL = "referral", _("Referral")
    EVENT = "event", _("Event")
    CAMPAIGN = "campaign", _("Campaign")
    SOCIAL = "social", _("Social media")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    MANUAL = "manual", _("Entered by hand")
    OTHER = "other", _("Other")


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MARKETING_QUALIFIED = "marketing_qualified", _("Marketing-qualified")
    SALES_QUALIFIED = "sales_qualified", _("Sales-qualified")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    EVANGELIST = "evangelist", _("Evangelist")
    OTHER = "other", _("Other")


class Consent(models.TextChoices):
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")
    UNKNOWN = "unknown", _("Unknown")


class AddressFields(models.Model):
    """Postal address columns shared by contacts and companies."""

    street = models.CharField(_("street"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRY_CHOICES, blank=True)

    class Meta:
        abstract = True

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    @property
    def address_lines(self) -> list[str]:
        locality = " ".join(p for p in (self.postal_code, self.city) if p)
        return [line for line in (self.street, locality, self.region, self.country_name) if line]


def _check_assignee(record) -> None:
    """``assigned_to`` must be a live member of the record's organization."""
    if record.assigned_to_id is None:
        return
    from pulse.accounts.models import Membership

    is_member = (
        Membership.objects.unscoped()
        .filter(
            organization_id=record.organization_id,
            user_id=record.assigned_to_id,
            deleted_at__isnull=True,
        )
        .exists()
    )
    if not is_member:
        raise ValidationError(
            {"assigned_to": _("Choose a member of this organization.")}, code="not_member"
        )


class Company(AddressFields, CustomFieldsModel, TenantModel):
    """An organization we sell to or support (an "account"); may have a parent company."""

    name = models.CharField(_("name"), max_length=200)
    # company_name_key(name), kept by clean(): duplicate detection looks it up by index.
    name_key = models.CharField(max_length=200, blank=True, editable=False)
    website = models.URLField(_("website"), max_length=300, blank=True)
    domain = models.CharField(
        _("domain"),
        max_length=253,
        blank=True,
        help_text=_("Taken from the website when left empty."),
    )
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    size_band = models.CharField(
        _("company size"), max_length=10, choices=SizeBand.choices, blank=True
    )
    annual_revenue = models.DecimalField(
        _("annual revenue"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, validators=[validate_currency]
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True, validators=[validate_phone])
    description = models.TextField(_("description"), blank=True)
    territory = models.CharField(_("territory"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        verbose_name=_("parent company"),
    )
    tags = models.ManyToManyField(
        "extras.Tag", blank=True, related_name="companies", verbose_name=_("tags")
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_companies",
        verbose_name=_("owner"),
    )

    visibility_field = "assigned_to"

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="company_org_created"),
            models.Index(fields=["organization", "name"], name="company_org_name"),
            models.Index(fields=["organization", "domain"], name="company_org_domain"),
            models.Index(fields=["organization", "name_key"], name="company_org_name_key"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("contacts:company_detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        self.domain = (self.domain or domain_from_website(self.website)).strip().lower()
        self.name_key = company_name_key(self.name)
        if self.parent_id is not None:
            self._check_parent()
        _check_assignee(self)

    def _check_parent(self) -> None:
        """Refuse a parent in another organization, or one that would close a cycle."""
        ancestors = Company.objects.unscoped().filter(organization_id=self.organization_id)
        seen = set()
        current = self.parent_id
        while current is not None:
            if current == self.pk:
                raise ValidationError(
                    {"parent": _("A company cannot be its own parent or ancestor.")},
                    code="cycle",
                )
            if current in seen or len(seen) >= MAX_HIERARCHY_DEPTH:
                raise ValidationError(
                    {"parent": _("This company hierarchy is too deep.")}, code="too_deep"
                )
            seen.add(current)
            row = ancestors.filter(pk=current).values_list("parent_id", flat=True)
            parents = list(row)
            if not parents:
                raise ValidationError(
                    {"parent": _("Choose a company of this organization.")}, code="invalid"
                )
            current = parents[0]


class Contact(AddressFields, CustomFieldsModel, TenantModel):
    """A person: a customer, prospect, partner or anyone else we talk to."""

    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    # email_domain(email), kept by clean(): "same email domain" dedupe is an index lookup.
    email_domain = models.CharField(max_length=253, blank=True, editable=False)
    # Further addresses: [{"label": "work" | "home" | "other" | free text, "email": "..."}].
    other_emails = models.JSONField(_("other emails"), default=list, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True, validators=[validate_phone])
    mobile = models.CharField(_("mobile"), max_length=40, blank=True, validators=[validate_phone])
    title = models.CharField(_("job title"), max_length=150, blank=True)
    department = models.CharField(_("department"), max_length=100, blank=True)
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name=_("company"),
    )
    linkedin_url = models.URLField(_("LinkedIn"), max_length=300, blank=True)
    x_handle = models.CharField(
        _("X handle"), max_length=16, blank=True, validators=[validate_x_handle]
    )
    website = models.URLField(_("website"), max_length=300, blank=True)
    lead_source = models.CharField(
        _("lead source"), max_length=20, choices=LeadSource.choices, blank=True
    )
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=20,
        choices=LifecycleStage.choices,
        default=LifecycleStage.LEAD,
    )
    email_opt_in = models.CharField(
        _("email consent"), max_length=10, choices=Consent.choices, default=Consent.UNKNOWN
    )
    phone_opt_in = models.CharField(
        _("phone consent"), max_length=10, choices=Consent.choices, default=Consent.UNKNOWN
    )
    sms_opt_in = models.CharField(
        _("SMS consent"), max_length=10, choices=Consent.choices, default=Consent.UNKNOWN
    )
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    preferred_language = models.CharField(
        _("preferred language"), max_length=16, blank=True, validators=[validate_language]
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    tags = models.ManyToManyField(
        "extras.Tag", blank=True, related_name="contacts", verbose_name=_("tags")
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_contacts",
        verbose_name=_("owner"),
    )

    visibility_field = "assigned_to"

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="contact_org_created"),
            models.Index(
                fields=["organization", "last_name", "first_name"], name="contact_org_name"
            ),
            # With the primary key, the index also serves "order by email" pages: rows
            # without an email would otherwise form one huge tie to sort.
            models.Index("organization", Lower("email"), "id", name="contact_org_email_id"),
            # Eight stages: sorting by one is a sort by stage, then primary key.
            models.Index(
                fields=["organization", "lifecycle_stage", "id"], name="contact_org_stage"
            ),
            models.Index(fields=["organization", "email_domain"], name="contact_org_email_domain"),
            models.Index(fields=["organization", "phone"], name="contact_org_phone"),
            models.Index(fields=["organization", "mobile"], name="contact_org_mobile"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or str(_("(no name)"))

    def get_absolute_url(self) -> str:
        return reverse("contacts:contact_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def initials(self) -> str:
        parts = [p for p in (self.first_name, self.last_name) if p] or [self.email or "?"]
        return "".join(p[0] for p in parts[:2]).upper()

    def clean(self) -> None:
        super().clean()
        self.email_domain = email_domain(self.email)
        if not (self.first_name or self.last_name or self.email):
            raise ValidationError(
                {"last_name": _("Give the contact a name or an email address.")},
                code="required",
            )
        try:
            self.other_emails = clean_other_emails(self.other_emails, self.email or "")
        except ValidationError as exc:
            raise ValidationError({"other_emails": exc.error_list}) from None
        if self.company_id is not None and self.company.organization_id != self.organization_id:
            raise ValidationError({"company": _("Choose a company of this organization.")})
        _check_assignee(self)

    @property
    def all_emails(self) -> list[tuple[str, str]]:
        """(label, address) of the primary and every further email, for display."""
        labels = dict(EMAIL_LABELS)
        emails = [(str(_("Primary")), self.email)] if self.email else []
        for item in self.other_emails or []:
            if isinstance(item, dict) and item.get("email"):
                label = item.get("label") or "other"
                emails.append((str(labels.get(label, label)), item["email"]))
        return emails


# --- relationships between contacts ---------------------------------------------------


class RelationshipKind(models.TextChoices):
    """How ``from_contact`` relates to ``to_contact`` (the label reads from → to)."""

    REPORTS_TO = "reports_to", _("Reports to")
    ASSISTANT_OF = "assistant_of", _("Assistant of")
    REFERRED_BY = "referred_by", _("Referred by")
    SPOUSE = "spouse", _("Spouse of")
    OTHER = "other", _("Related to")


# The same relationship read from the other side: A "reports to" B is B "manages" A.
INVERSE_LABELS = {
    RelationshipKind.REPORTS_TO: _("Manages"),
    RelationshipKind.ASSISTANT_OF: _("Has assistant"),
    RelationshipKind.REFERRED_BY: _("Referred"),
    RelationshipKind.SPOUSE: _("Spouse of"),
    RelationshipKind.OTHER: _("Related to"),
}
# Kinds that read the same both ways: B→A repeats an existing A→B.
SYMMETRIC_KINDS = frozenset({RelationshipKind.SPOUSE, RelationshipKind.OTHER})


class ContactRelationshipManager(TenantManager):
    """Relationships of the current organization, minus those of contacts in the trash
    (they come back with the contact)."""

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(from_contact__deleted_at__isnull=True, to_contact__deleted_at__isnull=True)
        )


class ContactRelationship(TenantModel):
    """One contact's tie to another: reports to, assistant of, referred by, spouse, other.

    Shown on both contacts' pages, with the inverse wording on ``to_contact``'s
    (``INVERSE_LABELS``). A contact moved to the trash keeps its relationships; they are
    hidden (``objects`` leaves them out) until it is restored.
    """

    from_contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="relationships_from",
        verbose_name=_("contact"),
    )
    to_contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="relationships_to",
        verbose_name=_("related contact"),
    )
    kind = models.CharField(_("relationship"), max_length=20, choices=RelationshipKind.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)

    objects = ContactRelationshipManager()
    trash = TenantManager(deleted=True)

    class Meta:
        verbose_name = _("contact relationship")
        verbose_name_plural = _("contact relationships")
        ordering = ["kind", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "from_contact", "to_contact", "kind"],
                condition=Q(deleted_at__isnull=True),
                name="contactrelationship_unique_live",
                violation_error_message=_("These contacts already have this relationship."),
            ),
            models.CheckConstraint(
                condition=~Q(from_contact=F("to_contact")),
                name="contactrelationship_not_self",
                violation_error_message=_("A contact cannot be related to itself."),
            ),
        ]
        indexes = [
            models.Index(fields=["from_contact", "kind"], name="contactrel_from"),
            models.Index(fields=["to_contact", "kind"], name="contactrel_to"),
        ]

    def __str__(self) -> str:
        return f"{self.from_contact} – {self.get_kind_display().lower()} – {self.to_contact}"

    def get_absolute_url(self) -> str:
        return self.from_contact.get_absolute_url()

    @classmethod
    def restrict_for(cls, qs, membership, action):
        """Relationships follow their contacts: with team visibility, both must be visible."""
        from pulse.accounts.models import RecordVisibility

        if membership.organization.record_visibility != RecordVisibility.TEAM:
            return qs
        if membership.is_admin:
            return qs
        visible = Contact.objects.restrict(membership.user, "view").values("pk")
        return qs.filter(from_contact__in=visible, to_contact__in=visible)

    def label_for(self, contact) -> str:
        """The wording on ``contact``'s page: "Reports to" on A's, "Manages" on B's."""
        if contact.pk == self.to_contact_id and contact.pk != self.from_contact_id:
            return str(INVERSE_LABELS[self.kind])
        return self.get_kind_display()

    def other(self, contact) -> Contact:
        """The contact at the other end, seen from ``contact``."""
        return self.from_contact if contact.pk == self.to_contact_id else self.to_contact

    def clean(self) -> None:
        super().clean()
        errors = {}
        for name in ("from_contact", "to_contact"):
            contact_id = getattr(self, f"{name}_id")
            if contact_id is None:
                continue
            contact = getattr(self, name)
            if contact.organization_id != self.organization_id:
                errors[name] = _("Choose a contact of this organization.")
            elif contact.is_deleted and self.deleted_at is None:
                errors[name] = _("This contact is in the trash.")
        if not errors and self.from_contact_id and self.from_contact_id == self.to_contact_id:
            errors["to_contact"] = _("A contact cannot be related to itself.")
        if not errors and self.kind in SYMMETRIC_KINDS and self.deleted_at is None:
            reverse_exists = (
                ContactRelationship.objects.unscoped()
                .filter(
                    organization_id=self.organization_id,
                    from_contact_id=self.to_contact_id,
                    to_contact_id=self.from_contact_id,
                    kind=self.kind,
                    deleted_at__isnull=True,
                )
                .exclude(pk=self.pk)
                .exists()
            )
            if reverse_exists:
                errors["__all__"] = _("These contacts already have this relationship.")
        if errors:
            raise ValidationError(errors)


class DuplicateDismissal(TenantModel):
    """Two records someone marked "not a duplicate": the Duplicates page stops listing them.

    ``first_id`` is the smaller of the two ids (as text), so a pair has one row.
    """

    # "contacts" or "companies" (not "record_type": the trash API annotates that name).
    records = models.CharField(
        max_length=10, choices=[("contacts", _("Contacts")), ("companies", _("Companies"))]
    )
    first_id = models.UUIDField()
    second_id = models.UUIDField()

    class Meta:
        verbose_name = _("dismissed duplicate pair")
        verbose_name_plural = _("dismissed duplicate pairs")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "records", "first_id", "second_id"],
                condition=models.Q(deleted_at__isnull=True),
                name="duplicate_dismissal_unique_pair",
                violation_error_message=_("This pair is already marked as not a duplicate."),
            )
        ]
        indexes = [models.Index(fields=["organization", "records"], name="dismissal_org_type")]

    def __str__(self) -> str:
        return f"{self.records}: {self.first_id} ≠ {self.second_id}"
