"""The Open LLM Leaderboard v1 response matrices: which metric each holds and how its items are named.

Jax-free tables, read by the lm-eval log reader (:mod:`tinyjax.suite`), the leaderboard item builder
(:func:`tinyjax.evaluate.leaderboard_items`) and the command line. Items are named by the document's own identity,
as metabench's response matrices name their columns: ``"<benchmark>.<metabench_idx>"`` (``arc.1041``), for MMLU
``"mmlu.<mb_sub_idx>"`` (``mmlu.high_school_mathematics.236``).
"""

from __future__ import annotations

import numpy as np

from tinyjax.errors import ItemError

__all__ = ("LEADERBOARD_METRICS", "LOG_KEYS", "id_field", "suite_item_id")

#: The per-document metric each openllm_v1 response matrix holds, by benchmark: the one table of leaderboard
#: metrics in tinyjax. The Open LLM Leaderboard v1 displayed TruthfulQA's mc2, but metabench scraped the
#: leaderboard's per-item mc1 (its ``scraping/benchmark_loader.py``: ``'truthfulqa': 'mc1'``), so the truthfulqa
#: matrix and its full scores are MC1 accuracy (each full score is k/817; gpt2's is 22.77, its MC1), and so is a
#: suite's TruthfulQA estimate.
LEADERBOARD_METRICS = {"arc": "acc_norm", "hellaswag": "acc_norm", "mmlu": "acc", "winogrande": "acc",
                       "truthfulqa": "mc1", "gsm8k": "exact_match"}

#: The metrics of :data:`LEADERBOARD_METRICS` that lm-eval logs under another key: MC1 (argmax over
#: ``mc1_targets``, the true answer being choice 0) is the ``acc`` of ``metabench_truthfulqa_secondary`` and
#: ``truthfulqa_mc1``. The other metrics are logged under their own names. (The scorer's name for each metric,
#: ``"acc"`` over the MC1 items for MC1, is ``tinyjax.evaluate.SCORER_METRIC``.)
LOG_KEYS = {"mc1": "acc"}


def id_field(benchmark: str) -> str:
  """The document field that names an item of ``benchmark``: ``mb_sub_idx`` for MMLU, else ``metabench_idx``."""
  return "mb_sub_idx" if benchmark == "mmlu" else "metabench_idx"


def suite_item_id(benchmark: str, value) -> str:
  """The suite's item id from a document's (or an item file's) identity field: ``"<benchmark>.<metabench_idx>"``
  (``arc.1041``), for MMLU ``"mmlu.<mb_sub_idx>"``; the one rule the log reader and the item builder share.

  Raises:
    ItemError: the value is not an integer (an MMLU value not ``'<subject>.<index>'``).
  """
  if benchmark == "mmlu":
    if not isinstance(value, str) or "." not in value:
      raise ItemError(f"mb_sub_idx is {value!r}, expected '<subject>.<index>'")
    return f"mmlu.{value}"
  if isinstance(value, str) and value.strip().isdigit():
    value = int(value)
  if isinstance(value, (float, np.floating)) and float(value).is_integer():
    value = int(value)
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ItemError(f"metabench_idx is {value!r}, expected an integer")
  return f"{benchmark}.{int(value)}"
