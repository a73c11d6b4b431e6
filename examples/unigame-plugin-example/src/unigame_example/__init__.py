"""Example unigame plugin."""
