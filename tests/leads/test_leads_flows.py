"""Leads: stage moves, the pipeline, the stage endpoint, board, settings, quick create,
bulk actions, inline edit, search, escaping and pinned query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from pulse.leads.models import Lead, LeadStage, LeadStageChange
from pulse.leads.selectors import date_range_bounds
from pulse.leads.services import (
    lead_move_stage,
    lead_settings,
    leadstage_create,
    leadstage_delete,
    leadstage_ensure_defaults,
    leadstage_reorder,
)
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"


def _lead(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_lead(org, owner, **fields)


# --- services ---------------------------------------------------------------------------


def test_move_records_history_with_notes(in_org, owner):
    lead = make_lead(in_org, owner, title="Acme")

    lead = lead_move_stage(lead=lead, stage="contacted", actor=owner, notes="Called Ada")

    assert lead.stage.key == "contacted"
    change = LeadStageChange.objects.filter(lead=lead).first()
    assert (change.from_stage.key, change.to_stage.key, change.notes) == (
        "new",
        "contacted",
        "Called Ada",
    )
    assert change.changed_by == owner


def test_move_to_unqualified_without_reason_is_refused_and_changes_nothing(in_org, owner):
    lead = make_lead(in_org, owner)

    with pytest.raises(ApplicationError) as exc:
        lead_move_stage(lead=lead, stage="unqualified", actor=owner)

    assert "reason" in exc.value.errors
    lead.refresh_from_db()
    assert lead.stage.key == "new"
    assert LeadStageChange.objects.filter(lead=lead).count() == 1


def test_move_to_unknown_stage_is_refused_and_changes_nothing(in_org, owner):
    lead = make_lead(in_org, owner)
    version = lead.version

    with pytest.raises(ApplicationError) as exc:
        lead_move_stage(lead=lead, stage="nowhere", actor=owner)

    assert "stage" in exc.value.errors
    lead.refresh_from_db()
    assert (lead.stage.key, lead.version) == ("new", version)


def test_converted_lead_refuses_move(in_org, owner):
    lead = make_lead(in_org, owner)
    Lead.objects.filter(pk=lead.pk).update(converted_at=timezone.now())
    lead.refresh_from_db()

    with pytest.raises(ApplicationError):
        lead_move_stage(lead=lead, stage="contacted", actor=owner)

    lead.refresh_from_db()
    assert lead.stage.key == "new"


def test_stage_in_use_cannot_be_deleted(in_org, owner):
    lead = make_lead(in_org, owner)

    with pytest.raises(ApplicationError):
        leadstage_delete(stage=lead.stage, actor=owner)

    assert LeadStage.objects.filter(pk=lead.stage_id).exists()


def test_stage_create_and_reorder(in_org, owner):
    leadstage_ensure_defaults(org=in_org, actor=owner)
    stage = leadstage_create(org=in_org, actor=owner, name="Nurture Me")
    assert stage.key == "nurture-me"
    keys = ["nurture-me", "new", "contacted", "qualified", "unqualified", "converted"]

    leadstage_reorder(org=in_org, actor=owner, keys=keys)

    assert [s.key for s in LeadStage.objects.order_by("position")] == keys
    with pytest.raises(ApplicationError):
        leadstage_reorder(org=in_org, actor=owner, keys=keys[:2])


# --- date ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("today", "2025-05-14", "2025-05-14"),
        ("this_week", "2025-05-12", "2025-05-18"),
        ("this_month", "2025-05-01", "2025-05-31"),
        ("this_quarter", "2025-04-01", "2025-06-30"),
        ("last_30_days", "2025-04-15", "2025-05-14"),
    ],
)
def test_date_ranges(org, name, first, last):
    now = datetime.datetime(2025, 5, 14, 12, tzinfo=datetime.UTC)
    start, end = date_range_bounds(org=org, date_range=name, now=now)
    assert start.date().isoformat() == first
    assert (end - datetime.timedelta(days=1)).date().isoformat() == last


def test_fiscal_quarter_follows_fiscal_year(org):
    org.fiscal_year_start_month = 2
    now = datetime.datetime(2025, 1, 10, 12, tzinfo=datetime.UTC)
    start, end = date_range_bounds(org=org, date_range="this_quarter", now=now)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-11-01", "2025-02-01")


def test_bad_date_range_is_a_field_error(org):
    with pytest.raises(ApplicationError) as exc:
        date_range_bounds(org=org, date_range="someday", date_from="tomorrow")
    assert set(exc.value.errors) == {"date_range", "date_from"}


# --- pipeline API ---------------------------------------------------------------------------


def test_pipeline_groups_counts_and_totals(org, owner, rep):
    a = _lead(org, owner, value=Decimal("100.50"), currency="EUR")
    _lead(org, owner, value=Decimal("200"), currency="EUR")
    _lead(org, owner, value=Decimal("50"), currency="USD", assigned_to=rep)
    with tenant_context(org, actor=owner):
        lead_move_stage(lead=a, stage="qualified", actor=owner)

    response = api_client(owner, org).get("/api/crm/leads/pipeline/")

    assert response.status_code == 200
    body = response.json()
    stages = {s["key"]: s for s in body["stages"]}
    assert [s["key"] for s in body["stages"]] == [
        "new",
        "contacted",
        "qualified",
        "unqualified",
        "converted",
    ]
    assert stages["new"]["count"] == 2
    assert stages["new"]["value_total"] == "200.00"
    assert stages["new"]["totals"] == [
        {"currency": "EUR", "value": "200.00"},
        {"currency": "USD", "value": "50.00"},
    ]
    assert stages["qualified"]["count"] == 1
    assert stages["qualified"]["leads"][0]["title"] == a.title
    assert body["count"] == 3

    mine = api_client(owner, org).get("/api/crm/leads/pipeline/", {"assigned_to": "me"}).json()
    assert mine["count"] == 2
    theirs = (
        api_client(owner, org)
        .get("/api/crm/leads/pipeline/", {"assigned_to": str(rep.pk), "stage": "new"})
        .json()
    )
    assert [s["key"] for s in theirs["stages"]] == ["new"]
    assert theirs["count"] == 1


@pytest.mark.parametrize(
    "name", ["today", "this_week", "this_month", "this_quarter", "last_30_days"]
)
def test_pipeline_date_ranges(org, owner, name):
    fresh = _lead(org, owner)
    old = _lead(org, owner)
    Lead.objects.unscoped().filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=400)
    )

    body = api_client(owner, org).get("/api/crm/leads/pipeline/", {"date_range": name}).json()

    ids = [c["id"] for s in body["stages"] for c in s["leads"]]
    assert ids == [str(fresh.pk)]


def test_pipeline_explicit_dates_and_bad_range(org, owner):
    _lead(org, owner)
    today = timezone.localdate().isoformat()
    ok = api_client(owner, org).get(
        "/api/crm/leads/pipeline/", {"date_from": today, "date_to": today}
    )
    assert ok.json()["count"] == 1
    bad = api_client(owner, org).get("/api/crm/leads/pipeline/", {"date_range": "someday"})
    assert bad.status_code == 400
    assert "date_range" in bad.json()["errors"]
    bad_date = api_client(owner, org).get("/api/crm/leads/pipeline/", {"date_from": "31/12"})
    assert bad_date.status_code == 400


def test_pipeline_cards_are_bounded(org, owner):
    for _ in range(4):
        _lead(org, owner)
    body = api_client(owner, org).get("/api/crm/leads/pipeline/", {"cards": "2"}).json()
    new = body["stages"][0]
    assert (new["count"], len(new["leads"]), new["more"]) == (4, 2, 2)


# --- stage endpoint ---------------------------------------------------------------------------


def test_stage_endpoint_moves_with_notes(org, owner):
    lead = _lead(org, owner)
    response = api_client(owner, org).put(
        f"/api/crm/leads/{lead.pk}/stage/",
        {"stage": "unqualified", "notes": "No budget", "reason": "Budget"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["stage"] == "unqualified"
    with tenant_context(org, actor=owner):
        change = LeadStageChange.objects.filter(lead=lead).first()
    assert (change.notes, change.reason) == ("No budget", "Budget")


def test_stage_endpoint_unknown_stage_is_400_and_changes_nothing(org, owner):
    lead = _lead(org, owner)
    response = api_client(owner, org).put(
        f"/api/crm/leads/{lead.pk}/stage/", {"stage": "nowhere"}, format="json"
    )
    assert response.status_code == 400
    assert "stage" in response.json()["errors"]
    assert Lead.objects.unscoped().get(pk=lead.pk).version == lead.version


def test_stage_endpoint_of_other_organization_is_404(org, owner, other_org, other_owner):
    lead = _lead(org, owner)
    response = api_client(other_owner, other_org).put(
        f"/api/crm/leads/{lead.pk}/stage/", {"stage": "contacted"}, format="json"
    )
    assert response.status_code == 404


def test_api_create_with_stage_key_and_band(org, owner):
    response = api_client(owner, org).post(
        "/api/crm/leads/",
        {"title": "Deal", "stage": "qualified", "value": "10.5", "email": "x@y.io"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["stage"], body["stage_name"], body["value"], body["currency"]) == (
        "qualified",
        "Qualified",
        "10.50",
        "EUR",
    )
    assert body["band"] == "cold" and body["source"] == "api"
    bad = api_client(owner, org).post(
        "/api/crm/leads/", {"title": "X", "stage": "nowhere"}, format="json"
    )
    assert bad.status_code == 400 and "stage" in bad.json()["errors"]


def test_lead_settings_api(org, owner):
    client = api_client(owner, org)
    assert client.get("/api/crm/lead-settings/").json()["hot_threshold"] == 70
    response = client.patch("/api/crm/lead-settings/current/", {"hot_threshold": 80}, format="json")
    assert response.status_code == 200 and response.json()["hot_threshold"] == 80
    bad = client.patch("/api/crm/lead-settings/current/", {"warm_threshold": 90}, format="json")
    assert bad.status_code == 400 and "warm_threshold" in bad.json()["errors"]
    assert client.get("/api/crm/lead-settings/current/").json()["hot_threshold"] == 80


def test_lead_stage_order_api(org, owner):
    client = api_client(owner, org)
    keys = ["contacted", "new", "qualified", "unqualified", "converted"]
    response = client.post("/api/crm/lead-stages/order/", {"keys": keys}, format="json")
    assert response.status_code == 200
    assert [s["key"] for s in response.json()] == keys


# --- pages ----------------------------------------------------------------------------------


def test_board_shows_columns_counts_and_bands(org, owner):
    with tenant_context(org, actor=owner):
        lead = make_lead(org, owner, title=XSS, value=Decimal("1000"))
        Lead.objects.filter(pk=lead.pk).update(score=90)
    response = web_client(owner, org).get(reverse("leads:lead_board"))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.count('data-testid="board-column"') == 5
    assert 'data-band="hot"' in content
    assert "1,000.00 EUR" in content or "1000.00 EUR" in content
    assert XSS not in content and "&lt;script&gt;" in content
    partial = web_client(owner, org).get(
        reverse("leads:lead_board"), {"date_range": "nope"}, HTTP_HX_REQUEST="true"
    )
    assert partial.status_code == 200 and 'data-testid="board-errors"' in partial.content.decode()


def test_list_and_detail_escape_script(org, owner):
    lead = _lead(org, owner, title=XSS, company_name=XSS)
    client = web_client(owner, org)
    for url in (reverse("leads:lead_list"), reverse("leads:lead_detail", args=[lead.pk])):
        content = client.get(url).content.decode()
        assert XSS not in content, url
        assert "&lt;script&gt;" in content, url


def test_list_filters_by_band_and_sorts_by_score(org, owner):
    low = _lead(org, owner, title="Low")
    high = _lead(org, owner, title="High")
    Lead.objects.unscoped().filter(pk=high.pk).update(score=95)
    client = web_client(owner, org)
    hot = client.get(reverse("leads:lead_list"), {"band": "hot"})
    assert [r.pk for r in hot.context["object_list"]] == [high.pk]
    ordered = client.get(reverse("leads:lead_list"), {"ordering": "-score"})
    assert [r.pk for r in ordered.context["object_list"]] == [high.pk, low.pk]
    api = api_client(owner, org).get("/api/crm/leads/", {"ordering": "score"}).json()
    assert [r["id"] for r in api["results"]] == [str(low.pk), str(high.pk)]


def test_list_filters_by_tag(org, owner):
    from pulse.extras.services import tag_create

    with tenant_context(org, actor=owner):
        tag = tag_create(org=org, actor=owner, name="VIP")
        tagged = make_lead(org, owner, tags=[tag])
        make_lead(org, owner)
    response = web_client(owner, org).get(reverse("leads:lead_list"), {"tags": str(tag.pk)})
    assert [r.pk for r in response.context["object_list"]] == [tagged.pk]


def test_detail_timeline_shows_stage_move_notes(org, owner):
    lead = _lead(org, owner)
    client = web_client(owner, org)
    response = client.post(
        reverse("leads:lead_move", args=[lead.pk]),
        {"stage": "unqualified", "reason": "Chose a competitor", "notes": "Sad <b>news</b>"},
    )
    assert response.status_code == 302
    content = client.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert "Chose a competitor" in content
    assert "Sad &lt;b&gt;news&lt;/b&gt;" in content


def test_move_view_answers_json_for_the_board(org, owner):
    lead = _lead(org, owner)
    client = web_client(owner, org)
    url = reverse("leads:lead_move", args=[lead.pk])
    refused = client.post(url, {"stage": "unqualified"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    moved = client.post(url, {"stage": "contacted"}, HTTP_ACCEPT="application/json")
    assert moved.status_code == 200 and moved.json()["stage"] == "contacted"


def test_quick_create(org, owner):
    client = web_client(owner, org)
    url = reverse("leads:lead_quick_create")
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    response = client.post(url, {"title": "Quick one", "email": "q@x.io"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "pulse:quickCreated" in response["HX-Trigger"]
    assert Lead.objects.unscoped().filter(organization=org, title="Quick one").exists()
    invalid = client.post(url, {"title": ""})
    assert invalid.status_code == 400


def test_bulk_move_and_assign(org, owner, rep):
    a = _lead(org, owner)
    b = _lead(org, owner)
    client = web_client(owner, org)
    url = reverse("leads:lead_bulk")
    client.post(url, {"action": "stage", "lifecycle_stage": "contacted", "ids": [a.pk, b.pk]})
    client.post(url, {"action": "assign", "assigned_to": rep.pk, "ids": [a.pk]})
    rows = {r.pk: r for r in Lead.objects.unscoped().filter(pk__in=[a.pk, b.pk])}
    assert {r.stage.key for r in rows.values()} == {"contacted"}
    assert rows[a.pk].assigned_to == rep


def test_inline_edit_value(org, owner):
    lead = _lead(org, owner)
    client = web_client(owner, org)
    url = reverse("leads:lead_inline_edit", args=[lead.pk]) + "?column=value"
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    response = client.post(
        url, {"value": "42.00", "expected_version": lead.version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert Lead.objects.unscoped().get(pk=lead.pk).value == Decimal("42.00")


def test_settings_page_stages_and_bands(org, owner):
    client = web_client(owner, org)
    page = client.get(reverse("leads:lead_settings"))
    assert page.status_code == 200 and "Unqualified" in page.content.decode()
    assert (
        client.post(
            reverse("leads:lead_settings"),
            {
                "hot_threshold": 60,
                "warm_threshold": 30,
                "decay_half_life_days": 30,
                "form_rate_limit_per_minute": 10,
            },
        ).status_code
        == 302
    )
    assert lead_settings(org=org).hot_threshold == 60
    bad = client.post(
        reverse("leads:lead_settings"),
        {
            "hot_threshold": 20,
            "warm_threshold": 30,
            "decay_half_life_days": 30,
            "form_rate_limit_per_minute": 10,
        },
    )
    assert bad.status_code == 400 and "Warm must start below hot" in bad.content.decode()
    keys = ["qualified", "new", "contacted", "unqualified", "converted"]
    client.post(reverse("leads:leadstage_reorder"), {"key": keys})
    with tenant_context(org, actor=owner):
        assert [s.key for s in LeadStage.objects.order_by("position")] == keys


def test_settings_refuses_deleting_used_stage(org, owner):
    lead = _lead(org, owner)
    client = web_client(owner, org)
    response = client.post(reverse("leads:leadstage_delete", args=[lead.stage_id]), follow=True)
    assert "Move them to another stage first" in response.content.decode()
    assert LeadStage.objects.unscoped().get(pk=lead.stage_id).deleted_at is None


def test_settings_page_denied_to_sales_rep(org, rep):
    assert web_client(rep, org).get(reverse("leads:lead_settings")).status_code == 403


def test_global_search_finds_leads(org, owner):
    _lead(org, owner, title="Umbrella renewal", company_name="Umbrella Labs")
    response = web_client(owner, org).get(reverse("core:search"), {"q": "umbrella"})
    assert "Umbrella renewal" in response.content.decode()


# --- pinned query counts ------------------------------------------------------------------

# Fixed whatever the number of rows (3 or 25). List: session, user, membership, custom
# field definitions (filters, columns), stages (filter choices, bulk bar), count, rows,
# tags, band thresholds, saved views, owners and tags for the bars, bell, switcher,
# session save. Board: the same frame, stages, one GROUP BY, one card query per non-empty
# stage (at most 5 here; no filter set when there is no filter, G). Detail: the lead,
# tags, thresholds, stage moves, history (timeline + tab), custom fields, stages, the
# scoring panel. API: token, membership, count, rows, tags…
LIST_QUERIES = 24
BOARD_QUERIES = 17
DETAIL_QUERIES = 20
API_LIST_QUERIES = 13
API_PIPELINE_QUERIES = 10


def _many(org, owner, n=25):
    from pulse.extras.services import tag_create

    with tenant_context(org, actor=owner):
        tag = tag_create(org=org, actor=owner, name="T")
        for i in range(n):
            make_lead(org, owner, tags=[tag], value=Decimal(i))


@pytest.mark.parametrize("rows", [3, 25])
def test_query_counts_are_pinned(org, owner, rows, django_assert_max_num_queries):
    _many(org, owner, rows)
    lead = Lead.objects.unscoped().filter(organization=org).first()
    client = web_client(owner, org)
    api = api_client(owner, org)
    for url in (reverse("leads:lead_list"), reverse("leads:lead_board")):
        client.get(url)  # warm caches
    with django_assert_max_num_queries(LIST_QUERIES):
        assert client.get(reverse("leads:lead_list")).status_code == 200
    with django_assert_max_num_queries(BOARD_QUERIES):
        assert client.get(reverse("leads:lead_board")).status_code == 200
    with django_assert_max_num_queries(DETAIL_QUERIES):
        assert client.get(reverse("leads:lead_detail", args=[lead.pk])).status_code == 200
    with django_assert_max_num_queries(API_LIST_QUERIES):
        assert api.get("/api/crm/leads/").status_code == 200
    with django_assert_max_num_queries(API_PIPELINE_QUERIES):
        assert api.get("/api/crm/leads/pipeline/").status_code == 200
