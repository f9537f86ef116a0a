"""Activities: views (see DESIGN.md for this file's role)."""

from __future__ import annotations

import csv
import hashlib

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.permissions import can
from pulse.contacts.filtersets import order_terms
from pulse.contacts.views import (
    InlineEditView,
    OptionsView,
    QuickCreateView,
    TableRow,
    _list_features_context,
    _members,
    _safe_next,
    _saved_views,
)
from pulse.contacts.widgets import options_html
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.core.views import (
    OrganizationRequiredMixin,
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordPermissionMixin,
    is_htmx_partial,
)
from pulse.leads.models import Lead
from pulse.leads.selectors import LEAD_SEARCH_FIELDS
from pulse.opportunities.models import Opportunity

from . import selectors, services
from .filtersets import ACTIVITY_DEFAULT_ORDERING, ACTIVITY_ORDERINGS, ActivityFilterSet
from .forms import (
    COMPOSER_KINDS,
    TIMELINE_COMPOSER_FORMS,
    ActivityBulkActionForm,
    ActivityCompleteForm,
    ActivityForm,
    ActivityReportForm,
    ActivityTemplateForm,
    AttendeeAddForm,
    AttendeeRespondForm,
    CalDavConnectionForm,
    CalendarCreateForm,
    CalendarMoveForm,
    ChecklistItemForm,
    IcsImportForm,
    QuickActivityForm,
)
from .ical import activity_to_event, calendar_of
from .models import (
    LINK_FIELDS,
    Activity,
    ActivityAttendee,
    ActivityChecklistItem,
    ActivityStatus,
    ActivityTemplate,
    ActivityType,
    CalDavConnection,
    CalendarFeed,
)

# --- activities ---

# Imports of this section (the lead hoists them).


def _activities_exportable() -> bool:
    """Whether the imports app knows the "activities" export target (the lead registers it)."""
    from pulse.imports.export import export_targets

    return "activities" in export_targets()


