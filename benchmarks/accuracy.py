"""Accuracy of tiny benchmarks on the real matrices in ../shared/data/irt (the tables of docs/accuracy.md).

For every matrix, split (iid: a random 25% of models held out; top25: the strongest 25% held out),
and seed, it fits one IRT model on the train models (shared by the strategies), builds a
TinyBenchmark for each anchor strategy, and measures on the held-out models the mean absolute error
(in points) of naive, p-IRT and gp-IRT and the coverage of the gp-IRT interval. openllm_v1 also gets
the RMSE of predicting each model's FULL benchmark score (a cubic fit on the train models).

Usage:
  python benchmarks/accuracy.py --out results.json         # every table of docs/accuracy.md except adaptive
  python benchmarks/accuracy.py --adaptive --matrices helm_lite/med_qa,... --seeds 3 --out adaptive.json
  python benchmarks/accuracy.py --report results.json      # print the tables of a results file again
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from typing import NamedTuple

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("TINYJAX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "irt"

FULL_ITEM = ["helm_lite/commonsense", "helm_lite/gsm", "helm_lite/math", "helm_lite/med_qa",
             "openllm_v2/arc_challenge", "openllm_v2/musr", "alpaca_eval2/win_prob"]
V1 = ["openllm_v1/arc", "openllm_v1/gsm8k", "openllm_v1/truthfulqa"]
STRATEGIES = ("random", "difficulty", "correctness", "irt", "stepwise")
ESTIMATORS = ("naive", "pirt", "gpirt", "diff", "greg", "ridge", "blend")
METHODS = ("map", "mle")


class Settings(NamedTuple):
  """The experiment switches of one run (command-line options), passed to every function that reads them."""

  raw: bool = False                  # --raw: store per-model validation and test residuals (re-calibration)
  rules: tuple = ()                  # --rules: extra exterior-rule quantiles to evaluate the blend under
  tail_fraction: float | None = None   # --tail-fraction: share of train models per side in the tail fold
  range_q: float | None = None       # --range-q: the train range is the q..1-q quantiles of the train scores


def load_matrix(name: str):
  """(Y [N, I] float64, full_scores [N] or None)."""
  import pandas as pd
  group, base = name.split("/")
  if group == "alpaca_eval2":
    df = pd.read_parquet(DATA / group / "win_prob.parquet")
    models = pd.read_csv(DATA / group / "models.csv")
    Y = df.to_numpy(dtype=float)
    ids = [str(x) for x in df.index]
    if "NullModel" in ids:
      Y = Y[[i for i, m in enumerate(ids) if m != "NullModel"]]
    del models
    return Y, None
  if group == "openllm_v1":
    Y = pd.read_parquet(DATA / group / f"{base}.responses.parquet").to_numpy(dtype=float)
    full = pd.read_csv(DATA / group / f"{base}.full_scores.csv")["full_benchmark_score_pct"].to_numpy(float)
    return Y, full
  return np.load(DATA / group / f"{base}.npy").astype(float), None


def splits(Y: np.ndarray, seed: int):
  n = Y.shape[0]
  n_test = max(5, int(round(0.25 * n)))
  score = np.nanmean(Y, axis=1)
  rng = np.random.default_rng(seed)
  iid = rng.permutation(n)[:n_test]
  top = np.argsort(-score, kind="stable")[:n_test]
  return {"iid": np.sort(iid), "top25": np.sort(top)}


def _raw_arrays(tb, est, truth, range_q=None) -> dict:
  """Per-model arrays for re-calibration experiments: the validation residuals of ``tb``'s folds and the test
  models' errors, Bernoulli spreads and distances beyond the train range (rounded, JSON lists)."""
  from tinyjax.tiny import estimators as E
  from tinyjax.tiny.estimation import range_distance
  diag = tb.diagnostics()
  val = {k: np.round(np.asarray(v, float), 6).tolist() for k, v in diag["residuals"].items()}
  p = tb.irt_model.predict_proba(est.theta, items=diag["items"])
  ts = diag["train_scores"]
  test = {"spread": E.bernoulli_scale(p, diag["item_weights"]), "dist": range_distance(est.diff, ts, range_q),
          "side": np.sign(est.diff - np.median(ts)), "z": (est.diff - np.median(ts)) / np.std(ts), "sd": np.full(truth.shape, np.std(ts)),
          "zq": (np.quantile(ts, np.linspace(0, 1, 21)) - np.median(ts)) / np.std(ts)}
  for e in ESTIMATORS:
    test[f"err_{e}"] = getattr(est, e) - truth
  return {"val": val, "test": {k: np.round(np.asarray(v, float), 6).tolist() for k, v in test.items()},
          "qs": dict(diag["calibration"]["qs"]), "qs_ext": dict(diag["calibration"]["qs_ext"])}


