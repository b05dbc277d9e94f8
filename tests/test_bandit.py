"""Tests for tinyjax.bandit and the ALS / bandit kernels (public names only).

Compiled functions are shared: every loop test uses the same tiny shape (6 x 40) and the same settings per
algorithm (:func:`small`), so each algorithm's loop is compiled once for the whole file.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import tinyjax as tj
from tinyjax import kernels
from tinyjax.bandit import BanditEvaluator
from tinyjax.errors import ConfigError, InputError, ResponseError

M, N = 6, 40
SEEDS = 8   # every simulate() call uses 8 seeds and one budget, so the vmapped loop compiles once
ELIMINATION = ("successive-rejects", "sequential-halving")


def small(algorithm: str) -> dict:
  """The settings every test of ``algorithm`` uses (one compiled loop per algorithm)."""
  lrf = dict(ensemble_size=4, warmup=0.05) if algorithm == "ucbe-lrf" else {}
  return dict(batch_size=4, **lrf)


@pytest.fixture(scope="module")
def scores():
  rng = np.random.default_rng(0)
  ability = np.linspace(-1.0, 1.0, M)
  difficulty = rng.normal(size=N)
  p = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
  return (rng.random((M, N)) < p).astype(float)


# ----------------------------------------------------------------------------------------------------
# ALS kernel


def _ridge(fixed, x, l2):
  """numpy closed form: argmin_w ||x - fixed w||^2 + l2 ||w||^2."""
  r = fixed.shape[1]
  return np.linalg.solve(fixed.T @ fixed + l2 * np.eye(r), fixed.T @ x)


@pytest.mark.parametrize("rank", [1, 2])
def test_als_sweep_matches_closed_form_ridge(rank):
  rng = np.random.default_rng(rank)
  x = rng.normal(size=(5, 7))
  state = jax.jit(kernels.als_init, static_argnums=(1, 2, 3, 4))(jax.random.key(0), 5, 7, rank, 2)
  new = jax.jit(kernels.als_sweep)(state, jnp.asarray(x, jnp.float32), jnp.ones((5, 7), bool), 0.3)
  for e in range(2):
    u0 = np.asarray(state.row[e], float)
    v_ref = np.stack([_ridge(u0, x[:, j], 0.3) for j in range(7)])
    np.testing.assert_allclose(np.asarray(new.col[e]), v_ref, rtol=2e-4, atol=2e-5)
    u_ref = np.stack([_ridge(v_ref, x[i], 0.3) for i in range(5)])
    np.testing.assert_allclose(np.asarray(new.row[e]), u_ref, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("rank", [1, 2])
def test_als_converges_to_truncated_svd(rank):
  """Fully observed, tiny penalty: ALS reaches the best rank-R approximation (Eckart-Young)."""
  rng = np.random.default_rng(10 + rank)
  x = rng.normal(size=(6, 9))
  u, s, vt = np.linalg.svd(x, full_matrices=False)
  best = (u[:, :rank] * s[:rank]) @ vt[:rank]
  with jax.enable_x64(True):
    fit = jax.jit(lambda x: jax.lax.fori_loop(
        0, 300, lambda _, st: kernels.als_sweep(st, x, jnp.ones((6, 9), bool), 1e-9),
        kernels.als_init(jax.random.key(1), 6, 9, rank, 3, jnp.float64)))
    state = fit(jnp.asarray(x))
    recon = np.einsum("emr,enr->emn", np.asarray(state.row), np.asarray(state.col))
  for e in range(3):
    np.testing.assert_allclose(recon[e], best, atol=1e-5)


def test_als_moments_match_numpy():
  state = jax.jit(kernels.als_init, static_argnums=(1, 2, 3, 4))(jax.random.key(2), 4, 5, 2, 6)
  mean, var = jax.jit(kernels.als_moments)(state)
  recon = np.einsum("emr,enr->emn", np.asarray(state.row), np.asarray(state.col))
  np.testing.assert_allclose(np.asarray(mean), recon.mean(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(var), recon.var(0, ddof=1), rtol=1e-3, atol=1e-5)
  _, row_var = jax.jit(kernels.als_row_moments)(state, 3)
  np.testing.assert_allclose(np.asarray(row_var), recon[:, 3].var(0, ddof=1), rtol=1e-3, atol=1e-5)


def test_ensemble_uncertainty_shrinks_where_observed():
  rng = np.random.default_rng(3)
  rows, cols = 30, 60
  x = np.outer(rng.uniform(0.5, 1.5, rows), rng.uniform(0.2, 1.0, cols)) + 0.1 * rng.normal(size=(rows, cols))
  observed = rng.random((rows, cols)) < 0.15
  observed[:10] = rng.random((10, cols)) < 0.9            # rows 0-9 well observed, the rest sparsely

  @jax.jit
  def fit(values, observed):
    state = kernels.als_init(jax.random.key(3), rows, cols, 1, 32)
    weights = observed[None] & kernels.dropout_keep(jax.random.key(4), 32, rows, cols, 0.2)
    state = jax.lax.fori_loop(0, 30, lambda _, st: kernels.als_sweep(st, values, weights, 0.1), state)
    return kernels.als_moments(state)

  _, var = fit(jnp.asarray(np.where(observed, x, 0.0), jnp.float32), jnp.asarray(observed))
  std = np.sqrt(np.asarray(var))
  assert std[observed].mean() < std[~observed].mean()
  assert std[:10].mean() < 0.7 * std[10:].mean()


# ----------------------------------------------------------------------------------------------------
# bandit kernels


def _state_with(values, observed):
  st = kernels.bandit_state_init(*values.shape, jnp.float32)
  return st._replace(values=jnp.asarray(np.where(observed, values, 0.0), jnp.float32),
                     observed=jnp.asarray(observed))


def test_ucb_bounds_match_numpy_and_ucbe_picks_highest_bound():
  rng = np.random.default_rng(5)
  values = (rng.random((M, N)) < 0.5).astype(float)
  observed = rng.random((M, N)) < 0.3
  observed[2] = False                        # never evaluated: +inf bound
  observed[4] = True                         # fully evaluated: -inf bound
  st = _state_with(values, observed)
  got = np.asarray(kernels.ucb_bounds(st, 2.0))
  n = observed.sum(1)
  with np.errstate(invalid="ignore", divide="ignore"):
    ref = np.where(observed, values, 0).sum(1) / n + np.sqrt(2.0 / n)
  ref[2], ref[4] = np.inf, -np.inf
  np.testing.assert_allclose(got, ref, rtol=1e-5)
  alg = kernels.ucbe(batch_size=4, a=2.0)
  ones = jnp.ones((M, N))
  _, batch, _ = alg.select(st, jax.random.key(1), kernels.NoAux(), ones, 1e9, 1e9)
  assert set(np.asarray(batch.rows).tolist()) == {2}
  assert not observed[2, np.asarray(batch.cols)].any()
  observed[2] = True                         # now the finite highest bound wins
  st = _state_with(values, observed)
  bounds = np.asarray(kernels.ucb_bounds(st, 2.0))
  _, batch, _ = alg.select(st, jax.random.key(1), kernels.NoAux(), ones, 1e9, 1e9)
  assert int(batch.rows[0]) == int(np.argmax(bounds))


def test_ties_are_broken_at_random():
  x = jnp.asarray([0.0, 3.0, 1.0, 3.0, 3.0])
  picks = {int(kernels.random_argmax(jax.random.key(i), x)) for i in range(40)}
  assert picks == {1, 3, 4}
  top = {tuple(sorted(np.asarray(kernels.random_top_k(jax.random.key(i), x, 2)[1]).tolist())) for i in range(40)}
  assert top == {(1, 3), (1, 4), (3, 4)}


def test_metrics_match_hand_computation():
  true = np.array([0.5, 0.9, 0.7, 0.1])
  m = tj.bandit.metrics(true, np.array([2, 1]), np.array([[0.1, 0.6, 0.8, 0.0], [0.5, 0.9, 0.7, 0.1]]), k=2)
  np.testing.assert_allclose(m["regret"], [20.0, 0.0])
  np.testing.assert_allclose(m["precision"], [0.0, 1.0])
  idcg = 2 + 1 / np.log2(3)
  np.testing.assert_allclose(m["ndcg"], [(1 + 2 / np.log2(3)) / idcg, 1.0])


# ----------------------------------------------------------------------------------------------------
# offline runs


@pytest.mark.parametrize("algorithm", tj.bandit.ALGORITHMS)
def test_no_pair_twice_and_budget_respected(scores, algorithm):
  res = tj.bandit.run(scores, budget=0.3, algorithm=algorithm, seed=1, **small(algorithm))
  limit = int(np.floor(0.3 * scores.size))
  assert res.n_evaluated <= limit
  # a pair revealed twice would count twice in n_evaluated but once in the mask
  assert res.n_evaluated == int(res.observed.sum())
  assert res.means.shape == (M,) and 0 <= res.best < M
  if algorithm not in ELIMINATION:          # anytime algorithms spend the budget exactly
    assert res.n_evaluated == limit
  if algorithm == "ucbe-lrf":
    assert np.isfinite(res.means).all()
  else:                                     # empirical means of the revealed cells
    assert res.observed.any(1).sum() >= 2
    for i in range(M):
      if res.observed[i].any():
        np.testing.assert_allclose(res.means[i], scores[i][res.observed[i]].mean(), rtol=1e-5)


def test_budget_with_costs(scores):
  cost = np.where(np.arange(N) % 2 == 0, 1.0, 3.0)[None].repeat(M, 0)
  res = tj.bandit.run(scores, budget=0.3, algorithm="ucbe-lrf", seed=1, cost=cost, **small("ucbe-lrf"))
  assert res.spent <= 0.3 * cost.sum() + 1e-6
  np.testing.assert_allclose(res.spent, cost[res.observed].sum(), rtol=1e-6)


def test_full_budget_finds_the_best(scores):
  res = tj.bandit.run(scores, budget=1.0, algorithm="ucbe", seed=0, **small("ucbe"))
  assert res.observed.all()
  assert res.best == int(np.argmax(scores.mean(1)))


def test_simulate_matches_run_for_same_seed(scores):
  sim = tj.bandit.simulate(scores, budgets=[0.3], algorithm="ucbe-lrf", seeds=SEEDS, shuffle_rows=False,
                           **small("ucbe-lrf"))
  for j in (2, 5):
    res = tj.bandit.run(scores, budget=0.3, algorithm="ucbe-lrf", seed=j, **small("ucbe-lrf"))
    assert sim.best[j, 0] == res.best
  true = scores.mean(1)
  np.testing.assert_allclose(sim.regret[:, 0], 100 * (true.max() - true[sim.best[:, 0]]))


def test_row_order_does_not_matter_for_ties():
  """Identical rows: the pick must not always be the lowest index."""
  same = np.tile((np.arange(N) % 3 == 0).astype(float), (M, 1))
  sim = tj.bandit.simulate(same, budgets=[0.3], algorithm="ucbe-lrf", seeds=SEEDS, shuffle_rows=False,
                           **small("ucbe-lrf"))
  assert len(set(sim.best[:, 0].tolist())) > 1


# ----------------------------------------------------------------------------------------------------
# elimination algorithms (successive rejects, sequential halving)


def _waterfill_numpy(num_arms, num_cols, total, keep, start=0):
  """numpy reference of the halving schedule: equal budget c per round, t_r = min(N, t_{r-1} + c / a_r)."""
  arms = [num_arms]
  while arms[-1] > 1:
    arms.append(min(max(int(np.ceil(arms[-1] * keep - 1e-9)), 1), arms[-1] - 1))
  arms = np.asarray(arms[:-1], float)

  def plan(c):
    t, ts, spent = float(start), [], 0.0
    for a in arms:
      new = min(float(num_cols), t + c / a)
      spent += a * (new - t)
      t = new
      ts.append(t)
    return np.asarray(ts), spent

  lo, hi = 0.0, total + 1.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if plan(mid)[1] <= total else (lo, mid)
  return arms.astype(int), np.maximum(np.floor(plan(lo)[0] + 1e-4), 1).astype(int)


@pytest.mark.parametrize("num_arms, num_cols, total, keep", [
    (80, 437, 1748, 0.5), (450, 756, 34020, 0.5), (7, 40, 90, 0.5), (6, 40, 240, 0.5), (30, 100, 600, 0.7)])
def test_halving_schedule_matches_numpy(num_arms, num_cols, total, keep):
  arms, ts = _waterfill_numpy(num_arms, num_cols, total, keep)
  assert kernels.halving_arms(num_arms, keep) == tuple(arms)
  got = np.asarray(kernels.halving_targets(num_arms, num_cols, total, keep))
  np.testing.assert_array_equal(got, ts)
  spent = np.sum(arms * np.diff(np.concatenate([[0], got])))
  assert spent <= total and (np.diff(got) >= 0).all() and got[-1] <= num_cols
  # unless the last rows are full, the schedule spends all but a rounding remainder
  assert got[-1] == num_cols or spent >= total - 2 * arms.sum()


@pytest.mark.parametrize("num_arms, num_cols, total, keep, start", [(315, 756, 28620, 0.7, 12), (14, 60, 300, 0.7, 5)])
def test_halving_schedule_from_a_start_matches_numpy(num_arms, num_cols, total, keep, start):
  """The schedule after a first round: survivors that already have ``start`` cells share what is left."""
  arms, ts = _waterfill_numpy(num_arms, num_cols, total, keep, start)
  got = np.asarray(kernels.halving_targets(num_arms, num_cols, total, keep, start=start))
  np.testing.assert_array_equal(got, ts)
  assert got[0] > start and np.sum(arms * np.diff(np.concatenate([[start], got]))) <= total


def _kr20(x):
  k = x.shape[1]
  return k / (k - 1) * (1 - x.var(0).sum() / x.sum(1).var())


def test_shared_alpha_matches_kr20():
  rng = np.random.default_rng(4)
  values = (rng.random((7, 12)) < np.linspace(0.2, 0.8, 7)[:, None]).astype(np.float32)
  observed = np.zeros((7, 12), bool)
  observed[:, :5] = True
  observed[:3, 5:9] = True                                     # survivors' later cells are not shared
  state = kernels.bandit_state_init(7, 12, jnp.float32)
  state = state._replace(values=jnp.asarray(np.where(observed, values, 0)), observed=jnp.asarray(observed))
  np.testing.assert_allclose(kernels.shared_alpha(state), _kr20(values[:, :5]), rtol=1e-5)
  one_each = (np.arange(12)[None, :] == np.arange(7)[:, None] % 5).astype(np.float32)   # every total is 1
  ties = state._replace(values=jnp.asarray(np.where(observed, one_each, 0)))
  assert kernels.shared_alpha(ties) == -np.inf
  one = state._replace(observed=jnp.asarray(observed & (np.arange(12) < 1)))
  assert kernels.shared_alpha(one) == np.inf


@pytest.mark.parametrize("noisy_keep", [0.7, 0.5])
def test_halving_keeps_more_after_a_noisy_first_round(noisy_keep):
  """A matrix whose methods differ only by luck (alpha of the first round below 0.3) keeps ``noisy_keep`` of
  the methods per round and follows the schedule of the rest of the budget; a clear matrix halves."""
  rng = np.random.default_rng(1)
  noise = (rng.random((20, 60)) < 0.5).astype(float)
  clear = (rng.random((20, 60)) < np.linspace(0.05, 0.95, 20)[:, None]).astype(float)
  total = np.floor(0.3 * noise.size)
  for S, is_noisy in ((noise, True), (clear, False)):
    res = tj.bandit.run(S, budget=0.3, seed=0, batch_size=4, noisy_keep=noisy_keep)
    counts = res.observed.sum(1)
    t1 = counts.min()
    first = np.flatnonzero(res.observed.all(0))
    assert first.size == t1 and (_kr20(S[:, first]) < 0.3) == is_noisy
    assert res.n_evaluated <= total
    keep = noisy_keep if is_noisy else 0.5
    survivors = kernels.halving_arms(20, keep)[1]
    assert (counts > t1).sum() == survivors
    if is_noisy and noisy_keep != 0.5:
      tail = np.asarray(kernels.halving_targets(survivors, 60, total - 20 * t1, keep, start=t1))
      assert set(np.unique(counts)) <= {int(t1), *tail.tolist()}
      assert res.observed[res.best].all()                       # the last survivors' rows are whole


@pytest.mark.parametrize("algorithm", ELIMINATION)
def test_elimination_pairs_examples_and_drops_lowest_means(scores, algorithm):
  """Every method is evaluated on a prefix of one example order, and a method evaluated on t examples was
  dropped because its mean over those t examples ranked below the kept methods' means over the same t."""
  res = tj.bandit.run(scores, budget=0.4, algorithm=algorithm, seed=3, **small(algorithm))
  counts = res.observed.sum(1)
  order = np.argsort(-res.observed.sum(0), kind="stable")       # examples by how many methods saw them
  for i in range(M):
    np.testing.assert_array_equal(np.sort(np.flatnonzero(res.observed[i])), np.sort(order[:counts[i]]))
  for t in np.unique(counts)[:-1]:                             # every round but the last
    shared = order[:t]
    dropped = np.flatnonzero(counts == t)
    kept = np.flatnonzero(counts > t)
    assert scores[np.ix_(dropped, shared)].mean(1).max() <= scores[np.ix_(kept, shared)].mean(1).min()
  if algorithm == "sequential-halving":
    total = np.floor(0.4 * scores.size)
    targets = np.asarray(kernels.halving_targets(M, N, total, 0.5))
    assert set(np.unique(counts)) <= set(targets.tolist())
    arms = kernels.halving_arms(M, 0.5)                 # (6, 3, 2)
    for r, t in enumerate(targets):
      assert (counts >= t).sum() == arms[r]
  else:
    assert len(np.unique(counts)) >= 3                         # one method dropped per phase


