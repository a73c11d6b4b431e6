"""``unigame shapes pretrain``: make the tiny Janus-architecture UMM of the shapes world, from scratch.

Deterministic on CPU (seeded; bitwise identical reruns); ``device="cuda"`` runs the same recipe on a GPU,
seeded but not bitwise reproducible. Stages, each a plain supervised loop on the world's own data:

1. VQ autoencoder (the generation decoder): L2-normalised latents and codebook as in Janus/LlamaGen,
   straight-through, commitment loss, dead-code restarts; reconstruction MSE + L1. The generation
   targets are then fixed (:class:`GenerationTargets`: the encoder's ids with flat background set to one
   canonical code per background colour), and the decoder alone is refined with encoder and codebook
   frozen, on both the encoder's own ids and the generation targets.
2. The SigLIP-style vision tower alone on per-token shape, colour and left-to-right rank labels (a
   discarded linear head). Then understanding and generation jointly (VQ frozen, the vision tower at a
   tenth of the learning rate): vision tower + aligner + Llama on the VQA pairs (answer CE through the
   backend's own ``answer_loss``), half of the images shown as the decode of their generation targets
   (``reconstruction_fraction``), so the understander also reads images as the generator draws them;
   and the generation head on captions -> generation targets of its own batch of images (10% of
   captions dropped for classifier-free guidance; the base ships guidance scale 2).
3. A tiny CLIP (open_clip, custom config) on images and captions: the semantic gate.
4. The ``attack`` split: PGD (L_inf) against the finished base understander on test images.
5. Quality figures: PSNR, accuracy on test, and generated-image consistency, written to quality.json.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import assets
from .world import ShapesWorld, vocabulary

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    seed: int = 0
    image_size: int = assets.IMAGE_SIZE
    patch_size: int = 4
    hidden: int = 128
    layers: int = 3
    vq_channels: int = 32
    codebook: int = 1024
    batch_size: int = 32
    vq_steps: int = 1500
    vq_lr: float = 2e-3
    decoder_steps: int = 1500  # decoder refinement with the codes frozen (token ids unchanged)
    decoder_lr: float = 1e-3
    vision_steps: int = 5000  # vision tower alone on per-token shape / colour / left-to-right rank labels
    vision_lr: float = 2e-3
    joint_steps: int = 6000
    joint_batch_size: int = 16  # images per joint step; each brings every applicable question
    joint_lr: float = 2e-3
    joint_vision_lr_scale: float = 0.1  # the vision tower's joint learning rate, relative to joint_lr
    generation_batch_size: int = 64  # captions per joint step for the generation head (their own images)
    generation_weight: float = 1.0  # weight of the generation CE next to the understanding CE
    segmentation_weight: float = 1.0  # auxiliary per-token scene labels on the vision tower (0 = off)
    caption_weight: float = 1.0  # auxiliary "what is there?" -> caption answers (0 = off)
    # share of understanding images shown as the decode of their generation targets
    reconstruction_fraction: float = 0.5
    cfg_drop: float = 0.1
    guidance_scale: float = 2.0  # the base's classifier-free guidance (its generation_config), chosen on val captions
    clip_steps: int = 800
    clip_lr: float = 1e-3
    attack_n: int = 256
    attack_eps: float = 4 / 255
    attack_steps: int = 10
    eval_n: int = 256
    gen_eval_n: int = 256
    device: str = "cpu"  # where every stage runs ("cuda" on a GPU machine); the weights are saved the same way


def pixels(images: list[np.ndarray], device: str | torch.device = "cpu") -> Tensor:
    """``(H, W, 3)`` uint8 arrays -> one ``(B, 3, H, W)`` float batch in [0, 1] on ``device``."""
    return (torch.stack([torch.as_tensor(im).permute(2, 0, 1) for im in images]).float() / 255).to(device)


def _images(world: ShapesWorld, split: str, start: int, n: int, device: str = "cpu") -> Tensor:
    return pixels([world.sample(split, i).image for i in range(start, start + n)], device)


def psnr(a: Tensor, b: Tensor) -> float:
    return 10 * math.log10(1.0 / max(F.mse_loss(a, b).item(), 1e-12))


# --------------------------------------------------------------------------------------------- model
def write_initial_checkpoint(out: Path, cfg: PretrainConfig) -> Path:
    """A random tiny Janus checkpoint with the world's vocabulary and no system prompt."""
    from unigame_janus.tiny import build_processor, build_tokenizer, set_generation_defaults, tiny_config
    from transformers import JanusForConditionalGeneration

    tokenizer = build_tokenizer(vocabulary())
    config = tiny_config(tokenizer, image_size=cfg.image_size, patch_size=cfg.patch_size, hidden=cfg.hidden,
                         layers=cfg.layers, vq_channels=cfg.vq_channels, codebook=cfg.codebook)
    torch.manual_seed(cfg.seed)
    model = JanusForConditionalGeneration(config).eval()
    set_generation_defaults(model, tokenizer)
    model.generation_config.guidance_scale = cfg.guidance_scale
    model.save_pretrained(out)
    processor = build_processor(tokenizer, cfg.image_size, config.vision_config.num_image_tokens)
    processor.use_default_system_prompt = False  # short prompts: the world needs no system prompt
    processor.save_pretrained(out)
    return out


