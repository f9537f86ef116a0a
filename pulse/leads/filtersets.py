"""FilterSets of leads, shared by the UI list and the API list."""

from __future__ import annotations

# --- leads (A) ---
import django_filters  # noqa: E402
from django import forms  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from pulse.contacts.filtersets import _RecordFilterSet, owner_choices  # noqa: E402
from pulse.contacts.widgets import ManyOptionsSelectMultiple  # noqa: E402

from .models import Lead, LeadSource  # noqa: E402
from .selectors import LEAD_SEARCH_FIELDS  # noqa: E402

# ?ordering= names → order_by() terms (index-friendly; "band" sorts by score).
LEAD_ORDERINGS: dict[str, tuple] = {
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "title": ("title",),
    "score": ("score",),
    "band": ("score",),
    "value": ("value",),
    "expected_close_date": ("expected_close_date",),
    "stage": ("stage__position",),
    "assigned_to": ("assigned_to__full_name",),
    "source": ("source",),
}
BANDS = (("hot", _("Hot")), ("warm", _("Warm")), ("cold", _("Cold")))


def _stage_choices(request):
    org = getattr(request, "organization", None)
    if org is None:
        return []
    from .selectors import lead_stages

    return [(s.key, s.name) for s in lead_stages(org=org)]


class LeadFilterSet(_RecordFilterSet):
    """Leads by text, stage (keys), source, owner (``me``, ``unassigned``), tags, band
    (the organization's hot/warm/cold thresholds), score, dates, conversion, custom fields."""

    search_fields = LEAD_SEARCH_FIELDS

    stage = django_filters.MultipleChoiceFilter(
        field_name="stage__key",
        distinct=False,
        label=_("Stage"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    source = django_filters.MultipleChoiceFilter(
        choices=LeadSource.choices,
        distinct=False,
        label=_("Source"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    assigned_to = django_filters.MultipleChoiceFilter(
        method="filter_assigned_to",
        distinct=False,
        label=_("Owner"),
        widget=ManyOptionsSelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    band = django_filters.MultipleChoiceFilter(
        choices=BANDS,
        method="filter_band",
        distinct=False,
        label=_("Band"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    score_min = django_filters.NumberFilter(
        field_name="score",
        lookup_expr="gte",
        label=_("Score from"),
        widget=forms.NumberInput(attrs={"class": "form-control", "min": 0, "max": 100}),
    )
    score_max = django_filters.NumberFilter(
        field_name="score",
        lookup_expr="lte",
        label=_("Score up to"),
        widget=forms.NumberInput(attrs={"class": "form-control", "min": 0, "max": 100}),
    )
    converted = django_filters.BooleanFilter(
        field_name="converted_at",
        lookup_expr="isnull",
        exclude=True,
        label=_("Converted"),
        widget=forms.Select(
            attrs={"class": "form-select"},
            choices=(("", _("Any")), ("true", _("Yes")), ("false", _("No"))),
        ),
    )

    class Meta:
        model = Lead
        fields = [
            "search",
            "stage",
            "source",
            "assigned_to",
            "tags",
            "band",
            "score_min",
            "score_max",
            "converted",
            "country",
            "created",
            "updated",
        ]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.filters["stage"].extra["choices"] = _stage_choices(request)
        self.filters["assigned_to"].extra["choices"] = owner_choices(request)

    def filter_assigned_to(self, qs, name, values):
        if not values:
            return qs
        condition = Q()
        ids = []
        for value in values:
            if value == "me":
                ids.append(getattr(self.request.user, "pk", None))
            elif value == "unassigned":
                condition |= Q(assigned_to__isnull=True)
            else:
                ids.append(value)
        if ids:
            condition |= Q(assigned_to_id__in=ids)
        return qs.filter(condition)

    def filter_band(self, qs, name, values):
        if not values or set(values) == {"hot", "warm", "cold"}:
            return qs
        from .services import lead_settings

        settings = lead_settings(org=self.request.organization)
        ranges = {
            "hot": Q(score__gte=settings.hot_threshold),
            "warm": Q(score__gte=settings.warm_threshold, score__lt=settings.hot_threshold),
            "cold": Q(score__lt=settings.warm_threshold),
        }
        condition = Q()
        for value in values:
            condition |= ranges[value]
        return qs.filter(condition)


# --- web-to-lead forms (B) ---
from pulse.contacts.filtersets import (  # noqa: E402
    _style_filter_form,
    _without_blanks,
)
from pulse.contacts.selectors import apply_search  # noqa: E402

from .models import WebForm, WebFormSubmission  # noqa: E402


class _StyledFilterSet(django_filters.FilterSet):
    """Blank values mean "no filter"; Bootstrap classes on the filter bar."""

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(_without_blanks(data), *args, **kwargs)

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_styled", False):
            _style_filter_form(form)
            form._styled = True
        return form


class WebFormFilterSet(_StyledFilterSet):
    """Web forms by name, whether they take submissions, and double opt-in."""

    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        widget=forms.TextInput(attrs={"type": "search", "class": "form-control"}),
    )
    active = django_filters.BooleanFilter(label=_("Accepting submissions"))
    double_opt_in = django_filters.BooleanFilter(label=_("Double opt-in"))

    class Meta:
        model = WebForm
        fields = ["search", "active", "double_opt_in"]

    def filter_search(self, qs, name, value):
        return apply_search(qs, value, ("name",)) if value else qs


class WebFormSubmissionFilterSet(_StyledFilterSet):
    """Submissions by form (id) and status."""

    form = django_filters.UUIDFilter(field_name="form_id", label=_("Form"))
    status = django_filters.ChoiceFilter(
        choices=WebFormSubmission.Status.choices, label=_("Status"), empty_label=_("Any")
    )

    class Meta:
        model = WebFormSubmission
        fields = ["form", "status"]


# --- scoring (C) ---
from .models import EngagementKind as _CEngagementKind  # noqa: E402
from .models import ScoringRule as _CScoringRule  # noqa: E402


class ScoringRuleFilterSet(django_filters.FilterSet):
    """Scoring rules: by name, kind, event, active."""

    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", label=_("Search")
    )
    kind = django_filters.ChoiceFilter(choices=_CScoringRule.Kind.choices, label=_("Kind"))
    event = django_filters.ChoiceFilter(choices=_CEngagementKind.choices, label=_("Engagement"))
    active = django_filters.BooleanFilter(label=_("Active"))

    class Meta:
        model = _CScoringRule
        fields = ["search", "kind", "event", "active"]


# --- routing, conversion (D) ---
import django_filters as _d_filters  # noqa: E402
from django import forms as _d_forms  # noqa: E402
from django.utils.translation import gettext_lazy as _d  # noqa: E402

from .models import AssignmentRule  # noqa: E402


class AssignmentRuleFilterSet(_d_filters.FilterSet):
    """Assignment rules by name, strategy and whether they are active."""

    search = _d_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label=_d("Search"),
        widget=_d_forms.TextInput(
            attrs={"type": "search", "class": "form-control", "placeholder": _d("Search rules…")}
        ),
    )
    strategy = _d_filters.ChoiceFilter(
        choices=AssignmentRule.Strategy.choices, label=_d("Strategy")
    )
    active = _d_filters.BooleanFilter(label=_d("Active"))

    class Meta:
        model = AssignmentRule
        fields = ["search", "strategy", "active"]
