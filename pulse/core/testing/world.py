"""Two organizations and their people: the stage every generic test plays on.

Rows are written directly (this is test set-up, like ``tests/accounts/factories.py``);
what the tests then do goes through the real entry points (web client, API token).
"""

from __future__ import annotations

import itertools
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.test import Client
from django.utils.text import slugify
from rest_framework.test import APIClient

from pulse.core.tenancy import tenant_context

PASSWORD = "correct-horse-battery-staple"
_sequence = itertools.count(1)


def make_organization(name: str | None = None):
    from pulse.accounts.models import Organization

    n = next(_sequence)
    name = name or f"Organization {n}"
    return Organization.objects.create(name=name, slug=f"{slugify(name)[:40]}-{n}")


def make_user(org=None, role: str = "owner", *, password: str | None = None, **fields):
    """A user, and (with ``org``) their membership with ``role``.

    No password by default: the generic tests sign in with ``force_login`` and API
    tokens, and hashing a password costs about half a second. Pass ``password=PASSWORD``
    for a user who must log in through the form.
    """
    from pulse.accounts.models import Membership, User

    n = next(_sequence)
    fields.setdefault("email", f"person{n}-{secrets.token_hex(3)}@example.com")
    fields.setdefault("full_name", f"Person {n}")
    user = User.objects.create_user(password=password, **fields)
    if org is not None:
        Membership.objects.unscoped().create(organization=org, user=user, role=role)
    return user


def web_client(user, org) -> Client:
    """A browser-like client signed in as ``user`` and working in ``org``."""
    from pulse.accounts.selectors import SESSION_ORG_KEY

    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_ORG_KEY] = str(org.pk)
    session.save()
    return client


def session_api_client(user, org) -> APIClient:
    """An API client riding the browser session (what the web UI's own API calls use)."""
    from pulse.accounts.selectors import SESSION_ORG_KEY

    client = APIClient()
    client.force_login(user)
    session = client.session
    session[SESSION_ORG_KEY] = str(org.pk)
    session.save()
    return client


def make_api_key(user, org, name: str = "test token") -> str:
    """A personal API token for ``user`` in ``org``; returns the secret key."""
    from pulse.accounts.models import ApiToken

    key = ApiToken.PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.unscoped().create(
        organization=org,
        user=user,
        name=name,
        key_prefix=key[:12],
        key_hash=ApiToken.hash_key(key),
    )
    return key


def api_client(user, org) -> APIClient:
    """An API client authenticated by a real personal API token (the integrator's path)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_api_key(user, org)}")
    return client


@dataclass
class World:
    """Organization A (``org``, ``owner``) and organization B (``other_org``, ``other_owner``)."""

    org: object
    owner: object
    other_org: object
    other_owner: object
    _members: dict = field(default_factory=dict)

    @classmethod
    def build(cls) -> World:
        org = make_organization("Acme Ltd")
        other_org = make_organization("Globex Corp")
        return cls(
            org=org,
            owner=make_user(org, "owner", full_name="Olivia Owner"),
            other_org=other_org,
            other_owner=make_user(other_org, "owner", full_name="Oscar Other"),
        )

    def member(self, role: str, org=None):
        """A (cached) user with ``role`` in ``org`` (default: organization A)."""
        org = org or self.org
        key = (org.pk, role)
        if key not in self._members:
            self._members[key] = make_user(org, role, full_name=f"{role.title()} Person")
        return self._members[key]

    @contextmanager
    def inside(self, org=None, actor=None, source: str = "system"):
        """Run a block in ``org`` (default A) as ``actor`` (default its owner)."""
        org = org or self.org
        if actor is None:
            actor = self.owner if org == self.org else self.other_owner
        with tenant_context(org, actor=actor, source=source):
            yield org
