"""REST API of contacts and companies: ``/api/crm/contacts/`` and ``/api/crm/companies/``.

Thin twins of the web views (rule 4): the same ``restrict``-ed querysets, the same
FilterSets and orderings, and writes through the same services, so a refused change
answers ``400 {"errors": {...}}`` with the messages the forms show.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models as db_models
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import filters, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from pulse.core.api import (
    TenantModelViewSet,
    TenantViewSetMixin,
    VersionedSerializerMixin,
    _flatten,
)
from pulse.core.errors import ApplicationError
from pulse.extras.api import BulkJobSerializer
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
from .models import Company, Consent, Contact, ContactRelationship, RelationshipKind

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


class _PrefetchedTagsField(serializers.ManyRelatedField):
    """Tag ids from ``record.prefetched_tags`` when a list fetched them into a plain list
    (``pulse.extras.selectors.tags_prefetch``), else from the relation."""

    def get_attribute(self, instance):
        from pulse.extras.selectors import PREFETCHED_TAGS

        tags = getattr(instance, PREFETCHED_TAGS, None)
        return tags if tags is not None else super().get_attribute(instance)


class TagsField(TenantRelatedField):
    """A record's tags by id (writes replace them); reads use a prefetched list if any."""

    @classmethod
    def many_init(cls, *args, **kwargs):
        from rest_framework.relations import MANY_RELATION_KWARGS

        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({k: v for k, v in kwargs.items() if k in MANY_RELATION_KWARGS})
        return _PrefetchedTagsField(**list_kwargs)


class MemberField(serializers.PrimaryKeyRelatedField):
    """A user who is a live member of the current organization (by user id)."""

    def get_queryset(self):
        from pulse.accounts.selectors import organization_members

        return organization_members(self.context["request"].organization)


class RecordSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """What contact and company serializers share: tags, owner, audit columns, custom fields."""

    tags = TagsField(
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
    # Dedupe (H2): what the write looked like; computed for POST/PUT/PATCH answers only.
    duplicates = serializers.SerializerMethodField(
        help_text=_(
            "In answers to POST, PUT and PATCH only (null elsewhere): existing records that "
            "look like this one, most likely first. The write succeeds regardless."
        )
    )

    @extend_schema_field(
        {
            "type": "array",
            "nullable": True,
            "readOnly": True,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "name": {"type": "string"},
                    "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["id", "name", "confidence", "reasons"],
            },
        }
    )
    def get_duplicates(self, obj):
        return getattr(obj, "_duplicates", None)


# --- phones and further emails (H1) ----------------------------------------------------


