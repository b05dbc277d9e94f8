"""Scaling laws: fit, forecast and plot.

* :func:`fit_chinchilla` -- ``L(N, D) = E + A/N^alpha + B/D^beta`` by the Huber loss on log-loss
  residuals (delta 1e-3, summed over points), L-BFGS (optax) from a grid of thousands of starts run at
  once with ``jax.vmap`` (Hoffmann et al. 2022; Besiroglu et al. 2024).
* :func:`fit_overtrained` -- Gadre et al. 2024's joint law in compute ``C`` and token multiplier ``M``,
  ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta``, least squares on the loss (Levenberg-Marquardt, their
  128-start grid).
* :func:`fit_power_law` -- ``L(C) = E + lambda C^-alpha`` for one token multiplier.
* :func:`fit_loss_to_error` -- ``Err(L) = epsilon - k exp(-gamma L)``.

Each returns a frozen :class:`LawFit` with its parameters, the objective, ``predict`` and ``plot``;
``bootstrap=B`` adds percentile intervals from ``B`` refits on resampled points.

Precision: every fit takes ``dtype=None`` (JAX's default float: float32, or float64 under
``jax_enable_x64``). The documented fits are float64, which these objectives need (Chinchilla's Huber
threshold is 1e-3 on log-loss): turn on x64 at program start (``jax.config.update("jax_enable_x64",
True)``) or wrap the calls in ``with jax.enable_x64(True):``. Asking for ``dtype="float64"`` without it raises
:class:`tinyjax.errors.PrecisionError`; tinyjax never flips the flag itself (the ``tinyjax scaling``
command line does, at its start).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Any, Callable, ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_count, check_fraction, check_seed
from tinyjax._dtypes import resolve_dtype
from tinyjax.errors import ConfigError, InputError


__all__ = (
    "ChinchillaFit",
    "LawFit",
    "LossToErrorFit",
    "OvertrainedFit",
    "PowerLawFit",
    "chinchilla_start_grid",
    "fit_chinchilla",
    "fit_loss_to_error",
    "fit_overtrained",
    "fit_power_law",
    "forecast_error",
    "overtrained_start_grid",
)

# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _as_vector(name: str, x: Any, *, positive: bool = False) -> np.ndarray:
  arr = np.asarray(x)
  if arr.dtype == object:
    arr = arr.astype(np.float64)          # e.g. FLOP counts stored as Python ints
  if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
    raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
  arr = arr.astype(np.float64)
  if arr.ndim == 0:
    arr = arr[None]
  if arr.ndim != 1:
    raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
  if arr.size == 0:
    raise InputError(f"{name} is empty")
  if not np.all(np.isfinite(arr)):
    raise InputError(f"{name} has {int(np.sum(~np.isfinite(arr)))} non-finite value(s)")
  if positive and np.any(arr <= 0):
    raise InputError(f"{name} must be positive, found min {arr.min()}")
  return arr


def _same_length(**arrays: np.ndarray) -> int:
  sizes = {k: v.shape[0] for k, v in arrays.items()}
  if len(set(sizes.values())) != 1:
    raise InputError(f"inputs must have the same length, got {sizes}")
  return next(iter(sizes.values()))


def _check_points(n: int, n_params: int, what: str) -> None:
  if n < n_params:
    raise InputError(f"{what} has {n_params} parameters and needs at least {n_params} points, got {n}")


def _check_bootstrap(bootstrap: int, confidence: float, seed: int) -> None:
  check_count(bootstrap, "bootstrap", minimum=0)
  check_fraction(confidence, "confidence")
  check_seed(seed)


def _check_starts(starts: Any, n_params: int) -> np.ndarray:
  s = np.asarray(starts, dtype=np.float64)
  if s.ndim != 2 or s.shape[1] != n_params or s.shape[0] == 0:
    raise InputError(f"starts must be [S, {n_params}] with S >= 1, got shape {s.shape}")
  if not np.all(np.isfinite(s)):
    raise InputError("starts has non-finite values")
  return s


_bootstrap_jit = jax.jit(kernels.bootstrap_counts, static_argnums=(1, 2, 3))


def _bootstrap_weights(seed: int, n_draws: int, size: int, dt) -> jax.Array:
  """``[n_draws, size]`` multinomial resampling counts in ``dt``, from one ``jax.random.key(seed)``."""
  return _bootstrap_jit(jax.random.key(seed), int(n_draws), int(size), np.dtype(dt))


def _best_refits(params: np.ndarray, values: np.ndarray) -> np.ndarray:
  """``[B, K, P]`` refits from ``K`` warm starts per resample -> ``[B, P]``, the best start of each."""
  values = np.where(np.isfinite(values), values, np.inf)
  return params[np.arange(params.shape[0]), np.argmin(values, axis=1)]


def _best(values: np.ndarray) -> int:
  v = np.where(np.isfinite(values), values, np.inf)
  i = int(np.argmin(v))
  if not np.isfinite(v[i]):
    raise InputError("every start diverged (non-finite objective); check the data or pass other starts")
  return i


def _distinct_best(params: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
  """The ``count`` lowest-objective end points, skipping near-duplicates (warm starts for bootstraps)."""
  order = np.argsort(np.where(np.isfinite(values), values, np.inf))
  chosen: list[np.ndarray] = []
  for i in order:
    if not np.isfinite(values[i]):
      break
    if all(np.max(np.abs(params[i] - c)) > 1e-4 for c in chosen):
      chosen.append(params[i])
    if len(chosen) == count:
      break
  return np.stack(chosen)


def _axes(ax):
  if ax is None:
    import matplotlib.pyplot as plt  # optional dependency, imported on use
    _, ax = plt.subplots(figsize=(5, 4))
  return ax


# --------------------------------------------------------------------------------------------------
# The shared result base
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LawFit:
  """What every scaling-law fit returns: the fitted parameters (fields of the subclass), and

  Attributes:
    objective: the fit's objective at the optimum (see each fit).
    n_starts: starts tried.
    bootstrap: ``[B, P]`` refitted parameters per bootstrap resample (in :attr:`params` order), or None.
    intervals: parameter name -> (low, high) percentile interval, or None.
  """

  PARAMS: ClassVar[tuple[tuple[str, str], ...]] = ()   # (name in params, attribute), in bootstrap column order

  objective: float
  n_starts: int
  bootstrap: np.ndarray | None = dataclasses.field(default=None, repr=False)
  intervals: dict[str, tuple[float, float]] | None = None

  @property
  def params(self) -> dict[str, float]:
    return {name: getattr(self, attr) for name, attr in self.PARAMS}

  @classmethod
  def _build(cls, best: np.ndarray, boot: np.ndarray | None, confidence: float, **extra) -> "LawFit":
    """The result from the best parameters ``[P]`` and bootstrap refits ``[B, P]`` (both in ``PARAMS`` order)."""
    intervals = None
    if boot is not None:
      lo, hi = 50 * (1 - confidence), 50 * (1 + confidence)
      intervals = {name: (float(np.nanpercentile(col, lo)), float(np.nanpercentile(col, hi)))
                   for (name, _), col in zip(cls.PARAMS, boot.T)}
    values = {attr: float(v) for (_, attr), v in zip(cls.PARAMS, best)}
    return cls(**values, bootstrap=boot, intervals=intervals, **extra)


# --------------------------------------------------------------------------------------------------
# Jitted multi-start fitters (built once, at import)
# --------------------------------------------------------------------------------------------------


def _chinchilla_pairs(starts, weights, log_n, log_d, log_loss, delta, max_steps, gtol, ftol, batch_size):
  """Runs L-BFGS for each (start, weights) pair: ``starts [S, 5]``, ``weights [S, R]``."""
  def one(args):
    p0, w = args
    fun = lambda p: kernels.chinchilla_huber_objective(p, log_n, log_d, log_loss, w, delta)
    return kernels.lbfgs_minimize(fun, p0, max_steps, gtol=gtol, ftol=ftol)
  # Batches of ``batch_size`` starts are vmapped; batches run one after another.
  return jax.lax.map(one, (starts, weights), batch_size=batch_size if batch_size > 1 else None)


_chinchilla_jit = jax.jit(_chinchilla_pairs, static_argnums=(6, 9))


def _default_batch_size(n_starts: int) -> int:
  # On CPU a vmapped while loop runs every start until the slowest one stops (L-BFGS iterations and
  # line-search steps), which measured ~25x slower than running starts one by one; accelerators
  # absorb that waste, so there all starts go in one vmapped batch.
  return 1 if jax.default_backend() == "cpu" else n_starts


def _make_lm(model: Callable[..., jax.Array]):
  def one(p0, xs, y, weights, max_steps):
    return kernels.fit_curve(model, p0, xs, y, max_steps, weights)

  starts = jax.vmap(one, in_axes=(0, None, None, None, None))
  boot = jax.vmap(starts, in_axes=(None, None, None, 0, None))
  return jax.jit(starts, static_argnums=4), jax.jit(boot, static_argnums=4)


_overtrained_lm = _make_lm(kernels.overtrained_loss)
_power_lm = _make_lm(kernels.reducible_power_law)
_error_lm = _make_lm(kernels.loss_to_error)


def _lm_fit(fitters, starts: np.ndarray, xs: tuple[np.ndarray, ...], y: np.ndarray, max_steps: int,
            bootstrap: int, seed: int, bootstrap_starts: int, dtype):
  """Runs an LM multi-start fit in ``dtype``; returns (best params, objective, boot params or None)."""
  multistart, boot = fitters
  dt = resolve_dtype(dtype)
  max_steps = check_count(int(max_steps), "max_steps")
  xs_j = tuple(jnp.asarray(x, dt) for x in xs)
  y_j = jnp.asarray(y, dt)
  ones = jnp.ones_like(y_j)
  params, info = multistart(jnp.asarray(starts, dt), xs_j, y_j, ones, max_steps)
  params, values = np.asarray(params, np.float64), np.asarray(info.value, np.float64)
  i = _best(values)
  boot_params = None
  if bootstrap:
    warm = _distinct_best(params, values, bootstrap_starts)
    weights = _bootstrap_weights(seed, bootstrap, y.shape[0], dt)
    bp, binfo = boot(jnp.asarray(warm, dt), xs_j, y_j, weights, max_steps)
    boot_params = _best_refits(np.asarray(bp, np.float64), np.asarray(binfo.value, np.float64))
  return params[i], 2.0 * float(values[i]), boot_params


# --------------------------------------------------------------------------------------------------
# Chinchilla
# --------------------------------------------------------------------------------------------------


def chinchilla_start_grid() -> np.ndarray:
  """The 4,500-point start grid of Besiroglu et al. 2024, as ``[4500, 5]`` rows (a, b, e, alpha, beta).

  alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}.
  """
  grid = itertools.product(np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5), np.arange(-1, 1.5, 0.5),
                           np.arange(0, 30, 5), np.arange(0, 30, 5))
  return np.array([[a, b, e, alpha, beta] for alpha, beta, e, a, b in grid], dtype=np.float64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChinchillaFit(LawFit):
  """``L(N, D) = E + A / N^alpha + B / D^beta``.

  Attributes:
    E, A, B, alpha, beta: fitted parameters.
    objective: the summed Huber loss of log-loss residuals at the optimum.
    delta: Huber threshold used.
    start_objectives: ``[S]`` objective reached from each start (``inf`` where it diverged).
    n_starts, bootstrap ``[B, 5]`` (E, A, B, alpha, beta), intervals: see :class:`LawFit`.
  """

  PARAMS: ClassVar = (("E", "E"), ("A", "A"), ("B", "B"), ("alpha", "alpha"), ("beta", "beta"))

  E: float
  A: float
  B: float
  alpha: float
  beta: float
  delta: float
  start_objectives: np.ndarray = dataclasses.field(repr=False)

  def predict(self, N, D) -> np.ndarray:
    """Predicted loss for parameter counts ``N`` and token counts ``D`` (broadcastable arrays)."""
    N, D = np.asarray(N, np.float64), np.asarray(D, np.float64)
    return self.E + self.A / N**self.alpha + self.B / D**self.beta

  def compute_optimal(self, C) -> tuple[np.ndarray, np.ndarray]:
    """Loss-minimising ``(N, D)`` for compute ``C = 6 N D`` under the fitted law."""
    C = np.asarray(C, np.float64)
    g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
    n_opt = g * (C / 6.0) ** (self.beta / (self.alpha + self.beta))
    return n_opt, C / (6.0 * n_opt)

  def plot(self, N, D, loss, ax=None):
    """Observed against predicted loss, one point per run, with the identity line. Returns the axes."""
    ax = _axes(ax)
    pred = self.predict(N, D)
    loss = np.asarray(loss, np.float64)
    sc = ax.scatter(loss, pred, c=np.log10(np.asarray(N, np.float64)), s=12, cmap="viridis")
    lim = [min(loss.min(), pred.min()), max(loss.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("observed loss")
    ax.set_ylabel("predicted loss")
    ax.figure.colorbar(sc, ax=ax, label="log10 N")
    ax.set_title(f"E={self.E:.3f} A={self.A:.1f} B={self.B:.1f} alpha={self.alpha:.3f} beta={self.beta:.3f}",
                 fontsize=8)
    return ax


def fit_chinchilla(N, D, loss, *, delta: float = 1e-3, starts=None, max_steps: int = 1000,
                   gtol: float = 1e-7, ftol: float = 1e-12, batch_size: int | None = None,
                   bootstrap: int = 0, bootstrap_starts: int = 8, confidence: float = 0.95,
                   seed: int = 0, dtype=None) -> ChinchillaFit:
  """Fits the Chinchilla law with the Huber loss on log-loss residuals, L-BFGS from many starts.

  The objective is ``sum_i huber_delta(log L_i - logsumexp(a - alpha log N_i, b - beta log D_i, e))``
  (a sum, not a mean, as in Hoffmann et al. and Besiroglu et al.). Every start is optimised by
  optax's L-BFGS (backtracking line search, scipy's ``ftol`` rule), ``batch_size`` starts at a time under ``jax.vmap`` (batches run in a
  ``jax.lax.map``), and the best end point wins.

  Args:
    N: ``[R]`` parameter counts. D: ``[R]`` training tokens. loss: ``[R]`` final losses (positive).
    delta: Huber threshold on log residuals.
    starts: ``[S, 5]`` start points (a, b, e, alpha, beta); default :func:`chinchilla_start_grid`
      (4,500 starts). The objective has many local optima, so keep it large.
    max_steps: L-BFGS iteration cap per start.
    gtol, ftol: scipy-style stopping tolerances (see ``tinyjax.kernels.lbfgs_minimize``).
    batch_size: starts per vmapped batch. Default: 1 on CPU (each start stops on its own; a wide
      vmap runs every start until the slowest stops), all starts at once on GPU/TPU.
    bootstrap: number of bootstrap refits (resampling the points with replacement); 0 for none.
    bootstrap_starts: each refit starts from this many distinct best end points of the full fit.
    confidence: coverage of the percentile intervals.
    seed: seeds the bootstrap resampling.
    dtype: float dtype of the fit (None: JAX's default float; the documented fits are float64, which
      needs x64 on: see the module docstring).

  Returns:
    A :class:`ChinchillaFit`.
  """
  N = _as_vector("N", N, positive=True)
  D = _as_vector("D", D, positive=True)
  loss = _as_vector("loss", loss, positive=True)
  _check_points(_same_length(N=N, D=D, loss=loss), 5, "the Chinchilla law")
  _check_bootstrap(bootstrap, confidence, seed)
  if not delta > 0:
    raise ConfigError(f"delta must be positive, got {delta}")
  max_steps = check_count(int(max_steps), "max_steps")
  starts = chinchilla_start_grid() if starts is None else _check_starts(starts, 5)
  num = starts.shape[0]
  batch_size = _default_batch_size(num) if batch_size is None else check_count(batch_size, "batch_size")
  dt = resolve_dtype(dtype)
  run = functools.partial(_chinchilla_jit, delta=float(delta), max_steps=max_steps, gtol=float(gtol),
                          ftol=float(ftol), batch_size=min(batch_size, num))
  data = tuple(jnp.asarray(np.log(x), dt) for x in (N, D, loss))
  ones = jnp.ones((num, N.shape[0]), dt)
  params, info = run(jnp.asarray(starts, dt), ones, *data)
  params, values = np.asarray(params, np.float64), np.asarray(info.value, np.float64)
  i = _best(values)
  boot = None
  if bootstrap:
    warm = _distinct_best(params, values, bootstrap_starts)
    k = warm.shape[0]
    weights = np.repeat(np.asarray(_bootstrap_weights(seed, bootstrap, N.shape[0], dt)), k, axis=0)
    bp, binfo = run(jnp.asarray(np.tile(warm, (bootstrap, 1)), dt), jnp.asarray(weights), *data)
    bp = _best_refits(np.asarray(bp, np.float64).reshape(bootstrap, k, 5),
                      np.asarray(binfo.value, np.float64).reshape(bootstrap, k))
    boot = _chinchilla_to_law(bp)
  return ChinchillaFit._build(_chinchilla_to_law(params[i])[0], boot, confidence, objective=float(values[i]),
                              delta=float(delta), n_starts=num,
                              start_objectives=np.where(np.isfinite(values), values, np.inf))


def _chinchilla_to_law(p: np.ndarray) -> np.ndarray:
  """(a, b, e, alpha, beta) -> (E, A, B, alpha, beta)."""
  p = np.atleast_2d(p)
  return np.column_stack([np.exp(p[:, 2]), np.exp(p[:, 0]), np.exp(p[:, 1]), p[:, 3], p[:, 4]])


# --------------------------------------------------------------------------------------------------
# Gadre et al. over-trained law
# --------------------------------------------------------------------------------------------------


def overtrained_start_grid() -> np.ndarray:
  """Gadre et al.'s 128 starts ``[128, 4]`` = (alpha_n, beta_n, p, E) of their code's parametrisation."""
  grid = itertools.product([1e2, 3e2, 1e3, 3e3], [1e2, 3e2, 1e3, 3e3], [-1e-1, -3e-1], [0.0, 1.0, 2.0, 10.0])
  return np.array(list(grid), dtype=np.float64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class OvertrainedFit(LawFit):
  """``L(C, M) = E + (a M^eta + b M^-eta) C^-eta`` (Gadre et al. 2024, eq. 4).

  Attributes:
    E, a, b, eta: fitted parameters.
    objective: sum of squared loss residuals at the optimum.
    n_starts, bootstrap ``[B, 4]`` (E, a, b, eta), intervals: see :class:`LawFit`.
  """

  PARAMS: ClassVar = (("E", "E"), ("a", "a"), ("b", "b"), ("eta", "eta"))

  E: float
  a: float
  b: float
  eta: float

  def predict(self, C, M) -> np.ndarray:
    """Predicted loss for compute ``C = 6 N D`` and token multiplier ``M = D / N`` (broadcastable)."""
    C, M = np.asarray(C, np.float64), np.asarray(M, np.float64)
    return self.E + (self.a * M**self.eta + self.b * M**-self.eta) * C**-self.eta

  def reducible_at(self, M) -> tuple[np.ndarray, float]:
    """For a fixed ``M``, the law is ``E + lambda C^-eta``; returns ``(lambda, eta)``."""
    M = np.asarray(M, np.float64)
    return self.a * M**self.eta + self.b * M**-self.eta, self.eta

  def plot(self, C, M, loss, ax=None, multipliers: Sequence[float] | None = None):
    """Loss against compute, points coloured by ``M``, with the fitted curve for each multiplier."""
    import matplotlib.pyplot as plt
    ax = _axes(ax)
    C, M, loss = (np.asarray(x, np.float64) for x in (C, M, loss))
    mults = sorted(set(M.tolist())) if multipliers is None else list(multipliers)
    colors = plt.cm.viridis(np.linspace(0, 1, max(len(mults), 2)))
    grid = np.geomspace(C.min() / 2, C.max() * 2, 100)
    for color, m in zip(colors, mults):
      sel = M == m
      ax.scatter(C[sel], loss[sel], color=color, s=18, label=f"M={m:g}")
      ax.plot(grid, self.predict(grid, m), color=color, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    return ax


def _overtrained_to_paper(p: np.ndarray) -> np.ndarray:
  """(alpha_n, beta_n, p, E) -> (E, a, b, eta)."""
  p = np.atleast_2d(p)
  eta = -p[:, 2] / 2.0
  return np.column_stack([p[:, 3], p[:, 0] * 6.0**eta, p[:, 1], eta])


def fit_overtrained(C, M, loss, *, starts=None, max_steps: int = 400, bootstrap: int = 0,
                    bootstrap_starts: int = 8, confidence: float = 0.95, seed: int = 0,
                    dtype=None) -> OvertrainedFit:
  """Fits Gadre et al.'s joint law ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta``.

  Follows their protocol: least squares on the loss itself, Levenberg-Marquardt from a 128-point grid
  in the parametrisation ``E + alpha_n N^p + beta_n 6^(p/2) (M N)^p`` with ``N = sqrt(C / (6M))``,
  the start with the smallest residual winning. ``eta`` is fitted jointly with the other parameters.

  Args:
    C: ``[R]`` training compute 6ND. M: ``[R]`` token multipliers D/N. loss: ``[R]`` losses.
    starts: ``[S, 4]`` starts in (alpha_n, beta_n, p, E); default :func:`overtrained_start_grid`.
    max_steps: LM iteration cap per start.
    bootstrap, bootstrap_starts, confidence, seed, dtype: as in :func:`fit_chinchilla`.

  Returns:
    An :class:`OvertrainedFit`.
  """
  C = _as_vector("C", C, positive=True)
  M = _as_vector("M", M, positive=True)
  loss = _as_vector("loss", loss, positive=True)
  _check_points(_same_length(C=C, M=M, loss=loss), 4, "the over-trained law")
  _check_bootstrap(bootstrap, confidence, seed)
  starts = overtrained_start_grid() if starts is None else _check_starts(starts, 4)
  N = np.sqrt(C / (6.0 * M))
  p, objective, boot = _lm_fit(_overtrained_lm, starts, (N, M), loss, max_steps, bootstrap, seed,
                               bootstrap_starts, dtype)
  return OvertrainedFit._build(_overtrained_to_paper(p)[0], None if boot is None else _overtrained_to_paper(boot),
                               confidence, objective=objective, n_starts=int(starts.shape[0]))


# --------------------------------------------------------------------------------------------------
# Reducible power law at fixed M
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class PowerLawFit(LawFit):
  """``L(C) = E + lambda C^-alpha``; ``bootstrap`` columns (E, lambda, alpha)."""

  PARAMS: ClassVar = (("E", "E"), ("lambda", "lam"), ("alpha", "alpha"))

  E: float
  lam: float
  alpha: float

  def predict(self, C) -> np.ndarray:
    return self.E + self.lam * np.asarray(C, np.float64) ** -self.alpha

  def plot(self, C, loss, ax=None):
    ax = _axes(ax)
    C = np.asarray(C, np.float64)
    ax.scatter(C, loss, s=18)
    grid = np.geomspace(C.min() / 2, C.max() * 2, 100)
    ax.plot(grid, self.predict(grid), "k-", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("compute")
    ax.set_ylabel("loss")
    return ax


def fit_power_law(C, loss, *, starts=None, max_steps: int = 400, bootstrap: int = 0,
                  confidence: float = 0.95, seed: int = 0, dtype=None) -> PowerLawFit:
  """Fits ``L(C) = E + lambda C^-alpha`` by least squares on the loss (LM, multi-start).

  Args:
    C: ``[R]`` compute (or any positive scale variable). loss: ``[R]``.
    starts: ``[S, 3]`` starts in (log lambda, alpha, E); default a 48-point grid.
    max_steps, bootstrap, confidence, seed, dtype: as in :func:`fit_overtrained`.
  """
  C = _as_vector("C", C, positive=True)
  loss = _as_vector("loss", loss)
  _check_points(_same_length(C=C, loss=loss), 3, "the power law")
  _check_bootstrap(bootstrap, confidence, seed)
  if starts is None:
    starts = np.array(list(itertools.product(np.log([3e1, 3e2, 3e3, 3e4]), [0.05, 0.1, 0.2, 0.4],
                                             [0.0, 1.0, 2.0])), dtype=np.float64)
  starts = _check_starts(starts, 3)
  p, objective, boot = _lm_fit(_power_lm, starts, (C,), loss, max_steps, bootstrap, seed, 8, dtype)
  to_law = lambda q: np.column_stack([q[:, 2], np.exp(q[:, 0]), q[:, 1]])   # -> (E, lambda, alpha)
  return PowerLawFit._build(to_law(p[None])[0], None if boot is None else to_law(boot), confidence,
                            objective=objective, n_starts=int(starts.shape[0]))


# --------------------------------------------------------------------------------------------------
# Loss -> downstream error
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LossToErrorFit(LawFit):
  """``Err(L) = epsilon - k exp(-gamma L)`` (Gadre et al. 2024, eq. 5); ``bootstrap`` columns (epsilon, k, gamma)."""

  PARAMS: ClassVar = (("epsilon", "epsilon"), ("k", "k"), ("gamma", "gamma"))

  epsilon: float
  k: float
  gamma: float

  def predict(self, loss) -> np.ndarray:
    return self.epsilon - self.k * np.exp(-self.gamma * np.asarray(loss, np.float64))

  def plot(self, loss, err, ax=None):
    ax = _axes(ax)
    loss = np.asarray(loss, np.float64)
    ax.scatter(loss, err, s=18)
    grid = np.linspace(loss.min() - 0.3, loss.max() + 0.3, 100)
    ax.plot(grid, self.predict(grid), "k-", lw=1)
    ax.set_xlabel("loss")
    ax.set_ylabel("average top-1 error")
    return ax


def fit_loss_to_error(loss, err, *, starts=None, max_steps: int = 400, bootstrap: int = 0,
                      confidence: float = 0.95, seed: int = 0, dtype=None) -> LossToErrorFit:
  """Fits ``Err(L) = epsilon - k exp(-gamma L)`` by least squares on the error (LM, multi-start).

  Gadre et al. fit this with scipy's ``curve_fit`` from (1, 1, 1); that start is in the default grid.

  Args:
    loss: ``[R]`` losses. err: ``[R]`` average top-1 errors.
    starts: ``[S, 3]`` starts in (k, gamma, epsilon); default a 33-point grid including (1, 1, 1).
    max_steps, bootstrap, confidence, seed, dtype: as in :func:`fit_overtrained`.
  """
  loss = _as_vector("loss", loss)
  err = _as_vector("err", err)
  _check_points(_same_length(loss=loss, err=err), 3, "the loss-to-error law")
  _check_bootstrap(bootstrap, confidence, seed)
  if starts is None:
    grid = itertools.product([0.1, 1.0, 10.0, 100.0], [0.1, 0.5, 1.0, 2.0], [0.5, 1.0])
    starts = np.array([[1.0, 1.0, 1.0], *grid], dtype=np.float64)
  starts = _check_starts(starts, 3)
  p, objective, boot = _lm_fit(_error_lm, starts, (loss,), err, max_steps, bootstrap, seed, 8, dtype)
  to_law = lambda q: q[:, [2, 0, 1]]   # (k, gamma, epsilon) -> (epsilon, k, gamma)
  return LossToErrorFit._build(to_law(p[None])[0], None if boot is None else to_law(boot), confidence,
                               objective=objective, n_starts=int(starts.shape[0]))


# A name for the combined forecast used in the docs and CLI: loss law -> error law.
def forecast_error(loss_fit: OvertrainedFit, error_fit: LossToErrorFit, C, M) -> np.ndarray:
  """Downstream error forecast by chaining the loss law and the loss-to-error law."""
  return error_fit.predict(loss_fit.predict(C, M))

