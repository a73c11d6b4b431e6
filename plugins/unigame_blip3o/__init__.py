"""BLIP3-o backend: Qwen2.5-VL understander, EVA-CLIP shared tokens, diffusion decoder."""
