"""Scoring rules: evaluation (each operator, custom fields, decay), services, rescoring."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pulse.core.errors import ApplicationError
from pulse.extras.services import customfield_create
from pulse.leads.models import Lead, LeadEngagement, ScoringRule
from pulse.leads.scoring import (
    decayed_points,
    evaluate,
    lead_rescore_ids,
    rule_matches,
    scoringrule_create,
    scoringrule_delete,
    scoringrule_reorder,
    scoringrule_update,
)
from pulse.leads.services import lead_engagement_record, lead_update
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _rule(operator, value="", field="industry", points=10, **extra):
    return ScoringRule(
        name="r", kind="field", field=field, operator=operator, value=value, points=points, **extra
    )


@pytest.mark.parametrize(
    ("operator", "rule_value", "value", "expected"),
    [
        ("equals", "Software", "software ", True),
        ("equals", "Software", "Retail", False),
        ("equals", "Software", "", False),
        ("not_equals", "Software", "Retail", True),
        ("not_equals", "Software", "SOFTWARE", False),
        ("not_equals", "Software", "", True),
        ("contains", "head", "Head of Sales", True),
        ("contains", "head", "Engineer", False),
        ("in", "DE, FR ,bg", "BG", True),
        ("in", "DE, FR", "GB", False),
        ("gt", "10000", Decimal("10000.01"), True),
        ("gt", "10000", Decimal("10000"), False),
        ("gt", "10000", "not a number", False),
        ("lt", "50", 49, True),
        ("lt", "50", None, False),
        ("is_set", "", "x", True),
        ("is_set", "", "", False),
        ("is_set", "", None, False),
        ("contains", "vip", ["gold", "VIP client"], True),
        ("in", "a,b", ["c", "b"], True),
    ],
)
def test_each_operator(operator, rule_value, value, expected):
    assert rule_matches(_rule(operator, rule_value), value) is expected


def test_decay_halves_every_half_life():
    assert decayed_points(10, age_days=0, half_life_days=30) == 10
    assert decayed_points(10, age_days=30, half_life_days=30) == 5
    assert decayed_points(10, age_days=60, half_life_days=30) == 2.5
    assert decayed_points(10, age_days=-5, half_life_days=30) == 10  # future: in full


def test_evaluate_adds_field_and_decayed_engagement_points_and_clamps(in_org, owner):
    lead = Lead(industry="Software", job_title="Head of IT", value=Decimal("5"))
    rules = [
        _rule("equals", "Software", points=12),
        _rule("contains", "head", field="job_title", points=10),
        _rule("gt", "100", field="value", points=50),  # 5 is not > 100
        ScoringRule(name="open", kind="engagement", event="email_opened", points=10),
        ScoringRule(
            name="off", kind="field", field="industry", operator="is_set", points=90, active=False
        ),
    ]
    events = [
        LeadEngagement(kind="email_opened", occurred_at=NOW - timedelta(days=30)),
        LeadEngagement(kind="email_opened", occurred_at=NOW - timedelta(days=60)),
        LeadEngagement(kind="meeting_held", occurred_at=NOW),
    ]

    score, factors = evaluate(lead, rules, events, NOW, half_life_days=30)

    assert score == 30  # 12 + 10 + 5 + 2.5 = 29.5 -> 30
    assert factors == [
        {"label": "Industry equals Software", "points": 12},
        {"label": "Job title contains head", "points": 10},
        {"label": "Email opened ×2", "points": 7.5},
    ]
    score, _f = evaluate(lead, [_rule("is_set", points=100), _rule("is_set", points=50)], [], NOW)
    assert score == 100
    score, _f = evaluate(lead, [_rule("is_set", points=-40)], [], NOW)
    assert score == 0


def test_custom_field_and_linked_company_values(in_org, owner):
    from pulse.contacts.services import company_create, contact_create

    customfield_create(
        org=in_org,
        actor=owner,
        content_type=_lead_ct(),
        key="budget",
        label="Budget",
        field_type="number",
    )
    company = company_create(org=in_org, actor=owner, name="Northwind", industry="Software")
    contact = contact_create(
        org=in_org, actor=owner, first_name="Ada", email="ada@northwind.example", company=company
    )
    lead = make_lead(in_org, owner, email="ada@northwind.example", custom_fields={"budget": 5000})
    assert lead.contact == contact
    rules = [
        _rule("gt", "1000", field="cf.budget", points=20),
        _rule("equals", "software", field="industry", points=7),  # falls back to the company
        _rule("equals", "Software", field="company.industry", points=3),
    ]
    score, factors = evaluate(lead, rules, [], NOW)
    assert score == 30
    assert [f["points"] for f in factors] == [20, 7, 3]


def _lead_ct():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Lead)


# --- services ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error_fields"),
    [
        ({"kind": "field", "field": "", "operator": "equals", "value": "x"}, {"field"}),
        ({"kind": "field", "field": "shoe_size", "operator": "equals", "value": "x"}, {"field"}),
        ({"kind": "field", "field": "industry", "operator": "", "value": "x"}, {"operator"}),
        ({"kind": "field", "field": "industry", "operator": "equals", "value": ""}, {"value"}),
        ({"kind": "field", "field": "value", "operator": "gt", "value": "lots"}, {"value"}),
        ({"kind": "engagement", "event": ""}, {"event"}),
        ({"kind": "engagement", "event": "telepathy"}, {"event"}),
        ({"kind": "field", "field": "industry", "operator": "is_set", "points": 101}, {"points"}),
    ],
)
def test_create_refuses_incomplete_rules_and_saves_nothing(in_org, owner, fields, error_fields):
    fields = {"name": "Bad", "points": 5, **fields}
    with pytest.raises(ApplicationError) as exc:
        scoringrule_create(org=in_org, actor=owner, **fields)
    assert error_fields <= set(exc.value.errors)
    assert not ScoringRule.objects.exists()


def test_create_cleans_the_other_kind_and_appends(in_org, owner):
    first = scoringrule_create(
        org=in_org,
        actor=owner,
        name="Opened",
        kind="engagement",
        event="email_opened",
        field="industry",
        operator="equals",
        value="x",
        points=5,
    )
    second = scoringrule_create(
        org=in_org,
        actor=owner,
        name="Set",
        kind="field",
        field="industry",
        operator="is_set",
        value="ignored",
        event="email_opened",
        points=5,
    )
    assert (first.field, first.operator, first.value, first.position) == ("", "", "", 0)
    assert (second.value, second.event, second.position) == ("", "", 1)


def test_rule_change_rescores_every_lead_in_the_background(
    in_org, owner, django_capture_on_commit_callbacks
):
    soft = make_lead(in_org, owner, industry="Software")
    retail = make_lead(in_org, owner, industry="Retail")
    with django_capture_on_commit_callbacks(execute=True):
        rule = scoringrule_create(
            org=in_org,
            actor=owner,
            name="Software",
            kind="field",
            field="industry",
            operator="equals",
            value="Software",
            points=25,
        )
    soft.refresh_from_db()
    retail.refresh_from_db()
    assert (soft.score, retail.score) == (25, 0)
    assert soft.score_factors == [{"label": "Industry equals Software", "points": 25}]
    version = soft.version

    with django_capture_on_commit_callbacks(execute=True):
        scoringrule_update(rule=rule, actor=owner, points=40)
    soft.refresh_from_db()
    assert soft.score == 40
    assert soft.version == version  # derived data: no version bump

    with django_capture_on_commit_callbacks(execute=True):
        scoringrule_delete(rule=rule, actor=owner)
    soft.refresh_from_db()
    assert (soft.score, soft.score_factors) == (0, [])


def test_field_change_and_engagement_rescore_the_lead(
    in_org, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scoringrule_create(
            org=in_org,
            actor=owner,
            name="Head",
            kind="field",
            field="job_title",
            operator="contains",
            value="head",
            points=10,
        )
        scoringrule_create(
            org=in_org,
            actor=owner,
            name="Met",
            kind="engagement",
            event="meeting_held",
            points=20,
        )
        lead = make_lead(in_org, owner, job_title="Engineer")
    lead.refresh_from_db()
    assert lead.score == 0 and lead.scored_at is not None

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lead_update(lead=lead, actor=owner, job_title="Head of Data")
    assert len(callbacks) == 1
    lead.refresh_from_db()
    assert lead.score == 10

    with django_capture_on_commit_callbacks(execute=True):
        lead_engagement_record(lead=lead, kind="meeting_held")
    lead.refresh_from_db()
    assert lead.score == 30
    assert {"label": "Meeting held", "points": 20.0} in lead.score_factors


def test_rescore_later_coalesces_one_transaction_into_one_task(
    in_org, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        a = make_lead(in_org, owner)
        b = make_lead(in_org, owner)
        lead_update(lead=a, actor=owner, industry="Software")
    assert len(callbacks) == 1
    assert list(callbacks[0].ids) == [str(a.pk), str(b.pk)]


def test_rescore_ignores_another_organizations_ids(in_org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        theirs = make_lead(other_org, other_owner)
    assert lead_rescore_ids(org=in_org, lead_ids=[theirs.pk]) == 0


def test_reorder_sets_positions_and_refuses_unknown_ids(in_org, owner):
    rules = [
        scoringrule_create(
            org=in_org, actor=owner, name=n, kind="engagement", event="email_opened", points=1
        )
        for n in ("A", "B", "C")
    ]
    scoringrule_reorder(org=in_org, actor=owner, rule_ids=[rules[2].pk, rules[0].pk])
    assert list(ScoringRule.objects.order_by("position").values_list("name", flat=True)) == [
        "C",
        "A",
        "B",
    ]
    with pytest.raises(ApplicationError):
        scoringrule_reorder(
            org=in_org, actor=owner, rule_ids=["00000000-0000-0000-0000-000000000000"]
        )
    assert list(ScoringRule.objects.order_by("position").values_list("name", flat=True)) == [
        "C",
        "A",
        "B",
    ]


# --- property: rule evaluation never fails on what people type -----------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=5), max_size=3),
    st.booleans(),
)


@given(
    operator=st.sampled_from(ScoringRule.Operator.values),
    rule_value=st.text(max_size=20),
    value=_values,
)
def test_rule_matching_never_raises(operator, rule_value, value):
    assert rule_matches(_rule(operator, rule_value), value) in (True, False)


@given(a=st.integers(-(10**6), 10**6), b=st.integers(-(10**6), 10**6))
def test_numeric_comparisons_agree_with_numbers(a, b):
    assert rule_matches(_rule("gt", str(b)), a) is (a > b)
    assert rule_matches(_rule("lt", f"{b:,}"), str(a)) is (a < b)
