"""pytest plugin: the suite fails if a named URL pattern is never requested (rule 11).

Every request a test makes -- Django's test client, DRF's APIClient, the live server
the browser tests drive -- sends ``request_started``; the plugin resolves its path and
records the view name. When the *whole* suite ran (no node ids, ``-k``, ``-m``,
deselection, or early stop), it compares the record with every named pattern in the
URLconf and fails the run naming the ones never requested.

Wire it in ``tests/conftest.py``::

    pytest_plugins = ["pulse.core.testing.urlcoverage"]

``PULSE_URL_COVERAGE=off`` disables the check; ``=force`` runs it on a partial run too.
Requests made by tests marked ``@pytest.mark.no_url_coverage`` (sweeps that request every
route, like the tenant-isolation walk) do not count: a URL is covered by a test that
means to exercise it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# URL names no test needs to request, each with its reason. Keep this short.
EXEMPT: dict[str, str] = {}
# Namespaces that are not ours to test page by page.
EXEMPT_NAMESPACES: dict[str, str] = {
    "admin": "Django's admin site; PulseCRM registers models but writes no admin views",
}

_requested: set[str] = set()
_deselected = False
_paused = False
_report: list[str] = []
MARKER = "no_url_coverage"


def _record(sender, environ=None, scope=None, **kwargs) -> None:
    from django.urls import Resolver404, resolve

    if _paused:
        return
    path = (environ or {}).get("PATH_INFO") or (scope or {}).get("path")
    if not path:
        return
    try:
        match = resolve(path)
    except Resolver404:
        return
    if match.view_name:
        _requested.add(match.view_name)


def requested_view_names() -> set[str]:
    """The view names requested so far in this session."""
    return set(_requested)


def named_patterns() -> set[str]:
    """Every named URL pattern of the URLconf, with its namespace (``extras:tag_list``)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    names: set[str] = set()

    def walk(patterns, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace
                walk(pattern.url_patterns, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns, "")
    return names


def unrequested(requested: set[str] | None = None) -> list[str]:
    """Named patterns no request reached, minus the exemptions."""
    requested = requested_view_names() if requested is None else requested
    return sorted(
        name
        for name in named_patterns() - requested
        if name not in EXEMPT and name.split(":", 1)[0] not in EXEMPT_NAMESPACES
    )


def pytest_configure(config) -> None:
    from django.core.signals import request_started

    config.addinivalue_line(
        "markers",
        f"{MARKER}: requests made by this test do not count as exercising a URL "
        "(sweeps such as the tenant-isolation walk, which requests every route)",
    )
    request_started.connect(_record, dispatch_uid="pulse-url-coverage")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _paused
    _paused = item.get_closest_marker(MARKER) is not None
    try:
        return (yield)
    finally:
        _paused = False


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist controller: a worker is done; add the view names it saw."""
    _requested.update(getattr(node, "workeroutput", {}).get("pulse_url_names", ()))


def pytest_deselected(items) -> None:
    global _deselected
    if items:
        _deselected = True


def _whole_suite_ran(session) -> bool:
    config = session.config
    if config.option.collectonly:
        return False
    if config.option.keyword or config.option.markexpr or _deselected:
        return False
    if getattr(config.option, "ignore", None) or getattr(config.option, "ignore_glob", None):
        return False
    if session.shouldstop or session.shouldfail:
        return False
    root = Path(config.rootpath)
    testpaths = [root / p for p in (config.getini("testpaths") or ["."])]
    for arg in config.args:
        if "::" in arg:
            return False
        path = Path(arg)
        path = (path if path.is_absolute() else Path(config.invocation_params.dir) / path).resolve()
        if path != root and path not in testpaths:
            return False
    return True


def pytest_sessionfinish(session, exitstatus) -> None:
    mode = os.environ.get("PULSE_URL_COVERAGE", "").lower()
    if mode == "off" or exitstatus == pytest.ExitCode.INTERRUPTED:
        return
    if hasattr(session.config, "workeroutput"):
        # A pytest-xdist worker saw part of the requests: it hands them to the controller
        # (``pytest_testnodedown``), which checks the whole.
        session.config.workeroutput["pulse_url_names"] = sorted(_requested)
        return
    if mode != "force" and not _whole_suite_ran(session):
        return
    missing = unrequested()
    if missing:
        _report.extend(missing)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if not _report:
        return
    terminalreporter.section("URL coverage", red=True)
    terminalreporter.write_line(
        f"{len(_report)} named URL pattern(s) were never requested by any test "
        "(DESIGN rule 11). Request each from a test, or add it to EXEMPT in "
        "pulse/core/testing/urlcoverage.py with a reason:"
    )
    for name in _report:
        terminalreporter.write_line(f"  {name}", red=True)
