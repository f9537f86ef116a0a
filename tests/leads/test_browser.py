"""Issue 4 end to end in a real browser, as the people involved would use it: an owner
invites a colleague and writes an assignment rule, designs a web-to-lead form; an
anonymous visitor sends it from a newsletter link; the lead arrives assigned by the
rule with its UTM tags; the owner drags it across the kanban and converts it."""

from __future__ import annotations

import os
import re

import pytest
from django.core import mail

from pulse.leads.models import Lead
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-42-lantern"
SHOTS = os.environ.get("PULSE_LEAD_SCREENSHOTS", "")


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    size = page.viewport_size
    if width:
        page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width and size:
        page.set_viewport_size(size)


def sign_up(page) -> None:  # noqa: F811
    page.goto("/signup/")
    page.fill("input[name=full_name]", "Maria Petrova")
    page.fill("input[name=email]", "maria@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=organization_name]", "Rila Outdoor")
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(r"/$"))


def invite_colleague(page, browser, live_server) -> None:  # noqa: F811
    """Ivan joins through the emailed link, in a browser of his own."""
    page.goto("/settings/members/")
    # The invite form (each member's row has a role select of its own).
    invite = page.locator("form[action$='/settings/members/invite/']")
    invite.locator("input[name=email]").fill("ivan@example.com")
    invite.locator("select[name=role]").select_option("sales_rep")
    invite.get_by_role("button", name="Send invitation").click()
    page.wait_for_selector("text=ivan@example.com")
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
    context = browser.new_context(base_url=live_server.url)
    try:
        other = context.new_page()
        other.goto(link)
        other.fill("input[name=full_name]", "Ivan Dimitrov")
        other.fill("input[name=password]", PASSWORD)
        other.click("button:has-text('Create account and join')")
        other.wait_for_url(re.compile(r"/$"))
    finally:
        context.close()


def board_counts(page) -> dict[str, int]:  # noqa: F811
    columns = page.locator("[data-testid=board-column]")
    return {
        columns.nth(i).get_attribute("data-stage"): int(
            columns.nth(i).locator("[data-testid=column-count]").inner_text().replace(",", "")
        )
        for i in range(columns.count())
    }


def design_fields(page, wanted) -> None:  # noqa: F811
    """Set the designer's rows to ``wanted`` (field, label shown, required), using the rows
    on the page first, "Add a field" for more, and the remove button for the rest."""
    rows = page.locator("#field-rows tr")
    for i, (name, label, required) in enumerate(wanted):
        if rows.count() <= i:
            page.get_by_role("button", name="Add a field").click()
        row = rows.nth(i)
        if row.locator("select[name=field_name]").input_value() != name:
            row.locator("input[name=field_label]").fill("")
            row.locator("select[name=field_name]").select_option(name)
            # Choosing a field fills its empty label with the field's name.
            assert row.locator("input[name=field_label]").input_value() == label
        row.locator("select[name=field_required]").select_option("1" if required else "0")
    while rows.count() > len(wanted):
        rows.nth(len(wanted)).get_by_role("button", name="Remove this field").click()
    assert [
        rows.nth(i).locator("select[name=field_name]").input_value() for i in range(rows.count())
    ] == [name for name, _, _ in wanted]


