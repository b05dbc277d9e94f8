"""Scaling-law and repeated-sampling kernels: law forms, robust objectives, local optimisers, pass@k,
sample-compute allocation and confidence-based early stopping.

Everything here is a pure JAX function of arrays. Nothing is jitted or vmapped here: the API layer
(``tinyjax.scaling``, ``tinyjax.sampling``) vmaps the single-start optimisers over a grid of starts
and jits the result. Dtypes follow the inputs; the fits are meant to run in float64.

Parameter vectors (all unconstrained, so any optimiser can move them freely):

* Chinchilla, ``[5] = (a, b, e, alpha, beta)`` with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``:
  ``log L(N, D) = logsumexp(a - alpha log N, b - beta log D, e)`` (Besiroglu et al. 2024).
* Over-trained law of Gadre et al. 2024 in the parametrisation their code fits,
  ``[4] = (alpha_n, beta_n, p, E)``: ``L(N, M) = E + alpha_n N^p + beta_n 6^(p/2) (M N)^p``. With
  ``C = 6 N^2 M`` this is the paper's ``E + (a M^eta + b M^-eta) C^-eta`` with ``eta = -p/2``,
  ``a = alpha_n 6^eta`` and ``b = beta_n``.
* Reducible power law, ``[3] = (log_lambda, alpha, E)``: ``L(C) = E + exp(log_lambda) C^-alpha``.
* Loss to error, ``[3] = (k, gamma, epsilon)``: ``Err(L) = epsilon - k exp(-gamma L)``.
* Coverage, ``[2] = (a, b)``: ``log c(k) = a k^b``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

# --------------------------------------------------------------------------------------------------
# Law forms
# --------------------------------------------------------------------------------------------------


def chinchilla_log_loss(params: jax.Array, log_n: jax.Array, log_d: jax.Array) -> jax.Array:
  """Chinchilla law in log space, ``log(E + A/N^alpha + B/D^beta)`` as a logsumexp.

  Args:
    params: ``[5]`` = (a, b, e, alpha, beta), ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``.
    log_n: ``[R]`` log parameter counts.
    log_d: ``[R]`` log token counts.

  Returns:
    ``[R]`` predicted log-loss.
  """
  a, b, e, alpha, beta = params[0], params[1], params[2], params[3], params[4]
  terms = jnp.stack([a - alpha * log_n, b - beta * log_d, jnp.broadcast_to(e, log_n.shape)])
  return jax.nn.logsumexp(terms, axis=0)


def huber(residual: jax.Array, delta: float | jax.Array) -> jax.Array:
  """Elementwise Huber loss: ``r^2/2`` for ``|r| <= delta``, else ``delta (|r| - delta/2)``."""
  abs_r = jnp.abs(residual)
  return jnp.where(abs_r <= delta, 0.5 * residual**2, delta * (abs_r - 0.5 * delta))


def chinchilla_huber_objective(params: jax.Array, log_n: jax.Array, log_d: jax.Array,
                               log_loss: jax.Array, weights: jax.Array,
                               delta: float | jax.Array) -> jax.Array:
  """Weighted SUM of Huber losses of log-loss residuals (the Hoffmann / Besiroglu objective).

  Args:
    params: ``[5]`` Chinchilla parameters (see :func:`chinchilla_log_loss`).
    log_n, log_d, log_loss: ``[R]`` data in log space.
    weights: ``[R]`` non-negative point weights (ones for a plain fit, bootstrap counts otherwise).
    delta: Huber threshold.

  Returns:
    ``[]`` objective.
  """
  residual = log_loss - chinchilla_log_loss(params, log_n, log_d)
  return jnp.sum(weights * huber(residual, delta))


def overtrained_loss(params: jax.Array, n: jax.Array, m: jax.Array) -> jax.Array:
  """Gadre et al. over-trained law in their code's parametrisation.

  Args:
    params: ``[4]`` = (alpha_n, beta_n, p, E).
    n: ``[R]`` parameter counts N (``N = sqrt(C / (6 M))``).
    m: ``[R]`` token multipliers M = D / N.

  Returns:
    ``[R]`` predicted loss ``E + alpha_n N^p + beta_n 6^(p/2) (M N)^p``.
  """
  alpha_n, beta_n, p, e = params[0], params[1], params[2], params[3]
  log_n = jnp.log(n)
  return (alpha_n * jnp.exp(p * log_n)
          + beta_n * jnp.exp(p * (0.5 * jnp.log(jnp.asarray(6.0, n.dtype)) + jnp.log(m) + log_n)) + e)


def reducible_power_law(params: jax.Array, c: jax.Array) -> jax.Array:
  """``E + lambda C^-alpha`` with ``params = (log_lambda, alpha, E)``; ``c``: ``[R]`` -> ``[R]``."""
  return params[2] + jnp.exp(params[0] - params[1] * jnp.log(c))


def loss_to_error(params: jax.Array, loss: jax.Array) -> jax.Array:
  """``epsilon - k exp(-gamma L)`` with ``params = (k, gamma, epsilon)``; ``loss``: ``[R]`` -> ``[R]``."""
  return params[2] - params[0] * jnp.exp(-params[1] * loss)


def coverage_log(params: jax.Array, k: jax.Array) -> jax.Array:
  """Log coverage ``a k^b`` with ``params = (a, b)``; ``k``: ``[R]`` -> ``[R]``."""
  return params[0] * jnp.exp(params[1] * jnp.log(k))


# --------------------------------------------------------------------------------------------------
# Local optimisers (one start; the caller vmaps over starts)
# --------------------------------------------------------------------------------------------------


class MinimizeInfo(NamedTuple):
  value: jax.Array       # [] objective at the returned parameters
  grad_norm: jax.Array   # [] gradient norm there
  num_steps: jax.Array   # [] int32 iterations used


def lbfgs_minimize(fun: Callable[[jax.Array], jax.Array], params0: jax.Array, max_steps: int,
                   gtol: float = 1e-7, ftol: float = 1e-12, memory_size: int = 10,
                   max_backtracking_steps: int = 60) -> tuple[jax.Array, MinimizeInfo]:
  """Minimises ``fun`` from ``params0`` with optax's L-BFGS and a backtracking (Armijo) line search.

  The stopping rule follows scipy's L-BFGS-B: stop when ``max |grad| <= gtol``, or when an iteration
  lowers the objective by at most ``ftol * max(|f_prev|, |f|, 1)`` (including a failed line search
  that does not lower it at all), or after ``max_steps`` iterations. Under ``jax.vmap`` over starts each start keeps its own stopping point (its state
  stops changing), but the loop runs until the slowest start stops.

  Args:
    fun: ``[P] -> []`` differentiable objective.
    params0: ``[P]`` start.
    max_steps: iteration cap (static).
    gtol: tolerance on the largest absolute gradient entry.
    ftol: tolerance on the objective decrease per iteration (scipy's ``ftol`` convention).
    memory_size: L-BFGS history length.
    max_backtracking_steps: line-search cap per iteration (the step halves each time).

  Returns:
    ``([P] params, MinimizeInfo)``. Non-finite objectives are reported, not raised.
  """
  # Halving from step 1 reaches 1e-18 in 60 tries: enough for the huge gradients of poor starts.
  ls = optax.scale_by_backtracking_linesearch(max_backtracking_steps=max_backtracking_steps,
                                              decrease_factor=0.5, store_grad=True)
  opt = optax.lbfgs(memory_size=memory_size, linesearch=ls)
  value_and_grad = optax.value_and_grad_from_state(fun)
  dtype = params0.dtype

  def step(carry):
    params, state, count, _, f_prev = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
    new_params = optax.apply_updates(params, updates)
    f_new = optax.tree.get(state, "value")
    g_new = optax.tree.get(state, "grad")
    small_grad = jnp.max(jnp.abs(g_new)) <= gtol
    scale = jnp.maximum(jnp.maximum(jnp.abs(value), jnp.abs(f_new)), jnp.asarray(1.0, dtype))
    small_change = (value - f_new) <= ftol * scale
    done = small_grad | small_change | ~jnp.isfinite(f_new)
    return new_params, state, count + 1, done, f_new

  def keep_going(carry):
    _, _, count, done, _ = carry
    return (count < max_steps) & ~done

  init = (params0, opt.init(params0), jnp.asarray(0, jnp.int32), jnp.asarray(False),
          jnp.asarray(jnp.inf, dtype))
  params, _, count, _, _ = jax.lax.while_loop(keep_going, step, init)
  value, grad = jax.value_and_grad(fun)(params)
  return params, MinimizeInfo(value, jnp.linalg.norm(grad), count)


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


# --------------------------------------------------------------------------------------------------
# pass@k
# --------------------------------------------------------------------------------------------------


def log_pass_fail_ratio(n: jax.Array, c: jax.Array, k: jax.Array, num_terms: int,
                        chunk: int = 256) -> jax.Array:
  """``log(C(n-c, k) / C(n, k))`` by the product form, exact up to float rounding.

  The ratio is symmetric in ``c`` and ``k``: ``prod_{j<m} (1 - s/(n-j))`` with ``m = min(c, k)``
  and ``s = max(c, k)``, so only ``m`` factors are needed, each taken as ``log1p(-s/(n-j))``. It is
  ``-inf`` when ``c + k > n`` (every draw of ``k`` contains a correct sample).

  Args:
    n, c, k: broadcastable integer arrays (samples drawn, correct samples, draws).
    num_terms: static upper bound on ``min(c, k)`` over all entries.
    chunk: how many factors to add per scan step.

  Returns:
    Float array of the broadcast shape, in the default float dtype (float64 under x64).
  """
  n, c, k = jnp.broadcast_arrays(n, c, k)
  dtype = jnp.result_type(float)
  m = jnp.minimum(c, k)
  s = jnp.maximum(c, k).astype(dtype)
  nf = n.astype(dtype)
  num_chunks = max(1, -(-num_terms // chunk))
  offsets = jnp.arange(chunk)

  def body(acc, start):
    j = start + offsets                                              # [chunk]
    jj = j.reshape((1,) * n.ndim + (chunk,))
    active = jj < m[..., None]
    denom = nf[..., None] - jj.astype(dtype)
    frac = jnp.where(active, s[..., None] / jnp.where(active, denom, 1.0), 0.0)
    frac = jnp.minimum(frac, 1.0)                                    # only when c + k > n
    terms = jnp.where(active, jnp.log1p(-frac), 0.0)
    return acc + jnp.sum(terms, axis=-1), None

  starts = jnp.arange(num_chunks) * chunk
  acc, _ = jax.lax.scan(body, jnp.zeros(n.shape, dtype), starts)
  return jnp.where(c + k > n, -jnp.inf, acc)


def pass_at_k_per_problem(n: jax.Array, c: jax.Array, k: jax.Array, num_terms: int) -> jax.Array:
  """Unbiased pass@k per problem, ``1 - C(n-c, k)/C(n, k)``.

  Args:
    n: ``[P]`` samples drawn per problem. c: ``[P]`` correct samples. k: ``[K]`` draws.
    num_terms: static bound on ``min(c, k)`` (see :func:`log_pass_fail_ratio`).

  Returns:
    ``[P, K]`` pass@k, computed as ``-expm1(log ratio)`` so that small values keep full precision.
  """
  log_ratio = log_pass_fail_ratio(n[:, None], c[:, None], k[None, :], num_terms)
  return -jnp.expm1(log_ratio)


# --------------------------------------------------------------------------------------------------
# Sample-compute allocation (OSCA)
# --------------------------------------------------------------------------------------------------


def allocation_coverage(counts: jax.Array, log_q: jax.Array) -> jax.Array:
  """Expected coverage of an allocation: mean over problems of ``1 - prod_j (1 - p_ij)^n_j``.

  Args:
    counts: ``[J]`` samples per configuration (integers, may be 0).
    log_q: ``[P, J]`` ``log(1 - p_ij)`` (``-inf`` where ``p_ij = 1``).

  Returns:
    ``[]`` expected coverage.
  """
  n = counts.astype(log_q.dtype)
  terms = jnp.where(n[None, :] > 0, n[None, :] * log_q, 0.0)
  return jnp.mean(-jnp.expm1(jnp.sum(terms, axis=1)))


class AllocationInfo(NamedTuple):
  coverage: jax.Array       # [] expected coverage of the returned allocation
  greedy_coverage: jax.Array  # [] coverage after the greedy phase
  spend: jax.Array          # [] total cost of the allocation
  greedy_steps: jax.Array   # [] int32
  climb_steps: jax.Array    # [] int32


def allocate_samples(log_q: jax.Array, costs: jax.Array, budget: jax.Array, max_greedy_steps: int,
                     max_climb_steps: int) -> tuple[jax.Array, AllocationInfo]:
  """Greedy allocation followed by hill climbing, maximising :func:`allocation_coverage`.

  Greedy: repeatedly add the one sample with the largest coverage gain per unit cost among the
  configurations still affordable. Hill climbing: repeatedly apply the best single move among
  "move one sample from configuration i to j" and "add one sample to j" that keeps the spend within
  ``budget`` and raises the coverage, until no move helps.

  Args:
    log_q: ``[P, J]`` ``log(1 - p_ij)``.
    costs: ``[J]`` positive cost per sample of each configuration.
    budget: ``[]`` total budget (same unit as ``costs``).
    max_greedy_steps: static cap on greedy additions (at least ``budget / min(costs)``).
    max_climb_steps: static cap on hill-climbing moves.

  Returns:
    ``([J] int32 counts, AllocationInfo)``.
  """
  num_configs = log_q.shape[1]
  eye = jnp.eye(num_configs, dtype=jnp.int32)
  cover = lambda n: allocation_coverage(n, log_q)
  tiny = jnp.asarray(1e-13, log_q.dtype)

  def greedy_cond(carry):
    counts, spend, steps, stop = carry
    return (steps < max_greedy_steps) & ~stop

  def greedy_body(carry):
    counts, spend, steps, _ = carry
    base = cover(counts)
    gains = jax.vmap(lambda e: cover(counts + e))(eye) - base          # [J]
    affordable = spend + costs <= budget * (1 + 1e-12)
    score = jnp.where(affordable, gains / costs, -jnp.inf)
    j = jnp.argmax(score)
    any_ok = jnp.any(affordable)
    counts = jnp.where(any_ok, counts + eye[j], counts)
    spend = jnp.where(any_ok, spend + costs[j], spend)
    return counts, spend, steps + 1, ~any_ok

  zero = jnp.zeros(num_configs, jnp.int32)
  counts, spend, g_steps, _ = jax.lax.while_loop(
      greedy_cond, greedy_body, (zero, jnp.asarray(0.0, costs.dtype), jnp.asarray(0, jnp.int32),
                                 jnp.asarray(False)))
  greedy_cov = cover(counts)

  # Candidate moves: transfers i -> j ([J, J], the diagonal is a no-op) and pure additions [J].
  delta_move = eye[None, :, :] - eye[:, None, :]                          # [J(from), J(to), J]
  delta_move = delta_move.reshape(num_configs * num_configs, num_configs)
  moves = jnp.concatenate([delta_move, eye], axis=0)                      # [J*J + J, J]
  move_cost = moves.astype(costs.dtype) @ costs                           # [M]

  def climb_cond(carry):
    _, _, cov, steps, stop = carry
    return (steps < max_climb_steps) & ~stop

  def climb_body(carry):
    counts, spend, cov, steps, _ = carry
    cand = counts[None, :] + moves                                        # [M, J]
    valid = jnp.all(cand >= 0, axis=1) & (spend + move_cost <= budget * (1 + 1e-12))
    covs = jax.vmap(cover)(cand)
    covs = jnp.where(valid, covs, -jnp.inf)
    best = jnp.argmax(covs)
    improve = covs[best] > cov + tiny
    counts = jnp.where(improve, cand[best], counts)
    spend = jnp.where(improve, spend + move_cost[best], spend)
    cov = jnp.where(improve, covs[best], cov)
    return counts, spend, cov, steps + 1, ~improve

  counts, spend, cov, c_steps, _ = jax.lax.while_loop(
      climb_cond, climb_body, (counts, spend, greedy_cov, jnp.asarray(0, jnp.int32),
                               jnp.asarray(False)))
  return counts, AllocationInfo(cov, greedy_cov, spend, g_steps, c_steps)


# --------------------------------------------------------------------------------------------------
# Confidence-based early stopping (Self-Calibration)
# --------------------------------------------------------------------------------------------------


class EarlyStopResult(NamedTuple):
  answer: jax.Array        # [] chosen answer id
  num_samples: jax.Array   # [] int32 samples consumed
  stopped_early: jax.Array  # [] bool: the threshold was reached before the last sample


def early_stop_best_of_n(confidence: jax.Array, answers: jax.Array, tau: jax.Array) -> EarlyStopResult:
  """Early-stopping Best-of-N for one query.

  Samples are read in order; the first one whose confidence is at least ``tau`` is returned. If none
  reaches ``tau``, all samples are used and the most confident one is returned (ties: first).

  Args:
    confidence: ``[S]`` confidences in [0, 1].
    answers: ``[S]`` integer answer ids.
    tau: ``[]`` threshold.
  """
  num = confidence.shape[0]
  hit = confidence >= tau
  first = jnp.argmax(hit)
  any_hit = jnp.any(hit)
  idx = jnp.where(any_hit, first, jnp.argmax(confidence))
  used = jnp.where(any_hit, first + 1, num).astype(jnp.int32)
  return EarlyStopResult(answers[idx], used, any_hit & (used < num))


def adaptive_weighted_consistency(confidence: jax.Array, answers: jax.Array, tau: jax.Array,
                                  min_samples: int = 1) -> EarlyStopResult:
  """Adaptive confidence-weighted self-consistency for one query.

  After each sample ``t`` (from ``min_samples`` on), the confidence-weighted vote
  ``W_t(z) = sum_{i<=t} c_i [y_i = z]`` is formed; sampling stops as soon as the leading answer's
  share ``max_z W_t(z) / sum_z W_t(z)`` reaches ``tau``. The answer is the weighted-vote winner at
  the stopping point (all samples if the threshold is never reached).

  Args:
    confidence: ``[S]`` non-negative confidences.
    answers: ``[S]`` integer answer ids.
    tau: ``[]`` share threshold in (0, 1].
    min_samples: static minimum number of samples before stopping is allowed.
  """
  num = confidence.shape[0]
  same = answers[:, None] == answers[None, :]                      # [S(candidate), S(sample)]
  steps = jnp.arange(num)
  upto = steps[None, :] <= steps[:, None]                          # [T, S] sample i seen by step t
  w = jnp.where(upto, confidence[None, :], 0.0)                    # [T, S]
  votes = w @ same.T.astype(w.dtype)                               # [T, S(candidate)]
  votes = jnp.where(upto, votes, -jnp.inf)                         # only answers seen so far
  lead = jnp.max(votes, axis=1)                                    # [T]
  total = jnp.sum(w, axis=1)
  share = jnp.where(total > 0, lead / jnp.where(total > 0, total, 1.0), 0.0)
  stop = (share >= tau) & (steps + 1 >= min_samples)
  any_stop = jnp.any(stop)
  t = jnp.where(any_stop, jnp.argmax(stop), num - 1)
  winner = jnp.argmax(votes[t])
  return EarlyStopResult(answers[winner], (t + 1).astype(jnp.int32), any_stop & (t + 1 < num))
