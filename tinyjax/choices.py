"""The names tinyjax offers as choices, and their defaults: plain tables, no JAX.

The command line builds its parser from these tables without importing JAX or the numerical modules, so
``tinyjax --help``, every subcommand's ``--help`` and every input error that needs no computation answer at
once; the modules that implement each choice import the same table, so the two cannot drift apart.
"""

from __future__ import annotations

__all__ = ("ANCHOR_STRATEGIES", "DEFAULT_ANCHOR_STRATEGY", "RECOMMENDED_ESTIMATOR", "SELECTION_STRATEGIES")

#: Anchor-selection strategies of :func:`tinyjax.tiny.anchors.select_anchors` (``TinyBenchmark.fit(strategy=)``).
ANCHOR_STRATEGIES = ("random", "difficulty", "stratified", "correctness", "irt", "stepwise")
#: The default strategy of a tiny benchmark: measured best over both splits (docs/accuracy.md).
DEFAULT_ANCHOR_STRATEGY = "random"
#: The estimate behind ``score`` / ``lo`` / ``hi`` of a tiny benchmark's estimates (measured best, docs/accuracy.md).
RECOMMENDED_ESTIMATOR = "blend"
#: How ``tinyjax select density`` picks rows from the density scores (:mod:`tinyjax.selection`).
SELECTION_STRATEGIES = ("inverse", "top", "bottom")
