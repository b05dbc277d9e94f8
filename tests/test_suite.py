"""tj.Suite: several benchmarks built together, kept items -> full scores (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax import kernels
from tinyjax.errors import ConfigError, ItemError, ResponseError
from tinyjax.suite import _regression as _reg


def _leaderboard(n=90, seed=0):
  """Three benchmarks over one latent ability; the full score is a smooth function of it (percent)."""
  rng = np.random.default_rng(seed)
  th = rng.normal(size=n)
  ids = [f"org/model-{i}" for i in range(n)]
  R, F = {}, {}
  for b, n_items, lo in (("arc", 20, 25.0), ("mmlu", 16, 25.0), ("gsm8k", 24, 0.0)):
    diff = rng.normal(size=n_items)
    p = 1 / (1 + np.exp(-(1.5 * th[:, None] - diff)))
    R[b] = pd.DataFrame((rng.random((n, n_items)) < p).astype(float), index=ids,
                        columns=[f"{b}.{j}" for j in range(n_items)])
    F[b] = pd.Series(lo + (95 - lo) / (1 + np.exp(-1.2 * th)) + rng.normal(0, 1.0, n), index=ids)
  # Some models lack a benchmark (as on the real leaderboard).
  R["mmlu"], F["mmlu"] = R["mmlu"].iloc[12:], F["mmlu"].iloc[12:]
  return R, F


@pytest.fixture(scope="module")
def data():
  return _leaderboard()


@pytest.fixture(scope="module")
def suite(data):
  R, F = data
  train = {b: r.iloc[:-15] for b, r in R.items()}
  return tj.Suite.fit(train, {b: F[b].loc[train[b].index] for b in R}, n_anchors=8, seed=0, progress=False)


def test_kernel_ridge_matches_numpy_closed_form():
  rng = np.random.default_rng(1)
  x, z, y = rng.random((30, 6)), rng.random((7, 6)), rng.normal(size=30)
  scale = np.array([1, 1, 1, 0.3, 0.3, 2.0])
  gamma, lam = 4.0, 0.05
  s = scale / scale.sum()
  d = lambda a, c: (((a[:, None, :] - c[None, :, :]) ** 2) * s).sum(-1)  # noqa: E731
  K = np.exp(-gamma * d(x, x))
  alpha = np.linalg.solve(K + lam * np.eye(30), y)
  want = np.exp(-gamma * d(z, x)) @ alpha
  st = kernels.kernel_ridge_fit(x.astype(np.float32), y.astype(np.float32), scale.astype(np.float32), gamma, lam)
  got = np.asarray(kernels.kernel_ridge_predict(st, z.astype(np.float32)))
  np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def test_fit_shapes_anchors_and_validation(suite, data):
  R, _ = data
  assert suite.benchmarks == ["arc", "mmlu", "gsm8k"]
  assert {b: len(v) for b, v in suite.anchors.items()} == {"arc": 8, "mmlu": 8, "gsm8k": 8}
  for b, ids in suite.anchors.items():
    assert set(ids) <= set(R[b].columns)
  for b in suite.benchmarks:
    v = suite.validation[b]
    assert v["estimator"] in _reg.ESTIMATORS and v["strategy"] in tj.suite.STRATEGIES
    assert v["half_width_missing"] > 0 and v["half_width"] > 0
  assert "average" in suite.validation


def test_estimate_predicts_full_scores_of_held_out_models(suite, data):
  R, F = data
  test = {b: r.iloc[-15:] for b, r in R.items()}
  est = suite.estimate(test)
  assert list(est.scores.columns) == ["arc", "mmlu", "gsm8k", "average"]
  assert list(est.scores.index) == list(test["arc"].index)
  for b in suite.benchmarks:
    truth = F[b].loc[test[b].index].to_numpy()
    err = np.sqrt(np.mean((est.scores.loc[test[b].index, b].to_numpy() - truth) ** 2))
    spread = np.std(truth)
    assert err < 0.6 * spread, (b, err, spread)   # far better than predicting the mean
  np.testing.assert_allclose(est.scores["average"], est.scores[suite.benchmarks].mean(axis=1))
  assert np.all(est.lower.to_numpy() < est.scores.to_numpy()) and np.all(est.upper.to_numpy() > est.scores.to_numpy())
  kept = test["arc"][suite.anchors["arc"]].mean(axis=1)
  np.testing.assert_allclose(est.kept_accuracy["arc"], kept)
  assert (est.answered["arc"] == 8).all()
  long = est.table()
  assert len(long) == 15 * 4 and set(long["benchmark"]) == {"arc", "mmlu", "gsm8k", "average"}
  first = long[(long["model"] == est.scores.index[0]) & (long["benchmark"] == "average")].iloc[0]
  assert first["estimate"] == pytest.approx(est.scores["average"].iloc[0]) and first["answered"] == 24


def test_missing_benchmark_gets_an_estimate_with_a_wider_interval(suite, data):
  R, _ = data
  rows = R["arc"].index[-3:]
  both = suite.estimate({b: R[b].loc[rows] for b in suite.benchmarks})
  no_gsm = suite.estimate({"arc": R["arc"].loc[rows], "mmlu": R["mmlu"].loc[rows]})   # key absent
  nan_gsm = suite.estimate({"arc": R["arc"].loc[rows], "mmlu": R["mmlu"].loc[rows],
                            "gsm8k": R["gsm8k"].loc[rows] * np.nan})                  # all-NaN rows
  np.testing.assert_allclose(no_gsm.scores.to_numpy(), nan_gsm.scores.to_numpy(), rtol=1e-6)
  assert (no_gsm.answered["gsm8k"] == 0).all() and np.isnan(no_gsm.kept_accuracy["gsm8k"]).all()
  w = lambda e, b: (e.upper[b] - e.lower[b]).to_numpy()  # noqa: E731
  np.testing.assert_allclose(w(no_gsm, "gsm8k"), 2 * suite.validation["gsm8k"]["half_width_missing"], rtol=1e-6)
  np.testing.assert_allclose(w(both, "gsm8k"), 2 * suite.validation["gsm8k"]["half_width"], rtol=1e-6)
  assert np.all(w(no_gsm, "average") >= w(both, "average") - 1e-9)
  assert np.all(np.isfinite(no_gsm.scores.to_numpy()))


def test_estimate_agrees_with_a_hand_built_equivalent(suite, data):
  """The suite's estimate recomputed from its public parts with numpy: IRT MAP ability from all kept items,
  missing answers filled by the IRT probability, ridge + the mean of the kernel members."""
  R, _ = data
  rows = R["arc"].index[-4:]
  answers = {b: R[b].loc[rows] if b != "mmlu" else R[b].loc[rows].iloc[:2] for b in suite.benchmarks}
  est = suite.estimate(answers)
  glob = np.concatenate([suite._anchors[b] for b in suite.benchmarks])
  Y = np.full((4, glob.size), np.nan)
  start = 0
  for b in suite.benchmarks:
    k = len(suite.anchors[b])
    sub = answers[b][suite.anchors[b]]
    for i, m in enumerate(rows):
      if m in sub.index:
        Y[i, start:start + k] = sub.loc[m].to_numpy()
    start += k
  theta = np.asarray(tj.estimate_ability(suite.irt_model, Y, items=glob, method="map").theta, np.float64)
  p = np.asarray(suite.irt_model.predict_proba(theta, items=glob))
  mu, sd = suite._theta_stats
  Z = np.concatenate([np.where(np.isnan(Y), p, Y), (theta - mu) / sd], axis=1)
  start = 0
  for b in suite.benchmarks:
    k = len(suite.anchors[b])
    own = np.arange(start, start + k)
    start += k
    r = suite._regs[b]
    if r.estimator == "ridge":
      pred = r.linear.intercept + (Z - r.linear.mean) @ r.linear.coef
    else:
      Xtr = np.asarray(suite._Z[r.rows], np.float64)
      parts = []
      for m, a, g, lm in zip(_reg.MEMBERS, r.alphas, r.gamma, r.member_linear):
        s = _reg.feature_scales(Z.shape[1], own, suite.irt_model.dim, m)
        lin = lm.intercept + (Z * np.sqrt(s) - lm.mean) @ lm.coef
        s = s / s.sum()
        d = (((Z[:, None, :] - Xtr[None, :, :]) ** 2) * s).sum(-1)
        parts.append(lin + np.exp(-g * d) @ np.asarray(a, np.float64))
      pred = np.mean(parts, axis=0)
    np.testing.assert_allclose(est.scores[b].to_numpy(), pred, rtol=1e-3, atol=1e-2)


def test_same_seed_same_suite(suite, data):
  """A second fit on the fixture's own inputs (same shapes: compiled once) gives the same anchors and estimates."""
  R, F = data
  train = {b: r.iloc[:-15] for b, r in R.items()}
  again = tj.Suite.fit(train, {b: F[b].loc[train[b].index] for b in R}, n_anchors=8, seed=0, progress=False)
  assert again.anchors == suite.anchors
  x = {k: r.iloc[-5:] for k, r in R.items()}
  np.testing.assert_allclose(again.estimate(x).scores.to_numpy(), suite.estimate(x).scores.to_numpy())


