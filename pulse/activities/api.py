"""The activities REST API under /api/crm/: activities (CRUD, complete, filters),
templates, the calendar, reports and CalDAV connections."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
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
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from pulse.contacts.api import MappedOrderingFilter, MemberField, TenantRelatedField
from pulse.contacts.models import Company, Contact
from pulse.core.api import TenantModelViewSet, TenantViewSetMixin, VersionedSerializerMixin
from pulse.core.errors import ApplicationError
from pulse.leads.models import Lead
from pulse.opportunities.models import Opportunity

from . import selectors, services
from .filtersets import ACTIVITY_DEFAULT_ORDERING, ACTIVITY_ORDERINGS, ActivityFilterSet
from .ical_import import MAX_BYTES
from .models import (
    REMINDER_OFFSETS,
    Activity,
    ActivityChecklistItem,
    ActivityTemplate,
    ActivityType,
    CalDavConnection,
    CalendarFeed,
    CallOutcome,
    Priority,
)

# (prefix, viewset, basename) for the root router, in the order of the API root.
routes: list = []

# --- activities: serializers and viewset ---

# Imports of this section (the lead hoists them).


class ActivitySerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """An activity with the product spec's field names; the records it concerns as
    ``contact_id``, ``company_id``, ``lead_id``, ``opportunity_id``. ``description`` and
    ``notes`` are sanitized HTML. ``reminders`` (write only) sets the owner's reminders."""

    contact_id = TenantRelatedField(
        model=Contact, source="contact", required=False, allow_null=True
    )
    company_id = TenantRelatedField(
        model=Company, source="company", required=False, allow_null=True
    )
    lead_id = TenantRelatedField(model=Lead, source="lead", required=False, allow_null=True)
    opportunity_id = TenantRelatedField(
        model=Opportunity, source="opportunity", required=False, allow_null=True
    )
    assigned_to = MemberField(
        required=False,
        allow_null=True,
        help_text=gettext_lazy("User id of the owner; defaults to you."),
    )
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    follow_up_of = serializers.PrimaryKeyRelatedField(read_only=True)
    is_overdue = serializers.BooleanField(read_only=True)
    reminders = serializers.ListField(
        child=serializers.ChoiceField(choices=REMINDER_OFFSETS),
        required=False,
        write_only=True,
        help_text=gettext_lazy("Minutes before: 0, 15, 60 or 1440 (replaces the reminders)."),
    )

    class Meta:
        model = Activity
        fields = [
            "id",
            "type",
            "subject",
            "description",
            "status",
            "priority",
            "scheduled_at",
            "duration_minutes",
            "all_day",
            "due_date",
            "completed_at",
            "occurred_at",
            "is_overdue",
            "assigned_to",
            "created_by",
            "contact_id",
            "company_id",
            "lead_id",
            "opportunity_id",
            "follow_up_of",
            "call_direction",
            "call_outcome",
            "location",
            "video_url",
            "notes",
            "email_from",
            "email_to",
            "email_cc",
            "message_id",
            "thread_id",
            "ical_uid",
            "reminders",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "occurred_at", "ical_uid", "created_at", "updated_at"]


@extend_schema_field(OpenApiTypes.INT)
class _MemberRefField(MemberField):
    """A member by user id (typed for the schema: this serializer has no model)."""


class FollowUpSerializer(serializers.Serializer):
    """The follow-up to schedule when completing: it concerns the same records."""

    type = serializers.ChoiceField(choices=ActivityType.choices)
    subject = serializers.CharField(max_length=255)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    due_date = serializers.DateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    assigned_to = _MemberRefField(required=False, allow_null=True)


class ActivityCompleteSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False)
    completed_at = serializers.DateTimeField(required=False)
    call_outcome = serializers.ChoiceField(choices=CallOutcome.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    follow_up = FollowUpSerializer(required=False, allow_null=True)


class ActivityCompleteResultSerializer(serializers.Serializer):
    activity = ActivitySerializer()
    follow_up = ActivitySerializer(allow_null=True)


class ActivityCancelSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False)


class ChecklistItemSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """One line of a task's checklist (``position`` is its place, from 0)."""

    class Meta:
        model = ActivityChecklistItem
        fields = ["id", "text", "done", "position", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "position", "created_at", "updated_at"]
        extra_kwargs = {"done": {"required": False}}


class ChecklistReorderSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False)


class ReportUserRowSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    total = serializers.IntegerField()
    completed = serializers.IntegerField()


class ReportOutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class ActivityReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    total = serializers.IntegerField()
    completed = serializers.IntegerField()
    pending = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    overdue = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True)
    per_type = serializers.DictField(child=serializers.IntegerField())
    per_user = ReportUserRowSerializer(many=True)
    calls_by_outcome = ReportOutcomeSerializer(many=True)


def _report_from(request):
    from .forms import ActivityReportForm

    form = ActivityReportForm(request.query_params or {"period": "month"}, request=request)
    if not form.is_valid():
        raise ApplicationError(errors={k: [str(m) for m in v] for k, v in form.errors.items()})
    return selectors.activity_report(
        user=request.user,
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
        user_ids=form.user_ids(),
    )


@extend_schema_view(
    list=extend_schema(summary="List activities"),
    retrieve=extend_schema(summary="Get an activity"),
    create=extend_schema(summary="Create an activity"),
    update=extend_schema(summary="Replace an activity"),
    partial_update=extend_schema(summary="Change some fields of an activity"),
    destroy=extend_schema(summary="Move an activity to the trash"),
)
class ActivityViewSet(TenantModelViewSet):
    """Activities: ``search`` (subject), ``type``, ``status``, ``priority`` (repeatable),
    ``assigned_to`` (``me``, ``unassigned``, ids), ``occurred_after``/``occurred_before``,
    ``due_after``/``due_before``, ``contact``, ``company``, ``lead``, ``opportunity`` (ids),
    ``overdue``; ``ordering`` by occurred_at, subject, type, status, priority,
    scheduled_at, due_date, completed_at, assigned_to, created_at, updated_at."""

    model = Activity
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilterSet
    filter_backends = [DjangoFilterBackend, MappedOrderingFilter]
    select_related = ("assigned_to",)
    orderings = ACTIVITY_ORDERINGS
    default_ordering = ACTIVITY_DEFAULT_ORDERING
    permission_map = {
        "complete": "edit",
        "cancel": "edit",
        "checklist_item": "edit",
        "checklist_reorder": "edit",
        "report": "view",
    }

    def get_permission_action(self) -> str:
        if getattr(self, "action", None) == "checklist":
            return "view" if self.request.method == "GET" else "edit"
        return super().get_permission_action()

    def create_record(self, data):
        offsets = data.pop("reminders", None)
        request = self.request
        with transaction.atomic():
            activity = services.activity_create(
                org=request.organization, actor=request.user, **data
            )
            if offsets is not None:
                services.activity_set_reminders(
                    activity=activity, offsets=offsets, actor=request.user
                )
        return activity

    def update_record(self, instance, data, expected_version):
        offsets = data.pop("reminders", None)
        request = self.request
        with transaction.atomic():
            activity = services.activity_update(
                activity=instance, actor=request.user, expected_version=expected_version, **data
            )
            if offsets is not None:
                services.activity_set_reminders(
                    activity=activity, offsets=offsets, actor=request.user
                )
        return activity

    def delete_record(self, instance):
        services.activity_delete(activity=instance, actor=self.request.user)

    @extend_schema(
        summary="Complete an activity (optionally scheduling a follow-up)",
        request=ActivityCompleteSerializer,
        responses={200: ActivityCompleteResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="complete")
    def complete(self, request, pk=None):
        activity = self.get_object()
        body = ActivityCompleteSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        version = data.pop("version", None)
        follow_up = data.pop("follow_up", None)
        activity, follow = services.activity_complete(
            activity=activity,
            actor=request.user,
            expected_version=version,
            follow_up=dict(follow_up) if follow_up else None,
            **data,
        )
        context = self.get_serializer_context()
        return Response(
            {
                "activity": ActivitySerializer(activity, context=context).data,
                "follow_up": ActivitySerializer(follow, context=context).data if follow else None,
            }
        )

    @extend_schema(
        summary="Cancel an activity",
        request=ActivityCancelSerializer,
        responses={200: ActivitySerializer},
    )
    @action(detail=True, methods=["post"], url_path="cancel")
    def cancel(self, request, pk=None):
        activity = self.get_object()
        body = ActivityCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        activity = services.activity_cancel(
            activity=activity,
            actor=request.user,
            expected_version=body.validated_data.get("version"),
        )
        return Response(self.get_serializer(activity).data)

    @extend_schema(
        summary="A task's checklist",
        methods=["GET"],
        responses={200: ChecklistItemSerializer(many=True)},
    )
    @extend_schema(
        summary="Add a line to a task's checklist",
        methods=["POST"],
        request=ChecklistItemSerializer,
        responses={201: ChecklistItemSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="checklist")
    def checklist(self, request, pk=None):
        activity = self.get_object()
        context = self.get_serializer_context()
        if request.method == "GET":
            items = selectors.activity_checklist(activity)
            return Response(ChecklistItemSerializer(items, many=True, context=context).data)
        body = ChecklistItemSerializer(data=request.data, context=context)
        body.is_valid(raise_exception=True)
        item = services.checklist_item_add(
            activity=activity, actor=request.user, text=body.validated_data["text"]
        )
        if body.validated_data.get("done"):
            item = services.checklist_item_update(item=item, actor=request.user, done=True)
        return Response(
            ChecklistItemSerializer(item, context=context).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Reorder a task's checklist",
        request=ChecklistReorderSerializer,
        responses={200: ChecklistItemSerializer(many=True)},
    )
    @action(detail=True, methods=["post"], url_path="checklist/reorder")
    def checklist_reorder(self, request, pk=None):
        activity = self.get_object()
        body = ChecklistReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items = services.checklist_item_reorder(
            activity=activity, actor=request.user, ids=body.validated_data["ids"]
        )
        return Response(
            ChecklistItemSerializer(items, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Change (tick off) a checklist line",
        methods=["PATCH"],
        request=ChecklistItemSerializer,
        responses={200: ChecklistItemSerializer},
    )
    @extend_schema(summary="Remove a checklist line", methods=["DELETE"], responses={204: None})
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"checklist/(?P<activitychecklistitem_id>[0-9a-f-]{36})",
        url_name="checklist-item",
    )
    def checklist_item(self, request, pk=None, activitychecklistitem_id=None):
        activity = self.get_object()
        item = (
            ActivityChecklistItem.objects.restrict(request.user, "edit")
            .filter(pk=activitychecklistitem_id, activity_id=activity.pk)
            .first()
        )
        if item is None:
            raise NotFound(_("No such line on this checklist."))
        if request.method == "DELETE":
            services.checklist_item_remove(item=item, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = ChecklistItemSerializer(item, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        item = services.checklist_item_update(
            item=item,
            actor=request.user,
            text=data.get("text"),
            done=data.get("done"),
            expected_version=data.get("version"),
        )
        return Response(ChecklistItemSerializer(item, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Activity report: per owner and type, completion, overdue, call outcomes",
        parameters=[
            OpenApiParameter("period", str, enum=["week", "month", "quarter", "last30", "custom"]),
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (custom)."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (custom)."),
            OpenApiParameter("scope", str, description="everyone, me, or team:<id>."),
        ],
        responses={200: ActivityReportSerializer},
    )
    @action(detail=False, methods=["get"], url_path="report")
    def report(self, request):
        """``period`` (week, month, quarter, last30, custom with ``start``/``end``) and
        ``scope`` (everyone, me, ``team:<id>``): the numbers of the report page."""
        report = _report_from(request)
        return Response(ActivityReportSerializer(report.as_dict()).data)


routes.append(("activities", ActivityViewSet, "activity"))

# --- activity templates ---


class ActivityTemplateSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """A template that prefills an activity and suggests its follow-up."""

    class Meta:
        model = ActivityTemplate
        fields = [
            "id",
            "name",
            "type",
            "subject",
            "description",
            "duration_minutes",
            "priority",
            "follow_up_type",
            "follow_up_subject",
            "follow_up_days",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The service validates (full_clean) so UI and API give the same messages.
        validators = []


@extend_schema_view(
    list=extend_schema(summary="List activity templates"),
    retrieve=extend_schema(summary="Get an activity template"),
    create=extend_schema(summary="Create an activity template"),
    update=extend_schema(summary="Replace an activity template"),
    partial_update=extend_schema(summary="Change some fields of an activity template"),
    destroy=extend_schema(summary="Move an activity template to the trash"),
)
class ActivityTemplateViewSet(TenantModelViewSet):
    """Activity templates (organization settings: admins write, everyone reads)."""

    model = ActivityTemplate
    serializer_class = ActivityTemplateSerializer

    def create_record(self, data):
        return services.activitytemplate_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.activitytemplate_update(
            template=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.activitytemplate_delete(template=instance, actor=self.request.user)


routes.append(("activity-templates", ActivityTemplateViewSet, "activitytemplate"))

# --- activity reports ---


# --- timeline ---


class TimelineQuerySerializer(serializers.Serializer):
    """The timeline's query parameters."""

    record_type = serializers.ChoiceField(choices=["contact", "company", "lead", "opportunity"])
    record_id = serializers.UUIDField()
    types = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Comma-separated: note, call, meeting, task, email, stage, field (default all).",
    )
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=selectors.TIMELINE_MAX_PAGE
    )

    def validate_types(self, value):
        try:
            return selectors.parse_timeline_types([value])
        except ValueError as exc:
            raise serializers.ValidationError(f"Unknown type: {exc}.") from exc

    def validate_cursor(self, value):
        if not value:
            return None
        try:
            return selectors.decode_timeline_cursor(value)
        except selectors.TimelineCursorError as exc:
            raise serializers.ValidationError("Not a cursor of this timeline.") from exc


class TimelineActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="__str__")


class TimelineEntrySerializer(serializers.Serializer):
    """One line of a timeline."""

    kind = serializers.ChoiceField(choices=list(selectors.TIMELINE_TYPES))
    id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()
    actor = TimelineActorSerializer(allow_null=True)
    subject = serializers.CharField()
    summary = serializers.CharField()
    details = serializers.DictField()
    activity_id = serializers.UUIDField(source="activity.pk", allow_null=True, default=None)
    concerns = serializers.SerializerMethodField()

    def get_concerns(self, entry) -> dict | None:
        """On a company's timeline: the contact or deal the line is about."""
        if entry.concerns is None:
            return None
        return {
            "record_type": selectors.timeline_record_type_of(entry.concerns),
            "id": str(entry.concerns.pk),
            "name": str(entry.concerns),
        }


class TimelinePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="URL of the next page.")
    next_cursor = serializers.CharField(allow_null=True)
    results = TimelineEntrySerializer(many=True)


class TimelineViewSet(viewsets.ViewSet):
    """``GET /api/crm/timeline/?record_type=contact&record_id=…``: one record's unified
    timeline (activities, stage moves, field changes; a company's includes its contacts'
    and deals'), newest first, with a ``next`` cursor. 404 for a record you cannot see."""

    @extend_schema(
        summary="A record's timeline",
        parameters=[
            OpenApiParameter(
                "record_type", str, enum=["contact", "company", "lead", "opportunity"]
            ),
            OpenApiParameter("record_id", str, description="The record's id (UUID)."),
            OpenApiParameter(
                "types",
                str,
                description="Comma-separated: note, call, meeting, task, email, stage, field.",
            ),
            OpenApiParameter("cursor", str, description="``next_cursor`` of the previous page."),
            OpenApiParameter(
                "limit", int, description="Entries per page (default 25, at most 100)."
            ),
        ],
        responses={200: TimelinePageSerializer},
    )
    def list(self, request):
        params = TimelineQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        record = selectors.timeline_record(
            user=request.user, record_type=data["record_type"], pk=data["record_id"]
        )
        if record is None:
            raise exceptions.NotFound()
        page = selectors.timeline(
            record,
            user=request.user,
            types=data.get("types"),
            before=data.get("cursor"),
            limit=data.get("limit") or selectors.TIMELINE_PAGE,
        )
        next_url = None
        if page.next_cursor:
            query = request.query_params.copy()
            query["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "next": next_url,
                "next_cursor": page.next_cursor,
                "results": TimelineEntrySerializer(page.entries, many=True).data,
            }
        )


routes.append(("timeline", TimelineViewSet, "timeline"))


# --- calendar and iCalendar ---


class CalendarEventSerializer(serializers.Serializer):
    """One activity on the calendar (the shape FullCalendar reads)."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    start = serializers.CharField(help_text="ISO 8601; a date for all-day events")
    end = serializers.CharField(allow_null=True)
    allDay = serializers.BooleanField()  # noqa: N815 - FullCalendar's name
    editable = serializers.BooleanField()
    url = serializers.CharField()
    extendedProps = serializers.DictField()  # noqa: N815


class CalendarSerializer(serializers.Serializer):
    events = CalendarEventSerializer(many=True)
    truncated = serializers.BooleanField(help_text="More events than shown: ask for less")
    calendar = serializers.CharField(help_text="Whose calendar (a person or a team)")


class CalendarViewSet(TenantViewSetMixin, viewsets.ViewSet):
    """``GET /api/crm/calendar/?start=&end=&user=|team=``: the events of a window of at
    most 62 days, the caller's own or (managers and admins) a member's or a team's."""

    model = Activity

    @extend_schema(
        summary="Calendar events in a window (at most 62 days)",
        parameters=[
            OpenApiParameter("start", str, required=True, description="Date or ISO date-time"),
            OpenApiParameter(
                "end", str, required=True, description="Date or ISO date-time (exclusive)"
            ),
            OpenApiParameter("user", int, description="A member's calendar (managers and admins)"),
            OpenApiParameter("team", str, description="A team's calendar (managers and admins)"),
        ],
        responses=CalendarSerializer,
    )
    def list(self, request):
        from .views import calendar_events_payload

        return Response(calendar_events_payload(request, request.query_params))


class CalendarFeedSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The private .ics URL")
    active = serializers.SerializerMethodField()

    class Meta:
        model = CalendarFeed
        fields = ["id", "url", "active", "created_at", "revoked_at", "last_fetched_at"]
        read_only_fields = fields

    def get_url(self, feed) -> str:
        path = reverse("activities:calendar_feed", kwargs={"token": feed.token})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_active(self, feed) -> bool:
        return feed.revoked_at is None


@extend_schema_view(
    list=extend_schema(summary="Your calendar feed URLs (live and revoked)"),
    retrieve=extend_schema(summary="One of your calendar feed URLs"),
    create=extend_schema(summary="A new feed URL (your previous one is revoked)", request=None),
)
class CalendarFeedViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own private iCalendar feeds: list, create (revoking the old), revoke."""

    model = CalendarFeed
    serializer_class = CalendarFeedSerializer
    permission_map = {"revoke": "edit"}
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def create(self, request, *args, **kwargs):
        feed = services.calendar_feed_create(org=request.organization, actor=request.user)
        data = self.get_serializer(feed).data
        return Response(data, status=201)

    @extend_schema(summary="Revoke a feed URL (calendar apps get 404 from then on)", request=None)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        feed = services.calendar_feed_revoke(feed=self.get_object(), actor=request.user)
        return Response(self.get_serializer(feed).data)


routes += [
    ("calendar", CalendarViewSet, "calendar"),
    ("calendar-feeds", CalendarFeedViewSet, "calendar-feed"),
]


# --- reminders and notifications ---


class OverdueCountSerializer(serializers.Serializer):
    overdue = serializers.IntegerField(
        help_text="Your pending tasks past their due day and scheduled activities that ended."
    )
    today = serializers.IntegerField(help_text="Your pending activities due or scheduled today.")


class OverdueCountViewSet(viewsets.ViewSet):
    """``GET /api/crm/activities/overdue-count/``: the signed-in user's overdue and
    today's counts in the organization the request works in (the sidebar badge's twin)."""

    @extend_schema(responses=OverdueCountSerializer, operation_id="activities_overdue_count")
    def list(self, request):
        from pulse.core.tenancy import get_current_org

        from .selectors import overdue_counts

        counts = overdue_counts(request.user, get_current_org())
        return Response(
            OverdueCountSerializer({"overdue": counts.overdue, "today": counts.today}).data
        )


# First: the activities viewset's detail route (``activities/<pk>/``) would take
# "overdue-count" for an id if it were registered before this one.
routes.insert(0, ("activities/overdue-count", OverdueCountViewSet, "activity-overdue-count"))


# --- CalDAV connections ---


class CalDavConnectionSerializer(VersionedSerializerMixin, serializers.ModelSerializer):
    """One of your CalDAV calendars. ``password`` is write-only (required to create; leave
    it out to keep the stored one); the sync status fields are read-only."""

    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )

    class Meta:
        model = CalDavConnection
        fields = [
            "id",
            "name",
            "url",
            "username",
            "password",
            "enabled",
            "last_synced_at",
            "last_error",
            "last_error_at",
            "failures",
            "next_sync_at",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = [
            "id",
            "last_synced_at",
            "last_error",
            "last_error_at",
            "failures",
            "next_sync_at",
            "created_at",
            "updated_at",
        ]


class CalDavTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


@extend_schema(tags=["calendar sync"])
class CalDavConnectionViewSet(TenantModelViewSet):
    """Your CalDAV calendars kept in two-way sync with your CRM meetings (each user sees
    and manages only their own)."""

    model = CalDavConnection
    serializer_class = CalDavConnectionSerializer
    permission_map = {"sync": "edit", "test": "view"}
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "created_at", "last_synced_at"]
    ordering = ["name", "created_at"]

    def create_record(self, data):
        return services.caldav_connection_create(
            org=self.request.organization, actor=self.request.user, **data
        )

    def update_record(self, instance, data, expected_version):
        return services.caldav_connection_update(
            connection=instance, actor=self.request.user, expected_version=expected_version, **data
        )

    def delete_record(self, instance):
        services.caldav_connection_delete(connection=instance, actor=self.request.user)

    @extend_schema(
        summary="Sync this calendar now",
        description="Queues the two-way sync (run at once when no worker is configured); "
        "the connection's status fields show the outcome.",
        request=None,
        responses={202: CalDavConnectionSerializer},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        from .tasks import caldav_sync_one

        connection = self.get_object()
        caldav_sync_one.enqueue(
            org=request.organization, actor=request.user, connection_id=str(connection.pk)
        )
        connection.refresh_from_db()
        return Response(
            CalDavConnectionSerializer(connection).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        summary="Test the connection",
        description="Reaches the server and the calendar; changes nothing.",
        request=None,
        responses={200: CalDavTestResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        ok, message = services.caldav_connection_test(connection=self.get_object())
        return Response({"ok": ok, "message": message})


class IcsImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An iCalendar (.ics) file, at most 2 MB.")

    def validate_file(self, upload):
        if upload.size > MAX_BYTES:
            raise serializers.ValidationError(
                _("The file is larger than %(mb)d MB; split it or export a shorter period.")
                % {"mb": MAX_BYTES // (1024 * 1024)}
            )
        return upload


class IcsSkippedSerializer(serializers.Serializer):
    event = serializers.CharField()
    reason = serializers.CharField()


class IcsImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = IcsSkippedSerializer(many=True)


class IcsImportViewSet(TenantViewSetMixin, viewsets.ViewSet):
    """``POST /api/crm/calendar/import/``: an .ics file's events become your meetings."""

    model = Activity
    permission_map = {"create": "import"}
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import an .ics file as meetings",
        description="Multipart ``file``. Events become meetings assigned to you, linked to "
        "contacts found by attendee email; an event imported before (same UID) is updated. "
        "A malformed, too large or too full file answers 400 and imports nothing.",
        request={"multipart/form-data": IcsImportRequestSerializer},
        responses={200: IcsImportResultSerializer},
    )
    def create(self, request):
        body = IcsImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.ics_import(
            org=request.organization, actor=request.user, data=body.validated_data["file"].read()
        )
        return Response(IcsImportResultSerializer(result).data)


routes += [
    ("caldav-connections", CalDavConnectionViewSet, "caldav-connection"),
    ("calendar/import", IcsImportViewSet, "ics-import"),
]
