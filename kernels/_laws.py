"""Scaling-law forms and their objectives (pure JAX; dtypes follow the inputs).

Parameter vectors (all unconstrained, so any optimiser can move them freely):

* Chinchilla, ``[5] = (a, b, e, alpha, beta)`` with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``:
  ``log L(N, D) = logsumexp(a - alpha log N, b - beta log D, e)`` (Besiroglu et al. 2024).
* Over-trained law of Gadre et al. 2024 in the parametrisation their code fits,
  ``[4] = (alpha_n, beta_n, p, E)``: ``L(N, M) = E + alpha_n N^p + beta_n 6^(p/2) (M N)^p``. With
  ``C = 6 N^2 M`` this is the paper's ``E + (a M^eta + b M^-eta) C^-eta`` with ``eta = -p/2``,
  ``a = alpha_n 6^eta`` and ``b = beta_n``.
* Reducible power law, ``[3] = (log_lambda, alpha, E)``: ``L(C) = E + exp(log_lambda) C^-alpha``.
* Loss to error, ``[3] = (k, gamma, epsilon)``: ``Err(L) = epsilon - k exp(-gamma L)``.

The minimisers that fit them live in ``_minimize.py``; the API layer (``tinyjax.scaling``) vmaps them over
starts and jits the result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def chinchilla_log_loss(params: jax.Array, log_n: jax.Array, log_d: jax.Array) -> jax.Array:
  """Chinchilla law in log space, ``log(E + A/N^alpha + B/D^beta)`` as a logsumexp.

  Args:
    params: ``[5]`` = (a, b, e, alpha, beta), ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``.
    log_n: ``[R]`` log parameter counts.
    log_d: ``[R]`` log token counts.

  Returns:
    ``[R]`` predicted log-loss.
  """
  a, b, e, alpha, beta = params[0], params[1], params[2], params[3], params[4]
  terms = jnp.stack([a - alpha * log_n, b - beta * log_d, jnp.broadcast_to(e, log_n.shape)])
  return jax.nn.logsumexp(terms, axis=0)


def huber(residual: jax.Array, delta: float | jax.Array) -> jax.Array:
  """Elementwise Huber loss: ``r^2/2`` for ``|r| <= delta``, else ``delta (|r| - delta/2)``."""
  abs_r = jnp.abs(residual)
  return jnp.where(abs_r <= delta, 0.5 * residual**2, delta * (abs_r - 0.5 * delta))


def chinchilla_huber_objective(params: jax.Array, log_n: jax.Array, log_d: jax.Array,
                               log_loss: jax.Array, weights: jax.Array,
                               delta: float | jax.Array) -> jax.Array:
  """Weighted SUM of Huber losses of log-loss residuals (the Hoffmann / Besiroglu objective).

  Args:
    params: ``[5]`` Chinchilla parameters (see :func:`chinchilla_log_loss`).
    log_n, log_d, log_loss: ``[R]`` data in log space.
    weights: ``[R]`` non-negative point weights (ones for a plain fit, bootstrap counts otherwise).
    delta: Huber threshold.

  Returns:
    ``[]`` objective.
  """
  residual = log_loss - chinchilla_log_loss(params, log_n, log_d)
  return jnp.sum(weights * huber(residual, delta))


def overtrained_loss(params: jax.Array, n: jax.Array, m: jax.Array) -> jax.Array:
  """Gadre et al. over-trained law in their code's parametrisation.

  Args:
    params: ``[4]`` = (alpha_n, beta_n, p, E).
    n: ``[R]`` parameter counts N (``N = sqrt(C / (6 M))``).
    m: ``[R]`` token multipliers M = D / N.

  Returns:
    ``[R]`` predicted loss ``E + alpha_n N^p + beta_n 6^(p/2) (M N)^p``.
  """
  alpha_n, beta_n, p, e = params[0], params[1], params[2], params[3]
  log_n = jnp.log(n)
  return (alpha_n * jnp.exp(p * log_n)
          + beta_n * jnp.exp(p * (0.5 * jnp.log(jnp.asarray(6.0, n.dtype)) + jnp.log(m) + log_n)) + e)


def reducible_power_law(params: jax.Array, c: jax.Array) -> jax.Array:
  """``E + lambda C^-alpha`` with ``params = (log_lambda, alpha, E)``; ``c``: ``[R]`` -> ``[R]``."""
  return params[2] + jnp.exp(params[0] - params[1] * jnp.log(c))


def loss_to_error(params: jax.Array, loss: jax.Array) -> jax.Array:
  """``epsilon - k exp(-gamma L)`` with ``params = (k, gamma, epsilon)``; ``loss``: ``[R]`` -> ``[R]``."""
  return params[2] - params[0] * jnp.exp(-params[1] * loss)


def bootstrap_counts(key: jax.Array, n_draws: int, size: int, dtype) -> jax.Array:
  """``[n_draws, size]`` multinomial resampling counts (how often each of ``size`` points is drawn in each
  of ``n_draws`` resamples with replacement), as weights of ``dtype`` for the weighted objectives.

  Args:
    key: PRNG key. n_draws, size: static. dtype: static float dtype of the result.
  """
  idx = jax.random.randint(key, (n_draws, size), 0, size)
  return jax.vmap(lambda i: jnp.zeros(size, dtype).at[i].add(1.0))(idx)
