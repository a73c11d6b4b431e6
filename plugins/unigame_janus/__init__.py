"""Janus / Janus-Pro backend on transformers' native Janus classes (no remote code, no vendored code)."""
