"""Local minimisers for the law fits, one start each (the caller vmaps over starts and jits).

* :func:`lbfgs_minimize` -- optax L-BFGS with a backtracking line search and scipy's ``ftol`` rule, one
  call of the shared driver in ``_lbfgs.py``.
* :func:`levenberg_marquardt` -- least squares with Marquardt's diagonal scaling (like scipy's ``curve_fit``);
  :func:`fit_curve` applies it to ``model(params, *xs) ~ y`` with optional point weights.

Dtypes follow ``params0``; the documented scaling figures are fitted in float64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._lbfgs import ftol_rule, lbfgs, lbfgs_init, lbfgs_run


class MinimizeInfo(NamedTuple):
  value: jax.Array       # [] objective at the returned parameters
  grad_norm: jax.Array   # [] gradient norm there
  n_steps: jax.Array     # [] int32 iterations used


def lbfgs_minimize(fun: Callable[[jax.Array], jax.Array], params0: jax.Array, max_steps: int,
                   gtol: float = 1e-7, ftol: float = 1e-12, memory_size: int = 10,
                   max_backtracking_steps: int = 60) -> tuple[jax.Array, MinimizeInfo]:
  """Minimises ``fun`` from ``params0`` with optax's L-BFGS and a backtracking (Armijo) line search.

  The stopping rule follows scipy's L-BFGS-B (:func:`ftol_rule`): stop when ``max |grad| <= gtol``, or when an
  iteration lowers the objective by at most ``ftol * max(|f_prev|, |f|, 1)`` (including a failed line search
  that does not lower it at all), or after ``max_steps`` iterations. One :func:`lbfgs_run` of ``max_steps``.

  Args:
    fun: ``[P] -> []`` differentiable objective.
    params0: ``[P]`` start.
    max_steps: iteration cap (static).
    gtol: tolerance on the largest absolute gradient entry.
    ftol: tolerance on the objective decrease per iteration (scipy's ``ftol`` convention).
    memory_size: L-BFGS history length.
    max_backtracking_steps: line-search cap per iteration (the step halves each time; halving from step 1
      reaches 1e-18 in 60 tries, enough for the huge gradients of poor starts).

  Returns:
    ``([P] params, MinimizeInfo)``. Non-finite objectives are reported, not raised.
  """
  opt = lbfgs("backtracking", memory_size=memory_size, max_linesearch_steps=max_backtracking_steps)
  state = lbfgs_init(opt, params0, jnp.inf)
  state = lbfgs_run(fun, opt, state, max_steps, ftol_rule(ftol, gtol))
  value, grad = jax.value_and_grad(fun)(state.params)
  return state.params, MinimizeInfo(value, jnp.linalg.norm(grad), state.step)


def levenberg_marquardt(residual_fn: Callable[[jax.Array], jax.Array], params0: jax.Array,
                        max_steps: int, tol: float = 1e-15,
                        damping0: float = 1e-3) -> tuple[jax.Array, MinimizeInfo]:
  """Levenberg-Marquardt least squares (Marquardt's diagonal scaling), like scipy's ``curve_fit``.

  Minimises ``sum(residual_fn(params)**2) / 2``. Each iteration solves
  ``(J^T J + mu diag(J^T J)) dp = -J^T r``; a step that lowers the cost is accepted and ``mu``
  shrinks, otherwise ``mu`` grows. Stops after ``max_steps`` or when the relative cost change of an
  accepted step falls below ``tol``.

  Args:
    residual_fn: ``[P] -> [R]`` residuals.
    params0: ``[P]`` start.
    max_steps: iteration cap (static).
    tol: relative cost-reduction tolerance.
    damping0: initial damping ``mu``.

  Returns:
    ``([P] params, MinimizeInfo)`` with ``value`` the half sum of squares.
  """
  def cost(p):
    r = residual_fn(p)
    return 0.5 * jnp.sum(r * r)

  jac_fn = jax.jacfwd(residual_fn)
  dtype = params0.dtype

  class _Carry(NamedTuple):
    params: jax.Array
    cost: jax.Array
    mu: jax.Array
    count: jax.Array
    done: jax.Array

  def step(c: _Carry) -> _Carry:
    r = residual_fn(c.params)
    jac = jac_fn(c.params)                                    # [R, P]
    jtj = jac.T @ jac
    g = jac.T @ r
    diag = jnp.maximum(jnp.diag(jtj), jnp.asarray(1e-30, dtype))
    dp = -jnp.linalg.solve(jtj + c.mu * jnp.diag(diag), g)
    new_params = c.params + dp
    new_cost = cost(new_params)
    ok = jnp.isfinite(new_cost) & (new_cost < c.cost)
    rel = (c.cost - new_cost) / jnp.maximum(c.cost, jnp.asarray(1e-300, dtype))
    converged = ok & (rel < tol)
    stuck = c.mu > 1e15
    return _Carry(jnp.where(ok, new_params, c.params), jnp.where(ok, new_cost, c.cost),
                  jnp.where(ok, c.mu * 0.3, c.mu * 10.0), c.count + 1, converged | stuck)

  def keep_going(c: _Carry):
    return (c.count < max_steps) & ~c.done

  init = _Carry(params0, cost(params0), jnp.asarray(damping0, dtype), jnp.asarray(0, jnp.int32),
                jnp.asarray(False))
  out = jax.lax.while_loop(keep_going, step, init)
  grad = jax.grad(cost)(out.params)
  return out.params, MinimizeInfo(out.cost, jnp.linalg.norm(grad), out.count)


def fit_curve(model: Callable[..., jax.Array], params0: jax.Array, xs: tuple[jax.Array, ...], y: jax.Array,
              max_steps: int, weights: jax.Array | None = None) -> tuple[jax.Array, MinimizeInfo]:
  """Least squares ``sum_r w_r (model(params, *xs)_r - y_r)^2 / 2`` by :func:`levenberg_marquardt`.

  Args:
    model: ``(params [P], *xs) -> [R]`` predictions (a law form from ``_laws.py`` or ``coverage_log``).
    params0: ``[P]`` start. xs: the model's inputs, each ``[R]``. y: ``[R]`` targets.
    max_steps: LM iteration cap (static).
    weights: ``[R]`` non-negative point weights (bootstrap counts), or None for unweighted.

  Returns:
    ``([P] params, MinimizeInfo)``.
  """
  if weights is None:
    residual = lambda p: model(p, *xs) - y
  else:
    residual = lambda p: jnp.sqrt(weights) * (model(p, *xs) - y)
  return levenberg_marquardt(residual, params0, max_steps)