def run_matrix(name: str, seeds: int, n_anchors: int, level: float, log, methods=("mle",),
               strategies=STRATEGIES, settings: Settings = Settings()) -> list[dict]:
  import copy

  import tinyjax as tj
  from tinyjax.tiny.benchmark import FitSettings, fit_tiny_benchmark
  from tinyjax.tiny.estimation import range_distance, true_scores as _true_scores

  range_q = None if settings.range_q is None else (settings.range_q, 1.0 - settings.range_q)

  Y, full = load_matrix(name)
  mass = np.full(Y.shape[1], 1.0 / Y.shape[1])
  rows = []
  for split_name in ("iid", "top25"):
    for seed in range(seeds):
      test = splits(Y, seed)[split_name]
      train = np.setdiff1d(np.arange(Y.shape[0]), test)
      Ytr, Yte = Y[train], Y[test]
      truth = _true_scores(Yte, mass)
      t0 = time.time()
      model = tj.fit_irt(Ytr, dim="auto", dims=(1, 2, 3), seed=seed, progress=False)
      cache: dict = {}
      for strategy in strategies:
        for method in methods:
          t1 = time.time()
          default = strategy == "random" and method == "mle"
          tb = fit_tiny_benchmark(FitSettings(cache, settings.tail_fraction, range_q), Ytr, n_anchors=n_anchors,
                                  strategy=strategy, seed=seed, irt_model=model, level=level, method=method,
                                  progress=False, compare_adaptive=default)
          est = tb.estimate(Yte[:, tb.anchors])
          row = {"matrix": name, "split": split_name, "seed": seed, "strategy": strategy, "method": method,
                 "n_train": int(train.size), "n_test": int(test.size), "n_items": int(Y.shape[1]),
                 "n_anchors": n_anchors, "dim": int(model.dim), "lam": tb.lam,
                 "seconds": time.time() - t1}
          for e in ESTIMATORS:
            v = getattr(est, e)
            row[f"mae_{e}"] = float(100 * np.mean(np.abs(v - truth)))
            lo, hi = est.intervals[e].T
            row[f"cov_{e}"] = float(np.mean((truth >= lo) & (truth <= hi)))
            row[f"width_{e}"] = float(100 * np.mean(hi - lo))
          row["coverage"] = row["cov_gpirt"]
          if default:
            # Per held-out model, for the regime, ranking and workflow tables (the defaults only).
            rec = tb.recommendation
            lo, hi = est.lo, est.hi
            wf, wlo, whi = est.score, lo, hi
            if rec["workflow"] == "adaptive":
              ae = tb.estimate_adaptive(Yte, progress=False)
              wf, wlo, whi = ae.score, ae.lo, ae.hi
            glo, ghi = est.intervals["gpirt"].T
            row.update(
                workflow=rec["workflow"], val_mae_static=100 * rec["mae_static"],
                val_mae_adaptive=100 * rec["mae_adaptive"], mae_workflow=float(100 * np.mean(np.abs(wf - truth))),
                cov_workflow=float(np.mean((truth >= wlo) & (truth <= whi))),
                truth=truth.tolist(), pred_score=est.score.tolist(), pred_gpirt=est.gpirt.tolist(),
                pred_naive_random=est.naive.tolist(), pred_workflow=np.asarray(wf).tolist(),
                regime=[str(x) for x in est.regime], exterior_flag=[bool(x) for x in est.exterior],
                covered_score=((truth >= lo) & (truth <= hi)).tolist(),
                covered_gpirt=((truth >= glo) & (truth <= ghi)).tolist(),
                covered_workflow=((truth >= wlo) & (truth <= whi)).tolist(),
                regime_choice={k: v["choice"] for k, v in tb.validation["regime_info"].items()})
            if est.exterior.any():
              row["mae_ext_greg"] = float(100 * np.mean(np.abs(est.greg - truth)[est.exterior]))
          row["exterior"] = float(np.mean(est.exterior))
          row["regime_w"] = {k: list(w) for k, w in tb.validation["regime_w"].items()}
          row["dist_mean"] = float(np.mean(np.asarray(range_distance(est.diff, tb.diagnostics()["train_scores"],
                                                                     range_q))))
          if settings.raw:
            row["raw"] = _raw_arrays(tb, est, truth, range_q)
          for q in settings.rules:
            # The exterior rule only changes how a new model is classified (no refit): estimate again under it,
            # with a copy of the tiny benchmark whose train range ends at these quantiles.
            tb_q = copy.copy(tb)
            tb_q._range_quantiles = (q, 1.0 - q)
            eq = tb_q.estimate(Yte[:, tb.anchors])
            lo, hi = eq.lo, eq.hi
            row[f"mae_blend_q{q:g}"] = float(100 * np.mean(np.abs(eq.blend - truth)))
            row[f"cov_blend_q{q:g}"] = float(np.mean((truth >= lo) & (truth <= hi)))
            row[f"ext_q{q:g}"] = float(np.mean(eq.exterior))
          alt = tb.estimate(Yte[:, tb.anchors], lam_mode="model")
          row["mae_gpirt_model"] = float(100 * np.mean(np.abs(alt.gpirt - truth)))
          if full is not None:
            # Full benchmark score from the item score: cubic fit on the train models.
            ftr, fte = full[train], full[test]
            ok_tr, ok_te = np.isfinite(ftr), np.isfinite(fte)
            coef_all = np.polyfit(_true_scores(Ytr, mass)[ok_tr], ftr[ok_tr], 3)
            row["full_rmse_all_items"] = float(np.sqrt(np.mean((np.polyval(coef_all, truth[ok_te]) - fte[ok_te]) ** 2)))
            # Direct regression of the FULL score on the answers (as metabench does from IRT features):
            # ridge on the anchor answers, and on all items of the matrix, fitted on the train models.
            from tinyjax.tiny import estimators as E
            fill = lambda Z, ref: np.where(np.isnan(Z), np.nanmean(ref, axis=0)[None, :], Z)
            for key, cols in (("anchors", tb.anchors), ("all", np.arange(Y.shape[1]))):
              reg = E.fit_score_regression(fill(Ytr[ok_tr][:, cols], Ytr[:, cols]), ftr[ok_tr])
              pred = E.regression_estimate(fill(Yte[ok_te][:, cols], Ytr[:, cols]), reg)
              row[f"full_rmse_ridge_{key}"] = float(np.sqrt(np.mean((pred - fte[ok_te]) ** 2)))
            for e in ESTIMATORS:
              row[f"full_rmse_{e}"] = float(np.sqrt(np.mean((np.polyval(coef_all, getattr(est, e)[ok_te]) - fte[ok_te]) ** 2)))
          rows.append(row)
          log(f"{name} {split_name} seed={seed} {strategy:12s} {method} dim={model.dim} lam={tb.lam:.2f} "
              + " ".join(f"{e}={row['mae_' + e]:.2f}" for e in ESTIMATORS)
              + f" cov={row['coverage']:.2f} ({time.time() - t1:.0f}s, fit {t1 - t0:.0f}s)")
  return rows


