"""Opportunity services: every bad input of issue 5 is refused with a clear message and
changes nothing (the row, its stage history and its audit trail stay as they were);
line items drive the value (flat given / when / then)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError
from pulse.core.testing.records import snapshot
from pulse.opportunities.models import (
    Opportunity,
    OpportunityLineItem,
    OpportunityStageChange,
    StageType,
)
from pulse.opportunities.services import (
    opportunity_create,
    opportunity_move,
    opportunity_set_line_items,
    opportunity_update,
    pipeline_ensure_defaults,
)
from tests.opportunities.factories import make_opportunity, make_pipeline


def _stage(org, name, pipeline=None):
    pipelines = pipeline_ensure_defaults(org=org)
    pipeline = pipeline or pipelines[0]
    return next(s for p in pipelines if p.pk == pipeline.pk for s in p.stage_list if s.name == name)


def _state(opportunity) -> dict:
    """The row, its stage history and its audit entries, as stored."""
    ct = ContentType.objects.get_for_model(Opportunity)
    return {
        "row": snapshot(opportunity),
        "history": list(
            OpportunityStageChange.objects.unscoped()
            .filter(opportunity_id=opportunity.pk)
            .order_by("changed_at")
            .values_list("from_stage_id", "to_stage_id")
        ),
        "audit": AuditEntry.objects.unscoped()
        .filter(content_type=ct, object_id=str(opportunity.pk))
        .count(),
        "lines": list(
            OpportunityLineItem.objects.unscoped()
            .filter(opportunity_id=opportunity.pk, deleted_at__isnull=True)
            .values_list("product_name", "total")
        ),
    }


def _refused(call, field: str, words: str):
    with pytest.raises(ApplicationError) as caught:
        call()
    messages = caught.value.errors.get(field)
    assert messages, caught.value.errors
    assert any(words in str(m) for m in messages), messages
    return caught.value


@pytest.fixture
def deal(in_org, owner):
    return make_opportunity(in_org, owner, name="Acme rollout", value=Decimal("1000.00"))


def test_create_defaults_pipeline_stage_probability_currency_owner(in_org, owner):
    opportunity = opportunity_create(org=in_org, actor=owner, name="  Globex pilot  ")

    qualification = _stage(in_org, "Qualification")
    assert opportunity.name == "Globex pilot"
    assert opportunity.stage_id == qualification.pk
    assert opportunity.pipeline_id == qualification.pipeline_id
    assert opportunity.probability == 10 and opportunity.probability_is_custom is False
    assert opportunity.currency == in_org.default_currency
    assert opportunity.assigned_to_id == owner.pk
    assert opportunity.status == StageType.OPEN
    history = list(OpportunityStageChange.objects.filter(opportunity=opportunity))
    assert [(h.from_stage_id, h.to_stage_id, h.changed_by_id) for h in history] == [
        (None, qualification.pk, owner.pk)
    ]


def test_create_keeps_a_given_probability_and_an_open_deals_competitor(in_org, owner):
    opportunity = opportunity_create(
        org=in_org, actor=owner, name="Initech", probability=35, competitor="Globex"
    )
    assert (opportunity.probability, opportunity.probability_is_custom) == (35, True)
    assert opportunity.competitor == "Globex"


def test_create_with_a_stage_of_another_pipeline_is_refused_and_creates_nothing(in_org, owner):
    partners = make_pipeline(in_org, owner, name="Partners")
    before = Opportunity.objects.count(), OpportunityStageChange.objects.count()

    _refused(
        lambda: opportunity_create(
            org=in_org,
            actor=owner,
            name="Wrong",
            pipeline=partners,
            stage=_stage(in_org, "Proposal"),
        ),
        "stage",
        "another pipeline",
    )
    assert (Opportunity.objects.count(), OpportunityStageChange.objects.count()) == before


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"value": Decimal("-5")}, "value", "greater than or equal to 0"),
        ({"probability": 101}, "probability", "less than or equal to 100"),
        ({"probability": -1}, "probability", "greater than or equal to 0"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
    ],
)
def test_create_with_bad_input_is_refused_and_creates_nothing(in_org, owner, fields, field, words):
    pipeline_ensure_defaults(org=in_org, actor=owner)
    before = Opportunity.objects.count(), OpportunityStageChange.objects.count()

    _refused(
        lambda: opportunity_create(org=in_org, actor=owner, name="Bad", **fields), field, words
    )

    assert (Opportunity.objects.count(), OpportunityStageChange.objects.count()) == before


def test_create_won_without_close_date_is_refused(in_org, owner):
    won = _stage(in_org, "Won")
    before = Opportunity.objects.count()
    _refused(
        lambda: opportunity_create(org=in_org, actor=owner, name="Won?", stage=won),
        "actual_close_date",
        "needs the date it closed",
    )
    assert Opportunity.objects.count() == before


def test_move_to_a_stage_of_another_pipeline_is_refused_and_changes_nothing(deal, in_org, owner):
    partners = make_pipeline(in_org, owner, name="Partners")
    before = _state(deal)

    _refused(
        lambda: opportunity_move(
            opportunity=deal, stage=partners.stages.order_by("position").first(), actor=owner
        ),
        "stage",
        "is a stage of another pipeline",
    )
    assert _state(deal) == before


def test_update_to_a_stage_of_another_pipeline_is_refused_too(deal, in_org, owner):
    partners = make_pipeline(in_org, owner, name="Partners")
    before = _state(deal)
    _refused(
        lambda: opportunity_update(
            opportunity=deal,
            actor=owner,
            name="Renamed",
            stage=partners.stages.order_by("position").first(),
        ),
        "stage",
        "another pipeline",
    )
    assert _state(deal) == before


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"value": Decimal("-0.01")}, "value", "greater than or equal to 0"),
        ({"probability": 150}, "probability", "less than or equal to 100"),
        ({"currency": "ABC"}, "currency", "ISO 4217"),
    ],
)
def test_update_with_bad_input_is_refused_and_changes_nothing(deal, owner, fields, field, words):
    before = _state(deal)
    _refused(
        lambda: opportunity_update(opportunity=deal, actor=owner, name="Changed", **fields),
        field,
        words,
    )
    assert _state(deal) == before


def test_won_without_close_date_is_refused_and_changes_nothing(deal, in_org, owner):
    before = _state(deal)
    _refused(
        lambda: opportunity_move(opportunity=deal, stage=_stage(in_org, "Won"), actor=owner),
        "actual_close_date",
        "needs the date it closed",
    )
    assert _state(deal) == before


def test_lost_without_reason_is_refused_and_changes_nothing(deal, in_org, owner):
    before = _state(deal)
    _refused(
        lambda: opportunity_move(opportunity=deal, stage=_stage(in_org, "Lost"), actor=owner),
        "loss_reason",
        "why this deal was lost",
    )
    assert _state(deal) == before


def test_two_people_saving_the_same_deal_second_gets_a_conflict(deal, in_org, owner):
    # Both opened version 1; the first saves, the second's save is refused.
    opened = deal.version
    first = opportunity_update(
        opportunity=Opportunity.objects.get(pk=deal.pk),
        actor=owner,
        expected_version=opened,
        name="First",
    )
    before = _state(first)

    _refused(
        lambda: opportunity_update(
            opportunity=Opportunity.objects.get(pk=deal.pk),
            actor=owner,
            expected_version=opened,
            name="Second",
        ),
        "version",
        "Someone else changed this record",
    )
    assert _state(first) == before
    assert Opportunity.objects.get(pk=deal.pk).name == "First"


def test_two_people_moving_the_same_deal_second_gets_a_conflict(deal, in_org, owner):
    opened = deal.version
    proposal, negotiation = _stage(in_org, "Proposal"), _stage(in_org, "Negotiation")
    opportunity_move(
        opportunity=Opportunity.objects.get(pk=deal.pk),
        stage=proposal,
        actor=owner,
        expected_version=opened,
    )
    before = _state(deal)
    _refused(
        lambda: opportunity_move(
            opportunity=Opportunity.objects.get(pk=deal.pk),
            stage=negotiation,
            actor=owner,
            expected_version=opened,
        ),
        "version",
        "Someone else changed this record",
    )
    assert _state(deal) == before
    assert Opportunity.objects.get(pk=deal.pk).stage_id == proposal.pk


def test_move_records_who_when_and_time_in_the_stage_left(deal, in_org, owner):
    entered = deal.stage_changed_at - datetime.timedelta(hours=5)
    Opportunity.objects.filter(pk=deal.pk).update(stage_changed_at=entered)
    deal.refresh_from_db()

    moved = opportunity_move(
        opportunity=deal, stage=_stage(in_org, "Proposal"), actor=owner, notes=" sent quote "
    )

    change = OpportunityStageChange.objects.filter(opportunity=deal).first()
    assert change.from_stage_id == _stage(in_org, "Qualification").pk
    assert change.to_stage_id == moved.stage_id
    assert change.changed_by_id == owner.pk and change.notes == "sent quote"
    assert 5 * 3600 <= change.seconds_in_from_stage < 5 * 3600 + 60
    assert (moved.probability, moved.status) == (50, StageType.OPEN)


def test_line_items_drive_the_value(deal, owner):
    opportunity = opportunity_set_line_items(
        opportunity=deal,
        actor=owner,
        items=[
            {"product_name": "Seats", "quantity": Decimal("10"), "unit_price": Decimal("120")},
            {
                "product_name": "Onboarding",
                "quantity": Decimal("1"),
                "unit_price": Decimal("2000"),
                "discount": Decimal("25"),
            },
        ],
    )

    assert opportunity.value == Decimal("2700.00")  # 1200 + 2000 × 0.75
    lines = list(OpportunityLineItem.objects.filter(opportunity=deal).order_by("position"))
    assert [(li.product_name, li.total) for li in lines] == [
        ("Seats", Decimal("1200.00")),
        ("Onboarding", Decimal("1500.00")),
    ]

    # Change one line by id, drop the other: the value follows.
    opportunity = opportunity_set_line_items(
        opportunity=opportunity,
        actor=owner,
        items=[
            {
                "id": lines[0].pk,
                "product_name": "Seats",
                "quantity": Decimal("20"),
                "unit_price": Decimal("120"),
            }
        ],
    )
    assert opportunity.value == Decimal("2400.00")
    assert OpportunityLineItem.objects.filter(opportunity=deal).count() == 1


def test_a_bad_line_changes_nothing(deal, owner):
    opportunity_set_line_items(
        opportunity=deal,
        actor=owner,
        items=[{"product_name": "Seats", "quantity": Decimal("2"), "unit_price": Decimal("50")}],
    )
    deal.refresh_from_db()
    before = _state(deal)

    error = _refused(
        lambda: opportunity_set_line_items(
            opportunity=deal,
            actor=owner,
            items=[
                {"product_name": "Good", "quantity": Decimal("1"), "unit_price": Decimal("9")},
                {"product_name": "Bad", "quantity": Decimal("1"), "unit_price": Decimal("-9")},
            ],
        ),
        "line_items",
        "",
    )
    assert "unit_price" in error.errors["line_items"]["1"]
    assert _state(deal) == before


def test_a_typed_value_is_refused_while_lines_set_it(deal, owner):
    opportunity_set_line_items(
        opportunity=deal,
        actor=owner,
        items=[{"product_name": "Seats", "quantity": Decimal("2"), "unit_price": Decimal("50")}],
    )
    deal.refresh_from_db()
    before = _state(deal)
    _refused(
        lambda: opportunity_update(opportunity=deal, actor=owner, value=Decimal("5")),
        "value",
        "line items set its value",
    )
    assert _state(deal) == before
