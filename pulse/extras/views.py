"""Screens for tags, custom fields, saved views and notifications (thin: parse, call, render)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError
from pulse.core.views import (
    OrganizationRequiredMixin,
    RecordDeleteView,
    RecordFormView,
    RecordListView,
    paginate,
)

from . import services
from .filtersets import TagFilterSet
from .forms import CustomFieldForm, SavedViewForm, TagForm
from .models import BulkJob, CustomField, Notification, SavedView, Tag
from .selectors import customfield_groups, notifications_for


def _safe_next(request, fallback: str) -> str:
    """Where to go back to: the posted ``next`` if it is on this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- tags -----------------------------------------------------------------------------


class TagListView(RecordListView):
    """Tags with their colour; create inline; edit and delete per the permission matrix."""

    model = Tag
    filterset_class = TagFilterSet
    ordering_fields = ("name", "created_at")
    default_ordering = "name"
    paginate_by = 50
    template_name = "extras/tag_list.html"
    partial_template_name = "extras/partials/tag_table.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            can_create=can(user, "create", Tag),
            can_edit=can(user, "edit", Tag),
            can_delete=can(user, "delete", Tag),
            form=TagForm(request=self.request) if can(user, "create", Tag) else None,
        )
        return context


class TagFormView(RecordFormView):
    model = Tag
    form_class = TagForm
    template_name = "extras/tag_form.html"

    def get_success_url(self, saved) -> str:
        return reverse("extras:tag_list")


class TagCreateView(TagFormView):
    success_message = gettext_lazy("Tag created.")

    def perform(self, form, instance):
        return services.tag_create(
            org=self.request.organization, actor=self.request.user, **form.service_fields()
        )


class TagUpdateView(TagFormView):
    success_message = gettext_lazy("Tag saved.")

    def perform(self, form, instance):
        return services.tag_update(
            tag=instance,
            actor=self.request.user,
            expected_version=form.expected_version,
            **form.service_fields(),
        )


class TagDeleteView(RecordDeleteView):
    model = Tag
    success_url_name = "extras:tag_list"

    @staticmethod
    def delete_service(*, instance, actor):
        return services.tag_delete(tag=instance, actor=actor)


# --- custom fields --------------------------------------------------------------------


