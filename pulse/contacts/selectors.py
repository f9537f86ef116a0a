"""Reads of contacts and companies: list querysets, search, company hierarchy rollups.

Everything starts from ``Model.objects.restrict(user, action)`` so the role and
record visibility apply (rule 2), and joins what the screens show up front so a
page costs a fixed number of queries (rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

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


# --- opportunities of a contact or a company (issue 5, section D) -------------------------------
# Read by the lazily loaded "Opportunities" panels of the contact and company pages, so the
# pages' own pinned query counts do not change.


@dataclass
class OpportunityTotals:
    """Deals of one company (or one contact): open and won, values in the organization's
    currency at today's rates (``unconverted``: deals in a currency with no rate)."""

    open_count: int = 0
    open_value: Decimal = field(default_factory=Decimal)
    won_count: int = 0
    won_value: Decimal = field(default_factory=Decimal)
    lost_count: int = 0
    unconverted: int = 0

    def add(self, other: OpportunityTotals) -> None:
        for name in ("open_count", "open_value", "won_count", "won_value", "lost_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unconverted += other.unconverted


@dataclass
class OpportunityRollupNode:
    """A company of a hierarchy with its own deal totals and those of everything below."""

    company: Company
    own: OpportunityTotals
    children: list[OpportunityRollupNode] = field(default_factory=list)

    @property
    def total(self) -> OpportunityTotals:
        total = OpportunityTotals()
        total.add(self.own)
        for child in self.children:
            total.add(child.total)
        return total

    def flat(self, depth: int = 0):
        """(depth, node) in tree order, for a table."""
        yield depth, self
        for child in self.children:
            yield from child.flat(depth + 1)


def _opportunity_totals(opportunities, group: str, org) -> dict:
    """``group`` value → OpportunityTotals, from one grouped query over ``opportunities``."""
    from django.db.models import Sum
    from django.utils import timezone

    from pulse.currencies.selectors import converter

    rates = converter(org)
    today = timezone.localdate()
    totals: dict = {}
    for row in (
        opportunities.order_by()
        .values(group, "status", "currency")
        .annotate(n=Count("pk"), v=Sum("value"))
    ):
        item = totals.setdefault(row[group], OpportunityTotals())
        amount = rates.convert(row["v"] or Decimal("0"), row["currency"], today).amount
        if row["status"] == "lost":
            item.lost_count += row["n"]
            continue
        if amount is None:
            item.unconverted += row["n"]
            amount = Decimal("0")
        if row["status"] == "open":
            item.open_count += row["n"]
            item.open_value += amount
        else:
            item.won_count += row["n"]
            item.won_value += amount
    return totals


def contact_opportunities(*, contact: Contact, user, org=None, limit: int = 10):
    """The deals ``contact`` is on (as the deal's contact or with a role), newest first,
    at most ``limit``, with the totals of all of them: (deals, totals, count).
    ``org``: the contact's organization when the caller has it (saves a query)."""
    from pulse.opportunities.models import Opportunity, OpportunityContact

    roles = OpportunityContact.objects.filter(contact=contact).values("opportunity_id")
    deals = Opportunity.objects.restrict(user, "view").filter(Q(contact=contact) | Q(pk__in=roles))
    totals = _opportunity_totals(deals, "organization", org or contact.organization)
    summary = totals.get(contact.organization_id) or OpportunityTotals()
    rows = list(deals.select_related("stage", "assigned_to").order_by("-created_at")[:limit])
    count = summary.open_count + summary.won_count + summary.lost_count
    return rows, summary, count


def company_opportunity_rollup(*, company: Company, user, org=None, limit: int = 10):
    """The company's own deals (newest first, at most ``limit``) and its hierarchy with
    deal totals per company and rolled up over every company below:
    (deals, root node). ``org``: the company's organization when the caller has it."""
    from pulse.opportunities.models import Opportunity

    tree = company_tree(company=company, user=user)
    companies: dict = {}

    def walk(node):
        companies[node.company.pk] = node.company
        for child in node.children:
            walk(child)

    walk(tree)
    visible = Opportunity.objects.restrict(user, "view")
    totals = _opportunity_totals(
        visible.filter(company_id__in=list(companies)), "company", org or company.organization
    )

    def build(node) -> OpportunityRollupNode:
        own = totals.get(node.company.pk) or OpportunityTotals()
        return OpportunityRollupNode(node.company, own, [build(c) for c in node.children])

    deals = list(
        visible.filter(company=company)
        .select_related("stage", "assigned_to")
        .order_by("-created_at")[:limit]
    )
    return deals, build(tree)
