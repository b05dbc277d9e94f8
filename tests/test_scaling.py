"""Scaling laws: objectives vs numpy, recovery of known laws, published reproductions, precision, CLI.

The fits are float64 figures: every test here runs inside JAX's scoped ``jax.enable_x64(True)`` (the module
fixture below), never by flipping the global flag.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax import kernels
from tinyjax.errors import PrecisionError


@pytest.fixture(autouse=True, scope="module")
def _float64():
  with jax.enable_x64(True):
    yield

# ------------------------------------------------------------------ kernels vs numpy


def _np_huber(r, delta):
  return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))


@pytest.mark.parametrize("num", [1, 50])
def test_chinchilla_objective_matches_numpy(num):
  rng = np.random.default_rng(num)
  n, d = rng.uniform(1e7, 1e10, num), rng.uniform(1e8, 1e12, num)
  loss = rng.uniform(2.0, 4.0, num)
  w = rng.integers(0, 3, num).astype(float)
  p = np.array([6.2, 7.6, 0.6, 0.35, 0.37])
  pred = np.log(np.exp(p[2]) + np.exp(p[0]) / n**p[3] + np.exp(p[1]) / d**p[4])
  expected = np.sum(w * _np_huber(np.log(loss) - pred, 1e-3))
  with jax.enable_x64(True):
    got = kernels.chinchilla_huber_objective(jnp.asarray(p), *(jnp.asarray(np.log(x)) for x in (n, d, loss)),
                                             jnp.asarray(w), 1e-3)
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)


def test_overtrained_parametrisations_agree():
  """The code parametrisation (alpha_n, beta_n, p, E) equals the paper's (E, a, b, eta) law."""
  from tinyjax.scaling import OvertrainedFit, _overtrained_to_paper
  q = np.array([166.2, 366.7, -0.2729, 1.8366])
  E, a, b, eta = _overtrained_to_paper(q)[0]
  fit = OvertrainedFit(E=E, a=a, b=b, eta=eta, objective=0.0, n_starts=1)
  n, m = np.array([1e7, 4e8, 7e9]), np.array([20.0, 320.0, 640.0])
  with jax.enable_x64(True):
    code = np.asarray(kernels.overtrained_loss(jnp.asarray(q), jnp.asarray(n), jnp.asarray(m)))
  np.testing.assert_allclose(fit.predict(6 * n * n * m, m), code, rtol=1e-12)


# ------------------------------------------------------------------ Gadre et al. (real data + synthetic recovery)

