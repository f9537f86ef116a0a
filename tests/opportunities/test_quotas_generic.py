"""Quotas through the generic view, API and filter test classes."""

from __future__ import annotations

import datetime
from decimal import Decimal

from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases
from pulse.opportunities.filtersets import QuotaFilterSet
from pulse.opportunities.models import Quota
from tests.opportunities.factories import make_quota


class TestQuotaViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = Quota

    def form_data(self, world):
        return {
            "user": str(world.owner.pk),
            "period": "quarter",
            "period_start": "2031-04-01",
            "metric": "revenue",
            "target": "90000.00",
        }

    def edit_data(self, world):
        return {
            "user": str(world.owner.pk),
            "period": "month",
            "period_start": "2031-05-01",
            "metric": "count",
            "target": "12.00",
        }

    def invalid_form_data(self, world):
        return {
            "user": str(world.owner.pk),
            "period": "decade",
            "period_start": "not a date",
            "metric": "revenue",
            "target": "-5",
        }


class TestQuotaAPI(APITestCases.APITestCase):
    model = Quota
    api_basename = "quota"

    def create_data(self, world):
        return {
            "user": world.owner.pk,
            "period": "year",
            "period_start": "2031-01-01",
            "metric": "count",
            "target": "40.00",
        }

    update_data = {"target": "45.00"}

    def invalid_create_data(self, world):
        return {"period": "decade", "period_start": "soon", "target": "-1"}

    invalid_create_error_fields = {"period", "period_start", "target"}


class TestQuotaFilterSet(FilterSetTestCase):
    model = Quota
    filterset = QuotaFilterSet
    api_basename = "quota"

    def filter_objects(self, world):
        from pulse.accounts.services import team_create

        team = team_create(org=world.org, actor=world.owner, name="EMEA")
        self.ids = {"owner": str(world.owner.pk), "team": str(team.pk)}
        day = datetime.date
        return {
            "owner-q1": make_quota(
                world.org, world.owner, period="quarter", period_start=day(2030, 1, 1)
            ),
            "owner-m2": make_quota(
                world.org,
                world.owner,
                period="month",
                period_start=day(2030, 2, 1),
                metric="count",
                target=Decimal("5"),
            ),
            "team-q2": make_quota(
                world.org, world.owner, team=team, period="quarter", period_start=day(2030, 4, 1)
            ),
        }

    @property
    def filter_cases(self):
        ids = getattr(self, "ids", {"owner": "", "team": ""})
        return [
            ({"user": ids["owner"]}, {"owner-q1", "owner-m2"}),
            ({"team": ids["team"]}, {"team-q2"}),
            ({"period": "quarter"}, {"owner-q1", "team-q2"}),
            ({"metric": "count"}, {"owner-m2"}),
            ({"period_start_after": "2030-02-01"}, {"owner-m2", "team-q2"}),
            ({"period_start_before": "2030-02-01"}, {"owner-q1", "owner-m2"}),
        ]
