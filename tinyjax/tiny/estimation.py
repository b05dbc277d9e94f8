"""Estimation: from a model's answers on the anchors to every estimator, its regime and its interval.

``raw_estimates`` computes, for each benchmark, naive, p-IRT, diff, greg and ridge at the model's fitted ability
(MLE, MAP where it diverges), with the model's Bernoulli spread. ``combine`` applies a calibration
(:mod:`tinyjax.tiny.calibration`): the gp-IRT weight, the blend of the model's regime (exterior when its
difference estimate lies outside the train models' score range) and the conformal interval of every estimator.
The same two functions estimate the validation models during calibration and new models afterwards.
All arithmetic runs in ``tinyjax.tiny.estimators.working_dtype()`` (JAX's default float), one precision per estimate.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple, Sequence

import numpy as np

from tinyjax.tiny import anchors as _anchors
from tinyjax.tiny import estimators as _est
from tinyjax.errors import ConfigError
from tinyjax.irt import estimate_ability, fit_irt

log = logging.getLogger("tinyjax.tiny")
BLEND_PARTS = _est.PARTS   # what the recommended estimate blends, in the order of its weight vectors
RANGE_QUANTILES = (0.0, 1.0)   # a model outside this range (quantiles) of the train scores is "exterior"
# Where a model's gp-IRT estimate lies against the train models' score range (classify_regimes): inside and away
# from the edges, near an edge (either side), above the range, below it. Each regime has its own blend weights.
REGIMES = ("interior", "edge", "above", "below")
LAM_MODES = ("global", "model")
DEFAULT_LAM_MODE = "global"    # gp-IRT weight: "global" (one per benchmark) or "model" (per model)


@dataclasses.dataclass(frozen=True)
class Bench:
  """One benchmark inside a tiny benchmark or leaderboard."""

  name: str
  cols: np.ndarray                # [I_b] global item indices of this benchmark
  item_weights: np.ndarray        # [I_b] item weights within the benchmark (sum to 1)
  groups: np.ndarray | None       # [I_b] sub-group labels (for "stratified"), or None
  n_anchors: int


true_scores = _est.true_scores   # the one full-score weighted mean (tinyjax.tiny.estimators)


def score_range(truth: np.ndarray, quantiles=None) -> tuple[float, float]:
  """The train models' score range: the ``quantiles`` (default :data:`RANGE_QUANTILES`) of their scores ``truth``."""
  lo, hi = np.quantile(truth, RANGE_QUANTILES if quantiles is None else quantiles)
  return float(lo), float(hi)


def range_position(estimate: np.ndarray, train_truth: np.ndarray, quantiles=None):
  """Where each estimate [M] lies against the train models' score range.

  Returns:
    ``(dist, above, gap)``, [M] each: the distance outside the range in SDs of the train scores (0 inside),
    whether the estimate is above the range, and how far it lies inside the range from the nearer edge (0
    outside).
  """
  lo, hi = score_range(train_truth, quantiles)
  sd = max(float(np.std(train_truth)), 1e-6)
  dist = np.maximum(np.maximum(estimate - hi, lo - estimate), 0.0) / sd
  return dist, estimate > hi, np.maximum(np.minimum(hi - estimate, estimate - lo), 0.0)


def edge_margin(estimate: np.ndarray, lo, hi) -> np.ndarray:
  """Signed distance of each estimate to the nearer edge of the score range ``[lo, hi]`` (arrays broadcast), in
  score units: positive inside the range, negative beyond it."""
  return np.minimum(hi - estimate, estimate - lo)


def classify_regimes(margin: np.ndarray, above: np.ndarray, spread: np.ndarray, q_zone) -> np.ndarray:
  """[...] int index into :data:`REGIMES` of each model (arrays of one shape, ``q_zone`` broadcast).

  "edge": the estimate lies within ``q_zone`` Bernoulli spreads of the nearer edge of the train range, on either
  side (``|margin| < q_zone * spread``: too close to tell inside from beyond). Farther out: "above" or "below";
  farther in: "interior".

  Args:
    margin: :func:`edge_margin` of the estimate that places the model (gp-IRT's). above: it lies above the range.
    spread: the model's Bernoulli spread. q_zone: the edge zone's width in spreads (``Calibration.q_zone``).
  """
  zone = q_zone * spread
  out = np.where(margin < 0, np.where(above, 2, 3), 0)
  return np.where(np.abs(margin) < zone, 1, out).astype(np.int64)


