"""State changes of the trash: restore, delete forever, and the retention purge.

The change log itself is never changed (append-only); the audit receivers write it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext as _

from pulse.accounts.permissions import membership_for
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.models import TenantModel
from pulse.core.services import record_restore
from pulse.core.tenancy import get_current_org

from .selectors import trash_models

logger = logging.getLogger(__name__)

PURGE_BATCH = 500


def can_purge(user) -> bool:
    """Deleting forever is for owners and admins of the current organization."""
    membership = membership_for(user)
    return membership is not None and membership.is_admin


@transaction.atomic
def trash_restore(*, instance: TenantModel, actor) -> TenantModel:
    """Bring a record back from the trash, with the relations (tags…) it kept.

    A live record taking its unique name or key meanwhile is a clear error, not a clash.
    A model may name what was trashed together with a record (``trash_companions()``, e.g.
    a pipeline's stages): those come back with it, in the same transaction.
    """
    companions = getattr(instance, "trash_companions", None)
    companions = list(companions()) if companions is not None else []
    try:
        restored = record_restore(instance, actor=actor)
        for companion in companions:
            record_restore(companion, actor=actor)
        return restored
    except ApplicationError as exc:
        reasons = " ".join(m for messages in exc.errors.values() for m in messages)
        raise ApplicationError(
            _(
                "“%(name)s” can't be restored: %(reason)s Rename or delete the live record "
                "first, then try again."
            )
            % {"name": instance, "reason": reasons}
        )


def _purge(instance: TenantModel) -> bool:
    """Hard-delete one trashed row; False if it is gone or was restored meanwhile."""
    try:
        with transaction.atomic():
            # Lock and re-read: a purge running twice at once, or a restore in between,
            # must not delete (or log) anything twice.
            current = (
                type(instance)
                ._base_manager.select_for_update()
                .filter(pk=instance.pk, deleted_at__isnull=False)
                .first()
            )
            if current is None:
                return False
            # The post_delete receiver writes the "purge" log entry; cascades purge
            # (and log) what depends on the record.
            current.delete()
            return True
    except (ProtectedError, RestrictedError):
        raise ApplicationError(
            _("“%(name)s” can't be deleted forever: other records still refer to it.")
            % {"name": instance}
        )


def trash_purge(*, instance: TenantModel, actor) -> None:
    """Delete a trashed record forever (owners and admins only)."""
    if not can_purge(actor):
        raise PermissionDeniedError(_("Only owners and admins can delete forever."))
    if not instance.is_deleted:
        raise ApplicationError(_("Only records in the trash can be deleted forever."))
    _purge(instance)


def purge_expired(*, org, now=None) -> int:
    """Delete forever ``org``'s records trashed longer than its retention; how many.

    Runs inside ``org``'s tenancy with source "task" (the ``purge_org_trash`` task
    wrapper sets it), so each purge is logged as the task's. Safe to run twice: a second
    run finds nothing left. A record others still refer to stays in the trash (logged).
    """
    if get_current_org() != org:
        raise RuntimeError("purge_expired runs inside the organization's tenancy context")
    cutoff = (now or timezone.now()) - timedelta(days=org.trash_retention_days)
    purged = 0
    for model in trash_models():
        expired = model.trash.filter(deleted_at__lt=cutoff).order_by("deleted_at", "pk")
        skipped: set = set()
        while batch := list(expired.exclude(pk__in=skipped)[:PURGE_BATCH]):
            for instance in batch:
                try:
                    done = _purge(instance)
                except ApplicationError:
                    skipped.add(instance.pk)
                    logger.warning(
                        "trash purge skipped a protected record",
                        extra={"model": model._meta.label, "pk": str(instance.pk)},
                    )
                else:
                    purged += int(done)
    return purged
