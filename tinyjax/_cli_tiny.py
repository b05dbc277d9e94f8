"""``tinyjax build``, ``tinyjax estimate`` and ``tinyjax adaptive`` (tiny benchmarks)."""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

from tinyjax._atomic import atomic_write_text
from tinyjax._cli_common import add_matrix_options, count_type, dim_type, input_path, number_type, read_matrix, seed_type
from tinyjax.cli import write_csv, write_json
from tinyjax.errors import ItemError

#: ``--se-target``: a positive number.
_se_type = number_type(float, 0.0, "a standard error target is a positive number", strict=True)



def estimator_columns() -> dict[str, str]:
  """{estimator: display name} in the order every table shows them (``tinyjax.tiny.estimators.REGISTRY``, read when
  a table is printed, after the estimates: building the parser stays jax-free); the recommended one is
  tinyjax.tiny.RECOMMENDED (the blend)."""
  from tinyjax.tiny.estimators import REGISTRY
  return {e.name: e.display for e in REGISTRY}


def register(subparsers) -> None:
  from tinyjax.choices import ANCHOR_STRATEGIES as STRATEGIES
  from tinyjax.choices import DEFAULT_ANCHOR_STRATEGY as DEFAULT_STRATEGY
  from tinyjax.choices import RECOMMENDED_ESTIMATOR as RECOMMENDED

  p = subparsers.add_parser(
      "build", help="build a tiny benchmark (IRT fit + anchor items) from a response matrix",
      description="Fits an IRT model on RESPONSES (models x items, 0/1 or scores in [0, 1], NaN = missing), "
                  "picks anchor items, calibrates the estimators on validation folds of the models, and "
                  "saves everything to one .tjx file. The anchors' item ids are printed (and written with "
                  "--anchors-out): those are the questions to run on a new model. The validation line gives "
                  f"every estimator's mean absolute error in points; the recommended estimate is the "
                  f"{RECOMMENDED}. The same validation folds also run adaptive testing (as many items as anchors, "
                  "chosen one at a time by Fisher information); the recommendation line says which workflow, "
                  "static anchors or adaptive, had the smaller error, and the command that runs it.")
  p.add_argument("responses", type=input_path, metavar="RESPONSES",
                 help="response matrix: .csv/.tsv/.parquet/.npy/.npz or a saved datasets folder "
                      "(rows = models, columns = items)")
  p.add_argument("--anchors", type=int, default=100, help="number of anchor items")
  p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                 help="anchor selection strategy")
  p.add_argument("--out", required=True, metavar="TINY", help="output file (a .tjx artifact)")
  p.add_argument("--groups", default=None, metavar="FILE",
                 help="text file with one group label per item (e.g. MMLU subjects): groups count equally "
                      "in the score; needed by --strategy stratified")
  p.add_argument("--dim", default="auto", type=dim_type,
                 help="IRT dimension, or 'auto' to choose it on held-out entries. The default is 'auto' here and 1 "
                      "in `tinyjax fit`: a tiny benchmark's estimates gain from the better dimension, and it is "
                      "built once")
  p.add_argument("--kind", default="2pl", choices=("1pl", "2pl", "3pl"), help="IRT model kind")
  p.add_argument("--level", type=float, default=0.9, help="nominal coverage of the intervals")
  p.add_argument("--seed", type=seed_type, default=0, help="seed of every random choice")
  p.add_argument("--folds", type=int, default=None,
                 help="validation folds of the models for the gp-IRT weight and the intervals; when omitted, 5 "
                      "below 500 models, else one 20%% holdout")
  p.add_argument("--anchors-out", default=None, metavar="FILE", help="also write the anchor item ids, one a line")
  add_matrix_options(p)
  p.set_defaults(func=_build)

  p = subparsers.add_parser(
      "estimate", help="estimate full-benchmark scores from answers on a tiny benchmark's anchors",
      description="Reads a tiny benchmark built by `tinyjax build` and the answers of new models (rows = models). "
                  "When ANSWERS has item ids (a csv header, parquet columns, lm-eval logs), its columns are "
                  "matched to the anchors by id, in any order: extra columns (e.g. a full response matrix) are "
                  "ignored and reported, a missing anchor is an error that names it. Without ids (a .npy, a csv "
                  "without header) it must have exactly one column per anchor, in the anchors' order. Prints "
                  "every estimator in percent points and the interval of the recommended estimate "
                  f"({RECOMMENDED}, est.score in Python); --out and --json write the same numbers, also in percent.")
  p.add_argument("tiny", type=input_path, metavar="TINY", help="tiny benchmark file (.tjx) written by `tinyjax build`")
  p.add_argument("answers", type=input_path, metavar="ANSWERS",
                 help="answers matrix (same formats as for build; NaN = not answered), or lm-evaluation-harness "
                      "--log_samples output (a samples_*.jsonl file or a folder of them) of the anchor items")
  _add_answer_options(p)
  p.set_defaults(func=_estimate)

  p = subparsers.add_parser(
      "adaptive", help="estimate full-benchmark scores by adaptive testing on a tiny benchmark",
      description="Reads a tiny benchmark built by `tinyjax build` and the answers of models to every item of the "
                  "benchmark (rows = models). Each model is asked the most informative item at its current "
                  "ability, one at a time, up to --budget items (or until its ability standard error reaches "
                  "--se-target), and its full score is estimated by p-IRT with the interval calibrated on the tiny "
                  "benchmark's validation folds: the offline (batched) form of TinyBenchmark.adaptive_test(), "
                  "whose ask/tell session runs a new model on the chosen items only. ANSWERS is matched to the "
                  "benchmark's items by id (a csv header, parquet columns, lm-eval logs), in any order; without "
                  "ids it must have one column per item, in order. Prints the estimates in percent points and "
                  "says when the tiny benchmark recommends the static workflow (`tinyjax estimate`) instead.")
  p.add_argument("tiny", type=input_path, metavar="TINY", help="tiny benchmark file (.tjx) written by `tinyjax build`")
  p.add_argument("answers", type=input_path, metavar="ANSWERS",
                 help="answers of the models to the benchmark's items (same formats as for build; NaN = not "
                      "available, never asked), or lm-evaluation-harness --log_samples output")
  p.add_argument("--budget", type=count_type, default=None,
                 help="most items asked per model; when omitted, the number of anchors (what the validation "
                      "measured)")
  p.add_argument("--se-target", type=_se_type, default=None,
                 help="stop a model once its ability standard error is at most this; when omitted, use the budget")
  _add_answer_options(p)
  p.set_defaults(func=_adaptive)


