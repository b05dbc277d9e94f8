"""Full-benchmark score estimators from a model's answers on a few anchor items, batched over models.

Notation: ``m`` [I] are the item weights (sum to 1; the full score of a model is ``sum_i m_i y_i``),
anchors are item indices ``S`` [K] with weights ``w`` [K] (sum to 1), ``p`` [M, I] are IRT-predicted
probabilities of a correct answer at each model's fitted ability.

- naive: the weighted anchor mean, ``sum_k w_k y_k`` over the observed anchors (weights renormalised
  over the observed ones when some answers are NaN).
- p-IRT (Maia Polo et al. 2024): observed anchors count for their own mass and every other item for
  its predicted probability, ``sum_{i in S, observed} m_i y_i + sum_{i otherwise} m_i p_i``. With uniform
  mass this is ``lam * mean(anchor answers) + (1 - lam) * mean(predictions on unseen items)`` with
  ``lam = K / I``, the reference definition.
- diff: the difference estimator ``sum_i m_i p_i + sum_k w_k (y_k - p_k)``, i.e. naive corrected by the
  IRT-predicted gap between all items and the anchors.
- greg: the regression estimator of survey sampling, ``naive + b (sum_i m_i p_i - sum_k w_k p_k)``, with the slope
  ``b`` of the model's own anchor answers on their predictions (``b = 0`` is naive, ``b = 1`` diff).
- gp-IRT: ``lam * naive + (1 - lam) * pirt`` with ``lam = b2 / (b2 + v)``, where ``b2`` is the
  mean squared error of p-IRT (the IRT model's bias) and ``v`` that of the naive estimator (the anchor
  sampling variance), both measured on validation models. The reference code takes ``b`` as the
  validation error of the IRT part and ``v`` as the mean per-model item variance divided by K (random
  anchors) or 4K (clustered anchors); :func:`reference_gpirt_lambda` gives that variant.

Every function here takes and returns numpy arrays; the per-model work is one jitted matrix expression.

Precision: one estimate is computed in one precision, the working dtype :func:`working_dtype`, JAX's default
float (float32; float64 when the user turned on ``jax_enable_x64``). The p-IRT kernel and every numpy expression
here (naive, diff, greg, ridge, gp-IRT, the Bernoulli spread, conformal quantiles) cast their inputs to it and
return arrays of it, so the blend, the intervals and the calibration on validation folds never mix a float32
JAX result with float64 numpy arithmetic. Callers may store the final results as float64.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax import _buckets
from tinyjax._dtypes import default_float_dtype
from tinyjax.errors import ConfigError, ResponseError, ItemError

_pirt_scores = jax.jit(kernels.pirt_scores)


def working_dtype() -> np.dtype:
  """The dtype of every estimate's arithmetic: JAX's default float (float32, float64 under jax_enable_x64)."""
  return np.dtype(default_float_dtype())


def _tiny(dt) -> float:
  """Smallest positive normal number of ``dt`` (a guard against dividing by an empty sum)."""
  return float(np.finfo(dt).tiny)


def check_item_weights(item_weights, n_items: int) -> np.ndarray:
  """The [I] weights of the items in the full score, validated and normalised to sum to 1 (uniform if None).

  Kept in float64 (they are data, also used to choose anchors); each estimator casts them to its working dtype.
  """
  if item_weights is None:
    return np.full(n_items, 1.0 / n_items)
  m = np.asarray(item_weights, dtype=np.float64)
  if m.shape != (n_items,):
    raise ItemError(f"item_weights must have shape ({n_items},), got {m.shape}")
  if not np.all(np.isfinite(m)) or np.any(m < 0) or m.sum() <= 0:
    raise ItemError("item_weights must be finite, non-negative and not all zero")
  return m / m.sum()


def check_answers(Y_anchor, n_anchors: int, *, model_ids=None) -> np.ndarray:
  """Validated answers on the anchors as [M, n_anchors] of :func:`working_dtype`, in the anchors' order.

  Values go through :func:`tinyjax.data.check_matrix` (in [0, 1], NaN = not answered); every row must answer
  at least one anchor. Columns are taken by position: match named input first
  (:func:`tinyjax.tiny.answers.match_answers`).
  """
  from tinyjax.data import check_matrix

  if not isinstance(Y_anchor, np.ndarray):
    Y_anchor = getattr(Y_anchor, "values", Y_anchor)
  Y = np.asarray(Y_anchor)
  if Y.ndim == 1:
    Y = Y[None, :]
  if Y.ndim != 2 or Y.shape[1] != n_anchors:
    raise ResponseError(f"answers must be [n_models, {n_anchors}] (one column per anchor, in the order of the "
                        f"anchors), got shape {np.shape(Y_anchor)}")
  Y = check_matrix(Y, name="answers")
  empty = np.flatnonzero(np.all(np.isnan(Y), axis=1))
  if empty.size:
    names = [model_ids[i] for i in empty[:10]] if model_ids is not None else empty[:10].tolist()
    raise ResponseError(f"{empty.size} model(s) answered no anchor item, nothing to estimate from: {names}; "
                        "remove those rows (command line: --drop-empty)")
  return Y.astype(working_dtype(), copy=False)


def true_scores(Y, item_weights, dtype=None) -> np.ndarray:
  """The full score: [N] the ``item_weights``-weighted mean over each row's observed (non-NaN) entries of ``Y``
  [N, I], in ``dtype`` (default :func:`working_dtype`); 0 for a row with none."""
  dt = working_dtype() if dtype is None else np.dtype(dtype)
  Y = np.asarray(Y, dt)
  obs = ~np.isnan(Y)
  w = np.where(obs, np.asarray(item_weights, dt)[None, :], 0.0)
  return np.sum(np.where(obs, Y, 0.0) * w, axis=1) / np.maximum(w.sum(axis=1), np.finfo(dt).tiny)


def naive_estimate(Y_anchor, weights) -> np.ndarray:
  """Weighted anchor mean.

  Args:
    Y_anchor: [M, K] answers on the anchors (NaN = not answered).
    weights: [K] anchor weights (non-negative).

  Returns:
    [M] ``sum_k w_k y_k / sum_k w_k`` over each row's observed anchors.
  """
  w = np.asarray(weights, dtype=working_dtype())
  Y = check_answers(Y_anchor, w.shape[0])
  if w.ndim != 1 or np.any(w < 0) or not np.all(np.isfinite(w)):
    raise ConfigError("weights must be a finite, non-negative [K] vector")
  obs = ~np.isnan(Y)
  ww = np.where(obs, w[None, :], 0.0)
  tot = ww.sum(axis=1)
  if np.any(tot <= 0):
    raise ResponseError("some models answered only anchors of zero weight")
  return np.nansum(np.where(obs, Y, 0.0) * ww, axis=1) / tot


def pirt_estimate(Y_anchor, anchors, item_weights, p) -> np.ndarray:
  """p-IRT: observed anchors for themselves, IRT predictions for every other item.

  Args:
    Y_anchor: [M, K] answers on the anchors (NaN = not answered, then predicted like any unseen item).
    anchors: [K] item indices.
    item_weights: [I] item weights summing to 1.
    p: [M, I] predicted probability of a correct answer on every item.

  Returns:
    [M] ``sum_{observed anchors} m_i y_i + sum_{other items} m_i p_i``.
  """
  anchors = np.asarray(anchors, dtype=np.int64)
  Y = check_answers(Y_anchor, anchors.shape[0])
  dt = Y.dtype
  p = np.asarray(p, dtype=dt)
  m = np.asarray(item_weights, dtype=dt)
  if p.ndim != 2 or p.shape[0] != Y.shape[0] or p.shape[1] != m.shape[0]:
    raise ConfigError(f"p must be [{Y.shape[0]}, {m.shape[0]}], got {p.shape}")
  if np.any(anchors < 0) or np.any(anchors >= m.shape[0]):
    raise ItemError("anchor index out of range")
  obs = ~np.isnan(Y)
  # Bucketed shapes (tinyjax._buckets): nearby shapes share one compiled program; the first M scores are kept.
  out = _buckets.pirt_scores(_pirt_scores, np.nan_to_num(Y), obs, p, m, anchors, dt)
  return np.clip(np.asarray(out, dt), 0.0, 1.0)


def _model_assisted_inputs(Y_anchor, anchors, weights, item_weights, p):
  """Checked inputs of the difference and regression estimators: answers Y [M, K], answered mask [M, K], anchor
  weights renormalised over each row's answered anchors [M, K], p [M, I], item weights [I] and anchors [K]."""
  anchors = np.asarray(anchors, dtype=np.int64)
  Y = check_answers(Y_anchor, anchors.shape[0])
  dt = Y.dtype
  p = np.asarray(p, dtype=dt)
  m = np.asarray(item_weights, dtype=dt)
  w = np.asarray(weights, dtype=dt)
  if p.shape != (Y.shape[0], m.shape[0]):
    raise ConfigError(f"p must be [{Y.shape[0]}, {m.shape[0]}], got {p.shape}")
  obs = ~np.isnan(Y)
  ww = np.where(obs, w[None, :], 0.0)
  return Y, obs, ww / np.maximum(ww.sum(1, keepdims=True), _tiny(dt)), p, m, anchors


