"""Lead routing: assignment rules evaluated in order on creation and on demand.

``lead_route`` runs when ``services.lead_create`` got no owner; ``lead_reroute`` is the
"route again" button and API action. Rules are tried by ``position``: the first active
rule whose conditions all hold *and* that finds an available candidate picks the
owner (a rule whose people are all away lets the next rule try, so a fallback rule at
the end catches the rest). The owner is set through ``services.lead_update``, which
audits the change and notifies the new owner after commit.

The rule services (``assignmentrule_create/update/delete/reorder``) live here too:
they validate what routing relies on (candidates exist, territories name members).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_update

from .models import AssignmentRule, Lead, StageKind

Strategy = AssignmentRule.Strategy

# Lead fields a rule's conditions may test, with their labels for the rule form.
CONDITION_FIELDS: dict[str, Any] = {
    "source": gettext_lazy("Source"),
    "country": gettext_lazy("Country"),
    "industry": gettext_lazy("Industry"),
    "company_size": gettext_lazy("Company size"),
    "company_name": gettext_lazy("Company name"),
    "job_title": gettext_lazy("Job title"),
    "title": gettext_lazy("Title"),
    "email": gettext_lazy("Email"),
    "value": gettext_lazy("Value"),
    "currency": gettext_lazy("Currency"),
    "utm_source": gettext_lazy("UTM source"),
    "utm_medium": gettext_lazy("UTM medium"),
    "utm_campaign": gettext_lazy("UTM campaign"),
}
OPERATORS = ("equals", "not_equals", "contains", "in", "gt", "lt", "is_set")
MAX_CONDITIONS = 20
MAX_TERRITORIES = 300


# --- conditions -----------------------------------------------------------------------------


def _number(value) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def condition_holds(lead: Lead, condition: dict) -> bool:
    """Does ``lead`` meet one ``{"field", "operator", "value"}`` condition?

    Text compares case-insensitively; ``in`` takes a comma-separated list; ``gt``/``lt``
    compare numbers (a lead without a number never matches them).
    """
    field, operator = condition.get("field"), condition.get("operator")
    expected = str(condition.get("value") or "").strip()
    actual = getattr(lead, field, None) if field in CONDITION_FIELDS else None
    if operator == "is_set":
        return actual not in (None, "")
    if operator in ("gt", "lt"):
        have, want = _number(actual) if actual not in (None, "") else None, _number(expected)
        if have is None or want is None:
            return False
        return have > want if operator == "gt" else have < want
    text = "" if actual is None else str(actual).strip().casefold()
    want = expected.casefold()
    if operator == "equals":
        return text == want
    if operator == "not_equals":
        return text != want
    if operator == "contains":
        return bool(want) and want in text
    if operator == "in":
        return text in {part.strip().casefold() for part in expected.split(",") if part.strip()}
    return False


def clean_conditions(conditions) -> list[dict]:
    """Conditions checked and tidied for storage; a clear field error otherwise."""
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list):
        raise ApplicationError(errors={"conditions": [_("Send a list of conditions.")]})
    if len(conditions) > MAX_CONDITIONS:
        raise ApplicationError(
            errors={"conditions": [_("At most %(n)d conditions.") % {"n": MAX_CONDITIONS}]}
        )
    cleaned = []
    for number, item in enumerate(conditions, start=1):
        if not isinstance(item, dict):
            raise ApplicationError(
                errors={"conditions": [_("Condition %(n)d is not an object.") % {"n": number}]}
            )
        field = str(item.get("field") or "").strip()
        operator = str(item.get("operator") or "").strip()
        value = item.get("value", "")
        value = "" if value is None else str(value).strip()
        if field not in CONDITION_FIELDS:
            raise ApplicationError(
                errors={
                    "conditions": [
                        _("Condition %(n)d: unknown field “%(field)s”. Known: %(known)s.")
                        % {"n": number, "field": field[:60], "known": ", ".join(CONDITION_FIELDS)}
                    ]
                }
            )
        if operator not in OPERATORS:
            raise ApplicationError(
                errors={
                    "conditions": [
                        _("Condition %(n)d: unknown operator “%(op)s”. Known: %(known)s.")
                        % {"n": number, "op": operator[:30], "known": ", ".join(OPERATORS)}
                    ]
                }
            )
        if operator != "is_set" and not value:
            raise ApplicationError(
                errors={"conditions": [_("Condition %(n)d needs a value.") % {"n": number}]}
            )
        if operator in ("gt", "lt") and _number(value) is None:
            raise ApplicationError(
                errors={"conditions": [_("Condition %(n)d compares a number.") % {"n": number}]}
            )
        if len(value) > 300:
            raise ApplicationError(
                errors={
                    "conditions": [_("Condition %(n)d: the value is too long.") % {"n": number}]
                }
            )
        cleaned.append(
            {"field": field, "operator": operator, "value": "" if operator == "is_set" else value}
        )
    return cleaned


def parse_conditions(text: str) -> list[dict]:
    """The rule form's text, one condition a line: ``field operator value``
    (``country equals BG``, ``value gt 5000``, ``industry is_set``). Raw dicts; run them
    through ``clean_conditions`` to validate."""
    found = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        found.append(
            {
                "field": parts[0],
                "operator": parts[1] if len(parts) > 1 else "",
                "value": parts[2] if len(parts) > 2 else "",
            }
        )
    return found


def format_conditions(conditions: list[dict]) -> str:
    """The stored conditions as the rule form's text (inverse of ``parse_conditions``)."""
    return "\n".join(
        " ".join(
            p for p in (c.get("field", ""), c.get("operator", ""), str(c.get("value") or "")) if p
        )
        for c in conditions or []
    )


