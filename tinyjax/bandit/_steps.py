"""The compiled pieces every bandit entry point shares, built once at module level.

A config (``_config.py``) names its kernel algorithm (``tinyjax.kernels``: ``uniform_sampling``, ``ucbe``,
``ucbe_lrf``, ``successive_rejects``, ``sequential_halving``), a :class:`tinyjax.kernels.BanditAlgorithm` of
``(init, aux, select, recommend)``. The seed's key splits into the keys of the initial state, of the run's fixed
randomness (aux) and of the steps; step ``t`` uses ``fold_in(steps_key, t)``. The online evaluator calls the
pieces one at a time, the offline runs call :func:`offline` (the whole run in one ``lax.while_loop``), so both
pick the same cells for the same seed.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from tinyjax import kernels
from tinyjax.bandit._config import BanditConfig

_KERNELS = {
    "uniform": kernels.uniform_sampling,
    "ucbe": kernels.ucbe,
    "ucbe-lrf": kernels.ucbe_lrf,
    "successive-rejects": kernels.successive_rejects,
    "sequential-halving": kernels.sequential_halving,
}


def algorithm_of(cfg: BanditConfig) -> kernels.BanditAlgorithm:
  """The kernel algorithm of a config (its static settings closed over)."""
  return _KERNELS[cfg.algorithm](**dataclasses.asdict(cfg))


def _seed_keys(seed_key):
  """(init, aux, steps) keys of one run."""
  k_init, k_aux, k_steps = jax.random.split(seed_key, 3)
  return k_init, k_aux, k_steps


@functools.partial(jax.jit, static_argnames=("cfg", "n_rows", "n_cols", "dtype"))
def init(seed_key, cfg, n_rows, n_cols, dtype):
  """(state, aux) of a new run."""
  alg = algorithm_of(cfg)
  k_init, k_aux, _ = _seed_keys(seed_key)
  return alg.init(k_init, n_rows, n_cols, dtype), alg.aux(k_aux, n_rows, n_cols)


@functools.partial(jax.jit, static_argnames=("cfg",))
def select(cfg, state, seed_key, aux, cost, budget, total_cells):
  """One step: (state, batch, info)."""
  _, _, k_steps = _seed_keys(seed_key)
  return algorithm_of(cfg).select(state, jax.random.fold_in(k_steps, state.step), aux, cost, budget, total_cells)


reveal = jax.jit(kernels.bandit_reveal)


def _final_key(k_steps, state):
  return jax.random.fold_in(jax.random.fold_in(k_steps, state.step), 1)


@functools.partial(jax.jit, static_argnames=("cfg",))
def recommend(cfg, state, seed_key, aux, total_cells):
  """The recommendation now (the state is not changed)."""
  _, _, k_steps = _seed_keys(seed_key)
  return algorithm_of(cfg).recommend(state, _final_key(k_steps, state), aux, total_cells)


def _offline(cfg: BanditConfig, seed_key, scores, cost, budget, total_cells, checkpoints):
  """One whole offline run: a while loop of select + reveal, then the final recommendation.

  Args:
    cfg: static config. seed_key: the run's key.
    scores: [M, N] full matrix. cost: [M, N]. budget, total_cells: []. checkpoints: [C] budgets in cost
      units at which to record the recommendation (the last one made with ``spent <= checkpoint``).

  Returns:
    (final state, final BanditInfo, best at checkpoints [C], means at checkpoints [C, M]).
  """
  alg = algorithm_of(cfg)
  n_rows, n_cols = scores.shape
  k_init, k_aux, k_steps = _seed_keys(seed_key)
  state = alg.init(k_init, n_rows, n_cols, scores.dtype)
  aux = alg.aux(k_aux, n_rows, n_cols)
  rec_best = jnp.full(checkpoints.shape, -1, jnp.int32)
  rec_means = jnp.full((checkpoints.shape[0], n_rows), jnp.nan, scores.dtype)

  def record(info, spent, rec_best, rec_means):
    hit = spent <= checkpoints
    return jnp.where(hit, info.best, rec_best), jnp.where(hit[:, None], info.means[None], rec_means)

  def cond(carry):
    st = carry[0]
    return (st.last_revealed != 0) & (st.spent < budget)

  def body(carry):
    st, rb, rm = carry
    st, batch, info = alg.select(st, jax.random.fold_in(k_steps, st.step), aux, cost, budget, total_cells)
    rb, rm = record(info, st.spent, rb, rm)
    st = kernels.bandit_reveal(st, batch, scores[batch.rows, batch.cols], cost)
    return st, rb, rm

  state, rec_best, rec_means = jax.lax.while_loop(cond, body, (state, rec_best, rec_means))
  info = alg.recommend(state, _final_key(k_steps, state), aux, total_cells)
  rec_best, rec_means = record(info, state.spent, rec_best, rec_means)
  return state, info, rec_best, rec_means


offline = jax.jit(_offline, static_argnames=("cfg",))
offline_many = jax.jit(jax.vmap(_offline, in_axes=(None, 0, 0, 0, None, None, None)), static_argnames=("cfg",))
