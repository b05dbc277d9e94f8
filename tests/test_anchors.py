"""Anchor strategies: indices, weights, clustering behaviour, group balance."""

from __future__ import annotations

import types

import numpy as np
import pytest

from tinyjax.tiny import anchors as A


def test_group_balance_weights():
  np.testing.assert_allclose(A.group_balance_weights(["a", "a", "b"]), [0.25, 0.25, 0.5])
  Y = np.random.default_rng(0).random((4, 6))
  g = np.array([0, 0, 0, 1, 1, 2])
  by_group = np.mean([Y[:, g == k].mean(1) for k in range(3)], axis=0)
  np.testing.assert_allclose(Y @ A.group_balance_weights(g), by_group)


def test_random_is_deterministic_and_normalised():
  Y = np.zeros((3, 50))
  a1 = A.select_anchors(Y, 10, "random", seed=3)
  a2 = A.select_anchors(Y, 10, "random", seed=3)
  np.testing.assert_array_equal(a1.indices, a2.indices)
  assert len(set(a1.indices.tolist())) == 10 and np.all(np.diff(a1.indices) > 0)
  np.testing.assert_allclose(a1.weights, 0.1)
  assert not np.array_equal(a1.indices, A.select_anchors(Y, 10, "random", seed=4).indices)


def test_stratified_balances_groups():
  groups = np.array(["a"] * 8 + ["b"] * 2)
  mass = A.group_balance_weights(groups)
  anc = A.select_anchors(np.zeros((2, 10)), 4, "stratified", seed=0, groups=groups, item_weights=mass)
  chosen = groups[anc.indices]
  assert (chosen == "a").sum() == 2 and (chosen == "b").sum() == 2
  np.testing.assert_allclose(anc.weights, 0.25)
  # Every group gets an anchor even when its mass share is small (uniform mass: a=.8, b=.2 of K=3).
  anc = A.select_anchors(np.zeros((2, 10)), 3, "stratified", seed=0, groups=groups)
  assert set(groups[anc.indices]) == {"a", "b"}
  np.testing.assert_allclose(anc.weights[groups[anc.indices] == "b"], 0.2)
  with pytest.raises(ValueError, match="groups"):
    A.select_anchors(np.zeros((2, 10)), 3, "stratified")


def test_correctness_clusters_blocks():
  """Three blocks of near-identical items: one anchor per block, weight = block share, anchor = block centre."""
  rng = np.random.default_rng(0)
  protos = (rng.random((40, 3)) < 0.5).astype(float)
  sizes = [10, 6, 4]
  cols = np.concatenate([np.repeat(protos[:, [j]], s, axis=1) for j, s in enumerate(sizes)], axis=1)
  block = np.repeat(np.arange(3), sizes)
  Y = cols.copy()
  flip = rng.random(Y.shape) < 0.03
  Y[flip] = 1 - Y[flip]
  anc = A.select_anchors(Y, 3, "correctness", seed=0)
  assert sorted(block[anc.indices].tolist()) == [0, 1, 2]
  got = dict(zip(block[anc.indices].tolist(), anc.weights.tolist()))
  np.testing.assert_allclose([got[0], got[1], got[2]], [0.5, 0.3, 0.2])
  for i, c in zip(anc.indices, anc.labels[anc.indices]):
    members = np.flatnonzero(anc.labels == c)
    centre = Y[:, members].mean(1)
    d = ((Y[:, members] - centre[:, None]) ** 2).sum(0)
    assert d[members.tolist().index(i)] == pytest.approx(d.min())


def test_duplicates_still_give_k_distinct_anchors():
  Y = np.concatenate([np.zeros((5, 6)), np.ones((5, 6))], axis=0)   # every column identical
  Y[:, 3:] = 1 - Y[:, 3:]                                          # two distinct columns
  anc = A.select_anchors(Y, 4, "correctness", seed=0)
  assert len(set(anc.indices.tolist())) == 4
  np.testing.assert_allclose(anc.weights.sum(), 1.0)
  np.testing.assert_allclose(anc.weights, 0.25)                    # two clusters of mass .5, two anchors each


def test_irt_strategy_uses_item_parameters():
  a = np.concatenate([np.full((5, 1), 0.5), np.full((5, 1), 2.0)])
  b = np.concatenate([np.full(5, -2.0), np.full(5, 2.0)])
  model = types.SimpleNamespace(a=a + 0.01 * np.arange(10)[:, None], b=b, c=np.zeros(10))
  anc = A.select_anchors(np.zeros((3, 10)), 2, "irt", seed=0, irt_model=model)
  assert sorted((anc.indices >= 5).tolist()) == [False, True]
  np.testing.assert_allclose(anc.weights, 0.5)
  with pytest.raises(ValueError, match="irt_model"):
    A.select_anchors(np.zeros((3, 10)), 2, "irt")


def test_validation():
  with pytest.raises(ValueError, match="strategy"):
    A.select_anchors(np.zeros((2, 5)), 2, "nope")
  with pytest.raises(ValueError, match="n_anchors"):
    A.select_anchors(np.zeros((2, 5)), 6, "random")
  with pytest.raises(ValueError, match="no observed"):
    A.select_anchors(np.array([[np.nan, 1.0], [np.nan, 0.0]]), 1, "correctness")
  with pytest.raises(ValueError, match="item_weights"):
    A.select_anchors(np.zeros((2, 5)), 2, "random", item_weights=-np.ones(5))
  with pytest.raises(ValueError, match="at least 3 train models"):
    A.select_anchors(np.zeros((2, 5)), 2, "stepwise")


