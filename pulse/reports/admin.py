from django.contrib import admin

from pulse.core.admin import TenantAdmin

from .models import Dashboard, Report, ReportSchedule


@admin.register(Report)
class ReportAdmin(TenantAdmin):
    list_display = ("name", "record_type", "chart_type", "visibility", "owner", "organization")
    list_filter = ("record_type", "visibility")
    search_fields = ("name",)


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantAdmin):
    list_display = ("report", "frequency", "format", "active", "next_run_at", "last_status")


@admin.register(Dashboard)
class DashboardAdmin(TenantAdmin):
    list_display = ("name", "owner", "is_default", "organization")
