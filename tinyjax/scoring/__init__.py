"""LLM scoring in Flax NNX with lm-evaluation-harness semantics, and tiny evaluation inside a training loop.

    from tinyjax import scoring
    items = [scoring.MultipleChoice(context="Question: 2+2=?\\nAnswer:", choices=["4", "5"], gold=0)]
    res = scoring.score(apply_fn, params, tokenizer, items, mesh=None, batch_size=8)
    res.loglik, res.acc, res.acc_norm

See docs/scoring.md.
"""

from tinyjax.scoring import models
from tinyjax.scoring.batching import BatchPlan, EncodedRequest, plan_batches, power_of_two_buckets
from tinyjax.scoring.hook import TinyEvalHook
from tinyjax.scoring.requests import MultipleChoice, encode_pair, fewshot_context, mc2, truncate_left
from tinyjax.scoring.scorer import DEFAULT_MAX_LENGTH, Scorer, ScoreResult, score
from tinyjax.scoring.tokenizers import TokenizerAdapter, as_tokenizer, load_tokenizer

__all__ = (
    "DEFAULT_MAX_LENGTH",
    "BatchPlan",
    "EncodedRequest",
    "MultipleChoice",
    "ScoreResult",
    "Scorer",
    "TinyEvalHook",
    "TokenizerAdapter",
    "as_tokenizer",
    "encode_pair",
    "fewshot_context",
    "load_tokenizer",
    "mc2",
    "models",
    "plan_batches",
    "power_of_two_buckets",
    "score",
    "truncate_left",
)
