"""Contacts and companies for tests, made through the services (like users make them)."""

from __future__ import annotations

import itertools

from pulse.contacts.models import Company, Contact
from pulse.contacts.services import company_create, contact_create
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
