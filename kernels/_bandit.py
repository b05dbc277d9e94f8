"""Best-arm identification over a methods x examples score matrix: the protocol every bandit algorithm shares.

An arm is a method (a row); pulling it reveals the score of one (method, example) cell. Each algorithm is a
:class:`BanditAlgorithm`, a NamedTuple of four pure functions built by a factory from its static settings (the
blackjax habit): ``init`` makes the empty state, ``aux`` the fixed per-run randomness (a typed NamedTuple),
``select`` picks up to ``batch_size`` unrevealed cells and returns the current recommendation, ``recommend``
gives the final one. The caller reveals the chosen cells with :func:`bandit_reveal`, shared by all: from the
full matrix in an offline simulation, from real model calls online. The algorithms live in their own modules:

- ``_bandit_ucb.py``: uniform sampling, UCB-E and UCB-E with a low-rank factorization (UCB-E-LRF);
- ``_bandit_elimination.py``: the elimination machinery and successive rejects;
- ``_bandit_halving.py``: sequential halving and its noisy mode;
- ``_bandit_hardness.py``: how hard a full matrix is (offline diagnostics).

Every state carries the :class:`BanditState` fields (an algorithm's state adds its own after them), so one
``bandit_reveal`` serves all. A state may also keep running row sums (``row_counts``, ``row_sums``: the
elimination algorithms do, so that a step costs O(M B) rather than O(M N)); ``bandit_reveal`` updates them and
:func:`empirical_means` reads them. All ties (equal bounds, equal means, equal uncertainties) are broken uniformly at
random, so the order of the rows does not matter. Shapes: ``M`` methods, ``N`` examples, ``B`` batch size.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class BanditState(NamedTuple):
  """What every algorithm's state holds (the states of UCB-E-LRF and the elimination algorithms add fields)."""
  values: jax.Array         # [M, N] revealed scores, 0 where not revealed
  observed: jax.Array       # [M, N] bool, revealed cells
  spent: jax.Array          # [] float, cost spent so far (cells when all costs are 1)
  n_evaluated: jax.Array    # [] int32, revealed cells
  step: jax.Array           # [] int32, steps taken
  last_revealed: jax.Array  # [] int32, cells revealed by the last step (-1 before the first)


class Batch(NamedTuple):
  """Cells chosen by one step; only the ``valid`` ones are to be evaluated."""
  rows: jax.Array    # [B] int32 method index
  cols: jax.Array    # [B] int32 example index
  valid: jax.Array   # [B] bool


class BanditInfo(NamedTuple):
  """The current recommendation, computed before the step's batch is revealed."""
  best: jax.Array    # [] int32 recommended method
  means: jax.Array   # [M] estimated mean score (NaN for a method with no revealed cell, except ucbe-lrf)


class BanditAlgorithm(NamedTuple):
  """One bandit algorithm: four pure functions closed over its static settings (no jit inside).

  Attributes:
    init: ``init(key, n_rows, n_cols, dtype) -> state``; ``n_rows``, ``n_cols`` and ``dtype`` are static.
    aux: ``aux(key, n_rows, n_cols) -> aux``: the fixed randomness of a run (cell or example orders, dropout
      masks), a NamedTuple drawn once from the seed and passed to every step.
    select: ``select(state, key, aux, cost, budget, total_cells) -> (state, Batch, BanditInfo)``: one step.
      ``key`` is the step's key (e.g. ``fold_in(steps_key, state.step)``); ``cost`` [M, N] positive cost of each
      cell; ``budget`` [] total budget in cost units (the batch never makes ``spent`` exceed it);
      ``total_cells`` [] budget in cells (the elimination algorithms plan their phases from it). Returns the
      state with its per-step updates (refitted factors, survivors) and nothing revealed yet, the batch, and
      the recommendation before this batch.
    recommend: ``recommend(state, key, aux, total_cells) -> BanditInfo``: the final recommendation; it does
      not change the state, so recommending does not alter the next step's choice.
  """
  init: Callable[..., Any]
  aux: Callable[..., Any]
  select: Callable[..., tuple[Any, Batch, BanditInfo]]
  recommend: Callable[..., BanditInfo]


class StepKeys(NamedTuple):
  """The keys of one step, split from its key in this order by every algorithm."""
  pick: jax.Array     # the row to pull (UCB-E, UCB-E-LRF)
  cells: jax.Array    # the cells of a batch
  best: jax.Array     # ties of the recommendation
  advance: jax.Array  # ties of the elimination cuts
  warm: jax.Array     # unused; kept so that the split, and every pick, stays as it is


def step_keys(key: jax.Array) -> StepKeys:
  """Splits a step's key into its named subkeys."""
  return StepKeys(*jax.random.split(key, 5))


def bandit_state_init(n_rows: int, n_cols: int, dtype) -> BanditState:
  """Nothing revealed yet. ``n_rows``, ``n_cols``: M, N (static). ``dtype``: float dtype of scores."""
  return BanditState(
      values=jnp.zeros((n_rows, n_cols), dtype),
      observed=jnp.zeros((n_rows, n_cols), bool),
      spent=jnp.zeros((), dtype),
      n_evaluated=jnp.zeros((), jnp.int32),
      step=jnp.zeros((), jnp.int32),
      last_revealed=jnp.full((), -1, jnp.int32),
  )


