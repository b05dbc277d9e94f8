"""Evaluation during training: a tiny benchmark, a leaderboard or a suite scored inside the training loop.

    hook = evaluate.TinyEvalHook(suite, items, tokenizer, apply_fn=model, every=200)
    metrics = hook(step, params)          # {} except every 200 steps

Modules: ``target`` (:class:`EvalTarget`, the protocol that :class:`tinyjax.TinyBenchmark`,
:class:`tinyjax.Leaderboard` and :class:`tinyjax.Suite` implement: the anchor ids to run, and answers -> estimates
with intervals; :class:`Evaluation`, :class:`Interval`, :class:`TargetGroup`), ``hook`` (:class:`TinyEvalHook`),
``leaderboard`` (:func:`leaderboard_items`: Open LLM Leaderboard v1 items with its prompts; :data:`SCORER_METRIC`,
the scorer's rule for the metric each response matrix holds). The LLM runtime underneath is
:mod:`tinyjax.scoring`, which knows nothing of the statistics. See docs/scoring.md.

Importing this package loads only ``target`` (numpy); the hook and the item builder, which need the LLM runtime
(flax), load on first use.
"""

from __future__ import annotations

from tinyjax import _lazy

from tinyjax.evaluate.target import AdaptiveTarget, EvalTarget, Evaluation, Interval, TargetGroup

_LAZY = {
    "HOOK_METRICS": "hook",
    "MC2_THRESHOLD": "hook",
    "WORKFLOWS": "hook",
    "TinyEvalHook": "hook",
    "GENERATION_BENCHMARKS": "leaderboard",
    "GENERATION_RULES": "leaderboard",
    "LEADERBOARD_BENCHMARKS": "leaderboard",
    "LEADERBOARD_METRICS": "leaderboard",
    "LEADERBOARD_SHOTS": "leaderboard",
    "SCORER_METRIC": "leaderboard",
    "TRUTHFULQA_PREAMBLE": "leaderboard",
    "TRUTHFULQA_TARGETS": "leaderboard",
    "leaderboard_items": "leaderboard",
}



__all__ = (
    "GENERATION_BENCHMARKS",
    "GENERATION_RULES",
    "HOOK_METRICS",
    "LEADERBOARD_BENCHMARKS",
    "LEADERBOARD_METRICS",
    "LEADERBOARD_SHOTS",
    "MC2_THRESHOLD",
    "SCORER_METRIC",
    "TRUTHFULQA_PREAMBLE",
    "TRUTHFULQA_TARGETS",
    "WORKFLOWS",
    "AdaptiveTarget",
    "EvalTarget",
    "Evaluation",
    "Interval",
    "TargetGroup",
    "TinyEvalHook",
    "leaderboard_items",
)
__getattr__, __dir__ = _lazy.attach(__name__, _LAZY, __all__)
