"""Estimates with unanswered anchors (NaN): the intervals are calibrated for how much is missing (issue 26).

One small synthetic tiny benchmark (120 train models x 60 items, 15 anchors) and 980 new models from the same
2PL draw; "today's" estimate is the same tiny benchmark with its missing-answer calibrations removed, which is
what a tiny benchmark built before them does (a complete-answer interval for every model).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax import synthetic
from tinyjax.cli import main
from tinyjax.tiny.calibration import MISSING_FRACTIONS, hide_anchors

Y_ALL, *_ = synthetic.simulate_2pl(1100, 60, dim=1, seed=3)
TRAIN, TEST = Y_ALL[:120], Y_ALL[120:]
TRUTH = TEST.mean(axis=1)


@pytest.fixture(scope="module")
def tb():
  return tj.TinyBenchmark.fit(TRAIN, n_anchors=15, dim=1, n_folds=3, seed=0, compare_adaptive=False,
                              progress=False)


def _without_missing_calibration(tb):
  old = tj.TinyBenchmark.__new__(tj.TinyBenchmark)
  old.__dict__.update(tb.__dict__)
  old._calib = [dataclasses.replace(c, missing=None) for c in tb._calib]
  return old


def _hidden(tb, fraction):
  ya = TEST[:, tb.anchors]
  return hide_anchors(ya, [ya.shape[1]], fraction, np.random.default_rng(11).random(ya.shape))


def _coverage(est):
  return float(np.mean((TRUTH >= est.lo) & (TRUTH <= est.hi)))


def test_calibrations_per_missing_fraction_are_stored(tb):
  fr, calibs = tb._calib[0].by_missing()
  np.testing.assert_allclose(fr, (0.0,) + MISSING_FRACTIONS)
  assert calibs[0] is tb._calib[0] and all(c.missing is None for c in calibs[1:])
  assert set(tb.validation["missing"]) == {f"{f:g}" for f in MISSING_FRACTIONS}
  # the gp-IRT weight on the naive mean falls as fewer anchors are answered (the naive mean gets noisier)
  assert calibs[-1].lam < calibs[0].lam


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_coverage_with_missing_answers_is_calibrated(tb, fraction, caplog):
  ya = _hidden(tb, fraction)
  est = tb.estimate(ya)
  np.testing.assert_allclose(est.missing, np.mean(np.isnan(ya), axis=1))
  assert 0.85 <= _coverage(est) <= 0.96, _coverage(est)
  with caplog.at_level(logging.WARNING, logger="tinyjax.tiny"):
    old = _without_missing_calibration(tb).estimate(ya)
  assert _coverage(old) < 0.83, _coverage(old)      # today's interval: the complete-answer width
  assert "complete answers only" in caplog.text


def test_width_grows_with_the_missing_fraction(tb):
  widths = [float(np.mean(e.hi - e.lo)) for e in (tb.estimate(_hidden(tb, f)) for f in (0.0, 0.25, 0.5, 0.8, 0.9))]
  assert all(b > a for a, b in zip(widths, widths[1:])), widths


def test_complete_answers_are_estimated_as_before(tb):
  ya = TEST[:50, tb.anchors]
  a, b = tb.estimate(ya), _without_missing_calibration(tb).estimate(ya)
  np.testing.assert_array_equal(a.missing, 0.0)
  for k in a.intervals:
    np.testing.assert_array_equal(a.intervals[k], b.intervals[k])
    np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_one_model_with_a_missing_answer(tb):
  ya = TEST[:1, tb.anchors].copy()
  full = tb.estimate(ya)
  ya[0, 3] = np.nan
  est = tb.estimate(ya)
  assert est.missing[0] == pytest.approx(1 / 15)
  assert est.hi[0] - est.lo[0] > full.hi[0] - full.lo[0]


def test_hide_anchors_keeps_one_answer_per_benchmark():
  ya = np.ones((4, 6))
  ya[1, 1:5] = np.nan                      # benchmarks [3, 3]: one answered anchor in each
  ya[2, :3] = np.nan                       # none in the first benchmark: stays so
  keys = np.random.default_rng(0).random(ya.shape)
  out = hide_anchors(ya, [3, 3], 0.9, keys)
  assert np.all((~np.isnan(out[:, 3:])).sum(1) == 1)
  assert (~np.isnan(out[:, :3])).sum(1).tolist() == [1, 1, 0, 1]
  assert out[1, 0] == 1.0 and out[1, 5] == 1.0
  small, large = hide_anchors(ya, [3, 3], 0.34, keys), hide_anchors(ya, [3, 3], 0.67, keys)
  assert np.all(np.isnan(large)[np.isnan(small)])   # nested: a larger share hides what a smaller one hid


@pytest.fixture(scope="module")
def tb_file(tb, tmp_path_factory):
  return tb.save(tmp_path_factory.mktemp("missing") / "tiny.tjx")


def _answers_csv(tb, path, n_models, nan_at=(0, 3)):
  df = pd.DataFrame(TEST[:n_models][:, tb.anchors], columns=tb.anchor_ids,
                    index=[f"m{i}" for i in range(n_models)])
  df.iloc[nan_at] = np.nan
  df.to_csv(path, index_label="model")
  return df


@pytest.mark.parametrize("n_models", [1, 3])
def test_cli_estimates_a_model_with_a_missing_anchor(tb, tb_file, tmp_path, capsys, n_models):
  df = _answers_csv(tb, tmp_path / "answers.csv", n_models)
  out = tmp_path / "est.csv"
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "answers.csv"), "--out", str(out)]) == 0
  assert "dropped" not in capsys.readouterr().err     # the unanswered anchor is kept, not reported as dropped
  got = pd.read_csv(out)
  ref = tb.estimate(df)
  assert ref.missing[0] == pytest.approx(1 / 15)
  np.testing.assert_allclose(got["score_pct"], 100 * ref.score, atol=1e-3)
  np.testing.assert_allclose(got["score_lo_pct"], 100 * ref.lo, atol=1e-3)
  np.testing.assert_allclose(got["score_hi_pct"], 100 * ref.hi, atol=1e-3)
  # --drop-empty drops models that answered nothing, never the unanswered question
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "answers.csv"), "--drop-empty",
               "--out", str(out)]) == 0
  np.testing.assert_allclose(pd.read_csv(out)["score_pct"], 100 * ref.score, atol=1e-3)
  capsys.readouterr()


def test_cli_model_without_answers_is_an_error_or_dropped(tb, tb_file, tmp_path, capsys):
  df = _answers_csv(tb, tmp_path / "answers.csv", 3)
  df.iloc[1] = np.nan
  df.to_csv(tmp_path / "answers.csv", index_label="model")
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "answers.csv")]) == 1
  err = capsys.readouterr().err
  assert "m1" in err and "--drop-empty" in err
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "answers.csv"), "--drop-empty"]) == 0
  cap = capsys.readouterr()
  assert "m1" in cap.err and "\nm1 " not in cap.out and "\nm0 " in cap.out


def test_cli_headerless_answers_keep_their_positions(tb, tb_file, tmp_path, capsys):
  ya = TEST[:1, tb.anchors].copy()
  ya[0, 4] = np.nan
  np.savetxt(tmp_path / "a.csv", ya, delimiter=",", fmt="%g")
  out = tmp_path / "est.csv"
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "a.csv"), "--out", str(out)]) == 0
  np.testing.assert_allclose(pd.read_csv(out)["score_pct"], 100 * tb.estimate(ya).score, atol=1e-3)
  capsys.readouterr()


def test_file_without_missing_calibrations_still_loads(tb, tb_file, tmp_path, caplog):
  from tinyjax.io import load_artifact, save_artifact
  kind, arrays, meta = load_artifact(tb_file)
  for bench in meta["benches"]:
    del bench["calib"]["missing"]            # a tiny benchmark saved before missing answers were calibrated
  save_artifact(tmp_path / "old.tjx", kind, arrays, meta)
  old = tj.load(tmp_path / "old.tjx")
  assert old._calib[0].missing is None
  ya = _hidden(tb, 0.5)
  ref = _without_missing_calibration(tb).estimate(ya)
  with caplog.at_level(logging.WARNING, logger="tinyjax.tiny"):
    est = old.estimate(ya)
  assert "rebuild it" in caplog.text
  np.testing.assert_allclose(est.interval, ref.interval)
  loaded = tj.load(tb_file)                  # and a new file keeps them
  np.testing.assert_allclose(loaded.estimate(ya).interval, tb.estimate(ya).interval)
  assert loaded.validation == tb.validation


def test_leaderboard_intervals_widen_per_benchmark():
  names = np.array(["a"] * 30 + ["b"] * 30)
  lb = tj.Leaderboard.fit(TRAIN, names, n_anchors=8, dim=1, n_folds=3, seed=0, progress=False)
  assert set(lb.validation["a"]["missing"]) == {f"{f:g}" for f in MISSING_FRACTIONS}
  ya = TEST[:200, lb.all_anchors]
  full = lb.estimate(ya)
  half = ya.copy()
  half[:, :4] = np.nan                           # half of benchmark a's anchors unanswered
  est = lb.estimate(half)
  np.testing.assert_allclose(est.missing["a"], 0.5)
  np.testing.assert_allclose(est.missing["b"], 0.0)
  width = lambda e, b: float(np.mean(e.hi[b] - e.lo[b]))   # noqa: E731
  assert width(est, "a") > 1.15 * width(full, "a")
