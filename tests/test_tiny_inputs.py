"""Answers reach a tiny benchmark by item id (issue 15): TinyBenchmark.estimate, the CLI (`build`, `estimate`),
lm-eval logs; percent units in the CLI outputs; [M, 2] intervals; the seed rule before any work."""

from __future__ import annotations

import json
import re
import logging

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax import synthetic
from tinyjax.cli import main
from tinyjax.errors import ConfigError, ItemError

Y_ALL, *_ = synthetic.simulate_2pl(90, 40, dim=1, seed=1)
TRAIN, TEST = Y_ALL[:80], Y_ALL[80:]


@pytest.fixture(scope="module")
def tb():
  return tj.TinyBenchmark.fit(TRAIN, n_anchors=8, strategy="random", dim=1, n_folds=3, seed=0,
                              compare_adaptive=False)


@pytest.fixture(scope="module")
def tb_file(tb, tmp_path_factory):
  path = tmp_path_factory.mktemp("tiny") / "t.tjx"
  tb.save(path)
  return path


def _frame(tb, order):
  ids = [tb.anchor_ids[k] for k in order]
  return pd.DataFrame(TEST[:, [tb.anchors[k] for k in order]], columns=ids,
                      index=[f"m{i}" for i in range(TEST.shape[0])])


def test_reversed_ids_give_the_anchor_order_estimates(tb):
  ref = tb.estimate(TEST[:, tb.anchors])
  rev = tb.estimate(_frame(tb, list(range(len(tb.anchors)))[::-1]))
  np.testing.assert_allclose(rev.score, ref.score)
  np.testing.assert_allclose(rev.naive, ref.naive)


def test_misspelled_id_is_an_item_error_naming_it(tb):
  df = _frame(tb, list(range(len(tb.anchors)))[::-1])
  bad = tb.anchor_ids[2]
  df = df.rename(columns={bad: bad + "x"})
  with pytest.raises(ItemError, match=repr(bad)):
    tb.estimate(df)


def test_bare_array_needs_one_column_per_anchor(tb):
  with pytest.raises(ItemError, match="one column per anchor"):
    tb.estimate(TEST[:, tb.anchors[:-1]])


def test_extra_columns_ignored_and_reported(tb, caplog):
  df = _frame(tb, range(len(tb.anchors)))
  df["not_an_anchor"] = 1.0
  with caplog.at_level(logging.INFO, logger="tinyjax"):
    est = tb.estimate(df)
  np.testing.assert_allclose(est.score, tb.estimate(TEST[:, tb.anchors]).score)
  assert "not_an_anchor" in caplog.text


def test_intervals_are_one_row_per_model(tb):
  est = tb.estimate(TEST[:, tb.anchors])
  m = TEST.shape[0]
  for name, iv in est.intervals.items():
    assert iv.shape == (m, 2), name
  assert est.interval.shape == (m, 2)
  np.testing.assert_array_equal(est.interval[:, 0], est.lo)
  np.testing.assert_array_equal(est.interval[:, 1], est.hi)


def test_negative_seed_is_a_config_error_before_any_work():
  with pytest.raises(ConfigError, match="seed"):
    tj.TinyBenchmark.fit("/nonexistent/never_read.csv", n_anchors=3, seed=-1)
  with pytest.raises(ConfigError, match="seed"):
    tj.Leaderboard.fit("/nonexistent/never_read.csv", ["a"], seed=-1)


def test_cli_reversed_misspelled_csv_names_the_id(tb, tb_file, tmp_path, capsys):
  df = _frame(tb, list(range(len(tb.anchors)))[::-1])
  bad = tb.anchor_ids[0]
  df.rename(columns={bad: bad + "x"}).to_csv(tmp_path / "a.csv", index_label="model")
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "a.csv")]) == 1
  assert repr(bad) in capsys.readouterr().err


