"""Coverage and width of tiny-benchmark intervals when new models leave some anchors unanswered (issue 26).

For every matrix and seed: hold out a random 25% of the models (``accuracy.splits``, the iid split), build a
TinyBenchmark on the rest (100 anchors, the defaults; ``compare_adaptive=False``, which does not touch the static
estimate), then hide a share of each held-out model's anchor answers at random (``hide_anchors``, ``--draws``
random draws per model) and measure the coverage of the 90% interval of ``est.score``, its mean width and the mean
absolute error, in points, against the true score (the row mean over all items). "before" is the same tiny
benchmark with its missing-answer calibrations removed: the interval every model got before issue 26, calibrated
for complete answers whatever was missing.

``--leaderboard``: the same for a ``Leaderboard`` over the five Open LLM Leaderboard v1 benchmarks (arc, gsm8k,
truthfulqa, mmlu, winogrande; the models that answered all five), 25 anchors per benchmark as ``accuracy.py``
uses on openllm_v1: each held-out model has the same share of every benchmark's anchors hidden, and coverage,
width and MAE are reported per benchmark and pooled over the five; then uneven shares, which the calibration
(the same share of every benchmark hidden) did not see: 80% of one benchmark's anchors hidden, 80% of every
benchmark's but one, and one benchmark unanswered.

Usage:
  python benchmarks/accuracy_missing.py --out missing.json        # the table of docs/accuracy.md, "Missing answers"
  python benchmarks/accuracy_missing.py --report missing.json     # print the table of a results file again
  python benchmarks/accuracy_missing.py --leaderboard --seeds 3 --out missing_lb.json   # its "### Leaderboard"
  python benchmarks/accuracy_missing.py --leaderboard --report missing_lb.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from accuracy import load_matrix, splits  # noqa: E402

MATRICES = ["helm_lite/commonsense", "helm_lite/gsm", "helm_lite/math", "helm_lite/med_qa",
            "openllm_v2/musr", "openllm_v2/arc_challenge"]
FRACTIONS = (0.0, 0.25, 0.5, 0.65, 0.8, 0.9)   # 0.65 lies between calibrated shares, 0.9 beyond the last
LB_BENCHMARKS = ("arc", "gsm8k", "truthfulqa", "mmlu", "winogrande")   # openllm_v1, one shared ability
LB_ANCHORS = 25                                                        # per benchmark, as accuracy.py on openllm_v1
UNEVEN = 0.8                                                           # share hidden in the uneven patterns


class _quiet:
  """Silences tinyjax.tiny's warnings inside a ``with`` block when ``on``."""

  def __init__(self, on: bool):
    import logging
    self.logger, self.on, self.level = logging.getLogger("tinyjax.tiny"), on, None

  def __enter__(self):
    if self.on:
      self.level = self.logger.level
      self.logger.setLevel(40)

  def __exit__(self, *exc):
    if self.on:
      self.logger.setLevel(self.level)


def run(name: str, seeds, n_anchors: int, draws: int, log) -> list[dict]:
  import tinyjax as tj
  from tinyjax.tiny.calibration import hide_anchors
  from tinyjax.tiny.estimation import true_scores

  Y, _ = load_matrix(name)
  rows = []
  for seed in seeds:
    test = splits(Y, seed)["iid"]
    train = np.setdiff1d(np.arange(Y.shape[0]), test)
    truth = true_scores(Y[test], np.full(Y.shape[1], 1.0 / Y.shape[1])).astype(float)
    t0 = time.time()
    tb = tj.TinyBenchmark.fit(Y[train], n_anchors=n_anchors, seed=seed, compare_adaptive=False, progress=False)
    fit_s = time.time() - t0
    before = tj.TinyBenchmark.__new__(tj.TinyBenchmark)
    before.__dict__.update(tb.__dict__)
    before._calib = [dataclasses.replace(c, missing=None) for c in tb._calib]
    ya = Y[test][:, tb.anchors]
    rng = np.random.default_rng(1000 + seed)
    keys = [rng.random(ya.shape) for _ in range(draws)]
    for f in FRACTIONS:
      row = {"matrix": name, "seed": seed, "fraction": f, "n_test": int(test.size), "n_anchors": n_anchors,
             "draws": draws, "fit_seconds": fit_s}
      for label, t in (("new", tb), ("before", before)):
        cov, width, err = [], [], []
        for k in keys:
          yf = hide_anchors(ya, [n_anchors], f, k)
          est = t.estimate(yf)
          cov.append((truth >= est.lo) & (truth <= est.hi))
          width.append(100 * (est.hi - est.lo))
          err.append(100 * np.abs(est.score - truth))
        row[f"covered_{label}"] = np.concatenate(cov).astype(int).tolist()
        row[f"cov_{label}"] = float(np.mean(cov))
        row[f"width_{label}"] = float(np.mean(width))
        row[f"mae_{label}"] = float(np.mean(err))
      rows.append(row)
      log(f"{name} seed={seed} missing={f:.2f}: coverage {row['cov_new']:.2f} (before {row['cov_before']:.2f}), "
          f"width {row['width_new']:.1f} (before {row['width_before']:.1f}), MAE {row['mae_new']:.2f} "
          f"(before {row['mae_before']:.2f}) points; fit {fit_s:.0f}s")
  return rows


