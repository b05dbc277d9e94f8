"""Training-data selection: density (coverage) sampling and Ask-LLM quality scoring.

After Sachdeva et al. (2024), "How to Train Data-Efficient LLMs":

* **Density sampling.** Each example's density in an embedding space is estimated with a Gaussian-LSH
  count sketch (:class:`DensitySketch`, :func:`density_scores`). The sketch streams over chunks, so the
  embeddings can live in a ``.npy`` file on disk, a memory-mapped array or a ``datasets`` column. Examples
  are then drawn without replacement with probability proportional to ``1 / density``
  (:func:`inverse_density_sample`, :func:`density_sample`), which spreads the sample over the space.
  :func:`exact_kde_log_density` is the exact Gaussian KDE reference for small ``n``; :func:`top_k` and
  :func:`bottom_k` are the deterministic baselines.
* **Ask-LLM.** An instruction-tuned LLM reads each example inside the paper's prompt
  (:data:`ASK_LLM_TEMPLATE`) and the example is scored by the probability of "yes" as the next token
  (:func:`ask_llm_scores`, :func:`add_ask_llm_column`).
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._dtypes import resolve_dtype

__all__ = (
    "ASK_LLM_TEMPLATE",
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
        raise FileNotFoundError(f"no such embeddings file: {path}")
      if path.suffix != ".npy":
        raise ValueError(f"embeddings file must be a .npy file, got {path}")
      header = np.load(path, mmap_mode="r")            # reads the header only; nothing is loaded
      if not isinstance(header, np.memmap):
        raise ValueError(f"{path} does not hold a plain numeric array")
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
        raise ValueError("a datasets.Dataset needs column=... naming the embedding column")
      if column not in embeddings.column_names:
        raise KeyError(f"column {column!r} not in the dataset (columns: {embeddings.column_names})")
      self._dataset = embeddings.with_format("numpy", columns=[column])
      first = self._dataset[0:1][column]
      if first.ndim != 2:
        raise ValueError(f"column {column!r} must hold fixed-length vectors; got rows of shape {first.shape[1:]}")
      self._check_dtype(first.dtype, f"column {column!r}")
      self.shape = (len(embeddings), first.shape[1])
    else:
      array = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings)
      self._check_dtype(array.dtype, "embeddings")
      self._array = array
      self.shape = tuple(array.shape)
    if len(self.shape) != 2:
      raise ValueError(f"embeddings must be a 2-D [N, D] array, got shape {self.shape}")
    if self.shape[0] == 0 or self.shape[1] == 0:
      raise ValueError(f"embeddings are empty: shape {self.shape}")

  @staticmethod
  def _check_dtype(dtype: np.dtype, what: str) -> None:
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)) or dtype == np.bool_:
      raise ValueError(f"{what} must be a real numeric array, got dtype {dtype}")

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
        raise ValueError(f"column {self._column!r} rows {start}..{stop} are not vectors of length {self.shape[1]}")
    else:
      chunk = np.array(self._array[start:stop])
    bad = ~np.isfinite(chunk).all(axis=1)
    if bad.any():
      row = start + int(np.argmax(bad))
      raise ValueError(f"embeddings contain NaN or inf (first at row {row}); clean or drop those rows first")
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


def _collision_probability(r: float) -> float:
  """p(r) of one Gaussian LSH function at distance r * w (numpy/math twin of the kernel)."""
  if r <= 0:
    return 1.0
  phi = 0.5 * (1.0 + math.erf(-1.0 / r / math.sqrt(2.0)))
  return 1.0 - 2.0 * phi - 2.0 / math.sqrt(2.0 * math.pi) * r * (1.0 - math.exp(-1.0 / (2.0 * r * r)))


def equivalent_gaussian_bandwidth(bucket_width: float, num_hashes: int = 4, level: float = 2.0) -> float:
  """The Gaussian-kernel bandwidth h whose kernel falls to ``exp(-level)`` where the sketch's kernel does.

  The sketch's kernel is ``p(c / w)^K`` (see ``kernels.lsh_collision_probability``); the Gaussian kernel
  ``exp(-c^2 / (2 h^2))`` equals ``exp(-level)`` at ``c = sqrt(2 level) h``. This returns the h for which
  both kernels reach ``exp(-level)`` at the same distance. The sketch's kernel has heavier tails than a
  Gaussian, so matching low in the tail (the default, level 2: two bandwidths out) ranks densities alike.

  Args:
    bucket_width: w > 0.
    num_hashes: K >= 1.
    level: > 0, the matching height is ``exp(-level)``.

  Returns:
    h > 0 (a float).
  """
  _check_positive(bucket_width, "bucket_width")
  _check_positive(level, "level")
  num_hashes = _check_count(num_hashes, "num_hashes")
  target = math.exp(-level / num_hashes)
  lo, hi = 0.0, 1.0
  while _collision_probability(hi) > target:
    hi *= 2.0
  for _ in range(100):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if _collision_probability(mid) > target else (lo, mid)
  return 0.5 * (lo + hi) * float(bucket_width) / math.sqrt(2.0 * level)


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
    ValueError: if every sampled row is identical (the median distance is 0).
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
    raise ValueError("cannot choose a default bucket_width: the sampled embeddings are all identical; "
                     "pass bucket_width explicitly")
  return scale * median


def _check_positive(value: float, name: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
    raise TypeError(f"{name} must be a number, got {type(value).__name__}")
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f"{name} must be a positive finite number, got {value}")


def _check_count(value: int, name: str, minimum: int = 1) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {type(value).__name__}")
  if value < minimum:
    raise ValueError(f"{name} must be >= {minimum}, got {value}")
  return int(value)


# --------------------------------------------------------------------------------------------------
# The count sketch.
# --------------------------------------------------------------------------------------------------

_lsh_init = jax.jit(kernels.lsh_init, static_argnums=(1, 2, 3))
_sketch_add = jax.jit(kernels.sketch_add, donate_argnums=0)
_sketch_query = jax.jit(kernels.sketch_query)


class DensitySketch:
  """A Gaussian-LSH count sketch that streams: :meth:`add` chunks (pass 1), then :meth:`score` them (pass 2).

  Memory is ``num_rows * num_buckets`` int32 counts plus one padded chunk, whatever the number of examples.
  Every chunk is padded to a multiple of ``chunk_size`` rows, so the jitted kernels compile once.

  Example::

    sketch = DensitySketch(dim=768, bucket_width=0.4)
    for chunk in chunks: sketch.add(chunk)
    scores = np.concatenate([sketch.score(chunk) for chunk in chunks])

  Args:
    dim: embedding dimension D.
    bucket_width: LSH bucket width w > 0; it sets the bandwidth (see :func:`equivalent_gaussian_bandwidth`).
    num_rows: independent sketch rows L (more rows: less variance, linear cost).
    num_hashes: concatenated hash functions per row K (larger K: sharper kernel).
    num_buckets: counters per row B (fewer buckets: more spurious collisions).
    chunk_size: rows per jitted call.
    seed: seed of the hash functions.
    dtype: float dtype of the projections (None: float32, or float64 under jax_enable_x64).
  """

  def __init__(self, dim: int, *, bucket_width: float, num_rows: int = 128, num_hashes: int = 4,
               num_buckets: int = 2**16, chunk_size: int = 4096, seed: int = 0, dtype=None):
    self.dim = _check_count(dim, "dim")
    _check_positive(bucket_width, "bucket_width")
    self.bucket_width = float(bucket_width)
    self.num_rows = _check_count(num_rows, "num_rows")
    self.num_hashes = _check_count(num_hashes, "num_hashes")
    self.num_buckets = _check_count(num_buckets, "num_buckets")
    self.chunk_size = _check_count(chunk_size, "chunk_size")
    if self.num_rows * self.num_buckets >= 2**31:
      raise ValueError(f"num_rows * num_buckets must be < 2**31, got {self.num_rows * self.num_buckets}")
    self.seed = _check_count(seed, "seed", minimum=0)
    self.dtype = resolve_dtype(dtype)
    # The hash functions use their own stream, so a sampler seeded alike draws independent noise.
    self.params = _lsh_init(jax.random.fold_in(jax.random.key(self.seed), 1), self.dim, self.num_rows, self.num_hashes,
                            jnp.asarray(self.bucket_width, self.dtype))
    self.counts = jnp.zeros(self.num_rows * self.num_buckets, jnp.int32)
    self.num_added = 0

  def _padded(self, chunk: Any) -> Iterator[tuple[jax.Array, jax.Array, int]]:
    chunk = np.asarray(chunk)
    if chunk.ndim != 2 or chunk.shape[1] != self.dim:
      raise ValueError(f"chunk must be [n, {self.dim}], got shape {chunk.shape}")
    if not np.isfinite(chunk).all():
      raise ValueError("chunk contains NaN or inf")
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
      self.num_added += m
    return self

  def score(self, chunk: Any) -> np.ndarray:
    """Pass 2: the density score of each row of an [n, D] chunk.

    Returns:
      [n] float: each row's bucket count averaged over the sketch rows, an estimate of
      ``sum_j p(||x - x_j|| / w)^K`` over the added points ``x_j`` (a row that was added counts itself as 1).
    """
    if self.num_added == 0:
      raise ValueError("the sketch is empty: add() the data before score()")
    out = [np.asarray(_sketch_query(self.counts, self.params, x))[:m] for x, _, m in self._padded(chunk)]
    return np.concatenate(out) if out else np.zeros(0, self.dtype)


def density_scores(embeddings: Any, *, bucket_width: float | None = None, num_rows: int = 128,
                   num_hashes: int = 4, num_buckets: int = 2**16, chunk_size: int = 4096, seed: int = 0,
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
    num_rows, num_hashes, num_buckets, chunk_size, seed, dtype: see :class:`DensitySketch`. The chunk
      size is capped at N.
    column: the embedding column when ``embeddings`` is a ``datasets.Dataset``.

  Returns:
    [N] float scores (larger = denser), each >= 1 because every example counts itself.

  Raises:
    ValueError: on a bad shape or dtype, NaN or inf embeddings, or a non-positive bucket width.
  """
  source = _Source(embeddings, column)
  n, dim = source.shape
  if bucket_width is None:
    bucket_width = _default_width(source, 1000, 1.0)
  chunk_size = min(_check_count(chunk_size, "chunk_size"), n)
  sketch = DensitySketch(dim, bucket_width=bucket_width, num_rows=num_rows, num_hashes=num_hashes,
                         num_buckets=num_buckets, chunk_size=chunk_size, seed=seed, dtype=dtype)
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
  block_size = _check_count(block_size, "block_size")
  dt = resolve_dtype(dtype)
  source = _Source(embeddings, column)
  data = jnp.asarray(source.read(0, source.shape[0]).astype(dt))
  q = np.asarray(data) if queries is None else _Source(queries, None).read(0, len(queries)).astype(dt)
  if q.shape[1] != data.shape[1]:
    raise ValueError(f"queries have dimension {q.shape[1]}, embeddings {data.shape[1]}")
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
    raise ValueError(f"scores must be 1-D [N], got shape {s.shape}")
  if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
    raise ValueError(f"scores must be real numbers, got dtype {s.dtype}")
  if s.size == 0:
    raise ValueError("scores are empty")
  if not np.isfinite(s).all():
    raise ValueError(f"scores contain NaN or inf (first at index {int(np.argmax(~np.isfinite(s)))})")
  if positive and not (s > 0).all():
    raise ValueError(f"density scores must be > 0 (first bad at index {int(np.argmax(s <= 0))})")
  k = _check_count(k, "k")
  if k > s.size:
    raise ValueError(f"k={k} is larger than the number of examples N={s.size}")
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
    raise ValueError(f"power must be a finite number >= 0, got {power}")
  log_w = -float(power) * np.log(s.astype(np.float64))
  index = _gumbel_top_k(jax.random.key(_check_count(seed, "seed", 0)),
                        jnp.asarray(log_w, resolve_dtype(None)), int(k))
  return np.asarray(index).astype(np.int64)


