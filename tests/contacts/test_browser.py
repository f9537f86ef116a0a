"""Issue 3 end to end in a real browser, as one person would use it: create a contact,
meet the duplicate warning, import a shipped sample through mapping, preview and the
progress bar, merge two duplicates choosing a value, then export the filtered list."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest

from pulse.contacts.models import Contact
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.imports.conftest import FILES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-42-lantern"
SHOTS = os.environ.get("PULSE_CONTACT_SCREENSHOTS", "")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def shot(page, name: str, *, width: int | None = None) -> None:  # noqa: F811
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    if width:
        page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    if width:
        page.set_viewport_size({"width": 1280, "height": 900})


def sign_up(page) -> None:  # noqa: F811
    page.goto("/signup/")
    page.fill("input[name=full_name]", "Maria Petrova")
    page.fill("input[name=email]", "maria@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=organization_name]", "Rila Outdoor")
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(r"/$"))


def fill_contact(page, first: str, last: str, email: str) -> None:  # noqa: F811
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.locator("#id_email").fill(email)


def visible_names(page) -> list[str]:  # noqa: F811
    """The names in the contact table, in the order shown (without the avatar initials)."""
    return [
        name.strip().splitlines()[-1].strip()
        for name in page.locator(
            "#record-table tr[data-record-id] td[data-column=full_name] a"
        ).all_inner_texts()
    ]


def test_create_warn_import_merge_and_export(page, live_server):  # noqa: F811
    sign_up(page)

    # 1. A first contact, through the "New contact" form of the list.
    page.goto("/contacts/")
    page.click("[data-testid=new-record]")
    page.wait_for_url(re.compile(r"/contacts/new/"))
    fill_contact(page, "Ada", "Lovelace", "ada@analytical.example")
    shot(page, "1-new-contact")
    page.click("[data-testid=save]")
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Ada Lovelace")
    ada_url = page.url

    # 2. The same email again: the form comes back with the warning naming Ada, nothing
    # saved yet; "Save anyway" keeps the second record (the duplicate merged below).
    page.goto("/contacts/new/")
    fill_contact(page, "Augusta", "King", "ADA@analytical.example")
    page.click("[data-testid=save]")
    warning = page.locator("[data-testid=duplicate-warning]")
    warning.wait_for()
    assert "This may already exist: 1 similar record found." in warning.inner_text()
    match = warning.locator("[data-testid=duplicate-match]")
    assert match.count() == 1
    assert match.get_by_role("link").inner_text() == "Ada Lovelace"
    assert "ada@analytical.example" in match.inner_text()
    assert Contact.objects.unscoped().filter(first_name="Augusta").count() == 0
    shot(page, "2-duplicate-warning")
    shot(page, "2-duplicate-warning-phone", width=390)
    page.click("[data-testid=save-anyway]")
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Augusta King")
    augusta_url = page.url
    assert augusta_url != ada_url

    # 3. Import a shipped sample: upload, mapping, preview, progress, summary.
    page.goto("/contacts/")
    page.click("[data-testid=import-button]")
    page.wait_for_url(re.compile(r"/imports/new/"))
    assert page.locator("select[name=target]").input_value() == "contacts"
    page.set_input_files("input[name=file]", str(FILES / "contacts_with_duplicate.csv"))
    page.get_by_label("Skip rows that look like duplicates").check()
    page.click("[data-testid=upload-submit]")
    page.wait_for_url(re.compile(r"/mapping/"))
    mapped = [page.locator(f"#id_col_{i}").input_value() for i in range(5)]
    assert mapped == ["first_name", "last_name", "email", "company", "tags"]
    shot(page, "3-mapping")
    page.click("[data-testid=mapping-submit]")
    page.wait_for_url(re.compile(r"/preview/"))
    assert (
        page.locator("[data-testid=cell-error]")
        .first.inner_text()
        .strip()
        .startswith("not-an-email")
    )
    shot(page, "4-preview")
    page.click("[data-testid=start-import]")
    page.wait_for_selector("[data-testid=import-done]")
    summary = {
        key: page.locator(f"[data-testid=count-{key}]").inner_text()
        for key in ("created", "updated", "skipped", "failed")
    }
    assert summary == {"created": "3", "updated": "0", "skipped": "1", "failed": "1"}
    assert page.locator("[data-testid=failed-row]").inner_text().startswith("5")
    assert page.locator("[data-testid=skipped-row]").inner_text().startswith("2")
    shot(page, "5-summary")
    shot(page, "5-summary-phone", width=390)

    # 4. Duplicates: the scan finds Ada and Augusta (same email); merge keeping Ada's
    # record but Augusta's first name.
    page.goto("/contacts/duplicates/")
    pair = page.locator("[data-testid=duplicate-pair]")
    pair.first.wait_for(timeout=30_000)
    assert pair.count() == 1
    assert sorted(pair.get_by_role("link").all_inner_texts()[:2]) == [
        "Ada Lovelace",
        "Augusta King",
    ]
    shot(page, "6-duplicates")
    pair.locator("[data-testid=compare]").click()
    page.wait_for_url(re.compile(r"/merge/\?other="))
    # Keep Ada's record whichever one the pair listed first.
    kept = page.locator("thead th").nth(1).get_by_role("link")
    if kept.inner_text() != "Ada Lovelace":
        page.click("[data-testid=swap]")
        page.wait_for_url(re.compile(r"/merge/\?other="))
    assert kept.inner_text() == "Ada Lovelace"
    assert page.url.startswith(ada_url)
    first_name = page.locator("[data-testid=merge-row][data-field=first_name]")
    first_name.get_by_label("Augusta").check()
    shot(page, "7-merge")
    shot(page, "7-merge-phone", width=390)
    page.click("[data-testid=confirm-merge]")
    page.wait_for_url(ada_url)
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Augusta Lovelace")
    shot(page, "8-merged")
    page.goto("/trash/")
    trashed = page.locator("[data-testid=trash-row]")
    assert trashed.count() == 1
    assert "Augusta King" in trashed.inner_text()
    shot(page, "9-trash")

    # 5. Filter the list by the imported tag, then export exactly those rows as CSV.
    page.goto("/contacts/")
    page.get_by_role("button", name="Filters").click()
    tags = page.locator("#more-filters .ts-wrapper").filter(has=page.locator("#id_tags-ts-control"))
    tags.click()
    page.keyboard.type("conference")
    page.locator(".ts-dropdown .option", has_text="conference").first.click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"tags="))
    page.wait_for_function(
        "document.querySelectorAll('#record-table tbody tr[data-record-id]').length === 2"
    )
    shown = visible_names(page)
    assert sorted(shown) == ["Hedy Lamarr", "Mary Jackson"]
    shot(page, "10-filtered")
    page.click("[data-testid=export-button]")
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    assert download.value.suggested_filename.endswith(".csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    columns = [
        text.strip()
        for text in page.locator("#record-table thead th").all_inner_texts()
        if text.strip()
    ]
    assert header == columns, (header, columns)
    # The same rows, in the order the list shows them.
    assert [row[header.index("Name")] for row in body] == shown
    assert [row[header.index("Email")] for row in body] == [
        {"Hedy Lamarr": "hedy@film.example", "Mary Jackson": "mary@nasa.example"}[name]
        for name in shown
    ]
