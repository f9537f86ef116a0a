"""Leads in the global search box: title, email, names and company name."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from pulse.contacts.search import NewestMatchesEntry
from pulse.core.registry import register_search

from .models import Lead
from .selectors import LEAD_SEARCH_FIELDS


def _describe(lead: Lead) -> tuple[str, str]:
    details = [d for d in (lead.full_name, lead.company_name, lead.stage.name) if d]
    return lead.title, " · ".join(details)


register_search(
    NewestMatchesEntry(
        model=Lead,
        label=_("Leads"),
        fields=LEAD_SEARCH_FIELDS,
        icon="bi-funnel",
        describe=_describe,
        select_related=("stage", "contact"),
    )
)
