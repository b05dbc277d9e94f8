"""The full-score regression of a suite: features from the kept items of every benchmark, ridge + kernel ridge.

For one benchmark ``b`` the features of a model are its answers on the kept items of every benchmark (missing
answers filled with the joint IRT model's predicted probabilities at the model's ability) and its ability,
standardised. The prediction is a linear ridge regression of the full score on those features (penalty by
leave-one-out error) plus, for ``estimator="krr"``, the mean of :data:`MEMBERS` kernel ridge regressions of its
residuals, each with its own weighting of the benchmark's own items, the other benchmarks' items and the ability.
All arithmetic in the working dtype (JAX's default float).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import estimators as _est
from tinyjax import kernels

# (weight of the other benchmarks' items, weight of the ability) per kernel member; the benchmark's own items
# weigh 1. Measured on the Open LLM Leaderboard v1 suite (docs/notes/suites.md): the mean of the six beats each.
MEMBERS = ((0.0, 0.0), (0.0, 3.0), (0.0, 10.0), (0.3, 0.0), (0.3, 3.0), (0.3, 10.0))
DEFAULT_GAMMAS = (1.5, 4.0, 12.0)   # candidate kernel widths, chosen per benchmark on validation
DEFAULT_LAM = 0.03                   # kernel ridge penalty
ESTIMATORS = ("krr", "ridge")

_fit = jax.jit(kernels.kernel_ridge_fit)
_predict = jax.jit(kernels.kernel_ridge_predict)


def feature_scales(n_feats: int, own: np.ndarray, n_theta: int, member) -> np.ndarray:
  """[D] distance weights of one member: own items 1, other items ``member[0]``, ability dims ``member[1]``."""
  w_other, w_theta = member
  s = np.full(n_feats, float(w_other))
  s[own] = 1.0
  if n_theta:
    s[n_feats - n_theta:] = float(w_theta) * max(own.size, 10) / 100.0   # per ability dim, relative to own items
  return s


@dataclasses.dataclass(frozen=True, eq=False)
class BenchRegression:
  """One benchmark's fitted regression.

  Attributes:
    linear: the ridge regression on all features (the "ridge" estimator).
    member_linear: per kernel member, the ridge regression on the features weighted by ``sqrt(scale)`` (its
      linear part; the kernel corrects its residuals).
    estimator: "krr" or "ridge".
    gamma: [len(MEMBERS)] the kernel width of each member (for "krr").
    rows: [N_b] the train rows (models with this benchmark's full score).
    alphas: [len(MEMBERS), N_b] dual coefficients of the kernel members (empty for "ridge").
  """

  linear: _est.ScoreRegression
  member_linear: tuple
  estimator: str
  gamma: np.ndarray
  rows: np.ndarray
  alphas: np.ndarray


def fit_bench(Z: np.ndarray, y: np.ndarray, own: np.ndarray, n_theta: int, estimator: str, gamma,
              lam: float = DEFAULT_LAM, rows: np.ndarray | None = None) -> BenchRegression:
  """Fits one benchmark's regression on features ``Z`` [N, D] and full scores ``y`` [N] (no NaN).

  ``gamma``: one kernel width for every member, or one per member of :data:`MEMBERS`.
  """
  dt = _est.working_dtype()
  Z = np.asarray(Z, dt)
  gamma = np.broadcast_to(np.asarray(gamma, np.float64), (len(MEMBERS),)).copy()
  lin = _est.fit_score_regression(Z, y)
  rows = np.arange(Z.shape[0]) if rows is None else np.asarray(rows)
  if estimator == "ridge":
    return BenchRegression(lin, (), estimator, gamma, rows, np.zeros((0, Z.shape[0]), dt))
  x = jnp.asarray(Z)
  y = np.asarray(y, dt)
  member_lin, alphas = [], []
  for m, g in zip(MEMBERS, gamma):
    scale = feature_scales(Z.shape[1], own, n_theta, m)
    lm = _est.fit_score_regression(Z * np.sqrt(scale).astype(dt), y)
    resid = jnp.asarray(y - _est.regression_estimate(Z * np.sqrt(scale).astype(dt), lm))
    member_lin.append(lm)
    alphas.append(np.asarray(_fit(x, resid, jnp.asarray(scale, dt), dt.type(g), dt.type(lam)).alpha))
  return BenchRegression(lin, tuple(member_lin), estimator, gamma, rows, np.stack(alphas))


def member_predictions(reg: BenchRegression, Z_train: np.ndarray, Z: np.ndarray, own: np.ndarray, n_theta: int
                       ) -> np.ndarray:
  """[len(MEMBERS), M] each kernel member's prediction (its linear part plus its kernel correction); for
  "ridge", [1, M] the ridge regression's."""
  dt = _est.working_dtype()
  Z = np.asarray(Z, dt)
  if reg.estimator == "ridge":
    return _est.regression_estimate(Z, reg.linear)[None, :]
  x, z = jnp.asarray(np.asarray(Z_train, dt)), jnp.asarray(Z)
  out = []
  for m, a, g, lm in zip(MEMBERS, reg.alphas, reg.gamma, reg.member_linear):
    scale = feature_scales(Z.shape[1], own, n_theta, m)
    lin = _est.regression_estimate(Z * np.sqrt(scale).astype(dt), lm)
    out.append(lin + np.asarray(_predict(kernels.KernelRidge(x, jnp.asarray(a), jnp.asarray(scale, dt),
                                                             dt.type(g)), z)))
  return np.stack(out)


def predict_bench(reg: BenchRegression, Z_train: np.ndarray, Z: np.ndarray, own: np.ndarray, n_theta: int
                  ) -> np.ndarray:
  """[M] predictions for features ``Z`` [M, D]; ``Z_train`` [N, D] are the features the regression was fit on."""
  return member_predictions(reg, Z_train, Z, own, n_theta).mean(axis=0)
