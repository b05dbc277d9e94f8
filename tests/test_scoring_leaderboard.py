"""Open LLM Leaderboard v1 items (evaluate.leaderboard_items), partial scoring, and TinyEvalHook on a Suite.

The core check: for every document of the real pythia-14m lm-eval ``--log_samples`` files, the items give exactly
the (context, continuation) pairs lm-eval scored, and lm-eval's logged log-likelihoods give the logged metrics
through the scorer's own correctness rule.
"""

from __future__ import annotations

import collections
import json
import logging

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from flax import nnx

import tinyjax as tj
from tinyjax import evaluate, scoring
from tinyjax.errors import ConfigError, ItemError, MissingFileError
from tinyjax.scoring.models import GPT2, GPT2Config
from tinyjax.scoring.scorer import choice_accuracies

SCORED = ("arc", "hellaswag", "mmlu", "winogrande", "truthfulqa")


class Chars:
  """The hook tests' character tokenizer (ASCII 32..126 and newline; vocabulary 97)."""

  bos_token_id = 0

  def encode(self, text):
    return [96 if c == "\n" else ord(c) - 31 for c in text]


class Bytes:
  """A UTF-8 byte tokenizer for the real items (vocabulary 256)."""

  bos_token_id = 0

  def encode(self, text):
    return list(text.encode("utf-8"))


def table_apply(p, tokens):
  return p["table"][tokens]


def table_params(vocab, seed=4):
  return {"table": jnp.asarray(np.random.default_rng(seed).normal(size=(vocab, vocab)).astype(np.float32) * 3.0)}


# -- partial scoring (WinoGrande) ---------------------------------------------------------------------------


def test_partial_scoring_requests_lengths_and_scores():
  it = scoring.MultipleChoice("The trophy did not fit in the suitcase because the ", ["trophy", "suitcase"],
                              gold=0, continuation="was too big.")
  assert it.requests() == [("The trophy did not fit in the suitcase because the trophy", " was too big."),
                           ("The trophy did not fit in the suitcase because the suitcase", " was too big.")]
  # acc_norm divides by len(doc_to_choice), which is each choice's whole context for lm-eval's multiple_input.
  assert it.norm_texts() == [c for c, _ in it.requests()]
  plain = scoring.MultipleChoice("Q", ["a", "bb"])
  assert plain.norm_texts() == ["a", "bb"] and plain.continuation is None
  with pytest.raises(ItemError, match="mutual_info"):
    it.unconditional_requests()
  with pytest.raises(ItemError, match="continuation must be a str"):
    scoring.MultipleChoice("x _", ["a", "b"], continuation=3)
  with pytest.raises(ItemError, match="nothing"):
    scoring.MultipleChoice("x", ["a", "b"], continuation="", target_delimiter="")

  params, tok = table_params(97), Chars()
  scorer = scoring.Scorer(table_apply, tok, batch_size=4)
  res = scorer.score([it, plain], params)
  ll, _ = scorer.loglikelihood(it.requests() + plain.requests(), params)
  np.testing.assert_allclose(res.loglik[0], ll[:2], rtol=1e-6)
  np.testing.assert_allclose(res.loglik[1], ll[2:], rtol=1e-6)
  lengths = np.array([len(t) for t in it.norm_texts()])
  assert res.acc_norm[0] == float(np.argmax(ll[:2] / lengths) == 0)


# -- the real items against the real harness log ---------------------------------------------------------------


def _log_records(shared_data, benchmark):
  files = sorted((shared_data / "lm_eval" / "pythia-14m").glob(f"samples_metabench_{benchmark}_secondary_*.jsonl"))
  assert len(files) == 1, files
  return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def _doc_id(benchmark, doc):
  """The item id of a logged document, from its own identity fields (never from doc_id)."""
  return f"mmlu.{doc['mb_sub_idx']}" if benchmark == "mmlu" else f"{benchmark}.{doc['metabench_idx']}"


