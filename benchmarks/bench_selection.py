"""Training-data selection benchmark (issue 7): LSH count-sketch density against exact KDE, and its memory.

Usage:
  python benchmarks/bench_selection.py            # 1M x 768 file (3.1 GB in /tmp), 50k exact-KDE subset
  python benchmarks/bench_selection.py --quick    # 100k x 768, 10k subset
  python benchmarks/bench_selection.py --dir /tmp/tj_sel --keep   # reuse / keep the generated files

What it measures, all in this run:
1. Sketch throughput: ``tinyjax.selection.density_scores`` on an [N, 768] float32 ``.npy`` file on disk
   (streamed in 4096-row chunks, two passes, default sketch: 128 rows x 4 hashes x 65536 buckets),
   in embeddings per second (N / wall time of both passes, jit compilation included).
2. The exact references on a subset (the first S rows of the same file): the exact Gaussian KDE in JAX
   (``exact_kde_log_density``, O(S^2 D)) and scikit-learn's ``KernelDensity`` (its tree algorithm
   on a smaller subset, since its single-threaded tree is slow in 768 dimensions), as embeddings per second
   of their own (all-pairs) work, and the sketch's Spearman correlation with the exact JAX KDE on the subset
   (the sketch is built on the subset for that).
3. Memory: peak RSS (VmHWM) of a fresh process that runs ``density_scores`` on files of growing N, minus
   the peak after imports; flat means independent of N.

The data: a mixture of 64 Gaussian clusters in 768 dimensions with Zipf-distributed sizes, rows scaled to
unit norm, like sentence embeddings. Generated chunk by chunk with a fixed seed, written to --dir (never the
repository).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

DIM = 768


def _vmhwm_mb() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def make_file(path: pathlib.Path, n: int, seed: int = 0, chunk: int = 65536) -> None:
  """Writes an [n, 768] float32 unit-norm Gaussian-mixture .npy file chunk by chunk."""
  if path.exists() and np.load(path, mmap_mode="r").shape == (n, DIM):
    return
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(64, DIM)) / np.sqrt(DIM) * 3.0
  weights = 1.0 / np.arange(1, 65) ** 1.1
  weights /= weights.sum()
  out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
  for start in range(0, n, chunk):
    m = min(chunk, n - start)
    labels = rng.choice(64, m, p=weights)
    x = centers[labels] + rng.normal(size=(m, DIM)) / np.sqrt(DIM)
    out[start:start + m] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
  out.flush()
  del out


def worker(path: str) -> None:
  """Runs the sketch on ``path`` in this fresh process and prints JSON timings and peak memory."""
  import jax

  from tinyjax import selection
  jax.numpy.zeros(1).block_until_ready()
  base = _vmhwm_mb()
  n = np.load(path, mmap_mode="r").shape[0]
  t0 = time.perf_counter()
  width = selection.default_bucket_width(path)
  t1 = time.perf_counter()
  scores = selection.density_scores(path, bucket_width=width)
  t2 = time.perf_counter()
  print(json.dumps({"n": n, "width_s": t1 - t0, "sketch_s": t2 - t1, "peak_mb": _vmhwm_mb(), "base_mb": base,
                    "bucket_width": width, "score_mean": float(scores.mean())}))


def run_worker(path: pathlib.Path) -> dict:
  out = subprocess.run([sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True,
                       check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def spearman(a, b) -> float:
  ra = np.argsort(np.argsort(a)).astype(float)
  rb = np.argsort(np.argsort(b)).astype(float)
  return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="100k rows, 10k exact subset, 2k sklearn subset")
  parser.add_argument("--dir", default="/tmp/tinyjax_bench_selection", help="where the .npy files go (not the repo)")
  parser.add_argument("--keep", action="store_true", help="keep the generated files")
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args.worker)
    return

  import jax

  from tinyjax import selection

  n_full = 100_000 if args.quick else 1_000_000
  n_exact = 10_000 if args.quick else 50_000
  n_sklearn = 2_000 if args.quick else 5_000
  sizes = [n_full // 10, n_full * 3 // 10, n_full]
  folder = pathlib.Path(args.dir)
  folder.mkdir(parents=True, exist_ok=True)
  print(f"# selection benchmark: jax {jax.__version__}, {platform.machine()}, {os.cpu_count()} cpus, "
        f"devices {jax.devices()}")
  t = time.perf_counter()
  files = {n: folder / f"emb_{n}.npy" for n in sizes}
  for n, path in files.items():
    make_file(path, n)
  print(f"data: {', '.join(f'{n} x {DIM}' for n in sizes)} float32 .npy in {folder} "
        f"({files[n_full].stat().st_size / 2**30:.2f} GiB largest), written in {time.perf_counter() - t:.1f} s")

  # 1 + 3. The sketch, in fresh processes at growing N (throughput from the largest; memory from all).
  rows = []
  for n in sizes:
    r = run_worker(files[n])
    rows.append(r)
    print(f"sketch N={n:>8}: {r['sketch_s']:7.1f} s both passes ({n / r['sketch_s']:9.0f} emb/s), default width "
          f"{r['width_s']:.1f} s; peak RSS {r['peak_mb']:.0f} MB, after imports {r['base_mb']:.0f} MB, "
          f"added {r['peak_mb'] - r['base_mb']:.0f} MB (data file {n * DIM * 4 / 2**20:.0f} MB)")
  big = rows[-1]
  sketch_rate = big["n"] / big["sketch_s"]
  width = big["bucket_width"]

  # 2. Exact references on subsets of the same file.
  subset = np.array(np.load(files[n_full], mmap_mode="r")[:n_exact])
  h = selection.equivalent_gaussian_bandwidth(width, 4)
  t = time.perf_counter()
  exact = selection.exact_kde_log_density(subset, h, block_size=1024)
  exact_s = time.perf_counter() - t
  exact_rate = n_exact / exact_s
  t = time.perf_counter()
  sub_scores = selection.density_scores(subset, bucket_width=width)
  sub_s = time.perf_counter() - t
  rho = spearman(sub_scores, exact)
  print(f"exact JAX KDE on {n_exact} rows: {exact_s:.1f} s ({exact_rate:.0f} emb/s); sketch on the same rows "
        f"{sub_s:.1f} s; Spearman(sketch, exact) = {rho:.3f} (h = {h:.4f}, w = {width:.4f})")
  print(f"RATIO sketch throughput (N={big['n']}) / exact JAX KDE throughput (N={n_exact}): "
        f"{sketch_rate / exact_rate:.1f}x")
  try:
    from sklearn.neighbors import KernelDensity
  except ImportError:
    print("scikit-learn is not installed: KernelDensity skipped")
  else:
    small = subset[:n_sklearn].astype(np.float64)
    t = time.perf_counter()
    kde = KernelDensity(kernel="gaussian", bandwidth=h).fit(small)
    sk = kde.score_samples(small)
    sk_s = time.perf_counter() - t
    ours = selection.exact_kde_log_density(small.astype(np.float32), h)
    print(f"sklearn KernelDensity (default tree, rtol=0) on {n_sklearn} rows: {sk_s:.1f} s "
          f"({n_sklearn / sk_s:.0f} emb/s); max |log p - tinyjax exact| = {np.max(np.abs(sk - ours)):.2e}")
    print(f"RATIO sketch throughput (N={big['n']}) / sklearn KernelDensity throughput (N={n_sklearn}): "
          f"{sketch_rate / (n_sklearn / sk_s):.0f}x")
  added = [r["peak_mb"] - r["base_mb"] for r in rows]
  print(f"MEMORY added peak RSS at N = {sizes}: {[round(a) for a in added]} MB "
        f"(data {[round(n * DIM * 4 / 2**20) for n in sizes]} MB)")
  if not args.keep:
    for path in files.values():
      path.unlink()


if __name__ == "__main__":
  main()
