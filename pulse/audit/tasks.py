"""Background work of the audit app: the trash retention purge."""

from __future__ import annotations

import logging

from celery import shared_task

from pulse.accounts.models import Organization
from pulse.core.tasks import tenant_task

from .services import purge_expired

logger = logging.getLogger(__name__)


@tenant_task(name="pulse.audit.tasks.purge_org_trash")
def purge_org_trash(*, org, actor=None) -> int:
    """Delete forever what stayed in one organization's trash past its retention."""
    return purge_expired(org=org)


@shared_task(name="pulse.audit.tasks.purge_trash")
def purge_trash() -> int:
    """The scheduled purge (CELERY_BEAT_SCHEDULE): every organization, one after another.

    Each organization runs through ``purge_org_trash`` here, in this worker, so its
    tenancy is set by the tenant task wrapper (source "task") and one organization's
    failure does not stop the others. Idempotent: a second run purges nothing twice.
    Returns how many records were purged.
    """
    total = 0
    for org in Organization.objects.order_by("pk").iterator():
        result = purge_org_trash.apply(kwargs=purge_org_trash.tenant_kwargs(org), throw=False)
        if result.successful():
            total += result.result or 0
        else:
            logger.error(
                "trash purge failed for an organization",
                extra={"org_id": str(org.pk), "error": repr(result.result)},
            )
    return total
