"""A tiny Open LLM Leaderboard inside a training loop: five full-benchmark estimates and their average, on CPU.

    python examples/train_with_suite.py [--data DIR] [--anchors 25] [--models 500] [--steps 60]
    python examples/train_with_suite.py --suite openllm_v1.tjx      # a suite saved before (tinyjax suite build)

1. The suite: ``tj.Suite.fit`` on the Open LLM Leaderboard v1 response matrices of ``DATA/irt/openllm_v1`` (ARC,
   GSM8K, TruthfulQA, MMLU, WinoGrande; ``--models`` of the leaderboard's models, to keep the fit short), keeping
   ``--anchors`` items per benchmark; or a saved suite (``--suite``).
2. The items: ``evaluate.leaderboard_items`` reads metabench's item files in ``DATA/items/openllm_v1`` with the
   prompts the leaderboard used (25-shot ARC, 5-shot MMLU, 5-shot WinoGrande with partial scoring, TruthfulQA
   MC1 with lm-eval's QA preamble: the leaderboard displayed mc2, but metabench's truthfulqa matrix, which the
   suite is fitted on, holds MC1, so the hook feeds the MC1 answers, acc over ``mc1_targets``).
3. A 2-layer NNX GPT-2 trains for ``--steps`` steps on the text of the items that are NOT anchors (their
   few-shot prompts), and ``evaluate.TinyEvalHook(suite, ...)`` scores the suite's anchors every ``--every``
   steps with the training job's own parameters. GSM8K's anchors are generated greedily (lm-eval's
   generate_until, at most 256 new tokens, with a KV cache) and graded by strict-match; ``--skip-gsm8k`` leaves
   them out (the suite then estimates GSM8K from the other four benchmarks' answers). The last line gives the
   hook's cost as a share of the run, and generation's share of the hook.

The model's window is ``--window`` tokens: longer prompts (25-shot ARC, 5-shot GSM8K) are left-truncated as
lm-eval does with a short-window model (GSM8K keeps its last ``window - 256`` prompt tokens). A model this small
answers at chance, so the estimates sit near the leaderboard's weakest
models; the point is the loop: one compilation per length bucket, a few seconds per evaluation.
The data: by default tinyjax's data cache, which ``tinyjax suite fetch openllm-v1`` fills from metabench's public
repository (fetched here on first use; CC BY-NC-SA 4.0); ``--data DIR`` (or ``$TINYJAX_SHARED_DATA``) names a
folder with ``irt/openllm_v1`` and ``items/openllm_v1`` instead.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import tinyjax as tj
from tinyjax import evaluate, scoring
from tinyjax.scoring.models import GPT2, GPT2Config
from train_with_tiny_eval import make_train_step   # examples/ is on sys.path when this script runs

# The default is tinyjax's data cache, filled by `tinyjax suite fetch openllm-v1` (fetched here if needed).
DEFAULT_DATA = os.environ.get("TINYJAX_SHARED_DATA")


def build_suite(data: pathlib.Path, n_anchors: int, n_models: int, seed: int):
  """``tj.Suite.fit`` on the leaderboard's matrices, on ``n_models`` models drawn at random (0: all)."""
  from tinyjax.suite import load_openllm_v1

  responses, full = load_openllm_v1(data)   # the folder itself, or a root with (irt/)openllm_v1/ below it
  if n_models:
    names = sorted(set().union(*(set(y.index) for y in responses.values())))
    keep = set(np.random.default_rng(seed).choice(names, size=min(n_models, len(names)), replace=False))
    responses = {b: y.loc[[m for m in y.index if m in keep]] for b, y in responses.items()}
  return tj.Suite.fit(responses, full, n_anchors=n_anchors, seed=seed, unit="percent")


def train_tokenizer(texts, vocab_size: int):
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(texts, trainer)
  return tok


