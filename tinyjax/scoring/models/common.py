"""Layers shared by the GPT-2 and Llama ports: masked causal attention (GQA, packed segments) and RoPE."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


def causal_attention(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array | None = None,
                     branch_ids: jax.Array | None = None) -> jax.Array:
  """Causal softmax attention, with grouped key/value heads and optional packed segments.

  Args:
    q: [B, T, H, D] queries.
    k, v: [B, T, K, D] keys and values, K divides H (K < H is grouped-query attention).
    segment_ids: optional [B, T] int; a position attends only to earlier positions of the same segment.
    branch_ids: optional [B, T] int; position q attends to k only if ``branch_ids[k]`` is 0 (a shared prefix) or
      equals ``branch_ids[q]``, so continuations packed after one shared context do not see each other.

  Returns:
    [B, T, H, D]; softmax in float32, result in q's dtype.
  """
  b, t, h, d = q.shape
  kv = k.shape[2]
  if h % kv:
    raise ValueError(f"{h} query heads are not a multiple of {kv} key/value heads")
  if kv != h:
    k = jnp.repeat(k, h // kv, axis=2)
    v = jnp.repeat(v, h // kv, axis=2)
  scores = jnp.einsum("bthd,bshd->bhts", q, k, preferred_element_type=jnp.float32) / math.sqrt(d)
  mask = jnp.tril(jnp.ones((t, t), bool))[None, None]
  if segment_ids is not None:
    mask = mask & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])
  if branch_ids is not None:
    bk = branch_ids[:, None, None, :]
    mask = mask & ((bk == 0) | (bk == branch_ids[:, None, :, None]))
  scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
  return jnp.einsum("bhts,bshd->bthd", weights, v)


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
  raise NotImplementedError(f"rope scaling {kind!r} is not supported (default, linear, llama3 are)")


def apply_rope(x: jax.Array, positions: jax.Array, inv_freq: jax.Array) -> jax.Array:
  """Rotates [B, T, H, D] by positions [B, T] (HF's rotate_half convention: halves, not interleaved pairs)."""
  freqs = positions[..., None].astype(jnp.float32) * inv_freq                   # [B, T, D/2]
  emb = jnp.concatenate([freqs, freqs], axis=-1)[:, :, None, :]                 # [B, T, 1, D]
  cos, sin = jnp.cos(emb).astype(x.dtype), jnp.sin(emb).astype(x.dtype)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
  return x * cos + rotated * sin


def default_positions(tokens: jax.Array) -> jax.Array:
  """[B, T] positions 0..T-1."""
  return jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)


class CausalLM(nnx.Module):
  """The output side shared by the NNX ports.

  Subclasses define ``hidden(tokens, segment_ids, positions, branch_ids) -> [B, T, D]``, an
  ``lm_head`` (None when the input embedding is tied) and the ``token_embedding`` property.
  """

  def __call__(self, tokens: jax.Array, segment_ids: jax.Array | None = None,
               positions: jax.Array | None = None, branch_ids: jax.Array | None = None) -> jax.Array:
    """Logits [B, T, V] for tokens [B, T]; see ``hidden`` for the packing arguments."""
    return self.head(self.hidden(tokens, segment_ids, positions, branch_ids))

  def head(self, x: jax.Array) -> jax.Array:
    """The output projection: final hidden states [..., D] -> logits [..., V]."""
    if self.lm_head is None:
      return self.token_embedding.attend(x)
    return self.lm_head(x)
