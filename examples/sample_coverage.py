"""Repeated sampling with tinyjax: n answers per problem from a small model, graded, and the coverage law fitted.

    python examples/sample_coverage.py [--problems 16] [--samples 64] [--steps 300] [--temperature 1.0]

1. A 2-layer NNX GPT-2 learns, for ``--steps`` steps, to answer two-digit additions in GSM8K's answer format
   (``"Question: what is 23 + 48?\\nAnswer: #### 71"``) on a character tokenizer. It is trained too briefly to
   be always right: that is the regime where repeated sampling pays.
2. ``scoring.sample`` draws ``--samples`` answers per held-out problem (temperature sampling, explicit key; the
   same key gives the same samples) and grades each with GSM8K's strict-match exact match.
3. ``tj.sampling.pass_at_k`` turns the per-problem correct counts into coverage(k), and
   ``tj.sampling.fit_coverage`` fits Large Language Monkeys' law coverage(k) = exp(a k^b).
Runs on CPU in about a minute.
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
from tinyjax import scoring
from tinyjax.scoring.models import GPT2, GPT2Config
from train_with_tiny_eval import make_train_step   # examples/ is on sys.path when this script runs

ALPHABET = "\x00\n #+:?0123456789ADQWaehinorstuw"   # id 0 is the end of a sequence


class CharTokenizer:
  """One token per character of ALPHABET; id 0 ends a sequence."""

  eos_token_id = 0
  bos_token_id = 0

  def encode(self, text):
    return [ALPHABET.index(c) for c in text]

  def decode(self, ids):
    return "".join(ALPHABET[i] for i in ids if i)


def problem(a: int, b: int) -> tuple[str, str]:
  return f"Question: what is {a} + {b}?\nAnswer:", f"#### {a + b}"


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--problems", type=int, default=16, help="held-out problems sampled (default: %(default)s)")
  p.add_argument("--samples", type=int, default=64, help="samples per problem (default: %(default)s)")
  p.add_argument("--steps", type=int, default=300, help="training steps (default: %(default)s)")
  p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
  p.add_argument("--seed", type=int, default=0, help="seed of the data, the model and the samples "
                 "(default: %(default)s)")
  args = p.parse_args()
  t_start = time.perf_counter()
  rng = np.random.default_rng(args.seed)
  tok = CharTokenizer()
  pairs = [(a, b) for a in range(10, 100) for b in range(10, 100)]
  order = rng.permutation(len(pairs))
  held_out = [pairs[i] for i in order[:args.problems]]
  train = [pairs[i] for i in order[args.problems:]]

  # 1. Train a small model on the answer format.
  seq = 48
  def row(a, b):
    q, ans = problem(a, b)
    ids = tok.encode(q + " " + ans) + [0]
    return ids + [0] * (seq + 1 - len(ids))
  model = GPT2(GPT2Config(vocab_size=len(ALPHABET), n_positions=64, n_embd=64, n_layer=2, n_head=4),
               rngs=nnx.Rngs(args.seed))
  graphdef, state = nnx.split(model)
  opt = optax.adam(3e-3)
  opt_state = opt.init(state)

  train_step = make_train_step(graphdef, opt)   # the jitted next-token step of the other examples

  for step in range(args.steps):
    batch = [train[i] for i in rng.integers(0, len(train), 64)]
    state, opt_state, loss = train_step(state, opt_state, jnp.asarray([row(a, b) for a, b in batch], jnp.int32))
  nnx.update(model, state)
  print(f"trained {args.steps} steps, loss {float(loss):.3f} ({time.perf_counter() - t_start:.0f}s)")

  # 2. n samples per held-out problem, graded by GSM8K's strict-match.
  items = [scoring.Generate(q, until=["\n"], max_gen_toks=12, target=ans)
           for q, ans in (problem(a, b) for a, b in held_out)]
  t0 = time.perf_counter()
  res = scoring.sample(model, None, tok, items, n=args.samples, key=jax.random.key(args.seed),
                       temperature=args.temperature, batch_size=64)
  gen = res.generations
  print(f"{args.samples} samples x {len(items)} problems: {gen.n_new_tokens} new tokens in "
        f"{time.perf_counter() - t0:.1f}s; correct per problem: {res.c.tolist()}")
  q, ans = problem(*held_out[0])
  print(f"e.g. {q!r} -> {gen.text[0][:4]} (target {ans!r})")

  # 3. Coverage, and the law.
  ks = tj.sampling.log_spaced_k(args.samples, 12)
  coverage = tj.sampling.pass_at_k(res.n, res.c, ks)
  print("k        " + " ".join(f"{k:6d}" for k in ks))
  print("coverage " + " ".join(f"{c:6.3f}" for c in coverage))
  if coverage[0] <= 0:
    print("no problem was ever solved: train longer (--steps) to fit the law")
    return
  fit = tj.sampling.fit_coverage(ks, coverage)
  print(f"coverage(k) = exp({fit.a:.3f} k^{fit.b:.3f}); predicted at k={4 * args.samples}: "
        f"{float(fit.predict(4 * args.samples)):.3f}; total {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
  main()
