"""The seeded synthetic leaderboard behind ``tinyjax demo``.

A few hundred models answer a few thousand items from six benchmarks. Items load mainly on one of
several latent skills, with a shared general factor; discriminations are log-normal, difficulties
spread by benchmark, multiple-choice benchmarks have a guessing floor, and some entries are missing
(scattered cells, plus whole benchmarks a few models never ran).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyjax._checks import check_seed
from tinyjax.errors import ConfigError

# name, share of items, main skill, guessing floor, mean classical difficulty
_BENCHMARKS = (
    ("arc", 0.15, 0, 0.25, -0.6),
    ("hellaswag", 0.15, 1, 0.25, -1.0),
    ("mmlu", 0.30, 0, 0.25, 0.2),
    ("truthfulqa", 0.10, 2, 0.20, 0.4),
    ("winogrande", 0.10, 1, 0.50, -0.2),
    ("gsm8k", 0.20, 3, 0.0, 0.8),
)


@dataclasses.dataclass(frozen=True)
class SyntheticLeaderboard:
  """A simulated models x items leaderboard with its ground truth.

  Attributes:
    responses: [N, I] float64, 0/1 with NaN for missing entries.
    probs: [N, I] true probabilities of a correct answer.
    theta: [N, K] true skills.
    a: [I, K] true slopes. b: [I] true intercepts. c: [I] true guessing floors.
    item_groups: [I] benchmark name of each item.
    item_ids: [I] ids like "mmlu/0042". model_ids: [N] ids like "model-007".
  """

  responses: np.ndarray
  probs: np.ndarray
  theta: np.ndarray
  a: np.ndarray
  b: np.ndarray
  c: np.ndarray
  item_groups: np.ndarray
  item_ids: list
  model_ids: list

  @property
  def benchmarks(self) -> list[str]:
    return list(dict.fromkeys(self.item_groups.tolist()))

  def true_scores(self, group: str | None = None) -> np.ndarray:
    """[N] expected accuracy of each model over all items (or one benchmark's items)."""
    cols = np.ones(self.probs.shape[1], bool) if group is None else self.item_groups == group
    if not cols.any():
      raise ConfigError(f"no items in group {group!r}; groups are {self.benchmarks}")
    return self.probs[:, cols].mean(1)


def make_leaderboard(n_models: int = 300, n_items: int = 3000, n_skills: int = 4,
                     missing: float = 0.05, *, seed: int = 0) -> SyntheticLeaderboard:
  """Draws a synthetic leaderboard.

  Args:
    n_models: number of models (rows).
    n_items: number of items (columns), split over six benchmarks.
    n_skills: latent skills K (>= 4 uses all benchmark skills; 3 folds GSM8K's into skill 0).
    missing: fraction of scattered missing cells; in addition ~4% of models miss all of GSM8K.
    seed: the generator's seed; equal seeds give equal leaderboards.

  Returns:
    :class:`SyntheticLeaderboard`.
  """
  if n_models < 2 or n_items < len(_BENCHMARKS):
    raise ConfigError(f"need n_models >= 2 and n_items >= {len(_BENCHMARKS)}, got {n_models}, {n_items}")
  if n_skills < 1:
    raise ConfigError(f"n_skills must be >= 1, got {n_skills}")
  if not 0.0 <= missing < 0.9:
    raise ConfigError(f"missing must lie in [0, 0.9), got {missing}")
  rng = np.random.default_rng(check_seed(seed))
  shares = np.array([s for _, s, _, _, _ in _BENCHMARKS])
  counts = np.floor(shares * n_items).astype(int)
  counts[np.argmax(shares)] += n_items - counts.sum()
  groups = np.concatenate([[name] * k for (name, *_), k in zip(_BENCHMARKS, counts)])
  skill = np.concatenate([[sk % n_skills] * k for (_, _, sk, _, _), k in zip(_BENCHMARKS, counts)])
  c = np.concatenate([[g] * k for (_, _, _, g, _), k in zip(_BENCHMARKS, counts)]).astype(float)
  mu = np.concatenate([[m] * k for (*_, m), k in zip(_BENCHMARKS, counts)]).astype(float)

  # Skills: a general factor plus specific ones; model scale is heavy-tailed at the weak end.
  general = rng.normal(size=(n_models, 1))
  specific = rng.normal(size=(n_models, n_skills))
  theta = 0.75 * general + 0.66 * specific
  weak = rng.random(n_models) < 0.1
  theta[weak] -= rng.uniform(0.5, 2.0, size=(weak.sum(), 1))

  disc = rng.lognormal(mean=0.15, sigma=0.45, size=n_items)
  load = np.full((n_items, n_skills), 0.0)
  load[np.arange(n_items), skill] = 0.9
  load += 0.35 * rng.dirichlet(np.ones(n_skills), size=n_items)
  load /= np.linalg.norm(load, axis=1, keepdims=True)
  a = disc[:, None] * load
  beta = mu + rng.normal(scale=1.2, size=n_items)            # classical difficulty
  b = disc * beta                                             # intercept form
  z = theta @ a.T - b[None, :]
  probs = c[None, :] + (1 - c[None, :]) / (1 + np.exp(-z))
  y = (rng.random(probs.shape) < probs).astype(np.float64)
  hole = rng.random(y.shape) < missing
  no_gsm = rng.random(n_models) < 0.04
  hole[np.ix_(no_gsm, groups == "gsm8k")] = True
  y[hole] = np.nan
  # Keep every row and column observed.
  for j in np.flatnonzero(np.isnan(y).all(0)):
    r = rng.integers(n_models)
    y[r, j] = float(rng.random() < probs[r, j])
  for r in np.flatnonzero(np.isnan(y).all(1)):
    y[r, 0] = float(rng.random() < probs[r, 0])
  item_ids = [f"{g}/{k:04d}" for g, k in zip(groups, _within_group_index(groups))]
  model_ids = [f"model-{k:03d}" for k in range(n_models)]
  return SyntheticLeaderboard(responses=y, probs=probs, theta=theta, a=a, b=b, c=c, item_groups=groups,
                              item_ids=item_ids, model_ids=model_ids)


def _within_group_index(groups: np.ndarray) -> np.ndarray:
  out = np.zeros(groups.size, int)
  for g in np.unique(groups):
    idx = np.flatnonzero(groups == g)
    out[idx] = np.arange(idx.size)
  return out


def simulate_2pl(n_models: int, n_items: int, dim: int = 1, missing: float = 0.0, *, seed: int = 0):
  """A plain (multidimensional) 2PL draw for tests and benchmarks.

  Args:
    n_models, n_items, dim: sizes.
    missing: fraction of cells set to NaN.
    seed: generator seed.

  Returns:
    ``(Y [N, I] with NaN, theta [N, dim], a [I, dim], b [I])``.
  """
  rng = np.random.default_rng(check_seed(seed))
  theta = rng.normal(size=(n_models, dim))
  if dim == 1:
    a = rng.lognormal(0.0, 0.4, size=(n_items, 1))
  else:
    a = np.abs(rng.normal(0.0, 0.8, size=(n_items, dim)))
  b = rng.normal(0.0, 1.2, size=n_items)
  p = 1 / (1 + np.exp(-(theta @ a.T - b)))
  y = (rng.random(p.shape) < p).astype(np.float64)
  if missing > 0:
    y[rng.random(y.shape) < missing] = np.nan
  return y, theta, a, b
