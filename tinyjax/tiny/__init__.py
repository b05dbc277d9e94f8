"""Tiny benchmarks: a fitted IRT model, anchor items and calibrated estimators, saved as one artifact.

    tb = tinyjax.TinyBenchmark.fit(Y_train, n_anchors=100, seed=0)
    est = tb.estimate(Y_new[:, tb.anchors])     # est.score (recommended), est.lo, est.hi, est.intervals

Modules: :mod:`~tinyjax.tiny.estimators` (every estimator's function and the registry that names each once),
:mod:`~tinyjax.tiny.anchors` (anchor selection strategies),
:mod:`~tinyjax.tiny.benchmark` (the ``TinyBenchmark`` and ``Leaderboard`` classes),
:mod:`~tinyjax.tiny.calibration` (validation folds, tail fold, blend weights, conformal multipliers),
:mod:`~tinyjax.tiny.estimation` (every estimator, the regime of a model, intervals),
:mod:`~tinyjax.tiny.results` (``Estimates``, ``BenchmarkEstimates`` and :data:`RECOMMENDED`),
:mod:`~tinyjax.tiny.ranking` (``pairwise_agreement``: how often estimates order two models right, by true gap).
"""

from tinyjax.tiny.anchors import STRATEGIES
from tinyjax.tiny.benchmark import DEFAULT_DIMS, DEFAULT_METHOD, DEFAULT_STRATEGY, Leaderboard, TinyBenchmark
from tinyjax.tiny.ranking import RankingResult, pairwise_agreement
from tinyjax.tiny.estimation import REGIMES
from tinyjax.tiny.results import ESTIMATORS, RECOMMENDED, AdaptiveEstimates, BenchmarkEstimates, Estimates

__all__ = ("AdaptiveEstimates", "BenchmarkEstimates", "DEFAULT_DIMS", "DEFAULT_METHOD", "DEFAULT_STRATEGY", "ESTIMATORS", "Estimates",
           "Leaderboard", "RECOMMENDED", "REGIMES", "RankingResult", "STRATEGIES", "TinyBenchmark", "pairwise_agreement")
