"""Lead scoring: rule points with engagement decay, and the learned conversion model.

Two numbers per lead, both derived data (recomputed, never edited, left out of the change
log and of the version number):

- ``score`` (0–100) and ``score_factors``: the organization's rules. Field rules add their
  points when the lead matches; engagement rules add ``points × 0.5^(age / half-life)``
  for every matching event, so old interest fades.
- ``predicted_probability`` (0–1) and ``prediction_factors``: a smoothed naive-Bayes model
  learned from the organization's own closed leads (stage kind converted vs unqualified).
  Each feature value's conversion rate is shrunk toward the base rate by a Beta prior, so
  a value seen twice barely moves the estimate; the log-odds add up, which makes every
  prediction explain itself ("Source = Referral: +12 points" = +1.2 log-odds).

With too little history (fewer than ``MIN_CLOSED`` closed leads or ``MIN_PER_CLASS`` of
either kind) the model is stored with status *insufficient*, predictions are cleared and
the product says so: scores use the rules alone.

Writes here are plain ``UPDATE``s of the derived columns per changed row: no
``select_for_update`` and no version bump, so a batch never holds locks on hot rows and a
person editing the same lead at that moment never gets a "someone else changed it" error
for a number they cannot edit anyway. The audit log excludes these columns
(``Lead.audit_exclude``), so nothing is lost by not going through ``record_update``.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_update

from .models import (
    EngagementKind,
    Lead,
    LeadEngagement,
    LeadSource,
    PredictiveModel,
    ScoringRule,
    StageKind,
)

# --- fields rules can test ---------------------------------------------------------------

# Lead fields a rule may name, with their labels. For a few, a blank lead field falls back
# to the linked contact or its company (a lead attached to a known contact often leaves
# them empty): see ``_FALLBACKS``.
LEAD_FIELDS: dict[str, Any] = {
    "title": gettext_lazy("Title"),
    "job_title": gettext_lazy("Job title"),
    "industry": gettext_lazy("Industry"),
    "company_size": gettext_lazy("Company size"),
    "country": gettext_lazy("Country"),
    "source": gettext_lazy("Source"),
    "value": gettext_lazy("Value"),
    "email": gettext_lazy("Email"),
    "company_name": gettext_lazy("Company name"),
    "website": gettext_lazy("Website"),
    "description": gettext_lazy("Description"),
    "utm_source": gettext_lazy("UTM source"),
    "utm_medium": gettext_lazy("UTM medium"),
    "utm_campaign": gettext_lazy("UTM campaign"),
    "company.industry": gettext_lazy("Company: industry"),
    "company.size_band": gettext_lazy("Company: size"),
    "company.annual_revenue": gettext_lazy("Company: annual revenue"),
    "company.country": gettext_lazy("Company: country"),
    "contact.department": gettext_lazy("Contact: department"),
    "contact.lifecycle_stage": gettext_lazy("Contact: lifecycle stage"),
}
_FALLBACKS = {
    "industry": ("company", "industry"),
    "company_size": ("company", "size_band"),
    "country": ("contact", "country"),
    "job_title": ("contact", "title"),
    "company_name": ("company", "name"),
}
CUSTOM_PREFIX = "cf."
NUMERIC_OPERATORS = {ScoringRule.Operator.GREATER, ScoringRule.Operator.LESS}


def scoring_field_choices() -> list[tuple[str, str]]:
    """(name, label) of every field a rule may test: lead fields, then custom fields."""
    from pulse.extras.customfields import definitions_for

    choices = [(name, str(label)) for name, label in LEAD_FIELDS.items()]
    for definition in definitions_for(Lead):
        choices.append(
            (
                f"{CUSTOM_PREFIX}{definition.key}",
                _("Custom: %(label)s") % {"label": definition.label},
            )
        )
    return choices


def field_label(field: str) -> str:
    if field in LEAD_FIELDS:
        return str(LEAD_FIELDS[field])
    if field.startswith(CUSTOM_PREFIX):
        return field[len(CUSTOM_PREFIX) :].replace("_", " ").capitalize()
    return field


def field_value(lead: Lead, field: str) -> Any:
    """The value a rule sees for ``field``: lead field, linked contact/company, custom field."""
    if field.startswith(CUSTOM_PREFIX):
        return (lead.custom_fields or {}).get(field[len(CUSTOM_PREFIX) :])
    contact = lead.contact if lead.contact_id else None
    company = contact.company if contact is not None and contact.company_id else None
    related = {"contact": contact, "company": company}
    if "." in field:
        owner, name = field.split(".", 1)
        target = related.get(owner)
        return getattr(target, name, None) if target is not None else None
    value = getattr(lead, field, None)
    if _is_empty(value) and field in _FALLBACKS:
        owner, name = _FALLBACKS[field]
        target = related[owner]
        value = getattr(target, name, None) if target is not None else value
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def rule_matches(rule: ScoringRule, value: Any) -> bool:
    """Does a field rule hold for ``value``? Text comparisons ignore case and edges."""
    op = rule.operator
    if op == ScoringRule.Operator.IS_SET:
        return not _is_empty(value)
    if op == ScoringRule.Operator.NOT_EQUALS:
        return not _equals(value, rule.value)
    if _is_empty(value):
        return False
    if op == ScoringRule.Operator.EQUALS:
        return _equals(value, rule.value)
    if op == ScoringRule.Operator.CONTAINS:
        needle = _text(rule.value)
        return any(needle in _text(v) for v in _values(value))
    if op == ScoringRule.Operator.IN:
        options = {_text(o) for o in rule.value.split(",") if o.strip()}
        return any(_text(v) in options for v in _values(value))
    if op in NUMERIC_OPERATORS:
        left, right = _number(value), _number(rule.value)
        if left is None or right is None:
            return False
        return left > right if op == ScoringRule.Operator.GREATER else left < right
    return False


def _equals(value: Any, expected: str) -> bool:
    if _is_empty(value):
        return False
    if isinstance(value, bool):
        return _text(expected) in ({"true", "yes", "1"} if value else {"false", "no", "0"})
    left, right = _number(value), _number(expected)
    if left is not None and right is not None and not isinstance(value, str):
        return left == right
    return any(_text(v) == _text(expected) for v in _values(value))


def decayed_points(points: float, *, age_days: float, half_life_days: float) -> float:
    """``points × 0.5^(age / half-life)``; events in the future count in full."""
    return points * 0.5 ** (max(age_days, 0.0) / half_life_days)


def rule_description(rule: ScoringRule, labels: dict[str, str] | None = None) -> str:
    """A rule in plain words: "Industry equals Software", "Email opened"."""
    if rule.kind == ScoringRule.Kind.ENGAGEMENT:
        return str(EngagementKind(rule.event).label) if rule.event in EngagementKind.values else ""
    name = (labels or {}).get(rule.field) or field_label(rule.field)
    op = ScoringRule.Operator(rule.operator).label if rule.operator else ""
    if rule.operator == ScoringRule.Operator.IS_SET:
        return f"{name} {op}"
    return f"{name} {op} {rule.value}".strip()


_rule_label = rule_description


def evaluate(
    lead: Lead,
    rules: list[ScoringRule],
    engagements: list[LeadEngagement],
    now: datetime,
    *,
    half_life_days: float = 30,
) -> tuple[int, list[dict]]:
    """The rule score (0–100) of ``lead`` and its factors, biggest effect first.

    A pure function: the caller loads the rules, the lead's engagements and the time.
    Factor points keep one decimal (decayed engagement points are fractions); the score
    is the rounded, clamped sum.
    """
    total = 0.0
    factors: list[dict] = []
    for rule in rules:
        if not rule.active:
            continue
        if rule.kind == ScoringRule.Kind.FIELD:
            if rule_matches(rule, field_value(lead, rule.field)):
                total += rule.points
                factors.append({"label": _rule_label(rule), "points": rule.points})
            continue
        events = [e for e in engagements if e.kind == rule.event]
        if not events:
            continue
        points = sum(
            decayed_points(
                rule.points,
                age_days=(now - e.occurred_at).total_seconds() / 86400,
                half_life_days=half_life_days,
            )
            for e in events
        )
        total += points
        label = _rule_label(rule)
        if len(events) > 1:
            label = f"{label} ×{len(events)}"
        factors.append({"label": label, "points": round(points, 1)})
    factors = [f for f in factors if f["points"]]
    factors.sort(key=lambda f: (-abs(f["points"]), f["label"]))
    return max(0, min(100, round(total))), factors


# --- rescoring ---------------------------------------------------------------------------

RESCORE_BATCH = 500
# Engagements older than this many half-lives add less than 0.1 % of their points.
_DECAY_HORIZON_HALF_LIVES = 10


def _org_rules(org_id) -> list[ScoringRule]:
    return list(
        ScoringRule.objects.unscoped().filter(
            organization_id=org_id, deleted_at__isnull=True, active=True
        )
    )


def latest_model(org) -> PredictiveModel | None:
    """The organization's newest trained model (ready or not): it decides what is used."""
    return (
        PredictiveModel.objects.unscoped()
        .filter(organization=org)
        .order_by("-trained_at", "-id")
        .first()
    )


