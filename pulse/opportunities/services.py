"""Every state change of opportunities (rule 3): pipelines and stages, the opportunity,
its stage moves, line items and contact roles, loss reasons and quotas.

Forecast snapshots live in ``forecast.py``; lead conversion calls ``opportunity_create``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import (
    check_same_org,
    record_create,
    record_delete,
    record_restore,
    record_update,
)
from pulse.core.tenancy import forget

from .models import (
    DEFAULT_LOSS_REASONS,
    DEFAULT_PIPELINE,
    DEFAULT_STAGES,
    ForecastCategory,
    LossReason,
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    OpportunityStageChange,
    Pipeline,
    Quota,
    QuotaMetric,
    QuotaPeriod,
    Stage,
    StageType,
)

# --- pipelines, stages and loss reasons: defaults ----------------------------------------------


@transaction.atomic
def pipeline_ensure_defaults(*, org, actor=None) -> list[Pipeline]:
    """The organization's live pipelines in order, creating the default one (with its
    stages and the default loss reasons) the first time."""
    from .selectors import pipelines_of

    pipelines = pipelines_of(org)
    if pipelines:
        return pipelines
    pipeline = record_create(
        Pipeline, org=org, actor=actor, name=str(DEFAULT_PIPELINE), position=0, is_default=True
    )
    stage_create_defaults(pipeline=pipeline, actor=actor)
    if not LossReason.objects.unscoped().filter(organization=org).exists():
        for position, name in enumerate(DEFAULT_LOSS_REASONS):
            record_create(LossReason, org=org, actor=actor, name=str(name), position=position)
    return pipelines_of(org)


def stage_create_defaults(*, pipeline: Pipeline, actor) -> list[Stage]:
    """Give a new pipeline the default stages (a pipeline is never without won and lost)."""
    colors = ("#0d6efd", "#6610f2", "#fd7e14", "#ffc107", "#198754", "#dc3545")
    return [
        record_create(
            Stage,
            org=pipeline.organization,
            actor=actor,
            pipeline=pipeline,
            name=str(name),
            probability=probability,
            type=kind,
            rotting_days=rotting,
            position=position,
            color=colors[position % len(colors)],
        )
        for position, (name, probability, kind, rotting) in enumerate(DEFAULT_STAGES)
    ]


def default_pipeline(org) -> Pipeline:
    """The pipeline new opportunities go to when none is named."""
    pipelines = pipeline_ensure_defaults(org=org)
    return next((p for p in pipelines if p.is_default), pipelines[0])


def first_open_stage(pipeline: Pipeline) -> Stage:
    from .selectors import stages_of

    stages = stages_of(pipeline)
    if not stages:
        raise ApplicationError(errors={"pipeline": [_("This pipeline has no stages yet.")]})
    return next((s for s in stages if s.type == StageType.OPEN), stages[0])


# --- opportunities ------------------------------------------------------------------------------


def _closing_fields(
    stage: Stage,
    *,
    current: Opportunity | None,
    actual_close_date=None,
    loss_reason=None,
    competitor: str | None = None,
) -> dict[str, Any]:
    """What entering ``stage`` sets: status, probability, forecast category, close facts."""
    changes: dict[str, Any] = {"status": stage.type}
    custom = current.probability_is_custom if current is not None else False
    if stage.type == StageType.OPEN:
        if not custom:
            changes["probability"] = stage.probability
        changes["actual_close_date"] = None
        changes["loss_reason"] = None
        if current is not None and current.status != StageType.OPEN:
            changes["forecast_category"] = ForecastCategory.PIPELINE  # reopened
    else:
        changes["probability"] = stage.probability
        changes["probability_is_custom"] = False
        changes["actual_close_date"] = actual_close_date or (
            timezone.localdate() if stage.type == StageType.LOST else None
        )
        if stage.type == StageType.WON:
            changes["forecast_category"] = ForecastCategory.CLOSED
            changes["loss_reason"] = None
        else:
            changes["forecast_category"] = ForecastCategory.OMITTED
            changes["loss_reason"] = loss_reason
            if competitor is not None:
                changes["competitor"] = competitor.strip()[:200]
    return changes


def _stage_change(opportunity: Opportunity, *, from_stage, to_stage, actor, notes="", when=None):
    when = when or timezone.now()
    seconds = None
    if from_stage is not None and opportunity.stage_changed_at:
        seconds = max(0, int((when - opportunity.stage_changed_at).total_seconds()))
    return OpportunityStageChange.objects.create(
        organization=opportunity.organization,
        opportunity=opportunity,
        pipeline_id=to_stage.pipeline_id,
        from_stage=from_stage,
        to_stage=to_stage,
        seconds_in_from_stage=seconds,
        value=opportunity.value,
        currency=opportunity.currency,
        notes=(notes or "").strip(),
        changed_by=actor,
        changed_at=when,
    )


@transaction.atomic
def opportunity_create(*, org, actor, **fields) -> Opportunity:
    """Create an opportunity: in the default pipeline's first open stage unless told,
    in the organization's currency, with the stage's probability unless one is given,
    owned by the actor unless ``assigned_to`` says otherwise. A closed stage needs its
    close facts (``actual_close_date`` for won, ``loss_reason`` for lost)."""
    fields = dict(fields)
    _validated_custom_fields(fields)
    stage = fields.pop("stage", None)
    pipeline = fields.pop("pipeline", None)
    check_same_org(org, stage=stage, pipeline=pipeline, loss_reason=fields.get("loss_reason"))
    if stage is not None and pipeline is not None and stage.pipeline_id != pipeline.pk:
        raise ApplicationError(errors={"stage": [_("This stage belongs to another pipeline.")]})
    pipeline = pipeline or (stage.pipeline if stage is not None else default_pipeline(org))
    stage = stage or first_open_stage(pipeline)
    probability = fields.pop("probability", None)
    competitor = fields.pop("competitor", None)
    fields.update(
        _closing_fields(
            stage,
            current=None,
            actual_close_date=fields.pop("actual_close_date", None),
            loss_reason=fields.pop("loss_reason", None),
            competitor=competitor,
        )
    )
    if competitor is not None and "competitor" not in fields:
        fields["competitor"] = competitor.strip()[:200]  # an open deal's rival is kept too
    if probability is not None and stage.type == StageType.OPEN:
        fields["probability"] = probability
        fields["probability_is_custom"] = True
    if not fields.get("currency"):
        fields["currency"] = org.default_currency
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    fields.setdefault("assigned_to", actor)
    now = timezone.now()
    opportunity = record_create(
        Opportunity,
        org=org,
        actor=actor,
        pipeline=pipeline,
        stage=stage,
        stage_changed_at=now,
        last_activity_at=now,
        **fields,
    )
    _stage_change(opportunity, from_stage=None, to_stage=stage, actor=actor, when=now)
    if opportunity.assigned_to_id and opportunity.assigned_to_id != getattr(actor, "pk", None):
        _notify_owner(opportunity, actor)
    return opportunity


@transaction.atomic
def opportunity_update(
    *, opportunity: Opportunity, actor, expected_version: int | None = None, **fields
) -> Opportunity:
    """Change an opportunity's fields. A new ``stage`` goes through ``opportunity_move``
    (a new ``pipeline`` needs a stage of that pipeline); ``probability`` set by a person
    sticks across stage moves, ``probability=None`` goes back to the stage's default."""
    fields = dict(fields)
    _validated_custom_fields(fields)
    org = opportunity.organization
    stage = fields.pop("stage", None)
    pipeline = fields.pop("pipeline", None)
    notes = fields.pop("stage_notes", "")
    close = {
        k: fields.pop(k) for k in ("actual_close_date", "loss_reason", "competitor") if k in fields
    }
    check_same_org(org, stage=stage, pipeline=pipeline, loss_reason=close.get("loss_reason"))
    if pipeline is not None and pipeline.pk != opportunity.pipeline_id:
        if stage is None or stage.pipeline_id != pipeline.pk:
            raise ApplicationError(
                errors={"stage": [_("Choose a stage of the pipeline you move this deal to.")]}
            )
    if "probability" in fields:
        if fields["probability"] is None:
            fields["probability"] = opportunity.stage.probability
            fields["probability_is_custom"] = False
        elif fields["probability"] != opportunity.probability:
            fields["probability_is_custom"] = True
    if "line_items" in fields:
        raise ApplicationError(_("Change line items with opportunity_set_line_items."))
    if (
        fields.get("value") is not None
        and fields["value"] != opportunity.value
        and OpportunityLineItem.objects.unscoped()
        .filter(opportunity=opportunity, deleted_at__isnull=True)
        .exists()
    ):
        # Line items drive the value (issue 5): a typed value would silently disagree.
        raise ApplicationError(
            errors={"value": [_("This deal's line items set its value; change the lines.")]}
        )
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    old_owner = opportunity.assigned_to_id
    if stage is not None and stage.pk != opportunity.stage_id:
        # One version check for the whole change; the move writes the stage part.
        if fields:
            opportunity = record_update(
                opportunity,
                actor=actor,
                expected_version=expected_version,
                last_activity_at=timezone.now(),
                **fields,
            )
            expected_version = None
        opportunity = opportunity_move(
            opportunity=opportunity,
            stage=stage,
            actor=actor,
            expected_version=expected_version,
            notes=notes,
            allow_pipeline_change=pipeline is not None,
            **close,
        )
    else:
        if opportunity.status != StageType.OPEN:
            # Close facts of a closed deal may be corrected in place.
            fields.update(close)
        elif close.get("competitor") is not None:
            fields["competitor"] = close["competitor"]
        opportunity = record_update(
            opportunity,
            actor=actor,
            expected_version=expected_version,
            last_activity_at=timezone.now(),
            **fields,
        )
    if opportunity.assigned_to_id and opportunity.assigned_to_id != old_owner:
        _notify_owner(opportunity, actor)
    return opportunity


