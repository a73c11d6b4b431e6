"""The base of a backend whose weights load with Hugging Face ``from_pretrained`` (a hub id or a folder).

What every such backend shares, written once: the settings fields every one reads (``HFSettings``),
turning a config node into those settings with errors that name the key (``coerce_settings``), ``~`` in
path settings expanded, the hub arguments of every ``from_pretrained`` call after the fast offline check
(``from_hub``, through ``unigame_core.hub``), one error for a checkpoint that cannot be loaded
(``loading``; both at once: ``pretrained``), and the role properties of the ``Backend`` contract
(``HFBackend``). Light: no torch import here, so a plugin's settings module may import it.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional, TypeVar

from . import hub
from .errors import ConfigError, DataError
from .interfaces import Backend, Decoder, SharedTokenEncoder, Understander

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

#: what ``from_pretrained`` raises for a checkpoint that is missing, incomplete or not of this kind
#: (transformers turns missing files into OSError, a bad id into ValueError; a folder without a
#: processor surfaces as TypeError or AttributeError inside the processor's constructor)
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, TypeError, AttributeError)

HINT = ("Download it first (`hf download {ckpt}`), point --model at a local checkpoint folder, or set "
        "backend.random_weights=true to build the architecture with random weights.")
OFFLINE_HINT = ("Download it where there is network (`hf download {ckpt} --local-dir DIR`) and pass --model DIR, "
                "copy that machine's Hugging Face cache (HF_HOME) here, or set backend.random_weights=true.")
#: the advice when ``random_weights`` is already on: only the architecture is missing
RANDOM_HINT = ("With backend.random_weights=true only the architecture is read: fetch its config files where there is "
               "network (`hf download {ckpt} --include '*.json' --local-dir DIR`) and pass --model DIR, or use a model "
               "alias whose architecture ships with unigame (`unigame models list`).")


@dataclass
class HFSettings:
    """The settings every Hugging Face backend reads; a backend's settings subclass this dataclass, give
    ``checkpoint`` its default and add their own fields. Class attributes (not settings):

    * ``label``: the model's name in messages ("Janus checkpoint '...'");
    * ``path_fields``: settings holding a folder or a hub id, ``~`` expanded;
    * ``default_gate``: the semantic gate (validator name) runs of this backend use unless the config
      names one; ``None`` leaves the core's default (``cosine``, which needs no download).
    """

    label: ClassVar[str] = "model"
    path_fields: ClassVar[tuple[str, ...]] = ("checkpoint", "cache_dir")
    default_gate: ClassVar[Optional[str]] = None

    checkpoint: str = ""  # hub id (org/name) or local folder saved with save_pretrained
    revision: Optional[str] = None  # hub revision (branch, tag or commit)
    cache_dir: Optional[str] = None  # hub cache folder (default: the HF cache)
    local_files_only: bool = False  # never touch the network (also set by HF_HUB_OFFLINE=1)
    random_weights: bool = False  # build the real architecture with random weights (bench; nothing downloaded)
    tiny: bool = False  # build a TINY stand-in with random weights instead (plumbing only; labelled in every output)
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2 (the LLM)
    grad_checkpointing: bool = False  # non-reentrant activation checkpointing of the LLM
    system_prompt: Optional[str] = None  # None = no system turn (or the checkpoint's default, see the backend)
    max_new_tokens: int = 16  # answer length for generation

    def check(self) -> None:
        """Raise ``ConfigError`` naming the key for a value no backend run can use (override to add checks)."""


S = TypeVar("S", bound=HFSettings)


def coerce_settings(settings: Any, cls: type[S]) -> S:
    """A checked ``cls`` instance from itself, a dict or an OmegaConf node (its ``name`` key is ignored),
    with ``~`` expanded in its path settings. Unknown keys and wrong types name the key."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(settings, cls):
        if isinstance(settings, DictConfig):
            settings = OmegaConf.to_container(settings, resolve=True)
        values = {k: v for k, v in dict(settings or {}).items() if k != "name"}
        known = sorted(f.name for f in dataclasses.fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Invalid configuration key 'backend.{unknown[0]}': the {cls.label} backend has no "
                              "such setting.", f"Settings: {', '.join(known)}.")
        try:
            settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"Invalid configuration key 'backend.{exc.full_key}': "
                              f"{str(exc).splitlines()[0]}.") from exc
    expanded = {name: str(Path(value).expanduser()) for name in cls.path_fields
                if isinstance(value := getattr(settings, name), str) and value.startswith("~")}
    settings = dataclasses.replace(settings, **expanded) if expanded else settings
    settings.check()
    return settings