@pytest.mark.parametrize("algorithm", ELIMINATION)
def test_elimination_with_full_rows_finds_the_best(scores, algorithm):
  res = tj.bandit.run(scores, budget=1.0, algorithm=algorithm, seed=0, **small(algorithm))
  true = scores.mean(1)
  assert true[res.best] == true.max()
  assert res.observed[res.best].all()


# ----------------------------------------------------------------------------------------------------
# online


@pytest.mark.parametrize("algorithm", ["ucbe-lrf", "sequential-halving"])
def test_online_matches_offline(scores, algorithm):
  res = tj.bandit.run(scores, budget=0.3, algorithm=algorithm, seed=7, **small(algorithm))
  ev = BanditEvaluator(M, N, budget=0.3, algorithm=algorithm, seed=7, **small(algorithm))
  calls = []

  def evaluate(method, examples):
    calls.append((method, examples.tolist()))
    return scores[method, examples]

  online = ev.run(evaluate)
  np.testing.assert_array_equal(online.observed, res.observed)
  assert online.best == res.best and online.n_evaluated == res.n_evaluated
  np.testing.assert_allclose(online.means, res.means, rtol=1e-5)
  told = [(m, x) for m, xs in calls for x in xs]
  assert len(told) == len(set(told)) == res.n_evaluated