def _lead_queryset():
    return Lead.objects.unscoped().select_related(
        "organization", "contact", "contact__company", "stage"
    )


def lead_rescore(*, leads, now: datetime | None = None) -> int:
    """Recompute score and prediction of ``leads``; write the rows that changed.

    Per organization: the rules, settings and model are read once, the engagements of
    the whole batch in two queries. Returns how many rows were written.
    """
    from .services import lead_settings

    now = now or timezone.now()
    by_org: dict[Any, list[Lead]] = defaultdict(list)
    for lead in leads:
        by_org[lead.organization_id].append(lead)
    written = 0
    for org_id, batch in by_org.items():
        org = batch[0].organization
        rules = _org_rules(org_id)
        half_life = lead_settings(org=org).decay_half_life_days
        model = latest_model(org)
        params = (
            model.parameters if model and model.status == PredictiveModel.Status.READY else None
        )
        ids = [lead.pk for lead in batch]
        recent: dict[Any, list[LeadEngagement]] = defaultdict(list)
        if any(r.kind == ScoringRule.Kind.ENGAGEMENT for r in rules):
            since = now - timezone.timedelta(days=half_life * _DECAY_HORIZON_HALF_LIVES)
            for event in LeadEngagement.objects.unscoped().filter(
                lead_id__in=ids, occurred_at__gte=since
            ):
                recent[event.lead_id].append(event)
        counts = _engagement_counts(ids) if params else {}
        for lead in batch:
            score, factors = evaluate(
                lead, rules, recent.get(lead.pk, []), now, half_life_days=half_life
            )
            changes: dict[str, Any] = {}
            if lead.score != score or lead.score_factors != factors or lead.scored_at is None:
                changes.update(score=score, score_factors=factors, scored_at=now)
            # A closed lead keeps the prediction it had when it closed.
            if lead.stage.kind == StageKind.OPEN and not lead.is_converted:
                probability, why = (None, [])
                if params is not None:
                    features = lead_features(lead, counts.get(lead.pk, {}))
                    probability, why = predict(params, features)
                if lead.predicted_probability != probability or lead.prediction_factors != why:
                    changes.update(predicted_probability=probability, prediction_factors=why)
            if changes:
                # Derived data: a plain UPDATE, no lock and no version bump (see module doc).
                Lead.objects.unscoped().filter(pk=lead.pk).update(**changes)
                for name, value in changes.items():
                    setattr(lead, name, value)
                written += 1
    return written


