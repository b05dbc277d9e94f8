"""Issue 26, part 1: never a wrong number silently. Each test is one reproduction of the issue's "Why" that gave a
wrong number with exit 0 (or a traceback) before the fix: a header is ids, always; lm-eval logs are read strictly
(task, doc_hash, document identity, filters); gzip'd logs are read; ragged csv rows are errors; ids lose a BOM
and surrounding spaces."""

from __future__ import annotations

import gzip
import json
import pathlib
import shutil

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax import data as tjd
from tinyjax.cli import main
from tinyjax.errors import InputError, ItemError, ResponseError
from tinyjax.synthetic import simulate_2pl

STAMP = "2024-11-26T10-50-23.349203"


# ----------------------------------------------------------------------------------------------------
# A header is ids, always: `tinyjax ability` on a header item_0..item_{n-1}
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def permuted_fit(tmp_path_factory):
  """A 2PL model fitted (by the CLI) on a csv whose item columns item_0..item_11 are in a permuted order."""
  tmp = tmp_path_factory.mktemp("fit")
  y, _, _, _ = simulate_2pl(48, 12, seed=3)
  items = [f"item_{j}" for j in range(12)]
  frame = pd.DataFrame(y, index=[f"m{k}" for k in range(48)], columns=items)
  perm = list(np.random.default_rng(0).permutation(12))
  frame.iloc[:40, perm].to_csv(tmp / "train.csv")
  assert main(["fit", str(tmp / "train.csv"), "--out", str(tmp / "m.tjx"), "--quiet"]) == 0
  return tmp, frame.iloc[40:], perm


def _ability(tmp, answers: pathlib.Path, *extra) -> np.ndarray:
  out = tmp / f"{answers.stem}.ability.csv"
  assert main(["ability", str(tmp / "m.tjx"), str(answers), "--out", str(out), *extra]) == 0
  return pd.read_csv(out)["theta_1"].to_numpy()


def test_ability_matches_a_header_item_0_by_id(permuted_fit):
  """Issue 26: a header item_0..item_{n-1} in natural order was read by position (theta 0.193 vs -0.117)."""
  tmp, new, perm = permuted_fit
  model = tj.load(tmp / "m.tjx")
  assert model.item_ids == [f"item_{j}" for j in perm]          # the model's order is the permuted one
  new.to_csv(tmp / "natural.csv")                                # header item_0, item_1, ... in natural order
  new.iloc[:, perm].to_csv(tmp / "permuted.csv")
  natural, permuted = _ability(tmp, tmp / "natural.csv"), _ability(tmp, tmp / "permuted.csv")
  cols = list(new.columns)
  ref = tj.estimate_ability(model, new.to_numpy(), items=np.array([model.item_ids.index(c) for c in cols]))
  np.testing.assert_allclose(natural, ref.theta[:, 0], rtol=1e-5)
  np.testing.assert_allclose(permuted, ref.theta[:, 0], rtol=1e-5)
  assert tjd.load_responses(tmp / "natural.csv").item_ids_given


def test_ability_reads_by_position_only_without_a_header(permuted_fit):
  """A csv whose first line is numbers has no ids: its columns are the model's items in the model's order, and
  --drop-empty keeps each column at its place in the file."""
  tmp, new, perm = permuted_fit
  model = tj.load(tmp / "m.tjx")
  in_model_order = new[model.item_ids].to_numpy().copy()
  in_model_order[:, 5] = np.nan                                  # an item nobody answered, dropped on request
  np.savetxt(tmp / "bare.csv", in_model_order, delimiter=",", fmt="%g")
  r = tjd.load_responses(tmp / "bare.csv", drop_empty=True)
  assert not r.item_ids_given and r.dropped.item_index == (5,)
  got = _ability(tmp, tmp / "bare.csv", "--drop-empty")
  keep = [j for j in range(12) if j != 5]
  ref = tj.estimate_ability(model, in_model_order[:, keep], items=np.array(keep))
  np.testing.assert_allclose(got, ref.theta[:, 0], rtol=1e-5)
  # The same numbers under --header are ids ("1", "0", ...), which the model does not know: an error, not theta.
  assert main(["ability", str(tmp / "m.tjx"), str(tmp / "bare.csv"), "--header", "--drop-empty"]) == 1


