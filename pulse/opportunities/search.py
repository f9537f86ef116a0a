"""Opportunities in the global search box: deal name, company name, contact names."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from pulse.contacts.search import COMPANY_SEARCH, CONTACT_SEARCH, NewestMatchesEntry
from pulse.core.registry import register_search

from .models import Opportunity


def _describe(opportunity: Opportunity) -> tuple[str, str]:
    details = [
        opportunity.company.name if opportunity.company_id else "",
        opportunity.stage.name,
        f"{opportunity.value:,.2f} {opportunity.currency}",
    ]
    return opportunity.name, " · ".join(d for d in details if d)


register_search(
    NewestMatchesEntry(
        model=Opportunity,
        label=_("Opportunities"),
        # The deal's own name; its company and contact by the ids a word names.
        fields=("name",),
        related=(("company", COMPANY_SEARCH), ("contact", CONTACT_SEARCH)),
        icon="bi-briefcase",
        describe=_describe,
        select_related=("stage", "company"),
    )
)
