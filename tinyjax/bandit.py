"""Bandit evaluation: find the best of many methods from a small fraction of the (method, example) cells.

Three entry points share one jitted step (``tinyjax.kernels.bandit_select`` / ``bandit_reveal``):

- :func:`run`: offline, on a full score matrix; the whole run is one compiled ``lax.while_loop``.
- :func:`simulate`: many seeds at once (``vmap`` of that loop), rows shuffled per seed, metrics
  (top-1 precision, NDCG@k, regret) at several budgets.
- :class:`BanditEvaluator`: online ask/tell (``next_batch`` / ``tell`` / ``best``), save and resume,
  and :meth:`BanditEvaluator.run` (or :func:`evaluate`) driven by an ``evaluate(method, examples)`` callback.

For the same seed, settings and scores, the online and offline paths pick the same cells.

Algorithms: ``"uniform"``, ``"ucbe"``, ``"ucbe-lrf"``, ``"successive-rejects"``, ``"sequential-halving"``
(the default: it measured best on the real leaderboards, docs/bandit.md); see ``tinyjax/kernels/_bandit.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._dtypes import resolve_dtype
from tinyjax.kernels import BanditConfig, BanditState, Batch
from tinyjax.kernels import _bandit as kernels_bandit

ALGORITHMS = kernels.BANDIT_ALGORITHMS
DEFAULT_ALGORITHM = "sequential-halving"
_ARTIFACT_KIND = "bandit_state"
_PARAM_NAMES = tuple(f for f in BanditConfig._fields if f != "algorithm")

__all__ = ("ALGORITHMS", "BanditConfig", "BanditEvaluator", "BanditResult", "Hardness", "SimulationResult",
           "evaluate", "hardness", "make_config", "metrics", "run", "simulate")


# ----------------------------------------------------------------------------------------------------
# validation


def make_config(algorithm: str = DEFAULT_ALGORITHM, **params) -> BanditConfig:
  """Validated static settings.

  Args:
    algorithm: one of ``ALGORITHMS``.
    **params: any of ``batch_size`` (cells per step, default 32), ``a`` (UCB-E exploration weight, 1.0),
      ``rank`` (1), ``ensemble_size`` (8), ``l2`` (0.1), ``drop_probability`` (0.05), ``warmup``
      (fraction of all cells revealed uniformly first, 0.01), ``eta`` (weight of the ensemble spread, 1.0),
      ``sweeps`` (ALS sweeps per step, 1), ``bonus`` (ucbe-lrf row bonus, "variance": the standard error of
      the row mean under sampling without replacement, times ``sqrt(a)``; "ucbe": the earlier
      ``sqrt(a / n_i) (1 - n_i / N)``), ``prior_count`` (pseudo-cells of the pooled variance in each row's
      variance, 10.0), ``columns`` (ucbe-lrf cells of the picked method: "paired", the examples already
      revealed for its rival first, or "std", the most uncertain first), ``keep`` (sequential halving:
      fraction of the survivors kept after each round, 0.5), ``noisy_keep`` and ``noisy_alpha``
      (sequential halving keeps ``noisy_keep``, 0.7, instead of ``keep`` when the coefficient alpha of the
      first round's scores is below ``noisy_alpha``, 0.3: its ranking is then mostly item sampling noise;
      ``noisy_keep = keep`` turns this off).

  Raises:
    ValueError: unknown algorithm or parameter, or a value out of range.
  """
  if algorithm not in ALGORITHMS:
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
  unknown = set(params) - set(_PARAM_NAMES)
  if unknown:
    raise ValueError(f"unknown bandit parameter(s) {sorted(unknown)}; expected some of {_PARAM_NAMES}")
  cfg = BanditConfig(algorithm=algorithm, **params)
  ints = {"batch_size": 1, "rank": 1, "ensemble_size": 2, "sweeps": 1}
  for name, low in ints.items():
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
      raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
  for name in ("a", "l2", "eta"):
    value = getattr(cfg, name)
    if not np.isfinite(value) or value < 0:
      raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
  if cfg.bonus not in kernels_bandit.LRF_BONUSES:
    raise ValueError(f"bonus must be one of {kernels_bandit.LRF_BONUSES}, got {cfg.bonus!r}")
  if cfg.columns not in kernels_bandit.LRF_COLUMNS:
    raise ValueError(f"columns must be one of {kernels_bandit.LRF_COLUMNS}, got {cfg.columns!r}")
  if not np.isfinite(cfg.prior_count) or cfg.prior_count <= 0:
    raise ValueError(f"prior_count must be finite and > 0, got {cfg.prior_count!r}")
  if not 0.0 <= cfg.drop_probability < 1.0:
    raise ValueError(f"drop_probability must be in [0, 1), got {cfg.drop_probability!r}")
  for name in ("keep", "noisy_keep"):
    if not 0.0 < getattr(cfg, name) < 1.0:
      raise ValueError(f"{name} must be in (0, 1), got {getattr(cfg, name)!r}")
  if not np.isfinite(cfg.noisy_alpha):
    raise ValueError(f"noisy_alpha must be finite, got {cfg.noisy_alpha!r}")
  if not 0.0 <= cfg.warmup <= 1.0:
    raise ValueError(f"warmup must be in [0, 1], got {cfg.warmup!r}")
  if cfg.algorithm == "ucbe-lrf" and cfg.l2 == 0:
    raise ValueError("l2 must be > 0 for ucbe-lrf (an unobserved row or column makes the solve singular)")
  return cfg._replace(batch_size=int(cfg.batch_size), rank=int(cfg.rank), ensemble_size=int(cfg.ensemble_size),
                      sweeps=int(cfg.sweeps), a=float(cfg.a), l2=float(cfg.l2), eta=float(cfg.eta),
                      drop_probability=float(cfg.drop_probability), warmup=float(cfg.warmup),
                      prior_count=float(cfg.prior_count), bonus=str(cfg.bonus), columns=str(cfg.columns),
                      keep=float(cfg.keep), noisy_keep=float(cfg.noisy_keep), noisy_alpha=float(cfg.noisy_alpha))


def _check_scores(scores, *, allow_nan: bool, name: str = "scores") -> np.ndarray:
  arr = np.asarray(scores)
  if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
    raise ValueError(f"{name} must be a numeric (methods, examples) matrix, got dtype {arr.dtype}")
  arr = arr.astype(np.float64)
  if arr.ndim != 2:
    raise ValueError(f"{name} must be 2-D (methods, examples), got shape {arr.shape}")
  if arr.shape[0] < 2 or arr.shape[1] < 1:
    raise ValueError(f"{name} needs at least 2 methods and 1 example, got shape {arr.shape}")
  if np.isinf(arr).any():
    raise ValueError(f"{name} contains inf")
  if not allow_nan and np.isnan(arr).any():
    raise ValueError(f"{name} contains {int(np.isnan(arr).sum())} NaN; offline runs need a full matrix "
                     "(drop or fill those rows/columns first)")
  return arr


def _check_cost(cost, shape) -> np.ndarray:
  if cost is None:
    return np.ones(shape)
  c = np.asarray(cost, dtype=np.float64)
  if c.shape != tuple(shape):
    raise ValueError(f"cost must have the shape of scores {tuple(shape)}, got {c.shape}")
  if not np.isfinite(c).all() or (c <= 0).any():
    raise ValueError("cost must be finite and > 0 in every cell")
  return c


def _check_budget(budget) -> float:
  if isinstance(budget, bool) or not isinstance(budget, (int, float, np.floating, np.integer)):
    raise ValueError(f"budget must be a fraction in (0, 1], got {budget!r}")
  budget = float(budget)
  if not 0.0 < budget <= 1.0:
    raise ValueError(f"budget must be a fraction of the cells in (0, 1], got {budget}")
  return budget


def _budget_amounts(budget: float, cost: np.ndarray) -> tuple[float, float]:
  """(budget in cost units, budget in cells). With unit costs both are floor(budget * cells)."""
  if np.all(cost == 1.0):
    cells = float(math.floor(budget * cost.size + 1e-9))
    return cells, cells
  spend = budget * float(cost.sum())
  return spend, float(math.floor(spend / float(cost.mean()) + 1e-9))


def _check_config_shape(cfg: BanditConfig, num_rows: int, num_cols: int):
  if cfg.batch_size > num_cols:
    raise ValueError(f"batch_size ({cfg.batch_size}) exceeds the number of examples ({num_cols})")


# ----------------------------------------------------------------------------------------------------
# compiled pieces (built once)


def _aux(cfg: BanditConfig, key, num_rows: int, num_cols: int):
  """Fixed per-run randomness derived from the seed: (dropout masks [E, M, N], cell order [M*N] for uniform
  and ucbe-lrf, example order [N] for the elimination algorithms)."""
  key_drop, key_order = jax.random.split(key)
  keep = (kernels.dropout_keep(key_drop, cfg.ensemble_size, num_rows, num_cols, cfg.drop_probability)
          if cfg.algorithm == "ucbe-lrf" else jnp.ones((1, 1, 1), bool))
  if cfg.algorithm in ("uniform", "ucbe-lrf"):
    order = kernels.cell_order(key_order, num_rows, num_cols)
  elif cfg.algorithm in kernels_bandit.ELIMINATION:
    order = kernels_bandit.example_order(key_order, num_cols)
  else:
    order = jnp.zeros((1,), jnp.int32)
  return keep, order


def _seed_keys(seed_key):
  """(init, dropout, steps) keys of one run."""
  k_init, k_drop, k_steps = jax.random.split(seed_key, 3)
  return k_init, k_drop, k_steps


@functools.partial(jax.jit, static_argnames=("cfg", "num_rows", "num_cols", "dtype"))
def _init_jit(seed_key, cfg, num_rows, num_cols, dtype):
  k_init, k_drop, _ = _seed_keys(seed_key)
  return kernels.bandit_init(k_init, cfg, num_rows, num_cols, dtype), _aux(cfg, k_drop, num_rows, num_cols)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _select_jit(cfg, state, seed_key, aux, cost, budget, total_cells):
  _, _, k_steps = _seed_keys(seed_key)
  return kernels.bandit_select(cfg, state, jax.random.fold_in(k_steps, state.step), aux[0], cost, budget,
                               total_cells, aux[1])


_reveal_jit = jax.jit(kernels.bandit_reveal)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _recommend_jit(cfg, state, seed_key, aux, total_cells):
  _, _, k_steps = _seed_keys(seed_key)
  key = jax.random.fold_in(jax.random.fold_in(k_steps, state.step), 1)
  return kernels.bandit_recommend(cfg, state, key, aux[0], total_cells)


def _offline(cfg: BanditConfig, seed_key, scores, cost, budget, total_cells, checkpoints):
  """One whole offline run: a while loop of select + reveal, then the final recommendation.

  Args:
    scores: [M, N] full matrix. cost: [M, N]. budget, total_cells: []. checkpoints: [C] budgets in cost
      units at which to record the recommendation (the last one made with ``spent <= checkpoint``).

  Returns:
    (final state, final BanditInfo, best at checkpoints [C], means at checkpoints [C, M]).
  """
  num_rows, num_cols = scores.shape
  k_init, k_drop, k_steps = _seed_keys(seed_key)
  state = kernels.bandit_init(k_init, cfg, num_rows, num_cols, scores.dtype)
  keep, order = _aux(cfg, k_drop, num_rows, num_cols)
  rec_best = jnp.full(checkpoints.shape, -1, jnp.int32)
  rec_means = jnp.full((checkpoints.shape[0], num_rows), jnp.nan, scores.dtype)

  def record(info, spent, rec_best, rec_means):
    hit = spent <= checkpoints
    return jnp.where(hit, info.best, rec_best), jnp.where(hit[:, None], info.means[None], rec_means)

  def cond(carry):
    st = carry[0]
    return (st.last_revealed != 0) & (st.spent < budget)

  def body(carry):
    st, rb, rm = carry
    st, batch, info = kernels.bandit_select(cfg, st, jax.random.fold_in(k_steps, st.step), keep, cost, budget,
                                            total_cells, order)
    rb, rm = record(info, st.spent, rb, rm)
    st = kernels.bandit_reveal(st, batch, scores[batch.rows, batch.cols], cost)
    return st, rb, rm

  state, rec_best, rec_means = jax.lax.while_loop(cond, body, (state, rec_best, rec_means))
  final_key = jax.random.fold_in(jax.random.fold_in(k_steps, state.step), 1)
  info = kernels.bandit_recommend(cfg, state, final_key, keep, total_cells)
  rec_best, rec_means = record(info, state.spent, rec_best, rec_means)
  return state, info, rec_best, rec_means


_offline_jit = jax.jit(_offline, static_argnames=("cfg",))
_offline_many_jit = jax.jit(jax.vmap(_offline, in_axes=(None, 0, 0, 0, None, None, None)), static_argnames=("cfg",))


# ----------------------------------------------------------------------------------------------------
# offline


@dataclasses.dataclass(frozen=True)
class BanditResult:
  """Outcome of one bandit run.

  Attributes:
    best: index of the chosen method.
    means: [n_methods] estimated mean score of every method (NaN for a method with no evaluated cell,
      except with ucbe-lrf, which imputes the unevaluated cells).
    n_evaluated: number of cells revealed (at most ``budget * scores.size`` with unit costs).
    spent: cost spent (equals ``n_evaluated`` with unit costs).
    n_steps: number of batches.
    observed: [n_methods, n_examples] bool, the revealed cells.
    algorithm: the algorithm's name. budget: the budget fraction.
  """
  best: int
  means: np.ndarray
  n_evaluated: int
  spent: float
  n_steps: int
  observed: np.ndarray
  algorithm: str
  budget: float


def run(scores, budget: float = 0.1, algorithm: str = DEFAULT_ALGORITHM, seed: int = 0, *, cost=None,
        dtype=None, **params) -> BanditResult:
  """Finds the best method of a full score matrix, revealing cells only as the algorithm asks.

  Args:
    scores: (n_methods, n_examples) full matrix, 0/1 or continuous (no NaN).
    budget: fraction of the cells (of the total cost, when ``cost`` is given) that may be revealed, in (0, 1].
    algorithm: "uniform", "ucbe", "ucbe-lrf", "successive-rejects" or "sequential-halving" (the default).
    seed: random seed (ties, warm-up cells, dropout masks, initial factors).
    cost: optional (n_methods, n_examples) positive cost of each cell.
    dtype: float32 (default) or float64.
    **params: algorithm settings, see :func:`make_config`.

  Returns:
    BanditResult.

  Example:
    >>> res = tj.bandit.run(scores, budget=0.1, algorithm="ucbe-lrf", seed=0)
    >>> res.best, res.means, res.n_evaluated
  """
  cfg = make_config(algorithm, **params)
  arr = _check_scores(scores, allow_nan=False)
  budget = _check_budget(budget)
  c = _check_cost(cost, arr.shape)
  _check_config_shape(cfg, *arr.shape)
  dt = resolve_dtype(dtype)
  spend, cells = _budget_amounts(budget, c)
  state, info, _, _ = _offline_jit(cfg, jax.random.key(int(seed)), jnp.asarray(arr, dt), jnp.asarray(c, dt),
                                   jnp.asarray(spend, dt), jnp.asarray(cells, dt), jnp.asarray([spend], dt))
  return BanditResult(best=int(info.best), means=np.asarray(info.means), n_evaluated=int(state.n_evaluated),
                      spent=float(state.spent), n_steps=int(state.step), observed=np.asarray(state.observed),
                      algorithm=algorithm, budget=budget)


def metrics(true_means: np.ndarray, best: np.ndarray, est_means: np.ndarray, k: int = 10,
            rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
  """Top-1 precision, NDCG@k and regret of recommendations.

  Args:
    true_means: [..., M] true mean score of every method.
    best: [...] chosen method.
    est_means: [..., M] estimated means (NaN ranks last).
    k: NDCG cut-off (clipped to M). Relevance of a method is ``max(0, k - true_rank)`` (true rank 0 = best),
      so only the true top-k count, the best the most.
    rng: breaks ties in the estimated ranking (default: a fixed generator).

  Returns:
    dict with "precision" [...] (1.0 where the chosen method has the top true mean), "ndcg" [...],
    "regret" [...] (points: 100 x (top true mean - true mean of the chosen method)).
  """
  true_means = np.asarray(true_means, float)
  est = np.asarray(est_means, float)
  best = np.asarray(best)
  true_b = np.broadcast_to(true_means, est.shape)
  chosen = np.take_along_axis(true_b, best[..., None].astype(int), -1)[..., 0]
  top = true_b.max(-1)
  regret = 100.0 * (top - chosen)
  precision = (chosen >= top).astype(float)
  k = min(k, est.shape[-1])
  rng = np.random.default_rng(0) if rng is None else rng
  true_rank = np.argsort(np.argsort(-true_b, axis=-1, kind="stable"), axis=-1, kind="stable")
  rel = np.maximum(0, k - true_rank).astype(float)
  jitter = rng.random(est.shape)
  order = np.lexsort((jitter, -np.nan_to_num(est, nan=-np.inf)), axis=-1)[..., :k]
  disc = 1.0 / np.log2(np.arange(k) + 2.0)
  dcg = np.sum(np.take_along_axis(rel, order, -1) * disc, -1)
  idcg = np.sum(np.arange(k, 0, -1) * disc)
  return {"precision": precision, "ndcg": dcg / idcg, "regret": regret}


_verify_jit = jax.jit(jax.vmap(kernels.verification_cells, in_axes=(None, 0)))   # one pass over every z
_split_half_jit = jax.jit(kernels.split_half_correlation, static_argnums=2)


@dataclasses.dataclass(frozen=True)
class Hardness:
  """How hard a full matrix makes the search for its best method (see :func:`hardness`).

  Attributes:
    best: the row with the highest mean. gap: top-two gap in points (100 x mean difference).
    reliability: mean over random splits of the correlation between the methods' means on two halves of the
      examples. reliability_full: its Spearman-Brown step-up to the whole row, ``2 r / (1 + r)``.
    z: [Z] one-sided quantiles per rival.
    cells: [Z] cells an oracle that knows the best needs to confirm it against every rival on shared
      examples (:func:`tinyjax.kernels.verification_cells`, summed over the rows).
    fraction: [Z] ``cells / (M N)``: compare with a budget.
    near: [Z] rivals that need more than half of their row.
  """
  best: int
  gap: float
  reliability: float
  reliability_full: float
  z: np.ndarray
  cells: np.ndarray
  fraction: np.ndarray
  near: np.ndarray

  def describe(self, budget: float | None = None) -> str:
    """One line for people: reliability and the oracle's cells (as a multiple of ``budget`` when given)."""
    parts = []
    for z, c, f in zip(self.z, self.cells, self.fraction):
      rel = f"{f / budget:.2f}x the budget" if budget else f"{100 * f:.1f}% of the cells"
      parts.append(f"z={z:g}: {int(c)} ({rel})")
    return (f"split-half reliability {self.reliability:.3f} (whole rows {self.reliability_full:.3f}); cells an "
            f"oracle that knows the best needs to confirm it against every rival: " + ", ".join(parts))


