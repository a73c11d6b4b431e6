"""The built-in game schedule: k adversary updates then one understander update per step."""

from __future__ import annotations

from ..interfaces import GameSchedule, StepPlan
from .settings import AlternatingConfig


class AlternatingSchedule(GameSchedule):
    """Alternating updates with a mining stride and linear warm-ups of eps and beta.

    The plan depends on the step number only, so every rank takes the same number of
    backward passes whatever its own buffer holds.
    """

    def __init__(self, cfg: AlternatingConfig, *, beta: float, total_steps: int) -> None:
        self.cfg = cfg
        self.beta = beta
        self.total_steps = total_steps

    def plan(self, step: int) -> StepPlan:
        c = self.cfg
        active = step >= c.start_step
        adversary_turn = active and (step - c.start_step) % max(c.mine_every, 1) == 0
        since = step - c.start_step + 1
        eps_scale = min(1.0, since / c.eps_warmup) if c.eps_warmup > 0 else 1.0
        beta_scale = min(1.0, since / c.beta_warmup) if c.beta_warmup > 0 else 1.0
        return StepPlan(
            adversary_updates=c.adversary_updates if adversary_turn else 0,
            mine=adversary_turn,
            eps_scale=eps_scale if active else 0.0,
            beta=self.beta * beta_scale if active else 0.0,
        )