def from_hub(settings: HFSettings, source: str | None = None, *, what: str | None = None,
             filenames: tuple[str, ...] = ("config.json",), hint: str | None = None,
             **overrides: Any) -> dict[str, Any]:
    """The hub arguments (``revision``, ``cache_dir``, ``local_files_only``) of a ``from_pretrained`` of
    ``source`` (default: the checkpoint). A hub id is checked first (``unigame_core.hub.resolve``: cached,
    offline, reachable), so an unreachable hub fails in seconds with one sentence, and a cached one loads
    offline; a path that is no folder fails at once. ``revision`` only applies to the checkpoint itself;
    ``what``, ``filenames`` and ``hint`` describe another repository (a tower, a processor) to ``hub.resolve``."""
    source = settings.checkpoint if source is None else source
    kwargs: dict[str, Any] = {"revision": settings.revision if source == settings.checkpoint else None,
                              "cache_dir": settings.cache_dir, "local_files_only": settings.local_files_only,
                              **overrides}
    if not Path(source).is_dir():
        advice = hint or (RANDOM_HINT if settings.random_weights else OFFLINE_HINT).format(ckpt=source)
        access = hub.resolve(source, what or f"{settings.label} checkpoint", cache_dir=kwargs["cache_dir"],
                             revision=kwargs["revision"], local_files_only=bool(kwargs["local_files_only"]),
                             filenames=filenames, hint=advice)
        kwargs["local_files_only"] = access.local_files_only
    return kwargs


def unavailable(label: str, source: str, exc: BaseException, random_weights: bool = False) -> DataError:
    """The one error for a checkpoint that is there but cannot be loaded: its first line, and what to do
    (never "set backend.random_weights=true" when it is already set)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"Cannot load {label} checkpoint '{source}': {first}",
                     (RANDOM_HINT if random_weights else HINT).format(ckpt=source))


@contextmanager
def loading(label: str, source: str, errors: tuple[type[BaseException], ...] = LOAD_ERRORS,
            random_weights: bool = False) -> Iterator[None]:
    """Turn ``errors`` raised inside the block into ``unavailable(label, source, ...)``."""
    try:
        yield
    except errors as exc:
        raise unavailable(label, source, exc, random_weights) from exc


@contextmanager
def pretrained(settings: HFSettings, source: str | None = None, **overrides: Any) -> Iterator[dict[str, Any]]:
    """``with pretrained(settings) as kwargs: Model.from_pretrained(settings.checkpoint, **kwargs)``: the hub
    arguments (``from_hub``, checked before anything downloads) and ``loading``'s one error for the block."""
    source = settings.checkpoint if source is None else source
    kwargs = from_hub(settings, source, **overrides)
    with loading(settings.label, source, random_weights=settings.random_weights):
        yield kwargs


