"""lm-evaluation-harness ``--log_samples`` output -> a :class:`~tinyjax.data.Responses` matrix.

:func:`from_lm_eval_samples` builds a models x items matrix. :func:`find_lm_eval_files` and
:func:`read_lm_eval_file` are the two steps under it (find the samples files; read one, its documents grouped by
filter), for readers that match documents by their own fields (``tinyjax.suite``).
"""

from __future__ import annotations

import collections
import fnmatch
import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tinyjax._progress import logger as _logger
from tinyjax.data.responses import Responses, load_responses
from tinyjax.errors import ConfigError, ItemError, MissingFileError, ResponseError

__all__ = ("LMEvalFile", "LMEvalSample", "find_lm_eval_files", "from_lm_eval_samples", "read_lm_eval_file")

logger = _logger("tinyjax.data")

# Keys of a samples record that are not per-document metrics (lm-eval 0.4.x, all versions).
_RECORD_FIELDS = frozenset({"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
                            "doc_hash", "prompt_hash", "target_hash", "task", "task_name"})
_GSM8K_FILTERS = ("strict-match", "flexible-extract")   # lm-eval's gsm8k.yaml filter_list, in its order
#: File names of lm-eval samples files: plain, or gzip'd (the content is recognised by its magic bytes either way).
SAMPLES_SUFFIXES = (".jsonl.gz", ".jsonl")
_GZIP_MAGIC = b"\x1f\x8b"
# What a document logged once per filter shares in every copy: the filters only re-read the model's answers.
_SHARED_BY_FILTERS = ("doc_hash", "doc", "target", "arguments", "resps", "prompt_hash", "target_hash")


class LMEvalFile(NamedTuple):
  """One ``samples_<task>_<timestamp>.jsonl`` file: where it is, its task and timestamp, the model that wrote it."""

  path: pathlib.Path
  task: str
  stamp: str
  model: str


