"""One model adapter for the runtime: a user's model as pure functions of its parameters.

:class:`Scorer` and :class:`Generator` both hold one :class:`ModelAdapter`. It reads what the model can do once
(packing, a separate output head, a KV cache, a cache window), splits an NNX module into its graph and state once
(``nnx.split``), and exposes the forward passes as pure functions of ``(params, arrays)``: the parameters are
traced, never closed over, and the generation cache travels as an explicit pytree, as in flax nnx's own sampler.

How a forward pass runs is a type chosen once, not a flag tested in the traced code:

* scoring (:func:`scoring_forward`): :class:`GatherLogits` (an ``apply_fn``, or a module without ``hidden`` /
  ``head``: full logits, then gathered), :class:`HeadAt` (the output projection at the scored positions only)
  and :class:`LastLayerAt` (the last layer too);
* generation (:func:`decoder_for`): :class:`Recompute` (no cache: each step reruns the whole sequence),
  :class:`OnePass` (the cache protocol, prompts prefilled in one pass) and :class:`Chunked` (a module with
  ``supports_cache_window``: the prompt prefilled in chunks, and each decode step reading only its rows' live
  window of the cache).

The adapter never sets anything on the user's model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tinyjax.errors import ConfigError, InputError
from tinyjax.scoring.models.common import GroupedCache

__all__ = ("Chunked", "GatherLogits", "HeadAt", "LastLayerAt", "ModelAdapter", "OnePass", "Recompute",
           "decoder_for", "resolve_params", "rows_per_batch", "scoring_forward")


def rows_per_batch(batch_size, mesh: jax.sharding.Mesh | None, data_axis: str) -> tuple[int, int]:
  """(rows per batch rounded up to a multiple of the data-axis size, data-axis size), after checking both."""
  if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
  n_data = 1
  if mesh is not None:
    if data_axis not in mesh.axis_names:
      raise ConfigError(f"mesh has axes {mesh.axis_names}, no data axis {data_axis!r}")
    n_data = int(mesh.shape[data_axis])
  return -(-int(batch_size) // n_data) * n_data, n_data


def resolve_params(params, module: nnx.Module | None):
  """The parameters to trace: ``params`` for an apply_fn (required); for an NNX ``module``, its state by default.

  Args:
    params: an apply_fn's parameters; for a module, None (its current state), an ``nnx.State`` or a module.
    module: the NNX module, or None when the model is an apply_fn.
  """
  if module is None:
    if params is None:
      raise ConfigError("params is None but the model is an apply_fn: pass its parameters")
    return params
  if params is None:
    return nnx.state(module)
  if isinstance(params, nnx.Module):
    return nnx.state(params)
  return params


def _strong(model):
  return lambda: model


@dataclasses.dataclass(frozen=True)
class ModelAdapter:
  """A model (an NNX module or an ``apply_fn(params, tokens) -> logits``) as pure functions of its parameters.

  Attributes:
    graphdef: the module's graph (``nnx.split`` once), or None for an apply_fn.
    ref: ``ref() -> model``; a strong reference by default, a weak one in the scorers that ``score()`` and
      ``generate()`` keep (:meth:`with_ref`).
    supports_packing: the model takes ``segment_ids=, positions=, branch_ids=``.
    has_head: a module with ``hidden`` and ``head`` (the output projection can run at chosen positions only).
    query_index: ``hidden(..., query_index=)`` runs the last layer at chosen positions only.
    has_cache: the cache protocol (``init_cache`` and ``generate_step``; see :mod:`tinyjax.scoring.generate`).
    cache_window: ``generate_step(..., kv_start=)``: attention reads a window of the cache only.
    cache_groups: ``generate_step`` takes a cache of ``GroupedCache`` layers (rows in groups of their own width).
    max_length: the model's window, or None.
    vocab_size: the model's vocabulary, or None.
  """

  graphdef: Any
  ref: Callable[[], Any]
  supports_packing: bool
  has_head: bool
  query_index: bool
  has_cache: bool
  cache_window: bool
  cache_groups: bool
  max_length: int | None
  vocab_size: int | None

  @classmethod
  def of(cls, model) -> "ModelAdapter":
    """Reads the model's capabilities and splits a module once; raises ConfigError for anything else."""
    if isinstance(model, nnx.Module):
      graphdef, _ = nnx.split(model)
    elif callable(model):
      graphdef = None
    else:
      raise ConfigError(f"model must be an apply_fn(params, tokens) or an nnx.Module, got {type(model).__name__}")
    has_head = graphdef is not None and callable(getattr(model, "hidden", None)) and callable(
        getattr(model, "head", None))
    has_cache = callable(getattr(model, "init_cache", None)) and callable(getattr(model, "generate_step", None))
    return cls(graphdef=graphdef, ref=_strong(model),
               supports_packing=bool(getattr(model, "supports_packing", False)), has_head=has_head,
               query_index=has_head and bool(getattr(model, "supports_query_index", False)), has_cache=has_cache,
               cache_window=has_cache and bool(getattr(model, "supports_cache_window", False)),
               cache_groups=has_cache and graphdef is not None and bool(getattr(model, "supports_cache_groups", False)),
               max_length=getattr(model, "max_length", None), vocab_size=getattr(model, "vocab_size", None))

  def with_ref(self, ref: Callable[[], Any]) -> "ModelAdapter":
    """The same adapter reaching its model through ``ref`` (a ``weakref.ref`` in the call-level caches)."""
    return dataclasses.replace(self, ref=ref)

  @property
  def is_module(self) -> bool:
    return self.graphdef is not None

  @property
  def model(self):
    """The model (None once a weakly referenced model is gone)."""
    return self.ref()

  def params(self, params):
    """The parameters to trace for a call's ``params`` argument (see :func:`resolve_params`)."""
    return resolve_params(params, self.model if self.is_module else None)

  def bind(self, params):
    """The model bound to traced ``params``: the merged module, or ``apply_fn(params, .)``."""
    if self.is_module:
      return nnx.merge(self.graphdef, params)
    return functools.partial(self.model, params)

  # -- pure functions of (params, arrays) -------------------------------------------------------------------
  def logits(self, params, tokens: jax.Array, **packing) -> jax.Array:
    """Logits [B, T, V] of tokens [B, T] (``packing``: segment_ids, positions, branch_ids), shape checked."""
    logits = self.bind(params)(tokens, **packing)
    if logits.ndim != 3 or logits.shape[:2] != tokens.shape:
      raise InputError(f"the model must return logits [B, L, V] for tokens {tokens.shape}, got {logits.shape}")
    return logits

  def init_cache(self, params, batch_size: int, length: int):
    """An empty cache pytree for ``batch_size`` rows and ``length`` slots."""
    if self.is_module:
      return self.bind(params).init_cache(batch_size, length)
    return self.model.init_cache(batch_size, length)

  def step(self, params, cache, tokens, positions, kv_mask, index, **window):
    """(logits [B, V], cache) after writing tokens [B, T] at slot ``index`` (``window``: optional ``kv_start``)."""
    if self.is_module:
      return self.bind(params).generate_step(tokens, positions, kv_mask, cache, index, **window)
    return self.model.generate_step(params, tokens, positions, kv_mask, cache, index, **window)


