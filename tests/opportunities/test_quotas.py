"""Quota services, the quota grid page and its cell editing: given / when / then."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.accounts.services import team_create
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.core.testing.records import snapshot
from pulse.opportunities.models import Quota
from pulse.opportunities.services import (
    quota_create,
    quota_delete,
    quota_period_start,
    quota_periods,
    quota_set,
    quota_update,
)
from tests.accounts.factories import make_member
from tests.conftest import login

D = datetime.date


@pytest.mark.parametrize(
    ("fiscal", "period", "day", "start"),
    [
        (1, "month", D(2026, 5, 17), D(2026, 5, 1)),
        (1, "quarter", D(2026, 5, 17), D(2026, 4, 1)),
        (1, "quarter", D(2026, 3, 31), D(2026, 1, 1)),
        (1, "year", D(2026, 12, 31), D(2026, 1, 1)),
        (4, "quarter", D(2026, 3, 31), D(2026, 1, 1)),
        (4, "quarter", D(2026, 4, 1), D(2026, 4, 1)),
        (4, "year", D(2026, 3, 31), D(2025, 4, 1)),
        (4, "year", D(2026, 4, 1), D(2026, 4, 1)),
        (11, "quarter", D(2027, 1, 15), D(2026, 11, 1)),
        (11, "quarter", D(2027, 2, 1), D(2027, 2, 1)),
        (11, "year", D(2027, 10, 31), D(2026, 11, 1)),
    ],
)
def test_period_start_follows_the_fiscal_year(org, fiscal, period, day, start):
    org.fiscal_year_start_month = fiscal
    assert quota_period_start(org=org, period=period, day=day) == start


def test_periods_of_a_fiscal_year(org):
    org.fiscal_year_start_month = 7
    assert quota_periods(org=org, period="quarter", fiscal_year=2026) == [
        D(2026, 7, 1),
        D(2026, 10, 1),
        D(2027, 1, 1),
        D(2027, 4, 1),
    ]
    assert quota_periods(org=org, period="year", fiscal_year=2026) == [D(2026, 7, 1)]
    assert len(quota_periods(org=org, period="month", fiscal_year=2026)) == 12


def test_quota_create_normalises_the_period_start(in_org, owner, rep):
    in_org.fiscal_year_start_month = 4
    in_org.save(update_fields=["fiscal_year_start_month"])

    quota = quota_create(
        org=in_org,
        actor=owner,
        user=rep,
        period="quarter",
        period_start=D(2026, 8, 20),
        target=Decimal("120000"),
    )

    assert (quota.period_start, quota.metric, quota.target) == (
        D(2026, 7, 1),
        "revenue",
        Decimal("120000"),
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": Decimal("-1")}, "target"),
        ({"period": "decade"}, "period"),
        ({"user": None}, "__all__"),  # nobody's
        ({"metric": "smiles"}, "metric"),
    ],
)
def test_invalid_quota_is_refused(in_org, owner, fields, field):
    data = {
        "user": owner,
        "period": "month",
        "period_start": D(2026, 1, 1),
        "target": Decimal("10"),
        **fields,
    }

    with pytest.raises(ApplicationError) as exc:
        quota_create(org=in_org, actor=owner, **data)

    assert field in exc.value.errors
    assert not Quota.objects.exists()


def test_quota_is_for_a_user_or_a_team_not_both(in_org, owner):
    team = team_create(org=in_org, actor=owner, name="EMEA")
    with pytest.raises(ApplicationError, match="one user or one team"):
        quota_create(
            org=in_org,
            actor=owner,
            user=owner,
            team=team,
            period="month",
            period_start=D(2026, 1, 1),
            target=Decimal("1"),
        )
    assert not Quota.objects.exists()


def test_quota_is_unique_per_owner_period_and_metric(in_org, owner):
    fields = {"user": owner, "period": "quarter", "target": Decimal("5")}
    quota_create(org=in_org, actor=owner, period_start=D(2026, 1, 1), **fields)

    with pytest.raises(ApplicationError, match="already exists"):
        quota_create(org=in_org, actor=owner, period_start=D(2026, 2, 14), **fields)

    # Another metric for the same quarter is another quota.
    quota_create(org=in_org, actor=owner, period_start=D(2026, 2, 14), metric="count", **fields)
    assert Quota.objects.count() == 2


def test_quota_for_someone_outside_the_organization_is_refused(in_org, owner, other_owner):
    with pytest.raises(ApplicationError) as exc:
        quota_create(
            org=in_org,
            actor=owner,
            user=other_owner,
            period="month",
            period_start=D(2026, 1, 1),
            target=Decimal("1"),
        )
    assert exc.value.errors == {"user": ["Choose a member of this organization."]}


def test_quota_update_and_delete(in_org, owner):
    team = team_create(org=in_org, actor=owner, name="EMEA")
    quota = quota_create(
        org=in_org,
        actor=owner,
        user=owner,
        period="month",
        period_start=D(2026, 3, 1),
        target=Decimal("10"),
    )

    quota = quota_update(quota=quota, actor=owner, team=team, target=Decimal("30"))
    assert (quota.user_id, quota.team_id, quota.target) == (None, team.pk, Decimal("30"))

    with pytest.raises(ApplicationError, match="Someone else changed"):
        quota_update(quota=quota, actor=owner, target=Decimal("1"), expected_version=1)

    quota_delete(quota=quota, actor=owner)
    assert Quota.trash.filter(pk=quota.pk).exists()


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.READ_ONLY, Role.SUPPORT_AGENT])
def test_only_managers_and_admins_set_quotas(in_org, owner, role):
    user = make_member(in_org, role)
    quota = quota_create(
        org=in_org,
        actor=owner,
        user=user,
        period="month",
        period_start=D(2026, 1, 1),
        target=Decimal("10"),
    )
    before = snapshot(quota)

    with pytest.raises(PermissionDeniedError):
        quota_update(quota=quota, actor=user, target=Decimal("1000000"))
    with pytest.raises(PermissionDeniedError):
        quota_set(
            org=in_org,
            actor=user,
            user=user,
            period="month",
            period_start=D(2026, 2, 1),
            metric="revenue",
            target=Decimal("1"),
        )

    assert snapshot(quota) == before
    assert Quota.objects.count() == 1
    manager = make_member(in_org, Role.MANAGER)
    quota_update(quota=quota, actor=manager, target=Decimal("11"))


def test_quota_set_creates_changes_and_removes(in_org, owner):
    cell = {
        "org": in_org,
        "actor": owner,
        "user": owner,
        "period": "quarter",
        "period_start": D(2026, 4, 1),
        "metric": "revenue",
    }
    created = quota_set(**cell, target=Decimal("100"))
    changed = quota_set(**cell, target=Decimal("150"))
    assert changed.pk == created.pk and changed.target == Decimal("150")

    assert quota_set(**cell, target=None) is None
    assert not Quota.objects.exists()
    assert quota_set(**cell, target=None) is None  # removing nothing is fine

    with pytest.raises(ApplicationError):
        quota_set(**cell, target=Decimal("-5"))
    assert not Quota.objects.exists()


# --- the page ---------------------------------------------------------------------------------


def _grid_url(**params) -> str:
    query = "&".join(f"grid-{k}={v}" for k, v in params.items())
    return f"{reverse('opportunities:quota_list')}?{query}"


def test_grid_shows_members_teams_and_targets_for_a_fiscal_year(org, owner, rep):
    org.fiscal_year_start_month = 4
    org.save(update_fields=["fiscal_year_start_month"])
    with tenant_context(org, actor=owner):
        team = team_create(org=org, actor=owner, name="EMEA")
        quota_create(
            org=org,
            actor=owner,
            user=rep,
            period="quarter",
            period_start=D(2026, 7, 1),
            target=Decimal("25000"),
        )
        quota_create(
            org=org,
            actor=owner,
            team=team,
            period="quarter",
            period_start=D(2027, 1, 1),
            target=Decimal("90000"),
        )

    page = login(owner, org).get(_grid_url(period="quarter", year=2026, metric="revenue"))

    html = page.content.decode()
    assert page.status_code == 200
    for label in ("Q1 FY2026", "Q2 FY2026", "Q3 FY2026", "Q4 FY2026"):
        assert label in html
    assert 'value="25000.00"' in html and 'value="90000.00"' in html
    assert f'value="team:{team.pk}"' in html and f'value="user:{rep.pk}"' in html
    assert 'name="period_start" value="2026-07-01"' in html


def test_grid_is_read_only_for_reps(org, owner, rep):
    with tenant_context(org, actor=owner):
        quota_create(
            org=org,
            actor=owner,
            user=rep,
            period="quarter",
            period_start=D(2026, 1, 1),
            target=Decimal("25000"),
        )

    page = login(rep, org).get(_grid_url(period="quarter", year=2026, metric="revenue"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "25,000" in html
    assert 'data-testid="quota-cell"' not in html


def test_grid_partial_for_htmx(org, owner):
    response = login(owner, org).get(
        _grid_url(period="month", year=2026, metric="count") + "&part=grid", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('data-testid="quota-cell"') == 12  # the owner × 12 months


def test_bad_grid_choice_shows_errors_and_the_default_grid(org, owner):
    response = login(owner, org).get(_grid_url(period="decade", year="x", metric="revenue"))
    assert response.status_code == 200
    assert response.context["grid_form"].errors


def test_grid_cell_saves_through_htmx(org, owner, rep):
    client = login(owner, org)
    cell = {
        "owner": f"user:{rep.pk}",
        "period": "quarter",
        "period_start": "2026-04-01",
        "metric": "revenue",
    }

    response = client.post(
        reverse("opportunities:quota_set"), {**cell, "target": "30000"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert "quota-saved" in response.content.decode()
    quota = Quota.objects.unscoped().get(user=rep)
    assert (quota.period_start, quota.target) == (D(2026, 4, 1), Decimal("30000"))

    refused = client.post(
        reverse("opportunities:quota_set"), {**cell, "target": "-3"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422
    assert "is-invalid" in refused.content.decode()
    assert Quota.objects.unscoped().get(user=rep).target == Decimal("30000")

    emptied = client.post(reverse("opportunities:quota_set"), {**cell, "target": ""})
    assert emptied.status_code == 302
    assert not Quota.objects.unscoped().filter(user=rep, deleted_at__isnull=True).exists()


def test_grid_cell_refuses_another_organizations_people(org, owner, other_owner):
    response = login(owner, org).post(
        reverse("opportunities:quota_set"),
        {
            "owner": f"user:{other_owner.pk}",
            "period": "month",
            "period_start": "2026-04-01",
            "metric": "revenue",
            "target": "5",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert not Quota.objects.unscoped().exists()


def test_rep_cannot_post_a_cell(org, rep):
    response = login(rep, org).post(
        reverse("opportunities:quota_set"),
        {
            "owner": f"user:{rep.pk}",
            "period": "month",
            "period_start": "2026-04-01",
            "metric": "revenue",
            "target": "5",
        },
    )
    assert response.status_code == 403
    assert not Quota.objects.unscoped().exists()


def test_quota_page_query_count_is_pinned(org, owner, django_assert_max_num_queries):
    with tenant_context(org, actor=owner):
        for n in range(5):
            team_create(org=org, actor=owner, name=f"Team {n}")
            user = make_member(org, Role.SALES_REP)
            for q in range(4):
                quota_create(
                    org=org,
                    actor=owner,
                    user=user,
                    period="quarter",
                    period_start=D(2026, 1 + 3 * q, 1),
                    target=Decimal("1000"),
                )
    client = login(owner, org)
    url = _grid_url(period="quarter", year=2026, metric="revenue")
    client.get(url)
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["grid"].users) == 6


def test_api_quota_filters_and_normalises(org, owner, rep):
    from pulse.core.testing import api_client, assert_error_shape

    client = api_client(owner, org)
    response = client.post(
        "/api/crm/quotas/",
        {"user": rep.pk, "period": "quarter", "period_start": "2026-05-20", "target": "100"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["period_start"] == "2026-04-01"

    duplicate = client.post(
        "/api/crm/quotas/",
        {"user": rep.pk, "period": "quarter", "period_start": "2026-06-30", "target": "5"},
        format="json",
    )
    assert_error_shape(duplicate, 400)
    both = client.post(
        "/api/crm/quotas/",
        {"period": "month", "period_start": "2026-06-01", "target": "5"},
        format="json",
    )
    assert "one user or one team" in str(assert_error_shape(both, 400))

    rows = client.get("/api/crm/quotas/", {"user": rep.pk, "period": "quarter"}).json()["results"]
    assert [r["target"] for r in rows] == ["100.00"]
    rep_view = api_client(rep, org).get("/api/crm/quotas/")
    assert rep_view.status_code == 200 and rep_view.json()["count"] == 1
    denied = api_client(rep, org).post(
        "/api/crm/quotas/",
        {"user": rep.pk, "period": "year", "period_start": "2026-01-01", "target": "1"},
        format="json",
    )
    assert denied.status_code == 403
