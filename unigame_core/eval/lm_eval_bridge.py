"""The lm-eval bridge: one ``lm_eval.api.model.LM`` that answers with any unigame backend.

``UnigameLM`` (registered in lm-eval's model registry as ``unigame``) implements multimodal
``generate_until``. lm-eval hands it ``Instance`` objects whose ``args`` are
``(context, gen_kwargs, {"visual": image})``; the image stays whatever the task's ``doc_to_image``
returned -- a file path, encoded bytes, a PIL image or a uint8 tensor -- and is decoded only when
its batch is about to run, so memory holds at most two batches of pixels whatever the dataset size.

Per batch: decode (a thread pool, one batch ahead of the model), the backend's own
``image_transform`` (resize/pad to ``S``), stack, ``[0, 1]`` floats on the model's device, then one
``backend.understander.generate(pixels, questions, max_new_tokens)`` call. An image that cannot be
decoded is answered with :data:`~unigame_core.eval.common.UNREADABLE` and a warning; task functions
score that answer as wrong. Inside :func:`pixel_hook` every batch's pixels first go through a function of
``(pixels, questions, docs)`` (an attack suite's perturbation, made against this backend) and the answer
cache is bypassed. Answers can be cached in a SQLite file of JSON strings (``cache_db`` or
:func:`response_cache`; :class:`~unigame_core.eval.cache.AnswerCache`, never pickles), keyed by the
request's text, generation settings and image (content for bytes, path + size + mtime for files);
unreadable answers are never cached.
"""

from __future__ import annotations

from .common import UNREADABLE, enable_offline

enable_offline()  # before lm_eval imports datasets

import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from contextvars import ContextVar  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.model import LM, hash_args  # noqa: E402
from lm_eval.api.registry import register_model  # noqa: E402
from PIL import Image  # noqa: E402

from ..data.images import decode_image, to_rgb  # noqa: E402
from ..errors import CapabilityError, ConfigError, DataError  # noqa: E402
from ..interfaces import Backend  # noqa: E402
from .cache import AnswerCache  # noqa: E402

log = logging.getLogger(__name__)

#: One batch ready for the model: request indices, ``[0, 1]`` pixels on the device, questions.
Batch = tuple[list[int], torch.Tensor | None, list[str]]

PROGRESS_EVERY_S = 30.0  # seconds between progress lines during long generations

_CACHE_DB: ContextVar[str | None] = ContextVar("unigame_eval_cache_db", default=None)

#: ``(pixels, questions, docs) -> pixels``: what the answering model is shown instead of each batch's images.
PixelHook = Callable[[torch.Tensor, list[str], list[dict[str, Any]]], torch.Tensor]
_PIXEL_HOOK: ContextVar[PixelHook | None] = ContextVar("unigame_eval_pixel_hook", default=None)


@contextmanager
def response_cache(path: str | Path | None) -> Iterator[None]:
    """Within the block, every new ``UnigameLM`` without an explicit ``cache_db`` caches in ``path``."""
    token = _CACHE_DB.set(str(path) if path else None)
    try:
        yield
    finally:
        _CACHE_DB.reset(token)


@contextmanager
def pixel_hook(hook: PixelHook) -> Iterator[None]:
    """Within the block, every ``UnigameLM`` answers about ``hook(pixels, questions, docs)`` instead of the
    request's images (``docs``: the lm-eval docs of the batch, in order), and uses no answer cache."""
    token = _PIXEL_HOOK.set(hook)
    try:
        yield
    finally:
        _PIXEL_HOOK.reset(token)


@dataclass
class GenerationStats:
    """What the model did: answers generated (not cached), their seconds, cache hits, unreadable images."""

    generated: int = 0
    seconds: float = 0.0
    cached: int = 0
    unreadable: int = 0

    @property
    def samples_per_s(self) -> float | None:
        """Answers generated per second of generation; ``None`` when nothing was generated (all from the
        cache, or no request): a speed that was not measured, not a speed of zero."""
        return self.generated / self.seconds if self.generated and self.seconds > 0 else None


def load_visual(visual: Any, label: str) -> torch.Tensor:
    """A request's image (path, bytes, ``{"bytes", "path"}``, PIL image, tensor) -> uint8 ``(3, H, W)``.

    Several images: the first one is used. Raises ``DataError`` when it cannot be decoded, including an
    image over PIL's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``), so it is skipped and counted
    like any unreadable image instead of ending the run with a traceback.
    """
    try:
        return _load_visual(visual, label)
    except Image.DecompressionBombError as exc:
        raise DataError(f"Image of request {label} is too large to decode safely ({exc}).") from None


