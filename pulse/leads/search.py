"""Leads in the global search box: title, email, names and company name."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from pulse.core.registry import SearchEntry, register_search

from .models import Lead
from .selectors import LEAD_SEARCH_FIELDS


@dataclass(frozen=True)
class LeadSearchEntry(SearchEntry):
    """Every word must match one of the fields ("rosa acme" finds Rosa's lead at Acme)."""

    def search(self, user, query: str, limit: int = 5) -> list:
        words = (query or "").split()[:5]
        if not words:
            return []
        qs = Lead.objects.restrict(user, "view").select_related("stage", "contact")
        for word in words:
            condition = Q()
            for name in self.fields:
                condition |= Q(**{f"{name}__icontains": word})
            qs = qs.filter(condition)
        return list(qs.order_by("-created_at", "-pk")[:limit])


def _describe(lead: Lead) -> tuple[str, str]:
    details = [d for d in (lead.full_name, lead.company_name, lead.stage.name) if d]
    return lead.title, " · ".join(details)


register_search(
    LeadSearchEntry(
        model=Lead,
        label=_("Leads"),
        fields=LEAD_SEARCH_FIELDS,
        icon="bi-funnel",
        describe=_describe,
    )
)
