"""REST API of segments: ``/api/crm/segments/`` and ``/api/crm/segments/{id}/members/``.

Thin twins of the pages (rule 4): the same ``restrict``-ed querysets, FilterSet and
services; members come from ``segment_members`` and are shown with the contact API's
own serializer.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pulse.contacts.api import ContactSerializer, MemberField, TenantRelatedField
from pulse.core.api import TenantModelViewSet, VersionedSerializerMixin
from pulse.extras.models import Tag

from . import selectors, services
from .filtersets import SegmentFilterSet
from .models import Segment, SegmentKind


@extend_schema_field(
    {"type": "string", "enum": list(SegmentKind.values), "description": "dynamic or static"},
    component_name="SegmentKind",
)
class SegmentKindField(serializers.ChoiceField):
    """The kind, as its own schema component (``kind`` names other enums elsewhere)."""

    def __init__(self, **kwargs):
        super().__init__(choices=SegmentKind.choices, **kwargs)


class SegmentSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A dynamic segment (``filters``: the contact list's parameters) or a static list."""

    filters = serializers.JSONField(
        required=False,
        help_text=_(
            'The contact list filters, e.g. {"country": ["BG"], "lifecycle_stage": '
            '["customer"]}; dynamic segments only.'
        ),
    )
    kind = SegmentKindField(required=False)
    tags = TenantRelatedField(model=Tag, many=True, required=False)
    assigned_to = MemberField(
        required=False, allow_null=True, help_text=_("User id of the owner; defaults to you.")
    )
    member_count = serializers.SerializerMethodField(
        help_text=_("Members you can see (single segment only; null in lists).")
    )
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(required=False)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "filters",
            "assigned_to",
            "tags",
            "member_count",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_member_count(self, segment) -> int | None:
        view = self.context.get("view")
        if view is None or getattr(view, "action", None) == "list":
            return None
        return selectors.segment_member_count(segment, self.context["request"].user)


class MembersInputSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.UUIDField(),
        allow_empty=False,
        max_length=services.MEMBERS_LIMIT,
        help_text=_("Contact ids."),
    )


class MembersChangedSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text=_("Contacts added (POST) or removed (DELETE)."))
    member_count = serializers.IntegerField()


@extend_schema_view(
    list=extend_schema(summary="List segments"),
    retrieve=extend_schema(summary="Get a segment"),
    create=extend_schema(summary="Create a segment or static list"),
    update=extend_schema(summary="Replace a segment"),
    partial_update=extend_schema(summary="Change some fields of a segment"),
    destroy=extend_schema(summary="Move a segment to the trash"),
)
class SegmentViewSet(TenantModelViewSet):
    """Segments: ``search``, ``kind``, ``assigned_to``, ``tags``; members under ``members/``."""

    model = Segment
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilterSet
    select_related = ("assigned_to",)
    prefetch_related = ("tags",)

    def get_permission_action(self) -> str:
        if self.action == "members" and self.request.method != "GET":
            return "edit"  # changing a static list's members edits the list
        return super().get_permission_action()

    def create_record(self, data):
        return services.segment_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.segment_update(
            segment=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.segment_delete(segment=instance, actor=self.request.user)

    @extend_schema(
        methods=["GET"],
        summary="List a segment's members",
        request=None,
        responses=ContactSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add contacts to a static list",
        request=MembersInputSerializer,
        responses={200: MembersChangedSerializer, 400: OpenApiResponse(description="Errors")},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Remove contacts from a static list",
        request=MembersInputSerializer,
        responses={200: MembersChangedSerializer, 400: OpenApiResponse(description="Errors")},
    )
    @action(detail=True, methods=["get", "post", "delete"], url_path="members")
    def members(self, request, pk=None):
        segment = self.get_object()
        if request.method == "GET":
            rows = selectors.segment_member_list(segment, request.user)
            page = self.paginate_queryset(rows)
            data = ContactSerializer(page, many=True, context=self.get_serializer_context()).data
            return self.get_paginated_response(data)
        payload = MembersInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        service = (
            services.segment_add_members
            if request.method == "POST"
            else services.segment_remove_members
        )
        changed = service(
            segment=segment, contacts=payload.validated_data["contacts"], actor=request.user
        )
        count = selectors.segment_members(segment, request.user).count()
        return Response({"changed": changed, "member_count": count}, status=status.HTTP_200_OK)


routes = [("segments", SegmentViewSet, "segment")]
