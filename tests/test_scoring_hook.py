"""TinyEvalHook inside a jitted optax training loop, with a real TinyBenchmark fitted on a synthetic leaderboard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import tinyjax as tj
from tinyjax import evaluate, scoring
from tinyjax.scoring.models import GPT2, GPT2Config


class Chars:
  bos_token_id = 0

  def encode(self, text):
    return [96 if c == "\n" else ord(c) - 31 for c in text]


FACTS = [("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"), ("sun", "yellow"),
         ("blood", "red")]
COLORS = sorted({c for _, c in FACTS})


def make_items(n):
  rng = np.random.default_rng(0)
  items = []
  for k in range(n):
    thing, color = FACTS[k % len(FACTS)]
    others = [c for c in COLORS if c != color]
    wrong = list(rng.choice(others, size=1 + k % 3, replace=False))
    choices = [color] + wrong
    order = rng.permutation(len(choices))
    items.append(scoring.MultipleChoice(f"The {thing} is", [choices[i] for i in order],
                                        gold=int(np.flatnonzero(order == 0)[0])))
  return items


N_ITEMS, N_ANCHORS = 24, 6


@pytest.fixture(scope="module")
def tiny_bench():
  rng = np.random.default_rng(1)
  theta, b = rng.normal(size=30), rng.normal(size=N_ITEMS)
  Y = (rng.random((30, N_ITEMS)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
  return tj.TinyBenchmark.fit(Y, n_anchors=N_ANCHORS, strategy="random", seed=0, kind="1pl", dim=1, n_folds=2,
                              n_restarts=1)


@pytest.mark.slow
def test_hook_in_jitted_training_loop(tiny_bench):
  tok = Chars()
  items = make_items(N_ITEMS)
  model = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=4), rngs=nnx.Rngs(0))
  graphdef, state = nnx.split(model)
  opt = optax.adam(3e-3)
  opt_state = opt.init(state)
  text = " ".join(f"The {t} is {c}." for t, c in FACTS) * 4
  ids = np.asarray(tok.encode(text))
  batch = jnp.asarray(np.stack([ids[i:i + 25] for i in range(0, 8 * 7, 7)]))   # [8, 25]

  def loss_fn(st, x):
    logits = nnx.merge(graphdef, st)(x[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:]).mean()

  @jax.jit
  def train_step(st, os_, x):
    loss, grads = jax.value_and_grad(loss_fn)(st, x)
    updates, os_ = opt.update(grads, os_, st)
    return optax.apply_updates(st, updates), os_, loss

  hook = evaluate.TinyEvalHook({"colors": tiny_bench}, {"colors": items}, tok, apply_fn=model, every=3,
                              batch_size=4)
  assert hook.items["colors"] == [items[i] for i in tiny_bench.anchors]
  fired = []
  for step in range(7):
    state, opt_state, _ = train_step(state, opt_state, batch)
    metrics = hook(step, state)
    if step % 3:
      assert metrics == {}
      continue
    fired.append((step, metrics))
    correct = metrics["tinyjax/colors/correct"]
    assert correct.shape == (N_ANCHORS,) and set(np.unique(correct)) <= {0.0, 1.0}
    assert metrics["tinyjax/colors/raw_acc"] == pytest.approx(correct.mean())
    est = tiny_bench.estimate(correct[None, :])
    # The hook reports the recommended estimate (est.score) and its interval, the others by name.
    assert metrics["tinyjax/colors/estimate"] == float(est.score[0])
    assert (metrics["tinyjax/colors/estimate_lo"], metrics["tinyjax/colors/estimate_hi"]) == (
        float(est.lo[0]), float(est.hi[0]))
    for name in ("naive", "pirt", "gpirt"):
      assert metrics[f"tinyjax/colors/{name}"] == float(getattr(est, name)[0])
    # The hook's correctness equals scoring the anchor items directly with the same parameters.
    direct = scoring.score(model, state, tok, hook.items["colors"], batch_size=4)
    np.testing.assert_array_equal(correct, direct.acc)
  assert [s for s, _ in fired] == [0, 3, 6]
  # One compilation per bucket for the whole run, however often the hook fires.
  assert hook.compilations == len(hook.scorer.last_plan.shapes) == 1
  assert hook.calls == 3


def test_hook_bad_input(tiny_bench):
  items = make_items(N_ITEMS)
  model = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=8, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="does not have"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"b": items}, Chars(), apply_fn=model)
  with pytest.raises(ValueError, match="expected the 6 anchor items or all"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items[:10]}, Chars(), apply_fn=model)
  with pytest.raises(ValueError, match="every must be a positive int"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, every=0)
  with pytest.raises(ValueError, match="metric"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, metric="f1")
  anchors_only = [items[i] for i in tiny_bench.anchors]
  hook = evaluate.TinyEvalHook({"a": tiny_bench}, {"a": anchors_only}, Chars(), apply_fn=model, every=5)
  assert hook.items["a"] == anchors_only and hook(3, None) == {}


@pytest.mark.parametrize("metric", ["acc", "acc_norm", "acc_bytes"])
def test_hook_metric_rules_and_estimate_equal_the_scorer_and_tiny_benchmark(tiny_bench, metric):
  """The hook's correctness is Scorer.score's (same rule), and its estimate is tb.estimate(correct).score."""
  items = make_items(N_ITEMS)
  table = np.random.default_rng(4).normal(size=(97, 97)).astype(np.float32) * 3.0
  params = {"table": jnp.asarray(table)}

  def apply_fn(p, tokens):
    return p["table"][tokens]

  tok = Chars()
  hook = evaluate.TinyEvalHook({"colors": tiny_bench}, {"colors": items}, tok, apply_fn=apply_fn, metric=metric,
                              batch_size=4, prefix="tj")
  metrics = hook(0, params)
  direct = scoring.Scorer(apply_fn, tok, batch_size=4).score(hook.items["colors"], params)
  np.testing.assert_array_equal(metrics["tj/colors/correct"], getattr(direct, metric))
  est = tiny_bench.estimate(metrics["tj/colors/correct"][None, :])
  assert metrics["tj/colors/estimate"] == float(est.score[0])
  assert metrics["tj/colors/estimate_lo"] == float(est.lo[0])
  assert metrics["tj/colors/estimate_hi"] == float(est.hi[0])



def test_hook_items_matched_by_id(tiny_bench):
  items = make_items(N_ITEMS)
  model = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=8, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
  by_id = {f"item_{j}": items[j] for j in range(N_ITEMS)[::-1]}   # reversed, and every non-anchor extra
  hook = evaluate.TinyEvalHook({"a": tiny_bench}, {"a": by_id}, Chars(), apply_fn=model)
  assert hook.items["a"] == [items[int(a)] for a in tiny_bench.anchors]
  bad = tiny_bench.anchor_ids[1]
  by_id[bad + "x"] = by_id.pop(bad)
  with pytest.raises(tj.errors.ItemError, match=repr(bad)):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": by_id}, Chars(), apply_fn=model)


class CharsWithDecode(Chars):
  def decode(self, ids):
    return "".join("\n" if t == 96 else chr(t + 31) for t in ids)


def math_items(n):
  """Generate items whose targets alternate between 4 and 6 (GSM8K's '#### <number>' answer format)."""
  return [scoring.Generate(f"Question: what is {k} plus {k}?\nAnswer:", max_gen_toks=6,
                           target=f"So it is 4.\n#### {4 if k % 2 == 0 else 6}") for k in range(n)]


def test_hook_scores_generation_benchmarks_beside_multiple_choice(tiny_bench):
  """A bigram model answers every math item ' 4' then '\\n\\n' (the default stop): flexible-extract reads 4, so an
  item is correct exactly when its target is 4; the multiple-choice benchmark still equals Scorer.score."""
  tok = CharsWithDecode()
  table = np.random.default_rng(4).normal(size=(97, 97)).astype(np.float32)
  for a, b in [(":", " "), (" ", "4"), ("4", "\n"), ("\n", "\n")]:
    ia, ib = tok.encode(a)[0], tok.encode(b)[0]
    table[ia] = -5.0
    table[ia, ib] = 5.0
  params = {"table": jnp.asarray(table)}

  def apply_fn(p, tokens):
    return p["table"][tokens]

  colors, math = make_items(N_ITEMS), math_items(N_ITEMS)
  hook = evaluate.TinyEvalHook({"colors": tiny_bench, "math": tiny_bench}, {"colors": colors, "math": math}, tok,
                              apply_fn=apply_fn, metric={"colors": "acc", "math": "flexible-extract"},
                              batch_size=4, max_length=64, every=1)
  assert hook.rules["math"].name == "flexible-extract"
  metrics = hook(0, params)
  anchors = [int(a) for a in tiny_bench.anchors]
  expected = np.array([1.0 if a % 2 == 0 else 0.0 for a in anchors], np.float32)
  assert 0 < expected.sum() < len(anchors)
  np.testing.assert_array_equal(metrics["tinyjax/math/correct"], expected)
  gen = scoring.generate(apply_fn, params, tok, hook.items["math"], batch_size=4, max_length=64)
  assert set(gen.text) == {" 4"} and set(gen.stop) == {"until"}
  direct = scoring.Scorer(apply_fn, tok, batch_size=4, max_length=64).score(hook.items["colors"], params)
  np.testing.assert_array_equal(metrics["tinyjax/colors/correct"], direct.acc)
  est = tiny_bench.estimate(expected[None, :])
  assert metrics["tinyjax/math/estimate"] == float(est.score[0])
  assert metrics["tinyjax/new_tokens"] == sum(len(t) for t in gen.tokens)
  assert 0 < metrics["tinyjax/generation_seconds"] <= metrics["tinyjax/eval_seconds"]
  compiled = hook.compilations
  for step in (1, 2):
    again = hook(step, params)
    np.testing.assert_array_equal(again["tinyjax/math/correct"], expected)
  assert hook.compilations == compiled           # one compilation per shape for the hook's whole life
  # strict-match (the default for Generate items) finds no '#### ' in ' 4': every item is wrong
  strict = evaluate.TinyEvalHook({"math": tiny_bench}, {"math": math}, tok, apply_fn=apply_fn, batch_size=4,
                                max_length=64)
  assert strict.rules["math"].name == "strict-match"
  assert strict(0, params)["tinyjax/math/correct"].sum() == 0
  with pytest.raises(tj.errors.ConfigError, match="answer rule"):
    evaluate.TinyEvalHook({"math": tiny_bench}, {"math": math}, tok, apply_fn=apply_fn, metric="acc")
  with pytest.raises(tj.errors.ItemError, match="target"):
    evaluate.TinyEvalHook({"math": tiny_bench}, {"math": [scoring.Generate("Q:") for _ in range(N_ITEMS)]}, tok,
                         apply_fn=apply_fn, max_length=300)


# -- adaptive workflow: rounds of the most informative items, one compilation of the selection step -------------

def test_adaptive_hook_compiles_the_selection_once_and_equals_the_rounds_on_direct_scores(tiny_bench):
  from tinyjax.adaptive import AdaptiveRounds

  tok = Chars()
  items = make_items(N_ITEMS)
  by_id = {iid: items[j] for j, iid in enumerate(tiny_bench.item_ids)}
  model = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=8, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
  hook = evaluate.TinyEvalHook({"colors": tiny_bench}, {"colors": by_id}, tok, apply_fn=model, every=1,
                              batch_size=4, workflow="adaptive", n_rounds=3, n_per_round=2)
  assert hook.workflow == {"colors": "adaptive"} and hook.items["colors"] == items
  rounds = hook.adaptive["colors"]
  assert (rounds.n_rounds, rounds.n_per_round) == (3, 2)
  # Three calls with different parameters (as in training): the answers, hence the items, change.
  states = [nnx.split(GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=8, n_layer=1, n_head=2),
                           rngs=nnx.Rngs(seed)))[1] for seed in (0, 1, 2)]
  runs = []
  for step, state in enumerate(states):
    metrics = hook(step, state)
    run = hook.last_adaptive["colors"]
    runs.append(run.items)
    # The same rounds driven by scoring every item directly give the same items and estimate.
    direct = scoring.score(model, state, tok, items, batch_size=4).acc
    ref = AdaptiveRounds(tiny_bench.irt_model, n_rounds=3, n_per_round=2,
                         item_weights=tiny_bench.item_weights).run(lambda idx: direct[idx])
    np.testing.assert_array_equal(run.items, ref.items)
    asked = np.zeros((1, N_ITEMS), bool)
    asked[0, ref.items.ravel()] = True
    score, theta = tiny_bench.adaptive_score(np.where(asked, direct, 0.0), asked)   # as the validation measured
    assert metrics["tinyjax/colors/estimate"] == pytest.approx(float(score[0]), abs=1e-6)
    interval, _ = tiny_bench.adaptive_interval(score, theta)
    assert (metrics["tinyjax/colors/estimate_lo"], metrics["tinyjax/colors/estimate_hi"]) == pytest.approx(
        tuple(interval[0]), abs=1e-6)
    assert metrics["tinyjax/colors/n_asked"] == 6
    np.testing.assert_array_equal(metrics["tinyjax/colors/correct"], direct[run.items.ravel()])
    assert metrics["tinyjax/colors/raw_acc"] == pytest.approx(direct[run.items.ravel()].mean())
    assert 0 <= metrics["tinyjax/colors/estimate_lo"] <= metrics["tinyjax/colors/estimate"] <= \
        metrics["tinyjax/colors/estimate_hi"] <= 1
  assert not all(np.array_equal(runs[0], r) for r in runs[1:])
  # One compilation of the selection/update step for the whole run (4 steps per call, 3 calls), and one of the
  # scoring function: every round's batches have the row length planned once over all the items.
  assert rounds.compilations == 1 and hook.scorer.compilations == 1
  assert hook.compilations == 2


