"""Calibration: validation folds of the train models set the gp-IRT weight, the blend weights and the intervals.

``calibrate`` runs the whole pipeline (IRT fit, anchors, estimation) on validation folds of the train models:

1. iid folds (:func:`validation_folds`): fit on the rest, estimate the held-out models. The naive and p-IRT mean
   squared errors set the gp-IRT weight (``tinyjax.tiny.estimators.gpirt_lambda``); the errors divided by each model's
   Bernoulli spread give split-conformal multipliers. These folds calibrate "interior" models.
2. one tail fold (:func:`tail_fold`): the strongest and the weakest ``TAIL_FRACTION`` of the train models held
   out, the situation of a new model beyond every train model. It calibrates "exterior" models.

Every validation model is then classified and blended exactly as a new model in its place would be. Its regime
(``tinyjax.tiny.estimation.REGIMES``: interior, edge, above, below) is where its gp-IRT estimate lies against the
range of the models its fold was fitted on; :func:`regime_weights` gives each regime the candidate blend with the
least validation error there, so a part other than gp-IRT is used only in the regimes where it beats gp-IRT.
Every estimator's conformal multiplier comes from the same residuals. Nonconformity scores are
``|error| / (spread (1 + d))``, ``d`` the difference estimate's distance beyond the train range in SDs of the
train scores, so intervals widen with extrapolation. Exterior models get the larger of the whole tail fold's
multiplier and that of the tail models on their side (above or below the range); interior models near the range
edge (within the tail fold's 90% ``|diff error| / spread``, the "edge zone") get the largest of the interior,
exterior and "beyond the range but estimated inside it" multipliers. With ``adaptive_budget``, adaptive testing
runs on the same folds and :func:`recommend_workflow` says whether it or the static anchors should be used.
Residuals, weights and quantiles are computed in the working dtype of ``tinyjax.tiny.estimators`` (JAX's default
float), the precision of the estimates they calibrate.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import NamedTuple, Sequence

import numpy as np

from tinyjax.tiny import estimators as _est
from tinyjax.errors import ConfigError
from tinyjax.tiny import estimation as _estn

TAIL_FRACTION = 0.2              # the tail fold holds out this share of the strongest and of the weakest
TAIL_MIN = 5                     # ... and at least this many models on each side
MIN_POOL = 10                    # fewer validation models in a pool: pool wider (or keep gp-IRT in a regime)
MIX_WEIGHTS = (0.25, 0.5, 0.75)  # greg's weight in the mixed candidates of regime_weights
MIN_TAIL_ADAPTIVE = 20           # tail-fold models per side below which adaptive testing is never recommended
CALIBRATED = _est.CALIBRATED   # estimators with conformal multipliers (tinyjax.tiny.estimators.REGISTRY)
# Share of every validation model's anchors hidden (answers set to NaN) for the missing-answer calibrations: each
# fraction gets a whole calibration of its own (gp-IRT weight, regime blends, multipliers), and a new model is
# estimated between the two nearest to its own share of unanswered anchors (estimation.combine_missing).
MISSING_FRACTIONS = (0.25, 0.5, 0.8)


class Multipliers(NamedTuple):
  """One estimator's split-conformal multipliers (interval half-width over the model's scale) and validation MAEs."""

  interior: float               # iid folds (saved as ``qs``)
  exterior: float               # the whole tail fold (``qs_ext``)
  edge: float                   # the edge zone of the train range (``qs_edge``)
  below: float                  # beyond the range, below it (``qs_ext_side[0]``)
  above: float                  # beyond the range, above it (``qs_ext_side[1]``)
  mae: float | None             # iid validation MAE (``maes``; None for gp-IRT, see Calibration.gpirt_mae)
  mae_exterior: float | None    # validation MAE on the exterior pool (``maes_ext``)


@dataclasses.dataclass(frozen=True)
class Calibration:
  """What the validation folds measured for one benchmark (saved with the tiny benchmark).

  :meth:`to_dict` gives the saved layout (``TinyBenchmark.validation``): one dict per kind of multiplier, each
  keyed by estimator name (``qs``, ``qs_ext``, ``qs_edge``, ``qs_ext_side``, ``maes``, ``maes_ext``).
  """

  lam: float               # global gp-IRT weight on naive
  q: float                 # conformal multiplier of the global-weight gp-IRT interval
  naive_mse: float
  pirt_mse: float
  gpirt_mae: float
  n_val: int               # iid validation models
  design: float            # naive MSE / mean model-wise Bernoulli variance of the naive estimate
  q_model: float           # conformal multiplier of the per-model-weight gp-IRT interval
  gpirt_model_mae: float
  estimators: tuple        # [len(CALIBRATED)] Multipliers, in the order of CALIBRATED
  regime_w: dict           # regime (estimation.REGIMES) -> weights on estimation.BLEND_PARTS
  regime_info: dict        # regime -> pool size, pooled regimes, chosen candidate, candidate MAEs (regime_weights)
  n_ext: int               # validation models in the exterior pool
  q_zone: float            # edge zone: position estimate within q_zone spreads of the train range edge
  n_edge: int              # tail-fold models whose estimate fell inside their fold's train range
  adaptive: dict | None = None   # adaptive testing vs the static estimate on the same folds (_adaptive_summary)
  # Missing answers: str(fraction) -> the Calibration measured with that share of every validation model's
  # anchors hidden (MISSING_FRACTIONS); None in a tiny benchmark saved before it existed (complete answers only).
  missing: dict | None = None

  def multipliers(self, name: str) -> Multipliers:
    """The :class:`Multipliers` of estimator ``name`` (one of :data:`CALIBRATED`)."""
    return self.estimators[CALIBRATED.index(name)]

  def to_dict(self) -> dict:
    """The saved layout (JSON-ready apart from NumPy scalars): what ``TinyBenchmark.validation`` shows."""
    per = dict(zip(CALIBRATED, self.estimators))
    scored = {k: m for k, m in per.items() if m.mae is not None}
    return {"lam": self.lam, "q": self.q, "naive_mse": self.naive_mse, "pirt_mse": self.pirt_mse,
            "gpirt_mae": self.gpirt_mae, "n_val": self.n_val, "design": self.design, "q_model": self.q_model,
            "gpirt_model_mae": self.gpirt_model_mae, "qs": {k: m.interior for k, m in per.items()},
            "maes": {k: m.mae for k, m in scored.items()}, "regime_w": copy.deepcopy(self.regime_w),
            "regime_info": copy.deepcopy(self.regime_info), "qs_ext": {k: m.exterior for k, m in per.items()},
            "maes_ext": {k: m.mae_exterior for k, m in scored.items()}, "n_ext": self.n_ext,
            "qs_edge": {k: m.edge for k, m in per.items()}, "q_zone": self.q_zone, "n_edge": self.n_edge,
            "qs_ext_side": {k: (m.below, m.above) for k, m in per.items()},
            "adaptive": copy.deepcopy(self.adaptive),
            "missing": None if self.missing is None else {k: c.to_dict() for k, c in self.missing.items()}}

  @classmethod
  def from_dict(cls, d: dict) -> "Calibration":
    """From :meth:`to_dict` output, also after a JSON round trip (lists back to tuples)."""
    d = dict(d)
    d["regime_w"] = {k: tuple(float(x) for x in w) for k, w in d["regime_w"].items()}
    maes, maes_ext = d.pop("maes"), d.pop("maes_ext")
    qs, qs_ext, qs_edge, side = d.pop("qs"), d.pop("qs_ext"), d.pop("qs_edge"), d.pop("qs_ext_side")
    d["estimators"] = tuple(Multipliers(qs[k], qs_ext[k], qs_edge[k], *tuple(side[k]), maes.get(k), maes_ext.get(k))
                            for k in CALIBRATED)
    if d.get("missing") is not None:
      d["missing"] = {str(k): cls.from_dict(v) for k, v in d["missing"].items()}
    return cls(**d)

  def by_missing(self) -> tuple[np.ndarray, list["Calibration"]]:
    """``(fractions [G], calibrations)``: this calibration (complete answers, fraction 0) and those measured with
    anchors hidden, by increasing fraction. Only fraction 0 for a calibration without missing-answer ones."""
    items = sorted((float(k), c) for k, c in (self.missing or {}).items())
    return np.array([0.0] + [f for f, _ in items]), [self] + [c for _, c in items]


class FoldResiduals(NamedTuple):
  """What the validation folds measured of every validation model (rows: models of every fold, concatenated).

  Arrays are [n, B] (one column per benchmark; :meth:`bench` takes one column) in the working dtype.
  """

  errors: np.ndarray     # [len(RAW), n, B] estimate - truth of every estimator of tinyjax.tiny.estimators.RAW
  spread: np.ndarray     # [n, B] Bernoulli spread
  nvar: np.ndarray       # [n, B] model-wise Bernoulli variance of the naive estimate
  tail: np.ndarray       # [n, B] bool, the model is in the tail fold
  dist: np.ndarray       # [n, B] the position estimate's distance beyond its fold's train range, in SDs
  side: np.ndarray       # [n, B] sign of the position estimate minus the median of its fold's train scores
  truth: np.ndarray      # [n, B] the model's true score
  range_lo: np.ndarray   # [n, B] its fold's train range (to place any estimate of it, ``_regime_pools``)
  range_hi: np.ndarray   # [n, B]

  def of(self, name: str) -> np.ndarray:
    """[n, B] (or [n] after :meth:`bench`) the errors of estimator ``name`` of RAW."""
    return self.errors[_est.RAW.index(name)]

  def bench(self, j: int) -> "FoldResiduals":
    """Benchmark ``j`` alone: every array without its benchmark axis."""
    return FoldResiduals(*(x[..., j] for x in self))

  @classmethod
  def concatenate(cls, parts: Sequence["FoldResiduals"]) -> "FoldResiduals":
    return cls(np.concatenate([r.errors for r in parts], axis=1),
               *(np.concatenate([getattr(r, f) for r in parts]) for f in cls._fields[1:]))


class AdaptiveResiduals(NamedTuple):
  """Adaptive testing on the validation folds (one benchmark), per validation model."""

  error: np.ndarray      # [n] p-IRT of the items asked, minus the truth
  spread: np.ndarray     # [n] Bernoulli spread at the final ability
  dist: np.ndarray       # [n] distance of the estimate beyond its fold's train range, in SDs


def validation_folds(n: int, n_folds: int, *, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """(train, val) folds of equal size (so every fold fit has the same shape and compiles once)."""
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


def tail_fold(truth: np.ndarray, fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(train, val) with val = the strongest and the weakest ``fraction`` (default ``TAIL_FRACTION``, at least
  ``TAIL_MIN`` each) of the models by ``truth`` [N]."""
  fraction = TAIL_FRACTION if fraction is None else fraction
  n = truth.shape[0]
  k = max(TAIL_MIN, int(round(fraction * n)))
  order = np.argsort(truth, kind="stable")
  val = np.concatenate([order[:k], order[n - k:]])
  return np.sort(np.setdiff1d(np.arange(n), val)), np.sort(val)


