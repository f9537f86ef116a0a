"""The import flow in a real browser: upload a shipped sample, map, preview, watch the
progress bar reach the summary, export the filtered list, undo from the history."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.imports.conftest import FILES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-42-lantern"
SHOTS = os.environ.get("PULSE_IMPORT_SCREENSHOTS", "")


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    if width:
        page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_import_a_hubspot_export_then_export_and_undo(page, live_server):  # noqa: F811
    page.goto("/signup/")
    page.fill("input[name=full_name]", "Maria Petrova")
    page.fill("input[name=email]", "maria@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=organization_name]", "Rila Outdoor")
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(r"/$"))

    # From the contact list's Import button to the upload page.
    page.goto("/contacts/")
    page.click("[data-testid=import-button]")
    page.wait_for_url(re.compile(r"/imports/new/"))
    shot(page, "1-upload")
    shot(page, "1-upload-phone", width=390)
    page.set_input_files("input[name=file]", str(FILES / "hubspot_contacts.csv"))
    page.click("[data-testid=upload-submit]")

    # Mapping: guessed from HubSpot's column names.
    page.wait_for_url(re.compile(r"/mapping/"))
    assert page.locator("#id_col_3").input_value() == "email"
    assert page.locator("#id_col_7").input_value() == "company"
    shot(page, "2-mapping")
    shot(page, "2-mapping-phone", width=390)
    page.click("[data-testid=mapping-submit]")

    # Preview: the broken email is flagged on its cell.
    page.wait_for_url(re.compile(r"/preview/"))
    assert (
        page.locator("[data-testid=cell-error]")
        .first.inner_text()
        .strip()
        .startswith("not-an-email")
    )
    shot(page, "3-preview")
    page.click("[data-testid=start-import]")

    # Progress, then the summary.
    page.wait_for_selector("[data-testid=import-done]")
    assert page.locator("[data-testid=count-created]").inner_text() == "3"
    assert page.locator("[data-testid=count-failed]").inner_text() == "2"
    shot(page, "4-summary")
    shot(page, "4-summary-phone", width=390)

    # Export the filtered list as CSV.
    page.goto("/contacts/?lifecycle_stage=customer")
    shot(page, "5-list-with-buttons")
    page.click("[data-testid=export-button]")
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "ada@analytical.example" in content
    assert "grace@navy.example" not in content

    # Undo from the history.
    page.goto("/imports/")
    shot(page, "6-history")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=undo-import]")
    page.wait_for_selector("[data-testid=import-undone]")
    shot(page, "7-undone")