def difference_estimate(Y_anchor, anchors, weights, item_weights, p) -> np.ndarray:
  """IRT difference estimator: the naive anchor mean corrected by the IRT-predicted gap between all items
  and the anchors, ``sum_i m_i p_i + sum_k w_k (y_k - p_k)`` (weights renormalised over answered anchors).

  This is the model-assisted (difference) estimator of survey sampling: the anchors' mean residual is
  assumed to carry over to the unseen items, so a biased IRT prediction cancels out instead of entering the
  estimate (p-IRT assumes the unseen residuals are zero). It stays close to the naive estimate when the IRT
  model extrapolates badly, and improves on it when the model explains the differences between items.

  Args:
    Y_anchor: [M, K] answers (NaN = not answered). anchors: [K] item indices. weights: [K] anchor weights.
    item_weights: [I] item weights summing to 1. p: [M, I] predicted probabilities.

  Returns:
    [M] estimates, clipped to [0, 1].
  """
  Y, obs, ww, p, m, anchors = _model_assisted_inputs(Y_anchor, anchors, weights, item_weights, p)
  resid = np.where(obs, np.nan_to_num(Y) - p[:, anchors], 0.0)
  return np.clip(p @ m + np.sum(ww * resid, axis=1), 0.0, 1.0)


GREG_MAX_SLOPE = 2.0   # guard against a wild slope where a model's anchor predictions barely vary