def test_all_items_kept_with_none(data):
  R, F = data
  train = {b: r.iloc[:-15] for b, r in R.items()}
  s = tj.Suite.fit(train, {b: F[b].loc[train[b].index] for b in R}, n_anchors=None, seed=0, progress=False,
                   gammas=(4.0,))
  assert s.anchors == {b: list(R[b].columns) for b in R}
  assert all(s.validation[b]["strategy"] == "all" for b in s.benchmarks)


def test_save_load_round_trip(suite, data, tmp_path):
  R, _ = data
  path = suite.save(tmp_path / "suite.tjx")
  back = tj.load(path)
  assert isinstance(back, tj.Suite) and back.anchors == suite.anchors and back.validation == suite.validation
  x = {b: r.iloc[-5:] for b, r in R.items()}
  a, b = suite.estimate(x), back.estimate(x)
  for f in ("scores", "lower", "upper"):
    np.testing.assert_allclose(getattr(a, f).to_numpy(), getattr(b, f).to_numpy(), rtol=1e-6)


def test_bad_input_errors_name_what_is_wrong(suite, data):
  R, F = data
  with pytest.raises(ItemError, match="arc.3|anchor"):
    suite.estimate({"arc": R["arc"].iloc[:2].drop(columns=suite.anchors["arc"][0])})
  with pytest.raises(ConfigError, match="hellaswag"):
    suite.estimate({"hellaswag": R["arc"].iloc[:2]})
  empty = {b: R[b].iloc[:2] * np.nan for b in suite.benchmarks}
  with pytest.raises(ResponseError, match="no kept item"):
    suite.estimate(empty)
  with pytest.raises(ResponseError, match=r"\[0, 1\]|range"):
    suite.estimate({"arc": R["arc"].iloc[:2] * 3})
  dup = {"arc": R["arc"], "mmlu": R["arc"].rename(columns=lambda c: c)}
  with pytest.raises(ItemError, match="unique"):
    tj.Suite.fit(dup, {"arc": F["arc"], "mmlu": F["arc"]}, n_anchors=5, progress=False)
  with pytest.raises(ResponseError, match="lacks a finite score"):
    tj.Suite.fit({"arc": R["arc"]}, {"arc": F["arc"].iloc[5:]}, n_anchors=5, progress=False)
  with pytest.raises(ConfigError, match="full_scores has no entry"):
    tj.Suite.fit({"arc": R["arc"]}, {}, n_anchors=5, progress=False)
  with pytest.raises(ConfigError, match="n_anchors"):
    tj.Suite.fit({"arc": R["arc"]}, {"arc": F["arc"]}, n_anchors=500, progress=False)
  # Too few validation models with a benchmark's full score for a 90% split-conformal half-width (9): refused,
  # where the old rule took the largest residual.
  few = {"arc": R["arc"], "mmlu": R["mmlu"].iloc[:20]}
  with pytest.raises(ResponseError, match="'mmlu' has [0-8] validation model"):
    tj.Suite.fit(few, {b: F[b].loc[few[b].index] for b in few}, n_anchors=5, progress=False)