def lead_rescore_ids(*, org, lead_ids) -> int:
    """Rescore the organization's leads with these ids (gone or foreign ids are skipped)."""
    written = 0
    ids = list(dict.fromkeys(str(i) for i in lead_ids))
    for start in range(0, len(ids), RESCORE_BATCH):
        leads = _lead_queryset().filter(
            organization=org, pk__in=ids[start : start + RESCORE_BATCH], deleted_at__isnull=True
        )
        written += lead_rescore(leads=list(leads))
    return written


def lead_rescore_all(*, org, batch_size: int = RESCORE_BATCH, open_only: bool = False) -> int:
    """Rescore every live lead of ``org`` in primary-key batches, each its own short
    transaction (autocommit UPDATEs), so no lock is held across batches."""
    qs = _lead_queryset().filter(organization=org, deleted_at__isnull=True)
    if open_only:
        qs = qs.filter(stage__kind=StageKind.OPEN, converted_at__isnull=True)
    written, last = 0, None
    while True:
        page = qs.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        batch = list(page[:batch_size])
        if not batch:
            return written
        written += lead_rescore(leads=batch)
        last = batch[-1].pk


@dataclass
class _Pending:
    org: Any
    ids: dict
    sent: bool = False

    def __call__(self) -> None:
        from .tasks import rescore_leads

        self.sent = True
        rescore_leads.enqueue(org=self.org, lead_ids=list(self.ids))


