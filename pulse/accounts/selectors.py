"""Reads about users, organizations and memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.models import TenantModel

from .models import Invitation, Membership, Organization, Role, User

SESSION_ORG_KEY = "pulse_org_id"
INVITATION_SALT = "pulse.invitation"


def memberships_of(user: User) -> QuerySet[Membership]:
    """A user's live memberships across organizations (crosses tenants by design)."""
    return (
        Membership.objects.unscoped()
        .filter(user=user, deleted_at__isnull=True)
        .select_related("organization")
        .order_by("organization__name")
    )


def active_membership_for_request(request) -> Membership | None:
    """The membership whose organization this web request works in.

    The session remembers the chosen organization; a user removed from it falls
    back to their last-used, then their first organization.
    """
    user = request.user
    memberships = list(memberships_of(user))
    # The layout's organization switcher lists the same rows: kept for this request.
    user.__dict__["_pulse_membership_list"] = memberships
    if not memberships:
        return None
    by_org = {str(m.organization_id): m for m in memberships}
    chosen = (
        by_org.get(request.session.get(SESSION_ORG_KEY) or "")
        or by_org.get(str(user.last_organization_id))
        or memberships[0]
    )
    if request.session.get(SESSION_ORG_KEY) != str(chosen.organization_id):
        request.session[SESSION_ORG_KEY] = str(chosen.organization_id)
    user.__dict__.setdefault("_pulse_memberships", {})[chosen.organization_id] = chosen
    return chosen


def organization_members(org: Organization) -> QuerySet[User]:
    """Active users with a live membership in ``org``, by name."""
    return User.objects.filter(
        memberships__organization=org, memberships__deleted_at__isnull=True, is_active=True
    ).order_by("full_name")


@dataclass(frozen=True, slots=True)
class Member:
    """A member as pickers and owner cells show one: id, name, email (no model row)."""

    pk: int
    full_name: str
    email: str

    def __str__(self) -> str:  # as ``User.__str__``
        return self.full_name or self.email


def organization_member_list(org: Organization) -> list[Member]:
    """``organization_members`` as plain values, by name: 3 ms for 858 members where
    whole ``User`` rows took 18 ms (bench/notes/scale.md)."""
    return [
        Member(pk, full_name, email)
        for pk, full_name, email in organization_members(org).values_list(
            "pk", "full_name", "email"
        )
    ]


def live_membership(user: User, org: Organization) -> Membership | None:
    """``user``'s live membership in ``org`` (uncached, unlike ``permissions.membership_for``)."""
    if user is None or not user.is_authenticated or org is None:
        return None
    return (
        Membership.objects.unscoped()
        .filter(organization=org, user=user, deleted_at__isnull=True, user__is_active=True)
        .select_related("organization")
        .first()
    )


def default_organization_for(user: User) -> Organization | None:
    """The organization a fresh API login works in: the last used, else the first by name."""
    memberships = list(memberships_of(user))
    for membership in memberships:
        if membership.organization_id == user.last_organization_id:
            return membership.organization
    return memberships[0].organization if memberships else None


def user_by_email(email: str) -> User | None:
    """The user with this address (stored lower-case, so the unique index serves the lookup)."""
    return User.objects.filter(email=email.strip().lower()).first()


def invitation_from_token(token: str, *, lock: bool = False) -> Invitation:
    """The live invitation a signed link names, or an ``ApplicationError`` saying why not.

    The link carries the invitation id signed with salt ``pulse.invitation``; its
    timestamp expires after ``settings.INVITATION_MAX_AGE`` seconds. ``lock`` takes a
    row lock for a service about to accept it.
    """
    try:
        invitation_id = signing.loads(
            token, salt=INVITATION_SALT, max_age=settings.INVITATION_MAX_AGE
        )
    except signing.SignatureExpired:
        raise ApplicationError(_("This invitation has expired. Ask for a new one."))
    except signing.BadSignature:
        raise ApplicationError(_("This invitation link is not valid. Check that it is complete."))
    # The visitor has no organization yet: the signed id is what scopes this lookup.
    qs = Invitation.objects.unscoped().select_related("organization", "invited_by")
    if lock:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(pk=invitation_id).first() if _is_uuid(invitation_id) else None
    if invitation is None:
        raise ApplicationError(_("This invitation link is not valid. Check that it is complete."))
    if invitation.accepted_at is not None:
        raise ApplicationError(_("This invitation has already been used."))
    if invitation.revoked_at is not None:
        raise ApplicationError(_("This invitation has been withdrawn."))
    if invitation.status == "expired":
        raise ApplicationError(_("This invitation has expired. Ask for a new one."))
    return invitation


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class PermissionRow:
    """One record type of the permission matrix: for each role, the actions it has."""

    label: str
    name: str
    group: str
    by_role: dict[str, frozenset[str]]


def permission_record_types() -> list[type[Model]]:
    """Record types the permission matrix shows: business records, configuration, the log."""
    from pulse.audit.models import AuditEntry

    found = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel)
        and not model._meta.proxy
        and getattr(model, "permission_group", "records") in ("records", "config", "goals")
    ]
    found.append(AuditEntry)
    return sorted(found, key=lambda m: (m.permission_group != "records", m._meta.label_lower))


def permission_matrix(org: Organization) -> list[PermissionRow]:
    """The effective matrix of ``org``: defaults with its overrides applied, per record type."""
    from .permissions import ALL, DEFAULT_MATRIX, record_type

    overrides = org.permission_overrides or {}
    rows = []
    for model in permission_record_types():
        label = record_type(model)
        group = getattr(model, "permission_group", "records")
        defaults = DEFAULT_MATRIX.get(group, DEFAULT_MATRIX["records"])
        by_role = {}
        for role in Role.values:
            if role == Role.OWNER:
                by_role[role] = ALL
            elif label in overrides.get(role, {}):
                by_role[role] = frozenset(overrides[role][label]) & ALL
            else:
                by_role[role] = defaults.get(role, frozenset())
        rows.append(
            PermissionRow(
                label=label,
                name=str(model._meta.verbose_name_plural).capitalize(),
                group=group,
                by_role=by_role,
            )
        )
    return rows
