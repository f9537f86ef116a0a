"""Generic FilterSet tests: every declared filter returns exactly the expected rows.

    class TestTagFilterSet(FilterSetTestCase):
        model = Tag
        filterset = TagFilterSet
        api_basename = "tag"          # optional: the API list must agree (rule 4)

        def filter_objects(self, world):   # runs inside organization A
            return {"red": tag(name="Red"), "blue": tag(name="Blue")}

        filter_cases = [
            ({"name": "Red"}, {"red"}),
            ({"q": "e"}, {"red", "blue"}),
        ]

Every filter the FilterSet declares must appear in at least one case (or in
``unchecked_filters`` with a reason), so a new filter cannot ship untested.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from .world import World, api_client


class FilterSetTestCase:
    model = None
    filterset = None
    api_basename: str | None = None
    filter_cases: list[tuple[dict, set[str]]] = []
    # {filter name: reason it has no case}
    unchecked_filters: dict[str, str] = {}

    @pytest.fixture
    def world(self, db) -> World:
        return World.build()

    @pytest.fixture
    def named_rows(self, world) -> dict[str, str]:
        """name → pk of the rows ``filter_objects`` made in organization A."""
        with world.inside():
            rows = self.filter_objects(world)
        # A row of organization B that matches everything must never come back.
        from .factories import get_factory, has_factory

        if has_factory(self.model):
            with world.inside(world.other_org):
                get_factory(self.model)(world.other_org, world.other_owner)
        return {name: str(obj.pk) for name, obj in rows.items()}

    def filter_objects(self, world) -> dict:
        raise NotImplementedError("declare filter_objects(self, world) -> {name: instance}")

    def _names(self, named_rows, pks) -> set[str]:
        by_pk = {pk: name for name, pk in named_rows.items()}
        return {by_pk.get(str(pk), f"<unnamed {pk}>") for pk in pks}

    def _filtered(self, world, params) -> set[str]:
        request = RequestFactory().get("/", params)
        request.user = world.owner
        request.organization = world.org
        with world.inside():
            queryset = self.model.objects.restrict(world.owner, "view")
            fs = self.filterset(params, queryset=queryset, request=request)
            assert fs.is_valid(), f"{params}: {fs.errors.as_json()}"
            return {str(pk) for pk in fs.qs.values_list("pk", flat=True)}

    def test_filter_cases(self, world, named_rows):
        assert self.filter_cases, "declare filter_cases = [(params, expected names), …]"
        failures = []
        for params, expected in self.filter_cases:
            got = self._names(named_rows, self._filtered(world, params))
            if got != set(expected):
                failures.append(f"{params}: expected {sorted(expected)}, got {sorted(got)}")
        assert not failures, "\n".join(failures)

    def test_api_list_agrees_with_filterset(self, world, named_rows):
        # UI and API are twins (rule 4): a FilterSet serves both, so the API is declared.
        assert self.api_basename, f"{type(self).__name__}: declare api_basename"
        client = api_client(world.owner, world.org)
        failures = []
        for params, expected in self.filter_cases:
            response = client.get(reverse(f"{self.api_basename}-list"), params)
            assert response.status_code == 200, (params, response.content[:500])
            rows = response.json()["results"]
            got = self._names(named_rows, [row["id"] for row in rows])
            if got != set(expected):
                failures.append(f"API {params}: expected {sorted(expected)}, got {sorted(got)}")
        assert not failures, "\n".join(failures)

    def test_every_filter_has_a_case(self):
        declared = set(self.filterset.base_filters)
        covered = {name for params, _ in self.filter_cases for name in params}
        # Range/lookup filters share a prefix (created_at_after → created_at).
        missing = {
            name
            for name in declared - covered - set(self.unchecked_filters)
            if not any(c.startswith(f"{name}_") for c in covered)
        }
        assert not missing, (
            f"{self.filterset.__name__} filters without a case in filter_cases: {sorted(missing)}"
        )
