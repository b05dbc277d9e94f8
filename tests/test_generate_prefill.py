"""The chunked prefill (generate_step with kv_start) equals the one-pass prefill: logits, cache and generated tokens."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tinyjax import scoring
from tinyjax.scoring.adapter import Chunked, OnePass
from tinyjax.scoring.generate import Generator
from tinyjax.scoring.models import GPT2, GPT2Config, Llama, LlamaConfig

PORTS = {
    "gpt2": lambda: GPT2(GPT2Config(vocab_size=96, n_positions=160, n_embd=32, n_layer=2, n_head=4),
                         rngs=nnx.Rngs(0)),
    "llama_gqa": lambda: Llama(LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=4, num_key_value_heads=2,
                                           max_position_embeddings=160), rngs=nnx.Rngs(0)),
}


class Chars:
  """One token per character (ids 1..95); no special tokens but an EOS id that generation never reaches."""

  eos_token_id = 0
  bos_token_id = 0

  def encode(self, text):
    return [min(95, max(1, ord(ch) - 31)) for ch in text]

  def decode(self, ids):
    return "".join(chr(i + 31) for i in ids if i)


@pytest.fixture(scope="module", params=sorted(PORTS))
def model(request):
  m = PORTS[request.param]()
  params = nnx.state(m, nnx.Param)   # larger weights: decisive argmaxes
  nnx.update(m, jax.tree.map(lambda x: x * 8.0 if x.ndim == 2 else x, params))
  return m


def _left_padded(lengths, t, seed=0):
  rng = np.random.default_rng(seed)
  tokens = np.zeros((len(lengths), t), np.int32)
  valid = np.zeros((len(lengths), t), bool)
  for k, n in enumerate(lengths):
    tokens[k, t - n:] = rng.integers(1, 96, n)
    valid[k, t - n:] = True
  positions = np.maximum(np.cumsum(valid, axis=1) - 1, 0).astype(np.int32)
  return jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(valid)


@pytest.mark.parametrize("lengths", [(64, 1, 40, 5), (3, 2, 1, 7), (17, 16, 15, 64), (33, 64, 63, 48)])
def test_chunked_prefill_equals_one_pass(model, lengths):
  t, new, c = 64, 8, 16
  tokens, positions, valid = _left_padded(lengths, t)
  kv_mask = jnp.concatenate([valid, jnp.ones((len(lengths), new), bool)], axis=1)
  one = jax.jit(lambda tok, pos, kvm: model.generate_step(tok, pos, kvm, model.init_cache(len(lengths), t + new),
                                                          jnp.int32(0)))
  logits, cache = one(tokens, positions, kv_mask)
  gen = Generator(model, Chars(), batch_size=4)
  chunked = jax.jit(lambda p, tok, pos, val: gen.decoder.chunked_prefill(gen.adapter, p, tok, pos, val, t + new, c))
  logits_c, cache_c = chunked(nnx.state(model), tokens, positions, valid)
  np.testing.assert_allclose(logits_c, logits, rtol=1e-5, atol=1e-5)
  real = np.asarray(kv_mask)[:, None, :, None]     # slots of real tokens (padding slots may differ)
  for a, b in zip(jax.tree.leaves(cache_c), jax.tree.leaves(cache)):
    assert a.shape == b.shape
    np.testing.assert_allclose(np.where(real, a, 0), np.where(real, b, 0), rtol=1e-5, atol=1e-5)


def test_prefill_logits_and_cache_equal_the_full_forward(model):
  """The prefill runs its last layer at the last position only: its logits are the full forward's last ones, and
  every layer's cache holds the keys and values the full forward computes (read back by a later decode step)."""
  lengths, t, new = (64, 9, 40, 1), 64, 2
  tokens, positions, valid = _left_padded(lengths, t, seed=3)
  kv_mask = jnp.concatenate([valid, jnp.ones((len(lengths), new), bool)], axis=1)
  logits, cache = jax.jit(lambda tok, pos, kvm: model.generate_step(
      tok, pos, kvm, model.init_cache(len(lengths), t + new), jnp.int32(0)))(tokens, positions, kv_mask)
  seg = jnp.asarray(valid, jnp.int32)             # padding is segment 0, the prompt segment 1
  full = jax.jit(lambda tok, s, pos: model(tok, segment_ids=s, positions=pos))(tokens, seg, positions)
  np.testing.assert_allclose(logits, full[:, -1], rtol=1e-5, atol=1e-5)
  # one decode step reads the last layer's cache: it equals the full forward of the prompt plus that token
  nxt = jnp.asarray(np.arange(1, len(lengths) + 1, dtype=np.int32))[:, None]
  step, _ = jax.jit(lambda tok, pos, kvm, c: model.generate_step(tok, pos, kvm, c, jnp.int32(t)))(
      nxt, jnp.asarray(np.array(lengths, np.int32))[:, None], kv_mask, cache)
  tok2 = jnp.concatenate([tokens, nxt], axis=1)
  seg2 = jnp.concatenate([seg, jnp.ones_like(nxt)], axis=1)
  pos2 = jnp.concatenate([positions, jnp.asarray(np.array(lengths, np.int32))[:, None]], axis=1)
  full2 = jax.jit(lambda tok, s, pos: model(tok, segment_ids=s, positions=pos))(tok2, seg2, pos2)
  np.testing.assert_allclose(step, full2[:, -1], rtol=1e-5, atol=1e-5)


