"""Repeated sampling: pass@k vs exact integers, coverage law, OSCA vs brute force, early stopping vs loops.

The documented figures are float64: every test runs inside JAX's scoped ``jax.enable_x64(True)`` (the module
fixture below) unless it checks the float32 default itself.
"""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from math import comb

import jax
import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax.errors import PrecisionError


@pytest.fixture(autouse=True, scope="module")
def _float64():
  with jax.enable_x64(True):
    yield


def _exact_pass(n, c, k):
  return float(1 - Fraction(comb(n - c, k), comb(n, k)))


# ------------------------------------------------------------------ pass@k


@pytest.mark.parametrize("seed", [0, 1])
def test_pass_at_k_matches_exact_integers_small(seed):
  rng = np.random.default_rng(seed)
  n = rng.integers(1, 40, 30)
  c = np.array([rng.integers(0, x + 1) for x in n])
  k = np.arange(1, n.min() + 1)
  got = tj.sampling.pass_at_k_per_problem(n, c, k)
  expected = np.array([[_exact_pass(a, b, kk) for kk in k] for a, b in zip(n, c)])
  np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
  np.testing.assert_allclose(tj.sampling.pass_at_k(n, c, k), expected.mean(axis=0), rtol=1e-13)


def test_pass_at_k_exact_at_n_10000():
  n = np.full(6, 10_000)
  c = np.array([0, 1, 3, 17, 5000, 9999])
  k = np.array([1, 2, 10, 100, 1000, 5000, 9999, 10_000])
  got = tj.sampling.pass_at_k_per_problem(n, c, k)
  expected = np.array([[_exact_pass(a, b, kk) for kk in k] for a, b in zip(n, c)])
  assert np.all(np.isfinite(got))
  # relative precision even for tiny values (c = 1, k = 1 gives 1e-4)
  np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)
  assert got.dtype == np.float64
  # the log-gamma path agrees to ~1e-11 absolute
  np.testing.assert_allclose(tj.sampling.pass_at_k_per_problem(n, c, k, algorithm="gammaln"), expected, atol=1e-9)


def test_pass_at_k_precision_is_the_callers_choice():
  """Without x64, dtype=None computes in float32 (still ~1e-6 relative by the product form) and
  dtype="float64" raises; nothing flips the global flag."""
  n, c, k = np.full(4, 10_000), np.array([1, 17, 5000, 9999]), np.array([1, 10, 1000])
  expected = np.array([[_exact_pass(a, b, kk) for kk in k] for a, b in zip(n, c)])
  with jax.enable_x64(False):
    got = tj.sampling.pass_at_k_per_problem(n, c, k)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5)
    with pytest.raises(PrecisionError):
      tj.sampling.pass_at_k(n, c, k, dtype="float64")
    assert not jax.config.read("jax_enable_x64")


def test_pass_at_k_scalar_k_and_broadcast_n():
  assert isinstance(tj.sampling.pass_at_k(10, [0, 5, 10], 1), float)
  np.testing.assert_allclose(tj.sampling.pass_at_k(10, [0, 5, 10], 1), (0 + 0.5 + 1) / 3)
  np.testing.assert_allclose(tj.sampling.pass_at_k([10, 10], [5, 5], [1, 10]), [0.5, 1.0])


@pytest.mark.parametrize("n,c,k,match", [
    ([10, 10], [11, 0], 1, "c must satisfy"),
    ([10, 10], [1, 0], 11, "k must not exceed"),
    ([10, 10], [1, 0], 0, "k must be >= 1"),
    ([10, 10], [1.5, 0], 1, "integers"),
    ([10, 10, 10], [1, 0], 1, "same shape"),
])
def test_pass_at_k_rejects_bad_input(n, c, k, match):
  with pytest.raises(ValueError, match=match):
    tj.sampling.pass_at_k(n, c, k)


# ------------------------------------------------------------------ coverage law


