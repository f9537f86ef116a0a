"""Registries that domain apps fill: global search entries.

An app registers a ``SearchEntry`` in its ``search.py``; the global search box
queries each entry through ``Model.objects.restrict(user, "view")``, so search never
shows what the user may not see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet


@dataclass(frozen=True)
class SearchEntry:
    model: type
    label: str
    fields: tuple[str, ...]
    icon: str = "bi-file-earmark"
    # Turns a row into (title, subtitle); default: str(row), "".
    describe: Callable = field(default=lambda row: (str(row), ""))
    select_related: tuple[str, ...] = ()

    def search(self, user, query: str, limit: int = 5) -> QuerySet:
        condition = Q()
        for name in self.fields:
            condition |= Q(**{f"{name}__icontains": query})
        qs = self.model.objects.restrict(user, "view").filter(condition)
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        return qs[:limit]


_search_entries: list[SearchEntry] = []


def register_search(entry: SearchEntry) -> SearchEntry:
    if all(e.model is not entry.model for e in _search_entries):
        _search_entries.append(entry)
    return entry


def search_entries() -> list[SearchEntry]:
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("search")
    return list(_search_entries)
