"""Anytime bandits: uniform sampling, UCB-E, and UCB-E with a low-rank factorization (UCB-E-LRF).

- :func:`uniform_sampling`: cells uniformly at random among the unrevealed ones.
- :func:`ucbe` (Audibert et al. 2010): the method with the highest ``mean_i + sqrt(a / n_i)`` (infinite while
  ``n_i = 0``) gets a batch of its unrevealed examples, drawn at random.
- :func:`ucbe_lrf` (after Zhou et al. 2024): after a uniform warm-up, an ensemble of rank-R factorizations with
  entry dropout (``kernels/_als.py``) models each method's deviation from its own revealed mean, so a cell's
  prediction is ``row mean + (U V^T)_ij``; the members' spread is the cell's uncertainty. A method's bound
  (:func:`lrf_bounds`) is the mean over its row of the revealed scores and of ``prediction + eta * spread`` for
  the unrevealed cells, plus the standard error of a mean of ``n_i`` cells drawn without replacement from the
  row, ``sqrt(a s_i^2 (1 - n_i/N) / n_i)``, which is 0 once the row is fully revealed. The method with the
  highest bound gets a batch of its unrevealed examples: first those already revealed for its rival (the other
  method with the highest estimated mean), so the two are compared on the same examples, then the most
  uncertain ones (uncertainty per unit cost when cells have costs). The estimate of a method's mean fills its
  unrevealed cells with the ensemble's mean prediction.

None of them depends on the budget, so one run to the largest budget serves every smaller one. Shapes: ``M``
methods, ``N`` examples, ``B`` batch size, ``E`` members.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._als import ALSState, als_init, als_moments, als_sweep, dropout_keep
from tinyjax.kernels._bandit import (BanditAlgorithm, BanditInfo, BanditState, bandit_state_init, cell_order,
                                     empirical_best, empirical_means, finish_step, random_argmax, row_cells,
                                     step_keys, uniform_cells)

LRF_BONUSES = ("variance", "ucbe")
LRF_COLUMNS = ("paired", "std")


class CellOrderAux(NamedTuple):
  """Fixed randomness of uniform sampling: the order in which it reveals the cells."""
  order: jax.Array   # [M*N] int32 random cell order (:func:`cell_order`)


class NoAux(NamedTuple):
  """UCB-E needs no fixed randomness."""


class LRFAux(NamedTuple):
  """Fixed randomness of UCB-E-LRF."""
  keep: jax.Array    # [E, M, N] bool dropout masks of the members (``dropout_keep``)
  order: jax.Array   # [M*N] int32 cell order of the uniform warm-up (:func:`cell_order`)


class LRFState(NamedTuple):
  """The shared fields plus the ensemble's factors."""
  values: jax.Array
  observed: jax.Array
  spent: jax.Array
  n_evaluated: jax.Array
  step: jax.Array
  last_revealed: jax.Array
  factors: ALSState         # ensemble factors, row [E, M, R] and col [E, N, R]


def _empty_init(key, n_rows: int, n_cols: int, dtype=jnp.float32) -> BanditState:
  del key
  return bandit_state_init(n_rows, n_cols, dtype)


def uniform_sampling(*, batch_size: int) -> BanditAlgorithm:
  """Uniform sampling without replacement, ``batch_size`` cells per step (the baseline)."""

  def aux(key, n_rows: int, n_cols: int) -> CellOrderAux:
    _, key_order = jax.random.split(key)
    return CellOrderAux(cell_order(key_order, n_rows, n_cols))

  def select(state, key, aux, cost, budget, total_cells):
    del total_cells
    keys = step_keys(key)
    rows, cols, valid = uniform_cells(aux.order, state.observed, state.n_evaluated, batch_size)
    return state, finish_step(state, rows, cols, valid, cost, budget), empirical_best(state, keys.best)

  def recommend(state, key, aux, total_cells):
    del aux, total_cells
    return empirical_best(state, jax.random.split(key)[0])

  return BanditAlgorithm(_empty_init, aux, select, recommend)


def ucb_bounds(state, a) -> jax.Array:
  """UCB-E bounds [M]: ``mean + sqrt(a / n)``, +inf with no revealed cell, -inf for a full row."""
  means, counts = empirical_means(state)
  n_cols = state.values.shape[1]
  bonus = jnp.sqrt(jnp.asarray(a, state.values.dtype) / jnp.maximum(counts, 1).astype(state.values.dtype))
  bounds = jnp.where(counts > 0, means + bonus, jnp.inf)
  return jnp.where(counts >= n_cols, -jnp.inf, bounds)


