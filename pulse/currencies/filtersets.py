"""FilterSets of exchange rates, shared by the rates page and the API (rule 4)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from pulse.core.currencies import CURRENCY_CHOICES

from .models import ExchangeRate, RateSource


class ExchangeRateFilterSet(django_filters.FilterSet):
    """Rates by currency, source and first day (``valid_from_after``/``valid_from_before``)."""

    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, label=_("Currency"))
    source = django_filters.ChoiceFilter(choices=RateSource.choices, label=_("Source"))
    valid_from = django_filters.DateFromToRangeFilter(label=_("Valid from"))

    class Meta:
        model = ExchangeRate
        fields = ["currency", "source", "valid_from"]
