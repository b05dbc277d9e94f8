"""Batched, bucketed, optionally sharded log-likelihood scoring of multiple-choice items.

:class:`Scorer` keeps one jitted function for its whole life, so each distinct batch shape (one per length
bucket) is compiled once per training run, however often it is called. :func:`score` is the one-call form.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import os
import weakref
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tinyjax import kernels
from tinyjax._dtypes import resolve_dtype
from tinyjax.errors import ConfigError, InputError, ItemError
from tinyjax.scoring.batching import BatchPlan, EncodedRequest, plan_batches, power_of_two_buckets
from tinyjax.scoring.items import check_items
from tinyjax.scoring.requests import MultipleChoice, encode_pair, mc2, truncate_left
from tinyjax.scoring.tokenizers import TokenizerAdapter, as_tokenizer
from tinyjax.scoring.adapter import ModelAdapter, resolve_params, rows_per_batch, scoring_forward  # noqa: F401

DEFAULT_MAX_LENGTH = 2048  # lm-eval's default window when the model does not say


@dataclasses.dataclass(frozen=True)
class ScoreResult:
  """Scores of N multiple-choice items with at most C choices.

  Attributes:
    loglik: [N, C] float32 log-likelihood of each choice's continuation, -inf where an item has fewer choices.
    is_greedy: [N, C] bool, every continuation token is the model's argmax (False for missing choices).
    n_choices: [N] int, choices per item.
    gold: [N] int, the gold index.
    acc: [N] 0/1, argmax loglik == gold (ties go to the first choice, as np.argmax in lm-eval).
    acc_norm: [N] 0/1, argmax of loglik / len(choice) in characters.
    acc_bytes: [N] 0/1, argmax of loglik / len(choice) in UTF-8 bytes.
    acc_mutual_info: [N] 0/1, argmax of loglik - loglik_unconditional, or None when not requested.
    loglik_unconditional: [N, C] log-likelihood of the continuations after an empty context, or None.
    mc2: [N] TruthfulQA-mc2 normalised probability of the true answers, NaN for items without ``labels``.
    n_tokens: real model input positions of the unique requests scored.
    padding_fraction: share of the positions sent to the model that were padding (dummy rows included).
    n_requests: unique requests scored (identical requests are scored once).
  """

  loglik: np.ndarray
  is_greedy: np.ndarray
  n_choices: np.ndarray
  gold: np.ndarray
  acc: np.ndarray
  acc_norm: np.ndarray
  acc_bytes: np.ndarray
  acc_mutual_info: np.ndarray | None
  loglik_unconditional: np.ndarray | None
  mc2: np.ndarray
  n_tokens: int
  padding_fraction: float
  n_requests: int


#: Candidate score fractions, tried in this order (ties keep the first). The small ones suit one-token or short
#: continuations (MMLU, ARC, WinoGrande); the output projection is then computed at a few positions per row.
_FRACTIONS = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 1.0)
#: A fraction not used before by a Scorer replaces the used ones only when its plan costs this many times less.
SWITCH_GAIN = 1.25


def _head_weight(model) -> float:
  """Work of the output projection at one position relative to the rest of the model (parameter counts).

  A position costs about two FLOPs per parameter it uses: the transformer body uses all parameters but the
  embedding tables, the output projection uses the vocabulary matrix. GPT-2 small: 38.6M / 85.0M = 0.45.
  """
  if not isinstance(model, nnx.Module):
    return 0.0
  try:
    total = sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    tables = sum(int(m.embedding.size) for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Embed))
    head = model.token_embedding.embedding.size if model.lm_head is None else model.lm_head.kernel.size
    body = total - tables - (0 if model.lm_head is None else int(head))
    return float(head) / max(1, body)
  except AttributeError:
    return 0.0


#: Positions per batch of a packed plan with rows of several lengths (``plan_batches(row_tokens=)``), measured
#: with benchmarks/bench_scoring.py --lm-eval on 2 CPU cores.
DEFAULT_ROW_TOKENS = 4096


def _attention_weight(model) -> float:
  """Dense attention's work per query-key pair relative to the body's work per position (``row_cost``).

  Per layer a pair costs 4 * d FLOPs (scores and weighted values over all heads) and a position about two FLOPs
  per body parameter; the masked softmax over the [T, T] scores doubles the pair's cost on a CPU (measured).
  """
  try:
    d = int(model.token_embedding.embedding.shape[1])
    layers = len(model.layer_stack())
    total = sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    tables = sum(int(m.embedding.size) for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Embed))
    body = total - tables - (0 if model.lm_head is None else int(model.lm_head.kernel.size))
    return 2.0 * 4 * d * layers / max(1, 2 * body)
  except (AttributeError, TypeError):
    return 0.0


def _argmax_acc(values: np.ndarray, gold: np.ndarray) -> np.ndarray:
  return (np.argmax(values, axis=1) == gold).astype(np.float32)


#: The correctness rules of :func:`choice_accuracies` (lm-eval's acc, acc_norm and acc_bytes).
ACCURACY_METRICS = ("acc", "acc_norm", "acc_bytes")


def choice_matrix(items: Sequence[MultipleChoice], values: np.ndarray, fill, dtype) -> np.ndarray:
  """Per-request values in item order ([R], R = total choices) as an [N, C] matrix, ``fill`` past each item's choices."""
  c_max = max(len(it.choices) for it in items)
  out = np.full((len(items), c_max), fill, np.dtype(dtype))
  k = 0
  for i, it in enumerate(items):
    out[i, :len(it.choices)] = values[k:k + len(it.choices)]
    k += len(it.choices)
  return out


