"""GPT-2 in Flax NNX, numerically matching Hugging Face ``GPT2LMHeadModel``.

Supports packed rows: ``model(tokens, segment_ids=..., positions=..., branch_ids=...)`` masks attention across
segments and between continuation branches, and takes the learned position embeddings at the given positions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from tinyjax.scoring.models.common import CausalLM, causal_attention, default_positions

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
      raise ValueError(f"n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}")
    if cfg.activation_function not in _ACTIVATIONS:
      raise NotImplementedError(f"activation {cfg.activation_function!r} is not supported")
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

  def __call__(self, x, segment_ids=None, branch_ids=None):
    b, t, d = x.shape
    q, k, v = jnp.split(self.c_attn(self.ln_1(x)), 3, axis=-1)
    shape = (b, t, self.n_head, d // self.n_head)
    a = causal_attention(q.reshape(shape), k.reshape(shape), v.reshape(shape), segment_ids, branch_ids)
    x = x + self.c_proj(a.reshape(b, t, d))
    return x + self.mlp_proj(_ACTIVATIONS[self.act](self.c_fc(self.ln_2(x))))


class GPT2(CausalLM):
  """GPT-2 causal LM: ``model(tokens [B, T] int) -> logits [B, T, vocab_size]``.

  Args:
    config: a GPT2Config.
    dtype: computation dtype (default: param_dtype).
    param_dtype: parameter dtype (float32 default; bfloat16 halves memory).
    rngs: initialisation keys (normal(0.02) weights, as in HF).
  """

  supports_packing = True

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

  def hidden(self, tokens: jax.Array, segment_ids: jax.Array | None = None, positions: jax.Array | None = None,
             branch_ids: jax.Array | None = None) -> jax.Array:
    """Final (normalised) hidden states [B, T, D].

    Args:
      tokens: [B, T] int token ids.
      segment_ids: optional [B, T] int; attention stays inside a segment (packed rows).
      positions: optional [B, T] int positions (default 0..T-1).
      branch_ids: optional [B, T] int; continuations that share a context prefix (branch 0) do not see each other.
    """
    if positions is None:
      positions = default_positions(tokens)
    x = self.wte(tokens) + self.wpe(positions)
    for block in self.h:
      x = block(x, segment_ids, branch_ids)
    return self.ln_f(x)
