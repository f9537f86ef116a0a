"""Exports of a report: CSV (streamed), XLSX and PDF, through the web and the API."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from openpyxl import load_workbook

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.extras.services import customfield_delete
from pulse.opportunities.models import Opportunity, Stage
from pulse.opportunities.services import pipeline_ensure_defaults
from pulse.reports.engine import ReportDefinition
from pulse.reports.exports import (
    _csv_chunks,
    describe_filters,
    export_pdf,
    export_table,
)
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.extras.factories import make_custom_field
from tests.opportunities.factories import make_opportunity
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(org, owner):
    """Three open deals of the owner: two in the first stage (1,000 and 2,000), one in the
    second (4,000), one named like a spreadsheet formula."""
    with tenant_context(org, actor=owner):
        pipeline = pipeline_ensure_defaults(org=org, actor=owner)[0]
        stages = [s for s in Stage.objects.filter(pipeline=pipeline).order_by("position")]
        first, second = stages[0], stages[1]
        make_opportunity(org, owner, name="Alpha", stage=first, value=Decimal("1000"))
        make_opportunity(org, owner, name="=HYPERLINK(1)", stage=first, value=Decimal("2000"))
        make_opportunity(org, owner, name="Gamma", stage=second, value=Decimal("4000"))
    return {"first": first, "second": second}


@pytest.fixture
def grouped(org, owner, deals):
    with tenant_context(org, actor=owner):
        return make_report(org, owner, name="Pipeline by stage")


@pytest.fixture
def listing(org, owner, deals):
    with tenant_context(org, actor=owner):
        return make_report(
            org,
            owner,
            name="All deals",
            group_by=[],
            aggregates=[],
            columns=["name", "value"],
            ordering="value",
            chart_type="table",
        )


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_grouped_report_as_csv(org, owner, grouped, deals):
    response = login(owner, org).get(reverse("reports:report_export", args=[grouped.pk, "csv"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="pipeline-by-stage.csv"'
    rows = _csv(response)
    assert rows[0] == ["Stage", "Count", "Sum · Value"]
    body = {row[0]: row[1:] for row in rows[1:-1]}
    assert body == {
        str(deals["first"]): ["2", "3000.00"],
        str(deals["second"]): ["1", "4000.00"],
    }
    assert rows[-1] == ["Total", "3", "7000.00"]


def test_ungrouped_report_as_csv_neutralises_formulas(org, owner, listing):
    response = login(owner, org).get(reverse("reports:report_export", args=[listing.pk, "csv"]))

    rows = _csv(response)
    assert rows[0] == ["Name", "Value"]
    assert [row[0] for row in rows[1:]] == ["Alpha", "'=HYPERLINK(1)", "Gamma"]


def test_more_rows_than_the_limit_end_with_a_notice(org, owner, listing):
    with tenant_context(org, actor=owner):
        table = export_table(listing, user=owner, org=org, max_rows=2)
        rows = list(csv.reader(io.StringIO("".join(_csv_chunks(table))[1:])))
    assert [row[0] for row in rows[1:3]] == ["Alpha", "'=HYPERLINK(1)"]
    assert rows[3] == [
        "The report has more rows than fit an export: only the first 2 are included. "
        "Add filters to narrow it down."
    ]
    assert len(rows) == 4


def test_grouped_report_as_xlsx(org, owner, grouped, deals):
    response = login(owner, org).get(reverse("reports:report_export", args=[grouped.pk, "xlsx"]))

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == 'attachment; filename="pipeline-by-stage.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Pipeline by stage"
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Stage", "Count", "Sum · Value"]
    assert all(c.font.b for c in sheet[1])
    assert rows[1:3] == [
        [str(deals["first"]), 2, 3000],
        [str(deals["second"]), 1, 4000],
    ]
    assert sheet["B2"].number_format == "#,##0"
    assert sheet["C2"].number_format == "#,##0.00"
    assert rows[3] == ["Total", 3, 7000]
    assert all(c.font.b for c in sheet[4])


def test_report_as_pdf_with_the_chart(org, owner, grouped):
    response = login(owner, org).get(reverse("reports:report_export", args=[grouped.pk, "pdf"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="pipeline-by-stage.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_pdf_html_has_title_filters_chart_and_table(org, owner, grouped, deals, monkeypatch):
    from pulse.reports import exports

    captured = {}
    real = exports.render_to_string

    def spy(template, context):
        html = real(template, context)
        captured["html"] = html
        return html

    monkeypatch.setattr(exports, "render_to_string", spy)
    grouped.filters = [{"field": "stage", "op": "in", "value": [str(deals["first"].pk)]}]
    with tenant_context(org, actor=owner):
        pdf = export_pdf(grouped, user=owner, org=org)

    assert pdf.startswith(b"%PDF-")
    html = captured["html"]
    assert "<h1>Pipeline by stage</h1>" in html
    assert "Acme Ltd" in html
    assert f"<li>Stage is one of {deals['first'].pipeline.name} · {deals['first']}</li>" in html
    assert html.count('class="bar"') == 1  # one group after the filter: one bar
    assert "size: A4 landscape" in html
    assert "<td>Total</td>" in html


def test_filters_in_words(org, owner, deals):
    definition = ReportDefinition(
        record_type="opportunities",
        filters=[
            {"field": "value", "op": "gte", "value": 1000},
            {"field": "actual_close_date", "op": "period", "value": "this_quarter"},
            {"field": "stage", "op": "not_in", "value": [str(deals["second"].pk)]},
            {"field": "name", "op": "empty"},
        ],
        columns=["name"],
    )
    with tenant_context(org, actor=owner):
        words = describe_filters(definition, user=owner, org=org)
    assert words == [
        "Value is at least 1000",
        "Actual close date is in This quarter",
        f"Stage is none of {deals['second'].pipeline.name} · {deals['second']}",
        "Name is empty",
    ]


def test_a_report_that_cannot_run_goes_back_with_the_reason(org, owner, deals):
    with tenant_context(org, actor=owner):
        field = make_custom_field(
            org,
            owner,
            content_type=ContentType.objects.get_for_model(Opportunity),
            key="region",
            label="Region",
            field_type="text",
        )
        report = make_report(org, owner, group_by=[{"field": "cf_region"}])
        customfield_delete(field=field, actor=owner)
    client = login(owner, org)

    response = client.get(reverse("reports:report_export", args=[report.pk, "csv"]))

    assert response.status_code == 302
    assert response["Location"] == report.get_absolute_url()
    page = client.get(response["Location"])
    assert "The field “region” no longer exists; edit the report to remove it." in (
        page.content.decode()
    )


def test_unknown_format_is_404(org, owner, grouped):
    response = login(owner, org).get(reverse("reports:report_export", args=[grouped.pk, "doc"]))
    assert response.status_code == 404


def test_another_users_private_report_and_another_org_are_404(
    org, owner, rep, other_owner, other_org, grouped
):
    with tenant_context(org, actor=owner):
        private = make_report(org, owner, visibility="private")
    assert (
        login(rep, org).get(reverse("reports:report_export", args=[private.pk, "csv"])).status_code
        == 404
    )
    assert (
        login(other_owner, other_org)
        .get(reverse("reports:report_export", args=[grouped.pk, "csv"]))
        .status_code
        == 404
    )
    # The shared one is the rep's to export (their visible rows).
    assert (
        login(rep, org).get(reverse("reports:report_export", args=[grouped.pk, "csv"])).status_code
        == 200
    )


def test_a_role_that_may_not_export_the_record_type_is_refused(org, grouped):
    reader = make_member(org, Role.READ_ONLY, full_name="Rhea Reader")

    response = login(reader, org).get(reverse("reports:report_export", args=[grouped.pk, "csv"]))

    assert response.status_code == 403


def test_rows_are_the_exporters_visible_rows(org, owner, rep, grouped):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])

    response = login(rep, org).get(reverse("reports:report_export", args=[grouped.pk, "csv"]))

    rows = _csv(response)
    assert rows == [["Stage", "Count", "Sum · Value"], ["Total", "0", "0.00"]]


# --- API ---


def test_api_export_formats(org, owner, grouped):
    client = login(owner, org)
    url = reverse("reports:api-report-export", args=[grouped.pk])

    as_csv = client.get(url)
    as_xlsx = client.get(url, {"format": "xlsx"})
    as_pdf = client.get(url, {"format": "pdf"})

    assert as_csv.status_code == 200 and as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert _csv(as_csv)[-1] == ["Total", "3", "7000.00"]
    assert as_xlsx.status_code == 200
    assert load_workbook(io.BytesIO(as_xlsx.content)).active["A1"].value == "Stage"
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF-")


def test_api_export_bad_input_is_a_400_with_the_error_shape(org, owner, grouped, deals):
    client = login(owner, org)

    bad = client.get(reverse("reports:api-report-export", args=[grouped.pk]), {"format": "doc"})

    assert bad.status_code == 400
    assert bad.json() == {"errors": {"format": ["Choose csv, xlsx or pdf."]}}
    with tenant_context(org, actor=owner):
        field = make_custom_field(
            org,
            owner,
            content_type=ContentType.objects.get_for_model(Opportunity),
            key="region",
            label="Region",
            field_type="text",
        )
        broken = make_report(org, owner, group_by=[{"field": "cf_region"}])
        customfield_delete(field=field, actor=owner)
    failed = client.get(reverse("reports:api-report-export", args=[broken.pk]))
    assert failed.status_code == 400
    assert failed.json() == {
        "errors": {
            "cf_region": ["The field “region” no longer exists; edit the report to remove it."]
        }
    }


def test_api_export_of_another_org_is_404(other_owner, other_org, grouped):
    response = login(other_owner, other_org).get(
        reverse("reports:api-report-export", args=[grouped.pk])
    )
    assert response.status_code == 404
