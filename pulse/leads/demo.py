"""Demo leads for ``manage.py seed_demo``: stages, leads across the pipeline, forms,
scoring rules and history, assignment rules, a few conversions.

``seed`` runs inside ``tenant_context(org, actor=owner)``; each section adds its part.
"""

from __future__ import annotations


def _owner(users):
    return users["owner"] if isinstance(users, dict) else users[0]


# --- leads and stages (A) ---

# --- web-to-lead forms (B) ---

# --- scoring (C) ---

# --- routing, conversion (D) ---


def seed(org, users, rng) -> None:
    """Create the demo leads and their configuration (order matters: rules before leads
    so the demo leads are routed and scored like real ones)."""
    # Each section's owner adds its call here, in this order:
    # D: seed_assignment_rules(org, users, rng)
    # C: seed_scoring_rules(org, users, rng)
    # B: seed_web_forms(org, users, rng)
    # A: seed_leads(org, users, rng)
    # C: seed_scoring_history(org, users, rng)  (closed leads, trained model)
    # D: seed_conversions(org, users, rng)
