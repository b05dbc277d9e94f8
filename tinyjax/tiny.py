"""Tiny benchmarks: a fitted IRT model + anchor items + estimator settings, saved as one artifact.

``TinyBenchmark.fit`` on a train matrix (models x items):

1. fits an IRT model (dimension chosen on held-out entries by default);
2. picks anchors with the chosen strategy (``tinyjax.anchors``);
3. runs the same pipeline on validation folds of the train models (fit on the rest, pick anchors,
   estimate the held-out models) to measure the naive and p-IRT errors. Their mean squared errors set
   the gp-IRT weight (``tinyjax.estimators.gpirt_lambda``), and the gp-IRT residuals, divided by each
   model's Bernoulli spread, give a split-conformal interval half-width.
4. adds one "tail" fold: the strongest and the weakest 20% of the train models are held out and the
   rest fit, which is the situation of a new model stronger (or weaker) than every train model. The
   iid folds calibrate "interior" models and the tail fold "exterior" ones. For each regime, the
   validation residuals set the convex weights of the recommended estimate ``est.blend`` and the
   conformal multipliers of every estimator's interval. Interior models blend p-IRT, the difference
   estimator, the ridge regression and the naive mean; exterior models get the regression (GREG) estimator,
   a design-based estimate whose slope on the IRT predictions is fitted to the model's own anchors, so that
   nothing calibrated on the train models has to extrapolate (the tail fold still calibrates its interval). A new model is
   exterior when its difference estimate lies outside the range (lowest to highest) of the train models' scores,
   and its interval widens with its distance beyond that range (in SDs of the train scores); its multiplier is
   the larger of the whole tail fold's and that of the tail models on its side (above or below the range).
   An interior model whose estimate lies near the range edge (within the tail fold's 90% |diff error|) may
   be beyond the range all the same; it gets the largest of the interior, exterior and "beyond the range
   but estimated inside it" (tail-fold models whose estimate fell inside their fold's range) multipliers.
   Tail-fold models are blended and classified exactly as a new model would be.

``Leaderboard`` does the same for several benchmarks that share one ability: one IRT model on all
items, one anchor set per benchmark, one joint ability from all anchors.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import numpy as np

from tinyjax import anchors as _anchors
from tinyjax import estimators as _est

DEFAULT_STRATEGY = "random"   # measured best over both splits (docs/accuracy.md)
DEFAULT_DIMS = (1, 2, 3)
DEFAULT_METHOD = "mle"        # ability of new models: MLE (MAP fallback), measured best in docs/accuracy.md
DEFAULT_LAM_MODE = "global"   # gp-IRT weight: "global" (one per benchmark) or "model" (per model)
RANGE_QUANTILES = (0.0, 1.0)   # a model outside this range (quantiles) of the train scores is "exterior"
TAIL_FRACTION = 0.2              # the tail fold holds out this share of the strongest and of the weakest
TAIL_MIN = 5                     # ... and at least this many models on each side
MIN_POOL = 10                    # fewer tail-fold models: calibrate both regimes on all validation models
BLEND_PARTS = ("pirt", "diff", "ridge", "naive", "greg")   # what the recommended estimate blends
INTERIOR_PARTS = ("pirt", "diff", "ridge", "naive")
# Beyond the train range: the regression estimator, design-based with its slope fitted to the model's own anchors
# (files saved before it existed blend diff and naive there, with weights from the tail fold).
EXTERIOR_PARTS = ("greg",)
RECOMMENDED = "blend"         # the estimate behind ``Estimates.score`` (measured best, docs/accuracy.md)


@dataclasses.dataclass(frozen=True)
class _Bench:
  name: str
  cols: np.ndarray         # [I_b] global item indices of this benchmark
  mass: np.ndarray         # [I_b] item mass within the benchmark (sums to 1)
  groups: np.ndarray | None  # [I_b] sub-group labels (for "stratified"), or None
  n_anchors: int


@dataclasses.dataclass
class _Calib:
  lam: float               # global gp-IRT weight on naive
  q: float                 # conformal multiplier of the global-weight interval
  naive_mse: float
  pirt_mse: float
  gpirt_mae: float
  n_val: int
  design: float = 1.0      # naive MSE / mean model-wise Bernoulli variance of the naive estimate
  q_model: float = float("inf")   # conformal multiplier of the per-model-weight interval
  gpirt_model_mae: float = float("nan")
  qs: dict = dataclasses.field(default_factory=dict)     # estimator -> conformal multiplier
  maes: dict = dataclasses.field(default_factory=dict)   # estimator -> validation MAE
  # Regime-aware calibration (interior, exterior). Defaults reproduce files saved before it existed:
  # the blend is then the difference estimator and both regimes share the iid multipliers.
  blend_w: tuple = ((0.0, 1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0, 0.0))  # weights on BLEND_PARTS, (interior, exterior)
  qs_ext: dict = dataclasses.field(default_factory=dict)  # estimator -> conformal multiplier, exterior
  maes_ext: dict = dataclasses.field(default_factory=dict)  # estimator -> validation MAE, exterior
  n_ext: int = 0              # validation models in the exterior pool
  # Interior models near the range edge (defaults reproduce files saved before it existed: no edge zone).
  qs_edge: dict = dataclasses.field(default_factory=dict)  # estimator -> conformal multiplier, edge zone
  q_zone: float = 0.0         # edge zone: difference estimate within q_zone spreads of the train range edge
  n_edge: int = 0             # tail-fold models whose estimate fell inside their fold's train range
  # estimator -> (below, above): exterior multiplier of models below / above the train range (older files: qs_ext)
  qs_ext_side: dict = dataclasses.field(default_factory=dict)


def _responses(Y, model_ids=None, item_ids=None):
  from tinyjax import data
  r = data.load_responses(Y, model_ids=model_ids, item_ids=item_ids)
  return np.asarray(r.values, np.float64), list(r.model_ids), list(r.item_ids)


def _true_scores(Y: np.ndarray, mass: np.ndarray) -> np.ndarray:
  """[N] mass-weighted mean over each row's observed entries."""
  obs = ~np.isnan(Y)
  w = np.where(obs, mass[None, :], 0.0)
  return np.sum(np.where(obs, Y, 0.0) * w, axis=1) / np.maximum(w.sum(axis=1), 1e-300)


