"""Rule 1, proven for everything: organization B never reaches organization A's records.

This test grows by itself. It enumerates every concrete ``TenantScopedModel`` and every
URL pattern (web pages and the API router alike), so a new model or route is covered
the moment it exists:

- each tenant model needs a factory (``register_factory`` in ``tests/<app>/factories.py``);
  a missing one fails, naming the model;
- (a) with organization B in context, the default manager never returns A's row;
- (b) every route taking a record id (``pk``, ``uuid``, ``object_id``, ``<model>_pk`` …)
  answers 404 to organization B's owner for A's record -- through a web session and
  through an API token, for every method the route allows -- and A's rows are unchanged;
- (c) no page or API list without ids shows organization B any of A's record ids.

A route whose model cannot be determined (the view class has no ``model``/``queryset``)
fails with its name: give the view a ``model`` rather than skipping it here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from pulse.audit.models import AuditEntry
from pulse.core.errors import TenantContextMissing
from pulse.core.models import TenantModel
from pulse.core.services import record_delete
from pulse.core.testing import World, api_client, web_client
from pulse.core.testing.factories import (
    autodiscover_factories,
    get_factory,
    has_factory,
    tenant_models,
)
from pulse.core.testing.records import snapshot
from pulse.core.testing.world import session_api_client

autodiscover_factories()

# This walk requests every route; that must not count as testing them (URL coverage).
pytestmark = pytest.mark.no_url_coverage

MODELS = tenant_models()
OBJECT_KWARG = re.compile(r"^(pk|id|uuid|object_id|(?P<model>\w+?)_(pk|id|uuid))$")
# Kwargs by which one route serves every record type (trash, history).
MULTI_MODEL_KWARGS = {"record_type", "content_type_id"}
METHODS = ("get", "post", "put", "patch", "delete")
# Namespaces outside rule 1's walk, with the reason.
EXCLUDED_NAMESPACES = {
    "admin": "staff-only Django admin; superusers work across organizations by design",
}
# Values for URL kwargs that are not record ids, per route name: {"name": {"kwarg": value}}.
EXTRA_KWARGS: dict[str, dict[str, str]] = {
    "reports:report_export": {"fmt": "csv"},  # a file format, not a record
}


@dataclass
class Route:
    name: str
    callback: object
    kwargs: list[str]
    view_class: type | None = None
    methods: list[str] = field(default_factory=list)

    @property
    def is_api(self) -> bool:
        return self.view_class is not None and issubclass(self.view_class, APIView)

    @property
    def is_multi_model(self) -> bool:
        """Routes that name the record type in the URL (trash, history)."""
        return bool(MULTI_MODEL_KWARGS & set(self.kwargs))


def _kwarg_names(pattern) -> list[str]:
    inner = pattern.pattern
    converters = getattr(inner, "converters", None)
    if converters:
        return list(converters)
    regex = getattr(inner, "regex", None)
    return list(regex.groupindex) if regex is not None else []


def _allowed_methods(callback, view_class) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a router route: the methods it maps
        methods = [m for m in METHODS if m in actions]
    elif view_class is not None:
        methods = [m for m in METHODS if hasattr(view_class, m)]
    else:
        methods = ["get", "post"]
    allowed = getattr(view_class, "http_method_names", METHODS)
    return [m for m in methods if m in allowed]


def _routes(patterns=None, namespace: str = "", inherited: tuple = ()) -> list[Route]:
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        kwargs = [*inherited, *_kwarg_names(pattern)]
        if isinstance(pattern, URLResolver):
            if pattern.namespace in EXCLUDED_NAMESPACES:
                continue
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            routes += _routes(pattern.url_patterns, ns, tuple(kwargs))
        elif isinstance(pattern, URLPattern):
            callback = pattern.callback
            view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
            name = f"{namespace}{pattern.name}" if pattern.name else f"<unnamed {pattern.pattern}>"
            methods = _allowed_methods(callback, view_class)
            routes.append(Route(name, callback, kwargs, view_class, methods))
    return routes


ALL_ROUTES = [r for r in _routes() if "format" not in r.kwargs]  # DRF's .json duplicates
OBJECT_ROUTES = [r for r in ALL_ROUTES if any(OBJECT_KWARG.match(k) for k in r.kwargs)]
PLAIN_GET_ROUTES = [r for r in ALL_ROUTES if not r.kwargs and "get" in r.methods]


def _route_model(route: Route):
    for source in (route.view_class, route.callback):
        model = getattr(source, "model", None)
        if model is None and getattr(source, "queryset", None) is not None:
            model = source.queryset.model
        if model is not None:
            return model
    return None


def _model_named(name: str):
    wanted = name.replace("_", "").lower()
    return next((m for m in MODELS if m._meta.model_name == wanted), None)


def _own_kwargs(route: Route) -> set[str]:
    own = {"pk", "id", "uuid", "object_id"}
    if route.view_class is not None:
        own.add(getattr(route.view_class, "pk_url_kwarg", "pk"))
        lookup = getattr(route.view_class, "lookup_url_kwarg", None) or getattr(
            route.view_class, "lookup_field", None
        )
        if lookup:
            own.add(lookup)
    return own


def _fill(route: Route, model, obj, objects: dict) -> dict:
    """The route's kwargs for ``obj`` (of ``model``); other record kwargs from ``objects``."""
    values = dict(EXTRA_KWARGS.get(route.name, {}))
    own_kwargs = _own_kwargs(route)
    for kwarg in route.kwargs:
        if kwarg in values:
            continue
        if kwarg == "record_type":
            values[kwarg] = model._meta.label_lower
            continue
        if kwarg == "content_type_id":
            values[kwarg] = ContentType.objects.get_for_model(model, for_concrete_model=False).pk
            continue
        match = OBJECT_KWARG.match(kwarg)
        own = kwarg in own_kwargs or (route.is_multi_model and kwarg in {"pk", "object_id"})
        target = model if own else _model_named((match and match["model"]) or "")
        if target is None:
            raise LookupError(
                f"cannot tell which model {kwarg!r} names: give the view class a `model` "
                "(or `queryset`), or add the route to EXTRA_KWARGS"
            )
        instance = obj if own else objects.get(target)
        if instance is None:
            raise LookupError(f"no {target._meta.label} to use (its factory is missing)")
        # A viewset may look records up by another field than pk (``lookup_field``).
        attr = getattr(route.view_class, "lookup_field", "pk") if own and route.is_api else "pk"
        values[kwarg] = str(getattr(instance, attr))
    return values


