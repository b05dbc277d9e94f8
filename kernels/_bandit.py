"""Best-arm identification over a methods x examples score matrix: one step of a batched bandit.

An arm is a method (a row); pulling it reveals the score of one (method, example) cell. Every step
picks up to ``batch_size`` unrevealed cells (``bandit_select``) and the caller reveals their scores
(``bandit_reveal``): from the full matrix in an offline simulation, from real model calls online. The
algorithms are:

- ``uniform``: cells uniformly at random among the unrevealed ones.
- ``ucbe``: UCB-E (Audibert et al. 2010): the method with the highest ``mean_i + sqrt(a / n_i)``
  (infinite while ``n_i = 0``) gets a batch of its unrevealed examples, drawn at random.
- ``ucbe-lrf``: UCB-E with a low-rank factorization (after Zhou et al. 2024). After a uniform warm-up, an
  ensemble of rank-R factorizations with entry dropout (``tinyjax.kernels._als``) models each method's
  deviation from its own revealed mean, so a cell's prediction is ``row mean + (U V^T)_ij``; the members'
  spread is the cell's uncertainty. A method's bound (:func:`lrf_bounds`) is the mean over its row of the
  revealed scores and of ``prediction + eta * spread`` for the unrevealed cells, plus the standard error of
  a mean of ``n_i`` cells drawn without replacement from the row, ``sqrt(a s_i^2 (1 - n_i/N) / n_i)``, which
  is 0 once the row is fully revealed. The method with the highest bound gets a batch of its unrevealed
  examples: first those already revealed for its rival (the other method with the highest estimated mean),
  so the two are compared on the same examples, then the most uncertain ones (uncertainty per unit cost
  when cells have costs). The estimate of a method's mean fills its unrevealed cells with the ensemble's
  mean prediction.
- ``successive-rejects`` (Audibert et al. 2010): phases k = 1..M-1; in phase k every surviving method
  is evaluated on ``n_k = ceil((n - M) / (logbar(M) (M + 1 - k)))`` cells in total, then the one with the
  lowest mean is dropped. ``n`` is the budget in cells.
- ``sequential-halving`` (Karnin et al. 2013): rounds r = 0..R-1 over ``a_0 = M`` survivors; after round r
  only the ``a_{r+1} = ceil(keep * a_r)`` methods with the highest means survive (``keep = 1/2``: halving).
  Every round gets the same share ``c`` of the budget, ``t_r = min(N, t_{r-1} + c / a_r)`` cells per
  survivor, with ``c`` chosen so that the whole budget is spent once rows are full (a cap-aware version of
  Karnin's ``n / (a_r R)``, which would leave budget unspent when late survivors' rows fill up). Noisy mode
  (:func:`halving_noisy`): when the coefficient alpha of the first round's scores is below ``noisy_alpha``,
  its ranking is mostly item sampling noise, and every cut keeps ``noisy_keep`` instead of ``keep``; the rounds
  after the first then share what is left of the budget by the same rule.

The two elimination algorithms evaluate every survivor on the same examples: one random order of the
examples per run, and a survivor's first ``t`` cells are the first ``t`` examples of that order. Two
methods' means are then compared on the same examples (a paired comparison, whose noise is their rate of
disagreement rather than the sum of their variances), and each step serves up to ``B`` cells of several
methods, so a run takes about ``n / B`` steps whatever the number of methods.

All ties (equal bounds, equal means, equal uncertainties) are broken uniformly at random, so the order
of the rows does not matter. Shapes: ``M`` methods, ``N`` examples, ``B`` batch size, ``E`` members.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._als import ALSState, als_init, als_moments, als_sweep

ALGORITHMS = ("uniform", "ucbe", "ucbe-lrf", "successive-rejects", "sequential-halving")
ELIMINATION = ("successive-rejects", "sequential-halving")
LRF_BONUSES = ("variance", "ucbe")
LRF_COLUMNS = ("paired", "std")


class BanditConfig(NamedTuple):
  """Static settings of a bandit run (hashable: pass it as a static jit argument)."""
  algorithm: str = "ucbe-lrf"
  batch_size: int = 32           # B cells per step
  a: float = 1.0                 # exploration weight: ucbe bonus sqrt(a / n_i); ucbe-lrf see lrf_bounds
  rank: int = 1                  # R of the factorization
  ensemble_size: int = 8         # E members
  l2: float = 0.1                # ridge penalty of every ALS solve
  drop_probability: float = 0.05  # entry dropout of each member
  warmup: float = 0.01           # fraction of all cells revealed uniformly before the LRF bound is used
  eta: float = 1.0               # weight of the ensemble spread in the LRF bound
  sweeps: int = 1                # ALS sweeps per step (warm-started)
  bonus: str = "variance"        # ucbe-lrf row bonus: "variance" (standard error, without replacement) or "ucbe"
  prior_count: float = 10.0      # pseudo-cells of the pooled variance in each row's variance (bonus="variance")
  columns: str = "paired"        # ucbe-lrf cells of the picked row: "paired" (its rival's revealed examples first) or "std"
  keep: float = 0.5              # sequential halving: fraction of the survivors kept after each round
  noisy_keep: float = 0.7        # sequential halving: ``keep`` instead, when the first round's ranking is noise
  noisy_alpha: float = 0.3       # ... that is, when the coefficient alpha of the first round is below this


class BanditState(NamedTuple):
  """Everything the next step needs."""
  values: jax.Array         # [M, N] revealed scores, 0 where not revealed
  observed: jax.Array       # [M, N] bool, revealed cells
  spent: jax.Array          # [] float, cost spent so far (cells when all costs are 1)
  n_evaluated: jax.Array    # [] int32, revealed cells
  step: jax.Array           # [] int32, steps taken
  last_revealed: jax.Array  # [] int32, cells revealed by the last step (-1 before the first)
  factors: ALSState         # ensemble factors (ucbe-lrf; carried by every algorithm, unused otherwise)
  active: jax.Array         # [M] bool, surviving methods (successive rejects, sequential halving)
  phase: jax.Array          # [] int32, current phase k >= 1 (successive rejects) or round r + 1 (sequential halving)


class Batch(NamedTuple):
  """Cells chosen by one step; only the ``valid`` ones are to be evaluated."""
  rows: jax.Array    # [B] int32 method index
  cols: jax.Array    # [B] int32 example index
  valid: jax.Array   # [B] bool


class BanditInfo(NamedTuple):
  """The current recommendation, computed before the step's batch is revealed."""
  best: jax.Array    # [] int32 recommended method
  means: jax.Array   # [M] estimated mean score (NaN for a method with no revealed cell, except ucbe-lrf)


