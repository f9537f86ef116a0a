"""Web views of opportunities: thin (parse, call a service or selector, render); the
same view renders a partial for htmx requests. Sections are owned by parts of the feature.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.models import Team
from pulse.accounts.permissions import can
from pulse.accounts.selectors import organization_members
from pulse.contacts.models import Company, Contact
from pulse.contacts.views import (
    InlineEditView,
    ListPageMixin,
    QuickCreateView,
    _custom_field_values,
    _safe_next,
)
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.views import (
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordPermissionMixin,
    is_htmx_partial,
    paginate,
)
from pulse.currencies.selectors import converter

from . import analytics, selectors, services
from . import forecast as forecasting
from .filtersets import OPPORTUNITY_ORDERINGS, OpportunityFilterSet, QuotaFilterSet
from .forms import (
    ContactRoleForm,
    LineItemFormSet,
    LossReasonForm,
    OpportunityBulkActionForm,
    OpportunityForm,
    OpportunityMoveForm,
    PipelineForm,
    QuickOpportunityForm,
    QuotaCellForm,
    QuotaForm,
    QuotaGridForm,
    StageForm,
)
from .models import (
    ForecastCategory,
    LossReason,
    Opportunity,
    OpportunityContact,
    Pipeline,
    Quota,
    QuotaPeriod,
    Stage,
    StageType,
)
from .selectors import BOARD_PARAMS, opportunity_board, pipelines_of
from .services import opportunity_move

# Aliased like sections C and D: the sections share one module namespace.


# (Complete for section K, so it does not depend on the other sections' imports; a name
# that another section imports too is marked F811.)


# --- opportunities: list, board, detail, quick create, line items, roles (A) ---


class OpportunityListView(ListPageMixin, RecordListView):
    """Every deal the user may see: search, filters, sortable columns, column chooser,
    saved views, bulk actions, inline edit, export; the board is the other view of it."""

    model = Opportunity
    filterset_class = OpportunityFilterSet
    select_related = selectors.OPPORTUNITY_LIST_SELECT_RELATED
    prefetch_related = ("tags",)
    orderings = OPPORTUNITY_ORDERINGS
    ordering_fields = tuple(OPPORTUNITY_ORDERINGS)
    template_name = "opportunities/opportunity_list.html"
    partial_template_name = "opportunities/partials/opportunity_table.html"
    bulk_url_name = "opportunities:opportunity_bulk"
    create_url_name = "opportunities:opportunity_create"
    inline_url_name = "opportunities:opportunity_inline_edit"
    export_target = "opportunities"

    def get(self, request, *args, **kwargs):
        from . import tables  # noqa: F401  (registers the opportunity columns)

        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filterset.form if self.filterset is not None else None
        if form is not None:
            # The mixin offers members only; deals also filter by "me" and "unassigned".
            field = form.fields["assigned_to"]
            field.widget.choices = list(field.choices)
        if "bulk_form" in context:
            context["bulk_form"] = OpportunityBulkActionForm(request=self.request)
        return context


def opportunity_bulk_apply(*, opportunities, actor, action, assigned_to=None, tag=None, stage=None):
    """One bulk action over the chosen deals through their services, all or nothing."""
    count = 0
    with transaction.atomic():
        for opportunity in opportunities:
            if action == "delete":
                services.opportunity_delete(opportunity=opportunity, actor=actor)
            elif action == "assign":
                services.opportunity_update(
                    opportunity=opportunity, actor=actor, assigned_to=assigned_to
                )
            elif action in ("tag", "untag"):
                tags = {t.pk: t for t in opportunity.tags.all()}
                if action == "tag":
                    tags[tag.pk] = tag
                else:
                    tags.pop(tag.pk, None)
                services.opportunity_update(
                    opportunity=opportunity, actor=actor, tags=list(tags.values())
                )
            elif action == "stage":
                services.opportunity_move(opportunity=opportunity, stage=stage, actor=actor)
            count += 1
    return count


class OpportunityBulkView(RecordPermissionMixin, View):
    """POST: apply one action to the selected deals of the list, all or nothing."""

    model = Opportunity

    def post(self, request):
        form = OpportunityBulkActionForm(request.POST, request=request)
        back = _safe_next(request, reverse("opportunities:opportunity_list"))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        action = data["action"]
        permission = "delete" if action == "delete" else "edit"
        if not can(request.user, permission, Opportunity):
            raise PermissionDenied(_("Your role does not allow this."))
        if data.get("select_all"):
            messages.error(
                request,
                _("Select the deals on this page (at most 200 at a time) for this action."),
            )
            return HttpResponseRedirect(back)
        stage = None
        if action == "stage":
            stage = selectors.stage_in_org(request.organization, data.get("lifecycle_stage"))
        rows = (
            Opportunity.objects.restrict(request.user, permission)
            .filter(pk__in=data["ids"])
            .select_related("stage", "pipeline")
            .prefetch_related("tags")
        )
        try:
            count = opportunity_bulk_apply(
                opportunities=rows,
                actor=request.user,
                action=action,
                assigned_to=data.get("assigned_to"),
                tag=data.get("tag"),
                stage=stage,
            )
        except ApplicationError as exc:
            for field_messages in exc.errors.values():
                for message in field_messages:
                    messages.error(request, message)
            if not exc.errors:
                messages.error(request, exc.message)
        else:
            if action == "delete":
                text = ngettext(
                    "%(count)d deal moved to the trash.",
                    "%(count)d deals moved to the trash.",
                    count,
                )
            else:
                text = ngettext("%(count)d deal updated.", "%(count)d deals updated.", count)
            messages.success(request, text % {"count": count})
        return HttpResponseRedirect(back)


class OpportunityInlineEditView(InlineEditView):
    """One cell of the list edited in place (name, value, probability, close date…)."""

    model = Opportunity
    inline_url_name = "opportunities:opportunity_inline_edit"

    def _record_and_column(self, pk):
        from . import tables  # noqa: F401  (registers the opportunity columns)

        return super()._record_and_column(pk)

    def update(self, record, **fields):
        return services.opportunity_update(opportunity=record, actor=self.request.user, **fields)


def _detail_parts(request, opportunity) -> dict:
    """What the detail page and its htmx panels draw: the stage path, lines, people."""
    lines = selectors.opportunity_line_items(opportunity)
    return {
        "stage_path": selectors.stage_path(opportunity, org=request.organization),
        "line_items": lines,
        "line_total": sum((line.total for line in lines), 0),
        "contact_roles": selectors.opportunity_contact_roles(opportunity),
        "can_edit": can(request.user, "edit", Opportunity),
    }


class OpportunityDetailView(RecordDetailView):
    """One deal: key facts, stage path with time in each stage, line items, contacts with
    roles, move-stage control, Timeline, Details and History tabs."""

    model = Opportunity
    select_related = selectors.OPPORTUNITY_DETAIL_SELECT_RELATED
    prefetch_related = ("tags",)
    template_name = "opportunities/opportunity_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        opportunity = self.object
        user = request.user
        content_type = ContentType.objects.get_for_model(Opportunity, for_concrete_model=False)
        parts = _detail_parts(request, opportunity)
        context.update(parts)
        context.update(
            content_type_id=content_type.pk,
            can_delete=can(user, "delete", Opportunity),
            custom_field_values=_custom_field_values(opportunity),
            timeline=selectors.opportunity_timeline(opportunity=opportunity),
            stages=selectors.pipeline_stages(opportunity, request.organization),
            loss_reasons=_active_loss_reasons(),
            line_formset=_line_formset(request, opportunity, lines=parts["line_items"]),
            role_form=ContactRoleForm(request=request),
        )
        return context


def _line_formset(request, opportunity, data=None, lines=None):
    if data is not None:
        return LineItemFormSet(data, request=request, prefix="lines")
    lines = lines if lines is not None else selectors.opportunity_line_items(opportunity)
    initial = [
        {
            "id": line.pk,
            "product_name": line.product_name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "discount": line.discount,
        }
        for line in lines
    ]
    formset = LineItemFormSet(initial=initial, request=request, prefix="lines")
    for form, line in zip(formset.forms, lines, strict=False):
        form.line_total = line.total
    return formset


class OpportunityFormView(RecordFormView):
    """New deal (no ``pk``) or edit one; the service decides, errors land on the form."""

    model = Opportunity
    form_class = OpportunityForm
    template_name = "opportunities/opportunity_form.html"
    select_related = ("stage", "pipeline")

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.opportunity_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.opportunity_update(
            opportunity=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = (
            self.object.get_absolute_url()
            if self.object
            else reverse("opportunities:opportunity_list")
        )
        context["list_url"] = reverse("opportunities:opportunity_list")
        return context


def _delete_opportunity(*, instance, actor):
    return services.opportunity_delete(opportunity=instance, actor=actor)


class OpportunityDeleteView(RecordDeleteView):
    model = Opportunity
    delete_service = _delete_opportunity
    success_url_name = "opportunities:opportunity_list"


class OpportunityQuickCreateView(QuickCreateView):
    """The top bar's "New deal" dialog (``n d``)."""

    model = Opportunity
    form_class = QuickOpportunityForm
    url_name = "opportunities:opportunity_quick_create"
    partial_template_name = "opportunities/partials/opportunity_quick_create.html"
    template_name = "opportunities/opportunity_quick_create.html"

    def find_duplicates(self, fields):
        return []  # two deals with one company are normal

    def create(self, fields):
        return services.opportunity_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


