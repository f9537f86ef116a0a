"""Generic, htmx-aware views every record type builds on, plus home, health and errors.

Views stay thin: parse, call a selector or service, render (DESIGN). Querysets come
from ``Model.objects.restrict(user, action)`` here and nowhere else (rule 2).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView

from .errors import ApplicationError
from .pagination import COUNT_CAP, CappedCountPaginator, CappedPage  # noqa: F401
from .registry import search_entries

# --- mixins -------------------------------------------------------------------------


class OrganizationRequiredMixin(LoginRequiredMixin):
    """Signed in and working inside an organization; otherwise off to create one."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "organization", None) is None:
            return redirect("accounts:organization_create")
        return super().dispatch(request, *args, **kwargs)


class RecordPermissionMixin(OrganizationRequiredMixin):
    """Declares ``model`` and ``action``; the queryset is ``restrict``-ed, never overridden."""

    model = None
    action = "view"
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and getattr(request, "organization", None) is not None:
            from pulse.accounts.permissions import can

            if not can(request.user, self.action, self.model):
                raise PermissionDenied(_("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        qs = self.model.objects.restrict(self.request.user, self.action)
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        if self.prefetch_related:
            qs = qs.prefetch_related(*self.prefetch_related)
        return qs


def is_htmx_partial(request) -> bool:
    """An htmx request that swaps part of a page (not a boosted full-page navigation)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


class HtmxTemplateMixin:
    """The same view renders a partial for htmx requests (DESIGN layout)."""

    partial_template_name: str | None = None

    def get_template_names(self):
        if self.partial_template_name and is_htmx_partial(self.request):
            return [self.partial_template_name]
        return super().get_template_names()


# --- generic record views ----------------------------------------------------------------


class RecordListView(RecordPermissionMixin, HtmxTemplateMixin, ListView):
    """List with FilterSet, validated ordering and ``page_size`` (max 200).

    Subclasses set ``filterset_class``, ``ordering_fields`` (allowed ``?ordering=`` names)
    and ``columns`` ([(field, label)]).
    """

    filterset_class = None
    ordering_fields: tuple[str, ...] = ("created_at",)
    default_ordering = "-created_at"
    paginate_by = 25
    max_page_size = 200
    paginator_class = CappedCountPaginator  # counts stop at COUNT_CAP rows
    columns: list[tuple[str, str]] = []
    template_name = "core/record_list.html"
    partial_template_name = "core/partials/record_table.html"

    def get_paginate_by(self, queryset):
        try:
            size = int(self.request.GET.get("page_size", self.paginate_by))
        except ValueError:
            size = self.paginate_by
        return max(1, min(size, self.max_page_size))

    def get_ordering(self):
        requested = self.request.GET.get("ordering", "")
        if requested.lstrip("-") in self.ordering_fields:
            return (requested, "-pk") if requested else (self.default_ordering,)
        return (self.default_ordering, "-pk")

    def get_queryset(self):
        qs = super().get_queryset()
        self.filterset = None
        if self.filterset_class is not None:
            self.filterset = self.filterset_class(
                self.request.GET or None, queryset=qs, request=self.request
            )
            qs = self.filterset.qs if self.filterset.is_bound and self.filterset.is_valid() else qs
        return qs.order_by(*self.get_ordering())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filterset=self.filterset,
            columns=self.columns,
            ordering=self.request.GET.get("ordering", self.default_ordering),
            querystring=query.urlencode(),
            opts=self.model._meta,
        )
        return context


class RecordDetailView(RecordPermissionMixin, HtmxTemplateMixin, DetailView):
    """A record's page; a record of another organization (or invisible) is a 404."""

    pk_url_kwarg = "pk"


class RecordFormView(RecordPermissionMixin, TemplateView):
    """Create (no ``pk``) or edit a record through a form and a service.

    Subclasses set ``form_class`` and implement ``perform(form, instance)`` calling the
    domain service; an ``ApplicationError`` lands on the form, nothing is saved.
    """

    form_class = None
    template_name = "core/record_form.html"
    success_message = _("Saved.")

    def get_object(self):
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        try:
            return self.get_queryset().get(pk=pk)
        except (self.model.DoesNotExist, ValueError):
            raise Http404

    @property
    def action(self):  # create or edit, chosen by the URL
        return "edit" if "pk" in self.kwargs else "create"

    def get_form_kwargs(self):
        return {"request": self.request, "instance": self.object}

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.render_to_response(
            self.get_context_data(form=self.form_class(**self.get_form_kwargs()))
        )

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        form = self.form_class(data=request.POST, files=request.FILES, **self.get_form_kwargs())
        if form.is_valid():
            try:
                saved = self.perform(form, self.object)
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, self.success_message)
                return HttpResponseRedirect(self.get_success_url(saved))
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def perform(self, form, instance):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_success_url(self, saved) -> str:
        return saved.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(object=self.object, opts=self.model._meta)
        return context


class RecordDeleteView(RecordPermissionMixin, View):
    """POST moves the record to the trash through ``delete_service``."""

    action = "delete"
    delete_service = None
    success_url_name: str = ""

    def post(self, request, pk):
        try:
            obj = self.get_queryset().get(pk=pk)
        except (self.model.DoesNotExist, ValueError):
            raise Http404
        type(self).delete_service(instance=obj, actor=request.user)
        messages.success(request, _("“%(name)s” moved to the trash.") % {"name": obj})
        url = reverse(self.success_url_name)
        if getattr(request, "htmx", False):
            response = HttpResponseRedirect(url)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


def paginate(request, queryset, per_page: int = 25):
    """A page of ``queryset`` for ``?page=``: for pages that are not RecordListViews."""
    return CappedCountPaginator(queryset, per_page).get_page(request.GET.get("page"))


# --- pages -------------------------------------------------------------------------------


class GlobalSearchView(OrganizationRequiredMixin, TemplateView):
    """The search box: each registered record type's best matches, visibility applied."""

    template_name = "core/search.html"
    partial_template_name = "core/partials/search_results.html"

    def get_template_names(self):
        if getattr(self.request, "htmx", False):
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.get("q", "").strip()[:100]
        groups = []
        if len(query) >= 2:
            for entry in search_entries():
                rows = [
                    (row, *entry.describe(row)) for row in entry.search(self.request.user, query)
                ]
                if rows:
                    groups.append((entry, rows))
        context.update(query=query, groups=groups)
        return context


def health(request):
    """Database and Redis status for load balancers and monitors."""
    from django.conf import settings

    status = {"database": "ok", "redis": "not configured"}
    code = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        status["database"] = f"error: {exc.__class__.__name__}"
        code = 503
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
            status["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["redis"] = f"error: {exc.__class__.__name__}"
            code = 503
    status["status"] = "ok" if code == 200 else "error"
    return JsonResponse(status, status=code)


def permission_denied(request, exception=None):
    return render(request, "errors/403.html", {"exception": exception}, status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    return render(request, "errors/500.html", status=500)
