"""Reads of exchange rates: the rate valid on a day, and money in the organization's
currency. Reports call ``converter`` once and convert many amounts without a query each.
"""

from __future__ import annotations

import bisect
import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from pulse.core.tenancy import memoized

from .models import ExchangeRate

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Conversion:
    """An amount converted: the result, and the rate used (None: no rate known)."""

    amount: Decimal | None
    rate: Decimal | None
    rate_date: datetime.date | None


@dataclass
class Converter:
    """Every rate of one organization, held in memory for one request or task.

    ``convert(amount, currency, on)`` uses the latest rate valid on ``on``; before the
    first rate of a currency it uses that first rate (an honest guess, shown as such by
    ``rate_date``); an amount in a currency with no rate at all converts to None.
    """

    base: str
    rates: dict[str, tuple[list[datetime.date], list[Decimal]]] = field(default_factory=dict)

    def rate(self, currency: str, on: datetime.date | None = None):
        """(rate, date it is valid from) of ``currency`` on ``on`` (default: today)."""
        if currency == self.base:
            return Decimal(1), None
        known = self.rates.get(currency)
        if not known:
            return None, None
        days, values = known
        on = on or datetime.date.today()
        i = bisect.bisect_right(days, on) - 1
        i = max(i, 0)
        return values[i], days[i]

    def convert(self, amount, currency: str, on: datetime.date | None = None) -> Conversion:
        if amount is None:
            return Conversion(None, None, None)
        rate, day = self.rate(currency, on)
        if rate is None:
            return Conversion(None, None, None)
        return Conversion((Decimal(amount) * rate).quantize(CENT), rate, day)


def converter(org) -> Converter:
    """The organization's rates, read once per request (one query)."""

    def read() -> Converter:
        result = Converter(base=org.default_currency)
        rows = (
            ExchangeRate.objects.unscoped()
            .filter(organization=org, deleted_at__isnull=True)
            .order_by("currency", "valid_from")
            .values_list("currency", "valid_from", "rate")
        )
        for currency, day, rate in rows:
            days, values = result.rates.setdefault(currency, ([], []))
            days.append(day)
            values.append(rate)
        return result

    return memoized((ExchangeRate._meta.label_lower, org.pk), read)


def convert(org, amount, currency: str, on: datetime.date | None = None) -> Conversion:
    """``amount`` of ``currency`` in the organization's currency on ``on``."""
    return converter(org).convert(amount, currency, on)


@dataclass(frozen=True)
class CurrencyRates:
    """One currency's line on the rates page: the rate today, the latest one, how many."""

    currency: str
    rate_today: Decimal
    valid_since: datetime.date
    latest_rate: Decimal
    latest_from: datetime.date
    count: int


def rate_summary(org, on: datetime.date | None = None) -> dict:
    """Every currency with rates: the rate valid ``on`` (default today), the latest rate
    and the number of rates -- from the per-request ``converter`` (one query)."""
    rates = converter(org)
    on = on or datetime.date.today()
    currencies = []
    for currency, (days, values) in sorted(rates.rates.items()):
        rate, since = rates.rate(currency, on)
        currencies.append(CurrencyRates(currency, rate, since, values[-1], days[-1], len(days)))
    return {"currencies": currencies, "today": on}
