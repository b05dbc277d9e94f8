"""Adaptive testing picks the most informative item, offline (batched) and online (ask/tell)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyjax import adaptive
from tinyjax.errors import InputError
from tinyjax.irt import IRTModel, IRTPriors


def _model(a, b, c=None):
  a = np.asarray(a, np.float32).reshape(len(b), -1)
  b = np.asarray(b, np.float32)
  c = np.zeros_like(b) if c is None else np.asarray(c, np.float32)
  d = a.shape[1]
  pri = IRTPriors()
  cfg = pri.resolve("2pl", d, 100, "none", 0.2)
  return IRTModel(kind="2pl", dim=d, a=a, b=b, c=c, theta=np.zeros((1, d), np.float32),
                  item_ids=[f"i{k}" for k in range(len(b))], model_ids=["m"], priors=pri, config=cfg)


def _info_1d(theta, a, b):
  p = 1 / (1 + np.exp(-(a * theta - b)))
  return a ** 2 * p * (1 - p)


RNG = np.random.default_rng(0)
A1 = RNG.lognormal(0, 0.5, 40)
B1 = RNG.normal(0, 1.5, 40)
MODEL1 = _model(A1, B1)


def test_online_picks_max_information():
  test = adaptive.AdaptiveTest(MODEL1, budget=6)
  np.testing.assert_allclose(test.theta, [0.0], atol=1e-6)
  truth_theta = 1.2
  for _ in range(6):
    item = test.ask()
    info = _info_1d(test.theta[0], A1, B1)
    info[test.asked] = -np.inf
    assert item == int(np.argmax(info))
    p = 1 / (1 + np.exp(-(A1[item] * truth_theta - B1[item])))
    test.tell(item, float(p > 0.5))
  assert test.done and len(set(test.asked)) == 6
  with pytest.raises(InputError):
    test.ask()
  assert 0.0 <= test.estimate() <= 1.0
  t = adaptive.AdaptiveTest(MODEL1, budget=3)
  t.tell(0, 1)
  with pytest.raises(ValueError, match="already"):
    t.tell(0, 1)


def test_d_optimal_in_two_dimensions():
  rng = np.random.default_rng(1)
  a, b = np.abs(rng.normal(0, 1, (12, 2))), rng.normal(0, 1, 12)
  model = _model(a, b)
  test = adaptive.AdaptiveTest(model, budget=3)
  test.tell(test.ask(), 1.0)
  th = test.theta.astype(np.float64)
  p = 1 / (1 + np.exp(-(a @ th - b)))
  F = (p * (1 - p))[:, None, None] * a[:, :, None] * a[:, None, :]
  P = np.eye(2) + F[test.asked].sum(0)
  crit = np.linalg.slogdet(P[None] + F)[1]
  crit[test.asked] = -np.inf
  assert test.ask() == int(np.argmax(crit))


def test_offline_batched_matches_online_and_beats_random():
  rng = np.random.default_rng(2)
  theta = rng.normal(size=60)
  P = 1 / (1 + np.exp(-(np.outer(theta, A1) - B1)))
  Y = (rng.random(P.shape) < P).astype(float)
  res = adaptive.simulate(MODEL1, Y, budget=8)
  assert res.items.shape == (60, 8) and np.all(res.n_asked == 8)
  assert all(len(set(r.tolist())) == 8 for r in res.items)
  # Same path as the online test for one model.
  t = adaptive.AdaptiveTest(MODEL1, budget=8)
  while not t.done:
    k = t.ask()
    t.tell(k, Y[3, k])
  assert t.asked == res.items[3].tolist()
  np.testing.assert_allclose(t.theta, res.theta[3], rtol=1e-4, atol=1e-4)
  # Adaptive items estimate the ability better than the first 8 items (a fixed non-adaptive set).
  ab_err = np.mean(np.abs(res.theta[:, 0] - theta))
  fixed = adaptive.simulate(MODEL1, np.where(np.arange(40) < 8, Y, np.nan), budget=8)
  assert ab_err < np.mean(np.abs(fixed.theta[:, 0] - theta))


def test_se_target_stops_early():
  rng = np.random.default_rng(3)
  Y = (rng.random((5, 40)) < 0.5).astype(float)
  res = adaptive.simulate(MODEL1, Y, budget=40, se_target=0.6)
  assert np.all(res.n_asked < 40)
  assert np.all(res.se <= 0.6 + 1e-6)
  with pytest.raises(ValueError, match="budget"):
    adaptive.simulate(MODEL1, Y, budget=0)
  with pytest.raises(ValueError, match="Y must"):
    adaptive.simulate(MODEL1, Y[:, :5], budget=2)


def test_estimate_is_pirt_with_item_weights():
  """Asked items count for their answers, every other item for its prediction, each with its item weight."""
  rng = np.random.default_rng(4)
  Y = (rng.random((6, 40)) < 0.6).astype(float)
  w = rng.uniform(0.5, 2.0, 40)
  res = adaptive.simulate(MODEL1, Y, budget=5, item_weights=w)
  p = MODEL1.predict_proba(res.theta)
  asked = np.zeros(Y.shape, bool)
  np.put_along_axis(asked, res.items, True, axis=1)
  ref = p @ (w / w.sum()) + np.sum(np.where(asked, (Y - p) * w / w.sum(), 0.0), axis=1)
  np.testing.assert_allclose(res.estimate, np.clip(ref, 0, 1), atol=1e-6)
  t = adaptive.AdaptiveTest(MODEL1, budget=5, item_weights=w)
  for k in res.items[0]:
    t.tell(k, Y[0, k])
  assert t.estimate() == pytest.approx(res.estimate[0], abs=1e-6)
  with pytest.raises(ValueError, match="item_weights"):
    adaptive.simulate(MODEL1, Y, budget=5, item_weights=-w)