def test_adaptive_hook_workflow_choice_and_bad_input(tiny_bench):
  items = make_items(N_ITEMS)
  model = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=8, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
  rec = evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, workflow="recommended")
  assert rec.workflow == {"a": tiny_bench.recommendation["workflow"]}
  assert (set(rec.adaptive) == {"a"}) == (tiny_bench.recommendation["workflow"] == "adaptive")
  default = evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, workflow="adaptive")
  budget = tiny_bench.recommendation["budget"]
  r = default.adaptive["a"]
  assert r.n_rounds == min(4, budget) and r.n_rounds * r.n_per_round >= budget
  with pytest.raises(tj.errors.ConfigError, match="workflow"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, workflow="online")
  anchors_only = [items[i] for i in tiny_bench.anchors]
  with pytest.raises(tj.errors.ItemError, match="all the benchmark's 24 items"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": anchors_only}, Chars(), apply_fn=model, workflow="adaptive")
  by_id = {iid: items[j] for j, iid in enumerate(tiny_bench.item_ids) if j != 3}
  with pytest.raises(tj.errors.ItemError, match="lack 1 of the benchmark's 24 items"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": by_id}, Chars(), apply_fn=model, workflow="adaptive")
  with pytest.raises(tj.errors.ConfigError, match="multiple-choice"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": math_items(N_ITEMS)}, Chars(), apply_fn=model,
                         workflow="adaptive")
  with pytest.raises(tj.errors.ConfigError, match="n_rounds"):
    evaluate.TinyEvalHook({"a": tiny_bench}, {"a": items}, Chars(), apply_fn=model, workflow="adaptive",
                         n_rounds=5, n_per_round=5)


# -- one protocol, one constructor: a bare TinyBenchmark, a Leaderboard, a group of targets --------------------------

def _table_model():
  params = {"table": jnp.asarray(np.random.default_rng(4).normal(size=(97, 97)).astype(np.float32) * 3.0)}
  return params, (lambda p, tokens: p["table"][tokens])


def test_targets_implement_the_protocol(tiny_bench):
  assert isinstance(tiny_bench, evaluate.EvalTarget) and isinstance(tiny_bench, evaluate.AdaptiveTarget)
  assert tiny_bench.evaluation_anchors() == {"benchmark": tiny_bench.anchor_ids}
  y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
  ev = tiny_bench.evaluate_answers({"benchmark": y})
  est = tiny_bench.estimate(y[None, :])
  assert ev.scores["benchmark"] == (float(est.score[0]), float(est.lo[0]), float(est.hi[0]))
  assert ev.average is None and ev.others["benchmark"]["naive"] == pytest.approx(float(y.mean()))
  with pytest.raises(tj.errors.ConfigError, match="'benchmark'"):
    tiny_bench.evaluate_answers({"mmlu": y})


def test_bare_tiny_benchmark_and_group_take_the_same_constructor(tiny_bench):
  """TinyEvalHook(tb, items) names the one benchmark "benchmark"; {"colors": tb} names it "colors": same numbers."""
  items = make_items(N_ITEMS)
  params, apply_fn = _table_model()
  bare = evaluate.TinyEvalHook(tiny_bench, items, Chars(), apply_fn=apply_fn, batch_size=4)   # all items, by index
  group = evaluate.TinyEvalHook({"colors": tiny_bench}, {"colors": items}, Chars(), apply_fn=apply_fn, batch_size=4)
  assert bare.items["benchmark"] == group.items["colors"] == [items[i] for i in tiny_bench.anchors]
  a, b = bare(0, params), group(0, params)
  for key in ("estimate", "estimate_lo", "estimate_hi", "naive", "raw_acc", "answered"):
    assert a[f"tinyjax/benchmark/{key}"] == b[f"tinyjax/colors/{key}"]
  assert "tinyjax/average" not in a and b["tinyjax/colors/answered"] == N_ANCHORS
  with pytest.raises(tj.errors.ConfigError, match="nothing to score"):
    evaluate.TinyEvalHook({"colors": tiny_bench, "more": tiny_bench}, {"colors": items}, Chars(), apply_fn=apply_fn)
  with pytest.raises(tj.errors.ConfigError, match="skip must list"):
    evaluate.TinyEvalHook(tiny_bench, items, Chars(), apply_fn=apply_fn, skip="benchmark")


def test_leaderboard_target_estimates_a_skipped_benchmark_from_the_others():
  """A Leaderboard through the same hook: its estimate for the answers scored, the skipped benchmark's anchors NaN."""
  rng = np.random.default_rng(2)
  theta, b = rng.normal(size=30), rng.normal(size=N_ITEMS)
  Y = (rng.random((30, N_ITEMS)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
  names = ["colors"] * 12 + ["more"] * 12
  board = tj.Leaderboard.fit(Y, names, n_anchors=3, strategy="random", seed=0, kind="1pl", dim=1, n_folds=2,
                             n_restarts=1, progress=False)
  assert isinstance(board, evaluate.EvalTarget) and not isinstance(board, evaluate.AdaptiveTarget)
  anchors = board.evaluation_anchors()
  items = make_items(N_ITEMS)
  by_id = {f"item_{j}": items[j] for j in range(N_ITEMS)}
  params, apply_fn = _table_model()
  hook = evaluate.TinyEvalHook(board, {"colors": by_id}, Chars(), apply_fn=apply_fn, batch_size=4, metric="acc_norm")
  assert hook.skipped == ("more",) and hook.items["colors"] == [by_id[i] for i in anchors["colors"]]
  metrics = hook(0, params)
  correct = metrics["tinyjax/colors/correct"]
  direct = scoring.Scorer(apply_fn, Chars(), batch_size=4).score(hook.items["colors"], params).acc_norm
  np.testing.assert_array_equal(correct, direct)
  row = {i: np.nan for i in anchors["more"]} | dict(zip(anchors["colors"], correct.tolist()))
  est = board.estimate(row)
  for name in ("colors", "more"):
    assert metrics[f"tinyjax/{name}/estimate"] == pytest.approx(float(est.score[name][0]))
    assert metrics[f"tinyjax/{name}/estimate_lo"] == pytest.approx(float(est.lo[name][0]))
    assert metrics[f"tinyjax/{name}/naive"] == pytest.approx(float(est.naive[name][0]))
  assert metrics["tinyjax/more/answered"] == 0 and "tinyjax/more/correct" not in metrics
  with pytest.raises(tj.errors.ConfigError, match="workflow 'adaptive' needs a TinyBenchmark"):
    evaluate.TinyEvalHook(board, {"colors": by_id}, Chars(), apply_fn=apply_fn, workflow="adaptive")
