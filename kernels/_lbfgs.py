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
import numpy as np
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


# ---------------------------------------------------------------------------------------------------------------
# The lean L-BFGS: one objective evaluation per loop iteration (the IRT fit).
#
# optax's L-BFGS with a zoom line search inlines the objective and its gradient at several places (the step's own
# evaluation, the line search's first trial, the zoom loop), so a fit's program holds three or four copies of the
# largest computation and takes seconds to compile on CPU. The lean driver is one ``lax.while_loop`` whose body
# evaluates ``value_and_grad`` once, at a trial point: an accepted trial (sufficient decrease) becomes the new
# iterate and sets the next L-BFGS direction; a rejected one shrinks the step (safeguarded quadratic
# interpolation). It compiles one copy of the objective, and the state starts on the host (no init program).


class LeanLBFGSState(NamedTuple):
  """State of :func:`lean_lbfgs_run`, carried between calls.

  Attributes:
    params: ``[P]`` the current (accepted) iterate.
    value: ``[]`` objective at ``params`` (``inf`` before the first evaluation).
    grad: ``[P]`` gradient at ``params``. grad_max: ``[]`` its max-abs entry.
    direction: ``[P]`` search direction from ``params``.
    slope: ``[]`` directional derivative ``grad . direction`` (< 0).
    step_size: ``[]`` the next trial is ``params + step_size * direction``.
    memory: ``[2 M, P]`` the last M steps ``s`` (rows ``:M``) and gradient changes ``y`` (rows ``M:``), oldest
      first (a new pair enters last and the oldest leaves); empty slots are zero rows.
    gamma: ``[]`` initial inverse-Hessian scale ``s . y / y . y`` of the newest pair.
    step: ``[]`` int32, accepted iterations. n_evals: ``[]`` int32, objective evaluations.
    n_small: ``[]`` int32, consecutive small decreases. n_fail: ``[]`` int32, consecutive rejected trials.
    fresh: ``[]`` bool, nothing evaluated yet (the first trial is ``params`` itself).
    done: ``[]`` bool, the stopping rule fired (or the line search could not decrease the objective).
  """

  params: jax.Array
  value: jax.Array
  grad: jax.Array
  grad_max: jax.Array
  direction: jax.Array
  slope: jax.Array
  step_size: jax.Array
  memory: jax.Array
  gamma: jax.Array
  step: jax.Array
  n_evals: jax.Array
  n_small: jax.Array
  n_fail: jax.Array
  fresh: jax.Array
  done: jax.Array


def lean_lbfgs_init(params, memory_size: int = 10) -> LeanLBFGSState:
  """Initial state at ``params [P]``, nothing evaluated yet.

  The fields other than ``params`` are numpy constants, so that on the host this compiles nothing (the caller
  can build the state next to its data and ``device_put`` it, on a mesh too); under ``jit`` it works as well.
  """
  shape, dtype = params.shape, params.dtype
  zero_f = lambda s=(): np.zeros(s, dtype)
  zero_i = lambda: np.zeros((), np.int32)
  return LeanLBFGSState(params=params, value=np.asarray(np.inf, dtype), grad=zero_f(shape),
                        grad_max=np.asarray(np.inf, dtype), direction=zero_f(shape), slope=zero_f(), step_size=zero_f(),
                        memory=zero_f((2 * memory_size,) + shape), gamma=np.ones((), dtype), step=zero_i(),
                        n_evals=zero_i(), n_small=zero_i(), n_fail=zero_i(), fresh=np.ones((), bool),
                        done=np.zeros((), bool))


