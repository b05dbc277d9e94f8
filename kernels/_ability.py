"""Ability estimation for one examinee at a time (vmap over models in the caller).

Item parameters are fixed: slopes ``a`` [I, D], intercepts ``b`` [I], asymptotes ``c`` [I], with
P = c + (1 - c) * sigmoid(a . theta - b). Responses ``y`` [I] are 0/1 or scores in [0, 1]; ``mask``
[I] marks the items this examinee answered.

- :func:`ability_newton`: MLE (``prior_prec`` = 0) or MAP with a Gaussian prior, by Fisher scoring
  (Newton for 1PL/2PL, where observed and expected information coincide), with a step-length cap.
- :func:`ability_eap_grid`: EAP by adaptive quadrature around the MAP (D = 1 or 2).
- :func:`ability_eap_importance`: EAP by importance sampling around the MAP (any D).
- :func:`ability_eap_table`: EAP of a block of examinees (D = 1) on one fixed grid over the prior, by matrix
  products; it flags the rows whose posterior the grid does not resolve (the caller falls back to
  :func:`ability_eap_grid` for them).

With D = 1 every product with ``a`` is written elementwise (an [I, 1] @ [1] dot does not fuse with the sigmoid
around it), so that a vmapped Newton iteration is one fused pass over the answers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class AbilityResult(NamedTuple):
  """Result for one examinee.

  Attributes:
    theta: [D] estimate (+-inf along the divergent direction when the MLE does not exist).
    se: [D] standard error (inverse Fisher information for MLE, inverse of information plus prior
      precision for MAP, posterior sd for EAP); inf when the MLE diverged.
    n_iter: [] int32 iterations used (0 for EAP on a grid).
    converged: [] bool.
    diverged: [] bool, True when the MLE does not exist (all answers right, all wrong, or the
      iterates ran off past ``max_abs``).
  """

  theta: jax.Array
  se: jax.Array
  n_iter: jax.Array
  converged: jax.Array
  diverged: jax.Array


def _logits(theta, a, b):
  """[I] a . theta - b; elementwise when D = 1."""
  if a.shape[1] == 1:
    return a[:, 0] * theta[0] - b
  return a @ theta - b


def _project(a, r):
  """[D] a^T r for a [I, D], r [I]."""
  if a.shape[1] == 1:
    return jnp.sum(a[:, 0] * r)[None]
  return a.T @ r


def _gram(a, w):
  """[D, D] a^T diag(w) a for a [I, D], w [I]."""
  if a.shape[1] == 1:
    return jnp.sum(jnp.square(a[:, 0]) * w)[None, None]
  return (a * w[:, None]).T @ a


def _matvec(h, v):
  """[D] h v for h [D, D], v [D]."""
  if h.shape[0] == 1:
    return h[0] * v[0]
  return h @ v


def _prob_and_slope(theta, a, b, c):
  z = _logits(theta, a, b)                            # [I]
  s = jax.nn.sigmoid(z)
  p = c + (1.0 - c) * s
  dp = (1.0 - c) * s * (1.0 - s)                      # dp/dz
  return z, p, dp


def log_likelihood_one(theta: jax.Array, responses: jax.Array, mask: jax.Array, a: jax.Array,
                       b: jax.Array, c: jax.Array) -> jax.Array:
  """Masked (fractional) Bernoulli log-likelihood of one examinee.

  Args:
    theta: [D]. responses: [I]. mask: [I] bool. a: [I, D]. b: [I]. c: [I].

  Returns:
    [] log-likelihood.
  """
  z = _logits(theta, a, b)
  log_1mc = jnp.log1p(-c)
  log_p = jnp.logaddexp(jnp.log(c), log_1mc + jax.nn.log_sigmoid(z))
  log_q = log_1mc + jax.nn.log_sigmoid(-z)
  return jnp.sum(jnp.where(mask, responses * log_p + (1.0 - responses) * log_q, 0.0))


def fisher_information(theta: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
  """Per-item Fisher information matrices at ``theta``.

  Args:
    theta: [D] ability.
    a: [I, D] slopes. b: [I] intercepts. c: [I] asymptotes.

  Returns:
    [I, D, D] information of each item, (dP/dz)^2 / (P (1 - P)) * a_i a_i^T.
  """
  _, p, dp = _prob_and_slope(theta, a, b, c)
  w = jnp.square(dp) / jnp.clip(p * (1.0 - p), 1e-30)
  return w[:, None, None] * a[:, :, None] * a[:, None, :]


def ability_newton(responses: jax.Array, mask: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array,
                   prior_mean: jax.Array, prior_prec: jax.Array, *, max_iter: int = 50,
                   tol: float = 1e-6, max_step: float = 1.0, max_abs: float = 30.0) -> AbilityResult:
  """MLE or MAP ability by Fisher scoring.

  Args:
    responses: [I] values in [0, 1].
    mask: [I] bool, answered items.
    a: [I, D] slopes. b: [I] intercepts. c: [I] asymptotes.
    prior_mean: [D] prior mean.
    prior_prec: [D, D] prior precision; all zeros gives the MLE.
    max_iter: iteration cap (static).
    tol: convergence when the step's max-abs is below ``tol``.
    max_step: cap on each step's Euclidean length (keeps 3PL iterations stable).
    max_abs: an iterate beyond this max-abs is declared divergent (MLE only).

  Returns:
    :class:`AbilityResult`.
  """
  d = a.shape[1]
  dtype = a.dtype
  eye = jnp.eye(d, dtype=dtype)
  is_mle = jnp.all(prior_prec == 0)
  m = mask.astype(dtype)
  n_obs = jnp.sum(m)
  # Extreme patterns: the MLE does not exist when every answer is fully right or fully wrong.
  all_right = jnp.all(jnp.where(mask, responses >= 1.0, True))
  all_wrong = jnp.all(jnp.where(mask, responses <= 0.0, True))
  extreme = (all_right | all_wrong) | (n_obs == 0)

  def grad_info(theta):
    _, p, dp = _prob_and_slope(theta, a, b, c)
    pq = jnp.clip(p * (1.0 - p), 1e-30)
    r = m * (responses - p) * dp / pq                  # [I]
    g = _project(a, r) - _matvec(prior_prec, theta - prior_mean)
    w = m * jnp.square(dp) / pq
    return g, _gram(a, w)

  def cond(carry):
    theta, it, done, _ = carry
    return (it < max_iter) & ~done & (jnp.max(jnp.abs(theta)) < max_abs)

  def body(carry):
    theta, it, _, _ = carry
    g, info = grad_info(theta)
    h = info + prior_prec + 1e-9 * eye
    step = _solve(h, g)
    norm = jnp.linalg.norm(step)
    step = step * jnp.minimum(1.0, max_step / jnp.maximum(norm, 1e-30))
    done = jnp.max(jnp.abs(step)) < tol
    return theta + step, it + 1, done, norm

  theta0 = jnp.where(is_mle, jnp.zeros((d,), dtype), prior_mean)
  theta, n_iter, done, _ = jax.lax.while_loop(
      cond, body, (theta0, jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), dtype)))
  _, info = grad_info(theta)
  cov = _inv(info + prior_prec + 1e-12 * eye)
  se = jnp.sqrt(jnp.clip(jnp.diagonal(cov), 0.0))
  ran_off = jnp.max(jnp.abs(theta)) >= max_abs
  diverged = is_mle & (extreme | ran_off)
  inf_dir = jnp.where(all_wrong & ~all_right, -jnp.inf, jnp.inf)
  direction = jnp.where(extreme, inf_dir * jnp.ones((d,), dtype), jnp.sign(theta) * jnp.inf)
  theta = jnp.where(diverged, direction, theta)
  se = jnp.where(diverged, jnp.inf, se)
  return AbilityResult(theta, se, n_iter, done & ~diverged, diverged)


def _solve(h, g):
  """h^-1 g for a [D, D] system; a division when D = 1 (batched LU is slow on CPU)."""
  if h.shape[0] == 1:
    return g / h[0, 0]
  return jnp.linalg.solve(h, g)


def _inv(h):
  if h.shape[0] == 1:
    return 1.0 / h
  return jnp.linalg.inv(h)


def _chol(cov):
  if cov.shape[0] == 1:
    return jnp.sqrt(cov)
  return jnp.linalg.cholesky(cov)


def _posterior_moments(log_w, points):
  w = jax.nn.softmax(log_w)
  mean = w @ points
  var = w @ jnp.square(points - mean[None, :])
  return mean, jnp.sqrt(jnp.clip(var, 0.0))


def _laplace(responses, mask, a, b, c, prior_mean, prior_prec, max_iter):
  """MAP and the Cholesky factor of the Laplace covariance (information + prior precision)^-1."""
  mode = ability_newton(responses, mask, a, b, c, prior_mean, prior_prec, max_iter=max_iter)
  d = a.shape[1]
  _, p, dp = _prob_and_slope(mode.theta, a, b, c)
  w = mask * jnp.square(dp) / jnp.clip(p * (1.0 - p), 1e-30)
  h = _gram(a, w) + prior_prec
  chol = _chol(_inv(h + 1e-12 * jnp.eye(d, dtype=a.dtype)))
  return mode, chol


def _log_prior(points, prior_mean, prior_prec):
  diff = points - prior_mean[None, :]
  return -0.5 * jnp.einsum("sd,de,se->s", diff, prior_prec, diff)


def ability_eap_grid(responses: jax.Array, mask: jax.Array, a: jax.Array, b: jax.Array,
                     c: jax.Array, prior_mean: jax.Array, prior_prec: jax.Array,
                     nodes: jax.Array, *, max_iter: int = 50) -> AbilityResult:
  """EAP by adaptive quadrature: an even grid laid over the Laplace approximation (D = 1 or 2).

  The grid is centred on the MAP and scaled by the Laplace sd, so it resolves the posterior
  however many items were answered; the weights are the exact posterior density at the nodes.

  Args:
    responses: [I]. mask: [I] bool. a: [I, D]. b: [I]. c: [I].
    prior_mean: [D]. prior_prec: [D, D] prior precision (positive definite).
    nodes: [Q, D] evenly spaced grid in standardised coordinates (e.g. [-6, 6] per axis).
    max_iter: Newton iterations for the MAP centre.

  Returns:
    :class:`AbilityResult` with the posterior mean and sd.
  """
  mode, chol = _laplace(responses, mask, a, b, c, prior_mean, prior_prec, max_iter)
  points = mode.theta[None, :] + nodes @ chol.T                       # [Q, D]
  ll = jax.vmap(lambda t: log_likelihood_one(t, responses, mask, a, b, c))(points)
  mean, sd = _posterior_moments(ll + _log_prior(points, prior_mean, prior_prec), points)
  return AbilityResult(mean, sd, mode.n_iter, mode.converged, jnp.zeros((), bool))


def ability_eap_importance(responses: jax.Array, mask: jax.Array, a: jax.Array, b: jax.Array,
                           c: jax.Array, prior_mean: jax.Array, prior_prec: jax.Array,
                           draws: jax.Array, *, inflate: float = 1.5, max_iter: int = 50
                           ) -> AbilityResult:
  """EAP by self-normalised importance sampling from a widened Laplace approximation (any D).

  Args:
    responses: [I]. mask: [I] bool. a: [I, D]. b: [I]. c: [I].
    prior_mean: [D]. prior_prec: [D, D] (positive definite).
    draws: [S, D] standard normal draws (shared across examinees; from an explicit key).
    inflate: proposal sd multiplier over the Laplace sd.
    max_iter: Newton iterations for the MAP centre.

  Returns:
    :class:`AbilityResult` with the posterior mean and sd.
  """
  mode, chol = _laplace(responses, mask, a, b, c, prior_mean, prior_prec, max_iter)
  points = mode.theta[None, :] + inflate * draws @ chol.T             # [S, D]
  ll = jax.vmap(lambda t: log_likelihood_one(t, responses, mask, a, b, c))(points)
  log_q = -0.5 * jnp.sum(jnp.square(draws), 1)
  mean, sd = _posterior_moments(ll + _log_prior(points, prior_mean, prior_prec) - log_q, points)
  return AbilityResult(mean, sd, mode.n_iter, mode.converged, jnp.zeros((), bool))


def score_curve_1d(a: jax.Array, b: jax.Array, c: jax.Array, item_valid: jax.Array, prior_mean: jax.Array,
                   prior_prec: jax.Array, points: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The MAP score equation of an examinee who answers every valid item, tabulated (D = 1).

  For the 2PL the MAP solves ``sum_i a_i y_i = G(theta)`` with ``G(t) = sum_i a_i P_i(t) + prec (t - mean)``,
  which increases in ``t``; :func:`score_curve_start` inverts it, so that Newton starts next to the answer.

  Args:
    a: [I, 1]. b: [I]. c: [I]. item_valid: [I] bool, the real (unpadded) items.
    prior_mean: [1]. prior_prec: [1, 1] (zeros for the MLE).
    points: [Q] increasing abilities.

  Returns:
    ([Q] ``G`` at ``points``, [Q] its derivative ``G'``).
  """
  a0 = jnp.where(item_valid, a[:, 0], 0.0)[:, None]
  s = jax.nn.sigmoid(a0 * points[None, :] - b[:, None])                 # [I, Q]
  one_c = 1.0 - c[:, None]
  curve = jnp.sum(a0 * (c[:, None] + one_c * s), 0) + prior_prec[0, 0] * (points - prior_mean[0])
  slope = jnp.sum(jnp.square(a0) * one_c * s * (1.0 - s), 0) + prior_prec[0, 0]
  return curve, slope


