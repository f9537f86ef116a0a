"""Ready-made reports: created once per organization, shared, and each one runs."""

from __future__ import annotations

import pytest

from pulse.core.tenancy import tenant_context
from pulse.reports.engine import ReportDefinition, run_report
from pulse.reports.models import Report
from pulse.reports.services import READY_MADE_REPORTS, report_ensure_defaults
from tests.opportunities.factories import make_opportunity

pytestmark = pytest.mark.django_db


def test_ensure_defaults_is_idempotent_and_shared(org, owner, other_org):
    with tenant_context(org, actor=owner):
        first = report_ensure_defaults(org=org, actor=owner)
        again = report_ensure_defaults(org=org, actor=owner)
    assert [r.pk for r in first] == [r.pk for r in again]
    assert [r.key for r in first] == list(READY_MADE_REPORTS)
    assert {(r.visibility, r.owner_id) for r in first} == {("shared", None)}
    assert all(r.description for r in first)
    assert Report.objects.unscoped().filter(organization=org).count() == 8
    assert not Report.objects.unscoped().filter(organization=other_org).exists()
    names = {r.key: (r.name, r.chart_type) for r in first}
    assert names["sales_by_rep"] == ("Sales performance by rep", "bar")
    assert names["pipeline_by_stage"] == ("Pipeline by stage", "funnel")
    assert names["customer_lifetime_value"] == ("Customer lifetime value", "table")


def test_a_deleted_ready_made_report_comes_back(org, owner):
    from pulse.reports.services import report_delete

    with tenant_context(org, actor=owner):
        reports = report_ensure_defaults(org=org, actor=owner)
        report_delete(report=reports[0], actor=owner)
        again = report_ensure_defaults(org=org, actor=owner)
    assert again[0].pk != reports[0].pk and again[0].key == reports[0].key


def test_every_ready_made_report_runs(org, owner, rep):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner)
        reports = report_ensure_defaults(org=org, actor=owner)
        for report in reports:
            result = run_report(ReportDefinition.from_report(report), user=rep, org=org)
            assert result.grouped, report.key
        pipeline = next(r for r in reports if r.key == "pipeline_by_stage")
        result = run_report(ReportDefinition.from_report(pipeline), user=owner, org=org)
    assert result.totals["count"] == 1
    assert result.chart.type == "funnel"
