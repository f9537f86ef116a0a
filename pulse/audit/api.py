"""API of the change log (read-only) and the trash.

The change log is append-only: no endpoint creates, changes or deletes an entry.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, filters, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from pulse.core.api import CursorPagination, PageNumberPagination, TenantReadOnlyModelViewSet
from pulse.core.models import TenantModel

from . import services
from .filtersets import AuditEntryFilterSet
from .models import AuditEntry
from .selectors import (
    record_type_label,
    trash_model,
    trash_record,
    trash_rows_for_page,
    trash_union,
)

RECORD_TYPE_PATTERN = r"(?P<record_type>[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)"
UUID_PATTERN = r"(?P<pk>[0-9a-fA-F-]{32,36})"
RECORD_URL_PATTERN = f"{RECORD_TYPE_PATTERN}/{UUID_PATTERN}"

# --- change log --------------------------------------------------------------------------


class AuditEntrySerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField()
    record_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_name",
            "source",
            "action",
            "record_type",
            "content_type",
            "object_id",
            "object_repr",
            "changes",
            "request_id",
        ]
        read_only_fields = fields

    def get_actor_name(self, obj) -> str:
        return str(obj.actor) if obj.actor_id else ""

    def get_record_type(self, obj) -> str:
        return f"{obj.content_type.app_label}.{obj.content_type.model}"


class AuditLogPagination(CursorPagination):
    """The log only grows: cursor pages cost the same at any depth and never COUNT."""

    ordering = ("-created_at", "-id")


class AuditLogViewSet(TenantReadOnlyModelViewSet):
    """The organization's change log (owners and admins), newest first; read-only.

    Filters: ``actor``, ``record_type`` (``app_label.model``), ``action``, ``source``,
    ``date_from``/``date_to`` (days), and ``content_type`` + ``object_id`` for one
    record's history; ``search`` matches the record's name.
    """

    model = AuditEntry
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    search_fields = ["object_repr"]
    pagination_class = AuditLogPagination
    select_related = ("actor", "content_type")  # append-only: no write routes at all


# --- trash ---------------------------------------------------------------------------------


class TrashItemSerializer(serializers.Serializer):
    record_type = serializers.CharField()
    id = serializers.UUIDField()
    name = serializers.CharField()
    deleted_at = serializers.DateTimeField()
    deleted_by = serializers.IntegerField(allow_null=True)
    deleted_by_name = serializers.CharField(allow_blank=True)

    @staticmethod
    def from_record(record) -> dict:
        return {
            "record_type": record_type_label(type(record)),
            "id": record.pk,
            "name": str(record),
            "deleted_at": record.deleted_at,
            "deleted_by": record.deleted_by_id,
            "deleted_by_name": str(record.deleted_by) if record.deleted_by_id else "",
        }


class TrashViewSet(viewsets.GenericViewSet):
    """Deleted records you may delete, newest first; restore them or delete forever.

    ``GET /trash/?type=contacts.contact`` lists one type;
    ``POST /trash/{type}/{id}/restore/`` restores; ``DELETE /trash/{type}/{id}/``
    deletes forever (owners and admins).
    """

    # Spans every record type; each type's own rows come from ``Model.trash.restrict``.
    model = TenantModel
    serializer_class = TrashItemSerializer
    pagination_class = PageNumberPagination
    filter_backends: list = []

    def _record_or_404(self, record_type: str, pk: str):
        record = trash_record(user=self.request.user, label=record_type, pk=pk)
        if record is None:
            raise exceptions.NotFound(_("Not found."))
        return record

    @extend_schema(
        parameters=[
            OpenApiParameter("type", str, description=_("Record type, e.g. contacts.contact"))
        ],
        responses=TrashItemSerializer(many=True),
    )
    def list(self, request):
        label = request.query_params.get("type", "").strip().lower()
        models = None
        if label:
            model = trash_model(label)
            if model is None:
                raise exceptions.ValidationError({"type": [_("Unknown record type.")]})
            models = [model]
        page = self.paginate_queryset(trash_union(user=request.user, models=models))
        items = [
            TrashItemSerializer.from_record(row["record"])
            for row in trash_rows_for_page(page)
            if row["record"] is not None
        ]
        return self.get_paginated_response(TrashItemSerializer(items, many=True).data)

    @extend_schema(request=None, responses=TrashItemSerializer)
    @action(detail=False, methods=["post"], url_path=f"{RECORD_URL_PATTERN}/restore")
    def restore(self, request, record_type: str, pk: str):
        record = self._record_or_404(record_type, pk)
        services.trash_restore(instance=record, actor=request.user)
        item = TrashItemSerializer.from_record(record)
        return Response(TrashItemSerializer(item).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=False, methods=["delete"], url_path=RECORD_URL_PATTERN)
    def purge(self, request, record_type: str, pk: str):
        if not services.can_purge(request.user):
            raise exceptions.PermissionDenied(_("Only owners and admins can delete forever."))
        record = self._record_or_404(record_type, pk)
        services.trash_purge(instance=record, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


routes = [
    ("audit-log", AuditLogViewSet, "auditentry"),
    ("trash", TrashViewSet, "trash"),
]
