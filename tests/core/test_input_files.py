"""Files a user names that are not what they look like: a FIFO, a device or a folder named as an image,
a data file or a config file is refused with one sentence before it is opened (opening a FIFO blocks until
someone writes to it: the command would hang with no output), and a YAML alias bomb is refused at once."""

from __future__ import annotations

import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from unigame_core import config_files
from unigame_core.cli.main import app
from unigame_core.config import load_yaml
from unigame_core.data.images import decode_image
from unigame_core.data.records import json_list, jsonl_rows
from unigame_core.data.sources import jsonl_dataset
from unigame_core.errors import ConfigError, DataError

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe. A watchdog opens it for writing after 3 s, so code that opened it for reading (and would
    block for ever) wakes up and the test fails on its timing instead of hanging the suite."""
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    done = threading.Event()

    def unblock() -> None:
        if done.wait(3.0):
            return
        while not done.is_set():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting (yet)
                pass
            time.sleep(0.05)

    watchdog = threading.Thread(target=unblock, daemon=True)
    watchdog.start()
    yield path
    done.set()
    watchdog.join()


def _quick(fn, *args):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    with pytest.raises((DataError, ConfigError)) as info:
        fn(*args)
    assert time.perf_counter() - start < 2.0, "it opened the FIFO and waited for a writer"
    return info.value


def test_a_fifo_named_as_an_image_is_refused_without_opening_it(fifo: Path) -> None:
    error = _quick(decode_image, fifo)
    assert isinstance(error, DataError)
    assert error.message == f"Image '{fifo}' is a named pipe (FIFO), not a regular file."


def test_a_folder_or_a_device_named_as_an_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^Image '.*' is a folder, not a regular file\.$"):
        decode_image(tmp_path)
    with pytest.raises(DataError, match=r"^Image '/dev/null' is a character device, not a regular file\.$"):
        decode_image("/dev/null")


def test_a_fifo_named_as_training_data_is_refused(fifo: Path) -> None:
    error = _quick(jsonl_dataset, str(fifo))
    assert error.message == f"Training file '{fifo}' is a named pipe (FIFO), not a regular file."
    assert "named pipe (FIFO)" in _quick(lambda p: list(jsonl_rows(p)), fifo).message
    assert "named pipe (FIFO)" in _quick(json_list, fifo, "questions").message
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        jsonl_dataset(str(fifo.parent))


def test_a_fifo_named_as_a_config_file_exits_2_at_once(fifo: Path) -> None:
    assert "named pipe (FIFO)" in _quick(load_yaml, fifo).message
    assert "named pipe (FIFO)" in _quick(config_files.read, fifo).message
    start = time.perf_counter()
    result = runner.invoke(app, ["config", "show", "--config", str(fifo)])
    assert time.perf_counter() - start < 2.0
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"Config file '{fifo}' is a named pipe (FIFO), not a regular file." in " ".join(result.output.split())


def _alias_bomb(levels: int = 12, width: int = 9) -> str:
    """The "billion laughs": each level a list of ``width`` aliases of the level below (``width ** levels``)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb(), encoding="utf-8")
    assert bomb.stat().st_size < 1500
    start = time.perf_counter()
    result = runner.invoke(app, ["config", "show", "--config", str(bomb)])
    assert time.perf_counter() - start < 2.0
    assert result.exit_code == 2 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert re.search(rf"Config file '{re.escape(str(bomb))}' expands its YAML aliases to more than [\d,]+ values", said)


def test_a_few_aliases_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("train: &t {steps: 3, lr: 0.001}\neval_like: *t\n", encoding="utf-8")
    assert config_files.read(path) == {"train": {"steps": 3, "lr": 0.001}, "eval_like": {"steps": 3, "lr": 0.001}}


def test_the_pixel_limit_in_the_docs_is_the_one_the_code_applies(tmp_path: Path) -> None:
    """docs/evaluation.md names the size over which an image counts as unreadable; the decoder applies it."""
    limit = Image.MAX_IMAGE_PIXELS
    for doc, pattern in (("evaluation.md", r"about (\d+) million\s+pixels"), ("training.md", r"about (\d+) M\b")):
        said = re.search(pattern, (DOCS / doc).read_text(encoding="utf-8"))
        assert said is not None, doc
        assert int(said.group(1)) == round(limit / 1e6), doc
    side = int(limit**0.5) + 1  # just over the limit (under twice it, where PIL itself only warns): refused
    with pytest.raises(DataError, match="too large to decode safely"):
        decode_image(_header_only_png(tmp_path / "big.png", side, side))


def _header_only_png(path: Path, width: int, height: int) -> Path:
    """A few-byte PNG whose header claims ``width x height`` (PIL judges the size from the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path
