"""Activities in the global search box: by subject (every word must match), newest first."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.contacts.search import NewestMatchesEntry
from pulse.core.registry import register_search

from .models import Activity
from .selectors import ACTIVITY_SEARCH_FIELDS


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
    NewestMatchesEntry(
        model=Activity,
        label=_("Activities"),
        fields=ACTIVITY_SEARCH_FIELDS,
        icon="bi-check2-square",
        describe=_describe,
        select_related=("contact", "company"),
        ordering=("-occurred_at", "-pk"),
    )
)
