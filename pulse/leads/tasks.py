"""Background work of leads (tenant tasks, see pulse/core/tasks.py)."""

from __future__ import annotations

from pulse.core.tasks import tenant_task  # noqa: F401 (used by the sections below)

# --- scoring (C) ---
_SCORING_LOGGER = "pulse.leads.scoring"  # (a statement first keeps isort off the top block)

import logging  # noqa: E402

from celery import shared_task  # noqa: E402

_scoring_log = logging.getLogger(_SCORING_LOGGER)


@tenant_task(name="leads.rescore")
def rescore_leads(*, org, actor=None, lead_ids: list) -> int:
    """Recompute these leads' scores and predictions; safe to run twice (derived data)."""
    from .scoring import lead_rescore_ids

    return lead_rescore_ids(org=org, lead_ids=lead_ids)


@tenant_task(name="leads.rescore_all")
def rescore_all_leads(*, org, actor=None) -> int:
    """Rescore every live lead of the organization in batches (after a rule changed)."""
    from .scoring import lead_rescore_all

    return lead_rescore_all(org=org)


@tenant_task(name="leads.train_predictive")
def train_predictive(*, org, actor=None) -> str:
    """Learn the conversion model from closed leads, then score the open leads with it.
    Idempotent: a second run stores an equal model and writes no lead twice."""
    from .scoring import predictive_apply, predictive_train

    model = predictive_train(org=org)
    predictive_apply(org=org)
    return model.status


@shared_task(name="leads.train_predictive_all")
def train_predictive_all() -> int:
    """The periodic pass (CELERY_BEAT_SCHEDULE, hourly): for every organization with
    leads whose model is a day old or has 10+ newly closed leads, retrain and rescore
    (which also lets engagement points fade). One organization's failure does not stop
    the others. Returns how many organizations were retrained."""
    from pulse.accounts.models import Organization

    from .models import Lead
    from .scoring import predictive_needs_training

    trained = 0
    org_ids = Lead.objects.unscoped().values("organization_id")
    for org in Organization.objects.filter(pk__in=org_ids).order_by("pk").iterator():
        if not predictive_needs_training(org):
            continue
        result = train_predictive.apply(kwargs=train_predictive.tenant_kwargs(org), throw=False)
        if result.successful():
            trained += 1
        else:
            _scoring_log.error(
                "lead model training failed",
                extra={"org_id": str(org.pk), "error": repr(result.result)},
            )
    return trained


# --- web-to-lead forms (B) ---

# --- routing, conversion (D) ---
