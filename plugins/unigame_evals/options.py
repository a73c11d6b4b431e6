"""Options of each suite: flat dataclasses, checked like any plugin config (no heavy imports).

The defaults ``unigame eval`` starts from are in ``configs/suites/<suite>.yaml``.

``path`` overrides where a suite's data lives (default: ``<data-root>/<suite>``); on the command
line it is given as ``--suite vqav2=/data/vqa``. See docs/evaluation.md for each layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class VQAv2Options:
    path: str = ""  # folder in the official VQAv2 layout (default <data-root>/vqav2)
    split: str = "val2014"  # the COCO split named in the file names
    max_new_tokens: int = 10


@dataclass
class POPEOptions:
    path: str = ""  # coco_pope_<category>.json + val2014/, or the HF parquet data/test-*.parquet (<data-root>/pope)
    categories: list[str] = field(default_factory=lambda: ["random", "popular", "adversarial"])
    max_new_tokens: int = 10


@dataclass
class MMMUOptions:
    path: str = ""  # folder with <Subject>/<split>-*.parquet (default <data-root>/mmmu)
    split: str = "validation"
    max_new_tokens: int = 32


@dataclass
class NaturalBenchOptions:
    path: str = ""  # data/train-*.parquet (the release) or data/test-*.parquet (lmms-eval) (<data-root>/naturalbench)
    max_new_tokens: int = 16  # as lmms-eval's naturalbench task


@dataclass
class AdVQAOptions:
    path: str = ""  # the official AdVQA files and COCO val2017/ (default <data-root>/advqa)
    max_new_tokens: int = 10