def load_backend(folder: Path, device: str = "cpu"):  # noqa: ANN201
    from unigame_janus.backend import JanusBackend
    from unigame_janus.settings import JanusSettings

    return JanusBackend(JanusSettings(checkpoint=str(folder)), device=device, dtype=torch.float32)


# --------------------------------------------------------------------------------------------- stage 1
def train_vq(backend, world: ShapesWorld, cfg: PretrainConfig) -> float:  # noqa: ANN001
    vq = backend.model.model.vqmodel
    vq.requires_grad_(True).train()
    opt = torch.optim.Adam(vq.parameters(), lr=cfg.vq_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.vq_steps)
    k = vq.quantize.embedding.weight.shape[0]
    test = _images(world, "test", 0, 64, cfg.device)
    for step in range(cfg.vq_steps):
        x = _images(world, "train", step * cfg.batch_size, cfg.batch_size, cfg.device)
        h = F.normalize(vq.quant_conv(vq.encoder(x * 2 - 1)).permute(0, 2, 3, 1), dim=-1)
        codes = F.normalize(vq.quantize.embedding.weight, dim=-1)
        ids = (h.reshape(-1, h.shape[-1]) @ codes.T).argmax(-1)
        zq = codes[ids].view(h.shape)
        commit = F.mse_loss(zq, h.detach()) + 0.25 * F.mse_loss(h, zq.detach())
        out = vq.decoder(vq.post_quant_conv((h + (zq - h).detach()).permute(0, 3, 1, 2)))
        loss = F.mse_loss(out, x * 2 - 1) + 0.5 * F.l1_loss(out, x * 2 - 1) + commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            _restart_dead_codes(vq, h.detach(), ids, k)
            log.info("vq %d/%d loss %.4f psnr %.2f", step + 1, cfg.vq_steps, loss.item(), vq_psnr(backend, test))
    vq.requires_grad_(False).eval()
    return vq_psnr(backend, test)


@torch.no_grad()
def _restart_dead_codes(vq, latents: Tensor, ids: Tensor, k: int) -> None:  # noqa: ANN001
    dead = (torch.bincount(ids, minlength=k) == 0).nonzero().flatten()
    if len(dead):
        pool = latents.reshape(-1, latents.shape[-1])
        vq.quantize.embedding.weight[dead] = pool[torch.randint(len(pool), (len(dead),)).to(pool.device)]


@torch.no_grad()
def vq_psnr(backend, images: Tensor) -> float:  # noqa: ANN001
    was = backend.model.model.vqmodel.training
    backend.model.model.vqmodel.eval()
    out = backend.decoder.decode(backend.encoder.encode(images))
    backend.model.model.vqmodel.train(was)
    return psnr(out, images)


def flat_tokens(x: Tensor, patch: int) -> tuple[Tensor, Tensor]:
    """Per VQ token of ``x`` ``(B, 3, S, S)`` in [0, 1]: whether its ``patch`` x ``patch`` pixels are all
    background, and the background colour as a 24-bit key (the top-left pixel: no object reaches it)."""
    background = x[:, :, :1, :1]
    flat = (F.max_pool2d((x - background).abs().amax(1, keepdim=True), patch) < 1e-3).flatten(1)
    weights = torch.tensor([65536, 256, 1], device=x.device)
    key = ((background.flatten(1) * 255).round().long() * weights).sum(-1)
    return flat, key[:, None].expand_as(flat)


