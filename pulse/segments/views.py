"""Segment screens: thin views over the generic record views and the segment services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from pulse.accounts.permissions import can
from pulse.contacts.models import Contact
from pulse.contacts.selectors import CONTACT_SEARCH_FIELDS
from pulse.contacts.views import OptionsView
from pulse.core.errors import ApplicationError
from pulse.core.views import (
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordPermissionMixin,
    paginate,
)

from . import selectors, services
from .filtersets import SegmentFilterSet
from .forms import FILTER_PREFIX, SegmentForm, filters_from_post
from .models import NON_FILTER_KEYS, Segment, SegmentKind


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


class SegmentListView(RecordListView):
    """All segments: name, kind, member count (static now, dynamic lazily), owner."""

    model = Segment
    filterset_class = SegmentFilterSet
    select_related = ("assigned_to",)
    prefetch_related = ("tags",)
    ordering_fields = ("name", "kind", "created_at", "updated_at")
    default_ordering = "name"
    template_name = "segments/segment_list.html"
    partial_template_name = "segments/partials/segment_table.html"
    columns = [
        ("name", _("Name")),
        ("kind", _("Kind")),
        ("count", _("Members")),
        ("assigned_to", _("Owner")),
        ("updated_at", _("Updated")),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = context["object_list"]
        counts = selectors.static_counts(
            segment_ids=[s.pk for s in rows if not s.is_dynamic], user=self.request.user
        )
        for segment in rows:
            segment.static_count = counts.get(segment.pk, 0)
        context["can_create"] = can(self.request.user, "create", Segment)
        context["unsortable"] = {"count", "assigned_to"}
        return context


class SegmentDetailView(RecordDetailView):
    """A segment: its filters in words (dynamic) and its members, a page at a time."""

    model = Segment
    select_related = ("assigned_to", "created_by", "updated_by")
    prefetch_related = ("tags",)
    template_name = "segments/segment_detail.html"
    partial_template_name = "segments/partials/member_table.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        segment = self.object
        user = self.request.user
        page = paginate(self.request, selectors.segment_member_list(segment, user))
        can_edit = can(user, "edit", Segment)
        context.update(
            page_obj=page,
            members=page.object_list,
            member_count=page.paginator.count,
            can_edit=can_edit,
            can_delete=can(user, "delete", Segment),
            can_manage_members=can_edit and not segment.is_dynamic,
            querystring="",
        )
        if segment.is_dynamic:
            context["summary"] = selectors.filter_summary(segment.filters, user=user)
        return context


class SegmentCountView(RecordDetailView):
    """A segment's member count as a small badge (the list page loads these lazily)."""

    model = Segment
    template_name = "segments/partials/count.html"
    partial_template_name = "segments/partials/count.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["count"] = selectors.segment_member_count(self.object, self.request.user)
        return context


class SegmentFormView(RecordFormView):
    """New segment (from the contact list's current filters, if given) or edit one."""

    model = Segment
    form_class = SegmentForm
    template_name = "segments/segment_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kind = self.request.GET.get("kind")
        if self.object is None and kind in SegmentKind.values:
            kwargs["initial"] = {"kind": kind}
        return kwargs

    def _initial_filters(self) -> dict:
        """Filters for the filter form: the POST, the segment's, or the contact list's."""
        if self.request.method == "POST":
            return filters_from_post(self.request.POST)
        if self.object is not None:
            return self.object.filters or {}
        return {
            key: self.request.GET.getlist(key)
            for key in self.request.GET
            if key not in NON_FILTER_KEYS and key != "kind"
        }

    def perform(self, form, instance):
        fields = form.service_fields()
        fields.pop("custom_fields", None)
        kind = instance.kind if instance is not None else fields.get("kind")
        if kind == SegmentKind.DYNAMIC:
            fields["filters"] = filters_from_post(self.request.POST)
        if instance is None:
            return services.segment_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.segment_update(
            segment=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        data = QueryDict(mutable=True)
        for key, values in self._initial_filters().items():
            data.setlist(f"{FILTER_PREFIX}-{key}", values)
        filterset = selectors.contact_filterset(data, user=self.request.user, prefix=FILTER_PREFIX)
        context["filter_form"] = filterset.form
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else reverse("segments:segment_list")
        )
        return context


def _delete_segment(*, instance, actor):
    return services.segment_delete(segment=instance, actor=actor)


class SegmentDeleteView(RecordDeleteView):
    model = Segment
    delete_service = _delete_segment
    success_url_name = "segments:segment_list"


class SegmentMembersView(RecordPermissionMixin, View):
    """POST: add (``add``) or remove (``remove``) the ``contacts`` ids on a static list."""

    model = Segment
    action = "edit"
    operation = "add"

    def post(self, request, pk):
        try:
            segment = self.get_queryset().get(pk=pk)
        except (Segment.DoesNotExist, ValueError):
            raise Http404
        ids = [v for v in request.POST.getlist("contacts") if v]
        back = _safe_next(request, segment.get_absolute_url())
        if not ids:
            messages.error(request, _("Choose at least one contact."))
            return HttpResponseRedirect(back)
        service = (
            services.segment_add_members
            if self.operation == "add"
            else services.segment_remove_members
        )
        try:
            count = service(segment=segment, contacts=ids, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if self.operation == "add":
                text = ngettext(
                    "%(count)d contact added to “%(name)s”.",
                    "%(count)d contacts added to “%(name)s”.",
                    count,
                )
            else:
                text = ngettext(
                    "%(count)d contact removed from “%(name)s”.",
                    "%(count)d contacts removed from “%(name)s”.",
                    count,
                )
            messages.success(request, text % {"count": count, "name": segment})
        return HttpResponseRedirect(back)


class ContactListsView(RecordDetailView):
    """The contact page's "Lists" card (htmx): the lists it is on, and "Add to list"."""

    model = Contact
    template_name = "segments/partials/contact_lists.html"
    partial_template_name = "segments/partials/contact_lists.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        contact = self.object
        can_edit = can(user, "edit", Segment)
        context.update(
            contact=contact,
            lists=selectors.contact_lists(contact=contact, user=user),
            addable=selectors.lists_to_add_to(contact=contact, user=user) if can_edit else [],
            can_edit=can_edit,
            can_create=can(user, "create", Segment),
        )
        return context


class ContactOptionsView(OptionsView):
    """Contacts as JSON choices, for "Add contacts" on a static list."""

    model = Contact
    search_fields = CONTACT_SEARCH_FIELDS
    order = ("last_name", "first_name", "email")

    def get(self, request):
        if not can(request.user, "view", Segment):
            raise PermissionDenied
        return super().get(request)