@transaction.atomic
def opportunity_move(
    *,
    opportunity: Opportunity,
    stage: Stage,
    actor,
    expected_version: int | None = None,
    actual_close_date=None,
    loss_reason: LossReason | None = None,
    competitor: str | None = None,
    notes: str = "",
    allow_pipeline_change: bool = False,
) -> Opportunity:
    """Move an opportunity to another stage of its pipeline, recorded in its history.

    Won needs ``actual_close_date``; lost needs a ``loss_reason`` (and takes a
    competitor); reopening clears both. ``expected_version`` makes a stale move (two
    people dragging the same card) a conflict instead of a silent overwrite.
    """
    org = opportunity.organization
    check_same_org(org, stage=stage, loss_reason=loss_reason)
    if stage.is_deleted:
        raise ApplicationError(errors={"stage": [_("This stage was deleted.")]})
    if stage.pipeline_id != opportunity.pipeline_id and not allow_pipeline_change:
        raise ApplicationError(
            errors={
                "stage": [
                    _("“%(stage)s” is a stage of another pipeline; this deal is in “%(pipeline)s”.")
                    % {"stage": stage.name, "pipeline": opportunity.pipeline.name}
                ]
            }
        )
    if stage.pk == opportunity.stage_id and expected_version is None:
        return opportunity
    if stage.type == StageType.WON and not actual_close_date:
        raise ApplicationError(
            errors={"actual_close_date": [_("A won deal needs the date it closed.")]}
        )
    if stage.type == StageType.LOST and loss_reason is None:
        raise ApplicationError(errors={"loss_reason": [_("Say why this deal was lost.")]})
    from_stage = opportunity.stage
    now = timezone.now()
    changes = _closing_fields(
        stage,
        current=opportunity,
        actual_close_date=actual_close_date,
        loss_reason=loss_reason,
        competitor=competitor,
    )
    moved = stage.pk != opportunity.stage_id
    if moved:
        changes.update(stage=stage, stage_changed_at=now, pipeline_id=stage.pipeline_id)
    changes["last_activity_at"] = now
    previous_entered = opportunity.stage_changed_at
    opportunity = record_update(
        opportunity, actor=actor, expected_version=expected_version, **changes
    )
    if moved:
        opportunity.stage_changed_at = previous_entered  # for the time spent in from_stage
        _stage_change(
            opportunity, from_stage=from_stage, to_stage=stage, actor=actor, notes=notes, when=now
        )
        opportunity.stage_changed_at = now
    return opportunity


