"""tinyjax.tiny.ranking.pairwise_agreement against a double-loop reference, closed forms and input errors; the
benchmark report helper benchmarks/_ranking.py on synthetic rows. Pure numpy: no jax compilation."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

from tinyjax.errors import ConfigError, ResponseError
from tinyjax.tiny import RankingResult, pairwise_agreement

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _reference(est, tru, edges, level):
  """Plain loops: per-bin shares, the first bin reaching ``level``, the overall share."""
  good = np.zeros(len(edges) - 1)
  count = np.zeros(len(edges) - 1, dtype=int)
  total, n = 0.0, 0
  for i in range(len(est)):
    for j in range(i + 1, len(est)):
      dt, de = tru[i] - tru[j], est[i] - est[j]
      if dt == 0:
        continue
      c = 0.5 if de == 0 else float((de > 0) == (dt > 0))
      total, n = total + c, n + 1
      for k in range(len(edges) - 1):
        if edges[k] <= abs(dt) + 1e-9 < edges[k + 1]:     # the documented tolerance at an edge
          good[k] += c
          count[k] += 1
  with np.errstate(invalid="ignore"):
    share = good / count
  hits = [k for k in range(len(count)) if count[k] and share[k] >= level]
  return share, count, (edges[hits[0]] if hits else np.nan), total / n


def _data(m, seed, noise=0.03):
  rng = np.random.default_rng(seed)
  tru = np.round(rng.uniform(0.2, 0.8, m), 2)            # rounded: ties in the truth
  est = np.round(tru + rng.normal(0, noise, m), 2)       # rounded: ties in the estimates
  return est, tru


@pytest.mark.parametrize("m,seed", [(2, 0), (7, 1), (40, 2), (120, 3)])
def test_matches_double_loop(m, seed):
  est, tru = _data(m, seed)
  if m == 2:
    tru, est = np.array([0.3, 0.5]), np.array([0.4, 0.4])      # one pair, tied estimate: half
  edges = np.array([0.0, 0.01, 0.02, 0.05, 0.1, np.inf])
  got = pairwise_agreement(est, tru, gaps=edges, level=0.8)
  share, count, min_first, overall = _reference(est, tru, edges, 0.8)
  np.testing.assert_array_equal(got.n_pairs, count)
  np.testing.assert_allclose(got.agreement, share, equal_nan=True)
  np.testing.assert_allclose(got.min_gap_first, min_first, equal_nan=True)
  np.testing.assert_allclose(got.overall, overall)
  assert got.n_total == count.sum()
  np.testing.assert_allclose(got.n_correct.sum(), np.nansum(share * count))


def test_estimated_ties_count_half():
  r = pairwise_agreement([0.5, 0.5, 0.5], [0.1, 0.2, 0.4], gaps=[0, 1])
  assert r.overall == 0.5 and r.agreement[0] == 0.5


def test_true_ties_are_left_out():
  r = pairwise_agreement([0.1, 0.2, 0.5], [0.3, 0.3, 0.6], gaps=[0, 1])
  assert r.n_total == 2 and r.overall == 1.0


def test_perfect_estimates():
  tru = np.array([0.10, 0.13, 0.20, 0.42, 0.90])           # smallest gap 3 points
  r = pairwise_agreement(tru + 0.01, tru, gaps=0.01)
  assert r.overall == 1.0
  assert np.all(r.agreement[r.n_pairs > 0] == 1.0)
  assert r.min_gap == pytest.approx(0.03) and r.min_gap_first == pytest.approx(0.03)
  assert r.n_pairs_above == r.n_total == 10


def test_reversed_estimates():
  tru = np.array([0.10, 0.13, 0.20, 0.42, 0.90])
  r = pairwise_agreement(-tru, tru)
  assert r.overall == 0.0
  assert np.isnan(r.min_gap) and np.isnan(r.min_gap_first) and r.n_pairs_above == 0


def test_default_bins_are_half_points():
  est, tru = _data(60, 5)
  r = pairwise_agreement(est, tru)
  np.testing.assert_allclose(np.diff(r.edges), 0.005)
  assert r.edges[0] == 0 and r.edges[-1] > np.max(tru) - np.min(tru)
  assert r.n_pairs.sum() == r.n_total
  # a gap of exactly one edge, computed as a float difference, lands in the bin it starts
  r = pairwise_agreement([0.69, 0.7], [0.69, 0.7], gaps=0.01)
  assert r.n_pairs[1] == 1 and r.min_gap == pytest.approx(0.01)


@pytest.mark.parametrize("seed", range(4))
def test_monotone_curve(seed):
  rng = np.random.default_rng(seed)
  tru = rng.uniform(0, 1, 200)
  est = tru + rng.normal(0, 0.05, 200)
  r = pairwise_agreement(est, tru, gaps=0.01, level=0.9)
  mono = r.agreement_monotone[r.n_pairs > 0]
  assert np.all(np.diff(mono) >= -1e-12)
  # pair-weighted isotonic fit keeps the weighted mean
  w = r.n_pairs[r.n_pairs > 0]
  np.testing.assert_allclose(np.sum(mono * w), np.sum(r.agreement[r.n_pairs > 0] * w))
  # every bin from min_gap on is at the level on the fitted curve, none before
  k = int(np.searchsorted(r.edges, r.min_gap))
  assert np.all(r.agreement_monotone[k:][r.n_pairs[k:] > 0] >= 0.9)
  assert np.all(r.agreement_monotone[:k][r.n_pairs[:k] > 0] < 0.9)
  assert r.n_pairs_above == r.n_pairs[k:].sum()
  # more noise: harder to order, the gap needed only grows
  worse = pairwise_agreement(tru + rng.normal(0, 0.15, 200), tru, gaps=0.01, level=0.9)
  assert worse.min_gap >= r.min_gap


def test_isotonic_matches_brute_force():
  from tinyjax.tiny.ranking import _isotonic
  rng = np.random.default_rng(0)
  for _ in range(50):
    y, w = rng.random(6), rng.integers(1, 5, 6).astype(float)
    # closed form of the weighted isotonic fit: max over i <= k of min over j >= k of the mean of y[i..j]
    mean = lambda i, j: np.sum(y[i:j + 1] * w[i:j + 1]) / np.sum(w[i:j + 1])
    want = [max(min(mean(i, j) for j in range(k, 6)) for i in range(k + 1)) for k in range(6)]
    np.testing.assert_allclose(_isotonic(y, w), want)


def test_result_is_frozen():
  r = pairwise_agreement([0.1, 0.2], [0.1, 0.3])
  assert isinstance(r, RankingResult)
  with pytest.raises(AttributeError):
    r.min_gap = 0.0


@pytest.mark.parametrize("est,tru,match", [
    ([0.1, 0.2, 0.3], [0.1, 0.2], "same shape"),
    ([[0.1, 0.2]], [[0.1, 0.2]], "1-D"),
    ([0.1], [0.2], "at least 2"),
    ([0.1, np.nan, 0.3], [0.1, 0.2, 0.3], r"rows \[1\]"),
    ([0.1, 0.2, 0.3], [0.1, 0.2, np.inf], r"rows \[2\]"),
    ([10.0, 20.0], [10.0, 20.0], "fractions"),
    ([0.1, 0.2], [0.4, 0.4], "different scores"),
    (["a", "b"], [0.1, 0.2], "numbers"),
])
def test_input_errors(est, tru, match):
  with pytest.raises(ResponseError, match=match):
    pairwise_agreement(est, tru)


@pytest.mark.parametrize("kw", [{"level": 0.0}, {"level": 1.5}, {"level": True}, {"gaps": 0.0}, {"gaps": [0.0]},
                                {"gaps": [0.0, 0.02, 0.01]}, {"gaps": [-0.1, 0.1]}, {"gaps": [0.0, np.inf, np.inf]}])
def test_config_errors(kw):
  with pytest.raises(ConfigError):
    pairwise_agreement([0.1, 0.2, 0.3], [0.1, 0.25, 0.3], **kw)


def test_large_leaderboard_is_quick():
  import time
  rng = np.random.default_rng(0)
  tru = rng.uniform(0, 1, 1500)
  t0 = time.perf_counter()
  r = pairwise_agreement(tru + rng.normal(0, 0.02, 1500), tru)
  assert r.n_total == 1500 * 1499 // 2
  assert time.perf_counter() - t0 < 5


# --------------------------------------------------------------------------------------------------------
# benchmarks/_ranking.py


def _helper():
  spec = importlib.util.spec_from_file_location("_ranking_bench", ROOT / "benchmarks" / "_ranking.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def _rows():
  rng = np.random.default_rng(0)
  rows = []
  for matrix in ("m1", "m2"):
    for split in ("iid", "top25"):
      for seed in range(3):
        tru = rng.uniform(0.3, 0.7, 80) if split == "iid" else rng.uniform(0.6, 0.7, 80)
        for strategy in ("random", "irt"):
          rows.append({"matrix": matrix, "split": split, "seed": seed, "strategy": strategy, "method": "mle",
                       "truth": tru.tolist(),
                       "pred_naive_random": (tru + rng.normal(0, 0.04, 80)).tolist(),
                       "pred_gpirt": (tru + rng.normal(0, 0.02, 80)).tolist(),
                       "pred_score": (tru + rng.normal(0, 0.01, 80)).tolist()})
  rows.append({"matrix": "m1", "split": "iid", "seed": 0, "strategy": "random", "mae_naive": 1.0})   # no lists
  return rows


def test_ranking_rows_tables():
  helper = _helper()
  text = helper.ranking_rows(_rows())
  lines = text.splitlines()
  assert any("| m1 | iid |" in ln for ln in lines) and any("| m2 | top25 |" in ln for ln in lines)
  assert any(ln.startswith("| mean | iid |") for ln in lines)
  for label in ("0-1", "1-2", "2-5", "5-10", ">10"):
    assert any(ln.startswith(f"| {label} |") for ln in lines), label
  # less noise orders closer pairs: the recommended estimate needs the smallest gap on the iid mean row
  mean_iid = next(ln for ln in lines if ln.startswith("| mean | iid |"))
  naive, gpirt, score = (float(c.split()[0]) for c in mean_iid.strip("|").split("|")[3:6])
  assert score <= gpirt <= naive
  # the per-matrix cell is the mean over seeds of pairwise_agreement's min_gap, in points
  rs = [r for r in _rows() if r.get("matrix") == "m1" and r.get("split") == "iid" and r.get("strategy") == "random"
        and "truth" in r]
  want = np.mean([100 * pairwise_agreement(r["pred_score"], r["truth"]).min_gap for r in rs])
  cell = next(ln for ln in lines if ln.startswith("| m1 | iid |"))
  assert float(cell.strip("|").split("|")[5].split()[0]) == pytest.approx(want, abs=0.006)


def test_ranking_rows_without_lists():
  helper = _helper()
  assert "no rows" in helper.ranking_rows([{"matrix": "m", "split": "iid", "seed": 0, "strategy": "random"}])
