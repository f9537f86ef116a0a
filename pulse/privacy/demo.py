"""Demo consents and privacy requests for ``manage.py seed_demo``."""

from __future__ import annotations

import datetime

from django.utils import timezone

from pulse.contacts.models import Contact

from .services import (
    ERASE_CONFIRMATION,
    consent_record,
    consent_withdraw,
    privacy_erase,
    privacy_export,
)

PURPOSES = [
    ("Newsletter", "consent", "web_form"),
    ("Product updates", "consent", "email"),
    ("Event invitations", "consent", "in_person"),
    ("Account management", "contract", "import"),
]


def seed(org, users, rng) -> None:
    """Consents for about a third of the contacts (some withdrawn), one export and one
    erasure; call inside ``tenant_context(org, actor=owner)``."""
    owner = users["owner"] if isinstance(users, dict) else users[0]
    contacts = list(Contact.objects.order_by("created_at", "pk")[:300])
    now = timezone.now()
    for contact in contacts:
        if rng.random() > 0.35:
            continue
        for purpose, basis, source in rng.sample(PURPOSES, rng.randint(1, 2)):
            consent = consent_record(
                org=org,
                actor=owner,
                contact=contact,
                purpose=purpose,
                lawful_basis=basis,
                source=source,
                given_at=now - datetime.timedelta(days=rng.randint(10, 700)),
            )
            if rng.random() < 0.15:
                consent_withdraw(
                    consent=consent,
                    actor=owner,
                    withdrawn_at=now - datetime.timedelta(days=rng.randint(1, 9)),
                )
    if len(contacts) >= 2:
        privacy_export(org=org, actor=owner, contact=contacts[0], notes="Asked by email.")
        privacy_erase(
            org=org,
            actor=owner,
            contact=contacts[-1],
            confirmation=ERASE_CONFIRMATION,
            notes="Asked to be forgotten on the phone.",
        )
