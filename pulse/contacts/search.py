"""Contact and company search: the list filter (``?search=``) and the global search box.

A query is split into words (at most five); every word must match (``ada love`` finds
Ada Lovelace). A word of three or more characters matches anywhere in the record's
*search document* (names, email, phones; for contacts also their company's name and
domain); a shorter word matches the start of a word in it ("jo" finds Joan and
Smith-Jones, not Major), which is what someone typing a name expects and what an
index can answer. A query that looks like a phone number ("0888 123 456",
"+1 (555) 010-2030") is compared as digits against the stored E.164 numbers.

On PostgreSQL the document is one expression with a trigram GIN index
(``pg_trgm``, migration ``0100_search_indexes``): ``UPPER(' ' || first_name || ' ' ||
…)``. :class:`SearchDocument` renders exactly that expression, so the planner matches it
to the index; changing the fields here means a new migration with the same text. On
SQLite the same ``LIKE`` runs over the rows (fast enough at 100,000; see
``bench/notes``).

Global search ranks best matches first, in tiers, each a cheap ``LIMIT`` query:
an exact email, then records where every word starts a word of the document (a prefix
of a name, an email, a phone), then substring and company-name matches, then (on
PostgreSQL) trigram word similarity, so a one-letter typo still finds the record.
Within a tier rows come in name order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection
from django.db.models import F, Func, Lookup, Q, QuerySet, TextField, Value
from django.db.models.functions import Lower, Upper
from django.db.models.lookups import IContains
from django.utils.translation import gettext_lazy as _

from pulse.core.pagination import remember_count
from pulse.core.registry import SearchEntry, register_search

from . import fts
from .models import Company, Contact

MAX_WORDS = 5
MAX_QUERY_LENGTH = 100
# Words this long or longer match anywhere (trigram indexes need three characters).
SUBSTRING_MIN_LENGTH = 3
# The document fields (one list for both databases: SQLite's triggers are built from it).
CONTACT_DOCUMENT_FIELDS = fts.DOCUMENTS["contacts_contact"]
COMPANY_DOCUMENT_FIELDS = fts.DOCUMENTS["contacts_company"]
# A query made of digits and phone punctuation only, with at least three digits.
PHONE_QUERY = re.compile(r"^\+?[\d\s().\-/]*\d[\d\s().\-/]*$")
# A long word also finds contacts of the companies it matches, when it matches at most
# this many companies (a word in thousands of company names does not name one).
RELATED_LIMIT = 200
# Word similarity (0-1) a typo match needs (pg_trgm's default is 0.6).
TYPO_THRESHOLD = 0.5


class SearchDocument(Func):
    """``(' ' || a || ' ' || b …)``: the text a record is searched by.

    The leading space lets "starts a word" be ``LIKE '% word%'``. The SQL must stay
    identical to the index expression in migration ``0100_search_indexes``.
    """

    output_field = TextField()

    def __init__(self, *fields: str):
        super().__init__(*(F(name) for name in fields))

    def as_sql(self, compiler, connection, **extra_context):
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, sql_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(sql_params)
        return "(' ' || " + " || ' ' || ".join(parts) + ")", params


class WordSimilar(Lookup):
    """PostgreSQL ``pg_trgm``: ``rhs <% UPPER(lhs)``, a word of the document is close to
    ``rhs`` (uses the trigram index)."""

    lookup_name = "word_similar"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"UPPER({rhs}) <%% UPPER({lhs}::text)", (*rhs_params, *lhs_params)


@dataclass(frozen=True)
class ParsedQuery:
    """A search box's text, split the way matching needs it."""

    text: str
    words: tuple[str, ...] = ()
    # Digits of a phone-number-like query, without leading zeros (a national trunk
    # prefix such as 0 in "0888 …" is not part of the E.164 number).
    digits: str = ""

    @property
    def empty(self) -> bool:
        return not self.words and not self.digits


