"""``tinyjax suite fetch``, ``build`` and ``estimate`` (a tiny Open LLM Leaderboard, docs/suites.md)."""

from __future__ import annotations

import argparse

import numpy as np

from tinyjax._atomic import atomic_write_text
from tinyjax._cli_common import count_type, input_path, seed_type
from tinyjax.errors import ConfigError

SUITES = ("openllm-v1",)


def _anchors_type(value: str):
  if value.lower() in ("all", "none"):
    return None
  return count_type(value)


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "suite", help="a tiny leaderboard: several benchmarks built together (build once, then estimate)",
      description="A suite keeps a few items of each benchmark of a leaderboard and predicts every benchmark's "
                  "FULL score, and their average, from a new model's answers on them (docs/suites.md).")
  sub = p.add_subparsers(dest="suite_command", metavar="{fetch,build,estimate,samples}", required=True,
                         help="fetch the data, build a suite once (or let estimate do both), then estimate from "
                              "harness logs")

  f = sub.add_parser(
      "fetch", help="download and convert a suite's data into the data cache (once)",
      description="Downloads metabench's Open LLM Leaderboard v1 files (github.com/adkipnis/metabench at a pinned "
                  "commit), checks each SHA-256, converts the R .rds fits into <benchmark>.responses.parquet and "
                  "<benchmark>.full_scores.csv, and keeps them in the data cache (~/.cache/tinyjax/data, "
                  "$TINYJAX_DATA_DIR or --data-dir). Data licence: CC BY-NC-SA 4.0.")
  f.add_argument("name", choices=SUITES, help="which suite's data")
  _add_data_options(f)
  f.add_argument("--benchmarks", default=None,
                 help="comma-separated subset of arc,gsm8k,truthfulqa,mmlu,winogrande; all five when not given")
  f.set_defaults(func=_fetch)

  b = sub.add_parser(
      "build", help="build a suite from a leaderboard's response matrices and full scores",
      description="Builds a suite from a folder laid out like metabench's Open LLM Leaderboard v1 data "
                  "(<benchmark>.responses.parquet: rows = models, columns = item ids, 0/1; "
                  "<benchmark>.full_scores.csv: columns model, full_benchmark_score_pct). Prints each "
                  "benchmark's validation error and interval half-width, and saves one .tjx file.")
  b.add_argument("name", choices=SUITES, help="which suite")
  b.add_argument("--data", default=None, metavar="DIR",
                 help="the data folder (it, or its openllm_v1/ or irt/openllm_v1/ subfolder, holds the files); "
                      "default: the data cache, fetched first if needed (see `tinyjax suite fetch`)")
  _add_data_options(b)
  b.add_argument("--anchors", type=_anchors_type, default=100,
                 help="items kept per benchmark, or 'all'")
  b.add_argument("--benchmarks", default=None, help="comma-separated subset of the benchmarks")
  b.add_argument("--out", required=True, metavar="SUITE", help="output file (a .tjx artifact)")
  b.add_argument("--seed", type=seed_type, default=0, help="seed of every random choice")
  b.add_argument("--level", type=float, default=0.9, help="nominal coverage of the intervals")
  b.add_argument("--anchors-out", default=None, metavar="FILE",
                 help="also write the kept item ids, one 'benchmark item_id' pair a line")
  b.set_defaults(func=_build)

  e = sub.add_parser(
      "estimate", help="estimate every benchmark's full score from one model's lm-eval harness log",
      description="Reads a suite (a file written by `tinyjax suite build`, or a suite name: openllm-v1 is fetched "
                  "if needed, built on first use and then reused from the data cache) and ONE model's "
                  "lm-evaluation-harness --log_samples output (a folder or samples_*.jsonl files of the standard tasks "
                  "arc_challenge, gsm8k, mmlu_<subject>, truthfulqa_mc1, winogrande, as `tinyjax suite samples` "
                  "runs them, or of metabench's *_secondary tasks). Items are matched by the documents' identity "
                  "(metabench_idx / mb_sub_idx; ARC id, normalised question or sentence for the standard tasks), "
                  "never by doc_id order. Prints per benchmark the estimate, its interval, the kept items answered, and the "
                  "average; --out and --json write the same numbers (percent, '_pct' in the column names).")
  e.add_argument("suite", metavar="SUITE", help="a suite file written by `tinyjax suite build`, or a suite name "
                                                "(openllm-v1)")
  e.add_argument("logs", type=input_path, metavar="LOGS", help="lm-eval --log_samples folder or samples_*.jsonl file")
  e.add_argument("--metric", default=None,
                 help="metric to read instead of the leaderboard's, for every benchmark or as "
                      "'bench=metric,bench=metric'")
  e.add_argument("--filter", default=None, help="lm-eval filter to read for tasks that log several (e.g. gsm8k)")
  e.add_argument("--out", default=None, metavar="CSV", help="also write the estimates (percent) to this CSV file")
  e.add_argument("--json", default=None, metavar="JSON", help="also write the estimates (percent) to this JSON file")
  e.add_argument("--csv", dest="out", default=None, help=argparse.SUPPRESS)   # deprecated spelling of --out
  named = e.add_argument_group("with a suite name (built on first use, then reused)")
  named.add_argument("--anchors", type=_anchors_type, default=100, help="items kept per benchmark, or 'all'")
  named.add_argument("--benchmarks", default=None, help="comma-separated subset of the benchmarks")
  named.add_argument("--seed", type=seed_type, default=0, help="seed of every random choice of the build")
  named.add_argument("--models", type=count_type, default=None, metavar="N",
                     help="build on the first N models only (a quick trial; less accurate)")
  _add_data_options(named)
  e.set_defaults(func=_estimate)
  _register_samples(sub)


