"""Packing by length (issue 28): rows of several lengths, one branch per distinct input, contexts shared once.

References: the planner's invariants (every request once, rows within their bucket, B_L * L within the budget),
and a numpy forward of the same GPT-2 weights, one request at a time, for the log-likelihoods.
"""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from tinyjax import scoring
from tinyjax.scoring.batching import plan_batches, row_cost
from tinyjax.scoring.models import GPT2, GPT2Config, common

VOCAB = 61
BUCKETS = (16, 24, 32, 48, 64, 96, 128)


class _NoText:
  bos_token_id = 0

  def encode(self, text):
    raise AssertionError("these tests pass token ids")


def _items(rng, n_items, shared, own, n_choices, cont, window=None):
  """Requests of ``n_items`` items: a ``shared`` few-shot prefix, ``own`` question tokens, choices of ``cont``."""
  prefix = rng.integers(1, VOCAB, shared).tolist()
  reqs = []
  for _ in range(n_items):
    ctx = prefix + rng.integers(1, VOCAB, own).tolist()
    for _ in range(n_choices):
      ids = ctx + rng.integers(1, VOCAB, cont).tolist()
      if window is not None:
        ids = ids[-(window + 1):]
      reqs.append(scoring.EncodedRequest(tuple(ids), cont))
  return reqs


def _mixed(seed=0):
  rng = np.random.default_rng(seed)
  return (_items(rng, 3, 40, 30, 4, 1, window=127)      # MMLU-like: long shared start, long questions, 1 token
          + _items(rng, 4, 30, 3, 5, 6)                   # TruthfulQA-like: one prompt, short questions
          + _items(rng, 3, 0, 50, 4, 9)                   # ARC-like: own long context, 4 choices
          + _items(rng, 5, 0, 8, 2, 4))                   # short


def _check_plan(plan, reqs, row_tokens, batch_size):
  seen = []
  for b in plan.batches:
    rows, length = b.tokens.shape
    assert length in BUCKETS
    assert rows * length <= row_tokens or rows == 1
    assert batch_size % rows == 0
    used = b.segment_ids > 0
    assert (b.positions[used] < length).all()
    seen += [int(i) for i in b.request_index.ravel() if i >= 0]
  assert sorted(seen) == list(range(len(reqs)))       # every request in exactly one slot
  assert len(plan.shapes) <= len(BUCKETS)


def test_rows_of_several_lengths_hold_every_request_once():
  reqs = _mixed()
  plan = plan_batches(reqs, batch_size=8, buckets=BUCKETS, pack=True, share_prefix=True, row_tokens=256,
                      attention_weight=0.02)
  _check_plan(plan, reqs, 256, 8)
  one = plan_batches(reqs, batch_size=8, buckets=BUCKETS, pack=True, share_prefix=True, attention_weight=0.02)
  assert len(one.shapes) == 1 and len(plan.shapes) > 1
  assert plan.n_fed_tokens == one.n_fed_tokens          # the same units, laid out differently
  assert plan.cost < one.cost                           # short rows: less attention work
  assert plan.cost == pytest.approx(sum(b.tokens.shape[0] * row_cost(b.tokens.shape[1], 0.02) for b in plan.batches))


def test_partial_batch_spreads_over_longer_batches_dummy_rows():
  # Rows of 128 and 96 go 2 to a batch (row_tokens 256), rows of 64 go 4: one request each of 128 and 96 input
  # tokens and two of 64 leave one dummy row in the 128 and 96 batches, and a (4, 64) batch half empty. The two
  # rows of 64 take those dummy rows, one each, and the (4, 64) batch is not run: 448 slots instead of 512.
  rng = np.random.default_rng(4)
  reqs = [scoring.EncodedRequest(tuple([k + 1] + rng.integers(1, VOCAB, n).tolist()), 1)
          for k, n in enumerate((128, 96, 64, 64))]
  plan = plan_batches(reqs, batch_size=8, buckets=BUCKETS, pack=True, share_prefix=True, row_tokens=256)
  _check_plan(plan, reqs, 256, 8)
  assert plan.shapes == ((2, 96), (2, 128)) and plan.n_slot_tokens == 448
  assert plan.n_fed_tokens == 128 + 96 + 64 + 64


