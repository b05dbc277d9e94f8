"""IRT models: fit (MAP), predict, batched ability estimation, dimension selection, save/load.

The model is the slope-intercept form P(correct) = c_i + (1 - c_i) * sigmoid(a_i . theta_j - b_i).
Conversion to the a(theta - beta) form that mirt, girth and py-irt use, for one dimension:
``discrimination = a``, ``difficulty beta = b / a`` (see :meth:`IRTModel.to_classical`). For D > 1 the
usual summaries are MDISC = ||a_i|| and MDIFF = b_i / ||a_i||.

The numerics (likelihood, priors, the L-BFGS fit loop, ability estimation) are kernels in
``tinyjax.kernels``; this module validates input, jits them once, loops over fit chunks with a progress bar
that ends at done, and holds the results. A fit that turns non-finite raises
:class:`tinyjax.errors.ConfigError` with advice (a stronger prior, ``dtype="float64"``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import threading
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import _buckets, kernels
from tinyjax._checks import check_choice, check_count, check_seed
from tinyjax._dtypes import resolve_dtype
from tinyjax._progress import check_progress, logger, progress_bar
from tinyjax.errors import ArtifactError, ConfigError, InputError, ResponseError

_log = logger(__name__)

KINDS = ("1pl", "2pl", "3pl")
METHODS = ("mle", "map", "eap")


@dataclasses.dataclass(frozen=True)
class IRTPriors:
  """Priors of the MAP fit.

  Attributes:
    theta_sd: abilities ~ N(0, theta_sd^2) in each dimension.
    b_mean, b_sd: intercept-form difficulties b ~ N(b_mean, b_sd^2).
    a_prior: "lognormal" (log a ~ N(a_mean, a_sd^2): positive slopes), "normal" (a ~ N(a_mean,
      a_sd^2)), or "auto": lognormal for dim 1, normal for dim > 1.
    a_mean, a_sd: slope prior location and scale; None picks 0 and 0.5 (lognormal) or 0 and 1.0
      (normal). With a normal prior and dim > 1 the fit is rotation-invariant up to the prior.
    c_logit_sd: sd of logit(c) around logit(1/n_choices) when the 3PL asymptote is learned.
    hierarchical: learn the means and sds of the b and a priors (with N(0, hyper_sd^2) hyperpriors).
    hyper_sd: hyperprior scale.
    scale: prior strength multiplier applied to every log-prior term. "auto" (the default) grows
      it with the number of models as max(1, sqrt(n_models / 250)), which keeps discriminations
      from running off on leaderboards with thousands of models; a number fixes it.
  """

  theta_sd: float = 1.0
  b_mean: float = 0.0
  b_sd: float = 3.0
  a_prior: str = "auto"
  a_mean: float | None = None
  a_sd: float | None = None
  c_logit_sd: float = 0.5
  hierarchical: bool = False
  hyper_sd: float = 2.0
  scale: float | str = "auto"

  def resolve(self, kind: str, dim: int, n_models: int, c_mode: str, c_center: float) -> kernels.IRTPriorConfig:
    a_prior = self.a_prior if self.a_prior != "auto" else ("lognormal" if dim == 1 else "normal")
    if a_prior not in ("lognormal", "normal"):
      raise ConfigError(f"a_prior must be 'lognormal', 'normal' or 'auto', got {self.a_prior!r}")
    a_mean = 0.0 if self.a_mean is None else float(self.a_mean)
    a_sd = (0.5 if a_prior == "lognormal" else 1.0) if self.a_sd is None else float(self.a_sd)
    scale = max(1.0, math.sqrt(n_models / 250.0)) if self.scale == "auto" else float(self.scale)
    for name, v in (("theta_sd", self.theta_sd), ("b_sd", self.b_sd), ("a_sd", a_sd),
                    ("c_logit_sd", self.c_logit_sd), ("hyper_sd", self.hyper_sd), ("scale", scale)):
      if not (v > 0 and math.isfinite(v)):
        raise ConfigError(f"prior {name} must be positive and finite, got {v}")
    return kernels.IRTPriorConfig(
        kind=kind, dim=dim, theta_sd=float(self.theta_sd), b_mean=float(self.b_mean),
        b_sd=float(self.b_sd), a_prior=a_prior, a_mean=a_mean, a_sd=a_sd, c_mode=c_mode,
        c_logit_mean=float(math.log(c_center / (1 - c_center))), c_logit_sd=float(self.c_logit_sd),
        hierarchical=bool(self.hierarchical), hyper_sd=float(self.hyper_sd), prior_scale=scale)


@dataclasses.dataclass(frozen=True)
class FitInfo:
  """How a fit ended.

  Attributes:
    n_iter: L-BFGS iterations run.
    objective: final negative log posterior per observed entry.
    converged: whether the convergence criterion was met before ``max_iter``.
    grad_norm: final max-abs gradient of the objective.
    seconds: wall time of the fit, compilation included.
    prior_scale: the prior strength used.
  """

  n_iter: int
  objective: float
  converged: bool
  grad_norm: float
  seconds: float
  prior_scale: float


@dataclasses.dataclass(frozen=True)
class Ability:
  """Batched ability estimates.

  Attributes:
    theta: [n, dim] estimates (+-inf where the MLE diverged).
    se: [n, dim] standard errors (inf where the MLE diverged).
    converged: [n] bool.
    diverged: [n] bool, MLE only: all answers right or all wrong, or the iterates ran off.
    n_iter: [n] iterations.
    method: "mle", "map" or "eap".
  """

  theta: np.ndarray
  se: np.ndarray
  converged: np.ndarray
  diverged: np.ndarray
  n_iter: np.ndarray
  method: str


# ---------------------------------------------------------------------------------------------
# jitted kernels, built once.

# The fit runs on bucketed shapes (tinyjax._buckets): rows [N] and items [I] mark the real models and items. Its
# start is computed in numpy (_start_params) and its state built on the host, so a fit compiles one program.
_fit_chunk_jit = jax.jit(kernels.irt_fit_chunk, static_argnames=("config", "patience"))


def _compile_fit_ahead(n_pad: int, i_pad: int, dim: int, dt, signed: bool, config, steps: int, ftol, gtol
                       ) -> threading.Thread | None:
  """Lowers the fit's program for these shapes, compiles it in a background thread, and returns the thread (None
  when lowering failed).

  A first fit spends most of its time tracing and compiling (0.2 and 0.6 s at 1,000 x 10,000 on 2 CPU cores) and
  about 0.15 s on the host preparing the start (``_start_params``, the answer encoding). XLA's compilation needs
  the shapes only and runs without the GIL, so it goes beside that work (tracing stays on the caller's thread:
  Python beside numpy's many short calls slowed both); ``jit`` keeps the executable, and the fit's own call
  then finds it. The arguments mirror that call exactly (dtypes, weak types, no sharding), or the call compiles
  again (a lost overlap, never a wrong result). An error here is dropped: the call itself raises it.
  """
  def spec(shape, dtype):
    return jax.ShapeDtypeStruct(shape, np.dtype(dtype))

  try:
    zeros = kernels.IRTParams(np.zeros((n_pad, dim), dt), np.zeros((i_pad, dim), dt), np.zeros(i_pad, dt),
                              np.zeros(i_pad, dt), np.zeros(4, dt))
    state = jax.tree.map(lambda x: spec(np.shape(x), np.asarray(x).dtype), kernels.irt_fit_init(zeros))
    y = spec((n_pad, i_pad), np.int8 if signed else dt)
    mask = None if signed else spec((n_pad, i_pad), bool)
    lowered = _fit_chunk_jit.lower(state, y, mask, config, steps, ftol, gtol, rows=spec((n_pad,), bool),
                                   items=spec((i_pad,), bool), prior_scale=spec((), dt), n_obs=spec((), np.int32))
  except Exception:  # noqa: BLE001 - the fit's own call raises whatever this would
    return None

  def work():
    try:
      lowered.compile()
    except Exception:  # noqa: BLE001
      pass

  thread = threading.Thread(target=work, name="tinyjax-fit-compile", daemon=True)
  thread.start()
  return thread


@jax.jit
def _prob_jit(theta, a, b, c):
  return kernels.irt_prob(theta, a, b, c)


# Ability estimation: one compiled program per (rows bucket, items bucket, method, dtype) estimates every row of a
# call, block by block (lax.map over blocks of at most _buckets.ROW_BLOCK rows, which keeps a block's answers in
# cache), and the call reads everything back in one transfer. The program also checks the answers (observed values
# in [0, 1], rows with an answer), so the host makes no pass over them besides one copy into a padded buffer.
_ABILITY_CHUNK = 1 << 17   # rows of one program call at most; larger inputs are several calls, fetched together
_START_POINTS = 512        # points of the Newton start curve (kernels.score_curve_1d), over +-_GRID_RANGE prior sd
_GRID_RANGE = 7.0          # the fixed EAP grid (D = 1) spans the prior mean +- 7 prior sd
_EAP_TABLE_POINTS = 128    # its points (spacing 0.11 prior sd; rows with a narrower posterior use the MAP grid)


@functools.partial(jax.jit, static_argnames=("method", "max_iter", "block", "guessing", "binarize"))
def _ability_program(y, n_rows, item_valid, a, b, c, mean, prec, threshold, extra, *, method, max_iter, block,
                     guessing, binarize):
  """Every row's ability: y [R, K] answers (NaN: not answered), R a multiple of ``block``, the first ``n_rows``
  of them real.

  ``extra`` holds the method's points: "newton": start points [Q]; "eap_table": (table nodes [Q], MAP-grid nodes
  [Q', 1]); "eap_grid": nodes [Q', D]; "eap_is": draws [S, D]. Returns (AbilityResult over the R rows, [R / block]
  bool every real row of the block answered something, [R / block] bool every observed value in [0, 1]).
  """
  r, k = y.shape
  d = a.shape[1]
  if method == "newton" and d == 1:
    curve, slope = kernels.score_curve_1d(a, b, c, item_valid, mean, prec, extra)
    n_valid = jnp.sum(item_valid.astype(y.dtype))

  def clean(yb):   # [B, K] -> answers (0 where not answered), answered
    answered = ~jnp.isnan(yb)
    return jnp.where(answered, (yb >= threshold).astype(yb.dtype) if binarize else yb, 0.0), answered

  def map_grid(yb, answered):
    nodes = extra[1] if method == "eap_table" else extra
    return jax.vmap(lambda yy, mm: kernels.ability_eap_grid(yy, mm, a, b, c, mean, prec, nodes,
                                                            max_iter=max_iter))(yb, answered)

  def one_block(args):
    raw, real = args
    yb, answered = clean(raw)
    # Float reductions (faster than boolean ones): a real row answers something; |value - 0.5| <= 0.5 (inf fails).
    count = jnp.sum(answered.astype(raw.dtype), 1)
    checks = (jnp.min(jnp.where(real, count, 1.0)) > 0,
              jnp.max(jnp.where(answered, jnp.abs(raw - 0.5), 0.0)) <= 0.5)
    vm = lambda f: jax.vmap(f)(yb, answered)
    if method == "newton" and d == 1:
      # Start next to the answer: the score curve at the row's a-weighted score (unanswered items scaled in).
      score = jnp.sum(yb * a[:, 0], 1) * n_valid / jnp.maximum(count, 1.0)
      theta0 = jnp.where(count > 0, jax.vmap(kernels.score_curve_start, (0, None, None, None))(
          score, curve, slope, extra), mean[0])   # no answers: the prior mean
      res = jax.vmap(lambda yy, mm, t: kernels.ability_newton_1d(
          yy, mm, a, b, c, mean, prec, t, guessing=guessing, max_iter=max_iter))(yb, answered, theta0)
    elif method == "newton":
      res = vm(lambda yy, mm: kernels.ability_newton(yy, mm, a, b, c, mean, prec, max_iter=max_iter))
    elif method == "eap_table":
      res = kernels.ability_eap_table(yb, answered, item_valid, a, b, c, mean, prec, extra[0], guessing=guessing)
    elif method == "eap_grid":
      res = map_grid(yb, answered)
    else:
      res = vm(lambda yy, mm: kernels.ability_eap_importance(yy, mm, a, b, c, mean, prec, extra,
                                                             max_iter=max_iter))
    return res, checks

  real = (jnp.arange(r) < n_rows).reshape(r // block, block)
  res, checks = jax.lax.map(one_block, (y.reshape(r // block, block, k), real))
  res = jax.tree.map(lambda v: v.reshape((r,) + v.shape[2:]), res)
  if method == "eap_table":
    # Rows whose posterior the fixed grid does not resolve: the grid around their MAP, ``block`` rows at a time
    # (gathered, so that the loop costs nothing when every row is resolved).
    def fall_back(carry):
      res, todo = carry
      rows = jnp.nonzero(todo, size=block, fill_value=r)[0]              # r: past the end, dropped on write
      alt = map_grid(*clean(y[jnp.minimum(rows, r - 1)]))
      res = jax.tree.map(lambda u, v: u.at[rows].set(v, mode="drop"), res, alt)
      return res, todo.at[rows].set(False, mode="drop")

    res, _ = jax.lax.while_loop(lambda carry: jnp.any(carry[1]), fall_back, (res, ~res.converged))
  return res, checks[0], checks[1]


# ---------------------------------------------------------------------------------------------


class IRTModel:
  """A fitted IRT model.

  Attributes:
    kind: "1pl", "2pl" or "3pl".
    dim: latent dimension.
    a: [n_items, dim] slopes.
    b: [n_items] intercept-form difficulties.
    c: [n_items] lower asymptotes (zeros for 1PL/2PL).
    theta: [n_models, dim] abilities of the training models.
    item_ids, model_ids: ids of the columns and rows the model was fitted on.
    priors: the :class:`IRTPriors` used; ``config`` the resolved kernel config.
    likelihood: "bernoulli" (0/1 or fractional scores) or "binarize"; ``threshold`` for the latter.
    fit_info: :class:`FitInfo`.
  """

  def __init__(self, *, kind: str, dim: int, a, b, c, theta, item_ids: Sequence[str],
               model_ids: Sequence[str], priors: IRTPriors, config: kernels.IRTPriorConfig,
               likelihood: str = "bernoulli", threshold: float = 0.5, fit_info: FitInfo | None = None):
    self.kind = kind
    self.dim = int(dim)
    self.a = np.asarray(a)
    self.b = np.asarray(b)
    self.c = np.asarray(c)
    self.theta = np.asarray(theta)
    self.item_ids = list(item_ids)
    self.model_ids = list(model_ids)
    self.priors = priors
    self.config = config
    self.likelihood = likelihood
    self.threshold = float(threshold)
    self.fit_info = fit_info

  @property
  def n_items(self) -> int:
    return int(self.b.shape[0])

  def __repr__(self) -> str:
    info = "" if self.fit_info is None else (
        f", n_iter={self.fit_info.n_iter}, objective={self.fit_info.objective:.5f}, "
        f"converged={self.fit_info.converged}")
    return (f"IRTModel(kind={self.kind!r}, dim={self.dim}, n_items={self.n_items}, "
            f"n_models={len(self.model_ids)}{info})")

  def _items(self, items) -> np.ndarray:
    if items is None:
      return np.arange(self.n_items)
    idx = np.asarray(items)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
      raise ConfigError(f"items must be a 1-D array of integer item indices, got dtype {idx.dtype} shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= self.n_items):
      raise ConfigError(f"item indices must lie in [0, {self.n_items}), got range [{idx.min()}, {idx.max()}]")
    return idx

  def _theta(self, theta) -> np.ndarray:
    t = np.asarray(theta, dtype=self.a.dtype)
    if t.ndim == 1 and self.dim == 1:
      t = t[:, None]
    if t.ndim != 2 or t.shape[1] != self.dim:
      raise InputError(f"theta must have shape (n, {self.dim}), got {np.shape(theta)}")
    if not np.all(np.isfinite(t)):
      raise InputError("theta holds non-finite values (a diverged MLE?); use method='map' or 'eap'")
    return t

  def predict_proba(self, theta, items=None) -> np.ndarray:
    """Probability of a correct answer.

    Args:
      theta: [n, dim] abilities (a 1-D array is accepted when dim == 1).
      items: optional item indices [k]; all items if None.

    Returns:
      [n, k] probabilities (k = n_items when ``items`` is None).
    """
    idx = self._items(items)
    t = self._theta(theta)
    n, k = t.shape[0], idx.size
    # Items padded to a bucket size, models in blocks of ROW_BLOCK (tinyjax._buckets), sliced back: every shape
    # with items in one bucket shares one compiled program.
    block, shape_k = _buckets.ROW_BLOCK, _buckets.bucket(k)
    dt = self.a.dtype
    a, b, c = (_buckets.device_array(_buckets.pad_to(x[idx], (shape_k,) + x.shape[1:]), dt)
               for x in (self.a, self.b, self.c))
    out = [np.asarray(_prob_jit(_buckets.device_array(_buckets.pad_to(t[s:s + block], (block, self.dim)), dt),
                                a, b, c))[:min(block, n - s), :k] for s in range(0, max(n, 1), block)]
    return np.concatenate(out)[:n]

  def predict_logits(self, theta, items=None) -> np.ndarray:
    """Slope-intercept logits a . theta - b, [n, k]."""
    idx = self._items(items)
    return self._theta(theta) @ self.a[idx].T - self.b[idx][None, :]

  def subset(self, items) -> "IRTModel":
    """The model restricted to item indices ``items`` (in that order)."""
    idx = self._items(items)
    return _replace(self, a=self.a[idx], b=self.b[idx], c=self.c[idx],
                    item_ids=[self.item_ids[i] for i in idx])

  def to_classical(self) -> dict[str, np.ndarray]:
    """Item parameters in the a(theta - beta) form of mirt/girth/py-irt.

    Returns:
      For dim 1: ``{"discrimination": [I], "difficulty": [I] (= b / a), "guessing": [I]}``.
      For dim > 1: ``{"discrimination": [I, D] (= a), "mdisc": [I] (= ||a||), "mdiff": [I]
      (= b / ||a||), "guessing": [I]}``.
    """
    if self.dim == 1:
      a = self.a[:, 0]
      return {"discrimination": a, "difficulty": self.b / a, "guessing": self.c}
    norm = np.linalg.norm(self.a, axis=1)
    return {"discrimination": self.a, "mdisc": norm, "mdiff": self.b / norm, "guessing": self.c}

  # --- persistence -------------------------------------------------------------------------
  def _to_artifact(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {"a": self.a, "b": self.b, "c": self.c, "theta": self.theta,
              "item_ids": np.asarray(self.item_ids, dtype=str),
              "model_ids": np.asarray(self.model_ids, dtype=str)}
    meta = {"kind": self.kind, "dim": self.dim, "priors": dataclasses.asdict(self.priors),
            "config": self.config._asdict(), "likelihood": self.likelihood,
            "threshold": self.threshold,
            "fit_info": None if self.fit_info is None else dataclasses.asdict(self.fit_info)}
    return arrays, meta

  @classmethod
  def _from_artifact(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "IRTModel":
    try:
      model = cls(kind=meta["kind"], dim=meta["dim"], a=arrays["a"], b=arrays["b"], c=arrays["c"],
                  theta=arrays["theta"], item_ids=[str(s) for s in arrays["item_ids"]],
                  model_ids=[str(s) for s in arrays["model_ids"]],
                  priors=IRTPriors(**meta["priors"]), config=kernels.IRTPriorConfig(**meta["config"]),
                  likelihood=meta["likelihood"], threshold=meta["threshold"],
                  fit_info=None if meta["fit_info"] is None else FitInfo(**meta["fit_info"]))
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"IRT model file is missing or has a malformed field: {err}") from err
    if model.a.shape != (model.n_items, model.dim) or model.c.shape != (model.n_items,) or \
        len(model.item_ids) != model.n_items:
      raise ArtifactError(
          f"IRT model file is inconsistent: a {model.a.shape}, b {model.b.shape}, c {model.c.shape}, "
          f"{len(model.item_ids)} item ids, dim {model.dim}")
    return model

  def save(self, path) -> pathlib.Path:
    """Saves to a versioned ``.tjx`` artifact (arrays + JSON metadata); ``tinyjax.load`` reads it.

    Returns:
      The path written.
    """
    from tinyjax.io import save_artifact
    arrays, meta = self._to_artifact()
    return save_artifact(path, "irt_model", arrays, meta)

  @classmethod
  def load(cls, path) -> "IRTModel":
    from tinyjax.io import load_artifact
    _, arrays, meta = load_artifact(path, expected_kind="irt_model")
    return cls._from_artifact(arrays, meta)


def _replace(model: IRTModel, **changes) -> IRTModel:
  fields = dict(kind=model.kind, dim=model.dim, a=model.a, b=model.b, c=model.c, theta=model.theta,
                item_ids=model.item_ids, model_ids=model.model_ids, priors=model.priors,
                config=model.config, likelihood=model.likelihood, threshold=model.threshold,
                fit_info=model.fit_info)
  fields.update(changes)
  return IRTModel(**fields)




# ---------------------------------------------------------------------------------------------


def _prepare_responses(Y, likelihood: str, threshold: float, model_ids=None, item_ids=None):
  """Validated float64 matrix [N, I], mask [N, I], ids."""
  from tinyjax import data

  r = data.load_responses(Y, model_ids=model_ids, item_ids=item_ids)
  values = np.asarray(r.values, dtype=np.float64)
  if likelihood == "binarize":
    if not 0.0 < threshold < 1.0:
      raise ConfigError(f"threshold must lie in (0, 1), got {threshold}")
    values = np.where(np.isnan(values), np.nan, (values >= threshold).astype(np.float64))
  elif likelihood != "bernoulli":
    raise ConfigError(f"likelihood must be 'bernoulli' or 'binarize', got {likelihood!r}")
  return values, list(r.model_ids), list(r.item_ids)


def _c_setup(kind: str, guess, n_choices, n_items: int):
  """(c_mode, c_init [I] or None, prior centre)."""
  if kind != "3pl":
    if guess is not None:
      raise ConfigError(f"guess applies to kind='3pl' only, got kind={kind!r}")
    return "none", None, 0.2
  if n_choices is not None:
    if int(n_choices) < 2:
      raise ConfigError(f"n_choices must be >= 2, got {n_choices}")
    centre = 1.0 / int(n_choices)
  else:
    centre = 0.2
  if guess is None or guess == "learned":
    return "learned", np.full(n_items, centre), centre
  c = np.broadcast_to(np.asarray(guess, dtype=np.float64), (n_items,)).copy()
  if not np.all((c >= 0) & (c < 1)):
    raise ConfigError("fixed guess (lower asymptote) values must lie in [0, 1)")
  return "fixed", c, centre


# Peak bytes per (padded) matrix entry of a fit, in units of the float size, plus the bool mask: the response
# buffer, the likelihood's [N, I] temporaries under the L-BFGS line search (logits, their gradient, the
# start's centred matrix) and the host's input. Measured on CPU (benchmarks/RESULTS.md, "fit_irt memory").
_FIT_FLOATS_PER_ENTRY = 6
_FIT_FIXED_BYTES = 400 * 2 ** 20   # the runtime and compiled programs


def fit_memory_bytes(n_models: int, n_items: int, dim: int = 1, dtype=None) -> int:
  """Estimated peak memory (bytes) of :func:`fit_irt` on an ``n_models x n_items`` matrix, padding included.

  The estimate that :func:`fit_irt` checks against the memory available before it starts.
  """
  size = np.dtype(resolve_dtype(dtype)).itemsize
  n_pad, i_pad = _buckets.bucket(n_models, coarse=True), _buckets.bucket(n_items)
  per_entry = _FIT_FLOATS_PER_ENTRY * size + 1
  return int(n_pad * i_pad * per_entry + (n_pad + i_pad) * (dim + 2) * size * 40 + _FIT_FIXED_BYTES)


def available_memory_bytes(device=None) -> int | None:
  """Bytes free for a fit on ``device`` (default: the first device): free accelerator memory, or on CPU the
  host's available memory (``MemAvailable``, capped by a cgroup limit); None when it cannot be read."""
  device = device or jax.devices()[0]
  if device.platform != "cpu":
    try:
      stats = device.memory_stats() or {}
      return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    except (KeyError, TypeError, AttributeError, NotImplementedError):
      return None
  free = None
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          free = int(line.split()[1]) * 1024
  except OSError:
    return None
  try:
    limit = pathlib.Path("/sys/fs/cgroup/memory.max").read_text().strip()
    used = int(pathlib.Path("/sys/fs/cgroup/memory.current").read_text())
    if limit != "max" and free is not None:
      free = min(free, int(limit) - used)
  except (OSError, ValueError):
    pass
  return free


def check_fit_memory(n_models: int, n_items: int, dim: int, dtype, *, mesh=None) -> None:
  """Raises ResponseError before a fit starts when its estimated memory exceeds what is available."""
  need = fit_memory_bytes(n_models, n_items, dim, dtype)
  devices = 1 if mesh is None else mesh.devices.size
  free = available_memory_bytes(None if mesh is None else mesh.devices.flat[0])
  if free is None:
    return
  free *= devices
  if need > free:
    gib = 2 ** 30
    raise ResponseError(
        f"fit_irt on a {n_models} x {n_items} matrix needs about {need / gib:.1f} GiB ({need} bytes, "
        f"{_FIT_FLOATS_PER_ENTRY * np.dtype(resolve_dtype(dtype)).itemsize + 1} bytes per entry), but only "
        f"{free / gib:.1f} GiB ({free} bytes) is available; fit on a subset of the models (rows) and estimate the "
        "others' abilities with estimate_ability, shard the fit over a mesh (mesh=), or use a larger machine")


def _slopes_asymptotes(p: kernels.IRTParams, config: kernels.IRTPriorConfig) -> tuple[np.ndarray, np.ndarray]:
  """Slopes [I, D] and asymptotes [I] from fitted parameters on the host (``kernels.slopes`` and
  ``kernels.asymptotes`` in numpy: run eagerly, those would compile a small program per shape)."""
  a_raw, c_raw = np.asarray(p.a_raw), np.asarray(p.c_raw)
  if config.kind == "1pl":
    a = np.ones_like(a_raw)
  else:
    a = np.exp(a_raw) if config.a_prior == "lognormal" else a_raw
  if config.c_mode == "learned":
    c = (1.0 / (1.0 + np.exp(-c_raw))).astype(c_raw.dtype)
  elif config.c_mode == "fixed":
    c = c_raw
  else:
    c = np.zeros_like(np.asarray(p.b))
  return a, c


def _start_params(y: np.ndarray, mask: np.ndarray, config: kernels.IRTPriorConfig, c_init: np.ndarray | None,
                  seed: int, padded: tuple[int, int], jitter: float = 0.01) -> kernels.IRTParams:
  """The fit's start, in numpy (no program to compile): a spectral start plus a small jitter.

  Abilities start from the leading left singular vectors (randomised subspace iteration, ``O(N I (D + 4))``) of
  the centred, mean-filled response matrix (unit variance); slopes from the matching right singular vectors;
  intercepts from the item means. The random draws come from ``numpy.random.default_rng(seed)``.

  Args:
    y: [N, I] responses of the real models and items (0 where unobserved). mask: [N, I] bool.
    config: the fit's config. c_init: [I_pad] asymptotes (fixed values, or the start when learned), or None.
    seed: the fit's seed. padded: (N_pad, I_pad), the bucketed shape; padded parameters are zeros (asymptotes:
      ``c_init``'s padding), and never move (they get no gradient).
    jitter: sd of the Gaussian jitter added to theta and a.

  Returns:
    :class:`kernels.IRTParams` of the padded shape, in ``y``'s dtype.
  """
  n, i = y.shape
  d, dt = config.dim, y.dtype
  rng = np.random.default_rng(seed)
  count = mask.sum(0)
  col_mean = np.clip(np.where(mask, y, 0).sum(0, dtype=np.float64) / np.maximum(count, 1), 0.02, 0.98).astype(dt)
  centred = np.where(mask, y, col_mean[None, :])
  centred -= col_mean[None, :]      # unobserved entries centre to 0
  width = min(d + 4, n, i)
  q, _ = np.linalg.qr(centred @ rng.standard_normal((i, width)).astype(dt))
  for _ in range(3):
    q, _ = np.linalg.qr(centred @ (centred.T @ q))
  ub, s, vt = np.linalg.svd(q.T @ centred, full_matrices=False)
  u = q @ ub
  k = min(d, width)
  theta0 = u[:, :k] * np.sqrt(n)
  # Orient each component so that its abilities correlate with the row mean (positive manifold).
  sign = np.sign(np.sum(theta0 * centred.sum(1)[:, None], 0))
  sign = np.where(sign == 0, 1.0, sign)
  theta0 = theta0 * sign
  load = (vt[:k].T * s[:k] * sign) / np.sqrt(n) * 4.0   # logit slope ~ 4 x prob slope
  del centred
  theta = np.zeros((padded[0], d), dt)
  theta[:n, :k] = np.clip(theta0, -4.0, 4.0)
  theta[:n] += jitter * rng.standard_normal((n, d))
  a_raw = np.zeros((padded[1], d), dt)
  if config.kind != "1pl":
    lo = np.zeros((i, d))
    lo[:, :k] = load
    if config.a_prior == "lognormal":
      a_raw[:i] = np.log(np.clip(np.abs(lo), 0.25, 4.0)) + jitter * rng.standard_normal((i, d))
    else:
      a_raw[:i] = np.clip(lo, -4.0, 4.0) + jitter * rng.standard_normal((i, d))
      a_raw[:i, 0] = np.where(np.abs(a_raw[:i, 0]) < 0.1, 0.5, a_raw[:i, 0])
  c_pad = np.zeros(padded[1], dt) if c_init is None else np.asarray(c_init, dt)
  c0 = c_pad[:i].astype(np.float64)
  p_adj = np.clip((col_mean - c0) / (1.0 - c0), 0.02, 0.98)
  b = np.zeros(padded[1], dt)
  b[:i] = -np.log(p_adj / (1.0 - p_adj))
  c_raw = np.log(c_pad / (1.0 - c_pad)) if config.c_mode == "learned" else c_pad
  hyper = np.asarray([config.b_mean, np.log(config.b_sd), config.a_mean, np.log(config.a_sd)], dt)
  return kernels.IRTParams(theta, a_raw, b, c_raw.astype(dt), hyper)


def fit_irt(Y, kind: str = "2pl", dim: int | str = 1, *, seed: int = 0, priors: IRTPriors | None = None,
            guess=None, n_choices: int | None = None, likelihood: str = "bernoulli",
            threshold: float = 0.5, dtype=None, mesh: jax.sharding.Mesh | None = None,
            mesh_axes: tuple[str | None, str | None] = ("models", None), max_iter: int = 3000,
            ftol: float | None = None, gtol: float = 1e-9, chunk: int = 50, progress: bool | None = None,
            model_ids=None, item_ids=None, dims: Sequence[int] = (1, 2, 3, 5),
            prior_scales: Sequence[float] | None = None, holdout: float = 0.1) -> IRTModel:
  """Fits an IRT model by MAP (L-BFGS, jit-compiled).

  Args:
    Y: [n_models, n_items] responses: numpy array, DataFrame (index = model ids, columns = item
      ids), file path, ``datasets.Dataset`` or :class:`tinyjax.data.Responses`. 0/1 or scores in
      [0, 1]; NaN = missing.
    kind: "1pl", "2pl" or "3pl".
    dim: latent dimension, or "auto" to pick dimension and prior strength by held-out
      log-likelihood on masked entries (see :func:`select_dim`).
    seed: seed of the start's jitter (and of the held-out mask with ``dim="auto"``). The same seed
      gives the same result.
    priors: :class:`IRTPriors`; defaults if None.
    guess: 3PL lower asymptote: None/"learned" (fitted, prior centred at 1/n_choices), or a fixed
      scalar or [n_items] array (e.g. 1/n_choices).
    n_choices: number of answer options, centring the learned asymptote's prior (3PL).
    likelihood: "bernoulli" (0/1, or fractional Bernoulli for scores in [0, 1]) or "binarize"
      (scores >= ``threshold`` count as correct).
    threshold: binarization threshold.
    dtype: "float32" (default) or "float64" (needs jax_enable_x64).
    mesh: optional ``jax.sharding.Mesh``; the response matrix and abilities are sharded over
      ``mesh_axes[0]`` (models) and, if given, items over ``mesh_axes[1]``.
    mesh_axes: mesh axis names for the models and items dimensions (None = replicated).
    max_iter: iteration cap.
    ftol: relative objective tolerance (default 1e-5 in float32, 1e-9 in float64).
    gtol: max-abs gradient tolerance.
    chunk: iterations per compiled chunk (the progress bar updates between chunks).
    progress: True shows a progress bar, False never, None shows one when the fit runs over 2 s. The bar
      counts iterations up to ``max_iter`` and ends at done when the fit converges earlier.
    model_ids, item_ids: ids for array input.
    dims, prior_scales, holdout: search grid and held-out fraction for ``dim="auto"``.

  Returns:
    :class:`IRTModel`; ``model.fit_info`` reports iterations, objective and convergence.

  Raises:
    ConfigError: for a bad setting (a seed that is not a non-negative int included, checked before any work),
      and when the fit turns non-finite (the message says what to try: ``dtype="float64"``, a stronger prior,
      or checking the data).
    ResponseError: an invalid matrix (see :func:`tinyjax.data.load_responses`), or one too small to fit: fewer
      than 2 models or 2 items; or, before any work, a matrix whose fit needs more memory than is available
      (:func:`fit_memory_bytes`; the message names both).

  Models and items are padded to bucket sizes (``tinyjax._buckets``) with unobserved entries whose parameters
  are left out of the objective, so that matrices of nearby shapes reuse the compiled programs; the result is
  the unpadded fit's (to float rounding).
  """
  seed = check_seed(seed)
  progress = check_progress(progress)
  kind = kind.lower() if isinstance(kind, str) else kind
  if kind == "mirt":
    kind = "2pl"
  check_choice(kind, KINDS, "kind")
  values, mids, iids = _prepare_responses(Y, likelihood, threshold, model_ids, item_ids)
  if values.shape[0] < 2 or values.shape[1] < 2:
    raise ResponseError(
        f"an IRT fit needs at least 2 models and 2 items (abilities and item parameters are only identified "
        f"relative to each other), got {values.shape[0]} x {values.shape[1]}")
  if isinstance(dim, str):
    if dim != "auto":
      raise ConfigError(f"dim must be a positive int or 'auto', got {dim!r}")
    sel = select_dim(values, kind=kind, dims=dims, prior_scales=prior_scales, holdout=holdout, seed=seed,
                     priors=priors, guess=guess, n_choices=n_choices, dtype=dtype, max_iter=max_iter,
                     progress=progress)
    priors = dataclasses.replace(priors or IRTPriors(), scale=sel.prior_scale)
    dim = sel.dim
  dim = check_count(dim, "dim")
  if kind == "1pl" and dim != 1:
    raise ConfigError("kind='1pl' is unidimensional; use kind='2pl' with dim > 1 for a multidimensional model")
  max_iter = check_count(max_iter, "max_iter")
  chunk = check_count(chunk, "chunk")
  priors = priors or IRTPriors()
  n, i = values.shape
  c_mode, c_init, c_centre = _c_setup(kind, guess, n_choices, i)
  config = priors.resolve(kind, dim, n, c_mode, c_centre)
  dt = resolve_dtype(dtype)
  if ftol is None:
    ftol = 1e-5 if dt == np.float32 else 1e-9
  # Rows and items are padded to bucket sizes (and to a multiple of the shard count on a mesh) with unobserved
  # entries, so that matrices of nearby shapes share compiled programs: padded entries add nothing to the
  # likelihood, the priors of padded parameters are left out (kernels.irt_objective's rows/items), and the
  # results are sliced back.
  row_ax, col_ax = mesh_axes if mesh is not None else (None, None)
  n_pad = _buckets.bucket(n, coarse=True)
  i_pad = _buckets.bucket(i)
  n_pad += -n_pad % (mesh.shape[row_ax] if row_ax else 1)
  i_pad += -i_pad % (mesh.shape[col_ax] if col_ax else 1)
  check_fit_memory(n_pad, i_pad, dim, dt, mesh=mesh)
  # 0/1 answers (NaN = unobserved) go to the device as int8 signed answers, below.
  signed = bool(np.all((values == 0) | (values == 1) | np.isnan(values)))
  # The prior strength grows with the number of models: traced, not part of the static config.
  static_config = config._replace(prior_scale=1.0)
  steps0 = min(chunk, max_iter)
  ahead = None if mesh is not None else _compile_fit_ahead(n_pad, i_pad, dim, dt, signed, static_config, steps0,
                                                           ftol, gtol)
  # One float buffer and one bool mask, built in place: no float64 or unpadded copies kept alive (0/1 answers go
  # to the device as one int8 array of signed answers instead, below).
  mask = np.zeros((n_pad, i_pad), bool)
  np.logical_not(np.isnan(values), out=mask[:n, :i])
  y = np.zeros((n_pad, i_pad), dt)
  np.copyto(y[:n, :i], values, casting="unsafe", where=mask[:n, :i])   # unobserved entries stay 0
  del values
  if c_init is not None:
    c_init = _buckets.pad_to(c_init, (i_pad,), c_centre)
  rows, items = _buckets.valid(n, n_pad), _buckets.valid(i, i_pad)
  n_obs = _buckets.device_array(np.count_nonzero(mask), np.int32)
  t0 = time.perf_counter()
  # The start on the real (unpadded) entries, padded parameters at their padding values (they never move).
  state = kernels.irt_fit_init(_start_params(y[:n, :i], mask[:n, :i], config, c_init, seed, (n_pad, i_pad)))
  if signed:
    # 0/1 answers go to the device as int8 signed answers (+1 right, -1 wrong, 0 unobserved), which hold the
    # mask too: one byte an entry, and a fused reduction without bool operands or selects (see kernels._irt)
    code = y.astype(np.int8)
    code *= 2
    code -= 1
    code *= mask
    y, mask = code, None
  if mesh is not None:
    from jax.sharding import NamedSharding, PartitionSpec as P
    sharding = NamedSharding(mesh, P(row_ax, col_ax))
    y_dev, m_dev = jax.device_put(y, sharding), None if mask is None else jax.device_put(mask, sharding)
    rows_dev = jax.device_put(rows, NamedSharding(mesh, P(row_ax)))
    items_dev = jax.device_put(items, NamedSharding(mesh, P(col_ax)))
  else:
    y_dev, m_dev = jax.device_put(y), jax.device_put(mask)
    rows_dev, items_dev = jax.device_put(rows), jax.device_put(items)
  del y, mask   # the device holds them now (on CPU the host copies would double the memory)
  scale = _buckets.device_array(config.prior_scale, dt)
  state = jax.device_put(state, None if mesh is None else NamedSharding(mesh, P()))
  if ahead is not None:
    ahead.join()
  info = None
  done = 0
  with progress_bar(max_iter, desc=f"fit {kind} dim={dim}", progress=progress, unit="it") as bar:
    while done < max_iter:
      steps = min(chunk, max_iter - done)
      state, info = _fit_chunk_jit(state, y_dev, m_dev, static_config, steps, ftol, gtol,
                                   rows=rows_dev, items=items_dev, prior_scale=scale, n_obs=n_obs)
      new_done = int(state.step)
      bar.update(new_done - done)
      bar.set_postfix(objective=f"{float(info.value):.5f}")
      done = new_done
      if bool(state.converged) or not bool(info.is_finite):
        break
  if not bool(info.is_finite):
    raise ConfigError(
        f"the IRT fit produced non-finite values after {done} iterations; try dtype='float64', a stronger "
        "prior (IRTPriors(scale=...)), or check the data")
  p = kernels.irt_unflatten(np.asarray(jax.device_get(state.solver.params)), n_pad, i_pad, dim)
  a, c = _slopes_asymptotes(p, config)
  a, c = a[:i], c[:i]
  fit_info = FitInfo(n_iter=done, objective=float(info.value), converged=bool(state.converged),
                     grad_norm=float(info.grad_norm), seconds=time.perf_counter() - t0,
                     prior_scale=config.prior_scale)
  return IRTModel(kind=kind, dim=dim, a=a, b=np.asarray(p.b)[:i], c=c, theta=np.asarray(p.theta)[:n],
                  item_ids=iids, model_ids=mids, priors=priors, config=config, likelihood=likelihood,
                  threshold=threshold, fit_info=fit_info)


# ---------------------------------------------------------------------------------------------


def _prepare_answers(model: IRTModel, Y_new, items):
  """Item indices [k] and the answers [n, k] as a numeric ndarray (the caller's, not copied; NaN = not answered).

  Shapes, ids and non-numeric entries are checked here; the values themselves (in [0, 1], at least one answer a
  row) are checked by the ability program, and :func:`_check_answers` then names the first bad one.
  """
  from tinyjax.data import check_matrix
  from tinyjax.data.responses import columns_by_id

  by_id = columns_by_id(Y_new, model.item_ids, name="Y_new") if items is None else None
  if by_id is not None:   # a Responses read with item ids, a DataFrame with item-id columns: matched by id
    Y_new, items = by_id
  idx = model._items(items)
  arr = np.asarray(Y_new.values if hasattr(Y_new, "values") and not isinstance(Y_new, np.ndarray) else Y_new)
  if arr.ndim == 1:
    arr = arr[None, :]
  if not (arr.ndim == 2 and arr.size and arr.dtype.kind in "biuf"):
    arr = check_matrix(arr, name="Y_new")   # the one matrix validation: shape and non-numeric entries named
  if arr.shape[1] != idx.size:
    raise ResponseError(
        f"Y_new has {arr.shape[1]} columns but {idx.size} items are given "
        f"({'all model items' if items is None else 'items'}); pass items= to match the columns")
  return idx, arr


def _check_answers(arr: np.ndarray, all_answered: bool, in_range: bool) -> None:
  """Raises the ResponseError of bad answers that the ability program found (a row without answers, a value
  outside [0, 1]), naming the first; the host looks at the answers only then."""
  from tinyjax.data import check_matrix

  if not in_range:
    check_matrix(arr, name="Y_new")   # names the first value outside [0, 1] (or infinite)
    raise ResponseError("Y_new holds values outside [0, 1]")
  if not all_answered:
    rows = np.flatnonzero(np.isnan(arr).all(1) if arr.dtype.kind == "f" else np.zeros(len(arr), bool))
    raise ResponseError(f"{rows.size} row(s) of Y_new have no answered item (first: {rows[:5].tolist()}); "
                        "an ability needs at least one answer")


def _answers_buffer(arr: np.ndarray, rows: slice, shape: tuple[int, int], dtype) -> jax.Array:
  """``arr[rows]`` in a [R, K] array padded with NaN, on the device: one host copy, and none on CPU.

  The buffer is 64-byte aligned and never written again, so ``device_put(may_alias=True)`` hands it to the CPU
  device as it is.
  """
  dtype = np.dtype(dtype)
  nbytes = shape[0] * shape[1] * dtype.itemsize
  raw = np.empty(nbytes + 64, np.uint8)
  off = -raw.ctypes.data % 64
  buf = raw[off:off + nbytes].view(dtype).reshape(shape)
  part = arr[rows]
  n, k = part.shape
  buf[:n, :k] = part
  buf[:n, k:] = np.nan
  buf[n:] = np.nan
  return jax.device_put(buf, may_alias=True)


def estimate_ability(model: IRTModel, Y_new, items=None, method: str = "map", *, prior: str = "fit",
                     max_iter: int = 50, n_eap_points: int | None = None, seed: int = 0,
                     batch_size: int | None = None) -> Ability:
  """Estimates abilities of many models at once (vmapped), with standard errors.

  One call runs one compiled program over all its models (up to 131,072 a program; more are several programs)
  and reads the results back once. The models axis is padded to a :func:`tinyjax._buckets.bucket` size (at
  least 256) and the items axis too, so the number of compiled programs stays bounded whatever the shapes.
  With dim 1, MLE/MAP run Fisher scoring in closed form from a start read off the tabulated score equation
  (one iteration for a row that answered every item, a few otherwise), and EAP weighs one fixed grid over the prior (128 points over +-7 prior sd, by
  matrix products); rows whose posterior that grid does not resolve (sd below its spacing, or weight at its
  ends) are recomputed on a grid around their MAP, as for dim 2.

  Args:
    model: a fitted :class:`IRTModel`.
    Y_new: [n, k] answers on item indices ``items`` (all the model's items if None); NaN = not
      answered, so each row may cover a different subset. A 1-D array is one model. With ``items=None``,
      answers that carry item ids (a DataFrame's columns, a :class:`tinyjax.data.Responses` read with ids, such
      as a csv header) are matched to the model's items by id, in any order and any subset.
    items: [k] item indices into the model's items, or None.
    method: "mle" (Fisher scoring; rows with all answers right or all wrong diverge and are flagged
      in ``diverged`` with theta = +-inf), "map" (Gaussian prior, always finite) or "eap"
      (posterior mean on a quadrature grid for dim <= 2, importance sampling otherwise).
    prior: "fit" uses the fit's N(0, theta_sd^2) prior; "empirical" uses the mean and covariance of
      the training models' abilities.
    max_iter: Newton iteration cap (MLE/MAP, and the MAP centre of an EAP grid).
    n_eap_points: grid points per dimension (dim 1: the fixed grid, default 128, and the grid around the MAP,
      default 61; dim 2: default 41) or importance draws (dim > 2, default 2000).
    seed: seed of the importance-sampling draws (EAP with dim > 2).
    batch_size: models per block inside the program (rounded down to a power of 2, at most
      ``tinyjax._buckets.ROW_BLOCK`` = 256; None: 256). Blocks keep their answers in cache; the result does not
      depend on it.

  Returns:
    :class:`Ability` with theta [n, dim], se [n, dim], converged [n], diverged [n], n_iter [n]. For the dim-1
    EAP, ``n_iter`` is 0 and ``converged`` True where the fixed grid resolved the posterior.
  """
  check_choice(method, METHODS, "method")
  seed = check_seed(seed)
  max_iter = check_count(max_iter, "max_iter")
  idx, arr = _prepare_answers(model, Y_new, items)
  dt = model.a.dtype
  d = model.dim
  # Items are padded to a bucket size (unanswered, a = b = c = 0: they add nothing) and rows to a bucket size
  # (rows that answer nothing, sliced off), so that nearby shapes share one compiled program (tinyjax._buckets).
  k = idx.size
  k_pad = _buckets.bucket(k)
  a_sel, b_sel, c_sel = model.a[idx], model.b[idx], model.c[idx]
  a, b, c = (_buckets.device_array(_buckets.pad_to(x, (k_pad,) + x.shape[1:]), dt) for x in (a_sel, b_sel, c_sel))
  item_valid = _buckets.device_array(_buckets.valid(k, k_pad))
  if prior == "fit":
    mean = np.zeros(d)
    cov = np.eye(d) * model.config.theta_sd ** 2
  elif prior == "empirical":
    mean = model.theta.mean(0)
    cov = np.atleast_2d(np.cov(model.theta, rowvar=False)) + 1e-6 * np.eye(d)
  else:
    raise ConfigError(f"prior must be 'fit' or 'empirical', got {prior!r}")
  prec = np.linalg.inv(cov)
  sd0 = math.sqrt(cov[0, 0])
  if method in ("mle", "map"):
    kind = "newton"
    if method == "mle":
      prec = np.zeros_like(prec)
    extra = mean[0] + sd0 * np.linspace(-_GRID_RANGE, _GRID_RANGE, _START_POINTS)   # the start curve's points
  elif d == 1:
    kind = "eap_table"
    extra = (np.linspace(-_GRID_RANGE, _GRID_RANGE, n_eap_points or _EAP_TABLE_POINTS),
             np.linspace(-6.0, 6.0, n_eap_points or 61)[:, None])
  elif d == 2:
    kind = "eap_grid"
    z = np.linspace(-6.0, 6.0, n_eap_points or 41)
    extra = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, d)
  else:
    kind = "eap_is"
    extra = jax.random.normal(jax.random.key(seed), (n_eap_points or 2000, d), dt)
  extra = jax.tree.map(lambda x: _buckets.device_array(x, dt), extra)
  mean_j, prec_j = _buckets.device_array(mean, dt), _buckets.device_array(prec, dt)
  threshold = _buckets.device_array(model.threshold, dt)
  bs = _buckets.ROW_BLOCK if batch_size is None else max(1, min(int(batch_size), _buckets.ROW_BLOCK))
  block = 1 << (bs.bit_length() - 1)   # a power of 2 divides every rows bucket
  guessing = bool(np.any(c_sel != 0))
  n = arr.shape[0]
  outs = []
  for start in range(0, n, _ABILITY_CHUNK):
    rows = min(_ABILITY_CHUNK, n - start)
    r_pad = -(-_buckets.bucket(rows, _buckets.ROW_BLOCK) // block) * block   # a bucket is a multiple of block
    y = _answers_buffer(arr, slice(start, start + rows), (r_pad, k_pad), dt)
    outs.append(_ability_program(y, np.int32(rows), item_valid, a, b, c, mean_j, prec_j, threshold, extra,
                                 method=kind, max_iter=max_iter, block=block, guessing=guessing,
                                 binarize=model.likelihood == "binarize"))
  outs = jax.device_get(outs)   # the one transfer back
  _check_answers(arr, all(o[1].all() for o in outs), all(o[2].all() for o in outs))
  field = lambda f: np.concatenate([getattr(o[0], f)[:min(_ABILITY_CHUNK, n - j * _ABILITY_CHUNK)]
                                    for j, o in enumerate(outs)])
  return Ability(theta=field("theta"), se=field("se"), converged=field("converged"), diverged=field("diverged"),
                 n_iter=field("n_iter"), method=method)


# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DimSelection:
  """Result of :func:`select_dim`.

  Attributes:
    dim: chosen dimension.
    prior_scale: chosen prior strength.
    table: list of dicts (dim, prior_scale, heldout_logloss, n_iter, converged), one per candidate.
  """

  dim: int
  prior_scale: float
  table: list


def heldout_logloss(model: IRTModel, values: np.ndarray, heldout: np.ndarray, rows=None) -> float:
  """Mean Bernoulli log-loss of the model on entries ``heldout`` [N, I] of ``values`` [N, I].

  Uses the training abilities ``model.theta`` (rows of ``values`` must be the training models).
  """
  p = model.predict_proba(model.theta if rows is None else model.theta[rows])
  p = np.clip(p, 1e-7, 1 - 1e-7)
  y = values[heldout]
  pp = p[heldout]
  return float(-np.mean(y * np.log(pp) + (1 - y) * np.log1p(-pp)))


def holdout_mask(values: np.ndarray, fraction: float, *, seed: int = 0) -> np.ndarray:
  """A seeded boolean mask [N, I] over observed entries, keeping every row and column observed."""
  if not 0.0 < fraction < 0.5:
    raise ConfigError(f"holdout fraction must lie in (0, 0.5), got {fraction}")
  seed = check_seed(seed)
  obs = ~np.isnan(values)
  rng = np.random.default_rng(seed)
  held = obs & (rng.random(values.shape) < fraction)
  # Never hold out a row's or column's last observation.
  for axis in (0, 1):
    left = (obs & ~held).sum(axis)
    empty = np.flatnonzero(left == 0)
    for e in empty:
      sl = (slice(None), e) if axis == 0 else (e, slice(None))
      first = np.flatnonzero(held[sl])[0]
      if axis == 0:
        held[first, e] = False
      else:
        held[e, first] = False
  return held


def select_dim(Y, kind: str = "2pl", dims: Sequence[int] = (1, 2, 3, 5),
               prior_scales: Sequence[float] | None = None, holdout: float = 0.1, *, seed: int = 0,
               priors: IRTPriors | None = None, progress: bool | None = None, **fit_kwargs) -> DimSelection:
  """Chooses the dimension and prior strength by held-out log-likelihood on masked entries.

  A seeded ``holdout`` fraction of the observed entries is hidden, each candidate (dim, prior
  scale) is fitted on the rest, and the one with the lowest mean held-out log-loss wins.

  Args:
    Y: responses as for :func:`fit_irt`.
    kind: model kind.
    dims: candidate dimensions.
    prior_scales: candidate prior strengths; None tries only the default ("auto") strength.
    holdout: fraction of observed entries hidden.
    seed: seed of the mask and of the fits.
    priors: base priors.
    progress: a bar over the candidates (True, False, or None: shown when the search runs over 2 s); each
      candidate's score is also logged at INFO level on the ``tinyjax.irt`` logger.
    **fit_kwargs: passed to :func:`fit_irt` (its own ``progress`` is off inside the search).

  Returns:
    :class:`DimSelection`.
  """
  values, _, _ = _prepare_responses(Y, fit_kwargs.pop("likelihood", "bernoulli"),
                                    fit_kwargs.pop("threshold", 0.5))
  seed = check_seed(seed)
  progress = check_progress(progress)
  held = holdout_mask(values, holdout, seed=seed)
  train = np.where(held, np.nan, values)
  base = priors or IRTPriors()
  scales = [base.scale] if prior_scales is None else list(prior_scales)
  fit_kwargs["progress"] = False
  candidates = [(int(d), s) for d in dims if not (kind == "1pl" and d != 1) for s in scales]
  table = []
  with progress_bar(len(candidates), desc=f"select_dim {kind}", progress=progress, unit="fit") as bar:
    for d, s in candidates:
      m = fit_irt(train, kind=kind, dim=d, seed=seed, priors=dataclasses.replace(base, scale=s), **fit_kwargs)
      ll = heldout_logloss(m, values, held)
      row = {"dim": d, "prior_scale": m.fit_info.prior_scale, "heldout_logloss": ll,
             "n_iter": m.fit_info.n_iter, "converged": m.fit_info.converged}
      table.append(row)
      _log.info("select_dim: dim=%d prior_scale=%.3g held-out log-loss %.5f", d, row["prior_scale"], ll)
      bar.update(1)
  best = min(table, key=lambda r: r["heldout_logloss"])
  return DimSelection(dim=best["dim"], prior_scale=best["prior_scale"], table=table)
