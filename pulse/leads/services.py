"""Every state change of leads (rule 3): create, update, stage moves, assignment,
engagement events, settings. Scoring, routing, conversion and web forms have their own
modules beside this one (``scoring.py``, ``routing.py``, ``conversion.py``,
``webforms.py``) and call these functions; these call theirs at the seams marked below.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_restore, record_update

from .models import (
    DEFAULT_STAGES,
    EngagementKind,
    Lead,
    LeadEngagement,
    LeadSettings,
    LeadStage,
    LeadStageChange,
    StageKind,
)

# --- stages and settings -----------------------------------------------------------------


@transaction.atomic
def leadstage_ensure_defaults(*, org, actor=None) -> list[LeadStage]:
    """The organization's stages in order, creating the defaults the first time."""
    stages = list(LeadStage.objects.unscoped().filter(organization=org, deleted_at__isnull=True))
    if stages:
        return sorted(stages, key=lambda s: (s.position, s.name))
    created = []
    for position, (key, name, kind) in enumerate(DEFAULT_STAGES):
        created.append(
            record_create(
                LeadStage,
                org=org,
                actor=actor,
                key=key,
                name=str(name),
                kind=kind,
                position=position,
                requires_reason=kind == StageKind.UNQUALIFIED,
            )
        )
    return created


def lead_settings(*, org) -> LeadSettings:
    """The organization's lead settings (defaults until an admin changes them)."""
    from pulse.core.tenancy import memoized

    def read() -> LeadSettings:
        settings = LeadSettings.objects.unscoped().filter(organization=org).first()
        if settings is None:
            with transaction.atomic():
                settings, _created = LeadSettings.objects.unscoped().get_or_create(organization=org)
        return settings

    # Read once per request: bands are drawn on many rows and in several places.
    return memoized((LeadSettings._meta.label_lower, org.pk), read)


def stage_by_key(*, org, key: str) -> LeadStage:
    """The live stage called ``key``; an unknown name is a clear 400, not a 500."""
    stages = leadstage_ensure_defaults(org=org)
    stage = next((s for s in stages if s.key == key), None)
    if stage is None:
        known = ", ".join(s.key for s in stages)
        raise ApplicationError(
            errors={
                "stage": [
                    _("No stage is called “%(key)s”. Known: %(known)s.")
                    % {"key": key, "known": known}
                ]
            }
        )
    return stage


def _first_open_stage(org) -> LeadStage:
    stages = leadstage_ensure_defaults(org=org)
    return next((s for s in stages if s.kind == StageKind.OPEN), stages[0])


# --- leads ------------------------------------------------------------------------------------


def _known_contact(org, email: str):
    """The live contact with this email (same expression as the index), if any."""
    from pulse.contacts.models import Contact

    if not email:
        return None
    return (
        Contact.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower=email.strip().lower())
        .order_by("created_at")
        .first()
    )


