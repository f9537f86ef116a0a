"""Named periods ("this quarter", "last 30 days" …) as day spans of an organization.

Dashboards, widgets and report filters all read periods through ``period_span`` so that
"this quarter" means the same everywhere: the organization's days (its time zone), its
fiscal quarters and year (``fiscal_year_start_month``), weeks starting on Monday.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.errors import ApplicationError
from pulse.opportunities.forecast import fiscal_period_of

PERIODS = {
    "today": _("Today"),
    "yesterday": _("Yesterday"),
    "this_week": _("This week"),
    "last_week": _("Last week"),
    "this_month": _("This month"),
    "last_month": _("Last month"),
    "this_quarter": _("This quarter"),
    "last_quarter": _("Last quarter"),
    "this_year": _("This fiscal year"),
    "last_year": _("Last fiscal year"),
    "last_7_days": _("Last 7 days"),
    "last_30_days": _("Last 30 days"),
    "last_90_days": _("Last 90 days"),
    "last_365_days": _("Last 365 days"),
    "next_7_days": _("Next 7 days"),
    "next_30_days": _("Next 30 days"),
    "all_time": _("All time"),
}


def org_zone(org) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(org, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def org_today(org, now: datetime.datetime | None = None) -> datetime.date:
    return timezone.localtime(now or timezone.now(), org_zone(org)).date()


@dataclass(frozen=True)
class DateSpan:
    """Days ``first``..``last`` (both inclusive; ``None`` = open) in ``zone``."""

    key: str
    label: str
    first: datetime.date | None
    last: datetime.date | None
    zone: datetime.tzinfo = datetime.UTC

    @property
    def start(self) -> datetime.datetime | None:
        """The first moment, for ``>=`` on datetime fields."""
        if self.first is None:
            return None
        return datetime.datetime.combine(self.first, datetime.time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime.datetime | None:
        """The moment after the last day, for ``<`` on datetime fields."""
        if self.last is None:
            return None
        day_after = self.last + datetime.timedelta(days=1)
        return datetime.datetime.combine(day_after, datetime.time.min, tzinfo=self.zone)

    def previous(self) -> DateSpan | None:
        """The span of the same length just before (for "vs previous period")."""
        if self.first is None or self.last is None:
            return None
        length = self.last - self.first + datetime.timedelta(days=1)
        return DateSpan(
            f"before_{self.key}",
            str(_("Previous period")),
            self.first - length,
            self.first - datetime.timedelta(days=1),
            self.zone,
        )

    def date_filter(self, field: str) -> dict:
        """ORM filter kwargs for a DateField."""
        out = {}
        if self.first is not None:
            out[f"{field}__gte"] = self.first
        if self.last is not None:
            out[f"{field}__lte"] = self.last
        return out

    def datetime_filter(self, field: str) -> dict:
        """ORM filter kwargs for a DateTimeField (half-open, so no day is counted twice)."""
        out = {}
        if self.start is not None:
            out[f"{field}__gte"] = self.start
        if self.end is not None:
            out[f"{field}__lt"] = self.end
        return out


def _month_start(day: datetime.date, months: int = 0) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def period_span(org, key: str, *, today: datetime.date | None = None) -> DateSpan:
    """The days of named period ``key`` for ``org`` (an unknown key is a field error)."""
    if key not in PERIODS:
        raise ApplicationError(
            errors={
                "period": [
                    _("Unknown period “%(value)s”. Use one of: %(known)s.")
                    % {"value": str(key)[:40], "known": ", ".join(PERIODS)}
                ]
            }
        )
    zone = org_zone(org)
    today = today or org_today(org)
    day = datetime.timedelta(days=1)
    first: datetime.date | None
    last: datetime.date | None
    if key == "today":
        first = last = today
    elif key == "yesterday":
        first = last = today - day
    elif key in ("this_week", "last_week"):
        first = today - datetime.timedelta(days=today.weekday())
        if key == "last_week":
            first -= datetime.timedelta(days=7)
        last = first + datetime.timedelta(days=6)
    elif key in ("this_month", "last_month"):
        first = _month_start(today, -1 if key == "last_month" else 0)
        last = _month_start(first, 1) - day
    elif key in ("this_quarter", "last_quarter", "this_year", "last_year"):
        kind = "quarter" if "quarter" in key else "year"
        period = fiscal_period_of(org, kind, today)
        if key.startswith("last_"):
            period = fiscal_period_of(org, kind, period.start - day)
        first, last = period.start, period.end
    elif key.startswith("last_") and key.endswith("_days"):
        n = int(key.split("_")[1])
        first, last = today - datetime.timedelta(days=n - 1), today
    elif key.startswith("next_") and key.endswith("_days"):
        n = int(key.split("_")[1])
        first, last = today, today + datetime.timedelta(days=n - 1)
    else:  # all_time
        first = last = None
    return DateSpan(key, str(PERIODS[key]), first, last, zone)
