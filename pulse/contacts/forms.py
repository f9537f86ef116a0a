"""Create/edit forms of contacts and companies. They never save: views call services."""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from pulse.core.forms import ServiceForm, TenantModelForm
from pulse.extras.models import Tag

from .models import Company, Contact, LifecycleStage
from .widgets import RemoteSelect


def _members(request):
    from pulse.accounts.selectors import organization_members

    return organization_members(request.organization)


class RecordForm(TenantModelForm):
    """Bootstrap classes, owner choices from the organization, and the version guard.

    ``expected_version`` carries the version the user opened; a save over a newer
    one is refused by the service and shown above the form (rule 9).
    """

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    # [(legend, [field names])]; fields in no group (custom fields) go in a last group.
    fieldsets: list[tuple[str, list[str]]] = []

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if self.instance._state.adding:
            # model.clean() checks owner and parent against the organization.
            self.instance.organization = request.organization
        if "assigned_to" in self.fields:
            self.fields["assigned_to"].queryset = _members(request)
            if self.instance._state.adding:
                self.fields["assigned_to"].initial = request.user.pk
        if not self.instance._state.adding:
            self.fields["expected_version"].initial = self.instance.version
        for name, field in self.fields.items():
            widget = field.widget
            css = widget.attrs.get("class", "")
            if isinstance(widget, forms.CheckboxInput):
                css = css or "form-check-input"
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                css = css or "form-select"
            elif not isinstance(widget, forms.HiddenInput):
                css = css or "form-control"
            widget.attrs["class"] = css
            if name in self.errors:
                widget.attrs["class"] += " is-invalid"

    version_conflict = False

    def add_application_error(self, exc) -> None:
        # "version" is no form field, so its message shows above the form.
        self.version_conflict = "version" in exc.errors
        super().add_application_error(exc)

    def grouped_fields(self) -> list[tuple[str, list]]:
        """The form's visible fields in the groups the template draws."""
        placed: set[str] = set()
        groups = []
        for legend, names in self.fieldsets:
            fields = [self[n] for n in names if n in self.fields]
            placed.update(names)
            if fields:
                groups.append((legend, fields))
        custom = [n for n in getattr(self, "custom_field_names", []) if n not in placed]
        if custom:
            groups.append((_("Custom fields"), [self[n] for n in custom]))
            placed.update(custom)
        rest = [
            self[n] for n in self.fields if n not in placed and not self.fields[n].widget.is_hidden
        ]
        if rest:
            groups.append((_("More"), rest))
        return groups


class ContactForm(RecordForm):
    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")
    linkedin_url = forms.URLField(label=_("LinkedIn"), required=False, assume_scheme="https")

    fieldsets = [
        (
            _("Person"),
            ["first_name", "last_name", "email", "phone", "mobile", "title", "department"],
        ),
        (_("Company and ownership"), ["company", "assigned_to", "lifecycle_stage", "lead_source"]),
        (_("Tags"), ["tags"]),
        (_("Address"), ["street", "city", "region", "postal_code", "country"]),
        (_("Online"), ["website", "linkedin_url", "x_handle"]),
        (
            _("Communication preferences"),
            ["email_opt_in", "phone_opt_in", "sms_opt_in", "do_not_contact", "preferred_language"],
        ),
        (_("Other"), ["birthday", "notes"]),
    ]

    class Meta:
        model = Contact
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile",
            "title",
            "department",
            "company",
            "assigned_to",
            "lifecycle_stage",
            "lead_source",
            "tags",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "website",
            "linkedin_url",
            "x_handle",
            "email_opt_in",
            "phone_opt_in",
            "sms_opt_in",
            "do_not_contact",
            "preferred_language",
            "birthday",
            "notes",
        ]
        widgets = {
            "company": RemoteSelect(url_name="contacts:company_options"),
            "tags": forms.SelectMultiple(attrs={"data-tom-select": ""}),
            "country": forms.Select(attrs={"data-tom-select": ""}),
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 4}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "preferred_language": forms.TextInput(attrs={"placeholder": "en, bg, de-AT…"}),
        }


class CompanyForm(RecordForm):
    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")

    fieldsets = [
        (_("Company"), ["name", "website", "domain", "phone", "industry", "size_band"]),
        (_("Hierarchy and ownership"), ["parent", "assigned_to", "territory"]),
        (_("Tags"), ["tags"]),
        (_("Revenue"), ["annual_revenue", "currency"]),
        (_("Address"), ["street", "city", "region", "postal_code", "country"]),
        (_("About"), ["description"]),
    ]

    class Meta:
        model = Company
        fields = [
            "name",
            "website",
            "domain",
            "phone",
            "industry",
            "size_band",
            "parent",
            "assigned_to",
            "territory",
            "tags",
            "annual_revenue",
            "currency",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "description",
        ]
        widgets = {
            "parent": RemoteSelect(url_name="contacts:company_options"),
            "tags": forms.SelectMultiple(attrs={"data-tom-select": ""}),
            "country": forms.Select(attrs={"data-tom-select": ""}),
            "description": forms.Textarea(attrs={"rows": 4}),
            "currency": forms.TextInput(attrs={"maxlength": 3, "placeholder": "EUR"}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        org = request.organization
        self.fields["currency"].widget.attrs["placeholder"] = org.default_currency
        self.fields["currency"].help_text = _("Empty means the organization's currency.")


class UUIDListField(forms.Field):
    """Several record ids (``?ids=…&ids=…``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        try:
            return [uuid.UUID(str(v)) for v in value]
        except ValueError:
            raise ValidationError(_("The selection is not valid."), code="invalid")


class BulkActionForm(ServiceForm):
    """The list pages' bulk bar: which records, what to do, and its value."""

    ACTIONS = [
        ("delete", _("Move to trash")),
        ("assign", _("Assign to")),
        ("tag", _("Add tag")),
        ("stage", _("Set lifecycle stage")),
    ]

    ids = UUIDListField(error_messages={"required": _("Select at least one record.")})
    action = forms.ChoiceField(choices=ACTIONS)
    assigned_to = forms.ModelChoiceField(queryset=None, required=False)
    tag = forms.ModelChoiceField(queryset=None, required=False)
    lifecycle_stage = forms.ChoiceField(choices=LifecycleStage.choices, required=False)

    def __init__(self, *args, request, with_stage: bool = True, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.fields["assigned_to"].queryset = _members(request)
        self.fields["tag"].queryset = Tag.objects.restrict(request.user, "view")
        if not with_stage:
            self.fields["action"].choices = [a for a in self.ACTIONS if a[0] != "stage"]
            del self.fields["lifecycle_stage"]

    def clean(self):
        data = super().clean()
        needs = {"assign": "assigned_to", "tag": "tag", "stage": "lifecycle_stage"}
        field = needs.get(data.get("action"))
        if field and not data.get(field):
            self.add_error(field, _("Choose a value for this action."))
        return data
