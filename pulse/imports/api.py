"""REST API of imports and exports: the twins of the import screens (rule 4).

``/api/crm/imports/``: upload (multipart), ``PUT {id}/mapping/``, ``PUT {id}/options/``,
``GET {id}/preview/``, ``POST {id}/run/``, ``POST {id}/undo/``, ``GET {id}/errors/``
(the failed rows as CSV), list and detail with progress and counts.
``/api/crm/exports/contacts/`` and ``/api/crm/exports/companies/``: the list filters,
``columns`` and ``id`` as on the web export, ``format=csv|xlsx|vcf``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from pulse.core.api import TenantViewSetMixin
from pulse.core.errors import PermissionDeniedError

from . import export as export_module
from . import parsers, selectors, services
from .models import ImportJob
from .targets import target_choices


def _choice_field(choices, component: str, description: str):
    """A read-only choice field with its own schema component (no enum name collisions)."""

    @extend_schema_field(
        {
            "type": "string",
            "enum": [value for value, _label in choices],
            "description": description,
        },
        component_name=component,
    )
    class Field(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=choices, read_only=True, **kwargs)

    Field.__name__ = component + "Field"
    return Field


ImportStatusField = _choice_field(
    ImportJob.Status.choices,
    "ImportStatus",
    "mapping, queued, running, done, failed, undoing, undone",
)
ImportModeField = _choice_field(ImportJob.Mode.choices, "ImportMode", "create, update or skip")
ImportFormatField = _choice_field(ImportJob.Format.choices, "ImportFormat", "csv, xlsx or vcf")


class ImportJobSerializer(serializers.ModelSerializer):
    """An import with its progress, counts and first errors."""

    status = ImportStatusField()
    mode = ImportModeField()
    file_format = ImportFormatField()
    percent = serializers.IntegerField(read_only=True)
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "target",
            "original_name",
            "file_size",
            "file_format",
            "encoding",
            "delimiter",
            "has_header",
            "headers",
            "mapping",
            "mode",
            "match_by",
            "warnings",
            "status",
            "total_rows",
            "processed_rows",
            "percent",
            "created_count",
            "updated_count",
            "skipped_count",
            "failed_count",
            "formula_cells",
            "errors",
            "errors_url",
            "message",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "undone_at",
        ]
        read_only_fields = fields

    def get_errors_url(self, job) -> str | None:
        if not job.error_file:
            return None
        request = self.context.get("request")
        path = f"/api/crm/imports/{job.pk}/errors/"
        return request.build_absolute_uri(path) if request else path


class ImportUploadSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=())
    file = serializers.FileField()
    mode = serializers.ChoiceField(choices=ImportJob.Mode.choices, default=ImportJob.Mode.SKIP)
    match_by = serializers.CharField(required=False, allow_blank=True, max_length=60)
    encoding = serializers.ChoiceField(
        choices=[("", "detect"), *((e, e) for e in parsers.ENCODINGS)], required=False
    )
    delimiter = serializers.ChoiceField(
        choices=[("", "detect"), *((d, d) for d in parsers.DELIMITERS)], required=False
    )
    has_header = serializers.BooleanField(required=False, allow_null=True, default=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = target_choices()


class ImportOptionsSerializer(serializers.Serializer):
    encoding = serializers.ChoiceField(
        choices=[("", "detect"), *((e, e) for e in parsers.ENCODINGS)], required=False
    )
    delimiter = serializers.ChoiceField(
        choices=[("", "detect"), *((d, d) for d in parsers.DELIMITERS)], required=False
    )
    has_header = serializers.BooleanField(required=False, allow_null=True, default=None)


class ImportMappingSerializer(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="Column index (as text) → field key; '' leaves the column out.",
    )
    mode = serializers.ChoiceField(choices=ImportJob.Mode.choices, required=False)
    match_by = serializers.CharField(required=False, allow_blank=True, max_length=60)
    remember = serializers.BooleanField(required=False, default=True)


class PreviewCellSerializer(serializers.Serializer):
    text = serializers.CharField()
    error = serializers.CharField()


class PreviewRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    ok = serializers.BooleanField()
    error = serializers.CharField()
    cells = PreviewCellSerializer(many=True)


class PreviewColumnSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    header = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    columns = PreviewColumnSerializer(many=True)
    rows = PreviewRowSerializer(many=True)


def _denied(exc: PermissionDeniedError):
    raise PermissionDenied(exc.message)


@extend_schema_view(
    list=extend_schema(summary="List imports (history)"),
    retrieve=extend_schema(summary="Get an import with its progress and counts"),
)
class ImportJobViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Imports: upload, map, preview, run, undo (all through the import services)."""

    model = ImportJob
    serializer_class = ImportJobSerializer
    select_related = ("created_by",)
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    filterset_class = None
    filter_backends: list = []
    # Every action works on jobs the user may see; the services check the `import`
    # permission on the record type being imported.
    permission_map = {
        "create": "view",
        "mapping": "view",
        "options": "view",
        "preview": "view",
        "run": "view",
        "undo": "view",
        "errors": "view",
    }

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-pk")

    @extend_schema(
        summary="Upload a file to import (multipart)",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={201: ImportJobSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = services.import_upload(
                org=request.organization,
                actor=request.user,
                target=values["target"],
                file=values["file"],
                encoding=values.get("encoding") or "",
                delimiter=values.get("delimiter") or "",
                has_header=values.get("has_header"),
                mode=values.get("mode") or ImportJob.Mode.SKIP,
                match_by=values.get("match_by") or "",
            )
        except PermissionDeniedError as exc:
            _denied(exc)
        return Response(
            ImportJobSerializer(job, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Set the column mapping and mode",
        request=ImportMappingSerializer,
        responses={200: ImportJobSerializer},
    )
    @action(detail=True, methods=["put"], url_path="mapping")
    def mapping(self, request, pk=None):
        job = self.get_object()
        data = ImportMappingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = services.import_set_mapping(
                job=job,
                actor=request.user,
                mapping=values["mapping"],
                mode=values.get("mode"),
                match_by=values.get("match_by"),
                remember=values.get("remember", True),
            )
        except PermissionDeniedError as exc:
            _denied(exc)
        return Response(ImportJobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Read the file again with another encoding, delimiter or header choice",
        request=ImportOptionsSerializer,
        responses={200: ImportJobSerializer},
    )
    @action(detail=True, methods=["put"], url_path="options")
    def options(self, request, pk=None):
        job = self.get_object()
        data = ImportOptionsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = services.import_set_options(
                job=job,
                actor=request.user,
                encoding=values.get("encoding") or "",
                delimiter=values.get("delimiter") or "",
                has_header=values.get("has_header"),
            )
        except PermissionDeniedError as exc:
            _denied(exc)
        return Response(ImportJobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="The first rows with each mapped cell's validation", responses=PreviewSerializer
    )
    @action(detail=True, methods=["get"], url_path="preview")
    def preview(self, request, pk=None):
        job = self.get_object()
        preview = selectors.import_preview(job=job, actor=request.user)
        return Response(
            {
                "columns": [c.__dict__ for c in preview.columns],
                "rows": [
                    {
                        "line": r.line,
                        "ok": r.ok,
                        "error": r.error,
                        "cells": [{"text": c.text, "error": c.error} for c in r.cells],
                    }
                    for r in preview.rows
                ],
            }
        )

    @extend_schema(
        summary="Start the import (runs in the background)",
        request=None,
        responses={202: ImportJobSerializer},
    )
    @action(detail=True, methods=["post"], url_path="run")
    def run(self, request, pk=None):
        job = self.get_object()
        try:
            job = services.import_start(job=job, actor=request.user)
        except PermissionDeniedError as exc:
            _denied(exc)
        job.refresh_from_db()
        return Response(
            ImportJobSerializer(job, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Undo the whole import", request=None, responses={202: ImportJobSerializer}
    )
    @action(detail=True, methods=["post"], url_path="undo")
    def undo(self, request, pk=None):
        job = self.get_object()
        try:
            job = services.import_undo(job=job, actor=request.user)
        except PermissionDeniedError as exc:
            _denied(exc)
        job.refresh_from_db()
        return Response(
            ImportJobSerializer(job, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Download the failed rows (CSV with line numbers and reasons)",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            404: OpenApiResponse(description="No failed rows"),
        },
    )
    @action(detail=True, methods=["get"], url_path="errors")
    def errors(self, request, pk=None):
        job = self.get_object()
        if not job.error_file or not default_storage.exists(job.error_file.name):
            raise Http404
        return FileResponse(
            default_storage.open(job.error_file.name, "rb"),
            as_attachment=True,
            filename=f"import-{str(job.pk)[:8]}-errors.csv",
            content_type="text/csv; charset=utf-8",
        )


EXPORT_PARAMETERS = [
    OpenApiParameter(
        "format", str, enum=list(export_module.FORMATS), description="csv (default), xlsx or vcf"
    ),
    OpenApiParameter(
        "columns", str, description="Column keys, comma-separated (as on the list page)"
    ),
    OpenApiParameter("id", OpenApiTypes.UUID, many=True, description="Only these records (repeat)"),
]
EXPORT_RESPONSES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
    (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiResponse(
        OpenApiTypes.BINARY
    ),
    (200, "text/vcard"): OpenApiResponse(OpenApiTypes.STR),
}


class ExportViewSet(viewsets.ViewSet):
    """Streamed exports of the contact and company lists (the list filters apply)."""

    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the export's file type here, not a DRF renderer.
        return super().perform_content_negotiation(request, force=True)

    def _export(self, request, target: str):
        try:
            export = export_module.build_export(
                target=target,
                user=request.user,
                org=request.organization,
                params=request.query_params,
            )
        except PermissionDeniedError as exc:
            _denied(exc)
        return export_module.response(
            export, user=request.user, org=request.organization, source="api"
        )

    @extend_schema(
        summary="Export contacts", parameters=EXPORT_PARAMETERS, responses=EXPORT_RESPONSES
    )
    @action(detail=False, methods=["get"], url_path="contacts")
    def contacts(self, request):
        return self._export(request, "contacts")

    @extend_schema(
        summary="Export companies", parameters=EXPORT_PARAMETERS, responses=EXPORT_RESPONSES
    )
    @action(detail=False, methods=["get"], url_path="companies")
    def companies(self, request):
        return self._export(request, "companies")


routes = [
    ("imports", ImportJobViewSet, "importjob"),
    ("exports", ExportViewSet, "export"),
]
