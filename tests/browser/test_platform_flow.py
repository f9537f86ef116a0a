"""A newcomer's first session, in a real browser: sign up, invite a colleague,
sign out and in, switch organizations, create an API token and call the API."""

import re

import pytest
from django.core import mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-42-lantern"


def sign_up(page, *, name, email, org_name):
    page.goto("/signup/")
    page.fill("input[name=full_name]", name)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=organization_name]", org_name)
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(r"/$"))


def open_user_menu(page):
    page.click("#user-menu")


def test_signup_invite_login_switch_and_api_token(page, live_server):
    # Sign up: a new organization with its owner, signed in on the home page.
    sign_up(page, name="Maria Petrova", email="maria@example.com", org_name="Rila Outdoor")
    assert page.locator("h1").inner_text().startswith("Welcome back, Maria")
    assert "Rila Outdoor" in page.content()

    # Invite a colleague: the email carries a signed link that lets them join.
    page.goto("/settings/members/")
    # The invite form: each member's row has a role select of its own.
    invite = page.locator("form[action$='/settings/members/invite/']")
    invite.locator("input[name=email]").fill("ivan@example.com")
    invite.locator("select[name=role]").select_option("manager")
    invite.get_by_role("button", name="Send invitation").click()
    page.wait_for_selector("text=ivan@example.com")
    assert len(mail.outbox) == 1
    from pulse.accounts.models import Invitation

    assert Invitation.objects.unscoped().get(email="ivan@example.com").role == "manager"
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[0].body).group(0)

    # A second organization, then back to the first through the user menu.
    page.goto("/organizations/new/")
    page.fill("input[name=name]", "Pirin Consulting")
    page.click("button:has-text('Create organization')")
    page.wait_for_url(re.compile(r"/$"))
    assert "Pirin Consulting" in page.title()
    open_user_menu(page)
    page.click("[data-testid=switch-org]:has-text('Rila Outdoor')")
    page.wait_for_url(re.compile(r"/$"))
    assert "Rila Outdoor" in page.title()

    # Sign out and back in.
    open_user_menu(page)
    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=username]", "maria@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/$"))
    assert "Rila Outdoor" in page.title()  # the last organization used

    # An API token, shown once, that works against the API.
    page.goto("/account/tokens/")
    page.fill("input[name=name]", "Nightly export")
    page.click("button:has-text('Create token')")
    key = page.input_value("#new-token-key")
    assert key.startswith("pulse_")
    response = page.request.get(
        f"{live_server.url}/api/crm/me/", headers={"Authorization": f"Token {key}"}
    )
    assert response.status == 200
    body = response.json()
    assert body["user"]["email"] == "maria@example.com"
    assert body["role"] == "owner"
    assert body["organization"]["name"] == "Rila Outdoor"
    page.goto("/account/tokens/")
    assert page.locator("#new-token-key").count() == 0  # never shown again
    assert "Nightly export" in page.locator("[data-testid=token-table]").inner_text()

    # The colleague follows the invitation link in a fresh browser and joins.
    colleague = page.context.browser.new_context(base_url=live_server.url)
    other = colleague.new_page()
    other.goto(link)
    other.fill("input[name=full_name]", "Ivan Dimitrov")
    other.fill("input[name=password]", PASSWORD)
    other.click("button:has-text('Create account and join')")
    other.wait_for_url(re.compile(r"/$"))
    assert "Rila Outdoor" in other.title()
    colleague.close()
    page.goto("/settings/members/")
    assert "Ivan Dimitrov" in page.content()