# -- scoring: the logits at the scored positions ---------------------------------------------------------------
def _take(x: jax.Array, score_index: jax.Array) -> jax.Array:
  """x [B, T, ...] -> [G, K, ...] at ``score_index`` [G, K] in the flat view of each group of rows."""
  g = score_index.shape[0]
  return jnp.take_along_axis(x.reshape(g, -1, x.shape[-1]), score_index[..., None], axis=1)


@dataclasses.dataclass(frozen=True)
class GatherLogits:
  """Full logits [B, T, V], then the scored positions: any apply_fn or module."""

  def __call__(self, adapter: ModelAdapter, params, tokens, packing: dict, score_index) -> jax.Array:
    return _take(adapter.logits(params, tokens, **packing), score_index)


@dataclasses.dataclass(frozen=True)
class HeadAt:
  """Hidden states of every position, the output projection at the scored positions only."""

  def __call__(self, adapter: ModelAdapter, params, tokens, packing: dict, score_index) -> jax.Array:
    m = adapter.bind(params)
    return m.head(_take(m.hidden(tokens, **packing), score_index))


@dataclasses.dataclass(frozen=True)
class LastLayerAt:
  """The last layer and the output projection at the scored positions only (``hidden(..., query_index=)``)."""

  def __call__(self, adapter: ModelAdapter, params, tokens, packing: dict, score_index) -> jax.Array:
    m = adapter.bind(params)
    return m.head(m.hidden(tokens, **packing, query_index=score_index))


def scoring_forward(adapter: ModelAdapter) -> GatherLogits | HeadAt | LastLayerAt:
  """The cheapest scoring forward the model supports."""
  if adapter.query_index:
    return LastLayerAt()
  if adapter.has_head:
    return HeadAt()
  return GatherLogits()


