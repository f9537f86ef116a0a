"""Privacy (GDPR): consent records and data-subject requests (export, erasure)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel


class LawfulBasis(models.TextChoices):
    """The six lawful bases of GDPR article 6(1)."""

    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    VITAL_INTERESTS = "vital_interests", _("Vital interests")
    PUBLIC_TASK = "public_task", _("Public task")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests")


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    IN_PERSON = "in_person", _("In person")
    API = "api", _("API")
    OTHER = "other", _("Other")


def _visible_contacts(qs, membership, action):
    """Rows about a contact follow the contact's visibility (rule 2, via ``restrict``)."""
    from pulse.accounts.models import RecordVisibility
    from pulse.contacts.models import Contact

    # Everyone sees every contact unless team visibility applies: no subquery then.
    if membership.organization.record_visibility != RecordVisibility.TEAM or membership.is_admin:
        return qs
    return qs.filter(contact__in=Contact.objects.restrict(membership.user, "view").values("pk"))


class ConsentRecord(TenantModel):
    """A contact's consent (or other lawful basis) for one purpose, and its withdrawal."""

    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="consent_records",
        verbose_name=_("contact"),
    )
    purpose = models.CharField(
        _("purpose"), max_length=150, help_text=_("E.g. Newsletter, Product updates.")
    )
    lawful_basis = models.CharField(
        _("lawful basis"),
        max_length=30,
        choices=LawfulBasis.choices,
        default=LawfulBasis.CONSENT,
    )
    source = models.CharField(
        _("source"), max_length=20, choices=ConsentSource.choices, default=ConsentSource.WEB_FORM
    )
    given_at = models.DateTimeField(_("given at"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    restrict_for = staticmethod(_visible_contacts)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-given_at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "contact", "-given_at"], name="consent_contact"),
            models.Index(fields=["organization", "-given_at"], name="consent_org_given"),
        ]

    def __str__(self) -> str:
        return self.purpose

    def get_absolute_url(self) -> str:
        return reverse("contacts:contact_detail", args=[self.contact_id])

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None

    def clean(self) -> None:
        super().clean()
        self.purpose = (self.purpose or "").strip()
        if not self.purpose:
            raise ValidationError({"purpose": _("Say what the consent is for.")}, code="required")
        if self.contact_id is not None and self.contact.organization_id != self.organization_id:
            raise ValidationError({"contact": _("Choose a contact of this organization.")})
        if self.withdrawn_at and self.given_at and self.withdrawn_at < self.given_at:
            raise ValidationError(
                {"withdrawn_at": _("A consent cannot be withdrawn before it was given.")},
                code="before_given",
            )


class RequestKind(models.TextChoices):
    EXPORT = "export", _("Export (access)")
    ERASE = "erase", _("Erasure")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class PrivacyRequest(TenantModel):
    """A data-subject request about one contact: an export of their data, or an erasure.

    The request stays after the contact is erased or purged (``contact`` becomes null
    when the row is purged): it is the record that the request was handled, by whom,
    when. ``subject_label`` never holds the erased person's name.
    """

    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="privacy_requests",
        verbose_name=_("contact"),
    )
    subject_label = models.CharField(_("subject"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=RequestKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # The export's storage name under MEDIA_ROOT ("privacy/export-<random>.json"), served
    # only by the download view. A path rather than a FileField: the change log cannot
    # serialize an empty FieldFile (see the report to the lead) and clearing one crashed.
    export_file = models.CharField(_("export file"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="privacyreq_org")]

    def __str__(self) -> str:
        return self.subject_label or str(self.get_kind_display())

    def get_absolute_url(self) -> str:
        return reverse("privacy:privacyrequest_detail", args=[self.pk])

    @staticmethod
    def restrict_for(qs, membership, action):
        """Admins see every request; others the ones they made (the subject's data is in them)."""
        if membership.is_admin:
            return qs
        return qs.filter(requested_by_id=membership.user_id)
