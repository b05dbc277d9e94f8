"""The Llama family in Flax NNX (RMSNorm, RoPE, grouped-query attention, SwiGLU), matching HF ``LlamaForCausalLM``.

Covers Llama 2/3, TinyLlama, SmolLM, Mistral without sliding windows, and other configs of the same shape:
tied or untied embeddings, optional attention / MLP biases, an explicit ``head_dim``, and default, linear or
llama3 RoPE scaling. Packed rows are supported (``segment_ids``, ``positions``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from tinyjax.errors import ConfigError
from tinyjax.scoring.models.common import (CausalLM, LayerCache, QuerySet, cached_attention, apply_rope, causal_attention,
                                           group_rows, rope_inv_freq, take_queries, write_cache)


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
  """The fields of a Hugging Face Llama ``config.json`` that the forward pass uses."""

  vocab_size: int = 32000
  hidden_size: int = 4096
  intermediate_size: int = 11008
  num_hidden_layers: int = 32
  num_attention_heads: int = 32
  num_key_value_heads: int | None = None
  head_dim: int | None = None
  rms_norm_eps: float = 1e-6
  rope_theta: float = 10000.0
  rope_scaling: tuple | None = None  # sorted (key, value) pairs of HF's rope_scaling dict (hashable)
  max_position_embeddings: int = 2048
  tie_word_embeddings: bool = False
  attention_bias: bool = False
  mlp_bias: bool = False
  hidden_act: str = "silu"

  @classmethod
  def from_dict(cls, d: dict) -> "LlamaConfig":
    d = dict(d)
    rope = d.get("rope_parameters")  # transformers >= 5 keeps rope_theta and the scaling here
    if isinstance(rope, dict):
      d.setdefault("rope_theta", rope.get("rope_theta", 10000.0))
      if rope.get("rope_type", "default") != "default":
        d["rope_scaling"] = rope
    if d.get("rope_theta") is None:
      d["rope_theta"] = 10000.0
    if isinstance(d.get("rope_scaling"), dict):
      d["rope_scaling"] = tuple(sorted((k, v) for k, v in d["rope_scaling"].items() if not isinstance(v, list)))
    names = {f.name for f in dataclasses.fields(cls)}
    cfg = cls(**{k: v for k, v in d.items() if k in names})
    if cfg.hidden_act != "silu":
      raise ConfigError(f"hidden_act {cfg.hidden_act!r} is not supported (silu is)")
    kv = cfg.num_key_value_heads or cfg.num_attention_heads
    if cfg.num_attention_heads % kv:
      raise ConfigError(f"num_attention_heads {cfg.num_attention_heads} is not a multiple of num_key_value_heads {kv}")
    rope_inv_freq(cfg.head_size, cfg.rope_theta, cfg.scaling)  # raises for unsupported scaling
    return cfg

  @property
  def scaling(self) -> dict | None:
    return dict(self.rope_scaling) if self.rope_scaling else None

  @property
  def head_size(self) -> int:
    return self.head_dim or self.hidden_size // self.num_attention_heads

  @property
  def kv_heads(self) -> int:
    return self.num_key_value_heads or self.num_attention_heads


def _init(std=0.02):
  return nnx.initializers.normal(std)


class LlamaBlock(nnx.Module):
  """x + attn(rmsnorm(x)), then x + swiglu(rmsnorm(x))."""

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    d, hd = cfg.hidden_size, cfg.head_size
    self.n_heads, self.n_kv, self.head_dim = cfg.num_attention_heads, cfg.kv_heads, hd
    lin = dict(kernel_init=_init(), dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    norm = dict(epsilon=cfg.rms_norm_eps, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.input_layernorm = nnx.RMSNorm(d, **norm)
    self.q_proj = nnx.Linear(d, self.n_heads * hd, use_bias=cfg.attention_bias, **lin)
    self.k_proj = nnx.Linear(d, self.n_kv * hd, use_bias=cfg.attention_bias, **lin)
    self.v_proj = nnx.Linear(d, self.n_kv * hd, use_bias=cfg.attention_bias, **lin)
    self.o_proj = nnx.Linear(self.n_heads * hd, d, use_bias=cfg.attention_bias, **lin)
    self.post_attention_layernorm = nnx.RMSNorm(d, **norm)
    self.gate_proj = nnx.Linear(d, cfg.intermediate_size, use_bias=cfg.mlp_bias, **lin)
    self.up_proj = nnx.Linear(d, cfg.intermediate_size, use_bias=cfg.mlp_bias, **lin)
    self.down_proj = nnx.Linear(cfg.intermediate_size, d, use_bias=cfg.mlp_bias, **lin)

  def __call__(self, x, positions, inv_freq, mask, query: QuerySet | None = None):
    """x [B, T, D] -> [B, T, D]; with ``query``, the output [G, K, D] at the query positions only."""
    b, t, _ = x.shape
    h = self.input_layernorm(x)
    k = apply_rope(self.k_proj(h).reshape(b, t, self.n_kv, self.head_dim), positions, inv_freq)
    v = self.v_proj(h).reshape(b, t, self.n_kv, self.head_dim)
    if query is not None:  # keys and values at every position; queries, and all that follows, at the queries only
      k, v, mask = group_rows(k, query), group_rows(v, query), query.mask
      x, h, positions = take_queries(x, query), take_queries(h, query), query.positions
    q = self.q_proj(h)
    q = apply_rope(q.reshape(q.shape[:2] + (self.n_heads, self.head_dim)), positions, inv_freq)
    a = causal_attention(q, k, v, mask=mask)
    return self._finish(x, a)

  def _finish(self, x, a):
    x = x + self.o_proj(a.reshape(x.shape[:2] + (self.n_heads * self.head_dim,)))
    h = self.post_attention_layernorm(x)
    return x + self.down_proj(jax.nn.silu(self.gate_proj(h)) * self.up_proj(h))

  def cached(self, x, positions, inv_freq, mask, cache: LayerCache, index, kv_start=None, last_only=False):
    """x [B, T, D] at cache slots ``index ..``, mask [B, 1, T, S] -> (x [B, T, D], the cache with their keys).

    With ``last_only``, keys and values are still written at all T slots, but the queries and all that follows run
    at the last position only: x comes back [B, 1, D].
    """
    b, t, _ = x.shape
    h = self.input_layernorm(x)
    k = apply_rope(self.k_proj(h).reshape(b, t, self.n_kv, self.head_dim), positions, inv_freq)
    v = self.v_proj(h).reshape(b, t, self.n_kv, self.head_dim)
    if last_only and t > 1:
      x, h, positions, mask = x[:, -1:], h[:, -1:], positions[:, -1:], mask[:, :, -1:]
    q = apply_rope(self.q_proj(h).reshape(x.shape[:2] + (self.n_heads, self.head_dim)), positions, inv_freq)
    cache = write_cache(cache, k, v, index)
    return self._finish(x, cached_attention(q, cache, mask, kv_start)), cache


class Llama(CausalLM):
  """Llama causal LM: ``model(tokens [B, T] int) -> logits [B, T, vocab_size]``.

  Args:
    config: a LlamaConfig.
    dtype: computation dtype (default: param_dtype).
    param_dtype: parameter dtype.
    rngs: initialisation keys.
  """

  supports_packing = True
  supports_cache_window = True  # generate_step(..., kv_start=): the chunked prefill

  def __init__(self, config: LlamaConfig, *, dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    self.config = config
    self.max_length = config.max_position_embeddings
    self.vocab_size = config.vocab_size
    self.embed_tokens = nnx.Embed(config.vocab_size, config.hidden_size, embedding_init=_init(), dtype=dtype,
                                  param_dtype=param_dtype, rngs=rngs)
    self.layers = nnx.List([LlamaBlock(config, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                            for _ in range(config.num_hidden_layers)])
    self.norm = nnx.RMSNorm(config.hidden_size, epsilon=config.rms_norm_eps, dtype=dtype, param_dtype=param_dtype,
                            rngs=rngs)
    self.lm_head = None if config.tie_word_embeddings else nnx.Linear(
        config.hidden_size, config.vocab_size, use_bias=False, kernel_init=_init(), dtype=dtype,
        param_dtype=param_dtype, rngs=rngs)

  @property
  def token_embedding(self) -> nnx.Embed:
    return self.embed_tokens

  def embed(self, tokens: jax.Array, positions: jax.Array):
    inv_freq = rope_inv_freq(self.config.head_size, self.config.rope_theta, self.config.scaling)
    return self.embed_tokens(tokens), (positions, inv_freq)

  def layer_stack(self):
    return self.layers

  def run_layer(self, layer, x, extra, mask, query):
    positions, inv_freq = extra
    return layer(x, positions, inv_freq, mask, query)

  def run_layer_cached(self, layer, x, extra, mask, cache, index, kv_start=None, last_only=False):
    positions, inv_freq = extra
    return layer.cached(x, positions, inv_freq, mask, cache, index, kv_start, last_only)

  @property
  def cache_shape(self) -> tuple[int, int]:
    return self.config.kv_heads, self.config.head_size

  def final_norm(self, x: jax.Array) -> jax.Array:
    return self.norm(x)