def bandit_reveal(state, batch: Batch, scores: jax.Array, cost: jax.Array):
  """Writes the scores of the valid cells of ``batch`` into the state and advances the step.

  Args:
    state: any algorithm's state (it carries the :class:`BanditState` fields), as ``select`` returned it.
    batch: its batch.
    scores: [B] scores of the batch's cells (ignored where not valid).
    cost: [M, N] cell costs.

  Returns:
    The new state, of the same type.
  """
  valid = batch.valid
  # Invalid slots are routed to an out-of-bounds row and dropped by the scatter.
  rows = jnp.where(valid, batch.rows, state.values.shape[0])
  values = state.values.at[rows, batch.cols].set(scores.astype(state.values.dtype), mode="drop")
  observed = state.observed.at[rows, batch.cols].set(True, mode="drop")
  n_new = jnp.sum(valid).astype(jnp.int32)
  if hasattr(state, "row_sums"):   # a state with running row sums (static: the state's type)
    state = state._replace(row_counts=state.row_counts.at[rows].add(1, mode="drop"),
                           row_sums=state.row_sums.at[rows].add(scores.astype(state.row_sums.dtype), mode="drop"))
  return state._replace(
      values=values, observed=observed,
      spent=state.spent + jnp.sum(jnp.where(valid, cost[batch.rows, batch.cols], 0.0)).astype(state.spent.dtype),
      n_evaluated=state.n_evaluated + n_new, step=state.step + 1, last_revealed=n_new)


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


def empirical_means(state) -> tuple[jax.Array, jax.Array]:
  """Row means of the revealed cells [M] (NaN where none) and revealed counts [M] int32.

  O(M) from a state's running ``row_counts``/``row_sums`` when it keeps them, else O(M N) from ``values``.
  """
  if hasattr(state, "row_sums"):
    counts, sums = state.row_counts, state.row_sums
  else:
    counts = jnp.sum(state.observed, axis=1).astype(jnp.int32)
    sums = jnp.sum(jnp.where(state.observed, state.values, 0.0), axis=1)
  means = jnp.where(counts > 0, sums / jnp.maximum(counts, 1).astype(sums.dtype), jnp.nan)
  return means, counts


def empirical_best(state, key: jax.Array, active: jax.Array | None = None) -> BanditInfo:
  """The recommendation from the revealed means: the highest one (among ``active`` [M] bool when given)."""
  means, _ = empirical_means(state)
  score = jnp.nan_to_num(means, nan=-jnp.inf)
  if active is not None:
    score = jnp.where(active, score, -jnp.inf)
  return BanditInfo(random_argmax(key, score), means)


def budget_cut(rows: jax.Array, cols: jax.Array, valid: jax.Array, cost: jax.Array, remaining) -> jax.Array:
  """Keeps the longest prefix of the valid candidates whose cost fits in ``remaining``. Returns [B] bool."""
  cell_cost = jnp.where(valid, cost[rows, cols], 0.0)
  return valid & (jnp.cumsum(cell_cost) <= remaining)


def finish_step(state, rows, cols, valid, cost, budget) -> Batch:
  """The batch of a step: the candidates cut to what is left of the budget."""
  valid = budget_cut(rows, cols, valid, cost, jnp.asarray(budget, cost.dtype) - state.spent)
  return Batch(rows, cols, valid)


def cell_order(key: jax.Array, n_rows: int, n_cols: int) -> jax.Array:
  """A uniformly random order of all cells (flat indices ``row * N + col``), [M*N] int32."""
  return jax.random.permutation(key, n_rows * n_cols).astype(jnp.int32)


def example_order(key: jax.Array, n_cols: int) -> jax.Array:
  """A uniformly random order of the examples, [N] int32: the elimination algorithms evaluate every
  survivor on the first ``t`` examples of it."""
  return jax.random.permutation(key, n_cols).astype(jnp.int32)


def uniform_cells(order: jax.Array, observed: jax.Array, start, batch_size: int):
  """The next ``batch_size`` cells of the random cell order ``order`` [M*N], from position ``start``.

  Uniform sampling without replacement: every cell revealed so far came from this order, so the next
  cells are unrevealed (checked anyway) and the cost is O(B) per step instead of a top-k over M*N.
  Returns ``(rows, cols, valid)``, [B] each.
  """
  n_cells = order.shape[0]
  n_cols = observed.shape[1]
  pos = start + jnp.arange(batch_size, dtype=jnp.int32)
  flat = order[jnp.minimum(pos, n_cells - 1)]
  rows, cols = (flat // n_cols).astype(jnp.int32), (flat % n_cols).astype(jnp.int32)
  return rows, cols, (pos < n_cells) & ~observed[rows, cols]


def row_cells(key: jax.Array, observed_row: jax.Array, score_row: jax.Array, batch_size: int):
  """The ``batch_size`` unrevealed cells of one row with the highest score (ties at random): ``(cols, valid)``."""
  score = jnp.where(observed_row, -jnp.inf, score_row)
  vals, cols = random_top_k(key, score, batch_size)
  return cols, vals > -jnp.inf


def as_float(x) -> jax.Array:
  """``x`` as a float array: its own dtype when it is a float already, else JAX's default float dtype."""
  x = jnp.asarray(x)
  return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))