def _arguments(record):
  args = record["arguments"]
  return [(args[f"gen_args_{i}"]["arg_0"], args[f"gen_args_{i}"]["arg_1"]) for i in range(len(args))]


@pytest.mark.realdata
@pytest.mark.parametrize("bench", SCORED)
def test_lm_eval_variant_gives_the_harness_requests_for_every_document(shared_data, bench):
  """variant='lm_eval' reproduces lm-eval's metabench_<b>_secondary requests exactly, and its logged metrics."""
  items = evaluate.leaderboard_items(shared_data / "items" / "openllm_v1", bench, variant="lm_eval")
  records = _log_records(shared_data, bench)
  assert len(records) == len(items)
  seen, exact, metrics_equal = set(), 0, 0
  for rec in records:
    key = _doc_id(bench, rec["doc"])
    assert key not in seen
    seen.add(key)
    item = items[key]
    assert item.requests() == _arguments(rec), key
    exact += 1
    # lm-eval's own log-likelihoods through the scorer's correctness rule give lm-eval's logged metrics.
    loglik = np.array([[float(r[0]) for r in rec["filtered_resps"]]])
    acc = choice_accuracies([item], loglik)
    logged = {m: float(rec[m]) for m in ("acc", "acc_norm") if m in rec}
    assert logged and all(acc[m][0] == v for m, v in logged.items()), (key, logged)
    metrics_equal += 1
  assert exact == metrics_equal == len(items) == len(seen)


# Documents whose requests equal the log's exactly with the default variant (the leaderboard's recorded prompts).
# HellaSwag and WinoGrande differ only in few-shot examples (lm-eval's metabench task rebuilds them from the shot
# columns, whose text differs from what the leaderboard showed); TruthfulQA's default items are MC1, as the
# harness task's (its preamble is fixed), so all 136 match.
LEADERBOARD_EXACT = {"arc": 100, "hellaswag": 28, "mmlu": 102, "winogrande": 102, "truthfulqa": 136}


@pytest.mark.realdata
@pytest.mark.parametrize("bench", SCORED)
def test_leaderboard_variant_differs_from_the_harness_only_in_few_shot_text(shared_data, bench):
  items = evaluate.leaderboard_items(shared_data / "items" / "openllm_v1", bench)
  exact = 0
  for rec in _log_records(shared_data, bench):
    item, args = items[_doc_id(bench, rec["doc"])], _arguments(rec)
    mine = item.requests()
    exact += mine == args
    query = lambda ctx: ctx.rsplit("\n\n", 1)[-1]  # noqa: E731  (the last block: the item's own question)
    assert [(query(c), x) for c, x in mine] == [(query(c), x) for c, x in args]
  assert exact == LEADERBOARD_EXACT[bench]


@pytest.mark.realdata
@pytest.mark.parametrize("variant", ["lm_eval", "leaderboard"])
def test_gsm8k_items_are_the_harness_generation_requests_for_every_document(shared_data, variant):
  """GSM8K: each item is the Generate request of lm-eval's metabench_gsm8k_secondary (context arg_0, stop strings
  arg_1['until']), with lm-eval's default budget and the document's answer as target. The log repeats each
  document once per filter (strict-match, flexible-extract): the same request both times. The leaderboard's
  recorded prompt equals the one rebuilt from the shot columns on every row, and the stop strings are the
  metabench task's in both variants (the leaderboard harness' own are not confirmed)."""
  items = evaluate.leaderboard_items(shared_data / "items" / "openllm_v1", "gsm8k", variant=variant)
  records = _log_records(shared_data, "gsm8k")
  assert len(records) == 2 * len(items) == 498
  seen = collections.Counter()
  for rec in records:
    key = _doc_id("gsm8k", rec["doc"])
    item = items[key]
    [(context, gen_kwargs)] = _arguments(rec)
    assert isinstance(item, scoring.Generate)
    assert item.context == context, key
    assert item.until == tuple(gen_kwargs["until"]) == ("Question:", "</s>", "<|im_end|>")
    assert item.max_gen_toks == scoring.DEFAULT_MAX_GEN_TOKS == 256
    assert item.target == rec["target"] == rec["doc"]["answer"]
    assert item.context.endswith(f"Question: {rec['doc']['question']}\nAnswer:")
    seen[key] += 1
  assert set(seen) == set(items) and set(seen.values()) == {2}


