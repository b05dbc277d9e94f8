"""The standard lm-eval tasks of the Open LLM Leaderboard v1, and a suite's kept items among their documents.

A suite keeps a few items of each benchmark. They are rows of the standard datasets that lm-evaluation-harness's
own tasks evaluate (``arc_challenge``, ``gsm8k``, ``mmlu_<subject>``, ``truthfulqa_mc1``, ``winogrande``,
``hellaswag``), so a user can run exactly those rows with the harness's ``--samples`` option and read the log back,
with no custom task::

    samples = standard.samples_for(suite, standard.load_task_datasets(tasks), items)   # {task: [doc indices]}
    # lm_eval ... --tasks <tasks> --num_fewshot <shots> --samples samples.json --log_samples --output_path OUT
    est, logs = suite.estimate_from_lm_eval("OUT/<model>/")                          # matched by identity again

**Identity.** A kept item and a dataset row (or a logged document) are the same item when their identities are
equal (:func:`doc_identity`): ARC's ``id``; HellaSwag's ``ind``; the question for GSM8K and TruthfulQA, the
sentence for WinoGrande, the subject and the question for MMLU. When several rows share an item's identity (the
same question twice in one MMLU subject), the rest of the document (the choices, the options, the answer) decides;
rows that still tie are an error. Positions (``doc_id``, ``metabench_idx``) are never used to match.

**Normalisation** (:func:`normalize_text`): Unicode NFKC, every run of whitespace made one space, stripped. Case is
kept. The item files come from the same dataset rows as the Hub datasets, but through other tools (metabench went
through R and parquet); NFKC and whitespace are what such round trips change (59 of the 249 GSM8K questions hold
double spaces), while case is never changed by them and separates real items.

**How lm-eval 0.4.13 reads ``--samples``** (read in its ``api/task.py``, ``evaluator.py`` and
``config/evaluate_config.py``): the option takes a JSON object (inline, or a path to a file) ``{task: [indices]}``.
The indices are positions in the task's evaluation documents: the ``test_split`` if the task has one, else the
``validation_split``, after the task's ``process_docs`` (HellaSwag's maps each row, keeping order and count). The
harness runs the documents whose position is in the list, in the dataset's order, and logs ``doc_id`` as the
list's entry at the running count, which is the true position only when the list is sorted without repeats: the
lists written here always are. A task on ``--tasks`` with no entry in the JSON, or with an empty list, runs every
document, so only tasks with kept items are listed, and only they go on ``--tasks``. Entries for tasks not on
``--tasks`` are ignored, so one JSON serves several commands. ``--samples`` and ``--limit`` exclude each other.
``--num_fewshot`` is one number for every task of a command, so the leaderboard's settings take one command per
shot count (:func:`lm_eval_commands`); a task whose own config sets ``num_fewshot: 0`` (``truthfulqa_mc1``) keeps
0 whatever the command says.
"""

from __future__ import annotations

import collections
import os
import pathlib
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from tinyjax._progress import logger as _logger
from tinyjax.errors import ConfigError, ItemError, MissingFileError

__all__ = ("MMLU_SUBJECTS", "STANDARD_BENCHMARKS", "Identity", "TaskSpec", "doc_identity", "identity_table",
           "kept_item_identities", "lm_eval_commands", "load_item_frames", "load_task_datasets", "match_rows",
           "match_task_rows", "normalize_text", "samples_for", "standard_benchmark", "task_spec", "tasks_for")

logger = _logger("tinyjax.suite")

#: The 57 subjects of lm-eval's ``mmlu`` group, one task ``mmlu_<subject>`` each (``cais/mmlu`` config names).
MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
    "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality", "international_law",
    "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing", "medical_genetics",
    "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy", "prehistory",
    "professional_accounting", "professional_law", "professional_medicine", "professional_psychology",
    "public_relations", "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions",
)


