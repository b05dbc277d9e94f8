"""Ability estimation throughput (issue 28, part 4): tinyjax side by side with a scipy per-model loop and mirt.

Usage:
  python benchmarks/bench_ability.py                  # 100,000 models x 100 items, dim 1 (about a minute idle)
  python benchmarks/bench_ability.py --quick          # 20,000 models, fewer peer models
  python benchmarks/bench_ability.py --json out.json

Everything runs in one process, in one run, on the same items and answers: a 2PL that tinyjax fits on 400
synthetic models x 100 items (`_peers_irt.synthetic_irt`, seed 3), and complete 0/1 answers of new models drawn
from it (abilities ~ N(0, 1)). Every method scores against those items with the N(0, 1) prior.

- tinyjax `estimate_ability(method="map")` and `method="eap"`: the first call (compilation included), then the
  best of 5 calls (wall and CPU seconds of this process, all threads). models/s = models / best wall.
- scipy per-model loop: MAP by `scipy.optimize.minimize` (BFGS, analytic gradient) one model at a time
  (`_peers_irt.scipy_map_reference`), on the first `--n-scipy` models.
- mirt (PyPI `mirt`) `fscores(method="MAP")` and `fscores(method="EAP")` (its default 49 quadrature points, and 301,
  which reaches tinyjax's accuracy), the item parameters set on its 2PL, vectorised numpy over all response
  patterns, on the first `--n-mirt` models.

Accuracy: MAP against the scipy MAP (first 300 models); EAP mean and sd against a float64 brute-force posterior
on 4,001 points over [-8, 8] (first 2,000 models).

Peak: the best GFLOP/s of a float32 2,048 x 2,048 matmul in the same process (XLA's CPU dot), wall and CPU
(CPU/wall shows how many cores it used), and the floor of any estimate: one XLA pass over the same padded answers
(each row's weighted score, blocks of 256 rows). tinyjax's ability programs run on one core (CPU ~ wall on a
quiet machine), so rates per CPU-second are compared (they also hold up when other jobs load the machine): the
share of the matmul's GFLOP per CPU-second is the share of one core's peak. FLOPs of an estimate, counted with an exp/log/divide as one FLOP: MAP, per model, 12 per item and
Newton iteration (the logit 2, the sigmoid 3, residual and weight 3, the two sums 4) times the iterations its
block ran (the largest n_iter of each block of 256); EAP, per model, 2 per item (the weighted score) plus 9 per
grid point (the logit 2, weight 3, the softmax 2 and the two moments 2) when the block answers every item; a
block with missing answers adds a matrix product (2 per item and grid point). The load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _peers_irt as P  # noqa: E402


def loadavg() -> str:
  with open("/proc/loadavg") as f:
    return " ".join(f.read().split()[:3])


def best_of(fn, reps: int) -> tuple[object, float, float]:
  """(result, best wall s, CPU s of that call) over ``reps`` calls."""
  best = None
  for _ in range(reps):
    out, wall, cpu = P.timed(fn)
    if best is None or wall < best[1]:
      best = (out, wall, cpu)
  return best


def matmul_peak(reps: int = 5, n: int = 2048) -> dict:
  import jax
  import jax.numpy as jnp

  x = jax.device_put(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
  f = jax.jit(lambda u: u @ u)
  f(x).block_until_ready()
  _, wall, cpu = best_of(lambda: f(x).block_until_ready(), reps)
  return {"gflops": 2 * n**3 / wall / 1e9, "wall_s": wall, "cpu_s": cpu, "cores_used": cpu / wall}


def one_pass_floor(y: np.ndarray, reps: int = 5) -> dict:
  """The cheapest program that reads the answers once: the a-weighted score of each row of the same NaN-padded
  [R, 128] buffer estimate_ability builds (blocks of 256 rows), by XLA; any estimate costs at least this."""
  import jax
  import jax.numpy as jnp

  from tinyjax import _buckets, irt

  n = y.shape[0]
  r = _buckets.bucket(n, _buckets.ROW_BLOCK)
  buf = irt._answers_buffer(y, slice(0, n), (r, 128), np.float32)
  w = jax.device_put(np.linspace(0.5, 2.0, 128).astype(np.float32))
  f = jax.jit(lambda u, w: jax.lax.map(lambda blk: jnp.sum(jnp.where(jnp.isnan(blk), 0.0, blk) * w, 1),
                                       u.reshape(-1, 256, 128)))
  f(buf, w).block_until_ready()
  _, wall, cpu = best_of(lambda: f(buf, w).block_until_ready(), reps)
  return {"wall_s": wall, "cpu_s": cpu, "models_per_s": n / wall, "models_per_cpu_s": n / cpu}


def mirt_scores(y: np.ndarray, a: np.ndarray, b: np.ndarray, method: str,
                n_quadpts: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """mirt.fscores with the item parameters set on a mirt 2PL (N(0, 1) prior): (theta [n], se [n])."""
  import mirt
  from mirt.models.dichotomous import TwoParameterLogistic

  model = TwoParameterLogistic(n_items=len(a))
  model.set_parameters(discrimination=np.asarray(a, np.float64), difficulty=np.asarray(b / a, np.float64))
  model._is_fitted = True
  res = mirt.fscores(model, y, method=method, n_quadpts=n_quadpts)
  return np.asarray(res.theta, np.float64).reshape(-1), np.asarray(res.standard_error, np.float64).reshape(-1)


def eap_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Float64 brute-force posterior mean and sd on 4,001 points over [-8, 8], N(0, 1) prior."""
  grid = np.linspace(-8.0, 8.0, 4001)
  z = grid[None, :] * a[:, None] - b[:, None]                                   # [I, G]
  lp = y @ z - np.logaddexp(0.0, z).sum(0)[None, :] - 0.5 * grid**2              # complete answers
  w = np.exp(lp - lp.max(1, keepdims=True))
  w /= w.sum(1, keepdims=True)
  mean = w @ grid
  return mean, np.sqrt(np.sum(w * (grid[None, :] - mean[:, None]) ** 2, 1))


