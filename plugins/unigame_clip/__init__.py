"""The CLIP semantic gate (open_clip): drop adversarial images whose meaning drifted."""