class LMEvalSample(NamedTuple):
  """One record (line) of a samples file."""

  line: int                  # its line number in the file (1-based)
  doc_id: Any                # lm-eval's position of the document in the task's split
  doc: Any                   # the document as logged (a dict of its fields; None when absent)
  metrics: dict[str, Any]    # metric name -> value: numbers, bools and numeric strings ("1.0", "True") as float,
                             # anything else (corpus metrics' raw pairs) as logged
  record: dict               # the whole record (resps, filtered_resps, ...)


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
  ``resps``, ``filtered_resps``, each metric's value as a top-level key (``"acc": 1.0``), and in recent
  versions ``filter`` (the filter pipeline, ``"none"`` for most tasks) and ``metrics`` (the metric names). The
  task name is the file name between ``samples_`` and the last ``_`` (lm-eval's own rule). Files are read by
  :func:`read_lm_eval_file`: every harness version, metric values as numbers, bools or strings.

  * Model id: ``model_name`` from the ``results_<same timestamp>.json`` beside the samples file (else the only
    results file there, else ``config.model_args``' ``pretrained=``/``model=``/... value), else the folder
    name. Runs in different folders with the same model id are merged into one row (different tasks), or
    are duplicates (same task).
  * Item id: ``"<task>/<doc_id>"``. Columns are grouped by task (in the order of ``task`` when given, else
    sorted by name), doc ids ascending within a task; the union over models. A model that lacks a document
    gets NaN there.
  * Filters: tasks such as gsm8k log each document once per filter (``strict-match``, ``flexible-extract``);
    when the records carry no ``filter`` key the names are inferred from the order (see
    :func:`read_lm_eval_file`). ``filter`` picks one (a name, or a dict task -> name); by default the first
    filter of the first samples file of the task (files in sorted order; lm-eval's first ``filter_list``
    entry) is used, and the choice is logged.
  * Repeated runs of one model on one task: an error naming them, or with ``on_duplicate="last"`` the run
    with the latest timestamp is used.

  Args:
    paths: samples files and/or folders (searched recursively for ``samples_*.jsonl``).
    task: task name(s) to keep; glob patterns allowed (``"mmlu_*"``). None keeps every task found.
    metric: per-document metric to read (``"acc"``, ``"acc_norm"``, ``"exact_match"``, ...), or a dict
      task -> metric. Values must be numbers in [0, 1] (bools and numeric strings count).
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
  files = find_lm_eval_files(paths)
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
  runs: dict[tuple[str, str], list[LMEvalFile]] = {}
  for f in files:
    runs.setdefault((f.model, f.task), []).append(f)
  chosen: dict[tuple[str, str], LMEvalFile] = {}
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
    for f in task_files:
      groups = read_lm_eval_file(f)
      filters = list(groups)
      if t not in filter_of:
        filter_of[t] = filters[0]
        if len(filters) > 1:
          notes.append(f"task {t!r} has filters {filters}; using {filters[0]!r} (pass filter= to choose)")
      want = filter_of[t]
      if want not in groups:
        raise ResponseError(f"{f.path}: filter {want!r} not found for task {t!r}; filters in the file: {filters}")
      scores[(f.model, t)] = _metric_values(f, groups[want], metric_of[t])

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


def find_lm_eval_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[LMEvalFile]:
  """The lm-eval samples files under ``paths``, with their task, timestamp and model.

  Args:
    paths: samples files and/or folders (searched recursively for ``samples_*.jsonl``, sorted by path).

  Returns:
    One :class:`LMEvalFile` per file, in the order found (a file reached twice is listed once). The task is the
    file name between ``samples_`` and the last ``_``; the model as :func:`from_lm_eval_samples` names it.

  Raises:
    MissingFileError: a path does not exist.
    ResponseError: a folder without samples files, or a file not named ``samples_<task>_<timestamp>.jsonl``.
  """
  if isinstance(paths, (str, os.PathLike)):
    paths = [paths]
  found: list[pathlib.Path] = []
  for p in paths:
    p = pathlib.Path(p)
    if not p.exists():
      raise MissingFileError(f"lm-eval output not found: {p}")
    if p.is_dir():
      hits = sorted([*p.rglob("samples_*.jsonl"), *p.rglob("samples_*.jsonl.gz")])
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
    suffix = next((x for x in SAMPLES_SUFFIXES if name.endswith(x)), None)
    if not (name.startswith("samples_") and suffix) or name.count("_") < 2:
      raise ResponseError(f"{p}: not an lm-eval samples file (expected samples_<task>_<timestamp>.jsonl, or "
                          ".jsonl.gz)")
    stem = name[: -len(suffix)]
    task, stamp = stem[len("samples_") : stem.rfind("_")], stem[stem.rfind("_") + 1 :]
    if not task:
      raise ResponseError(f"{p}: no task name in the file name (expected samples_<task>_<timestamp>.jsonl)")
    out.append(LMEvalFile(p, task, stamp, _model_name(p.parent, stamp)))
  return out


def is_lm_eval_output(path: str | os.PathLike) -> bool:
  """True when ``path`` is a samples file (``.jsonl`` or ``.jsonl.gz``) or a folder holding one, at any depth."""
  path = pathlib.Path(path)
  if path.is_dir():
    return any(any(path.rglob(f"samples_*{suffix}")) for suffix in SAMPLES_SUFFIXES)
  return path.name.lower().endswith(SAMPLES_SUFFIXES)


def read_lm_eval_file(file: LMEvalFile) -> dict[str, list[LMEvalSample]]:
  """Reads one samples file: its records grouped by filter, each group in file order.

  How lm-eval logs filters (``evaluator.evaluate``, 0.4.x): after the model has answered, each filter pipeline of
  the task's yaml ``filter_list`` post-processes every answer and stores its result under its own name, so the
  filters keep the yaml's order (gsm8k: ``strict-match``, the ``#### <number>`` regex, then
  ``flexible-extract``, the last number in the text; a task without ``filter_list`` has the one filter
  ``"none"``). Logging then loops over the filters, and within each over all documents: the file holds every
  document of the first filter, then every document of the next. Recent versions write the filter's name into
  each record (``"filter"``) with the metric names (``"metrics"``); earlier ones (the harness behind the
  pythia-14m metabench logs, November 2024, among them) write neither, so a document simply appears once per
  filter.

  * Records with a ``filter`` key are grouped by it (a record without one counts as ``"none"``); a ``doc_id``
    twice in one group is an error.
  * Records without it: when every ``doc_id`` appears ``n > 1`` times, the k-th occurrence of a document belongs
    to the k-th filter, but only when the task's filter list is known and has ``n`` filters: ``configs[task].
    filter_list`` of the ``results_<timestamp>.json`` beside the file, else, for a gsm8k task (``gsm8k`` in its
    name), lm-eval's gsm8k names ``("strict-match", "flexible-extract")``. The inference is logged. Any other repeat (a task with one filter, documents repeated unevenly) is an error: it is a second
    run appended to the file, not a filter. (The pythia-14m metabench GSM8K log bears the rule out: its first 249
    records never match the strict regex, ``[invalid]`` throughout, while the last 249 extract numbers from the
    same generations.)

  Every record is checked before it is used, so that a file that is not one task's log is an error rather than
  wrong answers: a ``task``/``task_name`` field must be the file's task; every document must have the fields of
  the first (another task's lines have others); a logged ``doc_hash`` must be the hash of the logged document
  (lm-eval's sha256 of ``json.dumps(doc, indent=2, ensure_ascii=False)``; checked when the file's first record
  follows that rule); and the copies of one document under its filters must be the same document with the same
  model answers (``doc_hash``, ``doc``, ``target``, ``arguments``, ``resps``, prompt and target hashes), each
  filter listing the documents in the same order.

  Args:
    file: a file from :func:`find_lm_eval_files` (plain or gzip'd).

  Returns:
    Filter name -> its :class:`LMEvalSample` records, filters in the order lm-eval ran them.

  Raises:
    ResponseError: an empty file, a line that is not a JSON object, a record without ``doc_id``, documents
      repeated within a filter or unevenly.
    ItemError: a record that fails the checks above, naming the file, the line and the reason; repeats without a
      known filter list; a file that is neither UTF-8 text nor a readable gzip of it.
  """
  samples = []
  for line, rec in _read_jsonl(file.path):
    if "doc_id" not in rec:
      raise ResponseError(f"{file.path}:{line}: no 'doc_id' in the sample")
    metrics = {}
    for k in _metric_names(rec):
      if k in rec:
        number = _as_number(rec[k])
        metrics[k] = rec[k] if number is None else number
    samples.append(LMEvalSample(line, rec["doc_id"], rec.get("doc"), metrics, rec))
  if not samples:
    raise ResponseError(f"{file.path}: no samples in the file")
  _check_records(file, samples)
  first: dict[Any, LMEvalSample] = {}   # doc_id -> its first record
  if any("filter" in s.record for s in samples):
    groups: dict[str, list[LMEvalSample]] = {}
    ids: dict[str, set] = {}
    for s in samples:
      name = str(s.record.get("filter", "none"))
      key = _hashable(s.doc_id)
      if key in ids.setdefault(name, set()):
        raise ResponseError(f"{file.path}:{s.line}: doc_id {s.doc_id!r} appears twice for filter {name!r}")
      ids[name].add(key)
      _check_same_document(file, first.setdefault(key, s), s, f"under filter {name!r}")
      groups.setdefault(name, []).append(s)
    return groups
  counts = collections.Counter(_hashable(s.doc_id) for s in samples)
  n = max(counts.values())
  if n == 1:
    return {"none": samples}
  if min(counts.values()) != n:
    few = min(counts, key=counts.get)
    raise ResponseError(
        f"{file.path}: no 'filter' key, and documents repeat unevenly (doc_id {few!r} {counts[few]} time(s), "
        f"others up to {n}): cannot tell the filters apart"
    )
  names, source = _filter_names(file)
  if names is None or len(names) != n:
    known = 1 if names is None else len(names)
    occurrences: collections.Counter = collections.Counter()
    for repeat in samples:   # the first record beyond the known filters
      occurrences[_hashable(repeat.doc_id)] += 1
      if occurrences[_hashable(repeat.doc_id)] > known:
        break
    original = next(s for s in samples if _hashable(s.doc_id) == _hashable(repeat.doc_id))
    listed = "no known filter list" if names is None else f"{known} filter(s) {list(names)}"
    raise ItemError(
        f"{file.path}:{repeat.line}: doc_id {repeat.doc_id!r} is logged {n} times (first at line {original.line}) "
        f"with no 'filter' key, but task {file.task!r} has {listed} ({source}): a second run appended to the file? "
        "Keep one run per file; a task with several filters is read with its results_<timestamp>.json beside the "
        "file (configs.<task>.filter_list)")
  groups = {name: [] for name in names}
  seen: collections.Counter = collections.Counter()
  for s in samples:
    key = _hashable(s.doc_id)
    _check_same_document(file, first.setdefault(key, s), s, f"for filter {names[seen[key]]!r}")
    groups[names[seen[key]]].append(s)
    seen[key] += 1
  order = [_hashable(s.doc_id) for s in groups[names[0]]]
  for name in names[1:]:
    for k, s in enumerate(groups[name]):
      if _hashable(s.doc_id) != order[k]:
        raise ItemError(
            f"{file.path}:{s.line}: doc_id {s.doc_id!r} is document {k + 1} of filter {name!r}, but document "
            f"{k + 1} of filter {names[0]!r} is doc_id {groups[names[0]][k].doc_id!r}: lm-eval logs every filter's "
            "documents in one order, so these lines are not the same run's filters")
  logger.info(f"{file.path.name}: no 'filter' key and each document logged {n} times; filters {list(names)} "
              f"inferred from their order ({source})")
  return groups


def _doc_hash(doc) -> str:
  """lm-eval's ``doc_hash``: sha256 of ``json.dumps(doc, indent=2, ensure_ascii=False)`` (``hash_string``)."""
  import hashlib

  return hashlib.sha256(json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")).hexdigest()


def _check_records(file: LMEvalFile, samples: list[LMEvalSample]) -> None:
  """Every record belongs to the file's task: its task field, its document's fields and its logged doc_hash."""
  hashed = next((s for s in samples if isinstance(s.record.get("doc_hash"), str) and s.doc is not None), None)
  check_hash = hashed is not None and _doc_hash(hashed.doc) == hashed.record["doc_hash"]
  ref = next((s for s in samples if isinstance(s.doc, Mapping)), None)
  for s in samples:
    for field in ("task", "task_name"):
      task = s.record.get(field)
      if isinstance(task, str) and task != file.task:
        raise ItemError(f"{file.path}:{s.line}: the record's {field} is {task!r}, not the file's task {file.task!r} "
                        "(named in the file name): another task's line")
    if ref is not None and (not isinstance(s.doc, Mapping) or set(s.doc) != set(ref.doc)):
      if isinstance(s.doc, Mapping):
        extra, lacks = sorted(set(s.doc) - set(ref.doc)), sorted(set(ref.doc) - set(s.doc))
        diff = "; ".join(p for p in (f"fields {extra[:5]} not in it" if extra else "",
                                     f"it lacks {lacks[:5]}" if lacks else "") if p)
      else:
        diff = f"this record's 'doc' is {type(s.doc).__name__}"
      raise ItemError(f"{file.path}:{s.line}: the document (doc_id {s.doc_id!r}) does not have the fields of the "
                      f"file's first document (line {ref.line}): {diff}; a task's documents share their fields, so "
                      "this is another task's line")
    if check_hash and isinstance(s.record.get("doc_hash"), str) and s.doc is not None and \
        _doc_hash(s.doc) != s.record["doc_hash"]:
      raise ItemError(f"{file.path}:{s.line}: doc_hash {s.record['doc_hash'][:12]}... is not the hash of the logged "
                      f"document (doc_id {s.doc_id!r}): the line was edited after lm-eval wrote it")


def _check_same_document(file: LMEvalFile, original: LMEvalSample, s: LMEvalSample, where: str) -> None:
  """A document logged again (for another filter) must be the same document with the same model answers."""
  if original is s:
    return
  for field in _SHARED_BY_FILTERS:
    if original.record.get(field, _MISSING) != s.record.get(field, _MISSING):
      raise ItemError(
          f"{file.path}:{s.line}: doc_id {s.doc_id!r} is logged again {where} (first at line {original.line}) with "
          f"another '{field}': filters re-read the same document and answers, so this is a different document "
          "or another run's line under the same doc_id")


def _filter_names(file: LMEvalFile) -> tuple[tuple[str, ...] | None, str]:
  """The task's filter list for a file without 'filter' keys, and where it comes from; None when none is known."""
  results = file.path.parent / f"results_{file.stamp}.json"
  if results.exists():
    try:
      config = json.loads(results.read_text(encoding="utf-8")).get("configs", {}).get(file.task, {})
      names = tuple(f.get("name") for f in config.get("filter_list") or [] if isinstance(f, Mapping))
    except (OSError, json.JSONDecodeError, AttributeError):
      names = ()
    if names and all(isinstance(x, str) and x for x in names):
      return names, f"{results.name}: filter_list of {file.task!r}"
  if "gsm8k" in file.task.split("_"):
    return _GSM8K_FILTERS, "lm-eval's gsm8k filter_list"
  return None, (f"{results.name} lists none" if results.exists() else f"no {results.name} beside it")


_MISSING = object()


def _hashable(doc_id):
  return doc_id if isinstance(doc_id, (int, str, float, bool, type(None))) else json.dumps(doc_id, sort_keys=True)


def _metric_names(rec: dict) -> list[str]:
  """A record's metric names: its 'metrics' list, else its top-level keys with a numeric value."""
  listed = rec.get("metrics")
  if isinstance(listed, list) and all(isinstance(m, str) for m in listed):
    return listed
  return [k for k, v in rec.items() if k not in _RECORD_FIELDS and _as_number(v) is not None]


def _as_number(v) -> float | None:
  """A metric value as a float (numbers, bools, "1.0", "True"), or None when it is not one."""
  if isinstance(v, (bool, int, float)):
    return float(v)
  if isinstance(v, str):
    s = v.strip()
    if s.lower() in ("true", "false"):
      return float(s.lower() == "true")
    try:
      return float(s)
    except ValueError:
      return None
  return None


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
  """(line number, record) of every non-blank line; gzip'd files are recognised by their magic bytes."""
  import gzip
  import zlib

  with open(path, "rb") as fh:
    gzipped = fh.read(2) == _GZIP_MAGIC
  records = []
  lineno = 0
  try:
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as fh:
      for lineno, raw in enumerate(fh, start=1):   # bytes, decoded line by line: errors name their line
        try:
          line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
          what = "its gzip'd content is" if gzipped else "it is"
          raise ItemError(f"{path}:{lineno}: not an lm-eval samples file: {what} not UTF-8 text ({err.reason} at "
                          f"byte {err.start} of the line)") from err
        if not line.strip():
          continue
        try:
          rec = json.loads(line)
        except json.JSONDecodeError as err:
          raise ResponseError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
        if not isinstance(rec, dict):
          raise ResponseError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        records.append((lineno, rec))
  except (OSError, EOFError, zlib.error) as err:   # gzip.BadGzipFile is an OSError
    if not gzipped:
      raise
    raise ItemError(f"{path}: a damaged gzip file ({type(err).__name__}: {err}) after line {lineno}") from err
  return records


def _metric_values(f: LMEvalFile, samples: list[LMEvalSample], metric: str) -> dict[Any, float]:
  out: dict[Any, float] = {}
  for s in samples:
    where = f"{f.path}:{s.line}"
    if metric not in s.metrics:
      raise ResponseError(f"{where}: metric {metric!r} not logged for task {f.task!r}; available: {list(s.metrics)}")
    v = s.metrics[metric]
    if not isinstance(v, float):
      raise ResponseError(
          f"{where}: metric {metric!r} of task {f.task!r} is {type(v).__name__} {v!r:.60}, not a per-document "
          "number (corpus-level metrics such as bleu/f1 log raw pairs); choose a per-document metric"
      )
    out[s.doc_id] = v
  return out
