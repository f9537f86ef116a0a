"""What the generic view and API test classes share: the model, its objects, its people."""

from __future__ import annotations

import uuid

import pytest
from django.urls import NoReverseMatch, reverse

from .factories import get_factory
from .records import denied_roles
from .world import World


class RecordTestBase:
    """Declares the record type under test; subclasses add data, never test logic.

    ``model``         the TenantModel under test
    ``make_object``   ``(org, actor) -> saved instance``; defaults to the registered factory.
                      Called inside ``tenant_context(org, actor=actor)``.
    """

    model = None

    @pytest.fixture
    def world(self, db) -> World:
        return World.build()

    def make_object(self, org, actor):
        return get_factory(self.model)(org, actor)

    def create_object(self, world: World, org=None):
        """A saved record in ``org`` (default: organization A) made by its owner."""
        org = org or world.org
        with world.inside(org) as _org:
            actor = world.owner if org == world.org else world.other_owner
            return self.make_object(_org, actor)

    def resolve_data(self, data, world: World) -> dict:
        """Declared data may be a dict or a callable ``(world) -> dict`` (for FKs in org A)."""
        if callable(data):
            with world.inside():
                return data(world)
        return dict(data or {})

    def denied_users(self, world: World, action: str) -> list:
        """One member of organization A per role that may not ``action`` this record type.

        When the default matrix lets every role do it, the organization's own matrix
        takes ``action`` away from read-only members, so the denial path is still tested.
        """
        roles = denied_roles(self.model, action, world.org)
        if not roles:
            from pulse.accounts.models import Membership
            from pulse.accounts.permissions import allowed_actions

            label = self.model._meta.label_lower
            reader = Membership(role="read_only", organization=world.org)
            kept = allowed_actions(reader, self.model) - {action}
            world.org.permission_overrides = {"read_only": {label: sorted(kept)}}
            world.org.save(update_fields=["permission_overrides"])
            roles = ["read_only"]
        return [world.member(role) for role in roles]

    @property
    def opts(self):
        return self.model._meta


# Suffixes tried, in order, for each kind of page when ``url_names`` does not say.
URL_SUFFIXES = {
    "list": ("list",),
    "detail": ("detail",),
    "create": ("create",),
    "edit": ("edit",),
    "delete": ("delete",),
}


class ViewTestBase(RecordTestBase):
    """``url_names`` maps kind → URL name; by default ``<app>:<model>_<kind>`` (rule 12)."""

    url_names: dict[str, str] = {}

    def url_name(self, kind: str) -> str:
        if kind in self.url_names:
            return self.url_names[kind]
        prefix = f"{self.opts.app_label}:{self.opts.model_name}"
        candidates = [f"{prefix}_{suffix}" for suffix in URL_SUFFIXES.get(kind, (kind,))]
        for name in candidates:
            try:
                reverse(name, kwargs={} if kind in ("list", "create") else {"pk": uuid.uuid4()})
            except NoReverseMatch:
                continue
            return name
        raise AssertionError(
            f"no URL named {' or '.join(candidates)}: declare url_names={{{kind!r}: …}}"
        )

    def url(self, kind: str, obj=None) -> str:
        kwargs = {"pk": obj.pk} if obj is not None else {}
        return reverse(self.url_name(kind), kwargs=kwargs)