def _add_data_options(p) -> None:
  p.add_argument("--data-dir", default=None, metavar="DIR",
                 help="the data cache; when not given, $TINYJAX_DATA_DIR, else ~/.cache/tinyjax/data")
  p.add_argument("--source", default=None, metavar="URL|DIR",
                 help="where to fetch metabench's files from: a folder laid out like the repository (offline "
                      "machines) or a base URL; when not given, raw.githubusercontent.com at the pinned commit")


def _bench_list(value):
  return None if value is None else [s.strip() for s in value.split(",") if s.strip()]


def _fetch(args) -> int:
  from tinyjax.suite import fetch

  benches = _bench_list(args.benchmarks)
  was_ready = fetch.is_fetched(args.data_dir, benches)
  folder = fetch.fetch_openllm_v1(args.data_dir, source=args.source, progress=True, benchmarks=benches)
  entries = fetch._manifest(folder).get("benchmarks", {})
  print(f"{args.name}: data {'already ' if was_ready else ''}in {folder}")
  for b, e in entries.items():
    print(f"  {b:12s} {e['models']:5d} models x {e['items']:4d} items")
  if was_ready:   # on a first fetch the library states it (stderr) as the data arrives
    print(fetch.NOTICE)
  return 0


def _per_bench(value):
  if value is None or "=" not in value:
    return value
  out = {}
  for part in value.split(","):
    if "=" not in part:
      raise ConfigError(f"--metric takes one name or 'bench=metric,...', got {value!r}")
    k, v = part.split("=", 1)
    out[k.strip()] = v.strip()
  return out


def _metric_name(bench: str, logged: str) -> str:
  """The metric as the leaderboard names it, with the log's key when lm-eval logs it under another one."""
  from tinyjax.data.openllm import LEADERBOARD_METRICS, LOG_KEYS
  board = LEADERBOARD_METRICS.get(bench)
  return f"{board}, logged as {logged}" if board is not None and LOG_KEYS.get(board) == logged else logged


def _build(args) -> int:
  from tinyjax.suite import Suite, load_openllm_v1

  benches = _bench_list(args.benchmarks)
  if args.data is None:
    from tinyjax.suite import fetch_openllm_v1
    args.data = fetch_openllm_v1(args.data_dir, source=args.source, progress=True, benchmarks=benches)
  responses, scores = load_openllm_v1(args.data, benchmarks=benches)
  n_models = len(set().union(*[set(r.index) for r in responses.values()]))
  print(f"{args.name}: {len(responses)} benchmarks ({', '.join(responses)}), {n_models} models; keeping "
        f"{'every item' if args.anchors is None else f'{args.anchors} items per benchmark'}")
  suite = Suite.fit(responses, scores, n_anchors=args.anchors, seed=args.seed, level=args.level, unit="percent",
                    progress=True)
  print(f"validation on held-out models, full score in points (RMSE; {round(100 * suite.level)}% interval "
        "half-width, answered / benchmark missing):")
  for name in suite.benchmarks:
    v = suite.validation[name]
    print(f"  {name:12s} kept {v['n_anchors']:4d} ({v['strategy']:8s})  RMSE {v['rmse']:5.2f}  "
          f"+-{v['half_width']:.2f} / +-{v['half_width_missing']:.2f}  [{v['estimator']}]")
  a = suite.validation["average"]
  print(f"  {'average':12s} {'':20s}  RMSE {a['rmse']:5.2f}  +-{a['half_width']:.2f}")
  path = suite.save(args.out)
  print(f"suite written to {path}")
  if args.anchors_out:
    lines = [f"{b} {i}" for b, ids in suite.anchors.items() for i in ids]
    atomic_write_text(args.anchors_out, "\n".join(lines) + "\n")
    print(f"kept item ids written to {args.anchors_out}")
  return 0


