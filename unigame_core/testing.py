"""A tiny pure-torch unified model and data source for tests and for plugin authors.

``FakeBackend`` implements every role of ``unigame_core.interfaces.Backend`` with a few thousand
parameters: a patch encoder whose normalised tokens a linear decoder turns back into pixels, a
patch-embedding vision side and a 2-layer causal transformer "LLM" with q/k/v/o projections that
LoRA can target. The data source ``fake:N`` draws N coloured-square images with colour questions.
Register both in-process with ``unigame_core.plugins.register_plugin(unigame_core.testing, "fake")``.
``check_backend(backend)`` checks any backend against the contract the game relies on (a plugin
author's conformance test; see docs/plugins.md); ``play_step(backend)`` plays one full game step on it;
``tiled_init()`` makes building a real-width model with random weights cheap (tests of real architectures);
``saved_keys`` and ``key_patterns`` compare a model's checkpoint names with an official list.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from .conformance import check_backend
from .errors import CapabilityError
from .hookspecs import hookimpl
from .interfaces import Backend, Decoder, SharedTokenEncoder, Understander
from .registry import Registry

PAD, EOS, SEP = 0, 1, 2
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 230, 20)}


@dataclass
class FakeSettings:
    checkpoint: str = ""
    image_size: int = 16
    patch: int = 4
    token_dim: int = 8
    width: int = 32
    layers: int = 2
    vocab: int = 97
    seed: int = 0


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(width, width) for _ in range(4))
        self.up_proj, self.down_proj = nn.Linear(width, 2 * width), nn.Linear(2 * width, width)
        self.n1, self.n2 = nn.LayerNorm(width), nn.LayerNorm(width)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.n1(x)
        q, k, v = (proj(h)[:, None] for proj in (self.q_proj, self.k_proj, self.v_proj))  # one head
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)[:, 0]
        x = x + self.o_proj(att)
        return x + self.down_proj(F.gelu(self.up_proj(self.n2(x))))


class FakeUMM(nn.Module):
    def __init__(self, s: FakeSettings) -> None:
        super().__init__()
        p2 = 3 * s.patch * s.patch
        self.s = s
        self.vq_encoder = nn.Linear(p2, s.token_dim)
        self.vq_decoder = nn.Linear(s.token_dim, p2)
        self.vision = nn.Linear(p2, s.width)
        self.embed = nn.Embedding(s.vocab, s.width)
        self.pos = nn.Parameter(torch.randn(256, s.width) * 0.02)
        self.language_model = nn.ModuleList(Block(s.width) for _ in range(s.layers))
        self.norm = nn.LayerNorm(s.width)
        self.lm_head = nn.Linear(s.width, s.vocab, bias=False)


class FakeTransform:
    """uint8 (3, H, W) -> uint8 (3, S, S) by bilinear resize (picklable)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Tensor) -> Tensor:
        out = F.interpolate(image[None].float(), size=(self.size, self.size), mode="bilinear", align_corners=False)
        return out[0].round().clamp(0, 255).to(torch.uint8)