def test_cli_reversed_csv_out_in_percent(tb, tb_file, tmp_path, capsys):
  _frame(tb, list(range(len(tb.anchors)))[::-1]).assign(extra=0.0).to_csv(tmp_path / "a.csv", index_label="model")
  out, js = tmp_path / "e.csv", tmp_path / "e.json"
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "a.csv"), "--out", str(out),
               "--json", str(js)]) == 0
  cap = capsys.readouterr()
  assert "percent" in cap.out and "extra" in cap.err
  ref = tb.estimate(TEST[:, tb.anchors])
  got = pd.read_csv(out)
  for col in ("naive_pct", "blend_pct", "score_pct", "score_lo_pct", "score_hi_pct"):
    assert col in got.columns
  assert "score" not in got.columns and "naive" not in got.columns
  np.testing.assert_allclose(got["score_pct"], 100 * ref.score, atol=1e-3)
  np.testing.assert_allclose(got["score_lo_pct"], 100 * ref.lo, atol=1e-3)
  doc = json.loads(js.read_text())
  assert doc["unit"] == "percent" and doc["recommended"] == "blend"
  np.testing.assert_allclose(doc["models"][0]["score_pct"], 100 * ref.score[0], atol=1e-3)


def test_cli_estimate_drop_empty(tb, tb_file, tmp_path, capsys):
  df = _frame(tb, range(len(tb.anchors)))
  df.iloc[1] = np.nan
  df.to_csv(tmp_path / "a.csv", index_label="model")
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "a.csv")]) == 1
  assert "m1" in capsys.readouterr().err
  assert main(["--no-cache", "estimate", str(tb_file), str(tmp_path / "a.csv"), "--drop-empty"]) == 0
  cap = capsys.readouterr()
  assert "m1" in cap.err and "\nm1 " not in cap.out


def test_cli_estimate_from_lm_eval_jsonl(tmp_path, capsys):
  task = "toy"
  ids = [f"{task}/{d}" for d in range(TRAIN.shape[1])]
  tbl = tj.TinyBenchmark.fit(pd.DataFrame(TRAIN, columns=ids), n_anchors=6, strategy="random", dim=1,
                             n_folds=3, seed=0, compare_adaptive=False)
  tbl.save(tmp_path / "t.tjx")
  run = tmp_path / "logs" / "my-model"
  run.mkdir(parents=True)
  stamp = "2024-01-01T00-00-00.000000"
  (run / f"results_{stamp}.json").write_text(json.dumps({"model_name": "my-model"}))
  lines = [json.dumps({"doc_id": d, "filter": "none", "metrics": ["acc"], "acc": float(TEST[0, d])})
           for d in range(TRAIN.shape[1])][::-1]
  (run / f"samples_{task}_{stamp}.jsonl").write_text("\n".join(lines) + "\n")
  out = tmp_path / "e.csv"
  assert main(["--no-cache", "estimate", str(tmp_path / "t.tjx"), str(tmp_path / "logs"), "--out", str(out)]) == 0
  got = pd.read_csv(out)
  ref = tbl.estimate(TEST[:1, tbl.anchors])
  assert got["model"].tolist() == ["my-model"]
  np.testing.assert_allclose(got["score_pct"], 100 * ref.score, atol=1e-3)


def test_cli_build_one_metric_for_every_estimator(tmp_path, capsys):
  pd.DataFrame(TRAIN, columns=[f"q{j}" for j in range(TRAIN.shape[1])]).to_csv(tmp_path / "r.csv", index=False)
  assert main(["--no-cache", "build", str(tmp_path / "r.csv"), "--out", str(tmp_path / "t.tjx"), "--anchors", "6",
               "--dim", "1", "--folds", "3"]) == 0
  line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("validation"))
  assert "RMSE" not in line and "mean absolute error" in line
  for name in ("naive", "p-IRT", "gp-IRT", "diff", "greg", "ridge", "blend"):
    assert f"{name} " in line
  assert line.count("(recommended)") == 1 and re.search(r"blend [0-9.]+ \(recommended\)", line)
  with pytest.raises(SystemExit):
    main(["--no-cache", "build", str(tmp_path / "r.csv"), "--out", str(tmp_path / "u.tjx"), "--seed", "-1"])
