"""``tinyjax demo``: tiny benchmarks end to end on the embedded synthetic leaderboard (the README's main command)."""

from __future__ import annotations

import time

import numpy as np

from tinyjax._cli_common import add_matrix_options, count_type, read_matrix, seed_type
from tinyjax.errors import ConfigError


def register(subparsers) -> None:
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
  p.add_argument("--anchors", type=count_type, default=100, help="number of anchor items")
  p.add_argument("--models", type=count_type, default=300, help="synthetic leaderboard: number of models")
  p.add_argument("--items", type=count_type, default=1500, help="synthetic leaderboard: number of items")
  p.add_argument("--test-fraction", type=float, default=0.25,
                 help="share of models held out (a fraction in [0.05, 0.5])")
  p.add_argument("--seed", type=seed_type, default=0, help="seed of the data, split and anchors")
  p.add_argument("--plot", default=None, metavar="FILE.png",
                 help="draw estimate vs truth and error vs number of anchors (needs matplotlib)")
  add_matrix_options(p)
  p.set_defaults(func=_demo)


def _check_plot_deps() -> None:
  """--plot needs matplotlib: checked before any work, so a missing one fails in a second, not after the demo."""
  try:
    import matplotlib  # noqa: F401
  except ImportError as err:
    raise ConfigError("--plot needs matplotlib (pip install matplotlib); nothing was run") from err


def _intro(default: str) -> str:
  """The demo's first screen: what the table will show, in plain words (printed before the slow work)."""
  from tinyjax.tiny.results import ESTIMATORS

  def gloss(name: str) -> str:   # ESTIMATORS' text without a prefix that repeats the name ("p-IRT: ...")
    return ESTIMATORS[name].split(": ", 1)[-1] if name in ("pirt", "gpirt") else ESTIMATORS[name]

  return "\n".join([
      "What this does: each model answers only a few anchor items; its score on the whole benchmark is estimated",
      "from those answers, and the table shows by how many points each estimate misses the true score.",
      "  anchor  an item kept in the tiny benchmark; the strategy is the rule that picks them (random, ...)",
      f"  naive   {gloss('naive')}",
      "  IRT     item response theory: a model, fitted on the train models, of who gets which item right",
      f"  p-IRT   {gloss('pirt')}",
      f"  gp-IRT  {gloss('gpirt')} (the tinyBenchmarks paper's estimator)",
      f"  diff    {gloss('diff')}",
      f"  greg    {gloss('greg')}",
      f"  ridge   {gloss('ridge')}",
      "  blend   the recommended estimate: a mix of p-IRT, diff, ridge and naive (greg for models beyond the",
      "          train models' score range), its weights fitted on the train models",
      "  blend vs random naive  a row's blend error / the error of random anchors with naive (0.70x = 30% less)",
      f"  default {default} anchors: best on the real matrices of docs/accuracy.md, the blend's error there being",
      "          0.71x random naive's (1.99 points on average over 7 matrices)",
  ])


def _demo_data(args):
  from tinyjax import synthetic

  if args.data:
    r = read_matrix(args, args.data)
    return np.asarray(r.values), None, f"{args.data} ({r.n_models} models x {r.n_items} items)"
  lb = synthetic.make_leaderboard(n_models=args.models, n_items=args.items, seed=args.seed)
  return lb.responses, lb.item_groups, (f"synthetic leaderboard ({args.models} models x {args.items} items, "
                                        f"{len(lb.benchmarks)} benchmarks, seed {args.seed})")