def _load_visual(visual: Any, label: str) -> torch.Tensor:
    if isinstance(visual, (list, tuple)):
        if not visual:
            raise DataError(f"Request {label} has an empty image list.")
        visual = visual[0]
    if isinstance(visual, dict):
        visual = visual.get("bytes") or visual.get("path")
    if isinstance(visual, torch.Tensor):
        if visual.dtype == torch.uint8:
            return visual
        return (visual.float().clamp(0, 1) * 255).round().to(torch.uint8)
    if isinstance(visual, Image.Image):
        return torch.from_numpy(np.asarray(to_rgb(visual), dtype=np.uint8).copy()).permute(2, 0, 1)
    if isinstance(visual, (bytes, bytearray, memoryview)):
        return decode_image(bytes(visual), name=label)
    if isinstance(visual, (str, Path)):
        return decode_image(visual)
    raise DataError(f"Request {label} has no readable image (got {type(visual).__name__}).")


def _image_key(visual: Any) -> Any:
    """What identifies an image in the cache key: content for bytes, path + size + mtime for files."""
    if isinstance(visual, (list, tuple)):
        return [_image_key(v) for v in visual]
    if isinstance(visual, dict):
        return _image_key(visual.get("bytes") or visual.get("path"))
    if isinstance(visual, (str, Path)):
        try:
            stat = Path(visual).stat()
            return [str(visual), stat.st_size, stat.st_mtime_ns]
        except OSError:
            return [str(visual), None]
    if isinstance(visual, torch.Tensor):
        return load_visual(visual, "tensor").cpu().numpy().tobytes()
    return visual


def _as_int(value: Any, default: int) -> int:
    text = str(value).strip()
    return int(text) if text.isdigit() else default


def _generation_only(requests: Sequence[Instance]) -> ConfigError:
    """The error for an lm-eval task that asks for scores of given continuations instead of answers."""
    task = requests[0].task_name if requests else "?"
    kind = requests[0].request_type if requests else "loglikelihood"
    return ConfigError(f"Task '{task}' asks for {kind} requests, but unigame models only generate answers.",
                       "Set the task's output_type to generate_until.")


