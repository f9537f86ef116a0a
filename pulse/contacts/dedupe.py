"""Duplicate detection of contacts and companies (issue 3, "Dedupe and merge").

Two questions, both answered with index lookups only (no table scans, DESIGN rule 7):

* ``contact_duplicates`` / ``company_duplicates``: which existing records look like this
  one (a record being created or edited, an import row, an API write)?
* ``contact_duplicate_pairs`` / ``company_duplicate_pairs``: which pairs of records of the
  organization are likely the same (the Duplicates page)?

Contacts match on the same email (case-insensitive, through the ``Lower("email")``
index), the same phone number (E.164, through the ``phone`` and ``mobile`` indexes), or a
similar full name (rapidfuzz) among contacts of the same company or the same email domain
(never across free-mail domains such as gmail.com). Companies match on the same
``name_key`` (``company_name_key``), the same domain, or a similar name among companies
whose name key starts with the same word.

Every candidate query starts from ``Model.objects.restrict(user, "view")``: only live
records the user may see are offered.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Lower, Substr
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rapidfuzz import fuzz

from .models import Company, Contact, company_name_key, domain_from_website, email_domain
from .phones import normalize_phone

# Addresses at these domains say nothing about where someone works: two "John Smith"s
# at gmail.com are not a duplicate signal.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "abv.bg",
        "dir.bg",
        "mail.bg",
        "qq.com",
        "163.com",
    }
)

# rapidfuzz token_sort_ratio at or above this is "a similar name".
NAME_SIMILARITY = 88
# At most this many candidates per key are read (a company with 10,000 contacts must
# not turn one duplicate check into a 10,000-row read).
CANDIDATE_CAP = 200

# Confidence of each reason alone; several reasons combine (see ``_combine``).
EMAIL_CONFIDENCE = 95
PHONE_CONFIDENCE = 85
NAME_COMPANY_CONFIDENCE = 75
NAME_DOMAIN_CONFIDENCE = 70
COMPANY_NAME_CONFIDENCE = 90
COMPANY_DOMAIN_CONFIDENCE = 85
COMPANY_SIMILAR_NAME_CONFIDENCE = 70


@dataclass(frozen=True)
class DuplicateMatch:
    """An existing record that looks like the one at hand, how sure we are, and why."""

    record: Any
    confidence: int
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        """The API shape: ``{"id", "name", "confidence", "reasons"}``."""
        return {
            "id": str(self.record.pk),
            "name": str(self.record),
            "confidence": self.confidence,
            "reasons": list(self.reasons),
        }


def _combine(confidences: Iterable[int]) -> int:
    """Independent signals: 1 - Π(1 - cᵢ). Email (95) and phone (85) give 99."""
    remaining = 1.0
    for value in confidences:
        remaining *= 1 - value / 100
    return min(99, round((1 - remaining) * 100))


class _Collector:
    """Reasons gathered per record, turned into ranked ``DuplicateMatch`` rows."""

    def __init__(self):
        self.records: dict = {}
        self.reasons: dict = {}

    def add(self, record, reason: str, confidence: int) -> None:
        self.records.setdefault(record.pk, record)
        found = self.reasons.setdefault(record.pk, {})
        found[reason] = max(found.get(reason, 0), confidence)

    def __contains__(self, pk) -> bool:
        return pk in self.records

    def matches(self, limit: int | None) -> list[DuplicateMatch]:
        rows = [
            DuplicateMatch(
                record=self.records[pk],
                confidence=_combine(reasons.values()),
                reasons=tuple(sorted(reasons, key=lambda r: -reasons[r])),
            )
            for pk, reasons in self.reasons.items()
        ]
        rows.sort(key=lambda m: (-m.confidence, str(m.record).casefold(), str(m.record.pk)))
        return rows[:limit] if limit is not None else rows


# --- normalisation of raw input --------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents dropped, whitespace collapsed: ``"  José  Núñez"`` → ``"jose nunez"``."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(text.split())


def _clean_email(value) -> str:
    value = (value or "").strip().lower() if isinstance(value, str) else ""
    local, at, domain = value.rpartition("@")
    return value if at and local and domain and " " not in value else ""


def _emails(fields: dict) -> list[str]:
    """Primary and further emails of a service-style dict, lower-cased, valid-looking only."""
    found = [_clean_email(fields.get("email"))]
    others = fields.get("other_emails") or []
    if isinstance(others, str):
        others = [others]
    for item in others if isinstance(others, list | tuple) else []:
        found.append(_clean_email(item.get("email") if isinstance(item, dict) else item))
    return list(dict.fromkeys(e for e in found if e))


def _phones(fields: dict, region: str, names=("phone", "mobile")) -> list[str]:
    """Phone numbers of the dict in E.164; what does not parse is left out (not an error)."""
    found = []
    for name in names:
        raw = fields.get(name)
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            found.append(normalize_phone(raw, region))
        except ValidationError:
            continue
    return list(dict.fromkeys(found))


def _pk_of(value):
    """A related record given as an instance, an id or an id string (None if neither)."""
    if value in (None, ""):
        return None
    return getattr(value, "pk", value)


def contact_name(fields: dict) -> str:
    return fold(" ".join(str(fields.get(n) or "") for n in ("first_name", "last_name")))


def names_similar(a: str, b: str) -> int:
    """0-100: how alike two folded full names are (word order does not matter)."""
    if not a or not b:
        return 0
    return round(fuzz.token_sort_ratio(a, b))


def _initials_q(name: str) -> Q:
    """Candidates whose first or last name starts like one of the name's words.

    A cheap filter inside one company or domain group so the candidate cap keeps the
    people that could match ("Jon Smith" still finds "John Smith" and "Smith John").
    """
    condition = Q()
    for letter in {word[0] for word in name.split()[:3]}:
        condition |= Q(first_name__istartswith=letter) | Q(last_name__istartswith=letter)
    return condition


# --- contacts ----------------------------------------------------------------------------------


def _visible(model, user, exclude_pk) -> QuerySet:
    qs = model.objects.restrict(user, "view")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs


def contact_duplicates(
    *, org, user, fields: dict, exclude_pk=None, limit: int | None = 5
) -> list[DuplicateMatch]:
    """Live contacts ``user`` may see that look like ``fields``, most likely first.

    ``fields`` is a service-style dict (first_name, last_name, email, other_emails,
    phone, mobile, company as a Company or its id); raw user input is fine. At most four
    indexed queries, each reading at most ``CANDIDATE_CAP`` rows.
    """
    found = _Collector()
    base = _visible(Contact, user, exclude_pk).select_related("company")
    emails = _emails(fields)
    if emails:
        rows = (
            base.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .order_by()[:CANDIDATE_CAP]
        )
        for contact in rows:
            found.add(contact, _("Same email"), EMAIL_CONFIDENCE)
    phones = _phones(fields, getattr(org, "country", ""))
    if phones:
        rows = base.filter(Q(phone__in=phones) | Q(mobile__in=phones)).order_by()[:CANDIDATE_CAP]
        for contact in rows:
            found.add(contact, _("Same phone number"), PHONE_CONFIDENCE)
    name = contact_name(fields)
    if name:
        company_id = _pk_of(fields.get("company"))
        if company_id is not None:
            _similar_names(
                found,
                base.filter(company_id=company_id),
                name,
                _("Similar name at the same company"),
                _("Same name at the same company"),
                NAME_COMPANY_CONFIDENCE,
            )
        domains = {email_domain(e) for e in emails} - FREE_MAIL_DOMAINS - {""}
        if domains:
            _similar_names(
                found,
                base.filter(email_domain__in=sorted(domains)),
                name,
                _("Similar name with the same email domain"),
                _("Same name with the same email domain"),
                NAME_DOMAIN_CONFIDENCE,
            )
    return found.matches(limit)


def _similar_names(found, candidates, name, similar_reason, same_reason, confidence) -> None:
    rows = candidates.filter(_initials_q(name)).order_by()[:CANDIDATE_CAP]
    for contact in rows:
        score = names_similar(name, fold(contact.full_name))
        if score >= NAME_SIMILARITY:
            found.add(contact, same_reason if score == 100 else similar_reason, confidence)


# --- companies ---------------------------------------------------------------------------------


def _company_domain(fields: dict) -> str:
    domain = fields.get("domain")
    domain = domain.strip().lower() if isinstance(domain, str) else ""
    if not domain:
        website = fields.get("website")
        domain = domain_from_website(website.strip()) if isinstance(website, str) else ""
    return domain


def _key_range(key: str) -> Q | None:
    """Name keys starting with the key's first word, as an index range (not a LIKE).

    ``name_key >= 'acme' AND name_key < 'acme\uffff'`` reads the (organization,
    name_key) index as a range whatever the column's collation or operator class.
    """
    first = key.split(" ", 1)[0]
    if len(first) < 3:
        return None
    return Q(name_key__gte=first, name_key__lt=first + "\uffff")


def company_duplicates(
    *, org, user, fields: dict, exclude_pk=None, limit: int | None = 5
) -> list[DuplicateMatch]:
    """Live companies ``user`` may see that look like ``fields`` (name, website, domain).

    Same normalized name (``name_key``), same domain (free-mail domains never count),
    or a similar name among companies whose name starts with the same word.
    """
    found = _Collector()
    base = _visible(Company, user, exclude_pk)
    key = company_name_key(fields.get("name") or "") if isinstance(fields.get("name"), str) else ""
    if key:
        for company in base.filter(name_key=key).order_by()[:CANDIDATE_CAP]:
            found.add(company, _("Same name"), COMPANY_NAME_CONFIDENCE)
    domain = _company_domain(fields)
    if domain and domain not in FREE_MAIL_DOMAINS:
        for company in base.filter(domain=domain).order_by()[:CANDIDATE_CAP]:
            found.add(company, _("Same website domain"), COMPANY_DOMAIN_CONFIDENCE)
    prefix = _key_range(key) if key else None
    if prefix is not None:
        for company in base.filter(prefix).exclude(name_key=key).order_by()[:CANDIDATE_CAP]:
            if names_similar(key, company.name_key) >= NAME_SIMILARITY:
                found.add(company, _("Similar name"), COMPANY_SIMILAR_NAME_CONFIDENCE)
    return found.matches(limit)


# --- pairs for the Duplicates page --------------------------------------------------------------
#
# Finding every likely pair means grouping the whole organization by each key. That is
# one GROUP BY ... HAVING per key over an index (bounded by caps below), but at
# 1,000,000 contacts it still reads every row of the organization's index (~1 s each on
# PostgreSQL), too slow for a page view. So a tenant task (``scan_duplicates``) computes
# the pairs and keeps them in the cache (Redis in production); the page shows the last
# scan, filtered at read time by what the user may see, the trash and dismissals.

# Keys held by more than this many records are shared values (a switchboard number,
# info@…), not duplicates: listing every pair among them would help nobody.
MAX_GROUP_SIZE = 20
# Names are compared pairwise within a company or email domain of at most this size.
MAX_NAME_GROUP_SIZE = 200
# Groups read per key, and pairs kept per scan.
MAX_GROUPS_PER_KEY = 500
MAX_PAIRS = 5000
SCAN_TTL = 24 * 3600

KINDS = ("contacts", "companies")
REASONS = {
    "email": (gettext_lazy("Same email"), EMAIL_CONFIDENCE),
    "phone": (gettext_lazy("Same phone number"), PHONE_CONFIDENCE),
    "name_company": (gettext_lazy("Similar name at the same company"), NAME_COMPANY_CONFIDENCE),
    "name_domain": (
        gettext_lazy("Similar name with the same email domain"),
        NAME_DOMAIN_CONFIDENCE,
    ),
    "company_name": (gettext_lazy("Same name"), COMPANY_NAME_CONFIDENCE),
    "company_domain": (gettext_lazy("Same website domain"), COMPANY_DOMAIN_CONFIDENCE),
    "company_similar": (gettext_lazy("Similar name"), COMPANY_SIMILAR_NAME_CONFIDENCE),
}


def pair_key(a, b) -> str:
    """Order-free id of a pair of records (``smaller-id:larger-id``)."""
    low, high = sorted((str(a), str(b)))
    return f"{low}:{high}"


@dataclass(frozen=True)
class DuplicatePair:
    """Two records of the organization that are likely the same, for the Duplicates page."""

    first: Any
    second: Any
    confidence: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return pair_key(self.first.pk, self.second.pk)

    @property
    def sides(self) -> tuple:
        return (self.first, self.second)


def _groups(qs: QuerySet, expression, *, max_size: int | None = None) -> list:
    """Values of ``expression`` held by 2..max_size records: one GROUP BY … HAVING."""
    max_size = max_size or MAX_GROUP_SIZE
    return list(
        qs.annotate(dedupe_key=expression)
        .order_by()
        .values("dedupe_key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1, n__lte=max_size)
        .order_by("dedupe_key")
        .values_list("dedupe_key", flat=True)[:MAX_GROUPS_PER_KEY]
    )


class _PairCollector:
    def __init__(self):
        self.pairs: dict[tuple[str, str], set[str]] = {}

    def add(self, a, b, reason: str) -> None:
        if a == b:
            return
        low, high = sorted((str(a), str(b)))
        self.pairs.setdefault((low, high), set()).add(reason)

    def add_group(self, ids: list, reason: str) -> None:
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                self.add(a, b, reason)

    def result(self) -> list[dict]:
        rows = [
            {
                "a": a,
                "b": b,
                "confidence": _combine(REASONS[r][1] for r in reasons),
                "reasons": sorted(reasons, key=lambda r: -REASONS[r][1]),
            }
            for (a, b), reasons in self.pairs.items()
        ]
        rows.sort(key=lambda r: (-r["confidence"], r["a"], r["b"]))
        return rows[:MAX_PAIRS]


def _exact_pairs(found: _PairCollector, qs: QuerySet, expression, reason: str) -> None:
    keys = [k for k in _groups(qs, expression) if k not in (None, "")]
    if not keys:
        return
    members: dict = {}
    rows = qs.annotate(dedupe_key=expression).filter(dedupe_key__in=keys).order_by()
    for pk, key in rows.values_list("pk", "dedupe_key"):
        members.setdefault(key, []).append(pk)
    for ids in members.values():
        found.add_group(ids, reason)


def _similar_pairs(found: _PairCollector, rows, reason: str, skip_equal=False) -> None:
    """rows: (pk, group, folded name): similar names within each group (rapidfuzz).

    Pairwise within a group of at most ``MAX_NAME_GROUP_SIZE`` (rapidfuzz's ``cdist``
    would need numpy, which the project does not otherwise use).
    """
    groups: dict = {}
    for pk, group, name in rows:
        if name:
            groups.setdefault(group, []).append((pk, name))
    scorer = fuzz.token_sort_ratio
    for members in groups.values():
        for i, (a, name_a) in enumerate(members):
            for b, name_b in members[i + 1 :]:
                if skip_equal and name_a == name_b:
                    continue  # already paired as the same name
                if scorer(name_a, name_b, score_cutoff=NAME_SIMILARITY):
                    found.add(a, b, reason)


def scan_contact_pairs() -> list[dict]:
    """Likely duplicate contacts of the current organization (every live contact).

    Runs inside the organization's tenancy (the scan task); visibility is applied when
    the pairs are shown.
    """
    qs = Contact.objects.all()
    found = _PairCollector()
    _exact_pairs(found, qs, Lower("email"), "email")
    _exact_pairs(found, qs, F("phone"), "phone")
    _exact_pairs(found, qs, F("mobile"), "phone")
    companies = _groups(
        qs.filter(company__isnull=False), F("company_id"), max_size=MAX_NAME_GROUP_SIZE
    )
    rows = qs.filter(company_id__in=companies).values_list(
        "pk", "company_id", "first_name", "last_name"
    )
    _similar_pairs(found, ((pk, g, fold(f"{a} {b}")) for pk, g, a, b in rows), "name_company")
    domains = _groups(
        qs.exclude(email_domain__in=FREE_MAIL_DOMAINS).exclude(email_domain=""),
        F("email_domain"),
        max_size=MAX_NAME_GROUP_SIZE,
    )
    rows = qs.filter(email_domain__in=domains).values_list(
        "pk", "email_domain", "first_name", "last_name"
    )
    _similar_pairs(found, ((pk, g, fold(f"{a} {b}")) for pk, g, a, b in rows), "name_domain")
    return found.result()


def scan_company_pairs() -> list[dict]:
    """Likely duplicate companies of the current organization (every live company)."""
    qs = Company.objects.all()
    found = _PairCollector()
    _exact_pairs(found, qs, F("name_key"), "company_name")
    _exact_pairs(found, qs.exclude(domain__in=FREE_MAIL_DOMAINS), F("domain"), "company_domain")
    prefixes = _groups(qs, Substr("name_key", 1, 4), max_size=MAX_NAME_GROUP_SIZE)
    rows = (
        qs.annotate(prefix=Substr("name_key", 1, 4))
        .filter(prefix__in=[p for p in prefixes if len(p or "") >= 3])
        .values_list("pk", "prefix", "name_key")
    )
    _similar_pairs(found, rows, "company_similar", skip_equal=True)
    return found.result()


def _cache_key(org, kind: str) -> str:
    return f"contacts:duplicates:{kind}:{org.pk}"


def scan_pairs(*, org, kind: str) -> dict:
    """Compute and keep ``org``'s likely pairs of ``kind`` (contacts or companies)."""
    from django.core.cache import cache
    from django.utils import timezone

    try:
        pairs = scan_contact_pairs() if kind == "contacts" else scan_company_pairs()
        data = {"computed_at": timezone.now().isoformat(), "pairs": pairs}
        cache.set(_cache_key(org, kind), data, SCAN_TTL)
    finally:
        cache.delete(_cache_key(org, kind) + ":running")
    return data


