"""Contact and company records: E.164 phone numbers, further emails, the detail pages."""

from __future__ import annotations

import importlib

import phonenumbers
import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.contacts.models import Company, Contact, clean_other_emails, validate_phone
from pulse.contacts.phones import format_phone, is_e164, normalize_phone
from pulse.contacts.services import company_create, company_update, contact_create, contact_update
from pulse.core.errors import ApplicationError
from pulse.core.services import record_create
from pulse.core.testing import api_client
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db
INVALID = "Enter a valid phone number, such as +359 2 123 4567."


@pytest.fixture
def bg_org(org):
    org.country = "BG"
    org.save(update_fields=["country"])
    return org


# --- phones: services ------------------------------------------------------------------


def test_contact_phones_are_parsed_with_the_org_country_and_stored_e164(bg_org, in_org, owner):
    contact = contact_create(
        org=in_org, actor=owner, first_name="Ada", phone="02 123 4567", mobile="+44 7911 123456"
    )
    contact.refresh_from_db()
    assert (contact.phone, contact.mobile) == ("+35921234567", "+447911123456")

    contact_update(contact=contact, actor=owner, mobile="0888 123 456 ext. 12")
    contact.refresh_from_db()
    assert contact.mobile == "+359888123456;ext=12"


def test_company_phone_is_stored_e164(bg_org, in_org, owner):
    company = company_create(org=in_org, actor=owner, name="Acme", phone="(02) 981 2345")
    assert company.phone == "+35929812345"
    company_update(company=company, actor=owner, phone="+1 202-456-1111")
    company.refresh_from_db()
    assert company.phone == "+12024561111"


def test_national_number_without_org_country_is_a_field_error(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, first_name="Ada", phone="02 123 4567")
    assert exc.value.errors == {"phone": [INVALID]}
    assert Contact.objects.count() == 0


@pytest.mark.parametrize("value", ["12", "call me", "+12345678", "+359 2 12", "0" * 300])
def test_bad_phone_is_a_field_error_together_with_others(bg_org, in_org, owner, value):
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, first_name="Ada", mobile=value, email="nope")
    assert INVALID in exc.value.errors["mobile"]
    if not is_e164(value):
        assert "email" in exc.value.errors  # reported in one go
    assert Contact.objects.count() == 0


def test_bad_company_phone_is_a_field_error(bg_org, in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        company_create(org=in_org, actor=owner, name="Acme", phone="123")
    assert exc.value.errors == {"phone": [INVALID]}


def test_model_refuses_anything_but_e164_when_services_are_bypassed(in_org, owner):
    validate_phone("")
    validate_phone("+35921234567")
    validate_phone("+35921234567;ext=12")
    for value in ("02 123 4567", "+359 2 123 4567", "35921234567", "+3592;ext=x"):
        with pytest.raises(ValidationError):
            validate_phone(value)
    with pytest.raises(ApplicationError) as exc:
        record_create(Contact, org=in_org, actor=owner, first_name="Ada", phone="02 123 4567")
    assert exc.value.errors == {"phone": [INVALID]}


# --- phones: parsing properties (hypothesis) ----------------------------------------------

REGIONS = ["BG", "DE", "GB", "US", "FR", "RO", "IN", "BR", "JP", "AU"]
TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
STYLES = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@st.composite
def valid_numbers(draw):
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    national = str(example.national_number)
    tail = draw(st.integers(min_value=0, max_value=9999))
    number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail:04d}")
    if not phonenumbers.is_valid_number(number):
        number = example
    return region, number


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_numbers(), st.sampled_from(STYLES), st.sampled_from(["", "BG", "US"]))
def test_normalise_round_trip(region_and_number, style, org_region):
    """Any way of writing a valid number parses to its E.164; the national display
    of a stored number parses back to the same E.164 (and normalising is idempotent)."""
    region, number = region_and_number
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    typed = phonenumbers.format_number(number, style)
    read_with = region if style == phonenumbers.PhoneNumberFormat.NATIONAL else org_region

    stored = normalize_phone(typed, read_with)

    assert stored == e164
    assert is_e164(stored)
    assert normalize_phone(stored, org_region) == stored
    shown = format_phone(stored, region)
    assert normalize_phone(shown, region) == stored


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["", "BG", "us", "XX"]))
def test_normalise_any_text_gives_e164_or_a_validation_error(text, region):
    try:
        stored = normalize_phone(text, region)
    except ValidationError as exc:
        assert exc.code == "invalid_phone"
    else:
        assert stored == "" or is_e164(stored)


# --- phones: display -------------------------------------------------------------------


def test_phone_filter_shows_national_format_for_the_org_country():
    template = Template(
        "{% load contacts_tags %}{{ p|phone:'BG' }}|{{ q|phone:'BG' }}|{{ r|phone }}"
    )
    rendered = template.render(
        Context({"p": "+35921234567", "q": "+442079460958", "r": "not e164"})
    )
    assert rendered == "02 123 4567|+44 20 7946 0958|not e164"


