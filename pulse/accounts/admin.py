"""Django admin for operators: people, organizations, memberships and teams.

Tenant rows (memberships, teams) show the superuser's current organization only
and are written through the audited record services (pulse.core.admin.TenantAdmin).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from pulse.core.admin import TenantAdmin

from .models import Membership, Organization, Team, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_staff", "date_joined")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("full_name", "language")}),
        (_("Status"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )
    filter_horizontal = ()
    list_filter = ("is_active", "is_staff")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "default_currency", "record_visibility", "created_at")
    search_fields = ("name", "slug")


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(TenantAdmin):
    list_display = ("name", "manager", "created_at")
    raw_id_fields = ("manager", "members")
