"""Chinchilla multi-start fit: tinyjax (optax L-BFGS, float64, jit) vs scipy.optimize.minimize looped.

Both fit the Besiroglu et al. protocol on ../shared/data/scaling/chinchilla_epoch_245.csv (5 highest-loss
points dropped, 240 left; Huber delta 1e-3 on log residuals, summed) from the SAME start grid (their
4,500 points; ``--quick`` uses every 9th, 500 starts). scipy gets the analytic gradient (numpy), so the
comparison is optimiser + language overhead, not finite differences.

  python benchmarks/bench_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import logsumexp

import jax

jax.config.update("jax_enable_x64", True)   # the documented fit is float64: a program opts in at its start

import tinyjax as tj
from tinyjax.scaling import chinchilla_start_grid

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "scaling" / "chinchilla_epoch_245.csv"


def load():
  df = pd.read_csv(DATA)
  n = df["Model Size"].to_numpy(float)
  d = df["Training FLOP"].to_numpy(float) / (6 * n)
  loss = df["loss"].to_numpy(float)
  keep = np.argsort(loss)[:-5]
  return n[keep], d[keep], loss[keep]


def scipy_fit(n, d, loss, starts, delta=1e-3):
  ln, ld, ll = np.log(n), np.log(d), np.log(loss)

  def fun(p):
    a, b, e, alpha, beta = p
    terms = np.stack([a - alpha * ln, b - beta * ld, np.full_like(ln, e)])
    pred = logsumexp(terms, axis=0)
    w = np.exp(terms - pred)                                   # softmax weights, d pred / d terms
    r = ll - pred
    quad = np.abs(r) <= delta
    value = np.sum(np.where(quad, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)))
    dr = -np.where(quad, r, delta * np.sign(r))                # d huber / d pred
    grad = np.array([np.sum(dr * w[0]), np.sum(dr * w[1]), np.sum(dr * w[2]),
                     np.sum(dr * w[0] * -ln), np.sum(dr * w[1] * -ld)])
    return value, grad

  best = (np.inf, None)
  values = np.empty(len(starts))
  with np.errstate(all="ignore"):
    for i, p0 in enumerate(starts):
      res = optimize.minimize(fun, p0, jac=True, method="L-BFGS-B")
      values[i] = res.fun if np.isfinite(res.fun) else np.inf
      if values[i] < best[0]:
        best = (values[i], res.x)
  return best, values


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true", help="500 starts instead of 4,500")
  args = ap.parse_args(argv)
  if not DATA.exists():
    print(f"data missing: {DATA}", file=sys.stderr)
    return 1
  n, d, loss = load()
  starts = chinchilla_start_grid()
  if args.quick:
    starts = starts[::9]
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, {len(starts)} starts, {n.size} points")

  t, c = time.perf_counter(), time.process_time()
  fit = tj.scaling.fit_chinchilla(n, d, loss, starts=starts)
  t_first, c_first = time.perf_counter() - t, time.process_time() - c
  t, c = time.perf_counter(), time.process_time()
  fit = tj.scaling.fit_chinchilla(n, d, loss, starts=starts)
  t_tj, c_tj = time.perf_counter() - t, time.process_time() - c
  print(f"tinyjax  first call (compile + run) {t_first:8.2f} s wall {c_first:8.2f} s CPU")
  print(f"tinyjax  warm call                  {t_tj:8.2f} s wall {c_tj:8.2f} s CPU   objective {fit.objective:.7e}  "
        f"E={fit.E:.4f} A={fit.A:.2f} B={fit.B:.2f} alpha={fit.alpha:.4f} beta={fit.beta:.4f}")

  t, c = time.perf_counter(), time.process_time()
  (best, x), values = scipy_fit(n, d, loss, starts)
  t_sp, c_sp = time.perf_counter() - t, time.process_time() - c
  print(f"scipy    L-BFGS-B loop              {t_sp:8.2f} s wall {c_sp:8.2f} s CPU   objective {best:.7e}  "
        f"E={np.exp(x[2]):.4f} A={np.exp(x[0]):.2f} B={np.exp(x[1]):.2f} alpha={x[3]:.4f} beta={x[4]:.4f}")
  tol = 1.0005
  print(f"starts reaching within 0.05% of the best: tinyjax {np.sum(fit.start_objectives <= fit.objective * tol)}, "
        f"scipy {np.sum(values <= best * tol)}")
  print(f"speed-up warm: {t_sp / t_tj:.2f}x wall, {c_sp / c_tj:.2f}x CPU;   including compile: "
        f"{t_sp / t_first:.2f}x wall, {c_sp / c_first:.2f}x CPU")
  print(f"objective ratio tinyjax / scipy: {fit.objective / best:.6f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
