"""Adaptive testing: ask each model the item with the most Fisher information at its current ability.

Every step re-estimates the ability (MAP, Fisher scoring) from the answers so far and picks the unasked
item that maximises ``log det(P + F_i(theta))``, where ``P`` is the prior precision plus the information
of the items already asked and ``F_i`` the item's Fisher information (``tinyjax.kernels.d_optimal_step``).
In one dimension this is the item with the largest information. Testing stops at a budget of items or once every ability standard error
is at most ``se_target``.

- Offline (:func:`simulate`): on a response matrix, batched over many models (one compiled step for all).
- Online (:class:`AdaptiveTest`): one model, ``ask()`` / ``tell(item, answer)``, items by index or id.
- From a tiny benchmark (:class:`AdaptiveSession`, ``TinyBenchmark.adaptive_test()``): the online test with the
  tiny benchmark's conformal interval on its estimate (:class:`AdaptiveScore`).
- In rounds of fixed size (:class:`AdaptiveRounds`): ``r`` items at a time, static shapes, one compilation for a
  whole training run (what ``evaluate.TinyEvalHook(..., workflow="adaptive")`` runs).

The full-benchmark score is then estimated by p-IRT: asked items count for their answers, all others
for their predicted probabilities (``tinyjax.kernels.pirt_scores``, the one p-IRT of tinyjax).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from tinyjax import kernels
from tinyjax import _buckets
from tinyjax._checks import check_count
from tinyjax._progress import progress_bar
from tinyjax.errors import ConfigError, InputError, ItemError, ResponseError
from tinyjax.tiny.estimators import check_item_weights, working_dtype


# One D-optimal step for a batch of examinees (vmapped kernel), and p-IRT; compiled once per shape.
@functools.partial(jax.jit, static_argnames=("max_iter",))
def _adaptive_step(y, asked, available, a, b, c, mean, prec, max_iter):
  step = functools.partial(kernels.d_optimal_step, max_iter=max_iter)
  return jax.vmap(step, in_axes=(0, 0, 0, None, None, None, None, None))(y, asked, available, a, b, c, mean, prec)


_pirt_scores = jax.jit(kernels.pirt_scores)


def _model_arrays(model):
  """a, b, c with the items padded to a bucket size (a = b = c = 0; never available, so never asked), prior."""
  dt = model.a.dtype
  d = model.dim
  i_pad = _buckets.bucket(model.n_items)
  mean = _buckets.device_array(np.zeros(d), dt)
  prec = _buckets.device_array(np.eye(d) / model.config.theta_sd ** 2, dt)
  return (_buckets.device_array(_buckets.pad_to(model.a, (i_pad, d)), dt),
          _buckets.device_array(_buckets.pad_to(model.b, (i_pad,)), dt),
          _buckets.device_array(_buckets.pad_to(model.c, (i_pad,)), dt), mean, prec)


def _pirt(model, theta, y, asked, item_weights):
  """[M] p-IRT estimate from the asked items' answers and the predictions for the rest."""
  p = model.predict_proba(theta)
  dt = working_dtype()   # one precision for the whole estimate (JAX's default float)
  out = _buckets.pirt_scores(_pirt_scores, np.nan_to_num(y), asked, p, item_weights, np.arange(p.shape[1]), dt)
  return np.clip(np.asarray(out, dt), 0.0, 1.0).astype(np.float64)


def _check_budget(model, budget, se_target) -> tuple[int, float | None]:
  budget = check_count(budget, "budget", 1, model.n_items)
  if se_target is not None and not se_target > 0:
    raise ConfigError(f"se_target must be positive, got {se_target}")
  return budget, se_target


@dataclasses.dataclass(frozen=True)
class AdaptiveResult:
  """Outcome of an offline adaptive run over M models.

  Attributes:
    items: [M, budget] int item indices in the order asked (-1 after a model stopped).
    n_asked: [M] number of items asked.
    theta: [M, d] final abilities; se: [M, d] their standard errors.
    estimate: [M] p-IRT full-score estimate (asked items' answers + predictions for the rest).
  """

  items: np.ndarray
  n_asked: np.ndarray
  theta: np.ndarray
  se: np.ndarray
  estimate: np.ndarray


