"""The full-score regression of a suite: features from the kept items of every benchmark, ridge + kernel ridge.

For one benchmark ``b`` the features of a model are its answers on the kept items of every benchmark (missing
answers filled with the joint IRT model's predicted probabilities at the model's ability) and its ability,
standardised. The prediction is a linear ridge regression of the full score on those features (penalty by
leave-one-out error) plus, for ``estimator="krr"``, the mean of :data:`MEMBERS` kernel ridge regressions of its
residuals, each with its own weighting of the benchmark's own items, the other benchmarks' items and the ability.

Speed (issue 25, "Build speed"): on the Open LLM Leaderboard every item kept gives ~700 features and up to
~5,000 train models. The ridge fits come from ONE Gram matrix of the centred features per benchmark (each
member's weighting only rescales it), solved by a symmetric eigendecomposition in float64, instead of one
float32 SVD of the [N, D] matrix per member and kernel width (the SVDs took ~90% of a build's CPU time). A
member's kernel distance is a weighted sum of three per-group distance matrices (own items, other items,
abilities), computed once per benchmark; each (member, width) candidate then costs one Cholesky solve.
Kernel arithmetic is in the working dtype (JAX's default float); the ridge algebra in float64.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax.tiny import estimators as _est
from tinyjax import kernels

# (weight of the other benchmarks' items, weight of the ability) per kernel member; the benchmark's own items
# weigh 1. Measured on the Open LLM Leaderboard v1 suite (docs/notes/suites.md): the mean of the six beats each.
MEMBERS = ((0.0, 0.0), (0.0, 3.0), (0.0, 10.0), (0.3, 0.0), (0.3, 3.0), (0.3, 10.0))
DEFAULT_GAMMAS = (1.5, 4.0, 12.0)   # candidate kernel widths, chosen per benchmark on validation
DEFAULT_LAM = 0.03                   # kernel ridge penalty
ESTIMATORS = ("krr", "ridge")

_group_dist = jax.jit(kernels.grouped_sq_distances)
_fit_grid = jax.jit(kernels.kernel_ridge_fit_grid)
_predict_grid = jax.jit(kernels.kernel_ridge_predict_grid)


def feature_scales(n_feats: int, own: np.ndarray, n_theta: int, member) -> np.ndarray:
  """[D] distance weights of one member: own items 1, other items ``member[0]``, ability dims ``member[1]``."""
  w_other, w_theta = member
  s = np.full(n_feats, float(w_other))
  s[own] = 1.0
  if n_theta:
    s[n_feats - n_theta:] = float(w_theta) * max(own.size, 10) / 100.0   # per ability dim, relative to own items
  return s


def _groups(n_feats: int, own: np.ndarray, n_theta: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The column groups on which every member's weight is constant: own items, other items, ability dims."""
  own = np.asarray(own, np.int64)
  theta = np.arange(n_feats - n_theta, n_feats)
  other = np.setdiff1d(np.arange(n_feats - n_theta), own)
  return own, other, theta


def _group_weights(n_feats: int, own: np.ndarray, n_theta: int, members) -> np.ndarray:
  """[C, 3] each member's per-feature weight in each group over the sum of all its feature weights, so that
  ``sum_g w[c, g] * d_g`` is :func:`tinyjax.kernels.weighted_sq_distances` with ``feature_scales``."""
  groups = _groups(n_feats, own, n_theta)
  out = []
  for m in members:
    s = feature_scales(n_feats, own, n_theta, m)
    out.append([float(s[g[0]]) / s.sum() if g.size else 0.0 for g in groups])
  return np.asarray(out, np.float64)


def _split(Z: np.ndarray, own: np.ndarray, n_theta: int) -> tuple:
  dt = _est.working_dtype()
  return tuple(jnp.asarray(np.ascontiguousarray(Z[:, g], dt)) for g in _groups(Z.shape[1], own, n_theta))


