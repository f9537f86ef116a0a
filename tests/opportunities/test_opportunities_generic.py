"""Opportunities through the generic view, API and FilterSet test classes."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from pulse.core.services import record_update
from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases
from pulse.opportunities.filtersets import OpportunityFilterSet
from pulse.opportunities.models import Opportunity
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.accounts.factories import make_team
from tests.contacts.factories import make_company, make_contact
from tests.opportunities.factories import make_opportunity, make_pipeline

FORM = {
    "name": "Initech: CRM rollout",
    "value": "12000.00",
    "currency": "EUR",
    "expected_close_date": "2026-12-31",
    "forecast_category": "best_case",
    "competitor": "Globex",
    "description": "Fifty seats, two sites.",
}


def _stage(org, name, pipeline=None):
    pipelines = pipeline_ensure_defaults(org=org)
    pipeline = pipeline or pipelines[0]
    return next(s for p in pipelines if p.pk == pipeline.pk for s in p.stage_list if s.name == name)


class TestOpportunityViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = Opportunity
    form_data = FORM
    edit_data = {**FORM, "name": "Initech: bigger rollout", "probability": "35"}
    invalid_form_data = {**FORM, "name": "", "value": "-5", "probability": "150"}


class TestOpportunityAPI(APITestCases.APITestCase):
    model = Opportunity
    api_basename = "opportunity"

    def create_data(self, world):
        # The product spec's POST body (stage by id here; by name in test_opportunity_api).
        contact = make_contact(world.org, world.owner)
        return {
            "name": "Globex expansion",
            "contact_id": str(contact.pk),
            "value": "25000.00",
            "probability": 40,
            "expected_close_date": "2026-09-30",
            "stage": str(_stage(world.org, "Proposal").pk),
        }

    update_data = {"name": "Globex expansion, phase 2", "probability": 60}
    invalid_create_data = {"name": "", "expected_close_date": "next Tuesday"}
    invalid_create_error_fields = {"name", "expected_close_date"}


class TestOpportunityFilterSet(FilterSetTestCase):
    model = Opportunity
    filterset = OpportunityFilterSet
    api_basename = "opportunity"

    def filter_objects(self, world):
        member = world.member("sales_rep")
        team = make_team(world.org, "East", members=[member])
        acme = make_company(world.org, world.owner, name="Acme Corp")
        hank = make_contact(world.org, world.owner, first_name="Hank", last_name="Hill")
        proposal = _stage(world.org, "Proposal")
        big = make_opportunity(
            world.org,
            world.owner,
            name="Rollout",
            company=acme,
            value=Decimal("50000"),
            stage=proposal,
            source="referral",
            forecast_category="commit",
            expected_close_date=datetime.date(2026, 3, 1),
        )
        small = make_opportunity(
            world.org,
            world.owner,
            name="Pilot",
            contact=hank,
            value=Decimal("1000"),
            assigned_to=None,
            source="web_form",
            expected_close_date=datetime.date(2026, 6, 15),
        )
        won = make_opportunity(
            world.org, world.owner, name="Renewal", assigned_to=member, value=Decimal("8000")
        )
        opportunity_move(
            opportunity=won,
            stage=_stage(world.org, "Won"),
            actor=world.owner,
            actual_close_date=datetime.date(2026, 1, 10),
        )
        partners = make_pipeline(world.org, world.owner, name="Partners")
        other = make_opportunity(
            world.org,
            world.owner,
            name="Reseller deal",
            pipeline=partners,
            assigned_to=member,
            value=Decimal("3000"),
        )
        # No activity for 30 days in Qualification (rots after 14).
        Opportunity.objects.filter(pk=small.pk).update(
            last_activity_at=timezone.now() - datetime.timedelta(days=30)
        )
        from pulse.extras.services import tag_create

        tag = tag_create(org=world.org, actor=world.owner, name="VIP")
        record_update(big, actor=world.owner, tags=[tag])
        self.ids = {
            "pipeline": str(partners.pk),
            "proposal": str(proposal.pk),
            "qualification": str(_stage(world.org, "Qualification").pk),
            "team": str(team.pk),
            "tag": str(tag.pk),
            "member": str(member.pk),
        }
        return {"big": big, "small": small, "won": won, "other": other}

    _cases = [
        ({"search": "acme"}, {"big"}),
        ({"search": "hank pilot"}, {"small"}),
        ({"search": "rollout"}, {"big"}),
        ({"pipeline": "{pipeline}"}, {"other"}),
        ({"stage": ["{proposal}"]}, {"big"}),
        ({"stage": ["{proposal}", "{qualification}"]}, {"big", "small"}),
        ({"status": ["won"]}, {"won"}),
        ({"status": ["open"]}, {"big", "small", "other"}),
        ({"assigned_to": ["me"]}, {"big"}),
        ({"assigned_to": ["unassigned"]}, {"small"}),
        ({"assigned_to": ["{member}", "unassigned"]}, {"small", "won", "other"}),
        ({"team": "{team}"}, {"won", "other"}),
        ({"tags": ["{tag}"]}, {"big"}),
        ({"value_min": "5000"}, {"big", "won"}),
        ({"value_max": "3000"}, {"small", "other"}),
        ({"close_from": "2026-03-01", "close_to": "2026-06-30"}, {"big", "small"}),
        ({"closed_from": "2026-01-01", "closed_to": "2026-01-31"}, {"won"}),
        ({"closed_from": "2026-01-11"}, set()),
        ({"forecast_category": ["commit"]}, {"big"}),
        ({"forecast_category": ["closed"]}, {"won"}),
        ({"source": ["web_form"]}, {"small"}),
        ({"rotting": "true"}, {"small"}),
        ({"rotting": "false"}, {"big", "won", "other"}),
        ({"created_after": "2000-01-01"}, {"big", "small", "won", "other"}),
        ({"updated_before": "2000-01-01"}, set()),
    ]

    @property
    def filter_cases(self):
        ids = getattr(self, "ids", None)
        if ids is None:
            return self._cases  # names only (test_every_filter_has_a_case)

        def fill(value):
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value.format(**ids)

        return [({k: fill(v) for k, v in params.items()}, rows) for params, rows in self._cases]
