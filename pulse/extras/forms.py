"""Forms of the extras screens; they validate input and hand it to services (never save)."""

from __future__ import annotations

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from pulse.core.forms import ServiceForm, TenantModelForm

from .customfields import CHOICE_TYPES, custom_field_models
from .models import CustomField, Tag


def is_editing(form) -> bool:
    """The form edits a saved row (a new TenantModel already has a UUID pk)."""
    instance = getattr(form, "instance", None)
    return instance is not None and not instance._state.adding


class VersionFormMixin(forms.Form):
    """A hidden ``version``: a stale edit is refused instead of overwriting (rule 9)."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def init_version(self) -> None:
        if is_editing(self):
            self.fields["version"].initial = self.instance.version

    @property
    def expected_version(self) -> int | None:
        return self.cleaned_data.get("version")


class TagForm(VersionFormMixin, TenantModelForm):
    class Meta:
        model = Tag
        fields = ["name", "color"]
        widgets = {
            "name": forms.TextInput(
                attrs={"class": "form-control", "autocomplete": "off", "placeholder": _("Name")}
            ),
            "color": forms.TextInput(
                attrs={"type": "color", "class": "form-control form-control-color"}
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_version()

    def service_fields(self) -> dict:
        return {"name": self.cleaned_data["name"], "color": self.cleaned_data["color"]}


class CustomFieldForm(VersionFormMixin, TenantModelForm):
    """Define or edit a custom field; key, record type and type are fixed after create."""

    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 4}),
        help_text=_("For single and multiple choice fields: one choice per line."),
    )

    class Meta:
        model = CustomField
        fields = [
            "content_type",
            "label",
            "key",
            "field_type",
            "choices",
            "required",
            "help_text",
            "position",
        ]
        widgets = {
            "content_type": forms.Select(attrs={"class": "form-select"}),
            "label": forms.TextInput(attrs={"class": "form-control"}),
            "key": forms.TextInput(attrs={"class": "form-control font-monospace"}),
            "field_type": forms.Select(attrs={"class": "form-select"}),
            "help_text": forms.TextInput(attrs={"class": "form-control"}),
            "position": forms.NumberInput(attrs={"class": "form-control"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_version()
        content_types = ContentType.objects.get_for_models(*custom_field_models())
        self.fields["content_type"].queryset = ContentType.objects.filter(
            pk__in=[ct.pk for ct in content_types.values()]
        )
        self.fields["content_type"].label_from_instance = lambda ct: str(
            ct.model_class()._meta.verbose_name_plural
        ).capitalize()
        self.fields["position"].required = False
        self.fields["position"].help_text = _("Order in forms; empty puts it last.")
        self.fields["key"].required = True
        if not is_editing(self):
            self.initial.setdefault("position", None)
        if is_editing(self):
            self.initial["choices"] = "\n".join(self.instance.choices or [])
            for name in ("content_type", "key", "field_type"):
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Fixed once the field exists.")

    def clean_position(self) -> int:
        # Left empty: keep the current position (a new field goes last, see service_fields).
        value = self.cleaned_data.get("position")
        return self.instance.position if value is None else value

    def clean_choices(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()]

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("version", None)
        if data.get("field_type") not in CHOICE_TYPES:
            data["choices"] = []
        if is_editing(self):
            for name in ("content_type", "key", "field_type"):
                data.pop(name, None)
        elif self.data.get(self.add_prefix("position"), "") in ("", None):
            data["position"] = None  # the service puts it after the existing fields
        return data


class SavedViewForm(ServiceForm):
    """ "Save current view" on a list page: name, shared, and the list's query string."""

    content_type = forms.ModelChoiceField(
        queryset=ContentType.objects.all(), widget=forms.HiddenInput
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    shared = forms.BooleanField(label=_("Share with the organization"), required=False)
    querystring = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
