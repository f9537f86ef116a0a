"""The scale data generator, run tiny on the test database (bench/generate.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from bench import BIG_ORG_SLUG, OWNER_EMAIL, PASSWORD
from bench.generate import SMALL_ORGS, generate
from pulse.accounts.models import Membership, Organization
from pulse.contacts.models import Company, Contact, company_name_key, email_domain
from pulse.contacts.phones import is_e164
from pulse.extras.models import Tag

pytestmark = pytest.mark.django_db


def _quiet(*args):
    pass


def _generate(**kwargs):
    return generate(size="tiny", contacts=200, companies=20, out=_quiet, **kwargs)


def test_generator_fills_one_big_and_two_small_organizations():
    summary = _generate()

    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    smalls = list(Organization.objects.filter(slug__in=SMALL_ORGS).order_by("slug"))
    assert [o.slug for o in smalls] == list(SMALL_ORGS)
    assert Contact.objects.unscoped().filter(organization=big).count() == 200
    assert Company.objects.unscoped().filter(organization=big).count() == 20
    for small in smalls:
        assert Contact.objects.unscoped().filter(organization=small).count() == 4
        assert Company.objects.unscoped().filter(organization=small).count() == 1
    assert summary.rows["contacts.Contact"] == 208
    assert summary.rows["contacts.Company"] == 22
    assert Membership.objects.unscoped().filter(organization=big).count() == 25


def test_generated_rows_never_point_into_another_organization():
    _generate()

    contacts = Contact.objects.unscoped().select_related("company", "assigned_to")
    for contact in contacts.filter(company__isnull=False):
        assert contact.company.organization_id == contact.organization_id
    member_orgs = {(m.organization_id, m.user_id) for m in Membership.objects.unscoped().all()}
    for contact in contacts.filter(assigned_to__isnull=False):
        assert (contact.organization_id, contact.assigned_to_id) in member_orgs
    links = Contact.tags.through.objects.select_related("contact", "tag")
    assert links.exists()
    for link in links:
        assert link.tag.organization_id == link.contact.organization_id
    for company in Company.objects.unscoped().filter(parent__isnull=False).select_related("parent"):
        assert company.parent.organization_id == company.organization_id


def test_generated_rows_are_what_the_models_would_store():
    _generate()

    for contact in Contact.objects.unscoped().all():
        assert contact.email_domain == email_domain(contact.email)
        for number in (contact.phone, contact.mobile):
            assert number == "" or is_e164(number)
    for company in Company.objects.unscoped().all():
        assert company.name_key == company_name_key(company.name)
        company.full_clean()
    sample = Contact.objects.unscoped().exclude(email="").first()
    sample.full_clean()
    assert Tag.objects.unscoped().filter(organization__slug=BIG_ORG_SLUG).count() == 30


def test_generator_is_reproducible_and_reset_replaces_the_set():
    _generate(seed=3)
    first = sorted(Contact.objects.unscoped().values_list("first_name", "last_name", "email"))

    _generate(seed=3, do_reset=True)
    again = sorted(Contact.objects.unscoped().values_list("first_name", "last_name", "email"))

    assert again == first
    assert Organization.objects.filter(slug=BIG_ORG_SLUG).count() == 1


def test_generator_refuses_to_add_a_second_set_without_reset():
    _generate()

    with pytest.raises(SystemExit):
        _generate()
    assert Contact.objects.unscoped().count() == 208


def test_generated_owner_signs_in_with_the_known_password():
    _generate()

    user = authenticate(username=OWNER_EMAIL, password=PASSWORD)

    assert user is not None
    assert Membership.objects.unscoped().get(user=user).organization.slug == BIG_ORG_SLUG
