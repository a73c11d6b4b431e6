"""``python -m unigame_core.lm_eval ...``: lm-eval's own command line, with the unigame model and tasks.

It is ``lm_eval`` (``lm-eval run ...``, ``lm-eval ls tasks``...) plus three things: the model class
``unigame`` is registered; unless ``--include_path`` is given, the task folder of the installed suite
plugins is included (the ``unigame_*`` tasks); and only included folders are indexed -- lm-eval's own
thousands of task YAMLs take half a minute to index -- unless ``--with-lm-eval-tasks`` is passed::

    python -m unigame_core.lm_eval run --model unigame \\
        --model_args model=janus-pro-7b,adapter=runs/x --device cuda \\
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
    found = [entry.extra.get("lm_eval_tasks") for entry in registry.entries()]
    return list(dict.fromkeys(str(p) for p in found if p))


def with_task_paths(argv: Sequence[str]) -> list[str]:
    """``argv`` plus ``--include_path DIR`` (lm-eval takes one folder: the first registered one) when absent."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help") or any(a.split("=")[0] == "--include_path" for a in args):
        return args
    paths = task_paths()
    return args + ["--include_path", paths[0]] if paths else args


WITH_DEFAULTS = "--with-lm-eval-tasks"


def _index_only_included_tasks() -> None:
    """Make lm-eval's command line build its TaskManager without lm-eval's own task folder.

    The CLI constructs ``lm_eval.tasks.TaskManager(include_path=...)`` itself and offers no switch;
    in this process only, that name is bound to a subclass whose ``include_defaults`` is False.
    """
    import lm_eval.tasks

    base = lm_eval.tasks.TaskManager

    class IncludedTasksOnly(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, include_defaults: bool = False, **kwargs: Any) -> None:
            super().__init__(*args, include_defaults=include_defaults, **kwargs)

    lm_eval.tasks.TaskManager = IncludedTasksOnly  # type: ignore[misc]


def main(argv: Sequence[str] | None = None) -> None:
    """Run lm-eval's command line on ``argv`` (default ``sys.argv[1:]``)."""
    enable_offline()
    from lm_eval.__main__ import cli_evaluate

    from .eval import lm_eval_bridge  # noqa: F401  (registers the "unigame" model)

    args = list(sys.argv[1:] if argv is None else argv)
    if WITH_DEFAULTS in args:
        args.remove(WITH_DEFAULTS)
    else:
        _index_only_included_tasks()
    sys.argv = [sys.argv[0] if sys.argv else "lm_eval", *with_task_paths(args)]
    cli_evaluate()


if __name__ == "__main__":
    main()
