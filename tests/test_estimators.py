"""Estimators against hand-computed values on small matrices."""

from __future__ import annotations

import numpy as np
import pytest

from tinyjax.tiny import estimators as E

NAN = np.nan


@pytest.fixture
def x64():
  """Hand-computed checks to 1e-12 run in float64 (the user's opt-in); the default float32 is tested below."""
  import jax

  with jax.enable_x64(True):
    yield


def test_naive_hand_computed():
  Y = np.array([[1.0, 0.0, 1.0], [NAN, 1.0, 0.0]])
  w = np.array([0.5, 0.25, 0.25])
  # row 0: .5*1 + .25*0 + .25*1 = .75; row 1: renormalised over the two observed anchors: (.25*1)/(.5).
  np.testing.assert_allclose(E.naive_estimate(Y, w), [0.75, 0.5])


def test_pirt_hand_computed():
  mass = np.array([0.1, 0.2, 0.3, 0.4])
  anchors = np.array([0, 2])
  Y = np.array([[1.0, 0.0], [NAN, 1.0]])
  p = np.array([[0.5, 0.5, 0.5, 0.5], [0.2, 0.4, 0.6, 0.8]])
  # row 0: seen .1*1 + .3*0, unseen .2*.5 + .4*.5            -> 0.4
  # row 1: anchor 0 unanswered -> predicted .1*.2; seen .3*1; unseen .2*.4 + .4*.8 -> 0.72
  np.testing.assert_allclose(E.pirt_estimate(Y, anchors, mass, p), [0.4, 0.72], rtol=1e-6)


def test_pirt_matches_reference_lambda_form():
  """With uniform mass, p-IRT = lam * anchor mean + (1 - lam) * mean prediction on unseen, lam = K / I."""
  rng = np.random.default_rng(0)
  n_items, k = 30, 7
  anchors = rng.choice(n_items, k, replace=False)
  Y = (rng.random((5, k)) < 0.6).astype(float)
  p = rng.uniform(0.05, 0.95, (5, n_items))
  unseen = np.setdiff1d(np.arange(n_items), anchors)
  lam = k / n_items
  ref = lam * Y.mean(1) + (1 - lam) * p[:, unseen].mean(1)
  got = E.pirt_estimate(Y, anchors, np.full(n_items, 1 / n_items), p)
  np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_gpirt_and_lambda():
  assert E.gpirt_lambda(naive_mse=0.01, pirt_mse=0.03) == pytest.approx(0.75)
  assert E.gpirt_lambda(0.0, 0.0) == 0.5
  np.testing.assert_allclose(E.gpirt_estimate([0.2, 0.6], [0.4, 0.2], 0.25), [0.35, 0.3])
  # Reference weight: b = 0.02, v = 0.2 / (4 * 10) = 0.005 -> 0.0004 / 0.0054.
  assert E.reference_gpirt_lambda(0.02, 0.2, 10, clustered=True) == pytest.approx(0.0004 / 0.0054)
  with pytest.raises(ValueError):
    E.gpirt_estimate([0.1], [0.2], 1.5)


def test_conformal_quantile():
  s = np.arange(1.0, 11.0)
  assert E.conformal_quantile(s, 0.9) == 10.0    # ceil(11 * .9) = 10th smallest
  assert E.conformal_quantile(s, 0.5) == 6.0     # ceil(5.5) = 6
  assert E.conformal_quantile(s[:5], 0.9) == np.inf
  np.testing.assert_allclose(E.bernoulli_scale(np.array([[0.5, 0.5]]), np.array([0.5, 0.5])), [0.5])


def test_conformal_quantile_edge_cases_are_one_rule():
  """The one split-conformal rule (tiny benchmarks and suites): NaN scores left out, +inf counted, inf with too few."""
  from tinyjax.suite._suite import _conformal

  nine = np.arange(1.0, 10.0)
  assert E.min_conformal_scores(0.9) == 9 and E.min_conformal_scores(0.5) == 1 and E.min_conformal_scores(0.95) == 19
  assert E.conformal_quantile(nine, 0.9) == 9.0                       # ceil(10 * .9) = 9: the largest of 9
  assert E.conformal_quantile(nine[:8], 0.9) == np.inf                # 8 < 9: no finite half-width has the level
  assert E.conformal_quantile(np.r_[nine[:4], NAN, nine[4:]], 0.9) == 9.0   # NaN = not measured
  assert E.conformal_quantile(np.r_[nine, np.inf], 0.9) == np.inf     # the 10th smallest of 10 is the inf
  assert E.conformal_quantile([], 0.5) == np.inf
  assert E.conformal_quantile([NAN, NAN], 0.5) == np.inf
  # float32 by default (the working dtype); float64 where asked (a suite's residuals in percent points).
  x = np.full(9, 1.0 + 2.0 ** -40)
  assert E.conformal_quantile(x, 0.9) == 1.0
  assert E.conformal_quantile(x, 0.9, np.float64) == 1.0 + 2.0 ** -40
  for v in (nine[:8], np.r_[nine[:4], NAN, nine[4:]], x):
    assert _conformal(v, 0.9) == E.conformal_quantile(v, 0.9, np.float64)
  with pytest.raises(Exception, match="level"):
    E.conformal_quantile(nine, 1.0)