@register_model("unigame")
class UnigameLM(LM):
    """Answers lm-eval's multimodal generation requests with a unigame backend, in batches.

    Built either around a loaded backend (``UnigameLM(backend, batch_size=32)``) or, from the ``lm_eval``
    command line, from unigame names: ``--model unigame --model_args model=MODEL,adapter=runs/x``
    (``config=FILE.yaml`` for backend settings; ``device``, ``batch_size`` come from lm-eval's own flags,
    ``max_batch_size`` is accepted and ignored). ``max_new_tokens`` applies when a task sets no
    ``max_gen_toks``; ``stats`` reports what was generated and how fast.
    """

    MULTIMODAL = True

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        model: str | None = None,
        adapter: str | None = None,
        config: str | None = None,
        batch_size: int | str = 16,
        max_new_tokens: int = 16,
        device: str | None = None,
        cache_db: str | None = None,
        max_batch_size: int | None = None,
        decode_threads: int = 4,
    ) -> None:
        super().__init__()
        if backend is None:
            backend = _backend_from_names(model, adapter, config, device)
        self.backend = backend
        self.batch_size = max(1, _as_int(batch_size, 16))
        self.max_new_tokens = int(max_new_tokens)
        self.transform = backend.image_transform()
        self._device = next(backend.model.parameters()).device
        self.decode_threads = max(1, int(decode_threads))
        self.stats = GenerationStats()
        self._warned_sampling = False
        path = cache_db or _CACHE_DB.get()
        self._cache = AnswerCache(path) if path else None

    # ------------------------------------------------------------------ lm-eval API
    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise _generation_only(requests)

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        raise _generation_only(requests)

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy answers, one per request, in request order; batched per generation setting."""
        answers: list[str | None] = [None] * len(requests)
        hook = _PIXEL_HOOK.get()
        cache = None if hook is not None else self._cache  # a perturbed image is not the request's image
        keys = [self._cache_key(r) for r in requests] if cache is not None else [None] * len(requests)
        groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, req in enumerate(requests):
            hit = cache.get(keys[i]) if cache is not None and keys[i] is not None else None
            if hit is not None:
                answers[i] = hit
                self.stats.cached += 1
                continue
            groups.setdefault(self._settings(req), []).append(i)
        todo, done, last_report = sum(len(v) for v in groups.values()), 0, time.perf_counter()
        for (max_new, until), indices in groups.items():
            for batch_idx, pixels, questions in self._batches(requests, indices):
                if hook is not None and batch_idx:
                    pixels = hook(pixels, questions, [requests[i].doc for i in batch_idx])
                start = time.perf_counter()
                texts = self.backend.understander.generate(pixels, questions, max_new) if batch_idx else []
                if self._device.type == "cuda":
                    torch.cuda.synchronize(self._device)
                self.stats.seconds += time.perf_counter() - start
                self.stats.generated += len(batch_idx)
                for i, text in zip(batch_idx, texts):
                    answers[i] = _cut(text, until)
                    if cache is not None and keys[i] is not None:
                        cache.put(keys[i], answers[i])
                done += len(batch_idx)
                if time.perf_counter() - last_report > PROGRESS_EVERY_S:
                    last_report = time.perf_counter()
                    log.info("answered %d/%d (%.1f samples/s)", done, todo, self.stats.samples_per_s)
            if cache is not None:
                cache.commit()
        if self.stats.generated:
            log.info("generated %d answers in %.1f s (%.1f samples/s, batch %d)%s", self.stats.generated,
                     self.stats.seconds, self.stats.samples_per_s, self.batch_size,
                     f"; {self.stats.cached} from the cache" if self.stats.cached else "")
        return [a if a is not None else UNREADABLE for a in answers]

    # ------------------------------------------------------------------ helpers
    def _settings(self, req: Instance) -> tuple[int, tuple[str, ...]]:
        kwargs = dict(req.args[1]) if len(req.args) > 1 and isinstance(req.args[1], dict) else {}
        if kwargs.get("do_sample") and not self._warned_sampling:
            log.warning("the unigame model decodes greedily; do_sample/temperature are ignored")
            self._warned_sampling = True
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        return int(kwargs.get("max_gen_toks", self.max_new_tokens)), tuple(until)

    def _cache_key(self, req: Instance) -> str:
        context, kwargs = req.args[0], req.args[1] if len(req.args) > 1 else {}
        visual = req.args[2].get("visual") if len(req.args) > 2 and isinstance(req.args[2], dict) else None
        return hash_args("generate_until", [context, kwargs, _image_key(visual)])

    def _prepare(self, requests: Sequence[Instance], indices: list[int], pool: ThreadPoolExecutor) -> Batch:
        """Decode and transform one batch (in worker threads); unreadable images are left out."""
        images = list(pool.map(lambda i: self._load(requests[i]), indices))
        kept = [(i, img) for i, img in zip(indices, images) if img is not None]
        if not kept:
            return [], None, []
        pixels = torch.stack([img for _, img in kept])
        pixels = pixels.to(self._device, non_blocking=True).float().div_(255.0)
        return [i for i, _ in kept], pixels, [str(requests[i].args[0]) for i, _ in kept]

    def _load(self, req: Instance) -> torch.Tensor | None:
        multimodal = req.args[2] if len(req.args) > 2 and isinstance(req.args[2], dict) else {}
        label = f"{req.task_name}/{req.doc_id}"
        if multimodal.get("visual") is None:
            raise CapabilityError(f"Task '{req.task_name}' sent a request without an image; "
                                  "the unigame model answers questions about images.")
        try:
            return self.transform(load_visual(multimodal["visual"], label))
        except DataError as exc:
            log.warning("%s: scored as wrong (%s)", label, exc)
            self.stats.unreadable += 1
            return None

    def _batches(self, requests: Sequence[Instance], indices: list[int]) -> Iterator[Batch]:
        """Batches of ``batch_size``; the next batch's images decode while the model runs."""
        chunks = [indices[k:k + self.batch_size] for k in range(0, len(indices), self.batch_size)]
        with ThreadPoolExecutor(self.decode_threads) as pool, ThreadPoolExecutor(1) as ahead:
            pending: Future | None = ahead.submit(self._prepare, requests, chunks[0], pool) if chunks else None
            for k in range(len(chunks)):
                assert pending is not None
                batch = pending.result()
                pending = ahead.submit(self._prepare, requests, chunks[k + 1], pool) if k + 1 < len(chunks) else None
                yield batch

    def close(self) -> None:
        """Close the answer cache (if any)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def _backend_from_names(model: str | None, adapter: str | None, config: str | None, device: str | None) -> Backend:
    """The ``lm_eval`` command line's way in: resolve and load a model by its unigame names."""
    from ..config import build_config
    from .loading import check_adapter, load_model

    if device and device.startswith("cuda") and not torch.cuda.is_available():
        log.warning("device %s requested but no CUDA GPU is available: using the CPU", device)
        device = "cpu"
    cfg = build_config(model, config, [])
    return load_model(cfg, check_adapter(Path(adapter) if adapter else None), device=device)


def _cut(text: str, until: Sequence[str]) -> str:
    """Truncate ``text`` at the first stop sequence."""
    for stop in until:
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text