def test_tiny_answers_with_header_item_0_are_matched_by_id(tmp_path):
  """The tiny benchmarks' one matching rule (tinyjax.tiny.answers) takes a csv header as ids, never positions."""
  from tinyjax.tiny.answers import match_answers

  frame = pd.DataFrame([[1.0, 0.0, 1.0]], index=["m"], columns=["item_0", "item_1", "item_2"])
  frame.to_csv(tmp_path / "a.csv")
  m = match_answers(tjd.load_responses(tmp_path / "a.csv"), ["item_2", "item_0"])
  assert m.by_id and m.values.tolist() == [[1.0, 1.0]]
  np.savetxt(tmp_path / "b.csv", [[1.0, 0.0]], delimiter=",")
  m = match_answers(tjd.load_responses(tmp_path / "b.csv"), ["item_2", "item_0"])
  assert not m.by_id and m.values.tolist() == [[1.0, 0.0]]


# ----------------------------------------------------------------------------------------------------
# csv: ragged rows, BOM and spaces in ids, duplicated and blank ids, gzip where text was expected
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row,n", [("m2,1,0", 3), ("m2,1,0,1,0", 5)])
def test_ragged_csv_row_names_its_line(tmp_path, row, n):
  """Issue 26: a short row (58 of 61 fields) became NaN silently."""
  (tmp_path / "r.csv").write_text(f"model,q1,q2,q3\nm1,0,1,1\n{row}\nm3,1,1,0\n")
  with pytest.raises(ResponseError, match=rf"r\.csv: line 3 has {n} field\(s\) but line 1 has 4"):
    tjd.load_responses(tmp_path / "r.csv")
  (tmp_path / "r.tsv").write_text("0\t1\t1\n1\t1\n")
  with pytest.raises(ResponseError, match=r"r\.tsv: line 2 has 2 field\(s\) but line 1 has 3"):
    tjd.load_responses(tmp_path / "r.tsv")


def test_csv_ids_lose_bom_and_spaces(tmp_path):
  """Issue 26: a BOM or spaces around a header id were stored inside the id."""
  (tmp_path / "r.csv").write_text("\ufeffmodel , q1 ,\tq2\n m1 ,0,1\nm2,1,\n", encoding="utf-8")
  r = tjd.load_responses(tmp_path / "r.csv")
  assert r.item_ids == ["q1", "q2"] and r.model_ids == ["m1", "m2"]
  np.testing.assert_array_equal(r.values, [[0, 1], [1, np.nan]])
  (tmp_path / "n.csv").write_text("\ufeffq1, q2\n0,1\n1,0\n", encoding="utf-8")   # BOM on the first item id
  assert tjd.load_responses(tmp_path / "n.csv").item_ids == ["q1", "q2"]
  (tmp_path / "d.csv").write_text("\ufeff0,1\n1,0\n", encoding="utf-8")       # BOM before a line of numbers: data
  assert not tjd.load_responses(tmp_path / "d.csv").item_ids_given


def test_parquet_ids_lose_spaces_frames_keep_theirs(tmp_path):
  """Ids read from a file (csv, tsv, parquet, npz) are stripped; a DataFrame in memory keeps its ids exactly."""
  frame = pd.DataFrame([[0.0, 1.0], [1.0, 0.0]], index=pd.Index([" m1", "m2 "], name="model"), columns=[" q1", "q2 "])
  frame.to_parquet(tmp_path / "r.parquet")
  r = tjd.load_responses(tmp_path / "r.parquet")
  assert r.item_ids == ["q1", "q2"] and r.model_ids == ["m1", "m2"]
  assert tjd.load_responses(frame).item_ids == [" q1", "q2 "]


def test_duplicated_or_blank_header_ids_are_errors(tmp_path):
  (tmp_path / "dup.csv").write_text("model,q1, q1\nm1,0,1\n")       # the same id once stripped
  with pytest.raises(ResponseError, match=r"duplicated item_ids: 1 id\(s\) occur more than once: 'q1'"):
    tjd.load_responses(tmp_path / "dup.csv")
  (tmp_path / "blank.csv").write_text("model,q1, ,q3\nm1,0,1,1\n")
  with pytest.raises(ResponseError, match=r"the header \(line 1\) has no item id in column 2"):
    tjd.load_responses(tmp_path / "blank.csv")


