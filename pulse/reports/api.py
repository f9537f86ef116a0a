"""REST API: ``/api/crm/reports/`` (+ ``run``, exports), ``/api/crm/report-schedules/``,
``/api/crm/dashboard/`` (metrics of the default widgets) and the dashboards' widgets."""

from __future__ import annotations

# --- reports (H1) -----------------------------------------------------------------------------
import datetime
import decimal
import uuid
from decimal import Decimal

import django_filters
from django.db.models import (
    Prefetch,
    Q,
)
from django.utils.translation import gettext, gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import (
    serializers,
    status,
    viewsets,
)
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.accounts.models import Role, Team
from pulse.contacts.api import MemberField, TenantRelatedField
from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin
from pulse.core.errors import ApplicationError

from . import engine, metrics, services
from . import services as dashboard_services
from .models import (
    Dashboard,
    DashboardScope,
    DashboardWidget,
    RecordType,
    Report,
    ReportDelivery,
    ReportSchedule,
    WidgetWidth,
)
from .periods import PERIODS


class ReportFilterSet(django_filters.FilterSet):
    """Saved reports by record type and words in the name or description."""

    record_type = django_filters.ChoiceFilter(choices=RecordType.choices)
    search = django_filters.CharFilter(method="filter_search", label=gettext_lazy("Search"))

    class Meta:
        model = Report
        fields = ["record_type", "search"]

    def filter_search(self, qs, name, value):
        value = value.strip()[:100]
        if not value:
            return qs
        return qs.filter(Q(name__icontains=value) | Q(description__icontains=value))


class ReportSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A saved report definition (shapes in ``pulse.reports.engine``). Invalid definitions
    answer 400 with errors under ``filters``, ``columns``, ``group_by``, ``aggregates``,
    ``ordering``. ``key`` names a ready-made report; ``owner`` is empty for those."""

    filters = serializers.ListField(child=serializers.DictField(), required=False)
    columns = serializers.ListField(child=serializers.CharField(), required=False)
    group_by = serializers.ListField(child=serializers.DictField(), required=False)
    aggregates = serializers.ListField(child=serializers.DictField(), required=False)
    owner = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "name",
            "description",
            "record_type",
            "filters",
            "columns",
            "group_by",
            "aggregates",
            "ordering",
            "chart_type",
            "visibility",
            "owner",
            "key",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "owner", "key", "created_at", "updated_at"]


class ReportDefinitionSerializer(serializers.Serializer):
    """An unsaved definition to run (the builder's preview)."""

    record_type = serializers.ChoiceField(choices=RecordType.choices)
    filters = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    columns = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    group_by = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    aggregates = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    ordering = serializers.CharField(required=False, allow_blank=True, default="")
    chart_type = serializers.CharField(required=False, allow_blank=True, default="table")


class ReportColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()


class ReportGroupSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.CharField(allow_null=True))
    labels = serializers.ListField(child=serializers.CharField())
    values = serializers.DictField(
        help_text="Aggregate key (count, sum:value …) → number (decimal string)."
    )
    url = serializers.CharField(
        help_text="The records behind the group (a filtered list), or empty."
    )


class ReportChartSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["bar", "line", "pie", "funnel"])
    labels = serializers.ListField(child=serializers.CharField())
    datasets = serializers.ListField(child=serializers.DictField())
    value_format = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)


class ReportRunSerializer(serializers.Serializer):
    """A run: ``rows`` (ungrouped, one page) or ``groups`` + ``totals`` (grouped)."""

    columns = ReportColumnSerializer(many=True)
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    row_urls = serializers.ListField(child=serializers.CharField())
    groups = ReportGroupSerializer(many=True)
    totals = serializers.DictField()
    chart = ReportChartSerializer(allow_null=True)
    page = serializers.IntegerField()
    has_next = serializers.BooleanField()
    total_rows = serializers.IntegerField(allow_null=True, help_text="Capped count (ungrouped).")
    notices = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField(
        help_text="The organization's currency: money totals are in it."
    )


class ReportFieldSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()
    choices = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    groupable = serializers.BooleanField()
    filterable = serializers.BooleanField()
    custom = serializers.BooleanField()
    operators = serializers.ListField(child=serializers.CharField())


def _jsonable(value):
    """A run's value as JSON: money and decimals as strings, dates in ISO 8601."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def report_result_json(result) -> dict:
    """A ``ReportResult`` as the API (and the builder's preview) answers it."""
    chart = result.chart
    return {
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in result.columns],
        "rows": [[_jsonable(v) for v in row] for row in result.rows],
        "row_urls": result.row_urls,
        "groups": [
            {
                "keys": [None if k is None else str(_jsonable(k)) for k in group.keys],
                "labels": list(group.labels),
                "values": {k: _jsonable(v) for k, v in group.values.items()},
                "url": group.url,
            }
            for group in result.groups
        ],
        "totals": {k: _jsonable(v) for k, v in result.totals.items()},
        "chart": None
        if chart is None
        else {
            "type": chart.type,
            "labels": chart.labels,
            "datasets": chart.datasets,
            "value_format": chart.value_format,
            "currency": chart.currency,
        },
        "page": result.page,
        "has_next": result.has_next,
        "total_rows": result.total_rows,
        "notices": [str(n) for n in result.notices],
        "currency": result.currency,
    }


def _run_json(definition, request, *, page: int = 1) -> dict:
    try:
        result = engine.run_report(
            definition, user=request.user, org=request.organization, page=page
        )
    except engine.ReportError as exc:
        raise ApplicationError(errors={exc.field: [exc.message]}) from exc
    return report_result_json(result)


def _page_param(request) -> int:
    raw = request.query_params.get("page", "1")
    try:
        page = int(raw)
    except (TypeError, ValueError):
        raise ApplicationError(errors={"page": [gettext("Enter a whole number.")]}) from None
    if page < 1:
        raise ApplicationError(errors={"page": [gettext("Pages start at 1.")]})
    return page


