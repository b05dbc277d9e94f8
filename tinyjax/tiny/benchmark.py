"""``TinyBenchmark`` (one benchmark) and ``Leaderboard`` (several sharing one ability): fit, estimate, save.

``fit`` on a train matrix (models x items): fits an IRT model (dimension chosen on held-out entries by
default), picks anchors with the chosen strategy (``tinyjax.tiny.anchors``), calibrates the estimators on
validation folds of the train models (:mod:`tinyjax.tiny.calibration`) and fits the ridge regression of the
full score on the anchors. ``estimate`` turns answers on the anchors into every estimator with its interval
(:mod:`tinyjax.tiny.estimation`, :mod:`tinyjax.tiny.results`). A ``Leaderboard`` fits one IRT model on all
items, one anchor set per benchmark, and estimates one joint ability from all anchors.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, NamedTuple, Sequence

import numpy as np

from tinyjax.tiny import anchors as _anchors
from tinyjax.tiny import estimators as _est
from tinyjax._checks import check_choice, check_fraction, check_seed
from tinyjax.choices import DEFAULT_ANCHOR_STRATEGY
from tinyjax.errors import ArtifactError, ConfigError, ItemError, ResponseError
from tinyjax.tiny import estimation as _estn
from tinyjax.tiny.calibration import Calibration, calibrate
from tinyjax.tiny.answers import match_answers
from tinyjax.tiny.results import RECOMMENDED, AdaptiveEstimates, BenchmarkEstimates, Estimates

DEFAULT_STRATEGY = DEFAULT_ANCHOR_STRATEGY   # measured best over both splits (docs/accuracy.md)
DEFAULT_DIMS = (1, 2, 3)
DEFAULT_METHOD = "mle"        # ability of new models: MLE (MAP fallback), measured best in docs/accuracy.md
METHODS = ("mle", "map", "eap")
MIN_TRAIN_MODELS = 10


class FitSettings(NamedTuple):
  """Settings of a fit that :meth:`TinyBenchmark.fit` does not take (:func:`fit_tiny_benchmark`).

  Attributes:
    fold_models: a dict the caller keeps to share the validation folds' IRT fits between fits of the same train
      matrix, kind, dimension and seed (e.g. one per anchor strategy); None: fit them each time.
    tail_fraction: share of the train models per side in the tail fold (None: ``calibration.TAIL_FRACTION``).
    range_quantiles: quantiles of the train scores that end the train range (None: ``estimation.RANGE_QUANTILES``).
  """

  fold_models: dict | None = None
  tail_fraction: float | None = None
  range_quantiles: tuple[float, float] | None = None


def _responses(Y, model_ids=None, item_ids=None):
  from tinyjax import data
  r = data.load_responses(Y, model_ids=model_ids, item_ids=item_ids)
  return np.asarray(r.values, np.float64), list(r.model_ids), list(r.item_ids)


def _weights_and_groups(n_items, groups, item_weights, balance_groups):
  g = None
  if groups is not None:
    g = np.asarray(groups).astype(str)
    if g.shape != (n_items,):
      raise ItemError(f"groups must have one label per item ({n_items}), got shape {g.shape}")
  if item_weights is not None:
    weights = _est.check_item_weights(item_weights, n_items)
  elif g is not None and balance_groups:
    weights = _anchors.group_balance_weights(g)
  else:
    weights = np.full(n_items, 1.0 / n_items)
  return weights, g


def _check_n_anchors(k, n_items: int, what: str = "n_anchors") -> int:
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_items:
    raise ConfigError(f"{what} must be an int in [1, {n_items}], got {k!r}")
  return int(k)


class _TinyBase:
  """Shared machinery of TinyBenchmark and Leaderboard: fit, estimate, persistence."""

  kind_name = ""

  def __init__(self, *, irt_model, benches: list[_estn.Bench], anchor_sets: list[_anchors.Anchors],
               calib: list[Calibration], strategy: str, level: float, seed: int, method: str,
               item_ids: list[str], regressions: list, train_scores: list, residuals: list | None = None,
               range_quantiles=None):
    self.irt_model = irt_model
    self._regs = regressions
    self._train_scores = train_scores
    self._benches = benches
    self._anchor_sets = anchor_sets
    self._calib = calib
    self._residuals = residuals if residuals is not None else [None] * len(benches)
    self.strategy = strategy
    self.level = float(level)
    self.seed = int(seed)
    self.method = method
    self.item_ids = list(item_ids)
    self._range_quantiles = range_quantiles    # FitSettings.range_quantiles of an experiment's fit (None: default)

  @classmethod
  def _build(cls, Y, benches: list[_estn.Bench], *, strategy, seed, kind, dim, dims, priors, level, n_folds,
             n_restarts, method, item_ids, progress, irt_model=None, adaptive_budget=None,
             settings: FitSettings = FitSettings()):
    check_choice(strategy, _anchors.STRATEGIES, "strategy")
    seed = check_seed(seed)
    level = check_fraction(level, "level")
    check_choice(method, METHODS, "method")
    if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer))
                                or n_folds < 1):
      raise ConfigError(f"n_folds must be a positive int or None, got {n_folds!r}")
    if Y.shape[0] < MIN_TRAIN_MODELS:
      raise ResponseError(f"need at least {MIN_TRAIN_MODELS} train models to fit and validate a tiny benchmark, "
                          f"got {Y.shape[0]}")
    model = irt_model if irt_model is not None else _estn.fit_irt_model(Y, kind, dim, priors, dims, progress, seed=seed)
    if model.n_items != Y.shape[1]:
      raise ConfigError(f"irt_model has {model.n_items} items, Y has {Y.shape[1]}")
    anchor_sets = _estn.select_anchor_sets(Y, model, benches, strategy, n_restarts, seed=seed)
    calib = calibrate(Y, benches, strategy=strategy, seed=seed, kind=model.kind, dim=model.dim,
                      priors=getattr(model, "priors", None), n_folds=n_folds, n_restarts=n_restarts, level=level,
                      method=method, progress=progress, cache=settings.fold_models, adaptive_budget=adaptive_budget,
                      tail_fraction=settings.tail_fraction, range_quantiles=settings.range_quantiles)
    regs = _estn.fit_regressions(model, Y, benches, _estn.anchor_columns(benches, anchor_sets))
    scores = [_estn.true_scores(Y[:, b.cols], b.item_weights) for b in benches]
    return cls(irt_model=model, benches=benches, anchor_sets=anchor_sets, calib=[c for c, _ in calib],
               strategy=strategy, level=level, seed=seed, method=method, item_ids=item_ids, regressions=regs,
               train_scores=scores, residuals=[r for _, r in calib], range_quantiles=settings.range_quantiles)

  # --- estimation -----------------------------------------------------------------------------
  @property
  def _global_anchors(self) -> np.ndarray:
    return _estn.anchor_columns(self._benches, self._anchor_sets)

  def _estimate_all(self, Y_anchor, batch_size=None, lam_mode=None, range_quantiles=None) -> "_AllEstimates":
    """Every estimate of every benchmark, float64, by benchmark column (``range_quantiles``: experiments)."""
    matched = match_answers(Y_anchor, [self.item_ids[i] for i in self._global_anchors])
    Y = _est.check_answers(matched.values, self._global_anchors.shape[0], model_ids=matched.model_ids)
    raw = _estn.raw_estimates(self.irt_model, self._benches, self._anchor_sets, Y, self.method, batch_size,
                              self._regs)
    # Unanswered anchors: the calibrations measured with that share of the validation models' anchors hidden.
    missing = _estn.missing_fractions(Y, self._anchor_sets)
    c = _estn.combine_missing(raw, self._calib, self._train_scores, missing, lam_mode,
                              [a.indices.shape[0] for a in self._anchor_sets],
                              range_quantiles if range_quantiles is not None else self._range_quantiles)
    # Computed in the working dtype (one precision per estimate); handed to the user as float64.
    f64 = lambda x: x.astype(np.float64)  # noqa: E731
    return _AllEstimates(f64(c.values), f64(c.lo), f64(c.hi), c.exterior, np.asarray(_estn.REGIMES)[c.regime],
                         f64(missing), f64(raw.theta))

  def _diagnostics(self, j: int) -> dict:
    return {"calibration": self._calib[j].to_dict(), "residuals": self._residuals[j],
            "train_scores": np.asarray(self._train_scores[j]).copy(),
            "item_weights": self._benches[j].item_weights.copy(), "items": self._benches[j].cols.copy()}

  # --- persistence ----------------------------------------------------------------------------
  def _to_artifact(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    irt_arrays, irt_meta = self.irt_model._to_artifact()
    arrays = {f"irt__{k}": v for k, v in irt_arrays.items()}
    arrays["item_ids"] = np.asarray(self.item_ids, dtype=str)
    benches = []
    for j, (b, a, c) in enumerate(zip(self._benches, self._anchor_sets, self._calib)):
      arrays[f"b{j}__cols"] = b.cols.astype(np.int64)
      arrays[f"b{j}__mass"] = b.item_weights.astype(np.float64)     # (stored key of format 1)
      arrays[f"b{j}__anchors"] = a.indices.astype(np.int64)
      arrays[f"b{j}__weights"] = a.weights.astype(np.float64)
      arrays[f"b{j}__labels"] = a.labels.astype(np.int64)
      if b.groups is not None:
        arrays[f"b{j}__groups"] = np.asarray(b.groups).astype(str)
      arrays[f"b{j}__train_scores"] = np.asarray(self._train_scores[j], np.float64)
      reg = self._regs[j]
      arrays[f"b{j}__reg_mean"], arrays[f"b{j}__reg_coef"] = reg.mean, reg.coef
      benches.append({"name": b.name, "n_anchors": b.n_anchors, "calib": c.to_dict(),
                      "regression": {"intercept": reg.intercept, "alpha": reg.alpha}})
    meta = {"irt": irt_meta, "benches": benches, "strategy": self.strategy, "level": self.level,
            "seed": self.seed, "method": self.method}
    return arrays, meta

  @classmethod
  def _from_artifact(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]):
    from tinyjax.irt import IRTModel
    try:
      model = IRTModel._from_artifact({k[5:]: v for k, v in arrays.items() if k.startswith("irt__")}, meta["irt"])
      benches, anchor_sets, calib, regs, scores = [], [], [], [], []
      for j, bm in enumerate(meta["benches"]):
        benches.append(_estn.Bench(bm["name"], arrays[f"b{j}__cols"], arrays[f"b{j}__mass"],
                                   arrays.get(f"b{j}__groups"), int(bm["n_anchors"])))
        anchor_sets.append(_anchors.Anchors(arrays[f"b{j}__anchors"], arrays[f"b{j}__weights"],
                                            arrays[f"b{j}__labels"], meta["strategy"]))
        calib.append(Calibration.from_dict(bm["calib"]))
        regs.append(_est.ScoreRegression(arrays[f"b{j}__reg_mean"], arrays[f"b{j}__reg_coef"],
                                         float(bm["regression"]["intercept"]), float(bm["regression"]["alpha"])))
        scores.append(arrays[f"b{j}__train_scores"])
      obj = cls(irt_model=model, benches=benches, anchor_sets=anchor_sets, calib=calib, strategy=meta["strategy"],
                level=meta["level"], seed=meta["seed"], method=meta["method"],
                item_ids=[str(s) for s in arrays["item_ids"]], regressions=regs, train_scores=scores)
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"tiny benchmark file is missing or has a malformed field: {err}") from err
    for b, a in zip(benches, anchor_sets):
      if a.indices.shape != a.weights.shape or np.any(a.indices >= b.cols.shape[0]) or \
          np.any(b.cols >= model.n_items):
        raise ArtifactError("tiny benchmark file is inconsistent: anchor indices out of range")
    return obj

  def save(self, path):
    """Saves to a versioned artifact (arrays + JSON metadata) that ``tinyjax.load`` reads; returns its path.

    The validation residuals (:meth:`diagnostics`) are not saved.
    """
    from tinyjax.io import save_artifact
    arrays, meta = self._to_artifact()
    return save_artifact(path, self.kind_name, arrays, meta)

  @classmethod
  def load(cls, path):
    from tinyjax.io import load_artifact
    _, arrays, meta = load_artifact(path, expected_kind=cls.kind_name)
    return cls._from_artifact(arrays, meta)


class _AllEstimates(NamedTuple):
  """What :meth:`_TinyBase._estimate_all` returns: every benchmark's estimates, float64."""

  values: np.ndarray     # [len(NAMES), M, B] every estimator of tinyjax.tiny.estimators.NAMES
  lo: np.ndarray         # [len(NAMES), M, B] lower ends of their intervals
  hi: np.ndarray         # [len(NAMES), M, B] upper ends
  exterior: np.ndarray   # [M, B] bool
  regime: np.ndarray     # [M, B] str, a name of REGIMES
  missing: np.ndarray    # [M, B] share of each benchmark's anchors unanswered
  theta: np.ndarray      # [M, d]


