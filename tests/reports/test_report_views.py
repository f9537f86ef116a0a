"""Report pages: the list (ready-made and saved, search, filters, pages), the builder
(record type switch, filter rows, live preview, save with errors by part), the report page
(grouped with totals, paged rows, a report that can no longer run), copy, delete, add to
the dashboard, and who may do what; pinned query counts."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from pulse.opportunities.services import default_pipeline
from pulse.reports import views as report_views
from pulse.reports.models import DashboardWidget, Report
from tests.accounts.factories import make_member
from tests.opportunities.factories import make_opportunity
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------


def _stages(org):
    with tenant_context(org):
        return {s.name: s for s in default_pipeline(org).stages.order_by("position")}


def _deals(org, owner):
    """Five deals: three in Qualification (1,000 + 2,000 + 3,000), two in Proposal (500 +
    1,500), all in the organization's currency."""
    stages = _stages(org)
    with tenant_context(org, actor=owner):
        for name, value in (("A", 1000), ("B", 2000), ("C", 3000)):
            make_opportunity(
                org, owner, name=f"Deal {name}", value=Decimal(value), stage=stages["Qualification"]
            )
        for name, value in (("D", 500), ("E", 1500)):
            make_opportunity(
                org, owner, name=f"Deal {name}", value=Decimal(value), stage=stages["Proposal"]
            )
    return stages


def _report(org, actor, **fields):
    with tenant_context(org, actor=actor):
        return make_report(org, actor, **fields)


