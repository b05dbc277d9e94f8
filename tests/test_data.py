"""tinyjax.data: response matrices from every source, validation errors, lm-eval samples."""

from __future__ import annotations

import json
import logging
import pathlib

import numpy as np
import pandas as pd
import pytest

from tinyjax import data as tjd
from tinyjax.data import Dropped, ResponseError, Responses
from tinyjax.errors import ConfigError, MissingFileError

MODELS = ["org/gpt-a", "llama 7b", "m3", "m4"]
ITEMS = ["mmlu/0", "mmlu/1", "arc/2", "x", "y"]
VALUES = np.array(
    [
        [1.0, 0.0, np.nan, 0.25, 1.0],
        [0.0, np.nan, 1.0, 0.5, 0.0],
        [np.nan, 1.0, 1.0, 1.0, 0.75],
        [0.0, 0.0, 0.0, np.nan, 1.0],
    ]
)


def _frame() -> pd.DataFrame:
  return pd.DataFrame(VALUES, index=pd.Index(MODELS, name="model"), columns=ITEMS)


# ----------------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------------


def test_responses_container():
  src = VALUES.copy()
  r = Responses(src, MODELS, ITEMS)
  assert r.shape == (4, 5) and r.n_models == 4 and r.n_items == 5
  np.testing.assert_array_equal(r.mask, ~np.isnan(VALUES))
  assert r.values.dtype == np.float64 and not r.values.flags.writeable
  src[0, 0] = 0.0  # the container holds a copy
  assert r.values[0, 0] == 1.0
  np.testing.assert_array_equal(np.asarray(r), VALUES)
  frame = r.to_frame()
  pd.testing.assert_frame_equal(frame, _frame().rename_axis(columns="item"))
  assert not r.dropped and "n_models=4" in repr(r)
  with pytest.raises(AttributeError):
    r.values = VALUES  # frozen


def test_responses_constructor_validates():
  with pytest.raises(ResponseError, match=r"outside \[0, 1\]"):
    Responses(VALUES * 2, MODELS, ITEMS)
  with pytest.raises(ResponseError, match=r"item_ids has 4 entries but the matrix has 5 columns"):
    Responses(VALUES, MODELS, ITEMS[:4])


# ----------------------------------------------------------------------------------------------------
# Every source gives the same matrix
# ----------------------------------------------------------------------------------------------------


def _write_source(kind: str, tmp_path: pathlib.Path):
  """Returns (source, expect model ids from the source?, extra kwargs)."""
  frame = _frame()
  if kind == "array":
    return VALUES.copy(), False, {}
  if kind == "list":
    return [[None if np.isnan(v) else v for v in row] for row in VALUES.tolist()], False, {}
  if kind == "frame":
    return frame, True, {}
  if kind == "frame_model_column":
    return frame.reset_index(), True, {}
  if kind == "responses":
    return Responses(VALUES, MODELS, ITEMS), True, {}
  if kind == "npy":
    np.save(tmp_path / "r.npy", VALUES)
    return tmp_path / "r.npy", False, {}
  if kind == "npz_single":
    np.savez(tmp_path / "r.npz", anything=VALUES)
    return str(tmp_path / "r.npz"), False, {}
  if kind == "npz_keys":
    np.savez(tmp_path / "r.npz", values=VALUES, model_ids=np.array(MODELS), item_ids=np.array(ITEMS))
    return tmp_path / "r.npz", True, {}
  if kind == "csv":
    frame.to_csv(tmp_path / "r.csv")
    return tmp_path / "r.csv", True, {}
  if kind == "csv_blank_header":
    frame.rename_axis(None).to_csv(tmp_path / "r.csv")
    return tmp_path / "r.csv", True, {}
  if kind == "csv_text_first_column":
    frame.rename_axis("who").to_csv(tmp_path / "r.csv")
    return tmp_path / "r.csv", True, {}
  if kind == "csv_model_column":
    frame.reset_index().rename(columns={"model": "llm"})[ITEMS + ["llm"]].to_csv(tmp_path / "r.csv", index=False)
    return tmp_path / "r.csv", True, {"model_column": "llm"}
  if kind == "csv_no_ids":
    frame.to_csv(tmp_path / "r.csv", index=False)
    return tmp_path / "r.csv", False, {}
  if kind == "tsv":
    frame.to_csv(tmp_path / "r.tsv", sep="\t")
    return tmp_path / "r.tsv", True, {}
  if kind == "parquet":
    frame.to_parquet(tmp_path / "r.parquet")
    return tmp_path / "r.parquet", True, {}
  if kind == "parquet_string_column":
    frame.reset_index().rename(columns={"model": "llm"}).to_parquet(tmp_path / "r.parquet", index=False)
    return tmp_path / "r.parquet", True, {}
  datasets = pytest.importorskip("datasets")
  ds = datasets.Dataset.from_pandas(frame.reset_index(), preserve_index=False)
  if kind == "dataset":
    return ds, True, {}
  if kind == "dataset_disk":
    ds.save_to_disk(str(tmp_path / "ds"))
    return tmp_path / "ds", True, {}
  raise AssertionError(kind)


