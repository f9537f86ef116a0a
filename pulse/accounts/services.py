"""State changes of accounts: sign-up, organizations, members, invitations, teams, tokens.

Every function is atomic, keyword-only and takes the acting user (DESIGN rule 3).
A refused change raises ``ApplicationError`` (``PermissionDeniedError`` when the
actor's role is the reason) with field errors, and writes nothing. Tenant rows go
through ``pulse.core.services.record_*`` so versioning and audit are uniform.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from pulse.core import tenancy
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import (
    full_clean_or_raise,
    record_create,
    record_delete,
    record_restore,
    record_update,
)

from .models import ApiToken, Invitation, Membership, Organization, Role, Team, User
from .permissions import ACTIONS, can, record_type
from .selectors import (
    INVITATION_SALT,
    SESSION_ORG_KEY,
    invitation_from_token,
    live_membership,
    organization_members,
    permission_record_types,
    user_by_email,
)

# The organization settings people may change, in the order forms show them.
ORGANIZATION_SETTINGS_FIELDS = (
    "name",
    "logo",
    "default_currency",
    "country",
    "time_zone",
    "date_format",
    "fiscal_year_start_month",
    "record_visibility",
    "trash_retention_days",
)
TEAM_FIELDS = frozenset({"name", "manager", "members"})


# --- shared checks -----------------------------------------------------------------------


@contextmanager
def _acting_in(org: Organization, actor):
    """Work inside ``org`` as ``actor`` (the tenant manager and the audit need both).

    Services called outside a request for that organization (sign-up, accepting an
    invitation, a JWT login) bring their own context; the source stays the caller's.
    """
    with tenancy.tenant_context(org, actor=actor):
        yield


def _require_admin(actor: User, org: Organization) -> Membership:
    """The actor's membership, if they are an owner or admin of ``org``; else refuse."""
    membership = live_membership(actor, org)
    if membership is None or not membership.is_admin:
        raise PermissionDeniedError(_("Only owners and admins of the organization can do this."))
    return membership


def _require_can(actor: User, action: str, model, org: Organization) -> None:
    if not can(actor, action, model, org):
        raise PermissionDeniedError(_("Your role does not allow this."))


def _validate_new_user(email: str, full_name: str, password: str) -> dict[str, list[str]]:
    """Field errors of a would-be account (empty when it may be created)."""
    errors: dict[str, list[str]] = {}
    if not full_name:
        errors["full_name"] = [_("Enter your name.")]
    elif len(full_name) > User._meta.get_field("full_name").max_length:
        errors["full_name"] = [_("Use at most 150 characters.")]
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [_("Enter a valid email address.")]
    else:
        if user_by_email(email) is not None:
            errors["email"] = [_("An account with this email address already exists.")]
    if not password:
        errors["password"] = [_("Choose a password.")]
    else:
        try:
            password_validation.validate_password(
                password, user=User(email=email, full_name=full_name)
            )
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    return errors


def _user_create(*, email: str, full_name: str, password: str) -> User:
    try:
        with transaction.atomic():  # a savepoint: a racing sign-up loses cleanly
            return User.objects.create_user(email=email, password=password, full_name=full_name)
    except IntegrityError:
        raise ApplicationError(
            errors={"email": [_("An account with this email address already exists.")]}
        )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "organization"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def _validate_organization_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError(errors={field: [_("Enter a name for the organization.")]})
    if len(name) > Organization._meta.get_field("name").max_length:
        raise ApplicationError(errors={field: [_("Use at most 150 characters.")]})
    return name


def _organization_create(*, name: str, owner: User) -> Organization:
    """A new organization with ``owner`` as its owner, made their current one."""
    for _attempt in range(5):
        org = Organization(name=name, slug=_unique_slug(name))
        full_clean_or_raise(org, exclude=["slug"])
        try:
            with _acting_in(org, owner), transaction.atomic():
                org.save()
                record_create(Membership, org=org, actor=owner, user=owner, role=Role.OWNER)
        except IntegrityError:
            continue  # another sign-up took the slug between the check and the insert
        break
    else:  # pragma: no cover - five collisions in a row
        raise ApplicationError(errors={"name": [_("Please try again.")]})
    owner.last_organization = org
    owner.save(update_fields=["last_organization"])
    return org


