"""The learned model: too little history, a known signal, backtest, batch apply, tasks."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from pulse.core.tasks import TenantTask
from pulse.leads.models import Lead, PredictiveModel
from pulse.leads.scoring import (
    MIN_CLOSED,
    predictive_apply,
    predictive_train,
)
from pulse.leads.services import lead_move_stage
from pulse.leads.tasks import train_predictive, train_predictive_all
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db


def _history(org, owner, n, *, seed=7):
    """``n`` closed leads: referrals convert 80 %, others 20 % (a known signal)."""
    rng = random.Random(seed)
    base = timezone.now() - timezone.timedelta(days=400)
    for i in range(n):
        referral = i % 2 == 0
        lead = make_lead(
            org, owner, source="referral" if referral else "campaign", industry="Retail"
        )
        won = rng.random() < (0.8 if referral else 0.2)
        if won:
            lead_move_stage(lead=lead, stage="converted", actor=owner)
        else:
            lead_move_stage(lead=lead, stage="unqualified", actor=owner, reason="No budget")
        Lead.objects.unscoped().filter(pk=lead.pk).update(
            stage_changed_at=base + timezone.timedelta(days=i)
        )


def test_too_little_history_says_so_and_uses_rules_only(in_org, owner):
    _history(in_org, owner, MIN_CLOSED - 1)
    open_lead = make_lead(in_org, owner, source="referral")

    model = predictive_train(org=in_org)
    predictive_apply(org=in_org)

    assert model.status == PredictiveModel.Status.INSUFFICIENT
    assert model.converted_count + model.lost_count == MIN_CLOSED - 1
    open_lead.refresh_from_db()
    assert open_lead.predicted_probability is None
    assert open_lead.prediction_factors == []


def test_trained_model_ranks_the_signal_higher_and_explains_it(in_org, owner):
    _history(in_org, owner, 60)
    referral = make_lead(in_org, owner, source="referral", industry="Retail")
    campaign = make_lead(in_org, owner, source="campaign", industry="Retail")
    version = referral.version

    model = predictive_train(org=in_org)
    written = predictive_apply(org=in_org, batch_size=1)

    assert model.status == PredictiveModel.Status.READY
    assert written == 2
    referral.refresh_from_db()
    campaign.refresh_from_db()
    assert referral.predicted_probability > 0.5 > campaign.predicted_probability
    assert referral.prediction_factors[0]["label"] == "Source = Referral"
    assert referral.prediction_factors[0]["points"] > 0
    assert any(
        f["label"] == "Source = Campaign" and f["points"] < 0 for f in campaign.prediction_factors
    )
    # Batch apply is derived data: no version bump, so nobody's open edit conflicts.
    assert referral.version == version
    assert referral.effective_probability == round(referral.predicted_probability * 100)
    # Closed leads keep what they had (nothing written to them by apply).
    assert predictive_apply(org=in_org) == 0


def test_backtest_bands_add_up_to_the_held_out_leads(in_org, owner):
    _history(in_org, owner, 48)
    model = predictive_train(org=in_org)
    backtest = model.backtest
    assert backtest["train_n"] == 36 and backtest["test_n"] == 12
    assert sum(b["n"] for b in backtest["bands"]) == backtest["test_n"]
    assert [b["label"] for b in backtest["bands"]] == [
        "0–20 %",
        "20–40 %",
        "40–60 %",
        "60–80 %",
        "80–100 %",
    ]
    assert 0 <= backtest["brier"] <= 1
    assert backtest["auc"] is None or 0 <= backtest["auc"] <= 1


def test_engagements_after_closing_do_not_leak_into_training(in_org, owner):
    from pulse.leads.scoring import _train_rows
    from pulse.leads.services import lead_engagement_record

    lead = make_lead(in_org, owner)
    lead_move_stage(lead=lead, stage="converted", actor=owner)
    closed = timezone.now() - timezone.timedelta(days=10)
    Lead.objects.unscoped().filter(pk=lead.pk).update(stage_changed_at=closed)
    lead_engagement_record(
        lead=lead, kind="meeting_held", occurred_at=closed - timezone.timedelta(days=1)
    )
    lead_engagement_record(lead=lead, kind="meeting_held")  # after it was won
    [(_at, features, won)] = _train_rows(in_org)
    assert won == 1
    assert features["engagement.meeting_held"] == "1"


def test_train_task_is_idempotent(org, owner, in_org):
    _history(in_org, owner, 40)
    kwargs = TenantTask.tenant_kwargs(org, owner)
    assert train_predictive.apply(kwargs=kwargs).get() == "ready"
    first = PredictiveModel.objects.order_by("trained_at").last()
    assert train_predictive.apply(kwargs=kwargs).get() == "ready"
    second = PredictiveModel.objects.order_by("trained_at").last()
    assert first.parameters == second.parameters


def test_periodic_pass_trains_organizations_that_need_it(org, owner, in_org):
    make_lead(in_org, owner)
    assert train_predictive_all.apply().get() == 1
    assert PredictiveModel.objects.count() == 1
    # Nothing new since: the next hourly pass leaves the organization alone.
    assert train_predictive_all.apply().get() == 0


def test_demo_history_trains_a_ready_model(in_org, owner):
    from pulse.leads.demo import seed_scoring_history, seed_scoring_rules
    from pulse.leads.models import ScoringRule

    seed_scoring_rules(in_org, {"owner": owner}, random.Random(1))
    seed_scoring_history(in_org, {"owner": owner}, random.Random(1))

    assert ScoringRule.objects.count() == 8
    model = PredictiveModel.objects.get()
    assert model.status == PredictiveModel.Status.READY
    assert model.converted_count + model.lost_count == 80
    assert sum(b["n"] for b in model.backtest["bands"]) == model.backtest["test_n"] == 20
