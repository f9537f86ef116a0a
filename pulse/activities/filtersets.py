"""Activities: filtersets (see DESIGN.md for this file's role)."""

from __future__ import annotations

# --- imports (sections) ---

# --- activities (H1) ---

# --- timeline (H2) ---

# --- calendar and iCalendar (H3) ---

# --- reminders and mentions (H4) ---

# --- CalDAV (H5) ---
