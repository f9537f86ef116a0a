"""Contact and company pages through the web client: generic cases plus what is special."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.contacts.models import Company, Contact
from pulse.core.services import record_create
from pulse.core.testing import ViewTestCases, web_client
from pulse.core.testing.records import snapshot
from pulse.extras.models import CustomField, Tag
from tests.contacts.factories import make_company, make_contact

CONTACT_FORM = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "email": "grace@example.com",
    "phone": "+12024561111",
    "title": "Rear Admiral",
    "lifecycle_stage": "customer",
    "lead_source": "referral",
    "email_opt_in": "opted_in",
    "phone_opt_in": "unknown",
    "sms_opt_in": "opted_out",
    "country": "US",
    "birthday": "1906-12-09",
}
COMPANY_FORM = {
    "name": "Initech",
    "website": "https://initech.example",
    "industry": "Software",
    "size_band": "201-500",
    "annual_revenue": "12000000.00",
    "currency": "USD",
    "country": "US",
}


class TestContactViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = Contact
    form_data = CONTACT_FORM
    invalid_form_data = {**CONTACT_FORM, "email": "grace at navy", "phone": "123"}


class TestCompanyViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = Company
    form_data = COMPANY_FORM
    invalid_form_data = {**COMPANY_FORM, "name": "", "phone": "12"}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def client_(owner_client):
    return owner_client


def _tag(org, actor, name, color="#0d6efd"):
    return record_create(Tag, org=org, actor=actor, name=name, color=color)


# --- list pages ---------------------------------------------------------------------------


def test_contact_list_searches_word_by_word(in_org, owner, client_):
    ada = make_contact(in_org, owner, first_name="Ada", last_name="Lovelace", email="ada@x.io")
    make_contact(in_org, owner, first_name="Alan", last_name="Turing", email="alan@x.io")

    response = client_.get(reverse("contacts:contact_list"), {"search": "ada love"})

    assert response.status_code == 200
    assert [c.pk for c in response.context["object_list"]] == [ada.pk]


def test_contact_list_search_matches_company_name(in_org, owner, client_):
    company = make_company(in_org, owner, name="Northwind Traders")
    nancy = make_contact(in_org, owner, first_name="Nancy", company=company)
    make_contact(in_org, owner, first_name="Other")

    response = client_.get(reverse("contacts:contact_list"), {"search": "northwind"})

    assert [c.pk for c in response.context["object_list"]] == [nancy.pk]


def test_contact_list_filters_by_tags_stage_company_and_owner(in_org, owner, client_):
    from tests.accounts.factories import make_member

    rep = make_member(in_org, Role.SALES_REP)
    vip = _tag(in_org, owner, "VIP")
    cold = _tag(in_org, owner, "Cold")
    acme = make_company(in_org, owner, name="Acme")
    a = make_contact(in_org, owner, tags=[vip], lifecycle_stage="customer", company=acme)
    b = make_contact(in_org, owner, tags=[cold], assigned_to=rep)
    c = make_contact(in_org, owner, tags=[vip, cold], lifecycle_stage="customer")
    url = reverse("contacts:contact_list")

    def names(params):
        return {o.pk for o in client_.get(url, params).context["object_list"]}

    assert names({"tags": [vip.pk]}) == {a.pk, c.pk}
    assert names({"tags": [vip.pk, cold.pk]}) == {a.pk, b.pk, c.pk}
    assert names({"lifecycle_stage": "customer"}) == {a.pk, c.pk}
    assert names({"company": acme.pk}) == {a.pk}
    assert names({"assigned_to": rep.pk}) == {b.pk}


def test_contact_list_orders_by_name_and_reverses(in_org, owner, client_):
    zed = make_contact(in_org, owner, first_name="Zed", last_name="Zulu")
    amy = make_contact(in_org, owner, first_name="Amy", last_name="Alpha")
    url = reverse("contacts:contact_list")

    asc = client_.get(url, {"ordering": "name"}).context["object_list"]
    desc = client_.get(url, {"ordering": "-name"}).context["object_list"]
    bogus = client_.get(url, {"ordering": "password"})

    assert [c.pk for c in asc] == [amy.pk, zed.pk]
    assert [c.pk for c in desc] == [zed.pk, amy.pk]
    assert bogus.status_code == 200
    # the default: newest first
    assert [c.pk for c in bogus.context["object_list"]] == [amy.pk, zed.pk]


def test_contact_list_htmx_request_gets_the_table_only(in_org, owner, client_):
    make_contact(in_org, owner, first_name="Ada")
    response = client_.get(reverse("contacts:contact_list"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "contacts/partials/contact_table.html"
    assert b"<html" not in response.content


def test_list_page_shows_saved_views_new_button_and_bulk_bar(in_org, owner, client_):
    make_contact(in_org, owner)
    content = client_.get(reverse("contacts:contact_list")).content.decode()
    assert 'data-testid="saved-views"' in content
    assert reverse("contacts:contact_create") in content
    assert 'id="bulk-form"' in content


def test_read_only_member_sees_no_write_buttons(org, in_org, owner):
    from tests.accounts.factories import make_member

    viewer = make_member(org, Role.READ_ONLY)
    contact = make_contact(in_org, owner)
    client = web_client(viewer, org)

    list_page = client.get(reverse("contacts:contact_list")).content.decode()
    detail = client.get(contact.get_absolute_url()).content.decode()

    assert reverse("contacts:contact_create") not in list_page
    assert 'id="bulk-form"' not in list_page
    assert 'data-testid="edit"' not in detail
    assert 'data-testid="delete"' not in detail


def test_company_list_shows_contact_counts(in_org, owner, client_):
    acme = make_company(in_org, owner, name="Acme")
    make_company(in_org, owner, name="Empty Co")
    make_contact(in_org, owner, company=acme)
    make_contact(in_org, owner, company=acme)

    response = client_.get(reverse("contacts:company_list"), {"ordering": "name"})

    rows = list(response.context["object_list"])
    assert [(c.name, c.contacts_count) for c in rows] == [("Acme", 2), ("Empty Co", 0)]


def test_company_list_filters_and_searches(in_org, owner, client_):
    parent = make_company(in_org, owner, name="Globex Holding", website="globex.example")
    child = make_company(in_org, owner, name="Globex Retail", parent=parent, size_band="11-50")
    make_company(in_org, owner, name="Initech")
    url = reverse("contacts:company_list")

    def pks(params):
        return {c.pk for c in client_.get(url, params).context["object_list"]}

    assert pks({"search": "globex.example"}) == {parent.pk}
    assert pks({"parent": parent.pk}) == {child.pk}
    assert pks({"size_band": "11-50"}) == {child.pk}


# --- bulk actions ---------------------------------------------------------------------------


def test_bulk_delete_moves_selected_contacts_to_trash(in_org, owner, client_):
    keep = make_contact(in_org, owner)
    drop = [make_contact(in_org, owner) for _ in range(2)]
    back = reverse("contacts:contact_list") + "?ordering=name"

    response = client_.post(
        reverse("contacts:contact_bulk"),
        {"action": "delete", "ids": [c.pk for c in drop], "next": back},
    )

    assert response.status_code == 302
    assert response["Location"] == back
    assert set(Contact.objects.values_list("pk", flat=True)) == {keep.pk}
    assert Contact.trash.count() == 2


def test_bulk_tag_and_stage_on_contacts(in_org, owner, client_):
    tag = _tag(in_org, owner, "Webinar")
    contacts = [make_contact(in_org, owner) for _ in range(2)]
    ids = [c.pk for c in contacts]

    client_.post(reverse("contacts:contact_bulk"), {"action": "tag", "tag": tag.pk, "ids": ids})
    client_.post(
        reverse("contacts:contact_bulk"),
        {"action": "stage", "lifecycle_stage": "customer", "ids": ids},
    )

    for contact in Contact.objects.filter(pk__in=ids):
        assert list(contact.tags.all()) == [tag]
        assert contact.lifecycle_stage == "customer"


def test_bulk_action_without_value_changes_nothing(in_org, owner, client_):
    contact = make_contact(in_org, owner)
    before = snapshot(contact)
    response = client_.post(
        reverse("contacts:contact_bulk"), {"action": "assign", "ids": [contact.pk]}, follow=True
    )
    assert response.status_code == 200
    assert snapshot(contact) == before
    assert "Choose a value" in response.content.decode()


def test_bulk_delete_denied_to_support_agent(org, in_org, owner):
    from tests.accounts.factories import make_member

    agent = make_member(org, Role.SUPPORT_AGENT)
    contact = make_contact(in_org, owner, assigned_to=agent)
    before = snapshot(contact)
    response = web_client(agent, org).post(
        reverse("contacts:contact_bulk"), {"action": "delete", "ids": [contact.pk]}
    )
    assert response.status_code == 403
    assert snapshot(contact) == before


def test_bulk_assign_companies(in_org, owner, client_):
    from tests.accounts.factories import make_member

    rep = make_member(in_org, Role.SALES_REP)
    companies = [make_company(in_org, owner) for _ in range(2)]
    response = client_.post(
        reverse("contacts:company_bulk"),
        {"action": "assign", "assigned_to": rep.pk, "ids": [c.pk for c in companies]},
    )
    assert response.status_code == 302
    assert set(Company.objects.values_list("assigned_to", flat=True)) == {rep.pk}


def test_bulk_of_other_organizations_ids_touches_nothing(
    in_org, owner, other_org, other_owner, client_
):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        theirs = make_contact(other_org, other_owner)
    before = snapshot(theirs)
    client_.post(reverse("contacts:contact_bulk"), {"action": "delete", "ids": [theirs.pk]})
    assert snapshot(theirs) == before


# --- detail pages ---------------------------------------------------------------------------


def test_contact_detail_shows_key_facts_tabs_and_history_link(in_org, owner, client_):
    company = make_company(in_org, owner, name="Analytical Engines")
    contact = make_contact(
        in_org, owner, first_name="Ada", last_name="Lovelace", company=company, title="Countess"
    )
    content_type = ContentType.objects.get_for_model(Contact)

    response = client_.get(contact.get_absolute_url())

    content = response.content.decode()
    assert response.status_code == 200
    assert "Analytical Engines" in content
    assert "Countess" in content
    assert 'data-testid="timeline"' in content
    assert reverse("audit:history", args=[content_type.pk, contact.pk]) in content


def test_history_partial_loads_for_contact(in_org, owner, client_):
    contact = make_contact(in_org, owner)
    from pulse.contacts.services import contact_update

    contact_update(contact=contact, actor=owner, title="CTO")
    content_type = ContentType.objects.get_for_model(Contact)
    response = client_.get(
        reverse("audit:history", args=[content_type.pk, contact.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "CTO" in response.content.decode()


def test_contact_detail_shows_custom_field_values(in_org, owner, client_):
    record_create(
        CustomField,
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="tier",
        label="Customer tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )
    contact = make_contact(in_org, owner, custom_fields={"tier": "Gold"})
    content = client_.get(contact.get_absolute_url()).content.decode()
    assert "Customer tier" in content
    assert "Gold" in content


def test_company_detail_rolls_up_contacts_and_child_tree(in_org, owner, client_):
    group = make_company(in_org, owner, name="Contoso Group")
    europe = make_company(in_org, owner, name="Contoso Europe", parent=group)
    sofia = make_company(in_org, owner, name="Contoso Sofia", parent=europe)
    make_contact(in_org, owner, company=group)
    make_contact(in_org, owner, company=europe)
    make_contact(in_org, owner, company=sofia)
    make_contact(in_org, owner, company=sofia)

    response = client_.get(group.get_absolute_url())

    tree = response.context["tree"]
    assert [c.company.name for c in tree.children] == ["Contoso Europe"]
    assert [c.company.name for c in tree.children[0].children] == ["Contoso Sofia"]
    assert (tree.contacts_count, tree.total_contacts, tree.total_companies) == (1, 4, 2)
    assert response.context["contacts_total"] == 1
    content = response.content.decode()
    assert "Contoso Sofia" in content

    child_page = client_.get(sofia.get_absolute_url())
    assert [a.name for a in child_page.context["ancestors"]] == ["Contoso Group", "Contoso Europe"]


# --- forms --------------------------------------------------------------------------------


def test_create_contact_with_tags_through_the_form(in_org, owner, client_):
    vip = _tag(in_org, owner, "VIP")
    company = make_company(in_org, owner)
    response = client_.post(
        reverse("contacts:contact_create"),
        {**CONTACT_FORM, "tags": [vip.pk], "company": company.pk, "assigned_to": owner.pk},
    )
    assert response.status_code == 302
    contact = Contact.objects.get(email="grace@example.com")
    assert response["Location"] == contact.get_absolute_url()
    assert list(contact.tags.all()) == [vip]
    assert contact.company == company
    assert contact.created_by == owner


def test_form_offers_only_members_as_owners_and_own_tags(
    in_org, owner, other_org, other_owner, client_
):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        their_tag = _tag(other_org, other_owner, "Theirs")
    mine = _tag(in_org, owner, "Mine")
    form = client_.get(reverse("contacts:contact_create")).context["form"]
    assert list(form.fields["assigned_to"].queryset) == [owner]
    assert list(form.fields["tags"].queryset) == [mine]
    assert their_tag not in form.fields["tags"].queryset


def test_form_with_custom_fields_saves_them(in_org, owner, client_):
    record_create(
        CustomField,
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Company),
        key="renewal",
        label="Renewal date",
        field_type="date",
    )
    response = client_.post(
        reverse("contacts:company_create"), {**COMPANY_FORM, "cf_renewal": "2027-03-31"}
    )
    assert response.status_code == 302
    assert Company.objects.get().custom_fields == {"renewal": "2027-03-31"}


def test_edit_with_stale_version_shows_conflict_and_keeps_their_change(in_org, owner, client_):
    contact = make_contact(in_org, owner, title="Original")
    url = reverse("contacts:contact_edit", args=[contact.pk])
    opened = client_.get(url).context["form"]
    assert opened["expected_version"].value() == 1
    from pulse.contacts.services import contact_update

    contact_update(contact=contact, actor=owner, title="Theirs")  # someone else saves first

    response = client_.post(url, {**CONTACT_FORM, "title": "Mine", "expected_version": 1})

    assert response.status_code == 400
    content = response.content.decode()
    assert "Someone else changed this record" in content
    assert 'data-testid="reload"' in content
    assert Contact.objects.get(pk=contact.pk).title == "Theirs"


def test_edit_company_parent_cycle_is_a_form_error(in_org, owner, client_):
    top = make_company(in_org, owner, name="Top")
    child = make_company(in_org, owner, name="Child", parent=top)
    before = snapshot(top)
    response = client_.post(
        reverse("contacts:company_edit", args=[top.pk]),
        {**COMPANY_FORM, "name": "Top", "parent": child.pk},
    )
    assert response.status_code == 400
    assert "parent" in response.context["form"].errors
    assert snapshot(top) == before


def test_company_options_search_for_pickers(in_org, owner, other_org, other_owner, client_):
    from pulse.core.tenancy import tenant_context

    acme = make_company(in_org, owner, name="Acme Corp")
    make_company(in_org, owner, name="Initech")
    with tenant_context(other_org, actor=other_owner):
        make_company(other_org, other_owner, name="Acme Elsewhere")

    response = client_.get(reverse("contacts:company_options"), {"q": "acme"})

    assert response.status_code == 200
    assert response.json() == {"results": [{"value": str(acme.pk), "text": "Acme Corp"}]}


def test_global_search_finds_contacts_and_companies(in_org, owner, client_):
    company = make_company(in_org, owner, name="Wayne Enterprises", website="wayne.example")
    make_contact(in_org, owner, first_name="Bruce", last_name="Wayne", company=company)
    response = client_.get(reverse("core:search"), {"q": "wayne"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert "Bruce Wayne" in content
    assert "Wayne Enterprises" in content
    by_domain = client_.get(reverse("core:search"), {"q": "wayne.example"}).content.decode()
    assert "Wayne Enterprises" in by_domain


def test_nav_links_to_contacts_and_companies(in_org, client_):
    content = client_.get(reverse("reports:dashboard")).content.decode()
    assert reverse("contacts:contact_list") in content
    assert reverse("contacts:company_list") in content


def test_empty_filter_values_mean_no_filter(in_org, owner, client_):
    customer = make_contact(in_org, owner, lifecycle_stage="customer")
    make_contact(in_org, owner, lifecycle_stage="lead")
    response = client_.get(
        reverse("contacts:contact_list") + "?tags=&company=&country=&lifecycle_stage=customer"
    )
    assert response.context["filterset"].errors == {}
    assert [c.pk for c in response.context["object_list"]] == [customer.pk]
