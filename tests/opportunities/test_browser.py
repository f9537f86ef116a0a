"""Issue 5 in a real browser (headless chromium): a sales rep drags a deal to another
stage of the kanban board, then to Won (answering the close-date dialog), reloads and
finds it there; a drop on Lost asks for the reason and Cancel puts the card back; two
people moving the same card: the second is told and the card goes back; and the
forecast page draws its chart."""

from __future__ import annotations

import os
import re

import pytest
from django.utils import timezone

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.opportunities.models import Opportunity, OpportunityStageChange
from pulse.opportunities.selectors import stages_of
from pulse.opportunities.services import opportunity_move, pipeline_ensure_defaults
from tests.accounts.factories import PASSWORD, OrganizationFactory, make_member
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.opportunities.factories import make_opportunity

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("PULSE_OPPORTUNITY_SCREENSHOTS", "")
MOVE = re.compile(r"/opportunities/[0-9a-f-]{36}/move/$")


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    size = page.viewport_size
    if width:
        page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(400)  # let dialogs finish fading in
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width and size:
        page.set_viewport_size(size)


def sign_in(page, email: str) -> None:  # noqa: F811
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/$"))


def drag(page, source, target) -> None:  # noqa: F811
    """A real pointer drag, in small steps (sortablejs listens to the moves). The pointer
    is released only once sortablejs has put the card into the target list: a drag over
    several columns is animated, and a release while the card still sits in a column it
    passed on the way would drop it there."""
    target.scroll_into_view_if_needed()
    source.scroll_into_view_if_needed()
    card_id = source.get_attribute("data-id")
    start = source.bounding_box()
    end = target.bounding_box()
    x, y = end["x"] + end["width"] / 2, end["y"] + 30
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 10)
    page.mouse.move(x, y, steps=40)
    for attempt in range(40):
        if target.locator(f"[data-id='{card_id}']").count():
            break
        # Small moves over the target until its drag-over is handled.
        page.wait_for_timeout(50)
        page.mouse.move(x + (5 if attempt % 2 else -5), y + 5, steps=3)
    page.mouse.up()


def column(page, stage):  # noqa: F811
    return page.locator(f"[data-testid=board-column][data-stage='{stage.pk}']")


def count_of(page, stage) -> str:  # noqa: F811
    return column(page, stage).locator("[data-testid=column-count]").inner_text().strip()


def wait_for_count(page, stage, expected: int) -> None:  # noqa: F811
    page.wait_for_function(
        "([id, n]) => document.querySelector(`[data-stage='${id}'] [data-testid=column-count]`)"
        ".textContent.trim() === n",
        arg=[str(stage.pk), str(expected)],
    )


def card(page, stage, name):  # noqa: F811
    return column(page, stage).locator("[data-testid=opportunity-card]", has_text=name)