def simulate(model, Y, budget: int, *, se_target: float | None = None, item_weights=None,
             max_iter: int = 30, progress: bool | None = None) -> AdaptiveResult:
  """Offline adaptive testing on a response matrix, batched over models.

  Args:
    model: a fitted :class:`tinyjax.IRTModel` over the columns of ``Y``.
    Y: [M, I] responses of the models to test (0/1 or [0, 1]; NaN = not available, never asked).
    budget: the most items per model.
    se_target: stop a model once all its ability standard errors are <= this (None: use the budget).
    item_weights: [I] item weights of the full score (uniform if None).
    max_iter: Fisher-scoring iterations per ability update.
    progress: show a bar over the steps (None: when the run outlasts 2 s).

  Returns:
    :class:`AdaptiveResult`.
  """
  from tinyjax.data import check_matrix

  Y = check_matrix(Y, name="Y")
  if Y.shape[1] != model.n_items:
    raise ResponseError(f"Y must be [n_models, {model.n_items}] (one column per item of the model), got shape "
                        f"{Y.shape}")
  budget, se_target = _check_budget(model, budget, se_target)
  weights = check_item_weights(item_weights, model.n_items)
  a, b, c, mean, prec = _model_arrays(model)
  dt = a.dtype
  n = Y.shape[0]
  available = ~np.isnan(Y)
  active = np.ones(n, bool)
  items = np.full((n, budget), -1, np.int64)
  # Models run in blocks of ROW_BLOCK and items are padded to a bucket size (tinyjax._buckets): padded items are
  # never available, padded models answer nothing, and only the first n rows are read.
  block = _buckets.ROW_BLOCK
  shape = (-(-n // block) * block, a.shape[0])
  y_pad = _buckets.pad_to(np.nan_to_num(Y).astype(dt), shape)
  avail_pad = _buckets.pad_to(available, shape, False)
  y_dev = [_buckets.device_array(y_pad[s:s + block]) for s in range(0, shape[0], block)]
  avail_dev = [_buckets.device_array(avail_pad[s:s + block]) for s in range(0, shape[0], block)]
  asked_pad = np.zeros(shape, bool)
  asked = asked_pad[:n, :Y.shape[1]]   # a view: marking it marks the padded array
  theta = se = None
  with progress_bar(budget, desc="adaptive testing", progress=progress, unit="step") as bar:
    for step in range(budget + 1):
      outs = [_adaptive_step(yb, _buckets.device_array(asked_pad[k * block:(k + 1) * block]), ab, a, b, c, mean,
                             prec, max_iter)[:3] for k, (yb, ab) in enumerate(zip(y_dev, avail_dev))]
      theta, se, nxt = (np.concatenate([np.asarray(o[j]) for o in outs])[:n] for j in range(3))
      if se_target is not None:
        active &= ~np.all(se <= se_target, axis=1)
      active &= available.sum(1) > asked.sum(1)
      if step == budget or not active.any():
        break
      rows = np.flatnonzero(active)
      asked[rows, nxt[rows]] = True
      items[rows, step] = nxt[rows]
      bar.update(1)
  est = _pirt(model, theta, Y, asked, weights)
  return AdaptiveResult(items=items, n_asked=asked.sum(1), theta=theta, se=se, estimate=est)


class AdaptiveTest:
  """Online adaptive test of one model (ask / tell).

  Example::

    test = AdaptiveTest(model, budget=30, se_target=0.25)
    while not test.done:
      item_id = test.ask_id()
      test.tell(item_id, run_model_on(item_id))
    test.estimate()

  Args:
    model: a fitted :class:`tinyjax.IRTModel`.
    budget: the most items to ask.
    se_target: done once every ability standard error is at most this (None: the budget only).
    item_weights: [I] item weights of the full score (uniform if None).
    item_ids: [I] the items' ids (default ``model.item_ids``).
    max_iter: Fisher-scoring iterations per ability update.

  Attributes:
    theta, se: [d] current ability and standard error.
    asked: list of asked item indices; answers: their answers.
  """

  def __init__(self, model, *, budget: int, se_target: float | None = None, item_weights=None, item_ids=None,
               max_iter: int = 30):
    self.budget, self.se_target = _check_budget(model, budget, se_target)
    self.model = model
    self.max_iter = int(max_iter)
    self._weights = check_item_weights(item_weights, model.n_items)
    ids = list(model.item_ids) if item_ids is None else [str(i) for i in item_ids]
    if len(ids) != model.n_items:
      raise ItemError(f"item_ids must name the model's {model.n_items} items, got {len(ids)}")
    self.item_ids: list[str] = ids
    self._index = {iid: k for k, iid in enumerate(ids)}
    self._arrays = _model_arrays(model)
    self._y = np.zeros((1, model.n_items))
    self._asked = np.zeros((1, model.n_items), bool)
    i_pad = self._arrays[0].shape[0]
    self._available = _buckets.device_array(_buckets.pad_to(np.ones((1, model.n_items), bool), (1, i_pad), False))
    self.asked: list[int] = []
    self.answers: list[float] = []
    self._update()

  def _update(self):
    a, b, c, mean, prec = self._arrays
    i_pad = a.shape[0]
    theta, se, nxt, _ = _adaptive_step(_buckets.device_array(_buckets.pad_to(self._y, (1, i_pad)), a.dtype),
                                       _buckets.device_array(_buckets.pad_to(self._asked, (1, i_pad), False)),
                                       self._available, a, b, c, mean, prec, self.max_iter)
    self.theta, self.se, self._next = np.asarray(theta)[0], np.asarray(se)[0], int(np.asarray(nxt)[0])

  @property
  def done(self) -> bool:
    """True once the budget is spent, every item is asked, or the standard errors reached ``se_target``."""
    if len(self.asked) >= self.budget or len(self.asked) >= self.model.n_items:
      return True
    return self.se_target is not None and bool(np.all(self.se <= self.se_target))

  def ask(self) -> int:
    """The next item index (the most informative unasked item at the current ability)."""
    if self.done:
      raise InputError("the test is done (budget spent or se_target reached)")
    return self._next

  def ask_id(self) -> str:
    """The id of the next item (:meth:`ask`): the question to run next."""
    return self.item_ids[self.ask()]

  def item_index(self, item) -> int:
    """The index of ``item``: an item id (str) or an index (int).

    Raises:
      ItemError: an unknown id, an index out of range, or neither.
    """
    if isinstance(item, str):
      if item not in self._index:
        raise ItemError(f"unknown item id {item!r}: not an item of this model ({len(self.item_ids)} items, e.g. "
                        f"{self.item_ids[0]!r})")
      return self._index[item]
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
      raise ItemError(f"item must be an item id (str) or an index (int), got {type(item).__name__} {item!r}")
    if not 0 <= int(item) < self.model.n_items:
      raise ItemError(f"item index must be in [0, {self.model.n_items}), got {item}")
    return int(item)

  def tell(self, item, answer: float) -> None:
    """Records the answer (0/1 or a score in [0, 1]) to ``item`` (an index or an item id) and updates the ability.

    Raises:
      ItemError: an unknown item, or one already answered. ResponseError: an answer outside [0, 1] (or NaN).
    """
    item = self.item_index(item)
    if self._asked[0, item]:
      raise ItemError(f"item {self.item_ids[item]!r} (index {item}) was already answered")
    try:
      value = float(answer)
    except (TypeError, ValueError):
      raise ResponseError(f"answer must be a number in [0, 1], got {answer!r}") from None
    if not 0.0 <= value <= 1.0:
      raise ResponseError(f"answer must lie in [0, 1], got {answer!r}")
    self._asked[0, item] = True
    self._y[0, item] = value
    self.asked.append(item)
    self.answers.append(value)
    self._update()

  def estimate(self) -> float:
    """p-IRT estimate of the full-benchmark score from the answers so far (a fraction in [0, 1])."""
    return float(self._estimates()[0])

  def _estimates(self) -> np.ndarray:
    return _pirt(self.model, self.theta[None, :], self._y, self._asked, self._weights)


@dataclasses.dataclass(frozen=True)
class AdaptiveScore:
  """The estimate of one model tested adaptively (:meth:`AdaptiveSession.estimate`), fractions in [0, 1].

  Attributes:
    score: p-IRT estimate of the full-benchmark score (the answers of the asked items, predictions for the rest at
      ``theta``).
    lo, hi: its conformal interval at ``level`` (the multiplier measured on the tiny benchmark's validation folds).
    level: nominal coverage of the interval.
    n_asked: items answered.
    items: the ids of the answered items, in the order told.
    theta: [d] the ability behind ``score``; se: [d] the adaptive test's ability standard errors.
    exterior: the score lies beyond the train models' score range (the wider multiplier applies).
  """

  score: float
  lo: float
  hi: float
  level: float
  n_asked: int
  items: tuple[str, ...]
  theta: np.ndarray
  se: np.ndarray
  exterior: bool


class AdaptiveSession:
  """An adaptive test of one model on a tiny benchmark: ask / tell by item id, then an estimate with its interval.

  Built by ``TinyBenchmark.adaptive_test()`` (on a tiny benchmark fitted or loaded from disk); the ask/tell logic
  is :class:`AdaptiveTest`'s (:attr:`test`), the estimate the tiny benchmark's (``adaptive_score``, as its
  validation measured it). Given the same answers, it chooses the same items and gives the same estimate as the
  batched ``TinyBenchmark.estimate_adaptive`` with the same budget.

  Example::

    session = tinyjax.load("mmlu.tjx").adaptive_test()
    while not session.done:
      item_id = session.ask_id()
      session.tell(item_id, run_model_on(item_id))     # 0/1 (or a score in [0, 1])
    est = session.estimate()                           # est.score, est.lo, est.hi

  Args:
    model: the tiny benchmark's IRT model.
    budget, se_target, item_weights, item_ids, max_iter: as :class:`AdaptiveTest`.
    interval: ``interval(score [1], theta [1, d]) -> (interval [1, 2], exterior [1])`` (the tiny benchmark's
      ``adaptive_interval``).
    level: the interval's nominal coverage.
    score: ``score(Y [1, I], asked [1, I]) -> (score [1], theta [1, d])`` (the tiny benchmark's
      ``adaptive_score``); None: p-IRT at the test's own ability (:meth:`AdaptiveTest.estimate`).
  """

  def __init__(self, model, *, budget: int, interval, level: float, se_target: float | None = None,
               item_weights=None, item_ids=None, score=None, max_iter: int = 30):
    self.test = AdaptiveTest(model, budget=budget, se_target=se_target, item_weights=item_weights,
                             item_ids=item_ids, max_iter=max_iter)
    self._interval = interval
    self._score = score
    self.level = float(level)

  @property
  def done(self) -> bool:
    """True once the budget is spent, every item is asked, or the standard errors reached ``se_target``."""
    return self.test.done

  @property
  def budget(self) -> int:
    return self.test.budget

  @property
  def n_asked(self) -> int:
    return len(self.test.asked)

  @property
  def asked_ids(self) -> list[str]:
    """The ids of the items answered so far, in order."""
    return [self.test.item_ids[k] for k in self.test.asked]

  def ask(self) -> int:
    """The next item's index (the most informative unasked item at the current ability)."""
    return self.test.ask()

  def ask_id(self) -> str:
    """The next item's id: the question to run on the model next."""
    return self.test.ask_id()

  def tell(self, item, answer: float) -> None:
    """Records the answer (0/1 or a score in [0, 1]) to ``item``, an item id or an index."""
    self.test.tell(item, answer)

  def estimate(self) -> AdaptiveScore:
    """The p-IRT estimate of the full score from the answers so far, with its interval (:class:`AdaptiveScore`)."""
    t = self.test
    if not t.asked:
      raise InputError("no item answered yet: tell() at least one answer before estimate()")
    if self._score is None:
      score, theta = t._estimates(), t.theta[None, :]
    else:
      score, theta = self._score(t._y, t._asked)
    score, theta = np.asarray(score).reshape(1), np.asarray(theta).reshape(1, -1)
    interval, exterior = self._interval(score, theta)
    return AdaptiveScore(score=float(score[0]), lo=float(interval[0, 0]), hi=float(interval[0, 1]),
                         level=self.level, n_asked=len(t.asked), items=tuple(self.asked_ids),
                         theta=np.asarray(theta[0], np.float64), se=np.asarray(t.se, np.float64),
                         exterior=bool(exterior[0]))


@dataclasses.dataclass(frozen=True)
class AdaptiveRun:
  """One run of :class:`AdaptiveRounds` (one model).

  Attributes:
    items: [n_rounds, n_per_round] int item indices asked in each round (-1 where no item was left).
    answers: [n_rounds, n_per_round] their answers (NaN where no item).
    n_asked: items asked.
    theta: [d] ability from all the answers; se: [d] its standard errors.
    estimate: p-IRT full-score estimate, a fraction in [0, 1].
  """

  items: np.ndarray
  answers: np.ndarray
  n_asked: int
  theta: np.ndarray
  se: np.ndarray
  estimate: float


class AdaptiveRounds:
  """Adaptive testing in rounds of a fixed number of items, with static shapes: one compilation for many runs.

  Each round re-estimates the ability from the answers so far and asks the ``n_per_round`` unasked items with
  the most information there (:func:`tinyjax.kernels.adaptive_round`); the answers come from a callback, e.g. a
  language model scored on those items. Every array keeps its shape from round to round and run to run, so the
  selection step compiles once for the object's life (:attr:`compilations`): the form a training loop runs
  (``evaluate.TinyEvalHook(..., workflow="adaptive")``). With ``n_per_round=1`` it asks the items of
  :class:`AdaptiveTest`.

  Args:
    model: a fitted :class:`tinyjax.IRTModel`.
    n_rounds: rounds per run.
    n_per_round: items asked per round (``n_rounds * n_per_round`` at most ``model.n_items``).
    item_weights: [I] item weights of the full score (uniform if None).
    max_iter: Fisher-scoring iterations per ability update.
  """

  def __init__(self, model, *, n_rounds: int, n_per_round: int, item_weights=None, max_iter: int = 30):
    self.n_rounds = check_count(n_rounds, "n_rounds", 1, model.n_items)
    self.n_per_round = check_count(n_per_round, "n_per_round", 1, model.n_items)
    if self.n_rounds * self.n_per_round > model.n_items:
      raise ConfigError(f"n_rounds * n_per_round ({self.n_rounds} * {self.n_per_round}) is more than the "
                        f"{model.n_items} items")
    self.model = model
    self.max_iter = int(max_iter)
    self._weights = check_item_weights(item_weights, model.n_items)
    self._arrays = _model_arrays(model)
    self.compilations = 0   # traces of the selection step (one per shape: once for the object's life)
    self._step = jax.jit(self._traced_step, static_argnames=("max_iter", "n_select"))

  def _traced_step(self, y, asked, available, a, b, c, mean, prec, max_iter, n_select):
    self.compilations += 1   # runs once per trace
    return kernels.adaptive_round(y, asked, available, a, b, c, mean, prec, max_iter, n_select)

  def _round(self, y, asked, available):
    a, b, c, mean, prec = self._arrays
    i_pad = a.shape[0]   # items padded to a bucket size (_model_arrays): padded items are never available
    out = self._step(_buckets.device_array(_buckets.pad_to(y, (i_pad,)), a.dtype),
                     _buckets.device_array(_buckets.pad_to(asked, (i_pad,), False)), available, a, b, c, mean, prec,
                     max_iter=self.max_iter, n_select=self.n_per_round)
    return np.asarray(out.theta), np.asarray(out.se), np.asarray(out.items), np.asarray(out.valid)

  def run(self, answer_fn, *, available=None) -> AdaptiveRun:
    """Runs ``n_rounds`` rounds; ``answer_fn(items [r] int) -> [r]`` answers in [0, 1] (0/1 correctness).

    Args:
      answer_fn: called once per round with the indices of the items to ask.
      available: [I] bool, items that may be asked (default all).

    Raises:
      ResponseError: ``answer_fn`` returned the wrong shape or values outside [0, 1].
    """
    n = self.model.n_items
    avail = np.ones(n, bool) if available is None else np.asarray(available, bool).reshape(-1)
    if avail.shape != (n,):
      raise ConfigError(f"available must be [{n}] bool, got shape {np.shape(available)}")
    y = np.zeros(n)
    asked = np.zeros(n, bool)
    items = np.full((self.n_rounds, self.n_per_round), -1, np.int64)
    answers = np.full((self.n_rounds, self.n_per_round), np.nan)
    avail_dev = _buckets.device_array(_buckets.pad_to(avail, (self._arrays[0].shape[0],), False))
    for r in range(self.n_rounds):
      _, _, chosen, valid = self._round(y, asked, avail_dev)
      idx = chosen[valid].astype(np.int64)
      if idx.size == 0:
        break
      ans = np.asarray(answer_fn(idx), dtype=float).reshape(-1)
      if ans.shape != idx.shape or not np.all((ans >= 0) & (ans <= 1)):
        raise ResponseError(f"answer_fn must return {idx.size} answers in [0, 1] for the items {idx.tolist()}, "
                            f"got {ans.tolist()}")
      y[idx], asked[idx] = ans, True
      items[r, :idx.size], answers[r, :idx.size] = idx, ans
    theta, se, _, _ = self._round(y, asked, avail_dev)   # the ability from every answer: the same compiled step
    est = _pirt(self.model, theta[None, :], y[None, :], asked[None, :], self._weights)
    return AdaptiveRun(items=items, answers=answers, n_asked=int(asked.sum()), theta=theta.astype(np.float64),
                       se=se.astype(np.float64), estimate=float(est[0]))
