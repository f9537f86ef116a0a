"""API pagination, permission and throttle classes named in REST_FRAMEWORK settings.

Kept apart from ``api.py`` because DRF imports the classes named in settings while
``rest_framework.views`` itself is still importing.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import pagination, permissions, throttling
from rest_framework.response import Response

from .pagination import CappedCountPaginator
from .tenancy import get_current_org


class IsOrganizationMember(permissions.BasePermission):
    """Authenticated, and working inside an organization they belong to."""

    message = _("You are not a member of any organization.")

    def has_permission(self, request, view):
        return bool(
            request.user and request.user.is_authenticated and get_current_org() is not None
        )


class CredentialRateThrottle(throttling.SimpleRateThrottle):
    """A rate per credential (each API token, JWT user or session), else per IP."""

    scope = "credential"

    def get_cache_key(self, request, view):
        credential = getattr(request._request, "api_credential", None)
        ident = credential or self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthRateThrottle(throttling.AnonRateThrottle):
    """Password-taking endpoints (JWT obtain): per IP."""

    scope = "auth"


class PageNumberPagination(pagination.PageNumberPagination):
    """``page`` and ``page_size`` (at most 200); ``count`` stops at ``COUNT_CAP``.

    An exact COUNT over a million filtered rows costs more than the page itself
    (DESIGN's performance lessons), so beyond the cap ``count`` is the cap,
    ``count_is_capped`` is true, and ``next`` comes from one extra row.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CappedCountPaginator

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "count_is_capped": self.page.paginator.count_is_capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_is_capped"] = {
            "type": "boolean",
            "description": "True when more rows match than were counted; count is then the cap.",
        }
        return response


class CursorPagination(pagination.CursorPagination):
    """For large lists where a total is not needed: constant cost at any depth."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")
