"""``unigame eval`` end to end on the fake backend (Typer's CliRunner), and ``evaluate_backend``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.errors import DataError
from unigame_core.eval import runner
from unigame_core.eval.loading import check_adapter
from unigame_core.interfaces import SuiteResult
from unigame_core.testing import FakeBackend

ROW_KEYS = {"suite", "metric", "value", "n", "ci95", "model", "adapter", "data"}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _eval(*args: str) -> Any:
    return CliRunner().invoke(app, ["eval", "--model", "fake-tiny", *args])


@pytest.mark.usefixtures("fake_plugins")
def test_eval_official_suites_writes_results_predictions_and_table(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _eval(
        "--suite", "vqav2,mmmu,pope", "--data-root", str(data_root), "--batch-size", "4", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema_version"] == 1 and doc["model"] == "fake-tiny" and doc["adapter"] is None
    assert doc["backend"]["name"] == "fake" and doc["data_root"] == str(data_root) and doc["batch_size"] == 4
    assert {"unigame", "lm_eval", "torch", "python"} <= set(doc["versions"])
    assert list(doc["suites"]) == ["vqav2", "mmmu", "pope"]
    assert doc["suites"]["pope"]["n"] == 18 and doc["suites"]["pope"]["samples_per_s"] > 0
    assert doc["suites"]["vqav2"]["data"] == str((data_root / "vqav2").resolve())
    rows = doc["results"]
    assert all(set(r) == ROW_KEYS and isinstance(r["value"], float) for r in rows)
    metrics = {(r["suite"], r["metric"]) for r in rows}
    assert {("vqav2", "accuracy"), ("vqav2", "accuracy_number"), ("mmmu", "accuracy/Art_Theory"),
            ("pope", "f1"), ("pope", "adversarial/yes_ratio"), ("pope", "unreadable_images")} <= metrics
    for suite, n in (("vqav2", 6), ("mmmu", 6), ("pope", 18)):
        lines = read_jsonl(out / "predictions" / f"{suite}.jsonl")
        assert len(lines) == n and {"id", "question", "prediction", "references", "score"} <= set(lines[0])
    assert "vqav2" in result.stdout and "accuracy_yes_no" in result.stdout and "samples/s" in result.stdout


@pytest.mark.usefixtures("fake_plugins")
def test_second_run_is_served_from_the_cache_keyed_by_model_and_data(data_root: Path, tmp_path: Path,
                                                                     eval_cache: Path) -> None:
    args = ("--suite", "pope", "--data-root", str(data_root), "--limit", "3")
    assert _eval(*args, "--output", str(tmp_path / "a")).exit_code == 0
    assert _eval(*args, "--output", str(tmp_path / "b")).exit_code == 0
    first, second = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert second["suites"]["pope"]["details"]["cached"] == 3 and second["suites"]["pope"]["details"]["generated"] == 0
    assert first["results"] == second["results"]
    assert len(list(eval_cache.glob("pope-*.sqlite"))) == 1
    other = tmp_path / "pope-copy"
    shutil.copytree(data_root / "pope", other / "pope")
    third = _eval("--suite", "pope", "--data-root", str(other), "--limit", "3", "--output", str(tmp_path / "c"))
    assert third.exit_code == 0
    assert len(list(eval_cache.glob("pope-*.sqlite"))) == 2  # other data, other cache


@pytest.mark.usefixtures("fake_plugins")
def test_missing_file_exits_2_naming_it_before_the_model_loads(data_root: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "data"
    shutil.copytree(data_root, broken)
    (broken / "pope" / "coco_pope_popular.json").unlink()
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    result = _eval("--suite", "vqav2,pope", "--data-root", str(broken), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "coco_pope_popular.json" in result.output and "official POPE layout" in result.output
    assert not (tmp_path / "out" / "results.json").exists()
    no_root = _eval("--suite", "vqav2", "--output", str(tmp_path / "out"))
    assert no_root.exit_code == 2 and "--data-root" in no_root.output


@pytest.mark.usefixtures("fake_plugins")
def test_user_errors_exit_2(data_root: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    unknown = _eval("--suite", "vqa2", "--data-root", str(data_root), "--output", out)
    assert unknown.exit_code == 2 and "Did you mean 'vqav2'" in unknown.output
    adapter = _eval("--suite", "pope", "--data-root", str(data_root), "--adapter", str(tmp_path), "--output", out)
    assert adapter.exit_code == 2 and "No PEFT adapter" in adapter.output
    no_gen = _eval("--suite", "pope,consistency", "--data-root", str(data_root), "--output", out)
    assert no_gen.exit_code == 2 and "text_to_image" in no_gen.output
    assert not (tmp_path / "out" / "results.json").exists()  # failed before any suite ran
    path_on_shapes = _eval("--suite", "shapes=/somewhere", "--output", out)
    assert path_on_shapes.exit_code == 2 and "takes no data path" in path_on_shapes.output


@pytest.mark.usefixtures("fake_plugins")
def test_a_bad_adapter_or_output_exits_2_before_the_model_loads(data_root: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    no_weights, bad_json = tmp_path / "no-weights", tmp_path / "bad-json" / "adapter"
    for folder, config in ((no_weights, "{}"), (bad_json, "{bad")):
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(config)
    (bad_json / "adapter_model.safetensors").write_bytes(b"")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for args, says in (
        (["--adapter", str(no_weights)], f"The adapter folder '{no_weights}' has no weights"),
        (["--adapter", str(bad_json.parent)], f"The adapter config '{bad_json / 'adapter_config.json'}' is not valid"),
        (["--output", str(a_file)], f"--output '{a_file}' is an existing file, not a folder."),
        (["--output", str(a_file / "out")], f"Cannot create --output '{a_file / 'out'}': '{a_file}' is a file."),
    ):
        result = _eval("--suite", "pope", "--data-root", str(data_root), "--output", str(tmp_path / "out"), *args)
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and says in text and text.count("error:") == 1, result.output


@pytest.mark.usefixtures("fake_plugins")
def test_per_suite_path_and_adapter(data_root: Path, tmp_path: Path) -> None:
    from unigame_core.lora import attach_lora

    peft_model, _ = attach_lora(FakeBackend(), r=4, alpha=8, dropout=0.0)
    peft_model.save_pretrained(str(tmp_path / "run" / "adapter"))
    out = tmp_path / "out"
    result = _eval("--suite", f"pope={data_root / 'pope'}", "--adapter", str(tmp_path / "run"), "--limit", "3",
                   "--output", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["adapter"] == str(tmp_path / "run") and doc["data_root"] is None
    assert {r["adapter"] for r in doc["results"]} == {str(tmp_path / "run")}


@pytest.mark.usefixtures("fake_plugins")
def test_shapes_and_consistency_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--suite", "shapes,consistency", "--model", "fake-gen",
                                      "--limit", "6", "--output", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    metrics = {(r["suite"], r["metric"]) for r in doc["results"]}
    assert {("shapes", "test_accuracy"), ("shapes", "shift_accuracy"), ("shapes", "attack_accuracy"),
            ("consistency", "agreement"), ("consistency", "image_consistency")} <= metrics
    assert doc["suites"]["shapes"]["n"] == 6 and doc["suites"]["consistency"]["n"] == 6
    assert len(read_jsonl(out / "predictions" / "consistency.jsonl")) == 6


@pytest.mark.usefixtures("fake_plugins")
def test_evaluate_backend_checks_all_data_first_and_restores_training_mode(
        data_root: Path, tmp_path: Path, eval_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FakeBackend()
    backend.model.train()
    results = runner.evaluate_backend(backend, ["pope", "mmmu"], data_root=data_root, limit=2, batch_size=4)
    assert list(results) == ["pope", "mmmu"] and all(isinstance(r, SuiteResult) for r in results.values())
    assert results["pope"].n == 2 and results["mmmu"].n == 2
    assert backend.model.training and not eval_cache.exists()  # restored; never cached during training
    from unigame_evals.suites import POPESuite

    monkeypatch.setattr(POPESuite, "evaluate", lambda *a, **k: pytest.fail("no suite may run"))
    with pytest.raises(DataError, match="v2_OpenEnded_mscoco_val2014_questions.json"):
        runner.evaluate_backend(backend, ["pope", f"vqav2={tmp_path}"], data_root=data_root, limit=2, batch_size=4)


@pytest.mark.usefixtures("fake_plugins")
def test_suite_options_from_the_command_line_are_applied_and_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["eval", "--suite", "shapes,consistency", "--model", "fake-gen", "--output", str(out),
            "-O", "shapes.samples=5", "--suite-option", "consistency.captions=3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["suites"]["shapes"]["options"]["samples"] == 5
    assert doc["suites"]["consistency"]["options"]["captions"] == 3
    assert doc["suites"]["shapes"]["options"]["seed"] == 0  # untouched options keep their defaults
    assert doc["suites"]["shapes"]["n"] == 3 * 5  # 5 questions on each of test, shift and attack
    from unigame_shapes.world import ShapesWorld, caption_questions

    world = ShapesWorld(0, image_size=32)  # every question of the first 3 captions of the test split
    assert doc["suites"]["consistency"]["n"] == sum(len(caption_questions(world.caption_sample("test", i)[1]))
                                                    for i in range(3))


@pytest.mark.usefixtures("fake_plugins")
@pytest.mark.parametrize(("option", "message"), [
    ("shapes.sampels=5", "Suite 'shapes' has no option 'sampels'"),
    ("pope.split=x", "names suite 'pope', which is not in --suite"),
    ("shapes.samples=many", "Suite option 'shapes.samples': Value 'many' of type 'str' could not be converted"),
    ("shapes", "must look like SUITE.OPTION=VALUE"),
])
def test_bad_suite_options_exit_2_before_the_model_loads(option: str, message: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    result = CliRunner().invoke(app, ["eval", "--suite", "shapes", "--model", "fake-gen", "-O", option,
                                      "--output", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


@pytest.mark.usefixtures("fake_plugins")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"annotations": [', "is not valid JSON"),
        (b"{}", "has no 'annotations' list"),
        (b'{"annotations": []}\xff', "is not valid UTF-8"),
        ({"answers": "yes"}, "'answers' must be a non-empty list"),
        ({"answers": [{"answer": None}]}, "'answer' must be a string"),
    ],
)
def test_malformed_vqav2_annotations_exit_2_naming_the_file(data_root: Path, tmp_path: Path, text: Any,
                                                            expected: str) -> None:
    broken = tmp_path / "data"
    shutil.copytree(data_root, broken)
    annotations = broken / "vqav2" / "v2_mscoco_val2014_annotations.json"
    if isinstance(text, dict):  # one wrong field in the first annotation, the rest official
        doc = json.loads(annotations.read_text())
        doc["annotations"][0].update(text)
        text = json.dumps(doc).encode()
    annotations.write_bytes(text)
    result = _eval("--suite", "vqav2", "--data-root", str(broken), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert expected in result.output and "v2_mscoco_val2014_annotations.json" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("fake_plugins", "eval_cache")
def test_throughput_of_a_cached_run_is_not_reported_as_zero(data_root: Path, tmp_path: Path) -> None:
    """A run whose answers all come from the cache generated nothing: its answering speed is unknown (null,
    'from the answer cache'), never '0.0 samples/s'; the first run's speed is the answers over their seconds."""
    args = ("--suite", "pope", "--data-root", str(data_root), "--limit", "3")
    assert _eval(*args, "--output", str(tmp_path / "a")).exit_code == 0
    first = json.loads((tmp_path / "a" / "results.json").read_text())["suites"]["pope"]["details"]
    assert first["generated"] == 3 and first["samples_per_s"] == pytest.approx(3 / first["generation_seconds"])
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    runner.log.addHandler(handler)  # on the module's logger: the CLI's logging setup replaces the root's handlers
    try:
        assert _eval(*args, "--output", str(tmp_path / "b")).exit_code == 0
    finally:
        runner.log.removeHandler(handler)
    second = json.loads((tmp_path / "b" / "results.json").read_text())["suites"]["pope"]["details"]
    assert second["generated"] == 0 and second["samples_per_s"] is None
    lines = [r.getMessage() for r in records if r.getMessage().startswith("pope:")]
    assert len(lines) == 1 and "0.0 samples/s" not in lines[0] and "3 answers from the answer cache" in lines[0]


