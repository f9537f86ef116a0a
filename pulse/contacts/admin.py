"""Read-only admin pages: every change to contacts and companies goes through the
services (rule 3), i.e. the web UI or the API, never the admin's own save."""

from django.contrib import admin

from .models import Company, Contact


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Company)
class CompanyAdmin(ReadOnlyAdmin):
    list_display = ("name", "domain", "industry", "country", "assigned_to", "created_at")
    search_fields = ("name", "domain")
    list_select_related = ("assigned_to",)


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "email", "company", "lifecycle_stage", "assigned_to", "created_at")
    search_fields = ("first_name", "last_name", "email")
    list_select_related = ("company", "assigned_to")
