"""Pinned query counts (rule 7): an N+1 in a list or detail page fails here."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.contacts.models import Contact
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from pulse.extras.models import Tag
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db


def _populate(org, owner, rows: int):
    """``rows`` contacts, each with two tags, a company and an owner (of several)."""
    reps = [make_member(org, Role.SALES_REP) for _ in range(3)]
    with tenant_context(org, actor=owner):
        tags = [
            record_create(Tag, org=org, actor=owner, name=f"Tag {i}", color="#123456")
            for i in range(4)
        ]
        companies = [make_company(org, owner, name=f"Company {i}") for i in range(5)]
        for i in range(rows):
            make_contact(
                org,
                owner,
                company=companies[i % 5],
                assigned_to=reps[i % 3],
                tags=[tags[i % 4], tags[(i + 1) % 4]],
            )
        return companies


def _count(func) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        func()
    return len(captured)


# Fixed whatever the number of rows. A list page: session, user, membership, custom
# field definitions (read once per request, shared by the filters and the column
# chooser), count, rows, their tags, saved views, owners and tags for the filter and bulk
# bars and the bell (the organization switcher reuses the middleware's memberships). The
# session is not written back on every request (SessionRefreshMiddleware).
CONTACT_LIST_QUERIES = 11
COMPANY_LIST_QUERIES = 12  # + the contact counts of the page's companies
# Detail: the record, its tags, timeline, custom field definitions (+ for a company: its
# contacts and their count, one query per hierarchy level, and the contact counts).
CONTACT_DETAIL_QUERIES = 9  # + the contact's relationships (both sides, one query)
COMPANY_DETAIL_QUERIES = 14  # a company with a child and a grandchild
# API: token, membership, custom field definitions, count, rows, tags.
API_CONTACT_LIST_QUERIES = 6
API_COMPANY_LIST_QUERIES = 6


def test_contact_list_page_query_count_is_pinned(org, owner, django_assert_num_queries):
    _populate(org, owner, 25)
    client = web_client(owner, org)
    url = reverse("contacts:contact_list")
    client.get(url)  # warm the content type cache

    with django_assert_num_queries(CONTACT_LIST_QUERIES):
        response = client.get(url)

    assert response.status_code == 200
    rows = response.context["object_list"]
    assert len(rows) == 25
    assert all(len(row.prefetched_tags) == 2 and row.company and row.assigned_to for row in rows)


def test_contact_list_page_cost_does_not_grow_with_rows(org, owner):
    _populate(org, owner, 30)
    client = web_client(owner, org)
    url = reverse("contacts:contact_list")
    client.get(url)
    few = _count(lambda: client.get(url, {"page_size": 5}))
    many = _count(lambda: client.get(url, {"page_size": 30}))
    assert few == many


def test_contact_detail_query_count_is_pinned(org, owner, django_assert_num_queries):
    _populate(org, owner, 3)
    with tenant_context(org, actor=owner):
        contact = Contact.objects.first()
    client = web_client(owner, org)
    client.get(contact.get_absolute_url())

    with django_assert_num_queries(CONTACT_DETAIL_QUERIES):
        response = client.get(contact.get_absolute_url())

    assert response.status_code == 200


def test_company_list_query_count_is_pinned(org, owner, django_assert_num_queries):
    _populate(org, owner, 25)
    with tenant_context(org, actor=owner):
        for i in range(20):
            make_company(org, owner, name=f"More {i}")
    client = web_client(owner, org)
    url = reverse("contacts:company_list")
    client.get(url)

    with django_assert_num_queries(COMPANY_LIST_QUERIES):
        response = client.get(url)

    assert len(response.context["object_list"]) == 25


def test_company_detail_query_count_is_pinned(org, owner, django_assert_num_queries):
    companies = _populate(org, owner, 10)
    with tenant_context(org, actor=owner):
        parent = companies[0]
        child = make_company(org, owner, name="Child", parent=parent)
        make_company(org, owner, name="Grandchild", parent=child)
    client = web_client(owner, org)
    client.get(parent.get_absolute_url())

    with django_assert_num_queries(COMPANY_DETAIL_QUERIES):
        response = client.get(parent.get_absolute_url())

    assert response.context["tree"].total_companies == 2


def test_api_contact_list_query_count_is_pinned(org, owner, django_assert_num_queries):
    _populate(org, owner, 25)
    client = api_client(owner, org)
    url = reverse("contact-list")
    client.get(url)

    with django_assert_num_queries(API_CONTACT_LIST_QUERIES):
        response = client.get(url, {"page_size": 25})

    rows = response.json()["results"]
    assert len(rows) == 25
    assert all(len(row["tags"]) == 2 and row["company_name"] for row in rows)


def test_api_company_list_query_count_is_pinned(org, owner, django_assert_num_queries):
    _populate(org, owner, 5)
    client = api_client(owner, org)
    url = reverse("company-list")
    client.get(url)

    with django_assert_num_queries(API_COMPANY_LIST_QUERIES):
        response = client.get(url)

    assert len(response.json()["results"]) == 5


# --- every column on (the column chooser, H3) ---------------------------------------------


def _all_columns(org, model) -> str:
    from pulse.contacts.tables import available_columns

    with tenant_context(org):
        return ",".join(c.key for c in available_columns(model))


def _custom_fields(org, owner):
    from django.contrib.contenttypes.models import ContentType

    from pulse.contacts.models import Company
    from pulse.extras.services import customfield_create

    with tenant_context(org, actor=owner):
        for model in (Contact, Company):
            content_type = ContentType.objects.get_for_model(model)
            customfield_create(
                org=org,
                actor=owner,
                content_type=content_type,
                key="tier",
                label="Tier",
                field_type="choice",
                choices=["gold", "silver"],
            )
            customfield_create(
                org=org,
                actor=owner,
                content_type=content_type,
                key="manager",
                label="Manager",
                field_type="user",
            )


def test_contact_list_with_every_column_costs_the_same_queries(org, owner):
    _custom_fields(org, owner)
    _populate(org, owner, 30)
    client = web_client(owner, org)
    url = reverse("contacts:contact_list")
    columns = _all_columns(org, Contact)
    client.get(url, {"columns": columns})  # warm caches; remembers the columns

    few = _count(lambda: client.get(url, {"columns": columns, "page_size": 5}))
    many = _count(lambda: client.get(url, {"columns": columns, "page_size": 30}))
    remembered = _count(lambda: client.get(url, {"page_size": 30}))

    # + 1: the filter bar lists the members for the user-type custom field's filter.
    assert few == many == remembered == CONTACT_LIST_QUERIES + 1
    response = client.get(url, {"page_size": 30})
    assert [c.key for c in response.context["table"].columns] == columns.split(",")
    assert len(response.context["rows"]) == 30


def test_company_list_with_every_column_costs_the_same_queries(org, owner):
    from pulse.contacts.models import Company

    _custom_fields(org, owner)
    companies = _populate(org, owner, 10)
    with tenant_context(org, actor=owner):
        for i in range(20):
            make_company(org, owner, name=f"More {i}", parent=companies[i % 5])
    client = web_client(owner, org)
    url = reverse("contacts:company_list")
    columns = _all_columns(org, Company)
    client.get(url, {"columns": columns})

    few = _count(lambda: client.get(url, {"columns": columns, "page_size": 5}))
    many = _count(lambda: client.get(url, {"columns": columns, "page_size": 25}))

    assert few == many == COMPANY_LIST_QUERIES + 1  # as above: the user field's filter


def test_company_list_without_the_contacts_column_skips_the_count_query(org, owner):
    _populate(org, owner, 10)
    client = web_client(owner, org)
    url = reverse("contacts:company_list")
    client.get(url, {"columns": "name,industry,tags"})

    cost = _count(lambda: client.get(url, {"columns": "name,industry,tags"}))

    assert cost == COMPANY_LIST_QUERIES - 1
