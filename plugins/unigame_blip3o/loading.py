"""Loading BLIP3-o checkpoints (hub id or local folder, one code path) and random-weight construction.

A BLIP3-o snapshot is a Qwen2.5-VL checkpoint whose ``config.json`` says ``model_type: blip3o_qwen``
and whose safetensors also hold the generation head, plus ``diffusion-decoder/`` in diffusers' layout.
``Qwen2_5_VLConfig.from_pretrained`` would silently take the nested ``vision_config`` for the whole
config on such a file, so the JSON is read and ``model_type`` dropped before ``Qwen2_5_VLConfig.from_dict``.
The EVA tower is not in the snapshot: it comes from ``backend.eva_checkpoint``, a local checkpoint's
``eva/`` folder, or ``jiuhai/eva_clip_vision_tower``, read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch

from unigame_core.errors import ConfigError, DataError
from unigame_core.hf import HINT, LOAD_ERRORS, count_parameters, from_hub, pretrained, unavailable

from .dit import DIT_PREFIX, QUERIES_KEY, DitConfig
from .eva import EvaConfig, EvaVisionTower
from .settings import EVA_TOWER, PROCESSORS, Blip3oSettings

log = logging.getLogger(__name__)

DECODER = "diffusion-decoder"
EVA_FILE = "pytorch_model.bin"
#: the repositories besides the checkpoint: their name in messages, the file that shows one is cached, and the
#: setting that provides it instead
_PARTS = {"processor": ("BLIP3-o processor", "preprocessor_config.json", "backend.processor"),
          "eva": ("BLIP3-o EVA tower", EVA_FILE, "backend.eva_checkpoint")}


def hub_access(settings: Blip3oSettings, repo: str, part: str = "") -> dict[str, Any]:
    """``hf.from_hub`` for the checkpoint (``part=""``), the processor or the EVA tower repository: a hub
    id not in the cache fails at once, in one sentence, when the hub cannot be reached."""
    if not part:
        return from_hub(settings, repo)
    what, filename, setting = _PARTS[part]
    hint = (f"Download it where there is network (`hf download {repo} --local-dir DIR`) and set {setting}=DIR, or "
            "copy that machine's Hugging Face cache (HF_HOME) here.")
    return from_hub(settings, repo, what=what, filenames=(filename,), hint=hint)


def resolve_file(settings: Blip3oSettings, repo: str, filename: str, required: bool = True,
                 part: str = "") -> Path | None:
    """A local path of ``filename`` in ``repo`` (a folder, or a hub id fetched into the cache); ``part``
    names the repository when it is not the checkpoint (``hub_access``)."""
    folder = Path(repo)
    if folder.is_dir():
        path = folder / filename
        if path.exists():
            return path
        if required:
            raise DataError(f"Checkpoint folder '{repo}' has no {filename}.", HINT.format(ckpt=repo))
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    kwargs = hub_access(settings, repo, part)
    try:
        return Path(hf_hub_download(repo, filename, **kwargs))
    except EntryNotFoundError as exc:
        if required:
            raise unavailable(settings.label, repo, exc) from exc
        return None
    except LOAD_ERRORS as exc:
        raise unavailable(settings.label, repo, exc) from exc


def read_config(settings: Blip3oSettings) -> tuple[Any, dict[str, Any]]:
    """(``Qwen2_5_VLConfig``, the raw ``config.json``) of the checkpoint."""
    from transformers import Qwen2_5_VLConfig

    path = resolve_file(settings, settings.checkpoint, "config.json")
    assert path is not None
    raw = json.loads(path.read_text())
    values = {k: v for k, v in raw.items() if k not in ("model_type", "architectures", "auto_map")}
    return Qwen2_5_VLConfig.from_dict(values), raw


def load_processor(settings: Blip3oSettings) -> Any:
    """The checkpoint's processor, else the Qwen2.5-VL processor the official code uses."""
    from transformers import Qwen2_5_VLProcessor

    sources = [settings.processor] if settings.processor else [settings.checkpoint]
    if not settings.processor:
        sources.append(PROCESSORS.get(settings.checkpoint, "Qwen/Qwen2.5-VL-7B-Instruct"))
    error: Exception | None = None
    for source in sources:
        kwargs = hub_access(settings, source, "" if source == settings.checkpoint else "processor")
        try:
            processor = Qwen2_5_VLProcessor.from_pretrained(source, **kwargs)
        except LOAD_ERRORS as exc:
            error = exc
            log.info("no processor in '%s' (%s)", source, str(exc).splitlines()[0] if str(exc) else exc)
            continue
        return processor if source == settings.checkpoint else _with_checkpoint_tokenizer(settings, processor)
    assert error is not None
    raise unavailable(settings.label, sources[-1], error)


