"""Filters of consent records and privacy requests, shared by pages and API lists."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from pulse.contacts.filtersets import _style_filter_form, _without_blanks
from pulse.contacts.models import Contact
from pulse.contacts.widgets import RemoteSelect

from .models import (
    ConsentRecord,
    ConsentSource,
    LawfulBasis,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
)


def _contacts(request):
    user = getattr(request, "user", None)
    if user is None or getattr(request, "organization", None) is None:
        return Contact.objects.none()
    return Contact.objects.restrict(user, "view")


class _Styled(django_filters.FilterSet):
    def __init__(self, data=None, *args, **kwargs):
        super().__init__(_without_blanks(data), *args, **kwargs)

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_styled", False):
            _style_filter_form(form)
            form._styled = True
        return form


class ConsentRecordFilterSet(_Styled):
    """Consents by contact, purpose, lawful basis, source, and active/withdrawn."""

    contact = django_filters.ModelChoiceFilter(
        queryset=_contacts,
        label=_("Contact"),
        widget=RemoteSelect(url_name="segments:contact_options"),
    )
    purpose = django_filters.CharFilter(lookup_expr="icontains", label=_("Purpose"))
    lawful_basis = django_filters.ChoiceFilter(
        choices=LawfulBasis.choices, label=_("Lawful basis"), empty_label=_("Any")
    )
    source = django_filters.ChoiceFilter(
        choices=ConsentSource.choices, label=_("Source"), empty_label=_("Any")
    )
    active = django_filters.BooleanFilter(
        field_name="withdrawn_at",
        lookup_expr="isnull",
        label=_("State"),
        widget=forms.Select(
            choices=[("", _("Any")), ("true", _("Active")), ("false", _("Withdrawn"))]
        ),
    )

    class Meta:
        model = ConsentRecord
        fields = ["contact", "purpose", "lawful_basis", "source", "active"]


class PrivacyRequestFilterSet(_Styled):
    """Requests by kind, status and contact."""

    kind = django_filters.ChoiceFilter(
        choices=RequestKind.choices, label=_("Kind"), empty_label=_("Any")
    )
    status = django_filters.ChoiceFilter(
        choices=RequestStatus.choices, label=_("Status"), empty_label=_("Any")
    )
    contact = django_filters.ModelChoiceFilter(
        queryset=_contacts,
        label=_("Contact"),
        widget=RemoteSelect(url_name="segments:contact_options"),
    )

    class Meta:
        model = PrivacyRequest
        fields = ["kind", "status", "contact"]
