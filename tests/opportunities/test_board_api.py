"""The board's API twin (issue 5, section K): ``GET /api/crm/opportunities/board/`` and
``PUT /api/crm/opportunities/{id}/stage/``, with the same selector, filters and service
as the board page."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client
from pulse.opportunities.models import Opportunity, OpportunityStageChange, StageType
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company
from tests.currencies.factories import make_exchange_rate
from tests.opportunities.factories import make_loss_reason, make_opportunity, make_pipeline
from tests.opportunities.test_board import _stages

pytestmark = pytest.mark.django_db

BOARD = "/api/crm/opportunities/board/"
# Token and membership (3), pipelines and stages (2), the rates (1), the GROUP BY (1),
# one card query per column with deals (6): the same for 6 deals or 60.
API_BOARD_QUERIES = 13


def _deal(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_opportunity(org, owner, **fields)


def _stage_url(opportunity) -> str:
    return f"/api/crm/opportunities/{opportunity.pk}/stage/"


def _reread(opportunity):
    return Opportunity.objects.unscoped().select_related("stage").get(pk=opportunity.pk)


def test_board_lists_stages_with_totals_rates_and_cards(org, owner):
    stages = _stages(org, owner)
    with tenant_context(org, actor=owner):
        make_exchange_rate(
            org, owner, currency="USD", rate=Decimal("0.8"), valid_from=datetime.date(2024, 6, 1)
        )
        company = make_company(org, owner, name="Rila Outdoor")
    deal = _deal(
        org,
        owner,
        name="Tents for 2027",
        company=company,
        stage=stages["Negotiation"],
        value=Decimal("1000.00"),
        currency="USD",
        expected_close_date=datetime.date(2031, 5, 1),
    )
    _deal(org, owner, stage=stages["Negotiation"], value=Decimal("200.00"), currency="EUR")

    response = api_client(owner, org).get(BOARD)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pipeline"]["name"] == "New business"
    assert (body["currency"], body["count"], body["value_total"], body["weighted_total"]) == (
        "EUR",
        2,
        "1000.00",
        "750.00",
    )
    assert [s["name"] for s in body["stages"]] == [
        "Qualification",
        "Needs analysis",
        "Proposal",
        "Negotiation",
        "Won",
        "Lost",
    ]
    negotiation = body["stages"][3]
    assert {k: v for k, v in negotiation.items() if k != "cards"} == {
        "id": str(stages["Negotiation"].pk),
        "name": "Negotiation",
        "type": "open",
        "probability": 75,
        "rotting_days": 7,
        "color": stages["Negotiation"].color,
        "count": 2,
        "value_total": "1000.00",  # 1000 USD × 0.8 + 200 EUR
        "weighted_total": "750.00",
        "currency": "EUR",
        "totals": [
            {
                "currency": "EUR",
                "count": 1,
                "value": "200.00",
                "weighted": "150.00",
                "converted": True,
                "rate": "1.00000000",
                "rate_date": None,
            },
            {
                "currency": "USD",
                "count": 1,
                "value": "1000.00",
                "weighted": "750.00",
                "converted": True,
                "rate": "0.80000000",
                "rate_date": "2024-06-01",
            },
        ],
        "closed_from": None,  # an open stage: all its deals
        "closed_to": None,
        "more": 0,
    }
    card = negotiation["cards"][1]
    assert card == {
        "id": str(deal.pk),
        "name": "Tents for 2027",
        "company_id": str(company.pk),
        "company_name": "Rila Outdoor",
        "value": "1000.00",
        "currency": "USD",
        "probability": 75,
        "expected_close_date": "2031-05-01",
        "actual_close_date": None,
        "status": "open",
        "assigned_to": owner.pk,
        "assigned_to_name": "Olivia Owner",
        "stage_changed_at": card["stage_changed_at"],
        "days_in_stage": 0,
        "last_activity_at": card["last_activity_at"],
        "is_rotting": False,
        "version": _reread(deal).version,
    }
    assert body["stages"][0]["cards"] == [] and body["stages"][0]["value_total"] == "0.00"


def test_board_filters_cards_and_pipeline_like_the_page(org, owner, rep):
    stages = _stages(org, owner)
    with tenant_context(org, actor=owner):
        renewals = make_pipeline(org, owner, name="Renewals")
    for _ in range(4):
        _deal(org, owner, stage=stages["Proposal"], value=Decimal("10.00"))
    _deal(org, owner, assigned_to=rep, value=Decimal("9000.00"))
    renewal = _deal(org, owner, pipeline=renewals)
    api = api_client(owner, org)

    few = api.get(BOARD, {"cards": "2"}).json()
    proposal = few["stages"][2]
    assert (proposal["count"], len(proposal["cards"]), proposal["more"]) == (4, 2, 2)
    counts_only = api.get(BOARD, {"cards": "0"}).json()
    assert [s["count"] for s in counts_only["stages"]] == [1, 0, 4, 0, 0, 0]
    assert all(s["cards"] == [] for s in counts_only["stages"])

    theirs = api.get(BOARD, {"assigned_to": str(rep.pk)}).json()
    assert theirs["count"] == 1 and theirs["value_total"] == "9000.00"
    big = api.get(BOARD, {"value_min": "100"}).json()
    assert big["count"] == 1
    other = api.get(BOARD, {"pipeline": str(renewals.pk)}).json()
    assert other["pipeline"] == {"id": str(renewals.pk), "name": "Renewals"}
    assert [c["id"] for s in other["stages"] for c in s["cards"]] == [str(renewal.pk)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cards": "many"}, "cards"),
        ({"cards": "500"}, "cards"),
        ({"close_from": "2026-13-45"}, "close_from"),
        ({"value_min": "cheap"}, "value_min"),
        ({"pipeline": "00000000-0000-0000-0000-000000000000"}, "pipeline"),
        ({"sort": "random"}, "sort"),
    ],
)
def test_board_bad_parameters_answer_400(org, owner, params, field):
    response = api_client(owner, org).get(BOARD, params)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_board_api_query_count_does_not_grow(org, owner, rep, django_assert_max_num_queries):
    stages = list(_stages(org, owner).values())
    api = api_client(owner, org)

    def spread(n):
        for i in range(n):
            stage = stages[i % 6]
            close = {}
            if stage.type == StageType.WON:
                close = {"actual_close_date": timezone.localdate()}
            elif stage.type == StageType.LOST:
                with tenant_context(org, actor=owner):
                    close = {"loss_reason": make_loss_reason(org, owner)}
            _deal(
                org,
                owner,
                stage=stage,
                currency=("EUR", "USD")[i % 2],
                assigned_to=rep if i % 2 else owner,
                **close,
            )

    spread(6)
    api.get(BOARD)
    with django_assert_max_num_queries(API_BOARD_QUERIES):
        small = api.get(BOARD).json()
    spread(54)
    with django_assert_max_num_queries(API_BOARD_QUERIES):
        big = api.get(BOARD).json()

    assert [len(s["cards"]) for s in small["stages"]] == [1] * 6
    assert [len(s["cards"]) for s in big["stages"]] == [10] * 6


# --- PUT …/{id}/stage/ ----------------------------------------------------------------------


def test_stage_move_returns_the_opportunity(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)

    response = api_client(owner, org).put(
        _stage_url(deal),
        {"stage": str(stages["Proposal"].pk), "notes": "Demo went well", "version": deal.version},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(deal.pk)
    assert body["probability"] == 50
    assert body["status"] == "open"
    assert body["version"] == deal.version + 1
    assert _reread(deal).stage.name == "Proposal"
    change = OpportunityStageChange.objects.unscoped().filter(opportunity=deal).first()
    assert (change.from_stage.name, change.to_stage.name, change.notes, change.changed_by) == (
        "Qualification",
        "Proposal",
        "Demo went well",
        owner,
    )


def test_won_needs_the_close_date_and_lost_a_reason(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    api = api_client(owner, org)
    with tenant_context(org, actor=owner):
        reason = make_loss_reason(org, owner, name="Budget cut")

    no_date = api.put(_stage_url(deal), {"stage": str(stages["Won"].pk)}, format="json")
    bad_date = api.put(
        _stage_url(deal),
        {"stage": str(stages["Won"].pk), "actual_close_date": "31.12.2026"},
        format="json",
    )
    no_reason = api.put(_stage_url(deal), {"stage": str(stages["Lost"].pk)}, format="json")
    unknown_reason = api.put(
        _stage_url(deal),
        {"stage": str(stages["Lost"].pk), "loss_reason": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )

    assert no_date.status_code == 400
    assert no_date.json() == {
        "errors": {"actual_close_date": ["A won deal needs the date it closed."]}
    }
    assert bad_date.status_code == 400 and list(bad_date.json()["errors"]) == ["actual_close_date"]
    assert no_reason.status_code == 400
    assert no_reason.json() == {"errors": {"loss_reason": ["Say why this deal was lost."]}}
    assert unknown_reason.status_code == 400
    assert unknown_reason.json() == {
        "errors": {"loss_reason": ["Choose one of the offered loss reasons."]}
    }
    unchanged = _reread(deal)
    assert (unchanged.status, unchanged.version) == ("open", deal.version)

    lost = api.put(
        _stage_url(deal),
        {"stage": str(stages["Lost"].pk), "loss_reason": str(reason.pk), "competitor": "Globex"},
        format="json",
    )
    assert lost.status_code == 200, lost.content
    deal_now = _reread(deal)
    assert (deal_now.status, deal_now.loss_reason, deal_now.competitor) == (
        "lost",
        reason,
        "Globex",
    )
    won = api.put(
        _stage_url(deal),
        {"stage": str(stages["Won"].pk), "actual_close_date": "2026-04-30"},
        format="json",
    )
    assert won.status_code == 200, won.content
    deal_now = _reread(deal)
    assert (deal_now.status, deal_now.actual_close_date, deal_now.loss_reason) == (
        "won",
        datetime.date(2026, 4, 30),
        None,
    )


def test_another_pipelines_stage_and_unknown_stages_are_refused(org, owner, other_org):
    _stages(org, owner)
    with tenant_context(org, actor=owner):
        renewals = make_pipeline(org, owner, name="Renewals")
    other_stage = _stages(org, owner, renewals)["Won"]
    other_owner = make_member(other_org, Role.OWNER)
    foreign_stage = _stages(other_org, other_owner)["Proposal"]
    deal = _deal(org, owner)
    api = api_client(owner, org)

    other_pipeline = api.put(
        _stage_url(deal),
        {"stage": str(other_stage.pk), "actual_close_date": "2026-01-02"},
        format="json",
    )
    foreign = api.put(_stage_url(deal), {"stage": str(foreign_stage.pk)}, format="json")
    missing = api.put(_stage_url(deal), {}, format="json")

    assert other_pipeline.status_code == 400
    assert other_pipeline.json() == {
        "errors": {
            "stage": ["“Won” is a stage of another pipeline; this deal is in “New business”."]
        }
    }
    assert foreign.status_code == 400
    assert foreign.json() == {"errors": {"stage": ["This stage does not exist (any more)."]}}
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["stage"]
    unchanged = _reread(deal)
    assert (unchanged.stage_id, unchanged.version) == (deal.stage_id, deal.version)


def test_a_stale_version_is_a_conflict_not_an_overwrite(org, owner, rep):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    seen = deal.version

    first = api_client(owner, org).put(
        _stage_url(deal), {"stage": str(stages["Proposal"].pk), "version": seen}, format="json"
    )
    second = api_client(rep, org).put(
        _stage_url(deal), {"stage": str(stages["Negotiation"].pk), "version": seen}, format="json"
    )

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json() == {
        "errors": {
            "version": [
                "Someone else changed this record since you opened it. Reload to see their changes."
            ]
        }
    }
    deal_now = _reread(deal)
    assert (deal_now.stage.name, deal_now.version) == ("Proposal", seen + 1)


def test_read_only_members_see_the_board_but_cannot_move(org, owner, other_org):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    viewer = make_member(org, Role.READ_ONLY, full_name="Vera Viewer")
    api = api_client(viewer, org)
    other_owner = make_member(other_org, Role.OWNER)

    assert api.get(BOARD).status_code == 200
    refused = api.put(_stage_url(deal), {"stage": str(stages["Proposal"].pk)}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"errors": {"__all__": ["Your role does not allow this."]}}
    # Another organization's owner does not find the deal at all.
    foreign = api_client(other_owner, other_org).put(
        _stage_url(deal), {"stage": str(stages["Proposal"].pk)}, format="json"
    )
    assert foreign.status_code == 404
    assert _reread(deal).stage_id == deal.stage_id


def test_schema_documents_the_board_and_the_stage_move(org, owner):
    from pulse.core.testing import web_client

    schema = web_client(owner, org).get("/api/schema/", {"format": "json"}).json()

    board = schema["paths"]["/api/crm/opportunities/board/"]["get"]
    assert board["summary"] == "The kanban board of a pipeline"
    names = {p["name"] for p in board["parameters"]}
    assert {"pipeline", "assigned_to", "team", "tags", "close_from", "value_min", "cards"} <= names
    move = schema["paths"]["/api/crm/opportunities/{id}/stage/"]["put"]
    assert move["summary"] == "Move an opportunity to another stage"
    body = move["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/OpportunityStageMoveRequest")
    response = move["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert response.endswith("/Opportunity")


def test_board_api_says_which_days_the_closed_stages_cover(org, owner):
    from pulse.opportunities.selectors import board_window

    stages = _stages(org, owner)
    window = board_window(org)
    _deal(org, owner, stage=stages["Won"], actual_close_date=window.end, value=Decimal("9.00"))
    _deal(
        org,
        owner,
        stage=stages["Won"],
        actual_close_date=window.start - datetime.timedelta(days=1),
    )

    body = api_client(owner, org).get(BOARD).json()

    won = body["stages"][4]
    assert (won["name"], won["count"], won["value_total"], won["more"]) == ("Won", 1, "9.00", 0)
    assert (won["closed_from"], won["closed_to"]) == (
        window.start.isoformat(),
        window.end.isoformat(),
    )
    assert [c["actual_close_date"] for c in won["cards"]] == [window.end.isoformat()]
    assert all(s["closed_from"] is None for s in body["stages"][:4])
