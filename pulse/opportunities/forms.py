"""Forms of opportunities (validation stays in the services; these parse and render)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from pulse.contacts.forms import BulkActionForm, RecordForm
from pulse.contacts.widgets import RemoteSelect
from pulse.core.currencies import CURRENCY_CHOICES
from pulse.core.forms import ServiceForm, TenantModelForm

from .models import (
    ContactRole,
    LossReason,
    Opportunity,
    OpportunityLineItem,
    Pipeline,
    Quota,
    QuotaMetric,
    QuotaPeriod,
    Stage,
)
from .selectors import pipelines_of, stage_in_org

# --- opportunity forms (A) ---


def stage_choices(org, *, blank: str | None = None) -> list:
    """Stages grouped by pipeline (``<optgroup data-pipeline>``), from the per-request read."""
    pipelines = pipelines_of(org)
    choices: list = [("", blank)] if blank is not None else []
    for pipeline in pipelines:
        choices.append((pipeline.name, [(str(s.pk), s.name) for s in pipeline.stage_list]))
    return choices


def _pipeline_choices(org) -> list:
    return [(str(p.pk), p.name) for p in pipelines_of(org)]


class StageSelect(forms.Select):
    """A stage select whose options carry their pipeline (``data-pipeline``) so the page
    offers only the chosen pipeline's stages."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        stage = getattr(self, "stages", {}).get(str(value))
        if stage is not None:
            option["attrs"]["data-pipeline"] = str(stage.pipeline_id)
            option["attrs"]["data-probability"] = str(stage.probability)
            option["attrs"]["data-type"] = stage.type
        return option


class _PipelineStageMixin:
    """``pipeline`` and ``stage`` as choices read once per request (``pipelines_of``),
    turned back into records in ``clean``; an unknown id is a field error."""

    def _setup_pipeline_stage(self, *, stage_blank):
        org = self.request.organization
        stages = {str(s.pk): s for p in pipelines_of(org) for s in p.stage_list}
        self.fields["pipeline"].choices = _pipeline_choices(org)
        self.fields["stage"].choices = stage_choices(org, blank=stage_blank)
        self.fields["stage"].widget.stages = stages
        self.fields["pipeline"].widget.attrs["data-pipeline-select"] = ""
        self.fields["stage"].widget.attrs["data-stage-select"] = ""

    def _revalidate(self):
        """The base form validated while it was built, before these choices existed:
        forget that result (and its red borders) so validation sees the real choices."""
        if not self.is_bound:
            return
        self._errors = None
        for name, field in self.fields.items():
            css = field.widget.attrs.get("class", "").replace(" is-invalid", "")
            field.widget.attrs["class"] = css + (" is-invalid" if name in self.errors else "")

    def _clean_pipeline_stage(self, data):
        org = self.request.organization
        pipeline_id = data.get("pipeline")
        stage_id = data.get("stage")
        pipeline = next((p for p in pipelines_of(org) if str(p.pk) == str(pipeline_id)), None)
        stage = stage_in_org(org, stage_id) if stage_id else None
        data["pipeline"] = pipeline
        data["stage"] = stage
        return data