class TaskSpec(NamedTuple):
  """One standard lm-eval task: the dataset split it evaluates and the leaderboard's shot count."""

  task: str              # lm-eval task name ("arc_challenge", "mmlu_anatomy")
  benchmark: str         # "arc", "gsm8k", "mmlu", "truthfulqa", "winogrande", "hellaswag"
  path: str              # datasets.load_dataset path (lm-eval 0.4.13's dataset_path)
  name: str | None       # its config (dataset_name)
  split: str             # the split lm-eval evaluates: test_split, else validation_split
  num_fewshot: int       # the Open LLM Leaderboard v1 setting
  config_shots: int | None   # num_fewshot fixed in the task's own yaml (lm-eval then ignores --num_fewshot if 0)


# lm-eval 0.4.13's yamls (lm_eval/tasks/...): dataset_path, dataset_name, the split evaluated, the yaml's num_fewshot.
_TASKS = {
    "arc_challenge": TaskSpec("arc_challenge", "arc", "allenai/ai2_arc", "ARC-Challenge", "test", 25, None),
    "gsm8k": TaskSpec("gsm8k", "gsm8k", "openai/gsm8k", "main", "test", 5, 5),
    "truthfulqa_mc1": TaskSpec("truthfulqa_mc1", "truthfulqa", "truthfulqa/truthful_qa", "multiple_choice",
                               "validation", 0, 0),
    "winogrande": TaskSpec("winogrande", "winogrande", "allenai/winogrande", "winogrande_xl", "validation", 5, None),
    "hellaswag": TaskSpec("hellaswag", "hellaswag", "Rowan/hellaswag", None, "validation", 10, None),
}
_TASK_OF = {"arc": "arc_challenge", "gsm8k": "gsm8k", "truthfulqa": "truthfulqa_mc1", "winogrande": "winogrande",
            "hellaswag": "hellaswag"}
#: The benchmarks with standard tasks, in the order tasks are listed.
STANDARD_BENCHMARKS = ("arc", "gsm8k", "mmlu", "truthfulqa", "winogrande", "hellaswag")


def task_spec(task: str) -> TaskSpec:
  """The :class:`TaskSpec` of a standard task name (``mmlu_<subject>`` for each of :data:`MMLU_SUBJECTS`).

  Raises:
    ConfigError: not one of the standard Open LLM Leaderboard v1 tasks.
  """
  if task in _TASKS:
    return _TASKS[task]
  if task.startswith("mmlu_") and task[len("mmlu_"):] in MMLU_SUBJECTS:
    return TaskSpec(task, "mmlu", "cais/mmlu", task[len("mmlu_"):], "test", 5, None)
  raise ConfigError(f"{task!r} is not a standard Open LLM Leaderboard v1 task; they are {sorted(_TASKS)} and "
                    "mmlu_<subject> for the 57 MMLU subjects")


def standard_benchmark(task: str) -> str | None:
  """The benchmark of a standard task name, or None for any other name."""
  try:
    return task_spec(task).benchmark
  except ConfigError:
    return None


def normalize_text(value: Any) -> str:
  """Text as identities compare it: Unicode NFKC, every whitespace run one space, stripped (case kept)."""
  return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(value))).strip()


class Identity(NamedTuple):
  """What names an item among a task's documents."""

  task: str     # the standard task whose documents hold it ("mmlu_anatomy")
  key: str      # the identity: ARC id, HellaSwag ind, question / sentence (normalised)
  detail: str   # the rest of the document (choices, options, answer), to tell apart rows sharing a key


_FIELDS = {"arc": ("id",), "hellaswag": ("ind",), "gsm8k": ("question",), "mmlu": ("question",),
           "truthfulqa": ("question",), "winogrande": ("sentence",)}


def _texts(value) -> list[str]:
  if value is None:
    return []
  if isinstance(value, Mapping):
    value = value.get("choices", value.get("text", []))
  if isinstance(value, str):
    return [normalize_text(value)]
  return [normalize_text(v) for v in list(value)]


