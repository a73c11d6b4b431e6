"""The command line's help and global flags: no `<bool>` beside a flag (typer >= 0.2x showed it, as if
`--overwrite` took a value), `--verbose` after the subcommand too, third-party INFO silenced."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("args", [["train", "--help"], ["bench", "--help"], ["eval", "--help"], ["--help"],
                                  ["models", "--help"], ["models", "list", "--help"], ["shapes", "--help"]])
def test_help_shows_no_bool_placeholder_beside_a_flag(args: list[str]) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output, result.output


def test_train_help_names_what_each_option_takes() -> None:
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "120"}).output
    for shown in ("--overwrite", "--verbose", "KIND:LOCATION", "NAME|DIR"):
        assert shown in text, (shown, text)


def test_verbose_after_the_subcommand_shows_the_traceback() -> None:
    result = runner.invoke(app, ["train", "--verbose", "--model", "jnus-pro-7b"])
    assert result.exit_code == 2 and "Traceback" in result.output, result.output
    quiet = runner.invoke(app, ["train", "--model", "jnus-pro-7b"])
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output


def test_verbose_after_a_nested_subcommand_turns_on_debug_logging() -> None:
    result = runner.invoke(app, ["models", "list", "-v"])
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG
    runner.invoke(app, ["models", "list"])
    assert logging.getLogger().level == logging.INFO


def _shown(name: str, level: int) -> bool:
    """Whether the handler ``setup_logging`` installed lets a record of logger ``name`` through."""
    record = logging.LogRecord(name, level, __file__, 1, "message", None, None)
    return logging.getLogger(name).isEnabledFor(level) and all(h.filter(record) for h in logging.getLogger().handlers)


@pytest.mark.parametrize("name", ["root", "transformers.modeling_utils", "httpx", "huggingface_hub.file_download",
                                  "timm.models", "accelerate.utils", "torch.distributed"])
def test_third_party_info_is_silenced_unless_verbose(name: str) -> None:
    """``root``: open_clip logs on the root logger (``logging.info(...)``), our code never does."""
    from unigame_core.console import setup_logging

    try:
        setup_logging(False)
        assert not _shown(name, logging.INFO) and _shown(name, logging.WARNING)
        assert _shown("unigame_core.run.runner", logging.INFO) and _shown("unigame_janus.backend", logging.INFO)
        setup_logging(True)
        assert _shown(name, logging.INFO) and _shown("unigame_core.run.runner", logging.DEBUG)
    finally:
        setup_logging(False)
