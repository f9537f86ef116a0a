"""Dated exchange rates an organization maintains, for reporting money in its currency.

A rate says what one unit of ``currency`` is worth in the organization's currency from
``valid_from`` on, until the next rate of the same currency. Values stay stored in their
own currency; reports convert with the rate valid on the day that matters and show it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from pulse.core.currencies import CURRENCY_CHOICES
from pulse.core.models import TenantModel


class RateSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    IMPORT = "import", _("Imported")


class ExchangeRate(TenantModel):
    """1 ``currency`` = ``rate`` × the organization's currency, from ``valid_from``."""

    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    rate = models.DecimalField(
        _("rate"),
        max_digits=20,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"))],
    )
    valid_from = models.DateField(_("valid from"))
    source = models.CharField(
        _("source"), max_length=6, choices=RateSource.choices, default=RateSource.MANUAL
    )

    permission_group = "config"

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "currency", "valid_from"],
                condition=models.Q(deleted_at__isnull=True),
                name="exchangerate_unique_day",
                violation_error_message=_("This currency already has a rate from that day."),
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "currency", "-valid_from"], name="exchangerate_lookup"
            )
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} ({self.valid_from:%Y-%m-%d})"

    def clean(self):
        super().clean()
        org_currency = (
            getattr(self.organization, "default_currency", None) if self.organization_id else None
        )
        if org_currency and self.currency == org_currency:
            raise ValidationError(
                {"currency": _("This is the organization's own currency; its rate is always 1.")}
            )
