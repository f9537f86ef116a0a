"""The URL-coverage plugin: what it records and what it reports."""

from django.core.signals import request_started
from django.urls import reverse

from pulse.core.testing import urlcoverage


def test_named_patterns_include_pages_api_routes_and_admin():
    names = urlcoverage.named_patterns()
    assert {"core:health", "extras:tag_list", "tag-list", "tag-detail", "api-root"} <= names
    assert "admin:index" in names  # listed, but exempt as a namespace


def test_a_request_records_its_view_name(client, db):
    # What pytest_configure does when the plugin is loaded (same dispatch_uid: no double).
    request_started.connect(urlcoverage._record, dispatch_uid="pulse-url-coverage")
    client.get(reverse("core:health"))
    client.get("/no-such-page/")  # unresolvable paths are ignored
    assert "core:health" in urlcoverage.requested_view_names()


def test_unrequested_lists_what_no_request_reached_minus_exemptions():
    everything = urlcoverage.named_patterns()
    assert urlcoverage.unrequested(everything) == []
    missing = urlcoverage.unrequested(everything - {"core:health", "admin:index"})
    assert missing == ["core:health"]


def test_exemptions_carry_reasons():
    for name, reason in {**urlcoverage.EXEMPT, **urlcoverage.EXEMPT_NAMESPACES}.items():
        assert reason.strip(), f"{name} is exempt without a reason"
