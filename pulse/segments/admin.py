"""Read-only admin pages: segments change through the services (web UI or API)."""

from django.contrib import admin

from pulse.contacts.admin import ReadOnlyAdmin

from .models import Segment


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "assigned_to", "created_at")
    search_fields = ("name",)
    list_select_related = ("assigned_to",)
