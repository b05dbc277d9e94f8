"""Online best-method search with real evaluations: ask/tell, a callback driver, save and resume."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax import kernels
from tinyjax._checks import check_count, check_seed
from tinyjax._dtypes import resolve_dtype
from tinyjax.bandit import _steps
from tinyjax.bandit._config import (DEFAULT_ALGORITHM, BanditConfig, budget_amounts, check_budget, check_cost,
                                    check_shape, make_config, resolve_config)
from tinyjax.bandit._offline import BanditResult
from tinyjax.data import check_matrix
from tinyjax.errors import ArtifactError, InputError

_ARTIFACT_KIND = "bandit_state"


def _derived(state) -> tuple[str, ...]:
  """Fields of a state that are rebuilt from the others on load (an elimination state's running statistics)."""
  return kernels.ELIMINATION_DERIVED if isinstance(state, kernels.EliminationState) else ()


def _state_arrays(state) -> dict[str, np.ndarray]:
  """The leaves of a state, named by their path (``values``, ``factors_row``, ``active`` ...), less the derived
  fields (so the artifact's layout does not depend on them)."""
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  skip = _derived(state)
  return {name: np.asarray(leaf) for path, leaf in leaves
          if (name := "_".join(str(k.name) for k in path)) not in skip}


def _state_from_arrays(template, arrays: dict[str, np.ndarray], aux):
  """A state of the type and dtypes of ``template`` from :func:`_state_arrays`'s names, its derived fields
  rebuilt (``aux``: the run's fixed randomness)."""
  paths, treedef = jax.tree_util.tree_flatten_with_path(template)
  skip = _derived(template)
  leaves = []
  for path, leaf in paths:
    name = "_".join(str(k.name) for k in path)
    if name in skip:
      leaves.append(leaf)
      continue
    value = jnp.asarray(arrays[name], leaf.dtype)
    if value.shape != leaf.shape:
      raise ArtifactError(f"bandit_state array {name!r} has shape {value.shape}, expected {leaf.shape}")
    leaves.append(value)
  state = jax.tree_util.tree_unflatten(treedef, leaves)
  return _steps.sync(state, aux) if skip else state


class BanditEvaluator:
  """Online ask/tell best-method search with real evaluations.

  Example:
    >>> ev = tj.bandit.BanditEvaluator(n_methods=20, n_examples=500, budget=0.1, seed=0)
    >>> while (pairs := ev.next_batch()).size:
    ...   ev.tell(pairs, [score(m, x) for m, x in pairs])
    >>> best, means = ev.best()

  ``next_batch`` returns the same pending batch until it is told. For the same seed and settings, the
  picks equal those of :func:`run` on a matrix holding the told scores. ``save``/``tinyjax.load`` resume
  a run exactly.

  Args:
    n_methods, n_examples: matrix shape (n_methods >= 2).
    budget: fraction of the cells (of the total cost, with ``cost``) to spend, in (0, 1].
    algorithm: a name or a config object, see :func:`run`. seed: random seed.
    cost: optional [n_methods, n_examples] positive cost per cell.
    dtype: None (JAX's default float) or "float64".
    **params: the algorithm's settings, see :func:`make_config`.
  """

  def __init__(self, n_methods: int, n_examples: int, budget: float = 0.1,
               algorithm: str | BanditConfig = DEFAULT_ALGORITHM, *, seed: int = 0, cost=None, dtype=None,
               **params):
    self.n_methods = check_count(n_methods, "n_methods", minimum=2)
    self.n_examples = check_count(n_examples, "n_examples")
    self.config = resolve_config(algorithm, params)
    check_shape(self.config, self.n_methods, self.n_examples)
    self.budget = check_budget(budget)
    self.seed = check_seed(seed)
    self.dtype = resolve_dtype(dtype)
    self._cost_np = check_cost(cost, (self.n_methods, self.n_examples))
    self._spend, self._cells = budget_amounts(self.budget, self._cost_np)
    self._key = jax.random.key(self.seed)
    self._cost = jnp.asarray(self._cost_np, self.dtype)
    self._state, self._aux = _steps.init(self._key, self.config, self.n_methods, self.n_examples, self.dtype)
    self._pending: kernels.Batch | None = None

  # -- ask / tell ----------------------------------------------------------------------------------
  @property
  def algorithm(self) -> str:
    return self.config.algorithm

  @property
  def n_evaluated(self) -> int:
    return int(self._state.n_evaluated)

  @property
  def spent(self) -> float:
    return float(self._state.spent)

  @property
  def done(self) -> bool:
    """True when the budget is spent or the algorithm has nothing more to ask."""
    if self._pending is not None:
      return False
    return int(self._state.last_revealed) == 0 or float(self._state.spent) >= self._spend

  @property
  def observed(self) -> np.ndarray:
    """[n_methods, n_examples] bool: the told cells."""
    return np.asarray(self._state.observed)

  @property
  def scores(self) -> np.ndarray:
    """[n_methods, n_examples] told scores, NaN elsewhere."""
    return np.where(self.observed, np.asarray(self._state.values, float), np.nan)

  def next_batch(self) -> np.ndarray:
    """The next cells to evaluate.

    Returns:
      int array [k, 2] of (method, example) pairs; k = 0 when the run is over. Until :meth:`tell` is
      called, the same batch is returned again.
    """
    if self._pending is None:
      if self.done:
        return np.zeros((0, 2), int)
      self._state, batch, _ = _steps.select(self.config, self._state, self._key, self._aux, self._cost,
                                            jnp.asarray(self._spend, self.dtype), jnp.asarray(self._cells, self.dtype))
      self._pending = batch
      if not bool(np.any(np.asarray(batch.valid))):
        # Nothing left to ask: record an empty step, as the offline loop does.
        self._state = _steps.reveal(self._state, batch, jnp.zeros(batch.rows.shape, self.dtype), self._cost)
        self._pending = None
        return np.zeros((0, 2), int)
    return self._pending_pairs()

  def _pending_pairs(self) -> np.ndarray:
    b = self._pending
    valid = np.asarray(b.valid)
    return np.stack([np.asarray(b.rows)[valid], np.asarray(b.cols)[valid]], axis=1).astype(int)

  def tell(self, pairs, scores) -> None:
    """Gives back the scores of the pending batch.

    Args:
      pairs: [k, 2] (method, example) pairs: exactly the pairs returned by :meth:`next_batch`, in any order.
      scores: [k] scores in [0, 1].

    Raises:
      InputError: no pending batch, or pairs that differ from it.
      ResponseError: scores that are NaN or outside [0, 1].
    """
    if self._pending is None:
      raise InputError("no pending batch: call next_batch() first")
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
      raise InputError(f"pairs must be [k, 2] (method, example), got shape {pairs.shape}")
    scores = check_matrix(np.asarray(scores).reshape(1, -1), name="told scores", allow_nan=False)[0]
    if scores.shape[0] != pairs.shape[0]:
      raise InputError(f"got {pairs.shape[0]} pairs but {scores.shape[0]} scores")
    expected = self._pending_pairs()
    told = {(int(m), int(x)): s for (m, x), s in zip(pairs, scores)}
    if len(told) != len(pairs) or set(told) != {(int(m), int(x)) for m, x in expected}:
      raise InputError(f"tell() must give exactly the {len(expected)} pending pairs of next_batch()")
    b = self._pending
    rows, cols, valid = np.asarray(b.rows), np.asarray(b.cols), np.asarray(b.valid)
    vals = np.array([told[(int(r), int(c))] if v else 0.0 for r, c, v in zip(rows, cols, valid)])
    self._state = _steps.reveal(self._state, b, jnp.asarray(vals, self.dtype), self._cost)
    self._pending = None

  def best(self) -> tuple[int, np.ndarray]:
    """The current pick and the estimated mean of every method ([n_methods]; see :class:`BanditResult`)."""
    info = _steps.recommend(self.config, self._state, self._key, self._aux, jnp.asarray(self._cells, self.dtype))
    return int(info.best), np.asarray(info.means)

  def result(self) -> BanditResult:
    best, means = self.best()
    return BanditResult(best=best, means=means, n_evaluated=self.n_evaluated, spent=self.spent,
                        n_steps=int(self._state.step), observed=self.observed, algorithm=self.algorithm,
                        budget=self.budget)

  def run(self, evaluate: Callable[[int, np.ndarray], Any], *, max_steps: int | None = None) -> BanditResult:
    """Drives the run with a callback until the budget is spent (or ``max_steps`` batches).

    Args:
      evaluate: ``evaluate(method, examples) -> scores``: method is an int, examples an int array [k];
        returns k scores in [0, 1]. Called once per method present in a batch.
      max_steps: stop after this many batches (to resume later), default: run to the end.

    Returns:
      BanditResult of the current state.
    """
    steps = 0
    while max_steps is None or steps < max_steps:
      pairs = self.next_batch()
      if pairs.size == 0:
        break
      scores = np.zeros(len(pairs))
      for method in dict.fromkeys(pairs[:, 0].tolist()):
        sel = pairs[:, 0] == method
        got = np.asarray(evaluate(int(method), pairs[sel, 1].copy()), dtype=np.float64).reshape(-1)
        if got.shape[0] != int(sel.sum()):
          raise InputError(f"evaluate({method}, ...) returned {got.shape[0]} scores for {int(sel.sum())} examples")
        scores[sel] = got
      self.tell(pairs, scores)
      steps += 1
    return self.result()

  # -- save / load -----------------------------------------------------------------------------------
  def save(self, path: str | os.PathLike) -> pathlib.Path:
    """Saves the whole state (told scores, the algorithm's state, pending batch) as a "bandit_state" artifact.

    Returns:
      The path written.
    """
    from tinyjax.io import save_artifact

    arrays = {**_state_arrays(self._state), "cost": self._cost_np}
    if self._pending is not None:
      arrays.update(pending_rows=np.asarray(self._pending.rows), pending_cols=np.asarray(self._pending.cols),
                    pending_valid=np.asarray(self._pending.valid))
    meta = {"n_methods": self.n_methods, "n_examples": self.n_examples, "budget": self.budget,
            "seed": self.seed, "dtype": np.dtype(self.dtype).name, "algorithm": self.algorithm,
            "config": dataclasses.asdict(self.config)}
    return save_artifact(path, _ARTIFACT_KIND, arrays, meta)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "BanditEvaluator":
    """Loads a state saved by :meth:`save`."""
    from tinyjax.io import load_artifact

    _, arrays, meta = load_artifact(path, expected_kind=_ARTIFACT_KIND)
    return cls._from_artifact(arrays, meta)

  @classmethod
  def _from_artifact(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "BanditEvaluator":
    try:
      config = make_config(meta["algorithm"], **meta["config"])
      ev = cls(int(meta["n_methods"]), int(meta["n_examples"]), budget=float(meta["budget"]), algorithm=config,
               seed=int(meta["seed"]), cost=arrays["cost"], dtype=meta["dtype"])
      ev._state = _state_from_arrays(ev._state, arrays, ev._aux)
      if "pending_rows" in arrays:
        ev._pending = kernels.Batch(jnp.asarray(arrays["pending_rows"], jnp.int32),
                                    jnp.asarray(arrays["pending_cols"], jnp.int32),
                                    jnp.asarray(arrays["pending_valid"], bool))
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"bandit_state artifact is missing or has a malformed field: {err}") from err
    return ev


def evaluate(evaluate_fn: Callable[[int, np.ndarray], Any], n_methods: int, n_examples: int, budget: float = 0.1,
             algorithm: str | BanditConfig = DEFAULT_ALGORITHM, *, seed: int = 0, **kwargs) -> BanditResult:
  """Runs a whole online search with an ``evaluate(method, examples) -> scores`` callback.

  Args:
    evaluate_fn: called with a method index and an int array of example indices; returns their scores.
    n_methods, n_examples, budget, algorithm, seed, **kwargs: as for :class:`BanditEvaluator`.

  Returns:
    BanditResult.
  """
  return BanditEvaluator(n_methods, n_examples, budget=budget, algorithm=algorithm, seed=seed,
                         **kwargs).run(evaluate_fn)