@extend_schema_view(
    list=extend_schema(summary="List saved reports (yours and the shared ones)"),
    retrieve=extend_schema(summary="Get a saved report"),
    create=extend_schema(summary="Save a report"),
    update=extend_schema(summary="Replace a report"),
    partial_update=extend_schema(summary="Change some fields of a report"),
    destroy=extend_schema(summary="Move a report to the trash"),
)
class ReportViewSet(TenantModelViewSet):
    """Saved reports the caller may see: their own and the shared ones (``record_type``,
    ``search``); ``run`` answers rows or groups and totals over the caller's visible
    records; ``run/`` (POST) runs an unsaved definition; ``fields`` lists what a record
    type reports on."""

    model = Report
    serializer_class = ReportSerializer
    filterset_class = ReportFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name", "pk"]
    select_related = ("owner",)
    permission_map = {"run": "view", "preview": "view", "fields": "view"}

    def create_record(self, data):
        return services.report_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.report_update(
            report=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.report_delete(report=instance, actor=self.request.user)

    @extend_schema(
        summary="Run a saved report",
        parameters=[
            OpenApiParameter("page", int, description="Page of an ungrouped report (from 1).")
        ],
        responses={200: ReportRunSerializer},
    )
    @action(detail=True, methods=["get"])
    def run(self, request, pk=None):
        report = self.get_object()
        definition = engine.ReportDefinition.from_report(report)
        return Response(_run_json(definition, request, page=_page_param(request)))

    @extend_schema(
        summary="Run an unsaved report definition (the builder's preview)",
        request=ReportDefinitionSerializer,
        parameters=[
            OpenApiParameter("page", int, description="Page of an ungrouped report (from 1).")
        ],
        responses={200: ReportRunSerializer},
    )
    @action(detail=False, methods=["post"], url_path="run", url_name="preview")
    def preview(self, request):
        body = ReportDefinitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = engine.validate_definition(
            engine.ReportDefinition(**body.validated_data), org=request.organization
        )
        return Response(_run_json(definition, request, page=_page_param(request)))

    @extend_schema(
        summary="The fields a record type reports on (custom fields included)",
        parameters=[
            OpenApiParameter("record_type", str, enum=list(RecordType.values), required=True),
        ],
        responses={200: ReportFieldSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def fields(self, request):
        record_type = request.query_params.get("record_type", "")
        if record_type not in RecordType.values:
            raise ApplicationError(
                errors={
                    "record_type": [
                        gettext("Choose one of: %(known)s.")
                        % {"known": ", ".join(RecordType.values)}
                    ]
                }
            )
        fields = engine.report_fields(record_type, request.organization)
        data = [
            {
                "key": f.key,
                "label": f.label,
                "kind": f.kind,
                "choices": [[str(v), str(label)] for v, label in f.choices],
                "groupable": f.groupable,
                "filterable": f.filterable,
                "custom": f.custom,
                "operators": engine.field_operators(f),
            }
            for f in fields.values()
        ]
        return Response(data)


# --- schedules (H3) ---------------------------------------------------------------------------


class ReportExportAPIView(APIView):
    """``GET /api/crm/reports/{id}/export/?format=csv|xlsx|pdf``: the report as a file, as
    the caller sees it (the same export as the web download)."""

    model = Report

    # ``format`` names the file, not a DRF renderer: errors always answer JSON.
    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), "application/json"

    @extend_schema(
        summary="Export a report as CSV, XLSX or PDF",
        parameters=[
            OpenApiParameter(
                "format", str, enum=["csv", "xlsx", "pdf"], description="File format (csv)."
            )
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        from .engine import ReportError
        from .views import EXPORT_FORMATS, export_response, exportable_report

        fmt = request.query_params.get("format", "csv")
        if fmt not in EXPORT_FORMATS:
            raise ApplicationError(errors={"format": [gettext("Choose csv, xlsx or pdf.")]})
        report = exportable_report(request, pk)
        try:
            return export_response(
                report, fmt, user=request.user, org=request.organization, source="api"
            )
        except ReportError as exc:
            raise ApplicationError(errors={exc.field: [exc.message]}) from exc


class ReportDeliverySerializer(serializers.ModelSerializer):
    """One run of a schedule: who got it, who was skipped and why."""

    class Meta:
        model = ReportDelivery
        fields = ["id", "ran_at", "status", "sent_to", "skipped", "rows", "message"]
        read_only_fields = fields


class ReportScheduleSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A report emailed on a rhythm; ``send_time``, ``weekday`` (0 = Monday) and
    ``day_of_month`` (1–28) in the organization's time zone."""

    report_id = TenantRelatedField(model=Report, source="report")
    recipients = MemberField(
        many=True, help_text=gettext_lazy("User ids of members who receive the report.")
    )
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ReportSchedule
        fields = [
            "id",
            "report_id",
            "frequency",
            "weekday",
            "day_of_month",
            "send_time",
            "format",
            "recipients",
            "active",
            "next_run_at",
            "last_run_at",
            "last_status",
            "last_message",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = [
            "id",
            "next_run_at",
            "last_run_at",
            "last_status",
            "last_message",
            "created_at",
            "updated_at",
        ]
        validators = []  # the service validates, so UI and API give the same messages

    def validate(self, attrs):
        moved = self.instance is not None and "report" in attrs
        if moved and attrs["report"] != self.instance.report:
            raise serializers.ValidationError(
                {"report_id": [gettext("A schedule stays with its report.")]}
            )
        return attrs


@extend_schema_view(
    list=extend_schema(summary="List report schedules"),
    retrieve=extend_schema(summary="Get a report schedule"),
    create=extend_schema(summary="Schedule a report"),
    update=extend_schema(summary="Replace a report schedule"),
    partial_update=extend_schema(summary="Change some fields of a report schedule"),
    destroy=extend_schema(summary="Move a report schedule to the trash"),
)
class ReportScheduleViewSet(TenantModelViewSet):
    """Schedules the caller may manage (their reports' and the ones they made; admins all)."""

    model = ReportSchedule
    serializer_class = ReportScheduleSerializer
    select_related = ("report", "created_by")
    prefetch_related = ("recipients",)
    permission_map = {"deliveries": "view"}

    def create_record(self, data):
        from . import services

        return services.schedule_create(actor=self.request.user, **data)

    def update_record(self, instance, data, expected_version):
        from . import services

        data.pop("report", None)
        return services.schedule_update(
            schedule=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        from . import services

        services.schedule_delete(schedule=instance, actor=self.request.user)

    @extend_schema(
        summary="Deliveries of a report schedule", responses=ReportDeliverySerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The schedule's runs, newest first (paginated)."""
        from . import selectors

        schedule = self.get_object()
        page = self.paginate_queryset(selectors.schedule_deliveries(schedule=schedule))
        return self.get_paginated_response(ReportDeliverySerializer(page, many=True).data)


# --- dashboard (H4: metrics; H5: dashboards and widgets) -------------------------------------

# Imports of this section (the lead hoists them).


class WidgetDataSerializer(serializers.Serializer):
    """One widget's numbers (``pulse.reports.metrics.WidgetData``)."""

    label = serializers.CharField()
    period = serializers.CharField(help_text="The period key the widget was computed for")
    value = serializers.CharField(help_text="The headline, formatted")
    number = serializers.JSONField(
        allow_null=True, help_text="The raw headline value (money as a decimal string)"
    )
    delta = serializers.FloatField(
        allow_null=True, help_text="Change against the previous period, in percent"
    )
    secondary = serializers.CharField()
    chart = serializers.JSONField(
        allow_null=True, help_text="Chart.js configuration (type, data, options)"
    )
    rows = serializers.ListField(child=serializers.DictField())
    link = serializers.CharField(help_text="The list of the records behind the number")
    empty = serializers.CharField(help_text="A message when there is nothing to show")


class DashboardPeriodSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True)
    label = serializers.CharField(allow_null=True)
    first = serializers.DateField(allow_null=True)
    last = serializers.DateField(allow_null=True)


class DashboardScopeSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=DashboardScope.choices)
    label = serializers.CharField()
    team = serializers.UUIDField(allow_null=True)
    owner_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class DashboardMetricsSerializer(serializers.Serializer):
    period = DashboardPeriodSerializer(
        help_text="The period asked for (null parts: each widget used its default period)"
    )
    scope = DashboardScopeSerializer()
    widgets = serializers.DictField(child=WidgetDataSerializer())


def _plain(value):
    """JSON-safe widget values: decimals as strings (DESIGN: money as decimal strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def widget_payload(kind: str, period: str, data: metrics.WidgetData) -> dict:
    """What the API answers for one widget."""
    spec = metrics.WIDGETS.get(kind)
    return {
        "label": str(spec.label) if spec else kind,
        "period": period,
        "value": data.value,
        "number": _plain(data.number),
        "delta": data.delta,
        "secondary": data.secondary,
        "chart": data.chart.as_chartjs() if data.chart is not None else None,
        "rows": _plain(data.rows),
        "link": data.link,
        "empty": data.empty,
    }


def dashboard_metrics(*, user, org, params) -> dict:
    """The metrics of the default widgets (or ``widgets=a,b``) for ``period`` (default:
    each widget's own) and ``scope``/``team``; field errors for anything unknown."""
    period = (params.get("period") or "").strip()
    scope = (params.get("scope") or "me").strip()
    team = (params.get("team") or "").strip() or None
    wanted = [k.strip() for k in (params.get("widgets") or "").split(",") if k.strip()]
    if wanted:
        unknown = [k for k in wanted if k not in metrics.WIDGETS]
        if unknown:
            raise ApplicationError(
                errors={
                    "widgets": [
                        gettext("Unknown widgets: %(names)s.") % {"names": ", ".join(unknown)[:200]}
                    ]
                }
            )
        layout = [(k, metrics.WIDGETS[k].default_period) for k in dict.fromkeys(wanted)]
    else:
        layout = [(k, p) for k, _w, p in metrics.DEFAULT_LAYOUT]
    contexts: dict = {}

    def context(key: str):
        if key not in contexts:
            contexts[key] = metrics.dashboard_context(
                user=user, org=org, scope=scope, team=team, period=key
            )
        return contexts[key]

    # Resolve the asked period (and the scope) first: bad input answers before any work.
    first = context(period or layout[0][1])
    widgets = {}
    for kind, default_period in layout:
        key = period or default_period
        widgets[kind] = widget_payload(kind, key, metrics.widget_data(kind, context(key)))
    span = first.span if period else None
    return {
        "period": {
            "key": span.key if span else None,
            "label": span.label if span else None,
            "first": span.first if span else None,
            "last": span.last if span else None,
        },
        "scope": {
            "key": first.scope,
            "label": first.scope_label,
            "team": first.team.pk if first.team is not None else None,
            "owner_ids": first.owner_ids,
        },
        "widgets": widgets,
    }


class _OneObjectSchema(AutoSchema):
    """``list`` here answers one object (the dashboard), not a list of them."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class DashboardMetricsViewSet(viewsets.ViewSet):
    """``GET /api/crm/dashboard/?period=this_quarter&scope=me|team|org&team=<id>``: the
    numbers of the default dashboard's widgets (or ``?widgets=a,b``), limited by what the
    caller may see. 400 for an unknown period, scope, team or widget; 403 for a team
    whose numbers the caller may not see."""

    schema = _OneObjectSchema()

    @extend_schema(
        summary="Dashboard metrics of the default widgets",
        parameters=[
            OpenApiParameter(
                "period",
                str,
                enum=list(PERIODS),
                description="A named period (this_quarter, last_30_days …); default: each "
                "widget's own.",
            ),
            OpenApiParameter("scope", str, enum=["me", "team", "org"], description="Whose numbers"),
            OpenApiParameter("team", str, description="A team's id (scope=team)"),
            OpenApiParameter(
                "widgets",
                str,
                description="Comma-separated widget kinds (default: the default dashboard's)",
            ),
        ],
        responses={200: DashboardMetricsSerializer},
    )
    def list(self, request):
        data = dashboard_metrics(
            user=request.user, org=request.organization, params=request.query_params
        )
        return Response(DashboardMetricsSerializer(data).data)


# --- dashboards and widgets (H5) ---


class DashboardWidgetSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A widget: a metric ``kind`` (see ``GET /api/crm/dashboard/``) or ``report`` with a
    saved report's id, its grid ``position`` (0 first), ``width`` in twelfths and period."""

    report = TenantRelatedField(model=Report, required=False, allow_null=True)
    width = serializers.ChoiceField(choices=WidgetWidth.choices, required=False)
    period = serializers.ChoiceField(choices=list(PERIODS), required=False)

    class Meta:
        model = DashboardWidget
        fields = [
            "id",
            "kind",
            "report",
            "title",
            "position",
            "width",
            "height",
            "period",
            "options",
            "version",
        ]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"kind": {"required": False}}


class DashboardSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A dashboard: the caller's own (``owner`` set) or a published one (``owner`` null;
    ``roles``, ``teams`` and ``is_default`` say to whom). ``widgets`` in grid order."""

    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    source = serializers.PrimaryKeyRelatedField(read_only=True)
    scope_team = serializers.PrimaryKeyRelatedField(read_only=True)
    is_published = serializers.BooleanField(read_only=True)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False
    )
    teams = TenantRelatedField(model=Team, many=True, required=False)
    widgets = DashboardWidgetSerializer(many=True, read_only=True)

    class Meta:
        model = Dashboard
        fields = [
            "id",
            "name",
            "owner",
            "is_published",
            "roles",
            "teams",
            "is_default",
            "source",
            "scope",
            "scope_team",
            "widgets",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "scope", "created_at", "updated_at"]


class DashboardPublishSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), default=list)
    teams = serializers.ListField(child=serializers.UUIDField(), default=list)
    is_default = serializers.BooleanField(default=False)
    target = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A published dashboard to replace (default: publish a new one).",
    )


class DashboardSetScopeSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=DashboardScope.choices)
    team = serializers.UUIDField(required=False, allow_null=True)


def _records(model, user, ids: list, field: str) -> list:
    """The visible records of ``model`` with these ids, in order; a field error otherwise."""
    found = {r.pk: r for r in model.objects.restrict(user, "view").filter(pk__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApplicationError(
            errors={field: [gettext("Unknown id “%(id)s”.") % {"id": missing[0]}]}
        )
    return [found[i] for i in ids]


class WidgetReorderSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=True)


class DashboardViewSet(TenantModelViewSet):
    """Dashboards the caller may see: their own and the published ones, with widgets.

    Admins create published dashboards (with the default layout), set their audience and
    ``publish`` an arrangement over them; everyone arranges their own. A change to a
    dashboard the caller may not change answers 403 and changes nothing.
    ``GET current/`` is the dashboard the caller sees on the home page."""

    model = Dashboard
    serializer_class = DashboardSerializer
    select_related = ("owner", "scope_team", "source")
    prefetch_related = (
        "teams",
        Prefetch(
            "widgets",
            queryset=DashboardWidget.objects.unscoped()
            .filter(deleted_at__isnull=True)
            .order_by("position", "created_at"),
        ),
    )
    # The services decide who may change what (own dashboard, or admin for published
    # ones), so that a denied change is a 403 rather than a 404.
    permission_map = {
        "update": "view",
        "partial_update": "view",
        "destroy": "view",
        "publish": "view",
        "set_scope": "view",
        "widgets": "view",
        "widget": "view",
        "widgets_reorder": "view",
        "current": "view",
    }

    def create_record(self, data):
        return dashboard_services.dashboard_create(
            org=self.request.organization,
            actor=self.request.user,
            name=data.get("name", ""),
            roles=data.get("roles", []),
            teams=data.get("teams", []),
            is_default=data.get("is_default", False),
        )

    def update_record(self, instance, data, expected_version):
        return dashboard_services.dashboard_update(
            dashboard=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        dashboard_services.dashboard_delete(dashboard=instance, actor=self.request.user)

    def _fresh(self, dashboard):
        return self.get_serializer(self.get_queryset().get(pk=dashboard.pk)).data

    @extend_schema(summary="The dashboard the caller sees", responses={200: DashboardSerializer})
    @action(detail=False, methods=["get"], url_path="current")
    def current(self, request):
        dashboard = dashboard_services.dashboard_for_user(
            user=request.user, org=request.organization
        )
        return Response(self._fresh(dashboard))

    @extend_schema(
        summary="Publish this arrangement (admins)",
        request=DashboardPublishSerializer,
        responses={200: DashboardSerializer},
    )
    @action(detail=True, methods=["post"], url_path="publish")
    def publish(self, request, pk=None):
        dashboard = self.get_object()
        body = DashboardPublishSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        published = dashboard_services.dashboard_publish(
            dashboard=dashboard,
            actor=request.user,
            name=data["name"],
            roles=data["roles"],
            teams=_records(Team, request.user, data["teams"], "teams"),
            is_default=data["is_default"],
            target=(
                _records(Dashboard, request.user, [data["target"]], "target")[0]
                if data.get("target")
                else None
            ),
        )
        return Response(self._fresh(published))

    @extend_schema(
        summary="Whose numbers the dashboard shows",
        request=DashboardSetScopeSerializer,
        responses={200: DashboardSerializer},
    )
    @action(detail=True, methods=["post"], url_path="scope")
    def set_scope(self, request, pk=None):
        dashboard = self.get_object()
        body = DashboardSetScopeSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        dashboard = dashboard_services.dashboard_set_scope(
            dashboard=dashboard,
            actor=request.user,
            scope=body.validated_data["scope"],
            team=(
                _records(Team, request.user, [body.validated_data["team"]], "team")[0]
                if body.validated_data.get("team")
                else None
            ),
        )
        return Response(self._fresh(dashboard))

    @extend_schema(
        summary="The dashboard's widgets",
        methods=["GET"],
        responses={200: DashboardWidgetSerializer(many=True)},
    )
    @extend_schema(
        summary="Add a widget at the end",
        methods=["POST"],
        request=DashboardWidgetSerializer,
        responses={201: DashboardWidgetSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="widgets")
    def widgets(self, request, pk=None):
        dashboard = self.get_object()
        context = self.get_serializer_context()
        if request.method == "GET":
            return Response(
                DashboardWidgetSerializer(dashboard.widgets.all(), many=True, context=context).data
            )
        body = DashboardWidgetSerializer(data=request.data, context=context)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data.pop("version", None)
        data.pop("height", None)
        if not data.get("kind"):
            raise ApplicationError(errors={"kind": [gettext("Choose a widget.")]})
        widget = dashboard_services.widget_add(dashboard=dashboard, actor=request.user, **data)
        return Response(
            DashboardWidgetSerializer(widget, context=context).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Change a widget (width, height, period, title, options)",
        methods=["PATCH"],
        request=DashboardWidgetSerializer,
        responses={200: DashboardWidgetSerializer},
    )
    @extend_schema(summary="Remove a widget", methods=["DELETE"], responses={204: None})
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"widgets/(?P<dashboardwidget_id>[0-9a-f-]{36})",
        url_name="widget",
    )
    def widget(self, request, pk=None, dashboardwidget_id=None):
        dashboard = self.get_object()
        widget = next((w for w in dashboard.widgets.all() if str(w.pk) == dashboardwidget_id), None)
        if widget is None:
            raise NotFound(gettext("No such widget on this dashboard."))
        widget.dashboard = dashboard
        if request.method == "DELETE":
            dashboard_services.widget_remove(widget=widget, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = DashboardWidgetSerializer(widget, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        version = data.pop("version", None)
        for fixed in ("kind", "report"):
            if fixed in data:
                raise ApplicationError(
                    errors={fixed: [gettext("Add a new widget to show something else.")]}
                )
        widget = dashboard_services.widget_update(
            widget=widget, actor=request.user, expected_version=version, **data
        )
        context = self.get_serializer_context()
        return Response(DashboardWidgetSerializer(widget, context=context).data)

    @extend_schema(
        summary="Reorder the widgets (every widget's id once, in the new order)",
        request=WidgetReorderSerializer,
        responses={200: DashboardWidgetSerializer(many=True)},
    )
    @action(detail=True, methods=["post"], url_path="widgets/reorder", url_name="widgets-reorder")
    def widgets_reorder(self, request, pk=None):
        dashboard = self.get_object()
        body = WidgetReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        widgets = dashboard_services.widgets_reorder(
            dashboard=dashboard, actor=request.user, ids=body.validated_data["ids"]
        )
        context = self.get_serializer_context()
        return Response(DashboardWidgetSerializer(widgets, many=True, context=context).data)


routes: list = [
    # --- routes: reports (H1) ---
    ("reports", ReportViewSet, "report"),
    # --- routes: schedules (H3) ---
    ("report-schedules", ReportScheduleViewSet, "reportschedule"),
    # --- routes: dashboard metrics (H4) ---
    ("dashboard", DashboardMetricsViewSet, "dashboard-metrics"),
    # --- routes: dashboards (H5) ---
    ("dashboards", DashboardViewSet, "dashboard"),
]
