"""A model's answers on a suite's items, read from lm-evaluation-harness ``--log_samples`` output.

Pure reading: files in, one :class:`LogAnswers` per benchmark out; matching the answers to a suite's anchors is
the suite's business. Items are named by the document's own identity, never by ``doc_id`` order, as the openllm_v1
response matrices name them: ``"<benchmark>.<metabench_idx>"`` (``arc.1041``), for MMLU ``"mmlu.<mb_sub_idx>"``
(``mmlu.high_school_mathematics.236``).

* metabench's tasks (``metabench_<b>_secondary``) log those fields in each document.
* The standard tasks (``arc_challenge``, ``gsm8k``, ``mmlu_<subject>``, ``truthfulqa_mc1``, ``winogrande``,
  ``hellaswag``) log the standard datasets' rows: each document is matched to the kept items of the item files by
  its identity (:mod:`tinyjax.suite.standard`: ARC ``id``, HellaSwag ``ind``, the normalised question / sentence,
  with the subject for MMLU). Documents that are no kept item are ignored, so a full-benchmark log is read too.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from tinyjax._progress import logger as _logger
from tinyjax.data.lm_eval import LMEvalFile, LMEvalSample, find_lm_eval_files, read_lm_eval_file
from tinyjax.data.openllm import LEADERBOARD_METRICS, LOG_KEYS, id_field, suite_item_id
from tinyjax.errors import ConfigError, ItemError, MissingFileError, ResponseError

# LEADERBOARD_METRICS and LOG_KEYS (tinyjax.data.openllm, the one table) are read here and kept importable from here.
__all__ = ("LEADERBOARD_METRICS", "LOG_KEYS", "LogAnswers", "benchmark_of_task", "read_suite_logs")

logger = _logger("tinyjax.suite")

# lm-eval task names of the Open LLM Leaderboard v1 benchmarks, besides metabench_<b>[_primary|_secondary].
_PLAIN_TASKS = {"arc_challenge": "arc", "hellaswag": "hellaswag", "mmlu": "mmlu", "winogrande": "winogrande",
                "truthfulqa_mc1": "truthfulqa", "truthfulqa_mc2": "truthfulqa", "gsm8k": "gsm8k"}
_DEFAULT_FILTERS = {"gsm8k": "strict-match"}   # the leaderboard's harness read GSM8K's "#### <number>" answer


class LogAnswers(NamedTuple):
  """One benchmark's answers of one model, from one samples file."""

  benchmark: str              # "arc", "gsm8k", "hellaswag", "mmlu", "truthfulqa" or "winogrande"
  task: str                   # the lm-eval task ("metabench_arc_secondary")
  path: pathlib.Path          # the samples file
  model: str                  # the model id (results file's model_name, else the folder name)
  metric: str                 # the metric read ("acc_norm"; "acc" where the task logs MC1 as acc)
  filter: str                 # the filter whose records were read ("none" for most tasks, "strict-match")
  answers: dict[str, float]   # suite item id ("arc.1041") -> value in [0, 1], in file order
  logged_mean: float          # mean of the logged metric over the file's documents (that filter)


def benchmark_of_task(task: str) -> str | None:
  """The Open LLM Leaderboard v1 benchmark of an lm-eval task name, or None for any other task.

  ``metabench_<b>``, ``metabench_<b>_primary`` and ``metabench_<b>_secondary`` map to ``<b>`` (arc, gsm8k,
  hellaswag, mmlu, truthfulqa, winogrande); so do the plain leaderboard tasks ``arc_challenge``, ``hellaswag``,
  ``mmlu``, ``mmlu_<subject>`` (the 57 subjects), ``winogrande``, ``truthfulqa_mc1``, ``truthfulqa_mc2`` and
  ``gsm8k``.
  """
  from tinyjax.suite.standard import MMLU_SUBJECTS
  if task in _PLAIN_TASKS:
    return _PLAIN_TASKS[task]
  if task.startswith("mmlu_") and task[len("mmlu_"):] in MMLU_SUBJECTS:
    return "mmlu"
  if task.startswith("metabench_"):
    name = task[len("metabench_"):]
    for suffix in ("_secondary", "_primary"):
      name = name.removesuffix(suffix)
    if name in LEADERBOARD_METRICS:
      return name
  return None


