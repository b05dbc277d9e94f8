"""Does a tiny benchmark order two models as the full benchmark does? Pairwise agreement against the true gap.

A mean absolute error says how far each estimate is from its model's full score; it does not say whether two
models come out in the right order, which is what a leaderboard is read for. Yauney, Warraich and Swayamdipta
("How Reliable is Language Model Micro-Benchmarking?", ICLR 2026, arXiv:2510.08730) measure a micro-benchmark
by the probability that it orders a pair of models as the full benchmark does, as a function of the pair's
full-benchmark gap. In their code (github.com/dill-lab/micro-benchmarking-reliability) every pair of target
models is one observation: correct when the sign of the estimated difference equals the sign of the true one
(an estimated tie counts as wrong); pairs are grouped by their true gap floored to 0.5 accuracy points, and the
*minimum detectable ability difference* (MDAD) is the first gap bin, from the smallest up, whose share of
correctly ordered pairs reaches a threshold (0.8 in the paper).

:func:`pairwise_agreement` measures the same thing, with three choices of its own, all stated in
:class:`RankingResult`:

- the default level is 0.9 (issue 18 asks for "the smallest gap ranked correctly 90% of the time");
- a tie in the estimates counts as half a correct pair (the expected value of breaking it by a coin), and pairs
  whose true scores are equal are left out (there is no right order);
- the headline :attr:`RankingResult.min_gap` reads the curve after a pair-weighted isotonic (non-decreasing)
  fit over the bins, so one noisy bin of few pairs cannot make it jump, and the answer does not change when a
  larger gap is ranked less well by chance. The raw first crossing, as in the paper, is
  :attr:`RankingResult.min_gap_first`. A cumulative curve (agreement over all pairs at least g apart) was not
  used: it is dominated by the many pairs far apart, so it reaches 0.9 at a gap near zero whenever the models
  are spread out, the very failure of Kendall's tau that the paper points to.

Pure numpy, vectorised over the M (M - 1) / 2 pairs: M = 1,500 models make 1.1 million pairs, a few tens of MB
and well under a second.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tinyjax.errors import ConfigError, ResponseError

__all__ = ("DEFAULT_RESOLUTION", "RankingResult", "pairwise_agreement")

DEFAULT_RESOLUTION = 0.005   # bin width of the true gap when ``gaps`` is None: 0.5 points, as Yauney et al.


@dataclasses.dataclass(frozen=True)
class RankingResult:
  """How often estimates order pairs of models as their true scores do, per bin of the true gap.

  Every score, gap and share is a fraction in [0, 1] (a gap of 0.02 is 2 points).

  Attributes:
    edges: [G + 1] bin edges of the true gap |t_i - t_j|, increasing from 0 (the last one may be ``inf``);
      bin k holds the pairs with ``edges[k] <= gap < edges[k + 1]``.
    agreement: [G] share of the pairs in each bin that the estimates order correctly (NaN for an empty bin).
    n_pairs: [G] int, the pairs in each bin.
    agreement_monotone: [G] the pair-weighted isotonic (non-decreasing in the gap) fit of ``agreement``
      (NaN for an empty bin).
    min_gap: the lower edge of the first bin where ``agreement_monotone`` reaches ``level``: pairs at least
      this far apart are ordered correctly at least ``level`` of the time. NaN when no bin reaches it.
    min_gap_first: the lower edge of the first bin whose own ``agreement`` reaches ``level`` (Yauney et al.'s
      MDAD rule); NaN when none does.
    n_pairs_above: the pairs at least ``min_gap`` apart (0 when ``min_gap`` is NaN).
    overall: share of all pairs (with different true scores) ordered correctly.
    n_total: all such pairs.
    level: the share that defines ``min_gap``.
  """

  edges: np.ndarray
  agreement: np.ndarray
  n_pairs: np.ndarray
  agreement_monotone: np.ndarray
  min_gap: float
  min_gap_first: float
  n_pairs_above: int
  overall: float
  n_total: int
  level: float

  @property
  def n_correct(self) -> np.ndarray:
    """[G] correctly ordered pairs per bin (a tie in the estimates counts half); sums pool several runs."""
    return np.where(self.n_pairs > 0, np.nan_to_num(self.agreement) * self.n_pairs, 0.0)


def _vector(x, name: str) -> np.ndarray:
  try:
    a = np.asarray(x, dtype=float)
  except (TypeError, ValueError) as err:
    raise ResponseError(f"{name} must be a 1-D array of numbers: {err}") from None
  if a.ndim != 1:
    raise ResponseError(f"{name} must be a 1-D array [M] (one score per model), got shape {a.shape}")
  return a


def _edges(gaps, max_gap: float) -> np.ndarray:
  if gaps is None or np.ndim(gaps) == 0:
    width = DEFAULT_RESOLUTION if gaps is None else float(gaps)
    if not np.isfinite(width) or width <= 0:
      raise ConfigError(f"gaps as a bin width must be a positive number, got {gaps!r}")
    n = int(np.floor(max_gap / width)) + 1
    return np.arange(n + 1) * width
  e = np.asarray(gaps, dtype=float)
  if e.ndim != 1 or e.size < 2:
    raise ConfigError(f"gaps must be a bin width or at least 2 increasing bin edges, got {gaps!r}")
  if not np.isfinite(e[:-1]).all() or np.isnan(e[-1]) or e[0] < 0 or np.any(np.diff(e) <= 0):
    raise ConfigError(f"gap bin edges must be >= 0, strictly increasing and finite but for the last, got {gaps!r}")
  return e


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Weighted pool-adjacent-violators: the non-decreasing fit of y [G'] with weights w [G'] (all > 0)."""
  vals, wts, sizes = [], [], []
  for yi, wi in zip(y.tolist(), w.tolist()):
    vals.append(yi)
    wts.append(wi)
    sizes.append(1)
    while len(vals) > 1 and vals[-2] > vals[-1]:
      v2, w2, s2 = vals.pop(), wts.pop(), sizes.pop()
      wts[-1], vals[-1] = wts[-1] + w2, (vals[-1] * wts[-1] + v2 * w2) / (wts[-1] + w2)
      sizes[-1] += s2
  return np.repeat(vals, sizes)


