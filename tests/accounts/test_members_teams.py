"""Members (roles, removal, the owner rules), teams, and the settings pages' access."""

import pytest
from django.urls import reverse

from pulse.accounts import services
from pulse.accounts.models import Membership, Role, Team
from pulse.accounts.permissions import membership_for
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import UserFactory, make_member, make_team
from tests.conftest import login

SETTINGS_PAGES = ["organization_settings", "member_list", "team_list", "permission_matrix"]


def _membership(org, user) -> Membership:
    return (
        Membership.objects.unscoped()
        .select_related("organization")
        .get(organization=org, user=user)
    )


def _role(org, user) -> str:
    return _membership(org, user).role


# --- access to the settings pages --------------------------------------------------------------


@pytest.mark.parametrize("page", SETTINGS_PAGES)
@pytest.mark.parametrize("role", [Role.READ_ONLY, Role.SALES_REP, Role.MANAGER])
def test_settings_pages_are_403_for_roles_below_admin(org, page, role):
    # given
    client = login(make_member(org, role), org)

    # when
    response = client.get(reverse(f"accounts:{page}"))

    # then
    assert response.status_code == 403


@pytest.mark.parametrize("page", SETTINGS_PAGES)
def test_settings_pages_open_for_admins(admin_user, org, page):
    assert login(admin_user, org).get(reverse(f"accounts:{page}")).status_code == 200