def ridge_fits(Z: np.ndarray, y: np.ndarray, scales, alphas=_est.DEFAULT_RIDGE_ALPHAS) -> list:
  """Ridge regressions of ``y`` [N] on ``Z * sqrt(s)`` for each weighting ``s`` [D] of ``scales``.

  The same fits as :func:`tinyjax.tiny.estimators.fit_score_regression` on each weighted matrix (penalty of least
  exact leave-one-out error among ``alphas``), from one Gram matrix of the centred features: with ``P = Xc
  diag(sqrt s) V`` (V the eigenvectors of the weighted Gram matrix, eigenvalues ``w``), the fitted values are
  ``P diag(1 / (w + a)) P^T y`` and the leverages ``P^2 (1 / (w + a))``, the SVD's closed forms without its
  [N, D] factorisation. float64 throughout.

  Returns:
    [len(scales)] :class:`tinyjax.tiny.estimators.ScoreRegression` in the working dtype.
  """
  dt = _est.working_dtype()
  X = np.asarray(Z, np.float64)
  yv = np.asarray(y, np.float64)
  n = X.shape[0]
  mu, ym = X.mean(axis=0), float(yv.mean())
  Xc, yc = X - mu, yv - ym
  G = Xc.T @ Xc
  b = Xc.T @ yc
  out = []
  for s in scales:
    r = np.sqrt(np.asarray(s, np.float64))
    on = np.flatnonzero(r > 0)      # a feature of weight 0 is a zero column: it changes no fit
    ro = r[on]
    w, V = np.linalg.eigh(G[np.ix_(on, on)] * np.outer(ro, ro))
    w = np.maximum(w, 0.0)
    RV = ro[:, None] * V
    P = Xc[:, on] @ RV              # [N, D_on]: the weighted features in the eigenbasis (U * s of their SVD)
    Py = RV.T @ b[on]               # [D_on] P^T y
    P2 = P * P
    best = None
    for a in alphas:
      d = 1.0 / (w + a)
      fitted = P @ (d * Py)
      lev = P2 @ d + 1.0 / n
      loo = float(kernels.loo_mse(yc, fitted, lev))
      if best is None or loo < best[0]:
        best = (loo, float(a), V @ (d * Py))
    coef = np.zeros(X.shape[1])
    coef[on] = best[2]
    out.append(_est.ScoreRegression(mean=(mu * r).astype(dt), coef=coef.astype(dt), intercept=ym, alpha=best[1]))
  return out


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


@dataclasses.dataclass(frozen=True, eq=False)
class GridFit:
  """Every kernel member at every width, on one train set (:func:`fit_grid`).

  Attributes:
    linear, member_linear: as in :class:`BenchRegression`.
    gammas: [W] the widths. alphas: [W, len(MEMBERS), N] dual coefficients.
  """

  linear: _est.ScoreRegression
  member_linear: tuple
  gammas: np.ndarray
  alphas: np.ndarray


def _linear_parts(Z, y, own, n_theta, with_members: bool):
  scales = [np.ones(Z.shape[1])]
  if with_members:
    scales += [feature_scales(Z.shape[1], own, n_theta, m) for m in MEMBERS]
  fits = ridge_fits(Z, y, scales)
  return fits[0], tuple(fits[1:]), scales[1:]


def _member_residuals(Z, y, member_linear, scales) -> np.ndarray:
  """[len(MEMBERS), N] what each member's kernel part fits: y minus its linear part."""
  dt = _est.working_dtype()
  return np.stack([np.asarray(y, dt) - _est.regression_estimate(Z * np.sqrt(s).astype(dt), lm)
                   for lm, s in zip(member_linear, scales)])


def fit_grid(Z: np.ndarray, y: np.ndarray, own: np.ndarray, n_theta: int, gammas, lam: float = DEFAULT_LAM
             ) -> GridFit:
  """Fits every member of :data:`MEMBERS` at every width of ``gammas`` on features ``Z`` [N, D], scores ``y``
  [N] (no NaN): one Gram matrix for the linear parts, one set of group distances for the kernels."""
  dt = _est.working_dtype()
  Z = np.asarray(Z, dt)
  gammas = np.asarray(gammas, np.float64).reshape(-1)
  lin, mlin, scales = _linear_parts(Z, y, own, n_theta, True)
  resid = _member_residuals(Z, y, mlin, scales)                       # [M, N]
  parts = _split(Z, own, n_theta)
  d = _group_dist(parts, parts)                                       # [3, N, N]
  M, W = len(MEMBERS), gammas.size
  w = np.tile(_group_weights(Z.shape[1], own, n_theta, MEMBERS), (W, 1))
  alphas = _fit_grid(d, jnp.asarray(np.tile(resid, (W, 1)), dt), jnp.asarray(w, dt),
                     jnp.asarray(np.repeat(gammas, M), dt), dt.type(lam))
  return GridFit(lin, mlin, gammas, np.asarray(alphas).reshape(W, M, Z.shape[0]))