def request_scan(*, org, actor, kind: str) -> bool:
    """Start a scan unless one is running; False if one already is."""
    from django.core.cache import cache

    from .tasks import scan_duplicates

    if not cache.add(_cache_key(org, kind) + ":running", 1, 600):
        return False
    # Sent at once, not on commit: a scan writes nothing and reads committed rows; it
    # is started from page views and API reads, outside any write transaction.
    scan_duplicates.enqueue(org=org, actor=actor, kind=kind)
    return True


def scan_running(*, org, kind: str) -> bool:
    from django.core.cache import cache

    return cache.get(_cache_key(org, kind) + ":running") is not None


def dismissal_model():
    """``DuplicateDismissal`` once its migration exists; until then dismissing is off."""
    from django.apps import apps

    try:
        return apps.get_model("contacts", "DuplicateDismissal")
    except LookupError:
        return None


def _dismissed(kind: str) -> set[str]:
    model = dismissal_model()
    if model is None:
        return set()
    rows = model.objects.filter(records=kind).values_list("first_id", "second_id")
    return {pair_key(a, b) for a, b in rows}


def duplicate_pairs(*, org, user, kind: str) -> tuple[list[dict] | None, str]:
    """The last scan's pairs that ``user`` may see, best first; (None, "") if no scan yet.

    Pairs with a trashed (merged) or invisible record, or dismissed, are left out.
    """
    from django.core.cache import cache

    data = cache.get(_cache_key(org, kind))
    if data is None:
        return None, ""
    model = Contact if kind == "contacts" else Company
    ids = sorted({p["a"] for p in data["pairs"]} | {p["b"] for p in data["pairs"]})
    visible: set[str] = set()
    base = model.objects.restrict(user, "view")
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        visible |= {str(pk) for pk in base.filter(pk__in=chunk).values_list("pk", flat=True)}
    dismissed = _dismissed(kind)
    pairs = [
        p
        for p in data["pairs"]
        if p["a"] in visible and p["b"] in visible and pair_key(p["a"], p["b"]) not in dismissed
    ]
    return pairs, data["computed_at"]