def run_adaptive(name: str, seeds: int, n_anchors: int, log) -> list[dict]:
  """Adaptive testing (Fisher information, p-IRT estimate) against static anchors at the same budget."""
  import tinyjax as tj
  from tinyjax.tiny.estimation import true_scores as _true_scores

  Y, _ = load_matrix(name)
  mass = np.full(Y.shape[1], 1.0 / Y.shape[1])
  rows = []
  for seed in range(seeds):
    test = splits(Y, seed)["iid"]
    train = np.setdiff1d(np.arange(Y.shape[0]), test)
    truth = _true_scores(Y[test], mass)
    model = tj.fit_irt(Y[train], dim="auto", dims=(1, 2, 3), seed=seed, progress=False)
    res = tj.adaptive.simulate(model, Y[test], budget=n_anchors, progress=False)
    row = {"matrix": name, "seed": seed, "budget": n_anchors, "dim": int(model.dim),
           "mae_adaptive_pirt": float(100 * np.mean(np.abs(res.estimate - truth)))}
    for strategy in ("random", "irt"):
      tb = tj.TinyBenchmark.fit(Y[train], n_anchors=n_anchors, strategy=strategy, seed=seed, irt_model=model,
                                n_folds=2, progress=False)
      est = tb.estimate(Y[test][:, tb.anchors])
      row[f"mae_{strategy}_pirt"] = float(100 * np.mean(np.abs(est.pirt - truth)))
      row[f"mae_{strategy}_naive"] = float(100 * np.mean(np.abs(est.naive - truth)))
      row[f"mae_{strategy}_blend"] = float(100 * np.mean(np.abs(est.score - truth)))
      if strategy == "random":
        row["val_random_blend"] = float(100 * tb.validation["maes"]["blend"])
    # Adaptive testing on two validation folds of the train models (IRT refitted on the rest), and the choice
    # between it and the default blend by validation error: what a user could decide from the train models alone.
    perm = np.random.default_rng(seed).permutation(train.size)
    errs = []
    for f in range(2):
      va = train[perm[f::2]]
      m = tj.fit_irt(Y[np.setdiff1d(train, va)], dim=int(model.dim), seed=seed, progress=False)
      errs.append(np.abs(tj.adaptive.simulate(m, Y[va], budget=n_anchors, progress=False).estimate - _true_scores(Y[va], mass)))
    row["val_adaptive_pirt"] = float(100 * np.mean(np.concatenate(errs)))
    adaptive_wins = row["val_adaptive_pirt"] < row["val_random_blend"]
    row["mae_chosen"] = row["mae_adaptive_pirt"] if adaptive_wins else row["mae_random_blend"]
    rows.append(row)
    log(f"adaptive {name} seed={seed} " + " ".join(f"{k}={v:.2f}" for k, v in row.items() if k.startswith("mae")))
  return rows