def test_fit_coverage_recovers_known_law():
  k = tj.sampling.log_spaced_k(10_000)
  fit = tj.sampling.fit_coverage(k, np.exp(-3.0 * k**-0.4))
  np.testing.assert_allclose([fit.a, fit.b], [-3.0, -0.4], rtol=1e-8)
  np.testing.assert_allclose(fit.samples_for(fit.predict(123.0)), 123.0, rtol=1e-8)
  with pytest.raises(ValueError, match=r"\(0, 1\]"):
    tj.sampling.fit_coverage([1, 2, 3], [0.1, 0.0, 0.3])


@pytest.mark.realdata
def test_monkeys_pythia_12b_coverage_law(shared_data):
  df = pd.read_csv(shared_data / "sampling" / "monkeys_pythia_math_counts.csv")
  rows = df[df.Model == "Pythia 12B"]
  assert len(rows) == 128 and (rows.n == 10_000).all()
  k = tj.sampling.log_spaced_k(10_000, 40)
  cov = tj.sampling.pass_at_k(rows.n, rows.c, k)
  assert np.all(np.diff(cov) > 0)
  fit = tj.sampling.fit_coverage(k, cov)
  assert abs(fit.a - -3.98) < 0.03, fit.a
  assert abs(fit.b - -0.352) < 0.003, fit.b


# ------------------------------------------------------------------ OSCA