def bandit_init(key: jax.Array, config: BanditConfig, num_rows: int, num_cols: int,
                dtype=jnp.float32) -> BanditState:
  """Empty state: nothing revealed, random ensemble factors.

  Args:
    key: PRNG key for the factor initialisation.
    config: static settings. num_rows, num_cols: M, N. dtype: float dtype of scores and factors.

  Returns:
    BanditState.
  """
  return BanditState(
      values=jnp.zeros((num_rows, num_cols), dtype),
      observed=jnp.zeros((num_rows, num_cols), bool),
      spent=jnp.zeros((), dtype),
      n_evaluated=jnp.zeros((), jnp.int32),
      step=jnp.zeros((), jnp.int32),
      last_revealed=jnp.full((), -1, jnp.int32),
      factors=als_init(key, num_rows, num_cols, config.rank, config.ensemble_size, dtype),
      active=jnp.ones((num_rows,), bool),
      phase=jnp.ones((), jnp.int32),
  )


def random_argmax(key: jax.Array, x: jax.Array) -> jax.Array:
  """Index of the maximum of ``x`` [K], ties broken uniformly at random. Returns [] int32."""
  is_max = x == jnp.max(x)
  return jnp.argmax(jnp.where(is_max, jax.random.uniform(key, x.shape), -1.0)).astype(jnp.int32)


