"""IRT engine: likelihood vs numpy, recovery, ability vs scipy, save/load, errors, real data."""

from __future__ import annotations

import functools
import numpy as np
import pytest
import jax
import jax.numpy as jnp
from scipy import optimize, special

import tinyjax as tj
from tinyjax import kernels
from tinyjax.errors import ArtifactError, ConfigError, PrecisionError
from tinyjax.synthetic import simulate_2pl


# ------------------------------------------------------------------ likelihood vs numpy


def _np_loglik(theta, a, b, c, y, m):
  p = c + (1 - c) * special.expit(theta @ a.T - b)
  return np.sum(np.where(m, y * np.log(p) + (1 - y) * np.log1p(-p), 0.0))


@pytest.mark.parametrize("n,i,d,use_c", [(1, 1, 1, False), (7, 13, 1, True), (20, 30, 3, False), (5, 9, 2, True)])
def test_loglik_and_grad_match_numpy(n, i, d, use_c):
  rng = np.random.default_rng(n * 100 + i)
  theta, a, b = rng.normal(size=(n, d)), rng.uniform(0.3, 2.0, (i, d)), rng.normal(size=i)
  c = rng.uniform(0.05, 0.3, i) if use_c else np.zeros(i)
  y = rng.random((n, i))                                    # fractional scores exercise the general form
  y[: n // 2] = (y[: n // 2] > 0.5)
  m = rng.random((n, i)) < 0.8
  expected = _np_loglik(theta, a, b, c, y, m)
  f = lambda t, aa, bb: kernels.irt_log_likelihood(t, aa, bb, jnp.asarray(c) if use_c else None,
                                                   jnp.asarray(y), jnp.asarray(m))
  got = f(*map(jnp.asarray, (theta, a, b)))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  # Analytic gradient wrt theta: sum_i m (y - p) / (p (1 - p)) * dp/dz * a_i.
  z = theta @ a.T - b
  s = special.expit(z)
  p = c + (1 - c) * s
  r = np.where(m, (y - p) / (p * (1 - p)) * (1 - c) * s * (1 - s), 0.0)
  g_theta = jax.grad(f, argnums=0)(*map(jnp.asarray, (theta, a, b)))
  np.testing.assert_allclose(g_theta, r @ a, rtol=2e-3, atol=2e-4)
  g_b = jax.grad(f, argnums=2)(*map(jnp.asarray, (theta, a, b)))
  np.testing.assert_allclose(g_b, -r.sum(0), rtol=2e-3, atol=2e-4)


def test_prob_and_classical_conversion():
  rng = np.random.default_rng(1)
  theta = rng.normal(size=(4, 1))
  a, b = rng.uniform(0.5, 2, (6, 1)), rng.normal(size=6)
  c = np.full(6, 0.25)
  p = np.asarray(kernels.irt_prob(*map(jnp.asarray, (theta, a, b, c))))
  beta = b / a[:, 0]
  np.testing.assert_allclose(p, c + (1 - c) * special.expit(a[:, 0] * (theta - beta)), rtol=1e-5)


# ------------------------------------------------------------------ recovery


@pytest.fixture(scope="module")
def sim():
  return simulate_2pl(300, 200, dim=1, missing=0.1, seed=3)


@pytest.fixture(scope="module")
def fitted(sim):
  return tj.fit_irt(sim[0], kind="2pl", dim=1, seed=0, progress=False)


def test_recovery_2pl(sim, fitted):
  _, theta, a, b = sim
  m = fitted
  assert m.fit_info.converged and m.fit_info.n_iter > 1
  assert np.corrcoef(m.theta[:, 0], theta[:, 0])[0, 1] > 0.95
  assert np.corrcoef(m.a[:, 0], a[:, 0])[0, 1] > 0.75
  assert np.corrcoef(m.b, b)[0, 1] > 0.95


def test_same_seed_same_result(sim, fitted):
  again = tj.fit_irt(sim[0], kind="2pl", dim=1, seed=0, progress=False)
  np.testing.assert_array_equal(again.a, fitted.a)
  np.testing.assert_array_equal(again.theta, fitted.theta)


def test_fit_reports_nonconvergence(sim):
  m = tj.fit_irt(sim[0], kind="2pl", dim=1, seed=0, progress=False, max_iter=2, chunk=50)
  assert not m.fit_info.converged and m.fit_info.n_iter == 2


@pytest.mark.slow
def test_3pl_fixed_and_learned_and_1pl():
  rng = np.random.default_rng(5)
  n, i = 300, 60
  theta = rng.normal(size=(n, 1))
  a, b, c = rng.lognormal(0.3, 0.3, (i, 1)), rng.normal(size=i), np.full(i, 0.25)
  p = c + (1 - c) * special.expit(theta @ a.T - b)
  y = (rng.random(p.shape) < p).astype(float)
  fixed = tj.fit_irt(y, kind="3pl", guess=0.25, progress=False)
  np.testing.assert_allclose(fixed.c, 0.25)
  learned = tj.fit_irt(y, kind="3pl", n_choices=4, progress=False)
  assert 0.1 < learned.c.mean() < 0.4
  assert np.corrcoef(fixed.theta[:, 0], theta[:, 0])[0, 1] > 0.9
  rasch = tj.fit_irt(y, kind="1pl", progress=False)
  np.testing.assert_allclose(rasch.a, 1.0)
  assert np.corrcoef(rasch.theta[:, 0], theta[:, 0])[0, 1] > 0.9


def test_fractional_and_binarize():
  rng = np.random.default_rng(2)
  y = np.clip(rng.beta(2, 2, size=(40, 25)), 0, 1)
  frac = tj.fit_irt(y, likelihood="bernoulli", progress=False)
  binz = tj.fit_irt(y, likelihood="binarize", threshold=0.5, progress=False)
  assert frac.fit_info.converged and binz.fit_info.converged
  # binarize is the same fit as on the thresholded matrix; the fractional likelihood uses the scores themselves
  by_hand = tj.fit_irt((y >= 0.5).astype(float), progress=False)
  np.testing.assert_array_equal(binz.b, by_hand.b)
  np.testing.assert_array_equal(binz.theta, by_hand.theta)
  assert np.corrcoef(frac.theta[:, 0], y.mean(1))[0, 1] > 0.9


def test_float64_fit(sim):
  with jax.enable_x64(True):
    m = tj.fit_irt(sim[0][:60, :40], dtype="float64", progress=False)
    assert m.a.dtype == np.float64 and m.fit_info.converged
  with pytest.raises(PrecisionError, match="jax_enable_x64"):
    tj.fit_irt(sim[0][:60, :40], dtype="float64", progress=False)


def test_seed_is_keyword_only(sim):
  with pytest.raises(TypeError):
    tj.fit_irt(sim[0], "2pl", 1, 0)
  with pytest.raises(ConfigError, match="seed"):
    tj.fit_irt(sim[0], seed=-1)


# ------------------------------------------------------------------ the shared L-BFGS driver


@pytest.mark.parametrize("linesearch,rule", [("zoom", "patience"), ("backtracking", "ftol")])
def test_lbfgs_chunks_equal_one_run(linesearch, rule):
  """Running the driver in chunks (state carried) is the same as one run, and it finds the minimum."""
  fun = lambda x: jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)   # Rosenbrock
  with jax.enable_x64(True):
    opt = kernels.lbfgs(linesearch, max_linesearch_steps=30)
    stop = kernels.patience_rule(1e-14, 1e-10) if rule == "patience" else kernels.ftol_rule(1e-15, 1e-10)
    x0 = jnp.asarray([-1.2, 1.0, -0.5, 0.8])
    run = jax.jit(lambda s, k: kernels.lbfgs_run(fun, opt, s, k, stop))
    one = run(kernels.lbfgs_init(opt, x0, fun(x0)), 500)
    state = kernels.lbfgs_init(opt, x0, fun(x0))
    for _ in range(100):
      state = run(state, 7)
    assert bool(one.done) and int(one.step) < 500
    assert int(state.step) == int(one.step)
    np.testing.assert_array_equal(np.asarray(state.params), np.asarray(one.params))
    np.testing.assert_allclose(np.asarray(one.params), 1.0, atol=1e-5)


