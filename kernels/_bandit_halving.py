"""Sequential halving (Karnin et al. 2013) with a noisy mode: the default bandit of tinyjax.

Rounds r = 0..R-1 over ``a_0 = M`` survivors; after round r only the ``a_{r+1} = ceil(keep * a_r)`` methods with
the highest means survive (``keep = 1/2``: halving). Every round gets the same share ``c`` of the budget,
``t_r = min(N, t_{r-1} + c / a_r)`` cells per survivor, with ``c`` chosen so that the whole budget is spent once
rows are full (a cap-aware version of Karnin's ``n / (a_r R)``, which would leave budget unspent when late
survivors' rows fill up).

Noisy mode (:func:`halving_noisy`): when the coefficient alpha of the first round's scores is below
``noisy_alpha``, its ranking is mostly item sampling noise, and every cut keeps ``noisy_keep`` instead of
``keep``; the rounds after the first then share what is left of the budget by the same rule.

It is an elimination algorithm (``kernels/_bandit_elimination.py``): every survivor sees the same examples.
Shapes: ``M`` methods, ``N`` examples, ``R`` rounds.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from tinyjax.kernels._bandit import BanditAlgorithm, as_float
from tinyjax.kernels._bandit_elimination import elimination


def halving_arms(n_arms: int, keep: float) -> tuple[int, ...]:
  """Survivors at the start of each round of sequential halving: ``a_0 = M``, ``a_{r+1} = ceil(keep a_r)``.

  Each round drops at least one method, so there are at most ``M - 1`` rounds. Returns a static tuple [R].
  """
  arms = [int(n_arms)]
  while arms[-1] > 1:
    arms.append(min(max(math.ceil(arms[-1] * keep - 1e-9), 1), arms[-1] - 1))
  return tuple(arms[:-1])


def halving_targets(n_arms: int, n_cols: int, total_cells, keep: float, start=0) -> jax.Array:
  """Cells per survivor at the end of each round of sequential halving, [R] int32 (at least 1).

  Every round gets the same budget ``c``: ``t_r = min(N, t_{r-1} + c / a_r)``, and ``c`` is the largest
  value (found by bisection) with ``sum_r a_r (t_r - t_{r-1}) <= total_cells``, so rows that fill up early
  leave their share to the other rounds instead of wasting it. ``start`` is ``t_{-1}``: cells every one of
  the ``n_arms`` survivors already has (0 for a whole run; ``total_cells`` is then what is left). The
  arithmetic runs in the float dtype of ``total_cells`` (JAX's default float for an int).
  """
  total = as_float(total_cells)
  dtype = total.dtype
  arms = jnp.asarray(halving_arms(n_arms, keep), dtype)
  t0 = jnp.minimum(jnp.asarray(start, dtype), float(n_cols))

  def targets(c):
    def one(t, a):
      t_new = jnp.minimum(float(n_cols), t + c / a)
      return t_new, (t_new, a * (t_new - t))
    _, (ts, spent) = jax.lax.scan(one, t0, arms)
    return ts, jnp.sum(spent)

  def bisect(_, lo_hi):
    lo, hi = lo_hi
    mid = 0.5 * (lo + hi)
    fits = targets(mid)[1] <= total
    return jnp.where(fits, mid, lo), jnp.where(fits, hi, mid)

  lo, _ = jax.lax.fori_loop(0, 64, bisect, (jnp.zeros((), dtype), total + 1.0))
  ts = jnp.floor(targets(lo)[0] + 1e-4)
  return jnp.maximum(ts, 1.0).astype(jnp.int32)


def shared_alpha(state) -> jax.Array:
  """Coefficient alpha (Cronbach's; KR-20 for 0/1 scores) of the methods on the examples revealed for all.

  ``alpha = k / (k - 1) (1 - sum_j var_j / var(total))`` over the ``k`` examples revealed for every method:
  the share of the spread of the methods' totals that is not item sampling noise. For the elimination
  algorithms these are the first round's examples. +inf below two such examples (nothing to judge), -inf
  when every method has the same total (the ranking is all ties). Returns [] float.

  Args:
    state: any bandit state (``values`` [M, N], ``observed`` [M, N] bool). An elimination state's running
      shared statistics (``shared_count``, ``shared_totals``, ``shared_item_var``) are read instead, O(M).
  """
  if hasattr(state, "shared_totals"):   # static: the state's type
    k = state.shared_count.astype(state.values.dtype)
    var_total = jnp.var(state.shared_totals)
    item_var = state.shared_item_var
  else:
    shared = jnp.all(state.observed, axis=0)
    k = jnp.sum(shared).astype(state.values.dtype)
    x = jnp.where(shared[None, :], state.values, 0.0)
    var_total = jnp.var(jnp.sum(x, axis=1))
    item_var = jnp.sum(jnp.where(shared, jnp.var(x, axis=0), 0.0))
  alpha = k / jnp.maximum(k - 1.0, 1.0) * (1.0 - item_var / jnp.where(var_total > 0, var_total, 1.0))
  alpha = jnp.where(var_total > 0, alpha, -jnp.inf)
  return jnp.where(k >= 2, alpha, jnp.inf)


def halving_noisy(state, *, keep: float, noisy_keep: float, noisy_alpha: float) -> jax.Array:
  """Whether sequential halving runs in its noisy mode: when the first round's ranking is mostly noise
  (``shared_alpha < noisy_alpha``), it keeps ``noisy_keep`` instead of ``keep`` from the first cut on.

  Only the cut after the first round and later rounds read it; before that cut the first round's examples
  are still being revealed, and after it they are the examples revealed for every method for good (the
  dropped methods get no more), so the mode never changes within a run. Always off when
  ``noisy_keep == keep`` or with fewer than 3 methods. [] bool.
  """
  if noisy_keep == keep or state.values.shape[0] < 3:
    return jnp.zeros((), bool)
  return shared_alpha(state) < noisy_alpha


def halving_schedules(n_rows: int, n_cols: int, total_cells, *, keep: float, noisy_keep: float):
  """Sequential halving's cells per survivor at the end of each round: ``(plain [R], noisy [R'] or None)``.

  The noisy schedule shares the first round with the plain one; then ``ceil(noisy_keep M)`` survivors that
  already have the first round's cells share what is left of the budget, ``noisy_keep`` kept per round. It is
  None when the noisy mode cannot switch on (``noisy_keep == keep`` or fewer than 3 methods).
  """
  ts = halving_targets(n_rows, n_cols, total_cells, keep)
  if noisy_keep == keep or n_rows < 3:
    return ts, None
  first = ts[0]
  arms1 = min(max(math.ceil(n_rows * noisy_keep - 1e-9), 1), n_rows - 1)
  if arms1 <= 1:
    tail = jnp.full((1,), n_cols, jnp.int32)
  else:
    total = as_float(total_cells)
    left = total - n_rows * first.astype(total.dtype)
    tail = halving_targets(arms1, n_cols, left, noisy_keep, start=first)
  return ts, jnp.concatenate([ts[:1], tail])


def sequential_halving(*, batch_size: int, keep: float, noisy_keep: float, noisy_alpha: float) -> BanditAlgorithm:
  """Sequential halving with its noisy mode (see the module docstring).

  Args:
    batch_size: B cells per step.
    keep: fraction of the survivors kept after each round, in (0, 1).
    noisy_keep: the fraction kept instead when the first round's ranking is noise (``= keep``: never).
    noisy_alpha: the first round is noise when its coefficient alpha is below this.
  """

  def plan(state, total_cells):
    n_rows, n_cols = state.values.shape
    noisy = halving_noisy(state, keep=keep, noisy_keep=noisy_keep, noisy_alpha=noisy_alpha)
    ts, noisy_ts = halving_schedules(n_rows, n_cols, total_cells, keep=keep, noisy_keep=noisy_keep)

    def target_of(phase):
      target = ts[jnp.clip(phase - 1, 0, ts.shape[0] - 1)]
      if noisy_ts is None:
        return target
      return jnp.where(noisy, noisy_ts[jnp.clip(phase - 1, 0, noisy_ts.shape[0] - 1)], target)

    def n_keep_of(n_active):
      share = jnp.where(noisy, noisy_keep, keep)
      return jnp.clip(jnp.ceil(share * n_active.astype(state.values.dtype) - 1e-6).astype(n_active.dtype),
                      1, n_active - 1)

    return target_of, n_keep_of

  return elimination(batch_size=batch_size, plan=plan)
