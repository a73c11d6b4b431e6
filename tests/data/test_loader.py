"""The training loader's worker processes: Ctrl-C is the main process's to handle."""

from __future__ import annotations

import signal
from typing import Any

import torch
from torch.utils.data import Dataset

from unigame_core.data.loader import make_loader


class SignalReport(Dataset):
    """Each item's question is the SIGINT handler of the process that read it."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, Any]:
        handler = signal.getsignal(signal.SIGINT)
        return {"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "question": str(handler), "answer": "a", "id": i}


def _first_questions(num_workers: int) -> list[str]:
    loader = make_loader(SignalReport(), lambda image: image, global_batch=4, seed=0, rank=0, world=1,
                         start_step=0, steps=1, num_workers=num_workers)
    return next(iter(loader))["questions"]


def test_data_workers_ignore_ctrl_c() -> None:
    assert set(_first_questions(num_workers=1)) == {str(signal.SIG_IGN)}


def test_the_main_process_keeps_its_ctrl_c_handler() -> None:
    questions = _first_questions(num_workers=0)  # read in this process: its handler is untouched
    assert set(questions) == {str(signal.getsignal(signal.SIGINT))} != {str(signal.SIG_IGN)}
