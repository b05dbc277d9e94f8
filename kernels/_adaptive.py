"""One step of D-optimal adaptive testing for one examinee (``tinyjax.adaptive`` vmaps and jits it).

At the current ability (Fisher scoring on the items asked so far), the next item is the unasked, available
item that maximises ``log det(P + sum_{asked} F_j + F_i)``: ``P`` the prior precision and ``F_i`` the item's
Fisher information. In one dimension this is the item with the largest information.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._ability import ability_newton, fisher_information


class AdaptiveStep(NamedTuple):
  theta: jax.Array       # [d] ability from the answers so far
  se: jax.Array          # [d] its standard errors
  next_item: jax.Array   # [] int32 the most informative unasked, available item
  criterion: jax.Array   # [I] log det of the posterior information with each item added (-inf: not eligible)


def d_optimal_step(y: jax.Array, asked: jax.Array, available: jax.Array, a: jax.Array, b: jax.Array,
                   c: jax.Array, mean: jax.Array, prec: jax.Array, max_iter: int) -> AdaptiveStep:
  """Ability update and next item for one examinee.

  Args:
    y: [I] answers (any value where not asked). asked, available: [I] bool.
    a: [I, d] slopes. b: [I] intercepts. c: [I] lower asymptotes.
    mean: [d] prior mean. prec: [d, d] prior precision.
    max_iter: static number of Fisher-scoring iterations.

  Returns:
    :class:`AdaptiveStep`.
  """
  res = ability_newton(y, asked, a, b, c, mean, prec, max_iter=max_iter)
  info = fisher_information(res.theta, a, b, c)                                  # [I, d, d]
  current = prec + jnp.einsum("ijk,i->jk", info, asked.astype(info.dtype))       # [d, d]
  _, logdet = jnp.linalg.slogdet(current[None] + info)                           # [I]
  crit = jnp.where(asked | ~available, -jnp.inf, logdet)
  return AdaptiveStep(res.theta, res.se, jnp.argmax(crit).astype(jnp.int32), crit)


class AdaptiveRound(NamedTuple):
  theta: jax.Array       # [d] ability from the answers so far
  se: jax.Array          # [d] its standard errors
  items: jax.Array       # [r] int32 the r unasked, available items with the best criterion, best first
  valid: jax.Array       # [r] bool False where fewer than r items were eligible (that slot names no new item)


def adaptive_round(y: jax.Array, asked: jax.Array, available: jax.Array, a: jax.Array, b: jax.Array,
                   c: jax.Array, mean: jax.Array, prec: jax.Array, max_iter: int, n_select: int) -> AdaptiveRound:
  """Ability update and the next ``n_select`` items for one examinee: one round of fixed-size adaptive testing.

  The items are the ``n_select`` eligible items with the largest :func:`d_optimal_step` criterion at the current
  ability, each scored as if added alone (in one dimension: the most informative items). With ``n_select=1`` this
  is :func:`d_optimal_step`'s choice. Shapes are static, so a loop of rounds compiles once.

  Args:
    y: [I] answers (any value where not asked). asked, available: [I] bool.
    a: [I, d] slopes. b: [I] intercepts. c: [I] lower asymptotes.
    mean: [d] prior mean. prec: [d, d] prior precision.
    max_iter: static number of Fisher-scoring iterations.
    n_select: static number of items per round, 1 <= n_select <= I.

  Returns:
    :class:`AdaptiveRound`.
  """
  step = d_optimal_step(y, asked, available, a, b, c, mean, prec, max_iter)
  best, items = jax.lax.top_k(step.criterion, n_select)      # ties: the lower index first, as argmax
  return AdaptiveRound(step.theta, step.se, items.astype(jnp.int32), jnp.isfinite(best))
