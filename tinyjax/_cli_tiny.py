"""``tinyjax build``, ``tinyjax estimate`` and ``tinyjax demo`` (tiny benchmarks)."""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from tinyjax.errors import ConfigError, ItemError


def register(subparsers) -> None:
  from tinyjax.anchors import STRATEGIES
  from tinyjax.tiny import DEFAULT_STRATEGY

  p = subparsers.add_parser(
      "build", help="build a tiny benchmark (IRT fit + anchor items) from a response matrix",
      description="Fits an IRT model on RESPONSES (models x items, 0/1 or scores in [0, 1], NaN = missing), "
                  "picks anchor items, calibrates the estimators on validation folds of the models, and "
                  "saves everything to one file. The anchors' item ids are printed (and written with "
                  "--anchors-out): those are the questions to run on a new model.")
  p.add_argument("responses", metavar="RESPONSES",
                 help="response matrix: .csv/.tsv/.parquet/.npy/.npz or a saved datasets folder "
                      "(rows = models, columns = items)")
  p.add_argument("--anchors", type=int, default=100, help="number of anchor items (default 100)")
  p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                 help=f"anchor selection strategy (default {DEFAULT_STRATEGY})")
  p.add_argument("--out", required=True, metavar="TINY", help="output file (.npz artifact)")
  p.add_argument("--groups", default=None, metavar="FILE",
                 help="text file with one group label per item (e.g. MMLU subjects): groups count equally "
                      "in the score; needed by --strategy stratified")
  p.add_argument("--dim", default="auto", help="IRT dimension, or 'auto' to choose it on held-out entries "
                                               "(default auto)")
  p.add_argument("--kind", default="2pl", choices=("1pl", "2pl", "3pl"), help="IRT model kind (default 2pl)")
  p.add_argument("--level", type=float, default=0.9, help="nominal coverage of the intervals (default 0.9)")
  p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
  p.add_argument("--folds", type=int, default=None,
                 help="validation folds of the models for the gp-IRT weight and the intervals (default: 5 "
                      "below 500 models, else one 20%% holdout)")
  p.add_argument("--anchors-out", default=None, metavar="FILE", help="also write the anchor item ids, one a line")
  p.set_defaults(func=_build)

  p = subparsers.add_parser(
      "estimate", help="estimate full-benchmark scores from answers on a tiny benchmark's anchors",
      description="Reads a tiny benchmark built by `tinyjax build` and a matrix of answers (rows = models). "
                  "Its columns are matched to the anchors by item id when the ids match (extra columns, "
                  "e.g. a full response matrix, are ignored); otherwise it must have exactly one column per "
                  "anchor, in the anchors' order. Prints every estimator in percent and the interval of the "
                  "recommended estimate (the blend, est.score).")
  p.add_argument("tiny", metavar="TINY", help="tiny benchmark file written by `tinyjax build`")
  p.add_argument("answers", metavar="ANSWERS", help="answers matrix (same formats as for build); NaN = not answered")
  p.add_argument("--out", default=None, metavar="CSV", help="also write the estimates to this CSV file")
  p.set_defaults(func=_estimate)


def _dim(value: str):
  if value == "auto":
    return "auto"
  try:
    d = int(value)
  except ValueError:
    raise ConfigError(f"--dim must be a positive integer or 'auto', got {value!r}") from None
  if d < 1:
    raise ConfigError(f"--dim must be >= 1, got {d}")
  return d


def _build(args) -> int:
  import tinyjax as tj
  from tinyjax import data

  r = data.load_responses(args.responses)
  groups = None
  if args.groups:
    groups = [line.strip() for line in pathlib.Path(args.groups).read_text().splitlines() if line.strip()]
    if len(groups) != r.n_items:
      raise ItemError(f"--groups has {len(groups)} labels but the matrix has {r.n_items} items")
  t0 = time.perf_counter()
  tb = tj.TinyBenchmark.fit(r, n_anchors=args.anchors, strategy=args.strategy, seed=args.seed, groups=groups,
                            kind=args.kind, dim=_dim(args.dim), level=args.level, n_folds=args.folds)
  tb.save(args.out)
  v = tb.validation
  print(f"built {tb!r} from {r.n_models} models x {r.n_items} items in {time.perf_counter() - t0:.1f}s")
  print(f"validation on {v['n_val']} held-out train models: naive RMSE {100 * v['naive_mse'] ** 0.5:.2f}, "
        f"p-IRT RMSE {100 * v['pirt_mse'] ** 0.5:.2f}, gp-IRT MAE {100 * v['gpirt_mae']:.2f} points "
        f"(gp-IRT weight on naive {tb.lam:.2f})")
  print(f"saved to {args.out}")
  ids = tb.anchor_ids
  shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
  print(f"anchor items: {shown}")
  if args.anchors_out:
    pathlib.Path(args.anchors_out).write_text("\n".join(ids) + "\n")
    print(f"anchor item ids written to {args.anchors_out}")
  return 0


def _answers_for(tb, r) -> np.ndarray:
  ids = list(r.item_ids)
  pos = {k: j for j, k in enumerate(ids)}
  if all(a in pos for a in tb.anchor_ids):
    return np.asarray(r.values)[:, [pos[a] for a in tb.anchor_ids]]
  if r.n_items == len(tb.anchor_ids):
    return np.asarray(r.values)
  missing = [a for a in tb.anchor_ids if a not in pos][:5]
  raise ItemError(f"ANSWERS has {r.n_items} columns and lacks anchor ids such as {missing}; give one column "
                   f"per anchor ({len(tb.anchor_ids)}) in order, or columns named by the anchors' item ids")


def _estimate(args) -> int:
  import tinyjax as tj
  from tinyjax import data

  tb = tj.TinyBenchmark.load(args.tiny)
  r = data.load_responses(args.answers)
  est = tb.estimate(_answers_for(tb, r))
  pct = int(round(100 * est.level))
  lo, hi = est.lo, est.hi
  print(f"{'model':32s} {'naive':>7s} {'p-IRT':>7s} {'gp-IRT':>7s} {'diff':>7s} {'greg':>7s} {'ridge':>7s} {'blend':>7s}   "
        f"{pct}% interval of {est.recommended} (recommended)")
  for k, mid in enumerate(r.model_ids):
    flag = "  (beyond the train range)" if est.exterior is not None and est.exterior[k] else ""
    print(f"{mid[:32]:32s} {100 * est.naive[k]:7.2f} {100 * est.pirt[k]:7.2f} {100 * est.gpirt[k]:7.2f} "
          f"{100 * est.diff[k]:7.2f} {100 * est.greg[k]:7.2f} {100 * est.ridge[k]:7.2f} {100 * est.blend[k]:7.2f}   "
          f"[{100 * lo[k]:.2f}, {100 * hi[k]:.2f}]{flag}")
  if args.out:
    import pandas as pd
    pd.DataFrame({"model": r.model_ids, "naive": est.naive, "pirt": est.pirt, "gpirt": est.gpirt,
                  "gpirt_lo": est.intervals["gpirt"][0], "gpirt_hi": est.intervals["gpirt"][1], "diff": est.diff, "greg": est.greg, "ridge": est.ridge,
                  "blend": est.blend, "score": est.score, "score_lo": lo, "score_hi": hi,
                  "exterior": est.exterior}).to_csv(args.out, index=False)
    print(f"written to {args.out}")
  return 0