SOURCES = [
    "array", "list", "frame", "frame_model_column", "responses", "npy", "npz_single", "npz_keys", "csv",
    "csv_blank_header", "csv_text_first_column", "csv_model_column", "csv_no_ids", "tsv", "parquet",
    "parquet_string_column", "dataset", "dataset_disk",
]


@pytest.mark.parametrize("kind", SOURCES)
def test_every_source_gives_the_same_matrix(kind, tmp_path):
  source, has_ids, kwargs = _write_source(kind, tmp_path)
  r = tjd.load_responses(source, **kwargs)
  assert isinstance(r, Responses)
  np.testing.assert_array_equal(r.values, VALUES)  # NaN positions must match too
  if has_ids:
    assert r.model_ids == MODELS
  else:
    assert r.model_ids == [f"model_{i}" for i in range(4)]
  if kind in ("array", "list", "npy", "npz_single"):
    assert r.item_ids == [f"item_{j}" for j in range(5)]
  else:
    assert r.item_ids == ITEMS


def test_round_trip_through_to_frame_keeps_numeric_looking_ids(tmp_path):
  r = tjd.load_responses(VALUES, model_ids=["1", "2", "3", "4"], item_ids=["10", "11", "12", "13", "14"])
  r.to_frame().to_csv(tmp_path / "r.csv")
  r.to_frame().to_parquet(tmp_path / "r.parquet")
  for path in ("r.csv", "r.parquet"):
    back = tjd.load_responses(tmp_path / path)
    assert back.model_ids == r.model_ids and back.item_ids == r.item_ids
    np.testing.assert_array_equal(back.values, r.values)


def test_ids_override_and_bool_ints(tmp_path):
  r = tjd.load_responses(np.array([[True, False], [False, True]]), model_ids=["a", "b"], item_ids=("p", "q"))
  np.testing.assert_array_equal(r.values, [[1.0, 0.0], [0.0, 1.0]])
  assert r.model_ids == ["a", "b"] and r.item_ids == ["p", "q"]
  r2 = tjd.load_responses(_frame(), model_ids=list("abcd"))
  assert r2.model_ids == list("abcd") and r2.item_ids == ITEMS
  r3 = tjd.load_responses(np.array([[0, 1], [1, 1]], dtype=np.int8), binary=True)
  assert r3.values.dtype == np.float64


# ----------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------


def _bad_frame_text():
  f = _frame()
  f["x"] = f["x"].astype(object)
  f.loc["m3", "x"] = "oops"
  return f


