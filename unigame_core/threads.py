"""How many CPU threads a command uses, decided before torch loads (``unigame_core.cli`` calls ``configure``).

torch starts one OpenMP thread per core, and OpenMP threads spin while they wait for work. Alone on a machine
that is the fastest choice; next to other busy processes the spinning threads burn the cores the others need,
and the run costs a multiple of its CPU time (docs/training.md, "On a shared CPU": the embedded default run took
227 s of CPU next to two busy processes against 86 s alone). So when the machine is already busy when a command
starts (its 1-minute load average), the command takes only the cores left idle, at least one; with one thread
nothing spins. An ``OMP_NUM_THREADS`` already set (torchrun sets 1) is always kept.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: set by ``configure`` when it chose fewer threads than cores: (threads, load, cores), logged once logging is up
CHOSEN: tuple[int, float, int] | None = None
REPORTED = False


def idle_threads(load: float, cores: int) -> int:
    """The cores the other processes leave idle (``cores - load``, rounded), at least 1, at most ``cores``."""
    return max(1, min(cores, int(cores - load + 0.5)))


def configure(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Set ``OMP_NUM_THREADS`` to the idle cores when the machine is busy and the variable is not set."""
    global CHOSEN
    if environ.get("OMP_NUM_THREADS"):
        return
    try:
        cores = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not Linux / no load average: torch's own default
        return
    threads = idle_threads(load, cores)
    if threads < cores:
        environ["OMP_NUM_THREADS"] = str(threads)
        CHOSEN = (threads, load, cores)


def report() -> None:
    """One INFO line, the first time a model is placed, when ``configure`` chose fewer threads than cores."""
    global REPORTED
    if CHOSEN is not None and not REPORTED:
        REPORTED = True
        threads, load, cores = CHOSEN
        log.info("the machine is busy (load %.1f on %d cores): using %d CPU thread%s; set OMP_NUM_THREADS to choose",
                 load, cores, threads, "" if threads == 1 else "s")
