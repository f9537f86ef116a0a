"""Activities in the global search box: by subject (every word must match)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.registry import SearchEntry, register_search

from .models import Activity
from .selectors import ACTIVITY_SEARCH_FIELDS


@dataclass(frozen=True)
class ActivitySearchEntry(SearchEntry):
    """Newest first; only what the user may see."""

    def search(self, user, query: str, limit: int = 5) -> list:
        words = (query or "").split()[:5]
        if not words:
            return []
        qs = Activity.objects.restrict(user, "view").select_related("contact", "company")
        for word in words:
            condition = Q()
            for name in self.fields:
                condition |= Q(**{f"{name}__icontains": word})
            qs = qs.filter(condition)
        return list(qs.order_by("-occurred_at", "-pk")[:limit])


def _describe(activity: Activity) -> tuple[str, str]:
    details = [
        activity.get_type_display(),
        activity.get_status_display(),
        timezone.localtime(activity.occurred_at).strftime("%Y-%m-%d"),
        str(activity.contact) if activity.contact_id else "",
        activity.company.name if activity.company_id else "",
    ]
    return activity.subject, " · ".join(d for d in details if d)


register_search(
    ActivitySearchEntry(
        model=Activity,
        label=_("Activities"),
        fields=ACTIVITY_SEARCH_FIELDS,
        icon="bi-check2-square",
        describe=_describe,
    )
)