def available_memory(device: torch.device) -> int:
    """Bytes free for new tensors on ``device``: free GPU memory, or the system's available memory."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return 1 << 62


def check_fits(label: str, parameters: int, device: torch.device, dtype: torch.dtype) -> None:
    """Raise ``ConfigError`` before building ``parameters`` random weights that cannot fit on ``device``
    (an out-of-memory kill gives no message at all); log the size otherwise."""
    import torch

    need = parameters * torch.empty((), dtype=dtype).element_size()
    free = available_memory(device)
    log.info("%s: %.2f B parameters, %.1f GiB in %s on %s (%.1f GiB free)", label, parameters / 1e9, need / 2**30,
             str(dtype).replace("torch.", ""), device, free / 2**30)
    if need > free:
        raise ConfigError(f"The {label} architecture needs {need / 2**30:.1f} GiB for its weights in "
                          f"{str(dtype).replace('torch.', '')}, more than the {free / 2**30:.1f} GiB free on {device}.",
                          "Use a GPU (or train.precision=bf16), or backend.tiny=true for a labelled tiny stand-in "
                          "that only exercises the plumbing.")


def count_parameters(build: Any) -> int:
    """Parameters of the module ``build()`` makes, built on the meta device (no memory, no time)."""
    import torch

    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters())


def checkpoint_activations(module: Any) -> None:
    """Non-reentrant activation checkpointing on a transformers module, which it does in train mode only
    (so the module is put in train mode: the caller makes sure that changes no result, e.g. no dropout)."""
    kwargs = {"use_reentrant": False}
    if hasattr(module, "activation_checkpointing_enable"):  # transformers >= 5.2x; the older name is deprecated
        module.activation_checkpointing_enable(kwargs)
    else:  # pragma: no cover
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    module.train()


class HFBackend(Backend):
    """A backend over ``from_pretrained`` weights. This base drives the lifecycle; a subclass fills hooks and
    never rewrites the sequence (as peft's ``BaseTuner`` does)::

        settings (coerced, ~ expanded) -> load() -> freeze the model and frozen_parts() (no gradient, eval)
        -> prepare() -> activation checkpointing (settings.grad_checkpointing) -> build_roles() -> one log line

    A subclass sets ``settings_class`` and the LoRA regexes and implements:

    * ``load()``: load (or, with ``settings.random_weights``, build) the weights and return the model whose
      LLM carries LoRA; it may load other parts (a processor, a decoder) into attributes of its own;
    * ``build_roles()``: set ``_encoder``, ``_decoder``, ``_understander`` and ``_image_size``;

    and may override ``frozen_parts()`` (modules frozen with the model), ``prepare()`` (work between the
    freeze and the roles: a pinned BatchNorm, a padding side, a part's own checkpointing) and ``describe()``
    (the sizes in the log line).
    """

    settings_class: ClassVar[type[HFSettings]] = HFSettings
    #: peft ``target_modules`` regexes (full match) of the LLM's attention (and MLP) projections
    lora_attention: ClassVar[str] = ""
    lora_attention_mlp: ClassVar[str] = ""

    _model: nn.Module
    _encoder: SharedTokenEncoder
    _decoder: Decoder
    _understander: Understander
    _image_size: int

    def __init__(self, settings: Any, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> None:
        import torch

        self.settings: Any = coerce_settings(settings, self.settings_class)
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.dtype = torch.float32 if dtype is None else dtype
        if self.settings.tiny and not self.settings.random_weights:
            self.settings = dataclasses.replace(self.settings, random_weights=True)
        self.requested = self.settings.checkpoint  # what was asked for (a tiny stand-in may swap the checkpoint)
        self._model = self.load()
        for module in (self._model, *self.frozen_parts()):
            module.requires_grad_(False).eval()
        self.prepare()
        if self.settings.grad_checkpointing:
            self.enable_grad_checkpointing()
        self.build_roles()
        log.info("%s: %s on %s in %s%s (%s)", self.settings.label, self.requested, self.device,
                 str(self.dtype).replace("torch.", ""), self._weights_note(), self.describe())
        if self.stand_in:
            log.warning("%s: %s; its timings and outputs say nothing about the real model", self.settings.label,
                        self.stand_in)

    def _weights_note(self) -> str:
        if self.settings.tiny:
            return " as a TINY STAND-IN with random weights"
        return " with random weights (real architecture)" if self.settings.random_weights else ""

    @classmethod
    def check_weights(cls, settings: Any) -> None:
        """The checkpoint is a folder that exists, or a hub id that is cached or can be downloaded (``from_hub``;
        nothing is loaded). Nothing to check with ``random_weights`` or ``tiny``. A backend that loads more
        repositories (a tower, a processor) may extend it."""
        settings = coerce_settings(settings, cls.settings_class)
        if not (settings.random_weights or settings.tiny):
            from_hub(settings)

    # ---- the hooks a backend fills -----------------------------------------------------------------
    @abstractmethod
    def load(self) -> nn.Module:
        """Load (or build, with ``settings.random_weights``) the weights; return the model LoRA attaches to."""

    @abstractmethod
    def build_roles(self) -> None:
        """Set ``_encoder``, ``_decoder``, ``_understander`` and ``_image_size`` from the loaded parts."""

    def frozen_parts(self) -> tuple[nn.Module, ...]:
        """Modules besides ``model`` that are frozen and put in eval mode with it (none by default)."""
        return ()

    def prepare(self) -> None:
        """Work between the freeze and the roles (nothing by default)."""

    def describe(self) -> str:
        """The sizes in the log line once loaded."""
        total = sum(p.numel() for m in (self._model, *self.frozen_parts()) for p in m.parameters())
        return f"{total / 1e6:.1f} M parameters"

    @property
    def model(self) -> nn.Module:
        return self._model

    @property
    def random_weights(self) -> bool:
        return bool(self.settings.random_weights or self.settings.tiny)

    @property
    def stand_in(self) -> str | None:
        if not self.settings.tiny:
            return None
        return f"TINY STAND-IN for '{self.requested}' (random weights, not the real architecture)"

    @property
    def encoder(self) -> SharedTokenEncoder:
        return self._encoder

    @property
    def decoder(self) -> Decoder:
        return self._decoder

    @property
    def understander(self) -> Understander:
        return self._understander

    @property
    def image_size(self) -> int:
        return self._image_size

    def lora_target_modules(self, include_mlp: bool = False) -> str:
        return self.lora_attention_mlp if include_mlp else self.lora_attention

