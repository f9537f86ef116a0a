"""The factory registry: one way to make a record of every tenant model, for generic tests.

Each app's tests register a factory per tenant-scoped model::

    from pulse.core.testing import register_factory

    @register_factory(Contact)
    def make_contact(org, actor):
        return contact_create(org=org, actor=actor, first_name="Ada", last_name="Lovelace")

The tenant-isolation test (tests/test_isolation.py) asks this registry for every concrete
``TenantScopedModel`` and fails, naming the model, when one has no factory -- so a new
model cannot slip past rule 1 unnoticed. Factories are called inside
``tenant_context(org, actor=actor)`` and return a saved instance owned by ``org``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from django.apps import apps

Factory = Callable[[Any, Any], Any]

# model -> (factory, is_fallback)
_factories: dict[type, tuple[Factory, bool]] = {}


class FactoryRegistryError(LookupError):
    """A tenant model has no factory, or two factories claim one model."""


def register_factory(model: type, *, fallback: bool = False) -> Callable[[Factory], Factory]:
    """Register ``factory(org, actor) -> instance`` for ``model``.

    ``fallback=True`` marks a stop-gap that any non-fallback registration replaces
    (used while an app's own tests have not registered one yet).
    """

    def decorator(factory: Factory) -> Factory:
        current = _factories.get(model)
        if current is None or current[1]:
            _factories[model] = (factory, fallback)
        elif not fallback and current[0] is not factory:
            raise FactoryRegistryError(
                f"{model._meta.label} already has a factory ({current[0].__qualname__}); "
                f"{factory.__qualname__} would replace it"
            )
        return factory

    return decorator


def get_factory(model: type) -> Factory:
    """The registered factory for ``model``; raises naming the model if there is none."""
    if model not in _factories:
        autodiscover_factories()
    try:
        return _factories[model][0]
    except KeyError:
        raise FactoryRegistryError(
            f"No test factory is registered for {model._meta.label}. Register one in "
            f"tests/{model._meta.app_label}/factories.py with "
            f"@register_factory({model.__name__}) (see docs/development.md)."
        ) from None


def has_factory(model: type) -> bool:
    if model not in _factories:
        autodiscover_factories()
    return model in _factories


def tenant_models() -> list[type]:
    """Every concrete model deriving from ``TenantScopedModel``, in app order."""
    from pulse.core.models import TenantScopedModel

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantScopedModel) and not model._meta.proxy
    ]


def autodiscover_factories(package: str = "tests") -> list[str]:
    """Import ``<package>.<app>.factories`` for every PulseCRM app that has one.

    Returns the module names imported. A module that exists but fails to import
    raises: a broken factories module must not look like a missing one.
    """
    imported = []
    for config in apps.get_app_configs():
        if not config.name.startswith("pulse."):
            continue
        name = f"{package}.{config.name.rsplit('.', 1)[-1]}.factories"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # this app has no factories module (yet)
            raise
        imported.append(name)
    return imported
