"""Leads and their configuration for tests, made through the services where they exist.

Each section's owner switches its factory to its own service (``scoringrule_create`` …)
once that service exists.
"""

from __future__ import annotations

import itertools

from django.utils import timezone

from pulse.core.services import record_create
from pulse.core.testing import register_factory
from pulse.leads.models import (
    AssignmentRule,
    Lead,
    LeadEngagement,
    LeadSettings,
    LeadStage,
    LeadStageChange,
    PredictiveModel,
    ScoringRule,
    WebForm,
    WebFormSubmission,
)
from pulse.leads.services import (
    lead_create,
    lead_engagement_record,
    lead_settings,
    leadstage_ensure_defaults,
)

_n = itertools.count(1)


@register_factory(LeadStage)
def make_lead_stage(org, actor, **fields):
    n = next(_n)
    leadstage_ensure_defaults(org=org, actor=actor)
    fields.setdefault("key", f"stage-{n}")
    fields.setdefault("name", f"Stage {n}")
    fields.setdefault("kind", "open")
    fields.setdefault("position", 10 + n)
    return record_create(LeadStage, org=org, actor=actor, **fields)


@register_factory(Lead)
def make_lead(org, actor, **fields):
    n = next(_n)
    fields.setdefault("title", f"Lead {n}")
    fields.setdefault("first_name", "Rosa")
    fields.setdefault("last_name", f"Parks {n}")
    fields.setdefault("email", f"rosa{n}@example.org")
    fields.setdefault("assigned_to", actor)
    return lead_create(org=org, actor=actor, **fields)


@register_factory(LeadStageChange)
def make_lead_stage_change(org, actor, **fields):
    lead = make_lead(org, actor)
    return LeadStageChange.objects.filter(lead=lead).first()


@register_factory(LeadSettings)
def make_lead_settings(org, actor, **fields):
    return lead_settings(org=org)


@register_factory(ScoringRule)
def make_scoring_rule(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Rule {n}")
    fields.setdefault("kind", "field")
    fields.setdefault("field", "industry")
    fields.setdefault("operator", "equals")
    fields.setdefault("value", "Software")
    fields.setdefault("points", 10)
    from pulse.leads.scoring import scoringrule_create

    return scoringrule_create(org=org, actor=actor, **fields)


@register_factory(LeadEngagement)
def make_lead_engagement(org, actor, **fields):
    lead = fields.pop("lead", None) or make_lead(org, actor)
    fields.setdefault("kind", "email_opened")
    return lead_engagement_record(lead=lead, **fields)


@register_factory(PredictiveModel)
def make_predictive_model(org, actor, **fields):
    fields.setdefault("status", PredictiveModel.Status.INSUFFICIENT)
    return PredictiveModel.objects.create(organization=org, **fields)


@register_factory(AssignmentRule)
def make_assignment_rule(org, actor, **fields):
    n = next(_n)
    users = fields.pop("users", [actor])
    fields.setdefault("name", f"Rule {n}")
    fields.setdefault("strategy", "round_robin")
    fields.setdefault("active", False)  # inactive unless a test turns it on
    from pulse.leads.routing import assignmentrule_create

    return assignmentrule_create(org=org, actor=actor, users=users, **fields)


@register_factory(WebForm)
def make_web_form(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Form {n}")
    fields.setdefault(
        "fields",
        [
            {"name": "first_name", "label": "First name", "required": True},
            {"name": "email", "label": "Email", "required": True},
        ],
    )
    from pulse.leads.webforms import webform_create

    return webform_create(org=org, actor=actor, **fields)


@register_factory(WebFormSubmission)
def make_web_form_submission(org, actor, **fields):
    form = fields.pop("form", None) or make_web_form(org, actor)
    fields.setdefault("status", WebFormSubmission.Status.ACCEPTED)
    fields.setdefault("data", {"first_name": "Rosa", "email": "rosa@example.org"})
    return WebFormSubmission.objects.create(
        organization=org, form=form, created_at=timezone.now(), **fields
    )
