"""Rule 2: the permission matrix, per role and action, applied by restrict()."""

import pytest

from pulse.accounts.models import Role, Team
from pulse.accounts.permissions import ACTIONS, can
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Tag
from tests.accounts.factories import make_member

# What each role may do with business records ("records" group, e.g. tags) and
# with organization configuration ("config" group, e.g. teams), by default.
EXPECTED_RECORDS = {
    Role.OWNER: set(ACTIONS),
    Role.ADMIN: set(ACTIONS),
    Role.MANAGER: {"view", "create", "edit", "delete", "import", "export"},
    Role.SALES_REP: {"view", "create", "edit", "delete", "export"},
    Role.SUPPORT_AGENT: {"view", "create", "edit"},
    Role.READ_ONLY: {"view"},
}
EXPECTED_CONFIG = {
    Role.OWNER: set(ACTIONS),
    Role.ADMIN: set(ACTIONS),
    Role.MANAGER: {"view"},
    Role.SALES_REP: {"view"},
    Role.SUPPORT_AGENT: {"view"},
    Role.READ_ONLY: {"view"},
}


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("action", ACTIONS)
def test_each_role_and_action_on_records_and_config(org, owner, role, action):
    user = make_member(org, role)
    with tenant_context(org, actor=owner):
        tag = record_create(Tag, org=org, actor=owner, name="VIP")
        team = record_create(Team, org=org, actor=owner, name="Field sales")
        assert can(user, action, Tag) == (action in EXPECTED_RECORDS[role])
        assert can(user, action, Team) == (action in EXPECTED_CONFIG[role])
        tags = list(Tag.objects.restrict(user, action))
        teams = list(Team.objects.restrict(user, action))
    assert tags == ([tag] if action in EXPECTED_RECORDS[role] else [])
    assert teams == ([team] if action in EXPECTED_CONFIG[role] else [])


def test_organization_override_changes_the_matrix(org, owner):
    rep = make_member(org, Role.SALES_REP)
    org.permission_overrides = {Role.SALES_REP: {"extras.tag": ["view"]}}
    org.save()
    with tenant_context(org, actor=owner):
        record_create(Tag, org=org, actor=owner, name="VIP")
        assert Tag.objects.restrict(rep, "view").count() == 1
        assert Tag.objects.restrict(rep, "edit").count() == 0


def test_owner_cannot_be_locked_out_by_overrides(org, owner):
    org.permission_overrides = {Role.OWNER: {"extras.tag": []}}
    org.save()
    with tenant_context(org, actor=owner):
        record_create(Tag, org=org, actor=owner, name="VIP")
        assert Tag.objects.restrict(owner, "delete").count() == 1


def test_non_member_sees_nothing(org, owner, other_owner):
    with tenant_context(org, actor=owner):
        record_create(Tag, org=org, actor=owner, name="VIP")
        assert Tag.objects.restrict(other_owner, "view").count() == 0
