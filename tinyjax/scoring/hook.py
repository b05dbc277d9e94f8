"""Tiny evaluation inside a training loop: score the anchor items of TinyBenchmarks every N steps.

    hook = scoring.TinyEvalHook({"mmlu": tb}, {"mmlu": anchor_items}, tokenizer, apply_fn=model, every=200)
    for step in range(num_steps):
      state = train_step(state, batch)
      metrics = hook(step, params)          # {} except every 200 steps
      logger.log(metrics, step=step)        # any logger that takes a dict

With a suite of benchmarks built together (``tj.Suite``), :meth:`TinyEvalHook.from_suite` scores the suite's
anchors with the Open LLM Leaderboard's prompts (:func:`tinyjax.scoring.leaderboard_items`) and logs each
benchmark's full-score estimate, its interval and the average (TruthfulQA as MC1, what the suite's matrix holds):

    hook = scoring.TinyEvalHook.from_suite(suite, "../shared/data/items/openllm_v1", tokenizer, apply_fn=model)

The hook tokenizes all anchor requests once, at construction, and keeps one :class:`Scorer`, so the whole run
compiles one scoring function per length bucket, however many times the hook fires. Benchmarks scored by
generation (GSM8K; :class:`~tinyjax.scoring.Generate` items) are generated greedily by one
:class:`~tinyjax.scoring.Generator`, kept for the hook's life too (one prefill and one decode compilation per
prompt bucket), and graded by an answer rule (:mod:`tinyjax.scoring.filters`: GSM8K's strict-match by default).

A TinyBenchmark can instead be run adaptively (``workflow="adaptive"``, or ``"recommended"``: whichever
``tb.recommendation`` names): each call runs ``n_rounds`` rounds, each asking the ``n_per_round`` items with the most
Fisher information at the current ability estimate among the items not yet asked (from all the benchmark's
items), and reports the p-IRT estimate (``tb.adaptive_score``) with ``tb.adaptive_interval``. The selection step
has static shapes and compiles once for the hook's life (:class:`tinyjax.adaptive.AdaptiveRounds`):

    hook = scoring.TinyEvalHook({"mmlu": tb}, {"mmlu": all_items_by_id}, tokenizer, apply_fn=model,
                                workflow="recommended")
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from tinyjax._checks import check_choice
from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring.filters import ANSWER_RULES, AnswerRule, answer_rule
from tinyjax.scoring.generate import Generator, grade
from tinyjax.scoring.items import check_items
from tinyjax.scoring.requests import Generate, MultipleChoice
from tinyjax.scoring.requests import mc2 as mc2_score
from tinyjax.scoring.scorer import ACCURACY_METRICS, DEFAULT_MAX_LENGTH, Scorer, choice_accuracies, choice_matrix

log = logging.getLogger("tinyjax.scoring")

#: With ``metric="mc2"`` (the TinyBenchmark hook only, an explicit choice), an item counts as correct when its mc2
#: (mass on the true answers) exceeds this: for a TinyBenchmark fitted on mc2 binarized at 0.5. No Open LLM
#: Leaderboard matrix here is: metabench's truthfulqa matrix holds MC1, so a suite gets ``"acc"`` on MC1 items.
MC2_THRESHOLD = 0.5

#: The correctness rules the hook can feed an estimate: lm-eval's acc, acc_norm and acc_bytes (argmax rules), and,
#: for the TinyBenchmark hook only, "mc2": ``mc2 > MC2_THRESHOLD`` as 0/1 (items need ``labels``). Generation
#: benchmarks take an answer rule instead (a name of :data:`tinyjax.scoring.ANSWER_RULES`, or an ``AnswerRule``).
HOOK_METRICS = ACCURACY_METRICS + ("mc2",)

#: How a TinyBenchmark hook evaluates: "static" (score the anchors, ``tb.estimate``), "adaptive" (rounds of the most
#: informative items, p-IRT with ``tb.adaptive_interval``) or "recommended" (``tb.recommendation["workflow"]``).
WORKFLOWS = ("static", "adaptive", "recommended")

#: Default number of adaptive rounds per hook call (each round is one scoring call of ``n_per_round`` items).
DEFAULT_ROUNDS = 4

#: Settings of the hook's :class:`Scorer` that its :class:`Generator` shares.
_SHARED_SETTINGS = ("mesh", "batch_size", "max_length", "data_axis", "prefix_token_id")


def _check_run(apply_fn, every):
  if apply_fn is None:
    raise ConfigError("apply_fn is required (an apply_fn(params, tokens) or an nnx.Module)")
  if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
    raise ConfigError(f"every must be a positive int, got {every!r}")


def _first(x) -> float:
  """The one model's value of an [1] array, a one-row Series/DataFrame column or a scalar."""
  return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _num_items(tb) -> int | None:
  for name in ("n_items", "num_items"):
    value = getattr(tb, name, None)
    if isinstance(value, (int, np.integer)):
      return int(value)
  ids = getattr(tb, "item_ids", None)
  return len(ids) if ids is not None else None


