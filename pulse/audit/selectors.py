"""Reads of the change log and the trash."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from .models import AuditEntry


def history_for(obj) -> QuerySet[AuditEntry]:
    """A record's History tab: its entries, newest first, with actors."""
    return (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj), for_concrete_model=False),
            object_id=str(obj.pk),
        )
        .select_related("actor")
        .order_by("-created_at")
    )


def audit_log(*, user) -> QuerySet[AuditEntry]:
    """The organization-wide log (admins only, through ``restrict``)."""
    return AuditEntry.objects.restrict(user, "view").select_related("actor", "content_type")


def recent_changes(*, user, limit: int = 10) -> list[AuditEntry]:
    """The home page feed: the latest changes. Admins see all; others their own."""
    from pulse.accounts.permissions import membership_for

    qs = AuditEntry.objects.select_related("actor", "content_type")
    membership = membership_for(user)
    if membership is None:
        return []
    if not membership.is_admin:
        qs = qs.filter(actor=user)
    return list(qs.order_by("-created_at")[:limit])
