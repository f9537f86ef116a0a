"""Read-only admin pages: consents and requests change through the services only."""

from django.contrib import admin

from pulse.contacts.admin import ReadOnlyAdmin

from .models import ConsentRecord, PrivacyRequest


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ("purpose", "contact", "lawful_basis", "source", "given_at", "withdrawn_at")
    list_select_related = ("contact",)


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnlyAdmin):
    list_display = ("kind", "subject_label", "status", "requested_by", "created_at")
    list_select_related = ("requested_by",)
