"""Create/edit forms of contacts and companies. They never save: views call services."""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from pulse.core.forms import ServiceForm, TenantModelForm
from pulse.extras.models import Tag

from .models import Company, Contact, LifecycleStage
from .phones import format_phone, normalize_phone
from .widgets import RemoteSelect

# Phone fields the forms parse with the organization's country (H1).
PHONE_FIELDS = ("phone", "mobile")


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

    # --- phone numbers (H1): typed in any format, E.164 to the service -------------------

    def _phone_region(self) -> str:
        return getattr(self.request.organization, "country", "") or ""

    def get_initial_for_field(self, field, field_name):
        # A stored E.164 number is shown as people write it ("02 123 4567").
        value = super().get_initial_for_field(field, field_name)
        if field_name in PHONE_FIELDS and value and not self.is_bound:
            return format_phone(value, self._phone_region())
        return value

    def clean(self):
        data = super().clean()
        for name in PHONE_FIELDS:
            if name in self.fields and data.get(name):
                try:
                    data[name] = normalize_phone(data[name], self._phone_region())
                except ValidationError as exc:
                    self.add_error(name, exc)
        return data

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


# --- further emails (H1): rows of label + address ------------------------------------------


class OtherEmailsWidget(forms.Widget):
    """Rows of label + email; "Add email" and the row's × work with ``pulse.js``, and
    without script a blank last row adds one and clearing an address removes its row."""

    template_name = "contacts/widgets/other_emails.html"

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", lambda key: [])
        labels, emails = getlist(f"{name}-label"), getlist(f"{name}-email")
        labels += [""] * (len(emails) - len(labels))
        return [{"label": lab, "email": em} for lab, em in zip(labels, emails, strict=False)]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-email" not in data and f"{name}-present" not in data

    def format_value(self, value):
        return value if isinstance(value, list) else []

    def render(self, name, value, attrs=None, renderer=None):
        from django.template.loader import render_to_string

        from .models import EMAIL_LABELS

        attrs = self.build_attrs(self.attrs, attrs)
        rows = [r for r in self.format_value(value) if isinstance(r, dict)]
        return render_to_string(
            self.template_name,
            {
                "name": name,
                "id": attrs.get("id") or f"id_{name}",
                "rows": rows,
                "blank_is_first": not rows,
                "invalid": "is-invalid" in attrs.get("class", ""),
                "labels": EMAIL_LABELS,
            },
        )


class OtherEmailsField(forms.Field):
    """``[{"label", "email"}]``; blank rows dropped. The model checks the addresses."""

    widget = OtherEmailsWidget

    def to_python(self, value):
        rows = []
        for item in value if isinstance(value, list) else []:
            if not isinstance(item, dict):
                continue
            email = str(item.get("email") or "").strip()
            if email:
                rows.append({"label": str(item.get("label") or "").strip(), "email": email})
        return rows


class ContactForm(RecordForm):
    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")
    linkedin_url = forms.URLField(label=_("LinkedIn"), required=False, assume_scheme="https")
    other_emails = OtherEmailsField(label=_("other emails"), required=False)  # H1

    fieldsets = [
        (
            _("Person"),
            [
                "first_name",
                "last_name",
                "email",
                "phone",
                "mobile",
                "title",
                "department",
                "other_emails",
            ],
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
            "other_emails",
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
        ("untag", _("Remove tag")),
        ("stage", _("Set lifecycle stage")),
    ]

    ids = UUIDListField(required=False)
    # "Select all N matching": the action runs as a background job over the list filter.
    select_all = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=4000)
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
        needs = {"assign": "assigned_to", "tag": "tag", "untag": "tag", "stage": "lifecycle_stage"}
        field = needs.get(data.get("action"))
        if field and not data.get(field):
            self.add_error(field, _("Choose a value for this action."))
        if not data.get("select_all") and not data.get("ids") and "ids" not in self.errors:
            self.add_error("ids", _("Select at least one record."))
        return data


# --- list features: inline edit and quick create (H3) ----------------------------------


def _small(field: forms.Field, label) -> forms.Field:
    """Compact Bootstrap styling for a field squeezed into a table cell."""
    widget = field.widget
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select | forms.SelectMultiple):
        css = "form-select form-select-sm"
    else:
        css = "form-control form-control-sm"
    widget.attrs["class"] = css
    widget.attrs.setdefault("aria-label", str(label))
    if not isinstance(widget, forms.CheckboxInput | forms.Select | forms.SelectMultiple):
        widget.attrs.setdefault("placeholder", str(label))
    return field


