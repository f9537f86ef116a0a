"""Generic test base classes and helpers (DESIGN rule 11).

Per model, tests subclass these and declare data only:

- ``ViewTestCases``   list / detail / create / edit / delete pages
- ``APITestCases``    list / retrieve / create / update / delete endpoints, error shape
- ``FilterSetTestCase`` every filter returns exactly the expected rows
- ``register_factory`` one factory per tenant model, for these and the isolation test
- ``urlcoverage``     pytest plugin failing the run when a URL is never requested

This package imports pytest: only tests import it.
"""

from .api import APITestCases, assert_error_shape
from .factories import get_factory, register_factory, tenant_models
from .filtersets import FilterSetTestCase
from .views import ViewTestCases
from .world import (
    PASSWORD,
    World,
    api_client,
    make_api_key,
    make_organization,
    make_user,
    session_api_client,
    web_client,
)

__all__ = [
    "PASSWORD",
    "APITestCases",
    "FilterSetTestCase",
    "ViewTestCases",
    "World",
    "api_client",
    "assert_error_shape",
    "get_factory",
    "make_api_key",
    "make_organization",
    "make_user",
    "register_factory",
    "session_api_client",
    "tenant_models",
    "web_client",
]
