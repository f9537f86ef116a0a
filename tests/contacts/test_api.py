"""The contacts and companies API: generic CRUD cases, filters, versions, error shape."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.contacts.filtersets import CompanyFilterSet, ContactFilterSet
from pulse.contacts.models import Company, Contact
from pulse.core.services import record_create
from pulse.core.testing import APITestCases, FilterSetTestCase, api_client, assert_error_shape
from pulse.core.testing.records import snapshot
from pulse.core.testing.world import make_user
from pulse.extras.models import CustomField, Tag
from tests.contacts.factories import make_company, make_contact


def _tag(name, world, org=None):
    org = org or world.org
    return record_create(Tag, org=org, actor=world.owner, name=name, color="#123456")


class TestContactAPI(APITestCases.APITestCase):
    model = Contact
    api_basename = "contact"
    invalid_create_error_fields = {"email", "phone"}

    @staticmethod
    def create_data(world):
        company = make_company(world.org, world.owner, name="Analytical Engines")
        return {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "phone": "+442079460958",
            "mobile": "+447911123456",
            "title": "Countess",
            "department": "Research",
            "company_id": str(company.pk),
            # tags: see test_api_create_and_replace_tags (the generic assertion reads
            # many-to-many rows outside any organization, which tenant models refuse).
            "lead_source": "referral",
            "lifecycle_stage": "customer",
            "assigned_to": world.owner.pk,
        }

    update_data = {"title": "Mathematician", "lifecycle_stage": "evangelist"}
    invalid_create_data = {"first_name": "Ada", "email": "ada-at-example", "phone": "12"}


class TestCompanyAPI(APITestCases.APITestCase):
    model = Company
    api_basename = "company"
    create_data = {
        "name": "Northwind Traders",
        "website": "https://northwind.example",
        "industry": "Wholesale",
        "size_band": "51-200",
        "annual_revenue": "2500000.00",
        "currency": "EUR",
        "country": "BG",
    }
    update_data = {"industry": "Retail", "size_band": "201-500"}
    invalid_create_data = {"name": "", "size_band": "huge"}
    invalid_create_error_fields = {"name", "size_band"}


class TestContactFilterSet(FilterSetTestCase):
    model = Contact
    filterset = ContactFilterSet
    api_basename = "contact"

    def filter_objects(self, world):
        vip = _tag("VIP", world)
        cold = _tag("Cold", world)
        self.rep = world.member(Role.SALES_REP)
        acme = make_company(world.org, world.owner, name="Acme")
        record_create(
            CustomField,
            org=world.org,
            actor=world.owner,
            content_type=ContentType.objects.get_for_model(Contact),
            key="tier",
            label="Tier",
            field_type="text",
        )
        self.ids = {"vip": vip.pk, "cold": cold.pk, "rep": self.rep.pk, "acme": acme.pk}
        return {
            "ada": make_contact(
                world.org,
                world.owner,
                first_name="Ada",
                last_name="Lovelace",
                email="ada@engines.example",
                tags=[vip],
                company=acme,
                lifecycle_stage="customer",
                country="GB",
                lead_source="referral",
                custom_fields={"tier": "Gold"},
            ),
            "alan": make_contact(
                world.org,
                world.owner,
                first_name="Alan",
                last_name="Turing",
                phone="+44 161 496 0000",
                tags=[cold],
                assigned_to=self.rep,
                country="GB",
                lead_source="event",
            ),
            "grace": make_contact(
                world.org,
                world.owner,
                first_name="Grace",
                last_name="Hopper",
                tags=[vip, cold],
                country="US",
                custom_fields={"tier": "Silver"},
            ),
        }

    @property
    def filter_cases(self):
        # A property: the ids exist once ``filter_objects`` has run for this test.
        ids = getattr(self, "ids", None) or {}
        past = "2000-01-01"
        return [
            ({"search": "ada love"}, {"ada"}),
            ({"search": "Acme"}, {"ada"}),
            ({"search": "496"}, {"alan"}),
            ({"tags": [ids.get("vip")]}, {"ada", "grace"}),
            ({"tags": [ids.get("vip"), ids.get("cold")]}, {"ada", "alan", "grace"}),
            ({"assigned_to": [ids.get("rep")]}, {"alan"}),
            ({"lifecycle_stage": ["customer"]}, {"ada"}),
            ({"company": ids.get("acme")}, {"ada"}),
            ({"country": "GB"}, {"ada", "alan"}),
            ({"lead_source": "event"}, {"alan"}),
            ({"created_after": past}, {"ada", "alan", "grace"}),
            ({"created_before": past}, set()),
            ({"updated_after": past}, {"ada", "alan", "grace"}),
            ({"cf_tier": "gol"}, {"ada"}),
        ]


class TestCompanyFilterSet(FilterSetTestCase):
    model = Company
    filterset = CompanyFilterSet
    api_basename = "company"

    def filter_objects(self, world):
        vip = _tag("Key account", world)
        rep = world.member(Role.SALES_REP)
        group = make_company(
            world.org, world.owner, name="Contoso Group", website="contoso.example", tags=[vip]
        )
        self.ids = {"vip": vip.pk, "rep": rep.pk, "group": group.pk}
        return {
            "group": group,
            "retail": make_company(
                world.org,
                world.owner,
                name="Contoso Retail",
                parent=group,
                industry="Retail",
                size_band="11-50",
                assigned_to=rep,
                country="BG",
            ),
            "initech": make_company(
                world.org, world.owner, name="Initech", industry="Software", country="US"
            ),
        }

    @property
    def filter_cases(self):
        ids = getattr(self, "ids", None) or {}
        return [
            ({"search": "contoso"}, {"group", "retail"}),
            ({"search": "contoso.example"}, {"group"}),
            ({"tags": [ids.get("vip")]}, {"group"}),
            ({"assigned_to": [ids.get("rep")]}, {"retail"}),
            ({"size_band": ["11-50"]}, {"retail"}),
            ({"industry": "software"}, {"initech"}),
            ({"parent": ids.get("group")}, {"retail"}),
            ({"country": "BG"}, {"retail"}),
            ({"created_after": "2000-01-01"}, {"group", "retail", "initech"}),
            ({"updated_before": "2000-01-01"}, set()),
        ]


# --- specifics ----------------------------------------------------------------------------


@pytest.fixture
def world(db):
    from pulse.core.testing import World

    return World.build()


def _list(client, basename="contact", **params):
    response = client.get(reverse(f"{basename}-list"), params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_api_contact_shape_uses_spec_field_names(world):
    with world.inside():
        company = make_company(world.org, world.owner, name="Acme")
        tag = _tag("VIP", world)
        contact = make_contact(world.org, world.owner, company=company, tags=[tag])

    body = api_client(world.owner, world.org).get(reverse("contact-detail", args=[contact.pk]))
    data = body.json()

    for name in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "title",
        "department",
        "company_id",
        "tags",
        "lead_source",
        "assigned_to",
        "created_by",
        "created_at",
        "updated_at",
        "custom_fields",
        "version",
    ):
        assert name in data, name
    assert data["company_id"] == str(company.pk)
    assert data["company_name"] == "Acme"
    assert data["tags"] == [str(tag.pk)]
    assert data["assigned_to"] == world.owner.pk
    assert data["created_by"] == world.owner.pk
    assert data["version"] == 1


def test_api_create_and_replace_tags(world):
    with world.inside():
        vip, cold = _tag("VIP", world), _tag("Cold", world)
    client = api_client(world.owner, world.org)
    created = client.post(
        reverse("contact-list"), {"first_name": "Eve", "tags": [str(vip.pk)]}, format="json"
    )
    assert created.status_code == 201, created.content
    url = reverse("contact-detail", args=[created.json()["id"]])

    replaced = client.patch(url, {"tags": [str(cold.pk)]}, format="json")

    assert replaced.status_code == 200
    assert replaced.json()["tags"] == [str(cold.pk)]
    with world.inside():
        assert list(Contact.objects.get(pk=created.json()["id"]).tags.all()) == [cold]


def test_api_create_defaults_owner_to_caller_and_completes_urls(world):
    client = api_client(world.owner, world.org)
    response = client.post(
        reverse("company-list"), {"name": "Umbrella", "website": "umbrella.example"}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["assigned_to"] == world.owner.pk
    assert data["website"] == "https://umbrella.example"
    assert data["domain"] == "umbrella.example"


def test_api_stale_version_is_400_and_changes_nothing(world):
    with world.inside():
        contact = make_contact(world.org, world.owner)
    client = api_client(world.owner, world.org)
    url = reverse("contact-detail", args=[contact.pk])
    assert client.patch(url, {"title": "One", "version": 1}, format="json").status_code == 200
    before = snapshot(contact)

    response = client.patch(url, {"title": "Two", "version": 1}, format="json")

    errors = assert_error_shape(response, 400, {"version"})
    assert "Someone else changed this record" in errors["version"][0]
    assert snapshot(contact) == before


def test_api_parent_cycle_is_400(world):
    with world.inside():
        top = make_company(world.org, world.owner, name="Top")
        child = make_company(world.org, world.owner, name="Child", parent=top)
    response = api_client(world.owner, world.org).patch(
        reverse("company-detail", args=[top.pk]), {"parent_id": str(child.pk)}, format="json"
    )
    assert_error_shape(response, 400, {"parent"})


def test_api_refuses_other_organizations_company_and_tags(world):
    with world.inside(world.other_org):
        their_company = make_company(world.other_org, world.other_owner)
        their_tag = _tag("Theirs", world, world.other_org)
    response = api_client(world.owner, world.org).post(
        reverse("contact-list"),
        {"first_name": "Eve", "company_id": str(their_company.pk), "tags": [str(their_tag.pk)]},
        format="json",
    )
    assert_error_shape(response, 400, {"company_id", "tags"})
    assert Contact.objects.unscoped().filter(first_name="Eve").count() == 0


def test_api_refuses_non_member_owner(world):
    stranger = make_user()
    response = api_client(world.owner, world.org).post(
        reverse("contact-list"), {"first_name": "Eve", "assigned_to": stranger.pk}, format="json"
    )
    assert_error_shape(response, 400, {"assigned_to"})


def test_api_custom_field_errors_are_keyed_by_field(world):
    with world.inside():
        record_create(
            CustomField,
            org=world.org,
            actor=world.owner,
            content_type=ContentType.objects.get_for_model(Contact),
            key="tier",
            label="Tier",
            field_type="choice",
            choices=["Gold"],
        )
    response = api_client(world.owner, world.org).post(
        reverse("contact-list"),
        {"first_name": "Eve", "custom_fields": {"tier": "Tin"}},
        format="json",
    )
    assert_error_shape(response, 400, {"custom_fields.tier"})


def test_api_ordering_and_pagination(world):
    with world.inside():
        for first, last in [("Cleo", "Cooper"), ("Amy", "Adams"), ("Bob", "Brown")]:
            make_contact(world.org, world.owner, first_name=first, last_name=last)
    client = api_client(world.owner, world.org)

    page = _list(client, ordering="name", page_size=2)
    assert [r["last_name"] for r in page["results"]] == ["Adams", "Brown"]
    assert page["count"] == 3
    second = _list(client, ordering="name", page_size=2, page=2)
    assert [r["last_name"] for r in second["results"]] == ["Cooper"]
    desc = _list(client, ordering="-email")
    assert [r["email"] for r in desc["results"]] == sorted(
        [r["email"] for r in desc["results"]], reverse=True
    )


def test_api_unknown_filter_value_is_400_error_shape(world):
    response = api_client(world.owner, world.org).get(
        reverse("contact-list"), {"lifecycle_stage": "ghost"}
    )
    assert_error_shape(response, 400, {"lifecycle_stage"})


def test_api_put_replaces_and_keeps_version_check(world):
    with world.inside():
        company = make_company(world.org, world.owner, name="Old name", industry="Food")
    response = api_client(world.owner, world.org).put(
        reverse("company-detail", args=[company.pk]),
        {"name": "New name", "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    company.refresh_from_db()
    assert company.name == "New name"


def test_api_orders_by_custom_field_and_filters_by_choice(world):
    with world.inside():
        for key, field_type, choices in [("nps", "number", None), ("tier", "choice", ["Gold"])]:
            record_create(
                CustomField,
                org=world.org,
                actor=world.owner,
                content_type=ContentType.objects.get_for_model(Contact),
                key=key,
                label=key.title(),
                field_type=field_type,
                choices=choices or [],
            )
        low = make_contact(world.org, world.owner, custom_fields={"nps": 2})
        high = make_contact(world.org, world.owner, custom_fields={"nps": 10, "tier": "Gold"})
        none = make_contact(world.org, world.owner)
    client = api_client(world.owner, world.org)

    asc = _list(client, ordering="cf_nps")["results"]
    desc = _list(client, ordering="-cf_nps")["results"]
    gold = _list(client, cf_tier="Gold")["results"]

    assert [r["id"] for r in asc] == [str(low.pk), str(high.pk), str(none.pk)]
    assert [r["id"] for r in desc] == [str(high.pk), str(low.pk), str(none.pk)]
    assert [r["id"] for r in gold] == [str(high.pk)]
