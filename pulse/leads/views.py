"""Web pages of leads (thin: parse, call a service or selector, render)."""

from __future__ import annotations

# --- leads: list, kanban, detail, quick create, stages (A) ---

# --- web-to-lead forms (B) ---

# --- scoring (C) ---

# --- routing, conversion, analytics (D) ---