@pytest.mark.parametrize("algorithm", ["ucbe-lrf", "sequential-halving"])
def test_save_resume_equals_uninterrupted(scores, tmp_path, algorithm):
  full = BanditEvaluator(M, N, budget=0.3, algorithm=algorithm, seed=11, **small(algorithm))
  ref = full.run(lambda m, xs: scores[m, xs])
  ev = BanditEvaluator(M, N, budget=0.3, algorithm=algorithm, seed=11, **small(algorithm))
  ev.run(lambda m, xs: scores[m, xs], max_steps=3)
  pending = ev.next_batch()                  # a pending batch is saved too
  assert ev.save(tmp_path / "state.npz").exists()
  back = tj.io.load(tmp_path / "state.npz")
  assert isinstance(back, BanditEvaluator)
  np.testing.assert_array_equal(back.next_batch(), pending)
  out = back.run(lambda m, xs: scores[m, xs])
  np.testing.assert_array_equal(out.observed, ref.observed)
  assert out.best == ref.best
  np.testing.assert_allclose(out.means, ref.means, rtol=1e-6)


def test_tell_rejects_wrong_pairs_and_bad_scores(scores):
  ev = BanditEvaluator(M, N, budget=0.3, algorithm="ucbe-lrf", seed=0, **small("ucbe-lrf"))
  with pytest.raises(InputError, match="no pending batch"):
    ev.tell([[0, 0]], [1.0])
  pairs = ev.next_batch()
  with pytest.raises(ResponseError, match="NaN"):
    ev.tell(pairs, np.full(len(pairs), np.nan))
  with pytest.raises(ResponseError, match="told scores"):
    ev.tell(pairs, np.full(len(pairs), 2.0))
  wrong = pairs.copy()
  pending = set(map(tuple, pairs.tolist()))
  wrong[0, 1] = next(x for x in range(N) if (int(wrong[0, 0]), x) not in pending)   # a batch has < N cells
  with pytest.raises(InputError, match="pending pairs"):
    ev.tell(wrong, np.zeros(len(pairs)))
  ev.tell(pairs[::-1], scores[pairs[::-1, 0], pairs[::-1, 1]])   # any order is fine
  assert ev.n_evaluated == len(pairs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(algorithm="nope"), "unknown algorithm"),
    (dict(budget=0.0), "budget"),
    (dict(budget=1.5), "budget"),
    (dict(algorithm="ucbe-lrf", rank=0), "rank"),
    (dict(batch_size=1000), "batch_size"),
    (dict(algorithm="ucbe-lrf", drop_probability=1.0), "drop_probability"),
    (dict(bogus=1), "unknown bandit parameter"),
    (dict(rank=2), "unknown bandit parameter.*sequential-halving"),   # a setting of another algorithm
    (dict(noisy_keep=1.0), "noisy_keep"),
    (dict(noisy_alpha=float("nan")), "noisy_alpha"),
    (dict(seed=-1), "seed"),
    (dict(algorithm=tj.bandit.HalvingConfig(), keep=0.6), "config object"),
])
def test_run_validates_arguments(scores, kwargs, match):
  with pytest.raises(ConfigError, match=match):
    tj.bandit.run(scores, **kwargs)


