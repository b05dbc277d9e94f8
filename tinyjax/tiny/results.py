"""What ``TinyBenchmark.estimate`` and ``Leaderboard.estimate`` return, and the one recommended estimate.

Every estimate is a full-benchmark score as a fraction in [0, 1] (the command line shows percent points);
every estimator has a split-conformal interval at the tiny benchmark's ``level`` in ``intervals``, an
[M, 2] array per estimator (column 0 the lower end, column 1 the upper end: one row per model, like every
other per-model array). ``score`` is the recommended estimate (:data:`RECOMMENDED`), ``interval`` its [M, 2]
interval and ``lo`` / ``hi`` its two ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from tinyjax.choices import RECOMMENDED_ESTIMATOR
from tinyjax.tiny.estimators import REGISTRY

RECOMMENDED = RECOMMENDED_ESTIMATOR   # the estimate behind ``score`` / ``lo`` / ``hi`` (measured best, docs/accuracy.md)

# name -> what it is (docs/accuracy.md measures each); ``intervals`` has one entry per name.
ESTIMATORS = {e.name: e.description for e in REGISTRY}


def _estimator_fields(cls):
  """Adds one read-only attribute per estimator of the registry: ``est.<name>`` is ``est.values[<name>]``."""
  for e in REGISTRY:
    setattr(cls, e.name, property(lambda self, name=e.name: self.values[name], doc=f"{e.description}."))
  return cls


@_estimator_fields
@dataclasses.dataclass(frozen=True, eq=False)
class Estimates:
  """Estimated full-benchmark scores of M models (a :class:`tinyjax.TinyBenchmark`), fractions in [0, 1].

  Attributes:
    naive, pirt, gpirt, diff, greg, ridge, blend: [M] each estimator (see :data:`ESTIMATORS`; one attribute per
      line of ``tinyjax.tiny.estimators.REGISTRY``).
    values: estimator name -> [M] the same arrays.
    intervals: estimator name -> [M, 2] interval at ``level`` (column 0 lower, column 1 upper end).
    level: nominal coverage of the intervals.
    theta: [M, d] fitted abilities.
    lam: gp-IRT weight on the naive estimate.
    exterior: [M] bool, the model's estimate lies outside the train models' score range.
    regime: [M] str, where the model's estimate lies against the train range (``tinyjax.tiny.REGIMES``:
      "interior", "edge", "above", "below"); each regime has its own blend (``TinyBenchmark.validation``).
    missing: [M] share of the anchors the model left unanswered (NaN); its estimate and intervals use the
      calibrations measured with that share of the validation models' anchors hidden.
  """

  values: Mapping[str, np.ndarray]
  intervals: dict
  level: float
  theta: np.ndarray
  lam: float
  exterior: np.ndarray
  regime: np.ndarray
  missing: np.ndarray | None = None

  @property
  def recommended(self) -> str:
    """The name of the recommended estimator, :data:`RECOMMENDED`."""
    return RECOMMENDED

  @property
  def score(self) -> np.ndarray:
    """[M] the recommended estimate."""
    return self.values[RECOMMENDED]

  @property
  def interval(self) -> np.ndarray:
    """[M, 2] the interval of :attr:`score` at ``level`` (columns: lower, upper end)."""
    return self.intervals[RECOMMENDED]

  @property
  def lo(self) -> np.ndarray:
    """[M] lower end of the interval of :attr:`score` at ``level``."""
    return self.intervals[RECOMMENDED][:, 0]

  @property
  def hi(self) -> np.ndarray:
    """[M] upper end of the interval of :attr:`score` at ``level``."""
    return self.intervals[RECOMMENDED][:, 1]


@_estimator_fields
@dataclasses.dataclass(frozen=True, eq=False)
class BenchmarkEstimates:
  """Estimates for several benchmarks (a :class:`tinyjax.Leaderboard`): each field a dict name -> [M] array.

  Attributes: as for :class:`Estimates` (``values``: estimator -> {benchmark: [M]}; ``intervals``: estimator ->
  {benchmark: [M, 2]}; ``exterior``, ``regime`` and ``missing`` name -> [M]: ``missing`` the share of that
  benchmark's anchors unanswered), without ``lam``.
  """

  values: Mapping[str, dict]
  intervals: dict
  level: float
  theta: np.ndarray
  exterior: dict
  regime: dict
  missing: dict | None = None

  @property
  def recommended(self) -> str:
    """The name of the recommended estimator, :data:`RECOMMENDED`."""
    return RECOMMENDED

  @property
  def score(self) -> dict:
    """name -> [M] the recommended estimate."""
    return self.values[RECOMMENDED]

  @property
  def interval(self) -> dict:
    """name -> [M, 2] the interval of :attr:`score` (columns: lower, upper end)."""
    return self.intervals[RECOMMENDED]

  @property
  def lo(self) -> dict:
    """name -> [M] lower end of the interval of :attr:`score`."""
    return {b: v[:, 0] for b, v in self.intervals[RECOMMENDED].items()}

  @property
  def hi(self) -> dict:
    """name -> [M] upper end of the interval of :attr:`score`."""
    return {b: v[:, 1] for b, v in self.intervals[RECOMMENDED].items()}


@dataclasses.dataclass(frozen=True, eq=False)
class AdaptiveEstimates:
  """Full-benchmark scores of M models tested adaptively (``TinyBenchmark.estimate_adaptive``), fractions in [0, 1].

  Attributes:
    score: [M] p-IRT estimate from the items each model was asked (their answers, IRT predictions for the rest).
    interval: [M, 2] split-conformal interval of ``score`` at ``level`` (columns: lower, upper end), its multiplier
      measured on the tiny benchmark's own validation folds.
    level: nominal coverage of the interval.
    items: [M, budget] int item indices in the order asked (-1 after a model stopped).
    n_asked: [M] items asked.
    theta: [M, d] final abilities; se: [M, d] their standard errors.
    exterior: [M] bool, the estimate lies outside the train models' score range (the wider multiplier applies).
  """

  score: np.ndarray
  interval: np.ndarray
  level: float
  items: np.ndarray
  n_asked: np.ndarray
  theta: np.ndarray
  se: np.ndarray
  exterior: np.ndarray

  @property
  def lo(self) -> np.ndarray:
    """[M] lower end of the interval of :attr:`score`."""
    return self.interval[:, 0]

  @property
  def hi(self) -> np.ndarray:
    """[M] upper end of the interval of :attr:`score`."""
    return self.interval[:, 1]
