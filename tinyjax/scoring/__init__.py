"""LLM scoring in Flax NNX with lm-evaluation-harness semantics: the LLM runtime, with no statistics in it.

    from tinyjax import scoring
    items = [scoring.MultipleChoice(context="Question: 2+2=?\\nAnswer:", choices=["4", "5"], gold=0)]
    res = scoring.score(apply_fn, params, tokenizer, items, mesh=None, batch_size=8)
    res.loglik, res.acc, res.acc_norm
    gen = scoring.generate(apply_fn, params, tokenizer, [scoring.Generate("Question: ...\\nAnswer:", until=["\\n\\n"])])
    gen.text, gen.tokens

Modules: ``scorer`` (Scorer, score), ``generate`` (Generator, generate: lm-eval's generate_until with a KV
cache), ``requests`` (lm-eval request rules, MultipleChoice and Generate items), ``batching`` (buckets, packing),
``tokenizers``, ``items`` (load_items: benchmark items from files or datasets), ``filters`` (answer rules),
``ask_llm`` (Ask-LLM quality scores for data selection), ``models`` (GPT-2 and Llama in NNX).
Importing this package loads none of tinyjax's statistics (IRT, tiny benchmarks, suites, selection): evaluation
during training (``TinyEvalHook``) and the Open LLM Leaderboard's items (``leaderboard_items``) are
:mod:`tinyjax.evaluate`, which builds on this package. See docs/scoring.md.
"""

from tinyjax.scoring import models
from tinyjax.scoring.ask_llm import ASK_LLM_TEMPLATE, add_ask_llm_column, ask_llm_prompt_ids, ask_llm_scores
from tinyjax.scoring.batching import BatchPlan, EncodedRequest, plan_batches, power_of_two_buckets
from tinyjax.scoring.generate import DEFAULT_CHUNK, GenerateResult, Generator, SampleResult, generate, grade, sample
from tinyjax.scoring import filters
from tinyjax.scoring.filters import ANSWER_RULES, AnswerRule, answer_rule, exact_match, regex_filter
from tinyjax.scoring.items import ItemText, load_items
from tinyjax.scoring.requests import (DEFAULT_MAX_GEN_TOKS, DEFAULT_UNTIL, Generate, MultipleChoice, encode_pair,
                                      fewshot_context, mc2, truncate_left)
from tinyjax.scoring.scorer import ACCURACY_METRICS, DEFAULT_MAX_LENGTH, Scorer, ScoreResult, score
from tinyjax.scoring.tokenizers import TokenizerAdapter, as_tokenizer, load_tokenizer

__all__ = (
    "ACCURACY_METRICS",
    "ANSWER_RULES",
    "ASK_LLM_TEMPLATE",
    "DEFAULT_CHUNK",
    "DEFAULT_MAX_GEN_TOKS",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_UNTIL",
    "AnswerRule",
    "BatchPlan",
    "EncodedRequest",
    "Generate",
    "GenerateResult",
    "Generator",
    "ItemText",
    "MultipleChoice",
    "SampleResult",
    "ScoreResult",
    "Scorer",
    "TokenizerAdapter",
    "add_ask_llm_column",
    "answer_rule",
    "as_tokenizer",
    "ask_llm_prompt_ids",
    "ask_llm_scores",
    "encode_pair",
    "exact_match",
    "fewshot_context",
    "filters",
    "generate",
    "grade",
    "load_items",
    "load_tokenizer",
    "mc2",
    "models",
    "plan_batches",
    "power_of_two_buckets",
    "regex_filter",
    "sample",
    "score",
    "truncate_left",
)