def load_pairs(*, user, kind: str, rows: list[dict]) -> list[DuplicatePair]:
    """A page of pair dicts as ``DuplicatePair`` with their records (one query)."""
    model = Contact if kind == "contacts" else Company
    ids = {r["a"] for r in rows} | {r["b"] for r in rows}
    qs = model.objects.restrict(user, "view").filter(pk__in=ids)
    if model is Contact:
        qs = qs.select_related("company")
    records = {str(r.pk): r for r in qs}
    return [
        DuplicatePair(
            records[r["a"]],
            records[r["b"]],
            r["confidence"],
            tuple(str(REASONS[c][0]) for c in r["reasons"]),
        )
        for r in rows
        if r["a"] in records and r["b"] in records
    ]


# --- merge: which value survives, field by field ------------------------------------------------

SURVIVOR = "survivor"
OTHER = "other"
# Fields merged as a whole rather than chosen: further emails are united, custom fields
# are chosen key by key (``custom_fields.<key>``); tags (many-to-many) are united.
MERGE_UNITED_FIELDS = frozenset({"other_emails", "custom_fields"})
CUSTOM_PREFIX = "custom_fields."


def merge_fields(model) -> list:
    """Fields whose surviving value a person chooses (editable, not derived, not united)."""
    return [
        f
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name not in MERGE_UNITED_FIELDS
    ]


