"""Procedural "shapes world": synthetic scenes, renderer, captions and VQA questions.

Everything is a pure function of a numpy ``Generator`` (or of ``(seed, split, index)`` via
:class:`ShapesWorld`), so samples can be generated on the fly by any worker with no files.
Only numpy and the standard library are used here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
}
SIZES: tuple[str, ...] = ("small", "large")
SHIFT_SIZES: tuple[str, ...] = ("medium",)
#: Bounding-circle radius of each size, as a fraction of the image side.
SIZE_RADIUS: dict[str, float] = {"small": 0.09, "medium": 0.125, "large": 0.16}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "navy": (20, 25, 80),
}
SHIFT_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (240, 240, 240),
    "teal": (0, 110, 110),
}
#: (colour, shape) pairs never seen in train/val/test; every shift scene has at least one.
HELD_OUT_COMBOS: frozenset[tuple[str, str]] = frozenset(
    {("red", "triangle"), ("green", "circle"), ("blue", "diamond"), ("yellow", "square")}
)
ALL_COMBOS: tuple[tuple[str, str], ...] = tuple(itertools.product(COLOURS, SHAPES))
SEEN_COMBOS: tuple[tuple[str, str], ...] = tuple(c for c in ALL_COMBOS if c not in HELD_OUT_COMBOS)

#: ``nuisance`` is appended last so that the other splits keep their random streams (and their samples).
SPLITS: tuple[str, ...] = ("train", "val", "test", "shift", "nuisance")
#: The ``nuisance`` split: test's scene distribution (seen combos, backgrounds and sizes; same questions)
#: rendered with variations the model's own VQ decoder produces, each drawn uniformly per scene or object:
#: a radius scale per object (size jitter), a shade per object (its colour times the factor), a Gaussian
#: blur of the whole image (sigma as a fraction of the side: 0.3-0.9 px at 32 px) and a light luminance
#: texture (noise on a half-resolution grid, amplitude as a fraction of 255). Set once, never tuned on results.
NUISANCE_RANGES: dict[str, tuple[float, float]] = {
    "scale": (0.85, 1.15), "shade": (0.75, 1.1), "blur": (0.01, 0.028), "texture": (0.02, 0.06),
}
_SPLIT_CODES: dict[str, int] = {name: code for code, name in enumerate(SPLITS)}
MAX_OBJECTS = 4
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four")
MIN_DX = 0.08  # minimum horizontal centre distance: makes left/right unambiguous
GAP = 0.03  # minimum gap between bounding circles

QUESTION_KINDS: tuple[str, ...] = ("count", "color", "shape", "exist", "relation")
Q_COUNT = "how many shapes are there?"
Q_COLOR = "what color is the {shape}?"
Q_SHAPE = "what shape is the {colour} object?"
Q_EXIST = "is there {a} {colour} {shape}?"
Q_RELATION = "is the {colour1} {shape1} {side} of the {colour2} {shape2}?"
_TEMPLATES = (Q_COUNT, Q_COLOR, Q_SHAPE, Q_EXIST, Q_RELATION)
_CAPTION_WORDS = ("a", "an", "and", "on", "background", ",")
_SIDES = ("left", "right")

QA = tuple[str, str, str]


@dataclass(frozen=True)
class Obj:
    """One shape; ``x``/``y`` are the centre in image fractions (y grows downwards)."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    scale: float = 1.0  # radius factor (nuisance split only)
    shade: float = 1.0  # colour factor (nuisance split only)

    @property
    def combo(self) -> tuple[str, str]:
        """The (colour, shape) pair."""
        return (self.colour, self.shape)

    @property
    def radius(self) -> float:
        """Bounding-circle radius as a fraction of the image side."""
        return SIZE_RADIUS[self.size] * self.scale

    @property
    def name(self) -> str:
        """Referring expression without size, e.g. ``"red circle"``."""
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A set of non-overlapping objects on a named background."""

    objects: tuple[Obj, ...]
    background: str
    blur: float = 0.0  # Gaussian sigma as a fraction of the image side (nuisance split only)
    texture: float = 0.0  # luminance noise amplitude as a fraction of 255 (nuisance split only)
    texture_seed: int = 0


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")


def _place(rng: np.random.Generator, radii: list[float],
           tries: int = 100) -> list[tuple[float, float]] | None:
    """Rejection-sample centres for the given radii, or ``None`` if it fails."""
    placed: list[tuple[float, float, float]] = []
    for r in radii:
        for _ in range(tries):
            x, y = rng.uniform(r, 1.0 - r), rng.uniform(r, 1.0 - r)
            if all(abs(x - px) >= MIN_DX and math.hypot(x - px, y - py) >= r + pr + GAP
                   for px, py, pr in placed):
                placed.append((x, y, r))
                break
        else:
            return None
    return [(x, y) for x, y, _ in placed]


def sample_scene(rng: np.random.Generator, split: str) -> Scene:
    """Sample a scene with 1-4 objects with distinct (colour, shape) pairs.

    ``train``/``val``/``test`` never contain a held-out combo and use the seen backgrounds
    and sizes; ``shift`` scenes contain at least one held-out combo, a shift background and
    sizes drawn from seen plus unseen sizes; ``nuisance`` scenes are test-like, with the variations
    of ``NUISANCE_RANGES`` (their draws come last, so the other splits' samples do not change).
    """
    _check_split(split)
    shift, nuisance = split == "shift", split == "nuisance"
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    pool = ALL_COMBOS if shift else SEEN_COMBOS
    idx = rng.choice(len(pool), size=n, replace=False)
    combos = [pool[i] for i in idx]
    if shift and not any(c in HELD_OUT_COMBOS for c in combos):
        held = sorted(HELD_OUT_COMBOS)
        combos[0] = held[int(rng.integers(len(held)))]  # cannot duplicate: none was present
    sizes_pool = SIZES + SHIFT_SIZES if shift else SIZES
    sizes = [sizes_pool[int(i)] for i in rng.integers(len(sizes_pool), size=len(combos))]
    backgrounds = sorted(SHIFT_BACKGROUNDS if shift else BACKGROUNDS)
    background = backgrounds[int(rng.integers(len(backgrounds)))]
    scales = list(rng.uniform(*NUISANCE_RANGES["scale"], size=len(combos))) if nuisance else [1.0] * len(combos)
    while True:  # drop trailing objects if placement keeps failing (one object always fits)
        for _ in range(20):
            pos = _place(rng, [SIZE_RADIUS[s] * k for s, k in zip(sizes, scales)])
            if pos is not None:
                objs = tuple(Obj(shape=c[1], colour=c[0], size=s, x=float(x), y=float(y), scale=float(k))
                             for c, s, k, (x, y) in zip(combos, sizes, scales, pos))
                scene = Scene(objects=objs, background=background)
                return _with_nuisance(scene, rng) if nuisance else scene
        combos, sizes, scales = combos[:-1], sizes[:-1], scales[:-1]


def _with_nuisance(scene: Scene, rng: np.random.Generator) -> Scene:
    """``scene`` with a shade per object, a blur, and a light texture drawn from ``NUISANCE_RANGES``."""
    shades = rng.uniform(*NUISANCE_RANGES["shade"], size=len(scene.objects))
    objs = tuple(dataclasses.replace(o, shade=float(k)) for o, k in zip(scene.objects, shades))
    return Scene(objects=objs, background=scene.background, blur=float(rng.uniform(*NUISANCE_RANGES["blur"])),
                 texture=float(rng.uniform(*NUISANCE_RANGES["texture"])), texture_seed=int(rng.integers(2**31)))


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a ``(H, W, C)`` float image (``sigma`` in pixels, edges repeated)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(img, pad, mode="edge")
        img = sum(w * np.take(padded, np.arange(k, k + img.shape[axis]), axis=axis) for k, w in enumerate(taps))
    return img


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Mask of ``shape`` inscribed in the circle of radius ``r`` at offsets (dx, dy)."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        h = r / math.sqrt(2.0)
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "triangle":  # equilateral, apex up, base at dy = r/2
        return (dy <= r / 2) & (np.abs(dx) <= (dy + r) / math.sqrt(3.0))
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = 64) -> np.ndarray:
    """Render ``scene`` to a ``(size, size, 3)`` uint8 RGB image (crisp unless it carries nuisances)."""
    palette = {**BACKGROUNDS, **SHIFT_BACKGROUNDS}
    img = np.empty((size, size, 3), dtype=np.float64)
    img[:] = palette[scene.background]
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    ys, xs = coords[:, None], coords[None, :]
    for obj in scene.objects:
        mask = _shape_mask(obj.shape, xs - obj.x, ys - obj.y, obj.radius)
        img[mask] = np.clip(np.round(np.array(COLOURS[obj.colour]) * obj.shade), 0, 255)
    if scene.blur > 0:
        img = _gaussian_blur(img, scene.blur * size)
    if scene.texture > 0:  # luminance noise on a half-resolution grid, the same on the three channels
        half = np.random.default_rng(scene.texture_seed).standard_normal(((size + 1) // 2, (size + 1) // 2, 1))
        img = img + 255.0 * scene.texture * np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)[:size, :size]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _a(word: str) -> str:
    """Indefinite article for ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def _exist_q(colour: str, shape: str) -> str:
    return Q_EXIST.format(a=_a(colour), colour=colour, shape=shape)


def _left_to_right(scene: Scene) -> list[Obj]:
    return sorted(scene.objects, key=lambda o: o.x)


def caption(scene: Scene) -> str:
    """Describe the scene, objects left to right, e.g. ``"a small red circle and ... background"``."""
    parts = [f"{_a(o.size)} {o.size} {o.colour} {o.shape}" for o in _left_to_right(scene)]
    objs = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{objs} on {_a(scene.background)} {scene.background} background"


def _unique(scene: Scene, attr: str) -> list[Obj]:
    """Objects whose ``attr`` value occurs exactly once in the scene (left to right)."""
    values = [getattr(o, attr) for o in scene.objects]
    return [o for o in _left_to_right(scene) if values.count(getattr(o, attr)) == 1]


def _allowed_combos(scene: Scene) -> tuple[tuple[str, str], ...]:
    """Combos that may be mentioned for this scene: held-out ones only in shift-like scenes."""
    return ALL_COMBOS if any(o.combo in HELD_OUT_COMBOS for o in scene.objects) else SEEN_COMBOS


def questions(scene: Scene, rng: np.random.Generator) -> list[QA]:
    """One ``(question, answer, kind)`` per applicable template, in ``QUESTION_KINDS`` order."""
    objs = list(scene.objects)
    out: list[QA] = [(Q_COUNT, NUMBER_WORDS[len(objs)], "count")]
    by_shape = _unique(scene, "shape")
    if by_shape:
        o = by_shape[int(rng.integers(len(by_shape)))]
        out.append((Q_COLOR.format(shape=o.shape), o.colour, "color"))
    by_colour = _unique(scene, "colour")
    if by_colour:
        o = by_colour[int(rng.integers(len(by_colour)))]
        out.append((Q_SHAPE.format(colour=o.colour), o.shape, "shape"))
    present = {o.combo for o in objs}
    if rng.random() < 0.5:
        colour, shape = objs[int(rng.integers(len(objs)))].combo
        answer = "yes"
    else:
        absent = [c for c in _allowed_combos(scene) if c not in present]
        colour, shape = absent[int(rng.integers(len(absent)))]
        answer = "no"
    out.append((_exist_q(colour, shape), answer, "exist"))
    if len(objs) >= 2:
        i, j = rng.choice(len(objs), size=2, replace=False)
        a, b = objs[int(i)], objs[int(j)]
        side = _SIDES[int(rng.integers(2))]
        truth = a.x < b.x if side == "left" else a.x > b.x
        q = Q_RELATION.format(colour1=a.colour, shape1=a.shape, side=side,
                              colour2=b.colour, shape2=b.shape)
        out.append((q, "yes" if truth else "no", "relation"))
    return out


def sample_qa(scene: Scene, rng: np.random.Generator) -> QA:
    """Pick one question uniformly among the applicable kinds."""
    qs = questions(scene, rng)
    return qs[int(rng.integers(len(qs)))]


def caption_questions(scene: Scene) -> list[tuple[str, str]]:
    """Deterministic questions whose answers follow from ``caption(scene)`` alone.

    Count; "yes" existence of each object; "no" existence of a same-shape, other-colour
    absent combo per object (a hard negative); colour of each uniquely-shaped object.
    """
    objs = _left_to_right(scene)
    present = {o.combo for o in objs}
    allowed = set(_allowed_combos(scene))
    colours = list(COLOURS)
    out: list[tuple[str, str]] = [(Q_COUNT, NUMBER_WORDS[len(objs)])]
    out += [(_exist_q(o.colour, o.shape), "yes") for o in objs]
    negatives: list[tuple[str, str]] = []
    for o in objs:
        start = colours.index(o.colour)
        for k in range(1, len(colours)):
            combo = (colours[(start + k) % len(colours)], o.shape)
            if combo not in present and combo in allowed:
                if combo not in negatives:
                    negatives.append(combo)
                break
    out += [(_exist_q(c, s), "no") for c, s in negatives]
    out += [(Q_COLOR.format(shape=o.shape), o.colour) for o in _unique(scene, "shape")]
    return out


_TOKEN_RE = re.compile(r"[?,.]|[^\s?,.]+")


def tokenize_words(text: str) -> list[str]:
    """Lowercase, split on whitespace and split off ``?``, ``,`` and ``.`` as tokens."""
    return _TOKEN_RE.findall(text.lower())


def vocabulary() -> list[str]:
    """Sorted list of every token of any question, answer or caption (plus ``.``)."""
    words: set[str] = {".", "yes", "no", *_CAPTION_WORDS, *_SIDES, *SHAPES, *COLOURS,
                       *SIZES, *SHIFT_SIZES, *NUMBER_WORDS}
    for template in _TEMPLATES:
        words.update(tokenize_words(re.sub(r"\{\w+\}", " ", template)))
    for bg in (*BACKGROUNDS, *SHIFT_BACKGROUNDS):
        words.update(tokenize_words(bg))
    return sorted(words)


@dataclass(frozen=True, eq=False)
class Sample:
    """One VQA sample; ``image`` is ``(H, W, 3)`` uint8."""

    id: str
    image: np.ndarray
    question: str
    answer: str
    kind: str
    caption: str
    scene: Scene


class ShapesWorld:
    """Index-addressable world: every sample is a pure function of (seed, split, index)."""

    def __init__(self, seed: int = 0, image_size: int = 64) -> None:
        self.seed = int(seed)
        self.image_size = int(image_size)

    def _rng(self, split: str, index: int) -> np.random.Generator:
        _check_split(split)
        if index < 0:
            raise IndexError(f"index must be non-negative, got {index}")
        return np.random.default_rng([self.seed, _SPLIT_CODES[split], int(index)])

    def sample(self, split: str, index: int) -> Sample:
        """The VQA sample ``index`` of ``split``."""
        rng = self._rng(split, index)
        scene = sample_scene(rng, split)
        question, answer, kind = sample_qa(scene, rng)
        return Sample(id=f"shapes-{self.seed}-{split}-{index}", image=render(scene, self.image_size),
                      question=question, answer=answer, kind=kind, caption=caption(scene), scene=scene)

    def caption_sample(self, split: str, index: int) -> tuple[str, Scene]:
        """``(caption, scene)`` of sample ``index`` (the same scene as :meth:`sample`)."""
        scene = sample_scene(self._rng(split, index), split)
        return caption(scene), scene
