"""The tenancy context: which organization, actor and source the current work belongs to.

It is set in exactly one place per entry point: ``TenantMiddleware`` (web),
the API authentication classes (API), ``tenant_task`` (Celery) and
``tenant_context`` for commands and tests. Everything else reads it.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

_org: ContextVar[Any] = ContextVar("pulse_org", default=None)
_actor: ContextVar[Any] = ContextVar("pulse_actor", default=None)
_source: ContextVar[str] = ContextVar("pulse_source", default="system")
_request_id: ContextVar[str] = ContextVar("pulse_request_id", default="")
# Reads worth doing once per request or task (see ``memoized``); fresh per activation.
_memo: ContextVar[dict | None] = ContextVar("pulse_memo", default=None)

SOURCES = ("web", "api", "admin", "import", "task", "system")


def get_current_org():
    return _org.get()


def get_current_actor():
    return _actor.get()


def get_current_source() -> str:
    return _source.get()


def get_request_id() -> str:
    return _request_id.get()


@dataclass
class _Tokens:
    org: Any
    actor: Any
    source: Any
    memo: Any = None


def activate(org, *, actor=None, source: str | None = None) -> _Tokens:
    """Set the context; return tokens for ``deactivate``. Prefer ``tenant_context``."""
    return _Tokens(
        _org.set(org),
        _actor.set(actor),
        _source.set(source) if source else _source.set(_source.get()),
        _memo.set({}),
    )


def deactivate(tokens: _Tokens) -> None:
    if tokens.memo is not None:
        _memo.reset(tokens.memo)
    _source.reset(tokens.source)
    _actor.reset(tokens.actor)
    _org.reset(tokens.org)


@contextmanager
def tenant_context(org, *, actor=None, source: str | None = None):
    """Run a block as ``actor`` inside ``org`` (commands, tasks, tests)."""
    tokens = activate(org, actor=actor, source=source)
    try:
        yield org
    finally:
        deactivate(tokens)


@contextmanager
def request_id_context(value: str | None = None):
    token = _request_id.set(value or uuid.uuid4().hex)
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


def memoized(key: tuple, factory):
    """``factory()``, computed once per tenant context (a request, a task, a block).

    For small configuration reads that several parts of one page need (custom field
    definitions, lead settings): each costs a query, and a list page asked for some of
    them twice. Outside a context nothing is kept. The services that change such data
    call ``forget`` so a later read in the same context sees the change.
    """
    store = _memo.get()
    if store is None:
        return factory()
    if key not in store:
        store[key] = factory()
    return store[key]


def forget(kind: str) -> None:
    """Drop the memoized reads whose key starts with ``kind`` (or with a tuple of kinds
    that holds it: a read of several tables names them all)."""
    store = _memo.get()
    if store:
        for key in [k for k in store if k and (k[0] == kind or _names(k[0], kind))]:
            del store[key]


def _names(head, kind: str) -> bool:
    return isinstance(head, tuple) and kind in head
