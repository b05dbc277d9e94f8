"""Accuracy of the tiny Open LLM Leaderboard (tj.Suite) on held-out models, beside simple baselines.

    python benchmarks/bench_suite.py --data ../shared/data --anchors all,100,50,25 --seeds 0

For each seed, 20% of all models (the union over the five benchmarks) are held out. On the other 80% it builds a
Suite per --anchors value and, on the same split, the baselines:

* ridge (all items): ridge regression of the full score on ALL of the benchmark's own matrix items;
* cubic (kept mean): the mean of the suite's kept items mapped to the full score by a cubic fitted on the train
  models;
* TinyBenchmark: tinyjax's single-benchmark tiny benchmark with the same number of anchors (its estimate of the
  matrix mean mapped to the full score by a cubic on the train models), at --tiny-anchors only (slow).

It prints per benchmark the RMSE (points) of the full score on the held-out models and the 90% interval coverage,
and the same for the average over the five benchmarks (held-out models that have all five). ``--out FILE`` writes
the table as markdown.

``--missing 0,0.25,0.5,0.8`` also estimates the held-out models with that share of each benchmark's kept items
hidden (at random, per model and benchmark, ``round(share * kept)`` items), and prints the RMSE, the coverage and
the mean width of the 90% intervals at each share (issue 26: intervals that admit missing answers).
Each build's wall and CPU seconds are printed beside its row.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np


def rmse(a, b) -> float:
  return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def cubic(x_tr, y_tr, x_te):
  return np.polyval(np.polyfit(x_tr, y_tr, 3), x_te)


def own_ridge(X_tr, y_tr, X_te):
  from tinyjax.tiny import estimators as est
  reg = est.fit_score_regression(X_tr, y_tr)
  return est.regression_estimate(X_te, reg)


def missing_rows(suite, te, F, names, both, truth_avg, share, seed, label):
  """RMSE, 90% coverage and mean interval width on the held-out models with ``share`` of each benchmark's kept
  items hidden (NaN) at random, per model and benchmark."""
  rng = np.random.default_rng([seed, int(round(1000 * share))])
  answers = {}
  for b in names:
    a = te[b][suite.anchors[b]].to_numpy(dtype=float).copy()
    n_hide = int(round(share * a.shape[1]))
    for i in range(a.shape[0]):
      a[i, rng.choice(a.shape[1], n_hide, replace=False)] = np.nan
    answers[b] = type(te[b])(a, index=te[b].index, columns=suite.anchors[b])
  est = suite.estimate(answers)
  err, cov, wid = [], [], []
  for b in names:
    m = te[b].index
    y = F[b].loc[m].to_numpy()
    lo, hi = est.lower.loc[m, b].to_numpy(), est.upper.loc[m, b].to_numpy()
    err.append(rmse(est.scores.loc[m, b], y))
    cov.append(float(np.mean((lo <= y) & (y <= hi))))
    wid.append(float(np.mean(hi - lo)))
  lo, hi = est.lower.loc[both, "average"].to_numpy(), est.upper.loc[both, "average"].to_numpy()
  err.append(rmse(est.scores.loc[both, "average"], truth_avg))
  cov.append(float(np.mean((lo <= truth_avg) & (truth_avg <= hi))))
  wid.append(float(np.mean(hi - lo)))
  pct = f"{100 * share:g}% missing"
  fmt = lambda xs: " | ".join(f"{x:.2f}" for x in xs)  # noqa: E731
  return [f"| {seed} | {label} | Suite, {pct}: RMSE | {fmt(err)} |",
          f"| {seed} | {label} | Suite, {pct}: 90% coverage | {fmt(cov)} |",
          f"| {seed} | {label} | Suite, {pct}: mean 90% width | {fmt(wid)} |"]


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
  ap.add_argument("--anchors", default="all,100,50,25")
  ap.add_argument("--seeds", default="0")
  ap.add_argument("--tiny-anchors", default="100", help="anchor counts at which to run the TinyBenchmark baseline")
  ap.add_argument("--missing", default="", help="shares of kept items hidden, e.g. 0,0.25,0.5,0.8")
  ap.add_argument("--no-baselines", action="store_true", help="skip the ridge and cubic baselines")
  ap.add_argument("--out", default=None)
  args = ap.parse_args()

  import tinyjax as tj
  from tinyjax.suite import load_openllm_v1

  R, F = load_openllm_v1(args.data)
  names = list(R)
  ids = sorted(set().union(*[set(r.index) for r in R.values()]))
  settings = [None if a.strip() == "all" else int(a) for a in args.anchors.split(",")]
  tiny_at = {int(a) for a in args.tiny_anchors.split(",") if a.strip()}
  lines = ["| seed | kept / bench | method | " + " | ".join(names) + " | average |",
           "|---|---|---|" + "---|" * (len(names) + 1)]
  for seed in (int(s) for s in args.seeds.split(",")):
    rng = np.random.default_rng(seed)
    test = set(rng.permutation(ids)[: len(ids) // 5])
    tr = {b: r[~r.index.isin(test)] for b, r in R.items()}
    te = {b: r[r.index.isin(test)] for b, r in R.items()}
    ftr = {b: F[b].loc[tr[b].index] for b in names}
    both = [m for m in sorted(test) if all(m in te[b].index for b in names)]
    truth_avg = np.mean([F[b].loc[both].to_numpy() for b in names], axis=0)
    if not args.no_baselines:
      base = {b: own_ridge(tr[b].to_numpy(), ftr[b].to_numpy(), te[b].to_numpy()) for b in names}
      row = {b: rmse(base[b], F[b].loc[te[b].index]) for b in names}
      avg = np.mean([base[b][te[b].index.get_indexer(both)] for b in names], axis=0)
      lines.append(f"| {seed} | all | ridge (all items) | " + " | ".join(f"{row[b]:.2f}" for b in names)
                   + f" | {rmse(avg, truth_avg):.2f} |")
      print(lines[-1], flush=True)
    for k in settings:
      t0, c0 = time.perf_counter(), time.process_time()
      suite = tj.Suite.fit(tr, ftr, n_anchors=k, seed=seed, unit="percent", progress=False)
      fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
      est = suite.estimate({b: te[b][suite.anchors[b]] for b in names})
      cells, cov = [], []
      for b in names:
        m = te[b].index
        y = F[b].loc[m].to_numpy()
        cells.append(rmse(est.scores.loc[m, b], y))
        cov.append(float(np.mean((est.lower.loc[m, b].to_numpy() <= y) & (y <= est.upper.loc[m, b].to_numpy()))))
      a = est.scores.loc[both, "average"].to_numpy()
      cov_a = float(np.mean((est.lower.loc[both, "average"].to_numpy() <= truth_avg)
                            & (truth_avg <= est.upper.loc[both, "average"].to_numpy())))
      label = "all" if k is None else str(k)
      lines.append(f"| {seed} | {label} | **Suite** | " + " | ".join(f"**{c:.2f}**" for c in cells)
                   + f" | **{rmse(a, truth_avg):.2f}** |")
      print(lines[-1], f"(fit {fit_s:.0f} s wall, {fit_cpu:.0f} s CPU)", flush=True)
      lines.append(f"| {seed} | {label} | Suite 90% coverage | " + " | ".join(f"{c:.2f}" for c in cov)
                   + f" | {cov_a:.2f} |")
      print(lines[-1], flush=True)
      for share in (float(x) for x in args.missing.split(",") if x.strip()):
        lines += missing_rows(suite, te, F, names, both, truth_avg, share, seed, label)
        print("\n".join(lines[-3:]), flush=True)
      if args.no_baselines:
        continue
      # Baseline on the same kept items: their mean mapped by a cubic.
      cub = {}
      for b in names:
        keep = suite.anchors[b]
        cub[b] = cubic(tr[b][keep].mean(axis=1).to_numpy(), ftr[b].to_numpy(), te[b][keep].mean(axis=1).to_numpy())
      avg = np.mean([cub[b][te[b].index.get_indexer(both)] for b in names], axis=0)
      lines.append(f"| {seed} | {label} | cubic (kept mean) | "
                   + " | ".join(f"{rmse(cub[b], F[b].loc[te[b].index]):.2f}" for b in names)
                   + f" | {rmse(avg, truth_avg):.2f} |")
      print(lines[-1], flush=True)
      if k in tiny_at:
        tb_pred = {}
        for b in names:
          tb = tj.TinyBenchmark.fit(tr[b], n_anchors=k, seed=seed, progress=False)
          s_tr = tb.estimate(tr[b][tb.anchor_ids]).score
          s_te = tb.estimate(te[b][tb.anchor_ids]).score
          tb_pred[b] = cubic(s_tr, ftr[b].to_numpy(), s_te)
        avg = np.mean([tb_pred[b][te[b].index.get_indexer(both)] for b in names], axis=0)
        lines.append(f"| {seed} | {label} | TinyBenchmark + cubic | "
                     + " | ".join(f"{rmse(tb_pred[b], F[b].loc[te[b].index]):.2f}" for b in names)
                     + f" | {rmse(avg, truth_avg):.2f} |")
        print(lines[-1], flush=True)
  if args.out:
    from tinyjax._atomic import atomic_write_text
    atomic_write_text(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
