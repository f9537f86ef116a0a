"""The segments API: generic CRUD cases plus members."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from pulse.core.testing import APITestCases, api_client, assert_error_shape
from pulse.segments.models import Segment, SegmentMembership
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.segments.factories import make_segment, make_static_list

pytestmark = pytest.mark.django_db


class TestSegmentAPI(APITestCases.APITestCase):
    model = Segment
    api_basename = "segment"
    create_data = {
        "name": "Customers in Bulgaria",
        "kind": "dynamic",
        "filters": {"country": ["BG"], "lifecycle_stage": ["customer"]},
    }
    update_data = {"name": "Bulgarian customers", "filters": {"country": ["BG"]}}
    invalid_create_data = {"name": "Bad", "filters": {"shoe_size": ["42"]}}
    invalid_create_error_fields = {"filters"}


def _members_url(segment) -> str:
    return reverse("segment-members", kwargs={"pk": segment.pk})


def test_retrieve_has_the_member_count_and_lists_do_not(org, owner):
    with tenant_context(org):
        make_contact(org, owner, country="BG")
        segment = make_segment(org, owner, filters={"country": ["BG"]})
    client = api_client(owner, org)

    assert client.get(reverse("segment-detail", args=[segment.pk])).json()["member_count"] == 1
    rows = client.get(reverse("segment-list")).json()["results"]
    assert [r["member_count"] for r in rows] == [None]


def test_members_of_a_dynamic_segment_with_the_contact_serializer(org, owner):
    with tenant_context(org):
        make_contact(org, owner, first_name="Ada", last_name="Ivanova", country="BG")
        make_contact(org, owner, last_name="Smith", country="GB")
        segment = make_segment(org, owner, filters={"country": ["BG"]})

    response = api_client(owner, org).get(_members_url(segment))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["full_name"] == "Ada Ivanova"
    assert body["results"][0]["country"] == "BG"


def test_add_and_remove_members_of_a_static_list(org, owner):
    with tenant_context(org):
        ada, grace = make_contact(org, owner), make_contact(org, owner)
        segment = make_static_list(org, owner)
    client = api_client(owner, org)

    added = client.post(
        _members_url(segment), {"contacts": [str(ada.pk), str(grace.pk)]}, format="json"
    )
    removed = client.delete(_members_url(segment), {"contacts": [str(ada.pk)]}, format="json")

    assert added.json() == {"changed": 2, "member_count": 2}
    assert removed.json() == {"changed": 1, "member_count": 1}
    assert [r["id"] for r in client.get(_members_url(segment)).json()["results"]] == [str(grace.pk)]


def test_adding_bad_input_answers_the_error_shape_and_changes_nothing(org, owner):
    with tenant_context(org):
        segment = make_static_list(org, owner)
        dynamic = make_segment(org, owner)
        contact = make_contact(org, owner)
    client = api_client(owner, org)

    assert_error_shape(client.post(_members_url(segment), {"contacts": []}, format="json"))
    assert_error_shape(client.post(_members_url(segment), {"contacts": ["x"]}, format="json"))
    assert_error_shape(
        client.post(_members_url(dynamic), {"contacts": [str(contact.pk)]}, format="json")
    )
    assert SegmentMembership.objects.unscoped().count() == 0


def test_a_reader_may_list_members_but_not_change_them(org, owner):
    reader = make_member(org, Role.READ_ONLY)
    with tenant_context(org):
        contact = make_contact(org, owner)
        segment = make_static_list(org, owner, contacts=[contact])
    client = api_client(reader, org)

    assert client.get(_members_url(segment)).status_code == 200
    response = client.delete(_members_url(segment), {"contacts": [str(contact.pk)]}, format="json")

    assert response.status_code == 403
    assert SegmentMembership.objects.unscoped().count() == 1


def test_another_organizations_contact_cannot_be_added(org, owner, other_org, other_owner):
    with tenant_context(other_org):
        theirs = make_contact(other_org, other_owner)
    with tenant_context(org):
        segment = make_static_list(org, owner)

    response = api_client(owner, org).post(
        _members_url(segment), {"contacts": [str(theirs.pk)]}, format="json"
    )

    assert_error_shape(response, 400, {"contacts"})
    assert SegmentMembership.objects.unscoped().count() == 0


def test_filters_may_not_be_given_to_a_static_list(org, owner):
    response = api_client(owner, org).post(
        reverse("segment-list"),
        {"name": "VIP", "kind": "static", "filters": {"country": ["BG"]}},
        format="json",
    )

    assert_error_shape(response, 400, {"filters"})


def test_members_list_query_count_is_pinned(org, owner, django_assert_max_num_queries):
    with tenant_context(org):
        contacts = [make_contact(org, owner) for _ in range(20)]
        segment = make_static_list(org, owner, contacts=contacts)
    client = api_client(owner, org)

    with django_assert_max_num_queries(9):
        response = client.get(_members_url(segment))

    assert response.json()["count"] == 20
