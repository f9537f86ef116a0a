"""What operators rely on: health, request ids and logs, deploy checks, limits, CORS, schema."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from pulse.core.logging import JsonFormatter
from pulse.core.testing import World, api_client, web_client

BASE_DIR = Path(django_settings.BASE_DIR)
# Db 15, or 14, 13… for parallel test processes (gw0, gw1…), which must not share it.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_REDIS_URL = os.environ.get("PULSE_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _WORKER}")
CLOSED_PORT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def manage(*args: str, env: dict | None = None, tmp_path: Path) -> subprocess.CompletedProcess:
    """``manage.py`` in a subprocess, with its own var/ directory."""
    full_env = {**os.environ, "PULSE_VAR_DIR": str(tmp_path), **(env or {})}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def world(db) -> World:
    return World.build()


# --- /health/ ------------------------------------------------------------------------------


def test_health_without_redis_reports_database_ok(client, db, settings):
    settings.REDIS_URL = ""
    response = client.get(reverse("core:health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}


def test_health_with_running_redis_reports_ok(client, db, settings):
    settings.REDIS_URL = TEST_REDIS_URL
    response = client.get(reverse("core:health"))
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_with_unreachable_redis_is_503(client, db, settings):
    settings.REDIS_URL = CLOSED_PORT_REDIS_URL
    response = client.get(reverse("core:health"))
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("error", "ok")
    assert body["redis"].startswith("error: ")


# --- request ids and the request log ----------------------------------------------------------


@pytest.fixture
def log_lines():
    """What the configured JSON console handler writes, as parsed lines."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert handlers, "settings.LOGGING puts no JSON handler on the root logger"
    stream = io.StringIO()
    previous = handlers[0].setStream(stream)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    handlers[0].setStream(previous)


def test_every_response_carries_a_request_id(client, world):
    urls = [
        reverse("core:health"),  # 200
        reverse("reports:dashboard"),  # 302 to the login page
        "/no-such-page/",  # 404
        reverse("api-root"),  # 401/403 without credentials
    ]
    seen = set()
    for url in urls:
        response = client.get(url)
        request_id = response.headers.get("X-Request-ID", "")
        assert len(request_id) == 32 and request_id.isalnum(), (url, request_id)
        seen.add(request_id)
    assert len(seen) == len(urls)  # one per request


def test_incoming_request_id_is_kept_and_unsafe_one_replaced(client, db):
    kept = client.get(reverse("core:health"), HTTP_X_REQUEST_ID="lb1234abcd")
    assert kept["X-Request-ID"] == "lb1234abcd"
    replaced = client.get(reverse("core:health"), HTTP_X_REQUEST_ID="bad id\nInjected: 1")
    assert replaced["X-Request-ID"] != "bad id\nInjected: 1"
    assert replaced["X-Request-ID"].isalnum()


def test_request_log_line_is_json_with_request_id_path_and_status(client, db, log_lines):
    response = client.get(reverse("core:health"))

    lines = [line for line in log_lines() if line.get("logger") == "pulse.request"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["request_id"] == response["X-Request-ID"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health/", 200)
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], int | float)


# --- deploy checks ----------------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "crm.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
    }
    full_env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**full_env, "PULSE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


# --- oversized bodies ---------------------------------------------------------------------------


def test_oversized_api_body_is_400_not_500(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = json.dumps({"name": "x" * 4096, "color": "#123456"})
    response = api_client(world.owner, world.org).post(
        reverse("tag-list"), body, content_type="application/json"
    )
    assert response.status_code == 400
    with world.inside():
        from pulse.extras.models import Tag

        assert not Tag.objects.exists()


def test_oversized_form_post_is_400_not_500(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = web_client(world.owner, world.org).post(
        reverse("extras:tag_create"), {"name": "x" * 4096, "color": "#123456"}
    )
    assert response.status_code == 400
    with world.inside():
        from pulse.extras.models import Tag

        assert not Tag.objects.exists()


def test_oversized_anonymous_form_post_is_400_not_500(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = client.post(reverse("accounts:login"), {"username": "a" * 4096, "password": "x"})
    assert response.status_code == 400


# --- CORS ------------------------------------------------------------------------------------


def _preflight(client, origin: str):
    return client.options(
        reverse("tag-list"),
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


def test_cors_is_off_by_default(client, world, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []
    token_client = api_client(world.owner, world.org)
    response = token_client.get(reverse("tag-list"), HTTP_ORIGIN="https://app.example.com")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in _preflight(client, "https://app.example.com")


def test_cors_allows_a_configured_origin_only(client, world, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    token_client = api_client(world.owner, world.org)

    allowed = token_client.get(reverse("tag-list"), HTTP_ORIGIN="https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    preflight = _preflight(client, "https://app.example.com")
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in preflight["Access-Control-Allow-Headers"].lower()

    other = token_client.get(reverse("tag-list"), HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other.headers
    # Web pages are never cross-origin readable, configured or not.
    page = client.get(reverse("accounts:login"), HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in page.headers


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    result = manage(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    assert out.read_text().startswith("openapi: 3")


def test_schema_and_docs_pages_render(client, db):
    schema = client.get(reverse("api-schema"))
    assert schema.status_code == 200
    assert b"/api/crm/" in schema.content
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_api_root_lists_the_resources(world):
    response = api_client(world.owner, world.org).get(reverse("api-root"))
    assert response.status_code == 200
    assert {"tags", "contacts", "companies"} <= set(response.json())
