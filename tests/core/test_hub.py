"""Fast, one-sentence failures when a checkpoint must come from an unreachable hub (``unigame_core.hub``)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from unigame_core import hub
from unigame_core.errors import DataError

REPO = "someone/some-model"


def closed_port() -> int:
    """A loopback port nobody listens on (connects are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Online mode, but HF_ENDPOINT points at a closed loopback port."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    hub._probed.clear()
    yield
    hub._probed.clear()


def cache_with(root: Path, repo: str, filename: str) -> Path:
    """A hub cache holding one file of ``repo`` at ``main`` (the layout huggingface_hub writes)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_text("{}")
    return snapshot / filename


@pytest.mark.usefixtures("unreachable_hub")
def test_unreachable_hub_and_no_cache_fails_at_once_naming_the_checkpoint(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        hub.resolve(REPO, "Janus checkpoint", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 3.0
    assert info.value.message == (f"Janus checkpoint '{REPO}' is not in the local cache and the model hub "
                                  "(127.0.0.1) cannot be reached.")
    assert "--model DIR" in info.value.hint and "HF_HOME" in info.value.hint


@pytest.mark.usefixtures("unreachable_hub")
def test_a_cached_checkpoint_loads_offline_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    cached = cache_with(tmp_path, REPO, "config.json")
    access = hub.resolve(REPO, "Janus checkpoint", cache_dir=str(tmp_path))
    assert access.local_files_only and "cannot be reached" in access.reason
    assert hub.cached_file(REPO, ("missing.bin", "config.json"), cache_dir=str(tmp_path)) == str(cached)


def test_hf_hub_offline_is_honoured_without_a_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: pytest.fail("probed although offline"))
    with pytest.raises(DataError, match=r"HF_HUB_OFFLINE=1"):
        hub.resolve(REPO, "Emu3 checkpoint", cache_dir=str(tmp_path))


def test_a_reachable_hub_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)
    assert hub.resolve(REPO, "Janus checkpoint", cache_dir=str(tmp_path)) == hub.HubAccess(False)


def test_probe_uses_the_proxy_when_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    assert hub._probe_address() == ("hub.example.org", 443)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    assert hub._probe_address() == ("proxy.local", 3128)