def test_registry_names_each_estimator_once_and_keeps_the_saved_blend_order():
  from tinyjax import tiny
  from tinyjax.tiny import results

  names = [e.name for e in E.REGISTRY]
  assert len(set(names)) == len(names) == len(E.NAMES)
  assert set(E.CALIBRATED) == set(names) and set(tiny.ESTIMATORS) == set(names)
  assert all(e.kind in E.KINDS and (e.compute is not None) == (e.kind == "anchors") for e in E.REGISTRY)
  slots = sorted(e.slot for e in E.REGISTRY if e.slot is not None)
  assert slots == list(range(len(E.PARTS)))
  # The order of the weight vectors in saved tiny benchmarks (regime_w): never renumbered.
  assert E.PARTS == ("pirt", "diff", "ridge", "naive", "greg")
  assert (E.DESIGN, E.MODEL, E.POSITION) == ("naive", "pirt", "diff") and E.ALONE[0] in E.EXTERIOR
  for cls in (results.Estimates, results.BenchmarkEstimates):
    assert all(isinstance(getattr(cls, n), property) for n in names)


def test_registry_compute_is_the_estimator_function():
  rng = np.random.default_rng(0)
  Y = (rng.random((6, 4)) < 0.5).astype(np.float32)
  Y[0, 1] = NAN
  anchors, w = np.array([0, 2, 5, 7]), np.array([0.1, 0.2, 0.3, 0.4])
  m = np.full(8, 1 / 8, np.float32)
  p = rng.uniform(0.1, 0.9, (6, 8)).astype(np.float32)
  a = E.AnchorInputs(Y, anchors, w, m, p)
  np.testing.assert_array_equal(E.BY_NAME["naive"].compute(a), E.naive_estimate(Y, w))
  np.testing.assert_array_equal(E.BY_NAME["pirt"].compute(a), E.pirt_estimate(Y, anchors, m, p))
  np.testing.assert_array_equal(E.BY_NAME["diff"].compute(a), E.difference_estimate(Y, anchors, w, m, p))
  np.testing.assert_array_equal(E.BY_NAME["greg"].compute(a), E.greg_estimate(Y, anchors, w, m, p))
  assert E.FROM_ANCHORS == ("naive", "pirt", "diff", "greg") and E.RAW == E.FROM_ANCHORS + ("ridge",)


def test_full_score_mean_is_one_function():
  """``true_scores``: the weighted mean over each row's observed entries, the target of stepwise anchors too."""
  from tinyjax.tiny import estimation

  Y = np.array([[1.0, NAN, 0.0], [NAN, NAN, NAN], [1.0, 1.0, 0.0]])
  m = np.array([0.5, 0.25, 0.25])
  np.testing.assert_allclose(E.true_scores(Y, m, np.float64), [0.5 / 0.75, 0.0, 0.75], atol=1e-15)
  assert E.true_scores(Y, m).dtype == E.working_dtype() and estimation.true_scores is E.true_scores


def test_validation_errors():
  with pytest.raises(ValueError, match="answered no anchor"):
    E.naive_estimate(np.array([[NAN, NAN]]), [0.5, 0.5])
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    E.naive_estimate(np.array([[2.0, 0.0]]), [0.5, 0.5])
  with pytest.raises(ValueError, match="one column per anchor"):
    E.naive_estimate(np.zeros((2, 3)), [0.5, 0.5])
  with pytest.raises(ValueError, match="p must be"):
    E.pirt_estimate(np.zeros((2, 1)), [0], np.ones(3) / 3, np.zeros((2, 2)))