# --- candidates -------------------------------------------------------------------------------


def _available_ids(org, user_ids) -> set:
    """Which of ``user_ids`` are live, active members of ``org`` who take new leads."""
    from pulse.accounts.models import Membership

    return set(
        Membership.objects.unscoped()
        .filter(
            organization=org,
            user_id__in=list(user_ids),
            deleted_at__isnull=True,
            available_for_assignment=True,
            user__is_active=True,
        )
        .values_list("user_id", flat=True)
    )


def _candidates(rule: AssignmentRule) -> list:
    """Available users of the rule (its users and its team's members), in a stable order."""
    from pulse.accounts.models import User

    users = Q(pk__in=rule.users.values("pk"))
    if rule.team_id and rule.team is not None and not rule.team.is_deleted:
        users |= Q(teams=rule.team_id)
    people = list(User.objects.filter(users).distinct().order_by("full_name", "email", "pk"))
    available = _available_ids(rule.organization_id, [u.pk for u in people])
    return [u for u in people if u.pk in available]


def _lead_territories(lead: Lead) -> list[str]:
    """Keys a territory map may know this lead by: its country, then its company's
    territory and country (the contact's company, once the lead is linked)."""
    keys = [lead.country]
    company = lead.contact.company if lead.contact_id and lead.contact else None
    if company is not None and not company.is_deleted:
        keys += [company.territory, company.country]
    return [k.strip().casefold() for k in keys if k and k.strip()]


def _pick_territory(rule: AssignmentRule, lead: Lead):
    from pulse.accounts.models import User

    territories = {str(k).strip().casefold(): v for k, v in (rule.territories or {}).items()}
    for key in _lead_territories(lead):
        user_id = territories.get(key)
        if user_id and _available_ids(rule.organization_id, [user_id]):
            return User.objects.filter(pk=user_id).first()
    return None


def _pick_round_robin(rule: AssignmentRule, candidates: list):
    # Lock the rule row so two leads routed at once never get the same "next" person.
    locked = AssignmentRule.objects.unscoped().select_for_update().get(pk=rule.pk)
    ids = [u.pk for u in candidates]
    start = ids.index(locked.last_assigned_id) + 1 if locked.last_assigned_id in ids else 0
    chosen = candidates[start % len(candidates)]
    locked.last_assigned = chosen
    locked.save(update_fields=["last_assigned"])
    rule.last_assigned = chosen
    return chosen


def _pick_fewest_open(rule: AssignmentRule, candidates: list):
    from pulse.accounts.models import User

    open_leads = Q(
        assigned_leads__organization=rule.organization_id,
        assigned_leads__deleted_at__isnull=True,
        assigned_leads__converted_at__isnull=True,
        assigned_leads__stage__kind=StageKind.OPEN,
    )
    counted = (
        User.objects.filter(pk__in=[u.pk for u in candidates])
        .annotate(open_count=Count("assigned_leads", filter=open_leads))
        .order_by("open_count", "full_name", "email", "pk")
    )
    return counted.first()