@functools.lru_cache(maxsize=8)
def _simplex_grid(n_parts: int, step: float) -> np.ndarray:
  """[G, n_parts] all weight vectors on the simplex with coordinates in multiples of ``step``."""
  n = int(round(1 / step))
  pts = [c for c in np.ndindex(*(n + 1,) * (n_parts - 1)) if sum(c) <= n]
  return np.array([list(c) + [n - sum(c)] for c in pts], np.float64) / n


def blend_weights(residuals: np.ndarray, allowed: np.ndarray | None = None) -> tuple:
  """Convex weights on the columns of ``residuals`` [n, P] (validation errors of the parts) with the least
  mean squared error, on a 0.05 grid. Columns not ``allowed`` [P] bool, or with NaN (no regression), get 0."""
  P = residuals.shape[1]
  ok = np.all(np.isfinite(residuals), axis=0)
  if allowed is not None:
    ok &= np.asarray(allowed, bool)
  grid = _simplex_grid(P, 0.05)
  grid = grid[np.all(grid[:, ~ok] == 0, axis=1)]
  residuals = np.asarray(residuals, _est.working_dtype())
  mse = np.mean((np.nan_to_num(residuals) @ grid.T.astype(residuals.dtype)) ** 2, axis=0)
  return tuple(float(x) for x in grid[int(np.argmin(mse))])


