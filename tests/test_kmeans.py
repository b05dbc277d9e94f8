"""k-means kernel against a numpy reference (same seeding, plain Lloyd loop)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tinyjax import kernels
from tinyjax.tiny import anchors


def _np_lloyd(x, w, centers, n_iter):
  for _ in range(n_iter):
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    lab = d2.argmin(1)
    new = centers.copy()
    for c in range(centers.shape[0]):
      m = lab == c
      if w[m].sum() > 0:
        new[c] = (w[m, None] * x[m]).sum(0) / w[m].sum()
    centers = new
  d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
  lab = d2.argmin(1)
  return centers, lab, float((w * d2[np.arange(len(x)), lab]).sum())


_step = jax.jit(kernels.lloyd_step)


@pytest.mark.parametrize("n,d,c", [(1, 1, 1), (7, 2, 3), (60, 5, 4)])
def test_lloyd_step_matches_numpy(n, d, c):
  rng = np.random.default_rng(n)
  x, w = rng.normal(size=(n, d)), rng.uniform(0.1, 2.0, n)
  centers = x[rng.choice(n, c, replace=False)]
  with jax.enable_x64(True):
    got_c, got_l, got_i = _step(jnp.asarray(x), jnp.asarray(w), jnp.asarray(centers))
    got_c, got_l = np.asarray(got_c), np.asarray(got_l)
  d2 = ((x[:, None] - centers[None]) ** 2).sum(-1)
  lab = d2.argmin(1)
  np.testing.assert_array_equal(got_l, lab)
  np.testing.assert_allclose(float(got_i), (w * d2[np.arange(n), lab]).sum(), rtol=1e-10, atol=1e-12)
  ref, _, _ = _np_lloyd(x, w, centers, 1)
  np.testing.assert_allclose(got_c, ref, rtol=1e-10, atol=1e-12)


def test_kmeans_matches_numpy_from_same_seeding():
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.normal(m, 0.6, size=(40, 3)) for m in (-3, 0, 3)])
  w = rng.uniform(0.5, 1.5, len(x))
  key = jax.random.key(3)
  with jax.enable_x64(True):
    init = np.asarray(kernels.kmeans_plusplus_init(key, jnp.asarray(x), jnp.asarray(w), 5))
    state, info = jax.jit(kernels.kmeans, static_argnums=(3, 4))(key, jnp.asarray(x), jnp.asarray(w), 5, 200)
  # Seeds are rows of the data, all distinct.
  assert all(np.any(np.all(np.isclose(x, row), axis=1)) for row in init)
  assert len(np.unique(init, axis=0)) == 5
  ref_c, ref_l, ref_i = _np_lloyd(x, w, init, int(info.n_iter))
  assert bool(info.converged)
  np.testing.assert_allclose(np.asarray(state.centers), ref_c, rtol=1e-8, atol=1e-10)
  np.testing.assert_array_equal(np.asarray(state.labels), ref_l)
  np.testing.assert_allclose(float(state.inertia), ref_i, rtol=1e-8)


def test_kmeanspp_never_reseeds_a_duplicate():
  x = np.array([[0.0], [0.0], [0.0], [5.0], [9.0]])
  init_fn = jax.jit(jax.vmap(kernels.kmeans_plusplus_init, in_axes=(0, None, None, None)), static_argnums=3)
  inits = np.asarray(init_fn(jax.random.split(jax.random.key(0), 20), jnp.asarray(x, jnp.float32),
                             jnp.ones(5, jnp.float32), 3))
  for init in inits:
    assert sorted(init[:, 0].tolist()) == [0.0, 5.0, 9.0]


def test_kmeans_recovers_separated_clusters_and_restarts_help():
  rng = np.random.default_rng(1)
  means = rng.normal(0, 10, size=(6, 2))
  x = np.concatenate([rng.normal(m, 0.3, size=(30, 2)) for m in means])
  truth = np.repeat(np.arange(6), 30)
  centers, labels, inertia = anchors.kmeans(x, 6, seed=0, n_restarts=8)
  # Same partition as the truth, up to relabelling.
  pairs = set(zip(truth.tolist(), labels.tolist()))
  assert len(pairs) == 6
  _, _, one = anchors.kmeans(x, 6, seed=0, n_restarts=1)
  assert inertia <= one * (1 + 1e-5)   # float32 sums of a different restart order
  # Deterministic for a seed.
  _, labels2, inertia2 = anchors.kmeans(x, 6, seed=0, n_restarts=8)
  np.testing.assert_array_equal(labels, labels2)
  assert inertia == inertia2


def test_kmeans_validation():
  with pytest.raises(ValueError, match="n_clusters"):
    anchors.kmeans(np.zeros((3, 2)), 4)
  with pytest.raises(ValueError, match="NaN"):
    anchors.kmeans(np.array([[np.nan, 1.0]]), 1)
  with pytest.raises(ValueError, match="weights"):
    anchors.kmeans(np.zeros((3, 2)), 2, weights=-np.ones(3))