def report_adaptive(rows: list[dict]) -> str:
  out = ["\n### Adaptive testing vs static anchors at the same budget (iid split, MAE in points)\n",
         "| matrix | budget | dim | adaptive p-IRT | irt anchors p-IRT | random anchors p-IRT | random anchors naive "
         "| random anchors blend (the default) | adaptive or default, chosen on validation |",
         "|---|---|---|---|---|---|---|---|---|"]
  cells = ("mae_adaptive_pirt", "mae_irt_pirt", "mae_random_pirt", "mae_random_naive", "mae_random_blend", "mae_chosen")
  for m in dict.fromkeys(r["matrix"] for r in rows):
    rs = [r for r in rows if r["matrix"] == m]
    dims = ",".join(str(d) for d in sorted({r["dim"] for r in rs}))
    out.append(f"| {m} | {rs[0]['budget']} | {dims} | "
               + " | ".join(f"{_mean(rs, k):.2f}" if all(k in r for r in rs) else "-" for k in cells) + " |")
  means = [np.mean([_mean([r for r in rows if r["matrix"] == m], k) for m in dict.fromkeys(r["matrix"] for r in rows)])
           if all(k in r for r in rows) else float("nan") for k in cells]
  out.append("| mean | | | " + " | ".join(f"{v:.2f}" for v in means) + " |")
  return "\n".join(out)


def _mean(rows, key):
  return float(np.mean([r[key] for r in rows]))


def _cell(rows, matrix, split, strategy, method, key):
  rs = [r for r in rows if r["matrix"] == matrix and r["split"] == split and r["strategy"] == strategy
        and r.get("method", "map") == method]
  return _mean(rs, key) if rs else float("nan")