class CustomFieldSettingsMixin:
    """The custom fields settings are for those who manage settings (owner/admin)."""

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not can(request.user, "manage_settings", CustomField)
        ):
            raise PermissionDenied(_("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)


class CustomFieldListView(CustomFieldSettingsMixin, OrganizationRequiredMixin, TemplateView):
    """Definitions grouped by record type."""

    template_name = "extras/customfield_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            groups=customfield_groups(user=user),
            can_create=can(user, "create", CustomField),
            can_edit=can(user, "edit", CustomField),
            can_delete=can(user, "delete", CustomField),
        )
        return context


class CustomFieldFormView(CustomFieldSettingsMixin, RecordFormView):
    model = CustomField
    form_class = CustomFieldForm
    template_name = "extras/customfield_form.html"

    def get_success_url(self, saved) -> str:
        return reverse("extras:customfield_list")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.object is None and self.request.method == "GET":
            kwargs["initial"] = {"content_type": self.request.GET.get("content_type")}
        return kwargs


class CustomFieldCreateView(CustomFieldFormView):
    success_message = gettext_lazy("Custom field created.")

    def perform(self, form, instance):
        fields = form.service_fields()
        return services.customfield_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


class CustomFieldUpdateView(CustomFieldFormView):
    success_message = gettext_lazy("Custom field saved.")

    def perform(self, form, instance):
        return services.customfield_update(
            field=instance,
            actor=self.request.user,
            expected_version=form.expected_version,
            **form.service_fields(),
        )


class CustomFieldDeleteView(CustomFieldSettingsMixin, RecordDeleteView):
    model = CustomField
    success_url_name = "extras:customfield_list"

    @staticmethod
    def delete_service(*, instance, actor):
        return services.customfield_delete(field=instance, actor=actor)


# --- saved views ----------------------------------------------------------------------


class SavedViewCreateView(OrganizationRequiredMixin, View):
    """ "Save current view" from a list page; back to that page with the view applied."""

    def post(self, request):
        if not can(request.user, "create", SavedView):
            raise PermissionDenied(_("Your role does not allow this."))
        form = SavedViewForm(data=request.POST, request=request)
        fallback = reverse("reports:dashboard")
        if not form.is_valid():
            messages.error(request, _("Give the view a name."))
            return redirect(_safe_next(request, fallback))
        data = form.cleaned_data
        try:
            view = services.savedview_create(
                org=request.organization,
                actor=request.user,
                content_type=data["content_type"],
                name=data["name"],
                shared=data["shared"],
                **services.savedview_parse_querystring(data["querystring"]),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(_safe_next(request, fallback))
        messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
        target = _safe_next(request, fallback).split("?")[0]
        return HttpResponseRedirect(f"{target}?{view.querystring}" if view.querystring else target)


class SavedViewDeleteView(OrganizationRequiredMixin, View):
    """Delete one of your saved views (an admin may delete shared ones too)."""

    model = SavedView

    def post(self, request, pk):
        view = SavedView.objects.restrict(request.user, "delete").filter(pk=pk).first()
        if view is None:
            raise Http404
        services.savedview_delete(view=view, actor=request.user)
        messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
        return redirect(_safe_next(request, reverse("reports:dashboard")))


# --- notifications --------------------------------------------------------------------


class NotificationListView(OrganizationRequiredMixin, TemplateView):
    """The user's notifications, unread first; htmx gets the list partial."""

    template_name = "extras/notification_list.html"
    partial_template_name = "extras/partials/notification_list.html"

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = paginate(self.request, notifications_for(user=self.request.user), per_page=30)
        context.update(page_obj=page, notifications=page.object_list, querystring="")
        return context


def _notification_or_404(request, pk) -> Notification:
    notification = Notification.objects.restrict(request.user, "edit").filter(pk=pk).first()
    if notification is None:
        raise Http404
    return notification


class NotificationReadView(OrganizationRequiredMixin, View):
    """Mark one notification read; htmx gets the updated item (and the bell)."""

    model = Notification

    def post(self, request, pk):
        notification = _notification_or_404(request, pk)
        services.notification_mark_read(notification=notification, actor=request.user)
        if getattr(request, "htmx", False):
            return render(
                request,
                "extras/partials/notification_item.html",
                {"notification": notification, "oob_bell": True},
            )
        return redirect(_safe_next(request, reverse("extras:notification_list")))


class NotificationReadAllView(OrganizationRequiredMixin, View):
    """Mark all of the user's notifications read."""

    def post(self, request):
        count = services.notification_mark_all_read(actor=request.user)
        if getattr(request, "htmx", False):
            page = paginate(request, notifications_for(user=request.user), per_page=30)
            return render(
                request,
                "extras/partials/notification_list.html",
                {"page_obj": page, "notifications": page.object_list, "oob_bell": True},
            )
        messages.success(request, _("%(count)d notifications marked read.") % {"count": count})
        return redirect("extras:notification_list")


# --- bulk jobs ------------------------------------------------------------------------


class BulkJobProgressView(OrganizationRequiredMixin, View):
    """A bulk job's progress bar; htmx polls it every second until the job is finished.

    The finished bar is shown once: the job leaves the list page's session list and the
    page's table reloads (``HX-Trigger: pulse:jobFinished``).
    """

    model = BulkJob

    def get(self, request, pk):
        import json

        job = BulkJob.objects.restrict(request.user, "view").filter(pk=pk).first()
        if job is None:
            raise Http404
        session_key = "pulse.bulk_jobs"
        if job.is_finished and str(job.pk) in request.session.get(session_key, []):
            request.session[session_key] = [
                j for j in request.session[session_key] if j != str(job.pk)
            ]
        htmx = getattr(request, "htmx", False)
        template = "extras/partials/bulkjob_progress.html" if htmx else "extras/bulkjob_detail.html"
        try:
            label = services.bulk_job_kind(job.kind).describe(job)
        except ApplicationError:
            label = job.kind
        response = render(request, template, {"job": job, "label": label})
        if htmx and job.is_finished:
            response["HX-Trigger"] = json.dumps({"pulse:jobFinished": {"id": str(job.pk)}})
        return response