# -- generation: prefill and decode step -------------------------------------------------------------------------
def _identity(tree):
  return tree


def _prefill_rows(b: int, t: int, budget: int = 1 << 22) -> int:
  """Rows prefilled together: the largest divisor of ``b`` whose attention scores ``rows * t * t`` fit ``budget``."""
  return max(r for r in range(1, b + 1) if b % r == 0 and (r == 1 or r * t * t <= budget))


@dataclasses.dataclass(frozen=True)
class Recompute:
  """No cache: the carry is a right-aligned token buffer [B, S] and the lengths [B]; each step reruns it all."""

  constrain: Callable = _identity

  def layout(self, lengths: np.ndarray, t: int, widths) -> None:
    return None

  def prefill(self, adapter: ModelAdapter, params, tokens, positions, valid, cache_len: int, layout=None):
    """(logits [B, V] after the prompt, carry) for left-padded prompts [B, T] (``valid`` marks real tokens)."""
    b, t = tokens.shape
    n_real = jnp.sum(valid, axis=1, dtype=jnp.int32)
    shift = (jnp.arange(t)[None, :] + (t - n_real)[:, None]) % t
    right = jnp.where(jnp.arange(t)[None, :] < n_real[:, None], jnp.take_along_axis(tokens, shift, axis=1), 0)
    buffer = jnp.concatenate([right, jnp.zeros((b, cache_len - t), tokens.dtype)], axis=1)
    return self._logits_at(adapter, params, buffer, jnp.maximum(n_real - 1, 0)), (self.constrain(buffer), n_real)

  def step(self, adapter: ModelAdapter, params, carry, token, position, kv_mask, index, layout=None):
    """(logits [B, V], carry) after appending token [B] at each row's length."""
    buffer, length = carry
    buffer = buffer.at[jnp.arange(buffer.shape[0]), length].set(token)
    return self._logits_at(adapter, params, buffer, length), (buffer, length + 1)

  @staticmethod
  def _logits_at(adapter, params, tokens, where):
    """Logits [B, V] at column ``where`` [B] of a full forward pass over tokens [B, S]."""
    take = lambda x: jnp.take_along_axis(x, where[:, None, None], axis=1)[:, 0]  # noqa: E731
    if adapter.has_head:
      m = adapter.bind(params)
      return m.head(take(m.hidden(tokens)))
    return take(adapter.logits(params, tokens))

  def fed_positions(self, lengths: np.ndarray, t: int) -> int:
    return len(lengths) * t


