"""The figures of docs/forecasting.md, each from the library in one command (float64, x64 on at start).

  python benchmarks/forecast_figures.py chinchilla|gadre|coverage|all [--out docs/img]

Writes ``forecast_<name>.png``. Data: ../shared/data/scaling and ../shared/data/sampling.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax

jax.config.update("jax_enable_x64", True)   # the documented fits are float64: a program opts in at its start

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import tinyjax as tj  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
GADRE_LOSS_RUNS = [f"rpj-{m}-1.0" for m in ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")]
GADRE_LOSS_RUNS.append("rpj-d=96_l=8_h=4-16.0")
GADRE_ERROR_RUNS = GADRE_LOSS_RUNS + ["rpj-open_lm_1b-1.0"]


def chinchilla(out: pathlib.Path) -> None:
  """Observed vs predicted loss of the Besiroglu et al. refit, and the end points of its 4,500 starts."""
  df = pd.read_csv(DATA / "scaling" / "chinchilla_epoch_245.csv")
  n = df["Model Size"].to_numpy(float)
  d = df["Training FLOP"].to_numpy(float) / (6 * n)
  loss = df["loss"].to_numpy(float)
  keep = np.sort(np.argsort(loss)[:-5])                 # the 5 highest losses dropped, as they did
  n, d, loss = n[keep], d[keep], loss[keep]
  fit = tj.scaling.fit_chinchilla(n, d, loss)
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
  fit.plot(n, d, loss, ax=ax1)
  ends = np.sort(fit.start_objectives[fit.start_objectives < 1e3])
  ax2.plot(np.arange(1, ends.size + 1), ends)
  ax2.axhline(1.018e-3, color="r", ls="--", lw=1, label="Besiroglu et al. 1.018e-3")
  ax2.set_xscale("log")
  ax2.set_yscale("log")
  ax2.set_xlabel("start rank")
  ax2.set_ylabel("Huber objective at the end point")
  ax2.set_title(f"{fit.n_starts:,} L-BFGS starts, sorted (values < 1e3)", fontsize=9)
  ax2.legend(fontsize=7)
  _save(fig, out / "forecast_chinchilla.png")


def gadre(out: pathlib.Path) -> None:
  """The over-trained loss law fitted on 5 RedPajama runs with all 35 shown, and the loss -> error law."""
  df = pd.read_csv(DATA / "scaling" / "gadre2024_104_models.csv").set_index("name")
  rpj = df[df.index.str.startswith("rpj")]
  fit_rows, err_rows = df.loc[GADRE_LOSS_RUNS], df.loc[GADRE_ERROR_RUNS]
  loss_fit = tj.scaling.fit_overtrained(fit_rows.flops_6ND.astype(float), fit_rows.token_mult_M, fit_rows.loss_c4_val)
  err_fit = tj.scaling.fit_loss_to_error(err_rows.loss_c4_val, err_rows.err_avg17)
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
  loss_fit.plot(rpj.flops_6ND.astype(float), rpj.token_mult_M, rpj.loss_c4_val, ax=ax1)
  ax1.scatter(fit_rows.flops_6ND.astype(float), fit_rows.loss_c4_val, s=40, facecolors="none", edgecolors="k",
              label="fitted on")
  ax1.set_title(f"RedPajama, C4 eval loss: fit on {len(fit_rows)} runs, all {len(rpj)} shown", fontsize=9)
  err_fit.plot(rpj.loss_c4_val.to_numpy(float), rpj.err_avg17.to_numpy(float), ax=ax2)
  ax2.set_title("17-task average top-1 error vs loss", fontsize=9)
  _save(fig, out / "forecast_gadre.png")


def coverage(out: pathlib.Path) -> None:
  """Unbiased pass@k on the 40-point log grid and the fitted coverage law, per Pythia model."""
  df = pd.read_csv(DATA / "sampling" / "monkeys_pythia_math_counts.csv")
  fig, ax = plt.subplots(figsize=(6.6, 4.95))
  size = lambda name: float(name.split()[-1][:-1]) * {"M": 1e6, "B": 1e9}[name[-1]]
  for i, name in enumerate(sorted(df.Model.unique(), key=size)):
    rows = df[df.Model == name]
    n, c = rows.n.to_numpy(np.int64), rows.c.to_numpy(np.int64)
    k = tj.sampling.log_spaced_k(int(n.min()), 40)
    cov = tj.sampling.pass_at_k(n, c, k)
    fit = tj.sampling.fit_coverage(k, cov)
    color = f"C{i}"
    ax.scatter(k, cov, s=12, color=color)
    grid = np.geomspace(1, k.max(), 200)
    ax.plot(grid, fit.predict(grid), color=color, lw=1.2, label=f"{name}: a={fit.a:.2f}, b={fit.b:.3f}")
  ax.set_xscale("log")
  ax.set_xlabel("samples k")
  ax.set_ylabel("coverage (unbiased pass@k)")
  ax.set_title("MATH, Pythia (Large Language Monkeys counts)", fontsize=9)
  ax.legend(fontsize=7)
  _save(fig, out / "forecast_coverage.png")


def _save(fig, path: pathlib.Path) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  print(f"wrote {path}")


FIGURES = {"chinchilla": chinchilla, "gadre": gadre, "coverage": coverage}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("name", choices=[*FIGURES, "all"])
  ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1] / "docs" / "img"))
  args = ap.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  for name in FIGURES if args.name == "all" else [args.name]:
    FIGURES[name](out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
