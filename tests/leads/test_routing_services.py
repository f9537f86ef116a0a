"""Routing: assignment rules in order, each strategy, availability, notifications, and the
rule services' validation (flat given / when / then)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.accounts.models import Membership, Role
from pulse.contacts.services import company_create, contact_create
from pulse.core.errors import ApplicationError
from pulse.extras.models import Notification
from pulse.leads.models import AssignmentRule, Lead
from pulse.leads.routing import (
    assignmentrule_create,
    assignmentrule_delete,
    assignmentrule_reorder,
    assignmentrule_update,
    clean_conditions,
    format_conditions,
    lead_reroute,
    parse_conditions,
)
from pulse.leads.services import lead_create, lead_move_stage, membership_set_available
from tests.accounts.factories import make_member, make_team


@pytest.fixture
def maria(org):
    return make_member(org, Role.SALES_REP, full_name="Maria Ivanova")


@pytest.fixture
def bob(org):
    return make_member(org, Role.SALES_REP, full_name="Bob Brown")


@pytest.fixture
def carl(org):
    return make_member(org, Role.SALES_REP, full_name="Carl Clark")


def _rule(org, actor, **fields):
    fields.setdefault("name", "Rule")
    fields.setdefault("active", True)
    return assignmentrule_create(org=org, actor=actor, **fields)


def _lead(org, actor, **fields):
    fields.setdefault("title", "Inbound")
    fields.setdefault("last_name", "Doe")
    return lead_create(org=org, actor=actor, **fields)


def _away(org, user):
    Membership.objects.unscoped().filter(organization=org, user=user).update(
        available_for_assignment=False
    )


# --- on creation ---------------------------------------------------------------------------


def test_no_rules_leaves_lead_unassigned(in_org, owner):
    lead = _lead(in_org, owner)
    assert lead.assigned_to is None


def test_an_explicit_owner_skips_the_rules(in_org, owner, maria, bob):
    _rule(in_org, owner, strategy="criteria", users=[maria])
    lead = _lead(in_org, owner, assigned_to=bob)
    assert lead.assigned_to == bob


def test_round_robin_takes_turns_fairly(in_org, owner, maria, bob, carl):
    _rule(in_org, owner, strategy="round_robin", users=[maria, bob, carl])

    owners = [_lead(in_org, owner, title=f"L{i}").assigned_to for i in range(9)]

    # Alphabetical order of the candidates, three rounds, each person three leads.
    assert owners == [bob, carl, maria] * 3
    rule = AssignmentRule.objects.get()
    assert rule.last_assigned == maria


def test_round_robin_includes_team_members_and_skips_unavailable(in_org, owner, maria, bob, carl):
    team = make_team(in_org, "Sales", members=[bob, carl])
    _rule(in_org, owner, strategy="round_robin", users=[maria], team=team)
    _away(in_org, carl)

    owners = [_lead(in_org, owner, title=f"L{i}").assigned_to for i in range(4)]

    assert owners == [bob, maria, bob, maria]


def test_removed_member_is_never_picked(in_org, owner, maria, bob):
    _rule(in_org, owner, strategy="round_robin", users=[maria, bob])
    Membership.objects.unscoped().filter(organization=in_org, user=bob).update(
        deleted_at="2024-01-01T00:00:00Z"
    )
    assert {_lead(in_org, owner, title=f"L{i}").assigned_to for i in range(3)} == {maria}


def test_territory_by_lead_country(in_org, owner, maria, bob):
    _rule(in_org, owner, strategy="territory", territories={"BG": maria.pk, "de": bob.pk})
    assert _lead(in_org, owner, country="BG").assigned_to == maria
    assert _lead(in_org, owner, country="DE").assigned_to == bob
    assert _lead(in_org, owner, country="FR").assigned_to is None


def test_territory_by_linked_company_territory(in_org, owner, maria):
    company = company_create(org=in_org, actor=owner, name="Balkan Ltd", territory="Balkans")
    contact_create(
        org=in_org, actor=owner, first_name="Ana", email="ana@balkan.example", company=company
    )
    _rule(in_org, owner, strategy="territory", territories={"Balkans": maria.pk})

    lead = _lead(in_org, owner, email="ana@balkan.example")

    assert lead.contact is not None
    assert lead.assigned_to == maria


def test_territory_skips_unavailable_and_next_rule_catches(in_org, owner, maria, bob):
    _rule(in_org, owner, name="Bulgaria", strategy="territory", territories={"BG": maria.pk})
    _rule(in_org, owner, name="Fallback", strategy="criteria", users=[bob])
    _away(in_org, maria)

    assert _lead(in_org, owner, country="BG").assigned_to == bob


def test_fewest_open_counts_only_open_unconverted_leads(in_org, owner, maria, bob):
    # Maria has two open leads; Bob has three, but two are unqualified (closed).
    for i in range(2):
        _lead(in_org, owner, title=f"M{i}", assigned_to=maria)
    for i in range(3):
        lead = _lead(in_org, owner, title=f"B{i}", assigned_to=bob)
        if i < 2:
            lead_move_stage(lead=lead, stage="unqualified", actor=owner, reason="No budget")
    _rule(in_org, owner, strategy="fewest_open", users=[maria, bob])

    assert _lead(in_org, owner, title="new").assigned_to == bob
    # Now both have two open leads: a tie goes alphabetically (Bob); then Maria has fewer.
    assert _lead(in_org, owner, title="new2").assigned_to == bob
    assert _lead(in_org, owner, title="new3").assigned_to == maria


def test_criteria_rule_matches_conditions_in_order(in_org, owner, maria, bob, carl):
    _rule(
        in_org,
        owner,
        name="Big deals",
        strategy="criteria",
        users=[carl],
        conditions=[{"field": "value", "operator": "gt", "value": "10000"}],
    )
    _rule(
        in_org,
        owner,
        name="Software",
        strategy="criteria",
        users=[maria],
        conditions=[
            {"field": "industry", "operator": "equals", "value": "software"},
            {"field": "source", "operator": "in", "value": "web_form, event"},
        ],
    )
    _rule(in_org, owner, name="Everyone else", strategy="criteria", users=[bob])

    assert _lead(in_org, owner, value="20000", industry="Software").assigned_to == carl
    assert _lead(in_org, owner, industry="Software", source="event").assigned_to == maria
    assert _lead(in_org, owner, industry="Software", source="manual").assigned_to == bob
    assert _lead(in_org, owner, value="500").assigned_to == bob


def test_inactive_and_trashed_rules_are_ignored(in_org, owner, maria, bob):
    off = _rule(in_org, owner, name="Off", strategy="criteria", users=[maria], active=False)
    gone = _rule(in_org, owner, name="Gone", strategy="criteria", users=[maria])
    assignmentrule_delete(rule=gone, actor=owner)
    _rule(in_org, owner, name="On", strategy="criteria", users=[bob])

    assert _lead(in_org, owner).assigned_to == bob
    assert off.position == 0


def test_reorder_changes_which_rule_wins(in_org, owner, maria, bob):
    first = _rule(in_org, owner, name="Maria", strategy="criteria", users=[maria])
    second = _rule(in_org, owner, name="Bob", strategy="criteria", users=[bob])
    assert _lead(in_org, owner).assigned_to == maria

    assignmentrule_reorder(org=in_org, actor=owner, ids=[second.pk, first.pk])

    assert _lead(in_org, owner).assigned_to == bob
    assert list(AssignmentRule.objects.order_by("position").values_list("name", flat=True)) == [
        "Bob",
        "Maria",
    ]


def test_reorder_refuses_unknown_ids_and_changes_nothing(in_org, owner, maria, other_org):
    first = _rule(in_org, owner, name="A", strategy="criteria", users=[maria])
    with pytest.raises(ApplicationError) as exc:
        assignmentrule_reorder(org=in_org, actor=owner, ids=["not-a-rule", first.pk])
    assert "ids" in exc.value.errors
    first.refresh_from_db()
    assert first.position == 0


def test_no_match_leaves_lead_unassigned_and_reroute_says_why(in_org, owner, maria):
    _rule(
        in_org,
        owner,
        strategy="criteria",
        users=[maria],
        conditions=[{"field": "country", "operator": "equals", "value": "BG"}],
    )
    lead = _lead(in_org, owner, country="FR")
    assert lead.assigned_to is None

    decision = lead_reroute(lead=lead, actor=owner)

    assert decision.user is None
    assert decision.reason == "No assignment rule matches this lead."


def test_nobody_available_is_explained(in_org, owner, maria):
    _rule(in_org, owner, name="Only Maria", strategy="criteria", users=[maria])
    _away(in_org, maria)
    lead = _lead(in_org, owner)
    decision = lead_reroute(lead=lead, actor=owner)
    assert lead.assigned_to is None
    assert decision.reason == "Matching rules found nobody available: Only Maria."


# --- on demand and notifications -------------------------------------------------------------


def test_reroute_assigns_and_notifies_new_owner(
    in_org, owner, maria, bob, django_capture_on_commit_callbacks
):
    lead = _lead(in_org, owner, assigned_to=bob, country="BG")
    _rule(in_org, owner, strategy="territory", territories={"BG": maria.pk})

    with django_capture_on_commit_callbacks(execute=True):
        decision = lead_reroute(lead=lead, actor=owner)

    lead.refresh_from_db()
    assert lead.assigned_to == maria
    assert decision.user == maria
    note = Notification.objects.get(recipient=maria)
    assert note.verb == f"Lead assigned to you: {lead.title}"
    assert note.url == f"/leads/{lead.pk}/"


def test_routing_on_create_notifies_the_owner(
    in_org, owner, maria, django_capture_on_commit_callbacks
):
    _rule(in_org, owner, strategy="criteria", users=[maria])
    with django_capture_on_commit_callbacks(execute=True):
        lead = _lead(in_org, owner)
    assert Notification.objects.filter(recipient=maria, url=f"/leads/{lead.pk}/").count() == 1


def test_reroute_keeps_owner_when_nothing_matches(in_org, owner, bob):
    lead = _lead(in_org, owner, assigned_to=bob)
    decision = lead_reroute(lead=lead, actor=owner)
    lead.refresh_from_db()
    assert decision.user is None
    assert lead.assigned_to == bob


def test_reroute_of_converted_lead_is_refused(in_org, owner, maria):
    from pulse.leads.conversion import lead_convert

    lead = _lead(in_org, owner, assigned_to=owner, email="x@example.org")
    lead_convert(lead=lead, actor=owner)
    _rule(in_org, owner, strategy="criteria", users=[maria])
    lead.refresh_from_db()
    with pytest.raises(ApplicationError):
        lead_reroute(lead=lead, actor=owner)
    lead.refresh_from_db()
    assert lead.assigned_to == owner


# --- availability --------------------------------------------------------------------------


def test_member_marks_self_away_admin_marks_others(in_org, owner, maria, bob):
    membership = Membership.objects.get(user=maria)
    membership_set_available(membership=membership, actor=maria, available=False)
    membership.refresh_from_db()
    assert membership.available_for_assignment is False

    other = Membership.objects.get(user=bob)
    with pytest.raises(ApplicationError):
        membership_set_available(membership=other, actor=maria, available=False)
    other.refresh_from_db()
    assert other.available_for_assignment is True

    membership_set_available(membership=other, actor=owner, available=False)
    other.refresh_from_db()
    assert other.available_for_assignment is False


# --- rule validation -------------------------------------------------------------------------


def test_rule_needs_candidates(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        assignmentrule_create(org=in_org, actor=owner, name="Empty", strategy="round_robin")
    assert "users" in exc.value.errors
    with pytest.raises(ApplicationError) as exc:
        assignmentrule_create(org=in_org, actor=owner, name="Empty", strategy="territory")
    assert "territories" in exc.value.errors
    assert AssignmentRule.objects.count() == 0


def test_territories_must_name_members(in_org, owner, other_owner):
    with pytest.raises(ApplicationError) as exc:
        assignmentrule_create(
            org=in_org,
            actor=owner,
            name="T",
            strategy="territory",
            territories={"BG": other_owner.pk, "DE": "nobody"},
        )
    assert exc.value.errors == {
        "territories": ["Choose a member of this organization for: BG, DE."]
    }


def test_users_must_be_members(in_org, owner, other_owner):
    with pytest.raises(ApplicationError) as exc:
        assignmentrule_create(
            org=in_org, actor=owner, name="T", strategy="criteria", users=[other_owner]
        )
    assert "users" in exc.value.errors


def test_bad_conditions_are_field_errors(in_org, owner):
    bad = [
        [{"field": "password", "operator": "equals", "value": "x"}],
        [{"field": "country", "operator": "like", "value": "x"}],
        [{"field": "country", "operator": "equals", "value": ""}],
        [{"field": "value", "operator": "gt", "value": "lots"}],
        ["country equals BG"],
        "country equals BG",
    ]
    for conditions in bad:
        with pytest.raises(ApplicationError) as exc:
            _rule(in_org, owner, strategy="criteria", users=[owner], conditions=conditions)
        assert list(exc.value.errors) == ["conditions"], conditions
    assert AssignmentRule.objects.count() == 0


def test_update_switching_strategy_checks_the_result(in_org, owner, maria):
    rule = _rule(in_org, owner, strategy="criteria", users=[maria])
    with pytest.raises(ApplicationError):
        assignmentrule_update(rule=rule, actor=owner, strategy="territory")
    rule = assignmentrule_update(
        rule=rule, actor=owner, strategy="territory", territories={"bg": maria.pk}
    )
    assert rule.territories == {"BG": maria.pk}


def test_new_rules_go_last(in_org, owner):
    a = _rule(in_org, owner, name="A", strategy="criteria", users=[owner])
    b = _rule(in_org, owner, name="B", strategy="criteria", users=[owner])
    assert (a.position, b.position) == (0, 1)


# --- the conditions text of the rule form ----------------------------------------------------


def test_parse_and_format_conditions():
    text = "country equals BG\n\n# comment\nsource in web_form, event\nindustry is_set"
    parsed = parse_conditions(text)
    assert parsed == [
        {"field": "country", "operator": "equals", "value": "BG"},
        {"field": "source", "operator": "in", "value": "web_form, event"},
        {"field": "industry", "operator": "is_set", "value": ""},
    ]
    assert clean_conditions(parsed) == parsed
    assert parse_conditions(format_conditions(parsed)) == parsed


_field = st.sampled_from(["country", "industry", "source", "value", "email"])
_operator = st.sampled_from(["equals", "not_equals", "contains", "in"])
_value = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({"field": _field, "operator": _operator, "value": _value})))
def test_conditions_text_round_trips(conditions):
    assert parse_conditions(format_conditions(conditions)) == conditions


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_to_conditions_or_a_clear_error(text):
    parsed = parse_conditions(text)
    try:
        cleaned = clean_conditions(parsed)
    except ApplicationError as exc:
        assert list(exc.errors) == ["conditions"]
    else:
        assert all(set(c) == {"field", "operator", "value"} for c in cleaned)


def test_lead_model_untouched_by_failed_route(in_org, owner):
    # A lead no rule places is still created (routing never blocks capture).
    _rule(in_org, owner, strategy="criteria", users=[owner], active=False)
    assert Lead.objects.count() == 0
    _lead(in_org, owner)
    assert Lead.objects.count() == 1