def hardness(scores, z: float | Sequence[float] = (1.28, 1.64, 2.33), *, n_splits: int = 200, seed: int = 0,
             dtype=None) -> Hardness:
  """Diagnoses how many cells a full matrix needs before its best method can be told from the rest.

  Two figures, both from the full matrix, so for planning budgets offline:

  - split-half reliability: how much the methods' means on half of the examples agree with the other half.
    Near 1 when methods differ much more than the sampling noise of the examples; low when the ranking, and
    so the best method, depends on which examples were drawn.
  - the cells an oracle that knows the best method needs to confirm it, comparing it with every rival on
    shared examples until their paired difference is ``z`` standard errors above zero (finite-population
    correction included). Not a bound that holds for every algorithm, but an algorithm that must also find
    the best rarely does with fewer: a ``fraction`` close to or above a budget says that no algorithm should
    be expected to find the best reliably at that budget.

  Args:
    scores: (n_methods, n_examples) full matrix, no NaN, at least 2 x 2.
    z: one or more positive quantiles.
    n_splits: random splits for the reliability.
    seed: seed of the splits.
    dtype: float32 (default) or float64.

  Returns:
    Hardness.
  """
  arr = _check_scores(scores, allow_nan=False)
  if arr.shape[0] < 2 or arr.shape[1] < 2:
    raise ValueError(f"hardness needs at least 2 methods and 2 examples, got {arr.shape}")
  zs = np.atleast_1d(np.asarray(z, float))
  if zs.ndim != 1 or zs.size == 0 or not np.all(np.isfinite(zs)) or np.any(zs <= 0):
    raise ValueError(f"z must be one or more positive finite quantiles, got {z!r}")
  if int(n_splits) < 1:
    raise ValueError(f"n_splits must be >= 1, got {n_splits}")
  dt = resolve_dtype(dtype)
  x = jnp.asarray(arr, dt)
  best, cells = _verify_jit(x, jnp.asarray(zs, dt))          # [Z] (all equal), [Z, M]
  best, cells = int(np.asarray(best)[0]), np.asarray(cells)
  corr = np.asarray(_split_half_jit(jax.random.key(int(seed)), x, int(n_splits)))
  r = float(np.nanmean(corr)) if np.any(np.isfinite(corr)) else float("nan")
  means = arr.mean(1)
  order = np.argsort(-means, kind="stable")
  rivals = np.arange(arr.shape[0]) != best
  return Hardness(best=best, gap=float(100 * (means[order[0]] - means[order[1]])), reliability=r,
                  reliability_full=2 * r / (1 + r) if r > -1 else float("nan"), z=zs,
                  cells=cells.sum(1).astype(int), fraction=cells.sum(1) / arr.size,
                  near=np.sum(cells[:, rivals] > arr.shape[1] / 2, axis=1).astype(int))