@pytest.mark.parametrize("page", SETTINGS_PAGES)
def test_settings_pages_send_visitors_to_login(client, db, page):
    response = client.get(reverse(f"accounts:{page}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


# --- roles --------------------------------------------------------------------------------------


def test_an_admin_changes_a_reps_role(admin_user, rep, org):
    # when
    membership = services.membership_change_role(
        membership=_membership(org, rep), actor=admin_user, role=Role.MANAGER
    )

    # then
    assert membership.role == Role.MANAGER
    assert membership.version == 2
    assert _role(org, rep) == Role.MANAGER


def test_the_last_owner_cannot_be_demoted(owner, org):
    # when
    with pytest.raises(ApplicationError) as caught:
        services.membership_change_role(
            membership=_membership(org, owner), actor=owner, role=Role.ADMIN
        )

    # then
    assert caught.value.errors == {
        "role": ["An organization needs at least one owner. Make someone else an owner first."]
    }
    assert _role(org, owner) == Role.OWNER


def test_an_owner_steps_down_once_there_is_another_owner(owner, admin_user, org):
    # given
    services.membership_change_role(
        membership=_membership(org, admin_user), actor=owner, role=Role.OWNER
    )

    # when
    services.membership_change_role(
        membership=_membership(org, owner), actor=owner, role=Role.ADMIN
    )

    # then
    assert (_role(org, owner), _role(org, admin_user)) == (Role.ADMIN, Role.OWNER)


def test_an_admin_can_neither_make_nor_unmake_owners(owner, admin_user, rep, org):
    # given a second owner, so "last owner" is not the reason
    second_owner = make_member(org, Role.OWNER)

    # when / then
    with pytest.raises(PermissionDeniedError) as caught:
        services.membership_change_role(
            membership=_membership(org, rep), actor=admin_user, role=Role.OWNER
        )
    assert caught.value.errors == {"role": ["Only an owner can grant or take away the owner role."]}
    with pytest.raises(PermissionDeniedError):
        services.membership_change_role(
            membership=_membership(org, second_owner), actor=admin_user, role=Role.ADMIN
        )
    with pytest.raises(PermissionDeniedError):
        services.membership_remove(membership=_membership(org, second_owner), actor=admin_user)
    assert (_role(org, rep), _role(org, second_owner)) == (Role.SALES_REP, Role.OWNER)
    assert _membership(org, second_owner).deleted_at is None


def test_a_rep_cannot_change_roles(rep, admin_user, org):
    # when
    with pytest.raises(PermissionDeniedError):
        services.membership_change_role(
            membership=_membership(org, admin_user), actor=rep, role=Role.READ_ONLY
        )

    # then
    assert _role(org, admin_user) == Role.ADMIN


def test_an_unknown_role_is_refused(owner, rep, org):
    with pytest.raises(ApplicationError) as caught:
        services.membership_change_role(membership=_membership(org, rep), actor=owner, role="boss")
    assert caught.value.errors == {"role": ["Choose a role."]}
    assert _role(org, rep) == Role.SALES_REP


def test_role_change_from_the_members_page_with_htmx_returns_the_row(owner_client, rep, org):
    # when
    response = owner_client.post(
        reverse("accounts:member_role", args=[_membership(org, rep).pk]),
        {"role": Role.READ_ONLY},
        HTTP_HX_REQUEST="true",
    )

    # then
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<tr id="member-')
    assert "Saved." in response.content.decode()
    assert _role(org, rep) == Role.READ_ONLY


def test_role_change_refused_on_the_page_shows_why_and_changes_nothing(owner_client, owner, org):
    # when
    response = owner_client.post(
        reverse("accounts:member_role", args=[_membership(org, owner).pk]), {"role": Role.ADMIN}
    )

    # then
    assert response.status_code == 302
    messages = [str(m) for m in owner_client.get(response["Location"]).context["messages"]]
    assert messages == [
        "An organization needs at least one owner. Make someone else an owner first."
    ]
    assert _role(org, owner) == Role.OWNER


def test_membership_of_another_organization_is_404_on_the_members_page(
    owner_client, other_org, other_owner
):
    # when
    response = owner_client.post(
        reverse("accounts:member_role", args=[_membership(other_org, other_owner).pk]),
        {"role": Role.READ_ONLY},
    )

    # then
    assert response.status_code == 404
    assert _role(other_org, other_owner) == Role.OWNER


# --- removing -------------------------------------------------------------------------------------


def test_removing_a_member_trashes_the_membership_and_ends_access(owner_client, rep, org):
    # when
    response = owner_client.post(reverse("accounts:member_remove", args=[_membership(org, rep).pk]))

    # then
    assert response.status_code == 302
    membership = _membership(org, rep)
    assert membership.deleted_at is not None
    assert membership.deleted_by is not None
    assert membership_for(rep, org) is None
    assert login(rep, org).get(reverse("reports:dashboard"))["Location"] == reverse(
        "accounts:organization_create"
    )


def test_the_last_owner_cannot_be_removed(owner, org):
    # when
    with pytest.raises(ApplicationError) as caught:
        services.membership_remove(membership=_membership(org, owner), actor=owner)

    # then
    assert caught.value.errors == {
        "__all__": ["An organization needs at least one owner. Make someone else an owner first."]
    }
    assert _membership(org, owner).deleted_at is None


# --- members page queries -----------------------------------------------------------------------


@pytest.mark.parametrize("extra_members", [2, 12])
def test_members_page_query_count_does_not_grow_with_members(
    owner_client, owner, org, extra_members, django_assert_num_queries
):
    # given members and pending invitations
    for _ in range(extra_members):
        make_member(org, Role.SALES_REP)
    for n in range(3):
        services.invitation_create(
            org=org, actor=owner, email=f"guest{n}@example.com", role=Role.SALES_REP
        )

    # when / then: session, user, memberships (middleware, also the user menu's), members
    # count + page, invitations, unread notifications, and the session's first refresh
    # (savepoint, update, release)
    with django_assert_num_queries(10):
        response = owner_client.get(reverse("accounts:member_list"))
    assert response.status_code == 200
    assert len(response.context["page_obj"].object_list) == extra_members + 1


# --- teams ----------------------------------------------------------------------------------------


def test_team_create_update_delete(owner, rep, admin_user, org, in_org):
    # when
    team = services.team_create(
        org=org, actor=owner, name=" East ", manager=admin_user, members=[rep]
    )

    # then
    assert (team.name, team.manager, list(team.members.all())) == ("East", admin_user, [rep])
    assert team.created_by == owner

    # when
    services.team_update(team=team, actor=owner, name="East coast", members=[rep, admin_user])

    # then
    team.refresh_from_db()
    assert team.name == "East coast"
    assert set(team.members.all()) == {rep, admin_user}
    assert team.version == 2

    # when
    services.team_delete(team=team, actor=owner)

    # then
    assert list(Team.objects.all()) == []
    assert list(Team.trash.all()) == [team]


def test_team_members_and_manager_must_belong_to_the_organization(owner, rep, org, other_owner):
    # when
    with pytest.raises(ApplicationError) as caught:
        services.team_create(
            org=org, actor=owner, name="Mixed", manager=other_owner, members=[rep, other_owner]
        )

    # then
    assert caught.value.errors == {
        "manager": ["The manager must be a member of the organization."],
        "members": ["Not members of the organization: Oscar Other."],
    }
    assert Team.objects.unscoped().count() == 0


def test_team_names_are_unique_among_live_teams(owner, org, in_org):
    # given
    first = services.team_create(org=org, actor=owner, name="North")

    # when
    with pytest.raises(ApplicationError) as caught:
        services.team_create(org=org, actor=owner, name="North")

    # then
    assert caught.value.errors == {"name": ["A team with this name already exists."]}
    # a trashed team frees its name
    services.team_delete(team=first, actor=owner)
    assert services.team_create(org=org, actor=owner, name="North").name == "North"


def test_a_rep_cannot_create_or_delete_teams(rep, owner, org, in_org):
    # given
    team = make_team(org, "South")

    # when / then
    with pytest.raises(PermissionDeniedError):
        services.team_create(org=org, actor=rep, name="Rogue")
    with pytest.raises(PermissionDeniedError):
        services.team_delete(team=team, actor=rep)
    assert list(Team.objects.values_list("name", flat=True)) == ["South"]


def test_teams_pages_create_edit_and_delete(owner_client, owner, rep, admin_user, org):
    # when created
    response = owner_client.post(
        reverse("accounts:team_create"),
        {"name": "West", "manager": admin_user.pk, "members": [rep.pk]},
    )

    # then
    assert response.status_code == 302
    team = Team.objects.unscoped().get()
    assert (team.organization, team.name, team.manager) == (org, "West", admin_user)
    assert list(team.members.all()) == [rep]

    # when edited
    edit_url = reverse("accounts:team_edit", args=[team.pk])
    form = owner_client.get(edit_url).context["form"]
    assert form.initial == {"name": "West", "manager": admin_user.pk, "members": [rep.pk]}
    response = owner_client.post(edit_url, {"name": "West 2", "manager": "", "members": []})

    # then
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.manager, list(team.members.all())) == ("West 2", None, [])

    # when listed
    page = owner_client.get(reverse("accounts:team_list"))
    assert [t.name for t in page.context["page_obj"]] == ["West 2"]

    # when deleted
    response = owner_client.post(reverse("accounts:team_delete", args=[team.pk]))

    # then
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.deleted_at is not None


def test_team_form_offers_only_members_of_the_organization(owner_client, other_owner, rep, org):
    # when
    form = owner_client.get(reverse("accounts:team_create")).context["form"]

    # then
    assert other_owner not in form.fields["members"].queryset
    assert rep in form.fields["members"].queryset

    # and posting an outsider is a field error
    response = owner_client.post(
        reverse("accounts:team_create"), {"name": "X", "members": [other_owner.pk]}
    )
    assert response.status_code == 400
    assert "members" in response.context["form"].errors
    assert Team.objects.unscoped().count() == 0


def test_team_of_another_organization_is_404(owner_client, other_org, other_owner):
    # given
    team = make_team(other_org, "Theirs")

    # when / then
    assert owner_client.get(reverse("accounts:team_edit", args=[team.pk])).status_code == 404
    assert owner_client.post(reverse("accounts:team_delete", args=[team.pk])).status_code == 404
    team.refresh_from_db()
    assert team.deleted_at is None


def test_a_user_who_is_not_a_member_of_any_org_cannot_be_added(owner, org, in_org):
    # given
    stranger = UserFactory()

    # when
    with pytest.raises(ApplicationError):
        services.team_create(org=org, actor=owner, name="T", members=[stranger])

    # then
    with tenant_context(org):
        assert Team.objects.count() == 0
