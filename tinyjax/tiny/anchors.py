"""Anchor selection: pick a few items (and weights) whose weighted mean tracks the full benchmark score.

Strategies, on a train matrix ``Y`` of models x items:

- ``"random"``: items drawn uniformly without replacement; weight = the item's share of the chosen
  items' mass.
- ``"stratified"``: anchors shared out between item groups (e.g. MMLU subjects) in proportion to each
  group's mass, drawn at random inside each group; weight = group mass / anchors in the group.
- ``"difficulty"``: stratified random sampling on item difficulty. Items are sorted by their mean
  correctness over the train models and cut into K strata of equal mass; one anchor is drawn from each
  stratum (with probability proportional to item mass), and its weight is its stratum's mass. The
  weighted anchor mean is then an unbiased estimate of the full score for ANY model (a random design,
  like "random"), with the between-strata part of the sampling variance removed. With ``groups``, the
  anchors are first shared out between groups as in "stratified", then stratified by difficulty inside
  each group.
- ``"correctness"``: weighted k-means on the items' correctness vectors across the train models
  (tinyBenchmarks' "anchor points").
- ``"irt"``: weighted k-means on the fitted IRT item parameters (slopes, intercept and, for 3PL, the
  lower asymptote).
- ``"stepwise"``: supervised selection (as in metabench): forward stepwise ridge regression of the train
  models' full scores on the items (``tinyjax.kernels.stepwise_select``); each step adds the item most
  correlated with the current leave-one-out residual. The anchors are the items that best predict the full
  score of models like the train models, not a random sample, so the weighted anchor mean is biased; the
  ridge and p-IRT estimates use them well. Weight = the item's share of the chosen items' mass.

For the clustering strategies, each anchor is the cluster member nearest its centroid, and its weight is
the cluster's share of the item weights. Item weights default to uniform; ``group_balance_weights``
makes every group count equally, so that the full score is the mean over groups (as an MMLU score is the
mean over its subjects). Weights always sum to 1, so ``Y[:, anchors] @ weights`` estimates
``Y @ item_weights``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax.tiny import estimators as _est
from tinyjax import kernels
from tinyjax._checks import check_choice, check_seed
from tinyjax.choices import ANCHOR_STRATEGIES
from tinyjax._dtypes import default_float_dtype
from tinyjax.errors import ConfigError, InputError, ItemError, ResponseError

STRATEGIES = ANCHOR_STRATEGIES   # the jax-free table the command line reads (tinyjax.choices)
_stepwise_jit = jax.jit(kernels.stepwise_select, static_argnames="n_select")


@dataclasses.dataclass(frozen=True, eq=False)
class Anchors:
  """A chosen anchor set."""

  indices: np.ndarray   # [K] int64 item indices (columns of the train matrix)
  weights: np.ndarray   # [K] float64, non-negative, sums to 1
  labels: np.ndarray    # [I] int64 cluster / stratum of every item (-1 where the strategy has none)
  strategy: str


def group_balance_weights(groups) -> np.ndarray:
  """Item mass that gives every group the same total weight.

  Args:
    groups: [I] group label of each item (any hashable values).

  Returns:
    [I] float64 mass summing to 1, ``1 / (n_groups * n_items_in_group)`` for each item, so that
    ``Y @ mass`` is the mean over groups of the within-group accuracy.
  """
  groups = np.asarray(groups)
  if groups.ndim != 1 or groups.size == 0:
    raise ItemError(f"groups must be a non-empty 1-D array of labels, got shape {groups.shape}")
  _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
  return 1.0 / (len(counts) * counts[inverse].astype(np.float64))


@functools.partial(jax.jit, static_argnames=("n_clusters", "max_iter"))
def _kmeans_restarts(keys, points, weights, tol, *, n_clusters, max_iter):
  run = lambda k: kernels.kmeans(k, points, weights, n_clusters, max_iter, tol)
  return jax.vmap(run)(keys)


def kmeans(points, n_clusters: int, *, seed: int = 0, weights=None, n_restarts: int = 8,
           max_iter: int = 100, tol: float = 1e-6):
  """Weighted k-means with k-means++ seeding; restarts run in parallel (vmap) and the best is kept.

  Args:
    points: [N, D] array.
    n_clusters: 1 <= C <= N.
    seed: seed of the restarts' keys.
    weights: [N] non-negative point weights (default ones).
    n_restarts: number of independent seedings.
    max_iter: the most Lloyd steps per restart.
    target: [N] the score ``"stepwise"`` regresses on (default: the weighted row mean of ``Y``); e.g. each model's
      score on a whole benchmark of which ``Y`` holds a few items (:class:`tinyjax.Suite`).
    tol: relative convergence tolerance on the squared centre shift.

  Returns:
    ``(centers [C, D] np.ndarray, labels [N] np.ndarray, inertia float)`` of the restart with the
    lowest inertia.
  """
  seed = check_seed(seed)
  x = np.asarray(points, dtype=np.float64)
  if x.ndim != 2 or x.shape[0] == 0:
    raise InputError(f"points must be a non-empty [N, D] array, got shape {x.shape}")
  if not np.all(np.isfinite(x)):
    raise InputError("points contain NaN or inf")
  n = x.shape[0]
  if not 1 <= int(n_clusters) <= n:
    raise ConfigError(f"n_clusters must be in [1, {n}], got {n_clusters}")
  if n_restarts < 1 or max_iter < 1:
    raise ConfigError("n_restarts and max_iter must be >= 1")
  w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
  if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
    raise InputError(f"weights must be [N]={n} finite, non-negative, not all zero")
  dtype = default_float_dtype()
  keys = jax.random.split(jax.random.key(seed), n_restarts)
  state, _ = _kmeans_restarts(keys, jnp.asarray(x, dtype), jnp.asarray(w / w.max(), dtype),
                              jnp.asarray(tol, dtype), n_clusters=int(n_clusters), max_iter=int(max_iter))
  best = int(np.argmin(np.asarray(state.inertia)))
  return (np.asarray(state.centers[best], np.float64), np.asarray(state.labels[best], np.int64),
          float(state.inertia[best]))


def _anchors_from_clusters(points: np.ndarray, centers: np.ndarray, labels: np.ndarray, mass: np.ndarray,
                           n_anchors: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Anchor = member nearest its centre; weight = cluster mass. Empty clusters (duplicate points) are
  made up by extra members of the heaviest clusters, which then share their cluster's mass equally."""
  chosen: list[int] = []
  owner: list[int] = []
  for c in range(centers.shape[0]):
    members = np.flatnonzero(labels == c)
    if members.size == 0:
      continue
    d2 = np.sum((points[members] - centers[c]) ** 2, axis=1)
    chosen.append(int(members[np.argmin(d2)]))
    owner.append(c)
  cluster_mass = np.bincount(labels, weights=mass, minlength=centers.shape[0])
  while len(chosen) < n_anchors:
    # Take the next member of the cluster with the most mass per anchor that still has unused members.
    counts = np.bincount(np.asarray(owner), minlength=centers.shape[0])
    free = np.array([np.setdiff1d(np.flatnonzero(labels == c), chosen).size for c in range(centers.shape[0])])
    score = np.where(free > 0, cluster_mass / np.maximum(counts, 1), -np.inf)
    c = int(np.argmax(score))
    pool = np.setdiff1d(np.flatnonzero(labels == c), chosen)
    chosen.append(int(rng.choice(pool)))
    owner.append(c)
  owner_arr = np.asarray(owner)
  counts = np.bincount(owner_arr, minlength=centers.shape[0])
  weights = cluster_mass[owner_arr] / counts[owner_arr]
  return np.asarray(chosen, np.int64), weights / weights.sum()


