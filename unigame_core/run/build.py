"""Turn a validated config into objects: builders pass flat arguments, classes never read the config."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from .. import plugins, threads
from ..errors import ConfigError
from ..game.couplings import coupling_for
from ..game.perturber import Perturber
from ..game.players import GameSettings, Players
from ..interfaces import Backend, Buffer, GameSchedule, Validator
from ..registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype


def placement(device: str, precision: str, local_rank: int = 0) -> Placement:
    threads.report()  # the CPU thread count chosen before torch loaded, on a busy machine (once)
    if device == "auto":
        dev = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"train.device is '{device}' but no CUDA GPU is available.", "Use train.device=cpu.")
    if precision == "auto":
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return Placement(dev, dtype)


def options(node: DictConfig, registry: Registry) -> Any:
    """A validated ``{name, ...}`` node -> the plugin's config dataclass instance (or None)."""
    entry = registry.get(str(node.name))
    if entry.config is None:
        return None
    values = OmegaConf.to_container(node, resolve=True)
    opts = {k: v for k, v in values.items() if k != "name"}  # type: ignore[union-attr]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(entry.config), opts))


def build_backend(cfg: DictConfig, where: Placement, **overrides: Any) -> Backend:
    registry = plugins.backends()
    settings = options(cfg.backend, registry)
    for key, value in overrides.items():
        setattr(settings, key, value)
    cls = registry.get(str(cfg.backend.name)).load()
    checkpoint = getattr(settings, "checkpoint", "")  # a backend's settings need not have one
    log.info("loading backend '%s'%s on %s in %s", cfg.backend.name, f" ({checkpoint})" if checkpoint else "",
             where.device, str(where.dtype).replace("torch.", ""))
    return cls(settings, device=where.device, dtype=where.dtype)


def check_backend_weights(cfg: DictConfig) -> None:
    """The backend's own check that its weights can be had (``Backend.check_weights``), loading nothing."""
    registry = plugins.backends()
    registry.get(str(cfg.backend.name)).load().check_weights(options(cfg.backend, registry))


def build_gate(cfg: DictConfig, device: torch.device, random_weights: bool | None = None) -> Validator:
    """The semantic gate. With random model weights (``random_weights``; ``None``: the config's
    ``backend.random_weights`` / ``backend.tiny``) a gate with weights of its own (a ``random_weights`` setting)
    gets random ones too, so nothing is downloaded for a run whose model downloads nothing."""
    registry = plugins.validators()
    if random_weights is None:
        random_weights = bool(cfg.backend.get("random_weights", False) or cfg.backend.get("tiny", False))
    settings = options(cfg.gate, registry)
    if random_weights and hasattr(settings, "random_weights") and not settings.random_weights:
        settings.random_weights = True
    return registry.get(str(cfg.gate.name)).load()(settings, device)


def build_buffer(cfg: DictConfig) -> Buffer:
    registry = plugins.buffers()
    return registry.get(str(cfg.buffer.name)).load()(options(cfg.buffer, registry))


def build_schedule(cfg: DictConfig) -> GameSchedule:
    registry = plugins.schedules()
    cls = registry.get(str(cfg.schedule.name)).load()
    return cls(options(cfg.schedule, registry), beta=float(cfg.game.beta), total_steps=int(cfg.train.steps))


def build_perturber(cfg: DictConfig, backend: Backend, device: torch.device) -> Perturber | None:
    """The adversary's trainable module, or None for a coupling that learns nothing."""
    dim = coupling_for(str(cfg.game.coupling)).perturbed_dim(backend)
    if dim is None:
        return None
    p = cfg.perturber
    return Perturber(dim, hidden=p.hidden, depth=p.depth, bound=p.bound, init_scale=p.init_scale).to(device)


LARGE_LAMBDA_REG = 1.0  # at or above this, the penalty on ||delta||^2 silences the adversary (measured at 80)


def game_settings(cfg: DictConfig) -> GameSettings:
    """The fixed rules of the game: the ONE place a ``GameSettings`` is made (runner, bench and tests call it)."""
    g = cfg.game
    if float(g.lambda_reg) >= LARGE_LAMBDA_REG and coupling_for(str(g.coupling)).learned:
        log.warning(
            "game.lambda_reg=%g penalises ||delta||^2 so hard that the perturber's delta stays near zero (at 80 it "
            "ended at ~6%% of the bound and the adversary gained nothing); the paper's 'lambda 80' is "
            "game.lambda_adv, the weight of the adversarial CE (now %g); the authors' penalty is 1e-4.",
            float(g.lambda_reg), float(g.lambda_adv))
    return GameSettings(
        coupling=coupling_for(str(g.coupling)), eps_max=float(g.eps_max), lambda_reg=float(g.lambda_reg),
        lambda_adv=float(g.lambda_adv), refine_steps=int(g.refine_steps), refine_step=float(g.refine_step),
        adversary_fraction=float(g.adversary_fraction), buffer_fraction=float(g.buffer_fraction),
        grad_clip=float(cfg.optim.grad_clip), hardness_reference=str(g.hardness_reference),
        gate_reference=str(g.gate_reference),
    )


