"""p-IRT (Maia Polo et al. 2024): the full score from a model's answered items and IRT predictions.

Answered items count for their own answers and every other item for its predicted probability,
``sum_{answered} m_i y_i + sum_{other} m_i p_i``. The one definition behind ``tinyjax.tiny.estimators``
(answers on anchor items) and ``tinyjax.adaptive`` (answers on the items asked so far).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pirt_scores(y: jax.Array, answered: jax.Array, p: jax.Array, item_weights: jax.Array,
                items: jax.Array) -> jax.Array:
  """p-IRT estimates of M models (unclipped).

  Args:
    y: [M, K] answers on ``items`` (any value where not answered).
    answered: [M, K] bool, the answer counts.
    p: [M, I] predicted probability of a correct answer on every item.
    item_weights: [I] weight of each item in the full score (sums to 1).
    items: [K] int indices of the answered columns into the I items.

  Returns:
    [M] ``p @ item_weights + sum_k answered (y_k - p_k) m_k``.
  """
  base = p @ item_weights                                                        # [M]
  correction = jnp.sum(jnp.where(answered, (y - p[:, items]) * item_weights[items][None, :], 0.0), axis=1)
  return base + correction
