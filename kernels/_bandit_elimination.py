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
  """The shared fields plus the survivors."""
  values: jax.Array
  observed: jax.Array
  spent: jax.Array
  n_evaluated: jax.Array
  step: jax.Array
  last_revealed: jax.Array
  active: jax.Array         # [M] bool, surviving methods
  phase: jax.Array          # [] int32, current phase k >= 1 (successive rejects) or round r + 1 (halving)


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
  ``target`` of ``order``. Returns ``(rows, cols, valid)``, [B] each.
  """
  n_rows, n_cols = state.values.shape
  position = jnp.zeros((n_cols,), jnp.int32).at[order].set(jnp.arange(n_cols, dtype=jnp.int32))
  row_rank = jax.random.permutation(key, n_rows).astype(jnp.int32)
  need = active[:, None] & (position[None, :] < target) & ~state.observed & (jnp.sum(active) > 1)
  # Earlier examples first, then rows in a random order. A float priority, because top_k of int32 is ~100x
  # slower on CPU; in float32 the order is exact below 2^24 cells, beyond that only the order among needed
  # cells blurs.
  dtype = state.values.dtype
  priority = -(position[None, :].astype(dtype) * n_rows + row_rank[:, None].astype(dtype))
  vals, flat = jax.lax.top_k(jnp.where(need, priority, -jnp.inf).reshape(-1), batch_size)
  rows, cols = (flat // n_cols).astype(jnp.int32), (flat % n_cols).astype(jnp.int32)
  return rows, cols, vals > -jnp.inf


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
                            phase=jnp.ones((), jnp.int32))

  def aux(key, n_rows: int, n_cols: int) -> ExampleOrderAux:
    del n_rows
    _, key_order = jax.random.split(key)
    return ExampleOrderAux(example_order(key_order, n_cols))

  def advance(key, state, total_cells):
    return eliminate(key, state, *plan(state, total_cells))

  def select(state, key, aux, cost, budget, total_cells):
    keys = step_keys(key)
    active, phase, target = advance(keys.advance, state, total_cells)
    state = state._replace(active=active, phase=phase)
    rows, cols, valid = elimination_cells(keys.cells, state, active, target, aux.order, batch_size)
    return state, finish_step(state, rows, cols, valid, cost, budget), empirical_best(state, keys.best, active)

  def recommend(state, key, aux, total_cells):
    del aux
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
