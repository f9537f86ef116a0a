"""Issue 7 in a real browser (headless chromium): a sales rep builds a grouped report
(opportunities by stage, count, bar chart) in the builder, sees the live preview draw the
chart, saves it, puts it on the dashboard and finds the report's widget there, drawn."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import pytest
from django.db import OperationalError

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.opportunities.services import default_pipeline
from pulse.reports.models import DashboardWidget, Report
from tests.accounts.factories import PASSWORD, OrganizationFactory, make_member
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.opportunities.factories import make_opportunity
from tests.reports.test_dashboard_browser import drag, order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("PULSE_REPORT_SCREENSHOTS", "")
CHART_DRAWN = """(selector) => {
  const canvas = document.querySelector(selector);
  const chart = canvas && window.Chart && window.Chart.getChart(canvas);
  return chart ? {type: chart.config.type, labels: chart.data.labels,
                  data: chart.data.datasets[0].data} : null;
}"""


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    size = page.viewport_size
    if width:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(400)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width and size:
        page.set_viewport_size(size)


def sign_in(page, email: str) -> None:  # noqa: F811
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/$"))


def chart_of(page, selector: str, *, data: list | None = None) -> dict:  # noqa: F811
    """The chart drawn on the canvas at ``selector`` (waiting until its data is ``data``)."""
    want = "null" if data is None else repr(data)
    page.wait_for_function(
        f"""() => {{ const c = ({CHART_DRAWN})({selector!r}); const want = {want};
        return c !== null
          && (want === null || JSON.stringify(c.data) === JSON.stringify(want)); }}"""
    )
    return page.evaluate(CHART_DRAWN, selector)


def test_build_a_grouped_report_and_put_it_on_the_dashboard(page, live_server):  # noqa: F811
    org = OrganizationFactory(name="Rila Outdoor")
    rep = make_member(org, Role.SALES_REP, email="rita@example.com", full_name="Rita Rep")
    with tenant_context(org, actor=rep):
        stages = {s.name: s for s in default_pipeline(org).stages.all()}
        for value in (1000, 2000, 3000):
            make_opportunity(org, rep, value=Decimal(value), stage=stages["Qualification"])
        for value in (500, 1500):
            make_opportunity(org, rep, value=Decimal(value), stage=stages["Proposal"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "rita@example.com")

    # 1. From the sidebar to the builder.
    page.click("nav a:has-text('Reports')")
    page.wait_for_url(re.compile(r"/reports/$"))
    page.click("[data-testid=new-report]")
    page.wait_for_url(re.compile(r"/reports/new/$"))

    # 2. Opportunities, grouped by stage, counted, drawn as bars.
    assert page.input_value("[data-testid=record-type]") == "opportunities"
    page.select_option("[data-testid=group-0-field]", "stage")
    page.click("label[for=chart-type-bar]")
    page.fill("[data-testid=report-name]", "Deals by stage")

    # 3. The live preview draws the chart and the table of the unsaved report.
    preview = chart_of(page, "#report-preview canvas[data-chart]")
    assert preview == {"type": "bar", "labels": ["Qualification", "Proposal"], "data": [3, 2]}
    groups = page.locator("#report-preview [data-testid=report-group]")
    assert groups.count() == 2
    assert groups.nth(0).inner_text().split() == ["Qualification", "3"]
    shot(page, "01-builder-preview")
    shot(page, "01-builder-preview-phone", width=390)

    # A filter row fits its field: value ≥ 1,000 leaves Proposal one deal. Switching the
    # chart type redraws the preview's chart in place.
    page.click("[data-testid=add-filter]")
    row = page.locator("[data-testid=filter-row]").last
    row.locator("[data-testid=filter-field]").select_option("value")
    # The server redraws the row for the chosen field; choose the operator once it is
    # back (a choice made before would be replaced by the redrawn row).
    page.locator("[data-testid=filter-row]").last.locator(
        "[data-testid=filter-field] option[value=value][selected]"
    ).wait_for(state="attached")
    row = page.locator("[data-testid=filter-row]").last
    row.locator("[data-testid=filter-op]").select_option("gte")
    # The row is redrawn by the server for the operator; type once it is back.
    page.locator("[data-testid=filter-op] option[value=gte][selected]").wait_for(state="attached")
    row = page.locator("[data-testid=filter-row]").last
    row.locator("[data-testid=filter-value] input").fill("1000")
    chart_of(page, "#report-preview canvas[data-chart]", data=[3, 1])
    page.click("label[for=chart-type-line]")
    page.wait_for_function(
        "() => { const c = document.querySelector('#report-preview canvas');"
        " return c && Chart.getChart(c) && Chart.getChart(c).config.type === 'line'; }"
    )
    page.click("label[for=chart-type-bar]")
    page.wait_for_function(
        "() => { const c = document.querySelector('#report-preview canvas');"
        " return c && Chart.getChart(c) && Chart.getChart(c).config.type === 'bar'; }"
    )
    assert page.evaluate("Object.keys(Chart.instances).length") == 1

    # 4. Save: the report page shows it.
    page.click("[data-testid=save-report]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    with tenant_context(org):
        report = Report.objects.get(name="Deals by stage")
    assert (report.owner_id, report.record_type, report.chart_type) == (
        rep.pk,
        "opportunities",
        "bar",
    )
    assert report.group_by == [{"field": "stage"}]
    assert report.aggregates == [{"fn": "count"}]
    assert [(f["field"], f["op"], Decimal(str(f["value"]))) for f in report.filters] == [
        ("value", "gte", Decimal(1000))
    ]
    assert chart_of(page, "[data-testid=report-chart]")["data"] == [3, 1]
    shot(page, "02-report-page")

    # 5. Add it to the dashboard: the dashboard shows the report's widget, drawn.
    page.click("[data-testid=add-to-dashboard]")
    page.wait_for_url(re.compile(r"/$"))
    with tenant_context(org):
        widget = DashboardWidget.objects.get(kind="report", report=report)
    assert widget.dashboard.owner_id == rep.pk
    card = page.locator(f"#widget-{widget.pk}")
    card.wait_for()
    assert "Deals by stage" in card.locator("[data-testid=widget-title]").inner_text()
    drawn = chart_of(page, f"#widget-{widget.pk} canvas[data-chart]")
    assert drawn["labels"] == ["Qualification", "Proposal"] and drawn["data"] == [3, 1]
    shot(page, "03-dashboard")

    # 6. Rearrange: drag the report's widget (the last) before the one above it; the new
    # order survives a reload.
    page.click("[data-testid=customize]")
    page.locator("#dashboard.customizing").wait_for()
    widgets = page.locator("#dashboard-grid > [data-testid=dashboard-widget]")
    before = order(page)
    assert before[-1] == "report"
    drag(page, card, widgets.nth(len(before) - 2))
    arranged = [*before[:-2], "report", before[-2]]
    page.wait_for_function(
        "(n) => document.querySelectorAll('#dashboard-grid > [data-testid=dashboard-widget]')"
        "[n].dataset.kind === 'report'",
        arg=len(before) - 2,
    )
    assert order(page) == arranged
    with tenant_context(org):  # the reorder request lands after the drop
        for _ in range(50):
            try:
                widget.refresh_from_db()
            except OperationalError:
                # SQLite's shared in-memory test database: the server is writing right now.
                page.wait_for_timeout(100)
                continue
            if widget.position == len(before) - 2:
                break
            page.wait_for_timeout(100)
    assert widget.position == len(before) - 2
    page.goto("/")
    page.locator("[data-testid=dashboard-widget]").first.wait_for()
    assert order(page) == arranged
    assert errors == []  # no script failed on the way