def greg_estimate(Y_anchor, anchors, weights, item_weights, p, max_slope: float = GREG_MAX_SLOPE) -> np.ndarray:
  """Regression (GREG) estimator: the difference estimator with its slope fitted to each model's own anchors.

  ``naive + b (sum_i m_i p_i - sum_k w_k p_k)``, where ``b`` is the weighted least-squares slope of the model's
  anchor answers ``y_k`` on their IRT predictions ``p_k``, clipped to ``[0, max_slope]``. ``b = 0`` gives the
  naive mean and ``b = 1`` the difference estimator; the slope says how far this model's answers follow the
  IRT model's item-to-item differences, which matters most for models beyond the train models, where the
  predictions extrapolate. It needs nothing but the model's own answers, so no validation models calibrate
  it (the estimator of Sarndal, Swensson and Wretman's model-assisted survey sampling, with one auxiliary
  variable). Rows whose answered anchors all have the same prediction get ``b = 1``.

  Args:
    Y_anchor: [M, K] answers (NaN = not answered). anchors: [K] item indices. weights: [K] anchor weights.
    item_weights: [I] item weights summing to 1. p: [M, I] predicted probabilities.
    max_slope: upper clip of ``b``.

  Returns:
    [M] estimates, clipped to [0, 1].
  """
  Y, obs, ww, p, m, anchors = _model_assisted_inputs(Y_anchor, anchors, weights, item_weights, p)
  y = np.where(obs, Y, 0.0)
  pa = p[:, anchors]
  ybar, pbar = np.sum(ww * y, axis=1), np.sum(ww * pa, axis=1)
  dp = pa - pbar[:, None]
  var = np.sum(ww * dp ** 2, axis=1)
  cov = np.sum(ww * (y - ybar[:, None]) * dp, axis=1)
  flat = var <= 1e-12
  b = np.where(flat, 1.0, np.clip(cov / np.where(flat, 1.0, var), 0.0, max_slope))
  return np.clip(ybar + b * (p @ m - pbar), 0.0, 1.0)


def gpirt_estimate(naive, pirt, lam: float) -> np.ndarray:
  """gp-IRT: ``lam * naive + (1 - lam) * pirt`` with ``0 <= lam <= 1``."""
  if not 0.0 <= float(lam) <= 1.0:
    raise ConfigError(f"lam must be in [0, 1], got {lam}")
  dt = working_dtype()
  lam = dt.type(lam)
  return lam * np.asarray(naive, dt) + (dt.type(1) - lam) * np.asarray(pirt, dt)