def _brute_force(p, budget, costs):
  best = (-1.0, None)
  j = p.shape[1]
  limits = [int(budget // c) for c in costs]
  for n in itertools.product(*(range(m + 1) for m in limits)):
    n = np.array(n)
    if n @ costs <= budget + 1e-9:
      cov = np.mean(1 - np.prod((1 - p) ** n[None, :], axis=1))
      if cov > best[0]:
        best = (cov, n)
  return best


@pytest.mark.parametrize("seed,budget,costs", [(0, 6, None), (1, 7, [1.0, 2.0, 3.0]), (2, 1, None)])
def test_allocation_matches_brute_force(seed, budget, costs):
  rng = np.random.default_rng(seed)
  p = rng.beta(0.3, 1.5, size=(25, 3))
  p[:5, 0] = 0.0
  p[5, 2] = 1.0
  c = np.ones(3) if costs is None else np.asarray(costs)
  best_cov, _ = _brute_force(p, budget, c)
  alloc = tj.sampling.allocate(p, budget, costs=costs)
  assert alloc.spend <= budget + 1e-9
  np.testing.assert_allclose(alloc.coverage, best_cov, rtol=1e-10)
  np.testing.assert_allclose(tj.sampling.expected_coverage(p, alloc.counts), alloc.coverage, rtol=1e-12)
  assert alloc.coverage >= tj.sampling.best_single_configuration(p, budget, costs=costs).coverage - 1e-12


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["osca_bigcodebench.json", "osca_swebench.json"])
def test_osca_beats_best_single_configuration(shared_data, name):
  data = tj.sampling.read_osca(shared_data / "sampling" / name)
  assert data.train.shape[1] == len(data.names) == data.runs.size
  p, q = data.rates("train"), data.rates("test")
  for budget in (4, 16):
    alloc = tj.sampling.allocate(p, budget)
    single = tj.sampling.best_single_configuration(p, budget)
    assert alloc.counts.sum() <= budget
    # on the split it is chosen on, OSCA is never below the best single configuration
    assert alloc.coverage >= single.coverage - 1e-12
    # on held-out problems it may lose a little, not much
    assert tj.sampling.expected_coverage(q, alloc.counts) >= tj.sampling.expected_coverage(q, single.counts) - 0.02


def test_allocation_rejects_bad_input():
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    tj.sampling.allocate([[0.5, 1.5]], 3)
  with pytest.raises(ValueError, match="costs"):
    tj.sampling.allocate([[0.5, 0.5]], 3, costs=[1.0, 0.0])
  with pytest.raises(ValueError, match="budget"):
    tj.sampling.allocate([[0.5, 0.5]], 0.5)


def test_read_osca_roundtrip(tmp_path):
  raw = {"settings": [{"name": "a", "runs": 4}, {"name": "b", "runs": 2}],
         "training_instances": ["x", "y"], "testing_instances": ["z"],
         "train": {"0": [1, 4], "1": [0, 2]}, "test": {"0": [3], "1": [1]}}
  path = tmp_path / "o.json"
  path.write_text(json.dumps(raw))
  data = tj.sampling.read_osca(path)
  np.testing.assert_array_equal(data.train, [[1, 0], [4, 2]])
  np.testing.assert_allclose(data.rates("test"), [[0.75, 0.5]])
  raw["train"]["1"] = [0, 3]
  path.write_text(json.dumps(raw))
  with pytest.raises(ValueError, match="outside"):
    tj.sampling.read_osca(path)


# ------------------------------------------------------------------ early stopping


def _loop_best_of_n(conf, ans, tau):
  out = []
  for c, a in zip(conf, ans):
    for i, ci in enumerate(c):
      if ci >= tau:
        out.append((a[i], i + 1))
        break
    else:
      out.append((a[int(np.argmax(c))], len(c)))
  return np.array(out)


def _loop_adaptive(conf, ans, tau, min_samples):
  out = []
  for c, a in zip(conf, ans):
    for t in range(len(c)):
      votes = {}
      for i in range(t + 1):
        votes[a[i]] = votes.get(a[i], 0.0) + c[i]
      lead = max(votes.values())
      total = sum(votes.values())
      if t + 1 >= min_samples and total > 0 and lead / total >= tau:
        break
    winner = max(votes, key=lambda z: (votes[z], -list(a[: t + 1]).index(z)))
    out.append((winner, t + 1))
  return np.array(out)


@pytest.mark.parametrize("tau", [0.6, 0.9, 1.0])
def test_early_stopping_rules_match_loops(tau):
  rng = np.random.default_rng(int(tau * 10))
  conf = np.round(rng.uniform(0.0, 1.0, (40, 8)), 3)
  ans = rng.integers(0, 3, (40, 8))
  bon = tj.sampling.early_stop_best_of_n(conf, ans, tau)
  np.testing.assert_array_equal(np.column_stack([bon.answer, bon.n_samples]), _loop_best_of_n(conf, ans, tau))
  asc = tj.sampling.adaptive_consistency(conf, ans, tau, min_samples=2)
  np.testing.assert_array_equal(np.column_stack([asc.answer, asc.n_samples]), _loop_adaptive(conf, ans, tau, 2))
  assert asc.mean_samples <= 8


def test_early_stopping_rejects_bad_input():
  with pytest.raises(ValueError, match="integer answer ids"):
    tj.sampling.early_stop_best_of_n([[0.5]], [[0.5]], 0.5)
  with pytest.raises(ValueError, match="tau"):
    tj.sampling.adaptive_consistency([[0.5]], [[1]], 0.0)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    tj.sampling.early_stop_best_of_n([[1.5]], [[1]], 0.5)


@pytest.mark.realdata
def test_cli_coverage_fit_and_passk(shared_data, capsys):
  from tinyjax.cli import main
  csv = str(shared_data / "sampling" / "monkeys_pythia_math_counts.csv")
  assert main(["coverage", "fit", csv, "--select", "Model=Pythia 12B", "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert abs(out["all"]["a"] - -3.98) < 0.03
  with jax.enable_x64(False):   # the command runs in float64 on its own and leaves the flag alone
    assert main(["coverage", "passk", csv, "--select", "Model=Pythia 12B", "--k", "1", "100"]) == 0
    assert not jax.config.read("jax_enable_x64")
  assert "1: 0.023191406249999994" in capsys.readouterr().out    # the float64 digits of docs/forecasting.md
