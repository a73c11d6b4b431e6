"""Typed run configuration (OmegaConf structured dataclasses) and its validation.

Precedence, lowest first: dataclass defaults < the model alias's defaults (its backend's, then its
own: ``configs/models/*.yaml``) < ``--config FILE`` < ``key=value`` overrides. Plugin-owned nodes
(``backend``, ``gate``, ``buffer``, ``schedule``) carry a ``name`` and are checked against the config
dataclass their plugin registered. Every check runs before anything heavy is imported; the error names
the offending key.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import config_files, plugins
from .config_checks import (Check, Problem, at_least_one, bounded, config_error, field_problems, non_negative, positive,
                            value_problems)
from .errors import ConfigError, UnigameError
from .paths import check_regular
from .report.monitor import validate_loggers
from .game.settings import HealthConfig, cosine_threshold
from .registry import Alias, Entry, Registry

#: the semantic gate of a backend that declares none (its settings' ``default_gate``): cosine in the shared
#: tokens needs no model and no download; the CLIP gate is used where a backend (or the config) chooses it
DEFAULT_GATE = "cosine"

log = logging.getLogger(__name__)

# Keys that earlier versions wrote into a run's config.yaml but that never did anything: a config file that
# still has one loads (with a warning) instead of failing, so an old run can be reproduced from its config.yaml.
RETIRED_KEYS = {("data", "max_samples"): "it never limited the data"}


#: game.coupling's choices: the names of the strategies in unigame_core/game/couplings.py (a test ties the two)
CouplingName = Literal["decoder", "decoder-pgd", "decoder-noise", "embedding", "noise", "none"]
COUPLINGS: tuple[str, ...] = get_args(CouplingName)


@dataclass
class DataConfig:
    spec: str = ""  # "kind:location", e.g. vqav2:/data/vqav2, jsonl:train.jsonl, shapes:train
    num_workers: int = bounded(0, non_negative)
    image_errors: Literal["skip", "fail"] = "skip"


@dataclass
class GameConfig:
    coupling: CouplingName = "decoder"
    eps_max: float = bounded(0.02, non_negative)  # bound on ||delta|| per token, relative to the token's own norm
    # the adversary maximises  lambda_adv * CE - lambda_reg * ||delta||^2  (the authors' 80 and 1e-4): the paper's
    # "lambda 80" is lambda_adv, the WEIGHT of the adversarial CE; as a penalty, 80 pins delta near zero
    lambda_adv: float = bounded(80.0, Check(lambda v: v > 0, "positive (the weight of the adversarial CE)"))
    lambda_reg: float = bounded(1.0e-4, non_negative)
    # per-sample refinement after the perturber: K projected normalised ascent steps of refine_step * eps * ||z_i||
    # through decoder + understander (on VQ codes a per-token perturber alone is a lookup table: docs/training.md)
    refine_steps: int = bounded(3, Check(lambda v: 0 <= v <= 100, "in [0, 100] (0 = no refinement)"))
    refine_step: float = bounded(0.5, Check(lambda v: 0 < v <= 2, "in (0, 2] (a fraction of the bound)"))
    beta: float = bounded(1.0, non_negative)  # weight of the buffer loss for the understander
    # share of each batch the adversary perturbs on its turn
    adversary_fraction: float = bounded(0.25, Check(lambda v: 0 < v <= 1, "in (0, 1]"))
    # buffer draw per understander step, as a share of the batch
    buffer_fraction: float = bounded(0.125, Check(lambda v: 0 <= v <= 4, "in [0, 4]"))
    # round_trip: hardness = CE minus the CE on the delta = 0 decode, so the buffer ranks what the adversary did,
    # not what decoding alone destroys (docs/training.md, "Game health"); none: the plain CE
    hardness_reference: Literal["round_trip", "none"] = "round_trip"
    # what the gate compares the adversarial decode with: round_trip (the delta = 0 decode, so the decoder's own
    # drift is not held against the adversary; the clean image for couplings that do not decode) or clean
    gate_reference: Literal["round_trip", "clean"] = "round_trip"
    # re-score the buffer's hardness against the current understander every N steps (0: never)
    rescore_every: int = bounded(50, Check(lambda v: v >= 0, "non-negative (0 = never)"))


@dataclass
class PerturberConfig:
    hidden: int = bounded(64, at_least_one)
    depth: int = bounded(3, at_least_one)
    bound: Literal["radial", "direction"] = "radial"  # radial: eps*tanh(|u|)*u/|u| ; direction: unit(u) * learnable eps
    init_scale: float = bounded(1e-3, non_negative)  # last layer init std: delta starts near zero


@dataclass
class LoraSettings:
    r: int = bounded(16, at_least_one)
    alpha: int = bounded(32, positive)
    dropout: float = bounded(0.0, Check(lambda v: 0 <= v < 1, "in [0, 1)"))
    include_mlp: bool = False  # also adapt the LLM's MLP projections (gate/up/down), not only attention


@dataclass
class OptimConfig:
    lr_lora: float = bounded(5e-6, non_negative)
    lr_perturber: float = bounded(1e-2, non_negative)
    weight_decay: float = bounded(0.0, non_negative)
    grad_clip: float = bounded(1.0, positive)
    warmup_steps: int = bounded(0, non_negative)
    scheduler: Literal["cosine", "constant"] = "cosine"


@dataclass
class TrainConfig:
    steps: int = bounded(5000, at_least_one)
    batch_size: int = bounded(8, at_least_one)
    seed: int = 0
    output_dir: str = "runs/unigame"
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = bounded(10, at_least_one)
    sample_every: int = bounded(500, Check(lambda v: v >= 0, "non-negative (0 = never)"))  # PNG grids
    checkpoint_every: int = bounded(500, Check(lambda v: v >= 0, "non-negative (0 = only at the end)"))
    keep_checkpoints: int = bounded(2, at_least_one)
    max_bad_steps: int = bounded(20, at_least_one)  # non-finite losses in a row before stopping
    eval_suites: list[str] = field(default_factory=list)  # suites scored before and after training
    eval_limit: int = bounded(200, non_negative)  # samples per suite for those before/after scores
    eval_data_root: str = ""  # --data-root for those suites (empty: each suite's default)
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"])  # metric loggers (docs/training.md)


@dataclass
class RunConfig:
    model: str = ""  # alias, backend name or checkpoint folder; empty = the embedded default
    backend: Any = field(default_factory=dict)  # {name, **options of the backend}
    data: DataConfig = field(default_factory=DataConfig)
    game: GameConfig = field(default_factory=GameConfig)
    perturber: PerturberConfig = field(default_factory=PerturberConfig)
    gate: Any = field(default_factory=lambda: {"name": DEFAULT_GATE})  # the semantic gate (validator)
    buffer: Any = field(default_factory=lambda: {"name": "hard"})
    schedule: Any = field(default_factory=lambda: {"name": "alternating"})
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)


COMPONENTS = {"backend": "backends", "gate": "validators", "buffer": "buffers", "schedule": "schedules"}


_NOT_A_CHOICE = re.compile(r"Invalid value '(?P<value>.*)', expected one of \[(?P<choices>.*)\]")


def _problem(exc: OmegaConfBaseException, prefix: str = "") -> Problem:
    key = getattr(exc, "full_key", None) or ""
    key = f"{prefix}.{key}" if prefix and key else (key or prefix)
    msg = str(exc).splitlines()[0]
    if found := _NOT_A_CHOICE.match(msg):  # a Literal[...] field: the same sentence as every other range
        choices = ", ".join(c.strip().strip("'") for c in found["choices"].split(","))
        return Problem(key, f"must be one of {choices}, got {found['value']!r}.")
    return Problem(key, msg if msg.endswith((".", "?")) else f"{msg}.", "See docs/training.md for every field.")


def _wrap(exc: OmegaConfBaseException, prefix: str = "") -> UnigameError:
    return config_error([_problem(exc, prefix)])


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file, or a shipped preset such as ``ablations/full`` (``configs/ablations/full.yaml``)."""
    p = Path(path)
    check_regular(p, "Config file", ConfigError)  # before read_text: a FIFO would block it
    if p.exists():
        return config_files.parse_yaml(p.read_text(encoding="utf-8"), str(p))
    preset = config_files.preset(str(path))
    if preset is None:
        raise ConfigError(
            f"Config file '{path}' does not exist.", "Pass a YAML file or a preset name such as 'ablations/full'."
        )
    return config_files.read(preset)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["train.steps=20", "gate.name=none"]`` -> nested dict (values parsed as YAML scalars)."""
    keys: dict[str, str] = {}
    for item in items:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"Override '{item}' is not of the form key=value.", "Example: train.steps=20")
        key = item.split("=", 1)[0].strip()
        for other, earlier in keys.items():  # 'train=5' then 'train.steps=3': the second would hide the first
            if key.startswith(other + ".") or other.startswith(key + "."):
                raise ConfigError(f"Overrides '{earlier}' and '{item}' both set '{min(key, other, key=len)}'.",
                                  "Set a section's keys one by one, e.g. train.steps=20.")
        keys[key] = item
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(items)))  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise _wrap(exc) from exc
    except yaml.YAMLError as exc:  # an unclosed bracket or quote in a value
        bad = next((i for i in items if not _yaml_ok(i.split("=", 1)[1])), "")
        detail = " ".join(str(getattr(exc, "problem", "") or exc).split())
        raise ConfigError(f"Override '{bad}' has a value that is not valid YAML ({detail}).",
                          "Quote it, or close its brackets: train.eval_suites=[shapes]") from None


def _yaml_ok(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return True


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def _defaults(file: str, in_code: dict[str, Any]) -> dict[str, Any]:
    return _deep_merge(config_files.read(file), in_code) if file else dict(in_code)


def backend_defaults(entry: Entry) -> dict[str, Any]:
    """What a backend applies to every model it loads: its YAML file (``file=``) and ``defaults=`` over the
    gate its settings class declares (``default_gate``, e.g. ``HFSettings.default_gate``): a backend that
    declares none keeps ``DEFAULT_GATE``, so its runs never download the CLIP gate's weights unless the
    config asks for them."""
    gate = getattr(entry.config, "default_gate", None)
    own = _defaults(entry.extra.file, entry.extra.defaults)
    return _deep_merge({"gate": {"name": gate}} if gate else {}, own)


def alias_defaults(alias: Alias) -> dict[str, Any]:
    """An alias's own defaults: its YAML file under the ``defaults`` given in code."""
    return _defaults(alias.file, alias.defaults)


