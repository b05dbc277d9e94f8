"""Shape buckets (tinyjax._buckets): padded fits and estimates equal the unpadded ones, and nearby shapes compile
nothing new (issue 26, "a long job dies": a matrix one row and one column larger compiled 8 new programs)."""

import jax
import numpy as np
import pytest

import tinyjax as tj
from tinyjax import _buckets, kernels

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_count = [0]


def _on_event(event, duration, **kwargs):
  if event == _COMPILE_EVENT:
    _count[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


def _compilations(fn):
  before = _count[0]
  out = fn()
  return out, _count[0] - before


def _responses(n, i, seed=0, missing=0.1):
  rng = np.random.default_rng(seed)
  theta, b = rng.normal(size=n), rng.normal(size=i)
  y = (rng.random((n, i)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
  y[rng.random((n, i)) < missing] = np.nan
  return y


def test_bucket_sizes():
  assert [_buckets.bucket(n) for n in (1, 128, 129, 256, 257, 2000, 2048)] == [128, 128, 256, 256, 512, 2048, 2048]
  assert [_buckets.bucket(n) for n in (2049, 2560, 2561, 5000, 20000)] == [2560, 2560, 3072, 5120, 20480]
  assert [_buckets.bucket(n, coarse=True) for n in (1, 129, 512, 513, 1000, 1025, 2048, 2049, 5000)] == \
      [512, 512, 512, 1024, 1024, 2048, 2048, 2560, 5120]
  for n in range(1, 30000, 37):
    assert n <= _buckets.bucket(n) <= max(_buckets.MIN_BUCKET, 2 * n)
    assert n <= _buckets.bucket(n, coarse=True) <= max(_buckets.COARSE_MIN, 2 * n)
    if n > _buckets.FINE_ABOVE:
      assert _buckets.bucket(n) == _buckets.bucket(n, coarse=True) <= 1.25 * n + 1


@pytest.mark.parametrize("kind,dim", [("3pl", 1), ("2pl", 2)])   # the guessing parameter; several dimensions
def test_padded_fit_equals_unpadded(kind, dim, monkeypatch):
  y = _responses(37, 23, seed=1)
  padded = tj.fit_irt(y, kind=kind, dim=dim, seed=0, progress=False)
  monkeypatch.setattr(_buckets, "bucket", lambda n, minimum=128, coarse=False: int(n))
  plain = tj.fit_irt(y, kind=kind, dim=dim, seed=0, progress=False)
  # Padded parameters get no gradient, so the path is the same up to float32 rounding: the padded shapes sum in
  # another order, which can move the stopping rule by one step (float64: test_padded_fit_float64, exact path).
  assert abs(padded.fit_info.n_iter - plain.fit_info.n_iter) <= 1
  assert padded.fit_info.converged == plain.fit_info.converged
  np.testing.assert_allclose(padded.fit_info.objective, plain.fit_info.objective, rtol=1e-5)
  # The fitted probabilities (invariant to the rotations a dim-2 model leaves free) agree.
  np.testing.assert_allclose(padded.predict_proba(padded.theta), plain.predict_proba(plain.theta), atol=2e-3)
  if padded.fit_info.n_iter == plain.fit_info.n_iter:
    for name in ("theta", "a", "b", "c"):
      np.testing.assert_allclose(getattr(padded, name), getattr(plain, name), atol=2e-4)


def test_padding_leaves_objective_and_gradient_unchanged():
  """The MAP objective with padded rows and items equals the unpadded one at any parameters, and the padded
  parameters get exactly zero gradient: the priors of padded parameters do not enter the objective."""
  n, i, n_pad, i_pad = 9, 6, 16, 11
  y = np.nan_to_num(_responses(n, i, seed=2))
  mask = ~np.isnan(_responses(n, i, seed=2))
  rng = np.random.default_rng(3)
  config = tj.IRTPriors(hierarchical=True).resolve("3pl", 2, n, "learned", 0.25)
  full = kernels.IRTParams(*(rng.normal(size=s).astype(np.float32) for s in
                             ((n_pad, 2), (i_pad, 2), (i_pad,), (i_pad,), (4,))))
  real = kernels.IRTParams(full.theta[:n], full.a_raw[:i], full.b[:i], full.c_raw[:i], full.hyper)
  y_pad = _buckets.pad_to(y.astype(np.float32), (n_pad, i_pad))
  m_pad = _buckets.pad_to(mask, (n_pad, i_pad), False)
  rows, items = _buckets.valid(n, n_pad), _buckets.valid(i, i_pad)
  f_pad = lambda p: kernels.irt_objective(p, y_pad, m_pad, config, rows, items)
  f_real = lambda p: kernels.irt_objective(p, y.astype(np.float32), mask, config)
  np.testing.assert_allclose(f_pad(full), f_real(real), rtol=1e-6)
  g = jax.grad(f_pad)(full)
  assert np.all(np.asarray(g.theta)[n:] == 0) and np.all(np.asarray(g.a_raw)[i:] == 0)
  assert np.all(np.asarray(g.b)[i:] == 0) and np.all(np.asarray(g.c_raw)[i:] == 0)
  g_real = jax.grad(f_real)(real)
  np.testing.assert_allclose(np.asarray(g.theta)[:n], g_real.theta, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(np.asarray(g.b)[:i], g_real.b, rtol=1e-4, atol=1e-7)


def test_padded_fit_float64(monkeypatch):
  y = _responses(30, 17, seed=4)
  with jax.enable_x64(True):
    padded = tj.fit_irt(y, seed=0, progress=False, dtype="float64")
    monkeypatch.setattr(_buckets, "bucket", lambda n, minimum=128, coarse=False: int(n))
    plain = tj.fit_irt(y, seed=0, progress=False, dtype="float64")
  assert padded.fit_info.n_iter == plain.fit_info.n_iter
  np.testing.assert_allclose(padded.theta, plain.theta, atol=1e-8)
  np.testing.assert_allclose(padded.b, plain.b, atol=1e-8)


@pytest.mark.parametrize("method", ["mle", "map", "eap"])
def test_padded_ability_equals_unpadded(method, monkeypatch):
  y = _responses(40, 21, seed=5)
  model = tj.fit_irt(y, seed=0, progress=False)
  new = _responses(13, 21, seed=6, missing=0.3)
  new[:, 0] = np.where(np.isnan(new).all(1), 1.0, new[:, 0])
  padded = tj.estimate_ability(model, new, method=method)
  items = np.arange(3, 17)
  sub = tj.estimate_ability(model, new[:, items], items=items, method=method, batch_size=5)
  monkeypatch.setattr(_buckets, "bucket", lambda n, minimum=128, coarse=False: int(n))
  plain = tj.estimate_ability(model, new, method=method)
  plain_sub = tj.estimate_ability(model, new[:, items], items=items, method=method, batch_size=5)
  for got, want in ((padded, plain), (sub, plain_sub)):
    np.testing.assert_allclose(got.theta, want.theta, atol=1e-5)
    np.testing.assert_allclose(got.se, want.se, atol=1e-5)
    np.testing.assert_array_equal(got.diverged, want.diverged)
    np.testing.assert_array_equal(got.n_iter, want.n_iter)
  p = model.predict_proba(padded.theta[np.isfinite(padded.theta[:, 0])], items=items)
  assert p.shape == (np.isfinite(padded.theta[:, 0]).sum(), items.size)


def test_nearby_shapes_compile_nothing_new():
  """Two different shapes in one bucket: the second fit, ability estimate and prediction compile nothing."""
  y1, y2 = _responses(70, 45, seed=7), _responses(90, 60, seed=8)
  m1, _ = _compilations(lambda: tj.fit_irt(y1, seed=0, progress=False))
  _compilations(lambda: tj.estimate_ability(m1, y1[:20]))
  _compilations(lambda: m1.predict_proba(m1.theta))
  m2, n_fit = _compilations(lambda: tj.fit_irt(y2, seed=0, progress=False))
  _, n_ability = _compilations(lambda: tj.estimate_ability(m2, y2[:30]))
  _, n_prob = _compilations(lambda: m2.predict_proba(m2.theta))
  assert (n_fit, n_ability, n_prob) == (0, 0, 0)
  assert m2.theta.shape == (90, 1) and m2.a.shape == (60, 1)


def test_adaptive_and_pirt_compile_once_per_bucket():
  from tinyjax import adaptive
  from tinyjax.tiny import estimators
  model = tj.fit_irt(_responses(80, 50, seed=9), seed=0, progress=False)
  y = _responses(80, 50, seed=9)
  r1, _ = _compilations(lambda: adaptive.simulate(model, y[:20], budget=5))
  _compilations(lambda: estimators.pirt_estimate(y[:20, :10], np.arange(10), np.full(50, 1 / 50),
                                                 model.predict_proba(model.theta[:20])))
  r2, n_sim = _compilations(lambda: adaptive.simulate(model, y[20:45], budget=5))
  _, n_pirt = _compilations(lambda: estimators.pirt_estimate(
      y[:30, :12], np.arange(12), np.full(50, 1 / 50), model.predict_proba(model.theta[:30])))
  assert (n_sim, n_pirt) == (0, 0)
  assert r1.items.shape == (20, 5) and r2.items.shape == (25, 5)
  assert np.all(r2.items < 50)


def test_adaptive_simulate_equals_unpadded(monkeypatch):
  from tinyjax import adaptive
  y = _responses(60, 30, seed=10)
  model = tj.fit_irt(y, seed=0, progress=False)
  padded = adaptive.simulate(model, y[:12], budget=8)
  monkeypatch.setattr(_buckets, "bucket", lambda n, minimum=128, coarse=False: int(n))
  plain = adaptive.simulate(model, y[:12], budget=8)
  np.testing.assert_array_equal(padded.items, plain.items)
  np.testing.assert_allclose(padded.estimate, plain.estimate, atol=1e-6)
  np.testing.assert_allclose(padded.theta, plain.theta, atol=1e-5)


def test_clear_caches_drops_programs():
  y = _responses(50, 30, seed=11)
  tj.fit_irt(y, seed=0, progress=False)
  _, again = _compilations(lambda: tj.fit_irt(y, seed=0, progress=False))
  assert again == 0
  tj.clear_caches()
  _, after = _compilations(lambda: tj.fit_irt(y, seed=0, progress=False))
  assert after > 0


def test_fit_compiles_its_program_ahead(monkeypatch):
  """fit_irt compiles its program beside the host's preparation (irt._compile_fit_ahead), for exactly the call it
  then makes: the fit's own call compiles nothing more, for 0/1 answers (int8) and fractional scores alike."""
  from tinyjax import irt
  at_join = []
  real = irt._compile_fit_ahead

  def ahead(*args, **kwargs):
    thread = real(*args, **kwargs)
    thread.join()
    at_join.append(_count[0])
    return thread

  monkeypatch.setattr(irt, "_compile_fit_ahead", ahead)
  # Shapes no other test compiles (instead of clearing JAX's caches, which would recompile the later tests' programs)
  monkeypatch.setattr(_buckets, "bucket", lambda n, minimum=128, coarse=False: int(n) + 3)
  y = _responses(40, 20, seed=12)
  fractional = np.where(np.isnan(y), np.nan, 0.1 + 0.8 * y)
  for data in (y, fractional):
    before = _count[0]
    tj.fit_irt(data, seed=0, progress=False)
    assert (at_join[-1] - before, _count[0] - at_join[-1]) == (1, 0)


def test_fit_says_how_much_memory_it_needs(monkeypatch):
  from tinyjax import irt
  monkeypatch.setattr(irt, "available_memory_bytes", lambda device=None: 10 * 2 ** 20)
  with pytest.raises(tj.errors.ResponseError, match=r"needs about .* GiB \(\d+ bytes.*only .* available"):
    tj.fit_irt(_responses(20, 10), seed=0, progress=False)
  need = irt.fit_memory_bytes(20_000, 20_000)
  assert 20_000 * 20_000 * 20 < need < 20_000 * 20_000 * 43
