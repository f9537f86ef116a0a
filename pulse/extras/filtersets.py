"""FilterSets shared by the extras screens and API lists (rule 4: UI and API are twins)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .filters import RecordTypeFilter
from .models import CustomField, FieldType, Notification, SavedView, Tag


class TagFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label=_("Search"),
        widget=forms.TextInput(
            attrs={"type": "search", "class": "form-control", "placeholder": _("Search tags…")}
        ),
    )

    class Meta:
        model = Tag
        fields = ["search"]


class CustomFieldFilterSet(django_filters.FilterSet):
    record_type = RecordTypeFilter()
    field_type = django_filters.ChoiceFilter(choices=FieldType.choices, label=_("Type"))

    class Meta:
        model = CustomField
        fields = ["record_type", "field_type"]


class SavedViewFilterSet(django_filters.FilterSet):
    record_type = RecordTypeFilter()
    shared = django_filters.BooleanFilter(label=_("Shared"))

    class Meta:
        model = SavedView
        fields = ["record_type", "shared"]


class NotificationFilterSet(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(
        field_name="read_at", lookup_expr="isnull", label=_("Unread")
    )

    class Meta:
        model = Notification
        fields = ["unread"]