def lead_rescore_later(*, org, lead_ids) -> None:
    """Recompute these leads' scores in the background once the transaction commits.

    Ids are deduplicated, also across calls in the same transaction (create + route +
    update of one lead enqueue one task, not three).
    """
    ids = [str(i) for i in lead_ids]
    if not ids:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        registered = {id(entry[1]) for entry in connection.run_on_commit}
        pending_by_org = connection.__dict__.setdefault("_pulse_pending_rescore", {})
        pending = pending_by_org.get(org.pk)
        if pending is not None and not pending.sent and id(pending) in registered:
            pending.ids.update(dict.fromkeys(ids))
            return
        pending = _Pending(org=org, ids=dict.fromkeys(ids))
        pending_by_org[org.pk] = pending
        transaction.on_commit(pending)
        return
    _Pending(org=org, ids=dict.fromkeys(ids))()


def lead_rescore_all_later(*, org, actor=None) -> None:
    """Rescore all of ``org``'s leads in a background task after commit (rules changed)."""
    from .tasks import rescore_all_leads

    rescore_all_leads.enqueue_on_commit(org=org, actor=actor)


# --- rules (services) --------------------------------------------------------------------

_RULE_FIELDS = ("name", "kind", "field", "operator", "value", "event", "points", "active")


def _rule_fields(fields: dict) -> dict:
    """Normalise and check a rule's fields; errors keyed by field (same in UI and API)."""
    unknown = set(fields) - set(_RULE_FIELDS) - {"position"}
    if unknown:
        raise ApplicationError(errors={name: [_("Unknown field.")] for name in sorted(unknown)})
    fields = dict(fields)
    for name in ("name", "field", "value", "event", "operator"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    return fields


def _check_rule(rule: ScoringRule) -> None:
    errors: dict[str, list[str]] = {}
    if rule.kind == ScoringRule.Kind.ENGAGEMENT:
        rule.field, rule.operator, rule.value = "", "", ""
        if rule.event not in EngagementKind.values:
            errors["event"] = [_("Choose the engagement this rule rewards.")]
    else:
        rule.event = ""
        known = {name for name, _label in scoring_field_choices()}
        if not rule.field:
            errors["field"] = [_("Choose the field this rule tests.")]
        elif rule.field not in known:
            errors["field"] = [_("Unknown field “%(field)s”.") % {"field": rule.field}]
        if not rule.operator:
            errors["operator"] = [_("Choose how to compare.")]
        elif rule.operator == ScoringRule.Operator.IS_SET:
            rule.value = ""
        elif not rule.value:
            errors["value"] = [_("Give the value to compare with.")]
        elif rule.operator in NUMERIC_OPERATORS and _number(rule.value) is None:
            errors["value"] = [_("“Greater than” and “less than” need a number.")]
    if errors:
        raise ApplicationError(errors=errors)


@transaction.atomic
def scoringrule_create(*, org, actor, **fields) -> ScoringRule:
    """Add a rule (last in order unless ``position`` is given); rescore in the background."""
    fields = _rule_fields(fields)
    if fields.get("position") is None:
        last = (
            ScoringRule.objects.unscoped()
            .filter(organization=org, deleted_at__isnull=True)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        fields["position"] = 0 if last is None else last + 1
    rule = ScoringRule(organization=org, **fields)
    _check_rule(rule)
    fields.update(field=rule.field, operator=rule.operator, value=rule.value, event=rule.event)
    rule = record_create(ScoringRule, org=org, actor=actor, **fields)
    lead_rescore_all_later(org=org, actor=actor)
    return rule


@transaction.atomic
def scoringrule_update(
    *, rule: ScoringRule, actor, expected_version: int | None = None, **fields
) -> ScoringRule:
    """Change a rule; every lead is rescored in the background."""
    fields = _rule_fields(fields)
    if fields.get("position") is None:
        fields.pop("position", None)
    probe = ScoringRule(**{f.attname: getattr(rule, f.attname) for f in rule._meta.concrete_fields})
    for name, value in fields.items():
        setattr(probe, name, value)
    _check_rule(probe)
    fields.update(field=probe.field, operator=probe.operator, value=probe.value, event=probe.event)
    # Compared with what was loaded (a ModelForm has already set the new values on ``rule``).
    loaded = getattr(rule, "_loaded_values", {})
    scoring_changed = any(
        loaded.get(name, getattr(rule, name)) != value
        for name, value in fields.items()
        if name not in ("name", "position")
    )
    rule = record_update(rule, actor=actor, expected_version=expected_version, **fields)
    if scoring_changed or not loaded:
        lead_rescore_all_later(org=rule.organization, actor=actor)
    return rule


@transaction.atomic
def scoringrule_delete(*, rule: ScoringRule, actor) -> ScoringRule:
    """Move a rule to the trash; every lead is rescored without it in the background."""
    was_deleted = rule.is_deleted
    rule = record_delete(rule, actor=actor)
    if not was_deleted:
        lead_rescore_all_later(org=rule.organization, actor=actor)
    return rule


@transaction.atomic
def scoringrule_reorder(*, org, actor, rule_ids: list) -> list[ScoringRule]:
    """Put the rules in this order (the listed ones first; the rest keep theirs after).

    Order is for reading the list; a score is a sum, so nothing is rescored.
    """
    rules = {
        str(r.pk): r
        for r in ScoringRule.objects.unscoped().filter(organization=org, deleted_at__isnull=True)
    }
    wanted = [str(i) for i in rule_ids]
    unknown = [i for i in wanted if i not in rules]
    if unknown or len(set(wanted)) != len(wanted):
        raise ApplicationError(errors={"ids": [_("List each of this organization's rules once.")]})
    rest = sorted(
        (r for pk, r in rules.items() if pk not in wanted), key=lambda r: (r.position, r.name)
    )
    ordered = [rules[i] for i in wanted] + rest
    for position, rule in enumerate(ordered):
        if rule.position != position:
            record_update(rule, actor=actor, position=position)
    return ordered


# --- probability override ----------------------------------------------------------------


@transaction.atomic
def lead_probability_override(
    *, lead: Lead, actor, probability: int | None, reason: str = ""
) -> Lead:
    """Set (0–100) or clear (None) a person's probability for ``lead``.

    ``lead_update`` records who and when (``probability_overridden_by/at``) and the change
    log keeps old → new with the actor; clearing returns the lead to the prediction.
    ``reason`` is checked (300 characters at most) but has no column to live in yet.
    """
    from .services import lead_update

    if probability is not None:
        try:
            probability = int(probability)
        except (TypeError, ValueError):
            raise ApplicationError(errors={"probability": [_("Give a whole number 0–100.")]})
        if not 0 <= probability <= 100:
            raise ApplicationError(errors={"probability": [_("Give a whole number 0–100.")]})
    if len(reason or "") > 300:
        raise ApplicationError(errors={"reason": [_("Keep the reason under 300 characters.")]})
    if probability == lead.probability:
        return lead
    return lead_update(lead=lead, actor=actor, probability=probability)


# --- the learned model -------------------------------------------------------------------

MIN_CLOSED = 30
MIN_PER_CLASS = 5
PRIOR_STRENGTH = 4.0  # pseudo-leads at the base rate behind every feature value
TRAIN_SHARE = 0.75
BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100))
# Seniority words in job titles, grouped into what the explanation can say.
_SENIORITY = {
    "ceo": "c_level",
    "cto": "c_level",
    "cfo": "c_level",
    "coo": "c_level",
    "cmo": "c_level",
    "cio": "c_level",
    "chief": "c_level",
    "founder": "founder",
    "owner": "founder",
    "president": "founder",
    "partner": "founder",
    "vp": "vp",
    "vice": "vp",
    "director": "director",
    "head": "director",
    "manager": "manager",
    "lead": "manager",
    "engineer": "individual",
    "developer": "individual",
    "analyst": "individual",
    "specialist": "individual",
    "consultant": "individual",
    "assistant": "individual",
    "student": "student",
    "intern": "student",
}
_SENIORITY_RANK = ["c_level", "founder", "vp", "director", "manager", "individual", "student"]
_SENIORITY_LABELS = {
    "c_level": gettext_lazy("C-level"),
    "founder": gettext_lazy("Founder or owner"),
    "vp": gettext_lazy("Vice president"),
    "director": gettext_lazy("Director or head"),
    "manager": gettext_lazy("Manager or lead"),
    "individual": gettext_lazy("Individual contributor"),
    "student": gettext_lazy("Student or intern"),
    "none": gettext_lazy("not given"),
}
_VALUE_BANDS = ((1_000, "<1k"), (10_000, "1k–10k"), (100_000, "10k–100k"))
FEATURE_LABELS = {
    "source": gettext_lazy("Source"),
    "industry": gettext_lazy("Industry"),
    "company_size": gettext_lazy("Company size"),
    "country": gettext_lazy("Country"),
    "seniority": gettext_lazy("Job title"),
    "value": gettext_lazy("Value"),
    "utm_medium": gettext_lazy("UTM medium"),
}


