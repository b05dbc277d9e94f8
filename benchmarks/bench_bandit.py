"""Bandit evaluation: tinyjax vs banditeval (the reference implementation, torch), in the same run.

Two parts:

  python benchmarks/bench_bandit.py speed [--quick]
      time per step and peak memory of one UCB-E-LRF run, tinyjax vs banditeval, at 80 x 2000
      (synthetic 0/1 matrix) and 450 x 756 (Open LLM Leaderboard v2 MuSR), each measurement in a
      fresh subprocess (peak RSS above the post-import baseline).

  python benchmarks/bench_bandit.py hardness
      per matrix: top-two gap, split-half reliability and the cells an oracle that knows the best method
      needs to confirm it (tj.bandit.hardness), against the 10% budget.

  python benchmarks/bench_bandit.py quality [--quick] [--seeds 20] [--peer-seeds 2] [--out results.json]
      top-1 precision / NDCG@10 / regret at 5%, 10%, 20% on the ../shared/data/irt matrices (helm_lite x4,
      openllm_v2 x2, alpaca_eval2 without NullModel and without its NaN columns), rows shuffled per seed,
      every tinyjax algorithm plus banditeval's UCB-E and UCB-E-LRF (fewer seeds), and the whole-run time
      (first call, compilation included; with --warm-times also a second, compiled call). --only takes
      matrix names with or without their folder (musr = openllm_v2/musr).

  python benchmarks/bench_bandit.py report --inp results.json [...] [--plot out.png]
      markdown tables (and the precision-vs-budget plot) from quality JSON files.

  python benchmarks/bench_bandit.py scale [--shape 30x100000] [--seeds 20] [--budget 0.1]
      `tinyjax bandit` (the default sequential halving, --seeds seeds, the hardness line included) on a synthetic
      0/1 matrix of --shape, in a fresh subprocess: wall time, CPU time (user + system), peak RSS, and the load
      average before and after (the number of cores is printed too: on a shared machine wall time is not CPU time).

  python benchmarks/bench_bandit.py figure [--out results.json]
      docs/img/bandit_precision_budget.png in one command: quality on all seven matrices (20 seeds per tinyjax
      algorithm, banditeval's UCB-E 20 seeds and UCB-E-LRF 2 seeds, 60 s per banditeval seed), then report --plot.

Ratios are against banditeval measured in the same run. banditeval breaks ties by the lowest row index,
so its rows are shuffled per seed with the same permutations as tinyjax's.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np

import _proc  # benchmarks/, the script's own folder

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("TINYJAX_SHARED_DATA", ROOT.parent / "shared" / "data"))
BUDGETS = (0.05, 0.1, 0.2)
BATCH = 32


def _npy_matrices() -> list[tuple[str, pathlib.Path]]:
  """(name, path) of the .npy quality matrices: helm_lite, then openllm_v2, each sorted by file name."""
  files = sorted(glob.glob(str(DATA / "irt" / "helm_lite" / "*.npy"))) + \
      sorted(glob.glob(str(DATA / "irt" / "openllm_v2" / "*.npy")))
  return [(f"{p.parent.name}/{p.stem}", p) for p in map(pathlib.Path, files)]


def matrices() -> dict[str, np.ndarray]:
  import pandas as pd

  out = {name: np.load(p) for name, p in _npy_matrices()}
  d = pd.read_parquet(DATA / "irt" / "alpaca_eval2" / "win_prob.parquet").drop(index="NullModel").to_numpy()
  out["alpaca_eval2"] = d[:, ~np.isnan(d).any(0)]
  return out


def matrices_order() -> list[str]:
  """Names of the quality matrices in the order of :func:`matrices`, without loading them."""
  return [name for name, _ in _npy_matrices()] + ["alpaca_eval2"]


def synthetic(rows: int, cols: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  ability, difficulty = rng.normal(size=rows), rng.normal(size=cols)
  return (rng.random((rows, cols)) < 1 / (1 + np.exp(-(ability[:, None] - difficulty)))).astype(float)


# ----------------------------------------------------------------------------------------------------
# banditeval driver (its own step functions, our loop; same batch size and budget accounting)


def peer_run(scores: np.ndarray, algorithm: str, seed: int, budgets=BUDGETS, max_seconds: float | None = None):
  """Runs banditeval's step function until the largest budget; returns {budget: (best, means)} and step times."""
  import torch
  from banditeval import bandits

  torch.manual_seed(seed)
  step = (bandits.upper_confidence_bound_exploration if algorithm == "ucbe"
          else bandits.upper_confidence_bound_exploration_low_rank_factorization)
  obs = torch.full(scores.shape, torch.nan)
  full = torch.as_tensor(scores, dtype=torch.float32)
  cells = [int(np.floor(b * scores.size + 1e-9)) for b in budgets]
  out, times, revealed = {}, [], 0

  def recommend():
    import warnings
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      _, mus = step(obs.clone(), return_mus=True, batch_size=BATCH)
    if mus is None:        # banditeval's UCB-E-LRF gives no estimate while still in its warm-up
      return None
    mus = torch.nan_to_num(mus, nan=-float("inf")).numpy()
    return int(np.argmax(mus)), mus  # torch/np argmax: lowest index on ties, as banditeval's users get

  t_start = time.perf_counter()
  for b, c in zip(budgets, cells):
    while revealed < c:
      t0 = time.perf_counter()
      batch = step(obs, batch_size=BATCH)
      times.append(time.perf_counter() - t0)
      if batch is None:
        break
      rows, cols = batch[0][: c - revealed], batch[1][: c - revealed]
      obs[rows, cols] = full[rows, cols]
      revealed += len(rows)
      if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
        return out, times, True       # budgets reached so far are in ``out``
    rec = recommend()
    if rec is not None:
      out[b] = rec
  return out, times, False


