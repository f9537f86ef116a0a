"""The report engine: catalogue, validation and runs with exact numbers."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.currencies.services import exchangerate_create
from pulse.extras.services import customfield_delete
from pulse.opportunities.models import Opportunity, Stage
from pulse.opportunities.services import opportunity_update, pipeline_ensure_defaults
from pulse.reports.engine import (
    ReportDefinition,
    ReportError,
    field_options,
    iter_report_rows,
    report_fields,
    run_report,
    validate_definition,
)
from tests.contacts.factories import make_company
from tests.extras.factories import make_custom_field, make_tag
from tests.opportunities.factories import make_loss_reason, make_opportunity

pytestmark = pytest.mark.django_db

CLOSED = datetime.date(2026, 3, 10)


def _stages(org, actor):
    pipeline = pipeline_ensure_defaults(org=org, actor=actor)[0]
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position"))
    open_stages = [s for s in stages if s.type == "open"]
    won = next(s for s in stages if s.type == "won")
    lost = next(s for s in stages if s.type == "lost")
    return open_stages, won, lost


@pytest.fixture
def deals(org, owner, rep):
    """Owner: two open deals (1,000 and 2,000 EUR, first two stages) and a won one
    (3,000 EUR, March 2026); rep: a won 500 USD (rate 0.9) and a lost 700 EUR."""
    with tenant_context(org, actor=owner):
        exchangerate_create(
            org=org,
            actor=owner,
            currency="USD",
            rate=Decimal("0.9"),
            valid_from=datetime.date(2020, 1, 1),
        )
        opens, won, lost = _stages(org, owner)
        acme = make_company(org, owner, name="Acme")
        reason = make_loss_reason(org, owner, name="Price")
        out = {
            "o1": make_opportunity(org, owner, stage=opens[0], value=Decimal("1000"), company=acme),
            "o2": make_opportunity(org, owner, stage=opens[1], value=Decimal("2000")),
            "w1": make_opportunity(
                org,
                owner,
                stage=won,
                value=Decimal("3000"),
                actual_close_date=CLOSED,
                company=acme,
            ),
            "w2": make_opportunity(
                org,
                owner,
                stage=won,
                value=Decimal("500"),
                currency="USD",
                assigned_to=rep,
                actual_close_date=datetime.date(2026, 4, 2),
            ),
            "l1": make_opportunity(
                org,
                owner,
                stage=lost,
                value=Decimal("700"),
                assigned_to=rep,
                loss_reason=reason,
                actual_close_date=datetime.date(2026, 4, 3),
            ),
        }
        out.update(opens=opens, won=won, lost=lost, acme=acme, reason=reason)
        return out


def _run(org, user, **definition):
    definition.setdefault("record_type", "opportunities")
    with tenant_context(org, actor=user):
        return run_report(ReportDefinition(**definition), user=user, org=org)


def _validate(org, **definition):
    definition.setdefault("record_type", "opportunities")
    with tenant_context(org):
        return validate_definition(ReportDefinition(**definition), org=org)


# --- catalogue ---


@pytest.mark.parametrize(
    ("record_type", "expected"),
    [
        (
            "opportunities",
            {
                "value": "money",
                "stage": "relation",
                "assigned_to": "user",
                "tags": "tags",
                "actual_close_date": "date",
                "status": "choice",
                "created_at": "datetime",
                "probability": "number",
            },
        ),
        ("leads", {"source": "choice", "status": "choice", "score": "number", "stage": "relation"}),
        (
            "contacts",
            {"company": "relation", "lifecycle_stage": "choice", "do_not_contact": "bool"},
        ),
        ("companies", {"annual_revenue": "money", "size_band": "choice", "parent": "relation"}),
        ("activities", {"type": "choice", "completed_at": "datetime", "due_date": "date"}),
    ],
)
def test_catalogue_kinds(org, owner, record_type, expected):
    with tenant_context(org, actor=owner):
        fields = report_fields(record_type, org)
    assert {key: fields[key].kind for key in expected} == expected


def test_catalogue_has_custom_fields_and_options(org, owner, rep):
    with tenant_context(org, actor=owner):
        make_custom_field(
            org,
            owner,
            content_type=ContentType.objects.get_for_model(Opportunity),
            key="region",
            label="Region",
            field_type="choice",
            choices=["North", "South"],
        )
        fields = report_fields("opportunities", org)
        region = fields["cf_region"]
        assert (region.kind, region.lookup, region.custom) == (
            "choice",
            "custom_fields__region",
            True,
        )
        assert field_options(region, user=owner, org=org) == [
            ("North", "North"),
            ("South", "South"),
        ]
        members = field_options(fields["assigned_to"], user=owner, org=org)
        assert [label for _value, label in members] == ["Olivia Owner", "Rita Rep"]
        stages = field_options(fields["stage"], user=owner, org=org)
        assert len(stages) == Stage.objects.count()


# --- validation ---


def test_validation_normalises(org):
    definition = _validate(
        org,
        group_by=["assigned_to", {"field": "created_at"}],
        filters=[{"field": "value", "op": "gte", "value": "10.5"}],
    )
    assert definition.group_by == [
        {"field": "assigned_to"},
        {"field": "created_at", "period": "month"},
    ]
    assert definition.aggregates == [{"fn": "count"}]
    assert definition.filters == [{"field": "value", "op": "gte", "value": "10.5"}]
    ungrouped = _validate(org)
    assert ungrouped.columns[:2] == ["name", "company"]


@pytest.mark.parametrize(
    ("definition", "key", "message"),
    [
        (
            {"filters": [{"field": "nope", "op": "eq", "value": 1}]},
            "filters",
            "Unknown field “nope”",
        ),
        (
            {"filters": [{"field": "value", "op": "gt", "value": "lots"}]},
            "filters",
            "“lots” is not a number",
        ),
        (
            {"filters": [{"field": "actual_close_date", "op": "on", "value": "2026-02-30"}]},
            "filters",
            "is not a date",
        ),
        (
            {"filters": [{"field": "actual_close_date", "op": "period", "value": "someday"}]},
            "filters",
            "Unknown period “someday”",
        ),
        (
            {"filters": [{"field": "status", "op": "in", "value": ["maybe"]}]},
            "filters",
            "not a valid choice",
        ),
        (
            {"filters": [{"field": "value", "op": "contains", "value": "1"}]},
            "filters",
            "does not apply",
        ),
        (
            {"group_by": [{"field": "stage"}, {"field": "assigned_to"}, {"field": "status"}]},
            "group_by",
            "at most 2",
        ),
        ({"group_by": [{"field": "stage", "period": "month"}]}, "group_by", "Only dates"),
        (
            {"group_by": [{"field": "created_at", "period": "fortnight"}]},
            "group_by",
            "Unknown period",
        ),
        (
            {"group_by": ["stage"], "aggregates": [{"fn": "sum", "field": "name"}]},
            "aggregates",
            "needs a number field",
        ),
        (
            {"group_by": ["stage"], "aggregates": [{"fn": "median"}]},
            "aggregates",
            "Unknown aggregate",
        ),
        ({"columns": ["name", "ghost"]}, "columns", "Unknown field “ghost”"),
        ({"columns": ["name"], "ordering": "-value"}, "ordering", "not “value”"),
    ],
)
def test_validation_errors(org, definition, key, message):
    with pytest.raises(ApplicationError) as caught:
        _validate(org, **definition)
    assert list(caught.value.errors) == [key]
    assert message in caught.value.errors[key][0]


def test_unknown_record_type(org):
    with pytest.raises(ApplicationError) as caught:
        _validate(org, record_type="invoices")
    assert list(caught.value.errors) == ["record_type"]


# --- grouped runs ---


def test_group_by_owner_sums_converted_money(org, owner, rep, deals):
    result = _run(
        org,
        owner,
        group_by=[{"field": "assigned_to"}],
        aggregates=[
            {"fn": "count"},
            {"fn": "sum", "field": "value"},
            {"fn": "avg", "field": "value"},
        ],
        ordering="-sum:value",
        chart_type="bar",
    )
    rows = [(g.labels, g.values) for g in result.groups]
    assert rows == [
        (
            ("Olivia Owner",),
            {"count": 3, "sum:value": Decimal("6000.00"), "avg:value": Decimal("2000.00")},
        ),
        (
            ("Rita Rep",),
            {"count": 2, "sum:value": Decimal("1150.00"), "avg:value": Decimal("575.00")},
        ),
    ]
    assert result.totals == {
        "count": 5,
        "sum:value": Decimal("7150.00"),
        "avg:value": Decimal("1430.00"),
    }
    assert result.currency == "EUR"
    assert result.notices == []
    assert result.chart.labels == ["Olivia Owner", "Rita Rep"]
    # the chart draws the first aggregate
    assert result.chart.datasets == [{"label": "Count", "data": [3.0, 2.0]}]
    assert result.chart.value_format == "number"
    assert result.groups[0].url == f"/opportunities/?assigned_to={owner.pk}"


def test_unconverted_currency_is_left_out_with_a_notice(org, owner, deals):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner, value=Decimal("100"), currency="JPY")
    result = _run(org, owner, group_by=["status"], aggregates=[{"fn": "sum", "field": "value"}])
    assert {g.labels[0]: g.values["sum:value"] for g in result.groups} == {
        "Open": Decimal("3000.00"),
        "Won": Decimal("3450.00"),
        "Lost": Decimal("700.00"),
    }
    assert result.notices == [
        "Amounts in JPY are left out: there is no exchange rate to EUR. Add one under "
        "Settings → Currencies."
    ]


def test_group_by_stage_in_pipeline_order_with_filter_and_links(org, owner, deals):
    result = _run(
        org,
        owner,
        group_by=["stage"],
        filters=[{"field": "status", "op": "in", "value": ["open"]}],
        aggregates=[{"fn": "count"}, {"fn": "sum", "field": "value"}],
        chart_type="funnel",
    )
    opens = deals["opens"]
    assert [(g.labels[0], g.values["count"]) for g in result.groups] == [
        (opens[0].name, 1),
        (opens[1].name, 1),
    ]
    assert result.groups[0].url == f"/opportunities/?status=open&stage={opens[0].pk}"
    assert result.chart.as_chartjs()["options"]["indexAxis"] == "y"


def test_group_by_month_and_two_levels(org, owner, deals):
    result = _run(
        org,
        owner,
        group_by=[{"field": "actual_close_date", "period": "month"}, {"field": "status"}],
        aggregates=[{"fn": "count"}],
        chart_type="bar",
    )
    assert [(g.labels, g.values["count"]) for g in result.groups] == [
        (("2026-03", "Won"), 1),
        (("2026-04", "Won"), 1),
        (("2026-04", "Lost"), 1),
        (("(none)", "Open"), 2),
    ]
    assert (
        result.groups[0].url
        == "/opportunities/?closed_from=2026-03-01&closed_to=2026-03-31&status=won"
    )
    assert result.chart.labels == ["2026-03", "2026-04", "(none)"]
    assert result.chart.datasets == [
        {"label": "Won", "data": [1.0, 1.0, 0]},
        {"label": "Lost", "data": [0, 1.0, 0]},
        {"label": "Open", "data": [0, 0, 2.0]},
    ]


@pytest.mark.parametrize(
    ("period", "labels"),
    [
        ("quarter", ["Q1 2026", "Q2 2026"]),
        ("week", ["W11 2026", "W14 2026"]),
        ("year", ["2026"]),
        ("day", ["2026-03-10", "2026-04-02", "2026-04-03"]),
    ],
)
def test_date_labels(org, owner, deals, period, labels):
    result = _run(
        org,
        owner,
        group_by=[{"field": "actual_close_date", "period": period}],
        filters=[{"field": "actual_close_date", "op": "not_empty"}],
    )
    assert [g.labels[0] for g in result.groups] == labels


def test_datetime_groups_use_the_org_time_zone(org, owner, deals):
    org.time_zone = "Pacific/Auckland"
    org.save(update_fields=["time_zone"])
    with tenant_context(org, actor=owner):
        Opportunity.objects.filter(pk=deals["o1"].pk).update(
            created_at=datetime.datetime(2026, 1, 31, 12, 0, tzinfo=datetime.UTC)  # Feb 1 in NZ
        )
    result = _run(
        org,
        owner,
        group_by=[{"field": "created_at", "period": "month"}],
        filters=[{"field": "name", "op": "eq", "value": deals["o1"].name}],
    )
    assert [g.labels[0] for g in result.groups] == ["2026-02"]


def test_max_groups_notice_and_totals(org, owner, deals):
    with tenant_context(org, actor=owner):
        result = run_report(
            ReportDefinition(
                record_type="opportunities", group_by=[{"field": "competitor"}, {"field": "stage"}]
            ),
            user=owner,
            org=org,
            max_groups=2,
        )
    assert len(result.groups) == 2
    assert result.totals == {"count": 5}
    assert result.notices[0].startswith("Only the first 2 groups are shown")


def test_totals_of_a_cut_report_are_those_of_every_group(org, owner, deals):
    """Past ``max_groups`` only the display stops: the totals still add up every deal,
    whether the groups were all read (money, split by currency) or not."""
    definition = ReportDefinition(
        record_type="opportunities",
        group_by=[{"field": "stage"}],
        aggregates=[
            {"fn": "count"},
            {"fn": "sum", "field": "value"},
            {"fn": "avg", "field": "value"},
        ],
    )
    with tenant_context(org, actor=owner):
        whole = run_report(definition, user=owner, org=org)
        cut = run_report(definition, user=owner, org=org, max_groups=1)
    assert len(whole.groups) > 1 and len(cut.groups) == 1
    assert cut.totals == whole.totals
    assert cut.totals["count"] == 5
    assert cut.notices[0].startswith("Only the first 1 groups are shown")


def test_filters_of_every_kind(org, owner, rep, deals):
    with tenant_context(org, actor=owner):
        tag = make_tag(org, owner, name="Hot")
        other = make_tag(org, owner, name="Cold")
        deals["o1"].tags.add(tag, other)
        deals["o2"].tags.add(tag)

    def names(*filters):
        result = _run(org, owner, filters=list(filters), columns=["name"], ordering="name")
        return {row[0] for row in result.rows}

    d = {k: deals[k].name for k in ("o1", "o2", "w1", "w2", "l1")}
    assert names({"field": "tags", "op": "any", "value": [str(tag.pk)]}) == {d["o1"], d["o2"]}
    assert names({"field": "tags", "op": "all", "value": [str(tag.pk), str(other.pk)]}) == {d["o1"]}
    assert names({"field": "tags", "op": "none", "value": [str(tag.pk)]}) == {
        d["w1"],
        d["w2"],
        d["l1"],
    }
    assert names({"field": "value", "op": "between", "value": [600, 2000]}) == {
        d["o1"],
        d["o2"],
        d["l1"],
    }
    assert names({"field": "value", "op": "gt", "value": "2000"}) == {d["w1"]}
    assert names({"field": "assigned_to", "op": "in", "value": [str(rep.pk)]}) == {d["w2"], d["l1"]}
    assert names({"field": "assigned_to", "op": "in", "value": ["me"]}) == {
        d["o1"],
        d["o2"],
        d["w1"],
    }
    assert names({"field": "loss_reason", "op": "empty"}) == {d["o1"], d["o2"], d["w1"], d["w2"]}
    assert names({"field": "company", "op": "in", "value": [str(deals["acme"].pk)]}) == {
        d["o1"],
        d["w1"],
    }
    assert names({"field": "actual_close_date", "op": "before", "value": "2026-04-02"}) == {d["w1"]}
    assert names({"field": "actual_close_date", "op": "after", "value": "2026-04-02"}) == {d["l1"]}
    assert names(
        {"field": "actual_close_date", "op": "between", "value": ["2026-03-10", "2026-04-02"]}
    ) == {d["w1"], d["w2"]}
    assert names({"field": "created_at", "op": "period", "value": "today"}) == set(d.values())
    assert names({"field": "created_at", "op": "period", "value": "last_month"}) == set()
    assert names({"field": "name", "op": "contains", "value": d["o1"][-3:]}) >= {d["o1"]}
    assert names({"field": "status", "op": "not_in", "value": ["open"]}) == {
        d["w1"],
        d["w2"],
        d["l1"],
    }


def test_custom_field_filter_group_and_sum(org, owner, deals):
    with tenant_context(org, actor=owner):
        ct = ContentType.objects.get_for_model(Opportunity)
        make_custom_field(
            org,
            owner,
            content_type=ct,
            key="region",
            label="Region",
            field_type="choice",
            choices=["North", "South"],
        )
        make_custom_field(
            org, owner, content_type=ct, key="seats", label="Seats", field_type="number"
        )
        for key, region, seats in (("o1", "North", 10), ("o2", "North", 5), ("w1", "South", 7)):
            opportunity_update(
                opportunity=deals[key],
                actor=owner,
                custom_fields={"region": region, "seats": seats},
            )
    result = _run(
        org,
        owner,
        group_by=["cf_region"],
        aggregates=[{"fn": "count"}, {"fn": "sum", "field": "cf_seats"}],
        filters=[{"field": "cf_seats", "op": "gte", "value": 5}],
    )
    assert [(g.labels[0], g.values) for g in result.groups] == [
        ("North", {"count": 2, "sum:cf_seats": Decimal("15.00")}),
        ("South", {"count": 1, "sum:cf_seats": Decimal("7.00")}),
    ]
    rows = _run(org, owner, columns=["name", "cf_region", "cf_seats"], ordering="-cf_seats").rows
    assert rows[:3] == [
        [deals["o1"].name, "North", 10],
        [deals["w1"].name, "South", 7],
        [deals["o2"].name, "North", 5],
    ]


def test_deleted_custom_field_is_a_report_error(org, owner, deals):
    with tenant_context(org, actor=owner):
        field = make_custom_field(
            org,
            owner,
            content_type=ContentType.objects.get_for_model(Opportunity),
            key="region",
            label="Region",
            field_type="text",
        )
        definition = _validate(org, group_by=["cf_region"])
        customfield_delete(field=field, actor=owner)
        with pytest.raises(ReportError) as caught:
            run_report(definition, user=owner, org=org)
    assert caught.value.field == "cf_region"
    assert caught.value.message == (
        "The field “region” no longer exists; edit the report to remove it."
    )


def test_team_visibility_limits_what_a_rep_sums(org, owner, rep, deals):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    result = _run(org, rep, group_by=["status"], aggregates=[{"fn": "sum", "field": "value"}])
    assert {g.labels[0]: g.values["sum:value"] for g in result.groups} == {
        "Won": Decimal("450.00"),
        "Lost": Decimal("700.00"),
    }


# --- ungrouped runs ---


def test_rows_page_with_display_values_and_urls(org, owner, deals):
    result = _run(
        org,
        owner,
        columns=["name", "stage", "value", "assigned_to", "actual_close_date", "status"],
        ordering="-value",
        filters=[{"field": "status", "op": "in", "value": ["won", "lost"]}],
    )
    assert result.rows == [
        [deals["w1"].name, deals["won"].name, "3,000.00 EUR", "Olivia Owner", "2026-03-10", "Won"],
        [deals["l1"].name, deals["lost"].name, "700.00 EUR", "Rita Rep", "2026-04-03", "Lost"],
        [deals["w2"].name, deals["won"].name, "500.00 USD", "Rita Rep", "2026-04-02", "Won"],
    ]
    assert result.row_urls == [deals[k].get_absolute_url() for k in ("w1", "l1", "w2")]
    assert (result.total_rows, result.page, result.has_next) == (3, 1, False)
    assert [c.key for c in result.columns] == [
        "name",
        "stage",
        "value",
        "assigned_to",
        "actual_close_date",
        "status",
    ]


def test_rows_paging_and_query_count(org, owner, deals):
    with tenant_context(org, actor=owner):
        tag = make_tag(org, owner, name="Hot")
        for deal in Opportunity.objects.all():
            deal.tags.add(tag)
        definition = _validate(org, columns=["name", "stage", "company", "assigned_to", "tags"])
        run_report(definition, user=owner, org=org)  # warm the per-request reads
        # count + rows + tags (plus the timeout's savepoint, SET and reset on PostgreSQL)
        expected = 3 + (4 if connection.vendor == "postgresql" else 0)
        with CaptureQueriesContext(connection) as queries:
            result = run_report(definition, user=owner, org=org, page=2, page_size=2)
    assert len(queries) == expected, [q["sql"] for q in queries]
    assert (result.page, result.has_next, result.total_rows, len(result.rows)) == (2, True, 5, 2)
    assert result.rows[0][-1] == "Hot"


def test_grouped_run_is_one_aggregate_query_plus_labels(org, owner, deals):
    with tenant_context(org, actor=owner):
        definition = _validate(
            org,
            group_by=["stage", "assigned_to"],
            aggregates=[{"fn": "count"}, {"fn": "sum", "field": "value"}],
        )
        run_report(definition, user=owner, org=org)
        with CaptureQueriesContext(connection) as queries:
            run_report(definition, user=owner, org=org)
    # aggregate + stage names + user names (+ savepoint, SET, reset, release on PostgreSQL)
    expected = 3 + (4 if connection.vendor == "postgresql" else 0)
    assert len(queries) == expected, [q["sql"] for q in queries]


def test_iter_report_rows_for_exports(org, owner, deals):
    with tenant_context(org, actor=owner):
        rows = list(
            iter_report_rows(
                ReportDefinition(
                    record_type="opportunities", columns=["name", "value"], ordering="value"
                ),
                user=owner,
                org=org,
                limit=2,
            )
        )
        groups = list(
            iter_report_rows(
                ReportDefinition(record_type="opportunities", group_by=[{"field": "status"}]),
                user=owner,
                org=org,
            )
        )
    assert rows == [[deals["w2"].name, "500.00 USD"], [deals["l1"].name, "700.00 EUR"]]
    assert groups == [["Open", 2], ["Won", 2], ["Lost", 1]]


def test_other_record_types_run(org, owner):
    for record_type, group in (
        ("leads", "stage"),
        ("leads", "source"),
        ("contacts", "lifecycle_stage"),
        ("companies", "size_band"),
        ("activities", "type"),
    ):
        result = _run(org, owner, record_type=record_type, group_by=[group])
        assert result.totals == {"count": 0}
        rows = _run(org, owner, record_type=record_type)
        assert rows.rows == []


def test_a_query_that_runs_too_long_is_a_report_error(org, owner, monkeypatch):
    """PostgreSQL: the statement timeout ends the run with a clear message. A second
    connection holds a lock on companies so the report's query waits past the limit."""
    if connection.vendor != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's")
    import psycopg

    from pulse.reports import engine

    monkeypatch.setattr(engine, "STATEMENT_TIMEOUT_MS", 300)
    params = connection.get_connection_params()
    blocker = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
    )
    try:
        blocker.execute("SET lock_timeout = '5s'")
        blocker.execute("LOCK TABLE contacts_company IN ACCESS EXCLUSIVE MODE")
        with tenant_context(org, actor=owner):
            with pytest.raises(ReportError) as caught:
                run_report(
                    ReportDefinition(record_type="companies", group_by=[{"field": "country"}]),
                    user=owner,
                    org=org,
                )
            # The request's transaction is still usable afterwards.
            assert Opportunity.objects.count() == 0
    finally:
        blocker.rollback()
        blocker.close()
    assert caught.value.message.startswith("This report took too long to run. Add filters")


def test_leads_by_stage_link_to_the_stage_key_and_status(org, owner):
    from tests.leads.factories import make_lead

    with tenant_context(org, actor=owner):
        make_lead(org, owner, source="referral")
        make_lead(org, owner, source="referral")
        make_lead(org, owner, source="event", assigned_to=None)
    result = _run(org, owner, record_type="leads", group_by=["stage"])
    assert [(g.labels[0], g.values["count"], g.url) for g in result.groups] == [
        ("New", 3, "/leads/?stage=new"),
    ]
    result = _run(
        org, owner, record_type="leads", group_by=["source", "assigned_to"], ordering="-count"
    )
    assert [(g.labels, g.values["count"], g.url) for g in result.groups] == [
        (("Referral", "Olivia Owner"), 2, f"/leads/?source=referral&assigned_to={owner.pk}"),
        (("Event", "(none)"), 1, "/leads/?source=event&assigned_to=unassigned"),
    ]
    statuses = _run(org, owner, record_type="leads", group_by=["status"])
    assert [(g.labels[0], g.values["count"]) for g in statuses.groups] == [("Open", 3)]
