"""Contacts and companies for tests, made through the services (like users make them)."""

from __future__ import annotations

import itertools

from pulse.contacts.models import Company, Contact, ContactRelationship, DuplicateDismissal
from pulse.contacts.services import (
    company_create,
    contact_create,
    contact_relationship_create,
    duplicate_dismiss,
)
from pulse.core.testing import register_factory

_n = itertools.count(1)


@register_factory(Company)
def make_company(org, actor, **fields):
    n = next(_n)
    fields.setdefault("name", f"Company {n}")
    return company_create(org=org, actor=actor, **fields)


@register_factory(Contact)
def make_contact(org, actor, **fields):
    n = next(_n)
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", f"Lovelace {n}")
    fields.setdefault("email", f"ada{n}@example.com")
    return contact_create(org=org, actor=actor, **fields)


@register_factory(ContactRelationship)
def make_contact_relationship(org, actor, **fields):
    """Two new contacts (unless given), the first reporting to the second."""
    if "from_contact" not in fields:
        fields["from_contact"] = make_contact(org, actor, first_name="Grace")
    if "to_contact" not in fields:
        fields["to_contact"] = make_contact(org, actor, first_name="Alan")
    fields.setdefault("kind", "reports_to")
    return contact_relationship_create(org=org, actor=actor, **fields)


@register_factory(DuplicateDismissal)
def make_duplicate_dismissal(org, actor, **fields):
    first, second = make_contact(org, actor), make_contact(org, actor)
    return duplicate_dismiss(org=org, actor=actor, kind="contacts", first=first, second=second)