# ----------------------------------------------------------------------------------------------------
# quality


def _wanted(name: str, only: str | None) -> bool:
  """Whether ``--only`` (comma-separated names, with or without their folder) selects matrix ``name``."""
  if not only:
    return True
  return any(o in (name, name.split("/")[-1]) for o in only.split(","))


def quality(args) -> dict:
  import tinyjax as tj

  mats = {k: v for k, v in matrices().items() if _wanted(k, args.only)}
  algs = list(tj.bandit.ALGORITHMS)
  if args.algorithms is not None:
    algs = [a for a in args.algorithms.split(",") if a]
  results = {}
  for name, S in mats.items():
    true = S.mean(1)
    order = np.argsort(-true)
    entry = {"shape": list(S.shape), "gap_pt": float(100 * (true[order[0]] - true[order[1]])), "tinyjax": {},
             "banditeval": {}}
    for alg in algs:
      t0 = time.perf_counter()
      sim = tj.bandit.simulate(S, BUDGETS, alg, seeds=args.seeds)
      first = time.perf_counter() - t0                      # compilation included
      times = {"first_call_seconds": first}
      if args.warm_times:                                   # the same call again: compiled, the runs alone
        t0 = time.perf_counter()
        tj.bandit.simulate(S, BUDGETS, alg, seeds=args.seeds)
        times["seconds"] = time.perf_counter() - t0
        times["compile_seconds"] = max(first - times["seconds"], 0.0)
      s = sim.summary()
      entry["tinyjax"][alg] = {"precision": s["precision"].tolist(), "ndcg": s["ndcg"].tolist(),
                               "regret": s["regret"].tolist(), **times, "seeds": len(sim.seeds),
                               "steps": sim.n_steps.mean(0).tolist()}
      warm = f", {times['seconds']:.1f}s compiled" if args.warm_times else ""
      print(f"{name:26s} tinyjax {alg:18s} prec {np.round(s['precision'], 2)} regret {np.round(s['regret'], 2)} "
            f"ndcg {np.round(s['ndcg'], 2)}  {first:.1f}s first call{warm}", flush=True)
    for alg, n_seeds in (("ucbe", args.peer_ucbe_seeds), ("ucbe-lrf", args.peer_seeds)):
      if n_seeds == 0:
        continue
      per_budget = {b: ([], []) for b in BUDGETS}
      secs, steps, step_times = [], [], []
      for s in range(n_seeds):
        perm = np.random.default_rng(s).permutation(S.shape[0])
        inv = np.argsort(perm)
        t0 = time.perf_counter()
        out, times, cut = peer_run(S[perm], alg, s, max_seconds=args.peer_max_seconds)
        secs.append(time.perf_counter() - t0)
        steps.append(len(times))
        step_times.extend(times)
        for b, (best, mus) in out.items():
          per_budget[b][0].append(perm[best])
          per_budget[b][1].append(mus[inv])
      row = {"seconds_per_seed": float(np.mean(secs)), "steps": float(np.mean(steps)),
             "median_step_s": float(np.median(step_times)) if step_times else None,
             "precision": [], "ndcg": [], "regret": [], "seeds": []}
      for b in BUDGETS:
        best, mus = per_budget[b]
        if best:
          m = tj.bandit.metrics(true, np.asarray(best), np.asarray(mus))
          for key in ("precision", "ndcg", "regret"):
            row[key].append(float(m[key].mean()))
        else:
          for key in ("precision", "ndcg", "regret"):
            row[key].append(None)
        row["seeds"].append(len(best))
      entry["banditeval"][alg] = row
      print(f"{name:26s} banditeval {alg:15s} prec {row['precision']} regret {row['regret']} seeds {row['seeds']} "
            f"({np.mean(secs):.1f}s/seed, median step {row['median_step_s']})", flush=True)
    results[name] = entry
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(results, indent=1))
  return results


