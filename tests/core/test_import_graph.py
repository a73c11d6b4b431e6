"""The command line sits on top of the library: game/ and eval/ never import unigame_core.cli."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import unigame_core

CORE = Path(unigame_core.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at top level or inside a function (relative resolved)."""
    package = ".".join(("unigame_core", *path.relative_to(CORE).parent.parts))
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from .. import cli``
    return names


def library_files() -> list[Path]:
    return sorted([*(CORE / "game").rglob("*.py"), *(CORE / "eval").rglob("*.py")])


def test_game_and_eval_sources_import_nothing_from_cli() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(n for n in imported_modules(path) if n.startswith("unigame_core.cli"))
        for path in library_files()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scanner_resolves_relative_imports() -> None:  # otherwise the test above could pass blind
    names = imported_modules(CORE / "cli" / "main.py")
    assert "unigame_core.cli.common" in names and "unigame_core.console" in names
    assert "unigame_core.console" in imported_modules(CORE / "game" / "progress.py")


def test_importing_every_game_and_eval_module_loads_no_cli_module() -> None:
    modules = [".".join(("unigame_core", *p.relative_to(CORE).with_suffix("").parts)) for p in library_files()
               if p.name != "__init__.py"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('unigame_core.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