def _seniority(title: str) -> str:
    words = set(re.findall(r"[a-z]+", (title or "").lower()))
    found = {_SENIORITY[w] for w in words if w in _SENIORITY}
    return next((level for level in _SENIORITY_RANK if level in found), "none")


def _value_band(value) -> str:
    if value is None:
        return "none"
    for limit, label in _VALUE_BANDS:
        if value < limit:
            return label
    return "≥100k"


def _count_bucket(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "2–3" if n <= 3 else "4+"


def lead_features(lead: Lead, engagement_counts: dict[str, int]) -> dict[str, str]:
    """The categorical features the model sees: {feature: value}."""
    features = {
        "source": lead.source or "none",
        "industry": (str(field_value(lead, "industry") or "").strip().casefold() or "none"),
        "company_size": str(field_value(lead, "company_size") or "").strip() or "none",
        "country": str(field_value(lead, "country") or "").upper() or "none",
        "seniority": _seniority(str(field_value(lead, "job_title") or "")),
        "value": _value_band(lead.value),
        "utm_medium": (lead.utm_medium or "").strip().casefold() or "none",
    }
    for kind in EngagementKind.values:
        features[f"engagement.{kind}"] = _count_bucket(engagement_counts.get(kind, 0))
    return features


def _engagement_counts(lead_ids, *, until: dict | None = None) -> dict[Any, dict[str, int]]:
    """{lead id: {kind: count}}; with ``until`` {lead id: time}, only events up to then
    (a closed lead's meetings after it was won would leak the answer into training)."""
    counts: dict[Any, dict[str, int]] = defaultdict(dict)
    if until is None:
        rows = (
            LeadEngagement.objects.unscoped()
            .filter(lead_id__in=lead_ids)
            .values("lead_id", "kind")
            .annotate(n=Count("id"))
        )
        for row in rows:
            counts[row["lead_id"]][row["kind"]] = row["n"]
        return counts
    for lead_id, kind, at in (
        LeadEngagement.objects.unscoped()
        .filter(lead_id__in=lead_ids)
        .values_list("lead_id", "kind", "occurred_at")
    ):
        if until.get(lead_id) is None or at <= until[lead_id]:
            counts[lead_id][kind] = counts[lead_id].get(kind, 0) + 1
    return counts


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _fit(rows: list[tuple[dict[str, str], int]]) -> dict:
    """Per feature value, the smoothed conversion rate's log-odds against the base rate."""
    n = len(rows)
    won = sum(y for _f, y in rows)
    base = (won + 1) / (n + 2)
    seen: dict[str, Counter] = defaultdict(Counter)
    wins: dict[str, Counter] = defaultdict(Counter)
    for features, y in rows:
        for name, value in features.items():
            seen[name][value] += 1
            wins[name][value] += y
    weights: dict[str, dict[str, dict]] = {}
    for name, values in seen.items():
        weights[name] = {}
        for value, count in values.items():
            rate = (wins[name][value] + PRIOR_STRENGTH * base) / (count + PRIOR_STRENGTH)
            weights[name][value] = {
                "n": count,
                "won": wins[name][value],
                "log_odds": round(_logit(rate) - _logit(base), 4),
            }
    return {"base_rate": base, "prior_log_odds": _logit(base), "scale": 1.0, "features": weights}


def _raw(params: dict, features: dict[str, str]) -> list[tuple[str, str, float]]:
    out = []
    for name, value in features.items():
        weight = params["features"].get(name, {}).get(value)
        if weight and weight["log_odds"]:
            out.append((name, value, weight["log_odds"]))
    return out


def _probability(params: dict, features: dict[str, str]) -> float:
    total = sum(w for _n, _v, w in _raw(params, features))
    return _sigmoid(params["prior_log_odds"] + params["scale"] * total)


def feature_label(name: str, value: str) -> str:
    """Plain words for a feature value: "Source = Referral", "Emails opened: 2–3"."""
    if name.startswith("engagement."):
        kind = name.split(".", 1)[1]
        label = EngagementKind(kind).label if kind in EngagementKind.values else kind
        return _("%(what)s × %(count)s") % {"what": label, "count": value}
    label = FEATURE_LABELS.get(name, name)
    if value == "none":
        return _("%(field)s not given") % {"field": label}
    if name == "source" and value in LeadSource.values:
        value = str(LeadSource(value).label)
    elif name == "seniority":
        value = str(_SENIORITY_LABELS.get(value, value))
    elif name == "industry":
        value = value.title()
    return f"{label} = {value}"


def predict(params: dict, features: dict[str, str]) -> tuple[float, list[dict]]:
    """(probability 0–1, factors for and against, strongest first).

    A factor's ``points`` is its contribution in log-odds × 10, rounded; factors under
    one point are left out of the explanation (not out of the probability).
    """
    factors = []
    for name, value, weight in _raw(params, features):
        points = round(weight * params["scale"] * 10)
        if points:
            factors.append({"label": feature_label(name, value), "points": points})
    factors.sort(key=lambda f: (-f["points"], f["label"]))
    return round(_probability(params, features), 4), factors


def _choose_scale(rows: list[tuple[dict[str, str], int]]) -> float:
    """Naive Bayes double-counts correlated features and is overconfident; shrink the
    summed log-odds by the factor with the best out-of-fold log-loss (5 folds)."""
    folds = 5
    scored: list[tuple[float, float, int]] = []
    for k in range(folds):
        train = [r for i, r in enumerate(rows) if i % folds != k]
        test = [r for i, r in enumerate(rows) if i % folds == k]
        if not train or not test:
            continue
        params = _fit(train)
        for features, y in test:
            scored.append(
                (params["prior_log_odds"], sum(w for *_x, w in _raw(params, features)), y)
            )
    best, best_loss = 1.0, float("inf")
    for scale in (0.25, 0.4, 0.55, 0.7, 0.85, 1.0):
        loss = 0.0
        for prior, total, y in scored:
            p = min(max(_sigmoid(prior + scale * total), 1e-6), 1 - 1e-6)
            loss -= math.log(p if y else 1 - p)
        if loss < best_loss - 1e-9:
            best, best_loss = scale, loss
    return best


def _train_rows(org) -> list[tuple[Any, dict[str, str], int]]:
    """(closed at, features, 1 if converted) of every live closed lead, oldest first."""
    leads = list(
        _lead_queryset()
        .filter(
            organization=org,
            deleted_at__isnull=True,
            stage__kind__in=(StageKind.CONVERTED, StageKind.UNQUALIFIED),
        )
        .order_by("stage_changed_at", "pk")
    )
    until = {lead.pk: lead.stage_changed_at for lead in leads}
    counts = _engagement_counts(list(until), until=until)
    return [
        (
            lead.stage_changed_at,
            lead_features(lead, counts.get(lead.pk, {})),
            int(lead.stage.kind == StageKind.CONVERTED),
        )
        for lead in leads
    ]


def _auc(pairs: list[tuple[float, int]]) -> float | None:
    positives = [p for p, y in pairs if y]
    negatives = [p for p, y in pairs if not y]
    if not positives or not negatives:
        return None
    better = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return round(better / (len(positives) * len(negatives)), 3)


def _backtest(rows: list[tuple[dict[str, str], int]]) -> dict:
    """Train on the older ``TRAIN_SHARE`` of the history, predict the newer rest."""
    cut = int(len(rows) * TRAIN_SHARE)
    train, test = rows[:cut], rows[cut:]
    result: dict[str, Any] = {"train_n": len(train), "test_n": len(test), "bands": []}
    if sum(y for _f, y in train) == 0 or all(y for _f, y in train) or not test:
        result["note"] = "too_little"
        return result
    params = _fit(train)
    params["scale"] = _choose_scale(train)
    pairs = [(_probability(params, features), y) for features, y in test]
    for low, high in BANDS:
        inside = [
            (p, y) for p, y in pairs if low / 100 <= p < high / 100 or (high == 100 and p >= 1)
        ]
        result["bands"].append(
            {
                "label": f"{low}–{high} %",
                "low": low,
                "high": high,
                "n": len(inside),
                "predicted": round(sum(p for p, _y in inside) / len(inside), 3) if inside else None,
                "actual": round(sum(y for _p, y in inside) / len(inside), 3) if inside else None,
            }
        )
    result["brier"] = round(sum((p - y) ** 2 for p, y in pairs) / len(pairs), 4)
    result["auc"] = _auc(pairs)
    result["actual_rate"] = round(sum(y for _p, y in pairs) / len(pairs), 3)
    return result


def predictive_status(model: PredictiveModel | None) -> dict:
    """What the UI and API say about the model: ready, or why the rules stand alone."""
    if model is not None and model.status == PredictiveModel.Status.READY:
        return {"ready": True, "message": ""}
    closed = (model.converted_count + model.lost_count) if model is not None else 0
    return {
        "ready": False,
        "message": _(
            "Not enough history yet (%(n)d closed leads; needs %(min)d with at least "
            "%(each)d converted and %(each)d lost) — scores use your rules only."
        )
        % {"n": closed, "min": MIN_CLOSED, "each": MIN_PER_CLASS},
    }


@transaction.atomic
def predictive_train(*, org) -> PredictiveModel:
    """Learn a model from ``org``'s closed leads and store it (a new version each time)."""
    history = _train_rows(org)
    rows = [(features, y) for _at, features, y in history]
    won = sum(y for _f, y in rows)
    lost = len(rows) - won
    if len(rows) < MIN_CLOSED or won < MIN_PER_CLASS or lost < MIN_PER_CLASS:
        return PredictiveModel.objects.create(
            organization=org,
            status=PredictiveModel.Status.INSUFFICIENT,
            converted_count=won,
            lost_count=lost,
        )
    params = _fit(rows)
    params["scale"] = _choose_scale(rows)
    return PredictiveModel.objects.create(
        organization=org,
        status=PredictiveModel.Status.READY,
        converted_count=won,
        lost_count=lost,
        parameters=params,
        backtest=_backtest(rows),
    )


def predictive_apply(*, org, batch_size: int = 1000) -> int:
    """Score every open lead with the newest model (or clear predictions when there is
    not enough history), in primary-key batches of plain UPDATEs, no locks held."""
    return lead_rescore_all(org=org, batch_size=batch_size, open_only=True)


def top_features(params: dict, *, limit: int = 8, min_n: int = 3) -> tuple[list, list]:
    """The feature values that move the model most: (for, against), each
    [{"label", "points", "n", "won"}], values seen fewer than ``min_n`` times left out."""
    rows = []
    for name, values in (params or {}).get("features", {}).items():
        for value, weight in values.items():
            points = round(weight["log_odds"] * params.get("scale", 1.0) * 10)
            if weight["n"] >= min_n and points:
                rows.append(
                    {
                        "label": feature_label(name, value),
                        "points": points,
                        "n": weight["n"],
                        "won": weight["won"],
                    }
                )
    rows.sort(key=lambda r: (-r["points"], r["label"]))
    positives = [r for r in rows if r["points"] > 0][:limit]
    negatives = sorted((r for r in rows if r["points"] < 0), key=lambda r: r["points"])[:limit]
    return positives, negatives


def closed_lead_count(org) -> int:
    return (
        Lead.objects.unscoped()
        .filter(
            organization=org,
            deleted_at__isnull=True,
            stage__kind__in=(StageKind.CONVERTED, StageKind.UNQUALIFIED),
        )
        .count()
    )


def predictive_needs_training(org, *, now: datetime | None = None, new_closed: int = 10) -> bool:
    """Retrain when there is no model, it is a day old, or ``new_closed`` leads closed since."""
    now = now or timezone.now()
    model = latest_model(org)
    if model is None:
        return True
    if now - model.trained_at >= timezone.timedelta(hours=23):
        return True
    return closed_lead_count(org) - (model.converted_count + model.lost_count) >= new_closed