class PhoneField(serializers.CharField):
    """A phone number as people type it, read with the organization's country; E.164 in
    and out (``+35921234567``), so a bad number is reported with the other fields."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 60)
        kwargs.setdefault(
            "help_text",
            _(
                "Any common format; without +country code it is read as a number of the "
                "organization's country. Stored and returned in E.164."
            ),
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        from django.core.exceptions import ValidationError as ModelValidationError

        from .phones import normalize_phone

        value = super().to_internal_value(data)
        organization = getattr(self.context.get("request"), "organization", None)
        try:
            return normalize_phone(value, getattr(organization, "country", "") or "")
        except ModelValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None


class OtherEmailSerializer(serializers.Serializer):
    """One further email: ``{"label": "work", "email": "ada@work.example"}``."""

    label = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=60,
        help_text=_("work, home, other or a short text of your own (at most 30 characters)."),
    )
    email = serializers.CharField(max_length=300)


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
    # H1: phones as typed ("02 123 4567"); the service stores E.164 or reports the field.
    phone = PhoneField()
    mobile = PhoneField()
    other_emails = OtherEmailSerializer(
        many=True, required=False, help_text=_("Further addresses with a label.")
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "other_emails",
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
            "duplicates",
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
    phone = PhoneField()  # H1

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
            "duplicates",
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

    # Dedupe (H2): the answer to a write lists the records that look like it.
    def perform_create(self, serializer):
        super().perform_create(serializer)
        attach_duplicates(self.request, serializer.instance)

    def perform_update(self, serializer):
        super().perform_update(serializer)
        attach_duplicates(self.request, serializer.instance)


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


# --- bulk actions as background jobs (H3) --------------------------------------------------


class BulkActionRequestSerializer(serializers.Serializer):
    """``{action, ids | filter, params}``: what to do to which records."""

    action = serializers.ChoiceField(
        choices=services.BULK_ACTIONS,
        help_text=_("delete, assign, tag, untag or stage (contacts only)."),
    )
    ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        max_length=services.BULK_JOB_MAX_IDS,
        help_text=_("The records to change (or send `filter`)."),
    )
    filter = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        help_text=_(
            "A list filter as a query string, e.g. `tags=<id>&lifecycle_stage=lead`: "
            "every matching record. Empty means all records."
        ),
    )
    params = serializers.DictField(
        required=False,
        help_text=_(
            "The action's value: `tag` (tag id) for tag/untag, `assigned_to` (user id) "
            "for assign, `lifecycle_stage` for stage."
        ),
    )

    def validate(self, attrs):
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError(
                {"ids": [_("Send either `ids` or `filter`, not both or neither.")]}
            )
        return attrs


class BulkActionViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """Start a background bulk action; poll ``GET /api/crm/jobs/{id}/`` for its progress."""

    serializer_class = BulkActionRequestSerializer
    # Deleting needs the delete permission: the service checks the role per action.
    permission_map = {"create": "edit"}

    @extend_schema(request=BulkActionRequestSerializer, responses={202: BulkJobSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.bulk_job_start(
            org=request.organization,
            actor=request.user,
            model=self.model,
            action=data["action"],
            params=data.get("params") or {},
            ids=data.get("ids"),
            query=data.get("filter"),
        )
        return Response(BulkJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(create=extend_schema(summary="Start a bulk action on contacts"))
class ContactBulkActionViewSet(BulkActionViewSet):
    model = Contact


@extend_schema_view(create=extend_schema(summary="Start a bulk action on companies"))
class CompanyBulkActionViewSet(BulkActionViewSet):
    model = Company


# Before "contacts"/"companies": their detail routes would otherwise take "bulk-action".
routes[:0] = [
    ("contacts/bulk-action", ContactBulkActionViewSet, "contact-bulk-action"),
    ("companies/bulk-action", CompanyBulkActionViewSet, "company-bulk-action"),
]


# --- dedupe and merge (H2) ---------------------------------------------------------------------


def _duplicate_fields(instance) -> dict:
    if isinstance(instance, Contact):
        names = ("first_name", "last_name", "email", "other_emails", "phone", "mobile")
        return {**{n: getattr(instance, n) for n in names}, "company": instance.company_id}
    return {n: getattr(instance, n) for n in ("name", "website", "domain")}


def attach_duplicates(request, instance) -> None:
    """Find what ``instance`` (just written) looks like, for the write's answer."""
    from .dedupe import company_duplicates, contact_duplicates

    finder = contact_duplicates if isinstance(instance, Contact) else company_duplicates
    matches = finder(
        org=request.organization,
        user=request.user,
        fields=_duplicate_fields(instance),
        exclude_pk=instance.pk,
    )
    instance._duplicates = [m.as_dict() for m in matches]


class DuplicateMatchSerializer(serializers.Serializer):
    """An existing record that looks like the candidate."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    confidence = serializers.IntegerField(min_value=0, max_value=100)
    reasons = serializers.ListField(child=serializers.CharField())


class DuplicateRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class DuplicatePairSerializer(serializers.Serializer):
    """Two records that are likely the same, from the last duplicate scan."""

    first = DuplicateRecordSerializer()
    second = DuplicateRecordSerializer()
    confidence = serializers.IntegerField(min_value=0, max_value=100)
    reasons = serializers.ListField(child=serializers.CharField())


class DuplicateMatchListSerializer(serializers.Serializer):
    results = DuplicateMatchSerializer(many=True)


class ContactDuplicateCheckSerializer(serializers.Serializer):
    """A candidate contact (any of the fields; raw input is fine)."""

    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    mobile = serializers.CharField(required=False, allow_blank=True, max_length=40)
    company = serializers.UUIDField(required=False, allow_null=True)
    exclude = serializers.UUIDField(required=False, help_text=_("Leave out this record."))


class CompanyDuplicateCheckSerializer(serializers.Serializer):
    """A candidate company."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    website = serializers.CharField(required=False, allow_blank=True, max_length=300)
    domain = serializers.CharField(required=False, allow_blank=True, max_length=253)
    exclude = serializers.UUIDField(required=False, help_text=_("Leave out this record."))


class DuplicateViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """Likely duplicate pairs (``GET …/duplicates/``) and a check for one candidate
    (``GET …/duplicates/check/?email=…``)."""

    serializer_class = DuplicatePairSerializer
    check_serializer = None
    kind = ""

    def list(self, request):
        from .dedupe import duplicate_pairs, load_pairs, request_scan, scan_running

        org = request.organization
        pairs, _computed = duplicate_pairs(org=org, user=request.user, kind=self.kind)
        if pairs is None and not scan_running(org=org, kind=self.kind):
            request_scan(org=org, actor=request.user, kind=self.kind)
            pairs, _computed = duplicate_pairs(org=org, user=request.user, kind=self.kind)
        page = self.paginate_queryset(pairs or [])
        rows = [
            {
                "first": {"id": p.first.pk, "name": str(p.first)},
                "second": {"id": p.second.pk, "name": str(p.second)},
                "confidence": p.confidence,
                "reasons": list(p.reasons),
            }
            for p in load_pairs(user=request.user, kind=self.kind, rows=list(page))
        ]
        return self.get_paginated_response(DuplicatePairSerializer(rows, many=True).data)

    def check(self, request):
        from .dedupe import company_duplicates, contact_duplicates

        params = type(self).check_serializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        fields = dict(params.validated_data)
        exclude = fields.pop("exclude", None)
        finder = contact_duplicates if self.model is Contact else company_duplicates
        matches = finder(
            org=request.organization, user=request.user, fields=fields, exclude_pk=exclude
        )
        return Response({"results": [m.as_dict() for m in matches]})


@extend_schema_view(
    list=extend_schema(
        summary="List likely duplicate contacts",
        description="Pairs from the last duplicate scan (a background task started when "
        "there is none), best first; trashed, invisible and dismissed pairs left out.",
    ),
)
class ContactDuplicateViewSet(DuplicateViewSet):
    model = Contact
    kind = "contacts"
    check_serializer = ContactDuplicateCheckSerializer

    @extend_schema(
        summary="Find contacts that look like a candidate",
        parameters=[ContactDuplicateCheckSerializer],
        responses={200: DuplicateMatchListSerializer},
    )
    @action(detail=False, methods=["get"], url_path="check")
    def check(self, request):
        return super().check(request)


@extend_schema_view(
    list=extend_schema(
        summary="List likely duplicate companies",
        description="Pairs from the last duplicate scan, best first.",
    ),
)
class CompanyDuplicateViewSet(DuplicateViewSet):
    model = Company
    kind = "companies"
    check_serializer = CompanyDuplicateCheckSerializer

    @extend_schema(
        summary="Find companies that look like a candidate",
        parameters=[CompanyDuplicateCheckSerializer],
        responses={200: DuplicateMatchListSerializer},
    )
    @action(detail=False, methods=["get"], url_path="check")
    def check(self, request):
        return super().check(request)


MERGE_VALUES_HELP = _(
    "Field name (or custom_fields.<key>) → `survivor` or `other`: whose value stays. "
    "Fields left out keep the survivor's value unless it is empty."
)


@extend_schema_field({"type": "string", "format": "uuid"})
class RecordIdField(TenantRelatedField):
    """A record id of the organization (a plain uuid in the schema)."""


class ContactMergeRequestSerializer(serializers.Serializer):
    survivor = RecordIdField(model=Contact, help_text=_("The contact that stays."))
    other = RecordIdField(model=Contact, help_text=_("The contact merged away (trashed)."))
    values = serializers.DictField(
        child=serializers.ChoiceField(choices=["survivor", "other"]),
        required=False,
        help_text=MERGE_VALUES_HELP,
    )