def _add_answer_options(p) -> None:
  """What `estimate` and `adaptive` share: where to write, which lm-eval metric and filter, the matrix options."""
  p.add_argument("--out", default=None, metavar="CSV", help="also write the estimates (percent) to this CSV file")
  p.add_argument("--json", default=None, metavar="JSON", help="also write the estimates (percent) to this JSON file")
  p.add_argument("--metric", default="acc",
                 help="lm-eval logs: the per-document metric to read (acc, acc_norm, exact_match, ...)")
  p.add_argument("--filter", default=None,
                 help="lm-eval logs: the filter whose values to read (e.g. strict-match); the first logged one "
                      "when omitted")
  add_matrix_options(p)
  for action in p._actions:   # for answers, an empty column is an unanswered question, never dropped
    if action.dest == "drop_empty":
      action.help = ("drop models (rows) that answered nothing, and report them, instead of failing; a question "
                     "no model answered (an all-NaN column, as one model's NaN answer makes) is kept as unanswered: "
                     "a missing answer is allowed and widens that model's interval")


def _build(args) -> int:
  from tinyjax.tiny import TinyBenchmark

  r = read_matrix(args, args.responses)
  groups = None
  if args.groups:
    groups = [line.strip() for line in pathlib.Path(args.groups).read_text().splitlines() if line.strip()]
    if len(groups) != r.n_items:
      raise ItemError(f"--groups has {len(groups)} labels but the matrix has {r.n_items} items")
  t0 = time.perf_counter()
  tb = TinyBenchmark.fit(r, n_anchors=args.anchors, strategy=args.strategy, seed=args.seed, groups=groups,
                         kind=args.kind, dim=args.dim, level=args.level, n_folds=args.folds)
  tb.save(args.out)   # every file before the first line printed (`| head` cannot lose one)
  ids = tb.anchor_ids
  if args.anchors_out:
    atomic_write_text(args.anchors_out, "\n".join(ids) + "\n")
  print(f"built {tb!r} from {r.n_models} models x {r.n_items} items in {time.perf_counter() - t0:.1f}s")
  print(validation_line(tb))
  print(f"saved to {args.out}")
  for line in recommendation_lines(tb, args.out):
    print(line)
  shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
  print(f"anchor items: {shown}")
  if args.anchors_out:
    print(f"anchor item ids written to {args.anchors_out}")
  return 0


