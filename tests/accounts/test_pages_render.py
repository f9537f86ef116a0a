"""Every accounts page renders, in the shell and on the public gradient."""

import pytest
from django.urls import reverse

from pulse.accounts import services
from tests.accounts.factories import UserFactory, make_team
from tests.conftest import login

SHELL_PAGES = [
    "profile",
    "password_change",
    "token_list",
    "organization_create",
    "organization_settings",
    "member_list",
    "team_list",
    "team_create",
    "permission_matrix",
]
PUBLIC_PAGES = [
    "login",
    "signup",
    "password_reset",
    "password_reset_done",
    "password_reset_complete",
]
WITHOUT_ORG_PAGES = ["profile", "password_change", "organization_create"]


@pytest.mark.parametrize("name", SHELL_PAGES)
def test_shell_pages_render_inside_the_shell(owner_client, name):
    response = owner_client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 200
    assert 'class="pulse-shell"' in response.content.decode()


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_render_on_the_gradient(client, db, name):
    response = client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 200
    assert 'class="pulse-public"' in response.content.decode()


@pytest.mark.parametrize("name", WITHOUT_ORG_PAGES)
def test_pages_for_users_without_organization_render_as_a_card(db, name):
    response = login(UserFactory()).get(reverse(f"accounts:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="pulse-public"' in html
    assert "<form" in html


def test_token_list_needs_an_organization(db):
    response = login(UserFactory()).get(reverse("accounts:token_list"))
    assert response["Location"] == reverse("accounts:organization_create")


def test_team_edit_page_renders(owner_client, org, owner):
    team = make_team(org, "Edit me", members=[owner])
    response = owner_client.get(reverse("accounts:team_edit", args=[team.pk]))
    assert response.status_code == 200
    assert "Edit team Edit me" in response.content.decode()


def test_signed_in_users_skip_login_and_signup(owner_client):
    assert owner_client.get(reverse("accounts:login"))["Location"] == reverse("reports:dashboard")
    assert owner_client.get(reverse("accounts:signup")).status_code == 302


def test_invitation_page_for_a_signed_in_invitee_offers_accept(owner, org, other_org):
    from tests.accounts.factories import make_member

    invitee = make_member(other_org, "owner", email="inv@example.com")
    invitation = services.invitation_create(
        org=org, actor=owner, email="inv@example.com", role="manager"
    )
    token = services.invitation_link(invitation).rstrip("/").rsplit("/", 1)[1]
    response = login(invitee, other_org).get(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 200
    assert "Accept the invitation" in response.content.decode()
    assert "Join Acme Ltd on PulseCRM" in response.content.decode()