def _check_bench_items(items, name: str) -> list:
  """A benchmark's items: all :class:`MultipleChoice` or all :class:`Generate` (one kind per benchmark)."""
  first = next(iter(items), None) if not isinstance(items, str) else None
  kind = Generate if isinstance(first, Generate) else MultipleChoice
  return check_items(items, kind, name=f"items[{name!r}]")


def _items_by_id(items: Mapping, anchor_ids: list[str], name: str) -> list:
  """The anchor items, in the anchors' order, from ``{item id: MultipleChoice or Generate}`` (the one id rule of
  :func:`tinyjax.tiny.answers.match_answers`: by id, extra ids ignored, a missing anchor named)."""
  from tinyjax.tiny.answers import anchor_positions

  keys = [str(k) for k in items]
  pos, _ = anchor_positions(keys, anchor_ids, name=f"items[{name!r}]")
  values = list(items.values())
  return _check_bench_items([values[j] for j in pos], name)


def _default_metric(items: list) -> str:
  return "strict-match" if isinstance(items[0], Generate) else "acc"


def _all_items(tb, items, name: str) -> list:
  """Every item of the benchmark, in the order of ``tb.item_ids``, for adaptive testing (which may ask any)."""
  ids = [str(i) for i in tb.item_ids]
  if isinstance(items, Mapping):
    given = {str(k) for k in items}
    missing = [i for i in ids if i not in given]
    if missing:
      raise ItemError(f"items[{name!r}] lack {len(missing)} of the benchmark's {len(ids)} items (e.g. "
                      f"{missing[:3]}): adaptive testing may ask any item, so give them all, by item id")
    chosen = _items_by_id(items, ids, name)
  else:
    chosen = _check_bench_items(items, name)
    if len(chosen) != len(ids):
      raise ItemError(f"{name}: adaptive testing needs all the benchmark's {len(ids)} items (in the order of "
                      f"tb.item_ids, or {{item id: item}}), got {len(chosen)}")
  if isinstance(chosen[0], Generate):
    raise ConfigError(f"{name}: adaptive testing scores multiple-choice items; a generation benchmark runs with "
                      "workflow='static'")
  return chosen


def _correct_of(items: list, ll: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray | None]:
  """[N] float32 0/1 correctness of multiple-choice ``items`` from their requests' log-likelihoods ``ll`` (item
  order), by ``metric``; and for "mc2" the mc2 values [N] (else None)."""
  loglik = choice_matrix(items, ll, -np.inf, np.float64)
  if metric == "mc2":
    values = np.array([mc2_score(loglik[i, :len(it.choices)], it.labels) for i, it in enumerate(items)])
    return (values > MC2_THRESHOLD).astype(np.float32), values
  return choice_accuracies(items, loglik)[metric], None


