"""The demo opportunities (``manage.py seed_demo``): three pipelines, ~150 deals with a
consistent year of stage history, close facts, lines, roles, rates, quotas, snapshots."""

from __future__ import annotations

import datetime
import random
from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.currencies.models import ExchangeRate
from pulse.opportunities import demo
from pulse.opportunities.models import (
    ForecastSnapshot,
    Opportunity,
    OpportunityContact,
    OpportunityLineItem,
    OpportunityStageChange,
    Pipeline,
    Quota,
    StageType,
)
from tests.accounts.factories import OrganizationFactory, make_member, make_team
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db


def _demo_org(name: str, seed: int = 2026):
    """An organization shaped like Northwind (the people and team the demo expects, six
    companies of three people), seeded with the opportunities demo."""
    org = OrganizationFactory(name=name)
    users = {"owner": make_member(org, Role.OWNER)}
    for key, role in (
        ("admin", Role.ADMIN),
        ("manager", Role.MANAGER),
        ("rep1", Role.SALES_REP),
        ("rep2", Role.SALES_REP),
    ):
        users[key] = make_member(org, role)
    make_team(
        org, "Enterprise Sales", manager=users["manager"], members=[users["rep1"], users["rep2"]]
    )
    with tenant_context(org, actor=users["owner"], source="system"):
        for c in range(6):
            company = make_company(org, users["owner"], name=f"{name} Customer {c}")
            for _p in range(3):
                make_contact(org, users["owner"], company=company)
        demo.seed(org, users, random.Random(seed))
    return org, users


def _check_pipelines_and_deals(org, users):
    with tenant_context(org):
        pipelines = list(Pipeline.objects.order_by("position"))
        stage_counts = [p.stages.count() for p in pipelines]
        per_pipeline = Counter(Opportunity.objects.values_list("pipeline__name", flat=True))
        outcomes = Counter(Opportunity.objects.values_list("pipeline__name", "status"))
        open_stages = Counter(
            Opportunity.objects.filter(status=StageType.OPEN).values_list(
                "pipeline__name", "stage__position"
            )
        )

    assert [p.name for p in pipelines] == ["New business", "Renewals", "Partners"]
    assert stage_counts == [6, 6, 6]
    assert per_pipeline == {"New business": 80, "Renewals": 45, "Partners": 25}
    for name in per_pipeline:
        for status in ("open", "won", "lost"):
            assert outcomes[(name, status)] >= 3, (name, status)
    # Open deals sit in every open stage of the main pipeline, most in the early ones.
    main = [open_stages[("New business", position)] for position in range(4)]
    assert all(main) and main[0] + main[1] > main[2] + main[3]


def _check_history(org, users):
    with tenant_context(org):
        deals = list(Opportunity.objects.all())
        history: dict = {}
        for row in OpportunityStageChange.objects.order_by("changed_at"):
            history.setdefault(row.opportunity_id, []).append(row)

    assert sum(len(rows) for rows in history.values()) >= 2 * len(deals)
    now = timezone.now()
    for deal in deals:
        rows = history[deal.pk]
        assert rows[0].from_stage_id is None
        assert rows[0].changed_at == deal.created_at
        assert rows[0].seconds_in_from_stage is None
        for before, after in zip(rows, rows[1:], strict=False):
            assert after.from_stage_id == before.to_stage_id
            seconds = int((after.changed_at - before.changed_at).total_seconds())
            assert abs(after.seconds_in_from_stage - seconds) <= 1
            assert after.pipeline_id == deal.pipeline_id
        assert rows[-1].to_stage_id == deal.stage_id
        assert rows[-1].changed_at == deal.stage_changed_at
        assert deal.created_at < now - datetime.timedelta(hours=1)
    # A year of history, not one afternoon.
    months = {(d.created_at.year, d.created_at.month) for d in deals}
    assert len(months) >= 8


def _check_closed_deals(org, users):
    today = timezone.localdate()
    with tenant_context(org):
        won = list(Opportunity.objects.filter(status=StageType.WON))
        lost = list(Opportunity.objects.filter(status=StageType.LOST).select_related("loss_reason"))

    assert len(won) >= 20 and len(lost) >= 20
    for deal in won + lost:
        assert today - datetime.timedelta(days=366) <= deal.actual_close_date <= today
        assert deal.actual_close_date == timezone.localtime(deal.stage_changed_at).date()
    assert all(d.forecast_category == "closed" and d.loss_reason is None for d in won)
    assert all(d.forecast_category == "omitted" and d.loss_reason is not None for d in lost)
    assert len({d.loss_reason.name for d in lost}) >= 4
    assert any(d.competitor for d in lost if "competitor" in d.loss_reason.name.lower())
    assert len({d.actual_close_date.month for d in won + lost}) >= 8