def hide_anchors(ya: np.ndarray, sizes: Sequence[int], fraction: float, keys: np.ndarray) -> np.ndarray:
  """Answers ``ya`` [M, sum K_b] with ``round(fraction K_b)`` of each benchmark's K_b anchors hidden (NaN) per model.

  Which anchors: the ones with the smallest ``keys`` [M, sum K_b] (uniform random numbers, so the hidden sets of
  a larger fraction contain those of a smaller one). A benchmark whose answered anchors would all be hidden
  keeps the answered one with the largest key: every model still answers at least one anchor of each benchmark
  it answered before.
  """
  out = np.array(ya, copy=True)
  start = 0
  for k in sizes:
    seg = slice(start, start + k)
    start += k
    n_hide = int(round(fraction * k))
    if n_hide == 0:
      continue
    rank = np.argsort(np.argsort(keys[:, seg], axis=1), axis=1)
    answered = ~np.isnan(out[:, seg])
    hidden = rank < n_hide
    kept = answered & ~hidden
    lost = answered.any(axis=1) & ~kept.any(axis=1)
    if lost.any():   # keep the answered anchor with the largest key
      best = np.argmax(np.where(answered, keys[:, seg], -np.inf), axis=1)
      hidden[np.flatnonzero(lost), best[lost]] = False
    out[:, seg] = np.where(hidden, np.nan, out[:, seg])
  return out


