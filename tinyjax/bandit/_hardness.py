"""How hard a full score matrix makes the search for its best method: offline diagnostics to plan budgets."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_count, check_seed
from tinyjax._dtypes import resolve_dtype
from tinyjax.data import check_matrix
from tinyjax.errors import ConfigError

_verify_jit = jax.jit(jax.vmap(kernels.verification_cells, in_axes=(None, 0)))   # one pass over every z
_split_half_jit = jax.jit(kernels.split_half_correlation, static_argnums=2)


@dataclasses.dataclass(frozen=True)
class Hardness:
  """How hard a full matrix makes the search for its best method (see :func:`hardness`).

  Attributes:
    best: the row with the highest mean. gap: top-two gap in points (100 x mean difference).
    reliability: mean over random splits of the correlation between the methods' means on two halves of the
      examples. reliability_full: its Spearman-Brown step-up to the whole row, ``2 r / (1 + r)``.
    z: [Z] one-sided quantiles per rival.
    cells: [Z] cells an oracle that knows the best needs to confirm it against every rival on shared
      examples (:func:`tinyjax.kernels.verification_cells`, summed over the rows).
    fraction: [Z] ``cells / (M N)``: compare with a budget.
    near: [Z] rivals that need more than half of their row.
  """
  best: int
  gap: float
  reliability: float
  reliability_full: float
  z: np.ndarray
  cells: np.ndarray
  fraction: np.ndarray
  near: np.ndarray

  def plain(self, budget: float) -> str:
    """One sentence for people: what the matrix means for a search at ``budget`` (a fraction of the cells)."""
    j = int(np.argmin(np.abs(self.z - 1.64))) if self.z.size else None
    steady = ("steady" if self.reliability_full >= 0.9 else "fairly steady" if self.reliability_full >= 0.7
              else "unsteady")
    text = (f"the methods' ranking is {steady} across examples (halves of the examples agree at "
            f"{self.reliability_full:.2f} of 1)")
    if j is None:
      return text
    need = float(self.fraction[j])
    verdict = ("this budget should find the best reliably" if need <= 0.5 * budget else
               "this budget is close to what finding the best needs: expect some misses" if need <= budget else
               "this budget is below what finding the best needs: expect the pick to be a near-best method, "
               "not always the best")
    return (f"{text}; even knowing which method is best, confirming it against every rival takes about "
            f"{100 * need:.1f}% of the cells, {need / budget:.1f}x this budget: {verdict}")

  def describe(self, budget: float | None = None) -> str:
    """One line for people: reliability and the oracle's cells (as a multiple of ``budget`` when given)."""
    parts = []
    for z, c, f in zip(self.z, self.cells, self.fraction):
      rel = f"{f / budget:.2f}x the budget" if budget else f"{100 * f:.1f}% of the cells"
      parts.append(f"z={z:g}: {int(c)} ({rel})")
    return (f"split-half reliability {self.reliability:.3f} (whole rows {self.reliability_full:.3f}); cells an "
            f"oracle that knows the best needs to confirm it against every rival: " + ", ".join(parts))


def hardness(scores, z: float | Sequence[float] = (1.28, 1.64, 2.33), *, n_splits: int = 200, seed: int = 0,
             dtype=None) -> Hardness:
  """Diagnoses how many cells a full matrix needs before its best method can be told from the rest.

  Two figures, both from the full matrix, so for planning budgets offline:

  - split-half reliability: how much the methods' means on half of the examples agree with the other half.
    Near 1 when methods differ much more than the sampling noise of the examples; low when the ranking, and
    so the best method, depends on which examples were drawn.
  - the cells an oracle that knows the best method needs to confirm it, comparing it with every rival on
    shared examples until their paired difference is ``z`` standard errors above zero (finite-population
    correction included). Not a bound that holds for every algorithm, but an algorithm that must also find
    the best rarely does with fewer: a ``fraction`` close to or above a budget says that no algorithm should
    be expected to find the best reliably at that budget.

  Args:
    scores: [n_methods, n_examples] full matrix of scores in [0, 1], no NaN, at least 2 x 2.
    z: one or more positive quantiles.
    n_splits: random splits for the reliability.
    seed: seed of the splits.
    dtype: None (JAX's default float) or "float64".

  Returns:
    Hardness.
  """
  arr = check_matrix(scores, name="scores", allow_nan=False, min_rows=2, min_cols=2)
  zs = np.atleast_1d(np.asarray(z, float))
  if zs.ndim != 1 or zs.size == 0 or not np.all(np.isfinite(zs)) or np.any(zs <= 0):
    raise ConfigError(f"z must be one or more positive finite quantiles, got {z!r}")
  n_splits = check_count(n_splits, "n_splits")
  seed = check_seed(seed)
  dt = resolve_dtype(dtype)
  x = jnp.asarray(arr, dt)
  best, cells = _verify_jit(x, jnp.asarray(zs, dt))          # [Z] (all equal), [Z, M]
  best, cells = int(np.asarray(best)[0]), np.asarray(cells)
  corr = np.asarray(_split_half_jit(jax.random.key(seed), x, n_splits))
  r = float(np.nanmean(corr)) if np.any(np.isfinite(corr)) else float("nan")
  means = arr.mean(1)
  order = np.argsort(-means, kind="stable")
  rivals = np.arange(arr.shape[0]) != best
  return Hardness(best=best, gap=float(100 * (means[order[0]] - means[order[1]])), reliability=r,
                  reliability_full=2 * r / (1 + r) if r > -1 else float("nan"), z=zs,
                  cells=cells.sum(1).astype(int), fraction=cells.sum(1) / arr.size,
                  near=np.sum(cells[:, rivals] > arr.shape[1] / 2, axis=1).astype(int))
