"""Tiny evaluation inside a training loop: score the anchor items of TinyBenchmarks every N steps.

    hook = scoring.TinyEvalHook({"mmlu": tb}, {"mmlu": anchor_items}, tokenizer, apply_fn=model, every=200)
    for step in range(num_steps):
      state = train_step(state, batch)
      metrics = hook(step, params)          # {} except every 200 steps
      logger.log(metrics, step=step)        # any logger that takes a dict

The hook tokenizes all anchor requests once, at construction, and keeps one :class:`Scorer`, so the whole run
compiles one scoring function per length bucket, however many times the hook fires.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring.items import check_items
from tinyjax.scoring.requests import MultipleChoice
from tinyjax.scoring.scorer import ACCURACY_METRICS, Scorer, choice_accuracies, choice_matrix


def _num_items(tb) -> int | None:
  for name in ("n_items", "num_items"):
    value = getattr(tb, name, None)
    if isinstance(value, (int, np.integer)):
      return int(value)
  ids = getattr(tb, "item_ids", None)
  return len(ids) if ids is not None else None


def _items_by_id(items: Mapping, anchor_ids: list[str], name: str) -> list[MultipleChoice]:
  """The anchor items, in the anchors' order, from ``{item id: MultipleChoice}`` (the one id rule of
  :func:`tinyjax.tiny.answers.match_answers`: by id, extra ids ignored, a missing anchor named)."""
  from tinyjax.tiny.answers import anchor_positions

  keys = [str(k) for k in items]
  pos, _ = anchor_positions(keys, anchor_ids, name=f"items[{name!r}]")
  values = list(items.values())
  return check_items([values[j] for j in pos], MultipleChoice, name=f"items[{name!r}]")


class TinyEvalHook:
  """Scores the anchor items of several tiny benchmarks and returns their estimates as a metrics dict.

  Args:
    benchmarks: ``{name: TinyBenchmark}``; each has ``anchors`` [A] (item indices) and ``estimate(Y_anchor)``
      returning ``score`` (the recommended estimate), its interval ``lo``, ``hi``, and ``naive``, ``pirt``,
      ``gpirt`` (each [n_models]).
    items: ``{name: items}`` where items is ``{item id: MultipleChoice}`` (matched to ``tb.anchor_ids`` by id, in
      any order; other items are ignored, a missing anchor is an ``ItemError`` naming it), or a list: the A
      anchor items in the order of ``tb.anchors``, or all the benchmark's items (then the anchors are picked by
      index).
    tokenizer: anything :func:`tinyjax.scoring.tokenizers.as_tokenizer` accepts.
    apply_fn: ``apply_fn(params, tokens) -> logits`` or an NNX module (then ``params`` may be its state).
    every: fire when ``step % every == 0``.
    metric: which correctness feeds the estimate: "acc", "acc_norm" or "acc_bytes" (or a dict per benchmark).
    prefix: metric name prefix.
    **scorer_kwargs: passed to :class:`Scorer` (mesh, batch_size, max_length, pack, ...).
  """

  def __init__(self, benchmarks: Mapping, items: Mapping[str, Sequence[MultipleChoice]], tokenizer,
               apply_fn=None, *, every: int = 100, metric: str | Mapping[str, str] = "acc",
               prefix: str = "tinyjax", **scorer_kwargs):
    if apply_fn is None:
      raise ConfigError("apply_fn is required (an apply_fn(params, tokens) or an nnx.Module)")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
      raise ConfigError(f"every must be a positive int, got {every!r}")
    if not benchmarks:
      raise ConfigError("benchmarks is empty")
    if set(benchmarks) != set(items):
      raise ConfigError(f"benchmarks {sorted(benchmarks)} and items {sorted(items)} name different benchmarks")
    self.every = int(every)
    self.prefix = prefix
    self.benchmarks = dict(benchmarks)
    self.metric = {b: (metric[b] if isinstance(metric, Mapping) else metric) for b in self.benchmarks}
    for b, m in self.metric.items():
      if m not in ACCURACY_METRICS:
        raise ConfigError(f"metric for {b!r} must be one of {ACCURACY_METRICS}, got {m!r}")
    self.items: dict[str, list[MultipleChoice]] = {}
    for name, tb in self.benchmarks.items():
      anchors = np.asarray(tb.anchors).reshape(-1)
      if isinstance(items[name], Mapping):
        self.items[name] = _items_by_id(items[name], list(tb.anchor_ids), name)
        continue
      its = check_items(items[name], MultipleChoice, name=f"items[{name!r}]")
      if len(its) == anchors.size:
        self.items[name] = its
      elif len(its) > anchors.size and (_num_items(tb) in (None, len(its))):
        if anchors.size and (anchors.min() < 0 or anchors.max() >= len(its)):
          raise ItemError(f"{name}: anchor indices run outside the {len(its)} items given")
        self.items[name] = [its[int(a)] for a in anchors]
      else:
        raise ItemError(f"{name}: {len(its)} items given, expected the {anchors.size} anchor items or all "
                         f"{_num_items(tb) or 'the benchmark'} items")
    self.scorer = Scorer(apply_fn, tokenizer, **scorer_kwargs)
    # Tokenize once: the requests never change during training.
    self._all_items = [it for name in self.benchmarks for it in self.items[name]]
    self._spans = {}
    start = 0
    for name in self.benchmarks:
      self._spans[name] = (start, start + len(self.items[name]))
      start += len(self.items[name])
    self._encoded = [self.scorer.encode(c, x) for it in self._all_items for c, x in it.requests()]
    self.calls = 0
    self.last_seconds = float("nan")

  @property
  def compilations(self) -> int:
    """How many times the scoring function was compiled (traced) so far."""
    return self.scorer.compilations

  def should_run(self, step: int) -> bool:
    return int(step) % self.every == 0

  def __call__(self, step: int, params=None, *, force: bool = False) -> dict:
    """Returns ``{}`` unless ``step % every == 0`` (or ``force``); else the metrics dict.

    Keys, for each benchmark ``b``: ``{prefix}/{b}/estimate``, the recommended estimate ``est.score`` of
    ``tb.estimate(correct)``, with ``.../estimate_lo`` and ``.../estimate_hi`` its interval (``est.lo``,
    ``est.hi``); the other estimators under their own names, ``.../naive``, ``.../pirt``, ``.../gpirt``;
    ``.../raw_acc`` (mean anchor correctness) and ``.../correct`` ([A] float32 0/1 per anchor item); plus
    ``{prefix}/eval_seconds`` and ``{prefix}/padding_fraction``.
    """
    if not force and not self.should_run(step):
      return {}
    t0 = time.perf_counter()
    ll, _ = self.scorer.score_encoded(self._encoded, params)
    loglik = choice_matrix(self._all_items, ll, -np.inf, np.float64)
    accuracies = choice_accuracies(self._all_items, loglik)
    metrics: dict = {}
    for name, tb in self.benchmarks.items():
      lo_i, hi_i = self._spans[name]
      correct = accuracies[self.metric[name]][lo_i:hi_i]
      est = tb.estimate(correct[None, :])
      first = lambda x: float(np.asarray(x).reshape(-1)[0])  # noqa: E731  (one model)
      key = f"{self.prefix}/{name}"
      metrics[f"{key}/raw_acc"] = float(correct.mean())
      metrics[f"{key}/estimate"] = first(est.score)
      metrics[f"{key}/estimate_lo"] = first(est.lo)
      metrics[f"{key}/estimate_hi"] = first(est.hi)
      metrics[f"{key}/naive"] = first(est.naive)
      metrics[f"{key}/pirt"] = first(est.pirt)
      metrics[f"{key}/gpirt"] = first(est.gpirt)
      metrics[f"{key}/correct"] = correct
    self.calls += 1
    self.last_seconds = time.perf_counter() - t0
    metrics[f"{self.prefix}/eval_seconds"] = self.last_seconds
    metrics[f"{self.prefix}/padding_fraction"] = self.scorer.last_plan.padding_fraction
    return metrics