def _check_open_deals_and_currencies(org, users):
    with tenant_context(org):
        open_deals = list(Opportunity.objects.filter(status=StageType.OPEN).select_related("stage"))
        currencies = Counter(Opportunity.objects.values_list("currency", flat=True))
        rates = Counter(ExchangeRate.objects.values_list("currency", flat=True))
        owners = Counter(Opportunity.objects.values_list("assigned_to__email", flat=True))

    categories = Counter(d.forecast_category for d in open_deals)
    assert categories["commit"] >= 3 and categories["best_case"] >= 3
    assert categories["pipeline"] >= 10
    assert 3 <= sum(d.is_rotting for d in open_deals) <= 20
    assert all(d.actual_close_date is None and d.expected_close_date for d in open_deals)
    assert set(currencies) == {"EUR", "USD", "GBP"} and currencies["EUR"] > 75
    assert rates == {"USD": 13, "GBP": 13}
    assert len(owners) == 4 and None not in owners


def _check_lines_and_roles(org, users):
    with tenant_context(org):
        lines = list(OpportunityLineItem.objects.select_related("opportunity"))
        roles = list(OpportunityContact.objects.select_related("opportunity", "contact"))

    by_deal: dict = {}
    for line in lines:
        by_deal.setdefault(line.opportunity, []).append(line)
    assert len(by_deal) >= 10
    for deal, deal_lines in by_deal.items():
        assert deal.value == sum((line.total for line in deal_lines), Decimal(0))
        with tenant_context(org):
            values = set(
                OpportunityStageChange.objects.filter(opportunity=deal).values_list(
                    "value", flat=True
                )
            )
        assert values == {deal.value}
    assert len({r.opportunity_id for r in roles}) >= 30
    assert {r.role for r in roles} >= {"decision_maker", "champion", "influencer"}
    assert all(r.contact.company_id == r.opportunity.company_id for r in roles)


def _check_quotas_and_snapshots(org, users):
    today = timezone.localdate()
    with tenant_context(org):
        quotas = Counter(Quota.objects.values_list("user__email", "team__name", "period", "metric"))
        snapshots = list(ForecastSnapshot.objects.all())

    for key in ("rep1", "rep2", "manager"):
        email = users[key].email
        assert quotas[(email, None, "month", "revenue")] == 12
        assert quotas[(email, None, "quarter", "revenue")] == 4
        assert quotas[(email, None, "year", "count")] == 1
    assert quotas[(None, "Enterprise Sales", "quarter", "revenue")] == 4
    quarter_start = datetime.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    current = [s for s in snapshots if s.period == "quarter" and s.period_start == quarter_start]
    weeks = sorted({s.taken_on for s in current})
    assert len(weeks) >= 2 and all(day.weekday() == 0 for day in weeks)
    assert all(quarter_start <= day <= today for day in weeks)
    assert {s.category for s in current} >= {"commit", "best_case", "pipeline"}
    assert all(s.amount >= 0 and s.deals > 0 for s in snapshots)
    # Like the weekly task: each Monday has the month, the quarter and the year it is in.
    monday = weeks[-1]
    kinds = {(s.period, s.period_start) for s in snapshots if s.taken_on == monday}
    assert kinds == {
        ("month", monday.replace(day=1)),
        ("quarter", quarter_start),
        ("year", datetime.date(today.year, 1, 1)),
    }
    # The previous quarter is there too, for forecast accuracy.
    assert any(s.period == "quarter" and s.period_start < quarter_start for s in snapshots)


def test_the_demo_has_all_of_it_and_is_reproducible():
    # Seeding takes seconds: one demo is checked from every side, a second one with the
    # same seed must come out the same.
    first, users = _demo_org("First Co", seed=5)
    second, _ = _demo_org("Second Co", seed=5)

    _check_pipelines_and_deals(first, users)
    _check_history(first, users)
    _check_closed_deals(first, users)
    _check_open_deals_and_currencies(first, users)
    _check_lines_and_roles(first, users)
    _check_quotas_and_snapshots(first, users)

    def shape(org):
        with tenant_context(org):
            return sorted(
                Opportunity.objects.values_list(
                    "pipeline__name", "stage__name", "currency", "status", "forecast_category"
                )
            ), sorted(Opportunity.objects.exclude(line_items__isnull=False).values_list("value"))

    assert shape(first) == shape(second)
