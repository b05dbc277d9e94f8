"""Coverage and width of tiny-benchmark intervals when new models leave some anchors unanswered (issue 26).

For every matrix and seed: hold out a random 25% of the models (``accuracy.splits``, the iid split), build a
TinyBenchmark on the rest (100 anchors, the defaults; ``compare_adaptive=False``, which does not touch the static
estimate), then hide a share of each held-out model's anchor answers at random (``hide_anchors``, ``--draws``
random draws per model) and measure the coverage of the 90% interval of ``est.score``, its mean width and the mean
absolute error, in points, against the true score (the row mean over all items). "before" is the same tiny
benchmark with its missing-answer calibrations removed: the interval every model got before issue 26, calibrated
for complete answers whatever was missing.

Usage:
  python benchmarks/accuracy_missing.py --out missing.json        # the table of docs/accuracy.md, "Missing answers"
  python benchmarks/accuracy_missing.py --report missing.json     # print the table of a results file again
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


def report(rows: list[dict]) -> str:
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
  return "\n".join(out)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--matrices", default=",".join(MATRICES))
  ap.add_argument("--seeds", type=int, default=2)
  ap.add_argument("--anchors", type=int, default=100)
  ap.add_argument("--draws", type=int, default=3, help="random draws of the hidden anchors per held-out model")
  ap.add_argument("--out", default=None, help="write the rows (JSON); rows already there for other matrices stay")
  ap.add_argument("--report", default=None, help="print the table of a results file and exit")
  args = ap.parse_args()
  if args.report:
    print(report(json.loads(pathlib.Path(args.report).read_text())))
    return 0
  rows = []
  if args.out and pathlib.Path(args.out).exists():
    rows = json.loads(pathlib.Path(args.out).read_text())
  log = lambda msg: print(msg, file=sys.stderr, flush=True)   # noqa: E731
  for name in args.matrices.split(","):
    rows = [r for r in rows if r["matrix"] != name] + run(name, range(args.seeds), args.anchors, args.draws, log)
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(rows))
  print(report(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
