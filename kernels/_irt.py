"""IRT log-likelihood, priors and the MAP fit loop (1PL, 2PL, 3PL, multidimensional 2PL).

The item response function is the slope-intercept form

    P(y_ji = 1) = c_i + (1 - c_i) * sigmoid(a_i . theta_j - b_i)

with abilities ``theta`` [N, D], slopes ``a`` [I, D], intercept-form difficulties ``b`` [I] and lower
asymptotes ``c`` [I]. For D = 1 the classical a(theta - beta) form has ``beta = b / a``.

Everything here is pure JAX. The fit is an ``(init, chunk)`` pair: :func:`irt_fit_init` builds the
state on the host, :func:`irt_fit_chunk` runs up to ``n_steps`` iterations of the lean L-BFGS driver
(``_lbfgs.py``: one objective evaluation per loop iteration, backtracking line search, patience stopping rule)
and stops early on convergence. The caller jits
``irt_fit_chunk`` (``config`` static) and loops over chunks, which is where a progress bar can be updated.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax.kernels._lbfgs import LeanLBFGSState, lean_lbfgs_init, lean_lbfgs_run


class IRTPriorConfig(NamedTuple):
  """Static model and prior settings (hashable: pass as a static argument).

  Attributes:
    kind: "1pl", "2pl" or "3pl".
    dim: latent dimension D (1PL needs D = 1).
    theta_sd: prior sd of each ability coordinate, theta ~ N(0, theta_sd^2).
    b_mean, b_sd: Gaussian prior on intercept-form difficulties b.
    a_prior: "lognormal" (a = exp(a_raw), a_raw ~ N(a_mean, a_sd^2), slopes stay positive) or
      "normal" (a ~ N(a_mean, a_sd^2), usual for D > 1).
    a_mean, a_sd: location and scale of the slope prior (on log a for "lognormal").
    c_mode: "none" (c = 0), "fixed" (c given per item, not fitted) or "learned"
      (c = sigmoid(c_raw), c_raw ~ N(c_logit_mean, c_logit_sd^2)).
    c_logit_mean, c_logit_sd: prior of the learned asymptote on the logit scale.
    hierarchical: if True, the means and sds of b and of a_raw are fitted too instead of fixed at
      b_mean/b_sd and a_mean/a_sd: means ~ N(configured mean, hyper_sd^2), variances ~
      inverse-gamma(2, 2 * sd^2) (mode at the configured sd; it keeps MAP from collapsing them).
    hyper_sd: scale of the hyperprior on the means.
    prior_scale: multiplies every log-prior term (1 = the priors as stated; > 1 = stronger).
  """

  kind: str = "2pl"
  dim: int = 1
  theta_sd: float = 1.0
  b_mean: float = 0.0
  b_sd: float = 3.0
  a_prior: str = "lognormal"
  a_mean: float = 0.0
  a_sd: float = 0.5
  c_mode: str = "none"
  c_logit_mean: float = -1.1
  c_logit_sd: float = 0.5
  hierarchical: bool = False
  hyper_sd: float = 2.0
  prior_scale: float = 1.0


class IRTParams(NamedTuple):
  """Free parameters of an IRT model (a pytree).

  Attributes:
    theta: [N, D] abilities.
    a_raw: [I, D] slopes, on the log scale when ``a_prior == "lognormal"``; unused for 1PL.
    b: [I] intercept-form difficulties.
    c_raw: [I] logit of the lower asymptote when learned, else the asymptote c itself (not fitted).
    hyper: [4] (mu_b, log_sd_b, mu_a, log_sd_a) when hierarchical, unused otherwise.
  """

  theta: jax.Array
  a_raw: jax.Array
  b: jax.Array
  c_raw: jax.Array
  hyper: jax.Array


class IRTFitState(NamedTuple):
  """State carried between fit chunks.

  Attributes:
    solver: the lean L-BFGS driver's :class:`~tinyjax.kernels.LeanLBFGSState` over the flattened parameter
      vector (one leaf compiles faster than five; :func:`irt_unflatten` gives the :class:`IRTParams`);
      ``solver.step`` counts iterations, ``solver.done`` is convergence.
  """

  solver: LeanLBFGSState

  @property
  def step(self) -> jax.Array:
    """[] int32, iterations done."""
    return self.solver.step

  @property
  def converged(self) -> jax.Array:
    """[] bool, the stopping rule fired."""
    return self.solver.done


class IRTFitInfo(NamedTuple):
  """Diagnostics of a chunk (never fed back).

  Attributes:
    value: [] objective (negative log posterior per observed entry).
    grad_norm: [] max-abs gradient.
    is_finite: [] bool, whether value and parameters are finite.
  """

  value: jax.Array
  grad_norm: jax.Array
  is_finite: jax.Array


def slopes(params: IRTParams, config: IRTPriorConfig) -> jax.Array:
  """Slopes a [I, D] from the free parameters."""
  if config.kind == "1pl":
    return jnp.ones_like(params.a_raw)
  if config.a_prior == "lognormal":
    return jnp.exp(params.a_raw)
  return params.a_raw


def asymptotes(params: IRTParams, config: IRTPriorConfig) -> jax.Array:
  """Lower asymptotes c [I] from the free parameters."""
  if config.c_mode == "learned":
    return jax.nn.sigmoid(params.c_raw)
  if config.c_mode == "fixed":
    return jax.lax.stop_gradient(params.c_raw)
  return jnp.zeros_like(params.b)


def irt_logits(theta: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
  """Slope-intercept logits ``theta @ a.T - b``.

  Args:
    theta: [N, D] abilities.
    a: [I, D] slopes.
    b: [I] intercepts.

  Returns:
    [N, I] logits.
  """
  return theta @ a.T - b[None, :]


def irt_prob(theta: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
  """Probability of a correct answer, c + (1 - c) * sigmoid(theta . a - b).

  Args:
    theta: [N, D]. a: [I, D]. b: [I]. c: [I].

  Returns:
    [N, I] probabilities.
  """
  return c[None, :] + (1.0 - c[None, :]) * jax.nn.sigmoid(irt_logits(theta, a, b))


def _log_probs(logits: jax.Array, c: jax.Array | None) -> tuple[jax.Array, jax.Array]:
  """log P(correct), log P(wrong) for logits [..., I] and asymptotes c [I] (None: c = 0)."""
  if c is None:
    return jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
  log_c = jnp.log(c)
  log_1mc = jnp.log1p(-c)
  log_p = jnp.logaddexp(log_c, log_1mc + jax.nn.log_sigmoid(logits))
  return log_p, log_1mc + jax.nn.log_sigmoid(-logits)


@jax.custom_jvp
def _bernoulli_loglik(logits: jax.Array, responses: jax.Array, mask: jax.Array) -> jax.Array:
  """sum over observed entries of y z - softplus(z) (= y log s(z) + (1 - y) log s(-z)), for logits z [N, I].

  The derivative is written out, ``sum(where(mask, y - sigmoid(z), 0) * dz)`` (and transposed by JAX for the
  gradient): autodiff's own form splits off ``where(mask, y, 0)`` and ``where(mask, 1, 0)`` times the constant
  cotangent, which XLA hoists out of the fit's ``while_loop`` as two more [N, I] float matrices (80 MB of a
  1,000 x 10,000 fit's 160 MB of temporaries). A JVP rule, so forward mode and Hessians still work.

  int8 ``responses`` are signed answers (+1 right, -1 wrong, 0 unobserved; ``mask`` is not read): the sum is
  then ``-sum |r| softplus(-r z)`` and its derivative ``r sigmoid(-r z)``, one byte an entry and no select.
  XLA:CPU's fused reductions read bool operands and selects slowly: at 1,024 x 10,240 the objective's value and
  gradient took 51 ms with bool answers and mask and 38 ms with signed int8 answers (``/tmp`` microbenchmark).
  """
  if responses.dtype == jnp.int8:
    r = _signed(responses, logits)
    return -jnp.sum(jnp.abs(r) * _softplus(-r * logits))
  return jnp.sum(jnp.where(mask, _times(responses, logits) - _softplus(logits), 0.0))


def _signed(responses: jax.Array, logits: jax.Array) -> jax.Array:
  """int8 signed answers [N, I] as floats in the logits' dtype, converted where they are used.

  The answers are a constant of the fit's ``while_loop``, so XLA would hoist a plain conversion out of it and keep
  [N, I] float copies for the whole fit (three of them, 120 MB at 1,024 x 10,240). Adding a zero that depends
  on the logits (``z != z`` is False unless z is NaN) ties the conversion to each evaluation, where it fuses.
  """
  z = logits[(0,) * logits.ndim]
  return (responses + (z != z).astype(responses.dtype)).astype(logits.dtype)


def _softplus(x: jax.Array) -> jax.Array:
  """``log(1 + exp(x))`` as ``max(x, 0) + log1p(exp(-|x|))`` (finite x; jax.nn.softplus handles infinities too,
  at a few times the cost in a fused reduction)."""
  return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


def _times(responses: jax.Array, x: jax.Array) -> jax.Array:
  """``responses * x``; bool responses (0/1 answers) select instead, so that no float copy of them is made."""
  if responses.dtype == jnp.bool_:
    return jnp.where(responses, x, jnp.zeros((), x.dtype))
  return responses * x


def _bernoulli_jvp(primals, tangents):
  logits, responses, mask = primals
  d_logits, d_responses, _ = tangents
  out = _bernoulli_loglik.fun(logits, responses, mask)
  tangent = jnp.zeros((), out.dtype)
  if responses.dtype == jnp.int8:   # signed answers: d/dz of -|r| softplus(-r z) is r sigmoid(-r z)
    if not isinstance(d_logits, jax.custom_derivatives.SymbolicZero):
      r = _signed(responses, logits)
      tangent = tangent + jnp.sum(r * jax.nn.sigmoid(-r * logits) * d_logits)
    return out, tangent
  if not isinstance(d_logits, jax.custom_derivatives.SymbolicZero):
    p = jax.nn.sigmoid(logits)
    residual = jnp.where(responses, 1.0 - p, -p) if responses.dtype == jnp.bool_ else responses - p
    tangent = tangent + jnp.sum(jnp.where(mask, residual, 0.0) * d_logits)
  if not isinstance(d_responses, jax.custom_derivatives.SymbolicZero):
    tangent = tangent + jnp.sum(jnp.where(mask, logits, 0.0) * d_responses)
  return out, tangent


_bernoulli_loglik.defjvp(_bernoulli_jvp, symbolic_zeros=True)


def irt_log_likelihood(theta: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array | None,
                       responses: jax.Array, mask: jax.Array) -> jax.Array:
  """Masked (fractional) Bernoulli log-likelihood, summed over observed entries.

  For 0/1 responses this is the Bernoulli log-likelihood; for scores y in [0, 1] it is the
  fractional-Bernoulli (cross-entropy) form y log p + (1 - y) log(1 - p).

  Args:
    theta: [N, D] abilities.
    a: [I, D] slopes.
    b: [I] intercepts.
    c: [I] lower asymptotes, or None for c = 0 (numerically exact log-sigmoid path).
    responses: [N, I] values in [0, 1]; ignored where ``mask`` is False (may hold anything finite). Or int8
      signed answers (+1 right, -1 wrong, 0 unobserved), which carry the mask themselves.
    mask: [N, I] bool, True where observed (not read for int8 signed answers; may be None then).

  Returns:
    [] total log-likelihood.
  """
  logits = irt_logits(theta, a, b)
  if c is None:
    return _bernoulli_loglik(logits, responses, mask)
  else:
    log_p, log_q = _log_probs(logits, c)
    if responses.dtype == jnp.int8:
      responses, mask = responses > 0, responses != 0
    y = responses.astype(logits.dtype)
    ll = y * log_p + (1.0 - y) * log_q
  return jnp.sum(jnp.where(mask, ll, 0.0))


def _normal_logpdf(x, mean, sd):
  return -0.5 * jnp.square((x - mean) / sd) - jnp.log(sd)


def _masked_sum(x: jax.Array, keep: jax.Array | None) -> jax.Array:
  """Sum of ``x`` [K, ...] over the rows where ``keep`` [K] is True (all rows when None)."""
  if keep is None:
    return jnp.sum(x)
  return jnp.sum(jnp.where(keep.reshape(keep.shape + (1,) * (x.ndim - 1)), x, 0.0))


def irt_log_prior(params: IRTParams, config: IRTPriorConfig, rows: jax.Array | None = None,
                  items: jax.Array | None = None, prior_scale: jax.Array | None = None) -> jax.Array:
  """Log prior density of the free parameters (up to a constant), times ``config.prior_scale``.

  ``rows`` [N] and ``items`` [I] (bool, None = all) mark the real models and items of a padded problem: the
  priors of padded abilities and item parameters are left out, so that they get no gradient and padding
  changes neither the objective nor the optimum. ``prior_scale`` ([], traced) replaces ``config.prior_scale`` when
  given, so that fits whose prior strength differs (it grows with the number of models) share a compiled program.
  """
  dtype = params.b.dtype
  lp = _masked_sum(_normal_logpdf(params.theta, 0.0, jnp.asarray(config.theta_sd, dtype)), rows)
  if config.hierarchical:
    mu_b, log_sd_b, mu_a, log_sd_a = params.hyper
    sd_b, sd_a = jnp.exp(log_sd_b), jnp.exp(log_sd_a)
    # Means: N(configured mean, hyper_sd^2). Variances: inverse-gamma(2, 2 * sd0^2), written on the
    # log-sd scale (Jacobian included), whose mode is the configured sd0. Unlike a Gaussian on log sd,
    # its -beta / var term keeps the joint MAP from collapsing a variance to zero.
    hs = jnp.asarray(config.hyper_sd, dtype)
    lp += _normal_logpdf(mu_b, config.b_mean, hs) + _normal_logpdf(mu_a, config.a_mean, hs)
    for log_sd, sd0 in ((log_sd_b, config.b_sd), (log_sd_a, config.a_sd)):
      var = jnp.exp(2.0 * log_sd)
      lp += -2.0 * jnp.log(var) - 2.0 * sd0 ** 2 / var
  else:
    mu_b, sd_b = jnp.asarray(config.b_mean, dtype), jnp.asarray(config.b_sd, dtype)
    mu_a, sd_a = jnp.asarray(config.a_mean, dtype), jnp.asarray(config.a_sd, dtype)
  lp += _masked_sum(_normal_logpdf(params.b, mu_b, sd_b), items)
  if config.kind != "1pl":
    lp += _masked_sum(_normal_logpdf(params.a_raw, mu_a, sd_a), items)
  if config.c_mode == "learned":
    lp += _masked_sum(_normal_logpdf(params.c_raw, config.c_logit_mean, jnp.asarray(config.c_logit_sd, dtype)),
                      items)
  return (config.prior_scale if prior_scale is None else prior_scale) * lp


def irt_objective(params: IRTParams, responses: jax.Array, mask: jax.Array,
                  config: IRTPriorConfig, rows: jax.Array | None = None,
                  items: jax.Array | None = None, prior_scale: jax.Array | None = None,
                  n_obs: jax.Array | None = None) -> jax.Array:
  """Negative log posterior divided by the number of observed entries (the MAP objective).

  Args:
    params: :class:`IRTParams` with theta [N, D], a_raw [I, D], b [I], c_raw [I], hyper [4].
    responses: [N, I] values in [0, 1] (anything finite where unobserved); or bool for 0/1 answers (a quarter of
      float32's memory), computed in the parameters' dtype; or int8 signed answers (+1 right, -1 wrong, 0
      unobserved: one byte an entry for answers and mask together, and the fastest form on CPU).
    mask: [N, I] bool (not read for int8 signed answers; may be None then).
    config: static :class:`IRTPriorConfig`.
    rows: [N] bool, the real models of a padded problem (None = all); padded rows must be unobserved in ``mask``.
    items: [I] bool, the real items (None = all); padded items must be unobserved in ``mask``.
    prior_scale: [] traced prior strength replacing ``config.prior_scale`` (None: the config's).
    n_obs: [] the number of observed entries, ``sum(mask)``, when the caller knows it (None: counted here).

  Returns:
    [] objective.
  """
  a = slopes(params, config)
  c = asymptotes(params, config) if config.c_mode != "none" else None
  ll = irt_log_likelihood(params.theta, a, params.b, c, responses, mask)
  if n_obs is None:
    n_obs = jnp.sum(responses != 0) if responses.dtype == jnp.int8 else jnp.sum(mask)
  n_obs = jnp.maximum(n_obs, 1).astype(params.b.dtype)
  return -(ll + irt_log_prior(params, config, rows, items, prior_scale)) / n_obs


def irt_flatten(params: IRTParams):
  """``[P]`` the parameters in one vector, in :class:`IRTParams` field order (as ``ravel_pytree`` orders them);
  numpy in, numpy out (nothing compiled on the host)."""
  return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in params])


def irt_unflatten(flat, n_models: int, n_items: int, dim: int) -> IRTParams:
  """:class:`IRTParams` (theta [N, D], a_raw [I, D], b [I], c_raw [I], hyper [4]) from the ``[P]`` vector of
  :func:`irt_flatten`; works on numpy and JAX arrays alike (slices and reshapes only)."""
  sizes = (n_models * dim, n_items * dim, n_items, n_items, 4)
  cut = np.cumsum((0,) + sizes)
  parts = [flat[cut[k]:cut[k + 1]] for k in range(5)]
  return IRTParams(parts[0].reshape(n_models, dim), parts[1].reshape(n_items, dim), *parts[2:])


def irt_fit_init(params: IRTParams, memory_size: int = 10) -> IRTFitState:
  """Initial fit state at ``params`` (see :func:`irt_fit_chunk`), nothing evaluated yet.

  Built with numpy: on the host it compiles nothing (the caller puts it on the device, on a mesh too).
  """
  return IRTFitState(solver=lean_lbfgs_init(irt_flatten(params), memory_size))


def irt_fit_chunk(state: IRTFitState, responses: jax.Array, mask: jax.Array, config: IRTPriorConfig,
                  n_steps: int, ftol: float, gtol: float, patience: int = 3,
                  rows: jax.Array | None = None, items: jax.Array | None = None,
                  prior_scale: jax.Array | None = None, n_obs: jax.Array | None = None
                  ) -> tuple[IRTFitState, IRTFitInfo]:
  """Runs up to ``n_steps`` L-BFGS iterations (the lean driver: one objective evaluation per loop iteration,
  backtracking line search), stopping early once converged.

  Convergence (as :func:`~tinyjax.kernels.patience_rule`): the relative decrease of the objective stays below
  ``ftol`` for ``patience`` consecutive iterations, or the max-abs gradient falls below ``gtol``.

  Args:
    state: current :class:`IRTFitState` (from :func:`irt_fit_init` or a previous chunk).
    responses: [N, I] values in [0, 1].
    mask: [N, I] bool.
    config: static :class:`IRTPriorConfig`.
    n_steps: iteration cap for this chunk (traced: changing it does not recompile).
    ftol: relative objective tolerance.
    gtol: gradient tolerance.
    patience: static, consecutive small decreases needed.
    rows, items: [N] and [I] bool, the real models and items of a padded problem (None = all). Padded
      parameters get no gradient, so they never move, and neither the objective, the max-abs gradient nor
      the stopping rule sees them: the fit follows the unpadded one (to float rounding).
    prior_scale: [] traced prior strength replacing ``config.prior_scale`` (None: the config's).
    n_obs: [] ``sum(mask)`` when the caller knows it (None: counted here).

  Returns:
    ``(state, info)``; ``info`` describes ``state.solver.params`` (no extra evaluation). The value is finite
    only if every moving parameter is (each has a prior term).
  """
  n, i = responses.shape
  fun = lambda x: irt_objective(irt_unflatten(x, n, i, config.dim), responses, mask, config, rows, items,
                                prior_scale, n_obs)
  solver = lean_lbfgs_run(fun, state.solver, n_steps, ftol, gtol, patience)
  return IRTFitState(solver), IRTFitInfo(value=solver.value, grad_norm=solver.grad_max,
                                         is_finite=jnp.isfinite(solver.value))
