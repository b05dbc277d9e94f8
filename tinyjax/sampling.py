"""Repeated sampling: unbiased pass@k, the coverage law, sample-compute allocation, early stopping.

* :func:`pass_at_k` -- the unbiased estimator of Chen et al. 2021, mean over problems of
  ``1 - C(n-c, k) / C(n, k)``, by the product form (no overflow for n = 10,000).
* :func:`fit_coverage` -- ``coverage(k) = exp(a k^b)`` (Brown et al. 2024, "Large Language Monkeys"),
  least squares on ``log coverage`` over log-spaced ``k``.
* :func:`allocate` -- OSCA ("Scaling LLM Inference with Optimized Sample Compute Allocation", Zhang et
  al. 2024): how many samples to draw from each sampling configuration so that the expected coverage
  ``mean_i 1 - prod_j (1 - p_ij)^n_j`` is largest within a budget; greedy start + hill climbing.
* :func:`early_stop_best_of_n`, :func:`adaptive_consistency` -- confidence-based early stopping
  (Huang et al. 2025, "Efficient Test-Time Scaling via Self-Calibration"), vectorised over queries.

Precision: every function takes ``dtype=None`` (JAX's default float: float32, or float64 under
``jax_enable_x64``). The documented figures are float64: turn on x64 at program start
(``jax.config.update("jax_enable_x64", True)``) or wrap the calls in ``with jax.enable_x64(True):``; asking
for ``dtype="float64"`` without it raises :class:`tinyjax.errors.PrecisionError`. The ``tinyjax coverage``
command line turns x64 on itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_choice, check_count
from tinyjax._dtypes import resolve_dtype
from tinyjax.errors import ConfigError, InputError, MissingFileError

__all__ = (
    "Allocation",
    "CoverageFit",
    "EarlyStop",
    "OSCAData",
    "adaptive_consistency",
    "allocate",
    "best_single_configuration",
    "compare_allocation",
    "early_stop_best_of_n",
    "expected_coverage",
    "fit_coverage",
    "log_spaced_k",
    "pass_at_k",
    "pass_at_k_per_problem",
    "read_osca",
)

PASS_AT_K_ALGORITHMS = ("auto", "product", "gammaln")
_CHUNK = 256
_PRODUCT_BUDGET = 3e8   # P * K * terms above which "auto" switches to the log-gamma form


# --------------------------------------------------------------------------------------------------
# pass@k
# --------------------------------------------------------------------------------------------------


def _as_int_vector(name: str, x: Any) -> np.ndarray:
  arr = np.asarray(x)
  if arr.ndim == 0:
    arr = arr[None]
  if arr.ndim != 1 or arr.size == 0:
    raise InputError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
  if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
    raise InputError(f"{name} must hold integers, got dtype {arr.dtype}")
  if not np.issubdtype(arr.dtype, np.integer):
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
      raise InputError(f"{name} must hold integers (finite, no fractions)")
  return arr.astype(np.int64)


def _check_pass_inputs(n, c, k) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
  scalar_k = np.ndim(k) == 0
  n, c, k = _as_int_vector("n", n), _as_int_vector("c", c), _as_int_vector("k", k)
  if n.shape != c.shape:
    if n.size == 1:
      n = np.broadcast_to(n, c.shape).copy()
    else:
      raise InputError(f"n and c must have the same shape, got {n.shape} and {c.shape}")
  if np.any(n < 1):
    raise InputError("n must be >= 1 for every problem")
  if np.any(c < 0) or np.any(c > n):
    raise InputError("c must satisfy 0 <= c <= n for every problem")
  if np.any(k < 1):
    raise InputError(f"k must be >= 1, got min {k.min()}")
  if np.any(k > n.min()):
    raise InputError(f"k must not exceed n for any problem (max k {k.max()}, min n {n.min()})")
  return n, c, k, scalar_k


def _pass_matrix(n: np.ndarray, c: np.ndarray, k: np.ndarray, algorithm: str, dtype) -> np.ndarray:
  check_choice(algorithm, PASS_AT_K_ALGORITHMS, "algorithm")
  dt = resolve_dtype(dtype)
  terms = int(min(c.max(), k.max()))
  if algorithm == "auto":
    algorithm = "product" if n.size * k.size * max(terms, 1) <= _PRODUCT_BUDGET else "gammaln"
  nj, cj, kj = (jnp.asarray(x, dt) for x in (n, c, k))
  if algorithm == "product":
    n_terms = max(_CHUNK, -(-terms // _CHUNK) * _CHUNK)     # round up: fewer distinct compiles
    out = _pass_product(nj, cj, kj, n_terms)
  else:
    out = _pass_gammaln(nj, cj, kj)
  return np.asarray(out)


_pass_product = jax.jit(kernels.pass_at_k_per_problem, static_argnums=3)
_pass_gammaln = jax.jit(kernels.pass_at_k_gammaln)


def pass_at_k_per_problem(n, c, k, *, algorithm: str = "auto", dtype=None) -> np.ndarray:
  """Unbiased pass@k of every problem.

  Args:
    n: ``[P]`` samples drawn per problem (or a scalar shared by all). c: ``[P]`` correct samples.
    k: int or ``[K]`` ints, ``1 <= k <= min(n)``.
    algorithm: "product" (exact up to rounding: ``min(c, k)`` factors ``1 - max(c,k)/(n-j)`` summed in
      log space), "gammaln" (log-gamma differences; absolute error about 1e-11 at n = 10,000 in float64,
      O(1) per entry), or "auto" (product unless P*K*min(c,k) exceeds 3e8).
    dtype: float dtype of the computation (None: JAX's default float; "float64" needs x64 on).

  Returns:
    ``[P, K]`` array of ``dtype`` (``[P]`` when ``k`` is a scalar).
  """
  n, c, k, scalar_k = _check_pass_inputs(n, c, k)
  out = _pass_matrix(n, c, k, algorithm, dtype)
  return out[:, 0] if scalar_k else out


def pass_at_k(n, c, k, *, algorithm: str = "auto", dtype=None):
  """Mean unbiased pass@k over problems, ``mean_i 1 - C(n_i - c_i, k) / C(n_i, k)``.

  Args:
    n: ``[P]`` ints (samples per problem; a scalar is broadcast). c: ``[P]`` ints (correct ones).
    k: int or ``[K]`` ints.
    algorithm, dtype: see :func:`pass_at_k_per_problem`.

  Returns:
    A float when ``k`` is a scalar, else a ``[K]`` array.
  """
  n, c, k, scalar_k = _check_pass_inputs(n, c, k)
  mean = _pass_matrix(n, c, k, algorithm, dtype).mean(axis=0)
  return float(mean[0]) if scalar_k else mean


def log_spaced_k(max_k: int, n_points: int = 40) -> np.ndarray:
  """Distinct integers ``floor(geomspace(1, max_k, n_points))`` (the grid used for coverage fits)."""
  max_k = check_count(int(max_k), "max_k")
  n_points = check_count(int(n_points), "n_points", minimum=2)
  return np.unique(np.geomspace(1, max_k, n_points).astype(np.int64))


# --------------------------------------------------------------------------------------------------
# Coverage law
# --------------------------------------------------------------------------------------------------


def _coverage_one(p0, k, y, max_steps):
  return kernels.fit_curve(kernels.coverage_log, p0, (k,), y, max_steps)


_coverage_multistart = jax.jit(jax.vmap(_coverage_one, in_axes=(0, None, None, None)), static_argnums=3)


@dataclasses.dataclass(frozen=True)
class CoverageFit:
  """``coverage(k) = exp(a k^b)``; ``objective`` is the sum of squared log-coverage residuals."""
  a: float
  b: float
  objective: float

  def predict(self, k) -> np.ndarray:
    return np.exp(self.a * np.asarray(k, np.float64) ** self.b)

  def samples_for(self, coverage) -> np.ndarray:
    """Smallest real ``k`` with predicted coverage ``>= coverage`` (inf if the law never reaches it)."""
    target = np.log(np.asarray(coverage, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
      k = (target / self.a) ** (1.0 / self.b)
    return np.where(np.isfinite(k), k, np.inf)

  def plot(self, k, coverage, ax=None, extrapolate_to: float | None = None):
    if ax is None:
      import matplotlib.pyplot as plt
      _, ax = plt.subplots(figsize=(5, 4))
    k = np.asarray(k, np.float64)
    ax.scatter(k, coverage, s=14, label="unbiased pass@k")
    grid = np.geomspace(1, extrapolate_to or k.max(), 200)
    ax.plot(grid, self.predict(grid), "k-", lw=1, label=f"exp({self.a:.3f} k^{self.b:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("samples k")
    ax.set_ylabel("coverage")
    ax.legend(fontsize=8)
    return ax


def fit_coverage(k, coverage, *, starts=None, max_steps: int = 200, dtype=None) -> CoverageFit:
  """Fits ``coverage(k) = exp(a k^b)`` by least squares on ``log coverage = a k^b``.

  Brown et al. fit the law on log-spaced ``k``; pass ``k = log_spaced_k(n)`` and the matching
  :func:`pass_at_k` values. Levenberg-Marquardt from a 16-point start grid, in ``dtype`` (the documented
  fits are float64: turn x64 on first).

  Args:
    k: ``[K]`` sample counts (positive). coverage: ``[K]`` coverages in (0, 1].
    starts: ``[S, 2]`` starts (a, b); default a in {-0.5, -2, -5, -10}, b in {-0.1, -0.3, -0.6, -1}.
    max_steps: LM iteration cap.
    dtype: float dtype of the fit (None: JAX's default float; "float64" needs x64 on).

  Returns:
    A :class:`CoverageFit`.
  """
  k_arr = np.asarray(k, np.float64).ravel()
  cov = np.asarray(coverage, np.float64).ravel()
  if k_arr.shape != cov.shape:
    raise InputError(f"k and coverage must have the same length, got {k_arr.shape} and {cov.shape}")
  if k_arr.size < 2:
    raise InputError("need at least 2 points to fit the coverage law")
  if not (np.all(np.isfinite(k_arr)) and np.all(np.isfinite(cov))):
    raise InputError("k and coverage must be finite")
  if np.any(k_arr <= 0):
    raise InputError("k must be positive")
  if np.any(cov <= 0) or np.any(cov > 1):
    raise InputError("coverage must lie in (0, 1] (log coverage is fitted)")
  if starts is None:
    starts = np.array([[a, b] for a in (-0.5, -2.0, -5.0, -10.0) for b in (-0.1, -0.3, -0.6, -1.0)])
  starts = np.asarray(starts, np.float64)
  if starts.ndim != 2 or starts.shape[1] != 2:
    raise ConfigError(f"starts must be [S, 2], got {starts.shape}")
  dt = resolve_dtype(dtype)
  params, info = _coverage_multistart(jnp.asarray(starts, dt), jnp.asarray(k_arr, dt),
                                      jnp.asarray(np.log(cov), dt), check_count(int(max_steps), "max_steps"))
  params, values = np.asarray(params, np.float64), np.asarray(info.value, np.float64)
  values = np.where(np.isfinite(values), values, np.inf)
  i = int(np.argmin(values))
  if not np.isfinite(values[i]):
    raise InputError("every start of the coverage fit diverged; check the data or pass other starts")
  return CoverageFit(a=float(params[i, 0]), b=float(params[i, 1]), objective=float(2 * values[i]))


# --------------------------------------------------------------------------------------------------
# Sample-compute allocation (OSCA)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OSCAData:
  """Per-problem success counts of several sampling configurations (the OSCA file layout).

  Attributes:
    names: ``[J]`` configuration names. runs: ``[J]`` samples drawn per problem.
    train: ``[P_train, J]`` success counts. test: ``[P_test, J]`` success counts.
  """
  names: tuple[str, ...]
  runs: np.ndarray
  train: np.ndarray
  test: np.ndarray

  def rates(self, split: str = "train") -> np.ndarray:
    """``[P, J]`` success rates (successes / runs) of the "train" or "test" problems."""
    counts = self.train if check_choice(split, ("train", "test"), "split") == "train" else self.test
    return counts / self.runs[None, :]


def read_osca(path: str | os.PathLike) -> OSCAData:
  """Reads an OSCA json file (keys ``settings``, ``train``, ``test``; see the data README)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise MissingFileError(f"no OSCA file at {path}")
  with open(path) as f:
    raw = json.load(f)
  for key in ("settings", "train", "test"):
    if key not in raw:
      raise InputError(f"{path}: missing key {key!r}")
  names = tuple(s["name"] for s in raw["settings"])
  runs = np.array([s["runs"] for s in raw["settings"]], dtype=np.int64)

  def matrix(split):
    cols = [np.asarray(raw[split][str(j)], dtype=np.int64) for j in range(len(names))]
    if len({c.shape for c in cols}) != 1:
      raise InputError(f"{path}: settings have different numbers of {split} problems")
    m = np.stack(cols, axis=1)
    if np.any(m < 0) or np.any(m > runs[None, :]):
      raise InputError(f"{path}: success counts outside [0, runs] in {split}")
    return m

  return OSCAData(names, runs, matrix("train"), matrix("test"))


def _check_rates(p: Any) -> np.ndarray:
  p = np.asarray(p, np.float64)
  if p.ndim != 2 or 0 in p.shape:
    raise InputError(f"success rates must be [problems, configurations], got shape {p.shape}")
  if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
    raise InputError("success rates must be finite and in [0, 1]")
  return p


def _check_costs(costs: Any, num: int) -> np.ndarray:
  if costs is None:
    return np.ones(num)
  costs = np.asarray(costs, np.float64).ravel()
  if costs.shape != (num,):
    raise InputError(f"costs must have one entry per configuration ({num}), got shape {costs.shape}")
  if not np.all(np.isfinite(costs)) or np.any(costs <= 0):
    raise InputError("costs must be positive and finite")
  return costs


@dataclasses.dataclass(frozen=True)
class Allocation:
  """Samples per configuration and their expected coverage."""
  counts: np.ndarray       # [J] int
  coverage: float
  greedy_coverage: float
  spend: float
  budget: float


_allocate_jit = jax.jit(kernels.allocate_samples, static_argnums=(3, 4))
_coverage_jit = jax.jit(kernels.allocation_coverage)


def expected_coverage(rates, counts, *, dtype=None) -> float:
  """``mean_i 1 - prod_j (1 - p_ij)^n_j`` for ``rates [P, J]`` and integer ``counts [J]``, in ``dtype``."""
  p = _check_rates(rates)
  n = np.asarray(counts)
  if n.shape != (p.shape[1],) or np.any(n < 0) or np.any(n != np.round(n)):
    raise ConfigError(f"counts must be {p.shape[1]} non-negative integers")
  dt = resolve_dtype(dtype)
  return float(_coverage_jit(jnp.asarray(n, jnp.int32), _log_q(p, dt)))


_log_q_jit = jax.jit(kernels.log_fail)


def _log_q(p: np.ndarray, dt) -> jax.Array:
  """``log(1 - p)`` in ``dt`` (the form both coverage kernels take)."""
  return _log_q_jit(jnp.asarray(p, dt))


def allocate(rates, budget: float, *, costs=None, max_climb_steps: int = 10_000, dtype=None) -> Allocation:
  """OSCA allocation: integer samples per configuration maximising expected coverage within budget.

  Args:
    rates: ``[P, J]`` per-problem success probabilities of each configuration (e.g. successes / runs
      on a training split).
    budget: total budget, in units of ``costs`` (samples when ``costs`` is None).
    costs: ``[J]`` cost of one sample of each configuration; default 1.
    max_climb_steps: cap on hill-climbing moves.
    dtype: float dtype of the coverage computations (None: JAX's default float).

  Returns:
    An :class:`Allocation` (greedy start, then hill climbing over one-sample moves and additions).
  """
  p = _check_rates(rates)
  costs = _check_costs(costs, p.shape[1])
  if not np.isfinite(budget) or budget < costs.min():
    raise InputError(f"budget must be at least the cheapest sample cost {costs.min()}, got {budget}")
  max_greedy = int(np.floor(budget / costs.min())) + 1
  # Round the static step cap up to a power of two so that nearby budgets share one compilation.
  max_greedy = max(64, 1 << (max_greedy - 1).bit_length())
  dt = resolve_dtype(dtype)
  counts, info = _allocate_jit(_log_q(p, dt), jnp.asarray(costs, dt), jnp.asarray(float(budget), dt),
                               max_greedy, check_count(int(max_climb_steps), "max_climb_steps", minimum=0))
  counts = np.asarray(counts, np.int64)
  return Allocation(counts, float(info.coverage), float(info.greedy_coverage), float(info.spend), float(budget))


def best_single_configuration(rates, budget: float, *, costs=None, dtype=None) -> Allocation:
  """The best allocation that spends the whole budget on ONE configuration (``floor(budget/cost_j)``)."""
  p = _check_rates(rates)
  costs = _check_costs(costs, p.shape[1])
  best = None
  for j in range(p.shape[1]):
    n = np.zeros(p.shape[1], np.int64)
    n[j] = int(np.floor(budget / costs[j] + 1e-9))
    cov = expected_coverage(p, n, dtype=dtype)
    if best is None or cov > best.coverage:
      best = Allocation(n, cov, cov, float(n @ costs), float(budget))
  return best


def compare_allocation(data: OSCAData, budgets: Sequence[float], *, costs=None,
                       fit_split: str = "train", eval_split: str = "test", dtype=None) -> list[dict[str, float]]:
  """OSCA against the best single configuration, both chosen on ``fit_split`` and scored on ``eval_split``.

  For each budget: the OSCA coverage, the best single configuration's coverage at the same budget,
  and the compute saving at equal coverage, i.e. ``budget / b*`` where ``b*`` is the smallest budget at
  which OSCA (fitted on ``fit_split``) matches the single configuration's ``eval_split`` coverage.

  Returns:
    One dict per budget with keys budget, osca, single, single_name, osca_budget_to_match, saving.
  """
  fit_p, eval_p = data.rates(fit_split), data.rates(eval_split)
  costs = _check_costs(costs, len(data.names))
  rows = []
  for budget in budgets:
    alloc = allocate(fit_p, budget, costs=costs, dtype=dtype)
    single = best_single_configuration(fit_p, budget, costs=costs, dtype=dtype)
    osca_cov = expected_coverage(eval_p, alloc.counts, dtype=dtype)
    single_cov = expected_coverage(eval_p, single.counts, dtype=dtype)
    # smallest OSCA budget reaching single_cov (budgets step by the cheapest cost)
    step = costs.min()
    b, match = step, None
    while b <= budget + 1e-9:
      if expected_coverage(eval_p, allocate(fit_p, b, costs=costs, dtype=dtype).counts, dtype=dtype) >= single_cov - 1e-12:
        match = b
        break
      b += step
    rows.append({
        "budget": float(budget), "osca": osca_cov, "single": single_cov,
        "single_name": data.names[int(np.argmax(single.counts))],
        "osca_counts": {data.names[j]: int(c) for j, c in enumerate(alloc.counts) if c},
        "osca_budget_to_match": float(match) if match is not None else float("nan"),
        "saving": float(budget / match) if match is not None else float("nan"),
    })
  return rows


# --------------------------------------------------------------------------------------------------
# Confidence-based early stopping (Self-Calibration)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EarlyStop:
  """Per-query result of an early-stopping rule: ``answer [Q]``, ``n_samples [Q]``, ``stopped_early [Q]``."""
  answer: np.ndarray
  n_samples: np.ndarray
  stopped_early: np.ndarray

  @property
  def mean_samples(self) -> float:
    return float(np.mean(self.n_samples))


def _check_conf_answers(confidence, answers) -> tuple[np.ndarray, np.ndarray]:
  conf = np.asarray(confidence, np.float64)
  ans = np.asarray(answers)
  if conf.ndim != 2 or 0 in conf.shape:
    raise InputError(f"confidence must be [queries, samples], got shape {conf.shape}")
  if ans.shape != conf.shape:
    raise InputError(f"answers must match confidence's shape {conf.shape}, got {ans.shape}")
  if not np.issubdtype(ans.dtype, np.integer):
    raise InputError("answers must be integer answer ids (map strings to ids first)")
  if not np.all(np.isfinite(conf)) or np.any(conf < 0) or np.any(conf > 1):
    raise InputError("confidence must be finite and in [0, 1]")
  return conf, ans.astype(np.int32)


def _check_tau(tau: float) -> float:
  if not (np.isfinite(tau) and 0.0 < tau <= 1.0):
    raise InputError(f"tau must be in (0, 1], got {tau}")
  return float(tau)


_best_of_n_jit = jax.jit(jax.vmap(kernels.early_stop_best_of_n, in_axes=(0, 0, None)))
_adaptive_jit = jax.jit(jax.vmap(kernels.adaptive_weighted_consistency, in_axes=(0, 0, None, None)),
                        static_argnums=3)


def early_stop_best_of_n(confidence, answers, tau: float, *, dtype=None) -> EarlyStop:
  """Early-stopping Best-of-N: stop at the first sample with confidence ``>= tau``.

  Args:
    confidence: ``[Q, S]`` confidences in [0, 1], samples in the order they were drawn.
    answers: ``[Q, S]`` integer answer ids.
    tau: threshold in (0, 1].
    dtype: float dtype of the confidences (None: JAX's default float).

  Returns:
    :class:`EarlyStop`; a query that never reaches ``tau`` uses all ``S`` samples and returns the most
    confident one.
  """
  conf, ans = _check_conf_answers(confidence, answers)
  dt = resolve_dtype(dtype)
  out = _best_of_n_jit(jnp.asarray(conf, dt), jnp.asarray(ans), jnp.asarray(_check_tau(tau), dt))
  return EarlyStop(*(np.asarray(x) for x in out))


def adaptive_consistency(confidence, answers, tau: float, *, min_samples: int = 1, dtype=None) -> EarlyStop:
  """Adaptive confidence-weighted self-consistency.

  After each sample the confidence-weighted vote is formed; sampling stops once the leading answer
  holds at least a share ``tau`` of the total confidence (and ``min_samples`` were drawn). The answer
  is the weighted-vote winner.

  Args:
    confidence: ``[Q, S]`` confidences. answers: ``[Q, S]`` integer answer ids.
    tau: share threshold in (0, 1]. min_samples: earliest stopping point (1 <= min_samples <= S).
    dtype: float dtype of the confidences (None: JAX's default float).
  """
  conf, ans = _check_conf_answers(confidence, answers)
  min_samples = check_count(int(min_samples), "min_samples", maximum=conf.shape[1])
  dt = resolve_dtype(dtype)
  out = _adaptive_jit(jnp.asarray(conf, dt), jnp.asarray(ans), jnp.asarray(_check_tau(tau), dt), min_samples)
  return EarlyStop(*(np.asarray(x) for x in out))
