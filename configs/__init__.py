"""The shipped configuration tree: ``models/`` (each model alias's defaults), ``ablations/`` (the paper's rows,
``--config ablations/full``) and ``suites/`` (each suite's default options). Installed as the package
``unigame_core.configs`` (pyproject.toml maps this folder there; no symlink), read through
``importlib.resources`` by ``unigame_core.config_files``."""
