"""Evaluate a backend on suites: ``evaluate_backend`` (``unigame train``) and ``run_eval`` (``unigame eval``).

Order of work, so that a user's mistake costs seconds, not a model load:

1. resolve the configuration and the suite names (``--suite vqav2,pope=/data/POPE``: ``name=PATH``
   overrides that suite's data folder, otherwise ``<data-root>/<name>``), check the adapter folder and
   every suite's data files;
2. load the model (and the adapter), then check the capabilities the suites require;
3. run the suites one after the other (answers are generated in batches), timing each;
4. write ``results.json``, ``results_lm_eval.json`` (lm-eval's format) and ``predictions/<suite>.jsonl``,
   print the table.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .. import config_files, plugins
from ..config_checks import field_problems
from ..errors import CapabilityError, ConfigError
from ..interfaces import Backend, Suite, SuiteResult
from ..paths import check_output_folder, outside_data_root_allowed
from ..registry import Entry
from . import cache, report
from .common import enable_offline
from .lm_eval_format import write_lm_eval_results
from .loading import check_adapter, load_model

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SuiteRun:
    """A suite ready to run: its registry entry, the built suite and where its data lives."""

    name: str
    entry: Entry
    suite: Suite
    location: Path | None
    options: Any = None  # the suite's options dataclass as built (recorded in results.json)


def parse_suite_spec(spec: str) -> tuple[str, str]:
    """``"vqav2"`` -> ``("vqav2", "")``; ``"vqav2=/data/vqa"`` -> ``("vqav2", "/data/vqa")``."""
    name, _, path = spec.partition("=")
    return name.strip(), path.strip()


def parse_suite_options(settings: Sequence[str], suite_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["shapes.samples=500"]`` -> ``{"shapes": {"samples": 500}}`` (values read as YAML); each setting
    must name one of ``suite_names``."""
    out: dict[str, dict[str, Any]] = {}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        suite, dot, name = key.strip().partition(".")
        if not (sep and dot and suite and name):
            raise ConfigError(f"Suite option '{setting}' must look like SUITE.OPTION=VALUE, e.g. shapes.samples=500.")
        if suite not in suite_names:
            raise ConfigError(f"Suite option '{setting}' names suite '{suite}', which is not in --suite.",
                              f"Evaluate it with --suite {','.join([*suite_names, suite])}.")
        out.setdefault(suite, {})[name] = yaml.safe_load(raw) if raw.strip() else ""
    return out


def _with_options(name: str, options: Any, settings: dict[str, Any]) -> Any:
    """``options`` (a suite's dataclass) with ``settings`` applied, type-checked by OmegaConf."""
    if not settings:
        return options
    fields = [f.name for f in dataclasses.fields(options)] if options is not None else []
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise ConfigError(f"Suite '{name}' has no option '{unknown[0]}'.",
                          f"Its options are: {', '.join(fields) or 'none'}.")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(options), settings)
    except OmegaConfBaseException as exc:  # OmegaConf's validation errors, shown in one sentence
        key = getattr(exc, "full_key", "") or "?"
        raise ConfigError(f"Suite option '{name}.{key}': {str(exc).splitlines()[0].rstrip('.')}.") from None
    bad = field_problems(type(options), merged, name)  # a value outside a range or choice the suite declares
    if bad:
        raise ConfigError(f"Suite option {bad[0].line()}")
    return OmegaConf.to_object(merged)


def prepare_suites(specs: Sequence[str], data_root: Path | None, settings: Sequence[str] = ()) -> list[SuiteRun]:
    """Build every suite and check its data (DataError naming the missing file) before anything slow.

    A suite's options: its dataclass < the file it registered (``file=``, e.g. ``configs/suites/NAME.yaml``)
    < the ``SUITE.OPTION=VALUE`` ``settings`` < a ``NAME=PATH`` spec's path. ``NAME:SOURCE``
    (``attack-pgd:vqav2``) sets the ``source`` option of a suite that runs on another suite's questions; its
    data is then the source's."""
    if not specs:
        raise ConfigError("No suite given.", f"Pass --suite with some of: {', '.join(plugins.suites().names())}.")
    parsed = [parse_suite_spec(spec) for spec in specs]
    chosen = parse_suite_options(settings, [name for name, _ in parsed])
    runs: list[SuiteRun] = []
    for spec, (name, path) in zip(specs, parsed):
        run = build_suite(name, data_root, chosen.get(name, {}), path)
        if any(r.name == run.name for r in runs):
            raise ConfigError(f"Suite '{run.name}' is given twice.")
        runs.append(run)
    for run in runs:
        run.suite.check_data()
    return runs


def build_suite(name: str, data_root: Path | None, settings: dict[str, Any], path: str = "") -> SuiteRun:
    """The suite ``name`` (``NAME`` or ``NAME:SOURCE``) with its options set from ``settings`` (checked) and
    its data folder ``path`` (when given); its data is not checked yet."""
    spec = f"{name}={path}" if path else name
    base, colon, source = name.partition(":")
    entry = plugins.suites().get(base)
    shipped = config_files.read(entry.extra.file) if entry.extra.file else {}  # configs/suites/
    options = _with_options(name, entry.config() if entry.config is not None else None, {**shipped, **settings})
    fields = {f.name for f in dataclasses.fields(options)} if options is not None else set()
    if colon:
        if "source" not in fields or not source:
            raise ConfigError(f"Suite '{base}' does not run on another suite's questions (got '{spec}').",
                              "Pass just the name.")
        options = dataclasses.replace(options, source=source)
    if path:
        if "path" not in fields:
            raise ConfigError(f"Suite '{name}' takes no data path (got '{spec}').", "Pass just the name.")
        options = dataclasses.replace(options, path=path)
    folder = getattr(options, "source", "") or entry.name  # a suite on another's questions reads the source's data
    location = Path(path) if path else (data_root / folder if data_root is not None and "path" in fields else None)
    run_name = f"{entry.name}:{options.source}" if "source" in fields else entry.name
    return SuiteRun(run_name, entry, entry.load()(options, data_root), location, options)