def range_distance(estimate: np.ndarray, train_truth: np.ndarray, quantiles=None) -> np.ndarray:
  """[M] how far each estimate lies outside the train models' score range, in SDs of their scores."""
  return range_position(estimate, train_truth, quantiles)[0]


def model_lambda(pirt_mse: float, naive_var: np.ndarray) -> np.ndarray:
  """Per-model gp-IRT weight on naive, ``b2 / (b2 + v_j)`` with the model's own naive variance ``v_j``."""
  dt = _est.working_dtype()
  v = np.maximum(np.asarray(naive_var, dt), 0.0)
  pirt_mse = dt.type(pirt_mse)
  den = pirt_mse + v
  return np.where(den > 0, pirt_mse / np.where(den > 0, den, 1.0), 0.5)


def fit_irt_model(Y, kind, dim, priors, dims, progress, *, seed):
  kw = {} if priors is None else {"priors": priors}
  if dim == "auto":
    return fit_irt(Y, kind=kind, dim="auto", dims=dims, seed=seed, progress=progress, **kw)
  return fit_irt(Y, kind=kind, dim=int(dim), seed=seed, progress=progress, **kw)


def select_anchor_sets(Y: np.ndarray, model, benches: Sequence[Bench], strategy: str, n_restarts: int, *,
                       seed: int) -> list[_anchors.Anchors]:
  """One anchor set per benchmark (benchmark j draws with seed ``seed + 1009 j``)."""
  out = []
  for j, bench in enumerate(benches):
    sub = model.subset(bench.cols) if model is not None else None
    out.append(_anchors.select_anchors(Y[:, bench.cols], bench.n_anchors, strategy, seed=seed + 1009 * j,
                                       item_weights=bench.item_weights, groups=bench.groups, irt_model=sub,
                                       n_restarts=n_restarts))
  return out


def abilities(model, Y_anchor, items, method, batch_size):
  """[M, d] abilities from the answers on ``items``; "mle" falls back to MAP on the rows where it diverges."""
  if method != "mle":
    return estimate_ability(model, Y_anchor, items=items, method=method, batch_size=batch_size).theta
  # MLE (no shrinkage towards the train mean, which biases p-IRT for extreme models); rows whose MLE
  # diverges (all anchors right or all wrong) fall back to MAP.
  ab = estimate_ability(model, Y_anchor, items=items, method="mle", batch_size=batch_size)
  theta = np.array(ab.theta, dtype=_est.working_dtype())
  bad = np.asarray(ab.diverged, bool) | ~np.all(np.isfinite(theta), axis=1)
  if bad.any():
    theta[bad] = estimate_ability(model, Y_anchor[bad], items=items, method="map").theta
  return theta


def asked_mask(items: np.ndarray, n_items: int) -> np.ndarray:
  """[M, I] bool mask of the items in ``items`` [M, budget] (item indices, -1 = none)."""
  items = np.asarray(items)
  mask = np.zeros((items.shape[0], n_items + 1), bool)
  np.put_along_axis(mask, np.where(items >= 0, items, n_items), True, axis=1)
  return mask[:, :n_items]


