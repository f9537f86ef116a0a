"""Generic tests of a record type's web pages (DESIGN rule 11).

A model's tests subclass the classes it has pages for and declare data only::

    class TestTagViews(ViewTestCases.PrimaryObjectViewTestCase):
        model = Tag
        form_data = {"name": "Customer", "color": "#123456"}
        invalid_form_data = {"name": "", "color": "red"}

Kinds and their default URL names (override with ``url_names``): ``list``
(``extras:tag_list``), ``detail``, ``create``, ``edit`` and ``delete`` (``…/<pk>/``).
Every request goes through the real middleware, ``restrict`` and services.
"""

from __future__ import annotations

from django.utils.html import escape

from .base import ViewTestBase
from .records import assert_instance_matches, is_trashed, live_pks, snapshot
from .world import web_client

DENIED = {403, 404}


def _assert_redirects_to_login(response) -> None:
    from django.conf import settings
    from django.shortcuts import resolve_url

    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))


class ViewTestCases:
    """Namespace of generic view test classes; combine the ones a model has pages for."""

    class ListView(ViewTestBase):
        """The list page shows organization A's rows and nothing of organization B."""

        list_count = 3

        def test_list_shows_own_rows_only(self, world):
            mine = [self.create_object(world) for _ in range(self.list_count)]
            theirs = self.create_object(world, world.other_org)

            response = web_client(world.owner, world.org).get(self.url("list"))

            assert response.status_code == 200
            content = response.content.decode()
            for obj in mine:
                assert escape(str(obj)) in content, f"{obj!r} is missing from the list page"
            assert str(theirs.pk) not in content, "another organization's row is listed"

        def test_list_requires_login(self, world, client):
            _assert_redirects_to_login(client.get(self.url("list")))

        def test_list_denied_to_role_without_view(self, world):
            for user in self.denied_users(world, "view"):
                obj = self.create_object(world)
                response = web_client(user, world.org).get(self.url("list"))
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert str(obj.pk) not in response.content.decode()

    class DetailView(ViewTestBase):
        """The detail page renders; another organization's record is a 404."""

        def test_detail(self, world):
            obj = self.create_object(world)
            response = web_client(world.owner, world.org).get(self.url("detail", obj))
            assert response.status_code == 200
            assert escape(str(obj)) in response.content.decode()

        def test_detail_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            response = web_client(world.other_owner, world.other_org).get(self.url("detail", obj))
            assert response.status_code == 404

        def test_detail_requires_login(self, world, client):
            _assert_redirects_to_login(client.get(self.url("detail", self.create_object(world))))

        def test_detail_denied_to_role_without_view(self, world):
            for user in self.denied_users(world, "view"):
                obj = self.create_object(world)
                response = web_client(user, world.org).get(self.url("detail", obj))
                assert response.status_code in DENIED, (user.full_name, response.status_code)

    class CreateView(ViewTestBase):
        """POSTing ``form_data`` creates exactly one record with those values.

        ``form_data``          valid input (dict, or a method ``form_data(self, world)``)
        ``invalid_form_data``  input the form must refuse with 400 and field errors (default:
                               an empty form); ``None`` declares that no input is refusable
        """

        form_data: dict = {}
        invalid_form_data: dict | None = {}

        def test_create_form_renders(self, world):
            response = web_client(world.owner, world.org).get(self.url("create"))
            assert response.status_code == 200

        def test_create(self, world):
            data = self.resolve_data(self.form_data, world)
            before = live_pks(self.model, world.org)

            response = web_client(world.owner, world.org).post(self.url("create"), data)

            assert response.status_code == 302, _form_errors(response)
            created = live_pks(self.model, world.org) - before
            assert len(created) == 1, f"expected one new {self.opts.label}, got {len(created)}"
            obj = self.model.objects.unscoped().get(pk=created.pop())
            assert_instance_matches(obj, data)
            assert obj.created_by_id == world.owner.pk

        def test_create_invalid_shows_errors_and_saves_nothing(self, world):
            # Every record type refuses some input; declaring it is part of using the base.
            assert self.invalid_form_data is not None, (
                f"{type(self).__name__}: declare invalid_form_data (input the form must refuse)"
            )
            data = self.resolve_data(self.invalid_form_data, world)
            before = live_pks(self.model, world.org)
            response = web_client(world.owner, world.org).post(self.url("create"), data)
            assert response.status_code == 400
            assert response.context["form"].errors
            assert live_pks(self.model, world.org) == before

        def test_create_denied_to_role_without_create(self, world):
            for user in self.denied_users(world, "create"):
                data = self.resolve_data(self.form_data, world)
                before = live_pks(self.model, world.org)
                response = web_client(user, world.org).post(self.url("create"), data)
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert live_pks(self.model, world.org) == before

    class EditView(ViewTestBase):
        """POSTing ``edit_data`` (default ``form_data``) to the edit page changes the record."""

        form_data: dict = {}
        edit_data: dict | None = None

        def _edit_data(self, world) -> dict:
            return self.resolve_data(
                self.edit_data if self.edit_data is not None else self.form_data, world
            )

        def test_edit_form_renders(self, world):
            obj = self.create_object(world)
            response = web_client(world.owner, world.org).get(self.url("edit", obj))
            assert response.status_code == 200

        def test_edit(self, world):
            obj = self.create_object(world)
            data = self._edit_data(world)
            response = web_client(world.owner, world.org).post(self.url("edit", obj), data)
            assert response.status_code == 302, _form_errors(response)
            assert_instance_matches(obj, data)

        def test_edit_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            before = snapshot(obj)
            client = web_client(world.other_owner, world.other_org)
            assert client.get(self.url("edit", obj)).status_code == 404
            assert client.post(self.url("edit", obj), self._edit_data(world)).status_code == 404
            assert snapshot(obj) == before

        def test_edit_denied_to_role_without_edit(self, world):
            for user in self.denied_users(world, "edit"):
                obj = self.create_object(world)
                before = snapshot(obj)
                response = web_client(user, world.org).post(
                    self.url("edit", obj), self._edit_data(world)
                )
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert snapshot(obj) == before

    class DeleteView(ViewTestBase):
        """POST to the delete URL moves the record to the trash (rule 5)."""

        def test_delete_moves_to_trash(self, world):
            obj = self.create_object(world)
            response = web_client(world.owner, world.org).post(self.url("delete", obj))
            assert response.status_code == 302
            assert is_trashed(obj)
            assert str(obj.pk) not in live_pks(self.model, world.org)

        def test_delete_of_other_organization_is_404(self, world):
            obj = self.create_object(world)
            before = snapshot(obj)
            response = web_client(world.other_owner, world.other_org).post(self.url("delete", obj))
            assert response.status_code == 404
            assert snapshot(obj) == before

        def test_delete_denied_to_role_without_delete(self, world):
            for user in self.denied_users(world, "delete"):
                obj = self.create_object(world)
                before = snapshot(obj)
                response = web_client(user, world.org).post(self.url("delete", obj))
                assert response.status_code in DENIED, (user.full_name, response.status_code)
                assert snapshot(obj) == before

    class PrimaryObjectViewTestCase(ListView, DetailView, CreateView, EditView, DeleteView):
        """All five pages: list, detail, create, edit, delete."""

    class OrganizationObjectViewTestCase(ListView, CreateView, EditView, DeleteView):
        """Settings-like records with no detail page (tags, custom fields, teams)."""


def _form_errors(response) -> str:
    context = getattr(response, "context", None)
    form = context.get("form") if context else None
    errors = form.errors.as_json() if form is not None else ""
    return f"status {response.status_code}; form errors: {errors}"
