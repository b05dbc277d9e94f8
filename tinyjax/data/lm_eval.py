"""lm-evaluation-harness ``--log_samples`` output -> a :class:`~tinyjax.data.Responses` matrix."""

from __future__ import annotations

import fnmatch
import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tinyjax._progress import logger as _logger
from tinyjax.data.responses import Responses, load_responses
from tinyjax.errors import ConfigError, MissingFileError, ResponseError

__all__ = ("from_lm_eval_samples",)

logger = _logger("tinyjax.data")


class _SamplesFile(NamedTuple):
  path: pathlib.Path
  task: str
  stamp: str
  model: str


def from_lm_eval_samples(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    task: str | Sequence[str] | None = None,
    metric: str | Mapping[str, str] = "acc",
    filter: str | Mapping[str, str] | None = None,  # noqa: A002 (lm-eval's own word)
    on_duplicate: str = "error",
) -> Responses:
  """Builds a models x items matrix from lm-evaluation-harness ``--log_samples`` output.

  lm-eval (``lm_eval ... --output_path OUT --log_samples``) writes, per model run, a folder
  ``OUT/<model_name_sanitized>/`` with ``results_<timestamp>.json`` and one ``samples_<task>_<timestamp>.jsonl``
  per task. Each line of a samples file is one document: ``doc_id``, ``doc``, ``target``, ``arguments``,
  ``resps``, ``filtered_resps``, ``filter`` (the filter pipeline, ``"none"`` for most tasks), ``metrics`` (the
  metric names) and each metric's value as a top-level key (``"acc": 1.0``). The task name is the file name
  between ``samples_`` and the last ``_`` (lm-eval's own rule).

  * Model id: ``model_name`` from the ``results_<same timestamp>.json`` beside the samples file (else the only
    results file there, else ``config.model_args``' ``pretrained=``/``model=``/... value), else the folder
    name. Runs in different folders with the same model id are merged into one row (different tasks), or
    are duplicates (same task).
  * Item id: ``"<task>/<doc_id>"``. Columns are grouped by task (in the order of ``task`` when given, else
    sorted by name), doc ids ascending within a task; the union over models. A model that lacks a document
    gets NaN there.
  * Filters: tasks such as gsm8k log each document once per filter (``strict-match``, ``flexible-extract``).
    ``filter`` picks one (a name, or a dict task -> name); by default the first filter in the first samples
    file of the task (files in sorted order) is used, and the choice is logged.
  * Repeated runs of one model on one task: an error naming them, or with ``on_duplicate="last"`` the run
    with the latest timestamp is used.

  Args:
    paths: samples files and/or folders (searched recursively for ``samples_*.jsonl``).
    task: task name(s) to keep; glob patterns allowed (``"mmlu_*"``). None keeps every task found.
    metric: per-document metric to read (``"acc"``, ``"acc_norm"``, ``"exact_match"``, ...), or a dict
      task -> metric. Values must be numbers in [0, 1] (bools count as 0/1).
    filter: filter name, or a dict task -> filter name; see above.
    on_duplicate: ``"error"`` or ``"last"``.

  Returns:
    :class:`Responses` with values [n_models, n_items] float64, NaN where a model lacks a document. Rows follow
    the order in which models first appear: ``paths`` in the given order, the files of a folder sorted by path.

  Raises:
    ResponseError: no samples files, unparseable lines, a missing metric or filter, non-scalar metric values,
      duplicate runs or documents, or any check of :func:`load_responses`.
    MissingFileError: a path does not exist.

  A one-line summary and the filter choices are logged (``tinyjax.data`` logger, level INFO; the command
  line shows them).
  """
  if on_duplicate not in ("error", "last"):
    raise ConfigError(f"on_duplicate must be 'error' or 'last', got {on_duplicate!r}")
  files = _find_samples_files(paths)
  tasks_found = sorted({f.task for f in files})
  if task is None:
    tasks = tasks_found
  else:
    patterns = [task] if isinstance(task, str) else list(task)
    tasks = []
    for pat in patterns:
      hits = [t for t in tasks_found if fnmatch.fnmatchcase(t, pat)]
      if not hits:
        raise ResponseError(f"task {pat!r} not found; tasks in the samples files: {tasks_found}")
      tasks.extend(t for t in hits if t not in tasks)
  files = [f for f in files if f.task in tasks]

  # One run per (model, task).
  runs: dict[tuple[str, str], list[_SamplesFile]] = {}
  for f in files:
    runs.setdefault((f.model, f.task), []).append(f)
  chosen: dict[tuple[str, str], _SamplesFile] = {}
  for key, group in runs.items():
    if len(group) > 1 and on_duplicate == "error":
      listing = ", ".join(str(g.path) for g in group)
      raise ResponseError(
          f"model {key[0]!r} has {len(group)} runs of task {key[1]!r}: {listing}; remove all but one or pass "
          "on_duplicate='last' to use the latest timestamp"
      )
    chosen[key] = max(group, key=lambda g: (g.stamp, str(g.path)))

  metric_of = _per_task(metric, tasks, "metric")
  filter_of = _per_task(filter, tasks, "filter") if filter is not None else {}
  model_order: list[str] = []
  for f in files:
    if f.model not in model_order:
      model_order.append(f.model)

  notes = []
  scores: dict[tuple[str, str], dict[Any, float]] = {}
  for t in tasks:
    task_files = sorted((chosen[(m, t)] for m in model_order if (m, t) in chosen), key=lambda f: str(f.path))
    for k, f in enumerate(task_files):
      records = _read_jsonl(f.path)
      if not records:
        raise ResponseError(f"{f.path}: no samples in the file")
      filters = list(dict.fromkeys(r.get("filter", "none") for _, r in records))
      if t not in filter_of:
        filter_of[t] = filters[0]
        if len(filters) > 1:
          notes.append(f"task {t!r} has filters {filters}; using {filters[0]!r} (pass filter= to choose)")
      want = filter_of[t]
      if want not in filters:
        raise ResponseError(f"{f.path}: filter {want!r} not found for task {t!r}; filters in the file: {filters}")
      scores[(f.model, t)] = _metric_values(f, records, want, metric_of[t])

  item_ids, columns = [], {}
  for t in tasks:
    docs = set()
    for m in model_order:
      docs.update(scores.get((m, t), {}))
    for d in sorted(docs, key=_doc_sort_key):
      columns[(t, d)] = len(item_ids)
      item_ids.append(f"{t}/{d}")
  values = np.full((len(model_order), len(item_ids)), np.nan)
  for i, m in enumerate(model_order):
    for t in tasks:
      for d, v in scores.get((m, t), {}).items():
        values[i, columns[(t, d)]] = v
  for note in notes:
    logger.info(note)
  logger.info(f"read {len(chosen)} samples file(s): {len(model_order)} model(s) x {len(item_ids)} item(s) "
              f"from {len(tasks)} task(s)")
  return load_responses(values, model_ids=model_order, item_ids=item_ids)


