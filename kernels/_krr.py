"""Kernel ridge regression with a weighted Gaussian (RBF) kernel: the suites' full-score regression.

A suite predicts a benchmark's full score from a model's answers on the kept items of every benchmark. On a
leaderboard of thousands of models, many are fine-tunes or merges of one base, so models with nearly the same
answers have nearly the same full score: a smooth, local regression on the answer vectors (kernel ridge) picks
that up where a linear ridge cannot. The kernel compares two feature vectors with per-feature weights ``scale``
(the benchmark's own items count fully, the other benchmarks' items and the abilities less):

    k(x, z) = exp(-gamma * sum_j scale_j (x_j - z_j)^2 / sum_j scale_j)

The caller fits a linear ridge first and passes its residuals as ``y``; the kernel part then corrects the
linear fit locally and falls back to it (prediction 0) far from every train model.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class KernelRidge(NamedTuple):
  """A fitted kernel ridge regression."""

  x: jax.Array        # [N, D] train features
  alpha: jax.Array    # [N] dual coefficients
  scale: jax.Array    # [D] feature weights of the distance
  gamma: jax.Array    # [] kernel width (on the scale-weighted mean squared difference)


def weighted_sq_distances(x: jax.Array, z: jax.Array, scale: jax.Array) -> jax.Array:
  """Scale-weighted mean squared differences between the rows of ``x`` [N, D] and ``z`` [M, D].

  Returns:
    [N, M] ``sum_j scale_j (x_nj - z_mj)^2 / sum_j scale_j`` (clipped at 0 against rounding).
  """
  s = scale / jnp.sum(scale)
  xs, zs = x * jnp.sqrt(s), z * jnp.sqrt(s)
  d = jnp.sum(xs * xs, 1)[:, None] + jnp.sum(zs * zs, 1)[None, :] - 2.0 * xs @ zs.T
  return jnp.maximum(d, 0.0)


def rbf_kernel(x: jax.Array, z: jax.Array, scale: jax.Array, gamma) -> jax.Array:
  """[N, M] Gaussian kernel ``exp(-gamma * weighted_sq_distances(x, z, scale))``."""
  return jnp.exp(-gamma * weighted_sq_distances(x, z, scale))


def kernel_ridge_fit(x: jax.Array, y: jax.Array, scale: jax.Array, gamma, lam) -> KernelRidge:
  """Fits ``alpha = (K + lam I)^-1 y`` by a Cholesky solve.

  Args:
    x: [N, D] train features (finite). y: [N] targets (residuals of a linear fit, typically).
    scale: [D] non-negative feature weights, not all zero. gamma: [] kernel width. lam: [] ridge penalty (> 0).

  Returns:
    :class:`KernelRidge`.
  """
  k = rbf_kernel(x, x, scale, gamma)
  n = x.shape[0]
  chol = jax.scipy.linalg.cho_factor(k + lam * jnp.eye(n, dtype=k.dtype), lower=True)
  alpha = jax.scipy.linalg.cho_solve(chol, y)
  return KernelRidge(x, alpha, scale, jnp.asarray(gamma, x.dtype))


def kernel_ridge_predict(state: KernelRidge, z: jax.Array) -> jax.Array:
  """[M] predictions ``k(z, x) @ alpha`` for features ``z`` [M, D]."""
  return rbf_kernel(z, state.x, state.scale, state.gamma) @ state.alpha


# --- many kernels over one train set: the suites' member x width grid ---------------------------------------
#
# A suite's kernel members weigh the features in a few groups (the benchmark's own items, the other benchmarks'
# items, the abilities) with one weight per group. Their distances are then weighted sums of a few per-group
# distance matrices, computed once: the grid of members x widths costs one [N, N] distance computation and one
# Cholesky solve per candidate, instead of one full weighted distance computation per candidate.


def grouped_sq_distances(xs: tuple[jax.Array, ...], zs: tuple[jax.Array, ...]) -> jax.Array:
  """Per-group sums of squared differences between the rows of ``x`` and ``z``.

  Args:
    xs: G arrays [N, D_g]: the train features, split by group. zs: G arrays [M, D_g]: the same groups of the
      other features.

  Returns:
    [G, N, M] ``sum_{j in g} (x_nj - z_mj)^2`` per group (clipped at 0 against rounding).
  """
  out = []
  for x, z in zip(xs, zs):
    d = jnp.sum(x * x, 1)[:, None] + jnp.sum(z * z, 1)[None, :] - 2.0 * x @ z.T
    out.append(jnp.maximum(d, 0.0))
  return jnp.stack(out)


def kernel_ridge_fit_grid(d_groups: jax.Array, y: jax.Array, weights: jax.Array, gammas: jax.Array, lam
                          ) -> jax.Array:
  """Dual coefficients of C kernel ridge regressions on one train set, one candidate at a time.

  Candidate ``c`` uses the kernel ``exp(-gammas[c] * sum_g weights[c, g] d_groups[g])``; with ``weights[c, g]`` =
  a group's per-feature weight over the sum of every feature's weight, that is :func:`rbf_kernel` with a
  ``scale`` constant within each group.

  Args:
    d_groups: [G, N, N] :func:`grouped_sq_distances` of the train features with themselves.
    y: [C, N] each candidate's targets. weights: [C, G] normalised group weights. gammas: [C] widths.
    lam: [] ridge penalty (> 0).

  Returns:
    [C, N] ``alpha_c = (K_c + lam I)^-1 y_c``.
  """
  n = d_groups.shape[1]
  eye = jnp.eye(n, dtype=d_groups.dtype)

  def one(args):
    w, g, yc = args
    k = jnp.exp(-g * jnp.tensordot(w, d_groups, axes=1))
    chol = jax.scipy.linalg.cho_factor(k + lam * eye, lower=True)
    return jax.scipy.linalg.cho_solve(chol, yc)

  return jax.lax.map(one, (weights, gammas, y))


def kernel_ridge_predict_grid(d_groups: jax.Array, alpha: jax.Array, weights: jax.Array, gammas: jax.Array
                              ) -> jax.Array:
  """[C, M] predictions of the C candidates of :func:`kernel_ridge_fit_grid` at M new rows.

  Args:
    d_groups: [G, M, N] :func:`grouped_sq_distances` of the new features with the train features.
    alpha: [C, N] dual coefficients. weights: [C, G], gammas: [C]: as for the fit.
  """
  def one(args):
    w, g, a = args
    return jnp.exp(-g * jnp.tensordot(w, d_groups, axes=1)) @ a

  return jax.lax.map(one, (weights, gammas, alpha))