def score_curve_start(score: jax.Array, curve: jax.Array, slope: jax.Array, points: jax.Array) -> jax.Array:
  """Where the tabulated score curve meets ``score``: cubic Hermite inverse interpolation (D = 1).

  Args:
    score: [] an examinee's a-weighted score, ``sum_i a_i y_i``.
    curve, slope: [Q] from :func:`score_curve_1d` at ``points`` [Q] (increasing).

  Returns:
    [] the ability, clamped to the ends of ``points``. On a 512-point table over +-7 sd it is within ~1e-6 of the
    2PL MAP of a complete row, so Newton's first step confirms it.
  """
  q = points.shape[0]
  i = jnp.clip(jnp.searchsorted(curve, score, side="right"), 1, q - 1)
  g0, g1 = curve[i - 1], curve[i]
  h = jnp.maximum(g1 - g0, jnp.finfo(curve.dtype).tiny)
  u = jnp.clip((score - g0) / h, 0.0, 1.0)
  u2, u3 = u * u, u * u * u
  m0, m1 = h / jnp.maximum(slope[i - 1], 1e-30), h / jnp.maximum(slope[i], 1e-30)   # d theta / du at the ends
  return ((2 * u3 - 3 * u2 + 1) * points[i - 1] + (u3 - 2 * u2 + u) * m0 + (3 * u2 - 2 * u3) * points[i]
          + (u3 - u2) * m1)