def test_moving_a_partial_batch_never_costs_more():
  # Score groups of 2 rows with 1/16 of their positions scored: a row of 128 takes 16, a row of 96 12. Two units of
  # 10 scored tokens (128 and 64 input tokens) open a row of 128 and one of 96, each alone in its batch. Moving the
  # 96 row into the 128 batch's dummy row would put 20 scored tokens in one group, which opens a second batch of
  # 128: the planner keeps the two batches as they were.
  rng = np.random.default_rng(5)
  reqs = [scoring.EncodedRequest(tuple([k + 1] + rng.integers(1, VOCAB, n).tolist()), 10)
          for k, n in enumerate((128, 64))]
  plan = plan_batches(reqs, batch_size=8, buckets=BUCKETS, pack=True, share_prefix=True, row_tokens=256,
                      score_fraction=1 / 16, group_rows=2, attention_weight=0.01)
  _check_plan(plan, reqs, 256, 8)
  assert plan.shapes == ((2, 96), (2, 128)) and plan.n_slot_tokens == 448


def test_one_token_choices_share_one_branch():
  # Four one-token choices after a context of exactly the window: the context is fed once, in one row of the
  # window (lm-eval's one-token lookup), where one branch per choice would not fit.
  rng = np.random.default_rng(1)
  reqs = _items(rng, 1, 0, 200, 4, 1, window=127)
  plan = plan_batches(reqs, batch_size=2, buckets=BUCKETS, pack=True, share_prefix=True, row_tokens=256)
  assert plan.n_fed_tokens == 127 and len(plan.batches) == 1
  b = plan.batches[0]
  valid = b.score_valid[b.score_valid.any(axis=1)][0]
  index = b.score_index[b.score_valid.any(axis=1)][0][valid]
  assert len(set(index.tolist())) == 1                  # four scored entries at one position
  assert sorted(b.score_targets[b.score_valid].tolist()) == sorted(r.ids[-1] for r in reqs)


def test_shared_prompt_only_when_it_saves_positions():
  rng = np.random.default_rng(2)
  long_own = _items(rng, 2, 30, 40, 4, 2)               # sharing 30 tokens would repeat 40 + 2 per choice
  short_own = _items(rng, 2, 30, 3, 5, 6)               # sharing 30 tokens repeats 3 + 6 per choice
  one_token = _items(rng, 2, 30, 40, 4, 1)              # one branch per item: 40 + 1, once
  fed = [plan_batches(reqs, batch_size=1, buckets=(512,), pack=True, share_prefix=True).n_fed_tokens
         for reqs in (long_own, short_own, one_token)]
  assert fed[0] == 2 * (70 - 1) + 8 * 2                 # each item's context once, its choices after it
  assert fed[1] == 30 - 1 + 2 * 5 * (3 + 6) < 2 * (33 - 1 + 5 * 6)   # the prompt once: fewer than apart
  assert fed[2] == 30 - 1 + 2 * (40 + 1)                # the prompt once, then each question once


