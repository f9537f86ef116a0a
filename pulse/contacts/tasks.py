"""Background work of contacts and companies (tenant tasks, see pulse/core/tasks.py)."""

from __future__ import annotations

from pulse.core.tasks import tenant_task

# --- dedupe ----------------------------------------------------------------------------------


@tenant_task(name="contacts.scan_duplicates")
def scan_duplicates(*, org, actor, kind: str) -> int:
    """Find the organization's likely duplicate pairs (``kind``: contacts or companies)
    for the Duplicates page; safe to run twice (the newest scan wins). How many pairs."""
    from .dedupe import KINDS, scan_pairs

    if kind not in KINDS:
        return 0
    return len(scan_pairs(org=org, kind=kind)["pairs"])