def validation_mae(tb) -> dict[str, float]:
  """Every estimator's mean absolute error on the validation models, in points (gp-IRT's included)."""
  v = tb.validation
  from tinyjax.tiny.estimators import GPIRT
  maes = dict(v["maes"])
  maes[GPIRT] = v["gpirt_mae"]
  return {e: 100 * float(maes[e]) for e in estimator_columns() if e in maes}


def validation_line(tb) -> str:
  """One line: the same metric (validation MAE, points) for every estimator, the recommended one marked."""
  from tinyjax.tiny import RECOMMENDED as rec
  display = estimator_columns()
  parts = [f"{display[e]} {m:.2f}" + (" (recommended)" if e == rec else "") for e, m in validation_mae(tb).items()]
  return (f"validation on {tb.validation['n_val']} held-out train models, mean absolute error in points: "
          + ", ".join(parts))


def _points(x: float) -> str:
  return f"{100 * float(x):.2f}"


def recommendation_lines(tb, path) -> list[str]:
  """Which workflow the tiny benchmark recommends, with both validation errors in points, and how to run it."""
  rec = tb.recommendation
  k = int(tb.anchors.shape[0])
  if not np.isfinite(rec["mae_adaptive"]):
    return [f"recommended workflow: static (adaptive testing was not compared; static {_points(rec['mae_static'])} "
            "points)", f"run it: answer the {k} anchor items, then `tinyjax estimate {path} ANSWERS`"]
  both = f"static {_points(rec['mae_static'])}, adaptive {_points(rec['mae_adaptive'])}"
  if np.isfinite(rec["mae_static_tail"]) and np.isfinite(rec["mae_adaptive_tail"]):
    both += (f"; beyond the train range: static {_points(rec['mae_static_tail'])}, adaptive "
             f"{_points(rec['mae_adaptive_tail'])}")
  lines = [f"recommended workflow: {rec['workflow']} (validation mean absolute error in points: {both}; adaptive "
           f"asks {rec['budget']} items chosen one at a time)"]
  if rec["workflow"] == "static":
    lines.append(f"run it: answer the {k} anchor items, then `tinyjax estimate {path} ANSWERS`")
  else:
    lines.append(f"run it: ask each new model the items an adaptive session chooses, in Python "
                 f"`tinyjax.load({str(path)!r}).adaptive_test()` (ask_id / tell / estimate); with answers to every "
                 f"item, `tinyjax adaptive {path} ANSWERS`")
  return lines