def test_detail_pages_show_phones_in_national_format(bg_org, owner, owner_client, in_org):
    company = make_company(in_org, owner, name="Acme", phone="+35929812345")
    contact = make_contact(in_org, owner, phone="+35921234567", mobile="+447911123456")

    contact_page = owner_client.get(contact.get_absolute_url()).content.decode()
    company_page = owner_client.get(company.get_absolute_url()).content.decode()

    assert 'href="tel:+35921234567"' in contact_page
    assert "02 123 4567" in contact_page
    assert "+44 7911 123456" in contact_page
    assert 'data-testid="call-action"' in contact_page
    assert "02 981 2345" in company_page
    assert 'href="tel:+35929812345"' in company_page


def test_contact_form_parses_phones_and_shows_them_nationally(bg_org, owner, owner_client, in_org):
    contact = make_contact(in_org, owner, phone="+35921234567")
    url = reverse("contacts:contact_edit", args=[contact.pk])

    opened = owner_client.get(url)
    bad = owner_client.post(url, {"first_name": "Ada", "phone": "12", "lifecycle_stage": "lead"})
    saved = owner_client.post(
        url,
        {
            "first_name": "Ada",
            "phone": "02 981 2345",
            "mobile": "0888 123 456",
            "lifecycle_stage": "lead",
            "email_opt_in": "unknown",
            "phone_opt_in": "unknown",
            "sms_opt_in": "unknown",
        },
    )

    assert opened.context["form"]["phone"].value() == "02 123 4567"
    assert bad.status_code == 400
    assert bad.context["form"].errors["phone"] == [INVALID]
    assert saved.status_code == 302, saved.context["form"].errors
    contact.refresh_from_db()
    assert (contact.phone, contact.mobile) == ("+35929812345", "+359888123456")


def test_api_takes_typed_phones_and_answers_e164(bg_org, owner):
    client = api_client(owner, bg_org)
    response = client.post(
        reverse("contact-list"), {"first_name": "Ada", "phone": "02 123 4567"}, format="json"
    )
    bad = client.post(reverse("company-list"), {"name": "Acme", "phone": "123"}, format="json")

    assert response.status_code == 201
    assert response.json()["phone"] == "+35921234567"
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"phone": [INVALID]}}


def test_data_migration_converts_what_parses_and_leaves_the_rest(bg_org, owner, in_org):
    good = make_contact(in_org, owner)
    odd = make_contact(in_org, owner)
    company = make_company(in_org, owner)
    Contact.objects.filter(pk=good.pk).update(phone="02 123 4567", mobile="+44 20 7946 0958")
    Contact.objects.filter(pk=odd.pk).update(phone="ask reception")
    Company.objects.filter(pk=company.pk).update(phone="(02) 981-2345")
    migration = importlib.import_module("pulse.contacts.migrations.0004_phones_e164")

    migration.phones_to_e164(apps, None)

    good.refresh_from_db()
    odd.refresh_from_db()
    company.refresh_from_db()
    assert (good.phone, good.mobile) == ("+35921234567", "+442079460958")
    assert odd.phone == "ask reception"
    assert company.phone == "+35929812345"


# --- further emails --------------------------------------------------------------------


def test_other_emails_are_tidied(in_org, owner):
    contact = contact_create(
        org=in_org,
        actor=owner,
        first_name="Ada",
        email="ada@example.com",
        other_emails=[
            {"label": "WORK", "email": " ada@work.example "},
            {"label": "", "email": "ada@home.example"},
            {"label": "Conference badge", "email": "ada@conf.example"},
        ],
    )
    contact.refresh_from_db()
    assert contact.other_emails == [
        {"label": "work", "email": "ada@work.example"},
        {"label": "other", "email": "ada@home.example"},
        {"label": "Conference badge", "email": "ada@conf.example"},
    ]
    assert contact.all_emails == [
        ("Primary", "ada@example.com"),
        ("Work", "ada@work.example"),
        ("Other", "ada@home.example"),
        ("Conference badge", "ada@conf.example"),
    ]


@pytest.mark.parametrize(
    "other_emails, message",
    [
        ([{"label": "work", "email": "nope"}], "“nope” is not a valid email address."),
        ([{"label": "x" * 31, "email": "a@b.example"}], "Keep the label of “a@b.example” to 30"),
        (
            [{"email": "a@b.example"}, {"email": "A@B.example"}],
            "“A@B.example” is listed twice.",
        ),
        ([{"email": "ADA@example.com"}], "“ADA@example.com” is already the primary email."),
        ([{"email": ""}], "Enter the address of each further email."),
        ([{"mail": "a@b.example"}], "Give each further email as {label, email}."),
        ("a@b.example", "Give a list of {label, email} entries."),
        ([{"email": f"a{i}@b.example"} for i in range(21)], "at most 20 further emails"),
    ],
)
def test_bad_other_emails_are_errors_on_the_field(in_org, owner, other_emails, message):
    with pytest.raises(ApplicationError) as exc:
        contact_create(
            org=in_org,
            actor=owner,
            first_name="Ada",
            email="ada@example.com",
            other_emails=other_emails,
        )
    assert set(exc.value.errors) == {"other_emails"}
    assert any(message in m for m in exc.value.errors["other_emails"]), exc.value.errors
    assert Contact.objects.count() == 0


