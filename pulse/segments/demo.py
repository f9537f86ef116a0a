"""Demo segments for ``manage.py seed_demo``: a few saved filters and a hand-picked list."""

from __future__ import annotations

from pulse.contacts.models import Contact
from pulse.extras.models import Tag

from .services import segment_add_members, segment_create


def _owner(users):
    return users["owner"] if isinstance(users, dict) else users[0]


def seed(org, users, rng) -> list:
    """Create the demo segments; call inside ``tenant_context(org, actor=owner)``."""
    owner = _owner(users)
    people = list(users.values()) if isinstance(users, dict) else list(users)
    tags = {t.name: t for t in Tag.objects.all()}
    made = [
        segment_create(
            org=org,
            actor=owner,
            name="Customers in Bulgaria",
            description="Every customer with a Bulgarian address.",
            filters={"country": ["BG"], "lifecycle_stage": ["customer"]},
        ),
        segment_create(
            org=org,
            actor=rng.choice(people),
            name="Open leads in Germany",
            filters={"country": ["DE"], "lifecycle_stage": ["lead", "marketing_qualified"]},
        ),
    ]
    if "Newsletter" in tags:
        made.append(
            segment_create(
                org=org,
                actor=owner,
                name="Newsletter readers",
                description="Tagged Newsletter; the monthly campaign goes to them.",
                filters={"tags": [str(tags["Newsletter"].pk)]},
            )
        )
    vip = segment_create(
        org=org,
        actor=owner,
        name="VIP static list",
        kind="static",
        description="Hand-picked for the spring dinner invitations.",
    )
    candidates = list(Contact.objects.order_by("last_name", "first_name")[:200])
    if "VIP" in tags:
        tagged = [c for c in candidates if tags["VIP"] in c.tags.all()]
        candidates = tagged or candidates
    segment_add_members(
        segment=vip, contacts=rng.sample(candidates, min(12, len(candidates))), actor=owner
    )
    made.append(vip)
    return made