def parse_query(query: str) -> ParsedQuery:
    """``" Ada  Love "`` → words ``("Ada", "Love")``; ``"0888 123 456"`` → digits."""
    text = " ".join((query or "").split())[:MAX_QUERY_LENGTH]
    if PHONE_QUERY.match(text):
        digits = re.sub(r"\D", "", text).lstrip("0")
        if len(digits) >= 3:
            return ParsedQuery(text=text, digits=digits)
    return ParsedQuery(text=text, words=tuple(text.split(" ")[:MAX_WORDS]) if text else ())


@dataclass(frozen=True)
class SearchSpec:
    """How one record type is searched."""

    model: type
    document_fields: tuple[str, ...]
    ordering: tuple[str, ...]
    # Related record whose own document a long word may match (a contact's company).
    related: str = ""
    related_spec: SearchSpec | None = None

    def document(self) -> SearchDocument:
        return SearchDocument(*self.document_fields)

    # --- conditions ---------------------------------------------------------------------

    def contains(self, text: str) -> Q:
        """The document contains ``text`` (case-insensitive)."""
        if connection.vendor == "sqlite" and len(text) >= SUBSTRING_MIN_LENGTH:
            return Q(DocumentContains(F("pk"), text))
        return Q(IContains(self.document(), text))

    def word_start(self, word: str) -> Q:
        """``word`` starts a word of the document."""
        return self.contains(f" {word}")

    def word_anywhere(self, word: str) -> Q:
        """``word`` is in the document (or, for a long word, the related record's)."""
        if len(word) < SUBSTRING_MIN_LENGTH:
            return self.word_start(word)
        condition = self.contains(word)
        if self.related_spec is not None:
            related_ids = self.related_spec.ids_matching(word)
            if related_ids:
                condition |= Q(**{f"{self.related}_id__in": related_ids})
        return condition

    def ids_matching(self, word: str) -> list:
        """Primary keys of rows whose document contains ``word``; none when more than
        ``RELATED_LIMIT`` do (such a word is too common to name a company by)."""
        ids = list(
            self.model.objects.filter(self.contains(word))
            .order_by()
            .values_list("pk", flat=True)[: RELATED_LIMIT + 1]
        )
        return ids if len(ids) <= RELATED_LIMIT else []

    def matches(self, parsed: ParsedQuery, *, word_starts_only: bool = False) -> Q:
        """Every word matches (the list filter); ``word_starts_only``: the prefix tier."""
        if parsed.digits:
            return self.contains(parsed.digits)
        condition = Q()
        for word in parsed.words:
            condition &= self.word_start(word) if word_starts_only else self.word_anywhere(word)
        return condition

    # --- the list filter and the ranked search -------------------------------------------

    def filter(self, qs: QuerySet, query: str) -> QuerySet:
        parsed = parse_query(query)
        return qs if parsed.empty else _narrow(qs, self.matches(parsed))

    def ranked(self, qs: QuerySet, query: str, limit: int = 5) -> list:
        """Up to ``limit`` rows of ``qs``, best matches first (see the module docstring)."""
        parsed = parse_query(query)
        if parsed.empty:
            return []
        found: list = []

        def take(tier, ordering=self.ordering):
            # A tier is made (its matches fetched) only while the top is not full yet.
            if len(found) >= limit:
                return
            tier_qs = tier()
            seen = [row.pk for row in found]
            if seen:
                tier_qs = tier_qs.exclude(pk__in=seen)
            # The top ids first, then their rows with what they join: joining every match
            # before the top-N sort cost more than the sort itself (bench/notes/scale.md).
            top = list(
                tier_qs.order_by(*ordering, "pk").values_list("pk", flat=True)[: limit - len(found)]
            )
            rows = qs.in_bulk(top) if top else {}
            found.extend(rows[pk] for pk in top)

        if "@" in parsed.text and "email" in self.document_fields and len(parsed.words) == 1:
            take(lambda: qs.alias(_email=Lower("email")).filter(_email=parsed.text.lower()))
        take(lambda: _narrow(qs, self.matches(parsed, word_starts_only=True), truncate=True))
        take(lambda: _narrow(qs, self.matches(parsed), truncate=True))
        if connection.vendor == "postgresql" and parsed.words and not parsed.digits:
            # The closest spellings first: "Jonson" puts Johnson before Jonas.
            take(lambda: self._similar(qs, parsed), ("-_closeness", *self.ordering))
        return found

    def _similar(self, qs: QuerySet, parsed: ParsedQuery) -> QuerySet:
        """Rows where every long word is close to a word of the document (a typo)."""
        long_words = [w for w in parsed.words if len(w) >= SUBSTRING_MIN_LENGTH + 1]
        if not long_words:
            return qs.none().annotate(_closeness=Value(0.0))
        with connection.cursor() as cursor:
            # ``<%`` reads its threshold from this setting (pg_trgm's default is 0.6, which
            # a one-letter typo in the middle of a nine-letter name already misses).
            cursor.execute(f"SET pg_trgm.word_similarity_threshold = {float(TYPO_THRESHOLD)}")
        condition = Q()
        closeness = None
        for word in long_words:
            condition &= Q(WordSimilar(self.document(), word))
            similarity = TrigramWordSimilarity(Upper(Value(word)), Upper(self.document()))
            closeness = similarity if closeness is None else closeness + similarity
        return _narrow(qs, condition, truncate=True).annotate(_closeness=closeness)


