"""Global search entries: contacts by name, email, phone and company; companies by name
and domain. Each word of the query must match (``ada love`` finds Ada Lovelace)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from pulse.core.registry import SearchEntry, register_search

from .models import Company, Contact
from .selectors import CONTACT_SEARCH_FIELDS, apply_search


@dataclass(frozen=True)
class WordSearchEntry(SearchEntry):
    """A search entry matching word by word, best (name-ordered) matches first."""

    ordering: tuple[str, ...] = ()

    def search(self, user, query: str, limit: int = 5) -> QuerySet:
        qs = apply_search(self.model.objects.restrict(user, "view"), query, self.fields)
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        return qs.order_by(*self.ordering, "pk")[:limit]


def _describe_contact(contact: Contact) -> tuple[str, str]:
    details = [d for d in (contact.email, contact.company.name if contact.company else "") if d]
    return str(contact), " · ".join(details)


def _describe_company(company: Company) -> tuple[str, str]:
    return company.name, company.domain


register_search(
    WordSearchEntry(
        model=Contact,
        label=_("Contacts"),
        fields=CONTACT_SEARCH_FIELDS,
        icon="bi-person",
        describe=_describe_contact,
        select_related=("company",),
        ordering=("last_name", "first_name"),
    )
)
register_search(
    WordSearchEntry(
        model=Company,
        label=_("Companies"),
        fields=("name", "domain"),
        icon="bi-building",
        describe=_describe_company,
        ordering=("name",),
    )
)
