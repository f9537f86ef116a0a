"""Dashboard, report builder and report pages: thin views over the services, the engine
and the metrics (DESIGN: the same view renders a partial for htmx requests)."""

from __future__ import annotations

# --- dashboard (H5) ---------------------------------------------------------------------------
import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import (
    redirect,
    render,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.models import Role, Team
from pulse.accounts.permissions import (
    can,
    membership_for,
)
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.views import (
    OrganizationRequiredMixin,
    is_htmx_partial,
    paginate,
)

from . import engine
from . import forms as report_forms
from . import selectors as dashboard_selectors
from . import selectors as report_selectors
from . import services as dashboard_services
from . import services as report_services
from .forms import (
    DashboardPublishForm,
    DashboardScopeForm,
    WidgetAddForm,
    WidgetUpdateForm,
)
from .models import Dashboard, DashboardScope, DashboardWidget, RecordType, Report, ReportSchedule
from .periods import PERIODS

REPORT_WIDGET_GROUPS = 10  # a report widget shows its first groups only
WIDTH_BUTTONS = [
    (pgettext_lazy("widget width", "S"), 3),
    (pgettext_lazy("widget width", "M"), 4),
    (pgettext_lazy("widget width", "L"), 6),
    (pgettext_lazy("widget width", "XL"), 12),
]


def _scope_teams(user, org):
    """Teams whose numbers ``user`` may pick: admins any, managers the teams they belong
    to or manage, everyone else their own (the rule ``dashboard_context`` enforces)."""
    membership = membership_for(user, org)
    teams = Team.objects.filter(deleted_at__isnull=True).order_by("name")
    if membership is None:
        return []
    if membership.is_admin:
        return list(teams)
    mine = Q(members=user)
    if membership.role == Role.MANAGER:
        mine |= Q(manager=user)
    return list(teams.filter(mine).distinct())


def _widget_context(user, org, widget: DashboardWidget):
    """The ``DashboardContext`` a widget computes in: its dashboard's scope when the viewer
    may see it (a published dashboard may be set to numbers a rep may not see), else "me"."""
    from .metrics import dashboard_context

    dashboard = widget.dashboard
    try:
        return dashboard_context(
            user=user,
            org=org,
            scope=dashboard.scope,
            team=dashboard.scope_team,
            period=widget.period,
        )
    except ApplicationError:  # PermissionDeniedError included
        return dashboard_context(user=user, org=org, scope=DashboardScope.ME, period=widget.period)


class DashboardView(OrganizationRequiredMixin, TemplateView):
    """The home page after login: the user's dashboard (their own, or what is published for
    them). Widgets load lazily (``DashboardWidgetView``), so this page is a few queries."""

    template_name = "reports/dashboard.html"

    def get_context_data(self, **kwargs):
        from .metrics import WIDGETS

        context = super().get_context_data(**kwargs)
        request = self.request
        user, org = request.user, request.organization
        dashboard = dashboard_services.dashboard_for_user(user=user, org=org)
        membership = membership_for(user, org)
        is_admin = membership is not None and membership.is_admin
        teams = _scope_teams(user, org)
        scope_value = dashboard.scope
        if dashboard.scope == DashboardScope.TEAM and dashboard.scope_team_id:
            scope_value = f"team:{dashboard.scope_team_id}"
        scope_options = [("me", _("Me"))]
        scope_options += [(f"team:{team.pk}", team.name) for team in teams]
        scope_options.append(("org", _("Whole organization")))
        if scope_value not in [value for value, _label in scope_options]:
            scope_value = "me"  # the team is gone, or the viewer may no longer see it
        context.update(
            dashboard=dashboard,
            widgets=[
                (w, WIDGETS.get(w.kind)) for w in dashboard_selectors.dashboard_widgets(dashboard)
            ],
            own=dashboard.owner_id == user.pk,
            is_admin=is_admin,
            scope_options=scope_options,
            scope_value=scope_value,
            customize=request.GET.get("customize") == "1",
            periods=list(PERIODS.items()),
            width_buttons=WIDTH_BUTTONS,
        )
        return context


class DashboardDialogsView(OrganizationRequiredMixin, TemplateView):
    """The "Add widget" and "Publish…" dialogs, loaded when Customize is first turned on
    (so the page itself does not pay for the catalogue, the reports and the teams)."""

    template_name = "reports/partials/dashboard_dialogs.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, org = self.request.user, self.request.organization
        membership = membership_for(user, org)
        is_admin = membership is not None and membership.is_admin
        context.update(
            catalogue=dashboard_selectors.widget_catalogue(),
            reports=list(Report.objects.restrict(user, "view").order_by("name")[:100]),
            is_admin=is_admin,
        )
        if is_admin:
            published = list(
                Dashboard.objects.filter(owner__isnull=True).order_by("name", "created_at")
            )
            dashboard = dashboard_services.dashboard_for_user(user=user, org=org)
            source = dashboard.source if dashboard.source_id else None
            context["publish_form"] = DashboardPublishForm(
                teams=Team.objects.filter(deleted_at__isnull=True).order_by("name"),
                published=published,
                initial={
                    "name": source.name if source else _("Team dashboard"),
                    "target": str(source.pk) if source and source.is_published else "",
                    "roles": source.roles if source else [],
                    "is_default": bool(source and source.is_default),
                },
            )
        return context


class DashboardWidgetView(OrganizationRequiredMixin, View):
    """One widget's content (``hx-get`` on load): the metric, or a saved report's chart."""

    model = DashboardWidget  # what the id names (the isolation test maps it)

    def get(self, request, pk):
        from .metrics import WIDGETS, widget_data

        widget = dashboard_selectors.dashboard_widget_for(user=request.user, pk=pk)
        if widget is None:
            raise Http404
        org = request.organization
        context = {"widget": widget, "spec": WIDGETS.get(widget.kind)}
        if widget.kind == "report":
            context.update(_report_widget(request, widget))
            template = "reports/partials/widget_report.html"
        else:
            ctx = _widget_context(request.user, org, widget)
            data = widget_data(widget.kind, ctx, widget.options)
            context.update(
                data=data,
                scope_label=ctx.scope_label,
                chart_json=json.dumps(data.chart.as_chartjs(), default=str) if data.chart else "",
            )
            template = "reports/partials/widget_body.html"
        return TemplateResponse(request, template, context)


def _report_widget(request, widget) -> dict:
    """A saved report's first groups (or rows) and chart, or the reason it cannot run."""
    from .engine import ReportDefinition, ReportError, run_report

    report = widget.report
    if report is None or report.is_deleted:
        return {"error": _("The report of this widget was deleted.")}
    if not Report.objects.restrict(request.user, "view").filter(pk=report.pk).exists():
        return {"error": _("You may not see this report.")}
    try:
        result = run_report(
            ReportDefinition.from_report(report),
            user=request.user,
            org=request.organization,
            page_size=REPORT_WIDGET_GROUPS,
            max_groups=REPORT_WIDGET_GROUPS,
        )
    except ReportError as exc:
        return {"error": exc.message}
    except ApplicationError as exc:
        return {"error": exc.message}
    chart = result.chart if report.chart_type != "table" else None
    return {
        "report": report,
        "result": result,
        "groups": result.groups[:REPORT_WIDGET_GROUPS],
        "rows": result.rows[:REPORT_WIDGET_GROUPS],
        "chart_json": json.dumps(chart.as_chartjs(), default=str) if chart else "",
    }


def _refresh(request):
    """After a change that copied a published dashboard into the user's own: every widget id
    on the page is stale, so reload the page (htmx) or go back to it."""
    url = reverse("reports:dashboard") + "?customize=1"
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _bad_request(request, exc: ApplicationError):
    """Refused input: htmx keeps the page as it is, ``fetch`` gets the API's error shape,
    a plain form post goes back to the dashboard with the message."""
    if getattr(request, "htmx", False):
        response = HttpResponse(exc.message, status=400)
        response["HX-Reswap"] = "none"
        return response
    if "json" in request.headers.get("Accept", ""):
        return JsonResponse({"errors": exc.errors}, status=400)
    messages.error(request, exc.message)
    return redirect(reverse("reports:dashboard") + "?customize=1")


class _DashboardChangeView(OrganizationRequiredMixin, View):
    """A change to the user's arrangement: copy on write first (``for_edit``), all in one
    transaction, so a refused change leaves no copy behind."""

    def own_dashboard(self):
        return dashboard_services.dashboard_for_user(
            user=self.request.user, org=self.request.organization, for_edit=True
        )

    def own_widget(self, pk):
        """The user's own widget for ``pk`` (a published widget maps to its copy)."""
        widget = dashboard_selectors.dashboard_widget_for(user=self.request.user, pk=pk)
        if widget is None:
            raise Http404
        own = self.own_dashboard()
        mine = dashboard_services.widget_counterpart(widget, own)
        if mine is None:
            raise Http404
        mine.dashboard = own
        return mine, widget.dashboard_id != own.pk

    def post(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return self.change(request, *args, **kwargs)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message)
        except ApplicationError as exc:
            return _bad_request(request, exc)


class DashboardWidgetAddView(_DashboardChangeView):
    """POST: add a widget (from the "Add widget" dialog) at the end of the user's dashboard."""

    def change(self, request):
        form = WidgetAddForm(request.POST, request=request)
        if not form.is_valid():
            raise ApplicationError(errors={k: list(v) for k, v in form.errors.items()})
        report = None
        if form.cleaned_data.get("report"):
            report = (
                Report.objects.restrict(request.user, "view")
                .filter(pk=form.cleaned_data["report"])
                .first()
            )
            if report is None:
                raise ApplicationError(errors={"report": [_("Choose a report you may see.")]})
        widget = dashboard_services.widget_add(
            dashboard=self.own_dashboard(),
            actor=request.user,
            kind=form.cleaned_data["kind"],
            report=report,
        )
        messages.success(request, _("Widget added."))
        url = reverse("reports:dashboard") + f"?customize=1#widget-{widget.pk}"
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


class DashboardWidgetUpdateView(_DashboardChangeView):
    """POST: a widget's width, height, period or title; answers the widget's card."""

    model = DashboardWidget

    def change(self, request, pk):
        widget, copied = self.own_widget(pk)
        form = WidgetUpdateForm(request.POST, request=request)
        if not form.is_valid():
            raise ApplicationError(errors={k: list(v) for k, v in form.errors.items()})
        widget = dashboard_services.widget_update(
            widget=widget, actor=request.user, **form.changes()
        )
        if copied or not is_htmx_partial(request):
            return _refresh(request)
        from .metrics import WIDGETS

        return TemplateResponse(
            request,
            "reports/partials/dashboard_widget.html",
            {
                "widget": widget,
                "spec": WIDGETS.get(widget.kind),
                "periods": list(PERIODS.items()),
                "width_buttons": WIDTH_BUTTONS,
                "customize": request.POST.get("customize") == "1",
            },
        )


class DashboardWidgetRemoveView(_DashboardChangeView):
    """POST: take a widget off the user's dashboard."""

    model = DashboardWidget

    def change(self, request, pk):
        widget, copied = self.own_widget(pk)
        dashboard_services.widget_remove(widget=widget, actor=request.user)
        if copied or not is_htmx_partial(request):
            return _refresh(request)
        return HttpResponse("")


class DashboardReorderView(_DashboardChangeView):
    """POST ``id`` (repeated, every widget once): the new order after a drag."""

    def change(self, request):
        own = self.own_dashboard()
        ids = request.POST.getlist("id")
        seen = {
            str(w.pk): w
            for w in DashboardWidget.objects.restrict(request.user, "view")
            .filter(pk__in=[i for i in ids if _is_uuid(i)])
            .select_related("dashboard")
        }
        mapped = []
        for pk in ids:
            widget = seen.get(pk)
            mine = dashboard_services.widget_counterpart(widget, own) if widget else None
            mapped.append(str(mine.pk) if mine else pk)
        copied = any(w.dashboard_id != own.pk for w in seen.values())
        widgets = dashboard_services.widgets_reorder(dashboard=own, actor=request.user, ids=mapped)
        return JsonResponse({"ids": [str(w.pk) for w in widgets], "reload": copied})


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class DashboardScopeView(_DashboardChangeView):
    """POST ``scope`` (me · team:<id> · org): whose numbers the dashboard shows."""

    def change(self, request):
        form = DashboardScopeForm(request.POST, request=request)
        if not form.is_valid():
            raise ApplicationError(errors={k: list(v) for k, v in form.errors.items()})
        scope, team_id = form.cleaned_data["scope"]
        team = None
        if team_id:
            team = Team.objects.filter(pk=team_id).first() if _is_uuid(team_id) else None
            if team is None:
                raise ApplicationError(errors={"scope": [_("Choose one of your teams.")]})
        dashboard_services.dashboard_set_scope(
            dashboard=self.own_dashboard(), actor=request.user, scope=scope, team=team
        )
        return (
            _refresh(request) if getattr(request, "htmx", False) else redirect("reports:dashboard")
        )


class DashboardResetView(_DashboardChangeView):
    """POST: drop the user's own arrangement and see what is published for them again."""

    def change(self, request):
        own = Dashboard.objects.filter(owner=request.user).first()
        if own is not None:
            dashboard_services.dashboard_reset(dashboard=own, actor=request.user)
        messages.success(request, _("Your dashboard is back to the published one."))
        return redirect("reports:dashboard")


class DashboardPublishView(_DashboardChangeView):
    """POST (admins): publish the arrangement the admin sees to roles, teams or everyone."""

    def change(self, request):
        org = request.organization
        published = list(Dashboard.objects.filter(owner__isnull=True))
        teams = list(Team.objects.filter(deleted_at__isnull=True))
        form = DashboardPublishForm(request.POST, request=request, teams=teams, published=published)
        if not form.is_valid():
            raise ApplicationError(errors={k: list(v) for k, v in form.errors.items()})
        data = form.cleaned_data
        by_pk = {str(d.pk): d for d in published}
        team_by_pk = {str(t.pk): t for t in teams}
        target = dashboard_services.dashboard_publish(
            dashboard=dashboard_services.dashboard_for_user(user=request.user, org=org),
            actor=request.user,
            roles=data["roles"],
            teams=[team_by_pk[pk] for pk in data["teams"]],
            is_default=data["is_default"],
            name=data["name"],
            target=by_pk.get(data["target"] or ""),
        )
        messages.success(request, _("Published “%(name)s”.") % {"name": target.name})
        return redirect("reports:dashboard")


# --- report builder and report pages (H2) ----------------------------------------------------


PREVIEW_ROWS = 20  # rows of an ungrouped preview; the saved report pages through the rest
REPORT_PAGE_SIZE = engine.PAGE_SIZE  # rows per page of an ungrouped report's page
DEFINITION_SECTIONS = ("record_type", "filters", "columns", "group_by", "aggregates", "ordering")


def _report_or_404(request, pk, action: str = "view") -> Report:
    try:
        return report_selectors.report_list(user=request.user, action=action).get(pk=pk)
    except (Report.DoesNotExist, ValueError):
        raise Http404


def _can_edit(request, report: Report) -> bool:
    membership = getattr(request, "membership", None)
    return report.owner_id == request.user.pk or bool(membership and membership.is_admin)


def chart_json(chart) -> str:
    """``ChartData`` as the JSON a ``<canvas data-chart>`` reads (``report_chart.js``)."""
    return json.dumps(chart.as_chartjs(), cls=DjangoJSONEncoder) if chart else ""


def _section_errors(exc: ApplicationError) -> dict[str, list[str]]:
    """Errors by builder part: ``filters.2.value`` and ``filters`` both land on filters."""
    out: dict[str, list[str]] = {}
    for key, msgs in exc.errors.items():
        section = str(key).split(".")[0].split("[")[0] or "__all__"
        if section == "period":  # an unknown period comes from a filter's period value
            section = "filters"
        out.setdefault(section, []).extend(str(m) for m in msgs)
    return out


def _result_context(request, report_result, **extra) -> dict:
    """What ``reports/partials/report_result.html`` draws for a run."""
    definition = report_result.definition
    n_groups = len(definition.group_by)
    kinds = [col.kind for col in report_result.columns]
    urls = list(report_result.row_urls)
    urls += [""] * (len(report_result.rows) - len(urls))
    return {
        "rows_with_urls": [
            (list(zip(row, kinds, strict=False)), url)
            for row, url in zip(report_result.rows, urls, strict=False)
        ],
        "result": report_result,
        "chart_json": chart_json(report_result.chart) if definition.chart_type != "table" else "",
        "shows_money": any(col.kind == "money" for col in report_result.columns[n_groups:]),
        "group_columns": report_result.columns[:n_groups] if report_result.grouped else [],
        "value_columns": report_result.columns[n_groups:] if report_result.grouped else [],
        **extra,
    }


class ReportListView(OrganizationRequiredMixin, TemplateView):
    """``/reports/``: the ready-made reports, then the saved ones (search, record type,
    mine/shared, pages)."""

    template_name = "reports/report_list.html"
    partial_template_name = "reports/partials/report_table.html"

    def get_template_names(self):
        if is_htmx_partial(self.request):
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        request = self.request
        report_services.report_ensure_defaults(org=request.organization)
        query = request.GET.get("q", "").strip()[:100]
        record_type = request.GET.get("record_type", "")
        if record_type not in RecordType.values:
            record_type = ""
        show = request.GET.get("show", "all")
        if show not in ("all", "mine", "shared"):
            show = "all"
        saved = report_selectors.report_search(
            user=request.user, query=query, record_type=record_type, show=show
        )
        params = request.GET.copy()
        params.pop("page", None)
        context = super().get_context_data(**kwargs)
        context.update(
            ready_made=list(report_selectors.report_ready_made(user=request.user)),
            page_obj=paginate(request, saved, 25),
            query=query,
            record_type=record_type,
            show=show,
            record_types=RecordType.choices,
            querystring=params.urlencode(),
            can_create=can(request.user, "create", Report),
        )
        return context


class ReportBuilderMixin:
    """Reads the builder's form into a definition and draws the builder's parts."""

    def catalogue(self, record_type: str) -> dict:
        return engine.report_fields(record_type, self.request.organization)

    def filter_row(self, index, item: dict, catalogue: dict) -> report_forms.FilterRow:
        """A filter row for the template: operators, value widget and options that fit."""
        key = item.get("field", "")
        report_field = catalogue.get(key)
        kind = report_field.kind if report_field else "text"
        operators = report_forms.operators_for(kind)
        op = item.get("op") or ""
        if op not in dict(operators):
            op = operators[0][0]
        widget = report_forms.value_widget(kind, op)
        options = []
        if report_field is not None and widget == "multi":
            if report_field.choices:
                options = [(str(v), str(label)) for v, label in report_field.choices]
            else:
                options = [
                    (str(v), str(label))
                    for v, label in engine.field_options(
                        report_field, user=self.request.user, org=self.request.organization
                    )
                ]
        return report_forms.FilterRow(
            index=index,
            field=key,
            op=op,
            value=item.get("value"),
            kind=kind,
            operators=operators,
            widget=widget,
            options=options,
            known=report_field is not None,
        )

    def builder_context(self, definition, catalogue: dict, errors=None) -> dict:
        fields = list(catalogue.values())
        groups = []
        for item in list(definition.group_by)[:2] + [{}] * (2 - len(definition.group_by)):
            key = item.get("field", "")
            known = catalogue.get(key)
            groups.append(
                {
                    "field": key,
                    "period": item.get("period") or "month",
                    "known": known is not None or not key,
                    "is_date": bool(known and known.is_date),
                }
            )
        aggregates = list(definition.aggregates) or [{"fn": "count"}]
        ordering = definition.ordering or ""
        return {
            "definition": definition,
            "filter_fields": [f for f in fields if f.filterable],
            "column_fields": fields,
            "group_fields": [f for f in fields if f.groupable],
            "numeric_fields": [f for f in fields if f.numeric],
            "filter_rows": [
                self.filter_row(n, item, catalogue) for n, item in enumerate(definition.filters)
            ],
            "next_filter_index": len(definition.filters),
            "group_slots": groups,
            "missing_columns": [key for key in definition.columns if key not in catalogue],
            "aggregate_rows": aggregates,
            "ordering_field": ordering.lstrip("-"),
            "ordering_desc": ordering.startswith("-"),
            "aggregate_keys": [("count", str(engine.AGGREGATES["count"]))]
            + [
                (
                    f"{fn}:{f.key}",
                    f"{label} · {f.label}",
                )
                for f in fields
                if f.numeric
                for fn, label in engine.AGGREGATES.items()
                if fn != "count"
            ],
            "selected_columns": [catalogue[key] for key in definition.columns if key in catalogue],
            "period_choices": report_forms.PERIOD_CHOICES,
            "group_period_choices": report_forms.GROUP_PERIOD_CHOICES,
            "aggregate_choices": report_forms.AGGREGATE_CHOICES,
            "errors": errors or {},
            "general_errors": (errors or {}).get("__all__", [])
            + (errors or {}).get("record_type", [])
            + (errors or {}).get("chart_type", []),
        }

    def posted_definition(self, data):
        record_type = data.get("record_type", "")
        if record_type not in RecordType.values:
            raise ApplicationError(errors={"record_type": [_("Pick a record type.")]})
        catalogue = self.catalogue(record_type)
        return report_forms.definition_from_data(data, catalogue, record_type), catalogue


class ReportBuilderView(ReportBuilderMixin, OrganizationRequiredMixin, TemplateView):
    """``/reports/new/`` and ``/reports/<id>/edit/``: build a report without code.

    A GET with ``?record_type=`` from htmx answers just the definition part for that
    record type (switching the type reloads the field choices)."""

    template_name = "reports/report_builder.html"
    model = Report  # what the id names (the isolation test maps it)

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and getattr(request, "organization", None):
            action = "edit" if "pk" in kwargs else "create"
            if not can(request.user, action, Report):
                raise PermissionDenied(_("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)

    def get_object(self):
        if "pk" not in self.kwargs:
            return None
        return _report_or_404(self.request, self.kwargs["pk"], action="edit")

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if self.object is not None:
            definition = engine.ReportDefinition.from_report(self.object)
            form = report_forms.ReportBuilderForm(
                request=request,
                initial={
                    "name": self.object.name,
                    "description": self.object.description,
                    "record_type": self.object.record_type,
                    "chart_type": self.object.chart_type,
                    "visibility": self.object.visibility,
                },
            )
        else:
            record_type = request.GET.get("record_type", RecordType.OPPORTUNITIES)
            if record_type not in RecordType.values:
                record_type = RecordType.OPPORTUNITIES
            definition = engine.ReportDefinition(record_type=record_type)
            form = report_forms.ReportBuilderForm(
                request=request,
                initial={"record_type": record_type, "chart_type": "table"},
            )
        if is_htmx_partial(request) and "record_type" in request.GET:
            record_type = request.GET["record_type"]
            if record_type not in RecordType.values:
                raise Http404
            definition = engine.ReportDefinition(
                record_type=record_type, chart_type=request.GET.get("chart_type", "table")
            )
            context = self.builder_context(definition, self.catalogue(record_type))
            self.template_name = "reports/partials/report_definition.html"
            return self.render_to_response({**context, "object": self.object})
        return self.render_builder(form, definition)

    def render_builder(self, form, definition, errors=None, status=200):
        try:
            catalogue = self.catalogue(definition.record_type)
        except (ApplicationError, KeyError, LookupError):
            catalogue = {}
        context = self.get_context_data(
            form=form,
            object=self.object,
            can_edit=True,
            **self.builder_context(definition, catalogue, errors),
        )
        return self.render_to_response(context, status=status)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        form = report_forms.ReportBuilderForm(data=request.POST, request=request)
        errors: dict[str, list[str]] = {}
        try:
            definition, _catalogue = self.posted_definition(request.POST)
        except ApplicationError as exc:
            definition = engine.ReportDefinition(record_type=RecordType.OPPORTUNITIES)
            errors = _section_errors(exc)
        if not form.is_valid() or errors:
            return self.render_builder(form, definition, errors, status=400)
        fields = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "visibility": form.cleaned_data["visibility"],
            **definition.as_fields(),
        }
        if not fields["name"]:
            form.add_error("name", _("Give the report a name."))
            return self.render_builder(form, definition, status=400)
        try:
            if self.object is None:
                report = report_services.report_create(
                    org=request.organization, actor=request.user, **fields
                )
            else:
                version = request.POST.get("version")
                report = report_services.report_update(
                    report=self.object,
                    actor=request.user,
                    expected_version=int(version) if version and version.isdigit() else None,
                    **fields,
                )
        except ApplicationError as exc:
            errors = _section_errors(exc)
            for name in ("name", "description", "visibility", "chart_type"):
                for message in errors.pop(name, []):
                    form.add_error(name, message)
            return self.render_builder(form, definition, errors, status=400)
        messages.success(request, _("Report “%(name)s” saved.") % {"name": report.name})
        return redirect(report.get_absolute_url())


class ReportFilterRowView(ReportBuilderMixin, OrganizationRequiredMixin, View):
    """One filter row, drawn for the field and operator picked (htmx): "Add filter" asks
    for an empty one, changing a row's field or operator redraws it."""

    def get(self, request):
        record_type = request.GET.get("record_type", "")
        if record_type not in RecordType.values:
            raise Http404
        try:
            index = int(request.GET.get("index", "0"))
        except ValueError:
            index = 0
        index = max(0, min(index, 10**9))
        catalogue = self.catalogue(record_type)
        key = request.GET.get(f"filter-{index}-field", "")
        item: dict = {"field": key}
        if key and key == request.GET.get(f"filter-{index}-shown", key):
            # Same field: keep the operator (and the values that still fit it).
            item["op"] = request.GET.get(f"filter-{index}-op", "")
            values = report_forms.filters_from_data(request.GET, catalogue)
            if values:
                item["value"] = values[0].get("value")
        row = self.filter_row(index, item, catalogue)
        context = {"row": row, "filter_fields": [f for f in catalogue.values() if f.filterable]}
        context["period_choices"] = report_forms.PERIOD_CHOICES
        context["record_type"] = record_type
        return render(request, "reports/partials/report_filter_row.html", context)


class ReportPreviewView(ReportBuilderMixin, OrganizationRequiredMixin, View):
    """The builder's live preview: the unsaved definition, validated and run (htmx POST)."""

    def post(self, request):
        template = "reports/partials/report_preview.html"
        try:
            definition, _catalogue = self.posted_definition(request.POST)
            definition = engine.validate_definition(definition, org=request.organization)
            result = engine.run_report(
                definition,
                user=request.user,
                org=request.organization,
                page=1,
                page_size=PREVIEW_ROWS,
            )
        except ApplicationError as exc:
            return render(request, template, {"errors": _section_errors(exc)})
        except engine.ReportError as exc:
            return render(request, template, {"report_error": exc.message})
        return render(request, template, _result_context(request, result, preview=True))


class ReportDetailView(OrganizationRequiredMixin, TemplateView):
    """``/reports/<id>/``: the chart and the table of a saved report (one page of rows, or
    the groups with totals); a report that can no longer run says why instead of a 500."""

    model = Report  # what the id names (the isolation test maps it)

    template_name = "reports/report_detail.html"

    def get_context_data(self, **kwargs):
        request = self.request
        report = _report_or_404(request, kwargs["pk"])
        try:
            page = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page = 1
        context = super().get_context_data(**kwargs)
        context.update(
            report=report,
            object=report,
            can_edit=_can_edit(request, report),
            can_copy=can(request.user, "create", Report),
        )
        try:
            result = engine.run_report(
                engine.ReportDefinition.from_report(report),
                user=request.user,
                org=request.organization,
                page=page,
                page_size=REPORT_PAGE_SIZE,
            )
        except engine.ReportError as exc:
            context["report_error"] = exc.message
        except ApplicationError as exc:
            context["report_error"] = exc.message
        else:
            context.update(_result_context(request, result))
        return context


class ReportCopyView(OrganizationRequiredMixin, View):
    """POST: save a private copy of a report the user may see, and open it in the builder."""

    model = Report  # what the id names (the isolation test maps it)

    def post(self, request, pk):
        report = _report_or_404(request, pk)
        if not can(request.user, "create", Report):
            raise PermissionDenied(_("Your role does not allow this."))
        try:
            copy = report_services.report_create(
                org=request.organization,
                actor=request.user,
                name=(_("Copy of %(name)s") % {"name": report.name})[:200],
                description=report.description,
                visibility="private",
                **engine.ReportDefinition.from_report(report).as_fields(),
            )
        except ApplicationError as exc:
            messages.error(
                request,
                _("The report could not be copied: %(reason)s") % {"reason": exc.message},
            )
            return redirect(report.get_absolute_url())
        messages.success(request, _("Saved a copy: “%(name)s”.") % {"name": copy.name})
        return redirect("reports:report_edit", pk=copy.pk)


class ReportDeleteView(OrganizationRequiredMixin, View):
    """POST: move a report to the trash (owner or admin)."""

    model = Report  # what the id names (the isolation test maps it)

    def post(self, request, pk):
        report = _report_or_404(request, pk, action="delete")
        report_services.report_delete(report=report, actor=request.user)
        messages.success(request, _("“%(name)s” moved to the trash.") % {"name": report.name})
        url = reverse("reports:report_list")
        response = HttpResponseRedirect(url)
        if getattr(request, "htmx", False):
            response["HX-Redirect"] = url
        return response


class ReportAddToDashboardView(OrganizationRequiredMixin, View):
    """POST: put a report on the user's dashboard as a widget, then show the dashboard."""

    model = Report  # what the id names (the isolation test maps it)

    def post(self, request, pk):
        report = _report_or_404(request, pk)
        try:
            # One transaction: a refused add leaves no copied dashboard behind.
            with transaction.atomic():
                dashboard = report_services.dashboard_for_user(
                    user=request.user, org=request.organization, for_edit=True
                )
                report_services.widget_add(
                    dashboard=dashboard, actor=request.user, kind="report", report=report
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(report.get_absolute_url())
        messages.success(request, _("“%(name)s” is on your dashboard now.") % {"name": report.name})
        return redirect("reports:dashboard")


# --- exports (H3) -----------------------------------------------------------------------------


EXPORT_FORMATS = ("csv", "xlsx", "pdf")


def exportable_report(request, pk):
    """The report ``request.user`` may view and export (404 otherwise; 403 when their role
    may not export the report's record type, so a report is no way around that rule)."""
    from pulse.accounts.permissions import can

    from .engine import ReportError, record_model

    report = Report.objects.restrict(request.user, "view").filter(pk=pk).first()
    if report is None:
        raise Http404
    try:
        model = record_model(report.record_type)
    except (KeyError, ValueError, ReportError):
        model = None  # the export itself then answers with the report's error
    if model is not None and not can(request.user, "export", model):
        raise PermissionDenied(_("Your role does not allow exports."))
    return report


def export_response(report, fmt: str, *, user, org, source: str = "web"):
    """The download of ``report`` in ``fmt``: CSV streams (tenancy re-entered while the
    body is produced); XLSX and PDF are built whole (bounded by the engine's limits).
    Raises ``ReportError`` before any byte is sent when the report cannot run."""
    from pulse.core import tenancy

    from .exports import CONTENT_TYPES, _csv_chunks, export_filename, export_table, render_export

    if fmt == "csv":
        table = export_table(report, user=user, org=org)

        def generate():
            # The body streams after the view returned and the middleware left the tenancy.
            with tenancy.tenant_context(org, actor=user, source=source):
                yield from _csv_chunks(table)

        response = StreamingHttpResponse(generate(), content_type=CONTENT_TYPES["csv"])
        filename = export_filename(report, "csv")
    else:
        rendered = render_export(report, fmt, user=user, org=org)
        response = HttpResponse(rendered.content, content_type=rendered.content_type)
        filename = rendered.filename
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


class ReportExportView(OrganizationRequiredMixin, View):
    """``GET /reports/<id>/export/<csv|xlsx|pdf>/``: the report as a file, as the user sees
    it. A report that cannot run goes back to its page with the reason."""

    model = Report

    def get(self, request, pk, fmt):
        from .engine import ReportError

        if fmt not in EXPORT_FORMATS:
            raise Http404
        report = exportable_report(request, pk)
        try:
            return export_response(report, fmt, user=request.user, org=request.organization)
        except ReportError as exc:
            messages.error(request, exc.message)
            return redirect(report.get_absolute_url())


# --- schedules (H3) ---------------------------------------------------------------------------


def _with_weekday_names(schedules) -> list:
    """Each schedule with ``weekday_name`` (“Monday”) for its rhythm line."""
    from django.utils.dates import WEEKDAYS

    schedules = list(schedules)
    for schedule in schedules:
        schedule.weekday_name = WEEKDAYS.get(schedule.weekday, "")
    return schedules


def _schedule_or_404(request, pk):
    from .models import ReportSchedule

    schedule = (
        ReportSchedule.objects.restrict(request.user, "edit")
        .filter(pk=pk, report__deleted_at__isnull=True)
        .select_related("report")
        .first()
    )
    if schedule is None:
        raise Http404
    return schedule


def _viewable_report(request, pk):
    from .models import Report

    report = Report.objects.restrict(request.user, "view").filter(pk=pk).first()
    if report is None:
        raise Http404
    return report


class ReportSchedulePanelView(OrganizationRequiredMixin, View):
    """``GET /reports/<id>/schedules/``: the report page's schedules panel (htmx loads it
    into ``reports/partials/schedule_panel.html``)."""

    model = Report

    def get(self, request, pk):
        from . import selectors

        report = _viewable_report(request, pk)
        schedules = _with_weekday_names(
            selectors.schedule_list(user=request.user, report=report)[:50]
        )
        return render(
            request,
            "reports/partials/schedule_rows.html",
            {"report": report, "schedules": schedules},
        )


class ReportScheduleCreateView(OrganizationRequiredMixin, View):
    """``/reports/<report id>/schedules/new/``: schedule a report through the schedule
    services; errors land on the form. ``ReportScheduleEditView`` edits one."""

    model = Report
    template_name = "reports/schedule_form.html"

    def setup_objects(self, request, pk):
        self.schedule = None
        self.report = _viewable_report(request, pk)

    def render_form(self, request, form, status=200):
        return render(
            request,
            self.template_name,
            {"form": form, "report": self.report, "schedule": self.schedule},
            status=status,
        )

    def get(self, request, pk, **kwargs):
        from .forms import ReportScheduleForm

        self.setup_objects(request, pk)
        form = ReportScheduleForm(request=request, instance=self.schedule)
        return self.render_form(request, form)

    def post(self, request, pk, **kwargs):
        from . import services
        from .forms import ReportScheduleForm
        from .models import ReportSchedule

        self.setup_objects(request, pk)
        form = ReportScheduleForm(
            data=request.POST, request=request, instance=self.schedule or ReportSchedule()
        )
        if form.is_valid():
            try:
                if self.schedule is None:
                    services.schedule_create(
                        report=self.report, actor=request.user, **form.schedule_fields()
                    )
                else:
                    # A fresh copy: validating the form wrote its values onto self.schedule,
                    # and the service compares old with new (audit, next run).
                    services.schedule_update(
                        schedule=_schedule_or_404(request, pk),
                        actor=request.user,
                        **form.schedule_fields(),
                    )
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message) from exc
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Schedule saved."))
                return HttpResponseRedirect(_schedules_return_url(request, self.report))
        return self.render_form(request, form, status=400)


class ReportScheduleEditView(ReportScheduleCreateView):
    """``/reports/schedules/<schedule id>/edit/``: change a schedule the user manages."""

    model = ReportSchedule

    def setup_objects(self, request, pk):
        self.schedule = _schedule_or_404(request, pk)
        self.report = self.schedule.report


def _schedules_return_url(request, report) -> str:
    """Back where the user came from: the schedules page or the report."""
    if request.POST.get("next") == "list":
        return reverse("reports:schedule_list")
    return report.get_absolute_url()


class ReportScheduleDeleteView(OrganizationRequiredMixin, View):
    """``POST /reports/schedules/<id>/delete/``: the schedule to the trash."""

    model = ReportSchedule

    def post(self, request, pk):
        from . import services

        schedule = _schedule_or_404(request, pk)
        services.schedule_delete(schedule=schedule, actor=request.user)
        messages.success(request, _("Schedule deleted."))
        url = _schedules_return_url(request, schedule.report)
        if is_htmx_partial(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


class ReportScheduleListView(OrganizationRequiredMixin, View):
    """``GET /reports/schedules/``: every schedule the user may manage, with its latest
    deliveries (who got it, who was skipped and why)."""

    model = ReportSchedule

    def get(self, request):
        from . import selectors

        page = paginate(request, selectors.schedule_list(user=request.user), per_page=25)
        schedules = _with_weekday_names(selectors.attach_recent_deliveries(page.object_list))
        return render(
            request,
            "reports/schedule_list.html",
            {"page_obj": page, "schedules": schedules, "querystring": ""},
        )