def _read_answers(args, tb, ids=None, what: str = "anchor"):
  """(values [M, K] in the order of ``ids`` (default the anchors'), model ids) of ANSWERS: a matrix, or lm-eval
  --log_samples output."""
  from tinyjax import data
  from tinyjax.data.lm_eval import is_lm_eval_output
  from tinyjax.tiny.answers import match_answers

  path = pathlib.Path(args.answers)
  if is_lm_eval_output(path):   # samples_*.jsonl(.gz), or a folder of them
    r = data.from_lm_eval_samples(path, metric=args.metric, filter=args.filter)
    src, model_ids = r, list(r.model_ids)
  else:
    src, model_ids = _read_answer_matrix(args, path)
  m = match_answers(src, tb.anchor_ids if ids is None else ids, name=f"ANSWERS ({path.name})")   # logs ignored columns
  values = np.asarray(m.values, dtype=float)
  empty = np.all(np.isnan(values), axis=1)
  if empty.any() and args.drop_empty:
    dropped = [model_ids[i] for i in np.flatnonzero(empty)]
    print(f"dropped {len(dropped)} model(s) that answered no {what}: {dropped[:10]}", file=sys.stderr)
    values, model_ids = values[~empty], [mid for mid, e in zip(model_ids, empty) if not e]
  if not model_ids:
    raise ItemError(f"ANSWERS ({path.name}): no model answered any {what}")
  return values, model_ids


def _read_answer_matrix(args, path: pathlib.Path):
  """(answers, model ids) of an ANSWERS matrix file; answers a DataFrame whose columns are its item ids, or a bare
  array when the file has none (read by position).

  A column that no model answered (a single model's NaN answer makes one) is kept, all NaN: it is an unanswered
  question, which `estimate` allows (the model's interval widens with the share of anchors it left unanswered).
  A model (row) that answered nothing is an error naming it, or is dropped and reported with --drop-empty.
  """
  import logging

  import pandas as pd

  from tinyjax import data
  from tinyjax.errors import ResponseError

  quiet = logging.getLogger("tinyjax.data")   # its "dropped" line: empty columns come back below
  level = quiet.level
  quiet.setLevel(logging.WARNING)
  try:
    r = data.load_responses(path, header=getattr(args, "header", None), drop_empty=True)
  finally:
    quiet.setLevel(level)
  d = r.dropped
  if d.models:
    shown = list(d.models[:10])
    if not args.drop_empty:
      raise ResponseError(f"ANSWERS ({path.name}): {len(d.models)} model(s) answered nothing (every value NaN): "
                          f"{shown}; remove those rows or pass --drop-empty (an unanswered question, NaN, is "
                          "allowed: only a model without a single answer cannot be estimated)")
    print(f"dropped {len(d.models)} model(s) that answered nothing: {shown}", file=sys.stderr)
  n = r.n_items + len(d.items)                       # put the columns nobody answered back, all NaN
  kept = np.setdiff1d(np.arange(n), np.asarray(d.item_index, dtype=int))
  values = np.full((r.n_models, n), np.nan)
  values[:, kept] = r.values
  if not r.item_ids_given:
    return values, list(r.model_ids)
  item_ids = [""] * n
  for j, iid in zip(kept, r.item_ids):
    item_ids[j] = iid
  for j, iid in zip(d.item_index, d.items):
    item_ids[j] = iid
  return pd.DataFrame(values, columns=item_ids), list(r.model_ids)


def estimates_table(est, model_ids) -> dict[str, list]:
  """Columns of the estimate outputs (screen, CSV, JSON), scores in percent points, units in the names."""
  pct = lambda x: [round(100 * float(v), 4) for v in np.asarray(x)]  # noqa: E731
  cols: dict[str, list] = {"model": list(model_ids)}
  from tinyjax.tiny.estimators import GPIRT
  for e in estimator_columns():
    cols[f"{e}_pct"] = pct(getattr(est, e))
  cols["score_pct"] = pct(est.score)
  cols["score_lo_pct"] = pct(est.lo)
  cols["score_hi_pct"] = pct(est.hi)
  cols[f"{GPIRT}_lo_pct"] = pct(est.intervals[GPIRT][:, 0])
  cols[f"{GPIRT}_hi_pct"] = pct(est.intervals[GPIRT][:, 1])
  cols["beyond_train_range"] = [bool(x) for x in np.asarray(est.exterior)]
  return cols


