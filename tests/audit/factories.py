"""Factories of the audit models."""

from pulse.audit.models import AuditEntry
from pulse.core.testing import register_factory
from tests.extras.factories import make_tag


@register_factory(AuditEntry)
def make_audit_entry(org, actor):
    tag = make_tag(org, actor)  # creating a record writes its audit entry
    return AuditEntry.objects.get(object_id=str(tag.pk), action="create")