@dataclasses.dataclass(frozen=True)
class SimulationResult:
  """Offline simulation over seeds and budgets.

  Attributes:
    algorithm: name. budgets: [K] fractions. seeds: [S] seed values.
    best: [S, K] chosen method (in the original row order). n_evaluated: [S, K] revealed cells when the
      recommendation was made.
    precision, ndcg, regret: [S, K] per seed (see :func:`metrics`).
    seconds: wall time of the compiled runs (compilation excluded).
    compile_seconds: time spent compiling (ahead of the runs; 0 when nothing had to be compiled).
    n_steps: [S, K] batches taken when the recommendation was made.
  """
  algorithm: str
  budgets: np.ndarray
  seeds: np.ndarray
  best: np.ndarray
  n_evaluated: np.ndarray
  n_steps: np.ndarray
  precision: np.ndarray
  ndcg: np.ndarray
  regret: np.ndarray
  seconds: float
  compile_seconds: float

  def summary(self) -> dict[str, np.ndarray]:
    """Mean over seeds of each metric, [K] each."""
    return {"precision": self.precision.mean(0), "ndcg": self.ndcg.mean(0), "regret": self.regret.mean(0)}


_ANYTIME = ("uniform", "ucbe", "ucbe-lrf")   # the others plan their phases from the budget
# Executables of the vmapped offline loop, by (config, argument shapes and dtypes): kept for the process, as
# jit's own cache would keep them (key dtypes differ between key types, so they are part of the signature).
_COMPILED: dict = {}


