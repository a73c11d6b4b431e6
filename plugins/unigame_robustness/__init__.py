"""Robustness suites that attack the evaluated model itself: ``attack-pgd`` (pixels) and ``attack-decoder``."""