def test_difference_estimator_hand_computed(x64):
  mass = np.array([0.1, 0.2, 0.3, 0.4])
  anchors = np.array([0, 2])
  w = np.array([0.5, 0.5])
  Y = np.array([[1.0, 0.0], [NAN, 0.8]])
  p = np.array([[0.5, 0.5, 0.5, 0.5], [0.2, 0.4, 0.6, 0.8]])
  # row 0: p @ m = .5, residuals +.5 and -.5 cancel            -> .5
  # row 1: p @ m = .6, only anchor 2 answered (weight 1): .8 - .6 -> .8
  np.testing.assert_allclose(E.difference_estimate(Y, anchors, w, mass, p), [0.5, 0.8], rtol=1e-12)
  # A constant IRT bias cancels: shifting every prediction by the same amount changes nothing.
  np.testing.assert_allclose(E.difference_estimate(Y, anchors, w, mass, p - 0.1),
                             E.difference_estimate(Y, anchors, w, mass, p), rtol=1e-12)


def test_greg_estimator_against_weighted_least_squares(x64):
  rng = np.random.default_rng(3)
  I, K = 40, 12
  mass = rng.random(I); mass /= mass.sum()
  anchors = rng.choice(I, K, replace=False)
  w = rng.random(K)
  p = rng.uniform(0.05, 0.95, (3, I))
  Y = (rng.random((3, K)) < p[:, anchors]).astype(float)
  Y[1, :3] = np.nan
  got = E.greg_estimate(Y, anchors, w, mass, p)
  for j in range(3):
    o = ~np.isnan(Y[j])
    ww, y, x = w[o] / w[o].sum(), Y[j, o], p[j, anchors][o]
    # weighted least squares of y on (1, x): the slope by the normal equations
    A = np.stack([np.ones(o.sum()), x], 1)
    b = np.clip(np.linalg.solve(A.T @ (ww[:, None] * A), A.T @ (ww * y))[1], 0, E.GREG_MAX_SLOPE)
    ref = np.sum(ww * y) + b * (p[j] @ mass - np.sum(ww * x))
    assert got[j] == pytest.approx(np.clip(ref, 0, 1), abs=1e-12)
  # b = 1 is the difference estimator, b = 0 the naive mean: answers that follow the predictions exactly
  # (y = p on the anchors) give slope 1, so greg = diff = the predicted full score.
  Yp = p[:, anchors]
  np.testing.assert_allclose(E.greg_estimate(Yp, anchors, w, mass, p), p @ mass, atol=1e-12)
  np.testing.assert_allclose(E.greg_estimate(Yp, anchors, w, mass, p), E.difference_estimate(Yp, anchors, w, mass, p),
                             atol=1e-12)
  # Answers unrelated to the predictions (constant) give slope 0: the naive mean.
  Yc = np.full((3, K), 0.25)
  np.testing.assert_allclose(E.greg_estimate(Yc, anchors, w, mass, p), 0.25, atol=1e-12)
  # All anchors with the same prediction: no slope to fit, the difference estimator.
  pf = p.copy(); pf[:, anchors] = 0.5
  np.testing.assert_allclose(E.greg_estimate(Y, anchors, w, mass, pf), E.difference_estimate(Y, anchors, w, mass, pf),
                             atol=1e-12)


def test_score_regression_matches_ridge_and_brute_force_loo(x64):
  rng = np.random.default_rng(0)
  X = rng.integers(0, 2, (14, 5)).astype(float)
  y = X @ np.array([0.3, -0.1, 0.2, 0.0, 0.1]) + 0.05 * rng.standard_normal(14)
  alphas = (0.01, 0.3, 3.0, 30.0)

  def ridge(Xt, yt, a):
    mu, ym = Xt.mean(0), yt.mean()
    beta = np.linalg.solve((Xt - mu).T @ (Xt - mu) + a * np.eye(Xt.shape[1]), (Xt - mu).T @ (yt - ym))
    return lambda Z: ym + (Z - mu) @ beta, beta

  # Brute-force leave-one-out (refitting the centring too) picks the penalty.
  loo = []
  for a in alphas:
    errs = [y[i] - ridge(np.delete(X, i, 0), np.delete(y, i), a)[0](X[i:i + 1])[0] for i in range(14)]
    loo.append(np.mean(np.square(errs)))
  reg = E.fit_score_regression(X, y, alphas)
  assert reg.alpha == alphas[int(np.argmin(loo))]
  f, beta = ridge(X, y, reg.alpha)
  np.testing.assert_allclose(reg.coef, beta, rtol=1e-8, atol=1e-12)
  Z = rng.integers(0, 2, (3, 5)).astype(float)
  np.testing.assert_allclose(E.regression_estimate(Z, reg), f(Z), rtol=1e-10)
  with pytest.raises(ValueError, match="finite"):
    E.fit_score_regression(np.where(X > 0, NAN, X), y)
  with pytest.raises(ValueError, match=r"\[M, 5\]"):
    E.regression_estimate(Z[:, :4], reg)


