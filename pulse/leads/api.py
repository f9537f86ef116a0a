"""REST API of leads under /api/crm/: thin twins of the views, calling the same services.

Sections are owned by different parts of the leads feature. The lead viewset (last
section) mixes in the custom actions the other sections define above it.
"""

from __future__ import annotations

# (prefix, viewset, basename) for pulse/urls.py; each section appends its own.
routes: list = []

# --- routing, conversion, analytics (D) ---
from django.utils.translation import gettext as _d  # noqa: E402
from django_filters.rest_framework import DjangoFilterBackend as _DFilterBackend  # noqa: E402
from drf_spectacular.types import OpenApiTypes as _DTypes  # noqa: E402
from drf_spectacular.utils import OpenApiParameter as _DParam  # noqa: E402
from drf_spectacular.utils import extend_schema as _d_schema  # noqa: E402
from drf_spectacular.utils import extend_schema_view as _d_schema_view  # noqa: E402
from rest_framework import filters as _d_filters  # noqa: E402
from rest_framework import serializers as _d_ser  # noqa: E402
from rest_framework import status as _d_status  # noqa: E402
from rest_framework.decorators import action as _d_action  # noqa: E402
from rest_framework.response import Response as _DResponse  # noqa: E402

from pulse.core.api import TenantModelViewSet as _DTenantModelViewSet  # noqa: E402
from pulse.core.api import VersionedSerializerMixin as _DVersioned  # noqa: E402
from pulse.core.errors import ApplicationError as _DApplicationError  # noqa: E402

from . import conversion as _d_conversion  # noqa: E402
from . import routing as _d_routing  # noqa: E402
from .filtersets import AssignmentRuleFilterSet  # noqa: E402
from .models import AssignmentRule  # noqa: E402


class _DMemberField(_d_ser.PrimaryKeyRelatedField):
    """A user id among the request organization's members (per request: rule 1)."""

    def get_queryset(self):
        from pulse.accounts.models import User
        from pulse.accounts.selectors import organization_members

        org = getattr(self.context.get("request"), "organization", None)
        return organization_members(org) if org is not None else User.objects.none()


class _DTeamField(_d_ser.PrimaryKeyRelatedField):
    def get_queryset(self):
        from pulse.accounts.models import Team

        return Team.objects.restrict(self.context["request"].user, "view")


class AssignmentRuleSerializer(_DVersioned, _d_ser.ModelSerializer):
    """An assignment rule. ``conditions``: [{"field", "operator", "value"}];
    ``territories``: {"BG": user id, "EMEA": user id}."""

    team = _DTeamField(allow_null=True, required=False)
    users = _DMemberField(many=True, required=False)
    conditions = _d_ser.JSONField(required=False)
    territories = _d_ser.JSONField(required=False)

    class Meta:
        model = AssignmentRule
        fields = [
            "id",
            "name",
            "position",
            "active",
            "strategy",
            "conditions",
            "team",
            "users",
            "territories",
            "last_assigned",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "last_assigned", "created_at", "updated_at"]


class AssignmentRuleReorderSerializer(_d_ser.Serializer):
    ids = _d_ser.ListField(child=_d_ser.UUIDField(), allow_empty=False, max_length=500)


class MemberAvailabilitySerializer(_d_ser.Serializer):
    user = _d_ser.IntegerField(help_text="The member's user id.")
    available_for_assignment = _d_ser.BooleanField()


