"""Exchange rates through the generic view, API and filter test classes."""

from __future__ import annotations

import datetime
from decimal import Decimal

from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases
from pulse.currencies.filtersets import ExchangeRateFilterSet
from pulse.currencies.models import ExchangeRate
from tests.currencies.factories import make_exchange_rate


class TestExchangeRateViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = ExchangeRate
    form_data = {"currency": "USD", "rate": "0.91500000", "valid_from": "2030-03-01"}
    edit_data = {"currency": "USD", "rate": "0.93000000", "valid_from": "2030-03-02"}
    # The organization's own currency (EUR) has no rate; a rate is positive.
    invalid_form_data = {"currency": "EUR", "rate": "-1", "valid_from": "31/02/2030"}


class TestExchangeRateAPI(APITestCases.APITestCase):
    model = ExchangeRate
    api_basename = "exchangerate"
    create_data = {"currency": "GBP", "rate": "1.17000000", "valid_from": "2030-03-01"}
    update_data = {"rate": "1.18000000"}
    invalid_create_data = {"currency": "EUR", "rate": "1.1", "valid_from": "2030-03-01"}
    invalid_create_error_fields = {"currency"}


class TestExchangeRateFilterSet(FilterSetTestCase):
    model = ExchangeRate
    filterset = ExchangeRateFilterSet
    api_basename = "exchangerate"

    def filter_objects(self, world):
        day = datetime.date
        return {
            "usd-jan": make_exchange_rate(
                world.org, world.owner, currency="USD", valid_from=day(2030, 1, 1)
            ),
            "usd-feb": make_exchange_rate(
                world.org, world.owner, currency="USD", valid_from=day(2030, 2, 1)
            ),
            "gbp-feb": make_exchange_rate(
                world.org,
                world.owner,
                currency="GBP",
                valid_from=day(2030, 2, 1),
                rate=Decimal("1.17"),
                source="import",
            ),
        }

    filter_cases = [
        ({"currency": "USD"}, {"usd-jan", "usd-feb"}),
        ({"source": "import"}, {"gbp-feb"}),
        ({"valid_from_after": "2030-01-15"}, {"usd-feb", "gbp-feb"}),
        ({"valid_from_before": "2030-01-15"}, {"usd-jan"}),
    ]
