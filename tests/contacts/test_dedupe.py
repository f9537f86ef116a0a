"""Duplicate detection: which existing contacts and companies look like a new one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from pulse.accounts.models import RecordVisibility, Role
from pulse.contacts.dedupe import (
    DuplicateMatch,
    _combine,
    company_duplicates,
    contact_duplicates,
    fold,
)
from pulse.contacts.services import contact_delete
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact


@pytest.fixture
def bg_org(org, owner):
    org.country = "BG"
    org.save(update_fields=["country"])
    return org


def _ids(matches):
    return [m.record.pk for m in matches]


# --- contacts ---------------------------------------------------------------------------------


def test_same_email_matches_case_insensitively(in_org, owner):
    ada = make_contact(
        in_org, owner, first_name="Ada", last_name="Lovelace", email="Ada@Example.com"
    )
    make_contact(in_org, owner, first_name="Grace", last_name="Hopper", email="grace@example.com")

    matches = contact_duplicates(org=in_org, user=owner, fields={"email": " ADA@example.COM "})

    assert matches == [DuplicateMatch(record=ada, confidence=95, reasons=("Same email",))]


def test_other_emails_match_primary_emails_of_others(in_org, owner):
    ada = make_contact(in_org, owner, last_name="Lovelace", email="ada@home.org")

    matches = contact_duplicates(
        org=in_org,
        user=owner,
        fields={
            "first_name": "Augusta",
            "email": "augusta@work.org",
            "other_emails": [{"label": "home", "email": "ADA@home.org"}, "not-an-email"],
        },
    )

    assert _ids(matches) == [ada.pk]
    assert matches[0].reasons == ("Same email",)


def test_same_phone_matches_in_e164_whatever_the_typing(bg_org, owner):
    with tenant_context(bg_org, actor=owner):
        ada = make_contact(bg_org, owner, last_name="Lovelace", email="", phone="+35921234567")
        bob = make_contact(bg_org, owner, last_name="Builder", email="", mobile="+359888123456")
        make_contact(bg_org, owner, last_name="Other", email="", phone="+35929999999")

        by_phone = contact_duplicates(org=bg_org, user=owner, fields={"mobile": "02 123 4567"})
        by_mobile = contact_duplicates(
            org=bg_org, user=owner, fields={"phone": "0888 123 456", "mobile": "garbage"}
        )

    assert by_phone == [DuplicateMatch(ada, 85, ("Same phone number",))]
    assert by_mobile == [DuplicateMatch(bob, 85, ("Same phone number",))]


def test_similar_name_at_the_same_company(in_org, owner):
    acme = make_company(in_org, owner, name="Acme")
    globex = make_company(in_org, owner, name="Globex")
    jon = make_contact(in_org, owner, first_name="Jon", last_name="Smith", email="", company=acme)
    make_contact(in_org, owner, first_name="John", last_name="Smith", email="", company=globex)
    make_contact(in_org, owner, first_name="Jane", last_name="Doe", email="", company=acme)

    matches = contact_duplicates(
        org=in_org,
        user=owner,
        fields={"first_name": "John", "last_name": "Smith", "company": str(acme.pk)},
    )

    assert matches == [DuplicateMatch(jon, 75, ("Similar name at the same company",))]


def test_same_name_in_other_order_at_the_same_company(in_org, owner):
    acme = make_company(in_org, owner, name="Acme")
    jose = make_contact(in_org, owner, first_name="José", last_name="Núñez", email="", company=acme)

    matches = contact_duplicates(
        org=in_org, user=owner, fields={"first_name": "nunez", "last_name": "JOSE", "company": acme}
    )

    assert matches == [DuplicateMatch(jose, 75, ("Same name at the same company",))]


def test_similar_name_with_the_same_email_domain_but_never_free_mail(in_org, owner):
    work = make_contact(in_org, owner, first_name="John", last_name="Smith", email="js@acme.io")
    make_contact(in_org, owner, first_name="John", last_name="Smith", email="john77@gmail.com")

    at_work = contact_duplicates(
        org=in_org,
        user=owner,
        fields={"first_name": "Jon", "last_name": "Smith", "email": "jon.smith@ACME.io"},
    )
    at_gmail = contact_duplicates(
        org=in_org,
        user=owner,
        fields={"first_name": "John", "last_name": "Smith", "email": "smith.j@gmail.com"},
    )

    assert at_work == [DuplicateMatch(work, 70, ("Similar name with the same email domain",))]
    assert at_gmail == []


def test_several_reasons_combine_and_rank_first(in_org, owner):
    acme = make_company(in_org, owner, name="Acme")
    both = make_contact(
        in_org, owner, first_name="Ada", last_name="King", email="ada@acme.io", company=acme
    )
    mail_only = make_contact(in_org, owner, first_name="Zed", last_name="Z", email="ADA@ACME.IO")

    matches = contact_duplicates(
        org=in_org,
        user=owner,
        fields={"first_name": "Ada", "last_name": "King", "email": "ada@acme.io", "company": acme},
    )

    assert _ids(matches) == [both.pk, mail_only.pk]
    assert matches[0].confidence == 99
    assert matches[0].reasons == (
        "Same email",
        "Same name at the same company",
        "Same name with the same email domain",
    )
    assert matches[1] == DuplicateMatch(mail_only, 95, ("Same email",))


def test_combine_is_capped_below_certainty():
    assert _combine([95]) == 95
    assert _combine([95, 85]) == 99
    assert _combine([95, 90, 85]) == 99
    assert _combine([75, 70]) == 92
    assert _combine([]) == 0


def test_excludes_the_record_itself_trashed_ones_and_respects_limit(in_org, owner):
    me = make_contact(in_org, owner, last_name="Me", email="same@x.org")
    gone = make_contact(in_org, owner, last_name="Gone", email="same@x.org")
    contact_delete(contact=gone, actor=owner)
    others = [make_contact(in_org, owner, last_name=f"N{i}", email="same@x.org") for i in range(4)]

    matches = contact_duplicates(
        org=in_org, user=owner, fields={"email": "same@x.org"}, exclude_pk=me.pk, limit=3
    )

    assert len(matches) == 3
    assert set(_ids(matches)) <= {o.pk for o in others}
    assert me.pk not in _ids(matches) and gone.pk not in _ids(matches)


def test_only_records_the_user_may_see(org, owner):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP)
    with tenant_context(org, actor=owner):
        make_contact(org, owner, last_name="Hidden", email="ada@x.org", assigned_to=owner)
        mine = make_contact(org, rep, last_name="Mine", email="ada@x.org", assigned_to=rep)
        matches = contact_duplicates(org=org, user=rep, fields={"email": "ada@x.org"})
        owner_matches = contact_duplicates(org=org, user=owner, fields={"email": "ada@x.org"})

    assert len(owner_matches) == 2
    assert _ids(matches) == [mine.pk]


def test_never_another_organizations_records(org, other_org, owner, other_owner):
    with tenant_context(other_org, actor=other_owner):
        make_contact(other_org, other_owner, email="ada@x.org")
    with tenant_context(org, actor=owner):
        assert contact_duplicates(org=org, user=owner, fields={"email": "ada@x.org"}) == []


def test_empty_or_odd_input_finds_nothing_and_never_raises(in_org, owner):
    make_contact(in_org, owner, first_name="", last_name="X", email="x@x.org")
    for fields in (
        {},
        {"email": None, "phone": None, "other_emails": None},
        {"email": "nope", "phone": "abc", "mobile": "+1", "company": ""},
        {"other_emails": "x@x.org"},
        {"other_emails": {"weird": 1}},
    ):
        result = contact_duplicates(org=in_org, user=owner, fields=fields)
        assert result == ([] if fields != {"other_emails": "x@x.org"} else result)
    assert len(contact_duplicates(org=in_org, user=owner, fields={"other_emails": "x@x.org"})) == 1


def test_contact_check_costs_a_fixed_number_of_queries(in_org, owner):
    acme = make_company(in_org, owner, name="Acme")
    for i in range(5):
        make_contact(in_org, owner, first_name="Ada", last_name=f"K{i}", email="a@acme.io")
    fields = {
        "first_name": "Ada",
        "last_name": "K",
        "email": "a@acme.io",
        "phone": "+35921234567",
        "company": acme.pk,
    }
    contact_duplicates(org=in_org, user=owner, fields=fields)  # membership cache warm
    with CaptureQueriesContext(connection) as queries:
        contact_duplicates(org=in_org, user=owner, fields=fields)

    assert len(queries) <= 4


# --- companies ---------------------------------------------------------------------------------


def test_company_same_normalized_name(in_org, owner):
    acme = make_company(in_org, owner, name="The ACME, Inc.")
    make_company(in_org, owner, name="Globex")

    matches = company_duplicates(org=in_org, user=owner, fields={"name": "Acme Ltd"})

    assert matches == [DuplicateMatch(acme, 90, ("Same name",))]


def test_company_same_domain_from_website_or_domain(in_org, owner):
    nw = make_company(in_org, owner, name="Northwind", website="https://www.northwind.com/x")

    by_site = company_duplicates(
        org=in_org, user=owner, fields={"name": "NW Traders", "website": "northwind.com"}
    )
    by_domain = company_duplicates(
        org=in_org, user=owner, fields={"name": "Other", "domain": "NorthWind.com"}
    )

    assert by_site == [DuplicateMatch(nw, 85, ("Same website domain",))]
    assert by_domain == [DuplicateMatch(nw, 85, ("Same website domain",))]


def test_company_similar_name_sharing_the_first_word(in_org, owner):
    acme = make_company(in_org, owner, name="Acme Industries")
    make_company(in_org, owner, name="Acme Bakery")

    matches = company_duplicates(org=in_org, user=owner, fields={"name": "ACME Industrie"})

    assert matches == [DuplicateMatch(acme, 70, ("Similar name",))]


def test_company_name_and_domain_combine(in_org, owner):
    acme = make_company(in_org, owner, name="Acme", website="acme.io")

    matches = company_duplicates(
        org=in_org, user=owner, fields={"name": "ACME GmbH", "website": "https://acme.io"}
    )

    assert matches == [DuplicateMatch(acme, 98, ("Same name", "Same website domain"))]


def test_company_excludes_itself_and_free_mail_domains(in_org, owner):
    acme = make_company(in_org, owner, name="Acme", domain="gmail.com")

    assert company_duplicates(org=in_org, user=owner, fields={"domain": "gmail.com"}) == []
    assert (
        company_duplicates(org=in_org, user=owner, fields={"name": "Acme"}, exclude_pk=acme.pk)
        == []
    )


def test_company_check_costs_a_fixed_number_of_queries(in_org, owner):
    for i in range(5):
        make_company(in_org, owner, name=f"Acme {i}", website="acme.io")
    company_duplicates(org=in_org, user=owner, fields={"name": "x"})
    with CaptureQueriesContext(connection) as queries:
        company_duplicates(org=in_org, user=owner, fields={"name": "Acme 1", "domain": "acme.io"})

    assert len(queries) == 3


# --- the warning partial -----------------------------------------------------------------------


def test_warning_partial_links_each_match_with_reasons(in_org, owner):
    ada = make_contact(in_org, owner, first_name="Ada", last_name="Lovelace", email="ada@x.org")
    matches = contact_duplicates(org=in_org, user=owner, fields={"email": "ada@x.org"})

    html = render_to_string(
        "contacts/partials/duplicate_warning.html",
        {"duplicates": matches, "resubmit": [("email", "ada@x.org")]},
    )

    assert ada.get_absolute_url() in html
    assert "Same email" in html and "95%" in html
    assert 'name="confirm_duplicates" value="1"' in html
    assert 'name="email" value="ada@x.org"' in html
    assert (
        render_to_string("contacts/partials/duplicate_warning.html", {"duplicates": []}).strip()
        == ""
    )


def test_fold_drops_accents_case_and_extra_spaces():
    assert fold("  José   NÚÑEZ ") == "jose nunez"
