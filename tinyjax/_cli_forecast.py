"""``tinyjax scaling ...`` and ``tinyjax coverage ...``: fit scaling and coverage laws from CSV files."""

from __future__ import annotations

import argparse
import json

import numpy as np


def _read_csv(path: str, selects: list[str] | None):
  import pandas as pd

  df = pd.read_csv(path)
  for sel in selects or []:
    if "=" not in sel:
      raise ValueError(f"--select expects COLUMN=VALUE[,VALUE...], got {sel!r}")
    col, values = sel.split("=", 1)
    if col not in df.columns:
      raise KeyError(f"--select: no column {col!r} in {path}")
    wanted = values.split(",")
    df = df[df[col].astype(str).isin(wanted)]
  if len(df) == 0:
    raise ValueError(f"no rows left in {path} after --select")
  return df


def _column(df, name: str, what: str) -> np.ndarray:
  if name not in df.columns:
    raise KeyError(f"{what}: no column {name!r}; columns are {list(df.columns)}")
  return df[name].astype(float).to_numpy()


def _print(payload: dict, as_json: bool) -> None:
  if as_json:
    print(json.dumps(payload, indent=2, default=float))
    return
  for key, value in payload.items():
    if isinstance(value, dict):
      print(f"{key}:")
      for k, v in value.items():
        print(f"  {k}: {v}")
    else:
      print(f"{key}: {value}")


def _save_plot(ax, path: str | None) -> None:
  if path:
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    print(f"plot written to {path}")


def _select_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--select", action="append", metavar="COL=V1,V2",
                 help="keep only rows whose COL is one of the listed values (repeatable; filters are ANDed; "
                      "the value may itself contain '=')")


def _common(p: argparse.ArgumentParser) -> None:
  p.add_argument("--bootstrap", type=int, default=0, help="number of bootstrap refits for percentile intervals (0: none)")
  p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
  p.add_argument("--json", action="store_true", help="print the result as JSON")
  p.add_argument("--plot", metavar="PNG", help="write a plot of the fit to this file (needs matplotlib)")


# ---------------------------------------------------------------------------- scaling


def _cmd_chinchilla(args) -> int:
  from tinyjax import scaling

  df = _read_csv(args.csv, args.select)
  n = _column(df, args.n_col, "--n-col")
  loss = _column(df, args.loss_col, "--loss-col")
  if args.d_col:
    d = _column(df, args.d_col, "--d-col")
  elif args.flop_col:
    d = _column(df, args.flop_col, "--flop-col") / (6.0 * n)
  else:
    raise ValueError("give --d-col (tokens) or --flop-col (compute, D = C / 6N)")
  if args.drop_highest:
    if args.drop_highest >= len(loss):
      raise ValueError("--drop-highest removes every point")
    keep = np.sort(np.argsort(loss)[: len(loss) - args.drop_highest])
    n, d, loss = n[keep], d[keep], loss[keep]
  fit = scaling.fit_chinchilla(n, d, loss, delta=args.delta, bootstrap=args.bootstrap, seed=args.seed)
  out = {"points": len(loss), "starts": fit.num_starts, "objective": fit.objective, "params": fit.params}
  if fit.intervals:
    out["intervals"] = fit.intervals
  _print(out, args.json)
  if args.plot:
    _save_plot(fit.plot(n, d, loss), args.plot)
  return 0


def _cmd_overtrained(args) -> int:
  from tinyjax import scaling

  df = _read_csv(args.csv, args.select)
  c = _column(df, args.c_col, "--c-col")
  m = _column(df, args.m_col, "--m-col")
  loss = _column(df, args.loss_col, "--loss-col")
  fit = scaling.fit_overtrained(c, m, loss, bootstrap=args.bootstrap, seed=args.seed)
  out = {"points": len(loss), "objective": fit.objective, "params": fit.params}
  if fit.intervals:
    out["intervals"] = fit.intervals
  if args.predict:
    preds = {}
    for item in args.predict:
      cc, mm = (float(x) for x in item.split(":"))
      preds[item] = float(fit.predict(cc, mm))
    out["predictions"] = preds
  _print(out, args.json)
  if args.plot:
    _save_plot(fit.plot(c, m, loss), args.plot)
  return 0