# --- sign-up and organizations ----------------------------------------------------------------


@transaction.atomic
def organization_signup(
    *, email: str, full_name: str, password: str, organization_name: str
) -> tuple[User, Organization]:
    """Create an account and its first organization, with the new user as its owner.

    A taken email (in any case) is an error on ``email``; a password the validators
    refuse is an error on ``password``. Either way nothing is written.
    """
    email = (email or "").strip().lower()
    full_name = (full_name or "").strip()
    errors = _validate_new_user(email, full_name, password)
    try:
        organization_name = _validate_organization_name(organization_name, "organization_name")
    except ApplicationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ApplicationError(errors=errors)
    user = _user_create(email=email, full_name=full_name, password=password)
    org = _organization_create(name=organization_name, owner=user)
    return user, org


@transaction.atomic
def organization_create(*, actor: User, name: str) -> Organization:
    """An existing user creates another organization and becomes its owner."""
    name = _validate_organization_name(name)
    return _organization_create(name=name, owner=actor)


@transaction.atomic
def organization_update(*, organization: Organization, actor: User, **fields) -> Organization:
    """Change an organization's settings (owners and admins).

    Accepted fields: ``ORGANIZATION_SETTINGS_FIELDS``. ``logo=False`` removes the logo,
    ``logo=None`` leaves it; a new logo may be at most ``settings.MAX_LOGO_SIZE`` bytes.
    Returns a fresh instance; the one passed in is left untouched.
    """
    _require_admin(actor, organization)
    unknown = set(fields) - set(ORGANIZATION_SETTINGS_FIELDS)
    if unknown:
        raise ApplicationError(
            errors={name: [_("This setting can't be changed here.")] for name in sorted(unknown)}
        )
    if "logo" in fields:
        if fields["logo"] is None:
            del fields["logo"]
        elif fields["logo"] is False:
            fields["logo"] = ""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    for name, value in fields.items():
        setattr(org, name, value)
    full_clean_or_raise(org, exclude=["permission_overrides"])
    if fields:
        with _acting_in(org, actor):
            org.save(update_fields=sorted(fields))
    return org


@transaction.atomic
def organization_switch(*, user: User, organization_id, session) -> Organization:
    """Work in another organization the user belongs to, from now on and next time.

    Stores the choice in the session (``SESSION_ORG_KEY``) and as the user's
    ``last_organization``. Not a live member (or no such organization): an
    ``ApplicationError`` on ``organization`` and nothing changes.
    """
    refused = ApplicationError(
        errors={"organization": [_("You are not a member of this organization.")]}
    )
    try:
        org_pk = uuid.UUID(str(organization_id))
    except ValueError:
        raise refused
    membership = (
        Membership.objects.unscoped()
        .filter(organization_id=org_pk, user=user, deleted_at__isnull=True)
        .select_related("organization")
        .first()
    )
    if membership is None or not user.is_active:
        raise refused
    org = membership.organization
    session[SESSION_ORG_KEY] = str(org.pk)
    if user.last_organization_id != org.pk:
        User.objects.filter(pk=user.pk).update(last_organization=org)
        user.last_organization = org
    return org


# --- invitations ------------------------------------------------------------------------------


def invitation_link(invitation: Invitation) -> str:
    """The absolute, signed accept link (valid for ``settings.INVITATION_MAX_AGE``)."""
    token = signing.dumps(str(invitation.pk), salt=INVITATION_SALT)
    return settings.SITE_URL + reverse("accounts:invitation_accept", args=[token])


def _send_invitation_email(*, to: str, context: dict) -> None:
    subject = render_to_string("accounts/email/invitation_subject.txt", context)
    body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [to])


