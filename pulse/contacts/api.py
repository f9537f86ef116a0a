"""REST API of contacts and companies: ``/api/crm/contacts/`` and ``/api/crm/companies/``.

Thin twins of the web views (rule 4): the same ``restrict``-ed querysets, the same
FilterSets and orderings, and writes through the same services, so a refused change
answers ``400 {"errors": {...}}`` with the messages the forms show.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import filters, serializers

from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin
from pulse.extras.customfields import CustomFieldsSerializerField
from pulse.extras.models import Tag

from . import selectors, services
from .filtersets import (
    COMPANY_ORDERINGS,
    CONTACT_ORDERINGS,
    CompanyFilterSet,
    ContactFilterSet,
    order_terms,
)
from .models import Company, Consent, Contact

# --- fields -----------------------------------------------------------------------------


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """A related record of the current organization that the requesting user may see.

    The queryset is built per request: a class-level one would have been built with no
    organization in context and refuse to run (rule 1).
    """

    def __init__(self, *, model, **kwargs):
        self.related_model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.related_model.objects.restrict(self.context["request"].user, "view")


class MemberField(serializers.PrimaryKeyRelatedField):
    """A user who is a live member of the current organization (by user id)."""

    def get_queryset(self):
        from pulse.accounts.selectors import organization_members

        return organization_members(self.context["request"].organization)


class RecordSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """What contact and company serializers share: tags, owner, audit columns, custom fields."""

    tags = TenantRelatedField(
        model=Tag, many=True, required=False, help_text=_("Tag ids (replaces the tags).")
    )
    assigned_to = MemberField(
        required=False, allow_null=True, help_text=_("User id of the owner; defaults to you.")
    )
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    custom_fields = CustomFieldsSerializerField(required=False)
    version = serializers.IntegerField(
        required=False,
        help_text=_("Send back the version you read: a stale one is refused with 400."),
    )


# --- contacts -------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "enum": list(Consent.values),
        "description": "Consent for one channel: opted_in, opted_out or unknown.",
    },
    component_name="Consent",
)
class ConsentField(serializers.ChoiceField):
    """One channel's consent: one ``Consent`` schema component for the three channels
    (as three plain choice fields they would make one enum with three names)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Consent.choices, required=False, **kwargs)


class ContactSerializer(RecordSerializer):
    """A contact as the product spec names its fields."""

    company_id = TenantRelatedField(
        model=Company, source="company", required=False, allow_null=True
    )
    company_name = serializers.CharField(source="company.name", read_only=True, default=None)
    full_name = serializers.CharField(read_only=True)
    email_opt_in = ConsentField()
    phone_opt_in = ConsentField()
    sms_opt_in = ConsentField()
    # Plain text here: the service completes "ada.dev" to "https://ada.dev" and the
    # model then validates the URL (same as the form).
    website = serializers.CharField(required=False, allow_blank=True, max_length=300)
    linkedin_url = serializers.CharField(required=False, allow_blank=True, max_length=300)

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "mobile",
            "title",
            "department",
            "company_id",
            "company_name",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "linkedin_url",
            "x_handle",
            "website",
            "lead_source",
            "lifecycle_stage",
            "email_opt_in",
            "phone_opt_in",
            "sms_opt_in",
            "do_not_contact",
            "preferred_language",
            "birthday",
            "notes",
            "tags",
            "assigned_to",
            "custom_fields",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class CompanySerializer(RecordSerializer):
    """A company (account)."""

    parent_id = TenantRelatedField(model=Company, source="parent", required=False, allow_null=True)
    annual_revenue = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        help_text=_("A decimal string; its currency is in `currency`."),
    )
    website = serializers.CharField(required=False, allow_blank=True, max_length=300)

    class Meta:
        model = Company
        fields = [
            "id",
            "name",
            "website",
            "domain",
            "industry",
            "size_band",
            "annual_revenue",
            "currency",
            "phone",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "description",
            "territory",
            "parent_id",
            "tags",
            "assigned_to",
            "custom_fields",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


# --- viewsets ---------------------------------------------------------------------------


class MappedOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` with the same names and index-friendly terms as the list pages."""

    def get_ordering(self, request, queryset, view):
        return order_terms(
            view.model,
            view.orderings,
            request.query_params.get(self.ordering_param, ""),
            view.default_ordering,
        )

    def get_valid_fields(self, queryset, view, context=None):
        return [(name, name) for name in view.orderings]


class ServiceViewSet(TenantModelViewSet):
    """Contacts' and companies' shared list behaviour: one search and ordering with the UI."""

    # The FilterSet's ``search`` replaces DRF's SearchFilter: one search for UI and API.
    filter_backends = [DjangoFilterBackend, MappedOrderingFilter]
    orderings: dict[str, tuple] = {}
    default_ordering = "-created_at"


@extend_schema_view(
    list=extend_schema(summary="List contacts"),
    retrieve=extend_schema(summary="Get a contact"),
    create=extend_schema(summary="Create a contact"),
    update=extend_schema(summary="Replace a contact"),
    partial_update=extend_schema(summary="Change some fields of a contact"),
    destroy=extend_schema(summary="Move a contact to the trash"),
)
class ContactViewSet(ServiceViewSet):
    """Contacts: ``search``, ``tags`` (repeatable), ``assigned_to``, ``lifecycle_stage``,
    ``company``, ``country``, ``created_after``/``_before``, ``cf_<key>``; ``ordering``."""

    model = Contact
    serializer_class = ContactSerializer
    filterset_class = ContactFilterSet
    select_related = selectors.CONTACT_LIST_SELECT_RELATED
    prefetch_related = selectors.CONTACT_LIST_PREFETCH_RELATED
    orderings = CONTACT_ORDERINGS

    def create_record(self, data):
        return services.contact_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.contact_update(
            contact=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.contact_delete(contact=instance, actor=self.request.user)


@extend_schema_view(
    list=extend_schema(summary="List companies"),
    retrieve=extend_schema(summary="Get a company"),
    create=extend_schema(summary="Create a company"),
    update=extend_schema(summary="Replace a company"),
    partial_update=extend_schema(summary="Change some fields of a company"),
    destroy=extend_schema(summary="Move a company to the trash"),
)
class CompanyViewSet(ServiceViewSet):
    """Companies: ``search``, ``tags`` (repeatable), ``assigned_to``, ``size_band``,
    ``industry``, ``parent``, ``country``, date ranges, ``cf_<key>``; ``ordering``."""

    model = Company
    serializer_class = CompanySerializer
    filterset_class = CompanyFilterSet
    select_related = selectors.COMPANY_LIST_SELECT_RELATED
    prefetch_related = selectors.COMPANY_LIST_PREFETCH_RELATED
    orderings = COMPANY_ORDERINGS
    default_ordering = "name"

    def create_record(self, data):
        return services.company_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.company_update(
            company=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.company_delete(company=instance, actor=self.request.user)


routes = [
    ("contacts", ContactViewSet, "contact"),
    ("companies", CompanyViewSet, "company"),
]