ERROR_CASES = [
    ("one_d", np.zeros(3), {}, r"must be 2-D \(n_models, n_items\), got shape \(3,\)"),
    ("three_d", np.zeros((2, 2, 2)), {}, r"got shape \(2, 2, 2\)"),
    ("empty_rows", np.zeros((0, 3)), {}, r"empty: shape \(0, 3\)"),
    ("empty_cols", [[], []], {}, r"empty: shape \(2, 0\)"),
    ("ragged", [[0, 1], [1]], {}, r"different lengths: row 0 has 2 entries, row 1 has 1"),
    ("text_in_list", [[0, 1], [1, "yes"]], {}, r"non-numeric value 'yes' \(str\) at row 1, column 1"),
    ("text_with_ids", [[0, "1"]], {"model_ids": ["a"], "item_ids": ["p", "q"]},
     r"'1' \(str\) at row 0 \(model 'a'\), column 1 \(item 'q'\)"),
    ("string_array", np.array([["0", "1"]]), {}, r"non-numeric value '0'"),
    ("text_in_frame", _bad_frame_text(), {}, r"non-numeric value 'oops' \(str\) at row 2 \(model 'm3'\), column 3 \(item 'x'\)"),
    ("complex", np.ones((2, 2), dtype=complex), {}, r"complex"),
    ("above_one", [[0, 2.0], [1, 0.5]], {}, r"1 value\(s\) outside \[0, 1\]; first 2.0 at row 0 \(model 'model_0'\), column 1"),
    ("negative", [[0, -0.5], [-1, 0.5]], {}, r"2 value\(s\) outside \[0, 1\]; first -0.5 at row 0"),
    ("inf", [[0, 1], [np.inf, -np.inf]], {}, r"2 infinite value\(s\).*row 1 \(model 'model_1'\), column 0"),
    ("empty_model", [[0, 1], [np.nan, np.nan]], {}, r"1 model\(s\) with no observations \(all NaN\): 'model_1'.*drop_empty=True"),
    ("empty_item", [[0, np.nan], [1, np.nan]], {"item_ids": ["p", "q"]}, r"1 item\(s\) with no observations \(all NaN\): 'q'"),
    ("dup_models", [[0], [1], [1]], {"model_ids": ["a", "b", "a"]}, r"duplicated model_ids: 1 id\(s\).*'a' at rows \[0, 2\]"),
    ("dup_items", pd.DataFrame([[0, 1]], index=["m"], columns=["q", "q"]), {}, r"duplicated item_ids.*'q' at columns \[0, 1\]"),
    ("n_model_ids", [[0], [1]], {"model_ids": ["a", "b", "c"]}, r"model_ids has 3 entries but the matrix has 2 rows"),
    ("n_item_ids", [[0, 1]], {"item_ids": ["p"]}, r"item_ids has 1 entries but the matrix has 2 columns"),
    ("missing_id", [[0], [1]], {"model_ids": ["a", None]}, r"model_ids\[1\] is missing"),
    ("not_binary", [[0, 1], [0.5, 1]], {"binary": True}, r"binary=True but 1 value\(s\) are not 0/1; first 0.5 at row 1"),
    ("series", pd.Series([0, 1]), {}, r"2-D .*Series"),
]


