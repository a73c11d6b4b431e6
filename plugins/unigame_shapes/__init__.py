"""Procedural shapes world: a small synthetic VQA world used as the offline default."""