# --- build speed (issue 25): the grid of kernel members x widths from one Gram matrix and one set of distances ---
def _features_problem(n=120, d_items=30, n_theta=3, seed=3):
  rng = np.random.default_rng(seed)
  Z = np.concatenate([(rng.random((n, d_items)) < 0.5), rng.normal(size=(n, n_theta))], axis=1).astype(np.float32)
  y = (Z[:, :8].sum(1) * 4 + 3 * np.sin(Z[:, -1]) + rng.normal(size=n)).astype(np.float32)
  return Z, y, np.arange(4, 14), n_theta


def test_ridge_fits_match_the_svd_ridge_per_member():
  from tinyjax.tiny import estimators as est
  Z, y, own, n_theta = _features_problem()
  scales = [np.ones(Z.shape[1])] + [_reg.feature_scales(Z.shape[1], own, n_theta, m) for m in _reg.MEMBERS]
  for s, got in zip(scales, _reg.ridge_fits(Z, y, scales)):
    Zs = Z * np.sqrt(s).astype(np.float32)
    want = est.fit_score_regression(Zs, y)
    assert got.alpha == want.alpha
    np.testing.assert_allclose(est.regression_estimate(Zs, got), est.regression_estimate(Zs, want), atol=2e-3)


def test_grid_fit_matches_one_kernel_ridge_per_member_and_width():
  """fit_grid / grid_predictions equal kernels.kernel_ridge_fit/predict run member by member (the old path)."""
  from tinyjax.tiny import estimators as est
  Z, y, own, n_theta = _features_problem()
  Zv = _features_problem(n=20, seed=4)[0]
  gammas = (1.5, 12.0)
  grid = _reg.fit_grid(Z, y, own, n_theta, gammas, 0.03)
  got = _reg.grid_predictions(grid, Z, Zv, own, n_theta)
  assert got.shape == (2, len(_reg.MEMBERS), 20)
  for w, g in enumerate(gammas):
    for i, m in enumerate(_reg.MEMBERS):
      s = _reg.feature_scales(Z.shape[1], own, n_theta, m)
      Zs, Zvs = Z * np.sqrt(s).astype(np.float32), Zv * np.sqrt(s).astype(np.float32)
      lm = est.fit_score_regression(Zs, y)
      st = kernels.kernel_ridge_fit(Z, y - est.regression_estimate(Zs, lm), s.astype(np.float32), g, 0.03)
      np.testing.assert_allclose(grid.alphas[w, i], np.asarray(st.alpha), rtol=2e-3, atol=2e-3)
      want = est.regression_estimate(Zvs, lm) + np.asarray(kernels.kernel_ridge_predict(st, Zv))
      np.testing.assert_allclose(got[w, i], want, rtol=1e-3, atol=1e-2)
  chosen = _reg.select(grid, [0, 1, 0, 1, 0, 1], np.arange(Z.shape[0]))
  refit = _reg.fit_bench(Z, y, own, n_theta, "krr", chosen.gamma, 0.03)
  np.testing.assert_allclose(_reg.predict_bench(chosen, Z, Zv, own, n_theta),
                             _reg.predict_bench(refit, Z, Zv, own, n_theta), rtol=1e-5, atol=1e-4)


