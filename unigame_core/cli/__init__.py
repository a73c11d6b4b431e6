"""The ``unigame`` command line: one module per command, assembled in ``main``.

Importing the package sets how OpenMP threads wait, before anything imports torch: they sleep instead of spinning
when idle (``OMP_WAIT_POLICY=PASSIVE``, unless the environment already sets it). Spinning threads cost nothing on
an idle machine, but on one shared with other jobs they burn the cores they wait on: the embedded default run
measured 5.4x the CPU time and 2.9x the wall time of a passive run next to two busy processes (docs/training.md).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