class _OpportunityEditMixin(RecordPermissionMixin):
    """A POST that changes one deal the user may edit (404 for others' records)."""

    model = Opportunity
    action = "edit"

    def get_opportunity(self, pk) -> Opportunity:
        opportunity = self.get_queryset().select_related("stage", "pipeline").filter(pk=pk).first()
        if opportunity is None:
            raise Http404
        return opportunity


class OpportunityLineItemsView(_OpportunityEditMixin, View):
    """The line items editor (htmx): POST the whole set of lines; the lines' totals
    become the deal's value (``opportunity_set_line_items``), all or nothing."""

    template_name = "opportunities/partials/opportunity_line_items.html"

    def _render(self, request, opportunity, formset):
        """The editor with its errors (htmx swaps it in; a plain post goes back)."""
        if not getattr(request, "htmx", False):
            for error in formset.non_form_errors():
                messages.error(request, error)
            for form in formset.forms:
                for field_errors in form.errors.values():
                    for error in field_errors:
                        messages.error(request, error)
            return HttpResponseRedirect(opportunity.get_absolute_url())
        lines = selectors.opportunity_line_items(opportunity)
        context = {
            "object": opportunity,
            "line_formset": formset,
            "line_items": lines,
            "line_total": sum((line.total for line in lines), 0),
            "can_edit": True,
        }
        # 200: htmx swaps only successful answers in, and the errors are the answer.
        return render(request, self.template_name, context)

    def _saved(self, request, opportunity):
        messages.success(request, _("Line items saved."))
        response = HttpResponseRedirect(opportunity.get_absolute_url())
        if getattr(request, "htmx", False):
            # The value, weighted value and version in the header changed: redraw the page.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
        return response

    def post(self, request, pk):
        opportunity = self.get_opportunity(pk)
        formset = _line_formset(request, opportunity, data=request.POST)
        if formset.is_valid():
            version = request.POST.get("expected_version", "")
            try:
                opportunity = services.opportunity_set_line_items(
                    opportunity=opportunity,
                    actor=request.user,
                    items=formset.items(),
                    expected_version=int(version) if version.isdigit() else None,
                )
            except ApplicationError as exc:
                _line_errors_to_formset(formset, exc)
            else:
                return self._saved(request, opportunity)
        return self._render(request, opportunity, formset)