@dataclasses.dataclass(frozen=True)
class OnePass:
  """The cache protocol: the prompt in one ``generate_step`` per group of rows, then one token a step.

  Attributes:
    constrain: applied to the cache after each step (the mesh's row sharding; identity without a mesh).
    group_prefill: prefill in groups of rows whose [rows, T, T] attention scores stay under 4M entries (False
      with a mesh: the rows are sharded).
  """

  constrain: Callable = _identity
  group_prefill: bool = True

  def _rows(self, b: int, t: int) -> int:
    return _prefill_rows(b, t) if self.group_prefill else b

  def layout(self, lengths: np.ndarray, t: int, widths) -> None:
    """The decode groups of a batch (None: one cache for all rows; see :meth:`Chunked.layout`)."""
    return None

  def prefill(self, adapter: ModelAdapter, params, tokens, positions, valid, cache_len: int, layout=None):
    """(logits [B, V] after the prompt, cache) for left-padded prompts [B, T] (``valid`` marks real tokens)."""
    b, t = tokens.shape
    kv_mask = jnp.concatenate([valid, jnp.ones((b, cache_len - t), bool)], axis=1)
    rows = self._rows(b, t)

    def one(args):   # one group of rows, with its own cache
      tok, pos, kvm = args
      return self._prefill_group(adapter, params, tok, pos, kvm, cache_len)

    if rows < b:
      split = lambda x: x.reshape((b // rows, rows) + x.shape[1:])  # noqa: E731
      out = jax.lax.map(one, (split(tokens), split(positions), split(kv_mask)))
      logits, cache = jax.tree.map(lambda x: x.reshape((b,) + x.shape[2:]), out)
    else:
      logits, cache = one((tokens, positions, kv_mask))
    return logits, self.constrain(cache)

  def _prefill_group(self, adapter, params, tokens, positions, kv_mask, cache_len):
    cache = adapter.init_cache(params, tokens.shape[0], cache_len)
    logits, cache = adapter.step(params, cache, tokens, positions, kv_mask, jnp.int32(0))
    return logits, self.constrain(cache)

  def step(self, adapter: ModelAdapter, params, carry, token, position, kv_mask, index, layout=None):
    """(logits [B, V], cache) after writing token [B] at slot ``index`` ([] int32)."""
    logits, cache = adapter.step(params, carry, token[:, None], position[:, None], kv_mask, index)
    return logits, self.constrain(cache)

  def fed_positions(self, lengths: np.ndarray, t: int) -> int:
    return len(lengths) * t


@dataclasses.dataclass(frozen=True)
class Chunked(OnePass):
  """A module with ``supports_cache_window``: the prompt prefilled chunk by chunk, from its first real token.

  A bucket of T slots is cut into chunks of ``c`` slots (its largest divisor up to ``chunk``); the rows are
  prefilled in groups (rows x T x c under ``budget``). A group starts at the first chunk holding one of its real
  tokens, and chunk j attends to the slots from there through its own end, so padding-only chunks and the upper
  triangle of the scores are never computed. Buckets below ``chunked_from`` are prefilled in one pass.

  With ``decode_rows`` and a model with ``supports_cache_groups``, a batch (its rows sorted longest first) is
  also split into decode groups of ``decode_rows`` rows, each with a cache as wide as its own longest prompt's
  bucket plus the new tokens: every row runs the linear layers together, and a decode step's attention reads
  each group's slots only (the cache is a ``GroupedCache`` per layer). The groups of a batch are its *layout*,
  a static argument: a batch compiles one prefill and one decode chunk per distinct layout.

  Attributes:
    chunk: slots per prefill chunk, at most.
    chunked_from: the shortest bucket prefilled in chunks.
    budget: rows x bucket x chunk of one prefill group.
    decode_rows: rows per decode group (0: one cache for the whole batch); a batch of fewer than twice as many
      rows keeps one cache.
    cache_groups: the model takes grouped caches (``ModelAdapter.cache_groups``).
  """

  chunk: int = 128
  chunked_from: int = 256
  budget: int = 1 << 19
  decode_rows: int = 8
  cache_groups: bool = False

  def layout(self, lengths: np.ndarray, t: int, widths) -> tuple[tuple[int, int], ...] | None:
    """The decode groups ``((rows, offset), ...)`` of a batch, or None (one cache).

    Args:
      lengths: [B] prompt lengths in batch order (0 for dummy rows); groups are consecutive rows.
      t: the batch's bucket.
      widths: the allowed prompt widths (the Generator's buckets); group g's width is the smallest one that holds
        its longest prompt, and its cache starts ``offset = t - width`` slots into the batch's (the columns that
        are padding in all its rows). Neighbouring groups of one width are merged.
    """
    b = len(lengths)
    if not (self.cache_groups and self.group_prefill and self.decode_rows) or b < 2 * self.decode_rows:
      return None
    groups: list[list[int]] = []
    for r0 in range(0, b, self.decode_rows):
      rows = min(self.decode_rows, b - r0)
      longest = max(int(np.max(lengths[r0:r0 + rows])), 1)
      offset = t - min([w for w in widths if longest <= w <= t] or [t])
      if groups and groups[-1][1] == offset:
        groups[-1][0] += rows
      else:
        groups.append([rows, offset])
    return tuple((rows, offset) for rows, offset in groups) if len(groups) > 1 else None

  def prefill(self, adapter: ModelAdapter, params, tokens, positions, valid, cache_len: int, layout=None):
    """(logits [B, V], cache): the batch's prefill, its cache then cut into the decode groups of ``layout``."""
    logits, cache = super().prefill(adapter, params, tokens, positions, valid, cache_len)
    if layout is None:
      return logits, cache

    def cut(layer):   # rows r0 .. r0 + rows from slot ``offset`` on: the columns that hold their real tokens
      bounds = np.cumsum([0] + [rows for rows, _ in layout])
      return GroupedCache(tuple(type(layer)(*(x[r0:r1, :, offset:] for x in layer))
                                for (r0, r1), (_, offset) in zip(zip(bounds[:-1], bounds[1:]), layout)))
    return logits, tuple(cut(layer) for layer in cache)

  def step(self, adapter: ModelAdapter, params, carry, token, position, kv_mask, index, layout=None):
    """(logits [B, V], cache) after writing token [B] at slot ``index`` of the batch (each group's own slot)."""
    if layout is None:
      return super().step(adapter, params, carry, token, position, kv_mask, index)
    masks, indexes, r0 = [], [], 0
    for rows, offset in layout:
      masks.append(kv_mask[r0:r0 + rows, offset:])
      indexes.append(index - offset)
      r0 += rows
    logits, cache = adapter.step(params, carry, token[:, None], position[:, None], tuple(masks), tuple(indexes))
    return logits, self.constrain(cache)

  def chunk_size(self, t: int) -> int:
    """Slots per chunk of a bucket of ``t`` (its largest divisor below t, up to ``chunk``), or 0: one pass."""
    if t < self.chunked_from or t < 2:
      return 0
    c = max(d for d in range(1, min(t - 1, self.chunk) + 1) if t % d == 0)
    return c if c >= 16 else 0

  def plan(self, b: int, t: int) -> tuple[int, int]:
    """(slots per chunk or 0, rows per group) of the prefill of ``b`` rows in a bucket of ``t``."""
    return self.chunk_size(t), self._rows(b, t)

  def _rows(self, b: int, t: int) -> int:
    c = self.chunk_size(t)
    if not self.group_prefill:
      return b
    return _prefill_rows(b, t, budget=self.budget * t // c) if c else _prefill_rows(b, t)

  def _prefill_group(self, adapter, params, tokens, positions, kv_mask, cache_len):
    c = self.chunk_size(tokens.shape[1])
    if not c:
      return super()._prefill_group(adapter, params, tokens, positions, kv_mask, cache_len)
    return self.chunked_prefill(adapter, params, tokens, positions, kv_mask[:, :tokens.shape[1]], cache_len, c)

  def chunked_prefill(self, adapter: ModelAdapter, params, tokens, positions, valid, cache_len: int, c: int):
    """(logits [R, V], cache) of one group of left-padded rows [R, T], fed in chunks of ``c`` slots (c divides T).

    The chunks start at the group's first slot that holds a real token, rounded down to a chunk boundary counted
    from the end; the leading chunks, padding in every row, are skipped. Chunk j attends to the slots from that
    start through its own last, so neither the padding nor the upper triangle of the scores is computed.
    """
    r, t = tokens.shape
    n = t // c
    longest = jnp.max(jnp.sum(valid, axis=1, dtype=jnp.int32))
    used = jnp.clip((longest + c - 1) // c, 1, n)            # chunks that hold a real token of some row
    start = (t - used * c).astype(jnp.int32)

    def run(j, cache):
      lo = start + j * c
      cut = lambda x: jax.lax.dynamic_slice_in_dim(x, lo, c, axis=1)  # noqa: E731
      kv_mask = jax.lax.dynamic_slice_in_dim(valid, start, (j + 1) * c, axis=1)
      logits, cache = adapter.step(params, cache, cut(tokens), cut(positions), kv_mask, lo, kv_start=start)
      return logits, self.constrain(cache)

    logits, cache = run(0, adapter.init_cache(params, r, cache_len))
    for j in range(1, n):
      logits, cache = jax.lax.cond(j < used, lambda lc, j=j: run(j, lc[1]), lambda lc: lc, (logits, cache))
    return logits, cache

  def fed_positions(self, lengths: np.ndarray, t: int) -> int:
    c, rows = self.plan(len(lengths), t)
    if not c:
      return len(lengths) * t
    longest = lengths.reshape(-1, rows).max(axis=1)
    return int(sum(rows * c * min(max(-(-int(n) // c), 1), t // c) for n in longest))


def decoder_for(adapter: ModelAdapter, cache: bool | None, constrain: Callable = _identity,
                sharded: bool = False) -> Recompute | OnePass | Chunked:
  """The generation mode of a model: :class:`Chunked`, :class:`OnePass` or :class:`Recompute`.

  Args:
    adapter: the model's adapter.
    cache: use the cache protocol (None: when the model has it; True raises ConfigError when it has not).
    constrain: the sharding constraint of the carried state (identity without a mesh).
    sharded: rows are sharded over a mesh (the prefill keeps every row in one group).
  """
  if cache and not adapter.has_cache:
    raise ConfigError(f"cache=True but {type(adapter.model).__name__} has no init_cache / generate_step (see "
                      "tinyjax.scoring.generate for the protocol)")
  if not (adapter.has_cache if cache is None else cache):
    return Recompute(constrain)
  if adapter.cache_window:
    return Chunked(constrain, group_prefill=not sharded, cache_groups=adapter.cache_groups)
  return OnePass(constrain, group_prefill=not sharded)
