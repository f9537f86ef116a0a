"""Quick-create dialogs ("+ New" in the top bar): short forms with duplicate warnings."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.contacts.models import Company, Contact
from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def client_(org, owner):
    return web_client(owner, org)


def _contacts(org):
    with tenant_context(org):
        return list(Contact.objects.order_by("created_at"))


def test_top_bar_offers_the_new_menu_and_the_dialog_frame(org, owner, client_):
    content = client_.get(reverse("reports:dashboard")).content.decode()

    assert 'data-testid="quick-create-menu"' in content
    assert f'hx-get="{reverse("contacts:contact_quick_create")}"' in content
    assert f'hx-get="{reverse("contacts:company_quick_create")}"' in content
    assert 'id="quick-create-modal"' in content


def test_read_only_members_get_no_new_menu(org):
    viewer = make_member(org, Role.READ_ONLY)

    content = web_client(viewer, org).get(reverse("reports:dashboard")).content.decode()

    assert 'data-testid="quick-create-menu"' not in content


def test_dialog_form_for_htmx_and_page_without(client_):
    dialog = client_.get(reverse("contacts:contact_quick_create"), headers=HTMX)
    page = client_.get(reverse("contacts:contact_quick_create"))

    content = dialog.content.decode()
    assert dialog.status_code == 200
    assert "<html" not in content
    for name in ("first_name", "last_name", "email", "phone", "company", "assigned_to"):
        assert f'name="{name}"' in content
    assert 'name="title"' not in content
    assert page.status_code == 200
    assert "<html" in page.content.decode()


def test_quick_create_contact_answers_with_a_toast_trigger(org, in_org, owner, client_):
    company = make_company(org, owner, name="Initech")

    response = client_.post(
        reverse("contacts:contact_quick_create"),
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@navy.example",
            "company": company.pk,
            "assigned_to": owner.pk,
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    [contact] = _contacts(org)
    assert (contact.full_name, contact.email, contact.company, contact.assigned_to) == (
        "Grace Hopper",
        "grace@navy.example",
        company,
        owner,
    )
    trigger = json.loads(response["HX-Trigger"])["pulse:quickCreated"]
    assert trigger["url"] == contact.get_absolute_url()
    assert trigger["message"] == "“Grace Hopper” created."
    assert 'data-testid="quick-create-done"' in response.content.decode()


def test_quick_create_without_htmx_redirects_to_the_record(org, client_):
    response = client_.post(reverse("contacts:company_quick_create"), {"name": "Initech"})

    with tenant_context(org):
        company = Company.objects.get()
    assert response.status_code == 302
    assert response["Location"] == company.get_absolute_url()


def test_duplicate_warning_then_save_anyway(org, in_org, owner, client_):
    existing = make_contact(
        org, owner, first_name="Ada", last_name="Lovelace", email="ada@x.example"
    )
    data = {"first_name": "Augusta", "last_name": "King", "email": "ADA@x.example"}

    warned = client_.post(reverse("contacts:contact_quick_create"), data, headers=HTMX)
    saved = client_.post(
        reverse("contacts:contact_quick_create"),
        {**data, "confirm_duplicates": "1"},
        headers=HTMX,
    )

    content = warned.content.decode()
    assert warned.status_code == 200
    assert 'data-testid="duplicate-warning"' in content
    assert existing.get_absolute_url() in content
    assert 'data-testid="save-anyway"' in content
    assert "HX-Trigger" not in warned
    assert "pulse:quickCreated" in saved["HX-Trigger"]
    assert [c.email for c in _contacts(org)] == ["ada@x.example", "ADA@x.example"]


def test_company_duplicate_by_name(org, in_org, owner, client_):
    existing = make_company(org, owner, name="Initech Inc.")

    response = client_.post(
        reverse("contacts:company_quick_create"), {"name": "INITECH"}, headers=HTMX
    )

    assert existing.get_absolute_url() in response.content.decode()
    with tenant_context(org):
        assert Company.objects.count() == 1


def test_invalid_input_shows_field_errors_and_saves_nothing(org, client_):
    htmx = client_.post(
        reverse("contacts:contact_quick_create"),
        {"first_name": "", "last_name": "", "email": "nope"},
        headers=HTMX,
    )
    plain = client_.post(reverse("contacts:contact_quick_create"), {"email": "nope"})

    assert htmx.status_code == 200
    assert "invalid-feedback" in htmx.content.decode()
    assert plain.status_code == 400
    assert _contacts(org) == []


def test_quick_create_refused_to_read_only_members(org):
    viewer = web_client(make_member(org, Role.READ_ONLY), org)

    get = viewer.get(reverse("contacts:company_quick_create"), headers=HTMX)
    post = viewer.post(reverse("contacts:company_quick_create"), {"name": "X"}, headers=HTMX)

    assert (get.status_code, post.status_code) == (403, 403)
    with tenant_context(org):
        assert Company.objects.count() == 0


def test_required_custom_fields_are_asked_for_others_are_not(org, owner, client_):
    from django.contrib.contenttypes.models import ContentType

    from pulse.extras.services import customfield_create

    with tenant_context(org, actor=owner):
        content_type = ContentType.objects.get_for_model(Company)
        customfield_create(
            org=org,
            actor=owner,
            content_type=content_type,
            key="region_code",
            label="Region code",
            field_type="text",
            required=True,
        )
        customfield_create(
            org=org,
            actor=owner,
            content_type=content_type,
            key="notes_extra",
            label="Extra",
            field_type="text",
        )

    form = client_.get(reverse("contacts:company_quick_create"), headers=HTMX).content.decode()
    missing = client_.post(reverse("contacts:company_quick_create"), {"name": "A"}, headers=HTMX)
    ok = client_.post(
        reverse("contacts:company_quick_create"),
        {"name": "A", "cf_region_code": "EU"},
        headers=HTMX,
    )

    assert 'name="cf_region_code"' in form
    assert 'name="cf_notes_extra"' not in form
    assert "HX-Trigger" not in missing
    assert "pulse:quickCreated" in ok["HX-Trigger"]
    with tenant_context(org):
        assert Company.objects.get().custom_fields == {"region_code": "EU"}
