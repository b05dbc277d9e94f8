"""Training-data selection by density (coverage) sampling, after Sachdeva et al. (2024), "How to Train
Data-Efficient LLMs".

Each example's density in an embedding space is estimated with a Gaussian-LSH count sketch
(:class:`DensitySketch`, :func:`density_scores`). The sketch streams over chunks, so the embeddings can live
in a ``.npy`` file on disk, a memory-mapped array or a ``datasets`` column. Examples are then drawn without
replacement with probability proportional to ``1 / density`` (:func:`inverse_density_sample`,
:func:`density_sample`), which spreads the sample over the space. :func:`exact_kde_log_density` is the exact
Gaussian KDE reference for small ``n``; :func:`top_k` and :func:`bottom_k` are the deterministic baselines.

Ask-LLM quality scoring, the paper's other method, lives with the LLM scorer in
:mod:`tinyjax.scoring.ask_llm`; its names (:func:`ask_llm_scores`, :func:`add_ask_llm_column`,
:data:`ASK_LLM_TEMPLATE`, :func:`ask_llm_prompt_ids`) are re-exported here, and :func:`select_top_k` keeps the
best-scored rows of a dataset. The dependency runs one way: selection may load the scorer, never the reverse.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_choice, check_count, check_seed
from tinyjax.choices import SELECTION_STRATEGIES
from tinyjax._dtypes import resolve_dtype
from tinyjax.errors import ConfigError, InputError, ItemError, MissingFileError

__all__ = (
    "ASK_LLM_TEMPLATE",
    "STRATEGIES",
    "DensitySketch",
    "add_ask_llm_column",
    "ask_llm_prompt_ids",
    "ask_llm_scores",
    "bottom_k",
    "default_bucket_width",
    "density_sample",
    "density_scores",
    "equivalent_gaussian_bandwidth",
    "exact_kde_log_density",
    "inverse_density_sample",
    "select_top_k",
    "top_k",
)

# Ask-LLM lives in tinyjax.scoring.ask_llm (it needs the LLM scorer, hence flax); imported on first use.
_ASK_LLM_NAMES = ("ASK_LLM_TEMPLATE", "add_ask_llm_column", "ask_llm_prompt_ids", "ask_llm_scores")


def __getattr__(name: str):
  if name in _ASK_LLM_NAMES:
    from tinyjax.scoring import ask_llm
    return getattr(ask_llm, name)
  raise AttributeError(f"module 'tinyjax.selection' has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# Embedding sources: a .npy path, an array (memory-mapped or not), or a `datasets` column.
# --------------------------------------------------------------------------------------------------


class _Source:
  """Row-chunk access to an [N, D] embedding matrix without loading it whole."""

  def __init__(self, embeddings: Any, column: str | None):
    self._path = None
    self._array = None
    self._dataset = None
    self._column = column
    if isinstance(embeddings, (str, os.PathLike)):
      path = pathlib.Path(embeddings)
      if not path.exists():
        raise MissingFileError(f"no such embeddings file: {path}")
      if path.suffix != ".npy":
        raise InputError(f"embeddings file must be a .npy file, got {path}")
      header = np.load(path, mmap_mode="r")            # reads the header only; nothing is loaded
      if not isinstance(header, np.memmap):
        raise InputError(f"{path} does not hold a plain numeric array")
      self._check_dtype(header.dtype, str(path))
      self.shape = tuple(header.shape)
      self._dtype = header.dtype
      if header.flags.c_contiguous:
        self._path, self._offset = path, int(header.offset)
      else:                                            # Fortran order: fall back to the memory map
        self._array = header
      del header
    elif _is_dataset(embeddings):
      if column is None:
        raise InputError("a datasets.Dataset needs column=... naming the embedding column")
      if column not in embeddings.column_names:
        raise InputError(f"column {column!r} not in the dataset (columns: {embeddings.column_names})")
      self._dataset = embeddings.with_format("numpy", columns=[column])
      first = self._dataset[0:1][column]
      if first.ndim != 2:
        raise InputError(f"column {column!r} must hold fixed-length vectors; got rows of shape {first.shape[1:]}")
      self._check_dtype(first.dtype, f"column {column!r}")
      self.shape = (len(embeddings), first.shape[1])
    else:
      array = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings)
      self._check_dtype(array.dtype, "embeddings")
      self._array = array
      self.shape = tuple(array.shape)
    if len(self.shape) != 2:
      raise InputError(f"embeddings must be a 2-D [N, D] array, got shape {self.shape}")
    if self.shape[0] == 0 or self.shape[1] == 0:
      raise InputError(f"embeddings are empty: shape {self.shape}")

  @staticmethod
  def _check_dtype(dtype: np.dtype, what: str) -> None:
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)) or dtype == np.bool_:
      raise InputError(f"{what} must be a real numeric array, got dtype {dtype}")

  def read(self, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) as a fresh in-memory array, checked for NaN and inf."""
    if self._path is not None:
      dim = self.shape[1]
      with open(self._path, "rb") as f:
        f.seek(self._offset + start * dim * self._dtype.itemsize)
        chunk = np.fromfile(f, dtype=self._dtype, count=(stop - start) * dim).reshape(-1, dim)
    elif self._dataset is not None:
      chunk = np.asarray(self._dataset[start:stop][self._column])
      if chunk.ndim != 2 or chunk.shape[1] != self.shape[1]:
        raise InputError(f"column {self._column!r} rows {start}..{stop} are not vectors of length {self.shape[1]}")
    else:
      chunk = np.array(self._array[start:stop])
    bad = ~np.isfinite(chunk).all(axis=1)
    if bad.any():
      row = start + int(np.argmax(bad))
      raise InputError(f"embeddings contain NaN or inf (first at row {row}); clean or drop those rows first")
    return chunk

  def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
    for start in range(0, self.shape[0], chunk_size):
      yield self.read(start, min(start + chunk_size, self.shape[0]))

  def rows(self, index: np.ndarray) -> np.ndarray:
    """The rows at ``index`` (sorted, unique), one small read each."""
    if self._dataset is not None:
      return np.asarray(self._dataset[[int(i) for i in index]][self._column])
    return np.concatenate([self.read(int(i), int(i) + 1) for i in index], axis=0)