def default_model(backends: Registry) -> str | None:
    """The embedded default model: the alias a plugin registered with ``default=True`` (None if none did;
    an error naming both plugins if several did)."""
    default = backends.default_alias()
    return default.name if default is not None else None


def resolve_model(model: str, backends: Registry) -> tuple[str, dict[str, Any]]:
    """Model alias / backend name / checkpoint folder -> (backend name, defaults).

    The defaults are the backend's own (:func:`backend_defaults`) under the alias's (:func:`alias_defaults`).
    """
    if not model:
        model = default_model(backends) or ""
        if not model:
            raise ConfigError("No --model given and no plugin provides an embedded default model.")
    if model in backends:
        entry, alias = backends.resolve(model)
        return entry.name, _deep_merge(backend_defaults(entry), alias_defaults(alias) if alias else {})
    path = Path(model).expanduser()
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.exists():
            raise ConfigError(
                f"Model folder '{path}' has no config.json.",
                "Point --model at a checkpoint folder saved with save_pretrained.",
            )
        try:
            model_type = json.loads(cfg_file.read_text(encoding="utf-8")).get("model_type", "")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            raise ConfigError(f"'{cfg_file}' is not a JSON object of model settings ({exc}).") from None
        for entry in backends.entries():
            if model_type in entry.extra.model_types:
                folder = {"backend": {"checkpoint": str(path)}}
                return backends.get(entry.name).name, _deep_merge(backend_defaults(entry), folder)
        raise ConfigError(f"No backend loads checkpoints of model_type '{model_type}' (folder '{path}').")
    if path.exists() or model.startswith(("/", "./", "../", "~")):  # meant as a folder, not a name
        what = "is a file, not a checkpoint folder" if path.exists() else "does not exist"
        raise ConfigError(f"Model folder '{path}' {what}.",
                          "Pass a checkpoint folder saved with save_pretrained, or a name from 'unigame models list'.")
    raise backends.unknown(model)