def test_generation_rules():
  """GSM8K's suite matrix holds the leaderboard's '#### <number>' exact match: the strict-match rule."""
  from tinyjax.scoring.filters import ANSWER_RULES
  from tinyjax.evaluate.leaderboard import GENERATION_RULES

  assert GENERATION_RULES == {"gsm8k": "strict-match"}
  assert set(GENERATION_RULES) == set(evaluate.GENERATION_BENCHMARKS) == {"gsm8k"}
  assert set(GENERATION_RULES.values()) <= set(ANSWER_RULES)
  assert "gsm8k" not in evaluate.SCORER_METRIC and evaluate.LEADERBOARD_METRICS["gsm8k"] == "exact_match"


@pytest.mark.realdata
def test_truthfulqa_items_are_mc1_and_their_acc_is_the_logged_one(shared_data):
  """The default TruthfulQA items are MC1 (mc1_targets, gold 0), what the truthfulqa matrix holds: lm-eval's
  logged log-likelihoods through the scorer's acc give the logged acc (MC1) for every pythia document."""
  folder = shared_data / "items" / "openllm_v1"
  items = evaluate.leaderboard_items(folder, "truthfulqa")
  assert items == evaluate.leaderboard_items(folder, "truthfulqa", variant="lm_eval")
  table = pd.read_parquet(folder / "truthfulqa.parquet")
  for row in table.to_dict("records"):
    item = items[f"truthfulqa.{row['metabench_idx']}"]
    assert item.choices == tuple(row["mc1_targets"]["choices"]) and item.gold == 0 and item.labels is None
    assert item.context.startswith("Q: What is human life expectancy") and item.context.endswith("\nA:")
  assert evaluate.SCORER_METRIC["truthfulqa"] == "acc"
  for rec in _log_records(shared_data, "truthfulqa"):
    item = items[_doc_id("truthfulqa", rec["doc"])]
    loglik = np.array([float(r[0]) for r in rec["filtered_resps"]])
    by_hand = float(int(np.argmax(loglik)) == 0)
    assert by_hand == float(rec["acc"])
    assert choice_accuracies([item], loglik[None, :])["acc"][0] == by_hand


@pytest.mark.realdata
def test_truthfulqa_mc2_items_put_the_true_answers_first(shared_data):
  """truthfulqa_targets='mc2' (explicit): lm-eval's mc2 splits the answers at the first label 0; ScoreResult.mc2
  uses the labels, the same here. The contexts are the MC1 items' own."""
  folder = shared_data / "items" / "openllm_v1"
  items = evaluate.leaderboard_items(folder, "truthfulqa", truthfulqa_targets="mc2")
  mc1 = evaluate.leaderboard_items(folder, "truthfulqa")
  assert list(items) == list(mc1)
  for key, item in items.items():
    labels = list(item.labels)
    k = labels.index(0)
    assert labels == [1] * k + [0] * (len(labels) - k) and item.gold == 0
    assert item.context == mc1[key].context
    assert set(mc1[key].choices) <= set(item.choices) and mc1[key].choices[0] in item.choices[:k]


@pytest.mark.realdata
@pytest.mark.parametrize("bench", ["arc", "mmlu", "winogrande", "truthfulqa", "gsm8k"])
def test_item_ids_are_the_response_matrix_columns(shared_data, bench):
  items = evaluate.leaderboard_items(shared_data / "items" / "openllm_v1" / f"{bench}.parquet", bench)
  columns = pd.read_parquet(shared_data / "irt" / "openllm_v1" / f"{bench}.responses.parquet").columns
  assert set(items) == set(map(str, columns)) and len(items) == len(columns)


