"""Configuration files: the shipped ``configs/`` tree and the YAML files that plugins name.

The tree is the top-level ``configs/`` folder of the source, installed as the package
``unigame_core.configs`` (pyproject.toml maps it; no symlink) and always read through ``importlib.resources``:
``configs/models/`` holds the defaults of each model alias, ``configs/ablations/`` the paper's ablation
rows (``--config ablations/full``), ``configs/suites/`` the default options of each suite.

A registration names its file as ``package:path/inside/it.yaml`` (the core's tree is
``unigame_core.configs:...``; a third-party plugin names a file of its own package) or as a filesystem
path. Inside a file, ``${package_path:PACKAGE,RELATIVE}`` is the absolute path of a data file an
installed package ships (the embedded default model's weights, for instance).

YAML anchors and aliases are allowed, up to :data:`MAX_VALUES` values once every alias is expanded: a
kilobyte of nested aliases (a "billion laughs") would otherwise expand to gigabytes when the mapping is
copied and merged. The count is taken on the parsed node graph, before anything is built from it.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml

from .errors import ConfigError
from .paths import check_regular

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ConfigRef = Union[str, "os.PathLike[str]"]
#: values (scalars, lists, mappings) a config file may hold once its aliases are expanded
MAX_VALUES = 100_000
SHIPPED_PACKAGE = "unigame_core.configs"
KINDS = ("models", "ablations", "suites")


def shipped_root() -> Traversable:
    """The installed ``configs/`` tree."""
    return resources.files(SHIPPED_PACKAGE)


def shipped(relative: str) -> str:
    """The reference of a file in the shipped tree, e.g. ``shipped("models/janus-pro-7b.yaml")``."""
    return f"{SHIPPED_PACKAGE}:{relative}"


def shipped_files(kind: str) -> list[str]:
    """Names (without ``.yaml``) of the shipped files of one kind: ``models``, ``ablations`` or ``suites``."""
    folder = shipped_root() / kind
    return sorted(f.name[: -len(".yaml")] for f in folder.iterdir() if f.name.endswith(".yaml"))


def locate(ref: ConfigRef) -> Traversable | Path:
    """``package:path`` -> that package's data file; a path -> itself."""
    if isinstance(ref, os.PathLike) or Path(ref).is_absolute():
        return Path(ref)
    package, sep, relative = ref.partition(":")
    if not sep or not package or not relative:
        raise ConfigError(f"Config file reference '{ref}' is not of the form 'package:path/to/file.yaml'.")
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"Config file '{ref}' names package '{package}', which is not installed.") from exc
    return root.joinpath(*relative.split("/"))


PACKAGE_PATH = re.compile(r"^\$\{package_path:\s*([\w.]+)\s*,\s*([^}]+?)\s*\}$")


def _resolve(value: Any) -> Any:
    """Replace every ``${package_path:PACKAGE,RELATIVE}`` value by that data file's absolute path."""
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    match = PACKAGE_PATH.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    package, relative = match.groups()
    return str(locate(f"{package}:{relative}"))


def parse_yaml(text: str, where: str) -> dict[str, Any]:
    """YAML text -> a mapping with ``${package_path:...}`` resolved; errors name ``where`` and the line."""
    try:
        data = _safe_load(text, where) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"Cannot parse YAML file '{where}'{at}: {getattr(exc, 'problem', exc)}.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{where}' must hold a mapping of keys, not {type(data).__name__}.")
    return _resolve(data)


def _safe_load(text: str, where: str) -> Any:
    """``yaml.safe_load``, refusing a document whose aliases expand to more than :data:`MAX_VALUES` values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node, where, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _count_values(node: yaml.Node, where: str, seen: dict[int, int], open_: set[int]) -> int:
    """Values under ``node`` with every alias expanded (an alias is the same node object reached twice)."""
    key = id(node)
    if key in seen:
        return seen[key]
    if key in open_:
        raise ConfigError(f"Config file '{where}' holds a YAML alias inside its own anchor.",
                          "Write the values out instead.")
    open_.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    total = 1
    for child in children:
        total += _count_values(child, where, seen, open_)
        if total > MAX_VALUES:
            raise ConfigError(f"Config file '{where}' expands its YAML aliases to more than {MAX_VALUES:,} values.",
                              "Write the values out, or use fewer nested aliases.")
    open_.discard(key)
    seen[key] = total
    return total


def read(ref: ConfigRef) -> dict[str, Any]:
    """Read the YAML file ``ref`` names (a ConfigError naming it when it is missing, not a regular file or
    malformed)."""
    found = locate(ref)
    if isinstance(found, Path):
        check_regular(found, "Config file", ConfigError)
    if not found.is_file():
        raise ConfigError(f"Config file '{ref}' does not exist.")
    return parse_yaml(found.read_text(encoding="utf-8"), str(ref))


def preset(name: str) -> str | None:
    """A shipped file named like ``ablations/full`` (no ``.yaml``), or None."""
    ref = shipped(f"{name}.yaml")
    return ref if locate(ref).is_file() else None