def simulate(scores, budgets: Sequence[float] = (0.05, 0.1, 0.2), algorithm: str = DEFAULT_ALGORITHM,
             seeds: int | Sequence[int] = 20, *, shuffle_rows: bool = True, k: int = 10, cost=None,
             dtype=None, max_parallel: int = 32, **params) -> SimulationResult:
  """Runs many seeds at once on a full matrix and scores the recommendation at each budget.

  uniform, ucbe and ucbe-lrf do not depend on the budget (they are anytime), so one run to the largest
  budget serves all budgets: at budget b the recommendation is the one made at the last step with at most
  ``b * cells`` revealed. The elimination algorithms (successive rejects, sequential halving) plan their
  phases from the budget and run once per budget.

  Args:
    scores: (n_methods, n_examples) full matrix.
    budgets: fractions in (0, 1].
    algorithm: see :func:`run`.
    seeds: a count (seeds 0..count-1) or explicit seed values. Seed s uses ``jax.random.key(s)`` and, with
      ``shuffle_rows``, the row permutation ``np.random.default_rng(s).permutation(n_methods)``.
    shuffle_rows: shuffle the rows per seed (for algorithms that break ties by row order; harmless here).
    k: NDCG cut-off.
    cost: optional per-cell cost (shuffled with the rows).
    dtype: float32 (default) or float64.
    max_parallel: seeds vmapped together (bounds memory).
    **params: algorithm settings, see :func:`make_config`.

  Returns:
    SimulationResult (metrics per seed and budget, in the original row order).
  """
  cfg = make_config(algorithm, **params)
  arr = _check_scores(scores, allow_nan=False)
  c = _check_cost(cost, arr.shape)
  _check_config_shape(cfg, *arr.shape)
  budgets = np.asarray([_check_budget(b) for b in np.atleast_1d(budgets)], float)
  seed_values = np.arange(int(seeds)) if np.isscalar(seeds) else np.asarray(seeds, int)
  if seed_values.size == 0:
    raise ValueError("seeds must name at least one seed")
  if max_parallel < 1:
    raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
  dt = resolve_dtype(dtype)
  num_rows = arr.shape[0]
  perms = np.stack([np.random.default_rng(int(s)).permutation(num_rows) if shuffle_rows else np.arange(num_rows)
                    for s in seed_values])
  amounts = [_budget_amounts(float(b), c) for b in budgets]
  runs = [(list(range(len(budgets))), max(amounts))] if algorithm in _ANYTIME else \
      [([i], amounts[i]) for i in range(len(budgets))]
  best = np.zeros((seed_values.size, budgets.size), int)
  n_eval = np.zeros_like(best)
  n_steps = np.zeros_like(best)
  means = np.zeros((seed_values.size, budgets.size, num_rows))
  seconds = compile_seconds = 0.0
  checkpoints = jnp.asarray([a[0] for a in amounts], dt)
  for cols, (spend, cells) in runs:
    for lo in range(0, seed_values.size, max_parallel):
      idx = np.arange(lo, min(lo + max_parallel, seed_values.size))
      keys = jax.vmap(jax.random.key)(jnp.asarray(seed_values[idx], jnp.uint32))
      s_scores = jnp.asarray(np.stack([arr[perms[i]] for i in idx]), dt)
      s_cost = jnp.asarray(np.stack([c[perms[i]] for i in idx]), dt)
      call_args = (keys, s_scores, s_cost, jnp.asarray(spend, dt), jnp.asarray(cells, dt), checkpoints)
      sig = (cfg, *((a.shape, str(a.dtype)) for a in call_args))
      if sig not in _COMPILED:   # compiled ahead of time, so that ``seconds`` holds the runs alone
        t0 = time.perf_counter()
        _COMPILED[sig] = _offline_many_jit.lower(cfg, *call_args).compile()
        compile_seconds += time.perf_counter() - t0
      t0 = time.perf_counter()
      out = jax.block_until_ready(_COMPILED[sig](*call_args))
      seconds += time.perf_counter() - t0
      state, _, rec_best, rec_means = out
      rec_best, rec_means = np.asarray(rec_best), np.asarray(rec_means)
      for j, i in enumerate(idx):
        inv = np.argsort(perms[i])
        for col in cols:
          best[i, col] = perms[i][rec_best[j, col]]
          means[i, col] = rec_means[j, col][inv]
          n_eval[i, col] = min(int(np.asarray(state.n_evaluated)[j]), int(amounts[col][1]))
          n_steps[i, col] = int(np.asarray(state.step)[j])
  m = metrics(arr.mean(1), best, means, k=k)
  return SimulationResult(algorithm=algorithm, budgets=budgets, seeds=seed_values, best=best, n_evaluated=n_eval,
                          n_steps=n_steps, precision=m["precision"], ndcg=m["ndcg"], regret=m["regret"],
                          seconds=seconds, compile_seconds=compile_seconds)