@transaction.atomic
def opportunity_delete(*, opportunity: Opportunity, actor) -> Opportunity:
    """Move an opportunity to the trash."""
    return record_delete(opportunity, actor=actor)


@transaction.atomic
def opportunity_restore(*, opportunity: Opportunity, actor) -> Opportunity:
    """Bring an opportunity back from the trash."""
    return record_restore(opportunity, actor=actor)


def opportunity_touch(*, opportunity_ids, when=None) -> int:
    """Note activity on deals (a call, a meeting…): resets their rotting clock."""
    when = when or timezone.now()
    return (
        Opportunity.objects.unscoped()
        .filter(pk__in=list(opportunity_ids), last_activity_at__lt=when)
        .update(last_activity_at=when)
    )


# --- line items and contact roles ---------------------------------------------------------------


@transaction.atomic
def opportunity_set_line_items(
    *, opportunity: Opportunity, actor, items: list[dict], expected_version: int | None = None
) -> Opportunity:
    """Replace the deal's line items with ``items`` (dicts with an optional ``id`` of an
    existing line, ``product_name``, ``quantity``, ``unit_price``, ``discount``).

    Lines not named are moved to the trash; when lines remain, their totals are the
    deal's value. All or nothing: one bad line changes nothing.
    """
    org = opportunity.organization
    if expected_version is not None:
        opportunity = record_update(opportunity, actor=actor, expected_version=expected_version)
    existing = {
        str(line.pk): line
        for line in OpportunityLineItem.objects.unscoped().filter(
            opportunity=opportunity, deleted_at__isnull=True
        )
    }
    kept: list[OpportunityLineItem] = []
    errors: dict[str, list] = {}
    for position, item in enumerate(items):
        data = {
            k: item[k]
            for k in ("product_name", "quantity", "unit_price", "discount")
            if k in item and item[k] is not None
        }
        data["position"] = position
        try:
            with transaction.atomic():
                line_id = str(item.get("id") or "")
                if line_id:
                    line = existing.pop(line_id, None)
                    if line is None:
                        raise ApplicationError(errors={"id": [_("No such line on this deal.")]})
                    line = record_update(line, actor=actor, **data)
                else:
                    line = record_create(
                        OpportunityLineItem, org=org, actor=actor, opportunity=opportunity, **data
                    )
                total = line.compute_total()
                if line.total != total:
                    line = record_update(line, actor=actor, total=total)
                kept.append(line)
        except ApplicationError as exc:
            errors[str(position)] = exc.errors
    if errors:
        raise ApplicationError(_("Some line items are not valid."), errors={"line_items": errors})
    for line in existing.values():
        record_delete(line, actor=actor)
    if kept:
        value = sum((line.total for line in kept), Decimal("0"))
        if value != opportunity.value:
            opportunity = record_update(
                opportunity, actor=actor, value=value, last_activity_at=timezone.now()
            )
    return opportunity


