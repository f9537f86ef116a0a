"""FilterSets of leads, shared by the UI list and the API list."""

from __future__ import annotations

# --- leads (A) ---

# --- web-to-lead forms (B) ---

# --- scoring (C) ---

# --- routing, conversion (D) ---