_METHODS = ("inverse", "top", "bottom")


def density_sample(embeddings: Any, k: int, *, seed: int = 0, method: str = "inverse", power: float = 1.0,
                   **sketch_kwargs) -> np.ndarray:
  """Selects k examples by density: inverse-density sampling (coverage) or the top/bottom-k baselines.

  Args:
    embeddings: [N, D] source, as for :func:`density_scores`.
    k: number of examples, 1 <= k <= N.
    seed: seeds both the hash functions and the sampling.
    method: "inverse" (sample with probability proportional to density**-power, without replacement),
      "top" (the k densest) or "bottom" (the k sparsest).
    power: exponent for "inverse".
    **sketch_kwargs: passed to :func:`density_scores` (bucket_width, num_rows, num_hashes, num_buckets,
      chunk_size, column, dtype).

  Returns:
    [k] int64 indices into the embeddings.
  """
  if method not in _METHODS:
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
  source = _Source(embeddings, sketch_kwargs.get("column"))
  k = _check_count(k, "k")
  if k > source.shape[0]:
    raise ValueError(f"k={k} is larger than the number of examples N={source.shape[0]}")
  scores = density_scores(embeddings, seed=seed, **sketch_kwargs)
  if method == "top":
    return top_k(scores, k)
  if method == "bottom":
    return bottom_k(scores, k)
  return inverse_density_sample(scores, k, seed=seed, power=power)


