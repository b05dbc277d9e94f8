"""The one L-BFGS driver of tinyjax: optax's L-BFGS run in chunks, its line search and stopping rule parameters.

An ``(init, run)`` pair over a flat parameter vector:

* :func:`lbfgs` builds the optax transformation (``linesearch="zoom"`` or ``"backtracking"``);
* :func:`lbfgs_init` makes an :class:`LBFGSState`;
* :func:`lbfgs_run` runs up to ``n_steps`` more iterations (a ``lax.while_loop``) and stops early once the
  stopping rule says so. Call it once for a whole fit (the scaling laws), or once per chunk with the state
  carried between calls (the IRT fit, whose progress bar moves between chunks).

A stopping rule is a function ``rule(step: LBFGSStep, n_small) -> (done, n_small)`` of what one iteration
saw; :func:`patience_rule` (relative decrease below ``ftol`` for ``patience`` iterations in a row, the IRT
fit) and :func:`ftol_rule` (scipy L-BFGS-B's ``ftol``/``gtol`` test, the scaling-law fits) are the two in use.

Pure JAX, nothing jitted here; dtypes follow ``params``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

LINESEARCHES = ("zoom", "backtracking")


class LBFGSState(NamedTuple):
  """State carried between :func:`lbfgs_run` calls.

  Attributes:
    params: ``[P]`` current iterate.
    opt_state: optax L-BFGS state.
    value: ``[]`` objective after the last iteration (the value given to :func:`lbfgs_init` before any).
    step: ``[]`` int32, iterations done.
    n_small: ``[]`` int32, a counter the stopping rule keeps (consecutive small decreases).
    done: ``[]`` bool, the stopping rule fired.
  """

  params: jax.Array
  opt_state: optax.OptState
  value: jax.Array
  step: jax.Array
  n_small: jax.Array
  done: jax.Array


class LBFGSStep(NamedTuple):
  """What one iteration saw, handed to the stopping rule.

  Attributes:
    prev_value: ``[]`` the carried objective of the previous iteration (:attr:`LBFGSState.value`).
    value: ``[]`` objective at the iterate the step started from, as optax evaluated it.
    new_value: ``[]`` objective at the new iterate (found by the line search).
    grad: ``[P]`` gradient at the start of the step. new_grad: ``[P]`` gradient at the new iterate.
  """

  prev_value: jax.Array
  value: jax.Array
  new_value: jax.Array
  grad: jax.Array
  new_grad: jax.Array


StopRule = Callable[[LBFGSStep, jax.Array], tuple[jax.Array, jax.Array]]


def lbfgs(linesearch: str = "zoom", *, memory_size: int = 10,
          max_linesearch_steps: int = 16) -> optax.GradientTransformationExtraArgs:
  """optax L-BFGS with a zoom (strong Wolfe) or a backtracking (Armijo, step halving) line search.

  Args:
    linesearch: "zoom" or "backtracking".
    memory_size: history length.
    max_linesearch_steps: line-search cap per iteration.
  """
  if linesearch == "zoom":
    ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=max_linesearch_steps, verbose=False)
  elif linesearch == "backtracking":
    ls = optax.scale_by_backtracking_linesearch(max_backtracking_steps=max_linesearch_steps,
                                                decrease_factor=0.5, store_grad=True)
  else:
    raise ValueError(f"linesearch must be one of {LINESEARCHES}, got {linesearch!r}")
  return optax.lbfgs(memory_size=memory_size, linesearch=ls)


def lbfgs_init(opt: optax.GradientTransformationExtraArgs, params: jax.Array, value: jax.Array) -> LBFGSState:
  """Initial state at ``params [P]`` whose objective is ``value`` (``inf`` when not known yet)."""
  return LBFGSState(params=params, opt_state=opt.init(params), value=jnp.asarray(value, params.dtype),
                    step=jnp.zeros((), jnp.int32), n_small=jnp.zeros((), jnp.int32), done=jnp.zeros((), bool))


def lbfgs_run(fun: Callable[[jax.Array], jax.Array], opt: optax.GradientTransformationExtraArgs,
              state: LBFGSState, n_steps: int | jax.Array, stop: StopRule) -> LBFGSState:
  """Runs up to ``n_steps`` more iterations from ``state``, stopping once ``stop`` fires.

  Under ``jax.vmap`` over starts each start keeps its own stopping point (its state stops changing),
  but the loop runs until the slowest start stops.

  Args:
    fun: ``[P] -> []`` differentiable objective.
    opt: the transformation from :func:`lbfgs` that built ``state``.
    state: :class:`LBFGSState`.
    n_steps: iteration cap of this call (may be traced: changing it does not recompile).
    stop: stopping rule, e.g. :func:`patience_rule` or :func:`ftol_rule`.

  Returns:
    The new :class:`LBFGSState`; a state that is ``done`` is returned unchanged.
  """
  value_and_grad = optax.value_and_grad_from_state(fun)
  end = state.step + n_steps

  def cond(s: LBFGSState):
    return (s.step < end) & ~s.done

  def body(s: LBFGSState) -> LBFGSState:
    value, grad = value_and_grad(s.params, state=s.opt_state)
    updates, opt_state = opt.update(grad, s.opt_state, s.params, value=value, grad=grad, value_fn=fun)
    params = optax.apply_updates(s.params, updates)
    new_value = optax.tree.get(opt_state, "value")
    new_grad = optax.tree.get(opt_state, "grad")
    done, n_small = stop(LBFGSStep(s.value, value, new_value, grad, new_grad), s.n_small)
    return LBFGSState(params, opt_state, new_value, s.step + 1, n_small, done)

  return jax.lax.while_loop(cond, body, state)


def patience_rule(ftol: float | jax.Array, gtol: float | jax.Array, patience: int = 3) -> StopRule:
  """Stops when the relative decrease ``(prev - new) / max(|new|, 1e-8)`` stays below ``ftol`` for
  ``patience`` iterations in a row, or when the max-abs gradient at the step's start is below ``gtol``."""
  def rule(step: LBFGSStep, n_small: jax.Array) -> tuple[jax.Array, jax.Array]:
    rel = (step.prev_value - step.new_value) / jnp.maximum(jnp.abs(step.new_value), 1e-8)
    n_small = jnp.where(rel < ftol, n_small + 1, 0)
    return (n_small >= patience) | (jnp.max(jnp.abs(step.grad)) < gtol), n_small
  return rule


def ftol_rule(ftol: float | jax.Array, gtol: float | jax.Array) -> StopRule:
  """scipy L-BFGS-B's test: stop when ``max |new grad| <= gtol``, when one iteration lowers the objective
  by at most ``ftol * max(|f|, |f_new|, 1)`` (a failed line search included), or when it is non-finite."""
  def rule(step: LBFGSStep, n_small: jax.Array) -> tuple[jax.Array, jax.Array]:
    small_grad = jnp.max(jnp.abs(step.new_grad)) <= gtol
    one = jnp.asarray(1.0, step.value.dtype)
    scale = jnp.maximum(jnp.maximum(jnp.abs(step.value), jnp.abs(step.new_value)), one)
    small_change = (step.value - step.new_value) <= ftol * scale
    return small_grad | small_change | ~jnp.isfinite(step.new_value), n_small
  return rule
