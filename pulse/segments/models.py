"""Segments: named groups of contacts that campaigns and automation address.

A *dynamic* segment is a saved contact filter (the contact list's query string, read by
``ContactFilterSet``): its members are whoever matches now. A *static* list is
hand-picked: its members are ``SegmentMembership`` rows.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel, TenantScopedModel

# Query-string keys of the contact list that are not filters (paging, sorting, layout).
NON_FILTER_KEYS = frozenset({"page", "page_size", "ordering", "columns", "view", "id", "format"})


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", _("Dynamic (saved filter)")
    STATIC = "static", _("Static list")


class Segment(TenantModel):
    """A dynamic segment (saved contact filter) or a static, hand-picked list of contacts.

    ``filters`` holds the contact list's filter parameters as ``{param: [values]}``
    (e.g. ``{"country": ["BG"], "lifecycle_stage": ["customer"]}``); static lists
    ignore it. Segments are visible to every member who may view records; the
    *members* each person sees are still limited by contact visibility.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC
    )
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_segments",
        verbose_name=_("owner"),
    )
    tags = models.ManyToManyField(
        "extras.Tag", blank=True, related_name="segments", verbose_name=_("tags")
    )

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"], name="segment_org_name")]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("name"),
                "organization",
                condition=models.Q(deleted_at__isnull=True),
                name="segment_unique_name",
                violation_error_message=_("A segment with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("segments:segment_detail", args=[self.pk])

    @property
    def is_dynamic(self) -> bool:
        return self.kind == SegmentKind.DYNAMIC

    @property
    def querystring(self) -> str:
        """The contact list query string that shows this segment's filter."""
        query = QueryDict(mutable=True)
        for key, values in sorted((self.filters or {}).items()):
            query.setlist(key, [str(v) for v in values])
        return query.urlencode()

    def clean(self) -> None:
        super().clean()
        if self.assigned_to_id is not None:
            from pulse.contacts.models import _check_assignee

            _check_assignee(self)


class SegmentMembership(TenantScopedModel):
    """One contact hand-picked into a static list.

    Rows are created and removed in bulk by the segment services, which write the
    change log entries themselves (on the segment), so this row carries no audit mixin.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("segment")
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="segment_memberships",
        verbose_name=_("contact"),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("list membership")
        verbose_name_plural = _("list memberships")
        ordering = ["-added_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "contact"],
                name="segment_membership_unique",
                violation_error_message=_("This contact is already on the list."),
            )
        ]
        indexes = [models.Index(fields=["contact"], name="segment_membership_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.segment_id}"