@pytest.mark.parametrize("name,source,kwargs,match", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_name_the_problem(name, source, kwargs, match):
  with pytest.raises(ResponseError, match=match):
    tjd.load_responses(source, **kwargs)


@pytest.mark.parametrize(
    "name,match",
    [
        ("ambiguous.npz", r"ambiguous .npz with arrays \['a', 'b'\]"),
        ("extra.npz", r"unexpected arrays \['extra'\] next to 'values'"),
        ("text.csv", r"non-numeric value 'abc' at row 1 \(model 'm1'\), column 1 \(item 'q'\) \(csv line 3\)"),
        ("mixed.csv", r"first column 'p' mixes numbers and text \(row 1: 'gpt'\)"),
        ("pickled.npy", r"cannot read without pickle"),
        ("unknown.txt", r"unknown file type '.txt'"),
    ],
)
def test_file_errors(name, match, tmp_path):
  path = tmp_path / name
  if name == "ambiguous.npz":
    np.savez(path, a=np.zeros((2, 2)), b=np.zeros((2, 2)))
  elif name == "extra.npz":
    np.savez(path, values=np.zeros((2, 2)), extra=np.zeros(2))
  elif name == "text.csv":
    path.write_text("model,p,q\nm0,1,0\nm1,0,abc\n")
  elif name == "mixed.csv":
    path.write_text("p,q\n1,0\ngpt,1\n")
  elif name == "pickled.npy":
    np.save(path, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
  else:
    path.write_text("0 1\n")
  with pytest.raises(ResponseError, match=match):
    tjd.load_responses(path)


def test_missing_file_and_dataset_dict(tmp_path):
  with pytest.raises(MissingFileError, match="nope.csv"):
    tjd.load_responses(tmp_path / "nope.csv")
  datasets = pytest.importorskip("datasets")
  dsd = datasets.DatasetDict({"a": datasets.Dataset.from_dict({"model": ["m"], "x": [1.0]})})
  with pytest.raises(ResponseError, match=r"DatasetDict with splits \['a'\]"):
    tjd.load_responses(dsd)
  ds = datasets.Dataset.from_dict({"model": ["m", "n"], "x": [1.0, 0.0], "note": ["hi", "yo"]})
  match = r"non-numeric value 'hi' \(str\) at row 0 \(model 'm'\), column 1 \(item 'note'\)"
  with pytest.raises(ResponseError, match=match):
    tjd.load_responses(ds)
  with pytest.raises(ResponseError, match=r"model_column 'who' not among the columns"):
    tjd.load_responses(ds, model_column="who")


# ----------------------------------------------------------------------------------------------------
# drop_empty and binarize
# ----------------------------------------------------------------------------------------------------


def test_drop_empty_reports_what_was_dropped(caplog):
  v = VALUES.copy()
  v[1, :] = np.nan  # model 'llama 7b' has nothing
  v[:, 2] = np.nan  # item 'arc/2' has nothing
  with caplog.at_level(logging.INFO, logger="tinyjax.data"):
    r = tjd.load_responses(v, model_ids=MODELS, item_ids=ITEMS, drop_empty=True)
  keep_rows, keep_cols = [0, 2, 3], [0, 1, 3, 4]
  np.testing.assert_array_equal(r.values, v[np.ix_(keep_rows, keep_cols)])
  assert r.model_ids == [MODELS[i] for i in keep_rows] and r.item_ids == [ITEMS[j] for j in keep_cols]
  assert r.dropped == Dropped(models=("llama 7b",), items=("arc/2",), model_index=(1,), item_index=(2,))
  assert bool(r.dropped)
  err = caplog.text
  assert "dropped 1 model(s) with no observations: 'llama 7b'" in err and "1 item(s) with no observations: 'arc/2'" in err
  caplog.clear()
  with caplog.at_level(logging.INFO, logger="tinyjax.data"):
    full = tjd.load_responses(VALUES, drop_empty=True)
  assert caplog.text == ""   # nothing dropped, nothing said
  assert not full.dropped and full.shape == VALUES.shape
  with pytest.raises(ResponseError, match="every entry of the 2 x 2 matrix is missing"):
    tjd.load_responses(np.full((2, 2), np.nan), drop_empty=True)


@pytest.mark.parametrize("threshold", [0.5, 0.25, 1.0])
def test_binarize(threshold):
  r = tjd.binarize(Responses(VALUES, MODELS, ITEMS), threshold)
  expected = np.where(np.isnan(VALUES), np.nan, (VALUES >= threshold).astype(float))
  np.testing.assert_array_equal(r.values, expected)
  assert r.model_ids == MODELS and r.item_ids == ITEMS
  tjd.load_responses(r, binary=True)  # passes the binary check
  np.testing.assert_array_equal(tjd.binarize(VALUES, threshold).values, expected)


@pytest.mark.parametrize("threshold", [0.0, 1.5, float("nan"), "0.5"])
def test_binarize_rejects_bad_threshold(threshold):
  with pytest.raises(ConfigError, match="threshold must be a number in"):
    tjd.binarize(VALUES, threshold)


# ----------------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples
# ----------------------------------------------------------------------------------------------------

STAMP1 = "2024-06-01T10-00-00.123456"
STAMP2 = "2024-06-02T11-30-00.654321"


def _sample(doc_id, filt="none", **metrics):
  """One line of a samples file, laid out as lm-eval's EvaluationTracker.save_results_samples writes it."""
  prompt = f"Question {doc_id}?\nAnswer:"
  return {
      "doc_id": doc_id,
      "doc": {"question": f"Question {doc_id}?", "choices": ["a", "b"], "answer": 0},
      "target": "0",
      "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": " a"}, "gen_args_1": {"arg_0": prompt, "arg_1": " b"}},
      "resps": [[["-1.5", "False"]], [["-2.5", "False"]]],
      "filtered_resps": [["-1.5", "False"], ["-2.5", "False"]],
      "filter": filt,
      "metrics": list(metrics),
      "doc_hash": "d" * 64,
      "prompt_hash": "p" * 64,
      "target_hash": "t" * 64,
      **metrics,
  }


