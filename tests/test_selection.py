"""Tests for tinyjax.selection: LSH count-sketch density, exact KDE, inverse-density sampling, Ask-LLM."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tinyjax import kernels
from tinyjax import selection as sel
from tinyjax.errors import ConfigError, InputError, ItemError, MissingFileError

# Small shared shapes so that the jitted kernels compile once for the whole file.
ROWS, BUCKETS, CHUNK = 256, 2**14, 512


def mixture(sizes, dim, *, seed, sep=6.0, spread=(1.0, 1.0)):
  """A Gaussian mixture with the given cluster sizes; returns (points [N, D] float32, labels [N])."""
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(len(sizes), dim)) * sep * dim**0.25 / math.sqrt(2)
  sd = rng.uniform(*spread, len(sizes))
  labels = np.repeat(np.arange(len(sizes)), sizes)
  x = centers[labels] + rng.normal(size=(labels.size, dim)) * sd[labels, None]
  return x.astype(np.float32), labels


def spearman(a, b):
  ra = np.argsort(np.argsort(a)).astype(float)
  rb = np.argsort(np.argsort(b)).astype(float)
  return float(np.corrcoef(ra, rb)[0, 1])


# ------------------------------------------------------------------------------------------------
# Kernels against numpy references.
# ------------------------------------------------------------------------------------------------


def _p_numpy(r: float) -> float:
  """Datar et al.'s collision probability of one Gaussian LSH function, r = distance / w (float64 reference)."""
  if r <= 0:
    return 1.0
  phi = 0.5 * (1.0 + math.erf(-1.0 / r / math.sqrt(2.0)))
  return 1.0 - 2.0 * phi - 2.0 / math.sqrt(2.0 * math.pi) * r * (1.0 - math.exp(-1.0 / (2.0 * r * r)))


def _numpy_buckets(params, x, num_buckets):
  proj = np.asarray(x, np.float64) @ np.asarray(params.projections, np.float64) + np.asarray(params.offsets)
  codes = np.floor(proj / float(params.width)).astype(np.int64)
  L, K = params.mixers.shape
  codes = (codes.reshape(len(x), L, K) & 0xFFFFFFFF).astype(np.uint64)
  mixed = (codes * np.asarray(params.mixers, np.uint64)[None]).sum(-1) & 0xFFFFFFFF
  h = mixed
  h ^= h >> 16
  h = (h * 0x85EBCA6B) & 0xFFFFFFFF
  h ^= h >> 13
  h = (h * 0xC2B2AE35) & 0xFFFFFFFF
  h ^= h >> 16
  return (h % num_buckets).astype(np.int64)


@pytest.mark.parametrize("n,dim,rows,hashes", [(1, 1, 1, 1), (50, 16, 32, 3)])
def test_sketch_kernels_match_numpy(n, dim, rows, hashes):
  rng = np.random.default_rng(n)
  x = rng.normal(size=(n, dim))
  with jax.enable_x64(True):
    params = jax.jit(kernels.lsh_init, static_argnums=(1, 2, 3))(jax.random.key(n), dim, rows, hashes,
                                                                 jnp.asarray(0.7, jnp.float64))
    buckets = np.asarray(jax.jit(kernels.lsh_buckets, static_argnums=2)(params, jnp.asarray(x), 64))
    expected = _numpy_buckets(params, x, 64)
    np.testing.assert_array_equal(buckets, expected)
    mask = np.ones(n, bool)
    mask[-1] = n == 1                     # the last row is padding (unless it is the only one)
    counts = jax.jit(kernels.sketch_add)(jnp.zeros(rows * 64, jnp.int32), params, jnp.asarray(x), jnp.asarray(mask))
    ref = np.zeros((rows, 64), np.int64)
    for i in np.flatnonzero(mask):
      ref[np.arange(rows), expected[i]] += 1
    np.testing.assert_array_equal(np.asarray(counts), ref.reshape(-1))
    score = np.asarray(jax.jit(kernels.sketch_query)(counts, params, jnp.asarray(x)))
    np.testing.assert_allclose(score, ref[np.arange(rows)[None], expected].mean(1))
    assert score.dtype == np.float64