_FIT_LOSS = [f"rpj-{m}-1.0" for m in ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")]
_FIT_LOSS.append("rpj-d=96_l=8_h=4-16.0")


@pytest.fixture(scope="module")
def gadre(shared_data):
  df = pd.read_csv(shared_data / "scaling" / "gadre2024_104_models.csv").set_index("name")
  fit_rows = df.loc[_FIT_LOSS]
  loss_fit = tj.scaling.fit_overtrained(fit_rows.flops_6ND.astype(float), fit_rows.token_mult_M,
                                        fit_rows.loss_c4_val)
  err_rows = pd.concat([fit_rows, df.loc[["rpj-open_lm_1b-1.0"]]])
  err_fit = tj.scaling.fit_loss_to_error(err_rows.loss_c4_val, err_rows.err_avg17)
  return df, loss_fit, err_fit


@pytest.mark.realdata
@pytest.mark.parametrize("name,loss_pct,err_pct", [("rpj-open_lm_1b-32.0", 0.71, 3.64),
                                                   ("rpj-open_lm_7b-1.0", 0.73, 0.05)])
def test_gadre_prediction_errors(gadre, name, loss_pct, err_pct):
  df, loss_fit, err_fit = gadre
  row = df.loc[name]
  pred_loss = float(loss_fit.predict(float(row.flops_6ND), row.token_mult_M))
  pred_err = float(err_fit.predict(pred_loss))       # error forecast chains the two laws
  rel_loss = 100 * abs(pred_loss - row.loss_c4_val) / row.loss_c4_val
  rel_err = 100 * abs(pred_err - row.err_avg17) / row.err_avg17
  assert abs(rel_loss - loss_pct) < 0.05, rel_loss
  assert abs(rel_err - err_pct) < 0.05, rel_err
  np.testing.assert_allclose(tj.scaling.forecast_error(loss_fit, err_fit, float(row.flops_6ND), row.token_mult_M),
                             pred_err)


@pytest.mark.realdata
def test_gadre_fit_matches_scipy_curve_fit(gadre):
  """Same protocol in scipy (curve_fit from the same 128 starts) lands on the same optimum."""
  optimize = pytest.importorskip("scipy.optimize")
  df, loss_fit, _ = gadre
  rows = df.loc[_FIT_LOSS]
  n, m, y = rows.params.to_numpy(float), rows.token_mult_M.to_numpy(float), rows.loss_c4_val.to_numpy(float)
  law = lambda x, al, be, p, e: al * x[0]**p + be * 6**(p / 2) * (x[0] * x[1])**p + e
  best = None
  for p0 in tj.scaling.overtrained_start_grid()[::9]:          # a subset is plenty here
    try:
      popt, _ = optimize.curve_fit(law, np.array([n, m]), y, p0=p0, maxfev=10000)
    except RuntimeError:
      continue
    sse = np.sum((law((n, m), *popt) - y) ** 2)
    if best is None or sse < best[0]:
      best = (sse, popt)
  assert loss_fit.objective <= best[0] * (1 + 1e-6)
  np.testing.assert_allclose(loss_fit.eta, -best[1][2] / 2, rtol=1e-4)
  np.testing.assert_allclose(loss_fit.E, best[1][3], rtol=1e-4)


def test_overtrained_recovers_known_law():
  E, a, b, eta = 1.9, 150.0, 400.0, 0.14
  n = np.array([1.1e7, 7.9e7, 1.5e8, 4.1e8, 1.1e7, 7.9e7, 4.1e8])
  m = np.array([20.0, 20.0, 20.0, 20.0, 320.0, 160.0, 640.0])
  c = 6 * n * n * m
  loss = E + (a * m**eta + b * m**-eta) * c**-eta
  fit = tj.scaling.fit_overtrained(c, m, loss)
  np.testing.assert_allclose([fit.E, fit.a, fit.b, fit.eta], [E, a, b, eta], rtol=1e-4)
  assert fit.objective < 1e-16
  lam, et = fit.reducible_at(20.0)
  np.testing.assert_allclose(E + lam * c[:4] ** -et, loss[:4], rtol=1e-8)


def test_loss_to_error_and_power_law_recover_known_laws():
  loss = np.linspace(2.4, 6.0, 6)
  err = 0.86 - 2.2 * np.exp(-0.71 * loss)
  fit = tj.scaling.fit_loss_to_error(loss, err)
  np.testing.assert_allclose([fit.epsilon, fit.k, fit.gamma], [0.86, 2.2, 0.71], rtol=1e-5)
  c = np.geomspace(1e17, 1e21, 8)
  pl = tj.scaling.fit_power_law(c, 1.7 + 2000.0 * c**-0.17)
  np.testing.assert_allclose([pl.E, pl.lam, pl.alpha], [1.7, 2000.0, 0.17], rtol=1e-4)
  np.testing.assert_allclose(pl.predict(1e22), 1.7 + 2000.0 * 1e22**-0.17, rtol=1e-6)


def test_bootstrap_intervals_contain_fit_and_are_seeded():
  rng = np.random.default_rng(0)
  loss = np.linspace(2.4, 6.0, 12)
  err = 0.86 - 2.2 * np.exp(-0.71 * loss) + rng.normal(0, 0.003, loss.size)
  f1 = tj.scaling.fit_loss_to_error(loss, err, bootstrap=40, seed=3)
  f2 = tj.scaling.fit_loss_to_error(loss, err, bootstrap=40, seed=3)
  np.testing.assert_array_equal(f1.bootstrap, f2.bootstrap)
  assert f1.bootstrap.shape == (40, 3)
  for name, value in f1.params.items():
    lo, hi = f1.intervals[name]
    assert lo <= value <= hi, (name, lo, value, hi)
  assert f1.intervals["gamma"][0] < 0.71 < f1.intervals["gamma"][1]


# ------------------------------------------------------------------ Chinchilla / Besiroglu et al.


@pytest.fixture(scope="module")
def chinchilla_data(shared_data):
  df = pd.read_csv(shared_data / "scaling" / "chinchilla_epoch_245.csv")
  n = df["Model Size"].to_numpy(float)
  d = df["Training FLOP"].to_numpy(float) / (6 * n)
  loss = df["loss"].to_numpy(float)
  keep = np.argsort(loss)[:-5]                       # drop the 5 highest-loss points, as they did
  return n[keep], d[keep], loss[keep]


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla_data):
  return tj.scaling.fit_chinchilla(*chinchilla_data)


@pytest.mark.realdata
def test_besiroglu_refit_objective(chinchilla_data, chinchilla_fit):
  n, d, loss = chinchilla_data
  fit = chinchilla_fit
  assert n.size == 240 and fit.n_starts == 4500
  assert fit.objective <= 1.018e-3 * 1.001, fit.objective
  # The objective reported for the fit equals the numpy Huber sum at the returned parameters.
  r = np.log(loss) - np.log(fit.predict(n, d))
  np.testing.assert_allclose(np.sum(_np_huber(r, 1e-3)), fit.objective, rtol=1e-9)
  # ... and is no higher than at their published (rounded) parameters.
  pub = 1.8172 + 482.01 / n**0.3478 + 2085.43 / d**0.3658
  assert fit.objective <= np.sum(_np_huber(np.log(loss) - np.log(pub), 1e-3))
  np.testing.assert_allclose([fit.E, fit.alpha, fit.beta], [1.8172, 0.3478, 0.3658], atol=2e-3)
  assert 1900 < fit.B < 2300 and 420 < fit.A < 540
  # Many starts end in worse local optima: the multi-start search matters.
  assert np.mean(fit.start_objectives > fit.objective * 1.01) > 0.5


