"""Web pages of exchange rates: /settings/exchange-rates/… (thin: parse, call a service or
selector, render). Everyone reads the rates reports use; owners and admins change them."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError
from pulse.core.views import RecordFormView, RecordPermissionMixin, paginate

from . import selectors, services
from .forms import ConvertForm, ExchangeRateForm, ExchangeRateImportForm
from .models import ExchangeRate


def _convert_context(request, data=None) -> dict:
    """The convert preview's form and, when it is valid, the conversion and rate used."""
    org = request.organization
    form = ConvertForm(data=data, request=request)
    result = None
    if data is not None and form.is_valid():
        on = form.cleaned_data["date"] or datetime.date.today()
        conversion = selectors.convert(
            org, form.cleaned_data["amount"], form.cleaned_data["currency"], on
        )
        result = {
            "conversion": conversion,
            "amount": form.cleaned_data["amount"],
            "currency": form.cleaned_data["currency"],
            "on": on,
            "base": org.default_currency,
            "before_first": conversion.rate_date is not None and conversion.rate_date > on,
        }
    return {"convert_form": form, "convert": result}


class ExchangeRateListView(RecordPermissionMixin, TemplateView):
    """/settings/exchange-rates/: each currency's rate today and its history (``?currency=``
    narrows it), add a rate, import a CSV, and a convert preview."""

    model = ExchangeRate
    template_name = "currencies/exchangerate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        org = request.organization
        context.update(selectors.rate_summary(org))
        currency = request.GET.get("currency", "").upper()
        rates = ExchangeRate.objects.restrict(request.user, "view").order_by(
            "currency", "-valid_from"
        )
        if currency:
            rates = rates.filter(currency=currency)
        query = request.GET.copy()
        query.pop("page", None)
        can_edit = can(request.user, "edit", ExchangeRate)
        context.update(
            currency=currency,
            page_obj=paginate(request, rates),
            querystring=query.urlencode(),
            can_edit=can_edit,
            base=org.default_currency,
        )
        if can_edit:
            context.setdefault("form", ExchangeRateForm(request=request))
            context.setdefault("import_form", ExchangeRateImportForm(request=request))
        context.update(_convert_context(request, request.GET if "amount" in request.GET else None))
        context.update(kwargs)
        return context


class ExchangeRateFormView(RecordFormView):
    """Add a rate, or correct one."""

    model = ExchangeRate
    form_class = ExchangeRateForm
    template_name = "currencies/exchangerate_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.exchangerate_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.exchangerate_update(
            exchange_rate=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_success_url(self, saved) -> str:
        return f"{reverse('currencies:exchangerate_list')}?currency={saved.currency}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("currencies:exchangerate_list")
        return context


class ExchangeRateDeleteView(RecordPermissionMixin, View):
    """POST: move a rate to the trash."""

    model = ExchangeRate
    action = "delete"

    def post(self, request, pk):
        rate = self.get_queryset().filter(pk=pk).first()
        if rate is None:
            raise Http404
        try:
            services.exchangerate_delete(exchange_rate=rate, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("“%(name)s” moved to the trash.") % {"name": rate})
        return HttpResponseRedirect(reverse("currencies:exchangerate_list"))


class ExchangeRateImportView(RecordPermissionMixin, View):
    """POST a CSV: all rows imported, or none and every bad line listed."""

    model = ExchangeRate
    action = "import"

    def post(self, request):
        form = ExchangeRateImportForm(data=request.POST, files=request.FILES, request=request)
        if form.is_valid():
            try:
                result = services.exchangerate_import(
                    org=request.organization, actor=request.user, file=form.cleaned_data["file"]
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
                if exc.errors.get("file") and exc.message not in exc.errors["file"]:
                    form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Rates imported: %(created)d new, %(updated)d changed, %(same)d unchanged.")
                    % {
                        "created": result.created,
                        "updated": result.updated,
                        "same": result.unchanged,
                    },
                )
                return HttpResponseRedirect(reverse("currencies:exchangerate_list"))
        view = ExchangeRateListView(request=request, kwargs={})
        context = view.get_context_data(import_form=form)
        return render(request, ExchangeRateListView.template_name, context, status=400)


class ExchangeRateConvertView(RecordPermissionMixin, View):
    """GET ``amount``, ``currency``, ``date``: what it is in the organization's currency and
    the rate used (the list page's preview, an htmx partial)."""

    model = ExchangeRate

    def get(self, request):
        context = _convert_context(request, request.GET)
        status = 400 if context["convert_form"].errors else 200
        return render(
            request, "currencies/partials/exchangerate_convert.html", context, status=status
        )
