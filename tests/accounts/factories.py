"""Factories for users, organizations, memberships, teams, invitations and tokens."""

import itertools

import factory
from django.utils.text import slugify

from pulse.accounts.models import ApiToken, Invitation, Membership, Organization, Role, Team, User
from pulse.accounts.services import api_token_create
from pulse.core.services import record_create
from pulse.core.testing import register_factory

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


def make_member(
    org: Organization, role: str = Role.SALES_REP, user: User | None = None, **user_fields
) -> User:
    """A user with ``role`` in ``org`` (rows written directly: this is test set-up)."""
    user = user or UserFactory(**user_fields)
    Membership.objects.unscoped().create(organization=org, user=user, role=role)
    return user


def make_team(org: Organization, name: str, *, manager=None, members=()) -> Team:
    team = Team.objects.unscoped().create(organization=org, name=name, manager=manager)
    team.members.set(members)
    return team


def make_png(size: tuple[int, int] = (40, 40), *, noise: bool = False) -> bytes:
    """PNG bytes for upload tests; ``noise`` makes it incompressible (large)."""
    import io
    import os

    from PIL import Image

    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (20, 120, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- factories for the generic tests (tests/test_isolation.py and the base classes) ---

_seq = itertools.count(1)


@register_factory(Membership)
def membership_factory(org, actor):
    return record_create(Membership, org=org, actor=actor, user=UserFactory(), role="sales_rep")


@register_factory(Team)
def team_factory(org, actor):
    return record_create(Team, org=org, actor=actor, name=f"Team {next(_seq)}")


@register_factory(Invitation)
def invitation_factory(org, actor):
    return Invitation.objects.create(
        organization=org, email=f"invitee{next(_seq)}@example.com", invited_by=actor
    )


@register_factory(ApiToken)
def api_token_factory(org, actor):
    token, _key = api_token_create(user=actor, org=org, name=f"token {next(_seq)}")
    return token
