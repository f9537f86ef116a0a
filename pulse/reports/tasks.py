"""Background work of reports: sending scheduled reports (beat, every five minutes)."""

from __future__ import annotations

# --- schedules (H3) ---------------------------------------------------------------------------
import datetime
import logging

from celery import shared_task
from django.utils import timezone

from pulse.core.tasks import tenant_task

schedules_logger = logging.getLogger("pulse.reports.schedules")


@tenant_task(name="reports.schedule_send")
def schedule_send(*, org, actor=None, schedule_id: str, now: str | None = None) -> dict | None:
    """Send one claimed schedule of ``org`` (run in-process by ``schedules_send_due``)."""
    from .models import ReportSchedule
    from .services import schedule_send as send

    schedule = (
        ReportSchedule.objects.filter(pk=schedule_id)
        .select_related("report", "organization", "created_by")
        .first()
    )
    if schedule is None:  # deleted since it was claimed
        return None
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    delivery = send(schedule, moment)
    return {"status": delivery.status, "sent": len(delivery.sent_to)}


@shared_task(name="reports.schedules_send_due")
def schedules_send_due() -> dict:
    """The beat pass (every five minutes, CELERY_BEAT_SCHEDULE): claim the schedules that
    are due and send each inside its organization's tenant context. Idempotent: a claim
    moves ``next_run_at`` on, so a second pass (or a second worker) finds nothing to send."""
    from .services import schedules_claim_due

    now = timezone.now()
    totals = {"claimed": 0, "sent": 0, "partial": 0, "skipped": 0, "failed": 0}
    for org_id, schedule_id, _ran_for in schedules_claim_due(now):
        totals["claimed"] += 1
        result = schedule_send.apply(
            kwargs={
                "org_id": str(org_id),
                "actor_id": None,
                "schedule_id": str(schedule_id),
                "now": now.isoformat(),
            },
            throw=False,
        )
        if result.successful() and result.result:
            totals[result.result["status"]] = totals.get(result.result["status"], 0) + 1
        elif not result.successful():
            totals["failed"] += 1
            schedules_logger.error(
                "scheduled report failed",
                extra={"schedule_id": str(schedule_id), "error": repr(result.result)},
            )
    return totals