def random_top_k(key: jax.Array, x: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """The ``k`` largest entries of ``x`` [K], equal values ordered at random.

  Returns:
    ``(values [k], indices [k] int32)``, largest first.
  """
  perm = jax.random.permutation(key, x.shape[0])
  vals, idx = jax.lax.top_k(x[perm], k)          # top_k keeps the lower (permuted) index first on ties
  return vals, perm[idx].astype(jnp.int32)


def empirical_means(state: BanditState) -> tuple[jax.Array, jax.Array]:
  """Row means of the revealed cells [M] (NaN where none) and revealed counts [M] int32."""
  counts = jnp.sum(state.observed, axis=1).astype(jnp.int32)
  sums = jnp.sum(jnp.where(state.observed, state.values, 0.0), axis=1)
  means = jnp.where(counts > 0, sums / jnp.maximum(counts, 1).astype(sums.dtype), jnp.nan)
  return means, counts


def ucb_bounds(state: BanditState, a) -> jax.Array:
  """UCB-E bounds [M]: ``mean + sqrt(a / n)``, +inf with no revealed cell, -inf for a full row."""
  means, counts = empirical_means(state)
  num_cols = state.values.shape[1]
  bonus = jnp.sqrt(jnp.asarray(a, state.values.dtype) / jnp.maximum(counts, 1).astype(state.values.dtype))
  bounds = jnp.where(counts > 0, means + bonus, jnp.inf)
  return jnp.where(counts >= num_cols, -jnp.inf, bounds)


def _budget_cut(rows, cols, valid, cost, remaining):
  """Keeps the longest prefix of the valid candidates whose cost fits in ``remaining``."""
  cell_cost = jnp.where(valid, cost[rows, cols], 0.0)
  return valid & (jnp.cumsum(cell_cost) <= remaining)


def _uniform_cells(order, observed, start, batch_size):
  """The next ``batch_size`` cells of the random cell order ``order`` [M*N], from position ``start``.

  Uniform sampling without replacement: every cell revealed so far came from this order, so the next
  cells are unrevealed (checked anyway) and the cost is O(B) per step instead of a top-k over M*N.
  """
  num_cells = order.shape[0]
  num_cols = observed.shape[1]
  pos = start + jnp.arange(batch_size, dtype=jnp.int32)
  flat = order[jnp.minimum(pos, num_cells - 1)]
  rows, cols = (flat // num_cols).astype(jnp.int32), (flat % num_cols).astype(jnp.int32)
  return rows, cols, (pos < num_cells) & ~observed[rows, cols]


def _row_cells(key, observed_row, score_row, batch_size):
  """The ``batch_size`` unrevealed cells of one row with the highest score (ties at random)."""
  score = jnp.where(observed_row, -jnp.inf, score_row)
  vals, cols = random_top_k(key, score, batch_size)
  return cols, vals > -jnp.inf


def _logbar(num_arms: int) -> float:
  return 0.5 + sum(1.0 / i for i in range(2, num_arms + 1))


def _sr_target(phase, num_arms: int, total_cells):
  """Cells per surviving arm at the end of ``phase`` (successive rejects), at least 1."""
  total = jnp.asarray(total_cells, jnp.float32)
  denom = _logbar(num_arms) * (num_arms + 1 - phase).astype(jnp.float32)
  n_k = jnp.ceil(jnp.maximum(total - num_arms, 0.0) / jnp.maximum(denom, 1e-6))
  return jnp.maximum(n_k, 1.0).astype(jnp.int32)


def halving_arms(num_arms: int, keep: float) -> tuple[int, ...]:
  """Survivors at the start of each round of sequential halving: ``a_0 = M``, ``a_{r+1} = ceil(keep a_r)``.

  Each round drops at least one method, so there are at most ``M - 1`` rounds. Returns a static tuple [R].
  """
  arms = [int(num_arms)]
  while arms[-1] > 1:
    arms.append(min(max(math.ceil(arms[-1] * keep - 1e-9), 1), arms[-1] - 1))
  return tuple(arms[:-1])


def halving_targets(num_arms: int, num_cols: int, total_cells, keep: float, start=0) -> jax.Array:
  """Cells per survivor at the end of each round of sequential halving, [R] int32 (at least 1).

  Every round gets the same budget ``c``: ``t_r = min(N, t_{r-1} + c / a_r)``, and ``c`` is the largest
  value (found by bisection) with ``sum_r a_r (t_r - t_{r-1}) <= total_cells``, so rows that fill up early
  leave their share to the other rounds instead of wasting it. ``start`` is ``t_{-1}``: cells every one of
  the ``num_arms`` survivors already has (0 for a whole run; ``total_cells`` is then what is left).
  """
  arms = jnp.asarray(halving_arms(num_arms, keep), jnp.float32)
  total = jnp.asarray(total_cells, jnp.float32)
  t0 = jnp.minimum(jnp.asarray(start, jnp.float32), float(num_cols))

  def targets(c):
    def one(t, a):
      t_new = jnp.minimum(float(num_cols), t + c / a)
      return t_new, (t_new, a * (t_new - t))
    _, (ts, spent) = jax.lax.scan(one, t0, arms)
    return ts, jnp.sum(spent)

  def bisect(_, lo_hi):
    lo, hi = lo_hi
    mid = 0.5 * (lo + hi)
    fits = targets(mid)[1] <= total
    return jnp.where(fits, mid, lo), jnp.where(fits, hi, mid)

  lo, _ = jax.lax.fori_loop(0, 64, bisect, (jnp.zeros((), jnp.float32), total + 1.0))
  ts = jnp.floor(targets(lo)[0] + 1e-4)
  return jnp.maximum(ts, 1.0).astype(jnp.int32)


def shared_alpha(state: BanditState) -> jax.Array:
  """Coefficient alpha (Cronbach's; KR-20 for 0/1 scores) of the methods on the examples revealed for all.

  ``alpha = k / (k - 1) (1 - sum_j var_j / var(total))`` over the ``k`` examples revealed for every method:
  the share of the spread of the methods' totals that is not item sampling noise. For the elimination
  algorithms these are the first round's examples. +inf below two such examples (nothing to judge), -inf
  when every method has the same total (the ranking is all ties). Returns [] float.
  """
  shared = jnp.all(state.observed, axis=0)
  k = jnp.sum(shared).astype(state.values.dtype)
  x = jnp.where(shared[None, :], state.values, 0.0)
  var_total = jnp.var(jnp.sum(x, axis=1))
  item_var = jnp.sum(jnp.where(shared, jnp.var(x, axis=0), 0.0))
  alpha = k / jnp.maximum(k - 1.0, 1.0) * (1.0 - item_var / jnp.where(var_total > 0, var_total, 1.0))
  alpha = jnp.where(var_total > 0, alpha, -jnp.inf)
  return jnp.where(k >= 2, alpha, jnp.inf)


def halving_noisy(config: BanditConfig, state: BanditState) -> jax.Array:
  """Whether sequential halving runs in its noisy mode: when the first round's ranking is mostly noise
  (``shared_alpha < noisy_alpha``), it keeps ``noisy_keep`` instead of ``keep`` from the first cut on.

  Only the cut after the first round and later rounds read it; before that cut the first round's examples
  are still being revealed, and after it they are the examples revealed for every method for good (the
  dropped methods get no more), so the mode never changes within a run. Always off when
  ``noisy_keep == keep`` or with fewer than 3 methods. [] bool.
  """
  if config.noisy_keep == config.keep or state.values.shape[0] < 3:
    return jnp.zeros((), bool)
  return shared_alpha(state) < config.noisy_alpha


def _noisy_tail(config: BanditConfig, num_rows: int, num_cols: int, total_cells, first):
  """Targets of the rounds after the first in noisy mode: ``ceil(noisy_keep M)`` survivors that already have
  ``first`` cells each share what is left of the budget, ``noisy_keep`` kept per round. [R'] int32."""
  arms1 = min(max(math.ceil(num_rows * config.noisy_keep - 1e-9), 1), num_rows - 1)
  if arms1 <= 1:
    return jnp.full((1,), num_cols, jnp.int32)
  left = jnp.asarray(total_cells, jnp.float32) - num_rows * first.astype(jnp.float32)
  return halving_targets(arms1, num_cols, left, config.noisy_keep, start=first)


def _halving_schedules(config: BanditConfig, num_rows: int, num_cols: int, total_cells):
  """Sequential halving's cells per survivor at the end of each round: ``(plain [R], noisy [R'] or None)``.

  The noisy schedule shares the first round with the plain one and follows it with :func:`_noisy_tail`; it is
  None when the noisy mode cannot switch on (``noisy_keep == keep`` or fewer than 3 methods).
  """
  ts = halving_targets(num_rows, num_cols, total_cells, config.keep)
  if config.noisy_keep == config.keep or num_rows < 3:
    return ts, None
  return ts, jnp.concatenate([ts[:1], _noisy_tail(config, num_rows, num_cols, total_cells, ts[0])])


def _elim_target(config: BanditConfig, schedules, phase, num_rows: int, total_cells, noisy):
  """Cells per survivor at the end of the current phase (successive rejects) or round (halving, from
  ``schedules`` of :func:`_halving_schedules`); ``noisy``: [] bool, its noisy mode (:func:`halving_noisy`)."""
  if config.algorithm == "successive-rejects":
    return _sr_target(phase, num_rows, total_cells)
  ts, noisy_ts = schedules
  target = ts[jnp.clip(phase - 1, 0, ts.shape[0] - 1)]
  if noisy_ts is None:
    return target
  return jnp.where(noisy, noisy_ts[jnp.clip(phase - 1, 0, noisy_ts.shape[0] - 1)], target)


def _keep_top(key, means, active, n_keep):
  """Mask [M] of the ``n_keep`` active methods with the highest means (ties at random)."""
  score = jnp.where(active, jnp.nan_to_num(means, nan=-jnp.inf), -jnp.inf)
  order = jnp.lexsort((jax.random.uniform(key, means.shape), -score))   # best first, ties in random order
  rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))
  return active & (rank < n_keep)


