"""Adaptive testing: ask each model the item with the most Fisher information at its current ability.

Every step re-estimates the ability (MAP, Fisher scoring) from the answers so far and picks the unasked
item that maximises ``log det(P + F_i(theta))``, where ``P`` is the prior precision plus the information
of the items already asked and ``F_i`` the item's Fisher information (``tinyjax.kernels.d_optimal_step``).
In one dimension this is the item with the largest information. Testing stops at a budget of items or once every ability standard error
is at most ``se_target``.

- Offline (:func:`simulate`): on a response matrix, batched over many models (one compiled step for all).
- Online (:class:`AdaptiveTest`): one model, ``ask()`` / ``tell(item, answer)``.

The full-benchmark score is then estimated by p-IRT: asked items count for their answers, all others
for their predicted probabilities (``tinyjax.kernels.pirt_scores``, the one p-IRT of tinyjax).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_count
from tinyjax._progress import progress_bar
from tinyjax.errors import ConfigError, InputError, ItemError, ResponseError
from tinyjax.estimators import check_item_weights, working_dtype


# One D-optimal step for a batch of examinees (vmapped kernel), and p-IRT; compiled once per shape.
@functools.partial(jax.jit, static_argnames=("max_iter",))
def _adaptive_step(y, asked, available, a, b, c, mean, prec, max_iter):
  step = functools.partial(kernels.d_optimal_step, max_iter=max_iter)
  return jax.vmap(step, in_axes=(0, 0, 0, None, None, None, None, None))(y, asked, available, a, b, c, mean, prec)


_pirt_scores = jax.jit(kernels.pirt_scores)


def _model_arrays(model):
  dt = model.a.dtype
  d = model.dim
  mean = jnp.zeros(d, dt)
  prec = jnp.asarray(np.eye(d) / model.config.theta_sd ** 2, dt)
  return (jnp.asarray(model.a, dt), jnp.asarray(model.b, dt), jnp.asarray(model.c, dt), mean, prec)


def _pirt(model, theta, y, asked, item_weights):
  """[M] p-IRT estimate from the asked items' answers and the predictions for the rest."""
  p = model.predict_proba(theta)
  dt = working_dtype()   # one precision for the whole estimate (JAX's default float)
  out = _pirt_scores(jnp.asarray(np.nan_to_num(y), dt), jnp.asarray(asked), jnp.asarray(p, dt),
                     jnp.asarray(item_weights, dt), jnp.arange(p.shape[1]))
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
  asked = np.zeros(Y.shape, bool)
  active = np.ones(n, bool)
  items = np.full((n, budget), -1, np.int64)
  y_dev = jnp.asarray(np.nan_to_num(Y), dt)
  avail_dev = jnp.asarray(available)
  theta = se = None
  with progress_bar(budget, desc="adaptive testing", progress=progress, unit="step") as bar:
    for step in range(budget + 1):
      theta, se, nxt, _ = _adaptive_step(y_dev, jnp.asarray(asked), avail_dev, a, b, c, mean, prec, max_iter)
      theta, se, nxt = np.asarray(theta), np.asarray(se), np.asarray(nxt)
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
      item = test.ask()
      test.tell(item, run_model_on(model.item_ids[item]))
    test.estimate()

  Attributes:
    theta, se: [d] current ability and standard error.
    asked: list of asked item indices; answers: their answers.
  """

  def __init__(self, model, *, budget: int, se_target: float | None = None, item_weights=None,
               max_iter: int = 30):
    self.budget, self.se_target = _check_budget(model, budget, se_target)
    self.model = model
    self.max_iter = int(max_iter)
    self._weights = check_item_weights(item_weights, model.n_items)
    self._arrays = _model_arrays(model)
    self._y = np.zeros((1, model.n_items))
    self._asked = np.zeros((1, model.n_items), bool)
    self.asked: list[int] = []
    self.answers: list[float] = []
    self._update()

  def _update(self):
    a, b, c, mean, prec = self._arrays
    theta, se, nxt, _ = _adaptive_step(jnp.asarray(self._y, a.dtype), jnp.asarray(self._asked),
                                       jnp.ones((1, self.model.n_items), bool), a, b, c, mean, prec, self.max_iter)
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

  def tell(self, item: int, answer: float) -> None:
    """Records the answer (0/1 or a score in [0, 1]) to ``item`` and updates the ability."""
    item = int(item)
    if not 0 <= item < self.model.n_items:
      raise ItemError(f"item must be in [0, {self.model.n_items}), got {item}")
    if self._asked[0, item]:
      raise ItemError(f"item {item} was already answered")
    answer = float(answer)
    if not 0.0 <= answer <= 1.0:
      raise InputError(f"answer must lie in [0, 1], got {answer}")
    self._asked[0, item] = True
    self._y[0, item] = answer
    self.asked.append(item)
    self.answers.append(answer)
    self._update()

  def estimate(self) -> float:
    """p-IRT estimate of the full-benchmark score from the answers so far."""
    return float(_pirt(self.model, self.theta[None, :], self._y, self._asked, self._weights)[0])
