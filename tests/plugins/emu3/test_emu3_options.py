"""Backend options: straight-through decoding, activation checkpointing, settings validation."""

from __future__ import annotations

import pytest
import torch

from unigame_core.errors import ConfigError

QUESTIONS = ["what color is the square?", "is it red?"]
ANSWERS = ["blue", "yes"]


def test_straight_through_decoder_draws_emittable_tokens(fresh_backend, images):
    _, pixels = images
    backend = fresh_backend(straight_through=True)
    z = backend.encoder.encode(pixels)
    delta = (0.05 * torch.randn(z.shape, generator=torch.Generator().manual_seed(1))).requires_grad_(True)
    out = backend.decoder.decode(z + delta)
    snapped = backend.encoder.codebook.nearest(z + delta)
    torch.testing.assert_close(out.detach(), backend.decoder.decode_ids(snapped), rtol=0, atol=1e-6)
    out.mean().backward()
    assert delta.grad is not None and delta.grad.abs().sum() > 0  # identity gradient through the snap


def test_grad_checkpointing_keeps_the_loss_and_its_gradient(backend, fresh_backend, images):
    _, pixels = images
    checkpointed = fresh_backend(grad_checkpointing=True)
    assert checkpointed.model.model.text_model.training  # transformers checkpoints only in train mode
    assert not any(m.training for m in checkpointed.model.model.vqmodel.modules())

    def loss_and_grad(b):
        x = pixels.clone().requires_grad_(True)
        ce = b.understander.answer_loss(b.understander.embed_images(x), QUESTIONS, ANSWERS)
        ce.sum().backward()
        return ce.detach(), x.grad

    ce, grad = loss_and_grad(checkpointed)
    ce_again, _ = loss_and_grad(checkpointed)
    reference, reference_grad = loss_and_grad(backend)
    assert torch.equal(ce, ce_again)  # attention dropout is off: the game compares CE across passes
    torch.testing.assert_close(ce, reference)
    torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-6)


def test_unknown_setting_names_the_key(tiny_dir):
    from unigame_emu3.backend import Emu3Backend

    with pytest.raises(ConfigError, match="backend.soft_top_k"):
        Emu3Backend({"checkpoint": str(tiny_dir), "soft_top_k": 4})
    with pytest.raises(ConfigError, match="backend.image_size"):
        Emu3Backend({"checkpoint": str(tiny_dir), "image_size": 20})


def test_missing_checkpoint_is_a_user_error(tmp_path):
    from unigame_core.errors import DataError
    from unigame_emu3.backend import Emu3Backend

    with pytest.raises(DataError, match="Emu3 checkpoint folder .*nowhere. does not exist"):
        Emu3Backend({"checkpoint": str(tmp_path / "nowhere"), "local_files_only": True})


def test_chat_layout_reads_the_template_and_falls_back_to_emu3s(backend, caplog):
    from unigame_emu3.prompt import ChatLayout

    system = "You are a helpful assistant."
    layout = ChatLayout.from_processor(backend.processor, system)
    assert layout == ChatLayout(head=f"{system} USER: ", between="", tail=" ASSISTANT:", answer_prefix=" ")

    class Placeholder:  # a converted checkpoint whose template is a placeholder string
        chat_template = "TODO: should be almost same as llava-1.5 vicuna"
        image_token = "<image>"

        def apply_chat_template(self, messages, **kwargs):
            return self.chat_template

    with caplog.at_level("WARNING"):
        assert ChatLayout.from_processor(Placeholder(), system) == layout
    assert "chat template" in caplog.text


def test_movq_checkpointing_gives_the_same_gradient(backend, fresh_backend, images):
    _, pixels = images

    def grad_of(b):
        z = b.encoder.encode(pixels)
        delta = torch.zeros_like(z, requires_grad=True)
        ce = b.understander.answer_loss(b.understander.embed_images(b.decoder.decode(z + delta)), QUESTIONS, ANSWERS)
        ce.sum().backward()
        return ce.detach(), delta.grad

    ce, grad = grad_of(fresh_backend(movq_checkpointing=True))
    reference_ce, reference_grad = grad_of(backend)
    torch.testing.assert_close(ce, reference_ce)
    torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-7)
    assert grad.abs().sum() > 0


def test_single_code_soft_assignment_is_refused(tiny_dir):
    from unigame_emu3.backend import Emu3Backend

    with pytest.raises(ConfigError, match="soft_topk"):
        Emu3Backend({"checkpoint": str(tiny_dir), "soft_topk": 1})