def _fold_residuals(Y, benches, strategy, seed, kind, dim, priors, n_folds, n_restarts, method, progress, cache,
                    adaptive_budget=None, missing_fractions=(), tail_fraction=None, range_quantiles=None):
  """Per-model validation errors of every raw estimator over the iid folds and the tail fold, concatenated.

  With ``adaptive_budget`` (one benchmark only), also the error of adaptive testing at that budget (p-IRT of the
  items it asked, :func:`tinyjax.adaptive.simulate` on the fold's IRT model) and its Bernoulli spread.

  Returns:
    ``(res, res_missing, adaptive)``: :class:`FoldResiduals` with every anchor the validation models answered,
    fraction -> the same with that share of their anchors hidden (:func:`hide_anchors`, the same random order for
    every fraction) for each of ``missing_fractions``, and :class:`AdaptiveResiduals` (None without
    ``adaptive_budget``).
  """
  n = Y.shape[0]
  truth_all = np.stack([_est.true_scores(Y[:, b.cols], b.item_weights) for b in benches], axis=1)    # [N, B]
  folds = [(tr, va, False) for tr, va in validation_folds(n, n_folds, seed=seed)]
  folds.append(tail_fold(truth_all.mean(axis=1), tail_fraction) + (True,))
  res, res_missing = [], {f: [] for f in missing_fractions}
  ad_parts = []
  rng = np.random.default_rng(seed + 104729)
  B = len(benches)

  def residuals(raw: _est.RawEstimates, truth, tr, tail) -> FoldResiduals:
    position = raw.of(_est.POSITION)
    dist = np.stack([_estn.range_distance(position[:, j], truth_all[tr, j], range_quantiles) for j in range(B)], 1)
    side = np.stack([np.sign(position[:, j] - np.median(truth_all[tr, j])) for j in range(B)], 1)
    lo, hi = (np.broadcast_to(fn(truth_all[tr], axis=0)[None, :], truth.shape) for fn in (np.min, np.max))
    return FoldResiduals(raw.values - truth[None], raw.spread, raw.nvar, np.full(position.shape, tail), dist, side,
                         truth, lo, hi)

  for tr, va, tail in folds:
    key = (kind, dim, seed, tr.tobytes())
    if cache is not None and key in cache:
      m = cache[key]
    else:
      m = _estn.fit_irt_model(Y[tr], kind, dim, priors, None, progress, seed=seed)
      if cache is not None:
        cache[key] = m
    anc = _estn.select_anchor_sets(Y[tr], m, benches, strategy, n_restarts, seed=seed)
    glob = _estn.anchor_columns(benches, anc)
    ya = Y[va][:, glob]
    keep = ~np.all(np.isnan(ya), axis=1)
    regs = _estn.fit_regressions(m, Y[tr], benches, glob)
    raw = _estn.raw_estimates(m, benches, anc, ya[keep], method, None, regs)
    truth = truth_all[va][keep]
    res.append(residuals(raw, truth, tr, tail))
    order = rng.random(ya[keep].shape)
    for f in missing_fractions:
      yf = hide_anchors(ya[keep], [a.indices.shape[0] for a in anc], f, order)
      res_missing[f].append(residuals(_estn.raw_estimates(m, benches, anc, yf, method, None, regs), truth, tr, tail))
    if adaptive_budget is not None:
      from tinyjax import adaptive
      b = benches[0]
      yv = Y[va][keep]
      ad = adaptive.simulate(m, yv, adaptive_budget, item_weights=b.item_weights, progress=False)
      asked = _estn.asked_mask(ad.items, yv.shape[1])
      score, theta = _estn.adaptive_estimates(m, yv, asked, b.item_weights, method)
      est = np.asarray(score, truth.dtype)
      ad_parts.append(AdaptiveResiduals(est - truth[:, 0], _est.bernoulli_scale(m.predict_proba(theta), b.item_weights),
                                        _estn.range_distance(est, truth_all[tr, 0], range_quantiles)))
  adaptive_res = AdaptiveResiduals(*(np.concatenate(x) for x in zip(*ad_parts))) if ad_parts else None
  return (FoldResiduals.concatenate(res), {f: FoldResiduals.concatenate(v) for f, v in res_missing.items()},
          adaptive_res)


