"""Web pages of leads (thin: parse, call a service or selector, render)."""

from __future__ import annotations

# --- leads: list, kanban, detail, quick create, stages (A) ---
from django.contrib import messages  # noqa: E402
from django.core.exceptions import PermissionDenied  # noqa: E402
from django.http import Http404, HttpResponseRedirect, JsonResponse  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from django.utils.translation import ngettext  # noqa: E402
from django.views import View  # noqa: E402
from django.views.generic import TemplateView  # noqa: E402

from pulse.accounts.permissions import can  # noqa: E402
from pulse.contacts.forms import BulkActionForm  # noqa: E402
from pulse.contacts.views import (  # noqa: E402
    InlineEditView,
    ListPageMixin,
    QuickCreateView,
    _detail_context,
    _safe_next,
)
from pulse.core.errors import ApplicationError  # noqa: E402
from pulse.core.views import (  # noqa: E402
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordPermissionMixin,
)

from . import selectors as lead_selectors  # noqa: E402
from . import services as lead_services  # noqa: E402
from .filtersets import LEAD_ORDERINGS, LeadFilterSet  # noqa: E402
from .forms import (  # noqa: E402
    LeadForm,
    LeadMoveForm,
    LeadSettingsForm,
    LeadStageForm,
    QuickLeadForm,
)
from .models import Lead, LeadSettings, LeadStage  # noqa: E402


def _band_rows(org, rows) -> None:
    """Set ``band`` (hot/warm/cold by the organization's thresholds) on each lead."""
    settings = lead_services.lead_settings(org=org)
    for lead in rows:
        lead.band = settings.band(lead.score or 0)


class LeadBulkActionForm(BulkActionForm):
    """The contacts' bulk bar, with the organization's lead stages for "Move to stage"."""

    def __init__(self, *args, request, stage_choices=None, **kwargs):
        super().__init__(*args, request=request, with_stage=True, **kwargs)
        if stage_choices is None:
            stages = lead_selectors.lead_stages(org=request.organization)
            stage_choices = [(s.key, s.name) for s in stages]
        self.fields["lifecycle_stage"].choices = list(stage_choices)
        self.fields["action"].choices = [
            (value, _("Move to stage") if value == "stage" else label)
            for value, label in self.ACTIONS
        ]


