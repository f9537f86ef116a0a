"""Pipeline, stage and loss-reason configuration services: given / when / then, and a
refused change leaves everything as it was."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.testing.records import snapshot
from pulse.opportunities.models import LossReason, Opportunity, Pipeline, Stage
from pulse.opportunities.services import (
    lossreason_create,
    lossreason_delete,
    lossreason_reorder,
    lossreason_update,
    opportunity_move,
    opportunity_update,
    pipeline_create,
    pipeline_delete,
    pipeline_ensure_defaults,
    pipeline_reorder,
    pipeline_update,
    stage_create,
    stage_delete,
    stage_reorder,
    stage_update,
)
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.opportunities.factories import make_opportunity


def _live(model, **filters):
    return list(model.objects.filter(**filters).order_by("position", "name"))


def _names(stages) -> list[str]:
    return [s.name for s in stages]


# --- pipelines ------------------------------------------------------------------------------------


def test_pipeline_create_gets_default_stages_at_the_end(in_org, owner):
    default = pipeline_ensure_defaults(org=in_org, actor=owner)[0]

    renewals = pipeline_create(org=in_org, actor=owner, name="  Renewals ")

    assert renewals.name == "Renewals"
    assert renewals.position == default.position + 1
    assert not renewals.is_default
    stages = _live(Stage, pipeline=renewals)
    assert [s.type for s in stages] == ["open"] * 4 + ["won", "lost"]
    assert AuditEntry.objects.filter(object_id=str(renewals.pk), action="create").count() == 1


def test_only_one_pipeline_is_default(in_org, owner):
    first = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    second = pipeline_create(org=in_org, actor=owner, name="Partners", is_default=True)

    first.refresh_from_db()
    assert second.is_default and not first.is_default

    pipeline_update(pipeline=first, actor=owner, is_default=True)
    second.refresh_from_db()
    assert [p.name for p in _live(Pipeline, is_default=True)] == [first.name]


def test_the_default_pipeline_cannot_just_stop_being_default(in_org, owner):
    default = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    before = snapshot(default)

    with pytest.raises(ApplicationError) as exc:
        pipeline_update(pipeline=default, actor=owner, is_default=False)

    assert "another one the default" in exc.value.errors["is_default"][0]
    assert snapshot(default) == before


def test_pipeline_name_is_unique(in_org, owner):
    pipeline_create(org=in_org, actor=owner, name="Renewals")
    count = Pipeline.objects.count()
    with pytest.raises(ApplicationError) as exc:
        pipeline_create(org=in_org, actor=owner, name="Renewals")
    assert exc.value.errors == {"__all__": ["A pipeline with this name already exists."]}
    assert Pipeline.objects.count() == count


def test_pipeline_with_live_deals_cannot_be_deleted(in_org, owner):
    renewals = pipeline_create(org=in_org, actor=owner, name="Renewals")
    make_opportunity(in_org, owner, pipeline=renewals)
    make_opportunity(in_org, owner, pipeline=renewals)
    before = snapshot(renewals)

    with pytest.raises(ApplicationError) as exc:
        pipeline_delete(pipeline=renewals, actor=owner)

    assert "holds 2 opportunity(ies)" in exc.value.message
    assert snapshot(renewals) == before
    assert len(_live(Stage, pipeline=renewals)) == 6


def test_last_pipeline_cannot_be_deleted(in_org, owner):
    only = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    with pytest.raises(ApplicationError, match="only pipeline"):
        pipeline_delete(pipeline=only, actor=owner)
    assert not Pipeline.trash.exists()


def test_deleting_the_default_pipeline_makes_the_next_one_default(in_org, owner):
    default = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    renewals = pipeline_create(org=in_org, actor=owner, name="Renewals")

    pipeline_delete(pipeline=default, actor=owner)

    renewals.refresh_from_db()
    assert renewals.is_default
    assert Pipeline.trash.filter(pk=default.pk).exists()
    assert not Stage.objects.filter(pipeline=default).exists()  # its stages went too


def test_pipeline_reorder(in_org, owner):
    default = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    b = pipeline_create(org=in_org, actor=owner, name="B")
    c = pipeline_create(org=in_org, actor=owner, name="C")

    pipeline_reorder(org=in_org, actor=owner, ids=[c.pk, default.pk, b.pk])

    assert [p.name for p in _live(Pipeline)] == ["C", default.name, "B"]
    with pytest.raises(ApplicationError):
        pipeline_reorder(org=in_org, actor=owner, ids=[c.pk, b.pk])  # one missing
    with pytest.raises(ApplicationError):
        pipeline_reorder(org=in_org, actor=owner, ids=[c.pk, c.pk, b.pk])
    assert [p.name for p in _live(Pipeline)] == ["C", default.name, "B"]


# --- stages ---------------------------------------------------------------------------------------


def test_open_stage_is_added_before_won_and_lost(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]

    stage_create(pipeline=pipeline, actor=owner, name="Trial", probability=60)
    stage_create(pipeline=pipeline, actor=owner, name="Lost late", type="lost")

    stages = _live(Stage, pipeline=pipeline)
    assert _names(stages) == [
        "Qualification",
        "Needs analysis",
        "Proposal",
        "Negotiation",
        "Trial",
        "Won",
        "Lost",
        "Lost late",
    ]
    assert [s.position for s in stages] == list(range(8))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "", "probability": 10}, "name"),
        ({"name": "Odd", "probability": 101}, "probability"),
        ({"name": "Odd", "probability": -1}, "probability"),
        ({"name": "Odd", "type": "maybe"}, "type"),
        ({"name": "Odd", "rotting_days": 0}, "rotting_days"),
        ({"name": "Proposal"}, "__all__"),  # the pipeline has one already
    ],
)
def test_invalid_stage_is_refused(in_org, owner, fields, field):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    before = [snapshot(s) for s in _live(Stage)]

    with pytest.raises(ApplicationError) as exc:
        stage_create(pipeline=pipeline, actor=owner, **fields)

    assert field in exc.value.errors
    assert [snapshot(s) for s in _live(Stage)] == before


def test_stage_with_live_deals_cannot_be_deleted_and_says_how_many(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    proposal = next(s for s in pipeline.stage_list if s.name == "Proposal")
    for _ in range(3):
        make_opportunity(in_org, owner, stage=proposal)
    before = snapshot(proposal)

    with pytest.raises(ApplicationError) as exc:
        stage_delete(stage=proposal, actor=owner)

    assert exc.value.message == (
        "3 opportunity(ies) are in “Proposal”. Move them to another stage first."
    )
    assert snapshot(proposal) == before


@pytest.mark.parametrize("kind", ["won", "lost"])
def test_last_won_or_lost_stage_cannot_go(in_org, owner, kind):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    stage = next(s for s in pipeline.stage_list if s.type == kind)
    before = snapshot(stage)

    with pytest.raises(ApplicationError, match=f"last {kind} stage"):
        stage_delete(stage=stage, actor=owner)
    with pytest.raises(ApplicationError, match=f"last {kind} stage"):
        stage_update(stage=stage, actor=owner, type="open")

    assert snapshot(stage) == before


def test_last_open_stage_cannot_go(in_org, owner):
    pipeline = pipeline_create(org=in_org, actor=owner, name="Tiny")
    opens = [s for s in _live(Stage, pipeline=pipeline) if s.type == "open"]
    for stage in opens[1:]:
        stage_delete(stage=stage, actor=owner)

    with pytest.raises(ApplicationError, match="last open stage"):
        stage_delete(stage=opens[0], actor=owner)
    assert len(_live(Stage, pipeline=pipeline)) == 3


def test_a_second_won_stage_lets_the_first_go(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    won = next(s for s in pipeline.stage_list if s.type == "won")
    stage_create(pipeline=pipeline, actor=owner, name="Won (renewal)", type="won", probability=100)

    stage_delete(stage=won, actor=owner)

    assert Stage.trash.filter(pk=won.pk).exists()


def test_stage_holding_deals_keeps_its_type(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    proposal = next(s for s in pipeline.stage_list if s.name == "Proposal")
    make_opportunity(in_org, owner, stage=proposal)

    with pytest.raises(ApplicationError) as exc:
        stage_update(stage=proposal, actor=owner, type="won")

    assert "1 opportunity(ies)" in exc.value.errors["type"][0]
    proposal.refresh_from_db()
    assert proposal.type == "open"


def test_new_stage_probability_follows_to_open_deals_in_one_update(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    proposal = next(s for s in pipeline.stage_list if s.name == "Proposal")
    following = [make_opportunity(in_org, owner, stage=proposal) for _ in range(3)]
    custom = make_opportunity(in_org, owner, stage=proposal, probability=90)
    elsewhere = make_opportunity(in_org, owner)  # Qualification: untouched
    versions = {o.pk: o.version for o in following}

    with CaptureQueriesContext(connection) as queries:
        stage_update(stage=proposal, actor=owner, probability=65)

    updates = [
        q["sql"] for q in queries if q["sql"].startswith('UPDATE "opportunities_opportunity"')
    ]
    assert len(updates) == 1
    for opp in following:
        opp.refresh_from_db()
        assert (opp.probability, opp.probability_is_custom) == (65, False)
        assert opp.version == versions[opp.pk] + 1
        entry = AuditEntry.objects.filter(object_id=str(opp.pk)).order_by("-created_at").first()
        assert entry.changes == {"probability": [50, 65]}
        assert entry.actor_id == owner.pk
    custom.refresh_from_db()
    elsewhere.refresh_from_db()
    assert custom.probability == 90
    assert elsewhere.probability == 10


def test_probability_update_skips_closed_and_trashed_deals(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    won = next(s for s in pipeline.stage_list if s.type == "won")
    deal = make_opportunity(in_org, owner)
    opportunity_move(
        opportunity=deal, stage=won, actor=owner, actual_close_date=datetime.date(2026, 1, 5)
    )

    stage_update(stage=won, actor=owner, probability=95)

    deal.refresh_from_db()
    assert deal.probability == 100  # closed deals keep what they closed with


def test_stage_reorder(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    stages = _live(Stage, pipeline=pipeline)
    ids = [s.pk for s in reversed(stages)]

    stage_reorder(pipeline=pipeline, actor=owner, ids=ids)

    assert [s.pk for s in _live(Stage, pipeline=pipeline)] == ids
    other = pipeline_create(org=in_org, actor=owner, name="Other")
    foreign = _live(Stage, pipeline=other)[0]
    with pytest.raises(ApplicationError) as exc:
        stage_reorder(pipeline=pipeline, actor=owner, ids=[*ids[:-1], foreign.pk])
    assert exc.value.errors["ids"]
    assert [s.pk for s in _live(Stage, pipeline=pipeline)] == ids


def test_a_stale_stage_edit_is_a_conflict(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    stage = pipeline.stage_list[0]
    stage_update(stage=stage, actor=owner, name="Discovery")

    with pytest.raises(ApplicationError) as exc:
        stage_update(stage=stage, actor=owner, name="Intro", expected_version=1)

    assert "version" in exc.value.errors
    stage.refresh_from_db()
    assert stage.name == "Discovery"


# --- loss reasons --------------------------------------------------------------------------------


def test_loss_reason_create_rename_deactivate_reorder(in_org, owner):
    pipeline_ensure_defaults(org=in_org, actor=owner)
    reason = lossreason_create(org=in_org, actor=owner, name=" Went dark ")
    assert (reason.name, reason.active, reason.position) == ("Went dark", True, 6)

    lossreason_update(reason=reason, actor=owner, name="Ghosted", active=False)
    reason.refresh_from_db()
    assert (reason.name, reason.active) == ("Ghosted", False)

    ids = [r.pk for r in _live(LossReason)]
    lossreason_reorder(org=in_org, actor=owner, ids=[ids[-1], *ids[:-1]])
    assert _live(LossReason)[0].name == "Ghosted"


def test_used_loss_reason_cannot_be_deleted_but_can_be_retired(in_org, owner):
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    lost = next(s for s in pipeline.stage_list if s.type == "lost")
    reason = _live(LossReason)[0]
    deal = make_opportunity(in_org, owner)
    opportunity_move(opportunity=deal, stage=lost, actor=owner, loss_reason=reason)
    before = snapshot(reason)

    with pytest.raises(ApplicationError, match="1 lost opportunity"):
        lossreason_delete(reason=reason, actor=owner)
    assert snapshot(reason) == before

    lossreason_update(reason=reason, actor=owner, active=False)
    unused = lossreason_create(org=in_org, actor=owner, name="Spare")
    lossreason_delete(reason=unused, actor=owner)
    assert LossReason.trash.filter(pk=unused.pk).exists()


def test_duplicate_loss_reason_is_refused(in_org, owner):
    lossreason_create(org=in_org, actor=owner, name="Went dark")
    with pytest.raises(ApplicationError, match="already exists"):
        lossreason_create(org=in_org, actor=owner, name="Went dark")
    assert LossReason.objects.filter(name="Went dark").count() == 1


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES_REP, Role.READ_ONLY])
def test_only_admins_change_configuration(in_org, owner, role):
    user = make_member(in_org, role)
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    stage = pipeline.stage_list[0]
    reason = _live(LossReason)[0]
    before = [snapshot(pipeline), snapshot(stage), snapshot(reason)]
    pipelines = Pipeline.objects.count()

    attempts = [
        lambda: pipeline_create(org=in_org, actor=user, name="Mine"),
        lambda: pipeline_update(pipeline=pipeline, actor=user, name="Mine"),
        lambda: stage_update(stage=stage, actor=user, probability=99),
        lambda: stage_create(pipeline=pipeline, actor=user, name="Mine"),
        lambda: stage_delete(stage=stage, actor=user),
        lambda: lossreason_update(reason=reason, actor=user, name="Mine"),
        lambda: lossreason_delete(reason=reason, actor=user),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError):
            attempt()

    assert [snapshot(pipeline), snapshot(stage), snapshot(reason)] == before
    assert Pipeline.objects.count() == pipelines


def test_admin_may_configure(in_org, owner):
    admin = make_member(in_org, Role.ADMIN)
    pipeline = pipeline_create(org=in_org, actor=admin, name="Admin's")
    assert pipeline.created_by_id == admin.pk


# --- the settings page and its API twins ---------------------------------------------------------


def test_settings_page_shows_pipelines_stages_reasons_and_counts(org, owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        proposal = next(s for s in pipeline.stage_list if s.name == "Proposal")
        make_opportunity(org, owner, stage=proposal)
        pipeline_create(org=org, actor=owner, name="Renewals")

    page = login(owner, org).get(reverse("opportunities:pipeline_list"))

    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('data-testid="pipeline-card"') == 2
    assert "1 deal in this stage" in html
    assert "Price too high" in html
    assert reverse("opportunities:stage_reorder", args=[pipeline.pk]) in html


def test_settings_page_is_for_admins(org, owner, rep):
    assert login(rep, org).get(reverse("opportunities:pipeline_list")).status_code == 403


def test_settings_page_query_count_is_pinned(org, owner, django_assert_max_num_queries):
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner):
        for n in range(3):
            pipeline_create(org=org, actor=owner, name=f"P{n}")
    client = login(owner, org)
    client.get(reverse("opportunities:pipeline_list"))  # warm caches (session, content types)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("opportunities:pipeline_list"))
    assert response.status_code == 200


def test_stage_delete_page_refusal_is_a_message_and_nothing_changes(org, owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stage = pipeline.stage_list[0]
        make_opportunity(org, owner, stage=stage)
    client = login(owner, org)

    response = client.post(reverse("opportunities:stage_delete", args=[stage.pk]), follow=True)

    assert "1 opportunity(ies) are in “Qualification”" in response.content.decode()
    assert Stage.objects.unscoped().get(pk=stage.pk).deleted_at is None


def test_inline_stage_edit_and_reorder_pages(org, owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stages = list(pipeline.stage_list)
    client = login(owner, org)
    first = stages[0]
    prefix = f"s{first.pk}"

    response = client.post(
        reverse("opportunities:stage_edit", args=[first.pk]),
        {
            f"{prefix}-name": "Discovery",
            f"{prefix}-type": "open",
            f"{prefix}-probability": "15",
            f"{prefix}-rotting_days": "21",
            f"{prefix}-color": "#111111",
            f"{prefix}-expected_version": str(first.version),
        },
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.name, first.probability, first.rotting_days) == ("Discovery", 15, 21)

    new_order = [str(s.pk) for s in reversed(stages)]
    response = client.post(
        reverse("opportunities:stage_reorder", args=[pipeline.pk]),
        {"id": new_order},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"ok": True, "ids": new_order}
    bad = client.post(
        reverse("opportunities:stage_reorder", args=[pipeline.pk]),
        {"id": new_order[:2]},
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400 and "ids" in bad.json()["errors"]
    with tenant_context(org, actor=owner):
        assert [str(s.pk) for s in _live(Stage, pipeline=pipeline)] == new_order


def test_pipeline_and_loss_reason_reorder_pages(org, owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(org, actor=owner):
        default = pipeline_ensure_defaults(org=org, actor=owner)[0]
        other = pipeline_create(org=org, actor=owner, name="Other")
        reasons = [str(r.pk) for r in _live(LossReason)]
    client = login(owner, org)

    response = client.post(
        reverse("opportunities:pipeline_reorder"), {"id": [str(other.pk), str(default.pk)]}
    )
    assert response.status_code == 302
    response = client.post(
        reverse("opportunities:lossreason_reorder"),
        {"id": list(reversed(reasons))},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    with tenant_context(org, actor=owner):
        assert [p.name for p in _live(Pipeline)] == ["Other", default.name]
        assert [str(r.pk) for r in _live(LossReason)] == list(reversed(reasons))


def test_api_pipelines_nest_stages_in_order_and_reorder(org, owner):
    from pulse.core.tenancy import tenant_context
    from pulse.core.testing import api_client

    with tenant_context(org, actor=owner):
        pipeline_create(org=org, actor=owner, name="Renewals")
    client = api_client(owner, org)

    body = client.get("/api/crm/pipelines/").json()

    assert [p["name"] for p in body["results"]] == ["New business", "Renewals"]
    stages = body["results"][0]["stages"]
    assert [s["name"] for s in stages][-2:] == ["Won", "Lost"]
    assert [s["position"] for s in stages] == sorted(s["position"] for s in stages)

    ids = [p["id"] for p in reversed(body["results"])]
    response = client.post("/api/crm/pipelines/reorder/", {"ids": ids}, format="json")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == ids

    renewals = body["results"][1]
    stage_ids = [s["id"] for s in reversed(renewals["stages"])]
    response = client.post(
        "/api/crm/stages/reorder/",
        {"pipeline": renewals["id"], "ids": stage_ids},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [s["id"] for s in response.json()] == stage_ids

    reason_ids = [r["id"] for r in client.get("/api/crm/loss-reasons/").json()["results"]]
    response = client.post(
        "/api/crm/loss-reasons/reorder/", {"ids": reason_ids[::-1]}, format="json"
    )
    assert [r["id"] for r in response.json()] == reason_ids[::-1]


def test_api_refusals_use_the_error_shape(org, owner):
    from pulse.core.tenancy import tenant_context
    from pulse.core.testing import api_client, assert_error_shape

    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stage = pipeline.stage_list[0]
        make_opportunity(org, owner, stage=stage)
        other = pipeline_create(org=org, actor=owner, name="Other")
    client = api_client(owner, org)

    errors = assert_error_shape(client.delete(f"/api/crm/stages/{stage.pk}/"), 400)
    assert "1 opportunity(ies)" in errors["__all__"][0]
    errors = assert_error_shape(
        client.patch(f"/api/crm/stages/{stage.pk}/", {"pipeline": str(other.pk)}, format="json"),
        400,
    )
    assert "pipeline" in errors
    errors = assert_error_shape(client.delete(f"/api/crm/pipelines/{pipeline.pk}/"), 400)
    assert "holds 1 opportunity(ies)" in errors["__all__"][0]
    assert_error_shape(
        client.post("/api/crm/stages/reorder/", {"pipeline": str(pipeline.pk), "ids": []}),
        400,
    )


def test_api_stage_probability_change_reaches_open_deals(org, owner):
    from pulse.core.tenancy import tenant_context
    from pulse.core.testing import api_client

    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stage = pipeline.stage_list[1]
        deal = make_opportunity(org, owner, stage=stage)

    response = api_client(owner, org).patch(
        f"/api/crm/stages/{stage.pk}/", {"probability": 33}, format="json"
    )

    assert response.status_code == 200
    assert Opportunity.objects.unscoped().get(pk=deal.pk).probability == 33


def test_opportunity_update_still_sticks_a_custom_probability(in_org, owner):
    # The bulk follow-up must not touch deals a person has set since.
    pipeline = pipeline_ensure_defaults(org=in_org, actor=owner)[0]
    stage = pipeline.stage_list[0]
    deal = make_opportunity(in_org, owner, stage=stage)
    opportunity_update(opportunity=deal, actor=owner, probability=42)

    stage_update(stage=stage, actor=owner, probability=20)

    deal.refresh_from_db()
    assert (deal.probability, deal.probability_is_custom) == (42, True)


def test_restoring_a_trashed_pipeline_brings_back_its_stages(in_org, owner):
    from pulse.audit.services import trash_restore
    from pulse.opportunities.services import stage_delete

    pipeline_ensure_defaults(org=in_org, actor=owner)
    renewals = pipeline_create(org=in_org, actor=owner, name="Renewals")
    # A stage deleted on its own before the pipeline was: it stays in the trash.
    negotiation = _live(Stage, pipeline=renewals, name="Negotiation")[0]
    stage_delete(stage=negotiation, actor=owner)
    pipeline_delete(pipeline=renewals, actor=owner)
    assert _live(Stage, pipeline=renewals) == []

    trash_restore(instance=Pipeline.trash.get(pk=renewals.pk), actor=owner)

    assert Pipeline.objects.filter(pk=renewals.pk).exists()
    assert _names(_live(Stage, pipeline=renewals)) == [
        "Qualification",
        "Needs analysis",
        "Proposal",
        "Won",
        "Lost",
    ]
    assert Stage.trash.filter(pk=negotiation.pk).exists()