def test_difficulty_strata_are_equal_mass_and_unbiased():
  rng = np.random.default_rng(0)
  Y = (rng.random((40, 90)) < np.linspace(0.05, 0.95, 90)[None, :]).astype(float)
  mass = rng.random(90) + 0.5
  mass /= mass.sum()
  a = A.select_anchors(Y, 9, "difficulty", seed=1, item_weights=mass)
  assert a.indices.shape == (9,) and len(set(a.indices.tolist())) == 9
  # Strata are contiguous in item easiness, one anchor in each, weight = the stratum's mass.
  easiness = Y.mean(0)
  order = np.argsort(easiness, kind="stable")
  assert np.all(np.diff(a.labels[order]) >= 0) and set(a.labels.tolist()) == set(range(9))
  strata_mass = np.bincount(a.labels, weights=mass)
  np.testing.assert_allclose(a.weights, strata_mass[a.labels[a.indices]] / strata_mass.sum())
  assert np.ptp(strata_mass) < 2.5 * mass.max()       # near-equal mass: boundaries move by one item at most
  # Design-unbiased: the expectation of the weighted anchor mean over the draws is the full score.
  # Inside a stratum an item is drawn with probability m_i / W_h, so E = sum_h W_h sum_i (m_i / W_h) y_i.
  expect = sum(strata_mass[h] * (Y[:, a.labels == h] @ (mass[a.labels == h] / strata_mass[h])) for h in range(9))
  np.testing.assert_allclose(expect, Y @ mass, rtol=1e-12)
  draws = np.mean([Y[:, b.indices] @ b.weights for b in
                   (A.select_anchors(Y, 9, "difficulty", seed=s, item_weights=mass) for s in range(400))], axis=0)
  assert np.max(np.abs(draws - Y @ mass)) < 0.03


def test_difficulty_with_groups_allocates_by_group():
  rng = np.random.default_rng(1)
  Y = rng.integers(0, 2, (20, 30)).astype(float)
  groups = np.array(["a"] * 10 + ["b"] * 20)
  a = A.select_anchors(Y, 6, "difficulty", seed=0, groups=groups, item_weights=A.group_balance_weights(groups))
  # Equal group mass: 3 anchors per group, each group's weights summing to one half.
  in_a = a.indices < 10
  assert in_a.sum() == 3
  np.testing.assert_allclose(a.weights[in_a].sum(), 0.5)
  with pytest.raises(ValueError, match="no observed response"):
    Y2 = Y.copy()
    Y2[:, 4] = np.nan
    A.select_anchors(Y2, 5, "difficulty")


def _stepwise_reference(X, y, k, alphas):
  """Forward stepwise ridge selection in plain numpy (the same rule as kernels.stepwise_select)."""
  n = X.shape[0]
  Xc, yc = X - X.mean(0), y - y.mean()
  norms = np.linalg.norm(Xc, axis=0)
  chosen, resid = [], yc.copy()
  for _ in range(k):
    score = np.abs(Xc.T @ resid) / (norms * np.linalg.norm(resid) + 1e-30)
    score[chosen] = -2.0
    chosen.append(int(np.argmax(score)))
    best = None
    for a in alphas:
      S = Xc[:, chosen]
      coef = np.linalg.solve(S.T @ S + a * np.eye(len(chosen)), S.T @ yc)
      hat = S @ np.linalg.solve(S.T @ S + a * np.eye(len(chosen)), S.T)
      lev = np.diag(hat) + 1.0 / n
      loo = np.mean(((yc - S @ coef) / (1 - lev)) ** 2)
      if best is None or loo < best[0]:
        best = (loo, S @ coef)
    resid = yc - best[1]
  return chosen


def test_stepwise_matches_numpy_reference_and_finds_the_predictive_items():
  import jax.numpy as jnp
  from tinyjax import kernels

  rng = np.random.default_rng(0)
  n, I = 40, 30
  X = (rng.random((n, I)) < rng.random((n, 1))).astype(float)
  # The full score is driven by items 3, 17 and 25 (plus a little noise): stepwise must find them first.
  y = 0.5 * X[:, 3] + 0.3 * X[:, 17] + 0.2 * X[:, 25] + 0.01 * rng.standard_normal(n)
  alphas = (0.1, 1.0, 10.0)
  info = kernels.stepwise_select(jnp.asarray(X), jnp.asarray(y), 6, jnp.asarray(alphas))
  got = np.asarray(info.indices).tolist()
  assert got == _stepwise_reference(X, y, 6, alphas)
  assert sorted(got[:3]) == [3, 17, 25]
  assert len(set(got)) == 6
  # The leave-one-out error falls as the three driving items come in.
  loo = np.asarray(info.loo_mse)
  assert loo[2] < 0.1 * loo[0]
  # Through select_anchors, the score is the matrix's own full score (mass-weighted row mean): the same picks
  # as the reference on it, sorted, with weights summing to 1.
  mass = rng.random(I)
  mass /= mass.sum()
  a = A.select_anchors(X, 6, "stepwise", item_weights=mass)
  assert a.indices.tolist() == sorted(_stepwise_reference(X, X @ mass, 6, A._est.DEFAULT_RIDGE_ALPHAS))
  np.testing.assert_allclose(a.weights, mass[a.indices] / mass[a.indices].sum())
  # Asking for every item returns every item once.
  assert sorted(A.select_anchors(X, I, "stepwise").indices.tolist()) == list(range(I))
