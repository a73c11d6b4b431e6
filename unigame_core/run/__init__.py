"""The run machinery around the method: turning a config into players (build), the runner (setup, resume, play,
finish), train state and checkpoints, the run directory, watchers, progress, calibration and bench."""
