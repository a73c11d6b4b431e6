"""Official benchmark suites for unigame: VQAv2, POPE and MMMU metrics, readers and fixtures."""
