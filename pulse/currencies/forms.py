"""Forms of exchange rates (validation stays in the services; these parse and render)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from pulse.core.currencies import CURRENCY_CHOICES
from pulse.core.forms import ServiceForm, TenantModelForm

from .models import ExchangeRate


class ExchangeRateForm(TenantModelForm):
    """One dated rate: 1 currency = rate × the organization's currency."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ExchangeRate
        fields = ["currency", "rate", "valid_from"]
        widgets = {"valid_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        base = request.organization.default_currency
        # The organization's own currency has no rate (it is always 1).
        self.fields["currency"].choices = [
            c for c in self.fields["currency"].choices if c[0] != base
        ]
        self.fields["rate"].help_text = _("What one unit of the currency is worth in %(base)s.") % {
            "base": base
        }
        if self.instance._state.adding:
            self.instance.organization = request.organization
            self.fields["valid_from"].initial = datetime.date.today()
        else:
            self.fields["expected_version"].initial = self.instance.version
        for field in self.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.attrs["class"] = "form-select"
            elif not field.widget.is_hidden:
                field.widget.attrs["class"] = "form-control"


class ExchangeRateImportForm(ServiceForm):
    """A ``currency,rate,valid_from`` CSV file."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns currency,rate,valid_from (dates as YYYY-MM-DD), header first."),
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".csv,text/csv"}),
    )


class ConvertForm(ServiceForm):
    """The convert preview: an amount in a currency on a day."""

    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=16,
        decimal_places=2,
        min_value=0,
        initial=100,
        widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.01"}),
    )
    currency = forms.ChoiceField(
        label=_("Currency"),
        choices=CURRENCY_CHOICES,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    date = forms.DateField(
        label=_("On"),
        required=False,
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}),
    )