@_d_schema_view(
    list=_d_schema(summary="List assignment rules (in evaluation order)"),
    retrieve=_d_schema(summary="Get an assignment rule"),
    create=_d_schema(summary="Add an assignment rule"),
    update=_d_schema(summary="Replace an assignment rule"),
    partial_update=_d_schema(summary="Change some fields of an assignment rule"),
    destroy=_d_schema(summary="Move an assignment rule to the trash"),
)
class AssignmentRuleViewSet(_DTenantModelViewSet):
    model = AssignmentRule
    serializer_class = AssignmentRuleSerializer
    filterset_class = AssignmentRuleFilterSet
    filter_backends = [_DFilterBackend, _d_filters.OrderingFilter]
    ordering_fields = ["position", "name", "created_at"]
    ordering = ["position", "name"]
    select_related = ("team",)
    prefetch_related = ("users",)
    permission_map = {"reorder": "edit", "availability": "view", "set_availability": "view"}

    def create_record(self, data):
        return _d_routing.assignmentrule_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return _d_routing.assignmentrule_update(
            rule=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        _d_routing.assignmentrule_delete(rule=instance, actor=self.request.user)

    @_d_schema(
        summary="Put the assignment rules in this order",
        request=AssignmentRuleReorderSerializer,
        responses={200: AssignmentRuleSerializer(many=True)},
    )
    @_d_action(detail=False, methods=["post"], url_path="reorder")
    def reorder(self, request):
        serializer = AssignmentRuleReorderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = _d_routing.assignmentrule_reorder(
            org=request.organization, actor=request.user, ids=serializer.validated_data["ids"]
        )
        context = {"request": request}
        return _DResponse(AssignmentRuleSerializer(rules, many=True, context=context).data)

    @_d_schema(
        summary="Who takes new leads (members' availability for the rules)",
        responses={200: MemberAvailabilitySerializer(many=True)},
    )
    @_d_action(detail=False, methods=["get"], url_path="availability", pagination_class=None)
    def availability(self, request):
        from pulse.accounts.models import Membership

        rows = (
            Membership.objects.restrict(request.user, "view")
            .filter(user__is_active=True)
            .order_by("user__full_name", "user__email")
            .values("user_id", "available_for_assignment")[:1000]
        )
        return _DResponse(
            [
                {"user": r["user_id"], "available_for_assignment": r["available_for_assignment"]}
                for r in rows
            ]
        )

    @_d_schema(
        summary="Mark a member as taking new leads or not (admins; anyone for themselves)",
        request=MemberAvailabilitySerializer,
        responses={200: MemberAvailabilitySerializer},
    )
    @availability.mapping.put
    def set_availability(self, request):
        from pulse.accounts.models import Membership

        from .services import membership_set_available

        serializer = MemberAvailabilitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = (
            Membership.objects.restrict(request.user, "view").filter(user_id=data["user"]).first()
        )
        if membership is None:
            raise _DApplicationError(errors={"user": [_d("Choose a member of this organization.")]})
        membership = membership_set_available(
            membership=membership, actor=request.user, available=data["available_for_assignment"]
        )
        return _DResponse(
            {
                "user": membership.user_id,
                "available_for_assignment": membership.available_for_assignment,
            }
        )


routes.append(("assignment-rules", AssignmentRuleViewSet, "assignmentrule"))


class LeadConvertOpportunitySerializer(_d_ser.Serializer):
    """The opportunity conversion opens (every field optional: the lead's values and the
    default pipeline's first open stage fill the gaps)."""

    pipeline = _d_ser.UUIDField(required=False, allow_null=True)
    stage = _d_ser.UUIDField(required=False, allow_null=True, help_text="An open stage.")
    name = _d_ser.CharField(required=False, allow_blank=True, max_length=200)
    value = _d_ser.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    expected_close_date = _d_ser.DateField(required=False, allow_null=True)


class LeadConvertRequestSerializer(_d_ser.Serializer):
    contact_id = _d_ser.UUIDField(
        required=False, allow_null=True, help_text="Existing contact to use."
    )
    company_id = _d_ser.UUIDField(
        required=False, allow_null=True, help_text="Existing company to use."
    )
    create_contact = _d_ser.BooleanField(default=True)
    create_company = _d_ser.BooleanField(default=True)
    match_existing = _d_ser.BooleanField(
        default=True,
        help_text="Reuse the lead's contact or a sure duplicate instead of creating new records.",
    )
    contact_fields = _d_ser.DictField(required=False, help_text="Values for a new contact.")
    company_fields = _d_ser.DictField(required=False, help_text="Values for a new company.")
    opportunity = LeadConvertOpportunitySerializer(
        required=False,
        allow_null=True,
        help_text="Also open an opportunity (send {} for all defaults).",
    )


class _DRecordRefSerializer(_d_ser.Serializer):
    id = _d_ser.UUIDField()
    name = _d_ser.CharField()


class LeadConvertResultSerializer(_d_ser.Serializer):
    lead = _d_ser.UUIDField()
    converted_at = _d_ser.DateTimeField()
    contact = _DRecordRefSerializer()
    company = _DRecordRefSerializer(allow_null=True)
    contact_created = _d_ser.BooleanField()
    company_created = _d_ser.BooleanField()
    opportunity = _DRecordRefSerializer(allow_null=True)


class LeadRouteResultSerializer(_d_ser.Serializer):
    assigned_to = _d_ser.IntegerField(allow_null=True)
    rule = _d_ser.UUIDField(allow_null=True)
    reason = _d_ser.CharField()


# lead_convert's keywords for the opportunity → where they sit in the request body.
_D_OPPORTUNITY_ERRORS = {
    "pipeline": "opportunity.pipeline",
    "stage": "opportunity.stage",
    "opportunity_name": "opportunity.name",
    "value": "opportunity.value",
    "expected_close_date": "opportunity.expected_close_date",
    "currency": "opportunity.currency",
}


def _d_opportunity_kwargs(request, data: dict) -> dict:
    """``lead_convert`` keywords from the request's ``opportunity`` object; a pipeline or
    stage id must be one of the organization's (else a 400 naming the field)."""
    from pulse.opportunities.selectors import pipelines_of, stage_in_org

    org = request.organization
    kwargs: dict = {
        "create_opportunity": True,
        "opportunity_name": data.get("name") or "",
        "value": data.get("value"),
        "expected_close_date": data.get("expected_close_date"),
    }
    if data.get("pipeline"):
        pipeline = next((p for p in pipelines_of(org) if p.pk == data["pipeline"]), None)
        if pipeline is None:
            raise _DApplicationError(
                errors={"opportunity.pipeline": [_d("No such pipeline in this organization.")]}
            )
        kwargs["pipeline"] = pipeline
    if data.get("stage"):
        stage = stage_in_org(org, data["stage"])
        if stage is None:
            raise _DApplicationError(
                errors={"opportunity.stage": [_d("No such stage in this organization.")]}
            )
        kwargs["stage"] = stage
    return kwargs


class LeadConversionActions:
    """Lead actions of routing and conversion: ``POST leads/{id}/convert/``,
    ``POST leads/{id}/route/`` and ``GET leads/analytics/``."""

    _conversion_permissions = {"convert": "edit", "route": "edit", "analytics": "view"}

    def get_permission_action(self) -> str:
        if self.action in self._conversion_permissions:
            return self._conversion_permissions[self.action]
        return super().get_permission_action()

    @_d_schema(
        summary="Convert a lead into a contact and company",
        request=LeadConvertRequestSerializer,
        responses={200: LeadConvertResultSerializer, 409: _DTypes.OBJECT},
    )
    @_d_action(detail=True, methods=["post"], url_path="convert")
    def convert(self, request, pk=None):
        from pulse.accounts.permissions import can
        from pulse.contacts.models import Company, Contact

        lead = self.get_object()
        if not can(request.user, "create", Contact):
            self.permission_denied(request, message=_d("Your role does not allow this."))
        if lead.is_converted:
            message = _d_conversion.already_converted_message(lead)
            return _DResponse(
                {"errors": {"__all__": [message]}}, status=_d_status.HTTP_409_CONFLICT
            )
        serializer = LeadConvertRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        kwargs = {}
        for name, model in (("contact", Contact), ("company", Company)):
            pk_value = data.pop(f"{name}_id", None)
            if pk_value is not None:
                record = model.objects.restrict(request.user, "view").filter(pk=pk_value).first()
                if record is None:
                    raise _DApplicationError(
                        errors={f"{name}_id": [_d("No such record in this organization.")]}
                    )
                kwargs[name] = record
        opportunity = data.pop("opportunity", None)
        if opportunity is not None:
            from pulse.opportunities.models import Opportunity

            if not can(request.user, "create", Opportunity):
                self.permission_denied(
                    request, message=_d("Your role does not allow creating opportunities.")
                )
            kwargs.update(_d_opportunity_kwargs(request, opportunity))
        try:
            result = _d_conversion.lead_convert(lead=lead, actor=request.user, **kwargs, **data)
        except _DApplicationError as exc:
            # The opportunity's fields are nested in the request: so are their errors.
            raise _DApplicationError(
                exc.message,
                errors={_D_OPPORTUNITY_ERRORS.get(k, k): v for k, v in exc.errors.items()},
            ) from exc
        return _DResponse(
            {
                "lead": str(result.lead.pk),
                "converted_at": result.lead.converted_at,
                "contact": {"id": str(result.contact.pk), "name": str(result.contact)},
                "company": (
                    {"id": str(result.company.pk), "name": str(result.company)}
                    if result.company
                    else None
                ),
                "contact_created": result.contact_created,
                "company_created": result.company_created,
                "opportunity": (
                    {"id": str(result.opportunity.pk), "name": str(result.opportunity)}
                    if result.opportunity
                    else None
                ),
            }
        )

    @_d_schema(
        summary="Run the assignment rules again for a lead",
        request=None,
        responses={200: LeadRouteResultSerializer},
    )
    @_d_action(detail=True, methods=["post"], url_path="route")
    def route(self, request, pk=None):
        lead = self.get_object()
        decision = _d_routing.lead_reroute(lead=lead, actor=request.user)
        return _DResponse(
            {
                "assigned_to": decision.user.pk if decision.user else None,
                "rule": str(decision.rule.pk) if decision.rule else None,
                "reason": decision.reason,
            }
        )

    @_d_schema(
        summary="Conversion analytics: rates by source, owner and month; funnel; averages",
        parameters=[
            _DParam("date_from", _DTypes.DATE, description="Created from (default: 12 months)"),
            _DParam("date_to", _DTypes.DATE, description="Created up to (default: today)"),
        ],
        responses={200: _DTypes.OBJECT},
    )
    @_d_action(detail=False, methods=["get"], url_path="analytics", pagination_class=None)
    def analytics(self, request):
        from .analytics import conversion_analytics
        from .forms import LeadAnalyticsForm

        form = LeadAnalyticsForm(request.query_params)
        if not form.is_valid():
            raise _DApplicationError(
                errors={k: [str(m) for m in v] for k, v in form.errors.items()}
            )
        data = conversion_analytics(
            user=request.user,
            date_from=form.cleaned_data["date_from"],
            date_to=form.cleaned_data["date_to"],
        )
        return _DResponse(data.as_dict())


# --- scoring (C) ---
from django.core.cache import cache as _c_cache  # noqa: E402
from django.utils import timezone as _c_timezone  # noqa: E402
from django.utils.translation import gettext_lazy as _c  # noqa: E402
from django_filters.rest_framework import DjangoFilterBackend as _CFilterBackend  # noqa: E402
from drf_spectacular.utils import extend_schema as _c_schema  # noqa: E402
from drf_spectacular.utils import extend_schema_field as _c_schema_field  # noqa: E402
from rest_framework import filters as _c_filters  # noqa: E402
from rest_framework import serializers as _c_ser  # noqa: E402
from rest_framework import status as _c_status  # noqa: E402
from rest_framework.decorators import action as _c_action  # noqa: E402
from rest_framework.response import Response as _CResponse  # noqa: E402

from pulse.core.api import TenantModelViewSet as _CTenantModelViewSet  # noqa: E402
from pulse.core.api import TenantReadOnlyModelViewSet as _CReadOnlyViewSet  # noqa: E402
from pulse.core.api import VersionedSerializerMixin as _CVersioned  # noqa: E402
from pulse.core.tenancy import get_current_org as _c_org  # noqa: E402

from . import scoring as _scoring  # noqa: E402
from .filtersets import ScoringRuleFilterSet  # noqa: E402
from .models import PredictiveModel as _CPredictiveModel  # noqa: E402
from .models import ScoringRule as _CScoringRule  # noqa: E402


class ScoreFactorSerializer(_c_ser.Serializer):
    label = _c_ser.CharField(help_text=_c("In plain words, e.g. “Industry equals Software”."))
    points = _c_ser.FloatField()


class LeadScoreSerializer(_c_ser.Serializer):
    """A lead's rule score with its band and reasons, and its probability with its own."""

    score = _c_ser.IntegerField()
    band = _c_ser.ChoiceField(choices=["hot", "warm", "cold"])
    factors = ScoreFactorSerializer(many=True, source="score_factors")
    scored_at = _c_ser.DateTimeField(allow_null=True)
    predicted_probability = _c_ser.FloatField(allow_null=True, help_text=_c("Learned, 0–1."))
    prediction_factors = ScoreFactorSerializer(many=True)
    model_ready = _c_ser.BooleanField()
    model_message = _c_ser.CharField(allow_blank=True)
    probability = _c_ser.IntegerField(
        allow_null=True, help_text=_c("What counts, 0–100: the override if set, else predicted.")
    )
    probability_override = _c_ser.IntegerField(allow_null=True)
    probability_overridden_by = _c_ser.IntegerField(allow_null=True)
    probability_overridden_at = _c_ser.DateTimeField(allow_null=True)

    @staticmethod
    def for_lead(lead) -> dict:
        from .services import lead_settings

        status = _scoring.predictive_status(_scoring.latest_model(lead.organization))
        return {
            "score": lead.score,
            "band": lead_settings(org=lead.organization).band(lead.score),
            "score_factors": lead.score_factors or [],
            "scored_at": lead.scored_at,
            "predicted_probability": lead.predicted_probability,
            "prediction_factors": lead.prediction_factors or [],
            "model_ready": status["ready"],
            "model_message": status["message"],
            "probability": lead.effective_probability,
            "probability_override": lead.probability,
            "probability_overridden_by": lead.probability_overridden_by_id,
            "probability_overridden_at": lead.probability_overridden_at,
        }


class LeadProbabilitySerializer(_c_ser.Serializer):
    probability = _c_ser.IntegerField(
        min_value=0, max_value=100, allow_null=True, help_text=_c("0–100; null clears it.")
    )
    reason = _c_ser.CharField(required=False, allow_blank=True, max_length=300)


class LeadScoringActions:
    """Lead actions of scoring: ``GET …/score/`` and ``POST …/probability/``."""

    def get_permission_action(self) -> str:
        if self.action == "probability":
            return "edit"
        if self.action == "score":
            return "view"
        return super().get_permission_action()

    @_c_schema(responses=LeadScoreSerializer)
    @_c_action(detail=True, methods=["get"], url_path="score")
    def score(self, request, pk=None):
        """The score, band and factors, the probability and its factors, the override."""
        lead = self.get_object()
        return _CResponse(LeadScoreSerializer(LeadScoreSerializer.for_lead(lead)).data)

    @_c_schema(request=LeadProbabilitySerializer, responses=LeadScoreSerializer)
    @_c_action(detail=True, methods=["post"], url_path="probability")
    def probability(self, request, pk=None):
        """Set a person's probability (0–100) or clear it (null) to return to the model's."""
        lead = self.get_object()
        data = LeadProbabilitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = _scoring.lead_probability_override(
            lead=lead,
            actor=request.user,
            probability=data.validated_data["probability"],
            reason=data.validated_data.get("reason", ""),
        )
        return _CResponse(LeadScoreSerializer(LeadScoreSerializer.for_lead(lead)).data)


class ScoringRuleSerializer(_CVersioned, _c_ser.ModelSerializer):
    """A field rule (``field`` ``operator`` ``value``) or an engagement rule (``event``)."""

    field = _c_ser.CharField(
        required=False,
        allow_blank=True,
        help_text=_c("A lead field (industry, job_title, company.industry …) or cf.<key>."),
    )

    class Meta:
        model = _CScoringRule
        fields = [
            "id",
            "name",
            "kind",
            "field",
            "operator",
            "value",
            "event",
            "points",
            "position",
            "active",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"position": {"required": False}}


class ScoringRuleReorderSerializer(_c_ser.Serializer):
    ids = _c_ser.ListField(child=_c_ser.UUIDField(), allow_empty=False)


class ScoringRuleViewSet(_CTenantModelViewSet):
    """Scoring rules: everyone reads them, owners and admins change them; every change
    rescores the organization's leads in the background."""

    model = _CScoringRule
    serializer_class = ScoringRuleSerializer
    filterset_class = ScoringRuleFilterSet
    filter_backends = [_CFilterBackend, _c_filters.OrderingFilter]
    ordering_fields = ["position", "name", "points", "created_at"]
    ordering = ["position", "name", "id"]
    permission_map = {"reorder": "edit"}

    def create_record(self, data):
        return _scoring.scoringrule_create(org=_c_org(), actor=self.request.user, **data)

    def update_record(self, instance, data, expected_version):
        return _scoring.scoringrule_update(
            rule=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        _scoring.scoringrule_delete(rule=instance, actor=self.request.user)

    @_c_schema(request=ScoringRuleReorderSerializer, responses=ScoringRuleSerializer(many=True))
    @_c_action(detail=False, methods=["post"], url_path="reorder")
    def reorder(self, request):
        """Put the rules in the order of ``ids`` (the rest keep theirs, after them)."""
        data = ScoringRuleReorderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rules = _scoring.scoringrule_reorder(
            org=_c_org(), actor=request.user, rule_ids=data.validated_data["ids"]
        )
        return _CResponse(ScoringRuleSerializer(rules, many=True).data)


class PredictiveModelSerializer(_c_ser.ModelSerializer):
    """One trained version of the conversion model, with its backtest and top factors."""

    # A plain string (``ready`` or ``insufficient``): an enum here would collide in the
    # schema with the other ``status`` choice sets.
    status = _c_ser.CharField(read_only=True, help_text=_c("ready or insufficient"))
    message = _c_ser.SerializerMethodField()
    base_rate = _c_ser.SerializerMethodField()
    factors_for = _c_ser.SerializerMethodField()
    factors_against = _c_ser.SerializerMethodField()

    class Meta:
        model = _CPredictiveModel
        fields = [
            "id",
            "status",
            "trained_at",
            "converted_count",
            "lost_count",
            "message",
            "base_rate",
            "backtest",
            "factors_for",
            "factors_against",
        ]

    def get_message(self, obj) -> str:
        return _scoring.predictive_status(obj)["message"]

    def get_base_rate(self, obj) -> float | None:
        return (obj.parameters or {}).get("base_rate")

    @_c_schema_field(ScoreFactorSerializer(many=True))
    def get_factors_for(self, obj) -> list[dict]:
        return _scoring.top_features(obj.parameters)[0]

    @_c_schema_field(ScoreFactorSerializer(many=True))
    def get_factors_against(self, obj) -> list[dict]:
        return _scoring.top_features(obj.parameters)[1]


class PredictiveModelViewSet(_CReadOnlyViewSet):
    """Versions of the lead conversion model, newest first; ``latest/`` is the one in use,
    ``train/`` (owners and admins) learns a new one in the background."""

    model = _CPredictiveModel
    serializer_class = PredictiveModelSerializer
    ordering = ["-trained_at", "-id"]
    permission_map = {"train": "manage_settings", "latest": "view"}

    @_c_action(detail=False, methods=["get"], url_path="latest")
    def latest(self, request):
        """The newest model (it decides: with too little history the rules stand alone)."""
        model = self.get_queryset().order_by("-trained_at", "-id").first()
        if model is None:
            return _CResponse(
                {"errors": {"__all__": [str(_scoring.predictive_status(None)["message"])]}},
                status=_c_status.HTTP_404_NOT_FOUND,
            )
        return _CResponse(self.get_serializer(model).data)

    @_c_schema(request=None, responses={202: None})
    @_c_action(detail=False, methods=["post"], url_path="train")
    def train(self, request):
        """Retrain now (queued; the model appears under ``latest/`` when done)."""
        from .tasks import train_predictive

        org = _c_org()
        key = f"pulse:leads:training-requested:{org.pk}"
        _c_cache.set(key, _c_timezone.now().isoformat(), 3600)
        train_predictive.enqueue_on_commit(org=org, actor=request.user)
        return _CResponse({"status": "queued"}, status=_c_status.HTTP_202_ACCEPTED)


routes += [
    ("scoring-rules", ScoringRuleViewSet, "scoringrule"),
    ("predictive-models", PredictiveModelViewSet, "predictivemodel"),
]


# --- web-to-lead forms (B) ---
from django.utils.translation import gettext_lazy as _b  # noqa: E402
from drf_spectacular.utils import extend_schema, extend_schema_view  # noqa: E402
from drf_spectacular.utils import extend_schema_field as _b_extend_schema_field  # noqa: E402
from rest_framework import serializers as _b_serializers  # noqa: E402

from pulse.contacts.api import MemberField as _BMemberField  # noqa: E402
from pulse.core.api import (  # noqa: E402
    TenantModelViewSet as _BTenantModelViewSet,
)
from pulse.core.api import (  # noqa: E402
    TenantReadOnlyModelViewSet as _BTenantReadOnlyModelViewSet,
)
from pulse.core.api import (  # noqa: E402
    VersionedSerializerMixin as _BVersionedSerializerMixin,
)

from . import webforms as _webforms  # noqa: E402
from .filtersets import WebFormFilterSet, WebFormSubmissionFilterSet  # noqa: E402
from .models import LeadSource as _BLeadSource  # noqa: E402
from .models import WebForm, WebFormSubmission  # noqa: E402


@_b_extend_schema_field(
    {"type": "string", "enum": list(_BLeadSource.values), "description": "Source of its leads"},
    component_name="WebFormSource",
)
class WebFormSourceField(_b_serializers.ChoiceField):
    """The source given to the form's leads, as its own schema component."""

    def __init__(self, **kwargs):
        super().__init__(choices=_BLeadSource.choices, **kwargs)


@_b_extend_schema_field(
    {
        "type": "string",
        "enum": list(WebFormSubmission.Status.values),
        "description": "accepted, pending (waiting for the email link), confirmed or spam",
    },
    component_name="WebFormSubmissionStatus",
)
class WebFormSubmissionStatusField(_b_serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=WebFormSubmission.Status.choices, **kwargs)


class WebFormFieldSerializer(_b_serializers.Serializer):
    name = _b_serializers.CharField(
        help_text=_b("A lead field (first_name, email, …) or custom_fields.<key>.")
    )
    label = _b_serializers.CharField()
    required = _b_serializers.BooleanField(default=False)


class WebFormSerializer(_BVersionedSerializerMixin, _b_serializers.ModelSerializer):
    """A web-to-lead form; ``public_url`` is where people post it (form-encoded or JSON)."""

    fields = WebFormFieldSerializer(many=True, required=False)
    default_assigned_to = _BMemberField(
        required=False,
        allow_null=True,
        help_text=_b("User id who gets every lead; null: the assignment rules decide."),
    )
    public_url = _b_serializers.SerializerMethodField()
    default_source = WebFormSourceField(required=False)

    class Meta:
        model = WebForm
        fields = [
            "id",
            "name",
            "key",
            "public_url",
            "fields",
            "submit_label",
            "consent_text",
            "thank_you_message",
            "redirect_url",
            "default_source",
            "default_assigned_to",
            "double_opt_in",
            "active",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "key", "created_at", "updated_at"]

    def get_public_url(self, obj) -> str:
        return _webforms.webform_public_url(obj)


@extend_schema_view(
    list=extend_schema(summary="List web-to-lead forms"),
    retrieve=extend_schema(summary="Get a web form"),
    create=extend_schema(summary="Create a web form"),
    update=extend_schema(summary="Replace a web form"),
    partial_update=extend_schema(summary="Change some fields of a web form"),
    destroy=extend_schema(summary="Move a web form to the trash"),
)
class WebFormViewSet(_BTenantModelViewSet):
    """Web forms: ``search``, ``active``, ``double_opt_in``."""

    model = WebForm
    serializer_class = WebFormSerializer
    filterset_class = WebFormFilterSet
    select_related = ("default_assigned_to",)

    def create_record(self, data):
        return _webforms.webform_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return _webforms.webform_update(
            webform=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        _webforms.webform_delete(webform=instance, actor=self.request.user)


class WebFormSubmissionSerializer(_b_serializers.ModelSerializer):
    """One public post: what was sent, from where, and the lead it made (if any)."""

    status = WebFormSubmissionStatusField(read_only=True)

    class Meta:
        model = WebFormSubmission
        fields = [
            "id",
            "form",
            "lead",
            "status",
            "data",
            "utm",
            "referrer",
            "ip_address",
            "user_agent",
            "consent_given",
            "confirmed_at",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="List web form submissions"),
    retrieve=extend_schema(summary="Get a web form submission"),
)
class WebFormSubmissionViewSet(_BTenantReadOnlyModelViewSet):
    """Submissions (read-only; the public makes them): filter by ``form`` and ``status``."""

    model = WebFormSubmission
    serializer_class = WebFormSubmissionSerializer
    filterset_class = WebFormSubmissionFilterSet


routes += [
    ("web-forms", WebFormViewSet, "webform"),
    ("web-form-submissions", WebFormSubmissionViewSet, "webformsubmission"),
]


# --- leads: CRUD, pipeline, stage (A) ---
from django.http import QueryDict as _AQueryDict  # noqa: E402
from django.utils.translation import gettext_lazy as _a  # noqa: E402
from django_filters.rest_framework import DjangoFilterBackend as _AFilterBackend  # noqa: E402
from drf_spectacular.utils import OpenApiParameter as _AParam  # noqa: E402
from drf_spectacular.utils import extend_schema as _a_schema  # noqa: E402
from drf_spectacular.utils import extend_schema_view as _a_schema_view  # noqa: E402
from rest_framework import serializers as _a_ser  # noqa: E402
from rest_framework import viewsets as _a_viewsets  # noqa: E402
from rest_framework.decorators import action as _a_action  # noqa: E402
from rest_framework.response import Response as _AResponse  # noqa: E402

from pulse.contacts.api import MappedOrderingFilter as _AOrdering  # noqa: E402
from pulse.contacts.api import MemberField as _AMemberField  # noqa: E402
from pulse.contacts.api import TagsField as _ATagsField  # noqa: E402
from pulse.contacts.api import TenantRelatedField as _ARelated  # noqa: E402
from pulse.contacts.models import Contact as _AContact  # noqa: E402
from pulse.core.api import TenantModelViewSet as _ATenantModelViewSet  # noqa: E402
from pulse.core.api import TenantViewSetMixin as _ATenantViewSetMixin  # noqa: E402
from pulse.core.api import VersionedSerializerMixin as _AVersioned  # noqa: E402
from pulse.extras.customfields import CustomFieldsSerializerField as _ACustomFields  # noqa: E402
from pulse.extras.models import Tag as _ATag  # noqa: E402
from pulse.extras.selectors import tags_prefetch as _a_tags_prefetch  # noqa: E402

from . import selectors as _a_selectors  # noqa: E402
from . import services as _a_services  # noqa: E402
from .filtersets import LEAD_ORDERINGS as _A_ORDERINGS  # noqa: E402
from .filtersets import LeadFilterSet as _ALeadFilterSet  # noqa: E402
from .models import Lead as _ALead  # noqa: E402
from .models import LeadSettings as _ALeadSettings  # noqa: E402
from .models import LeadStage as _ALeadStage  # noqa: E402


class StageKeyField(_a_ser.CharField):
    """A lead stage by its key (``qualified``); an unknown key is a 400 naming the known ones."""

    def to_representation(self, value):
        return getattr(value, "key", value)


def _band_for(serializer, lead) -> str:
    # lead_settings is read once per request (tenancy.memoized), whatever the row count.
    org = serializer.context["request"].organization
    return _a_services.lead_settings(org=org).band(lead.score or 0)


class LeadSerializer(_AVersioned, _a_ser.ModelSerializer):
    """A lead with the product spec's field names; ``stage`` is the stage key."""

    stage = StageKeyField(
        required=False, max_length=40, help_text=_a("Stage key; default the first open stage.")
    )
    stage_name = _a_ser.CharField(source="stage.name", read_only=True)
    band = _a_ser.SerializerMethodField(help_text=_a("hot, warm or cold by the org's thresholds."))
    value = _a_ser.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        help_text=_a("A decimal string; its currency is in `currency`."),
    )
    effective_probability = _a_ser.IntegerField(read_only=True, allow_null=True)
    contact_id = _ARelated(model=_AContact, source="contact", required=False, allow_null=True)
    assigned_to = _AMemberField(
        required=False,
        allow_null=True,
        help_text=_a("User id of the owner; leave out to let the assignment rules decide."),
    )
    tags = _ATagsField(model=_ATag, many=True, required=False)
    custom_fields = _ACustomFields(required=False)
    website = _a_ser.CharField(required=False, allow_blank=True, max_length=300)
    created_by = _a_ser.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = _ALead
        fields = [
            "id",
            "title",
            "description",
            "contact_id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "company_name",
            "website",
            "job_title",
            "industry",
            "company_size",
            "country",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "referrer",
            "stage",
            "stage_name",
            "stage_changed_at",
            "unqualified_reason",
            "score",
            "band",
            "score_factors",
            "predicted_probability",
            "probability",
            "effective_probability",
            "value",
            "currency",
            "expected_close_date",
            "assigned_to",
            "tags",
            "custom_fields",
            "converted_at",
            "converted_contact",
            "converted_company",
            "converted_opportunity_id",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = [
            "id",
            "full_name",
            "stage_changed_at",
            "score",
            "score_factors",
            "predicted_probability",
            "converted_at",
            "converted_contact",
            "converted_company",
            "converted_opportunity_id",
            "created_at",
            "updated_at",
        ]

    def get_band(self, lead) -> str:
        return _band_for(self, lead)


class LeadCardSerializer(_a_ser.ModelSerializer):
    """A lead as a pipeline card."""

    band = _a_ser.SerializerMethodField()
    value = _a_ser.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=True, allow_null=True
    )

    class Meta:
        model = _ALead
        fields = [
            "id",
            "title",
            "full_name",
            "company_name",
            "value",
            "currency",
            "score",
            "band",
            "assigned_to",
            "created_at",
        ]
        read_only_fields = fields

    def get_band(self, lead) -> str:
        return _band_for(self, lead)


class MoneyTotalSerializer(_a_ser.Serializer):
    currency = _a_ser.CharField()
    value = _a_ser.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)


