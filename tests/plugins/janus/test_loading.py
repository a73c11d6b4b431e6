"""Loading: a hub id from the HF cache (same code path as a folder), hub settings, errors, random weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import JanusConfig, JanusForConditionalGeneration

from unigame_core.errors import DataError
from unigame_janus.backend import JanusBackend
from unigame_janus.loading import ARCH_DIR, ARCH_FILES
from unigame_janus.settings import JANUS_PRO_1B, JANUS_PRO_7B, JanusSettings

REPO = "unigame-tests/Tiny-Janus"


def _as_hub_cache(ckpt: Path, cache: Path, revision: str = "main") -> None:
    """Lay a checkpoint folder out as the HF hub cache does (refs/<rev> -> snapshots/<commit>/...)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(ckpt, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / revision).write_text(commit)


def test_hub_id_loads_from_cache_like_a_folder(tiny_ckpt: Path, backend: JanusBackend, pixels: torch.Tensor,
                                               tmp_path: Path) -> None:
    _as_hub_cache(tiny_ckpt, tmp_path)
    hub = JanusBackend(JanusSettings(checkpoint=REPO, cache_dir=str(tmp_path), local_files_only=True))
    with torch.no_grad():
        assert torch.equal(
            hub.decoder.decode(hub.encoder.encode(pixels)), backend.decoder.decode(backend.encoder.encode(pixels))
        )
    assert hub.understander.prompts.prefix_ids == backend.understander.prompts.prefix_ids


def test_unknown_revision_or_missing_checkpoint_is_a_data_error(tiny_ckpt: Path, tmp_path: Path) -> None:
    _as_hub_cache(tiny_ckpt, tmp_path)
    with pytest.raises(DataError, match=f"Janus checkpoint '{REPO}'") as info:  # revision v9 is not cached
        JanusBackend(JanusSettings(checkpoint=REPO, cache_dir=str(tmp_path), local_files_only=True, revision="v9"))
    assert "random_weights" in str(info.value)
    with pytest.raises(DataError, match="nobody/Not-A-Janus"):
        JanusBackend(JanusSettings(checkpoint="nobody/Not-A-Janus", cache_dir=str(tmp_path), local_files_only=True))
    with pytest.raises(DataError, match="Janus checkpoint folder '.*/no-such-folder' does not exist"):
        JanusBackend(JanusSettings(checkpoint=str(tmp_path / "no-such-folder")))


def test_random_weights_from_a_folder_keep_its_architecture(tiny_ckpt: Path, backend: JanusBackend,
                                                            pixels: torch.Tensor, qa) -> None:
    rand = JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt), random_weights=True))
    shapes = {n: p.shape for n, p in backend.model.state_dict().items()}
    assert {n: p.shape for n, p in rand.model.state_dict().items()} == shapes
    assert not torch.equal(rand.model.lm_head.weight, backend.model.lm_head.weight)
    assert rand.understander.answer_loss(rand.understander.embed_images(pixels), *qa).shape == (3,)


def test_the_tiny_stand_in_of_a_hub_alias_needs_no_download(tmp_path: Path, qa) -> None:
    """`unigame bench --model janus-pro-7b backend.tiny=true`: no download, tiny architecture, generic tokenizer."""
    b = JanusBackend(JanusSettings(checkpoint=JANUS_PRO_7B, tiny=True, cache_dir=str(tmp_path)))
    assert b.stand_in is not None and "TINY STAND-IN" in b.stand_in
    assert b.model.config.text_config.hidden_size == 64
    assert b.model.config.image_token_id == b.tokenizer.convert_tokens_to_ids("<image_placeholder>")
    x = torch.rand(2, 3, b.image_size, b.image_size)
    z = b.encoder.encode(x)
    loss = b.understander.answer_loss(b.understander.embed_images(b.decoder.decode(z)), qa[0][:2], qa[1][:2])
    assert loss.shape == (2,) and torch.isfinite(loss).all()


@pytest.mark.parametrize(("ckpt", "hidden", "layers", "heads", "inter", "billions"),
                         [(JANUS_PRO_1B, 2048, 24, 16, 5632, 2.08), (JANUS_PRO_7B, 4096, 30, 32, 11008, 7.41)])
def test_shipped_architectures_are_janus_pro(ckpt: str, hidden: int, layers: int, heads: int, inter: int,
                                             billions: float) -> None:
    config = JanusConfig.from_dict(json.loads((ARCH_DIR / ARCH_FILES[ckpt]).read_text()))
    text, vision, vq = config.text_config, config.vision_config, config.vq_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.intermediate_size,
            text.vocab_size) == (hidden, layers, heads, inter, 102400)
    assert (vision.image_size, vision.patch_size, vision.hidden_size, vision.num_hidden_layers) == (384, 16, 1024, 24)
    assert vision.num_image_tokens == (384 // 16) ** 2 == vq.num_patches**2 == 576
    assert (vq.num_embeddings, vq.embed_dim) == (16384, 8) and 2 ** (len(vq.channel_multiplier) - 1) == 16
    assert vision.projection_dim == vq.projection_dim == vq.image_token_embed_dim == hidden
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)
