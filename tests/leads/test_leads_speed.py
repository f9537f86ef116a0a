"""Leads at scale (issue 4, helper G): the pipeline's totals query, its index, the cards,
the list's tags, and query counts that do not grow with the number of leads.

The timings themselves are measured by ``python -m bench --only lead`` on 200,000 leads;
these tests pin what makes them possible.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from pulse.leads.models import Lead
from pulse.leads.selectors import lead_pipeline, stage_totals
from pulse.leads.services import lead_delete, lead_move_stage
from tests.contacts.factories import make_contact
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db

STAGES = ("new", "contacted", "qualified", "unqualified", "converted")
# Token/session, membership, stages, one GROUP BY, one card query per stage (5), band
# thresholds, plus the request's own frame; the same for 5 leads or 40.
API_PIPELINE_QUERIES = 10
# The page frame (session, user, membership, bell, switcher, session save in a
# savepoint: 3), stages, GROUP BY, five card queries, thresholds, owners for the filter.
BOARD_QUERIES = 17


def _lead(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_lead(org, owner, **fields)


def _spread(org, owner, rep, n: int) -> list[Lead]:
    """``n`` leads over every stage, in two currencies, some without a value."""
    leads = []
    with tenant_context(org, actor=owner):
        for i in range(n):
            value = None if i % 4 == 3 else Decimal(f"{10 * i}.25")
            lead = make_lead(
                org,
                owner,
                value=value,
                currency=("EUR" if i % 2 else "USD") if value is not None else "",
                assigned_to=rep if i % 3 == 0 else owner,
            )
            stage = STAGES[i % len(STAGES)]
            if stage != "new":
                lead = lead_move_stage(lead=lead, stage=stage, actor=owner, reason="No budget")
            leads.append(lead)
    return leads


def _expected(leads: list[Lead], default_currency: str) -> dict:
    out: dict = {key: {"count": 0, "totals": {}} for key in STAGES}
    for lead in leads:
        column = out[lead.stage.key]
        column["count"] += 1
        if lead.value is not None:
            currency = lead.currency or default_currency
            column["totals"][currency] = column["totals"].get(currency, Decimal(0)) + lead.value
    return out


# --- totals -----------------------------------------------------------------------------


def test_pipeline_totals_are_exact_per_stage_and_currency(org, owner, rep):
    leads = _spread(org, owner, rep, 23)
    with tenant_context(org, actor=owner):
        gone = leads.pop()
        lead_delete(lead=gone, actor=owner)  # trashed leads are not counted

    body = api_client(owner, org).get("/api/crm/leads/pipeline/").json()

    expected = _expected(leads, org.default_currency)
    assert body["count"] == 22
    for stage in body["stages"]:
        want = expected[stage["key"]]
        assert stage["count"] == want["count"]
        assert stage["totals"] == [
            {"currency": c, "value": f"{v:.2f}"} for c, v in sorted(want["totals"].items())
        ]
        assert stage["more"] == max(0, want["count"] - 20)


def test_pipeline_totals_follow_filters(org, owner, rep):
    leads = _spread(org, owner, rep, 15)

    body = api_client(owner, org).get("/api/crm/leads/pipeline/", {"assigned_to": "me"}).json()

    mine = [lead for lead in leads if lead.assigned_to_id == owner.pk]
    expected = _expected(mine, org.default_currency)
    assert body["count"] == len(mine) == 10
    assert {s["key"]: s["count"] for s in body["stages"]} == {
        key: column["count"] for key, column in expected.items()
    }


def test_pipeline_totals_read_only_what_the_index_holds(org, owner):
    # lead_org_stage_totals: (organization, stage, currency) INCLUDE (value) WHERE
    # deleted_at IS NULL. A column outside it (``COUNT(id)``…) sends PostgreSQL back to
    # the table: ~9,400 pages instead of ~1,600 at 200,000 leads.
    with tenant_context(org, actor=owner):
        sql = str(stage_totals(Lead.objects.restrict(owner, "view")).query)

    columns = set(re.findall(r'"leads_lead"\."(\w+)"', sql))
    assert columns == {"organization_id", "deleted_at", "stage_id", "currency", "value"}


# SQLite has no INCLUDE indexes nor index-only scans to check; CI's PostgreSQL run does.
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL query plan (CI's make test-pg)"
)
def test_pipeline_totals_use_the_covering_index_on_postgresql(org, owner, rep):
    _spread(org, owner, rep, 5)
    with tenant_context(org, actor=owner), connection.cursor() as cursor:
        # Tiny test tables are cheapest to read whole and to sort; forbid that to see
        # what the planner does at scale (SET LOCAL ends with the test's transaction).
        for setting in ("seqscan", "bitmapscan", "sort", "hashagg"):
            cursor.execute(f"SET LOCAL enable_{setting} = off")
        plan = stage_totals(Lead.objects.restrict(owner, "view")).explain()

    assert "Index Only Scan using lead_org_stage_totals" in plan


# --- cards ------------------------------------------------------------------------------


def test_cards_are_the_newest_per_stage_with_names_from_contacts(org, owner, rep):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Grace", last_name="Hopper")
        known = make_lead(org, owner, email=contact.email, first_name="", last_name="")
        newer = make_lead(org, owner, title="Newest", company_name="Navy")
        pipeline = lead_pipeline(user=owner, org=org, cards=2)

    new = pipeline.columns[0]
    assert new.stage.key == "new"
    assert [lead.pk for lead in new.cards] == [newer.pk, known.pk]
    assert new.cards[1].full_name == "Grace Hopper"
    assert (new.cards[0].company_name, new.cards[0].assigned_to) == ("Navy", owner)


def test_board_cards_do_not_query_per_card(org, owner, rep, django_assert_max_num_queries):
    client = web_client(owner, org)
    _spread(org, owner, rep, 5)
    client.get(reverse("leads:lead_board"))  # warm caches
    with django_assert_max_num_queries(BOARD_QUERIES):
        small = client.get(reverse("leads:lead_board"))
    _spread(org, owner, rep, 40)
    with django_assert_max_num_queries(BOARD_QUERIES):
        big = client.get(reverse("leads:lead_board"))

    assert small.content.count(b'data-testid="lead-card"') == 5
    assert big.content.count(b'data-testid="lead-card"') == 45
    # The owner filter still offers "me", "unassigned" and the members.
    assert b'<option value="unassigned"' in big.content
    assert f'<option value="{rep.pk}"'.encode() in big.content


def test_pipeline_api_queries_do_not_grow(org, owner, rep, django_assert_max_num_queries):
    api = api_client(owner, org)
    _spread(org, owner, rep, 5)
    api.get("/api/crm/leads/pipeline/")
    with django_assert_max_num_queries(API_PIPELINE_QUERIES):
        small = api.get("/api/crm/leads/pipeline/").json()
    _spread(org, owner, rep, 40)
    with django_assert_max_num_queries(API_PIPELINE_QUERIES):
        big = api.get("/api/crm/leads/pipeline/").json()

    assert [len(s["leads"]) for s in small["stages"]] == [1, 1, 1, 1, 1]
    assert [len(s["leads"]) for s in big["stages"]] == [9, 9, 9, 9, 9]
    card = big["stages"][0]["leads"][0]
    assert set(card) == {
        "id",
        "title",
        "full_name",
        "company_name",
        "value",
        "currency",
        "score",
        "band",
        "assigned_to",
        "created_at",
    }


def test_pipeline_date_range_alone_still_filters(org, owner, rep):
    _spread(org, owner, rep, 5)
    body = (
        api_client(owner, org)
        .get("/api/crm/leads/pipeline/", {"date_from": "2000-01-01", "date_to": "2000-12-31"})
        .json()
    )
    assert body["count"] == 0


# --- the list's tags ----------------------------------------------------------------------


def test_api_list_shows_tags_and_a_change_answers_the_new_tags(org, owner):
    from pulse.extras.services import tag_create

    with tenant_context(org, actor=owner):
        red = tag_create(org=org, actor=owner, name="Red")
        blue = tag_create(org=org, actor=owner, name="Blue")
        lead = make_lead(org, owner, tags=[red])
        _plain = make_lead(org, owner)
    api = api_client(owner, org)

    rows = {r["id"]: r for r in api.get("/api/crm/leads/").json()["results"]}
    assert rows[str(lead.pk)]["tags"] == [str(red.pk)]
    assert rows[str(_plain.pk)]["tags"] == []

    changed = api.patch(f"/api/crm/leads/{lead.pk}/", {"tags": [str(blue.pk)]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["tags"] == [str(blue.pk)]
    rows = {r["id"]: r for r in api.get("/api/crm/leads/").json()["results"]}
    assert rows[str(lead.pk)]["tags"] == [str(blue.pk)]


def test_list_page_bulk_bar_offers_the_stages(org, owner):
    _lead(org, owner)
    page = web_client(owner, org).get(reverse("leads:lead_list")).content.decode()
    bulk = page[page.index('name="lifecycle_stage"') :]
    bulk = bulk[: bulk.index("</select>")]
    for key in STAGES:
        assert f'value="{key}"' in bulk