def _precision_case(dt):
  """Random answers (some unanswered), predictions and weights, and numpy references computed in ``dt`` only."""
  rng = np.random.default_rng(3)
  M, I, K = 40, 60, 12
  anchors = np.sort(rng.choice(I, K, replace=False))
  Y = (rng.random((M, K)) < 0.6).astype(np.float64)
  Y[rng.random((M, K)) < 0.1] = NAN
  Y[:, 0] = 1.0                              # every row answers something
  p = rng.uniform(0.05, 0.95, (M, I))
  mass = rng.random(I) + 0.1
  mass /= mass.sum()
  w = rng.random(K) + 0.1
  w /= w.sum()
  Yd, pd, md, wd = (np.asarray(x, dt) for x in (Y, p, mass, w))
  obs = ~np.isnan(Yd)
  y0 = np.where(obs, Yd, dt(0))
  ww = np.where(obs, wd[None, :], dt(0))
  ww = ww / ww.sum(1, keepdims=True)
  pa = pd[:, anchors]
  naive = np.sum(y0 * ww, axis=1)
  is_anchor = np.zeros(I, bool)
  is_anchor[anchors] = True
  seen = np.zeros((M, I), bool)
  seen[:, anchors] = obs
  full = np.zeros((M, I), dt)
  full[:, anchors] = y0
  pirt = np.sum(np.where(seen, full, pd) * md, axis=1)
  diff = pd @ md + np.sum(ww * np.where(obs, y0 - pa, dt(0)), axis=1)
  ybar, pbar = np.sum(ww * y0, 1), np.sum(ww * pa, 1)
  dp = pa - pbar[:, None]
  b = np.clip(np.sum(ww * (y0 - ybar[:, None]) * dp, 1) / np.sum(ww * dp ** 2, 1), 0, E.GREG_MAX_SLOPE)
  greg = ybar + b * (pd @ md - pbar)
  pirt, diff, greg = (np.clip(x, dt(0), dt(1)) for x in (pirt, diff, greg))
  ref = {"naive": naive, "pirt": pirt, "diff": diff, "greg": greg,
         "gpirt": dt(0.3) * naive + (dt(1) - dt(0.3)) * pirt,
         "spread": np.sqrt(pd * (dt(1) - pd) @ md)}
  got = {"naive": E.naive_estimate(Y, w), "pirt": E.pirt_estimate(Y, anchors, mass, p),
         "diff": E.difference_estimate(Y, anchors, w, mass, p), "greg": E.greg_estimate(Y, anchors, w, mass, p),
         "spread": E.bernoulli_scale(p, mass)}
  got["gpirt"] = E.gpirt_estimate(got["naive"], got["pirt"], 0.3)
  X = np.nan_to_num(Y)
  reg = E.fit_score_regression(X, np.clip(pirt, 0, 1).astype(np.float64))
  ref["ridge_coef"] = reg.coef
  got["ridge"] = E.regression_estimate(X, reg)
  Xd = X.astype(dt)
  ref["ridge"] = dt(reg.intercept) + (Xd - reg.mean.astype(dt)) @ reg.coef.astype(dt)
  return got, ref


@pytest.mark.parametrize("x64", [False, True])
def test_each_estimate_is_computed_in_jax_default_precision(x64):
  """float32 by default, float64 under jax_enable_x64: every estimator's arithmetic (the p-IRT kernel included)
  runs in that one dtype and matches a numpy reference computed in it."""
  import jax

  with jax.enable_x64(x64):
    dt = np.float64 if x64 else np.float32
    assert E.working_dtype() == dt
    got, ref = _precision_case(dt)
    assert ref["ridge_coef"].dtype == dt
    for k in ("naive", "pirt", "diff", "greg", "gpirt", "spread", "ridge"):
      assert got[k].dtype == dt, k
      tol = 1e-12 if x64 else 2e-6
      np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=tol, err_msg=k)
    lam = dt(0.3)                                             # the mix of two dt estimates stays in dt
    assert np.array_equal(got["gpirt"], lam * got["naive"] + (dt(1) - lam) * got["pirt"])
    assert E.conformal_quantile(np.array([0.1, 0.2, 0.3]), 0.5) == float(np.asarray(0.2, dt))