def test_collision_probability_closed_form_and_monte_carlo():
  r = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 5.0])
  got = np.asarray(kernels.lsh_collision_probability(jnp.asarray(r, jnp.float32), 1.0))
  np.testing.assert_allclose(got, [_p_numpy(v) for v in r], rtol=1e-5)
  # Monte Carlo: two points at distance 1 (w = 1) share a code with probability p(1) ~= 0.3687.
  pair = jnp.asarray([[0.0, 0, 0, 0], [0.6, 0.8, 0, 0]], jnp.float32)
  codes = np.asarray(jax.jit(lambda key: kernels.lsh_codes(kernels.lsh_init(key, 4, 20000, 1, jnp.float32(1.0)),
                                                           pair))(jax.random.key(3)))
  freq = np.mean(codes[0] == codes[1])
  assert abs(freq - 0.36875) < 4 * math.sqrt(0.37 * 0.63 / 20000)


@pytest.mark.parametrize("n_hashes,level", [(1, 1.0), (1, 2.0), (4, 2.0), (8, 0.5)])
def test_equivalent_bandwidth_matches_both_kernels_at_the_level(n_hashes, level):
  w = 2.5
  h = sel.equivalent_gaussian_bandwidth(w, n_hashes, level)
  c = math.sqrt(2.0 * level) * h                         # where the Gaussian kernel is exp(-level)
  assert _p_numpy(c / w) ** n_hashes == pytest.approx(math.exp(-level), rel=2e-6)
  with jax.enable_x64(True):
    h64 = sel.equivalent_gaussian_bandwidth(w, n_hashes, level, dtype="float64")
  assert _p_numpy(math.sqrt(2.0 * level) * h64 / w) ** n_hashes == pytest.approx(math.exp(-level), rel=1e-12)
  assert h == pytest.approx(h64, rel=1e-6)


def test_sketch_estimates_its_own_kernel_sum():
  x, _ = mixture([150, 100, 50], 8, seed=1)
  w = 3.0
  buckets = 4096
  scores = sel.density_scores(x, bucket_width=w, n_rows=1024, n_hashes=2, n_buckets=buckets,
                              chunk_size=300)
  d = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
  q = np.vectorize(_p_numpy)(d / w) ** 2      # same codes in a row: p(d / w)^K
  expected = (q + (1 - q) / buckets).sum(1)                      # + different codes hashed to one bucket
  rel = np.abs(scores - expected) / expected
  assert rel.mean() < 0.03, rel.mean()
  assert np.corrcoef(scores, expected)[0, 1] > 0.99


def test_exact_kde_matches_numpy():
  rng = np.random.default_rng(2)
  x, q = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
  h = 0.8
  d2 = ((q[:, None] - x[None]) ** 2).sum(-1)
  expected = np.log(np.mean(np.exp(-d2 / (2 * h * h)), 1)) - 1.5 * np.log(2 * np.pi * h * h)
  got = sel.exact_kde_log_density(x, h, queries=q, block_size=3)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  with jax.enable_x64(True):
    got64 = sel.exact_kde_log_density(x, h, queries=q, block_size=3, dtype="float64")
  assert got64.dtype == np.float64
  np.testing.assert_allclose(got64, expected, rtol=1e-10)


# ------------------------------------------------------------------------------------------------
# The sketch against the exact Gaussian KDE.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_sketch_ranks_like_exact_gaussian_kde(dim):
  x, _ = mixture([500, 350, 250, 150, 50], dim, seed=0, spread=(0.8, 1.25))
  w = sel.default_bucket_width(x)
  scores = sel.density_scores(x, bucket_width=w, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK)
  exact = sel.exact_kde_log_density(x, sel.equivalent_gaussian_bandwidth(w, 4))
  rho = spearman(scores, exact)
  assert rho >= 0.9, rho


# ------------------------------------------------------------------------------------------------
# Streaming.
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stream_data():
  x, _ = mixture([400, 200, 100], 8, seed=5)
  return x


