"""Opportunities and their configuration for tests, made through the services.

Sections switch a factory to their own service once it exists (``pipeline_create`` …).
"""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from pulse.core.testing import register_factory
from pulse.opportunities.models import (
    ForecastSnapshot,
    LossReason,
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    OpportunityStageChange,
    Pipeline,
    Quota,
    Stage,
)
from pulse.opportunities.services import (
    lossreason_create,
    opportunity_contact_add,
    opportunity_create,
    opportunity_set_line_items,
    pipeline_create,
    pipeline_ensure_defaults,
    quota_create,
    stage_create,
)
from tests.contacts.factories import make_contact

_n = itertools.count(1)


@register_factory(Pipeline)
def make_pipeline(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Pipeline {n}")
    return pipeline_create(org=org, actor=actor, **fields)


@register_factory(Stage)
def make_stage(org, actor, **fields):
    n = next(_n)
    pipeline = fields.pop("pipeline", None) or pipeline_ensure_defaults(org=org, actor=actor)[0]
    fields.setdefault("name", f"Stage {n}")
    fields.setdefault("probability", 40)
    return stage_create(pipeline=pipeline, actor=actor, **fields)


@register_factory(LossReason)
def make_loss_reason(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Reason {n}")
    return lossreason_create(org=org, actor=actor, **fields)


@register_factory(Opportunity)
def make_opportunity(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Deal {n}")
    fields.setdefault("value", Decimal("1000.00") * n)
    fields.setdefault("expected_close_date", datetime.date.today() + datetime.timedelta(days=30))
    return opportunity_create(org=org, actor=actor, **fields)


@register_factory(OpportunityLineItem)
def make_line_item(org, actor, **fields):
    opportunity = fields.pop("opportunity", None) or make_opportunity(org, actor)
    fields.setdefault("product_name", "Seats")
    fields.setdefault("quantity", Decimal("10"))
    fields.setdefault("unit_price", Decimal("120.00"))
    opportunity_set_line_items(opportunity=opportunity, actor=actor, items=[fields])
    return OpportunityLineItem.objects.filter(opportunity=opportunity).first()


@register_factory(OpportunityContact)
def make_opportunity_contact(org, actor, **fields):
    opportunity = fields.pop("opportunity", None) or make_opportunity(org, actor)
    contact = fields.pop("contact", None) or make_contact(org, actor)
    return opportunity_contact_add(
        opportunity=opportunity,
        contact=contact,
        role=fields.pop("role", "decision_maker"),
        actor=actor,
    )


@register_factory(OpportunityStageChange)
def make_opportunity_stage_change(org, actor, **fields):
    opportunity = make_opportunity(org, actor)
    return OpportunityStageChange.objects.filter(opportunity=opportunity).first()


@register_factory(Quota)
def make_quota(org, actor, **fields):
    n = next(_n)
    if "team" not in fields:
        fields.setdefault("user", actor)
    fields.setdefault("period", "month")
    # A distinct month per call: one quota per person and period.
    fields.setdefault("period_start", datetime.date(2020 + n // 12, n % 12 + 1, 1))
    fields.setdefault("target", Decimal("50000.00") + n)
    return quota_create(org=org, actor=actor, **fields)


@register_factory(ForecastSnapshot)
def make_forecast_snapshot(org, actor, **fields):
    fields.setdefault("taken_on", datetime.date.today() - datetime.timedelta(days=next(_n)))
    fields.setdefault("period", "quarter")
    fields.setdefault("period_start", datetime.date.today().replace(day=1))
    fields.setdefault("owner", actor)
    fields.setdefault("category", "commit")
    fields.setdefault("amount", Decimal("12000.00"))
    return ForecastSnapshot.objects.create(organization=org, **fields)
