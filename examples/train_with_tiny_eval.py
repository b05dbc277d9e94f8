"""Train a small NNX causal LM with optax and watch tiny-benchmark estimates move, on CPU in a few minutes.

    python examples/train_with_tiny_eval.py [--steps 300] [--every 50]

The toy world: 60 made-up creatures, each with a colour. The training corpus states the facts ("The zorp is
blue."); the benchmark asks them as multiple-choice items ("The zorp is" -> blue / red / green / white). A
TinyBenchmark (anchor items + the recommended estimator, ``est.score``) is fitted on a synthetic leaderboard of 40 earlier "models" over these items,
and ``evaluate.TinyEvalHook`` scores only its anchor items every ``--every`` steps, inside the training loop, on
the training job's own parameters. At the end the full benchmark is scored once to compare with the estimate.

The synthetic leaderboard stands in for the real one you would fit a TinyBenchmark on (e.g. the Open LLM
Leaderboard responses that ``tinyjax suite fetch openllm-v1`` downloads); its IRT parameters are not learnt from this toy task, so the estimate
tracks the anchor accuracy through an IRT model that is only roughly right here.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import tinyjax as tj
from tinyjax import evaluate, scoring
from tinyjax.scoring.models import GPT2, GPT2Config

COLORS = ["red", "blue", "green", "white", "black", "yellow"]


def make_train_step(graphdef: nnx.GraphDef, opt: optax.GradientTransformation):
  """A jitted next-token training step over an NNX model's state: ``(state, opt_state, tokens [B, L+1]) ->
  (state, opt_state, loss)``. benchmarks/bench_scoring.py times this same step."""

  @jax.jit
  def train_step(st, os_, x):
    def loss_fn(s):
      logits = nnx.merge(graphdef, s)(x[:, :-1])
      return optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:]).mean()
    loss, grads = jax.value_and_grad(loss_fn)(st)
    updates, os_ = opt.update(grads, os_, st)
    return optax.apply_updates(st, updates), os_, loss

  return train_step


def make_world(n: int, seed: int):
  rng = np.random.default_rng(seed)
  syllables = ["zo", "rp", "ka", "li", "mu", "te", "vo", "nix", "bra", "qu", "el", "dor", "fi", "ash"]
  names = set()
  while len(names) < n:
    names.add("".join(rng.choice(syllables, rng.integers(2, 4))))
  names = sorted(names)
  colors = [COLORS[i] for i in rng.integers(0, len(COLORS), n)]
  return names, colors


def make_items(names, colors, seed):
  rng = np.random.default_rng(seed)
  items = []
  for name, color in zip(names, colors):
    wrong = rng.choice([c for c in COLORS if c != color], 3, replace=False).tolist()
    choices = [color] + wrong
    order = rng.permutation(4)
    items.append(scoring.MultipleChoice(f"The {name} is", [choices[i] for i in order],
                                        gold=int(np.flatnonzero(order == 0)[0])))
  return items


def train_tokenizer(texts):
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(texts, trainer)
  return tok


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=300, help="training steps")
  p.add_argument("--every", type=int, default=50, help="run the tiny evaluation every this many steps")
  p.add_argument("--anchors", type=int, default=15, help="anchor items of the TinyBenchmark")
  p.add_argument("--seed", type=int, default=0, help="seed of the world, the leaderboard and the model")
  args = p.parse_args()
  t_start = time.perf_counter()

  names, colors = make_world(60, args.seed)
  items = make_items(names, colors, args.seed)
  facts = [f"The {n} is {c}." for n, c in zip(names, colors)]
  tok = train_tokenizer(facts * 5)
  eot = tok.token_to_id("<|endoftext|>")

  # A synthetic leaderboard of 40 earlier models on these 60 items, and the TinyBenchmark fitted on it.
  rng = np.random.default_rng(args.seed)
  theta, difficulty = rng.normal(size=40), rng.normal(size=len(items))
  y_train = (rng.random((40, len(items))) < 1 / (1 + np.exp(-(theta[:, None] - difficulty)))).astype(float)
  tb = tj.TinyBenchmark.fit(y_train, n_anchors=args.anchors, strategy="random", seed=args.seed, kind="1pl",
                            dim=1, n_folds=2, n_restarts=1)
  print(f"TinyBenchmark: {args.anchors} anchors of {len(items)} items ({time.perf_counter() - t_start:.0f}s)")

  # The model and a plain jitted optax training step over the NNX state.
  model = GPT2(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=32, n_embd=64, n_layer=2, n_head=4),
               rngs=nnx.Rngs(args.seed))
  graphdef, state = nnx.split(model)
  opt = optax.adamw(3e-3, weight_decay=0.0)
  opt_state = opt.init(state)
  stream = []
  for _ in range(40):
    for k in rng.permutation(len(facts)):
      stream += tok.encode(facts[k]).ids + [eot]
  stream = np.asarray(stream, np.int32)
  seq, batch = 24, 16
  train_step = make_train_step(graphdef, opt)

  hook = evaluate.TinyEvalHook({"colors": tb}, {"colors": items}, tok, apply_fn=model, every=args.every,
                               batch_size=8)
  print(f"{'step':>5} {'loss':>7} {'anchor acc':>10} {'tiny estimate':>16} {'interval':>16} {'eval s':>7}")
  train_secs, eval_secs = 0.0, 0.0
  for step in range(args.steps + 1):
    starts = rng.integers(0, len(stream) - seq - 1, batch)
    x = jnp.asarray(np.stack([stream[s:s + seq + 1] for s in starts]))
    t0 = time.perf_counter()
    state, opt_state, loss = train_step(state, opt_state, x)
    loss = float(loss)
    train_secs += time.perf_counter() - t0
    metrics = hook(step, state)           # {} except every `every` steps; a dict for any logger
    if metrics:
      eval_secs += metrics["tinyjax/eval_seconds"]
      print(f"{step:5d} {loss:7.3f} {metrics['tinyjax/colors/raw_acc']:10.3f} "
            f"{metrics['tinyjax/colors/estimate']:16.3f} "
            f"  [{metrics['tinyjax/colors/estimate_lo']:.3f}, {metrics['tinyjax/colors/estimate_hi']:.3f}] "
            f"{metrics['tinyjax/eval_seconds']:7.2f}")

  full = scoring.score(model, state, tok, items, batch_size=8)
  print(f"full benchmark after training: acc {full.acc.mean():.3f}, acc_norm {full.acc_norm.mean():.3f} "
        f"({len(items)} items) vs the last tiny estimate {metrics.get('tinyjax/colors/estimate', float('nan')):.3f}")
  print(f"hook compilations: {hook.compilations} (buckets: {hook.scorer.last_plan.shapes}); eval time "
        f"{eval_secs:.1f}s vs training {train_secs:.1f}s; total {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
  main()