def _regime_pools(r: FoldResiduals, gpirt: np.ndarray, q_zone: float) -> np.ndarray:
  """[n_val] regime index (:data:`tinyjax.tiny.estimation.REGIMES`) of every validation model, classified as a new
  model in its place would be: by its gp-IRT estimate against the range of the models its fold was fitted on."""
  est = r.truth + gpirt
  return _estn.classify_regimes(_estn.edge_margin(est, r.range_lo, r.range_hi), est > r.range_hi, r.spread, q_zone)


def _one_hot(name: str) -> np.ndarray:
  return np.array([1.0 if k == name else 0.0 for k in _estn.BLEND_PARTS])


def regime_weights(parts: np.ndarray, gpirt: np.ndarray, regime: np.ndarray, lam: float, iid: np.ndarray
                   ) -> tuple[dict, dict]:
  """The blend weights of each regime: the candidate with the least validation error there, where it beats gp-IRT.

  Candidates (weights on :data:`tinyjax.tiny.estimation.BLEND_PARTS`): ``gpirt`` (``lam`` on naive, ``1 - lam``
  on p-IRT), ``interior`` (convex weights on p-IRT, diff, ridge and naive with the least squared error on the iid
  folds), ``greg``, ``diff``, and the mixes ``greg+gpirt`` and ``greg+interior`` at greg weights
  :data:`MIX_WEIGHTS`. Beyond the range ("above", "below") the candidates that hold ridge (``interior`` and its
  mixes) are left out: a regression fitted on the train models does not extrapolate. A regime's pool is the
  validation models classified there (an exterior side with fewer than :data:`MIN_POOL` models pools both sides,
  and both sides with fewer pool with the edge zone: the models nearest to them); in a pool of at least
  :data:`MIN_POOL` models the candidate with the least mean absolute error is used, so a part enters a regime only
  where it beats gp-IRT there. A smaller pool keeps gp-IRT. A candidate's error leaves out the parts it gives no
  weight; a candidate whose mean absolute error is not finite (a part it uses was not measured for a model of the
  pool) is never chosen (it stays in ``info`` with its value).

  Args:
    parts: [n_val, P] validation errors of the parts. gpirt: [n_val] validation errors of gp-IRT.
    regime: [n_val] regime index of each validation model. lam: the gp-IRT weight on naive.
    iid: [n_val] bool, the iid-fold models (where ``interior`` is fitted).

  Returns:
    ``(weights, info)``: regime name -> [P] weights (tuple of floats); regime name -> dict with ``n`` (pool size),
    ``pool`` (the regimes pooled), ``choice`` (the candidate used) and ``mae`` (candidate -> validation MAE on the
    pool, fractions; empty below :data:`MIN_POOL`).
  """
  names = _estn.REGIMES
  gp = lam * _one_hot(_est.DESIGN) + (1.0 - lam) * _one_hot(_est.MODEL)
  inner = np.array(blend_weights(parts[iid], np.array([k in _est.INTERIOR for k in _estn.BLEND_PARTS])))
  candidates = {_est.GPIRT: gp, "interior": inner}
  for k in _est.ALONE:                    # the exterior estimator first, then the other single parts
    candidates[k] = _one_hot(k)
  for k in _est.EXTERIOR:
    for a in MIX_WEIGHTS:
      candidates[f"{k}+{_est.GPIRT} {a:g}"] = a * candidates[k] + (1 - a) * gp
      candidates[f"{k}+interior {a:g}"] = a * candidates[k] + (1 - a) * inner
  sides = [names.index("above"), names.index("below")]
  weights, info = {}, {}
  for j, name in enumerate(names):
    pool_ids = [j]
    if j in sides and np.sum(regime == j) < MIN_POOL:
      pool_ids = sides                                     # a thin side pools both sides ...
      if np.sum(np.isin(regime, sides)) < MIN_POOL:
        pool_ids = [names.index("edge")] + sides           # ... and thin sides pool with the edge zone
    pool = np.isin(regime, pool_ids)
    n = int(pool.sum())
    maes = {}
    if n >= MIN_POOL:
      for c, w in candidates.items():
        if j in sides and "interior" in c:
          continue
        # a part a candidate does not use never enters its error (an unmeasured part's NaN times 0 is NaN)
        err = gpirt[pool] if c == _est.GPIRT else np.where(w != 0, parts[pool], 0.0) @ w.astype(parts.dtype)
        maes[c] = float(np.mean(np.abs(err)))
    usable = {c: m for c, m in maes.items() if np.isfinite(m)}   # a non-finite error is never the least
    choice = min(usable, key=usable.get) if usable else _est.GPIRT
    weights[name] = tuple(float(x) for x in candidates[choice])
    info[name] = {"n": n, "pool": [names[i] for i in pool_ids], "choice": choice, "mae": maes}
  return weights, info