def _drop_retired(layer: dict[str, Any], source: str) -> dict[str, Any]:
    """``layer`` without the ``RETIRED_KEYS``, each one found named in a warning."""
    for (node, key), why in RETIRED_KEYS.items():
        values = layer.get(node)
        if isinstance(values, dict) and key in values:
            layer = {**layer, node: {k: v for k, v in values.items() if k != key}}
            log.warning("ignoring %s.%s from %s: the key was removed (%s)", node, key, source, why)
    return layer


def _plain(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in layer.items()}


def _component_layers(node: Any, layers: list[Any]) -> dict[str, Any]:
    """Merge a plugin-owned node across layers; a layer that switches ``name`` drops the options
    lower layers gave the previous choice (``gate.name=none`` over a CLIP gate's settings)."""
    merged: dict[str, Any] = dict(node or {})
    for layer in layers:
        if not layer:
            continue
        if "name" in layer and layer["name"] != merged.get("name"):
            merged = {}
        merged = _deep_merge(merged, dict(layer))
    return merged


def validate_component(node: Any, registry: Registry, key: str) -> DictConfig:
    """Check a ``{name: ..., **options}`` node against its plugin's config dataclass (one error for all problems)."""
    typed, problems = component_problems(node, registry, key)
    if problems:
        raise config_error(problems)
    return typed


