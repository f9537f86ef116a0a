"""Factories of the extras models (tags, custom fields, saved views, notifications)."""

import itertools

from django.contrib.contenttypes.models import ContentType

from pulse.core.services import record_create
from pulse.core.testing import register_factory
from pulse.extras.customfields import custom_field_models
from pulse.extras.models import BulkJob, CustomField, Notification, SavedView, Tag
from pulse.extras.services import customfield_create, savedview_create, tag_create

_n = itertools.count(1)


@register_factory(Tag)
def make_tag(org, actor, **fields):
    fields.setdefault("name", f"Tag {next(_n)}")
    fields.setdefault("color", "#123456")
    return tag_create(org=org, actor=actor, **fields)


@register_factory(CustomField)
def make_custom_field(org, actor, **fields):
    n = next(_n)
    fields.setdefault("content_type", ContentType.objects.get_for_model(custom_field_models()[0]))
    fields.setdefault("key", f"field_{n}")
    fields.setdefault("label", f"Field {n}")
    fields.setdefault("field_type", "text")
    return customfield_create(org=org, actor=actor, **fields)


@register_factory(SavedView)
def make_saved_view(org, actor, **fields):
    fields.setdefault("content_type", ContentType.objects.get_for_model(Tag))
    fields.setdefault("name", f"View {next(_n)}")
    return savedview_create(org=org, actor=actor, **fields)


@register_factory(Notification)
def make_notification(org, actor, recipient=None, **fields):
    # Notifications are made after commit by ``notify``; tests need one now.
    fields.setdefault("verb", f"Notice {next(_n)}")
    return record_create(Notification, org=org, actor=actor, recipient=recipient or actor, **fields)


@register_factory(BulkJob)
def make_bulk_job(org, actor, **fields):
    # Jobs are started by the records' bulk services; the row alone is enough here.
    fields.setdefault("kind", "contacts.contact_bulk")
    fields.setdefault("params", {"action": "stage", "lifecycle_stage": "customer", "ids": []})
    return record_create(BulkJob, org=org, actor=actor, **fields)