def _folds(n: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """Validation folds of equal size (so every fold fit has the same shape and compiles once)."""
  rng = np.random.default_rng(seed + 7919)
  perm = rng.permutation(n)
  if n_folds == 1:
    k = max(2, int(round(0.2 * n)))
    return [(np.sort(perm[k:]), np.sort(perm[:k]))]
  k = n // n_folds
  out = []
  for f in range(n_folds):
    val = perm[f * k:(f + 1) * k]
    out.append((np.sort(np.setdiff1d(perm, val)), np.sort(val)))
  return out


def _tail_fold(truth: np.ndarray, fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(train, val) with val = the strongest and the weakest ``fraction`` (default ``TAIL_FRACTION``) of the
  models by ``truth`` [N]."""
  fraction = TAIL_FRACTION if fraction is None else fraction
  n = truth.shape[0]
  k = max(TAIL_MIN, int(round(fraction * n)))
  order = np.argsort(truth, kind="stable")
  val = np.concatenate([order[:k], order[n - k:]])
  return np.sort(np.setdiff1d(np.arange(n), val)), np.sort(val)


def _score_range(truth: np.ndarray) -> tuple[float, float]:
  lo, hi = np.quantile(truth, RANGE_QUANTILES)
  return float(lo), float(hi)


def _range_position(estimate: np.ndarray, train_truth: np.ndarray | None):
  """Where each estimate [M] lies against the train models' score range.

  Returns:
    ``(dist, above, gap)``, [M] each: the distance outside the range in SDs of the train scores (0 inside),
    whether the estimate is above the range, and how far it lies inside the range from the nearer edge (0
    outside). Without train scores (files saved before they were stored) there is no range: every model is
    inside and far from any edge.
  """
  if train_truth is None:
    return np.zeros(estimate.shape), np.zeros(estimate.shape, bool), np.full(estimate.shape, np.inf)
  lo, hi = _score_range(train_truth)
  sd = max(float(np.std(train_truth)), 1e-6)
  dist = np.maximum(np.maximum(estimate - hi, lo - estimate), 0.0) / sd
  return dist, estimate > hi, np.maximum(np.minimum(hi - estimate, estimate - lo), 0.0)


def _distance(estimate: np.ndarray, train_truth: np.ndarray) -> np.ndarray:
  """[M] how far each estimate lies outside the train models' score range, in SDs of their scores."""
  return _range_position(estimate, train_truth)[0]


@functools.lru_cache(maxsize=8)
def _simplex_grid(n_parts: int, step: float) -> np.ndarray:
  """[G, n_parts] all weight vectors on the simplex with coordinates in multiples of ``step``."""
  n = int(round(1 / step))
  pts = [c for c in np.ndindex(*(n + 1,) * (n_parts - 1)) if sum(c) <= n]
  return np.array([list(c) + [n - sum(c)] for c in pts], np.float64) / n


def _blend_weights(residuals: np.ndarray, allowed: np.ndarray | None = None) -> tuple:
  """Convex weights on the columns of ``residuals`` [n, P] (validation errors of the parts) with the least
  mean squared error, on a 0.05 grid. Columns not ``allowed`` [P] bool, or with NaN (no regression), get 0."""
  P = residuals.shape[1]
  ok = np.all(np.isfinite(residuals), axis=0)
  if allowed is not None:
    ok &= np.asarray(allowed, bool)
  grid = _simplex_grid(P, 0.05)
  grid = grid[np.all(grid[:, ~ok] == 0, axis=1)]
  mse = np.mean((np.nan_to_num(residuals) @ grid.T) ** 2, axis=0)
  return tuple(float(x) for x in grid[int(np.argmin(mse))])


def _fit_irt(Y, kind, dim, seed, priors, dims, progress):
  import tinyjax as tj
  kw = {} if priors is None else {"priors": priors}
  if dim == "auto":
    return tj.fit_irt(Y, kind=kind, dim="auto", dims=dims, seed=seed, progress=progress, **kw)
  return tj.fit_irt(Y, kind=kind, dim=int(dim), seed=seed, progress=progress, **kw)


def _select(Y: np.ndarray, model, benches: Sequence[_Bench], strategy: str, seed: int,
            num_restarts: int) -> list[_anchors.Anchors]:
  out = []
  for j, bench in enumerate(benches):
    sub = model.subset(bench.cols) if model is not None else None
    out.append(_anchors.select_anchors(Y[:, bench.cols], bench.n_anchors, strategy, seed=seed + 1009 * j,
                                       item_weights=bench.mass, groups=bench.groups, irt_model=sub,
                                       num_restarts=num_restarts))
  return out


def _ability(model, Y_anchor, items, method, batch_size):
  import tinyjax as tj
  if method != "mle":
    return tj.estimate_ability(model, Y_anchor, items=items, method=method, batch_size=batch_size).theta
  # MLE (no shrinkage towards the train mean, which biases p-IRT for extreme models); rows whose MLE
  # diverges (all anchors right or all wrong) fall back to MAP.
  ab = tj.estimate_ability(model, Y_anchor, items=items, method="mle", batch_size=batch_size)
  theta = np.array(ab.theta, dtype=np.float64)
  bad = np.asarray(ab.diverged, bool) | ~np.all(np.isfinite(theta), axis=1)
  if bad.any():
    theta[bad] = tj.estimate_ability(model, Y_anchor[bad], items=items, method="map").theta
  return theta


ESTIMATORS = ("naive", "pirt", "diff", "greg")


def _anchor_columns(benches: Sequence[_Bench], anchor_sets: Sequence[_anchors.Anchors]) -> np.ndarray:
  """[sum K_b] global item indices of all anchors, benchmark by benchmark (the order answers come in)."""
  return np.concatenate([b.cols[a.indices] for b, a in zip(benches, anchor_sets)])


def _filled_answers(model, theta, Y_anchor: np.ndarray, glob: np.ndarray) -> np.ndarray:
  """[M, K] answers with each missing one replaced by the model's IRT-predicted probability."""
  if not np.isnan(Y_anchor).any():
    return Y_anchor
  return np.where(np.isnan(Y_anchor), model.predict_proba(theta, items=glob), Y_anchor)


def _fit_regressions(model, Y: np.ndarray, benches: Sequence[_Bench], glob: np.ndarray) -> list:
  """One ridge regression per benchmark of its full score on all anchor answers of the train models ``Y``."""
  theta = getattr(model, "theta", None)
  ya = Y[:, glob]
  if np.isnan(ya).any():
    if theta is not None and np.shape(theta)[0] == Y.shape[0]:
      ya = _filled_answers(model, np.asarray(theta), ya, glob)
    else:
      ya = np.where(np.isnan(ya), np.nanmean(ya, axis=0)[None, :], ya)
  return [_est.fit_score_regression(ya, _true_scores(Y[:, b.cols], b.mass)) for b in benches]


def _estimate_raw(model, benches: Sequence[_Bench], anchor_sets: Sequence[_anchors.Anchors], Y_anchor: np.ndarray,
                  method: str, batch_size: int | None, regs: Sequence | None = None) -> dict:
  """From answers on all anchors concatenated: naive, pirt, diff, greg, ridge, spread, nvar [M, B], theta [M, d]."""
  glob = _anchor_columns(benches, anchor_sets)
  theta = _ability(model, Y_anchor, glob, method, batch_size)
  M = Y_anchor.shape[0]
  out = {k: np.empty((M, len(benches))) for k in ESTIMATORS + ("spread", "nvar")}
  filled = _filled_answers(model, theta, Y_anchor, glob) if regs is not None else None
  out["ridge"] = np.stack([_est.regression_estimate(filled, r) if r is not None else np.full(M, np.nan)
                           for r in (regs if regs is not None else [None] * len(benches))], axis=1)
  start = 0
  for j, (bench, anc) in enumerate(zip(benches, anchor_sets)):
    k = anc.indices.shape[0]
    ya = Y_anchor[:, start:start + k]
    start += k
    p = model.predict_proba(theta, items=bench.cols)
    obs_any = ~np.all(np.isnan(ya), axis=1)
    pred = p @ bench.mass
    nv, pv, dv, gv = pred.copy(), pred.copy(), pred.copy(), pred.copy()   # no anchor answered: IRT prediction only
    if obs_any.any():
      nv[obs_any] = _est.naive_estimate(ya[obs_any], anc.weights)
      pv[obs_any] = _est.pirt_estimate(ya[obs_any], anc.indices, bench.mass, p[obs_any])
      dv[obs_any] = _est.difference_estimate(ya[obs_any], anc.indices, anc.weights, bench.mass, p[obs_any])
      gv[obs_any] = _est.greg_estimate(ya[obs_any], anc.indices, anc.weights, bench.mass, p[obs_any])
    out["naive"][:, j], out["pirt"][:, j], out["diff"][:, j], out["greg"][:, j] = nv, pv, dv, gv
    out["spread"][:, j] = _est.bernoulli_scale(p, bench.mass)
    # Model-wise Bernoulli variance of the naive estimate: sum_k w_k^2 p_k (1 - p_k) over answered anchors.
    pa = p[:, anc.indices]
    w = np.where(np.isnan(ya), 0.0, anc.weights[None, :])
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-300)
    out["nvar"][:, j] = np.sum(w ** 2 * pa * (1 - pa), axis=1)
  out["theta"] = theta
  return out


def _model_lambda(pirt_mse: float, naive_var: np.ndarray) -> np.ndarray:
  """Per-model gp-IRT weight on naive, ``b2 / (b2 + v_j)`` with the model's own naive variance ``v_j``."""
  v = np.maximum(np.asarray(naive_var, np.float64), 0.0)
  den = pirt_mse + v
  return np.where(den > 0, pirt_mse / np.where(den > 0, den, 1.0), 0.5)


def _calibrate(Y, benches, strategy, seed, kind, dim, priors, n_folds, num_restarts, level, method,
               progress, cache=None) -> list[_Calib]:
  n = Y.shape[0]
  if n_folds is None:
    n_folds = 5 if n < 500 else 1
  truth_all = np.stack([_true_scores(Y[:, b.cols], b.mass) for b in benches], axis=1)      # [N, B]
  folds = [(tr, va, False) for tr, va in _folds(n, n_folds, seed)]
  folds.append(_tail_fold(truth_all.mean(axis=1)) + (True,))
  keys = ESTIMATORS + ("ridge", "spread", "nvar", "tail", "dist", "side")
  res = {k: [] for k in keys}
  for tr, va, tail in folds:
    key = (kind, dim, seed, tr.tobytes())
    if cache is not None and key in cache:
      m = cache[key]
    else:
      m = _fit_irt(Y[tr], kind, dim, seed, priors, None, progress)
      if cache is not None:
        cache[key] = m
    anc = _select(Y[tr], m, benches, strategy, seed, num_restarts)
    glob = _anchor_columns(benches, anc)
    ya = Y[va][:, glob]
    keep = ~np.all(np.isnan(ya), axis=1)
    regs = _fit_regressions(m, Y[tr], benches, glob)
    raw = _estimate_raw(m, benches, anc, ya[keep], method, None, regs)
    truth = truth_all[va][keep]
    for k in ESTIMATORS + ("ridge",):
      res[k].append(raw[k] - truth)
    res["spread"].append(raw["spread"])
    res["nvar"].append(raw["nvar"])
    res["tail"].append(np.full(raw["diff"].shape, tail))
    res["dist"].append(np.stack([_distance(raw["diff"][:, j], truth_all[tr, j]) for j in range(len(benches))], 1))
    res["side"].append(np.stack([np.sign(raw["diff"][:, j] - np.median(truth_all[tr, j]))
                                 for j in range(len(benches))], 1))
  res = {k: np.concatenate(v) for k, v in res.items()}
  out = []
  for j in range(len(benches)):
    r = {k: res[k][:, j] for k in res}
    iid = ~r["tail"]
    # gp-IRT as in tinyBenchmarks: weight and interval from the iid validation folds only.
    nm, pm = float(np.mean(r["naive"][iid] ** 2)), float(np.mean(r["pirt"][iid] ** 2))
    lam = _est.gpirt_lambda(nm, pm)
    g = lam * r["naive"] + (1 - lam) * r["pirt"]
    q = _est.conformal_quantile(np.abs(g[iid]) / r["spread"][iid], level)
    design = nm / max(float(np.mean(r["nvar"][iid])), 1e-12)
    lam_m = _model_lambda(pm, design * r["nvar"])
    gm = lam_m * r["naive"] + (1 - lam_m) * r["pirt"]
    q_m = _est.conformal_quantile(np.abs(gm[iid]) / r["spread"][iid], level)
    # Regime-aware calibration of the blend and of every estimator's interval.
    # Interior calibration: the iid folds. Exterior: the tail fold, whose validation models all lie beyond
    # the range of the models their IRT model and anchors were fitted on.
    pools = [iid, r["tail"] if r["tail"].sum() >= MIN_POOL else np.ones_like(iid)]
    parts = np.stack([r[k] for k in BLEND_PARTS], axis=1)                                     # [n_val, P]
    blend_w = (_blend_weights(parts[pools[0]], np.array([k in INTERIOR_PARTS for k in BLEND_PARTS])),
               _blend_weights(parts[pools[1]], np.array([k in EXTERIOR_PARTS for k in BLEND_PARTS])))
    # Each tail-fold model is blended as a new model in its place would be: with the exterior weights when its
    # difference estimate lies outside the range of the models its fold was fitted on (dist > 0), else with the
    # interior weights (a model beyond the range whose estimate falls inside it).
    r["blend"] = np.where(r["tail"] & (r["dist"] > 0), parts @ np.array(blend_w[1]), parts @ np.array(blend_w[0]))
    names = ESTIMATORS + ("ridge", "blend")
    # Nonconformity: |error| / (Bernoulli spread x (1 + extrapolation distance in train-score SDs)), so that
    # intervals widen with the distance of a model beyond the train range.
    scale = r["spread"] * (1.0 + r["dist"])
    r["gpirt"] = g
    qs = {k: _est.conformal_quantile(np.abs(r[k][pools[0]]) / scale[pools[0]], level) for k in names + ("gpirt",)}
    qs_ext = {k: _est.conformal_quantile(np.abs(r[k][pools[1]]) / scale[pools[1]], level)
              for k in names + ("gpirt",)}
    # Interior models near the edge of the train range may lie beyond it (their estimate fell inside by error,
    # which biases it towards the range). They are calibrated on the tail fold as well: the tail models (all
    # beyond the range of their fold's fit), and separately those whose estimate fell inside that range.
    # Edge zone: the difference estimate lies within ``q_zone`` spreads of the range edge, with q_zone the tail
    # fold's conformal quantile of |diff error| / spread (a model that close could be beyond the range).
    edge_in = pools[1] & r["tail"] & (r["dist"] == 0)
    qs_edge = {}
    for k in names + ("gpirt",):
      q_e = _est.conformal_quantile(np.abs(r[k][edge_in]) / r["spread"][edge_in], level)
      qs_edge[k] = max(qs[k], qs_ext[k], q_e if np.isfinite(q_e) else -np.inf)
    q_zone = _est.conformal_quantile(np.abs(r["diff"][pools[1]]) / r["spread"][pools[1]], level)
    # Exterior models on each side: the two tails differ (e.g. a long tail of weak models lies further out, which
    # lowers its (1 + d)-scaled scores), so a model above the range also gets at least the multiplier of the tail
    # models on the strong side (estimate above the median of their fold's fit), one below that of the weak side;
    # the pooled multiplier stays a floor where one side has few models.
    qs_ext_side = {}
    for k in names + ("gpirt",):
      qq = []
      for sgn in (-1.0, 1.0):
        m = pools[1] & r["tail"] & (r["side"] == sgn)
        q_s = _est.conformal_quantile(np.abs(r[k][m]) / scale[m], level)
        qq.append(max(qs_ext[k], q_s if np.isfinite(q_s) else -np.inf))
      qs_ext_side[k] = tuple(qq)
    maes = {k: float(np.mean(np.abs(r[k][iid]))) for k in names}
    maes_ext = {k: float(np.mean(np.abs(r[k][pools[1]]))) for k in names}
    out.append(_Calib(lam=lam, q=q, naive_mse=nm, pirt_mse=pm, gpirt_mae=float(np.mean(np.abs(g[iid]))),
                      n_val=int(iid.sum()), design=float(design), q_model=q_m,
                      gpirt_model_mae=float(np.mean(np.abs(gm[iid]))), qs=qs, maes=maes,
                      blend_w=blend_w, qs_ext=qs_ext, maes_ext=maes_ext, n_ext=int(pools[1].sum()),
                      qs_edge=qs_edge, q_zone=float(q_zone), n_edge=int(edge_in.sum()), qs_ext_side=qs_ext_side))
    # The validation residuals themselves (not saved): for diagnostics and re-calibration experiments.
    out[-1]._val = {k: np.asarray(r[k]) for k in names + ("gpirt", "spread", "dist", "tail", "side")}
  return out


@dataclasses.dataclass(frozen=True)
class BenchmarkEstimates:
  """Estimates for several benchmarks (a :class:`Leaderboard`): dicts name -> [M] arrays."""

  naive: dict
  pirt: dict
  gpirt: dict
  lo: dict
  hi: dict
  level: float
  theta: np.ndarray
  diff: dict | None = None
  greg: dict | None = None        # name -> [M] regression estimator (see Estimates.greg)
  blend: dict | None = None       # name -> [M] the recommended estimate (see Estimates.blend)
  ridge: dict | None = None       # name -> [M] ridge-regression estimate
  intervals: dict | None = None   # estimator -> (lo dict, hi dict)
  exterior: dict | None = None    # name -> [M] bool, model outside the train range for that benchmark


class _Base:
  """Shared machinery of TinyBenchmark and Leaderboard."""

  kind_name = ""

  def __init__(self, *, irt_model, benches: list[_Bench], anchor_sets: list[_anchors.Anchors],
               calib: list[_Calib], strategy: str, level: float, seed: int, method: str,
               item_ids: list[str], regressions: list | None = None, train_scores: list | None = None):
    self.irt_model = irt_model
    self._regs = regressions
    self._train_scores = train_scores if train_scores is not None else [None] * len(benches)
    self._benches = benches
    self._anchor_sets = anchor_sets
    self._calib = calib
    self.strategy = strategy
    self.level = float(level)
    self.seed = int(seed)
    self.method = method
    self.item_ids = list(item_ids)

  @classmethod
  def _build(cls, Y, benches: list[_Bench], *, strategy, seed, kind, dim, dims, priors, level, n_folds,
             num_restarts, method, item_ids, progress, irt_model=None, cache=None):
    if strategy not in _anchors.STRATEGIES:
      raise ValueError(f"strategy must be one of {_anchors.STRATEGIES}, got {strategy!r}")
    if not 0.0 < level < 1.0:
      raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in ("map", "eap", "mle"):
      raise ValueError(f"method must be 'mle', 'map' or 'eap', got {method!r}")
    if n_folds is not None and (not isinstance(n_folds, (int, np.integer)) or n_folds < 1):
      raise ValueError(f"n_folds must be a positive int or None, got {n_folds!r}")
    if Y.shape[0] < 10:
      raise ValueError(f"need at least 10 train models to fit and validate a tiny benchmark, got {Y.shape[0]}")
    model = irt_model if irt_model is not None else _fit_irt(Y, kind, dim, seed, priors, dims, progress)
    if model.n_items != Y.shape[1]:
      raise ValueError(f"irt_model has {model.n_items} items, Y has {Y.shape[1]}")
    anchor_sets = _select(Y, model, benches, strategy, seed, num_restarts)
    calib = _calibrate(Y, benches, strategy, seed, model.kind, model.dim,
                       getattr(model, "priors", None), n_folds, num_restarts, level, method, progress, cache)
    regs = _fit_regressions(model, Y, benches, _anchor_columns(benches, anchor_sets))
    scores = [_true_scores(Y[:, b.cols], b.mass) for b in benches]
    return dict(irt_model=model, benches=benches, anchor_sets=anchor_sets, calib=calib, strategy=strategy,
                level=level, seed=seed, method=method, item_ids=item_ids, regressions=regs, train_scores=scores)

  # --- estimation -----------------------------------------------------------------------------
  @property
  def _global_anchors(self) -> np.ndarray:
    return _anchor_columns(self._benches, self._anchor_sets)

  def _estimate_all(self, Y_anchor, batch_size=None, lam_mode=None):
    Y = _est.check_answers(Y_anchor, self._global_anchors.shape[0])
    raw = _estimate_raw(self.irt_model, self._benches, self._anchor_sets, Y, self.method, batch_size, self._regs)
    naive, pirt, spread, nvar = raw["naive"], raw["pirt"], raw["spread"], raw["nvar"]
    if lam_mode is None:
      lam_mode = DEFAULT_LAM_MODE
    if lam_mode == "global":
      lam = np.array([c.lam for c in self._calib])[None, :]
      q = np.array([c.q for c in self._calib])
    elif lam_mode == "model":
      lam = np.stack([_model_lambda(c.pirt_mse, c.design * nvar[:, j]) for j, c in enumerate(self._calib)], 1)
      q = np.array([c.q_model for c in self._calib])
    else:
      raise ValueError(f"lam_mode must be 'global' or 'model', got {lam_mode!r}")
    gp = lam * naive + (1 - lam) * pirt
    # Regime of each model and benchmark: exterior when its difference estimate is outside the train range.
    # (Files saved without train scores have no range: every model is interior there.)
    dist, above, gap = (np.stack(x, axis=1) for x in zip(*(                                   # [M, B] each
        _range_position(raw["diff"][:, j], ts) for j, ts in enumerate(self._train_scores))))
    ext = dist > 0
    # Edge zone: interior models whose difference estimate lies within q_zone spreads of the train range edge.
    zone = ~ext & (gap < np.array([c.q_zone for c in self._calib])[None, :] * spread)
    spread = spread * (1.0 + dist)
    bw = np.array([c.blend_w for c in self._calib], np.float64)                              # [B, 2, P]
    w = np.where(ext[..., None], bw[None, :, 1, :], bw[None, :, 0, :])                        # [M, B, P]
    parts = np.stack([np.nan_to_num(raw[k]) for k in BLEND_PARTS], axis=-1)                  # [M, B, P]
    blend = np.sum(w * parts, axis=-1)
    est = {k: np.clip(raw[k], 0.0, 1.0) for k in ESTIMATORS + ("ridge",)}
    est["gpirt"] = np.clip(gp, 0.0, 1.0)
    est["blend"] = np.clip(blend, 0.0, 1.0)
    intervals = {}
    for k in ESTIMATORS + ("ridge", "gpirt", "blend"):
      if k == "gpirt" and lam_mode == "model":
        qk = np.broadcast_to(q[None, :], ext.shape)
      else:
        q_in = np.array([c.qs.get(k, c.qs.get("diff", np.inf)) if k != "gpirt" else c.qs.get(k, c.q)
                         for c in self._calib])
        q_out = np.array([c.qs_ext.get(k, q_in[j]) for j, c in enumerate(self._calib)])
        q_side = np.array([c.qs_ext_side.get(k, (q_out[j], q_out[j])) for j, c in enumerate(self._calib)])  # [B, 2]
        q_out = np.where(above, q_side[None, :, 1], q_side[None, :, 0])                       # [M, B]
        q_edge = np.array([c.qs_edge.get(k, q_in[j]) for j, c in enumerate(self._calib)])
        qk = np.where(ext, q_out, np.where(zone, q_edge[None, :], q_in[None, :]))
      # (For interior models, edge zone included, the distance is 0: the scale is the Bernoulli spread.)
      intervals[k] = (np.clip(est[k] - qk * spread, 0.0, 1.0), np.clip(est[k] + qk * spread, 0.0, 1.0))
    est["exterior"] = ext
    return est, intervals, raw["theta"]

  # --- persistence ----------------------------------------------------------------------------
  def _to_artifact(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    irt_arrays, irt_meta = self.irt_model._to_artifact()
    arrays = {f"irt__{k}": v for k, v in irt_arrays.items()}
    arrays["item_ids"] = np.asarray(self.item_ids, dtype=str)
    benches = []
    for j, (b, a, c) in enumerate(zip(self._benches, self._anchor_sets, self._calib)):
      arrays[f"b{j}__cols"] = b.cols.astype(np.int64)
      arrays[f"b{j}__mass"] = b.mass.astype(np.float64)
      arrays[f"b{j}__anchors"] = a.indices.astype(np.int64)
      arrays[f"b{j}__weights"] = a.weights.astype(np.float64)
      arrays[f"b{j}__labels"] = a.labels.astype(np.int64)
      if b.groups is not None:
        arrays[f"b{j}__groups"] = np.asarray(b.groups).astype(str)
      benches.append({"name": b.name, "n_anchors": b.n_anchors, "calib": dataclasses.asdict(c)})
      if self._train_scores[j] is not None:
        arrays[f"b{j}__train_scores"] = np.asarray(self._train_scores[j], np.float64)
      if self._regs is not None:
        reg = self._regs[j]
        arrays[f"b{j}__reg_mean"], arrays[f"b{j}__reg_coef"] = reg.mean, reg.coef
        benches[-1]["regression"] = {"intercept": reg.intercept, "alpha": reg.alpha}
    meta = {"irt": irt_meta, "benches": benches, "strategy": self.strategy, "level": self.level,
            "seed": self.seed, "method": self.method}
    return arrays, meta

  @classmethod
  def _from_artifact(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]):
    from tinyjax.io import ArtifactError
    from tinyjax.irt import IRTModel
    try:
      model = IRTModel._from_artifact({k[5:]: v for k, v in arrays.items() if k.startswith("irt__")}, meta["irt"])
      benches, anchor_sets, calib, regs = [], [], [], []
      for j, bm in enumerate(meta["benches"]):
        groups = arrays.get(f"b{j}__groups")
        benches.append(_Bench(bm["name"], arrays[f"b{j}__cols"], arrays[f"b{j}__mass"],
                              None if groups is None else groups, int(bm["n_anchors"])))
        anchor_sets.append(_anchors.Anchors(arrays[f"b{j}__anchors"], arrays[f"b{j}__weights"],
                                            arrays[f"b{j}__labels"], meta["strategy"]))
        c = dict(bm["calib"])
        # Files saved before the regression estimator have 4 parts: greg gets weight 0 (their old blend).
        c["blend_w"] = tuple(tuple(x) + (0.0,) * (len(BLEND_PARTS) - len(x)) for x in c.get("blend_w", _Calib.blend_w))
        calib.append(_Calib(**c))
        if "regression" in bm:
          regs.append(_est.ScoreRegression(arrays[f"b{j}__reg_mean"], arrays[f"b{j}__reg_coef"],
                                           float(bm["regression"]["intercept"]), float(bm["regression"]["alpha"])))
      obj = cls.__new__(cls)
      _Base.__init__(obj, irt_model=model, benches=benches, anchor_sets=anchor_sets, calib=calib,
                     strategy=meta["strategy"], level=meta["level"], seed=meta["seed"], method=meta["method"],
                     item_ids=[str(s) for s in arrays["item_ids"]],
                     regressions=regs if len(regs) == len(benches) else None,
                     train_scores=[arrays.get(f"b{j}__train_scores") for j in range(len(benches))])
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"tiny benchmark file is missing or has a malformed field: {err}") from err
    for b, a in zip(benches, anchor_sets):
      if a.indices.shape != a.weights.shape or np.any(a.indices >= b.cols.shape[0]) or \
          np.any(b.cols >= model.n_items):
        raise ArtifactError("tiny benchmark file is inconsistent: anchor indices out of range")
    return obj

  def save(self, path) -> None:
    """Saves to a versioned .npz artifact (arrays + JSON metadata); ``tinyjax.load`` reads it."""
    from tinyjax.io import save_artifact
    arrays, meta = self._to_artifact()
    save_artifact(path, self.kind_name, arrays, meta)

  @classmethod
  def load(cls, path):
    from tinyjax.io import load_artifact
    _, arrays, meta = load_artifact(path, expected_kind=cls.kind_name)
    return cls._from_artifact(arrays, meta)


