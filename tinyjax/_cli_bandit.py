"""``tinyjax bandit``: offline bandit simulation on a full methods x examples score matrix."""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from tinyjax import bandit as _bandit   # the package's eager part: names and configs, no jax
from tinyjax.errors import InputError, MissingFileError


def _load_matrix(path: str, drop_rows: list[str], drop_nan_columns: bool) -> tuple[np.ndarray, list[str]]:
  p = pathlib.Path(path)
  if not p.exists():
    raise MissingFileError(f"no such file: {p}")
  suffix = p.suffix.lower()
  if suffix == ".npy":
    arr = np.load(p, allow_pickle=False)
    names = [str(i) for i in range(arr.shape[0])] if arr.ndim == 2 else []
  elif suffix in (".csv", ".parquet"):
    import pandas as pd

    df = pd.read_parquet(p) if suffix == ".parquet" else pd.read_csv(p, index_col=0)
    arr, names = df.to_numpy(dtype=float), [str(i) for i in df.index]
  else:
    raise InputError(f"SCORES must be a .npy, .csv or .parquet file, got {p.name}")
  if arr.ndim != 2:
    raise InputError(f"SCORES must hold a 2-D (methods, examples) matrix, got shape {arr.shape}")
  if drop_rows:
    missing = [r for r in drop_rows if r not in names]
    if missing:
      raise InputError(f"--drop-row: no row named {missing}")
    keep = [i for i, n in enumerate(names) if n not in set(drop_rows)]
    arr, names = arr[keep], [names[i] for i in keep]
  if drop_nan_columns:
    arr = arr[:, ~np.isnan(arr).any(0)]
  return np.asarray(arr, float), names


