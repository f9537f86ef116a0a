"""REST API of leads under /api/crm/: thin twins of the views, calling the same services."""

from __future__ import annotations

# --- leads: CRUD, pipeline, stage (A) ---

# --- web-to-lead forms (B) ---

# --- scoring (C) ---

# --- routing, conversion, analytics (D) ---

# (prefix, viewset, basename) for pulse/urls.py; each section appends its own.
routes: list = []
