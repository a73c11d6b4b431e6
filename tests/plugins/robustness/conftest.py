"""The attack suites' tests: no answer cache, one torch thread (the shared ``suite_env`` of tests/plugins)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _suite_env(suite_env: None) -> None:
    """Every test here runs in ``suite_env``."""
