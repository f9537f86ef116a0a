"""FilterSets shared by the contact and company list pages and the API lists (rule 4).

Also the sort orders both offer: ``?ordering=<name>`` or ``-<name>``, mapped to
expressions that match the list indexes (e.g. ``lower(email)``).
"""

from __future__ import annotations

from collections import OrderedDict

import django_filters
from django import forms
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from pulse.core.countries import COUNTRY_CHOICES
from pulse.extras.customfields import CustomFieldFilterSetMixin, custom_field_ordering
from pulse.extras.filters import TagFilter

from .models import Company, Contact, LeadSource, LifecycleStage, SizeBand
from .selectors import COMPANY_SEARCH_FIELDS, CONTACT_SEARCH_FIELDS, apply_search
from .widgets import ManyOptionsSelectMultiple, RemoteSelect

# ?ordering= names → order_by() terms (the model field names people see in the API).
CONTACT_ORDERINGS: dict[str, tuple] = {
    "name": ("last_name", "first_name"),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "email": (Lower("email"),),
    "company": ("company__name",),
    "lifecycle_stage": ("lifecycle_stage",),
    "assigned_to": ("assigned_to__full_name",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
}
COMPANY_ORDERINGS: dict[str, tuple] = {
    "name": ("name",),
    "domain": ("domain",),
    "industry": ("industry",),
    "country": ("country",),
    "annual_revenue": ("annual_revenue",),
    "assigned_to": ("assigned_to__full_name",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
}


def order_terms(model, orderings: dict[str, tuple], requested: str, default: str) -> list:
    """``order_by`` terms for ``?ordering=`` (an unknown name falls back to ``default``).

    ``cf_<key>`` sorts by a custom field. The primary key ends every ordering so
    pages never overlap.
    """
    for candidate in (requested, default):
        terms = _terms(model, orderings, (candidate or "").strip())
        if terms:
            return terms
    return ["-created_at", "-pk"]


def _terms(model, orderings: dict[str, tuple], requested: str) -> list:
    name = requested.lstrip("-")
    descending = requested.startswith("-")
    if name in orderings:
        terms = orderings[name]
    elif name.startswith("cf_") and len(name) > 3:
        term = custom_field_ordering(model, name[3:])
        if term is None:
            return []
        terms = (term,)
    else:
        return []
    result = []
    for term in terms:
        if isinstance(term, str):
            result.append(f"-{term}" if descending else term)
        else:
            result.append(term.desc(nulls_last=True) if descending else term.asc(nulls_last=True))
    return [*result, "-pk" if descending else "pk"]


def _members(request):
    from pulse.accounts.models import User
    from pulse.accounts.selectors import organization_members

    org = getattr(request, "organization", None)
    return organization_members(org) if org is not None else User.objects.none()


def members_list(request) -> list:
    """The organization's members (``Member``: pk, name, email), read once per request:
    the filter bar's owner choices, the bulk bar and user cells all show them."""
    from pulse.accounts.selectors import organization_member_list
    from pulse.core.tenancy import memoized

    org = getattr(request, "organization", None)
    if org is None:
        return []
    return memoized(("accounts.members", org.pk), lambda: organization_member_list(org))


def owner_choices(request):
    """The owner filter's choices of leads, deals and activities: "me", "unassigned", then
    every member (read once per request), made when the filter form is built."""

    def choices():
        return [("me", _("Me")), ("unassigned", _("Unassigned"))] + [
            (str(m.pk), str(m)) for m in members_list(request)
        ]

    return choices


def _companies(request):
    user = getattr(request, "user", None)
    if user is None or getattr(request, "organization", None) is None:
        return Company.objects.none()
    return Company.objects.restrict(user, "view")


def _date_range(field_name, label):
    """``?<name>_after=YYYY-MM-DD&<name>_before=YYYY-MM-DD`` (whole days, inclusive)."""
    return django_filters.DateFromToRangeFilter(
        field_name=field_name,
        label=label,
        widget=django_filters.widgets.DateRangeWidget(
            attrs={"type": "date", "class": "form-control form-control-sm"}
        ),
    )


def _without_blanks(data):
    """The query without empty values: ``?tags=&country=`` (an untouched filter bar,
    a hand-edited URL) means "no filter", not an invalid one."""
    if data is None or not hasattr(data, "lists"):
        return data
    cleaned = QueryDict(mutable=True)
    for key, values in data.lists():
        kept = [v for v in values if v not in ("", None)]
        if kept:
            cleaned.setlist(key, kept)
    return cleaned


def _style_filter_form(form) -> None:
    """Bootstrap classes for filters declared elsewhere (tags, custom fields)."""
    for field in form.fields.values():
        widget = field.widget
        if widget.attrs.get("class"):
            continue
        if isinstance(widget, forms.SelectMultiple):
            widget.attrs.update({"class": "form-select", "data-tom-select": ""})
        elif isinstance(widget, forms.Select | forms.NullBooleanSelect):
            widget.attrs["class"] = "form-select"
        elif isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.MultiWidget):
            for sub in widget.widgets:
                sub.attrs.setdefault("class", "form-control form-control-sm")
        else:
            widget.attrs["class"] = "form-control"


class FixedChoicesSelect(forms.Select):
    """A ``<select>`` over a choice list that never changes at run time (the 250
    countries), its HTML kept per language, name, chosen value and attributes.

    Building and escaping 250 options was the costliest piece of a list page's filter bar
    (~8 ms of ~30 ms of template work per request on the bench machine). The key holds
    the choice values too, so a changed list is a new entry, never stale markup.
    """

    CACHE_SIZE = 256
    _rendered: OrderedDict = OrderedDict()

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        key = (
            get_language(),
            name,
            tuple(self.format_value(value)),
            tuple(sorted((k, str(v)) for k, v in final_attrs.items())),
            tuple(str(v) for v, _label in self.choices),
            type(renderer).__name__,
        )
        html = self._rendered.get(key)
        if html is None:
            html = super().render(name, value, attrs, renderer)
            self._rendered[key] = html
            if len(self._rendered) > self.CACHE_SIZE:
                self._rendered.popitem(last=False)
        return html


class _RecordFilterSet(CustomFieldFilterSetMixin, django_filters.FilterSet):
    """What contacts and companies filter on alike."""

    search_fields: tuple[str, ...] = ()

    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        widget=forms.TextInput(attrs={"type": "search", "class": "form-control"}),
    )
    tags = TagFilter(label=_("Tags"))
    # distinct=False: django-filter's default SELECT DISTINCT over whole rows defeats the
    # ordering index (1.2 s at a million contacts); a single-valued column never repeats rows.
    assigned_to = django_filters.ModelMultipleChoiceFilter(
        queryset=_members,
        distinct=False,
        label=_("Owner"),
        widget=ManyOptionsSelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    country = django_filters.ChoiceFilter(
        choices=COUNTRY_CHOICES,
        label=_("Country"),
        widget=FixedChoicesSelect(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    created = _date_range("created_at", _("Created"))
    updated = _date_range("updated_at", _("Updated"))

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
        return apply_search(qs, value, self.search_fields) if value else qs


class ContactFilterSet(_RecordFilterSet):
    """Contacts by text, tags, owner, lifecycle stage, company, country, dates, custom fields."""

    search_fields = CONTACT_SEARCH_FIELDS

    lifecycle_stage = django_filters.MultipleChoiceFilter(
        choices=LifecycleStage.choices,
        distinct=False,
        label=_("Lifecycle stage"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    company = django_filters.ModelChoiceFilter(
        queryset=_companies,
        label=_("Company"),
        widget=RemoteSelect(url_name="contacts:company_options"),
    )
    lead_source = django_filters.ChoiceFilter(
        choices=LeadSource.choices,
        label=_("Lead source"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    class Meta:
        model = Contact
        fields = [
            "search",
            "tags",
            "assigned_to",
            "lifecycle_stage",
            "company",
            "country",
            "lead_source",
            "created",
            "updated",
        ]


class CompanyFilterSet(_RecordFilterSet):
    """Companies by text, tags, owner, size, industry, parent, country, dates, custom fields."""

    search_fields = COMPANY_SEARCH_FIELDS

    size_band = django_filters.MultipleChoiceFilter(
        choices=SizeBand.choices,
        label=_("Company size"),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "data-tom-select": ""}),
    )
    industry = django_filters.CharFilter(
        lookup_expr="iexact",
        label=_("Industry"),
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    parent = django_filters.ModelChoiceFilter(
        queryset=_companies,
        label=_("Parent company"),
        widget=RemoteSelect(url_name="contacts:company_options"),
    )

    class Meta:
        model = Company
        fields = [
            "search",
            "tags",
            "assigned_to",
            "size_band",
            "industry",
            "parent",
            "country",
            "created",
            "updated",
        ]
