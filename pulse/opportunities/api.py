"""REST API of opportunities under /api/crm/: thin twins of the views, calling the same
services. The opportunity viewset (section A) mixes in the actions of sections K, C and D
(``OpportunityBoardActions``, ``OpportunityForecastActions``, ``OpportunityAnalysisActions``),
defined above it.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import Prefetch
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from pulse.accounts.models import Team
from pulse.contacts.api import MappedOrderingFilter, MemberField, TagsField, TenantRelatedField
from pulse.contacts.models import Company, Contact
from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin
from pulse.core.errors import ApplicationError
from pulse.extras.customfields import CustomFieldsSerializerField
from pulse.extras.models import Tag
from pulse.extras.selectors import tags_prefetch
from pulse.leads.models import Lead

from . import analytics, selectors, services
from . import forecast as forecasting
from .filtersets import OPPORTUNITY_ORDERINGS, OpportunityFilterSet, QuotaFilterSet, StageFilterSet
from .models import (
    ContactRole,
    LossReason,
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    Pipeline,
    Quota,
    Stage,
    StageType,
)
from .selectors import BOARD_CARDS, BOARD_CARDS_MAX, BOARD_SORTS, opportunity_board, stage_in_org
from .services import opportunity_move

# (prefix, viewset, basename) for pulse/urls.py; each section appends its own.
routes: list = []

# --- pipelines, stages, loss reasons, quotas (B) ---


class _BTeamField(serializers.PrimaryKeyRelatedField):
    """A team of the current organization the caller may see (per request: rule 1)."""

    def get_queryset(self):
        return Team.objects.restrict(self.context["request"].user, "view")


class _BPipelineField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return Pipeline.objects.restrict(self.context["request"].user, "view")


class StageSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """One stage of a pipeline. ``pipeline`` is set when the stage is added."""

    pipeline = _BPipelineField()

    class Meta:
        model = Stage
        fields = [
            "id",
            "pipeline",
            "name",
            "type",
            "position",
            "probability",
            "rotting_days",
            "color",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_pipeline(self, value):
        if self.instance is not None and value.pk != self.instance.pipeline_id:
            raise serializers.ValidationError(
                _("A stage stays in its pipeline; add one to the other.")
            )
        return value


class OpportunityPipelineStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "type", "position", "probability", "rotting_days", "color"]
        read_only_fields = fields


class OpportunityPipelineSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A pipeline with its live stages in board order (read-only here; change them at
    ``/api/crm/stages/``)."""

    stages = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "name",
            "position",
            "is_default",
            "stages",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "stages", "created_at", "updated_at"]

    @extend_schema_field(OpportunityPipelineStageSerializer(many=True))
    def get_stages(self, pipeline):
        stages = getattr(pipeline, "live_stages", None)
        if stages is None:
            stages = selectors.stages_of(pipeline)
        return OpportunityPipelineStageSerializer(stages, many=True).data


class LossReasonSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A reason a deal was lost; ``active`` false: no longer offered."""

    class Meta:
        model = LossReason
        fields = ["id", "name", "position", "active", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "created_at", "updated_at"]


class QuotaSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A goal of one user (``user``, a user id) or one team (``team``) for a month, a
    quarter or a fiscal year; ``period_start`` is moved to the period's first day."""

    user = MemberField(allow_null=True, required=False)
    team = _BTeamField(allow_null=True, required=False)

    class Meta:
        model = Quota
        fields = [
            "id",
            "user",
            "team",
            "period",
            "period_start",
            "metric",
            "target",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness and user-xor-team are the service's to check (one error shape).
        validators = []


class ReorderSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=500)


class StageReorderSerializer(ReorderSerializer):
    pipeline = serializers.UUIDField()