def test_lean_lbfgs_finds_scipy_minimum_and_chunks_equal_one_run():
  """The lean driver (the IRT fit's: one evaluation per loop iteration) reaches scipy L-BFGS-B's minimum of a
  Rosenbrock function plus a quadratic, and running it in chunks of 7 iterations is the same as one run."""
  target = np.asarray([0.3, -0.2, 0.5, 0.1, 0.4])
  fun = lambda x: jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) + jnp.sum((x - target) ** 2)
  with jax.enable_x64(True):
    ref = optimize.minimize(lambda x: float(fun(jnp.asarray(x))), np.zeros(5), jac=lambda x: np.asarray(
        jax.grad(fun)(jnp.asarray(x))), method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    run = jax.jit(lambda s, k: kernels.lean_lbfgs_run(fun, s, k, 1e-14, 1e-10))
    x0 = np.zeros(5)
    one = run(kernels.lean_lbfgs_init(x0), 500)
    state = kernels.lean_lbfgs_init(x0)
    for _ in range(100):
      state = run(state, 7)
    assert bool(one.done) and 1 < int(one.step) < 500 and int(one.n_evals) >= int(one.step)
    assert int(state.step) == int(one.step)
    np.testing.assert_array_equal(np.asarray(state.params), np.asarray(one.params))
    np.testing.assert_allclose(np.asarray(one.params), ref.x, atol=1e-5)
    np.testing.assert_allclose(float(one.value), ref.fun, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(one.grad), np.asarray(jax.grad(fun)(one.params)), atol=1e-12)


def test_lbfgs_triangular_solve_matches_numpy_without_lapack():
  """The L-BFGS direction's M x M triangular solves (both orientations) equal numpy's, and compile without a
  LAPACK call (whose first lowering imports scipy.linalg: 0.17 s of a cold fit)."""
  from tinyjax.kernels._lbfgs import _solve_triangular
  rng = np.random.default_rng(3)
  r = np.triu(rng.normal(size=(10, 10))) + np.diag(rng.uniform(1.0, 2.0, 10))
  b = rng.normal(size=10)
  with jax.enable_x64(True):
    for transpose in (False, True):
      f = jax.jit(lambda r, b: _solve_triangular(r, b, transpose=transpose))
      got = np.asarray(f(r, b))
      np.testing.assert_allclose((r.T if transpose else r) @ got, b, atol=1e-12)
      np.testing.assert_allclose(got, np.linalg.solve(r.T if transpose else r, b), rtol=1e-10)
      assert "lapack" not in f.lower(r, b).as_text().lower()


def test_irt_flatten_order_and_unflatten():
  """The fit's flat vector is ravel_pytree's order, and irt_unflatten inverts it (numpy and JAX alike)."""
  from jax.flatten_util import ravel_pytree
  rng = np.random.default_rng(0)
  p = kernels.IRTParams(*(rng.normal(size=s).astype(np.float32) for s in ((5, 2), (3, 2), (3,), (3,), (4,))))
  flat = kernels.irt_flatten(p)
  np.testing.assert_array_equal(flat, np.asarray(ravel_pytree(p)[0]))
  for back in (kernels.irt_unflatten(flat, 5, 3, 2), kernels.irt_unflatten(jnp.asarray(flat), 5, 3, 2)):
    for got, want in zip(back, p):
      np.testing.assert_array_equal(np.asarray(got), want)


def test_enable_compilation_cache_is_opt_in(tmp_path):
  """Importing tinyjax and fitting leave JAX's cache off; tj.enable_compilation_cache(path) turns it on for the
  process, and a fit then writes its program there (a fresh process: the setting is process-wide)."""
  import subprocess
  import sys
  code = (
      "import jax, numpy as np, tinyjax as tj\n"
      "y = (np.random.default_rng(0).random((30, 20)) < 0.5).astype(float)\n"
      "tj.fit_irt(y, progress=False)\n"
      "assert jax.config.jax_compilation_cache_dir is None\n"
      f"folder = tj.enable_compilation_cache({str(tmp_path / 'xla')!r})\n"
      "assert jax.config.jax_compilation_cache_dir == folder\n"
      "tj.fit_irt(y, kind='1pl', progress=False)\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr
  assert any((tmp_path / "xla").iterdir())


# ------------------------------------------------------------------ ability


def test_ability_map_matches_scipy(fitted, sim):
  y = sim[0][:12]
  ab = tj.estimate_ability(fitted, y, method="map")
  a, b = fitted.a[:, 0], fitted.b
  for j in range(12):
    m = ~np.isnan(y[j])
    yy = np.nan_to_num(y[j])

    def nlp(t):
      z = a * t[0] - b
      return -(np.sum(m * (yy * z - np.logaddexp(0, z))) - 0.5 * t[0] ** 2)

    ref = optimize.minimize(nlp, np.zeros(1), method="BFGS", options={"gtol": 1e-8})
    np.testing.assert_allclose(ab.theta[j, 0], ref.x[0], atol=2e-3)
    p = special.expit(a * ref.x[0] - b)
    se = 1 / np.sqrt(np.sum(m * a ** 2 * p * (1 - p)) + 1.0)
    np.testing.assert_allclose(ab.se[j, 0], se, rtol=1e-2)


def test_ability_subset_and_eap(fitted, sim):
  items = np.arange(0, 200, 4)
  y = sim[0][:20, items]
  mle = tj.estimate_ability(fitted, y, items=items, method="mle")
  eap = tj.estimate_ability(fitted, y, items=items, method="eap")
  # EAP vs a brute-force posterior on a fine grid.
  grid = np.linspace(-6, 6, 4001)
  a, b = fitted.a[items, 0], fitted.b[items]
  for j in range(3):
    m = ~np.isnan(y[j])
    z = grid[:, None] * a - b
    lp = np.sum(m * (np.nan_to_num(y[j]) * z - np.logaddexp(0, z)), 1) - 0.5 * grid ** 2
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ grid
    np.testing.assert_allclose(eap.theta[j, 0], mean, atol=5e-3)
    np.testing.assert_allclose(eap.se[j, 0], np.sqrt(w @ (grid - mean) ** 2), rtol=3e-2)
  assert mle.converged[~mle.diverged].all()


def test_extreme_rows_mle_diverges_map_finite(fitted):
  y = np.vstack([np.ones(fitted.n_items), np.zeros(fitted.n_items), np.full(fitted.n_items, np.nan)])
  y[2, :3] = [1, 0, 1]
  mle = tj.estimate_ability(fitted, y, method="mle")
  assert mle.diverged.tolist() == [True, True, False]
  assert mle.theta[0, 0] == np.inf and mle.theta[1, 0] == -np.inf and np.isinf(mle.se[:2]).all()
  for method in ("map", "eap"):
    r = tj.estimate_ability(fitted, y, method=method)
    assert np.isfinite(r.theta).all() and np.isfinite(r.se).all() and not r.diverged.any()
    assert r.theta[0, 0] > 1.5 and r.theta[1, 0] < -1.5


@pytest.mark.slow
def test_multidim_ability_importance_eap():
  y, theta, a, b = simulate_2pl(80, 60, dim=3, seed=4)
  m = tj.fit_irt(y, kind="2pl", dim=3, progress=False)
  mp = tj.estimate_ability(m, y[:10], method="map")
  ep = tj.estimate_ability(m, y[:10], method="eap", seed=0)
  assert mp.theta.shape == (10, 3) and ep.se.shape == (10, 3)
  np.testing.assert_allclose(ep.theta, mp.theta, atol=0.35)
  ep2 = tj.estimate_ability(m, y[:10], method="eap", seed=0)
  np.testing.assert_array_equal(ep.theta, ep2.theta)
  p = m.predict_proba(m.theta)
  assert p.shape == (80, 60)


def test_ability_errors(fitted):
  with pytest.raises(ValueError, match="columns"):
    tj.estimate_ability(fitted, np.ones((2, 5)))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    tj.estimate_ability(fitted, np.full((1, 3), 2.0), items=[0, 1, 2])
  with pytest.raises(ValueError, match="no answered item"):
    tj.estimate_ability(fitted, np.full((2, 3), np.nan), items=[0, 1, 2])
  with pytest.raises(ValueError, match="item indices"):
    tj.estimate_ability(fitted, np.ones((1, 2)), items=[0, 10_000])
  with pytest.raises(ValueError, match="method"):
    tj.estimate_ability(fitted, np.ones((1, 2)), items=[0, 1], method="bayes")


def _ability_problem(n, i, seed, guessing, missing=0.3):
  rng = np.random.default_rng(seed)
  a, b = rng.uniform(0.4, 2.0, (i, 1)), rng.normal(size=i)
  c = rng.uniform(0.05, 0.3, i) if guessing else np.zeros(i)
  theta = rng.normal(size=n)
  p = c + (1 - c) * special.expit(theta[:, None] * a[:, 0] - b)
  y = (rng.random((n, i)) < p).astype(float)
  y[: n // 4] = rng.random((n // 4, i))                   # fractional scores too
  m = rng.random((n, i)) >= missing
  m[:, 0] = True
  y[-2], m[-2] = 1.0, True                                # all right
  y[-1], m[-1] = 0.0, True                                # all wrong
  return y, m, a, b, c


@pytest.mark.parametrize("guessing,method,x64", [(False, "map", False), (False, "mle", False),
                                                 (True, "map", False), (False, "map", True)])
def test_newton_1d_matches_general_kernel(guessing, method, x64):
  """The closed-form 1-D Newton from the score-curve start lands where the general D x D kernel lands."""
  with jax.enable_x64(x64):
    dt = jnp.float64 if x64 else jnp.float32
    y, m, a, b, c = (jnp.asarray(v, dt) if v.dtype != bool else jnp.asarray(v)
                     for v in _ability_problem(24, 30, 7, guessing))
    mean, prec = jnp.zeros(1, dt), jnp.full((1, 1), 0.0 if method == "mle" else 1.0, dt)
    points = jnp.linspace(-7.0, 7.0, 512, dtype=dt)
    curve, slope = kernels.score_curve_1d(a, b, c, jnp.ones(30, bool), mean, prec, points)
    start = jax.vmap(kernels.score_curve_start, (0, None, None, None))(
        jnp.sum(jnp.where(m, y, 0) * a[:, 0], 1), curve, slope, points)
    fast = jax.jit(jax.vmap(lambda yy, mm, t: kernels.ability_newton_1d(yy, mm, a, b, c, mean, prec, t,
                                                                          guessing=guessing)))(y, m, start)
    ref = jax.jit(jax.vmap(lambda yy, mm: kernels.ability_newton(yy, mm, a, b, c, mean, prec)))(y, m)
  tol = 1e-9 if x64 else 2e-5
  np.testing.assert_array_equal(fast.diverged, ref.diverged)
  np.testing.assert_array_equal(fast.converged, ref.converged)   # 3PL, all wrong: Fisher scoring cycles in both
  assert bool(fast.diverged[-1]) == (method == "mle") and np.all(fast.converged[:-2])
  ok = np.asarray(ref.converged)
  np.testing.assert_allclose(fast.theta[ok], ref.theta[ok], atol=tol)
  np.testing.assert_allclose(fast.theta, ref.theta, atol=1e-3)
  np.testing.assert_allclose(fast.se[ok], ref.se[ok], rtol=1e-4 if not x64 else 1e-6)
  if not guessing:   # the 2PL start sits next to the answer (the 3PL score equation weighs items otherwise)
    assert int(np.max(fast.n_iter[ok])) <= int(np.max(ref.n_iter[ok]))



def test_score_curve_start_is_the_complete_row_map():
  """For a complete 2PL row the tabulated score equation, inverted, is already the MAP (Newton confirms it)."""
  y, m, a, b, c = (jnp.asarray(v, jnp.float32) for v in _ability_problem(32, 40, 5, False, missing=0.0))
  m = m.astype(bool)
  y = jnp.round(y)
  mean, prec, points = jnp.zeros(1), jnp.ones((1, 1)), jnp.linspace(-7.0, 7.0, 512)
  curve, slope = jax.jit(kernels.score_curve_1d)(a, b, c, jnp.ones(40, bool), mean, prec, points)
  start = jax.jit(jax.vmap(kernels.score_curve_start, (0, None, None, None)))(y @ a[:, 0], curve, slope, points)
  ref = jax.jit(jax.vmap(lambda yy, mm: kernels.ability_newton(yy, mm, a, b, c, mean, prec)))(y, m)
  np.testing.assert_allclose(start, ref.theta[:, 0], atol=2e-5)

def _eap_brute_force(y, m, a, b, c, mean=0.0, sd=1.0):
  a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
  grid = np.linspace(mean - 9 * sd, mean + 9 * sd, 20001)
  z = a[:, :1] * grid[None, :] - b[:, None]                                                        # [I, G]
  log_q = np.log1p(-c)[:, None] - np.logaddexp(0.0, z)
  log_p = np.logaddexp(np.log(np.maximum(c, 1e-300))[:, None], np.log1p(-c)[:, None] - np.logaddexp(0.0, -z))
  ll = np.where(m, y, 0) @ log_p + np.where(m, 1 - y, 0) @ log_q
  lw = ll - 0.5 * ((grid - mean) / sd) ** 2
  w = np.exp(lw - lw.max(1, keepdims=True))
  w /= w.sum(1, keepdims=True)
  mu = w @ grid
  return mu, np.sqrt(np.sum(w * (grid[None, :] - mu[:, None]) ** 2, 1))


@pytest.mark.parametrize("guessing,missing", [(False, 0.0), (False, 0.3), (True, 0.3)])
def test_eap_table_matches_brute_force(guessing, missing):
  """The fixed-grid EAP (complete block: one column sum; missing answers or 3PL: matrix products) vs float64."""
  y, m, a, b, c = _ability_problem(16, 40, 11, guessing, missing)
  nodes = jnp.linspace(-7.0, 7.0, 128)
  f = jax.jit(functools.partial(kernels.ability_eap_table, guessing=guessing))
  res = f(*(jnp.asarray(v, jnp.float32) if v.dtype != bool else jnp.asarray(v) for v in (y, m)),
          jnp.ones(40, bool), *(jnp.asarray(v, jnp.float32) for v in (a, b, c)), jnp.asarray([0.3]),
          jnp.asarray([[0.64]]), nodes)
  mu, sd = _eap_brute_force(y, m, a, b, c, 0.3, 1.25)
  assert res.converged.all()
  np.testing.assert_allclose(res.theta[:, 0], mu, atol=1e-4)
  np.testing.assert_allclose(res.se[:, 0], sd, rtol=1e-3)


def test_eap_narrow_posterior_falls_back(fitted, sim):
  """Rows whose posterior is narrower than the fixed grid's spacing are flagged and re-estimated on a grid
  around their MAP, still matching the brute-force posterior."""
  steep = tj.irt.IRTModel(kind="2pl", dim=1, a=fitted.a * 6.0, b=fitted.b * 6.0, c=fitted.c, theta=fitted.theta,
                          item_ids=fitted.item_ids, model_ids=fitted.model_ids, priors=fitted.priors,
                          config=fitted.config)
  y = sim[0][:6]
  m = ~np.isnan(y)
  table = kernels.ability_eap_table(jnp.asarray(np.nan_to_num(y), jnp.float32), jnp.asarray(m),
                                    jnp.ones(200, bool), *(jnp.asarray(v, jnp.float32) for v in
                                                           (steep.a, steep.b, steep.c)),
                                    jnp.zeros(1), jnp.ones((1, 1)), jnp.linspace(-7.0, 7.0, 128), guessing=False)
  assert not np.asarray(table.converged).any()
  eap = tj.estimate_ability(steep, y, method="eap")
  mu, sd = _eap_brute_force(np.nan_to_num(y), m, steep.a, steep.b, steep.c)
  np.testing.assert_allclose(eap.theta[:, 0], mu, atol=5e-3)
  np.testing.assert_allclose(eap.se[:, 0], sd, rtol=3e-2)


def test_ability_one_transfer_and_chunks(fitted, sim, monkeypatch):
  """One device_get per call, however many program calls (chunks) the rows need; chunks change nothing."""
  y = sim[0]                                  # 300 rows: one program of 512 rows, or two of 256
  whole = tj.estimate_ability(fitted, y)
  calls = []
  real_get = jax.device_get
  monkeypatch.setattr(jax, "device_get", lambda x: calls.append(1) or real_get(x))
  monkeypatch.setattr(tj.irt, "_ABILITY_CHUNK", 256)
  chunked = tj.estimate_ability(fitted, y)
  assert len(calls) == 1
  np.testing.assert_array_equal(chunked.theta, whole.theta)
  np.testing.assert_array_equal(chunked.n_iter, whole.n_iter)


def test_ability_binarize_and_bad_values(fitted, sim):
  scores = np.random.default_rng(3).random((5, fitted.n_items))
  binz = tj.irt.IRTModel(kind="2pl", dim=1, a=fitted.a, b=fitted.b, c=fitted.c, theta=fitted.theta,
                         item_ids=fitted.item_ids, model_ids=fitted.model_ids, priors=fitted.priors,
                         config=fitted.config, likelihood="binarize", threshold=0.5)
  np.testing.assert_array_equal(tj.estimate_ability(binz, scores).theta,
                                tj.estimate_ability(fitted, (scores >= 0.5).astype(np.float32)).theta)
  bad = sim[0][:3].copy()
  bad[1, 7] = np.inf
  with pytest.raises(ValueError, match="infinite"):
    tj.estimate_ability(fitted, bad)
  bad[1, 7] = -0.5
  with pytest.raises(ValueError, match=r"row 1 .*column 7"):
    tj.estimate_ability(fitted, bad)


# ------------------------------------------------------------------ save / load


def test_save_load_roundtrip(tmp_path, fitted):
  path = tmp_path / "m.tjx"
  fitted.save(path)
  m2 = tj.load(path)
  assert isinstance(m2, tj.IRTModel) and m2.item_ids == fitted.item_ids and m2.kind == "2pl"
  theta = np.linspace(-2, 2, 7)[:, None]
  np.testing.assert_array_equal(m2.predict_proba(theta), fitted.predict_proba(theta))
  assert m2.fit_info == fitted.fit_info
  # Corrupt: flip bytes in the middle of the file.
  raw = bytearray(path.read_bytes())
  raw[len(raw) // 2: len(raw) // 2 + 16] = b"\x00" * 16
  bad = tmp_path / "bad.tjx"
  bad.write_bytes(bytes(raw))
  with pytest.raises(ArtifactError):
    tj.load(bad)
  np.save(tmp_path / "x.npy", np.ones(3))
  with pytest.raises(ArtifactError):
    tj.load(tmp_path / "x.npy")
  with pytest.raises(FileNotFoundError):
    tj.load(tmp_path / "missing.tjx")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("bad,match", [
    (np.ones(5), "2-D|shape"),
    (np.array([[0.0, 2.0], [1.0, 0.0]]), r"\[0, 1\]"),
    (np.array([[np.nan, 1.0], [np.nan, 0.0]]), "no observ"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_fit_bad_input(bad, match):
  with pytest.raises(ValueError, match=match):
    tj.fit_irt(bad, progress=False)


def test_fit_bad_options(sim):
  with pytest.raises(ValueError, match="kind"):
    tj.fit_irt(sim[0], kind="4pl")
  with pytest.raises(ValueError, match="1pl"):
    tj.fit_irt(sim[0], kind="1pl", dim=2)
  with pytest.raises(ValueError, match="guess"):
    tj.fit_irt(sim[0], kind="2pl", guess=0.25)
  with pytest.raises(ValueError, match="likelihood"):
    tj.fit_irt(sim[0], likelihood="probit")


# ------------------------------------------------------------------ real data


@pytest.mark.realdata
@pytest.mark.slow
def test_musr_heldout(shared_data):
  from tinyjax.irt import heldout_logloss, holdout_mask

  values = np.load(shared_data / "irt" / "openllm_v2" / "musr.npy").astype(float)
  held = holdout_mask(values, 0.1, seed=0)
  train = np.where(held, np.nan, values)
  item_mean = np.nanmean(train, 0)
  p = np.clip(np.broadcast_to(item_mean, values.shape)[held], 1e-7, 1 - 1e-7)
  y = values[held]
  base = -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))
  two = tj.fit_irt(train, kind="2pl", dim=1, progress=False)
  ll2 = heldout_logloss(two, values, held)
  assert ll2 < base - 0.01, (ll2, base)
  sel = tj.select_dim(train, dims=(1, 2, 3), seed=1, progress=False)
  multi = tj.fit_irt(train, kind="2pl", dim=sel.dim, priors=tj.IRTPriors(scale=sel.prior_scale), progress=False)
  llm = heldout_logloss(multi, values, held)
  assert llm <= ll2 + 1e-3, (sel, llm, ll2)


@pytest.mark.slow
def test_select_dim_logs_each_candidate_and_picks_the_best(caplog):
  y, *_ = simulate_2pl(80, 40, dim=1, missing=0.05, seed=4)
  with caplog.at_level("INFO", logger="tinyjax.irt"):
    sel = tj.select_dim(y, dims=(1, 2), seed=0, progress=False)
  assert [r["dim"] for r in sel.table] == [1, 2]
  best = min(sel.table, key=lambda r: r["heldout_logloss"])
  assert (sel.dim, sel.prior_scale) == (best["dim"], best["prior_scale"])
  assert sum("select_dim: dim=" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.slow
def test_hierarchical_prior_and_progress_bar(capsys):
  y, theta, _, _ = simulate_2pl(60, 40, seed=9)
  flat = tj.fit_irt(y, progress=False)
  hier = tj.fit_irt(y, priors=tj.IRTPriors(hierarchical=True), progress=True)
  assert hier.fit_info.converged and hier.priors.hierarchical
  # Learned hyperparameters change the solution, but both recover the abilities.
  assert not np.allclose(hier.b, flat.b)
  r_hier = np.corrcoef(hier.theta[:, 0], theta[:, 0])[0, 1]
  assert r_hier > 0.7 and r_hier > np.corrcoef(flat.theta[:, 0], theta[:, 0])[0, 1] - 0.05
  # The bar counts iterations against max_iter and ends at done (n_iter/n_iter, 100%) when the fit converges.
  err = capsys.readouterr().err
  n = hier.fit_info.n_iter
  assert "fit 2pl dim=1" in err and f"100%" in err and f"{n}/{n} [" in err


def test_log_likelihood_derivatives_match_the_plain_formula():
  # The 2PL likelihood has a written-out derivative (a JVP rule, for the fit's memory); gradients, forward mode and
  # the Hessian must equal those of sum(mask * (y z - softplus(z))) differentiated by JAX itself.
  rng = np.random.default_rng(0)
  theta = jnp.asarray(rng.normal(size=(6, 2)), jnp.float32)
  a = jnp.asarray(rng.normal(size=(9, 2)), jnp.float32)
  b = jnp.asarray(rng.normal(size=9), jnp.float32)
  y = jnp.asarray(rng.random((6, 9)), jnp.float32)
  mask = jnp.asarray(rng.random((6, 9)) < 0.7)

  def plain(theta, a, b, y):
    z = theta @ a.T - b
    return jnp.sum(jnp.where(mask, y * z - jax.nn.softplus(z), 0.0))

  def ours(theta, a, b, y):
    return kernels.irt_log_likelihood(theta, a, b, None, y, mask)

  np.testing.assert_allclose(ours(theta, a, b, y), plain(theta, a, b, y), rtol=1e-6)
  for got, want in zip(jax.grad(ours, (0, 1, 2, 3))(theta, a, b, y), jax.grad(plain, (0, 1, 2, 3))(theta, a, b, y)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.jacfwd(ours)(theta, a, b, y), jax.jacfwd(plain)(theta, a, b, y), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(jax.hessian(ours, 1)(theta, a, b, y), jax.hessian(plain, 1)(theta, a, b, y),
                             rtol=1e-4, atol=1e-5)


def test_bool_and_signed_answers_give_the_float_objective():
  # 0/1 answers can reach the kernel as bool (with a mask) or as int8 signed answers (+1 right, -1 wrong, 0
  # unobserved, no mask: what fit_irt sends). Value and gradient must be those of the float answers and mask, for
  # the 2PL (c = None) and the 3PL path; with n_obs left to the kernel, the signed answers' count is the mask's.
  rng = np.random.default_rng(3)
  n, i = 12, 9
  y = rng.random((n, i)) < 0.6
  mask = rng.random((n, i)) < 0.8
  signed = jnp.asarray(np.where(mask, np.where(y, 1, -1), 0).astype(np.int8))
  for kind, c_mode in (("2pl", "none"), ("3pl", "learned")):
    config = tj.IRTPriors().resolve(kind, 1, n, c_mode, 0.25)
    params = kernels.IRTParams(jnp.asarray(rng.normal(size=(n, 1)), jnp.float32),
                               jnp.asarray(rng.normal(size=(i, 1)), jnp.float32),
                               jnp.asarray(rng.normal(size=i), jnp.float32),
                               jnp.asarray(rng.normal(size=i) - 1.0, jnp.float32), jnp.zeros(4, jnp.float32))
    vg = jax.value_and_grad(lambda p, yy, m: kernels.irt_objective(p, yy, m, config))
    v_float, g_float = vg(params, jnp.asarray(y, jnp.float32), jnp.asarray(mask))
    for answers, m in ((jnp.asarray(y), jnp.asarray(mask)), (signed, None)):
      v, g = vg(params, answers, m)
      np.testing.assert_allclose(v, v_float, rtol=1e-6)
      for got, want in zip(g, g_float):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  # forward mode and the Hessian of the signed answers' written-out derivative
  theta, a, b = params.theta, params.a_raw, params.b
  plain = lambda th: jnp.sum(jnp.where(mask, y * (th @ a.T - b) - jax.nn.softplus(th @ a.T - b), 0.0))  # noqa
  ours = lambda th: kernels.irt_log_likelihood(th, a, b, None, signed, None)  # noqa: E731
  np.testing.assert_allclose(jax.jacfwd(ours)(theta), jax.jacfwd(plain)(theta), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.hessian(ours)(theta), jax.hessian(plain)(theta), rtol=1e-4, atol=1e-5)
