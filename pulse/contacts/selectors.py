"""Reads of contacts and companies: list querysets, search, company hierarchy rollups.

Everything starts from ``Model.objects.restrict(user, action)`` so the role and
record visibility apply (rule 2), and joins what the screens show up front so a
page costs a fixed number of queries (rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from .models import MAX_HIERARCHY_DEPTH, Company, Contact

# What list pages and API lists show with each row.
CONTACT_LIST_SELECT_RELATED = ("company", "assigned_to")
CONTACT_LIST_PREFETCH_RELATED = ("tags",)
CONTACT_DETAIL_SELECT_RELATED = ("company", "assigned_to", "created_by", "updated_by")
COMPANY_LIST_SELECT_RELATED = ("assigned_to", "parent")
COMPANY_LIST_PREFETCH_RELATED = ("tags",)
COMPANY_DETAIL_SELECT_RELATED = ("assigned_to", "parent", "created_by", "updated_by")

CONTACT_SEARCH_FIELDS = ("first_name", "last_name", "email", "phone", "mobile", "company__name")
COMPANY_SEARCH_FIELDS = ("name", "domain", "website", "phone")

# A hierarchy page shows at most this many companies (deeper or wider trees link on).
MAX_TREE_NODES = 500


def apply_search(qs: QuerySet, query: str, fields: tuple[str, ...]) -> QuerySet:
    """Every word of ``query`` must match one of ``fields`` ("ada love" finds Ada Lovelace).

    Contacts and companies searched by their standard fields go through the indexed
    search of ``pulse/contacts/search.py`` (trigram indexes on PostgreSQL, phone digits,
    company names); other fields and models fall back to ``icontains`` per word.
    """
    standard = {Contact: CONTACT_SEARCH_FIELDS, Company: COMPANY_SEARCH_FIELDS}
    if standard.get(qs.model) == fields:
        from .search import search_filter

        return search_filter(qs, query)
    for word in query.split()[:5]:
        condition = Q()
        for name in fields:
            condition |= Q(**{f"{name}__icontains": word})
        qs = qs.filter(condition)
    return qs


def contact_list(*, user, action: str = "view") -> QuerySet[Contact]:
    """Contacts ``user`` may ``action``, with company, owner and tags for list rows."""
    return (
        Contact.objects.restrict(user, action)
        .select_related(*CONTACT_LIST_SELECT_RELATED)
        .prefetch_related(*CONTACT_LIST_PREFETCH_RELATED)
    )


def contacts_counts(*, company_ids, user) -> dict:
    """{company id: number of its live contacts ``user`` can see}, in one query."""
    return dict(
        Contact.objects.restrict(user, "view")
        .filter(company_id__in=list(company_ids))
        .order_by()
        .values_list("company_id")
        .annotate(n=Count("pk"))
    )


def company_list(*, user, action: str = "view") -> QuerySet[Company]:
    """Companies ``user`` may ``action``, with owner, parent and tags for list rows."""
    return (
        Company.objects.restrict(user, action)
        .select_related(*COMPANY_LIST_SELECT_RELATED)
        .prefetch_related(*COMPANY_LIST_PREFETCH_RELATED)
    )


def company_contacts(*, company: Company, user, limit: int = 10) -> tuple[list[Contact], int]:
    """The first contacts of a company (visible to ``user``) and how many there are."""
    qs = Contact.objects.restrict(user, "view").filter(company=company)
    total = qs.count()
    rows = list(qs.select_related("assigned_to").order_by("last_name", "first_name")[:limit])
    return rows, total


def company_ancestors(*, company: Company, user) -> list[Company]:
    """Parent, grandparent … of ``company`` that ``user`` may see, top-most first."""
    visible = Company.objects.restrict(user, "view")
    chain: list[Company] = []
    current = company.parent_id
    while current is not None and len(chain) < MAX_HIERARCHY_DEPTH:
        parent = visible.filter(pk=current).only("id", "name", "parent_id").first()
        if parent is None:
            break
        chain.append(parent)
        current = parent.parent_id
    return list(reversed(chain))


@dataclass
class CompanyNode:
    """One company in a hierarchy, with its children and contact counts."""

    company: Company
    contacts_count: int = 0
    children: list[CompanyNode] = field(default_factory=list)

    @property
    def total_contacts(self) -> int:
        """Contacts of this company and of every company below it."""
        return self.contacts_count + sum(c.total_contacts for c in self.children)

    @property
    def total_companies(self) -> int:
        """Companies below this one, at any depth."""
        return len(self.children) + sum(c.total_companies for c in self.children)


def company_tree(*, company: Company, user, max_nodes: int = MAX_TREE_NODES) -> CompanyNode:
    """``company`` and its descendants (any depth) with contact totals rolled up.

    One query per level plus one for all the contact counts.
    """
    visible = Company.objects.restrict(user, "view")
    root = CompanyNode(company)
    nodes = {company.pk: root}
    level = [company.pk]
    depth = 0
    while level and len(nodes) < max_nodes and depth < MAX_HIERARCHY_DEPTH:
        children = list(
            visible.filter(parent_id__in=level)
            .exclude(pk__in=list(nodes))
            .select_related("assigned_to")
            .order_by("name")[: max_nodes - len(nodes)]
        )
        level = []
        for child in children:
            node = CompanyNode(child)
            nodes[child.pk] = node
            nodes[child.parent_id].children.append(node)
            level.append(child.pk)
        depth += 1
    counts = contacts_counts(company_ids=nodes, user=user)
    for pk, node in nodes.items():
        node.contacts_count = counts.get(pk, 0)
    return root
