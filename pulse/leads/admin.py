"""Admin of leads (read-mostly, through TenantAdmin like the other apps)."""

from __future__ import annotations
