"""``python -m unigame_core.lm_eval ...``: lm-eval's own command line, with the unigame model and tasks.

It is ``lm_eval`` (``lm-eval run ...``, ``lm-eval ls tasks``...) plus three things: the model class
``unigame`` is registered; the task folders of the installed suite plugins are always indexed (the
``unigame_*`` tasks, next to any ``--include_path``); and only those folders are indexed -- lm-eval's own
thousands of task YAMLs take half a minute to index -- unless ``--with-lm-eval-tasks`` is passed::

    python -m unigame_core.lm_eval run --model unigame \\
        --model_args model=MODEL,adapter=runs/x --device cuda \\
        --tasks unigame_vqav2,unigame_pope --metadata data_root=/data --batch_size 32 --output_path out/

The hub and datasets are kept offline (``HF_HUB_OFFLINE=0`` to allow a checkpoint download).

Why a wrapper and not ``lm_eval --model unigame``: lm-eval 0.4.13 has no discovery hook for models. Its
registry is its own built-in table plus the classes registered by modules already imported; it reads
no entry points, has no flag that imports a module, and imports a task folder's ``!function`` code only
after the model is built. Importing the bridge here, before lm-eval's CLI runs, is the only way in.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from .eval.common import enable_offline


def task_paths() -> list[str]:
    """The lm-eval task folders that suite plugins registered (``lm_eval_tasks=``), deduplicated."""
    from . import plugins

    registry = plugins.suites()
    found = [entry.extra.lm_eval_tasks for entry in registry.entries()]
    return list(dict.fromkeys(str(p) for p in found if p))


WITH_DEFAULTS = "--with-lm-eval-tasks"


def _index_plugin_tasks(include_defaults: bool) -> None:
    """Make lm-eval's command line index every suite plugin's task folder (and lm-eval's own only if asked).

    The CLI constructs ``lm_eval.tasks.TaskManager(include_path=...)`` itself and takes one folder;
    in this process only, that name is bound to a subclass that adds the plugins' folders.
    """
    import lm_eval.tasks

    base = lm_eval.tasks.TaskManager
    plugin_paths = task_paths()

    class PluginTasks(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, include_path: Any = None, include_defaults: bool = include_defaults,
                     **kwargs: Any) -> None:
            given = include_path if isinstance(include_path, (list, tuple)) else [include_path] if include_path else []
            super().__init__(*args, include_path=[*given, *plugin_paths], include_defaults=include_defaults,
                             **kwargs)

    lm_eval.tasks.TaskManager = PluginTasks  # type: ignore[misc]


def main(argv: Sequence[str] | None = None) -> None:
    """Run lm-eval's command line on ``argv`` (default ``sys.argv[1:]``)."""
    enable_offline()
    from lm_eval.__main__ import cli_evaluate

    from .eval import lm_eval_bridge  # noqa: F401  (registers the "unigame" model)

    args = list(sys.argv[1:] if argv is None else argv)
    with_defaults = WITH_DEFAULTS in args
    if with_defaults:
        args.remove(WITH_DEFAULTS)
    _index_plugin_tasks(include_defaults=with_defaults)
    sys.argv = [sys.argv[0] if sys.argv else "lm_eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