def ucbe(*, batch_size: int, a: float) -> BanditAlgorithm:
  """UCB-E: the method with the highest ``mean + sqrt(a / n)`` gets ``batch_size`` of its cells at random."""

  def aux(key, n_rows: int, n_cols: int) -> NoAux:
    del key, n_rows, n_cols
    return NoAux()

  def select(state, key, aux, cost, budget, total_cells):
    del aux, total_cells
    keys = step_keys(key)
    n_cols = state.values.shape[1]
    row = random_argmax(keys.pick, ucb_bounds(state, a))
    cols, valid = row_cells(keys.cells, state.observed[row], jax.random.uniform(keys.cells, (n_cols,)), batch_size)
    rows = jnp.full((batch_size,), row, jnp.int32)
    return state, finish_step(state, rows, cols, valid, cost, budget), empirical_best(state, keys.best)

  def recommend(state, key, aux, total_cells):
    del aux, total_cells
    return empirical_best(state, jax.random.split(key)[0])

  return BanditAlgorithm(_empty_init, aux, select, recommend)


# ----------------------------------------------------------------------------------------------------
# UCB-E-LRF


def _centered(state) -> tuple[jax.Array, jax.Array]:
  """Row means of the revealed cells [M] (0 where none) and the revealed values minus them [M, N]."""
  means, _ = empirical_means(state)
  means = jnp.nan_to_num(means, nan=0.0)
  return means, jnp.where(state.observed, state.values - means[:, None], 0.0)


def lrf_moments(state, factors: ALSState) -> tuple[jax.Array, jax.Array]:
  """Predicted mean and ensemble variance of every cell, [M, N] each.

  The factorization models each method's deviation from its own revealed mean, so a cell's prediction
  is ``row mean + (U V^T)_ij``: with no information about a column the prediction falls back to the
  method's mean (the UCB-E estimate), and well-revealed columns correct it (a paired comparison).
  """
  means, _ = _centered(state)
  mean, var = als_moments(factors)
  return means[:, None] + mean, var


def lrf_refit(state: LRFState, keep: jax.Array, l2, sweeps: int) -> ALSState:
  """``sweeps`` warm-started ALS sweeps on the revealed cells minus their row mean (see :func:`lrf_moments`).

  Args:
    state: current state. keep: [E, M, N] bool dropout masks. l2: ridge penalty. sweeps: static count.
  """
  weights = state.observed[None] & keep
  _, centered = _centered(state)
  factors = state.factors
  for _ in range(sweeps):
    factors = als_sweep(factors, centered, weights, l2)
  return factors


def row_variances(state, prior_count) -> jax.Array:
  """Each row's variance of its revealed scores, shrunk to the pooled variance, [M].

  ``(sum of squared deviations from the row mean + prior_count * pooled) / (n_i - 1 + prior_count)``,
  where ``pooled`` is the variance of all revealed scores around their row means: a row with a few
  identical scores still gets a positive variance, and a well-sampled row gets its own.
  """
  means, counts = _centered(state)[0], empirical_means(state)[1]
  dev = jnp.where(state.observed, state.values - means[:, None], 0.0)
  ss = jnp.sum(dev ** 2, axis=1)
  dtype = state.values.dtype
  dof = jnp.maximum(counts - 1, 0).astype(dtype)
  pooled = jnp.sum(ss) / jnp.maximum(jnp.sum(dof), 1.0)
  prior = jnp.asarray(prior_count, dtype)
  return (ss + prior * pooled) / jnp.maximum(dof + prior, 1e-12)


def lrf_bounds(state, mean: jax.Array, std: jax.Array, *, a, eta, bonus: str, prior_count) -> jax.Array:
  """Upper bounds of the row means for UCB-E-LRF, [M] (+inf for an empty row, -inf for a full one).

  The bound of row i is the mean over its row of the revealed scores and of ``mean + eta * std`` for the
  unrevealed cells, plus a bonus for the uncertainty of the row mean itself:

  - ``bonus="variance"``: ``sqrt(a * s_i^2 * (1 - n_i / N) / n_i)``, the standard error of a mean of n_i
    cells drawn without replacement from the row's N (finite-population correction), with ``s_i^2`` from
    :func:`row_variances`. It vanishes for a fully revealed row, whose bound is then its exact mean.
  - ``bonus="ucbe"``: ``sqrt(a / n_i) * (1 - n_i / N)`` (the earlier default).

  Args:
    state: current state.
    mean, std: [M, N] predicted mean and ensemble spread of every cell (:func:`lrf_moments`).
    a, eta, bonus, prior_count: the settings of :func:`ucbe_lrf`.
  """
  n_cols = state.values.shape[1]
  entry_ucb = jnp.where(state.observed, state.values, mean + eta * std)
  _, counts = empirical_means(state)
  n = jnp.maximum(counts, 1).astype(mean.dtype)
  unrevealed = 1.0 - n / n_cols
  a = jnp.asarray(a, mean.dtype)
  if bonus == "variance":
    extra = jnp.sqrt(a * row_variances(state, prior_count) * unrevealed / n)
  else:
    extra = jnp.sqrt(a / n) * unrevealed
  bounds = jnp.where(counts > 0, jnp.mean(entry_ucb, axis=1) + extra, jnp.inf)
  return jnp.where(counts >= n_cols, -jnp.inf, bounds)