def _lead_fields(fields: dict[str, Any], *, org) -> dict[str, Any]:
    from pulse.contacts.services import _normalize_phones, _validated_custom_fields

    fields = dict(fields)
    for name in ("first_name", "last_name", "email", "company_name", "title", "job_title"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    _normalize_phones(fields, ("phone",), org)
    stage = fields.get("stage")
    if isinstance(stage, str):
        fields["stage"] = stage_by_key(org=org, key=stage)
    _validated_custom_fields(Lead, fields)
    return fields


def _check_reason(stage: LeadStage, reason: str) -> None:
    if stage.requires_reason and not (reason or "").strip():
        raise ApplicationError(
            errors={"reason": [_("Say why this lead is %(stage)s.") % {"stage": stage.name}]}
        )


@transaction.atomic
def lead_create(*, org, actor, **fields) -> Lead:
    """Create a lead: first open stage unless told, attached to the contact with its
    email if one exists, routed by the assignment rules when no owner is given, and
    scored in the background."""
    fields = _lead_fields(fields, org=org)
    fields.setdefault("stage", _first_open_stage(org))
    stage = fields["stage"]
    _check_reason(stage, fields.get("unqualified_reason", ""))
    if not fields.get("contact") and fields.get("email"):
        fields["contact"] = _known_contact(org, fields["email"])
    if not fields.get("currency") and fields.get("value") is not None:
        fields["currency"] = org.default_currency
    route = "assigned_to" not in fields
    now = timezone.now()
    fields["stage_changed_at"] = now
    if fields.get("assigned_to") is not None:
        fields["assigned_at"] = now
    lead = record_create(Lead, org=org, actor=actor, **fields)
    LeadStageChange.objects.create(
        organization=org, lead=lead, from_stage=None, to_stage=stage, changed_by=actor
    )
    if route:
        # Seam: the assignment rules (routing.py) pick an owner; None leaves it unassigned.
        from .routing import lead_route

        lead_route(lead=lead, actor=actor)
    elif lead.assigned_to_id and lead.assigned_to_id != getattr(actor, "pk", None):
        _notify_owner(lead, actor)
    _rescore_later(lead)
    return lead


_RESCORE_FIELDS = frozenset(
    {
        "title",
        "description",
        "email",
        "company_name",
        "job_title",
        "industry",
        "company_size",
        "country",
        "source",
        "value",
        "contact",
        "custom_fields",
        "website",
        "tags",
    }
)


@transaction.atomic
def lead_update(*, lead: Lead, actor, expected_version: int | None = None, **fields) -> Lead:
    """Change a lead's fields. A stage change goes through ``lead_move_stage``; a new
    owner is notified; setting ``probability`` records who overrode the prediction."""
    if lead.is_converted and set(fields) - {"tags", "description", "assigned_to"}:
        raise ApplicationError(_("This lead is converted; change what it became instead."))
    fields = _lead_fields(fields, org=lead.organization)
    stage = fields.pop("stage", None)
    notes = fields.pop("stage_notes", "")
    old_owner = lead.assigned_to_id
    if "assigned_to" in fields and getattr(fields["assigned_to"], "pk", None) != old_owner:
        fields["assigned_at"] = timezone.now() if fields["assigned_to"] else None
    if "probability" in fields and fields["probability"] != lead.probability:
        fields["probability_overridden_by"] = actor if fields["probability"] is not None else None
        fields["probability_overridden_at"] = (
            timezone.now() if fields["probability"] is not None else None
        )
    lead = record_update(lead, actor=actor, expected_version=expected_version, **fields)
    if stage is not None and stage.pk != lead.stage_id:
        lead = lead_move_stage(
            lead=lead,
            stage=stage,
            actor=actor,
            notes=notes,
            reason=fields.get("unqualified_reason", lead.unqualified_reason),
        )
    if lead.assigned_to_id and lead.assigned_to_id != old_owner:
        _notify_owner(lead, actor)
    if _RESCORE_FIELDS & set(fields):
        _rescore_later(lead)
    return lead


@transaction.atomic
def lead_move_stage(
    *, lead: Lead, stage: LeadStage | str, actor, notes: str = "", reason: str = ""
) -> Lead:
    """Move a lead to ``stage`` (a stage or its key) with the mover's notes, recorded in
    its history; an unqualified-type stage asks for a reason. Moving into a converted
    stage does not convert: ``lead_convert`` does that and moves it there itself."""
    org = lead.organization
    if isinstance(stage, str):
        stage = stage_by_key(org=org, key=stage)
    if stage.organization_id != lead.organization_id or stage.is_deleted:
        raise ApplicationError(errors={"stage": [_("Choose one of this organization's stages.")]})
    if lead.is_converted:
        raise ApplicationError(_("This lead is converted; it stays in its converted stage."))
    if stage.pk == lead.stage_id:
        return lead
    _check_reason(stage, reason)
    from_stage = lead.stage
    changes: dict[str, Any] = {"stage": stage, "stage_changed_at": timezone.now()}
    if stage.requires_reason:
        changes["unqualified_reason"] = reason.strip()[:300]
    lead = record_update(lead, actor=actor, **changes)
    LeadStageChange.objects.create(
        organization=org,
        lead=lead,
        from_stage=from_stage,
        to_stage=stage,
        notes=notes.strip(),
        reason=reason.strip()[:300],
        changed_by=actor,
    )
    return lead


@transaction.atomic
def lead_delete(*, lead: Lead, actor) -> Lead:
    """Move a lead to the trash."""
    return record_delete(lead, actor=actor)


@transaction.atomic
def lead_restore(*, lead: Lead, actor) -> Lead:
    """Bring a lead back from the trash."""
    return record_restore(lead, actor=actor)


def _notify_owner(lead: Lead, actor) -> None:
    from pulse.extras.services import notify

    notify(
        org=lead.organization,
        recipient=lead.assigned_to,
        verb=_("Lead assigned to you: %(title)s") % {"title": lead.title},
        url=f"/leads/{lead.pk}/",
        actor=actor,
    )


def _rescore_later(lead: Lead) -> None:
    # Seam: scoring.py recomputes the score in the background after commit.
    from .scoring import lead_rescore_later

    lead_rescore_later(org=lead.organization, lead_ids=[lead.pk])


@transaction.atomic
def lead_engagement_record(
    *, lead: Lead, kind: str, occurred_at=None, detail: str = ""
) -> LeadEngagement:
    """Record something a lead did (an email opened, a form submitted…) and rescore it."""
    if kind not in EngagementKind.values:
        raise ApplicationError(errors={"kind": [_("Unknown engagement kind.")]})
    occurred_at = occurred_at or timezone.now()
    event = LeadEngagement.objects.create(
        organization=lead.organization,
        lead=lead,
        kind=kind,
        occurred_at=occurred_at,
        detail=detail[:300],
    )
    Lead.objects.unscoped().filter(pk=lead.pk).update(last_engagement_at=occurred_at)
    _rescore_later(lead)
    return event


# --- stage configuration (A) ----------------------------------------------------------------


def _stage_key_from(name: str, org) -> str:
    from django.utils.text import slugify

    base = (slugify(name or "") or "stage")[:34]
    taken = set(
        LeadStage.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True)
        .values_list("key", flat=True)
    )
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


