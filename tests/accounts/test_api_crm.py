"""The REST API of members, teams and invitations: the same services as the pages."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from pulse.accounts import services
from pulse.accounts.models import Invitation, Membership, Role, Team
from pulse.audit.models import AuditEntry
from tests.accounts.factories import make_member, make_team


def api(user, org) -> APIClient:
    """An API client authenticated by a fresh personal token of ``user`` in ``org``."""
    _, key = services.api_token_create(user=user, org=org, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _membership(org, user) -> Membership:
    return Membership.objects.unscoped().get(organization=org, user=user)


# --- members ----------------------------------------------------------------------------------


def test_members_are_listed_for_every_member(rep, owner, admin_user, org):
    # when
    response = api(rep, org).get("/api/crm/members/")

    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["user"]["full_name"], r["role"]) for r in rows] == [
        ("Adam Admin", "admin"),
        ("Olivia Owner", "owner"),
        ("Rita Rep", "sales_rep"),
    ]


def test_members_filter_by_role_and_search(rep, owner, admin_user, org):
    client = api(owner, org)
    by_role = client.get("/api/crm/members/", {"role": "admin"}).json()["results"]
    assert [r["user"]["email"] for r in by_role] == [admin_user.email]
    found = client.get("/api/crm/members/", {"search": "rita"}).json()["results"]
    assert [r["user"]["email"] for r in found] == [rep.email]


def test_an_owner_changes_a_role_through_the_api(owner, rep, org):
    # when
    response = api(owner, org).patch(
        f"/api/crm/members/{_membership(org, rep).pk}/", {"role": "manager"}, format="json"
    )

    # then
    assert response.status_code == 200
    assert response.json()["role"] == "manager"
    assert response.json()["version"] == 2
    assert _membership(org, rep).role == Role.MANAGER


def test_a_rep_cannot_change_roles_through_the_api(rep, admin_user, org):
    # when
    response = api(rep, org).patch(
        f"/api/crm/members/{_membership(org, admin_user).pk}/", {"role": "owner"}, format="json"
    )

    # then
    assert response.status_code == 403
    assert _membership(org, admin_user).role == Role.ADMIN


def test_the_last_owner_cannot_be_demoted_through_the_api(owner, org):
    # when
    response = api(owner, org).patch(
        f"/api/crm/members/{_membership(org, owner).pk}/", {"role": "admin"}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "role": ["An organization needs at least one owner. Make someone else an owner first."]
        }
    }
    assert _membership(org, owner).role == Role.OWNER


def test_an_unknown_role_is_a_400(owner, rep, org):
    response = api(owner, org).patch(
        f"/api/crm/members/{_membership(org, rep).pk}/", {"role": "boss"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["role"]


def test_removing_a_member_through_the_api(owner, rep, org):
    # when
    response = api(owner, org).delete(f"/api/crm/members/{_membership(org, rep).pk}/")

    # then
    assert response.status_code == 204
    assert _membership(org, rep).deleted_at is not None


def test_put_is_not_offered_on_members(owner, rep, org):
    response = api(owner, org).put(
        f"/api/crm/members/{_membership(org, rep).pk}/", {"role": "manager"}, format="json"
    )
    assert response.status_code == 405


# --- teams --------------------------------------------------------------------------------------


def test_teams_crud_through_the_api(owner, rep, admin_user, org):
    client = api(owner, org)

    # create
    created = client.post(
        "/api/crm/teams/",
        {"name": "Inside sales", "manager": admin_user.pk, "members": [rep.pk]},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["manager"], body["members"]) == (
        "Inside sales",
        admin_user.pk,
        [rep.pk],
    )
    team = Team.objects.unscoped().get(pk=body["id"])
    assert (team.organization, team.created_by) == (org, owner)

    # read
    assert client.get(f"/api/crm/teams/{team.pk}/").json()["name"] == "Inside sales"
    assert [t["name"] for t in client.get("/api/crm/teams/").json()["results"]] == ["Inside sales"]

    # update
    patched = client.patch(
        f"/api/crm/teams/{team.pk}/", {"members": [rep.pk, owner.pk]}, format="json"
    )
    assert patched.status_code == 200
    assert sorted(patched.json()["members"]) == sorted([rep.pk, owner.pk])
    assert patched.json()["version"] == 2

    # delete
    assert client.delete(f"/api/crm/teams/{team.pk}/").status_code == 204
    team.refresh_from_db()
    assert team.deleted_at is not None
    assert client.get(f"/api/crm/teams/{team.pk}/").status_code == 404


def test_team_members_from_another_organization_are_refused(owner, org, other_owner):
    # when
    response = api(owner, org).post(
        "/api/crm/teams/", {"name": "Mixed", "members": [other_owner.pk]}, format="json"
    )

    # then
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["members"]
    assert Team.objects.unscoped().count() == 0


def test_a_duplicate_team_name_is_a_name_error(owner, org):
    make_team(org, "Dup")
    response = api(owner, org).post("/api/crm/teams/", {"name": "Dup"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": {"name": ["A team with this name already exists."]}}


def test_a_rep_may_read_but_not_write_teams(rep, org):
    # given
    team = make_team(org, "Read me")
    client = api(rep, org)

    # when / then
    assert client.get(f"/api/crm/teams/{team.pk}/").status_code == 200
    assert client.post("/api/crm/teams/", {"name": "Nope"}, format="json").status_code == 403
    assert client.delete(f"/api/crm/teams/{team.pk}/").status_code == 403
    assert Team.objects.unscoped().count() == 1


def test_teams_of_another_organization_are_404(owner, org, other_org):
    team = make_team(other_org, "Theirs")
    client = api(owner, org)
    assert client.get(f"/api/crm/teams/{team.pk}/").status_code == 404
    assert client.patch(f"/api/crm/teams/{team.pk}/", {"name": "x"}, format="json").status_code == (
        404
    )
    team.refresh_from_db()
    assert team.name == "Theirs"


# --- invitations --------------------------------------------------------------------------------


def test_invitations_create_list_and_revoke_through_the_api(
    admin_user, org, django_capture_on_commit_callbacks
):
    client = api(admin_user, org)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            "/api/crm/invitations/", {"email": "New@Example.com", "role": "manager"}, format="json"
        )

    # then
    assert created.status_code == 201
    body = created.json()
    assert (body["email"], body["role"], body["status"]) == (
        "new@example.com",
        "manager",
        "pending",
    )
    assert "token" not in body and "link" not in body
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    assert [i["email"] for i in client.get("/api/crm/invitations/").json()["results"]] == [
        "new@example.com"
    ]

    # when
    assert client.delete(f"/api/crm/invitations/{body['id']}/").status_code == 204

    # then
    assert Invitation.objects.unscoped().get().status == "revoked"


def test_an_admin_cannot_invite_an_owner_through_the_api(admin_user, org):
    response = api(admin_user, org).post(
        "/api/crm/invitations/", {"email": "boss@example.com", "role": "owner"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"role": ["Only an owner can invite another owner."]}}
    assert Invitation.objects.unscoped().count() == 0


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.MANAGER, Role.READ_ONLY])
def test_non_admins_neither_see_nor_create_invitations(owner, org, role):
    # given
    services.invitation_create(org=org, actor=owner, email="x@example.com", role=Role.SALES_REP)
    client = api(make_member(org, role), org)

    # when / then
    assert client.get("/api/crm/invitations/").json()["results"] == []
    response = client.post("/api/crm/invitations/", {"email": "y@example.com"}, format="json")
    assert response.status_code == 403
    assert Invitation.objects.unscoped().count() == 1


# --- schema ---------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_accounts_endpoints(owner_client):
    # when
    response = owner_client.get("/api/schema/", {"format": "json"})

    # then
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/crm/me/",
        "/api/crm/members/{id}/",
        "/api/crm/teams/",
        "/api/crm/invitations/",
        "/api/crm/api-tokens/",
    ]:
        assert path in paths, path
    created = paths["/api/crm/api-tokens/"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/ApiTokenCreated")
    member_methods = set(paths["/api/crm/members/{id}/"]) - {"parameters"}
    assert member_methods == {"get", "patch", "delete"}


# --- organization settings -----------------------------------------------------------------


def test_members_read_the_organization_settings(org, rep):
    response = api(rep, org).get("/api/crm/organization/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == org.name and body["default_currency"] == "EUR"
    assert set(body) == {
        "id",
        "slug",
        "name",
        "logo",
        "default_currency",
        "country",
        "time_zone",
        "date_format",
        "fiscal_year_start_month",
        "record_visibility",
        "trash_retention_days",
    }


def test_admins_change_settings_through_the_api_and_it_is_audited(org, admin_user):
    response = api(admin_user, org).patch(
        "/api/crm/organization/",
        {"default_currency": "BGN", "record_visibility": "team"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["default_currency"] == "BGN"
    org.refresh_from_db()
    assert (org.default_currency, org.record_visibility) == ("BGN", "team")
    entry = AuditEntry.objects.unscoped().filter(organization=org, object_id=str(org.pk)).first()
    assert entry.actor == admin_user and entry.source == "api"
    assert entry.changes["default_currency"] == ["EUR", "BGN"]


def test_bad_settings_get_field_errors_and_change_nothing(org, admin_user):
    response = api(admin_user, org).patch(
        "/api/crm/organization/",
        {"default_currency": "euro", "time_zone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"default_currency", "time_zone"}
    org.refresh_from_db()
    assert org.default_currency == "EUR" and org.time_zone == "UTC"


def test_a_rep_cannot_change_settings(org, rep):
    response = api(rep, org).patch("/api/crm/organization/", {"name": "Hijacked"}, format="json")
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme Ltd"
