"""Data, metrics and peer runners for `bench_irt.py` (issue 2).

Everything a benchmark worker needs lives here so that `bench_irt.py` only orchestrates: it writes the data
to a temporary folder, starts one fresh Python process per measurement (`bench_irt.py --worker JOB.json`), and
reads back one JSON line. A fresh process gives each library its own peak-memory high-water mark
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) and its own cold start (imports, jit compilation).

Parameterisations. tinyjax uses the slope-intercept form P = sigmoid(a . theta - b). The peers use:
- mirt (PyPI `mirt`), girth, catsim: P = sigmoid(a (theta - beta)), so b = a * beta.
- py-irt `multidim_2pl`: logit = sum_k disc_k (ability_k - diff_k), so a = disc and b = sum_k disc_k diff_k.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from typing import Any, Callable

import numpy as np

import _proc  # benchmarks/, beside this file

# --------------------------------------------------------------------------------------------------------
# Synthetic data


def synthetic_irt(n_models: int, n_items: int, dim: int, missing: float, seed: int) -> dict[str, np.ndarray]:
  """A seeded synthetic leaderboard from the slope-intercept 2PL / multidimensional 2PL.

  Abilities theta ~ N(0, I_dim). Each item loads mostly on one skill: its slope on that skill is
  lognormal(0, 0.3) and on the others lognormal(-1.5, 0.5) (dim > 1). Intercepts b ~ N(0, 1.5).

  Args:
    n_models: rows N.
    n_items: columns I.
    dim: latent dimension d.
    missing: fraction of entries set to NaN (missing completely at random).
    seed: seed of the numpy generator.

  Returns:
    dict with "Y" (N, I) float32 in {0, 1, NaN}, "theta" (N, d), "a" (I, d), "b" (I,).
  """
  rng = np.random.default_rng(seed)
  theta = rng.standard_normal((n_models, dim))
  if dim == 1:
    a = rng.lognormal(0.0, 0.3, size=(n_items, 1))
  else:
    a = rng.lognormal(-1.5, 0.5, size=(n_items, dim))
    main = rng.integers(0, dim, size=n_items)
    a[np.arange(n_items), main] = rng.lognormal(0.0, 0.3, size=n_items)
  b = rng.normal(0.0, 1.5, size=n_items)
  logits = theta @ a.T - b
  p = 1.0 / (1.0 + np.exp(-logits))
  y = (rng.random(p.shape) < p).astype(np.float32)
  y[rng.random(y.shape) < missing] = np.nan
  return {"Y": y, "theta": theta, "a": a, "b": b}


def holdout_split(y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Masks a random `frac` of the observed entries as held-out.

  Rows or columns left with no observation keep one of their held-out entries in training, so every
  method sees every model and item.

  Args:
    y: (N, I) responses, NaN = missing.
    frac: fraction of the observed entries to hold out.
    seed: seed of the numpy generator.

  Returns:
    (y_train (N, I) float32 with held-out entries set to NaN, {"rows", "cols", "y"} of the held-out entries).
  """
  rng = np.random.default_rng(seed)
  obs = ~np.isnan(y)
  held = obs & (rng.random(y.shape) < frac)
  for axis in (1, 0):  # give back one entry to any emptied row / column
    empty = ~(obs & ~held).any(axis=axis)
    for k in np.flatnonzero(empty):
      line = held[k] if axis == 1 else held[:, k]
      j = np.flatnonzero(line)[0]
      if axis == 1:
        held[k, j] = False
      else:
        held[j, k] = False
  rows, cols = np.nonzero(held)
  y_train = y.astype(np.float32, copy=True)
  y_train[held] = np.nan
  return y_train, {"rows": rows, "cols": cols, "y": y[rows, cols].astype(np.float64)}


