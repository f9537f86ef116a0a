"""Forms of leads and their configuration."""

from __future__ import annotations

# --- leads (A) ---
from django import forms  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from pulse.contacts.forms import RecordForm  # noqa: E402
from pulse.contacts.widgets import RemoteSelect  # noqa: E402
from pulse.core.forms import ServiceForm, TenantModelForm  # noqa: E402

from .models import Lead, LeadSettings, LeadStage  # noqa: E402

LEAD_FORM_FIELDS = [
    "title",
    "description",
    "stage",
    "unqualified_reason",
    "contact",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "website",
    "job_title",
    "industry",
    "company_size",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "value",
    "currency",
    "probability",
    "expected_close_date",
    "assigned_to",
    "tags",
]


class LeadForm(RecordForm):
    """A lead's full form: the lead, who it is, where it came from, its value and owner.

    Changing the stage here moves the lead like the board does (notes and, for a stage
    that asks, the reason are recorded in its history).
    """

    stage_notes = forms.CharField(
        label=_("Notes on the stage change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")
    # Declared here: the base form validates while it is built (it marks invalid fields).
    stage = forms.ModelChoiceField(
        queryset=LeadStage.objects.none(),
        required=False,
        label=_("stage"),
        help_text=_("Empty: the first open stage."),
    )

    fieldsets = [
        (_("Lead"), ["title", "stage", "unqualified_reason", "stage_notes", "description"]),
        (
            _("Person and company"),
            [
                "contact",
                "first_name",
                "last_name",
                "email",
                "phone",
                "job_title",
                "company_name",
                "website",
                "industry",
                "company_size",
                "country",
            ],
        ),
        (_("Source"), ["source", "utm_source", "utm_medium", "utm_campaign"]),
        (
            _("Value and owner"),
            ["value", "currency", "probability", "expected_close_date", "assigned_to", "tags"],
        ),
    ]

    class Meta:
        model = Lead
        fields = LEAD_FORM_FIELDS
        widgets = {
            "contact": RemoteSelect(url_name="contacts:contact_options"),
            "description": forms.Textarea(attrs={"rows": 3}),
            "expected_close_date": forms.DateInput(attrs={"type": "date"}),
            "tags": forms.SelectMultiple(attrs={"data-tom-select": ""}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from .selectors import lead_stages

        self.fields["unqualified_reason"].help_text = _(
            "Needed when the stage asks for a reason (e.g. unqualified)."
        )
        self.fields["currency"].help_text = _("ISO 4217, e.g. EUR. Empty: %(currency)s.") % {
            "currency": request.organization.default_currency
        }
        self.fields["assigned_to"].help_text = _("Empty: the assignment rules decide.")
        if self.instance._state.adding:
            lead_stages(org=request.organization)
            self.fields.pop("stage_notes")
            self.fields["assigned_to"].initial = None

    def clean(self):
        data = super().clean()
        if not data.get("stage"):
            if self.instance._state.adding:
                from .services import _first_open_stage

                data["stage"] = _first_open_stage(self.request.organization)
            else:
                data["stage"] = self.instance.stage  # left empty: stays where it is
        return data

    def service_fields(self) -> dict:
        data = super().service_fields()
        if data.get("stage") is None:
            data.pop("stage", None)
        if self.instance._state.adding and data.get("assigned_to") is None:
            data.pop("assigned_to", None)  # no owner chosen: routing picks one
        if "stage_notes" in self.fields and self.cleaned_data.get("stage_notes"):
            data["stage_notes"] = self.cleaned_data["stage_notes"]
        return data


class QuickLeadForm(RecordForm):
    """The short "New lead" dialog: what, who, company, value and owner."""

    class Meta:
        model = Lead
        fields = ["title", "first_name", "last_name", "email", "company_name", "value"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.contacts.forms import _only_required_custom_fields

        _only_required_custom_fields(self)

    def service_fields(self) -> dict:
        data = super().service_fields()
        data["source"] = "manual"
        return data


class LeadMoveForm(ServiceForm):
    """Move a lead to another stage (the board's drop, the detail page's stage buttons)."""

    stage = forms.CharField(max_length=40)
    notes = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    reason = forms.CharField(required=False, max_length=300)


class LeadStageForm(TenantModelForm):
    """One stage of the pipeline: name, key (the API's name for it), kind, colour, reason."""

    key = forms.SlugField(
        label=_("key"),
        max_length=40,
        required=False,
        help_text=_("Used by the API; empty: made from the name."),
    )

    class Meta:
        model = LeadStage
        fields = ["name", "key", "kind", "color", "requires_reason"]
        widgets = {"color": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
            elif isinstance(field.widget, forms.Select):
                field.widget.attrs["class"] = "form-select form-select-sm"
            elif name == "color":
                field.widget.attrs["class"] = "form-control form-control-sm form-control-color"
            else:
                field.widget.attrs["class"] = "form-control form-control-sm"


class LeadSettingsForm(TenantModelForm):
    """Score bands, engagement half-life and the public forms' flood guard."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = LeadSettings
        fields = [
            "hot_threshold",
            "warm_threshold",
            "decay_half_life_days",
            "form_rate_limit_per_minute",
        ]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.fields["expected_version"].initial = self.instance.version
        for field in self.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs["class"] = "form-control"


# --- web-to-lead forms (B) ---
from .models import WebForm  # noqa: E402


class WebFormForm(RecordForm):
    """The web form designer: settings here, the field rows from the POST.

    Each row of the designer posts ``field_name``, ``field_label`` and ``field_required``
    (a select, so the three lists stay aligned); rows with no field chosen are ignored,
    and the rows' order on the page is the form's order. The service checks the list.
    """

    redirect_url = forms.URLField(
        label=_("redirect to"), required=False, max_length=500, assume_scheme="https"
    )

    class Meta:
        model = WebForm
        fields = [
            "name",
            "submit_label",
            "consent_text",
            "thank_you_message",
            "redirect_url",
            "default_source",
            "default_assigned_to",
            "double_opt_in",
            "active",
        ]
        widgets = {
            "consent_text": forms.Textarea(attrs={"rows": 2}),
            "thank_you_message": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.contacts.forms import _members

        self.fields["default_assigned_to"].queryset = _members(request)
        self.fields["consent_text"].help_text = _(
            "If set, people must tick a box with this text to send the form."
        )
        self.fields["redirect_url"].help_text = _(
            "If set, people go to this page after sending instead of seeing the message."
        )
        self.fields["submit_label"].help_text = _("Empty: “Send”.")
        self.field_rows = self._rows()

    def _rows(self) -> list[dict]:
        if self.is_bound:
            names = self.data.getlist("field_name")
            labels = self.data.getlist("field_label")
            required = self.data.getlist("field_required")
            rows = []
            for i, name in enumerate(names):
                if not name.strip():
                    continue
                rows.append(
                    {
                        "name": name.strip(),
                        "label": labels[i].strip() if i < len(labels) else "",
                        "required": (required[i] if i < len(required) else "") == "1",
                    }
                )
            return rows
        if not self.instance._state.adding:  # a new form already has its UUID
            return list(self.instance.fields or [])
        return [
            {"name": "first_name", "label": str(_("First name")), "required": True},
            {"name": "last_name", "label": str(_("Last name")), "required": False},
            {"name": "email", "label": str(_("Email")), "required": True},
        ]

    def service_fields(self) -> dict:
        data = super().service_fields()
        data.pop("custom_fields", None)
        data["fields"] = self.field_rows
        return data


# --- scoring (C) ---
from pulse.extras.forms import VersionFormMixin  # noqa: E402

from .models import EngagementKind, ScoringRule  # noqa: E402


class ScoringRuleForm(VersionFormMixin, TenantModelForm):
    """A field rule (field, operator, value) or an engagement rule (event), with points."""

    field = forms.ChoiceField(
        label=_("Field"), required=False, widget=forms.Select(attrs={"class": "form-select"})
    )
    event = forms.ChoiceField(
        label=_("Engagement"),
        required=False,
        choices=[("", "—"), *EngagementKind.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    class Meta:
        model = ScoringRule
        fields = ["name", "kind", "field", "operator", "value", "event", "points", "active"]
        widgets = {
            "name": forms.TextInput(attrs={"class": "form-control"}),
            "kind": forms.Select(attrs={"class": "form-select", "data-rule-kind": ""}),
            "operator": forms.Select(attrs={"class": "form-select"}),
            "value": forms.TextInput(attrs={"class": "form-control"}),
            "points": forms.NumberInput(attrs={"class": "form-control", "min": -100, "max": 100}),
            "active": forms.CheckboxInput(attrs={"class": "form-check-input"}),
        }
        help_texts = {
            "value": _("For “is one of”, separate the values with commas."),
            "points": _("From -100 to 100; engagement points fade with the half-life."),
        }

    def __init__(self, *args, **kwargs):
        from .scoring import scoring_field_choices

        super().__init__(*args, **kwargs)
        self.init_version()
        self.fields["field"].choices = [("", "—"), *scoring_field_choices()]
        self.fields["operator"].required = False

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("version", None)
        return data


class LeadProbabilityForm(ServiceForm):
    """A person's probability for a lead (0–100); empty clears it back to the prediction."""

    probability = forms.IntegerField(
        label=_("Probability (%)"),
        required=False,
        min_value=0,
        max_value=100,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm", "min": 0}),
    )
    reason = forms.CharField(
        label=_("Why"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )


# --- routing, conversion (D) ---
import datetime as _d_datetime  # noqa: E402

from django import forms as _d_forms  # noqa: E402
from django.utils.translation import gettext_lazy as _d  # noqa: E402

from pulse.core.forms import ServiceForm as _DServiceForm  # noqa: E402
from pulse.core.forms import TenantModelForm as _DTenantModelForm  # noqa: E402
from pulse.extras.forms import VersionFormMixin as _DVersionFormMixin  # noqa: E402

from .models import AssignmentRule  # noqa: E402


class AssignmentRuleForm(_DVersionFormMixin, _DTenantModelForm):
    """An assignment rule: conditions and territories typed one per line."""

    conditions = _d_forms.CharField(
        label=_d("Conditions"),
        required=False,
        widget=_d_forms.Textarea(attrs={"class": "form-control font-monospace", "rows": 3}),
        help_text=_d(
            "One per line: field operator value, e.g. “country equals BG”, “value gt 5000”, "
            "“source in web_form, event”. Empty: every lead. Fields: %(fields)s. "
            "Operators: %(operators)s."
        ),
    )
    territories = _d_forms.CharField(
        label=_d("Territories"),
        required=False,
        widget=_d_forms.Textarea(attrs={"class": "form-control font-monospace", "rows": 3}),
        help_text=_d(
            "For “by territory or country”: one per line, country code or territory = "
            "member’s email, e.g. “BG = maria@example.com”."
        ),
    )

    class Meta:
        model = AssignmentRule
        fields = ["name", "strategy", "active", "team", "users"]
        widgets = {
            "name": _d_forms.TextInput(attrs={"class": "form-control"}),
            "strategy": _d_forms.Select(attrs={"class": "form-select"}),
            "active": _d_forms.CheckboxInput(attrs={"class": "form-check-input"}),
            "team": _d_forms.Select(attrs={"class": "form-select"}),
            "users": _d_forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
        }

    def __init__(self, *args, **kwargs):
        from pulse.accounts.selectors import organization_members

        from .routing import CONDITION_FIELDS, OPERATORS, format_conditions

        super().__init__(*args, **kwargs)
        self.init_version()
        self.members = list(organization_members(self.request.organization))
        self.fields["users"].queryset = organization_members(self.request.organization)
        self.fields["users"].label_from_instance = lambda u: u.full_name or u.email
        self.fields["conditions"].help_text = self.fields["conditions"].help_text % {
            "fields": ", ".join(CONDITION_FIELDS),
            "operators": ", ".join(OPERATORS),
        }
        if self.instance is not None and not self.instance._state.adding:
            by_id = {str(u.pk): u.email for u in self.members}
            self.fields["conditions"].initial = format_conditions(self.instance.conditions)
            self.fields["territories"].initial = "\n".join(
                f"{key} = {by_id.get(str(user_id), user_id)}"
                for key, user_id in (self.instance.territories or {}).items()
            )
        elif not self.is_bound:
            self.fields["active"].initial = True

    def clean_conditions(self):
        from .routing import parse_conditions

        return parse_conditions(self.cleaned_data.get("conditions", ""))

    def clean_territories(self):
        by_email = {u.email.lower(): u.pk for u in self.members}
        by_id = {str(u.pk): u.pk for u in self.members}
        mapping, unknown = {}, []
        for line in (self.cleaned_data.get("territories") or "").splitlines():
            if not line.strip():
                continue
            key, sep, person = line.partition("=") if "=" in line else line.partition(":")
            key, person = key.strip(), person.strip().lower()
            if not sep or not key or not person:
                raise _d_forms.ValidationError(
                    _d("Write each line as “territory = member’s email”: %(line)s"),
                    params={"line": line.strip()[:80]},
                )
            user_id = by_email.get(person) or by_id.get(person)
            if user_id is None:
                unknown.append(person)
            mapping[key] = user_id
        if unknown:
            raise _d_forms.ValidationError(
                _d("Not a member of this organization: %(people)s"),
                params={"people": ", ".join(unknown)},
            )
        return mapping

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "strategy": data["strategy"],
            "active": data["active"],
            "team": data.get("team"),
            "users": list(data.get("users") or []),
            "conditions": data["conditions"],
            "territories": data["territories"],
        }


class LeadConvertForm(_DServiceForm):
    """The convert page's choices: which contact and company (existing, new, none), and
    whether to open an opportunity (pipeline, open stage, name, value, close date)."""

    contact_choice = _d_forms.CharField(required=False)
    company_choice = _d_forms.CharField(required=False)
    first_name = _d_forms.CharField(label=_d("First name"), max_length=100, required=False)
    last_name = _d_forms.CharField(label=_d("Last name"), max_length=100, required=False)
    email = _d_forms.EmailField(label=_d("Email"), required=False)
    phone = _d_forms.CharField(label=_d("Phone"), max_length=40, required=False)
    title = _d_forms.CharField(label=_d("Job title"), max_length=150, required=False)
    company_name = _d_forms.CharField(label=_d("Company name"), max_length=200, required=False)
    website = _d_forms.CharField(label=_d("Website"), max_length=300, required=False)
    create_opportunity = _d_forms.BooleanField(
        label=_d("Create an opportunity"),
        required=False,
        widget=_d_forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    pipeline = _d_forms.ChoiceField(
        label=_d("Pipeline"),
        required=False,
        widget=_d_forms.Select(attrs={"class": "form-select", "data-pipeline-select": ""}),
    )
    stage = _d_forms.ChoiceField(label=_d("Stage"), required=False)
    opportunity_name = _d_forms.CharField(
        label=_d("Opportunity name"), max_length=200, required=False
    )
    value = _d_forms.DecimalField(
        label=_d("Value"), max_digits=14, decimal_places=2, required=False
    )
    expected_close_date = _d_forms.DateField(
        label=_d("Expected close date"),
        required=False,
        widget=_d_forms.DateInput(attrs={"type": "date"}),
    )

    OPPORTUNITY_FIELDS = ("pipeline", "stage", "opportunity_name", "value", "expected_close_date")

    def __init__(self, *args, proposal=None, lead=None, **kwargs):
        from pulse.opportunities.forms import StageSelect
        from pulse.opportunities.models import StageType
        from pulse.opportunities.selectors import pipelines_of

        super().__init__(*args, **kwargs)
        # Open stages only (a converted lead's deal is not won or lost yet), grouped by
        # pipeline; the page's script offers only the chosen pipeline's stages.
        org = self.request.organization
        pipelines = pipelines_of(org)
        self._pipelines = {str(p.pk): p for p in pipelines}
        self._stages = {
            str(s.pk): s for p in pipelines for s in p.stage_list if s.type == StageType.OPEN
        }
        self.fields["pipeline"].choices = [(str(p.pk), p.name) for p in pipelines]
        self.fields["stage"].choices = [("", _d("First open stage"))] + [
            (p.name, [(str(s.pk), s.name) for s in p.stage_list if str(s.pk) in self._stages])
            for p in pipelines
        ]
        self.fields["stage"].widget = StageSelect(
            attrs={"class": "form-select", "data-stage-select": ""},
            choices=self.fields["stage"].choices,
        )
        self.fields["stage"].widget.stages = self._stages
        for name, f in self.fields.items():
            if not name.endswith("_choice") and name not in (
                "create_opportunity",
                "pipeline",
                "stage",
            ):
                f.widget.attrs.setdefault("class", "form-control")
        if lead is not None and not self.is_bound:
            default = next(
                (p for p in pipelines if p.is_default), pipelines[0] if pipelines else None
            )
            self.initial.update(
                pipeline=str(default.pk) if default else "",
                opportunity_name=lead.title,
                value=lead.value,
                expected_close_date=lead.expected_close_date,
            )
        if proposal is not None and not self.is_bound:
            contact = proposal.suggested_contact
            company = proposal.suggested_company
            self.initial.update(
                contact_choice=str(contact.pk) if contact else "new",
                company_choice=str(company.pk)
                if company
                else ("new" if proposal.company_fields else "none"),
                **{k: v for k, v in proposal.contact_fields.items() if k in self.fields},
                company_name=proposal.company_fields.get("name", ""),
                website=proposal.company_fields.get("website", ""),
            )

    def service_kwargs(self, *, contacts, companies) -> dict:
        """``lead_convert`` keywords from the choices; ``contacts``/``companies`` are the
        querysets a chosen id must come from (what the user may see)."""
        data = self.cleaned_data
        kwargs: dict = {"match_existing": False}
        contact_choice = (data.get("contact_choice") or "new").strip()
        if contact_choice == "new":
            kwargs["contact_fields"] = {
                k: data[k] for k in ("first_name", "last_name", "email", "phone", "title")
            }
        else:
            kwargs["contact"] = _d_pick(contacts, contact_choice, "contact_choice")
        company_choice = (data.get("company_choice") or "none").strip()
        if company_choice == "none":
            kwargs["create_company"] = False
        elif company_choice == "new":
            if not data.get("company_name"):
                raise _d_forms.ValidationError({"company_name": _d("Give the new company a name.")})
            kwargs["company_fields"] = {"name": data["company_name"], "website": data["website"]}
        else:
            kwargs["company"] = _d_pick(companies, company_choice, "company_choice")
        if data.get("create_opportunity"):
            kwargs.update(
                create_opportunity=True,
                pipeline=self._pipelines.get(data.get("pipeline") or ""),
                stage=self._stages.get(data.get("stage") or ""),
                opportunity_name=data.get("opportunity_name") or "",
                value=data.get("value"),
                expected_close_date=data.get("expected_close_date"),
            )
        return kwargs


def _d_pick(queryset, pk, field):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, _d_forms.ValidationError):
        raise _d_forms.ValidationError({field: _d("Choose one of the records shown.")}) from None


class LeadAnalyticsForm(_d_forms.Form):
    """The analytics page's date range (default: the last twelve months)."""

    date_from = _d_forms.DateField(
        label=_d("From"),
        required=False,
        widget=_d_forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    date_to = _d_forms.DateField(
        label=_d("To"),
        required=False,
        widget=_d_forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )

    def clean(self):
        from .analytics import MAX_RANGE_DAYS, default_range

        data = super().clean()
        default_from, default_to = default_range()
        date_from = data.get("date_from") or default_from
        date_to = data.get("date_to") or default_to
        if date_from > date_to:
            self.add_error("date_to", _d("The end comes before the start."))
        elif (date_to - date_from) > _d_datetime.timedelta(days=MAX_RANGE_DAYS):
            self.add_error("date_from", _d("Choose at most five years."))
        data["date_from"], data["date_to"] = date_from, date_to
        return data