@transaction.atomic
def opportunity_contact_add(
    *, opportunity: Opportunity, contact, role: str, actor
) -> OpportunityContact:
    """Put a contact on the deal with a role (or change the role they have)."""
    check_same_org(opportunity.organization, contact=contact)
    current = (
        OpportunityContact.objects.unscoped()
        .filter(opportunity=opportunity, contact=contact, deleted_at__isnull=True)
        .first()
    )
    if current is not None:
        return record_update(current, actor=actor, role=role)
    return record_create(
        OpportunityContact,
        org=opportunity.organization,
        actor=actor,
        opportunity=opportunity,
        contact=contact,
        role=role,
    )


@transaction.atomic
def opportunity_contact_remove(*, contact_role: OpportunityContact, actor) -> OpportunityContact:
    """Take a contact off the deal (to the trash, restorable)."""
    return record_delete(contact_role, actor=actor)


# --- helpers of this module -----------------------------------------------------------------------


def _validated_custom_fields(fields: dict[str, Any]) -> None:
    from pulse.contacts.services import _validated_custom_fields as validate

    validate(Opportunity, fields)


def _notify_owner(opportunity: Opportunity, actor) -> None:
    from pulse.extras.services import notify

    notify(
        org=opportunity.organization,
        recipient=opportunity.assigned_to,
        verb=_("Opportunity assigned to you: %(name)s") % {"name": opportunity.name},
        url=opportunity.get_absolute_url(),
        actor=actor,
    )


# --- pipeline, stage and loss-reason configuration (B) ------------------------------------------


STAGE_FIELDS = ("name", "type", "probability", "rotting_days", "color", "position")


