"""Activities: tasks (see DESIGN.md for this file's role)."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from pulse.core.tasks import tenant_task

# --- activities ---

# --- timeline ---

# --- calendar and iCalendar ---

# --- reminders and mentions ---

# isort: split


reminders_logger = logging.getLogger("pulse.activities.reminders")

# Reminders claimed and delivered per round trip: big enough to amortize the claim and
# the bulk writes, small enough that a crashed batch delays few reminders.
REMINDER_BATCH_SIZE = 500


def _worker_name() -> str:
    """Unique per run: host, process and a random part (``claimed_by`` holds 64)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@tenant_task(name="activities.reminders_deliver")
def reminders_deliver(*, org, actor=None, reminder_ids: list[str], claim: str) -> dict:
    """Deliver one organization's share of a claimed batch (see
    ``services.reminders_deliver``); run in-process by ``reminders_send_due``."""
    from .services import reminders_deliver as deliver

    return deliver(org=org, reminder_ids=reminder_ids, claim=claim)


@shared_task(name="activities.reminders_send_due")
def reminders_send_due(batch_size: int = REMINDER_BATCH_SIZE, max_batches: int | None = None):
    """The every-minute pass (CELERY_BEAT_SCHEDULE): claim due reminders across
    organizations in batches and deliver each organization's part inside its tenant
    context. Safe with several workers at once (each batch is claimed atomically) and
    safe to run twice (a sent reminder is never claimed again). Returns the totals."""
    from .services import reminders_claim

    worker = _worker_name()
    totals = {"sent": 0, "skipped": 0, "failed": 0, "batches": 0}
    while max_batches is None or totals["batches"] < max_batches:
        claim = f"{worker}:{totals['batches']}"
        by_org = reminders_claim(claim=claim, limit=batch_size)
        if not by_org:
            break
        totals["batches"] += 1
        for org_id, ids in by_org.items():
            result = reminders_deliver.apply(
                kwargs={
                    "org_id": str(org_id),
                    "actor_id": None,
                    "reminder_ids": [str(pk) for pk in ids],
                    "claim": claim,
                },
                throw=False,
            )
            if result.successful() and result.result:
                for key in ("sent", "skipped", "failed"):
                    totals[key] += result.result[key]
            elif not result.successful():
                # Left claimed: retaken after REMINDER_CLAIM_TIMEOUT.
                totals["failed"] += len(ids)
                reminders_logger.error(
                    "reminder delivery failed for an organization",
                    extra={"org_id": str(org_id), "error": repr(result.result)},
                )
    return totals


# --- CalDAV ---


caldav_logger = logging.getLogger("pulse.activities.caldav")

# A claimed connection is left alone by other workers this long (a sync is bounded by
# the request timeout per call; a crashed worker's claim expires).
CALDAV_CLAIM = 15  # minutes


@tenant_task(name="activities.caldav_sync_one")
def caldav_sync_one(*, org, actor=None, connection_id: str) -> dict | None:
    """Sync one connection of ``org`` (run in-process by ``caldav_sync_due``)."""
    from .models import CalDavConnection
    from .services import caldav_sync

    connection = CalDavConnection.objects.select_related("user").filter(pk=connection_id).first()
    if connection is None or not connection.enabled:
        return None
    result = caldav_sync(connection=connection)
    return {"ok": result.ok, "changes": result.changes, "error": result.error}


@shared_task(name="activities.caldav_sync_due")
def caldav_sync_due() -> dict:
    """The every-5-minutes pass (CELERY_BEAT_SCHEDULE): sync each enabled connection whose
    ``next_sync_at`` is due, each inside its organization's tenant context; one failing
    server does not stop the others (its failure is recorded on its connection). Each
    connection is claimed first (a conditional UPDATE pushing ``next_sync_at`` on), so two
    workers never sync the same one at once. Returns the counts."""
    from .models import CalDavConnection

    now = timezone.now()
    due = Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    live = CalDavConnection.objects.unscoped().filter(
        due, enabled=True, deleted_at__isnull=True, user__is_active=True
    )
    totals = {"synced": 0, "failed": 0}
    for pk, org_id, next_sync_at in live.values_list("pk", "organization_id", "next_sync_at"):
        claimed = (
            CalDavConnection.objects.unscoped()
            .filter(pk=pk, next_sync_at=next_sync_at)
            .update(next_sync_at=now + timezone.timedelta(minutes=CALDAV_CLAIM))
            if next_sync_at is not None
            else CalDavConnection.objects.unscoped()
            .filter(pk=pk, next_sync_at__isnull=True)
            .update(next_sync_at=now + timezone.timedelta(minutes=CALDAV_CLAIM))
        )
        if not claimed:
            continue
        result = caldav_sync_one.apply(
            kwargs={"org_id": str(org_id), "actor_id": None, "connection_id": str(pk)},
            throw=False,
        )
        if result.successful() and result.result and result.result["ok"]:
            totals["synced"] += 1
        else:
            totals["failed"] += 1
            if not result.successful():
                caldav_logger.error(
                    "caldav sync crashed",
                    extra={"connection_id": str(pk), "error": repr(result.result)},
                )
    return totals