def test_configs_of_different_algorithms_never_compare_equal():
  """The compiled runs are keyed by the config: two algorithms with the same settings must not share one."""
  configs = [tj.bandit.make_config(a, batch_size=4) for a in tj.bandit.ALGORITHMS]
  assert len(set(configs)) == len(configs)
  assert tj.bandit.make_config() == tj.bandit.make_config(tj.bandit.DEFAULT_ALGORITHM)


def test_a_config_object_runs_like_its_settings(scores):
  cfg = tj.bandit.HalvingConfig(batch_size=4, keep=0.6)
  by_object = tj.bandit.run(scores, 0.3, cfg, seed=2)
  by_name = tj.bandit.run(scores, 0.3, "sequential-halving", seed=2, batch_size=4, keep=0.6)
  np.testing.assert_array_equal(by_object.observed, by_name.observed)
  assert by_object.best == by_name.best and by_object.algorithm == "sequential-halving"


def test_run_rejects_bad_scores(scores):
  bad = scores.copy()
  bad[0, 0] = np.nan
  with pytest.raises(ResponseError, match="NaN"):
    tj.bandit.run(bad)
  with pytest.raises(ResponseError, match="2-D"):
    tj.bandit.run(scores[0])
  with pytest.raises(ResponseError, match="at least 2"):
    tj.bandit.run(scores[:1])
  with pytest.raises(ResponseError, match="scores"):
    tj.bandit.simulate(scores * 2.0)                         # scores are in [0, 1]
  with pytest.raises(InputError, match="cost"):
    tj.bandit.run(scores, cost=-np.ones_like(scores))