def load_leaderboard(max_models: int | None = None, seed: int = 0):
  """(Y [N, sum I_b], benchmark name of every item, model ids): the openllm_v1 models that answered all of
  LB_BENCHMARKS, their items side by side; ``max_models`` keeps a random subset of them."""
  import pandas as pd
  from accuracy import DATA
  dfs = [pd.read_parquet(DATA / "openllm_v1" / f"{b}.responses.parquet") for b in LB_BENCHMARKS]
  models = sorted(set.intersection(*(set(df.index) for df in dfs)))
  if max_models is not None and len(models) > max_models:
    models = sorted(np.random.default_rng(seed).choice(models, max_models, replace=False).tolist())
  Y = np.concatenate([df.loc[models].to_numpy(dtype=float) for df in dfs], axis=1)
  names = np.concatenate([np.full(df.shape[1], b) for b, df in zip(LB_BENCHMARKS, dfs)])
  return Y, names, models


def run_leaderboard(seeds, n_anchors: int, draws: int, max_models: int | None, log) -> list[dict]:
  """Rows as :func:`run`, one per seed, share and benchmark (``matrix`` = "leaderboard/<benchmark>")."""
  import tinyjax as tj
  from tinyjax.tiny.calibration import hide_anchors
  from tinyjax.tiny.estimation import true_scores

  Y, names, _ = load_leaderboard(max_models)
  rows = []
  for seed in seeds:
    test = splits(Y, seed)["iid"]
    train = np.setdiff1d(np.arange(Y.shape[0]), test)
    t0 = time.time()
    lb = tj.Leaderboard.fit(Y[train], names, n_anchors=n_anchors, seed=seed, progress=False)
    fit_s = time.time() - t0
    log(f"leaderboard seed={seed}: {train.size} train x {Y.shape[1]} items, {test.size} held out; {lb!r}; "
        f"fit {fit_s:.0f}s")
    before = tj.Leaderboard.__new__(tj.Leaderboard)
    before.__dict__.update(lb.__dict__)
    before._calib = [dataclasses.replace(c, missing=None) for c in lb._calib]
    truth = {b.name: true_scores(Y[test][:, b.cols], b.item_weights).astype(float) for b in lb._benches}
    sizes = [a.indices.shape[0] for a in lb._anchor_sets]
    ya = Y[test][:, lb.all_anchors]
    rng = np.random.default_rng(1000 + seed)
    keys = [rng.random(ya.shape) for _ in range(draws)]
    bench_of = np.repeat(np.arange(len(sizes)), sizes)   # [sum K_b] benchmark of every anchor column
    # Every benchmark at each share (the table), then uneven shares: one benchmark at UNEVEN and the others complete
    # ("b at 80%"), every benchmark at UNEVEN but one complete ("all at 80% but b"), and one benchmark not run at
    # all ("b unanswered", share 1, the others complete); the calibration hid the same share of every benchmark's
    # anchors, so these are cases it did not see.
    cases = [("all", f, None) for f in FRACTIONS]
    cases += [(f"{b} at {UNEVEN:.0%}", UNEVEN, bench_of == j) for j, b in enumerate(lb.benchmarks)]
    cases += [(f"all at {UNEVEN:.0%} but {b}", UNEVEN, bench_of != j) for j, b in enumerate(lb.benchmarks)]
    cases += [(f"{b} unanswered", 1.0, bench_of == j) for j, b in enumerate(lb.benchmarks)]
    for pattern, f, cols in cases:
      acc = {}
      for label, t in (("new", lb), ("before", before)):
        for k in keys:
          yf = np.full(ya.shape, np.nan) if f == 1.0 else hide_anchors(ya, sizes, f, k)
          if cols is not None:
            yf = np.where(cols[None, :], yf, ya)
          with _quiet(label == "before"):   # the warning that the calibrations were removed: that is the point
            est = t.estimate(yf)
          for b in lb.benchmarks:
            a = acc.setdefault((b, label), {"cov": [], "width": [], "err": [], "miss": []})
            a["cov"].append((truth[b] >= est.lo[b]) & (truth[b] <= est.hi[b]))
            a["width"].append(100 * (est.hi[b] - est.lo[b]))
            a["err"].append(100 * np.abs(est.score[b] - truth[b]))
            a["miss"].append(est.missing[b])
      for b in lb.benchmarks:
        row = {"matrix": f"leaderboard/{b}", "seed": seed, "fraction": f, "pattern": pattern,
               "n_test": int(test.size),
               "n_train": int(train.size), "n_anchors": n_anchors, "draws": draws, "fit_seconds": fit_s,
               "irt_dim": int(lb.irt_model.dim),
               "missing_share": float(np.mean(np.concatenate(acc[(b, "new")]["miss"])))}
        for label in ("new", "before"):
          a = acc[(b, label)]
          row[f"covered_{label}"] = np.concatenate(a["cov"]).astype(int).tolist()
          row[f"cov_{label}"] = float(np.mean(a["cov"]))
          row[f"width_{label}"] = float(np.mean(a["width"]))
          row[f"mae_{label}"] = float(np.mean(a["err"]))
        rows.append(row)
      rf = rows[-len(lb.benchmarks):]
      log(f"leaderboard seed={seed} {pattern} missing={f:.2f}: " + ", ".join(
          f"{r['matrix'].split('/')[1]} {r['cov_new']:.2f} ({r['cov_before']:.2f})" for r in rf) +
          f"; width {np.mean([r['width_new'] for r in rf]):.1f} (before "
          f"{np.mean([r['width_before'] for r in rf]):.1f}), MAE {np.mean([r['mae_new'] for r in rf]):.2f} points")
  return rows


