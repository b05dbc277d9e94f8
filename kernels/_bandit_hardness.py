"""How hard a full methods x examples matrix makes the search for its best method (offline diagnostics).

Both functions take the full matrix, so they serve to plan budgets before a run: :func:`verification_cells`
counts the cells an oracle that knows the best method needs to confirm it, :func:`split_half_correlation`
measures how much the methods' ranking depends on which examples were drawn.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
  n_cols = scores.shape[1]
  means = jnp.mean(scores, axis=1)
  best = jnp.argmax(means).astype(jnp.int32)
  diff = scores[best][None, :] - scores
  gap = jnp.mean(diff, axis=1)
  var = jnp.var(diff, axis=1)
  z2v = jnp.asarray(z, scores.dtype) ** 2 * var
  denom = (n_cols - 1) * gap ** 2 + z2v
  n = jnp.where(denom > 0, z2v * n_cols / jnp.where(denom > 0, denom, 1.0), 0.0)
  n = jnp.where(gap > 0, n, float(n_cols))   # a tie with the best is only settled by the whole rows
  cells = jnp.clip(jnp.ceil(n - 1e-6), 1, n_cols).astype(jnp.int32)
  rivals = jnp.arange(scores.shape[0]) != best
  cells = jnp.where(rivals, cells, jnp.max(jnp.where(rivals, cells, 0)))
  return best, cells


def split_half_correlation(key: jax.Array, scores: jax.Array, n_splits: int) -> jax.Array:
  """Correlation of the methods' means on two random halves of the examples, per split.

  Args:
    key: PRNG key.
    scores: [M, N] full score matrix, N >= 2.
    n_splits: static number of random splits S.

  Returns:
    [S] Pearson correlation over the M methods between the mean on the first ``N // 2`` examples of a random
    order and the mean on the rest (NaN where either half has no spread over the methods).
  """
  n_cols = scores.shape[1]
  half = n_cols // 2

  def first_half(k):   # [N] 1.0 on the first half of a random order
    return jnp.zeros((n_cols,), scores.dtype).at[jax.random.permutation(k, n_cols)[:half]].set(1.0)

  # The halves' sums of every split as one [S, N] x [N, M] product: O(S N) memory, not the O(S M N) of a
  # masked copy of the matrix per split.
  first = jax.vmap(first_half)(jax.random.split(key, n_splits))                     # [S, N]
  sum_a = jnp.matmul(first, scores.T, precision=jax.lax.Precision.HIGHEST)        # [S, M]
  sum_b = jnp.sum(scores, axis=1)[None, :] - sum_a
  a, b = sum_a / half, sum_b / (n_cols - half)
  a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
  return jnp.sum(a * b, 1) / jnp.sqrt(jnp.sum(a * a, 1) * jnp.sum(b * b, 1))
