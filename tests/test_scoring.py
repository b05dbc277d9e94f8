"""tinyjax.scoring: lm-eval request semantics, closed-form log-likelihoods, batching, errors, compilations, hook."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tinyjax import kernels, scoring
from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring.models import GPT2, GPT2Config

# --------------------------------------------------------------------------------------------------------------
# Fixtures: a character tokenizer + bigram lookup-table model (closed-form log-probs), a BPE tokenizer, a tiny GPT-2


class CharTokenizer:
  """One token per character: id = ord(c) - 31 for printable ASCII and newline -> 96; 0 is BOS."""

  bos_token_id = 0

  def encode(self, text):
    return [96 if c == "\n" else ord(c) - 31 for c in text]


VOCAB = 97


@pytest.fixture(scope="module")
def bigram():
  rng = np.random.default_rng(0)
  table = rng.normal(size=(VOCAB, VOCAB)).astype(np.float32) * 2.0
  logp = table - np.log(np.exp(table.astype(np.float64)).sum(1, keepdims=True))   # [prev, next]

  def apply_fn(params, tokens):
    return params["table"][tokens]                                                  # [B, L, V]
  return apply_fn, {"table": jnp.asarray(table)}, logp


def closed_form(logp, tok, context, continuation):
  """Reference: lm-eval encode rules written out directly, then sum of bigram log-probs."""
  if context == "":
    ctx, cont = [tok.bos_token_id], tok.encode(continuation)
  else:
    n = len(context) - len(context.rstrip())
    if n:
      context, continuation = context[:-n], context[-n:] + continuation
    ctx = tok.encode(context)
    cont = tok.encode(context + continuation)[len(ctx):]
  ids = ctx + cont
  return float(sum(logp[ids[k - 1], ids[k]] for k in range(len(ids) - len(cont), len(ids))))


@pytest.fixture(scope="module")
def bpe():
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  corpus = ["Question: what is two plus two?\nAnswer: four", "The cat sat on the mat.",
            "Paris is the capital of France.", "capital letters and capitalism", "The dog ran to the park."] * 30
  tok.train_from_iterator(corpus, trainer)
  return tok


@pytest.fixture(scope="module")
def gpt2(bpe):
  cfg = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=4)
  return GPT2(cfg, rngs=nnx.Rngs(1))


ITEMS_TEXT = [
    ("Question: 2+2=?\nAnswer:", ["4", "5", "four"], 2),
    ("The cat sat on the", ["mat", "dog", "capital of France"], 0),
    ("Paris is the ", ["capital", "cat"], 0),                    # trailing space moves to the continuation
    ("", ["The dog ran.", "The cat sat."], 1),                 # empty context -> BOS prefix
    ("Paris is the cap", ["ital of France.", "ital"], 0),      # BPE merge across the boundary
]


def make_items():
  return [scoring.MultipleChoice(context=c, choices=ch, gold=g) for c, ch, g in ITEMS_TEXT]


# --------------------------------------------------------------------------------------------------------------
# Closed-form checks


def test_loglik_acc_acc_norm_closed_form(bigram):
  apply_fn, params, logp = bigram
  tok = CharTokenizer()
  items = make_items() + [scoring.MultipleChoice("Pick: ", ["a", "bb", "ccc", "dddd"], gold=3)]
  res = scoring.score(apply_fn, params, tok, items, batch_size=4, max_length=64)
  assert res.loglik.shape == (len(items), 4) and res.loglik.dtype == np.float32
  for i, it in enumerate(items):
    ref = [closed_form(logp, tok, it.context, " " + c) for c in it.choices]
    np.testing.assert_allclose(res.loglik[i, :len(ref)], ref, rtol=1e-5, atol=1e-4)
    assert np.all(np.isneginf(res.loglik[i, len(ref):]))
    assert res.acc[i] == float(np.argmax(ref) == it.gold)
    assert res.acc_norm[i] == float(np.argmax(np.array(ref) / [len(c) for c in it.choices]) == it.gold)
    assert res.acc_bytes[i] == res.acc_norm[i]  # ASCII: bytes == characters


def test_acc_norm_differs_from_acc():
  # A hand-made table where the long choice wins only after length normalisation.
  tok = CharTokenizer()
  table = np.full((VOCAB, VOCAB), -5.0, np.float32)
  a, b = tok.encode("a")[0], tok.encode("b")[0]
  space = tok.encode(" ")[0]
  table[space, a] = 0.0          # " a": cheap first token
  table[a, a] = -1.0
  table[space, b] = 1.0          # " b": one very likely token

  def apply_fn(params, tokens):
    return params[tokens]
  item = scoring.MultipleChoice("x", ["aaaaaa", "b"], gold=0)
  res = scoring.score(apply_fn, jnp.asarray(table), tok, [item], max_length=16)
  lp = table - np.log(np.exp(table.astype(np.float64)).sum(1, keepdims=True))
  long_ll = lp[tok.encode("x")[0], space] + lp[space, a] + 5 * lp[a, a]
  short_ll = lp[tok.encode("x")[0], space] + lp[space, b]
  np.testing.assert_allclose(res.loglik[0], [long_ll, short_ll], rtol=1e-5)
  assert short_ll > long_ll and long_ll / 6 > short_ll / 1
  assert res.acc[0] == 0.0 and res.acc_norm[0] == 1.0


def test_mutual_info_and_mc2(bigram):
  apply_fn, params, logp = bigram
  tok = CharTokenizer()
  # No delimiter, so that the first continuation token's log-prob depends on the context (bigram model).
  items = [scoring.MultipleChoice("Q: sky?", ["blue", "green", "red"], gold=0, labels=[1, 1, 0],
                                  target_delimiter=""),
           scoring.MultipleChoice("Q: 1+1", ["2", "3", "x", "y", "z"], gold=0, target_delimiter="")]
  res = scoring.score(apply_fn, params, tok, items, mutual_info=True, max_length=32)
  n_right = 0
  for i, it in enumerate(items):
    cond = np.array([closed_form(logp, tok, it.context, c) for c in it.choices])
    unc = np.array([closed_form(logp, tok, "", c) for c in it.choices])
    np.testing.assert_allclose(res.loglik_unconditional[i, :len(unc)], unc, rtol=1e-5, atol=1e-4)
    mi = cond - unc
    assert np.sort(mi)[-1] - np.sort(mi)[-2] > 1e-3  # no near-tie
    assert res.acc_mutual_info[i] == float(np.argmax(mi) == it.gold)
    n_right += res.acc_mutual_info[i] != res.acc[i]
  # TruthfulQA-mc2 as lm-eval computes it: true answers first, split at the first false one.
  ll = res.loglik[0, :3].astype(np.float64)
  p_true, p_false = np.exp(ll[:2]), np.exp(ll[2:])
  np.testing.assert_allclose(res.mc2[0], p_true.sum() / (p_true.sum() + p_false.sum()), rtol=1e-6)
  assert np.isnan(res.mc2[1])


def test_fewshot_context():
  ctx = scoring.fewshot_context("Q: 3+3?\nA:", [("Q: 1+1?\nA:", "2"), ("Q: 2+2?\nA:", "4")],
                                description="Arithmetic.\n\n")
  assert ctx == "Arithmetic.\n\nQ: 1+1?\nA: 2\n\nQ: 2+2?\nA: 4\n\nQ: 3+3?\nA:"
  assert scoring.fewshot_context("Q", []) == "Q"


# --------------------------------------------------------------------------------------------------------------
# Tokenization split cases


def _lm_eval_pair(tok, context, continuation):
  n = len(context) - len(context.rstrip())
  if n:
    context, continuation = context[:-n], context[-n:] + continuation
  whole = tok.encode(context + continuation, add_special_tokens=False).ids
  ctx = tok.encode(context, add_special_tokens=False).ids
  return ctx, whole[len(ctx):]


def test_encode_pair_bpe_cases(bpe):
  adapter = scoring.as_tokenizer(bpe)
  eot = bpe.token_to_id("<|endoftext|>")
  assert adapter.prefix_token_id == eot
  # Trailing whitespace moves into the continuation.
  ctx, cont = scoring.encode_pair(adapter.encode, "Paris is the ", " capital", adapter.prefix_token_id)
  assert ctx == bpe.encode("Paris is the", add_special_tokens=False).ids
  assert (ctx, cont) == _lm_eval_pair(bpe, "Paris is the ", " capital")
  assert bpe.decode(cont) == "  capital"
  # A BPE merge across the boundary: the joint encoding differs from encoding the parts separately.
  ctx, cont = scoring.encode_pair(adapter.encode, "Paris is the cap", "ital", adapter.prefix_token_id)
  separate = bpe.encode("Paris is the cap", add_special_tokens=False).ids + bpe.encode("ital").ids
  joint = bpe.encode("Paris is the capital", add_special_tokens=False).ids
  assert joint != separate, "the corpus should make 'capital' one merge"
  assert (ctx, cont) == _lm_eval_pair(bpe, "Paris is the cap", "ital")
  assert cont == joint[len(ctx):]  # the model reads ctx + cont, which is not the joint encoding here
  assert ctx + cont != joint
  # Empty context: the continuation is encoded alone after the prefix token.
  ctx, cont = scoring.encode_pair(adapter.encode, "", " The cat", adapter.prefix_token_id)
  assert ctx == [eot] and cont == bpe.encode(" The cat").ids


def test_transformers_tokenizer_adapter(bpe, tmp_path):
  transformers = pytest.importorskip("transformers")
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                              eos_token="<|endoftext|>")
  fast.save_pretrained(tmp_path)
  loaded = scoring.load_tokenizer(tmp_path)
  assert loaded.prefix_token_id == bpe.token_to_id("<|endoftext|>")
  text = "Question: what is two plus two?"
  assert loaded.encode(text) == bpe.encode(text, add_special_tokens=False).ids


def test_left_truncation_matches_harness(bigram):
  apply_fn, params, logp = bigram
  tok = CharTokenizer()
  ctx_ids, cont_ids = list(range(1, 40)), [41, 42, 43]
  ids, n_cont = scoring.truncate_left(ctx_ids, cont_ids, max_length=10)
  assert ids == (ctx_ids + cont_ids)[-11:] and n_cont == 3
  context = "The quick brown fox jumps over the lazy dog"
  res = scoring.score(apply_fn, params, tok, [scoring.MultipleChoice(context, ["cat", "dog"])], max_length=12)
  for j, choice in enumerate(["cat", "dog"]):
    full = tok.encode(context + " " + choice)[-13:]        # (context + continuation)[-(max_length + 1):]
    ref = sum(logp[full[k - 1], full[k]] for k in range(len(full) - 4, len(full)))
    np.testing.assert_allclose(res.loglik[0, j], ref, rtol=1e-5)


# --------------------------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_errors(bigram):
  apply_fn, params, _ = bigram
  tok = CharTokenizer()
  with pytest.raises(ValueError, match="gold index 2 is out of range"):
    scoring.MultipleChoice("q", ["a", "b"], gold=2)
  with pytest.raises(ValueError, match="choices is empty"):
    scoring.MultipleChoice("q", [], gold=0)
  with pytest.raises(ItemError, match="sequence of strings"):
    scoring.MultipleChoice("q", "ab", gold=0)
  with pytest.raises(ValueError, match="truncate=False"):
    scoring.score(apply_fn, params, tok, [scoring.MultipleChoice("x" * 40, ["a"])], max_length=16, truncate=False)
  with pytest.raises(ValueError, match="more than the model window"):
    scoring.score(apply_fn, params, tok, [scoring.MultipleChoice("x", ["a" * 40])], max_length=16)
  with pytest.raises(ItemError, match="items is empty"):
    scoring.score(apply_fn, params, tok, [], max_length=16)
  with pytest.raises(ConfigError, match="encode"):
    scoring.as_tokenizer(object())
  with pytest.raises(ValueError, match="batch_size"):
    scoring.Scorer(apply_fn, tok, batch_size=0)


def test_token_outside_vocab_is_an_error(bigram):
  apply_fn, params, _ = bigram

  class SmallVocab:  # an apply_fn that declares its vocabulary, as the NNX ports do
    vocab_size = 50

    def __call__(self, p, tokens):
      return apply_fn(p, tokens)
  with pytest.raises(ValueError, match="outside the model vocabulary of 50"):
    scoring.score(SmallVocab(), params, CharTokenizer(), [scoring.MultipleChoice("zz", ["y"])], max_length=8)

  class Big:  # ids beyond the bigram table's 97 rows; a plain apply_fn reveals its vocabulary when traced
    bos_token_id = 0

    def encode(self, text):
      return [200 if c == "y" else 5 for c in text]
  with pytest.raises(ValueError, match="outside the model vocabulary of 97"):
    scoring.Scorer(apply_fn, Big(), max_length=8).score([scoring.MultipleChoice("zz", ["y"])], params)


# --------------------------------------------------------------------------------------------------------------
# Batching: padded / bucketed / packed results equal one-at-a-time unpadded scoring; compilations


def _np_gpt2_logits(model, ids):
  """Independent numpy GPT-2 forward pass on one unpadded sequence [T] -> [T, V] (float64)."""
  def val(v):
    return np.asarray(v.get_value(), np.float64)

  def ln(x, m):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * val(m.scale) + val(m.bias)

  def lin(x, m):
    return x @ val(m.kernel) + val(m.bias)
  t = len(ids)
  x = val(model.wte.embedding)[ids] + val(model.wpe.embedding)[np.arange(t)]
  for blk in model.h:
    q, k, v = np.split(lin(ln(x, blk.ln_1), blk.c_attn), 3, axis=-1)
    h = blk.n_head
    q, k, v = (a.reshape(t, h, -1).transpose(1, 0, 2) for a in (q, k, v))
    s = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1]) + np.where(np.tri(t, dtype=bool), 0.0, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    a = (w / w.sum(-1, keepdims=True)) @ v
    x = x + lin(a.transpose(1, 0, 2).reshape(t, -1), blk.c_proj)
    f = lin(ln(x, blk.ln_2), blk.c_fc)
    f = 0.5 * f * (1 + np.tanh(np.sqrt(2 / np.pi) * (f + 0.044715 * f ** 3)))
    x = x + lin(f, blk.mlp_proj)
  return ln(x, model.ln_f) @ val(model.wte.embedding).T


def _one_at_a_time(model, adapter, items, max_length=64):
  out = []
  for it in items:
    row = []
    for ctx, cont in it.requests():
      c, x = scoring.encode_pair(adapter.encode, ctx, cont, adapter.prefix_token_id)
      ids, n = scoring.truncate_left(c, x, max_length)
      logits = _np_gpt2_logits(model, np.asarray(ids[:-1]))
      m = logits.max(-1, keepdims=True)
      logp = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
      tgt = np.asarray(ids[1:])
      row.append(logp[np.arange(len(tgt)), tgt][-n:].sum())
    out.append(row)
  return out


@pytest.mark.parametrize("pack,share", [(False, False), (True, False), (True, True)])
def test_batched_equals_one_at_a_time(gpt2, bpe, pack, share):
  items = make_items()
  scorer = scoring.Scorer(gpt2, bpe, batch_size=4, pack=pack, share_prefix=share, buckets=(16, 32, 64))
  res = scorer.score(items)
  ref = _one_at_a_time(gpt2, scorer.tokenizer, items)
  for i, r in enumerate(ref):
    np.testing.assert_allclose(res.loglik[i, :len(r)], r, rtol=1e-5, atol=1e-5)
  assert 0.0 <= res.padding_fraction < 1.0


def test_plan_batches_layout():
  reqs = [scoring.EncodedRequest(tuple(range(n + 1)), 2) for n in (3, 9, 5, 17, 2)]
  plan = scoring.plan_batches(reqs, batch_size=2, buckets=(4, 8, 16, 32))
  assert plan.shapes == ((2, 4), (2, 8), (2, 16), (2, 32))   # 3, 2 -> 4; 5 -> 8; 9 -> 16; 17 -> 32
  assert plan.n_real_tokens == 3 + 9 + 5 + 17 + 2
  assert plan.n_slot_tokens == 2 * 4 + 2 * 8 + 2 * 16 + 2 * 32
  np.testing.assert_allclose(plan.padding_fraction, 1 - 36 / 120)
  seen = sorted(int(i) for b in plan.batches for i in b.request_index.ravel() if i >= 0)
  assert seen == [0, 1, 2, 3, 4]
  for b in plan.batches:
    assert b.score_mask.sum() == 2 * (b.request_index[:, 0] >= 0).sum()
  packed = scoring.plan_batches(reqs, batch_size=2, buckets=(4, 8, 16, 32), pack=True, max_segments=4)
  assert packed.shapes == ((2, 32),)
  assert packed.padding_fraction < plan.padding_fraction
  seen = sorted(int(i) for b in packed.batches for i in b.request_index.ravel() if i >= 0)
  assert seen == [0, 1, 2, 3, 4]
  # The default pack length is the candidate bucket needing the fewest positions: 2 rows of 24 (48) beat 2 of 32.
  auto = scoring.plan_batches(reqs, batch_size=2, buckets=(4, 8, 16, 24, 32), pack=True)
  assert auto.shapes == ((2, 24),) and auto.n_slot_tokens == 48
  assert scoring.power_of_two_buckets(100, half_steps=True) == (16, 24, 32, 48, 64, 96, 100)


def test_shared_prefix_layout():
  ctx = (5, 6, 7, 8)
  reqs = [scoring.EncodedRequest(ctx + (9,), 1), scoring.EncodedRequest(ctx + (10, 11), 2),
          scoring.EncodedRequest((1, 2, 3), 1)]
  plan = scoring.plan_batches(reqs, batch_size=1, buckets=(16,), pack=True, share_prefix=True)
  assert len(plan.batches) == 1
  b = plan.batches[0]
  # Row: shared prefix 5 6 7 | branch 1: 8 -> 9 | branch 2: 8 10 -> 10 11 | second unit: 1 2 -> 2 3 (scored 3)
  n = 3 + 1 + 2 + 2
  assert b.tokens[0, :n].tolist() == [5, 6, 7, 8, 8, 10, 1, 2]
  assert b.targets[0, :n].tolist() == [6, 7, 8, 9, 10, 11, 2, 3]
  assert b.branch_ids[0, :n].tolist() == [0, 0, 0, 1, 2, 2, 0, 3]
  assert b.segment_ids[0, :n].tolist() == [1, 1, 1, 1, 1, 1, 2, 2]
  assert b.positions[0, :n].tolist() == [0, 1, 2, 3, 3, 4, 0, 1]
  assert b.score_mask[0, :n].tolist() == [False] * 3 + [True] * 3 + [False, True]
  assert b.request_index[0, :3].tolist() == [0, 1, 2]
  assert plan.n_real_tokens == 4 + 5 + 2 and plan.n_fed_tokens == n
  np.testing.assert_allclose(plan.padding_fraction, 1 - n / 16)


def test_common_context_start_is_shared():
  # Winogrande-style: contexts that differ only at the end share their common start; each branch feeds the rest
  # of its context unscored, then its continuation scored.
  reqs = [scoring.EncodedRequest((5, 6, 7, 8, 9, 10), 1), scoring.EncodedRequest((5, 6, 7, 3, 10), 1),
          scoring.EncodedRequest((1, 2), 1)]
  plan = scoring.plan_batches(reqs, batch_size=1, buckets=(16,), pack=True, share_prefix=True)
  b = plan.batches[0]
  n = 2 + 3 + 2 + 1
  # Row: shared 5 6 | branch 1: 7 8 9 -> 8 9 10 (10 scored) | branch 2: 7 3 -> 3 10 (10 scored) | unit 2: 1 -> 2
  assert b.tokens[0, :n].tolist() == [5, 6, 7, 8, 9, 7, 3, 1]
  assert b.targets[0, :n].tolist() == [6, 7, 8, 9, 10, 3, 10, 2]
  assert b.branch_ids[0, :n].tolist() == [0, 0, 1, 1, 1, 2, 2, 3]
  assert b.positions[0, :n].tolist() == [0, 1, 2, 3, 4, 2, 3, 0]
  assert b.score_mask[0, :n].tolist() == [False, False, False, False, True, False, True, True]
  assert plan.n_fed_tokens == n and plan.n_real_tokens == 5 + 4 + 1
  # Contexts that share a single token are not grouped (nothing to save).
  single = scoring.plan_batches([scoring.EncodedRequest((5, 6, 1), 1), scoring.EncodedRequest((5, 7, 1), 1)],
                                batch_size=1, buckets=(16,), pack=True, share_prefix=True)
  assert single.n_fed_tokens == 4 and single.batches[0].segment_ids[0, :4].tolist() == [1, 1, 2, 2]


def test_group_rows_share_one_score_budget():
  # Rows with many scored positions share a group's budget with rows that have few.
  rng = np.random.default_rng(3)
  reqs = [scoring.EncodedRequest(tuple(rng.integers(1, 50, 20 + 3 * (k % 4)).tolist()), 1 + 7 * (k % 2))
          for k in range(13)]
  per_row = scoring.plan_batches(reqs, batch_size=4, buckets=(32,), pack=True, max_segments=4, score_fraction=0.25)
  grouped = scoring.plan_batches(reqs, batch_size=4, buckets=(32,), pack=True, max_segments=4, score_fraction=0.25,
                                 group_rows=4)
  assert per_row.batches[0].score_index.shape == (4, 8) and grouped.batches[0].score_index.shape == (1, 32)
  assert grouped.n_slot_tokens <= per_row.n_slot_tokens
  for plan in (per_row, grouped):
    seen = []
    for b in plan.batches:
      g, k = b.score_index.shape
      r = b.tokens.shape[0] // g
      for grp in range(g):
        valid = b.score_valid[grp]
        assert valid.sum() <= k
        idx, slots = b.score_index[grp][valid], b.score_slots[grp][valid]
        rows, cols = grp * r + idx // 32, idx % 32
        # every scored entry points at a scored position of its row, with that position's target and slot
        assert b.score_mask[rows, cols].all()
        np.testing.assert_array_equal(b.targets[rows, cols], b.score_targets[grp][valid])
        np.testing.assert_array_equal(b.branch_ids[rows, cols], slots - (idx // 32) * 4)
        assert valid.sum() == b.score_mask[grp * r:(grp + 1) * r].sum()
      seen += [int(i) for i in b.request_index.ravel() if i >= 0]
    assert sorted(seen) == list(range(len(reqs)))
  with pytest.raises(ValueError, match="group_rows"):
    scoring.plan_batches(reqs, batch_size=4, buckets=(32,), pack=True, group_rows=3)


def _jit_hidden(model):
  graphdef, state = nnx.split(model)
  return jax.jit(lambda *args: nnx.merge(graphdef, state).hidden(*args))


@pytest.mark.parametrize("groups", [1, 2])
def test_hidden_at_query_index_equals_gathered(gpt2, groups):
  # The last layer run only at the queries gives the full forward's hidden states there.
  rng = np.random.default_rng(groups)
  b, t = 4, 12
  tokens = jnp.asarray(rng.integers(0, 100, (b, t)), jnp.int32)
  seg = jnp.asarray(np.sort(rng.integers(0, 3, (b, t)), axis=1)[:, ::-1].copy(), jnp.int32)
  branch = jnp.asarray(rng.integers(0, 3, (b, t)) * (np.arange(t) > 5), jnp.int32)
  pos = jnp.asarray(np.tile(np.arange(t), (b, 1)), jnp.int32)
  hidden = _jit_hidden(gpt2)
  full = np.asarray(hidden(tokens, seg, pos, branch)).reshape(groups, -1, 32)
  query = jnp.asarray(np.sort(rng.choice(b // groups * t, (groups, 5), replace=True), axis=1), jnp.int32)
  part = hidden(tokens, seg, pos, branch, query)
  np.testing.assert_allclose(part, np.take_along_axis(full, np.asarray(query)[..., None], axis=1), atol=2e-5)


def test_llama_hidden_at_query_index_equals_gathered():
  from tinyjax.scoring.models import Llama, LlamaConfig
  cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=64)
  model = Llama(cfg, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  tokens = jnp.asarray(rng.integers(0, 64, (2, 10)), jnp.int32)
  seg = jnp.asarray([[1] * 6 + [2] * 4, [1] * 10], jnp.int32)
  pos = jnp.asarray([list(range(6)) + list(range(4)), list(range(10))], jnp.int32)
  hidden = _jit_hidden(model)
  full = np.asarray(hidden(tokens, seg, pos, None)).reshape(1, 20, 32)
  query = jnp.asarray([[3, 5, 7, 9, 12, 19]], jnp.int32)
  part = hidden(tokens, seg, pos, None, query)
  np.testing.assert_allclose(part, np.take_along_axis(full, np.asarray(query)[..., None], axis=1), atol=2e-5)


def test_score_fraction_choice_is_kept(gpt2, bpe):
  # The default score_fraction is chosen per call; the same requests get the same plan, so later calls reuse
  # the compilation.
  scorer = scoring.Scorer(gpt2, bpe, batch_size=4, buckets=(16, 32, 64))
  items = make_items()
  first = scorer.score(items)
  fraction, rows = scorer.score_fraction, scorer.group_rows
  assert fraction in (1 / 64, 1 / 32, 1 / 16, 0.125, 0.25, 0.375, 0.5, 1.0) and rows * fraction <= 1.0
  assert 4 % rows == 0
  first_plan = scorer.last_plan
  again = scorer.score(items)
  assert scorer.last_plan is first_plan          # the same requests: the plan is reused, not made again
  scorer.score(items[:-1])
  assert scorer.last_plan is not first_plan
  np.testing.assert_array_equal(first.loglik, again.loglik)
  assert (scorer.score_fraction, scorer.group_rows) == (fraction, rows)
  assert scorer.compilations == len(scorer.last_plan.shapes) == 1
  fixed = scoring.Scorer(gpt2, bpe, batch_size=4, buckets=(16, 32, 64), score_fraction=1.0, group_rows=1)
  np.testing.assert_allclose(fixed.score(items).loglik, first.loglik, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="group_rows"):
    scoring.Scorer(gpt2, bpe, batch_size=4, group_rows=3)
  with pytest.raises(ValueError, match="score_fraction"):
    scoring.Scorer(gpt2, bpe, batch_size=4, score_fraction=0.0)


def test_score_fraction_follows_the_requests(gpt2, bpe):
  # One-token continuations get a small share of scored positions, long ones a larger share; a share used before is
  # kept unless another is SWITCH_GAIN times cheaper (checked against every candidate's plan cost).
  from tinyjax.scoring import scorer as scorer_mod
  rng = np.random.default_rng(0)
  short = [scoring.EncodedRequest(tuple(rng.integers(1, 50, 40).tolist()), 1) for _ in range(24)]
  long = [scoring.EncodedRequest(tuple(rng.integers(1, 50, 30).tolist()), 24) for _ in range(24)]
  sc = scoring.Scorer(gpt2, bpe, batch_size=4, buckets=(16, 32, 64))

  def costs(reqs):
    out = {}
    for f in scorer_mod._FRACTIONS:
      try:
        plan = scoring.plan_batches(reqs, batch_size=4, buckets=(16, 32, 64), pack=True, max_segments=32,
                                    share_prefix=True, score_fraction=f, group_rows=sc._rows_for(f),
                                    row_tokens=sc.row_tokens, attention_weight=sc._attention_weight)
      except ValueError:
        continue
      out[f] = plan.cost + sc._head_weight * plan.n_score_slots
    return out

  c_short, c_long = costs(short), costs(long)
  sc.plan(short)
  f_short = sc.score_fraction
  assert c_short[f_short] == min(c_short.values()) and f_short <= 1 / 16
  sc.plan(long)
  f_long = sc.score_fraction
  assert f_long > f_short and c_long[f_long] == min(c_long.values())
  assert c_long[f_long] * scorer_mod.SWITCH_GAIN <= c_long.get(f_short, np.inf)
  sc.plan(short)
  assert sc.score_fraction == f_short   # both used: the cheaper of the two
  sc.fix_score_fraction(0.5)
  sc.plan(short)
  assert (sc.score_fraction, sc.group_rows) == (0.5, 2)


def test_one_compilation_per_bucket(gpt2, bpe):
  scorer = scoring.Scorer(gpt2, bpe, batch_size=2, pack=False, buckets=(16, 32, 64))
  items = make_items()
  scorer.score(items)
  shapes = scorer.last_plan.shapes
  assert len(shapes) >= 2
  assert scorer.compilations == len(shapes)
  state = nnx.state(gpt2)
  moved = jax.tree.map(lambda x: x * 1.01, state)
  for _ in range(3):
    scorer.score(items, params=moved)
  scorer.score(items[:2])
  assert scorer.compilations == len(shapes)


# --------------------------------------------------------------------------------------------------------------
# Kernel: numpy reference, size-1 edge cases, float64, no retrace


@pytest.mark.parametrize("b,t,v,s", [(1, 1, 1, 1), (3, 7, 11, 2), (2, 16, 5, 4)])
def test_segment_logprobs_numpy_reference(b, t, v, s):
  rng = np.random.default_rng(b * 100 + t)
  logits = rng.normal(size=(b, t, v)).astype(np.float32)
  targets = rng.integers(0, v, (b, t))
  seg = rng.integers(0, s + 1, (b, t))
  mask = rng.random((b, t)) < 0.7
  out = kernels.segment_logprobs(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(seg), jnp.asarray(mask), s)
  lp = logits - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
  for i in range(b):
    for k in range(1, s + 1):
      sel = (seg[i] == k) & mask[i]
      picked = lp[i, np.arange(t), targets[i]][sel]
      np.testing.assert_allclose(out.logprob[i, k - 1], picked.sum(), rtol=1e-5, atol=1e-5)
      assert out.n_tokens[i, k - 1] == sel.sum()
      assert bool(out.is_greedy[i, k - 1]) == bool(np.all(logits[i].argmax(-1)[sel] == targets[i][sel]))
  assert out.logprob.dtype == jnp.float32


def test_segment_logprobs_bf16_in_float32_out_and_float64():
  logits = jnp.ones((1, 3, 4), jnp.bfloat16)
  out = kernels.segment_logprobs(logits, jnp.zeros((1, 3), jnp.int32), jnp.ones((1, 3), jnp.int32),
                                 jnp.ones((1, 3), bool), 1)
  assert out.logprob.dtype == jnp.float32
  np.testing.assert_allclose(out.logprob, [[3 * np.log(0.25)]], rtol=1e-6)
  with jax.enable_x64(True):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 2, 3)))
    out64 = kernels.segment_logprobs(x, jnp.zeros((1, 2), jnp.int32), jnp.ones((1, 2), jnp.int32),
                                     jnp.ones((1, 2), bool), 1)
    assert out64.logprob.dtype == jnp.float64
    xn = np.asarray(x)
    ref = (xn[0, :, 0] - np.log(np.exp(xn[0]).sum(-1))).sum()
    np.testing.assert_allclose(out64.logprob[0, 0], ref, rtol=1e-12)


def test_segment_logprobs_no_retrace():
  traces = 0

  def counted(*args):
    nonlocal traces
    traces += 1
    return kernels.segment_logprobs(*args, 2)
  f = jax.jit(counted)
  for seed in range(3):
    x = jnp.asarray(np.random.default_rng(seed).normal(size=(2, 3, 5)), jnp.float32)
    f(x, jnp.zeros((2, 3), jnp.int32), jnp.ones((2, 3), jnp.int32), jnp.ones((2, 3), bool))
  assert traces == 1


# --------------------------------------------------------------------------------------------------------------
# The scorer cache behind scoring.score and ask_llm_scores: reuse without keeping a model alive


def test_score_reuses_one_scorer_and_never_keeps_the_model_alive(bigram):
  import gc
  import weakref

  from tinyjax.scoring import scorer as scorer_module

  _, params, _ = bigram
  table = params["table"]

  class Model:   # an apply_fn object that can be weakly referenced
    def __call__(self, p, tokens):
      return p["table"][tokens]

  model, tok = Model(), CharTokenizer()
  items = [scoring.MultipleChoice("The cat", ["sat", "ran"])]
  first = scoring.score(model, {"table": table}, tok, items, max_length=16)
  cached = scorer_module.cached_scorer(model, tok, mesh=None, batch_size=8, max_length=16)
  compiled = cached.compilations
  again = scoring.score(model, {"table": table}, tok, items, max_length=16)
  np.testing.assert_array_equal(first.loglik, again.loglik)
  assert cached.compilations == compiled == 1        # the second call reused the first call's compilation
  # Ask-LLM goes through the same cache (one helper for both).
  assert scorer_module.cached_scorer(model, tok, mesh=None, batch_size=8, max_length=16) is cached
  model_ref, tok_ref = weakref.ref(model), weakref.ref(tok)
  del model, tok, cached
  gc.collect()
  assert model_ref() is None and tok_ref() is None   # the cache held neither the model nor the tokenizer


# --------------------------------------------------------------------------------------------------------------
# The model adapter shared by Scorer and Generator


def test_scoring_forwards_agree_and_each_model_gets_its_own(gpt2):
  """GatherLogits, HeadAt and LastLayerAt give the same logits at the scored positions (a numpy gather of the
  full forward); the adapter picks the cheapest one the model has."""
  from tinyjax.scoring.adapter import GatherLogits, HeadAt, LastLayerAt, ModelAdapter, scoring_forward

  adapter = ModelAdapter.of(gpt2)
  assert type(scoring_forward(adapter)) is LastLayerAt
  assert type(scoring_forward(ModelAdapter.of(lambda p, t: t))) is GatherLogits
  rng = np.random.default_rng(0)
  tokens = jnp.asarray(rng.integers(0, gpt2.vocab_size, (4, 16)), jnp.int32)
  index = jnp.asarray(np.sort(rng.choice(32, (2, 5), replace=False), axis=1), jnp.int32)   # 2 groups of 2 rows
  full = np.asarray(gpt2(tokens)).reshape(2, 32, -1)
  expected = np.take_along_axis(full, np.asarray(index)[..., None], axis=1)
  params = adapter.params(None)
  for forward in (GatherLogits(), HeadAt(), LastLayerAt()):
    got = jax.jit(lambda p, t, i, f=forward: f(adapter, p, t, {}, i))(params, tokens, index)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_scorer_and_generator_set_nothing_on_the_model(gpt2, bpe, bigram):
  apply_fn, params, _ = bigram

  class Model:   # an apply_fn object: anything set on it would show in vars()
    def __call__(self, p, tokens):
      return apply_fn(p, tokens)

  model = Model()
  module_attrs = dict(vars(gpt2))
  scoring.Scorer(model, CharTokenizer(), max_length=16).score([scoring.MultipleChoice("ab", ["c", "d"])], params)
  scoring.Scorer(gpt2, bpe, max_length=32).score(make_items()[:1])
  gen = scoring.Generator(gpt2, bpe, batch_size=2)
  gen.generate([scoring.Generate("The cat", until=[], max_gen_toks=2)])
  assert vars(model) == {}
  assert dict(vars(gpt2)).keys() == module_attrs.keys()
  assert gen.adapter.model is gpt2 and gen.cached