def _with_checkpoint_tokenizer(settings: Blip3oSettings, processor: Any) -> Any:
    """``processor`` (from the Qwen repo) around the checkpoint's own tokenizer when it has one: BLIP3-o adds
    ``[IMG]`` (and more) to Qwen's vocabulary, and text-to-image prompts need those ids."""
    from transformers import AutoTokenizer, Qwen2_5_VLProcessor

    if resolve_file(settings, settings.checkpoint, "tokenizer_config.json", required=False) is None:
        return processor
    with pretrained(settings) as kwargs:
        tokenizer = AutoTokenizer.from_pretrained(settings.checkpoint, **kwargs)
    log.info("image processor from the Qwen repository, tokenizer from '%s'", settings.checkpoint)
    return Qwen2_5_VLProcessor(image_processor=processor.image_processor, tokenizer=tokenizer,
                               video_processor=processor.video_processor,
                               chat_template=getattr(tokenizer, "chat_template", None) or processor.chat_template)


def load_understander(settings: Blip3oSettings, config: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """``Qwen2_5_VLForConditionalGeneration.from_pretrained``; the generation head's keys are left unused."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    quiet = _HeadKeysFilter()
    handlers = logging.getLogger("transformers")
    handlers.addFilter(quiet)
    for handler in handlers.handlers:
        handler.addFilter(quiet)
    try:
        with pretrained(settings) as kwargs:
            return Qwen2_5_VLForConditionalGeneration.from_pretrained(
                settings.checkpoint, config=config, dtype=dtype, device_map={"": device},
                attn_implementation=settings.attn_implementation, **kwargs)
    finally:
        handlers.removeFilter(quiet)
        for handler in handlers.handlers:
            handler.removeFilter(quiet)


class _HeadKeysFilter(logging.Filter):
    """Drops transformers' load report when its only complaint is the generation head's keys (hundreds of
    UNEXPECTED rows on every load: the DiT is read separately); any other problem still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "LOAD REPORT" not in text:
            return True
        rows = [line for line in text.splitlines() if "|" in line and ("UNEXPECTED" in line or "MISSING" in line
                                                                       or "MISMATCH" in line)]
        return not rows or not all("UNEXPECTED" in r and (".dit." in r or "latent_queries" in r) for r in rows)


def load_generation_weights(settings: Blip3oSettings) -> dict[str, torch.Tensor]:
    """Only the ``model.dit.model.*`` and ``model.latent_queries`` tensors, read shard by shard."""
    from safetensors import safe_open

    index = resolve_file(settings, settings.checkpoint, "model.safetensors.index.json", required=False)
    if index is not None:
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted({f for k, f in weight_map.items() if k.startswith(DIT_PREFIX) or k == QUERIES_KEY})
    else:
        shards = ["model.safetensors"]
    out: dict[str, torch.Tensor] = {}
    for shard in shards:
        path = resolve_file(settings, settings.checkpoint, shard)
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                if key.startswith(DIT_PREFIX) or key == QUERIES_KEY:
                    out[key] = f.get_tensor(key)
    return out


def dit_config(raw: dict[str, Any], text_hidden: int) -> DitConfig:
    """The DiT's shape: ``config.json``'s ``dit_config`` (tiny checkpoints) or BLIP3-o's, conditioned on the LLM."""
    values = dict(raw.get("dit_config") or {})
    values.setdefault("condition", text_hidden)
    values.setdefault("grid", int(round(int(raw.get("n_query", 64)) ** 0.5)))
    return DitConfig(**values)


def _diffusers_part(settings: Blip3oSettings, cls: Any, name: str, dtype: torch.dtype, random: bool) -> Any:
    with pretrained(settings, subfolder=f"{DECODER}/{name}") as kwargs:
        if random:
            return cls.from_config(cls.load_config(settings.checkpoint, **kwargs)).to(dtype)
        try:
            return cls.from_pretrained(settings.checkpoint, variant="bf16", torch_dtype=dtype, **kwargs)
        except (OSError, ValueError):  # a copy saved without the bf16 variant
            return cls.from_pretrained(settings.checkpoint, torch_dtype=dtype, **kwargs)


def load_decoder_parts(settings: Blip3oSettings, device: torch.device, dtype: torch.dtype,
                       random: bool = False) -> tuple[Any, Any, Any]:
    """(UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler) from ``diffusion-decoder/``."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel

    unet = _diffusers_part(settings, UNet2DConditionModel, "unet", dtype, random).to(device)
    vae = _diffusers_part(settings, AutoencoderKL, "vae", dtype, random).to(device)
    with pretrained(settings, subfolder=f"{DECODER}/scheduler") as kwargs:
        scheduler = EulerDiscreteScheduler.from_pretrained(settings.checkpoint, **kwargs)
    return unet, vae, scheduler


def eva_source(settings: Blip3oSettings) -> str:
    if settings.eva_checkpoint:
        return settings.eva_checkpoint
    local = Path(settings.checkpoint) / "eva"
    return str(local) if (local / EVA_FILE).exists() or (local / "config.json").exists() else EVA_TOWER


def load_eva(settings: Blip3oSettings, device: torch.device, dtype: torch.dtype,
             random: bool = False) -> EvaVisionTower:
    """The EVA tower with upstream weights (``weights_only`` unpickling), or random ones."""
    source = eva_source(settings)
    config_path = resolve_file(settings, source, "config.json", required=False, part="eva") if not random or Path(
        source).is_dir() else None
    config = EvaConfig(**json.loads(config_path.read_text())) if config_path else EvaConfig()
    with torch.device(device):
        tower = EvaVisionTower(config).to(dtype)
    if random:
        return tower
    path = resolve_file(settings, source, EVA_FILE, part="eva")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that needs code to run is refused here, by design
        raise DataError(f"Cannot read the EVA tower '{path}': {exc}",
                        "Only plain tensor checkpoints load (torch.load weights_only=True).") from exc
    state = _eva_keys(state.get("state_dict", state) if isinstance(state, dict) else state)
    missing, unexpected = tower.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"The EVA tower's weights in '{source}' do not match: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}.", "Check backend.eva_checkpoint and its config.json.")
    return tower


def _eva_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the prefix before ``patch_embed`` and drop parts BLIP3-o does not use (final norm, head, RoPE)."""
    anchor = next((k for k in state if k.endswith("patch_embed.proj.weight")), "patch_embed.proj.weight")
    prefix = anchor[: -len("patch_embed.proj.weight")]
    unused = ("norm.", "fc_norm.", "head.", "rope.", "lm_head.")
    out = {k[len(prefix):]: v for k, v in state.items()
           if k.startswith(prefix) and not k[len(prefix):].startswith(unused)}
    for q_key in [k for k in out if k.endswith("attn.q_bias")]:  # EVA-CLIP's layout: q and v biases, no k bias
        q, v = out.pop(q_key), out.pop(q_key.replace("q_bias", "v_bias"))
        out[q_key.replace("q_bias", "qkv.bias")] = torch.cat([q, torch.zeros_like(q), v])
    return out


def tiny_stand_in(settings: Blip3oSettings) -> tuple[Blip3oSettings, tempfile.TemporaryDirectory]:
    """``backend.tiny``: a tiny checkpoint written to a temporary folder (removed when the returned handle is
    collected) stands in for the one asked for."""
    import dataclasses

    from .tiny import write_tiny_checkpoint

    scratch = tempfile.TemporaryDirectory(prefix="unigame-blip3o-tiny-")
    folder = Path(scratch.name)
    write_tiny_checkpoint(folder)
    return dataclasses.replace(settings, checkpoint=str(folder), image_size=0, decoder_size=0, processor=None,
                               eva_checkpoint=None), scratch


def shipped_architecture(settings: Blip3oSettings) -> tuple[Blip3oSettings, tempfile.TemporaryDirectory | None]:
    """Random weights of a hub id: its shipped architecture (``architecture.py``) written to a temporary folder,
    or, for a hub id without one, the settings unchanged (the configs then come from the hub)."""
    import dataclasses

    from .architecture import shipped, write_architecture

    files = shipped(settings.checkpoint)
    if files is None:
        return settings, None
    scratch = tempfile.TemporaryDirectory(prefix="unigame-blip3o-arch-")
    write_architecture(scratch.name, files)
    log.info("random weights: the shipped architecture of '%s' (nothing downloaded; generic tokenizer)",
             settings.checkpoint)
    return dataclasses.replace(settings, checkpoint=scratch.name, processor=None, eva_checkpoint=None), scratch


def random_parameters(settings: Blip3oSettings, config: Any, raw: dict[str, Any]) -> int:
    """Parameters of everything random weights build (Qwen2.5-VL, EVA, UNet, VAE, DiT), counted on ``meta``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .dit import GenerationHead

    def parts() -> torch.nn.ModuleList:
        eva = Path(eva_source(settings)) / "config.json"
        modules = [Qwen2_5_VLForConditionalGeneration._from_config(config),
                   EvaVisionTower(EvaConfig(**json.loads(eva.read_text())) if eva.exists() else EvaConfig())]
        for cls, name in ((UNet2DConditionModel, "unet"), (AutoencoderKL, "vae")):
            with pretrained(settings, subfolder=f"{DECODER}/{name}") as kwargs:
                modules.append(cls.from_config(cls.load_config(settings.checkpoint, **kwargs)))
        if settings.text_to_image:
            modules.append(GenerationHead(dit_config(raw, int(config.text_config.hidden_size))))
        return torch.nn.ModuleList(modules)

    return count_parameters(parts)