def test_gzip_csv_is_an_error_not_a_traceback(tmp_path):
  with gzip.open(tmp_path / "r.csv", "wt") as fh:
    fh.write("model,q1\nm1,1\n")
  with pytest.raises(ResponseError, match=r"r\.csv: a gzip-compressed file"):
    tjd.load_responses(tmp_path / "r.csv")
  (tmp_path / "bin.csv").write_bytes(b"model,q1\n\xff\xfe\x00m1,1\n")
  with pytest.raises(ResponseError, match=r"bin\.csv: not a readable text csv/tsv file \(not UTF-8"):
    tjd.load_responses(tmp_path / "bin.csv")


# ----------------------------------------------------------------------------------------------------
# lm-eval logs: strict reading, on the real pythia-14m metabench logs
# ----------------------------------------------------------------------------------------------------


def _real(shared_data, task: str) -> pathlib.Path:
  return next((shared_data / "lm_eval" / "pythia-14m").glob(f"samples_metabench_{task}_secondary_*.jsonl"))


def _lines(path: pathlib.Path) -> list[dict]:
  return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(folder: pathlib.Path, task: str, records) -> pathlib.Path:
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / f"samples_{task}_{STAMP}.jsonl"
  path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
  return path


# benchmark -> (metric, the metric's values as logged: the answers the reader gave before issue 26)
@pytest.mark.realdata
@pytest.mark.parametrize("task,metric", [("arc", "acc_norm"), ("gsm8k", "exact_match"), ("hellaswag", "acc_norm"),
                                         ("mmlu", "acc"), ("truthfulqa", "acc"), ("winogrande", "acc")])
def test_real_logs_read_as_before(shared_data, task, metric):
  """The strict reader reads every real log, GSM8K's two filters without a 'filter' key included, into exactly the
  values the file logs (the first filter's half for GSM8K; the flexible-extract half on request)."""
  path = _real(shared_data, task)
  raw = _lines(path)
  half = len(raw) // 2 if task == "gsm8k" else len(raw)
  r = tjd.from_lm_eval_samples(path, metric=metric)
  np.testing.assert_array_equal(r.values[0], [float(x[metric]) for x in raw[:half]])
  assert r.item_ids == [f"metabench_{task}_secondary/{x['doc_id']}" for x in raw[:half]]
  if task == "gsm8k":
    flexible = tjd.from_lm_eval_samples(path, metric=metric, filter="flexible-extract")
    np.testing.assert_array_equal(flexible.values[0], [float(x[metric]) for x in raw[half:]])
  # The logged means that tests/test_lm_eval_logs.py counts by hand: arc 3/100, gsm8k 0/249, mmlu 26/102, ...
  correct = {"arc": 3, "gsm8k": 0, "hellaswag": 3, "mmlu": 26, "truthfulqa": 15, "winogrande": 55}[task]
  assert np.nansum(r.values) == correct


@pytest.mark.realdata
def test_arc_log_with_a_second_copy_appended_is_an_error(shared_data, tmp_path):
  """Issue 26: an arc log with a second copy appended (every answer set to 1) gave 97.56% (the log alone: 0.64%)."""
  raw = _lines(_real(shared_data, "arc"))
  copy = [dict(x, acc=1.0, acc_norm=1.0) for x in raw]
  path = _write(tmp_path / "m", "metabench_arc_secondary", raw + copy)
  with pytest.raises(ItemError, match=rf"{path.name}:101: doc_id 0 is logged 2 times \(first at line 1\) with no "
                                      r"'filter' key, but task 'metabench_arc_secondary' has no known filter list "
                                      r"\(no results_.*\.json beside it\): a second run appended"):
    tjd.from_lm_eval_samples(path, metric="acc_norm")
  from tinyjax.suite._logs import read_suite_logs

  with pytest.raises(InputError, match=r":101: doc_id 0 is logged 2 times"):   # `suite estimate` reads it the same way
    read_suite_logs(path.parent)


