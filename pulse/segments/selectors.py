"""Reads of segments: who is in one (``segment_members``), counts, filter summaries.

Members always start from ``Contact.objects.restrict(user, "view")``: a person never sees
(or sends to) a member their visibility hides (rule 2). A dynamic segment's filters are
read by the contact list's own ``ContactFilterSet``, so a segment *is* a saved filter.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _

from pulse.contacts.filtersets import ContactFilterSet
from pulse.contacts.models import Contact
from pulse.contacts.selectors import CONTACT_LIST_PREFETCH_RELATED, CONTACT_LIST_SELECT_RELATED
from pulse.core.tenancy import get_current_org

from .models import Segment, SegmentMembership

# A dynamic segment's count is cached this long per (segment version, viewer).
COUNT_CACHE_SECONDS = 60


def filters_querydict(filters: dict | None) -> QueryDict:
    """``{"country": ["BG"]}`` → the QueryDict the contact list would receive."""
    query = QueryDict(mutable=True)
    for key, values in (filters or {}).items():
        query.setlist(key, [str(v) for v in (values if isinstance(values, list) else [values])])
    return query


def contact_filterset(
    filters: dict | QueryDict | None, *, user, queryset=None, prefix=None
) -> ContactFilterSet:
    """The contact list's FilterSet bound to ``filters``, as ``user`` would see it.

    Outside a web request (API, tasks, campaigns) a stand-in request carries the user and
    the organization in context: the filter choices (owners, companies, tags) need them.
    """
    data = filters if isinstance(filters, QueryDict) else filters_querydict(filters)
    request = SimpleNamespace(user=user, organization=get_current_org(), GET=data)
    if queryset is None:
        queryset = Contact.objects.restrict(user, "view")
    return ContactFilterSet(data, queryset=queryset, request=request, prefix=prefix)


def segment_members(segment: Segment, user) -> QuerySet[Contact]:
    """The live contacts of ``segment`` that ``user`` may see (unordered; callers order).

    A dynamic segment whose filters no longer validate (a tag or owner it names is gone)
    has no members rather than everybody: a campaign must never widen by accident.
    """
    visible = Contact.objects.restrict(user, "view")
    if segment.is_dynamic:
        filterset = contact_filterset(segment.filters, user=user, queryset=visible)
        if not filterset.is_valid():
            return visible.none()
        return filterset.qs
    member_ids = SegmentMembership.objects.filter(segment=segment).values("contact_id")
    return visible.filter(pk__in=member_ids)


def segment_member_list(segment: Segment, user) -> QuerySet[Contact]:
    """Members with what the member table shows (company, owner, tags), by name."""
    return (
        segment_members(segment, user)
        .select_related(*CONTACT_LIST_SELECT_RELATED)
        .prefetch_related(*CONTACT_LIST_PREFETCH_RELATED)
        .order_by("last_name", "first_name", "pk")
    )


def segment_member_count(segment: Segment, user) -> int:
    """How many members ``user`` sees: one COUNT with the segment's filters.

    Dynamic counts are cached briefly per segment version and viewer (visibility differs
    per person); a static list's count is an indexed subquery and is not cached.
    """
    if not segment.is_dynamic:
        return segment_members(segment, user).count()
    key = f"segment-count:{segment.pk}:{segment.version}:{user.pk}"
    count = cache.get(key)
    if count is None:
        count = segment_members(segment, user).count()
        cache.set(key, count, COUNT_CACHE_SECONDS)
    return count


def segment_list(*, user, action: str = "view") -> QuerySet[Segment]:
    """Segments ``user`` may ``action``, with owner and tags for list rows."""
    return (
        Segment.objects.restrict(user, action)
        .select_related("assigned_to")
        .prefetch_related("tags")
    )


def static_counts(*, segment_ids, user) -> dict:
    """{static list id: members ``user`` sees}, for a page of lists in one query.

    Dynamic segments' counts run their filters, so the list page loads them lazily.
    """
    visible = Contact.objects.restrict(user, "view").values("pk")
    return dict(
        SegmentMembership.objects.filter(segment_id__in=list(segment_ids), contact__in=visible)
        .order_by()
        .values_list("segment_id")
        .annotate(n=Count("pk"))
    )


def contact_lists(*, contact: Contact, user) -> list[Segment]:
    """The static lists ``contact`` is on, that ``user`` may see, by name."""
    member_of = SegmentMembership.objects.filter(contact=contact).values("segment_id")
    return list(Segment.objects.restrict(user, "view").filter(pk__in=member_of).order_by("name"))


def lists_to_add_to(*, contact: Contact, user) -> list[Segment]:
    """Static lists ``user`` may edit that ``contact`` is not on yet (the "Add to list" menu)."""
    member_of = SegmentMembership.objects.filter(contact=contact).values("segment_id")
    return list(
        Segment.objects.restrict(user, "edit")
        .filter(kind="static")
        .exclude(pk__in=member_of)
        .order_by("name")[:100]
    )


def _shown(value) -> str:
    if hasattr(value, "strftime"):
        return value.isoformat()
    if hasattr(value, "start") and hasattr(value, "stop"):  # a date range (slice)
        start = value.start.date().isoformat() if value.start else "…"
        stop = value.stop.date().isoformat() if value.stop else "…"
        return f"{start} – {stop}"
    if isinstance(value, list | tuple) or hasattr(value, "model"):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def filter_summary(filters: dict | None, *, user) -> list[tuple[str, str]]:
    """The filters in words: ``[("Country", "Bulgaria"), ("Tags", "VIP, Partner")]``.

    Values are read through the FilterSet's form, so ids show as names and codes as
    labels; a value that no longer validates shows with its error.
    """
    if not filters:
        return []
    filterset = contact_filterset(filters, user=user)
    form = filterset.form
    valid = form.is_valid()
    summary = []
    for name, field in form.fields.items():
        bound = form[name]
        raw = bound.value()
        if raw in (None, "", [], ()) or (isinstance(raw, list) and not any(raw)):
            continue
        if name in form.errors:
            summary.append(
                (str(field.label), _("invalid: %(e)s") % {"e": " ".join(form.errors[name])})
            )
            continue
        value = form.cleaned_data.get(name) if valid else raw
        choices = dict(getattr(field, "choices", []) or [])
        if choices and not hasattr(field, "queryset"):
            values = value if isinstance(value, list | tuple) else [value]
            text = ", ".join(str(choices.get(v, v)) for v in values)
        else:
            text = _shown(value)
        summary.append((str(field.label), text))
    return summary