class InlineEditForm(ServiceForm):
    """The fields behind one list cell (``names``), edited in place; never saves.

    ``expected_version`` is the row's version when the list was drawn: the service
    refuses the save if the record changed since (rule 9). ``cf_<key>`` names a custom field.
    """

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    version_conflict = False

    def __init__(self, *args, request, instance, names, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from django.forms.models import model_to_dict

        self.instance = instance
        self.names = list(names)
        self.custom_field_definitions = []
        model = type(instance)
        plain = [n for n in self.names if not n.startswith("cf_")]
        initial = model_to_dict(instance, fields=plain)
        for name in self.names:
            field = self._field_for(model, name)
            if name in initial:
                field.initial = initial[name]
            self.fields[name] = field
        self.fields["expected_version"].initial = instance.version

    def add_application_error(self, exc) -> None:
        # "version" is no field: the conflict shows above the inputs, with a reload link.
        self.version_conflict = "version" in exc.errors
        super().add_application_error(exc)

    def _field_for(self, model, name: str) -> forms.Field:
        if name.startswith("cf_"):
            from pulse.extras.customfields import definitions_for, form_field_for

            key = name[3:]
            definition = next(d for d in definitions_for(model) if d.key == key)
            self.custom_field_definitions.append(definition)
            field = form_field_for(definition)
            field.initial = (self.instance.custom_fields or {}).get(key)
            return _small(field, definition.label)
        model_field = model._meta.get_field(name)
        label = model_field.verbose_name
        if name == "company":
            field = forms.ModelChoiceField(
                queryset=Company.objects.restrict(self.request.user, "view"),
                required=False,
                widget=RemoteSelect(url_name="contacts:company_options"),
            )
        elif name == "assigned_to":
            field = forms.ModelChoiceField(queryset=_members(self.request), required=False)
        elif name in ("website", "linkedin_url"):
            field = forms.URLField(required=False, assume_scheme="https")
        else:
            field = model_field.formfield()
        field.label = label
        return _small(field, label)

    def service_fields(self) -> dict:
        """The changed fields for the update service (custom fields merged into the rest)."""
        data = {n: self.cleaned_data.get(n) for n in self.names if not n.startswith("cf_")}
        if self.custom_field_definitions:
            from pulse.extras.customfields import collect_custom_form_values

            values = dict(self.instance.custom_fields or {})
            given = collect_custom_form_values(self)
            for definition in self.custom_field_definitions:
                values.pop(definition.key, None)
            values.update(given)
            data["custom_fields"] = values
        return data


def _only_required_custom_fields(form) -> None:
    """Quick-create forms ask only for the custom fields a record cannot do without."""
    definitions = getattr(form, "custom_field_definitions", [])
    for definition in definitions:
        if not definition.required:
            form.fields.pop("cf_" + definition.key, None)
    form.custom_field_definitions = [d for d in definitions if d.required]
    form.custom_field_names = ["cf_" + d.key for d in form.custom_field_definitions]


class QuickContactForm(RecordForm):
    """The short "New contact" dialog: name, email, phone, company, owner."""

    # Set by "Create anyway" after the duplicate warning.
    confirm_duplicates = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "email", "phone", "company", "assigned_to"]
        widgets = {
            "company": RemoteSelect(url_name="contacts:company_options"),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        _only_required_custom_fields(self)


class QuickCompanyForm(RecordForm):
    """The short "New company" dialog: name, website, phone."""

    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")
    confirm_duplicates = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Company
        fields = ["name", "website", "phone"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        _only_required_custom_fields(self)


# --- records: contact relationships (H1) ---------------------------------------------------

# Prefix of a choice that reads the relationship from the other side ("Manages" = the
# picked contact reports to this one).
INVERSE_PREFIX = "inverse:"


def relationship_choices() -> list[tuple[str, str]]:
    """Every wording seen from the contact whose page the dialog is on."""
    from .models import INVERSE_LABELS, SYMMETRIC_KINDS, RelationshipKind

    choices = []
    for kind in RelationshipKind:
        choices.append((kind.value, kind.label))
        if kind not in SYMMETRIC_KINDS:
            choices.append((INVERSE_PREFIX + kind.value, INVERSE_LABELS[kind]))
    return choices


class ContactRelationshipForm(ServiceForm):
    """ "Add relationship" on a contact's page: this contact <kind> the picked contact."""

    kind = forms.ChoiceField(label=_("This contact"), choices=relationship_choices)
    contact = forms.ModelChoiceField(
        label=_("Contact"),
        queryset=Contact.objects.none(),
        widget=RemoteSelect(url_name="contacts:contact_options"),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("Optional")}),
    )

    def __init__(self, *args, request, contact: Contact, **kwargs):
        # Fresh element ids per render: htmx would otherwise carry the old dialog's
        # attributes (tom-select's classes) over to the swapped-in form while it settles.
        kwargs.setdefault("auto_id", f"rel{uuid.uuid4().hex[:8]}_%s")
        super().__init__(*args, request=request, **kwargs)
        self.contact = contact
        self.fields["contact"].queryset = Contact.objects.restrict(request.user, "view").exclude(
            pk=contact.pk
        )
        self.fields["kind"].widget.attrs["class"] = "form-select"
        self.fields["note"].widget.attrs["class"] = "form-control"
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"

    def service_fields(self) -> dict:
        kind = self.cleaned_data["kind"]
        other = self.cleaned_data["contact"]
        if kind.startswith(INVERSE_PREFIX):
            ends = {"from_contact": other, "to_contact": self.contact}
            kind = kind[len(INVERSE_PREFIX) :]
        else:
            ends = {"from_contact": self.contact, "to_contact": other}
        return {**ends, "kind": kind, "note": self.cleaned_data.get("note") or ""}

    def add_application_error(self, exc) -> None:
        for field, messages in exc.errors.items():
            target = "contact" if field in ("from_contact", "to_contact") else field
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