@pytest.mark.realdata
def test_winogrande_lines_before_arc_lines_are_an_error(shared_data, tmp_path):
  """Issue 26: 100 WinoGrande lines placed before the ARC lines gave 41.92%."""
  wino, arc = _lines(_real(shared_data, "winogrande"))[:100], _lines(_real(shared_data, "arc"))
  path = _write(tmp_path / "m", "metabench_arc_secondary", wino + arc)
  with pytest.raises(ItemError, match=rf"{path.name}:101: the document \(doc_id 0\) does not have the fields of the "
                                      r"file's first document \(line 1\).*another task's line"):
    tjd.from_lm_eval_samples(path, metric="acc")
  # Appended after them with their doc_ids moved past ARC's, they are still another task's lines.
  moved = [dict(x, doc_id=x["doc_id"] + 1000) for x in wino]
  path = _write(tmp_path / "n", "metabench_arc_secondary", arc + moved)
  with pytest.raises(ItemError, match=r":101: the document \(doc_id 1000\) does not have the fields"):
    tjd.from_lm_eval_samples(path, metric="acc")


@pytest.mark.realdata
def test_gsm8k_repeat_with_another_document_or_answers_is_an_error(shared_data, tmp_path):
  raw = _lines(_real(shared_data, "gsm8k"))
  other = [dict(x) for x in raw]
  other[249 + 7] = dict(other[249 + 7], doc=raw[8]["doc"], doc_hash=raw[8]["doc_hash"])   # doc_id 7 is doc 8 now
  path = _write(tmp_path / "a", "metabench_gsm8k_secondary", other)
  with pytest.raises(ItemError, match=rf"{path.name}:257: doc_id 7 is logged again for filter 'flexible-extract' "
                                      r"\(first at line 8\) with another 'doc_hash'"):
    tjd.from_lm_eval_samples(path, metric="exact_match")
  other = [dict(x) for x in raw]
  other[300] = dict(other[300], resps=[["another model's answer"]])
  with pytest.raises(ItemError, match=r":301: doc_id 51 is logged again .* with another 'resps'"):
    tjd.from_lm_eval_samples(_write(tmp_path / "b", "metabench_gsm8k_secondary", other), metric="exact_match")
  # Each doc four times (a second run appended): gsm8k has two filters.
  with pytest.raises(ItemError, match=r":499: doc_id 0 is logged 4 times \(first at line 1\) .* has 2 filter\(s\) "
                                      r"\['strict-match', 'flexible-extract'\] \(lm-eval's gsm8k filter_list\)"):
    tjd.from_lm_eval_samples(_write(tmp_path / "c", "metabench_gsm8k_secondary", raw + raw), metric="exact_match")
  # The second filter's documents in another order than the first's.
  shuffled = raw[:249] + raw[249:][::-1]
  with pytest.raises(ItemError, match=r":250: doc_id 248 is document 1 of filter 'flexible-extract', but document 1 "
                                      r"of filter 'strict-match' is doc_id 0"):
    tjd.from_lm_eval_samples(_write(tmp_path / "d", "metabench_gsm8k_secondary", shuffled), metric="exact_match")


@pytest.mark.realdata
def test_edited_document_and_foreign_task_field_are_errors(shared_data, tmp_path):
  raw = _lines(_real(shared_data, "arc"))
  edited = [dict(x) for x in raw]
  edited[4] = dict(edited[4], doc=dict(edited[4]["doc"], metabench_idx=999999))   # doc_hash no longer matches
  with pytest.raises(ItemError, match=r":5: doc_hash [0-9a-f]{12}\.\.\. is not the hash of the logged document "
                                      r"\(doc_id 4\)"):
    tjd.from_lm_eval_samples(_write(tmp_path / "a", "metabench_arc_secondary", edited), metric="acc")
  tagged = [dict(x, task="metabench_arc_secondary") for x in raw]
  tagged[9]["task"] = "winogrande"
  with pytest.raises(ItemError, match=r":10: the record's task is 'winogrande', not the file's task "
                                      r"'metabench_arc_secondary'"):
    tjd.from_lm_eval_samples(_write(tmp_path / "b", "metabench_arc_secondary", tagged), metric="acc")


def test_repeats_with_a_filter_key_must_be_one_document(tmp_path):
  doc = {"question": "q0"}
  recs = [{"doc_id": 0, "doc": doc, "resps": [["7"]], "filter": f, "exact_match": v}
          for f, v in (("strict-match", 0.0), ("flexible-extract", 1.0))]
  path = _write(tmp_path / "a", "gsm8k", recs)
  assert list(tjd.read_lm_eval_file(tjd.find_lm_eval_files(path)[0])) == ["strict-match", "flexible-extract"]
  recs[1] = dict(recs[1], doc={"question": "q1"})
  with pytest.raises(ItemError, match=r":2: doc_id 0 is logged again under filter 'flexible-extract' \(first at "
                                      r"line 1\) with another 'doc'"):
    tjd.read_lm_eval_file(tjd.find_lm_eval_files(_write(tmp_path / "b", "gsm8k", recs))[0])