# ----------------------------------------------------------------------------------------------------
# speed (each measurement in its own process, so peak RSS belongs to it alone)


def _rss_mib() -> float:
  return _proc.status_mib("VmRSS")


def worker(args) -> None:
  scores = synthetic(80, 2000) if args.shape == "80x2000" else np.load(DATA / "irt" / "openllm_v2" / "musr.npy")
  budget = args.budget
  if args.impl.startswith("tinyjax"):
    import jax
    import tinyjax as tj

    alg = args.impl.split(":", 1)[1]
    tj.bandit.run(scores, budget=budget, algorithm=alg, seed=0)   # compile
    base = _rss_mib()
    t0 = time.perf_counter()
    res = tj.bandit.run(scores, budget=budget, algorithm=alg, seed=1)
    total = time.perf_counter() - t0
    steps = res.n_steps
    per_step = total / steps
  else:
    import torch  # noqa: F401
    from banditeval import bandits
    import torch as _t

    rng = np.random.default_rng(0)
    obs = _t.full(scores.shape, _t.nan)
    mask = rng.random(scores.shape) < 0.06             # a state just past its 5% warm-up
    obs[_t.as_tensor(mask)] = _t.as_tensor(scores, dtype=_t.float32)[_t.as_tensor(mask)]
    base = _rss_mib()
    times = []
    for _ in range(args.peer_steps):
      t0 = time.perf_counter()
      batch = bandits.upper_confidence_bound_exploration_low_rank_factorization(obs, batch_size=BATCH)
      times.append(time.perf_counter() - t0)
      obs[batch[0], batch[1]] = _t.as_tensor(scores, dtype=_t.float32)[batch[0], batch[1]]
    per_step = float(np.median(times))
    warm = int(np.ceil(0.05 * scores.size / BATCH))
    steps = int(np.ceil(budget * scores.size / BATCH))
    total = per_step * (steps - warm)                    # warm-up steps are nearly free
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(json.dumps({"per_step_s": per_step, "steps": steps, "total_s": total, "peak_rss_mib": peak,
                    "baseline_rss_mib": base}))


def speed(args) -> dict:
  out = {}
  for shape in ("80x2000", "450x756"):
    impls = [f"tinyjax:{a}" for a in args.tj_algorithms.split(",")] + ["banditeval"]
    for impl in impls:
      cmd = [sys.executable, __file__, "worker", "--impl", impl, "--shape", shape, "--budget", str(args.budget),
             "--peer-steps", str(args.peer_steps)]
      proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
      if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
      out[(shape, impl)] = json.loads(proc.stdout.strip().splitlines()[-1])
      print(shape, impl, out[(shape, impl)], flush=True)
    b = out[(shape, "banditeval")]
    for impl in impls[:-1]:
      t = out[(shape, impl)]
      print(f"{shape}: per step {impl} {1e3 * t['per_step_s']:.2f} ms vs banditeval ucbe-lrf "
            f"{1e3 * b['per_step_s']:.0f} ms ({b['per_step_s'] / t['per_step_s']:.0f}x); whole run at {args.budget:.0%}: "
            f"{impl} {t['total_s']:.2f} s ({t['steps']} steps) vs banditeval {b['total_s']:.0f} s "
            f"({b['total_s'] / t['total_s']:.0f}x); peak RSS above baseline {impl} "
            f"{t['peak_rss_mib'] - t['baseline_rss_mib']:.0f} MiB vs banditeval "
            f"{b['peak_rss_mib'] - b['baseline_rss_mib']:.0f} MiB", flush=True)
  return out