def test_progress_bar_moves_by_predicted_cost_and_ends_at_100(data):
  from tinyjax.suite import _suite
  R, F = data
  names, mats, scores = _suite._frame_dict(R, F)
  J = _suite._Joint(names, mats, scores)
  idx = np.arange(len(J.model_ids))
  cost = _suite._build_costs(J, names, idx[20:], idx[:20], {b: 8 for b in names}, ("stepwise", "random"), 3, 3)
  assert all(v > 0 for v in cost.values())

  class Bar:
    n = 0
    def update(self, k):  # noqa: E301
      assert k >= 0
      self.n += k
    def set_description(self, text):  # noqa: E301
      pass

  bar = _suite._WeightedBar(Bar(), cost)
  for k in cost:
    bar.done(k)
  assert bar._bar.n == 100 and set(bar.seconds) == set(cost)


# --- missing answers (issue 26): half-widths calibrated for the share of kept items left unanswered ---------------
def test_missing_share_half_widths_are_monotone_and_interpolated(suite, data):
  R, _ = data
  for b in suite.benchmarks:
    v = suite.validation[b]
    hws = [v["half_width_by_missing"][f"{f:g}"] for f in tj.suite._suite.MISSING_FRACTIONS]
    assert hws[0] == v["half_width"]
    assert all(b2 >= a for a, b2 in zip(hws, hws[1:])) and v["half_width_missing"] >= hws[-1]
    assert hws[-1] > hws[0]   # 80% of the kept items hidden is measurably worse than none
  rows = R["arc"].index[-6:]
  full = suite.estimate({b: R[b].loc[rows] for b in suite.benchmarks})
  half = {}
  for b in suite.benchmarks:   # 4 of the 8 kept items of every benchmark unanswered: share 0.5 exactly
    x = R[b].loc[rows, suite.anchors[b]].copy()
    x.iloc[:, :4] = np.nan
    half[b] = x
  est = suite.estimate(half)
  w = lambda e, b: (e.upper[b] - e.lower[b]).to_numpy()  # noqa: E731
  for b in suite.benchmarks:
    hw = suite.validation[b]["half_width_by_missing"]["0.5"]
    np.testing.assert_allclose(w(est, b), 2 * hw, rtol=1e-6)
    assert np.all(w(est, b) >= w(full, b) - 1e-9)
  assert (est.answered["arc"] == 4).all()
  assert np.all(w(est, "average") > w(full, "average"))
  # One model answering 6 of 8 arc items (share 0.25) and everything else: arc widens, the others stay.
  part = {b: R[b].loc[rows[:1]] for b in suite.benchmarks}
  part["arc"] = part["arc"][suite.anchors["arc"]].copy()
  part["arc"].iloc[0, :2] = np.nan
  one = suite.estimate(part)
  np.testing.assert_allclose(w(one, "arc"), 2 * suite.validation["arc"]["half_width_by_missing"]["0.25"], rtol=1e-6)
  np.testing.assert_allclose(w(one, "gsm8k"), w(full, "gsm8k")[:1], rtol=1e-6)


