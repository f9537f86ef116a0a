"""Contact and company services: given / when / then, with exact assertions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact, domain_from_website
from pulse.contacts.services import (
    company_bulk_action,
    company_create,
    company_delete,
    company_restore,
    company_update,
    contact_bulk_action,
    contact_create,
    contact_delete,
    contact_restore,
    contact_update,
)
from pulse.core.errors import ApplicationError
from pulse.core.services import record_create
from pulse.core.testing.records import snapshot
from pulse.extras.models import CustomField, Tag
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db


def _tag(org, actor, name, color="#123456"):
    return record_create(Tag, org=org, actor=actor, name=name, color=color)


# --- create ---------------------------------------------------------------------------


def test_contact_create_saves_fields_owner_and_audit(in_org, owner):
    company = make_company(in_org, owner, name="Northwind")
    vip = _tag(in_org, owner, "VIP")

    contact = contact_create(
        org=in_org,
        actor=owner,
        first_name=" Ada ",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0958",
        company=company,
        country="gb",
        x_handle="ada",
        website="ada.dev",
        tags=[vip],
    )

    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert contact.full_name == "Ada Lovelace"
    assert str(contact) == "Ada Lovelace"
    assert contact.country == "GB"
    assert contact.x_handle == "@ada"
    assert contact.website == "https://ada.dev"
    assert contact.assigned_to == owner
    assert contact.created_by == owner
    assert contact.version == 1
    assert list(contact.tags.all()) == [vip]
    assert contact.company == company
    entry = AuditEntry.objects.get(object_id=str(contact.pk), action="create")
    assert entry.actor == owner
    assert entry.changes["email"] == [None, "ada@example.com"]


def test_contact_str_falls_back_to_email(in_org, owner):
    contact = contact_create(org=in_org, actor=owner, email="someone@example.com")
    assert str(contact) == "someone@example.com"


def test_contact_without_name_or_email_is_refused(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, title="CEO")
    assert set(exc.value.errors) == {"last_name"}
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 234 567 890 123 456 7"}, "phone"),
        ({"mobile": "call me maybe"}, "mobile"),
        ({"country": "XX"}, "country"),
        ({"lifecycle_stage": "ghost"}, "lifecycle_stage"),
        ({"x_handle": "way too long handle!"}, "x_handle"),
        ({"preferred_language": "English"}, "preferred_language"),
    ],
)
def test_contact_bad_input_is_a_field_error(in_org, owner, fields, error_field):
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, first_name="Ada", **fields)
    assert error_field in exc.value.errors
    assert Contact.objects.count() == 0


def test_phone_with_separators_is_stored_as_e164(in_org, owner):
    in_org.country = "BG"  # "(02) …" is read as a Bulgarian number
    contact = contact_create(
        org=in_org, actor=owner, first_name="Ada", phone="(02) 981-2345", mobile="+359 88 123 4567"
    )
    contact.refresh_from_db()
    assert (contact.phone, contact.mobile) == ("+35929812345", "+359881234567")


def test_owner_must_be_a_member_of_the_organization(in_org, owner, other_org, other_owner):
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, first_name="Ada", assigned_to=other_owner)
    assert set(exc.value.errors) == {"assigned_to"}


def test_company_of_another_organization_is_refused(in_org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        theirs = make_company(other_org, other_owner)
    with pytest.raises(ApplicationError) as exc:
        contact_create(org=in_org, actor=owner, first_name="Ada", company=theirs)
    assert set(exc.value.errors) == {"company"}


def test_company_create_derives_domain_and_currency(in_org, owner):
    company = company_create(
        org=in_org,
        actor=owner,
        name="Northwind Traders",
        website="www.Northwind.example/about",
        annual_revenue=Decimal("1250000.50"),
    )
    company.refresh_from_db()
    assert company.website == "https://www.Northwind.example/about"
    assert company.domain == "northwind.example"
    assert company.currency == in_org.default_currency
    assert company.annual_revenue == Decimal("1250000.50")


def test_company_typed_domain_is_kept_and_lower_cased(in_org, owner):
    company = company_create(
        org=in_org, actor=owner, name="Globex", website="https://globex.example", domain="GLOBEX.IO"
    )
    assert company.domain == "globex.io"


def test_domain_follows_a_changed_website_unless_typed(in_org, owner):
    company = company_create(org=in_org, actor=owner, name="A", website="https://a.example")
    company = company_update(company=company, actor=owner, website="https://b.example")
    assert company.domain == "b.example"
    company = company_update(company=company, actor=owner, domain="brand.example")
    company = company_update(company=company, actor=owner, website="https://c.example")
    assert company.domain == "brand.example"


@pytest.mark.parametrize(
    "website, domain",
    [
        ("", ""),
        ("https://WWW.Example.com:8443/x", "example.com"),
        ("shop.example.org", "shop.example.org"),
    ],
)
def test_domain_from_website(website, domain):
    assert domain_from_website(website) == domain


def test_company_bad_phone_and_currency_are_field_errors(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        company_create(org=in_org, actor=owner, name="A", phone="12", currency="euro")
    assert set(exc.value.errors) == {"phone", "currency"}
    assert Company.objects.count() == 0


# --- update and versions -----------------------------------------------------------------


def test_contact_update_changes_fields_and_bumps_version(in_org, owner):
    contact = make_contact(in_org, owner)

    updated = contact_update(
        contact=contact,
        actor=owner,
        expected_version=1,
        title="Countess",
        lifecycle_stage="customer",
    )

    assert updated.version == 2
    contact.refresh_from_db()
    assert (contact.title, contact.lifecycle_stage) == ("Countess", "customer")
    entry = AuditEntry.objects.filter(object_id=str(contact.pk), action="update").get()
    assert entry.changes == {"title": ["", "Countess"], "lifecycle_stage": ["lead", "customer"]}


def test_stale_version_is_refused_and_nothing_changes(in_org, owner):
    contact = make_contact(in_org, owner)
    contact_update(contact=Contact.objects.get(pk=contact.pk), actor=owner, title="First")
    before = snapshot(contact)

    with pytest.raises(ApplicationError) as exc:
        contact_update(contact=contact, actor=owner, expected_version=1, title="Second")

    assert set(exc.value.errors) == {"version"}
    assert snapshot(contact) == before


def test_company_stale_version_is_refused(in_org, owner):
    company = make_company(in_org, owner)
    company_update(company=Company.objects.get(pk=company.pk), actor=owner, industry="Retail")
    with pytest.raises(ApplicationError) as exc:
        company_update(company=company, actor=owner, expected_version=1, industry="Food")
    assert set(exc.value.errors) == {"version"}
    assert Company.objects.get(pk=company.pk).industry == "Retail"


def test_update_of_trashed_contact_is_refused(in_org, owner):
    contact = make_contact(in_org, owner)
    contact_delete(contact=contact, actor=owner)
    with pytest.raises(ApplicationError):
        contact_update(contact=contact, actor=owner, title="Ghost")


# --- hierarchy ----------------------------------------------------------------------------


def test_parent_cycle_is_refused(in_org, owner):
    top = make_company(in_org, owner, name="Top")
    middle = make_company(in_org, owner, name="Middle", parent=top)
    bottom = make_company(in_org, owner, name="Bottom", parent=middle)
    before = snapshot(top)

    with pytest.raises(ApplicationError) as exc:
        company_update(company=top, actor=owner, parent=bottom)

    assert set(exc.value.errors) == {"parent"}
    assert snapshot(top) == before


def test_company_cannot_be_its_own_parent(in_org, owner):
    company = make_company(in_org, owner)
    with pytest.raises(ApplicationError) as exc:
        company_update(company=company, actor=owner, parent=company)
    assert set(exc.value.errors) == {"parent"}


def test_parent_of_another_organization_is_refused(in_org, owner, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        theirs = make_company(other_org, other_owner)
    with pytest.raises(ApplicationError) as exc:
        company_create(org=in_org, actor=owner, name="Mine", parent=theirs)
    assert set(exc.value.errors) == {"parent"}


# --- delete and restore -------------------------------------------------------------------


def test_contact_delete_and_restore_keep_relations(in_org, owner):
    company = make_company(in_org, owner)
    tag = _tag(in_org, owner, "Keep")
    contact = make_contact(in_org, owner, company=company, tags=[tag])

    contact_delete(contact=contact, actor=owner)

    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Contact.trash.get(pk=contact.pk).deleted_by == owner

    contact_restore(contact=Contact.trash.get(pk=contact.pk), actor=owner)

    restored = Contact.objects.get(pk=contact.pk)
    assert restored.company == company
    assert list(restored.tags.all()) == [tag]
    actions = list(
        AuditEntry.objects.filter(object_id=str(contact.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    # The tags are set after the row is created: an "update" entry of their own.
    assert actions == ["create", "update", "delete", "restore"]


def test_company_delete_and_restore(in_org, owner):
    company = make_company(in_org, owner)
    company_delete(company=company, actor=owner)
    assert Company.objects.count() == 0
    company_restore(company=Company.trash.get(pk=company.pk), actor=owner)
    assert Company.objects.get(pk=company.pk).deleted_at is None


# --- custom fields ------------------------------------------------------------------------


def _custom_field(org, actor, model, **fields):
    return record_create(
        CustomField,
        org=org,
        actor=actor,
        content_type=ContentType.objects.get_for_model(model),
        **fields,
    )


def test_custom_fields_are_validated(in_org, owner):
    _custom_field(
        in_org, owner, Contact, key="tier", label="Tier", field_type="choice", choices=["Gold"]
    )
    contact = contact_create(
        org=in_org, actor=owner, first_name="Ada", custom_fields={"tier": "Gold"}
    )
    assert contact.custom_fields == {"tier": "Gold"}

    with pytest.raises(ApplicationError) as exc:
        contact_update(contact=contact, actor=owner, custom_fields={"tier": "Tin"})
    assert set(exc.value.errors) == {"custom_fields.tier"}
    assert Contact.objects.get(pk=contact.pk).custom_fields == {"tier": "Gold"}


# --- bulk ------------------------------------------------------------------------------------


def test_bulk_actions_on_contacts(in_org, owner):
    rep = make_member(in_org, Role.SALES_REP)
    tag = _tag(in_org, owner, "Bulk")
    contacts = [make_contact(in_org, owner) for _ in range(3)]
    qs = Contact.objects.filter(pk__in=[c.pk for c in contacts[:2]]).prefetch_related("tags")

    assert contact_bulk_action(contacts=qs, actor=owner, action="assign", assigned_to=rep) == 2
    assert contact_bulk_action(contacts=qs, actor=owner, action="tag", tags=[tag]) == 2
    assert contact_bulk_action(contacts=qs, actor=owner, action="stage", stage="customer") == 2

    rows = {c.pk: c for c in Contact.objects.all()}
    for contact in contacts[:2]:
        row = rows[contact.pk]
        assert (row.assigned_to, row.lifecycle_stage) == (rep, "customer")
        assert list(row.tags.all()) == [tag]
    untouched = rows[contacts[2].pk]
    assert (untouched.assigned_to, untouched.lifecycle_stage) == (owner, "lead")

    assert contact_bulk_action(contacts=qs, actor=owner, action="delete") == 2
    assert set(Contact.objects.values_list("pk", flat=True)) == {contacts[2].pk}


def test_bulk_action_is_all_or_nothing(in_org, owner):
    companies = [make_company(in_org, owner) for _ in range(2)]
    outsider = make_member(in_org, Role.SALES_REP)
    from pulse.accounts.models import Membership

    Membership.objects.filter(user=outsider).update(deleted_at="2026-01-01T00:00:00Z")
    before = [snapshot(c) for c in companies]

    with pytest.raises(ApplicationError):
        company_bulk_action(
            companies=Company.objects.all(), actor=owner, action="assign", assigned_to=outsider
        )

    assert [snapshot(c) for c in companies] == before


def test_companies_have_no_stage_bulk_action(in_org, owner):
    make_company(in_org, owner)
    with pytest.raises(ApplicationError):
        company_bulk_action(
            companies=Company.objects.all(), actor=owner, action="stage", stage="lead"
        )