class CompanyMergeRequestSerializer(serializers.Serializer):
    survivor = RecordIdField(model=Company, help_text=_("The company that stays."))
    other = RecordIdField(model=Company, help_text=_("The company merged away (trashed)."))
    values = serializers.DictField(
        child=serializers.ChoiceField(choices=["survivor", "other"]),
        required=False,
        help_text=MERGE_VALUES_HELP,
    )


class MergeUndoRequestSerializer(serializers.Serializer):
    entry = serializers.UUIDField(help_text=_("The id of the merge's change log entry."))


class ContactMergeResultSerializer(serializers.Serializer):
    survivor = ContactSerializer()
    merged = serializers.UUIDField(help_text=_("The contact merged away (or restored)."))
    entry = serializers.UUIDField(help_text=_("The change log entry (undo with this id)."))


class CompanyMergeResultSerializer(serializers.Serializer):
    survivor = CompanySerializer()
    merged = serializers.UUIDField(help_text=_("The company merged away (or restored)."))
    entry = serializers.UUIDField(help_text=_("The change log entry (undo with this id)."))


class MergeViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """``POST …/merge/`` merges two records; ``POST …/merge/undo/`` undoes a merge."""

    permission_map = {"create": "edit", "undo": "edit"}
    request_serializer = None
    result_serializer = None
    record_serializer = None

    def get_serializer_class(self):
        if self.action == "undo":
            return MergeUndoRequestSerializer
        return self.request_serializer

    def _answer(self, result, code=status.HTTP_200_OK):
        context = self.get_serializer_context()
        # ``result_serializer`` documents this shape in the schema.
        data = {
            "survivor": type(self).record_serializer(result.survivor, context=context).data,
            "merged": str(result.merged.pk),
            "entry": str(result.entry.pk),
        }
        return Response(data, status=code)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        merge = services.contact_merge if self.model is Contact else services.company_merge
        result = merge(
            survivor=data["survivor"],
            other=data["other"],
            actor=request.user,
            values=data.get("values") or {},
        )
        return self._answer(result)

    def undo(self, request):
        from django.contrib.contenttypes.models import ContentType
        from django.http import Http404

        from pulse.audit.models import Action, AuditEntry

        serializer = MergeUndoRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = AuditEntry.objects.filter(
            pk=serializer.validated_data["entry"],
            action=Action.MERGE,
            content_type=ContentType.objects.get_for_model(self.model),
        ).first()
        if entry is None or not self.get_queryset().filter(pk=entry.object_id).exists():
            raise Http404
        return self._answer(services.merge_undo(entry=entry, actor=request.user))


