"""Every hook is documented in docs/plugins.md and implemented by at least one test's plugin."""

from __future__ import annotations

import inspect
from pathlib import Path

from unigame_core import hookspecs

ROOT = Path(__file__).resolve().parents[2]


def hook_names() -> list[str]:
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("unigame_")]


def test_there_are_hooks_and_all_are_prefixed() -> None:
    names = hook_names()
    assert len(names) >= 7
    assert all(inspect.getdoc(getattr(hookspecs, n)) for n in names)


def test_every_hook_is_documented_with_signature() -> None:
    doc = (ROOT / "docs" / "plugins.md").read_text()
    for name in hook_names():
        assert f"### `{name}(" in doc, f"{name} is not documented in docs/plugins.md"


def test_every_hook_is_implemented_by_a_test_plugin() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name)
    for name in hook_names():
        assert f"def {name}(" in tests, f"no test implements {name}"
