"""API of tags, custom field definitions, saved views and notifications.

Thin twins of the views: the same querysets (``restrict``), FilterSets and services.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, filters, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pulse.core.api import (
    TenantModelViewSet,
    TenantReadOnlyModelViewSet,
    VersionedSerializerMixin,
)
from pulse.core.tenancy import get_current_org

from . import services
from .filters import model_for_record_type
from .filtersets import (
    CustomFieldFilterSet,
    NotificationFilterSet,
    SavedViewFilterSet,
    TagFilterSet,
)
from .models import BulkJob, CustomField, Notification, SavedView, Tag

# --- shared fields --------------------------------------------------------------------


@extend_schema_field({"type": "string", "example": "contacts.contact"})
class RecordTypeField(serializers.Field):
    """A record type as its stable label ``app_label.model`` (e.g. ``contacts.contact``)."""

    def to_representation(self, value: ContentType) -> str:
        return f"{value.app_label}.{value.model}"

    def to_internal_value(self, data) -> ContentType:
        model = model_for_record_type(str(data).strip().lower()) if data else None
        if model is None:
            raise serializers.ValidationError(_("Unknown record type."))
        return ContentType.objects.get_for_model(model)


class ServiceViewSetMixin:
    """Writes go through services with the request's organization and user (rule 3)."""

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user}

    @property
    def org(self):
        return get_current_org()


# --- tags -----------------------------------------------------------------------------


class TagSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color", "version", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class TagViewSet(ServiceViewSetMixin, TenantModelViewSet):
    """Tags: ``search`` matches part of the name; ``ordering`` by name or created_at."""

    model = Tag
    serializer_class = TagSerializer
    filterset_class = TagFilterSet
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]

    def create_record(self, data):
        return services.tag_create(org=self.org, **self.service_kwargs(), **data)

    def update_record(self, instance, data, expected_version):
        return services.tag_update(
            tag=instance, expected_version=expected_version, **self.service_kwargs(), **data
        )

    def delete_record(self, instance):
        services.tag_delete(tag=instance, **self.service_kwargs())


# --- custom fields --------------------------------------------------------------------


class CustomFieldSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    record_type = RecordTypeField(source="content_type")

    class Meta:
        model = CustomField
        fields = [
            "id",
            "record_type",
            "key",
            "label",
            "field_type",
            "choices",
            "required",
            "help_text",
            "position",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"position": {"required": False}}


class CustomFieldViewSet(ServiceViewSetMixin, TenantModelViewSet):
    """Custom field definitions. Everyone reads them; owners and admins change them.

    ``key``, ``record_type`` and ``field_type`` are fixed once created.
    """

    model = CustomField
    serializer_class = CustomFieldSerializer
    filterset_class = CustomFieldFilterSet
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    ordering_fields = ["position", "label", "created_at"]
    ordering = ["content_type_id", "position", "label", "id"]
    select_related = ("content_type",)

    def create_record(self, data):
        return services.customfield_create(org=self.org, **self.service_kwargs(), **data)

    def update_record(self, instance, data, expected_version):
        return services.customfield_update(
            field=instance, expected_version=expected_version, **self.service_kwargs(), **data
        )

    def delete_record(self, instance):
        services.customfield_delete(field=instance, **self.service_kwargs())


# --- saved views ----------------------------------------------------------------------


class SavedViewSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    record_type = RecordTypeField(source="content_type")
    querystring = serializers.CharField(read_only=True)

    class Meta:
        model = SavedView
        fields = [
            "id",
            "record_type",
            "name",
            "shared",
            "filters",
            "columns",
            "ordering",
            "querystring",
            "owner",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class SavedViewViewSet(ServiceViewSetMixin, TenantModelViewSet):
    """Saved list views: yours and the organization's shared ones.

    Only the owner (or an admin) changes or deletes a view; ``record_type`` is fixed.
    """

    model = SavedView
    serializer_class = SavedViewSerializer
    filterset_class = SavedViewFilterSet
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]
    select_related = ("content_type",)

    def create_record(self, data):
        return services.savedview_create(org=self.org, **self.service_kwargs(), **data)

    def update_record(self, instance, data, expected_version):
        content_type = data.pop("content_type", None)
        if content_type is not None and content_type.pk != instance.content_type_id:
            raise exceptions.ValidationError(
                {"record_type": [_("This cannot be changed once the view exists.")]}
            )
        return services.savedview_update(
            view=instance, expected_version=expected_version, **self.service_kwargs(), **data
        )

    def delete_record(self, instance):
        services.savedview_delete(view=instance, **self.service_kwargs())


# --- notifications --------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "verb", "body", "url", "read", "read_at", "created_at"]
        read_only_fields = fields

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationViewSet(ServiceViewSetMixin, TenantReadOnlyModelViewSet):
    """Your notifications, newest first (``?unread=true`` for unread ones).

    ``POST {id}/read/`` marks one read, ``POST read-all/`` all of them.
    """

    model = Notification
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilterSet
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    permission_map = {"read": "edit", "read_all": "edit"}

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(
            notification=self.get_object(), **self.service_kwargs()
        )
        return Response(self.get_serializer(notification).data)

    @extend_schema(
        request=None,
        responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}}}},
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        count = services.notification_mark_all_read(**self.service_kwargs())
        return Response({"marked": count}, status=status.HTTP_200_OK)


# --- bulk jobs ------------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "enum": list(BulkJob.Status.values)}, component_name="BulkJobStatus"
)
class BulkJobStatusField(serializers.CharField):
    """queued, running, done or failed (its own schema component: other apps have a
    ``status`` enum too)."""


class BulkJobSerializer(serializers.ModelSerializer):
    """A background bulk action: what it does, how far it is, what it skipped and why."""

    status = BulkJobStatusField(read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = BulkJob
        fields = [
            "id",
            "kind",
            "params",
            "status",
            "total",
            "done",
            "failed",
            "percent",
            "errors",
            "result",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BulkJobViewSet(ServiceViewSetMixin, TenantReadOnlyModelViewSet):
    """Your bulk jobs, newest first; poll ``GET /api/crm/jobs/{id}/`` for progress.

    Jobs are started by the records' ``bulk-action`` endpoints
    (``POST /api/crm/contacts/bulk-action/``).
    """

    model = BulkJob
    serializer_class = BulkJobSerializer
    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]


routes = [
    ("tags", TagViewSet, "tag"),
    ("custom-fields", CustomFieldViewSet, "customfield"),
    ("saved-views", SavedViewViewSet, "savedview"),
    ("notifications", NotificationViewSet, "notification"),
    ("jobs", BulkJobViewSet, "bulkjob"),
]
