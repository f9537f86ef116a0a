"""Activities: filtersets (see DESIGN.md for this file's role)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils.translation import gettext_lazy as _

from pulse.contacts.filtersets import (
    _date_range,
    _style_filter_form,
    _without_blanks,
    owner_choices,
)
from pulse.contacts.models import Company, Contact
from pulse.contacts.selectors import apply_search
from pulse.contacts.widgets import ManyOptionsSelectMultiple, RemoteSelect
from pulse.leads.models import Lead
from pulse.opportunities.models import Opportunity

from .models import Activity, ActivityStatus, ActivityType, Priority
from .selectors import ACTIVITY_SEARCH_FIELDS, overdue_condition

# --- activities ---

# Imports of this section (the lead hoists them).


_PRIORITY_RANK = Case(
    When(priority=Priority.LOW, then=Value(0)),
    When(priority=Priority.NORMAL, then=Value(1)),
    When(priority=Priority.HIGH, then=Value(2)),
    When(priority=Priority.URGENT, then=Value(3)),
    default=Value(1),
    output_field=IntegerField(),
)

# ?ordering= names → order_by() terms (the API's field names).
ACTIVITY_ORDERINGS: dict[str, tuple] = {
    "occurred_at": ("occurred_at",),
    "subject": ("subject",),
    "type": ("type",),
    "status": ("status",),
    "priority": (_PRIORITY_RANK,),
    "scheduled_at": ("scheduled_at",),
    "due_date": ("due_date",),
    "completed_at": ("completed_at",),
    "assigned_to": ("assigned_to__full_name",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
}
ACTIVITY_DEFAULT_ORDERING = "-occurred_at"

_MULTI = {"class": "form-select", "data-tom-select": ""}


def _restricted(model):
    def queryset(request):
        user = getattr(request, "user", None)
        if user is None or getattr(request, "organization", None) is None:
            return model.objects.none()
        return model.objects.restrict(user, "view")

    return queryset


class ActivityFilterSet(django_filters.FilterSet):
    """Activities by subject, type, status, priority, owner (``me``, ``unassigned``, ids),
    date (``occurred_after``/``occurred_before``), due day (``due_after``/``due_before``),
    the record they concern (``contact``, ``company``, ``lead``, ``opportunity`` by id) and
    ``overdue``. Shared by the list page, the export and the API (rule 4)."""

    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        widget=forms.TextInput(attrs={"type": "search", "class": "form-control"}),
    )
    type = django_filters.MultipleChoiceFilter(
        choices=ActivityType.choices,
        distinct=False,
        label=_("Type"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    status = django_filters.MultipleChoiceFilter(
        choices=ActivityStatus.choices,
        distinct=False,
        label=_("Status"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=Priority.choices,
        distinct=False,
        label=_("Priority"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    assigned_to = django_filters.MultipleChoiceFilter(
        method="filter_assigned_to",
        distinct=False,
        label=_("Owner"),
        widget=ManyOptionsSelectMultiple(attrs=_MULTI),
    )
    occurred = _date_range("occurred_at", _("Date"))
    due = _date_range("due_date", _("Due"))
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        label=_("Overdue"),
        widget=forms.Select(
            attrs={"class": "form-select"},
            choices=(
                ("", _("Any")),
                ("true", _("Overdue only")),
                ("false", _("Not overdue")),
            ),
        ),
    )
    contact = django_filters.ModelChoiceFilter(
        queryset=_restricted(Contact),
        label=_("Contact"),
        widget=RemoteSelect(url_name="contacts:contact_options"),
    )
    company = django_filters.ModelChoiceFilter(
        queryset=_restricted(Company),
        label=_("Company"),
        widget=RemoteSelect(url_name="contacts:company_options"),
    )
    lead = django_filters.ModelChoiceFilter(
        queryset=_restricted(Lead),
        label=_("Lead"),
        widget=RemoteSelect(url_name="activities:lead_options"),
    )
    opportunity = django_filters.ModelChoiceFilter(
        queryset=_restricted(Opportunity),
        label=_("Opportunity"),
        widget=RemoteSelect(url_name="activities:opportunity_options"),
    )

    class Meta:
        model = Activity
        fields = [
            "search",
            "type",
            "status",
            "priority",
            "assigned_to",
            "occurred",
            "due",
            "overdue",
            "contact",
            "company",
            "lead",
            "opportunity",
        ]

    def __init__(self, data=None, *args, request=None, **kwargs):
        super().__init__(_without_blanks(data), *args, request=request, **kwargs)
        self.filters["assigned_to"].extra["choices"] = owner_choices(request)

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_styled", False):
            _style_filter_form(form)
            form._styled = True
        return form

    def filter_search(self, qs, name, value):
        return apply_search(qs, value, ACTIVITY_SEARCH_FIELDS) if value else qs

    def filter_assigned_to(self, qs, name, values):
        if not values:
            return qs
        condition = Q()
        ids = []
        for value in values:
            if value == "me":
                ids.append(getattr(getattr(self.request, "user", None), "pk", None))
            elif value == "unassigned":
                condition |= Q(assigned_to__isnull=True)
            else:
                ids.append(value)
        if ids:
            condition |= Q(assigned_to_id__in=ids)
        return qs.filter(condition)

    def filter_overdue(self, qs, name, value):
        if value is None:
            return qs
        return qs.filter(overdue_condition()) if value else qs.exclude(overdue_condition())


# --- timeline ---

# --- calendar and iCalendar ---

# --- reminders and mentions ---

# --- CalDAV ---
