"""Reads of reports and dashboards, scoped to the tenant and the viewer."""

from __future__ import annotations

from django.db.models import F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext_lazy as _

from .models import Dashboard, DashboardWidget, Report, ReportDelivery, ReportSchedule

# --- reports (H1/H2) --------------------------------------------------------------------------


def report_list(*, user, action: str = "view") -> QuerySet[Report]:
    """Reports ``user`` may ``action``: their own and the shared ones."""
    return Report.objects.restrict(user, action).select_related("owner")


def report_search(
    *, user, query: str = "", record_type: str = "", show: str = "all"
) -> QuerySet[Report]:
    """The reports people built (not the ready-made ones) that ``user`` may see, found by
    name, record type and whose (``mine`` · ``shared`` · ``all``), newest change first. (H2)"""
    qs = report_list(user=user).filter(key="")
    if query:
        qs = qs.filter(name__icontains=query)
    if record_type:
        qs = qs.filter(record_type=record_type)
    if show == "mine":
        qs = qs.filter(owner_id=user.pk)
    elif show == "shared":
        qs = qs.filter(visibility="shared")
    return qs.order_by("-updated_at", "-pk")


def report_ready_made(*, user) -> QuerySet[Report]:
    """The organization's ready-made reports (``key`` set) that ``user`` may see. (H2)"""
    return report_list(user=user).exclude(key="").order_by("name")


# --- schedules (H3) ---------------------------------------------------------------------------


RECENT_DELIVERIES = 5  # shown per schedule on the schedules page


def schedule_list(*, user, report=None, action: str = "view") -> QuerySet[ReportSchedule]:
    """Schedules ``user`` may manage (their reports' and the ones they made; admins all),
    with report, creator and recipients loaded; only ``report``'s when given."""
    qs = (
        ReportSchedule.objects.restrict(user, action)
        .filter(report__deleted_at__isnull=True)
        .select_related("report", "created_by")
        .prefetch_related("recipients")
    )
    if report is not None:
        qs = qs.filter(report=report)
    return qs.order_by("report__name", "created_at")


def schedule_deliveries(*, schedule: ReportSchedule) -> QuerySet[ReportDelivery]:
    """A schedule's deliveries, newest first."""
    return ReportDelivery.objects.filter(schedule=schedule).order_by("-ran_at")


def attach_recent_deliveries(schedules, *, limit: int = RECENT_DELIVERIES) -> list:
    """Give each schedule its latest ``limit`` deliveries as ``recent_deliveries`` (one
    query for the page, bounded per schedule by a window function)."""
    schedules = list(schedules)
    by_schedule: dict = {s.pk: [] for s in schedules}
    if by_schedule:
        recent = (
            ReportDelivery.objects.filter(schedule_id__in=list(by_schedule))
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("schedule_id")], order_by=F("ran_at").desc()
                )
            )
            .filter(rank__lte=limit)
            .order_by("schedule_id", "-ran_at")
        )
        for delivery in recent:
            by_schedule[delivery.schedule_id].append(delivery)
    for schedule in schedules:
        schedule.recent_deliveries = by_schedule[schedule.pk]
    return schedules


# --- dashboards (H5) --------------------------------------------------------------------------


WIDGET_GROUPS = {
    "leads": _("Leads"),
    "pipeline": _("Pipeline"),
    "forecast": _("Forecast"),
    "activities": _("Activities"),
    "team": _("Team"),
    "engagement": _("Customer engagement"),
}


def dashboard_widgets(dashboard: Dashboard) -> list[DashboardWidget]:
    """The dashboard's live widgets in grid order, with their reports."""
    return list(
        DashboardWidget.objects.unscoped()
        .filter(dashboard_id=dashboard.pk, deleted_at__isnull=True)
        .select_related("report")
        .order_by("position", "created_at")
    )


def dashboard_list(*, user, action: str = "view") -> QuerySet[Dashboard]:
    """Dashboards ``user`` may ``action``: their own and the published ones, with widgets."""
    live_widgets = DashboardWidget.objects.filter(deleted_at__isnull=True).order_by(
        "position", "created_at"
    )
    return (
        Dashboard.objects.restrict(user, action)
        .select_related("owner", "scope_team")
        .prefetch_related("teams", Prefetch("widgets", queryset=live_widgets))
        .order_by("owner_id", "name", "created_at")
    )


def dashboard_widget_for(*, user, pk, action: str = "view") -> DashboardWidget | None:
    """A widget ``user`` may ``action`` (own dashboard's, or a published one's), or None."""
    return (
        DashboardWidget.objects.restrict(user, action)
        .filter(pk=pk, dashboard__deleted_at__isnull=True)
        .select_related("dashboard", "dashboard__scope_team", "report")
        .first()
    )


def widget_catalogue() -> list[tuple[str, list]]:
    """``WIDGETS`` grouped by ``group`` (in the groups' order), for the "Add widget" dialog."""
    from .metrics import WIDGETS

    groups: dict[str, list] = {}
    for spec in WIDGETS.values():
        groups.setdefault(spec.group or "", []).append(spec)
    order = list(WIDGET_GROUPS)
    keys = sorted(groups, key=lambda g: (order.index(g) if g in order else len(order), g))
    return [(str(WIDGET_GROUPS.get(key, key.title() or _("Other"))), groups[key]) for key in keys]