def report(rows: list[dict], method: str = "mle") -> str:
  """Markdown tables: per split, MAE of every strategy x estimator (ability ``method``), the best one against
  random-anchor naive, and interval coverage; then the defaults; then openllm_v1 full-score RMSE."""
  from tinyjax.tiny import DEFAULT_STRATEGY, RECOMMENDED

  out = []
  mats = list(dict.fromkeys(r["matrix"] for r in rows))
  full_mats = [m for m in mats if not m.startswith("openllm_v1")]
  level = rows[0].get("level", 0.9)
  strategies = [s for s in STRATEGIES if any(r["strategy"] == s for r in rows)]
  ests = [e for e in ESTIMATORS if f"mae_{e}" in rows[0]]
  for split_name in ("iid", "top25"):
    out.append(f"\n### Split: {split_name} — MAE in points (mean over seeds), ability by {method.upper()}\n")
    head = "| matrix | K | seeds | dim | strategy | " + " | ".join(ests) + " | coverage of " + RECOMMENDED + " |"
    out.append(head)
    out.append("|" + "---|" * (head.count("|") - 1))
    bests, ratios = {}, {}
    for m in mats:
      rs = [r for r in rows if r["matrix"] == m and r["split"] == split_name]
      if not rs:
        continue
      vals = {(s, e): _cell(rows, m, split_name, s, method, f"mae_{e}") for s in strategies for e in ests}
      (bs, be), best = min(vals.items(), key=lambda kv: kv[1])
      base = vals[("random", "naive")]
      bests[m], ratios[m] = (best, bs, be), best / base
      dims = sorted({r["dim"] for r in rs})
      seeds = len({r["seed"] for r in rs})
      for s in strategies:
        out.append(f"| {m} | {rs[0]['n_anchors']} | {seeds} | {','.join(map(str, dims))} | {s} | "
                   + " | ".join(f"{vals[(s, e)]:.2f}" for e in ests)
                   + f" | {_cell(rows, m, split_name, s, method, 'cov_' + RECOMMENDED):.2f} |")
    fm = [m for m in full_mats if m in bests]
    if fm:
      out.append("")
      out.append(f"Best cell per full-item matrix ({len(fm)}): "
                 + "; ".join(f"{m} {bests[m][0]:.2f} ({bests[m][1]} {bests[m][2]})" for m in fm)
                 + f". Mean {np.mean([bests[m][0] for m in fm]):.2f} points; mean ratio to random-naive "
                 f"{np.mean([ratios[m] for m in fm]):.2f}; worst ratio {max(ratios[m] for m in fm):.2f}.")
      out.append("")
      out.append("Mean MAE over the full-item matrices:")
      for s in strategies:
        line = [f"{e} {np.mean([_cell(rows, m, split_name, s, method, f'mae_{e}') for m in fm]):.2f}" for e in ests]
        out.append(f"- {s} anchors: " + ", ".join(line))
      out.append("")
      out.append(f"Interval coverage (nominal {level:.2f}), mean over the full-item matrices, seeds and test models:")
      for s in strategies:
        covs = [np.mean([_cell(rows, m, split_name, s, method, f"cov_{e}") for m in fm]) for e in ests]
        out.append(f"- {s} anchors: " + ", ".join(f"{e} {c:.3f}" for e, c in zip(ests, covs)))
  ds = DEFAULT_STRATEGY
  out.append(f"\n### The defaults ({ds} anchors, {method.upper()} ability, est.score = {RECOMMENDED}) vs "
             "random-anchor naive\n")
  out.append("| matrix | split | random naive | default | ratio | default coverage | gp-IRT (random) | gp-IRT coverage |")
  out.append("|---|---|---|---|---|---|---|---|")
  for split_name in ("iid", "top25"):
    ratios, covs = [], []
    for m in mats:
      base = _cell(rows, m, split_name, "random", method, "mae_naive")
      d = _cell(rows, m, split_name, ds, method, f"mae_{RECOMMENDED}")
      if np.isnan(base):
        continue
      c = _cell(rows, m, split_name, ds, method, f"cov_{RECOMMENDED}")
      if not m.startswith("openllm_v1"):
        ratios.append(d / base)
        covs.append(c)
      out.append(f"| {m} | {split_name} | {base:.2f} | {d:.2f} | {d / base:.2f} | {c:.2f} | "
                 f"{_cell(rows, m, split_name, 'random', method, 'mae_gpirt'):.2f} | "
                 f"{_cell(rows, m, split_name, 'random', method, 'cov_gpirt'):.2f} |")
    if ratios:
      dm = [_cell(rows, m, split_name, ds, method, f"mae_{RECOMMENDED}") for m in full_mats]
      out.append(f"| full-item mean | {split_name} | | {np.nanmean(dm):.2f} | {np.mean(ratios):.2f} | "
                 f"{np.mean(covs):.2f} | | |")
  if all("width_blend" in r for r in rows):
    out.append(f"\n### Intervals of the {ds}-anchor estimates: coverage / mean half-width in points (nominal {level:.2f})\n")
    ie = [e for e in ESTIMATORS if f"cov_{e}" in rows[0]]
    out.append("| matrix | split | " + " | ".join(ie) + " |")
    out.append("|---|---|" + "---|" * len(ie))
    for split_name in ("iid", "top25"):
      for m in mats:
        if np.isnan(_cell(rows, m, split_name, ds, method, "cov_blend")):
          continue
        out.append(f"| {m} | {split_name} | " + " | ".join(
            f"{_cell(rows, m, split_name, ds, method, 'cov_' + e):.2f} / {_cell(rows, m, split_name, ds, method, 'width_' + e) / 2:.1f}"
            for e in ie) + " |")
      fm = [m for m in full_mats if not np.isnan(_cell(rows, m, split_name, ds, method, "cov_blend"))]
      if fm:
        out.append(f"| full-item min coverage / mean half-width | {split_name} | " + " | ".join(
            f"{min(_cell(rows, m, split_name, ds, method, 'cov_' + e) for m in fm):.2f} / "
            f"{np.mean([_cell(rows, m, split_name, ds, method, 'width_' + e) for m in fm]) / 2:.1f}" for e in ie) + " |")
  out.append(report_workflow(rows))
  if any(r.get("method") == "map" for r in rows):
    out.append("\n### Ability estimate of new models: MAP vs MLE (mean MAE over all matrices and strategies)\n")
    out.append("| split | estimator | MAP | MLE |")
    out.append("|---|---|---|---|")
    for split_name in ("iid", "top25"):
      for e in ("pirt", "gpirt", "diff"):
        v = {me: np.nanmean([_cell(rows, m, split_name, s, me, f"mae_{e}") for m in mats for s in strategies])
             for me in METHODS}
        out.append(f"| {split_name} | {e} | {v['map']:.2f} | {v['mle']:.2f} |")
  v1 = [r for r in rows if "full_rmse_all_items" in r and r.get("method", "map") == method]
  if v1:
    out.append("\n### openllm_v1: RMSE (points) of each model's FULL benchmark score\n")
    out.append("| matrix | split | all matrix items (cubic map) | all matrix items (ridge) | "
               + " | ".join(f"K anchors ({s}), {e}" for s in ("random", "irt") for e in ("naive", "gpirt", "blend"))
               + " | K anchors (random), ridge on full score |")
    out.append("|---|---|---|---|" + "---|" * 7)
    for m in dict.fromkeys(r["matrix"] for r in v1):
      for split_name in ("iid", "top25"):
        rs = [r for r in v1 if r["matrix"] == m and r["split"] == split_name]
        if not rs:
          continue
        cells = [_mean([r for r in rs if r["strategy"] == s], f"full_rmse_{e}") for s in ("random", "irt")
                 for e in ("naive", "gpirt", "blend")]
        rr = [r for r in rs if r["strategy"] == "random"]
        out.append(f"| {m} | {split_name} | {_mean([r for r in rs if r['strategy'] == 'irt'], 'full_rmse_all_items'):.2f} | "
                   + (f"{_mean(rr, 'full_rmse_ridge_all'):.2f} | " if rr and "full_rmse_ridge_all" in rr[0] else "n/a | ")
                   + " | ".join(f"{c:.2f}" for c in cells)
                   + (f" | {_mean(rr, 'full_rmse_ridge_anchors'):.2f} |" if rr and "full_rmse_ridge_anchors" in rr[0]
                      else " | n/a |"))
  return "\n".join(out)