def saved_adapters(run: Path, *folders: str) -> None:
    from unigame_core.lora import attach_lora

    peft_model, _ = attach_lora(FakeBackend(), r=4, alpha=8, dropout=0.0)
    for folder in folders:
        peft_model.save_pretrained(str(run / folder))


@pytest.mark.usefixtures("fake_plugins")
def test_a_damaged_adapter_falls_back_to_the_newest_intact_checkpoint(data_root: Path, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    saved_adapters(run, "adapter", "checkpoints/step-2/adapter", "checkpoints/step-4/adapter")
    weights = run / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # cut short by a full disk
    (run / "checkpoints" / "step-4" / "adapter" / "adapter_model.safetensors").unlink()
    used = run / "checkpoints" / "step-2" / "adapter"
    with caplog.at_level(logging.WARNING):
        assert check_adapter(run) == used
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all(w.endswith(f"; evaluating '{used}' instead.") for w in warnings), warnings
    assert warnings[0].startswith(f"The adapter weights '{weights}' are damaged (")
    assert warnings[1].startswith(f"The adapter folder '{run / 'checkpoints' / 'step-4' / 'adapter'}' has no weights")
    result = _eval("--suite", f"pope={data_root / 'pope'}", "--adapter", str(run), "--limit", "3",
                   "--output", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["adapter"] == str(used)  # what was evaluated


@pytest.mark.usefixtures("fake_plugins")
def test_no_intact_adapter_exits_2_listing_each_before_the_model_loads(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    run = tmp_path / "run"
    saved_adapters(run, "adapter", "checkpoints/step-2/adapter")
    (run / "adapter" / "adapter_config.json").write_text("{bad")
    (run / "checkpoints" / "step-2" / "adapter" / "adapter_model.safetensors").write_bytes(b"")
    result = _eval("--suite", "pope", "--data-root", str(data_root), "--adapter", str(run), "--output",
                   str(tmp_path / "out"))
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and text.count("error:") == 1 and "Traceback" not in text, result.output
    assert f"No intact adapter in '{run}'" in text and "adapter_config.json' is not valid JSON" in text, text
    assert "step-2" in text and "are damaged" in text, text


@pytest.mark.usefixtures("fake_plugins")
def test_a_pickled_adapter_is_refused_without_suggesting_to_unpickle_it(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model must not load"))
    folder = tmp_path / "pickled"
    saved_adapters(folder, ".")
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(pickle.dumps({"weights": [1, 2]}))
    result = _eval("--suite", "pope", "--data-root", str(data_root), "--adapter", str(folder), "--output",
                   str(tmp_path / "out"))
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and text.count("error:") == 1, result.output
    assert "adapter_model.bin" in text and "must be adapter_model.safetensors" in text, text
    assert "weights_only" not in text


@pytest.mark.usefixtures("fake_plugins")
def test_an_adapter_config_that_is_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    """Reading a named pipe blocks until something writes to it: the check must come before the read."""
    import os

    folder = tmp_path / "adapter"
    saved_adapters(tmp_path, "adapter")
    (folder / "adapter_config.json").unlink()
    os.mkfifo(folder / "adapter_config.json")
    with pytest.raises(DataError, match=r"adapter_config.json' is a named pipe \(FIFO\), not a regular file"):
        check_adapter(folder)