class TinyEvalHook:
  """Scores the anchor items of several tiny benchmarks and returns their estimates as a metrics dict.

  Args:
    benchmarks: ``{name: TinyBenchmark}``; each has ``anchors`` [A] (item indices) and ``estimate(Y_anchor)``
      returning ``score`` (the recommended estimate), its interval ``lo``, ``hi``, and ``naive``, ``pirt``,
      ``gpirt`` (each [n_models]).
    items: ``{name: items}`` where items is ``{item id: MultipleChoice}`` (matched to ``tb.anchor_ids`` by id, in
      any order; other items are ignored, a missing anchor is an ``ItemError`` naming it), or a list: the A
      anchor items in the order of ``tb.anchors``, or all the benchmark's items (then the anchors are picked by
      index). A benchmark's items may instead all be :class:`~tinyjax.scoring.Generate` items (GSM8K), with
      ``target``: they are generated greedily and graded by the benchmark's answer rule.
    tokenizer: anything :func:`tinyjax.scoring.tokenizers.as_tokenizer` accepts.
    apply_fn: ``apply_fn(params, tokens) -> logits`` or an NNX module (then ``params`` may be its state).
    every: fire when ``step % every == 0``.
    metric: which correctness feeds the estimate: "acc", "acc_norm", "acc_bytes" or "mc2" (``mc2 >
      MC2_THRESHOLD`` as 0/1; items need ``labels``); for a generation benchmark an answer rule
      (``"strict-match"``, ``"flexible-extract"`` or an ``AnswerRule``); or a dict per benchmark. Default:
      "acc", and "strict-match" for generation benchmarks.
    prefix: metric name prefix.
    generate_kwargs: passed to the :class:`~tinyjax.scoring.Generator` of the generation benchmarks (chunk,
      eos_token_id, buckets, cache); it shares the Scorer's mesh, batch_size, max_length, data_axis and
      prefix_token_id.
    workflow: "static" (score the anchors; ``tb.estimate``), "adaptive" (each call runs ``n_rounds`` rounds of the
      ``n_per_round`` most informative unasked items at the current ability, then ``tb.adaptive_score`` (p-IRT)
      with ``tb.adaptive_interval``; multiple-choice benchmarks only, and ``items`` must hold every item of the
      benchmark) or "recommended" (each benchmark's ``tb.recommendation["workflow"]``).
    n_rounds: adaptive rounds per call (default ``min(DEFAULT_ROUNDS, budget)``, budget = ``tb.recommendation``'s,
      the number of anchors).
    n_per_round: items per adaptive round (default ``ceil(budget / n_rounds)``). Rounds of one item are the
      validated one-at-a-time test; larger rounds batch the scoring.
    **scorer_kwargs: passed to :class:`Scorer` (mesh, batch_size, max_length, pack, ...).

  :meth:`from_suite` builds the hook of a ``tj.Suite`` instead: one estimate per benchmark and the average.
  """

  def __init__(self, benchmarks: Mapping, items: Mapping[str, Sequence[MultipleChoice]], tokenizer,
               apply_fn=None, *, every: int = 100, metric: str | Mapping[str, str] | None = None,
               prefix: str = "tinyjax", generate_kwargs: Mapping | None = None, workflow: str = "static",
               n_rounds: int | None = None, n_per_round: int | None = None, **scorer_kwargs):
    from tinyjax.adaptive import AdaptiveRounds

    _check_run(apply_fn, every)
    check_choice(workflow, WORKFLOWS, "workflow")
    if not benchmarks:
      raise ConfigError("benchmarks is empty")
    if set(benchmarks) != set(items):
      raise ConfigError(f"benchmarks {sorted(benchmarks)} and items {sorted(items)} name different benchmarks")
    self.every = int(every)
    self.prefix = prefix
    self.suite = None
    self.skipped: tuple[str, ...] = ()
    self.benchmarks = dict(benchmarks)
    self.workflow = {name: (tb.recommendation["workflow"] if workflow == "recommended" else workflow)
                     for name, tb in self.benchmarks.items()}
    self.adaptive: dict[str, AdaptiveRounds] = {}
    self.last_adaptive: dict = {}
    chosen: dict[str, list] = {}
    for name, tb in self.benchmarks.items():
      anchors = np.asarray(tb.anchors).reshape(-1)
      if self.workflow[name] == "adaptive":
        chosen[name] = _all_items(tb, items[name], name)
        model = tb.irt_model
        tb.adaptive_interval(np.zeros(1), np.zeros((1, model.dim)))   # ConfigError without adaptive calibration
        budget = int(tb.recommendation["budget"])
        rounds = min(DEFAULT_ROUNDS, budget) if n_rounds is None else n_rounds
        per = math.ceil(budget / rounds) if n_per_round is None and isinstance(rounds, int) else n_per_round
        self.adaptive[name] = AdaptiveRounds(model, n_rounds=rounds, n_per_round=per,
                                             item_weights=tb.item_weights)
        continue
      if isinstance(items[name], Mapping):
        chosen[name] = _items_by_id(items[name], list(tb.anchor_ids), name)
        continue
      its = _check_bench_items(items[name], name)
      if len(its) == anchors.size:
        chosen[name] = its
      elif len(its) > anchors.size and (_num_items(tb) in (None, len(its))):
        if anchors.size and (anchors.min() < 0 or anchors.max() >= len(its)):
          raise ItemError(f"{name}: anchor indices run outside the {len(its)} items given")
        chosen[name] = [its[int(a)] for a in anchors]
      else:
        raise ItemError(f"{name}: {len(its)} items given, expected the {anchors.size} anchor items or all "
                         f"{_num_items(tb) or 'the benchmark'} items")
    given = metric.get if isinstance(metric, Mapping) else (lambda b, default=None: metric)
    self.metric = {b: given(b, None) or _default_metric(chosen[b]) for b in self.benchmarks}
    self._setup(chosen, tokenizer, apply_fn, scorer_kwargs, generate_kwargs)

  def _setup(self, items: dict[str, list], tokenizer, apply_fn, scorer_kwargs: dict, generate_kwargs=None):
    """Checks the metrics, builds the one Scorer (and Generator) and tokenizes every request once."""
    self.rules: dict[str, AnswerRule] = {}
    for b, m in self.metric.items():
      if isinstance(items[b][0], Generate):
        if not isinstance(m, AnswerRule) and m not in ANSWER_RULES:
          raise ConfigError(f"{b!r} is scored by generation: its metric must be an answer rule "
                            f"{sorted(ANSWER_RULES)} or an AnswerRule, got {m!r}")
        self.rules[b] = answer_rule(m)
        missing = [k for k, it in enumerate(items[b]) if it.target is None]
        if missing:
          raise ItemError(f"items[{b!r}][{missing[0]}] has no target: a generation benchmark is graded against "
                          "Generate.target")
        continue
      if m not in HOOK_METRICS:
        raise ConfigError(f"metric for {b!r} must be one of {HOOK_METRICS}, got {m!r}")
      if m == "mc2" and any(it.labels is None for it in items[b]):
        raise ItemError(f"metric 'mc2' for {b!r} needs items with labels (the true answers), as "
                        "scoring.leaderboard_items(..., 'truthfulqa', truthfulqa_targets='mc2') builds them")
    self.items = items
    self.scorer = Scorer(apply_fn, tokenizer, **scorer_kwargs)
    self.generator = None
    if self.rules:
      shared = {k: v for k, v in scorer_kwargs.items() if k in _SHARED_SETTINGS}
      self.generator = Generator(apply_fn, tokenizer, **shared, **dict(generate_kwargs or {}))
    # Tokenize once: the requests never change during training.
    adaptive = getattr(self, "adaptive", {})
    static = [name for name in self.items if name not in self.rules and name not in adaptive]
    self._all_items = [it for name in static for it in self.items[name]]
    self._gen_items = [it for name in self.rules for it in self.items[name]]
    self._spans, self._gen_spans = {}, {}
    # Adaptive benchmarks: every item's requests, tokenized once; each round scores the ones it asks.
    self._item_requests = {name: [[self.scorer.encode(c, x) for c, x in it.requests()] for it in self.items[name]]
                           for name in adaptive}
    start = gen_start = 0
    for name in self.items:
      if name in adaptive:
        continue
      if name in self.rules:
        self._gen_spans[name] = (gen_start, gen_start + len(self.items[name]))
        gen_start += len(self.items[name])
      else:
        self._spans[name] = (start, start + len(self.items[name]))
        start += len(self.items[name])
    self._encoded = [self.scorer.encode(c, x) for it in self._all_items for c, x in it.requests()]
    if adaptive:
      self._pin_row_length()
    for it in self._gen_items:
      self.generator.encode(it)   # a prompt that cannot fit fails here, not at the first evaluation
    self.calls = 0
    self.last_seconds = float("nan")
    self.last_generation_seconds = float("nan")

  def _pin_row_length(self):
    """Adaptive rounds score a different subset of items each time. With packing, the scorer would choose a row
    length per call; plan once over every request the hook can score instead and keep that row length (and the
    share of scored positions) for the hook's life, so every round's batches have one shape: one compilation."""
    if not self.scorer.pack or self.scorer.pack_length is not None:
      return
    every = list(dict.fromkeys([*self._encoded, *(r for reqs in self._item_requests.values()
                                                  for item in reqs for r in item)]))
    plan = self.scorer._plan(every)   # also fixes score_fraction when it was not given
    self.scorer.pack_length = plan.shapes[0][1]

  @classmethod
  def from_suite(cls, suite, items, tokenizer, apply_fn=None, *, every: int = 100,
                 metric: str | Mapping[str, str] | None = None, prefix: str = "tinyjax",
                 skip: Sequence[str] = (), generate_kwargs: Mapping | None = None,
                 **scorer_kwargs) -> TinyEvalHook:
    """A hook that scores a suite's anchor items and logs every benchmark's full-score estimate and the average.

    GSM8K's anchors are generated greedily (lm-eval's generate_until: the leaderboard's 5-shot prompt, its stop
    strings, 256 new tokens at most) and graded by strict-match exact match, the metric the suite's gsm8k matrix
    holds. Benchmarks without items, or named in ``skip``, are skipped: the hook logs that once, here, and the
    suite still estimates them from the benchmarks answered (one joint ability), which
    ``{prefix}/average_covers`` lists. Generation costs far more than log-likelihoods (see docs/scoring.md), so
    ``skip=("gsm8k",)`` is the cheap hook.

    TruthfulQA is fed as MC1 correctness (``acc`` over the ``mc1_targets`` choices, the true answer first),
    because that is what metabench's truthfulqa matrix, which the suite is fitted on, holds; the Open LLM
    Leaderboard v1 displayed mc2, which a suite cannot estimate from these answers.

    Args:
      suite: a ``tj.Suite``: ``suite.benchmarks`` (names), ``suite.anchors`` (``{benchmark: [item ids]}``) and
        ``suite.estimate({benchmark: {item id: 0/1}})`` returning ``scores``, ``lower``, ``upper`` (one row per
        model; one column per benchmark and ``"average"``).
      items: ``{benchmark: {item id: MultipleChoice}}`` (matched to ``suite.anchors`` by id; extra items
        ignored, a missing anchor an ``ItemError`` naming it; TruthfulQA's must be MC1 items, one true answer),
        or the folder of metabench's Open LLM Leaderboard item files (``../shared/data/items/openllm_v1``), read
        with :func:`tinyjax.scoring.leaderboard_items` (TruthfulQA: its default MC1 items).
      tokenizer: anything :func:`tinyjax.scoring.tokenizers.as_tokenizer` accepts.
      apply_fn: ``apply_fn(params, tokens) -> logits`` or an NNX module (then ``params`` may be its state).
      every: fire when ``step % every == 0``.
      metric: the correctness per benchmark (``"acc"``, ``"acc_norm"`` or ``"acc_bytes"``; for GSM8K an answer
        rule; or a dict per benchmark); default the scorer's rule for the metric the suite's matrices hold
        (:data:`tinyjax.scoring.SCORER_METRIC`: ARC and HellaSwag acc_norm, MMLU and WinoGrande acc,
        TruthfulQA acc over the MC1 items; :data:`tinyjax.scoring.leaderboard.GENERATION_RULES`: GSM8K
        strict-match), ``"acc"`` for other benchmarks. ``"mc2"`` is refused: no suite matrix holds binarized mc2.
      prefix: metric name prefix.
      skip: benchmarks not to score (estimated from the others).
      generate_kwargs: passed to the hook's :class:`~tinyjax.scoring.Generator` (chunk, eos_token_id, ...).
      **scorer_kwargs: passed to :class:`Scorer` (mesh, batch_size, max_length, pack, ...).

    Returns:
      A :class:`TinyEvalHook`; ``hook(step, params)`` returns the metrics described in :meth:`__call__`.

    Raises:
      ConfigError: a bad ``every``/``metric``, items for benchmarks the suite does not have, nothing to score.
      ItemError: a missing anchor item, TruthfulQA items with several true answers (mc2 items), an item file that
        cannot be read; MissingFileError: no item file.
    """
    from tinyjax.scoring.leaderboard import GENERATION_RULES, SCORER_METRIC, leaderboard_items

    _check_run(apply_fn, every)
    names = [str(b) for b in suite.benchmarks]
    from_folder = isinstance(items, (str, os.PathLike))
    if not from_folder and not isinstance(items, Mapping):
      raise ConfigError(f"items must be {{benchmark: {{item id: MultipleChoice}}}} or the folder of the item "
                        f"files, got {type(items).__name__}")
    if not from_folder:
      unknown = sorted(set(map(str, items)) - set(names))
      if unknown:
        raise ConfigError(f"items name benchmarks the suite does not have: {unknown}; the suite has {names}")
    if isinstance(metric, Mapping):
      unknown = sorted(set(map(str, metric)) - set(names))
      if unknown:
        raise ConfigError(f"metric names benchmarks the suite does not have: {unknown}; the suite has {names}")
    unknown = sorted(set(map(str, skip)) - set(names))
    if isinstance(skip, str) or unknown:
      raise ConfigError(f"skip must list benchmarks of the suite {names}, got {skip!r}")
    anchor_ids = {b: [str(a) for a in ids] for b, ids in suite.anchors.items()}
    chosen: dict[str, list] = {}
    skipped: dict[str, str] = {}
    for b in names:
      if b in skip:
        skipped[b] = "skip= names it"
        continue
      if from_folder:
        source = leaderboard_items(items, b)
      elif b in items:
        source = items[b]
      else:
        skipped[b] = "no items given"
        continue
      if not isinstance(source, Mapping):
        raise ConfigError(f"items[{b!r}] must be {{item id: MultipleChoice or Generate}} (matched to suite.anchors "
                          "by id), "
                          f"got {type(source).__name__}")
      chosen[b] = _items_by_id(source, anchor_ids[b], b)
      if b == "truthfulqa":
        several = [a for a, it in zip(anchor_ids[b], chosen[b]) if it.labels is not None and sum(it.labels) > 1]
        if several:
          raise ItemError(f"truthfulqa anchor {several[0]!r} (and {len(several) - 1} more) has several true answers "
                          "(mc2 items); the suite's truthfulqa matrix holds MC1, so give the mc1_targets items "
                          "(scoring.leaderboard_items(..., 'truthfulqa'), its default)")
    window = int(scorer_kwargs.get("max_length") or getattr(apply_fn, "max_length", None) or DEFAULT_MAX_LENGTH)
    for b in [b for b in chosen if isinstance(chosen[b][0], Generate)]:
      budget = max(it.max_gen_toks for it in chosen[b])
      if window - budget < 1:
        skipped[b] = f"the model window of {window} tokens leaves no room for a prompt and {budget} new tokens"
        del chosen[b]
    if not chosen:
      reasons = "; ".join(f"{b}: {why}" for b, why in skipped.items())
      raise ConfigError(f"no benchmark of the suite can be scored ({reasons})")
    if skipped:
      log.warning("TinyEvalHook: skipping %s; the suite estimates %s from the answers on %s (%s/average_covers)",
                  "; ".join(f"{b} ({why})" for b, why in skipped.items()),
                  "it" if len(skipped) == 1 else "them", ", ".join(chosen), prefix)
    hook = cls.__new__(cls)
    hook.every = int(every)
    hook.prefix = prefix
    hook.suite = suite
    hook._anchor_ids = {b: anchor_ids[b] for b in chosen}
    hook.skipped = tuple(skipped)
    hook.benchmarks = {}
    hook.workflow = {b: "static" for b in chosen}
    hook.adaptive, hook.last_adaptive = {}, {}
    default = {b: GENERATION_RULES.get(b) or SCORER_METRIC.get(b) or _default_metric(chosen[b]) for b in chosen}
    if isinstance(metric, Mapping):
      hook.metric = {b: metric.get(b, default[b]) for b in chosen}
    else:
      hook.metric = {b: (metric if metric and not isinstance(chosen[b][0], Generate) else default[b])
                     for b in chosen}
    for b, m in hook.metric.items():
      if m == "mc2":
        raise ConfigError(f"metric 'mc2' for {b!r}: a suite is fitted on 0/1 correctness, and no suite matrix holds "
                          "binarized mc2 (metabench's truthfulqa matrix holds MC1: metric 'acc' on the mc1 items, "
                          f"the default); use one of {ACCURACY_METRICS}")
    hook._setup(chosen, tokenizer, apply_fn, scorer_kwargs, generate_kwargs)
    return hook

  @property
  def compilations(self) -> int:
    """How many times the scoring (and generation) functions and the adaptive selection steps were compiled
    (traced) so far."""
    return (self.scorer.compilations + (self.generator.compilations if self.generator is not None else 0)
            + sum(r.compilations for r in self.adaptive.values()))

  def should_run(self, step: int) -> bool:
    return int(step) % self.every == 0

  def __call__(self, step: int, params=None, *, force: bool = False) -> dict:
    """Returns ``{}`` unless ``step % every == 0`` (or ``force``); else the metrics dict.

    Keys, for each benchmark ``b`` of TinyBenchmarks: ``{prefix}/{b}/estimate``, the recommended estimate
    ``est.score`` of ``tb.estimate(correct)``, with ``.../estimate_lo`` and ``.../estimate_hi`` its interval
    (``est.lo``, ``est.hi``); the other estimators under their own names, ``.../naive``, ``.../pirt``,
    ``.../gpirt``; ``.../raw_acc`` (mean anchor correctness) and ``.../correct`` ([A] float32 0/1 per anchor
    item), and for an mc2 benchmark ``.../mc2`` (the mean mc2 before binarization); plus ``{prefix}/eval_seconds``
    and ``{prefix}/padding_fraction``.

    A benchmark run adaptively (``workflow``) reports ``.../estimate`` (``tb.adaptive_score``: p-IRT from the items
    asked),
    ``.../estimate_lo``, ``.../estimate_hi`` (``tb.adaptive_interval``), ``.../n_asked``, ``.../raw_acc`` and
    ``.../correct`` (the asked items' correctness, in the order asked; their indices and the ability are in
    ``hook.last_adaptive[b]``, a :class:`tinyjax.adaptive.AdaptiveRun`), and ``.../mc2`` for an mc2 benchmark.

    A hook built by :meth:`from_suite` returns, for every benchmark ``b`` of the suite, ``{prefix}/{b}/estimate``,
    ``.../estimate_lo``, ``.../estimate_hi`` (the full-score estimate and its interval, in the suite's unit: its
    ``full_scores``', percent for the Open LLM Leaderboard) and ``.../answered`` (anchor items scored, 0 for a
    skipped benchmark); for the benchmarks scored also ``.../raw_acc`` and ``.../correct`` (TruthfulQA: MC1
    correctness); then ``{prefix}/average``, ``.../average_lo``,
    ``.../average_hi`` (over every suite benchmark) and ``{prefix}/average_covers``, a string naming the
    benchmarks answered (comma-separated; the skipped ones are estimated from them); plus
    ``{prefix}/eval_seconds`` and ``{prefix}/padding_fraction``.

    With generation benchmarks, ``.../correct`` is the answer rule's grade of each greedy generation, and the
    dict also holds ``{prefix}/generation_seconds`` (part of ``eval_seconds``) and ``{prefix}/new_tokens``;
    ``padding_fraction`` is the scorer's, present when some benchmark is scored by log-likelihoods.
    """
    if not force and not self.should_run(step):
      return {}
    t0 = time.perf_counter()
    metrics: dict = {}
    correct: dict[str, np.ndarray] = {}
    if self._encoded:
      ll, _ = self.scorer.score_encoded(self._encoded, params)
      loglik = choice_matrix(self._all_items, ll, -np.inf, np.float64)
      accuracies = choice_accuracies(self._all_items, loglik)
    if self._gen_items:
      t1 = time.perf_counter()
      gen = self.generator.generate(self._gen_items, params)
      self.last_generation_seconds = time.perf_counter() - t1
      for name, rule in self.rules.items():
        lo_i, hi_i = self._gen_spans[name]
        ok, _ = grade(self._gen_items[lo_i:hi_i], gen.text[lo_i:hi_i], rule)
        correct[name] = ok.astype(np.float32)
      metrics[f"{self.prefix}/generation_seconds"] = self.last_generation_seconds
      metrics[f"{self.prefix}/new_tokens"] = gen.n_new_tokens
    for name in self._spans:
      lo_i, hi_i = self._spans[name]
      if self.metric[name] == "mc2":
        values = np.array([mc2_score(loglik[i, :len(it.choices)], it.labels)
                           for i, it in zip(range(lo_i, hi_i), self.items[name])])
        metrics[f"{self.prefix}/{name}/mc2"] = float(values.mean())
        correct[name] = (values > MC2_THRESHOLD).astype(np.float32)
      else:
        correct[name] = accuracies[self.metric[name]][lo_i:hi_i]
    correct = {name: correct[name] for name in self.items if name in correct}   # the benchmarks' order
    if self.suite is not None:
      self._suite_metrics(correct, metrics)
    else:
      for name, tb in self.benchmarks.items():
        if name in self.adaptive:
          self._adaptive_metrics(name, tb, params, metrics)
          continue
        est = tb.estimate(correct[name][None, :])
        key = f"{self.prefix}/{name}"
        metrics[f"{key}/raw_acc"] = float(correct[name].mean())
        metrics[f"{key}/estimate"] = _first(est.score)
        metrics[f"{key}/estimate_lo"] = _first(est.lo)
        metrics[f"{key}/estimate_hi"] = _first(est.hi)
        metrics[f"{key}/naive"] = _first(est.naive)
        metrics[f"{key}/pirt"] = _first(est.pirt)
        metrics[f"{key}/gpirt"] = _first(est.gpirt)
        metrics[f"{key}/correct"] = correct[name]
    self.calls += 1
    self.last_seconds = time.perf_counter() - t0
    metrics[f"{self.prefix}/eval_seconds"] = self.last_seconds
    if self._encoded or self.adaptive:
      metrics[f"{self.prefix}/padding_fraction"] = self.scorer.last_plan.padding_fraction
    return metrics

  def _adaptive_metrics(self, name: str, tb, params, metrics: dict):
    """Runs the adaptive rounds of benchmark ``name`` (each round scores the items it asks) and adds its metrics."""
    items, requests, metric = self.items[name], self._item_requests[name], self.metric[name]
    mc2: list[np.ndarray] = []

    def answer(idx: np.ndarray) -> np.ndarray:
      asked = [items[i] for i in idx]
      ll, _ = self.scorer.score_encoded([r for i in idx for r in requests[i]], params)
      correct, values = _correct_of(asked, ll, metric)
      if values is not None:
        mc2.append(values)
      return correct

    run = self.adaptive[name].run(answer)
    self.last_adaptive[name] = run
    asked = run.items >= 0
    y, mask = np.zeros((1, len(items))), np.zeros((1, len(items)), bool)
    y[0, run.items[asked]], mask[0, run.items[asked]] = run.answers[asked], True
    score, theta = tb.adaptive_score(y, mask)   # the estimate the validation folds measured
    interval, _ = tb.adaptive_interval(score, theta)
    correct = run.answers[asked].astype(np.float32)   # in the order asked
    key = f"{self.prefix}/{name}"
    metrics[f"{key}/raw_acc"] = float(correct.mean())
    metrics[f"{key}/estimate"] = float(score[0])
    metrics[f"{key}/estimate_lo"] = float(interval[0, 0])
    metrics[f"{key}/estimate_hi"] = float(interval[0, 1])
    metrics[f"{key}/n_asked"] = run.n_asked
    metrics[f"{key}/correct"] = correct
    if mc2:
      metrics[f"{key}/mc2"] = float(np.concatenate(mc2).mean())

  def _suite_metrics(self, correct: dict[str, np.ndarray], metrics: dict):
    """The suite's estimates from the answers on the anchors of the benchmarks scored (absent = not answered)."""
    answers = {b: dict(zip(self._anchor_ids[b], correct[b].tolist())) for b in correct}
    est = self.suite.estimate(answers)
    for b in self.suite.benchmarks:
      key = f"{self.prefix}/{b}"
      metrics[f"{key}/estimate"] = _first(est.scores[b])
      metrics[f"{key}/estimate_lo"] = _first(est.lower[b])
      metrics[f"{key}/estimate_hi"] = _first(est.upper[b])
      metrics[f"{key}/answered"] = int(correct[b].size) if b in correct else 0
      if b in correct:
        metrics[f"{key}/raw_acc"] = float(correct[b].mean())
        metrics[f"{key}/correct"] = correct[b]
    metrics[f"{self.prefix}/average"] = _first(est.scores["average"])
    metrics[f"{self.prefix}/average_lo"] = _first(est.lower["average"])
    metrics[f"{self.prefix}/average_hi"] = _first(est.upper["average"])
    metrics[f"{self.prefix}/average_covers"] = ",".join(correct)