def _estimate(args) -> int:
  suite = _load_suite(args)
  est, logs = suite.estimate_from_lm_eval(args.logs, metric=_per_bench(args.metric), filter=args.filter)
  model = est.scores.index[0]
  unit = suite.unit or "full-score unit"
  pct = round(100 * est.level)
  print(f"model {model}: estimated full-benchmark scores ({unit}), {pct}% intervals")
  print(f"{'benchmark':12s} {'estimate':>9s}  {f'{pct}% interval':>17s}  {'answered':>9s}  from")
  sfx = "_pct" if suite.unit == "percent" else ""   # the unit in every score column's name
  to_unit = 100.0 if suite.unit == "percent" else 1.0   # the kept items' accuracy, in the same unit
  rows = []
  for b in suite.benchmarks:
    s, lo, hi = (float(x.at[model, b]) for x in (est.scores, est.lower, est.upper))
    n, k = int(est.answered.at[model, b]), suite.n_anchors[b]
    la = logs.get(b)
    src = (f"{la.task} ({_metric_name(b, la.metric)}"
           + (f", filter {la.filter}" if la.filter not in (None, "none") else "") + ")"
           if la is not None else "not in the log: from the other benchmarks")
    kept = float(est.kept_accuracy.at[model, b])
    print(f"{b:12s} {s:9.2f}  [{lo:7.2f}, {hi:7.2f}]  {n:4d}/{k:<4d}  {src}")
    rows.append({"model": model, "benchmark": b, f"estimate{sfx}": s, f"lower{sfx}": lo, f"upper{sfx}": hi,
                 "answered": n, "kept": k, f"kept_accuracy{sfx}": None if np.isnan(kept) else to_unit * kept,
                 "task": None if la is None else la.task, "metric": None if la is None else la.metric,
                 "filter": None if la is None else la.filter})
  s, lo, hi = (float(x.at[model, "average"]) for x in (est.scores, est.lower, est.upper))
  answered = [b for b in suite.benchmarks if est.answered.at[model, b] > 0]
  print(f"{'average':12s} {s:9.2f}  [{lo:7.2f}, {hi:7.2f}]  over {len(suite.benchmarks)} benchmarks "
        f"({len(answered)} answered)")
  rows.append({"model": model, "benchmark": "average", f"estimate{sfx}": s, f"lower{sfx}": lo, f"upper{sfx}": hi,
               "answered": int(est.answered.loc[model].sum()), "kept": sum(suite.n_anchors.values()),
               f"kept_accuracy{sfx}": None, "task": None, "metric": None, "filter": None})
  if args.out:
    import pandas as pd

    from tinyjax.cli import write_csv
    write_csv(pd.DataFrame(rows), args.out)
    print(f"written to {args.out} ({unit})")
  if args.json:
    doc = {"model": model, "unit": unit, "level": est.level, "benchmarks": rows[:-1], "average": rows[-1],
           "answered_benchmarks": answered}
    from tinyjax.cli import write_json
    write_json(doc, args.json)
    print(f"written to {args.json} ({unit})")
  return 0


def _load_suite(args):
  """The suite of ``suite estimate``: a .tjx file, or a suite name (fetched, built once, then cached)."""
  import os

  from tinyjax.suite import Suite
  from tinyjax.suite.fetch import SUITE_NAMES
  if args.suite in SUITE_NAMES and not os.path.exists(args.suite):
    return Suite.load(args.suite, n_anchors=args.anchors, seed=args.seed, benchmarks=_bench_list(args.benchmarks),
                      n_models=args.models, data_dir=args.data_dir, source=args.source, progress=True)
  given = [f"--{k.replace('_', '-')}" for k in ("benchmarks", "models", "data_dir", "source")
           if getattr(args, k) is not None]
  if given:
    raise ConfigError(f"{', '.join(given)} apply to a suite name ({', '.join(SUITE_NAMES)}), not to the file "
                      f"{args.suite}")
  return Suite.load(args.suite)


