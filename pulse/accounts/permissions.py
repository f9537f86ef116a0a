"""The permission matrix and record visibility: who may do what to which rows.

``restrict_queryset`` is the single place both are applied (DESIGN rule 2); views,
viewsets, exports and selectors reach it through ``Model.objects.restrict(user, action)``.
"""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet

from pulse.core.tenancy import get_current_org

from .models import Membership, RecordVisibility, Role, Team

ACTIONS = ("view", "create", "edit", "delete", "import", "export", "manage_settings")
ALL = frozenset(ACTIONS)
WORK = frozenset({"view", "create", "edit", "delete", "import", "export"})

# Default matrix by permission group. "records" are the business records people
# work on; "config" are organization settings objects (teams, members, custom fields).
DEFAULT_MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "records": {
        Role.OWNER: ALL,
        Role.ADMIN: ALL,
        Role.MANAGER: WORK,
        Role.SALES_REP: frozenset({"view", "create", "edit", "delete", "export"}),
        Role.SUPPORT_AGENT: frozenset({"view", "create", "edit"}),
        Role.READ_ONLY: frozenset({"view"}),
    },
    "config": {
        Role.OWNER: ALL,
        Role.ADMIN: ALL,
        Role.MANAGER: frozenset({"view"}),
        Role.SALES_REP: frozenset({"view"}),
        Role.SUPPORT_AGENT: frozenset({"view"}),
        Role.READ_ONLY: frozenset({"view"}),
    },
    # Targets managers set for their people (quotas): reps see theirs.
    "goals": {
        Role.OWNER: ALL,
        Role.ADMIN: ALL,
        Role.MANAGER: WORK,
        Role.SALES_REP: frozenset({"view"}),
        Role.SUPPORT_AGENT: frozenset({"view"}),
        Role.READ_ONLY: frozenset({"view"}),
    },
    # The organization-wide change log (a record's own History tab follows the record).
    "audit": {Role.OWNER: frozenset({"view", "export"}), Role.ADMIN: frozenset({"view", "export"})},
    # Rows that belong to one person (notifications, private saved views): everyone
    # manages their own; the model's owner filter keeps others' out of reach.
    "personal": {role: WORK for role in Role.values},
}


def record_type(model: type[Model]) -> str:
    return model._meta.label_lower


def membership_for(user, org=None) -> Membership | None:
    """The user's live membership in ``org`` (default: the current one), cached on the user."""
    org = org or get_current_org()
    if org is None or user is None or not user.is_authenticated:
        return None
    cache = user.__dict__.setdefault("_pulse_memberships", {})
    if org.pk not in cache:
        cache[org.pk] = (
            Membership.objects.unscoped()
            .filter(organization=org, user=user, deleted_at__isnull=True, user__is_active=True)
            .select_related("organization")
            .first()
        )
    return cache[org.pk]


def allowed_actions(membership: Membership, model: type[Model]) -> frozenset[str]:
    """The actions ``membership``'s role may take on ``model`` in its organization."""
    if membership.role == Role.OWNER:
        return ALL  # an owner can never lock themselves out
    group = getattr(model, "permission_group", "records")
    overrides = (membership.organization.permission_overrides or {}).get(membership.role, {})
    if record_type(model) in overrides:
        return frozenset(overrides[record_type(model)]) & ALL
    return DEFAULT_MATRIX.get(group, DEFAULT_MATRIX["records"]).get(membership.role, frozenset())


def can(user, action: str, model: type[Model], org=None) -> bool:
    """May ``user`` take ``action`` on records of ``model`` at all (ignoring visibility)?"""
    membership = membership_for(user, org)
    return membership is not None and action in allowed_actions(membership, model)


def visible_user_ids(membership: Membership) -> QuerySet:
    """Users whose records a restricted-visibility member sees (a subquery, not a list)."""
    user = membership.user
    teams = Team.objects.unscoped().filter(
        organization_id=membership.organization_id, deleted_at__isnull=True
    )
    in_team = Q(members=user)
    if membership.role == Role.MANAGER:
        in_team |= Q(manager=user)
    own_teams = teams.filter(in_team)
    member_ids = Team.members.through.objects.filter(team__in=own_teams.values("pk")).values(
        "user_id"
    )
    from .models import User

    return User.objects.filter(Q(pk__in=member_ids) | Q(pk=user.pk))


def restrict_queryset(qs: QuerySet, user, action: str) -> QuerySet:
    """Apply the permission matrix and record visibility to ``qs`` for ``user``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    model = qs.model
    membership = membership_for(user)
    if membership is None or action not in allowed_actions(membership, model):
        return qs.none()
    custom = getattr(model, "restrict_for", None)
    if custom is not None:
        qs = custom(qs, membership, action)
    field = getattr(model, "visibility_field", None)
    if (
        field
        and membership.organization.record_visibility == RecordVisibility.TEAM
        and not membership.is_admin
    ):
        qs = qs.filter(**{f"{field}__in": visible_user_ids(membership).values("pk")})
    return qs