@dataclass(frozen=True)
class RouteDecision:
    """What the rules decided for a lead: the owner (or None), the rule, and why."""

    user: Any
    rule: AssignmentRule | None
    reason: str


def route_decision(lead: Lead, *, lock: bool = True) -> RouteDecision:
    """Evaluate the organization's active rules in order for ``lead`` (no writes, except
    advancing a round robin's place when ``lock`` is set)."""
    rules = list(
        AssignmentRule.objects.unscoped()
        .filter(organization_id=lead.organization_id, deleted_at__isnull=True, active=True)
        .select_related("team")
        .order_by("position", "name", "pk")
    )
    if not rules:
        return RouteDecision(None, None, _("No active assignment rules."))
    skipped = []
    for rule in rules:
        if not all(condition_holds(lead, c) for c in rule.conditions or []):
            continue
        if rule.strategy == Strategy.TERRITORY:
            user = _pick_territory(rule, lead)
        else:
            candidates = _candidates(rule)
            if not candidates:
                user = None
            elif rule.strategy == Strategy.ROUND_ROBIN:
                user = _pick_round_robin(rule, candidates) if lock else candidates[0]
            elif rule.strategy == Strategy.FEWEST_OPEN:
                user = _pick_fewest_open(rule, candidates)
            else:  # criteria: the first available listed person
                user = candidates[0]
        if user is not None:
            return RouteDecision(
                user, rule, _("Rule “%(rule)s” chose %(user)s.") % {"rule": rule, "user": user}
            )
        skipped.append(str(rule))
    if skipped:
        return RouteDecision(
            None,
            None,
            _("Matching rules found nobody available: %(rules)s.") % {"rules": ", ".join(skipped)},
        )
    return RouteDecision(None, None, _("No assignment rule matches this lead."))


@transaction.atomic
def lead_route(*, lead: Lead, actor):
    """Assign ``lead`` by the first matching active rule; the new owner, or None.

    Called by ``lead_create`` when no owner was given. A lead no rule places stays
    unassigned (``route_decision`` says why).
    """
    decision = route_decision(lead)
    if decision.user is None or decision.user.pk == lead.assigned_to_id:
        return decision.user
    from .services import lead_update

    lead_update(lead=lead, actor=actor, assigned_to=decision.user)
    return decision.user


@transaction.atomic
def lead_reroute(*, lead: Lead, actor) -> RouteDecision:
    """Run the rules again for an existing lead ("on demand"). A new owner is set (and
    notified); when no rule places the lead it keeps its current owner."""
    if lead.is_converted:
        raise ApplicationError(_("This lead is converted; it is no longer routed."))
    if lead.is_deleted:
        raise ApplicationError(_("This record is in the trash; restore it first."))
    decision = route_decision(lead)
    if decision.user is not None and decision.user.pk != lead.assigned_to_id:
        from .services import lead_update

        lead_update(lead=lead, actor=actor, assigned_to=decision.user)
    return decision


# --- rule services ------------------------------------------------------------------------------

RULE_FIELDS = frozenset(
    {"name", "position", "active", "strategy", "conditions", "team", "users", "territories"}
)


def _member_ids(org, user_ids) -> set:
    from pulse.accounts.models import Membership

    return set(
        Membership.objects.unscoped()
        .filter(organization=org, user_id__in=list(user_ids), deleted_at__isnull=True)
        .values_list("user_id", flat=True)
    )


def _clean_territories(org, territories) -> dict:
    if territories in (None, ""):
        return {}
    if not isinstance(territories, dict):
        raise ApplicationError(
            errors={"territories": [_("Send an object {country or territory: user id}.")]}
        )
    if len(territories) > MAX_TERRITORIES:
        raise ApplicationError(
            errors={"territories": [_("At most %(n)d territories.") % {"n": MAX_TERRITORIES}]}
        )
    cleaned: dict[str, str] = {}
    for key, value in territories.items():
        key = str(key).strip()
        if not key or len(key) > 100:
            raise ApplicationError(
                errors={"territories": [_("Each territory is a name of 1–100 characters.")]}
            )
        user_id = str(getattr(value, "pk", value) or "").strip()
        cleaned[key.upper() if len(key) == 2 else key] = user_id
    valid = {str(pk) for pk in _member_ids(org, [v for v in cleaned.values() if v.isdigit()])}
    wrong = sorted(k for k, v in cleaned.items() if v not in valid)
    if wrong:
        raise ApplicationError(
            errors={
                "territories": [
                    _("Choose a member of this organization for: %(keys)s.")
                    % {"keys": ", ".join(wrong)}
                ]
            }
        )
    return {k: int(v) for k, v in cleaned.items()}