def _is_dataset(obj: Any) -> bool:
  try:
    import datasets
  except ImportError:  # pragma: no cover - datasets is a dependency
    return False
  return isinstance(obj, datasets.Dataset)


# --------------------------------------------------------------------------------------------------
# Bandwidth helpers.
# --------------------------------------------------------------------------------------------------


_equivalent_bandwidth = jax.jit(kernels.lsh_equivalent_bandwidth, static_argnums=1)


def equivalent_gaussian_bandwidth(bucket_width: float, n_hashes: int = 4, level: float = 2.0, *,
                                  dtype=None) -> float:
  """The Gaussian-kernel bandwidth h whose kernel falls to ``exp(-level)`` where the sketch's kernel does.

  The sketch's kernel is ``p(c / w)^K`` (see ``kernels.lsh_collision_probability``); the Gaussian kernel
  ``exp(-c^2 / (2 h^2))`` equals ``exp(-level)`` at ``c = sqrt(2 level) h``. This returns the h for which
  both kernels reach ``exp(-level)`` at the same distance (``kernels.lsh_equivalent_bandwidth``). The sketch's kernel has heavier tails than a
  Gaussian, so matching low in the tail (the default, level 2: two bandwidths out) ranks densities alike.

  Args:
    bucket_width: w > 0.
    n_hashes: K >= 1.
    level: > 0, the matching height is ``exp(-level)``.
    dtype: float dtype of the computation (None: float32, or float64 under jax_enable_x64).

  Returns:
    h > 0 (a float).
  """
  _check_positive(bucket_width, "bucket_width")
  _check_positive(level, "level")
  n_hashes = check_count(n_hashes, "n_hashes")
  dt = resolve_dtype(dtype)
  return float(_equivalent_bandwidth(jnp.asarray(bucket_width, dt), n_hashes, jnp.asarray(level, dt)))


