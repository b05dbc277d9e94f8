"""The standard lm-eval tasks: kept items -> --samples indices -> a log in the standard record layout -> estimates.

No network: the tasks' datasets are small local ``save_to_disk`` copies built from the item files, in the standard
datasets' column layout, shuffled, with distractor rows and whitespace / Unicode variants of the texts. The logs
carry pythia-14m's real answers (its metabench-task logs), moved onto the standard documents, so both paths must
give the same answers and the same estimates.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax.cli import main
from tinyjax.data.lm_eval import find_lm_eval_files, read_lm_eval_file
from tinyjax.errors import ConfigError, ItemError, ResponseError
from tinyjax.suite import load_openllm_v1, standard
from tinyjax.suite._logs import read_suite_logs

pytestmark = pytest.mark.realdata
STAMP = "2026-12-04T10-00-00.000000"
BENCHES = ("arc", "gsm8k", "mmlu", "truthfulqa", "winogrande", "hellaswag")


def _h(x) -> str:
  """lm-eval's hash_string of a logged value (doc_hash: the document as json.dumps(indent=2) writes it)."""
  text = x if isinstance(x, str) else json.dumps(x, indent=2, ensure_ascii=False)
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _list(v):
  return [x.item() if hasattr(x, "item") else x for x in list(v)]


def _standard_row(b, row, k=0):
  """An item file's row in the standard dataset's layout; k > 0 perturbs whitespace and Unicode (NFKC-equal)."""
  def t(s):
    s = str(s)
    return s if k == 0 else ("  " + s.replace(" ", "\u00a0", 1).replace(" ", "  ", 1) + "\n")
  if b == "arc":
    ch = row["choices"]
    return {"id": str(row["id"]), "question": t(row["question"]),
            "choices": {"text": _list(ch["text"]), "label": _list(ch["label"])}, "answerKey": row["answerKey"]}
  if b == "gsm8k":
    return {"question": t(row["question"]), "answer": row["answer"]}
  if b == "mmlu":
    return {"question": t(row["question"]), "subject": row["subject"], "choices": _list(row["choices"]),
            "answer": int(row["answer"])}
  if b == "truthfulqa":
    mc1, mc2 = row["mc1_targets"], row["mc2_targets"]
    return {"question": t(row["question"]),
            "mc1_targets": {"choices": _list(mc1["choices"]), "labels": [int(x) for x in mc1["labels"]]},
            "mc2_targets": {"choices": _list(mc2["choices"]), "labels": [int(x) for x in mc2["labels"]]}}
  if b == "winogrande":
    return {"sentence": t(row["sentence"]), "option1": row["option1"], "option2": row["option2"],
            "answer": str(row["answer"])}
  return {"ind": int(row["ind"]), "activity_label": row["activity_label"], "ctx_a": row["ctx_a"],
          "ctx_b": row["ctx_b"], "ctx": row["ctx"], "endings": _list(row["endings"]), "source_id": row["source_id"],
          "split": row["split"], "split_type": row["split_type"], "label": str(row["label"])}


def _distractor(b, proto, n, rng):
  """A row that is no kept item, shaped like ``proto``; for MMLU the same question with other choices."""
  row = json.loads(json.dumps(proto))
  if b == "arc":
    row["id"], row["question"] = f"Distractor_{n}", f"Which distractor is number {n}?"
  elif b == "hellaswag":
    row["ind"], row["ctx"] = 900000 + n, f"distractor context {n}"
  elif b == "mmlu" and n % 2 == 0:
    row["choices"] = list(reversed(row["choices"]))           # same question, other choices: the detail decides
  elif b == "winogrande":
    row["sentence"] = f"Distractor sentence {n} about _ and more."
  else:
    row["question"] = f"Distractor question {n}: what is {rng.integers(1000)} plus {n}?"
  return row