def _line_errors_to_formset(formset, exc: ApplicationError) -> None:
    """Service errors keyed by line position (``{"line_items": {"0": {...}}}``) onto rows."""
    lines = exc.errors.get("line_items")
    kept = [
        form
        for form in formset.forms
        if (form.has_changed() or form.cleaned_data.get("id"))
        and not formset._should_delete_form(form)
    ]
    if isinstance(lines, dict):
        for position, errors in lines.items():
            index = int(position) if str(position).isdigit() else len(kept)
            form = kept[index] if index < len(kept) else None
            for field, field_messages in (errors or {}).items():
                target = form if form is not None and field in form.fields else None
                for message in field_messages:
                    if target is not None:
                        target.add_error(field, message)
                    else:
                        formset._non_form_errors.append(message)
    for field, field_messages in exc.errors.items():
        if field == "line_items" and isinstance(field_messages, dict):
            continue
        for message in field_messages if isinstance(field_messages, list) else [field_messages]:
            formset._non_form_errors.append(message)
    if not exc.errors:
        formset._non_form_errors.append(exc.message)


class OpportunityContactRoleView(_OpportunityEditMixin, View):
    """POST ``contact`` and ``role``: put a person on the deal (or change their role)."""

    template_name = "opportunities/partials/opportunity_contacts.html"

    def _render(self, request, opportunity, form):
        # htmx swaps only successful answers in: errors come back with 200 too.
        if not getattr(request, "htmx", False):
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
            return HttpResponseRedirect(opportunity.get_absolute_url())
        context = {
            "object": opportunity,
            "role_form": form,
            "contact_roles": selectors.opportunity_contact_roles(opportunity),
            "can_edit": True,
        }
        return render(request, self.template_name, context)

    def post(self, request, pk):
        opportunity = self.get_opportunity(pk)
        form = ContactRoleForm(request.POST, request=request)
        if form.is_valid():
            try:
                services.opportunity_contact_add(
                    opportunity=opportunity,
                    contact=form.cleaned_data["contact"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                return self._render(request, opportunity, ContactRoleForm(request=request))
        return self._render(request, opportunity, form)


class OpportunityContactRoleDeleteView(OpportunityContactRoleView):
    """POST: take a person off the deal (to the trash)."""

    def post(self, request, pk, opportunitycontact_pk):
        opportunity = self.get_opportunity(pk)
        role = (
            OpportunityContact.objects.restrict(request.user, "edit")
            .filter(pk=opportunitycontact_pk, opportunity_id=opportunity.pk)
            .first()
        )
        if role is None:
            raise Http404
        services.opportunity_contact_remove(contact_role=role, actor=request.user)
        return self._render(request, opportunity, ContactRoleForm(request=request))


# --- pipelines, stages, loss reasons, quotas (B) ---


def _b_querystring(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


class PipelineListView(RecordPermissionMixin, TemplateView):
    """/opportunities/settings/: the pipelines with their stages in order (add, edit,
    delete, drag to reorder), the default pipeline, and the loss reasons. For admins."""

    model = Pipeline
    action = "edit"
    template_name = "opportunities/pipeline_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        pipelines = services.pipeline_ensure_defaults(org=org, actor=request.user)
        counts = selectors.stage_deal_counts(org)
        rows = []
        for pipeline in pipelines:
            stages = []
            for stage in pipeline.stage_list:
                stage.deal_count = counts.get(stage.pk, 0)
                stages.append(
                    (stage, StageForm(instance=stage, request=request, prefix=f"s{stage.pk}"))
                )
            new_stage = StageForm(request=request, prefix=f"new{pipeline.pk}", pipeline=pipeline)
            rows.append(
                {
                    "pipeline": pipeline,
                    "form": PipelineForm(
                        instance=pipeline, request=request, prefix=f"p{pipeline.pk}"
                    ),
                    "stages": stages,
                    "new_stage_form": new_stage,
                    "deal_count": sum(s.deal_count for s, _f in stages),
                }
            )
        reasons = list(
            LossReason.objects.restrict(request.user, "view").order_by("position", "name")
        )
        context.update(
            pipelines=rows,
            new_pipeline_form=PipelineForm(request=request),
            loss_reasons=[
                (r, LossReasonForm(instance=r, request=request, prefix=f"r{r.pk}")) for r in reasons
            ],
            new_loss_reason_form=LossReasonForm(request=request, prefix="newreason"),
        )
        return context


class _SettingsFormView(RecordFormView):
    """Add or change one settings record; back to the settings page when saved. An inline
    form of the settings page posts with the record's prefix (``p<id>``, ``s<id>`` …)."""

    prefix_letter = ""
    new_prefix = ""
    success_url_name = "opportunities:pipeline_list"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.request.method == "POST":
            if self.object is not None:
                prefix = f"{self.prefix_letter}{self.object.pk}"
            else:
                prefix = self.new_prefix or self.request.POST.get("form_prefix", "")
            if prefix and f"{prefix}-name" in self.request.POST:
                kwargs["prefix"] = prefix
        return kwargs

    def get_success_url(self, saved) -> str:
        return reverse(self.success_url_name)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse(self.success_url_name)
        return context


class PipelineFormView(_SettingsFormView):
    """Add a pipeline (it gets the default stages) or rename one / make it the default."""

    model = Pipeline
    form_class = PipelineForm
    template_name = "opportunities/pipeline_form.html"
    prefix_letter = "p"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.pipeline_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.pipeline_update(
            pipeline=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )


class StageFormView(_SettingsFormView):
    """Add a stage to a pipeline (``?pipeline=``) or change one."""

    model = Stage
    form_class = StageForm
    template_name = "opportunities/stage_form.html"
    prefix_letter = "s"

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        form = self.form_class(**self.get_form_kwargs())
        if self.object is None and request.GET.get("pipeline"):
            form.fields["pipeline"].initial = request.GET["pipeline"]
        return self.render_to_response(self.get_context_data(form=form))

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.stage_create(
                pipeline=fields.pop("pipeline"), actor=self.request.user, **fields
            )
        return services.stage_update(
            stage=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )


class LossReasonFormView(_SettingsFormView):
    """Add a loss reason, or rename one / stop offering it."""

    model = LossReason
    form_class = LossReasonForm
    template_name = "opportunities/lossreason_form.html"
    prefix_letter = "r"
    new_prefix = "newreason"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.lossreason_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.lossreason_update(
            reason=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )


class _SettingsDeleteView(RecordPermissionMixin, View):
    """POST: move the record to the trash through ``trash``; a refusal is shown as a
    message (how many deals hold it …) and nothing changes."""

    action = "delete"
    success_url_name = "opportunities:pipeline_list"

    def trash(self, obj):  # pragma: no cover - abstract
        raise NotImplementedError

    def post(self, request, pk):
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise Http404
        try:
            self.trash(obj)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("“%(name)s” moved to the trash.") % {"name": obj})
        return HttpResponseRedirect(reverse(self.success_url_name))


class PipelineDeleteView(_SettingsDeleteView):
    model = Pipeline

    def trash(self, obj):
        services.pipeline_delete(pipeline=obj, actor=self.request.user)


class StageDeleteView(_SettingsDeleteView):
    model = Stage

    def trash(self, obj):
        services.stage_delete(stage=obj, actor=self.request.user)


class LossReasonDeleteView(_SettingsDeleteView):
    model = LossReason

    def trash(self, obj):
        services.lossreason_delete(reason=obj, actor=self.request.user)


class _ReorderView(RecordPermissionMixin, View):
    """POST ``id`` repeated in the new order (the settings page's drag and drop); JSON
    for ``Accept: application/json``, else a redirect with a message."""

    action = "edit"

    def reorder(self, request, ids, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def post(self, request, **kwargs):
        ids = request.POST.getlist("id")
        try:
            self.reorder(request, ids, **kwargs)
        except ApplicationError as exc:
            if _wants_json(request):
                return JsonResponse({"errors": exc.errors}, status=400)
            messages.error(request, exc.message)
        else:
            if _wants_json(request):
                return JsonResponse({"ok": True, "ids": ids})
            messages.success(request, _("Order saved."))
        return HttpResponseRedirect(reverse("opportunities:pipeline_list"))


class PipelineReorderView(_ReorderView):
    model = Pipeline

    def reorder(self, request, ids):
        services.pipeline_reorder(org=request.organization, actor=request.user, ids=ids)


class StageReorderView(_ReorderView):
    """Reorder the stages of the pipeline in the URL."""

    model = Pipeline

    def reorder(self, request, ids, pk):
        pipeline = self.get_queryset().filter(pk=pk).first()
        if pipeline is None:
            raise Http404
        services.stage_reorder(pipeline=pipeline, actor=request.user, ids=ids)


class LossReasonReorderView(_ReorderView):
    model = LossReason

    def reorder(self, request, ids):
        services.lossreason_reorder(org=request.organization, actor=request.user, ids=ids)


class QuotaListView(RecordPermissionMixin, TemplateView):
    """/opportunities/quotas/: a grid of users and teams × the periods of one fiscal year
    (months, quarters or the year), revenue or deals won, editable cell by cell (htmx) by
    managers; below it, every quota with the API's filters. Reps read."""

    model = Quota
    template_name = "opportunities/quota_list.html"
    partial_template_name = "opportunities/partials/quota_grid.html"

    def get_template_names(self):
        if is_htmx_partial(self.request):
            if self.request.GET.get("part") == "grid":
                return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        grid_form = QuotaGridForm(
            data=request.GET if "grid-period" in request.GET else None, prefix="grid"
        )
        choice = {
            "period": "quarter",
            "year": selectors.current_fiscal_year(org),
            "metric": "revenue",
        }
        if grid_form.is_bound and grid_form.is_valid():
            choice.update(grid_form.cleaned_data)
        elif not grid_form.is_bound:
            grid_form = QuotaGridForm(initial=choice, prefix="grid")
        context.update(
            grid_form=grid_form,
            grid=selectors.quota_grid(
                org=org,
                user=request.user,
                period=choice["period"],
                fiscal_year=choice["year"],
                metric=choice["metric"],
            ),
            choice=choice,
            can_edit=can(request.user, "edit", Quota),
        )
        quotas = Quota.objects.restrict(request.user, "view").select_related("user", "team")
        filterset = QuotaFilterSet(request.GET or None, queryset=quotas, request=request)
        rows = filterset.qs if filterset.is_bound and filterset.is_valid() else quotas
        context.update(
            filterset=filterset,
            page_obj=paginate(request, rows.order_by("-period_start", "period", "pk")),
            querystring=_b_querystring(request),
        )
        return context


class QuotaSetView(RecordPermissionMixin, View):
    """POST one grid cell (``owner``, ``period``, ``period_start``, ``metric``, ``target``):
    creates, changes or (empty target) removes that quota; answers the cell (htmx), with
    its error and status 422 when refused."""

    model = Quota
    action = "edit"

    def post(self, request):
        form = QuotaCellForm(data=request.POST, request=request)
        quota, error = None, ""
        if form.is_valid():
            data = form.cleaned_data
            try:
                quota = services.quota_set(
                    org=request.organization,
                    actor=request.user,
                    period=data["period"],
                    period_start=data["period_start"],
                    metric=data["metric"],
                    target=data["target"],
                    **data["owner"],
                )
            except ApplicationError as exc:
                error = exc.message
        else:
            error = " ".join(m for msgs in form.errors.values() for m in msgs)
        if not getattr(request, "htmx", False):
            if error:
                messages.error(request, error)
            else:
                messages.success(request, _("Quota saved."))
            return HttpResponseRedirect(reverse("opportunities:quota_list"))
        return render(
            request,
            "opportunities/partials/quota_cell.html",
            {
                "cell": {
                    "owner": request.POST.get("owner", ""),
                    "start": request.POST.get("period_start", ""),
                    "target": quota.target
                    if quota
                    else (None if not error else request.POST.get("target")),
                    "saved": not error,
                },
                "choice": {
                    "period": request.POST.get("period"),
                    "metric": request.POST.get("metric"),
                },
                "can_edit": True,
                "error": error,
            },
            # 422, not 400: the cell is swapped in with its error (a 400 is an error page).
            status=422 if error else 200,
        )


class QuotaFormView(RecordFormView):
    """Add a quota, or change one, on a page of its own (the grid edits in place)."""

    model = Quota
    form_class = QuotaForm
    template_name = "opportunities/quota_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.quota_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.quota_update(
            quota=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_success_url(self, saved) -> str:
        return reverse("opportunities:quota_list")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("opportunities:quota_list")
        return context


class QuotaDeleteView(_SettingsDeleteView):
    model = Quota
    success_url_name = "opportunities:quota_list"

    def trash(self, obj):
        services.quota_delete(quota=obj, actor=self.request.user)


# --- forecast (C) ---


class ForecastView(RecordPermissionMixin, TemplateView):
    """The forecast of a fiscal year by month, quarter or year: a chart per period
    (closed vs commit vs best case vs quota), a table per owner and team to drill into,
    how the forecast moved (snapshots), accuracy of closed periods, and the rates used."""

    model = Opportunity
    action = "view"
    template_name = "opportunities/forecast.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        errors: dict = {}
        try:
            query = forecasting.forecast_query(org, request.GET)
        except ApplicationError as exc:
            errors = exc.errors
            query = forecasting.ForecastQuery()
        result = forecasting.forecast(
            org,
            request.user,
            period=query.period,
            year=query.year,
            team=query.team,
            assigned_to=query.assigned_to,
            pipeline=query.pipeline,
        )
        shown = next((p for p in result.periods if p.is_current), None)
        if shown is None:
            shown = next((p for p in reversed(result.periods) if p.is_closed), result.periods[0])
        this_year = forecasting.fiscal_year_of(org, result.today)
        context.update(
            forecast=result,
            forecast_query=query,
            params=query.as_params(),
            errors=errors,
            shown=shown,
            period_choices=[(k, lbl) for k, lbl in QuotaPeriod.choices],
            year_choices=[
                (y, forecasting.fiscal_year_label(org, y))
                for y in range(this_year - 3, this_year + 2)
            ],
            members=list(organization_members(org).only("pk", "full_name", "email")),
            teams=list(Team.objects.filter(deleted_at__isnull=True).only("pk", "name")),
            pipelines=pipelines_of(org),
            chart=result.chart_data(),
            deals_url=reverse("opportunities:forecast_deals"),
        )
        return context

    def render_to_response(self, context, **kwargs):
        if context["errors"]:
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)


def _c_drill_params(org, params):
    """The drill-down's period and owner from ``start``, ``period``, ``year``, ``owner``."""
    query = forecasting.forecast_query(org, params)
    try:
        start = datetime.date.fromisoformat((params.get("start") or "").strip())
    except ValueError:
        raise ApplicationError(
            errors={"start": [_("Enter the period's first day as YYYY-MM-DD.")]}
        ) from None
    year = query.year or forecasting.fiscal_year_of(org, start)
    period = next(
        (p for p in forecasting.fiscal_periods(org, query.period, year) if p.start == start), None
    )
    if period is None:
        raise ApplicationError(errors={"start": [_("No such period in that fiscal year.")]})
    owner = (params.get("owner") or "").strip()
    if owner in ("", "none"):
        owner_id = None
    else:
        member = organization_members(org).filter(pk=owner).first() if owner.isdigit() else None
        if member is None:
            raise ApplicationError(errors={"owner": [_("Choose a member of this organization.")]})
        owner_id = member.pk
    return query, period, owner_id


class ForecastDealsView(RecordPermissionMixin, TemplateView):
    """The drill-down (htmx partial): one owner's deals of one period, the category a
    manager can change inline, and the audit trail of category changes."""

    model = Opportunity
    action = "view"
    template_name = "opportunities/partials/forecast_deals.html"

    def get(self, request, *args, **kwargs):
        try:
            query, period, owner_id = _c_drill_params(request.organization, request.GET)
        except ApplicationError as exc:
            return HttpResponse(
                "; ".join(m for msgs in exc.errors.values() for m in msgs), status=400
            )
        return self.render_to_response(_c_drill_context(request, query, period, owner_id))


def _c_drill_context(request, query, period, owner_id, *, error: str = "", changed=None):
    org = request.organization
    deals = forecasting.forecast_deals(
        org, request.user, period=period, owner_id=owner_id, pipeline=query.pipeline
    )
    conv = converter(org)
    for deal in deals:
        on = deal.actual_close_date if deal.status == "won" else None
        deal.converted = conv.convert(deal.value, deal.currency, on)
        deal.can_adjust = deal.status == "open" and forecasting.can_adjust_category(
            request.user, deal
        )
    owner_name = _("Unassigned")
    if owner_id is not None:
        owner = next((d.assigned_to for d in deals if d.assigned_to_id == owner_id), None)
        owner = owner or organization_members(org).filter(pk=owner_id).first()
        owner_name = str(owner) if owner else owner_name
    return {
        "deals": deals,
        "period": period,
        "owner_id": owner_id,
        "owner_name": owner_name,
        "params": query.as_params(),
        "currency": org.default_currency,
        "categories": [
            (value, label)
            for value, label in ForecastCategory.choices
            if value in forecasting.SETTABLE_CATEGORIES
        ],
        "changes": forecasting.category_changes(org, deals),
        "error": error,
        "changed": changed,
    }


class ForecastCategoryView(RecordPermissionMixin, View):
    """POST: change a deal's forecast category (managers: anyone's; reps: their own),
    then draw the drill-down again with the change in its audit trail."""

    model = Opportunity
    action = "edit"

    def post(self, request, pk):
        deal = self.get_queryset().filter(pk=pk).select_related("assigned_to").first()
        if deal is None:
            raise Http404
        category = (request.POST.get("forecast_category") or "").strip()
        version = (request.POST.get("version") or "").strip()
        error = ""
        status = 200
        try:
            forecasting.opportunity_forecast_category_set(
                opportunity=deal,
                category=category,
                actor=request.user,
                expected_version=int(version) if version.isdigit() else None,
            )
        except PermissionDeniedError as exc:
            error, status = exc.message, 403
        except ApplicationError as exc:
            error, status = exc.message, 400
        if not getattr(request, "htmx", False):
            if error:
                messages.error(request, error)
            else:
                messages.success(request, _("Forecast category changed."))
            back = reverse("opportunities:forecast")
            return HttpResponseRedirect(_safe_next(request, back) or back)
        try:
            query, period, owner_id = _c_drill_params(request.organization, request.POST)
        except ApplicationError:
            # No drill-down to redraw: answer with the outcome alone.
            return HttpResponse(error or _("Forecast category changed."), status=status)
        context = _c_drill_context(
            request, query, period, owner_id, error=error, changed=None if error else deal.pk
        )
        response = self.response_class(
            request, "opportunities/partials/forecast_deals.html", context, status=status
        )
        # htmx swaps 2xx answers only by default; a refusal is drawn in place all the same.
        response["HX-Reswap"] = "innerHTML"
        return response

    response_class = TemplateView.response_class


# --- win/loss and stage analysis (D) ---


class OpportunityAnalysisView(RecordPermissionMixin, TemplateView):
    """Win/loss and stage analysis: KPI tiles, charts and the tables behind them, for the
    deals closed in a date range (and a pipeline, owner or team)."""

    model = Opportunity
    action = "view"
    template_name = "opportunities/analysis.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        org = self.request.organization
        form = analytics.AnalysisFilterForm(self.request.GET or None, org=org)
        if form.is_bound and form.is_valid():
            filters = form.filters()
            # Shown again with the dates the analysis used (an empty date means a default).
            form = analytics.AnalysisFilterForm(initial=filters.initial(), org=org)
        else:
            date_from, date_to = analytics.default_range()
            filters = analytics.AnalysisFilters(date_from=date_from, date_to=date_to)
            if not form.is_bound:
                form = analytics.AnalysisFilterForm(
                    initial={"date_from": date_from, "date_to": date_to}, org=org
                )
        data = analytics.win_loss_analysis(user=self.request.user, org=org, filters=filters)
        # The funnel and time-in-stage charts show one pipeline: the one filtered on, else
        # the default one; the tables below them show every pipeline of the analysis.
        focus = next((p for p in data.pipelines if p.pipeline.is_default), None)
        context.update(form=form, data=data, focus=focus or next(iter(data.pipelines), None))
        return context

    def render_to_response(self, context, **kwargs):
        form = context["form"]
        if form.is_bound and not form.is_valid():
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)


class _DRelatedOpportunitiesView(RecordPermissionMixin, TemplateView):
    """The "Opportunities" panel a contact or company page loads after it is shown (htmx),
    so the page's own query count stays as it was. ``model`` is the record the URL names
    (a contact or a company); the deals shown are those the user may see."""

    action = "view"

    def get_record(self, pk):
        record = self.get_queryset().filter(pk=pk).first()
        if record is None:
            raise Http404
        return record


class ContactOpportunitiesView(_DRelatedOpportunitiesView):
    model = Contact
    template_name = "opportunities/partials/analysis_contact_panel.html"

    def get_context_data(self, **kwargs):
        from pulse.contacts.selectors import contact_opportunities

        context = super().get_context_data(**kwargs)
        contact = self.get_record(kwargs["pk"])
        deals, totals, count = contact_opportunities(
            contact=contact, user=self.request.user, org=self.request.organization
        )
        context.update(contact=contact, deals=deals, totals=totals, count=count)
        return context


class CompanyOpportunitiesView(_DRelatedOpportunitiesView):
    model = Company
    template_name = "opportunities/partials/analysis_company_panel.html"

    def get_context_data(self, **kwargs):
        from pulse.contacts.selectors import company_opportunity_rollup

        context = super().get_context_data(**kwargs)
        company = self.get_record(kwargs["pk"])
        deals, tree = company_opportunity_rollup(
            company=company, user=self.request.user, org=self.request.organization
        )
        context.update(
            company=company,
            deals=deals,
            tree=tree,
            rows=list(tree.flat()),
            total=tree.total,
        )
        return context


# --- board and stage moves (K) ---

# The filter bar of the board: the list's filters that make sense on columns.
BOARD_FILTERS = ("assigned_to", "team", "tags", "close_from", "close_to", "value_min", "value_max")


def _board_filter_query(params) -> str:
    """The board's filters as a query string (for "N more" links to the list)."""
    query = params.copy()
    for key in BOARD_PARAMS:
        query.pop(key, None)
    return query.urlencode()


def _active_loss_reasons():
    return list(LossReason.objects.filter(active=True).order_by("position", "name"))


class OpportunityBoardView(RecordPermissionMixin, TemplateView):
    """The kanban board of one pipeline (``?pipeline=``): columns with count, total and
    weighted total in the organization's currency, the first cards of each, and drag and
    drop to another stage (``opportunities:opportunity_move``)."""

    model = Opportunity
    template_name = "opportunities/opportunity_board.html"
    partial_template_name = "opportunities/partials/opportunity_board_columns.html"

    def get_template_names(self):
        if is_htmx_partial(self.request):
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        errors = {}
        try:
            board = opportunity_board(
                user=request.user, org=org, params=request.GET, request=request
            )
        except ApplicationError as exc:
            # Bad filters: say so, and show the whole board rather than nothing.
            errors = exc.errors
            params = request.GET.copy()
            for key in list(params):
                if key != "pipeline" or "pipeline" in errors:
                    params.pop(key)
            board = opportunity_board(user=request.user, org=org, params=params, request=request)
        context.update(
            board=board,
            errors=errors,
            list_url=reverse("opportunities:opportunity_list"),
            filter_query=_board_filter_query(request.GET),
            can_edit=can(request.user, "edit", Opportunity),
            sort=request.GET.get("sort") or "newest",
            today=timezone.localdate(),
        )
        if not is_htmx_partial(request):
            # Only the whole page draws the filter bar and the won/lost dialogs.
            filterset = board.filterset or OpportunityFilterSet(
                request.GET, queryset=Opportunity.objects.none(), request=request
            )
            form = filterset.form
            # What an untouched filter means, said in the field (not "---------").
            form.fields["team"].empty_label = _("Any team")
            form.fields["assigned_to"].widget.attrs["placeholder"] = _("Anyone")
            form.fields["tags"].widget.attrs["placeholder"] = _("Any tag")
            context.update(
                filter_fields=[form[name] for name in BOARD_FILTERS],
                loss_reasons=_active_loss_reasons(),
            )
        return context


def _stale_move_message() -> str:
    # The version check's message, told the way the board shows it (the board reloads).
    return _(
        "Someone else moved or changed this deal since you opened the board. The board now "
        "shows where it is; move it again if you still want to."
    )


class OpportunityMoveView(RecordPermissionMixin, View):
    """POST ``stage`` (id), ``version``, and for won ``actual_close_date``, for lost
    ``loss_reason`` and ``competitor``: move a deal (board drop, stage buttons).

    A request asking for JSON (the board) gets ``{"ok": true, …}`` or 400/403/404 with
    ``{"errors": …}``; a form post goes back to ``next`` with a message.
    """

    model = Opportunity
    action = "edit"

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except PermissionDenied:
            if not self.wants_json(request):
                raise
            message = _("Your role does not allow moving deals.")
            return JsonResponse({"errors": {"__all__": [message]}}, status=403)

    @staticmethod
    def wants_json(request) -> bool:
        return "application/json" in request.headers.get("Accept", "")

    def post(self, request, pk):
        wants_json = self.wants_json(request)
        opportunity = self.get_queryset().select_related("stage", "pipeline").filter(pk=pk).first()
        if opportunity is None:
            if Opportunity.objects.restrict(request.user, "view").filter(pk=pk).exists():
                message = _("You can see this deal but not change it.")
                if wants_json:
                    return JsonResponse({"errors": {"__all__": [message]}}, status=403)
                raise PermissionDenied(message)
            if wants_json:
                return JsonResponse({"errors": {"__all__": [_("Not found.")]}}, status=404)
            raise Http404
        form = OpportunityMoveForm(request.POST, org=request.organization)
        errors: dict = {}
        if form.is_valid():
            data = form.cleaned_data
            try:
                opportunity = opportunity_move(
                    opportunity=opportunity,
                    stage=data["stage"],
                    actor=request.user,
                    expected_version=data["version"],
                    actual_close_date=data["actual_close_date"],
                    loss_reason=data["loss_reason"],
                    competitor=data["competitor"] if data["stage"].type == StageType.LOST else None,
                    notes=data["notes"],
                )
            except ApplicationError as exc:
                errors = dict(exc.errors)
                if "version" in errors:
                    errors["version"] = [_stale_move_message()]
        else:
            errors = {k: [str(m) for m in v] for k, v in form.errors.items()}
        if wants_json:
            if errors:
                return JsonResponse({"errors": errors}, status=400)
            return JsonResponse(
                {
                    "ok": True,
                    "id": str(opportunity.pk),
                    "stage": str(opportunity.stage_id),
                    "stage_name": opportunity.stage.name,
                    "status": opportunity.status,
                    "version": opportunity.version,
                }
            )
        if errors:
            for field_messages in errors.values():
                for message in field_messages:
                    messages.error(request, message)
        else:
            messages.success(
                request,
                _("“%(deal)s” moved to %(stage)s.")
                % {"deal": opportunity.name, "stage": opportunity.stage.name},
            )
        return HttpResponseRedirect(_safe_next(request, opportunity.get_absolute_url()))
