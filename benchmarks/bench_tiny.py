"""Tiny-benchmark timings: build (IRT fit + anchors + calibration) on a 5000 x 250 matrix, and estimation
throughput for 10,000 models, each against a peer measured in the same run.

Peers:
- anchors: scikit-learn ``KMeans`` (k-means++, same number of restarts) on the same IRT item features,
  against ``tinyjax.tiny.anchors.kmeans`` (JAX, restarts vmapped);
- estimation: a per-model loop in the style of the tinyBenchmarks reference code (scipy L-BFGS MAP ability
  for each model, then the p-IRT / gp-IRT formulas in numpy), timed on a subset and given in models/s.

Usage: python benchmarks/bench_tiny.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timeit(fn, repeat=3):
  best = float("inf")
  out = None
  for _ in range(repeat):
    t = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - t)
  return best, out


def _scipy_map_ability(y, mask, a, b, theta_sd=1.0):
  """Per-model MAP ability by scipy L-BFGS (the reference implementation's approach)."""
  from scipy.optimize import minimize

  a_o, b_o, y_o = a[mask], b[mask], y[mask]

  def nll(t):
    z = a_o @ t - b_o
    ll = y_o * -np.logaddexp(0, -z) + (1 - y_o) * -np.logaddexp(0, z)
    p = 1 / (1 + np.exp(-z))
    grad = -(a_o.T @ (y_o - p)) + t / theta_sd ** 2
    return -ll.sum() + 0.5 * t @ t / theta_sd ** 2, grad

  return minimize(nll, np.zeros(a.shape[1]), jac=True, method="L-BFGS-B").x


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--quick", action="store_true", help="smaller sizes (1000 x 250, 2000 models to estimate)")
  args = p.parse_args(argv)
  import jax
  import sklearn
  from sklearn.cluster import KMeans

  import tinyjax as tj
  from tinyjax import synthetic
  from tinyjax.tiny import anchors

  n_models, n_items, n_est, k = (1000, 250, 2000, 100) if args.quick else (5000, 250, 10_000, 100)
  dim = 2
  Y, _, a_true, b_true = synthetic.simulate_2pl(n_models + n_est, n_items, dim=dim, seed=0)
  train, new = Y[:n_models], Y[n_models:]
  print(f"jax {jax.__version__}, scikit-learn {sklearn.__version__}, devices {jax.devices()}")
  print(f"train matrix {train.shape}, {k} anchors, IRT 2PL dim={dim}")

  # --- build -------------------------------------------------------------------------------
  t = time.perf_counter()
  tb = tj.TinyBenchmark.fit(train, n_anchors=k, strategy="irt", dim=dim, seed=0, n_folds=1, method="map", progress=False)
  cold = time.perf_counter() - t
  t = time.perf_counter()
  tb = tj.TinyBenchmark.fit(train, n_anchors=k, strategy="irt", dim=dim, seed=0, n_folds=1, method="map", progress=False)
  warm = time.perf_counter() - t
  t = time.perf_counter()
  model = tj.fit_irt(train, dim=dim, seed=0, progress=False)
  fit_s = time.perf_counter() - t
  print(f"build TinyBenchmark (fit + anchors + 1 validation fold + tail fold + ridge): {cold:.2f}s first call (compiles), "
        f"{warm:.2f}s warm; of which one IRT fit {fit_s:.2f}s warm")

  feats = np.concatenate([model.a, model.b[:, None]], axis=1)
  anchors.kmeans(feats, k, seed=0, n_restarts=8)          # compile
  t_jax, _ = _timeit(lambda: anchors.kmeans(feats, k, seed=0, n_restarts=8))
  t_skl, _ = _timeit(lambda: KMeans(n_clusters=k, n_init=8, init="k-means++", random_state=0).fit(feats))
  print(f"k-means ({n_items} items, {k} clusters, 8 restarts): tinyjax {t_jax * 1e3:.1f} ms, "
        f"scikit-learn {t_skl * 1e3:.1f} ms, ratio sklearn/tinyjax {t_skl / t_jax:.2f}x")

  # --- estimation throughput -------------------------------------------------------------------
  ya = new[:, tb.anchors]
  tb.estimate(ya[:8])                                       # compile the small shape
  tb.estimate(ya)                                           # compile the full shape
  t_est, est = _timeit(lambda: tb.estimate(ya), repeat=3)
  rate = n_est / t_est
  m = tb.irt_model
  a_k, b_k = m.a[tb.anchors].astype(np.float64), m.b[tb.anchors].astype(np.float64)
  n_peer = 200 if not args.quick else 100
  mass = np.full(n_items, 1.0 / n_items)

  def peer():
    out = np.empty(n_peer)
    for j in range(n_peer):
      th = _scipy_map_ability(ya[j], ~np.isnan(ya[j]), a_k, b_k)
      pp = 1 / (1 + np.exp(-(m.a.astype(np.float64) @ th - m.b)))
      unseen = np.setdiff1d(np.arange(n_items), tb.anchors)
      lam_k = k / n_items
      pirt = lam_k * np.nanmean(ya[j]) + (1 - lam_k) * pp[unseen].mean()
      out[j] = tb.lam * (ya[j] @ tb.weights) + (1 - tb.lam) * pirt
    return out

  t_peer, ref = _timeit(peer, repeat=1)
  peer_rate = n_peer / t_peer
  diff = np.max(np.abs(ref - est.gpirt[:n_peer]))
  print(f"estimate {n_est} models (ability + naive/p-IRT/gp-IRT/diff/greg/ridge/blend + intervals): {t_est:.3f}s = {rate:,.0f} models/s; "
        f"per-model scipy loop: {peer_rate:,.0f} models/s; ratio {rate / peer_rate:.1f}x "
        f"(max |gp-IRT difference| {100 * diff:.3f} points)")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