def _live(model, **filters):
    return model.objects.unscoped().filter(deleted_at__isnull=True, **filters)


def _reorder(records: dict, ids: list, *, actor, field: str, noun: str) -> list:
    """Give ``records`` (pk → record) the positions of ``ids`` (every pk exactly once)."""
    wanted = [str(i) for i in ids]
    if sorted(wanted) != sorted(records) or len(set(wanted)) != len(wanted):
        raise ApplicationError(
            errors={field: [_("Send the id of every %(noun)s exactly once.") % {"noun": noun}]}
        )
    ordered = []
    for position, pk in enumerate(wanted):
        record = records[pk]
        if record.position != position:
            record = record_update(record, actor=actor, position=position)
        ordered.append(record)
    return ordered


def _check_manager(org, actor, model) -> None:
    """Services are the last wall: an actor whose role may not change ``model`` is refused
    whatever entry point called (views and viewsets check first; tasks have no actor)."""
    from pulse.accounts.permissions import can

    if actor is not None and not can(actor, "edit", model, org):
        raise PermissionDeniedError(_("Your role does not allow this."))


def _clear_other_defaults(org, *, keep: Pipeline, actor) -> None:
    for other in _live(Pipeline, organization=org, is_default=True).exclude(pk=keep.pk):
        record_update(other, actor=actor, is_default=False)


@transaction.atomic
def pipeline_create(*, org, actor, name: str, is_default: bool = False, position=None) -> Pipeline:
    """Add a pipeline with the default stages (open ones, Won, Lost), at the end unless
    ``position`` says; ``is_default`` makes it the one new deals go to (only one is)."""
    _check_manager(org, actor, Pipeline)
    existing = pipeline_ensure_defaults(org=org, actor=actor)
    if position is None:
        position = max((p.position for p in existing), default=-1) + 1
    pipeline = record_create(
        Pipeline,
        org=org,
        actor=actor,
        name=(name or "").strip(),
        position=position,
        is_default=False,
    )
    stage_create_defaults(pipeline=pipeline, actor=actor)
    if is_default:
        _clear_other_defaults(org, keep=pipeline, actor=actor)
        pipeline = record_update(pipeline, actor=actor, is_default=True)
    return pipeline


@transaction.atomic
def pipeline_update(
    *, pipeline: Pipeline, actor, expected_version: int | None = None, **fields
) -> Pipeline:
    """Rename, move or make a pipeline the default (the previous default stops being one).
    The default cannot just stop being the default: make another one the default."""
    org = pipeline.organization
    _check_manager(org, actor, Pipeline)
    fields = {k: v for k, v in fields.items() if k in ("name", "position", "is_default")}
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    if "is_default" in fields:
        if fields["is_default"] and not pipeline.is_default:
            _clear_other_defaults(org, keep=pipeline, actor=actor)
        elif not fields["is_default"] and pipeline.is_default:
            raise ApplicationError(
                errors={
                    "is_default": [
                        _("A pipeline must be the default; make another one the default instead.")
                    ]
                }
            )
    return record_update(pipeline, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline, actor) -> Pipeline:
    """Move a pipeline (and its stages) to the trash. Refused while it holds live deals,
    and for the organization's last pipeline; deleting the default makes the first
    remaining pipeline the default."""
    org = pipeline.organization
    _check_manager(org, actor, Pipeline)
    used = _live(Opportunity, pipeline=pipeline).count()
    if used:
        raise ApplicationError(
            _(
                "“%(name)s” holds %(count)d opportunity(ies). Move them to another pipeline "
                "or delete them first."
            )
            % {"name": pipeline.name, "count": used}
        )
    others = list(_live(Pipeline, organization=org).exclude(pk=pipeline.pk).order_by("position"))
    if not others:
        raise ApplicationError(_("This is the only pipeline; an organization needs one."))
    stages = list(_live(Stage, pipeline=pipeline))
    for stage in stages:
        record_delete(stage, actor=actor)
    was_default = pipeline.is_default
    pipeline = record_delete(pipeline, actor=actor)
    # One moment for the pipeline and its stages: a restore of the pipeline finds exactly
    # these (Pipeline.trash_companions), not a stage someone deleted on its own before.
    Stage.trash.filter(pk__in=[s.pk for s in stages]).update(deleted_at=pipeline.deleted_at)
    if was_default:
        record_update(others[0], actor=actor, is_default=True)
    return pipeline


