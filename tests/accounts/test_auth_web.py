"""Sign-up, sign-in (with throttling), sign-out, passwords, profile, organizations."""

import re
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from pulse.accounts import services
from pulse.accounts.models import Membership, Organization, Role, User
from pulse.accounts.selectors import SESSION_ORG_KEY
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError
from tests.accounts.factories import PASSWORD, UserFactory, make_member
from tests.conftest import login

NEW_PASSWORD = "a-brand-new-passphrase-42"


def _signup_data(**changes):
    data = {
        "full_name": "Nora New",
        "email": "Nora@Example.com",
        "password": "plum-tractor-lantern-9",
        "organization_name": "Nora's Bakery",
    }
    data.update(changes)
    return data


# --- sign-up ---------------------------------------------------------------------------------


def test_signup_creates_user_organization_and_owner_membership_and_signs_in(client, db):
    # when
    response = client.post(reverse("accounts:signup"), _signup_data())

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    user = User.objects.get()
    assert user.email == "nora@example.com"
    assert user.full_name == "Nora New"
    assert user.check_password("plum-tractor-lantern-9")
    org = Organization.objects.get()
    assert org.name == "Nora's Bakery"
    assert org.slug == "noras-bakery"
    assert user.last_organization == org
    membership = Membership.objects.unscoped().get()
    assert (membership.organization, membership.user, membership.role) == (org, user, Role.OWNER)
    assert membership.created_by == user
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session[SESSION_ORG_KEY] == str(org.pk)
    # the organization and the membership are both in the organization's change log
    logged = set(
        AuditEntry.objects.unscoped()
        .filter(organization=org)
        .values_list("content_type__model", "action", "actor")
    )
    assert logged == {("organization", "create", user.pk), ("membership", "create", user.pk)}
    home = client.get(reverse("reports:dashboard"))
    assert home.status_code == 200
    assert home.context["current_org"] == org


def test_signup_gives_a_second_organization_with_the_same_name_another_slug(client, org):
    # given an organization called "Acme Ltd" (slug acme-ltd)

    # when
    user, new_org = services.organization_signup(
        email="x@example.com",
        full_name="X Person",
        password="plum-tractor-lantern-9",
        organization_name="Acme Ltd",
    )

    # then
    assert new_org.slug != org.slug
    assert new_org.slug.startswith("acme-ltd-")


def test_signup_with_a_taken_email_in_any_case_is_an_email_error_and_writes_nothing(client, owner):
    # given
    users_before, orgs_before = User.objects.count(), Organization.objects.count()

    # when
    response = client.post(reverse("accounts:signup"), _signup_data(email=owner.email.upper()))

    # then
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "email": ["An account with this email address already exists."]
    }
    assert (User.objects.count(), Organization.objects.count()) == (users_before, orgs_before)
    assert SESSION_KEY not in client.session


def test_signup_with_a_weak_password_is_a_password_error_and_writes_nothing(client, db):
    # when
    response = client.post(reverse("accounts:signup"), _signup_data(password="12345678"))

    # then
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["password"]
    assert (
        "This password is too short. It must contain at least 10 characters." in errors["password"]
    )
    assert "This password is entirely numeric." in errors["password"]
    assert User.objects.count() == 0
    assert Organization.objects.count() == 0
    assert Membership.objects.unscoped().count() == 0


def test_signup_service_refuses_a_password_like_the_email(db):
    # when
    with pytest.raises(ApplicationError) as caught:
        services.organization_signup(
            email="margaret.thatcher@example.com",
            full_name="Margaret",
            password="margaret.thatcher",
            organization_name="Org",
        )

    # then
    assert list(caught.value.errors) == ["password"]
    assert User.objects.count() == 0


# --- sign-in and sign-out --------------------------------------------------------------------