@pytest.mark.realdata
def test_leaderboard_items_inputs_and_errors(shared_data, tmp_path):
  folder = shared_data / "items" / "openllm_v1"
  table = pd.read_parquet(folder / "mmlu.parquet")
  assert evaluate.leaderboard_items(table, "mmlu") == evaluate.leaderboard_items(folder, "mmlu")
  first = next(iter(evaluate.leaderboard_items(folder, "mmlu").values()))
  assert first.choices == ("A", "B", "C", "D") and first.target_delimiter == " "
  wino = next(iter(evaluate.leaderboard_items(folder, "winogrande").values()))
  assert wino.continuation is not None and len(wino.choices) == 2
  gsm = pd.read_parquet(folder / "gsm8k.parquet").iloc[:3]
  items = evaluate.leaderboard_items(gsm, "gsm8k")
  assert list(items) == [f"gsm8k.{i}" for i in gsm["metabench_idx"]]
  assert all(isinstance(it, scoring.Generate) and it.target.split("#### ")[-1] for it in items.values())
  assert evaluate.leaderboard_items(gsm.drop(columns=["gsm8k_answer_shot_5"]), "gsm8k") == items   # not read
  with pytest.raises(ItemError, match="allfiveshot_longprompt"):
    evaluate.leaderboard_items(gsm.drop(columns=["allfiveshot_longprompt"]), "gsm8k")
  with pytest.raises(ItemError, match="gsm8k_answer_shot_5"):
    evaluate.leaderboard_items(gsm.drop(columns=["gsm8k_answer_shot_5"]), "gsm8k", variant="lm_eval")
  with pytest.raises(ItemError, match="'answer'"):
    evaluate.leaderboard_items(gsm.drop(columns=["answer"]), "gsm8k")
  with pytest.raises(ItemError, match=r"gsm8k\.\d+.*ending '#### <number>'"):
    evaluate.leaderboard_items(gsm.assign(answer="no final answer"), "gsm8k")
  with pytest.raises(ConfigError, match="unknown benchmark 'bbh'"):
    evaluate.leaderboard_items(folder, "bbh")
  with pytest.raises(ConfigError, match="variant"):
    evaluate.leaderboard_items(folder, "arc", variant="v2")
  with pytest.raises(ConfigError, match="truthfulqa_targets must be one of"):
    evaluate.leaderboard_items(folder, "truthfulqa", truthfulqa_targets="mc3")
  tqa = pd.read_parquet(folder / "truthfulqa.parquet").iloc[:2]
  swapped = tqa.copy()
  swapped["mc1_targets"] = [{"choices": r["choices"], "labels": np.roll(r["labels"], 1)} for r in tqa["mc1_targets"]]
  with pytest.raises(ItemError, match="exactly one true answer, the first"):
    evaluate.leaderboard_items(swapped, "truthfulqa")
  with pytest.raises(MissingFileError, match="arc.parquet"):
    evaluate.leaderboard_items(tmp_path, "arc")
  with pytest.raises(ItemError, match="allfiveshot_longprompt"):
    evaluate.leaderboard_items(table.drop(columns=["allfiveshot_longprompt"]), "mmlu")
  with pytest.raises(ItemError, match="appears twice"):
    evaluate.leaderboard_items(pd.concat([table.iloc[:2], table.iloc[:1]]), "mmlu")


def test_one_table_of_leaderboard_metrics():
  """scoring's table is the suite's own (one definition); the scorer reads MC1 as acc over the MC1 items."""
  from tinyjax.data import openllm
  from tinyjax.suite import _logs

  assert evaluate.LEADERBOARD_METRICS is _logs.LEADERBOARD_METRICS is openllm.LEADERBOARD_METRICS
  assert openllm.LEADERBOARD_METRICS["truthfulqa"] == "mc1" and openllm.LOG_KEYS == {"mc1": "acc"}
  assert evaluate.SCORER_METRIC == {"arc": "acc_norm", "hellaswag": "acc_norm", "mmlu": "acc", "winogrande": "acc",
                                   "truthfulqa": "acc"}
  assert set(evaluate.SCORER_METRIC.values()) <= set(scoring.ACCURACY_METRICS)
  assert not hasattr(scoring, "LEADERBOARD_METRICS") and not hasattr(scoring, "SCORER_METRIC")   # not the runtime's


