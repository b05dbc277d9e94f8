"""Elimination bandits: the shared machinery, and successive rejects (Audibert et al. 2010).

An elimination algorithm evaluates every surviving method on the same examples: one random order of the
examples per run, and a survivor's first ``t`` cells are the first ``t`` examples of that order. Two methods'
means are then compared on the same examples (a paired comparison, whose noise is their rate of disagreement
rather than the sum of their variances), and each step serves up to ``B`` cells of several methods, so a run
takes about ``n / B`` steps whatever the number of methods. A phase (or round) ends when every survivor has its
``target`` cells; then the methods with the lowest means are dropped. An algorithm is its *plan*: the target of
each phase and how many survivors a cut keeps (:func:`elimination`).

Successive rejects (:func:`successive_rejects`): phases k = 1..M-1; in phase k every surviving method is
evaluated on ``n_k = ceil((n - M) / (logbar(M) (M + 1 - k)))`` cells in total, then the one with the lowest mean
is dropped. ``n`` is the budget in cells. Sequential halving is in ``kernels/_bandit_halving.py``.

Cost of a step: O(M B), whatever N. Every survivor's revealed cells are a prefix of the example order (a step
takes the needed cells of the earliest examples, and a budget cut keeps a prefix of them), so a method's next
cells are the next examples of the order after its ``row_counts``, its mean is its running ``row_sums`` over
``row_counts``, and the examples revealed for every method are the first ``min(row_counts)`` of the order, whose
statistics (for sequential halving's coefficient alpha) are folded in as they become shared. Only the initial
state, :func:`elimination_sync` (a state rebuilt from ``values``/``observed``, as after loading) and the
``values``/``observed`` arrays themselves are O(M N).

Shapes: ``M`` methods, ``N`` examples, ``B`` batch size.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._bandit import (BanditAlgorithm, as_float, bandit_state_init, empirical_best, empirical_means,
                                     example_order, finish_step, step_keys)


class ExampleOrderAux(NamedTuple):
  """Fixed randomness of an elimination run: the order in which survivors see the examples."""
  order: jax.Array   # [N] int32 random example order (:func:`example_order`)


class EliminationState(NamedTuple):
  """The shared fields, the survivors, and running statistics that keep a step O(M B).

  The running fields are derived from ``values``/``observed`` (and the example order): :func:`elimination_sync`
  rebuilds them, and a saved state need not store them.
  """
  values: jax.Array
  observed: jax.Array
  spent: jax.Array
  n_evaluated: jax.Array
  step: jax.Array
  last_revealed: jax.Array
  active: jax.Array         # [M] bool, surviving methods
  phase: jax.Array          # [] int32, current phase k >= 1 (successive rejects) or round r + 1 (halving)
  row_counts: jax.Array     # [M] int32, revealed cells per method (kept by bandit_reveal)
  row_sums: jax.Array       # [M] float, sum of the revealed scores per method (kept by bandit_reveal)
  shared_count: jax.Array   # [] int32, examples revealed for every method folded into the two fields below
  shared_totals: jax.Array  # [M] float, each method's total over those examples
  shared_item_var: jax.Array  # [] float, sum over those examples of the variance of their scores over the methods


ELIMINATION_DERIVED = ("row_counts", "row_sums", "shared_count", "shared_totals", "shared_item_var")


def _shared_stats(values: jax.Array, cols: jax.Array, take: jax.Array):
  """Totals [M] and summed variance over the methods [] of the examples ``cols`` [W] where ``take`` [W]."""
  x = jnp.where(take[None, :], values[:, cols], 0.0)
  return jnp.sum(x, axis=1), jnp.sum(jnp.where(take, jnp.var(x, axis=0), 0.0))


def fold_shared(state: EliminationState, order: jax.Array, window: int) -> EliminationState:
  """Folds the examples that became revealed for every method since the last call into the shared statistics.

  They are the examples of ``order`` [N] at positions ``shared_count .. min(row_counts) - 1``; a step reveals at
  most ``window`` (= B) cells per method, so calling this once per step with ``window = B`` keeps up. O(M B).
  """
  n_cols = state.values.shape[1]
  k_new = jnp.min(state.row_counts)
  pos = state.shared_count + jnp.arange(window, dtype=jnp.int32)
  take = pos < k_new
  totals, item_var = _shared_stats(state.values, order[jnp.minimum(pos, n_cols - 1)], take)
  return state._replace(shared_count=jnp.minimum(k_new, state.shared_count + window),
                        shared_totals=state.shared_totals + totals, shared_item_var=state.shared_item_var + item_var)


def elimination_sync(state: EliminationState, order: jax.Array) -> EliminationState:
  """The state with its running fields rebuilt from ``values``/``observed`` (O(M N); e.g. after loading).

  ``order`` [N]: the run's example order (its aux); the shared examples are the first ``min(row_counts)`` of it.
  """
  n_cols = state.values.shape[1]
  counts = jnp.sum(state.observed, axis=1).astype(jnp.int32)
  sums = jnp.sum(jnp.where(state.observed, state.values, 0.0), axis=1)
  k = jnp.min(counts)
  take = jnp.arange(n_cols) < k
  totals, item_var = _shared_stats(state.values, order, take)
  return state._replace(row_counts=counts, row_sums=sums.astype(state.row_sums.dtype), shared_count=k,
                        shared_totals=totals.astype(state.shared_totals.dtype),
                        shared_item_var=item_var.astype(state.shared_item_var.dtype))


# plan(state, total_cells) -> (target_of(phase) -> [] int32 cells per survivor at the end of ``phase``,
#                              n_keep_of(n_active) -> [] int32 survivors a cut keeps)
Plan = Callable[..., tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]]


def keep_top(key: jax.Array, means: jax.Array, active: jax.Array, n_keep) -> jax.Array:
  """Mask [M] of the ``n_keep`` active methods with the highest means (ties at random)."""
  score = jnp.where(active, jnp.nan_to_num(means, nan=-jnp.inf), -jnp.inf)
  order = jnp.lexsort((jax.random.uniform(key, means.shape), -score))   # best first, ties in random order
  rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))
  return active & (rank < n_keep)


def eliminate(key: jax.Array, state: EliminationState, target_of, n_keep_of):
  """Drops methods (``n_keep_of`` survivors kept per cut) until a survivor still needs cells in the current
  phase, or one survivor is left.

  Returns ``(active [M] bool, phase [] int32, target [] int32)``: the survivors, the phase they are in, and
  the cells per survivor at its end.
  """
  n_cols = state.values.shape[1]
  means, counts = empirical_means(state)
  full = counts >= n_cols

  def phase_done(carry):
    active, phase, _ = carry
    need = active & (counts < target_of(phase)) & ~full
    return (jnp.sum(active) > 1) & ~jnp.any(need)

  def drop(carry):
    active, phase, k = carry
    k, sub = jax.random.split(k)
    return keep_top(sub, means, active, n_keep_of(jnp.sum(active))), phase + 1, k

  active, phase, _ = jax.lax.while_loop(phase_done, drop, (state.active, state.phase, key))
  return active, phase, target_of(phase)


def elimination_cells(key: jax.Array, state: EliminationState, active: jax.Array, target, order: jax.Array,
                      batch_size: int):
  """Up to ``batch_size`` cells that survivors still need: earliest examples of ``order`` first, rows at random.

  A cell (i, j) is needed when method i survives, is not revealed there, and example j is among the first
  ``target`` of ``order``. A method's revealed cells are the first ``row_counts[i]`` examples of ``order``, so its
  needed cells are the next ones: the batch is the top ``B`` of ``M x B`` candidates, O(M B). Returns
  ``(rows, cols, valid)``, [B] each.
  """
  n_rows, n_cols = state.values.shape
  row_rank = jax.random.permutation(key, n_rows).astype(jnp.int32)
  pos = state.row_counts[:, None] + jnp.arange(batch_size, dtype=jnp.int32)[None, :]       # [M, B]
  need = active[:, None] & (pos < target) & (pos < n_cols) & (jnp.sum(active) > 1)
  # Earlier examples first, then rows in a random order: distinct priorities, so top_k's order is the order of
  # all needed cells.
  if n_rows * n_cols < 2 ** 31:
    priority, none = -(pos * n_rows + row_rank[:, None]), jnp.iinfo(jnp.int32).min
  else:
    dtype = state.values.dtype
    priority, none = -(pos.astype(dtype) * n_rows + row_rank[:, None].astype(dtype)), -jnp.inf
  vals, flat = jax.lax.top_k(jnp.where(need, priority, none).reshape(-1), batch_size)
  rows = (flat // batch_size).astype(jnp.int32)
  cols = order[jnp.minimum(pos.reshape(-1)[flat], n_cols - 1)].astype(jnp.int32)
  return rows, cols, vals > none


def elimination(*, batch_size: int, plan: Plan) -> BanditAlgorithm:
  """An elimination algorithm from its plan (see the module docstring).

  Args:
    batch_size: B cells per step.
    plan: ``plan(state, total_cells) -> (target_of, n_keep_of)``, traced once per step (computations that do
      not change within the step, such as round schedules, go there, outside the elimination loop).
  """

  def init(key, n_rows: int, n_cols: int, dtype=jnp.float32) -> EliminationState:
    del key
    return EliminationState(*bandit_state_init(n_rows, n_cols, dtype), active=jnp.ones((n_rows,), bool),
                            phase=jnp.ones((), jnp.int32), row_counts=jnp.zeros((n_rows,), jnp.int32),
                            row_sums=jnp.zeros((n_rows,), dtype), shared_count=jnp.zeros((), jnp.int32),
                            shared_totals=jnp.zeros((n_rows,), dtype), shared_item_var=jnp.zeros((), dtype))

  def aux(key, n_rows: int, n_cols: int) -> ExampleOrderAux:
    del n_rows
    _, key_order = jax.random.split(key)
    return ExampleOrderAux(example_order(key_order, n_cols))

  def advance(key, state, total_cells):
    return eliminate(key, state, *plan(state, total_cells))

  def select(state, key, aux, cost, budget, total_cells):
    keys = step_keys(key)
    state = fold_shared(state, aux.order, batch_size)
    active, phase, target = advance(keys.advance, state, total_cells)
    state = state._replace(active=active, phase=phase)
    rows, cols, valid = elimination_cells(keys.cells, state, active, target, aux.order, batch_size)
    return state, finish_step(state, rows, cols, valid, cost, budget), empirical_best(state, keys.best, active)

  def recommend(state, key, aux, total_cells):
    state = fold_shared(state, aux.order, batch_size)
    key_best, key_advance = jax.random.split(key)
    active, _, _ = advance(key_advance, state, total_cells)
    return empirical_best(state, key_best, active)

  return BanditAlgorithm(init, aux, select, recommend)


def _logbar(n_arms: int) -> float:
  return 0.5 + sum(1.0 / i for i in range(2, n_arms + 1))


def rejects_target(phase, n_arms: int, total_cells) -> jax.Array:
  """Cells per surviving arm at the end of ``phase`` (successive rejects), at least 1. [] int32."""
  total = as_float(total_cells)
  denom = _logbar(n_arms) * (n_arms + 1 - phase).astype(total.dtype)
  n_k = jnp.ceil(jnp.maximum(total - n_arms, 0.0) / jnp.maximum(denom, 1e-6))
  return jnp.maximum(n_k, 1.0).astype(jnp.int32)


def successive_rejects(*, batch_size: int) -> BanditAlgorithm:
  """Successive rejects: one method dropped per phase, phase lengths from the budget in cells."""

  def plan(state, total_cells):
    n_rows = state.values.shape[0]
    return (lambda phase: rejects_target(phase, n_rows, total_cells)), (lambda n_active: n_active - 1)

  return elimination(batch_size=batch_size, plan=plan)