def test_clean_other_emails_reports_every_problem():
    with pytest.raises(ValidationError) as exc:
        clean_other_emails([{"email": "x"}, {"email": "y"}], "")
    assert exc.value.messages == [
        "“x” is not a valid email address.",
        "“y” is not a valid email address.",
    ]
    assert clean_other_emails(None) == []


def _contact_form(**extra):
    data = {
        "first_name": "Ada",
        "email": "ada@example.com",
        "lifecycle_stage": "lead",
        "email_opt_in": "unknown",
        "phone_opt_in": "unknown",
        "sms_opt_in": "unknown",
        "other_emails-present": "1",
    }
    data.update(extra)
    return data


def test_form_edits_other_emails_as_rows(owner, owner_client, in_org):
    contact = make_contact(
        in_org, owner, email="ada@example.com", other_emails=[{"label": "home", "email": "a@h.ex"}]
    )
    url = reverse("contacts:contact_edit", args=[contact.pk])

    page = owner_client.get(url).content.decode()
    response = owner_client.post(
        url,
        _contact_form(
            **{
                # The old row removed, one kept with a new label, a blank row ignored.
                "other_emails-label": ["work", "", "x"],
                "other_emails-email": ["ada@work.example", "", ""],
            }
        ),
    )

    assert 'name="other_emails-email" value="a@h.ex"' in page
    assert page.count('name="other_emails-email"') == 3  # the row, a blank one, the template
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.other_emails == [{"label": "work", "email": "ada@work.example"}]


def test_form_clears_other_emails_when_every_row_is_removed(owner, owner_client, in_org):
    contact = make_contact(in_org, owner, other_emails=[{"label": "home", "email": "a@h.ex"}])
    url = reverse("contacts:contact_edit", args=[contact.pk])
    response = owner_client.post(url, _contact_form())
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.other_emails == []


def test_form_shows_other_email_errors_on_the_field(owner, owner_client):
    response = owner_client.post(
        reverse("contacts:contact_create"),
        _contact_form(
            **{
                "other_emails-label": ["work", "home"],
                "other_emails-email": ["bad-address", "ADA@example.com"],
            }
        ),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["other_emails"] == [
        "“bad-address” is not a valid email address.",
        "“ADA@example.com” is already the primary email.",
    ]
    page = response.content.decode()
    assert 'value="bad-address"' in page  # what was typed is kept


def test_detail_page_links_every_email(owner, owner_client, in_org):
    contact = make_contact(
        in_org,
        owner,
        email="ada@example.com",
        other_emails=[{"label": "work", "email": "ada@work.example"}],
    )
    page = owner_client.get(contact.get_absolute_url()).content.decode()
    assert 'href="mailto:ada@work.example"' in page
    assert 'data-testid="email-action"' in page
    assert ">Work</span>" in page


def test_api_accepts_and_returns_other_emails(org, owner):
    client = api_client(owner, org)
    response = client.post(
        reverse("contact-list"),
        {
            "first_name": "Ada",
            "email": "ada@example.com",
            "other_emails": [{"label": "work", "email": "ada@work.example"}],
        },
        format="json",
    )
    bad = client.post(
        reverse("contact-list"),
        {"first_name": "Ada", "other_emails": [{"label": "work", "email": "nope"}]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["other_emails"] == [{"label": "work", "email": "ada@work.example"}]
    detail = client.get(reverse("contact-detail", kwargs={"pk": response.json()["id"]}))
    assert detail.json()["other_emails"] == [{"label": "work", "email": "ada@work.example"}]
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"other_emails": ["“nope” is not a valid email address."]}}


# --- detail pages ------------------------------------------------------------------------


def test_contact_detail_has_key_facts_tabs_related_records_and_actions(owner, owner_client, in_org):
    company = make_company(in_org, owner, name="Analytical Engines")
    contact = make_contact(in_org, owner, company=company, phone="+442079460958")
    page = owner_client.get(contact.get_absolute_url()).content.decode()
    for marker in (
        'data-testid="key-facts"',
        'id="tab-timeline"',
        'id="tab-history"',
        'data-testid="relationships"',
        'data-testid="edit"',
        'data-testid="delete"',
        'data-testid="email-action"',
        'data-testid="call-action"',
        'data-testid="add-relationship"',
        'id="relationship-modal"',
        "Analytical Engines",
    ):
        assert marker in page, marker


def test_company_detail_has_key_facts_tabs_related_records_and_actions(owner, owner_client, in_org):
    company = make_company(in_org, owner, name="Acme", phone="+442079460958", website="acme.ex")
    make_contact(in_org, owner, company=company, first_name="Wile")
    page = owner_client.get(company.get_absolute_url()).content.decode()
    for marker in (
        'data-testid="key-facts"',
        'id="tab-timeline"',
        'id="tab-history"',
        'data-testid="company-contacts"',
        'data-testid="hierarchy"',
        'data-testid="edit"',
        'data-testid="delete"',
        'data-testid="call-action"',
        'data-testid="website-action"',
        "Wile",
    ):
        assert marker in page, marker
