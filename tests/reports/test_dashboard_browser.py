"""The dashboard in a real browser (headless chromium): widgets load with their numbers and
drawn charts; in Customize mode a widget is dragged to another place and another widened;
after a reload the arrangement is still there (and saved in the user's own dashboard)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.reports.models import Dashboard, DashboardWidget
from tests.accounts.factories import PASSWORD, OrganizationFactory, make_member
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.opportunities.factories import make_opportunity

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email: str) -> None:  # noqa: F811
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/$"))


def order(page) -> list[str]:  # noqa: F811
    return page.eval_on_selector_all(
        "#dashboard-grid > [data-testid=dashboard-widget]", "els => els.map(e => e.dataset.kind)"
    )


def drag(page, source, target) -> None:  # noqa: F811
    """A real pointer drag by the handle, in small steps (sortablejs follows the moves),
    released once sortablejs has moved the card before the target."""
    handle = source.locator("[data-testid=drag-handle]")
    handle.scroll_into_view_if_needed()
    start = handle.bounding_box()
    end = target.bounding_box()
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x, y = end["x"] + 20, end["y"] + end["height"] / 2
    kind = source.get_attribute("data-kind")
    before = order(page)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 10, y0 + 10)
    page.mouse.move(x, y, steps=40)
    for attempt in range(40):
        if order(page).index(kind) != before.index(kind):
            break
        page.wait_for_timeout(50)
        page.mouse.move(x + (5 if attempt % 2 else -5), y + 5, steps=3)
    page.mouse.up()


def test_dashboard_loads_widgets_and_keeps_an_arrangement(page, live_server):  # noqa: F811
    org = OrganizationFactory(name="Rila Outdoor")
    rita = make_member(org, Role.SALES_REP, email="rita@example.com", full_name="Rita Rep")
    with tenant_context(org, actor=rita):
        make_opportunity(org, rita, name="Tents", value=Decimal("1200"), assigned_to=rita)

    sign_in(page, "rita@example.com")
    assert page.locator("h1").inner_text().startswith("Welcome back, Rita")
    # widgets load lazily, with numbers and drawn charts
    pipeline = page.locator("[data-testid=dashboard-widget][data-kind=open_pipeline]")
    pipeline.locator("[data-testid=widget-value]").wait_for()
    assert pipeline.locator("[data-testid=widget-value]").inner_text().strip() == "EUR 1,200"
    funnel = page.locator("[data-testid=dashboard-widget][data-kind=pipeline_by_stage] canvas")
    funnel.wait_for()
    page.wait_for_function(
        "() => { const c = document.querySelector("
        "'[data-kind=pipeline_by_stage] canvas[data-chart]');"
        " return c && c.dataset.chartDrawn && c.width > 0 && c.height > 0; }"
    )
    box = funnel.bounding_box()
    assert box["width"] > 100 and box["height"] > 100

    # Customize: drag "win rate" (third) before "open pipeline" (first)
    page.click("[data-testid=customize]")
    page.locator("#dashboard.customizing").wait_for()
    before = order(page)
    assert before[:3] == ["open_pipeline", "revenue_won", "win_rate"]
    widgets = page.locator("#dashboard-grid > [data-testid=dashboard-widget]")
    # the first change copies the published dashboard: the page reloads with the copy
    with page.expect_navigation():
        drag(page, widgets.nth(2), widgets.nth(0))
    page.wait_for_function(
        "() => document.querySelector('#dashboard-grid > [data-testid=dashboard-widget]')"
        ".dataset.kind === 'win_rate'"
    )
    page.locator("#dashboard.customizing").wait_for()
    expected = ["win_rate", "open_pipeline", "revenue_won", *before[3:]]
    assert order(page) == expected

    # widen "revenue won" to full width (XL)
    revenue = page.locator("[data-testid=dashboard-widget][data-kind=revenue_won]")
    revenue.locator("[data-testid=width-12]").click()
    page.locator(
        "[data-testid=dashboard-widget][data-kind=revenue_won][data-width='12']"
    ).wait_for()

    # the arrangement survives a reload
    page.goto("/")
    page.locator("[data-testid=dashboard-widget]").first.wait_for()
    assert order(page) == expected
    assert page.locator("[data-kind=revenue_won]").get_attribute("class").split()[:2] == [
        "col-12",
        "col-md-12",
    ]
    own = Dashboard.objects.unscoped().get(owner=rita, deleted_at__isnull=True)
    saved = DashboardWidget.objects.unscoped().filter(dashboard=own, deleted_at__isnull=True)
    assert [w.kind for w in saved.order_by("position")] == expected
    assert saved.get(kind="revenue_won").width == 12
    published = Dashboard.objects.unscoped().get(owner__isnull=True)
    assert (
        DashboardWidget.objects.unscoped().filter(dashboard=published).order_by("position")[0].kind
        == "open_pipeline"
    )  # the published dashboard is untouched

    # phone width: one column
    page.set_viewport_size({"width": 390, "height": 844})
    first, second = (
        page.locator("[data-testid=dashboard-widget]").nth(0),
        page.locator("[data-testid=dashboard-widget]").nth(1),
    )
    assert first.bounding_box()["width"] > 300
    assert second.bounding_box()["y"] > first.bounding_box()["y"]
