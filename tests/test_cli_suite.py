"""`tinyjax suite build` / `tinyjax suite estimate`, and Suite.estimate_from_lm_eval on the real pythia-14m logs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax.cli import main
from tinyjax.errors import ConfigError, ResponseError
from tinyjax.suite import OPENLLM_V1, load_openllm_v1, read_suite_logs


@pytest.fixture(scope="module")
def real_suite(shared_data, tmp_path_factory):
  """A suite on a slice of the real matrices (every item kept, 240 models), saved to a file."""
  R, F = load_openllm_v1(shared_data)
  keep = sorted(set.intersection(*[set(r.index) for r in R.values()]))[:240]
  R = {b: r.loc[keep] for b, r in R.items()}
  suite = tj.Suite.fit(R, {b: F[b].loc[keep] for b in R}, n_anchors=None, seed=0, gammas=(4.0,), unit="percent",
                       progress=False)
  return suite.save(tmp_path_factory.mktemp("suite") / "openllm_v1.tjx")


@pytest.mark.realdata
def test_pythia_logs_end_to_end_through_the_cli(real_suite, shared_data, tmp_path, capsys):
  logs = shared_data / "lm_eval" / "pythia-14m"
  out = tmp_path / "est.json"
  assert main(["suite", "estimate", str(real_suite), str(logs), "--json", str(out), "--out",
               str(tmp_path / "est.csv")]) == 0
  text = capsys.readouterr().out
  for b in OPENLLM_V1:
    assert b in text
  assert "average" in text and "filter strict-match" in text
  doc = json.loads(out.read_text())
  read = read_suite_logs(logs, benchmarks=list(OPENLLM_V1))
  rows = {r["benchmark"]: r for r in doc["benchmarks"]}
  for b in OPENLLM_V1:
    # Every item kept: the kept-item accuracy is exactly the log's own metric over its documents.
    assert rows[b]["answered"] == rows[b]["kept"] == len(read[b].answers)
    assert rows[b]["kept_accuracy_pct"] == pytest.approx(100 * read[b].logged_mean, abs=1e-10)
    assert 0.0 <= rows[b]["lower_pct"] <= rows[b]["estimate_pct"] < rows[b]["upper_pct"] <= 100.0   # cut at 0
  assert doc["unit"] == "percent"
  assert doc["average"]["estimate_pct"] == pytest.approx(np.mean([rows[b]["estimate_pct"] for b in OPENLLM_V1]))
  csv = pd.read_csv(tmp_path / "est.csv")
  assert list(csv["benchmark"]) == list(OPENLLM_V1) + ["average"]
  # Every score column says its unit; the old --csv spelling still writes the same table.
  assert [c for c in csv.columns if c.startswith(("estimate", "lower", "upper", "kept_acc"))] == [
      "estimate_pct", "lower_pct", "upper_pct", "kept_accuracy_pct"]
  assert main(["suite", "estimate", str(real_suite), str(logs), "--csv", str(tmp_path / "old.csv")]) == 0
  pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "old.csv"), csv)


@pytest.mark.realdata
def test_estimate_from_lm_eval_errors(real_suite, shared_data, tmp_path):
  suite = tj.load(real_suite)
  logs = shared_data / "lm_eval" / "pythia-14m"
  # A log of a task the suite does not have (hellaswag: no response matrix) is named.
  only_hs = next(logs.glob("samples_metabench_hellaswag_secondary_*.jsonl"))
  with pytest.raises(ResponseError, match="hellaswag"):
    suite.estimate_from_lm_eval(only_hs)
  # One benchmark only: the others are estimated from it, with their wider intervals.
  arc = next(logs.glob("samples_metabench_arc_secondary_*.jsonl"))
  est, read = suite.estimate_from_lm_eval(arc)
  assert list(read) == ["arc"]
  assert int(est.answered.iloc[0]["arc"]) == 100 and int(est.answered.iloc[0]["mmlu"]) == 0
  w = (est.upper - est.lower).iloc[0]
  assert w["mmlu"] == pytest.approx(2 * suite.validation["mmlu"]["half_width_missing"])
  with pytest.raises(ConfigError, match="hellaswag"):
    suite.estimate({"hellaswag": {"hellaswag.1": 1.0}})


def _write_folder(folder, n=60, seed=0):
  rng = np.random.default_rng(seed)
  th = rng.normal(size=n)
  models = [f"org/m{i}" for i in range(n)]
  for b, n_items in (("arc", 12), ("mmlu", 10)):
    p = 1 / (1 + np.exp(-(th[:, None] - rng.normal(size=n_items))))
    pd.DataFrame((rng.random((n, n_items)) < p).astype(float), index=pd.Index(models, name="model"),
                 columns=[f"{b}.{j}" for j in range(n_items)]).to_parquet(folder / f"{b}.responses.parquet")
    pd.DataFrame({"model": models, "full_benchmark_score_pct": 30 + 40 / (1 + np.exp(-th)) + rng.normal(0, 1, n)}
                 ).to_csv(folder / f"{b}.full_scores.csv", index=False)


def test_suite_build_cli_on_a_small_folder(tmp_path, capsys):
  data = tmp_path / "irt" / "openllm_v1"
  data.mkdir(parents=True)
  _write_folder(data)
  out = tmp_path / "s.tjx"
  assert main(["suite", "build", "openllm-v1", "--data", str(tmp_path), "--anchors", "6", "--out", str(out),
               "--anchors-out", str(tmp_path / "kept.txt")]) == 0
  text = capsys.readouterr().out
  assert "arc" in text and "mmlu" in text and "RMSE" in text
  suite = tj.load(out)
  assert suite.benchmarks == ["arc", "mmlu"] and suite.n_anchors == {"arc": 6, "mmlu": 6}
  assert suite.unit == "percent"
  lines = (tmp_path / "kept.txt").read_text().split("\n")
  assert lines[0].split() == ["arc", suite.anchors["arc"][0]]
  assert main(["suite", "build", "openllm-v1", "--data", str(tmp_path / "nowhere"), "--out", str(out)]) != 0
