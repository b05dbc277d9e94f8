"""Kernel density estimates for training-data selection: an LSH count sketch and the exact Gaussian KDE.

The sketch is a RACE-style count array (Coleman & Shrivastava, 2020) over Gaussian (p-stable) LSH
(Datar et al., 2004). Each of ``L`` rows hashes a point with ``K`` concatenated functions
``h(x) = floor((a . x + b) / w)``, ``a ~ N(0, I)``, ``b ~ U[0, w)``, mixes the ``K`` integer codes into one
of ``B`` buckets, and keeps one count per bucket. After every point has been added, the average count of
a point's buckets over the rows estimates ``sum_j p(||x - x_j|| / w)^K``, a kernel density whose
bandwidth is set by the bucket width ``w``.

All functions are pure; the caller jits them. Dtypes follow the inputs, counters are int32.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Constants of the murmur3 32-bit finaliser, used to spread the mixed codes over the buckets.
_FMIX_1 = 0x85EBCA6B
_FMIX_2 = 0xC2B2AE35


class LSHParams(NamedTuple):
  """The random functions of a Gaussian-LSH count sketch (fixed once drawn)."""
  projections: jax.Array  # [D, L * K] float, entries ~ N(0, 1)
  offsets: jax.Array      # [L * K] float, entries ~ U[0, w)
  mixers: jax.Array       # [L, K] uint32, odd multipliers that combine the K codes of a row
  width: jax.Array        # [] float, the bucket width w (the bandwidth)


def lsh_init(key: jax.Array, dim: int, n_rows: int, n_hashes: int, width: jax.Array) -> LSHParams:
  """Draws the hash functions of a sketch.

  Args:
    key: a PRNG key.
    dim: embedding dimension D (static).
    n_rows: number of independent rows L (static).
    n_hashes: number K of concatenated hash functions per row (static); larger K gives a sharper kernel.
    width: [] float bucket width w > 0. Its dtype sets the dtype of the projections.

  Returns:
    An :class:`LSHParams`.
  """
  width = jnp.asarray(width)
  key_proj, key_off, key_mix = jax.random.split(key, 3)
  projections = jax.random.normal(key_proj, (dim, n_rows * n_hashes), width.dtype)
  offsets = jax.random.uniform(key_off, (n_rows * n_hashes,), width.dtype) * width
  mixers = jax.random.bits(key_mix, (n_rows, n_hashes), jnp.uint32) | jnp.uint32(1)
  return LSHParams(projections, offsets, mixers, width)


def _fmix32(h: jax.Array) -> jax.Array:
  h = h ^ (h >> 16)
  h = h * jnp.uint32(_FMIX_1)
  h = h ^ (h >> 13)
  h = h * jnp.uint32(_FMIX_2)
  return h ^ (h >> 16)


def lsh_codes(params: LSHParams, x: jax.Array) -> jax.Array:
  """The integer LSH codes ``floor((a . x + b) / w)`` of each point.

  Args:
    params: the sketch's hash functions.
    x: [N, D] float points.

  Returns:
    [N, L, K] int32 codes.
  """
  n_rows, n_hashes = params.mixers.shape
  proj = x.astype(params.projections.dtype) @ params.projections + params.offsets   # [N, L*K]
  codes = jnp.floor(proj / params.width).astype(jnp.int32)
  return codes.reshape(x.shape[0], n_rows, n_hashes)


def lsh_buckets(params: LSHParams, x: jax.Array, n_buckets: int) -> jax.Array:
  """The bucket of each point in each row.

  Args:
    params: the sketch's hash functions.
    x: [N, D] float points.
    n_buckets: buckets per row B (static).

  Returns:
    [N, L] int32 bucket indices in ``[0, B)``.
  """
  codes = jax.lax.bitcast_convert_type(lsh_codes(params, x), jnp.uint32)       # [N, L, K]
  mixed = jnp.sum(codes * params.mixers[None], axis=-1, dtype=jnp.uint32)        # wraps mod 2^32
  return (_fmix32(mixed) % jnp.uint32(n_buckets)).astype(jnp.int32)


def _flat_index(buckets: jax.Array, n_buckets: int) -> jax.Array:
  rows = jnp.arange(buckets.shape[1], dtype=jnp.int32)
  return buckets + rows[None, :] * n_buckets                                    # [N, L]


def sketch_add(counts: jax.Array, params: LSHParams, x: jax.Array, mask: jax.Array) -> jax.Array:
  """Pass 1: adds a chunk of points to the bucket counts.

  Args:
    counts: [L * B] int32 counts (row-major: row l owns ``counts[l * B:(l + 1) * B]``).
    params: the sketch's hash functions (L rows).
    x: [N, D] float chunk.
    mask: [N] bool, False for padding rows, which add nothing.

  Returns:
    The updated [L * B] counts.
  """
  n_buckets = counts.shape[0] // params.mixers.shape[0]
  index = _flat_index(lsh_buckets(params, x, n_buckets), n_buckets)
  weight = jnp.broadcast_to(mask.astype(counts.dtype)[:, None], index.shape)
  return counts.at[index.reshape(-1)].add(weight.reshape(-1))


def sketch_query(counts: jax.Array, params: LSHParams, x: jax.Array) -> jax.Array:
  """Pass 2: the density score of each point, its bucket count averaged over the rows.

  Args:
    counts: [L * B] int32 counts filled by :func:`sketch_add`.
    params: the sketch's hash functions.
    x: [N, D] float points.

  Returns:
    [N] scores in the dtype of ``params.width``: an estimate of ``sum_j k(x, x_j)`` over the added points
    (a point that was added counts itself, contributing 1).
  """
  n_buckets = counts.shape[0] // params.mixers.shape[0]
  index = _flat_index(lsh_buckets(params, x, n_buckets), n_buckets)
  return jnp.mean(counts[index].astype(params.width.dtype), axis=1)


def lsh_collision_probability(distance: jax.Array, width: jax.Array) -> jax.Array:
  """Probability that one Gaussian LSH function gives two points at ``distance`` the same code.

  With ``r = distance / w`` (Datar et al., 2004, for the 2-stable case):
  ``p(r) = 1 - 2 Phi(-1 / r) - (2 / sqrt(2 pi)) r (1 - exp(-1 / (2 r^2)))``, and ``p(0) = 1``.
  A row of ``K`` concatenated functions collides with probability ``p(r)^K``: this is the kernel whose sum
  the sketch estimates (up to collisions of distinct codes in the same bucket).

  Args:
    distance: [...] float, >= 0.
    width: [] float bucket width w > 0.

  Returns:
    [...] collision probabilities in [0, 1], in the dtype of ``distance``.
  """
  distance = jnp.asarray(distance)
  r = distance / jnp.asarray(width, distance.dtype)
  safe = jnp.where(r > 0, r, 1.0)
  # 1 - 2 Phi(-1/r) = erf(1 / (r sqrt 2)), and 1 - exp(-x) = -expm1(-x): no cancellation at large r.
  p = (jax.scipy.special.erf(1.0 / (safe * jnp.sqrt(2.0)))
       + (2.0 / jnp.sqrt(2.0 * jnp.pi)) * safe * jnp.expm1(-1.0 / (2.0 * safe**2)))
  return jnp.where(r > 0, p, jnp.ones_like(p)).astype(distance.dtype)


def lsh_equivalent_bandwidth(width: jax.Array, n_hashes: int, level: jax.Array) -> jax.Array:
  """The Gaussian-kernel bandwidth h whose kernel falls to ``exp(-level)`` where the sketch's kernel does.

  The sketch's kernel is ``p(c / w)^K`` (:func:`lsh_collision_probability`); the Gaussian kernel
  ``exp(-c^2 / (2 h^2))`` equals ``exp(-level)`` at ``c = sqrt(2 level) h``. The distance where
  ``p(r)^K = exp(-level)`` is found by bisection on ``r`` (the bracket doubles until it holds the root,
  then 100 halvings), and ``h = r w / sqrt(2 level)``.

  Args:
    width: [] float bucket width w > 0. Its dtype is the dtype of the computation.
    n_hashes: K >= 1 (static).
    level: [] float > 0.

  Returns:
    [] float h > 0.
  """
  width = jnp.asarray(width)
  dtype = width.dtype
  level = jnp.asarray(level, dtype)
  target = jnp.exp(-level / n_hashes)
  p = lambda r: lsh_collision_probability(r, jnp.ones((), dtype))  # noqa: E731  (r is in units of w)
  hi = jax.lax.while_loop(lambda h: p(h) > target, lambda h: 2.0 * h, jnp.ones((), dtype))

  def halve(_, bracket):
    lo, hi = bracket
    mid = 0.5 * (lo + hi)
    above = p(mid) > target
    return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

  lo, hi = jax.lax.fori_loop(0, 100, halve, (jnp.zeros((), dtype), hi))
  return 0.5 * (lo + hi) * width / jnp.sqrt(2.0 * level)


def gaussian_kde_log_density(queries: jax.Array, data: jax.Array, bandwidth: jax.Array,
                             normalized: bool = True) -> jax.Array:
  """Exact Gaussian kernel density of each query against all data points.

  ``log p(q) = log mean_j exp(-||q - x_j||^2 / (2 h^2))`` minus ``(D / 2) log(2 pi h^2)`` when
  ``normalized`` (the normaliser is the same for every query, so it does not change rankings).

  Args:
    queries: [M, D] float.
    data: [N, D] float.
    bandwidth: [] float h > 0.
    normalized: subtract the Gaussian normaliser (static).

  Returns:
    [M] log densities.
  """
  h = jnp.asarray(bandwidth, queries.dtype)
  data = data.astype(queries.dtype)
  sq = (jnp.sum(queries**2, axis=1)[:, None] + jnp.sum(data**2, axis=1)[None, :]
        - 2.0 * queries @ data.T)                                                 # [M, N]
  sq = jnp.maximum(sq, 0.0)
  log_k = -sq / (2.0 * h**2)
  out = jax.nn.logsumexp(log_k, axis=1) - jnp.log(jnp.asarray(data.shape[0], queries.dtype))
  if normalized:
    out = out - 0.5 * queries.shape[1] * jnp.log(2.0 * jnp.pi * h**2)
  return out


def gumbel_top_k(key: jax.Array, log_weights: jax.Array, k: int) -> jax.Array:
  """Samples k distinct indices, without replacement, with probabilities proportional to exp(log_weights).

  The Gumbel-top-k trick: the indices of the k largest ``log_weights + Gumbel noise`` are distributed as
  k successive draws without replacement (Kool et al., 2019).

  Args:
    key: a PRNG key.
    log_weights: [N] float unnormalised log weights; ``-inf`` entries are never drawn while finite ones remain.
    k: sample size (static), ``k <= N``.

  Returns:
    [k] int32 indices, in the order drawn.
  """
  noise = jax.random.gumbel(key, log_weights.shape, log_weights.dtype)
  _, index = jax.lax.top_k(log_weights + noise, k)
  return index.astype(jnp.int32)
