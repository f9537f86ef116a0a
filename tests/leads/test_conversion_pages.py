"""The convert page and ``POST /api/crm/leads/{id}/convert/``: duplicates shown, choices
honoured, a second conversion answered clearly with nothing changed."""

from __future__ import annotations

from django.urls import reverse

from pulse.contacts.models import Company, Contact
from pulse.contacts.services import company_create, contact_create
from pulse.core.testing import api_client
from pulse.core.testing.records import snapshot
from pulse.leads.models import Lead
from pulse.leads.services import lead_create
from tests.conftest import login


def _lead(org, owner, **fields):
    fields.setdefault("title", "Enquiry")
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", "Lovelace")
    fields.setdefault("email", "ada@analytical.example")
    fields.setdefault("company_name", "Analytical Engines")
    fields.setdefault("assigned_to", owner)
    return lead_create(org=org, actor=owner, **fields)


def test_convert_page_shows_duplicates_and_preselects_sure_ones(in_org, org, owner):
    company = company_create(org=in_org, actor=owner, name="Analytical Engines Ltd")
    lead = _lead(in_org, owner)
    contact = contact_create(
        org=in_org, actor=owner, first_name="A", email="ada@analytical.example"
    )

    response = login(owner, org).get(reverse("leads:lead_convert", args=[lead.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Same email" in content
    assert "Same name" in content
    form = response.context["form"]
    assert form.initial["contact_choice"] == str(contact.pk)
    assert form.initial["company_choice"] == str(company.pk)


def test_convert_page_post_creates_new_records_when_chosen(in_org, org, owner):
    contact_create(org=in_org, actor=owner, first_name="Ada", email="ada@analytical.example")
    lead = Lead.objects.get(pk=_lead(in_org, owner, email="new@analytical.example").pk)
    client = login(owner, org)

    response = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {
            "contact_choice": "new",
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "new@analytical.example",
            "company_choice": "new",
            "company_name": "Engines Ltd",
            "website": "engines.example",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    lead.refresh_from_db()
    assert lead.converted_contact.last_name == "Byron"
    assert lead.converted_company.name == "Engines Ltd"
    assert lead.converted_company.domain == "engines.example"
    assert Contact.objects.count() == 2
    # The lead page links to what it became (the partial on the detail page).
    detail = client.get(lead.get_absolute_url()).content.decode()
    assert lead.converted_contact.get_absolute_url() in detail
    assert lead.converted_company.get_absolute_url() in detail


def test_convert_page_with_existing_choices_and_no_company(in_org, org, owner):
    contact = contact_create(org=in_org, actor=owner, first_name="Known")
    lead = _lead(in_org, owner)
    response = login(owner, org).post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"contact_choice": str(contact.pk), "company_choice": "none"},
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.converted_contact == contact
    assert lead.converted_company is None
    assert Company.objects.count() == 0


def test_convert_page_refuses_a_foreign_choice(in_org, org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        foreign = contact_create(org=other_org, actor=other_owner, first_name="Globex")
    lead = _lead(in_org, owner)
    response = login(owner, org).post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"contact_choice": str(foreign.pk), "company_choice": "none"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["contact_choice"] == ["Choose one of the records shown."]
    lead.refresh_from_db()
    assert not lead.is_converted


def test_converted_lead_page_and_second_post(in_org, org, owner):
    lead = _lead(in_org, owner)
    client = login(owner, org)
    client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"contact_choice": "new", "first_name": "Ada", "company_choice": "none"},
    )
    lead.refresh_from_db()
    before = snapshot(lead)
    contacts = Contact.objects.count()

    page = client.get(reverse("leads:lead_convert", args=[lead.pk]))
    again = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"contact_choice": "new", "first_name": "Ada", "company_choice": "none"},
    )

    assert page.status_code == 200
    assert "This lead was already converted on" in page.content.decode()
    assert again.status_code == 400
    assert "This lead was already converted on" in again.content.decode()
    assert snapshot(lead) == before
    assert Contact.objects.count() == contacts


def test_convert_denied_to_read_only_and_other_org(in_org, org, owner, other_org, other_owner):
    from pulse.accounts.models import Role
    from tests.accounts.factories import make_member

    reader = make_member(org, Role.READ_ONLY)
    lead = _lead(in_org, owner)
    url = reverse("leads:lead_convert", args=[lead.pk])
    assert login(reader, org).post(url, {"contact_choice": "new"}).status_code in (403, 404)
    assert login(other_owner, other_org).get(url).status_code == 404
    lead.refresh_from_db()
    assert not lead.is_converted


# --- API ------------------------------------------------------------------------------------


def test_api_convert_and_second_convert_is_409(in_org, org, owner):
    company = company_create(org=in_org, actor=owner, name="Analytical Engines")
    lead = _lead(in_org, owner)
    client = api_client(owner, org)

    response = client.post(f"/api/crm/leads/{lead.pk}/convert/", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["company"] == {"id": str(company.pk), "name": "Analytical Engines"}
    assert body["contact_created"] is True and body["company_created"] is False
    lead.refresh_from_db()
    assert str(lead.converted_contact_id) == body["contact"]["id"]
    before = snapshot(lead)

    again = client.post(f"/api/crm/leads/{lead.pk}/convert/", {}, format="json")

    assert again.status_code == 409
    assert again.json()["errors"]["__all__"][0].startswith("This lead was already converted on")
    assert snapshot(lead) == before


def test_api_convert_with_chosen_records_and_bad_ids(in_org, org, owner):
    contact = contact_create(org=in_org, actor=owner, first_name="Known")
    lead = _lead(in_org, owner)
    client = api_client(owner, org)

    bad = client.post(
        f"/api/crm/leads/{lead.pk}/convert/",
        {"contact_id": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )
    assert bad.status_code == 400
    assert "contact_id" in bad.json()["errors"]

    ok = client.post(
        f"/api/crm/leads/{lead.pk}/convert/",
        {"contact_id": str(contact.pk), "create_company": False, "match_existing": False},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.json()["contact"]["id"] == str(contact.pk)
    assert ok.json()["company"] is None


def test_api_convert_denied_to_read_only(in_org, org, owner):
    from pulse.accounts.models import Role
    from tests.accounts.factories import make_member

    reader = make_member(org, Role.READ_ONLY)
    lead = _lead(in_org, owner)
    response = api_client(reader, org).post(f"/api/crm/leads/{lead.pk}/convert/", {})
    assert response.status_code in (403, 404)
    lead.refresh_from_db()
    assert not lead.is_converted


def test_lead_page_offers_convert_and_route_again(in_org, org, owner):
    lead = _lead(in_org, owner)
    content = login(owner, org).get(lead.get_absolute_url()).content.decode()
    assert reverse("leads:lead_convert", args=[lead.pk]) in content
    assert reverse("leads:lead_route", args=[lead.pk]) in content