def _check_train(Y, model_ids, item_ids):
  values, mids, iids = _responses(Y, model_ids, item_ids)
  return values, mids, iids


class TinyBenchmark(_Base):
  """A tiny version of one benchmark: anchors, their weights, the IRT model and calibrated estimators.

  Attributes:
    anchors: [K] item indices into the train matrix's columns.
    weights: [K] anchor weights (sum to 1; the naive estimate is ``answers @ weights``).
    anchor_ids: the K anchors' item ids (the questions to run).
    item_mass: [I] weight of each item in the full score (sums to 1).
    lam: gp-IRT weight on the naive estimate. interval_q: conformal half-width multiplier.
    level: nominal coverage of the gp-IRT interval.
    irt_model: the fitted :class:`tinyjax.IRTModel`.
  """

  kind_name = "tiny_benchmark"

  @classmethod
  def fit(cls, Y_train, n_anchors: int = 100, strategy: str = DEFAULT_STRATEGY, seed: int = 0, *,
          groups=None, item_weights=None, balance_groups: bool = True, kind: str = "2pl",
          dim: int | str = "auto", dims: Sequence[int] = DEFAULT_DIMS, priors=None, level: float = 0.9,
          n_folds: int | None = None, num_restarts: int = 8, method: str = DEFAULT_METHOD, irt_model=None,
          model_ids=None, item_ids=None, progress: bool | None = False, _cache: dict | None = None
          ) -> "TinyBenchmark":
    """Builds a tiny benchmark from a train matrix.

    Args:
      Y_train: [N, I] responses of the train models (0/1 or scores in [0, 1], NaN = missing): array,
        DataFrame, path, ``datasets.Dataset`` (anything ``tinyjax.data.load_responses`` reads).
      n_anchors: number of anchor items K (1 <= K <= I).
      strategy: "random" | "stratified" | "correctness" | "irt" (see ``tinyjax.anchors``).
      seed: seed of every random choice (fits, folds, anchor draws, k-means restarts).
      groups: [I] item group labels (e.g. MMLU subjects); needed by "stratified".
      item_weights: [I] item mass in the full score; overrides ``balance_groups``.
      balance_groups: with ``groups``, weight items so that every group counts equally.
      kind: IRT model kind ("1pl", "2pl", "3pl").
      dim: IRT dimension, or "auto" (chosen among ``dims`` by held-out log-likelihood).
      dims: candidate dimensions for ``dim="auto"``.
      priors: ``tinyjax.IRTPriors`` or None.
      level: nominal coverage of the gp-IRT interval.
      n_folds: validation folds (None: 5 below 500 train models, else one 20% holdout).
      num_restarts: k-means restarts.
      method: ability estimator for new models: "mle" (MAP where the MLE diverges), "map" or "eap".
      irt_model: an already fitted IRT model on ``Y_train`` (skips the main fit).
      model_ids, item_ids: ids for array input.
      progress: show fit progress bars.

    Returns:
      A fitted :class:`TinyBenchmark`.
    """
    Y, _, iids = _check_train(Y_train, model_ids, item_ids)
    n_items = Y.shape[1]
    if not isinstance(n_anchors, (int, np.integer)) or not 1 <= n_anchors <= n_items:
      raise ValueError(f"n_anchors must be an int in [1, {n_items}], got {n_anchors!r}")
    mass, g = _item_mass(n_items, groups, item_weights, balance_groups)
    bench = _Bench("benchmark", np.arange(n_items), mass, g, int(n_anchors))
    kw = cls._build(Y, [bench], strategy=strategy, seed=seed, kind=kind, dim=dim, dims=dims, priors=priors,
                    level=level, n_folds=n_folds, num_restarts=num_restarts, method=method, item_ids=iids,
                    progress=progress, irt_model=irt_model, cache=_cache)
    obj = cls.__new__(cls)
    _Base.__init__(obj, **kw)
    return obj

  @property
  def anchors(self) -> np.ndarray:
    return self._anchor_sets[0].indices.copy()

  @property
  def weights(self) -> np.ndarray:
    return self._anchor_sets[0].weights.copy()

  @property
  def anchor_ids(self) -> list[str]:
    return [self.item_ids[i] for i in self.anchors]

  @property
  def item_mass(self) -> np.ndarray:
    return self._benches[0].mass.copy()

  @property
  def lam(self) -> float:
    return self._calib[0].lam

  @property
  def interval_q(self) -> float:
    return self._calib[0].q

  @property
  def validation(self) -> dict:
    """What the validation folds measured: lam, q, naive/p-IRT MSE, gp-IRT MAE, number of models."""
    return dataclasses.asdict(self._calib[0])

  def __repr__(self) -> str:
    return (f"TinyBenchmark(n_anchors={self.anchors.shape[0]}, n_items={len(self.item_ids)}, "
            f"strategy={self.strategy!r}, irt={self.irt_model.kind} dim={self.irt_model.dim}, lam={self.lam:.3f})")

  def estimate(self, Y_anchor, *, batch_size: int | None = None, lam_mode: str | None = None) -> _est.Estimates:
    """Estimates the full-benchmark score of new models from their answers on the anchors.

    Args:
      Y_anchor: [M, K] answers on ``self.anchors`` in that order (0/1 or scores in [0, 1], NaN = not
        answered). A 1-D array is one model.
      batch_size: models per compiled ability call (None: all at once).
      lam_mode: gp-IRT weighting: "global" (the validation weight ``self.lam`` for every model) or
        "model" (``b2 / (b2 + v_j)`` with model j's own naive variance ``v_j``, which leans on the anchors
        for models near 0 or 100%). None: the library default.

    Returns:
      :class:`tinyjax.estimators.Estimates` with naive, pirt, gpirt, lo, hi [M] in [0, 1], level,
      theta [M, d] and lam (the global weight).
    """
    est, iv, theta = self._estimate_all(Y_anchor, batch_size, lam_mode)
    return _est.Estimates(naive=est["naive"][:, 0], pirt=est["pirt"][:, 0], gpirt=est["gpirt"][:, 0],
                          lo=iv["gpirt"][0][:, 0], hi=iv["gpirt"][1][:, 0], level=self.level, theta=theta,
                          lam=self.lam, diff=est["diff"][:, 0], greg=est["greg"][:, 0],
                          intervals={k: (lo[:, 0], hi[:, 0]) for k, (lo, hi) in iv.items()},
                          recommended=RECOMMENDED, blend=est["blend"][:, 0], exterior=est["exterior"][:, 0],
                          ridge=est["ridge"][:, 0])


