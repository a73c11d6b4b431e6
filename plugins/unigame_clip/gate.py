"""The CLIP gate: samples whose CLIP similarity falls BELOW the threshold are discarded.

Pixels stay on the device: they are resized with ``F.interpolate`` and normalised with the CLIP
model's own mean/std, never round-tripped through PIL.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from unigame_core import hub
from unigame_core.errors import ConfigError
from unigame_core.interfaces import GateInput, GateResult, Validator

from .settings import ClipGateConfig

log = logging.getLogger(__name__)


_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's names on the hub


def clip_weights(cfg: ClipGateConfig) -> str | None:
    """What ``open_clip`` gets as ``pretrained``: a local file as given, or the tag, or (hub unreachable or
    ``HF_HUB_OFFLINE=1``) the tag's file from the local cache; not cached and no hub -> one-sentence error
    at once, instead of open_clip's minutes of retries (``unigame_core.hub``)."""
    import open_clip

    if not cfg.pretrained:
        return None
    if Path(cfg.pretrained).expanduser().is_file():
        return str(Path(cfg.pretrained).expanduser())
    if "/" in cfg.pretrained or Path(cfg.pretrained).suffix in (".bin", ".pt", ".pth", ".safetensors"):
        raise ConfigError(f"gate.pretrained '{cfg.pretrained}' does not exist.",
                          "Point it at an open_clip checkpoint file, or use a tag such as laion2b_s34b_b88k.")
    source = open_clip.get_pretrained_cfg(cfg.model, cfg.pretrained).get("hf_hub", "")
    if not source:  # an unknown tag (open_clip names the valid ones) or a URL-only tag
        return cfg.pretrained
    if source.endswith("/"):  # "org/model/": open_clip's default file names
        repo, filename = source.rstrip("/"), ""
    else:  # "org/model/file.bin"
        repo, _, filename = source.rpartition("/")
    names = (filename,) if filename else _WEIGHT_FILES
    hint = (f"Fetch it where there is network (`hf download {repo} {names[0]}`) and set gate.pretrained=FILE, "
            "copy that machine's Hugging Face cache (HF_HOME) here, or use gate.name=cosine or gate.name=none.")
    access = hub.resolve(repo, f"The CLIP gate's weights ({cfg.model}, {cfg.pretrained})", cache_dir=cfg.cache_dir,
                         filenames=names, hint=hint)
    if access.local_files_only:
        return hub.cached_file(repo, names, cache_dir=cfg.cache_dir)
    return cfg.pretrained


def load_clip(cfg: ClipGateConfig, device: torch.device | str):  # noqa: ANN201 - open_clip types
    import open_clip

    if cfg.model_config:
        path = Path(cfg.model_config)
        if not path.exists():
            raise ConfigError(f"gate.model_config '{path}' does not exist.")
        open_clip.add_model_config(path)
    if cfg.random_weights:
        log.warning("CLIP gate: random weights in the %s architecture (nothing downloaded, because the model's "
                    "weights are random too): its scores time the gate but mean nothing", cfg.model)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            cfg.model, pretrained=None if cfg.random_weights else clip_weights(cfg), cache_dir=cfg.cache_dir,
            device=device
        )
    except (RuntimeError, FileNotFoundError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Cannot load CLIP '{cfg.model}' ({cfg.pretrained}): {first}",
                          "Point gate.pretrained at a local checkpoint file or use gate.name=cosine.") from exc
    model.eval().requires_grad_(False)
    return model, open_clip.get_tokenizer(cfg.model)


class ClipGate(Validator):
    def __init__(self, cfg: ClipGateConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.model, self.tokenizer = load_clip(cfg, self.device)
        visual = self.model.visual
        size = visual.image_size
        self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        mean = getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
        std = getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    @torch.no_grad()
    def embed_images(self, pixels: Tensor) -> Tensor:
        x = F.interpolate(pixels.float().to(self.device), size=self.size, mode="bicubic", align_corners=False)
        x = x.clamp(0, 1)
        return F.normalize(self.model.encode_image((x - self.mean) / self.std).float(), dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> Tensor:
        tokens = self.tokenizer(texts).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def check(self, pair: GateInput) -> GateResult:
        adv = self.embed_images(pair.adv_pixels)
        keep = torch.ones(adv.shape[0], dtype=torch.bool, device=self.device)
        score = torch.ones(adv.shape[0], device=self.device)
        if self.cfg.mode in ("image", "both"):
            score = (adv * self.embed_images(pair.clean_pixels)).sum(-1)
            keep &= score >= self.cfg.image_threshold
        if self.cfg.mode in ("text", "both"):
            text_score = (adv * self.embed_texts(pair.texts)).sum(-1)
            keep &= text_score >= self.cfg.text_threshold
            score = text_score if self.cfg.mode == "text" else torch.minimum(score, text_score)
        return GateResult(keep=keep, score=score)


def write_model_config(path: Path, *, embed_dim: int, image_size: int, patch: int, width: int, layers: int,
                       text_width: int, text_layers: int, vocab: int = 49408, context: int = 77) -> Path:
    """Write an open_clip model config JSON for a small custom CLIP (tests, the shapes world)."""
    cfg = {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "image_size": image_size,
            "layers": layers,
            "width": width,
            "patch_size": patch,
            "head_width": 32,
        },
        "text_cfg": {
            "context_length": context,
            "vocab_size": vocab,
            "width": text_width,
            "heads": max(1, text_width // 32),
            "layers": text_layers,
        },
    }
    path.write_text(json.dumps(cfg, indent=2))
    return path