def doc_identity(benchmark: str, doc: Mapping, *, subject: str | None = None) -> Identity:
  """The identity of one document of a benchmark: a dataset row, a logged ``doc``, or a row of an item file.

  Args:
    benchmark: one of :data:`STANDARD_BENCHMARKS`.
    doc: the document's fields, in the standard datasets' layout (ARC ``id``; HellaSwag ``ind``; GSM8K
      ``question``; MMLU ``question`` and ``subject``; TruthfulQA ``question``; WinoGrande ``sentence``).
    subject: MMLU's subject when the caller knows it from the task (``mmlu_<subject>``); else ``doc["subject"]``.

  Raises:
    ItemError: a field the identity needs is missing, or the MMLU subject is unknown.
  """
  if benchmark not in _FIELDS:
    raise ConfigError(f"no standard task for benchmark {benchmark!r}; known: {list(STANDARD_BENCHMARKS)}")
  if not isinstance(doc, Mapping):
    raise ItemError(f"a {benchmark} document must be a dict of fields, got {type(doc).__name__}")
  missing = [f for f in _FIELDS[benchmark] if f not in doc or doc[f] is None]
  if missing:
    raise ItemError(f"a {benchmark} document needs the field(s) {missing} to be matched by identity; it has "
                    f"{sorted(doc)[:12]}")
  if benchmark == "arc":
    return Identity("arc_challenge", normalize_text(doc["id"]), normalize_text(doc.get("question", "")))
  if benchmark == "hellaswag":
    ind = doc["ind"]
    ind = str(int(ind)) if isinstance(ind, (int, float)) or str(ind).strip().isdigit() else normalize_text(ind)
    return Identity("hellaswag", ind, normalize_text(doc.get("ctx", "")))
  if benchmark == "mmlu":
    subject = subject if subject is not None else doc.get("subject")
    if subject not in MMLU_SUBJECTS:
      raise ItemError(f"MMLU document with subject {subject!r}, not one of lm-eval's 57 mmlu_<subject> tasks")
    return Identity(f"mmlu_{subject}", normalize_text(doc["question"]),
                    "\x1f".join(_texts(doc.get("choices")) + [normalize_text(doc.get("answer", ""))]))
  if benchmark == "gsm8k":
    return Identity("gsm8k", normalize_text(doc["question"]), normalize_text(doc.get("answer", "")))
  if benchmark == "truthfulqa":
    return Identity("truthfulqa_mc1", normalize_text(doc["question"]), "\x1f".join(_texts(doc.get("mc1_targets"))))
  return Identity("winogrande", normalize_text(doc["sentence"]),
                  "\x1f".join(normalize_text(doc.get(k, "")) for k in ("option1", "option2", "answer")))


def kept_item_identities(items_frame, benchmark: str) -> dict[str, Identity]:
  """Each item of an item file (metabench's ``items/final/<bench>-secondary.parquet``) by its suite item id.

  Args:
    items_frame: DataFrame with the standard datasets' columns plus ``metabench_idx`` (and ``mb_sub_idx`` for
      MMLU), one row per item.
    benchmark: its benchmark.

  Returns:
    ``{item id: Identity}`` in the frame's order, item ids as the response matrices name them (``arc.1041``,
    ``mmlu.high_school_mathematics.236``).

  Raises:
    ItemError: a column is missing, an MMLU subject differs from its ``mb_sub_idx``, or two items have the same
      identity (key and detail).
  """
  from tinyjax.data.openllm import id_field, suite_item_id
  field = id_field(benchmark)
  if field not in items_frame.columns:
    raise ItemError(f"{benchmark} item file has no {field!r} column (columns: {list(items_frame.columns)[:12]})")
  out: dict[str, Identity] = {}
  seen: dict[Identity, str] = {}
  for row in items_frame.to_dict("records"):
    item = suite_item_id(benchmark, row[field])
    if benchmark == "mmlu" and item.split(".")[1] != row.get("subject"):
      raise ItemError(f"{item}: subject column {row.get('subject')!r} differs from mb_sub_idx {row[field]!r}")
    ident = doc_identity(benchmark, row)
    if item in out:
      raise ItemError(f"{benchmark} item file lists {item!r} twice")
    if ident in seen:
      raise ItemError(f"{benchmark} items {seen[ident]!r} and {item!r} have the same identity ({ident.key[:80]!r})")
    out[item], seen[ident] = ident, item
  return out


