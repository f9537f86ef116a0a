"""Imports write their files under MEDIA_ROOT: each test gets its own."""

from pathlib import Path

import pytest

FILES = Path(__file__).parent / "files"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
