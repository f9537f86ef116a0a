"""Read-only admin pages of imports: runs and undos go through the import services."""

from django.contrib import admin

from pulse.core.admin import TenantAdmin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(TenantAdmin):
    list_display = (
        "original_name",
        "target",
        "status",
        "created_count",
        "updated_count",
        "skipped_count",
        "failed_count",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "target")
    search_fields = ("original_name",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