def test_streaming_equals_in_memory(stream_data, tmp_path):
  import datasets

  x = stream_data
  kw = dict(bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK, seed=3)
  in_memory = sel.density_scores(x, **kw)                          # 700 rows: two chunks, the second padded
  path = tmp_path / "emb.npy"
  np.save(path, x)
  from_path = sel.density_scores(path, **kw)
  from_str = sel.density_scores(str(path), **kw)
  from_memmap = sel.density_scores(np.load(path, mmap_mode="r"), **kw)
  ds = datasets.Dataset.from_dict({"emb": x.tolist(), "text": [str(i) for i in range(len(x))]})
  from_dataset = sel.density_scores(ds, column="emb", **kw)
  for other in (from_path, from_str, from_memmap, from_dataset):
    np.testing.assert_array_equal(other, in_memory)
  # Pass 1 over uneven chunks and pass 2 in another order give the same scores as well.
  sketch = sel.DensitySketch(8, bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK, seed=3)
  for start, stop in [(0, 5), (5, 300), (300, 700)]:
    sketch.add(x[start:stop])
  assert sketch.n_added == len(x)
  np.testing.assert_array_equal(np.concatenate([sketch.score(x[:CHUNK]), sketch.score(x[CHUNK:])]), in_memory)
  # One 700-row chunk instead of 512-row chunks: the same counts up to float rounding at bucket edges.
  one_chunk = sel.density_scores(x, **{**kw, "chunk_size": len(x)})
  assert np.mean(one_chunk == in_memory) > 0.99


def test_sketch_compiles_once_for_any_chunk_length(stream_data):
  x = stream_data
  sketch = sel.DensitySketch(8, bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK)
  sketch.add(x[:100])
  before = sel._sketch_add._cache_size()
  for stop in (130, 177, 700):
    sketch.add(x[100:stop])
  assert sel._sketch_add._cache_size() == before


def test_float64_scores(stream_data):
  x = stream_data
  kw = dict(bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK)
  s32 = sel.density_scores(x, **kw)
  with jax.enable_x64(True):
    s64 = sel.density_scores(x, dtype="float64", **kw)
  assert s32.dtype == np.float32 and s64.dtype == np.float64
  assert spearman(s32, s64) > 0.95        # the two dtypes draw different hash functions
  with pytest.raises(ValueError, match="jax_enable_x64"):
    sel.density_scores(x, dtype="float64", **kw)


# ------------------------------------------------------------------------------------------------
# Sampling.
# ------------------------------------------------------------------------------------------------


def _shares(labels, index, num_clusters):
  return np.bincount(labels[index], minlength=num_clusters) / len(index)


def test_inverse_density_sampling_balances_an_imbalanced_mixture():
  sizes = [5000, 50, 50, 50, 50]           # one cluster 100x larger than each of the others
  x, labels = mixture(sizes, 8, seed=11)
  # A bandwidth wider than a cluster (twice the median distance, i.e. about twice a within-cluster distance),
  # so that each example's density reflects the size of its cluster.
  w = sel.default_bucket_width(x, scale=2.0)
  scores = sel.density_scores(x, bucket_width=w, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK)
  k, uniform = 50, np.full(5, 0.2)
  rng = np.random.default_rng(0)
  tv_inverse, tv_random = [], []
  for seed in range(5):
    index = sel.inverse_density_sample(scores, k, seed=seed)
    assert len(np.unique(index)) == k
    tv_inverse.append(0.5 * np.abs(_shares(labels, index, 5) - uniform).sum())
    tv_random.append(0.5 * np.abs(_shares(labels, rng.choice(len(x), k, replace=False), 5) - uniform).sum())
  tv_inverse, tv_random = np.mean(tv_inverse), np.mean(tv_random)
  # Random sampling gives the big cluster ~96% of the sample (TV ~0.76); inverse density ~20% each.
  assert tv_random > 0.6, tv_random
  assert tv_inverse < 0.15, tv_inverse
  assert tv_inverse < 0.2 * tv_random
  # The baselines: top-k takes only the big cluster, bottom-k only the small ones.
  assert set(labels[sel.top_k(scores, k)]) == {0}
  assert 0 not in set(labels[sel.bottom_k(scores, k)])