def _write_jsonl(path: pathlib.Path, records):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


# Hand-written per-document metrics: model -> task -> {doc_id: values}
ARC = {  # arc_easy: (acc, acc_norm)
    "org/model-a": {0: (1, 1), 1: (0, 1), 2: (1, 0)},
    "model-b": {0: (0, 0), 1: (1, 1)},  # doc 2 missing
    "org/model-c": {2: (0, 0), 0: (1, 0), 1: (1, 1)},  # out of order on disk
}
GSM = {  # gsm8k: exact_match for (strict-match, flexible-extract)
    "org/model-a": {0: (0, 1), 1: (1, 1)},
    "model-b": {0: (0, 0), 1: (0, 1)},
}


@pytest.fixture()
def lm_eval_out(tmp_path) -> pathlib.Path:
  out = tmp_path / "out"
  # model a: a results file with model_name; two tasks, gsm8k with two filters.
  a = out / "org__model-a"
  a.mkdir(parents=True)
  (a / f"results_{STAMP1}.json").write_text(json.dumps({
      "results": {"arc_easy": {"acc,none": 2 / 3}}, "config": {"model": "hf", "model_args": "pretrained=org/model-a"},
      "model_name": "org/model-a", "model_name_sanitized": "org__model-a",
  }))
  _write_jsonl(a / f"samples_arc_easy_{STAMP1}.jsonl",
               [_sample(d, acc=float(x), acc_norm=float(y)) for d, (x, y) in ARC["org/model-a"].items()])
  gsm_a = []
  for d, (s, f) in GSM["org/model-a"].items():
    gsm_a += [_sample(d, "strict-match", exact_match=float(s)), _sample(d, "flexible-extract", exact_match=float(f))]
  _write_jsonl(a / f"samples_gsm8k_{STAMP1}.jsonl", gsm_a)
  # model b: no results file (folder name is the id); bool metrics as some tasks log them.
  b = out / "model-b"
  _write_jsonl(b / f"samples_arc_easy_{STAMP2}.jsonl",
               [_sample(d, acc=bool(x), acc_norm=bool(y)) for d, (x, y) in ARC["model-b"].items()])
  gsm_b = []
  for d, (s, f) in GSM["model-b"].items():
    gsm_b += [_sample(d, "strict-match", exact_match=float(s)), _sample(d, "flexible-extract", exact_match=float(f))]
  _write_jsonl(b / f"samples_gsm8k_{STAMP2}.jsonl", gsm_b)
  # model c: results file without model_name, only config.model_args; arc_easy only.
  c = out / "org__model-c"
  c.mkdir(parents=True)
  (c / f"results_{STAMP1}.json").write_text(json.dumps({
      "config": {"model": "hf", "model_args": "pretrained=org/model-c,dtype=float16"}, "model_name": "",
  }))
  _write_jsonl(c / f"samples_arc_easy_{STAMP1}.jsonl",
               [_sample(d, acc=float(x), acc_norm=float(y)) for d, (x, y) in ARC["org/model-c"].items()])
  return out


