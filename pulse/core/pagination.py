"""Pagination whose totals stop counting at ``COUNT_CAP`` rows.

Shared by the web lists (``RecordListView``) and the API's page-number pagination
(``pulse.core.api_defaults``). It lives apart from both because DRF imports the API
classes while ``rest_framework.views`` is still importing, and the views import DRF-free.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

# Lists count matching rows up to this many; beyond it they say "10,000+" and page with
# previous/next (an exact COUNT over a million rows costs more than the page itself).
COUNT_CAP = 10_000


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
    """

    count_cap = COUNT_CAP

    def __init__(self, *args, count_cap: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if count_cap is not None:
            self.count_cap = count_cap

    @cached_property
    def _capped_count(self) -> int:
        rows = self.object_list
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
