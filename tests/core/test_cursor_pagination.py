"""Cursor (keyset) pagination of API lists: every row once, in order, at constant cost."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.core.testing import api_client, assert_error_shape
from tests.contacts.factories import make_contact


@pytest.fixture
def world(db):
    from pulse.core.testing import World

    return World.build()


def _walk(client, **params) -> tuple[list[dict], list[dict]]:
    """Every page from ``cursor=`` on: (rows, pages)."""
    url, rows, pages = reverse("contact-list"), [], []
    response = client.get(url, {**params, "cursor": ""})
    while True:
        assert response.status_code == 200, response.content[:300]
        page = response.json()
        pages.append(page)
        rows += page["results"]
        if not page["next"]:
            return rows, pages
        response = client.get(page["next"])


def test_cursor_pages_walk_every_row_once_in_the_lists_order(world):
    names = ["Cooper", "Adams", "Brown", "Adams", "Diaz", "Adams", "Evans"]
    with world.inside():
        for i, last in enumerate(names):
            make_contact(world.org, world.owner, first_name=f"P{i}", last_name=last)
    client = api_client(world.owner, world.org)

    rows, pages = _walk(client, ordering="name", page_size=2)

    # Ties on the last name (three Adams) are broken by first name, then the primary key.
    assert [(r["last_name"], r["first_name"]) for r in rows] == sorted(
        (last, f"P{i}") for i, last in enumerate(names)
    )
    assert len({r["id"] for r in rows}) == 7
    assert [len(p["results"]) for p in pages] == [2, 2, 2, 1]
    assert all(p["count"] is None for p in pages)
    assert "page=" not in (pages[0]["next"] or "")


def test_cursor_default_order_is_newest_first_and_filters_still_apply(world):
    with world.inside():
        made = [make_contact(world.org, world.owner, first_name="Ann") for _ in range(5)]
        make_contact(world.org, world.owner, first_name="Zed", email="zed@example.com")
    client = api_client(world.owner, world.org)

    rows, _pages = _walk(client, page_size=2, search="Ann")

    assert [r["id"] for r in rows] == [str(c.pk) for c in reversed(made)]


def test_deep_cursor_page_costs_the_queries_of_the_first(world, django_assert_max_num_queries):
    with world.inside():
        for i in range(6):
            make_contact(world.org, world.owner, last_name=f"L{i}")
    client = api_client(world.owner, world.org)
    first = client.get(reverse("contact-list"), {"cursor": "", "page_size": 2}).json()
    second = client.get(first["next"]).json()
    third_url = second["next"]

    with django_assert_max_num_queries(12) as captured:
        client.get(reverse("contact-list"), {"cursor": "", "page_size": 2})
    first_cost = len(captured)
    with django_assert_max_num_queries(first_cost):
        response = client.get(third_url)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert response.json()["next"] is None


def test_bad_cursor_and_uncursorable_ordering_are_400(world):
    client = api_client(world.owner, world.org)

    response = client.get(reverse("contact-list"), {"cursor": "not-a-cursor"})
    assert "cursor" in assert_error_shape(response)

    response = client.get(reverse("contact-list"), {"cursor": "", "ordering": "company"})
    assert "cannot be paged by cursor" in assert_error_shape(response)["cursor"][0]
