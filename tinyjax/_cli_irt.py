"""``tinyjax fit`` and ``tinyjax ability``."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "fit", help="fit an IRT model to a models x items response matrix",
      description="Fit a 1PL/2PL/3PL or multidimensional 2PL IRT model by MAP and save it. "
      "RESPONSES is a .npy/.npz/.csv/.parquet file or a datasets folder (rows = models, columns = items, "
      "values 0/1 or scores in [0, 1], empty/NaN = missing).")
  p.add_argument("responses", metavar="RESPONSES", help="response matrix file")
  p.add_argument("--kind", default="2pl", choices=["1pl", "2pl", "3pl"], help="IRT model (default: 2pl)")
  p.add_argument("--dim", default="1",
                 help="latent dimension, or 'auto' to choose it (and the prior strength) on held-out entries "
                 "(default: 1)")
  p.add_argument("--out", required=True, metavar="MODEL", help="where to save the fitted model (.tjx/.npz)")
  p.add_argument("--seed", type=int, default=0, help="seed of the start and of held-out masks (default: 0)")
  p.add_argument("--likelihood", default="bernoulli", choices=["bernoulli", "binarize"],
                 help="bernoulli: 0/1 or fractional scores as they are; binarize: score >= --threshold counts "
                 "as correct (default: bernoulli)")
  p.add_argument("--threshold", type=float, default=0.5, help="binarization threshold (default: 0.5)")
  p.add_argument("--guess", type=float, default=None,
                 help="3PL: fix the lower asymptote at this value (e.g. 0.25); omit to learn it")
  p.add_argument("--n-choices", type=int, default=None,
                 help="3PL: answer options per item; centres the learned asymptote's prior at 1/n")
  p.add_argument("--prior-scale", default="auto",
                 help="prior strength multiplier, or 'auto' to grow it with the number of models (default: auto)")
  p.add_argument("--hierarchical", action="store_true", help="learn the item priors' means and sds")
  p.add_argument("--max-iter", type=int, default=3000, help="L-BFGS iteration cap (default: 3000)")
  p.add_argument("--float64", action="store_true", help="fit in float64 (default float32)")
  p.add_argument("--drop-empty", action="store_true",
                 help="drop models/items with no observation (reported) instead of failing")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.set_defaults(func=_fit)

  q = subparsers.add_parser(
      "ability", help="estimate abilities of new models with a fitted IRT model",
      description="Estimate each row's ability (with standard errors) from its answers. Columns of "
      "RESPONSES are matched to the model's items by id when the file has item ids (CSV header, parquet "
      "columns); otherwise RESPONSES must have one column per model item, in order.")
  q.add_argument("model", metavar="MODEL", help="model saved by 'tinyjax fit'")
  q.add_argument("responses", metavar="RESPONSES", help="answers of the new models")
  q.add_argument("--method", default="map", choices=["mle", "map", "eap"],
                 help="mle (diverges on all-right/all-wrong rows, which are flagged), map or eap (default: map)")
  q.add_argument("--out", default=None, help="write a CSV here instead of printing it")
  q.set_defaults(func=_ability)


def _fit(args) -> int:
  import contextlib

  import jax

  import tinyjax as tj
  from tinyjax import data

  dim = args.dim if args.dim == "auto" else int(args.dim)
  scale = args.prior_scale if args.prior_scale == "auto" else float(args.prior_scale)
  r = data.load_responses(args.responses, drop_empty=args.drop_empty)
  print(f"responses: {r.n_models} models x {r.n_items} items, {100 * (1 - r.mask.mean()):.1f}% missing")
  # --float64: JAX's scoped switch around this command only (the caller's setting is left as it was).
  with jax.enable_x64(True) if args.float64 else contextlib.nullcontext():
    model = tj.fit_irt(r, kind=args.kind, dim=dim, seed=args.seed, likelihood=args.likelihood,
                       threshold=args.threshold, guess=args.guess, n_choices=args.n_choices,
                       priors=tj.IRTPriors(scale=scale, hierarchical=args.hierarchical),
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

  import tinyjax as tj
  from tinyjax import data

  model = tj.IRTModel.load(args.model)
  r = data.load_responses(args.responses)
  known = {iid: k for k, iid in enumerate(model.item_ids)}
  if all(iid in known for iid in r.item_ids):
    items = np.array([known[iid] for iid in r.item_ids])
  elif r.n_items == model.n_items:
    items = None
  else:
    missing = [iid for iid in r.item_ids if iid not in known][:5]
    from tinyjax.errors import ItemError
    raise ItemError(f"RESPONSES has {r.n_items} columns whose ids are not the model's items (e.g. {missing}) "
                     f"and not one column per model item ({model.n_items})")
  ab = tj.estimate_ability(model, r.values, items=items, method=args.method)
  cols = {"model": r.model_ids}
  for k in range(model.dim):
    cols[f"theta_{k + 1}"] = ab.theta[:, k]
    cols[f"se_{k + 1}"] = ab.se[:, k]
  cols["converged"] = ab.converged
  cols["diverged"] = ab.diverged
  frame = pd.DataFrame(cols)
  if args.out:
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} abilities to {args.out}")
  else:
    print(frame.to_string(index=False))
  if ab.diverged.any():
    print(f"note: {int(ab.diverged.sum())} row(s) have no finite MLE (all right or all wrong); "
          "use --method map or eap", file=sys.stderr)
  return 0