def check_capabilities(backend: Backend, runs: Sequence[SuiteRun]) -> None:
    """Fail before any suite runs when one needs what the backend cannot do (registered ``requires``)."""
    for run in runs:
        missing = [c for c in run.entry.extra.requires if c not in backend.capabilities]
        if missing:
            raise CapabilityError(
                f"Suite '{run.name}' needs a model with {', '.join(repr(c) for c in missing)}; "
                f"this backend has {sorted(backend.capabilities) or 'none'}.", _capable_model_hint())


def _capable_model_hint() -> str:
    """Where to look for a model that can: the registry's models, naming the embedded default (never a fixed name)."""
    from ..config import default_model

    default = default_model(plugins.backends())
    also = f" (the embedded default, '{default}', is a unified model)" if default else ""
    return f"Choose a model that has it: see 'unigame models list'{also}."


def _run_suites(
    backend: Backend,
    runs: Sequence[SuiteRun],
    *,
    limit: int | None,
    batch_size: int,
    cache_key: dict[str, Any] | None = None,
) -> tuple[dict[str, SuiteResult], dict[str, report.SuiteTiming]]:
    """Evaluate each suite (with an answer cache per suite when ``cache_key`` is given), timing it."""
    from .lm_eval_bridge import response_cache

    results: dict[str, SuiteResult] = {}
    timings: dict[str, report.SuiteTiming] = {}
    model = backend.model
    was_training = model.training
    model.eval()
    try:
        for run in runs:
            db = None
            if cache_key is not None:
                db = cache.cache_file(cache_key["model"], cache_key["adapter"],
                                      cache.data_fingerprint(run.name, run.location))
            start = time.perf_counter()
            with response_cache(db) if db else nullcontext():
                results[run.name] = run.suite.evaluate(backend, limit=limit, batch_size=batch_size)
            timings[run.name] = report.SuiteTiming(time.perf_counter() - start, results[run.name].n)
            t = timings[run.name]
            log.info("%s: %d samples in %.1f s (%.1f samples/s overall%s)", run.name, t.n, t.seconds,
                     t.samples_per_s, _answering(results[run.name].details))
    finally:
        model.train(was_training)
    return results, timings


def _answering(details: dict[str, Any]) -> str:
    """The answering speed a suite measured, for the log line: generated answers over their seconds, and how
    many came from the answer cache; nothing when the suite measured none."""
    rate, cached = details.get("samples_per_s"), details.get("cached") or 0
    parts = [f"{rate:.1f} samples/s answering"] if rate else []
    if cached:
        parts.append(f"{cached} answers from the answer cache")
    return "".join(f", {p}" for p in parts)


def evaluate_backend(backend: Backend, suite_names: Sequence[str], *, data_root: Path | None, limit: int | None,
                     batch_size: int, suite_options: Sequence[str] = ()) -> dict[str, SuiteResult]:
    """Score an already-loaded backend (e.g. before and after training); every suite's data is checked first.
    ``suite_options`` are ``SUITE.OPTION=VALUE`` strings, as ``unigame eval -O`` takes them."""
    enable_offline()
    runs = prepare_suites(suite_names, data_root, suite_options)
    check_capabilities(backend, runs)
    return _run_suites(backend, runs, limit=limit, batch_size=batch_size)[0]


def run_eval(suites: Sequence[str], model: str | None, adapter: Path | None, data_root: Path | None,
             limit: int | None, batch_size: int, output: Path, config_file: str | None,
             suite_options: Sequence[str] = (), allow_outside_data_root: bool = False) -> dict[str, SuiteResult]:
    """``unigame eval``: check, load, evaluate, write ``results.json`` and predictions, print the table.
    ``allow_outside_data_root``: data files may name images outside their data folder (``paths.data_file``)."""
    with outside_data_root_allowed(allow_outside_data_root):
        return _run_eval(suites, model, adapter, data_root, limit, batch_size, output, config_file, suite_options)


def _run_eval(suites: Sequence[str], model: str | None, adapter: Path | None, data_root: Path | None,
              limit: int | None, batch_size: int, output: Path, config_file: str | None,
              suite_options: Sequence[str]) -> dict[str, SuiteResult]:
    from ..config import build_config

    enable_offline()
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}.")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}.")
    check_output_folder(Path(output))
    cfg = build_config(model, config_file, [])
    adapter = check_adapter(adapter)  # a damaged run's adapter: its newest intact checkpoint's
    runs = prepare_suites(suites, data_root, suite_options)
    backend = load_model(cfg, adapter)
    check_capabilities(backend, runs)
    key = {"model": cache.model_fingerprint(cfg), "adapter": cache.adapter_fingerprint(adapter)}
    results, timings = _run_suites(backend, runs, limit=limit, batch_size=batch_size, cache_key=key)
    document = report.results_document(
        results, timings, model=cfg.model or _default_model_name(), backend=OmegaConf.to_container(cfg.backend),
        adapter=str(adapter) if adapter else None, data_root=str(data_root) if data_root else None,
        limit=limit, batch_size=batch_size,
        options={r.name: dataclasses.asdict(r.options) for r in runs if r.options is not None})
    path = report.write_outputs(Path(output), document, results)
    write_lm_eval_results(Path(output), document, device=str(cfg.train.device))
    report.print_table(document)
    log.info("results written to %s", path)
    return results


def _default_model_name() -> str:
    from ..config import default_model

    return default_model(plugins.backends()) or "default"