def _check_observed(Y: np.ndarray) -> None:
  if np.any(np.all(np.isnan(Y), axis=0)):
    raise ResponseError("some items have no observed response; drop them before selecting anchors")


def _fill_nan_by_item_mean(Y: np.ndarray) -> np.ndarray:
  col = np.nanmean(Y, axis=0)
  return np.where(np.isnan(Y), col[None, :], Y)


def select_anchors(Y, n_anchors: int, strategy: str = "correctness", *, seed: int = 0, item_weights=None,
                   groups=None, irt_model=None, n_restarts: int = 8, max_iter: int = 100, target=None) -> Anchors:
  """Chooses ``n_anchors`` items of a train matrix and their weights.

  Args:
    Y: [N, I] train responses (models x items), values in [0, 1], NaN = missing. Used by
      ``"correctness"`` (the clustering features), ``"difficulty"`` (item mean correctness) and
      ``"stepwise"`` (answers and full scores); for the other strategies only its width is used.
    n_anchors: 1 <= K <= I.
    strategy: one of :data:`STRATEGIES` (described in this module's docstring).
    seed: seed of all randomness (draws, k-means restarts).
    item_weights: [I] item weights in the full score (defaults to uniform); see :func:`group_balance_weights`.
    groups: [I] item group labels; required by "stratified".
    irt_model: fitted IRT model (with ``a`` [I, d], ``b`` [I], ``c`` [I]); required by "irt".
    n_restarts: k-means restarts (run in parallel).
    max_iter: the most Lloyd steps per restart.

  Returns:
    :class:`Anchors` with indices [K], weights [K] summing to 1, and labels [I].
  """
  from tinyjax.data import check_matrix

  Y = check_matrix(Y, name="Y")
  n_items = Y.shape[1]
  check_choice(strategy, STRATEGIES, "strategy")
  seed = check_seed(seed)
  if not isinstance(n_anchors, (int, np.integer)) or not 1 <= n_anchors <= n_items:
    raise ConfigError(f"n_anchors must be an int in [1, {n_items}], got {n_anchors!r}")
  n_anchors = int(n_anchors)
  mass = _est.check_item_weights(item_weights, n_items)
  rng = np.random.default_rng(seed)

  if strategy == "random":
    idx = np.sort(rng.choice(n_items, size=n_anchors, replace=False))
    w = mass[idx]
    if w.sum() <= 0:
      w = np.ones(n_anchors)
    return Anchors(idx.astype(np.int64), w / w.sum(), np.full(n_items, -1, np.int64), strategy)

  if strategy == "difficulty":
    _check_observed(Y)
    easiness = np.nanmean(Y, axis=0)
    if groups is None:
      idx, w, labels = _difficulty_strata(easiness, mass, np.arange(n_items), n_anchors, rng)
    else:
      glab, gmass, alloc = _group_allocation(groups, mass, n_anchors)
      parts, labels, offset = [], np.full(n_items, -1, np.int64), 0
      for g in np.flatnonzero(alloc):
        cols = np.flatnonzero(glab == g)
        gi, gw, gl = _difficulty_strata(easiness[cols], mass[cols], cols, int(alloc[g]), rng)
        parts.append((gi, gw))
        labels[cols] = gl + offset
        offset += int(alloc[g])
      idx = np.concatenate([p[0] for p in parts])
      w = np.concatenate([p[1] for p in parts])
    order = np.argsort(idx)
    return Anchors(idx[order].astype(np.int64), w[order] / w.sum(), labels, strategy)

  if strategy == "stepwise":
    if Y.shape[0] < 3:
      raise ResponseError(f'strategy="stepwise" needs at least 3 train models, got {Y.shape[0]}')
    _check_observed(Y)
    score = _est.true_scores(Y, mass, np.float64)   # [N] full scores
    if target is not None:
      score = np.asarray(target, np.float64)
      if score.shape != (Y.shape[0],) or not np.all(np.isfinite(score)):
        raise ResponseError(f"target must be [{Y.shape[0]}] finite scores, one per row of Y, got shape {score.shape}")
    dt = default_float_dtype()
    info = _stepwise_jit(jnp.asarray(_fill_nan_by_item_mean(Y), dt), jnp.asarray(score, dt), n_anchors,
                         jnp.asarray(_est.DEFAULT_RIDGE_ALPHAS, dt))
    idx = np.sort(np.asarray(info.indices, np.int64))
    w = mass[idx]
    if w.sum() <= 0:
      w = np.ones(n_anchors)
    return Anchors(idx, w / w.sum(), np.full(n_items, -1, np.int64), strategy)

  if strategy == "stratified":
    if groups is None:
      raise ItemError('strategy="stratified" needs groups (one label per item)')
    labels, gmass, alloc = _group_allocation(groups, mass, n_anchors)
    idx, w = [], []
    for g in range(len(gmass)):
      if alloc[g] == 0:
        continue
      pick = rng.choice(np.flatnonzero(labels == g), size=alloc[g], replace=False)
      pm = mass[pick]
      pm = pm / pm.sum() if pm.sum() > 0 else np.full(alloc[g], 1.0 / alloc[g])
      idx.extend(pick.tolist())
      w.extend((gmass[g] * pm).tolist())
    idx, w = np.asarray(idx, np.int64), np.asarray(w)
    order = np.argsort(idx)
    return Anchors(idx[order], w[order] / w.sum(), labels.astype(np.int64), strategy)

  if strategy == "correctness":
    _check_observed(Y)
    feats = _fill_nan_by_item_mean(Y).T                           # [I, N]
  else:
    if irt_model is None:
      raise ConfigError('strategy="irt" needs a fitted irt_model')
    a = np.asarray(irt_model.a, np.float64).reshape(n_items, -1) if np.asarray(irt_model.a).shape[0] == n_items \
        else None
    if a is None:
      raise ConfigError(f"irt_model has {np.asarray(irt_model.a).shape[0]} items, Y has {n_items}")
    parts = [a, np.asarray(irt_model.b, np.float64).reshape(n_items, 1)]
    c = getattr(irt_model, "c", None)
    if c is not None and np.any(np.asarray(c) != 0):
      parts.append(np.asarray(c, np.float64).reshape(n_items, 1))
    feats = np.concatenate(parts, axis=1)
  centers, labels, _ = kmeans(feats, n_anchors, seed=seed, weights=np.maximum(mass, 1e-12),
                              n_restarts=n_restarts, max_iter=max_iter)
  idx, w = _anchors_from_clusters(feats, centers, labels, mass, n_anchors, rng)
  return Anchors(idx, w, labels, strategy)