class GenerationTargets:
    """The token ids the generation head learns: the encoder's ids with every flat background token set to
    one canonical code per background colour (the code the encoder gives such tokens most often).

    The VQ encoder's global attention mixes nearby objects into background tokens, so it spreads flat
    background over hundreds of codes per colour; a generator sampling among them draws ghost objects.
    The decoder is refined on both forms (:func:`refine_decoder`), so the encoder's own ids still decode.
    """

    def __init__(self, backend, world: ShapesWorld, cfg: PretrainConfig, n: int = 1024) -> None:  # noqa: ANN001
        self.patch = cfg.patch_size
        counts: dict[int, Tensor] = {}
        k_codes = backend.encoder.codebook.vectors.shape[0]
        for start in range(0, n, 256):
            x = _images(world, "train", 57_000_000 + start, min(256, n - start), cfg.device)
            ids = backend.encoder.encode_tokens(x)
            flat, key = flat_tokens(x, self.patch)
            for k in key[flat].unique().tolist():
                c = torch.bincount(ids[flat & (key == k)].cpu(), minlength=k_codes)
                counts[k] = counts.get(k, 0) + c
        self.canonical = {k: int(c.argmax()) for k, c in sorted(counts.items())}

    def __call__(self, x: Tensor, ids: Tensor) -> Tensor:
        flat, key = flat_tokens(x, self.patch)
        out = ids.clone()
        for k, code in self.canonical.items():
            out[flat & (key == k)] = code
        return out


# --------------------------------------------------------------------------------------------- stage 2
class CaptionPrompts:
    """Tokenised text-to-image prompts exactly as ``generate_images`` builds them (and CFG's blanks)."""

    def __init__(self, processor) -> None:  # noqa: ANN001
        self.processor = processor
        tok = processor.tokenizer
        self.bos, self.pad = tok.bos_token_id, tok.pad_token_id
        self.boi = tok.convert_tokens_to_ids(tok.boi_token)

    def __call__(self, captions: list[str], drop: Tensor) -> tuple[Tensor, Tensor]:
        texts = [self.processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": c}]}],
                                                    add_generation_prompt=True) for c in captions]
        batch = self.processor(text=texts, generation_mode="image", padding=True, return_tensors="pt")
        ids, mask = batch["input_ids"], batch["attention_mask"]
        blank = drop[:, None] & (ids != self.bos) & (ids != self.boi) & (mask > 0)
        return ids.masked_fill(blank, self.pad), mask


def generation_loss(backend, prompts: CaptionPrompts, captions: list[str],  # noqa: ANN001
                    image_ids: Tensor, drop: Tensor) -> Tensor:
    """Teacher-forced CE of the generation head on the image tokens of each caption's image."""
    model = backend.model
    ids, mask = (t.to(image_ids.device) for t in prompts(captions, drop))
    text = model.get_input_embeddings()(ids)
    image = model.prepare_embeddings_for_image_generation(image_ids[:, :-1])
    embeds = torch.cat([text, image], dim=1)
    attention = torch.cat([mask, torch.ones_like(image_ids[:, :-1])], dim=1)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=attention, position_ids=positions,
                                        use_cache=False).last_hidden_state
    p = ids.shape[1]
    logits = model.model.generation_head(hidden[:, p - 1:])
    return F.cross_entropy(logits.flatten(0, 1).float(), image_ids.flatten())


