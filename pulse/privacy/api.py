"""REST API of privacy: ``/api/crm/consents/`` and ``/api/crm/privacy-requests/``.

Thin twins of the pages (rule 4): same querysets (``restrict``), FilterSets and services.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from pulse.accounts.permissions import can
from pulse.contacts.api import TenantRelatedField
from pulse.contacts.models import Contact
from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin

from . import services
from .filtersets import ConsentRecordFilterSet, PrivacyRequestFilterSet
from .models import ConsentRecord, PrivacyRequest, RequestKind, RequestStatus


class ConsentRecordSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A consent (or other lawful basis) of a contact for one purpose."""

    contact_id = TenantRelatedField(model=Contact, source="contact")
    is_active = serializers.BooleanField(read_only=True)
    version = serializers.IntegerField(required=False)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "contact_id",
            "purpose",
            "lawful_basis",
            "source",
            "given_at",
            "withdrawn_at",
            "is_active",
            "notes",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"given_at": {"required": False}}


class WithdrawSerializer(serializers.Serializer):
    withdrawn_at = serializers.DateTimeField(required=False, help_text=_("Default: now."))


@extend_schema_view(
    list=extend_schema(summary="List consent records"),
    retrieve=extend_schema(summary="Get a consent record"),
    create=extend_schema(summary="Record a consent"),
    update=extend_schema(summary="Replace a consent record"),
    partial_update=extend_schema(summary="Correct a consent record"),
    destroy=extend_schema(summary="Move a consent record to the trash"),
)
class ConsentRecordViewSet(TenantModelViewSet):
    """Consents: filter by ``contact``, ``purpose``, ``lawful_basis``, ``source``, ``active``."""

    model = ConsentRecord
    serializer_class = ConsentRecordSerializer
    filterset_class = ConsentRecordFilterSet
    permission_map = {"withdraw": "edit"}

    def create_record(self, data):
        return services.consent_record(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.consent_update(
            consent=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.consent_delete(consent=instance, actor=self.request.user)

    @extend_schema(
        summary="Withdraw a consent", request=WithdrawSerializer, responses=ConsentRecordSerializer
    )
    @action(detail=True, methods=["post"], url_path="withdraw")
    def withdraw(self, request, pk=None):
        consent = self.get_object()
        payload = WithdrawSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        consent = services.consent_withdraw(
            consent=consent,
            actor=request.user,
            withdrawn_at=payload.validated_data.get("withdrawn_at"),
        )
        return Response(self.get_serializer(consent).data)


def _enum_field(choices, component_name: str, description: str):
    """A choice field with its own schema component (``kind``/``status`` name other enums)."""

    @extend_schema_field(
        {"type": "string", "enum": list(choices.values), "description": description},
        component_name=component_name,
    )
    class Field(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=choices.choices, **kwargs)

    Field.__name__ = f"{component_name}Field"
    return Field


PrivacyRequestKindField = _enum_field(RequestKind, "PrivacyRequestKind", "export or erase")
PrivacyRequestStatusField = _enum_field(
    RequestStatus, "PrivacyRequestStatus", "pending, running, completed or failed"
)


class PrivacyRequestSerializer(serializers.ModelSerializer):
    """An export or erasure request; ``confirmation`` (``ERASE``) is needed for an erasure."""

    contact_id = TenantRelatedField(model=Contact, source="contact", allow_null=True)
    confirmation = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text=_("For an erasure: the word ERASE."),
    )
    kind = PrivacyRequestKindField()
    status = PrivacyRequestStatusField(read_only=True)
    requested_by = serializers.PrimaryKeyRelatedField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = PrivacyRequest
        fields = [
            "id",
            "contact_id",
            "subject_label",
            "kind",
            "status",
            "notes",
            "confirmation",
            "requested_by",
            "created_at",
            "completed_at",
            "download_url",
            "error",
        ]
        read_only_fields = [
            "id",
            "subject_label",
            "status",
            "requested_by",
            "created_at",
            "completed_at",
            "error",
        ]

    def get_download_url(self, obj) -> str | None:
        if not obj.export_file:
            return None
        return reverse("privacyrequest-download", kwargs={"pk": obj.pk})

    def validate(self, attrs):
        if attrs.get("contact") is None:
            raise serializers.ValidationError({"contact_id": [_("Choose a contact.")]})
        return attrs


@extend_schema_view(
    list=extend_schema(summary="List privacy requests"),
    retrieve=extend_schema(summary="Get a privacy request"),
    create=extend_schema(summary="Export or erase a contact's data"),
)
class PrivacyRequestViewSet(TenantModelViewSet):
    """Export (``kind=export``) or erase (``kind=erase``, admins, ``confirmation=ERASE``)."""

    model = PrivacyRequest
    serializer_class = PrivacyRequestSerializer
    filterset_class = PrivacyRequestFilterSet
    select_related = ("contact", "requested_by")
    # Requests are a log: created, never edited or deleted.
    http_method_names = ["get", "post", "head", "options"]
    permission_map = {"download": "view"}

    def create_record(self, data):
        common = {
            "org": self.request.organization,
            "actor": self.request.user,
            "contact": data["contact"],
            "notes": data.get("notes", ""),
        }
        if data["kind"] == RequestKind.ERASE:
            return services.privacy_erase(**common, confirmation=data.get("confirmation", ""))
        return services.privacy_export(**common)

    @extend_schema(
        summary="Download an export's JSON file",
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
            404: OpenApiResponse(description="Not ready or not found"),
        },
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        privacy_request = self.get_object()
        if not can(request.user, "export", Contact):
            raise PermissionDenied
        if not privacy_request.export_file:
            raise Http404
        try:
            handle = default_storage.open(privacy_request.export_file, "rb")
        except FileNotFoundError:
            raise Http404
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"privacy-export-{str(privacy_request.pk)[:8]}.json",
            content_type="application/json",
        )


routes = [
    ("consents", ConsentRecordViewSet, "consentrecord"),
    ("privacy-requests", PrivacyRequestViewSet, "privacyrequest"),
]
