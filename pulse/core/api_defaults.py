"""API pagination, permission and throttle classes named in REST_FRAMEWORK settings.

Kept apart from ``api.py`` because DRF imports the classes named in settings while
``rest_framework.views`` itself is still importing.
"""

import base64
import binascii
import json

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination, permissions, throttling
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

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
    """``page`` and ``page_size`` (at most 200); ``count`` stops at ``COUNT_CAP``; or, with
    ``cursor``, keyset pages that cost the same at any depth.

    An exact COUNT over a million filtered rows costs more than the page itself
    (DESIGN's performance lessons), so beyond the cap ``count`` is the cap,
    ``count_is_capped`` is true, and ``next`` comes from one extra row.

    ``?cursor=`` (empty for the first page) switches a list to keyset pagination: the
    rows after the previous page's last one in the list's order (``ordering``, with the
    primary key to break ties), found through the index instead of skipping ``OFFSET``
    rows, so page 10,000 costs what page 1 costs. ``next`` carries the cursor; ``count``
    is null (nothing is counted). Orderings over nullable or related fields cannot be
    paged by cursor (a 400 says so); without ``ordering`` such a list pages newest first.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CappedCountPaginator
    cursor_query_param = "cursor"
    cursor_mode = False

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor_mode = self.cursor_query_param in request.query_params
        if not self.cursor_mode:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        size = self.get_page_size(request) or self.page_size
        keys = self._cursor_keys(queryset, request)
        queryset = queryset.order_by(*[("-" if desc else "") + name for name, desc, _f in keys])
        raw = request.query_params.get(self.cursor_query_param, "")
        if raw:
            queryset = queryset.filter(self._after(keys, self._decode(raw, keys)))
        rows = list(queryset[: size + 1])
        self.next_cursor = None
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            self.next_cursor = self._encode([getattr(last, f.attname) for _n, _d, f in keys])
        return rows

    # --- keyset cursors ---------------------------------------------------------------------

    def _cursor_keys(self, queryset, request) -> list[tuple[str, bool, object]]:
        """``(field name, descending, field)`` of the list's order, the primary key last."""
        model = queryset.model
        explicit = bool(request.query_params.get("ordering"))
        order = list(queryset.query.order_by) or list(model._meta.ordering or [])
        keys = []
        for name in order:
            if not isinstance(name, str):  # an expression (Lower("email") …)
                name = "?expression"
            desc, bare = name.startswith("-"), name.lstrip("-")
            bare = model._meta.pk.name if bare == "pk" else bare
            try:
                field = model._meta.get_field(bare)
            except FieldDoesNotExist:
                field = None
            if field is None or "__" in bare or not field.concrete or field.null:
                if explicit:
                    raise exceptions.ValidationError(
                        {
                            self.cursor_query_param: [
                                _("This ordering cannot be paged by cursor; use page numbers.")
                            ]
                        }
                    )
                keys = []
                break
            keys.append((field.attname, desc, field))
        if not keys:
            keys = (
                [("created_at", True, model._meta.get_field("created_at"))]
                if any(f.name == "created_at" for f in model._meta.concrete_fields)
                else []
            )
        pk = model._meta.pk
        if not any(f is pk for _n, _d, f in keys):
            keys.append((pk.attname, keys[-1][1] if keys else False, pk))
        return keys

    @staticmethod
    def _after(keys, values) -> Q:
        """Rows after ``values`` in the keys' order: a range on the first key (so the index
        is entered there) and the tie-breaking OR over the rest."""
        first_name, first_desc, _f = keys[0]
        condition = Q()
        equal: dict = {}
        for (name, desc, _field), value in zip(keys, values, strict=True):
            condition |= Q(**equal, **{f"{name}__{'lt' if desc else 'gt'}": value})
            equal[name] = value
        start = Q(**{f"{first_name}__{'lte' if first_desc else 'gte'}": values[0]})
        return start & condition

    @staticmethod
    def _encode(values) -> str:
        text = json.dumps(values, cls=DjangoJSONEncoder, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def _decode(self, raw: str, keys) -> list:
        error = exceptions.ValidationError(
            {self.cursor_query_param: [_("Not a cursor of this list; start again without one.")]}
        )
        try:
            padded = raw + "=" * (-len(raw) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
            if not isinstance(values, list) or len(values) != len(keys):
                raise error
            return [field.to_python(v) for (_n, _d, field), v in zip(keys, values, strict=True)]
        except (ValueError, TypeError, DjangoValidationError, binascii.Error, UnicodeError):
            raise error

    def get_next_link(self):
        if not self.cursor_mode:
            return super().get_next_link()
        if self.next_cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, self.next_cursor)

    def get_paginated_response(self, data):
        if self.cursor_mode:
            return Response(
                {
                    "count": None,
                    "count_is_capped": False,
                    "next": self.get_next_link(),
                    "previous": None,
                    "results": data,
                }
            )
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
        response["properties"]["count"]["nullable"] = True
        response["properties"]["count"]["description"] = "Null in cursor mode (nothing counted)."
        response["properties"]["count_is_capped"] = {
            "type": "boolean",
            "description": "True when more rows match than were counted; count is then the cap.",
        }
        return response

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": str(
                    _(
                        "Keyset pagination: empty for the first page, then the cursor in "
                        "`next`. Constant cost at any depth; `count` is null."
                    )
                ),
                "schema": {"type": "string"},
            },
        ]


class CursorPagination(pagination.CursorPagination):
    """For large lists where a total is not needed: constant cost at any depth."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")