class OpportunityForm(_PipelineStageMixin, RecordForm):
    """A deal's full form: what and with whom, pipeline and stage, money, closing, owner.

    Choosing another stage here moves the deal like the board does (a won stage needs the
    close date, a lost one the reason). An empty probability follows the stage's default.
    When the deal has line items they set its value, so the value field is not offered.
    """

    pipeline = forms.ChoiceField(label=_("pipeline"), required=False)
    stage = forms.ChoiceField(
        label=_("stage"),
        required=False,
        widget=StageSelect,
        help_text=_("Empty: the pipeline's first open stage."),
    )
    currency = forms.ChoiceField(label=_("currency"), required=False)
    probability = forms.IntegerField(
        label=_("probability"),
        required=False,
        help_text=_("Percent, 0–100. Empty: the stage's default."),
        widget=forms.NumberInput(attrs={"step": 1}),
    )
    stage_notes = forms.CharField(
        label=_("Notes on the stage change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    fieldsets = [
        (_("Deal"), ["name", "pipeline", "stage", "stage_notes", "description"]),
        (_("With"), ["contact", "company", "source"]),
        (
            _("Value and forecast"),
            ["value", "currency", "probability", "expected_close_date", "forecast_category"],
        ),
        (_("Closing"), ["actual_close_date", "loss_reason", "competitor"]),
        (_("Owner"), ["assigned_to", "tags"]),
    ]

    class Meta:
        model = Opportunity
        fields = [
            "name",
            "description",
            "contact",
            "company",
            "source",
            "value",
            "expected_close_date",
            "forecast_category",
            "actual_close_date",
            "loss_reason",
            "competitor",
            "assigned_to",
            "tags",
        ]
        widgets = {
            "contact": RemoteSelect(url_name="contacts:contact_options"),
            "company": RemoteSelect(url_name="contacts:company_options"),
            "description": forms.Textarea(attrs={"rows": 3}),
            "expected_close_date": forms.DateInput(attrs={"type": "date"}),
            "actual_close_date": forms.DateInput(attrs={"type": "date"}),
            "tags": forms.SelectMultiple(attrs={"data-tom-select": ""}),
            "value": forms.NumberInput(attrs={"step": "0.01"}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.leads.models import LeadSource

        org = request.organization
        instance = self.instance
        adding = instance._state.adding
        self._setup_pipeline_stage(stage_blank=_("First open stage") if adding else None)
        self.fields["currency"].choices = [("", "—"), *CURRENCY_CHOICES]
        self.fields["currency"].help_text = _("Empty: %(currency)s.") % {
            "currency": org.default_currency
        }
        self.fields["source"] = forms.ChoiceField(
            label=_("source"),
            required=False,
            choices=[("", "—"), *LeadSource.choices],
            widget=forms.Select(attrs={"class": "form-select"}),
        )
        self.fields["loss_reason"].queryset = LossReason.objects.restrict(
            request.user, "view"
        ).filter(active=True)
        self.fields["loss_reason"].help_text = _("For a lost stage.")
        self.fields["actual_close_date"].help_text = _("For a won stage (lost: default today).")
        self.fields["value"].required = False  # empty: zero (or the lines' total)
        if adding:
            self.fields.pop("stage_notes")
            self.fields["forecast_category"].required = False
            self.fields["forecast_category"].initial = "pipeline"
        else:
            self.initial["pipeline"] = str(instance.pipeline_id)
            self.initial["stage"] = str(instance.stage_id)
            self.initial["currency"] = instance.currency
            # Not set by hand: left empty, it keeps following the stage.
            self.initial["probability"] = (
                instance.probability if instance.probability_is_custom else None
            )
            self.fields["probability"].help_text = _(
                "Percent, 0–100. Empty: the stage's default (%(default)s%%)."
            ) % {"default": instance.stage.probability}
            if OpportunityLineItem.objects.filter(opportunity_id=instance.pk).exists():
                # The lines set the value (opportunity_set_line_items).
                self.fields.pop("value")
                self.has_line_items = True
        for name in ("pipeline", "stage", "currency"):
            self.fields[name].widget.attrs["class"] = "form-select"
        self._revalidate()

    has_line_items = False

    def clean(self):
        data = super().clean()
        return self._clean_pipeline_stage(data)

    def service_fields(self) -> dict:
        data = super().service_fields()
        adding = self.instance._state.adding
        cleaned = self.cleaned_data
        for name in ("pipeline", "stage"):
            if cleaned.get(name) is not None:
                data[name] = cleaned[name]
        if not adding and "pipeline" in data and "stage" not in data:
            data.pop("pipeline")  # a pipeline change needs a stage of it
        if not adding and data.get("stage") is not None and "pipeline" not in data:
            data["pipeline"] = data["stage"].pipeline
        if cleaned.get("currency"):
            data["currency"] = cleaned["currency"]
        probability = cleaned.get("probability")
        if adding:
            if probability is not None:
                data["probability"] = probability
            if not data.get("forecast_category"):
                data.pop("forecast_category", None)
        else:
            data["probability"] = probability  # None: back to the stage's default
        if "value" in data and data["value"] is None:
            if adding:
                data.pop("value")
            else:
                data["value"] = Decimal("0")
        if cleaned.get("stage_notes"):
            data["stage_notes"] = cleaned["stage_notes"]
        data["source"] = cleaned.get("source") or ""
        return data


class QuickOpportunityForm(_PipelineStageMixin, RecordForm):
    """The short "New deal" dialog: name, company, contact, value, stage, close date."""

    pipeline = forms.ChoiceField(label=_("pipeline"), required=False)
    stage = forms.ChoiceField(label=_("stage"), required=False, widget=StageSelect)
    currency = forms.ChoiceField(label=_("currency"), required=False)

    class Meta:
        model = Opportunity
        fields = ["name", "company", "contact", "value", "expected_close_date", "assigned_to"]
        widgets = {
            "contact": RemoteSelect(url_name="contacts:contact_options"),
            "company": RemoteSelect(url_name="contacts:company_options"),
            "expected_close_date": forms.DateInput(attrs={"type": "date"}),
            "value": forms.NumberInput(attrs={"step": "0.01"}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.contacts.forms import _only_required_custom_fields

        self._setup_pipeline_stage(stage_blank=_("First open stage"))
        self.fields["value"].required = False
        pipelines = pipelines_of(request.organization)
        if len(pipelines) <= 1:
            self.fields["pipeline"].widget = forms.HiddenInput()
        self.fields["currency"].choices = [("", request.organization.default_currency)] + [
            c for c in CURRENCY_CHOICES if c[0] != request.organization.default_currency
        ]
        for name in ("pipeline", "stage", "currency"):
            if not self.fields[name].widget.is_hidden:
                self.fields[name].widget.attrs["class"] = "form-select"
        _only_required_custom_fields(self)
        # Order: what, with whom, how much, where, when, who.
        order = [
            "name",
            "company",
            "contact",
            "value",
            "currency",
            "pipeline",
            "stage",
            "expected_close_date",
            "assigned_to",
        ]
        self.order_fields(order)
        self._revalidate()

    def clean(self):
        return self._clean_pipeline_stage(super().clean())

    def service_fields(self) -> dict:
        data = super().service_fields()
        for name in ("pipeline", "stage"):
            if self.cleaned_data.get(name) is not None:
                data[name] = self.cleaned_data[name]
        if self.cleaned_data.get("currency"):
            data["currency"] = self.cleaned_data["currency"]
        if data.get("value") is None:
            data.pop("value", None)
        if data.get("assigned_to") is None:
            data.pop("assigned_to", None)  # the dialog's owner left empty: you
        return data


class OpportunityMoveForm(forms.Form):
    """What a move sends (a board drop, the detail page's stage control): the stage, the
    record's version, and the close facts a won or lost stage asks for."""

    stage = forms.UUIDField()
    version = forms.IntegerField(required=False, min_value=0)
    actual_close_date = forms.DateField(required=False)
    loss_reason = forms.UUIDField(required=False)
    competitor = forms.CharField(required=False, max_length=200)
    notes = forms.CharField(required=False, max_length=5000)

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org

    def clean_stage(self):
        stage = stage_in_org(self.org, self.cleaned_data["stage"])
        if stage is None:
            raise forms.ValidationError(_("This stage does not exist (any more)."))
        return stage

    def clean_loss_reason(self):
        value = self.cleaned_data.get("loss_reason")
        if value is None:
            return None
        reason = LossReason.objects.filter(pk=value, active=True).first()
        if reason is None:
            raise forms.ValidationError(_("Choose one of the offered loss reasons."))
        return reason


class LineItemForm(ServiceForm):
    """One row of the line items editor (``id`` empty: a new line)."""

    line_total = None  # the saved line's total, shown beside it

    id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    product_name = forms.CharField(label=_("product"), max_length=200)
    quantity = forms.DecimalField(label=_("quantity"), max_digits=12, decimal_places=2, initial=1)
    unit_price = forms.DecimalField(label=_("unit price"), max_digits=14, decimal_places=2)
    discount = forms.DecimalField(
        label=_("discount %"), max_digits=5, decimal_places=2, required=False, initial=0
    )

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        for field in self.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs.update(
                    {"class": "form-control form-control-sm", "aria-label": str(field.label)}
                )
        for name in ("quantity", "unit_price", "discount"):
            self.fields[name].widget.attrs["step"] = "0.01"


class _LineItemBaseFormSet(forms.BaseFormSet):
    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"request": self.request}

    def items(self) -> list[dict]:
        """The lines to keep, in order, as ``opportunity_set_line_items`` takes them."""
        items = []
        for form in self.forms:
            if not form.has_changed() and not form.cleaned_data.get("id"):
                continue  # the empty "add" row left blank
            if self.can_delete and self._should_delete_form(form):
                continue
            data = dict(form.cleaned_data)
            data.pop("DELETE", None)
            if data.get("discount") is None:
                data["discount"] = 0
            items.append(data)
        return items


LineItemFormSet = forms.formset_factory(
    LineItemForm, formset=_LineItemBaseFormSet, extra=1, can_delete=True, max_num=200
)


class ContactRoleForm(ServiceForm):
    """Put a contact on the deal with a role (or change their role)."""

    contact = forms.ModelChoiceField(
        queryset=None, widget=RemoteSelect(url_name="contacts:contact_options"), label=_("contact")
    )
    role = forms.ChoiceField(choices=ContactRole.choices, label=_("role"))

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.contacts.models import Contact

        self.fields["contact"].queryset = Contact.objects.restrict(request.user, "view")
        self.fields["contact"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["role"].widget.attrs["class"] = "form-select form-select-sm"


class OpportunityBulkActionForm(BulkActionForm):
    """The list's bulk bar: assign, tag, untag, delete, and move to a stage (one pipeline)."""

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, with_stage=True, **kwargs)
        self.fields["lifecycle_stage"].choices = stage_choices(request.organization)
        self.fields["action"].choices = [
            (value, _("Move to stage") if value == "stage" else label)
            for value, label in self.ACTIONS
        ]


# --- settings and quota forms (B) ---


def _bootstrap(form, small: bool = False) -> None:
    size = " form-control-sm" if small else ""
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.HiddenInput):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select):
            widget.attrs["class"] = "form-select" + (" form-select-sm" if small else "")
        elif name == "color":
            widget.attrs["class"] = "form-control form-control-color" + size
        else:
            widget.attrs["class"] = "form-control" + size


class _VersionedSettingsForm(TenantModelForm):
    """A settings record's form: Bootstrap classes and the version it was opened at."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    small = False

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if not self.instance._state.adding:
            self.fields["expected_version"].initial = self.instance.version
        _bootstrap(self, small=self.small)


class PipelineForm(_VersionedSettingsForm):
    """A pipeline's name and whether new deals go to it by default."""

    class Meta:
        model = Pipeline
        fields = ["name", "is_default"]


class StageForm(_VersionedSettingsForm):
    """One stage: name, type, default probability, rotting threshold, colour.

    The pipeline is chosen when the stage is added and fixed afterwards."""

    small = True

    class Meta:
        model = Stage
        fields = ["pipeline", "name", "type", "probability", "rotting_days", "color"]
        widgets = {
            "color": forms.TextInput(attrs={"type": "color"}),
            "probability": forms.NumberInput(attrs={"min": 0, "max": 100}),
            "rotting_days": forms.NumberInput(attrs={"min": 1}),
        }

    def __init__(self, *args, request, pipeline=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if not self.instance._state.adding:
            del self.fields["pipeline"]
        elif pipeline is not None:  # the settings page's "add a stage" row of one pipeline
            self.fields["pipeline"].initial = pipeline.pk
            self.fields["pipeline"].widget = forms.HiddenInput()
        else:
            self.fields["pipeline"].queryset = self.fields["pipeline"].queryset.order_by(
                "position", "name"
            )


class LossReasonForm(_VersionedSettingsForm):
    """A loss reason's name and whether it is still offered."""

    small = True

    class Meta:
        model = LossReason
        fields = ["name", "active"]


class QuotaForm(_VersionedSettingsForm):
    """One quota: whose (a user or a team), which period, in what, how much."""

    class Meta:
        model = Quota
        fields = ["user", "team", "period", "period_start", "metric", "target"]
        widgets = {"period_start": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.accounts.selectors import organization_members

        self.fields["user"].queryset = organization_members(request.organization)
        self.fields["period_start"].help_text = _(
            "Any day of the period: it is moved to the period's first day (quarters and years "
            "follow the fiscal year)."
        )


class QuotaCellForm(ServiceForm):
    """One cell of the quota grid: ``owner`` is ``user:<id>`` or ``team:<id>``; an empty
    target removes the quota."""

    owner = forms.CharField(max_length=60)
    period = forms.ChoiceField(choices=QuotaPeriod.choices)
    period_start = forms.DateField()
    metric = forms.ChoiceField(choices=QuotaMetric.choices)
    target = forms.DecimalField(required=False, max_digits=14, decimal_places=2, label=_("target"))

    def clean_owner(self):
        from django.core.exceptions import ValidationError

        from pulse.accounts.models import Team
        from pulse.accounts.selectors import organization_members

        kind, _sep, pk = self.cleaned_data["owner"].partition(":")
        org = self.request.organization
        found = None
        try:
            if kind == "user" and pk.isdigit():
                found = {"user": organization_members(org).filter(pk=int(pk)).first()}
            elif kind == "team":
                team = Team.objects.restrict(self.request.user, "view").filter(pk=pk).first()
                found = {"team": team}
        except ValidationError:  # not a UUID
            found = None
        if not found or not next(iter(found.values())):
            raise forms.ValidationError(_("Choose a member or a team of this organization."))
        return found


class QuotaGridForm(ServiceForm):
    """Which grid to show: period kind, fiscal year, metric."""

    period = forms.ChoiceField(choices=QuotaPeriod.choices, initial=QuotaPeriod.QUARTER)
    year = forms.IntegerField(min_value=2000, max_value=2100)
    metric = forms.ChoiceField(choices=QuotaMetric.choices, initial=QuotaMetric.REVENUE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].initial = datetime.date.today().year
        self.fields["year"].label = _("Fiscal year")
        _bootstrap(self, small=True)