def report_workflow(rows: list[dict]) -> str:
  """Issue 18's tables: the recommended workflow (static or adaptive, chosen by TinyBenchmark.fit), each regime of
  the recommended estimate against gp-IRT, musr's models beyond the train range, and pairwise ranking."""
  import _ranking
  from tinyjax.tiny.estimation import REGIMES

  rs = [r for r in rows if "truth" in r]
  if not rs:
    return ""
  out = ["\n### The recommended workflow (static or adaptive, chosen on validation) vs random-anchor naive\n",
         "| matrix | split | workflows chosen (adaptive/seeds) | random naive | gp-IRT | static default (est.score) "
         "| recommended workflow | ratio to naive | coverage |", "|---|---|---|---|---|---|---|---|---|"]
  for split_name in ("iid", "top25"):
    fm_vals = []
    for m in dict.fromkeys(r["matrix"] for r in rs):
      xs = [r for r in rs if r["matrix"] == m and r["split"] == split_name]
      if not xs:
        continue
      naive, wf = _mean(xs, "mae_naive"), _mean(xs, "mae_workflow")
      n_ad = sum(r["workflow"] == "adaptive" for r in xs)
      out.append(f"| {m} | {split_name} | {n_ad}/{len(xs)} | {naive:.2f} | {_mean(xs, 'mae_gpirt'):.2f} | "
                 f"{_mean(xs, 'mae_blend'):.2f} | {wf:.2f} | {wf / naive:.2f} | {_mean(xs, 'cov_workflow'):.2f} |")
      if not m.startswith("openllm_v1"):
        fm_vals.append((naive, _mean(xs, "mae_gpirt"), _mean(xs, "mae_blend"), wf, _mean(xs, "cov_workflow")))
    if fm_vals:
      a = np.array(fm_vals)
      out.append(f"| full-item mean | {split_name} | | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | "
                 f"{a[:, 2].mean():.2f} | {a[:, 3].mean():.2f} | {np.mean(a[:, 3] / a[:, 0]):.2f} | "
                 f"{a[:, 4].mean():.2f} |")
  out += ["\n### Each regime of the recommended estimate against gp-IRT (full-item matrices, all seeds)\n",
          "Regime of each held-out model as `est.regime` reports it. MAE in points over the models of the regime "
          "(pooled over matrices and seeds); the mean over matrices of the per-matrix MAE where the matrix has models "
          "there; coverage of the 90% interval.\n",
          "| split | regime | models | est.score MAE | gp-IRT MAE | difference | per-matrix mean: est.score / gp-IRT "
          "| est.score coverage | gp-IRT coverage |", "|---|---|---|---|---|---|---|---|---|"]
  full = [r for r in rs if not r["matrix"].startswith("openllm_v1")]
  for split_name in ("iid", "top25"):
    for reg in REGIMES:
      e_s, e_g, c_s, c_g, per = [], [], [], [], []
      for r in full:
        if r["split"] != split_name:
          continue
        sel = np.asarray(r["regime"]) == reg
        if not sel.any():
          continue
        t = np.asarray(r["truth"])[sel]
        e_s.append(np.abs(np.asarray(r["pred_score"])[sel] - t))
        e_g.append(np.abs(np.asarray(r["pred_gpirt"])[sel] - t))
        c_s.append(np.asarray(r["covered_score"])[sel])
        c_g.append(np.asarray(r["covered_gpirt"])[sel])
        per.append((r["matrix"], e_s[-1].mean(), e_g[-1].mean()))
      if not e_s:
        continue
      es, eg = 100 * np.concatenate(e_s).mean(), 100 * np.concatenate(e_g).mean()
      mats = dict.fromkeys(m for m, _, _ in per)
      pm = np.array([[np.mean([a for m2, a, _ in per if m2 == m]), np.mean([b for m2, _, b in per if m2 == m])]
                     for m in mats]) * 100
      out.append(f"| {split_name} | {reg} | {sum(len(x) for x in e_s)} | {es:.2f} | {eg:.2f} | {es - eg:+.2f} | "
                 f"{pm[:, 0].mean():.2f} / {pm[:, 1].mean():.2f} ({len(mats)} matrices) | "
                 f"{np.concatenate(c_s).mean():.2f} | {np.concatenate(c_g).mean():.2f} |")
  musr = [r for r in rs if r["matrix"] == "openllm_v2/musr" and r["split"] == "iid"]
  if musr:
    out += ["\n### openllm_v2/musr, iid splits: the held-out models beyond the train range (`est.exterior`)\n",
            "| seed | test models | beyond the range | est.score MAE there | gp-IRT MAE there | greg-alone MAE there "
            "(the old exterior rule) | worst est.score error |", "|---|---|---|---|---|---|---|"]
    for r in musr:
      ext = np.asarray(r["exterior_flag"])
      t = np.asarray(r["truth"])
      if not ext.any():
        out.append(f"| {r['seed']} | {t.size} | 0 | - | - | - | - |")
        continue
      e = lambda k: 100 * np.abs(np.asarray(r[k])[ext] - t[ext])
      greg = f"{r['mae_ext_greg']:.2f}" if "mae_ext_greg" in r else "-"
      out.append(f"| {r['seed']} | {t.size} | {int(ext.sum())} | {e('pred_score').mean():.2f} | "
                 f"{e('pred_gpirt').mean():.2f} | {greg} | {e('pred_score').max():.1f} |")
  # Pairs pooled over matrices: the full-item matrices apart from openllm_v1, whose thousands of models would
  # outnumber their pairs a hundred to one.
  for what, sub in (("the seven full-item matrices", full), ("openllm_v1", [r for r in rs if r not in full])):
    if sub:
      out.append(f"\n### Ranking on {what}: pairs of held-out models ordered as the full benchmark orders them\n")
      out.append(_ranking.ranking_rows(sub).replace("### Ranking: ", "#### "))
  return "\n".join(out)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--matrices", default=",".join(FULL_ITEM + V1), help="comma-separated matrix names")
  p.add_argument("--seeds", type=int, default=None,
                 help="number of seeds (splits and anchor draws); default 5, and 3 for openllm_v1")
  p.add_argument("--level", type=float, default=0.9, help="nominal interval coverage")
  p.add_argument("--out", default="accuracy_results.json", help="where to write (append) the raw rows")
  p.add_argument("--report", default=None, help="only print the tables of these results files (comma-separated)")
  p.add_argument("--tail-fraction", type=float, default=None,
                 help="experiment knob: share of train models per side in the tail fold (default "
                      "tinyjax.tiny.calibration.TAIL_FRACTION)")
  p.add_argument("--range-q", type=float, default=None,
                 help="experiment knob: the train range is the (q, 1 - q) quantiles of the train scores (default "
                      "tinyjax.tiny.estimation.RANGE_QUANTILES)")
  p.add_argument("--rules", default="",
                 help="experiment: comma-separated quantiles q; the blend is also evaluated with the exterior rule "
                      "'outside the q..1-q range of the train scores' (no refit)")
  p.add_argument("--strategies", default=",".join(STRATEGIES),
                 help="anchor strategies to run, comma-separated (default: all five)")
  p.add_argument("--raw", action="store_true",
                 help="also store each run's validation residuals and the test models' errors, spreads and "
                      "distances (for re-calibrating intervals without refitting)")
  p.add_argument("--methods", default="mle", help="ability methods for new models, comma-separated (mle,map)")
  p.add_argument("--adaptive", action="store_true",
                 help="run the adaptive-vs-static comparison instead (iid split) and print its table")
  args = p.parse_args(argv)
  if args.report:
    rows = []
    for f in args.report.split(","):
      rows += json.loads(pathlib.Path(f).read_text())
    print(report_adaptive(rows) if rows and "mae_adaptive_pirt" in rows[0] else report(rows))
    return 0
  import jax
  jax.config.update("jax_compilation_cache_dir", os.environ.get("TINYJAX_JAX_CACHE", "/tmp/tinyjax_jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  if not DATA.is_dir():
    print(f"no data at {DATA}", file=sys.stderr)
    return 1
  settings = Settings(raw=args.raw, rules=tuple(float(x) for x in args.rules.split(",")) if args.rules else (),
                      tail_fraction=args.tail_fraction, range_q=args.range_q)
  out = pathlib.Path(args.out)
  rows = json.loads(out.read_text()) if out.exists() else []
  log = lambda s: print(s, flush=True)
  if args.adaptive:
    for name in args.matrices.split(","):
      k = 25 if name.startswith("openllm_v1") else 100
      new = run_adaptive(name, args.seeds or (3 if name.startswith("openllm_v1") else 5), k, log)
      rows = [r for r in rows if r["matrix"] != name] + new
      out.write_text(json.dumps(rows, indent=1))
    print(report_adaptive(rows))
    return 0
  for name in args.matrices.split(","):
    k = 25 if name.startswith("openllm_v1") else 100
    new = run_matrix(name, args.seeds or (3 if name.startswith("openllm_v1") else 5), k, args.level, log,
                     tuple(args.methods.split(",")), tuple(args.strategies.split(",")), settings)
    for r in new:
      r["level"] = args.level
    rows = [r for r in rows if r["matrix"] != name] + new
    out.write_text(json.dumps(rows, indent=1))
  print(report(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
