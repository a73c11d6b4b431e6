"""Where the shipped base model, CLIP and attack split live (package data, no download)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"
JANUS_DIR = WEIGHTS / "janus"  # the tiny Janus-architecture UMM (save_pretrained format)
CLIP_CONFIG = WEIGHTS / "shapes-clip.json"  # open_clip model config of the tiny CLIP
CLIP_WEIGHTS = WEIGHTS / "shapes-clip.safetensors"
ATTACK_FILE = WEIGHTS / "attack.npz"  # the fixed adversarial test split
QUALITY_FILE = WEIGHTS / "quality.json"  # quality figures measured when the base was made

IMAGE_SIZE = 32
CLIP_NAME = "shapes-clip"


def available() -> bool:
    return (JANUS_DIR / "config.json").exists() and CLIP_WEIGHTS.exists()
