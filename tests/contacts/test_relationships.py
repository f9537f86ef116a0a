"""Relationships between contacts: services, both detail pages, the dialog, the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import RecordVisibility, Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import ContactRelationship
from pulse.contacts.services import (
    contact_delete,
    contact_relationship_create,
    contact_relationship_delete,
    contact_relationship_update,
    contact_restore,
)
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import APITestCases, api_client
from tests.accounts.factories import make_member
from tests.conftest import login
from tests.contacts.factories import make_contact, make_contact_relationship

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(in_org, owner):
    grace = make_contact(in_org, owner, first_name="Grace", last_name="Hopper")
    alan = make_contact(in_org, owner, first_name="Alan", last_name="Turing")
    return grace, alan


# --- services --------------------------------------------------------------------------


def test_create_relationship_is_saved_and_audited(in_org, owner, pair):
    grace, alan = pair

    rel = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to", note=" x "
    )

    rel.refresh_from_db()
    assert (rel.from_contact, rel.to_contact, rel.kind) == (grace, alan, "reports_to")
    assert rel.note == "x"
    assert rel.created_by == owner
    assert AuditEntry.objects.filter(object_id=str(rel.pk), action="create").count() == 1
    assert str(rel) == "Grace Hopper – reports to – Alan Turing"


def test_relationship_with_itself_is_refused(in_org, owner, pair):
    grace, _alan = pair
    with pytest.raises(ApplicationError) as exc:
        contact_relationship_create(
            org=in_org, actor=owner, from_contact=grace, to_contact=grace, kind="spouse"
        )
    assert exc.value.errors == {"to_contact": ["A contact cannot be related to itself."]}
    assert ContactRelationship.objects.count() == 0


def test_duplicate_live_relationship_is_refused_but_allowed_after_removal(in_org, owner, pair):
    grace, alan = pair
    first = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
    )
    with pytest.raises(ApplicationError) as exc:
        contact_relationship_create(
            org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
        )
    assert exc.value.errors == {"__all__": ["These contacts already have this relationship."]}
    assert ContactRelationship.objects.count() == 1

    contact_relationship_delete(relationship=first, actor=owner)
    again = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
    )

    assert ContactRelationship.objects.get() == again
    assert ContactRelationship.trash.get() == first


def test_symmetric_relationship_cannot_be_repeated_the_other_way(in_org, owner, pair):
    grace, alan = pair
    contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="spouse"
    )
    with pytest.raises(ApplicationError) as exc:
        contact_relationship_create(
            org=in_org, actor=owner, from_contact=alan, to_contact=grace, kind="spouse"
        )
    assert exc.value.errors == {"__all__": ["These contacts already have this relationship."]}
    # A directed kind may go both ways (each referred the other).
    contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="referred_by"
    )
    contact_relationship_create(
        org=in_org, actor=owner, from_contact=alan, to_contact=grace, kind="referred_by"
    )
    assert ContactRelationship.objects.count() == 3


def test_contact_of_another_organization_is_refused(in_org, owner, other_org, other_owner, pair):
    grace, _alan = pair
    with tenant_context(other_org, actor=other_owner):
        stranger = make_contact(other_org, other_owner, first_name="Stranger")

    with pytest.raises(ApplicationError) as exc:
        contact_relationship_create(
            org=in_org, actor=owner, from_contact=grace, to_contact=stranger, kind="other"
        )

    assert exc.value.errors == {"to_contact": ["Choose a contact of this organization."]}
    assert ContactRelationship.objects.unscoped().count() == 0


def test_contact_in_the_trash_cannot_get_a_new_relationship(in_org, owner, pair):
    grace, alan = pair
    contact_delete(contact=alan, actor=owner)
    with pytest.raises(ApplicationError) as exc:
        contact_relationship_create(
            org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="other"
        )
    assert exc.value.errors == {"to_contact": ["This contact is in the trash."]}


def test_relationships_hide_while_a_contact_is_in_the_trash(in_org, owner, pair):
    grace, alan = pair
    rel = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
    )

    contact_delete(contact=alan, actor=owner)

    assert list(ContactRelationship.objects.all()) == []
    rel.refresh_from_db()
    assert rel.deleted_at is None  # kept, not trashed

    contact_restore(contact=alan, actor=owner)

    assert list(ContactRelationship.objects.all()) == [rel]


def test_update_changes_kind_and_note(in_org, owner, pair):
    grace, alan = pair
    rel = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="other"
    )
    contact_relationship_update(relationship=rel, actor=owner, kind="assistant_of", note=" PA ")
    rel.refresh_from_db()
    assert (rel.kind, rel.note, rel.version) == ("assistant_of", "PA", 2)


@pytest.mark.parametrize(
    "kind, on_from, on_to",
    [
        ("reports_to", "Reports to", "Manages"),
        ("assistant_of", "Assistant of", "Has assistant"),
        ("referred_by", "Referred by", "Referred"),
        ("spouse", "Spouse of", "Spouse of"),
        ("other", "Related to", "Related to"),
    ],
)
def test_wording_is_inverted_on_the_other_side(in_org, owner, pair, kind, on_from, on_to):
    grace, alan = pair
    rel = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind=kind
    )
    assert (rel.label_for(grace), rel.other(grace)) == (on_from, alan)
    assert (rel.label_for(alan), rel.other(alan)) == (on_to, grace)


# --- pages -----------------------------------------------------------------------------


def test_both_detail_pages_show_the_relationship(org, owner, owner_client, in_org, pair):
    grace, alan = pair
    contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
    )

    grace_page = owner_client.get(grace.get_absolute_url())
    alan_page = owner_client.get(alan.get_absolute_url())

    assert [(i["label"], i["other"]) for i in grace_page.context["relationships"]] == [
        ("Reports to", alan)
    ]
    assert [(i["label"], i["other"]) for i in alan_page.context["relationships"]] == [
        ("Manages", grace)
    ]
    assert "Manages" in alan_page.content.decode()
    assert 'data-testid="add-relationship"' in alan_page.content.decode()


def test_add_relationship_dialog_creates_it_in_either_direction(org, owner, owner_client, pair):
    grace, alan = pair
    url = reverse("contacts:contact_relationship_create", args=[grace.pk])

    page = owner_client.get(url)
    response = owner_client.post(url, {"kind": "inverse:reports_to", "contact": str(alan.pk)})

    assert page.status_code == 200
    assert response.status_code == 302
    assert response["Location"] == grace.get_absolute_url()
    with tenant_context(org):
        rel = ContactRelationship.objects.get()
    assert (rel.from_contact_id, rel.to_contact_id, rel.kind) == (alan.pk, grace.pk, "reports_to")


def test_add_relationship_with_htmx_redirects_or_shows_errors_in_the_dialog(
    org, owner, owner_client, pair
):
    grace, alan = pair
    url = reverse("contacts:contact_relationship_create", args=[grace.pk])
    htmx = {"HTTP_HX_REQUEST": "true"}

    bad = owner_client.post(url, {"kind": "reports_to", "contact": ""}, **htmx)
    good = owner_client.post(
        url, {"kind": "reports_to", "contact": str(alan.pk), "in_modal": "1"}, **htmx
    )
    again = owner_client.post(
        url, {"kind": "reports_to", "contact": str(alan.pk), "in_modal": "1"}, **htmx
    )

    assert bad.status_code == 200
    assert "contact" in bad.context["form"].errors
    assert "<html" not in bad.content.decode()
    assert (good.status_code, good["HX-Redirect"]) == (204, grace.get_absolute_url())
    assert again.status_code == 200
    assert again.context["form"].non_field_errors() == [
        "These contacts already have this relationship."
    ]
    assert 'data-bs-dismiss="modal"' in again.content.decode()


def test_add_relationship_with_itself_is_a_form_error(org, owner, owner_client, pair):
    grace, _alan = pair
    url = reverse("contacts:contact_relationship_create", args=[grace.pk])
    response = owner_client.post(url, {"kind": "spouse", "contact": str(grace.pk)})
    assert response.status_code == 400
    assert "contact" in response.context["form"].errors
    with tenant_context(org):
        assert ContactRelationship.objects.count() == 0


def test_read_only_member_cannot_add_relationships(org, owner, pair):
    grace, alan = pair
    viewer = make_member(org, Role.READ_ONLY)
    client = login(viewer, org)
    url = reverse("contacts:contact_relationship_create", args=[grace.pk])

    response = client.post(url, {"kind": "reports_to", "contact": str(alan.pk)})
    page = client.get(grace.get_absolute_url())

    assert response.status_code == 403
    assert page.context["can_add_relationship"] is False
    with tenant_context(org):
        assert ContactRelationship.objects.count() == 0


def test_remove_button_trashes_the_relationship(org, owner, owner_client, in_org, pair):
    grace, alan = pair
    rel = contact_relationship_create(
        org=in_org, actor=owner, from_contact=grace, to_contact=alan, kind="reports_to"
    )
    url = reverse("contacts:contact_relationship_delete", args=[rel.pk])

    response = owner_client.post(url, {"next": alan.get_absolute_url()})

    assert response.status_code == 302
    assert response["Location"] == alan.get_absolute_url()
    rel.refresh_from_db()
    assert rel.deleted_at is not None
    assert owner_client.get(alan.get_absolute_url()).context["relationships"] == []


def test_contact_options_lists_matching_contacts(org, owner, owner_client, pair):
    grace, alan = pair
    response = owner_client.get(reverse("contacts:contact_options"), {"q": "tur"})
    assert response.status_code == 200
    assert response.json() == {"results": [{"value": str(alan.pk), "text": "Alan Turing"}]}


def test_team_visibility_hides_relationships_to_invisible_contacts(org, owner, in_org):
    org.record_visibility = RecordVisibility.TEAM
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP, full_name="Rita Rep")
    mine = make_contact(in_org, owner, first_name="Mine", assigned_to=rep)
    hidden = make_contact(in_org, owner, first_name="Hidden", assigned_to=owner)
    contact_relationship_create(
        org=in_org, actor=owner, from_contact=mine, to_contact=hidden, kind="referred_by"
    )

    page = login(rep, org).get(mine.get_absolute_url())

    assert page.status_code == 200
    assert page.context["relationships"] == []
    assert len(login(owner, org).get(mine.get_absolute_url()).context["relationships"]) == 1


# --- API -------------------------------------------------------------------------------


class TestContactRelationshipAPI(APITestCases.APITestCase):
    model = ContactRelationship
    api_basename = "contact-relationship"
    update_data = {"kind": "assistant_of", "note": "Since 2024"}
    invalid_create_data = {"kind": "boss_of"}
    invalid_create_error_fields = {"kind", "from_contact_id", "to_contact_id"}

    @staticmethod
    def create_data(world):
        with world.inside():
            grace = make_contact(world.org, world.owner, first_name="Grace")
            alan = make_contact(world.org, world.owner, first_name="Alan")
        return {
            "from_contact_id": str(grace.pk),
            "to_contact_id": str(alan.pk),
            "kind": "referred_by",
            "note": "Met at a conference",
        }


def test_api_filters_by_contact_on_either_side(org, owner, in_org, pair):
    grace, alan = pair
    third = make_contact(in_org, owner, first_name="Third")
    a = make_contact_relationship(in_org, owner, from_contact=grace, to_contact=alan)
    b = make_contact_relationship(
        in_org, owner, from_contact=third, to_contact=grace, kind="spouse"
    )
    make_contact_relationship(in_org, owner, from_contact=alan, to_contact=third, kind="other")
    client = api_client(owner, org)
    url = reverse("contact-relationship-list")

    by_contact = client.get(url, {"contact": str(grace.pk)}).json()["results"]
    by_to = client.get(url, {"to_contact": str(grace.pk)}).json()["results"]

    assert {r["id"] for r in by_contact} == {str(a.pk), str(b.pk)}
    assert [r["id"] for r in by_to] == [str(b.pk)]
    assert (by_to[0]["from_contact_name"], by_to[0]["to_contact_name"]) == (str(third), str(grace))


def test_api_refuses_a_contact_of_another_organization(
    org, owner, other_org, other_owner, in_org, pair
):
    grace, _alan = pair
    with tenant_context(other_org, actor=other_owner):
        stranger = make_contact(other_org, other_owner, first_name="Stranger")

    response = api_client(owner, org).post(
        reverse("contact-relationship-list"),
        {"from_contact_id": str(grace.pk), "to_contact_id": str(stranger.pk), "kind": "other"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"to_contact_id"}
    assert ContactRelationship.objects.unscoped().count() == 0


def test_api_hides_relationships_of_a_contact_in_the_trash(org, owner, in_org, pair):
    grace, alan = pair
    rel = make_contact_relationship(in_org, owner, from_contact=grace, to_contact=alan)
    contact_delete(contact=alan, actor=owner)
    client = api_client(owner, org)

    listed = client.get(reverse("contact-relationship-list")).json()["results"]
    detail = client.get(reverse("contact-relationship-detail", kwargs={"pk": rel.pk}))

    assert listed == []
    assert detail.status_code == 404
