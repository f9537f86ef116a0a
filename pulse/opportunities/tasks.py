"""Background work of opportunities (tenant tasks, see pulse/core/tasks.py)."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task

from pulse.core.tasks import tenant_task

logger = logging.getLogger(__name__)

# --- forecast snapshots (C) ---


@tenant_task(name="opportunities.forecast_snapshot")
def forecast_snapshot(*, org, actor=None, on: str | None = None) -> int:
    """Snapshot one organization's forecast (``on``: an ISO day, default today in the
    organization's time zone). Idempotent: a second run the same day rewrites that day."""
    from .forecast import forecast_snapshot_take

    day = datetime.date.fromisoformat(on) if on else None
    return forecast_snapshot_take(org, on=day)


@shared_task(name="opportunities.forecast_snapshot_all")
def forecast_snapshot_all() -> int:
    """The weekly pass (CELERY_BEAT_SCHEDULE): every organization with opportunities,
    one after another; one organization's failure does not stop the others. Returns how
    many snapshot rows were written."""
    from pulse.accounts.models import Organization

    from .models import Opportunity

    written = 0
    org_ids = Opportunity.objects.unscoped().values("organization_id")
    for org in Organization.objects.filter(pk__in=org_ids).order_by("pk").iterator():
        result = forecast_snapshot.apply(kwargs=forecast_snapshot.tenant_kwargs(org), throw=False)
        if result.successful():
            written += result.result or 0
        else:
            logger.error(
                "forecast snapshot failed for an organization",
                extra={"org_id": str(org.pk), "error": repr(result.result)},
            )
    return written
