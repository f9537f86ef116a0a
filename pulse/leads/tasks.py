"""Background work of leads (tenant tasks, see pulse/core/tasks.py)."""

from __future__ import annotations

from pulse.core.tasks import tenant_task  # noqa: F401 (used by the sections below)

# --- scoring (C) ---

# --- web-to-lead forms (B) ---

# --- routing, conversion (D) ---
