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
  register_demo(subparsers)


def register_demo(subparsers) -> None:
  """Registers ``tinyjax demo``, the README's main command."""
  p = subparsers.add_parser(
      "demo", help="tiny benchmarks end to end on a synthetic leaderboard (or --data)",
      description="Builds tiny benchmarks with every anchor strategy on the train models of the embedded "
                  "synthetic leaderboard (or of --data), estimates the held-out models, and prints the "
                  "mean absolute error of each estimator against random anchors with the naive mean.")
  p.add_argument("--data", default=None, metavar="PATH", help="run on this response matrix instead of the "
                                                              "synthetic leaderboard")
  p.add_argument("--anchors", type=int, default=100, help="number of anchor items (default 100)")
  p.add_argument("--models", type=int, default=300, help="synthetic leaderboard: number of models (default 300)")
  p.add_argument("--items", type=int, default=1500, help="synthetic leaderboard: number of items (default 1500)")
  p.add_argument("--test-fraction", type=float, default=0.25, help="share of models held out (default 0.25)")
  p.add_argument("--seed", type=int, default=0, help="seed of the data, split and anchors (default 0)")
  p.add_argument("--plot", default=None, metavar="FILE.png",
                 help="draw estimate vs truth and error vs number of anchors (needs matplotlib)")
  p.set_defaults(func=_demo)


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


def _demo_data(args):
  from tinyjax import data, synthetic

  if args.data:
    r = data.load_responses(args.data)
    return np.asarray(r.values), None, f"{args.data} ({r.n_models} models x {r.n_items} items)"
  lb = synthetic.make_leaderboard(n_models=args.models, n_items=args.items, seed=args.seed)
  return lb.responses, lb.item_groups, (f"synthetic leaderboard ({args.models} models x {args.items} items, "
                                        f"{len(lb.benchmarks)} benchmarks, seed {args.seed})")


_DEMO_ESTIMATORS = ("naive", "pirt", "gpirt", "diff", "greg", "ridge", "blend")
_DEMO_NAMES = {"naive": "naive", "pirt": "p-IRT", "gpirt": "gp-IRT", "diff": "diff", "greg": "greg", "ridge": "ridge",
               "blend": "blend"}


def _demo(args) -> int:
  import tinyjax as tj
  from tinyjax.anchors import STRATEGIES, group_balance_weights
  from tinyjax.tiny import DEFAULT_STRATEGY
  from tinyjax.tiny.estimation import true_scores

  if not 0.05 <= args.test_fraction <= 0.5:
    raise ConfigError(f"--test-fraction must lie in [0.05, 0.5], got {args.test_fraction}")
  Y, groups, what = _demo_data(args)
  n, n_items = Y.shape
  if not 1 <= args.anchors < n_items:
    raise ConfigError(f"--anchors must lie in [1, {n_items - 1}], got {args.anchors}")
  rng = np.random.default_rng(args.seed)
  test = np.sort(rng.permutation(n)[:max(2, int(round(args.test_fraction * n)))])
  train = np.setdiff1d(np.arange(n), test)
  weights = group_balance_weights(groups) if groups is not None else np.full(n_items, 1.0 / n_items)
  truth = true_scores(Y[test], weights)
  print(f"data: {what}")
  print(f"train {train.size} models, test {test.size} models, {args.anchors} anchor items "
        f"({100 * args.anchors / n_items:.1f}% of the items)")
  t0 = time.perf_counter()
  model = tj.fit_irt(Y[train], dim="auto", dims=(1, 2, 3), seed=args.seed, progress=False)
  print(f"IRT fit: 2PL, dim {model.dim} chosen on held-out entries ({time.perf_counter() - t0:.1f}s)")
  strategies = [s for s in STRATEGIES if s != "stratified" or groups is not None]
  cache: dict = {}
  rows, fitted = [], {}
  for s in strategies:
    tb = tj.TinyBenchmark.fit(Y[train], n_anchors=args.anchors, strategy=s, seed=args.seed, groups=groups,
                              irt_model=model, progress=False, _cache=cache)
    est = tb.estimate(Y[test][:, tb.anchors])
    fitted[s] = (tb, est)
    err = {e: 100 * np.mean(np.abs(getattr(est, e) - truth)) for e in _DEMO_ESTIMATORS}
    lo, hi = est.lo, est.hi
    rows.append((s, err, np.mean((truth >= lo) & (truth <= hi))))
  base = next(err["naive"] for s, err, _ in rows if s == "random")
  print(f"\nmean absolute error on the {test.size} held-out models, in points (full score = "
        f"{'mean over benchmarks' if groups is not None else 'mean over items'}):")
  print(f"{'strategy':12s} " + " ".join(f"{_DEMO_NAMES[e]:>7s}" for e in _DEMO_ESTIMATORS)
        + f" {'best vs random naive':>21s} {'coverage':>9s}")
  for s, err, cov in rows:
    best = min(err.values())
    mark = "  <- default" if s == DEFAULT_STRATEGY else ""
    print(f"{s:12s} " + " ".join(f"{err[e]:7.2f}" for e in _DEMO_ESTIMATORS)
          + f" {best / base:20.2f}x {100 * cov:8.0f}%{mark}")
  hint = _strategy_hint(rows, DEFAULT_STRATEGY)
  if hint:
    print("\n" + hint)
  print(f"\n(diff = IRT difference estimator, greg = the same with its slope fitted to each model's anchors, "
        f"ridge = regression on the train models, blend = the recommended "
        f"estimate; coverage: share of held-out models whose true score lies in the "
        f"{int(100 * fitted[strategies[0]][1].level)}% interval of the blend)")
  if args.plot:
    _plot(args, Y, train, test, truth, groups, model, fitted, cache)
  return 0


