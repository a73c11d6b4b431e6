"""LoRA on the backend's LLM through peft, kept in fp32, saved in PEFT format."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from .errors import DataError
from .paths import adapter_folder
from .interfaces import Backend

log = logging.getLogger(__name__)


def attach_lora(
    backend: Backend, r: int, alpha: int, dropout: float, include_mlp: bool = False
) -> tuple[PeftModel, list[torch.nn.Parameter]]:
    """Inject LoRA adapters in place into ``backend.model`` (the LLM's attention projections, with ``include_mlp``
    its MLP projections too); returns the PeftModel and the fp32 trainables."""
    targets = backend.lora_target_modules(include_mlp)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    peft_model = get_peft_model(backend.model, config, autocast_adapter_dtype=True)
    return peft_model, _fp32_trainables(peft_model)


def load_adapter(
    backend: Backend, path: str | Path, trainable: bool = False
) -> tuple[PeftModel, list[torch.nn.Parameter]]:
    """Load a PEFT adapter (a run directory's ``adapter/`` or the folder itself) into ``backend.model``."""
    folder = adapter_folder(path)
    if not (folder / "adapter_config.json").exists():
        raise DataError(
            f"No PEFT adapter found in '{path}'.", "Pass a run directory (with adapter/) or an adapter folder."
        )
    peft_model = PeftModel.from_pretrained(backend.model, str(folder), is_trainable=trainable)
    params = _fp32_trainables(peft_model) if trainable else []
    if not trainable:
        peft_model.eval()
    log.info("loaded adapter from %s", folder)
    return peft_model, params


def _fp32_trainables(peft_model: PeftModel) -> list[torch.nn.Parameter]:
    params = []
    for name, p in peft_model.named_parameters():
        if p.requires_grad:
            if "lora_" not in name:
                raise RuntimeError(f"unexpected trainable parameter {name}")
            p.data = p.data.float()  # AdamW updates in fp32: bf16 would round small steps away
            params.append(p)
    return params
