"""Scale harness: a reproducible data generator and the benchmark runner (issue 8).

``python -m bench generate --size large`` fills one big organization (and two small ones
beside it); ``python -m bench`` (``make bench``) times every scenario through gunicorn and
prints one table. Not part of the test step: the tests only run the generator tiny.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Everyone the generator creates signs in with this password (the runner logs in with it).
PASSWORD = "bench-password-2024"
OWNER_EMAIL = "owner@bench-big.example"
BIG_ORG_SLUG = "bench-big"


def setup_django() -> None:
    """Configure Django for a bench process (settings from the environment, as always)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
    import django

    django.setup()
