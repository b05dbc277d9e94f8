"""An oracle floor for p-IRT on the real matrices: item parameters fitted on ALL models, test models included.

For each matrix: one 2PL fit (``dim="auto"`` among 1-3) on every model; then, per seed, the iid test models of
``accuracy.py`` answer 100 random anchors, their abilities are MLE from those answers (MAP where the MLE diverges), and p-IRT (anchors observed,
every other item predicted) is compared with the true score. The item parameters have seen the test models' full
rows, so this is what p-IRT reaches when only the 100 anchors limit it, not the train set. It also prints the
random-anchor naive error on the same anchors and the in-sample error of the fit itself (the mean predicted
probability at the fitted abilities against the true score), and a second oracle that needs no IRT model: a
ridge regression of the true score on the same 100 anchor answers, fitted on every other model (leave-one-out, the
penalty also chosen by leave-one-out error over all models).

Usage:
  python benchmarks/accuracy_floor.py --matrices helm_lite/med_qa,openllm_v2/musr --seeds 5
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import accuracy as A  # noqa: E402


def _loo_ridge(X: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Leave-one-out residuals [n] of ridge regression (intercept unpenalised), penalty minimising their mean |.|."""
  n = len(y)
  U, s, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
  best = None
  for alpha in np.logspace(-3, 4, 36):
    shrink = s ** 2 / (s ** 2 + alpha)
    fit = y.mean() + U @ (shrink * (U.T @ (y - y.mean())))
    hat = 1.0 / n + (U ** 2) @ shrink
    resid = (y - fit) / (1.0 - hat)
    if best is None or np.abs(resid).mean() < np.abs(best).mean():
      best = resid
  return best


def floor(name: str, seeds: int, n_anchors: int = 100) -> dict:
  import tinyjax as tj
  Y, _ = A.load_matrix(name)
  truth = np.nanmean(Y, axis=1)                 # as accuracy.py: the mean over the observed entries
  model = tj.fit_irt(Y, kind="2pl", dim="auto", dims=(1, 2, 3), seed=0, progress=False)
  observed = ~np.isnan(Y)
  rowfit = np.where(observed, model.predict_proba(model.theta), 0).sum(axis=1) / observed.sum(axis=1)
  out = {"matrix": name, "dim": int(model.dim), "pirt": [], "naive": [], "fit": [], "ridge": []}
  for seed in range(seeds):
    test = A.splits(Y, seed)["iid"]
    anchors = np.sort(np.random.default_rng(seed).choice(Y.shape[1], n_anchors, replace=False))
    answers = Y[test][:, anchors]
    theta = np.array(tj.estimate_ability(model, answers, items=anchors, method="mle").theta)
    bad = ~np.isfinite(theta).all(axis=1)       # all anchors right (or wrong): MAP, as TinyBenchmark does
    if bad.any():
      theta[bad] = np.asarray(tj.estimate_ability(model, answers[bad], items=anchors, method="map").theta)
    P = np.array(model.predict_proba(theta))
    P[:, anchors] = np.where(np.isnan(answers), P[:, anchors], answers)
    pirt = np.where(observed[test], P, 0).sum(axis=1) / observed[test].sum(axis=1)
    out["pirt"].append(100 * float(np.abs(pirt - truth[test]).mean()))
    out["naive"].append(100 * float(np.abs(np.nanmean(answers, axis=1) - truth[test]).mean()))
    X = Y[:, anchors]
    X = np.where(np.isnan(X), np.nanmean(X, axis=0), X)   # alpaca_eval2 misses 10 cells
    out["ridge"].append(100 * float(np.abs(_loo_ridge(X, truth)[test]).mean()))
    out["fit"].append(100 * float(np.abs(rowfit[test] - truth[test]).mean()))
  return out


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--matrices", default=",".join(A.FULL_ITEM))
  ap.add_argument("--seeds", type=int, default=5)
  args = ap.parse_args(argv)
  rows = [floor(m, args.seeds) for m in args.matrices.split(",")]
  print("| matrix | dim | oracle-item p-IRT | leave-one-out ridge | random naive | in-sample fit |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['matrix']} | {r['dim']} | {np.mean(r['pirt']):.2f} | {np.mean(r['ridge']):.2f} | {np.mean(r['naive']):.2f} | {np.mean(r['fit']):.2f} |")
  print(f"| mean | | {np.mean([np.mean(r['pirt']) for r in rows]):.2f} | {np.mean([np.mean(r['ridge']) for r in rows]):.2f} | {np.mean([np.mean(r['naive']) for r in rows]):.2f} "
        f"| {np.mean([np.mean(r['fit']) for r in rows]):.2f} |")


if __name__ == "__main__":
  main()
