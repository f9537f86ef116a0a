"""Template helpers of the report pages: values by kind, and charts as ``data-chart`` JSON."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def report_value(value, kind: str = ""):
    """A result cell as people read it: grouped numbers, money with two decimals, dates in
    the short format, empty cells as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (int, float, Decimal)):
        if kind == "money" or (isinstance(value, (float, Decimal)) and value != int(value)):
            return floatformat(value, "2g")
        return floatformat(value, "g")
    if isinstance(value, datetime.datetime):
        return date_filter(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return date_filter(value, "SHORT_DATE_FORMAT")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


@register.filter
def chartjs(chart) -> str:
    """``ChartData`` → the JSON for ``<canvas data-chart="…">`` (drawn by report_chart.js)."""
    if not chart:
        return ""
    return json.dumps(chart.as_chartjs(), cls=DjangoJSONEncoder)


@register.filter
def lookup(mapping, key):
    """``mapping[key]`` (``None`` when missing)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