def load_item_frames(items: str | os.PathLike | Mapping, benchmarks: Iterable[str] | None = None) -> dict:
  """The item files of the Open LLM Leaderboard v1 benchmarks, as DataFrames.

  Args:
    items: a folder holding ``<bench>-secondary.parquet`` (metabench's names) or ``<bench>.parquet``, itself or
      in ``items/final/`` or ``items/openllm_v1/`` below it; or a dict ``{bench: DataFrame}`` (returned as is).
    benchmarks: the benchmarks wanted (default: every one found).

  Raises:
    MissingFileError: no item file of a wanted benchmark.
  """
  import pandas as pd
  if isinstance(items, Mapping):
    wanted = list(items) if benchmarks is None else list(benchmarks)
    lost = [b for b in wanted if b not in items]
    if lost:
      raise MissingFileError(f"no items given for benchmark(s) {lost}; given: {sorted(items)}")
    return {b: items[b] for b in wanted}
  root = pathlib.Path(items)
  if not root.exists():
    raise MissingFileError(f"item folder not found: {root}")
  folders = [root, root / "items" / "final", root / "items" / "openllm_v1", root / "final", root / "openllm_v1"]
  def find(b):
    for folder in folders:
      for name in (f"{b}-secondary.parquet", f"{b}.parquet"):
        if (folder / name).is_file():
          return folder / name
    return None
  names = list(benchmarks) if benchmarks is not None else [b for b in STANDARD_BENCHMARKS if find(b) is not None]
  out = {}
  for b in names:
    path = find(b)
    if path is None:
      raise MissingFileError(f"{root}: no item file of {b!r} ({b}-secondary.parquet or {b}.parquet, here or in "
                             "items/final/ or items/openllm_v1/ below it)")
    out[b] = pd.read_parquet(path)
  if not out:
    raise MissingFileError(f"{root}: no item files (<bench>-secondary.parquet) here or in items/final/ below it")
  return out


def identity_table(items, benchmarks: Iterable[str] | None = None) -> dict[str, dict[str, Identity]]:
  """``{bench: {item id: Identity}}`` from an item folder, ``{bench: DataFrame}``, or such a table itself."""
  if isinstance(items, Mapping) and items and all(
      isinstance(v, Mapping) and all(isinstance(i, Identity) for i in v.values()) for v in items.values()):
    wanted = list(items) if benchmarks is None else [b for b in benchmarks]
    lost = [b for b in wanted if b not in items]
    if lost:
      raise MissingFileError(f"no item identities for benchmark(s) {lost}; given: {sorted(items)}")
    return {b: dict(items[b]) for b in wanted}
  frames = load_item_frames(items, benchmarks)
  return {b: kept_item_identities(f, b) for b, f in frames.items()}


def _anchor_ids(anchors) -> dict[str, list[str]]:
  got = getattr(anchors, "anchors", anchors)
  if not isinstance(got, Mapping) or not got:
    raise ConfigError("anchors must be a Suite or a dict {benchmark: [item ids]}")
  out = {}
  for b, ids in got.items():
    if b not in STANDARD_BENCHMARKS:
      raise ConfigError(f"benchmark {b!r} has no standard lm-eval task; known: {list(STANDARD_BENCHMARKS)}")
    ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
    if ids:
      out[b] = ids
  return out


def _order(task: str) -> tuple[int, str]:
  return STANDARD_BENCHMARKS.index(task_spec(task).benchmark), task