def pairwise_agreement(estimates: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray, *,
                       gaps: float | Sequence[float] | None = None, level: float = 0.9) -> RankingResult:
  """How often ``estimates`` order two models as ``truth`` does, as a function of their true gap.

  Every pair (i, j) of models with ``truth[i] != truth[j]`` counts once: correct (1) when ``estimates[i] -
  estimates[j]`` has the sign of ``truth[i] - truth[j]``, half (0.5) when the estimates are tied, wrong (0)
  otherwise. Pairs are binned by their true gap ``|truth[i] - truth[j]|``; the result gives the share correct
  per bin, its non-decreasing (isotonic) fit, and the smallest gap from which pairs are ordered correctly at
  least ``level`` of the time (see the module docstring for how this follows Yauney et al., ICLR 2026).

  Args:
    estimates: [M] estimated scores of M models, fractions (a tiny benchmark's ``est.score``).
    truth: [M] their full-benchmark scores, fractions in [0, 1].
    gaps: the bins of the true gap: None for 0.5-point bins (width 0.005) up to the largest gap, a number for
      bins of that width, or the bin edges (increasing from 0; the last may be ``inf``; pairs beyond the last
      edge are left out of the bins but not of ``overall``).
    level: the share of correctly ordered pairs that defines ``min_gap``, in (0, 1].

  Returns:
    A :class:`RankingResult` (shares and gaps as fractions in [0, 1]).

  Raises:
    ResponseError: shapes that differ or are not 1-D, fewer than 2 models, a NaN or infinite score (the
      message names the models), true scores outside [0, 1], or no two models with different true scores.
    ConfigError: ``level`` outside (0, 1] or bad ``gaps``.
  """
  est, tru = _vector(estimates, "estimates"), _vector(truth, "truth")
  if est.shape != tru.shape:
    raise ResponseError(f"estimates and truth must have the same shape [M], got {est.shape} and {tru.shape}")
  bad = np.flatnonzero(~(np.isfinite(est) & np.isfinite(tru)))
  if bad.size:
    raise ResponseError(f"{bad.size} model(s) have a NaN or infinite estimate or true score (rows "
                        f"{bad[:10].tolist()}{' ...' if bad.size > 10 else ''}); drop them before ranking")
  if est.size < 2:
    raise ResponseError(f"ranking needs at least 2 models, got {est.size}")
  if tru.min() < 0 or tru.max() > 1:
    raise ResponseError(f"truth must be fractions in [0, 1], got values in [{tru.min():g}, {tru.max():g}] "
                        "(divide percent points by 100)")
  if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) or not 0 < level <= 1:
    raise ConfigError(f"level must be a share in (0, 1], got {level!r}")

  i, j = np.triu_indices(est.size, k=1)              # [P] every pair once, P = M (M - 1) / 2
  dt, de = tru[i] - tru[j], est[i] - est[j]
  keep = dt != 0
  dt, de = dt[keep], de[keep]
  if dt.size == 0:
    raise ResponseError("truth has no two models with different scores: no pair has a right order")
  correct = np.where(de == 0, 0.5, (np.sign(de) == np.sign(dt)).astype(float))   # [P']
  gap = np.abs(dt)

  edges = _edges(gaps, float(gap.max()))
  n_bins = edges.size - 1
  # bin k: edges[k] <= gap < edges[k+1]; the 1e-9 (1e-7 points) keeps a gap of exactly one edge, computed
  # as a difference of two floats (0.7 - 0.69), from falling into the bin below.
  k = np.searchsorted(edges, gap + 1e-9, side="right") - 1
  inside = (k >= 0) & (k < n_bins)
  n_pairs = np.bincount(k[inside], minlength=n_bins).astype(np.int64)
  n_good = np.bincount(k[inside], weights=correct[inside], minlength=n_bins)
  filled = n_pairs > 0
  agreement = np.full(n_bins, np.nan)
  agreement[filled] = n_good[filled] / n_pairs[filled]
  monotone = np.full(n_bins, np.nan)
  if filled.any():
    monotone[filled] = _isotonic(agreement[filled], n_pairs[filled].astype(float))

  def first(curve: np.ndarray) -> int | None:
    hit = np.flatnonzero(filled & (curve >= level))
    return int(hit[0]) if hit.size else None

  k_mono, k_first = first(monotone), first(agreement)
  return RankingResult(
      edges=edges, agreement=agreement, n_pairs=n_pairs, agreement_monotone=monotone,
      min_gap=float(edges[k_mono]) if k_mono is not None else float("nan"),
      min_gap_first=float(edges[k_first]) if k_first is not None else float("nan"),
      n_pairs_above=int(n_pairs[k_mono:].sum()) if k_mono is not None else 0,
      overall=float(correct.mean()), n_total=int(correct.size), level=float(level))