def flops_map(n_iter: np.ndarray, n_items: int, block: int = 256) -> float:
  blocks = -(-n_iter.size // block)
  padded = np.zeros(blocks * block, n_iter.dtype)
  padded[:n_iter.size] = n_iter
  return float(padded.reshape(blocks, block).max(1).sum() * block * n_items * 12)


def flops_eap(n: int, n_items: int, n_points: int = 128) -> float:
  return float(n * (2 * n_items + 9 * n_points))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true", help="20,000 tinyjax models and fewer peer models")
  ap.add_argument("--n", type=int, default=None, help="tinyjax models (default 100,000; --quick 20,000)")
  ap.add_argument("--n-scipy", type=int, default=None, help="models of the scipy loop (default 300)")
  ap.add_argument("--n-mirt", type=int, default=None, help="models scored by mirt (default 5,000)")
  ap.add_argument("--reps", type=int, default=5, help="timed calls per tinyjax method (the best is kept)")
  ap.add_argument("--json", type=pathlib.Path, default=None, help="write the results here")
  args = ap.parse_args()
  n = args.n or (20_000 if args.quick else 100_000)
  n_scipy = args.n_scipy or (100 if args.quick else 300)
  n_mirt = args.n_mirt or (1_000 if args.quick else 5_000)

  import jax

  import tinyjax as tj

  out = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "machine": platform.platform(),
         "cpus": os.cpu_count(), "jax": jax.__version__, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
         "loadavg_start": loadavg(), "n": n}
  print(f"# ability: {n:,} models x 100 items, dim 1; load average {out['loadavg_start']}", flush=True)
  src = P.synthetic_irt(400, 100, 1, 0.0, seed=3)
  model = tj.fit_irt(src["Y"], kind="2pl", dim=1, seed=0, progress=False)
  a, b = np.asarray(model.a, np.float64)[:, 0], np.asarray(model.b, np.float64)
  rng = np.random.default_rng(4)
  theta = rng.standard_normal(n)
  y = (rng.random((n, 100)) < 1 / (1 + np.exp(-(np.outer(theta, a) - b)))).astype(np.float32)

  out["peak"] = peak = matmul_peak()
  print(f"matmul 2048^2 float32: {peak['gflops']:.1f} GFLOP/s ({peak['cores_used']:.2f} cores)", flush=True)
  out["floor"] = floor = one_pass_floor(y)
  print(f"one pass over the answers: {floor['models_per_s']:,.0f} models/s", flush=True)
  rows = []
  for method in ("map", "eap"):
    _, first, _ = P.timed(lambda: tj.estimate_ability(model, y, method=method))
    ab, wall, cpu = best_of(lambda: tj.estimate_ability(model, y, method=method), args.reps)
    flops = flops_map(np.asarray(ab.n_iter), 128) if method == "map" else flops_eap(n, 128)
    rows.append({"method": f"tinyjax {method.upper()}", "n": n, "first_call_s": first, "wall_s": wall, "cpu_s": cpu,
                 "models_per_s": n / wall, "gflops": flops / wall / 1e9, "theta": np.asarray(ab.theta)[:, 0],
                 "se": np.asarray(ab.se)[:, 0], "converged": float(np.mean(ab.converged)),
                 "max_n_iter": int(np.max(ab.n_iter))})
    print(f"tinyjax {method}: {n / wall:,.0f} models/s ({wall:.3f} s wall, {cpu:.3f} s CPU; first call {first:.2f} s)",
          flush=True)
  ys = y[:n_scipy].astype(np.float64)
  th, wall, cpu = P.timed(lambda: P.scipy_map_reference(ys, a, b))
  rows.append({"method": "scipy per-model loop MAP (BFGS, analytic gradient)", "n": n_scipy, "wall_s": wall,
               "cpu_s": cpu, "models_per_s": n_scipy / wall, "theta": th})
  ym = y[:n_mirt].astype(np.float64)
  for method, q in (("MAP", None), ("EAP", None), ("EAP", 301)):
    mirt_scores(ym[:10], a, b, method, q)   # warm-up
    (th, se), wall, cpu = P.timed(lambda: mirt_scores(ym, a, b, method, q))
    label = f"mirt fscores {method} (vectorised numpy{', 49 points (default)' if method == 'EAP' and q is None else ''}"
    label += f", {q} points)" if q else ")"
    rows.append({"method": label, "n": n_mirt, "wall_s": wall, "cpu_s": cpu, "models_per_s": n_mirt / wall,
                 "theta": th, "se": se})
  out["loadavg_end"] = loadavg()

  k_map = min(300, n_scipy)
  ref_map = P.scipy_map_reference(y[:k_map].astype(np.float64), a, b)
  k_eap = min(2000, n_mirt)
  ref_mean, ref_sd = eap_reference(y[:k_eap].astype(np.float64), a, b)
  tj_map = rows[0]["models_per_s"]
  tj_eap = rows[1]["models_per_s"]
  peak_cpu = peak["gflops"] * peak["wall_s"] / peak["cpu_s"]   # GFLOP per CPU-second
  lines = [f"Load average {out['loadavg_start']} (start), {out['loadavg_end']} (end). Matmul peak "
           f"{peak['gflops']:.1f} GFLOP/s on {peak['cores_used']:.2f} cores ({peak_cpu:.1f} GFLOP per CPU-second). "
           f"One pass over the answers (the floor of any estimate): {floor['models_per_s']:,.0f} models/s, "
           f"{floor['models_per_cpu_s']:,.0f} per CPU-second.", "",
           "| method | models | wall s | CPU s | models/s | models per CPU-second | tinyjax speed-up | "
           "GFLOP per CPU-second (share of matmul's) | max abs diff theta (se) vs reference |", "|" + "---|" * 9]
  for r in rows:
    is_eap = "EAP" in r["method"]
    ref_t, ref_s, k = (ref_mean, ref_sd, k_eap) if is_eap else (ref_map, None, k_map)
    k = min(k, r["theta"].size)
    diff = f"{np.max(np.abs(r['theta'][:k] - ref_t[:k])):.1e}"
    if ref_s is not None and "se" in r:
      diff += f" ({np.max(np.abs(r['se'][:k] - ref_s[:k])):.1e})"
    r["maxdiff"] = diff
    mine = r["method"].startswith("tinyjax")
    speed = "-" if mine else f"{(tj_eap if is_eap else tj_map) / r['models_per_s']:,.0f}x"
    gf_cpu = r["gflops"] * r["wall_s"] / r["cpu_s"] if mine else 0.0
    gf = f"{gf_cpu:.1f} ({gf_cpu / peak_cpu:.0%})" if mine else "-"
    lines.append(f"| {r['method']} | {r['n']:,} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['models_per_s']:,.0f} | "
                 f"{r['n'] / r['cpu_s']:,.0f} | {speed} | {gf} | {diff} |")
  table = "\n".join(lines)
  print("\n" + table, flush=True)
  out["table"] = table
  out["rows"] = [{k: v for k, v in r.items() if k not in ("theta", "se")} for r in rows]
  if args.json:
    from tinyjax._atomic import atomic_write_text

    atomic_write_text(args.json, json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
