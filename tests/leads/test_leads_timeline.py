"""A lead's timeline tells each stage move once, with its notes, among the other changes."""

from __future__ import annotations

import pytest

from pulse.core.tenancy import tenant_context
from pulse.leads.selectors import lead_timeline
from pulse.leads.services import lead_move_stage, lead_update
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db


def test_a_stage_move_appears_once_with_its_notes(org, owner):
    with tenant_context(org, actor=owner):
        lead = make_lead(org, owner, title="Rila: 40 tents")
        lead = lead_move_stage(lead=lead, stage="contacted", actor=owner, notes="Called Maria")
        lead_update(lead=lead, actor=owner, title="Rila: 60 tents")

        events = lead_timeline(lead=lead)

    kinds = [(e["kind"], getattr(e.get("change"), "notes", None)) for e in events]
    assert kinds.count(("stage", "Called Maria")) == 1
    history = [e["entry"] for e in events if e["kind"] == "history"]
    assert [e.action for e in history] == ["update", "create"]
    assert set(history[0].changes) == {"title"}