class PipelineStageSerializer(_a_ser.Serializer):
    key = _a_ser.CharField()
    name = _a_ser.CharField()
    kind = _a_ser.CharField()
    color = _a_ser.CharField()
    requires_reason = _a_ser.BooleanField()
    count = _a_ser.IntegerField()
    value_total = _a_ser.DecimalField(
        max_digits=18,
        decimal_places=2,
        coerce_to_string=True,
        help_text=_a("Total value of the stage's leads in the organization's currency."),
    )
    currency = _a_ser.CharField()
    totals = MoneyTotalSerializer(many=True, help_text=_a("Totals per currency (no conversion)."))
    more = _a_ser.IntegerField(help_text=_a("Leads in the stage beyond the cards listed."))
    leads = LeadCardSerializer(many=True)


class PipelineSerializer(_a_ser.Serializer):
    currency = _a_ser.CharField()
    count = _a_ser.IntegerField()
    totals = MoneyTotalSerializer(many=True)
    stages = PipelineStageSerializer(many=True)


def _totals(totals: dict) -> list[dict]:
    return [{"currency": c, "value": v} for c, v in sorted(totals.items())]


class LeadStageMoveSerializer(_a_ser.Serializer):
    stage = _a_ser.CharField(max_length=40, help_text=_a("The key of the stage to move to."))
    notes = _a_ser.CharField(required=False, allow_blank=True, max_length=5000)
    reason = _a_ser.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text=_a("Required by stages that ask for a reason (e.g. unqualified)."),
    )


