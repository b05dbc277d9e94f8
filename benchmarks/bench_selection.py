"""Training-data selection benchmark (issue 7): LSH count-sketch density against exact KDE, and its memory.

Usage:
  python benchmarks/bench_selection.py            # 1M x 768 file (3.1 GB in /tmp), 50k exact-KDE subset
  python benchmarks/bench_selection.py --quick    # 100k x 768, 10k subset
  python benchmarks/bench_selection.py --dir /tmp/tj_sel --keep   # reuse / keep the generated files
  python benchmarks/bench_selection.py --figures docs/img          # only the docs/selection.md figures

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

import _proc  # benchmarks/, the script's own folder

DIM = 768


def _vmhwm_mb() -> float:
  return _proc.status_mib("VmHWM")


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


def figures(out_dir: str) -> None:
  """Draws the docs/selection.md figures (synthetic data, fixed seeds) into ``out_dir``."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from tinyjax import selection

  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)

  def mixture(sizes, dim, seed, sep=6.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), dim)) * sep * dim**0.25 / np.sqrt(2)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return (centers[labels] + rng.normal(size=(labels.size, dim))).astype(np.float32), labels

  # 1. Coverage in 2-D: one big cluster and four small ones.
  sizes = [5000, 50, 50, 50, 50]
  x, labels = mixture(sizes, 2, seed=3, sep=5.0)
  w = selection.default_bucket_width(x, scale=2.0)
  scores = selection.density_scores(x, bucket_width=w)
  k = 100
  picks = {
      "random": np.random.default_rng(0).choice(len(x), k, replace=False),
      "inverse density": selection.inverse_density_sample(scores, k, seed=0),
      "top-k density": selection.top_k(scores, k),
      "bottom-k density": selection.bottom_k(scores, k),
  }
  fig, axes = plt.subplots(1, 5, figsize=(19, 4), sharex=True, sharey=True)
  sc = axes[0].scatter(x[:, 0], x[:, 1], c=np.log(scores), s=3, cmap="viridis")
  axes[0].set_title("log sketch density (5000 + 4 x 50 points)")
  fig.colorbar(sc, ax=axes[0], fraction=0.046)
  for ax, (name, idx) in zip(axes[1:], picks.items()):
    ax.scatter(x[:, 0], x[:, 1], c="0.85", s=2)
    ax.scatter(x[idx, 0], x[idx, 1], c="C3", s=8)
    share = np.bincount(labels[idx], minlength=5) / k
    ax.set_title(f"{name}, k={k}\nbig-cluster share {share[0]:.0%}")
  fig.tight_layout()
  fig.savefig(out / "selection_coverage_2d.png", dpi=90)
  plt.close(fig)

  # 2. Per-cluster shares in 8-D (the test's setting), averaged over 20 seeds.
  x8, lab8 = mixture(sizes, 8, seed=11)
  s8 = selection.density_scores(x8, bucket_width=selection.default_bucket_width(x8, scale=2.0))
  rng = np.random.default_rng(0)
  inv = np.mean([np.bincount(lab8[selection.inverse_density_sample(s8, 50, seed=s)], minlength=5) / 50
                 for s in range(20)], axis=0)
  rnd = np.mean([np.bincount(lab8[rng.choice(len(x8), 50, replace=False)], minlength=5) / 50
                 for _ in range(20)], axis=0)
  fig, ax = plt.subplots(figsize=(6.5, 3.6))
  pos = np.arange(5)
  ax.bar(pos - 0.2, rnd, 0.4, label=f"random (TV to uniform {0.5 * np.abs(rnd - 0.2).sum():.2f})")
  ax.bar(pos + 0.2, inv, 0.4, label=f"inverse density (TV {0.5 * np.abs(inv - 0.2).sum():.2f})")
  ax.axhline(0.2, color="k", ls="--", lw=1, label="uniform over clusters")
  ax.set_xticks(pos, ["big (5000)", "small 1 (50)", "small 2 (50)", "small 3 (50)", "small 4 (50)"])
  ax.set_ylabel("share of a k=50 sample")
  ax.set_title("8-D mixture, one cluster 100x larger (mean of 20 seeds)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out / "selection_cluster_shares.png", dpi=90)
  plt.close(fig)

  # 3. Sketch against the exact Gaussian KDE, 16-D mixture of unequal clusters.
  x16, _ = mixture([500, 350, 250, 150, 50], 16, seed=0)
  w16 = selection.default_bucket_width(x16)
  s16 = selection.density_scores(x16, bucket_width=w16)
  e16 = selection.exact_kde_log_density(x16, selection.equivalent_gaussian_bandwidth(w16, 4))
  rho = spearman(s16, e16)
  fig, ax = plt.subplots(figsize=(5, 4))
  ax.scatter(e16, np.log(s16), s=4)
  ax.set_xlabel("exact Gaussian KDE, log density (matched bandwidth)")
  ax.set_ylabel("log sketch score (128 rows x 4 hashes)")
  ax.set_title(f"16-D mixture, n=1300: Spearman {rho:.3f}")
  fig.tight_layout()
  fig.savefig(out / "selection_sketch_vs_exact.png", dpi=90)
  plt.close(fig)
  print(f"figures written to {out}: coverage_2d, cluster_shares (TV random {0.5 * np.abs(rnd - 0.2).sum():.3f}, "
        f"inverse {0.5 * np.abs(inv - 0.2).sum():.3f}), sketch_vs_exact (Spearman {rho:.3f})")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="100k rows, 10k exact subset, 2k sklearn subset")
  parser.add_argument("--dir", default="/tmp/tinyjax_bench_selection", help="where the .npy files go (not the repo)")
  parser.add_argument("--keep", action="store_true", help="keep the generated files")
  parser.add_argument("--figures", default=None, metavar="DIR",
                      help="only draw the docs/selection.md figures into DIR (e.g. docs/img) and exit")
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args.worker)
    return
  if args.figures:
    figures(args.figures)
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
