"""Bandit settings: the algorithms' names, the default, one frozen config per algorithm, and the budget rules.

This module imports neither jax nor the kernels, so that the command line can build its parser from it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, Union

import numpy as np

from tinyjax._checks import check_choice, check_count, check_fraction
from tinyjax.errors import ConfigError, InputError


def _finite(value: Any, name: str, *, low: float | None = None, strict: bool = False) -> float:
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
    raise ConfigError(f"{name} must be a finite number, got {value!r}")
  x = float(value)
  if low is not None and (x <= low if strict else x < low):
    raise ConfigError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
  return x


def _set(cfg, name: str, value) -> None:
  object.__setattr__(cfg, name, value)


@dataclasses.dataclass(frozen=True)
class UniformConfig:
  """Uniform sampling without replacement.

  Attributes:
    batch_size: cells revealed per step.
  """
  algorithm: ClassVar[str] = "uniform"
  batch_size: int = 32

  def __post_init__(self):
    _set(self, "batch_size", check_count(self.batch_size, "batch_size"))


@dataclasses.dataclass(frozen=True)
class UCBEConfig:
  """UCB-E: the method with the highest ``mean + sqrt(a / n)`` gets a batch of its cells.

  Attributes:
    batch_size: cells revealed per step.
    a: exploration weight, >= 0.
  """
  algorithm: ClassVar[str] = "ucbe"
  batch_size: int = 32
  a: float = 1.0

  def __post_init__(self):
    _set(self, "batch_size", check_count(self.batch_size, "batch_size"))
    _set(self, "a", _finite(self.a, "a", low=0.0))


@dataclasses.dataclass(frozen=True)
class LRFConfig:
  """UCB-E with an ensemble low-rank factorization (``tinyjax/kernels/_bandit_ucb.py``).

  Attributes:
    batch_size: cells revealed per step.
    a: exploration weight: the row bonus is ``sqrt(a)`` standard errors of the row mean.
    rank: rank of the factorization.
    ensemble_size: factorizations in the ensemble (>= 2).
    l2: ridge penalty of every ALS solve (> 0: an unobserved row or column makes the solve singular).
    drop_probability: entry dropout of each member, in [0, 1).
    warmup: fraction of all cells revealed uniformly before the bound is used, in [0, 1].
    eta: weight of the ensemble spread in the bound, >= 0.
    sweeps: warm-started ALS sweeps per step.
    bonus: "variance": ``sqrt(a s^2 (1 - n/N) / n)``, the standard error of a row mean from n of its N cells drawn
      without replacement (0 for a fully evaluated method); "ucbe": the earlier ``sqrt(a / n) (1 - n/N)``.
    prior_count: pseudo-cells of the pooled variance in each method's variance ``s^2`` (> 0).
    columns: which examples the picked method gets: "paired", those already evaluated for its closest rival
      first; "std", the most uncertain first.
  """
  algorithm: ClassVar[str] = "ucbe-lrf"
  BONUSES: ClassVar[tuple[str, ...]] = ("variance", "ucbe")
  COLUMNS: ClassVar[tuple[str, ...]] = ("paired", "std")
  batch_size: int = 32
  a: float = 1.0
  rank: int = 1
  ensemble_size: int = 8
  l2: float = 0.1
  drop_probability: float = 0.05
  warmup: float = 0.01
  eta: float = 1.0
  sweeps: int = 1
  bonus: str = "variance"
  prior_count: float = 10.0
  columns: str = "paired"

  def __post_init__(self):
    _set(self, "batch_size", check_count(self.batch_size, "batch_size"))
    _set(self, "rank", check_count(self.rank, "rank"))
    _set(self, "ensemble_size", check_count(self.ensemble_size, "ensemble_size", minimum=2))
    _set(self, "sweeps", check_count(self.sweeps, "sweeps"))
    _set(self, "a", _finite(self.a, "a", low=0.0))
    _set(self, "eta", _finite(self.eta, "eta", low=0.0))
    _set(self, "l2", _finite(self.l2, "l2", low=0.0, strict=True))
    _set(self, "prior_count", _finite(self.prior_count, "prior_count", low=0.0, strict=True))
    drop = _finite(self.drop_probability, "drop_probability", low=0.0)
    if drop >= 1.0:
      raise ConfigError(f"drop_probability must be in [0, 1), got {self.drop_probability!r}")
    _set(self, "drop_probability", drop)
    _set(self, "warmup", check_fraction(self.warmup, "warmup", closed=True))
    _set(self, "bonus", check_choice(self.bonus, self.BONUSES, "bonus"))
    _set(self, "columns", check_choice(self.columns, self.COLUMNS, "columns"))


@dataclasses.dataclass(frozen=True)
class SuccessiveRejectsConfig:
  """Successive rejects: one method dropped per phase.

  Attributes:
    batch_size: cells revealed per step.
  """
  algorithm: ClassVar[str] = "successive-rejects"
  batch_size: int = 32

  def __post_init__(self):
    _set(self, "batch_size", check_count(self.batch_size, "batch_size"))


@dataclasses.dataclass(frozen=True)
class HalvingConfig:
  """Sequential halving with its noisy mode (the default algorithm).

  Attributes:
    batch_size: cells revealed per step.
    keep: fraction of the surviving methods kept after each round, in (0, 1).
    noisy_keep: fraction kept per round instead, when the first round's ranking is mostly noise, in (0, 1)
      (equal to ``keep`` turns the noisy mode off).
    noisy_alpha: the first round is noise when its coefficient alpha is below this.
  """
  algorithm: ClassVar[str] = "sequential-halving"
  batch_size: int = 32
  keep: float = 0.5
  noisy_keep: float = 0.7
  noisy_alpha: float = 0.3

  def __post_init__(self):
    _set(self, "batch_size", check_count(self.batch_size, "batch_size"))
    _set(self, "keep", check_fraction(self.keep, "keep"))
    _set(self, "noisy_keep", check_fraction(self.noisy_keep, "noisy_keep"))
    _set(self, "noisy_alpha", _finite(self.noisy_alpha, "noisy_alpha"))


BanditConfig = Union[UniformConfig, UCBEConfig, LRFConfig, SuccessiveRejectsConfig, HalvingConfig]
CONFIGS: dict[str, type] = {c.algorithm: c for c in (UniformConfig, UCBEConfig, LRFConfig, SuccessiveRejectsConfig,
                                                     HalvingConfig)}
ALGORITHMS: tuple[str, ...] = tuple(CONFIGS)
# The one default: sequential halving measured best on the real leaderboards (docs/bandit.md).
DEFAULT_ALGORITHM = "sequential-halving"


def parameters(algorithm: str) -> tuple[str, ...]:
  """The settings ``algorithm`` takes (the fields of its config)."""
  return tuple(f.name for f in dataclasses.fields(CONFIGS[check_choice(algorithm, ALGORITHMS, "algorithm")]))


def make_config(algorithm: str = DEFAULT_ALGORITHM, **params) -> BanditConfig:
  """The validated settings of one algorithm.

  Args:
    algorithm: one of ``ALGORITHMS``; default ``DEFAULT_ALGORITHM`` (sequential halving).
    **params: that algorithm's settings (the fields of its config class: :class:`UniformConfig`,
      :class:`UCBEConfig`, :class:`LRFConfig`, :class:`SuccessiveRejectsConfig`, :class:`HalvingConfig`).

  Returns:
    The config, a frozen dataclass (hashable: the compiled runs are keyed by it).

  Raises:
    ConfigError: unknown algorithm, a setting the algorithm does not take, or a value out of range.
  """
  if algorithm not in CONFIGS:
    raise ConfigError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
  names = parameters(algorithm)
  unknown = sorted(set(params) - set(names))
  if unknown:
    raise ConfigError(f"unknown bandit parameter(s) {unknown} for {algorithm}; it takes {names}")
  return CONFIGS[algorithm](**params)


def resolve_config(algorithm: str | BanditConfig, params: dict[str, Any]) -> BanditConfig:
  """``algorithm`` as a config: a name with ``params`` (:func:`make_config`), or a config as it is."""
  if isinstance(algorithm, tuple(CONFIGS.values())):
    if params:
      raise ConfigError(f"settings {sorted(params)} given with a config object; set them on the config instead")
    return algorithm
  return make_config(algorithm, **params)


# ----------------------------------------------------------------------------------------------------
# budget and cost


def check_budget(budget) -> float:
  """A fraction of the cells (of the total cost) in (0, 1]."""
  if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
    raise ConfigError(f"budget must be a fraction in (0, 1], got {budget!r}")
  budget = float(budget)
  if not 0.0 < budget <= 1.0:
    raise ConfigError(f"budget must be a fraction of the cells in (0, 1], got {budget}")
  return budget


def check_cost(cost, shape) -> np.ndarray:
  """Per-cell costs [M, N], finite and > 0 (ones when None)."""
  if cost is None:
    return np.ones(shape)
  c = np.asarray(cost, dtype=np.float64)
  if c.shape != tuple(shape):
    raise InputError(f"cost must have the shape of scores {tuple(shape)}, got {c.shape}")
  if not np.isfinite(c).all() or (c <= 0).any():
    raise InputError("cost must be finite and > 0 in every cell")
  return c


def check_shape(cfg: BanditConfig, n_rows: int, n_cols: int) -> None:
  """A batch fits in a row."""
  del n_rows
  if cfg.batch_size > n_cols:
    raise ConfigError(f"batch_size ({cfg.batch_size}) exceeds the number of examples ({n_cols})")


def budget_amounts(budget: float, cost: np.ndarray) -> tuple[float, float]:
  """(budget in cost units, budget in cells). With unit costs both are floor(budget * cells)."""
  if np.all(cost == 1.0):
    cells = float(math.floor(budget * cost.size + 1e-9))
    return cells, cells
  spend = budget * float(cost.sum())
  return spend, float(math.floor(spend / float(cost.mean()) + 1e-9))


def reveals_enough(cells, shape) -> bool:
  """Whether ``cells`` revealed cells can give each of the ``shape[0]`` methods one (the least to compare)."""
  return int(cells) >= shape[0]


def check_reveals(budget: float, cells, shape) -> None:
  """A budget must reveal at least one cell per method, else there is nothing to compare."""
  n_methods, n_examples = shape
  if not reveals_enough(cells, shape):
    need = n_methods / (n_methods * n_examples)
    raise ConfigError(
        f"budget {budget:g} reveals {int(cells)} of the {n_methods * n_examples} cells, fewer than one per method "
        f"({n_methods}): nothing can be compared; the smallest workable budget for this matrix is {need:.4g}")