@transaction.atomic
def pipeline_reorder(*, org, actor, ids: list) -> list[Pipeline]:
    """Put the pipelines in the order of ``ids`` (every live pipeline's id, once)."""
    _check_manager(org, actor, Pipeline)
    pipelines = {str(p.pk): p for p in pipeline_ensure_defaults(org=org, actor=actor)}
    return _reorder(pipelines, ids, actor=actor, field="ids", noun=_("pipeline"))


def _type_counts(pipeline: Pipeline, *, without: Stage | None = None) -> dict[str, int]:
    qs = _live(Stage, pipeline=pipeline)
    if without is not None:
        qs = qs.exclude(pk=without.pk)
    counts = dict.fromkeys(StageType.values, 0)
    for kind in qs.values_list("type", flat=True):
        counts[kind] += 1
    return counts


def _require_every_type(pipeline: Pipeline, *, without: Stage, field: str) -> None:
    """A pipeline keeps at least one open, one won and one lost stage."""
    missing = [
        StageType(k).label for k, n in _type_counts(pipeline, without=without).items() if not n
    ]
    if missing:
        raise ApplicationError(
            errors={
                field: [
                    _(
                        "A pipeline keeps at least one open, one won and one lost stage; "
                        "“%(stage)s” is its last %(type)s stage."
                    )
                    % {"stage": without.name, "type": str(missing[0]).lower()}
                ]
            }
        )


@transaction.atomic
def stage_create(*, pipeline: Pipeline, actor, **fields) -> Stage:
    """Add a stage to a pipeline. Without a ``position``, an open stage goes after the
    last open one (before Won and Lost) and a closed stage goes at the end."""
    org = pipeline.organization
    _check_manager(org, actor, Stage)
    if pipeline.is_deleted:
        raise ApplicationError(errors={"pipeline": [_("This pipeline was deleted.")]})
    fields = {k: v for k, v in fields.items() if k in STAGE_FIELDS}
    fields.setdefault("type", StageType.OPEN)
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    stages = list(_live(Stage, pipeline=pipeline).order_by("position", "name"))
    if fields.get("position") is None:
        if fields["type"] == StageType.OPEN:
            opens = [i for i, s in enumerate(stages) if s.type == StageType.OPEN]
            index = (opens[-1] + 1) if opens else 0
        else:
            index = len(stages)
        # Renumber so the new stage has a slot of its own (positions are 0..n).
        for i, stage in enumerate(stages):
            wanted = i if i < index else i + 1
            if stage.position != wanted:
                record_update(stage, actor=actor, position=wanted)
        fields["position"] = index
    return record_create(Stage, org=org, actor=actor, pipeline=pipeline, **fields)


@transaction.atomic
def stage_update(*, stage: Stage, actor, expected_version: int | None = None, **fields) -> Stage:
    """Rename, recolour, re-type a stage or change its default probability or rotting days.

    A pipeline keeps one open, one won and one lost stage, and a stage holding live deals
    keeps its type (their status follows it). A new default probability is given, in one
    UPDATE, to the stage's open deals whose probability nobody set by hand; each changed
    deal gets its line in the change log.
    """
    org = stage.organization
    _check_manager(org, actor, Stage)
    fields = {k: v for k, v in fields.items() if k in STAGE_FIELDS}
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    new_type = fields.get("type")
    if new_type and new_type != stage.type:
        _require_every_type(stage.pipeline, without=stage, field="type")
        used = _live(Opportunity, stage=stage).count()
        if used:
            raise ApplicationError(
                errors={
                    "type": [
                        _(
                            "%(count)d opportunity(ies) are in “%(stage)s”; move them before "
                            "changing its type."
                        )
                        % {"count": used, "stage": stage.name}
                    ]
                }
            )
    old_probability = stage.probability
    stage = record_update(stage, actor=actor, expected_version=expected_version, **fields)
    if stage.probability != old_probability:
        _follow_stage_probability(stage, actor=actor)
    return stage