# --- suite samples: the --samples JSON for lm-eval's standard tasks (tinyjax.suite.standard) ---------------------

def _register_samples(sub) -> None:
  s = sub.add_parser(
      "samples", help="write lm-eval's --samples JSON so the standard tasks run only the kept items",
      description="Finds the kept items among the documents of lm-eval's standard tasks at the leaderboard's "
                  "settings (arc_challenge 25-shot, gsm8k 5-shot, mmlu_<subject> 5-shot, truthfulqa_mc1 0-shot, "
                  "winogrande 5-shot) by their identity (ARC id; normalised question / sentence, with the subject "
                  "for MMLU), writes the {task: [doc indices]} JSON that `lm_eval --samples` takes, and prints "
                  "the lm_eval commands (one per shot count). `suite estimate` reads their logs back.")
  s.add_argument("suite", metavar="SUITE",
                 help="a suite file (.tjx), or the name openllm-v1 (with --anchors all: every item of the set, "
                      "which covers every suite built on it; with --anchors N: the suite built, or reused, by name)")
  s.add_argument("--anchors", type=_anchors_type, default=argparse.SUPPRESS, metavar="N|all",
                 help="with a suite name: items kept per benchmark, or 'all' (every item of the set when not given)")
  s.add_argument("--out", default="samples.json", metavar="FILE", help="the JSON to write")
  s.add_argument("--datasets", default=None, metavar="DIR",
                 help="a folder of datasets save_to_disk copies, one per task (DIR/arc_challenge, ...), for "
                      "machines without network; default: datasets.load_dataset from the Hub (or its cache)")
  s.add_argument("--data", default=None, metavar="DIR",
                 help="folder of metabench's item files (<bench>-secondary.parquet, itself or in items/final/ "
                      "below it); default: the data cache, where `tinyjax suite fetch` puts them")
  s.add_argument("--model-args", default="pretrained=<MODEL>", metavar="ARGS",
                 help="the --model_args of the printed lm_eval commands")
  s.add_argument("--output-path", default="lm_eval_out", metavar="DIR",
                 help="the --output_path of the printed lm_eval commands")
  _add_data_options(s)
  s.set_defaults(func=_samples)


def _samples(args) -> int:
  import os

  from tinyjax.suite import OPENLLM_V1, standard
  from tinyjax.suite.fetch import SUITE_NAMES, metabench_dir

  named = args.suite in SUITE_NAMES and not os.path.exists(args.suite)
  anchors_given = hasattr(args, "anchors")
  if not named and (anchors_given or args.data_dir is not None or args.source is not None):
    raise ConfigError(f"--anchors, --data-dir and --source apply to a suite name ({', '.join(SUITE_NAMES)}); the "
                      f"file {args.suite} keeps the items it was built with")
  items = args.data if args.data is not None else metabench_dir(args.data_dir)
  n = args.anchors if anchors_given else None
  if named and n is None:
    table = standard.identity_table(items, list(OPENLLM_V1))
    anchors, what = {b: list(t) for b, t in table.items()}, f"{args.suite}, every item"
  else:
    from tinyjax.suite import Suite
    suite = (Suite.load(args.suite, n_anchors=n, data_dir=args.data_dir, source=args.source, progress=True)
             if named else Suite.load(args.suite))
    anchors, what = suite.anchors, f"{args.suite}, {sum(suite.n_anchors.values())} kept items"
  tasks = standard.tasks_for(anchors, items)
  data = standard.load_task_datasets(tasks, args.datasets)
  samples = standard.samples_for(anchors, data, items)
  from tinyjax.cli import write_json
  write_json(samples, args.out)
  n_docs = sum(len(v) for v in samples.values())
  print(f"{what}: {n_docs} documents of {len(samples)} lm-eval task(s), written to {args.out}")
  print("run only the kept items (one command per shot count; then `tinyjax suite estimate SUITE "
        f"{args.output_path}/<model>/`):")
  for line in standard.lm_eval_commands(samples, args.out, model_args=args.model_args,
                                        output_path=args.output_path):
    print(f"  {line}")
  return 0
