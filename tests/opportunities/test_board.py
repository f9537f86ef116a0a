"""The kanban board of opportunities (issue 5, section K): column totals in the
organization's currency, weighted totals, the 50-card cap, filters, the pipeline
switcher, the rotting flag, pinned query counts, and the move endpoint a drop calls."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from pulse.opportunities.models import Opportunity, OpportunityStageChange, StageType
from pulse.opportunities.selectors import (
    _CARD_COLUMNS,
    board_stage_totals,
    board_window,
    opportunity_board,
    stages_of,
)
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company
from tests.currencies.factories import make_exchange_rate
from tests.opportunities.factories import make_loss_reason, make_opportunity, make_pipeline

pytestmark = pytest.mark.django_db

BOARD = "opportunities:opportunity_board"
# The page frame (session, user, membership, notifications bell, members for the owner
# picker: 5), pipelines and stages (2), custom fields of the filter bar (1), the rates (1),
# one GROUP BY (1), one card query per column with deals (6), the filter bar's teams and
# tags (2), the loss reasons (1): 19, for 6 deals or 60.
BOARD_QUERIES = 19


def _params(**values) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in values.items():
        if isinstance(value, list):
            query.setlist(key, [str(v) for v in value])
        else:
            query[key] = str(value)
    return query


def _stages(org, owner, pipeline=None):
    with tenant_context(org, actor=owner):
        pipeline = pipeline or pipeline_ensure_defaults(org=org, actor=owner)[0]
        return {s.name: s for s in stages_of(pipeline)}


def _deal(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_opportunity(org, owner, **fields)


def _board(org, user, **params):
    with tenant_context(org, actor=user):
        return opportunity_board(user=user, org=org, params=_params(**params))


def _column(board, name):
    return next(c for c in board.columns if c.stage.name == name)


def _move(org, owner, opportunity, stage, **close):
    with tenant_context(org, actor=owner):
        return opportunity_move(opportunity=opportunity, stage=stage, actor=owner, **close)


# --- the selector ---------------------------------------------------------------------------


def test_column_totals_convert_each_currency_and_weigh_by_probability(org, owner):
    stages = _stages(org, owner)
    with tenant_context(org, actor=owner):
        make_exchange_rate(
            org, owner, currency="USD", rate=Decimal("0.5"), valid_from=datetime.date(2020, 1, 1)
        )
    qualification = stages["Qualification"]  # 10 %
    _deal(org, owner, stage=qualification, value=Decimal("1000.00"), currency="EUR")
    _deal(org, owner, stage=qualification, value=Decimal("2000.00"), currency="USD")
    _deal(org, owner, stage=qualification, value=Decimal("300.00"), currency="USD", probability=40)
    _deal(org, owner, stage=stages["Proposal"], value=Decimal("80.00"), currency="EUR")  # 50 %

    board = _board(org, owner)

    column = _column(board, "Qualification")
    assert column.count == 3
    # 1000 EUR + (2000 + 300) USD × 0.5 = 2150 EUR.
    assert column.value_total == Decimal("2150.00")
    # 1000 × 10 % + (2000 × 10 % + 300 × 40 %) × 0.5 = 100 + 160 = 260 EUR.
    assert column.weighted_total == Decimal("260.00")
    assert [(t.currency, t.count, t.value, t.weighted) for t in column.totals] == [
        ("EUR", 1, Decimal("1000.00"), Decimal("100.00")),
        ("USD", 2, Decimal("2300.00"), Decimal("320.00")),
    ]
    usd = column.totals[1]
    assert (usd.rate, usd.rate_date, usd.converted) == (
        Decimal("0.5"),
        datetime.date(2020, 1, 1),
        True,
    )
    proposal = _column(board, "Proposal")
    assert (proposal.count, proposal.value_total, proposal.weighted_total) == (
        1,
        Decimal("80.00"),
        Decimal("40.00"),
    )
    assert [c.count for c in board.columns] == [3, 0, 1, 0, 0, 0]
    assert (board.count, board.value_total, board.weighted_total) == (
        4,
        Decimal("2230.00"),
        Decimal("300.00"),
    )
    assert [(r.currency, r.rate) for r in board.rates] == [("USD", Decimal("0.5"))]


def test_won_and_lost_columns_show_the_current_fiscal_quarter_only(org, owner):
    stages = _stages(org, owner)
    window = board_window(org)
    before = window.start - datetime.timedelta(days=1)
    with tenant_context(org, actor=owner):
        reason = make_loss_reason(org, owner)
    won_first = _deal(
        org, owner, stage=stages["Won"], value=Decimal("100.00"), actual_close_date=window.start
    )
    won_last = _deal(
        org, owner, stage=stages["Won"], value=Decimal("20.00"), actual_close_date=window.end
    )
    _deal(org, owner, stage=stages["Won"], value=Decimal("5000.00"), actual_close_date=before)
    lost = _deal(
        org,
        owner,
        stage=stages["Lost"],
        value=Decimal("7.00"),
        loss_reason=reason,
        actual_close_date=window.start,
    )
    _deal(
        org,
        owner,
        stage=stages["Lost"],
        value=Decimal("900.00"),
        loss_reason=reason,
        actual_close_date=before,
    )

    board = _board(org, owner, sort="close")

    won, lost_column = _column(board, "Won"), _column(board, "Lost")
    # Last quarter's deals are neither counted nor listed; the newest close comes first
    # (whatever the sort of the open columns).
    assert (won.count, won.value_total, won.weighted_total) == (
        2,
        Decimal("120.00"),
        Decimal("120.00"),
    )
    assert [c.pk for c in won.cards] == [won_last.pk, won_first.pk]
    assert (lost_column.count, lost_column.value_total, lost_column.weighted_total) == (
        1,
        Decimal("7.00"),
        Decimal("0.00"),
    )
    assert [c.pk for c in lost_column.cards] == [lost.pk]
    assert won.window == lost_column.window == board.window == window
    assert _column(board, "Proposal").window is None
    assert board.count == 3

    html = web_client(owner, org).get(reverse(BOARD)).content.decode()
    assert f"Won in {window.label}" in html and f"Lost in {window.label}" in html
    assert html.count('data-testid="column-window"') == 2
    assert html.count('data-testid="opportunity-card"') == 3


def test_the_board_window_follows_the_fiscal_year(org):
    org.fiscal_year_start_month = 4
    window = board_window(org, today=datetime.date(2026, 2, 14))
    assert (window.start, window.end) == (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    assert window.label == "Q4 FY 2025/26"
    org.fiscal_year_start_month = 1
    window = board_window(org, today=datetime.date(2026, 12, 31))
    assert (window.start, window.end, window.label) == (
        datetime.date(2026, 10, 1),
        datetime.date(2026, 12, 31),
        "Q4 FY 2026",
    )


def test_cards_are_plain_values_with_their_texts_worked_out(org, owner):
    stages = _stages(org, owner)
    with tenant_context(org, actor=owner):
        company = make_company(org, owner, name="Rila Outdoor")
    deal = _deal(
        org,
        owner,
        name="Tents",
        company=company,
        stage=stages["Proposal"],
        value=Decimal("12500.00"),
        expected_close_date=timezone.localdate() - datetime.timedelta(days=1),
    )
    ago = timezone.now() - datetime.timedelta(days=40, hours=1)
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(
        last_activity_at=ago, stage_changed_at=ago
    )

    (card,) = _column(_board(org, owner), "Proposal").cards

    assert (card.pk, card.name, card.company_name, card.value, card.currency) == (
        deal.pk,
        "Tents",
        "Rila Outdoor",
        Decimal("12500.00"),
        "EUR",
    )
    assert (card.assigned_to_id, card.assigned_to_name, card.assigned_to_initials) == (
        owner.pk,
        "Olivia Owner",
        "OO",
    )
    assert card.owner_label == "Owner: Olivia Owner"
    assert (card.days_in_stage, card.days_text) == (40, "40 days")
    assert (card.is_rotting, card.idle_text, card.overdue) == (True, "Rotting · idle 5 weeks", True)
    assert card.value_text == "12,500.00"
    assert card.url == deal.get_absolute_url()
    assert card.move_url == reverse("opportunities:opportunity_move", args=[deal.pk])


def test_a_currency_without_a_rate_is_counted_but_kept_out_of_the_totals(org, owner):
    stages = _stages(org, owner)
    _deal(org, owner, stage=stages["Proposal"], value=Decimal("100.00"), currency="EUR")
    _deal(org, owner, stage=stages["Proposal"], value=Decimal("700.00"), currency="GBP")

    column = _column(_board(org, owner), "Proposal")

    assert (column.count, column.value_total, column.weighted_total) == (
        2,
        Decimal("100.00"),
        Decimal("50.00"),
    )
    assert [(t.currency, t.value, t.converted) for t in column.unconverted] == [
        ("GBP", Decimal("700.00"), False)
    ]


def test_first_50_cards_newest_first_and_the_rest_counted(org, owner):
    stages = _stages(org, owner)
    deals = [_deal(org, owner, stage=stages["Proposal"]) for _ in range(53)]

    column = _column(_board(org, owner), "Proposal")

    assert column.count == 53
    assert len(column.cards) == 50
    assert column.more == 3
    assert [c.pk for c in column.cards] == [d.pk for d in reversed(deals)][:50]


def test_sort_by_expected_close_date(org, owner):
    stages = _stages(org, owner)
    today = timezone.localdate()
    late = _deal(org, owner, expected_close_date=today + datetime.timedelta(days=40))
    undated = _deal(org, owner, expected_close_date=None)
    soon = _deal(org, owner, expected_close_date=today + datetime.timedelta(days=2))

    column = _column(_board(org, owner, sort="close"), "Qualification")
    assert [c.pk for c in column.cards] == [soon.pk, late.pk, undated.pk]
    newest = _column(_board(org, owner), "Qualification")
    assert [c.pk for c in newest.cards] == [soon.pk, undated.pk, late.pk]
    with pytest.raises(ApplicationError) as refused:
        _board(org, owner, sort="random")
    assert set(refused.value.errors) == {"sort"}
    assert stages  # the default pipeline exists


def test_filters_owner_team_close_dates_tags_and_value(org, owner, rep):
    from pulse.accounts.services import team_create
    from tests.extras.factories import make_tag

    today = timezone.localdate()
    with tenant_context(org, actor=owner):
        team = team_create(org=org, actor=owner, name="Field sales", members=[rep])
        vip = make_tag(org, owner, name="vip")
    mine = _deal(org, owner, value=Decimal("100.00"), expected_close_date=today)
    theirs = _deal(
        org,
        owner,
        assigned_to=rep,
        value=Decimal("5000.00"),
        expected_close_date=today + datetime.timedelta(days=60),
        tags=[vip],
    )

    def names(**params):
        board = _board(org, owner, **params)
        return sorted(c.name for col in board.columns for c in col.cards), board.count

    assert names(assigned_to="me") == ([mine.name], 1)
    assert names(assigned_to=str(rep.pk)) == ([theirs.name], 1)
    assert names(team=str(team.pk)) == ([theirs.name], 1)
    assert names(tags=str(vip.pk)) == ([theirs.name], 1)
    assert names(value_min="1000") == ([theirs.name], 1)
    assert names(value_max="1000") == ([mine.name], 1)
    assert names(close_to=today.isoformat()) == ([mine.name], 1)
    assert names(close_from=(today + datetime.timedelta(days=1)).isoformat()) == ([theirs.name], 1)
    assert names(assigned_to="", tags="") == (sorted([mine.name, theirs.name]), 2)
    with pytest.raises(ApplicationError) as refused:
        _board(org, owner, close_from="31/12/2026", value_min="lots")
    assert set(refused.value.errors) == {"close_from", "value_min"}


def test_pipeline_switch_and_an_unknown_pipeline(org, owner):
    _stages(org, owner)
    with tenant_context(org, actor=owner):
        renewals = make_pipeline(org, owner, name="Renewals")
    renewal = _deal(org, owner, pipeline=renewals)
    _deal(org, owner)

    default = _board(org, owner)
    other = _board(org, owner, pipeline=renewals.pk)

    assert default.pipeline.is_default and default.count == 1
    assert other.pipeline == renewals
    assert other.count == 1
    assert [c.pk for col in other.columns for c in col.cards] == [renewal.pk]
    assert {s.pipeline_id for s in (c.stage for c in other.columns)} == {renewals.pk}
    assert [p.name for p in other.pipelines] == ["New business", "Renewals"]
    with pytest.raises(ApplicationError) as refused:
        _board(org, owner, pipeline="00000000-0000-0000-0000-000000000000")
    assert set(refused.value.errors) == {"pipeline"}


def test_trashed_and_other_organizations_deals_are_not_on_the_board(org, owner, other_org):
    from pulse.opportunities.services import opportunity_delete

    other_owner = make_member(other_org, Role.OWNER)
    _deal(other_org, other_owner, value=Decimal("999.00"))
    gone = _deal(org, owner)
    kept = _deal(org, owner, value=Decimal("10.00"))
    with tenant_context(org, actor=owner):
        opportunity_delete(opportunity=gone, actor=owner)

    board = _board(org, owner)
    assert [c.pk for col in board.columns for c in col.cards] == [kept.pk]
    assert board.value_total == Decimal("10.00")


# SQLite has no INCLUDE indexes nor index-only scans to check; the PostgreSQL run does.
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL query plan (make test-pg)"
)
@pytest.mark.django_db(transaction=True)
def test_totals_and_cards_use_their_indexes_on_postgresql(org, owner, other_org):
    stages = _stages(org, owner)
    for currency in ("EUR", "USD", "EUR"):
        _deal(org, owner, stage=stages["Proposal"], currency=currency)
    other_owner = make_member(other_org, Role.OWNER)
    other_stages = _stages(other_org, other_owner)
    _deal(other_org, other_owner, stage=other_stages["Proposal"])
    table = Opportunity._meta.db_table
    with connection.cursor() as cursor:
        # A plan on a table of three rows says nothing (reading it whole, or any index,
        # costs the same): give the planner a board's shape to plan for. Copies of the
        # deals, spread over every stage of both organizations, some closed, some trashed,
        # then, as autovacuum would, fresh statistics and a visibility map (VACUUM runs
        # outside a transaction: this test commits, and the database is emptied after).
        for organization, its_stages in ((org, stages), (other_org, other_stages)):
            ids = [str(s.pk) for s in its_stages.values()]
            types = [s.type for s in its_stages.values()]
            cursor.execute(
                f"""
                INSERT INTO {table}
                SELECT (jsonb_populate_record(o, jsonb_build_object(
                    'id', gen_random_uuid(),
                    'stage_id', (%(ids)s::uuid[])[1 + n %% %(count)s],
                    'status', (%(types)s::text[])[1 + n %% %(count)s],
                    'actual_close_date', CASE (%(types)s::text[])[1 + n %% %(count)s]
                        WHEN 'open' THEN NULL ELSE current_date - (n %% 700) END,
                    'deleted_at', CASE WHEN n %% 50 = 0 THEN now() END,
                    'created_at', now() - make_interval(mins => n)
                ))).*
                FROM {table} o, generate_series(1, 4000) n
                WHERE o.organization_id = %(org)s
                  AND o.id = (SELECT id FROM {table} WHERE organization_id = %(org)s LIMIT 1)
                """,
                {"ids": ids, "types": types, "count": len(ids), "org": organization.pk},
            )
        cursor.execute(f"VACUUM ANALYZE {table}")
    with tenant_context(org, actor=owner), transaction.atomic(), connection.cursor() as cursor:
        # At this size reading the table whole still wins; forbid that to see what the
        # planner does at scale (SET LOCAL ends with the transaction).
        for setting in ("seqscan", "bitmapscan"):
            cursor.execute(f"SET LOCAL enable_{setting} = off")
        qs = Opportunity.objects.restrict(owner, "view")
        window = board_window(org)
        open_ids = [s.pk for s in stages.values() if s.type == StageType.OPEN]
        closed_ids = [s.pk for s in stages.values() if s.type != StageType.OPEN]
        # The totals group by (stage, currency, probability), which no index orders:
        # what matters is that they read the covering index alone, however they group.
        totals = board_stage_totals(qs, open_ids, [], window).explain()
        # The cards come in index order (an incremental sort settles ties on the key),
        # never from a full sort of a column's deals.
        for setting in ("sort", "hashagg"):
            cursor.execute(f"SET LOCAL enable_{setting} = off")
        # The closed half's rows (the same filter, without the GROUP BY: the grouping is
        # the totals' concern above).
        closed_rows = (
            qs.filter(
                stage_id__in=closed_ids,
                status__in=("won", "lost"),
                actual_close_date__gte=window.start,
                actual_close_date__lte=window.end,
            )
            .order_by()
            .values_list("stage_id", "currency", "value", "probability")
            .explain()
        )
        cards = (
            qs.filter(stage_id=stages["Proposal"].pk)
            .order_by("-created_at", "-pk")
            .values_list(*_CARD_COLUMNS)[:50]
            .explain()
        )
        closed_cards = (
            qs.filter(
                stage_id=stages["Won"].pk,
                status__in=("won", "lost"),
                actual_close_date__gte=window.start,
                actual_close_date__lte=window.end,
            )
            .order_by("-actual_close_date", "-created_at", "-pk")
            .values_list(*_CARD_COLUMNS)[:50]
            .explain()
        )

    # Open columns from the totals index alone; closed ones from a quarter of the
    # closed-deals index (not every deal ever won or lost).
    assert "Index Only Scan using opp_org_stage_totals" in totals, totals
    assert "opp_org_stage_closed" in closed_rows, closed_rows
    assert "opp_org_stage_created" in cards, cards
    assert "opp_org_stage_closed" in closed_cards


# --- the page -------------------------------------------------------------------------------


def test_board_page_shows_columns_totals_and_cards(org, owner):
    stages = _stages(org, owner)
    with tenant_context(org, actor=owner):
        acme = make_company(org, owner, name="Northwind Traders")
        make_exchange_rate(
            org, owner, currency="USD", rate=Decimal("0.9"), valid_from=datetime.date(2025, 1, 1)
        )
    _deal(
        org,
        owner,
        name="Tent fleet",
        company=acme,
        stage=stages["Proposal"],
        value=Decimal("12500.00"),
        currency="USD",
        expected_close_date=datetime.date(2031, 3, 15),
    )
    client = web_client(owner, org)

    response = client.get(reverse(BOARD))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="board-column"') == 6
    card = re.search(r'<article[^>]*data-testid="opportunity-card".*?</article>', html, re.S)[0]
    assert "Tent fleet" in card and "Northwind Traders" in card
    assert "12,500.00" in card and "USD" in card
    assert "OO" in card  # Olivia Owner's initials
    assert "0 days" in card
    assert 'data-testid="rotting-flag"' not in card
    proposal = html.split(f'data-stage="{stages["Proposal"].pk}"')[1].split("</header>")[0]
    assert "11,250.00 EUR" in proposal  # 12,500 USD × 0.9
    assert "Weighted 5,625.00 EUR" in proposal  # × 50 %
    assert "1 USD = 0.9 EUR" in html
    assert reverse("opportunities:opportunity_list") in html
    assert 'data-testid="pipeline-switcher"' in html
    # The won and lost dialogs, with the organization's loss reasons.
    assert 'id="won-modal"' in html and 'id="lost-modal"' in html
    assert "Price too high" in html


def test_more_link_goes_to_the_list_filtered_by_stage(org, owner):
    stages = _stages(org, owner)
    for _ in range(52):
        _deal(org, owner, stage=stages["Negotiation"], value=Decimal("1.00"))

    response = web_client(owner, org).get(reverse(BOARD), {"value_max": "5"})

    html = response.content.decode()
    assert html.count('data-testid="opportunity-card"') == 50
    more = re.search(r'<a href="([^"]+)" data-testid="column-more">\s*2 more', html)
    assert more, html
    list_url = reverse("opportunities:opportunity_list")
    assert more[1] == f"{list_url}?stage={stages['Negotiation'].pk}&amp;value_max=5"


def test_rotting_flag_on_idle_open_deals_only(org, owner):
    stages = _stages(org, owner)  # Proposal rots after 10 days; Won never
    idle = _deal(org, owner, name="Idle deal", stage=stages["Proposal"])
    fresh = _deal(org, owner, name="Fresh deal", stage=stages["Proposal"])
    won = _deal(
        org,
        owner,
        name="Won deal",
        stage=stages["Won"],
        actual_close_date=timezone.localdate(),
    )
    long_ago = timezone.now() - datetime.timedelta(days=11, hours=1)
    # Time travel: the deals were last touched eleven days ago.
    Opportunity.objects.unscoped().filter(pk__in=[idle.pk, won.pk]).update(
        last_activity_at=long_ago, stage_changed_at=long_ago
    )

    html = web_client(owner, org).get(reverse(BOARD)).content.decode()

    cards = {
        pk: card
        for card, pk in re.findall(
            r'(<article[^>]*data-id="([0-9a-f-]+)".*?</article>)', html, re.S
        )
    }
    assert 'data-testid="rotting-flag"' in cards[str(idle.pk)]
    assert "Rotting · idle 11 days" in cards[str(idle.pk)]
    assert re.search(r'data-testid="days-in-stage">.*11 days</span>', cards[str(idle.pk)])
    assert 'data-testid="rotting-flag"' not in cards[str(fresh.pk)]
    assert 'data-testid="rotting-flag"' not in cards[str(won.pk)]
    assert "is-rotting" not in cards[str(fresh.pk)]


def test_bad_filters_are_said_and_the_whole_pipeline_shown(org, owner):
    _deal(org, owner, name="Still here")
    client = web_client(owner, org)

    response = client.get(reverse(BOARD), {"close_from": "tomorrow"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="board-errors"' in html
    assert "Enter a valid date." in html
    assert "Still here" in html
    # An htmx request gets the columns only, without the page around them.
    assert "<html" not in html and 'id="board-filters"' not in html


def test_board_page_query_count_does_not_grow_with_deals(
    org, owner, rep, django_assert_max_num_queries
):
    stages = list(_stages(org, owner).values())
    client = web_client(owner, org)

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
                currency=("EUR", "USD", "BGN")[i % 3],
                assigned_to=rep if i % 2 else owner,
                **close,
            )

    spread(6)
    client.get(reverse(BOARD))  # warm caches
    with django_assert_max_num_queries(BOARD_QUERIES):
        small = client.get(reverse(BOARD))
    spread(54)
    with django_assert_max_num_queries(BOARD_QUERIES):
        big = client.get(reverse(BOARD))
    with django_assert_max_num_queries(BOARD_QUERIES):
        filtered = client.get(reverse(BOARD), {"assigned_to": str(rep.pk), "value_min": "1"})

    assert small.content.count(b'data-testid="opportunity-card"') == 6
    assert big.content.count(b'data-testid="opportunity-card"') == 60
    assert filtered.content.count(b'data-testid="opportunity-card"') == 30


# --- moving a card: POST opportunities:opportunity_move -----------------------------------


def _post_move(client, opportunity, **data):
    return client.post(
        reverse("opportunities:opportunity_move", args=[opportunity.pk]),
        {k: str(v) for k, v in data.items()},
        HTTP_ACCEPT="application/json",
    )


def _reread(opportunity):
    return Opportunity.objects.unscoped().select_related("stage").get(pk=opportunity.pk)


def _history(opportunity):
    return list(
        OpportunityStageChange.objects.unscoped()
        .filter(opportunity=opportunity)
        .order_by("changed_at")
        .values_list("from_stage__name", "to_stage__name")
    )


def test_drop_moves_the_deal_and_records_it(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    client = web_client(owner, org)

    response = _post_move(client, deal, stage=stages["Proposal"].pk, version=deal.version)

    assert response.status_code == 200, response.content
    deal_now = _reread(deal)
    assert response.json() == {
        "ok": True,
        "id": str(deal.pk),
        "stage": str(stages["Proposal"].pk),
        "stage_name": "Proposal",
        "status": "open",
        "version": deal_now.version,
    }
    assert deal_now.stage.name == "Proposal"
    assert deal_now.probability == 50
    assert deal_now.version == deal.version + 1
    assert _history(deal) == [(None, "Qualification"), ("Qualification", "Proposal")]


def test_won_without_a_close_date_is_refused_and_nothing_changes(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    client = web_client(owner, org)

    response = _post_move(client, deal, stage=stages["Won"].pk, version=deal.version)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"actual_close_date": ["A won deal needs the date it closed."]}
    }
    unchanged = _reread(deal)
    assert (unchanged.stage_id, unchanged.status, unchanged.version) == (
        deal.stage_id,
        "open",
        deal.version,
    )
    assert _history(deal) == [(None, "Qualification")]

    closed = _post_move(
        client,
        deal,
        stage=stages["Won"].pk,
        version=deal.version,
        actual_close_date="2026-03-31",
        notes="Signed at the trade fair",
    )
    assert closed.status_code == 200, closed.content
    won = _reread(deal)
    assert (won.status, won.actual_close_date, won.probability, won.forecast_category) == (
        "won",
        datetime.date(2026, 3, 31),
        100,
        "closed",
    )
    change = OpportunityStageChange.objects.unscoped().filter(opportunity=deal).first()
    assert (change.to_stage.name, change.notes) == ("Won", "Signed at the trade fair")


def test_a_date_that_is_not_a_date_is_refused(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)

    response = _post_move(
        web_client(owner, org), deal, stage=stages["Won"].pk, actual_close_date="yesterday"
    )

    assert response.status_code == 400
    assert response.json() == {"errors": {"actual_close_date": ["Enter a valid date."]}}
    assert _reread(deal).status == "open"


def test_lost_needs_a_reason_and_keeps_the_competitor(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    client = web_client(owner, org)
    with tenant_context(org, actor=owner):
        reason = make_loss_reason(org, owner, name="Went with a cheaper tool")
        retired = make_loss_reason(org, owner, name="Retired reason", active=False)

    missing = _post_move(client, deal, stage=stages["Lost"].pk, competitor="Globex")
    assert missing.status_code == 400
    assert missing.json() == {"errors": {"loss_reason": ["Say why this deal was lost."]}}
    inactive = _post_move(client, deal, stage=stages["Lost"].pk, loss_reason=retired.pk)
    assert inactive.status_code == 400
    assert set(inactive.json()["errors"]) == {"loss_reason"}
    assert _reread(deal).status == "open"

    lost = _post_move(
        client, deal, stage=stages["Lost"].pk, loss_reason=reason.pk, competitor=" Globex "
    )
    assert lost.status_code == 200, lost.content
    deal_now = _reread(deal)
    assert (deal_now.status, deal_now.loss_reason_id, deal_now.competitor) == (
        "lost",
        reason.pk,
        "Globex",
    )
    assert deal_now.actual_close_date == timezone.localdate()


def test_a_stage_of_another_pipeline_is_refused(org, owner):
    _stages(org, owner)
    with tenant_context(org, actor=owner):
        renewals = make_pipeline(org, owner, name="Renewals")
    other_stage = _stages(org, owner, renewals)["Proposal"]
    deal = _deal(org, owner)

    response = _post_move(web_client(owner, org), deal, stage=other_stage.pk)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "stage": ["“Proposal” is a stage of another pipeline; this deal is in “New business”."]
        }
    }
    assert _reread(deal).stage_id == deal.stage_id


def test_another_organizations_stage_or_deal_is_not_found(org, owner, other_org):
    other_owner = make_member(other_org, Role.OWNER)
    foreign_stage = _stages(other_org, other_owner)["Proposal"]
    foreign_deal = _deal(other_org, other_owner)
    deal = _deal(org, owner)
    client = web_client(owner, org)

    stage_refused = _post_move(client, deal, stage=foreign_stage.pk)
    assert stage_refused.status_code == 400
    assert stage_refused.json() == {"errors": {"stage": ["This stage does not exist (any more)."]}}
    deal_refused = _post_move(client, foreign_deal, stage=_stages(org, owner)["Proposal"].pk)
    assert deal_refused.status_code == 404
    assert _reread(foreign_deal).stage_id == foreign_deal.stage_id


def test_two_people_dragging_the_same_card_the_second_gets_a_conflict(org, owner, rep):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    seen_version = deal.version

    first = _post_move(
        web_client(owner, org), deal, stage=stages["Proposal"].pk, version=seen_version
    )
    second = _post_move(
        web_client(rep, org), deal, stage=stages["Negotiation"].pk, version=seen_version
    )

    assert first.status_code == 200
    assert second.status_code == 400
    message = second.json()["errors"]["version"][0]
    assert message.startswith("Someone else moved or changed this deal since you opened the board.")
    deal_now = _reread(deal)
    assert deal_now.stage.name == "Proposal"
    assert deal_now.version == seen_version + 1
    assert _history(deal) == [(None, "Qualification"), ("Qualification", "Proposal")]


def test_a_read_only_member_cannot_move_and_is_told_why(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner)
    viewer = make_member(org, Role.READ_ONLY, full_name="Vera Viewer")
    client = web_client(viewer, org)

    board = client.get(reverse(BOARD))
    refused = _post_move(client, deal, stage=stages["Proposal"].pk)

    assert board.status_code == 200
    assert b'data-can-edit="0"' in board.content and b'data-can-edit="1"' not in board.content
    assert refused.status_code == 403
    assert refused.json() == {"errors": {"__all__": ["Your role does not allow moving deals."]}}
    assert _reread(deal).stage_id == deal.stage_id


def test_a_form_post_moves_and_goes_back_with_a_message(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner, name="Boots")
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_move", args=[deal.pk])

    moved = client.post(url, {"stage": stages["Proposal"].pk, "next": "/opportunities/board/"})
    refused = client.post(url, {"stage": stages["Won"].pk}, follow=True)

    assert moved.status_code == 302 and moved["Location"] == "/opportunities/board/"
    assert _reread(deal).stage.name == "Proposal"
    assert refused.redirect_chain[0][0] == deal.get_absolute_url()
    assert "A won deal needs the date it closed." in refused.content.decode()
    assert _reread(deal).stage.name == "Proposal"


def test_moving_updates_the_column_counts_and_totals(org, owner):
    stages = _stages(org, owner)
    deal = _deal(org, owner, value=Decimal("400.00"))
    _move(org, owner, deal, stages["Negotiation"])

    board = _board(org, owner)

    assert (_column(board, "Qualification").count, _column(board, "Negotiation").count) == (0, 1)
    assert _column(board, "Negotiation").weighted_total == Decimal("300.00")


def test_more_link_of_a_closed_column_keeps_its_quarter(org, owner):
    stages = _stages(org, owner)
    window = board_window(org)
    for _ in range(51):
        deal = _deal(org, owner, stage=stages["Proposal"], value=Decimal("1.00"))
        _move(org, owner, deal, stages["Won"], actual_close_date=window.start)
    # Won in an earlier quarter: not in the column, and not behind its "more" link either.
    old = _deal(org, owner, stage=stages["Proposal"], value=Decimal("1.00"))
    _move(
        org, owner, old, stages["Won"], actual_close_date=window.start - datetime.timedelta(days=1)
    )

    html = web_client(owner, org).get(reverse(BOARD)).content.decode()
    more = re.search(r'<a href="([^"]+)" data-testid="column-more">\s*1 more', html)
    assert more, html
    url = more[1].replace("&amp;", "&")
    assert f"closed_from={window.start.isoformat()}" in url
    assert f"closed_to={window.end.isoformat()}" in url
    # The same filters on the API list: the quarter's 51 won deals, not the older one.
    query = url.split("?", 1)[1]
    api = web_client(owner, org).get(f"/api/crm/opportunities/?{query}&page_size=200").json()
    ids = {row["id"] for row in api["results"]}
    assert len(ids) == 51 and str(old.pk) not in ids