def read_suite_logs(
    path: str | os.PathLike,
    *,
    benchmarks: Iterable[str] | None = None,
    metric: str | Mapping[str, str] | None = None,
    filter: str | Mapping[str, str] | None = None,  # noqa: A002 (lm-eval's own word)
    items=None,
) -> dict[str, LogAnswers]:
  """Reads one model's lm-eval ``--log_samples`` output of the Open LLM Leaderboard v1 benchmarks.

  The task of each samples file comes from its name (``samples_<task>_<timestamp>.jsonl``) and its benchmark from
  :func:`benchmark_of_task`; files of other tasks are skipped, and logged. Each document is named by its own
  identity field (``metabench_idx``; MMLU's ``mb_sub_idx``), never by its ``doc_id``, so the answers fit the
  columns of the openllm_v1 response matrices whatever the order of the log. Documents of the standard tasks
  (``arc_challenge``, ``gsm8k``, ``mmlu_<subject>``, ``truthfulqa_mc1``, ``winogrande``, ``hellaswag``) carry no
  such field: each is matched by its identity to the items of the item files (``items``; see
  :mod:`tinyjax.suite.standard`), and documents that are no item of them are ignored. MMLU may come as one file
  per ``mmlu_<subject>`` task.

  * Metric: :data:`LEADERBOARD_METRICS` per benchmark unless ``metric`` says otherwise, read under its log key
    (:data:`LOG_KEYS`): TruthfulQA's ``"mc1"`` is the ``acc`` that ``metabench_truthfulqa_secondary`` and
    ``truthfulqa_mc1`` log, the accuracy of choosing the first of ``mc1_targets`` (the true answer) by
    log-likelihood, which is what the truthfulqa matrix holds. ``truthfulqa_mc2``'s ``acc`` is the mc2
    probability mass instead, and is refused unless ``metric`` names it. When the records lack the metric, the
    file's ``acc`` (else its only metric) is read instead, with a logged note.
  * Filter: a file that logs each document once per filter (GSM8K: ``strict-match``, ``flexible-extract``; see
    :func:`tinyjax.data.read_lm_eval_file` for logs without a ``filter`` key) is read at ``filter``, by default
    ``strict-match`` for GSM8K (the leaderboard's own reading of the answer) and the first filter otherwise;
    the choice is logged and returned.

  Args:
    path: a samples ``.jsonl`` file or a folder (searched recursively) of one model's run.
    benchmarks: the benchmarks wanted (a suite's names); tasks of others are skipped with a logged note.
      None keeps every benchmark found.
    metric: a metric name for every benchmark, or a dict benchmark -> metric (the others keep the default).
    filter: a filter name for the files that log several, or a dict benchmark -> filter name.
    items: the item files that standard-task logs are matched against: a folder of
      ``<bench>-secondary.parquet`` files (metabench's ``items/final/``; itself or a data root above it), a dict
      ``{bench: DataFrame}`` or ``{bench: {item id: Identity}}``. None: the data cache's items
      (``$TINYJAX_DATA_DIR``, else ``~/.cache/tinyjax/data``), where ``tinyjax suite fetch`` puts them. Unused for
      metabench's tasks.

  Returns:
    Benchmark -> :class:`LogAnswers`, benchmarks in the order of ``benchmarks`` (else of
    :data:`LEADERBOARD_METRICS`).

  Raises:
    ResponseError: no recognised task (or none of ``benchmarks``), several models or two files of one
      benchmark (one task) under ``path``, a document without its identity field, a missing metric or filter, a
      value that is not a number in [0, 1], an item logged twice, or any error of
      :func:`tinyjax.data.read_lm_eval_file`.
    ItemError: a standard task's log whose documents match no item of the item files (named), or a document
      that matches several alike.
    MissingFileError: ``path`` does not exist, or a standard task's log without item files to match it.
  """
  wanted = _check_names(benchmarks, "benchmarks")
  if not (metric is None or isinstance(metric, (str, Mapping))):
    raise ConfigError(f"metric must be a name or a dict benchmark -> metric, got {type(metric).__name__}")
  if not (filter is None or isinstance(filter, (str, Mapping))):
    raise ConfigError(f"filter must be a name or a dict benchmark -> filter, got {type(filter).__name__}")
  files = find_lm_eval_files(path)
  unknown = [f.task for f in files if benchmark_of_task(f.task) is None]
  known = [f for f in files if benchmark_of_task(f.task) is not None]
  if unknown:
    logger.info(f"skipped task(s) {sorted(set(unknown))}: not an Open LLM Leaderboard v1 benchmark")
  if not known:
    raise ResponseError(f"{path}: no Open LLM Leaderboard v1 task among the tasks found "
                        f"{sorted({f.task for f in files})}; expected metabench_<benchmark>_secondary (or "
                        "arc_challenge, hellaswag, mmlu, winogrande, truthfulqa_mc1, gsm8k)")
  if wanted is not None:
    other = [f for f in known if benchmark_of_task(f.task) not in wanted]
    for f in other:
      logger.info(f"skipped task {f.task!r}: the suite has no {benchmark_of_task(f.task)} (it has {wanted})")
    known = [f for f in known if benchmark_of_task(f.task) in wanted]
    if not known:
      raise ResponseError(f"{path}: the log holds tasks {sorted({f.task for f in files})}; the suite has {wanted}")

  models = sorted({f.model for f in known})
  if len(models) > 1:
    where = {m: str(next(f.path.parent for f in known if f.model == m)) for m in models}
    raise ResponseError(f"{path} holds the runs of {len(models)} models {where}; pass one model's folder")
  by_benchmark: dict[str, list[LMEvalFile]] = {}
  for f in known:
    b = benchmark_of_task(f.task)
    prior = by_benchmark.setdefault(b, [])
    # MMLU's standard run is one task per subject: several files, one per mmlu_<subject> task.
    if prior and not (all(_is_subject_task(g.task) for g in prior + [f]) and f.task not in {g.task for g in prior}):
      other = next((g for g in prior if g.task == f.task), prior[0])
      raise ResponseError(f"two samples files of benchmark {b!r} for model {f.model!r}: {other.path} and "
                          f"{f.path}; keep one run (one file per benchmark, or per mmlu_<subject> task)")
    prior.append(f)

  order = wanted if wanted is not None else list(LEADERBOARD_METRICS)
  cache: dict[str, dict] = {}

  def table():   # the kept items' identities, read once and only when a standard task's documents need them
    if not cache:
      standard = [b for b in order if b in by_benchmark and not _is_metabench(by_benchmark[b][0].task)]
      cache.update(_identities(items, standard, [f.task for b in standard for f in by_benchmark[b]]))
    return cache

  out = {b: _read_benchmark(by_benchmark[b], b, metric, filter, table) for b in order if b in by_benchmark}
  for a in out.values():
    logger.info(f"{a.benchmark}: {len(a.answers)} item(s) from {a.path.name}, {a.metric!r} (filter {a.filter!r}), "
                f"mean {a.logged_mean:.4f}")
  return out