def is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def default_choice(survivor_value, other_value) -> str:
    """Keep the survivor's value, unless it is empty and the other record has one."""
    return OTHER if is_empty(survivor_value) and not is_empty(other_value) else SURVIVOR


@dataclass(frozen=True)
class MergeRow:
    """One differing field on the compare screen: both values as shown, and the default."""

    name: str
    label: str
    survivor: str
    other: str
    choice: str


def _shown(record, field) -> str:
    value = getattr(record, field.attname)
    if is_empty(value):
        return "—"
    if field.many_to_one:
        return str(getattr(record, field.name))
    if field.choices:
        return str(getattr(record, f"get_{field.name}_display")())
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value)


def merge_rows(survivor, other) -> list[MergeRow]:
    """The fields where the two records differ, in form order, with default choices."""
    rows = []
    for f in merge_fields(type(survivor)):
        mine, theirs = getattr(survivor, f.attname), getattr(other, f.attname)
        if mine == theirs:
            continue
        rows.append(
            MergeRow(
                f.name,
                str(f.verbose_name).capitalize(),
                _shown(survivor, f),
                _shown(other, f),
                default_choice(mine, theirs),
            )
        )
    mine_cf = getattr(survivor, "custom_fields", None) or {}
    theirs_cf = getattr(other, "custom_fields", None) or {}
    labels = _custom_field_labels(type(survivor))
    for key in sorted(set(mine_cf) | set(theirs_cf)):
        a, b = mine_cf.get(key), theirs_cf.get(key)
        if a == b:
            continue
        rows.append(
            MergeRow(
                f"{CUSTOM_PREFIX}{key}",
                labels.get(key, key),
                "—" if is_empty(a) else str(a),
                "—" if is_empty(b) else str(b),
                default_choice(a, b),
            )
        )
    return rows


def _custom_field_labels(model) -> dict:
    from pulse.extras.customfields import definitions_for

    return {d.key: d.label for d in definitions_for(model)}