# ----------------------------------------------------------------------------------------------------
# hardness diagnostics


def _verification_brute_force(S, z):
  """numpy: for each rival, the smallest n whose paired mean difference with the best is z SEs above 0."""
  n_cols = S.shape[1]
  b = int(np.argmax(S.mean(1)))
  out = np.zeros(S.shape[0], int)
  for i in range(S.shape[0]):
    if i == b:
      continue
    d = S[b] - S[i]
    gap, var = d.mean(), d.var()
    out[i] = n_cols
    for n in range(1, n_cols + 1):
      se = np.sqrt(var / n * (n_cols - n) / (n_cols - 1))
      if gap > 0 and (se == 0 or gap / se >= z):
        out[i] = n
        break
  out[b] = out[np.arange(S.shape[0]) != b].max()
  return b, out


@pytest.mark.parametrize("z", [0.5, 1.64, 2.33])
def test_verification_cells_match_brute_force(scores, z):
  rng = np.random.default_rng(3)
  cont = rng.random((5, 30))
  cont[2] = cont[int(np.argmax(cont.mean(1)))] - 0.1             # differs from the best by a constant: 1 cell
  tied = scores.copy()
  tied[1] = tied[int(np.argmax(tied.mean(1)))][::-1]              # same mean as the best: the whole row
  with jax.enable_x64(True):
    for S in (scores, cont, tied):
      best, cells = kernels.verification_cells(jnp.asarray(S, jnp.float64), z)
      ref_best, ref = _verification_brute_force(S, z)
      assert int(best) == ref_best
      np.testing.assert_array_equal(np.asarray(cells), ref)
  assert ref[1] == tied.shape[1]