def _check_names(names, what) -> list[str] | None:
  if names is None:
    return None
  names = [names] if isinstance(names, str) else list(names)
  if not names or not all(isinstance(n, str) for n in names):
    raise ConfigError(f"{what} must be a non-empty list of names, got {names!r}")
  return names


def _is_metabench(task: str) -> bool:
  return task.startswith("metabench_")


def _is_subject_task(task: str) -> bool:
  return task.startswith("mmlu_") and benchmark_of_task(task) == "mmlu"


def default_items_dir() -> pathlib.Path:
  """Where ``tinyjax suite fetch`` keeps metabench's item files (``items/final/`` below it), in the data cache
  (``$TINYJAX_DATA_DIR``, else ``~/.cache/tinyjax/data``)."""
  try:
    from tinyjax.suite.fetch import metabench_dir
  except ImportError:   # pragma: no cover (a tree without the fetch module)
    env = os.environ.get("TINYJAX_DATA_DIR")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "tinyjax" / "data"
  return metabench_dir()


def _identities(items, benchmarks: list[str], tasks: list[str]):
  from tinyjax.suite.standard import identity_table
  if items is None:
    items = default_items_dir()
    if not items.exists():
      raise MissingFileError(
          f"the log holds standard lm-eval task(s) {sorted(set(tasks))[:6]}, whose documents are matched to the "
          f"kept items by identity, which needs the item files; none in the data cache {items} (run "
          "`tinyjax suite fetch openllm-v1`, or pass items=DIR, a folder of <bench>-secondary.parquet files)")
  return identity_table(items, benchmarks)