def grid_predictions(grid: GridFit, Z_train: np.ndarray, Z: np.ndarray, own: np.ndarray, n_theta: int
                     ) -> np.ndarray:
  """[W, len(MEMBERS), M] each member's prediction at each width for features ``Z`` [M, D]."""
  W, M, _ = grid.alphas.shape
  kern = _kernel_part(Z_train, Z, own, n_theta, grid.alphas.reshape(W * M, -1), list(MEMBERS) * W,
                      np.repeat(grid.gammas, M)).reshape(W, M, -1)
  return kern + _linear_predictions(grid.member_linear, Z, own, n_theta)[None]


def select(grid: GridFit, width_index, rows: np.ndarray) -> BenchRegression:
  """The "krr" regression whose member ``i`` uses width ``grid.gammas[width_index[i]]``."""
  idx = np.asarray(width_index, np.int64)
  return BenchRegression(grid.linear, grid.member_linear, "krr", grid.gammas[idx].copy(), np.asarray(rows),
                         grid.alphas[idx, np.arange(len(MEMBERS))])


def _linear_predictions(member_linear, Z, own, n_theta) -> np.ndarray:
  dt = _est.working_dtype()
  return np.stack([_est.regression_estimate(Z * np.sqrt(feature_scales(Z.shape[1], own, n_theta, m)).astype(dt), lm)
                   for m, lm in zip(MEMBERS, member_linear)])


def _kernel_part(Z_train, Z, own, n_theta, alphas, members, gammas) -> np.ndarray:
  """[C, M] kernel corrections sum_n k_c(z_m, x_n) alpha_cn of C candidates (member, width)."""
  dt = _est.working_dtype()
  xt = _split(np.asarray(Z_train, dt), own, n_theta)
  xz = _split(np.asarray(Z, dt), own, n_theta)
  w = _group_weights(np.asarray(Z).shape[1], own, n_theta, members)
  return np.asarray(_predict_grid(_group_dist(xz, xt), jnp.asarray(alphas, dt), jnp.asarray(w, dt),
                                  jnp.asarray(np.asarray(gammas, np.float64), dt)))


def fit_bench(Z: np.ndarray, y: np.ndarray, own: np.ndarray, n_theta: int, estimator: str, gamma,
              lam: float = DEFAULT_LAM, rows: np.ndarray | None = None) -> BenchRegression:
  """Fits one benchmark's regression on features ``Z`` [N, D] and full scores ``y`` [N] (no NaN).

  ``gamma``: one kernel width for every member, or one per member of :data:`MEMBERS`.
  """
  dt = _est.working_dtype()
  Z = np.asarray(Z, dt)
  gamma = np.broadcast_to(np.asarray(gamma, np.float64), (len(MEMBERS),)).copy()
  rows = np.arange(Z.shape[0]) if rows is None else np.asarray(rows)
  lin, mlin, scales = _linear_parts(Z, y, own, n_theta, estimator != "ridge")
  if estimator == "ridge":
    return BenchRegression(lin, (), estimator, gamma, rows, np.zeros((0, Z.shape[0]), dt))
  resid = _member_residuals(Z, y, mlin, scales)
  parts = _split(Z, own, n_theta)
  w = _group_weights(Z.shape[1], own, n_theta, MEMBERS)
  alphas = _fit_grid(_group_dist(parts, parts), jnp.asarray(resid, dt), jnp.asarray(w, dt),
                     jnp.asarray(gamma, dt), dt.type(lam))
  return BenchRegression(lin, mlin, estimator, gamma, rows, np.asarray(alphas))


def member_predictions(reg: BenchRegression, Z_train: np.ndarray, Z: np.ndarray, own: np.ndarray, n_theta: int
                       ) -> np.ndarray:
  """[len(MEMBERS), M] each kernel member's prediction (its linear part plus its kernel correction); for
  "ridge", [1, M] the ridge regression's."""
  dt = _est.working_dtype()
  Z = np.asarray(Z, dt)
  if reg.estimator == "ridge":
    return _est.regression_estimate(Z, reg.linear)[None, :]
  kern = _kernel_part(Z_train, Z, own, n_theta, reg.alphas, MEMBERS, reg.gamma)
  return _linear_predictions(reg.member_linear, Z, own, n_theta) + kern


def predict_bench(reg: BenchRegression, Z_train: np.ndarray, Z: np.ndarray, own: np.ndarray, n_theta: int
                  ) -> np.ndarray:
  """[M] predictions for features ``Z`` [M, D]; ``Z_train`` [N, D] are the features the regression was fit on."""
  return member_predictions(reg, Z_train, Z, own, n_theta).mean(axis=0)
