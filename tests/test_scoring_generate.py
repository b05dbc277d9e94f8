"""Generation (lm-eval generate_until): stop rules on a scripted model, cache == no cache, sampling law, keys, errors.

The transformers parity tests live in tests/test_scoring_generate_hf.py (they skip without torch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tinyjax import kernels, scoring
from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring.generate import Generator
from tinyjax.scoring.models import GPT2, GPT2Config, Llama, LlamaConfig

# -- a scripted model: the next token is a function of the last token only (a bigram table) ---------------------
PIECES = ["<eos>", "a", "b", "c", "Ques", "tion:", "\n", "\n\n", " 42", "x", "y", "z"]
EOS = 0


class Pieces:
  """A tokenizer over PIECES: greedy longest match; decode joins the pieces, dropping <eos> (a special token)."""

  eos_token_id = EOS
  bos_token_id = EOS

  def encode(self, text):
    out, i = [], 0
    order = sorted(range(1, len(PIECES)), key=lambda k: -len(PIECES[k]))
    while i < len(text):
      for k in order:
        if text.startswith(PIECES[k], i):
          out.append(k)
          i += len(PIECES[k])
          break
      else:
        raise ValueError(f"cannot encode {text[i:]!r}")
    return out

  def decode(self, ids):
    return "".join(PIECES[i] for i in ids if i != EOS)


def bigram_model(successor: dict[int, int], *, cached: bool):
  """An apply_fn whose argmax after token t is successor[t] (default: 'x'); with cached=True it also has the
  cache protocol (init_cache / generate_step), so both generation paths run the same law."""
  v = len(PIECES)
  table = np.full((v, v), -4.0, np.float32)
  for t in range(v):
    table[t, successor.get(t, PIECES.index("x"))] = 4.0
  table = jnp.asarray(table)

  def apply_fn(params, tokens):
    return params[tokens]

  if cached:
    apply_fn.init_cache = lambda batch, length: jnp.zeros((batch, 1), jnp.int32)
    apply_fn.generate_step = lambda params, tokens, positions, kv_mask, cache, index: (params[tokens[:, -1]], cache)
  apply_fn.vocab_size = v
  return apply_fn, table


P = {s: i for i, s in enumerate(PIECES)}


@pytest.fixture(scope="module", params=["cached", "no_cache"])
def script(request):
  """a -> b -> Ques -> tion: -> c -> <eos>; x -> \\n\\n; y -> y (never stops); z -> 42 -> \\n -> <eos>."""
  successor = {P["a"]: P["b"], P["b"]: P["Ques"], P["Ques"]: P["tion:"], P["tion:"]: P["c"], P["c"]: EOS,
               P["x"]: P["\n\n"], P["y"]: P["y"], P["z"]: P[" 42"], P[" 42"]: P["\n"], P["\n"]: EOS,
               P["\n\n"]: P["a"]}
  fn, table = bigram_model(successor, cached=request.param == "cached")
  gen = Generator(fn, Pieces(), batch_size=4, max_length=64, chunk=2)
  assert gen.cached == (request.param == "cached")
  return gen, table


def run(script, items, **kw):
  gen, table = script
  return gen.generate(items, table, **kw)


def test_stop_string_spanning_two_tokens(script):
  # a -> b, Ques, tion:  — "Question:" completes on the token "tion:"; the text is cut before it
  res = run(script, [scoring.Generate("a", until=["Question:"], max_gen_toks=10)])
  assert res.text == ["b"]
  assert res.tokens == [[P["b"], P["Ques"], P["tion:"]]]
  assert res.stop == ["until"]


def test_stop_string_at_the_very_start_gives_empty_text(script):
  res = run(script, [scoring.Generate("x", max_gen_toks=10)])      # default until: the few-shot delimiter
  assert res.text == [""]
  assert res.tokens == [[P["\n\n"]]]
  assert res.stop == ["until"]


def test_eos_first_is_an_empty_generation(script):
  res = run(script, [scoring.Generate("c", until=["Question:"], max_gen_toks=10)])
  assert res.text == [""] and res.tokens == [[EOS]] and res.stop == ["eos"]


def test_eos_before_any_stop_string(script):
  # z -> " 42" -> "\n" -> <eos>: no stop string ever appears; the text ends at EOS (not shown)
  res = run(script, [scoring.Generate("z", until=["Question:"], max_gen_toks=10)])
  assert res.text == [" 42\n"] and res.tokens == [[P[" 42"], P["\n"], EOS]] and res.stop == ["eos"]


def test_budget_ends_a_generation_and_prompt_stops_do_not_count(script):
  # the prompt itself holds the stop string "y": only new text is searched (lm-eval cuts the continuation)
  res = run(script, [scoring.Generate("yy", until=["Question:"], max_gen_toks=5)])
  assert res.tokens == [[P["y"]] * 5] and res.text == ["yyyyy"] and res.stop == ["length"]
  res = run(script, [scoring.Generate("y", until=["yyy"], max_gen_toks=9)])
  assert res.tokens == [[P["y"]] * 3] and res.text == [""] and res.stop == ["until"]


def test_stop_strings_are_cut_in_order_like_lm_eval(script):
  # lm-eval: for term in until: s = s.split(term)[0]. With until ["tion:", "Ques"], text "bQuestion:" is cut at
  # "tion:" -> "bQues", then at "Ques" -> "b"; Generate.cut does the same on any string
  res = run(script, [scoring.Generate("a", until=["tion:", "Ques"], max_gen_toks=10)])
  assert res.text == ["b"]
  assert res.tokens == [[P["b"], P["Ques"]]]   # "Ques" already completes a stop string
  assert scoring.Generate("q", until=["c", "bc"]).cut("abcabc") == "ab"
  assert scoring.Generate("q", until=["bc", "c"]).cut("abcabc") == "a"
  assert scoring.Generate("q", until=["", "b"]).cut("abc") == "a"     # empty terms are skipped, as lm-eval


def test_batches_mix_lengths_budgets_and_stops(script):
  items = [scoring.Generate("a", until=["Question:"], max_gen_toks=10), scoring.Generate("x", max_gen_toks=10),
           scoring.Generate("c" * 1 + "z", until=["Question:"], max_gen_toks=7),
           scoring.Generate("abcabcabcabcabcabcy", until=["Question:"], max_gen_toks=4),
           scoring.Generate("a", until=["Question:"], max_gen_toks=10)]
  res = run(script, items)
  one = [run(script, [it]) for it in items]
  assert res.text == [r.text[0] for r in one]
  assert res.tokens == [r.tokens[0] for r in one]
  assert res.text[3] == "yyyy" and res.stop[3] == "length"
  assert res.n_rows == 4                       # items 0 and 4 are the same greedy request: generated once
  assert res.n_new_tokens == sum(len(t) for t in res.tokens)


def test_prompt_longer_than_the_window_keeps_its_tail(script):
  gen, table = script
  long = "abc" * 30 + "z"                                   # 91 tokens, window 64
  item = scoring.Generate(long, until=["Question:"], max_gen_toks=8)
  assert gen.encode(item) == Pieces().encode(long)[-(64 - 8):]
  assert gen.generate([item], table).text == [" 42\n"]
  with pytest.raises(ItemError, match="no room"):
    gen.encode(scoring.Generate("a", max_gen_toks=64))


def test_compiles_once_per_bucket_and_budget(script):
  gen, table = script
  before = gen.compilations
  items = [scoring.Generate("a" * k, until=["Question:"], max_gen_toks=6) for k in (1, 2, 27, 28, 29, 30)]
  for _ in range(3):
    gen.generate(items, table)
  shapes = gen.last_shapes
  assert shapes == {(16, 6), (30, 6)}                   # the buckets of the longest prompt of each batch of 4
  assert gen.compilations - before <= 2 * len(shapes)   # one prefill + one decode chunk per shape, at most


# -- the NNX ports: the cache gives the same tokens as running the whole sequence each step -------------------

class Chars:
  eos_token_id = 1

  def encode(self, text):
    return [2 + (ord(c) % 90) for c in text]

  def decode(self, ids):
    return "".join(chr(32 + (i % 90)) for i in ids if i != 1)


PORTS = {
    "gpt2": lambda: GPT2(GPT2Config(vocab_size=96, n_positions=96, n_embd=32, n_layer=2, n_head=4),
                         rngs=nnx.Rngs(0)),
    "llama_gqa": lambda: Llama(LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=4, num_key_value_heads=2,
                                           max_position_embeddings=96), rngs=nnx.Rngs(0)),
}


@pytest.fixture(scope="module", params=sorted(PORTS))
def port(request):
  """(model, cached Generator with 4 rows, no-cache Generator with 3 rows), shared so that compilations are too."""
  model = PORTS[request.param]()
  params = nnx.state(model, nnx.Param)   # larger weights: decisive argmaxes
  nnx.update(model, jax.tree.map(lambda x: x * 8.0 if x.ndim == 2 else x, params))
  return (model, Generator(model, Chars(), batch_size=4, eos_token_id=-1),
          Generator(model, Chars(), batch_size=3, eos_token_id=-1, cache=False))


PROMPTS = ["The cat sat", "On the mat, a cat", "A", "Paris is the capital of France and the cat is"]
NEW = 8


def _greedy_reference(model, prompt_ids, new):
  """Greedy decoding by running the whole (right-padded) sequence each step: numpy argmax of the full logits."""
  forward = jax.jit(lambda tokens: model(tokens))
  ids = list(prompt_ids)
  for _ in range(new):
    buf = np.zeros((1, 64), np.int32)
    buf[0, :len(ids)] = ids
    ids.append(int(np.argmax(np.asarray(forward(jnp.asarray(buf)))[0, len(ids) - 1])))
  return ids[len(prompt_ids):]


def test_cache_equals_no_cache_and_full_forward(port):
  model, cached_gen, plain_gen = port
  items = [scoring.Generate(p, until=[], max_gen_toks=NEW) for p in PROMPTS]
  cached = cached_gen.generate(items)
  plain = plain_gen.generate(items)
  assert cached.tokens == plain.tokens
  for p, toks in zip(PROMPTS, cached.tokens):
    assert toks == _greedy_reference(model, Chars().encode(p), NEW)
  assert 0.0 < cached.padding_fraction < 1.0


def test_sampling_same_key_same_samples_whatever_the_batching(port):
  _, cached_gen, plain_gen = port
  items = [scoring.Generate(p, until=[], max_gen_toks=NEW) for p in PROMPTS]
  key = jax.random.key(7)
  a = cached_gen.generate(items, temperature=0.9, top_p=0.9, key=key, n=3)
  b = plain_gen.generate(items, temperature=0.9, top_p=0.9, key=key, n=3)
  c = cached_gen.generate(items, temperature=0.9, top_p=0.9, key=jax.random.key(8), n=3)
  assert a.tokens == b.tokens
  assert a.tokens != c.tokens
  assert len(a.text) == 4 and all(len(x) == 3 for x in a.text)
  assert len({tuple(t) for t in a.tokens[0]}) > 1          # the n samples differ


# -- the sampling law -------------------------------------------------------------------------------------------

def test_first_token_distribution_matches_softmax_over_temperature():
  v = 6
  logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5], np.float32)
  def apply_fn(params, tokens):
    return jnp.broadcast_to(params, tokens.shape + (v,))
  apply_fn.vocab_size = v

  class Ids:
    def encode(self, text):
      return [int(c) for c in text]

    def decode(self, ids):
      return "".join(map(str, ids))
  gen = Generator(apply_fn, Ids(), batch_size=256, eos_token_id=-1, max_length=16)
  n, temperature = 4096, 0.7
  res = gen.generate([scoring.Generate("1", until=[], max_gen_toks=1)], jnp.asarray(logits),
                     temperature=temperature, key=jax.random.key(0), n=n)
  counts = np.bincount([t[0] for t in res.tokens[0]], minlength=v) / n
  p = np.exp(logits / temperature)
  p /= p.sum()
  se = np.sqrt(p * (1 - p) / n)
  assert np.all(np.abs(counts - p) < 4.5 * se + 1e-9), (counts, p)
  # top-p 0.6 keeps the smallest set of most likely tokens reaching 0.6: here tokens 0 and 5
  res = gen.generate([scoring.Generate("1", until=[], max_gen_toks=1)], jnp.asarray(logits),
                     temperature=temperature, top_p=0.6, key=jax.random.key(1), n=1024)
  seen = np.bincount([t[0] for t in res.tokens[0]], minlength=v)
  order = np.argsort(-p)
  keep = order[:np.searchsorted(np.cumsum(p[order]), 0.6) + 1]
  assert set(np.flatnonzero(seen)) == set(keep.tolist())
  q = p[keep] / p[keep].sum()
  assert np.all(np.abs(seen[keep] / 1024 - q) < 4.5 * np.sqrt(q * (1 - q) / 1024))


@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.5, 0.9, 1.0])
def test_top_p_logits_numpy_reference(top_p):
  rng = np.random.default_rng(3)
  logits = rng.normal(size=11).astype(np.float32) * 2
  p = np.exp(logits - logits.max())
  p /= p.sum()
  order = np.argsort(-p)
  above = np.cumsum(p[order]) - p[order]
  keep = np.zeros(11, bool)
  keep[order[above < top_p]] = True
  got = np.asarray(kernels.top_p_logits(jnp.asarray(logits), jnp.float32(top_p)))
  np.testing.assert_array_equal(np.isfinite(got), keep if top_p < 1 else np.ones(11, bool))
  np.testing.assert_allclose(got[keep], logits[keep])
  assert int(kernels.sample_token(jax.random.key(0), jnp.asarray(logits), 1.0, 1.0, greedy=True)) == logits.argmax()


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 1000), (5, 1537), (50257,), (2, 768)])
def test_argmax_first_is_numpy_argmax(shape):
  # Blocks of 384 (a partial last block at 1000, 1537 and 50,257; none at 768), ties to the lowest index, and a
  # maximum in the partial block that the last full block overlaps when it is read.
  rng = np.random.default_rng(0)
  many_ties = rng.integers(0, 4, shape).astype(np.float32)
  for x in (many_ties, rng.normal(size=shape).astype(np.float32)):
    np.testing.assert_array_equal(np.asarray(jax.jit(kernels.argmax_first)(jnp.asarray(x))), x.argmax(-1))
  tail = np.zeros((2, 1000), np.float32)
  tail[0, 999] = tail[1, 700] = tail[1, 999] = 1.0     # 700 lies in the overlap of the last block and the tail
  np.testing.assert_array_equal(np.asarray(kernels.argmax_first(jnp.asarray(tail))), [999, 700])
  assert int(kernels.argmax_first(jnp.full(900, np.nan))) == 0


# -- errors -----------------------------------------------------------------------------------------------------

def test_bad_input_names_what_is_wrong(script):
  gen, table = script
  it = [scoring.Generate("a", max_gen_toks=8)]
  with pytest.raises(ConfigError, match="key"):
    gen.generate(it, table, temperature=0.5)
  with pytest.raises(ConfigError, match="temperature"):
    gen.generate(it, table, temperature=-1.0)
  with pytest.raises(ConfigError, match="top_p"):
    gen.generate(it, table, temperature=1.0, top_p=0.0, key=jax.random.key(0))
  with pytest.raises(ConfigError, match="n must"):
    gen.generate(it, table, n=0)
  with pytest.raises(ItemError, match="Generate"):
    gen.generate([scoring.MultipleChoice("a", ["b"])], table)
  with pytest.raises(ItemError, match="empty"):
    gen.generate([], table)
  with pytest.raises(ItemError, match="max_gen_toks"):
    scoring.Generate("a", max_gen_toks=0)
  with pytest.raises(ItemError, match="until"):
    scoring.Generate("a", until=[3])
  with pytest.raises(ConfigError, match="cache=True"):
    Generator(lambda p, t: t, Pieces(), cache=True)
  with pytest.raises(ConfigError, match="batch_size"):
    Generator(lambda p, t: t, Pieces(), batch_size=0)

  class NoDecode:
    def encode(self, text):
      return [1]
  with pytest.raises(ConfigError, match="decode"):
    Generator(bigram_model({}, cached=False)[0], NoDecode(), max_length=32).generate(it, table)


# -- sharding: 4 fake CPU devices equal one device ---------------------------------------------------------------

SHARD_SCRIPT = textwrap.dedent('''
    import json
    import jax
    from flax import nnx
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from tinyjax import scoring
    from tinyjax.scoring.models import Llama, LlamaConfig
    assert jax.device_count() == 4, jax.devices()

    class Chars:
      eos_token_id = 1
      def encode(self, text):
        return [2 + (ord(c) % 60) for c in text]
      def decode(self, ids):
        return "".join(chr(65 + (i % 26)) for i in ids if i != 1)

    model = Llama(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128),
                  rngs=nnx.Rngs(0))
    items = [scoring.Generate("hello world " * k, until=["QQ"], max_gen_toks=10) for k in range(1, 7)]
    single = scoring.Generator(model, Chars(), batch_size=4)
    greedy1 = single.generate(items)
    sample1 = single.generate(items, temperature=0.8, key=jax.random.key(3), n=2)
    mesh = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    state = nnx.state(model)
    def place(x):
      spec = P(*([None] * (x.ndim - 1)), "model") if x.ndim == 2 and x.shape[-1] % 2 == 0 else P()
      return jax.device_put(x, NamedSharding(mesh, spec))
    sharded_state = jax.tree.map(place, state)
    gen = scoring.Generator(model, Chars(), batch_size=3, mesh=mesh)
    greedy2 = gen.generate(items, sharded_state)
    sample2 = gen.generate(items, sharded_state, temperature=0.8, key=jax.random.key(3), n=2)
    mesh4 = jax.make_mesh((4,), ("data",), axis_types=(AxisType.Auto,))
    greedy4 = scoring.generate(model, None, Chars(), items, mesh=mesh4, batch_size=4)
    print(json.dumps({"greedy": [greedy1.tokens, greedy2.tokens, greedy4.tokens],
                      "sample": [sample1.tokens, sample2.tokens], "batch_size": gen.batch_size,
                      "compilations": gen.compilations}))
''')


def test_sharded_generation_equals_one_device():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", SHARD_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  res = json.loads(out.stdout.strip().splitlines()[-1])
  g1, g2, g4 = res["greedy"]
  assert g1 == g2 == g4
  assert res["sample"][0] == res["sample"][1]
  assert res["batch_size"] == 4                 # 3 rounded up to the data axis (2)


# -- repeated sampling: scoring.sample's counts -----------------------------------------------------------------

def test_sample_counts_are_the_graded_samples():
  import re
  fn, table = bigram_model({P["z"]: P[" 42"], P[" 42"]: P["\n"], P["\n"]: EOS}, cached=True)
  items = [scoring.Generate("z", until=["Question:"], max_gen_toks=4, target="#### 42"),
           scoring.Generate("a", until=["Question:"], max_gen_toks=4, target="#### 42")]
  key = jax.random.key(5)
  res = scoring.sample(fn, table, Pieces(), items, n=48, key=key, temperature=3.0, rule="flexible-extract",
                       max_length=32)
  again = scoring.sample(fn, table, Pieces(), items, n=48, key=key, temperature=3.0, rule="flexible-extract",
                         max_length=32)
  np.testing.assert_array_equal(res.c, again.c)
  assert res.n.tolist() == [48, 48] and res.correct.shape == (2, 48)
  # by hand: lm-eval's flexible-extract takes the last number-like match; exact_match drops ',' '$' and '#### '
  def by_hand(text):
    found = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", text)
    answer = [m for m in found[-1] if m][0].strip() if found else "[invalid]"
    return answer.replace(",", "").replace("$", "").lower() == "42"
  expected = np.array([[by_hand(t) for t in row] for row in res.generations.text])
  np.testing.assert_array_equal(res.correct, expected)
  np.testing.assert_array_equal(res.c, expected.sum(axis=1))
  assert 10 < res.c[0] < 48 and res.c[1] < res.c[0]        # 'z' mostly answers ' 42'; 'a' rarely
  assert tj_pass(res) == pytest.approx(res.c / 48)
  with pytest.raises(ItemError, match="target"):
    scoring.sample(fn, table, Pieces(), [scoring.Generate("z", max_gen_toks=4)], n=2, key=key, max_length=32)


def tj_pass(res):
  import tinyjax as tj
  return [tj.sampling.pass_at_k(res.n[i:i + 1], res.c[i:i + 1], 1) for i in range(len(res.c))]


def test_sample_coverage_example_fits_the_law():
  """examples/sample_coverage.py end to end: a small model's samples give a rising coverage curve and a fit."""
  import pathlib
  script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "sample_coverage.py"
  out = subprocess.run([sys.executable, str(script), "--samples", "32", "--steps", "120"], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  lines = out.stdout.splitlines()
  coverage = [float(x) for x in next(line for line in lines if line.startswith("coverage ")).split()[1:]]
  assert coverage == sorted(coverage) and 0 < coverage[0] < coverage[-1] <= 1
  assert any(line.startswith("coverage(k) = exp(") for line in lines)
