"""Tiny evaluation inside a training loop: score a target's anchor items every N steps and log its estimates.

    hook = evaluate.TinyEvalHook({"mmlu": tb}, {"mmlu": anchor_items}, tokenizer, apply_fn=model, every=200)
    for step in range(num_steps):
      state = train_step(state, batch)
      metrics = hook(step, params)          # {} except every 200 steps
      logger.log(metrics, step=step)        # any logger that takes a dict

The target is anything that implements :class:`tinyjax.evaluate.EvalTarget` (the anchor ids to run, and answers ->
estimates with intervals): a :class:`tinyjax.TinyBenchmark`, a :class:`tinyjax.Leaderboard`, a
:class:`tinyjax.Suite`, or a ``{name: target}`` dict of them. With a suite and the Open LLM Leaderboard's item
files, the hook scores the suite's anchors with the leaderboard's prompts (:func:`tinyjax.evaluate.leaderboard_items`)
and logs each benchmark's full-score estimate, its interval and the average:

    hook = evaluate.TinyEvalHook(suite, tinyjax.suite.fetch.metabench_dir(), tokenizer, apply_fn=model)

The hook tokenizes all anchor requests once, at construction, and keeps one :class:`~tinyjax.scoring.Scorer`, so
the whole run compiles one scoring function per length bucket, however many times the hook fires. Benchmarks
scored by generation (GSM8K; :class:`~tinyjax.scoring.Generate` items) are generated greedily by one
:class:`~tinyjax.scoring.Generator`, kept for the hook's life too (one prefill and one decode compilation per
prompt bucket), and graded by an answer rule (:mod:`tinyjax.scoring.filters`: GSM8K's strict-match by default).

A TinyBenchmark can instead be run adaptively (``workflow="adaptive"``, or ``"recommended"``: whichever
``tb.recommendation`` names): each call runs ``n_rounds`` rounds, each asking the ``n_per_round`` items with the most
Fisher information at the current ability estimate among the items not yet asked (from all the benchmark's
items), and reports the p-IRT estimate (``tb.adaptive_score``) with ``tb.adaptive_interval``. The selection step
has static shapes and compiles once for the hook's life (:class:`tinyjax.adaptive.AdaptiveRounds`):

    hook = evaluate.TinyEvalHook({"mmlu": tb}, {"mmlu": all_items_by_id}, tokenizer, apply_fn=model,
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
from tinyjax.evaluate.leaderboard import GENERATION_RULES, SCORER_METRIC, leaderboard_items
from tinyjax.evaluate.target import AdaptiveTarget, EvalTarget, TargetGroup, check_target
from tinyjax.scoring.filters import ANSWER_RULES, AnswerRule, answer_rule
from tinyjax.scoring.generate import Generator, grade
from tinyjax.scoring.items import check_items
from tinyjax.scoring.requests import Generate, MultipleChoice
from tinyjax.scoring.requests import mc2 as mc2_score
from tinyjax.scoring.scorer import ACCURACY_METRICS, DEFAULT_MAX_LENGTH, Scorer, choice_accuracies, choice_matrix

log = logging.getLogger("tinyjax.evaluate")

#: With ``metric="mc2"`` (an explicit choice), an item counts as correct when its mc2 (mass on the true answers)
#: exceeds this: for a target fitted on mc2 binarized at 0.5. No Open LLM Leaderboard matrix here is: metabench's
#: truthfulqa matrix holds MC1, so its default is ``"acc"`` on MC1 items (:data:`tinyjax.evaluate.SCORER_METRIC`).
MC2_THRESHOLD = 0.5

#: The correctness rules the hook can feed an estimate: lm-eval's acc, acc_norm and acc_bytes (argmax rules, for
#: items with one true answer), and "mc2": ``mc2 > MC2_THRESHOLD`` as 0/1 (items need ``labels``). Generation
#: benchmarks take an answer rule instead (a name of :data:`tinyjax.scoring.ANSWER_RULES`, or an ``AnswerRule``).
HOOK_METRICS = ACCURACY_METRICS + ("mc2",)

#: How a benchmark is evaluated: "static" (score the anchors, ``target.evaluate_answers``), "adaptive" (rounds of
#: the most informative items, p-IRT with ``tb.adaptive_interval``; a TinyBenchmark only) or "recommended"
#: (``tb.recommendation["workflow"]`` for a TinyBenchmark, "static" for the other targets).
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


def _is_request(x) -> bool:
  return isinstance(x, (MultipleChoice, Generate))


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


def _anchor_items(items, anchor_ids: list[str], all_ids: list[str] | None, name: str) -> list:
  """The anchor items of one benchmark from ``{item id: item}`` (by id), the anchor items in order, or every item
  of the benchmark in the order of ``all_ids`` (a one-benchmark target that lists its items)."""
  if isinstance(items, Mapping):
    return _items_by_id(items, anchor_ids, name)
  its = _check_bench_items(items, name)
  if len(its) == len(anchor_ids):
    return its
  if all_ids is not None and len(its) == len(all_ids):
    where = {str(i): j for j, i in enumerate(all_ids)}
    return [its[where[a]] for a in anchor_ids]
  raise ItemError(f"{name}: {len(its)} items given, expected the {len(anchor_ids)} anchor items or all "
                  f"{len(all_ids) if all_ids is not None else 'the benchmark'} items")


def _all_items(tb: AdaptiveTarget, items, name: str) -> list:
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


def _fits(metric, items: list) -> bool:
  """Whether ``metric`` is a rule for this kind of benchmark: an answer rule for generation, else a choice rule."""
  if isinstance(items[0], Generate):
    return isinstance(metric, AnswerRule) or metric in ANSWER_RULES
  return metric in HOOK_METRICS


def _default_metric(name: str, items: list):
  """The scorer's rule for the metric the Open LLM Leaderboard's matrix of ``name`` holds
  (:data:`~tinyjax.evaluate.GENERATION_RULES`, :data:`~tinyjax.evaluate.SCORER_METRIC`); else "strict-match" for
  generation and "acc" for multiple choice."""
  if isinstance(items[0], Generate):
    return GENERATION_RULES.get(name, "strict-match")
  return SCORER_METRIC.get(name, "acc")


class TinyEvalHook:
  """Scores the anchor items of a target and returns its estimates as a metrics dict.

  Args:
    target: what to estimate, anything implementing :class:`tinyjax.evaluate.EvalTarget`: a
      :class:`tinyjax.TinyBenchmark` (one benchmark, named ``"benchmark"``), a :class:`tinyjax.Leaderboard` or a
      :class:`tinyjax.Suite` (their benchmarks), or a ``{name: target}`` dict (a
      :class:`tinyjax.evaluate.TargetGroup`: a one-benchmark member under its name, e.g. ``{"mmlu": tb}``).
    items: the items per benchmark, ``{benchmark: items}``, where items is ``{item id: MultipleChoice}`` (matched
      to the target's anchor ids by id, in any order; other items are ignored, a missing anchor is an
      ``ItemError`` naming it), or a list: the anchor items in the anchors' order, or (a TinyBenchmark) all the
      benchmark's items in the order of ``tb.item_ids``. A benchmark's items may instead all be
      :class:`~tinyjax.scoring.Generate` items (GSM8K), with ``target``: they are generated greedily and graded
      by the benchmark's answer rule. Or the folder of metabench's Open LLM Leaderboard item files
      (``tinyjax.suite.fetch.metabench_dir()``), read with :func:`tinyjax.evaluate.leaderboard_items` for every
      benchmark (TruthfulQA: its MC1 items). A target with one benchmark also takes that benchmark's items alone.
    tokenizer: anything :func:`tinyjax.scoring.tokenizers.as_tokenizer` accepts.
    apply_fn: ``apply_fn(params, tokens) -> logits`` or an NNX module (then ``params`` may be its state).
    every: fire when ``step % every == 0``.
    metric: which correctness feeds the estimate: "acc", "acc_norm", "acc_bytes" (argmax rules, items with one
      true answer) or "mc2" (``mc2 > MC2_THRESHOLD`` as 0/1; items need ``labels``); for a generation benchmark
      an answer rule (``"strict-match"``, ``"flexible-extract"`` or an ``AnswerRule``); one name (used for every
      benchmark of its kind) or a dict per benchmark. Default: the scorer's rule for the metric the Open LLM
      Leaderboard's matrix holds (:data:`tinyjax.evaluate.SCORER_METRIC`: ARC and HellaSwag acc_norm, MMLU,
      WinoGrande and TruthfulQA's MC1 items acc; :data:`tinyjax.evaluate.GENERATION_RULES`: GSM8K strict-match),
      and for other benchmarks "acc", or "strict-match" for generation.
    prefix: metric name prefix.
    skip: benchmarks not to score. A benchmark skipped, given no items, or whose generation budget leaves no room
      in the model window, is not scored: the hook logs that once, here, and a target that estimates every
      benchmark from one ability (a Suite, a Leaderboard) still estimates it from the others. Generation costs far
      more than log-likelihoods (see docs/scoring.md), so ``skip=("gsm8k",)`` is the cheap suite hook.
    generate_kwargs: passed to the :class:`~tinyjax.scoring.Generator` of the generation benchmarks (chunk,
      eos_token_id, buckets, cache); it shares the Scorer's mesh, batch_size, max_length, data_axis and
      prefix_token_id.
    workflow: "static", "adaptive" or "recommended" (:data:`WORKFLOWS`). Adaptive: each call runs ``n_rounds``
      rounds of the ``n_per_round`` most informative unasked items at the current ability, then
      ``tb.adaptive_score`` (p-IRT) with ``tb.adaptive_interval``; TinyBenchmarks and multiple-choice items only,
      and ``items`` must hold every item of the benchmark.
    n_rounds: adaptive rounds per call (default ``min(DEFAULT_ROUNDS, budget)``, budget = ``tb.recommendation``'s,
      the number of anchors).
    n_per_round: items per adaptive round (default ``ceil(budget / n_rounds)``). Rounds of one item are the
      validated one-at-a-time test; larger rounds batch the scoring.
    **scorer_kwargs: passed to :class:`Scorer` (mesh, batch_size, max_length, pack, ...).

  Raises:
    ConfigError: a target without the protocol, a bad ``every``/``metric``/``skip``/``workflow``, items or metrics
      for benchmarks the target does not have, nothing to score.
    ItemError: a missing anchor item, items of the wrong kind or count, argmax metrics on items with several true
      answers (mc2 items), an item file that cannot be read; MissingFileError: no item file.
  """

  def __init__(self, target, items, tokenizer, apply_fn=None, *, every: int = 100,
               metric: str | AnswerRule | Mapping | None = None, prefix: str = "tinyjax", skip: Sequence[str] = (),
               generate_kwargs: Mapping | None = None, workflow: str = "static", n_rounds: int | None = None,
               n_per_round: int | None = None, **scorer_kwargs):
    from tinyjax.adaptive import AdaptiveRounds

    _check_run(apply_fn, every)
    check_choice(workflow, WORKFLOWS, "workflow")
    self.target: EvalTarget = check_target(target)
    anchors = {str(b): [str(a) for a in ids] for b, ids in self.target.evaluation_anchors().items()}
    names = list(anchors)
    if isinstance(metric, Mapping):
      unknown = sorted(set(map(str, metric)) - set(names))
      if unknown:
        raise ConfigError(f"metric names benchmarks the target does not have: {unknown}; the target has {names}")
    if isinstance(skip, str) or set(map(str, skip)) - set(names):
      raise ConfigError(f"skip must list benchmarks of the target {names}, got {skip!r}")
    items = self._items_by_benchmark(items, names, skip)
    self.every = int(every)
    self.prefix = prefix
    window = int(scorer_kwargs.get("max_length") or getattr(apply_fn, "max_length", None) or DEFAULT_MAX_LENGTH)
    chosen: dict[str, list] = {}
    skipped: dict[str, str] = {}
    self.workflow: dict[str, str] = {}
    self.adaptive: dict[str, AdaptiveRounds] = {}
    self.last_adaptive: dict = {}
    for b in names:
      if b in skip or b not in items:
        skipped[b] = "skip= names it" if b in skip else "no items given"
        continue
      member = self.target.member(b)[0] if isinstance(self.target, TargetGroup) else self.target
      can_adapt = isinstance(member, AdaptiveTarget) and len(member.evaluation_anchors()) == 1
      flow = workflow
      if workflow == "recommended":
        flow = member.recommendation["workflow"] if can_adapt else "static"
      if flow == "adaptive":
        if not can_adapt:
          raise ConfigError(f"{b}: workflow 'adaptive' needs a TinyBenchmark (items asked by Fisher information), "
                            f"got {type(member).__name__}")
        chosen[b] = _all_items(member, items[b], b)
        member.adaptive_interval(np.zeros(1), np.zeros((1, member.irt_model.dim)))   # ConfigError if uncalibrated
        budget = int(member.recommendation["budget"])
        rounds = min(DEFAULT_ROUNDS, budget) if n_rounds is None else n_rounds
        per = math.ceil(budget / rounds) if n_per_round is None and isinstance(rounds, int) else n_per_round
        self.adaptive[b] = AdaptiveRounds(member.irt_model, n_rounds=rounds, n_per_round=per,
                                          item_weights=member.item_weights)
      else:
        all_ids = list(map(str, member.item_ids)) if isinstance(member, AdaptiveTarget) else None
        chosen[b] = _anchor_items(items[b], anchors[b], all_ids, b)
        gen_budget = max((it.max_gen_toks for it in chosen[b] if isinstance(it, Generate)), default=0)
        if gen_budget and window - gen_budget < 1:
          skipped[b] = (f"the model window of {window} tokens leaves no room for a prompt and {gen_budget} new "
                        "tokens")
          del chosen[b]
          continue
      self.workflow[b] = flow
    if not chosen:
      reasons = "; ".join(f"{b}: {why}" for b, why in skipped.items())
      raise ConfigError(f"no benchmark of the target can be scored ({reasons})")
    if isinstance(self.target, TargetGroup):   # each member is estimated from its own answers only
      for key in self.target.members:
        own = self.target.benchmarks_of(key)
        if not any(b in chosen for b in own):
          raise ConfigError(f"target {key!r} has nothing to score ({'; '.join(f'{b}: {skipped[b]}' for b in own)})")
    if skipped:
      log.warning("TinyEvalHook: skipping %s; %s", "; ".join(f"{b} ({why})" for b, why in skipped.items()),
                  f"the target estimates them from the answers on {', '.join(chosen)} ({prefix}/average_covers)")
    self.skipped: tuple[str, ...] = tuple(skipped)
    self.metric = self._metrics(metric, chosen)
    self._setup(chosen, tokenizer, apply_fn, scorer_kwargs, generate_kwargs)

  @staticmethod
  def _items_by_benchmark(items, names: list[str], skip: Sequence[str]) -> dict:
    """``{benchmark: items}`` from the forms ``items`` may take (see the class docstring); item files are read for
    the benchmarks not skipped."""
    if isinstance(items, (str, os.PathLike)):
      return {b: leaderboard_items(items, b) for b in names if b not in skip}
    one = len(names) == 1
    if one and isinstance(items, Sequence) and not isinstance(items, str):
      return {names[0]: items}
    if not isinstance(items, Mapping):
      raise ConfigError(f"items must be {{benchmark: items}} or the folder of the item files, got "
                        f"{type(items).__name__}")
    if one and items and all(_is_request(v) for v in items.values()):
      return {names[0]: items}   # a one-benchmark target's {item id: item}
    unknown = sorted(set(map(str, items)) - set(names))
    if unknown:
      raise ConfigError(f"items name benchmarks the target does not have: {unknown}; the target has {names}")
    for b, its in items.items():
      if isinstance(its, str) or not isinstance(its, (Mapping, Sequence)):
        raise ConfigError(f"items[{b!r}] must be {{item id: MultipleChoice or Generate}} or a list of them, got "
                          f"{type(its).__name__}")
    return {str(b): its for b, its in items.items()}

  @staticmethod
  def _metrics(metric, items: dict[str, list]) -> dict:
    """The correctness rule of each benchmark scored, checked against its items."""
    if isinstance(metric, Mapping):
      chosen = {b: metric.get(b) or _default_metric(b, items[b]) for b in items}
    elif metric is None:
      chosen = {b: _default_metric(b, items[b]) for b in items}
    else:   # one name: for every benchmark of its kind (a choice rule, or an answer rule for generation)
      fit = [b for b in items if _fits(metric, items[b])]
      if not fit:
        b = next(iter(items))
        kind = ("is scored by generation: its metric must be an answer rule "
                f"{sorted(ANSWER_RULES)} or an AnswerRule" if isinstance(items[b][0], Generate)
                else f"must be one of {HOOK_METRICS}")
        raise ConfigError(f"metric {metric!r} fits no benchmark: {b!r} {kind}")
      chosen = {b: metric if b in fit else _default_metric(b, items[b]) for b in items}
    for b, m in chosen.items():
      if isinstance(items[b][0], Generate):
        if not _fits(m, items[b]):
          raise ConfigError(f"{b!r} is scored by generation: its metric must be an answer rule "
                            f"{sorted(ANSWER_RULES)} or an AnswerRule, got {m!r}")
        missing = [k for k, it in enumerate(items[b]) if it.target is None]
        if missing:
          raise ItemError(f"items[{b!r}][{missing[0]}] has no target: a generation benchmark is graded against "
                          "Generate.target")
        continue
      if m not in HOOK_METRICS:
        raise ConfigError(f"metric for {b!r} must be one of {HOOK_METRICS}, got {m!r}")
      if m == "mc2" and any(it.labels is None for it in items[b]):
        raise ItemError(f"metric 'mc2' for {b!r} needs items with labels (the true answers), as "
                        "evaluate.leaderboard_items(..., 'truthfulqa', truthfulqa_targets='mc2') builds them")
      several = [k for k, it in enumerate(items[b]) if m != "mc2" and it.labels is not None and sum(it.labels) > 1]
      if several:
        raise ItemError(f"items[{b!r}][{several[0]}] (and {len(several) - 1} more) has several true answers (mc2 "
                        f"items), and {m!r} reads one: the argmax rules give MC1 only on items with one true answer "
                        "(metabench's truthfulqa matrix holds MC1: evaluate.leaderboard_items(..., 'truthfulqa'), "
                        "its default); score mc2 items with metric 'mc2'")
    return chosen

  def _setup(self, items: dict[str, list], tokenizer, apply_fn, scorer_kwargs: dict, generate_kwargs=None):
    """Builds the one Scorer (and Generator) and tokenizes every request once."""
    self.rules: dict[str, AnswerRule] = {b: answer_rule(m) for b, m in self.metric.items()
                                         if isinstance(items[b][0], Generate)}
    self.items = items
    self.scorer = Scorer(apply_fn, tokenizer, **scorer_kwargs)
    self.generator = None
    if self.rules:
      shared = {k: v for k, v in scorer_kwargs.items() if k in _SHARED_SETTINGS}
      self.generator = Generator(apply_fn, tokenizer, **shared, **dict(generate_kwargs or {}))
    # Tokenize once: the requests never change during training.
    static = [name for name in self.items if name not in self.rules and name not in self.adaptive]
    self._all_items = [it for name in static for it in self.items[name]]
    self._gen_items = [it for name in self.rules for it in self.items[name]]
    self._spans, self._gen_spans = {}, {}
    # Adaptive benchmarks: every item's requests, tokenized once; each round scores the ones it asks.
    self._item_requests = {name: [[self.scorer.encode(c, x) for c, x in it.requests()] for it in self.items[name]]
                           for name in self.adaptive}
    start = gen_start = 0
    for name in self.items:
      if name in self.adaptive:
        continue
      if name in self.rules:
        self._gen_spans[name] = (gen_start, gen_start + len(self.items[name]))
        gen_start += len(self.items[name])
      else:
        self._spans[name] = (start, start + len(self.items[name]))
        start += len(self.items[name])
    self._encoded = [self.scorer.encode(c, x) for it in self._all_items for c, x in it.requests()]
    if self.adaptive:
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
    if not every:   # generation benchmarks only: nothing to score
      return
    plan = self.scorer.plan(every)
    self.scorer.pack_length = plan.shapes[0][1]
    self.scorer.fix_score_fraction(self.scorer.score_fraction)

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

    Keys, for each benchmark ``b`` of the target: ``{prefix}/{b}/estimate``, the recommended full-score estimate,
    with ``.../estimate_lo`` and ``.../estimate_hi`` its interval (a TinyBenchmark's ``est.score``, ``est.lo``,
    ``est.hi`` of ``tb.estimate(correct)``; a suite's ``scores``, ``lower``, ``upper``; in the target's unit:
    fractions for tiny benchmarks, the suite's ``full_scores``' unit, percent for the Open LLM Leaderboard);
    every estimator of a tiny benchmark or leaderboard under its own name (``.../naive``, ``.../pirt``,
    ``.../gpirt``, ...); ``.../answered`` (anchor items scored, 0 for a benchmark not scored, which the target
    estimates from the others); and for the benchmarks scored ``.../raw_acc`` (mean anchor correctness) and
    ``.../correct`` ([A] float32 0/1 per anchor item; TruthfulQA's MC1 correctness), and for an mc2 benchmark
    ``.../mc2`` (the mean mc2 before binarization). A target that estimates an average (a suite) adds
    ``{prefix}/average``, ``.../average_lo``, ``.../average_hi`` (over every benchmark) and
    ``{prefix}/average_covers``, a string naming the benchmarks answered (comma-separated). Always:
    ``{prefix}/eval_seconds`` and, when some benchmark is scored by log-likelihoods, ``{prefix}/padding_fraction``.

    A benchmark run adaptively (``workflow``) reports ``.../estimate`` (``tb.adaptive_score``: p-IRT from the items
    asked), ``.../estimate_lo``, ``.../estimate_hi`` (``tb.adaptive_interval``), ``.../n_asked``, ``.../raw_acc``
    and ``.../correct`` (the asked items' correctness, in the order asked; their indices and the ability are in
    ``hook.last_adaptive[b]``, a :class:`tinyjax.adaptive.AdaptiveRun`), and ``.../mc2`` for an mc2 benchmark.

    With generation benchmarks, ``.../correct`` is the answer rule's grade of each greedy generation, and the
    dict also holds ``{prefix}/generation_seconds`` (part of ``eval_seconds``) and ``{prefix}/new_tokens``.
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
    for name, (lo_i, hi_i) in self._spans.items():
      if self.metric[name] == "mc2":
        values = np.array([mc2_score(loglik[i, :len(it.choices)], it.labels)
                           for i, it in zip(range(lo_i, hi_i), self.items[name])])
        metrics[f"{self.prefix}/{name}/mc2"] = float(values.mean())
        correct[name] = (values > MC2_THRESHOLD).astype(np.float32)
      else:
        correct[name] = accuracies[self.metric[name]][lo_i:hi_i]
    correct = {name: correct[name] for name in self.items if name in correct}   # the target's order
    for name in self.adaptive:
      self._adaptive_metrics(name, params, metrics)
    if correct:
      self._static_metrics(correct, metrics)
    self.calls += 1
    self.last_seconds = time.perf_counter() - t0
    metrics[f"{self.prefix}/eval_seconds"] = self.last_seconds
    if self._encoded or self.adaptive:
      metrics[f"{self.prefix}/padding_fraction"] = self.scorer.last_plan.padding_fraction
    return metrics

  def _static_metrics(self, correct: dict[str, np.ndarray], metrics: dict):
    """The target's estimates from the answers on the anchors of the benchmarks scored (absent = not answered)."""
    ev = self.target.evaluate_answers(correct)
    for b, (estimate, lower, upper) in ev.scores.items():
      key = f"{self.prefix}/{b}"
      metrics[f"{key}/estimate"] = float(estimate)
      metrics[f"{key}/estimate_lo"] = float(lower)
      metrics[f"{key}/estimate_hi"] = float(upper)
      for name, value in ev.others.get(b, {}).items():
        metrics[f"{key}/{name}"] = float(value)
      metrics[f"{key}/answered"] = int(correct[b].size) if b in correct else 0
      if b in correct:
        metrics[f"{key}/raw_acc"] = float(correct[b].mean())
        metrics[f"{key}/correct"] = correct[b]
    if ev.average is not None:
      metrics[f"{self.prefix}/average"] = float(ev.average.estimate)
      metrics[f"{self.prefix}/average_lo"] = float(ev.average.lower)
      metrics[f"{self.prefix}/average_hi"] = float(ev.average.upper)
      metrics[f"{self.prefix}/average_covers"] = ",".join(correct)

  def _adaptive_metrics(self, name: str, params, metrics: dict):
    """Runs the adaptive rounds of benchmark ``name`` (each round scores the items it asks) and adds its metrics."""
    tb = self.target.member(name)[0] if isinstance(self.target, TargetGroup) else self.target
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
