"""The change log's FilterSet, shared by the audit log page and the API."""

from __future__ import annotations

import datetime
import zoneinfo

import django_filters
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from pulse.core.tenancy import get_current_org
from pulse.extras.filters import RecordTypeFilter

from .models import Action, AuditEntry, Source
from .selectors import audited_models, record_type_label


def _members(request):
    from pulse.accounts.selectors import organization_members

    return organization_members(get_current_org())


def _record_type_choices():
    return [
        (record_type_label(m), str(m._meta.verbose_name).capitalize()) for m in audited_models()
    ]


def _org_day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of ``day`` in the organization's time zone (a day means its day)."""
    org = get_current_org()
    try:
        tz = zoneinfo.ZoneInfo(getattr(org, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = datetime.UTC
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


class AuditEntryFilterSet(django_filters.FilterSet):
    """Who (``actor``), what (``record_type``, ``action``), from where (``source``), when.

    ``date_from``/``date_to`` are whole days in the organization's time zone;
    ``content_type`` + ``object_id`` select one record's history (API).
    """

    actor = django_filters.ModelChoiceFilter(
        queryset=_members, label=_("User"), widget=forms.Select(attrs={"class": "form-select"})
    )
    record_type = RecordTypeFilter()
    action = django_filters.ChoiceFilter(
        choices=Action.choices,
        label=_("Action"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    source = django_filters.ChoiceFilter(
        choices=Source.choices,
        label=_("Source"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    date_from = django_filters.DateFilter(
        label=_("From"),
        method="filter_date_from",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    date_to = django_filters.DateFilter(
        label=_("To"),
        method="filter_date_to",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    content_type = django_filters.ModelChoiceFilter(
        queryset=ContentType.objects.all(), label=_("Content type id"), widget=forms.HiddenInput
    )
    object_id = django_filters.CharFilter(label=_("Record id"), widget=forms.HiddenInput)

    class Meta:
        model = AuditEntry
        fields = [
            "actor",
            "record_type",
            "action",
            "source",
            "date_from",
            "date_to",
            "content_type",
            "object_id",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The record types are known once every app is loaded, not at import.
        self.filters["record_type"].extra["widget"] = forms.Select(
            attrs={"class": "form-select"},
            choices=[("", "---------"), *_record_type_choices()],
        )

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=_org_day_start(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=_org_day_start(value + datetime.timedelta(days=1)))
