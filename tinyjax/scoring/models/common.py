"""Layers shared by the GPT-2 and Llama ports: masked causal attention (GQA, packed segments), RoPE, KV cache."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tinyjax.errors import ConfigError


def attention_mask(q_index: jax.Array, k_index: jax.Array, q_segment: jax.Array | None = None,
                   k_segment: jax.Array | None = None, q_branch: jax.Array | None = None,
                   k_branch: jax.Array | None = None) -> jax.Array:
  """Boolean attention mask [B, 1, Tq, Tk], built once per forward pass and shared by all layers and heads.

  Query q may attend to key k when ``k_index <= q_index`` (causal), the segment ids match, and ``k_branch`` is
  0 (a shared prefix) or equals ``q_branch``.

  Args:
    q_index, k_index: [B, Tq] and [B, Tk] int, the order of the positions in the row (or in a group of rows laid
      end to end; the segment ids must then differ between rows).
    q_segment, k_segment: optional [B, Tq] / [B, Tk] int segment ids (packed rows).
    q_branch, k_branch: optional [B, Tq] / [B, Tk] int branch ids (continuations of a shared context).
  """
  mask = k_index[:, None, None, :] <= q_index[:, None, :, None]
  if q_segment is not None:
    mask = mask & (k_segment[:, None, None, :] == q_segment[:, None, :, None])
  if q_branch is not None:
    bk = k_branch[:, None, None, :]
    mask = mask & ((bk == 0) | (bk == q_branch[:, None, :, None]))
  return mask


def packed_mask(tokens: jax.Array, segment_ids: jax.Array | None = None,
                branch_ids: jax.Array | None = None) -> jax.Array:
  """:func:`attention_mask` [B, 1, T, T] of rows [B, T] with optional segment and branch ids."""
  idx = default_positions(tokens)
  return attention_mask(idx, idx, segment_ids, segment_ids, branch_ids, branch_ids)


#: Self-attention over rows longer than this runs in query chunks of this many positions, each against the keys up
#: to its own end only: the tiles above the diagonal, which causality masks entirely, are never computed (and the
#: float32 scores of one chunk, not of the whole row, are live at a time).
ATTENTION_CHUNK = 256


def _softmax_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
  """q [..., Tq, D], k and v [..., T, D] (heads, if any, before positions), mask [..., Tq, T] (broadcast over the
  heads) -> [..., Tq, D]; softmax in float32."""
  scores = jnp.einsum("...td,...sd->...ts", q, k, preferred_element_type=jnp.float32) / math.sqrt(q.shape[-1])
  scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
  return jnp.einsum("...ts,...sd->...td", weights, v)


def _chunked_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
  """Self-attention of q, k, v [..., T, D] (heads, if any, before positions) with a causal mask [..., T, T]: rows
  longer than :data:`ATTENTION_CHUNK` in query chunks, each against the keys up to its own end."""
  t = q.shape[-2]
  if t <= ATTENTION_CHUNK:
    return _softmax_attention(q, k, v, mask)
  out = []
  for start in range(0, t, ATTENTION_CHUNK):   # causal: a chunk's queries see no key after the chunk's end
    end = min(start + ATTENTION_CHUNK, t)
    out.append(_softmax_attention(q[..., start:end, :], k[..., :end, :], v[..., :end, :],
                                  mask[..., start:end, :end]))
  return jnp.concatenate(out, axis=-2)


def _attention_by_head(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
  """:func:`_chunked_attention` of q, k, v [H, B, T, D] one head at a time (a ``lax.map``), -> [H, B, T, D].

  On CPU a head's float32 scores (a [B, 256, T] chunk) stay in the cache, where all heads' at once (at GPT-2 small's
  [4, 1,024], 12 heads: 50 MB a chunk) go to memory between the products, the mask and the softmax. The values are
  the same to the bit; one layer's attention on the 2-core VM: [4, 1,024] x 12 heads 135-160 -> 90-104 ms,
  [2, 2,048] x 4 heads 59-68 -> 30-33 ms, [8, 512] x 12 heads 96-100 -> 66-72 ms (benchmarks/RESULTS.md).
  """
  return jax.lax.map(lambda head: _chunked_attention(*head, mask[:, 0]), (q, k, v))


def causal_attention(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array | None = None,
                     branch_ids: jax.Array | None = None, mask: jax.Array | None = None) -> jax.Array:
  """Causal softmax attention, with grouped key/value heads and optional packed segments.

  On CPU, self-attention (as many queries as keys) runs one head at a time (:func:`_attention_by_head`), so that a
  head's scores stay in the cache; elsewhere all heads go together ([B, H, T, D], one transpose per layer, so that
  each query chunk's two batched matrix products read and write their operands in place). Both give the same
  values to the bit.

  Args:
    q: [B, Tq, H, D] queries.
    k, v: [B, T, K, D] keys and values, K divides H (K < H is grouped-query attention).
    segment_ids: optional [B, T] int; a position attends only to earlier positions of the same segment.
    branch_ids: optional [B, T] int; position q attends to k only if ``branch_ids[k]`` is 0 (a shared prefix) or
      equals ``branch_ids[q]``, so continuations packed after one shared context do not see each other.
    mask: optional precomputed boolean mask [B, 1, Tq, T] (see :func:`attention_mask`); it replaces the causal,
      segment and branch masks, and is the only way to pass queries that are a subset of the keys. With Tq = T it
      must be causal (no query sees a later key), as every :func:`attention_mask` of one index is: rows longer
      than :data:`ATTENTION_CHUNK` skip the keys after each query chunk.

  Returns:
    [B, Tq, H, D]; softmax in float32, result in q's dtype.
  """
  b, t, h, d = q.shape
  kv = k.shape[2]
  if h % kv:
    raise ConfigError(f"{h} query heads are not a multiple of {kv} key/value heads")
  if kv != h:
    k = jnp.repeat(k, h // kv, axis=2)
    v = jnp.repeat(v, h // kv, axis=2)
  if mask is None:
    mask = packed_mask(k[..., 0, 0], segment_ids, branch_ids)
  if t != k.shape[1]:   # a subset of the queries (the last layer's scored positions): one product for all heads
    q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q, k, v))
    return jnp.swapaxes(_softmax_attention(q, k, v, mask), 1, 2)

  def all_heads(q, k, v, mask):
    q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q, k, v))   # [B, H, T, D]
    return jnp.swapaxes(_chunked_attention(q, k, v, mask), 1, 2)

  def by_head(q, k, v, mask):
    q, k, v = (jnp.transpose(x, (2, 0, 1, 3)) for x in (q, k, v))   # [H, B, T, D]
    return jnp.transpose(_attention_by_head(q, k, v, mask), (1, 2, 0, 3))

  return jax.lax.platform_dependent(q, k, v, mask, cpu=by_head, default=all_heads)


class QuerySet(NamedTuple):
  """Where a forward pass computes its last layer: ``index`` [G, K] positions in a row group.

  The B rows of the batch form G groups of R = B // G consecutive rows; a group is read as one flat sequence of
  R * T positions (row j, column t -> j * T + t). The last transformer layer then runs its attention queries, its
  output projection and its MLP at these K positions per group only (keys and values still cover every position).
  """

  index: jax.Array        # [G, K] int positions in the group's flat view
  mask: jax.Array         # [G, 1, K, R * T] bool attention mask of the queries
  positions: jax.Array    # [G, K] int model positions of the queries (for RoPE)


def query_set(query_index: jax.Array, tokens: jax.Array, segment_ids: jax.Array | None,
              positions: jax.Array, branch_ids: jax.Array | None) -> QuerySet:
  """Builds the :class:`QuerySet` of ``query_index`` [G, K] for rows ``tokens`` [B, T] (G divides B).

  Segment ids must lie in [0, T] (packed rows number their units 1, 2, ...), so that row j's segment s becomes the
  group-wide id ``j * (T + 1) + s`` without a reduction over the (possibly sharded) batch.
  """
  b, t = tokens.shape
  g = query_index.shape[0]
  if query_index.ndim != 2 or b % g:
    raise ConfigError(f"query_index must be [G, K] with G dividing the batch {b}, got {query_index.shape}")
  r = b // g
  flat = lambda a: a.reshape(g, r * t)  # noqa: E731
  k_index = jnp.broadcast_to(jnp.arange(r * t, dtype=jnp.int32), (g, r * t))
  row = k_index // t                       # rows of a group never see each other: fold the row into the segment
  seg = row if segment_ids is None else row * (t + 1) + flat(segment_ids)   # segment ids are <= T
  take = lambda a: jnp.take_along_axis(a, query_index, axis=1)  # noqa: E731
  br = None if branch_ids is None else flat(branch_ids)
  mask = attention_mask(query_index, k_index, take(seg), seg, None if br is None else take(br), br)
  return QuerySet(query_index, mask, take(flat(positions)))


def take_queries(x: jax.Array, query: QuerySet) -> jax.Array:
  """x [B, T, ...] -> [G, K, ...] at the query positions."""
  g = query.index.shape[0]
  flat = x.reshape(g, -1, *x.shape[2:])
  idx = query.index.reshape(query.index.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(flat, idx, axis=1)


def group_rows(x: jax.Array, query: QuerySet) -> jax.Array:
  """x [B, T, ...] -> [G, R * T, ...], the flat view of each row group."""
  return x.reshape(query.index.shape[0], -1, *x.shape[2:])


def linear_columns(layer: nnx.Linear, x: jax.Array, start: int, stop: int) -> jax.Array:
  """``layer(x)[..., start:stop]`` computed with only those output columns of the kernel (same dtype rules)."""
  kernel = layer.kernel[...][:, start:stop]
  bias = layer.bias[...][start:stop] if layer.bias is not None else None
  x, kernel, bias = layer.promote_dtype((x, kernel, bias), dtype=layer.dtype)
  y = layer.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=layer.precision)
  return y if bias is None else y + bias


def rope_inv_freq(head_dim: int, theta: float, scaling: dict | None = None) -> jax.Array:
  """Inverse frequencies [head_dim // 2] of rotary embeddings, with HF's "default", "linear" or "llama3" scaling."""
  inv = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
  if kind in (None, "default"):
    return inv
  if kind == "linear":
    return inv / float(scaling["factor"])
  if kind == "llama3":
    factor = float(scaling["factor"])
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    old_len = float(scaling["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    low_wavelen, high_wavelen = old_len / low, old_len / high
    scaled = jnp.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return jnp.where(medium, smoothed, scaled)
  raise ConfigError(f"rope scaling {kind!r} is not supported (default, linear, llama3 are)")


def apply_rope(x: jax.Array, positions: jax.Array, inv_freq: jax.Array) -> jax.Array:
  """Rotates [B, T, H, D] by positions [B, T] (HF's rotate_half convention: halves, not interleaved pairs)."""
  freqs = positions[..., None].astype(jnp.float32) * inv_freq                   # [B, T, D/2]
  emb = jnp.concatenate([freqs, freqs], axis=-1)[:, :, None, :]                 # [B, T, 1, D]
  cos, sin = jnp.cos(emb).astype(x.dtype), jnp.sin(emb).astype(x.dtype)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
  return x * cos + rotated * sin


class LayerCache(NamedTuple):
  """Keys and values of one attention layer for S cache slots (the generation cache of :meth:`CausalLM.generate_step`).

  Heads come before slots, so that a decode step's attention reads the cache without a transpose.
  """

  keys: jax.Array     # [B, K, S, D] keys (RoPE applied), in the compute dtype
  values: jax.Array   # [B, K, S, D]


class GroupedCache(tuple):
  """One layer's cache split into groups of consecutive rows, each with its own slots: a tuple of LayerCache.

  Group g holds rows ``R_0 + ... + R_{g-1}`` onwards ([R_g, K, S_g, D]), so a decode step reads each group's
  S_g slots only. With a GroupedCache, ``generate_step`` takes ``kv_mask`` and ``index`` as tuples with one entry
  per group ([R_g, S_g] and [] int32).
  """

  def rows(self) -> tuple[slice, ...]:
    """The static row slice of each group."""
    ends = np.cumsum([c.keys.shape[0] for c in self])
    return tuple(slice(int(e - c.keys.shape[0]), int(e)) for e, c in zip(ends, self))


jax.tree_util.register_pytree_node(GroupedCache, lambda c: (tuple(c), None), lambda _, xs: GroupedCache(xs))


def cache_mask(kv_mask: jax.Array, index: jax.Array, t: int, kv_start: jax.Array | None = None) -> jax.Array:
  """Attention mask [B, 1, T, W] of T new tokens written at slots ``index .. index + T - 1`` of a cache.

  ``kv_mask`` [B, W] covers the W cache slots ``kv_start .. kv_start + W - 1`` (``kv_start`` default 0). Query j
  (slot ``index + j``) sees slot s when ``s <= index + j`` and ``kv_mask`` is True there (False on left padding).
  """
  if isinstance(kv_mask, tuple):   # a GroupedCache: one mask and one index per group of rows
    return tuple(cache_mask(m, i, t) for m, i in zip(kv_mask, index))
  s = kv_mask.shape[1]
  slots = index + jnp.arange(t, dtype=jnp.int32)
  keys = jnp.arange(s, dtype=jnp.int32)
  if kv_start is not None:
    keys = keys + kv_start
  causal = keys[None, :] <= slots[:, None]                                       # [T, W]
  return causal[None, None] & kv_mask[:, None, None, :]


def write_cache(cache: LayerCache, k: jax.Array, v: jax.Array, index: jax.Array) -> LayerCache:
  """Writes keys and values [B, T, K, D] at slots ``index .. index + T - 1`` ([] int32, the same for every row)."""
  if isinstance(cache, GroupedCache):
    return GroupedCache(tuple(write_cache(c, k[r], v[r], i) for c, r, i in zip(cache, cache.rows(), index)))
  def put(c, x):
    return jax.lax.dynamic_update_slice_in_dim(c, jnp.swapaxes(x, 1, 2).astype(c.dtype), index, axis=2)
  return LayerCache(put(cache.keys, k), put(cache.values, v))


def cached_attention(q: jax.Array, cache: LayerCache, mask: jax.Array,
                     kv_start: jax.Array | None = None) -> jax.Array:
  """Softmax attention of queries [B, T, H, D] over a cache ([B, K, S, D], K divides H), mask [B, 1, T, W].

  Only the W <= S slots ``kv_start .. kv_start + W - 1`` are read (``kv_start`` default 0; the prefill passes
  W = T, a chunk of a chunked prefill the slots from its rows' first real token through its own last).
  Grouped-query heads read their shared key/value head directly (no repeat). Softmax in float32; result
  [B, T, H, D] in the values' dtype.
  """
  if isinstance(cache, GroupedCache):
    return jnp.concatenate([cached_attention(q[r], c, m) for c, r, m in zip(cache, cache.rows(), mask)], axis=0)
  b, t, h, d = q.shape
  width = mask.shape[-1]
  if kv_start is not None:
    cache = LayerCache(*(jax.lax.dynamic_slice_in_dim(c, kv_start, width, axis=2) for c in cache))
  elif width < cache.keys.shape[2]:
    cache = LayerCache(cache.keys[:, :, :width], cache.values[:, :, :width])
  kv = cache.keys.shape[1]
  if h % kv:
    raise ConfigError(f"{h} query heads are not a multiple of {kv} key/value heads")
  qg = q.reshape(b, t, kv, h // kv, d)
  scores = jnp.einsum("btkgd,bksd->bkgts", qg, cache.keys, preferred_element_type=jnp.float32) / math.sqrt(d)
  scores = jnp.where(mask[:, :, None], scores, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(scores, axis=-1).astype(cache.values.dtype)
  return jnp.einsum("bkgts,bksd->btkgd", weights, cache.values).reshape(b, t, h, d)


def default_positions(tokens: jax.Array) -> jax.Array:
  """[B, T] positions 0..T-1."""
  return jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)


class CausalLM(nnx.Module):
  """The forward pass shared by the NNX ports, and their generation protocol (a KV cache).

  Subclasses define ``embed(tokens, positions) -> (x [B, T, D], extra)``, ``layer_stack()`` (the blocks),
  ``run_layer(layer, x, extra, mask, query)``, ``run_layer_cached(layer, x, extra, mask, cache, index, kv_start=None,
  last_only=False)`` (``last_only``: write every position's keys, run the rest at the last position only),
  ``final_norm(x)``, ``cache_shape`` (K, D), an ``lm_head`` (None when the input embedding is tied) and the
  ``token_embedding`` property. ``extra`` is whatever the blocks need once per forward (positions, RoPE
  frequencies).

  Generation (``tinyjax.scoring.generate``) uses :meth:`init_cache` and :meth:`generate_step`: the protocol a
  user's own module implements to be generated with a cache.
  """

  supports_query_index = True  # ``hidden(..., query_index=)`` runs the last layer at those positions only
  supports_cache_groups = True  # generate_step takes a cache of GroupedCache layers (per-group widths)

  def __call__(self, tokens: jax.Array, segment_ids: jax.Array | None = None,
               positions: jax.Array | None = None, branch_ids: jax.Array | None = None) -> jax.Array:
    """Logits [B, T, V] for tokens [B, T]; see ``hidden`` for the packing arguments."""
    return self.head(self.hidden(tokens, segment_ids, positions, branch_ids))

  def hidden(self, tokens: jax.Array, segment_ids: jax.Array | None = None, positions: jax.Array | None = None,
             branch_ids: jax.Array | None = None, query_index: jax.Array | None = None) -> jax.Array:
    """Final (normalised) hidden states [B, T, D], or [G, K, D] at ``query_index``.

    Args:
      tokens: [B, T] int token ids.
      segment_ids: optional [B, T] int; attention stays inside a segment (packed rows).
      positions: optional [B, T] int positions (default 0..T-1).
      branch_ids: optional [B, T] int; continuations that share a context prefix (branch 0) do not see each other.
      query_index: optional [G, K] int (G divides B): positions in the flat view of each group of B // G rows
        (row j, column t -> j * T + t). The last layer then runs only there (see ``QuerySet``), which gives
        the same values as ``hidden(...)`` gathered at those positions, for less compute.
    """
    if positions is None:
      positions = default_positions(tokens)
    mask = packed_mask(tokens, segment_ids, branch_ids)       # built once, shared by every layer
    query = None if query_index is None else query_set(query_index, tokens, segment_ids, positions, branch_ids)
    x, extra = self.embed(tokens, positions)
    layers = self.layer_stack()
    last = len(layers) - 1
    for i, layer in enumerate(layers):
      x = self.run_layer(layer, x, extra, mask, query if i == last else None)
    if query is not None and last < 0:
      x = take_queries(x, query)
    return self.final_norm(x)

  def init_cache(self, batch_size: int, length: int, dtype=None) -> tuple[LayerCache, ...]:
    """An empty cache: one :class:`LayerCache` of [batch_size, K, length, D] zeros per layer.

    Args:
      batch_size: rows B.
      length: cache slots S (prompt bucket + new tokens).
      dtype: cache dtype (default: the embedding's compute dtype, else its parameter dtype).
    """
    kv, d = self.cache_shape
    emb = self.token_embedding
    dtype = dtype or emb.dtype or emb.param_dtype
    zeros = lambda: jnp.zeros((batch_size, kv, length, d), dtype)  # noqa: E731
    return tuple(LayerCache(zeros(), zeros()) for _ in self.layer_stack())

  def generate_step(self, tokens: jax.Array, positions: jax.Array, kv_mask: jax.Array,
                    cache: tuple[LayerCache, ...], index: jax.Array,
                    kv_start: jax.Array | None = None) -> tuple[jax.Array, tuple[LayerCache, ...]]:
    """Runs T new tokens against the cache: the prefill (T = prompt bucket, index 0) and each decode step (T = 1).

    Without ``kv_start``, T > 1 is the prefill: it must start at index 0, and attends to its own T slots only.

    Args:
      tokens: [B, T] int ids, written at cache slots ``index .. index + T - 1``.
      positions: [B, T] int model positions of the tokens (left-padded rows start at 0 on their first real token).
      kv_mask: [B, S] bool, the slots that hold real tokens (False on the left padding of the prompt); with
        ``kv_start``, [B, W] for the slots ``kv_start .. kv_start + W - 1`` only.
      cache: from :meth:`init_cache` or the previous step.
      index: [] int32 slot of ``tokens[:, 0]``.
      kv_start: optional [] int32 (only on classes with ``supports_cache_window``): attention reads only the W
        slots ``kv_start .. kv_start + W - 1`` (they must lie in the cache and include ``index + T - 1``), so a
        chunk of a prompt attends to its group's prompt so far and no further (the chunked prefill).

    Returns:
      ``(logits, cache)``: logits [B, V] at the last of the T positions, and the updated cache.
    """
    t = tokens.shape[1]
    if kv_start is None:   # the prefill (T > 1, index 0) attends to its own T slots only; a decode step to all
      mask = cache_mask(kv_mask[:, :t] if t > 1 else kv_mask, index, t)
      window = {}
    else:
      mask = cache_mask(kv_mask, index, t, kv_start)
      window = {"kv_start": kv_start}
    x, extra = self.embed(tokens, positions)
    new = []
    layers = self.layer_stack()
    for i, (layer, layer_cache) in enumerate(zip(layers, cache)):
      # only the last position's logits are returned: the last layer runs its queries and MLP there alone
      last = {"last_only": True} if i == len(layers) - 1 and t > 1 else {}
      x, layer_cache = self.run_layer_cached(layer, x, extra, mask, layer_cache, index, **window, **last)
      new.append(layer_cache)
    return self.head(self.final_norm(x[:, -1])), tuple(new)

  def head(self, x: jax.Array) -> jax.Array:
    """The output projection: final hidden states [..., D] -> logits [..., V]."""
    if self.lm_head is None:
      return self.token_embedding.attend(x)
    return self.lm_head(x)
