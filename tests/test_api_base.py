"""The API base every endpoint shares: one error shape, bounded pages, per-credential throttling."""

import uuid

import pytest
from rest_framework.test import APIClient

from pulse.accounts.services import api_token_create
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Tag


def token_client(user, org) -> APIClient:
    with tenant_context(org, actor=user):
        _token, key = api_token_create(user=user, org=org, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_errors_have_one_shape(org, owner):
    client = token_client(owner, org)
    missing = client.get(f"/api/crm/tags/{uuid.uuid4()}/")
    assert missing.status_code == 404
    assert missing.json() == {"errors": {"__all__": ["Not found."]}}
    invalid = client.post("/api/crm/tags/", {"name": "", "color": "red"}, format="json")
    assert invalid.status_code == 400
    assert set(invalid.json()["errors"]) == {"name", "color"}
    anonymous = APIClient().get("/api/crm/tags/")
    assert anonymous.status_code == 401
    assert list(anonymous.json()) == ["errors"]


def test_page_size_is_capped_at_200(org, owner):
    with tenant_context(org, actor=owner):
        Tag.objects.bulk_create(
            [Tag(organization=org, name=f"tag {i:03}", created_by=owner) for i in range(205)]
        )
    client = token_client(owner, org)
    body = client.get("/api/crm/tags/", {"page_size": 1000}).json()
    assert body["count"] == 205
    assert len(body["results"]) == 200
    second = client.get("/api/crm/tags/", {"page_size": 1000, "page": 2}).json()
    assert len(second["results"]) == 5


@pytest.fixture
def credential_rate_3_per_minute():
    """DRF caches throttle rates on the class: set them, and put them back after."""
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**original, "credential": "3/min"}
    yield
    SimpleRateThrottle.THROTTLE_RATES = original


def test_throttling_is_per_credential(org, owner, rep, credential_rate_3_per_minute):
    first, second = token_client(owner, org), token_client(rep, org)
    assert [first.get("/api/crm/tags/").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/crm/tags/")
    assert limited.status_code == 429
    assert limited.json()["errors"]["__all__"][0].startswith("Request was throttled")
    assert second.get("/api/crm/tags/").status_code == 200  # another token, its own budget


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_are_public(client, path):
    assert client.get(path).status_code == 200