def drag(page, source, target) -> None:  # noqa: F811
    """A real pointer drag, in small steps (sortablejs listens to the moves)."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 10)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=20)
    page.mouse.up()


def test_web_form_to_routed_lead_to_kanban_to_conversion(page, browser, live_server):  # noqa: F811
    sign_up(page)
    invite_colleague(page, browser, live_server)

    # 1. An assignment rule on the routing page: newsletter leads go to Ivan.
    page.goto("/leads/routing/")
    availability = page.locator("[data-testid=availability-list]")
    assert "Ivan Dimitrov" in availability.inner_text()
    page.get_by_role("link", name="New rule").click()
    page.wait_for_url(re.compile(r"/leads/routing/new/"))
    page.get_by_label("Name").fill("Newsletter leads to Ivan")
    page.get_by_label("Strategy").select_option("criteria")
    page.get_by_label("Conditions").fill("utm_source equals newsletter")
    # "Users" is a searchable picker: type, choose.
    page.locator(".ts-wrapper").filter(has=page.locator("#id_users-ts-control")).click()
    page.keyboard.type("Ivan")
    page.locator(".ts-dropdown .option", has_text="Ivan Dimitrov").first.click()
    page.keyboard.press("Escape")
    chosen = page.locator("select[name=users] option:checked").all_inner_texts()
    assert [text.strip() for text in chosen] == ["Ivan Dimitrov"]
    shot(page, "01-rule-form")
    shot(page, "01-rule-form-phone", width=390)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/leads/routing/$"))
    rules = page.locator("#record-table")
    assert "Newsletter leads to Ivan" in rules.inner_text()
    assert "Ivan Dimitrov" in rules.inner_text()
    shot(page, "02-routing")
    shot(page, "02-routing-phone", width=390)

    # 2. A web form in the designer: first name, last name, email and company name, the
    # last one required too; no fixed owner, so the rules decide.
    page.goto("/leads/forms/")
    page.click("[data-testid=new-record]")
    page.wait_for_url(re.compile(r"/leads/forms/new/"))
    page.locator("#id_name").fill("Spring newsletter")
    page.locator("#id_thank_you_message").fill("Thanks! Ivan will call you this week.")
    design_fields(
        page,
        [
            ("first_name", "First name", True),
            ("last_name", "Last name", False),
            ("email", "Email", True),
            ("company_name", "Company name", True),
        ],
    )
    shot(page, "03-designer")
    shot(page, "03-designer-phone", width=390)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/leads/forms/[0-9a-f-]{36}/$"))
    public_url = page.locator("[data-testid=public-url]").input_value()
    assert re.search(r"/f/[^/]+/$", public_url), public_url
    shot(page, "04-form-page")

    # 3. An anonymous visitor (a fresh context: no session) comes from the newsletter.
    visitor_context = browser.new_context(base_url=live_server.url)
    try:
        visitor = visitor_context.new_page()
        visitor.goto(public_url + "?utm_source=newsletter&utm_campaign=spring")
        assert visitor.get_by_role("heading", level=1).inner_text() == "Spring newsletter"
        visitor.get_by_label("First name").fill("Elena")
        visitor.get_by_label("Last name").fill("Georgieva")
        visitor.get_by_label("Email").fill("elena@vitosha-trails.example")
        visitor.get_by_label("Company name").fill("Vitosha Trails")
        shot(visitor, "05-public-form")
        shot(visitor, "05-public-form-phone", width=390)
        visitor.get_by_role("button", name="Send").click()
        message = visitor.locator("[data-testid=public-message]")
        message.wait_for()
        assert message.inner_text() == "Thanks! Ivan will call you this week."
        shot(visitor, "06-thank-you")
    finally:
        visitor_context.close()

    # 4. The lead on the list, assigned by the rule; its page shows the source and UTM.
    page.goto("/leads/")
    row = page.locator("#record-table tr[data-record-id]", has_text="Elena Georgieva")
    assert row.count() == 1
    owner = row.locator("td[data-column=assigned_to]")
    assert owner.locator(".record-avatar").get_attribute("title") == "Ivan Dimitrov"
    assert owner.locator(".record-avatar").inner_text() == "ID"
    assert "Web form" in row.locator("td[data-column=source]").inner_text()
    shot(page, "07-lead-list")
    shot(page, "07-lead-list-phone", width=390)
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/leads/[0-9a-f-]{36}/$"))
    lead_url = page.url
    assert (
        page.locator("[data-testid=lead-title]")
        .inner_text()
        .startswith("Elena Georgieva via Spring newsletter")
    )
    assert page.locator("[data-testid=lead-owner]").inner_text() == "Ivan Dimitrov"
    source = page.locator("[data-testid=lead-source]").inner_text()
    assert "Web form" in source
    assert "utm_source=newsletter" in source
    assert "utm_campaign=spring" in source
    assert page.locator("[data-testid=lead-stage]").inner_text() == "New"
    shot(page, "08-lead-page")

    # 5. The kanban: drag the card from New to Contacted.
    page.goto("/leads/board/")
    new_column = page.locator("[data-testid=board-column][data-stage=new]")
    contacted = page.locator("[data-testid=board-column][data-stage=contacted]")
    card = new_column.locator("[data-testid=lead-card]", has_text="Elena Georgieva")
    assert card.count() == 1
    before = board_counts(page)
    assert (before["new"], before["contacted"]) == (1, 0)
    shot(page, "09-board-before")
    with page.expect_response(re.compile(r"/leads/[0-9a-f-]{36}/move/$")) as moved:
        drag(page, card, contacted.locator("[data-stage-cards]"))
    assert moved.value.ok, moved.value.text()
    # The board reloads itself with the new counts.
    page.wait_for_function(
        "document.querySelector('[data-stage=contacted] [data-testid=column-count]')"
        ".textContent.trim() === '1'"
    )
    after = board_counts(page)
    assert (after["new"], after["contacted"]) == (0, 1)
    shot(page, "10-board-after")
    page.reload()
    assert contacted.locator("[data-testid=lead-card]", has_text="Elena Georgieva").count() == 1
    assert new_column.locator("[data-testid=lead-card]").count() == 0
    shot(page, "10-board-after-phone", width=390)

    # The lead's Timeline shows the move.
    page.goto(lead_url)
    assert page.locator("[data-testid=lead-stage]").inner_text() == "Contacted"
    timeline = page.locator("[data-testid=lead-timeline]")
    moves = timeline.locator("[data-testid=timeline-stage-change]").all_inner_texts()
    assert any("Maria Petrova" in m and "moved it from New to Contacted" in m for m in moves), moves

    # 6. Convert: the proposed new contact and new company, accepted as they are.
    page.locator("[data-testid=lead-conversion]").get_by_role("link", name="Convert").click()
    page.wait_for_url(re.compile(r"/leads/[0-9a-f-]{36}/convert/$"))
    assert page.locator("#contact-new").is_checked()
    assert page.locator("#company-new").is_checked()
    assert page.locator("#id_email").input_value() == "elena@vitosha-trails.example"
    assert page.locator("#id_company_name").input_value() == "Vitosha Trails"
    shot(page, "11-convert")
    shot(page, "11-convert-phone", width=390)
    page.locator("[data-testid=convert-form]").get_by_role("button", name="Convert").click()
    page.wait_for_url(lead_url)
    conversion = page.locator("[data-testid=lead-conversion]")
    assert "Converted on" in conversion.inner_text()
    contact_link = conversion.get_by_role("link", name="Elena Georgieva")
    company_link = conversion.get_by_role("link", name="Vitosha Trails")
    assert re.search(r"/contacts/[0-9a-f-]{36}/$", contact_link.get_attribute("href"))
    assert re.search(r"/companies/[0-9a-f-]{36}/$", company_link.get_attribute("href"))
    assert page.locator("[data-testid=lead-stage]").inner_text() == "Converted"
    shot(page, "12-converted")
    lead = Lead.objects.unscoped().get(email="elena@vitosha-trails.example")
    assert lead.converted_contact.email == "elena@vitosha-trails.example"
    assert lead.converted_company.name == "Vitosha Trails"

    # The contact page exists, with the lead's email and its company.
    contact_link.click()
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Elena Georgieva")
    assert "elena@vitosha-trails.example" in page.content()
    assert "Vitosha Trails" in page.content()
    shot(page, "13-contact")
