"""Admin of leads (read-mostly, through TenantAdmin like the other apps)."""

from __future__ import annotations

# --- leads and stages (A) ---
from django.contrib import admin  # noqa: E402

from pulse.core.admin import TenantAdmin  # noqa: E402

from .models import Lead, LeadStage  # noqa: E402


@admin.register(Lead)
class LeadAdmin(TenantAdmin):
    list_display = ("title", "stage", "score", "value", "currency", "assigned_to", "created_at")
    list_filter = ("source",)
    search_fields = ("title", "email", "first_name", "last_name", "company_name")
    list_select_related = ("stage", "assigned_to")
    raw_id_fields = ("contact", "assigned_to", "converted_contact", "converted_company")


@admin.register(LeadStage)
class LeadStageAdmin(TenantAdmin):
    list_display = ("name", "key", "kind", "position", "requires_reason")
    ordering = ("position",)
