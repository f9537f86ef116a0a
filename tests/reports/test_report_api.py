"""GET/POST /api/crm/reports/ (+ run, preview run, fields): isolation, visibility,
bad input and exact numbers."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.core.tenancy import tenant_context
from pulse.core.testing import APITestCases, api_client, assert_error_shape
from pulse.currencies.services import exchangerate_create
from pulse.opportunities.models import Stage
from pulse.opportunities.services import pipeline_ensure_defaults
from pulse.reports.models import Report
from tests.opportunities.factories import make_opportunity
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db

LIST = "/api/crm/reports/"


class TestReportAPI(APITestCases.APITestCase):
    model = Report
    api_basename = "report"
    create_data = {
        "name": "Won deals by rep",
        "record_type": "opportunities",
        "filters": [{"field": "status", "op": "in", "value": ["won"]}],
        "group_by": [{"field": "assigned_to"}],
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "value"}],
        "chart_type": "bar",
        "visibility": "shared",
    }
    update_data = {"name": "Renamed", "chart_type": "pie"}
    invalid_create_data = {
        "name": "",
        "record_type": "opportunities",
        "group_by": [{"field": "ghost"}],
    }
    invalid_create_error_fields = {"name"}


@pytest.fixture
def deals(org, owner, rep):
    """Owner: 1,000 + 2,000 EUR open; rep: 500 USD won (rate 0.9) and 300 EUR open."""
    with tenant_context(org, actor=owner):
        exchangerate_create(
            org=org,
            actor=owner,
            currency="USD",
            rate=Decimal("0.9"),
            valid_from=datetime.date(2020, 1, 1),
        )
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position"))
        first = stages[0]
        won = next(s for s in stages if s.type == "won")
        make_opportunity(org, owner, stage=first, value=Decimal("1000"))
        make_opportunity(org, owner, stage=first, value=Decimal("2000"))
        make_opportunity(org, owner, stage=first, value=Decimal("300"), assigned_to=rep)
        make_opportunity(
            org,
            owner,
            stage=won,
            value=Decimal("500"),
            currency="USD",
            assigned_to=rep,
            actual_close_date=datetime.date(2026, 5, 4),
        )
        return {"first": first, "won": won}


def _by_status(org, owner, **fields):
    with tenant_context(org, actor=owner):
        return make_report(
            org,
            owner,
            group_by=[{"field": "status"}],
            aggregates=[{"fn": "count"}, {"fn": "sum", "field": "value"}],
            **fields,
        )


def test_run_answers_groups_totals_and_chart(org, owner, deals):
    report = _by_status(org, owner, name="By status")
    response = api_client(owner, org).get(reverse("report-run", args=[report.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "columns",
        "rows",
        "row_urls",
        "groups",
        "totals",
        "chart",
        "page",
        "has_next",
        "total_rows",
        "notices",
        "currency",
    }
    assert [(g["labels"], g["values"]) for g in body["groups"]] == [
        (["Open"], {"count": 3, "sum:value": "3300.00"}),
        (["Won"], {"count": 1, "sum:value": "450.00"}),
    ]
    assert body["groups"][0]["keys"] == ["open"]
    assert body["groups"][0]["url"] == "/opportunities/?status=open"
    assert body["totals"] == {"count": 4, "sum:value": "3750.00"}
    assert body["chart"] == {
        "type": "bar",
        "labels": ["Open", "Won"],
        "datasets": [{"label": "Count", "data": [3.0, 1.0]}],
        "value_format": "number",
        "currency": "",
    }
    assert body["currency"] == "EUR"
    assert [c["key"] for c in body["columns"]] == ["status", "count", "sum:value"]


def test_run_under_team_visibility_sums_only_the_reps_deals(org, owner, rep, deals):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    report = _by_status(org, owner, name="By status")
    body = api_client(rep, org).get(reverse("report-run", args=[report.pk])).json()
    assert body["totals"] == {"count": 2, "sum:value": "750.00"}


def test_ungrouped_run_pages(org, owner, deals):
    with tenant_context(org, actor=owner):
        report = make_report(
            org, owner, group_by=[], aggregates=[], columns=["name", "value"], ordering="-value"
        )
    api = api_client(owner, org)
    url = reverse("report-run", args=[report.pk])
    body = api.get(url).json()
    assert [row[1] for row in body["rows"]] == [
        "2,000.00 EUR",
        "1,000.00 EUR",
        "500.00 USD",
        "300.00 EUR",
    ]
    assert (body["page"], body["has_next"], body["total_rows"]) == (1, False, 4)
    assert len(body["row_urls"]) == 4 and body["row_urls"][0].startswith("/opportunities/")
    assert_error_shape(api.get(url, {"page": "two"}), fields={"page"})
    assert_error_shape(api.get(url, {"page": "0"}), fields={"page"})


def test_preview_runs_an_unsaved_definition(org, owner, deals):
    response = api_client(owner, org).post(
        reverse("report-preview"),
        {
            "record_type": "opportunities",
            "group_by": [{"field": "assigned_to"}],
            "aggregates": [{"fn": "sum", "field": "value"}],
            "ordering": "-sum:value",
            "chart_type": "pie",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(g["labels"][0], g["values"]["sum:value"]) for g in body["groups"]] == [
        ("Olivia Owner", "3000.00"),
        ("Rita Rep", "750.00"),
    ]
    assert Report.objects.unscoped().filter(organization=org).count() == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {
                "record_type": "opportunities",
                "filters": [{"field": "value", "op": "gt", "value": "x"}],
            },
            {"filters"},
        ),
        (
            {
                "record_type": "opportunities",
                "filters": [{"field": "created_at", "op": "period", "value": "soon"}],
            },
            {"filters"},
        ),
        (
            {
                "record_type": "opportunities",
                "group_by": [{"field": "stage"}, {"field": "status"}, {"field": "pipeline"}],
            },
            {"group_by"},
        ),
        (
            {
                "record_type": "opportunities",
                "group_by": [{"field": "stage"}],
                "aggregates": [{"fn": "avg", "field": "stage"}],
            },
            {"aggregates"},
        ),
        ({"record_type": "invoices"}, {"record_type"}),
        ({"record_type": "opportunities", "columns": ["name"], "ordering": "nope"}, {"ordering"}),
        ({"record_type": "opportunities", "filters": "everything"}, {"filters"}),
    ],
)
def test_preview_bad_input_is_a_400(org, owner, body, fields):
    response = api_client(owner, org).post(reverse("report-preview"), body, format="json")
    assert_error_shape(response, fields=fields)


def test_create_with_a_bad_definition_saves_nothing(org, owner):
    response = api_client(owner, org).post(
        LIST,
        {
            "name": "Bad",
            "record_type": "opportunities",
            "filters": [{"field": "value", "op": "gt", "value": "lots"}],
        },
        format="json",
    )
    errors = assert_error_shape(response, fields={"filters"})
    assert errors["filters"] == ["“lots” is not a number."]
    assert not Report.objects.unscoped().filter(organization=org).exists()


def test_update_validates_the_merged_definition(org, owner):
    report = _by_status(org, owner, name="By status")
    api = api_client(owner, org)
    response = api.patch(
        reverse("report-detail", args=[report.pk]),
        {"aggregates": [{"fn": "sum", "field": "name"}]},
        format="json",
    )
    assert_error_shape(response, fields={"aggregates"})
    report.refresh_from_db()
    assert report.aggregates == [{"fn": "count"}, {"fn": "sum", "field": "value"}]


def test_private_report_of_another_user_is_404(org, owner, rep, deals):
    report = _by_status(org, owner, name="Mine only", visibility="private")
    api = api_client(rep, org)
    assert_error_shape(api.get(reverse("report-detail", args=[report.pk])), status=404)
    assert_error_shape(api.get(reverse("report-run", args=[report.pk])), status=404)
    assert str(report.pk) not in {r["id"] for r in api.get(LIST).json()["results"]}


def test_other_organization_gets_404(org, owner, other_org, other_owner, deals):
    report = _by_status(org, owner, name="Acme report")
    api = api_client(other_owner, other_org)
    assert_error_shape(api.get(reverse("report-run", args=[report.pk])), status=404)
    assert_error_shape(api.get(reverse("report-detail", args=[report.pk])), status=404)


def test_list_filters_by_record_type_and_search(org, owner):
    _by_status(org, owner, name="Deals by status")
    with tenant_context(org, actor=owner):
        make_report(
            org,
            owner,
            name="Leads by source",
            record_type="leads",
            group_by=[{"field": "source"}],
            aggregates=[{"fn": "count"}],
        )
    api = api_client(owner, org)
    names = lambda params: [r["name"] for r in api.get(LIST, params).json()["results"]]  # noqa: E731
    assert names({"record_type": "leads"}) == ["Leads by source"]
    assert names({"search": "status"}) == ["Deals by status"]
    assert names({}) == ["Deals by status", "Leads by source"]


def test_saved_report_naming_a_deleted_field_is_a_400(org, owner):
    report = _by_status(org, owner, name="Old")
    Report.objects.unscoped().filter(pk=report.pk).update(group_by=[{"field": "cf_region"}])
    errors = assert_error_shape(
        api_client(owner, org).get(reverse("report-run", args=[report.pk])), fields={"cf_region"}
    )
    assert errors["cf_region"] == [
        "The field “region” no longer exists; edit the report to remove it."
    ]


def test_fields_catalogue(org, owner):
    api = api_client(owner, org)
    response = api.get(reverse("report-fields"), {"record_type": "opportunities"})
    assert response.status_code == 200
    by_key = {f["key"]: f for f in response.json()}
    assert by_key["value"]["kind"] == "money"
    assert by_key["value"]["operators"] == [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "empty",
        "not_empty",
    ]
    assert ["won", "Won"] in by_key["status"]["choices"]
    assert by_key["tags"]["groupable"] is False
    assert_error_shape(
        api.get(reverse("report-fields"), {"record_type": "x"}), fields={"record_type"}
    )
