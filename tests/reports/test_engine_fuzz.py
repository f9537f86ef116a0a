"""Arbitrary JSON-ish definitions: validation answers ApplicationError or a definition
that runs; nothing else escapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.reports.engine import ReportDefinition, run_report, validate_definition

pytestmark = pytest.mark.django_db

FIELD_NAMES = st.sampled_from(
    [
        "value",
        "stage",
        "status",
        "assigned_to",
        "tags",
        "created_at",
        "actual_close_date",
        "name",
        "probability",
        "cf_x",
        "",
        "company",
        "source",
    ]
)
OPS = st.sampled_from(
    [
        "eq",
        "ne",
        "in",
        "not_in",
        "gt",
        "between",
        "period",
        "on",
        "any",
        "all",
        "is",
        "contains",
        "empty",
        "not_empty",
        "before",
        "zz",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["this_month", "2026-01-31", "2026-13-01", "me", "won", "1e999", "NaN"]),
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FILTER = st.one_of(
    st.fixed_dictionaries({"field": FIELD_NAMES, "op": OPS, "value": JSONISH}), JSONISH
)
GROUP = st.one_of(
    st.fixed_dictionaries(
        {"field": FIELD_NAMES},
        optional={"period": st.sampled_from(["day", "week", "month", "year", "decade", ""])},
    ),
    JSONISH,
)
AGGREGATE = st.one_of(
    st.fixed_dictionaries(
        {"fn": st.sampled_from(["count", "sum", "avg", "min", "max", "median"])},
        optional={"field": FIELD_NAMES},
    ),
    JSONISH,
)
DEFINITIONS = st.builds(
    ReportDefinition,
    record_type=st.sampled_from(["opportunities", "leads", "contacts", "activities", "x"]),
    filters=st.one_of(st.lists(FILTER, max_size=3), JSONISH),
    columns=st.one_of(st.lists(st.one_of(FIELD_NAMES, JSONISH), max_size=3), JSONISH),
    group_by=st.one_of(st.lists(GROUP, max_size=3), JSONISH),
    aggregates=st.one_of(st.lists(AGGREGATE, max_size=3), JSONISH),
    ordering=st.one_of(st.sampled_from(["", "-count", "value", "-sum:value"]), JSONISH),
    chart_type=st.one_of(st.sampled_from(["table", "bar", "pie", "donut"]), JSONISH),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(definition=DEFINITIONS)
def test_validation_only_raises_application_error(org, owner, definition):
    with tenant_context(org, actor=owner):
        try:
            valid = validate_definition(definition, org=org)
        except ApplicationError as exc:
            assert exc.errors and all(exc.errors.values())
            return
        # What validation lets through runs (on an empty organization here).
        run_report(valid, user=owner, org=org)