def _targets(route: Route, records: list) -> list[tuple[object, object]]:
    """(model, record) pairs of organization A that the route is walked with.

    A single-model route gets its model's live record (and its trashed one, if any);
    a route naming the record type in its URL gets every model's records.
    """
    if route.is_multi_model:
        return [(type(r), r) for r in records]
    model = _route_model(route)
    if model is None or model._meta.abstract:
        raise LookupError(
            "the view names no concrete `model` (or `queryset`): rule 1 cannot map its ids"
        )
    pairs = [(model, r) for r in records if type(r) is model]
    if not pairs:
        raise LookupError(f"no {model._meta.label} to use (its factory is missing)")
    return pairs


@pytest.fixture
def world(db) -> World:
    return World.build()


@pytest.fixture
def org_a_objects(world) -> dict:
    """One live record of every tenant model that has a factory, in organization A."""
    objects = {}
    for model in MODELS:
        if has_factory(model):
            with world.inside():
                objects[model] = get_factory(model)(world.org, world.owner)
    return objects


@pytest.fixture
def org_a_records(world, org_a_objects) -> list:
    """The live records plus one trashed record per model that has a trash."""
    records = list(org_a_objects.values())
    for model in org_a_objects:
        if issubclass(model, TenantModel):
            with world.inside():
                trashed = get_factory(model)(world.org, world.owner)
                records.append(record_delete(trashed, actor=world.owner))
    return records


def _org_a_state(world, records) -> dict:
    return {
        "rows": {f"{type(r)._meta.label} {r.pk}": snapshot(r) for r in records},
        "audit": AuditEntry.objects.unscoped().filter(organization=world.org).count(),
    }


def _request(client, route: Route, method: str, url: str):
    try:
        if route.is_api:
            return getattr(client, method)(url, {}, format="json").status_code
        return getattr(client, method)(url).status_code
    except Exception as exc:  # noqa: BLE001 - a crash is a failure, reported with the route
        return f"raised {exc.__class__.__name__}: {exc}"


