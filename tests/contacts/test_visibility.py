"""Record visibility by role when the organization limits it to teams, in UI and API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import RecordVisibility, Role
from pulse.contacts.models import Contact
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape, web_client
from pulse.core.testing.records import snapshot
from tests.accounts.factories import make_member, make_team
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_org(org, owner):
    """Two teams; one contact owned by each person (and one by nobody)."""
    org.record_visibility = RecordVisibility.TEAM
    org.save()
    people = {
        "admin": make_member(org, Role.ADMIN, full_name="Ann Admin"),
        "manager": make_member(org, Role.MANAGER, full_name="Max Manager"),
        "rep": make_member(org, Role.SALES_REP, full_name="Rita Rep"),
        "teammate": make_member(org, Role.SALES_REP, full_name="Tom Teammate"),
        "other_rep": make_member(org, Role.SALES_REP, full_name="Olga Other"),
        "other_manager": make_member(org, Role.MANAGER, full_name="Mo Other"),
        "viewer": make_member(org, Role.READ_ONLY, full_name="Vera Viewer"),
    }
    make_team(org, "North", manager=people["manager"], members=[people["rep"], people["teammate"]])
    make_team(org, "South", manager=people["other_manager"], members=[people["other_rep"]])
    contacts = {}
    with tenant_context(org, actor=owner):
        for key in ("rep", "teammate", "other_rep", "manager", "viewer"):
            contacts[key] = make_contact(org, owner, first_name=key, assigned_to=people[key])
        contacts["nobody"] = make_contact(org, owner, first_name="nobody", assigned_to=None)
    return people, contacts


EXPECTED = {
    # whose contacts each role sees
    "rep": {"rep", "teammate"},
    "teammate": {"rep", "teammate"},
    "manager": {"rep", "teammate", "manager"},
    "other_manager": {"other_rep"},
    "admin": {"rep", "teammate", "other_rep", "manager", "viewer", "nobody"},
    "viewer": {"viewer"},
}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_list_page_and_api_show_what_the_role_may_see(org, team_org, who):
    people, contacts = team_org
    user = people[who]

    page = web_client(user, org).get(reverse("contacts:contact_list"), {"page_size": 200})
    api = api_client(user, org).get(reverse("contact-list"), {"page_size": 200})

    by_pk = {str(c.pk): key for key, c in contacts.items()}
    assert {by_pk[str(c.pk)] for c in page.context["object_list"]} == EXPECTED[who]
    assert {by_pk[row["id"]] for row in api.json()["results"]} == EXPECTED[who]


def test_owner_sees_everything(org, owner, team_org):
    _people, contacts = team_org
    api = api_client(owner, org).get(reverse("contact-list"), {"page_size": 200})
    assert api.json()["count"] == len(contacts)


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_invisible_record_is_404_in_ui_and_api_and_unchanged(org, team_org, who):
    people, contacts = team_org
    hidden = contacts["other_rep"]
    before = snapshot(hidden)
    web = web_client(people[who], org)
    api = api_client(people[who], org)

    assert web.get(hidden.get_absolute_url()).status_code == 404
    assert web.post(reverse("contacts:contact_edit", args=[hidden.pk]), {}).status_code == 404
    assert web.post(reverse("contacts:contact_delete", args=[hidden.pk])).status_code == 404
    url = reverse("contact-detail", args=[hidden.pk])
    assert api.get(url).status_code == 404
    assert api.patch(url, {"title": "x"}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    assert snapshot(hidden) == before


def test_rep_may_edit_a_teammates_contact(org, team_org):
    people, contacts = team_org
    mate = contacts["teammate"]
    response = api_client(people["rep"], org).patch(
        reverse("contact-detail", args=[mate.pk]), {"title": "Buyer"}, format="json"
    )
    assert response.status_code == 200
    assert Contact.objects.unscoped().get(pk=mate.pk).title == "Buyer"


def test_read_only_member_cannot_create_edit_or_delete(org, team_org):
    people, contacts = team_org
    viewer = people["viewer"]
    own = contacts["viewer"]
    before = snapshot(own)
    count = Contact.objects.unscoped().count()
    web = web_client(viewer, org)
    api = api_client(viewer, org)

    assert web.get(reverse("contacts:contact_create")).status_code == 403
    assert web.post(reverse("contacts:contact_create"), {"first_name": "X"}).status_code == 403
    assert web.post(reverse("contacts:contact_edit", args=[own.pk]), {}).status_code == 403
    assert web.post(reverse("contacts:contact_delete", args=[own.pk])).status_code == 403
    bulk = web.post(reverse("contacts:contact_bulk"), {"action": "delete", "ids": [own.pk]})
    assert bulk.status_code == 403
    assert api.post(reverse("contact-list"), {"first_name": "X"}, format="json").status_code == 403
    detail = reverse("contact-detail", args=[own.pk])
    assert api.patch(detail, {"title": "X"}, format="json").status_code == 403
    assert api.delete(detail).status_code == 403

    assert snapshot(own) == before
    assert Contact.objects.unscoped().count() == count


def test_company_visibility_follows_owner_too(org, owner, team_org):
    people, _contacts = team_org
    with tenant_context(org, actor=owner):
        mine = make_company(org, owner, name="Rep Co", assigned_to=people["rep"])
        make_company(org, owner, name="South Co", assigned_to=people["other_rep"])
    response = api_client(people["teammate"], org).get(reverse("company-list"))
    assert [row["id"] for row in response.json()["results"]] == [str(mine.pk)]


def test_other_organization_gets_404_for_contact_in_ui_and_api(org, owner, other_org, other_owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner)
    assert web_client(other_owner, other_org).get(contact.get_absolute_url()).status_code == 404
    response = api_client(other_owner, other_org).get(reverse("contact-detail", args=[contact.pk]))
    assert_error_shape(response, 404)
