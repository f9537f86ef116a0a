"""Lead routing: assignment rules evaluated in order on creation and on demand.

(Helper D fills this in.)
"""

from __future__ import annotations


def lead_route(*, lead, actor):
    """Assign ``lead`` by the first matching active rule; the new owner, or None."""
    return None