# -- TinyEvalHook on a Suite -----------------------------------------------------------------------------------


FACTS = [("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"), ("sun", "yellow"),
         ("blood", "red")]
COLORS = sorted({c for _, c in FACTS})


def synthetic_items(kind: str, n: int) -> dict[str, scoring.MultipleChoice]:
  """n ASCII items per kind: 'arc' (choices), 'mmlu' (letters), 'truthfulqa' (MC1: the true answer first, no
  labels; 'truthfulqa_mc2' the same with labels and two true answers), 'winogrande' (partial)."""
  rng = np.random.default_rng(len(kind))
  out = {}
  for k in range(n):
    thing, color = FACTS[k % len(FACTS)]
    others = [c for c in COLORS if c != color]
    if kind == "winogrande":
      a, b = rng.choice(others, 2, replace=False)
      item = scoring.MultipleChoice(f"The {thing} is {color}, not {a}. So the ", [color, str(b)], gold=0,
                                    continuation=f"is the colour of the {thing}.")
    elif kind == "truthfulqa":
      wrong = list(rng.choice(others, 3, replace=False))
      item = scoring.MultipleChoice(f"Q: What colour is the {thing}?\nA:", [color] + wrong, gold=0)
    elif kind == "truthfulqa_mc2":
      wrong = list(rng.choice(others, 2, replace=False))
      item = scoring.MultipleChoice(f"Q: What colour is the {thing}?\nA:", [color, f"light {color}"] + wrong,
                                    gold=0, labels=[1, 1, 0, 0])
    elif kind == "mmlu":
      options = [color] + list(rng.choice(others, 3, replace=False))
      item = scoring.MultipleChoice(f"The {thing} is\nA. {options[0]}\nB. {options[1]}\nAnswer:",
                                    ["A", "B", "C", "D"], gold=0)
    else:
      wrong = list(rng.choice(others, 1 + k % 3, replace=False))
      item = scoring.MultipleChoice(f"Question: The {thing} is\nAnswer:", [color] + wrong, gold=0)
    out[f"{kind}.{100 + k}"] = item
  return out


BENCHES = ["arc", "gsm8k", "truthfulqa", "mmlu"]   # the order of suite.benchmarks
N_MODELS, N_ITEMS, N_ANCHORS = 60, 20, 4


@pytest.fixture(scope="module")
def small_suite():
  """A real tj.Suite fitted on a synthetic leaderboard (60 models x 20 items x 4 benchmarks), and the items."""
  rng = np.random.default_rng(0)
  theta = rng.normal(size=N_MODELS)
  models = [f"model{i}" for i in range(N_MODELS)]
  responses, full = {}, {}
  for b in BENCHES:
    difficulty = rng.normal(size=N_ITEMS)
    y = (rng.random((N_MODELS, N_ITEMS)) < 1 / (1 + np.exp(-(theta[:, None] - difficulty)))).astype(float)
    responses[b] = pd.DataFrame(y, index=models, columns=[f"{b}.{100 + k}" for k in range(N_ITEMS)])
    full[b] = pd.Series(100 / (1 + np.exp(-theta)) + rng.normal(size=N_MODELS), index=models)
  suite = tj.Suite.fit(responses, full, n_anchors=N_ANCHORS, seed=0, progress=False)
  items = {b: synthetic_items(b, N_ITEMS) for b in BENCHES if b != "gsm8k"}
  return suite, items


