"""Form base classes: tenant-scoped choices and service errors on the form."""

from __future__ import annotations

from django import forms

from .errors import ApplicationError
from .models import TenantScopedModel


class ApplicationErrorFormMixin:
    def add_application_error(self, exc: ApplicationError) -> None:
        for field, messages in exc.errors.items():
            target = field if field in self.fields else None
            if target is None and field.startswith("custom_fields."):
                # Services key custom-field errors custom_fields.<key>; the form field is cf_<key>.
                name = "cf_" + field.split(".", 1)[1]
                target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message)


class TenantModelForm(ApplicationErrorFormMixin, forms.ModelForm):
    """A ModelForm bound to the request's organization and user.

    Choice fields pointing at tenant models are re-scoped to what the user may
    see (their class-level querysets were built with no organization and would
    refuse to run). Records with custom fields get one form field per definition.
    The form never saves: views pass ``cleaned_data`` to a service (rule 3).
    """

    def __init__(self, *args, request, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            qs = getattr(field, "queryset", None)
            if qs is not None and issubclass(qs.model, TenantScopedModel):
                field.queryset = qs.model.objects.restrict(request.user, "view")
        if hasattr(self._meta.model, "custom_fields"):
            from pulse.extras.customfields import add_custom_form_fields

            add_custom_form_fields(self)

    def service_fields(self) -> dict:
        """cleaned_data for the service: model fields, plus ``custom_fields`` if any."""
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k in self._meta.fields or k == "custom_fields"
        }
        if hasattr(self._meta.model, "custom_fields"):
            from pulse.extras.customfields import collect_custom_form_values

            data["custom_fields"] = collect_custom_form_values(self)
        return data


class ServiceForm(ApplicationErrorFormMixin, forms.Form):
    """A plain form whose valid data goes to a service."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
