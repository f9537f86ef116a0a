"""Headless chromium (Debian's package) driven by Playwright against the live server."""

import contextlib
import os
import shutil

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package")
    # Playwright's sync API keeps an event loop running in this thread; the test's own
    # ORM calls (set-up, assertions) are still synchronous and safe. Allowed only while
    # the browser lives, so no other test (or subprocess it starts) inherits it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, live_server, settings):
    settings.SITE_URL = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    # Let requests still in flight (lazily loaded widgets, htmx polls) finish before the
    # test database is flushed: on SQLite's shared in-memory database a server thread
    # still reading a table makes the flush fail with "database table is locked".
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=10_000)
    if os.environ.get("PULSE_SCREENSHOTS"):
        name = os.environ.get("PYTEST_CURRENT_TEST", "page").split(" ")[0]
        os.makedirs("test-artifacts", exist_ok=True)
        page.screenshot(path=f"test-artifacts/{name.replace('/', '_').replace(':', '_')}.png")
    context.close()