def test_precision_is_the_callers_choice():
  """float64 needs the caller's x64 opt-in; without it dtype=None fits in float32, and no fit flips the flag."""
  loss = np.linspace(2.4, 6.0, 6)
  err = 0.86 - 2.2 * np.exp(-0.71 * loss)
  with jax.enable_x64(False):
    with pytest.raises(PrecisionError, match="jax_enable_x64"):
      tj.scaling.fit_loss_to_error(loss, err, dtype="float64")
    f32 = tj.scaling.fit_loss_to_error(loss, err)
    assert not jax.config.read("jax_enable_x64")
  f64 = tj.scaling.fit_loss_to_error(loss, err, dtype="float64")
  np.testing.assert_allclose([f32.epsilon, f32.k, f32.gamma], [0.86, 2.2, 0.71], rtol=1e-4)
  np.testing.assert_allclose([f64.epsilon, f64.k, f64.gamma], [0.86, 2.2, 0.71], rtol=1e-12)


def test_chinchilla_compute_optimal_is_on_the_frontier():
  fit = tj.scaling.ChinchillaFit(E=1.82, A=482.0, B=2085.0, alpha=0.348, beta=0.366, objective=0.0, delta=1e-3,
                                 n_starts=1, start_objectives=np.zeros(1))
  c = 5.76e23
  n_opt, d_opt = fit.compute_optimal(c)
  np.testing.assert_allclose(6 * n_opt * d_opt, c, rtol=1e-10)
  ns = n_opt * np.array([0.8, 0.9, 1.1, 1.25])
  assert np.all(fit.predict(ns, c / (6 * ns)) > fit.predict(n_opt, d_opt))


# ------------------------------------------------------------------ validation, plots, CLI


@pytest.mark.parametrize("bad,match", [
    (dict(N=[1e8, -1.0, 1e9, 1e9, 1e9]), "positive"),
    (dict(loss=[2.0, np.nan, 2.0, 2.0, 2.0]), "non-finite"),
    (dict(D=[1e9, 1e9]), "same length"),
    (dict(N=[[1e8] * 5]), "1-D"),
])
def test_fit_chinchilla_rejects_bad_input(bad, match):
  args = dict(N=[1e8, 2e8, 4e8, 8e8, 1.6e9], D=[1e9, 2e9, 4e9, 8e9, 1.6e10], loss=[3.0, 2.9, 2.8, 2.7, 2.6])
  args.update(bad)
  with pytest.raises(ValueError, match=match):
    tj.scaling.fit_chinchilla(**args)


def test_other_fits_reject_bad_input():
  with pytest.raises(ValueError, match="at least 4 points"):
    tj.scaling.fit_overtrained([1e18, 1e19, 1e20], [20, 20, 20], [3.0, 2.9, 2.8])
  with pytest.raises(ValueError, match="bootstrap"):
    tj.scaling.fit_loss_to_error([2.0, 3.0, 4.0], [0.5, 0.6, 0.7], bootstrap=-1)
  with pytest.raises(ValueError, match="starts"):
    tj.scaling.fit_power_law([1.0, 2.0, 3.0], [3.0, 2.0, 1.5], starts=np.zeros((2, 2)))


def test_plots_draw(tmp_path):
  matplotlib = pytest.importorskip("matplotlib")
  matplotlib.use("Agg")
  loss = np.linspace(2.4, 6.0, 6)
  fit = tj.scaling.fit_loss_to_error(loss, 0.86 - 2.2 * np.exp(-0.71 * loss))
  ax = fit.plot(loss, 0.86 - 2.2 * np.exp(-0.71 * loss))
  ax.figure.savefig(tmp_path / "e.png")
  assert (tmp_path / "e.png").stat().st_size > 1000


@pytest.mark.realdata
def test_cli_scaling_overtrained_and_error(shared_data, capsys, gadre):
  from tinyjax.cli import main
  csv = str(shared_data / "scaling" / "gadre2024_104_models.csv")
  rc = main(["scaling", "overtrained", csv, "--select", "name=" + ",".join(_FIT_LOSS), "--json"])
  assert rc == 0
  import json
  out = json.loads(capsys.readouterr().out)
  np.testing.assert_allclose(out["params"]["eta"], gadre[1].eta, rtol=1e-10)
  rc = main(["scaling", "error", csv, "--select", "name=" + ",".join(_FIT_LOSS + ["rpj-open_lm_1b-1.0"]),
             "--predict", "2.5"])
  assert rc == 0
  text = capsys.readouterr().out
  assert "epsilon" in text and "2.5" in text
  assert main(["scaling", "overtrained", csv, "--select", "name=nothing"]) == 1


def test_cli_help_lists_laws(capsys):
  from tinyjax.cli import build_parser
  with pytest.raises(SystemExit):
    build_parser().parse_args(["scaling", "chinchilla", "--help"])
  text = capsys.readouterr().out
  assert "--drop-highest" in text and "Huber" in text
