"""Every test here runs in ``suite_env`` (tests/plugins/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _suite_env(suite_env: None) -> None:
    """No answer cache, one torch thread."""