@pytest.mark.slow
def test_suite_hook_metrics_estimates_and_skipped_generation(small_suite, caplog):
  suite, items = small_suite
  params, tok = table_params(97), Chars()
  with caplog.at_level(logging.WARNING, logger="tinyjax.evaluate"):
    hook = evaluate.TinyEvalHook(suite, items, tok, apply_fn=table_apply, every=2, batch_size=4)
  skips = [r for r in caplog.records if "skipping" in r.getMessage()]
  assert len(skips) == 1 and "gsm8k (no items given)" in skips[0].getMessage()
  assert hook.skipped == ("gsm8k",) and list(hook.items) == ["arc", "truthfulqa", "mmlu"]
  assert hook.metric == {"arc": "acc_norm", "truthfulqa": "acc", "mmlu": "acc"}
  for b in hook.items:                     # the anchors, in the suite's order, matched by id
    assert hook.items[b] == [items[b][i] for i in suite.anchors[b]]

  caplog.clear()
  assert hook(1, params) == {}
  metrics = hook(2, params)
  assert not [r for r in caplog.records if "skipping" in r.getMessage()]    # logged once, at construction
  direct = scoring.Scorer(table_apply, tok, batch_size=4)
  # TruthfulQA: MC1 by hand, from the scorer's log-likelihoods: 1 iff the true answer (choice 0) has the top one.
  loglik = direct.score(hook.items["truthfulqa"], params).loglik
  mc1 = np.array([float(int(np.argmax(loglik[i, :len(it.choices)])) == 0)
                  for i, it in enumerate(hook.items["truthfulqa"])], np.float32)
  assert 0 < mc1.sum() < mc1.size      # both outcomes occur, so a wrong rule would show
  expected = {"arc": direct.score(hook.items["arc"], params).acc_norm,
              "truthfulqa": mc1,
              "mmlu": direct.score(hook.items["mmlu"], params).acc}
  for b, correct in expected.items():
    np.testing.assert_array_equal(metrics[f"tinyjax/{b}/correct"], correct)
    assert metrics[f"tinyjax/{b}/raw_acc"] == pytest.approx(correct.mean())
    assert metrics[f"tinyjax/{b}/answered"] == N_ANCHORS
  assert "tinyjax/truthfulqa/mc2" not in metrics
  # The estimates are the suite's own for those answers, GSM8K absent (estimated from the others).
  est = suite.estimate({b: dict(zip(suite.anchors[b], expected[b].tolist())) for b in expected})
  assert est.answered.loc[:, "gsm8k"].tolist() == [0]
  for b in BENCHES:
    assert metrics[f"tinyjax/{b}/estimate"] == pytest.approx(est.scores[b].iloc[0])
    assert metrics[f"tinyjax/{b}/estimate_lo"] == pytest.approx(est.lower[b].iloc[0])
    assert metrics[f"tinyjax/{b}/estimate_hi"] == pytest.approx(est.upper[b].iloc[0])
  assert metrics["tinyjax/gsm8k/answered"] == 0 and "tinyjax/gsm8k/correct" not in metrics
  assert (metrics["tinyjax/average"], metrics["tinyjax/average_lo"], metrics["tinyjax/average_hi"]) == pytest.approx(
      (est.scores["average"].iloc[0], est.lower["average"].iloc[0], est.upper["average"].iloc[0]))
  assert metrics["tinyjax/average_lo"] <= metrics["tinyjax/average"] <= metrics["tinyjax/average_hi"]
  assert metrics["tinyjax/average_covers"] == "arc,truthfulqa,mmlu"
  assert {"tinyjax/eval_seconds", "tinyjax/padding_fraction"} <= set(metrics)
  hook(4, params)
  assert hook.calls == 2 and hook.compilations == len(hook.scorer.last_plan.shapes)


