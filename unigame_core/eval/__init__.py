"""Evaluation: the lm-eval bridge, the lm-eval task runner and ``unigame eval``.

* :mod:`.lm_eval_bridge` -- ``UnigameLM``, one ``lm_eval.api.model.LM`` (registered as ``unigame``)
  answering lm-eval's multimodal ``generate_until`` requests with any backend, batched;
* :mod:`.tasks` -- loads a suite plugin's task YAMLs with a TaskManager that knows only them, runs
  them through ``lm_eval.evaluator.evaluate`` and turns lm-eval's output into metrics and predictions;
* :mod:`.runner` -- ``evaluate_backend`` (used by ``unigame train``) and ``run_eval`` (``unigame eval``).

Importing this package imports nothing heavy; the benchmarks themselves are suite plugins.
"""