class _BReorderMixin:
    """``POST …/reorder/ {"ids": [...]}``: the new order of every live record."""

    def _reorder_response(self, records):
        return Response(self.get_serializer(records, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List pipelines with their stages"),
    retrieve=extend_schema(summary="Get a pipeline with its stages"),
    create=extend_schema(summary="Add a pipeline (it gets the default stages)"),
    update=extend_schema(summary="Replace a pipeline"),
    partial_update=extend_schema(summary="Rename a pipeline or make it the default"),
    destroy=extend_schema(summary="Delete a pipeline that holds no live deals"),
)
class PipelineViewSet(_BReorderMixin, TenantModelViewSet):
    model = Pipeline
    serializer_class = OpportunityPipelineSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["position", "name", "created_at"]
    ordering = ["position", "name"]
    permission_map = {"reorder": "edit"}

    @property
    def prefetch_related(self):
        live = Stage.objects.filter(deleted_at__isnull=True).order_by("position", "name")
        return (Prefetch("stages", queryset=live, to_attr="live_stages"),)

    def list(self, request, *args, **kwargs):
        services.pipeline_ensure_defaults(org=request.organization, actor=request.user)
        return super().list(request, *args, **kwargs)

    def create_record(self, data):
        return services.pipeline_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.pipeline_update(
            pipeline=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.pipeline_delete(pipeline=instance, actor=self.request.user)

    @extend_schema(
        summary="Put the pipelines in a new order",
        request=ReorderSerializer,
        responses={200: OpportunityPipelineSerializer(many=True)},
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        body = ReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.pipeline_reorder(
            org=request.organization, actor=request.user, ids=body.validated_data["ids"]
        )
        return self._reorder_response(self.get_queryset().order_by("position", "name"))


@extend_schema_view(
    list=extend_schema(summary="List stages (filter by pipeline), in board order"),
    retrieve=extend_schema(summary="Get a stage"),
    create=extend_schema(summary="Add a stage to a pipeline"),
    update=extend_schema(summary="Replace a stage"),
    partial_update=extend_schema(
        summary="Change a stage",
        description="A new default probability is given to the stage's open deals whose "
        "probability nobody set by hand.",
    ),
    destroy=extend_schema(summary="Delete a stage that holds no live deals"),
)
class StageViewSet(_BReorderMixin, TenantModelViewSet):
    model = Stage
    serializer_class = StageSerializer
    filterset_class = StageFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["position", "name", "created_at"]
    ordering = ["pipeline__position", "pipeline__name", "position", "name"]
    select_related = ("pipeline",)
    permission_map = {"reorder": "edit"}

    def create_record(self, data):
        return services.stage_create(pipeline=data.pop("pipeline"), actor=self.request.user, **data)

    def update_record(self, instance, data, expected_version):
        data.pop("pipeline", None)
        return services.stage_update(
            stage=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.stage_delete(stage=instance, actor=self.request.user)

    @extend_schema(
        summary="Put a pipeline's stages in a new order",
        request=StageReorderSerializer,
        responses={200: StageSerializer(many=True)},
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        body = StageReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        pipeline = (
            Pipeline.objects.restrict(request.user, "edit")
            .filter(pk=body.validated_data["pipeline"])
            .first()
        )
        if pipeline is None:
            raise ApplicationError(errors={"pipeline": [_("No such pipeline.")]})
        stages = services.stage_reorder(
            pipeline=pipeline, actor=request.user, ids=body.validated_data["ids"]
        )
        return self._reorder_response(stages)


@extend_schema_view(
    list=extend_schema(summary="List loss reasons in the order they are offered"),
    retrieve=extend_schema(summary="Get a loss reason"),
    create=extend_schema(summary="Add a loss reason"),
    update=extend_schema(summary="Replace a loss reason"),
    partial_update=extend_schema(summary="Rename a loss reason or stop offering it"),
    destroy=extend_schema(summary="Delete a loss reason no live deal gives"),
)
class LossReasonViewSet(_BReorderMixin, TenantModelViewSet):
    model = LossReason
    serializer_class = LossReasonSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["position", "name", "created_at"]
    ordering = ["position", "name"]
    permission_map = {"reorder": "edit"}

    def create_record(self, data):
        return services.lossreason_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.lossreason_update(
            reason=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.lossreason_delete(reason=instance, actor=self.request.user)

    @extend_schema(
        summary="Put the loss reasons in a new order",
        request=ReorderSerializer,
        responses={200: LossReasonSerializer(many=True)},
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        body = ReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reasons = services.lossreason_reorder(
            org=request.organization, actor=request.user, ids=body.validated_data["ids"]
        )
        return self._reorder_response(reasons)


@extend_schema_view(
    list=extend_schema(summary="List quotas (filter by user, team, period, period_start range)"),
    retrieve=extend_schema(summary="Get a quota"),
    create=extend_schema(summary="Set a quota for a user or a team"),
    update=extend_schema(summary="Replace a quota"),
    partial_update=extend_schema(summary="Change a quota"),
    destroy=extend_schema(summary="Delete a quota"),
)
class QuotaViewSet(TenantModelViewSet):
    model = Quota
    serializer_class = QuotaSerializer
    filterset_class = QuotaFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["period_start", "target", "created_at"]
    ordering = ["-period_start", "period", "id"]
    select_related = ("user", "team")

    def create_record(self, data):
        return services.quota_create(org=self.request.organization, actor=self.request.user, **data)

    def update_record(self, instance, data, expected_version):
        return services.quota_update(
            quota=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.quota_delete(quota=instance, actor=self.request.user)


routes += [
    ("pipelines", PipelineViewSet, "pipeline"),
    ("stages", StageViewSet, "stage"),
    ("loss-reasons", LossReasonViewSet, "lossreason"),
    ("quotas", QuotaViewSet, "quota"),
]

# --- forecast (C): class OpportunityForecastActions ---

_C_MONEY = {"max_digits": 18, "decimal_places": 2}
_C_PERCENT = {"max_digits": 9, "decimal_places": 1, "allow_null": True}


def _c_figure_fields(prefix: str) -> dict:
    """The forecast numbers as serializer fields read from ``prefix`` (flat in the answer)."""

    def src(name) -> dict:
        # DRF refuses a ``source`` equal to the field's own name.
        return {"source": f"{prefix}{name}"} if prefix else {}

    def money(name, **extra):
        return serializers.DecimalField(**src(name), **_C_MONEY, **extra)

    def count(name):
        return serializers.IntegerField(**src(name))

    return {
        "closed_won": money(
            "closed_won", help_text=gettext_lazy("Won deals closed in the period.")
        ),
        "won_count": count("won_count"),
        "commit": money("commit", help_text=gettext_lazy("Open deals in the commit category.")),
        "commit_count": count("commit_count"),
        "best_case": money(
            "best_case", help_text=gettext_lazy("Open deals in the best case category.")
        ),
        "best_case_count": count("best_case_count"),
        "pipeline": money(
            "pipeline",
            help_text=gettext_lazy("Every open deal that is not omitted (any category)."),
        ),
        "pipeline_weighted": money(
            "pipeline_weighted",
            help_text=gettext_lazy("The pipeline, each deal at its probability."),
        ),
        "pipeline_count": count("pipeline_count"),
        "quota": money(
            "quota", allow_null=True, help_text=gettext_lazy("Revenue quota (null: none).")
        ),
        "quota_deals": serializers.DecimalField(
            **src("quota_deals"),
            max_digits=14,
            decimal_places=2,
            allow_null=True,
            help_text=gettext_lazy("Quota in deals won (null: none)."),
        ),
        "attainment": serializers.DecimalField(
            **src("attainment"),
            **_C_PERCENT,
            help_text=gettext_lazy("Closed won ÷ revenue quota, per cent."),
        ),
        "attainment_deals": serializers.DecimalField(
            **src("attainment_deals"),
            **_C_PERCENT,
            help_text=gettext_lazy("Deals won ÷ deal quota, per cent."),
        ),
        "unconverted_count": serializers.IntegerField(
            **src("unconverted_count"),
            help_text=gettext_lazy("Deals left out: their currency has no exchange rate."),
        ),
    }


class ForecastAccuracySerializer(serializers.Serializer):
    committed = serializers.DecimalField(
        **_C_MONEY,
        help_text=gettext_lazy("Commit + closed in the earliest snapshot of the period."),
    )
    closed_won = serializers.DecimalField(**_C_MONEY)
    variance = serializers.DecimalField(
        **_C_MONEY, help_text=gettext_lazy("Closed won − committed.")
    )
    accuracy = serializers.DecimalField(
        **_C_PERCENT, help_text=gettext_lazy("100 − |variance| ÷ committed, per cent, at least 0.")
    )
    snapshot_on = serializers.DateField()


ForecastFiguresSerializer = type(
    "ForecastFiguresSerializer", (serializers.Serializer,), _c_figure_fields("")
)
ForecastOwnerSerializer = type(
    "ForecastOwnerSerializer",
    (serializers.Serializer,),
    {
        "id": serializers.IntegerField(
            allow_null=True, help_text=gettext_lazy("User id; null: unassigned.")
        ),
        "name": serializers.CharField(),
        "accuracy": ForecastAccuracySerializer(allow_null=True),
        **_c_figure_fields("figures."),
    },
)
ForecastTeamSerializer = type(
    "ForecastTeamSerializer",
    (serializers.Serializer,),
    {
        "id": serializers.UUIDField(),
        "name": serializers.CharField(),
        "accuracy": ForecastAccuracySerializer(allow_null=True),
        **_c_figure_fields("figures."),
    },
)


class ForecastHistoryPointSerializer(serializers.Serializer):
    taken_on = serializers.DateField()
    closed = serializers.DecimalField(**_C_MONEY)
    commit = serializers.DecimalField(**_C_MONEY)
    best_case = serializers.DecimalField(**_C_MONEY)
    pipeline = serializers.DecimalField(**_C_MONEY)


ForecastPeriodSerializer = type(
    "ForecastPeriodSerializer",
    (serializers.Serializer,),
    {
        "start": serializers.DateField(),
        "end": serializers.DateField(help_text=gettext_lazy("The period's last day (inclusive).")),
        "label": serializers.CharField(),
        "is_closed": serializers.BooleanField(),
        "is_current": serializers.BooleanField(),
        **_c_figure_fields("total."),
        "owners": ForecastOwnerSerializer(many=True),
        "teams": ForecastTeamSerializer(many=True),
        "accuracy": ForecastAccuracySerializer(
            allow_null=True, help_text=gettext_lazy("Closed periods with a snapshot only.")
        ),
        "history": ForecastHistoryPointSerializer(
            many=True, help_text=gettext_lazy("The weekly snapshots of this period, oldest first.")
        ),
    },
)


class ForecastRateSerializer(serializers.Serializer):
    currency = serializers.CharField()
    rate = serializers.DecimalField(max_digits=20, decimal_places=8)
    rate_date = serializers.DateField(
        allow_null=True, help_text=gettext_lazy("The day the rate is valid from.")
    )


class ForecastMissingRateSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(
        **_C_MONEY, help_text=gettext_lazy("In that currency; not converted.")
    )
    deals = serializers.IntegerField()


class ForecastSerializer(serializers.Serializer):
    currency = serializers.CharField(
        help_text=gettext_lazy("The organization's currency: every amount is in it.")
    )
    period = serializers.CharField()
    year = serializers.IntegerField(
        help_text=gettext_lazy("The calendar year the fiscal year starts in.")
    )
    year_label = serializers.CharField()
    periods = ForecastPeriodSerializer(many=True)
    totals = ForecastFiguresSerializer(
        source="total", help_text=gettext_lazy("The whole fiscal year.")
    )
    owners = ForecastOwnerSerializer(
        many=True, help_text=gettext_lazy("The whole fiscal year by owner.")
    )
    teams = ForecastTeamSerializer(
        many=True, help_text=gettext_lazy("The whole fiscal year by team.")
    )
    rates = ForecastRateSerializer(many=True, help_text=gettext_lazy("The exchange rates used."))
    missing_rates = ForecastMissingRateSerializer(
        many=True, help_text=gettext_lazy("Currencies with no rate: their deals are left out.")
    )


class ForecastCategorySerializer(serializers.Serializer):
    forecast_category = serializers.ChoiceField(choices=forecasting.SETTABLE_CATEGORIES)
    version = serializers.IntegerField(
        required=False,
        help_text=gettext_lazy("Send back the version you read: a stale one is refused."),
    )


class ForecastCategoryResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    forecast_category = serializers.CharField()
    version = serializers.IntegerField()


_C_FORECAST_PARAMS = [
    OpenApiParameter(
        "period",
        str,
        enum=list(forecasting.PERIOD_KINDS),
        description=gettext_lazy("Default: quarter."),
    ),
    OpenApiParameter(
        "year",
        int,
        description=gettext_lazy(
            "Fiscal year, by the calendar year it starts in (default: the current)."
        ),
    ),
    OpenApiParameter("team", str, description=gettext_lazy("Team id: its members' deals only.")),
    OpenApiParameter(
        "assigned_to", int, description=gettext_lazy("User id: one owner's deals only.")
    ),
    OpenApiParameter("pipeline", str, description=gettext_lazy("Pipeline id.")),
]


class OpportunityForecastActions:
    """``GET /api/crm/opportunities/forecast/`` and
    ``POST /api/crm/opportunities/{id}/forecast-category/`` (a manager's adjustment)."""

    def get_permission_action(self) -> str:
        if getattr(self, "action", None) == "forecast":
            return "view"
        if getattr(self, "action", None) == "forecast_category":
            return "edit"
        return super().get_permission_action()

    @extend_schema(
        summary="Forecast by fiscal period, owner and team, with quotas and accuracy",
        parameters=_C_FORECAST_PARAMS,
        responses={200: ForecastSerializer},
    )
    @action(detail=False, methods=["get"], url_path="forecast")
    def forecast(self, request):
        """Closed won, commit, best case and pipeline (unweighted and weighted) per period
        of the fiscal year, per owner, per team and in total, in the organization's
        currency, with quotas, attainment, the snapshots and (closed periods) accuracy."""
        org = request.organization
        query = forecasting.forecast_query(org, request.query_params)
        result = forecasting.forecast(
            org,
            request.user,
            period=query.period,
            year=query.year,
            team=query.team,
            assigned_to=query.assigned_to,
            pipeline=query.pipeline,
        )
        return Response(ForecastSerializer(result).data)

    @extend_schema(
        summary="Change a deal's forecast category",
        request=ForecastCategorySerializer,
        responses={200: ForecastCategoryResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="forecast-category")
    def forecast_category(self, request, pk=None):
        """Managers change anyone's open deal; a rep only their own (403 otherwise). The
        change is audited like every edit."""
        deal = self.get_object()
        body = ForecastCategorySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deal = forecasting.opportunity_forecast_category_set(
            opportunity=deal,
            category=body.validated_data["forecast_category"],
            actor=request.user,
            expected_version=body.validated_data.get("version"),
        )
        return Response(ForecastCategoryResultSerializer(deal).data)


# --- win/loss and stage analysis (D): class OpportunityAnalysisActions ---


# The response shapes, for the OpenAPI schema (the data comes from analytics.as_dict()).
_D_MONEY = {"allow_null": True, "help_text": "Decimal string in the organization's currency."}
_D_RATE = {"allow_null": True, "help_text": "Percent (0–100); null when nothing to divide."}


class AnalysisFiltersSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    pipeline = serializers.UUIDField(allow_null=True)
    assigned_to = serializers.IntegerField(allow_null=True)
    team = serializers.UUIDField(allow_null=True)


class AnalysisSummarySerializer(serializers.Serializer):
    closed = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(**_D_RATE)
    won_value = serializers.CharField(**_D_MONEY)
    lost_value = serializers.CharField(**_D_MONEY)
    avg_deal_size = serializers.CharField(**_D_MONEY)
    avg_cycle_days = serializers.FloatField(allow_null=True)


class VelocitySerializer(serializers.Serializer):
    open_count = serializers.IntegerField(help_text="Open deals today.")
    open_value = serializers.CharField(**_D_MONEY)
    avg_open_value = serializers.CharField(**_D_MONEY)
    win_rate = serializers.FloatField(**_D_RATE)
    avg_cycle_days = serializers.FloatField(allow_null=True)
    per_day = serializers.CharField(
        allow_null=True,
        help_text="(open deals × average value × win rate) ÷ average cycle days.",
    )


class AnalysisMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    won_value = serializers.CharField(**_D_MONEY)
    lost_value = serializers.CharField(**_D_MONEY)


class WinRateRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    closed = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(**_D_RATE)


class LossReasonRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    value = serializers.CharField(**_D_MONEY)
    share = serializers.FloatField(**_D_RATE)


class StageAnalysisSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()
    reached = serializers.IntegerField(
        help_text="Closed deals that reached this stage or a later one."
    )
    advanced = serializers.IntegerField(help_text="…of which reached the next open stage (or won).")
    conversion_rate = serializers.FloatField(**_D_RATE)
    won = serializers.IntegerField()
    win_rate = serializers.FloatField(**_D_RATE)
    exits = serializers.IntegerField(help_text="Moves out of this stage in the range.")
    avg_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)


class PipelineAnalysisSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    stages = StageAnalysisSerializer(many=True)


class UnconvertedSerializer(serializers.Serializer):
    currencies = serializers.ListField(child=serializers.CharField())
    deals = serializers.IntegerField()


class OpportunityAnalysisSerializer(serializers.Serializer):
    filters = AnalysisFiltersSerializer()
    currency = serializers.CharField()
    summary = AnalysisSummarySerializer()
    velocity = VelocitySerializer()
    by_month = AnalysisMonthSerializer(many=True)
    by_owner = WinRateRowSerializer(many=True)
    by_source = WinRateRowSerializer(many=True)
    by_pipeline = WinRateRowSerializer(many=True)
    loss_reasons = LossReasonRowSerializer(many=True)
    pipelines = PipelineAnalysisSerializer(many=True)
    unconverted = UnconvertedSerializer()


_D_FILTER_PARAMS = [
    OpenApiParameter(
        "date_from", OpenApiTypes.DATE, description="Closed from (default: 12 months ago)"
    ),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Closed up to (default: today)"),
    OpenApiParameter("pipeline", OpenApiTypes.UUID, description="One pipeline"),
    OpenApiParameter("assigned_to", OpenApiTypes.INT, description="One owner (user id)"),
    OpenApiParameter("team", OpenApiTypes.UUID, description="The deals of one team's members"),
]


class OpportunityAnalysisActions:
    """``GET …/opportunities/analysis/`` (win/loss and stage analysis) and
    ``GET …/opportunities/velocity/`` (pipeline velocity alone), with the page's filters."""

    def _analysis_filters(self, request) -> analytics.AnalysisFilters:
        form = analytics.AnalysisFilterForm(request.query_params, org=request.organization)
        if not form.is_valid():
            raise ApplicationError(errors={k: [str(m) for m in v] for k, v in form.errors.items()})
        return form.filters()

    @extend_schema(
        summary="Win/loss and stage analysis of closed deals",
        parameters=_D_FILTER_PARAMS,
        responses={200: OpportunityAnalysisSerializer},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="analysis",
        pagination_class=None,
        filter_backends=[],
    )
    def analysis(self, request):
        filters = self._analysis_filters(request)
        data = analytics.win_loss_analysis(
            user=request.user, org=request.organization, filters=filters
        )
        return Response(data.as_dict())

    @extend_schema(
        summary="Pipeline velocity: open value × win rate ÷ sales cycle, per day",
        parameters=_D_FILTER_PARAMS,
        responses={200: VelocitySerializer},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="velocity",
        pagination_class=None,
        filter_backends=[],
    )
    def velocity(self, request):
        filters = self._analysis_filters(request)
        velocity = analytics.pipeline_velocity(
            user=request.user, org=request.organization, filters=filters
        )
        return Response(velocity.as_dict())


# --- board and stage moves (K): class OpportunityBoardActions ---


class BoardCardSerializer(serializers.ModelSerializer):
    """An opportunity as a board card (what the card shows, nothing more)."""

    value = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    company_id = serializers.UUIDField(read_only=True, allow_null=True)
    company_name = serializers.SerializerMethodField()
    assigned_to = serializers.PrimaryKeyRelatedField(read_only=True)
    assigned_to_name = serializers.SerializerMethodField()
    days_in_stage = serializers.IntegerField(read_only=True)
    is_rotting = serializers.BooleanField(
        read_only=True, help_text="Open and idle longer than the stage's rotting days."
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "name",
            "company_id",
            "company_name",
            "value",
            "currency",
            "probability",
            "expected_close_date",
            "actual_close_date",
            "status",
            "assigned_to",
            "assigned_to_name",
            "stage_changed_at",
            "days_in_stage",
            "last_activity_at",
            "is_rotting",
            "version",
        ]
        read_only_fields = fields

    def get_company_name(self, opportunity) -> str | None:
        return opportunity.company.name if opportunity.company_id else None

    def get_assigned_to_name(self, opportunity) -> str | None:
        return str(opportunity.assigned_to) if opportunity.assigned_to_id else None


_CARD_VALUE = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
_CARD_DATE = serializers.DateField()
_CARD_DATETIME = serializers.DateTimeField()


@extend_schema_field(BoardCardSerializer(many=True))
class BoardCardsField(serializers.Field):
    """A column's cards (``selectors.BoardCard``) as ``BoardCardSerializer`` would write
    them, without a serializer per card: the board lists up to 600 of them."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return instance["cards"] if isinstance(instance, dict) else instance.cards

    def to_representation(self, cards):
        value, date, stamp = (
            _CARD_VALUE.to_representation,
            _CARD_DATE.to_representation,
            _CARD_DATETIME.to_representation,
        )
        return [
            {
                "id": str(c.pk),
                "name": c.name,
                "company_id": None if c.company_id is None else str(c.company_id),
                "company_name": c.company_name,
                "value": value(c.value),
                "currency": c.currency,
                "probability": c.probability,
                "expected_close_date": date(c.expected_close_date)
                if c.expected_close_date
                else None,
                "actual_close_date": date(c.actual_close_date) if c.actual_close_date else None,
                "status": c.status,
                "assigned_to": c.assigned_to_id,
                "assigned_to_name": c.assigned_to_name,
                "stage_changed_at": stamp(c.stage_changed_at),
                "days_in_stage": c.days_in_stage,
                "last_activity_at": stamp(c.last_activity_at),
                "is_rotting": c.is_rotting,
                "version": c.version,
            }
            for c in cards
        ]


class BoardCurrencyTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    count = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)
    weighted = serializers.DecimalField(
        max_digits=18, decimal_places=2, coerce_to_string=True, help_text="Σ value × probability."
    )
    converted = serializers.BooleanField(
        help_text="False: no exchange rate, left out of the stage's totals."
    )
    rate = serializers.DecimalField(
        max_digits=18, decimal_places=8, coerce_to_string=True, allow_null=True
    )
    rate_date = serializers.DateField(allow_null=True, help_text="The rate is valid from this day.")


class BoardStageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=StageType.choices)
    probability = serializers.IntegerField()
    rotting_days = serializers.IntegerField(allow_null=True)
    color = serializers.CharField()
    count = serializers.IntegerField()
    value_total = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        coerce_to_string=True,
        help_text="Total value in the organization's currency.",
    )
    weighted_total = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        coerce_to_string=True,
        help_text="Σ value × probability in the organization's currency.",
    )
    currency = serializers.CharField()
    totals = BoardCurrencyTotalSerializer(many=True, help_text="Per currency, with the rate used.")
    closed_from = serializers.DateField(
        allow_null=True,
        help_text="Won and lost stages count and list only the deals closed from this day "
        "(the current fiscal quarter); null for open stages.",
    )
    closed_to = serializers.DateField(allow_null=True, help_text="… to this day (inclusive).")
    more = serializers.IntegerField(help_text="Deals in the stage beyond the cards listed.")
    cards = BoardCardsField()


class BoardPipelineSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class BoardSerializer(serializers.Serializer):
    pipeline = BoardPipelineSerializer()
    currency = serializers.CharField()
    count = serializers.IntegerField()
    value_total = serializers.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)
    weighted_total = serializers.DecimalField(
        max_digits=18, decimal_places=2, coerce_to_string=True
    )
    stages = BoardStageSerializer(many=True)


class OpportunityStageMoveSerializer(serializers.Serializer):
    """``PUT …/opportunities/{id}/stage/``: the stage to move to and its close facts."""

    stage = serializers.UUIDField(help_text="Id of a stage of the opportunity's pipeline.")
    actual_close_date = serializers.DateField(
        required=False, allow_null=True, help_text="Required when the stage is a won stage."
    )
    loss_reason = serializers.UUIDField(
        required=False, allow_null=True, help_text="Id of a loss reason; required for lost."
    )
    competitor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The version you read: if the deal changed since, 400 with a `version` error.",
    )

    def validate_stage(self, value):
        stage = stage_in_org(self.context["request"].organization, value)
        if stage is None:
            raise serializers.ValidationError(_("This stage does not exist (any more)."))
        return stage

    def validate_loss_reason(self, value):
        if value is None:
            return None
        reason = LossReason.objects.filter(pk=value, active=True).first()
        if reason is None:
            raise serializers.ValidationError(_("Choose one of the offered loss reasons."))
        return reason


BOARD_PARAMETERS = [
    OpenApiParameter("pipeline", str, description="Pipeline id (default: the default pipeline)."),
    OpenApiParameter("assigned_to", str, many=True, description="User ids, `me`, `unassigned`."),
    OpenApiParameter("team", str, description="Team id: deals owned by its members."),
    OpenApiParameter("tags", str, many=True, description="Tag ids (any of them)."),
    OpenApiParameter("close_from", str, description="Expected close on or after (YYYY-MM-DD)."),
    OpenApiParameter("close_to", str, description="Expected close on or before (YYYY-MM-DD)."),
    OpenApiParameter("value_min", str, description="Value at least (in the deal's currency)."),
    OpenApiParameter("value_max", str, description="Value at most (in the deal's currency)."),
    OpenApiParameter("search", str, description="Words in the name, company or contact."),
    OpenApiParameter("sort", str, enum=list(BOARD_SORTS), description="Card order (newest)."),
    OpenApiParameter("cards", int, description=f"Cards per stage (0–{BOARD_CARDS_MAX})."),
]


class OpportunityBoardActions:
    """``GET …/opportunities/board/`` and ``PUT …/opportunities/{id}/stage/`` (section K)."""

    board_permissions = {"board": "view", "stage": "edit"}

    def get_permission_action(self) -> str:
        return self.board_permissions.get(getattr(self, "action", None)) or (
            super().get_permission_action()
        )

    @extend_schema(
        summary="The kanban board of a pipeline",
        parameters=BOARD_PARAMETERS,
        responses={200: BoardSerializer},
    )
    @action(detail=False, methods=["get"], url_path="board")
    def board(self, request):
        """Stages in order with count, total and weighted total (in the organization's
        currency, with the rates used) and the first cards of each; the list's filters."""
        params = request.query_params
        try:
            cards = int(params.get("cards", BOARD_CARDS))
        except ValueError:
            raise ApplicationError(errors={"cards": [_("Enter a whole number.")]})
        if not 0 <= cards <= BOARD_CARDS_MAX:
            raise ApplicationError(
                errors={"cards": [_("Ask for 0 to %(max)d cards.") % {"max": BOARD_CARDS_MAX}]}
            )
        filters = QueryDict(mutable=True)
        for key, values in params.lists():
            if key not in ("cards", "format"):
                filters.setlist(key, values)
        board = opportunity_board(
            user=request.user,
            org=request.organization,
            params=filters,
            cards=cards,
            request=request,
            texts=False,  # the card texts are the page's
        )
        data = {
            "pipeline": {"id": board.pipeline.pk, "name": board.pipeline.name},
            "currency": board.currency,
            "count": board.count,
            "value_total": board.value_total,
            "weighted_total": board.weighted_total,
            "stages": [
                {
                    "id": c.stage.pk,
                    "name": c.stage.name,
                    "type": c.stage.type,
                    "probability": c.stage.probability,
                    "rotting_days": c.stage.rotting_days,
                    "color": c.stage.color,
                    "count": c.count,
                    "value_total": c.value_total,
                    "weighted_total": c.weighted_total,
                    "currency": c.currency,
                    "totals": [vars(t) for t in c.totals],
                    "closed_from": c.window.start if c.window else None,
                    "closed_to": c.window.end if c.window else None,
                    "more": c.more,
                    "cards": c.cards,
                }
                for c in board.columns
            ],
        }
        return Response(BoardSerializer(data, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Move an opportunity to another stage", request=OpportunityStageMoveSerializer
    )
    @action(detail=True, methods=["put"], url_path="stage")
    def stage(self, request, pk=None):
        """Move the deal to ``stage`` (won needs ``actual_close_date``, lost a
        ``loss_reason``); recorded in its stage history. Returns the opportunity."""
        opportunity = self.get_object()
        body = OpportunityStageMoveSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        stage = data["stage"]
        opportunity = opportunity_move(
            opportunity=opportunity,
            stage=stage,
            actor=request.user,
            expected_version=data.get("version"),
            actual_close_date=data.get("actual_close_date"),
            loss_reason=data.get("loss_reason"),
            competitor=data.get("competitor") if stage.type == StageType.LOST else None,
            notes=data.get("notes", ""),
        )
        opportunity = self.get_queryset().get(pk=opportunity.pk)
        return Response(self.get_serializer(opportunity).data)


# --- opportunities: CRUD, move stage, line items, contact roles (A) ---


class OpportunityLineItemSerializer(serializers.ModelSerializer):
    """A product line; send ``id`` to keep (and change) an existing line, leave it out
    for a new one. Lines left out of a write are removed."""

    id = serializers.UUIDField(required=False)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = OpportunityLineItem
        fields = ["id", "product_name", "quantity", "unit_price", "discount", "total"]
        # The service validates (full_clean) so UI and API give the same messages.
        extra_kwargs = {"product_name": {"validators": []}}


class StageRefField(serializers.CharField):
    """A stage by id, or by name within the given (or the deal's, or the default)
    pipeline; answered as the id."""

    def to_representation(self, value):
        return str(getattr(value, "pk", value))


class OpportunitySerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A deal with the product spec's field names. ``value`` is a decimal string in
    ``currency``; with ``line_items`` the lines' totals are the value."""

    lead_id = TenantRelatedField(model=Lead, source="lead", required=False, allow_null=True)
    contact_id = TenantRelatedField(
        model=Contact, source="contact", required=False, allow_null=True
    )
    company_id = TenantRelatedField(
        model=Company, source="company", required=False, allow_null=True
    )
    pipeline = TenantRelatedField(
        model=Pipeline,
        required=False,
        help_text=gettext_lazy(
            "Pipeline id; default: the stage's pipeline, else the default pipeline."
        ),
    )
    stage = StageRefField(
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Stage id, or a stage name of the pipeline; default: its first open stage."
        ),
    )
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    value = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        coerce_to_string=True,
        help_text=gettext_lazy(
            "A decimal string in `currency`; set by the line items when there are any."
        ),
    )
    currency = serializers.CharField(
        required=False,
        max_length=3,
        help_text=gettext_lazy("ISO 4217 code; default: the organization's currency."),
    )
    probability = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=gettext_lazy(
            "0–100; leave out (or null on update) to follow the stage's default."
        ),
    )
    loss_reason = TenantRelatedField(model=LossReason, required=False, allow_null=True)
    assigned_to = MemberField(
        required=False,
        allow_null=True,
        help_text=gettext_lazy("User id of the owner; defaults to you."),
    )
    tags = TagsField(model=Tag, many=True, required=False)
    custom_fields = CustomFieldsSerializerField(required=False)
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    weighted_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, coerce_to_string=True
    )
    days_in_stage = serializers.IntegerField(read_only=True)
    is_rotting = serializers.BooleanField(read_only=True)
    line_items = OpportunityLineItemSerializer(many=True, required=False)

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "name",
            "description",
            "lead_id",
            "contact_id",
            "company_id",
            "pipeline",
            "stage",
            "stage_name",
            "value",
            "currency",
            "probability",
            "probability_is_custom",
            "expected_close_date",
            "actual_close_date",
            "status",
            "loss_reason",
            "competitor",
            "forecast_category",
            "source",
            "assigned_to",
            "created_by",
            "tags",
            "custom_fields",
            "weighted_value",
            "days_in_stage",
            "is_rotting",
            "line_items",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "probability_is_custom", "status", "created_at", "updated_at"]

    def validate_currency(self, value):
        return (value or "").strip().upper()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "stage" in attrs:
            attrs["stage"] = self._resolve_stage(attrs["stage"], attrs.get("pipeline"))
        if self.instance is None and not attrs.get("currency"):
            attrs.pop("currency", None)
        return attrs

    def _resolve_stage(self, ref, pipeline):
        """The stage ``ref`` names: an id of any of the organization's pipelines (the
        service refuses one of another pipeline), or a name in the pipeline meant."""
        org = self.context["request"].organization
        ref = (ref or "").strip()
        if not ref:
            return None
        try:
            uuid.UUID(ref)
        except ValueError:
            pass
        else:
            stage = selectors.stage_in_org(org, ref)
            if stage is None:
                raise serializers.ValidationError({"stage": [_("No such stage.")]})
            return stage
        if pipeline is None and self.instance is not None:
            pipeline = self.instance.pipeline
        if pipeline is None:
            pipeline = services.default_pipeline(org)
        stages = selectors.stages_of(pipeline)
        for stage in stages:
            if stage.name.casefold() == ref.casefold():
                return stage
        raise serializers.ValidationError(
            {
                "stage": [
                    _("“%(ref)s” is no stage of %(pipeline)s; choose one of: %(names)s.")
                    % {
                        "ref": ref[:100],
                        "pipeline": pipeline.name,
                        "names": ", ".join(s.name for s in stages),
                    }
                ]
            }
        )


def _line_items_prefetch():
    return Prefetch(
        "line_items", queryset=OpportunityLineItem.objects.order_by("position", "created_at")
    )


class OpportunityContactRoleSerializer(serializers.ModelSerializer):
    """A person on the deal with their role (decision_maker, champion, influencer, user,
    other). POST the same contact again to change their role."""

    contact_id = TenantRelatedField(model=Contact, source="contact")
    contact_name = serializers.CharField(source="contact.__str__", read_only=True)
    role = serializers.ChoiceField(choices=ContactRole.choices)

    class Meta:
        model = OpportunityContact
        fields = ["id", "contact_id", "contact_name", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


@extend_schema_view(
    list=extend_schema(summary="List opportunities"),
    retrieve=extend_schema(summary="Get an opportunity"),
    create=extend_schema(summary="Create an opportunity"),
    update=extend_schema(summary="Replace an opportunity"),
    partial_update=extend_schema(summary="Change some fields of an opportunity"),
    destroy=extend_schema(summary="Move an opportunity to the trash"),
)
class OpportunityViewSet(
    OpportunityBoardActions,
    OpportunityForecastActions,
    OpportunityAnalysisActions,
    TenantModelViewSet,
):
    """Opportunities: ``search`` (name, company, contact), ``pipeline``, ``stage``
    (repeatable), ``status``, ``assigned_to`` (``me``, ``unassigned``, ids), ``team``,
    ``tags``, ``value_min``/``value_max``, ``close_from``/``close_to``, ``created_after``/
    ``created_before``, ``forecast_category``, ``source``, ``rotting``, ``cf_<key>``;
    ``ordering`` by created_at, name, value, expected_close_date, probability, stage,
    assigned_to, company."""

    model = Opportunity
    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilterSet
    filter_backends = [DjangoFilterBackend, MappedOrderingFilter]
    select_related = ("stage", "assigned_to")
    orderings = OPPORTUNITY_ORDERINGS
    default_ordering = "-created_at"

    @property
    def prefetch_related(self):
        # The list reads tags from a plain prefetched list; a record that a request may
        # change keeps Django's prefetch, which writes clear.
        tags = tags_prefetch() if getattr(self, "action", None) == "list" else "tags"
        return (tags, _line_items_prefetch())

    def get_permission_action(self) -> str:
        if getattr(self, "action", None) == "contacts":
            return "view" if self.request.method == "GET" else "edit"
        if getattr(self, "action", None) == "contact_remove":
            return "edit"
        return super().get_permission_action()

    def create_record(self, data):
        items = data.pop("line_items", None)
        with transaction.atomic():
            opportunity = services.opportunity_create(
                org=self.request.organization, actor=self.request.user, **data
            )
            if items:
                opportunity = services.opportunity_set_line_items(
                    opportunity=opportunity, actor=self.request.user, items=items
                )
        return self._fresh(opportunity)

    def update_record(self, instance, data, expected_version):
        items = data.pop("line_items", None)
        with transaction.atomic():
            opportunity = instance
            if data or expected_version is not None:
                opportunity = services.opportunity_update(
                    opportunity=instance,
                    actor=self.request.user,
                    expected_version=expected_version,
                    **data,
                )
            if items is not None:
                opportunity = services.opportunity_set_line_items(
                    opportunity=opportunity, actor=self.request.user, items=items
                )
        return self._fresh(opportunity)

    def delete_record(self, instance):
        services.opportunity_delete(opportunity=instance, actor=self.request.user)

    def _fresh(self, opportunity):
        # The answer shows what is stored now (value from the lines, the new version).
        return (
            Opportunity.objects.select_related("stage", "assigned_to")
            .prefetch_related("tags", _line_items_prefetch())
            .get(pk=opportunity.pk)
        )

    @extend_schema(
        summary="People on an opportunity, with their roles",
        methods=["GET"],
        responses={200: OpportunityContactRoleSerializer(many=True)},
    )
    @extend_schema(
        summary="Put a contact on an opportunity with a role (or change the role)",
        methods=["POST"],
        request=OpportunityContactRoleSerializer,
        responses={201: OpportunityContactRoleSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="contacts")
    def contacts(self, request, pk=None):
        opportunity = self.get_object()
        if request.method == "GET":
            roles = selectors.opportunity_contact_roles(opportunity)
            return Response(
                OpportunityContactRoleSerializer(
                    roles, many=True, context=self.get_serializer_context()
                ).data
            )
        body = OpportunityContactRoleSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        body.is_valid(raise_exception=True)
        role = services.opportunity_contact_add(
            opportunity=opportunity,
            contact=body.validated_data["contact"],
            role=body.validated_data["role"],
            actor=request.user,
        )
        return Response(
            OpportunityContactRoleSerializer(role, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(summary="Take a contact off an opportunity", responses={204: None})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"contacts/(?P<opportunitycontact_id>[0-9a-f-]{36})",
        url_name="contact-remove",
    )
    def contact_remove(self, request, pk=None, opportunitycontact_id=None):
        opportunity = self.get_object()
        role = (
            OpportunityContact.objects.restrict(request.user, "edit")
            .filter(pk=opportunitycontact_id, opportunity_id=opportunity.pk)
            .first()
        )
        if role is None:
            raise NotFound(_("No such person on this deal."))
        services.opportunity_contact_remove(contact_role=role, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


routes.append(("opportunities", OpportunityViewSet, "opportunity"))