def test_gumbel_top_k_is_sampling_without_replacement():
  w = np.array([0.1, 0.2, 0.3, 0.4])
  keys = jax.random.split(jax.random.key(0), 40000)
  draws = np.asarray(jax.jit(jax.vmap(lambda k: kernels.gumbel_top_k(k, jnp.log(jnp.asarray(w, jnp.float32)), 2)))(keys))
  assert (draws[:, 0] != draws[:, 1]).all()
  first = np.bincount(draws[:, 0], minlength=4) / len(draws)
  np.testing.assert_allclose(first, w, atol=4 * math.sqrt(0.25 / len(draws)))
  # Second draw: P(j second) = sum_{i != j} w_i * w_j / (1 - w_i).
  second = np.bincount(draws[:, 1], minlength=4) / len(draws)
  expected = [sum(w[i] * w[j] / (1 - w[i]) for i in range(4) if i != j) for j in range(4)]
  np.testing.assert_allclose(second, expected, atol=4 * math.sqrt(0.25 / len(draws)))


def test_sampling_is_seeded_and_power_zero_is_uniform():
  scores = np.arange(1.0, 201.0)
  a = sel.inverse_density_sample(scores, 20, seed=4)
  np.testing.assert_array_equal(a, sel.inverse_density_sample(scores, 20, seed=4))
  assert not np.array_equal(a, sel.inverse_density_sample(scores, 20, seed=5))
  # power=1 favours low-density items; power=0 ignores the scores.
  low = np.mean([np.mean(sel.inverse_density_sample(scores, 20, seed=s)) for s in range(10)])
  flat = np.mean([np.mean(sel.inverse_density_sample(scores, 20, seed=s, power=0.0)) for s in range(10)])
  assert low < 60 and 80 < flat < 120


def test_top_and_bottom_k_match_argsort():
  s = np.array([3.0, 1.0, 3.0, 2.0, 5.0])
  np.testing.assert_array_equal(sel.top_k(s, 3), [4, 0, 2])
  np.testing.assert_array_equal(sel.bottom_k(s, 2), [1, 3])
  np.testing.assert_array_equal(sel.top_k(s, 5), np.argsort(-s, kind="stable"))


def test_density_sample_methods(stream_data):
  x = stream_data
  kw = dict(bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK, seed=2)
  scores = sel.density_scores(x, **kw)
  np.testing.assert_array_equal(sel.density_sample(x, 10, strategy="top", **kw), sel.top_k(scores, 10))
  np.testing.assert_array_equal(sel.density_sample(x, 10, strategy="bottom", **kw), sel.bottom_k(scores, 10))
  np.testing.assert_array_equal(sel.density_sample(x, 10, **kw), sel.inverse_density_sample(scores, 10, seed=2))


# ------------------------------------------------------------------------------------------------
# Bad input.
# ------------------------------------------------------------------------------------------------


def test_bad_input_errors(tmp_path, stream_data):
  x = stream_data.copy()
  kw = dict(n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK)
  x[123, 4] = np.nan
  with pytest.raises(InputError, match="NaN or inf.*row 123"):
    sel.density_scores(x, bucket_width=1.0, **kw)
  np.save(tmp_path / "nan.npy", x)
  with pytest.raises(InputError, match="NaN or inf.*row 123"):
    sel.density_scores(tmp_path / "nan.npy", bucket_width=1.0, **kw)
  good = stream_data
  with pytest.raises(ConfigError, match="k=701 is larger than the number of examples N=700"):
    sel.density_sample(good, 701, bucket_width=1.0, **kw)
  with pytest.raises(ConfigError, match="k=4 is larger"):
    sel.inverse_density_sample(np.ones(3), 4)
  for width in (0.0, -1.0, float("nan")):
    with pytest.raises(ConfigError, match="bucket_width must be a positive finite number"):
      sel.density_scores(good, bucket_width=width, **kw)
  with pytest.raises(InputError, match="2-D"):
    sel.density_scores(good[0], bucket_width=1.0)
  with pytest.raises(InputError, match="empty"):
    sel.density_scores(np.zeros((0, 3)), bucket_width=1.0)
  with pytest.raises(InputError, match="real numeric"):
    sel.density_scores(np.array([["a", "b"]]), bucket_width=1.0)
  with pytest.raises(InputError, match="identical"):
    sel.density_scores(np.ones((10, 3)))
  with pytest.raises(InputError, match="must be > 0"):
    sel.inverse_density_sample(np.array([1.0, 0.0, 2.0]), 1)
  with pytest.raises(InputError, match="NaN or inf"):
    sel.top_k(np.array([1.0, np.nan]), 1)
  with pytest.raises(ConfigError, match="k must be >= 1"):
    sel.top_k(np.ones(3), 0)
  with pytest.raises(ConfigError, match="strategy"):
    sel.density_sample(good, 3, strategy="middle")
  with pytest.raises(MissingFileError):
    sel.density_scores(tmp_path / "missing.npy")
  with pytest.raises(InputError, match=r"chunk must be \[n, 8\]"):
    sel.DensitySketch(8, bucket_width=1.0).add(np.ones((3, 5)))
  with pytest.raises(InputError, match="empty"):
    sel.DensitySketch(8, bucket_width=1.0, n_buckets=8).score(np.ones((3, 8)))


