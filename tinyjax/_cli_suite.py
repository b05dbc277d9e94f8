"""``tinyjax suite build`` and ``tinyjax suite estimate`` (a tiny Open LLM Leaderboard, docs/suites.md)."""

from __future__ import annotations

import json
import pathlib

import numpy as np

from tinyjax._cli_common import count_type, seed_type
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
  sub = p.add_subparsers(dest="suite_command", metavar="{build,estimate}", required=True,
                         help="build a suite once, then estimate from harness logs")

  b = sub.add_parser(
      "build", help="build a suite from a leaderboard's response matrices and full scores",
      description="Builds a suite from a folder laid out like metabench's Open LLM Leaderboard v1 data "
                  "(<benchmark>.responses.parquet: rows = models, columns = item ids, 0/1; "
                  "<benchmark>.full_scores.csv: columns model, full_benchmark_score_pct). Prints each "
                  "benchmark's validation error and interval half-width, and saves one .tjx file.")
  b.add_argument("name", choices=SUITES, help="which suite")
  b.add_argument("--data", required=True, metavar="DIR",
                 help="the data folder (it, or its openllm_v1/ or irt/openllm_v1/ subfolder, holds the files)")
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
      description="Reads a suite built by `tinyjax suite build` and ONE model's lm-evaluation-harness "
                  "--log_samples output (a folder or samples_*.jsonl files of the metabench *_secondary tasks). "
                  "Items are matched by the documents' metabench_idx / mb_sub_idx, never by doc_id order. Prints "
                  "per benchmark the estimate, its interval, the kept items answered, and the average.")
  e.add_argument("suite", metavar="SUITE", help="a suite file written by `tinyjax suite build`")
  e.add_argument("logs", metavar="LOGS", help="lm-eval --log_samples folder or samples_*.jsonl file")
  e.add_argument("--metric", default=None,
                 help="metric to read instead of the leaderboard's, for every benchmark or as "
                      "'bench=metric,bench=metric'")
  e.add_argument("--filter", default=None, help="lm-eval filter to read for tasks that log several (e.g. gsm8k)")
  e.add_argument("--json", default=None, metavar="FILE", help="also write the estimates as JSON")
  e.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV")
  e.set_defaults(func=_estimate)


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
  from tinyjax.suite._logs import LEADERBOARD_METRICS, LOG_KEYS
  board = LEADERBOARD_METRICS.get(bench)
  return f"{board}, logged as {logged}" if board is not None and LOG_KEYS.get(board) == logged else logged


def _build(args) -> int:
  import tinyjax as tj
  from tinyjax.suite import load_openllm_v1

  benches = None if args.benchmarks is None else [s.strip() for s in args.benchmarks.split(",") if s.strip()]
  responses, scores = load_openllm_v1(args.data, benchmarks=benches)
  n_models = len(set().union(*[set(r.index) for r in responses.values()]))
  print(f"{args.name}: {len(responses)} benchmarks ({', '.join(responses)}), {n_models} models; keeping "
        f"{'every item' if args.anchors is None else f'{args.anchors} items per benchmark'}")
  suite = tj.Suite.fit(responses, scores, n_anchors=args.anchors, seed=args.seed, level=args.level, unit="percent",
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
    pathlib.Path(args.anchors_out).write_text("\n".join(lines) + "\n")
    print(f"kept item ids written to {args.anchors_out}")
  return 0


def _estimate(args) -> int:
  import tinyjax as tj

  suite = tj.Suite.load(args.suite)
  est, logs = suite.estimate_from_lm_eval(args.logs, metric=_per_bench(args.metric), filter=args.filter)
  model = est.scores.index[0]
  unit = suite.unit or "full-score unit"
  pct = round(100 * est.level)
  print(f"model {model}: estimated full-benchmark scores ({unit}), {pct}% intervals")
  print(f"{'benchmark':12s} {'estimate':>9s}  {f'{pct}% interval':>17s}  {'answered':>9s}  from")
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
    rows.append({"model": model, "benchmark": b, "estimate": s, "lower": lo, "upper": hi, "answered": n,
                 "kept": k, "kept_accuracy": None if np.isnan(kept) else kept,
                 "task": None if la is None else la.task, "metric": None if la is None else la.metric,
                 "filter": None if la is None else la.filter})
  s, lo, hi = (float(x.at[model, "average"]) for x in (est.scores, est.lower, est.upper))
  answered = [b for b in suite.benchmarks if est.answered.at[model, b] > 0]
  print(f"{'average':12s} {s:9.2f}  [{lo:7.2f}, {hi:7.2f}]  over {len(suite.benchmarks)} benchmarks "
        f"({len(answered)} answered)")
  rows.append({"model": model, "benchmark": "average", "estimate": s, "lower": lo, "upper": hi,
               "answered": int(est.answered.loc[model].sum()), "kept": sum(suite.n_anchors.values()),
               "kept_accuracy": None, "task": None, "metric": None, "filter": None})
  if args.csv:
    import pandas as pd
    pd.DataFrame(rows).to_csv(args.csv, index=False)
    print(f"written to {args.csv}")
  if args.json:
    doc = {"model": model, "unit": unit, "level": est.level, "benchmarks": rows[:-1], "average": rows[-1],
           "answered_benchmarks": answered}
    pathlib.Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"written to {args.json}")
  return 0
