"""tinyjax's ability estimates against peers' outputs (mirt, girth) on the same 2PL items.

Peers use P = sigmoid(a (theta - beta)); tinyjax uses P = sigmoid(a theta - b), so beta = b / a.
Both MAP estimators use a N(0, 1) ability prior, so the estimates must agree to optimiser precision.
Each test skips when its peer is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

N_MODELS, N_ITEMS = 40, 30


@pytest.fixture(scope="module")
def items_and_answers():
  rng = np.random.default_rng(11)
  # float32-representable items, so tinyjax (float32) and the peers (float64) score the same items
  a = rng.lognormal(0.0, 0.3, N_ITEMS).astype(np.float32).astype(np.float64)
  b = rng.normal(0.0, 1.2, N_ITEMS).astype(np.float32).astype(np.float64)
  theta = rng.normal(0.0, 1.0, N_MODELS)
  y = (rng.random((N_MODELS, N_ITEMS)) < 1 / (1 + np.exp(-(np.outer(theta, a) - b)))).astype(np.float64)
  y[0] = 1.0  # all correct: MAP must stay finite
  y[1] = 0.0  # all wrong
  return a, b, y


@pytest.fixture(scope="module")
def tj_model(items_and_answers):
  """A tinyjax 2PL model holding exactly these items (no fit: the comparison is about scoring)."""
  from tinyjax.irt import IRTModel, IRTPriors

  a, b, y = items_and_answers
  priors = IRTPriors()  # theta ~ N(0, 1)
  config = priors.resolve("2pl", 1, N_MODELS, "none", 0.25)
  assert config.theta_sd == 1.0
  f32 = np.float32  # what a default (float32) fit holds
  return IRTModel(kind="2pl", dim=1, a=a[:, None].astype(f32), b=b.astype(f32), c=np.zeros(N_ITEMS, f32),
                  theta=np.zeros((N_MODELS, 1), f32),
                  item_ids=[f"i{j}" for j in range(N_ITEMS)], model_ids=[f"m{i}" for i in range(N_MODELS)],
                  priors=priors, config=config)


def _mirt_model(a, b):
  from mirt.models.dichotomous import TwoParameterLogistic

  model = TwoParameterLogistic(n_items=len(a))
  model.set_parameters(discrimination=np.asarray(a, np.float64), difficulty=np.asarray(b / a, np.float64))
  model._is_fitted = True  # parameters set by hand, as after a fit
  return model


def test_map_matches_mirt_fscores(items_and_answers, tj_model):
  mirt = pytest.importorskip("mirt")
  import tinyjax as tj

  a, b, y = items_and_answers
  ours = tj.estimate_ability(tj_model, y, method="map")
  ref = mirt.fscores(_mirt_model(a, b), y, method="MAP")
  ref_theta = np.asarray(ref.theta, np.float64).reshape(-1)
  ref_se = np.asarray(ref.standard_error, np.float64).reshape(-1)
  assert np.all(np.isfinite(ours.theta)) and ours.converged.all()
  np.testing.assert_allclose(ours.theta[:, 0], ref_theta, atol=2e-4)
  # 2PL: observed = expected information, so posterior-curvature SEs agree too.
  np.testing.assert_allclose(ours.se[:, 0], ref_se, rtol=2e-3)
  assert ours.theta[0, 0] > ours.theta[2:, 0].max() and ours.theta[1, 0] < ours.theta[2:, 0].min()


def test_map_with_missing_answers_matches_mirt(items_and_answers, tj_model):
  mirt = pytest.importorskip("mirt")
  import tinyjax as tj

  a, b, y = items_and_answers
  y = y.copy()
  rng = np.random.default_rng(5)
  y[rng.random(y.shape) < 0.3] = np.nan
  y[2:, 0] = 1.0  # keep every column observed somewhere
  ours = tj.estimate_ability(tj_model, y, method="map")
  ref = np.asarray(mirt.fscores(_mirt_model(a, b), y, method="MAP").theta, np.float64).reshape(-1)
  np.testing.assert_allclose(ours.theta[:, 0], ref, atol=2e-4)


def test_map_matches_girth_ability_map(items_and_answers, tj_model):
  girth = pytest.importorskip("girth")
  import tinyjax as tj

  a, b, y = items_and_answers
  ours = tj.estimate_ability(tj_model, y, method="map")
  ref = np.asarray(girth.ability_map(y.T.astype(int), b / a, a), np.float64)  # girth: [items, models]
  # girth's fminbound stops at ~1e-5 in theta.
  np.testing.assert_allclose(ours.theta[:, 0], ref, atol=1e-3)


def test_eap_matches_mirt_fscores(items_and_answers, tj_model):
  mirt = pytest.importorskip("mirt")
  import tinyjax as tj

  a, b, y = items_and_answers
  ours = tj.estimate_ability(tj_model, y, method="eap")
  ref = mirt.fscores(_mirt_model(a, b), y, method="EAP", n_quadpts=121)
  np.testing.assert_allclose(ours.theta[:, 0], np.asarray(ref.theta).reshape(-1), atol=5e-3)
  np.testing.assert_allclose(ours.se[:, 0], np.asarray(ref.standard_error).reshape(-1), atol=5e-3)
