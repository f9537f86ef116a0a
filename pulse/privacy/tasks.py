"""Background work of privacy requests."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from pulse.core.services import record_update
from pulse.core.tasks import tenant_task

from .models import PrivacyRequest, RequestStatus
from .services import build_export

logger = logging.getLogger("pulse.privacy")


@tenant_task(name="privacy.build_export")
def build_export_task(*, org, actor, request_id: str) -> str | None:
    """Build a large export's JSON file; idempotent (a completed request is left alone)."""
    request = PrivacyRequest.objects.filter(pk=request_id).select_related("contact").first()
    if request is None:
        return None
    if request.status == RequestStatus.COMPLETED:
        return request.status
    record_update(request, actor=actor, status=RequestStatus.RUNNING)
    try:
        request = build_export(request=request, actor=actor)
    except Exception:  # noqa: BLE001 - the request shows the failure; the log has details
        logger.exception("privacy export failed", extra={"request_id": request_id})
        request.refresh_from_db()
        request = record_update(
            request, actor=actor, status=RequestStatus.FAILED, error=_("The export failed.")
        )
    return request.status