def tasks_for(anchors, items) -> dict[str, dict[str, Identity]]:
  """The standard tasks holding the kept items: ``{task: {item id: Identity}}``, tasks in a fixed order.

  Args:
    anchors: a :class:`~tinyjax.suite.Suite` (its ``anchors``) or ``{bench: [item ids]}``.
    items: the items' identities: see :func:`identity_table`.

  Raises:
    ItemError: a kept item that the item files do not hold.
  """
  ids = _anchor_ids(anchors)
  table = identity_table(items, list(ids))
  out: dict[str, dict[str, Identity]] = {}
  for b, kept in ids.items():
    lost = [i for i in kept if i not in table[b]]
    if lost:
      raise ItemError(f"{len(lost)} kept item(s) of {b!r} are not in its item file: {lost[:10]}")
    for i in kept:
      ident = table[b][i]
      out.setdefault(ident.task, {})[i] = ident
  return {t: out[t] for t in sorted(out, key=_order)}


class RowMatch(NamedTuple):
  """Kept items against a task's rows (dataset rows or logged documents)."""

  rows: dict[str, int]              # item id -> row position
  missing: list[str]                # kept items that no row holds
  ambiguous: dict[str, list[int]]   # kept items that several rows hold alike


def match_rows(kept: Mapping[str, Identity], rows: Sequence[Identity]) -> RowMatch:
  """Matches kept items to rows by identity: equal keys; among rows sharing a key, equal details.

  Rows that are no kept item are ignored. A row matched by two kept items counts as ambiguous for both.
  """
  by_key: dict[str, list[int]] = collections.defaultdict(list)
  for r, ident in enumerate(rows):
    by_key[ident.key].append(r)
  found, missing, ambiguous = {}, [], {}
  for item, ident in kept.items():
    cands = by_key.get(ident.key, [])
    if len(cands) > 1:
      cands = [r for r in cands if rows[r].detail == ident.detail] or cands
    if not cands:
      missing.append(item)
    elif len(cands) > 1:
      ambiguous[item] = cands
    else:
      found[item] = cands[0]
  owners = collections.defaultdict(list)
  for item, r in found.items():
    owners[r].append(item)
  for r, items in owners.items():
    if len(items) > 1:
      for item in items:
        ambiguous[item] = [r]
        del found[item]
  return RowMatch(found, missing, ambiguous)


def _dataset_rows(task: str, dataset) -> list[Identity]:
  spec = task_spec(task)
  subject = spec.name if spec.benchmark == "mmlu" else None
  rows = []
  for r, doc in enumerate(dataset):
    try:
      rows.append(doc_identity(spec.benchmark, doc, subject=subject))
    except ItemError as err:
      raise ItemError(f"task {task!r}, dataset row {r}: {err}") from None
  return rows


def match_task_rows(anchors, datasets_by_task: Mapping, items) -> dict[str, dict[str, int]]:
  """Each kept item's row in its standard task's dataset: ``{task: {item id: row}}``.

  Args:
    anchors: a Suite or ``{bench: [item ids]}``.
    datasets_by_task: ``{task: rows}``: the split lm-eval evaluates (:func:`load_task_datasets`), any iterable
      of dicts in the dataset's order.
    items: the kept items' identities (:func:`identity_table`).

  Raises:
    ConfigError: a task with kept items has no dataset.
    ItemError: a kept item that no row of its task holds, or that several rows hold alike; the error names the
      task and the items.
  """
  wanted = tasks_for(anchors, items)
  lost = [t for t in wanted if t not in datasets_by_task]
  if lost:
    raise ConfigError(f"no dataset for task(s) {lost}; the kept items need {list(wanted)}")
  out = {}
  for task, kept in wanted.items():
    m = match_rows(kept, _dataset_rows(task, datasets_by_task[task]))
    if m.missing:
      raise ItemError(f"task {task!r}: {len(m.missing)} kept item(s) match no row of its dataset "
                      f"({task_spec(task).path}, split {task_spec(task).split}): "
                      + ", ".join(f"{i} ({kept[i].key[:60]!r})" for i in m.missing[:10]))
    if m.ambiguous:
      raise ItemError(f"task {task!r}: kept item(s) match several rows alike (or share a row): "
                      + ", ".join(f"{i} -> rows {r}" for i, r in list(m.ambiguous.items())[:10]))
    out[task] = m.rows
  return out