class ActivityListView(RecordListView):
    """Every activity the user may see: search, filters (type, status, priority, owner,
    dates, due days, related record, overdue), quick filters (my open tasks, overdue),
    sortable columns, column chooser, saved views, bulk actions, export. Overdue rows
    are highlighted."""

    model = Activity
    filterset_class = ActivityFilterSet
    orderings = ACTIVITY_ORDERINGS
    ordering_fields = tuple(ACTIVITY_ORDERINGS)
    default_ordering = ACTIVITY_DEFAULT_ORDERING
    template_name = "activities/activity_list.html"
    partial_template_name = "activities/partials/activity_table.html"
    inline_url_name = "activities:activity_inline_edit"
    export_target = "activities"

    def get(self, request, *args, **kwargs):
        from pulse.contacts import tables

        from . import tables as _activity_columns  # noqa: F401  (registers the columns)

        self.table = tables.table_for(self.model, request)
        self.select_related = self.table.select_related
        self.prefetch_related = self.table.prefetch_related
        return super().get(request, *args, **kwargs)

    def cell_context_extra(self, rows) -> dict:
        return {}

    def get_ordering(self):
        return order_terms(
            self.model, self.orderings, self.request.GET.get("ordering", ""), self.default_ordering
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        user = request.user
        context.update(
            can_create=can(user, "create", Activity),
            can_edit=can(user, "edit", Activity),
            can_delete=can(user, "delete", Activity),
            bulk_url=reverse("activities:activity_bulk"),
            create_url=reverse("activities:activity_create"),
            saved_views=_saved_views(user, Activity),
            page_sizes=(25, 50, 100, 200),
            filters_open=any(
                value
                for key, value in request.GET.items()
                if key not in {"search", "ordering", "page", "page_size", "columns"}
            ),
        )
        members = list(_members(request))
        if context["can_edit"] or context["can_delete"]:
            context.update(
                bulk_form=ActivityBulkActionForm(request=request),
                bulk_member_options=options_html((m.pk, str(m)) for m in members),
                bulk_tags=[],
            )
        context.update(_list_features_context(self, context, members))
        if context.get("export_url") and not _activities_exportable():
            context["export_url"] = ""
        context["rows"] = [_mark_overdue(row) for row in context["rows"]]
        context["quick_filters"] = _quick_filters(request)
        return context


def _mark_overdue(row: TableRow) -> TableRow:
    record, cells = row
    if not record.is_overdue:
        return row
    html = row.html.replace("<tr ", '<tr class="table-danger activity-overdue" ', 1)
    from django.utils.safestring import mark_safe

    return TableRow(record, cells, mark_safe(html))  # noqa: S308 (built with format_html)


def _quick_filters(request) -> list[tuple[str, str, bool]]:
    """(label, query, active) of the list's one-click filters."""
    options = [
        (_("All"), ""),
        (_("My open tasks"), "type=task&status=pending&assigned_to=me"),
        (_("My overdue"), "overdue=true&assigned_to=me"),
        (_("My activities"), "assigned_to=me"),
    ]
    current = request.GET.copy()
    for name in ("page", "page_size", "ordering", "columns"):
        current.pop(name, None)
    current_query = current.urlencode()
    return [(label, query, query == current_query) for label, query in options]


def activity_bulk_apply(*, activities, actor, action, assigned_to=None) -> int:
    """One bulk action over the chosen activities through their services, all or nothing."""
    count = 0
    with transaction.atomic():
        for activity in activities:
            if action == "delete":
                services.activity_delete(activity=activity, actor=actor)
            elif action == "assign":
                services.activity_update(activity=activity, actor=actor, assigned_to=assigned_to)
            elif action == "complete":
                if activity.status == ActivityStatus.COMPLETED:
                    continue
                services.activity_complete(activity=activity, actor=actor)
            elif action == "cancel":
                if activity.status == ActivityStatus.CANCELLED:
                    continue
                services.activity_cancel(activity=activity, actor=actor)
            count += 1
    return count


class ActivityBulkView(RecordPermissionMixin, View):
    """POST: apply one action to the selected activities of the list, all or nothing."""

    model = Activity

    def post(self, request):
        form = ActivityBulkActionForm(request.POST, request=request)
        back = _safe_next(request, reverse("activities:activity_list"))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        action = data["action"]
        permission = "delete" if action == "delete" else "edit"
        if not can(request.user, permission, Activity):
            raise PermissionDenied(_("Your role does not allow this."))
        if data.get("select_all"):
            messages.error(
                request,
                _("Select the activities on this page (at most 200 at a time) for this action."),
            )
            return HttpResponseRedirect(back)
        rows = Activity.objects.restrict(request.user, permission).filter(pk__in=data["ids"])
        try:
            count = activity_bulk_apply(
                activities=rows,
                actor=request.user,
                action=action,
                assigned_to=data.get("assigned_to"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if action == "delete":
                text = ngettext(
                    "%(count)d activity moved to the trash.",
                    "%(count)d activities moved to the trash.",
                    count,
                )
            else:
                text = ngettext(
                    "%(count)d activity updated.", "%(count)d activities updated.", count
                )
            messages.success(request, text % {"count": count})
        return HttpResponseRedirect(back)


class ActivityInlineEditView(InlineEditView):
    """One cell of the list edited in place (subject, priority, due day)."""

    model = Activity
    inline_url_name = "activities:activity_inline_edit"

    def _record_and_column(self, pk):
        from . import tables as _activity_columns  # noqa: F401  (registers the columns)

        return super()._record_and_column(pk)

    def _cell_response(self, record, column, *, saved: bool = False):
        from . import tables as _activity_columns  # noqa: F401

        return super()._cell_response(record, column, saved=saved)

    def update(self, record, **fields):
        return services.activity_update(activity=record, actor=self.request.user, **fields)


def _template_for(activity: Activity):
    """The template this activity looks made from (same type and subject), if any: its
    follow-up is what the Complete dialog suggests."""
    return (
        ActivityTemplate.objects.filter(type=activity.type, subject=activity.subject)
        .order_by("name")
        .first()
    )


def _complete_form(activity, data=None) -> ActivityCompleteForm:
    suggestion = {}
    if data is None and activity.status == ActivityStatus.PENDING:
        suggestion = services.follow_up_from_template(_template_for(activity))
    return ActivityCompleteForm(data=data, activity=activity, suggestion=suggestion)


class ActivityDetailView(RecordDetailView):
    """One activity: type, subject, status, when, owner, what it concerns, description
    and notes (sanitized when saved), type-specific facts, a task's checklist, a
    meeting's attendees, follow-ups, History; edit, complete (+ follow-up), cancel,
    reopen, delete."""

    model = Activity
    select_related = selectors.ACTIVITY_DETAIL_SELECT_RELATED
    template_name = "activities/activity_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        activity = self.object
        user = self.request.user
        can_edit = can(user, "edit", Activity)
        content_type = ContentType.objects.get_for_model(Activity, for_concrete_model=False)
        context.update(
            content_type_id=content_type.pk,
            can_edit=can_edit,
            can_delete=can(user, "delete", Activity),
            checklist=selectors.activity_checklist(activity)
            if activity.type == ActivityType.TASK
            else [],
            follow_ups=selectors.activity_follow_ups(activity),
            checklist_form=ChecklistItemForm(),
        )
        if can_edit and activity.status == ActivityStatus.PENDING:
            context.setdefault("complete_form", _complete_form(activity))
        return context


class ActivityFormView(RecordFormView):
    """New activity (no ``pk``) or edit one; reminders are saved after it."""

    model = Activity
    form_class = ActivityForm
    template_name = "activities/activity_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        offsets = form.cleaned_data.get("reminders") or []
        request = self.request
        with transaction.atomic():
            if instance is None:
                if form.cleaned_data.get("log_as_done"):
                    fields["status"] = ActivityStatus.COMPLETED
                activity = services.activity_create(
                    org=request.organization, actor=request.user, **fields
                )
            else:
                activity = services.activity_update(
                    activity=instance,
                    actor=request.user,
                    expected_version=form.cleaned_data.get("expected_version"),
                    **fields,
                )
            services.activity_set_reminders(activity=activity, offsets=offsets, actor=request.user)
        return activity

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["list_url"] = reverse("activities:activity_list")
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else context["list_url"]
        )
        context["templates"] = (
            list(selectors.activity_templates_for(self.request.user)) if self.object is None else []
        )
        return context


def _delete_activity(*, instance, actor):
    return services.activity_delete(activity=instance, actor=actor)


class ActivityDeleteView(RecordDeleteView):
    model = Activity
    delete_service = _delete_activity
    success_url_name = "activities:activity_list"


class ActivityQuickCreateView(QuickCreateView):
    """The top bar's "New activity" dialog (``n a``)."""

    model = Activity
    form_class = QuickActivityForm
    url_name = "activities:activity_quick_create"
    partial_template_name = "activities/partials/activity_quick_create.html"
    template_name = "activities/activity_quick_create.html"

    def find_duplicates(self, fields):
        return []  # two calls with one person are normal

    def create(self, fields):
        return services.activity_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


class _ActivityActionView(RecordPermissionMixin, View):
    """A POST that changes one activity the user may edit (404 for others' records)."""

    model = Activity
    action = "edit"

    def get_activity(self, pk) -> Activity:
        activity = self.get_queryset().filter(pk=pk).first()
        if activity is None:
            raise Http404
        return activity

    def _version(self, request):
        value = request.POST.get("expected_version", "")
        return int(value) if value.isdigit() else None

    def _done(self, request, activity, message):
        messages.success(request, message)
        url = activity.get_absolute_url()
        response = HttpResponseRedirect(url)
        if getattr(request, "htmx", False):
            response["HX-Redirect"] = url
        return response

    def _refused(self, request, activity, exc):
        for field_messages in exc.errors.values():
            for message in field_messages:
                messages.error(request, message)
        return HttpResponseRedirect(activity.get_absolute_url())


class ActivityCompleteView(_ActivityActionView):
    """POST the Complete dialog: outcome fields and an optional follow-up, in one step.
    Refused input shows the page again with the dialog open and its errors (400)."""

    def post(self, request, pk):
        activity = self.get_activity(pk)
        form = _complete_form(activity, data=request.POST)
        if form.is_valid():
            try:
                activity, follow = services.activity_complete(
                    activity=activity,
                    actor=request.user,
                    expected_version=form.cleaned_data.get("expected_version"),
                    follow_up=form.follow_up_fields(),
                    **form.outcome_fields(),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                message = _("Completed.")
                if follow is not None:
                    message = _("Completed; follow-up “%(subject)s” scheduled.") % {
                        "subject": follow.subject
                    }
                return self._done(request, activity, message)
        view = ActivityDetailView()
        view.setup(request, pk=pk)
        view.object = view.get_object()
        context = view.get_context_data(complete_form=form)
        context["complete_open"] = True
        return render(request, ActivityDetailView.template_name, context, status=400)


class ActivityCancelView(_ActivityActionView):
    def post(self, request, pk):
        activity = self.get_activity(pk)
        try:
            activity = services.activity_cancel(
                activity=activity, actor=request.user, expected_version=self._version(request)
            )
        except ApplicationError as exc:
            return self._refused(request, activity, exc)
        return self._done(request, activity, _("Cancelled."))


class ActivityReopenView(_ActivityActionView):
    def post(self, request, pk):
        activity = self.get_activity(pk)
        try:
            activity = services.activity_update(
                activity=activity,
                actor=request.user,
                expected_version=self._version(request),
                status=ActivityStatus.PENDING,
            )
        except ApplicationError as exc:
            return self._refused(request, activity, exc)
        return self._done(request, activity, _("Reopened."))


# --- checklist (htmx) ---


class _ChecklistView(_ActivityActionView):
    """Checklist changes: htmx gets the checklist partial back, a plain POST a redirect."""

    template_name = "activities/partials/activity_checklist.html"

    def get_item(self, pk) -> ActivityChecklistItem:
        items = ActivityChecklistItem.objects.restrict(self.request.user, "edit")
        item = items.filter(pk=pk).first()
        if item is None or not self.get_queryset().filter(pk=item.activity_id).exists():
            raise Http404
        return item

    def respond(self, request, activity, error: str = ""):
        if not getattr(request, "htmx", False):
            if error:
                messages.error(request, error)
            return HttpResponseRedirect(activity.get_absolute_url() + "#checklist")
        context = {
            "object": activity,
            "checklist": selectors.activity_checklist(activity),
            "checklist_form": ChecklistItemForm(),
            "checklist_error": error,
            "can_edit": True,
        }
        return render(request, self.template_name, context)


class ChecklistItemAddView(_ChecklistView):
    def post(self, request, pk):
        activity = self.get_activity(pk)
        form = ChecklistItemForm(request.POST)
        if not form.is_valid():
            return self.respond(request, activity, error=_("Write what is to be done."))
        try:
            services.checklist_item_add(
                activity=activity, actor=request.user, text=form.cleaned_data["text"]
            )
        except ApplicationError as exc:
            return self.respond(request, activity, error=exc.message)
        return self.respond(request, activity)


class ChecklistItemToggleView(_ChecklistView):
    """POST ``done`` = "1" or "0" (default: flip it)."""

    def post(self, request, pk):
        item = self.get_item(pk)
        done = request.POST.get("done")
        done = (done in ("1", "true", "on")) if done is not None else not item.done
        services.checklist_item_update(item=item, actor=request.user, done=done)
        return self.respond(request, item.activity)


class ChecklistItemDeleteView(_ChecklistView):
    def post(self, request, pk):
        item = self.get_item(pk)
        services.checklist_item_remove(item=item, actor=request.user)
        return self.respond(request, item.activity)


class ChecklistReorderView(_ChecklistView):
    """POST ``id`` repeated in the new order (drag and drop)."""

    def post(self, request, pk):
        activity = self.get_activity(pk)
        try:
            services.checklist_item_reorder(
                activity=activity, actor=request.user, ids=request.POST.getlist("id")
            )
        except ApplicationError as exc:
            response = self.respond(request, activity, error=exc.message)
            if getattr(request, "htmx", False):
                response.status_code = 400
            return response
        return self.respond(request, activity)


# --- pickers ---


class LeadOptionsView(OptionsView):
    model = Lead
    search_fields = LEAD_SEARCH_FIELDS
    order = ("title",)


class OpportunityOptionsView(OptionsView):
    model = Opportunity
    search_fields = ("name",)
    order = ("name",)


# --- activity templates (settings) ---


class ActivityTemplateListView(RecordPermissionMixin, TemplateView):
    """/settings/activity-templates/: the templates (admins add, edit and delete them)."""

    model = ActivityTemplate
    template_name = "activities/activitytemplate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            templates=list(selectors.activity_templates_for(user)),
            can_create=can(user, "create", ActivityTemplate),
            can_edit=can(user, "edit", ActivityTemplate),
            can_delete=can(user, "delete", ActivityTemplate),
            opts=ActivityTemplate._meta,
        )
        return context


class ActivityTemplateFormView(RecordFormView):
    model = ActivityTemplate
    form_class = ActivityTemplateForm
    template_name = "activities/activitytemplate_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.activitytemplate_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.activitytemplate_update(
            template=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_success_url(self, saved) -> str:
        return reverse("activities:activitytemplate_list")


def _delete_template(*, instance, actor):
    return services.activitytemplate_delete(template=instance, actor=actor)


class ActivityTemplateDeleteView(RecordDeleteView):
    model = ActivityTemplate
    delete_service = _delete_template
    success_url_name = "activities:activitytemplate_list"


# --- reports ---


class ActivityReportView(RecordPermissionMixin, TemplateView):
    """/activities/reports/: activities per owner and type for a period and scope,
    completion rate, overdue count, calls by outcome (tables and charts)."""

    model = Activity
    template_name = "activities/report.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        form = ActivityReportForm(request.GET or {"period": "month"}, request=request)
        report = None
        if form.is_valid():
            report = selectors.activity_report(
                user=request.user,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                user_ids=form.user_ids(),
            )
        context.update(form=form, report=report, chart=_report_chart(report))
        return context

    def render_to_response(self, context, **kwargs):
        if not context["form"].is_valid():
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)


def _report_chart(report) -> dict | None:
    """The charts' data (drawn by Chart.js from a json_script)."""
    if report is None:
        return None
    from .tables import TYPE_ICONS  # noqa: F401

    colors = {
        "call": "#0d6efd",
        "email": "#6f42c1",
        "meeting": "#198754",
        "task": "#fd7e14",
        "note": "#6c757d",
    }
    return {
        "users": [row["name"] or _("Nobody") for row in report.per_user],
        "datasets": [
            {
                "label": str(label),
                "data": [row["counts"][value] for row in report.per_user],
                "backgroundColor": colors[value],
            }
            for value, label in report.types
        ],
        "outcomes": {
            "labels": [label for _key, label, _n in report.calls_by_outcome],
            "data": [n for _key, _label, n in report.calls_by_outcome],
        },
    }


# --- timeline ---


# A timeline export stops here (a company with years of history is still one file).
TIMELINE_EXPORT_MAX = 50_000


def _types(request):
    """``?types=`` (repeated or comma-separated); None for all. ValueError if unknown."""
    return selectors.parse_timeline_types(request.GET.getlist("types"))


def _composer_forms(record, *, bound=None, follow_up=None) -> dict:
    """One form per composer tab; ``bound`` is the one that was posted (with its errors);
    after a call, the meeting and task forms offer its follow-up."""
    forms = {}
    for kind, form_class in TIMELINE_COMPOSER_FORMS.items():
        if bound is not None and bound.kind == kind:
            forms[kind] = bound
            continue
        initial = {}
        if follow_up is not None and kind in ("meeting", "task"):
            initial["subject"] = _("Follow-up: %(subject)s") % {"subject": follow_up.subject}
        form = form_class(initial=initial, auto_id=f"composer-{record.pk.hex[:8]}-{kind}-%s")
        form.kind = kind
        forms[kind] = form
    return forms


def timeline_panel_context(
    request, record, *, types=None, bound=None, active="note", follow_up=None, notice=""
) -> dict:
    """What the timeline panel shows: filter chips, the composer and the first page."""
    record_type = selectors.timeline_record_type_of(record)
    page = selectors.timeline(record, user=request.user, types=types)
    url = reverse("activities:timeline", args=[record_type, record.pk])
    forms = _composer_forms(record, bound=bound, follow_up=follow_up)
    labels = selectors.timeline_type_labels()
    now = timezone.now()
    return {
        "record": record,
        "record_type": record_type,
        "page": page,
        "entries": page.entries,
        "rows": selectors.timeline_display(page.entries, now=now),
        "next_cursor": page.next_cursor,
        "types": types,
        "types_query": ",".join(types) if types else "",
        "chips": [(key, labels[key]) for key in selectors.TIMELINE_TYPES],
        "timeline_url": url,
        "compose_url": reverse("activities:timeline_compose", args=[record_type, record.pk]),
        "complete_url": reverse("activities:timeline_complete", args=[record_type, record.pk]),
        "export_url": reverse("activities:timeline_export"),
        "can_create": can(request.user, "create", Activity),
        "can_edit": can(request.user, "edit", Activity),
        "can_export": can(request.user, "export", Activity),
        "composer_tabs": [(kind, label, icon, forms[kind]) for kind, label, icon in COMPOSER_KINDS],
        "active_kind": active,
        "follow_up": follow_up,
        "notice": notice,
        "now": now,
    }


class _TimelineBase(OrganizationRequiredMixin, View):
    """Finds the record a timeline URL names (404 unless the user may view it)."""

    def get_record(self, record_type: str, pk):
        record = selectors.timeline_record(user=self.request.user, record_type=record_type, pk=pk)
        if record is None:
            raise Http404
        return record

    def panel(self, request, record, status: int = 200, **kwargs):
        context = timeline_panel_context(request, record, **kwargs)
        if is_htmx_partial(request):
            return render(
                request, "activities/partials/timeline_panel.html", context, status=status
            )
        return render(request, "activities/timeline.html", context, status=status)


class TimelineView(_TimelineBase):
    """``GET /timeline/<record_type>/<id>/``: the timeline panel a record page loads (htmx),
    or the next entries after ``?cursor=`` ("load more" as you scroll); without htmx a
    page of its own."""

    def get(self, request, record_type: str, pk):
        record = self.get_record(record_type, pk)
        try:
            types = _types(request)
        except ValueError:
            return HttpResponseBadRequest(_("Unknown timeline type."))
        cursor = request.GET.get("cursor", "")
        if not cursor:
            return self.panel(request, record, types=types)
        try:
            page = selectors.timeline(record, user=request.user, types=types, before=cursor)
        except selectors.TimelineCursorError:
            return HttpResponseBadRequest(_("This link to more entries is not valid."))
        context = {
            "record": record,
            "entries": page.entries,
            "rows": selectors.timeline_display(page.entries),
            "next_cursor": page.next_cursor,
            "types_query": ",".join(types) if types else "",
            "timeline_url": reverse("activities:timeline", args=[record_type, record.pk]),
            "complete_url": reverse("activities:timeline_complete", args=[record_type, record.pk]),
            "can_edit": can(request.user, "edit", Activity),
            "now": timezone.now(),
        }
        return render(request, "activities/partials/timeline_entries.html", context)


class TimelineComposeView(_TimelineBase):
    """``POST /timeline/<record_type>/<id>/compose/``: the inline composer's note, call,
    meeting or task, linked to the record; answers the refreshed panel."""

    def post(self, request, record_type: str, pk):
        record = self.get_record(record_type, pk)
        if not can(request.user, "create", Activity):
            raise PermissionDenied(_("Your role does not allow this."))
        kind = request.POST.get("kind", "")
        form_class = TIMELINE_COMPOSER_FORMS.get(kind)
        if form_class is None:
            return HttpResponseBadRequest(_("Choose a note, a call, a meeting or a task."))
        form = form_class(
            request.POST, request=request, auto_id=f"composer-{record.pk.hex[:8]}-{kind}-%s"
        )
        form.kind = kind
        earlier = None
        if request.POST.get("follow_up_of"):
            earlier = (
                Activity.objects.restrict(request.user, "view")
                .filter(pk=_uuid_or_none(request.POST["follow_up_of"]))
                .first()
            )
        if form.is_valid():
            fields = form.service_fields()
            if earlier is not None:
                # A follow-up concerns what the earlier activity concerned.
                for name in LINK_FIELDS:
                    if getattr(earlier, f"{name}_id"):
                        fields[name] = getattr(earlier, name)
                fields["follow_up_of"] = earlier
            fields[selectors.timeline_record_type_of(record)] = record
            try:
                activity = services.activity_create(
                    org=request.organization, actor=request.user, **fields
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                if not is_htmx_partial(request):
                    return redirect(record.get_absolute_url())
                notices = {
                    "note": _("Note added."),
                    "call": _("Call logged."),
                    "meeting": _("Meeting scheduled."),
                    "task": _("Task added."),
                }
                return self.panel(
                    request,
                    record,
                    follow_up=activity if kind == "call" else None,
                    notice=notices[kind],
                )
        return self.panel(
            request,
            record,
            status=200 if is_htmx_partial(request) else 400,
            bound=form,
            active=kind,
            follow_up=earlier,
        )


def _uuid_or_none(value):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class TimelineCompleteView(_TimelineBase):
    """``POST /timeline/<record_type>/<id>/complete/`` with ``activity``: marks one of the
    record's pending activities done (the timeline's quick action)."""

    def post(self, request, record_type: str, pk):
        record = self.get_record(record_type, pk)
        link = selectors.timeline_record_type_of(record)
        activity = (
            Activity.objects.restrict(request.user, "edit")
            .filter(pk=_uuid_or_none(request.POST.get("activity")), **{f"{link}_id": record.pk})
            .first()
        )
        if activity is None:
            raise Http404
        notice = _("“%(subject)s” is done.") % {"subject": activity.subject}
        try:
            services.activity_complete(activity=activity, actor=request.user)
        except ApplicationError as exc:
            notice = exc.message
        if not is_htmx_partial(request):
            return redirect(record.get_absolute_url())
        return self.panel(request, record, notice=notice)


class TimelineExportView(OrganizationRequiredMixin, View):
    """``GET /timeline/export.csv?record_type=contact&record_id=…[&types=…]``: the whole
    timeline as CSV, streamed page by page (at most ``TIMELINE_EXPORT_MAX`` lines)."""

    def get(self, request):
        record_type = request.GET.get("record_type", "")
        if selectors.timeline_record_model(record_type) is None:
            return HttpResponseBadRequest(
                _("Give record_type: contact, company, lead or opportunity.")
            )
        if not request.GET.get("record_id"):
            return HttpResponseBadRequest(_("Give the record_id of the record."))
        try:
            types = _types(request)
        except ValueError:
            return HttpResponseBadRequest(_("Unknown timeline type."))
        record = selectors.timeline_record(
            user=request.user, record_type=record_type, pk=request.GET["record_id"]
        )
        if record is None:
            raise Http404
        if not can(request.user, "export", Activity):
            raise PermissionDenied(_("Your role does not allow exports."))
        org, user = request.organization, request.user
        response = StreamingHttpResponse(
            _export_rows(record, user=user, org=org, types=types),
            content_type="text/csv; charset=utf-8",
        )
        name = selectors.timeline_record_type_of(record)
        response["Content-Disposition"] = f'attachment; filename="timeline-{name}-{record.pk}.csv"'
        response["Cache-Control"] = "no-store"
        return response


class _Echo:
    def write(self, value):
        return value


def _export_rows(record, *, user, org, types):
    """The CSV lines (header first); the tenancy is re-entered while the body streams."""
    from pulse.core.tenancy import tenant_context
    from pulse.imports.engine import neutralise

    writer = csv.writer(_Echo())
    with tenant_context(org, actor=user, source="web"):
        labels = selectors.timeline_type_labels()
        yield "\ufeff" + writer.writerow(
            [
                _("Date"),
                _("Type"),
                _("Who"),
                _("Subject"),
                _("Details"),
                _("Status"),
                _("Concerns"),
                _("Activity ID"),
            ]
        )
        buffer = []
        entries = selectors.timeline_iter(
            record, user=user, types=types, max_entries=TIMELINE_EXPORT_MAX
        )
        for entry in entries:
            activity = entry.activity
            row = [
                timezone.localtime(entry.occurred_at).isoformat(),
                str(labels[entry.kind]),
                str(entry.actor) if entry.actor else "",
                entry.subject,
                entry.summary,
                activity.get_status_display() if activity else "",
                str(entry.concerns) if entry.concerns else "",
                str(activity.pk) if activity else "",
            ]
            buffer.append(writer.writerow([neutralise(str(cell)) for cell in row]))
            if len(buffer) >= 500:
                yield "".join(buffer)
                buffer = []
        if buffer:
            yield "".join(buffer)


# --- calendar and iCalendar ---


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _errors(exc: ApplicationError) -> dict:
    return {k: [str(m) for m in v] for k, v in exc.errors.items()}


def _urls(activity) -> dict:
    return {
        "url": activity.get_absolute_url(),
        "move": reverse("activities:calendar_move", args=[activity.pk]),
    }


def calendar_events_payload(request, params) -> dict:
    """The events of ``?start=&end=`` on ``?user=``/``?team=``'s calendar, for the page
    and the API alike (raises ApplicationError / PermissionDeniedError on bad input)."""
    start, end = selectors.calendar_window(params.get("start", ""), params.get("end", ""))
    scope = selectors.calendar_scope(
        request.user,
        request.organization,
        user_id=params.get("user", ""),
        team_id=params.get("team", ""),
    )
    rows, truncated = selectors.calendar_activities(
        request.user, user_ids=scope.user_ids, start=start, end=end
    )
    editable = can(request.user, "edit", Activity)
    return {
        "events": selectors.calendar_events(rows, editable=editable),
        "truncated": truncated,
        "calendar": scope.label,
    }


# FullCalendar views a link may open (``?view=``), and ``?date=`` the day to show.
_VIEWS = ("dayGridMonth", "timeGridWeek", "timeGridDay", "listWeek")


def _initial_date(value: str) -> str:
    from django.utils.dateparse import parse_date

    try:
        day = parse_date(value or "")
    except ValueError:
        day = None
    return day.isoformat() if day else ""


class CalendarView(RecordPermissionMixin, TemplateView):
    """The calendar page (FullCalendar: month, week, day, list). Managers and admins can
    switch to a member's or a team's calendar."""

    model = Activity
    template_name = "activities/calendar.html"

    def get_context_data(self, **kwargs):
        from pulse.accounts.models import Team
        from pulse.accounts.permissions import can
        from pulse.accounts.selectors import organization_members

        context = super().get_context_data(**kwargs)
        request = self.request
        shared = selectors.can_share_calendars(request.user)
        language = (translation.get_language() or "en").split("-")[0]
        context.update(
            shared=shared,
            members=list(organization_members(request.organization)) if shared else [],
            teams=list(Team.objects.order_by("name")) if shared else [],
            chosen_user=request.GET.get("user", ""),
            chosen_team=request.GET.get("team", ""),
            can_create=can(request.user, "create", Activity),
            can_edit=can(request.user, "edit", Activity),
            create_form=CalendarCreateForm(request=request),
            fc_locale=language if language != "en" else "",
            max_days=selectors.CALENDAR_MAX_DAYS,
            initial_date=_initial_date(request.GET.get("date", "")),
            initial_view=request.GET.get("view", "")
            if request.GET.get("view", "") in _VIEWS
            else "",
        )
        return context


class CalendarEventsView(RecordPermissionMixin, View):
    """GET ``?start=&end=`` (≤ 62 days) and optionally ``user=`` or ``team=``: the
    calendar's events as JSON (``{"events": [...], "truncated": bool}``)."""

    model = Activity

    def get(self, request):
        try:
            payload = calendar_events_payload(request, request.GET)
        except PermissionDeniedError as exc:
            return JsonResponse({"errors": {"__all__": [exc.message]}}, status=403)
        except ApplicationError as exc:
            return JsonResponse({"errors": _errors(exc)}, status=400)
        return JsonResponse(payload)


class _JsonEditMixin(RecordPermissionMixin):
    """A POST from the calendar page: JSON answers (403 as JSON too)."""

    model = Activity
    action = "edit"

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except PermissionDenied:
            if not _wants_json(request):
                raise
            return JsonResponse(
                {"errors": {"__all__": [_("Your role does not allow this.")]}}, status=403
            )


class CalendarMoveView(_JsonEditMixin, View):
    """POST ``start``, ``end``, ``all_day``, ``version``: reschedule (a drag or a resize).
    A stale version or a record one may only see is refused with a message."""

    def post(self, request, pk):
        activity = self.get_queryset().filter(pk=pk).first()
        if activity is None:
            if Activity.objects.restrict(request.user, "view").filter(pk=pk).exists():
                message = _("You can see this activity but not change it.")
                return JsonResponse({"errors": {"__all__": [message]}}, status=403)
            return JsonResponse({"errors": {"__all__": [_("Not found.")]}}, status=404)
        form = CalendarMoveForm(request.POST, request=request)
        if not form.is_valid():
            return JsonResponse(
                {"errors": {k: [str(m) for m in v] for k, v in form.errors.items()}}, status=400
            )
        data = form.cleaned_data
        try:
            activity = services.activity_reschedule(
                activity=activity,
                actor=request.user,
                start=data["start"],
                end=data["end"],
                all_day=data["all_day"],
                expected_version=data["version"],
            )
        except ApplicationError as exc:
            errors = _errors(exc)
            if "version" in errors:
                errors["version"] = [
                    _(
                        "Someone else changed this activity since the calendar was loaded. "
                        "It is back where it is saved; move it again if you still want to."
                    )
                ]
            return JsonResponse({"errors": errors}, status=400)
        event = selectors.calendar_event(activity, editable=True, urls=_urls)
        return JsonResponse({"ok": True, "event": event, "version": activity.version})


class CalendarCreateView(_JsonEditMixin, View):
    """POST the slot dialog (subject, type, start, duration, contact): a new activity."""

    action = "create"

    def post(self, request):
        form = CalendarCreateForm(request.POST, request=request)
        errors = {}
        if form.is_valid():
            try:
                activity = services.activity_create(
                    org=request.organization, actor=request.user, **form.service_fields()
                )
            except ApplicationError as exc:
                errors = _errors(exc)
        else:
            errors = {k: [str(m) for m in v] for k, v in form.errors.items()}
        if errors:
            if _wants_json(request):
                return JsonResponse({"errors": errors}, status=400)
            for messages_ in errors.values():
                for message in messages_:
                    messages.error(request, message)
            return HttpResponseRedirect(reverse("activities:calendar"))
        if _wants_json(request):
            event = selectors.calendar_event(activity, editable=True, urls=_urls)
            return JsonResponse({"ok": True, "event": event}, status=201)
        messages.success(request, _("“%(name)s” is on the calendar.") % {"name": activity})
        return HttpResponseRedirect(reverse("activities:calendar"))


def _ics_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ActivityIcsView(RecordPermissionMixin, View):
    """GET: the activity as an .ics file (with its organizer and attendees), for any
    calendar app."""

    model = Activity

    def get(self, request, pk):
        activity = (
            self.get_queryset().select_related("assigned_to", "created_by").filter(pk=pk).first()
        )
        if activity is None or (activity.scheduled_at is None and activity.due_date is None):
            raise Http404
        from .ical import add_people

        event = activity_to_event(activity, url=request.build_absolute_uri(_urls(activity)["url"]))
        add_people(
            event,
            organizer=activity.assigned_to or activity.created_by,
            attendees=list(activity.attendees.all()),
        )
        return _ics_response(calendar_of([event], method="PUBLISH"), "invite.ics")


def _feed_url(request, feed) -> str:
    return request.build_absolute_uri(
        reverse("activities:calendar_feed", kwargs={"token": feed.token})
    )


class CalendarFeedSettingsView(OrganizationRequiredMixin, TemplateView):
    """The user's private feed URL: create, copy, replace, revoke."""

    template_name = "activities/calendar_feed.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        feeds = list(
            CalendarFeed.objects.restrict(self.request.user, "view").order_by("-created_at")[:10]
        )
        live = next((f for f in feeds if f.revoked_at is None), None)
        context.update(
            feed=live,
            feed_url=_feed_url(self.request, live) if live else "",
            revoked=[f for f in feeds if f.revoked_at is not None][:5],
            window=(selectors.FEED_DAYS_BACK, selectors.FEED_DAYS_AHEAD),
        )
        return context


class CalendarFeedCreateView(RecordPermissionMixin, View):
    """POST: a new feed URL (the old one stops working)."""

    model = CalendarFeed
    action = "create"

    def post(self, request):
        services.calendar_feed_create(org=request.organization, actor=request.user)
        messages.success(
            request, _("Your new feed URL is ready. The previous one no longer works.")
        )
        return HttpResponseRedirect(reverse("activities:calendar_feed_settings"))


class CalendarFeedRevokeView(RecordPermissionMixin, View):
    """POST: the feed URL stops working."""

    model = CalendarFeed
    action = "edit"

    def post(self, request, pk):
        feed = self.get_queryset().filter(pk=pk).first()
        if feed is None:
            raise Http404
        services.calendar_feed_revoke(feed=feed, actor=request.user)
        messages.success(request, _("The feed URL is revoked."))
        return HttpResponseRedirect(reverse("activities:calendar_feed_settings"))


class CalendarFeedPublicView(View):
    """GET ``/calendar/feed/<token>.ics``: a user's calendar for calendar apps, with no
    sign-in. The token is the only thing naming a tenant here, so this is the one place
    the context is set for these requests (like the leads' public web forms): the feed
    is found by its unique token with ``unscoped()`` (unknown, revoked or trashed: 404),
    and the rest runs inside ``tenant_context(feed.organization)``. Unchanged feeds
    answer 304 to ``If-None-Match``/``If-Modified-Since``."""

    model = CalendarFeed

    def get(self, request, token):
        feed = (
            CalendarFeed.objects.unscoped()
            .select_related("organization", "user")
            .filter(token=token, revoked_at__isnull=True, deleted_at__isnull=True)
            .first()
        )
        if feed is None or not feed.user.is_active:
            raise Http404
        with (
            tenant_context(feed.organization, actor=None, source="web"),
            timezone.override(feed.organization.time_zone),
        ):
            from pulse.accounts.permissions import membership_for

            if membership_for(feed.user) is None:  # no longer a member: the feed is dead
                raise Http404
            count, last = selectors.feed_fingerprint(feed)
            stamp = f"{feed.pk}:{count}:{last.isoformat() if last else '-'}"
            etag = '"' + hashlib.sha256(stamp.encode()).hexdigest()[:32] + '"'
            headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
            if last is not None:
                headers["Last-Modified"] = http_date(last.timestamp())
            matches = request.headers.get("If-None-Match", "")
            if etag in [t.strip() for t in matches.split(",")] and matches:
                response = HttpResponse(status=304)
            else:
                events = [activity_to_event(a) for a in selectors.feed_activities(feed)]
                name = f"{feed.organization.name}: {feed.user}"
                response = HttpResponse(
                    calendar_of(events, name=name), content_type="text/calendar; charset=utf-8"
                )
            for key, value in headers.items():
                response[key] = value
            services.calendar_feed_touch(feed=feed)
            return response


# Attendees (the panel on a meeting's page, which the meeting's page loads).


def _panel_context(request, activity, *, form=None, errors=None, notice="") -> dict:
    from pulse.accounts.permissions import can

    attendees = list(
        activity.attendees.select_related("user", "contact").order_by("created_at", "pk")
    )
    return {
        "activity": activity,
        "attendees": attendees,
        "attendee_form": form or AttendeeAddForm(request=request),
        "attendee_errors": errors or [],
        "attendee_notice": notice,
        "can_edit_attendees": can(request.user, "edit", Activity),
        "responses": ActivityAttendee._meta.get_field("response").choices,
        "invited_count": sum(1 for a in attendees if a.invited_at),
    }


def _panel(request, activity, *, status=200, **kwargs):
    if getattr(request, "htmx", False):
        return render(
            request,
            "activities/partials/attendee_panel.html",
            _panel_context(request, activity, **kwargs),
            status=status,
        )
    try:
        back = activity.get_absolute_url()
    except NoReverseMatch:
        back = reverse("activities:attendee_panel", args=[activity.pk])
    for message in kwargs.get("errors") or []:
        messages.error(request, message)
    if kwargs.get("notice"):
        messages.success(request, kwargs["notice"])
    return HttpResponseRedirect(back)


class AttendeePanelView(RecordPermissionMixin, View):
    """GET: a meeting's attendees panel (a partial for its page)."""

    model = Activity

    def get(self, request, pk):
        activity = self.get_queryset().filter(pk=pk).first()
        if activity is None:
            raise Http404
        return render(
            request,
            "activities/partials/attendee_panel.html",
            _panel_context(request, activity),
        )


class AttendeeAddView(RecordPermissionMixin, View):
    """POST ``user`` or ``contact`` or ``email``: add an attendee."""

    model = Activity
    action = "edit"

    def post(self, request, pk):
        activity = self.get_queryset().filter(pk=pk).first()
        if activity is None:
            raise Http404
        form = AttendeeAddForm(request.POST, request=request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.attendee_add(
                    activity=activity,
                    actor=request.user,
                    user=data["user"],
                    contact=data["contact"],
                    email=data["email"] or "",
                )
            except ApplicationError as exc:
                messages_ = [m for v in exc.errors.values() for m in v]
                return _panel(request, activity, form=form, errors=messages_, status=400)
            return _panel(request, activity)
        messages_ = [str(m) for v in form.errors.values() for m in v]
        return _panel(request, activity, form=form, errors=messages_, status=400)


class _AttendeeMixin(RecordPermissionMixin):
    """An attendee row, found through its meeting's editable activities."""

    model = ActivityAttendee
    action = "edit"

    def attendee(self, request, pk):
        attendee = ActivityAttendee.objects.select_related("activity").filter(pk=pk).first()
        if attendee is None or not (
            Activity.objects.restrict(request.user, "edit").filter(pk=attendee.activity_id).exists()
        ):
            raise Http404
        return attendee


class AttendeeRemoveView(_AttendeeMixin, View):
    def post(self, request, pk):
        attendee = self.attendee(request, pk)
        services.attendee_remove(attendee=attendee, actor=request.user)
        return _panel(request, attendee.activity)


class AttendeeRespondView(_AttendeeMixin, View):
    """POST ``response``: note a guest's answer (they replied by email or phone)."""

    def post(self, request, pk):
        attendee = self.attendee(request, pk)
        form = AttendeeRespondForm(request.POST, request=request)
        if not form.is_valid():
            return _panel(
                request,
                attendee.activity,
                errors=[_("Choose one of the answers offered.")],
                status=400,
            )
        services.attendee_respond(
            attendee=attendee, response=form.cleaned_data["response"], actor=request.user
        )
        return _panel(request, attendee.activity)


class MeetingInviteView(RecordPermissionMixin, View):
    """POST: email every attendee the meeting's invitation (.ics attached)."""

    model = Activity
    action = "edit"

    def post(self, request, pk):
        activity = self.get_queryset().filter(pk=pk).first()
        if activity is None:
            raise Http404
        try:
            sent = services.meeting_invite(activity=activity, actor=request.user)
        except ApplicationError as exc:
            return _panel(
                request, activity, errors=[m for v in exc.errors.values() for m in v], status=400
            )
        from django.utils.translation import ngettext

        notice = ngettext(
            "Invitation sent to %(n)d attendee.", "Invitation sent to %(n)d attendees.", len(sent)
        ) % {"n": len(sent)}
        return _panel(request, activity, notice=notice)


# --- reminders and mentions ---


class OverdueBadgeView(OrganizationRequiredMixin, View):
    """The sidebar's overdue / due-today badge, fetched by htmx after the page loads: every
    page stays at its own query count, and the badge costs one indexed count of its own."""

    def get(self, request):
        return render(request, "activities/partials/overdue_badge.html")


class MentionMemberSearchView(OrganizationRequiredMixin, View):
    """``GET ?q=`` → the members whose name or email starts with ``q``, for the @mention
    autocomplete: ``{"results": [{"id", "name", "email", "mention"}]}`` where ``mention``
    is the canonical text to insert (``@[Full Name](id)``)."""

    def get(self, request):
        from .selectors import mention_candidates
        from .services import mention_text

        members = mention_candidates(request.organization, request.GET.get("q", ""))
        return JsonResponse(
            {
                "results": [
                    {
                        "id": user.pk,
                        "name": user.full_name or user.email,
                        "email": user.email,
                        "mention": mention_text(user),
                    }
                    for user in members
                ]
            }
        )


# --- CalDAV ---


class _CalDavMixin(RecordPermissionMixin):
    """A user's own CalDAV connections (``restrict`` keeps others' out: a 404)."""

    model = CalDavConnection

    def get_connection(self, pk) -> CalDavConnection:
        connection = self.get_queryset().select_related("user").filter(pk=pk).first()
        if connection is None:
            raise Http404
        return connection

    def back(self):
        return HttpResponseRedirect(reverse("activities:caldav_list"))


class CalDavConnectionListView(_CalDavMixin, View):
    """/settings/calendar-sync/: the user's CalDAV calendars, their sync status (last
    sync, last error, next try), and the form to add one."""

    template_name = "activities/caldav_list.html"

    def get(self, request):
        return self.page(request, CalDavConnectionForm(request=request))

    def page(self, request, form, status=200, test_result=None):
        connections = self.get_queryset().order_by("name", "created_at")
        context = {
            "connections": connections,
            "form": form,
            "test_result": test_result,
            "opts": CalDavConnection._meta,
        }
        return render(request, self.template_name, context, status=status)


class CalDavConnectionFormView(_CalDavMixin, View):
    """Add (``/settings/calendar-sync/new/``) or edit a connection. The "Test connection"
    button tries the entered address and credentials without saving."""

    template_name = "activities/caldav_form.html"

    @property
    def action(self):
        return "edit" if "pk" in self.kwargs else "create"

    def get(self, request, pk=None):
        connection = self.get_connection(pk) if pk else None
        form = CalDavConnectionForm(request=request, instance=connection)
        return self.render(request, form, connection)

    def render(self, request, form, connection, status=200, test_result=None):
        context = {
            "form": form,
            "object": connection,
            "test_result": test_result,
            "opts": CalDavConnection._meta,
            "cancel_url": reverse("activities:caldav_list"),
        }
        return render(request, self.template_name, context, status=status)

    def post(self, request, pk=None):
        connection = self.get_connection(pk) if pk else None
        form = CalDavConnectionForm(data=request.POST, request=request, instance=connection)
        if "test" in request.POST:
            form.fields["password"].required = False
            if not form.is_valid():
                return self.render(request, form, connection, status=400)
            data = form.cleaned_data
            if connection is None and not data["password"]:
                form.add_error("password", _("Enter the password to test the connection."))
                return self.render(request, form, connection, status=400)
            ok, message = services.caldav_connection_test(
                connection=connection,
                url=data["url"],
                username=data["username"],
                password=data["password"],
            )
            return self.render(request, form, connection, test_result=(ok, message))
        if form.is_valid():
            data = dict(form.cleaned_data)
            expected_version = data.pop("expected_version", None)
            try:
                if connection is None:
                    services.caldav_connection_create(
                        org=request.organization, actor=request.user, **data
                    )
                else:
                    services.caldav_connection_update(
                        connection=connection,
                        actor=request.user,
                        expected_version=expected_version,
                        **data,
                    )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(
                    request,
                    _("Calendar saved. It syncs within a few minutes, or use “Sync now”."),
                )
                return self.back()
        return self.render(request, form, connection, status=400)


class CalDavConnectionDeleteView(_CalDavMixin, View):
    """POST: stop syncing this calendar (CRM meetings and remote events stay)."""

    action = "delete"

    def post(self, request, pk):
        connection = self.get_connection(pk)
        services.caldav_connection_delete(connection=connection, actor=request.user)
        messages.success(
            request,
            _("“%(name)s” is no longer synced. Meetings already synced stay in both places.")
            % {"name": connection},
        )
        return self.back()


class CalDavConnectionTestView(_CalDavMixin, View):
    """POST: reach the saved calendar and say what was found (changes nothing)."""

    def post(self, request, pk):
        connection = self.get_connection(pk)
        ok, message = services.caldav_connection_test(connection=connection)
        (messages.success if ok else messages.error)(request, f"{connection}: {message}")
        return self.back()


class CalDavConnectionSyncView(_CalDavMixin, View):
    """POST "Sync now": queue this connection's sync (a task; the page shows its outcome
    once done)."""

    action = "edit"

    def post(self, request, pk):
        from .tasks import caldav_sync_one

        connection = self.get_connection(pk)
        # Nothing written here, so no transaction to wait for (rule 6 holds trivially).
        caldav_sync_one.enqueue(
            org=request.organization, actor=request.user, connection_id=str(connection.pk)
        )
        messages.info(
            request,
            _("Sync of “%(name)s” started; its status below shows the outcome.")
            % {"name": connection},
        )
        return self.back()


class IcsImportView(RecordPermissionMixin, View):
    """/calendar/import/: upload an .ics file; its events become your meetings. Shows what
    was created, updated and skipped (with reasons)."""

    model = Activity
    action = "import"
    template_name = "activities/ics_import.html"

    def get(self, request):
        return render(request, self.template_name, {"form": IcsImportForm(request=request)})

    def post(self, request):
        form = IcsImportForm(data=request.POST, files=request.FILES, request=request)
        result = None
        if form.is_valid():
            try:
                result = services.ics_import(
                    org=request.organization,
                    actor=request.user,
                    data=form.cleaned_data["file"].read(),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
        status = 200 if result is not None else 400
        context = {"form": IcsImportForm(request=request) if result else form, "result": result}
        return render(request, self.template_name, context, status=status)
