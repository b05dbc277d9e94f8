"""Bandit evaluation: find the best of many methods from a small fraction of the (method, example) cells.

- configuration (``_config.py``, no jax): :data:`ALGORITHMS`, :data:`DEFAULT_ALGORITHM` (sequential halving, the
  one default), one frozen config per algorithm (:class:`UniformConfig`, :class:`UCBEConfig`, :class:`LRFConfig`,
  :class:`SuccessiveRejectsConfig`, :class:`HalvingConfig`), :func:`make_config`, and the budget rules
  :func:`budget_amounts` (a budget fraction in cost units and in cells) and :func:`reveals_enough`;
- offline runs on a full matrix (``_offline.py``): :func:`run` (one compiled ``lax.while_loop``),
  :func:`simulate` (many seeds at once, rows shuffled per seed) and :func:`metrics` (top-1 precision, NDCG@k,
  regret);
- online (``_online.py``): :class:`BanditEvaluator` (ask/tell: ``next_batch`` / ``tell`` / ``best``, save and
  resume) and :func:`evaluate`, driven by an ``evaluate(method, examples)`` callback;
- hardness (``_hardness.py``): :func:`hardness`, how many cells a full matrix needs before its best method can be
  told from the rest.

Each algorithm is a kernel of its own (``tinyjax.kernels``: ``uniform_sampling``, ``ucbe``, ``ucbe_lrf``,
``successive_rejects``, ``sequential_halving``); ``_steps.py`` holds the compiled steps the offline and online
paths share, so that for the same seed, settings and scores they pick the same cells.

Importing this package does not import jax: the names that need it load on first use.
"""

from __future__ import annotations

from tinyjax import _lazy

from tinyjax.bandit._config import (ALGORITHMS, DEFAULT_ALGORITHM, BanditConfig, HalvingConfig, LRFConfig,
                                    SuccessiveRejectsConfig, UCBEConfig, UniformConfig, budget_amounts, make_config,
                                    parameters, reveals_enough)

_LAZY = {
    "BanditResult": "_offline",
    "SimulationResult": "_offline",
    "metrics": "_offline",
    "run": "_offline",
    "simulate": "_offline",
    "BanditEvaluator": "_online",
    "evaluate": "_online",
    "Hardness": "_hardness",
    "hardness": "_hardness",
}



__all__ = ("ALGORITHMS", "DEFAULT_ALGORITHM", "BanditConfig", "BanditEvaluator", "BanditResult", "HalvingConfig",
           "Hardness", "LRFConfig", "SimulationResult", "SuccessiveRejectsConfig", "UCBEConfig", "UniformConfig",
           "budget_amounts", "evaluate", "hardness", "make_config", "metrics", "parameters", "reveals_enough", "run",
           "simulate")
__getattr__, __dir__ = _lazy.attach(__name__, _LAZY, __all__)