def fit_tiny_benchmark(settings: FitSettings, Y_train, n_anchors: int = 100, strategy: str = DEFAULT_STRATEGY,
                       **options) -> "TinyBenchmark":
  """:meth:`TinyBenchmark.fit` with :class:`FitSettings`: ``options`` are fit's keyword arguments, with its defaults."""
  bound = inspect.signature(TinyBenchmark.fit).bind(Y_train, n_anchors, strategy, **options)
  bound.apply_defaults()
  a = bound.arguments
  seed = check_seed(a["seed"])   # before any work: a bad seed fails at once, not after the fit
  Y, _, iids = _responses(Y_train, a["model_ids"], a["item_ids"])
  n_items = Y.shape[1]
  k = _check_n_anchors(n_anchors, n_items)
  weights, g = _weights_and_groups(n_items, a["groups"], a["item_weights"], a["balance_groups"])
  bench = _estn.Bench("benchmark", np.arange(n_items), weights, g, k)
  return TinyBenchmark._build(Y, [bench], strategy=strategy, seed=seed, kind=a["kind"], dim=a["dim"], dims=a["dims"],
                              priors=a["priors"], level=a["level"], n_folds=a["n_folds"], n_restarts=a["n_restarts"],
                              method=a["method"], item_ids=iids, progress=a["progress"], irt_model=a["irt_model"],
                              adaptive_budget=k if a["compare_adaptive"] else None, settings=settings)