def _difficulty_strata(easiness: np.ndarray, mass: np.ndarray, cols: np.ndarray, k: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """One draw per stratum of (near-)equal mass along the items sorted by easiness.

  Args:
    easiness: [n] mean train correctness of the items. mass: [n] their item mass. cols: [n] their
      indices in the full matrix. k: strata (= anchors), 1 <= k <= n. rng: numpy generator.

  Returns:
    (indices [k] into the full matrix, weights [k] = stratum masses, labels [n] stratum of each item).
  """
  n = easiness.shape[0]
  order = np.argsort(easiness, kind="stable")
  m = mass[order]
  cum = np.cumsum(m)
  tot = cum[-1]
  if tot <= 0:
    m = np.ones(n)
    cum, tot = np.cumsum(m), float(n)
  # Stratum boundaries in the sorted order: equal mass, each stratum non-empty.
  bounds = np.concatenate([[0], np.searchsorted(cum, np.arange(1, k) * tot / k, side="left") + 1, [n]])
  for h in range(1, k):
    bounds[h] = min(max(bounds[h], bounds[h - 1] + 1), n - (k - h))
  labels_sorted = np.repeat(np.arange(k), np.diff(bounds))
  idx, w = np.empty(k, np.int64), np.empty(k)
  for h in range(k):
    members = order[bounds[h]:bounds[h + 1]]
    mm = m[bounds[h]:bounds[h + 1]]
    pick = rng.choice(members.shape[0], p=mm / mm.sum()) if mm.sum() > 0 else rng.integers(members.shape[0])
    idx[h], w[h] = cols[members[pick]], mm.sum()
  labels = np.empty(n, np.int64)
  labels[order] = labels_sorted
  return idx, w, labels


def _group_allocation(groups, mass: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Validated group labels [I] (0..G-1), group masses [G] and the anchors allotted to each group [G]."""
  groups = np.asarray(groups)
  if groups.shape != mass.shape:
    raise ItemError(f"groups must have shape {mass.shape}, got {groups.shape}")
  names, labels = np.unique(groups, return_inverse=True)
  gmass = np.bincount(labels, weights=mass, minlength=len(names))
  return labels, gmass, _allocate(k, gmass, np.bincount(labels, minlength=len(names)))


def _allocate(k: int, gmass: np.ndarray, gsize: np.ndarray) -> np.ndarray:
  """Largest-remainder share of ``k`` anchors over groups by mass, capped by group size; at least one
  anchor per group while there are enough anchors."""
  n_groups = len(gmass)
  alloc = np.zeros(n_groups, np.int64)
  if k >= n_groups:
    alloc[:] = 1
  left = k - alloc.sum()
  while left > 0:
    share = gmass / gmass.sum() * k - alloc
    share = np.where(alloc < gsize, share, -np.inf)
    g = int(np.argmax(share))
    alloc[g] += 1
    left -= 1
  return alloc