def _item_mass(n_items, groups, item_weights, balance_groups):
  g = None
  if groups is not None:
    g = np.asarray(groups).astype(str)
    if g.shape != (n_items,):
      raise ValueError(f"groups must have one label per item ({n_items}), got shape {g.shape}")
  if item_weights is not None:
    mass = _anchors._check_item_mass(item_weights, n_items)
  elif g is not None and balance_groups:
    mass = _anchors.group_balance_weights(g)
  else:
    mass = np.full(n_items, 1.0 / n_items)
  return mass, g


class Leaderboard(_Base):
  """Several benchmarks sharing one ability (e.g. the Open LLM Leaderboard's six).

  One IRT model is fitted on all items; each benchmark gets its own anchors; a new model's ability
  is estimated once from all its anchor answers, and each benchmark's p-IRT / gp-IRT uses it.
  """

  kind_name = "leaderboard"

  @classmethod
  def fit(cls, Y_train, benchmarks, n_anchors: int | dict = 100, strategy: str = DEFAULT_STRATEGY,
          seed: int = 0, *, groups=None, kind: str = "2pl", dim: int | str = "auto",
          dims: Sequence[int] = DEFAULT_DIMS, priors=None, level: float = 0.9, n_folds: int | None = None,
          num_restarts: int = 8, method: str = DEFAULT_METHOD, irt_model=None, model_ids=None, item_ids=None,
          progress: bool | None = False) -> "Leaderboard":
    """Builds a tiny leaderboard.

    Args:
      Y_train: [N, I] responses over the items of all benchmarks.
      benchmarks: [I] benchmark name of every item.
      n_anchors: anchors per benchmark (an int, or a dict name -> int).
      groups: [I] optional sub-group labels inside benchmarks (e.g. MMLU subjects), balanced within
        each benchmark and used by "stratified".
      Other arguments: as for :meth:`TinyBenchmark.fit`.
    """
    Y, _, iids = _check_train(Y_train, model_ids, item_ids)
    names = np.asarray(benchmarks).astype(str)
    if names.shape != (Y.shape[1],):
      raise ValueError(f"benchmarks must give one name per item ({Y.shape[1]}), got shape {names.shape}")
    g_all = None if groups is None else np.asarray(groups).astype(str)
    if g_all is not None and g_all.shape != names.shape:
      raise ValueError(f"groups must have one label per item ({Y.shape[1]}), got shape {g_all.shape}")
    benches = []
    for name in dict.fromkeys(names.tolist()):
      cols = np.flatnonzero(names == name)
      k = n_anchors.get(name) if isinstance(n_anchors, dict) else n_anchors
      if k is None:
        raise ValueError(f"n_anchors has no entry for benchmark {name!r}")
      if not isinstance(k, (int, np.integer)) or not 1 <= k <= cols.size:
        raise ValueError(f"n_anchors for {name!r} must be an int in [1, {cols.size}], got {k!r}")
      mass, g = _item_mass(cols.size, None if g_all is None else g_all[cols], None, True)
      benches.append(_Bench(name, cols, mass, g, int(k)))
    kw = cls._build(Y, benches, strategy=strategy, seed=seed, kind=kind, dim=dim, dims=dims, priors=priors,
                    level=level, n_folds=n_folds, num_restarts=num_restarts, method=method, item_ids=iids,
                    progress=progress, irt_model=irt_model)
    obj = cls.__new__(cls)
    _Base.__init__(obj, **kw)
    return obj

  @property
  def benchmarks(self) -> list[str]:
    return [b.name for b in self._benches]

  @property
  def anchors(self) -> dict:
    """name -> [K_b] global item indices (columns of the train matrix) of that benchmark's anchors."""
    return {b.name: b.cols[a.indices] for b, a in zip(self._benches, self._anchor_sets)}

  @property
  def all_anchors(self) -> np.ndarray:
    """[sum K_b] all anchors in the order ``estimate`` expects (benchmark by benchmark)."""
    return self._global_anchors

  @property
  def weights(self) -> dict:
    return {b.name: a.weights.copy() for b, a in zip(self._benches, self._anchor_sets)}

  @property
  def lam(self) -> dict:
    return {b.name: c.lam for b, c in zip(self._benches, self._calib)}

  def __repr__(self) -> str:
    return (f"Leaderboard(benchmarks={self.benchmarks}, n_anchors={self.all_anchors.shape[0]}, "
            f"strategy={self.strategy!r}, irt={self.irt_model.kind} dim={self.irt_model.dim})")

  def estimate(self, Y_anchor, *, batch_size: int | None = None, lam_mode: str | None = None) -> BenchmarkEstimates:
    """Estimates every benchmark's score from answers on ``all_anchors`` [M, sum K_b] (NaN allowed);
    ``lam_mode`` as for :meth:`TinyBenchmark.estimate`."""
    est, iv, theta = self._estimate_all(Y_anchor, batch_size, lam_mode)
    d = lambda x: {b.name: x[:, j] for j, b in enumerate(self._benches)}
    return BenchmarkEstimates(naive=d(est["naive"]), pirt=d(est["pirt"]), gpirt=d(est["gpirt"]),
                              lo=d(iv["gpirt"][0]), hi=d(iv["gpirt"][1]), level=self.level, theta=theta,
                              diff=d(est["diff"]), greg=d(est["greg"]), blend=d(est["blend"]), ridge=d(est["ridge"]),
                              intervals={k: (d(lo), d(hi)) for k, (lo, hi) in iv.items()},
                              exterior=d(est["exterior"]))