@transaction.atomic
def leadstage_create(*, org, actor, **fields) -> LeadStage:
    """Add a stage at the end of the pipeline; its key is made from the name if not given."""
    stages = leadstage_ensure_defaults(org=org, actor=actor)
    if not fields.get("key"):
        fields["key"] = _stage_key_from(fields.get("name", ""), org)
    fields.setdefault("kind", StageKind.OPEN)
    if fields.get("position") is None:
        fields["position"] = max((s.position for s in stages), default=-1) + 1
    if "requires_reason" not in fields:
        fields["requires_reason"] = fields["kind"] == StageKind.UNQUALIFIED
    return record_create(LeadStage, org=org, actor=actor, **fields)


def _open_stages_left(stage: LeadStage) -> int:
    return (
        LeadStage.objects.unscoped()
        .filter(organization_id=stage.organization_id, deleted_at__isnull=True, kind=StageKind.OPEN)
        .exclude(pk=stage.pk)
        .count()
    )


@transaction.atomic
def leadstage_update(
    *, stage: LeadStage, actor, expected_version: int | None = None, **fields
) -> LeadStage:
    """Rename, recolour, re-kind a stage. The last open stage stays open (new leads
    start in the first open one)."""
    if "key" in fields and not fields["key"]:
        fields.pop("key")
    kind = fields.get("kind")
    if (
        kind
        and kind != StageKind.OPEN
        and stage.kind == StageKind.OPEN
        and not _open_stages_left(stage)
    ):
        raise ApplicationError(errors={"kind": [_("Keep at least one open stage.")]})
    return record_update(stage, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def leadstage_delete(*, stage: LeadStage, actor) -> LeadStage:
    """Remove a stage no lead uses (leads in the trash count: a restore needs it)."""
    used = Lead.objects.unscoped().filter(stage=stage).count()
    if used:
        raise ApplicationError(
            _(
                "%(count)d lead(s) are in “%(stage)s” (the trash included). Move them to "
                "another stage first."
            )
            % {"count": used, "stage": stage.name}
        )
    if stage.kind == StageKind.OPEN and not _open_stages_left(stage):
        raise ApplicationError(_("Keep at least one open stage."))
    return record_delete(stage, actor=actor)


@transaction.atomic
def leadstage_reorder(*, org, actor, keys: list[str]) -> list[LeadStage]:
    """Put the stages in the order of ``keys`` (every live stage's key, once)."""
    stages = {s.key: s for s in leadstage_ensure_defaults(org=org, actor=actor)}
    if sorted(keys) != sorted(stages) or len(set(keys)) != len(keys):
        raise ApplicationError(
            errors={
                "keys": [
                    _("Send every stage's key exactly once: %(keys)s.")
                    % {"keys": ", ".join(stages)}
                ]
            }
        )
    ordered = []
    for position, key in enumerate(keys):
        stage = stages[key]
        if stage.position != position:
            stage = record_update(stage, actor=actor, position=position)
        ordered.append(stage)
    return ordered


@transaction.atomic
def leadsettings_update(
    *, settings: LeadSettings, actor, expected_version: int | None = None, **fields
) -> LeadSettings:
    """Change the organization's score bands, decay half-life or form rate limit."""
    return record_update(settings, actor=actor, expected_version=expected_version, **fields)


LEAD_BULK_ACTIONS = ("delete", "assign", "tag", "untag", "stage")


@transaction.atomic
def lead_bulk_action(
    *, leads, actor, action: str, assigned_to=None, tags=(), stage=None, reason: str = ""
) -> int:
    """Delete, assign, tag, untag or move several leads, all or nothing (at most 200)."""
    from pulse.contacts.services import _bulk

    def update(lead, actor, **fields):
        new_stage = fields.pop("lifecycle_stage", None)
        if new_stage is not None:
            return lead_move_stage(lead=lead, stage=new_stage, actor=actor, reason=reason)
        return lead_update(lead=lead, actor=actor, **fields)

    if action == "stage" and not stage:
        raise ApplicationError(errors={"stage": [_("Choose a stage.")]})
    return _bulk(
        leads,
        actor=actor,
        action=action,
        update=update,
        delete=lambda lead, a: lead_delete(lead=lead, actor=a),
        assigned_to=assigned_to,
        tags=tags,
        stage=stage,
    )


# --- routing: who takes new leads (D) -------------------------------------------------------


@transaction.atomic
def membership_set_available(*, membership, actor, available: bool):
    """Mark a member as taking new leads or not (assignment rules skip those who do not).

    Owners and admins change anyone; a member may change their own (holiday, full
    pipeline). Audited like any membership change.
    """
    from pulse.accounts.models import Membership
    from pulse.accounts.permissions import can
    from pulse.core.errors import PermissionDeniedError

    is_self = membership.user_id == getattr(actor, "pk", None)
    if not is_self and not can(actor, "manage_settings", Membership, membership.organization):
        raise PermissionDeniedError(_("Only owners and admins can change this for others."))
    if membership.is_deleted:
        raise ApplicationError(_("This person is no longer a member."))
    if membership.available_for_assignment == bool(available):
        return membership
    return record_update(membership, actor=actor, available_for_assignment=bool(available))
