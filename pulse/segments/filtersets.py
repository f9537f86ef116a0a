"""The segment list's filters, shared by the page and the API list (rule 4)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from pulse.contacts.filtersets import _members, _style_filter_form, _without_blanks
from pulse.contacts.selectors import apply_search
from pulse.extras.filters import TagFilter

from .models import Segment, SegmentKind


class SegmentFilterSet(django_filters.FilterSet):
    """Segments by name or description, kind, owner and tags."""

    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        widget=forms.TextInput(attrs={"type": "search", "class": "form-control"}),
    )
    kind = django_filters.ChoiceFilter(
        choices=SegmentKind.choices, label=_("Kind"), empty_label=_("Any")
    )
    assigned_to = django_filters.ModelMultipleChoiceFilter(queryset=_members, label=_("Owner"))
    tags = TagFilter(label=_("Tags"))

    class Meta:
        model = Segment
        fields = ["search", "kind", "assigned_to", "tags"]

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(_without_blanks(data), *args, **kwargs)

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_styled", False):
            _style_filter_form(form)
            form._styled = True
        return form

    def filter_search(self, qs, name, value):
        return apply_search(qs, value, ("name", "description")) if value else qs