@extend_schema_view(
    create=extend_schema(
        summary="Merge two contacts",
        description="Field by field choice of values; every related record moves to the "
        "survivor; the other contact goes to the trash; one change log entry. Refused "
        "(400) for the same contact twice, a trashed one, or without edit rights on both.",
        responses={200: ContactMergeResultSerializer},
    ),
)
class ContactMergeViewSet(MergeViewSet):
    model = Contact
    request_serializer = ContactMergeRequestSerializer
    result_serializer = ContactMergeResultSerializer
    record_serializer = ContactSerializer

    @extend_schema(
        summary="Undo a contact merge",
        request=MergeUndoRequestSerializer,
        responses={200: ContactMergeResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="undo")
    def undo(self, request):
        return super().undo(request)


@extend_schema_view(
    create=extend_schema(
        summary="Merge two companies",
        description="Contacts, child companies, tags and every other related record move "
        "to the survivor; the other company goes to the trash; one change log entry.",
        responses={200: CompanyMergeResultSerializer},
    ),
)
class CompanyMergeViewSet(MergeViewSet):
    model = Company
    request_serializer = CompanyMergeRequestSerializer
    result_serializer = CompanyMergeResultSerializer
    record_serializer = CompanySerializer

    @extend_schema(
        summary="Undo a company merge",
        request=MergeUndoRequestSerializer,
        responses={200: CompanyMergeResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="undo")
    def undo(self, request):
        return super().undo(request)


# Before "contacts"/"companies": their detail routes would otherwise take these paths.
routes[:0] = [
    ("contacts/duplicates", ContactDuplicateViewSet, "contact-duplicates"),
    ("companies/duplicates", CompanyDuplicateViewSet, "company-duplicates"),
    ("contacts/merge", ContactMergeViewSet, "contact-merge"),
    ("companies/merge", CompanyMergeViewSet, "company-merge"),
]


# --- records: contact relationships, bulk create/update (H1) --------------------------------


class ContactRelationshipFilterSet(django_filters.FilterSet):
    """``contact`` (either side), ``from_contact``, ``to_contact``, ``kind``."""

    contact = django_filters.UUIDFilter(method="filter_contact", label=_("Contact on either side"))
    from_contact = django_filters.UUIDFilter(field_name="from_contact_id")
    to_contact = django_filters.UUIDFilter(field_name="to_contact_id")
    kind = django_filters.ChoiceFilter(choices=RelationshipKind.choices)

    class Meta:
        model = ContactRelationship
        fields = ["contact", "from_contact", "to_contact", "kind"]

    def filter_contact(self, queryset, name, value):
        return queryset.filter(
            db_models.Q(from_contact_id=value) | db_models.Q(to_contact_id=value)
        )


@extend_schema_field(
    {
        "type": "string",
        "enum": list(RelationshipKind.values),
        "description": "From → to: reports_to, assistant_of, referred_by, spouse or other.",
    },
    component_name="RelationshipKind",
)
class RelationshipKindField(serializers.ChoiceField):
    """The kind of a relationship, as its own schema component."""

    def __init__(self, **kwargs):
        super().__init__(choices=RelationshipKind.choices, **kwargs)


class ContactRelationshipSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """``from_contact_id`` <kind> ``to_contact_id``: "A reports to B"."""

    kind = RelationshipKindField()

    from_contact_id = TenantRelatedField(model=Contact, source="from_contact")
    to_contact_id = TenantRelatedField(model=Contact, source="to_contact")
    from_contact_name = serializers.CharField(source="from_contact", read_only=True)
    to_contact_name = serializers.CharField(source="to_contact", read_only=True)
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(
        required=False,
        help_text=_("Send back the version you read: a stale one is refused with 400."),
    )

    class Meta:
        model = ContactRelationship
        fields = [
            "id",
            "from_contact_id",
            "from_contact_name",
            "kind",
            "to_contact_id",
            "to_contact_name",
            "note",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


@extend_schema_view(
    list=extend_schema(summary="List contact relationships"),
    retrieve=extend_schema(summary="Get a contact relationship"),
    create=extend_schema(summary="Relate two contacts"),
    update=extend_schema(summary="Replace a contact relationship"),
    partial_update=extend_schema(summary="Change a contact relationship"),
    destroy=extend_schema(summary="Remove a contact relationship"),
)
class ContactRelationshipViewSet(TenantModelViewSet):
    """Relationships between contacts; ``?contact=<id>`` lists one contact's (both sides).

    Relationships of a contact in the trash are left out until it is restored.
    """

    model = ContactRelationship
    serializer_class = ContactRelationshipSerializer
    filterset_class = ContactRelationshipFilterSet
    filter_backends = [DjangoFilterBackend]
    select_related = ("from_contact", "to_contact")

    def create_record(self, data):
        return services.contact_relationship_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.contact_relationship_update(
            relationship=instance,
            actor=self.request.user,
            expected_version=expected_version,
            **data,
        )

    def delete_record(self, instance):
        services.contact_relationship_delete(relationship=instance, actor=self.request.user)


routes.append(("contact-relationships", ContactRelationshipViewSet, "contact-relationship"))


# Records one bulk call may create or update (all or nothing, in one transaction).
BULK_MAX_RECORDS = 1000


def _bulk_schema(record_serializer, name: str):
    """Request and response serializers of the bulk endpoints, for the OpenAPI schema."""

    class UpdateItem(record_serializer):
        id = serializers.UUIDField(help_text=_("The record to change."))

        class Meta(record_serializer.Meta):
            read_only_fields = ["created_at", "updated_at"]

    UpdateItem.__name__ = UpdateItem.__qualname__ = f"{name}BulkUpdateItemSerializer"
    records_help = _("At most %(n)d records.") % {"n": BULK_MAX_RECORDS}
    create_request = type(
        f"{name}BulkCreateRequestSerializer",
        (serializers.Serializer,),
        {"records": record_serializer(many=True, help_text=records_help)},
    )
    update_request = type(
        f"{name}BulkUpdateRequestSerializer",
        (serializers.Serializer,),
        {
            "records": UpdateItem(
                many=True,
                help_text=_(
                    "Each with `id`, the fields to change and optionally `version`. "
                    "At most %(n)d records."
                )
                % {"n": BULK_MAX_RECORDS},
            )
        },
    )
    response = type(
        f"{name}BulkResponseSerializer",
        (serializers.Serializer,),
        {"records": record_serializer(many=True, read_only=True)},
    )
    errors = type(
        f"{name}BulkErrorSerializer",
        (serializers.Serializer,),
        {
            "errors": serializers.DictField(
                help_text=_(
                    '`{"records": {"<index>": {"<field>": ["message", …]}}}`: every refused '
                    'record by its position in the request, or `{"records": ["message"]}` '
                    "for a body that is not a list of at most 1,000 records. Nothing was "
                    "written."
                )
            )
        },
    )
    return create_request, update_request, response, errors


def _refuse_id(message: str):
    raise ApplicationError(errors={"id": [message]})


class BulkWriteViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """``POST …/bulk/`` creates, ``PATCH …/bulk/`` updates up to 1,000 records.

    All or nothing: each record goes through the same serializer and service as the
    single endpoints, inside one transaction; if any is refused nothing is written and
    the answer is ``400 {"errors": {"records": {"<index>": {field: [messages]}}}}``.
    """

    def get_permission_action(self) -> str:
        return "create" if self.request.method == "POST" else "edit"

    def create_record(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_record(self, instance, data, expected_version):  # pragma: no cover - abstract
        raise NotImplementedError

    def _records(self, body) -> list:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise ApplicationError(
                errors={"records": [gettext('Send {"records": [...]} with at least one record.')]}
            )
        if len(records) > BULK_MAX_RECORDS:
            raise ApplicationError(
                errors={
                    "records": [
                        gettext("Send at most %(max)s records in one call (this one has %(n)s).")
                        % {"max": f"{BULK_MAX_RECORDS:,}", "n": f"{len(records):,}"}
                    ]
                }
            )
        return records

    def _apply(self, records, write) -> tuple[list, dict]:
        """Run ``write(index, data)`` for each record in one transaction; on any refusal
        roll everything back and return the errors by index."""
        done, errors = [], {}
        with transaction.atomic():
            for index, data in enumerate(records):
                try:
                    done.append(write(index, data))
                except serializers.ValidationError as exc:
                    errors[str(index)] = _flatten(exc.detail)
                except ApplicationError as exc:
                    errors[str(index)] = exc.errors
                except DjangoValidationError as exc:
                    errors[str(index)] = ApplicationError.from_validation_error(exc).errors
            if errors:
                transaction.set_rollback(True)
        return done, errors

    def _answer(self, done, errors, status_code):
        if errors:
            return Response({"errors": {"records": errors}}, status=status.HTTP_400_BAD_REQUEST)
        prefetch_related_objects(done, *self.prefetch_related)
        context = self.get_serializer_context()
        data = self.get_serializer_class()(done, many=True, context=context).data
        return Response({"records": data}, status=status_code)

    def _create_one(self, index, data):
        serializer = self.get_serializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        values.pop("version", None)
        return self.create_record(values)

    def bulk_create(self, request):
        records = self._records(request.data)
        done, errors = self._apply(records, self._create_one)
        return self._answer(done, errors, status.HTTP_201_CREATED)

    def bulk_update(self, request):
        import uuid as uuid_module

        records = self._records(request.data)
        ids: list = []
        for data in records:
            try:
                ids.append(uuid_module.UUID(str(data["id"])))
            except (TypeError, KeyError, ValueError):
                ids.append(None)
        found = {r.pk: r for r in self.get_queryset().filter(pk__in=[i for i in ids if i])}
        seen: set = set()

        def update_one(index, data):
            pk = ids[index]
            if pk is None:
                _refuse_id(gettext("Give the id of the record to change."))
            if pk in seen:
                _refuse_id(gettext("This record is already in this call."))
            seen.add(pk)
            instance = found.get(pk)
            if instance is None:
                _refuse_id(gettext("Not found."))
            fields = {k: v for k, v in data.items() if k != "id"}
            serializer = self.get_serializer(instance, data=fields, partial=True)
            serializer.is_valid(raise_exception=True)
            values = dict(serializer.validated_data)
            expected_version = values.pop("version", None)
            return self.update_record(instance, values, expected_version)

        done, errors = self._apply(records, update_one)
        return self._answer(done, errors, status.HTTP_200_OK)


_CONTACT_BULK = _bulk_schema(ContactSerializer, "Contact")
_COMPANY_BULK = _bulk_schema(CompanySerializer, "Company")


def _bulk_docs(noun: str, schema):
    create_request, update_request, response, errors = schema
    return [
        extend_schema(
            methods=["POST"],
            summary=f"Create up to 1,000 {noun} (all or nothing)",
            request=create_request,
            responses={201: response, 400: errors},
        ),
        extend_schema(
            methods=["PATCH"],
            summary=f"Change up to 1,000 {noun} (all or nothing)",
            request=update_request,
            responses={200: response, 400: errors},
        ),
    ]


def _with_docs(func, docs):
    for doc in reversed(docs):
        func = doc(func)
    return func


class ContactBulkWriteViewSet(BulkWriteViewSet):
    """``/api/crm/contacts/bulk/``."""

    model = Contact
    serializer_class = ContactSerializer
    select_related = selectors.CONTACT_LIST_SELECT_RELATED
    prefetch_related = selectors.CONTACT_LIST_PREFETCH_RELATED
    create_record = ContactViewSet.create_record
    update_record = ContactViewSet.update_record

    @action(detail=False, methods=["post", "patch"], url_path="bulk", url_name="write")
    def write(self, request):
        """POST ``{"records": [...]}`` creates, PATCH (each with ``id``, optional
        ``version``) updates, at most 1,000 contacts per call. All or nothing: one refused
        record and nothing is written; the answer lists every refusal by its index."""
        if request.method == "POST":
            return self.bulk_create(request)
        return self.bulk_update(request)

    write = _with_docs(write, _bulk_docs("contacts", _CONTACT_BULK))


class CompanyBulkWriteViewSet(BulkWriteViewSet):
    """``/api/crm/companies/bulk/``."""

    model = Company
    serializer_class = CompanySerializer
    select_related = selectors.COMPANY_LIST_SELECT_RELATED
    prefetch_related = selectors.COMPANY_LIST_PREFETCH_RELATED
    create_record = CompanyViewSet.create_record
    update_record = CompanyViewSet.update_record

    @action(detail=False, methods=["post", "patch"], url_path="bulk", url_name="write")
    def write(self, request):
        """POST ``{"records": [...]}`` creates, PATCH (each with ``id``, optional
        ``version``) updates, at most 1,000 companies per call. All or nothing: one refused
        record and nothing is written; the answer lists every refusal by its index."""
        if request.method == "POST":
            return self.bulk_create(request)
        return self.bulk_update(request)

    write = _with_docs(write, _bulk_docs("companies", _COMPANY_BULK))


# Before "contacts"/"companies": their detail routes would otherwise take "bulk".
routes[:0] = [
    ("contacts", ContactBulkWriteViewSet, "contact-bulk"),
    ("companies", CompanyBulkWriteViewSet, "company-bulk"),
]