def choice_accuracies(items: Sequence[MultipleChoice], loglik: np.ndarray) -> dict[str, np.ndarray]:
  """lm-eval's correctness of each item from its choices' log-likelihoods: the one rule for the scorer and the hook.

  Args:
    items: N items.
    loglik: [N, C] log-likelihoods, -inf past an item's choices (:func:`choice_matrix`).

  Returns:
    ``{"acc", "acc_norm", "acc_bytes"}`` -> [N] float32 0/1: the argmax of ``loglik``, of ``loglik`` divided by
    each choice's length in characters, and in UTF-8 bytes, equals ``gold`` (ties go to the first choice). With
    partial scoring the length is that of ``context + choice`` (``MultipleChoice.norm_texts``), as in lm-eval.
  """
  n, c_max = loglik.shape
  gold = np.array([it.gold for it in items], np.int64)
  chars = np.ones((n, c_max))
  nbytes = np.ones((n, c_max))
  for i, it in enumerate(items):
    texts = it.norm_texts()   # the choices (or context + choice with partial scoring), as lm-eval
    chars[i, :len(texts)] = [len(c) for c in texts]
    nbytes[i, :len(texts)] = [len(c.encode("utf-8")) for c in texts]
  with np.errstate(divide="ignore", invalid="ignore"):
    ll64 = loglik.astype(np.float64)
    return {"acc": _argmax_acc(loglik, gold), "acc_norm": _argmax_acc(ll64 / chars, gold),
            "acc_bytes": _argmax_acc(ll64 / nbytes, gold)}


def put_rows(x: np.ndarray, mesh: jax.sharding.Mesh | None, data_axis: str = "data") -> jax.Array:
  """A host array [B, ...] on the device(s): sharded by rows along ``data_axis`` of ``mesh`` when one is given."""
  if mesh is None:
    return jnp.asarray(x)
  sharding = NamedSharding(mesh, P(data_axis, *([None] * (x.ndim - 1))))
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