def _solve_triangular(r: jax.Array, b: jax.Array, transpose: bool = False) -> jax.Array:
  """``x [M]`` with ``r x = b`` (``r^T x = b`` when ``transpose``), ``r [M, M]`` upper triangular with a nonzero
  diagonal and exact zeros below it: M substitution steps in one ``fori_loop``.

  ``jax.scipy.linalg.solve_triangular`` lowers to a LAPACK call on CPU, and lowering the first program that holds
  one imports scipy.linalg (0.17 s of a cold fit's 0.3 s of tracing and lowering); M is the L-BFGS memory (10).
  """
  m = r.shape[0]
  a = r.T if transpose else r   # transposed: lower triangular, solved from the first row down

  def step(k, x):
    i = k if transpose else m - 1 - k
    row = jax.lax.dynamic_index_in_dim(a, i, keepdims=False)
    return x.at[i].set((b[i] - row @ x) / row[i])   # x is still zero at i and beyond the solved entries

  return jax.lax.fori_loop(0, m, step, jnp.zeros_like(b))


def _lbfgs_direction(grad, gg, memory, gamma):
  """``(-H grad [P], grad . (-H grad) [], memory empty [])`` for the L-BFGS inverse Hessian ``H`` in compact form
  (Byrd, Nocedal and Schnabel 1994, eq. 3.1).

  ``H = gamma I + [S, gamma Y] [[R^-T (D + gamma Y^T Y) R^-1, -R^-T], [-R^-1, 0]] [S^T; gamma Y^T]`` with the
  pairs oldest first (``memory`` [2 M, P] = [S; Y]), ``R`` the upper triangle of ``S^T Y`` and ``D`` its
  diagonal: one Gram product, one matrix-vector product each way and two M x M triangular solves, which compile
  to a few small kernels (the two-loop recursion compiles to two loops of vector reductions). Empty slots are
  zero rows: their diagonal of ``R`` is set to 1, so they add nothing.
  """
  m = memory.shape[0] // 2
  gram = memory @ memory.T                               # [2M, 2M]
  wg = memory @ grad                                     # [2M]: S g, Y g
  sy, yy = gram[:m, m:], gram[m:, m:]
  diag = jnp.diagonal(sy)
  r = jnp.triu(sy) + jnp.diag((diag == 0).astype(sy.dtype))
  sg, yg = wg[:m], wg[m:]
  rinv_sg = _solve_triangular(r, sg)
  top = _solve_triangular(r, diag * rinv_sg + gamma * (yy @ rinv_sg) - gamma * yg, transpose=True)
  coef = jnp.concatenate([top, -gamma * rinv_sg])        # H g = gamma g + coef @ memory (gg = grad . grad)
  direction = -(gamma * grad + coef @ memory)
  slope = -(gamma * gg + jnp.vdot(coef, wg))             # grad . direction, without another pass over P
  return direction, slope, diag[-1] == 0