def default_bucket_width(embeddings: Any, *, column: str | None = None, sample_size: int = 1000,
                         scale: float = 1.0) -> float:
  """The default bucket width: ``scale`` times the median pairwise distance of an evenly spaced sample.

  Args:
    embeddings: [N, D] source (path to a .npy file, array, memory map, or ``datasets.Dataset`` with ``column``).
    column: the embedding column of a ``datasets.Dataset``.
    sample_size: at most this many rows, evenly spaced over the data, are read.
    scale: multiplier of the median distance.

  Returns:
    w > 0.

  Raises:
    InputError: if every sampled row is identical (the median distance is 0).
  """
  return _default_width(_Source(embeddings, column), sample_size, scale)


def _default_width(source: _Source, sample_size: int, scale: float) -> float:
  n = source.shape[0]
  index = np.unique(np.linspace(0, n - 1, min(n, sample_size)).astype(np.int64))
  x = source.rows(index).astype(np.float64)
  sq = np.maximum((x**2).sum(1)[:, None] + (x**2).sum(1)[None, :] - 2 * x @ x.T, 0.0)
  dist = np.sqrt(sq[np.triu_indices(len(x), k=1)])
  median = float(np.median(dist)) if dist.size else 0.0
  if not median > 0:
    raise InputError("cannot choose a default bucket_width: the sampled embeddings are all identical; "
                     "pass bucket_width explicitly")
  return scale * median


