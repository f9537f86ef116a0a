"""Reads about users, organizations and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Membership, Organization, User

SESSION_ORG_KEY = "pulse_org_id"


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
    if not memberships:
        return None
    by_org = {str(m.organization_id): m for m in memberships}
    chosen = (
        by_org.get(request.session.get(SESSION_ORG_KEY) or "")
        or by_org.get(str(user.last_organization_id))
        or memberships[0]
    )
    request.session[SESSION_ORG_KEY] = str(chosen.organization_id)
    user.__dict__.setdefault("_pulse_memberships", {})[chosen.organization_id] = chosen
    return chosen


def organization_members(org: Organization) -> QuerySet[User]:
    return User.objects.filter(
        memberships__organization=org, memberships__deleted_at__isnull=True, is_active=True
    ).order_by("full_name")
