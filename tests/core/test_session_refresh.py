"""Idle sessions: renewed as people work, but written back at most every five minutes."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from pulse.core import middleware
from pulse.core.testing import web_client

pytestmark = pytest.mark.django_db


def _expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_a_page_view_renews_an_idle_session_once_per_interval(org, owner, monkeypatch):
    client = web_client(owner, org)
    url = reverse("contacts:contact_list")
    client.get(url)
    first = _expiry(client)

    client.get(url)
    assert _expiry(client) == first  # within five minutes: not written again

    later = middleware.time.time() + middleware.SESSION_REFRESH_SECONDS + 1
    monkeypatch.setattr(middleware.time, "time", lambda: later)
    client.get(url)
    assert _expiry(client) > first  # the idle expiry moved on


def test_a_page_view_within_the_interval_does_not_write_the_session(org, owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = web_client(owner, org)
    url = reverse("contacts:contact_list")
    client.get(url)

    with CaptureQueriesContext(connection) as queries:
        client.get(url)

    assert not [
        q for q in queries if q["sql"].startswith("UPDATE") and "django_session" in q["sql"]
    ]
