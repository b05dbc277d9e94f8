"""lm-eval samples logs: filters with and without the key (tinyjax.data.lm_eval) and a suite's answers from them
(tinyjax.suite._logs), on small hand-written files and on the real pythia-14m metabench logs."""

from __future__ import annotations

import json
import logging
import pathlib
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tinyjax import data as tjd
from tinyjax.errors import ItemError, MissingFileError, ResponseError
from tinyjax.suite._logs import LEADERBOARD_METRICS, LOG_KEYS, benchmark_of_task, read_suite_logs

STAMP = "2024-11-26T10-50-23.349203"
STAMP2 = "2024-11-27T09-00-00.000001"
_ABSENT = object()


def _rec(doc_id, doc, filt=_ABSENT, listed=True, **metrics):
  """One samples record. filt=_ABSENT: no 'filter' key (and no 'metrics' list unless listed), as older lm-eval."""
  rec = {"doc_id": doc_id, "doc": doc, "target": "0", "arguments": {"gen_args_0": {"arg_0": "Q:", "arg_1": " a"}},
         "resps": [[["-1.5", "False"]]], "filtered_resps": [["-1.5", "False"]], "doc_hash": "d" * 64}
  if filt is not _ABSENT:
    rec["filter"] = filt
    if listed:
      rec["metrics"] = list(metrics)
  rec.update(metrics)
  return rec


def _write(folder: pathlib.Path, task: str, records, stamp: str = STAMP) -> pathlib.Path:
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / f"samples_{task}_{stamp}.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
  return path


# GSM8K by hand: metabench_idx -> (strict-match, flexible-extract) exact_match; doc_ids are not the idx order.
GSM = {1169: (0.0, 1.0), 732: (1.0, 1.0), 1183: (0.0, 0.0)}


def _gsm_records(with_key: bool):
  """lm-eval's order: every document under the first filter, then every document under the second."""
  out = []
  for k, name in enumerate(("strict-match", "flexible-extract")):
    for d, (idx, values) in enumerate(GSM.items()):
      filt = name if with_key else _ABSENT
      out.append(_rec(d, {"question": f"q{idx}", "metabench_idx": idx}, filt, exact_match=values[k]))
  return out


# ----------------------------------------------------------------------------------------------------
# tinyjax.data: filters with and without the 'filter' key
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_key", [True, False])
def test_read_file_groups_filters_with_and_without_key(tmp_path, with_key, caplog):
  path = _write(tmp_path / "m", "metabench_gsm8k_secondary", _gsm_records(with_key))
  (f,) = tjd.find_lm_eval_files(path)
  with caplog.at_level(logging.INFO, logger="tinyjax.data"):
    groups = tjd.read_lm_eval_file(f)
  assert list(groups) == ["strict-match", "flexible-extract"]
  for k, name in enumerate(groups):
    assert [s.doc["metabench_idx"] for s in groups[name]] == list(GSM)
    assert [s.metrics["exact_match"] for s in groups[name]] == [v[k] for v in GSM.values()]
    assert [s.line for s in groups[name]] == [3 * k + 1, 3 * k + 2, 3 * k + 3]
  assert ("inferred from their order (lm-eval's gsm8k filter_list)" in caplog.text) == (not with_key)


def test_from_lm_eval_samples_reads_gsm8k_without_filter_key(tmp_path, caplog):
  """The bug of issue 16: a doc logged once per filter, no 'filter' key, used to be called a duplicate."""
  folder = tmp_path / "m"
  _write(folder, "metabench_gsm8k_secondary", _gsm_records(with_key=False))
  with caplog.at_level(logging.INFO, logger="tinyjax.data"):
    strict = tjd.from_lm_eval_samples(folder, metric="exact_match")
  flexible = tjd.from_lm_eval_samples(folder, metric="exact_match", filter="flexible-extract")
  assert strict.item_ids == [f"metabench_gsm8k_secondary/{d}" for d in range(3)]
  np.testing.assert_array_equal(strict.values, [[0.0, 1.0, 0.0]])
  np.testing.assert_array_equal(flexible.values, [[1.0, 1.0, 0.0]])
  assert "using 'strict-match'" in caplog.text


