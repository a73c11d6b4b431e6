"""The shapes plugin: the embedded default end to end, the shipped base's quality, pretrain, ablation."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from headless_browser import chromium, headless
from unigame_core import plugins
from unigame_core.cli.main import app
from unigame_shapes import assets

runner = CliRunner()
pytestmark = pytest.mark.skipif(not assets.available(), reason="the shipped shapes base model is missing")


def test_default_model_is_registered_and_resolves() -> None:
    registry = plugins.backends()
    (alias,) = [a for a in registry.aliases() if a.is_default]
    assert alias.name == "shapes-tiny" and alias.target == "janus"
    from unigame_core.config import build_config

    cfg = build_config(None, None, [])
    assert cfg.backend.checkpoint == str(assets.JANUS_DIR) and cfg.data.spec == "shapes:train"
    assert cfg.gate.name == "clip" and cfg.gate.pretrained == str(assets.CLIP_WEIGHTS)


QUALITY_TARGETS = {"vq_psnr_test_db": 25.0, "accuracy_test": 0.85, "consistency": 0.70}


def _recompute() -> dict[str, float]:
    """PSNR, accuracy and consistency of the shipped base on a small sample (quality.json has the full figures)."""
    from unigame_shapes.pretrain import _images, accuracy, consistency, load_backend, vq_psnr
    from unigame_shapes.world import ShapesWorld

    backend = load_backend(assets.JANUS_DIR)
    world = ShapesWorld(0, image_size=assets.IMAGE_SIZE)
    test = [(s.image, s.question, s.answer) for s in (world.sample("test", 6_000_000 + i) for i in range(128))]
    return {
        "vq_psnr_test_db": vq_psnr(backend, _images(world, "test", 6_000_000, 64)),
        "accuracy_test": accuracy(backend, test),
        "consistency": consistency(backend, world, 32),  # the first 32 of quality.json's images, exactly
    }


@pytest.fixture(scope="module")
def recomputed() -> dict[str, float]:
    return _recompute()


@pytest.mark.slow
def test_documented_quality_is_what_the_shipped_base_measures(recomputed: dict[str, float]) -> None:
    shipped = json.loads(assets.QUALITY_FILE.read_text())["quality"]
    # the same stream of test samples (first 64/128 of the 256 used for quality.json): close agreement
    assert recomputed["vq_psnr_test_db"] == pytest.approx(shipped["vq_psnr_test_db"], abs=1.0)
    assert recomputed["accuracy_test"] == pytest.approx(shipped["accuracy_test"], abs=0.12)
    assert recomputed["consistency"] == pytest.approx(shipped["consistency"], abs=0.1)
    size_mb = sum(p.stat().st_size for p in assets.WEIGHTS.rglob("*") if p.is_file()) / 2**20
    assert size_mb < 20


def test_shipped_base_meets_the_quality_targets() -> None:
    shipped = json.loads(assets.QUALITY_FILE.read_text())["quality"]
    missed = {k: round(shipped[k], 3) for k, target in QUALITY_TARGETS.items() if shipped[k] < target}
    assert not missed, f"the shipped shapes base misses its quality targets: {missed} (targets {QUALITY_TARGETS})"


@pytest.mark.slow
def test_unigame_train_with_no_arguments_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "train.steps=4", "train.eval_limit=24", "train.sample_every=2",
                                 ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "unigame"
    rows = json.loads((run / "before_after.json").read_text())
    metrics = {(r["suite"], r["metric"]) for r in rows}
    assert {("shapes", "test_accuracy"), ("shapes", "shift_accuracy"), ("shapes", "attack_accuracy")} <= metrics
    assert ("consistency", "agreement") in metrics
    assert all(0.0 <= r["before"] <= 1.0 and 0.0 <= r["after"] <= 1.0 for r in rows)
    split = next(r for r in rows if r["metric"] == "test_accuracy")  # each split's own n, a paired verdict
    assert split["n_before"] == split["n_after"] == 8 and split["paired"] is True and split["verdict"]
    assert len(split["before_ci95"]) == 2 and len(split["change_ci95"]) == 2
    assert (run / "adapter" / "adapter_model.safetensors").exists() and (run / "samples" / "step-2.png").exists()
    assert "before" in result.output and "after" in result.output
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))  # the default logger
    dom = headless(chromium(), "--dump-dom", (run / "report.html").resolve().as_uri())  # the default report renders
    assert dom.returncode == 0, dom.stderr[-2000:]
    charts = re.search(r'data-charts-ready="(\d+)"', dom.stdout)  # the page's script drew every chart
    assert charts and int(charts.group(1)) > 0
    assert "test_accuracy" in dom.stdout and "<img" in dom.stdout  # the before/after table, the sample grid


@pytest.mark.slow
def test_ablation_command_writes_intervals_json_csv_plot_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    args = ["study", "ablation", "--output", str(out), "--rows", "sft,decoder-eps0", "--seeds", "1", "--steps", "2",
            "--eval-samples", "4", "--consistency", "0", "--attack-steps", "1", "--bootstrap", "50"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "| sft | 1 |" in table and "| decoder-eps0 | 1 |" in table and "| base (no training) | 1 |" in table
    assert "| sft - decoder-eps0 | 1 |" in table and "nuisance" in table and "attack (adaptive" in table
    assert "Pre-stated reading: not evaluable" in table  # no full row here
    summary = json.loads((out / "summary.json").read_text())
    cell = summary["rows"]["sft"]["test"]
    assert cell["low"] <= cell["point"] <= cell["high"] and cell["units"] == 4 and cell["seeds"] == 1
    assert set(summary["rows"]["sft"]) == {"test", "nuisance", "attack_fixed", "attack_adaptive", "attack_pixels"}
    assert summary["settings"]["rows"]["decoder-eps0"]["overrides"][-2:] == ["game.eps_max=0.0", "game.refine_steps=0"]
    csv_rows = (out / "summary.csv").read_text().splitlines()
    assert csv_rows[0] == "kind,name,metric,point,low,high,seeds,units" and len(csv_rows) == 1 + 3 * 5 + 2 * 5
    assert (out / "ablation.svg").read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    scores = out / "sft" / "seed-0" / "scores.json"
    stamp = scores.stat().st_mtime_ns
    again = runner.invoke(app, args)  # every run is already scored with these settings: nothing is retrained
    assert again.exit_code == 0 and scores.stat().st_mtime_ns == stamp and "already scored" in again.output
    # a study in progress: --report-only tables the scored runs (seed 0 of 3) and trains nothing
    (out / "table.md").unlink()
    partial = runner.invoke(app, [*args[:7], "3", *args[8:], "--report-only"])
    assert partial.exit_code == 0, partial.output
    assert "| sft | 1 |" in (out / "table.md").read_text() and not (out / "sft" / "seed-1").exists()
    assert json.loads((out / "summary.json").read_text())["settings"]["scored_seeds"]["sft"] == [0]
    other = runner.invoke(app, [*args, "--steps", "3", "--report-only"])  # other settings: nothing is scored
    assert other.exit_code == 2 and "is scored with these settings" in " ".join(other.output.split()), other.output


def test_ablation_refuses_an_unknown_row_before_training(tmp_path: Path) -> None:
    result = runner.invoke(app, ["study", "ablation", "--output", str(tmp_path / "a"), "--rows", "sft,nope"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Row 'nope' is neither a study row nor an ablation preset" in text
    assert "The study's rows: sft, decoder-eps0," in text and not (tmp_path / "a").exists()


def test_study_and_pretrain_refuse_an_output_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for command in (["study", "ablation", "--rows", "sft"], ["shapes", "pretrain"]):
        result = runner.invoke(app, [*command, "--output", str(a_file / "sub")])
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and f"'{a_file}' is a file." in text and text.count("error:") == 1, text


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.npz")):
        h.update(p.read_bytes())
    return h.hexdigest()


def test_vision_stage_targets_name_the_object_under_each_token() -> None:
    from unigame_shapes.pretrain import token_labels, token_targets
    from unigame_shapes.world import Obj, Scene

    # listed right to left: the rank must follow x, not the order of the objects
    square = Obj(shape="square", colour="blue", size="large", x=0.75, y=0.5)
    circle = Obj(shape="circle", colour="red", size="large", x=0.25, y=0.5)
    targets = token_targets(Scene(objects=(square, circle), background="black"), size=32, grid=8)
    assert targets.shape == (64, 3)
    assert targets[4 * 8 + 2].tolist() == [1, 1, 1]  # circle (shape 1), red (colour 1), leftmost (rank 1)
    assert targets[4 * 8 + 6].tolist() == [2, 3, 2]  # square, blue (third colour), second from the left
    assert targets[0].tolist() == [0, 0, 0]  # background corner
    # the joint stage's combined (shape, colour) labels agree with the factorised targets token by token
    combo = token_labels(Scene(objects=(square, circle), background="black"), size=32, grid=8)
    assert torch.equal(combo > 0, targets[:, 0] > 0)
    assert torch.equal(combo[combo > 0], (targets[:, 0][combo > 0] - 1) * 6 + targets[:, 1][combo > 0])


def test_joint_rows_ask_every_applicable_question_of_every_image() -> None:
    from unigame_shapes.pretrain import joint_rows
    from unigame_shapes.world import ShapesWorld, caption_questions

    world = ShapesWorld(0, image_size=32)
    samples = [world.sample("train", i) for i in range(6)]
    index, qs, answers = joint_rows(samples, step=3, seed=0)
    assert index == sorted(index) and set(index) == set(range(6))
    for k, s in enumerate(samples):
        mine = [(q, a) for i, q, a in zip(index, qs, answers) if i == k]
        n = len(s.scene.objects)
        assert sum(q.startswith("is there") for q, _ in mine) == 1
        assert sum(" of the " in q for q, _ in mine) == (1 if n >= 2 else 0)  # the left/right relation
        assert ("how many shapes are there?", ["zero", "one", "two", "three", "four"][n]) in mine
        truth = dict(caption_questions(s.scene))
        assert all(truth.get(q, a) == a for q, a in mine if q.startswith("what color"))
    assert joint_rows(samples, step=3, seed=0) == (index, qs, answers)


def test_joint_stage_shows_the_picked_images_as_the_decode_of_their_tokens() -> None:
    from unigame_shapes.pretrain import _mix_reconstructions, load_backend, pixels
    from unigame_shapes.world import ShapesWorld

    backend = load_backend(assets.JANUS_DIR)
    x = pixels([ShapesWorld(0, image_size=assets.IMAGE_SIZE).sample("train", i).image for i in range(4)])
    ids = backend.encoder.encode_tokens(x)
    with torch.no_grad():
        mixed = _mix_reconstructions(backend, x, ids, torch.tensor([True, False, True, False]))
        round_trip = backend.decoder.decode(backend.encoder.encode(x))
    assert torch.equal(mixed[[1, 3]], x[[1, 3]])  # unpicked images untouched
    torch.testing.assert_close(mixed[[0, 2]], round_trip[[0, 2]])  # picked: the decode of the given tokens
    assert (mixed[0] - x[0]).abs().max() > 0.05
    assert _mix_reconstructions(backend, x, ids, torch.zeros(4, dtype=torch.bool)) is x


def _targets(backend, n: int = 64):  # noqa: ANN001, ANN202
    from unigame_shapes.pretrain import GenerationTargets, PretrainConfig
    from unigame_shapes.world import ShapesWorld

    return GenerationTargets(backend, ShapesWorld(0, image_size=assets.IMAGE_SIZE), PretrainConfig(), n=n)


def test_flat_tokens_on_a_known_scene() -> None:
    from unigame_shapes.pretrain import flat_tokens, pixels
    from unigame_shapes.world import Obj, Scene, render

    scene = Scene(objects=(Obj("square", "red", "small", 0.25, 0.25),), background="gray")
    flat, key = flat_tokens(pixels([render(scene, 32), render(Scene((), "navy"), 32)]), patch=4)
    assert flat.shape == key.shape == (2, 64)
    grid = flat[0].view(8, 8)
    covered = ~grid  # the square (half side 0.09 / sqrt 2 of 32 px, centred at pixel 8) covers tokens 1-2 x 1-2
    assert covered[1:3, 1:3].all() and covered.sum() == 4
    assert flat[1].all()
    assert key[0].unique().tolist() == [128 * 65536 + 128 * 256 + 128]
    assert key[1].unique().tolist() == [20 * 65536 + 25 * 256 + 80]


def test_generation_targets_give_flat_background_one_code_per_colour() -> None:
    from unigame_shapes.pretrain import flat_tokens, load_backend, pixels
    from unigame_shapes.world import BACKGROUNDS, ShapesWorld

    backend = load_backend(assets.JANUS_DIR)
    targets = _targets(backend)
    assert len(targets.canonical) == len(BACKGROUNDS)
    world = ShapesWorld(0, image_size=assets.IMAGE_SIZE)
    x = pixels([world.sample("test", i).image for i in range(16)] + [world.sample("shift", 0).image])
    ids = backend.encoder.encode_tokens(x)
    out = targets(x, ids)
    flat, key = flat_tokens(x, 4)
    assert torch.equal(out[~flat], ids[~flat])  # object tokens keep the encoder's ids
    for k, code in targets.canonical.items():
        assert (out[flat & (key == k)] == code).all()
    assert torch.equal(out[-1], ids[-1])  # an unseen (shift) background keeps its own codes
    assert len(ids[:-1][flat[:-1]].unique()) > len(targets.canonical)  # the encoder's own ids do spread


@pytest.mark.slow
def test_decoder_refinement_sees_both_token_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    import unigame_shapes.pretrain as module
    from unigame_shapes.world import ShapesWorld

    backend = module.load_backend(assets.JANUS_DIR)
    targets = _targets(backend)
    seen = []
    real = backend.decoder.decode
    monkeypatch.setattr(
        backend.decoder, "decode", lambda z: seen.append(backend.encoder.codebook.nearest(z)) or real(z)
    )
    cfg = module.PretrainConfig(decoder_steps=1, batch_size=4)
    world = ShapesWorld(0, image_size=assets.IMAGE_SIZE)
    module.refine_decoder(backend, world, cfg, targets)
    x = module._images(world, "train", 3_000_000, 4)
    ids = backend.encoder.encode_tokens(x)
    assert torch.equal(seen[0][0::2], ids[0::2]) and torch.equal(seen[0][1::2], targets(x, ids)[1::2])
    assert not torch.equal(seen[0][1::2], ids[1::2])


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_joint_stage_mixes_reconstructions_only_when_asked(fraction: float, monkeypatch: pytest.MonkeyPatch) -> None:
    import unigame_shapes.pretrain as module
    from unigame_shapes.world import ShapesWorld

    picks, losses = [], []
    real_mix, real_loss = module._mix_reconstructions, module.generation_loss
    monkeypatch.setattr(
        module, "_mix_reconstructions", lambda b, x, ids, pick: picks.append(pick) or real_mix(b, x, ids, pick)
    )
    monkeypatch.setattr(module, "generation_loss",
                        lambda b, p, caps, ids, drop: losses.append((caps, ids)) or real_loss(b, p, caps, ids, drop))
    backend = module.load_backend(assets.JANUS_DIR)
    targets = _targets(backend, n=16)
    cfg = module.PretrainConfig(
        joint_steps=2, joint_batch_size=2, generation_batch_size=3, reconstruction_fraction=fraction
    )
    world = ShapesWorld(0, image_size=assets.IMAGE_SIZE)
    module.train_joint(backend, world, cfg, targets)
    assert [p.tolist() for p in picks] == ([[True, True]] * 2 if fraction else [])
    captions, ids = losses[1]  # step 1: its own captioned images, as generation targets
    samples = [world.sample("train", 40_000_000 + 3 + i) for i in range(3)]
    assert captions == [s.caption for s in samples] and ids.shape == (3, 64)
    x = module.pixels([s.image for s in samples])
    torch.testing.assert_close(ids, targets(x, backend.encoder.encode_tokens(x)))


@pytest.mark.slow
def test_pretrain_is_deterministic(tmp_path: Path) -> None:
    from unigame_shapes.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(vq_steps=2, vision_steps=2, joint_steps=2, clip_steps=2, attack_n=4, attack_steps=1, eval_n=4,
                         gen_eval_n=1, batch_size=4, joint_batch_size=2, decoder_steps=2)
    a = pretrain(cfg, tmp_path / "a")
    b = pretrain(cfg, tmp_path / "b")
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert not torch.are_deterministic_algorithms_enabled()  # switched on for the run only
    assert (tmp_path / "a" / "janus" / "config.json").exists() and (tmp_path / "a" / "attack.npz").exists()
    torch.set_num_threads(max(1, torch.get_num_threads()))


def test_pretrain_command_passes_its_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unigame_shapes.pretrain as module

    seen = {}

    def fake_pretrain(cfg, out_dir):  # noqa: ANN001, ANN202
        seen.update(cfg=cfg, out=out_dir)
        return {"accuracy_test": 0.5}

    monkeypatch.setattr(module, "pretrain", fake_pretrain)
    args = ["shapes", "pretrain", "-o", str(tmp_path), "--joint-steps", "7", "--joint-batch-size", "3",
            "--vision-steps", "5", "--seed", "2", "--device", "cpu", "--reconstruction-fraction", "0.25"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert (cfg.joint_steps, cfg.joint_batch_size, cfg.vision_steps, cfg.seed, cfg.device, seen["out"]) == \
        (7, 3, 5, 2, "cpu", tmp_path)
    assert cfg.reconstruction_fraction == 0.25
    assert cfg.vq_steps == module.PretrainConfig().vq_steps  # untouched options keep the recipe's defaults


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "tpu"], "--device must be cpu, cuda or cuda:N"),
    (["--joint-steps", "0"], "--joint-steps must be at least 1"),
    (["--reconstruction-fraction", "1.5"], "--reconstruction-fraction must be between 0 and 1"),
])
def test_pretrain_command_rejects_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["shapes", "pretrain", "-o", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_pretrain_command_on_cuda_without_a_gpu_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["shapes", "pretrain", "-o", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2
    assert "has no CUDA GPU" in " ".join(result.output.split())


def test_attack_file_bytes_do_not_depend_on_the_clock(tmp_path: Path) -> None:
    import zipfile

    import numpy as np

    from unigame_shapes.pretrain import save_npz

    arrays = {"images": np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3), "answers": np.array(["yes", "two"])}
    save_npz(tmp_path / "a.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # no timestamp of the run
    loaded = np.load(tmp_path / "a.npz")
    assert (loaded["images"] == arrays["images"]).all() and loaded["answers"].tolist() == ["yes", "two"]


@pytest.mark.slow
def test_ablation_scores_consistency_on_the_asked_number_of_captions(monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.config import build_config
    from unigame_janus.backend import JanusBackend
    from unigame_shapes.study import EvalSettings, score_run

    prompts: list[str] = []
    real = JanusBackend.generate_images
    monkeypatch.setattr(JanusBackend, "generate_images", lambda self, p, **kw: prompts.extend(p) or real(self, p, **kw))
    units = score_run(build_config(None, None, ["train.eval_suites=[]"]), None,
                      EvalSettings(questions=4, captions=3, attack_steps=1))
    assert len(prompts) == 3  # three images, every one of their questions (not a question count)
    assert set(units["consistency"]) == {"0", "1", "2"}  # one unit per image: (right answers, questions)
    assert all(0 <= right <= asked and asked >= 2 for right, asked in units["consistency"].values())
    assert all(len(units[m]) == 4 for m in ("test", "nuisance", "attack_fixed", "attack_adaptive", "attack_pixels"))
    assert all(k.startswith("shapes-0-nuisance-") for k in units["nuisance"])
