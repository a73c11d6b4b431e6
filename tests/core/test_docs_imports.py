"""Every import line in docs/plugins.md's code blocks runs, and every class the doc's prose names is imported in
one of them: a plugin author never has to guess where ``ScoredRows`` lives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
OWN_PACKAGES = ("my_umm", "my_pkg", "unigame_shapes")  # the doc's imaginary packages, a built-in's own line
#: CamelCase words in backticks that are not importable names: placeholders, builtins, table words, the doc's toy
NOT_NAMES = {"AssertionError", "BackendClass", "BufferClass", "CLASH", "LoggerClass", "None", "Path", "ScheduleClass",
             "SuiteClass", "ValidatorClass", "TinyBackend", "TinySettings"}


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def import_lines() -> list[str]:
    """Each import statement of the doc's python blocks (at any depth), as one line of code."""
    lines = []
    for block in code_blocks():
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and not str(node.module).startswith(OWN_PACKAGES):
                lines.append(ast.unparse(node))
            elif isinstance(node, ast.Import) and not any(a.name.startswith(OWN_PACKAGES) for a in node.names):
                lines.append(ast.unparse(node))
    return lines


@pytest.mark.parametrize("line", sorted(set(import_lines())))
def test_every_import_line_of_the_doc_runs(line: str) -> None:
    exec(compile(line, "docs/plugins.md", "exec"), {})  # noqa: S102 - the doc's own code


def test_every_class_the_prose_names_is_imported_in_a_code_block() -> None:
    prose = re.sub(r"```.*?```", "", DOC.read_text(), flags=re.S)
    named = set(re.findall(r"`([A-Z][A-Za-z0-9]+)(?:[(.\[][^`]*)?`", prose)) - NOT_NAMES
    imported = {name.strip() for line in import_lines() if line.startswith("from ")
                for name in line.split(" import ", 1)[1].split(",")}
    missing = sorted(named - imported)
    assert not missing, f"docs/plugins.md names {missing} without an import line saying where they come from"
    assert {"ScoredRows", "SuiteResult", "MetricLogger", "Validator"} <= imported