def test_several_filters_without_key_named_by_results_file(tmp_path):
  recs = [_rec(d, {"metabench_idx": d}, acc=float((d + k) % 2)) for k in range(3) for d in range(2)]
  path = _write(tmp_path / "m", "my_task", recs)
  # Without a filter list, repeats are not taken for filters (issue 26: a second run appended read as a filter).
  with pytest.raises(ItemError, match=r"\.jsonl:3: doc_id 0 is logged 3 times \(first at line 1\) with no 'filter' "
                                      r"key, but task 'my_task' has no known filter list"):
    tjd.read_lm_eval_file(tjd.find_lm_eval_files(path)[0])
  # The results file beside it names the filters (configs[task].filter_list, in order).
  results = path.parent / f"results_{STAMP}.json"
  results.write_text(json.dumps({"configs": {"my_task": {"filter_list": [
      {"name": "maj@64"}, {"name": "maj@8"}, {"name": "score-first"}]}}}))
  groups = tjd.read_lm_eval_file(tjd.find_lm_eval_files(path)[0])
  assert list(groups) == ["maj@64", "maj@8", "score-first"]
  assert [[s.metrics["acc"] for s in g] for g in groups.values()] == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
  results.write_text(json.dumps({"configs": {"my_task": {"filter_list": [{"name": "maj@64"}, {"name": "maj@8"}]}}}))
  with pytest.raises(ItemError, match=r":5: doc_id 0 is logged 3 times .* has 2 filter\(s\) \['maj@64', 'maj@8'\]"):
    tjd.read_lm_eval_file(tjd.find_lm_eval_files(path)[0])


def test_values_as_strings_and_bools(tmp_path):
  recs = [_rec(0, {"metabench_idx": 5}, acc="1.0", acc_norm="True"),
          _rec(1, {"metabench_idx": 6}, acc="0", acc_norm=False),
          _rec(2, {"metabench_idx": 7}, "none", acc=True, acc_norm="false")]
  path = _write(tmp_path / "m", "arc_easy", recs)
  r = tjd.from_lm_eval_samples(path, metric="acc_norm")
  np.testing.assert_array_equal(r.values, [[1.0, 0.0, 0.0]])
  np.testing.assert_array_equal(tjd.from_lm_eval_samples(path).values, [[1.0, 0.0, 1.0]])


def test_uneven_repeats_without_key_are_an_error(tmp_path):
  recs = [_rec(0, {}, acc=1.0), _rec(1, {}, acc=0.0), _rec(0, {}, acc=0.0)]
  path = _write(tmp_path / "m", "arc_easy", recs)
  with pytest.raises(ResponseError, match=r"documents repeat unevenly \(doc_id 1 1 time\(s\), others up to 2\)"):
    tjd.from_lm_eval_samples(path)


# ----------------------------------------------------------------------------------------------------
# tinyjax.suite._logs: a suite's answers, matched by the document's own identity field
# ----------------------------------------------------------------------------------------------------

ARC = {1041: 1.0, 800: 0.0, 13: 1.0, 77: 0.0}   # metabench_idx -> acc_norm
MMLU = {"high_school_mathematics.236": 1.0, "anatomy.3": 0.0, "virology.12": 0.0}


def _suite_log(folder: pathlib.Path) -> pathlib.Path:
  """A model's folder: ARC (doc_ids in reverse of the idx order on disk), MMLU, GSM8K without filter keys."""
  arc = [_rec(len(ARC) - 1 - d, {"metabench_idx": idx}, "none", acc=1.0 - v, acc_norm=v)
         for d, (idx, v) in enumerate(ARC.items())]
  _write(folder, "metabench_arc_secondary", arc)
  _write(folder, "metabench_mmlu_secondary",
         [_rec(d, {"mb_sub_idx": s, "metabench_idx": d}, acc=str(v)) for d, (s, v) in enumerate(MMLU.items())])
  _write(folder, "metabench_gsm8k_secondary", _gsm_records(with_key=False))
  return folder