class TinyBenchmark(_TinyBase):
  """A tiny version of one benchmark: anchors, their weights, the IRT model and calibrated estimators.

  Attributes:
    anchors: [K] item indices into the train matrix's columns.
    weights: [K] anchor weights (sum to 1; the naive estimate is ``answers @ weights``).
    anchor_ids: the K anchors' item ids (the questions to run).
    item_weights: [I] weight of each item in the full score (sums to 1).
    lam: gp-IRT weight on the naive estimate. interval_q: conformal multiplier of the gp-IRT interval.
    level: nominal coverage of the intervals.
    validation: what the validation folds measured (:class:`tinyjax.tiny.calibration.Calibration` as a dict).
    irt_model: the fitted :class:`tinyjax.IRTModel`.
  """

  kind_name = "tiny_benchmark"

  @classmethod
  def fit(cls, Y_train, n_anchors: int = 100, strategy: str = DEFAULT_STRATEGY, *, seed: int = 0,
          groups=None, item_weights=None, balance_groups: bool = True, kind: str = "2pl",
          dim: int | str = "auto", dims: Sequence[int] = DEFAULT_DIMS, priors=None, level: float = 0.9,
          n_folds: int | None = None, n_restarts: int = 8, method: str = DEFAULT_METHOD, irt_model=None,
          model_ids=None, item_ids=None, compare_adaptive: bool = True,
          progress: bool | None = None) -> "TinyBenchmark":
    """Builds a tiny benchmark from a train matrix.

    Args:
      Y_train: [N, I] responses of the train models (0/1 or scores in [0, 1], NaN = missing): array,
        DataFrame, path, ``datasets.Dataset`` (anything ``tinyjax.data.load_responses`` reads).
      n_anchors: number of anchor items K (1 <= K <= I).
      strategy: how anchors are chosen, one of ``tinyjax.tiny.STRATEGIES`` (each described in
        :mod:`tinyjax.tiny.anchors`).
      seed: seed of every random choice (fits, folds, anchor draws, k-means restarts).
      groups: [I] item group labels (e.g. MMLU subjects); needed by "stratified".
      item_weights: [I] item weights in the full score; overrides ``balance_groups``.
      balance_groups: with ``groups``, weight items so that every group counts equally.
      kind: IRT model kind ("1pl", "2pl", "3pl").
      dim: IRT dimension, or "auto" (chosen among ``dims`` by held-out log-likelihood).
      dims: candidate dimensions for ``dim="auto"``.
      priors: ``tinyjax.IRTPriors`` or None.
      level: nominal coverage of the intervals.
      n_folds: validation folds (None: 5 below 500 train models, else one 20% holdout).
      n_restarts: k-means restarts.
      method: ability estimator for new models: "mle" (MAP where the MLE diverges), "map" or "eap".
      irt_model: an already fitted IRT model on ``Y_train`` (skips the main fit).
      model_ids, item_ids: ids for array input.
      compare_adaptive: also run adaptive testing (``n_anchors`` items chosen by Fisher information) on the same
        validation folds, and recommend it where it beats the static anchors (:attr:`recommendation`); False
        skips that work.
      progress: show fit progress bars (None: for fits that outlast 2 s).

    Returns:
      A fitted :class:`TinyBenchmark`.
    """
    return fit_tiny_benchmark(FitSettings(), Y_train, n_anchors, strategy, seed=seed, groups=groups,
                              item_weights=item_weights, balance_groups=balance_groups, kind=kind, dim=dim,
                              dims=dims, priors=priors, level=level, n_folds=n_folds, n_restarts=n_restarts,
                              method=method, irt_model=irt_model, model_ids=model_ids, item_ids=item_ids,
                              compare_adaptive=compare_adaptive, progress=progress)

  @property
  def anchors(self) -> np.ndarray:
    return self._anchor_sets[0].indices.copy()

  @property
  def weights(self) -> np.ndarray:
    return self._anchor_sets[0].weights.copy()

  @property
  def anchor_ids(self) -> list[str]:
    return [self.item_ids[i] for i in self.anchors]

  @property
  def item_weights(self) -> np.ndarray:
    return self._benches[0].item_weights.copy()

  @property
  def lam(self) -> float:
    return self._calib[0].lam

  @property
  def interval_q(self) -> float:
    return self._calib[0].q

  @property
  def validation(self) -> dict:
    """What the validation folds measured: the gp-IRT weight ``lam``, every estimator's conformal multipliers
    and validation MAE, the blend weights, the number of validation models (a
    :class:`tinyjax.tiny.calibration.Calibration` as a dict)."""
    return self._calib[0].to_dict()

  def diagnostics(self) -> dict:
    """The calibration with the data behind it, for diagnostics and re-calibration experiments.

    Returns:
      dict with ``calibration`` (as :attr:`validation`), ``residuals`` (name -> [n_val] per validation model:
      every estimator's error, ``spread``, ``dist``, ``tail``, ``side``, see
      :func:`tinyjax.tiny.calibration.calibrate`; None for a loaded file, which does not store them),
      ``train_scores`` [N], ``item_weights`` [I] and ``items`` [I] (column indices of the benchmark).
    """
    return self._diagnostics(0)

  def __repr__(self) -> str:
    return (f"TinyBenchmark(n_anchors={self.anchors.shape[0]}, n_items={len(self.item_ids)}, "
            f"strategy={self.strategy!r}, irt={self.irt_model.kind} dim={self.irt_model.dim}, lam={self.lam:.3f})")

  def estimate(self, Y_anchor, *, batch_size: int | None = None, lam_mode: str | None = None) -> Estimates:
    """Estimates the full-benchmark score of new models from their answers on the anchors.

    Args:
      Y_anchor: answers of M models on the anchors (0/1 or scores in [0, 1], NaN = not answered). Input with
        item ids (a DataFrame whose columns are item ids, a Series or dict ``{item id: answer}``, a
        :class:`tinyjax.data.Responses`) is matched to :attr:`anchor_ids` by id, in any order; other columns
        are ignored (and logged), a missing anchor is an ``ItemError`` naming it. A bare array must be
        [M, K] in the order of :attr:`anchors` (a 1-D array is one model). See
        :func:`tinyjax.tiny.answers.match_answers`.
      batch_size: models per compiled ability call (None: all at once).
      lam_mode: gp-IRT weighting: "global" (the validation weight ``self.lam`` for every model) or
        "model" (``b2 / (b2 + v_j)`` with model j's own naive variance ``v_j``, which leans on the anchors
        for models near 0 or 100%). None: "global".

    Returns:
      :class:`tinyjax.tiny.Estimates`: ``score`` (the recommended estimate) with its interval ``lo``, ``hi``;
      every estimator [M] with its interval in ``intervals``; ``theta`` [M, d]; ``exterior`` [M]; ``missing`` [M],
      the share of anchors each model left unanswered. A model with unanswered anchors gets the gp-IRT weight,
      blend and intervals calibrated with that share of the validation models' anchors hidden (interpolated
      between the calibrated shares, ``validation["missing"]``), so its interval is wider.
    """
    a = self._estimate_all(Y_anchor, batch_size, lam_mode)
    return Estimates(values={k: a.values[i, :, 0] for i, k in enumerate(_est.NAMES)},
                     intervals={k: np.stack([a.lo[i, :, 0], a.hi[i, :, 0]], axis=1) for i, k in enumerate(_est.NAMES)},
                     level=self.level, theta=a.theta, lam=self.lam, exterior=a.exterior[:, 0], regime=a.regime[:, 0],
                     missing=a.missing[:, 0])

  @property
  def recommendation(self) -> dict:
    """Which workflow the validation folds recommend, and what they measured (fractions in [0, 1]).

    ``workflow``: "static" (answer :attr:`anchors`, then :meth:`estimate`) or "adaptive" (ask ``budget`` items
    chosen one at a time by Fisher information: :meth:`adaptive_test` online, :meth:`estimate_adaptive` offline);
    ``mae_static`` / ``mae_adaptive``: validation MAE of :attr:`Estimates.score` and of adaptive testing on the iid
    folds; ``mae_static_tail`` / ``mae_adaptive_tail``: the same on the tail fold (models beyond the train range).
    Adaptive is recommended when it wins on the iid folds without losing on the tail fold, and the tail fold holds
    enough models to check that (:func:`tinyjax.tiny.calibration.recommend_workflow`). A tiny benchmark fitted with
    ``compare_adaptive=False`` recommends "static" with the adaptive figures NaN.
    """
    ad = self._calib[0].adaptive
    if ad is None:
      nan = float("nan")
      return {"workflow": "static", "budget": int(self.anchors.shape[0]), "mae_static": self._calib[0].multipliers(RECOMMENDED).mae,
              "mae_adaptive": nan, "mae_static_tail": nan, "mae_adaptive_tail": nan}
    return {k: ad[k] for k in ("workflow", "budget", "mae_static", "mae_adaptive", "mae_static_tail",
                               "mae_adaptive_tail")}

  def adaptive_interval(self, score, theta) -> tuple[np.ndarray, np.ndarray]:
    """The conformal interval of adaptive estimates ``score`` [M] at abilities ``theta`` [M, d].

    Returns:
      ``(interval [M, 2], exterior [M] bool)``.

    Raises:
      ConfigError: the tiny benchmark was fitted with ``compare_adaptive=False`` (no adaptive calibration).
    """
    ad = self._calib[0].adaptive
    if ad is None:
      raise ConfigError("this tiny benchmark has no adaptive calibration: fit it with compare_adaptive=True")
    dt = _est.working_dtype()
    score = np.asarray(score, dt)
    p = self.irt_model.predict_proba(np.asarray(theta), items=self._benches[0].cols)
    spread = _est.bernoulli_scale(p, self._benches[0].item_weights)
    dist = _estn.range_distance(score, self._train_scores[0])
    q = np.where(dist > 0, dt.type(ad["q_ext"]), dt.type(ad["q"]))
    half = q * spread * (1.0 + dist)
    interval = np.stack([np.clip(score - half, 0.0, 1.0), np.clip(score + half, 0.0, 1.0)], axis=1)
    return interval.astype(np.float64), dist > 0

  def estimate_adaptive(self, Y, *, budget: int | None = None, se_target: float | None = None,
                        progress: bool | None = None) -> "AdaptiveEstimates":
    """Offline adaptive testing of M models on the whole benchmark (batched), with intervals.

    Each model is asked the most informative unasked item at its current ability, one at a time
    (:func:`tinyjax.adaptive.simulate`), and its full score is estimated by p-IRT.

    Args:
      Y: [M, I] answers of the models on every item of the benchmark (NaN = not available, never asked); input
        with item ids is matched to :attr:`item_ids` by id.
      budget: items per model (default: the number of anchors, what the validation measured).
      se_target: stop a model once its ability standard errors are at most this.
      progress: show a bar over the steps.

    Returns:
      :class:`tinyjax.tiny.AdaptiveEstimates`.
    """
    from tinyjax import adaptive
    matched = match_answers(Y, self.item_ids)
    budget = int(self.anchors.shape[0] if budget is None else budget)
    res = adaptive.simulate(self.irt_model, matched.values, budget, se_target=se_target,
                            item_weights=self.item_weights, progress=progress)
    score, theta = self.adaptive_score(matched.values, _estn.asked_mask(res.items, len(self.item_ids)))
    interval, ext = self.adaptive_interval(score, theta)
    return AdaptiveEstimates(score=np.asarray(score, np.float64), interval=interval, level=self.level,
                             items=res.items, n_asked=res.n_asked, theta=np.asarray(theta, np.float64),
                             se=np.asarray(res.se, np.float64), exterior=ext)

  def adaptive_score(self, Y, asked) -> tuple[np.ndarray, np.ndarray]:
    """The full-score estimate of adaptively tested models, as the validation folds measured it.

    Args:
      Y: [M, I] answers (read only where ``asked``), in the order of :attr:`item_ids`.
      asked: [M, I] bool, the items each model was asked.

    Returns:
      ``(score [M], theta [M, d])``: p-IRT with the ability re-estimated from the asked items by the tiny
      benchmark's ``method`` (MLE by default, MAP where it diverges).
    """
    Y, asked = np.asarray(Y, np.float64), np.asarray(asked, bool)
    if Y.ndim == 1:
      Y, asked = Y[None, :], asked[None, :]
    if Y.shape != asked.shape or Y.shape[1] != len(self.item_ids):
      raise ResponseError(f"Y and asked must both be [M, {len(self.item_ids)}], got {Y.shape} and {asked.shape}")
    if not asked.any(axis=1).all():
      raise ResponseError("every model must have been asked at least one item")
    score, theta = _estn.adaptive_estimates(self.irt_model, Y, asked, self.item_weights, self.method)
    return np.asarray(score, np.float64), np.asarray(theta, np.float64)

  def adaptive_test(self, *, budget: int | None = None, se_target: float | None = None) -> "AdaptiveSession":
    """An online adaptive test of one new model (ask / tell), on a tiny benchmark fitted or loaded from disk.

    ``session.ask_id()`` names the next item to run (the most informative at the current ability),
    ``session.tell(item_id, answer)`` records its 0/1 answer (or a score in [0, 1]; an index works too), until
    ``session.done``; ``session.estimate()`` is the p-IRT score with its conformal interval
    (:class:`tinyjax.adaptive.AdaptiveScore`, fractions in [0, 1]). On the same answers it asks the same items
    and gives the same estimate as :meth:`estimate_adaptive` with the same budget.

    Args:
      budget: the most items to ask (default: the number of anchors, what the validation measured).
      se_target: done once the ability standard errors are at most this.

    Returns:
      :class:`tinyjax.adaptive.AdaptiveSession`.

    Raises:
      ConfigError: a bad budget or se_target, or a tiny benchmark fitted with ``compare_adaptive=False``.
    """
    from tinyjax import adaptive
    if self._calib[0].adaptive is None:
      raise ConfigError("this tiny benchmark has no adaptive calibration: fit it with compare_adaptive=True")
    return adaptive.AdaptiveSession(self.irt_model, budget=self.anchors.shape[0] if budget is None else budget,
                                    se_target=se_target, item_weights=self.item_weights, item_ids=self.item_ids,
                                    interval=self.adaptive_interval, score=self.adaptive_score, level=self.level)

  # The evaluation protocol (tinyjax.evaluate.EvalTarget): its one benchmark is named "benchmark".
  def evaluation_anchors(self) -> dict[str, list[str]]:
    """``{"benchmark": anchor ids}``: the items to run (:class:`tinyjax.evaluate.EvalTarget`)."""
    return {"benchmark": self.anchor_ids}

  def evaluate_answers(self, answers):
    """One model's :meth:`estimate` from ``{"benchmark": [K] answers}`` in the order of :attr:`anchor_ids`, as a
    :class:`tinyjax.evaluate.Evaluation` (every estimator in ``others``)."""
    from tinyjax.evaluate.target import Evaluation, Interval
    if set(answers) != {"benchmark"}:
      raise ConfigError(f"a TinyBenchmark's answers are {{'benchmark': [K] answers}}, got {sorted(answers)}")
    est = self.estimate(np.asarray(answers["benchmark"], np.float64).reshape(1, -1))
    return Evaluation({"benchmark": Interval(float(est.score[0]), float(est.lo[0]), float(est.hi[0]))},
                      others={"benchmark": {k: float(getattr(est, k)[0]) for k in est.intervals}})