def ucbe_lrf(*, batch_size: int, a: float, rank: int, ensemble_size: int, l2: float, drop_probability: float,
             warmup: float, eta: float, sweeps: int, bonus: str, prior_count: float, columns: str) -> BanditAlgorithm:
  """UCB-E with an ensemble low-rank factorization of the revealed scores (see the module docstring).

  Args:
    batch_size: B cells per step.
    a: exploration weight of the row bonus (:func:`lrf_bounds`).
    rank: R of the factorization. ensemble_size: E members (>= 2).
    l2: ridge penalty of every ALS solve (> 0). drop_probability: entry dropout of each member.
    warmup: fraction of all cells revealed uniformly before the bound is used.
    eta: weight of the ensemble spread in the bound. sweeps: warm-started ALS sweeps per step.
    bonus: "variance" (standard error without replacement) or "ucbe" (``sqrt(a / n) (1 - n / N)``).
    prior_count: pseudo-cells of the pooled variance in each row's variance (``bonus="variance"``).
    columns: cells of the picked row: "paired" (its rival's revealed examples first) or "std" (most uncertain).
  """
  if bonus not in LRF_BONUSES or columns not in LRF_COLUMNS:
    raise ValueError(f"bonus must be one of {LRF_BONUSES} and columns one of {LRF_COLUMNS}, got {bonus!r}, {columns!r}")

  def init(key, n_rows: int, n_cols: int, dtype=jnp.float32) -> LRFState:
    return LRFState(*bandit_state_init(n_rows, n_cols, dtype),
                    factors=als_init(key, n_rows, n_cols, rank, ensemble_size, dtype))

  def aux(key, n_rows: int, n_cols: int) -> LRFAux:
    key_drop, key_order = jax.random.split(key)
    return LRFAux(dropout_keep(key_drop, ensemble_size, n_rows, n_cols, drop_probability),
                  cell_order(key_order, n_rows, n_cols))

  def estimate(state, key, factors) -> BanditInfo:
    mean, _ = lrf_moments(state, factors)
    means = jnp.mean(jnp.where(state.observed, state.values, mean), axis=1)
    return BanditInfo(random_argmax(key, means), means)

  def select(state, key, aux, cost, budget, total_cells):
    del total_cells
    n_rows, n_cols = state.values.shape
    keys = step_keys(key)
    factors = lrf_refit(state, aux.keep, l2, sweeps)
    state = state._replace(factors=factors)
    mean, var = lrf_moments(state, factors)
    std = jnp.sqrt(var)
    bounds = lrf_bounds(state, mean, std, a=a, eta=eta, bonus=bonus, prior_count=prior_count)
    row = random_argmax(keys.pick, bounds)
    col_score = std[row] / cost[row]
    if columns == "paired":
      est = jnp.mean(jnp.where(state.observed, state.values, mean), axis=1)
      rival = random_argmax(jax.random.fold_in(keys.pick, 1), jnp.where(jnp.arange(n_rows) == row, -jnp.inf, est))
      col_score = state.observed[rival].astype(std.dtype) + col_score / (1.0 + jnp.max(col_score))
    cols, valid = row_cells(keys.cells, state.observed[row], col_score, batch_size)
    rows = jnp.full((batch_size,), row, jnp.int32)
    warm_rows, warm_cols, warm_valid = uniform_cells(aux.order, state.observed, state.n_evaluated, batch_size)
    warming = state.n_evaluated < jnp.ceil(warmup * n_rows * n_cols).astype(jnp.int32)
    rows = jnp.where(warming, warm_rows, rows)
    cols = jnp.where(warming, warm_cols, cols)
    valid = jnp.where(warming, warm_valid, valid)
    return state, finish_step(state, rows, cols, valid, cost, budget), estimate(state, keys.best, factors)

  def recommend(state, key, aux, total_cells):
    del total_cells
    key_best, _ = jax.random.split(key)
    return estimate(state, key_best, lrf_refit(state, aux.keep, l2, sweeps))

  return BanditAlgorithm(init, aux, select, recommend)