def _estimate(args) -> int:
  from tinyjax.tiny import TinyBenchmark

  tb = TinyBenchmark.load(args.tiny)
  values, model_ids = _read_answers(args, tb)
  est = tb.estimate(values)
  pct = int(round(100 * est.level))
  cols = estimates_table(est, model_ids)
  if args.out:   # files first, then the screen (`| head` cannot lose them)
    import pandas as pd

    write_csv(pd.DataFrame(cols), args.out)
  if args.json:
    write_json({"unit": "percent", "recommended": est.recommended, "level": est.level,
                "models": [{k: v[i] for k, v in cols.items()} for i in range(len(model_ids))]}, args.json)
  display = estimator_columns()
  print(f"estimated full-benchmark scores, percent points; score = {display[est.recommended]} (recommended), "
        f"with its {pct}% interval")
  print(f"{'model':32s} " + " ".join(f"{name:>7s}" for name in display.values())
        + f"   {'score':>7s} {pct}% interval")
  for k, mid in enumerate(model_ids):
    flag = "  (beyond the train range)" if cols["beyond_train_range"][k] else ""
    print(f"{mid[:32]:32s} " + " ".join(f"{cols[f'{e}_pct'][k]:7.2f}" for e in display)
          + f"   {cols['score_pct'][k]:7.2f} [{cols['score_lo_pct'][k]:.2f}, {cols['score_hi_pct'][k]:.2f}]{flag}")
  if args.out:
    print(f"written to {args.out} (percent points)")
  if args.json:
    print(f"written to {args.json} (percent points)")
  return 0


def _adaptive(args) -> int:
  from tinyjax.tiny import TinyBenchmark

  tb = TinyBenchmark.load(args.tiny)
  rec = tb.recommendation
  values, model_ids = _read_answers(args, tb, ids=tb.item_ids, what="item")
  est = tb.estimate_adaptive(values, budget=args.budget, se_target=args.se_target)
  if rec["workflow"] != "adaptive":
    print(f"note: {args.tiny} recommends the static workflow (validation mean absolute error in points: static "
          f"{_points(rec['mae_static'])}, adaptive {_points(rec['mae_adaptive'])}): answer its anchors and run "
          f"`tinyjax estimate {args.tiny} ANSWERS`; adaptive estimates follow")
  pct = lambda x: [round(100 * float(v), 4) for v in np.asarray(x)]  # noqa: E731
  ids = tb.item_ids
  cols: dict[str, list] = {"model": list(model_ids), "score_pct": pct(est.score), "score_lo_pct": pct(est.lo),
                           "score_hi_pct": pct(est.hi), "n_asked": [int(n) for n in est.n_asked],
                           "ability_se": [round(float(np.max(se)), 4) for se in est.se],
                           "beyond_train_range": [bool(x) for x in np.asarray(est.exterior)]}
  asked = [[ids[int(k)] for k in row if k >= 0] for row in est.items]
  level = int(round(100 * est.level))
  if args.out:   # files first, then the screen (`| head` cannot lose them)
    import pandas as pd

    write_csv(pd.DataFrame({**cols, "items": [" ".join(a) for a in asked]}), args.out)
  if args.json:
    write_json({"unit": "percent", "workflow": "adaptive", "recommended_workflow": rec["workflow"],
                "level": est.level, "budget": int(est.items.shape[1]), "se_target": args.se_target,
                "models": [{**{k: v[i] for k, v in cols.items()}, "items": asked[i]} for i in range(len(model_ids))]},
               args.json)
  print(f"adaptive testing, estimated full-benchmark scores in percent points (p-IRT) with their {level}% interval")
  print(f"{'model':32s} {'score':>7s} {level}% interval        asked")
  for i, mid in enumerate(model_ids):
    flag = "  (beyond the train range)" if cols["beyond_train_range"][i] else ""
    interval = f"[{cols['score_lo_pct'][i]:.2f}, {cols['score_hi_pct'][i]:.2f}]"
    print(f"{mid[:32]:32s} {cols['score_pct'][i]:7.2f} {interval:20s} {cols['n_asked'][i]:5d}{flag}")
  if args.out:
    print(f"written to {args.out} (percent points)")
  if args.json:
    print(f"written to {args.json} (percent points)")
  return 0