class Scorer:
  """Scores log-likelihood requests with a causal LM, one compilation per batch shape for its whole life.

  Args:
    model: an ``apply_fn(params, tokens) -> logits`` ([B, L] int32 -> [B, L, V]), or a Flax NNX module called
      as ``module(tokens)``. A module (or apply_fn) that sets ``supports_packing = True`` is called as
      ``f(tokens, segment_ids=, positions=, branch_ids=)`` so that several requests share a row: position q may
      attend to position k <= q when ``segment_ids`` match and ``branch_ids[k]`` is 0 or equal to
      ``branch_ids[q]``; ``positions`` restart for each packed unit.
    tokenizer: see :func:`tinyjax.scoring.tokenizers.as_tokenizer` (``encode(text) -> list[int]``,
      ``tokenizers.Tokenizer``, transformers tokenizer, or a local folder).
    mesh: optional ``jax.sharding.Mesh`` (Auto axes); batches are sharded along ``data_axis`` and the
      parameters keep whatever sharding the caller gave them.
    batch_size: rows per batch; rounded up to a multiple of the data-axis size.
    max_length: model window; default ``model.max_length`` or ``DEFAULT_MAX_LENGTH`` (2048).
    truncate: left-truncate long requests to ``max_length + 1`` tokens as lm-eval does; if False, raise.
    pack: pack short requests into shared rows (default: when the model supports it).
    pack_length: row length when packing (default: smallest bucket holding the longest request).
    buckets: allowed row lengths (default 16, 24, 32, 48, 64, ... up to ``max_length``: powers of two and 1.5x
      powers of two).
    max_segments: most requests in one packed row.
    share_prefix: with packing, feed a context once for all the requests that continue it (default True);
      each continuation attends to the shared context and itself only, so results are unchanged.
    data_axis: the mesh axis of the batch.
    prefix_token_id: token put before an empty context (default: the tokenizer's BOS, else EOS).
    score_fraction: at most this share of the positions of a batch are scored (continuation tokens): K =
      ceil(group_rows * L * score_fraction) per group of ``group_rows`` rows. The logits are computed only there
      when the module has ``hidden``/``head`` methods (the NNX ports do; they also run their last layer only
      there), else gathered. Requests whose continuation is longer go to a longer bucket. Default (None): for
      each call, the cheapest of 1/64, 1/32, ..., 1/2 and 1 for that call's requests (see :meth:`plan`); a
      fraction used before is kept unless another is 1.25x cheaper, so later calls reuse the compilations.
    group_rows: rows that share one budget of scored positions (default: the largest divisor of the per-device
      rows with ``group_rows * score_fraction <= 1``, so the last layer's attention costs no more than another
      layer's). Rows with long continuations then sit next to rows with short ones.
    dtype: float dtype of returned log-likelihoods (float32 default; float64 needs jax_enable_x64).
  """

  def __init__(self, model, tokenizer, *, mesh: jax.sharding.Mesh | None = None, batch_size: int = 8,
               max_length: int | None = None, truncate: bool = True, pack: bool | None = None,
               pack_length: int | None = None, buckets: Sequence[int] | None = None, max_segments: int = 32,
               share_prefix: bool | None = None, score_fraction: float | None = None, group_rows: int | None = None,
               data_axis: str = "data", prefix_token_id: int | None = None, dtype=None):
    self.batch_size, n_data = rows_per_batch(batch_size, mesh, data_axis)
    self.tokenizer = as_tokenizer(tokenizer, prefix_token_id)
    self.mesh = mesh
    self.data_axis = data_axis
    self.adapter = ModelAdapter.of(model)
    self._logits_at = scoring_forward(self.adapter)   # GatherLogits, HeadAt or LastLayerAt
    self.dtype = resolve_dtype(dtype)
    self.pack = self.adapter.supports_packing if pack is None else bool(pack)
    if max_length is None:
      max_length = self.adapter.max_length or DEFAULT_MAX_LENGTH
    if int(max_length) < 1:
      raise ConfigError(f"max_length must be >= 1, got {max_length}")
    self.max_length = int(max_length)
    self.truncate = bool(truncate)
    self.buckets = (tuple(sorted(buckets)) if buckets is not None
                    else power_of_two_buckets(self.max_length, half_steps=True))
    if self.buckets[-1] < self.max_length and truncate:
      raise ConfigError(f"the largest bucket {self.buckets[-1]} is below max_length {self.max_length}")
    self.pack_length = pack_length
    self.max_segments = int(max_segments) if self.pack else 1
    self.share_prefix = self.pack and (True if share_prefix is None else bool(share_prefix))
    if share_prefix and not self.pack:
      raise ConfigError("share_prefix needs packing (a model with supports_packing, or pack=True)")
    self.vocab_size = self.adapter.vocab_size
    if score_fraction is not None and not 0.0 < float(score_fraction) <= 1.0:
      raise ConfigError(f"score_fraction must be in (0, 1], got {score_fraction}")
    self._per_device = self.batch_size // n_data
    if group_rows is not None and (isinstance(group_rows, bool) or not isinstance(group_rows, (int, np.integer))
                                   or group_rows < 1 or self._per_device % group_rows):
      raise ConfigError(f"group_rows must be a positive divisor of the rows per device ({self._per_device}), "
                       f"got {group_rows!r}")
    self._group_rows_arg = group_rows
    self._fraction_arg = None if score_fraction is None else float(score_fraction)
    self.score_fraction: float | None = None   # the fraction of the last plan (the given one, if any)
    self.group_rows: int | None = None
    self._used_fractions: set[float] = set()
    self._last_plan = None   # (key, plan) of the last call: the same requests reuse it
    if score_fraction is not None:
      self._fix_fraction(float(score_fraction))
    self._traced_vocab = None
    self._head_weight = _head_weight(model) if self.adapter.has_head else 0.0
    self._attention_weight = _attention_weight(model) if self.adapter.is_module else 0.0
    self._n_data = n_data
    self.row_tokens = DEFAULT_ROW_TOKENS if self.pack and pack_length is None else None
    self.compilations = 0  # traces of the jitted scoring function (one per distinct batch shape)
    self.last_plan: BatchPlan | None = None
    self._jitted = jax.jit(self._forward)

  @property
  def apply_fn(self) -> Callable | None:
    """The ``apply_fn`` scored (None when the model is an NNX module)."""
    return None if self.adapter.is_module else self.adapter.model

  def _fix_fraction(self, fraction: float):
    self.score_fraction = fraction
    self.group_rows = self._rows_for(fraction)

  def _rows_for(self, fraction: float) -> int:
    if self._group_rows_arg is not None:
      return int(self._group_rows_arg)
    per = self._per_device
    return max(r for r in range(1, per + 1) if per % r == 0 and (r == 1 or r * fraction <= 1.0))

  def fix_score_fraction(self, fraction: float):
    """Keeps ``fraction`` for every later plan, as if it had been given to the constructor."""
    if not 0.0 < float(fraction) <= 1.0:
      raise ConfigError(f"score_fraction must be in (0, 1], got {fraction}")
    self._fraction_arg = float(fraction)
    self._fix_fraction(float(fraction))

  def plan(self, reqs: Sequence[EncodedRequest]) -> BatchPlan:
    """The batch plan of ``reqs``: how they are packed into the compiled shapes (no model call).

    When ``score_fraction`` was not given, each call plans ``reqs`` with every candidate fraction and takes the
    cheapest (positions fed plus the output projection's share of the work at the scored positions). A fraction
    used before is preferred unless a new one costs at most ``1 / SWITCH_GAIN`` of it, so calls on similar
    requests reuse the compiled shapes, and at most one program is compiled per (fraction, row shape). The
    choice is deterministic: the same requests always give the same plan, so a caller that plans ahead (the
    evaluation hook) gets the shapes its later calls will use. A call with the same requests as the last one
    (and the same settings) returns the last plan without planning again (0.7 s for 100 MMLU items).

    Args:
      reqs: encoded requests ([T_i] token ids each).

    Returns:
      :class:`tinyjax.scoring.batching.BatchPlan`: the batches, their shapes and the positions fed.
    """
    def plan(fraction, rows):
      return plan_batches(reqs, batch_size=self.batch_size, buckets=self.buckets, pack=self.pack,
                          pack_length=self.pack_length, max_segments=self.max_segments,
                          share_prefix=self.share_prefix, score_fraction=fraction, group_rows=rows,
                          row_tokens=self.row_tokens, attention_weight=self._attention_weight,
                          min_rows=self._n_data)
    key = (tuple(reqs), self._fraction_arg, self.pack_length, self.row_tokens, self.buckets, self.max_segments)
    if self._last_plan is not None and self._last_plan[0] == key:   # the same requests again (a training hook)
      return self._last_plan[1]
    if self._fraction_arg is not None or not reqs:
      fraction = self._fraction_arg or self.score_fraction or 1.0
      out = plan(fraction, self._rows_for(fraction))
      self._last_plan = (key, out)
      return out
    costs = {}
    for fraction in _FRACTIONS:
      try:
        candidate = plan(fraction, self._rows_for(fraction))
      except ValueError:
        continue
      costs[fraction] = (candidate.cost + self._head_weight * candidate.n_score_slots, candidate)
    if not costs:
      return plan(1.0, 1)   # raises the planner's error
    used = [f for f in costs if f in self._used_fractions]
    best = min(costs, key=lambda f: costs[f][0])
    if used:
      known = min(used, key=lambda f: costs[f][0])
      if costs[best][0] * SWITCH_GAIN > costs[known][0]:
        best = known
    self._used_fractions.add(best)
    self._fix_fraction(best)
    self._last_plan = (key, costs[best][1])
    return costs[best][1]

  # -- device side ------------------------------------------------------------------------------------------
  def _forward(self, params, tokens, segment_ids, branch_ids, positions, score_index, score_targets, score_slots,
               score_valid):
    self.compilations += 1  # runs once per trace, i.e. per compilation
    packing = dict(segment_ids=segment_ids, positions=positions, branch_ids=branch_ids) if self.pack else {}
    logits = self._logits_at(self.adapter, params, tokens, packing, score_index)   # [G, K, V]
    self._traced_vocab = int(logits.shape[-1])  # trace-time record, to check token ids on the host
    rows = tokens.shape[0] // score_index.shape[0]   # rows per score group
    out = kernels.segment_logprobs(logits, score_targets, score_slots, score_valid, rows * self.max_segments,
                                   dtype=self.dtype)
    out = jax.tree.map(lambda a: a.reshape(tokens.shape[0], self.max_segments), out)  # [G, R * S] -> [B, S]
    if self.mesh is not None:  # replicate the small outputs so every process can read them (multi-host)
      out = jax.lax.with_sharding_constraint(out, NamedSharding(self.mesh, P()))
    return out

  def _put(self, x: np.ndarray):
    return put_rows(x, self.mesh, self.data_axis)

  def _params(self, params):
    return self.adapter.params(params)

  def _check_vocab(self, top: int):
    vocab = self.vocab_size if self.vocab_size is not None else self._traced_vocab
    if vocab is not None and top >= vocab:
      raise ItemError(f"token id {top} is outside the model vocabulary of {vocab}")

  # -- host side --------------------------------------------------------------------------------------------
  def encode(self, context: str, continuation: str) -> EncodedRequest:
    """Tokenizes one request with lm-eval rules and left-truncates it to the model window."""
    ctx, cont = encode_pair(self.tokenizer.encode, context, continuation, self.tokenizer.prefix_token_id)
    ids, n_cont = truncate_left(ctx, cont, self.max_length, self.truncate)
    if len(ids) - n_cont < 1:
      raise ItemError(f"the context of request ({context!r}, {continuation!r}) encodes to no token")
    return EncodedRequest(tuple(ids), n_cont)

  def loglikelihood(self, requests: Sequence[tuple[str, str]], params=None) -> tuple[np.ndarray, np.ndarray]:
    """lm-eval's ``loglikelihood``: for each ``(context, continuation)``, ``log p(continuation | context)``.

    Returns:
      ``(loglik, is_greedy)``: [R] float and [R] bool.
    """
    encoded = [self.encode(c, x) for c, x in requests]
    return self.score_encoded(encoded, params)

  def score_encoded(self, encoded: Sequence[EncodedRequest], params=None) -> tuple[np.ndarray, np.ndarray]:
    """Scores already tokenized requests; identical requests are computed once. Returns [R] loglik, [R] greedy."""
    params = self._params(params)
    unique: dict[EncodedRequest, int] = {}
    where = np.empty(len(encoded), np.int64)
    for i, req in enumerate(encoded):
      where[i] = unique.setdefault(req, len(unique))
    reqs = list(unique)
    self.last_num_unique = len(reqs)
    top = max((max(r.ids) for r in reqs), default=-1)
    if reqs and min(min(r.ids) for r in reqs) < 0:
      raise ItemError("negative token id: the tokenizer returned an id below 0")
    self._check_vocab(top)
    plan = self.plan(reqs)
    self.last_plan = plan
    logprob = np.zeros(len(reqs), np.dtype(self.dtype))
    greedy = np.zeros(len(reqs), bool)
    pending = []
    for batch in plan.batches:  # dispatch all batches first, then read back (keeps the device busy)
      arrays = (batch.tokens, batch.segment_ids, batch.branch_ids, batch.positions, batch.score_index,
                batch.score_targets, batch.score_slots, batch.score_valid)
      out = self._jitted(params, *(self._put(a) for a in arrays))
      pending.append((batch.request_index, out))
    self._check_vocab(top)  # the first call of an apply_fn reveals its vocabulary only when traced
    for index, out in pending:
      lp, gr = np.asarray(out.logprob), np.asarray(out.is_greedy)
      ok = index >= 0
      logprob[index[ok]] = lp[ok]
      greedy[index[ok]] = gr[ok]
    return logprob[where], greedy[where]

  def score(self, items: Sequence[MultipleChoice], params=None, *, mutual_info: bool = False) -> ScoreResult:
    """Scores multiple-choice items (see :class:`ScoreResult`).

    Args:
      items: the items.
      params: the model parameters (for an apply_fn), or the module's state / the module itself (for an NNX
        module; default: the module's current state).
      mutual_info: also score each continuation after an empty context and report acc_mutual_info.
    """
    items = check_items(items, MultipleChoice)
    n = len(items)
    pairs = [pair for it in items for pair in it.requests()]
    if mutual_info:
      pairs += [pair for it in items for pair in it.unconditional_requests()]
    encoded = [self.encode(c, x) for c, x in pairs]
    ll, gr = self.score_encoded(encoded, params)
    plan = self.last_plan
    n_cond = sum(len(it.choices) for it in items)
    loglik = choice_matrix(items, ll[:n_cond], -np.inf, self.dtype)
    greedy = choice_matrix(items, gr[:n_cond], False, bool)
    uncond = choice_matrix(items, ll[n_cond:], -np.inf, self.dtype) if mutual_info else None
    gold = np.array([it.gold for it in items], np.int64)
    n_choices = np.array([len(it.choices) for it in items], np.int64)
    acc = choice_accuracies(items, loglik)
    acc_mi = None
    if mutual_info:
      with np.errstate(invalid="ignore"):
        mi = np.where(np.isfinite(loglik), loglik.astype(np.float64) - uncond, -np.inf)
      acc_mi = _argmax_acc(mi, gold)
    mc2_scores = np.full(n, np.nan)
    for i, it in enumerate(items):
      if it.labels is not None:
        mc2_scores[i] = mc2(loglik[i, :len(it.choices)], it.labels)
    return ScoreResult(loglik=loglik, is_greedy=greedy, n_choices=n_choices, gold=gold,
                       acc=acc["acc"], acc_norm=acc["acc_norm"], acc_bytes=acc["acc_bytes"],
                       acc_mutual_info=acc_mi, loglik_unconditional=uncond, mc2=mc2_scores,
                       n_tokens=plan.n_real_tokens, padding_fraction=plan.padding_fraction,
                       n_requests=self.last_num_unique)