def test_every_tenant_model_has_a_factory():
    missing = [m._meta.label for m in MODELS if not has_factory(m)]
    assert not missing, (
        f"Tenant models without a test factory: {missing}. Register one per model in "
        "tests/<app>/factories.py with @register_factory(Model) (docs/development.md)."
    )


def test_the_walk_sees_every_router_route():
    from pulse.urls import router

    walked = {r.name for r in ALL_ROUTES}
    unseen = [b for _p, _v, b in router.registry if not any(n.startswith(f"{b}-") for n in walked)]
    assert not unseen, f"router basenames the URL walk did not find: {unseen}"


@pytest.mark.parametrize("model", MODELS, ids=[m._meta.label for m in MODELS])
def test_default_manager_never_returns_another_organizations_row(world, model):
    with world.inside():
        obj = get_factory(model)(world.org, world.owner)
        assert obj.organization_id == world.org.pk, "the factory made a row in another org"
        assert model.objects.filter(pk=obj.pk).exists()

    with world.inside(world.other_org):
        assert not model.objects.filter(pk=obj.pk).exists()
        assert not model.objects.all().filter(pk__in=[obj.pk]).exists()
        if hasattr(model, "trash"):
            assert not model.trash.filter(pk=obj.pk).exists()

    with pytest.raises(TenantContextMissing):
        model.objects.filter(pk=obj.pk).exists()


def test_object_routes_answer_404_to_another_organization(world, org_a_objects, org_a_records):
    failures = []
    checked = 0
    web = web_client(world.other_owner, world.other_org)
    token_api = api_client(world.other_owner, world.other_org)
    session_api = session_api_client(world.other_owner, world.other_org)

    for route in OBJECT_ROUTES:
        try:
            cases = [
                (obj, reverse(route.name, kwargs=_fill(route, model, obj, org_a_objects)))
                for model, obj in _targets(route, org_a_records)
            ]
        except Exception as exc:  # noqa: BLE001 - reported with the route's name
            failures.append(f"{route.name}: {exc}")
            continue
        if route.is_api:
            clients = [("token", token_api), ("session", session_api)]
        else:
            clients = [("web", web)]
        before = _org_a_state(world, org_a_records)
        for obj, url in cases:
            for label, client in clients:
                for method in route.methods:
                    status = _request(client, route, method, url)
                    checked += 1
                    if status == 405:
                        # Refused whatever the record: it must be refused for a missing one too.
                        probe = url.replace(str(obj.pk), str(uuid.uuid4()))
                        if _request(client, route, method, probe) == 405:
                            continue
                    if status != 404:
                        failures.append(
                            f"{method.upper()} {url} ({route.name}, {label}) → {status}"
                        )
        # Checked per route rather than per request: ~20 rows read twice per request add up.
        if _org_a_state(world, org_a_records) != before:
            failures.append(f"{route.name}: requests from organization B changed A's rows")
    assert not failures, (
        f"{len(failures)} problems in {checked} cross-organization requests (expected 404):\n"
        + "\n".join(failures)
    )


def test_pages_never_show_another_organizations_ids(world, org_a_records):
    secrets = {str(r.pk): type(r)._meta.label for r in org_a_records}
    failures = []
    for route in PLAIN_GET_ROUTES:
        url = reverse(route.name)
        if route.is_api:
            client = api_client(world.other_owner, world.other_org)
        else:
            client = web_client(world.other_owner, world.other_org)
        try:
            response = client.get(url)
        except Exception as exc:  # noqa: BLE001 - reported with the route's name
            failures.append(f"GET {url} ({route.name}) raised {exc.__class__.__name__}: {exc}")
            continue
        if response.status_code >= 500:
            failures.append(f"GET {url} ({route.name}) → {response.status_code}")
        body = b"".join(response) if response.streaming else response.content
        text = body.decode(errors="replace")
        leaked = [label for pk, label in secrets.items() if pk in text]
        if leaked:
            failures.append(f"GET {url} ({route.name}) shows organization A's {leaked}")
    assert not failures, "\n".join(failures)