def test_suite_logs_by_identity_field_not_doc_id(tmp_path, caplog):
  folder = _suite_log(tmp_path / "pythia-14m")
  with caplog.at_level(logging.INFO, logger="tinyjax"):
    out = read_suite_logs(folder)
  assert list(out) == ["arc", "mmlu", "gsm8k"]
  arc = out["arc"]
  assert arc.answers == {f"arc.{i}": v for i, v in ARC.items()}   # acc_norm, keyed by metabench_idx
  assert (arc.metric, arc.filter, arc.task, arc.model) == ("acc_norm", "none", "metabench_arc_secondary", "pythia-14m")
  assert arc.logged_mean == 0.5 and arc.path.name.startswith("samples_metabench_arc_secondary_")
  assert out["mmlu"].answers == {f"mmlu.{s}": v for s, v in MMLU.items()} and out["mmlu"].logged_mean == 1 / 3
  gsm = out["gsm8k"]
  assert (gsm.filter, gsm.metric) == ("strict-match", "exact_match")
  assert gsm.answers == {"gsm8k.1169": 0.0, "gsm8k.732": 1.0, "gsm8k.1183": 0.0} and gsm.logged_mean == 1 / 3
  assert "using 'strict-match'" in caplog.text
  flexible = read_suite_logs(folder, filter={"gsm8k": "flexible-extract"}, metric={"arc": "acc"})
  assert flexible["gsm8k"].answers == {"gsm8k.1169": 1.0, "gsm8k.732": 1.0, "gsm8k.1183": 0.0}
  assert flexible["arc"].answers == {f"arc.{i}": 1.0 - v for i, v in ARC.items()}
  assert flexible["arc"].metric == "acc" and flexible["mmlu"].metric == "acc"


def test_suite_logs_benchmarks_filter_and_skips(tmp_path, caplog):
  folder = _suite_log(tmp_path / "m")
  _write(folder, "lambada_openai", [_rec(0, {}, acc=1.0)])
  with caplog.at_level(logging.INFO, logger="tinyjax.suite"):
    out = read_suite_logs(folder, benchmarks=["mmlu", "arc", "truthfulqa"])
  assert list(out) == ["mmlu", "arc"]
  assert "skipped task(s) ['lambada_openai']" in caplog.text
  assert "skipped task 'metabench_gsm8k_secondary': the suite has no gsm8k" in caplog.text
  with pytest.raises(ResponseError, match=r"the log holds tasks \['lambada_openai', 'metabench_arc_secondary', "
                                          r"'metabench_gsm8k_secondary', 'metabench_mmlu_secondary'\]; the suite "
                                          r"has \['hellaswag'\]"):
    read_suite_logs(folder, benchmarks=["hellaswag"])


def test_suite_logs_single_file_and_metric_fallback(tmp_path, caplog):
  path = _write(tmp_path / "m", "metabench_truthfulqa_secondary",
                [_rec(d, {"metabench_idx": idx}, acc=v) for d, (idx, v) in enumerate({161: 0.0, 782: 1.0}.items())])
  with caplog.at_level(logging.INFO, logger="tinyjax.suite"):
    (tqa,) = read_suite_logs(path).values()
  assert tqa.benchmark == "truthfulqa" and tqa.metric == "acc" and tqa.answers == {"truthfulqa.161": 0.0,
                                                                                     "truthfulqa.782": 1.0}
  assert "truthfulqa: reading 'mc1' from 'metabench_truthfulqa_secondary''s 'acc'" in caplog.text
  mc1 = _write(tmp_path / "p", "truthfulqa_mc1", [_rec(0, {"metabench_idx": 5}, acc=1.0)])
  assert LEADERBOARD_METRICS["truthfulqa"] == "mc1" and LOG_KEYS["mc1"] == "acc"
  assert read_suite_logs(mc1)["truthfulqa"].metric == "acc"      # MC1 under its log key, the plain task too
  mc2 = _write(tmp_path / "n", "truthfulqa_mc2", [_rec(0, {"metabench_idx": 1}, acc=0.37)])
  with pytest.raises(ResponseError, match=r"logs the mc2 probability mass"):
    read_suite_logs(mc2)
  assert read_suite_logs(mc2, metric="acc")["truthfulqa"].answers == {"truthfulqa.1": 0.37}
  with pytest.raises(ResponseError, match=r"metric 'acc_norm' not logged for task 'truthfulqa_mc2'; it logs \['acc'\]"):
    read_suite_logs(mc2, metric="acc_norm")


