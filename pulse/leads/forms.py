"""Forms of leads and their configuration."""

from __future__ import annotations

# --- leads (A) ---

# --- web-to-lead forms (B) ---

# --- scoring (C) ---

# --- routing, conversion (D) ---
