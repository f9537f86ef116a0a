"""Dashboard (the home page), reports and their schedules."""

from django.urls import path

from . import api, views  # api: the export route (H3)

app_name = "reports"

urlpatterns = [
    # --- dashboard (H5) ---
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("dashboard/dialogs/", views.DashboardDialogsView.as_view(), name="dashboard_dialogs"),
    path("dashboard/scope/", views.DashboardScopeView.as_view(), name="dashboard_scope"),
    path("dashboard/reorder/", views.DashboardReorderView.as_view(), name="dashboard_reorder"),
    path("dashboard/reset/", views.DashboardResetView.as_view(), name="dashboard_reset"),
    path("dashboard/publish/", views.DashboardPublishView.as_view(), name="dashboard_publish"),
    path(
        "dashboard/widgets/add/",
        views.DashboardWidgetAddView.as_view(),
        name="dashboard_widget_add",
    ),
    path(
        "dashboard/widgets/<uuid:pk>/",
        views.DashboardWidgetView.as_view(),
        name="dashboard_widget",
    ),
    path(
        "dashboard/widgets/<uuid:pk>/update/",
        views.DashboardWidgetUpdateView.as_view(),
        name="dashboard_widget_update",
    ),
    path(
        "dashboard/widgets/<uuid:pk>/remove/",
        views.DashboardWidgetRemoveView.as_view(),
        name="dashboard_widget_remove",
    ),
    # --- report builder and report pages (H2) ---
    path("reports/", views.ReportListView.as_view(), name="report_list"),
    path("reports/new/", views.ReportBuilderView.as_view(), name="report_create"),
    path("reports/preview/", views.ReportPreviewView.as_view(), name="report_preview"),
    path("reports/builder/filter/", views.ReportFilterRowView.as_view(), name="report_filter_row"),
    path("reports/<uuid:pk>/", views.ReportDetailView.as_view(), name="report_detail"),
    path("reports/<uuid:pk>/edit/", views.ReportBuilderView.as_view(), name="report_edit"),
    path("reports/<uuid:pk>/copy/", views.ReportCopyView.as_view(), name="report_copy"),
    path("reports/<uuid:pk>/delete/", views.ReportDeleteView.as_view(), name="report_delete"),
    path(
        "reports/<uuid:pk>/add-to-dashboard/",
        views.ReportAddToDashboardView.as_view(),
        name="report_add_to_dashboard",
    ),
    # --- exports (H3) ---
    path(
        "reports/<uuid:pk>/export/<str:fmt>/",
        views.ReportExportView.as_view(),
        name="report_export",
    ),
    # The API's export (a file, not JSON): its own path beside the router's /api/crm/reports/.
    path(
        "api/crm/reports/<uuid:pk>/export/",
        api.ReportExportAPIView.as_view(),
        name="api-report-export",
    ),
    # --- schedules (H3) ---
    path("reports/schedules/", views.ReportScheduleListView.as_view(), name="schedule_list"),
    path(
        "reports/<uuid:pk>/schedules/",
        views.ReportSchedulePanelView.as_view(),
        name="schedule_panel",
    ),
    path(
        "reports/<uuid:pk>/schedules/new/",
        views.ReportScheduleCreateView.as_view(),
        name="schedule_create",
    ),
    path(
        "reports/schedules/<uuid:pk>/edit/",
        views.ReportScheduleEditView.as_view(),
        name="schedule_edit",
    ),
    path(
        "reports/schedules/<uuid:pk>/delete/",
        views.ReportScheduleDeleteView.as_view(),
        name="schedule_delete",
    ),
]
