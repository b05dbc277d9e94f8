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


# -- fixed-size rounds (the training hook's form): numpy reference, one compilation ----------------------------

@pytest.mark.parametrize("n_items,n_select,n_asked", [(1, 1, 0), (5, 2, 4), (40, 3, 0), (40, 6, 10)])
def test_adaptive_round_is_top_information(n_items, n_select, n_asked):
  import jax.numpy as jnp
  from tinyjax import kernels

  rng = np.random.default_rng(n_items + n_select)
  a, b = rng.lognormal(0, 0.5, n_items), rng.normal(0, 1.5, n_items)
  asked = np.zeros(n_items, bool)
  asked[rng.permutation(n_items)[:n_asked]] = True
  y = (rng.random(n_items) < 0.5).astype(np.float32)
  out = kernels.adaptive_round(jnp.asarray(y), jnp.asarray(asked), jnp.ones(n_items, bool),
                               jnp.asarray(a[:, None], jnp.float32), jnp.asarray(b, jnp.float32),
                               jnp.zeros(n_items), jnp.zeros(1), jnp.eye(1), 30, n_select)
  info = _info_1d(float(out.theta[0]), a, b)
  info[asked] = -np.inf
  ref = np.argsort(-info, kind="stable")[:n_select]
  n_valid = min(n_select, n_items - n_asked)
  np.testing.assert_array_equal(np.asarray(out.valid), np.arange(n_select) < n_valid)
  np.testing.assert_array_equal(np.asarray(out.items)[:n_valid], ref[:n_valid])
  step = kernels.d_optimal_step(jnp.asarray(y), jnp.asarray(asked), jnp.ones(n_items, bool),
                                jnp.asarray(a[:, None], jnp.float32), jnp.asarray(b, jnp.float32),
                                jnp.zeros(n_items), jnp.zeros(1), jnp.eye(1), 30)
  if n_valid:
    assert int(out.items[0]) == int(step.next_item)   # the best of the round is the one-at-a-time choice


def test_rounds_compile_once_and_one_per_round_is_the_online_test():
  rng = np.random.default_rng(5)
  truth = (rng.random(40) < 0.6).astype(float)
  answer = lambda idx: truth[idx]   # noqa: E731
  one = adaptive.AdaptiveRounds(MODEL1, n_rounds=6, n_per_round=1)
  run = one.run(answer)
  t = adaptive.AdaptiveTest(MODEL1, budget=6)
  while not t.done:
    k = t.ask()
    t.tell(k, truth[k])
  assert run.items[:, 0].tolist() == t.asked and run.n_asked == 6
  assert run.estimate == pytest.approx(t.estimate(), abs=1e-6)
  np.testing.assert_allclose(run.theta, t.theta, atol=1e-5)
  # Rounds of 3: each round's items are distinct, unasked, and the whole run's p-IRT uses every answer.
  rounds = adaptive.AdaptiveRounds(MODEL1, n_rounds=4, n_per_round=3)
  seen = []
  for _ in range(3):   # several runs (a hook firing several times), different answers: one compilation
    truth = (rng.random(40) < 0.6).astype(float)
    res = rounds.run(lambda idx: truth[idx])
    seen.append(res.items)
    assert res.items.shape == (4, 3) and len(set(res.items.ravel().tolist())) == 12 and res.n_asked == 12
    np.testing.assert_array_equal(res.answers, truth[res.items])
    asked = np.zeros(40, bool)
    asked[res.items.ravel()] = True
    p = MODEL1.predict_proba(res.theta[None, :])[0]
    ref = np.mean(np.where(asked, truth, p))
    assert res.estimate == pytest.approx(np.clip(ref, 0, 1), abs=1e-6)
  assert rounds.compilations == 1 and one.compilations == 1
  assert not all(np.array_equal(seen[0], s) for s in seen[1:])   # adaptive: the answers changed the items
  # Fewer items left than a round asks: the last round asks what is left, then the run stops.
  avail = np.zeros(40, bool)
  avail[:5] = True
  res = rounds.run(lambda idx: np.ones(idx.size), available=avail)
  assert res.n_asked == 5 and sorted(res.items[res.items >= 0].tolist()) == [0, 1, 2, 3, 4]
  assert rounds.compilations == 1
  with pytest.raises(ValueError, match="answer_fn"):
    rounds.run(lambda idx: np.full(idx.size, 2.0))
  with pytest.raises(ValueError, match="n_rounds"):
    adaptive.AdaptiveRounds(MODEL1, n_rounds=20, n_per_round=3)