# ------------------------------------------------------------------------------------------------
# Ask-LLM with a lookup-table "model": the logits at a position are a fixed row of a table, indexed by the
# token at that position, so P("yes" | prompt) = softmax(table[last prompt token])[yes] in closed form.
# ------------------------------------------------------------------------------------------------

TEXTS = [
    "The mitochondria is the powerhouse of the cell.",
    "buy cheap pills now now now",
    "Paris is the capital of France and its largest city.",
    "lol",
    "Water boils at one hundred degrees Celsius at sea level.",
    "click here click here",
    "The Pythagorean theorem relates the sides of a right triangle.",
]


@pytest.fixture(scope="module")
def ask_setup():
  from tokenizers import Tokenizer, models, pre_tokenizers, trainers

  tok = Tokenizer(models.BPE(unk_token="[UNK]"))
  tok.pre_tokenizer = pre_tokenizers.Whitespace()
  trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]", "<s>"], show_progress=False)
  corpus = [sel.ASK_LLM_TEMPLATE.replace("{example}", t) for t in TEXTS] * 3 + ["yes Yes no Rate"] * 20
  tok.train_from_iterator(corpus, trainer)
  vocab = tok.get_vocab_size()
  table = np.random.default_rng(0).normal(size=(vocab, vocab)) * 2.0
  logp = table - np.log(np.exp(table).sum(1, keepdims=True))                 # [current token, next token]

  def apply_fn(params, tokens):
    return params["table"][tokens]                                           # [B, L, V]
  return tok, apply_fn, {"table": jnp.asarray(table, jnp.float32)}, logp


def _ids(tok, text):
  return tok.encode(text, add_special_tokens=False).ids


def test_ask_llm_template_is_the_papers():
  t = sel.ASK_LLM_TEMPLATE
  assert t.startswith("###\n{example}\n###\n")
  assert ("Does the previous paragraph demarcated within ### and ### contain informative signal for "
          "pre-training a large-language model?") in t
  assert t.endswith("OPTIONS:\n- yes\n- no\n")


def test_ask_llm_closed_form_default_template(ask_setup):
  tok, apply_fn, params, logp = ask_setup
  yes = tok.token_to_id("yes")
  assert _ids(tok, "yes") == [yes]
  for text in TEXTS:  # the three-piece tokenization equals the joint one for this tokenizer
    assert sel.ask_llm_prompt_ids(tok, text) == _ids(tok, sel.ASK_LLM_TEMPLATE.replace("{example}", text))
  scores = sel.ask_llm_scores(apply_fn, params, tok, TEXTS, batch_size=4)
  # The default prompt always ends with the token "no", so every example gets P(yes | "no").
  last = _ids(tok, sel.ASK_LLM_TEMPLATE)[-1]
  assert last == tok.token_to_id("no")
  np.testing.assert_allclose(scores, np.full(len(TEXTS), np.exp(logp[last, yes])), rtol=1e-5)


