"""Offline bandit runs on a full score matrix: one run, many seeds at once, and their metrics."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax._checks import check_count, check_seed
from tinyjax._progress import check_progress, progress_bar
from tinyjax._dtypes import resolve_dtype
from tinyjax.bandit import _steps
from tinyjax.bandit._config import (DEFAULT_ALGORITHM, BanditConfig, budget_amounts, check_budget,
                                    check_cost, check_reveals, check_shape, resolve_config)
from tinyjax.data import check_matrix
from tinyjax.errors import ConfigError


def check_scores(scores) -> np.ndarray:
  """A full (methods, examples) matrix of scores in [0, 1]: at least 2 methods, no NaN. Returns float64."""
  return check_matrix(scores, name="scores", allow_nan=False, min_rows=2)


@dataclasses.dataclass(frozen=True)
class BanditResult:
  """Outcome of one bandit run.

  Attributes:
    best: index of the chosen method.
    means: [n_methods] estimated mean score of every method (NaN for a method with no evaluated cell,
      except with ucbe-lrf, which imputes the unevaluated cells).
    n_evaluated: number of cells revealed (at most ``budget * scores.size`` with unit costs).
    spent: cost spent (equals ``n_evaluated`` with unit costs).
    n_steps: number of batches.
    observed: [n_methods, n_examples] bool, the revealed cells.
    algorithm: the algorithm's name. budget: the budget fraction.
  """
  best: int
  means: np.ndarray
  n_evaluated: int
  spent: float
  n_steps: int
  observed: np.ndarray
  algorithm: str
  budget: float


def run(scores, budget: float = 0.1, algorithm: str | BanditConfig = DEFAULT_ALGORITHM, *, seed: int = 0,
        cost=None, dtype=None, **params) -> BanditResult:
  """Finds the best method of a full score matrix, revealing cells only as the algorithm asks.

  Args:
    scores: [n_methods, n_examples] full matrix of scores in [0, 1], 0/1 or continuous (no NaN).
    budget: fraction of the cells (of the total cost, when ``cost`` is given) that may be revealed, in (0, 1].
    algorithm: a name of ``ALGORITHMS`` (default sequential halving) or a config object (``HalvingConfig(...)``).
    seed: random seed (ties, example and cell orders, dropout masks, initial factors).
    cost: optional [n_methods, n_examples] positive cost of each cell.
    dtype: None (JAX's default float) or "float64" (needs ``jax_enable_x64``).
    **params: the algorithm's settings (see :func:`make_config`).

  Returns:
    BanditResult.

  Example:
    >>> res = tj.bandit.run(scores, budget=0.1, seed=0)
    >>> res.best, res.means, res.n_evaluated
  """
  cfg = resolve_config(algorithm, params)
  seed = check_seed(seed)
  arr = check_scores(scores)
  budget = check_budget(budget)
  c = check_cost(cost, arr.shape)
  check_shape(cfg, *arr.shape)
  dt = resolve_dtype(dtype)
  spend, cells = budget_amounts(budget, c)
  check_reveals(budget, cells, arr.shape)
  state, info, _, _ = _steps.offline(cfg, jax.random.key(seed), jnp.asarray(arr, dt), jnp.asarray(c, dt),
                                     jnp.asarray(spend, dt), jnp.asarray(cells, dt), jnp.asarray([spend], dt))
  return BanditResult(best=int(info.best), means=np.asarray(info.means), n_evaluated=int(state.n_evaluated),
                      spent=float(state.spent), n_steps=int(state.step), observed=np.asarray(state.observed),
                      algorithm=cfg.algorithm, budget=budget)


@dataclasses.dataclass(frozen=True)
class SimulationResult:
  """Offline simulation over seeds and budgets.

  Attributes:
    algorithm: name. budgets: [K] fractions. seeds: [S] seed values.
    best: [S, K] chosen method (in the original row order). n_evaluated: [S, K] revealed cells when the
      recommendation was made.
    n_steps: [S, K] batches taken when the recommendation was made.
    precision, ndcg, regret: [S, K] per seed (see :func:`metrics`).
  """
  algorithm: str
  budgets: np.ndarray
  seeds: np.ndarray
  best: np.ndarray
  n_evaluated: np.ndarray
  n_steps: np.ndarray
  precision: np.ndarray
  ndcg: np.ndarray
  regret: np.ndarray

  def summary(self) -> dict[str, np.ndarray]:
    """Mean over seeds of each metric, [K] each."""
    return {"precision": self.precision.mean(0), "ndcg": self.ndcg.mean(0), "regret": self.regret.mean(0)}


def simulate(scores, budgets: Sequence[float] = (0.05, 0.1, 0.2), algorithm: str | BanditConfig = DEFAULT_ALGORITHM,
             *, seeds: int | Sequence[int] = 20, shuffle_rows: bool = True, k: int = 10, cost=None, dtype=None,
             max_parallel: int = 32, progress: bool | None = None, **params) -> SimulationResult:
  """Runs many seeds at once on a full matrix and scores the recommendation at each budget.

  Every (seed, budget) is its own run, exactly what :func:`run` returns for that budget and seed, so a result
  does not depend on which other budgets or seeds run in the same call, nor on their order or on
  ``max_parallel``. Timing belongs to ``benchmarks/bench_bandit.py``.

  Args:
    scores: [n_methods, n_examples] full matrix of scores in [0, 1].
    budgets: fractions in (0, 1].
    algorithm: see :func:`run`.
    seeds: a count (seeds 0..count-1) or explicit seed values. Seed s uses ``jax.random.key(s)`` and, with
      ``shuffle_rows``, the row permutation ``np.random.default_rng(s).permutation(n_methods)``.
    shuffle_rows: shuffle the rows per seed (for algorithms that break ties by row order; harmless here).
    k: NDCG cut-off.
    cost: optional per-cell cost (shuffled with the rows).
    dtype: None (JAX's default float) or "float64".
    max_parallel: seeds vmapped together (bounds memory).
    progress: a bar over the budgets (several budgets only): None shows it when the work outlasts 2 s, True at
      once, False never.
    **params: the algorithm's settings (see :func:`make_config`).

  Returns:
    SimulationResult (metrics per seed and budget, in the original row order).
  """
  cfg = resolve_config(algorithm, params)
  arr = check_scores(scores)
  c = check_cost(cost, arr.shape)
  check_shape(cfg, *arr.shape)
  budgets = np.asarray([check_budget(b) for b in np.atleast_1d(budgets)], float)
  if np.isscalar(seeds):
    seed_values = np.arange(check_count(seeds, "seeds"))
  else:
    seed_values = np.asarray([check_seed(s) for s in seeds], int)
    if seed_values.size == 0:
      raise ConfigError("seeds must name at least one seed")
  max_parallel = check_count(max_parallel, "max_parallel")
  dt = resolve_dtype(dtype)
  n_rows = arr.shape[0]
  perms = np.stack([np.random.default_rng(int(s)).permutation(n_rows) if shuffle_rows else np.arange(n_rows)
                    for s in seed_values])
  amounts = [budget_amounts(float(b), c) for b in budgets]
  for b, (_, cells) in zip(budgets, amounts):
    check_reveals(b, cells, arr.shape)
  best = np.zeros((seed_values.size, budgets.size), int)
  n_eval = np.zeros_like(best)
  n_steps = np.zeros_like(best)
  means = np.zeros((seed_values.size, budgets.size, n_rows))
  arr_dt = arr.astype(dt)   # the seeds' row orders are gathered in the run's dtype (half the memory of float64)
  unit_cost = bool(np.all(c == c.flat[0]))   # equal costs: one [M, N] array serves every row order
  cost_dt = jnp.asarray(c, dt) if unit_cost else None
  with progress_bar(total=len(amounts), desc="bandit budgets", unit="budget",
                    progress=check_progress(progress) if len(amounts) > 1 else False) as bar:
    for col, (spend, cells) in enumerate(amounts):
      checkpoints = jnp.asarray([spend], dt)   # one run per budget: the recommendation at its end
      for lo in range(0, seed_values.size, max_parallel):
        idx = np.arange(lo, min(lo + max_parallel, seed_values.size))
        keys = jax.vmap(jax.random.key)(jnp.asarray(seed_values[idx], jnp.uint32))
        s_scores = jnp.asarray(arr_dt[perms[idx]])
        s_cost = cost_dt if unit_cost else jnp.asarray(c.astype(dt)[perms[idx]])   # [M, N] shared, or per seed
        state, _, rec_best, rec_means = _steps.offline_many(cfg, keys, s_scores, s_cost, jnp.asarray(spend, dt),
                                                            jnp.asarray(cells, dt), checkpoints)
        rec_best, rec_means = np.asarray(rec_best), np.asarray(rec_means)
        for j, i in enumerate(idx):
          best[i, col] = perms[i][rec_best[j, 0]]
          means[i, col] = rec_means[j, 0][np.argsort(perms[i])]
          n_eval[i, col] = int(np.asarray(state.n_evaluated)[j])
          n_steps[i, col] = int(np.asarray(state.step)[j])
      bar.update(1)
  m = metrics(arr.mean(1), best, means, k=k)
  return SimulationResult(algorithm=cfg.algorithm, budgets=budgets, seeds=seed_values, best=best,
                          n_evaluated=n_eval, n_steps=n_steps, precision=m["precision"], ndcg=m["ndcg"],
                          regret=m["regret"])


def metrics(true_means: np.ndarray, best: np.ndarray, est_means: np.ndarray, k: int = 10,
            rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
  """Top-1 precision, NDCG@k and regret of recommendations.

  Args:
    true_means: [..., M] true mean score of every method.
    best: [...] chosen method.
    est_means: [..., M] estimated means (NaN ranks last).
    k: NDCG cut-off (clipped to M). Relevance of a method is ``max(0, k - true_rank)`` (true rank 0 = best),
      so only the true top-k count, the best the most.
    rng: breaks ties in the estimated ranking: one random order of the M methods, the same for every
      recommendation, so a recommendation's metrics do not depend on what else is scored in the same call
      (default: a fixed generator).

  Returns:
    dict with "precision" [...] (1.0 where the chosen method has the top true mean), "ndcg" [...],
    "regret" [...] (points: 100 x (top true mean - true mean of the chosen method)).
  """
  true_means = np.asarray(true_means, float)
  est = np.asarray(est_means, float)
  best = np.asarray(best)
  true_b = np.broadcast_to(true_means, est.shape)
  chosen = np.take_along_axis(true_b, best[..., None].astype(int), -1)[..., 0]
  top = true_b.max(-1)
  regret = 100.0 * (top - chosen)
  precision = (chosen >= top).astype(float)
  k = min(k, est.shape[-1])
  rng = np.random.default_rng(0) if rng is None else rng
  true_rank = np.argsort(np.argsort(-true_b, axis=-1, kind="stable"), axis=-1, kind="stable")
  rel = np.maximum(0, k - true_rank).astype(float)
  jitter = np.broadcast_to(rng.random(est.shape[-1]), est.shape)
  order = np.lexsort((jitter, -np.nan_to_num(est, nan=-np.inf)), axis=-1)[..., :k]
  disc = 1.0 / np.log2(np.arange(k) + 2.0)
  dcg = np.sum(np.take_along_axis(rel, order, -1) * disc, -1)
  idcg = np.sum(np.arange(k, 0, -1) * disc)
  return {"precision": precision, "ndcg": dcg / idcg, "regret": regret}
