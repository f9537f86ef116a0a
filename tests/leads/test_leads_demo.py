"""The demo leads: across the stages, with history, reasons and backdated creation."""

from __future__ import annotations

import random

import pytest

from pulse.leads.demo import seed_leads
from pulse.leads.models import Lead, LeadStageChange

pytestmark = pytest.mark.django_db


def test_seed_leads(in_org, owner, rep):
    leads = seed_leads(in_org, {"owner": owner, "rep": rep}, random.Random(4), count=30)

    assert len(leads) == 30
    stages = set(Lead.objects.values_list("stage__key", flat=True))
    assert {"new", "contacted", "qualified", "unqualified"} <= stages
    assert all(lead.unqualified_reason for lead in Lead.objects.filter(stage__key="unqualified"))
    assert LeadStageChange.objects.exclude(notes="").exists()
    assert Lead.objects.filter(currency="EUR").count() == 30
    ages = {lead.created_at.date() for lead in Lead.objects.all()}
    assert len(ages) > 5
