"""Every hook unigame calls, in one place.

Hooks *register* things into typed registries; they never do work themselves. A plugin is a
module (named by an entry point in the ``unigame`` group) that implements any of these with
``@unigame_core.hookimpl``. Each hook fires once per process, the first time the registry of its
kind is needed (``unigame_core.plugins.backends()`` and its siblings), in one fixed order: the ``core``
plugin first, then the other entry points sorted by name, then in-process plugins in the order they
were registered (pluggy's ``tryfirst``/``trylast`` are not used). A plugin implementing a function
named ``unigame_...`` that is not below is reported broken, naming the hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import (BackendRegistry, BufferRegistry, CommandRegistry, DatasetRegistry, LoggerRegistry,
                           ScheduleRegistry, SuiteRegistry, ValidatorRegistry)

hookspec = pluggy.HookspecMarker("unigame")
hookimpl = pluggy.HookimplMarker("unigame")


@hookspec
def unigame_register_backends(backends: BackendRegistry) -> None:
    """Register model backends and their aliases.

    Fires when a model is resolved (``train``, ``eval``, ``bench``, ``models list``, ``config show``).
    Call ``backends.add(name, "module:BackendClass", config=ConfigDataclass, model_types=(...))`` and
    ``backends.alias("my-model-7b", name, file="my_plugin:my-model-7b.yaml")`` (a YAML file of run-config
    defaults, ``package:path``) or ``defaults={"backend": {"checkpoint": "org/My-Model-7B"}}`` (in code,
    applied over the file).
    ``model_types`` lists the ``config.json`` model types a local checkpoint folder may declare to be
    loaded by this backend; ``file=`` / ``defaults={...}`` on ``add`` apply to every model of this
    backend, aliases and checkpoint folders alike, under the alias's own defaults. The builder is
    called as ``BackendClass(config_instance, device=..., dtype=...)``.
    """


@hookspec
def unigame_register_suites(suites: SuiteRegistry) -> None:
    """Register evaluation suites.

    Fires when ``eval`` or ``suites list`` runs. Call ``suites.add(name, "module:SuiteClass",
    config=SuiteConfigDataclass, help=...)``; the class implements ``unigame_core.interfaces.Suite``.
    ``file="package:path.yaml"`` names the suite's default options (over the dataclass's, under ``-O``).
    """


@hookspec
def unigame_register_validators(validators: ValidatorRegistry) -> None:
    """Register semantic gates (validators) for adversarial samples.

    Fires when the game is built. ``validators.add(name, "module:ValidatorClass", config=...)``;
    the class implements ``unigame_core.interfaces.Validator`` and is built as ``ValidatorClass(cfg, device)``.
    """


@hookspec
def unigame_register_buffers(buffers: BufferRegistry) -> None:
    """Register hard-sample buffers.

    Fires when the game is built. ``buffers.add(name, "module:BufferClass", config=...)``; the class
    implements ``unigame_core.interfaces.Buffer`` and is built as ``BufferClass(cfg)``.
    """


@hookspec
def unigame_register_schedules(schedules: ScheduleRegistry) -> None:
    """Register game schedules (how the min-max updates alternate).

    Fires when the game is built. ``schedules.add(name, "module:ScheduleClass", config=...)``; the
    class implements ``unigame_core.interfaces.GameSchedule`` and is built as
    ``ScheduleClass(cfg, beta=game.beta, total_steps=train.steps)``.
    """


@hookspec
def unigame_register_datasets(datasets: DatasetRegistry) -> None:
    """Register training-data sources, selected with ``--data KIND:LOCATION``.

    Fires when ``train`` builds its data. ``datasets.add(kind, "module:factory", help=...)`` where
    ``factory(location: str, *, image_errors: str, seed: int) -> torch.utils.data.Dataset`` whose items
    are dicts ``{"id": str, "image": uint8 tensor (3, H, W) or None (unreadable, skipped),
    "question": str, "answer": str}``.
    """


@hookspec
def unigame_register_loggers(loggers: LoggerRegistry) -> None:
    """Register metric loggers (where a training run's scalars go), chosen with ``train.loggers=[...]``.

    Fires when a training configuration is checked. ``loggers.add(name, "module:LoggerClass", help=...,
    requires=("package",), install="'unigame[extra]'")``: the class implements
    ``unigame_core.report.monitor.MetricLogger`` and is built on rank zero as
    ``LoggerClass(run_dir, config_dict, resume_step)``; ``requires`` lists top-level packages checked (not
    imported) with the configuration, ``install`` what the error tells the user to pip install.
    """


@hookspec
def unigame_register_commands(commands: CommandRegistry) -> None:
    """Register extra CLI command groups.

    Fires when the command line is assembled. ``commands.add(name, "module:typer_app", help=...)``
    where the target is a ``typer.Typer``; it is mounted as ``unigame <name> ...``. The target module
    must not import torch at import time (``unigame --help`` stays fast).
    """
