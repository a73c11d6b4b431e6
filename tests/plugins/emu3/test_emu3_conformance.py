"""The Emu3 backend passes the conformance check plugin authors run (tiny checkpoint)."""

from __future__ import annotations

from unigame_core.testing import check_backend


def test_tiny_emu3_meets_the_backend_contract(fresh_backend) -> None:  # noqa: ANN001
    check_backend(fresh_backend(), questions=["what color is the square?", "is the circle red?"],
                  answers=["red", "yes the circle is red"])