# Searches matching at most this many rows are narrowed to their primary keys first.
NARROW_LIMIT = 5000


def _narrow(qs: QuerySet, condition: Q, *, truncate: bool = False) -> QuerySet:
    """``qs.filter(condition)``, shaped so the database sorts and pages it fast.

    The planner cannot estimate how many rows a ``LIKE '%…%'`` matches, nor that the
    rows a name search matches sit together in name order. Guessing, it walks the name
    index of a million contacts looking for 25 matches of a rare word, which takes
    seconds. So the matches are fetched first, unordered (a trigram index scan that
    stops after ``NARROW_LIMIT`` + 1 rows): when there are few, the result is "primary
    key in those", which the database sorts in a moment; when there are more, the word
    is common and the plain filter is returned (``truncate``: the first
    ``NARROW_LIMIT`` found are kept instead, for the global search's top five). Either
    way the list's paginator is told the count found (exact, or "more than 5,000"), so
    it does not read the matches a second time.
    """
    matches = qs.filter(condition)
    pks = list(matches.order_by().values_list("pk", flat=True)[: NARROW_LIMIT + 1])
    if len(pks) > NARROW_LIMIT and not truncate:
        # The list's count would read the matches again: it is "more than 5,000".
        return remember_count(matches, len(pks), exact=False)
    pks = pks[:NARROW_LIMIT]
    if connection.vendor != "postgresql":
        narrowed = qs.filter(pk__in=pks)
    else:
        narrowed = qs.filter(InArray(F("pk"), pks))
    return remember_count(narrowed, len(pks), exact=True)


class InArray(Lookup):
    """PostgreSQL ``pk = ANY(ARRAY(SELECT unnest(%s::uuid[])))``.

    The same as ``pk IN (…)``, except that the planner does not see the list's length
    and plans for a few rows: it fetches them by primary key and sorts, instead of
    walking the ordering index hoping to meet them early (see ``_narrow``).
    """

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        db_type = self.lhs.output_field.db_type(connection)
        sql = f"{lhs} = ANY(ARRAY(SELECT unnest(%s::{db_type}[])))"
        return sql, (*lhs_params, list(self.rhs))


class DocumentContains(Lookup):
    """SQLite: the record's search document contains the text, answered by the FTS5
    trigram index of :mod:`pulse.contacts.fts` (``lhs`` is the primary key)::

        id IN (SELECT record_id FROM <table>_search
               WHERE id IN (SELECT rowid FROM <table>_search_fts
                            WHERE <table>_search_fts MATCH '"text"'))

    A quoted FTS5 phrase of trigrams is a substring match; quoting makes ``%``, ``_``,
    ``*`` and the like plain characters. The text needs three characters or more.
    """

    lookup_name = "document_contains"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        table = self.lhs.target.model._meta.db_table
        search, index = fts.search_table(table), fts.fts_table(table)
        phrase = '"' + str(self.rhs).replace('"', '""') + '"'
        sql = (
            f"{lhs} IN (SELECT record_id FROM {search} WHERE id IN "  # noqa: S608 (table names)
            f"(SELECT rowid FROM {index} WHERE {index} MATCH %s))"
        )
        return sql, (*lhs_params, phrase)