PROMPTS = ["x" * 150, "A cat", "On the mat, a cat sat. " * 3, "Q", "The quick brown fox jumps over the lazy dog " * 2]


def test_generation_is_the_same_chunked_or_not(model):
  items = [scoring.Generate(p, until=[], max_gen_toks=8) for p in PROMPTS]
  chunked = Generator(model, Chars(), batch_size=5, eos_token_id=-1)
  plain = Generator(model, Chars(), batch_size=5, eos_token_id=-1)
  assert type(chunked.decoder) is Chunked
  chunked.decoder = dataclasses.replace(chunked.decoder, chunked_from=0)   # chunk these short prompts too
  plain.decoder = OnePass()                                                 # the one-pass prefill
  assert chunked.decoder.chunk_size(152) > 0
  a, b = chunked.generate(items), plain.generate(items)
  assert a.tokens == b.tokens
  assert len({len(set(toks)) for toks in a.tokens}) > 1        # non-trivial generations
  assert chunked.compilations == 2                              # one prefill, one decode chunk
  chunked.generate(items)
  assert chunked.compilations == 2


def test_modules_without_the_window_keep_the_one_pass_prefill(model):
  """A module with only the documented protocol (generate_step without kv_start) is prefilled in one pass."""

  class OldProtocol(nnx.Module):
    def __init__(self, inner):
      self.inner = inner
      self.max_length, self.vocab_size = inner.max_length, inner.vocab_size

    def init_cache(self, batch_size, length):
      return self.inner.init_cache(batch_size, length)

    def generate_step(self, tokens, positions, kv_mask, cache, index):
      return self.inner.generate_step(tokens, positions, kv_mask, cache, index)

  items = [scoring.Generate(p, until=[], max_gen_toks=4) for p in PROMPTS]
  old = Generator(OldProtocol(model), Chars(), batch_size=5, eos_token_id=-1)
  assert type(old.decoder) is OnePass
  assert old.generate(items).tokens == Generator(model, Chars(), batch_size=5, eos_token_id=-1).generate(items).tokens


def test_decode_groups_generate_the_same_tokens(model):
  """Rows in decode groups of their own cache width (GroupedCache) generate what one shared cache generates."""
  items = [scoring.Generate(p, until=[], max_gen_toks=8) for p in PROMPTS]
  grouped = Generator(model, Chars(), batch_size=6, eos_token_id=-1)
  shared = Generator(model, Chars(), batch_size=6, eos_token_id=-1)
  grouped.decoder = dataclasses.replace(grouped.decoder, decode_rows=2)
  shared.decoder = dataclasses.replace(shared.decoder, decode_rows=0)
  # prompts of 150, 88, 69, 5 and 1 tokens and a dummy row in a bucket of 160: widths 160, 72 and 16
  assert grouped.decoder.layout(np.array([150, 88, 69, 5, 1, 0]), 160, grouped.buckets) == ((2, 0), (2, 88),
                                                                                               (2, 144))
  assert shared.decoder.layout(np.array([150, 88, 69, 5, 1, 0]), 160, shared.buckets) is None
  a, b = grouped.generate(items), shared.generate(items)
  assert a.tokens == b.tokens
  assert a.padding_fraction == b.padding_fraction                # the same prefill, its cache then cut
  assert grouped.compilations == 2                              # one prefill, one decode chunk for the layout