@dataclass
class Schedulers:
    """The two players' learning-rate schedules (``perturber`` is None without a perturber)."""

    lora: torch.optim.lr_scheduler.LRScheduler
    perturber: torch.optim.lr_scheduler.LRScheduler | None

    def rates(self) -> dict[str, float]:
        """The learning rates the next update uses (``lr_perturber`` only with a perturber), for the loggers."""
        rates = {"lr_lora": float(self.lora.get_last_lr()[0])}
        if self.perturber is not None:
            rates["lr_perturber"] = float(self.perturber.get_last_lr()[0])
        return rates


def build_lora(cfg: DictConfig, backend: Backend) -> tuple[Any, list[torch.nn.Parameter]]:
    """LoRA on the backend's LLM as ``cfg.lora`` says: the PeftModel and its fp32 trainable parameters."""
    from ..lora import attach_lora

    lora = cfg.lora
    return attach_lora(backend, lora.r, lora.alpha, lora.dropout, include_mlp=bool(lora.include_mlp))


def build_players(
    cfg: DictConfig, backend: Backend, lora_params: list[torch.nn.Parameter], device: torch.device, rank: int = 0,
    gate: Validator | None = None,
) -> tuple[Players, Schedulers]:
    """Both players around a backend that already carries LoRA: perturber, optimizers, gate (``gate``, when
    the caller built it first), buffer, the settings, and the random streams (this rank's own noise; buffer
    draws shared by every rank)."""
    seed = int(cfg.train.seed)
    perturber = build_perturber(cfg, backend, device)
    opt_u, sched_u, opt_c, sched_c = optimizers(cfg, lora_params, perturber)
    players = Players(
        settings=game_settings(cfg), backend=backend, perturber=perturber, lora_params=lora_params,
        opt_u=opt_u, opt_c=opt_c, buffer=build_buffer(cfg),
        gate=gate if gate is not None else build_gate(cfg, device, backend.random_weights),
        generator=torch.Generator().manual_seed(seed * 1_000_003 + rank),
        draw_generator=torch.Generator().manual_seed(seed * 1_000_003 + 7_919),
    )
    return players, Schedulers(sched_u, sched_c)


def lr_lambda(warmup: int, total: int, kind: str):  # noqa: ANN201 - a closure for LambdaLR
    def factor(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if kind == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def optimizers(cfg: DictConfig, lora_params: list, perturber: Perturber | None) -> tuple[Any, Any, Any, Any]:
    o = cfg.optim
    total = int(cfg.train.steps)
    _warn_zero_rates({"optim.lr_lora": o.lr_lora, **({"optim.lr_perturber": o.lr_perturber} if perturber else {})})
    opt_u = torch.optim.AdamW(lora_params, lr=o.lr_lora, weight_decay=o.weight_decay)
    sched_u = torch.optim.lr_scheduler.LambdaLR(opt_u, lr_lambda(o.warmup_steps, total, o.scheduler))
    opt_c = sched_c = None
    if perturber is not None:
        opt_c = torch.optim.AdamW(perturber.parameters(), lr=o.lr_perturber, weight_decay=0.0)
        sched_c = torch.optim.lr_scheduler.LambdaLR(opt_c, lr_lambda(o.warmup_steps, total, o.scheduler))
    return opt_u, sched_u, opt_c, sched_c


def _warn_zero_rates(rates: dict[str, float]) -> None:
    """One warning naming every learning rate set to zero: that player never changes."""
    zero = [name for name, rate in rates.items() if float(rate) == 0.0]
    if zero:
        log.warning("%s %s 0: %s never learns (the LoRA stays at its initial, no-op weights; the perturber "
                    "keeps its initial delta)", " and ".join(zero), "is" if len(zero) == 1 else "are",
                    "that player" if len(zero) == 1 else "neither player")


def build_dataset(spec: str, image_errors: str, seed: int) -> Any:
    kind, _, location = spec.partition(":")
    if not kind:
        raise ConfigError(
            "No training data given.", "Pass --data KIND:LOCATION, e.g. --data vqav2:/data/vqav2 or jsonl:train.jsonl."
        )
    factory = plugins.datasets().get(kind).load()
    return factory(location, image_errors=image_errors, seed=seed)