def print_estimates(suite, metrics: dict, prefix: str = "tinyjax"):
  unit = "%"
  for b in suite.benchmarks:
    key = f"{prefix}/{b}"
    answered = metrics[f"{key}/answered"]
    note = f"{answered} anchors answered" if answered else "skipped, estimated from the others"
    print(f"    {b:<11} {metrics[f'{key}/estimate']:6.1f}{unit}  [{metrics[f'{key}/estimate_lo']:6.1f}, "
          f"{metrics[f'{key}/estimate_hi']:6.1f}]  {note}")
  print(f"    {'average':<11} {metrics[f'{prefix}/average']:6.1f}{unit}  [{metrics[f'{prefix}/average_lo']:6.1f}, "
        f"{metrics[f'{prefix}/average_hi']:6.1f}]  over all {len(suite.benchmarks)} benchmarks, answered on "
        f"{metrics[f'{prefix}/average_covers']}")


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=DEFAULT_DATA, help="a data folder with irt/openllm_v1 and items/openllm_v1 "
                 "(default: the data cache of `tinyjax suite fetch openllm-v1`, fetched if needed)")
  p.add_argument("--suite", default=None, help="a saved suite (.tjx) to load instead of fitting one")
  p.add_argument("--save", default=None, help="save the fitted suite here (.tjx)")
  p.add_argument("--anchors", type=int, default=25, help="kept items per benchmark (default: %(default)s)")
  p.add_argument("--models", type=int, default=500, help="leaderboard models the suite is fitted on, drawn at "
                 "random; 0 for all (slow on CPU) (default: %(default)s)")
  p.add_argument("--steps", type=int, default=60, help="training steps (default: %(default)s)")
  p.add_argument("--every", type=int, default=20, help="evaluate every this many steps (default: %(default)s)")
  p.add_argument("--window", type=int, default=512, help="model window in tokens (default: %(default)s)")
  p.add_argument("--skip-gsm8k", action="store_true", help="do not generate GSM8K's anchors")
  p.add_argument("--batch-size", type=int, default=8, help="rows per scoring batch (default: %(default)s)")
  p.add_argument("--seed", type=int, default=0, help="seed of the model draw, the suite and the model "
                 "(default: %(default)s)")
  args = p.parse_args()
  t_start = time.perf_counter()
  if args.data:
    data = pathlib.Path(args.data)
    items_dir = data / "items" / "openllm_v1"
    if not items_dir.is_dir():
      p.error(f"{items_dir} is missing: point --data at a folder with irt/openllm_v1 and items/openllm_v1")
  else:
    from tinyjax.suite.fetch import fetch_openllm_v1, metabench_dir
    data = fetch_openllm_v1()              # ~/.cache/tinyjax/data/openllm_v1 (CC BY-NC-SA 4.0, metabench)
    items_dir = metabench_dir()            # metabench's items/final/<bench>-secondary.parquet

  # 1. The suite.
  if args.suite:
    suite = tj.load(args.suite)
    print(f"suite loaded from {args.suite}: {suite}")
  else:
    print(f"fitting the suite on {args.models or 'all'} leaderboard models, {args.anchors} anchors per benchmark...")
    suite = build_suite(data, args.anchors, args.models, args.seed)
    print(f"suite: {suite} ({time.perf_counter() - t_start:.0f}s)")
    if args.save:
      print(f"saved to {suite.save(args.save)}")

  # 2. The items, with the leaderboard's prompts; training text from the items that are not anchors.
  t0 = time.perf_counter()
  anchors = {b: set(ids) for b, ids in suite.anchors.items()}
  texts = []
  for b in suite.benchmarks:
    for item_id, it in evaluate.leaderboard_items(items_dir, b).items():
      if item_id in anchors[b]:
        continue
      if isinstance(it, scoring.Generate):            # GSM8K: the prompt and the reference solution
        texts.append(it.context + " " + it.target)
      else:
        context, continuation = it.requests()[it.gold]   # the prompt and its right answer
        texts.append(context + continuation)
  tok = train_tokenizer(texts, vocab_size=2000)
  eot = tok.token_to_id("<|endoftext|>")
  stream = np.asarray([t for text in texts for t in tok.encode(text).ids + [eot]], np.int32)
  print(f"training text: {len(texts)} non-anchor items, {stream.size} tokens ({time.perf_counter() - t0:.0f}s)")

  # 3. The model, a plain jitted optax step, and the hook.
  model = GPT2(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=args.window, n_embd=64, n_layer=2,
                          n_head=4), rngs=nnx.Rngs(args.seed))
  graphdef, state = nnx.split(model)
  opt = optax.adamw(3e-3, weight_decay=0.0)
  opt_state = opt.init(state)
  train_step = make_train_step(graphdef, opt)
  hook = evaluate.TinyEvalHook(suite, items_dir, tok, apply_fn=model, every=args.every, batch_size=args.batch_size,
                               skip=("gsm8k",) if args.skip_gsm8k else ())
  n_req = sum(len(it.choices) for its in hook.items.values() for it in its if isinstance(it, scoring.MultipleChoice))
  n_gen = sum(isinstance(it, scoring.Generate) for its in hook.items.values() for it in its)
  print(f"hook: {n_req} log-likelihood requests and {n_gen} generations on {sum(map(len, hook.items.values()))} "
        f"anchors of {list(hook.items)}; skipped {list(hook.skipped)}")

  rng = np.random.default_rng(args.seed)
  seq, batch = min(args.window, 128), 8
  train_secs, eval_secs, gen_secs = 0.0, 0.0, 0.0
  for step in range(args.steps + 1):
    starts = rng.integers(0, len(stream) - seq - 1, batch)
    x = jnp.asarray(np.stack([stream[s:s + seq + 1] for s in starts]))
    t0 = time.perf_counter()
    state, opt_state, loss = train_step(state, opt_state, x)
    loss = float(loss)
    train_secs += time.perf_counter() - t0
    metrics = hook(step, state)            # {} except every `every` steps; a dict for any logger
    if metrics:
      eval_secs += metrics["tinyjax/eval_seconds"]
      gen_secs += metrics.get("tinyjax/generation_seconds", 0.0)
      gen_note = (f" (generation {metrics['tinyjax/generation_seconds']:5.1f}s, "
                  f"{metrics['tinyjax/new_tokens']} new tokens)" if "tinyjax/generation_seconds" in metrics else "")
      print(f"step {step:4d}  loss {loss:6.3f}  eval {metrics['tinyjax/eval_seconds']:5.1f}s{gen_note}")
      print_estimates(suite, metrics)
  shapes = sorted(hook.generator.last_shapes) if hook.generator is not None else []
  print(f"hook compilations: {hook.compilations} (scoring buckets: {hook.scorer.last_plan.shapes}; generation "
        f"(bucket, budget): {shapes}); eval {eval_secs:.1f}s (generation {gen_secs:.1f}s) vs training "
        f"{train_secs:.1f}s: the hook is {eval_secs / (eval_secs + train_secs):.0%} of the loop's time, generation "
        f"{gen_secs / max(eval_secs, 1e-9):.0%} of the hook; total {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
  main()