def _expected(models, metric_index, gsm_filter_index=None):
  cols = [("arc_easy", d) for d in range(3)]
  if gsm_filter_index is not None:
    cols += [("gsm8k", d) for d in range(2)]
  y = np.full((len(models), len(cols)), np.nan)
  for i, m in enumerate(models):
    for j, (t, d) in enumerate(cols):
      table = ARC if t == "arc_easy" else GSM
      if d in table.get(m, {}):
        y[i, j] = table[m][d][metric_index if t == "arc_easy" else gsm_filter_index]
  return y, [f"{t}/{d}" for t, d in cols]


@pytest.mark.parametrize("metric_index,metric", [(0, "acc"), (1, "acc_norm")])
def test_lm_eval_single_task(lm_eval_out, metric_index, metric):
  r = tjd.from_lm_eval_samples(lm_eval_out, task="arc_easy", metric=metric)
  models = ["model-b", "org/model-a", "org/model-c"]  # files found in sorted path order
  y, items = _expected(models, metric_index)
  assert r.model_ids == models and r.item_ids == items
  np.testing.assert_array_equal(r.values, y)


@pytest.mark.parametrize("filt,gsm_index", [(None, 0), ("strict-match", 0), ("flexible-extract", 1)])
def test_lm_eval_two_tasks_filters_and_metric_dict(lm_eval_out, filt, gsm_index, caplog):
  kwargs = {} if filt is None else {"filter": {"arc_easy": "none", "gsm8k": filt}}
  with caplog.at_level(logging.INFO, logger="tinyjax.data"):
    r = tjd.from_lm_eval_samples(lm_eval_out, metric={"arc_easy": "acc", "gsm8k": "exact_match"}, **kwargs)
  models = ["model-b", "org/model-a", "org/model-c"]
  y, items = _expected(models, 0, gsm_index)
  assert r.item_ids == items and r.model_ids == models
  np.testing.assert_array_equal(r.values, y)
  assert np.isnan(r.values[2, 3:]).all()  # model c never ran gsm8k
  err = caplog.text
  assert ("using 'strict-match'" in err) == (filt is None)
  assert "3 model(s) x 5 item(s) from 2 task(s)" in err


def test_lm_eval_files_list_and_glob(lm_eval_out):
  files = sorted(lm_eval_out.rglob("samples_arc_easy_*.jsonl"))
  by_files = tjd.from_lm_eval_samples([str(f) for f in files])
  by_glob = tjd.from_lm_eval_samples([lm_eval_out], task="arc_*")
  np.testing.assert_array_equal(by_files.values, by_glob.values)
  assert by_files.model_ids == by_glob.model_ids and by_files.item_ids == by_glob.item_ids