def samples_for(anchors, datasets_by_task: Mapping, items) -> dict[str, list[int]]:
  """The JSON that lm-eval's ``--samples`` takes: ``{task: [doc indices]}`` for the kept items.

  Indices are positions in the split each task evaluates, sorted and without repeats (lm-eval logs the true
  position only then); only tasks with kept items appear (an empty list would run the whole task). Arguments and
  errors as :func:`match_task_rows`.
  """
  return {t: sorted(rows.values()) for t, rows in match_task_rows(anchors, datasets_by_task, items).items()}


def load_task_datasets(tasks: Iterable[str], local_dir: str | os.PathLike | None = None) -> dict:
  """Each task's evaluated split, as lm-eval loads it.

  Args:
    tasks: standard task names.
    local_dir: a folder with one ``datasets`` ``save_to_disk`` folder per task, named by the task
      (``DIR/arc_challenge``, ``DIR/mmlu_anatomy``): a Dataset, or a DatasetDict holding the split. None loads
      each with ``datasets.load_dataset(path, name, split=split)`` (the Hub, or the ``datasets`` cache).

  Returns:
    ``{task: datasets.Dataset}``.

  Raises:
    MissingFileError: a task's folder is missing under ``local_dir``, or the Hub cannot be reached.
  """
  import datasets
  out = {}
  for task in tasks:
    spec = task_spec(task)
    if local_dir is not None:
      folder = pathlib.Path(local_dir) / task
      if not folder.is_dir():
        raise MissingFileError(f"{local_dir}: no dataset folder {task!r} (save_to_disk of {spec.path} "
                               f"{spec.name or ''} split {spec.split})")
      ds = datasets.load_from_disk(str(folder))
      if isinstance(ds, datasets.DatasetDict):
        if spec.split not in ds:
          raise MissingFileError(f"{folder}: no split {spec.split!r} (it has {list(ds)})")
        ds = ds[spec.split]
    else:
      try:
        ds = datasets.load_dataset(spec.path, spec.name, split=spec.split)
      except Exception as err:  # noqa: BLE001 (network, Hub or cache: every failure means the same to the user)
        raise MissingFileError(f"task {task!r}: could not load {spec.path} {spec.name or ''} split {spec.split} "
                               f"({type(err).__name__}: {str(err)[:200]}); on a machine without network pass a "
                               "folder of save_to_disk datasets (--datasets DIR)") from err
    out[task] = ds
  return out


def lm_eval_commands(samples: Mapping[str, Sequence[int]], samples_path: str | os.PathLike, *, model: str = "hf",
                     model_args: str = "pretrained=<MODEL>", output_path: str = "lm_eval_out") -> list[str]:
  """The lm_eval command lines that run exactly the tasks of ``samples`` at the leaderboard's shot counts.

  One command per shot count, because ``--num_fewshot`` applies to every task of a command; ``truthfulqa_mc1``
  joins another command, its config pinning 0 shots (lm-eval 0.4.13 ignores ``--num_fewshot`` for it).
  """
  groups: dict[int, list[str]] = {}
  for task in sorted(samples, key=_order):
    spec = task_spec(task)
    groups.setdefault(spec.num_fewshot, []).append(task)
  pinned = groups.get(0, [])
  if pinned and all(task_spec(t).config_shots == 0 for t in pinned) and len(groups) > 1:
    del groups[0]
    groups[5 if 5 in groups else max(groups)].extend(pinned)
  lines = []
  for shots in sorted(groups, reverse=True):
    tasks = ",".join(sorted(groups[shots], key=_order))
    lines.append(f"lm_eval --model {model} --model_args {shlex.quote(model_args)} --tasks {tasks} "
                 f"--num_fewshot {shots} --samples {shlex.quote(str(samples_path))} --log_samples "
                 f"--output_path {shlex.quote(str(output_path))}")
  return lines