def gpirt_lambda(naive_mse: float, pirt_mse: float) -> float:
  """Mixing weight on the naive estimate, ``pirt_mse / (pirt_mse + naive_mse)``.

  The inverse-MSE weighting of two estimates: the one with the smaller validation error gets more weight.

  Args:
    naive_mse: validation mean squared error of the naive estimate (the anchors' sampling variance).
    pirt_mse: validation mean squared error of p-IRT (the IRT model's squared bias).
  """
  dt = working_dtype()
  v, b2 = dt.type(naive_mse), dt.type(pirt_mse)
  if v < 0 or b2 < 0 or not np.isfinite(v + b2):
    raise ConfigError("mean squared errors must be finite and non-negative")
  if v + b2 == 0:
    return 0.5
  return float(b2 / (b2 + v))


def reference_gpirt_lambda(irt_val_mae: float, item_variance: float, n_anchors: int, clustered: bool) -> float:
  """The reference code's weight: ``b^2 / (b^2 + v)`` with ``b`` the IRT validation absolute error and
  ``v = item_variance / (c K)``, ``c = 4`` for clustered anchors and 1 for random ones."""
  dt = working_dtype()
  v = dt.type(item_variance) / dt.type((4.0 if clustered else 1.0) * int(n_anchors))
  return gpirt_lambda(v, dt.type(irt_val_mae) ** 2)


def conformal_quantile(scores, level: float, dtype=None) -> float:
  """Split-conformal quantile: the ``ceil((n + 1) level)``-th smallest of the ``n`` measured ``scores``.

  The one split-conformal rule of tinyjax (tiny benchmarks, leaderboards and suites). Its edge cases:

  - NaN scores were not measured (e.g. a validation model without that residual) and are left out; +inf counts
    as a score larger than every other.
  - With too few scores for the level (``ceil((n + 1) level) > n``, that is ``n <`` :func:`min_conformal_scores`,
    no score at all included) the quantile is inf: no finite half-width carries the level's guarantee. A caller
    that wants a finite fallback says which where it calls (and ``Suite.fit`` refuses such a benchmark).

  Args:
    scores: [n] non-negative nonconformity scores of validation models.
    level: nominal coverage in (0, 1).
    dtype: precision of the comparison (default :func:`working_dtype`; a suite's residuals in the full scores'
      unit use float64).
  """
  dt = working_dtype() if dtype is None else np.dtype(dtype)
  s = np.asarray(scores, dtype=dt).reshape(-1)
  s = np.sort(s[~np.isnan(s)])
  if not 0.0 < level < 1.0:
    raise ConfigError(f"level must be in (0, 1), got {level}")
  n = s.shape[0]
  r = int(np.ceil((n + 1) * level))
  if n == 0 or r > n:
    return float("inf")
  return float(s[r - 1])


def min_conformal_scores(level: float) -> int:
  """The fewest scores for which :func:`conformal_quantile` at ``level`` is finite."""
  if not 0.0 < level < 1.0:
    raise ConfigError(f"level must be in (0, 1), got {level}")
  n = 1
  while int(np.ceil((n + 1) * level)) > n:
    n += 1
  return n


def bernoulli_scale(p, item_weights) -> np.ndarray:
  """Per-model spread ``sqrt(sum_i m_i p_i (1 - p_i))`` [M], the scale used to normalise interval widths."""
  dt = working_dtype()
  p = np.asarray(p, dt)
  return np.sqrt(np.maximum(p * (1 - p) @ np.asarray(item_weights, dt), 1e-12))


DEFAULT_RIDGE_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


@dataclasses.dataclass(frozen=True)
class ScoreRegression:
  """Ridge regression of the full score on the anchor answers, fitted on the train models."""

  mean: np.ndarray     # [K] feature means of the train models
  coef: np.ndarray     # [K] coefficients on centred answers
  intercept: float     # mean full score of the train models
  alpha: float         # ridge penalty chosen by leave-one-out error


