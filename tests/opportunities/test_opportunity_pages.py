"""Opportunity web pages: list (filters, bulk, inline edit, export), detail (stage path,
line items, contacts with roles, move, timeline), form, quick create; pinned query counts."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from pulse.core.testing.records import snapshot
from pulse.opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    OpportunityStageChange,
)
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.contacts.factories import make_company, make_contact
from tests.opportunities.factories import make_opportunity, make_pipeline

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"


def _deal(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_opportunity(org, owner, **fields)


def _stage(org, name):
    with tenant_context(org):
        pipelines = pipeline_ensure_defaults(org=org)
        return next(s for s in pipelines[0].stage_list if s.name == name)


def _htmx(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true")


# --- list ---------------------------------------------------------------------------------


def test_list_shows_value_weighted_stage_probability_and_rotting(org, owner):
    deal = _deal(org, owner, name="Acme rollout", value=Decimal("12000"))
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(
        last_activity_at=timezone.now() - datetime.timedelta(days=40)
    )

    response = web_client(owner, org).get(reverse("opportunities:opportunity_list"))

    html = response.content.decode()
    assert response.status_code == 200
    row = html[html.index(f'data-record-id="{deal.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "12,000.00" in row and "1,200.00" in row  # value and weighted (10 %)
    assert "Qualification" in row and "10%" in row
    assert 'data-testid="rotting"' in row
    assert reverse("opportunities:opportunity_board") in html  # List ↔ Board switch


def test_list_offers_csv_and_xlsx_export_but_no_import_or_vcard(org, owner):
    _deal(org, owner)

    html = web_client(owner, org).get(reverse("opportunities:opportunity_list")).content.decode()

    assert reverse("imports:export", args=["opportunities"]) in html
    assert 'data-testid="export-csv"' in html and 'data-testid="export-xlsx"' in html
    assert 'data-testid="export-vcf"' not in html  # a deal is not a vCard
    assert 'data-testid="import-button"' not in html  # no import target for deals yet


def test_list_filters_and_sorts(org, owner):
    _deal(org, owner, name="Small", value=Decimal("10"))
    _deal(org, owner, name="Large", value=Decimal("900"))
    client = web_client(owner, org)

    html = client.get(
        reverse("opportunities:opportunity_list"), {"value_min": "100", "ordering": "-value"}
    ).content.decode()
    assert "Large" in html and ">Small<" not in html

    html = client.get(
        reverse("opportunities:opportunity_list"), {"ordering": "value"}
    ).content.decode()
    assert html.index(">Small<") < html.index(">Large<")


def test_list_escapes_names(org, owner):
    _deal(org, owner, name=XSS)
    html = web_client(owner, org).get(reverse("opportunities:opportunity_list")).content.decode()
    assert XSS not in html and "&lt;script&gt;" in html


def test_bulk_assign_tag_move_and_delete(org, owner):
    from pulse.extras.services import tag_create

    with tenant_context(org, actor=owner):
        tag = tag_create(org=org, actor=owner, name="VIP")
    from tests.accounts.factories import make_member

    rep = make_member(org, "sales_rep", full_name="Rita Rep")
    one, two = _deal(org, owner, name="One"), _deal(org, owner, name="Two")
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_bulk")
    ids = [str(one.pk), str(two.pk)]

    assert client.post(url, {"ids": ids, "action": "tag", "tag": tag.pk}).status_code == 302
    assert client.post(url, {"ids": ids, "action": "assign", "assigned_to": rep.pk}).status_code
    proposal = _stage(org, "Proposal")
    client.post(url, {"ids": ids, "action": "stage", "lifecycle_stage": str(proposal.pk)})

    with tenant_context(org):
        rows = Opportunity.objects.filter(pk__in=ids)
        assert {r.stage_id for r in rows} == {proposal.pk}
        assert {r.assigned_to_id for r in rows} == {rep.pk}
        assert all(list(r.tags.values_list("name", flat=True)) == ["VIP"] for r in rows)
        assert OpportunityStageChange.objects.filter(to_stage=proposal).count() == 2

    client.post(url, {"ids": [str(one.pk)], "action": "delete"})
    assert Opportunity.objects.unscoped().get(pk=one.pk).deleted_at is not None


def test_bulk_move_to_won_without_date_changes_nothing(org, owner):
    one, two = _deal(org, owner, name="One"), _deal(org, owner, name="Two")
    before = [snapshot(one), snapshot(two)]
    response = web_client(owner, org).post(
        reverse("opportunities:opportunity_bulk"),
        {
            "ids": [str(one.pk), str(two.pk)],
            "action": "stage",
            "lifecycle_stage": str(_stage(org, "Won").pk),
        },
        follow=True,
    )
    assert "A won deal needs the date it closed." in response.content.decode()
    assert [snapshot(one), snapshot(two)] == before


def test_inline_edit_probability_and_stale_version(org, owner):
    deal = _deal(org, owner)
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_inline_edit", args=[deal.pk])

    form = _htmx(client, "get", f"{url}?column=probability")
    assert form.status_code == 200 and 'name="probability"' in form.content.decode()
    saved = _htmx(
        client, "post", f"{url}?column=probability", {"probability": "65", "expected_version": 1}
    )
    assert saved.status_code == 200 and "65%" in saved.content.decode()
    deal.refresh_from_db()
    assert (deal.probability, deal.probability_is_custom) == (65, True)

    stale = _htmx(
        client, "post", f"{url}?column=probability", {"probability": "5", "expected_version": 1}
    )
    assert "Someone else changed this record" in stale.content.decode()
    deal.refresh_from_db()
    assert deal.probability == 65


def test_export_csv_has_the_filtered_rows(org, owner):
    _deal(org, owner, name="Keep", value=Decimal("500"))
    _deal(org, owner, name="Drop", value=Decimal("5"))
    response = web_client(owner, org).get(
        reverse("imports:export", args=["opportunities"]),
        {"format": "csv", "value_min": "100", "columns": "name,value,stage,weighted_value"},
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Name", "Value", "Stage", "Weighted"]
    assert rows[1:] == [
        ["Keep", f"500.00 {org.default_currency}", "Qualification", f"50.00 {org.default_currency}"]
    ]


# --- form and quick create ----------------------------------------------------------------


def test_create_in_a_chosen_pipeline_and_stage(org, owner):
    with tenant_context(org, actor=owner):
        partners = make_pipeline(org, owner, name="Partners")
        stage = partners.stages.order_by("position")[1]
    response = web_client(owner, org).post(
        reverse("opportunities:opportunity_create"),
        {"name": "Reseller", "pipeline": str(partners.pk), "stage": str(stage.pk), "value": "10"},
    )
    assert response.status_code == 302
    deal = Opportunity.objects.unscoped().get(name="Reseller")
    assert (deal.pipeline_id, deal.stage_id, deal.probability) == (
        partners.pk,
        stage.pk,
        stage.probability,
    )


def test_form_refuses_a_stage_of_another_pipeline_on_the_field(org, owner):
    with tenant_context(org, actor=owner):
        partners = make_pipeline(org, owner, name="Partners")
    before = Opportunity.objects.unscoped().count()
    response = web_client(owner, org).post(
        reverse("opportunities:opportunity_create"),
        {"name": "Wrong", "pipeline": str(partners.pk), "stage": str(_stage(org, "Proposal").pk)},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["stage"] == ["This stage belongs to another pipeline."]
    assert Opportunity.objects.unscoped().count() == before


def test_edit_with_a_stale_version_shows_the_conflict_and_keeps_theirs(org, owner):
    deal = _deal(org, owner, name="Theirs")
    url = reverse("opportunities:opportunity_edit", args=[deal.pk])
    data = {"name": "Mine", "forecast_category": "pipeline", "expected_version": deal.version}
    with tenant_context(org, actor=owner):
        from pulse.opportunities.services import opportunity_update

        opportunity_update(opportunity=deal, actor=owner, name="Theirs, changed")

    response = web_client(owner, org).post(url, data)

    assert response.status_code == 400
    assert "Someone else changed this record" in response.content.decode()
    assert Opportunity.objects.unscoped().get(pk=deal.pk).name == "Theirs, changed"


def test_quick_create_dialog(org, owner):
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_quick_create")
    assert 'data-quick-create="d"' in client.get(reverse("reports:dashboard")).content.decode()
    assert _htmx(client, "get", url).status_code == 200

    bad = _htmx(client, "post", url, {"name": "", "value": "-1"})
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()

    done = _htmx(client, "post", url, {"name": "Quick deal", "value": "750", "currency": "USD"})
    assert "pulse:quickCreated" in done["HX-Trigger"]
    deal = Opportunity.objects.unscoped().get(name="Quick deal")
    assert (deal.value, deal.currency, deal.assigned_to_id) == (Decimal("750.00"), "USD", owner.pk)

    page = client.post(url, {"name": "Plain post"})  # no htmx: redirect to the deal
    assert page.status_code == 302


# --- detail -------------------------------------------------------------------------------


def test_detail_shows_the_stage_path_with_time_in_each_stage(org, owner):
    deal = _deal(org, owner, name="Pathfinder")
    # Two days in Qualification, then moved to Proposal three hours ago.
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(
        stage_changed_at=timezone.now() - datetime.timedelta(days=2, hours=3)
    )
    deal.refresh_from_db()
    with tenant_context(org, actor=owner):
        opportunity_move(
            opportunity=deal, stage=_stage(org, "Proposal"), actor=owner, notes="quote"
        )
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(
        stage_changed_at=timezone.now() - datetime.timedelta(hours=3)
    )

    response = web_client(owner, org).get(
        reverse("opportunities:opportunity_detail", args=[deal.pk])
    )

    html = response.content.decode()
    path = html[html.index('data-testid="stage-path"') : html.index('data-testid="move-form"')]
    steps = [s for s in path.split('class="opp-path-step')[1:]]
    assert len(steps) == 6  # every stage of the pipeline, in order
    assert "Qualification" in steps[0] and "2 days" in steps[0] and "is-visited" in steps[0]
    assert "Proposal" in steps[2] and "is-current" in steps[2] and "3 hours" in steps[2]
    assert "Needs analysis" in steps[1] and "—" in steps[1]
    assert "moved it from Qualification to Proposal" in html and "quote" in html


def test_detail_move_to_won_needs_the_date_and_then_closes(org, owner):
    deal = _deal(org, owner)
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_move", args=[deal.pk])
    won = _stage(org, "Won")
    before = snapshot(deal)

    refused = client.post(url, {"stage": str(won.pk), "version": deal.version}, follow=True)
    assert "A won deal needs the date it closed." in refused.content.decode()
    assert snapshot(deal) == before

    as_json = client.post(
        url,
        {"stage": str(won.pk), "actual_close_date": "2026-02-03", "version": deal.version},
        HTTP_ACCEPT="application/json",
    )
    assert as_json.status_code == 200 and as_json.json()["ok"] is True
    deal.refresh_from_db()
    assert (deal.status, deal.actual_close_date, deal.forecast_category) == (
        "won",
        datetime.date(2026, 2, 3),
        "closed",
    )
    stale = client.post(
        url,
        {"stage": str(_stage(org, "Proposal").pk), "version": 1},
        HTTP_ACCEPT="application/json",
    )
    assert stale.status_code == 400 and "version" in stale.json()["errors"]


def test_line_items_editor_adds_changes_and_removes_lines(org, owner):
    deal = _deal(org, owner, value=Decimal("1"))
    client = web_client(owner, org)
    url = reverse("opportunities:opportunity_line_items", args=[deal.pk])

    def post(rows, version):
        data = {
            "lines-TOTAL_FORMS": str(len(rows)),
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "expected_version": str(version),
        }
        for i, row in enumerate(rows):
            data.update({f"lines-{i}-{k}": v for k, v in row.items()})
        return _htmx(client, "post", url, data)

    added = post(
        [{"product_name": "Seats", "quantity": "10", "unit_price": "120", "discount": ""}], 1
    )
    assert added.status_code == 204 and added["HX-Refresh"] == "true"
    deal.refresh_from_db()
    assert deal.value == Decimal("1200.00")
    line = OpportunityLineItem.objects.unscoped().get(opportunity=deal)

    changed = post(
        [
            {"id": str(line.pk), "product_name": "Seats", "quantity": "5", "unit_price": "120"},
            {"product_name": "Training", "quantity": "1", "unit_price": "300", "discount": "10"},
        ],
        deal.version,
    )
    assert changed.status_code == 204
    deal.refresh_from_db()
    assert deal.value == Decimal("870.00")  # 600 + 270

    bad = post(
        [{"id": str(line.pk), "product_name": "", "quantity": "0", "unit_price": "-1"}],
        deal.version,
    )
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()
    deal.refresh_from_db()
    assert deal.value == Decimal("870.00")

    removed = post(
        [
            {
                "id": str(line.pk),
                "product_name": "Seats",
                "quantity": "5",
                "unit_price": "120",
                "DELETE": "on",
            },
        ],
        deal.version,
    )
    assert removed.status_code == 204
    assert [
        li.product_name
        for li in OpportunityLineItem.objects.unscoped().filter(
            opportunity=deal, deleted_at__isnull=True
        )
    ] == []

    page = client.get(reverse("opportunities:opportunity_detail", args=[deal.pk])).content.decode()
    assert 'data-testid="line-items-form"' in page


def test_contacts_with_roles_add_change_remove(org, owner):
    deal = _deal(org, owner)
    with tenant_context(org, actor=owner):
        ada = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
    client = web_client(owner, org)
    add = reverse("opportunities:opportunity_contact_add", args=[deal.pk])

    added = _htmx(client, "post", add, {"contact": str(ada.pk), "role": "champion"})
    assert added.status_code == 200 and "Ada Lovelace" in added.content.decode()
    _htmx(client, "post", add, {"contact": str(ada.pk), "role": "decision_maker"})
    role = OpportunityContact.objects.unscoped().get(opportunity=deal, deleted_at__isnull=True)
    assert role.role == "decision_maker"

    bad = _htmx(client, "post", add, {"contact": str(ada.pk), "role": "boss"})
    assert "Select a valid choice" in bad.content.decode()

    remove = reverse("opportunities:opportunity_contact_remove", args=[deal.pk, role.pk])
    assert _htmx(client, "post", remove).status_code == 200
    role.refresh_from_db()
    assert role.deleted_at is not None


def test_detail_links_related_records(org, owner):
    with tenant_context(org, actor=owner):
        acme = make_company(org, owner, name="Acme Corp")
    deal = _deal(org, owner, company=acme)
    html = web_client(owner, org).get(deal.get_absolute_url()).content.decode()
    assert acme.get_absolute_url() in html


def test_global_search_finds_deals(org, owner):
    _deal(org, owner, name="Umbrella renewal")
    response = web_client(owner, org).get(reverse("core:search"), {"q": "umbrella"})
    assert "Umbrella renewal" in response.content.decode()


# --- pinned query counts ------------------------------------------------------------------

# Exact, and the same for 3 or 25 rows. List: session, user, membership, custom fields,
# count, saved views, owners (read once, shared with the owner filter), tags, rows (stage,
# owner, company joined), their tags, pipelines, stages, bell, teams (filter). Detail:
# session, user, membership, the deal (relations joined), tags, line items, time per
# stage (one GROUP BY), pipelines, stages, contact roles, custom fields, stage moves,
# history, loss reasons, bell. API list: token lookup and touch, membership, custom
# fields, count, rows, tags, line items.
LIST_QUERIES = 14
DETAIL_QUERIES = 15
API_LIST_QUERIES = 8


def _many(org, owner, n):
    from pulse.extras.services import tag_create

    with tenant_context(org, actor=owner):
        tag = tag_create(org=org, actor=owner, name="T")
        acme = make_company(org, owner, name="Acme")
        for i in range(n):
            make_opportunity(org, owner, tags=[tag], company=acme, value=Decimal(i))


@pytest.mark.parametrize("rows", [3, 25])
def test_query_counts_are_pinned(org, owner, rows, django_assert_num_queries):
    _many(org, owner, rows)
    deal = Opportunity.objects.unscoped().filter(organization=org).first()
    client = web_client(owner, org)
    api = api_client(owner, org)
    client.get(reverse("opportunities:opportunity_list"))  # warm caches
    with django_assert_num_queries(LIST_QUERIES):
        assert client.get(reverse("opportunities:opportunity_list")).status_code == 200
    with django_assert_num_queries(DETAIL_QUERIES):
        assert client.get(deal.get_absolute_url()).status_code == 200
    with django_assert_num_queries(API_LIST_QUERIES):
        assert api.get("/api/crm/opportunities/").status_code == 200
