"""``tinyjax fit`` and ``tinyjax ability``."""

from __future__ import annotations

import sys

import numpy as np

from tinyjax._cli_common import add_matrix_options, dim_type, input_path, number_type, read_matrix, seed_type


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "fit", help="fit an IRT model to a models x items response matrix",
      description="Fit a 1PL/2PL/3PL or multidimensional 2PL IRT model by MAP and save it. "
      "RESPONSES is a .npy/.npz/.csv/.tsv/.parquet file or a datasets folder (rows = models, columns = items, "
      "values 0/1 or scores in [0, 1], empty/NaN = missing).")
  p.add_argument("responses", type=input_path, metavar="RESPONSES", help="response matrix file")
  p.add_argument("--kind", default="2pl", choices=["1pl", "2pl", "3pl"], help="IRT model")
  p.add_argument("--dim", default="1", type=dim_type,
                 help="latent dimension, or 'auto' to choose it (and the prior strength) on held-out entries; "
                 "'auto' costs one held-out fit per candidate dimension (about 4x the time of one fit), so fit "
                 "does the one fit asked for, while 'tinyjax build' defaults to auto because its anchors and "
                 "estimates rest on the best-fitting model")
  p.add_argument("--out", required=True, metavar="MODEL", help="where to save the fitted model (.tjx)")
  p.add_argument("--seed", type=seed_type, default=0, help="seed of the start and of held-out masks")
  p.add_argument("--likelihood", default="bernoulli", choices=["bernoulli", "binarize"],
                 help="bernoulli: 0/1 or fractional scores as they are; binarize: score >= --threshold counts "
                 "as correct")
  p.add_argument("--threshold", type=float, default=0.5, help="binarization threshold (--likelihood binarize)")
  p.add_argument("--guess", type=float, default=None,
                 help="3PL: fix the lower asymptote at this value (e.g. 0.25); omit to learn it")
  p.add_argument("--n-choices", type=int, default=None,
                 help="3PL: answer options per item; centres the learned asymptote's prior at 1/n")
  p.add_argument("--prior-scale", default="auto", type=_prior_scale,
                 help="prior strength multiplier, or 'auto' to grow it with the number of models")
  p.add_argument("--hierarchical", action="store_true", help="learn the item priors' means and sds")
  p.add_argument("--max-iter", type=int, default=3000, help="L-BFGS iteration cap")
  p.add_argument("--float64", action="store_true", help="fit in float64 instead of float32")
  add_matrix_options(p)
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.set_defaults(func=_fit)

  q = subparsers.add_parser(
      "ability", help="estimate abilities of new models with a fitted IRT model",
      description="Estimate each row's ability (with standard errors) from its answers. When RESPONSES has "
      "item ids (CSV/TSV header, parquet or npz columns, datasets columns), its columns are matched to the "
      "model's items by id, in any order and any subset; an id the model does not know is an error that "
      "names it. Without ids (a bare .npy, a headerless CSV), RESPONSES must have one column per model "
      "item, in the model's order.")
  q.add_argument("model", type=input_path, metavar="MODEL", help="model saved by 'tinyjax fit' (.tjx)")
  q.add_argument("responses", type=input_path, metavar="RESPONSES", help="answers of the new models (same formats as for fit)")
  q.add_argument("--method", default="map", choices=["mle", "map", "eap"],
                 help="mle (diverges on all-right/all-wrong rows, which are flagged), map or eap")
  q.add_argument("--out", default=None, metavar="CSV", help="write a CSV here instead of printing it")
  add_matrix_options(q)
  q.set_defaults(func=_ability)


_prior_scale = number_type(float, 0.0, "a prior scale is a positive number or 'auto'", strict=True, words=("auto",))


def _fit(args) -> int:
  import contextlib

  import jax

  from tinyjax.irt import IRTPriors, fit_irt
  r = read_matrix(args, args.responses)
  print(f"responses: {r.n_models} models x {r.n_items} items, {100 * (1 - r.mask.mean()):.1f}% missing")
  # --float64: JAX's scoped switch around this command only (the caller's setting is left as it was).
  with jax.enable_x64(True) if args.float64 else contextlib.nullcontext():
    model = fit_irt(r, kind=args.kind, dim=args.dim, seed=args.seed, likelihood=args.likelihood,
                    threshold=args.threshold, guess=args.guess, n_choices=args.n_choices,
                    priors=IRTPriors(scale=args.prior_scale, hierarchical=args.hierarchical),
                    dtype="float64" if args.float64 else None, max_iter=args.max_iter,
                    progress=False if args.quiet else None)
  info = model.fit_info
  print(f"fitted {model.kind} dim={model.dim}: {info.n_iter} iterations, objective {info.objective:.6f}, "
        f"converged={info.converged}, prior scale {info.prior_scale:.3g}, {info.seconds:.1f} s")
  if not info.converged:
    print("warning: the fit stopped at --max-iter before converging", file=sys.stderr)
  path = model.save(args.out)
  print(f"saved {path}")
  return 0


def _ability(args) -> int:
  import pandas as pd

  from tinyjax.irt import IRTModel, estimate_ability

  model = IRTModel.load(args.model)
  r = read_matrix(args, args.responses)
  items = _model_items(model, r, args.responses)
  ab = estimate_ability(model, r.values, items=items, method=args.method)
  cols = {"model": r.model_ids}
  for k in range(model.dim):
    cols[f"theta_{k + 1}"] = ab.theta[:, k]
    cols[f"se_{k + 1}"] = ab.se[:, k]
  cols["converged"] = ab.converged
  cols["diverged"] = ab.diverged
  frame = pd.DataFrame(cols)
  if args.out:
    from tinyjax.cli import write_csv

    write_csv(frame, args.out)   # atomic; creates the folder, like the .tjx artifacts
    print(f"wrote {len(frame)} abilities to {args.out}")
  else:
    print(frame.to_string(index=False))
  if ab.diverged.any():
    print(f"note: {int(ab.diverged.sum())} row(s) have no finite MLE (all right or all wrong); "
          "use --method map or eap", file=sys.stderr)
  return 0


def _positions_without_ids(r) -> np.ndarray | None:
  """Column positions in the file when it had no item ids at all, else None (the columns are then read by id).

  Only input without ids (a bare .npy, a csv without a header line) is read by position: ``r.item_ids_given``
  says so, never the look of the ids, so a header ``item_0,item_1,...`` is ids like any other. With
  --drop-empty the dropped columns leave gaps, so the positions skip them.
  """
  if r.item_ids_given:
    return None
  dropped = set(r.dropped.item_index)
  return np.array([j for j in range(r.n_items + len(dropped)) if j not in dropped], dtype=int)


def _model_items(model, r, source) -> np.ndarray | None:
  """The model item of each column of ``r``: by id when the file has ids, else by position (counts must match)."""
  from tinyjax.errors import ItemError

  from tinyjax.data.responses import columns_by_id

  positions = _positions_without_ids(r)
  if positions is None:   # the file names its columns: match by id, in any order, any subset
    return columns_by_id(r, model.item_ids, name=str(source))[1]
  n_file = r.n_items + len(r.dropped.items)
  if n_file != model.n_items:
    raise ItemError(f"{source} has no item ids and {n_file} columns, but the model has {model.n_items} items; "
                    "give one column per model item in the model's order, or name the columns by item id")
  return positions