def _per_task(value, tasks, name) -> dict[str, str]:
  if isinstance(value, str):
    return {t: value for t in tasks}
  if isinstance(value, Mapping):
    missing = [t for t in tasks if t not in value]
    if missing:
      raise ResponseError(f"{name} dict has no entry for task(s) {missing}; it has {sorted(value)}")
    return {t: str(value[t]) for t in tasks}
  raise ConfigError(f"{name} must be a string or a dict task -> {name}, got {type(value).__name__}")


def _doc_sort_key(d):
  return (0, d, "") if isinstance(d, int) else (1, 0, str(d))


def _find_samples_files(paths) -> list[_SamplesFile]:
  if isinstance(paths, (str, os.PathLike)):
    paths = [paths]
  found: list[pathlib.Path] = []
  for p in paths:
    p = pathlib.Path(p)
    if not p.exists():
      raise MissingFileError(f"lm-eval output not found: {p}")
    if p.is_dir():
      hits = sorted(p.rglob("samples_*.jsonl"))
      if not hits:
        raise ResponseError(f"{p}: no samples_<task>_<timestamp>.jsonl files (was lm_eval run with --log_samples?)")
      found.extend(hits)
    else:
      found.append(p)
  out, seen = [], set()
  for p in found:
    key = p.resolve()
    if key in seen:
      continue
    seen.add(key)
    name = p.name
    if not (name.startswith("samples_") and name.endswith(".jsonl")) or name.count("_") < 2:
      raise ResponseError(f"{p}: not an lm-eval samples file (expected samples_<task>_<timestamp>.jsonl)")
    stem = name[: -len(".jsonl")]
    task, stamp = stem[len("samples_") : stem.rfind("_")], stem[stem.rfind("_") + 1 :]
    if not task:
      raise ResponseError(f"{p}: no task name in the file name (expected samples_<task>_<timestamp>.jsonl)")
    out.append(_SamplesFile(p, task, stamp, _model_name(p.parent, stamp)))
  return out


