"""Emu3 backend on transformers' native Emu3 classes: one MoVQ tokenizer for understanding and generation."""
