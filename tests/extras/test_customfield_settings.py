"""The custom fields settings page and API: owners/admins define fields per record type."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from pulse.contacts.models import Company, Contact
from pulse.core.errors import ApplicationError
from pulse.core.testing import api_client
from pulse.core.testing.records import snapshot
from pulse.extras.models import CustomField, Tag
from pulse.extras.services import customfield_create, customfield_update
from tests.conftest import login


@pytest.fixture
def contact_type(db):
    return ContentType.objects.get_for_model(Contact)


# --- services ----------------------------------------------------------------------------


def test_choice_fields_need_choices_and_others_keep_none(in_org, owner, contact_type):
    with pytest.raises(ApplicationError) as caught:
        customfield_create(
            org=in_org,
            actor=owner,
            content_type=contact_type,
            key="tier",
            label="Tier",
            field_type="choice",
            choices=[" ", ""],
        )
    assert caught.value.errors == {"choices": ["Give at least one choice."]}
    text = customfield_create(
        org=in_org,
        actor=owner,
        content_type=contact_type,
        key="nick",
        label="Nick",
        field_type="text",
        choices=["ignored"],
    )
    assert text.choices == []
    tier = customfield_create(
        org=in_org,
        actor=owner,
        content_type=contact_type,
        key="tier",
        label="Tier",
        field_type="choice",
        choices=" Gold \nSilver\nGold\n",
    )
    assert tier.choices == ["Gold", "Silver"]
    assert (text.position, tier.position) == (1, 2)


def test_key_type_and_record_type_are_fixed(in_org, owner, contact_type):
    field = customfield_create(
        org=in_org,
        actor=owner,
        content_type=contact_type,
        key="nick",
        label="Nick",
        field_type="text",
    )
    for change in (
        {"key": "nickname"},
        {"field_type": "number"},
        {"content_type": ContentType.objects.get_for_model(Company)},
    ):
        with pytest.raises(ApplicationError) as caught:
            customfield_update(field=field, actor=owner, **change)
        assert caught.value.errors == {
            next(iter(change)): ["This cannot be changed once the field exists."]
        }
    updated = customfield_update(field=field, actor=owner, key="nick", label="Nickname")
    assert (updated.key, updated.label) == ("nick", "Nickname")


def test_keys_are_unique_per_record_type_and_checked(in_org, owner, contact_type):
    customfield_create(
        org=in_org, actor=owner, content_type=contact_type, key="nick", label="N", field_type="text"
    )
    with pytest.raises(ApplicationError) as caught:
        customfield_create(
            org=in_org,
            actor=owner,
            content_type=contact_type,
            key="nick",
            label="N2",
            field_type="text",
        )
    assert caught.value.errors == {
        "__all__": ["This record type already has a field with this key."]
    }
    # The same key on another record type is fine.
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Company),
        key="nick",
        label="N",
        field_type="text",
    )
    for key, error_field in (("Bad Key", "key"), ("seats_min", "key")):
        with pytest.raises(ApplicationError) as caught:
            customfield_create(
                org=in_org,
                actor=owner,
                content_type=contact_type,
                key=key,
                label="X",
                field_type="text",
            )
        assert list(caught.value.errors) == [error_field]


def test_only_record_types_with_custom_fields_can_get_them(in_org, owner):
    with pytest.raises(ApplicationError) as caught:
        customfield_create(
            org=in_org,
            actor=owner,
            content_type=ContentType.objects.get_for_model(Tag),
            key="x",
            label="X",
            field_type="text",
        )
    assert caught.value.errors == {"content_type": ["This record type has no custom fields."]}


# --- settings page -------------------------------------------------------------------------


def test_settings_page_groups_definitions_by_record_type(in_org, owner, contact_type):
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=contact_type,
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )
    response = login(owner, in_org).get(reverse("extras:customfield_list"))
    assert response.status_code == 200
    html = response.content.decode()
    # companies, contacts, leads, opportunities
    assert html.count('data-testid="customfield-group"') == 4
    html = html[html.index('data-testid="customfield-group"') :]
    assert html.index("Companies") < html.index("Contacts") < html.index("Tier")
    assert "Gold, Silver" in html


def test_settings_page_is_for_owners_and_admins(in_org, admin_user, rep):
    assert login(admin_user, in_org).get(reverse("extras:customfield_list")).status_code == 200
    assert login(rep, in_org).get(reverse("extras:customfield_list")).status_code == 403
    assert login(rep, in_org).get(reverse("extras:customfield_create")).status_code == 403


def test_create_edit_delete_definition_through_the_web(in_org, owner, contact_type):
    client = login(owner, in_org)
    form = client.get(reverse("extras:customfield_create"), {"content_type": contact_type.pk})
    assert form.status_code == 200
    assert f'<option value="{contact_type.pk}" selected>Contacts</option>' in form.content.decode()

    response = client.post(
        reverse("extras:customfield_create"),
        {
            "content_type": contact_type.pk,
            "label": "Tier",
            "key": "tier",
            "field_type": "choice",
            "choices": "Gold\nSilver",
            "help_text": "Customer tier",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get()
    assert (field.key, field.choices, field.position, field.created_by) == (
        "tier",
        ["Gold", "Silver"],
        1,
        owner,
    )

    edit_url = reverse("extras:customfield_edit", args=[field.pk])
    page = client.get(edit_url).content.decode()
    assert "Gold\nSilver</textarea>" in page
    response = client.post(
        edit_url,
        {
            "key": "hacked",  # disabled field: ignored
            "label": "Customer tier",
            "field_type": "text",  # disabled field: ignored
            "choices": "Gold\nSilver\nBronze",
            "required": "on",
            "version": field.version,
        },
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.key, field.field_type, field.label, field.choices, field.required) == (
        "tier",
        "choice",
        "Customer tier",
        ["Gold", "Silver", "Bronze"],
        True,
    )

    assert client.post(reverse("extras:customfield_delete", args=[field.pk])).status_code == 302
    assert CustomField.trash.get().pk == field.pk


def test_invalid_definition_shows_errors_and_saves_nothing(in_org, owner, contact_type):
    response = login(owner, in_org).post(
        reverse("extras:customfield_create"),
        {"content_type": contact_type.pk, "label": "Tier", "key": "tier", "field_type": "choice"},
    )
    assert response.status_code == 400
    assert "Give at least one choice." in response.content.decode()
    assert CustomField.objects.count() == 0


def test_rep_cannot_post_definitions(in_org, rep, contact_type):
    response = login(rep, in_org).post(
        reverse("extras:customfield_create"),
        {"content_type": contact_type.pk, "label": "X", "key": "x", "field_type": "text"},
    )
    assert response.status_code == 403
    assert CustomField.objects.count() == 0


# --- API -------------------------------------------------------------------------------------


def test_api_definitions_crud(in_org, owner, rep):
    client = api_client(owner, in_org)
    created = client.post(
        "/api/crm/custom-fields/",
        {
            "record_type": "contacts.contact",
            "key": "tier",
            "label": "Tier",
            "field_type": "multi_choice",
            "choices": ["Gold", "Silver"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["record_type"], body["key"], body["choices"], body["position"]) == (
        "contacts.contact",
        "tier",
        ["Gold", "Silver"],
        1,
    )
    url = f"/api/crm/custom-fields/{body['id']}/"
    assert client.patch(url, {"label": "Level"}, format="json").json()["label"] == "Level"
    refused = client.patch(url, {"key": "level"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"errors": {"key": ["This cannot be changed once the field exists."]}}

    # Everyone may read the definitions (forms and clients need them), not change them.
    rep_client = api_client(rep, in_org)
    listed = rep_client.get("/api/crm/custom-fields/", {"record_type": "contacts.contact"})
    assert [d["key"] for d in listed.json()["results"]] == ["tier"]
    assert (
        rep_client.get("/api/crm/custom-fields/", {"record_type": "contacts.company"}).json()[
            "results"
        ]
        == []
    )
    field = CustomField.objects.get()
    before = snapshot(field)
    assert rep_client.patch(url, {"label": "X"}, format="json").status_code == 403
    assert rep_client.delete(url).status_code == 403
    assert snapshot(field) == before

    assert client.delete(url).status_code == 204
    assert CustomField.trash.count() == 1


def test_api_unknown_record_type_is_a_400(in_org, owner):
    response = api_client(owner, in_org).post(
        "/api/crm/custom-fields/",
        {"record_type": "nope.nothing", "key": "x", "label": "X", "field_type": "text"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"record_type": ["Unknown record type."]}}
