"""Forward stepwise selection of the items that best predict a score by ridge regression.

The "stepwise" anchor strategy of ``tinyjax.tiny.anchors``: starting from nothing, each step adds the item whose
centred answers correlate most (in absolute value) with the current leave-one-out ridge residual of the
train models' full scores, then refits the ridge on the chosen items with the penalty of least exact
leave-one-out error (the closed form of one SVD). It is supervised selection, as in metabench: the anchors are
the items that, together, predict the full score of models like the train models; they are not a random
sample of the benchmark.

Pure JAX, fixed shapes (the chosen items are gathered into a [N, K] matrix whose unused columns are zero), so
it jits once per (N, I, K).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class StepwiseInfo(NamedTuple):
  """Result of :func:`stepwise_select`."""

  indices: jax.Array     # [K] int32 chosen items, in the order they were added
  alpha: jax.Array       # [] ridge penalty of the final fit
  loo_mse: jax.Array     # [K] leave-one-out mean squared error of the fit after each step


def loo_mse(yc, fitted, leverage):
  """Exact leave-one-out mean squared error of a linear smoother: ``mean(((yc - fitted) / (1 - leverage))^2)``.

  Written with array methods only, so that it runs in the caller's array library (jax or numpy) and precision.

  Args:
    yc: [N] centred targets. fitted: [N] fitted values. leverage: [N] the smoother's diagonal (plus 1/N for the
      intercept); ``1 - leverage`` is floored at 1e-9.
  """
  return (((yc - fitted) / (1.0 - leverage).clip(1e-9)) ** 2).mean()


def ridge_loo(U, s, uy, yc, alpha):
  """One ridge fit of ``yc`` [N] from the SVD ``U`` [N, K], ``s`` [K] of centred features (``uy = U^T yc``) at penalty
  ``alpha``: its fitted values [N] and exact leave-one-out MSE [] (the one ridge leave-one-out of tinyjax:
  stepwise selection here, ``tinyjax.tiny.estimators.fit_score_regression`` on numpy arrays)."""
  shrink = s ** 2 / (s ** 2 + alpha)
  fitted = U @ (shrink * uy)
  leverage = (U ** 2 * shrink[None, :]).sum(axis=1) + 1.0 / U.shape[0]
  return fitted, loo_mse(yc, fitted, leverage)


def _ridge_path(S: jax.Array, yc: jax.Array, alphas: jax.Array):
  """Ridge fits of ``yc`` [N] on the centred columns ``S`` [N, K] for every penalty: the fitted values of
  the penalty with least leave-one-out MSE, that penalty and the MSE."""
  U, s, _ = jnp.linalg.svd(S, full_matrices=False)
  uy = U.T @ yc
  fitted, loo = jax.vmap(lambda a: ridge_loo(U, s, uy, yc, a))(alphas)   # [A, N], [A]
  best = jnp.argmin(loo)
  return fitted[best], alphas[best], loo[best]


def stepwise_select(X: jax.Array, y: jax.Array, n_select: int, alphas: jax.Array) -> StepwiseInfo:
  """Chooses ``n_select`` columns of ``X`` by forward stepwise ridge regression of ``y``.

  Args:
    X: [N, I] item answers of N train models (no NaN).
    y: [N] their full scores.
    n_select: K, the number of items to choose (static; 1 <= K <= I).
    alphas: [A] candidate ridge penalties (on the centred, unscaled answers).

  Returns:
    :class:`StepwiseInfo` with the K chosen item indices in the order they were added.
  """
  n, n_items = X.shape
  Xc = X - jnp.mean(X, axis=0)
  yc = y - jnp.mean(y)
  norms = jnp.sqrt(jnp.sum(Xc ** 2, axis=0))                # [I]
  usable = norms > 1e-12                                    # a constant item cannot help

  def step(k, carry):
    chosen, idx, resid, _, losses = carry
    score = jnp.abs(Xc.T @ resid) / (norms * jnp.sqrt(jnp.sum(resid ** 2)) + 1e-30)
    # Constant or already chosen items are taken last (only when nothing else is left).
    score = jnp.where(chosen, -2.0, jnp.where(usable, score, -1.0))
    j = jnp.argmax(score)
    chosen = chosen.at[j].set(True)
    idx = idx.at[k].set(j)
    S = jnp.where(jnp.arange(n_select)[None, :] <= k, Xc[:, idx], 0.0)   # [N, K], unused columns zero
    fitted, alpha, loo = _ridge_path(S, yc, alphas)
    return chosen, idx, yc - fitted, alpha, losses.at[k].set(loo)

  init = (jnp.zeros(n_items, bool), jnp.zeros(n_select, jnp.int32), yc, jnp.asarray(alphas)[0],
          jnp.zeros(n_select, yc.dtype))
  _, idx, _, alpha, losses = jax.lax.fori_loop(0, n_select, step, init)
  return StepwiseInfo(indices=idx, alpha=alpha, loo_mse=losses)
