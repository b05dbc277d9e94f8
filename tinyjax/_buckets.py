"""Shape buckets: the rows and items of a jitted call are padded to a few sizes, so that many shapes share programs.

Every new array shape that reaches a jitted function compiles a new XLA program, and compiled programs are kept
for the life of the process (each holds executable memory mappings). A long training job that fits or estimates
on matrices of many shapes would otherwise compile without bound and eventually fail in XLA with "Cannot allocate
memory" (``vm.max_map_count``). tinyjax therefore pads the models and items axes of its jitted calls to
:func:`bucket` sizes, with masks: padded entries are unobserved, padded rows and items add nothing to a likelihood
or an objective, and results are sliced back to the real shape.

Sizes: at least ``minimum`` (128), powers of 2 up to 2,048, then four sizes per octave (2,560, 3,072, 3,584,
4,096, 5,120, ...), so that large matrices waste at most 25% of their memory on padding. The models axis of an IRT
fit starts at 512 (``coarse=True``).

:func:`device_array` puts a numpy array on the default device without compiling anything (``jnp.asarray`` of a
numpy array compiles a small program per shape and dtype).
"""

from __future__ import annotations

import jax
import numpy as np

MIN_BUCKET = 128
FINE_ABOVE = 2048
COARSE_MIN = 512   # the smallest models bucket of an IRT fit (coarse=True)
ROW_BLOCK = 256   # rows per call of the per-model programs (predictions, abilities, p-IRT, adaptive steps)


def bucket(n: int, minimum: int = MIN_BUCKET, *, coarse: bool = False) -> int:
  """The bucket size for ``n`` (>= n): ``minimum``, a power of 2 up to 2,048, else a quarter octave step.

  ``coarse=True`` (the models axis of an IRT fit) starts at 512 (512, 1,024, 2,048, then quarter octaves), so that
  a long job compiles few fit programs, while a fit never runs on more than twice its rows (512 and 2,048 alone
  put a 1,000-model fit on 2,048 rows: twice the work of every iteration).
  """
  n = int(n)
  if coarse:
    minimum = max(minimum, COARSE_MIN)
  if n <= minimum:
    return int(minimum)
  p = 1 << (n - 1).bit_length()        # next power of two
  if p <= FINE_ABOVE:
    return p
  step = p // 8                         # p/2 + k p/8, k = 1..4
  return -(-n // step) * step


def pad_to(x: np.ndarray, shape: tuple[int, ...], value=0) -> np.ndarray:
  """``x`` padded at the end of each axis to ``shape`` with ``value`` (``x`` itself when it already fits)."""
  x = np.asarray(x)
  if x.shape == tuple(shape):
    return x
  out = np.full(shape, value, dtype=x.dtype)
  out[tuple(slice(0, s) for s in x.shape)] = x
  return out


def valid(n: int, size: int) -> np.ndarray:
  """[size] bool, True for the first ``n`` entries (the real rows or items of a padded axis)."""
  out = np.zeros(size, bool)
  out[:n] = True
  return out


def device_array(x, dtype=None) -> jax.Array:
  """``x`` as a JAX array on the default device, converted in numpy: no program is compiled."""
  x = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
  return jax.device_put(x)


def pirt_scores(fn, y, answered, p, item_weights, items, dtype) -> np.ndarray:
  """``fn`` (the jitted ``kernels.pirt_scores``) over row blocks of :data:`ROW_BLOCK`, items padded to buckets.

  Args:
    fn: jitted ``kernels.pirt_scores``.
    y: [M, K] answers (0 where not answered). answered: [M, K] bool. p: [M, I] predictions. item_weights: [I].
    items: [K] int indices into the I items.
    dtype: the working float dtype.

  Returns:
    [M] scores: padded items weigh 0 and padded answers are unanswered, so the scores are the unpadded ones.
  """
  m, k = np.shape(y)
  i = np.shape(p)[1]
  kb, ib = bucket(k), bucket(i)
  w = device_array(pad_to(np.asarray(item_weights, dtype), (ib,)))
  idx = device_array(pad_to(np.asarray(items, np.int32), (kb,)))
  y, answered, p = np.asarray(y, dtype), np.asarray(answered, bool), np.asarray(p, dtype)
  out = []
  for start in range(0, max(m, 1), ROW_BLOCK):
    sl = slice(start, start + ROW_BLOCK)
    res = fn(device_array(pad_to(y[sl], (ROW_BLOCK, kb))), device_array(pad_to(answered[sl], (ROW_BLOCK, kb), False)),
             device_array(pad_to(p[sl], (ROW_BLOCK, ib))), w, idx)
    out.append(np.asarray(res)[:min(ROW_BLOCK, m - start)])
  return np.concatenate(out)[:m]


def clear_caches() -> None:
  """Drops every compiled JAX program of this process (tinyjax's and the caller's): ``jax.clear_caches()``.

  Compiled programs hold memory and executable memory mappings for the life of the process. tinyjax pads shapes
  to buckets so that a long job compiles a bounded number of them, and it never drops them itself (that would
  make a training job recompile its own step). Call this between phases of a long job when its memory or
  mapping count (``/proc/self/maps``; Linux allows ``vm.max_map_count``, 65,530 by default) must come down;
  the next calls compile again.
  """
  jax.clear_caches()


def enable_compilation_cache(path=None, *, min_compile_time_secs: float = 0.0) -> str:
  """Opt-in: JAX's persistent compilation cache in ``path``, so that a new process skips most compilation.

  On CPU most of a first ``fit_irt`` on a few hundred models is compilation; with the cache, a later process
  (a script run again, a notebook restarted, the next job of a sweep) loads the compiled programs from disk
  instead (``benchmarks/RESULTS.md``, "IRT: first fit"). tinyjax never turns it on by itself: this call changes
  JAX's configuration for the whole process (``jax_compilation_cache_dir`` and the size and time thresholds), so
  every program the process compiles afterwards, yours included, is written to and read from the cache. Call it
  once, at the start of the program. The ``tinyjax`` command line uses the same cache by default.

  Args:
    path: cache folder (created if missing); None: ``~/.cache/tinyjax/xla``, the command line's default.
    min_compile_time_secs: only programs that took at least this long to compile are written (0: all of them).

  Returns:
    The cache folder, as an absolute path.

  Raises:
    ConfigError: the folder cannot be created.
  """
  import os

  from tinyjax.errors import ConfigError

  folder = os.path.abspath(os.path.expanduser(os.path.join("~", ".cache", "tinyjax", "xla") if path is None
                                              else os.fspath(path)))
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as err:
    raise ConfigError(f"cannot use {folder} as the compilation cache: {err.strerror or err}") from None
  jax.config.update("jax_compilation_cache_dir", folder)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return folder
