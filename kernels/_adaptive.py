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