# ----------------------------------------------------------------------------------------------------
# gzip'd lm-eval logs
# ----------------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_gzipped_logs_are_read(shared_data, tmp_path):
  src = _real(shared_data, "arc")
  plain = tjd.from_lm_eval_samples(src, metric="acc_norm")
  folder = tmp_path / "pythia-14m"
  folder.mkdir()
  with open(src, "rb") as fin, gzip.open(folder / (src.name + ".gz"), "wb") as fout:
    shutil.copyfileobj(fin, fout)
  for source in (folder, folder / (src.name + ".gz")):     # found in a folder, or named
    r = tjd.from_lm_eval_samples(source, metric="acc_norm")
    np.testing.assert_array_equal(r.values, plain.values)
    assert r.item_ids == plain.item_ids
  # gzip'd content under a .jsonl name: recognised by its magic bytes.
  (folder / (src.name + ".gz")).rename(folder / src.name)
  np.testing.assert_array_equal(tjd.from_lm_eval_samples(folder / src.name, metric="acc_norm").values, plain.values)


def test_damaged_gzip_or_binary_log_is_an_error_not_a_traceback(tmp_path):
  folder = tmp_path / "m"
  folder.mkdir()
  good = gzip.compress(b"".join(json.dumps({"doc_id": d, "doc": {}, "acc": 1.0}).encode() + b"\n"
                                for d in range(200)))
  (folder / f"samples_arc_easy_{STAMP}.jsonl.gz").write_bytes(good[: len(good) // 2])
  with pytest.raises(ItemError, match=r"samples_arc_easy_.*\.jsonl\.gz: a damaged gzip file"):
    tjd.from_lm_eval_samples(folder)
  (folder / f"samples_arc_easy_{STAMP}.jsonl.gz").write_bytes(gzip.compress(b'{"doc_id": 0}\n\xff\xfe\n'))
  with pytest.raises(ItemError, match=r"\.jsonl\.gz:2: not an lm-eval samples file: its gzip'd content is not "
                                      r"UTF-8 text"):
    tjd.from_lm_eval_samples(folder)
  (folder / f"samples_arc_easy_{STAMP}.jsonl.gz").unlink()
  (folder / f"samples_arc_easy_{STAMP}.jsonl").write_bytes(b"\x00\x01\xff\xfe" * 10)
  with pytest.raises(ItemError, match=r"\.jsonl:1: not an lm-eval samples file: it is not UTF-8 text"):
    tjd.from_lm_eval_samples(folder)


def test_api_estimate_ability_matches_ids(permuted_fit):
  """The API: a DataFrame or a Responses with item ids is matched to the model's items by id (it was read by
  position, whatever its columns said)."""
  tmp, new, perm = permuted_fit
  model = tj.load(tmp / "m.tjx")
  ref = tj.estimate_ability(model, new[model.item_ids].to_numpy())
  for answers in (new, new.iloc[:, ::-1], tjd.load_responses(new)):
    np.testing.assert_allclose(tj.estimate_ability(model, answers).theta, ref.theta, rtol=1e-5)
  part = new[["item_3", "item_0"]]                                   # a subset, by id
  ids = np.array([model.item_ids.index("item_3"), model.item_ids.index("item_0")])
  np.testing.assert_allclose(tj.estimate_ability(model, part).theta,
                             tj.estimate_ability(model, part.to_numpy(), items=ids).theta, rtol=1e-5)
  with pytest.raises(ItemError, match=r"Y_new: 1 column\(s\) are not among the model's 12 items: 'item_99'"):
    tj.estimate_ability(model, new.rename(columns={"item_5": "item_99"}))
  bare = tjd.load_responses(new.to_numpy())                           # no ids: by position, as before
  assert not bare.item_ids_given
  np.testing.assert_allclose(tj.estimate_ability(model, bare).theta,
                             tj.estimate_ability(model, new.to_numpy()).theta, rtol=1e-5)
