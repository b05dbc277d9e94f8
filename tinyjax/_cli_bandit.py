"""``tinyjax bandit``: offline bandit simulation on a full methods x examples score matrix."""

from __future__ import annotations

import argparse
import logging
import pathlib
import time

import numpy as np

from tinyjax import bandit as _bandit   # the package's eager part: names and configs, no jax
from tinyjax._cli_common import add_matrix_options, input_path, seed_type
from tinyjax.errors import InputError

log = logging.getLogger("tinyjax.cli")


def _load_matrix(args) -> tuple[np.ndarray, list[str]]:
  from tinyjax._cli_common import read_matrix

  r = read_matrix(args, args.scores)
  arr, names = np.array(r.values, float), list(r.model_ids)
  if args.drop_row:
    missing = [n for n in args.drop_row if n not in names]
    if missing:
      raise InputError(f"--drop-row: no row named {missing}; rows are named {names[:5]}...")
    keep = [i for i, n in enumerate(names) if n not in set(args.drop_row)]
    arr, names = arr[keep], [names[i] for i in keep]
  if args.drop_nan_columns:
    full = ~np.isnan(arr).any(0)
    if not full.any():
      raise InputError(f"{args.scores}: every example (column) has a NaN in some row: --drop-nan-columns leaves "
                       "nothing")
    arr = arr[:, full]
  return arr, names


def _plot_budgets(args, budgets, shape) -> list[float]:
  """The table's budgets, plus with --plot the --plot-budgets that reveal at least one cell per method."""
  if not args.plot:
    return budgets
  unit_cost = np.ones(shape)
  usable = [b for b in args.plot_budgets if _bandit.reveals_enough(_bandit.budget_amounts(b, unit_cost)[1], shape)]
  if len(usable) < len(args.plot_budgets):
    log.info("plot: skipping budgets %s, which reveal fewer cells than there are methods (%d)",
             sorted(set(args.plot_budgets) - set(usable)), shape[0])
  return sorted({*budgets, *usable})


def _cmd(args: argparse.Namespace) -> int:
  from tinyjax import bandit

  if args.plot:   # before any work: the plot needs matplotlib
    try:
      import matplotlib.pyplot  # noqa: F401
    except ImportError:
      raise InputError("--plot needs matplotlib (pip install matplotlib)") from None
  scores, names = _load_matrix(args)
  # every setting given on the command line; one the algorithm does not take is an error (bandit.make_config)
  params = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
  budgets = sorted({args.budget, *args.extra_budgets})
  run_budgets = _plot_budgets(args, budgets, scores.shape)
  if len(run_budgets) > len(budgets):
    log.info("plot: running %d budgets x %d seeds (%d more budgets than the table's)", len(run_budgets),
             args.seeds, len(run_budgets) - len(budgets))
  t0 = time.perf_counter()
  sim = bandit.simulate(scores, budgets=run_budgets, algorithm=args.algorithm,
                        seeds=list(range(args.seed, args.seed + args.seeds)), shuffle_rows=not args.no_shuffle,
                        k=args.k, **params)   # a bar over the budgets; each budget's result is what it gives alone
  seconds = time.perf_counter() - t0
  hard = bandit.hardness(scores)
  if args.plot:   # the file first, then the screen (`| head` cannot lose it)
    _write_plot(args, sim)
  true = scores.mean(1)
  order = np.argsort(-true)
  gap = 100 * (true[order[0]] - true[order[1]])
  print(f"{args.scores}: {scores.shape[0]} methods x {scores.shape[1]} examples; best {names[order[0]]} "
        f"(mean score {100 * true[order[0]]:.2f}%), top-two gap {gap:.2f} points")
  print(f"how hard: {hard.plain(args.budget)}")
  if args.verbose:
    print("hardness details: " + hard.describe(args.budget))
  print(f"algorithm {args.algorithm}, {len(sim.seeds)} seeds, {seconds:.2f} s (compilation included)")
  print(f"{'budget':>8} {'cells':>8} {'precision':>10} {'ndcg@' + str(args.k):>8} {'regret(points)':>15}")
  s = sim.summary()
  for j, b in enumerate(sim.budgets):
    if b not in budgets:
      continue
    print(f"{b:8.3f} {int(sim.n_evaluated[:, j].mean()):8d} {s['precision'][j]:10.3f} {s['ndcg'][j]:8.3f} "
          f"{s['regret'][j]:15.3f}")
  if args.plot:
    print(f"wrote {args.plot}")
  return 0