class LeadListView(ListPageMixin, RecordListView):
    """All leads the user may see: search, filters, sortable columns, saved views, bulk."""

    model = Lead
    filterset_class = LeadFilterSet
    select_related = lead_selectors.LEAD_LIST_SELECT_RELATED
    prefetch_related = lead_selectors.LEAD_LIST_PREFETCH_RELATED
    orderings = LEAD_ORDERINGS
    ordering_fields = tuple(LEAD_ORDERINGS)
    template_name = "leads/lead_list.html"
    partial_template_name = "leads/partials/lead_table.html"
    bulk_url_name = "leads:lead_bulk"
    create_url_name = "leads:lead_create"
    inline_url_name = "leads:lead_inline_edit"
    # Exports list their targets in pulse/imports/export.py; leads are not one yet.
    export_target = "leads"

    def get(self, request, *args, **kwargs):
        from . import tables  # noqa: F401  (registers the lead columns)

        return super().get(request, *args, **kwargs)

    def cell_context_extra(self, rows) -> dict:
        _band_rows(self.request.organization, rows)
        return {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filterset.form if self.filterset is not None else None
        if form is not None:
            # The mixin offers members only; leads also filter by "me" and "unassigned".
            field = form.fields["assigned_to"]
            field.widget.choices = list(field.choices)
        if "bulk_form" in context:
            # The filter bar read the stages already (G: one query less).
            stage_choices = None
            if self.filterset is not None:
                stage_choices = self.filterset.filters["stage"].extra.get("choices")
            context["bulk_form"] = LeadBulkActionForm(
                request=self.request, stage_choices=stage_choices
            )
        context["board_url"] = reverse("leads:lead_board")
        return context


class LeadBulkView(RecordPermissionMixin, View):
    """POST: apply one action to the selected leads of the list, all or nothing."""

    model = Lead

    def post(self, request):
        form = LeadBulkActionForm(request.POST, request=request)
        back = _safe_next(request, reverse("leads:lead_list"))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        action = data["action"]
        permission = "delete" if action == "delete" else "edit"
        if not can(request.user, permission, Lead):
            raise PermissionDenied(_("Your role does not allow this."))
        if data.get("select_all"):
            messages.error(
                request,
                _("Select the leads on this page (at most 200 at a time) for this action."),
            )
            return HttpResponseRedirect(back)
        leads = Lead.objects.restrict(request.user, permission).filter(pk__in=data["ids"])
        try:
            count = lead_services.lead_bulk_action(
                leads=leads.select_related("stage").prefetch_related("tags"),
                actor=request.user,
                action=action,
                assigned_to=data.get("assigned_to"),
                tags=[data["tag"]] if data.get("tag") else [],
                stage=data.get("lifecycle_stage") or None,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if action == "delete":
                text = ngettext(
                    "%(count)d lead moved to the trash.",
                    "%(count)d leads moved to the trash.",
                    count,
                )
            else:
                text = ngettext("%(count)d lead updated.", "%(count)d leads updated.", count)
            messages.success(request, text % {"count": count})
        return HttpResponseRedirect(back)


class LeadInlineEditView(InlineEditView):
    """One cell of the lead list edited in place (title, email, value, probability…)."""

    model = Lead
    inline_url_name = "leads:lead_inline_edit"

    def _record_and_column(self, pk):
        from . import tables  # noqa: F401  (registers the lead columns)

        return super()._record_and_column(pk)

    def update(self, record, **fields):
        return lead_services.lead_update(lead=record, actor=self.request.user, **fields)


class LeadBoardView(RecordPermissionMixin, TemplateView):
    """The kanban board: a column per stage with its count and value totals, the newest
    cards, drag and drop between columns (``leads:lead_move``)."""

    model = Lead
    template_name = "leads/lead_board.html"
    partial_template_name = "leads/partials/lead_board_columns.html"

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        errors = {}
        try:
            pipeline = lead_selectors.lead_pipeline(
                user=request.user, org=org, filters=request.GET, request=request
            )
        except ApplicationError as exc:
            errors = exc.errors
            pipeline = lead_selectors.lead_pipeline(user=request.user, org=org, request=request)
        settings = lead_services.lead_settings(org=org)
        for column in pipeline.columns:
            for lead in column.cards:
                lead.band = settings.band(lead.score or 0)
        query = request.GET.copy()
        # The owner filter's choices, without building a whole filter set (G: 3 queries).
        from pulse.contacts.filtersets import owner_choices

        context.update(
            pipeline=pipeline,
            errors=errors,
            querystring=query.urlencode(),
            list_url=reverse("leads:lead_list"),
            date_ranges=lead_selectors.DATE_RANGES,
            owner_choices=owner_choices(request)(),
            can_edit=can(request.user, "edit", Lead),
            can_create=can(request.user, "create", Lead),
            move_url_template=reverse("leads:lead_move", args=[_ZERO]),
            zero=str(_ZERO),
        )
        return context


_ZERO = "00000000-0000-0000-0000-000000000000"


class LeadMoveView(RecordPermissionMixin, View):
    """POST ``stage`` (key), ``notes``, ``reason``: move a lead (board drop, detail page).

    A request asking for JSON (the board) gets ``{"ok": true, …}`` or 400 with
    ``{"errors": …}``; a form post goes back with a message.
    """

    model = Lead
    action = "edit"

    def post(self, request, pk):
        lead = self.get_queryset().select_related("stage").filter(pk=pk).first()
        if lead is None:
            raise Http404
        wants_json = "application/json" in request.headers.get("Accept", "")
        form = LeadMoveForm(request.POST, request=request)
        errors = {}
        if form.is_valid():
            data = form.cleaned_data
            try:
                lead = lead_services.lead_move_stage(
                    lead=lead,
                    stage=data["stage"],
                    actor=request.user,
                    notes=data["notes"],
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                errors = exc.errors
        else:
            errors = {k: [str(m) for m in v] for k, v in form.errors.items()}
        if wants_json:
            if errors:
                return JsonResponse({"errors": errors}, status=400)
            return JsonResponse(
                {"ok": True, "id": str(lead.pk), "stage": lead.stage.key, "version": lead.version}
            )
        if errors:
            for messages_ in errors.values():
                for message in messages_:
                    messages.error(request, message)
        else:
            messages.success(
                request,
                _("“%(lead)s” moved to %(stage)s.") % {"lead": lead, "stage": lead.stage.name},
            )
        return HttpResponseRedirect(_safe_next(request, lead.get_absolute_url()))


class LeadDetailView(RecordDetailView):
    """One lead: key facts, score and conversion panels, Timeline, Details, History."""

    model = Lead
    select_related = lead_selectors.LEAD_DETAIL_SELECT_RELATED
    prefetch_related = ("tags",)
    template_name = "leads/lead_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        lead = self.object
        org = self.request.organization
        settings = lead_services.lead_settings(org=org)
        lead.band = settings.band(lead.score or 0)
        context.update(_detail_context(self, lead))
        context.update(
            lead_timeline=lead_selectors.lead_timeline(lead=lead),
            stages=lead_selectors.lead_stages(org=org),
            lead_settings=settings,
        )
        return context


class LeadFormView(RecordFormView):
    """New lead (no ``pk``) or edit one; the service decides, errors land on the form."""

    model = Lead
    form_class = LeadForm
    template_name = "leads/lead_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return lead_services.lead_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return lead_services.lead_update(
            lead=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else reverse("leads:lead_list")
        )
        context["list_url"] = reverse("leads:lead_list")
        return context


def _delete_lead(*, instance, actor):
    return lead_services.lead_delete(lead=instance, actor=actor)


class LeadDeleteView(RecordDeleteView):
    model = Lead
    delete_service = _delete_lead
    success_url_name = "leads:lead_list"


class LeadQuickCreateView(QuickCreateView):
    """The top bar's "New lead" dialog (``n l``)."""

    model = Lead
    form_class = QuickLeadForm
    url_name = "leads:lead_quick_create"
    partial_template_name = "leads/partials/lead_quick_create.html"
    template_name = "leads/lead_quick_create.html"

    def find_duplicates(self, fields):
        return []  # a lead for a known email attaches to that contact instead

    def create(self, fields):
        return lead_services.lead_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


# --- lead settings: stages and bands (admins) ------------------------------------------------


class LeadSettingsView(RecordPermissionMixin, TemplateView):
    """/leads/settings/: the stages (add, rename, colour, kind, reorder, delete) and the
    score bands, half-life and form rate limit. Needs the right to change settings."""

    model = LeadStage
    action = "edit"
    template_name = "leads/lead_settings.html"

    def _settings(self):
        return lead_services.lead_settings(org=self.request.organization)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        stages = lead_selectors.lead_stages(org=request.organization)
        settings = self._settings()
        context.update(
            stages=[
                (s, LeadStageForm(instance=s, request=request, prefix=f"s{s.pk}")) for s in stages
            ],
            new_stage_form=LeadStageForm(request=request),
            settings_form=kwargs.get("settings_form")
            or LeadSettingsForm(instance=settings, request=request),
            can_edit_settings=can(request.user, "edit", LeadSettings),
        )
        return context

    def post(self, request):
        if not can(request.user, "edit", LeadSettings):
            raise PermissionDenied(_("Your role does not allow this."))
        settings = self._settings()
        form = LeadSettingsForm(data=request.POST, instance=settings, request=request)
        if form.is_valid():
            try:
                lead_services.leadsettings_update(
                    settings=settings,
                    actor=request.user,
                    expected_version=form.cleaned_data.get("expected_version"),
                    **form.service_fields(),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Lead settings saved."))
                return HttpResponseRedirect(reverse("leads:lead_settings"))
        return self.render_to_response(self.get_context_data(settings_form=form), status=400)


class LeadStageFormView(RecordFormView):
    """Add a stage, or change one (name, key, kind, colour, asks for a reason)."""

    model = LeadStage
    form_class = LeadStageForm
    template_name = "leads/leadstage_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.object is not None and self.request.method == "POST":
            prefixed = f"s{self.object.pk}-name"
            if prefixed in self.request.POST:
                kwargs["prefix"] = f"s{self.object.pk}"  # the settings page's inline form
        return kwargs

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return lead_services.leadstage_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return lead_services.leadstage_update(stage=instance, actor=self.request.user, **fields)

    def get_success_url(self, saved) -> str:
        return reverse("leads:lead_settings")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("leads:lead_settings")
        return context


class LeadStageDeleteView(RecordPermissionMixin, View):
    """POST: delete a stage no lead uses; otherwise say why and change nothing."""

    model = LeadStage
    action = "delete"

    def post(self, request, pk):
        stage = self.get_queryset().filter(pk=pk).first()
        if stage is None:
            raise Http404
        try:
            lead_services.leadstage_delete(stage=stage, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Stage “%(name)s” deleted.") % {"name": stage.name})
        return HttpResponseRedirect(reverse("leads:lead_settings"))


class LeadStageReorderView(RecordPermissionMixin, View):
    """POST ``key`` repeated in the new order (the settings page's drag and drop)."""

    model = LeadStage
    action = "edit"

    def post(self, request):
        keys = request.POST.getlist("key")
        wants_json = "application/json" in request.headers.get("Accept", "")
        try:
            lead_services.leadstage_reorder(org=request.organization, actor=request.user, keys=keys)
        except ApplicationError as exc:
            if wants_json:
                return JsonResponse({"errors": exc.errors}, status=400)
            messages.error(request, exc.message)
        else:
            if wants_json:
                return JsonResponse({"ok": True, "keys": keys})
            messages.success(request, _("Stage order saved."))
        return HttpResponseRedirect(reverse("leads:lead_settings"))


# --- web-to-lead forms (B) ---
import json as _json  # noqa: E402

from django.db.models import Count as _Count  # noqa: E402
from django.db.models import Q as _Q  # noqa: E402
from django.http import HttpResponseRedirect as _Redirect  # noqa: E402
from django.http import JsonResponse as _JsonResponse  # noqa: E402
from django.shortcuts import render as _render  # noqa: E402
from django.template.loader import render_to_string as _render_to_string  # noqa: E402
from django.urls import reverse as _reverse  # noqa: E402
from django.utils.decorators import method_decorator as _method_decorator  # noqa: E402
from django.utils.translation import gettext as _t  # noqa: E402
from django.views import View as _View  # noqa: E402
from django.views.decorators.clickjacking import xframe_options_exempt  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from pulse.accounts.permissions import can as _can  # noqa: E402
from pulse.core import views as _core_views  # noqa: E402
from pulse.core.errors import ApplicationError as _ApplicationError  # noqa: E402
from pulse.core.tenancy import tenant_context as _tenant_context  # noqa: E402

from . import webforms  # noqa: E402
from .filtersets import WebFormFilterSet  # noqa: E402
from .forms import WebFormForm  # noqa: E402
from .models import WebForm, WebFormSubmission  # noqa: E402


class WebFormListView(_core_views.RecordListView):
    """The organization's web forms with their submission and lead counts."""

    model = WebForm
    filterset_class = WebFormFilterSet
    select_related = ("default_assigned_to",)
    ordering_fields = ("name", "created_at", "updated_at")
    default_ordering = "name"
    template_name = "leads/webform_list.html"
    partial_template_name = "leads/partials/webform_table.html"
    columns = [
        ("name", _t("Name")),
        ("active", _t("Status")),
        ("submissions", _t("Submissions")),
        ("leads", _t("Leads")),
        ("updated_at", _t("Updated")),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(context["object_list"])
        # One grouped query for the page's rows (not a COUNT per row).
        counts = {
            row["form_id"]: row
            for row in WebFormSubmission.objects.filter(form_id__in=[f.pk for f in rows])
            .values("form_id")
            .annotate(total=_Count("id"), leads=_Count("id", filter=_Q(lead__isnull=False)))
        }
        for form in rows:
            found = counts.get(form.pk, {})
            form.submission_count = found.get("total", 0)
            form.lead_count = found.get("leads", 0)
        context.update(
            object_list=rows,
            can_create=_can(self.request.user, "create", WebForm),
            unsortable={"active", "submissions", "leads"},
        )
        return context


def webform_embed_snippet(form: WebForm) -> str:
    """The HTML an admin pastes into their site: a plain ``<form>`` posting to the public
    URL, with the honeypot and the UTM/referrer fields (labels escaped by the template)."""
    return _render_to_string(
        "leads/webform_embed.html",
        {
            "form": form,
            "fields": webforms.public_fields(form),
            "action": webforms.webform_public_url(form),
            "honeypot": webforms.HONEYPOT_FIELD,
        },
    ).strip()


class WebFormDetailView(_core_views.RecordDetailView):
    """A form's public URL, embed snippet, live preview and recent submissions."""

    model = WebForm
    select_related = ("default_assigned_to",)
    template_name = "leads/webform_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.object
        user = self.request.user
        submissions = (
            WebFormSubmission.objects.restrict(user, "view")
            .filter(form=form)
            .select_related("lead")
            .order_by("-created_at")
        )
        page = _core_views.paginate(self.request, submissions, per_page=25)
        context.update(
            public_url=webforms.webform_public_url(form),
            preview_url=_reverse("leads:webform_public", kwargs={"key": form.key}),
            embed_snippet=webform_embed_snippet(form),
            submissions=page.object_list,
            page_obj=page,
            querystring="",
            can_edit=_can(user, "edit", WebForm),
            can_delete=_can(user, "delete", WebForm),
            field_labels=dict(webforms.field_choices()),
        )
        return context


class WebFormFormView(_core_views.RecordFormView):
    """The designer: fields (add, remove, drag to reorder; label and required each),
    consent text, thank-you message or redirect, default source and owner, double opt-in."""

    model = WebForm
    form_class = WebFormForm
    template_name = "leads/webform_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return webforms.webform_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return webforms.webform_update(
            webform=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_success_url(self, saved) -> str:
        return _reverse("leads:webform_detail", kwargs={"pk": saved.pk})

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            field_choices=webforms.field_choices(),
            cancel_url=(
                _reverse("leads:webform_detail", kwargs={"pk": self.object.pk})
                if self.object
                else _reverse("leads:webform_list")
            ),
        )
        return context


def _delete_webform(*, instance, actor):
    return webforms.webform_delete(webform=instance, actor=actor)


class WebFormDeleteView(_core_views.RecordDeleteView):
    model = WebForm
    delete_service = _delete_webform
    success_url_name = "leads:webform_list"


# The public side: /f/<key>/ and its confirmation links.


@_method_decorator([csrf_exempt, xframe_options_exempt], name="dispatch")
class PublicWebFormMixin(_View):
    """Loads the form by its key and runs the request inside the form's organization.

    The public endpoint is an entry point of its own: there is no signed-in user and no
    session organization, so the tenancy middleware leaves the context empty (or set to
    a visitor's own organization, if they happen to be signed in). The form's key is the
    only thing that names a tenant here, so this is the one place the context is set for
    these requests: the form is found with ``WebForm.objects.unscoped()`` (by its
    unguessable, unique key; trashed forms are 404) and the rest of the request runs in
    ``tenant_context(form.organization, actor=None)``, where the fail-closed managers
    keep every query inside that organization.

    CSRF-exempt on purpose: CSRF protects requests that a browser authenticates with
    cookies. These views never read the session or ``request.user``: they act as nobody
    and can only add a submission to the form named in the URL, so a forged cross-site
    post can do nothing a direct post could not (the honeypot and the per-IP rate limit
    guard that). Framing is allowed too: embedding the form is the point.
    """

    form = None

    def dispatch(self, request, *args, key, **kwargs):
        form = (
            WebForm.objects.unscoped()
            .select_related("organization")
            .filter(key=key, deleted_at__isnull=True)
            .first()
        )
        if form is None:
            return self.message(
                request, _t("This form does not exist."), status=404, title=_t("Not found")
            )
        self.form = form
        with _tenant_context(form.organization, actor=None, source="web"):
            return super().dispatch(request, *args, **kwargs)

    def wants_json(self, request) -> bool:
        return (
            "application/json" in request.headers.get("Accept", "")
            or request.content_type == "application/json"
        )

    def message(self, request, text, *, status=200, title="", errors=None):
        if self.wants_json(request):
            key = "message" if status < 400 else "errors"
            body = {key: text} if status < 400 else {"errors": errors or {"__all__": [text]}}
            return _JsonResponse(body, status=status)
        return _render(
            request,
            "leads/webform_public_message.html",
            {"form": self.form, "title": title, "text": text, "status": status},
            status=status,
        )


class WebFormPublicView(PublicWebFormMixin):
    """GET: the standalone form page. POST: a submission (form-encoded or JSON)."""

    def get(self, request):
        if not self.form.active:
            return self.closed(request)
        return self.render_form(request, values={}, errors={})

    def closed(self, request):
        return self.message(
            request,
            _t("This form is no longer accepting submissions."),
            status=410,
            title=_t("Form closed"),
        )

    def render_form(self, request, *, values, errors, status=200):
        source = values or request.GET
        context = {
            "form": self.form,
            "fields": webforms.public_fields(self.form),
            "values": values,
            "errors": errors,
            "non_field_errors": errors.get("__all__", []),
            "honeypot": webforms.HONEYPOT_FIELD,
            "utm": {name: source.get(name, "")[:200] for name in webforms.UTM_FIELDS},
            "referrer": values.get("referrer") or request.headers.get("Referer", "")[:1000],
        }
        return _render(request, "leads/webform_public.html", context, status=status)

    def _data(self, request) -> dict | None:
        if request.content_type == "application/json":
            try:
                data = _json.loads(request.body or b"{}")
            except (ValueError, UnicodeDecodeError):
                return None
            return data if isinstance(data, dict) else None
        return {key: request.POST.get(key) for key in request.POST}

    def post(self, request):
        data = self._data(request)
        if data is None:
            return _JsonResponse(
                {"errors": {"__all__": [_t("Send a JSON object of field names and values.")]}},
                status=400,
            )
        utm = {}
        for name in webforms.UTM_FIELDS:
            value = data.get(name) or request.GET.get(name) or ""
            utm[name] = value if isinstance(value, str) else ""
        referrer = data.get("referrer")
        if not isinstance(referrer, str) or not referrer:
            referrer = request.headers.get("Referer", "")
        from pulse.accounts.throttling import client_ip

        try:
            submission = webforms.webform_submit(
                form=self.form,
                data=data,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                referrer=referrer,
                utm=utm,
            )
        except webforms.WebFormClosed:
            return self.closed(request)
        except webforms.WebFormRateLimited as exc:
            return self.message(request, exc.message, status=429, title=_t("Slow down"))
        except _ApplicationError as exc:
            if self.wants_json(request):
                return _JsonResponse({"errors": exc.errors}, status=400)
            values = {k: v for k, v in data.items() if isinstance(v, str)}
            return self.render_form(request, values=values, errors=exc.errors, status=400)
        return self.done(request, submission)

    def done(self, request, submission):
        form = self.form
        pending = submission.status == WebFormSubmission.Status.PENDING
        if pending:
            text = _t("Almost done: we sent you an email. Please open the link in it to confirm.")
        else:
            text = form.thank_you_message or _t("Thank you! We will be in touch soon.")
        if self.wants_json(request):
            # A spam submission gets the same answer as a real one: the bot learns nothing.
            status = "pending" if pending else "accepted"
            body = {"status": status, "message": text}
            if form.redirect_url and not pending:
                body["redirect_url"] = form.redirect_url
            return _JsonResponse(body, status=201)
        if form.redirect_url and not pending:
            return _Redirect(form.redirect_url, status=303)
        return self.message(request, text, title=_t("Thank you"))


class WebFormConfirmView(PublicWebFormMixin):
    """GET from the confirmation email: makes the lead (once; a second visit is fine)."""

    def get(self, request, token):
        try:
            webforms.webform_confirm(token=token, form=self.form)
        except webforms.WebFormTokenInvalid as exc:
            status = 410 if exc.expired else 404
            return self.message(request, exc.message, status=status, title=_t("Link not valid"))
        except _ApplicationError as exc:
            return self.message(request, exc.message, status=400, title=_t("Link not valid"))
        if self.form.redirect_url:
            return _Redirect(self.form.redirect_url, status=303)
        text = self.form.thank_you_message or _t("Thank you! Your request is confirmed.")
        return self.message(request, text, title=_t("Confirmed"))


# --- scoring (C) ---

from django.contrib import messages as _c_messages  # noqa: E402
from django.core.cache import cache as _c_cache  # noqa: E402
from django.core.exceptions import PermissionDenied as _CPermissionDenied  # noqa: E402
from django.http import Http404 as _CHttp404  # noqa: E402
from django.http import HttpResponseRedirect as _CRedirect  # noqa: E402
from django.http import JsonResponse as _CJsonResponse  # noqa: E402
from django.shortcuts import render as _c_render  # noqa: E402
from django.urls import NoReverseMatch as _CNoReverseMatch  # noqa: E402
from django.urls import reverse as _c_reverse  # noqa: E402
from django.utils import timezone as _c_timezone  # noqa: E402
from django.utils.translation import gettext as _c  # noqa: E402
from django.utils.translation import gettext_lazy as _c_lazy  # noqa: E402
from django.views import View as _CView  # noqa: E402
from django.views.generic import TemplateView as _CTemplateView  # noqa: E402

from pulse.accounts.permissions import can as _c_can  # noqa: E402
from pulse.core import views as _c_core_views  # noqa: E402
from pulse.core.errors import ApplicationError as _CApplicationError  # noqa: E402

from . import scoring as _scoring  # noqa: E402
from .filtersets import ScoringRuleFilterSet  # noqa: E402
from .forms import LeadProbabilityForm, ScoringRuleForm  # noqa: E402
from .models import Lead as _CLead  # noqa: E402
from .models import ScoringRule  # noqa: E402


class ScoringAdminMixin:
    """Scoring rules and the model page are for those who manage settings (owner/admin)."""

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not _c_can(request.user, "manage_settings", ScoringRule)
        ):
            raise _CPermissionDenied(_c("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)


class ScoringRuleListView(ScoringAdminMixin, _c_core_views.RecordListView):
    """The rules in order, with an inline add form, edit, delete and drag-to-reorder."""

    model = ScoringRule
    filterset_class = ScoringRuleFilterSet
    ordering_fields = ("position", "name", "points")
    default_ordering = "position"
    paginate_by = 100
    template_name = "leads/scoringrule_list.html"
    partial_template_name = None

    def get_context_data(self, **kwargs):
        from .services import lead_settings

        context = super().get_context_data(**kwargs)
        org = self.request.organization
        model = _scoring.latest_model(org)
        context.update(
            form=ScoringRuleForm(request=self.request),
            lead_settings=lead_settings(org=org),
            model_status=_scoring.predictive_status(model),
        )
        labels = dict(_scoring.scoring_field_choices())
        for rule in context["object_list"]:
            rule.description = _scoring.rule_description(rule, labels)
        return context


class ScoringRuleFormView(ScoringAdminMixin, _c_core_views.RecordFormView):
    model = ScoringRule
    form_class = ScoringRuleForm
    template_name = "leads/scoringrule_form.html"

    def get_success_url(self, saved) -> str:
        return _c_reverse("leads:scoringrule_list")


class ScoringRuleCreateView(ScoringRuleFormView):
    success_message = _c_lazy("Rule added. Scores are being recomputed.")

    def perform(self, form, instance):
        return _scoring.scoringrule_create(
            org=self.request.organization, actor=self.request.user, **form.service_fields()
        )


class ScoringRuleUpdateView(ScoringRuleFormView):
    success_message = _c_lazy("Rule saved. Scores are being recomputed.")

    def perform(self, form, instance):
        return _scoring.scoringrule_update(
            rule=instance,
            actor=self.request.user,
            expected_version=form.expected_version,
            **form.service_fields(),
        )


class ScoringRuleDeleteView(ScoringAdminMixin, _c_core_views.RecordDeleteView):
    model = ScoringRule
    success_url_name = "leads:scoringrule_list"

    @staticmethod
    def delete_service(*, instance, actor):
        return _scoring.scoringrule_delete(rule=instance, actor=actor)


class ScoringRuleReorderView(ScoringAdminMixin, _c_core_views.RecordPermissionMixin, _CView):
    """POST ``id`` repeated in the new order (drag and drop), or ``move`` + ``direction``
    (the up/down buttons, which work without JavaScript)."""

    model = ScoringRule
    action = "edit"

    def post(self, request):
        ids = request.POST.getlist("id")
        move, direction = request.POST.get("move"), request.POST.get("direction")
        if move:
            ids = [
                str(pk)
                for pk in ScoringRule.objects.restrict(request.user, "edit")
                .order_by("position", "name")
                .values_list("pk", flat=True)
            ]
            if move in ids:
                i = ids.index(move)
                j = i - 1 if direction == "up" else i + 1
                if 0 <= j < len(ids):
                    ids[i], ids[j] = ids[j], ids[i]
        try:
            _scoring.scoringrule_reorder(org=request.organization, actor=request.user, rule_ids=ids)
        except _CApplicationError as exc:
            if "application/json" in request.headers.get("Accept", ""):
                return _CJsonResponse({"errors": exc.errors}, status=400)
            _c_messages.error(request, exc.message)
        else:
            if "application/json" in request.headers.get("Accept", ""):
                return _CJsonResponse({"ok": True})
            _c_messages.success(request, _c("Rule order saved."))
        return _CRedirect(_c_reverse("leads:scoringrule_list"))


def _training_key(org) -> str:
    return f"pulse:leads:training-requested:{org.pk}"


class ScoringModelView(ScoringAdminMixin, _c_core_views.OrganizationRequiredMixin, _CTemplateView):
    """The learned model: status, sample sizes, calibration on held-out history, the
    feature values that move it most; POST retrains it in the background."""

    template_name = "leads/scoring_model.html"

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return ["leads/partials/scoring_model_body.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        org = self.request.organization
        model = _scoring.latest_model(org)
        requested = _c_cache.get(_training_key(org))
        training = bool(requested) and (model is None or model.trained_at.isoformat() < requested)
        backtest = (model.backtest or {}) if model is not None else {}
        positives, negatives = _scoring.top_features(model.parameters if model else {})
        bands = backtest.get("bands", [])
        chart = {
            "labels": [b["label"] for b in bands],
            "predicted": [round(b["predicted"] * 100, 1) if b["n"] else None for b in bands],
            "actual": [round(b["actual"] * 100, 1) if b["n"] else None for b in bands],
            "n": [b["n"] for b in bands],
        }
        context.update(
            model=model,
            status=_scoring.predictive_status(model),
            training=training,
            backtest=backtest,
            bands=bands,
            chart_json=chart,  # json_script encodes it
            positives=positives,
            negatives=negatives,
            closed_now=_scoring.closed_lead_count(org),
            min_closed=_scoring.MIN_CLOSED,
            base_rate=(model.parameters or {}).get("base_rate") if model else None,
        )
        return context

    def post(self, request):
        from .tasks import train_predictive

        _c_cache.set(_training_key(request.organization), _c_timezone.now().isoformat(), 3600)
        train_predictive.enqueue_on_commit(org=request.organization, actor=request.user)
        _c_messages.success(
            request, _c("Training started. This page shows the new model when it is ready.")
        )
        return _CRedirect(_c_reverse("leads:scoring_model"))


def _lead_url(lead) -> str:
    try:
        return _c_reverse("leads:lead_detail", kwargs={"pk": lead.pk})
    except _CNoReverseMatch:
        return f"/leads/{lead.pk}/"


class LeadProbabilityView(_c_core_views.RecordPermissionMixin, _CView):
    """POST a person's probability for a lead (empty or ``clear`` returns to the
    prediction); htmx gets the score panel back, others go back to the lead."""

    model = _CLead
    action = "edit"

    def post(self, request, pk):
        lead = _CLead.objects.restrict(request.user, "edit").filter(pk=pk).first()
        if lead is None:
            raise _CHttp404
        form = LeadProbabilityForm(data=request.POST, request=request)
        error = ""
        if form.is_valid():
            probability = None if "clear" in request.POST else form.cleaned_data["probability"]
            try:
                lead = _scoring.lead_probability_override(
                    lead=lead,
                    actor=request.user,
                    probability=probability,
                    reason=form.cleaned_data["reason"],
                )
            except _CApplicationError as exc:
                error = exc.message
        else:
            error = " ".join(m for msgs in form.errors.values() for m in msgs)
        if getattr(request, "htmx", False):
            response = _c_render(
                request,
                "leads/partials/lead_score.html",
                {"lead": lead, "probability_error": error},
                status=400 if error else 200,
            )
            return response
        if error:
            _c_messages.error(request, error)
        else:
            _c_messages.success(request, _c("Probability saved."))
        return _CRedirect(_lead_url(lead))


# --- routing, conversion, analytics (D) ---
from django.contrib import messages as _d_messages  # noqa: E402
from django.core.exceptions import PermissionDenied as _DPermissionDenied  # noqa: E402
from django.forms import ValidationError as _DValidationError  # noqa: E402
from django.http import Http404 as _DHttp404  # noqa: E402
from django.http import HttpResponseRedirect as _DRedirect  # noqa: E402
from django.http import JsonResponse as _DJsonResponse  # noqa: E402
from django.urls import reverse as _d_reverse  # noqa: E402
from django.utils.translation import gettext as _d  # noqa: E402
from django.utils.translation import gettext_lazy as _d_lazy  # noqa: E402
from django.views import View as _DView  # noqa: E402
from django.views.generic import TemplateView as _DTemplateView  # noqa: E402

from pulse.accounts.models import Membership as _DMembership  # noqa: E402
from pulse.accounts.permissions import can as _d_can  # noqa: E402
from pulse.core import views as _d_core  # noqa: E402
from pulse.core.errors import ApplicationError as _DApplicationError  # noqa: E402

from . import analytics as _d_analytics  # noqa: E402
from . import conversion as _d_conversion  # noqa: E402
from . import routing as _d_routing  # noqa: E402
from .filtersets import AssignmentRuleFilterSet  # noqa: E402
from .forms import AssignmentRuleForm, LeadAnalyticsForm, LeadConvertForm  # noqa: E402
from .models import AssignmentRule  # noqa: E402
from .models import Lead as _DLead  # noqa: E402


class RoutingAdminMixin:
    """The routing settings are for those who manage settings (owners and admins)."""

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not _d_can(request.user, "manage_settings", AssignmentRule)
        ):
            raise _DPermissionDenied(_d("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)


def _d_wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


class AssignmentRuleListView(RoutingAdminMixin, _d_core.RecordListView):
    """The routing page: rules in evaluation order (drag to reorder), and who takes leads."""

    model = AssignmentRule
    filterset_class = AssignmentRuleFilterSet
    ordering_fields = ("position", "name", "created_at")
    default_ordering = "position"
    paginate_by = 100
    select_related = ("team", "last_assigned")
    prefetch_related = ("users",)
    template_name = "leads/assignmentrule_list.html"
    partial_template_name = "leads/partials/assignmentrule_table.html"

    def get_context_data(self, **kwargs):
        from pulse.accounts.models import Membership

        context = super().get_context_data(**kwargs)
        user = self.request.user
        rules = list(context["object_list"])
        people = {}
        for rule in rules:
            people.update({u.pk: u for u in rule.users.all()})
        missing = {
            int(v) for r in rules for v in (r.territories or {}).values() if int(v) not in people
        }
        if missing:
            from pulse.accounts.models import User

            people.update({u.pk: u for u in User.objects.filter(pk__in=missing)})
        for rule in rules:
            rule.territory_rows = [
                (key, people.get(int(uid))) for key, uid in (rule.territories or {}).items()
            ]
        context.update(
            rules=rules,
            can_create=_d_can(user, "create", AssignmentRule),
            can_edit=_d_can(user, "edit", AssignmentRule),
            can_delete=_d_can(user, "delete", AssignmentRule),
            memberships=list(
                Membership.objects.restrict(user, "view")
                .select_related("user")
                .filter(user__is_active=True)
                .order_by("user__full_name", "user__email")[:200]
            ),
        )
        return context


class AssignmentRuleFormView(RoutingAdminMixin, _d_core.RecordFormView):
    model = AssignmentRule
    form_class = AssignmentRuleForm
    template_name = "leads/assignmentrule_form.html"

    def get_success_url(self, saved) -> str:
        return _d_reverse("leads:assignmentrule_list")


class AssignmentRuleCreateView(AssignmentRuleFormView):
    success_message = _d_lazy("Assignment rule created.")

    def perform(self, form, instance):
        return _d_routing.assignmentrule_create(
            org=self.request.organization, actor=self.request.user, **form.service_fields()
        )


class AssignmentRuleUpdateView(AssignmentRuleFormView):
    success_message = _d_lazy("Assignment rule saved.")

    def perform(self, form, instance):
        return _d_routing.assignmentrule_update(
            rule=instance,
            actor=self.request.user,
            expected_version=form.expected_version,
            **form.service_fields(),
        )


class AssignmentRuleDeleteView(RoutingAdminMixin, _d_core.RecordDeleteView):
    model = AssignmentRule
    success_url_name = "leads:assignmentrule_list"

    @staticmethod
    def delete_service(*, instance, actor):
        return _d_routing.assignmentrule_delete(rule=instance, actor=actor)


class AssignmentRuleToggleView(RoutingAdminMixin, _d_core.RecordPermissionMixin, _DView):
    """POST: switch a rule on or off."""

    model = AssignmentRule
    action = "edit"

    def post(self, request, pk):
        rule = self.get_queryset().filter(pk=pk).first()
        if rule is None:
            raise _DHttp404
        try:
            rule = _d_routing.assignmentrule_update(
                rule=rule, actor=request.user, active=not rule.active
            )
        except _DApplicationError as exc:
            _d_messages.error(request, exc.message)
        else:
            _d_messages.success(
                request,
                (_d("“%(name)s” is on.") if rule.active else _d("“%(name)s” is off."))
                % {"name": rule.name},
            )
        return _DRedirect(_d_reverse("leads:assignmentrule_list"))


class AssignmentRuleReorderView(RoutingAdminMixin, _d_core.RecordPermissionMixin, _DView):
    """POST ``id`` repeated in the new order (the routing page's drag and drop)."""

    model = AssignmentRule
    action = "edit"

    def post(self, request):
        ids = request.POST.getlist("id")
        try:
            _d_routing.assignmentrule_reorder(org=request.organization, actor=request.user, ids=ids)
        except _DApplicationError as exc:
            if _d_wants_json(request):
                return _DJsonResponse({"errors": exc.errors}, status=400)
            _d_messages.error(request, exc.message)
        else:
            if _d_wants_json(request):
                return _DJsonResponse({"ok": True, "ids": ids})
            _d_messages.success(request, _d("Rule order saved."))
        return _DRedirect(_d_reverse("leads:assignmentrule_list"))


class MemberAvailabilityView(_d_core.OrganizationRequiredMixin, _DView):
    """POST ``available`` (on/off): whether a member takes new leads (admins for anyone,
    members for themselves)."""

    model = _DMembership  # the id in the URL is a membership's

    def post(self, request, pk):
        from pulse.accounts.models import Membership
        from pulse.core.errors import PermissionDeniedError

        from .services import membership_set_available

        membership = Membership.objects.restrict(request.user, "view").filter(pk=pk).first()
        if membership is None:
            raise _DHttp404
        available = request.POST.get("available") in ("on", "true", "1", "yes")
        try:
            membership = membership_set_available(
                membership=membership, actor=request.user, available=available
            )
        except PermissionDeniedError as exc:
            raise _DPermissionDenied(exc.message) from None
        except _DApplicationError as exc:
            _d_messages.error(request, exc.message)
        else:
            _d_messages.success(
                request,
                (
                    _d("%(name)s takes new leads.")
                    if membership.available_for_assignment
                    else _d("%(name)s is skipped by the assignment rules.")
                )
                % {"name": membership.user},
            )
        if _d_can(request.user, "manage_settings", AssignmentRule):
            return _DRedirect(_d_reverse("leads:assignmentrule_list"))
        return _DRedirect(_d_reverse("leads:lead_list"))


def _d_lead_or_404(request, pk, action: str):
    lead = (
        _DLead.objects.restrict(request.user, action)
        .select_related("stage", "contact", "contact__company", "assigned_to")
        .filter(pk=pk)
        .first()
    )
    if lead is None:
        raise _DHttp404
    return lead


class LeadRouteView(_d_core.RecordPermissionMixin, _DView):
    """POST: run the assignment rules again for one lead."""

    model = _DLead
    action = "edit"

    def post(self, request, pk):
        lead = _d_lead_or_404(request, pk, "edit")
        try:
            decision = _d_routing.lead_reroute(lead=lead, actor=request.user)
        except _DApplicationError as exc:
            _d_messages.error(request, exc.message)
        else:
            if decision.user is None:
                _d_messages.warning(
                    request, _d("The owner stays as it was. %(why)s") % {"why": decision.reason}
                )
            else:
                _d_messages.success(request, decision.reason)
        return _DRedirect(lead.get_absolute_url())


def _d_require_opportunity_create(user) -> None:
    from pulse.opportunities.models import Opportunity

    if not _d_can(user, "create", Opportunity):
        raise _DApplicationError(
            errors={"create_opportunity": [_d("Your role does not allow creating opportunities.")]}
        )


class LeadConvertView(_d_core.RecordPermissionMixin, _DTemplateView):
    """The convert page: the contact and company the lead would become, with look-alikes
    to reuse instead, then one POST converts (or says clearly why not)."""

    model = _DLead
    action = "edit"
    template_name = "leads/lead_convert.html"

    def dispatch(self, request, *args, **kwargs):
        from pulse.contacts.models import Contact

        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not _d_can(request.user, "create", Contact)
        ):
            raise _DPermissionDenied(_d("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)

    def _context(self, lead, form=None, error=""):
        proposal = None
        if not lead.is_converted:
            proposal = _d_conversion.conversion_proposal(lead=lead, user=self.request.user)
        if form is None and proposal is not None:
            form = LeadConvertForm(request=self.request, proposal=proposal, lead=lead)
        return {
            "lead": lead,
            "object": lead,
            "proposal": proposal,
            "form": form,
            "error": error,
            "already_converted": (
                _d_conversion.already_converted_message(lead) if lead.is_converted else ""
            ),
        }

    def get(self, request, pk):
        lead = _d_lead_or_404(request, pk, "edit")
        return self.render_to_response(self._context(lead))

    def post(self, request, pk):
        from pulse.contacts.models import Company, Contact

        lead = _d_lead_or_404(request, pk, "edit")
        form = LeadConvertForm(data=request.POST, request=request)
        if form.is_valid():
            try:
                kwargs = form.service_kwargs(
                    contacts=Contact.objects.restrict(request.user, "view"),
                    companies=Company.objects.restrict(request.user, "view"),
                )
                if kwargs.get("create_opportunity"):
                    _d_require_opportunity_create(request.user)
                result = _d_conversion.lead_convert(lead=lead, actor=request.user, **kwargs)
            except _DValidationError as exc:
                form.add_error(None, exc)
            except _DApplicationError as exc:
                form.add_application_error(exc)
            else:
                _d_messages.success(
                    request,
                    _d("Converted: %(contact)s%(company)s%(opportunity)s.")
                    % {
                        "contact": result.contact,
                        "company": f" · {result.company}" if result.company else "",
                        "opportunity": f" · {result.opportunity}" if result.opportunity else "",
                    },
                )
                if result.opportunity is not None:
                    return _DRedirect(result.opportunity.get_absolute_url())
                return _DRedirect(result.lead.get_absolute_url())
        lead.refresh_from_db()
        context = self._context(lead, form=form)
        return self.render_to_response(context, status=400)


class LeadAnalyticsView(_d_core.RecordPermissionMixin, _DTemplateView):
    """Conversion analytics over a date range: charts and the numbers behind them."""

    model = _DLead
    action = "view"
    template_name = "leads/lead_analytics.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = LeadAnalyticsForm(self.request.GET or None)
        if form.is_bound and form.is_valid():
            date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        else:
            date_from, date_to = _d_analytics.default_range()
            if not form.is_bound:
                form = LeadAnalyticsForm(initial={"date_from": date_from, "date_to": date_to})
        data = _d_analytics.conversion_analytics(
            user=self.request.user, date_from=date_from, date_to=date_to
        )
        context.update(form=form, data=data)
        return context

    def render_to_response(self, context, **kwargs):
        form = context["form"]
        if form.is_bound and not form.is_valid():
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)