class _Roles(SharedTokenEncoder, Decoder, Understander):
    def __init__(self, model: FakeUMM) -> None:
        self.m = model
        self.words: dict[int, str] = {}

    def _patches(self, pixels: Tensor) -> Tensor:
        p = self.m.s.patch
        x = F.unfold(pixels.float() * 2 - 1, kernel_size=p, stride=p)  # (B, 3*p*p, N)
        return x.transpose(1, 2)

    # SharedTokenEncoder
    def encode(self, pixels: Tensor) -> Tensor:
        with torch.no_grad():
            return F.normalize(self.m.vq_encoder(self._patches(pixels)), dim=-1)

    @property
    def token_shape(self) -> tuple[int, int]:
        return ((self.m.s.image_size // self.m.s.patch) ** 2, self.m.s.token_dim)

    # Decoder
    def decode(self, tokens: Tensor) -> Tensor:
        s, p = self.m.s.image_size, self.m.s.patch
        patches = self.m.vq_decoder(tokens.float()).transpose(1, 2)
        return torch.sigmoid(F.fold(patches, output_size=(s, s), kernel_size=p, stride=p) * 2)

    # Understander
    def embed_images(self, pixels: Tensor) -> Tensor:
        return self.m.vision(self._patches(pixels))

    @property
    def embedding_dim(self) -> int:
        return self.m.s.width

    def tokenize(self, text: str) -> list[int]:
        ids = []
        for w in text.lower().replace("?", " ?").split():
            i = 3 + zlib.crc32(w.encode()) % (self.m.s.vocab - 3)
            self.words.setdefault(i, w)
            ids.append(i)
        return ids

    def _trunk(self, embeds: Tensor, attn_pad: Tensor) -> Tensor:
        n = embeds.shape[1]
        x = embeds + self.m.pos[:n]
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        mask = (causal[None] & attn_pad[:, None, :]) | torch.eye(n, dtype=torch.bool, device=x.device)[None]
        for block in self.m.language_model:
            x = block(x, mask[:, None])
        return self.m.norm(x)

    def _sequence(self, image_embeds: Tensor, prompts: list[list[int]]) -> tuple[Tensor, Tensor, int]:
        """Left-padded [pad | image | prompt] sequences; returns embeds, key mask, length."""
        b, n_img = image_embeds.shape[:2]
        longest = max(len(t) for t in prompts)
        ids = torch.full((b, longest), PAD, dtype=torch.long, device=image_embeds.device)
        keep = torch.zeros(b, n_img + longest, dtype=torch.bool, device=image_embeds.device)
        for i, t in enumerate(prompts):
            ids[i, longest - len(t):] = torch.tensor(t, device=ids.device)
            keep[i, :n_img] = True
            keep[i, n_img + longest - len(t):] = True
        text = self.m.embed(ids)
        # image first then left-padded text would leave a gap: roll pads to the very front instead
        seq = torch.cat([image_embeds.to(text.dtype), text], dim=1)
        order = torch.argsort(keep.int(), dim=1, stable=True)
        seq = torch.gather(seq, 1, order[..., None].expand_as(seq))
        keep = torch.gather(keep, 1, order)
        return seq, keep, n_img + longest

    def answer_loss(self, image_embeds: Tensor, questions: Sequence[str], answers: Sequence[str]) -> Tensor:
        prompts, targets = [], []
        for q, a in zip(questions, answers):
            ans = self.tokenize(a) + [EOS]
            prompts.append(self.tokenize(q) + [SEP] + ans[:-1])
            targets.append(ans)
        seq, keep, n = self._sequence(image_embeds, prompts)
        hidden = self._trunk(seq, keep)
        losses = []
        for i, t in enumerate(targets):  # only answer positions reach the LM head
            h = hidden[i, n - len(t):]
            logits = self.m.lm_head(h).float()
            losses.append(F.cross_entropy(logits, torch.tensor(t, device=logits.device)))
        return torch.stack(losses)

    @torch.no_grad()
    def generate(self, pixels: Tensor, questions: Sequence[str], max_new_tokens: int = 4) -> list[str]:
        embeds = self.embed_images(pixels)
        prompts = [self.tokenize(q) + [SEP] for q in questions]
        outs: list[list[int]] = [[] for _ in questions]
        done = [False] * len(questions)
        for _ in range(max_new_tokens):
            seq, keep, _ = self._sequence(embeds, [p + o for p, o in zip(prompts, outs)])
            nxt = self.m.lm_head(self._trunk(seq, keep)[:, -1]).argmax(-1).tolist()
            for i, t in enumerate(nxt):
                if not done[i]:
                    done[i] = t == EOS
                    if not done[i]:
                        outs[i].append(t)
            if all(done):
                break
        return [" ".join(self.words.get(t, "?") for t in o) for o in outs]


class FakeBackend(Backend):

    def __init__(
        self, settings: Any = None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> None:
        s = (
            settings
            if isinstance(settings, FakeSettings)
            else FakeSettings(**{k: v for k, v in dict(settings or {}).items() if k != "name"})
        )
        torch.manual_seed(s.seed)
        self.settings = s
        self._model = FakeUMM(s).to(device=device, dtype=dtype)
        self._model.requires_grad_(False).eval()
        self._roles = _Roles(self._model)
        self.device, self.dtype = torch.device(device), dtype

    encoder = property(lambda self: self._roles)
    decoder = property(lambda self: self._roles)
    understander = property(lambda self: self._roles)
    model = property(lambda self: self._model)
    image_size = property(lambda self: self.settings.image_size)
    capabilities = property(lambda self: frozenset())

    def lora_target_modules(self, include_mlp: bool = False) -> str:
        mlp = "|up_proj|down_proj" if include_mlp else ""
        return rf"language_model\.\d+\.(q_proj|k_proj|v_proj|o_proj{mlp})"

    def image_transform(self) -> Callable[[Tensor], Tensor]:
        return FakeTransform(self.settings.image_size)

    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0) -> Tensor:
        raise CapabilityError("The fake backend cannot generate images.")


class FakeVQA(Dataset):
    """N images of one coloured square on black; question 'what color is the square?'."""

    def __init__(self, n: int, seed: int = 0, size: int = 16) -> None:
        self.n, self.seed, self.size = n, seed, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(self.seed * 7919 + i)
        name = list(COLOURS)[int(torch.randint(len(COLOURS), (1,), generator=g))]
        img = torch.zeros(3, self.size, self.size, dtype=torch.uint8)
        x, y = (int(v) for v in torch.randint(0, self.size // 2, (2,), generator=g))
        half = self.size // 2
        img[:, y:y + half, x:x + half] = torch.tensor(COLOURS[name], dtype=torch.uint8)[:, None, None]
        return {"id": f"fake-{i}", "image": img, "question": "what color is the square?", "answer": name}


def fake_dataset(location: str, *, image_errors: str = "skip", seed: int = 0) -> FakeVQA:
    return FakeVQA(int(location or 64), seed=seed)


def script_answers(backend: Backend, answer: Callable[[str], str]) -> list[tuple[int, int]]:
    """Make ``backend`` answer ``answer(question)`` (suite tests); returns each call's (batch size, max_new_tokens)."""
    calls: list[tuple[int, int]] = []

    def generate(pixels: Tensor, questions: Sequence[str], max_new_tokens: int = 16) -> list[str]:
        assert pixels.dtype == torch.float32 and pixels.shape[1:] == (3, backend.image_size, backend.image_size)
        assert 0.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0
        calls.append((len(questions), max_new_tokens))
        return [answer(q) for q in questions]

    backend.understander.generate = generate  # type: ignore[method-assign]
    return calls


def quick_overrides(output_dir: object, *extra: str) -> list[str]:
    """Config overrides for quick, deterministic CPU runs of the fake backend (tests, examples)."""
    return [
        "data.spec=fake:64", "gate.name=none", "train.batch_size=8", "train.device=cpu",
        f"train.output_dir={output_dir}", "optim.lr_lora=1e-2", "optim.lr_perturber=1e-2", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=0", "buffer.tau_mode=absolute", "game.eps_max=0.5", *extra,
    ]


def play_step(backend: Backend, *overrides: str, batch_size: int = 2, seed: int = 0) -> Any:
    """One full game step on ``backend`` as training plays it (LoRA attached, perturber turn with refinement,
    gate, mining, understander turn with a buffer draw) on seeded random pixels; returns its ``StepMetrics``.

    The rules are the built-in defaults plus ``overrides`` (``key=value``; the gate is ``none`` unless one
    is named). The LoRA adapter stays attached (build a fresh backend for anything else).
    """
    from .config import build_config
    from .game.step import game_step
    from .interfaces import StepPlan, VQABatch
    from .lora import attach_lora
    from .run import build

    cfg = build_config(None, None, ["gate.name=none", "game.adversary_fraction=1.0", "game.refine_steps=1",
                                    "train.device=cpu", *overrides])
    device = next(backend.model.parameters()).device
    torch.manual_seed(seed)
    _, lora = attach_lora(backend, int(cfg.lora.r), int(cfg.lora.alpha), 0.0)
    players, _ = build.build_players(cfg, backend, lora, device)
    s = backend.image_size
    pixels = torch.rand(batch_size, 3, s, s, generator=torch.Generator().manual_seed(seed)).to(device)
    questions = [("what color is the square?", "is the red circle left of the blue square?")[i % 2]
                 for i in range(batch_size)]
    answers = [("red", "yes it is")[i % 2] for i in range(batch_size)]
    batch = VQABatch(pixels, questions, answers, [str(i) for i in range(batch_size)])
    return game_step(players, batch, StepPlan(adversary_updates=1, mine=True, eps_scale=1.0, beta=1.0))


#: torch's random initialisers that ``tiled_init`` makes cheap (fills and constants cost nothing already)
_RANDOM_INITS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                 "xavier_normal_")


@contextmanager
def tiled_init(block: int = 1 << 20) -> Iterator[None]:
    """Random initialisation at the cost of a memory copy: inside the block, a random init of a tensor larger
    than ``block`` elements runs (same initialiser, same arguments) on a slice of about ``block`` elements along
    its first dimension only, and that slice is tiled over the rest. Rows repeat (row i equals row i + n), values
    keep their scale (fan-in scales are the tensor's; fan-out ones the slice's), shapes and dtypes are untouched.

    For tests that build a real-width architecture with random weights (a 102400 x 2048 embedding is 0.2 B
    normal draws, about 10 s on one core); patches ``torch.nn.init`` and transformers' references to it.
    """
    import torch.nn.init as init

    tables: list[dict[str, Any]] = [vars(init)]
    try:
        from transformers import initialization

        tables.append(initialization.TORCH_INIT_FUNCTIONS)
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    saved = [(table, name, table[name]) for table in tables for name in _RANDOM_INITS if name in table]

    def tiled(original: Callable[..., Tensor]) -> Callable[..., Tensor]:
        def draw(tensor: Tensor, *args: Any, **kwargs: Any) -> Tensor:
            if tensor.numel() <= block or tensor.dim() == 0 or tensor.device.type == "meta":
                return original(tensor, *args, **kwargs)
            rows = max(1, block // max(1, tensor[0].numel()))
            if rows >= tensor.shape[0]:
                return original(tensor, *args, **kwargs)
            with torch.no_grad():
                head = tensor[:rows]
                original(head, *args, **kwargs)
                for start in range(rows, tensor.shape[0], rows):
                    part = tensor[start:start + rows]
                    part.copy_(head[:part.shape[0]])
            return tensor

        return draw

    try:
        for table, name, original in saved:
            table[name] = tiled(original)
        yield
    finally:
        for table, name, original in saved:
            table[name] = original


def saved_keys(model: nn.Module) -> dict[str, list[int]]:
    """Name -> shape of every tensor ``save_pretrained`` writes for a transformers ``model`` (tied copies left out,
    transformers' load-time renamings reverted to the checkpoint's own names); works on the ``meta`` device."""
    from transformers.core_model_loading import revert_weight_conversion
    from transformers.modeling_utils import remove_tied_weights_from_state_dict

    state = revert_weight_conversion(model, remove_tied_weights_from_state_dict(model.state_dict(), model))
    return {name: list(tensor.shape) for name, tensor in sorted(state.items())}


def key_patterns(keys: Iterable[str]) -> set[str]:
    """Weight names with every numeric part (layer, block, level index) as ``*``: the same set at any depth."""
    return {re.sub(r"(?<=\.)\d+(?=\.|$)", "*", key) for key in keys}


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("fake", "unigame_core.testing:FakeBackend", config=FakeSettings, model_types=("fake-umm",),
                 help="tiny pure-torch UMM for tests")
    backends.alias("fake-tiny", "fake", help="the fake UMM with default settings")


@hookimpl
def unigame_register_datasets(datasets: Registry) -> None:
    datasets.add("fake", "unigame_core.testing:fake_dataset", help="coloured squares (tests)")