# ----------------------------------------------------------------------------------------------------
# online


class BanditEvaluator:
  """Online ask/tell best-method search with real evaluations.

  Example:
    >>> ev = tj.bandit.BanditEvaluator(n_methods=20, n_examples=500, budget=0.1, seed=0)
    >>> while (pairs := ev.next_batch()).size:
    ...   ev.tell(pairs, [score(m, x) for m, x in pairs])
    >>> best, means = ev.best()

  ``next_batch`` returns the same pending batch until it is told. For the same seed and settings, the
  picks equal those of :func:`run` on a matrix holding the told scores. ``save``/``tinyjax.load`` resume
  a run exactly.

  Args:
    n_methods, n_examples: matrix shape (n_methods >= 2).
    budget: fraction of the cells (of the total cost, with ``cost``) to spend, in (0, 1].
    algorithm: see :func:`run`. seed: random seed.
    cost: optional (n_methods, n_examples) positive cost per cell.
    dtype: float32 (default) or float64.
    **params: algorithm settings, see :func:`make_config`.
  """

  def __init__(self, n_methods: int, n_examples: int, budget: float = 0.1, algorithm: str = DEFAULT_ALGORITHM,
               seed: int = 0, *, cost=None, dtype=None, **params):
    for name, value, low in (("n_methods", n_methods, 2), ("n_examples", n_examples, 1)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    self.config = make_config(algorithm, **params)
    _check_config_shape(self.config, n_methods, n_examples)
    self.n_methods, self.n_examples = int(n_methods), int(n_examples)
    self.budget = _check_budget(budget)
    self.seed = int(seed)
    self.dtype = resolve_dtype(dtype)
    self._cost_np = _check_cost(cost, (self.n_methods, self.n_examples))
    self._spend, self._cells = _budget_amounts(self.budget, self._cost_np)
    self._key = jax.random.key(self.seed)
    self._cost = jnp.asarray(self._cost_np, self.dtype)
    self._state, self._aux = _init_jit(self._key, self.config, self.n_methods, self.n_examples, self.dtype)
    self._pending: Batch | None = None

  # -- ask / tell ----------------------------------------------------------------------------------
  @property
  def algorithm(self) -> str:
    return self.config.algorithm

  @property
  def n_evaluated(self) -> int:
    return int(self._state.n_evaluated)

  @property
  def spent(self) -> float:
    return float(self._state.spent)

  @property
  def done(self) -> bool:
    """True when the budget is spent or the algorithm has nothing more to ask."""
    if self._pending is not None:
      return False
    return int(self._state.last_revealed) == 0 or float(self._state.spent) >= self._spend

  @property
  def observed(self) -> np.ndarray:
    """[n_methods, n_examples] bool: the told cells."""
    return np.asarray(self._state.observed)

  @property
  def scores(self) -> np.ndarray:
    """[n_methods, n_examples] told scores, NaN elsewhere."""
    return np.where(self.observed, np.asarray(self._state.values, float), np.nan)

  def next_batch(self) -> np.ndarray:
    """The next cells to evaluate.

    Returns:
      int array [k, 2] of (method, example) pairs; k = 0 when the run is over. Until :meth:`tell` is
      called, the same batch is returned again.
    """
    if self._pending is None:
      if self.done:
        return np.zeros((0, 2), int)
      self._state, batch, _ = _select_jit(self.config, self._state, self._key, self._aux, self._cost,
                                          jnp.asarray(self._spend, self.dtype), jnp.asarray(self._cells, self.dtype))
      self._pending = batch
      if not bool(np.any(np.asarray(batch.valid))):
        # Nothing left to ask: record an empty step, as the offline loop does.
        self._state = _reveal_jit(self._state, batch, jnp.zeros(batch.rows.shape, self.dtype), self._cost)
        self._pending = None
        return np.zeros((0, 2), int)
    return self._pending_pairs()

  def _pending_pairs(self) -> np.ndarray:
    b = self._pending
    valid = np.asarray(b.valid)
    return np.stack([np.asarray(b.rows)[valid], np.asarray(b.cols)[valid]], axis=1).astype(int)

  def tell(self, pairs, scores) -> None:
    """Gives back the scores of the pending batch.

    Args:
      pairs: [k, 2] (method, example) pairs: exactly the pairs returned by :meth:`next_batch`, in any order.
      scores: [k] finite scores.

    Raises:
      ValueError: no pending batch, pairs that differ from it, or non-finite scores.
    """
    if self._pending is None:
      raise ValueError("no pending batch: call next_batch() first")
    pairs = np.asarray(pairs)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
      raise ValueError(f"pairs must be [k, 2] (method, example), got shape {pairs.shape}")
    if scores.shape[0] != pairs.shape[0]:
      raise ValueError(f"got {pairs.shape[0]} pairs but {scores.shape[0]} scores")
    if not np.isfinite(scores).all():
      raise ValueError("scores must be finite (NaN/inf given)")
    expected = self._pending_pairs()
    told = {(int(m), int(x)): s for (m, x), s in zip(pairs, scores)}
    if len(told) != len(pairs) or set(told) != {(int(m), int(x)) for m, x in expected}:
      raise ValueError(f"tell() must give exactly the {len(expected)} pending pairs of next_batch()")
    b = self._pending
    rows, cols, valid = np.asarray(b.rows), np.asarray(b.cols), np.asarray(b.valid)
    vals = np.array([told[(int(r), int(c))] if v else 0.0 for r, c, v in zip(rows, cols, valid)])
    self._state = _reveal_jit(self._state, b, jnp.asarray(vals, self.dtype), self._cost)
    self._pending = None

  def best(self) -> tuple[int, np.ndarray]:
    """The current pick and the estimated mean of every method ([n_methods]; see :class:`BanditResult`)."""
    info = _recommend_jit(self.config, self._state, self._key, self._aux, jnp.asarray(self._cells, self.dtype))
    return int(info.best), np.asarray(info.means)

  def result(self) -> BanditResult:
    best, means = self.best()
    return BanditResult(best=best, means=means, n_evaluated=self.n_evaluated, spent=self.spent,
                        n_steps=int(self._state.step), observed=self.observed, algorithm=self.algorithm,
                        budget=self.budget)

  def run(self, evaluate: Callable[[int, np.ndarray], Any], *, max_steps: int | None = None) -> BanditResult:
    """Drives the run with a callback until the budget is spent (or ``max_steps`` batches).

    Args:
      evaluate: ``evaluate(method, examples) -> scores``: method is an int, examples an int array [k];
        returns k finite scores. Called once per method present in a batch.
      max_steps: stop after this many batches (to resume later), default: run to the end.

    Returns:
      BanditResult of the current state.
    """
    steps = 0
    while max_steps is None or steps < max_steps:
      pairs = self.next_batch()
      if pairs.size == 0:
        break
      scores = np.zeros(len(pairs))
      for method in dict.fromkeys(pairs[:, 0].tolist()):
        sel = pairs[:, 0] == method
        got = np.asarray(evaluate(int(method), pairs[sel, 1].copy()), dtype=np.float64).reshape(-1)
        if got.shape[0] != int(sel.sum()):
          raise ValueError(f"evaluate({method}, ...) returned {got.shape[0]} scores for {int(sel.sum())} examples")
        scores[sel] = got
      self.tell(pairs, scores)
      steps += 1
    return self.result()

  # -- save / load -----------------------------------------------------------------------------------
  def save(self, path: str | os.PathLike):
    """Saves the whole state (told scores, factors, pending batch) as a "bandit_state" artifact."""
    from tinyjax.io import save_artifact

    st = self._state
    arrays = {
        "values": np.asarray(st.values), "observed": np.asarray(st.observed), "spent": np.asarray(st.spent),
        "n_evaluated": np.asarray(st.n_evaluated), "step": np.asarray(st.step),
        "last_revealed": np.asarray(st.last_revealed), "factor_row": np.asarray(st.factors.row),
        "factor_col": np.asarray(st.factors.col), "active": np.asarray(st.active), "phase": np.asarray(st.phase),
        "cost": self._cost_np,
    }
    if self._pending is not None:
      arrays.update(pending_rows=np.asarray(self._pending.rows), pending_cols=np.asarray(self._pending.cols),
                    pending_valid=np.asarray(self._pending.valid))
    meta = {"n_methods": self.n_methods, "n_examples": self.n_examples, "budget": self.budget,
            "seed": self.seed, "dtype": np.dtype(self.dtype).name, "config": self.config._asdict()}
    return save_artifact(path, _ARTIFACT_KIND, arrays, meta)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "BanditEvaluator":
    """Loads a state saved by :meth:`save`."""
    from tinyjax.io import load_artifact

    _, arrays, meta = load_artifact(path, expected_kind=_ARTIFACT_KIND)
    return cls._from_artifact(arrays, meta)

  @classmethod
  def _from_artifact(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "BanditEvaluator":
    from tinyjax.io import ArtifactError

    try:
      config = dict(meta["config"])
      algorithm = config.pop("algorithm")
      # states saved before sequential halving had a noisy mode resume without it, as they were started
      config.setdefault("noisy_keep", config.get("keep", BanditConfig.keep))
      ev = cls(int(meta["n_methods"]), int(meta["n_examples"]), budget=float(meta["budget"]), algorithm=algorithm,
               seed=int(meta["seed"]), cost=arrays["cost"], dtype=meta["dtype"], **config)
      dt = ev.dtype
      ev._state = BanditState(
          values=jnp.asarray(arrays["values"], dt), observed=jnp.asarray(arrays["observed"], bool),
          spent=jnp.asarray(arrays["spent"], dt), n_evaluated=jnp.asarray(arrays["n_evaluated"], jnp.int32),
          step=jnp.asarray(arrays["step"], jnp.int32), last_revealed=jnp.asarray(arrays["last_revealed"], jnp.int32),
          factors=kernels.ALSState(jnp.asarray(arrays["factor_row"], dt), jnp.asarray(arrays["factor_col"], dt)),
          active=jnp.asarray(arrays["active"], bool), phase=jnp.asarray(arrays["phase"], jnp.int32))
      if "pending_rows" in arrays:
        ev._pending = Batch(jnp.asarray(arrays["pending_rows"], jnp.int32), jnp.asarray(arrays["pending_cols"], jnp.int32),
                            jnp.asarray(arrays["pending_valid"], bool))
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"bandit_state artifact is missing or has a malformed field: {err}") from err
    expected = (ev.n_methods, ev.n_examples)
    if ev._state.values.shape != expected or ev._state.factors.row.shape[1] != ev.n_methods:
      raise ArtifactError(f"bandit_state arrays do not match the declared shape {expected}")
    return ev


def evaluate(evaluate_fn: Callable[[int, np.ndarray], Any], n_methods: int, n_examples: int,
             budget: float = 0.1, algorithm: str = DEFAULT_ALGORITHM, seed: int = 0, **kwargs) -> BanditResult:
  """Runs a whole online search with an ``evaluate(method, examples) -> scores`` callback.

  Args:
    evaluate_fn: called with a method index and an int array of example indices; returns their scores.
    n_methods, n_examples, budget, algorithm, seed, **kwargs: as for :class:`BanditEvaluator`.

  Returns:
    BanditResult.
  """
  return BanditEvaluator(n_methods, n_examples, budget=budget, algorithm=algorithm, seed=seed, **kwargs).run(evaluate_fn)