def test_ask_llm_closed_form_per_example_and_truncation(ask_setup):
  tok, apply_fn, params, logp = ask_setup
  yes, cap_yes = tok.token_to_id("yes"), tok.token_to_id("Yes")
  template = "Rate: {example}"
  long_text = " ".join(TEXTS)                       # longer than the 12-token window below
  texts = TEXTS + [long_text]
  scores = sel.ask_llm_scores(apply_fn, params, tok, texts, template=template, yes_tokens=("yes", "Yes"),
                              batch_size=4, max_length=12, buckets=(8, 12))
  expected = []
  for text in texts:
    ids = (_ids(tok, "Rate: ") + _ids(tok, text))[:12]
    expected.append(np.exp(logp[ids[-1], yes]) + np.exp(logp[ids[-1], cap_yes]))
  np.testing.assert_allclose(scores, expected, rtol=1e-5)
  assert len(set(np.round(scores, 6))) > 3          # the scores do depend on the example
  assert len(sel.ask_llm_prompt_ids(tok, long_text, template=template, max_length=12)) == 12


def test_ask_llm_dataset_column_and_top_k(ask_setup):
  import datasets

  tok, apply_fn, params, logp = ask_setup
  ds = datasets.Dataset.from_dict({"text": TEXTS, "id": list(range(len(TEXTS)))})
  kw = dict(template="Rate: {example}", batch_size=4)
  scored = sel.add_ask_llm_column(ds, apply_fn, params, tok, rows_per_call=3, **kw)
  direct = sel.ask_llm_scores(apply_fn, params, tok, TEXTS, **kw)
  np.testing.assert_allclose(np.asarray(scored["ask_llm_score"]), direct, rtol=1e-6)
  best = sel.select_top_k(scored, 3)
  assert best["id"] == list(np.argsort(-direct, kind="stable")[:3])
  with pytest.raises(ItemError, match="already has a column"):
    sel.add_ask_llm_column(scored, apply_fn, params, tok)
  with pytest.raises(ConfigError, match="k=8 is larger"):
    sel.select_top_k(scored, 8)


def test_ask_llm_bad_input(ask_setup):
  tok, apply_fn, params, _ = ask_setup
  with pytest.raises(ConfigError, match="exactly once"):
    sel.ask_llm_scores(apply_fn, params, tok, TEXTS, template="no placeholder")
  with pytest.raises(ConfigError, match="must be one token"):
    sel.ask_llm_scores(apply_fn, params, tok, TEXTS, yes_tokens=("yes no",))
  with pytest.raises(ItemError, match="not one string"):
    sel.ask_llm_scores(apply_fn, params, tok, "a single string")
  with pytest.raises(ItemError, match="empty"):
    sel.ask_llm_scores(apply_fn, params, tok, [])
  with pytest.raises(ItemError, match=r"texts\[1\]"):
    sel.ask_llm_scores(apply_fn, params, tok, ["ok", 3])
  with pytest.raises(ConfigError, match="leaves no room"):
    sel.ask_llm_prompt_ids(tok, "x", max_length=10)


# ------------------------------------------------------------------------------------------------
# CLI.
# ------------------------------------------------------------------------------------------------


def test_cli_select_density(stream_data, tmp_path, capsys):
  from tinyjax.cli import main
  from tinyjax.io import load_artifact

  x = stream_data
  path = tmp_path / "emb.npy"
  np.save(path, x)
  opts = ["--rows", str(ROWS), "--buckets", str(BUCKETS), "--chunk-size", str(CHUNK), "--bucket-width", "2.5",
          "--seed", "2"]
  out = tmp_path / "sel.npz"
  assert main(["select", "density", str(path), "--k", "10", "--out", str(out), *opts]) == 0
  kind, arrays, meta = load_artifact(out)
  kw = dict(bucket_width=2.5, n_rows=ROWS, n_buckets=BUCKETS, chunk_size=CHUNK, seed=2)
  assert kind == "data_selection" and meta["strategy"] == "inverse" and meta["n"] == len(x)
  np.testing.assert_array_equal(arrays["indices"], sel.density_sample(x, 10, **kw))
  np.testing.assert_array_equal(arrays["scores"], sel.density_scores(x, **kw))
  capsys.readouterr()
  assert main(["select", "density", str(path), "--k", "4", "--strategy", "bottom", *opts]) == 0
  printed = [int(v) for v in capsys.readouterr().out.split()]
  assert printed == list(sel.bottom_k(arrays["scores"], 4))
  assert main(["select", "density", str(path), "--k", "701", *opts]) == 1
  assert "k=701 is larger than the number of examples N=700" in capsys.readouterr().err


