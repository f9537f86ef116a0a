"""Screens of the change log, a record's history and the trash (thin: parse, call, render)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError
from pulse.core.views import OrganizationRequiredMixin, paginate

from . import services
from .changes import prepare_entries
from .filtersets import AuditEntryFilterSet
from .models import AuditEntry
from .selectors import (
    TrashGroup,
    audit_log,
    history_entries,
    history_record,
    trash_for,
    trash_groups,
    trash_model,
    trash_record,
)


def _is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


# --- a record's history -------------------------------------------------------------------


class HistoryView(OrganizationRequiredMixin, View):
    """A record's History: the partial for htmx (a detail page's tab), else a full page."""

    def get(self, request, content_type_id: int, object_id):
        record = history_record(
            user=request.user, content_type_id=content_type_id, object_id=object_id
        )
        if record is None:
            raise Http404
        context = {
            "record": record,
            "opts": record._meta,
            "entries": history_entries(record),
        }
        template = "audit/partials/history.html" if _is_htmx(request) else "audit/history.html"
        return render(request, template, context)


# --- the organization's change log -----------------------------------------------------------


@dataclass
class SlicePage:
    """A page found by fetching one row more than shown: no COUNT over the whole log."""

    object_list: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @classmethod
    def of(cls, queryset, request, per_page: int) -> SlicePage:
        try:
            number = max(1, int(request.GET.get("page", 1)))
        except ValueError:
            number = 1
        offset = (number - 1) * per_page
        rows = list(queryset[offset : offset + per_page + 1])
        return cls(rows[:per_page], number, has_next=len(rows) > per_page)


class AuditLogView(OrganizationRequiredMixin, TemplateView):
    """Who changed what, when and from where; filterable; owners and admins only."""

    template_name = "audit/log.html"
    partial_template_name = "audit/partials/log_table.html"
    per_page = 50

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not can(request.user, "view", AuditEntry)
        ):
            raise PermissionDenied(_("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)

    def get_template_names(self):
        return [self.partial_template_name if _is_htmx(self.request) else self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = AuditEntryFilterSet(
            self.request.GET or None,
            queryset=audit_log(user=self.request.user),
            request=self.request,
        )
        qs = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
        page = SlicePage.of(qs, self.request, self.per_page)
        prepare_entries(page.object_list, org=self.request.organization)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filterset=filterset,
            page_obj=page,
            entries=page.object_list,
            querystring=query.urlencode(),
        )
        return context


# --- the trash ----------------------------------------------------------------------------


class TrashView(OrganizationRequiredMixin, TemplateView):
    """Deleted records by type, with who deleted them and when; restore or delete forever.

    ``?type=app_label.model`` shows one type, paginated.
    """

    template_name = "audit/trash.html"
    per_type = 10

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        label = self.request.GET.get("type", "")
        model = trash_model(label) if label else None
        if label and model is None:
            raise Http404
        page = None
        if model is not None:
            page = paginate(self.request, trash_for(user=user, model=model), per_page=50)
            groups = [TrashGroup(model, rows=list(page.object_list), has_more=False)]
        else:
            groups = trash_groups(user=user, per_type=self.per_type)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            groups=groups,
            single=model,
            page_obj=page,
            querystring=query.urlencode(),
            can_purge=services.can_purge(user),
            next_url=self.request.get_full_path(),
        )
        return context


def _back_to_trash(request):
    target = request.POST.get("next", "")
    if target.startswith(reverse("audit:trash")):
        return redirect(target)
    return redirect("audit:trash")


class TrashRestoreView(OrganizationRequiredMixin, View):
    """Restore a trashed record (if the user may delete records of its type)."""

    def post(self, request, record_type: str, pk):
        record = trash_record(user=request.user, label=record_type, pk=pk)
        if record is None:
            raise Http404
        try:
            services.trash_restore(instance=record, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("“%(name)s” restored.") % {"name": record})
        return _back_to_trash(request)


class TrashPurgeView(OrganizationRequiredMixin, View):
    """Delete a trashed record forever (owners and admins)."""

    def post(self, request, record_type: str, pk):
        if not services.can_purge(request.user):
            raise PermissionDenied(_("Only owners and admins can delete forever."))
        record = trash_record(user=request.user, label=record_type, pk=pk)
        if record is None:
            raise Http404
        name = str(record)
        try:
            services.trash_purge(instance=record, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("“%(name)s” deleted forever.") % {"name": name})
        return _back_to_trash(request)
