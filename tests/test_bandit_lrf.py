"""Tests for the UCB-E-LRF bound and cell choice: standard-error bonus without replacement, paired cells.

Small shapes only; the synthetic precision test compiles one vmapped loop per setting (two in all).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import tinyjax as tj
from tinyjax import kernels

M, N = 7, 30


def _lrf(cfg: tj.bandit.LRFConfig) -> kernels.BanditAlgorithm:
  return kernels.ucbe_lrf(**dataclasses.asdict(cfg))


def _bounds(cfg, st, mean, std):
  return kernels.lrf_bounds(st, mean, std, a=cfg.a, eta=cfg.eta, bonus=cfg.bonus, prior_count=cfg.prior_count)


def _state(values, observed, cfg):
  st = _lrf(cfg).init(jax.random.key(0), *values.shape)
  return st._replace(values=jnp.asarray(np.where(observed, values, 0.0), jnp.float32),
                     observed=jnp.asarray(observed))


@pytest.fixture(scope="module")
def partial():
  rng = np.random.default_rng(0)
  values = (rng.random((M, N)) < np.linspace(0.3, 0.9, M)[:, None]).astype(float)
  observed = rng.random((M, N)) < 0.4
  observed[0] = True                  # fully revealed
  observed[1] = False                 # nothing revealed
  observed[2] = np.arange(N) < N - 1  # all but one cell
  observed[3, :3] = True              # at least 2 cells everywhere else
  observed[3, 3:] = False
  return values, observed


def test_row_variances_shrink_to_pooled_variance(partial):
  values, observed = partial
  cfg = tj.bandit.LRFConfig(prior_count=3.0)
  got = np.asarray(jax.jit(kernels.row_variances, static_argnums=1)(_state(values, observed, cfg), 3.0))
  n = observed.sum(1)
  means = np.array([values[i, observed[i]].mean() if n[i] else 0.0 for i in range(M)])
  ss = np.array([((values[i, observed[i]] - means[i]) ** 2).sum() for i in range(M)])
  pooled = ss.sum() / np.maximum(n - 1, 0).sum()
  ref = (ss + 3.0 * pooled) / (np.maximum(n - 1, 0) + 3.0)
  np.testing.assert_allclose(got, ref, rtol=1e-5)
  assert ref[1] == pytest.approx(pooled)          # an empty row gets the pooled variance


def test_lrf_bound_is_mean_plus_standard_error_without_replacement(partial):
  """The bonus is sqrt(a s^2 (1 - n/N) / n): it shrinks to 0 as the row fills up (finite population)."""
  values, observed = partial
  cfg = tj.bandit.LRFConfig(a=2.0, prior_count=3.0, eta=0.5, ensemble_size=4)
  st = _state(values, observed, cfg)
  mean, var = jax.jit(kernels.lrf_moments)(st, st.factors)
  std = jnp.sqrt(var)
  got = np.asarray(jax.jit(lambda st, mean, std: _bounds(cfg, st, mean, std))(st, mean, std))
  s2 = np.asarray(kernels.row_variances(st, 3.0))
  n = observed.sum(1)
  fill = np.where(observed, values, np.asarray(mean) + 0.5 * np.asarray(std))
  with np.errstate(divide="ignore", invalid="ignore"):
    ref = fill.mean(1) + np.sqrt(2.0 * s2 * (1 - n / N) / n)
  ref[1], ref[0] = np.inf, -np.inf                # empty row first; a full row has nothing left to reveal
  np.testing.assert_allclose(got, ref, rtol=1e-5)
  # the row with one unrevealed cell: bonus sqrt(2 s^2 / (N (N - 1))), far below the UCB-E bonus sqrt(2 / n)
  bonus = got[2] - fill[2].mean()
  assert bonus == pytest.approx(np.sqrt(2.0 * s2[2] / (N * (N - 1))), rel=1e-4)
  assert bonus < 0.1 * np.sqrt(2.0 / (N - 1))
  # the earlier bound stays available
  old = np.asarray(_bounds(dataclasses.replace(cfg, bonus="ucbe"), st, mean, std))
  np.testing.assert_allclose(old[3], fill[3].mean() + np.sqrt(2.0 / 3) * (1 - 3 / N), rtol=1e-5)


def test_paired_cells_follow_the_rival(partial):
  """The picked method is evaluated first on examples already revealed for its rival."""
  values, observed = partial
  observed = observed.copy()
  observed[1, :2] = True                          # no empty row: the bound decides
  cfg = tj.bandit.LRFConfig(batch_size=3, ensemble_size=4, warmup=0.0)
  st = _state(values, observed, cfg)
  aux = kernels.LRFAux(keep=jnp.ones((4, M, N), bool), order=jnp.zeros((M * N,), jnp.int32))
  ones = jnp.ones((M, N))
  select = jax.jit(_lrf(cfg).select)
  for seed in range(4):
    st2, batch, _ = select(st, jax.random.key(seed), aux, ones, 1e9, 1e9)
    mean, var = kernels.lrf_moments(st2, st2.factors)
    bounds = np.asarray(_bounds(cfg, st2, mean, jnp.sqrt(var)))
    row = int(batch.rows[0])
    assert bounds[row] == bounds.max()
    est = np.where(observed, values, np.asarray(mean)).mean(1)
    est[row] = -np.inf
    rival = int(np.argmax(est))
    paired = np.flatnonzero(observed[rival] & ~observed[row])
    cols = np.asarray(batch.cols)[np.asarray(batch.valid)]
    assert not observed[row, cols].any()
    if paired.size >= cfg.batch_size:
      assert set(cols.tolist()) <= set(paired.tolist())
    else:
      assert set(paired.tolist()) <= set(cols.tolist())


@pytest.fixture(scope="module")
def top_group():
  """40 methods x 300 examples, true means 79.7, 78.7, 78.3, then 72.3 and below: a close top group."""
  rng = np.random.default_rng(26)
  p = np.concatenate([[0.80, 0.79, 0.78], rng.uniform(0.5, 0.72, 37)])
  hard = rng.random(300) < 0.3                    # shared example difficulty, as on real benchmarks
  prob = np.where(hard[None], p[:, None] - 0.25, p[:, None] + 0.25 * 0.3 / 0.7)
  scores = (rng.random((40, 300)) < np.clip(prob, 0, 1)).astype(float)
  np.testing.assert_allclose(np.sort(scores.mean(1))[::-1][:4], [0.797, 0.787, 0.783, 0.723], atol=1e-3)
  return scores


@pytest.mark.slow
def test_lrf_screens_the_field_then_reveals_the_top_group(top_group):
  """15% of the cells (1800 = 6 rows): ucbe-lrf screens the 37 weak methods cheaply and spends the rest on
  the top three, whose rows it reveals fully (their bonus then vanishes and their bound is their exact mean).

  Measured for seeds 0-3: the best is found 4/4 times, 10 of the 12 top rows are fully revealed. The earlier
  bound (``bonus="ucbe", columns="std"``: sqrt(a / n) does not shrink with the row's variance) found it 2/4
  times and revealed none of the top rows fully.
  """
  top = np.argsort(-top_group.mean(1))[:3]
  full, found = 0, 0
  for seed in range(4):
    res = tj.bandit.run(top_group, budget=0.15, algorithm="ucbe-lrf", seed=seed, batch_size=8, ensemble_size=4)
    assert res.n_evaluated == int(0.15 * top_group.size)
    found += res.best == top[0]
    full += int(res.observed[top].all(1).sum())
  assert found == 4
  assert full >= 8


@pytest.mark.parametrize("algorithm, kwargs, match", [
    ("ucbe-lrf", dict(bonus="nope"), "bonus"), ("ucbe-lrf", dict(columns="nope"), "columns"),
    ("ucbe-lrf", dict(prior_count=0.0), "prior_count"), ("ucbe-lrf", dict(l2=0.0), "l2"),
    ("sequential-halving", dict(keep=1.0), "keep"), ("sequential-halving", dict(keep=0.0), "keep")])
def test_settings_are_validated(algorithm, kwargs, match):
  with pytest.raises(tj.errors.ConfigError, match=match):
    tj.bandit.make_config(algorithm, **kwargs)
