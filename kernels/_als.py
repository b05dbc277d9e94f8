"""Ensemble alternating least squares for partially observed matrices (used by UCB-E-LRF bandits).

Each ensemble member fits ``X ~ U V^T`` (rank ``R``) to the observed entries of ``X`` it is allowed to see
(the observation mask times a member-specific dropout mask), with an L2 penalty ``l2 * I`` on every row
and column factor. One sweep solves, in closed form, the ridge problem of every column factor given the
row factors, then of every row factor given the new column factors. The ensemble axis is a batch axis of
matrix products, so a sweep costs a handful of ``[E, M, N]`` contractions. Warm starting (passing the
previous state to :func:`als_sweep` after a few new entries are revealed) replaces a refit from scratch.

Shapes: ``E`` ensemble members, ``M`` rows (methods), ``N`` columns (examples), ``R`` rank.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class ALSState(NamedTuple):
  """Factors of every ensemble member."""
  row: jax.Array   # [E, M, R] row (method) factors
  col: jax.Array   # [E, N, R] column (example) factors


def als_init(key: jax.Array, n_rows: int, n_cols: int, rank: int, ensemble_size: int,
             dtype=jnp.float32) -> ALSState:
  """Random standard-normal factors for every member.

  Args:
    key: PRNG key.
    n_rows, n_cols: M and N. rank: R. ensemble_size: E (all static ints).
    dtype: float dtype of the factors.

  Returns:
    ALSState with ``row`` [E, M, R] and ``col`` [E, N, R].
  """
  key_row, key_col = jax.random.split(key)
  return ALSState(jax.random.normal(key_row, (ensemble_size, n_rows, rank), dtype),
                  jax.random.normal(key_col, (ensemble_size, n_cols, rank), dtype))


def dropout_keep(key: jax.Array, ensemble_size: int, n_rows: int, n_cols: int,
                 drop_probability: float) -> jax.Array:
  """Per-member entry dropout: True where member ``e`` may use entry ``(i, j)``.

  Args:
    key: PRNG key. ensemble_size, n_rows, n_cols: E, M, N (static).
    drop_probability: chance that a member ignores an entry, in [0, 1).

  Returns:
    bool [E, M, N].
  """
  return ~jax.random.bernoulli(key, drop_probability, (ensemble_size, n_rows, n_cols))


def _ridge_side(fixed: jax.Array, weighted_values: jax.Array, weights: jax.Array,
                l2: jax.Array) -> jax.Array:
  """Solves every ridge problem of one side, for all members at once.

  Args:
    fixed: [E, K, R] factors held fixed (K = the other side's size).
    weighted_values: [E, L, K] data times weights (L = the side being solved).
    weights: [E, L, K] 0/1 (or fractional) weights.
    l2: [] L2 penalty.

  Returns:
    [E, L, R] new factors.
  """
  rank = fixed.shape[-1]
  rhs = jnp.einsum("elk,ekr->elr", weighted_values, fixed)             # [E, L, R]
  if rank == 1:                                                         # static: scalar normal equations
    gram = jnp.einsum("elk,ek->el", weights, fixed[..., 0] ** 2)        # [E, L]
    return rhs / (gram + l2)[..., None]
  outer = (fixed[..., :, None] * fixed[..., None, :]).reshape(fixed.shape[0], fixed.shape[1], rank * rank)
  gram = jnp.einsum("elk,ekq->elq", weights, outer).reshape(*weights.shape[:2], rank, rank)
  gram = gram + l2 * jnp.eye(rank, dtype=fixed.dtype)
  return jnp.linalg.solve(gram, rhs[..., None])[..., 0]


def als_sweep(state: ALSState, values: jax.Array, weights: jax.Array, l2) -> ALSState:
  """One ALS sweep (columns, then rows) for every member.

  Args:
    state: current factors (``row`` [E, M, R], ``col`` [E, N, R]).
    values: [M, N] data; entries with zero weight are ignored (they must be finite; use 0).
    weights: [E, M, N] or [M, N] weights (1 = observed and kept by this member, 0 = ignored).
    l2: [] L2 penalty on each factor vector (added to the diagonal of every normal-equation matrix).

  Returns:
    The updated ALSState.
  """
  n_members = state.row.shape[0]
  weights = jnp.broadcast_to(weights, (n_members, *values.shape)).astype(values.dtype)
  weighted = weights * values[None]
  l2 = jnp.asarray(l2, values.dtype)
  col = _ridge_side(state.row, jnp.swapaxes(weighted, 1, 2), jnp.swapaxes(weights, 1, 2), l2)
  row = _ridge_side(col, weighted, weights, l2)
  return ALSState(row, col)


def als_moments(state: ALSState) -> tuple[jax.Array, jax.Array]:
  """Ensemble mean and (unbiased) variance of every reconstructed entry ``(U_e V_e^T)_ij``.

  Computed with two matrix products, without materialising the [E, M, N] reconstructions.

  Args:
    state: factors of E >= 2 members.

  Returns:
    ``(mean, var)``, both [M, N]; ``var`` is clipped at 0 against rounding.
  """
  n_members, n_rows, rank = state.row.shape
  n_cols = state.col.shape[1]
  u = jnp.transpose(state.row, (1, 0, 2)).reshape(n_rows, n_members * rank)
  v = jnp.transpose(state.col, (1, 0, 2)).reshape(n_cols, n_members * rank)
  mean = (u @ v.T) / n_members
  uu = (state.row[..., :, None] * state.row[..., None, :])              # [E, M, R, R]
  vv = (state.col[..., :, None] * state.col[..., None, :])              # [E, N, R, R]
  uu = jnp.transpose(uu, (1, 0, 2, 3)).reshape(n_rows, -1)
  vv = jnp.transpose(vv, (1, 0, 2, 3)).reshape(n_cols, -1)
  second = (uu @ vv.T) / n_members
  var = jnp.maximum(second - mean ** 2, 0.0) * (n_members / max(n_members - 1, 1))
  return mean, var


def als_row_moments(state: ALSState, row: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Ensemble mean and unbiased variance of one row of the reconstruction.

  Args:
    state: factors. row: [] int index.

  Returns:
    ``(mean, var)``, both [N].
  """
  n_members = state.row.shape[0]
  u = state.row[:, row, :]                                              # [E, R]
  pred = jnp.einsum("er,enr->en", u, state.col)                         # [E, N]
  return jnp.mean(pred, 0), jnp.var(pred, 0) * (n_members / max(n_members - 1, 1))
