"""The activities REST API under /api/crm/: activities (CRUD, complete, filters),
templates, the calendar, reports and CalDAV connections."""

from __future__ import annotations

# --- imports (sections) ---

# (prefix, viewset, basename) for the root router, in the order of the API root.
routes: list = []

# --- activities: serializers and viewset (H1) ---

# --- activity templates (H1) ---

# --- activity reports (H1) ---

# --- timeline (H2) ---

# --- calendar and iCalendar (H3) ---

# --- reminders and notifications (H4) ---

# --- CalDAV connections (H5) ---