def test_split_half_correlation_matches_numpy(scores):
  key = jax.random.key(5)
  got = np.asarray(kernels.split_half_correlation(key, jnp.asarray(scores, jnp.float32), 3))
  for s, k in enumerate(jax.random.split(key, 3)):
    first = np.asarray(jax.random.permutation(k, N))[:N // 2]
    mask = np.zeros(N, bool)
    mask[first] = True
    ref = np.corrcoef(scores[:, mask].mean(1), scores[:, ~mask].mean(1))[0, 1]
    np.testing.assert_allclose(got[s], ref, rtol=1e-5)


def test_hardness_separates_clear_and_noisy_matrices():
  rng = np.random.default_rng(0)
  clear = (rng.random((30, 200)) < np.linspace(0.1, 0.9, 30)[:, None]).astype(float)   # 2.8 pt steps
  noisy = (rng.random((30, 200)) < 0.5).astype(float)                                 # differences are luck
  hc, hn = tj.bandit.hardness(clear, n_splits=50), tj.bandit.hardness(noisy, n_splits=50)
  assert hc.reliability > 0.9 and abs(hn.reliability) < 0.3
  assert np.isclose(hc.reliability_full, 2 * hc.reliability / (1 + hc.reliability))
  assert hc.fraction[1] < hn.fraction[1]
  assert np.all(np.diff(hn.cells) >= 0)                                # larger z, more cells
  _, ref = _verification_brute_force(clear, 1.64)
  assert hc.cells[1] == ref.sum() and hc.fraction[1] == ref.sum() / clear.size
  assert hc.near[1] == np.sum(np.delete(ref, hc.best) > 100)
  assert hc.best == int(np.argmax(clear.mean(1)))
  assert "0.00x" not in hc.describe(0.1) and "% of the cells" in hc.describe()


@pytest.mark.parametrize("kwargs, match", [(dict(z=0.0), "z must"), (dict(z=[1.0, np.nan]), "z must"),
                                           (dict(n_splits=0), "n_splits")])
def test_hardness_validates(scores, kwargs, match):
  with pytest.raises(ConfigError, match=match):
    tj.bandit.hardness(scores, **kwargs)
  with pytest.raises(ResponseError, match="NaN"):
    tj.bandit.hardness(np.where(np.eye(M, N) > 0, np.nan, scores))
  with pytest.raises(ResponseError, match="at least 2"):
    tj.bandit.hardness(scores[:1])


@pytest.mark.slow
def test_cli_prints_metrics(scores, tmp_path, capsys):
  from tinyjax.cli import main

  np.save(tmp_path / "s.npy", scores)
  rc = main(["bandit", str(tmp_path / "s.npy"), "--budget", "0.3", "--algorithm", "ucbe-lrf", "--seeds", "8",
             "--batch-size", "4", "--ensemble-size", "4", "--warmup", "0.05", "--plot", str(tmp_path / "p.png"), "-v"])
  out = capsys.readouterr().out
  assert rc == 0
  assert "precision" in out and "regret" in out
  h = tj.bandit.hardness(scores)
  assert f"how hard: {h.plain(0.3)}" in out
  assert f"split-half reliability {h.reliability:.3f}" in out
  assert f"z=1.64: {int(h.cells[1])} ({h.fraction[1] / 0.3:.2f}x the budget)" in out
  assert (tmp_path / "p.png").stat().st_size > 0


def test_cli_rejects_a_setting_the_algorithm_does_not_take(scores, tmp_path, capsys):
  from tinyjax.cli import main

  np.save(tmp_path / "s.npy", scores)
  assert main(["bandit", str(tmp_path / "s.npy"), "--rank", "2"]) == 1          # default: sequential halving
  assert "unknown bandit parameter(s) ['rank'] for sequential-halving" in capsys.readouterr().err


def test_importing_the_bandit_package_does_not_import_jax():
  """The command line builds its parser from tinyjax.bandit's names and configs, without jax."""
  import subprocess
  import sys

  code = "import sys, tinyjax._cli_bandit; print('jax' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.strip() == "False"


# ----------------------------------------------------------------------------------------------------
# real data


@pytest.mark.slow
@pytest.mark.realdata
def test_real_data_precision_and_regret(shared_data):
  """helm_lite/gsm (80 x 1000, top-two gap 0.7 pt) at 10% of the cells, default algorithm (sequential halving).

  Measured with 20 seeds (docs/bandit.md): precision 1.00, regret 0.00 pt (ucbe-lrf also 1.00; plain UCB-E 0.95);
  uniform sampling: 0.45 and 1.37 pt. Four seeds here, with margin.
  """
  S = np.load(shared_data / "irt" / "helm_lite" / "gsm.npy")
  sim = tj.bandit.simulate(S, budgets=[0.1], seeds=4)
  assert (sim.n_evaluated <= 0.1 * S.size).all()
  assert sim.precision.mean() >= 0.75
  assert sim.regret.mean() <= 0.35


@pytest.mark.slow
@pytest.mark.realdata
def test_real_data_hardness(shared_data):
  """musr is the matrix where the default misses 0.9 at 10%: its split-half reliability is 0.760 against 0.996
  for gsm, and an oracle that knows the best needs 0.94x of a 10% budget at z = 1.64 (gsm 0.59x; docs/bandit.md)."""
  musr = tj.bandit.hardness(np.load(shared_data / "irt" / "openllm_v2" / "musr.npy"), z=1.64, n_splits=50)
  gsm = tj.bandit.hardness(np.load(shared_data / "irt" / "helm_lite" / "gsm.npy"), z=1.64, n_splits=50)
  assert 0.7 < musr.reliability < 0.8 and gsm.reliability > 0.99
  assert musr.cells[0] == 31829 and musr.fraction[0] > 0.09
  assert gsm.fraction[0] < 0.06