def test_lm_eval_duplicate_runs(lm_eval_out):
  late = lm_eval_out / "org__model-a" / f"samples_arc_easy_{STAMP2}.jsonl"
  _write_jsonl(late, [_sample(d, acc=0.0, acc_norm=0.0) for d in range(4)])
  with pytest.raises(ResponseError, match=r"model 'org/model-a' has 2 runs of task 'arc_easy'.*on_duplicate='last'"):
    tjd.from_lm_eval_samples(lm_eval_out, task="arc_easy")
  r = tjd.from_lm_eval_samples(lm_eval_out, task="arc_easy", on_duplicate="last")
  assert r.item_ids == [f"arc_easy/{d}" for d in range(4)]
  np.testing.assert_array_equal(r.values[r.model_ids.index("org/model-a")], [0, 0, 0, 0])
  assert np.isnan(r.values[r.model_ids.index("model-b"), 2:]).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "hellaswag"}, r"task 'hellaswag' not found; tasks in the samples files: \['arc_easy', 'gsm8k'\]"),
        ({"metric": "acc"}, r"metric 'acc' not logged for task 'gsm8k'; available: \['exact_match'\]"),
        ({"metric": {"arc_easy": "acc"}}, r"metric dict has no entry for task\(s\) \['gsm8k'\]"),
        ({"task": "gsm8k", "metric": "exact_match", "filter": "nope"}, r"filter 'nope' not found for task 'gsm8k'"),
        ({"on_duplicate": "first"}, r"on_duplicate must be"),
    ],
)
def test_lm_eval_errors(lm_eval_out, kwargs, match):
  with pytest.raises(ValueError, match=match):
    tjd.from_lm_eval_samples(lm_eval_out, **kwargs)


def test_lm_eval_bad_files(tmp_path):
  folder = tmp_path / "m"
  _write_jsonl(folder / f"samples_squad_{STAMP1}.jsonl", [_sample(0, f1=["ref", "pred"])])
  with pytest.raises(ResponseError, match=r"metric 'f1' of task 'squad' is list"):
    tjd.from_lm_eval_samples(folder, metric="f1")
  (folder / f"samples_squad_{STAMP1}.jsonl").write_text(json.dumps(_sample(0, acc=1.0)) + "\n{not json\n")
  with pytest.raises(ResponseError, match=r"samples_squad_.*\.jsonl:2: not valid JSON"):
    tjd.from_lm_eval_samples(folder)
  _write_jsonl(folder / f"samples_squad_{STAMP1}.jsonl", [_sample(0, acc=1.0), _sample(0, acc=0.0)])
  with pytest.raises(ResponseError, match=r"doc_id 0 appears twice"):
    tjd.from_lm_eval_samples(folder)
  _write_jsonl(folder / f"samples_squad_{STAMP1}.jsonl", [_sample(0, acc=1.0), _sample(1, acc=2.0)])
  with pytest.raises(ResponseError, match=r"outside \[0, 1\]; first 2.0 at row 0 \(model 'm'\), column 1 \(item 'squad/1'\)"):
    tjd.from_lm_eval_samples(folder)
  (tmp_path / "empty").mkdir()
  with pytest.raises(ResponseError, match="no samples_<task>_<timestamp>.jsonl files"):
    tjd.from_lm_eval_samples(tmp_path / "empty")
  with pytest.raises(MissingFileError):
    tjd.from_lm_eval_samples(tmp_path / "absent")


# ----------------------------------------------------------------------------------------------------
# Real data (../shared/data/irt): the reader agrees with plain numpy/pandas
# ----------------------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    "rel", ["openllm_v1/arc.responses.parquet", "alpaca_eval2/win_prob.parquet", "openllm_v2/musr.npy"]
)
def test_real_matrices_read_like_numpy_and_pandas(shared_data, rel):
  path = shared_data / "irt" / rel
  if not path.exists():
    pytest.skip(f"{path} is missing")
  r = tjd.load_responses(path)
  if path.suffix == ".npy":
    expected = np.load(path).astype(np.float64)
    assert r.model_ids[0] == "model_0"
  else:
    frame = pd.read_parquet(path)
    expected = frame.to_numpy(dtype=np.float64)
    assert r.model_ids == [str(m) for m in frame.index] and r.item_ids == [str(c) for c in frame.columns]
  np.testing.assert_array_equal(r.values, expected)
  assert not r.dropped