@pytest.fixture(scope="module")
def world(shared_data, tmp_path_factory):
  """Item files, local task datasets (shuffled, distractors), the true row of each item, pythia's answers."""
  import datasets
  root = tmp_path_factory.mktemp("standard")
  items_dir = root / "items" / "final"
  items_dir.mkdir(parents=True)
  frames = {}
  for b in BENCHES:
    frames[b] = pd.read_parquet(shared_data / "items" / "openllm_v1" / f"{b}.parquet")
    frames[b].to_parquet(items_dir / f"{b}-secondary.parquet")
  table = standard.identity_table(frames)
  rng = np.random.default_rng(0)
  by_task: dict[str, list] = {}
  for b in BENCHES:
    for k, row in enumerate(frames[b].to_dict("records")):
      item = next(i for i, ident in table[b].items() if ident == standard.doc_identity(b, row))
      by_task.setdefault(table[b][item].task, []).append((item, _standard_row(b, row, k % 3)))
  truth, data_dir, rows_by_task = {}, root / "datasets", {}
  for task, rows in by_task.items():
    b = standard.task_spec(task).benchmark
    extra = [(None, _distractor(b, rows[j % len(rows)][1], j, rng)) for j in range(max(3, len(rows) // 3))]
    allrows = rows + extra
    order = rng.permutation(len(allrows))
    allrows = [allrows[i] for i in order]
    truth[task] = {item: r for r, (item, _) in enumerate(allrows) if item is not None}
    rows_by_task[task] = [row for _, row in allrows]
    cols = {c: [row[c] for row in rows_by_task[task]] for c in rows_by_task[task][0]}
    datasets.Dataset.from_dict(cols).save_to_disk(str(data_dir / task))
  # pythia-14m's answers on the metabench tasks: per item, per filter, the whole record.
  logs = shared_data / "lm_eval" / "pythia-14m"
  answers = {}
  for f in find_lm_eval_files(logs):
    b = f.task.split("_")[1]
    groups = read_lm_eval_file(f)
    for filt, samples in groups.items():
      for s in samples:
        key = "mb_sub_idx" if b == "mmlu" else "metabench_idx"
        item = f"{b}.{s.doc[key]}"
        answers.setdefault(b, {}).setdefault(item, {})[filt] = s
  return {"root": root, "items": items_dir, "frames": frames, "table": table, "datasets": data_dir, "truth": truth,
          "rows": rows_by_task, "answers": answers, "logs": logs}


def _write_log(folder, world, samples, *, full=False):
  """A log in lm-eval 0.4.13's record layout: the standard rows as docs, pythia's metrics per kept item.

  ``full``: every row of each task (distractors answered 1.0), as a full-benchmark run would log them.
  """
  folder.mkdir(parents=True, exist_ok=True)
  for task, idx in samples.items():
    b = standard.task_spec(task).benchmark
    inverse = {r: item for item, r in world["truth"][task].items()}
    rows = range(len(world["rows"][task])) if full else idx
    filters = ["strict-match", "flexible-extract"] if b == "gsm8k" else ["none"]
    lines = []
    for filt in filters:
      for r in rows:
        doc = world["rows"][task][r]
        item = inverse.get(r)
        if item is not None:
          s = world["answers"][b][item][filt]
          metrics = {k: v for k, v in s.metrics.items()}
          resps, filtered = s.record["resps"], s.record["filtered_resps"]
        else:
          metrics = {"exact_match": 1.0} if b == "gsm8k" else ({"acc": 1.0, "acc_norm": 1.0}
                                                             if b in ("arc", "hellaswag") else {"acc": 1.0})
          resps, filtered = [], []
        target = "0"
        rec = {"doc_id": r, "doc": doc, "target": target,
               "arguments": {"gen_args_0": {"arg_0": "prompt", "arg_1": " answer"}}, "resps": resps,
               "filtered_resps": filtered, "filter": filt, "metrics": list(metrics), "doc_hash": _h(doc),
               "prompt_hash": _h("prompt"), "target_hash": _h(target)}
        rec.update(metrics)
        lines.append(json.dumps(rec))
    (folder / f"samples_{task}_{STAMP}.jsonl").write_text("\n".join(lines) + "\n")
  (folder / f"results_{STAMP}.json").write_text(json.dumps({"model_name": "pythia-14m"}))
  return folder


# ------------------------------------------------------------------------------------------------------------


def test_normalize_text():
  assert standard.normalize_text("  Ａ\u00a0question\n\twith   space ") == "A question with space"
  assert standard.normalize_text("Case") != standard.normalize_text("case")      # case is kept
  assert standard.normalize_text("ﬁne") == "fine"                                   # NFKC ligature


def test_task_specs_follow_lm_eval_0_4_13():
  assert standard.task_spec("arc_challenge")[2:6] == ("allenai/ai2_arc", "ARC-Challenge", "test", 25)
  assert standard.task_spec("gsm8k")[2:6] == ("openai/gsm8k", "main", "test", 5)
  assert standard.task_spec("mmlu_anatomy")[2:6] == ("cais/mmlu", "anatomy", "test", 5)
  assert standard.task_spec("truthfulqa_mc1")[2:6] == ("truthfulqa/truthful_qa", "multiple_choice", "validation", 0)
  assert standard.task_spec("winogrande")[2:6] == ("allenai/winogrande", "winogrande_xl", "validation", 5)
  assert standard.task_spec("hellaswag")[2:6] == ("Rowan/hellaswag", None, "validation", 10)
  assert len(standard.MMLU_SUBJECTS) == 57
  with pytest.raises(ConfigError, match="mmlu_nope"):
    standard.task_spec("mmlu_nope")
  from tinyjax.suite._logs import benchmark_of_task
  assert benchmark_of_task("mmlu_anatomy") == "mmlu" and benchmark_of_task("mmlu_pro") is None


def test_lm_eval_commands_one_per_shot_count():
  cmds = standard.lm_eval_commands({"winogrande": [1], "truthfulqa_mc1": [2], "arc_challenge": [0],
                                    "mmlu_anatomy": [3], "gsm8k": [4]}, "s.json")
  assert cmds == [
      "lm_eval --model hf --model_args 'pretrained=<MODEL>' --tasks arc_challenge --num_fewshot 25 "
      "--samples s.json --log_samples --output_path lm_eval_out",
      "lm_eval --model hf --model_args 'pretrained=<MODEL>' --tasks gsm8k,mmlu_anatomy,truthfulqa_mc1,winogrande "
      "--num_fewshot 5 --samples s.json --log_samples --output_path lm_eval_out"]
  assert standard.lm_eval_commands({"truthfulqa_mc1": [2]}, "s.json")[0].endswith(
      "--tasks truthfulqa_mc1 --num_fewshot 0 --samples s.json --log_samples --output_path lm_eval_out")


def test_samples_find_each_kept_item_by_identity(world):
  every = {b: list(t) for b, t in world["table"].items()}
  tasks = list(standard.tasks_for(every, world["items"]))
  assert tasks[0] == "arc_challenge" and tasks[-1] == "hellaswag" and len(tasks) == 5 + 41
  ds = standard.load_task_datasets(tasks, world["datasets"])
  assert standard.match_task_rows(every, ds, world["items"]) == world["truth"]
  samples = standard.samples_for(every, ds, world["items"])
  assert samples == {t: sorted(world["truth"][t].values()) for t in tasks}
  # A subset of the kept items: only the tasks holding them, sorted indices.
  few = {"arc": every["arc"][:3], "mmlu": every["mmlu"][:2]}
  got = standard.samples_for(few, ds, world["frames"])
  assert got["arc_challenge"] == sorted(world["truth"]["arc_challenge"][i] for i in few["arc"])
  assert sum(len(v) for v in got.values()) == 5 and "gsm8k" not in got


def test_samples_errors_name_task_and_items(world):
  every = {b: list(t) for b, t in world["table"].items() if b != "hellaswag"}
  ds = standard.load_task_datasets(standard.tasks_for(every, world["items"]), world["datasets"])
  item = every["gsm8k"][0]
  gone = dict(ds)
  gone["gsm8k"] = ds["gsm8k"].filter(lambda row, i: i != world["truth"]["gsm8k"][item], with_indices=True)
  with pytest.raises(ItemError, match=rf"task 'gsm8k': 1 kept item\(s\) match no row .*{item}"):
    standard.samples_for(every, gone, world["items"])
  twice = dict(ds)
  row = world["truth"]["winogrande"][every["winogrande"][0]]
  twice["winogrande"] = __import__("datasets").concatenate_datasets([ds["winogrande"], ds["winogrande"].select([row])])
  with pytest.raises(ItemError, match=r"task 'winogrande': kept item\(s\) match several rows"):
    standard.samples_for(every, twice, world["items"])
  with pytest.raises(ConfigError, match=r"no dataset for task\(s\) \['arc_challenge'\]"):
    standard.samples_for(every, {t: d for t, d in ds.items() if t != "arc_challenge"}, world["items"])
  with pytest.raises(ItemError, match=r"not in its item file: \['arc.999999'\]"):
    standard.samples_for({"arc": ["arc.999999"]}, ds, world["items"])
  with pytest.raises(tj.errors.MissingFileError, match="no dataset folder 'gsm8k'"):
    standard.load_task_datasets(["gsm8k"], world["root"])


@pytest.mark.parametrize("full", [False, True])
def test_standard_logs_give_the_metabench_answers(world, tmp_path, full):
  every = {b: list(t) for b, t in world["table"].items()}
  ds = standard.load_task_datasets(standard.tasks_for(every, world["items"]), world["datasets"])
  samples = standard.samples_for(every, ds, world["items"])
  folder = _write_log(tmp_path / "pythia-14m", world, samples, full=full)
  got = read_suite_logs(folder, items=world["items"])
  want = read_suite_logs(world["logs"])
  assert list(got) == list(want)
  for b in want:
    assert got[b].answers == want[b].answers, b          # the same items, the same values
    assert (got[b].metric, got[b].filter) == (want[b].metric, want[b].filter)
    if not full:
      assert got[b].logged_mean == pytest.approx(want[b].logged_mean, abs=1e-12)
  assert got["mmlu"].task == "mmlu_<subject> (41 tasks)" and got["arc"].task == "arc_challenge"


def test_standard_log_errors(world, tmp_path):
  every = {b: list(t) for b, t in world["table"].items()}
  ds = standard.load_task_datasets(["arc_challenge"], world["datasets"])
  samples = standard.samples_for({"arc": every["arc"]}, ds, world["items"])
  folder = _write_log(tmp_path / "a", world, samples)
  # Documents of another dataset: none is a kept item.
  path = next(folder.glob("samples_arc_challenge_*.jsonl"))
  recs = [json.loads(x) for x in path.read_text().splitlines()]
  for r in recs:
    r["doc"]["id"] = "Other_" + r["doc"]["id"]
    r["doc_hash"] = _h(r["doc"])
  path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
  with pytest.raises(ItemError, match=r"no document of task\(s\) \['arc_challenge'\].*is an item of the suite's arc"):
    read_suite_logs(folder, items=world["items"])
  for r in recs:
    del r["doc"]["id"]
    r["doc_hash"] = _h(r["doc"])
  path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
  with pytest.raises(ResponseError, match=r"jsonl:1: the document \(doc_id \d+\) cannot be matched: .*\['id'\]"):
    read_suite_logs(folder, items=world["items"])
  with pytest.raises(tj.errors.MissingFileError, match="item file"):
    read_suite_logs(folder, items=tmp_path / "a")
  # A metabench log and a standard log of one benchmark: two sources.
  both = _write_log(tmp_path / "b", world, samples)
  src = next(world["logs"].glob("samples_metabench_arc_secondary_*.jsonl"))
  (both / src.name).write_text(src.read_text())
  with pytest.raises(ResponseError, match="two samples files of benchmark 'arc'"):
    read_suite_logs(both, items=world["items"])


@pytest.fixture(scope="module")
def small_suite(shared_data):
  R, F = load_openllm_v1(shared_data)
  keep = sorted(set.intersection(*[set(r.index) for r in R.values()]))[:120]
  R = {b: r.loc[keep] for b, r in R.items()}
  return tj.Suite.fit(R, {b: F[b].loc[keep] for b in R}, n_anchors=12, seed=0, gammas=(4.0,), unit="percent",
                      dim=1, strategies=("random",), progress=False)   # small and quick: the test compares paths


def test_estimates_equal_the_metabench_path(world, small_suite, tmp_path, monkeypatch, capsys):
  """suite samples (CLI) -> a standard-task log of those indices -> the same estimates as the metabench logs."""
  path = small_suite.save(tmp_path / "small.tjx")
  out = tmp_path / "samples.json"
  assert main(["suite", "samples", str(path), "--out", str(out), "--datasets", str(world["datasets"]),
               "--data", str(world["root"]), "--model-args", "pretrained=EleutherAI/pythia-14m"]) == 0
  text = capsys.readouterr().out
  samples = json.loads(out.read_text())
  ds = standard.load_task_datasets(samples, world["datasets"])
  assert samples == standard.samples_for(small_suite, ds, world["items"])
  assert sum(map(len, samples.values())) == sum(small_suite.n_anchors.values())
  assert "--num_fewshot 25" in text and "--num_fewshot 5" in text and "pretrained=EleutherAI/pythia-14m" in text
  assert "lm_eval --model hf" in text and f"--samples {out}" in text
  folder = _write_log(tmp_path / "pythia-14m", world, samples)
  monkeypatch.setattr("tinyjax.suite._logs.default_items_dir", lambda: world["root"])
  est, logs = small_suite.estimate_from_lm_eval(folder)
  ref, _ = small_suite.estimate_from_lm_eval(world["logs"])
  for frame in ("scores", "lower", "upper", "answered", "kept_accuracy"):
    np.testing.assert_array_equal(getattr(est, frame).to_numpy(), getattr(ref, frame).to_numpy())
  assert logs["arc"].task == "arc_challenge" and logs["gsm8k"].filter == "strict-match"


def test_samples_cli_every_item_and_errors(world, tmp_path, capsys):
  out = tmp_path / "all.json"
  assert main(["suite", "samples", "openllm-v1", "--anchors", "all", "--out", str(out), "--datasets",
               str(world["datasets"]), "--data", str(world["items"])]) == 0
  samples = json.loads(out.read_text())
  assert samples == {t: sorted(r.values()) for t, r in world["truth"].items() if t != "hellaswag"}
  assert "run only the kept items" in capsys.readouterr().out
  assert main(["suite", "samples", str(tmp_path / "x.tjx"), "--anchors", "5", "--data", str(world["items"])]) == 1
  assert "--anchors, --data-dir and --source apply to a suite name" in capsys.readouterr().err