def token_objects(scene, size: int, grid: int) -> np.ndarray:  # noqa: ANN001
    """Per vision token (row-major): 0 for background, else 1 + the index of the object covering most of it."""
    from .world import SIZE_RADIUS, _shape_mask

    coords = (np.arange(size) + 0.5) / size
    ys, xs = coords[:, None], coords[None, :]
    cover = np.zeros((len(scene.objects) + 1, grid, grid))
    cover[0] = 0.25  # a token is background unless an object covers more than a quarter of it
    for k, o in enumerate(scene.objects):
        mask = _shape_mask(o.shape, xs - o.x, ys - o.y, SIZE_RADIUS[o.size]).astype(float)
        cover[k + 1] = mask.reshape(grid, size // grid, grid, size // grid).mean((1, 3))
    return cover.argmax(0).reshape(-1)


#: Classes of each per-token target of the vision stage (0 = background in each).
VISION_TARGETS: dict[str, int] = {"shape": 5, "colour": 7, "rank": 5}


def token_targets(scene, size: int, grid: int) -> Tensor:  # noqa: ANN001
    """``(tokens, 3)`` per-token targets: shape, colour and left-to-right rank of the covering object (1-based)."""
    from .world import COLOURS, SHAPES

    order = sorted(range(len(scene.objects)), key=lambda k: scene.objects[k].x)
    table = np.zeros((len(scene.objects) + 1, 3), dtype=np.int64)
    for k, o in enumerate(scene.objects):
        table[k + 1] = (1 + SHAPES.index(o.shape), 1 + list(COLOURS).index(o.colour), 1 + order.index(k))
    return torch.from_numpy(table[token_objects(scene, size, grid)])


def token_labels(scene, size: int, grid: int) -> Tensor:  # noqa: ANN001
    """Per vision token: 0 for background, else 1 + the (shape, colour) id of the object covering most of it."""
    shape, colour = token_targets(scene, size, grid)[:, :2].unbind(-1)
    return torch.where(shape > 0, (shape - 1) * (VISION_TARGETS["colour"] - 1) + colour, 0)


def train_vision(backend, world: ShapesWorld, cfg: PretrainConfig) -> float:  # noqa: ANN001
    """The vision tower alone, with a linear per-token head (discarded) on shape, colour and left-to-right
    rank of the object under each token. A ViT from scratch learns the shapes far faster this way than
    through the LLM's answers. Returns the shape accuracy on object tokens of the last 10 batches."""
    vision = backend.model.model.vision_model
    normalize = backend.understander.normalize
    grid = cfg.image_size // cfg.patch_size
    torch.manual_seed(cfg.seed + 4)
    head = torch.nn.Linear(vision.config.hidden_size, sum(VISION_TARGETS.values())).to(cfg.device)
    vision.requires_grad_(True).train()
    params = [*vision.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.vision_lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.vision_lr, total_steps=max(cfg.vision_steps, 1), pct_start=0.05
    )
    right = total = 0
    for step in range(cfg.vision_steps):
        samples = [world.sample("train", 20_000_000 + step * cfg.batch_size + i) for i in range(cfg.batch_size)]
        x = pixels([s.image for s in samples], cfg.device)
        targets = torch.stack([token_targets(s.scene, cfg.image_size, grid) for s in samples]).to(x.device)
        logits = head(vision(pixel_values=normalize(x)).last_hidden_state).split(list(VISION_TARGETS.values()), -1)
        loss = sum(F.cross_entropy(lg.flatten(0, 1), targets[..., i].flatten()) for i, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step >= cfg.vision_steps - 10:
            objects = targets[..., 0] > 0
            right += (logits[0].argmax(-1)[objects] == targets[..., 0][objects]).sum().item()
            total += objects.sum().item()
        if (step + 1) % 100 == 0:
            log.info("vision %d/%d loss %.3f", step + 1, cfg.vision_steps, loss.item())
    vision.requires_grad_(False).eval()
    return right / max(total, 1)


CAPTION_QUESTION = "what is there?"  # words of the world's vocabulary; pretraining-only auxiliary prompt


def joint_rows(samples: list, step: int, seed: int) -> tuple[list[int], list[str], list[str]]:
    """Every applicable question of every image in the batch: ``(image index, question, answer)`` columns."""
    from .world import questions

    rows = [(k, q, a) for k, s in enumerate(samples)
            for q, a, _ in questions(s.scene, np.random.default_rng([seed, step, k]))]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def train_joint(backend, world: ShapesWorld, cfg: PretrainConfig, targets: GenerationTargets) -> None:  # noqa: ANN001
    """Understanding + generation. Each image is asked all its questions at once (one vision pass, ~4x
    the answers). Two auxiliaries speed up learning and are pretraining-only: a per-token segmentation
    head on the vision tower (discarded afterwards) and "what is there?" -> caption answers, a dense,
    left-to-right reading of every object that the single-word answers lack. The generation head learns
    ``targets`` (canonical flat codes) of ``generation_batch_size`` captioned images of its own per step."""
    model = backend.model
    grid = cfg.image_size // cfg.patch_size
    seg_head = (
        torch.nn.Linear(model.config.text_config.hidden_size, 1 + 24).to(cfg.device)
        if cfg.segmentation_weight > 0
        else None
    )
    named = [(n, p) for n, p in model.named_parameters() if not n.startswith("model.vqmodel.")]
    trainable = [p for _, p in named]
    for p in trainable:
        p.requires_grad_(True)
    model.train()
    model.model.vqmodel.eval()
    extra = list(seg_head.parameters()) if seg_head is not None else []
    vision = [p for n, p in named if n.startswith("model.vision_model.")]
    rest = [p for n, p in named if not n.startswith("model.vision_model.")]
    lrs = [cfg.joint_lr * cfg.joint_vision_lr_scale, cfg.joint_lr]
    opt = torch.optim.AdamW(
        [{"params": vision, "lr": lrs[0]}, {"params": [*rest, *extra], "lr": lrs[1]}], weight_decay=0.01
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lrs, total_steps=cfg.joint_steps, pct_start=0.05)
    prompts = CaptionPrompts(backend.processor)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    u = backend.understander
    for step in range(cfg.joint_steps):
        n = cfg.joint_batch_size
        samples = [world.sample("train", step * n + i) for i in range(n)]
        x = pixels([s.image for s in samples], cfg.device)
        with torch.no_grad():
            x_und = x
            if cfg.reconstruction_fraction > 0:  # no draw when off
                pick = torch.rand(n, generator=gen) < cfg.reconstruction_fraction
                x_und = _mix_reconstructions(backend, x, targets(x, backend.encoder.encode_tokens(x)), pick)
        image_embeds = u.embed_images(x_und)
        index, qs, answers = joint_rows(samples, step, cfg.seed)
        und = u.answer_loss(image_embeds[torch.tensor(index, device=x.device)], qs, answers).mean()
        if cfg.caption_weight > 0:
            und = und + cfg.caption_weight * u.answer_loss(image_embeds, [CAPTION_QUESTION] * n,
                                                           [s.caption for s in samples]).mean()
        if seg_head is not None:
            labels = torch.stack([token_labels(s.scene, cfg.image_size, grid) for s in samples]).to(x.device)
            und = und + cfg.segmentation_weight * F.cross_entropy(
                seg_head(image_embeds).flatten(0, 1), labels.flatten()
            )
        g = cfg.generation_batch_size
        captioned = [world.sample("train", 40_000_000 + step * g + i) for i in range(g)]
        with torch.no_grad():
            xg = pixels([s.image for s in captioned], cfg.device)
            image_ids = targets(xg, backend.encoder.encode_tokens(xg))
        drop = torch.rand(g, generator=gen) < cfg.cfg_drop  # CPU generator: same draws on any device
        gen_loss = generation_loss(backend, prompts, [s.caption for s in captioned], image_ids, drop)
        loss = und + cfg.generation_weight * gen_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            log.info(
                "joint %d/%d understanding CE %.3f generation CE %.3f",
                step + 1,
                cfg.joint_steps,
                und.item(),
                gen_loss.item(),
            )
    model.requires_grad_(False).eval()


def _mix_reconstructions(backend, x: Tensor, image_ids: Tensor, pick: Tensor) -> Tensor:  # noqa: ANN001
    """``x`` with the picked images replaced by the decode of ``image_ids`` (their generation targets)."""
    if not pick.any():
        return x
    rec = backend.decoder.decode(backend.encoder.codebook.lookup(image_ids[pick.to(x.device)]))
    return x.index_put((pick.nonzero().flatten().to(x.device),), rec)


def refine_decoder(backend, world: ShapesWorld, cfg: PretrainConfig,  # noqa: ANN001
                   targets: GenerationTargets | None = None) -> float:
    """Train post_quant_conv + decoder on frozen codes (same token ids), MSE + L1; returns test PSNR.

    With ``targets``, every second image of a batch is given as its generation targets (canonical flat
    codes), so the decoder draws both the encoder's own ids and what the generation head emits."""
    torch.manual_seed(cfg.seed + 3)
    vq = backend.model.model.vqmodel
    params = [*vq.post_quant_conv.parameters(), *vq.decoder.parameters()]
    for p in params:
        p.requires_grad_(True)
    vq.decoder.train()
    opt = torch.optim.Adam(params, lr=cfg.decoder_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.decoder_steps, 1))
    test = _images(world, "test", 0, 64, cfg.device)
    for step in range(cfg.decoder_steps):
        x = _images(world, "train", 3_000_000 + step * cfg.batch_size, cfg.batch_size, cfg.device)
        ids = backend.encoder.encode_tokens(x)  # no gradient
        if targets is not None:
            ids = torch.where((torch.arange(len(ids), device=ids.device) % 2 == 1)[:, None], targets(x, ids), ids)
        out = backend.decoder.decode(backend.encoder.codebook.lookup(ids))
        loss = F.mse_loss(out, x) + 0.5 * F.l1_loss(out, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            log.info(
                "decoder %d/%d loss %.4f psnr %.2f", step + 1, cfg.decoder_steps, loss.item(), vq_psnr(backend, test)
            )
    for p in params:
        p.requires_grad_(False)
    vq.eval()
    return vq_psnr(backend, test)


# --------------------------------------------------------------------------------------------- stage 3
def train_clip(world: ShapesWorld, cfg: PretrainConfig, out_dir: Path) -> Path:
    import open_clip
    from safetensors.torch import save_file
    from unigame_clip.gate import write_model_config

    config = write_model_config(out_dir / f"{assets.CLIP_NAME}.json", embed_dim=64, image_size=cfg.image_size, patch=4,
                                width=64, layers=2, text_width=32, text_layers=2, context=32)
    open_clip.add_model_config(config)
    torch.manual_seed(cfg.seed + 2)
    model = open_clip.create_model(assets.CLIP_NAME, pretrained=None).to(cfg.device)
    tokenizer = open_clip.get_tokenizer(assets.CLIP_NAME)
    mean = model.visual.image_mean or (0.48145466, 0.4578275, 0.40821073)
    std = model.visual.image_std or (0.26862954, 0.26130258, 0.27577711)
    mean, std = (torch.tensor(v, device=cfg.device).view(1, 3, 1, 1) for v in (mean, std))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.clip_lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.clip_steps)
    model.train()
    n = 2 * cfg.batch_size
    for step in range(cfg.clip_steps):
        samples = [world.sample("train", 7_000_000 + step * n + i) for i in range(n)]
        x = pixels([s.image for s in samples], cfg.device)
        img = F.normalize(model.encode_image((x - mean) / std), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer([s.caption for s in samples]).to(cfg.device)), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        target = torch.arange(n, device=cfg.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            log.info("clip %d/%d loss %.3f", step + 1, cfg.clip_steps, loss.item())
    weights = out_dir / f"{assets.CLIP_NAME}.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
    return weights


# --------------------------------------------------------------------------------------------- stage 4
def make_attack_split(backend, world: ShapesWorld, cfg: PretrainConfig, path: Path) -> None:  # noqa: ANN001
    """PGD (L_inf, eps, 10 steps) on test images against the base understander; saved as uint8 once."""
    u = backend.understander
    images, questions, answers, ids = [], [], [], []
    for start in range(0, cfg.attack_n, 64):
        samples = [world.sample("test", 5_000_000 + i) for i in range(start, min(start + 64, cfg.attack_n))]
        x = pixels([s.image for s in samples], cfg.device)
        q, a = [s.question for s in samples], [s.answer for s in samples]
        adv = x.clone()
        step = cfg.attack_eps / 4
        for _ in range(cfg.attack_steps):
            adv.requires_grad_(True)
            loss = u.answer_loss(u.embed_images(adv), q, a).sum()
            (grad,) = torch.autograd.grad(loss, adv)
            adv = (adv.detach() + step * grad.sign()).clamp(x - cfg.attack_eps, x + cfg.attack_eps).clamp(0, 1)
        images.append((adv * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        questions += q
        answers += a
        ids += [s.id.replace("-test-", "-attack-") for s in samples]
    save_npz(path, images=np.concatenate(images), questions=np.array(questions), answers=np.array(answers),
             ids=np.array(ids), eps=np.array(cfg.attack_eps))


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so the same arrays always give the same bytes."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue())


# --------------------------------------------------------------------------------------------- stage 5
@torch.no_grad()
def accuracy(backend, samples: list, batch: int = 64) -> float:  # noqa: ANN001
    right = 0
    for i in range(0, len(samples), batch):
        part = samples[i:i + batch]
        x = pixels([s[0] for s in part], backend.device)
        preds = backend.understander.generate(x, [s[1] for s in part], max_new_tokens=3)
        right += sum(p.strip().lower() == s[2] for p, s in zip(preds, part))
    return right / max(len(samples), 1)


@torch.no_grad()
def consistency(backend, world: ShapesWorld, n: int, seed: int = 0) -> float:  # noqa: ANN001
    """Images generated from captions, then the caption's own questions answered about them."""
    from .world import caption_questions

    scenes = [world.caption_sample("test", 9_000_000 + i) for i in range(n)]
    right = total = 0
    for start in range(0, n, 32):
        part = scenes[start:start + 32]
        images = backend.generate_images([c for c, _ in part], seed=seed + start)
        for img, (_, scene) in zip(images, part):
            qa = caption_questions(scene)
            preds = backend.understander.generate(
                img[None].expand(len(qa), -1, -1, -1), [q for q, _ in qa], max_new_tokens=3
            )
            right += sum(p.strip().lower() == a for p, (_, a) in zip(preds, qa))
            total += len(qa)
    return right / max(total, 1)


def measure(backend, world: ShapesWorld, cfg: PretrainConfig) -> dict[str, float]:  # noqa: ANN001
    def split(name: str) -> list:
        return [(s.image, s.question, s.answer) for s in (world.sample(name, 6_000_000 + i) for i in range(cfg.eval_n))]

    test_images = _images(world, "test", 6_000_000, cfg.eval_n, cfg.device)
    return {
        "vq_psnr_test_db": vq_psnr(backend, test_images),
        "accuracy_test": accuracy(backend, split("test")),
        "accuracy_shift": accuracy(backend, split("shift")),
        "consistency": consistency(backend, world, cfg.gen_eval_n),
    }


# --------------------------------------------------------------------------------------------- main
def pretrain(cfg: PretrainConfig, out_dir: Path = assets.WEIGHTS) -> dict[str, float]:
    """Run every stage and write the base model, CLIP, attack split and quality.json into ``out_dir``.

    On CPU, torch's deterministic algorithms are switched on for the run: without them two runs in one
    process sometimes ended with vision-tower weights ~1e-9 apart (a backward kernel of the joint stage
    accumulating in a thread-dependent order), and such differences grow over thousands of steps.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(previous or cfg.device == "cpu")
    try:
        return _pretrain(cfg, out_dir)
    finally:
        torch.use_deterministic_algorithms(previous)


def _pretrain(cfg: PretrainConfig, out_dir: Path) -> dict[str, float]:
    torch.manual_seed(cfg.seed)
    world = ShapesWorld(cfg.seed, image_size=cfg.image_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        backend = load_backend(write_initial_checkpoint(Path(tmp) / "init", cfg), cfg.device)
        psnr_db = train_vq(backend, world, cfg)
        log.info("VQ done: PSNR %.2f dB (%.0f s)", psnr_db, time.time() - t0)
        targets = GenerationTargets(backend, world, cfg)
        log.info("canonical flat codes per background colour: %s", targets.canonical)
        log.info("decoder refinement: PSNR %.2f dB (%.0f s)", refine_decoder(backend, world, cfg, targets),
                 time.time() - t0)
        log.info("vision tower done: shape accuracy %.3f on object tokens (%.0f s)",
                 train_vision(backend, world, cfg), time.time() - t0)
        train_joint(backend, world, cfg, targets)
        log.info("understanding + generation done (%.0f s)", time.time() - t0)
        janus_dir = out_dir / "janus"
        shutil.rmtree(janus_dir, ignore_errors=True)
        backend.model.save_pretrained(janus_dir)
        backend.processor.save_pretrained(janus_dir)
    backend = load_backend(janus_dir, cfg.device)  # measure what ships, loaded the way users load it
    train_clip(world, cfg, out_dir)
    make_attack_split(backend, world, cfg, out_dir / assets.ATTACK_FILE.name)
    quality = measure(backend, world, cfg)
    from .attack import attack_samples

    quality["accuracy_attack"] = accuracy(
        backend, [(s.image, s.question, s.answer) for s in attack_samples(out_dir / assets.ATTACK_FILE.name)]
    )
    quality["seconds"] = round(time.time() - t0)
    (out_dir / assets.QUALITY_FILE.name).write_text(json.dumps({"config": asdict(cfg), "quality": quality}, indent=2))
    log.info("quality: %s", quality)
    return quality
