"""UnigameLM: batched multimodal generate_until, lazy image decoding, unreadable images, the answer cache."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from PIL import Image

from unigame_core.errors import CapabilityError, ConfigError
from unigame_core.eval import lm_eval_bridge
from unigame_core.eval.common import UNREADABLE
from unigame_core.eval.lm_eval_bridge import UnigameLM, load_visual, pixel_hook, response_cache
from unigame_core.testing import FakeBackend


def _png(colour: tuple[int, int, int], size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _request(i: int, visual: Any, question: str = "q", **gen: Any) -> Instance:
    kwargs = {"until": ["\n"], "max_gen_toks": 3, **gen}
    return Instance("generate_until", doc={}, arguments=(f"{question} {i}", kwargs, {"visual": visual}),
                    idx=0, metadata=("task", i, 1))


def test_registered_in_lm_eval_as_unigame() -> None:
    assert get_model("unigame") is UnigameLM and UnigameLM.MULTIMODAL


def test_a_loglikelihood_task_is_a_config_error_naming_it() -> None:
    lm = UnigameLM(FakeBackend())
    request = Instance("loglikelihood", doc={}, arguments=("q", " yes"), idx=0, metadata=("mcq_task", 0, 1))
    for method in (lm.loglikelihood, lm.loglikelihood_rolling):
        with pytest.raises(ConfigError, match="Task 'mcq_task' asks for loglikelihood requests, but unigame models"):
            method([request])


def test_batches_keep_order_cut_at_stop_and_group_settings(script: Any) -> None:
    backend = FakeBackend()
    calls = script(backend, lambda q: f"answer {q.split()[-1]}\nmore text")
    lm = UnigameLM(backend, batch_size=4)
    requests = [_request(i, _png((i, 0, 0))) for i in range(10)] + [_request(10, _png((1, 2, 3)), max_gen_toks=7)]
    answers = lm.generate_until(requests)
    assert answers == [f"answer {i}" for i in range(11)]
    assert calls == [(4, 3), (4, 3), (2, 3), (1, 7)]
    assert lm.stats.generated == 11 and lm.stats.samples_per_s > 0


def test_images_are_decoded_lazily_at_most_two_batches_ahead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    decoded: list[int] = []
    real = lm_eval_bridge.decode_image
    monkeypatch.setattr(lm_eval_bridge, "decode_image", lambda src, name=None: decoded.append(1) or real(src, name))
    seen_at_call: list[int] = []
    backend = FakeBackend()

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 4) -> list[str]:
        seen_at_call.append(len(decoded))
        return ["x"] * len(questions)

    backend.understander.generate = generate  # type: ignore[method-assign]
    paths = []
    for i in range(12):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(_png((10 * i, 0, 0)))
    lm = UnigameLM(backend, batch_size=2)
    assert decoded == []  # nothing decoded before generation starts
    lm.generate_until([_request(i, str(p)) for i, p in enumerate(paths)])
    assert len(decoded) == 12 and len(seen_at_call) == 6
    assert all(n <= 2 * (k + 2) for k, n in enumerate(seen_at_call))  # the current batch and the next


def test_visual_kinds_decode_to_the_same_pixels(tmp_path: Path) -> None:
    data = _png((200, 100, 50))
    (tmp_path / "a.png").write_bytes(data)
    pil = Image.open(io.BytesIO(data))
    as_bytes = load_visual(data, "x")
    assert as_bytes.shape == (3, 8, 8) and as_bytes.dtype == torch.uint8
    for visual in (str(tmp_path / "a.png"), [data, b"ignored"], {"bytes": data, "path": None}, pil,
                   as_bytes.float() / 255):
        assert torch.equal(load_visual(visual, "x"), as_bytes)


def test_unreadable_image_answers_the_sentinel(script: Any, caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    calls = script(backend, lambda q: "fine")
    lm = UnigameLM(backend, batch_size=8)
    with caplog.at_level(logging.WARNING):
        answers = lm.generate_until(
            [_request(0, _png((1, 1, 1))), _request(1, b"garbage"), _request(2, _png((2, 2, 2)))]
        )
    assert answers == ["fine", UNREADABLE, "fine"] and calls == [(2, 3)]
    assert lm.stats.unreadable == 1 and "task/1" in caplog.text
    with pytest.raises(CapabilityError, match="without an image"):
        lm.generate_until([_request(3, None)])


def test_answer_cache_serves_repeats_but_never_unreadable(tmp_path: Path, script: Any) -> None:
    backend = FakeBackend()
    calls = script(backend, lambda q: "cached answer")
    requests = [_request(i, _png((i, i, i))) for i in range(3)] + [_request(3, b"garbage")]
    with response_cache(tmp_path / "answers.sqlite"):
        first = UnigameLM(backend, batch_size=8)
        assert first.generate_until(requests)[:3] == ["cached answer"] * 3
        first.close()
        second = UnigameLM(backend, batch_size=8)
        assert second.generate_until(requests) == ["cached answer"] * 3 + [UNREADABLE]
        assert second.stats.cached == 3 and second.stats.generated == 0 and len(calls) == 1
        changed = second.generate_until([_request(0, _png((0, 0, 0)), max_gen_toks=5)])  # other settings
        assert changed == ["cached answer"] and len(calls) == 2
        second.close()
    assert UnigameLM(backend)._cache is None  # outside the block: no cache


def test_pixel_hook_replaces_the_pixels_sees_the_docs_and_bypasses_the_cache(tmp_path: Path) -> None:
    backend = FakeBackend()
    seen: list[float] = []

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 4) -> list[str]:
        seen.extend(float(v) for v in pixels.flatten(1).mean(1))
        return ["x"] * len(questions)

    backend.understander.generate = generate  # type: ignore[method-assign]
    requests = [_request(i, _png((0, 0, 0))) for i in range(3)]
    for i, req in enumerate(requests):
        req.doc = {"id": f"q{i}"}
    docs: list[list[str]] = []

    def hook(pixels: torch.Tensor, questions: list[str], batch_docs: list[dict[str, Any]]) -> torch.Tensor:
        docs.append([d["id"] for d in batch_docs])
        return torch.ones_like(pixels)

    with response_cache(tmp_path / "answers.sqlite"):
        UnigameLM(backend, batch_size=2).generate_until(requests)  # black images, cached
        assert seen == [0.0] * 3
        with pixel_hook(hook):
            lm = UnigameLM(backend, batch_size=2)
            assert lm.generate_until(requests) == ["x"] * 3
    assert docs == [["q0", "q1"], ["q2"]] and seen[3:] == [1.0] * 3  # the hook's pixels, not the cache
    assert lm.stats.cached == 0 and lm.stats.generated == 3


class _Trap:
    """Unpickling this creates ``path``: the proof that a cache payload was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_answer_cache_never_unpickles_a_crafted_row(tmp_path: Path, script: Any) -> None:
    import pickle
    import sqlite3

    backend = FakeBackend()
    calls = script(backend, lambda q: "fresh answer")
    request = _request(0, _png((5, 5, 5)))
    db, marker = tmp_path / "answers.sqlite", tmp_path / "executed"
    key = UnigameLM(backend)._cache_key(request)
    with sqlite3.connect(db) as conn:  # a crafted cache file: the right key, a pickle as the answer
        conn.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO answers VALUES (?, ?)", (key, pickle.dumps(_Trap(marker))))
        conn.execute('CREATE TABLE "unnamed" (key TEXT PRIMARY KEY, value BLOB)')  # sqlitedict's layout
        conn.execute('INSERT INTO "unnamed" VALUES (?, ?)', (key, pickle.dumps(_Trap(marker))))
    lm = UnigameLM(backend, cache_db=str(db))
    assert lm.generate_until([request]) == ["fresh answer"]
    lm.close()
    assert not marker.exists() and lm.stats.cached == 0 and len(calls) == 1  # a miss, answered afresh
    with sqlite3.connect(db) as conn:  # the row now holds the answer as JSON text
        assert conn.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone() == ('"fresh answer"',)
    again = UnigameLM(backend, cache_db=str(db))
    assert again.generate_until([request]) == ["fresh answer"] and again.stats.cached == 1
    again.close()