def adaptive_estimates(model, Y: np.ndarray, asked: np.ndarray, item_weights: np.ndarray, method: str,
                       batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """p-IRT full-score estimates [M] and abilities [M, d] of models tested adaptively.

  The ability is re-estimated from the asked items' answers by ``method`` (as :func:`abilities`: "mle" falls
  back to MAP where it diverges), so that an adaptive test and the static anchors place a model the same way;
  asked items count for their answers, the others for their predicted probabilities.

  Args:
    model: the IRT model over the benchmark's I items.
    Y: [M, I] answers (read only where ``asked``). asked: [M, I] bool, the items each model was asked.
    item_weights: [I] item weights of the full score. method: "mle", "map" or "eap".
  """
  dt = _est.working_dtype()
  Y_asked = np.where(asked, np.asarray(Y, dt), np.nan)
  theta = abilities(model, Y_asked, np.arange(model.n_items), method, batch_size)
  p = np.asarray(model.predict_proba(theta), dt)
  # p-IRT of the asked items: every item is a possible anchor, the unasked ones count as unanswered.
  return _est.pirt_estimate(Y_asked, np.arange(model.n_items), np.asarray(item_weights, dt), p), theta


def anchor_columns(benches: Sequence[Bench], anchor_sets: Sequence[_anchors.Anchors]) -> np.ndarray:
  """[sum K_b] global item indices of all anchors, benchmark by benchmark (the order answers come in)."""
  return np.concatenate([b.cols[a.indices] for b, a in zip(benches, anchor_sets)])


def filled_answers(model, theta, Y_anchor: np.ndarray, glob: np.ndarray) -> np.ndarray:
  """[M, K] answers on the items ``glob`` with each missing one replaced by the IRT probability at ``theta`` [M, d]
  (what the regressions of tiny benchmarks and suites read)."""
  if not np.isnan(Y_anchor).any():
    return Y_anchor
  p = np.asarray(model.predict_proba(theta, items=glob), Y_anchor.dtype)
  return np.where(np.isnan(Y_anchor), p, Y_anchor)


def fit_regressions(model, Y: np.ndarray, benches: Sequence[Bench], glob: np.ndarray) -> list:
  """One ridge regression per benchmark of its full score on all anchor answers of the train models ``Y``."""
  theta = getattr(model, "theta", None)
  ya = np.asarray(Y[:, glob], _est.working_dtype())
  if np.isnan(ya).any():
    if theta is not None and np.shape(theta)[0] == Y.shape[0]:
      ya = filled_answers(model, np.asarray(theta), ya, glob)
    else:
      ya = np.where(np.isnan(ya), np.nanmean(ya, axis=0)[None, :], ya)
  return [_est.fit_score_regression(ya, true_scores(Y[:, b.cols], b.item_weights)) for b in benches]


def raw_estimates(model, benches: Sequence[Bench], anchor_sets: Sequence[_anchors.Anchors], Y_anchor: np.ndarray,
                  method: str, batch_size: int | None, regs: Sequence) -> _est.RawEstimates:
  """Every estimator of ``tinyjax.tiny.estimators.RAW`` from answers on all anchors concatenated [M, sum K_b].

  Estimators of kind "anchors" run per benchmark on the rows that answered one of its anchors (the others get the
  IRT prediction ``p @ m``); kind "regression" applies the ridge regressions ``regs`` (one per benchmark) to the
  answers, missing ones filled with their IRT probabilities.
  """
  dt = _est.working_dtype()
  Y_anchor = np.asarray(Y_anchor, dt)
  glob = anchor_columns(benches, anchor_sets)
  theta = abilities(model, Y_anchor, glob, method, batch_size)
  M, B = Y_anchor.shape[0], len(benches)
  values = np.empty((len(_est.RAW), M, B), dt)
  spread, nvar = np.empty((M, B), dt), np.empty((M, B), dt)
  filled = filled_answers(model, theta, Y_anchor, glob)
  for name in _est.FITTED:
    values[_est.RAW.index(name)] = np.stack([_est.regression_estimate(filled, r) for r in regs], axis=1)
  start = 0
  for j, (bench, anc) in enumerate(zip(benches, anchor_sets)):
    k = anc.indices.shape[0]
    ya = Y_anchor[:, start:start + k]
    start += k
    p = np.asarray(model.predict_proba(theta, items=bench.cols), dt)
    obs_any = ~np.all(np.isnan(ya), axis=1)
    m = np.asarray(bench.item_weights, dt)
    pred = p @ m
    inputs = _est.AnchorInputs(ya[obs_any], anc.indices, anc.weights, m, p[obs_any])
    for name in _est.FROM_ANCHORS:
      v = pred.copy()                     # no anchor answered: the IRT prediction only
      if obs_any.any():
        v[obs_any] = _est.BY_NAME[name].compute(inputs)
      values[_est.RAW.index(name), :, j] = v
    spread[:, j] = _est.bernoulli_scale(p, m)
    # Model-wise Bernoulli variance of the naive estimate: sum_k w_k^2 p_k (1 - p_k) over answered anchors.
    pa = p[:, anc.indices]
    w = np.where(np.isnan(ya), 0.0, np.asarray(anc.weights, dt)[None, :])
    w = w / np.maximum(w.sum(1, keepdims=True), np.finfo(dt).tiny)
    nvar[:, j] = np.sum(w ** 2 * pa * (1 - pa), axis=1)
  return _est.RawEstimates(values, spread, nvar, theta)


class Combined(NamedTuple):
  """Calibrated estimates of M models on B benchmarks (:func:`combine`), in the working dtype."""

  values: np.ndarray     # [len(NAMES), M, B] every estimator of tinyjax.tiny.estimators.NAMES, clipped to [0, 1]
  lo: np.ndarray         # [len(NAMES), M, B] lower ends of the intervals
  hi: np.ndarray         # [len(NAMES), M, B] upper ends
  exterior: np.ndarray   # [M, B] bool, the position estimate lies outside the train models' score range
  regime: np.ndarray     # [M, B] int index into REGIMES


def combine(raw: _est.RawEstimates, calibs: Sequence, train_scores: Sequence[np.ndarray],
            lam_mode: str | None = None, range_quantiles=None) -> Combined:
  """Estimates and intervals of new models from :func:`raw_estimates` and one calibration per benchmark.

  ``range_quantiles`` overrides :data:`RANGE_QUANTILES` (the train range's ends; experiments).
  """
  dt = _est.working_dtype()
  naive, pirt, spread, nvar = raw.of(_est.DESIGN), raw.of(_est.MODEL), raw.spread, raw.nvar
  if lam_mode is None:
    lam_mode = DEFAULT_LAM_MODE
  if lam_mode == "global":
    lam = np.array([c.lam for c in calibs], dt)[None, :]
    q = np.array([c.q for c in calibs], dt)
  elif lam_mode == "model":
    lam = np.stack([model_lambda(c.pirt_mse, c.design * nvar[:, j]) for j, c in enumerate(calibs)], 1)
    q = np.array([c.q_model for c in calibs], dt)
  else:
    raise ConfigError(f"lam_mode must be one of {LAM_MODES}, got {lam_mode!r}")
  gp = lam * naive + (1 - lam) * pirt
  # Regime of each model and benchmark: exterior when its position estimate is outside the train range.
  position = raw.of(_est.POSITION)
  dist, above, gap = (np.stack(x, axis=1) for x in zip(*(                                   # [M, B] each
      range_position(position[:, j], ts, range_quantiles) for j, ts in enumerate(train_scores))))
  ext = dist > 0
  q_zone = np.array([c.q_zone for c in calibs], dt)[None, :]
  # Which blend: the regime of the gp-IRT estimate (steadier than diff's, so noise alone rarely puts an interior
  # model beyond the range). Which interval multiplier: the position estimate's, as calibrated.
  lo_r, hi_r = np.array([score_range(ts, range_quantiles) for ts in train_scores], dt).T[:, None, :]        # [1, B] each
  regime = classify_regimes(edge_margin(gp, lo_r, hi_r), gp > hi_r, spread, q_zone)
  zone = ~ext & (gap < q_zone * spread)     # intervals: inside the range, near its edge
  spread = spread * (1.0 + dist)
  rw = np.array([[c.regime_w[r] for r in REGIMES] for c in calibs], dt)                  # [B, R, P]
  w = rw[np.arange(len(calibs))[None, :], regime]                                           # [M, B, P]
  parts = _est.blend_matrix(lambda k: np.nan_to_num(raw.of(k)))                             # [M, B, P]
  blend = np.sum(w * parts, axis=-1)
  est = {k: np.clip(raw.of(k), 0.0, 1.0) for k in _est.RAW}
  est[_est.GPIRT] = np.clip(gp, 0.0, 1.0)
  est[_est.BLEND] = np.clip(blend, 0.0, 1.0)
  values = np.stack([est[k] for k in _est.NAMES])
  lo, hi = np.empty_like(values), np.empty_like(values)
  for i, k in enumerate(_est.NAMES):
    if k == _est.GPIRT and lam_mode == "model":
      qk = np.broadcast_to(q[None, :], ext.shape)
    else:
      mult = [c.multipliers(k) for c in calibs]
      q_in = np.array([m.interior for m in mult], dt)
      q_side = np.array([(m.below, m.above) for m in mult], dt)                                # [B, 2]
      q_out = np.where(above, q_side[None, :, 1], q_side[None, :, 0])                       # [M, B]
      q_edge = np.array([m.edge for m in mult], dt)
      qk = np.where(ext, q_out, np.where(zone, q_edge[None, :], q_in[None, :]))
    # (For interior models, edge zone included, the distance is 0: the scale is the Bernoulli spread.)
    lo[i] = np.clip(est[k] - qk * spread, 0.0, 1.0)
    hi[i] = np.clip(est[k] + qk * spread, 0.0, 1.0)
  return Combined(values, lo, hi, ext, regime)


def missing_fractions(Y_anchor: np.ndarray, anchor_sets: Sequence[_anchors.Anchors]) -> np.ndarray:
  """[M, B] the share of each benchmark's anchors every model left unanswered (NaN) in ``Y_anchor`` [M, sum K_b]."""
  out, start = [], 0
  for anc in anchor_sets:
    k = anc.indices.shape[0]
    out.append(np.mean(np.isnan(Y_anchor[:, start:start + k]), axis=1))
    start += k
  return np.stack(out, axis=1)


def combine_missing(raw: _est.RawEstimates, calibs: Sequence, train_scores: Sequence[np.ndarray], missing: np.ndarray,
                    lam_mode: str | None = None, n_anchors: Sequence[int] | None = None,
                    range_quantiles=None) -> Combined:
  """:func:`combine` for models with unanswered anchors: each model gets the calibrations measured with the nearest
  shares of hidden anchors (``Calibration.by_missing``), interpolated linearly in its own share ``missing``.

  Every estimate and both ends of every interval are interpolated between the two calibrations around the model's
  share (exactly the complete-answer calibration at share 0, so complete answers are estimated as by
  :func:`combine`); ``regime`` and ``exterior`` come from the nearer of the two. Beyond the largest calibrated
  share ``f_G`` the interval of that calibration is widened by ``sqrt((1 - f_G) / (1 - f))`` (the anchors' sampling
  error grows as one over the square root of the anchors answered; ``1 - f`` at least one anchor's share).
  Calibrations without missing-answer ones (tiny benchmarks saved before they existed) give :func:`combine`.

  Args:
    raw: :func:`raw_estimates`. calibs: one calibration per benchmark. train_scores: the train models' scores per
    benchmark. missing: [M, B] share of each benchmark's anchors unanswered. lam_mode: as for :func:`combine`.
    n_anchors: [B] anchors per benchmark (the smallest share ``1 - f`` beyond the grid is one anchor's).
    range_quantiles: as for :func:`combine`.

  Returns:
    :class:`Combined`, as :func:`combine`.
  """
  grids = [c.by_missing() for c in calibs]
  fr = grids[0][0]
  if fr.shape[0] == 1 or any(g[0].shape != fr.shape or np.any(g[0] != fr) for g in grids):
    if np.any(missing > 0):
      log.warning("this tiny benchmark was calibrated for complete answers only (saved before missing answers "
                  "were calibrated): intervals of models with unanswered anchors are too narrow; rebuild it")
    return combine(raw, calibs, train_scores, lam_mode, range_quantiles)
  runs = [combine(raw, [g[1][i] for g in grids], train_scores, lam_mode, range_quantiles)
          for i in range(fr.shape[0])]
  dt = _est.working_dtype()
  f = np.clip(np.asarray(missing, dt), 0.0, 1.0)                                               # [M, B]
  a = np.clip(np.searchsorted(fr, f, side="right") - 1, 0, fr.shape[0] - 2)
  t = np.clip((f - fr[a]) / (fr[a + 1] - fr[a]), 0.0, 1.0).astype(dt)
  pick = lambda arrs, i: np.take_along_axis(np.stack(arrs), i[None], axis=0)[0]                # noqa: E731
  lerp = lambda arrs: pick(arrs, a) + t * (pick(arrs, a + 1) - pick(arrs, a))                 # noqa: E731
  near = np.where(t < 0.5, a, a + 1)
  k_min = np.ones(f.shape[1]) if n_anchors is None else np.asarray(n_anchors, dt)
  widen = np.sqrt((1.0 - fr[-1]) / np.maximum(1.0 - f, 1.0 / k_min[None, :]))
  widen = np.where(f > fr[-1], np.maximum(widen, 1.0), 1.0).astype(dt)
  values, lo, hi = np.empty_like(runs[0].values), np.empty_like(runs[0].lo), np.empty_like(runs[0].hi)
  wide = widen > 1.0
  for i in range(values.shape[0]):
    e = values[i] = lerp([r.values[i] for r in runs])
    lo_i, hi_i = lerp([r.lo[i] for r in runs]), lerp([r.hi[i] for r in runs])
    lo[i] = np.where(wide, np.clip(e - (e - lo_i) * widen, 0.0, 1.0), lo_i)
    hi[i] = np.where(wide, np.clip(e + (hi_i - e) * widen, 0.0, 1.0), hi_i)
  return Combined(values, lo, hi, pick([r.exterior for r in runs], near), pick([r.regime for r in runs], near))
