"""Cached aggregates: never stale by more than a minute, forgotten by any write.

The key of a cached number carries its organization's newest change-log time
(``AuditEntry`` is written by every audited write, in the writer's transaction), so a
committed write makes every cached number of the organization unreachable at once,
with no hook on the write path. Reading that time is one index probe on
``(organization, -created_at)``, done once per request. The one-minute timeout bounds
what the key cannot see: bulk loads that skip the audit, and a long transaction that
commits an older entry after a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from pulse.core.tenancy import memoized


def data_version(org_id) -> str:
    """The newest change-log time of the organization (memoized for the request)."""
    from pulse.audit.models import AuditEntry

    def read() -> str:
        newest = (
            AuditEntry.objects.unscoped()
            .filter(organization_id=org_id)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        return newest.isoformat() if newest else "0"

    # Forgotten by the audit receiver on every entry it writes, so a request that writes
    # and then reads numbers sees its own write.
    return memoized(("audit.newest", org_id), read)


def cached_aggregate(
    org_id, key: str, compute: Callable[[], Any], timeout: int | None = None
) -> Any:
    """``compute()``, cached per organization and data version for ``timeout`` seconds
    (``REPORTS_CACHE_SECONDS``, 60 by default, at most 60; 0 turns the cache off)."""
    if timeout is None:
        timeout = min(settings.REPORTS_CACHE_SECONDS, 60)
    if timeout <= 0:
        return compute()
    full_key = f"agg:{org_id}:{data_version(org_id)}:{key}"
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.set(full_key, value, timeout)
    return value
