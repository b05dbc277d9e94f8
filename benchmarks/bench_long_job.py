"""A long job: many differently-shaped matrices through fit_irt + estimate_ability + TinyBenchmark.fit in one process.

Issue 26 ("a long job dies"): without shape buckets every new shape compiled new programs (TinyBenchmark.fit 24-26,
~1,760 memory mappings and ~100 MB each) until XLA failed with "Cannot allocate memory" after ~37 shapes
(vm.max_map_count 65,530). Target: 200 random shapes between 50 x 40 and 2,000 x 1,000 finish without error, with at
most 10x the compilations of the first shape, and memory mappings (/proc/self/maps lines) below 20,000 throughout.

Shapes are drawn uniformly (models in [50, 2000], items in [40, 1000]); each step fits a 2PL on the synthetic
matrix, estimates the abilities of up to 100 of its rows, and builds a tiny benchmark with n_anchors = min(100,
items // 2). Compilations are counted with a jax.monitoring listener on XLA backend compiles (no JAX config is
changed). One line per step: shape, compilations (step and total), mappings, RSS, seconds.

    python benchmarks/bench_long_job.py --shapes 20 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np

import tinyjax as tj

import _proc  # noqa: E402  (benchmarks/, the script's own folder)

_COMPILES = [0]


def _listener(event, duration, **kwargs):
  if event == "/jax/core/compile/backend_compile_duration":
    _COMPILES[0] += 1


def maps() -> int:
  with open("/proc/self/maps") as f:
    return sum(1 for _ in f)


def rss_mb() -> float:
  return _proc.status_mib("VmRSS")


def synthetic(rng, n: int, i: int) -> np.ndarray:
  theta = rng.normal(size=n)
  a, b = rng.lognormal(0, 0.3, i), rng.normal(size=i)
  y = (rng.random((n, i)) < 1 / (1 + np.exp(-(a * theta[:, None] - b)))).astype(float)
  y[rng.random((n, i)) < 0.02] = np.nan
  return y


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--shapes", type=int, default=200, help="number of random shapes")
  ap.add_argument("--seed", type=int, default=0, help="seed of the shapes and matrices")
  ap.add_argument("--max-maps", type=int, default=20_000, help="mapping target")
  ap.add_argument("--ratio", type=float, default=10.0, help="compilation target, in first-shape compilations")
  ap.add_argument("--no-adaptive", action="store_true",
                  help="TinyBenchmark.fit(compare_adaptive=False): skip the static-vs-adaptive comparison")
  args = ap.parse_args(argv)
  jax.monitoring.register_event_duration_secs_listener(_listener)
  rng = np.random.default_rng(args.seed)
  shapes = [(int(rng.integers(50, 2001)), int(rng.integers(40, 1001))) for _ in range(args.shapes)]
  tb_kw = {"compare_adaptive": False} if args.no_adaptive else {}
  first = None
  peak_maps = 0
  t_start = time.perf_counter()
  print(f"# jax {jax.__version__}, tinyjax {tj.__version__}, {args.shapes} shapes, seed {args.seed}, "
        f"maps at start {maps()}", flush=True)
  print("step  models items | compiles step total | maps   rss_mb | seconds", flush=True)
  for step, (n, i) in enumerate(shapes):
    t0 = time.perf_counter()
    c0 = _COMPILES[0]
    y = synthetic(rng, n, i)
    model = tj.fit_irt(y, seed=step, progress=False)
    tj.estimate_ability(model, y[:100])
    tj.TinyBenchmark.fit(y, n_anchors=min(100, i // 2), seed=step, progress=False, **tb_kw)
    if first is None:
      first = _COMPILES[0] - c0
    m = maps()
    peak_maps = max(peak_maps, m)
    print(f"{step:4d}  {n:6d} {i:5d} | {_COMPILES[0] - c0:13d} {_COMPILES[0]:5d} | {m:6d} {rss_mb():7.0f} | "
          f"{time.perf_counter() - t0:7.1f}", flush=True)
  total = _COMPILES[0]
  ok = total <= args.ratio * first and peak_maps < args.max_maps
  print(f"# done: {args.shapes} shapes in {time.perf_counter() - t_start:.0f} s; compilations {total} "
        f"(first shape {first}, ratio {total / first:.2f}, target <= {args.ratio:g}); peak maps {peak_maps} "
        f"(target < {args.max_maps}); RSS {rss_mb():.0f} MB; {'PASS' if ok else 'FAIL'}", flush=True)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