def _model_name(folder: pathlib.Path, stamp: str) -> str:
  """model_name from results_<stamp>.json (else the only results file), else the folder name."""
  candidates = [folder / f"results_{stamp}.json"]
  if not candidates[0].exists():
    candidates = sorted(folder.glob("results_*.json"))
  names = []
  for c in candidates:
    if c.exists():
      try:
        name = _name_from_results(json.loads(c.read_text(encoding="utf-8")))
      except (OSError, json.JSONDecodeError) as err:
        raise ResponseError(f"{c}: unreadable results file ({err})") from err
      if name:
        names.append(name)
  names = list(dict.fromkeys(names))
  if len(names) == 1:
    return names[0]
  if len(names) > 1:
    raise ResponseError(
        f"{folder}: results files name several models {names} and none has the samples' timestamp {stamp!r}; "
        "put each model's run in its own folder"
    )
  return folder.name


def _name_from_results(results: dict) -> str | None:
  name = results.get("model_name")
  if isinstance(name, str) and name:
    return name
  config = results.get("config") or {}
  args = config.get("model_args")
  prefixes = ("peft", "delta", "pretrained", "model", "path", "engine")  # lm-eval's own order
  if isinstance(args, str):
    pairs = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
    args = {k.strip(): v.strip() for k, v in pairs.items()}
  if isinstance(args, Mapping):
    for key in prefixes:
      if isinstance(args.get(key), str) and args[key]:
        return args[key]
  return None


def _read_jsonl(path: pathlib.Path) -> list[tuple[int, dict]]:
  records = []
  with open(path, encoding="utf-8") as fh:
    for lineno, line in enumerate(fh, start=1):
      if not line.strip():
        continue
      try:
        rec = json.loads(line)
      except json.JSONDecodeError as err:
        raise ResponseError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
      if not isinstance(rec, dict):
        raise ResponseError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
      records.append((lineno, rec))
  return records


def _metric_values(f: _SamplesFile, records, want_filter, metric) -> dict[Any, float]:
  out: dict[Any, float] = {}
  for lineno, rec in records:
    if rec.get("filter", "none") != want_filter:
      continue
    where = f"{f.path}:{lineno}"
    if "doc_id" not in rec:
      raise ResponseError(f"{where}: no 'doc_id' in the sample")
    doc = rec["doc_id"]
    if metric not in rec:
      listed = rec.get("metrics")
      if not isinstance(listed, list):
        listed = sorted(k for k, v in rec.items() if isinstance(v, (int, float)) and k != "doc_id")
      raise ResponseError(f"{where}: metric {metric!r} not logged for task {f.task!r}; available: {listed}")
    v = rec[metric]
    if isinstance(v, bool):
      v = float(v)
    elif not isinstance(v, (int, float)):
      raise ResponseError(
          f"{where}: metric {metric!r} of task {f.task!r} is {type(v).__name__} {v!r:.60}, not a per-document "
          "number (corpus-level metrics such as bleu/f1 log raw pairs); choose a per-document metric"
      )
    if doc in out:
      raise ResponseError(f"{where}: doc_id {doc!r} appears twice for filter {want_filter!r}")
    out[doc] = float(v)
  return out
