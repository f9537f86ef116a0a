"""REST API of exchange rates under /api/crm/exchange-rates/: CRUD, a CSV ``import`` and a
``convert`` preview, calling the same services and selectors as the rates page."""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import filters, serializers
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin
from pulse.core.currencies import CURRENCY_CHOICES
from pulse.core.errors import ApplicationError

from . import selectors, services
from .filtersets import ExchangeRateFilterSet
from .models import ExchangeRate

# (prefix, viewset, basename) for pulse/urls.py.
routes: list = []


class ExchangeRateSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """1 ``currency`` = ``rate`` × the organization's currency from ``valid_from``."""

    class Meta:
        model = ExchangeRate
        fields = [
            "id",
            "currency",
            "rate",
            "valid_from",
            "source",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "source", "created_at", "updated_at"]
        validators = []  # one day per currency: the service says so (one error shape)


class ExchangeRateImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with the header currency,rate,valid_from.")


class ExchangeRateImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ConvertQuerySerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    date = serializers.DateField(required=False)


class ConvertResultSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        allow_null=True,
        help_text="In the organization's currency.",
    )
    currency = serializers.CharField(help_text="The organization's currency.")
    rate = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)
    rate_date = serializers.DateField(
        allow_null=True, help_text="The day the rate used is valid from (null: rate 1 or none)."
    )


@extend_schema_view(
    list=extend_schema(summary="List exchange rates"),
    retrieve=extend_schema(summary="Get an exchange rate"),
    create=extend_schema(summary="Add an exchange rate"),
    update=extend_schema(summary="Replace an exchange rate"),
    partial_update=extend_schema(summary="Correct an exchange rate"),
    destroy=extend_schema(summary="Move an exchange rate to the trash"),
)
class ExchangeRateViewSet(TenantModelViewSet):
    model = ExchangeRate
    serializer_class = ExchangeRateSerializer
    filterset_class = ExchangeRateFilterSet
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    ordering_fields = ["currency", "valid_from", "rate", "created_at"]
    ordering = ["currency", "-valid_from"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    permission_map = {"import_rates": "import", "convert": "view"}

    def create_record(self, data):
        return services.exchangerate_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.exchangerate_update(
            exchange_rate=instance,
            actor=self.request.user,
            expected_version=expected_version,
            **data,
        )

    def delete_record(self, instance):
        services.exchangerate_delete(exchange_rate=instance, actor=self.request.user)

    @extend_schema(
        summary="Import rates from a CSV (all rows or none)",
        description="Multipart upload of ``file``: a CSV with the header "
        "``currency,rate,valid_from``. Any bad row answers 400 with every bad line in "
        "``errors.file`` and nothing is imported; a rate for a currency and day that has one "
        "replaces its value.",
        request={"multipart/form-data": ExchangeRateImportSerializer},
        responses={200: ExchangeRateImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_rates(self, request):
        body = ExchangeRateImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.exchangerate_import(
            org=request.organization, actor=request.user, file=body.validated_data["file"]
        )
        return Response(ExchangeRateImportResultSerializer(result).data)

    @extend_schema(
        summary="Convert an amount into the organization's currency",
        parameters=[
            OpenApiParameter("amount", OpenApiTypes.DECIMAL, required=True),
            OpenApiParameter("currency", OpenApiTypes.STR, required=True),
            OpenApiParameter("date", OpenApiTypes.DATE, description="Default: today."),
        ],
        responses={200: ConvertResultSerializer},
    )
    @action(detail=False, methods=["get"])
    def convert(self, request):
        query = ConvertQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        org = request.organization
        on = data.get("date") or datetime.date.today()
        result = selectors.convert(org, data["amount"], data["currency"], on)
        if result.amount is None:
            raise ApplicationError(
                errors={
                    "currency": [
                        _("No exchange rate is known for %(currency)s.")
                        % {"currency": data["currency"]}
                    ]
                }
            )
        return Response(
            ConvertResultSerializer(
                {
                    "amount": result.amount,
                    "currency": org.default_currency,
                    "rate": result.rate,
                    "rate_date": result.rate_date,
                }
            ).data
        )


routes.append(("exchange-rates", ExchangeRateViewSet, "exchangerate"))