def _rule_fields(org, fields: dict, rule: AssignmentRule | None = None) -> dict:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise ValueError(f"assignment rule got unknown fields {sorted(unknown)}")
    fields = dict(fields)
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    if "conditions" in fields:
        fields["conditions"] = clean_conditions(fields["conditions"])
    if "territories" in fields:
        fields["territories"] = _clean_territories(org, fields["territories"])
    if "users" in fields:
        users = list(fields["users"] or [])
        ids = [getattr(u, "pk", u) for u in users]
        if set(ids) - _member_ids(org, ids):
            raise ApplicationError(errors={"users": [_("Choose members of this organization.")]})
        fields["users"] = users
    team = fields.get("team")
    if team is not None and (team.organization_id != org.pk or team.is_deleted):
        raise ApplicationError(errors={"team": [_("Choose one of this organization's teams.")]})
    # What the rule will have after this change, to check it can ever pick someone.
    strategy = fields.get("strategy", rule.strategy if rule else None)
    if strategy == Strategy.TERRITORY:
        territories = fields.get("territories", rule.territories if rule else {})
        if not territories:
            raise ApplicationError(
                errors={"territories": [_("Map at least one country or territory to a person.")]}
            )
    elif strategy in Strategy.values:
        has_users = (
            bool(fields["users"]) if "users" in fields else bool(rule and rule.users.exists())
        )
        has_team = fields.get("team", rule.team if rule else None) is not None
        if not (has_users or has_team):
            raise ApplicationError(
                errors={"users": [_("Choose the people (or a team) this rule assigns to.")]}
            )
    return fields


@transaction.atomic
def assignmentrule_create(*, org, actor, **fields) -> AssignmentRule:
    """Add an assignment rule (last in order unless ``position`` is given)."""
    fields = _rule_fields(org, fields)
    if fields.get("position") is None:
        last = (
            AssignmentRule.objects.unscoped()
            .filter(organization=org, deleted_at__isnull=True)
            .aggregate(m=Max("position"))["m"]
        )
        fields["position"] = 0 if last is None else last + 1
    return record_create(AssignmentRule, org=org, actor=actor, **fields)


@transaction.atomic
def assignmentrule_update(
    *, rule: AssignmentRule, actor, expected_version: int | None = None, **fields
) -> AssignmentRule:
    """Change an assignment rule; a stale ``expected_version`` is refused."""
    fields = _rule_fields(rule.organization, fields, rule)
    return record_update(rule, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def assignmentrule_delete(*, rule: AssignmentRule, actor) -> AssignmentRule:
    """Move an assignment rule to the trash (it stops routing at once)."""
    return record_delete(rule, actor=actor)


@transaction.atomic
def assignmentrule_reorder(*, org, actor, ids: list) -> list[AssignmentRule]:
    """Put the organization's rules in the order of ``ids`` (those not named keep their
    relative order after them); only rules whose position changes are saved."""
    rules = list(
        AssignmentRule.objects.unscoped()
        .select_for_update()
        .filter(organization=org, deleted_at__isnull=True)
        .order_by("position", "name", "pk")
    )
    by_id = {str(r.pk): r for r in rules}
    wanted = []
    for raw in ids or []:
        rule = by_id.get(str(raw))
        if rule is None:
            raise ApplicationError(errors={"ids": [_("Unknown rule: %(id)s.") % {"id": raw}]})
        if rule not in wanted:
            wanted.append(rule)
    ordered = wanted + [r for r in rules if r not in wanted]
    for position, rule in enumerate(ordered):
        if rule.position != position:
            record_update(rule, actor=actor, position=position)
    return ordered
