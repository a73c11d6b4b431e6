"""A suite the backend cannot run: the hint names the registry's embedded default, never a fixed model."""

from __future__ import annotations

import pytest

from unigame_core import plugins
from unigame_core.config import default_model
from unigame_core.errors import CapabilityError
from unigame_core.eval import runner
from unigame_core.testing import FakeBackend


def test_the_hint_comes_from_the_registry() -> None:
    default = default_model(plugins.backends())
    assert default  # the shapes plugin registers the embedded default
    backend = FakeBackend()  # no capabilities
    (run,) = runner.prepare_suites(["consistency"], None)
    with pytest.raises(CapabilityError) as err:
        runner.check_capabilities(backend, [run])
    assert "text_to_image" in str(err.value) and f"'{default}'" in str(err.value)
    assert "unigame models list" in str(err.value) and "janus" not in str(err.value)