def ability_newton_1d(responses: jax.Array, mask: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array,
                      prior_mean: jax.Array, prior_prec: jax.Array, theta0: jax.Array, *, guessing: bool = True,
                      max_iter: int = 50, tol: float = 1e-6, max_step: float = 1.0,
                      max_abs: float = 30.0) -> AbilityResult:
  """:func:`ability_newton` for D = 1, in closed form, from a given start (one examinee; the caller vmaps).

  The same iteration as :func:`ability_newton` (Fisher scoring, steps capped at ``max_step``, the same
  stopping rule and divergence flags), written with scalars so that one iteration over a vmapped block is one
  fused pass over the answers. The standard error uses the information of the last iteration (its step was
  below ``tol``). MLE rows whose answers are all right or all wrong diverge without iterating.

  Args:
    responses: [I] values in [0, 1]. mask: [I] bool, answered items.
    a: [I, 1] slopes. b: [I] intercepts. c: [I] asymptotes.
    prior_mean: [1]. prior_prec: [1, 1]; zeros give the MLE.
    theta0: [] start (e.g. from :func:`score_curve_start`).
    guessing: static; False when every ``c`` is 0 (1PL/2PL), which drops the 3PL weights.
    max_iter, tol, max_step, max_abs: as :func:`ability_newton`.

  Returns:
    :class:`AbilityResult` with theta [1] and se [1].
  """
  dtype = a.dtype
  a0 = a[:, 0]
  mean, prec = prior_mean[0], prior_prec[0, 0]
  is_mle = prec == 0
  # With answers in [0, 1], sums of non-negative terms: zero exactly when every answer is right (wrong).
  all_right = jnp.sum(jnp.where(mask, 1.0 - responses, 0.0)) == 0
  all_wrong = jnp.sum(jnp.where(mask, responses, 0.0)) == 0
  extreme = all_right | all_wrong                      # also when nothing was answered
  skip = is_mle & extreme                              # the MLE does not exist: flagged below, no iterations

  def grad_info(theta):
    s = jax.nn.sigmoid(a0 * theta - b)
    if guessing:
      p = c + (1.0 - c) * s
      dp = (1.0 - c) * s * (1.0 - s)
      pq = jnp.clip(p * (1.0 - p), 1e-30)
      r, w = (responses - p) * dp / pq, jnp.square(dp) / pq
    else:
      r, w = responses - s, s * (1.0 - s)
    g = jnp.sum(jnp.where(mask, a0 * r, 0.0)) - prec * (theta - mean)
    return g, jnp.sum(jnp.where(mask, jnp.square(a0) * w, 0.0)) + prec

  def cond(carry):
    theta, it, done, _ = carry
    return (it < max_iter) & ~done & (jnp.abs(theta) < max_abs)

  def body(carry):
    theta, it, _, _ = carry
    g, h = grad_info(theta)
    step = jnp.clip(g / (h + 1e-9), -max_step, max_step)
    return theta + step, it + 1, jnp.abs(step) < tol, h

  init = (jnp.asarray(theta0, dtype), jnp.zeros((), jnp.int32), skip, jnp.zeros((), dtype))
  theta, n_iter, done, h = jax.lax.while_loop(cond, body, init)
  se = jnp.sqrt(1.0 / (h + 1e-12))
  ran_off = jnp.abs(theta) >= max_abs
  diverged = is_mle & (extreme | ran_off)
  direction = jnp.where(extreme, jnp.where(all_wrong & ~all_right, -jnp.inf, jnp.inf), jnp.sign(theta) * jnp.inf)
  theta = jnp.where(diverged, direction, theta)
  se = jnp.where(diverged, jnp.inf, se)
  return AbilityResult(theta[None], se[None], n_iter, done & ~diverged, diverged)


