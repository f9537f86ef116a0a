"""Segments and list memberships for tests, made through the services."""

from __future__ import annotations

import itertools

from pulse.core.testing import register_factory
from pulse.segments.models import Segment, SegmentMembership
from pulse.segments.services import segment_add_members, segment_create
from tests.contacts.factories import make_contact

_n = itertools.count(1)


@register_factory(Segment)
def make_segment(org, actor, **fields):
    fields.setdefault("name", f"Segment {next(_n)}")
    if fields.get("kind", "dynamic") == "dynamic":
        fields.setdefault("filters", {"lifecycle_stage": ["customer"]})
    return segment_create(org=org, actor=actor, **fields)


def make_static_list(org, actor, contacts=(), **fields):
    segment = make_segment(org, actor, kind="static", **fields)
    if contacts:
        segment_add_members(segment=segment, contacts=contacts, actor=actor)
    return segment


@register_factory(SegmentMembership)
def make_membership(org, actor, **fields):
    segment = fields.get("segment") or make_static_list(org, actor)
    contact = fields.get("contact") or make_contact(org, actor)
    segment_add_members(segment=segment, contacts=[contact], actor=actor)
    return SegmentMembership.objects.get(segment=segment, contact=contact)