def _write_plot(args, curve) -> None:
  """The precision-vs-budget plot of a simulation, written atomically to ``args.plot``."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from tinyjax.cli import save_figure

  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(100 * curve.budgets, curve.precision.mean(0), marker="o")
  ax.set_xlabel("budget (% of cells)")
  ax.set_ylabel("top-1 precision")
  ax.set_ylim(-0.02, 1.02)
  ax.set_title(f"{pathlib.Path(args.scores).name}: {args.algorithm}, {len(curve.seeds)} seeds")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  save_figure(fig, args.plot, dpi=120)
  plt.close(fig)


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "bandit", help="simulate bandit best-method search on a full score matrix",
      description="Offline simulation of best-method identification: reveals cells of a full methods x examples "
                  "score matrix as the algorithm asks, over many seeds, and prints top-1 precision, NDCG@k and "
                  "regret (points) at each budget.")
  p.add_argument("scores", type=input_path, metavar="SCORES", help="full score matrix, rows = methods: .npy, .csv (first column = "
                                                  "row names) or .parquet (index = row names)")
  p.add_argument("--budget", type=float, default=0.1, help="fraction of the cells to reveal, in (0, 1]")
  p.add_argument("--extra-budgets", type=float, nargs="*", default=[], metavar="B",
                 help="more budgets to report in the same run (e.g. 0.05 0.2)")
  p.add_argument("--algorithm", default=_bandit.DEFAULT_ALGORITHM, choices=_bandit.ALGORITHMS,
                 help="search algorithm")
  p.add_argument("--seeds", type=int, default=20, help="number of seeds, run together")
  p.add_argument("--seed", type=seed_type, default=0,
                 help="first seed: the run uses the seeds SEED, SEED+1, ..., SEED+SEEDS-1")
  p.add_argument("--no-shuffle", action="store_true", help="do not shuffle the rows per seed")
  p.add_argument("--k", type=int, default=10, help="NDCG cut-off")
  p.add_argument("--drop-row", action="append", default=[], metavar="NAME",
                 help="drop the row with this name (repeatable; e.g. NullModel for alpaca_eval2)")
  p.add_argument("--drop-nan-columns", action="store_true",
                 help="drop the examples (columns) that have a NaN in any row (offline runs need a full matrix)")
  p.add_argument("--plot", metavar="PNG",
                 help="also write a precision-vs-budget plot to this file; this runs the --plot-budgets too, "
                      "each as long as the table's budgets (needs matplotlib)")
  p.add_argument("--plot-budgets", type=_budget_list, default=[0.02, 0.05, 0.1, 0.2, 0.3], metavar="B,B,...",
                 help="comma-separated budgets of the plot's curve, run besides --budget/--extra-budgets")
  p.add_argument("-v", "--verbose", action="store_true",
                 help="also print the hardness figures behind the 'how hard' line (split-half reliability, "
                      "the oracle's verification cells per confidence level)")
  add_matrix_options(p)
  g = p.add_argument_group("algorithm settings (each applies to the algorithms named; one not given takes the "
                           "value of the algorithm's config class in tinyjax.bandit)")
  g.add_argument("--batch-size", type=int,
                 help=f"cells revealed per step (every algorithm; when not given, the config's "
                      f"{_bandit.HalvingConfig.batch_size})")
  g.add_argument("--a", type=float, help=f"exploration weight (when not given, the config's {_bandit.UCBEConfig.a}): ucbe bonus "
                 "sqrt(a / n); ucbe-lrf bonus sqrt(a) standard errors of the row mean")
  g.add_argument("--rank", type=int, help=f"rank of the factorization (ucbe-lrf; when not given, the config's "
                 f"{_bandit.LRFConfig.rank})")
  g.add_argument("--ensemble-size", type=int,
                 help=f"factorizations in the ensemble (ucbe-lrf; when not given, the config's "
                      f"{_bandit.LRFConfig.ensemble_size})")
  g.add_argument("--l2", type=float, help="ridge penalty of the ALS solves (ucbe-lrf)")
  g.add_argument("--drop-probability", type=float, help="entry dropout of each ensemble member (ucbe-lrf)")
  g.add_argument("--warmup", type=float, help="fraction of all cells revealed uniformly before the LRF bound (ucbe-lrf)")
  g.add_argument("--eta", type=float, help="weight of the ensemble spread in the LRF bound (ucbe-lrf)")
  g.add_argument("--sweeps", type=int, help="warm-started ALS sweeps per step (ucbe-lrf)")
  g.add_argument("--bonus", choices=_bandit.LRFConfig.BONUSES,
                 help="ucbe-lrf row bonus: 'variance' (when not given), sqrt(a s^2 (1 - n/N) / n), the standard error of a "
                      "row mean from n of its N cells drawn without replacement (0 for a fully evaluated method); "
                      "'ucbe', the earlier sqrt(a / n) (1 - n/N)")
  g.add_argument("--prior-count", type=float,
                 help=f"pseudo-cells of the pooled variance in each method's variance s^2 (ucbe-lrf; when not given, "
                      f"the config's {_bandit.LRFConfig.prior_count:g})")
  g.add_argument("--columns", choices=_bandit.LRFConfig.COLUMNS,
                 help="which examples the picked method gets (ucbe-lrf): 'paired' (when not given), those already "
                      "evaluated for its closest rival first; 'std', the most uncertain first")
  g.add_argument("--keep", type=float,
                 help=f"sequential-halving: fraction of the surviving methods kept after each round (when not "
                      f"given, the config's {_bandit.HalvingConfig.keep})")
  g.add_argument("--noisy-keep", type=float,
                 help="sequential-halving: fraction kept per round instead, when the first round's ranking is "
                      f"mostly noise (when not given, the config's {_bandit.HalvingConfig.noisy_keep}; equal to --keep "
                      "turns this off)")
  g.add_argument("--noisy-alpha", type=float,
                 help="sequential-halving: the first round is noise when its coefficient alpha is below this "
                      f"(when not given, the config's {_bandit.HalvingConfig.noisy_alpha})")
  p.set_defaults(func=_cmd)


def _budget_list(text: str) -> list[float]:
  try:
    values = [float(x) for x in text.split(",") if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"budgets are comma-separated fractions in (0, 1], got {text!r}") from None
  if not values or any(not 0.0 < v <= 1.0 for v in values):
    raise argparse.ArgumentTypeError(f"budgets are comma-separated fractions in (0, 1], got {text!r}")
  return values


# every algorithm setting, from the config classes (each flag is its name with dashes)
_SETTINGS = tuple(dict.fromkeys(name for alg in _bandit.ALGORITHMS for name in _bandit.parameters(alg)))
