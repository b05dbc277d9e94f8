"""GPT-2 in Flax NNX, numerically matching Hugging Face ``GPT2LMHeadModel``.

Supports packed rows: ``model(tokens, segment_ids=..., positions=..., branch_ids=...)`` masks attention across
segments and between continuation branches, and takes the learned position embeddings at the given positions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from tinyjax.errors import ConfigError
from tinyjax.scoring.models.common import (CausalLM, LayerCache, QuerySet, cached_attention, causal_attention, group_rows,
                                           linear_columns, take_queries, write_cache)

_ACTIVATIONS = {
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
}


@dataclasses.dataclass(frozen=True)
class GPT2Config:
  """The fields of a Hugging Face GPT-2 ``config.json`` that the forward pass uses."""

  vocab_size: int = 50257
  n_positions: int = 1024
  n_embd: int = 768
  n_layer: int = 12
  n_head: int = 12
  n_inner: int | None = None
  layer_norm_epsilon: float = 1e-5
  activation_function: str = "gelu_new"
  tie_word_embeddings: bool = True

  @classmethod
  def from_dict(cls, d: dict) -> "GPT2Config":
    names = {f.name for f in dataclasses.fields(cls)}
    cfg = cls(**{k: v for k, v in d.items() if k in names})
    if cfg.n_embd % cfg.n_head:
      raise ConfigError(f"n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}")
    if cfg.activation_function not in _ACTIVATIONS:
      raise ConfigError(f"activation {cfg.activation_function!r} is not supported")
    return cfg


def _init(std=0.02):
  return nnx.initializers.normal(std)


class GPT2Block(nnx.Module):
  """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

  def __init__(self, cfg: GPT2Config, *, dtype, param_dtype, rngs: nnx.Rngs):
    d = cfg.n_embd
    inner = cfg.n_inner or 4 * d
    ln = dict(epsilon=cfg.layer_norm_epsilon, use_fast_variance=False, dtype=dtype, param_dtype=param_dtype,
              rngs=rngs)
    lin = dict(kernel_init=_init(), dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.n_head = cfg.n_head
    self.act = cfg.activation_function
    self.ln_1 = nnx.LayerNorm(d, **ln)
    self.c_attn = nnx.Linear(d, 3 * d, **lin)
    self.c_proj = nnx.Linear(d, d, **lin)
    self.ln_2 = nnx.LayerNorm(d, **ln)
    self.c_fc = nnx.Linear(d, inner, **lin)
    self.mlp_proj = nnx.Linear(inner, d, **lin)

  def __call__(self, x, mask, query: QuerySet | None = None):
    """x [B, T, D] -> [B, T, D]; with ``query``, the output [G, K, D] at the query positions only."""
    b, t, d = x.shape
    shape = (b, t, self.n_head, d // self.n_head)
    h = self.ln_1(x)
    if query is None:
      q, k, v = (y.reshape(shape) for y in jnp.split(self.c_attn(h), 3, axis=-1))
    else:  # keys and values at every position; queries, and all that follows, at the query positions only
      kv = jnp.split(linear_columns(self.c_attn, h, d, 3 * d), 2, axis=-1)
      k, v = (group_rows(y.reshape(shape), query) for y in kv)
      q = linear_columns(self.c_attn, take_queries(h, query), 0, d)
      q = q.reshape(q.shape[:2] + shape[2:])
      x, mask = take_queries(x, query), query.mask
    return self._finish(x, causal_attention(q, k, v, mask=mask))

  def _finish(self, x, a):
    x = x + self.c_proj(a.reshape(x.shape))
    return x + self.mlp_proj(_ACTIVATIONS[self.act](self.c_fc(self.ln_2(x))))

  def cached(self, x, mask, cache: LayerCache, index, kv_start=None, last_only=False):
    """x [B, T, D] at cache slots ``index ..``, mask [B, 1, T, S] -> (x [B, T, D], the cache with their keys).

    With ``last_only``, keys and values are still written at all T slots, but the queries and all that follows run
    at the last position only: x comes back [B, 1, D].
    """
    b, t, d = x.shape
    shape = (b, t, self.n_head, d // self.n_head)
    h = self.ln_1(x)
    if last_only and t > 1:
      k, v = (y.reshape(shape) for y in jnp.split(linear_columns(self.c_attn, h, d, 3 * d), 2, axis=-1))
      q = linear_columns(self.c_attn, h[:, -1:], 0, d).reshape((b, 1) + shape[2:])
      x, mask = x[:, -1:], mask[:, :, -1:]
    else:
      q, k, v = (y.reshape(shape) for y in jnp.split(self.c_attn(h), 3, axis=-1))
    cache = write_cache(cache, k, v, index)
    return self._finish(x, cached_attention(q, cache, mask, kv_start)), cache


class GPT2(CausalLM):
  """GPT-2 causal LM: ``model(tokens [B, T] int) -> logits [B, T, vocab_size]``.

  Args:
    config: a GPT2Config.
    dtype: computation dtype (default: param_dtype).
    param_dtype: parameter dtype (float32 default; bfloat16 halves memory).
    rngs: initialisation keys (normal(0.02) weights, as in HF).
  """

  supports_packing = True
  supports_cache_window = True  # generate_step(..., kv_start=): the chunked prefill

  def __init__(self, config: GPT2Config, *, dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    self.config = config
    self.max_length = config.n_positions
    self.vocab_size = config.vocab_size
    emb = dict(embedding_init=_init(), dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.wte = nnx.Embed(config.vocab_size, config.n_embd, **emb)
    self.wpe = nnx.Embed(config.n_positions, config.n_embd, **emb)
    self.h = nnx.List([GPT2Block(config, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                       for _ in range(config.n_layer)])
    self.ln_f = nnx.LayerNorm(config.n_embd, epsilon=config.layer_norm_epsilon, use_fast_variance=False,
                              dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.lm_head = None if config.tie_word_embeddings else nnx.Linear(
        config.n_embd, config.vocab_size, use_bias=False, kernel_init=_init(), dtype=dtype,
        param_dtype=param_dtype, rngs=rngs)

  @property
  def token_embedding(self) -> nnx.Embed:
    return self.wte

  def embed(self, tokens: jax.Array, positions: jax.Array):
    return self.wte(tokens) + self.wpe(positions), None

  def layer_stack(self):
    return self.h

  def run_layer(self, layer, x, extra, mask, query):
    return layer(x, mask, query)

  def run_layer_cached(self, layer, x, extra, mask, cache, index, kv_start=None, last_only=False):
    return layer.cached(x, mask, cache, index, kv_start, last_only)

  @property
  def cache_shape(self) -> tuple[int, int]:
    return self.config.n_head, self.config.n_embd // self.config.n_head

  def final_norm(self, x: jax.Array) -> jax.Array:
    return self.ln_f(x)
