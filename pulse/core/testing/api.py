"""Generic tests of a record type's REST API (DESIGN rules 4, 8, 11).

A model's tests subclass the classes it has endpoints for and declare data only::

    class TestTagAPI(APITestCases.APITestCase):
        model = Tag
        api_basename = "tag"
        create_data = {"name": "Customer", "color": "#123456"}
        update_data = {"color": "#654321"}
        invalid_create_data = {"color": "red"}

Requests carry a real personal API token (``Authorization: Token pulse_…``), so the
authentication class sets the tenancy context exactly as it does for integrators.
Routes come from ``pulse.urls.router``: ``<basename>-list`` and ``<basename>-detail``.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework.test import APIClient

from .base import RecordTestBase
from .records import assert_instance_matches, is_trashed, live_pks, snapshot
from .world import api_client

DENIED = {403, 404}


def assert_error_shape(response, status: int = 400, fields=None) -> dict:
    """The one API error shape (rule 8): ``{"errors": {field: [message, …]}}``."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"errors"}, body
    errors = body["errors"]
    assert isinstance(errors, dict) and errors, body
    for name, messages in errors.items():
        assert isinstance(messages, list) and messages, (name, messages)
        assert all(isinstance(m, str) and m for m in messages), (name, messages)
    if fields is not None:
        assert set(fields) <= set(errors), f"expected errors on {set(fields)}, got {errors}"
    return errors


def _ids(response) -> set[str]:
    data = response.json()
    rows = data["results"] if isinstance(data, dict) and "results" in data else data
    return {str(row["id"]) for row in rows}


class APITestBase(RecordTestBase):
    """``api_basename`` names the router routes; default: the model name."""

    api_basename: str | None = None

    @property
    def basename(self) -> str:
        return self.api_basename or self.opts.model_name

    def list_url(self) -> str:
        return reverse(f"{self.basename}-list")

    def detail_url(self, obj) -> str:
        return reverse(f"{self.basename}-detail", kwargs={"pk": obj.pk})


class APITestCases:
    """Namespace of generic API test classes; combine the ones a model has endpoints for."""

    class ListAPI(APITestBase):
        def test_list_returns_own_rows_only(self, world):
            mine = {str(self.create_object(world).pk) for _ in range(2)}
            theirs = str(self.create_object(world, world.other_org).pk)

            response = api_client(world.owner, world.org).get(self.list_url())

            assert response.status_code == 200, response.content[:500]
            ids = _ids(response)
            assert mine <= ids
            assert theirs not in ids

        def test_list_requires_authentication(self, world):
            response = APIClient().get(self.list_url())
            assert_error_shape(response, status=response.status_code)
            assert response.status_code in {401, 403}

        def test_list_page_size_is_capped(self, world):
            response = api_client(world.owner, world.org).get(
                self.list_url(), {"page_size": 10_000}
            )
            assert response.status_code == 200
            assert len(response.json().get("results", [])) <= 200

    class RetrieveAPI(APITestBase):
        def test_retrieve(self, world):
            obj = self.create_object(world)
            response = api_client(world.owner, world.org).get(self.detail_url(obj))
            assert response.status_code == 200
            assert response.json()["id"] == str(obj.pk)

        def test_retrieve_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            response = api_client(world.other_owner, world.other_org).get(self.detail_url(obj))
            assert_error_shape(response, status=404)

        def test_retrieve_denied_to_role_without_view(self, world):
            for user in self.denied_users(world, "view"):
                obj = self.create_object(world)
                response = api_client(user, world.org).get(self.detail_url(obj))
                assert response.status_code in DENIED, (user.full_name, response.status_code)

    class CreateAPI(APITestBase):
        """``create_data`` makes one record; ``invalid_create_data`` gets the error shape.

        ``invalid_create_error_fields`` (optional) names fields that must carry errors.
        """

        create_data: dict = {}
        invalid_create_data: dict | None = {}
        invalid_create_error_fields: set[str] | None = None

        def test_create(self, world):
            data = self.resolve_data(self.create_data, world)
            before = live_pks(self.model, world.org)

            response = api_client(world.owner, world.org).post(self.list_url(), data, format="json")

            assert response.status_code == 201, response.content[:1000]
            created = live_pks(self.model, world.org) - before
            assert created == {response.json()["id"]}
            obj = self.model.objects.unscoped().get(pk=response.json()["id"])
            assert_instance_matches(obj, data)
            assert obj.organization_id == world.org.pk

        def test_create_invalid_answers_error_shape_and_saves_nothing(self, world):
            # Every record type refuses some input; declaring it is part of using the base.
            assert self.invalid_create_data is not None, (
                f"{type(self).__name__}: declare invalid_create_data (input the API must refuse)"
            )
            data = self.resolve_data(self.invalid_create_data, world)
            before = live_pks(self.model, world.org)
            response = api_client(world.owner, world.org).post(self.list_url(), data, format="json")
            assert_error_shape(response, 400, self.invalid_create_error_fields)
            assert live_pks(self.model, world.org) == before

        def test_create_denied_to_role_without_create(self, world):
            for user in self.denied_users(world, "create"):
                data = self.resolve_data(self.create_data, world)
                before = live_pks(self.model, world.org)
                response = api_client(user, world.org).post(self.list_url(), data, format="json")
                assert_error_shape(response, status=response.status_code)
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert live_pks(self.model, world.org) == before

    class UpdateAPI(APITestBase):
        """PATCH with ``update_data`` changes the record; others' records are 404."""

        update_data: dict = {}

        def test_update(self, world):
            obj = self.create_object(world)
            data = self.resolve_data(self.update_data, world)
            response = api_client(world.owner, world.org).patch(
                self.detail_url(obj), data, format="json"
            )
            assert response.status_code == 200, response.content[:1000]
            assert_instance_matches(obj, data)

        def test_update_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            before = snapshot(obj)
            client = api_client(world.other_owner, world.other_org)
            data = self.resolve_data(self.update_data, world)
            assert_error_shape(client.patch(self.detail_url(obj), data, format="json"), 404)
            assert_error_shape(client.put(self.detail_url(obj), data, format="json"), 404)
            assert snapshot(obj) == before

        def test_update_denied_to_role_without_edit(self, world):
            for user in self.denied_users(world, "edit"):
                obj = self.create_object(world)
                before = snapshot(obj)
                data = self.resolve_data(self.update_data, world)
                response = api_client(user, world.org).patch(
                    self.detail_url(obj), data, format="json"
                )
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert snapshot(obj) == before

    class DeleteAPI(APITestBase):
        """DELETE moves the record to the trash (rule 5)."""

        def test_delete_moves_to_trash(self, world):
            obj = self.create_object(world)
            response = api_client(world.owner, world.org).delete(self.detail_url(obj))
            assert response.status_code == 204, response.content[:500]
            assert is_trashed(obj)

        def test_delete_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            before = snapshot(obj)
            response = api_client(world.other_owner, world.other_org).delete(self.detail_url(obj))
            assert_error_shape(response, 404)
            assert snapshot(obj) == before

        def test_delete_denied_to_role_without_delete(self, world):
            for user in self.denied_users(world, "delete"):
                obj = self.create_object(world)
                before = snapshot(obj)
                response = api_client(user, world.org).delete(self.detail_url(obj))
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert snapshot(obj) == before

    class APITestCase(ListAPI, RetrieveAPI, CreateAPI, UpdateAPI, DeleteAPI):
        """The five standard endpoints of a record type."""
