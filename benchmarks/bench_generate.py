"""Generation throughput: tinyjax's cached Generator against transformers' generate and a no-cache jitted loop.

    python benchmarks/bench_generate.py --quick            # one config, 32 new tokens (about 2 minutes on 2 cores)
    python benchmarks/bench_generate.py                    # two configs, 256 new tokens
    python benchmarks/bench_generate.py --no-torch         # tinyjax only (no transformers peer)

The prompts are the 32 first GSM8K 5-shot prompts that lm-eval fed pythia-14m (``arg_0`` of
``DATA/lm_eval/pythia-14m/samples_metabench_gsm8k_secondary_*.jsonl``), tokenized by a byte-level BPE trained on
them (no pretrained tokenizer is available offline; a stand-in with a similar token count). Both sides run the
same random-init GPT-2 weights (transformers saves them, ``load_gpt2`` loads them), batch 32, greedy, every row
generating exactly ``--new-tokens`` tokens (no EOS, no stop string). Every figure is a ratio within the run; each
side's time is the shortest of ``--repeats`` warm calls (default 2).
"one cache" reruns tinyjax with its decode groups off (``decode_rows=0``: every row reads the batch-wide cache), the
code before the decode groups, in the same process. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import pathlib
import tempfile
import time

import numpy as np

DEFAULT_DATA = os.environ.get("TINYJAX_SHARED_DATA") or str(pathlib.Path(__file__).resolve().parents[2] / "shared"
                                                             / "data")
CONFIGS = {"pythia-14m": dict(n_embd=128, n_layer=6, n_head=4), "small": dict(n_embd=256, n_layer=4, n_head=4)}


def gsm8k_prompts(data: pathlib.Path, n: int) -> list[str]:
  files = sorted(glob.glob(str(data / "lm_eval" / "pythia-14m" / "samples_metabench_gsm8k_secondary_*.jsonl")))
  if not files:
    raise SystemExit(f"no GSM8K log under {data}/lm_eval/pythia-14m: pass --data (the shared data folder)")
  out, seen = [], set()
  with open(files[0]) as f:
    for line in f:
      rec = json.loads(line)
      if rec["doc_id"] in seen:
        continue
      seen.add(rec["doc_id"])
      out.append(rec["arguments"]["gen_args_0"]["arg_0"] if "gen_args_0" in rec["arguments"]
                 else rec["arguments"][0][0])
      if len(out) == n:
        break
  return out


def bpe(texts, vocab: int):
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  return tok


def timed(f):
  t0 = time.perf_counter()
  out = f()
  return out, time.perf_counter() - t0


def best_of(f, repeats: int):
  """(the last output, the shortest of ``repeats`` timed calls): these machines are noisy."""
  times = []
  for _ in range(repeats):
    out, secs = timed(f)
    times.append(secs)
  return out, min(times)


def run_config(name, prompts, tok, new, use_torch, nocache_prompts, nocache_new, repeats=2):
  from tinyjax import scoring
  from tinyjax.scoring.generate import Generator
  from tinyjax.scoring.models import GPT2, GPT2Config, load_gpt2
  from flax import nnx
  vocab = tok.get_vocab_size()
  cfg = dict(vocab_size=vocab, n_positions=2048, **CONFIGS[name])
  if use_torch:
    import torch
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(bos_token_id=0, eos_token_id=0, **cfg)).eval()
    folder = tempfile.mkdtemp()
    ref.save_pretrained(folder)
    model = load_gpt2(folder)
  else:
    model = GPT2(GPT2Config(**cfg), rngs=nnx.Rngs(0))
  items = [scoring.Generate(p, until=[], max_gen_toks=new) for p in prompts]
  gen = Generator(model, tok, batch_size=32, eos_token_id=-1)
  first, t_first = timed(lambda: gen.generate(items))
  res, t_ours = best_of(lambda: gen.generate(items), repeats)
  shared = Generator(model, tok, batch_size=32, eos_token_id=-1)   # one cache for the whole batch (no decode groups)
  shared.decoder = dataclasses.replace(shared.decoder, decode_rows=0)
  shared.generate(items)
  res_shared, t_shared = best_of(lambda: shared.generate(items), repeats)
  assert res_shared.tokens == res.tokens
  prefill_gen = Generator(model, tok, batch_size=32, eos_token_id=-1)
  one = [scoring.Generate(p, until=[], max_gen_toks=1) for p in prompts]
  prefill_gen.generate(one)
  _, t_prefill = timed(lambda: prefill_gen.generate(one))
  row = dict(config=name, prompt_tokens=res.n_prompt_tokens / len(prompts), new=new, ours=res.n_new_tokens / t_ours,
             seconds=t_ours, prefill_seconds=t_prefill, compile_seconds=t_first - t_ours,
             compilations=gen.compilations, padding=res.padding_fraction, idle=res.idle_fraction,
             shared=res_shared.n_new_tokens / t_shared)
  # no-cache jitted loop, one sequence at a time
  plain = Generator(model, tok, batch_size=1, eos_token_id=-1, cache=False)
  short = [scoring.Generate(p, until=[], max_gen_toks=nocache_new) for p in prompts[:nocache_prompts]]
  plain.generate(short[:1])
  pres, t_plain = timed(lambda: plain.generate(short))
  row["nocache"] = pres.n_new_tokens / t_plain
  if use_torch:
    ids = [tok.encode(p, add_special_tokens=False).ids for p in prompts]
    width = max(map(len, ids))
    x = torch.zeros((len(ids), width), dtype=torch.long)
    mask = torch.zeros_like(x)
    for i, r in enumerate(ids):
      x[i, width - len(r):] = torch.tensor(r)
      mask[i, width - len(r):] = 1
    with torch.no_grad():
      out, t_hf = best_of(lambda: ref.generate(x, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                                               do_sample=False, pad_token_id=0), repeats)
    hf = out[:, width:].tolist()
    with torch.no_grad():   # transformers' prefill alone: one new token
      _, t_hf_prefill = timed(lambda: ref.generate(x, attention_mask=mask, max_new_tokens=1, do_sample=False,
                                                   pad_token_id=0))
    row["hf"] = len(ids) * new / t_hf
    row["hf_seconds"] = t_hf
    row["hf_prefill_seconds"] = t_hf_prefill
    row["agree"] = float(np.mean([a == b for a, b in zip(hf, res.tokens)]))
  return row


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default: %(default)s)")
  p.add_argument("--quick", action="store_true", help="one config (pythia-14m shape), 32 new tokens")
  p.add_argument("--new-tokens", type=int, default=None, help="new tokens per row (default 256; 32 with --quick)")
  p.add_argument("--configs", nargs="+", default=None, choices=sorted(CONFIGS), help="model shapes to run")
  p.add_argument("--no-torch", action="store_true", help="skip the transformers peer")
  p.add_argument("--repeats", type=int, default=2, help="timed calls per side; the shortest is reported")
  args = p.parse_args()
  use_torch = not args.no_torch
  if use_torch:
    try:
      import torch  # noqa: F401
      import transformers  # noqa: F401
    except ImportError:
      print("torch/transformers not installed: running tinyjax only (--no-torch)")
      use_torch = False
  new = args.new_tokens or (32 if args.quick else 256)
  configs = args.configs or (["pythia-14m"] if args.quick else ["pythia-14m", "small"])
  import jax
  prompts = gsm8k_prompts(pathlib.Path(args.data), 32)
  tok = bpe(prompts, 8192)
  print(f"devices: {jax.devices()}; {len(prompts)} GSM8K 5-shot prompts, batch 32, {new} new tokens per row, greedy")
  print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average before: {open('/proc/loadavg').read().strip()}")
  rows = [run_config(c, prompts, tok, new, use_torch, 2, min(new, 16), args.repeats) for c in configs]
  print(f"load average after: {open('/proc/loadavg').read().strip()}")
  head = ("config", "prompt tok", "tinyjax tok/s", "transformers tok/s", "ratio", "one cache tok/s", "no-cache tok/s",
          "ratio",
          "prefill s (of total)", "transformers prefill s (of total)", "padding", "idle", "compilations", "compile s",
          "rows equal")
  print("| " + " | ".join(head) + " |")
  print("|" + "---|" * len(head))
  for r in rows:
    hf = r.get("hf")
    print(f"| {r['config']} | {r['prompt_tokens']:.0f} | {r['ours']:.0f} | {hf:.0f} | {r['ours'] / hf:.2f}x | "
          if hf else f"| {r['config']} | {r['prompt_tokens']:.0f} | {r['ours']:.0f} | - | - | ", end="")
    hf_split = f"{r['hf_prefill_seconds']:.2f} of {r['hf_seconds']:.2f}" if hf else "-"
    print(f"{r['shared']:.0f} | {r['nocache']:.1f} | {r['ours'] / r['nocache']:.1f}x | {r['prefill_seconds']:.2f} of "
          f"{r['seconds']:.2f} | {hf_split} | {r['padding']:.3f} | {r['idle']:.3f} | {r['compilations']} | "
          f"{r['compile_seconds']:.1f} | {r.get('agree', float('nan')):.2f} |")


if __name__ == "__main__":
  main()