def _cmd(args: argparse.Namespace) -> int:
  from tinyjax import bandit

  scores, names = _load_matrix(args.scores, args.drop_row, args.drop_nan_columns)
  # every setting given on the command line; one the algorithm does not take is an error (bandit.make_config)
  params = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
  budgets = sorted({args.budget, *args.extra_budgets})
  run_budgets = budgets
  if args.plot:   # one simulation serves the table and the plot
    grid = np.round(np.linspace(0.02, max(0.3, max(budgets)), 8), 4)
    run_budgets = sorted({*budgets, *[float(g) for g in grid if g <= 1.0]})
  t0 = time.perf_counter()
  sim = bandit.simulate(scores, budgets=run_budgets, algorithm=args.algorithm, seeds=args.seeds,
                        shuffle_rows=not args.no_shuffle, k=args.k, **params)
  seconds = time.perf_counter() - t0
  true = scores.mean(1)
  order = np.argsort(-true)
  gap = 100 * (true[order[0]] - true[order[1]])
  print(f"{args.scores}: {scores.shape[0]} methods x {scores.shape[1]} examples; best {names[order[0]]} "
        f"({100 * true[order[0]]:.2f}), top-two gap {gap:.2f} pt")
  print("hardness: " + bandit.hardness(scores).describe(args.budget))
  print(f"algorithm {args.algorithm}, {len(sim.seeds)} seeds, {seconds:.2f} s (compilation included)")
  print(f"{'budget':>8} {'cells':>8} {'precision':>10} {'ndcg@' + str(args.k):>8} {'regret(pt)':>11}")
  s = sim.summary()
  for j, b in enumerate(sim.budgets):
    if b not in budgets:
      continue
    print(f"{b:8.3f} {int(sim.n_evaluated[:, j].mean()):8d} {s['precision'][j]:10.3f} {s['ndcg'][j]:8.3f} "
          f"{s['regret'][j]:11.3f}")
  if args.plot:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = sim
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(100 * curve.budgets, curve.precision.mean(0), marker="o")
    ax.set_xlabel("budget (% of cells)")
    ax.set_ylabel("top-1 precision")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{pathlib.Path(args.scores).name}: {args.algorithm}, {len(curve.seeds)} seeds")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"wrote {args.plot}")
  return 0


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "bandit", help="simulate bandit best-method search on a full score matrix",
      description="Offline simulation of best-method identification: reveals cells of a full methods x examples "
                  "score matrix as the algorithm asks, over many seeds, and prints top-1 precision, NDCG@k and "
                  "regret (points) at each budget.")
  p.add_argument("scores", metavar="SCORES", help="full score matrix, rows = methods: .npy, .csv (first column = "
                                                  "row names) or .parquet (index = row names)")
  p.add_argument("--budget", type=float, default=0.1, help="fraction of the cells to reveal, in (0, 1] (default 0.1)")
  p.add_argument("--extra-budgets", type=float, nargs="*", default=[], metavar="B",
                 help="more budgets to report in the same run (e.g. 0.05 0.2)")
  p.add_argument("--algorithm", default=_bandit.DEFAULT_ALGORITHM, choices=_bandit.ALGORITHMS,
                 help=f"search algorithm (default {_bandit.DEFAULT_ALGORITHM})")
  p.add_argument("--seeds", type=int, default=20, help="number of seeds, run together (default 20)")
  p.add_argument("--no-shuffle", action="store_true", help="do not shuffle the rows per seed")
  p.add_argument("--k", type=int, default=10, help="NDCG cut-off (default 10)")
  p.add_argument("--drop-row", action="append", default=[], metavar="NAME",
                 help="drop the row with this name (repeatable; e.g. NullModel for alpaca_eval2)")
  p.add_argument("--drop-nan-columns", action="store_true",
                 help="drop the examples (columns) that have a NaN in any row (offline runs need a full matrix)")
  p.add_argument("--plot", metavar="PNG", help="also write a precision-vs-budget plot to this file")
  g = p.add_argument_group("algorithm settings (each applies to the algorithms named; defaults: the config classes "
                           "of tinyjax.bandit)")
  g.add_argument("--batch-size", type=int,
                 help=f"cells revealed per step (every algorithm; default {_bandit.HalvingConfig.batch_size})")
  g.add_argument("--a", type=float, help=f"exploration weight (default {_bandit.UCBEConfig.a}): ucbe bonus "
                 "sqrt(a / n); ucbe-lrf bonus sqrt(a) standard errors of the row mean")
  g.add_argument("--rank", type=int, help=f"rank of the factorization (ucbe-lrf, default {_bandit.LRFConfig.rank})")
  g.add_argument("--ensemble-size", type=int,
                 help=f"factorizations in the ensemble (ucbe-lrf, default {_bandit.LRFConfig.ensemble_size})")
  g.add_argument("--l2", type=float, help="ridge penalty of the ALS solves (ucbe-lrf)")
  g.add_argument("--drop-probability", type=float, help="entry dropout of each ensemble member (ucbe-lrf)")
  g.add_argument("--warmup", type=float, help="fraction of all cells revealed uniformly before the LRF bound (ucbe-lrf)")
  g.add_argument("--eta", type=float, help="weight of the ensemble spread in the LRF bound (ucbe-lrf)")
  g.add_argument("--sweeps", type=int, help="warm-started ALS sweeps per step (ucbe-lrf)")
  g.add_argument("--bonus", choices=_bandit.LRFConfig.BONUSES,
                 help="ucbe-lrf row bonus: 'variance' (default), sqrt(a s^2 (1 - n/N) / n), the standard error of a "
                      "row mean from n of its N cells drawn without replacement (0 for a fully evaluated method); "
                      "'ucbe', the earlier sqrt(a / n) (1 - n/N)")
  g.add_argument("--prior-count", type=float,
                 help=f"pseudo-cells of the pooled variance in each method's variance s^2 (ucbe-lrf, default "
                      f"{_bandit.LRFConfig.prior_count:g})")
  g.add_argument("--columns", choices=_bandit.LRFConfig.COLUMNS,
                 help="which examples the picked method gets (ucbe-lrf): 'paired' (default), those already "
                      "evaluated for its closest rival first; 'std', the most uncertain first")
  g.add_argument("--keep", type=float,
                 help=f"sequential-halving: fraction of the surviving methods kept after each round (default "
                      f"{_bandit.HalvingConfig.keep})")
  g.add_argument("--noisy-keep", type=float,
                 help="sequential-halving: fraction kept per round instead, when the first round's ranking is "
                      f"mostly noise (default {_bandit.HalvingConfig.noisy_keep}; equal to --keep turns this off)")
  g.add_argument("--noisy-alpha", type=float,
                 help="sequential-halving: the first round is noise when its coefficient alpha is below this "
                      f"(default {_bandit.HalvingConfig.noisy_alpha})")
  p.set_defaults(func=_cmd)


# every algorithm setting, from the config classes (each flag is its name with dashes)
_SETTINGS = tuple(dict.fromkeys(name for alg in _bandit.ALGORITHMS for name in _bandit.parameters(alg)))