def _numpy_loglik(model, ids, n_cont):
  """log p(continuation | context) by a float64 numpy GPT-2 forward of the unpacked request."""
  p = {k: np.asarray(v, np.float64) for k, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
  cfg = model.config
  x = p[("wte", "embedding")][list(ids[:-1])] + p[("wpe", "embedding")][np.arange(len(ids) - 1)]
  t, d, h = x.shape[0], cfg.n_embd, cfg.n_head

  def ln(y, name):
    mu, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
    return (y - mu) / np.sqrt(var + cfg.layer_norm_epsilon) * p[name + ("scale",)] + p[name + ("bias",)]

  def lin(y, name):
    return y @ p[name + ("kernel",)] + p[name + ("bias",)]

  for i in range(cfg.n_layer):
    blk = ("h", i)
    q, k, v = np.split(lin(ln(x, blk + ("ln_1",)), blk + ("c_attn",)), 3, axis=-1)
    q, k, v = (a.reshape(t, h, d // h).transpose(1, 0, 2) for a in (q, k, v))
    s = q @ k.transpose(0, 2, 1) / np.sqrt(d // h) + np.triu(np.full((t, t), -np.inf), 1)
    w = np.exp(s - s.max(-1, keepdims=True))
    a = (w / w.sum(-1, keepdims=True)) @ v
    x = x + lin(a.transpose(1, 0, 2).reshape(t, d), blk + ("c_proj",))
    y = lin(ln(x, blk + ("ln_2",)), blk + ("c_fc",))
    y = 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y ** 3)))
    x = x + lin(y, blk + ("mlp_proj",))
  logits = ln(x, ("ln_f",)) @ p[("wte", "embedding")].T
  logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
      - logits.max(-1, keepdims=True)
  targets = np.asarray(ids[1:])
  return float(logp[np.arange(t), targets][t - n_cont:].sum())


@pytest.mark.parametrize("chunk", [16, 256])
def test_length_packed_scores_equal_numpy_reference(monkeypatch, chunk):
  # chunk 16: rows of 24..128 run their attention in query chunks that skip the keys after them
  monkeypatch.setattr(common, "ATTENTION_CHUNK", chunk)
  model = GPT2(GPT2Config(vocab_size=VOCAB, n_positions=128, n_embd=32, n_layer=2, n_head=2), rngs=nnx.Rngs(0))
  reqs = _mixed(3)
  scorer = scoring.Scorer(model, _NoText(), batch_size=4, buckets=BUCKETS)
  assert scorer.row_tokens is not None
  ll, _ = scorer.score_encoded(reqs)
  plan = scorer.last_plan
  assert len(plan.shapes) > 1 and scorer.compilations == len(plan.shapes)
  ref = np.array([_numpy_loglik(model, r.ids, r.n_cont) for r in reqs])
  np.testing.assert_allclose(ll, ref, rtol=2e-4, atol=2e-4)
  scorer.score_encoded(reqs)                             # the same shapes: nothing new to compile
  assert scorer.compilations == len(plan.shapes)


def test_attention_one_head_at_a_time_on_cpu_equals_all_heads():
  # On CPU, self-attention runs one head at a time (a lax.map, so that a head's scores stay in the cache); on other
  # platforms all heads go together. Both must give the same values to the bit, and match a numpy softmax.
  import jax
  import jax.numpy as jnp

  rng = np.random.default_rng(0)
  b, t, h, kv, d = 2, 300, 4, 2, 8                          # 300 > ATTENTION_CHUNK: two query chunks; GQA
  q = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
  k, v = (jnp.asarray(rng.normal(size=(b, t, kv, d)), jnp.float32) for _ in range(2))
  seg = jnp.asarray(np.repeat([[1, 2, 3]], 100, axis=1).reshape(1, t).repeat(b, 0))
  got = np.asarray(jax.jit(lambda q, k, v: common.causal_attention(q, k, v, seg))(q, k, v))
  mask = common.packed_mask(seg, seg)
  kr, vr = (jnp.swapaxes(jnp.repeat(x, h // kv, axis=2), 1, 2) for x in (k, v))
  all_heads = jax.jit(lambda q: jnp.swapaxes(common._chunked_attention(jnp.swapaxes(q, 1, 2), kr, vr, mask), 1, 2))
  np.testing.assert_array_equal(got, np.asarray(all_heads(q)))
  qn = np.swapaxes(np.asarray(q, np.float64), 1, 2)
  kn, vn = np.asarray(kr, np.float64), np.asarray(vr, np.float64)   # [B, H, T, D]
  s = np.where(np.asarray(mask), qn @ np.swapaxes(kn, 2, 3) / np.sqrt(d), -np.inf)
  w = np.exp(s - s.max(-1, keepdims=True))
  np.testing.assert_allclose(got, np.swapaxes((w / w.sum(-1, keepdims=True)) @ vn, 1, 2), rtol=1e-4, atol=1e-5)
  # the CPU lowering holds the per-head loop; a GPU or TPU lowering does not
  traced = jax.jit(lambda q, k, v: common.causal_attention(q, k, v, seg)).trace(q, k, v)
  assert "stablehlo.while" in traced.lower(lowering_platforms=("cpu",)).as_text()
  for platform in ("cuda", "tpu"):
    assert "stablehlo.while" not in traced.lower(lowering_platforms=(platform,)).as_text()