def _read_benchmark(files: list[LMEvalFile], b: str, metric, filter_, table) -> LogAnswers:
  if _is_metabench(files[0].task):
    return _read_answers(files[0], b, metric, filter_)
  parts = [_read_answers(f, b, metric, filter_, table) for f in files]
  if len(parts) == 1 and isinstance(parts[0], LogAnswers):   # a plain task name over metabench's documents
    return parts[0]
  table = table()
  answers: dict[str, float] = {}
  for p in parts:
    answers.update(p.answers)
  tasks = [p.task for p in parts]
  if not answers:
    raise ItemError(f"no document of task(s) {tasks} ({', '.join(str(p.path) for p in parts[:3])}) is an item of "
                    f"the suite's {b} item set ({len(table[b])} items); is it a log of another dataset?")
  if len(parts) == 1:
    return LogAnswers(*parts[0][:-1])
  if len({(p.metric, p.filter) for p in parts}) > 1:
    raise ResponseError(f"the {b} files log different metrics or filters: "
                        f"{sorted({(p.task, p.metric, p.filter) for p in parts})}")
  counts = [p.n_docs for p in parts]
  mean = sum(p.logged_mean * n for p, n in zip(parts, counts)) / sum(counts)
  return LogAnswers(b, f"mmlu_<subject> ({len(parts)} tasks)", parts[0].path, parts[0].model, parts[0].metric,
                    parts[0].filter, answers, mean)


def _read_answers(f: LMEvalFile, b: str, metric, filter_, kept=None):
  groups = read_lm_eval_file(f)
  names = list(groups)
  want = filter_.get(b) if isinstance(filter_, Mapping) else filter_
  if len(names) == 1 and not isinstance(filter_, Mapping):
    want = names[0]            # a plain name is for the files with several filters
  elif want is None:
    want = _DEFAULT_FILTERS[b] if _DEFAULT_FILTERS.get(b) in groups else names[0]
    if len(names) > 1:
      logger.info(f"{b}: {f.path.name} logs filters {names}; using {want!r} (pass filter= to choose)")
  if want not in groups:
    raise ResponseError(f"{f.path}: filter {want!r} not found for task {f.task!r}; filters in the file: {names}")
  samples = groups[want]
  asked = metric.get(b) if isinstance(metric, Mapping) else metric
  name = _pick_metric(f, b, samples, asked)
  values = []
  for s in samples:
    where = f"{f.path}:{s.line}"
    v = s.metrics.get(name)
    if v is None:
      raise ResponseError(f"{where}: metric {name!r} not logged for this document (it logs {list(s.metrics)})")
    if not isinstance(v, float) or not 0.0 <= v <= 1.0:
      raise ResponseError(f"{where}: metric {name!r} is {v!r:.60}, not a number in [0, 1]")
    values.append(v)
  answers: dict[str, float] = {}
  field = id_field(b)
  if kept is not None and all(isinstance(s.doc, Mapping) and field in s.doc for s in samples):
    kept = None   # a plain task name whose documents carry metabench's identity field: read by it
  if kept is None:
    for s, v in zip(samples, values):
      item = _item_id(f, b, s)
      if item in answers:
        raise ResponseError(f"{f.path}:{s.line}: item {item!r} logged twice (filter {want!r})")
      answers[item] = v
  else:
    rows = _matched_rows(f, b, samples, kept()[b])
    answers = {item: values[r] for item, r in sorted(rows.items(), key=lambda kv: kv[1])}
  mean = sum(values) / len(values)
  if kept is None:
    return LogAnswers(b, f.task, f.path, f.model, name, want, answers, mean)
  return _Part(b, f.task, f.path, f.model, name, want, answers, mean, len(values))