@transaction.atomic
def invitation_create(*, org: Organization, actor: User, email: str, role: str) -> Invitation:
    """Invite ``email`` to join ``org`` with ``role``; the link is emailed after commit.

    Owners and admins invite; only an owner may invite an owner. A new invitation
    to the same address withdraws earlier pending ones, so the latest link is the
    one that works.
    """
    actor_membership = _require_admin(actor, org)
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [_("Enter a valid email address.")]
    if role not in Role.values:
        errors["role"] = [_("Choose a role.")]
    elif role == Role.OWNER and actor_membership.role != Role.OWNER:
        errors["role"] = [_("Only an owner can invite another owner.")]
    if "email" not in errors and (
        Membership.objects.unscoped()
        .filter(organization=org, user__email=email, deleted_at__isnull=True)
        .exists()
    ):
        errors["email"] = [_("This person is already a member of the organization.")]
    if errors:
        raise ApplicationError(errors=errors)
    now = timezone.now()
    with _acting_in(org, actor):
        Invitation.objects.filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation(organization=org, email=email, role=role, invited_by=actor)
        full_clean_or_raise(invitation)
        invitation.save()
    context = {
        "organization": org.name,
        "inviter": actor.full_name or actor.email,
        "role": invitation.get_role_display(),
        "link": invitation_link(invitation),
        "expires_at": invitation.expires_at,
    }
    transaction.on_commit(partial(_send_invitation_email, to=email, context=context))
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    """Withdraw a pending invitation (owners and admins; an owner invitation by an owner)."""
    actor_membership = _require_admin(actor, invitation.organization)
    invitation = Invitation.objects.unscoped().select_for_update().get(pk=invitation.pk)
    if invitation.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDeniedError(_("Only an owner can withdraw an owner's invitation."))
    if invitation.accepted_at is not None:
        raise ApplicationError(
            _("This invitation has already been accepted; remove the member instead.")
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the organization a signed invitation names, with its role.

    Refused, with a message saying why and nothing written: a tampered or unknown
    link, an expired, withdrawn or already used invitation, an invitation sent to
    another address, or a user who already belongs there. A removed member who is
    invited back gets their old membership restored with the invited role.
    """
    invitation = invitation_from_token(token, lock=True)
    if user.email.lower() != invitation.email.lower():
        raise ApplicationError(
            _(
                "This invitation was sent to %(invited)s, but you are signed in as "
                "%(current)s. Sign in with the invited address to accept it."
            )
            % {"invited": invitation.email, "current": user.email}
        )
    org = invitation.organization
    with _acting_in(org, user):
        existing = (
            Membership.objects.unscoped().select_for_update().filter(organization=org, user=user)
        ).first()
        if existing is not None and not existing.is_deleted:
            raise ApplicationError(
                _("You are already a member of %(organization)s.") % {"organization": org.name}
            )
        if existing is not None:
            membership = record_restore(existing, actor=user)
            membership = record_update(membership, actor=user, role=invitation.role)
        else:
            membership = record_create(
                Membership, org=org, actor=user, user=user, role=invitation.role
            )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    user.last_organization = org
    user.save(update_fields=["last_organization"])
    return membership


@transaction.atomic
def invitation_signup(*, token: str, full_name: str, password: str) -> tuple[User, Membership]:
    """Create an account for the invited address (no organization of its own) and join."""
    invitation = invitation_from_token(token)
    full_name = (full_name or "").strip()
    errors = _validate_new_user(invitation.email, full_name, password)
    if errors:
        raise ApplicationError(errors=errors)
    user = _user_create(email=invitation.email, full_name=full_name, password=password)
    return user, invitation_accept(token=token, user=user)


# --- memberships ----------------------------------------------------------------------------


def _ensure_another_owner(membership: Membership, field: str) -> None:
    others = (
        Membership.objects.unscoped()
        .select_for_update()
        .filter(organization_id=membership.organization_id, role=Role.OWNER)
        .filter(deleted_at__isnull=True)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ApplicationError(
            errors={
                field: [
                    _("An organization needs at least one owner. Make someone else an owner first.")
                ]
            }
        )


@transaction.atomic
def membership_change_role(*, membership: Membership, actor: User, role: str) -> Membership:
    """Give a member another role (owners and admins).

    Only an owner grants or takes away the owner role, and the last owner keeps it.
    """
    actor_membership = _require_admin(actor, membership.organization)
    if role not in Role.values:
        raise ApplicationError(errors={"role": [_("Choose a role.")]})
    membership = (
        Membership.objects.unscoped()
        .select_for_update()
        .select_related("user")
        .get(pk=membership.pk)
    )
    if membership.is_deleted:
        raise ApplicationError(_("This person is no longer a member."))
    if role == membership.role:
        return membership
    if Role.OWNER in (role, membership.role) and actor_membership.role != Role.OWNER:
        raise PermissionDeniedError(
            errors={"role": [_("Only an owner can grant or take away the owner role.")]}
        )
    if membership.role == Role.OWNER:
        _ensure_another_owner(membership, "role")
    with _acting_in(actor_membership.organization, actor):
        return record_update(membership, actor=actor, role=role)


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> Membership:
    """Remove a member: their membership goes to the trash (restorable; records stay).

    Owners and admins remove members; only an owner removes an owner, never the last.
    """
    actor_membership = _require_admin(actor, membership.organization)
    membership = (
        Membership.objects.unscoped()
        .select_for_update()
        .select_related("user")
        .get(pk=membership.pk)
    )
    if membership.role == Role.OWNER:
        if actor_membership.role != Role.OWNER:
            raise PermissionDeniedError(_("Only an owner can remove an owner."))
        _ensure_another_owner(membership, "__all__")
    with _acting_in(actor_membership.organization, actor):
        return record_delete(membership, actor=actor)


# --- teams ---------------------------------------------------------------------------------


def _validate_team(org: Organization, fields: dict, team: Team | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        same_name = Team.objects.filter(name=fields["name"])
        if team is not None:
            same_name = same_name.exclude(pk=team.pk)
        if fields["name"] and same_name.exists():
            errors["name"] = [_("A team with this name already exists.")]
    people = [fields.get("manager")] if fields.get("manager") else []
    people += list(fields.get("members") or [])
    if people:
        in_org = set(
            organization_members(org)
            .filter(pk__in=[p.pk for p in people])
            .values_list("pk", flat=True)
        )
        manager = fields.get("manager")
        if manager and manager.pk not in in_org:
            errors["manager"] = [_("The manager must be a member of the organization.")]
        outsiders = [str(p) for p in fields.get("members") or [] if p.pk not in in_org]
        if outsiders:
            errors["members"] = [
                _("Not members of the organization: %(names)s.") % {"names": ", ".join(outsiders)}
            ]
    if errors:
        raise ApplicationError(errors=errors)
    if "members" in fields:
        fields["members"] = list(fields["members"] or [])
    return fields


@transaction.atomic
def team_create(
    *,
    org: Organization,
    actor: User,
    name: str,
    manager: User | None = None,
    members: Iterable[User] = (),
) -> Team:
    """Create a team; its manager and members must belong to the organization."""
    _require_can(actor, "create", Team, org)
    with _acting_in(org, actor):
        fields = _validate_team(org, {"name": name, "manager": manager, "members": members})
        return record_create(Team, org=org, actor=actor, **fields)


@transaction.atomic
def team_update(*, team: Team, actor: User, **fields) -> Team:
    """Change a team's ``name``, ``manager`` or ``members`` (the full list)."""
    _require_can(actor, "edit", Team, team.organization)
    unknown = set(fields) - TEAM_FIELDS
    if unknown:
        raise ApplicationError(
            errors={name: [_("This field can't be changed.")] for name in sorted(unknown)}
        )
    with _acting_in(team.organization, actor):
        fields = _validate_team(team.organization, fields, team)
        return record_update(team, actor=actor, **fields)


@transaction.atomic
def team_delete(*, team: Team, actor: User) -> Team:
    """Move a team to the trash (its members keep their memberships)."""
    _require_can(actor, "delete", Team, team.organization)
    with _acting_in(team.organization, actor):
        return record_delete(team, actor=actor)


# --- API tokens -----------------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *, user: User, org: Organization, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A personal API token for ``user`` in ``org``; returns it and its raw key.

    The raw key is returned once and never stored: the row keeps its SHA-256 hash
    and the first 12 characters for recognising it in lists.
    """
    if live_membership(user, org) is None:
        raise PermissionDeniedError(_("You are not a member of this organization."))
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Name the token after what will use it.")]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("Choose an expiry in the future.")]
    if errors:
        raise ApplicationError(errors=errors)
    raw_key = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        organization=org,
        user=user,
        name=name,
        key_prefix=raw_key[:12],
        key_hash=ApiToken.hash_key(raw_key),
        expires_at=expires_at,
    )
    with _acting_in(org, user):
        # 256 random bits: a uniqueness query on the hash would only cost time.
        full_clean_or_raise(token, exclude=["key_hash"])
        token.save()
    return token, raw_key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke one of the actor's own tokens; it stops working at once."""
    if token.user_id != actor.pk:
        raise PermissionDeniedError(_("You can only revoke your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


# --- permission matrix ------------------------------------------------------------------------


@transaction.atomic
def permission_matrix_update(
    *, organization: Organization, actor: User, overrides: dict
) -> Organization:
    """Replace the organization's changes to the default permission matrix.

    ``overrides`` is ``{role: {record_type_label: [actions]}}``; roles, record types
    (``selectors.permission_record_types``) and actions (``permissions.ACTIONS``) must
    be known, and the owner's permissions are never overridden.
    """
    _require_admin(actor, organization)
    known_types = {record_type(model) for model in permission_record_types()}
    problems: list[str] = []
    cleaned: dict[str, dict[str, list[str]]] = {}
    if not isinstance(overrides, dict):
        raise ApplicationError(
            errors={"permission_overrides": [_("Send an object of roles to record types.")]}
        )
    for role, by_type in overrides.items():
        if role == Role.OWNER:
            problems.append(_("The owner's permissions can't be changed."))
            continue
        if role not in Role.values:
            problems.append(_("Unknown role “%(role)s”.") % {"role": role})
            continue
        if not isinstance(by_type, dict):
            problems.append(_("Give the record types of “%(role)s” as an object.") % {"role": role})
            continue
        for label, actions in by_type.items():
            if label not in known_types:
                problems.append(_("Unknown record type “%(type)s”.") % {"type": label})
                continue
            if not isinstance(actions, list | tuple | set | frozenset) or not all(
                isinstance(a, str) for a in actions
            ):
                problems.append(_("Give the actions of “%(type)s” as a list.") % {"type": label})
                continue
            unknown = sorted(set(actions) - set(ACTIONS))
            if unknown:
                problems.append(_("Unknown action “%(action)s”.") % {"action": unknown[0]})
                continue
            cleaned.setdefault(role, {})[label] = [a for a in ACTIONS if a in actions]
    if problems:
        raise ApplicationError(errors={"permission_overrides": problems})
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    org.permission_overrides = cleaned
    with _acting_in(org, actor):
        org.save(update_fields=["permission_overrides"])
    return org


# --- the user's own account -------------------------------------------------------------------


@transaction.atomic
def user_update(*, user: User, actor: User, full_name: str, language: str) -> User:
    """Change a user's own profile: name and interface language."""
    if actor.pk != user.pk:
        raise PermissionDeniedError(_("You can only change your own profile."))
    errors: dict[str, list[str]] = {}
    full_name = (full_name or "").strip()
    if not full_name:
        errors["full_name"] = [_("Enter your name.")]
    if language not in dict(settings.LANGUAGES):
        errors["language"] = [_("Choose a language.")]
    if errors:
        raise ApplicationError(errors=errors)
    user.full_name = full_name
    user.language = language
    full_clean_or_raise(user, exclude=["password", "email"])
    user.save(update_fields=["full_name", "language"])
    return user