class _WeakScorerCache:
  """Scorers reused across calls with the same model, tokenizer and settings, never keeping a model alive.

  The cached Scorer reaches the model (and the tokenizer, when it can be weakly referenced) only through weak
  references, and its entry is dropped as soon as either is garbage collected: a model the caller lets go is
  freed together with its compiled functions. At most ``size`` entries are kept (the oldest goes first).
  """

  def __init__(self, size: int, factory=None):
    self.size = size
    self.factory = factory   # builds the cached object: Scorer by default (tinyjax.scoring.generate: Generator)
    self._entries: collections.OrderedDict = collections.OrderedDict()

  def get(self, model, tokenizer, **settings) -> Scorer:
    tok_key = os.fspath(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else id(tokenizer)
    key = (id(model), tok_key, id(settings.get("mesh")),
           tuple(sorted((k, repr(v)) for k, v in settings.items() if k != "mesh")))
    entry = self._entries.get(key)
    if entry is not None and entry[0].adapter.model is model and (isinstance(tok_key, str) or entry[1]() is tokenizer):
      return entry[0]
    drop = lambda _ref, key=key: self._entries.pop(key, None)  # noqa: E731
    scorer = (self.factory or Scorer)(model, tokenizer, **settings)
    scorer.adapter = scorer.adapter.with_ref(weakref.ref(model, drop))
    tok_ref = None
    if not isinstance(tok_key, str):   # a path: the Scorer loaded its own tokenizer
      try:
        tok_ref = weakref.ref(tokenizer, drop)
        adapter = copy.copy(scorer.tokenizer)
        adapter.tokenizer = weakref.proxy(adapter.tokenizer)
        scorer.tokenizer = adapter
      except TypeError:  # not weakly referenceable: held by the entry, which still goes with the model
        tok_ref = lambda: tokenizer  # noqa: E731
    self._entries[key] = (scorer, tok_ref)
    while len(self._entries) > self.size:
      self._entries.popitem(last=False)
    return scorer


_SCORER_CACHE = _WeakScorerCache(16)


def cached_scorer(model, tokenizer, **settings) -> Scorer:
  """A :class:`Scorer` for ``(model, tokenizer, settings)``, reused across calls while the model is alive.

  The one cache behind :func:`score` and :func:`tinyjax.scoring.ask_llm_scores`: repeated calls compile once
  per batch shape, and the cache holds the model and the tokenizer only weakly.
  """
  return _SCORER_CACHE.get(model, tokenizer, **settings)


def score(apply_fn: Callable | nnx.Module, params, tokenizer, items: Sequence[MultipleChoice], mesh=None,
          batch_size: int = 8, **kwargs) -> ScoreResult:
  """Scores multiple-choice items with lm-eval semantics (see :class:`Scorer` for the keyword arguments).

  The Scorer is reused across calls with the same model, tokenizer, mesh and settings (see
  :func:`cached_scorer`), so repeated calls reuse its compilations; the cache never keeps a model alive. For a
  training loop, hold a :class:`Scorer` (or a :class:`TinyEvalHook`) instead.

  Args:
    apply_fn: ``apply_fn(params, tokens [B, L] int32) -> logits [B, L, V]``, or an NNX module.
    params: the parameters of ``apply_fn``; for a module, None (its current state), its state, or a module.
    tokenizer: anything :func:`tinyjax.scoring.tokenizers.as_tokenizer` accepts.
    items: the multiple-choice items.
    mesh: optional Mesh; the batch is sharded along its ``"data"`` axis.
    batch_size: rows per batch.

  Returns:
    A ScoreResult (``loglik`` [N, C], ``acc``, ``acc_norm``, ``acc_bytes``, ``mc2``, ...).
  """
  mutual_info = kwargs.pop("mutual_info", False)
  scorer = cached_scorer(apply_fn, tokenizer, mesh=mesh, batch_size=batch_size, **kwargs)
  return scorer.score(items, params, mutual_info=mutual_info)
