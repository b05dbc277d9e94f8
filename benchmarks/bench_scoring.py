"""Scoring throughput, padding and compilations: tinyjax.scoring against a plain one-request-at-a-time jitted loop.

    python benchmarks/bench_scoring.py            # GPT-2-small-shaped random model, 96 requests (see --requests)
    python benchmarks/bench_scoring.py --quick    # a 2-layer d=64 model, for a fast sanity run

Part 1 (throughput). Requests follow a realistic lm-eval length mix (ARC, HellaSwag, MMLU 0-shot, TruthfulQA
6-shot prompt, Winogrande partial scoring), with random token ids. tinyjax scores them all with the Scorer (packed
rows, shared contexts, fixed batch); the peer loops over requests one at a time with a jitted batch-1 forward
whose input is padded to a power of two (so it also compiles once per length bucket, and compilation is excluded
from both timings). The timings are interleaved: each of ``--repeats`` rounds times tinyjax on all requests and
the peer on one stratified part of them (whole items, the same task mix), alternating which goes first, so both
see the same background load and the peer covers every request once. Rates are in request tokens per second,
i.e. the input positions lm-eval would feed (context + continuation - 1 each); the ratio is reported per round
(median and range) and as total peer time over total tinyjax time.

Part 3 (``--lm-eval``, issue 28). lm-evaluation-harness's own HF backend against tinyjax on real leaderboard items:
the first ``--items`` items of each of MMLU (5-shot), ARC (25-shot), HellaSwag (10-shot), WinoGrande (5-shot) and
TruthfulQA (0-shot, mc1), built by ``leaderboard_items(..., variant="lm_eval")`` from the shared data's item files.
A random GPT-2 (``--shapes``: the pythia-14m shape d=128 x 6 layers, 2,048 positions, and GPT-2 small d=768 x 12,
1,024 positions) is built with transformers from a config and saved with ``save_pretrained`` together with a
byte-level BPE trained on the items' text (no pretrained tokenizer is available offline); lm-eval runs
``HFLM(pretrained=DIR, device="cpu").loglikelihood(requests)`` (its defaults: batch 1, one-token continuations of
one context computed once), tinyjax ``Scorer(load_gpt2(DIR), DIR).loglikelihood(requests)`` with its defaults.
Per benchmark: tinyjax's first call (compilation included), then ``--repeats`` rounds of lm-eval and a warm tinyjax
call (alternating which goes first); the max |loglik difference| and both accuracies.

Part 2 (hook). A TinyBenchmark fitted on a synthetic leaderboard, a small GPT-2 trained with optax, and
TinyEvalHook called 10 times with changing parameters: compilations, seconds per hook call, and the overhead as a
fraction of training time when the hook fires every ``--every`` steps.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from tinyjax import scoring
from tinyjax.scoring.models import GPT2, GPT2Config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))
from train_with_tiny_eval import make_train_step  # noqa: E402  (the example's training step, timed here)

# (name, context length sampler, continuation length sampler, choices, shared context?)
TASKS = {
    "arc": (lambda r: r.normal(45, 15), lambda r: r.integers(2, 13), 4, True),
    "hellaswag": (lambda r: r.normal(75, 20), lambda r: r.integers(15, 36), 4, True),
    "mmlu": (lambda r: r.lognormal(np.log(110), 0.5), lambda r: 1, 4, True),
    "truthfulqa": (lambda r: r.normal(320, 10), lambda r: r.integers(5, 26), 4, True),
    "winogrande": (lambda r: r.normal(25, 6), lambda r: r.integers(6, 15), 2, False),
}


def make_requests(n_requests: int, vocab: int, max_length: int, seed: int = 0, with_items: bool = False):
  """Random-token requests with a realistic length mix (each item's choices in a row, as lm-eval issues them).

  With ``with_items``, also returns, per request, its item number and its task name.
  """
  rng = np.random.default_rng(seed)
  out, item_of, task_of = [], [], []
  names = list(TASKS)
  while len(out) < n_requests:
    task = names[rng.integers(len(names))]
    ctx_len, cont_len, n_choices, shared = TASKS[task]
    ctx = rng.integers(0, vocab, max(4, int(ctx_len(rng)))).tolist()
    cont_shared = rng.integers(0, vocab, int(cont_len(rng))).tolist()
    item = len(set(item_of))
    for _ in range(n_choices):
      if shared:
        c, x = ctx, rng.integers(0, vocab, int(cont_len(rng))).tolist()
      else:  # Winogrande: the options sit in the context, the continuation is shared
        c, x = ctx + rng.integers(0, vocab, 2).tolist(), cont_shared
      ids, n = scoring.truncate_left(c, x, max_length)
      out.append(scoring.EncodedRequest(tuple(ids), n))
      item_of.append(item)
      task_of.append(task)
  if with_items:
    return out[:n_requests], item_of[:n_requests], task_of[:n_requests]
  return out[:n_requests]


def stratified_parts(item_of: list[int], task_of: list[str], parts: int) -> list[np.ndarray]:
  """Splits the requests into ``parts`` disjoint sets of whole items with the same task mix.

  Within each task, items are dealt in turn to the parts (item k of a task goes to part k mod parts).
  """
  seen: dict[str, list[int]] = {}
  part_of_item = {}
  for item, task in zip(item_of, task_of):
    if item not in part_of_item:
      lst = seen.setdefault(task, [])
      part_of_item[item] = len(lst) % parts
      lst.append(item)
  part = np.array([part_of_item[i] for i in item_of])
  return [np.flatnonzero(part == p) for p in range(parts)]


def peer_loop(model, requests, buckets):
  """One request at a time: batch 1, right-padded to a power-of-two bucket, jitted once per bucket."""
  graphdef, state = nnx.split(model)

  @jax.jit
  def one(st, tokens, targets, mask):
    logits = nnx.merge(graphdef, st)(tokens)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(mask, picked, 0.0))

  def run(reqs):
    out = []
    for r in reqs:
      n = r.length
      length = next(b for b in buckets if b >= n)
      ids = np.asarray(r.ids, np.int32)
      tokens = np.zeros((1, length), np.int32)
      targets = np.zeros((1, length), np.int32)
      mask = np.zeros((1, length), bool)
      tokens[0, :n], targets[0, :n] = ids[:-1], ids[1:]
      mask[0, n - r.n_cont:n] = True
      out.append(one(state, tokens, targets, mask))
    return np.asarray(jax.block_until_ready(out))
  return run


def part_throughput(args):
  if args.quick:
    cfg = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=64, n_layer=2, n_head=4)
  else:
    cfg = GPT2Config()  # GPT-2 small: 12 layers, d=768, 12 heads, vocab 50257, 1024 positions
  t0 = time.perf_counter()
  model = GPT2(cfg, rngs=nnx.Rngs(0))
  print(f"model: GPT-2 d={cfg.n_embd} layers={cfg.n_layer} vocab={cfg.vocab_size} "
        f"({sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))) / 1e6:.1f}M params, "
        f"init {time.perf_counter() - t0:.1f}s)")
  reqs, item_of, task_of = make_requests(args.requests, cfg.vocab_size, cfg.n_positions, seed=0, with_items=True)
  real = sum(r.length for r in reqs)
  mix = {t: task_of.count(t) for t in TASKS}
  print(f"requests: {len(reqs)} ({mix}), request tokens: {real}, mean length {real / len(reqs):.1f}, "
        f"max {max(r.length for r in reqs)}")

  variants = [("tinyjax packed+shared-prefix", dict(pack=True, share_prefix=True))]
  if args.ablations:
    variants += [("tinyjax packed, no prefix sharing", dict(pack=True, share_prefix=False)),
                 ("tinyjax bucketed, no packing", dict(pack=False))]
  scorers = {}
  for name, kw in variants:
    scorer = scoring.Scorer(model, _NoTokenizer(), batch_size=args.batch_size, **kw)
    t0 = time.perf_counter()
    scorer.score_encoded(reqs)                      # compiles once per bucket
    scorers[name] = [scorer, time.perf_counter() - t0, None, []]
    plan = scorer.last_plan
    print(f"  first call of {name} (with compilation): {scorers[name][1]:.1f}s; shapes {plan.shapes}, "
          f"score_fraction {scorer.score_fraction}, group_rows {scorer.group_rows}, "
          f"logits at {plan.n_score_slots} positions", flush=True)

  # The peer covers all requests: one stratified part (whole items, same task mix) per repeat.
  buckets = scoring.power_of_two_buckets(cfg.n_positions)
  bucket = lambda r: next(b for b in buckets if b >= r.length)  # noqa: E731
  peer = peer_loop(model, reqs, buckets)
  parts = stratified_parts(item_of, task_of, args.repeats)
  warm = [next(r for r in reqs if bucket(r) == L) for L in sorted({bucket(r) for r in reqs})]
  t0 = time.perf_counter()
  peer(warm)                                        # compile every bucket the requests need
  peer_compile = time.perf_counter() - t0
  peer_slots = sum(bucket(r) for r in reqs)
  print(f"  peer: {len(warm)} buckets compiled in {peer_compile:.1f}s; {peer_slots} padded positions for all "
        f"requests; parts of {[len(p) for p in parts]} requests", flush=True)

  # Interleave: each repeat times every tinyjax variant on all requests and the peer on one part, alternating
  # which goes first, so that both see the same background load.
  peer_ll = np.zeros(len(reqs))
  peer_rates, peer_secs = [], 0.0
  for rep, part in enumerate(parts):
    load = os.getloadavg()[0]
    sub = [reqs[i] for i in part]
    order = ["peer"] + list(scorers) if rep % 2 else list(scorers) + ["peer"]
    line = []
    for name in order:
      t0 = time.perf_counter()
      if name == "peer":
        peer_ll[part] = peer(sub)
        dt = time.perf_counter() - t0
        peer_secs += dt
        peer_rates.append(sum(r.length for r in sub) / dt)
        line.append(f"peer {dt:.1f}s on {len(sub)} requests ({peer_rates[-1]:.1f} tok/s)")
      else:
        ll, _ = scorers[name][0].score_encoded(reqs)
        dt = time.perf_counter() - t0
        scorers[name][2] = ll
        scorers[name][3].append(real / dt)
        line.append(f"{name} {dt:.1f}s ({real / dt:.1f} tok/s)")
    print(f"  repeat {rep + 1}/{len(parts)} (load {load:.2f}): " + "; ".join(line), flush=True)

  peer_rates = np.array(peer_rates)
  peer_total = real / peer_secs
  print(f"{'peer: one-at-a-time jit loop':34s} {peer_total:8.1f} tok/s over all {len(reqs)} requests "
        f"({peer_secs:.1f}s; per part median {np.median(peer_rates):.1f}, range {peer_rates.min():.1f}-"
        f"{peer_rates.max():.1f}); {peer_slots / peer_secs:.1f} padded positions/s")
  for name, (scorer, first, ll, rates) in scorers.items():
    plan = scorer.last_plan
    rates = np.array(rates)
    ratio = rates / peer_rates
    diff = np.max(np.abs(ll - peer_ll))
    print(f"{name:34s} median {np.median(rates):8.1f} tok/s (range {rates.min():.1f}-{rates.max():.1f}; first call "
          f"with compile {first:.1f}s); {np.median(rates) * plan.n_slot_tokens / real:.1f} positions/s")
    print(f"{'':34s} ratio to the peer per repeat: {', '.join(f'{x:.2f}' for x in ratio)}; median "
          f"{np.median(ratio):.2f}x (range {ratio.min():.2f}-{ratio.max():.2f}); peer time on all requests / "
          f"mean tinyjax time: {peer_secs / np.mean(real / rates):.2f}x")
    print(f"{'':34s} padding {plan.padding_fraction:.1%} ({plan.row_padding_fraction:.1%} without the dummy rows "
          f"of the last batch), positions fed {plan.n_fed_tokens} for {real} request tokens, slots "
          f"{plan.n_slot_tokens} (peer {peer_slots}), logits at {plan.n_score_slots} positions, shapes "
          f"{plan.shapes}, compilations {scorer.compilations}, max |loglik - peer| {diff:.1e}")


class _NoTokenizer:
  """Part 1 feeds token ids directly; the Scorer still wants a tokenizer object."""

  bos_token_id = 0

  def encode(self, text):
    raise RuntimeError("not used")


class WordTokenizer:
  """Whitespace-separated words ``w<k>`` -> id k; the empty-context prefix is id 0."""

  bos_token_id = 0

  def encode(self, text):
    return [int(w[1:]) for w in text.split()]


def part_hook(args):
  import tinyjax as tj
  vocab = 512
  rng = np.random.default_rng(1)
  n_items, n_models = 100, 40
  items = []
  for k in range(n_items):
    ctx_len, cont_len, _, _ = TASKS[list(TASKS)[k % 4]]   # the shared-context tasks
    ctx = " ".join(f"w{t}" for t in rng.integers(1, vocab, max(4, min(int(ctx_len(rng)), 200))))
    choices = [" ".join(f"w{t}" for t in rng.integers(1, vocab, int(cont_len(rng)))) for _ in range(4)]
    items.append(scoring.MultipleChoice(ctx, choices, gold=int(rng.integers(4))))
  theta, b = rng.normal(size=n_models), rng.normal(size=n_items)
  Y = (rng.random((n_models, n_items)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
  t0 = time.perf_counter()
  tb = tj.TinyBenchmark.fit(Y, n_anchors=args.anchors, strategy="random", seed=0, kind="1pl", dim=1, n_folds=2,
                            n_restarts=1)
  print(f"TinyBenchmark fit on a synthetic {n_models}x{n_items} leaderboard: {time.perf_counter() - t0:.1f}s, "
        f"{args.anchors} anchors")

  cfg = GPT2Config(vocab_size=vocab, n_positions=256, n_embd=128, n_layer=4, n_head=4)
  model = GPT2(cfg, rngs=nnx.Rngs(0))
  graphdef, state = nnx.split(model)
  opt = optax.adamw(1e-3)
  opt_state = opt.init(state)
  data = jnp.asarray(rng.integers(1, vocab, (args.train_batch, 129)), jnp.int32)
  train_step = make_train_step(graphdef, opt)

  state, opt_state, loss = train_step(state, opt_state, data)
  jax.block_until_ready(loss)
  t0 = time.perf_counter()
  for _ in range(5):
    state, opt_state, loss = train_step(state, opt_state, data)
  jax.block_until_ready(loss)
  step_secs = (time.perf_counter() - t0) / 5

  from tinyjax.evaluate import TinyEvalHook
  hook = TinyEvalHook({"synthetic": tb}, {"synthetic": items}, WordTokenizer(), apply_fn=model, every=1,
                      batch_size=args.batch_size)
  secs = []
  for call in range(10):
    state, opt_state, loss = train_step(state, opt_state, data)
    t0 = time.perf_counter()
    metrics = hook(call, state)
    secs.append(time.perf_counter() - t0)
  shapes = hook.scorer.last_plan.shapes
  warm = float(np.mean(secs[1:]))
  print(f"hook: 10 calls, compilations {hook.compilations}, buckets {len(shapes)} {shapes}; "
        f"first call {secs[0]:.2f}s, then {warm:.2f}s per call "
        f"({len(hook._encoded)} requests, padding {metrics['tinyjax/padding_fraction']:.1%})")
  print(f"training step ({args.train_batch}x128 tokens, d=128, 4 layers): {step_secs * 1e3:.1f} ms; one hook call = "
        f"{warm / step_secs:.1f} steps; overhead with the hook every {args.every} steps: "
        f"{warm / (args.every * step_secs):.1%} of training time")
  print(f"last estimate: raw_acc {metrics['tinyjax/synthetic/raw_acc']:.3f}, estimate "
        f"{metrics['tinyjax/synthetic/estimate']:.3f} [{metrics['tinyjax/synthetic/estimate_lo']:.3f}, "
        f"{metrics['tinyjax/synthetic/estimate_hi']:.3f}]")


BENCHMARKS = ("mmlu", "arc", "hellaswag", "winogrande", "truthfulqa")
SHAPES = {"pythia-14m": dict(n_embd=128, n_layer=6, n_head=4, n_positions=2048, vocab_size=50304),
          "gpt2-small": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257)}


def leaderboard_requests(data: pathlib.Path, n_items: int) -> dict[str, list]:
  """The first ``n_items`` lm-eval-variant items of each benchmark (the item builders, wherever they live)."""
  try:
    from tinyjax.evaluate import leaderboard_items
  except ImportError:
    from tinyjax.scoring import leaderboard_items
  folder = data / "items" / "openllm_v1"
  if not folder.exists():
    raise SystemExit(f"no leaderboard items under {folder}: pass --data (the shared data folder)")
  return {b: list(leaderboard_items(folder, b, variant="lm_eval").values())[:n_items] for b in BENCHMARKS}


def save_random_gpt2(folder: str, shape: str, texts: list[str], tok_vocab: int):
  """A random transformers GPT-2 of ``shape`` and a BPE trained on ``texts``, saved with save_pretrained."""
  import torch
  import transformers
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=tok_vocab, special_tokens=["<|endoftext|>"],
                                                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                              eos_token="<|endoftext|>")
  fast.save_pretrained(folder)
  torch.manual_seed(0)
  cfg = transformers.GPT2Config(bos_token_id=0, eos_token_id=0, **SHAPES[shape])
  transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(folder)


def part_sweep(args):
  """tinyjax alone: warm time of every (batch size, row_tokens) in ``--sweep``, interleaved over rounds."""
  import tempfile

  from tinyjax.scoring.models import load_gpt2
  items = leaderboard_requests(pathlib.Path(args.data), args.items)
  texts = sorted({t for its in items.values() for it in its for pair in it.requests() for t in pair})
  pairs = {b: [pair for it in items[b] for pair in it.requests()] for b in (args.benchmarks or BENCHMARKS)}
  for shape in args.shapes:
    folder = tempfile.mkdtemp(prefix=f"bench_scoring_{shape}_")
    save_random_gpt2(folder, shape, texts, args.tok_vocab)
    model = load_gpt2(folder)
    scorers = {}
    for setting in args.sweep:
      batch, row_tokens = (int(x) for x in setting.split("x"))
      scorer = scoring.Scorer(model, folder, batch_size=batch)
      scorer.row_tokens = row_tokens
      for b in pairs:
        scorer.loglikelihood(pairs[b])              # compiles
      scorers[setting] = (scorer, [])
    for rnd in range(args.repeats):
      for setting in (args.sweep if rnd % 2 == 0 else args.sweep[::-1]):
        t0 = time.perf_counter()
        for b in pairs:
          scorers[setting][0].loglikelihood(pairs[b])
        scorers[setting][1].append(time.perf_counter() - t0)
      print(f"{shape} round {rnd + 1}: " + ", ".join(f"{k} {v[1][-1]:.2f}s" for k, v in scorers.items())
            + f" | load {open('/proc/loadavg').read().split()[0]}", flush=True)
    for setting, (scorer, secs) in scorers.items():
      print(f"{shape} batch x row_tokens {setting}: median {np.median(secs):.2f}s over {len(secs)} rounds",
            flush=True)


def part_lm_eval(args):
  import tempfile

  import torch
  from lm_eval.api.instance import Instance
  from lm_eval.models.huggingface import HFLM

  from tinyjax.scoring.models import load_gpt2
  from tinyjax.scoring.scorer import choice_accuracies, choice_matrix
  torch.set_num_threads(os.cpu_count() or 1)
  items = leaderboard_requests(pathlib.Path(args.data), args.items)
  texts = sorted({t for its in items.values() for it in its for pair in it.requests() for t in pair})
  benches = args.benchmarks or list(BENCHMARKS)
  for shape in args.shapes:
    folder = tempfile.mkdtemp(prefix=f"bench_scoring_{shape}_")
    save_random_gpt2(folder, shape, texts, args.tok_vocab)
    hf = HFLM(pretrained=folder, device="cpu")
    kw = {} if args.tj_batch_size is None else dict(batch_size=args.tj_batch_size)
    scorer = scoring.Scorer(load_gpt2(folder), folder, **kw)
    print(f"== {shape}: {SHAPES[shape]}; lm-eval HFLM batch {hf.batch_size}, max_length {hf.max_length}; "
          f"tinyjax batch {scorer.batch_size}, max_length {scorer.max_length}", flush=True)
    totals = {"hf": 0.0, "tj": 0.0, "tj_first": 0.0}
    for bench in benches:
      its = items[bench]
      pairs = [pair for it in its for pair in it.requests()]
      instances = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i)
                   for i, pair in enumerate(pairs)]
      encoded = [scorer.encode(c, x) for c, x in pairs]
      n_tok = sum(r.length for r in encoded)
      before = scorer.compilations
      t0 = time.perf_counter()
      ll_tj, _ = scorer.loglikelihood(pairs)
      first = time.perf_counter() - t0
      plan = scorer.last_plan
      t_hf, t_tj = [], []
      for rep in range(args.repeats):
        for side in (("hf", "tj") if rep % 2 == 0 else ("tj", "hf")):
          t0 = time.perf_counter()
          if side == "hf":
            out = hf.loglikelihood(instances, disable_tqdm=True)
            t_hf.append(time.perf_counter() - t0)
          else:
            ll_tj, _ = scorer.loglikelihood(pairs)
            t_tj.append(time.perf_counter() - t0)
      ll_hf = np.array([o[0] for o in out])
      acc_hf = choice_accuracies(its, choice_matrix(its, ll_hf, -np.inf, np.float64))["acc"]
      acc_tj = choice_accuracies(its, choice_matrix(its, ll_tj, -np.inf, np.float32))["acc"]
      hf_s, tj_s = float(np.median(t_hf)), float(np.median(t_tj))
      totals["hf"] += hf_s
      totals["tj"] += tj_s
      totals["tj_first"] += first
      print(f"{shape:10s} {bench:10s} items {len(its):3d} requests {len(pairs):4d} request tokens {n_tok:7d} | "
            f"lm-eval {hf_s:7.2f}s | tinyjax {tj_s:7.2f}s (first {first:6.1f}s, {scorer.compilations - before} "
            f"compilations) | {hf_s / tj_s:5.2f}x (first call {hf_s / first:4.2f}x) | max|dll| "
            f"{np.max(np.abs(ll_hf - ll_tj)):.1e} | acc {acc_hf.mean():.2f} / {acc_tj.mean():.2f}, "
            f"{int(np.sum(acc_hf == acc_tj))}/{len(its)} equal | fed {plan.n_fed_tokens} slots "
            f"{plan.n_slot_tokens} shapes {plan.shapes} | load {open('/proc/loadavg').read().split()[0]}",
            flush=True)
    print(f"{shape:10s} all        lm-eval {totals['hf']:.1f}s tinyjax {totals['tj']:.1f}s "
          f"({totals['hf'] / totals['tj']:.2f}x; first calls {totals['tj_first']:.1f}s, "
          f"{totals['hf'] / totals['tj_first']:.2f}x); compilations {scorer.compilations}", flush=True)


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--quick", action="store_true", help="small 2-layer model instead of GPT-2 small")
  p.add_argument("--requests", type=int, default=96, help="log-likelihood requests scored by tinyjax")
  p.add_argument("--batch-size", type=int, default=2,
                 help="rows per batch (2: on a 2-core CPU, 8 rows of 512 ran 1.4x slower per position in batches of 8)")
  p.add_argument("--ablations", action="store_true", help="also time packing without prefix sharing, no packing")
  p.add_argument("--repeats", type=int, default=4,
                 help="interleaved timed runs (part 3: rounds per benchmark; use 1-2 there); each times tinyjax on all requests and the peer on 1/repeats of them "
                      "(stratified by task), so the peer covers every request once")
  p.add_argument("--anchors", type=int, default=25, help="anchor items of the hook's TinyBenchmark")
  p.add_argument("--every", type=int, default=100, help="hook period used for the overhead fraction")
  p.add_argument("--train-batch", type=int, default=8, help="training batch rows (128 tokens each)")
  p.add_argument("--skip-hook", action="store_true", help="only part 1")
  p.add_argument("--lm-eval", action="store_true", help="only part 3: lm-eval's HF backend on leaderboard items")
  p.add_argument("--data", default=os.environ.get("TINYJAX_SHARED_DATA")
                 or str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"),
                 help="part 3: the shared data folder (default: %(default)s)")
  p.add_argument("--items", type=int, default=100, help="part 3: items per benchmark")
  p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES), help="part 3: model shapes")
  p.add_argument("--benchmarks", nargs="+", choices=BENCHMARKS, help="part 3: benchmarks (default: all five)")
  p.add_argument("--tok-vocab", type=int, default=8192, help="part 3: BPE vocabulary trained on the items")
  p.add_argument("--tj-batch-size", type=int, default=None, help="part 3: tinyjax batch size (default: its own)")
  p.add_argument("--sweep", nargs="+", metavar="BxT",
                 help="part 3, tinyjax alone: time each batch size x row_tokens setting (e.g. 8x2048 8x4096)")
  p.add_argument("--skip-throughput", action="store_true", help="only part 2")
  args = p.parse_args()
  print(f"jax {jax.__version__}, devices {jax.devices()}, cpus {os.cpu_count()}, load {open('/proc/loadavg').read()}")
  if args.lm_eval:
    part_sweep(args) if args.sweep else part_lm_eval(args)
    return
  if not args.skip_throughput:
    part_throughput(args)
  if not args.skip_hook:
    part_hook(args)


if __name__ == "__main__":
  main()