_PIPELINE_PARAMS = [
    _AParam("stage", str, many=True, description="Stage keys to show (repeatable)."),
    _AParam("assigned_to", str, many=True, description="User ids, `me` or `unassigned`."),
    _AParam(
        "date_range",
        str,
        enum=list(_a_selectors.DATE_RANGES),
        description="Created in this period (organization time zone; quarters are fiscal).",
    ),
    _AParam("date_from", str, description="Created on or after (YYYY-MM-DD)."),
    _AParam("date_to", str, description="Created on or before (YYYY-MM-DD)."),
    _AParam("cards", int, description="Cards per stage (0–100, default 20)."),
]


@_a_schema_view(
    list=_a_schema(summary="List leads"),
    retrieve=_a_schema(summary="Get a lead"),
    create=_a_schema(summary="Create a lead"),
    update=_a_schema(summary="Replace a lead"),
    partial_update=_a_schema(summary="Change some fields of a lead"),
    destroy=_a_schema(summary="Move a lead to the trash"),
)
class LeadViewSet(LeadConversionActions, LeadScoringActions, _ATenantModelViewSet):
    """Leads: ``search``, ``stage`` (keys), ``source``, ``assigned_to`` (``me``,
    ``unassigned``), ``tags``, ``band``, ``score_min``/``_max``, ``converted``, dates,
    ``cf_<key>``; ``ordering`` by created_at, title, score, band, value,
    expected_close_date, stage, assigned_to."""

    model = _ALead
    serializer_class = LeadSerializer
    filterset_class = _ALeadFilterSet
    filter_backends = [_AFilterBackend, _AOrdering]
    select_related = _a_selectors.LEAD_LIST_SELECT_RELATED
    orderings = _A_ORDERINGS
    default_ordering = "-created_at"
    permission_map = {"pipeline": "view", "stage": "edit"}

    @property
    def prefetch_related(self):
        # The list reads tags from a plain prefetched list (G: a page of 50 saved ~40 ms);
        # a record that a request may change keeps Django's prefetch, which writes clear.
        if getattr(self, "action", None) == "list":
            return (_a_tags_prefetch(),)
        return _a_selectors.LEAD_LIST_PREFETCH_RELATED

    def create_record(self, data):
        if "source" not in data:
            data["source"] = "api"
        # A stage key sent before the organization's stages exist must still resolve.
        _a_services.leadstage_ensure_defaults(org=self.request.organization)
        return _a_services.lead_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return _a_services.lead_update(
            lead=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        _a_services.lead_delete(lead=instance, actor=self.request.user)

    @_a_schema(
        summary="Leads grouped by stage",
        parameters=_PIPELINE_PARAMS,
        responses={200: PipelineSerializer},
    )
    @_a_action(detail=False, methods=["get"], url_path="pipeline")
    def pipeline(self, request):
        """Stages in order with count, value totals and the newest cards of each."""
        from pulse.core.errors import ApplicationError

        params = request.query_params
        try:
            cards = int(params.get("cards", _a_selectors.PIPELINE_CARDS))
        except ValueError:
            raise ApplicationError(errors={"cards": [str(_a("Enter a whole number."))]})
        cards = max(0, min(cards, 100))
        filters = _AQueryDict(mutable=True)
        for key, values in params.lists():
            if key not in ("cards", "format"):
                filters.setlist(key, values)
        pipeline = _a_selectors.lead_pipeline(
            user=request.user,
            org=request.organization,
            filters=filters,
            cards=cards,
            request=request,
        )
        context = self.get_serializer_context()
        stages = [
            {
                "key": c.stage.key,
                "name": c.stage.name,
                "kind": c.stage.kind,
                "color": c.stage.color,
                "requires_reason": c.stage.requires_reason,
                "count": c.count,
                "value_total": c.value_total,
                "currency": c.currency,
                "totals": _totals(c.totals),
                "more": c.more,
                "leads": c.cards,
            }
            for c in pipeline.columns
        ]
        data = {
            "currency": pipeline.currency,
            "count": pipeline.count,
            "totals": _totals(pipeline.totals),
            "stages": stages,
        }
        return _AResponse(PipelineSerializer(data, context=context).data)

    @_a_schema(
        summary="Move a lead to another stage",
        request=LeadStageMoveSerializer,
        responses={200: LeadSerializer},
    )
    @_a_action(detail=True, methods=["put"], url_path="stage")
    def stage(self, request, pk=None):
        """Move the lead to ``stage`` (key) with ``notes``; recorded in its history."""
        lead = self.get_object()
        body = LeadStageMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lead = _a_services.lead_move_stage(
            lead=lead,
            stage=body.validated_data["stage"],
            actor=request.user,
            notes=body.validated_data.get("notes", ""),
            reason=body.validated_data.get("reason", ""),
        )
        lead = self.get_queryset().get(pk=lead.pk)
        return _AResponse(self.get_serializer(lead).data)


class LeadStageSerializer(_AVersioned, _a_ser.ModelSerializer):
    """One stage of the lead pipeline."""

    key = _a_ser.SlugField(required=False, max_length=40)

    class Meta:
        model = _ALeadStage
        fields = [
            "id",
            "key",
            "name",
            "kind",
            "position",
            "requires_reason",
            "color",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class LeadStageOrderSerializer(_a_ser.Serializer):
    keys = _a_ser.ListField(child=_a_ser.CharField(max_length=40), allow_empty=False)


@_a_schema_view(
    list=_a_schema(summary="List lead stages"),
    retrieve=_a_schema(summary="Get a lead stage"),
    create=_a_schema(summary="Add a lead stage"),
    update=_a_schema(summary="Replace a lead stage"),
    partial_update=_a_schema(summary="Change a lead stage"),
    destroy=_a_schema(summary="Delete a lead stage no lead uses"),
)
class LeadStageViewSet(_ATenantModelViewSet):
    """The organization's lead stages in board order; ``order`` puts them in a new order."""

    model = _ALeadStage
    serializer_class = LeadStageSerializer
    permission_map = {"order": "edit"}

    def list(self, request, *args, **kwargs):
        _a_services.leadstage_ensure_defaults(org=request.organization, actor=request.user)
        return super().list(request, *args, **kwargs)

    def create_record(self, data):
        return _a_services.leadstage_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return _a_services.leadstage_update(
            stage=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        _a_services.leadstage_delete(stage=instance, actor=self.request.user)

    @_a_schema(
        summary="Reorder the lead stages",
        request=LeadStageOrderSerializer,
        responses={200: LeadStageSerializer(many=True)},
    )
    @_a_action(detail=False, methods=["post"], url_path="order")
    def order(self, request):
        body = LeadStageOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stages = _a_services.leadstage_reorder(
            org=request.organization, actor=request.user, keys=body.validated_data["keys"]
        )
        return _AResponse(LeadStageSerializer(stages, many=True).data)


class LeadSettingsSerializer(_AVersioned, _a_ser.ModelSerializer):
    """The organization's score bands, engagement half-life and form rate limit."""

    class Meta:
        model = _ALeadSettings
        fields = [
            "hot_threshold",
            "warm_threshold",
            "decay_half_life_days",
            "form_rate_limit_per_minute",
            "updated_at",
            "version",
        ]
        read_only_fields = ["updated_at"]


class LeadSettingsViewSet(_ATenantViewSetMixin, _a_viewsets.GenericViewSet):
    """One resource per organization: ``GET /lead-settings/`` reads it;
    ``GET``/``PATCH /lead-settings/current/`` read and change it."""

    model = _ALeadSettings
    serializer_class = LeadSettingsSerializer
    permission_map = {"current": "view"}

    def get_permission_action(self) -> str:
        if self.request is not None and self.request.method in ("PATCH", "PUT"):
            return "edit"
        return super().get_permission_action()

    @_a_schema(summary="Get the lead settings", responses={200: LeadSettingsSerializer})
    def list(self, request):
        settings = _a_services.lead_settings(org=request.organization)
        return _AResponse(LeadSettingsSerializer(settings).data)

    @_a_schema(
        summary="Get or change the lead settings",
        request=LeadSettingsSerializer,
        responses={200: LeadSettingsSerializer},
    )
    @_a_action(detail=False, methods=["get", "patch"], url_path="current")
    def current(self, request):
        settings = _a_services.lead_settings(org=request.organization)
        if request.method == "GET":
            return _AResponse(LeadSettingsSerializer(settings).data)
        body = LeadSettingsSerializer(settings, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        expected_version = data.pop("version", None)
        settings = _a_services.leadsettings_update(
            settings=settings, actor=request.user, expected_version=expected_version, **data
        )
        return _AResponse(LeadSettingsSerializer(settings).data)


routes += [
    ("leads", LeadViewSet, "lead"),
    ("lead-stages", LeadStageViewSet, "leadstage"),
    ("lead-settings", LeadSettingsViewSet, "leadsettings"),
]
