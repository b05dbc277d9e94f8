"""NNX GPT-2 / Llama ports against transformers (torch): logits and lm-eval log-likelihoods on tiny random configs."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from tinyjax import scoring
from tinyjax.errors import ConfigError
from tinyjax.scoring import models

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 300


@pytest.fixture(scope="module")
def bpe():
  from tokenizers import Tokenizer, decoders
  from tokenizers import models as tmodels
  from tokenizers import pre_tokenizers, trainers
  tok = Tokenizer(tmodels.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(["The cat sat on the mat.", "Question: two plus two? Answer: four",
                           "Paris is the capital of France."] * 30, trainer)
  return tok


def _gpt2_cfg():
  return transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                 initializer_range=0.2, bos_token_id=0, eos_token_id=0)


def _llama_cfg(tie, kv, **extra):
  return transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=kv, max_position_embeddings=64,
                                  tie_word_embeddings=tie, initializer_range=0.2, rope_theta=500.0,
                                  bos_token_id=0, eos_token_id=0, **extra)


CASES = {
    "gpt2": (transformers.GPT2LMHeadModel, _gpt2_cfg, models.load_gpt2),
    "llama_gqa_untied": (transformers.LlamaForCausalLM, lambda: _llama_cfg(False, 2), models.load_llama),
    "llama_tied_bias_llama3rope": (
        transformers.LlamaForCausalLM,
        lambda: _llama_cfg(True, 1, attention_bias=True, mlp_bias=True,
                           rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
        models.load_llama),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request, tmp_path_factory):
  cls, make_cfg, loader = CASES[request.param]
  torch.manual_seed(0)
  ref = cls(make_cfg()).eval()
  folder = tmp_path_factory.mktemp(request.param)
  with torch.no_grad():  # make biases and norms non-trivial so that every tensor's mapping is exercised
    for name, p in ref.named_parameters():
      if name.endswith("bias") or "norm" in name or "ln_" in name:
        p.add_(0.1 * torch.randn_like(p))
  ref.save_pretrained(folder)
  return request.param, ref, loader(folder), folder


def test_logits_match_transformers(pair):
  name, ref, ours, _ = pair
  x = np.random.default_rng(0).integers(0, VOCAB, (2, 20))
  with torch.no_grad():
    expected = ref(torch.tensor(x)).logits.numpy()
  got = np.asarray(ours(jnp.asarray(x)))
  assert np.abs(expected).max() > 0.5, "logits too small for a meaningful comparison"
  np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4, err_msg=name)


def _torch_loglik(ref, adapter, context, continuation, max_length):
  """lm-eval's HF _loglikelihood_tokens for one request, with the torch model."""
  ctx, cont = scoring.encode_pair(adapter.encode, context, continuation, adapter.prefix_token_id)
  inp = (ctx + cont)[-(max_length + 1):][:-1]
  with torch.no_grad():
    logp = torch.log_softmax(ref(torch.tensor([inp])).logits[0].double(), -1)
  rows = logp[len(inp) - len(cont):]
  return float(rows.gather(1, torch.tensor(cont)[:, None]).sum())


def test_logliks_match_transformers(pair, bpe):
  name, ref, ours, _ = pair
  items = [scoring.MultipleChoice("Question: two plus two? Answer:", ["four", "five", "the cat"], gold=0),
           scoring.MultipleChoice("Paris is the ", ["capital of France.", "mat"], gold=0),
           scoring.MultipleChoice("", ["The cat sat.", "Paris"], gold=0),
           scoring.MultipleChoice("The cat sat on the mat. " * 20, ["mat", "cat"], gold=0)]
  res = scoring.score(ours, None, bpe, items, batch_size=4)
  adapter = scoring.as_tokenizer(bpe)
  assert len(adapter.encode(items[-1].context)) > 70  # longer than the 64-token window: left-truncated
  for i, it in enumerate(items):
    expected = [_torch_loglik(ref, adapter, it.context, " " + c, 64) for c in it.choices]
    np.testing.assert_allclose(res.loglik[i, :len(expected)], expected, atol=5e-4, rtol=1e-4, err_msg=name)


def test_loader_errors(pair, tmp_path):
  name, _, _, folder = pair
  with pytest.raises(FileNotFoundError, match="never downloads"):
    models.load_model(tmp_path / "gpt2-not-here")
  bad = tmp_path / "bad"
  bad.mkdir()
  cfg = json.loads((folder / "config.json").read_text())
  cfg["model_type"] = "bert"
  (bad / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(ConfigError, match="bert"):
    models.load_model(bad)
  assert type(models.load_model(folder)).__name__ == ("GPT2" if name == "gpt2" else "Llama")


# -- generation: greedy tokens equal transformers' generate, with and without the cache --------------------------

GEN_PROMPTS = ["Question: two plus two? Answer:", "The cat", "Paris is the capital of France. The cat sat on the mat.",
               "The cat sat on the mat. " * 4]


def _hf_greedy(ref, ids, new):
  """transformers greedy generate on one unpadded prompt (stops at the config's EOS, id 0, as lm-eval's HF model)."""
  with torch.no_grad():
    out = ref.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                       max_new_tokens=new, do_sample=False, pad_token_id=0)
  return out[0, len(ids):].tolist()


@pytest.fixture(scope="module")
def hf_generations(pair, bpe):
  name, ref, ours, _ = pair
  adapter = scoring.as_tokenizer(bpe)
  out = {p: _hf_greedy(ref, adapter.encode(p), 16) for p in GEN_PROMPTS}
  assert sum(len(set(v)) >= 3 for v in out.values()) >= 2, out   # non-trivial generations to compare
  return out


@pytest.mark.parametrize("cache", [True, False])
def test_greedy_generation_matches_transformers(pair, bpe, hf_generations, cache):
  name, ref, ours, _ = pair
  gen = scoring.Generator(ours, bpe, batch_size=4, cache=cache)   # one left-padded batch of 4 lengths
  res = gen.generate([scoring.Generate(p, until=[], max_gen_toks=16) for p in GEN_PROMPTS])
  adapter = scoring.as_tokenizer(bpe)
  assert adapter.eos_token_id == 0
  for p, toks, text in zip(GEN_PROMPTS, res.tokens, res.text):
    expected = hf_generations[p]
    if expected and expected[-1] == 0:   # transformers pads after EOS; tinyjax stops there
      expected = expected[:expected.index(0) + 1]
    assert toks == expected, (name, cache, p)
    assert text == bpe.decode(expected, skip_special_tokens=True)


def test_stop_strings_cut_like_lm_eval_on_transformers_output(pair, bpe, hf_generations):
  """lm-eval decodes transformers' new tokens and cuts at each stop string: tinyjax gives the same text."""
  name, ref, ours, _ = pair
  adapter = scoring.as_tokenizer(bpe)
  for p in GEN_PROMPTS:
    full = bpe.decode(hf_generations[p], skip_special_tokens=True)
    for until in ([full[3:5]] if len(full) > 5 else [], [" the", "\n\n"], [full[:1]] if full else []):
      item = scoring.Generate(p, until=until, max_gen_toks=16)
      res = scoring.generate(ours, None, bpe, [item], batch_size=2)
      expected = full
      for term in until:
        if term:
          expected = expected.split(term)[0]
      assert res.text == [expected], (name, p, until)
      assert adapter.decode(res.tokens[0]).startswith(expected)