@pytest.mark.slow
def test_suite_hook_metric_override_missing_items_and_errors(small_suite, caplog):
  suite, items = small_suite
  tok = Chars()
  with caplog.at_level(logging.WARNING, logger="tinyjax.evaluate"):
    hook = evaluate.TinyEvalHook(suite, {"arc": items["arc"]}, tok, apply_fn=table_apply,
                                           metric={"arc": "acc"}, prefix="tj")
  assert hook.skipped == ("gsm8k", "truthfulqa", "mmlu") and hook.metric == {"arc": "acc"}
  assert "no items given" in caplog.text
  metrics = hook(0, table_params(97))
  assert metrics["tj/average_covers"] == "arc" and metrics["tj/mmlu/answered"] == 0
  assert {f"tj/{b}/estimate" for b in BENCHES} <= set(metrics)

  with pytest.raises(ConfigError, match="does not have: \\['bbh'\\]"):
    evaluate.TinyEvalHook(suite, {**items, "bbh": {}}, tok, apply_fn=table_apply)
  with pytest.raises(ConfigError, match="metric names benchmarks"):
    evaluate.TinyEvalHook(suite, items, tok, apply_fn=table_apply, metric={"hellaswag": "acc"})
  with pytest.raises(ConfigError, match="metric for 'arc'"):
    evaluate.TinyEvalHook(suite, items, tok, apply_fn=table_apply, metric={"arc": "f1"})
  with pytest.raises(ItemError, match=r"metric 'mc2' for 'truthfulqa' needs items with labels"):   # MC1 items
    evaluate.TinyEvalHook(suite, items, tok, apply_fn=table_apply, metric={"truthfulqa": "mc2"})
  mc2_items = {k.replace("truthfulqa_mc2", "truthfulqa"): v for k, v in synthetic_items("truthfulqa_mc2",
                                                                                         N_ITEMS).items()}
  with pytest.raises(ItemError, match=r"several true answers \(mc2 items\).*holds MC1"):
    evaluate.TinyEvalHook(suite, {**items, "truthfulqa": mc2_items}, tok, apply_fn=table_apply)
  bad = dict(items["mmlu"])
  gone = suite.anchors["mmlu"][0]
  bad[gone + "x"] = bad.pop(gone)
  with pytest.raises(ItemError, match=repr(gone)):
    evaluate.TinyEvalHook(suite, {**items, "mmlu": bad}, tok, apply_fn=table_apply)
  with pytest.raises(ConfigError, match="no benchmark of the target can be scored"):
    evaluate.TinyEvalHook(suite, {}, tok, apply_fn=table_apply)
  with pytest.raises(ConfigError, match="items must be"):
    evaluate.TinyEvalHook(suite, [1, 2], tok, apply_fn=table_apply)
  with pytest.raises(ConfigError, match="apply_fn is required"):
    evaluate.TinyEvalHook(suite, items, tok)
  with pytest.raises(ConfigError, match="every must be"):
    evaluate.TinyEvalHook(suite, items, tok, apply_fn=table_apply, every=0)


