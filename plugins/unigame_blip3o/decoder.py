"""BLIP3-o's diffusion decoder (Emu2's visual decoder) with a gradient UniGame can afford.

Forward: EVA-CLIP features ``z (B, 64, 1792)`` condition an SDXL-layout ``UNet2DConditionModel``
(``encoder_hidden_states = z``, ``text_embeds = z.mean(1)``, ``time_ids = [H, W, 0, 0, H, W]``) that
denoises seeded noise with Euler steps of the checkpoint's ``EulerDiscreteScheduler`` and classifier-free
guidance against the features of a mean-grey image; the VAE decodes the latent, and the image is resized
(bicubic, antialiased) to the understander's side ``S``. The noise of sample ``i`` is always drawn from
seed ``decoder_seed + i``, so a decode is a deterministic function of ``z``.

Backward (``decoder_grad``), because differentiating all 50 guided UNet steps is ~100 UNet backward passes:

* ``exact``: autograd through every step (memory: needs per-step checkpointing at real sizes);
* ``last_k``: the first ``N - K`` steps without grad, the last ``K`` with grad (truncated backprop);
* ``one_step`` (default): the whole trajectory without grad, then ONE guided UNet call with grad at an
  early step ``k`` on the stored latent ``x_k``: ``x0_hat = x_k - sigma_k * eps(x_k, t_k, z)``, and the
  final latent becomes ``final + (x0_hat - x0_hat.detach())``: the forward value is the exact sample,
  the gradient is that of the one-step x0-prediction (exact when N = 1; see the tests for its cosine).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from unigame_core.errors import ConfigError


class DiffusionDecoder:
    """Shared tokens -> ``(B, 3, out_size, out_size)`` pixels in ``[0, 1]`` (see the module docstring)."""

    def __init__(self, unet: Any, vae: Any, scheduler: Any, uncond: Tensor, *, size: int, out_size: int, steps: int,
                 guidance: float, grad: str, surrogate_step: int = 0, last_k: int = 1, seed: int = 0) -> None:
        config = scheduler.config
        if config.prediction_type != "epsilon" or getattr(config, "timestep_type", "discrete") != "discrete":
            raise ConfigError(f"The decoder's scheduler predicts '{config.prediction_type}' "
                              f"({getattr(config, 'timestep_type', 'discrete')} timesteps); this backend drives "
                              "epsilon prediction with discrete timesteps only.")
        if not 0 <= surrogate_step < steps or not 1 <= last_k <= steps:
            raise ConfigError(f"Invalid decoder steps: backend.surrogate_step={surrogate_step}, "
                              f"backend.last_k={last_k} for backend.decoder_steps={steps}.",
                              "surrogate_step lies in [0, decoder_steps); last_k in [1, decoder_steps].")
        self.unet, self.vae, self.uncond = unet, vae, uncond
        self.size, self.out_size, self.guidance = size, out_size, guidance
        self.grad, self.surrogate_step, self.last_k, self.seed = grad, surrogate_step, last_k, seed
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if size % (self.factor * 2 ** (len(unet.config.block_out_channels) - 1)):
            raise ConfigError(f"Invalid configuration key 'backend.decoder_size': {size} is not a multiple of the "
                              "VAE and UNet's downsampling.")
        scheduler = copy.deepcopy(scheduler)
        scheduler.set_timesteps(steps)
        self.sigmas = scheduler.sigmas.float().cpu()  # (N + 1,), ends at 0
        self.timesteps = scheduler.timesteps.cpu()
        self.init_sigma = float(scheduler.init_noise_sigma)
        self._noise: dict[int, Tensor] = {}

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def noise(self, batch: int, device: torch.device) -> Tensor:
        """``(B, C, h, w)`` initial noise, sample ``i`` drawn from seed ``seed + i`` (cached per batch size)."""
        if batch not in self._noise:
            side, channels = self.size // self.factor, int(self.vae.config.latent_channels)
            self._noise[batch] = torch.stack([torch.randn(channels, side, side,
                                                          generator=torch.Generator().manual_seed(self.seed + i))
                                              for i in range(batch)])
        return self._noise[batch].to(device, self.dtype) * self.init_sigma

    def epsilon(self, x: Tensor, i: int, cond: Tensor, uncond: Tensor) -> Tensor:
        """The guided noise prediction at step ``i`` on the unscaled latent ``x``."""
        sigma = float(self.sigmas[i])
        scaled = x / (sigma**2 + 1) ** 0.5
        guided = self.guidance != 1.0
        context = torch.cat([cond, uncond]) if guided else cond
        sample = torch.cat([scaled, scaled]) if guided else scaled
        s = float(self.size)
        time_ids = torch.tensor([s, s, 0.0, 0.0, s, s], device=x.device, dtype=x.dtype).expand(sample.shape[0], 6)
        out = self.unet(sample, self.timesteps[i].to(x.device), encoder_hidden_states=context,
                        added_cond_kwargs={"text_embeds": context.mean(1), "time_ids": time_ids},
                        return_dict=False)[0]
        if not guided:
            return out
        c, u = out.chunk(2)
        return u + self.guidance * (c - u)

    def _run(self, x: Tensor, cond: Tensor, uncond: Tensor, start: int, stop: int) -> Tensor:
        for i in range(start, stop):
            x = x + (self.sigmas[i + 1] - self.sigmas[i]).item() * self.epsilon(x, i, cond, uncond)
        return x

    def latents(self, tokens: Tensor, uncond: Tensor | None = None) -> Tensor:
        """Sample the decoder latent for ``tokens``; differentiable in ``tokens`` as ``decoder_grad`` says."""
        cond = tokens.to(self.dtype)
        uncond = (self.uncond if uncond is None else uncond).to(cond.device, self.dtype).expand_as(cond)
        x = self.noise(cond.shape[0], cond.device)
        n = self.steps
        if not (torch.is_grad_enabled() and tokens.requires_grad):
            with torch.no_grad():
                return self._run(x, cond, uncond, 0, n)
        if self.grad == "exact":
            return self._run(x, cond, uncond, 0, n)
        if self.grad == "last_k":
            with torch.no_grad():
                x = self._run(x, cond, uncond, 0, n - self.last_k)
            return self._run(x.detach(), cond, uncond, n - self.last_k, n)
        k = self.surrogate_step
        with torch.no_grad():
            x_k = self._run(x, cond, uncond, 0, k)
            final = self._run(x_k, cond, uncond, k, n)
        x0 = x_k - float(self.sigmas[k]) * self.epsilon(x_k, k, cond, uncond)
        return final + (x0 - x0.detach())

    def pixels(self, latents: Tensor) -> Tensor:
        """VAE decode -> ``[0, 1]`` -> resized to ``out_size`` (bicubic, antialiased), float32."""
        vae = self.vae
        image = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0].float()
        image = ((image + 1) / 2).clamp(0, 1)
        if image.shape[-1] != self.out_size:
            image = F.interpolate(image, size=(self.out_size, self.out_size), mode="bicubic", antialias=True,
                                  align_corners=False).clamp(0, 1)
        return image

    def decode(self, tokens: Tensor, uncond: Tensor | None = None) -> Tensor:
        return self.pixels(self.latents(tokens, uncond))