def _cmd_error(args) -> int:
  from tinyjax import scaling

  df = _read_csv(args.csv, args.select)
  loss = _column(df, args.loss_col, "--loss-col")
  err = _column(df, args.err_col, "--err-col")
  fit = scaling.fit_loss_to_error(loss, err, bootstrap=args.bootstrap, seed=args.seed)
  out = {"points": len(loss), "objective": fit.objective, "params": fit.params}
  if fit.intervals:
    out["intervals"] = fit.intervals
  if args.predict:
    out["predictions"] = {str(x): float(fit.predict(x)) for x in args.predict}
  _print(out, args.json)
  if args.plot:
    _save_plot(fit.plot(loss, err), args.plot)
  return 0


# ---------------------------------------------------------------------------- coverage


def _cmd_coverage_fit(args) -> int:
  from tinyjax import sampling

  df = _read_csv(args.csv, args.select)
  n = _column(df, args.n_col, "--n-col").astype(np.int64)
  c = _column(df, args.c_col, "--c-col").astype(np.int64)
  groups = [(None, slice(None))]
  if args.group_col:
    if args.group_col not in df.columns:
      raise KeyError(f"--group-col: no column {args.group_col!r}")
    groups = [(g, (df[args.group_col] == g).to_numpy()) for g in df[args.group_col].unique()]
  results = {}
  ax = None
  for name, sel in groups:
    ks = sampling.log_spaced_k(int(n[sel].min()), args.num_k)
    cov = sampling.pass_at_k(n[sel], c[sel], ks)
    if np.any(cov <= 0):
      results[str(name)] = {"error": "zero coverage at some k; cannot fit log coverage"}
      continue
    fit = sampling.fit_coverage(ks, cov)
    entry = {"problems": int(np.sum(np.ones_like(n)[sel])), "a": fit.a, "b": fit.b, "objective": fit.objective}
    if args.extrapolate:
      entry["predicted"] = {str(k): float(fit.predict(k)) for k in args.extrapolate}
    results[str(name) if name is not None else "all"] = entry
    if args.plot:
      ax = fit.plot(ks, cov, ax=ax)
  _print(results, args.json)
  if args.plot:
    _save_plot(ax, args.plot)
  return 0


def _cmd_passk(args) -> int:
  from tinyjax import sampling

  df = _read_csv(args.csv, args.select)
  n = _column(df, args.n_col, "--n-col").astype(np.int64)
  c = _column(df, args.c_col, "--c-col").astype(np.int64)
  ks = np.asarray(args.k, dtype=np.int64)
  vals = sampling.pass_at_k(n, c, ks)
  _print({"problems": len(n), "pass@k": {str(k): float(v) for k, v in zip(ks, vals)}}, args.json)
  return 0


def _cmd_allocate(args) -> int:
  from tinyjax import sampling

  data = sampling.read_osca(args.json_file)
  costs = None
  if args.costs:
    costs = np.asarray([float(x) for x in args.costs.split(",")])
  rows = sampling.compare_allocation(data, args.budget, costs=costs, fit_split=args.fit_split,
                                     eval_split=args.eval_split)
  if args.json:
    print(json.dumps(rows, indent=2, default=float))
    return 0
  print(f"{'budget':>8} {'OSCA':>8} {'best single':>12} {'config':>22} {'OSCA budget to match':>21} {'saving':>7}")
  for r in rows:
    print(f"{r['budget']:>8g} {r['osca']:>8.4f} {r['single']:>12.4f} {r['single_name']:>22} "
          f"{r['osca_budget_to_match']:>21g} {r['saving']:>6.2f}x")
  return 0