def _follow_stage_probability(stage: Stage, *, actor) -> int:
    """Set the stage's probability on its open, non-custom deals: one UPDATE, and the
    change log written in one bulk insert (no per-row save)."""
    from django.contrib.contenttypes.models import ContentType

    from pulse.audit.models import Action, AuditEntry
    from pulse.core import tenancy

    targets = _live(
        Opportunity, stage=stage, status=StageType.OPEN, probability_is_custom=False
    ).exclude(probability=stage.probability)
    rows = list(targets.values_list("pk", "name", "probability"))
    if not rows:
        return 0
    now = timezone.now()
    Opportunity.objects.unscoped().filter(pk__in=[pk for pk, _n, _p in rows]).update(
        probability=stage.probability,
        version=models.F("version") + 1,
        updated_at=now,
        updated_by=actor,
    )
    content_type = ContentType.objects.get_for_model(Opportunity)
    AuditEntry.objects.unscoped().bulk_create(
        [
            AuditEntry(
                organization_id=stage.organization_id,
                actor=actor,
                source=tenancy.get_current_source(),
                action=Action.UPDATE,
                content_type=content_type,
                object_id=str(pk),
                object_repr=str(name)[:200],
                changes={"probability": [old, stage.probability]},
                request_id=tenancy.get_request_id(),
            )
            for pk, name, old in rows
        ]
    )
    forget(Opportunity._meta.label_lower)
    return len(rows)


@transaction.atomic
def stage_delete(*, stage: Stage, actor) -> Stage:
    """Move a stage to the trash: refused while live deals are in it (say how many) and
    for a pipeline's last open, won or lost stage."""
    _check_manager(stage.organization, actor, Stage)
    used = _live(Opportunity, stage=stage).count()
    if used:
        raise ApplicationError(
            _("%(count)d opportunity(ies) are in “%(stage)s”. Move them to another stage first.")
            % {"count": used, "stage": stage.name}
        )
    _require_every_type(stage.pipeline, without=stage, field="__all__")
    return record_delete(stage, actor=actor)


@transaction.atomic
def stage_reorder(*, pipeline: Pipeline, actor, ids: list) -> list[Stage]:
    """Put a pipeline's stages in the order of ``ids`` (each live stage's id, once)."""
    _check_manager(pipeline.organization, actor, Stage)
    stages = {str(s.pk): s for s in _live(Stage, pipeline=pipeline)}
    return _reorder(stages, ids, actor=actor, field="ids", noun=_("stage of this pipeline"))


def _loss_reasons(org) -> list[LossReason]:
    return list(_live(LossReason, organization=org).order_by("position", "name"))


@transaction.atomic
def lossreason_create(*, org, actor, name: str, active: bool = True, position=None) -> LossReason:
    """Add a loss reason at the end of the list (unless ``position`` says)."""
    _check_manager(org, actor, LossReason)
    if position is None:
        position = max((r.position for r in _loss_reasons(org)), default=-1) + 1
    return record_create(
        LossReason,
        org=org,
        actor=actor,
        name=(name or "").strip(),
        active=active,
        position=position,
    )