class _Part(NamedTuple):   # one standard-task file: LogAnswers' fields and its document count
  benchmark: str
  task: str
  path: pathlib.Path
  model: str
  metric: str
  filter: str
  answers: dict[str, float]
  logged_mean: float
  n_docs: int


def _matched_rows(f: LMEvalFile, b: str, samples: list[LMEvalSample], kept) -> dict[str, int]:
  """The logged documents that are kept items of ``b``, by identity: ``{item id: position in samples}``."""
  from tinyjax.suite.standard import doc_identity, match_rows, task_spec
  try:
    spec = task_spec("truthfulqa_mc1" if f.task == "truthfulqa_mc2" else f.task)
  except ConfigError:
    raise ResponseError(f"{f.path}: task {f.task!r} logs no metabench identity field and is not a standard task "
                        "whose documents tinyjax can match (arc_challenge, gsm8k, mmlu_<subject>, truthfulqa_mc1, "
                        "winogrande, hellaswag)") from None
  subject = spec.name if b == "mmlu" else None
  rows = []
  for s in samples:
    try:
      rows.append(doc_identity(b, s.doc if isinstance(s.doc, Mapping) else {}, subject=subject))
    except ItemError as err:
      raise ResponseError(f"{f.path}:{s.line}: the document (doc_id {s.doc_id!r}) cannot be matched: {err}") from None
  mine = {i: ident for i, ident in kept.items() if ident.task == spec.task}
  m = match_rows(mine, rows)
  if m.ambiguous:
    raise ItemError(f"{f.path}: task {f.task!r}: kept item(s) match several logged documents alike: "
                    + ", ".join(f"{i} (lines {[samples[r].line for r in rs]})"
                                for i, rs in list(m.ambiguous.items())[:5]))
  ignored = len(samples) - len(m.rows)
  if ignored:
    logger.info(f"{f.path.name}: {len(m.rows)} document(s) matched kept items of {b}; {ignored} other(s) ignored")
  if mine and not m.rows:
    logger.warning(f"{f.path.name}: none of the {len(mine)} kept item(s) of task {f.task!r} is in the log")
  return m.rows


def _pick_metric(f: LMEvalFile, b: str, samples: list[LMEvalSample], asked: str | None) -> str:
  logged = list(dict.fromkeys(k for s in samples for k in s.metrics))
  if asked is not None:
    if asked not in logged:
      raise ResponseError(f"{f.path}: metric {asked!r} not logged for task {f.task!r}; it logs {logged}")
    return asked
  default = LEADERBOARD_METRICS[b]
  if default in logged:
    return default
  if b == "truthfulqa" and "mc2" in f.task.split("_"):
    raise ResponseError(f"{f.path}: task {f.task!r} logs the mc2 probability mass, while the truthfulqa items hold "
                        "MC1; run metabench_truthfulqa_secondary (or truthfulqa_mc1), or pass metric='acc' to read "
                        "it anyway")
  key = LOG_KEYS.get(default)
  if key in logged:            # MC1, logged as acc (the first of mc1_targets chosen by log-likelihood)
    logger.info(f"{b}: reading {default!r} from {f.task!r}'s {key!r} (the first of mc1_targets chosen by "
                "log-likelihood)")
    return key
  fallback = "acc" if "acc" in logged else (logged[0] if len(logged) == 1 else None)
  if fallback is None:
    raise ResponseError(f"{f.path}: metric {default!r} not logged for task {f.task!r}, which logs {logged}; "
                        "pass metric= to choose one")
  logger.info(f"{b}: {f.task!r} does not log {default!r}; using its {fallback!r}")
  return fallback


def _item_id(f: LMEvalFile, b: str, s: LMEvalSample) -> str:
  field = id_field(b)
  if not isinstance(s.doc, Mapping) or field not in s.doc:
    raise ResponseError(
        f"{f.path}:{s.line}: the document (doc_id {s.doc_id!r}) has no {field!r} field; items are matched by the "
        f"document's own identity field, which the metabench tasks (metabench_{b}_secondary) log"
    )
  try:
    return suite_item_id(b, s.doc[field])
  except ItemError as err:
    raise ResponseError(f"{f.path}:{s.line}: {err}") from None