def register(subparsers) -> None:
  """Adds ``scaling`` and ``coverage`` with their subcommands."""
  sc = subparsers.add_parser("scaling", help="fit scaling laws (Chinchilla, Gadre et al. over-training, loss->error)",
                             description="Fit scaling laws to a CSV of training runs and print the parameters.")
  sc_sub = sc.add_subparsers(dest="scaling_command", metavar="LAW")
  sc.set_defaults(func=lambda args: (sc.print_help(), 2)[1])

  p = sc_sub.add_parser("chinchilla", help="L(N,D) = E + A/N^alpha + B/D^beta, Huber on log residuals, L-BFGS from 4,500 starts")
  p.add_argument("csv", help="CSV file, one row per training run")
  p.add_argument("--n-col", default="Model Size", help="column of parameter counts N (default: 'Model Size')")
  p.add_argument("--d-col", help="column of training tokens D")
  p.add_argument("--flop-col", default=None, help="column of training FLOPs C; D is taken as C / (6N)")
  p.add_argument("--loss-col", default="loss", help="column of final losses (default: loss)")
  p.add_argument("--drop-highest", type=int, default=0, help="drop this many highest-loss points before fitting "
                 "(Besiroglu et al. drop 5)")
  p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals (default 1e-3)")
  _select_arg(p)
  _common(p)
  p.set_defaults(func=_cmd_chinchilla)

  p = sc_sub.add_parser("overtrained", help="Gadre et al. L(C,M) = E + (a M^eta + b M^-eta) C^-eta")
  p.add_argument("csv", help="CSV file, one row per training run")
  p.add_argument("--c-col", default="flops_6ND", help="column of compute C = 6ND (default: flops_6ND)")
  p.add_argument("--m-col", default="token_mult_M", help="column of token multipliers M = D/N (default: token_mult_M)")
  p.add_argument("--loss-col", default="loss_c4_val", help="column of losses (default: loss_c4_val)")
  p.add_argument("--predict", nargs="*", metavar="C:M", help="also print the predicted loss at these C:M points")
  _select_arg(p)
  _common(p)
  p.set_defaults(func=_cmd_overtrained)

  p = sc_sub.add_parser("error", help="loss -> average top-1 error, Err(L) = epsilon - k exp(-gamma L)")
  p.add_argument("csv", help="CSV file, one row per model")
  p.add_argument("--loss-col", default="loss_c4_val", help="column of losses (default: loss_c4_val)")
  p.add_argument("--err-col", default="err_avg17", help="column of average errors (default: err_avg17)")
  p.add_argument("--predict", nargs="*", type=float, metavar="LOSS", help="also print the predicted error at these losses")
  _select_arg(p)
  _common(p)
  p.set_defaults(func=_cmd_error)

  cv = subparsers.add_parser("coverage", help="repeated sampling: pass@k, coverage-law fits, sample allocation",
                             description="pass@k and coverage laws from per-problem sample counts; OSCA allocation.")
  cv_sub = cv.add_subparsers(dest="coverage_command", metavar="ACTION")
  cv.set_defaults(func=lambda args: (cv.print_help(), 2)[1])

  p = cv_sub.add_parser("fit", help="fit coverage(k) = exp(a k^b) to unbiased pass@k on log-spaced k")
  p.add_argument("csv", help="CSV file, one row per problem (and group)")
  p.add_argument("--n-col", default="n", help="column of samples drawn per problem (default: n)")
  p.add_argument("--c-col", default="c", help="column of correct samples per problem (default: c)")
  p.add_argument("--group-col", help="fit one law per value of this column (e.g. Model)")
  p.add_argument("--num-k", type=int, default=40, help="number of log-spaced k values from 1 to min(n) (default 40)")
  p.add_argument("--extrapolate", nargs="*", type=float, metavar="K", help="print the predicted coverage at these k")
  p.add_argument("--json", action="store_true", help="print the result as JSON")
  p.add_argument("--plot", metavar="PNG", help="write the data and fitted curves to this file")
  _select_arg(p)
  p.set_defaults(func=_cmd_coverage_fit)

  p = cv_sub.add_parser("passk", help="mean unbiased pass@k over problems")
  p.add_argument("csv", help="CSV file, one row per problem")
  p.add_argument("--n-col", default="n", help="column of samples drawn per problem (default: n)")
  p.add_argument("--c-col", default="c", help="column of correct samples per problem (default: c)")
  p.add_argument("--k", type=int, nargs="+", required=True, help="one or more k values")
  p.add_argument("--json", action="store_true", help="print the result as JSON")
  _select_arg(p)
  p.set_defaults(func=_cmd_passk)

  p = cv_sub.add_parser("allocate", help="OSCA sample allocation vs the best single configuration")
  p.add_argument("json_file", help="OSCA json file (keys settings, train, test)")
  p.add_argument("--budget", type=float, nargs="+", required=True, help="total budgets (samples, or cost units with --costs)")
  p.add_argument("--costs", help="comma-separated cost per sample of each configuration (default: all 1)")
  p.add_argument("--fit-split", default="train", choices=("train", "test"), help="split the allocation is chosen on")
  p.add_argument("--eval-split", default="test", choices=("train", "test"), help="split the coverage is reported on")
  p.add_argument("--json", action="store_true", help="print the rows as JSON")
  p.set_defaults(func=_cmd_allocate)