def component_problems(node: Any, registry: Registry, key: str) -> tuple[DictConfig, list[Problem]]:
    """The node with its options typed by the plugin's dataclass, and every problem: an unknown name, each
    unknown or mistyped option (a ``Literal`` choice included), each value outside its declared range."""
    if not isinstance(node, (dict, DictConfig)) or "name" not in node:
        return OmegaConf.create({}), [Problem("", f"Configuration key '{key}' needs a 'name'.",
                                              f"Choices: {', '.join(registry.names())}.")]
    name = str(node["name"])
    try:
        entry = registry.get(name)
    except UnigameError as exc:
        return OmegaConf.create({"name": name}), [Problem("", exc.message, exc.hint or "", type(exc))]
    options = {k: v for k, v in dict(node).items() if k != "name"}
    if entry.config is None:
        return OmegaConf.create({"name": name}), [Problem(f"{key}.{k}", f"{key} '{name}' takes no options.")
                                                  for k in options]
    typed, problems = OmegaConf.structured(entry.config), []
    for option, value in options.items():  # one at a time, so every bad option is reported
        try:
            typed = OmegaConf.merge(typed, {option: value})
        except OmegaConfBaseException as exc:
            problems.append(_problem(exc, key))
    problems += field_problems(entry.config, OmegaConf.to_container(typed), key)  # type: ignore[arg-type]
    return OmegaConf.merge(OmegaConf.create({"name": name}), typed), problems  # type: ignore[return-value]


def _leaves(node: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    return [leaf for k, v in node.items()
            for leaf in (_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [(f"{prefix}{k}", v)])]


def _merge_layers(base: DictConfig, layers: list[dict[str, Any]], problems: list[Problem]) -> DictConfig:
    """Merge the layers onto ``base``; when that fails, key by key, so every bad key is reported."""
    try:
        return OmegaConf.merge(base, *layers)  # type: ignore[return-value]
    except OmegaConfBaseException:
        pass
    cfg = base
    for layer in layers:
        for dotted, value in _leaves(layer):
            try:
                cfg = OmegaConf.merge(cfg, _nested(dotted, value))
            except OmegaConfBaseException as exc:
                problems.append(_problem(exc))
    return cfg  # type: ignore[return-value]


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def build_config(
    model: str | None = None,
    config_file: str | None = None,
    overrides: list[str] | None = None,
) -> DictConfig:
    """Resolve and validate the full run configuration, reporting every problem in one error.
    Imports nothing heavy."""
    file_cfg = _drop_retired(load_yaml(config_file), str(config_file)) if config_file else {}
    over_cfg = _drop_retired(parse_overrides(list(overrides or [])), "the command line")
    if model:
        over_cfg["model"] = model
    chosen = str(over_cfg.get("model", file_cfg.get("model", "")) or "")
    backends = plugins.backends()
    backend_name, alias_defaults = resolve_model(chosen, backends)

    base = OmegaConf.structured(RunConfig)
    layers = [_plain(alias_defaults), _plain(file_cfg), _plain(over_cfg)]
    components = {key: _component_layers(OmegaConf.to_container(base[key]), [lay.pop(key, None) for lay in layers])
                  for key in COMPONENTS}
    problems: list[Problem] = []
    cfg = _merge_layers(base, [*layers, components], problems)
    cfg.model = chosen or cfg.model
    backend_node = dict(cfg.backend)
    backend_node.setdefault("name", backend_name)
    if backend_node["name"] != backend_name:
        problems.append(Problem("", f"backend.name '{backend_node['name']}' does not match model '{chosen}' "
                                    f"(backend '{backend_name}')."))
        backend_node["name"] = backend_name
    cfg.backend = backend_node
    for key, kind in COMPONENTS.items():
        typed, found = component_problems(cfg[key], getattr(plugins, kind)(), key)
        problems += found
        setattr(cfg, key, typed)  # its valid part, so the value checks below see typed values
    if cfg.gate.name == "cosine" and cfg.gate.threshold is None:  # one that can fire at this eps, written out
        cfg.gate.threshold = cosine_threshold(float(cfg.game.eps_max))
    problems += value_problems(cfg, _sections())
    try:
        validate_loggers(cfg.train.loggers)
    except ConfigError as exc:
        problems.append(Problem("", exc.message, exc.hint or ""))
    if problems:
        raise config_error(problems)
    return cfg


def _sections() -> dict[str, type]:
    """Config key -> the dataclass its node follows, for the core's own sections (a plugin-owned node's options
    are checked against its plugin's dataclass in :func:`component_problems`)."""
    hints = get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in fields(RunConfig) if is_dataclass(hints[f.name])}


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)
