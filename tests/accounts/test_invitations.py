"""Invitations: created and emailed by owners/admins, accepted once by the right person."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from pulse.accounts import services
from pulse.accounts.models import Invitation, Membership, Role, User
from pulse.accounts.selectors import SESSION_ORG_KEY
from pulse.core.errors import ApplicationError, PermissionDeniedError
from tests.accounts.factories import PASSWORD, UserFactory, make_member
from tests.conftest import login

INVITEE = "ivy@example.com"


def _invite(org, actor, email=INVITEE, role=Role.SALES_REP, capture=None):
    if capture is None:
        return services.invitation_create(org=org, actor=actor, email=email, role=role)
    with capture(execute=True):
        return services.invitation_create(org=org, actor=actor, email=email, role=role)


def _link_path(message) -> str:
    match = re.search(r"http://127\.0\.0\.1:8000(/invitations/\S+/)", message.body)
    assert match is not None, message.body
    return match.group(1)


def _token(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def _memberships(org, email):
    return Membership.objects.unscoped().filter(organization=org, user__email=email).count()


# --- creating --------------------------------------------------------------------------------


def test_an_admin_invites_by_email_and_the_link_is_sent_after_commit(
    admin_user, org, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation = services.invitation_create(
            org=org, actor=admin_user, email=" Ivy@Example.com ", role=Role.MANAGER
        )
        assert mail.outbox == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()

    # then
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        INVITEE,
        Role.MANAGER,
        admin_user,
    )
    assert invitation.status == "pending"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [INVITEE]
    assert message.subject == "Adam Admin invited you to Acme Ltd on PulseCRM"
    assert "as Manager" in message.body
    assert _link_path(message).startswith("/invitations/")


def test_the_members_page_invite_form_sends_the_invitation(
    owner_client, org, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("accounts:invitation_create"), {"email": INVITEE, "role": Role.ADMIN}
        )

    # then
    assert response.status_code == 302
    invitation = Invitation.objects.unscoped().get()
    assert (invitation.organization, invitation.email, invitation.role) == (
        org,
        INVITEE,
        Role.ADMIN,
    )
    assert len(mail.outbox) == 1


def test_a_sales_rep_cannot_invite(rep, org):
    # when
    with pytest.raises(PermissionDeniedError):
        _invite(org, rep)

    # then
    assert Invitation.objects.unscoped().count() == 0
    assert mail.outbox == []


def test_only_an_owner_may_invite_an_owner(admin_user, owner, org):
    # when
    with pytest.raises(ApplicationError) as caught:
        _invite(org, admin_user, role=Role.OWNER)

    # then
    assert caught.value.errors == {"role": ["Only an owner can invite another owner."]}
    assert Invitation.objects.unscoped().count() == 0
    # an owner may
    assert _invite(org, owner, role=Role.OWNER).role == Role.OWNER


def test_inviting_a_current_member_or_a_bad_address_is_an_email_error(owner, rep, org):
    for email, message in [
        (rep.email, "This person is already a member of the organization."),
        ("not-an-address", "Enter a valid email address."),
    ]:
        with pytest.raises(ApplicationError) as caught:
            _invite(org, owner, email=email)
        assert caught.value.errors == {"email": [message]}
    assert Invitation.objects.unscoped().count() == 0


def test_a_new_invitation_to_the_same_address_withdraws_the_pending_one(owner, org):
    # given
    first = _invite(org, owner)

    # when
    second = _invite(org, owner, role=Role.MANAGER)

    # then
    first.refresh_from_db()
    assert first.status == "revoked"
    assert second.status == "pending"


# --- accepting --------------------------------------------------------------------------------


def test_a_new_person_signs_up_from_the_link_and_joins_without_an_organization_of_their_own(
    client, owner, org, django_capture_on_commit_callbacks
):
    # given
    _invite(org, owner, role=Role.MANAGER, capture=django_capture_on_commit_callbacks)
    path = _link_path(mail.outbox[0])

    # when the visitor opens the link
    page = client.get(path)

    # then they see a sign-up form with the address filled in and locked
    assert page.status_code == 200
    form = page.context["form"]
    assert form["email"].value() == INVITEE
    assert form.fields["email"].disabled is True
    assert 'name="email"' in page.content.decode() and "disabled" in page.content.decode()

    # when they sign up (a forged email field is ignored)
    response = client.post(
        path,
        {"full_name": "Ivy Invitee", "password": "velvet-harbour-quartz-7", "email": "x@evil.com"},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:dashboard")
    user = User.objects.get(email=INVITEE)
    assert user.full_name == "Ivy Invitee"
    assert not User.objects.filter(email="x@evil.com").exists()
    membership = Membership.objects.unscoped().get(user=user)
    assert (membership.organization, membership.role) == (org, Role.MANAGER)
    invitation = Invitation.objects.unscoped().get()
    assert invitation.status == "accepted"
    assert invitation.accepted_by == user
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session[SESSION_ORG_KEY] == str(org.pk)
    assert Membership.objects.unscoped().filter(user=user).count() == 1  # no org of their own


def test_sign_up_from_the_link_with_a_weak_password_writes_nothing(
    client, owner, org, django_capture_on_commit_callbacks
):
    # given
    _invite(org, owner, capture=django_capture_on_commit_callbacks)
    path = _link_path(mail.outbox[0])

    # when
    response = client.post(path, {"full_name": "Ivy", "password": "short"})

    # then
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["password"]
    assert not User.objects.filter(email=INVITEE).exists()
    assert Invitation.objects.unscoped().get().status == "pending"


def test_an_existing_user_signs_in_from_the_link_and_accepts(
    client, owner, org, other_org, django_capture_on_commit_callbacks
):
    # given someone with an account in another organization
    invitee = make_member(other_org, Role.OWNER, email=INVITEE)
    _invite(org, owner, role=Role.SUPPORT_AGENT, capture=django_capture_on_commit_callbacks)
    path = _link_path(mail.outbox[0])

    # when a visitor opens the link: a sign-in link that returns here
    page = client.get(path)
    assert page.status_code == 200
    assert page.context["has_account"] is True
    login_url = f"{reverse('accounts:login')}?next={path}"
    assert page.context["login_url"] == login_url

    # and they sign in
    response = client.post(login_url, {"username": INVITEE, "password": PASSWORD, "next": path})
    assert response["Location"] == path

    # and accept
    page = client.get(path)
    assert page.context["email_matches"] is True
    response = client.post(path)

    # then
    assert response.status_code == 302
    membership = Membership.objects.unscoped().get(organization=org, user=invitee)
    assert membership.role == Role.SUPPORT_AGENT
    assert client.session[SESSION_ORG_KEY] == str(org.pk)
    assert Membership.objects.unscoped().get(organization=other_org, user=invitee).role == "owner"


def test_a_removed_member_invited_back_gets_the_membership_restored_with_the_new_role(
    owner, rep, org
):
    # given
    old = Membership.objects.unscoped().get(organization=org, user=rep)
    services.membership_remove(membership=old, actor=owner)
    invitation = _invite(org, owner, email=rep.email, role=Role.MANAGER)

    # when
    membership = services.invitation_accept(
        token=_token(services.invitation_link(invitation)), user=rep
    )

    # then
    assert membership.pk == old.pk
    membership.refresh_from_db()
    assert (membership.deleted_at, membership.role) == (None, Role.MANAGER)
    assert Membership.objects.unscoped().filter(organization=org, user=rep).count() == 1


@pytest.mark.parametrize(
    "case, message",
    [
        ("tampered", "This invitation link is not valid. Check that it is complete."),
        ("expired", "This invitation has expired. Ask for a new one."),
        ("revoked", "This invitation has been withdrawn."),
        ("reused", "This invitation has already been used."),
        ("wrong_email", "This invitation was sent to ivy@example.com, but you are signed in as"),
    ],
)
def test_a_link_that_cannot_be_used_says_why_and_grants_nothing(
    owner, org, other_org, settings, case, message
):
    # given
    invitee = make_member(other_org, Role.OWNER, email=INVITEE)
    invitation = _invite(org, owner)
    token = _token(services.invitation_link(invitation))
    user = invitee
    if case == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "expired":
        settings.INVITATION_MAX_AGE = -1
    elif case == "revoked":
        services.invitation_revoke(invitation=invitation, actor=owner)
    elif case == "reused":
        services.invitation_accept(token=token, user=invitee)
        user = make_member(other_org, Role.SALES_REP)
        user.email = INVITEE.upper()  # even the same address, another account: used is used
    elif case == "wrong_email":
        user = make_member(other_org, Role.SALES_REP, email="someone.else@example.com")
    members_before = Membership.objects.unscoped().filter(organization=org).count()

    # when the service is asked
    with pytest.raises(ApplicationError) as caught:
        services.invitation_accept(token=token, user=user)

    # then
    assert caught.value.message.startswith(message)
    assert Membership.objects.unscoped().filter(organization=org).count() == members_before
    if case != "reused":
        assert _memberships(org, INVITEE) == 0

    # and the page says the same
    client = login(user, other_org) if case == "wrong_email" else None
    if client is None:
        client = login(UserFactory()) if case == "reused" else login(invitee, other_org)
    path = reverse("accounts:invitation_accept", args=[token])
    response = client.post(path)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert Membership.objects.unscoped().filter(organization=org).count() == members_before


def test_invitation_page_for_a_visitor_with_a_broken_link_is_a_clear_400(client, db):
    # when
    response = client.get(reverse("accounts:invitation_accept", args=["garbage:token"]))

    # then
    assert response.status_code == 400
    assert "This invitation link is not valid" in response.content.decode()


def test_an_invitation_expires_by_its_creation_time_too(owner, org):
    # given an invitation created longer ago than INVITATION_MAX_AGE
    invitation = _invite(org, owner)
    token = _token(services.invitation_link(invitation))
    Invitation.objects.unscoped().filter(pk=invitation.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=30)
    )
    invitee = UserFactory(email=INVITEE)

    # when
    with pytest.raises(ApplicationError) as caught:
        services.invitation_accept(token=token, user=invitee)

    # then
    assert caught.value.message == "This invitation has expired. Ask for a new one."
    assert _memberships(org, INVITEE) == 0


# --- revoking -------------------------------------------------------------------------------


def test_members_page_lists_invitations_with_status_and_revoke_withdraws(
    owner_client, owner, org, settings
):
    # given one invitation in each state
    pending = _invite(org, owner, email="pending@example.com")
    revoked = _invite(org, owner, email="revoked@example.com")
    services.invitation_revoke(invitation=revoked, actor=owner)
    expired = _invite(org, owner, email="expired@example.com")
    Invitation.objects.unscoped().filter(pk=expired.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=30)
    )
    accepted = _invite(org, owner, email="accepted@example.com")
    services.invitation_accept(
        token=_token(services.invitation_link(accepted)),
        user=UserFactory(email="accepted@example.com"),
    )

    # when
    page = owner_client.get(reverse("accounts:member_list"))

    # then
    statuses = {i.email: i.status for i in page.context["invitations"]}
    assert statuses == {
        "pending@example.com": "pending",
        "revoked@example.com": "revoked",
        "expired@example.com": "expired",
        "accepted@example.com": "accepted",
    }

    # when the pending one is withdrawn
    response = owner_client.post(reverse("accounts:invitation_revoke", args=[pending.pk]))

    # then
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.revoked_at is not None


def test_an_accepted_invitation_cannot_be_revoked(owner, org):
    # given
    invitation = _invite(org, owner)
    services.invitation_accept(
        token=_token(services.invitation_link(invitation)), user=UserFactory(email=INVITEE)
    )

    # when
    with pytest.raises(ApplicationError):
        services.invitation_revoke(invitation=invitation, actor=owner)

    # then
    invitation.refresh_from_db()
    assert (invitation.status, invitation.revoked_at) == ("accepted", None)
