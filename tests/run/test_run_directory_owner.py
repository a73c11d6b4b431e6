"""One process owns a run directory (the lock in it names the owner), and a full, read-only or forbidden disk is
one sentence and exit code 2, found before the model loads where it can be, with no half-written checkpoint left."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from safetensors import SafetensorError
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.run import build, checkpoint, lock
from unigame_core.testing import quick_overrides

runner = CliRunner()


def train(run: Path, *extra: str) -> Any:
    args = quick_overrides(run, "train.steps=2", "train.loggers=[]", *extra)  # no TensorBoard: quick
    return runner.invoke(app, ["train", "--model", "fake-tiny", *args])


def one_sentence_exit_2(result: Any, *says: str) -> str:
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and text.count("error:") == 1, result.output
    assert all(s in text for s in says), result.output
    return text


def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "build_backend", lambda *a, **k: pytest.fail("the model must not load"))


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_second_train_on_a_run_directory_in_use_exits_2_naming_the_owner(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    held = lock.acquire(run)  # the first run (this process, on another file handle)
    try:
        no_model(monkeypatch)
        for extra in ((), ("--resume", str(run)), ("--overwrite",)):
            if extra[:1] == ("--resume",):
                (run / "config.yaml").write_text("model: fake-tiny\n")
            result = runner.invoke(app, ["train", "--model", "fake-tiny", *extra,
                                         *quick_overrides(run, "train.steps=2", "train.loggers=[]")])
            one_sentence_exit_2(result, f"'{run}' is in use by another unigame train",
                                f"pid {os.getpid()} on {socket.gethostname()}")
        assert sorted(p.name for p in run.iterdir()) == [lock.LOCK_FILE, "config.yaml"]  # nothing else written
        owner = json.loads((run / lock.LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    finally:
        held.release()
    (run / "config.yaml").unlink()
    monkeypatch.undo()
    assert train(run).exit_code == 0  # free again once the first run is done
    assert not (run / lock.LOCK_FILE).exists()  # released at exit


def test_a_run_directory_held_by_another_process_is_refused(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from unigame_core.run import lock; "
         f"lock.acquire(Path({str(run)!r})); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            sys.path)})
    try:
        run.mkdir()
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        one_sentence_exit_2(train(run), f"pid {holder.pid} on {socket.gethostname()}")
    finally:
        holder.communicate("", timeout=30)
    assert train(run).exit_code == 0  # the holder's exit released it


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(fake_plugin: None, tmp_path: Path) -> None:
    run, pid = tmp_path / "run", dead_pid()
    run.mkdir()
    (run / lock.LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "earlier"}))
    result = train(run)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"pid {pid} on {socket.gethostname()}" in text and "no longer running" in text, result.output
    assert (run / "adapter").is_dir() and not (run / lock.LOCK_FILE).exists()


def test_a_lock_of_another_host_is_not_taken_over(fake_plugin: None, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / lock.LOCK_FILE).write_text(json.dumps({"pid": dead_pid(), "host": "elsewhere", "started": "earlier"}))
    no_model(monkeypatch)
    # the hint names the file to delete once that run is gone
    one_sentence_exit_2(train(run), "(pid", "on elsewhere", str(run / lock.LOCK_FILE))


def test_the_lock_is_released_when_the_run_fails(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    one_sentence_exit_2(train(run, "data.spec=jsonl:missing.jsonl"), "does not exist")
    assert not run.exists()  # made for the run (with its lock), removed with it
    run.mkdir()
    one_sentence_exit_2(train(run, "data.spec=jsonl:missing.jsonl"), "does not exist")
    assert run.is_dir() and not any(run.iterdir())  # the user's folder is kept, without a lock in it


def test_only_rank_zero_holds_the_lock(tmp_path: Path) -> None:
    from unigame_core.run import rundir

    other, main = tmp_path / "other-rank", tmp_path / "rank-0"
    other.mkdir()
    with rundir.owned(other, main=False):
        assert not (other / lock.LOCK_FILE).exists()
    with rundir.owned(main, main=True):
        assert (main / lock.LOCK_FILE).exists()
    assert not main.exists()


def refuse(code: int):  # noqa: ANN201
    def write(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_unwritable_output_is_one_sentence_before_the_model_loads(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    run = tmp_path / "run"
    run.mkdir()  # an existing, empty --output
    no_model(monkeypatch)
    monkeypatch.setattr(lock, "_write_owner", refuse(code))  # the probe write of the lock's content
    one_sentence_exit_2(train(run), f"Cannot write into the run directory '{run}'", os.strerror(code))
    assert not any(run.iterdir())


def test_a_read_only_output_is_one_sentence_before_the_model_loads(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    no_model(monkeypatch)
    if os.geteuid() == 0:  # chmod does not stop root: refuse the lock file as a read-only filesystem does
        monkeypatch.setattr(lock, "_open", refuse(errno.EROFS))
        says = os.strerror(errno.EROFS)
    else:
        run.chmod(0o555)
        says = os.strerror(errno.EACCES)
    try:
        one_sentence_exit_2(train(run), f"Cannot write into the run directory '{run}'", says)
    finally:
        run.chmod(0o755)
    assert not any(run.iterdir())


@pytest.mark.parametrize("error", [
    SafetensorError('Error while serializing: I/O error: No space left on device (os error 28) at path "x"'),
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
])
def test_a_full_disk_at_a_checkpoint_is_one_sentence_and_leaves_no_temporary_folder(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise error

    run = tmp_path / "run"
    monkeypatch.setattr(checkpoint, "save_file", full)
    text = one_sentence_exit_2(train(run, "train.steps=3", "train.checkpoint_every=2"),
                               f"Cannot write the checkpoint '{run / 'checkpoints' / 'step-2'}'",
                               "No space left on device", f"unigame train --resume {run}")
    assert "SafetensorError" not in text
    assert list((run / "checkpoints").iterdir()) == [] and not (run / lock.LOCK_FILE).exists()


def test_a_full_disk_while_logging_names_the_run_directory(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unigame_core.run import runner as run_module

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "metrics.jsonl"))

    monkeypatch.setattr(run_module, "_log_metrics", full)
    one_sentence_exit_2(train(tmp_path / "run"), f"Cannot write into the run directory '{tmp_path / 'run'}'",
                        "No space left on device")
