"""The UniGame method, read top to bottom in the paper's order: perturber, couplings, the adversary's turn
(perturber passes, per-sample refinement, scoring, gate and mining), the step, buffer, gates, schedule, health.
It imports nothing from ``run`` (the run machinery) or ``report`` (what a user reads)."""
