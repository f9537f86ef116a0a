"""Pagination whose totals stop counting at ``COUNT_CAP`` rows.

Shared by the web lists (``RecordListView``) and the API's page-number pagination
(``pulse.core.api_defaults``). It lives apart from both because DRF imports the API
classes while ``rest_framework.views`` is still importing, and the views import DRF-free.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

# Lists count matching rows up to this many; beyond it they say "10,000+" and page with
# previous/next (an exact COUNT over a million rows costs more than the page itself).
COUNT_CAP = 10_000


def count_fingerprint(rows) -> tuple | None:
    """What identifies the rows a count counts: the SQL of ``rows``' primary keys (None
    for a query that cannot match anything)."""
    try:
        return rows.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return None


def remember_count(rows, count: int, *, exact: bool):
    """Tell a later :class:`CappedCountPaginator` over exactly ``rows`` how many there are
    (``exact``) or at least are, so it does not count them again.

    A search has often counted its matches already while choosing how to fetch them
    (``pulse.contacts.search._narrow``); counting again meant reading every match twice.
    The note rides on the query (Django copies it to clones) with a fingerprint of the
    SQL, so a queryset filtered further, which counts differently, ignores it.
    """
    rows.query.pulse_known_count = (count_fingerprint(rows), count, exact)
    return rows


def _known_count(rows) -> tuple[int, bool] | None:
    query = getattr(rows, "query", None)
    known = getattr(query, "pulse_known_count", None)
    if known is None or query.is_sliced:
        return None
    fingerprint, count, exact = known
    if fingerprint is None or fingerprint != count_fingerprint(rows):
        return None
    return count, exact


class CappedPage(Page):
    """A page whose "is there a next one" comes from one extra row, not from a count."""

    def __init__(self, object_list, number, paginator, *, more: bool | None = None):
        super().__init__(object_list, number, paginator)
        self._more = more

    def has_next(self):
        if self._more is not None:
            return self._more
        return super().has_next()

    def end_index(self):
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


class CappedCountPaginator(Paginator):
    """A ``Paginator`` that counts at most ``count_cap`` rows (DESIGN: no exact COUNT over
    the whole filtered set on every page).

    With at most ``count_cap`` rows it is Django's paginator. With more, ``count`` is the
    cap, ``count_is_capped`` is true, ``num_pages`` is unknown to templates (they show
    "page N" with previous/next) and any page number may be asked for: the page fetches
    one row more than it shows to know whether a next page exists; a page past the end
    is an ``EmptyPage`` (a 404 in list views).

    A count a search already knows (:func:`remember_count`) is used instead of counting;
    "at least N" caps the count at N - 1 (a word in more than 5,000 contacts says "more
    than 5,000").
    """

    count_cap = COUNT_CAP

    def __init__(self, *args, count_cap: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if count_cap is not None:
            self.count_cap = count_cap

    @cached_property
    def _capped_count(self) -> int:
        rows = self.object_list
        known = _known_count(rows)
        if known is not None:
            count, exact = known
            if not exact:
                # "At least ``count``": the footer says "more than count - 1".
                self.count_cap = min(self.count_cap, count - 1)
            return count
        query = getattr(rows, "query", None)
        if query is None or query.is_sliced:
            return len(rows) if isinstance(rows, list | tuple) else rows.count()
        # COUNT(*) over "SELECT id … LIMIT cap + 1": stops after cap + 1 rows.
        return rows.order_by().values("pk")[: self.count_cap + 1].count()

    @cached_property
    def count_is_capped(self) -> bool:
        return self._capped_count > self.count_cap

    @cached_property
    def count(self) -> int:
        return min(self._capped_count, self.count_cap)

    def validate_number(self, number):
        if not self.count_is_capped:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(_("That page number is not an integer"))
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        return number

    def page(self, number):
        number = self.validate_number(number)
        if not self.count_is_capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(_("That page contains no results"))
        more = len(rows) > self.per_page
        return CappedPage(rows[: self.per_page], number, self, more=more)

    def get_page(self, number):
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = 1 if self.count_is_capped else self.num_pages
        try:
            return self.page(number)
        except EmptyPage:
            return self.page(1 if self.count_is_capped else self.num_pages)