def fit_score_regression(X, y, alphas=DEFAULT_RIDGE_ALPHAS) -> ScoreRegression:
  """Fits ``y ~ intercept + (X - mean) @ coef`` by ridge regression, the penalty chosen by exact
  leave-one-out error (closed form from one SVD of the centred features: ``tinyjax.kernels.ridge_loo``, the rule
  stepwise selection uses).

  This is the regression estimator of the full score (as in metabench and "anchor points" follow-ups): it
  learns from the train models which anchors predict the full score, without an IRT model. It has no
  guarantee outside the range of the train models (it extrapolates linearly), which is why
  :class:`tinyjax.TinyBenchmark` only blends it in with a weight measured on validation folds.

  Args:
    X: [N, K] anchor answers of the train models (no NaN: fill missing answers before).
    y: [N] their full scores.
    alphas: candidate penalties (on the centred, unscaled answers).

  Returns:
    :class:`ScoreRegression`.
  """
  dt = working_dtype()
  X = np.asarray(X, dt)
  y = np.asarray(y, dt)
  if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] < 3:
    raise ResponseError(f"X must be [N, K] and y [N] with N >= 3, got {X.shape} and {y.shape}")
  if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
    raise ResponseError("X and y must be finite (fill missing answers before fitting)")
  mu, ym = X.mean(axis=0), float(y.mean())
  Xc, yc = X - mu, y - ym
  U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
  uy = U.T @ yc
  best = None
  for a in alphas:
    loo = float(kernels.ridge_loo(U, s, uy, yc, a)[1])   # the kernel's formula, run by numpy in this precision
    if best is None or loo < best[0]:
      best = (loo, float(a), Vt.T @ (s / (s ** 2 + a) * uy))
  return ScoreRegression(mean=mu, coef=best[2], intercept=ym, alpha=best[1])


def regression_estimate(X, reg: ScoreRegression) -> np.ndarray:
  """[M] full-score estimates ``intercept + (X - mean) @ coef`` from [M, K] answers (no NaN), unclipped."""
  dt = working_dtype()
  X = np.asarray(X, dt)
  if X.ndim != 2 or X.shape[1] != reg.coef.shape[0]:
    raise ResponseError(f"X must be [M, {reg.coef.shape[0]}], got {X.shape}")
  mean, coef = np.asarray(reg.mean, dt), np.asarray(reg.coef, dt)
  return dt.type(reg.intercept) + (X - mean[None, :]) @ coef


# --- the registry: every estimator of a tiny benchmark, named once ---------------------------------------------

class AnchorInputs(NamedTuple):
  """What an estimator computed from one benchmark's anchors sees (the rows that answered at least one anchor)."""

  answers: np.ndarray        # [M, K] answers on the anchors, NaN = not answered (working dtype)
  anchors: np.ndarray        # [K] int64 item indices into the benchmark's I items
  weights: np.ndarray        # [K] anchor weights (sum to 1; each estimator casts them)
  item_weights: np.ndarray   # [I] item weights of the full score (sum to 1, working dtype)
  p: np.ndarray              # [M, I] IRT probability of a correct answer on every item, at each model's ability


#: How an estimator is computed and calibrated (:attr:`Estimator.kind`). Every kind gets its own split-conformal
#: multipliers from the validation folds (interior, exterior by side, edge zone: ``tinyjax.tiny.calibration``).
KINDS = {
    "anchors": "computed per benchmark from the anchor answers and the IRT predictions (Estimator.compute)",
    "regression": "a ridge regression of the full score on every anchor answer, fitted on the train models",
    "blend": "the regime's convex blend of the parts (weights chosen on the validation folds, per regime)",
    "gpirt": "lam * (design part) + (1 - lam) * (model part), lam from their validation mean squared errors",
}


@dataclasses.dataclass(frozen=True)
class Estimator:
  """One line of :data:`REGISTRY`.

  Attributes:
    name: the key of the estimate everywhere (``Estimates.<name>``, ``intervals[name]``, saved calibrations).
    display: its name in tables.
    kind: how it is computed and calibrated, a key of :data:`KINDS`.
    compute: for kind "anchors", ``AnchorInputs -> [M]`` estimates (clipping is the caller's).
    slot: its index in the blend's weight vectors (``regime_w`` of saved tiny benchmarks: never renumbered), or
      None when it is not a part of the blend.
    roles: its places among the blend's candidates (``tinyjax.tiny.calibration.regime_weights``): "interior" (a
      part of the convex interior candidate), "alone" (a candidate on its own), "exterior" (on its own, and mixed
      with the gp-IRT and interior candidates: the estimator for models beyond the train range), "design" / "model"
      (the two parts of gp-IRT: the anchors' sampling estimate and the IRT model's), "position" (where this
      estimate lies against the train models' score range says whether a model is beyond it: ``exterior``, the
      exterior and edge-zone multipliers).
    description: one line for the docs and ``tinyjax.tiny.ESTIMATORS``.
  """

  name: str
  display: str
  kind: str
  compute: Callable[[AnchorInputs], np.ndarray] | None = None
  slot: int | None = None
  roles: tuple[str, ...] = ()
  description: str = ""


