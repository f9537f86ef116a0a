"""FilterSets shared by the UI lists, the board and the API (rule 4)."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from pulse.contacts.filtersets import _members, _RecordFilterSet, owner_choices
from pulse.contacts.widgets import ManyOptionsSelectMultiple
from pulse.leads.models import LeadSource

from .models import (
    ForecastCategory,
    Opportunity,
    Pipeline,
    Quota,
    QuotaMetric,
    QuotaPeriod,
    Stage,
    StageType,
)
from .selectors import OPPORTUNITY_SEARCH_FIELDS, pipelines_of

# --- opportunities (A): OpportunityFilterSet, OPPORTUNITY_ORDERINGS ---

# ?ordering= names → order_by() terms (the API's field names).
OPPORTUNITY_ORDERINGS: dict[str, tuple] = {
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "name": ("name",),
    "value": ("value",),
    "expected_close_date": ("expected_close_date",),
    "probability": ("probability",),
    "stage": ("pipeline__position", "stage__position"),
    "assigned_to": ("assigned_to__full_name",),
    "company": ("company__name",),
}

_MULTI = {"class": "form-select", "data-tom-select": ""}


def _org(request):
    return getattr(request, "organization", None)


def _pipeline_choices(request):
    # Callables: django's ChoiceField reads them only when rendering or validating a
    # value, so an unfiltered API list pays no query for them.
    def choices():
        org = _org(request)
        return [(str(p.pk), p.name) for p in pipelines_of(org)] if org is not None else []

    return choices


def _stage_choices(request):
    def choices():
        org = _org(request)
        if org is None:
            return []
        pipelines = pipelines_of(org)
        if len(pipelines) == 1:
            return [(str(s.pk), s.name) for s in pipelines[0].stage_list]
        return [(p.name, [(str(s.pk), s.name) for s in p.stage_list]) for p in pipelines]

    return choices


def _teams(request):
    from pulse.accounts.models import Team

    org = _org(request)
    if org is None:
        return Team.objects.none()
    # Everyone may filter by team (a rep looking at the team's deals): the team list
    # itself is not secret, its settings are (permission group "config").
    return Team.objects.unscoped().filter(organization=org, deleted_at__isnull=True)


def rotting_condition(org, now=None) -> Q:
    """Open deals idle for longer than their stage allows (``Opportunity.is_rotting``),
    as one condition per stage with a threshold (stages are few and read once)."""
    now = now or timezone.now()
    condition = Q(pk__in=[])
    for pipeline in pipelines_of(org):
        for stage in pipeline.stage_list:
            if stage.type == StageType.OPEN and stage.rotting_days:
                # is_rotting: more than ``rotting_days`` whole days since the last activity.
                cutoff = now - datetime.timedelta(days=stage.rotting_days + 1)
                condition |= Q(stage_id=stage.pk, last_activity_at__lte=cutoff)
    return Q(status=StageType.OPEN) & condition


@extend_schema_field(OpenApiTypes.UUID)
class TeamFilter(django_filters.ModelChoiceFilter):
    """A team by id; its members' records (the API schema says: a UUID)."""