def test_any_target_takes_mc2_when_asked():
  """metric="mc2" (explicit) feeds mc2 > MC2_THRESHOLD to any EvalTarget, here a stand-in that is nothing but the
  protocol (the mean of the answers, +-0.1); the argmax rules refuse items with several true answers."""
  by_id = synthetic_items("truthfulqa_mc2", 8)
  tq = list(by_id.values())

  class StandIn:   # the whole evaluation protocol
    def evaluation_anchors(self):
      return {"tq": [f"truthfulqa_mc2.{100 + k}" for k in (6, 1, 3, 0)]}

    def evaluate_answers(self, answers):
      mean = float(np.mean(answers["tq"]))
      return evaluate.Evaluation({"tq": evaluate.Interval(mean, mean - 0.1, mean + 0.1)})

  target = StandIn()
  assert isinstance(target, evaluate.EvalTarget)
  params, tok = table_params(97), Chars()
  hook = evaluate.TinyEvalHook(target, by_id, tok, apply_fn=table_apply, metric="mc2", batch_size=4)
  assert hook.items["tq"] == [tq[k] for k in (6, 1, 3, 0)]
  metrics = hook(0, params)
  mc2 = scoring.Scorer(table_apply, tok, batch_size=4).score(hook.items["tq"], params).mc2
  correct = (mc2 > 0.5).astype(np.float32)
  assert 0 < correct.sum() < correct.size
  np.testing.assert_array_equal(metrics["tinyjax/tq/correct"], correct)
  assert metrics["tinyjax/tq/mc2"] == pytest.approx(mc2.mean())
  assert (metrics["tinyjax/tq/estimate"], metrics["tinyjax/tq/estimate_hi"]) == pytest.approx(
      (correct.mean(), correct.mean() + 0.1))
  no_labels = {k: scoring.MultipleChoice(it.context, it.choices) for k, it in by_id.items()}
  with pytest.raises(ItemError, match="needs items with labels"):
    evaluate.TinyEvalHook(target, {"tq": no_labels}, tok, apply_fn=table_apply, metric="mc2")
  with pytest.raises(ItemError, match=r"several true answers \(mc2 items\), and 'acc' reads one"):
    evaluate.TinyEvalHook(target, by_id, tok, apply_fn=table_apply)
  with pytest.raises(ConfigError, match="must be a TinyBenchmark, a Leaderboard, a Suite"):
    evaluate.TinyEvalHook(object(), by_id, tok, apply_fn=table_apply)


@pytest.mark.realdata
@pytest.mark.slow
def test_suite_hook_reads_the_item_folder_and_scores_the_real_anchors(shared_data):
  """A real Suite on a slice of the real leaderboard, items from the item folder, a tiny NNX GPT-2, GSM8K skipped."""
  folder = shared_data / "irt" / "openllm_v1"
  names = ["arc", "gsm8k", "truthfulqa", "mmlu", "winogrande"]
  matrices = {b: pd.read_parquet(folder / f"{b}.responses.parquet") for b in names}
  models = sorted(set.intersection(*(set(y.index) for y in matrices.values())))[:60]   # 60 models with all five
  responses = {b: y.loc[models].iloc[:, :12] for b, y in matrices.items()}
  full = {b: pd.read_csv(folder / f"{b}.full_scores.csv").set_index("model")["full_benchmark_score_pct"]
          for b in names}
  suite = tj.Suite.fit(responses, full, n_anchors=3, seed=0, progress=False)
  model = GPT2(GPT2Config(vocab_size=256, n_positions=256, n_embd=16, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
  hook = evaluate.TinyEvalHook(suite, shared_data / "items" / "openllm_v1", Bytes(), apply_fn=model,
                                         every=1, batch_size=4)
  assert hook.skipped == ("gsm8k",)
  assert hook.items["winogrande"][0].continuation is not None
  assert hook.metric["truthfulqa"] == "acc"
  assert all(it.labels is None and it.gold == 0 for it in hook.items["truthfulqa"])   # MC1 items
  metrics = hook(0)
  loglik = scoring.Scorer(model, Bytes(), batch_size=4).score(hook.items["truthfulqa"]).loglik
  mc1 = [float(int(np.argmax(loglik[i, :len(it.choices)])) == 0) for i, it in enumerate(hook.items["truthfulqa"])]
  np.testing.assert_array_equal(metrics["tinyjax/truthfulqa/correct"], mc1)
  metrics2 = hook(1)
  assert metrics["tinyjax/average_covers"] == "arc,truthfulqa,mmlu,winogrande"
  assert [metrics[f"tinyjax/{b}/answered"] for b in suite.benchmarks] == [3, 0, 3, 3, 3]
  for b in suite.benchmarks + ["average"]:
    key = f"tinyjax/{b}" if b == "average" else f"tinyjax/{b}/estimate"
    lo, hi = (f"{key}_lo", f"{key}_hi")
    assert metrics[lo] <= metrics[key] <= metrics[hi] and metrics[key] == metrics2[key]
  assert hook.compilations == len(hook.scorer.last_plan.shapes)