def _group_rows(html: str) -> list[list[str]]:
    """The cells of the grouped table's rows, tags stripped."""
    rows = re.findall(r'<tr data-testid="report-group">(.*?)</tr>', html, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def _totals(html: str) -> list[str]:
    row = re.search(r'<tr class="fw-semibold" data-testid="report-totals">(.*?)</tr>', html, re.S)
    return [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]


BUILDER_GROUPED = {
    "record_type": "opportunities",
    "name": "Deals by stage",
    "description": "Count and value per stage",
    "visibility": "shared",
    "chart_type": "bar",
    "group-0-field": "stage",
    "group-1-field": "",
    "agg-0-fn": "count",
    "agg-1-fn": "sum",
    "agg-1-field": "value",
}


# --- list ---------------------------------------------------------------------------------


def test_list_shows_ready_made_and_saved_reports_and_finds_them(org, owner, rep):
    mine = _report(org, owner, name="Pipeline health", visibility="private")
    shared = _report(
        org,
        rep,
        name="Lead sources",
        record_type="leads",
        group_by=[{"field": "source"}],
        aggregates=[{"fn": "count"}],
        visibility="shared",
    )
    hidden = _report(org, rep, name="Rita's secret", visibility="private")
    client = web_client(owner, org)

    response = client.get(reverse("reports:report_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="ready-made"' in html
    with tenant_context(org):
        ready = list(Report.objects.exclude(key="").values_list("name", flat=True))
    assert len(ready) == 8
    assert all(name in html for name in ready)
    table = html[html.index('data-testid="report-list"') :]
    assert mine.name in table and shared.name in table and hidden.name not in html
    assert re.findall(r'data-testid="report-row"', table).__len__() == 2
    assert reverse("reports:report_create") in html
    assert 'href="/reports/"' in html and "nav-link active" in html

    found = client.get(reverse("reports:report_list"), {"q": "lead"}).content.decode()
    table = found[found.index('data-testid="report-list"') :]
    assert shared.name in table and mine.name not in table

    leads = client.get(reverse("reports:report_list"), {"record_type": "leads"}).content.decode()
    table = leads[leads.index('data-testid="report-list"') :]
    assert shared.name in table and mine.name not in table

    own = client.get(reverse("reports:report_list"), {"show": "mine"}, HTTP_HX_REQUEST="true")
    body = own.content.decode()
    assert body.lstrip().startswith("{") is False and body.lstrip().startswith(
        '<div id="report-table"'
    )
    assert mine.name in body and shared.name not in body

    nothing = client.get(reverse("reports:report_list"), {"q": "zzz"}).content.decode()
    assert "No reports match." in nothing


def test_list_pages_through_saved_reports(org, owner):
    for n in range(27):
        _report(org, owner, name=f"Report {n:02d}")
    client = web_client(owner, org)
    first = client.get(reverse("reports:report_list")).content.decode()
    assert first.count('data-testid="report-row"') == 25
    assert "Page 1" in first and "page=2" in first
    second = client.get(reverse("reports:report_list"), {"page": 2}).content.decode()
    assert second.count('data-testid="report-row"') == 2


def test_list_query_count_is_pinned(org, owner, rep, django_assert_num_queries):
    client = web_client(owner, org)
    client.get(reverse("reports:report_list"))  # the ready-made reports are made once
    for n in range(3):
        _report(org, owner, name=f"Mine {n}")
        _report(org, rep, name=f"Theirs {n}")
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(reverse("reports:report_list"))
    assert response.content.decode().count('data-testid="report-row"') == 6
    for n in range(3):
        _report(org, rep, name=f"More {n}")
    with django_assert_num_queries(LIST_QUERIES):
        client.get(reverse("reports:report_list"))


LIST_QUERIES = 8


# --- builder --------------------------------------------------------------------------------


def test_builder_page_offers_the_record_types_fields(org, owner):
    client = web_client(owner, org)
    response = client.get(reverse("reports:report_create"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="report-builder"' in html
    assert '<option value="stage" data-date' not in html
    assert '<option value="expected_close_date" data-date="1">' in html
    assert reverse("reports:report_preview") in html
    assert "report_chart.js" in html

    switched = client.get(
        reverse("reports:report_create"), {"record_type": "leads"}, HTTP_HX_REQUEST="true"
    )
    assert switched.status_code == 200
    body = switched.content.decode()
    assert "<html" not in body
    assert '<option value="score">' in body and '<option value="probability">' in body
    assert 'value="company_name"' in body and 'value="forecast_category"' not in body


def test_filter_row_fits_the_field_and_operator(org, owner):
    stages = _stages(org)
    client = web_client(owner, org)
    url = reverse("reports:report_filter_row")

    empty = client.get(url, {"record_type": "opportunities", "index": 7}).content.decode()
    assert 'name="filter-7-field"' in empty and 'name="filter-7-op"' not in empty

    stage = client.get(
        url, {"record_type": "opportunities", "index": 3, "filter-3-field": "stage"}
    ).content.decode()
    assert 'name="filter-3-value"' in stage and "multiple" in stage
    assert f'value="{stages["Proposal"].pk}"' in stage and "· Proposal" in stage
    assert '<option value="in" selected>' in stage

    value = client.get(
        url,
        {
            "record_type": "opportunities",
            "index": 1,
            "filter-1-field": "value",
            "filter-1-shown": "value",
            "filter-1-op": "between",
            "filter-1-value": "100",
            "filter-1-value2": "900",
        },
    ).content.decode()
    assert 'name="filter-1-value2" value="900"' in value
    assert 'name="filter-1-value" value="100"' in value

    # A new field resets the operator to the field's first one.
    date = client.get(
        url,
        {
            "record_type": "opportunities",
            "index": 1,
            "filter-1-field": "expected_close_date",
            "filter-1-shown": "value",
            "filter-1-op": "between",
        },
    ).content.decode()
    assert '<option value="period" selected>' in date
    assert '<option value="this_quarter">' in date

    assert client.get(url, {"record_type": "nope"}).status_code == 404


def test_preview_runs_the_unsaved_definition(org, owner):
    _deals(org, owner)
    client = web_client(owner, org)
    response = client.post(reverse("reports:report_preview"), BUILDER_GROUPED)
    assert response.status_code == 200
    html = response.content.decode()
    assert _group_rows(html) == [
        ["Qualification", "3", "6,000.00"],
        ["Proposal", "2", "2,000.00"],
    ]
    assert _totals(html) == ["Total", "5", "8,000.00"]
    chart = json.loads(
        re.search(r'data-chart="([^"]+)"', html)[1].replace("&quot;", '"').replace("&amp;", "&")
    )
    assert chart["type"] == "bar"
    assert chart["data"]["labels"] == ["Qualification", "Proposal"]
    with tenant_context(org):
        assert not Report.objects.filter(key="").exists()  # nothing saved


def test_preview_with_bad_input_says_what_is_wrong(org, owner):
    client = web_client(owner, org)
    response = client.post(
        reverse("reports:report_preview"),
        {
            "record_type": "opportunities",
            "chart_type": "table",
            "filter-0-field": "value",
            "filter-0-op": "gt",
            "filter-0-value": "lots",
            "filter-4-field": "expected_close_date",
            "filter-4-op": "period",
            "filter-4-value": "someday",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="preview-errors"' in html
    assert "lots" in html and "someday" in html
    assert "Unknown period" in html


def test_builder_saves_a_grouped_report(org, owner):
    client = web_client(owner, org)
    response = client.post(
        reverse("reports:report_create"),
        {
            **BUILDER_GROUPED,
            "filter-0-field": "value",
            "filter-0-op": "gte",
            "filter-0-value": "100",
            "filter-2-field": "expected_close_date",
            "filter-2-op": "period",
            "filter-2-value": "this_year",
            "ordering": "count",
            "ordering_desc": "1",
        },
    )
    with tenant_context(org):
        report = Report.objects.get(name="Deals by stage")
    assert response.status_code == 302
    assert response["Location"] == report.get_absolute_url()
    assert report.owner == owner
    assert (report.record_type, report.chart_type, report.visibility) == (
        "opportunities",
        "bar",
        "shared",
    )
    assert report.group_by == [{"field": "stage"}]
    assert report.aggregates == [{"fn": "count"}, {"fn": "sum", "field": "value"}]
    assert [(f["field"], f["op"]) for f in report.filters] == [
        ("value", "gte"),
        ("expected_close_date", "period"),
    ]
    assert report.filters[1]["value"] == "this_year"
    assert report.ordering == "-count"
    assert report.description == "Count and value per stage"


def test_builder_shows_errors_next_to_their_part_and_saves_nothing(org, owner):
    client = web_client(owner, org)
    response = client.post(
        reverse("reports:report_create"),
        {
            **BUILDER_GROUPED,
            "filter-0-field": "value",
            "filter-0-op": "gt",
            "filter-0-value": "lots",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(r'data-testid="errors-filters"[^>]*>(.*?)</div></div>', html, re.S)
    assert errors and "lots" in errors[1]
    # The rows stay as typed.
    assert 'name="filter-0-value" value="lots"' in html

    unnamed = client.post(reverse("reports:report_create"), {**BUILDER_GROUPED, "name": " "})
    assert unnamed.status_code == 400
    assert 'data-testid="errors-name"' in unnamed.content.decode()
    assert "Give the report a name." in unnamed.content.decode()
    with tenant_context(org):
        assert not Report.objects.filter(key="").exists()


def test_owner_edits_a_report_in_the_builder(org, owner):
    report = _report(
        org,
        owner,
        name="Old name",
        visibility="private",
        filters=[{"field": "status", "op": "in", "value": ["open"]}],
    )
    client = web_client(owner, org)
    page = client.get(reverse("reports:report_edit", args=[report.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="Old name"' in html
    assert 'name="filter-0-field"' in html and '<option value="open" selected>' in html
    assert f'name="version" value="{report.version}"' in html

    response = client.post(
        reverse("reports:report_edit", args=[report.pk]),
        {
            **BUILDER_GROUPED,
            "name": "New name",
            "visibility": "private",
            "group-0-field": "expected_close_date",
            "group-0-period": "quarter",
            "version": str(report.version),
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        report.refresh_from_db()
    assert report.name == "New name"
    assert report.group_by == [{"field": "expected_close_date", "period": "quarter"}]
    assert report.filters == []

    stale = client.post(
        reverse("reports:report_edit", args=[report.pk]),
        {
            **BUILDER_GROUPED,
            "name": "Lost update",
            "version": "1",
        },
    )
    assert stale.status_code == 400
    with tenant_context(org):
        report.refresh_from_db()
    assert report.name == "New name"


# --- report page ----------------------------------------------------------------------------


def test_grouped_report_page_shows_chart_groups_totals_and_links(
    org, owner, django_assert_num_queries
):
    stages = _deals(org, owner)
    report = _report(org, owner, name="Deals by stage", description="Per stage")
    client = web_client(owner, org)
    client.get(report.get_absolute_url())  # warm the per-process caches
    with django_assert_num_queries(DETAIL_QUERIES + _timeout_queries()):
        response = client.get(report.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="report-title">Deals by stage<' in html
    assert "Per stage" in html
    assert _group_rows(html) == [
        ["Qualification", "3", "6,000.00"],
        ["Proposal", "2", "2,000.00"],
    ]
    assert _totals(html) == ["Total", "5", "8,000.00"]
    assert 'data-testid="report-chart"' in html
    assert f"stage={stages['Qualification'].pk}" in html
    for name in ("report_edit", "report_copy", "report_delete", "report_add_to_dashboard"):
        assert reverse(f"reports:{name}", args=[report.pk]) in html
    assert 'data-testid="export-menu"' in html and 'data-testid="schedule-panel"' in html


DETAIL_QUERIES = 9


def _timeout_queries() -> int:
    """On PostgreSQL a report runs in a savepoint under a statement timeout: SAVEPOINT,
    SET LOCAL, SET back, RELEASE."""
    from django.db import connection

    return 4 if connection.vendor == "postgresql" else 0


def test_ungrouped_report_pages_through_rows(org, owner, monkeypatch):
    _deals(org, owner)
    monkeypatch.setattr(report_views, "REPORT_PAGE_SIZE", 2)
    report = _report(
        org,
        owner,
        group_by=[],
        aggregates=[],
        chart_type="table",
        columns=["name", "value"],
        ordering="name",
    )
    client = web_client(owner, org)
    html = client.get(report.get_absolute_url()).content.decode()
    rows = re.findall(r'<tr data-testid="report-row">(.*?)</tr>', html, re.S)
    assert [re.sub(r"<[^>]+>", " ", r).split() for r in rows] == [
        ["Deal", "A", "1,000.00", "EUR"],
        ["Deal", "B", "2,000.00", "EUR"],
    ]
    assert "Page 1" in html and 'href="?page=2"' in html
    last = client.get(report.get_absolute_url(), {"page": 3}).content.decode()
    rows = re.findall(r'<tr data-testid="report-row">(.*?)</tr>', last, re.S)
    assert len(rows) == 1 and "Deal E" in rows[0]
    assert "Page 3" in last and 'data-testid="next-page"' not in last
    assert 'href="/opportunities/' in rows[0]


def test_report_over_a_deleted_custom_field_says_so(org, owner):
    from django.contrib.contenttypes.models import ContentType

    from pulse.extras.services import customfield_delete
    from pulse.opportunities.models import Opportunity
    from tests.extras.factories import make_custom_field

    with tenant_context(org, actor=owner):
        field = make_custom_field(
            org,
            owner,
            key="region",
            label="Region",
            field_type="text",
            content_type=ContentType.objects.get_for_model(Opportunity),
        )
    report = _report(org, owner, name="By region", group_by=[{"field": "cf_region"}])
    with tenant_context(org, actor=owner):
        customfield_delete(field=field, actor=owner)
    client = web_client(owner, org)
    response = client.get(report.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="report-error"' in html
    assert "The field “region” no longer exists; edit the report to remove it." in html
    assert reverse("reports:report_edit", args=[report.pk]) in html
    edit = client.get(reverse("reports:report_edit", args=[report.pk])).content.decode()
    assert "(no longer exists)" in edit


# --- permissions, copy, delete, dashboard ---------------------------------------------------


def test_rep_cannot_edit_someone_elses_reports(org, owner, rep):
    private = _report(org, owner, name="Owner's private", visibility="private")
    shared = _report(org, owner, name="Owner's shared", visibility="shared")
    client = web_client(rep, org)

    assert client.get(private.get_absolute_url()).status_code == 404
    assert client.get(reverse("reports:report_edit", args=[private.pk])).status_code == 404
    assert client.get(reverse("reports:report_edit", args=[shared.pk])).status_code == 404
    response = client.post(
        reverse("reports:report_edit", args=[shared.pk]), {**BUILDER_GROUPED, "name": "Hijacked"}
    )
    assert response.status_code == 404
    assert client.post(reverse("reports:report_delete", args=[shared.pk])).status_code == 404
    with tenant_context(org):
        shared.refresh_from_db()
        assert shared.name == "Owner's shared" and shared.deleted_at is None

    page = client.get(shared.get_absolute_url()).content.decode()
    assert reverse("reports:report_edit", args=[shared.pk]) not in page
    assert reverse("reports:report_delete", args=[shared.pk]) not in page
    assert reverse("reports:report_copy", args=[shared.pk]) in page


def test_admin_edits_a_shared_report_of_someone_else(org, admin_user, rep):
    shared = _report(org, rep, name="Rep's shared", visibility="shared")
    client = web_client(admin_user, org)
    assert client.get(reverse("reports:report_edit", args=[shared.pk])).status_code == 200


def test_save_a_copy_makes_a_private_report_of_ones_own(org, owner, rep):
    shared = _report(
        org,
        owner,
        name="Owner's shared",
        visibility="shared",
        filters=[{"field": "status", "op": "in", "value": ["open"]}],
    )
    client = web_client(rep, org)
    response = client.post(reverse("reports:report_copy", args=[shared.pk]))
    with tenant_context(org):
        copy = Report.objects.get(name="Copy of Owner's shared")
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:report_edit", args=[copy.pk])
    assert (copy.owner, copy.visibility) == (rep, "private")
    assert copy.filters == shared.filters and copy.group_by == shared.group_by
    assert client.get(response["Location"]).status_code == 200


def test_owner_deletes_a_report(org, owner):
    report = _report(org, owner, name="Doomed")
    client = web_client(owner, org)
    response = client.post(reverse("reports:report_delete", args=[report.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("reports:report_list")
    with tenant_context(org):
        assert not Report.objects.filter(pk=report.pk).exists()
    assert client.get(report.get_absolute_url()).status_code == 404


def test_add_to_dashboard_puts_the_report_on_my_dashboard(org, owner):
    report = _report(org, owner, name="Deals by stage")
    client = web_client(owner, org)
    response = client.post(reverse("reports:report_add_to_dashboard", args=[report.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    with tenant_context(org):
        widget = DashboardWidget.objects.get(kind="report")
    assert widget.report_id == report.pk and widget.dashboard.owner_id == owner.pk
    home = client.get(response["Location"]).content.decode()
    assert "is on your dashboard now" in home
    assert "Deals by stage" in home


def test_read_only_member_reads_shared_reports_but_changes_none(org, owner):
    reader = make_member(org, Role.READ_ONLY, full_name="Rea Reader")
    shared = _report(org, owner, name="Shared one")
    client = web_client(reader, org)
    assert client.get(reverse("reports:report_list")).status_code == 200
    page = client.get(shared.get_absolute_url())
    assert page.status_code == 200
    assert reverse("reports:report_edit", args=[shared.pk]) not in page.content.decode()
    assert client.get(reverse("reports:report_edit", args=[shared.pk])).status_code == 404
    response = client.post(
        reverse("reports:report_edit", args=[shared.pk]), {**BUILDER_GROUPED, "name": "Mine now"}
    )
    assert response.status_code == 404
    with tenant_context(org):
        shared.refresh_from_db()
    assert shared.name == "Shared one"


def test_other_organization_sees_none_of_it(org, owner, other_org, other_owner):
    report = _report(org, owner, name="Acme only")
    client = web_client(other_owner, other_org)
    for name in ("report_detail", "report_edit"):
        assert client.get(reverse(f"reports:{name}", args=[report.pk])).status_code == 404
    for name in ("report_copy", "report_delete", "report_add_to_dashboard"):
        assert client.post(reverse(f"reports:{name}", args=[report.pk])).status_code == 404
    assert "Acme only" not in client.get(reverse("reports:report_list")).content.decode()