def test_cli_help_explains_every_option(capsys):
  from tinyjax.cli import main

  for method, options in (("density", ("--k", "--strategy", "--bucket-width", "--rows", "--hashes", "--buckets",
                                       "--chunk-size", "--power", "--column", "--out")),
                          ("ask-llm", ("--model", "--tokenizer", "--column", "--k", "--yes-token", "--template-file",
                                       "--add-bos", "--batch-size", "--max-length", "--save-dataset", "--out"))):
    with pytest.raises(SystemExit) as exit_info:
      main(["select", method, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in options:
      assert option in text, (method, option)
    assert text.count("default") >= 3


def _write_gpt2_checkpoint(folder, tok, bias):
  """A 1-layer GPT-2 folder whose final LayerNorm has scale 0, so logits = wte @ bias at every position."""
  import json

  from safetensors.numpy import save_file

  vocab, dim, ctx = tok.get_vocab_size(), 8, 256
  rng = np.random.default_rng(1)
  w = lambda *s: (rng.normal(size=s) * 0.2).astype(np.float32)
  tensors = {"wte.weight": w(vocab, dim), "wpe.weight": w(ctx, dim), "ln_f.weight": np.zeros(dim, np.float32),
             "ln_f.bias": bias.astype(np.float32)}
  for name, shape in (("ln_1", (dim,)), ("ln_2", (dim,))):
    tensors[f"h.0.{name}.weight"], tensors[f"h.0.{name}.bias"] = np.ones(shape, np.float32), w(*shape)
  for name, (i, o) in (("attn.c_attn", (dim, 3 * dim)), ("attn.c_proj", (dim, dim)), ("mlp.c_fc", (dim, 4 * dim)),
                       ("mlp.c_proj", (4 * dim, dim))):
    tensors[f"h.0.{name}.weight"], tensors[f"h.0.{name}.bias"] = w(i, o), w(o)
  folder.mkdir()
  save_file(tensors, str(folder / "model.safetensors"))
  (folder / "config.json").write_text(json.dumps(
      {"model_type": "gpt2", "vocab_size": vocab, "n_positions": ctx, "n_embd": dim, "n_layer": 1, "n_head": 2}))
  tok.save(str(folder / "tokenizer.json"))
  return tensors["wte.weight"]


def test_cli_select_ask_llm(ask_setup, tmp_path, capsys):
  import datasets

  from tinyjax.cli import main
  from tinyjax.io import load_artifact

  tok = ask_setup[0]
  bias = np.random.default_rng(2).normal(size=8)
  wte = _write_gpt2_checkpoint(tmp_path / "model", tok, bias)
  logits = wte.astype(np.float64) @ bias.astype(np.float32).astype(np.float64)
  p_yes = np.exp(logits[tok.token_to_id("yes")] - np.log(np.exp(logits).sum()))
  data = tmp_path / "data.jsonl"
  data.write_text("".join(f'{{"text": "{t}", "id": {i}}}\n' for i, t in enumerate(TEXTS)))
  out = tmp_path / "ask.npz"
  keep = tmp_path / "best"
  assert main(["select", "ask-llm", str(data), "--model", str(tmp_path / "model"), "--k", "3", "--out", str(out),
               "--save-dataset", str(keep), "--batch-size", "4"]) == 0
  _, arrays, meta = load_artifact(out)
  np.testing.assert_allclose(arrays["scores"], np.full(len(TEXTS), p_yes), rtol=1e-4)
  assert meta["strategy"] == "ask-llm" and len(arrays["indices"]) == 3
  best = datasets.load_from_disk(str(keep))
  assert len(best) == 3 and "ask_llm_score" in best.column_names
  assert main(["select", "ask-llm", str(tmp_path / "nothing.jsonl"), "--model", str(tmp_path / "model")]) == 1