def _elim_advance(config: BanditConfig, key, state: BanditState, total_cells):
  """Drops methods (one per phase, or all but the best ``keep`` share per round) until a survivor still
  needs cells in the current phase or round, or one survivor is left.

  Returns ``(active [M] bool, phase [] int32, target [] int32)``: the survivors, the phase or round they are
  in, and the cells per survivor at its end. The round schedules are computed once per call, outside the loop.
  """
  num_rows, num_cols = state.values.shape
  means, counts = empirical_means(state)
  full = counts >= num_cols
  halving = config.algorithm == "sequential-halving"
  noisy = halving_noisy(config, state) if halving else False
  schedules = _halving_schedules(config, num_rows, num_cols, total_cells) if halving else None

  def target_of(phase):
    return _elim_target(config, schedules, phase, num_rows, total_cells, noisy)

  def phase_done(carry):
    active, phase, _ = carry
    target = target_of(phase)
    need = active & (counts < target) & ~full
    return (jnp.sum(active) > 1) & ~jnp.any(need)

  def drop(carry):
    active, phase, k = carry
    k, sub = jax.random.split(k)
    n_active = jnp.sum(active)
    if config.algorithm == "successive-rejects":
      n_keep = n_active - 1
    else:
      keep = jnp.where(noisy, config.noisy_keep, config.keep)
      n_keep = jnp.clip(jnp.ceil(keep * n_active.astype(jnp.float32) - 1e-6).astype(n_active.dtype),
                        1, n_active - 1)
    return _keep_top(sub, means, active, n_keep), phase + 1, k

  active, phase, _ = jax.lax.while_loop(phase_done, drop, (state.active, state.phase, key))
  return active, phase, target_of(phase)


