"""The UniGame min-max game: perturber, buffer, schedule, gates, the step and the loop."""