# Adding an estimator: write its function above, then add one line here (docs/architecture.md, "Adding an estimator").
REGISTRY: tuple[Estimator, ...] = (
    Estimator("naive", "naive", "anchors", lambda a: naive_estimate(a.answers, a.weights), 3,
              ("interior", "design"), "weighted mean of the anchor answers"),
    Estimator("pirt", "p-IRT", "anchors", lambda a: pirt_estimate(a.answers, a.anchors, a.item_weights, a.p), 0,
              ("interior", "model"), "p-IRT: anchors for their answers, IRT predictions for every other item"),
    Estimator("gpirt", "gp-IRT", "gpirt", None, None, (),
              "gp-IRT (tinyBenchmarks): validation-weighted mix of naive and p-IRT"),
    Estimator("diff", "diff", "anchors",
              lambda a: difference_estimate(a.answers, a.anchors, a.weights, a.item_weights, a.p), 1,
              ("interior", "alone", "position"),
              "IRT difference estimator: naive corrected by the predicted gap between all items and the anchors"),
    Estimator("greg", "greg", "anchors",
              lambda a: greg_estimate(a.answers, a.anchors, a.weights, a.item_weights, a.p), 4, ("exterior",),
              "regression estimator: diff with its slope fitted to the model's own anchors"),
    Estimator("ridge", "ridge", "regression", None, 2, ("interior",),
              "ridge regression of the full score on the anchor answers, fitted on the train models"),
    Estimator("blend", "blend", "blend", None, None, (),
              "regime-calibrated convex blend (interior: pirt, diff, ridge, naive; beyond the train range: greg)"),
)

NAMES = tuple(e.name for e in REGISTRY)                            # every estimate, in the order tables show them
BY_NAME = {e.name: e for e in REGISTRY}


def _of_kind(kind: str) -> tuple[str, ...]:
  return tuple(e.name for e in REGISTRY if e.kind == kind)


def _with_role(role: str) -> tuple[str, ...]:
  return tuple(e.name for e in REGISTRY if role in e.roles)


FROM_ANCHORS = _of_kind("anchors")                                  # computed per benchmark from the anchors
FITTED = _of_kind("regression")                                     # fitted on the train models
RAW = FROM_ANCHORS + FITTED                                         # what raw_estimates computes, in this order
BLENDED = _of_kind("blend")
MIXED = _of_kind("gpirt")
CALIBRATED = RAW + BLENDED + MIXED                                  # every estimator with conformal multipliers
PARTS = tuple(e.name for e in sorted((e for e in REGISTRY if e.slot is not None), key=lambda e: e.slot))
INTERIOR = _with_role("interior")
EXTERIOR = _with_role("exterior")
ALONE = EXTERIOR + _with_role("alone")                              # the single-part candidates of the blend
(DESIGN,), (MODEL,) = _with_role("design"), _with_role("model")    # gp-IRT's two parts
(POSITION,) = _with_role("position")                                # places a model against the train range
(BLEND,), (GPIRT,) = BLENDED, MIXED                                 # one of each kind


class RawEstimates(NamedTuple):
  """Every estimator of :data:`RAW` for M models and B benchmarks, before calibration (working dtype)."""

  values: np.ndarray   # [len(RAW), M, B] in the order of RAW (unclipped)
  spread: np.ndarray   # [M, B] Bernoulli spread sqrt(sum_i m_i p_i (1 - p_i)) at each model's ability
  nvar: np.ndarray     # [M, B] model-wise Bernoulli variance of the naive estimate over the answered anchors
  theta: np.ndarray    # [M, d] abilities

  def of(self, name: str) -> np.ndarray:
    """[M, B] the estimates of estimator ``name`` (one of :data:`RAW`)."""
    return self.values[RAW.index(name)]


def blend_matrix(values_by_name: Callable[[str], np.ndarray]) -> np.ndarray:
  """[..., len(PARTS)] the blend's parts side by side, in slot order, from ``name -> [...]`` arrays."""
  return np.stack([values_by_name(k) for k in PARTS], axis=-1)
