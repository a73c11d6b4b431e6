"""The import graph: the command line sits on top of the library; of the three game-side packages, run/ (the
run machinery) may import report/ (what a user reads) and game/ (the method), report/ may import game/, and
game/ imports neither; and no two modules import each other, directly or through others, anywhere in the core
or the built-in plugins (lazy imports inside functions count)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import unigame_core

CORE = Path(unigame_core.__file__).resolve().parent
PLUGINS = CORE.parent / "plugins"


def module_name(path: Path) -> str:
    root = CORE.parent if path.is_relative_to(CORE) else PLUGINS
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at top level or inside a function (relative resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
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


def sources() -> list[Path]:
    return sorted(p for p in [*CORE.rglob("*.py"), *PLUGINS.rglob("*.py")] if "configs" not in p.parts)


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``import a.b`` counts as importing ``a.b``, not ``a``)."""
    files = {module_name(p): p for p in sources()}
    return {name: {m for m in imported_modules(path) if m in files and m != name} for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


LAYERS = {"run": {"report", "game"}, "report": {"game"}, "game": set()}  # package -> what it may import


def test_game_side_packages_import_only_downward() -> None:
    offenders = {}
    for package, allowed in LAYERS.items():
        for path in sorted((CORE / package).rglob("*.py")):
            bad = sorted(
                n for n in imported_modules(path)
                if n.startswith("unigame_core.") and n.split(".")[1] in (set(LAYERS) | {"cli"}) - allowed - {package}
            )
            if bad:
                offenders[str(path.relative_to(CORE))] = bad
    assert offenders == {}


def test_no_import_circles_anywhere() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_sees_a_circle() -> None:  # otherwise the test above could pass blind
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    edges = graph()
    assert "unigame_core.game.step" in edges["unigame_core.run.runner"]
    assert "unigame_core.interfaces" in edges["unigame_core.game.step"]


def test_the_scanner_resolves_relative_imports() -> None:
    names = imported_modules(CORE / "cli" / "main.py")
    assert "unigame_core.cli.common" in names and "unigame_core.console" in names
    assert "unigame_core.console" in imported_modules(CORE / "run" / "progress.py")
    assert "unigame_core.game.health" in imported_modules(CORE / "run" / "progress.py")


def library_files() -> list[Path]:
    return sorted(p for package in ("game", "run", "report", "eval") for p in (CORE / package).rglob("*.py"))


def test_library_sources_import_nothing_from_cli() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(n for n in imported_modules(path) if n.startswith("unigame_core.cli"))
        for path in library_files()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.slow
def test_importing_every_library_module_loads_no_cli_module() -> None:
    modules = [module_name(p) for p in library_files() if p.name != "__init__.py"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('unigame_core.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
