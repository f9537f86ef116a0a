"""Segment pages through the web client: generic cases plus what is special."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import RecordVisibility, Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import ViewTestCases, web_client
from pulse.segments.models import Segment, SegmentMembership
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.segments.factories import make_segment, make_static_list

pytestmark = pytest.mark.django_db


class TestSegmentViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = Segment
    form_data = {"name": "Customers in Bulgaria", "kind": "dynamic", "f-country": "BG"}
    edit_data = {"name": "Bulgarian customers", "f-lifecycle_stage": "customer"}
    invalid_form_data = {"name": "", "kind": "dynamic", "f-created_after": "not a date"}


# --- create and edit -------------------------------------------------------------------------


def test_create_from_the_contact_list_querystring_prefills_the_filters(owner_client):
    url = reverse("segments:segment_create")

    response = owner_client.get(url, {"country": "BG", "page": "2", "ordering": "name"})

    assert response.status_code == 200
    form = response.context["filter_form"]
    assert form["country"].value() == "BG"
    assert 'name="f-country"' in response.content.decode()
    assert "f-page" not in response.content.decode()


def test_create_saves_the_filters_and_a_static_list_none(org, owner, owner_client):
    url = reverse("segments:segment_create")

    owner_client.post(
        url, {"name": "Bulgaria", "kind": "dynamic", "f-country": "BG", "f-search": "ada"}
    )
    owner_client.post(url, {"name": "VIP", "kind": "static", "f-country": "BG"})

    with tenant_context(org):
        dynamic, static = Segment.objects.get(name="Bulgaria"), Segment.objects.get(name="VIP")
    assert dynamic.filters == {"country": ["BG"], "search": ["ada"]}
    assert static.filters == {}
    assert static.kind == "static"


def test_invalid_filters_show_on_the_form(org, owner_client):
    response = owner_client.post(
        reverse("segments:segment_create"),
        {"name": "Bad", "kind": "dynamic", "f-lifecycle_stage": "wizard"},
    )

    assert response.status_code == 400
    assert "Lifecycle stage" in " ".join(response.context["form"].non_field_errors())
    with tenant_context(org):
        assert not Segment.objects.filter(name="Bad").exists()


def test_edit_keeps_the_kind(org, owner, owner_client):
    with tenant_context(org):
        segment = make_static_list(org, owner, name="Fixed")

    owner_client.post(
        reverse("segments:segment_edit", args=[segment.pk]), {"name": "Fixed", "kind": "dynamic"}
    )

    segment.refresh_from_db()
    assert segment.kind == "static"


# --- detail, members and counts -------------------------------------------------------------


def test_detail_of_a_dynamic_segment_lists_members_and_filters(org, owner, owner_client):
    with tenant_context(org):
        make_contact(org, owner, last_name="Ivanova", country="BG")
        make_contact(org, owner, last_name="Smith", country="GB")
        segment = make_segment(org, owner, filters={"country": ["BG"]})

    response = owner_client.get(segment.get_absolute_url())

    content = response.content.decode()
    assert response.status_code == 200
    assert "Ivanova" in content and "Smith" not in content
    assert response.context["member_count"] == 1
    assert response.context["summary"] == [("Country", "Bulgaria")]
    assert f"/contacts/?{segment.querystring}" in content


def test_detail_query_count_does_not_grow_with_members(org, owner, owner_client):
    with tenant_context(org):
        contacts = [make_contact(org, owner) for _ in range(30)]
        segment = make_static_list(org, owner, contacts=contacts)
    url = segment.get_absolute_url()
    owner_client.get(url)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        owner_client.get(url)
    with tenant_context(org):
        from pulse.segments.services import segment_add_members

        more = [make_contact(org, owner) for _ in range(10)]
        segment_add_members(segment=segment, contacts=more, actor=owner)
    with CaptureQueriesContext(connection) as second:
        response = owner_client.get(url)

    assert len(response.context["members"]) == 25
    assert len(second) == len(first)


def test_list_page_shows_static_counts_and_loads_dynamic_ones_lazily(
    org, owner, owner_client, django_assert_max_num_queries
):
    with tenant_context(org):
        bulgarians = [make_contact(org, owner, country="BG") for _ in range(3)]
        static = make_static_list(org, owner, name="Hand-picked", contacts=bulgarians[:2])
        dynamic = make_segment(org, owner, name="Bulgaria", filters={"country": ["BG"]})
        for i in range(10):
            make_segment(org, owner, name=f"Extra {i}")
    url = reverse("segments:segment_list")
    owner_client.get(url)

    with django_assert_max_num_queries(14):
        response = owner_client.get(url)

    rows = {s.name: s for s in response.context["object_list"]}
    assert rows["Hand-picked"].static_count == 2
    content = response.content.decode()
    assert reverse("segments:segment_count", args=[dynamic.pk]) in content
    assert reverse("segments:segment_count", args=[static.pk]) not in content
    count = owner_client.get(reverse("segments:segment_count", args=[dynamic.pk]))
    assert count.status_code == 200
    assert 'data-testid="member-count">3</span>' in count.content.decode()


def test_add_and_remove_members_from_the_pages(org, owner, owner_client):
    with tenant_context(org):
        ada, grace = make_contact(org, owner), make_contact(org, owner)
        segment = make_static_list(org, owner)

    response = owner_client.post(
        reverse("segments:segment_members_add", args=[segment.pk]),
        {"contacts": [str(ada.pk), str(grace.pk)], "next": ada.get_absolute_url()},
    )
    assert response.status_code == 302
    assert response["Location"] == ada.get_absolute_url()
    assert SegmentMembership.objects.unscoped().filter(segment=segment).count() == 2

    response = owner_client.post(
        reverse("segments:segment_members_remove", args=[segment.pk]),
        {"contacts": [str(ada.pk)], "next": "https://evil.example/"},
    )
    assert response["Location"] == segment.get_absolute_url()
    assert list(
        SegmentMembership.objects.unscoped()
        .filter(segment=segment)
        .values_list("contact_id", flat=True)
    ) == [grace.pk]


def test_members_page_actions_need_edit(org, owner):
    reader = make_member(org, Role.READ_ONLY)
    with tenant_context(org):
        contact = make_contact(org, owner)
        segment = make_static_list(org, owner)

    response = web_client(reader, org).post(
        reverse("segments:segment_members_add", args=[segment.pk]), {"contacts": [str(contact.pk)]}
    )

    assert response.status_code == 403
    assert SegmentMembership.objects.unscoped().count() == 0


def test_adding_with_nothing_chosen_says_so(org, owner, owner_client):
    with tenant_context(org):
        segment = make_static_list(org, owner)

    response = owner_client.post(
        reverse("segments:segment_members_add", args=[segment.pk]), {}, follow=True
    )

    assert "Choose at least one contact." in response.content.decode()


def test_contact_lists_card(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner)
        make_static_list(org, owner, name="Already on", contacts=[contact])
        make_static_list(org, owner, name="Could add")

    response = owner_client.get(reverse("segments:contact_lists", args=[contact.pk]))

    assert response.status_code == 200
    assert [s.name for s in response.context["lists"]] == ["Already on"]
    assert [s.name for s in response.context["addable"]] == ["Could add"]
    assert "Add to list" in response.content.decode()


def test_contact_page_loads_the_cards(org, owner, owner_client):
    with tenant_context(org):
        contact = make_contact(org, owner)

    content = owner_client.get(contact.get_absolute_url()).content.decode()

    assert reverse("segments:contact_lists", args=[contact.pk]) in content
    assert reverse("privacy:contact_privacy", args=[contact.pk]) in content


def test_contact_list_offers_save_as_segment_with_its_filters(org, owner, owner_client):
    response = owner_client.get(reverse("contacts:contact_list"), {"country": "BG", "page": "1"})

    assert f'href="{reverse("segments:segment_create")}?country=BG"' in response.content.decode()


def test_contact_options_search(org, owner, owner_client):
    with tenant_context(org):
        make_contact(org, owner, first_name="Ada", last_name="Lovelace")
        make_contact(org, owner, first_name="Grace", last_name="Hopper")

    response = owner_client.get(reverse("segments:contact_options"), {"q": "love"})

    assert [r["text"] for r in response.json()["results"]] == ["Ada Lovelace"]


def test_members_hidden_by_visibility_are_not_shown(org, owner):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP)
    with tenant_context(org):
        mine = make_contact(org, owner, last_name="Visible", assigned_to=rep)
        hidden = make_contact(org, owner, last_name="Secret", assigned_to=owner)
        segment = make_static_list(org, owner, contacts=[mine, hidden])

    response = web_client(rep, org).get(segment.get_absolute_url())

    content = response.content.decode()
    assert "Visible" in content and "Secret" not in content
    assert response.context["member_count"] == 1