def _check_positive(value: float, name: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
    raise ConfigError(f"{name} must be a number, got {type(value).__name__}")
  if not (math.isfinite(value) and value > 0):
    raise ConfigError(f"{name} must be a positive finite number, got {value}")


# --------------------------------------------------------------------------------------------------
# The count sketch.
# --------------------------------------------------------------------------------------------------

_lsh_init = jax.jit(kernels.lsh_init, static_argnums=(1, 2, 3))
_sketch_add = jax.jit(kernels.sketch_add, donate_argnums=0)
_sketch_query = jax.jit(kernels.sketch_query)


class DensitySketch:
  """A Gaussian-LSH count sketch that streams: :meth:`add` chunks (pass 1), then :meth:`score` them (pass 2).

  Memory is ``n_rows * n_buckets`` int32 counts plus one padded chunk, whatever the number of examples.
  Every chunk is padded to a multiple of ``chunk_size`` rows, so the jitted kernels compile once.

  Example::

    sketch = DensitySketch(dim=768, bucket_width=0.4)
    for chunk in chunks: sketch.add(chunk)
    scores = np.concatenate([sketch.score(chunk) for chunk in chunks])

  Args:
    dim: embedding dimension D.
    bucket_width: LSH bucket width w > 0; it sets the bandwidth (see :func:`equivalent_gaussian_bandwidth`).
    n_rows: independent sketch rows L (more rows: less variance, linear cost).
    n_hashes: concatenated hash functions per row K (larger K: sharper kernel).
    n_buckets: counters per row B (fewer buckets: more spurious collisions).
    chunk_size: rows per jitted call.
    seed: seed of the hash functions.
    dtype: float dtype of the projections (None: float32, or float64 under jax_enable_x64).
  """

  def __init__(self, dim: int, *, bucket_width: float, n_rows: int = 128, n_hashes: int = 4,
               n_buckets: int = 2**16, chunk_size: int = 4096, seed: int = 0, dtype=None):
    self.dim = check_count(dim, "dim")
    _check_positive(bucket_width, "bucket_width")
    self.bucket_width = float(bucket_width)
    self.n_rows = check_count(n_rows, "n_rows")
    self.n_hashes = check_count(n_hashes, "n_hashes")
    self.n_buckets = check_count(n_buckets, "n_buckets")
    self.chunk_size = check_count(chunk_size, "chunk_size")
    if self.n_rows * self.n_buckets >= 2**31:
      raise ConfigError(f"n_rows * n_buckets must be < 2**31, got {self.n_rows * self.n_buckets}")
    self.seed = check_seed(seed)
    self.dtype = resolve_dtype(dtype)
    # The hash functions use their own stream, so a sampler seeded alike draws independent noise.
    self.params = _lsh_init(jax.random.fold_in(jax.random.key(self.seed), 1), self.dim, self.n_rows, self.n_hashes,
                            jnp.asarray(self.bucket_width, self.dtype))
    self.counts = jnp.zeros(self.n_rows * self.n_buckets, jnp.int32)
    self.n_added = 0

  def _padded(self, chunk: Any) -> Iterator[tuple[jax.Array, jax.Array, int]]:
    chunk = np.asarray(chunk)
    if chunk.ndim != 2 or chunk.shape[1] != self.dim:
      raise InputError(f"chunk must be [n, {self.dim}], got shape {chunk.shape}")
    if not np.isfinite(chunk).all():
      raise InputError("chunk contains NaN or inf")
    size = self.chunk_size
    for start in range(0, chunk.shape[0], size):
      part = chunk[start:start + size].astype(self.dtype, copy=False)
      m = part.shape[0]
      if m < size:
        part = np.concatenate([part, np.zeros((size - m, self.dim), self.dtype)], axis=0)
      yield jnp.asarray(part), jnp.arange(size) < m, m

  def add(self, chunk: Any) -> DensitySketch:
    """Pass 1: adds the rows of an [n, D] chunk to the counts. Returns self."""
    for x, mask, m in self._padded(chunk):
      # Wait for the previous update before dispatching this one: at most one chunk is in flight, so memory
      # stays flat however fast chunks arrive (JAX would otherwise queue every chunk), while the caller can
      # still read the next chunk during this update.
      self.counts.block_until_ready()
      self.counts = _sketch_add(self.counts, self.params, x, mask)
      self.n_added += m
    return self

  def score(self, chunk: Any) -> np.ndarray:
    """Pass 2: the density score of each row of an [n, D] chunk.

    Returns:
      [n] float: each row's bucket count averaged over the sketch rows, an estimate of
      ``sum_j p(||x - x_j|| / w)^K`` over the added points ``x_j`` (a row that was added counts itself as 1).
    """
    if self.n_added == 0:
      raise InputError("the sketch is empty: add() the data before score()")
    out = [np.asarray(_sketch_query(self.counts, self.params, x))[:m] for x, _, m in self._padded(chunk)]
    return np.concatenate(out) if out else np.zeros(0, self.dtype)


def density_scores(embeddings: Any, *, bucket_width: float | None = None, n_rows: int = 128,
                   n_hashes: int = 4, n_buckets: int = 2**16, chunk_size: int = 4096, seed: int = 0,
                   column: str | None = None, dtype=None) -> np.ndarray:
  """Density score of every example from a Gaussian-LSH count sketch, in two streaming passes.

  Pass 1 adds every chunk's bucket counts; pass 2 scores each example by its average count over the
  sketch rows. Only one chunk is in memory at a time.

  Args:
    embeddings: [N, D] embeddings: a path to a ``.npy`` file (read chunk by chunk, never loaded whole), a
      numpy array or memory map (``np.load(path, mmap_mode="r")``), or a ``datasets.Dataset`` whose
      ``column`` holds fixed-length vectors.
    bucket_width: LSH bucket width w > 0, the bandwidth. None: :func:`default_bucket_width` (the median
      pairwise distance of 1000 evenly spaced rows).
    n_rows, n_hashes, n_buckets, chunk_size, seed, dtype: see :class:`DensitySketch`. The chunk
      size is capped at N.
    column: the embedding column when ``embeddings`` is a ``datasets.Dataset``.

  Returns:
    [N] float scores (larger = denser), each >= 1 because every example counts itself.

  Raises:
    InputError: on a bad shape or dtype, NaN or inf embeddings; ConfigError: a non-positive bucket width.
  """
  source = _Source(embeddings, column)
  n, dim = source.shape
  if bucket_width is None:
    bucket_width = _default_width(source, 1000, 1.0)
  chunk_size = min(check_count(chunk_size, "chunk_size"), n)
  sketch = DensitySketch(dim, bucket_width=bucket_width, n_rows=n_rows, n_hashes=n_hashes,
                         n_buckets=n_buckets, chunk_size=chunk_size, seed=seed, dtype=dtype)
  for chunk in source.chunks(chunk_size):
    sketch.add(chunk)
  return np.concatenate([sketch.score(chunk) for chunk in source.chunks(chunk_size)])


# --------------------------------------------------------------------------------------------------
# The exact reference.
# --------------------------------------------------------------------------------------------------

_kde_block = jax.jit(kernels.gaussian_kde_log_density, static_argnums=3)


def exact_kde_log_density(embeddings: Any, bandwidth: float, *, queries: Any = None, block_size: int = 1024,
                          normalized: bool = True, column: str | None = None, dtype=None) -> np.ndarray:
  """Exact Gaussian kernel density (log) of each query against all embeddings; O(N * M * D) work.

  Loads all N embeddings into memory: meant as the reference for small N (up to ~1e5).

  Args:
    embeddings: [N, D] data (any source accepted by :func:`density_scores`).
    bandwidth: Gaussian bandwidth h > 0.
    queries: [M, D] query points; None: the embeddings themselves (each point then counts itself).
    block_size: queries per jitted call (the last block is padded).
    normalized: include the Gaussian normaliser ``-(D/2) log(2 pi h^2)`` (it does not change rankings).
    column: the embedding column when ``embeddings`` is a ``datasets.Dataset``.
    dtype: float dtype (None: float32, or float64 under jax_enable_x64).

  Returns:
    [M] log densities ``log mean_j N(q; x_j, h^2 I)``.
  """
  _check_positive(bandwidth, "bandwidth")
  block_size = check_count(block_size, "block_size")
  dt = resolve_dtype(dtype)
  source = _Source(embeddings, column)
  data = jnp.asarray(source.read(0, source.shape[0]).astype(dt))
  q = np.asarray(data) if queries is None else _Source(queries, None).read(0, len(queries)).astype(dt)
  if q.shape[1] != data.shape[1]:
    raise InputError(f"queries have dimension {q.shape[1]}, embeddings {data.shape[1]}")
  block_size = min(block_size, q.shape[0])
  out = []
  for start in range(0, q.shape[0], block_size):
    part = q[start:start + block_size]
    m = part.shape[0]
    if m < block_size:
      part = np.concatenate([part, np.zeros((block_size - m, q.shape[1]), dt)], axis=0)
    out.append(np.asarray(_kde_block(jnp.asarray(part), data, jnp.asarray(bandwidth, dt), normalized))[:m])
  return np.concatenate(out)


# --------------------------------------------------------------------------------------------------
# Selection from scores.
# --------------------------------------------------------------------------------------------------

_gumbel_top_k = jax.jit(kernels.gumbel_top_k, static_argnums=2)


def _check_scores(scores: Any, k: int, positive: bool = False) -> np.ndarray:
  s = np.asarray(scores)
  if s.ndim != 1:
    raise InputError(f"scores must be 1-D [N], got shape {s.shape}")
  if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
    raise InputError(f"scores must be real numbers, got dtype {s.dtype}")
  if s.size == 0:
    raise InputError("scores are empty")
  if not np.isfinite(s).all():
    raise InputError(f"scores contain NaN or inf (first at index {int(np.argmax(~np.isfinite(s)))})")
  if positive and not (s > 0).all():
    raise InputError(f"density scores must be > 0 (first bad at index {int(np.argmax(s <= 0))})")
  k = check_count(k, "k")
  if k > s.size:
    raise ConfigError(f"k={k} is larger than the number of examples N={s.size}")
  return s


def top_k(scores: Any, k: int) -> np.ndarray:
  """Indices of the k largest scores, largest first (ties: lower index first).

  Args:
    scores: [N] real scores.
    k: 1 <= k <= N.

  Returns:
    [k] int64 indices.
  """
  s = _check_scores(scores, k)
  return np.argsort(-s.astype(np.float64), kind="stable")[:k]


def select_top_k(dataset, k: int, *, score_column: str = "ask_llm_score"):
  """The k rows of a ``datasets.Dataset`` with the largest ``score_column``, best first (ties: lower index), e.g.
  after :func:`add_ask_llm_column`.

  Returns:
    A ``datasets.Dataset`` of k rows.
  """
  if not _is_dataset(dataset):
    raise ItemError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
  if score_column not in dataset.column_names:
    raise ItemError(f"column {score_column!r} not in the dataset (columns: {dataset.column_names})")
  scores = np.asarray(dataset.with_format("numpy", columns=[score_column])[score_column], dtype=np.float64)
  return dataset.select(top_k(scores, k))


def bottom_k(scores: Any, k: int) -> np.ndarray:
  """Indices of the k smallest scores, smallest first (ties: lower index first). Shapes as :func:`top_k`."""
  s = _check_scores(scores, k)
  return np.argsort(s.astype(np.float64), kind="stable")[:k]


def inverse_density_sample(scores: Any, k: int, *, seed: int = 0, power: float = 1.0) -> np.ndarray:
  """Draws k distinct examples with probability proportional to ``scores ** -power``, seeded.

  Sampling is without replacement (Gumbel top-k on ``-power * log(scores)``): the result has the law of k
  successive draws, each from the remaining examples with probabilities proportional to their weights.

  Args:
    scores: [N] positive density scores (e.g. from :func:`density_scores`).
    k: 1 <= k <= N.
    seed: PRNG seed; the same seed gives the same sample.
    power: exponent of the inverse density (0: uniform sampling, 1: the paper's 1/density).

  Returns:
    [k] int64 indices, in the order drawn.
  """
  s = _check_scores(scores, k, positive=True)
  if not (isinstance(power, (int, float, np.floating, np.integer)) and math.isfinite(power) and power >= 0):
    raise ConfigError(f"power must be a finite number >= 0, got {power}")
  log_w = -float(power) * np.log(s.astype(np.float64))
  index = _gumbel_top_k(jax.random.key(check_seed(seed)),
                        jnp.asarray(log_w, resolve_dtype(None)), int(k))
  return np.asarray(index).astype(np.int64)


#: The strategies of :func:`density_sample`.
STRATEGIES = SELECTION_STRATEGIES   # the command line reads the same jax-free table


def density_sample(embeddings: Any, k: int, *, seed: int = 0, strategy: str = "inverse", power: float = 1.0,
                   **sketch_kwargs) -> np.ndarray:
  """Selects k examples by density: inverse-density sampling (coverage) or the top/bottom-k baselines.

  Args:
    embeddings: [N, D] source, as for :func:`density_scores`.
    k: number of examples, 1 <= k <= N.
    seed: seeds both the hash functions and the sampling.
    strategy: "inverse" (sample with probability proportional to density**-power, without replacement),
      "top" (the k densest) or "bottom" (the k sparsest).
    power: exponent for "inverse".
    **sketch_kwargs: passed to :func:`density_scores` (bucket_width, n_rows, n_hashes, n_buckets,
      chunk_size, column, dtype).

  Returns:
    [k] int64 indices into the embeddings.
  """
  check_choice(strategy, STRATEGIES, "strategy")
  source = _Source(embeddings, sketch_kwargs.get("column"))
  k = check_count(k, "k")
  if k > source.shape[0]:
    raise ConfigError(f"k={k} is larger than the number of examples N={source.shape[0]}")
  scores = density_scores(embeddings, seed=seed, **sketch_kwargs)
  if strategy == "top":
    return top_k(scores, k)
  if strategy == "bottom":
    return bottom_k(scores, k)
  return inverse_density_sample(scores, k, seed=seed, power=power)