def test_suite_logs_import_no_scoring():
  """The one metric table lives on the suite side: reading logs never imports tinyjax.scoring (flax)."""
  code = "import sys, tinyjax.suite._logs; print('tinyjax.scoring' in sys.modules, 'flax' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.split() == ["False", "False"]


@pytest.mark.parametrize("task,doc,field", [("metabench_arc_secondary", {"question": "q"}, "metabench_idx"),
                                            ("metabench_mmlu_secondary", {"metabench_idx": 3}, "mb_sub_idx"),
                                            ("metabench_hellaswag_secondary", None, "metabench_idx")])
def test_suite_logs_missing_identity_field(tmp_path, task, doc, field):
  path = _write(tmp_path / "m", task, [_rec(0, doc, acc=1.0, acc_norm=1.0)])
  with pytest.raises(ResponseError, match=rf"samples_{task}_.*\.jsonl:1: the document \(doc_id 0\) has no "
                                          rf"'{field}' field"):
    read_suite_logs(path)


def test_suite_logs_errors(tmp_path):
  only = _write(tmp_path / "a", "lambada_openai", [_rec(0, {}, acc=1.0)])
  with pytest.raises(ResponseError, match=r"no Open LLM Leaderboard v1 task among the tasks found \['lambada_openai'\]"):
    read_suite_logs(only.parent)
  runs = tmp_path / "b"
  first = _write(runs, "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm=1.0)])
  second = _write(runs, "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm=0.0)], STAMP2)
  with pytest.raises(ResponseError, match=rf"two samples files of benchmark 'arc' for model 'b': {re.escape(str(first))} "
                                          rf"and {re.escape(str(second))}"):
    read_suite_logs(runs)
  models = tmp_path / "c"
  _write(models / "model-a", "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm=1.0)])
  _write(models / "model-b", "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm=1.0)])
  with pytest.raises(ResponseError, match=r"holds the runs of 2 models .*'model-a'.*'model-b'.*pass one model's folder"):
    read_suite_logs(models)
  bad = _write(tmp_path / "d", "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm=1.0),
                                                          _rec(1, {"metabench_idx": 1}, acc_norm=0.0)])
  with pytest.raises(ResponseError, match=r"\.jsonl:2: item 'arc.1' logged twice"):
    read_suite_logs(bad)
  bad = _write(tmp_path / "e", "metabench_arc_secondary", [_rec(0, {"metabench_idx": 1}, acc_norm="1.5")])
  with pytest.raises(ResponseError, match=r"\.jsonl:1: metric 'acc_norm' is 1.5, not a number in \[0, 1\]"):
    read_suite_logs(bad)
  with pytest.raises(ResponseError, match=r"filter 'nope' not found .* filters in the file: \['strict-match', "
                                          r"'flexible-extract'\]"):
    read_suite_logs(_suite_log(tmp_path / "f"), filter={"gsm8k": "nope"})
  with pytest.raises(MissingFileError):
    read_suite_logs(tmp_path / "absent")


@pytest.mark.parametrize("task,expected", [
    ("metabench_arc_secondary", "arc"), ("metabench_gsm8k_primary", "gsm8k"), ("metabench_mmlu", "mmlu"),
    ("metabench_truthfulqa_secondary", "truthfulqa"), ("arc_challenge", "arc"), ("truthfulqa_mc2", "truthfulqa"),
    ("winogrande", "winogrande"), ("hellaswag", "hellaswag"), ("gsm8k", "gsm8k"), ("mmlu", "mmlu"),
    ("arc_easy", None), ("metabench_arc_permute", None), ("metabench_squad_secondary", None), ("lambada", None)])
def test_benchmark_of_task(task, expected):
  assert benchmark_of_task(task) == expected


# ----------------------------------------------------------------------------------------------------
# Real data: pythia-14m's metabench *_secondary logs (../shared/data/lm_eval/pythia-14m)
# ----------------------------------------------------------------------------------------------------

# Hand-counted from the files (sum of the metric over the documents): benchmark -> (metric, docs, correct).
PYTHIA = {"arc": ("acc_norm", 100, 3), "hellaswag": ("acc_norm", 58, 3), "mmlu": ("acc", 102, 26),
          "winogrande": ("acc", 106, 55), "truthfulqa": ("acc", 136, 15), "gsm8k": ("exact_match", 249, 0)}


@pytest.mark.realdata
def test_pythia_logs_end_to_end(shared_data):
  folder = shared_data / "lm_eval" / "pythia-14m"
  out = read_suite_logs(folder)
  assert list(out) == list(LEADERBOARD_METRICS)
  for b, (metric, n, correct) in PYTHIA.items():
    a = out[b]
    assert (a.metric, len(a.answers), a.model) == (metric, n, "pythia-14m")
    assert sum(a.answers.values()) == correct and a.logged_mean == correct / n
    assert np.mean(list(a.answers.values())) == a.logged_mean        # kept-item accuracy == the log's own metric
    raw = [json.loads(line) for line in a.path.read_text().splitlines()]
    raw = raw[: len(raw) // 2] if b == "gsm8k" else raw                # gsm8k: the strict-match half
    assert a.answers == {f"{b}.{r['doc']['mb_sub_idx' if b == 'mmlu' else 'metabench_idx']}": float(r[metric])
                         for r in raw}
    matrix = shared_data / "irt" / "openllm_v1" / f"{b}.responses.parquet"
    if b != "hellaswag":                                                 # no HellaSwag matrix exists
      assert set(a.answers) == set(pd.read_parquet(matrix).columns)     # every logged doc is a column, and back
  assert out["gsm8k"].filter == "strict-match" and all(a.filter == "none" for b, a in out.items() if b != "gsm8k")


@pytest.mark.realdata
def test_pythia_gsm8k_filters_are_strict_then_flexible(shared_data):
  """The file has no 'filter' key; its first half never matches '#### <number>', its second extracts numbers."""
  (f,) = tjd.find_lm_eval_files(next((shared_data / "lm_eval" / "pythia-14m").glob("samples_metabench_gsm8k_*")))
  groups = tjd.read_lm_eval_file(f)
  strict, flexible = groups["strict-match"], groups["flexible-extract"]
  assert list(groups) == ["strict-match", "flexible-extract"] and len(strict) == len(flexible) == 249
  assert [s.line for s in strict] == list(range(1, 250))
  assert all(s.record["filtered_resps"] == ["[invalid]"] for s in strict)
  extracted = [s.record["filtered_resps"][0] for s in flexible if s.record["filtered_resps"] != ["[invalid]"]]
  assert extracted == ["33", "2", "4"]
  assert [s.record["resps"] for s in strict] == [s.record["resps"] for s in flexible]   # one generation, two readings
  r = tjd.from_lm_eval_samples(f.path, metric="exact_match")
  assert r.values.shape == (1, 249)


@pytest.mark.realdata
def test_pythia_truthfulqa_acc_is_mc1(shared_data):
  """The metabench task scores mc1_targets (the true answer first): acc = 1 iff choice 0 has the top log-likelihood.
  The truthfulqa matrix means the same: its full scores are k/817 (MC1 accuracy; an mc2 mean is not a count)."""
  tqa = read_suite_logs(shared_data / "lm_eval" / "pythia-14m", benchmarks=["truthfulqa"])["truthfulqa"]
  (f,) = tjd.find_lm_eval_files(tqa.path)
  (samples,) = tjd.read_lm_eval_file(f).values()
  for s in samples:
    ll = [float(choice[0][0]) for choice in s.record["resps"]]
    assert len(ll) == len(s.doc["mc1_targets"]["choices"]) and s.doc["mc1_targets"]["labels"][0] == 1
    assert tqa.answers[f"truthfulqa.{s.doc['metabench_idx']}"] == float(int(np.argmax(ll)) == 0)
  full = pd.read_csv(shared_data / "irt" / "openllm_v1" / "truthfulqa.full_scores.csv")["full_benchmark_score_pct"]
  counts = full.to_numpy() * 817 / 100
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