def example_order(key: jax.Array, num_cols: int) -> jax.Array:
  """A uniformly random order of the examples, [N] int32: the elimination algorithms evaluate every
  survivor on the first ``t`` examples of it."""
  return jax.random.permutation(key, num_cols).astype(jnp.int32)


def _elim_cells(key, state: BanditState, active, target, order, batch_size):
  """Up to ``batch_size`` cells that survivors still need: earliest examples of ``order`` first, rows at random.

  A cell (i, j) is needed when method i survives, is not revealed there, and example j is among the first
  ``target`` of ``order``.
  """
  num_rows, num_cols = state.values.shape
  position = jnp.zeros((num_cols,), jnp.int32).at[order].set(jnp.arange(num_cols, dtype=jnp.int32))
  row_rank = jax.random.permutation(key, num_rows).astype(jnp.int32)
  need = active[:, None] & (position[None, :] < target) & ~state.observed & (jnp.sum(active) > 1)
  # Earlier examples first, then rows in a random order. float32, because top_k of int32 is ~100x slower on
  # CPU; the order is exact below 2^24 cells, and beyond that only the order among needed cells blurs.
  priority = -(position[None, :].astype(jnp.float32) * num_rows + row_rank[:, None].astype(jnp.float32))
  vals, flat = jax.lax.top_k(jnp.where(need, priority, -jnp.inf).reshape(-1), batch_size)
  rows, cols = (flat // num_cols).astype(jnp.int32), (flat % num_cols).astype(jnp.int32)
  return rows, cols, vals > -jnp.inf


def bandit_estimate(config: BanditConfig, state: BanditState, key: jax.Array,
                    factors: ALSState | None = None) -> BanditInfo:
  """The recommendation from ``state`` (for ucbe-lrf, from ``factors``, default ``state.factors``).

  Args:
    config: static settings. state: current state. key: PRNG key for tie-breaking.
    factors: ensemble factors to impute unrevealed cells with (ucbe-lrf only).

  Returns:
    BanditInfo: best [] int32, means [M].
  """
  if config.algorithm == "ucbe-lrf":
    factors = state.factors if factors is None else factors
    mean, _ = lrf_moments(state, factors)
    means = jnp.mean(jnp.where(state.observed, state.values, mean), axis=1)
    return BanditInfo(random_argmax(key, means), means)
  means, _ = empirical_means(state)
  score = jnp.nan_to_num(means, nan=-jnp.inf)
  if config.algorithm in ELIMINATION:
    score = jnp.where(state.active, score, -jnp.inf)
  return BanditInfo(random_argmax(key, score), means)


def _centered(state: BanditState) -> tuple[jax.Array, jax.Array]:
  """Row means of the revealed cells [M] (0 where none) and the revealed values minus them [M, N]."""
  means, _ = empirical_means(state)
  means = jnp.nan_to_num(means, nan=0.0)
  return means, jnp.where(state.observed, state.values - means[:, None], 0.0)


def lrf_moments(state: BanditState, factors: ALSState) -> tuple[jax.Array, jax.Array]:
  """Predicted mean and ensemble variance of every cell, [M, N] each (ucbe-lrf).

  The factorization models each method's deviation from its own revealed mean, so a cell's prediction
  is ``row mean + (U V^T)_ij``: with no information about a column the prediction falls back to the
  method's mean (the UCB-E estimate), and well-revealed columns correct it (a paired comparison).
  """
  means, _ = _centered(state)
  mean, var = als_moments(factors)
  return means[:, None] + mean, var


def bandit_refit(config: BanditConfig, state: BanditState, keep: jax.Array) -> ALSState:
  """``config.sweeps`` warm-started ALS sweeps on the revealed cells (ucbe-lrf), else the factors as-is.

  The fitted values are the revealed scores minus their row mean (see :func:`lrf_moments`).

  Args:
    keep: [E, M, N] bool dropout masks (``dropout_keep``).
  """
  if config.algorithm != "ucbe-lrf":
    return state.factors
  weights = state.observed[None] & keep
  _, centered = _centered(state)
  factors = state.factors
  for _ in range(config.sweeps):
    factors = als_sweep(factors, centered, weights, config.l2)
  return factors


def row_variances(state: BanditState, prior_count) -> jax.Array:
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


def lrf_bounds(config: BanditConfig, state: BanditState, mean: jax.Array, std: jax.Array) -> jax.Array:
  """Upper bounds of the row means for ucbe-lrf, [M] (+inf for an empty row, -inf for a full one).

  The bound of row i is the mean over its row of the revealed scores and of ``mean + eta * std`` for the
  unrevealed cells, plus a bonus for the uncertainty of the row mean itself:

  - ``bonus="variance"``: ``sqrt(a * s_i^2 * (1 - n_i / N) / n_i)``, the standard error of a mean of n_i
    cells drawn without replacement from the row's N (finite-population correction), with ``s_i^2`` from
    :func:`row_variances`. It vanishes for a fully revealed row, whose bound is then its exact mean.
  - ``bonus="ucbe"``: ``sqrt(a / n_i) * (1 - n_i / N)`` (the earlier default).

  Args:
    mean, std: [M, N] predicted mean and ensemble spread of every cell (:func:`lrf_moments`).
  """
  num_cols = state.values.shape[1]
  entry_ucb = jnp.where(state.observed, state.values, mean + config.eta * std)
  _, counts = empirical_means(state)
  n = jnp.maximum(counts, 1).astype(mean.dtype)
  unrevealed = 1.0 - n / num_cols
  a = jnp.asarray(config.a, mean.dtype)
  if config.bonus == "variance":
    bonus = jnp.sqrt(a * row_variances(state, config.prior_count) * unrevealed / n)
  else:
    bonus = jnp.sqrt(a / n) * unrevealed
  bounds = jnp.where(counts > 0, jnp.mean(entry_ucb, axis=1) + bonus, jnp.inf)
  return jnp.where(counts >= num_cols, -jnp.inf, bounds)


def cell_order(key: jax.Array, num_rows: int, num_cols: int) -> jax.Array:
  """A uniformly random order of all cells (flat indices ``row * N + col``), [M*N] int32."""
  return jax.random.permutation(key, num_rows * num_cols).astype(jnp.int32)


def bandit_select(config: BanditConfig, state: BanditState, key: jax.Array, keep: jax.Array,
                  cost: jax.Array, budget, total_cells, order: jax.Array) -> tuple[BanditState, Batch, BanditInfo]:
  """One step: refit (ucbe-lrf), recommend, and choose the next batch of cells.

  Args:
    config: static settings.
    state: current state.
    key: PRNG key of this step (e.g. ``fold_in(seed_key, state.step)``).
    keep: [E, M, N] bool dropout masks (ignored unless ucbe-lrf).
    cost: [M, N] positive cost of each cell (ones for "budget = number of cells").
    budget: [] total budget in cost units; the batch never makes ``spent`` exceed it.
    total_cells: [] budget in cells, used by the elimination algorithms for their phase lengths.
    order: [M*N] int32 random cell order (``cell_order``), used by uniform sampling and the ucbe-lrf warm-up
      (which reveal cells in this order); [N] int32 random example order (``example_order``) for the
      elimination algorithms; any [1] array for ucbe.

  Returns:
    ``(state, batch, info)``: the state with refitted factors and updated survivors (nothing revealed
    yet), the batch ([B] rows, cols, valid), and the recommendation before this batch.
  """
  num_rows, num_cols = state.values.shape
  batch_size = config.batch_size
  key_pick, key_cells, key_best, key_sr, key_warm = jax.random.split(key, 5)
  factors = bandit_refit(config, state, keep)
  state = state._replace(factors=factors)
  alg = config.algorithm

  if alg == "uniform":
    rows, cols, valid = _uniform_cells(order, state.observed, state.n_evaluated, batch_size)
  elif alg == "ucbe":
    row = random_argmax(key_pick, ucb_bounds(state, config.a))
    cols, valid = _row_cells(key_cells, state.observed[row], jax.random.uniform(key_cells, (num_cols,)),
                             batch_size)
    rows = jnp.full((batch_size,), row, jnp.int32)
  elif alg == "ucbe-lrf":
    mean, var = lrf_moments(state, factors)
    std = jnp.sqrt(var)
    bounds = lrf_bounds(config, state, mean, std)
    row = random_argmax(key_pick, bounds)
    col_score = std[row] / cost[row]
    if config.columns == "paired":
      est = jnp.mean(jnp.where(state.observed, state.values, mean), axis=1)
      rival = random_argmax(jax.random.fold_in(key_pick, 1), jnp.where(jnp.arange(num_rows) == row, -jnp.inf, est))
      col_score = state.observed[rival].astype(std.dtype) + col_score / (1.0 + jnp.max(col_score))
    cols, valid = _row_cells(key_cells, state.observed[row], col_score, batch_size)
    rows = jnp.full((batch_size,), row, jnp.int32)
    warm_rows, warm_cols, warm_valid = _uniform_cells(order, state.observed, state.n_evaluated, batch_size)
    warming = state.n_evaluated < jnp.ceil(config.warmup * num_rows * num_cols).astype(jnp.int32)
    rows = jnp.where(warming, warm_rows, rows)
    cols = jnp.where(warming, warm_cols, cols)
    valid = jnp.where(warming, warm_valid, valid)
  elif alg in ELIMINATION:
    active, phase, target = _elim_advance(config, key_sr, state, total_cells)
    state = state._replace(active=active, phase=phase)
    rows, cols, valid = _elim_cells(key_cells, state, active, target, order, batch_size)
  else:
    raise ValueError(f"unknown algorithm {alg!r}; expected one of {ALGORITHMS}")

  valid = _budget_cut(rows, cols, valid, cost, jnp.asarray(budget, cost.dtype) - state.spent)
  info = bandit_estimate(config, state, key_best)
  return state, Batch(rows, cols, valid), info


def bandit_reveal(state: BanditState, batch: Batch, scores: jax.Array, cost: jax.Array) -> BanditState:
  """Writes the scores of the valid cells of ``batch`` into the state and advances the step.

  Args:
    state: the state returned by :func:`bandit_select`.
    batch: its batch.
    scores: [B] scores of the batch's cells (ignored where not valid).
    cost: [M, N] cell costs.

  Returns:
    The new state.
  """
  valid = batch.valid
  # Invalid slots are routed to an out-of-bounds row and dropped by the scatter.
  rows = jnp.where(valid, batch.rows, state.values.shape[0])
  values = state.values.at[rows, batch.cols].set(scores.astype(state.values.dtype), mode="drop")
  observed = state.observed.at[rows, batch.cols].set(True, mode="drop")
  n_new = jnp.sum(valid).astype(jnp.int32)
  return state._replace(
      values=values, observed=observed,
      spent=state.spent + jnp.sum(jnp.where(valid, cost[batch.rows, batch.cols], 0.0)).astype(state.spent.dtype),
      n_evaluated=state.n_evaluated + n_new, step=state.step + 1, last_revealed=n_new)


def bandit_recommend(config: BanditConfig, state: BanditState, key: jax.Array, keep: jax.Array,
                     total_cells) -> BanditInfo:
  """The final recommendation: refit (ucbe-lrf) or finish the pending rejections (elimination algorithms).

  Does not change ``state``: recommending does not alter the next step's choice.

  Args:
    config: static settings. state: current state. key: PRNG key. keep: [E, M, N] dropout masks.
    total_cells: [] budget in cells (elimination algorithms).

  Returns:
    BanditInfo.
  """
  key_best, key_sr = jax.random.split(key)
  factors = bandit_refit(config, state, keep)
  if config.algorithm in ELIMINATION:
    active, phase, _ = _elim_advance(config, key_sr, state, total_cells)
    state = state._replace(active=active, phase=phase)
  return bandit_estimate(config, state, key_best, factors)


# ----------------------------------------------------------------------------------------------------
# how hard a matrix is (offline diagnostics, on a full matrix)


def verification_cells(scores: jax.Array, z) -> tuple[jax.Array, jax.Array]:
  """Cells an oracle that knows the best method needs to confirm it against every rival.

  The best method ``b`` is the row with the highest mean. Rival ``i`` is ruled out on the first ``n``
  examples of a random order, shared by the two rows, once their paired mean difference is ``z`` standard
  errors above zero. With ``D_i`` and ``v_i`` the mean and (population) variance of ``scores[b] - scores[i]``
  over the whole row, the standard error of the mean of ``n`` of the ``N`` differences drawn without
  replacement is ``sqrt(v_i / n (N - n) / (N - 1))``, and the smallest such ``n`` has the closed form
  ``n_i = ceil(z^2 v_i N / ((N - 1) D_i^2 + z^2 v_i))``, clipped to ``[1, N]``. It is ``N`` for a rival tied
  with the best, and 1 when the two rows differ by a constant. The best row itself needs ``max_i n_i``.

  This is not a lower bound for every algorithm: the oracle is told which method is best and how far each
  rival is, and a standard error of ``z`` per rival does not make the errors over all rivals small. It shows
  how many cells the paired comparisons of a matrix take at their cheapest.

  Args:
    scores: [M, N] full score matrix (no NaN), M >= 2.
    z: scalar, one-sided normal quantile per rival (1.64: 5% each).

  Returns:
    (best, cells): best [] int32, the row with the highest mean (the lowest index among ties); cells [M]
    int32, ``n_i`` per rival and ``max_i n_i`` for the best. Their sum is the oracle's total.
  """
  num_cols = scores.shape[1]
  means = jnp.mean(scores, axis=1)
  best = jnp.argmax(means).astype(jnp.int32)
  diff = scores[best][None, :] - scores
  gap = jnp.mean(diff, axis=1)
  var = jnp.var(diff, axis=1)
  z2v = jnp.asarray(z, scores.dtype) ** 2 * var
  denom = (num_cols - 1) * gap ** 2 + z2v
  n = jnp.where(denom > 0, z2v * num_cols / jnp.where(denom > 0, denom, 1.0), 0.0)
  n = jnp.where(gap > 0, n, float(num_cols))   # a tie with the best is only settled by the whole rows
  cells = jnp.clip(jnp.ceil(n - 1e-6), 1, num_cols).astype(jnp.int32)
  rivals = jnp.arange(scores.shape[0]) != best
  cells = jnp.where(rivals, cells, jnp.max(jnp.where(rivals, cells, 0)))
  return best, cells


def split_half_correlation(key: jax.Array, scores: jax.Array, num_splits: int) -> jax.Array:
  """Correlation of the methods' means on two random halves of the examples, per split.

  Args:
    key: PRNG key.
    scores: [M, N] full score matrix, N >= 2.
    num_splits: static number of random splits S.

  Returns:
    [S] Pearson correlation over the M methods between the mean on the first ``N // 2`` examples of a random
    order and the mean on the rest (NaN where either half has no spread over the methods).
  """
  num_cols = scores.shape[1]
  half = num_cols // 2

  def one(k):
    first = jnp.zeros((num_cols,), bool).at[jax.random.permutation(k, num_cols)[:half]].set(True)
    a = jnp.sum(jnp.where(first, scores, 0.0), axis=1) / half
    b = jnp.sum(jnp.where(first, 0.0, scores), axis=1) / (num_cols - half)
    a, b = a - a.mean(), b - b.mean()
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))

  return jax.vmap(one)(jax.random.split(key, num_splits))
