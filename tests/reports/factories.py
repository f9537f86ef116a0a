"""Reports, schedules and dashboards for tests, made through the services."""

from __future__ import annotations

import itertools

from pulse.core.services import record_create
from pulse.core.testing import register_factory
from pulse.reports.models import (
    Dashboard,
    DashboardWidget,
    Report,
    ReportDelivery,
    ReportSchedule,
)
from pulse.reports.services import report_create

_n = itertools.count(1)


@register_factory(Report)
def make_report(org, actor, **fields):
    """A shared report of opportunities grouped by stage (count and value) by default."""
    fields.setdefault("name", f"Report #{next(_n)}")
    fields.setdefault("record_type", "opportunities")
    fields.setdefault("group_by", [{"field": "stage"}])
    fields.setdefault("aggregates", [{"fn": "count"}, {"fn": "sum", "field": "value"}])
    fields.setdefault("chart_type", "bar")
    fields.setdefault("visibility", "shared")
    return report_create(org=org, actor=actor, **fields)


@register_factory(ReportSchedule)
def make_report_schedule(org, actor, **fields):
    """A weekly PDF of a new report to the actor (switch to schedule_create when it exists)."""
    report = fields.pop("report", None) or make_report(org, actor)
    recipients = fields.pop("recipients", [actor])
    schedule = record_create(ReportSchedule, org=org, actor=actor, report=report, **fields)
    schedule.recipients.set(recipients)
    return schedule


@register_factory(Dashboard)
def make_dashboard(org, actor, **fields):
    """The actor's own dashboard; when they have one already (one per user), a published
    one (to the sales reps), so every call makes a new dashboard."""
    fields.setdefault("name", "My dashboard")
    if "owner" not in fields:
        has_own = (
            Dashboard.objects.unscoped()
            .filter(organization=org, owner=actor, deleted_at__isnull=True)
            .exists()
        )
        fields["owner"] = None if has_own else actor
        if has_own:
            fields.setdefault("roles", ["sales_rep"])
    return record_create(Dashboard, org=org, actor=actor, **fields)


@register_factory(DashboardWidget)
def make_dashboard_widget(org, actor, **fields):
    # One own dashboard per user (a constraint): reuse the actor's when there is one.
    dashboard = (
        fields.pop("dashboard", None)
        or Dashboard.objects.unscoped()
        .filter(organization=org, owner=actor, deleted_at__isnull=True)
        .first()
        or make_dashboard(org, actor)
    )
    fields.setdefault("kind", "open_pipeline")
    return record_create(DashboardWidget, org=org, actor=actor, dashboard=dashboard, **fields)


@register_factory(ReportDelivery)
def make_report_delivery(org, actor, **fields):
    from django.utils import timezone

    schedule = fields.pop("schedule", None) or make_report_schedule(org, actor)
    fields.setdefault("ran_at", timezone.now())
    fields.setdefault("status", "sent")
    return ReportDelivery.objects.create(organization=org, schedule=schedule, **fields)
