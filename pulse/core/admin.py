"""Admin base class for tenant records.

The admin works inside the signed-in superuser's current organization (the
TenantMiddleware context), and writes go through the generic record services so
they are validated, versioned and audited with source "admin" like any other write.
"""

from __future__ import annotations

from django.contrib import admin

from .services import record_delete
from .tenancy import get_current_org


class TenantAdmin(admin.ModelAdmin):
    """ModelAdmin for TenantModel subclasses: current organization only, soft delete."""

    readonly_fields = ("created_at", "created_by", "updated_at", "updated_by", "version")
    list_display = ("__str__", "created_at", "updated_at")

    def get_queryset(self, request):
        if get_current_org() is None:  # a superuser who belongs to no organization
            return self.model.objects.unscoped().none()
        return self.model.objects.all()

    def has_add_permission(self, request):
        return get_current_org() is not None and super().has_add_permission(request)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.organization = get_current_org()
            obj.created_by = request.user
        obj.updated_by = request.user
        if change and obj.version is not None:
            obj.version = obj.version + 1
        obj.save()

    def delete_model(self, request, obj):
        record_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_delete(obj, actor=request.user)
