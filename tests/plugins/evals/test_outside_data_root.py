"""Image paths a data file names must stay inside the suite's data folder: ``../x.png`` or an absolute path
elsewhere is refused with one sentence naming the file, unless ``--allow-outside-data-root`` is given."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.errors import DataError
from unigame_core.paths import outside_data_root_allowed
from unigame_evals.fixtures import write_mmmu, write_naturalbench, write_pope, write_pope_parquet
from unigame_evals.mmmu import read_mmmu
from unigame_evals.naturalbench import read_naturalbench
from unigame_evals.pope import check_pope, read_pope


def _png(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An image beside the data folder ``tmp_path/data``."""
    return _png(tmp_path / "secret.png")


def _pope_naming(root: Path, image: str) -> Path:
    write_pope(root, n=2)
    question_file = root / "coco_pope_random.json"
    lines = question_file.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0]) | {"image": image}
    question_file.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    return question_file


@pytest.mark.parametrize("how", ["dotdot", "absolute"])
def test_pope_question_file_naming_an_image_outside_the_folder_is_refused(tmp_path: Path, outside: Path,
                                                                          how: str) -> None:
    root = tmp_path / "data"
    name = "../../secret.png" if how == "dotdot" else str(outside)
    question_file = _pope_naming(root, name)
    with pytest.raises(DataError) as info:
        check_pope(root)
    assert info.value.message == (f"{question_file} (line 1) names the image '{name}', outside the data folder "
                                  f"'{root}'.")
    assert "--allow-outside-data-root" in str(info.value)
    with outside_data_root_allowed(True):
        items = read_pope(root, categories=("random",))
    assert Path(items[0].image).resolve() == outside.resolve()
    with pytest.raises(DataError, match="outside the data folder"):  # the switch is back off
        read_pope(root, categories=("random",))


def _rewrite_parquet(path: Path, column: str, value: dict[str, Any]) -> None:
    rows = pq.read_table(path).to_pylist()
    rows[0][column] = value
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)


def test_parquet_image_paths_outside_the_folder_are_refused(tmp_path: Path, outside: Path) -> None:
    pope = write_pope_parquet(tmp_path / "pope", n=2)
    _rewrite_parquet(pope / "data" / "test-00000-of-00001.parquet", "image", {"bytes": None, "path": "../secret.png"})
    with pytest.raises(DataError, match=r"names the image '\.\./secret\.png', outside the data folder"):
        read_pope(pope, categories=("adversarial",))

    bench = write_naturalbench(tmp_path / "nb", n=2)
    _rewrite_parquet(bench / "data" / "train-00000-of-00001.parquet", "Image_0", {"bytes": None, "path": str(outside)})
    with pytest.raises(DataError, match=f"names the image '{outside}', outside the data folder"):
        read_naturalbench(bench)

    mmmu = write_mmmu(tmp_path / "mmmu", n=2)
    _rewrite_parquet(mmmu / "Accounting" / "validation-00000-of-00001.parquet", "image_1",
                     {"bytes": None, "path": str(outside)})
    with pytest.raises(DataError, match=f"names the image '{outside}', outside the data folder"):
        read_mmmu(mmmu, "validation")
    with outside_data_root_allowed(True):
        assert read_mmmu(mmmu, "validation")[0].image == str(outside)


def test_a_path_inside_the_folder_is_fine_even_through_dotdot(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _pope_naming(root, "../val2014/COCO_val2014_000000000200.jpg")  # val2014/.. is still inside
    assert read_pope(root, categories=("random",))[0].image == str(root / "val2014" / "COCO_val2014_000000000200.jpg")


def test_the_cli_flag_allows_it_for_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import unigame_core.eval.runner as runner_module

    seen: dict[str, Any] = {}
    monkeypatch.setattr(runner_module, "run_eval", lambda **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["eval", "--suite", "pope", "--allow-outside-data-root"])
    assert result.exit_code == 0, result.output
    assert seen["allow_outside_data_root"] is True
    CliRunner().invoke(app, ["eval", "--suite", "pope"])
    assert seen["allow_outside_data_root"] is False
