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
sync = jax.jit(lambda state, aux: kernels.elimination_sync(state, aux.order))   # an elimination state, loaded


def _final_key(k_steps, state):
  return jax.random.fold_in(jax.random.fold_in(k_steps, state.step), 1)


@functools.partial(jax.jit, static_argnames=("cfg",))
def recommend(cfg, state, seed_key, aux, total_cells):
  """The recommendation now (the state is not changed)."""
  _, _, k_steps = _seed_keys(seed_key)
  return algorithm_of(cfg).recommend(state, _final_key(k_steps, state), aux, total_cells)


_CELL_FIELDS = ("values", "observed")   # [M, N] fields that only bandit_reveal writes


def _start(cfg: BanditConfig, seed_key, scores, checkpoints):
  """A new run's (state, aux) and its empty checkpoint records: best [C] (-1) and means [C, M] (NaN)."""
  alg = algorithm_of(cfg)
  n_rows, n_cols = scores.shape
  k_init, k_aux, _ = _seed_keys(seed_key)
  state = alg.init(k_init, n_rows, n_cols, scores.dtype)
  aux = alg.aux(k_aux, n_rows, n_cols)
  return state, aux, jnp.full(checkpoints.shape, -1, jnp.int32), jnp.full((checkpoints.shape[0], n_rows), jnp.nan,
                                                                          scores.dtype)


def _record(info, spent, checkpoints, rec_best, rec_means):
  """The recommendation made with ``spent <= checkpoint`` replaces the one recorded there before."""
  hit = spent <= checkpoints
  return jnp.where(hit, info.best, rec_best), jnp.where(hit[:, None], info.means[None], rec_means)


def _alive(state, budget):
  """Whether a run takes another step: budget left and something revealed by the last step."""
  return (state.last_revealed != 0) & (state.spent < budget)


def _step(cfg: BanditConfig, seed_key, aux, scores, cost, budget, total_cells, checkpoints, carry, alive=None):
  """One select + reveal of a run. With ``alive`` ([] bool, several runs at once), a run that is over keeps its
  carry: its batch is emptied, so its [M, N] cells are not touched, and its small fields are kept by a select.
  (A vmapped ``while_loop`` would select between the old and the new carry whole, [M, N] included, every step:
  O(M N) a step however few cells it reveals.)"""
  alg = algorithm_of(cfg)
  st, rec_best, rec_means = carry
  _, _, k_steps = _seed_keys(seed_key)
  new, batch, info = alg.select(st, jax.random.fold_in(k_steps, st.step), aux, cost, budget, total_cells)
  new_best, new_means = _record(info, new.spent, checkpoints, rec_best, rec_means)
  if alive is not None:
    batch = batch._replace(valid=batch.valid & alive)
  new = kernels.bandit_reveal(new, batch, scores[batch.rows, batch.cols], cost)
  if alive is None:
    return new, new_best, new_means
  keep = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(alive, x, y), a, b)  # noqa: E731
  new = new._replace(**{f: keep(getattr(new, f), getattr(st, f)) for f in new._fields if f not in _CELL_FIELDS})
  return new, keep(new_best, rec_best), keep(new_means, rec_means)


def _finish(cfg: BanditConfig, seed_key, aux, total_cells, checkpoints, carry):
  """The final recommendation, recorded at the checkpoints it reaches."""
  st, rec_best, rec_means = carry
  _, _, k_steps = _seed_keys(seed_key)
  info = algorithm_of(cfg).recommend(st, _final_key(k_steps, st), aux, total_cells)
  rec_best, rec_means = _record(info, st.spent, checkpoints, rec_best, rec_means)
  return st, info, rec_best, rec_means


def _offline(cfg: BanditConfig, seed_key, scores, cost, budget, total_cells, checkpoints):
  """One whole offline run: a while loop of select + reveal, then the final recommendation.

  Args:
    cfg: static config. seed_key: the run's key.
    scores: [M, N] full matrix. cost: [M, N]. budget, total_cells: []. checkpoints: [C] budgets in cost
      units at which to record the recommendation (the last one made with ``spent <= checkpoint``).

  Returns:
    (final state, final BanditInfo, best at checkpoints [C], means at checkpoints [C, M]).
  """
  state, aux, rec_best, rec_means = _start(cfg, seed_key, scores, checkpoints)
  carry = jax.lax.while_loop(
      lambda c: _alive(c[0], budget),
      lambda c: _step(cfg, seed_key, aux, scores, cost, budget, total_cells, checkpoints, c),
      (state, rec_best, rec_means))
  return _finish(cfg, seed_key, aux, total_cells, checkpoints, carry)


def _offline_many(cfg: BanditConfig, seed_keys, scores, cost, budget, total_cells, checkpoints):
  """:func:`_offline` for S runs at once (``seed_keys`` [S], ``scores`` [S, M, N], ``cost`` [S, M, N] or one
  [M, N] for all), each run's result exactly its own: one ``while_loop`` over the vmapped step while any run is
  alive (see :func:`_step`)."""
  state, aux, rec_best, rec_means = jax.vmap(_start, in_axes=(None, 0, 0, None))(cfg, seed_keys, scores, checkpoints)
  alive_all = jax.vmap(_alive, in_axes=(0, None))
  step = jax.vmap(lambda key, aux, sc, co, carry, alive: _step(cfg, key, aux, sc, co, budget, total_cells,
                                                               checkpoints, carry, alive),
                  in_axes=(0, 0, 0, 0 if cost.ndim == 3 else None, 0, 0))
  carry = jax.lax.while_loop(
      lambda c: jnp.any(alive_all(c[0], budget)),
      lambda c: step(seed_keys, aux, scores, cost, c, alive_all(c[0], budget)),
      (state, rec_best, rec_means))
  return jax.vmap(lambda key, aux, carry: _finish(cfg, key, aux, total_cells, checkpoints, carry))(seed_keys, aux,
                                                                                                  carry)


offline = jax.jit(_offline, static_argnames=("cfg",))
offline_many = jax.jit(_offline_many, static_argnames=("cfg",))