# --------------------------------------------------------------------------------------------------------
# Metrics


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
  """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps]."""
  p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
  y = np.asarray(y, np.float64)
  return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def auc(y: np.ndarray, p: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
  from scipy.stats import rankdata

  y = np.asarray(y) > 0.5
  n_pos, n_neg = int(y.sum()), int((~y).sum())
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  ranks = rankdata(np.asarray(p, np.float64))
  return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def predict_entries(theta: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
  """P(correct) = sigmoid(a_i . theta_j - b_i) for the listed (row, col) entries (slope-intercept form)."""
  theta = np.asarray(theta, np.float64).reshape(theta.shape[0], -1)
  a = np.asarray(a, np.float64).reshape(a.shape[0], -1)
  z = np.einsum("nd,nd->n", theta[rows], a[cols]) - np.asarray(b, np.float64)[cols]
  return 1.0 / (1.0 + np.exp(-z))


def heldout_metrics(theta, a, b, held: dict[str, np.ndarray]) -> dict[str, float]:
  p = predict_entries(theta, a, b, held["rows"], held["cols"])
  return {"logloss": log_loss(held["y"], p), "auc": auc(held["y"], p)}


# --------------------------------------------------------------------------------------------------------
# Measurement helpers (used inside a worker process)


def maxrss_mb() -> float:
  """Peak resident set size of this process so far, in MiB.

  Reads VmHWM from /proc/self/status: unlike `getrusage(...).ru_maxrss`, which Linux carries over from
  the parent across fork + exec, VmHWM belongs to this process image only. Falls back to ru_maxrss.
  """
  peak = _proc.status_mib("VmHWM")
  return peak if not math.isnan(peak) else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s() -> float:
  r = resource.getrusage(resource.RUSAGE_SELF)
  return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
  """Runs fn(); returns (result, wall seconds, CPU seconds of this process, all threads)."""
  c0, t0 = cpu_s(), time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0, cpu_s() - c0


# --------------------------------------------------------------------------------------------------------
# Peer fits. Each returns (theta (N, d), a (I, d), b (I,)) in tinyjax's slope-intercept form, plus extras.


def mirt_fit_2pl(y_train: np.ndarray, max_iter: int = 500, tol: float = 1e-4) -> tuple[tuple, dict]:
  """mirt's marginal-ML EM for the 2PL (its native fast path) + EAP abilities for the training models."""
  import mirt

  res = mirt.fit_mirt(y_train, model="2PL", n_factors=1, estimation="EM", max_iter=max_iter, tol=tol,
                      compute_standard_errors=False)
  return res, {"n_iter": int(res.n_iterations), "converged": bool(res.converged)}


def mirt_params(res) -> tuple[np.ndarray, np.ndarray]:
  """(a (I, 1), b (I,)) in slope-intercept form from a mirt FitResult."""
  disc = np.asarray(res.model.parameters["discrimination"], np.float64).reshape(-1)
  beta = np.asarray(res.model.parameters["difficulty"], np.float64).reshape(-1)
  return disc[:, None], disc * beta


def mirt_scores(res_or_model, y: np.ndarray, method: str = "EAP") -> np.ndarray:
  import mirt

  return np.asarray(mirt.fscores(res_or_model, y, method=method).theta, np.float64).reshape(y.shape[0], -1)


def pyirt_dataset(y_train: np.ndarray):
  """A py-irt Dataset of the observed entries (what `Dataset.from_pandas` builds, without its melt)."""
  from py_irt.dataset import Dataset, OrderedSet

  n, m = y_train.shape
  rows, cols = np.nonzero(~np.isnan(y_train))
  item_ids = [f"q{j}" for j in range(m)]
  subj_ids = [f"s{i}" for i in range(n)]
  return Dataset.model_construct(
    item_ids=OrderedSet(item_ids), subject_ids=OrderedSet(subj_ids),
    item_id_to_ix={k: j for j, k in enumerate(item_ids)}, ix_to_item_id=dict(enumerate(item_ids)),
    subject_id_to_ix={k: i for i, k in enumerate(subj_ids)}, ix_to_subject_id=dict(enumerate(subj_ids)),
    observation_subjects=rows.tolist(), observation_items=cols.tolist(),
    observations=y_train[rows, cols].astype(float).tolist(), training_example=[True] * len(rows),
    anchor_items=None)


def pyirt_fit(dataset, dims: int, epochs: int, lr: float = 0.1, seed: int = 42):
  """py-irt with tinyBenchmarks' settings: multidim_2pl, hierarchical priors, Adam lr 0.1 (decay 0.9999).

  tinyBenchmarks runs `py-irt train 'multidim_2pl' DATA OUT --dims D --lr LR --epochs E --priors
  'hierarchical' --seed 42 --deterministic`; this is the same trainer called in-process.
  """
  import pyro
  import torch
  from py_irt.config import IrtConfig
  from py_irt.training import IrtModelTrainer

  torch.manual_seed(seed)
  pyro.set_rng_seed(seed)
  cfg = IrtConfig(model_type="multidim_2pl", priors="hierarchical", dims=dims, lr=lr, epochs=epochs,
                  seed=seed, log_every=10**9)
  trainer = IrtModelTrainer(data_path=None, config=cfg, dataset=dataset, verbose=False)
  trainer.train(device="cpu")
  return trainer


def pyirt_params(trainer, which: str = "last") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(theta (N, d), a (I, d), b (I,)) in slope-intercept form from a trained py-irt multidim_2pl."""
  params = trainer.last_params if which == "last" else trainer.best_params
  theta = np.asarray(params["ability"], np.float64)
  diff = np.asarray(params["diff"], np.float64)
  disc = np.asarray(params["disc"], np.float64)
  return theta, disc, (disc * diff).sum(axis=1)


# --------------------------------------------------------------------------------------------------------
# Peer ability estimators on complete responses y (n, I) with 1-d items a (I,), b (I,) slope-intercept.


def girth_map(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """girth.ability_map (one bounded scalar search per model, N(0, 1) prior)."""
  import girth

  return np.asarray(girth.ability_map(y.T.astype(int), b / a, a), np.float64)


def catsim_mle(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """catsim NumericalSearchEstimator (bounded search on the log-likelihood, one call per model)."""
  from catsim.estimation import NumericalSearchEstimator
  from catsim.item_bank import ItemBank

  bank = ItemBank(np.column_stack([a, b / a, np.zeros_like(a), np.ones_like(a)]))
  est = NumericalSearchEstimator()
  items = list(range(len(a)))
  return np.array([est.estimate(item_bank=bank, administered_items=items, response_vector=[bool(v) for v in row],
                                est_theta=0.0) for row in y])


def mirt_map(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """mirt.fscores(method="MAP") with the item parameters set on a mirt 2PL model (N(0, 1) prior)."""
  import mirt
  from mirt.models.dichotomous import TwoParameterLogistic

  model = TwoParameterLogistic(n_items=len(a))
  model.set_parameters(discrimination=np.asarray(a, np.float64), difficulty=np.asarray(b / a, np.float64))
  model._is_fitted = True
  return np.asarray(mirt.fscores(model, y, method="MAP").theta, np.float64).reshape(-1)


def scipy_bfgs_mle(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """tinyBenchmarks' `fit_theta`: scipy.optimize.minimize(BFGS) per model on the (eps-guarded) NLL."""
  from scipy.optimize import minimize

  eps = 1e-10
  out = np.empty(y.shape[0])
  for n, row in enumerate(y):
    def nll(x, row=row):
      p = 1.0 / (1.0 + np.exp(-np.clip(a * x[0] - b, -30, 30)))
      return -np.sum(row * np.log(p + eps) + (1 - row) * np.log(1 - p + eps))
    out[n] = minimize(nll, np.zeros(1), method="BFGS").x[0]
  return out


def scipy_map_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray, prior_sd: float = 1.0) -> np.ndarray:
  """MAP with a N(0, prior_sd^2) prior by scipy BFGS with the analytic gradient (a reference, not a peer)."""
  from scipy.optimize import minimize

  out = np.empty(y.shape[0])
  for n, row in enumerate(y):
    obs = ~np.isnan(row)
    r, aa, bb = row[obs], a[obs], b[obs]
    def f(x, r=r, aa=aa, bb=bb):
      z = aa * x[0] - bb
      p = 1.0 / (1.0 + np.exp(-z))
      val = -np.sum(r * z - np.logaddexp(0.0, z)) + 0.5 * x[0] ** 2 / prior_sd**2
      return val, np.array([-np.sum((r - p) * aa) + x[0] / prior_sd**2])
    out[n] = minimize(f, np.zeros(1), jac=True, method="BFGS", options={"gtol": 1e-8}).x[0]
  return out


def emit(result: dict) -> None:
  """Writes the worker's result as one JSON line the parent can find."""
  sys.stdout.write("RESULT " + json.dumps(result) + "\n")
  sys.stdout.flush()


def env_threads() -> dict[str, str]:
  return {k: os.environ.get(k, "") for k in ("OMP_NUM_THREADS", "XLA_FLAGS")}