def test_login_with_email_in_any_case_signs_in_and_logout_signs_out(client, owner):
    # when
    response = client.post(
        reverse("accounts:login"), {"username": owner.email.upper(), "password": PASSWORD}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    assert client.session[SESSION_KEY] == str(owner.pk)

    # when
    assert client.get(reverse("accounts:logout")).status_code == 405  # POST only
    response = client.post(reverse("accounts:logout"))

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in client.session


def test_login_with_a_wrong_password_is_refused(client, owner):
    # when
    response = client.post(
        reverse("accounts:login"), {"username": owner.email, "password": "wrong-password"}
    )

    # then
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert "Please enter a correct email and password." in response.content.decode()


def test_login_follows_next_within_the_site(client, owner):
    # when
    response = client.post(
        reverse("accounts:login") + "?next=/settings/members/",
        {"username": owner.email, "password": PASSWORD, "next": "/settings/members/"},
    )

    # then
    assert response["Location"] == "/settings/members/"


def test_login_is_refused_with_429_after_too_many_failures_even_with_the_right_password(
    client, owner, settings
):
    # given
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    url = reverse("accounts:login")
    for _ in range(3):
        assert client.post(url, {"username": owner.email, "password": "nope"}).status_code == 400

    # when
    response = client.post(url, {"username": owner.email, "password": PASSWORD})

    # then
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    assert "Too many failed sign-in attempts. Wait 15 minutes and try again." in (
        response.content.decode()
    )


def test_login_throttle_counts_per_ip_across_email_addresses(client, owner, rep, settings):
    # given three failures from one address, each for a different, unknown account
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    url = reverse("accounts:login")
    for n in range(3):
        client.post(url, {"username": f"nobody{n}@example.com", "password": "nope"})

    # when a real user tries from the same IP
    blocked = client.post(url, {"username": rep.email, "password": PASSWORD})
    elsewhere = Client(REMOTE_ADDR="10.9.9.9").post(
        url, {"username": rep.email, "password": PASSWORD}
    )

    # then the IP is blocked, the account from another IP is not
    assert blocked.status_code == 429
    assert elsewhere.status_code == 302


def test_login_throttle_counts_per_email_across_ips(owner, settings):
    # given
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    url = reverse("accounts:login")
    for n in range(2):
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(url, {"username": owner.email, "password": "x"})

    # when
    response = Client(REMOTE_ADDR="10.0.0.99").post(
        url, {"username": owner.email, "password": PASSWORD}
    )

    # then
    assert response.status_code == 429


def test_login_throttle_ends_when_the_window_passes(client, owner, settings):
    # given
    settings.LOGIN_THROTTLE_ATTEMPTS = 1
    settings.LOGIN_THROTTLE_WINDOW = 1
    url = reverse("accounts:login")
    client.post(url, {"username": owner.email, "password": "nope"})
    assert client.post(url, {"username": owner.email, "password": PASSWORD}).status_code == 429

    # when
    time.sleep(1.1)
    response = client.post(url, {"username": owner.email, "password": PASSWORD})

    # then
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(owner.pk)


def test_a_signed_in_user_without_organization_lands_on_organization_create(db):
    # given
    user = UserFactory()
    client = login(user)

    # when
    response = client.get(reverse("reports:dashboard"))

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:organization_create")
    assert client.get(response["Location"]).status_code == 200


# --- passwords ---------------------------------------------------------------------------------


def test_password_change_requires_the_old_password_and_sets_the_new(owner_client, owner):
    url = reverse("accounts:password_change")

    # when the old password is wrong
    response = owner_client.post(
        url,
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    # then nothing changes
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)

    # when it is right
    response = owner_client.post(
        url,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert owner_client.get(reverse("reports:dashboard")).status_code == 200  # still signed in


def test_password_reset_by_email_link_sets_a_new_password(client, owner, settings):
    # given
    settings.SITE_URL = "https://crm.example.com"

    # when
    response = client.post(reverse("accounts:password_reset"), {"email": owner.email.upper()})

    # then an email with an absolute link is sent
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.email]
    assert message.subject == "Reset your PulseCRM password"
    link = re.search(r"https://crm\.example\.com(/password-reset/\S+/\S+/)", message.body)
    assert link is not None

    # when the link is followed and a new password chosen
    response = client.get(link.group(1))
    assert response.status_code == 302  # to the token-less "set-password" URL
    set_password_url = response["Location"]
    response = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")
    assert client.get(response["Location"]).status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    signed_in = Client().post(
        reverse("accounts:login"), {"username": owner.email, "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    # and the link works once
    assert client.get(link.group(1), follow=True).context["validlink"] is False


def test_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(client, db):
    # when
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


# --- profile ----------------------------------------------------------------------------------


def test_profile_saves_name_and_language_and_sets_the_language_cookie(owner_client, owner):
    # when
    response = owner_client.post(
        reverse("accounts:profile"), {"full_name": "Olivia O. Owner", "language": "bg"}
    )

    # then
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.full_name, owner.language) == ("Olivia O. Owner", "bg")
    assert response.cookies["django_language"].value == "bg"


def test_profile_refuses_an_empty_name_and_an_unknown_language(owner_client, owner):
    # when
    response = owner_client.post(reverse("accounts:profile"), {"full_name": " ", "language": "xx"})

    # then
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"full_name", "language"}
    owner.refresh_from_db()
    assert (owner.full_name, owner.language) == ("Olivia Owner", "en")


# --- organizations ----------------------------------------------------------------------------


def test_an_existing_user_creates_another_organization_becomes_owner_and_works_in_it(
    owner_client, owner, org
):
    # when
    response = owner_client.post(reverse("accounts:organization_create"), {"name": "Side Project"})

    # then
    assert response.status_code == 302
    new_org = Organization.objects.get(name="Side Project")
    assert Membership.objects.unscoped().get(organization=new_org).user == owner
    assert Membership.objects.unscoped().get(organization=new_org).role == Role.OWNER
    assert owner_client.session[SESSION_ORG_KEY] == str(new_org.pk)
    owner.refresh_from_db()
    assert owner.last_organization == new_org
    assert Membership.objects.unscoped().get(organization=org, user=owner).role == Role.OWNER


def test_organization_create_refuses_an_empty_name(owner_client):
    # given
    count = Organization.objects.count()

    # when
    response = owner_client.post(reverse("accounts:organization_create"), {"name": "   "})

    # then
    assert response.status_code == 400
    assert Organization.objects.count() == count


def test_switching_to_an_organization_one_belongs_to(owner, org, other_org):
    # given
    make_member(other_org, Role.READ_ONLY, user=owner)
    client = login(owner, org)

    # when
    response = client.post(
        reverse("accounts:organization_switch"), {"organization": str(other_org.pk)}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    assert client.session[SESSION_ORG_KEY] == str(other_org.pk)
    owner.refresh_from_db()
    assert owner.last_organization == other_org
    home = client.get(reverse("reports:dashboard"))
    assert home.context["current_org"] == other_org
    assert [str(m) for m in home.context["messages"]] == ["You are now working in Globex Corp."]


@pytest.mark.parametrize("target", ["other_org", "garbage"])
def test_switching_to_an_organization_one_does_not_belong_to_is_404_and_changes_nothing(
    owner_client, owner, org, other_org, target
):
    # when
    value = str(other_org.pk) if target == "other_org" else "not-a-uuid"
    response = owner_client.post(reverse("accounts:organization_switch"), {"organization": value})

    # then
    assert response.status_code == 404
    assert owner_client.session[SESSION_ORG_KEY] == str(org.pk)
    owner.refresh_from_db()
    assert owner.last_organization_id is None


def test_a_removed_member_cannot_switch_back(owner, org, other_org, other_owner):
    # given
    make_member(other_org, Role.SALES_REP, user=owner)
    Membership.objects.unscoped().filter(organization=other_org, user=owner).update(
        deleted_at="2026-01-01T00:00:00Z"
    )
    client = login(owner, org)

    # when
    response = client.post(
        reverse("accounts:organization_switch"), {"organization": str(other_org.pk)}
    )

    # then
    assert response.status_code == 404
    assert client.session[SESSION_ORG_KEY] == str(org.pk)
