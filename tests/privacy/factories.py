"""Consent records and privacy requests for tests, made through the services."""

from __future__ import annotations

from pulse.core.testing import register_factory
from pulse.privacy.models import ConsentRecord, PrivacyRequest
from pulse.privacy.services import ERASE_CONFIRMATION, consent_record, privacy_erase
from tests.contacts.factories import make_contact


@register_factory(ConsentRecord)
def make_consent(org, actor, **fields):
    contact = fields.pop("contact", None) or make_contact(org, actor)
    fields.setdefault("purpose", "Newsletter")
    return consent_record(org=org, actor=actor, contact=contact, **fields)


@register_factory(PrivacyRequest)
def make_privacy_request(org, actor, **fields):
    # An erasure: it writes no file (exports do; their tests use a temporary MEDIA_ROOT).
    contact = fields.pop("contact", None) or make_contact(org, actor)
    return privacy_erase(
        org=org, actor=actor, contact=contact, confirmation=ERASE_CONFIRMATION, **fields
    )