# --------------------------------------------------------------------------------------------------
# Ask-LLM.
# --------------------------------------------------------------------------------------------------

#: The Ask-LLM prompt of Sachdeva et al. (2024, Figure 3): the example between ``###`` markers, the question
#: whether it is informative for pre-training, and the options yes / no. The wording is the paper's; the blank
#: lines follow the reference implementation nano-askllm. ``{example}`` marks where the example goes.
ASK_LLM_TEMPLATE = (
    "###\n"
    "{example}\n"
    "###\n"
    "\n"
    "Does the previous paragraph demarcated within ### and ### contain informative signal for pre-training a "
    "large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of "
    "the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n"
    "\n"
    "OPTIONS:\n"
    "- yes\n"
    "- no\n"
)

_PLACEHOLDER = "{example}"
_ASK_SCORERS: dict = {}


def _split_template(template: str) -> tuple[str, str]:
  if not isinstance(template, str) or template.count(_PLACEHOLDER) != 1:
    raise ValueError(f"template must be a str containing {_PLACEHOLDER!r} exactly once")
  prefix, suffix = template.split(_PLACEHOLDER)
  return prefix, suffix


def _ask_scorer(apply_fn, tokenizer, mesh, batch_size, max_length, kwargs):
  from tinyjax.scoring import Scorer

  key = (id(apply_fn), id(tokenizer), id(mesh), batch_size, max_length,
         tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
  entry = _ASK_SCORERS.get(key)
  if entry is None or entry[0] is not apply_fn or entry[1] is not tokenizer:
    if len(_ASK_SCORERS) >= 8:
      _ASK_SCORERS.pop(next(iter(_ASK_SCORERS)))
    scorer = Scorer(apply_fn, tokenizer, mesh=mesh, batch_size=batch_size, max_length=max_length, **kwargs)
    entry = (apply_fn, tokenizer, scorer)
    _ASK_SCORERS[key] = entry
  return entry[2]


def ask_llm_prompt_ids(tokenizer, text: str, *, template: str = ASK_LLM_TEMPLATE, max_length: int = 2048,
                       add_bos: bool = False) -> list[int]:
  """Token ids of the Ask-LLM prompt for one example, cut to fit the model window.

  The prompt is tokenized in three pieces, the template before the example, the example, and the template
  after it; their ids are concatenated. The default template joins the pieces at newlines, where BPE
  tokenizers that split on whitespace (GPT-2, Llama) would cut anyway. An example too long for the window
  loses its last tokens; the instruction is always kept whole.

  Args:
    tokenizer: anything ``tinyjax.scoring.as_tokenizer`` accepts.
    text: the example.
    template: the prompt, with ``{example}`` once.
    max_length: the model window: the prompt plus the answer token use at most ``max_length + 1`` ids, so
      the prompt has at most ``max_length`` ids.
    add_bos: start with the tokenizer's BOS (``prefix_token_id``), as Llama-family models expect.

  Returns:
    The prompt's token ids (the answer token is not included).
  """
  from tinyjax.scoring import as_tokenizer

  tok = as_tokenizer(tokenizer)
  prefix, suffix = _split_template(template)
  if not isinstance(text, str):
    raise TypeError(f"each example must be a str, got {type(text).__name__}")
  head = tok.encode(prefix) if prefix else []
  tail = tok.encode(suffix) if suffix else []
  if add_bos:
    if tok.prefix_token_id is None:
      raise ValueError("add_bos=True but the tokenizer has no BOS (or EOS) token")
    head = [tok.prefix_token_id] + head
  budget = max_length - len(head) - len(tail)
  if budget < 1:
    raise ValueError(f"the Ask-LLM template alone takes {len(head) + len(tail)} tokens, which leaves no room "
                     f"for the example in a window of {max_length}")
  body = tok.encode(text)[:budget]
  ids = head + body + tail
  if not ids:
    raise ValueError("the prompt is empty")
  return ids


def ask_llm_scores(apply_fn, params, tokenizer, texts: Sequence[str], *, template: str = ASK_LLM_TEMPLATE,
                   yes_tokens: Sequence[str] = ("yes",), add_bos: bool = False, mesh=None, batch_size: int = 8,
                   max_length: int | None = None, **scorer_kwargs) -> np.ndarray:
  """Ask-LLM quality scores: the probability that the model answers "yes" to the paper's prompt.

  Each example is put into ``template`` (:data:`ASK_LLM_TEMPLATE`), and its score is
  ``sum_y P(y | prompt)`` over the ``yes_tokens`` (one by default), each probability taken at the first
  answer position with a softmax over the full vocabulary. The computation runs on
  :class:`tinyjax.scoring.Scorer`: the same length buckets, padded batches, optional packing and mesh
  sharding, and one compilation per batch shape (scorers are cached across calls). Each yes token is one
  single-token continuation request, so m yes tokens cost m forward passes per example.

  Args:
    apply_fn: ``apply_fn(params, tokens [B, L] int32) -> logits [B, L, V]``, or a Flax NNX module.
    params: the parameters of ``apply_fn`` (for a module: None for its current state).
    tokenizer: anything ``tinyjax.scoring.as_tokenizer`` accepts.
    texts: N examples (str).
    template: the prompt, with ``{example}`` once.
    yes_tokens: the answer strings counted as "yes"; each must encode to exactly one token.
    add_bos: start each prompt with the tokenizer's BOS.
    mesh: optional ``jax.sharding.Mesh`` with a ``"data"`` axis: batches are sharded along it.
    batch_size: rows per batch.
    max_length: the model window (default: the model's ``max_length``, else 2048). Long examples are cut.
    **scorer_kwargs: other :class:`tinyjax.scoring.Scorer` settings (``buckets``, ``pack``, ``dtype``...).

  Returns:
    [N] float P("yes"), in [0, 1].
  """
  if isinstance(texts, str):
    raise TypeError("texts must be a sequence of strings, not one string")
  texts = list(texts)
  if not texts:
    raise ValueError("texts is empty")
  for i, t in enumerate(texts):
    if not isinstance(t, str):
      raise TypeError(f"texts[{i}] is a {type(t).__name__}, not a str")
  if isinstance(yes_tokens, str):
    yes_tokens = (yes_tokens,)
  yes_tokens = tuple(yes_tokens)
  if not yes_tokens:
    raise ValueError("yes_tokens is empty")
  _split_template(template)
  from tinyjax.scoring import EncodedRequest

  scorer = _ask_scorer(apply_fn, tokenizer, mesh, batch_size, max_length, scorer_kwargs)
  yes_ids = []
  for y in yes_tokens:
    ids = scorer.tokenizer.encode(y)
    if len(ids) != 1:
      raise ValueError(f"yes token {y!r} encodes to {len(ids)} tokens {ids}; each yes token must be one token")
    yes_ids.append(ids[0])
  if len(set(yes_ids)) != len(yes_ids):
    raise ValueError(f"yes_tokens {yes_tokens} map to repeated token ids {yes_ids}")
  requests = []
  for text in texts:
    prompt = ask_llm_prompt_ids(scorer.tokenizer, text, template=template, max_length=scorer.max_length,
                                add_bos=add_bos)
    requests.extend(EncodedRequest(tuple(prompt) + (y,), 1) for y in yes_ids)
  logprob, _ = scorer.score_encoded(requests, params)
  logprob = np.asarray(logprob, np.float64).reshape(len(texts), len(yes_ids))
  return np.exp(logprob).sum(axis=1).astype(np.dtype(scorer.dtype))


def add_ask_llm_column(dataset, apply_fn, params, tokenizer, *, text_column: str = "text",
                       score_column: str = "ask_llm_score", rows_per_call: int = 4096, **kwargs):
  """Scores every row of a ``datasets.Dataset`` with :func:`ask_llm_scores` and adds the scores as a column.

  Args:
    dataset: a ``datasets.Dataset`` with a string column ``text_column``.
    apply_fn, params, tokenizer: as for :func:`ask_llm_scores`.
    text_column: the column holding the examples.
    score_column: the new column (must not exist yet).
    rows_per_call: rows tokenized and scored per :func:`ask_llm_scores` call (bounds host memory).
    **kwargs: passed to :func:`ask_llm_scores` (template, yes_tokens, batch_size, mesh, ...).

  Returns:
    A new Dataset with the [N] float column ``score_column``.
  """
  if not _is_dataset(dataset):
    raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
  if text_column not in dataset.column_names:
    raise KeyError(f"column {text_column!r} not in the dataset (columns: {dataset.column_names})")
  if score_column in dataset.column_names:
    raise ValueError(f"the dataset already has a column {score_column!r}")
  if len(dataset) == 0:
    raise ValueError("the dataset is empty")
  rows_per_call = _check_count(rows_per_call, "rows_per_call")
  scores = []
  for start in range(0, len(dataset), rows_per_call):
    texts = dataset[start:start + rows_per_call][text_column]
    scores.append(ask_llm_scores(apply_fn, params, tokenizer, texts, **kwargs))
  return dataset.add_column(score_column, np.concatenate(scores).tolist())


def select_top_k(dataset, k: int, *, score_column: str = "ask_llm_score"):
  """The k rows of a ``datasets.Dataset`` with the largest ``score_column``, best first (ties: lower index).

  Returns:
    A ``datasets.Dataset`` of k rows.
  """
  if not _is_dataset(dataset):
    raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
  if score_column not in dataset.column_names:
    raise KeyError(f"column {score_column!r} not in the dataset (columns: {dataset.column_names})")
  scores = np.asarray(dataset.with_format("numpy", columns=[score_column])[score_column], dtype=np.float64)
  return dataset.select(top_k(scores, k))