def report(args) -> None:
  """Markdown tables (stdout) and the precision-vs-budget figure from one or more quality JSON files."""
  results = {}
  for path in args.inp:   # later files add algorithms to (or replace) those of earlier files, per matrix
    for name, entry in json.loads(pathlib.Path(path).read_text()).items():
      into = results.setdefault(name, {"tinyjax": {}, "banditeval": {}})
      for key, value in entry.items():
        if key in ("tinyjax", "banditeval"):
          into[key].update(value)
        else:
          into[key] = value
  order = list(matrices_order()) if DATA.is_dir() else []
  results = {k: results[k] for k in sorted(results, key=lambda k: order.index(k) if k in order else len(order))}
  from tinyjax.bandit import ALGORITHMS

  algs = list(ALGORITHMS)
  fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
  for metric in ("regret", "precision", "ndcg"):
    print(f"\n{metric} (mean over seeds) at 5% / 10% / 20% of the cells\n")
    head = ["matrix (gap pt)"] + [f"tinyjax {a}" for a in algs] + ["banditeval ucbe", "banditeval ucbe-lrf"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    cols = {c: [] for c in head[1:]}
    for name, e in results.items():
      cells = [f"{name} ({e['gap_pt']:.2f})"]
      for a in algs:
        v = e["tinyjax"].get(a, {}).get(metric, [None] * 3)
        cols[f"tinyjax {a}"].append(v)
        cells.append(" / ".join(fmt(x) for x in v))
      for a in ("ucbe", "ucbe-lrf"):
        v = e["banditeval"].get(a, {}).get(metric, [None] * 3)
        cols[f"banditeval {a}"].append(v)
        cells.append(" / ".join(fmt(x) for x in v))
      print("| " + " | ".join(cells) + " |")
    mean_cells = ["**mean**"]
    for c in head[1:]:
      vals = np.array([[np.nan if x is None else x for x in v] for v in cols[c]], float)
      mean_cells.append(" / ".join("n/a" if np.isnan(vals[:, j]).any() else f"{np.mean(vals[:, j]):.2f}"
                                   for j in range(vals.shape[1])))
    print("| " + " | ".join(mean_cells) + " |")
  print("\nseeds and times (tinyjax: the compiled run with --warm-times, else the first call)\n")
  print(f"| matrix | tinyjax seeds ({', '.join(algs)}) | tinyjax ucbe-lrf run (s, all seeds) | "
        "banditeval ucbe seeds (5/10/20%) | banditeval ucbe-lrf seeds (5/10/20%) | banditeval ucbe-lrf median step (s) |")
  print("|---|---|---|---|---|---|")
  for name, e in results.items():
    t = e["tinyjax"].get("ucbe-lrf", {})
    b = e["banditeval"].get("ucbe-lrf", {})
    u = e["banditeval"].get("ucbe", {})
    seeds = ", ".join(str(e["tinyjax"].get(a, {}).get("seeds", "n/a")) for a in algs)
    print(f"| {name} | {seeds} | {fmt(t.get('seconds', t.get('first_call_seconds')))} | {u.get('seeds')} | {b.get('seeds')} | "
          f"{fmt(b.get('median_step_s'))} |")
  if args.plot:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(3.2 * ((len(names) + 1) // 2), 6.2), sharey=True)
    axes = np.atleast_1d(axes).ravel()
    styles = {"uniform": ("tab:gray", "o"), "ucbe": ("tab:blue", "s"), "ucbe-lrf": ("tab:red", "D"),
              "successive-rejects": ("tab:green", "^"), "sequential-halving": ("tab:purple", "v")}
    x = 100 * np.asarray(BUDGETS)
    for ax, name in zip(axes, names):
      e = results[name]
      for a in algs:
        col, mk = styles[a]
        v = e["tinyjax"].get(a, {}).get("precision")
        if v:
          ax.plot(x, v, color=col, marker=mk, label=f"tinyjax {a}")
      for a, col in (("ucbe", "tab:cyan"), ("ucbe-lrf", "tab:orange")):
        v = e["banditeval"].get(a, {}).get("precision")
        if v:
          pts = [(xi, vi) for xi, vi in zip(x, v) if vi is not None]
          ax.plot(*zip(*pts), color=col, marker="x", ls="--", label=f"banditeval {a}")
      ax.set_title(f"{name} (gap {e['gap_pt']:.2f} pt)", fontsize=8)
      ax.set_xticks(x)
      ax.set_ylim(-0.03, 1.03)
      ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
      ax.axis("off")
    axes[0].set_ylabel("top-1 precision")
    axes[len(axes) // 2].set_ylabel("top-1 precision")
    for ax in axes:
      ax.set_xlabel("budget (% of cells)", fontsize=8)
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="lower right", fontsize=7, bbox_to_anchor=(0.99, 0.03))
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    print(f"\nwrote {args.plot}")


def hardness_table(args) -> None:
  """Per matrix: top-two gap, split-half reliability, and the cells an oracle that knows the best method needs
  to confirm it (``tj.bandit.hardness``), as multiples of the 5% and 10% budgets."""
  from tinyjax import bandit

  zs = (1.28, 1.64, 2.33)
  print("| matrix | M x N | gap (pt) | split-half reliability | oracle cells / 10% budget at z = "
        + " / ".join(f"{z:g}" for z in zs) + " | rivals needing > half a row (z = 1.64) |")
  print("|---|---|---|---|---|---|")
  for name, S in matrices().items():
    if not _wanted(name, args.only):
      continue
    h = bandit.hardness(np.asarray(S, float), z=zs)
    print(f"| {name} | {S.shape[0]} x {S.shape[1]} | {h.gap:.2f} | {h.reliability:.3f} | "
          + " / ".join(f"{f / 0.1:.2f}" for f in h.fraction) + f" | {int(h.near[1])} |")


FIGURE = ROOT / "docs" / "img" / "bandit_precision_budget.png"


def figure(args) -> None:
  """docs/img/bandit_precision_budget.png from one quality run with the documented settings."""
  import tempfile

  args.seeds, args.peer_ucbe_seeds, args.peer_seeds, args.peer_max_seconds = 20, 20, 2, 60.0
  args.only, args.algorithms = None, None
  out = args.out or str(pathlib.Path(tempfile.mkdtemp()) / "bandit_quality.json")
  args.out = out
  quality(args)
  args.inp, args.plot = [out], args.plot or str(FIGURE)
  report(args)


def scale(args) -> None:
  """Times the `tinyjax bandit` command on a synthetic 0/1 matrix (see the module docstring)."""
  import tempfile

  rows, cols = (int(x) for x in (args.shape or "30x100000").lower().split("x"))
  with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / f"synthetic_{rows}x{cols}.npy"
    np.save(path, synthetic(rows, cols, seed=0))
    cmd = [sys.executable, "-m", "tinyjax.cli", "--no-cache", "bandit", str(path), "--budget", str(args.budget),
           "--seeds", str(args.seeds)]
    load0 = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load1 = os.getloadavg()
  if out.returncode != 0:
    raise SystemExit(f"tinyjax bandit failed ({out.returncode}):\n{out.stderr}")
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  print(out.stdout.rstrip())
  print(f"\n{rows} x {cols}, budget {args.budget}, {args.seeds} seeds: wall {wall:.1f} s, CPU {cpu:.1f} s "
        f"(user {after.ru_utime - before.ru_utime:.1f} + system {after.ru_stime - before.ru_stime:.1f}), peak RSS "
        f"{after.ru_maxrss / 2 ** 20:.2f} GiB; {os.cpu_count()} cores, load average {load0[0]:.1f} before, "
        f"{load1[0]:.1f} after")


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("mode", choices=["speed", "quality", "report", "figure", "hardness", "scale", "worker"])
  p.add_argument("--inp", nargs="*", default=[], help="quality JSON files (report)")
  p.add_argument("--plot", help="precision-vs-budget PNG (report)")
  p.add_argument("--quick", action="store_true", help="fewer seeds / steps")
  p.add_argument("--seeds", type=int, default=20)
  p.add_argument("--peer-seeds", type=int, default=2, help="banditeval UCB-E-LRF seeds per matrix (0: skip it)")
  p.add_argument("--peer-ucbe-seeds", type=int, default=5, help="banditeval UCB-E seeds per matrix (0: skip it)")
  p.add_argument("--peer-max-seconds", type=float, default=900.0, help="give up a banditeval seed after this long")
  p.add_argument("--only", help="comma-separated matrix names, with or without their folder (quality, hardness)")
  p.add_argument("--algorithms", help="comma-separated tinyjax algorithms to run (quality; default all five, "
                 "an empty string for none: banditeval only)")
  p.add_argument("--out", help="write the quality results as JSON here")
  p.add_argument("--warm-times", action="store_true",
                 help="quality: call simulate twice per algorithm and record the compiled run's time too")
  p.add_argument("--impl"), p.add_argument("--shape")
  p.add_argument("--budget", type=float, default=0.1)
  p.add_argument("--peer-steps", type=int, default=5)
  p.add_argument("--tj-algorithms", default="sequential-halving,ucbe-lrf",
                 help="tinyjax algorithms timed by 'speed' against banditeval's UCB-E-LRF")
  args = p.parse_args()
  if args.quick:
    args.seeds, args.peer_seeds, args.peer_ucbe_seeds, args.peer_steps = 4, 1, 2, 3
  if args.mode == "worker":
    worker(args)
  elif args.mode == "speed":
    speed(args)
  elif args.mode == "report":
    report(args)
  elif args.mode == "figure":
    figure(args)
  elif args.mode == "hardness":
    hardness_table(args)
  elif args.mode == "scale":
    scale(args)
  else:
    quality(args)


if __name__ == "__main__":
  main()