def test_suite_saved_without_missing_share_widths_loads_with_the_old_rule(suite, data):
  R, _ = data
  arrays, meta = suite._to_artifact()
  meta = dict(meta)
  meta.pop("missing_fractions"), meta.pop("c_by_missing")
  meta["benches"] = [{k: v for k, v in bm.items() if k != "q_by_missing"} for bm in meta["benches"]]
  old = tj.Suite._from_artifact(arrays, meta)
  rows = R["arc"].index[-3:]
  x = {b: R[b].loc[rows, suite.anchors[b]].copy() for b in suite.benchmarks}
  for b in x:
    x[b].iloc[:, :4] = np.nan
  e_old = old.estimate(x)
  np.testing.assert_allclose((e_old.upper["arc"] - e_old.lower["arc"]).to_numpy(),
                             2 * suite.validation["arc"]["half_width"], rtol=1e-6)
  np.testing.assert_allclose(e_old.scores.to_numpy(), suite.estimate(x).scores.to_numpy(), rtol=1e-6)


@pytest.fixture(scope="module")
def big_split():
  """A larger synthetic leaderboard (600 models, 3 benchmarks), split 450 train / 150 test."""
  R, F = _leaderboard(n=600, seed=5)
  test_ids = R["arc"].index[450:]
  train = {b: r[~r.index.isin(test_ids)] for b, r in R.items()}
  test = {b: r[r.index.isin(test_ids)] for b, r in R.items()}
  suite = tj.Suite.fit(train, {b: F[b].loc[train[b].index] for b in R}, n_anchors=10, seed=0, progress=False,
                       gammas=(4.0,), strategies=("random",))
  return suite, test, F


def test_intervals_cover_with_missing_answers(big_split):
  """Coverage of the 90% intervals on held-out models with 0%, 50% and 80% of every benchmark's kept items hidden;
  with the full-answer width (the old rule) 80% missing covers far less."""
  suite, test, F = big_split
  rng = np.random.default_rng(11)
  for share in (0.0, 0.5, 0.8):
    x = {}
    for b in suite.benchmarks:
      a = test[b][suite.anchors[b]].to_numpy(float).copy()
      for i in range(a.shape[0]):
        a[i, rng.choice(a.shape[1], int(round(share * a.shape[1])), replace=False)] = np.nan
      x[b] = pd.DataFrame(a, index=test[b].index, columns=suite.anchors[b])
    est = suite.estimate(x)
    covs, old_covs = [], []
    for b in suite.benchmarks:
      y = F[b].loc[test[b].index].to_numpy()
      s, lo, hi = (getattr(est, f).loc[test[b].index, b].to_numpy() for f in ("scores", "lower", "upper"))
      covs.append(np.mean((lo <= y) & (y <= hi)))
      q = suite.validation[b]["half_width"]
      old_covs.append(np.mean(np.abs(s - y) <= q))
    assert 0.8 <= np.mean(covs) <= 0.99, (share, covs)
    if share == 0.8:
      assert np.mean(covs) > np.mean(old_covs) + 0.05, (covs, old_covs)