def _demo(args) -> int:
  from tinyjax.irt import fit_irt
  from tinyjax.tiny.anchors import STRATEGIES, group_balance_weights
  from tinyjax.tiny.benchmark import FitSettings, fit_tiny_benchmark
  from tinyjax.tiny import DEFAULT_STRATEGY
  from tinyjax.tiny.estimation import true_scores
  from tinyjax.tiny.estimators import DESIGN, REGISTRY
  from tinyjax.tiny.results import RECOMMENDED

  if args.plot:
    _check_plot_deps()
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
  print(_intro(DEFAULT_STRATEGY) + "\n")
  print(f"data: {what}")
  print(f"train {train.size} models, test {test.size} models, {args.anchors} anchor items "
        f"({100 * args.anchors / n_items:.1f}% of the items)")
  t0 = time.perf_counter()
  model = fit_irt(Y[train], dim="auto", dims=(1, 2, 3), seed=args.seed, progress=False)
  print(f"IRT fit: 2PL, dim {model.dim} chosen on held-out entries ({time.perf_counter() - t0:.1f}s)")
  strategies = [s for s in STRATEGIES if s != "stratified" or groups is not None]
  cache: dict = {}
  rows, fitted = [], {}
  for s in strategies:
    tb = fit_tiny_benchmark(FitSettings(fold_models=cache), Y[train], n_anchors=args.anchors, strategy=s,
                            seed=args.seed, groups=groups, irt_model=model, progress=False,
                            compare_adaptive=s == DEFAULT_STRATEGY)
    est = tb.estimate(Y[test][:, tb.anchors])
    fitted[s] = (tb, est)
    err = {e.name: 100 * np.mean(np.abs(getattr(est, e.name) - truth)) for e in REGISTRY}
    lo, hi = est.lo, est.hi
    rows.append((s, err, np.mean((truth >= lo) & (truth <= hi))))
  base = next(err[DESIGN] for s, err, _ in rows if s == "random")   # random anchors, naive mean
  print(f"\nmean absolute error on the {test.size} held-out models, in points (full score = "
        f"{'mean over benchmarks' if groups is not None else 'mean over items'}):")
  print(f"{'strategy':12s} " + " ".join(f"{e.display:>7s}" for e in REGISTRY)
        + f" {'blend vs random naive':>22s} {'coverage':>9s}")
  for s, err, cov in rows:
    mark = "  <- default" if s == DEFAULT_STRATEGY else ""
    print(f"{s:12s} " + " ".join(f"{err[e.name]:7.2f}" for e in REGISTRY)
          + f" {err[RECOMMENDED] / base:21.2f}x {100 * cov:8.0f}%{mark}")
  from tinyjax._cli_tiny import recommendation_lines
  # The default tiny benchmark's recommendation (adaptive testing against its anchors, on its validation folds);
  # `tinyjax build` prints the same line and how to run the workflow.
  print("\n" + recommendation_lines(fitted[DEFAULT_STRATEGY][0], "tiny.tjx")[0])
  hint = _strategy_hint(rows, DEFAULT_STRATEGY, data=args.data)
  if hint:
    print("\n" + hint)
  print(f"\n(errors in points of score, 0-100; blend vs random naive: the row's blend error / {base:.2f} points,\n"
        f" the error of random anchors with the naive mean; coverage: percent of held-out models whose true score\n"
        f" lies in the {int(100 * fitted[strategies[0]][1].level)}% interval of the blend)")
  if args.plot:
    _plot(args, Y, train, test, truth, groups, model, fitted, cache)
  return 0


def _strategy_hint(rows, default: str, data: str | None = None) -> str | None:
  """A line for the demo when another strategy's blend beat the default's; rows: (strategy, {estimator: MAE}, cov).

  The command it shows runs as printed: ``stratified`` comes with ``--groups FILE`` and what that file holds;
  ``data`` is the demo's ``--data`` path (None: the synthetic leaderboard, which has no file to name).
  """
  from tinyjax.choices import RECOMMENDED_ESTIMATOR as rec
  best_s, best_errs, _ = min(rows, key=lambda r: r[1][rec])
  default_err = next(err[rec] for s, err, _ in rows if s == default)
  if best_s == default or best_errs[rec] >= default_err:
    return None
  source = data if data else "RESPONSES.csv"
  cmd = f"tinyjax build {source} --strategy {best_s} --out tiny.tjx"
  py = f"TinyBenchmark.fit(..., strategy={best_s!r})"
  if best_s == "stratified":
    cmd += " --groups GROUPS.txt"
    py = f"TinyBenchmark.fit(..., strategy={best_s!r}, groups=...)"
  text = (f"On this data {best_s} anchors measured better than the default ({best_errs[rec]:.2f} against "
          f"{default_err:.2f} points for the blend);\nthe default ({default}) is the one that measured best on "
          f"the real matrices of docs/accuracy.md. To use them: {py} or\n  {cmd}")
  if data is None:
    text += "\n(RESPONSES.csv: your models x items matrix of answers"
    text += (";\n GROUPS.txt: a text file with one group label per item, in column order, e.g. the MMLU subject)"
             if best_s == "stratified" else ")")
  elif best_s == "stratified":
    text += "\n(GROUPS.txt: a text file with one group label per item, in column order, e.g. the MMLU subject)"
  return text


def _plot(args, Y, train, test, truth, groups, model, fitted, cache) -> None:
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError as err:
    raise ConfigError("--plot needs matplotlib (pip install matplotlib)") from err
  from tinyjax.tiny import DEFAULT_STRATEGY
  from tinyjax.tiny.benchmark import FitSettings, fit_tiny_benchmark

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
    r = fit_tiny_benchmark(FitSettings(fold_models=cache), Y[train], n_anchors=k, strategy="random",
                           seed=args.seed, groups=groups, irt_model=model, progress=False, compare_adaptive=False)
    b = fit_tiny_benchmark(FitSettings(fold_models=cache), Y[train], n_anchors=k, strategy=strat,
                           seed=args.seed, groups=groups, irt_model=model, progress=False, compare_adaptive=False)
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
  from tinyjax.cli import save_figure

  save_figure(fig, args.plot, dpi=120)
  print(f"plot written to {args.plot}")
