"""Lead scoring: rule points with engagement decay, and the learned conversion model.

(Helper C fills this in.)
"""

from __future__ import annotations


def lead_rescore_later(*, org, lead_ids) -> None:
    """Recompute these leads' scores in the background once the transaction commits."""
    return None