def test_drag_to_a_stage_and_to_won_then_the_forecast_chart(page, live_server):  # noqa: F811
    org = OrganizationFactory(name="Rila Outdoor", default_currency="EUR")
    rep = make_member(org, Role.SALES_REP, email="rita@example.com", full_name="Rita Rep")
    colleague = make_member(org, Role.SALES_REP, email="ivan@example.com", full_name="Ivan Ivanov")
    with tenant_context(org, actor=rep):
        stages = {s.name: s for s in stages_of(pipeline_ensure_defaults(org=org, actor=rep)[0])}
        today = timezone.localdate()
        tents = make_opportunity(
            org, rep, name="Tents for the summer camp", value=12000, expected_close_date=today
        )
        make_opportunity(org, rep, name="Sleeping bags", value=3000, expected_close_date=today)
        boots = make_opportunity(org, rep, name="Hiking boots", value=800, stage=stages["Proposal"])
    qualification, proposal, won = stages["Qualification"], stages["Proposal"], stages["Won"]
    sign_in(page, "rita@example.com")
    # A wide desktop screen: every column of the pipeline is in view to drop on.
    page.set_viewport_size({"width": 1920, "height": 1000})

    # 1. Drag "Tents" from Qualification to Proposal: saved at once, counts follow.
    page.goto("/opportunities/board/")
    assert (count_of(page, qualification), count_of(page, proposal)) == ("2", "1")
    shot(page, "01-board")
    shot(page, "01-board-1400", width=1400)
    shot(page, "01-board-phone", width=390)
    with page.expect_response(MOVE) as moved:
        drag(
            page,
            card(page, qualification, "Tents"),
            column(page, proposal).locator("[data-stage-cards]"),
        )
    assert moved.value.ok, moved.value.text()
    wait_for_count(page, proposal, 2)
    assert count_of(page, qualification) == "1"
    page.reload()
    assert card(page, proposal, "Tents").count() == 1
    assert card(page, qualification, "Tents").count() == 0
    assert Opportunity.objects.unscoped().get(pk=tents.pk).stage_id == proposal.pk

    # 2. Drag "Tents" to Won: the dialog asks for the close date (today by default).
    drag(page, card(page, proposal, "Tents"), column(page, won).locator("[data-stage-cards]"))
    dialog = page.locator("#won-modal")
    dialog.wait_for(state="visible")
    date_input = dialog.locator("input[name=actual_close_date]")
    assert date_input.input_value() == today.isoformat()
    date_input.fill("")
    shot(page, "02-won-dialog")
    # An empty date is refused by the server and the dialog stays open to fix it.
    with page.expect_response(MOVE) as refused:
        dialog.locator("[data-testid=won-save]").click()
    assert refused.value.status == 400
    # The page writes the answer's error into the dialog once it has read the body.
    dialog.get_by_text("A won deal needs the date it closed.").wait_for()
    date_input.fill(today.isoformat())
    with page.expect_response(MOVE) as closed:
        dialog.locator("[data-testid=won-save]").click()
    assert closed.value.ok, closed.value.text()
    dialog.wait_for(state="hidden")
    wait_for_count(page, won, 1)
    page.reload()
    assert card(page, won, "Tents").count() == 1
    assert card(page, proposal, "Tents").count() == 0
    deal = Opportunity.objects.unscoped().get(pk=tents.pk)
    assert (deal.status, deal.actual_close_date) == ("won", today)
    assert list(
        OpportunityStageChange.objects.unscoped()
        .filter(opportunity=tents)
        .order_by("changed_at")
        .values_list("to_stage__name", flat=True)
    ) == ["Qualification", "Proposal", "Won"]
    shot(page, "03-board-after-won")

    # 3. A drop on Lost asks for the reason; Cancel puts the card back, nothing saved.
    lost = stages["Lost"]
    drag(
        page,
        card(page, qualification, "Sleeping bags"),
        column(page, lost).locator("[data-stage-cards]"),
    )
    lost_dialog = page.locator("#lost-modal")
    lost_dialog.wait_for(state="visible")
    assert "Price too high" in lost_dialog.locator("select[name=loss_reason]").inner_text()
    shot(page, "04-lost-dialog")
    lost_dialog.get_by_role("button", name="Cancel").click()
    lost_dialog.wait_for(state="hidden")
    # Bootstrap fades the backdrop out after the dialog is hidden; until it is gone it
    # covers the board and would take the next drag's pointer-down.
    page.locator(".modal-backdrop").wait_for(state="detached")
    card(page, qualification, "Sleeping bags").wait_for()
    assert card(page, lost, "Sleeping bags").count() == 0
    assert Opportunity.objects.unscoped().get(name="Sleeping bags").status == "open"

    # 4. Someone else moved "Hiking boots" meanwhile: this drop is refused with a message
    #    and the card shows where it really is.
    with tenant_context(org, actor=colleague):
        opportunity_move(opportunity=boots, stage=stages["Negotiation"], actor=colleague)
    with page.expect_response(MOVE) as stale:
        drag(
            page,
            card(page, proposal, "Hiking boots"),
            column(page, qualification).locator("[data-stage-cards]"),
        )
    assert stale.value.status == 400
    message = page.locator("[data-testid=board-message]")
    message.wait_for(state="visible")
    assert "Someone else moved or changed this deal" in message.inner_text()
    wait_for_count(page, stages["Negotiation"], 1)
    assert card(page, stages["Negotiation"], "Hiking boots").count() == 1
    assert card(page, qualification, "Hiking boots").count() == 0
    shot(page, "05-conflict")
    assert Opportunity.objects.unscoped().get(pk=boots.pk).stage_id == stages["Negotiation"].pk

    # 5. The forecast page draws its chart (Chart.js on <canvas id="forecast-chart">).
    page.goto("/opportunities/forecast/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('forecast-chart'))"
    )
    drawn = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('forecast-chart'));
            return {
                labels: chart.data.labels.length,
                datasets: chart.data.datasets.length,
                points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0),
                width: chart.width,
            };
        }"""
    )
    assert drawn["labels"] > 0 and drawn["datasets"] > 0 and drawn["points"] > 0, drawn
    assert drawn["width"] > 0
    shot(page, "06-forecast")