def report(rows: list[dict]) -> str:
  uneven = [r for r in rows if r.get("pattern", "all") != "all"]
  rows = [r for r in rows if r.get("pattern", "all") == "all"]
  mats = list(dict.fromkeys(r["matrix"] for r in rows))
  seeds = sorted({r["seed"] for r in rows})
  out = [f"Coverage of the 90% interval of est.score (held-out models x {rows[0]['draws']} draws of the hidden "
         f"anchors, seeds {seeds}); width and MAE in points; before = the complete-answer calibration", "",
         "| missing | " + " | ".join(m.split("/")[1] for m in mats) + " | all: coverage | before | width | before "
         "| MAE | before |", "|---" * (len(mats) + 7) + "|"]
  for f in FRACTIONS:
    rf = [r for r in rows if r["fraction"] == f]
    if not rf:
      continue
    cells = []
    for m in mats:
      rm = [r for r in rf if r["matrix"] == m]
      cells.append(f"{np.mean(np.concatenate([r['covered_new'] for r in rm])):.2f}" if rm else "-")
    pooled = lambda key: np.mean(np.concatenate([r[key] for r in rf]))   # noqa: E731
    mean = lambda key: np.mean([r[key] for r in rf])                     # noqa: E731
    out.append(f"| {f:.0%} | " + " | ".join(cells) + f" | **{pooled('covered_new'):.2f}** | "
               f"{pooled('covered_before'):.2f} | {mean('width_new'):.1f} | {mean('width_before'):.1f} | "
               f"{mean('mae_new'):.2f} | {mean('mae_before'):.2f} |")
  out += ["", "Mean width of the same intervals, points (before: the complete-answer calibration)", "",
          "| missing | " + " | ".join(m.split("/")[1] for m in mats) + " |", "|---" * (len(mats) + 1) + "|"]
  for f in FRACTIONS:
    rf = [r for r in rows if r["fraction"] == f]
    if rf:
      cells = []
      for m in mats:
        rm = [r for r in rf if r["matrix"] == m]
        cells.append(f"{np.mean([r['width_new'] for r in rm]):.1f} ({np.mean([r['width_before'] for r in rm]):.1f})"
                     if rm else "-")
      out.append(f"| {f:.0%} | " + " | ".join(cells) + " |")
  if all(r["matrix"].startswith("leaderboard/") for r in rows):
    out += ["", "Per benchmark: coverage (before) and MAE in points (before); the share of anchors actually hidden is "
            f"round(share x {rows[0]['n_anchors']}) / {rows[0]['n_anchors']}", "",
            "| missing | hidden | " + " | ".join(m.split("/")[1] for m in mats) + " | " +
            " | ".join(f"MAE {m.split('/')[1]}" for m in mats) + " |", "|---" * (2 * len(mats) + 2) + "|"]
    for f in FRACTIONS:
      rf = [r for r in rows if r["fraction"] == f]
      if rf:
        cov, mae = [], []
        for m in mats:
          rm = [r for r in rf if r["matrix"] == m]
          cov.append(f"{np.mean(np.concatenate([r['covered_new'] for r in rm])):.2f} "
                     f"({np.mean(np.concatenate([r['covered_before'] for r in rm])):.2f})")
          mae.append(f"{np.mean([r['mae_new'] for r in rm]):.2f} ({np.mean([r['mae_before'] for r in rm]):.2f})")
        out.append(f"| {f:.0%} | {np.mean([r['missing_share'] for r in rf]):.2f} | " + " | ".join(cov) + " | " +
                   " | ".join(mae) + " |")
  if uneven:
    out += ["", "Uneven shares (the calibration hid the same share of every benchmark): coverage (before) of each "
            "benchmark; width: mean over the five, points", "",
            "| pattern | " + " | ".join(m.split("/")[1] for m in mats) + " | width | before |",
            "|---" * (len(mats) + 3) + "|"]
    for pattern in dict.fromkeys(r["pattern"] for r in uneven):
      rp = [r for r in uneven if r["pattern"] == pattern]
      cells = []
      for m in mats:
        rm = [r for r in rp if r["matrix"] == m]
        cells.append(f"{np.mean(np.concatenate([r['covered_new'] for r in rm])):.2f} "
                     f"({np.mean(np.concatenate([r['covered_before'] for r in rm])):.2f})")
      out.append(f"| {pattern} | " + " | ".join(cells) + f" | {np.mean([r['width_new'] for r in rp]):.1f} | "
                 f"{np.mean([r['width_before'] for r in rp]):.1f} |")
  return "\n".join(out)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--matrices", default=",".join(MATRICES))
  ap.add_argument("--seeds", type=int, default=2)
  ap.add_argument("--anchors", type=int, default=None, help="anchors (per benchmark); default 100 (25 with --leaderboard)")
  ap.add_argument("--draws", type=int, default=3, help="random draws of the hidden anchors per held-out model")
  ap.add_argument("--out", default=None, help="write the rows (JSON); rows already there for other matrices stay")
  ap.add_argument("--report", default=None, help="print the table of a results file and exit")
  ap.add_argument("--leaderboard", action="store_true",
                  help="a Leaderboard over openllm_v1's five benchmarks instead of one TinyBenchmark per matrix "
                       "(--anchors then defaults to 25 per benchmark; --matrices is ignored)")
  ap.add_argument("--max-models", type=int, default=None,
                  help="--leaderboard: keep a random subset of this many models (default: all that answered all five)")
  args = ap.parse_args()
  if args.report:
    print(report(json.loads(pathlib.Path(args.report).read_text())))
    return 0
  rows = []
  if args.out and pathlib.Path(args.out).exists():
    rows = json.loads(pathlib.Path(args.out).read_text())
  log = lambda msg: print(msg, file=sys.stderr, flush=True)   # noqa: E731
  if args.leaderboard:
    new = run_leaderboard(range(args.seeds), args.anchors or LB_ANCHORS, args.draws, args.max_models, log)
    rows = [r for r in rows if not r["matrix"].startswith("leaderboard/")] + new
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(rows))
    print(report(rows))
    return 0
  for name in args.matrices.split(","):
    rows = [r for r in rows if r["matrix"] != name] + run(name, range(args.seeds), args.anchors or 100, args.draws, log)
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(rows))
  print(report(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
