"""The BLIP3-o backend passes the conformance check plugin authors run (tiny checkpoint, text-to-image on)."""

from __future__ import annotations

from unigame_core.testing import check_backend


def test_tiny_blip3o_meets_the_backend_contract(fresh_backend) -> None:  # noqa: ANN001
    backend = fresh_backend()
    assert "text_to_image" in backend.capabilities  # so the check exercises generate_images too
    check_backend(backend, questions=["what color is the square?", "is the circle red?"],
                  answers=["red", "yes the circle is red"])