# -- a session from a saved tiny benchmark (ask/tell by id) ----------------------------------------------------

@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
  import tinyjax as tj
  from tinyjax.synthetic import simulate_2pl

  Y, *_ = simulate_2pl(50, 30, seed=0)
  tb = tj.TinyBenchmark.fit(Y[:40], n_anchors=6, seed=0, kind="1pl", dim=1, n_folds=2, n_restarts=1,
                            progress=False)
  path = tb.save(tmp_path_factory.mktemp("adaptive") / "tiny.tjx")
  return tj.load(path), Y[40:]


def test_session_from_a_loaded_tiny_benchmark_equals_the_batched_form(saved_tiny):
  tb, Y = saved_tiny
  batched = tb.estimate_adaptive(Y)
  for m in range(Y.shape[0]):
    session = tb.adaptive_test()
    while not session.done:
      k = session.ask()
      item_id = session.ask_id()
      assert item_id == tb.item_ids[k]                       # ids round-trip
      # tell by id for even models, by index for odd ones: the same test
      session.tell(item_id if m % 2 == 0 else k, Y[m, tb.item_ids.index(item_id)])
    est = session.estimate()
    assert isinstance(est, adaptive.AdaptiveScore)
    assert [tb.item_ids.index(i) for i in est.items] == batched.items[m].tolist()
    assert est.n_asked == batched.n_asked[m] == tb.anchors.shape[0]
    assert est.score == pytest.approx(batched.score[m], abs=1e-6)
    assert (est.lo, est.hi) == pytest.approx((batched.lo[m], batched.hi[m]), abs=1e-6)
    np.testing.assert_allclose(est.theta, batched.theta[m], atol=1e-6)
    assert est.exterior == batched.exterior[m] and est.level == tb.level
    assert 0.0 <= est.lo <= est.score <= est.hi <= 1.0
  # A smaller budget and se_target are the same options as the batched form's.
  small = tb.adaptive_test(budget=3)
  for _ in range(3):
    small.tell(small.ask(), 1.0)
  assert small.done and small.estimate().n_asked == 3
  se = tb.estimate_adaptive(Y, budget=30, se_target=0.8)
  session = tb.adaptive_test(budget=30, se_target=0.8)
  while not session.done:
    k = session.ask()
    session.tell(k, Y[0, k])
  assert session.n_asked == se.n_asked[0] < 30


def test_session_bad_input(saved_tiny):
  from tinyjax.errors import ConfigError, ItemError, ResponseError

  tb, _ = saved_tiny
  session = tb.adaptive_test(budget=2)
  with pytest.raises(InputError, match="no item answered"):
    session.estimate()
  with pytest.raises(ItemError, match="unknown item id 'nope'"):
    session.tell("nope", 1)
  with pytest.raises(ItemError, match="index"):
    session.tell(len(tb.item_ids), 1)
  with pytest.raises(ItemError, match="item id"):
    session.tell(1.5, 1)
  for bad in (2.0, -0.1, float("nan"), "yes", None):
    with pytest.raises(ResponseError, match="answer"):
      session.tell(session.ask_id(), bad)
  first = session.ask_id()
  session.tell(first, True)
  with pytest.raises(ItemError, match="already answered"):
    session.tell(first, 0)
  session.tell(session.ask(), 0)
  with pytest.raises(InputError, match="done"):
    session.ask_id()
  for kwargs in ({"budget": 0}, {"budget": 31}, {"budget": 2.5}, {"se_target": -1.0}):
    with pytest.raises(ConfigError):
      tb.adaptive_test(**kwargs)
