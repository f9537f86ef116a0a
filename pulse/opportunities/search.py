"""Opportunities in the global search box: deal name, company name, contact names."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from pulse.core.registry import SearchEntry, register_search

from .models import Opportunity
from .selectors import OPPORTUNITY_SEARCH_FIELDS


@dataclass(frozen=True)
class OpportunitySearchEntry(SearchEntry):
    """Every word must match one of the fields ("renewal acme" finds Acme's renewal)."""

    def search(self, user, query: str, limit: int = 5) -> list:
        words = (query or "").split()[:5]
        if not words:
            return []
        qs = Opportunity.objects.restrict(user, "view").select_related("stage", "company")
        for word in words:
            condition = Q()
            for name in self.fields:
                condition |= Q(**{f"{name}__icontains": word})
            qs = qs.filter(condition)
        return list(qs.order_by("-created_at", "-pk")[:limit])


def _describe(opportunity: Opportunity) -> tuple[str, str]:
    details = [
        opportunity.company.name if opportunity.company_id else "",
        opportunity.stage.name,
        f"{opportunity.value:,.2f} {opportunity.currency}",
    ]
    return opportunity.name, " · ".join(d for d in details if d)


register_search(
    OpportunitySearchEntry(
        model=Opportunity,
        label=_("Opportunities"),
        fields=OPPORTUNITY_SEARCH_FIELDS,
        icon="bi-briefcase",
        describe=_describe,
    )
)
