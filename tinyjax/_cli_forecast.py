"""``tinyjax scaling ...`` and ``tinyjax coverage ...``: fit scaling and coverage laws from CSV files.

Table-driven: each subcommand is one :class:`_Command` (its arguments and a ``compute(args, df)`` that returns
the payload to print and, with ``--plot``, a function drawing the axes to save); :func:`_run` is the one runner.
Every command runs in float64 (the documented figures are float64): the runner wraps the command in JAX's own
scoped ``jax.enable_x64(True)``, so ``main([...])`` called from Python leaves the caller's setting as it was.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import numpy as np

from tinyjax._cli_common import input_path, seed_type
from tinyjax.errors import ConfigError, InputError

# ---------------------------------------------------------------------------- shared helpers


def _read_csv(path: str, selects: list[str] | None):
  import pathlib

  import pandas as pd

  from tinyjax.errors import MissingFileError

  if not pathlib.Path(path).is_file():
    raise MissingFileError(f"no such file: {path}")
  df = pd.read_csv(path)
  for sel in selects or []:
    if "=" not in sel:
      raise ConfigError(f"--select expects COLUMN=VALUE[,VALUE...], got {sel!r}")
    col, values = sel.split("=", 1)
    if col not in df.columns:
      raise InputError(f"--select: no column {col!r} in {path}")
    df = df[df[col].astype(str).isin(values.split(","))]
  if len(df) == 0:
    raise InputError(f"no rows left in {path} after --select")
  return df


def _column(df, name: str, what: str) -> np.ndarray:
  if name not in df.columns:
    raise InputError(f"{what}: no column {name!r}; columns are {list(df.columns)}")
  return df[name].astype(float).to_numpy()


def _print(payload: Any, as_json: bool) -> None:
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


def _law_payload(fit, points: int, **extra) -> dict:
  out = {"points": points, **extra, "objective": fit.objective, "params": fit.params}
  if fit.intervals:
    out["intervals"] = fit.intervals
  return out


# ---------------------------------------------------------------------------- the commands


def _chinchilla(args, df):
  from tinyjax import scaling

  n = _column(df, args.n_col, "--n-col")
  loss = _column(df, args.loss_col, "--loss-col")
  if args.d_col:
    d = _column(df, args.d_col, "--d-col")
  elif args.flop_col:
    d = _column(df, args.flop_col, "--flop-col") / (6.0 * n)
  else:
    raise ConfigError("give --d-col (tokens) or --flop-col (compute, D = C / 6N)")
  if args.drop_highest:
    if args.drop_highest >= len(loss):
      raise ConfigError("--drop-highest removes every point")
    keep = np.sort(np.argsort(loss)[: len(loss) - args.drop_highest])
    n, d, loss = n[keep], d[keep], loss[keep]
  fit = scaling.fit_chinchilla(n, d, loss, delta=args.delta, bootstrap=args.bootstrap, seed=args.seed)
  return _law_payload(fit, len(loss), starts=fit.n_starts), (lambda: fit.plot(n, d, loss))


def _overtrained(args, df):
  from tinyjax import scaling

  c = _column(df, args.c_col, "--c-col")
  m = _column(df, args.m_col, "--m-col")
  loss = _column(df, args.loss_col, "--loss-col")
  fit = scaling.fit_overtrained(c, m, loss, bootstrap=args.bootstrap, seed=args.seed)
  out = _law_payload(fit, len(loss))
  if args.predict:
    preds = {}
    for item in args.predict:
      try:
        cc, mm = (float(x) for x in item.split(":"))
      except ValueError as err:
        raise ConfigError(f"--predict expects C:M, got {item!r}") from err
      preds[item] = float(fit.predict(cc, mm))
    out["predictions"] = preds
  return out, (lambda: fit.plot(c, m, loss))


def _error(args, df):
  from tinyjax import scaling

  loss = _column(df, args.loss_col, "--loss-col")
  err = _column(df, args.err_col, "--err-col")
  fit = scaling.fit_loss_to_error(loss, err, bootstrap=args.bootstrap, seed=args.seed)
  out = _law_payload(fit, len(loss))
  if args.predict:
    out["predictions"] = {str(x): float(fit.predict(x)) for x in args.predict}
  return out, (lambda: fit.plot(loss, err))


def _counts(args, df) -> tuple[np.ndarray, np.ndarray]:
  return (_column(df, args.n_col, "--n-col").astype(np.int64), _column(df, args.c_col, "--c-col").astype(np.int64))


def _coverage_fit(args, df):
  from tinyjax import sampling

  n, c = _counts(args, df)
  groups = [(None, slice(None))]
  if args.group_col:
    if args.group_col not in df.columns:
      raise InputError(f"--group-col: no column {args.group_col!r}")
    groups = [(g, (df[args.group_col] == g).to_numpy()) for g in df[args.group_col].unique()]
  results, curves = {}, []
  for name, sel in groups:
    ks = sampling.log_spaced_k(int(n[sel].min()), args.n_k)
    cov = sampling.pass_at_k(n[sel], c[sel], ks)
    if np.any(cov <= 0):
      results[str(name)] = {"error": "zero coverage at some k; cannot fit log coverage"}
      continue
    fit = sampling.fit_coverage(ks, cov)
    entry = {"problems": int(np.sum(np.ones_like(n)[sel])), "a": fit.a, "b": fit.b, "objective": fit.objective}
    if args.extrapolate:
      entry["predicted"] = {str(k): float(fit.predict(k)) for k in args.extrapolate}
    results[str(name) if name is not None else "all"] = entry
    curves.append((fit, ks, cov))

  def plot():
    ax = None
    for fit, ks, cov in curves:
      ax = fit.plot(ks, cov, ax=ax)
    return ax

  return results, plot


def _passk(args, df):
  from tinyjax import sampling

  n, c = _counts(args, df)
  ks = np.asarray(args.k, dtype=np.int64)
  vals = sampling.pass_at_k(n, c, ks)
  return {"problems": len(n), "pass@k": {str(k): float(v) for k, v in zip(ks, vals)}}, None


def _allocate(args, df):
  from tinyjax import sampling

  data = sampling.read_osca(args.json_file)
  costs = None
  if args.costs:
    try:
      costs = np.asarray([float(x) for x in args.costs.split(",")])
    except ValueError as err:
      raise ConfigError(f"--costs expects comma-separated numbers, got {args.costs!r}") from err
  rows = sampling.compare_allocation(data, args.budget, costs=costs, fit_split=args.fit_split,
                                     eval_split=args.eval_split)
  return rows, None


def _print_allocation(rows, as_json: bool) -> None:
  if as_json:
    print(json.dumps(rows, indent=2, default=float))
    return
  print(f"{'budget':>8} {'OSCA':>8} {'best single':>12} {'config':>22} {'OSCA budget to match':>21} {'saving':>7}")
  for r in rows:
    print(f"{r['budget']:>8g} {r['osca']:>8.4f} {r['single']:>12.4f} {r['single_name']:>22} "
          f"{r['osca_budget_to_match']:>21g} {r['saving']:>6.2f}x")


# ---------------------------------------------------------------------------- the table


def _arg(*names, **kwargs) -> tuple[tuple, dict]:
  return names, kwargs


_SELECT = _arg("--select", action="append", metavar="COL=V1,V2",
               help="keep only rows whose COL is one of the listed values (repeatable; filters are ANDed; "
                    "the value may itself contain '=')")
_JSON = _arg("--json", action="store_true", help="print the result as JSON")
_BOOT = [_arg("--bootstrap", type=int, default=0, help="number of bootstrap refits for percentile intervals (0: none)"),
         _arg("--seed", type=seed_type, default=0, help="seed of the bootstrap resampling"),
         _JSON, _arg("--plot", metavar="PNG", help="write a plot of the fit to this file (needs matplotlib)")]
_N_C = [_arg("--n-col", default="n", help="column of samples drawn per problem"),
        _arg("--c-col", default="c", help="column of correct samples per problem")]


@dataclasses.dataclass(frozen=True)
class _Command:
  """One subcommand: ``tinyjax GROUP NAME``; ``compute(args, df) -> (payload, plot or None)``."""
  group: str
  name: str
  help: str           # the line in ``tinyjax GROUP --help``
  description: str    # the paragraph at the top of ``tinyjax GROUP NAME --help``
  args: list
  compute: Callable
  reads_csv: bool = True
  show: Callable = _print


_COMMANDS = (
    _Command("scaling", "chinchilla",
             "L(N,D) = E + A/N^alpha + B/D^beta, Huber on log residuals, L-BFGS from 4,500 starts",
             "Fit the Chinchilla law L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022) to a CSV with one "
             "row per training run, as Besiroglu et al. (2024) refit it: Huber loss on log-loss residuals, "
             "L-BFGS from a grid of 4,500 starts. Prints E, A, B, alpha, beta and the objective; --bootstrap "
             "adds percentile intervals. Runs in float64.", [
                 _arg("csv", type=input_path, help="CSV file, one row per training run"),
                 _arg("--n-col", default="Model Size", help="column of parameter counts N"),
                 _arg("--d-col", help="column of training tokens D (give it or --flop-col)"),
                 _arg("--flop-col", default=None, help="column of training FLOPs C; D is taken as C / (6N)"),
                 _arg("--loss-col", default="loss", help="column of final losses"),
                 _arg("--drop-highest", type=int, default=0,
                      help="drop this many highest-loss points before fitting (Besiroglu et al. drop 5)"),
                 _arg("--delta", type=float, default=1e-3,
                      help="Huber threshold on log-loss residuals"),
                 _SELECT, *_BOOT], _chinchilla),
    _Command("scaling", "overtrained", "Gadre et al. L(C,M) = E + (a M^eta + b M^-eta) C^-eta",
             "Fit the over-training law of Gadre et al. (2024), L(C, M) = E + (a M^eta + b M^-eta) C^-eta, with "
             "compute C = 6ND and token multiplier M = D/N, to a CSV with one row per training run "
             "(Levenberg-Marquardt from their 128-start grid). --predict prints the fitted loss at new C:M "
             "points. Runs in float64.", [
        _arg("csv", type=input_path, help="CSV file, one row per training run"),
        _arg("--c-col", default="flops_6ND", help="column of compute C = 6ND"),
        _arg("--m-col", default="token_mult_M", help="column of token multipliers M = D/N"),
        _arg("--loss-col", default="loss_c4_val", help="column of losses"),
        _arg("--predict", nargs="*", metavar="C:M", help="also print the predicted loss at these C:M points"),
        _SELECT, *_BOOT], _overtrained),
    _Command("scaling", "error", "loss -> average top-1 error, Err(L) = epsilon - k exp(-gamma L)",
             "Fit Gadre et al.'s (2024) map from loss to average top-1 error, Err(L) = epsilon - k exp(-gamma L), "
             "to a CSV with one row per model. --predict prints the fitted error at new losses. Runs in "
             "float64.", [
        _arg("csv", type=input_path, help="CSV file, one row per model"),
        _arg("--loss-col", default="loss_c4_val", help="column of losses"),
        _arg("--err-col", default="err_avg17", help="column of average errors"),
        _arg("--predict", nargs="*", type=float, metavar="LOSS", help="also print the predicted error at these losses"),
        _SELECT, *_BOOT], _error),
    _Command("coverage", "fit", "fit coverage(k) = exp(a k^b) to unbiased pass@k on log-spaced k",
             "From a CSV with one row per problem (samples drawn n, correct samples c), compute the unbiased "
             "pass@k (Chen et al. 2021) at log-spaced k from 1 to min(n) and fit the coverage law "
             "coverage(k) = exp(a k^b) of Brown et al. (2024) by least squares on log coverage; one law per "
             "value of --group-col. --extrapolate predicts the coverage at larger k. Runs in float64.", [
        _arg("csv", type=input_path, help="CSV file, one row per problem (and group)"), *_N_C,
        _arg("--group-col", help="fit one law per value of this column (e.g. Model)"),
        _arg("--n-k", type=int, default=40, help="number of log-spaced k values from 1 to min(n)"),
        _arg("--extrapolate", nargs="*", type=float, metavar="K", help="print the predicted coverage at these k"),
        _JSON, _arg("--plot", metavar="PNG", help="write the data and fitted curves to this file"),
        _SELECT], _coverage_fit),
    _Command("coverage", "passk", "mean unbiased pass@k over problems",
             "Mean over problems of the unbiased pass@k of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), for each "
             "k given, from a CSV with one row per problem (samples drawn n, correct samples c). Runs in "
             "float64.", [
        _arg("csv", type=input_path, help="CSV file, one row per problem"), *_N_C,
        _arg("--k", type=int, nargs="+", required=True, help="one or more k values"),
        _JSON, _SELECT], _passk),
    _Command("coverage", "allocate", "OSCA sample allocation vs the best single configuration",
             "OSCA (Zhang et al. 2024): choose how many samples to draw from each sampling configuration so "
             "that the expected coverage is largest within each budget, and compare it with the best single "
             "configuration at the same budget. Both are chosen on --fit-split and scored on --eval-split; "
             "the table gives both coverages and the budget OSCA needs to match the single best (the "
             "saving). Runs in float64.", [
        _arg("json_file", help="OSCA json file (keys settings, train, test)"),
        _arg("--budget", type=float, nargs="+", required=True,
             help="total budgets (samples, or cost units with --costs)"),
        _arg("--costs", help="comma-separated cost per sample of each configuration; without it every sample costs 1"),
        _arg("--fit-split", default="train", choices=("train", "test"), help="split the allocation is chosen on"),
        _arg("--eval-split", default="test", choices=("train", "test"), help="split the coverage is reported on"),
        _arg("--json", action="store_true", help="print the rows as JSON")], _allocate,
             reads_csv=False, show=_print_allocation),
)

_GROUPS = {   # group: (help, description, metavar, help of the metavar)
    "scaling": ("fit scaling laws (Chinchilla, Gadre et al. over-training, loss->error)",
                "Fit scaling laws to a CSV of training runs and print the parameters (JSON with --json). "
                "Run 'tinyjax scaling LAW --help' for the columns each law reads.", "LAW", "the law to fit"),
    "coverage": ("repeated sampling: pass@k, coverage-law fits, sample allocation",
                 "pass@k and coverage laws from per-problem sample counts; OSCA sample allocation. Run "
                 "'tinyjax coverage ACTION --help' for the inputs of each.", "ACTION", "what to compute"),
}


def _run(command: _Command, args) -> int:
  """The one runner: float64 on, read the CSV, compute, print, plot."""
  import jax

  with jax.enable_x64(True):   # float64 for this command only
    df = _read_csv(args.csv, args.select) if command.reads_csv else None
    payload, plot = command.compute(args, df)
    wrote = plot is not None and getattr(args, "plot", None)
    if wrote:   # the file first, then the screen (`| head` cannot lose it)
      from tinyjax.cli import save_figure

      ax = plot()
      ax.figure.tight_layout()
      save_figure(ax.figure, args.plot, dpi=120)
    command.show(payload, args.json)
    if wrote:
      print(f"plot written to {args.plot}")
  return 0


def register(subparsers) -> None:
  """Adds ``scaling`` and ``coverage`` with their subcommands, one per :data:`_COMMANDS` entry."""
  groups = {}
  for group, (help_, description, metavar, what) in _GROUPS.items():
    parser = subparsers.add_parser(group, help=help_, description=description)
    groups[group] = parser.add_subparsers(dest=f"{group}_command", metavar=metavar, help=what)
    parser.set_defaults(func=lambda args, parser=parser: (parser.print_help(), 2)[1])
  for command in _COMMANDS:
    p = groups[command.group].add_parser(command.name, help=command.help, description=command.description)
    for names, kwargs in command.args:
      p.add_argument(*names, **kwargs)
    p.set_defaults(func=lambda args, command=command: _run(command, args))
