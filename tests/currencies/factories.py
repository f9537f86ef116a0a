"""Exchange rates for tests."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from pulse.core.services import record_create
from pulse.core.testing import register_factory
from pulse.currencies.models import ExchangeRate

_n = itertools.count(1)


@register_factory(ExchangeRate)
def make_exchange_rate(org, actor, **fields):
    fields.setdefault("currency", "USD" if org.default_currency != "USD" else "EUR")
    fields.setdefault("valid_from", datetime.date(2026, 1, 1) + datetime.timedelta(days=next(_n)))
    fields.setdefault("rate", Decimal("0.92000000"))
    return record_create(ExchangeRate, org=org, actor=actor, **fields)