@transaction.atomic
def lossreason_update(
    *, reason: LossReason, actor, expected_version: int | None = None, **fields
) -> LossReason:
    """Rename a loss reason, or stop offering it (``active=False``) without losing the
    deals that gave it."""
    _check_manager(reason.organization, actor, LossReason)
    fields = {k: v for k, v in fields.items() if k in ("name", "active", "position")}
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    return record_update(reason, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def lossreason_delete(*, reason: LossReason, actor) -> LossReason:
    """Move a loss reason no live deal gives to the trash; a used one is deactivated instead."""
    _check_manager(reason.organization, actor, LossReason)
    used = _live(Opportunity, loss_reason=reason).count()
    if used:
        raise ApplicationError(
            _(
                "%(count)d lost opportunity(ies) give “%(name)s” as the reason. Stop offering "
                "it instead (untick “offered”)."
            )
            % {"count": used, "name": reason.name}
        )
    return record_delete(reason, actor=actor)


@transaction.atomic
def lossreason_reorder(*, org, actor, ids: list) -> list[LossReason]:
    """Put the loss reasons in the order of ``ids`` (every live reason's id, once)."""
    _check_manager(org, actor, LossReason)
    reasons = {str(r.pk): r for r in _loss_reasons(org)}
    return _reorder(reasons, ids, actor=actor, field="ids", noun=_("loss reason"))


# --- quotas (B) ---------------------------------------------------------------------------------


def quota_period_start(*, org, period: str, day: datetime.date) -> datetime.date:
    """The first day of the month, quarter or fiscal year holding ``day``; quarters and
    years start from the organization's ``fiscal_year_start_month``."""
    from .forecast import fiscal_period_of

    if period not in QuotaPeriod.values:
        raise ApplicationError(errors={"period": [_("Choose month, quarter or year.")]})
    return fiscal_period_of(org, period, day).start


def quota_periods(*, org, period: str, fiscal_year: int) -> list[datetime.date]:
    """The starts of the months, quarters or the one year of fiscal year ``fiscal_year``
    (named by the calendar year it starts in)."""
    from .forecast import fiscal_periods

    return [p.start for p in fiscal_periods(org, period, fiscal_year)]


def _quota_fields(org, fields: dict) -> dict:
    """Check and normalise quota input: whose (a member or a team of ``org``), the period
    start moved to the period's first day, the target not negative."""
    from pulse.accounts.models import Membership

    fields = {
        k: v
        for k, v in fields.items()
        if k in ("user", "team", "period", "period_start", "metric", "target")
    }
    user, team = fields.get("user"), fields.get("team")
    if user is not None and team is not None:
        raise ApplicationError(errors={"team": [_("A quota is for one user or one team.")]})
    if user is not None and not (
        Membership.objects.unscoped()
        .filter(organization=org, user=user, deleted_at__isnull=True)
        .exists()
    ):
        raise ApplicationError(errors={"user": [_("Choose a member of this organization.")]})
    check_same_org(org, team=team)
    if team is not None and team.is_deleted:
        raise ApplicationError(errors={"team": [_("This team was deleted.")]})
    period, start = fields.get("period"), fields.get("period_start")
    if period and isinstance(start, datetime.date):
        fields["period_start"] = quota_period_start(org=org, period=period, day=start)
    return fields


@transaction.atomic
def quota_create(*, org, actor, **fields) -> Quota:
    """Set a goal for one user or one team (``user`` xor ``team``) over a month, quarter
    or fiscal year starting on or around ``period_start``, in revenue or deals won."""
    _check_manager(org, actor, Quota)
    fields = _quota_fields(org, fields)
    fields.setdefault("metric", QuotaMetric.REVENUE)
    return record_create(Quota, org=org, actor=actor, **fields)


@transaction.atomic
def quota_update(*, quota: Quota, actor, expected_version: int | None = None, **fields) -> Quota:
    """Change a quota's target (or whose, which period, which metric)."""
    org = quota.organization
    _check_manager(org, actor, Quota)
    merged = {
        "user": quota.user,
        "team": quota.team,
        "period": quota.period,
        "period_start": quota.period_start,
        **fields,
    }
    if "user" in fields and fields["user"] is not None and "team" not in fields:
        merged["team"] = None
    if "team" in fields and fields["team"] is not None and "user" not in fields:
        merged["user"] = None
    changes = _quota_fields(org, merged)
    return record_update(quota, actor=actor, expected_version=expected_version, **changes)


@transaction.atomic
def quota_delete(*, quota: Quota, actor) -> Quota:
    """Move a quota to the trash."""
    _check_manager(quota.organization, actor, Quota)
    return record_delete(quota, actor=actor)


@transaction.atomic
def quota_set(
    *, org, actor, period: str, period_start, metric: str, target, user=None, team=None
) -> Quota | None:
    """The quota grid's cell: create, change or (``target`` None) remove the quota of one
    user or team for one period and metric."""
    _check_manager(org, actor, Quota)
    fields = _quota_fields(
        org,
        {
            "user": user,
            "team": team,
            "period": period,
            "period_start": period_start,
            "metric": metric,
        },
    )
    current = (
        _live(Quota, organization=org)
        .filter(
            user=fields.get("user"),
            team=fields.get("team"),
            period=period,
            period_start=fields["period_start"],
            metric=metric,
        )
        .first()
    )
    if target is None:
        if current is not None:
            quota_delete(quota=current, actor=actor)
        return None
    if current is not None:
        return record_update(current, actor=actor, target=target)
    return record_create(Quota, org=org, actor=actor, target=target, **fields)