class OpportunityFilterSet(_RecordFilterSet):
    """Opportunities by text (name, company, contact), pipeline, stage, status, owner
    (``me``, ``unassigned``, ids), team, tags, value range, expected close date, dates,
    forecast category, source, rotting, custom fields. Shared by list, board and API."""

    search_fields = OPPORTUNITY_SEARCH_FIELDS
    country = None  # opportunities have no country

    pipeline = django_filters.ChoiceFilter(
        field_name="pipeline_id",
        label=_("Pipeline"),
        empty_label=_("Any pipeline"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    stage = django_filters.MultipleChoiceFilter(
        field_name="stage_id",
        distinct=False,
        label=_("Stage"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    status = django_filters.MultipleChoiceFilter(
        choices=StageType.choices,
        distinct=False,
        label=_("Status"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    assigned_to = django_filters.MultipleChoiceFilter(
        method="filter_assigned_to",
        distinct=False,
        label=_("Owner"),
        widget=ManyOptionsSelectMultiple(attrs=_MULTI),
    )
    team = TeamFilter(
        queryset=_teams,
        method="filter_team",
        label=_("Team"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    value_min = django_filters.NumberFilter(
        field_name="value",
        lookup_expr="gte",
        label=_("Value from"),
        widget=forms.NumberInput(attrs={"class": "form-control", "min": 0, "step": "any"}),
    )
    value_max = django_filters.NumberFilter(
        field_name="value",
        lookup_expr="lte",
        label=_("Value up to"),
        widget=forms.NumberInput(attrs={"class": "form-control", "min": 0, "step": "any"}),
    )
    close_from = django_filters.DateFilter(
        field_name="expected_close_date",
        lookup_expr="gte",
        label=_("Closing from"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    close_to = django_filters.DateFilter(
        field_name="expected_close_date",
        lookup_expr="lte",
        label=_("Closing by"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    closed_from = django_filters.DateFilter(
        field_name="actual_close_date",
        lookup_expr="gte",
        label=_("Closed from"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    closed_to = django_filters.DateFilter(
        field_name="actual_close_date",
        lookup_expr="lte",
        label=_("Closed by"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    forecast_category = django_filters.MultipleChoiceFilter(
        choices=ForecastCategory.choices,
        distinct=False,
        label=_("Forecast category"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    source = django_filters.MultipleChoiceFilter(
        choices=LeadSource.choices,
        distinct=False,
        label=_("Source"),
        widget=forms.SelectMultiple(attrs=_MULTI),
    )
    rotting = django_filters.BooleanFilter(
        method="filter_rotting",
        label=_("Rotting"),
        widget=forms.Select(
            attrs={"class": "form-select"},
            choices=(("", _("Any")), ("true", _("Yes")), ("false", _("No"))),
        ),
    )

    class Meta:
        model = Opportunity
        fields = [
            "search",
            "pipeline",
            "stage",
            "status",
            "assigned_to",
            "team",
            "tags",
            "value_min",
            "value_max",
            "close_from",
            "close_to",
            "closed_from",
            "closed_to",
            "forecast_category",
            "source",
            "rotting",
            "created",
            "updated",
        ]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.filters["pipeline"].extra["choices"] = _pipeline_choices(request)
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

    def filter_team(self, qs, name, team):
        if team is None:
            return qs
        members = team.members.through.objects.filter(team_id=team.pk).values("user_id")
        return qs.filter(assigned_to_id__in=members)

    def filter_rotting(self, qs, name, value):
        if value is None:
            return qs
        condition = rotting_condition(self.request.organization)
        return qs.filter(condition) if value else qs.exclude(condition)


# --- quotas, stages (B) ---


def _teams(request):
    from pulse.accounts.models import Team

    if request is None:
        return Team.objects.none()
    return Team.objects.restrict(request.user, "view")


def _pipelines(request):
    if request is None:
        return Pipeline.objects.none()
    return Pipeline.objects.restrict(request.user, "view")


class StageFilterSet(django_filters.FilterSet):
    """Stages of one pipeline (``?pipeline=<id>``), in board order."""

    pipeline = django_filters.ModelChoiceFilter(queryset=_pipelines, label=_("Pipeline"))
    type = django_filters.ChoiceFilter(choices=StageType.choices, label=_("Type"))

    class Meta:
        model = Stage
        fields = ["pipeline", "type"]


class QuotaFilterSet(django_filters.FilterSet):
    """Quotas by user, team, period kind, metric and period start (``period_start_after``,
    ``period_start_before``)."""

    user = django_filters.ModelChoiceFilter(queryset=_members, label=_("User"))
    team = django_filters.ModelChoiceFilter(queryset=_teams, label=_("Team"))
    period = django_filters.ChoiceFilter(choices=QuotaPeriod.choices, label=_("Period"))
    metric = django_filters.ChoiceFilter(choices=QuotaMetric.choices, label=_("Measured in"))
    period_start = django_filters.DateFromToRangeFilter(
        label=_("Period starts"),
        widget=django_filters.widgets.DateRangeWidget(
            attrs={"type": "date", "class": "form-control form-control-sm d-inline-block w-auto"}
        ),
    )

    class Meta:
        model = Quota
        fields = ["user", "team", "period", "metric", "period_start"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("user", "team", "period", "metric"):
            self.form.fields[name].widget.attrs["class"] = "form-select form-select-sm"