def lean_lbfgs_run(fun: Callable[[jax.Array], jax.Array], state: LeanLBFGSState, n_steps: int | jax.Array,
                   ftol: float | jax.Array, gtol: float | jax.Array, patience: int = 3,
                   max_backtracks: int = 20, c1: float = 1e-4) -> LeanLBFGSState:
  """Runs up to ``n_steps`` more accepted L-BFGS iterations, one evaluation of ``fun`` per loop iteration.

  Line search: backtracking on the sufficient-decrease (Armijo) condition with safeguarded quadratic
  interpolation (the new step lies in [0.1, 0.5] times the rejected one), first trial step 1 (``1 / |grad|`` on
  the first iteration); a curvature pair enters the memory only when ``s . y > 0``; a direction that is not a
  descent direction falls back to ``-grad``. Stopping rule (as :func:`patience_rule`): the relative decrease
  ``(f_old - f_new) / max(|f_new|, 1e-8)`` stays below ``ftol`` for ``patience`` accepted iterations in a row, or
  the max-abs gradient at the new iterate is below ``gtol``; also when ``max_backtracks`` trials in a row
  fail (no decrease is possible at this precision) or the first evaluation is not finite.

  The loop body is kept to few kernels, because on CPU each one costs compilation time: the vector dot
  products come from one small Gram product (``[3, P] @ [P, 3]``) instead of one reduction each.

  Args:
    fun: ``[P] -> []`` differentiable objective.
    state: :class:`LeanLBFGSState` (from :func:`lean_lbfgs_init` or a previous call).
    n_steps: cap on accepted iterations in this call (may be traced: changing it does not recompile).
    ftol, gtol: tolerances (may be traced).
    patience: static, consecutive small decreases needed.
    max_backtracks: static, consecutive rejected trials that end the run.
    c1: static, sufficient-decrease constant.

  Returns:
    The new :class:`LeanLBFGSState`; ``value`` and ``grad`` are those at ``params``.
  """
  value_and_grad = jax.value_and_grad(fun)
  end = state.step + n_steps
  dtype = state.params.dtype
  eps = jnp.finfo(dtype).eps
  m = state.memory.shape[0] // 2

  def cond(s: LeanLBFGSState):
    return (s.step < end) & ~s.done

  def body(s: LeanLBFGSState) -> LeanLBFGSState:
    trial = s.params + s.step_size * s.direction
    f, g = value_and_grad(trial)
    sv, yv = trial - s.params, g - s.grad
    gram = jnp.stack([sv, yv, g]) @ jnp.stack([yv, yv, g]).T    # [3, 3]: s.y, y.y, g.g on the diagonal
    sy, yy, gg = gram[0, 0], gram[1, 1], gram[2, 2]
    finite = jnp.isfinite(f) & jnp.isfinite(gg)
    # Sufficient decrease, with a few ulps of slack so that a step at the objective's precision is accepted
    # (the stopping rule then sees a small decrease) instead of backtracking to nothing.
    armijo = finite & (f <= s.value + c1 * s.step_size * s.slope + 4 * eps * jnp.abs(s.value))
    accept = s.fresh | armijo
    # The curvature pair of an accepted step enters the memory.
    use = accept & ~s.fresh & (sy > eps * yy) & (yy > 0)
    memory = jnp.where(use, jnp.concatenate([s.memory[1:m], sv[None], s.memory[m + 1:], yv[None]]), s.memory)
    gamma = jnp.where(use, sy / jnp.where(use, yy, 1.0), s.gamma)
    # Next direction from the accepted point; steepest descent when it is not a descent direction.
    d, slope, empty = _lbfgs_direction(g, gg, memory, gamma)
    descent = jnp.isfinite(slope) & (slope < 0)
    d = jnp.where(descent, d, -g)
    slope = jnp.where(descent, slope, -gg)
    t0 = jnp.where(empty | ~descent, jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.sqrt(gg), eps)), 1.0)
    # Stopping rule on an accepted step.
    rel = (s.value - f) / jnp.maximum(jnp.abs(f), 1e-8)
    n_small = jnp.where(s.fresh, 0, jnp.where(rel < ftol, s.n_small + 1, 0))
    g_max = jnp.max(jnp.abs(g))
    stop = (n_small >= patience) | (g_max < gtol) | ~finite
    # A rejected trial: shrink the step by quadratic interpolation, kept in [0.1, 0.5] of the old one.
    t = s.step_size
    curv = f - s.value - s.slope * t
    t_quad = -s.slope * t * t / (2.0 * jnp.where(curv > 0, curv, 1.0))
    t_back = jnp.where(finite & (curv > 0), jnp.clip(t_quad, 0.1 * t, 0.5 * t), 0.5 * t)
    n_fail = jnp.where(accept, 0, s.n_fail + 1)
    pick = lambda new, old: jnp.where(accept, new, old)
    return LeanLBFGSState(
        params=pick(trial, s.params), value=pick(f, s.value), grad=pick(g, s.grad), grad_max=pick(g_max, s.grad_max),
        direction=pick(d, s.direction),
        slope=pick(slope, s.slope), step_size=pick(t0, t_back).astype(dtype), memory=memory,
        gamma=gamma.astype(dtype), step=s.step + (accept & ~s.fresh).astype(jnp.int32), n_evals=s.n_evals + 1,
        n_small=pick(n_small, s.n_small), n_fail=n_fail, fresh=jnp.zeros((), bool),
        done=jnp.where(accept, stop, n_fail >= max_backtracks))

  return jax.lax.while_loop(cond, body, state)
