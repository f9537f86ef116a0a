"""Entry-point middleware: request ids and the web tenancy context."""

from __future__ import annotations

import logging
import time

from django.utils import timezone, translation

from . import tenancy

logger = logging.getLogger("pulse.request")


class RequestIdMiddleware:
    """Give every request an id (or honour X-Request-ID) and log one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else None
        with tenancy.request_id_context(rid) as request_id:
            request.request_id = request_id
            started = time.perf_counter()
            if _timing_headers_on():
                with QueryCounter() as queries:
                    response = self.get_response(request)
                duration_ms = (time.perf_counter() - started) * 1000
                _add_timing_headers(response, duration_ms, queries)
            else:
                response = self.get_response(request)
                duration_ms = (time.perf_counter() - started) * 1000
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            org = getattr(request, "organization", None) or tenancy.get_current_org()
            logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 1),
                    "user_id": getattr(user, "pk", None)
                    if user and user.is_authenticated
                    else None,
                    "org_id": str(org.pk) if org else None,
                },
            )
            return response


# --- timing headers (benchmarks) -------------------------------------------------------------


def _timing_headers_on() -> bool:
    """``Server-Timing`` and ``X-Query-Count`` on responses: with DEBUG or PULSE_BENCH=1
    (``bench/`` reads them); off in production, where counting queries would cost."""
    import os

    from django.conf import settings

    return settings.DEBUG or os.environ.get("PULSE_BENCH") == "1"


class QueryCounter:
    """Counts the queries run (and their time) while the block runs, on every connection."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self._stack = None

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started

    def __enter__(self):
        import contextlib

        from django.db import connections

        self._stack = contextlib.ExitStack()
        for alias in connections:
            self._stack.enter_context(connections[alias].execute_wrapper(self))
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False


def _add_timing_headers(response, duration_ms: float, queries: QueryCounter) -> None:
    response["Server-Timing"] = (
        f'app;dur={duration_ms:.2f}, db;desc="{queries.count} queries";'
        f"dur={queries.seconds * 1000:.2f}"
    )
    response["X-Query-Count"] = str(queries.count)


class TenantMiddleware:
    """The one place the web request's organization is chosen (rule 1).

    The active organization is the one stored in the session if the user still
    belongs to it, else their first membership. API requests authenticated by
    token or JWT set their own organization in the authentication class.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from pulse.accounts.selectors import active_membership_for_request

        membership = None
        user = request.user
        if user.is_authenticated:
            membership = active_membership_for_request(request)
        org = membership.organization if membership else None
        if user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        if org is not None:
            # Dates and times show in the organization's time zone.
            timezone.activate(org.time_zone)
        else:
            timezone.deactivate()
        request.organization = org
        request.membership = membership
        source = (
            "admin"
            if request.path.startswith("/admin/")
            else ("api" if request.path.startswith("/api/") else "web")
        )
        with tenancy.tenant_context(
            org, actor=user if user.is_authenticated else None, source=source
        ):
            return self.get_response(request)


# A session is written back at most this often just to push its idle expiry forward.
SESSION_REFRESH_SECONDS = 300
_REFRESHED_KEY = "_pulse_refreshed"


class SessionRefreshMiddleware:
    """Idle sessions expire ``SESSION_COOKIE_AGE`` after the last request, give or take
    ``SESSION_REFRESH_SECONDS``.

    ``SESSION_SAVE_EVERY_REQUEST`` would get there too, at the price of a transaction
    and an UPDATE of the session row on every page and API call (three round trips that
    were a tenth of a list page's time). Here a session is saved when something in it
    changed, or when its last refresh is five minutes old.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty():
            return response
        now = int(time.time())
        if now - int(session.get(_REFRESHED_KEY) or 0) >= SESSION_REFRESH_SECONDS:
            session[_REFRESHED_KEY] = now  # marks it modified: saved, cookie renewed
        return response
