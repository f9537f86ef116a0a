"""REST API of leads under /api/crm/: thin twins of the views, calling the same services.

Sections are owned by different parts of the leads feature. The lead viewset (last
section) mixes in the custom actions the other sections define above it.
"""

from __future__ import annotations

# (prefix, viewset, basename) for pulse/urls.py; each section appends its own.
routes: list = []

# --- routing, conversion, analytics (D) ---


class LeadConversionActions:
    """Lead actions of routing and conversion: convert, route, analytics (D fills in)."""


# --- scoring (C) ---


class LeadScoringActions:
    """Lead actions of scoring: the probability override (C fills in)."""


# --- web-to-lead forms (B) ---

# --- leads: CRUD, pipeline, stage (A) ---
