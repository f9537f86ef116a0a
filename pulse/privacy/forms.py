"""Forms of consents and privacy requests. They never save: views call the services."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.contacts.forms import RecordForm
from pulse.contacts.widgets import RemoteSelect
from pulse.core.forms import ServiceForm

from .models import ConsentRecord
from .services import ERASE_CONFIRMATION

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ConsentRecordForm(RecordForm):
    """Record a consent for a contact, or correct one."""

    class Meta:
        model = ConsentRecord
        fields = [
            "contact",
            "purpose",
            "lawful_basis",
            "source",
            "given_at",
            "withdrawn_at",
            "notes",
        ]
        widgets = {
            "contact": RemoteSelect(url_name="segments:contact_options"),
            "purpose": forms.TextInput(attrs={"list": "consent-purposes", "autocomplete": "off"}),
            "given_at": DATETIME_WIDGET,
            "withdrawn_at": DATETIME_WIDGET,
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if self.instance._state.adding:
            del self.fields["withdrawn_at"]
            contact = request.GET.get("contact")
            if contact and not self.is_bound:
                self.initial["contact"] = contact
        else:
            # A consent stays with its contact (consent_update refuses a move).
            self.fields["contact"].disabled = True
        self.fields["given_at"].required = False
        if self.instance._state.adding:
            self.fields["given_at"].help_text = _("Empty means now.")
        self._errors = None  # RecordForm validated already (for its CSS); again, please

    def clean_given_at(self):
        # Empty: now for a new consent, unchanged for an existing one.
        value = self.cleaned_data.get("given_at")
        if value is None:
            return timezone.now() if self.instance._state.adding else self.instance.given_at
        return value


class ExportRequestForm(ServiceForm):
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text=_("E.g. how and when the person asked."),
    )


class EraseRequestForm(ServiceForm):
    confirmation = forms.CharField(
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text=_("E.g. how and when the person asked. Do not write their name here."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["confirmation"].label = _("Type %(word)s to confirm") % {
            "word": ERASE_CONFIRMATION
        }