def ability_eap_table(responses: jax.Array, mask: jax.Array, item_valid: jax.Array, a: jax.Array, b: jax.Array,
                      c: jax.Array, prior_mean: jax.Array, prior_prec: jax.Array, nodes: jax.Array, *,
                      guessing: bool = True, max_edge: float = 1e-8) -> AbilityResult:
  """EAP of a block of examinees (D = 1) on one fixed grid over the prior, by matrix products.

  The grid ``theta_q = mean + node_q * prior sd`` is shared by the block, so the log-likelihood of every row at
  every node is ``(y * mask) @ (log P - log(1 - P)) + mask @ log(1 - P)`` ([B, I] @ [I, Q]); for 1PL/2PL
  (``guessing=False``) the first product is ``(sum_i a_i y_i) * theta_q`` up to a row constant, and a block in
  which every row answers every valid item uses one column sum for the second. The posterior mean and sd are
  the node-weighted moments (the rectangle rule, which for a smooth posterior is accurate to ~1e-8 relative once
  the spacing is at most the posterior sd). A row is flagged (``converged`` False) when its posterior sd is below
  the spacing or more than ``max_edge`` of its weight sits on an end node; the caller recomputes those rows with
  :func:`ability_eap_grid`.

  Args:
    responses: [B, I] values in [0, 1] (any value where not answered). mask: [B, I] bool.
    item_valid: [I] bool, the real (unpadded) items.
    a: [I, 1]. b: [I]. c: [I]. prior_mean: [1]. prior_prec: [1, 1] (positive).
    nodes: [Q] evenly spaced standardised points, e.g. ``linspace(-7, 7, 128)``.
    guessing: static; False when every ``c`` is 0.
    max_edge: the largest posterior weight allowed on either end node.

  Returns:
    :class:`AbilityResult` with theta [B, 1], se [B, 1], n_iter [B] zeros, converged [B] (the grid resolves the
    row's posterior), diverged [B] False.
  """
  dtype = a.dtype
  a0 = a[:, 0]
  points = prior_mean[0] + nodes / jnp.sqrt(prior_prec[0, 0])             # [Q]
  z = a0[:, None] * points[None, :] - b[:, None]                         # [I, Q]
  log_1mc = jnp.log1p(-c)[:, None]
  log_q = log_1mc + jax.nn.log_sigmoid(-z)                               # [I, Q] log(1 - P)
  y = jnp.where(mask, responses, 0.0)
  if guessing:
    log_p = jnp.logaddexp(jnp.log(c)[:, None], log_1mc + jax.nn.log_sigmoid(z))
    lw = y @ (log_p - log_q)
  else:
    lw = jnp.sum(y * a0, 1)[:, None] * points[None, :]                   # the row constant -y @ b cancels
  m = mask.astype(dtype)
  # Answers are a subset of the valid items, so a row answered all of them when its count is theirs.
  complete = jnp.all(jnp.sum(m, 1) == jnp.sum(item_valid.astype(dtype)))
  q_all = jnp.sum(jnp.where(item_valid[:, None], log_q, 0.0), 0)          # [Q]
  lw = lw + jax.lax.cond(complete, lambda: jnp.broadcast_to(q_all, lw.shape), lambda: m @ log_q)
  lw = lw - 0.5 * jnp.square(nodes)
  e = jnp.exp(lw - jnp.max(lw, 1, keepdims=True))                          # [B, Q], largest 1
  # Moments in standardised units (|node| <= a few), one product: sums of e, e * node, e * node^2.
  mom = e @ jnp.stack([jnp.ones_like(nodes), nodes, jnp.square(nodes)], 1)   # [B, 3]
  mean = mom[:, 1] / mom[:, 0]
  var = jnp.clip(mom[:, 2] / mom[:, 0] - jnp.square(mean), 0.0)
  spacing = nodes[1] - nodes[0]
  sd = jnp.sqrt(var)
  ok = (sd >= spacing) & (e[:, 0] <= max_edge * mom[:, 0]) & (e[:, -1] <= max_edge * mom[:, 0])
  scale = 1.0 / jnp.sqrt(prior_prec[0, 0])
  n = responses.shape[0]
  return AbilityResult((prior_mean[0] + scale * mean)[:, None], (scale * sd)[:, None], jnp.zeros((n,), jnp.int32),
                       ok, jnp.zeros((n,), bool))
