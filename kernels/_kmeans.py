"""Weighted k-means: k-means++ seeding and Lloyd iterations (pure JAX).

One restart is one call of :func:`kmeans`; the caller vmaps it over a batch of keys and keeps the
restart with the lowest inertia (see ``tinyjax.tiny.anchors``). Nothing here is jitted or vmapped.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class KMeansState(NamedTuple):
  """Carried state of the Lloyd loop."""

  centers: jax.Array      # [C, D] cluster centres
  labels: jax.Array       # [N] int32 index of the nearest centre
  inertia: jax.Array      # [] weighted sum of squared distances to the assigned centre
  shift: jax.Array        # [] largest squared centre move in the last step
  n_iter: jax.Array       # [] int32 Lloyd steps taken


class KMeansInfo(NamedTuple):
  """Diagnostics of one k-means run (never fed back)."""

  n_iter: jax.Array       # [] int32 Lloyd steps taken
  converged: jax.Array    # [] bool, centre shift fell below the tolerance
  n_empty: jax.Array      # [] int32 clusters with zero weight at the end


def squared_distances(points: jax.Array, centers: jax.Array) -> jax.Array:
  """Squared Euclidean distances.

  Args:
    points: [N, D] float.
    centers: [C, D] float.

  Returns:
    [N, C] float, clipped at 0 (the expansion ``|x|^2 - 2 x.c + |c|^2`` can dip below it by rounding).
  """
  p2 = jnp.sum(points * points, axis=1)[:, None]
  c2 = jnp.sum(centers * centers, axis=1)[None, :]
  return jnp.maximum(p2 - 2.0 * points @ centers.T + c2, 0.0)


def kmeans_plusplus_init(key: jax.Array, points: jax.Array, weights: jax.Array,
                         n_clusters: int) -> jax.Array:
  """k-means++ seeding (Arthur & Vassilvitskii 2007) with point weights.

  The first centre is drawn with probability proportional to ``weights``; each next one with probability
  proportional to ``weights * D(x)^2``, where ``D(x)`` is the distance to the nearest centre chosen so far.
  Points at distance 0 (duplicates of a chosen centre) are never drawn again unless nothing else is left.

  Args:
    key: PRNG key.
    points: [N, D] float.
    weights: [N] float, non-negative, not all zero.
    n_clusters: static int C >= 1.

  Returns:
    [C, D] initial centres (rows of ``points``).
  """
  keys = jax.random.split(key, n_clusters)
  tiny = jnp.finfo(points.dtype).tiny
  logw = jnp.where(weights > 0, jnp.log(jnp.maximum(weights, tiny)), -jnp.inf)
  first = jax.random.categorical(keys[0], logw)
  centers = jnp.zeros((n_clusters, points.shape[1]), points.dtype).at[0].set(points[first])
  d2 = jnp.sum((points - points[first]) ** 2, axis=1)

  def body(k, carry):
    centers, d2 = carry
    mass = weights * d2
    # If every remaining point coincides with a centre, fall back to the weights alone.
    score = jnp.where(jnp.sum(mass) > 0, mass, weights)
    logits = jnp.where(score > 0, jnp.log(jnp.maximum(score, tiny)), -jnp.inf)
    idx = jax.random.categorical(keys[k], logits)
    new = points[idx]
    centers = centers.at[k].set(new)
    d2 = jnp.minimum(d2, jnp.sum((points - new) ** 2, axis=1))
    return centers, d2

  centers, _ = jax.lax.fori_loop(1, n_clusters, body, (centers, d2))
  return centers


def lloyd_step(points: jax.Array, weights: jax.Array, centers: jax.Array
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """One weighted Lloyd step: assign each point to its nearest centre, then move centres to the weighted means.

  A centre whose cluster has zero weight stays where it is.

  Args:
    points: [N, D]. weights: [N] non-negative. centers: [C, D].

  Returns:
    ``(new_centers [C, D], labels [N] int32, inertia [])``, where labels and inertia refer to the
    assignment to the *input* centres.
  """
  d2 = squared_distances(points, centers)
  labels = jnp.argmin(d2, axis=1).astype(jnp.int32)
  inertia = jnp.sum(weights * jnp.take_along_axis(d2, labels[:, None], axis=1)[:, 0])
  onehot = jax.nn.one_hot(labels, centers.shape[0], dtype=points.dtype) * weights[:, None]   # [N, C]
  mass = jnp.sum(onehot, axis=0)                                                             # [C]
  sums = onehot.T @ points                                                                   # [C, D]
  new_centers = jnp.where(mass[:, None] > 0, sums / jnp.maximum(mass, 1e-30)[:, None], centers)
  return new_centers, labels, inertia


def kmeans(key: jax.Array, points: jax.Array, weights: jax.Array, n_clusters: int,
           max_iter: int = 100, tol: float = 1e-6) -> tuple[KMeansState, KMeansInfo]:
  """One weighted k-means run: k-means++ seeding, then Lloyd steps until the centres stop moving.

  Vmap over ``key`` for restarts and keep the run with the lowest ``state.inertia``.

  Args:
    key: PRNG key for the seeding.
    points: [N, D] float.
    weights: [N] float, non-negative (item mass); use ones for plain k-means.
    n_clusters: static int C, 1 <= C <= N.
    max_iter: static int, the most Lloyd steps.
    tol: stop once the largest squared centre move is at most ``tol`` times the mean squared norm of the
      (centred) points.

  Returns:
    ``(state, info)``: final centres [C, D], labels [N] (nearest final centre), inertia [] of that
    assignment; the number of steps, convergence flag and empty-cluster count.
  """
  centers0 = kmeans_plusplus_init(key, points, weights, n_clusters)
  scale = jnp.mean(jnp.sum((points - jnp.mean(points, axis=0)) ** 2, axis=1)) + jnp.finfo(points.dtype).tiny
  threshold = jnp.asarray(tol, points.dtype) * scale
  big = jnp.asarray(jnp.inf, points.dtype)
  init = KMeansState(centers0, jnp.zeros(points.shape[0], jnp.int32), big, big, jnp.zeros((), jnp.int32))

  def cond(s):
    return (s.n_iter < max_iter) & (s.shift > threshold)

  def body(s):
    new_centers, labels, inertia = lloyd_step(points, weights, s.centers)
    shift = jnp.max(jnp.sum((new_centers - s.centers) ** 2, axis=1))
    return KMeansState(new_centers, labels, inertia, shift, s.n_iter + 1)

  s = jax.lax.while_loop(cond, body, init)
  d2 = squared_distances(points, s.centers)
  labels = jnp.argmin(d2, axis=1).astype(jnp.int32)
  inertia = jnp.sum(weights * jnp.take_along_axis(d2, labels[:, None], axis=1)[:, 0])
  mass = jnp.zeros(n_clusters, points.dtype).at[labels].add(weights)
  state = KMeansState(s.centers, labels, inertia, s.shift, s.n_iter)
  info = KMeansInfo(s.n_iter, s.shift <= threshold, jnp.sum(mass <= 0).astype(jnp.int32))
  return state, info