def _adaptive_summary(r: AdaptiveResiduals, iid: np.ndarray, static_err: np.ndarray, level: float,
                      budget: int) -> dict:
  """What the validation folds measured of adaptive testing against the static recommended estimate, and which
  workflow is recommended (:func:`recommend_workflow`)."""
  err = r.error
  tail = ~iid
  scale = r.spread * (1.0 + r.dist)
  out = {"budget": int(budget),
         "mae_adaptive": float(np.mean(np.abs(err[iid]))),
         "mae_static": float(np.mean(np.abs(static_err[iid]))),
         "mae_adaptive_tail": float(np.mean(np.abs(err[tail]))) if tail.any() else float("nan"),
         "mae_static_tail": float(np.mean(np.abs(static_err[tail]))) if tail.any() else float("nan"),
         "n_tail_side": int(tail.sum() // 2),
         "q": _est.conformal_quantile(np.abs(err[iid]) / scale[iid], level),
         "q_ext": _est.conformal_quantile(np.abs(err[tail]) / scale[tail], level) if tail.sum() >= MIN_POOL
         else _est.conformal_quantile(np.abs(err) / scale, level)}
  out["q_ext"] = max(out["q"], out["q_ext"])
  out["workflow"] = recommend_workflow(out)
  return out


def recommend_workflow(summary: dict) -> str:
  """"adaptive" when adaptive testing's validation MAE is below the static estimate's on the iid folds and not above
  it on the tail fold (models beyond the train range), and the tail fold holds at least :data:`MIN_TAIL_ADAPTIVE`
  models on each side; else "static".

  Adaptive testing estimates from the IRT model alone (p-IRT of the items it chose), so a new model beyond the
  train range gets an extrapolation that only the tail fold can check: with fewer tail models than that, the
  check is too thin to trust (alpaca_eval2 in docs/accuracy.md: 9 per side looked fine and the strongest quarter
  of the models then came out 6-14 points off), and the static workflow, whose blend keeps design-based parts,
  is recommended.
  """
  better_iid = summary["mae_adaptive"] < summary["mae_static"]
  tail_ok = np.isfinite(summary["mae_adaptive_tail"]) and summary["mae_adaptive_tail"] <= summary["mae_static_tail"]
  enough = summary.get("n_tail_side", 0) >= MIN_TAIL_ADAPTIVE
  return "adaptive" if better_iid and tail_ok and enough else "static"


def _calibrate_one(r: FoldResiduals, level: float, adaptive: AdaptiveResiduals | None = None,
                   budget: int | None = None) -> tuple[Calibration, np.ndarray, np.ndarray]:
  """The calibration of one benchmark from its validation residuals ``r`` (:meth:`FoldResiduals.bench`).

  Returns:
    ``(calibration, errors, regime)``: errors [len(CALIBRATED), n_val] of every calibrated estimator (the blend and
    gp-IRT as the validation models get them) and regime [n_val], each model's regime index.
  """
  iid = ~r.tail
  design_err, model_err = r.of(_est.DESIGN), r.of(_est.MODEL)
  # gp-IRT as in tinyBenchmarks: weight and interval from the iid validation folds only.
  nm, pm = float(np.mean(design_err[iid] ** 2)), float(np.mean(model_err[iid] ** 2))
  lam = _est.gpirt_lambda(nm, pm)
  g = lam * design_err + (1 - lam) * model_err
  q = _est.conformal_quantile(np.abs(g[iid]) / r.spread[iid], level)
  dt = _est.working_dtype()
  design = float(dt.type(nm) / max(np.mean(r.nvar[iid], dtype=dt), dt.type(1e-12)))
  lam_m = _estn.model_lambda(pm, design * r.nvar)
  gm = lam_m * design_err + (1 - lam_m) * model_err
  q_m = _est.conformal_quantile(np.abs(gm[iid]) / r.spread[iid], level)
  # Interior calibration: the iid folds. Exterior: the tail fold, whose validation models all lie beyond the range
  # of the models their IRT model and anchors were fitted on.
  pools = [iid, r.tail if r.tail.sum() >= MIN_POOL else np.ones_like(iid)]
  q_zone = _est.conformal_quantile(np.abs(r.of(_est.POSITION)[pools[1]]) / r.spread[pools[1]], level)
  # Every validation model (iid folds and tail fold) is classified and blended as a new model in its place would be.
  regime = _regime_pools(r, g, q_zone)
  parts = _est.blend_matrix(r.of)                                                              # [n_val, P]
  regime_w, regime_info = regime_weights(parts, g, regime, lam, iid)
  rw = np.array([regime_w[k] for k in _estn.REGIMES], dt)                                     # [R, P]
  errors = dict(zip(_est.RAW, r.errors))
  errors[_est.BLEND] = np.sum(np.where(rw[regime] != 0, parts, 0.0) * rw[regime], axis=1)   # unweighted NaN parts out
  errors[_est.GPIRT] = g
  scale = r.spread * (1.0 + r.dist)
  # Edge zone: tail-fold models whose estimate fell inside their fold's range (beyond it in truth).
  edge_in = pools[1] & r.tail & (r.dist == 0)
  mults = []
  for k in CALIBRATED:
    e = np.abs(errors[k])
    q_in = _est.conformal_quantile(e[pools[0]] / scale[pools[0]], level)
    q_ext = _est.conformal_quantile(e[pools[1]] / scale[pools[1]], level)
    q_e = _est.conformal_quantile(e[edge_in] / r.spread[edge_in], level)
    # Exterior, per side: at least the pooled multiplier, and that of the tail models on the same side (estimate
    # below / above the median of their fold's fit).
    sides = []
    for sgn in (-1.0, 1.0):
      m = pools[1] & r.tail & (r.side == sgn)
      q_s = _est.conformal_quantile(e[m] / scale[m], level)
      sides.append(max(q_ext, q_s if np.isfinite(q_s) else -np.inf))
    scored = k != _est.GPIRT     # gp-IRT's validation MAE is Calibration.gpirt_mae
    mults.append(Multipliers(q_in, q_ext, max(q_in, q_ext, q_e if np.isfinite(q_e) else -np.inf), *sides,
                             float(np.mean(e[iid])) if scored else None,
                             float(np.mean(e[pools[1]])) if scored else None))
  summary = None if adaptive is None else _adaptive_summary(adaptive, iid, errors[_est.BLEND], level, budget)
  calib = Calibration(lam=lam, q=q, naive_mse=nm, pirt_mse=pm, gpirt_mae=float(np.mean(np.abs(g[iid]))),
                      n_val=int(iid.sum()), design=float(design), q_model=q_m,
                      gpirt_model_mae=float(np.mean(np.abs(gm[iid]))), estimators=tuple(mults),
                      regime_w=regime_w, regime_info=regime_info, n_ext=int(pools[1].sum()), q_zone=float(q_zone),
                      n_edge=int(edge_in.sum()), adaptive=summary)
  return calib, np.stack([errors[k] for k in CALIBRATED]), regime


def calibrate(Y, benches, *, strategy, seed, kind, dim, priors, n_folds, n_restarts, level, method, progress,
              cache=None, adaptive_budget: int | None = None,
              missing_fractions: Sequence[float] = MISSING_FRACTIONS, tail_fraction: float | None = None,
              range_quantiles=None) -> list[tuple[Calibration, dict]]:
  """Calibrates every benchmark on validation folds of the train models ``Y`` [N, I].

  The same folds are calibrated again with each of ``missing_fractions`` of every validation model's anchors
  hidden (:func:`hide_anchors`), into ``Calibration.missing``: the gp-IRT weight, the regime blends and the
  multipliers for models that left that share of the anchors unanswered.

  Returns:
    One ``(Calibration, residuals)`` per benchmark; residuals: name -> [n_val] per validation model, the errors
    of every estimator of :data:`CALIBRATED`, its Bernoulli ``spread``, its distance ``dist`` beyond its fold's
    train range, whether it is in the ``tail`` fold, and its ``side`` (sign of its estimate minus the median of
    its fold's train scores), its ``regime`` and, with ``adaptive_budget`` (one benchmark only), the error of
    adaptive testing at that budget (``adaptive``). ``tail_fraction`` and ``range_quantiles`` override
    :data:`TAIL_FRACTION` and ``tinyjax.tiny.estimation.RANGE_QUANTILES`` (experiments, ``benchmarks/accuracy.py``).
  """
  if n_folds is None:
    n_folds = 5 if Y.shape[0] < 500 else 1
  if adaptive_budget is not None and len(benches) != 1:
    raise ConfigError("adaptive testing is compared on one benchmark only (a TinyBenchmark)")
  fractions = tuple(float(f) for f in missing_fractions)
  if any(not 0.0 < f < 1.0 for f in fractions):
    raise ConfigError(f"missing_fractions must lie in (0, 1), got {fractions}")
  res, res_missing, adaptive = _fold_residuals(Y, benches, strategy, seed, kind, dim, priors, n_folds, n_restarts,
                                               method, progress, cache, adaptive_budget, fractions, tail_fraction,
                                               range_quantiles)
  out = []
  for j in range(len(benches)):
    r = res.bench(j)
    calib, errors, regime = _calibrate_one(r, level, adaptive, adaptive_budget)
    missing = {f"{f:g}": _calibrate_one(res_missing[f].bench(j), level)[0] for f in fractions}
    calib = dataclasses.replace(calib, missing=missing or None)
    # The public view (TinyBenchmark.diagnostics): name -> [n_val].
    view = dict(zip(CALIBRATED, errors))
    view.update(spread=r.spread, dist=r.dist, tail=r.tail, side=r.side, regime=regime)
    if adaptive is not None:
      view["adaptive"] = adaptive.error
    out.append((calib, {k: np.asarray(v) for k, v in view.items()}))
  return out