class Leaderboard(_TinyBase):
  """Several benchmarks sharing one ability (e.g. the Open LLM Leaderboard's six).

  One IRT model is fitted on all items; each benchmark gets its own anchors; a new model's ability
  is estimated once from all its anchor answers, and each benchmark's estimators use it.
  """

  kind_name = "leaderboard"

  @classmethod
  def fit(cls, Y_train, benchmarks, n_anchors: int | dict = 100, strategy: str = DEFAULT_STRATEGY, *,
          seed: int = 0, groups=None, kind: str = "2pl", dim: int | str = "auto",
          dims: Sequence[int] = DEFAULT_DIMS, priors=None, level: float = 0.9, n_folds: int | None = None,
          n_restarts: int = 8, method: str = DEFAULT_METHOD, irt_model=None, model_ids=None, item_ids=None,
          progress: bool | None = None) -> "Leaderboard":
    """Builds a tiny leaderboard.

    Args:
      Y_train: [N, I] responses over the items of all benchmarks.
      benchmarks: [I] benchmark name of every item.
      n_anchors: anchors per benchmark (an int, or a dict name -> int).
      groups: [I] optional sub-group labels inside benchmarks (e.g. MMLU subjects), balanced within
        each benchmark and used by "stratified".
      Other arguments: as for :meth:`TinyBenchmark.fit`.
    """
    seed = check_seed(seed)
    Y, _, iids = _responses(Y_train, model_ids, item_ids)
    names = np.asarray(benchmarks).astype(str)
    if names.shape != (Y.shape[1],):
      raise ItemError(f"benchmarks must give one name per item ({Y.shape[1]}), got shape {names.shape}")
    g_all = None if groups is None else np.asarray(groups).astype(str)
    if g_all is not None and g_all.shape != names.shape:
      raise ItemError(f"groups must have one label per item ({Y.shape[1]}), got shape {g_all.shape}")
    benches = []
    for name in dict.fromkeys(names.tolist()):
      cols = np.flatnonzero(names == name)
      k = n_anchors.get(name) if isinstance(n_anchors, dict) else n_anchors
      if k is None:
        raise ConfigError(f"n_anchors has no entry for benchmark {name!r}")
      k = _check_n_anchors(k, cols.size, f"n_anchors for {name!r}")
      weights, g = _weights_and_groups(cols.size, None if g_all is None else g_all[cols], None, True)
      benches.append(_estn.Bench(name, cols, weights, g, k))
    return cls._build(Y, benches, strategy=strategy, seed=seed, kind=kind, dim=dim, dims=dims, priors=priors,
                      level=level, n_folds=n_folds, n_restarts=n_restarts, method=method, item_ids=iids,
                      progress=progress, irt_model=irt_model)

  @property
  def benchmarks(self) -> list[str]:
    return [b.name for b in self._benches]

  @property
  def anchors(self) -> dict:
    """name -> [K_b] global item indices (columns of the train matrix) of that benchmark's anchors."""
    return {b.name: b.cols[a.indices] for b, a in zip(self._benches, self._anchor_sets)}

  @property
  def all_anchors(self) -> np.ndarray:
    """[sum K_b] all anchors in the order ``estimate`` expects (benchmark by benchmark)."""
    return self._global_anchors

  @property
  def weights(self) -> dict:
    return {b.name: a.weights.copy() for b, a in zip(self._benches, self._anchor_sets)}

  @property
  def lam(self) -> dict:
    return {b.name: c.lam for b, c in zip(self._benches, self._calib)}

  @property
  def validation(self) -> dict:
    """name -> what the validation folds measured for that benchmark (as :attr:`TinyBenchmark.validation`)."""
    return {b.name: c.to_dict() for b, c in zip(self._benches, self._calib)}

  def diagnostics(self) -> dict:
    """name -> that benchmark's diagnostics (as :meth:`TinyBenchmark.diagnostics`)."""
    return {b.name: self._diagnostics(j) for j, b in enumerate(self._benches)}

  def __repr__(self) -> str:
    return (f"Leaderboard(benchmarks={self.benchmarks}, n_anchors={self.all_anchors.shape[0]}, "
            f"strategy={self.strategy!r}, irt={self.irt_model.kind} dim={self.irt_model.dim})")

  def estimate(self, Y_anchor, *, batch_size: int | None = None, lam_mode: str | None = None) -> BenchmarkEstimates:
    """Estimates every benchmark's score from answers on the anchors of all benchmarks (NaN allowed).

    ``Y_anchor``: input with item ids is matched by id (as for :meth:`TinyBenchmark.estimate`); a bare array is
    [M, sum K_b] in the order of :attr:`all_anchors`. ``lam_mode`` as for :meth:`TinyBenchmark.estimate`.
    """
    a = self._estimate_all(Y_anchor, batch_size, lam_mode)
    d = lambda x: {b.name: x[:, j] for j, b in enumerate(self._benches)}  # noqa: E731
    return BenchmarkEstimates(values={k: d(a.values[i]) for i, k in enumerate(_est.NAMES)},
                              intervals={k: d(np.stack([a.lo[i], a.hi[i]], axis=2)) for i, k in enumerate(_est.NAMES)},
                              level=self.level, theta=a.theta, exterior=d(a.exterior), regime=d(a.regime),
                              missing=d(a.missing))

  # The evaluation protocol (tinyjax.evaluate.EvalTarget).
  def evaluation_anchors(self) -> dict[str, list[str]]:
    """``{benchmark: anchor ids}``: the items to run (:class:`tinyjax.evaluate.EvalTarget`)."""
    return {b: [self.item_ids[i] for i in cols] for b, cols in self.anchors.items()}

  def evaluate_answers(self, answers):
    """One model's :meth:`estimate` from ``{benchmark: [K_b] answers}`` (anchor order; a benchmark left out is
    unanswered, NaN), as a :class:`tinyjax.evaluate.Evaluation` (every estimator in ``others``)."""
    from tinyjax.evaluate.target import Evaluation, Interval
    ids = self.evaluation_anchors()
    unknown = sorted(set(answers) - set(ids))
    if unknown:
      raise ConfigError(f"answers name benchmarks the leaderboard does not have: {unknown}")
    row = {i: np.nan for b in ids for i in ids[b]}
    for b, y in answers.items():
      row.update(zip(ids[b], np.asarray(y, np.float64).reshape(-1).tolist(), strict=True))
    est = self.estimate(row)
    lo, hi = est.lo, est.hi
    return Evaluation({b: Interval(float(est.score[b][0]), float(lo[b][0]), float(hi[b][0])) for b in ids},
                      others={b: {k: float(getattr(est, k)[b][0]) for k in est.intervals} for b in ids})