COMPANY_SEARCH = SearchSpec(
    model=Company, document_fields=COMPANY_DOCUMENT_FIELDS, ordering=("name",)
)
CONTACT_SEARCH = SearchSpec(
    model=Contact,
    document_fields=CONTACT_DOCUMENT_FIELDS,
    ordering=("last_name", "first_name"),
    related="company",
    related_spec=COMPANY_SEARCH,
)
SEARCH_SPECS = {Contact: CONTACT_SEARCH, Company: COMPANY_SEARCH}


def search_filter(qs: QuerySet, query: str) -> QuerySet:
    """``qs`` narrowed to rows matching ``query`` (the list pages' and API's ``search``)."""
    return SEARCH_SPECS[qs.model].filter(qs, query)


def ranked_search(qs: QuerySet, query: str, limit: int = 5) -> list:
    """The best ``limit`` matches of ``query`` in ``qs``, best first."""
    return SEARCH_SPECS[qs.model].ranked(qs, query, limit)


# --- global search entries ----------------------------------------------------------------


@dataclass(frozen=True)
class RankedSearchEntry(SearchEntry):
    """A global search entry answered by :func:`ranked_search`."""

    def search(self, user, query: str, limit: int = 5) -> list:
        qs = self.model.objects.restrict(user, "view")
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        return ranked_search(qs, query, limit)


@dataclass(frozen=True)
class NewestMatchesEntry(SearchEntry):
    """A global search entry for records searched by plain fields, newest first (leads,
    deals, activities): every word must be in one of ``fields`` or name a related record
    (``related``: field name → the spec whose ids a word may match, at most
    ``RELATED_LIMIT``). The matches are narrowed first (``_narrow``: on PostgreSQL each
    field has a trigram index, so a rare word is an index scan, not a walk of the
    newest-first index through millions of rows), then ordered by ``ordering``."""

    ordering: tuple[str, ...] = ("-created_at", "-pk")
    related: tuple[tuple[str, SearchSpec], ...] = ()

    def word_condition(self, word: str) -> Q:
        condition = Q()
        for name in self.fields:
            condition |= Q(**{f"{name}__icontains": word})
        if len(word) >= SUBSTRING_MIN_LENGTH:
            for name, spec in self.related:
                ids = spec.ids_matching(word)
                if ids:
                    condition |= Q(**{f"{name}_id__in": ids})
        return condition

    def search(self, user, query: str, limit: int = 5) -> list:
        words = parse_query(query).text.split()[:MAX_WORDS]
        if not words:
            return []
        qs = self.model.objects.restrict(user, "view")
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        condition = Q()
        for word in words:
            condition &= self.word_condition(word)
        # The newest ids first, then those rows with their joins (see ``ranked``).
        top = list(
            _narrow(qs, condition).order_by(*self.ordering).values_list("pk", flat=True)[:limit]
        )
        rows = qs.in_bulk(top) if top else {}
        return [rows[pk] for pk in top]


def _describe_contact(contact: Contact) -> tuple[str, str]:
    details = [d for d in (contact.email, contact.company.name if contact.company else "") if d]
    return str(contact), " · ".join(details)


def _describe_company(company: Company) -> tuple[str, str]:
    return company.name, company.domain


register_search(
    RankedSearchEntry(
        model=Contact,
        label=_("Contacts"),
        fields=CONTACT_DOCUMENT_FIELDS,
        icon="bi-person",
        describe=_describe_contact,
        select_related=("company",),
    )
)
register_search(
    RankedSearchEntry(
        model=Company,
        label=_("Companies"),
        fields=COMPANY_DOCUMENT_FIELDS,
        icon="bi-building",
        describe=_describe_company,
    )
)
