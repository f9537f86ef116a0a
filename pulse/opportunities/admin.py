"""Admin of opportunities (through TenantAdmin like the other apps)."""

from django.contrib import admin

from pulse.core.admin import TenantAdmin

from .models import LossReason, Opportunity, Pipeline, Quota, Stage


@admin.register(Pipeline)
class PipelineAdmin(TenantAdmin):
    list_display = ("name", "organization", "position", "is_default")


@admin.register(Stage)
class StageAdmin(TenantAdmin):
    list_display = ("name", "pipeline", "position", "probability", "type", "rotting_days")


@admin.register(LossReason)
class LossReasonAdmin(TenantAdmin):
    list_display = ("name", "organization", "position", "active")


@admin.register(Opportunity)
class OpportunityAdmin(TenantAdmin):
    list_display = ("name", "organization", "stage", "value", "currency", "status")
    raw_id_fields = ("contact", "company", "lead", "assigned_to")


@admin.register(Quota)
class QuotaAdmin(TenantAdmin):
    list_display = ("__str__", "organization", "metric", "target")