def _strategy_hint(rows, default: str) -> str | None:
  """A line for the demo when another strategy's blend beat the default's; rows: (strategy, {estimator: MAE}, cov)."""
  best_s, best_errs, _ = min(rows, key=lambda r: r[1]["blend"])
  default_err = next(err["blend"] for s, err, _ in rows if s == default)
  if best_s == default or best_errs["blend"] >= default_err:
    return None
  return (f"On this data {best_s} anchors measured better than the default ({best_errs['blend']:.2f} against "
          f"{default_err:.2f} points for the blend); the default ({default}) is the one that measured best on "
          f"the real matrices of docs/accuracy.md. To use them: TinyBenchmark.fit(..., strategy={best_s!r}) or "
          f"tinyjax build --strategy {best_s}.")


def _plot(args, Y, train, test, truth, groups, model, fitted, cache) -> None:
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError as err:
    raise ConfigError("--plot needs matplotlib (pip install matplotlib)") from err
  import tinyjax as tj
  from tinyjax.tiny import DEFAULT_STRATEGY

  strat = DEFAULT_STRATEGY if DEFAULT_STRATEGY in fitted else next(iter(fitted))
  tb, est = fitted[strat]
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
  ax1.plot(100 * truth, 100 * fitted["random"][1].naive, "o", alpha=0.5, label="random anchors, naive")
  ax1.plot(100 * truth, 100 * est.score, "o", alpha=0.7, label=f"{strat} anchors, {est.recommended} (recommended)")
  lim = [100 * truth.min() - 2, 100 * truth.max() + 2]
  ax1.plot(lim, lim, "k--", lw=1)
  ax1.set_xlabel("true score (%)")
  ax1.set_ylabel("estimate (%)")
  ax1.set_title(f"{args.anchors} anchors, held-out models")
  ax1.legend()
  n_items = Y.shape[1]
  ks = sorted({k for k in (10, 25, 50, 100, 200) if k < n_items} | {args.anchors})
  err_rand, err_best = [], []
  for k in ks:
    r = tj.TinyBenchmark.fit(Y[train], n_anchors=k, strategy="random", seed=args.seed, groups=groups,
                             irt_model=model, progress=False, _cache=cache)
    b = tj.TinyBenchmark.fit(Y[train], n_anchors=k, strategy=strat, seed=args.seed, groups=groups,
                             irt_model=model, progress=False, _cache=cache)
    err_rand.append(100 * np.mean(np.abs(r.estimate(Y[test][:, r.anchors]).naive - truth)))
    err_best.append(100 * np.mean(np.abs(b.estimate(Y[test][:, b.anchors]).score - truth)))
  ax2.plot(ks, err_rand, "o-", label="random anchors, naive")
  ax2.plot(ks, err_best, "o-", label=f"{strat} anchors, {est.recommended} (recommended)")
  ax2.set_xscale("log")
  ax2.set_xlabel("number of anchors")
  ax2.set_ylabel("mean absolute error (points)")
  ax2.set_title("error vs number of anchors")
  ax2.legend()
  fig.tight_layout()
  fig.savefig(args.plot, dpi=120)
  print(f"plot written to {args.plot}")
