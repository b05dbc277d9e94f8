"""Ability estimation for one examinee at a time (vmap over models in the caller).

Item parameters are fixed: slopes ``a`` [I, D], intercepts ``b`` [I], asymptotes ``c`` [I], with
P = c + (1 - c) * sigmoid(a . theta - b). Responses ``y`` [I] are 0/1 or scores in [0, 1]; ``mask``
[I] marks the items this examinee answered.

- :func:`ability_newton`: MLE (``prior_prec`` = 0) or MAP with a Gaussian prior, by Fisher scoring
  (Newton for 1PL/2PL, where observed and expected information coincide), with a step-length cap.
- :func:`ability_eap_grid`: EAP by adaptive quadrature around the MAP (D = 1 or 2).
- :func:`ability_eap_importance`: EAP by importance sampling around the MAP (any D).
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


def _prob_and_slope(theta, a, b, c):
  z = a @ theta - b                                   # [I]
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
  z = a @ theta - b
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
    g = a.T @ r - prior_prec @ (theta - prior_mean)
    w = m * jnp.square(dp) / pq
    info = (a * w[:, None]).T @ a
    return g, info

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
  h = (a * w[:, None]).T @ a + prior_prec
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
