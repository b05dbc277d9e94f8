"""``Suite``: several benchmarks built together, from a few kept items per benchmark to each FULL score.

``Suite.fit`` takes one response matrix per benchmark (rows = models by name, columns = item ids) and each
model's score on the whole benchmark. It fits one IRT model on every item of every benchmark (the joint ability),
keeps ``n_anchors`` items per benchmark (the strategy chosen on a validation split), and fits per benchmark a
regression of the full score on the kept items of EVERY benchmark and the ability
(:mod:`tinyjax.suite._regression`: ridge, or ridge plus kernel ridge, chosen on validation). The validation
split also gives the split-conformal half-widths of the intervals, for a model that answered the benchmark and
for one that did not (its score then comes from the other benchmarks alone).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from tinyjax.tiny import anchors as _anchors
from tinyjax.tiny import calibration as _calibration
from tinyjax.tiny import estimation as _estn
from tinyjax.tiny import estimators as _est
from tinyjax._checks import check_fraction, check_seed
from tinyjax._progress import logger as _logger
from tinyjax._progress import progress_bar
from tinyjax.errors import ArtifactError, ConfigError, ItemError, ResponseError
from tinyjax.irt import estimate_ability, fit_irt
from tinyjax.suite import _regression as _reg

log = _logger("tinyjax.suite")

STRATEGIES = ("stepwise", "random")   # anchor strategies tried on validation (stepwise: supervised, metabench's way)
# Shares of each benchmark's kept items hidden on the validation models to calibrate the half-widths of a model
# that left some unanswered (issue 26); a model's own share is interpolated between them (1.0: the benchmark is
# missing, ``half_width_missing``).
MISSING_FRACTIONS = (0.0,) + _calibration.MISSING_FRACTIONS   # the shares tiny benchmarks calibrate, and 0
DEFAULT_DIM = 3
MIN_MODELS = 20


@dataclasses.dataclass(frozen=True, eq=False)
class SuiteEstimates:
  """Full-benchmark scores of M models, in the unit of the suite's full scores (e.g. percent).

  Attributes:
    scores: DataFrame [M, B + 1]: one column per benchmark and ``"average"`` (the mean over the benchmarks).
    lower, upper: DataFrames of the same shape: the ends of the ``level`` intervals.
    answered: DataFrame [M, B] of ints: kept items answered per benchmark (0: the benchmark is missing, its
      score comes from the other benchmarks through the joint ability and the regression).
    kept_accuracy: DataFrame [M, B]: the mean answer over the answered kept items (NaN where none), which is
      not the full score (the kept items are not a random sample).
    level: nominal coverage of the intervals.
    theta: [M, d] joint abilities.
  """

  scores: Any
  lower: Any
  upper: Any
  answered: Any
  kept_accuracy: Any
  level: float
  theta: np.ndarray

  def table(self):
    """A long DataFrame: one row per (model, benchmark or "average") with estimate, lower, upper and the kept
    items answered (for "average": over all benchmarks)."""
    import pandas as pd
    rows = []
    for m in self.scores.index:
      for b in self.scores.columns:
        n = int(self.answered.loc[m].sum()) if b == "average" else int(self.answered.at[m, b])
        rows.append({"model": m, "benchmark": b, "estimate": float(self.scores.at[m, b]),
                     "lower": float(self.lower.at[m, b]), "upper": float(self.upper.at[m, b]), "answered": n})
    return pd.DataFrame(rows)


def _conformal(abs_res: np.ndarray, level: float) -> float:
  """Split-conformal half-width of absolute residuals in the full scores' unit: the one rule of tinyjax
  (:func:`tinyjax.tiny.estimators.conformal_quantile`: NaN residuals left out, inf with too few), in float64."""
  return _est.conformal_quantile(abs_res, level, np.float64)


def _frame_dict(responses, full_scores):
  """Checked inputs: names, {b: (values [N_b, I_b], model ids, item ids)}, {b: Series of full scores}."""
  import pandas as pd
  if not isinstance(responses, Mapping) or not responses:
    raise ConfigError("responses must be a non-empty dict {benchmark: DataFrame (rows = models, columns = items)}")
  if not isinstance(full_scores, Mapping):
    raise ConfigError("full_scores must be a dict {benchmark: Series of full scores indexed by model name}")
  names = [str(b) for b in responses]
  missing = [b for b in names if b not in full_scores]
  if missing:
    raise ConfigError(f"full_scores has no entry for benchmark(s) {missing}")
  extra = [str(b) for b in full_scores if str(b) not in names]
  if extra:
    raise ConfigError(f"full_scores names benchmark(s) {extra} that responses does not have")
  mats, scores, seen_items = {}, {}, {}
  for b in names:
    df = responses[b]
    if not isinstance(df, pd.DataFrame):
      raise ConfigError(f"responses[{b!r}] must be a DataFrame with model names as index and item ids as "
                        f"columns, got {type(df).__name__}")
    if not df.index.is_unique:
      dup = df.index[df.index.duplicated()].unique()[:5].tolist()
      raise ResponseError(f"responses[{b!r}] has duplicated model names: {dup}")
    items = [str(c) for c in df.columns]
    for it in items:
      if it in seen_items:
        raise ItemError(f"item id {it!r} appears in benchmarks {seen_items[it]!r} and {b!r}; item ids must be "
                        "unique across the suite (prefix them with the benchmark name)")
      seen_items[it] = b
    from tinyjax.data import check_matrix
    vals = check_matrix(df.to_numpy(dtype=float, na_value=np.nan), name=f"responses[{b!r}]")
    fs = full_scores[b]
    if isinstance(fs, pd.DataFrame) and fs.shape[1] == 1:
      fs = fs.iloc[:, 0]
    if not isinstance(fs, pd.Series):
      raise ConfigError(f"full_scores[{b!r}] must be a Series indexed by model name, got {type(fs).__name__}")
    fs = pd.to_numeric(fs, errors="coerce")
    fs.index = fs.index.map(str)
    if not fs.index.is_unique:
      raise ResponseError(f"full_scores[{b!r}] has duplicated model names")
    mids = [str(m) for m in df.index]
    have = fs.reindex(mids).to_numpy(float)
    lack = [m for m, v in zip(mids, have) if not np.isfinite(v)]
    if lack:
      raise ResponseError(f"full_scores[{b!r}] lacks a finite score for {len(lack)} model(s) of responses[{b!r}]: "
                          f"{lack[:5]}; drop those rows or give their scores")
    empty = np.all(np.isnan(vals), axis=1)
    if empty.any():
      log.info("%s: %d model row(s) with no answer dropped", b, int(empty.sum()))
    mats[b] = (vals[~empty], [m for m, e in zip(mids, empty) if not e], items)
    scores[b] = have[~empty]
  return names, mats, scores


def _choose_anchors(Yb, target, k, strategy, seed) -> np.ndarray:
  """[k] sorted column indices of ``Yb`` [N, I_b]: every column when k covers them, else
  :func:`tinyjax.tiny.anchors.select_anchors` ("stepwise" regressing on ``target``, the full scores)."""
  if k >= Yb.shape[1]:
    return np.arange(Yb.shape[1])
  a = _anchors.select_anchors(Yb, k, strategy, seed=seed, target=target if strategy == "stepwise" else None)
  return np.sort(np.asarray(a.indices, np.int64))


class _Joint:
  """The joint layout: all models x all items of every benchmark (NaN where a model lacks a benchmark)."""

  def __init__(self, names, mats, scores):
    self.names = names
    models: dict[str, int] = {}
    for b in names:
      for m in mats[b][1]:
        models.setdefault(m, len(models))
    self.model_ids = list(models)
    self.cols, self.item_ids, start = {}, [], 0
    for b in names:
      n_b = len(mats[b][2])
      self.cols[b] = np.arange(start, start + n_b)
      self.item_ids += mats[b][2]
      start += n_b
    N = len(self.model_ids)
    self.Y = np.full((N, start), np.nan)
    self.F = np.full((N, len(names)), np.nan)
    for j, b in enumerate(names):
      rows = np.array([models[m] for m in mats[b][1]], np.int64)
      self.Y[np.ix_(rows, self.cols[b])] = mats[b][0]
      self.F[rows, j] = scores[b]


def _features(irt, Ya: np.ndarray, glob: np.ndarray, theta_stats=None):
  """Features [M, K + d] of answers ``Ya`` [M, K] on global items ``glob``: answers (NaN filled with the IRT
  probability at the MAP ability, as a tiny benchmark's ridge fills them) then the standardised ability; also
  returns theta [M, d] and the stats."""
  dt = _est.working_dtype()
  theta = np.asarray(estimate_ability(irt, Ya, items=glob, method="map").theta, dt)
  filled = _estn.filled_answers(irt, theta, Ya, glob).astype(dt)
  if theta_stats is None:
    theta_stats = (theta.mean(axis=0), np.maximum(theta.std(axis=0), 1e-6))
  ts = (theta - theta_stats[0]) / theta_stats[1]
  return np.concatenate([filled, ts.astype(dt)], axis=1), theta, theta_stats


class Suite:
  """A tiny version of several benchmarks built together (e.g. a tiny Open LLM Leaderboard).

  Attributes:
    benchmarks: the benchmark names, in order.
    anchors: {benchmark: [item ids]}: the kept items to run.
    level: nominal coverage of the intervals.
    validation: {benchmark: what the validation split measured (estimator, gamma, strategy, rmse, half-widths,
      coverage)}, plus ``"average"``.
    irt_model: the joint :class:`tinyjax.IRTModel` over every item of every benchmark.
  """

  kind_name = "suite"

  def __init__(self, *, names, item_ids, cols, anchors, irt_model, regs, Z_train, theta_stats, q, q_missing,
               c_avg, validation, level, seed, unit="", missing_fractions=None, q_by_missing=None,
               c_by_missing=None):
    self.benchmarks = list(names)
    self.item_ids = list(item_ids)
    self._cols = cols                  # {b: [I_b] global columns}
    self._anchors = anchors            # {b: [K_b] global columns}
    self.irt_model = irt_model
    self._regs = regs                  # {b: BenchRegression}
    self._Z = Z_train                  # [N, D] train features
    self._theta_stats = theta_stats
    self._q, self._q_missing = q, q_missing   # {b: half-width}
    self._c_avg = float(c_avg)
    # Half-widths by the share of a benchmark's kept items left unanswered, measured on validation at these
    # shares; a suite saved before they were measured has the one share 0 (the full-answer width throughout).
    self._missing_fractions = tuple(float(f) for f in (missing_fractions or (0.0,)))
    self._q_by_missing = {b: [float(h) for h in (q_by_missing or {}).get(b, [q[b]])] for b in names}
    self._c_by_missing = [float(c) for c in (c_by_missing or [c_avg])]
    self.validation = validation
    self.level = float(level)
    self.seed = int(seed)
    self.unit = unit

  # --- fit ------------------------------------------------------------------------------------
  @classmethod
  def fit(cls, responses, full_scores, n_anchors: int | None | Mapping = 100, *, seed: int = 0, level: float = 0.9,
          kind: str = "2pl", dim: int = DEFAULT_DIM, strategies=STRATEGIES, gammas=_reg.DEFAULT_GAMMAS,
          lam: float = _reg.DEFAULT_LAM, val_fraction: float = 0.2, unit: str = "",
          progress: bool | None = None) -> "Suite":
    """Builds a suite.

    Args:
      responses: {benchmark: DataFrame [N_b, I_b]}: rows = models (index = model names), columns = item ids
        (unique across benchmarks), values 0/1 or scores in [0, 1], NaN = missing. A model may lack benchmarks.
      full_scores: {benchmark: Series indexed by model name}: each model's score on the WHOLE benchmark, in any
        unit (e.g. percent); every model of ``responses[b]`` needs one.
      n_anchors: kept items per benchmark (an int, a dict per benchmark, or None for every item).
      seed: seed of every random choice (validation split, anchor draws, IRT fit).
      level: nominal coverage of the intervals.
      kind, dim: the joint IRT model.
      strategies: anchor strategies tried on validation (``"stepwise"``, ``"random"``).
      gammas: kernel widths tried on validation. lam: kernel ridge penalty.
      val_fraction: share of the models held out to choose and calibrate (at least 10 models).
      unit: the full scores' unit, for display; with "percent", estimates and intervals are cut to [0, 100].
      progress: show a progress bar (None: when the build outlasts 2 s).

    Returns:
      A fitted :class:`Suite`.
    """
    seed = check_seed(seed)
    level = check_fraction(level, "level")
    val_fraction = check_fraction(val_fraction, "val_fraction")
    for s in strategies:
      if s not in STRATEGIES:
        raise ConfigError(f"strategies must be among {STRATEGIES}, got {s!r}")
    if not strategies:
      raise ConfigError("strategies is empty")
    names, mats, scores = _frame_dict(responses, full_scores)
    J = _Joint(names, mats, scores)
    if len(J.model_ids) < MIN_MODELS:
      raise ResponseError(f"need at least {MIN_MODELS} models to build and validate a suite, got {len(J.model_ids)}")
    ks = _anchor_counts(J, n_anchors)
    tr, val = _validation_split(len(J.model_ids), val_fraction, seed)
    _check_validation_models(J, val, level)
    with progress_bar(100, desc="suite", progress=progress, unit="%") as pbar:
      bar = _WeightedBar(pbar, _build_costs(J, names, tr, val, ks, strategies, len(gammas), dim))
      # 1. the validation split: anchors, regressions and half-widths chosen and measured on held-out models.
      v = _validate(J, tr, val, ks, strategies, gammas, lam, kind, dim, seed, level, bar)
      # 2. the final suite on every model, with the choices made above.
      irt, anchors, Z, tstats, regs = _fit_final(J, ks, v.strategy, v.chosen, lam, kind, dim, seed, bar)
      log.debug("suite build, seconds per stage (the predicted share of the bar in brackets): %s", bar.report())
    return cls(names=names, item_ids=J.item_ids, cols=J.cols, anchors=anchors, irt_model=irt, regs=regs, Z_train=Z,
               theta_stats=tstats, q=v.q, q_missing=v.q_missing, c_avg=v.c_avg, validation=v.report, level=level,
               seed=seed, unit=str(unit), missing_fractions=MISSING_FRACTIONS, q_by_missing=v.q_by_missing,
               c_by_missing=v.c_by_missing)

  # --- properties -----------------------------------------------------------------------------
  @property
  def anchors(self) -> dict[str, list[str]]:
    """{benchmark: [item ids]}: the kept items, per benchmark."""
    return {b: [self.item_ids[i] for i in self._anchors[b]] for b in self.benchmarks}

  @property
  def n_anchors(self) -> dict[str, int]:
    return {b: int(self._anchors[b].size) for b in self.benchmarks}

  def __repr__(self) -> str:
    ks = ", ".join(f"{b}={self._anchors[b].size}" for b in self.benchmarks)
    return f"Suite({ks}; irt={self.irt_model.kind} dim={self.irt_model.dim}, level={self.level})"

  # --- estimation -----------------------------------------------------------------------------
  def _answer_matrix(self, answers):
    """[M, sum K] answers in the kept items' order, model ids, and the per-benchmark answered counts."""
    from tinyjax.tiny.answers import match_answers
    if not isinstance(answers, Mapping) or not answers:
      raise ConfigError("answers must be a non-empty dict {benchmark: answers on that benchmark's kept items}")
    unknown = [str(b) for b in answers if str(b) not in self.benchmarks]
    if unknown:
      raise ConfigError(f"answers name benchmark(s) {unknown} that the suite does not have; it has "
                        f"{self.benchmarks}")
    matched = {}
    for b in self.benchmarks:
      if b in answers and answers[b] is not None:
        matched[b] = match_answers(answers[b], self.anchors[b], name=f"answers[{b!r}]")
    if not matched:
      raise ConfigError("answers hold no benchmark of the suite")
    with_ids = [b for b, m in matched.items() if m.model_ids is not None]
    if with_ids:
      model_ids: list[str] = []
      for b in matched:
        ids = matched[b].model_ids
        if ids is None:
          raise ResponseError(f"answers[{b!r}] has no model ids while {with_ids} do: give every benchmark's "
                              "answers with model names as the index, or none")
        for m in ids:
          if m not in model_ids:
            model_ids.append(m)
    else:
      sizes = {b: np.asarray(m.values).shape[0] for b, m in matched.items()}
      if len(set(sizes.values())) > 1:
        raise ResponseError(f"answers without model ids must have the same number of rows: {sizes}")
      model_ids = [str(i) for i in range(next(iter(sizes.values())))]
    pos = {m: i for i, m in enumerate(model_ids)}
    K = sum(self._anchors[b].size for b in self.benchmarks)
    Y = np.full((len(model_ids), K), np.nan)
    offs = _offsets(self.benchmarks, self._anchors)
    from tinyjax.data import check_matrix
    for b, m in matched.items():
      vals = np.asarray(m.values.to_numpy(dtype=float, na_value=np.nan) if hasattr(m.values, "to_numpy")
                        else m.values, dtype=float)
      vals = check_matrix(vals, name=f"answers[{b!r}]")
      rows = np.arange(vals.shape[0]) if m.model_ids is None else np.array([pos[x] for x in m.model_ids])
      Y[rows, offs[b][0]:offs[b][1]] = vals
    empty = np.flatnonzero(np.all(np.isnan(Y), axis=1))
    if empty.size:
      raise ResponseError(f"{empty.size} model(s) answered no kept item of any benchmark, nothing to estimate "
                          f"from: {[model_ids[i] for i in empty[:10]]}")
    answered = {b: (~np.isnan(Y[:, offs[b][0]:offs[b][1]])).sum(axis=1) for b in self.benchmarks}
    return Y, model_ids, answered

  def estimate(self, answers) -> SuiteEstimates:
    """Estimates every benchmark's full score, and their average, from answers on the kept items.

    Args:
      answers: {benchmark: answers} where answers are a DataFrame (rows = models, index = model names; columns
        = item ids, at least the benchmark's kept items :attr:`anchors`; other columns ignored), a Series or
        dict ``{item id: value}`` (one model), or a bare [M, K_b] array in the kept items' order. Values 0/1 or
        scores in [0, 1], NaN = not answered. A benchmark may be absent (or all NaN for a model): its score
        then comes from the other benchmarks, with a wider interval.

    Returns:
      :class:`SuiteEstimates` (DataFrames indexed by model, in the unit of the full scores).

    Raises:
      ConfigError: a benchmark the suite does not have. ItemError: a kept item missing from the answers (named).
      ResponseError: values outside [0, 1], or a model with no answer at all.
    """
    import pandas as pd
    Y, model_ids, answered = self._answer_matrix(answers)
    glob = np.concatenate([self._anchors[b] for b in self.benchmarks])
    Z, theta, _ = _features(self.irt_model, Y, glob, self._theta_stats)
    offs = _offsets(self.benchmarks, self._anchors)
    B = len(self.benchmarks)
    est = np.empty((Y.shape[0], B))
    hw = np.empty((Y.shape[0], B))
    missing = np.empty((Y.shape[0], B))
    for j, b in enumerate(self.benchmarks):
      r = self._regs[b]
      own = np.arange(*offs[b])
      est[:, j] = _reg.predict_bench(r, self._Z[r.rows], Z, own, self.irt_model.dim)
      missing[:, j] = 1.0 - answered[b] / self._anchors[b].size
      hw[:, j] = self._half_width(b, missing[:, j])
    percent = self.unit == "percent"   # a percent score lies in [0, 100]: estimates and intervals are cut there
    if percent:
      est = np.clip(est, 0.0, 100.0)
    avg = est.mean(axis=1)            # the mean of the benchmark estimates as shown
    scale_avg = np.interp(np.minimum(missing.mean(axis=1), self._missing_fractions[-1]), self._missing_fractions,
                          self._c_by_missing)
    hw_avg = scale_avg * np.sqrt(np.sum(hw ** 2, axis=1)) / B
    cols = self.benchmarks + ["average"]
    frame = lambda x: pd.DataFrame(x, index=pd.Index(model_ids, name="model"), columns=cols)  # noqa: E731
    scores = np.column_stack([est, avg])
    half = np.column_stack([hw, hw_avg])
    lower, upper = scores - half, scores + half
    if percent:
      lower, upper = np.clip(lower, 0.0, 100.0), np.clip(upper, 0.0, 100.0)
    ans = pd.DataFrame({b: answered[b].astype(int) for b in self.benchmarks}, index=pd.Index(model_ids, name="model"))
    kept = pd.DataFrame({b: _row_mean(Y[:, offs[b][0]:offs[b][1]]) for b in self.benchmarks},
                        index=pd.Index(model_ids, name="model"))
    return SuiteEstimates(scores=frame(scores), lower=frame(lower), upper=frame(upper),
                          answered=ans, kept_accuracy=kept, level=self.level, theta=theta)

  def _half_width(self, b: str, missing: np.ndarray) -> np.ndarray:
    """[M] half-widths of benchmark ``b`` for models that left a share ``missing`` [M] of its kept items
    unanswered: interpolated between the shares measured on validation, up to ``half_width_missing`` at 1."""
    if len(self._missing_fractions) == 1:   # a suite saved before the shares were measured: the old rule
      return np.where(missing < 1.0, self._q[b], self._q_missing[b])
    return np.interp(missing, list(self._missing_fractions) + [1.0], self._q_by_missing[b] + [self._q_missing[b]])

  def estimate_from_lm_eval(self, path, *, metric=None, filter=None):  # noqa: A002 (lm-eval's own word)
    """Estimates from lm-evaluation-harness ``--log_samples`` output of ONE model (a folder or samples files).

    Items are matched by the documents' own identity fields (``metabench_idx``, ``mb_sub_idx``), never by
    ``doc_id`` order; the metric per benchmark is the leaderboard's (:data:`tinyjax.suite.LEADERBOARD_METRICS`)
    unless ``metric`` overrides it (a name, or a dict per benchmark). Tasks of benchmarks the suite does not
    have are skipped (logged); a log with none of its benchmarks is an error.

    Returns:
      ``(estimates, logs)``: :class:`SuiteEstimates` with one row (the model), and {benchmark: LogAnswers}
      saying which file, metric and filter each benchmark came from.
    """
    import pandas as pd
    from tinyjax.suite._logs import read_suite_logs
    logs = read_suite_logs(path, benchmarks=self.benchmarks, metric=metric, filter=filter)
    model = next(iter(logs.values())).model
    answers = {}
    for b, la in logs.items():
      ids = self.anchors[b]
      missing = [i for i in ids if i not in la.answers]
      if len(missing) == len(ids):
        raise ItemError(f"{la.path}: none of the {len(ids)} kept items of {b!r} is in the log (first kept id: "
                        f"{ids[0]!r}); is it a log of the suite's item set?")
      answers[b] = pd.DataFrame([[la.answers.get(i, np.nan) for i in ids]], columns=ids, index=[model])
      if missing:
        log.info("%s: %d of the %d kept items are not in the log (counted as not answered)", b, len(missing),
                 len(ids))
    return self.estimate(answers), logs

  # --- persistence ----------------------------------------------------------------------------
  def _to_artifact(self):
    irt_arrays, irt_meta = self.irt_model._to_artifact()
    arrays = {f"irt__{k}": v for k, v in irt_arrays.items()}
    arrays["item_ids"] = np.asarray(self.item_ids, dtype=str)
    arrays["Z"] = np.asarray(self._Z)
    arrays["theta_mean"], arrays["theta_sd"] = (np.asarray(x) for x in self._theta_stats)
    benches = []
    for j, b in enumerate(self.benchmarks):
      r = self._regs[b]
      arrays[f"b{j}__cols"] = self._cols[b].astype(np.int64)
      arrays[f"b{j}__anchors"] = self._anchors[b].astype(np.int64)
      arrays[f"b{j}__rows"] = r.rows.astype(np.int64)
      arrays[f"b{j}__alphas"] = np.asarray(r.alphas)
      arrays[f"b{j}__lin_mean"], arrays[f"b{j}__lin_coef"] = r.linear.mean, r.linear.coef
      for i, lm in enumerate(r.member_linear):
        arrays[f"b{j}__m{i}_mean"], arrays[f"b{j}__m{i}_coef"] = lm.mean, lm.coef
      benches.append({"name": b, "estimator": r.estimator, "gamma": [float(g) for g in r.gamma], "q": self._q[b],
                      "q_missing": self._q_missing[b], "q_by_missing": self._q_by_missing[b],
                      "linear": {"intercept": float(r.linear.intercept), "alpha": float(r.linear.alpha)},
                      "member_linear": [{"intercept": float(lm.intercept), "alpha": float(lm.alpha)}
                                        for lm in r.member_linear]})
    meta = {"irt": irt_meta, "benches": benches, "c_avg": self._c_avg, "level": self.level, "seed": self.seed,
            "missing_fractions": list(self._missing_fractions), "c_by_missing": self._c_by_missing,
            "unit": self.unit, "validation": _jsonable(self.validation), "members": [list(m) for m in _reg.MEMBERS]}
    return arrays, meta

  @classmethod
  def _from_artifact(cls, arrays, meta):
    from tinyjax.irt import IRTModel
    try:
      irt = IRTModel._from_artifact({k[5:]: v for k, v in arrays.items() if k.startswith("irt__")}, meta["irt"])
      if [tuple(m) for m in meta["members"]] != list(_reg.MEMBERS):
        raise ArtifactError("suite file was written with other kernel members than this tinyjax version uses")
      names, cols, anchors, regs, q, qm, qf = [], {}, {}, {}, {}, {}, {}
      for j, bm in enumerate(meta["benches"]):
        b = bm["name"]
        names.append(b)
        cols[b], anchors[b] = arrays[f"b{j}__cols"], arrays[f"b{j}__anchors"]
        lin = _est.ScoreRegression(arrays[f"b{j}__lin_mean"], arrays[f"b{j}__lin_coef"],
                                   float(bm["linear"]["intercept"]), float(bm["linear"]["alpha"]))
        mlin = tuple(_est.ScoreRegression(arrays[f"b{j}__m{i}_mean"], arrays[f"b{j}__m{i}_coef"],
                                          float(ml["intercept"]), float(ml["alpha"]))
                     for i, ml in enumerate(bm["member_linear"]))
        regs[b] = _reg.BenchRegression(lin, mlin, bm["estimator"], np.asarray(bm["gamma"], np.float64), arrays[f"b{j}__rows"],
                                       arrays[f"b{j}__alphas"])
        q[b], qm[b] = float(bm["q"]), float(bm["q_missing"])
        qf[b] = [float(h) for h in bm.get("q_by_missing", [q[b]])]   # optional: absent from older files
      obj = cls(names=names, item_ids=[str(s) for s in arrays["item_ids"]], cols=cols, anchors=anchors,
                irt_model=irt, regs=regs, Z_train=arrays["Z"], theta_stats=(arrays["theta_mean"], arrays["theta_sd"]),
                q=q, q_missing=qm, c_avg=meta["c_avg"], validation=meta["validation"], level=meta["level"],
                seed=meta["seed"], unit=meta.get("unit", ""), missing_fractions=meta.get("missing_fractions"),
                q_by_missing=qf, c_by_missing=meta.get("c_by_missing"))
      fr = obj._missing_fractions
      if (fr[0] != 0.0 or any(b <= a for a, b in zip(fr, fr[1:])) or fr[-1] >= 1.0
          or any(len(obj._q_by_missing[b]) != len(fr) for b in names) or len(obj._c_by_missing) != len(fr)):
        raise ArtifactError("suite file has inconsistent missing-answer half-widths")
    except (KeyError, TypeError) as err:
      raise ArtifactError(f"suite file is missing or has a malformed field: {err}") from err
    for b in obj.benchmarks:
      if np.any(anchors[b] >= irt.n_items) or regs[b].rows.size and regs[b].rows.max() >= obj._Z.shape[0]:
        raise ArtifactError("suite file is inconsistent: indices out of range")
    return obj

  def save(self, path):
    """Saves to a ``.tjx`` artifact that :func:`tinyjax.load` reads; returns its path. The file holds the
    kept items' answers of the train models (the kernel regression needs them), not their names."""
    from tinyjax.io import save_artifact
    arrays, meta = self._to_artifact()
    return save_artifact(path, self.kind_name, arrays, meta)

  @classmethod
  def load(cls, path, **kwargs) -> "Suite":
    """Reads a ``.tjx`` suite file, or a suite by name: ``Suite.load("openllm-v1", n_anchors=100)`` fetches the
    data if needed, builds once and reuses the cached build (:func:`tinyjax.suite.fetch.openllm_v1_suite`, whose
    keyword arguments it takes)."""
    from tinyjax.suite import fetch
    if isinstance(path, str) and path in fetch.SUITE_NAMES and not os.path.exists(path):
      return fetch.openllm_v1_suite(**kwargs)
    if kwargs:
      raise ConfigError(f"Suite.load takes settings only with a suite name ({', '.join(fetch.SUITE_NAMES)}), "
                        f"got {sorted(kwargs)} with {path!r}")
    from tinyjax.io import load_artifact
    _, arrays, meta = load_artifact(path, expected_kind=cls.kind_name)
    return cls._from_artifact(arrays, meta)

  # The evaluation protocol (tinyjax.evaluate.EvalTarget).
  def evaluation_anchors(self) -> dict[str, list[str]]:
    """``{benchmark: kept item ids}``: the items to run (:class:`tinyjax.evaluate.EvalTarget`)."""
    return {b: list(ids) for b, ids in self.anchors.items()}

  def evaluate_answers(self, answers):
    """One model's :meth:`estimate` from ``{benchmark: [K_b] answers}`` (kept-item order; a benchmark left out is
    estimated from the others), as a :class:`tinyjax.evaluate.Evaluation` with the average."""
    from tinyjax.evaluate.target import Evaluation, Interval
    est = self.estimate({b: np.asarray(y, np.float64).reshape(1, -1) for b, y in answers.items()})
    row = {c: Interval(*(float(x[c].iloc[0]) for x in (est.scores, est.lower, est.upper)))
           for c in [*self.benchmarks, "average"]}
    return Evaluation({b: row[b] for b in self.benchmarks}, average=row["average"])


# --- the stages of Suite.fit ------------------------------------------------------------------------------------

def _anchor_counts(J: _Joint, n_anchors) -> dict[str, int]:
  """{benchmark: kept items}: ``n_anchors`` (an int, a dict per benchmark, or None for every item), checked."""
  ks = {}
  for b in J.names:
    k = n_anchors.get(b) if isinstance(n_anchors, Mapping) else n_anchors
    n_b = J.cols[b].size
    if k is None:
      k = n_b
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_b:
      raise ConfigError(f"n_anchors for {b!r} must be an int in [1, {n_b}] or None, got {k!r}")
    ks[b] = int(k)
  return ks


def _validation_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(fit rows, validation rows) of the n models: a random ``val_fraction`` (at least 10) held out."""
  perm = np.random.default_rng(seed).permutation(n)
  n_val = max(10, int(round(val_fraction * n)))
  return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _check_validation_models(J: _Joint, val: np.ndarray, level: float) -> None:
  """Every benchmark needs enough validation models with its full score for a split-conformal half-width at
  ``level`` (:func:`tinyjax.tiny.estimators.conformal_quantile`: ``ceil((n + 1) level) <= n``)."""
  need = _est.min_conformal_scores(level)
  for j, b in enumerate(J.names):
    n_v = int(np.isfinite(J.F[val, j]).sum())
    if n_v < need:
      raise ResponseError(f"benchmark {b!r} has {n_v} validation model(s) with a full score; a {level:g} interval "
                          f"needs at least {need}: give more models with its full score, a larger val_fraction or "
                          "a lower level")


def _choose_strategies(J: _Joint, tr, val, ks, strategies, seed, bar) -> tuple[dict, dict]:
  """({benchmark: strategy}, {benchmark: kept global columns}): per benchmark, the anchor strategy whose kept items
  predict the held-out models' full scores best by ridge (or every item when ``ks`` keeps them all)."""
  anchors_v, strategy = {}, {}
  for j, b in enumerate(J.names):
    rows = tr[np.isfinite(J.F[tr, j])]
    rows_v = val[np.isfinite(J.F[val, j])]
    best = None
    cands = strategies if ks[b] < J.cols[b].size else ("all",)
    for s in cands:
      loc = _choose_anchors(J.Y[np.ix_(rows, J.cols[b])], J.F[rows, j], ks[b], s, seed + 1009 * j)
      glob = J.cols[b][loc]
      err = _own_ridge_rmse(J, rows, rows_v, glob, j) if len(cands) > 1 else 0.0
      if best is None or err < best[0]:
        best = (err, s, glob)
    strategy[b], anchors_v[b] = best[1], best[2]
    bar.done(f"anchors_v {b}")
  return strategy, anchors_v


class _BenchChoice(NamedTuple):
  """One benchmark's regression chosen on the validation split (:func:`_choose_regression`)."""

  key: tuple               # ("krr", per-member widths) or ("ridge", ones)
  reg: Any                 # the chosen _regression.BenchRegression, fitted on the fit rows
  pred: np.ndarray         # [n_val_b] its predictions of the validation models with this full score
  rmse_by_candidate: dict  # candidate -> validation RMSE


def _choose_regression(Z_tr, y_tr, Z_val, y_v, own, n_theta, gammas, lam) -> _BenchChoice:
  """Ridge, or ridge plus the kernel members (each at its best width on validation), whichever predicts ``y_v``
  better. Every member at every width comes from one Gram matrix and one set of distances."""
  rmse_of = lambda pred: float(np.sqrt(np.mean((pred - y_v) ** 2)))  # noqa: E731
  n = Z_tr.shape[0]
  grid = _reg.fit_grid(Z_tr, y_tr, own, n_theta, gammas, lam)
  ridge = _reg.BenchRegression(grid.linear, (), "ridge", np.ones(len(_reg.MEMBERS)), np.arange(n), np.zeros((0, n)))
  lin = _reg.predict_bench(ridge, Z_tr, Z_val, own, n_theta)
  by_cand = {"ridge": rmse_of(lin)}
  parts = _reg.grid_predictions(grid, Z_tr, Z_val, own, n_theta)   # [W, members, n_val]
  for w, g in enumerate(gammas):
    for i, m in enumerate(_reg.MEMBERS):
      by_cand[f"krr member {m} gamma={g:g}"] = rmse_of(parts[w, i])
  best_w = [min(range(len(gammas)), key=lambda w: rmse_of(parts[w, i])) for i in range(len(_reg.MEMBERS))]
  best_g = [float(gammas[w]) for w in best_w]
  krr = _reg.select(grid, best_w, np.arange(n))
  krr_pred = np.mean([parts[w, i] for i, w in enumerate(best_w)], axis=0)
  by_cand["krr"] = rmse_of(krr_pred)
  if by_cand["krr"] < by_cand["ridge"]:
    return _BenchChoice(("krr", tuple(best_g)), krr, krr_pred, by_cand)
  return _BenchChoice(("ridge", (1.0,) * len(best_g)), ridge, lin, by_cand)


class _Validation(NamedTuple):
  """What the validation split chose and measured (:func:`_validate`)."""

  strategy: dict       # {benchmark: anchor strategy}
  chosen: dict         # {benchmark: ("krr" | "ridge", per-member widths)}
  q: dict              # {benchmark: half-width of a model that answered it}
  q_missing: dict      # {benchmark: half-width of a model that did not}
  q_by_missing: dict   # {benchmark: [len(MISSING_FRACTIONS)] half-widths by the share of kept items unanswered}
  c_avg: float         # scale of the average's half-width
  c_by_missing: list   # [len(MISSING_FRACTIONS)] the same by share
  report: dict         # Suite.validation


def _validate(J: _Joint, tr, val, ks, strategies, gammas, lam, kind, dim, seed, level, bar) -> _Validation:
  """Joint IRT on the fit rows; per benchmark the anchor strategy and the regression chosen on the validation rows,
  and the split-conformal half-widths of their residuals (answered, not answered, partly answered)."""
  names, B = J.names, len(J.names)
  bar.set_description("suite: IRT (validation split)")
  irt_v = fit_irt(J.Y[tr], kind=kind, dim=dim, seed=seed, progress=False)
  bar.done("irt_v")
  strategy, anchors_v = _choose_strategies(J, tr, val, ks, strategies, seed, bar)
  glob_v = np.concatenate([anchors_v[b] for b in names])
  bar.set_description("suite: features (validation split)")
  Z_tr, _, tstats_v = _features(irt_v, J.Y[tr][:, glob_v], glob_v)
  Z_val, _, _ = _features(irt_v, J.Y[val][:, glob_v], glob_v, tstats_v)
  bar.done("features_v")
  n_theta = irt_v.dim
  offs = _offsets(names, anchors_v)
  report, q, q_missing, chosen, val_regs = {}, {}, {}, {}, {}
  val_pred = np.full((val.size, B), np.nan)
  for j, b in enumerate(names):
    bar.set_description(f"suite: validating {b}")
    own = np.arange(*offs[b])
    ok_tr, ok_v = np.isfinite(J.F[tr, j]), np.isfinite(J.F[val, j])
    y_v = J.F[val, j][ok_v]
    c = _choose_regression(Z_tr[ok_tr], J.F[tr, j][ok_tr], Z_val[ok_v], y_v, own, n_theta, gammas, lam)
    val_regs[b] = (c.reg, Z_tr[ok_tr], own)
    val_pred[np.flatnonzero(ok_v), j] = c.pred
    # The same validation models with this benchmark's kept items hidden: its score from the others alone.
    hidden = J.Y[val][ok_v][:, glob_v].copy()
    hidden[:, own] = np.nan
    answered_other = ~np.all(np.isnan(hidden), axis=1)
    res_missing = np.full(ok_v.sum(), np.nan)
    if answered_other.any():
      Zh, _, _ = _features(irt_v, hidden[answered_other], glob_v, tstats_v)
      res_missing[answered_other] = _reg.predict_bench(c.reg, Z_tr[ok_tr], Zh, own, n_theta) - y_v[answered_other]
    q[b] = _conformal(np.abs(c.pred - y_v), level)
    q_missing[b] = _conformal(np.abs(res_missing), level)
    if not np.isfinite(q_missing[b]):
      # Too few validation models answer another benchmark: the spread of the full scores around their mean.
      q_missing[b] = float(np.nanmax(np.abs(y_v - y_v.mean()))) if y_v.size else q[b]
    # A model that did not answer a benchmark is never told its score more precisely than one that did
    # (on a small validation split the two measured half-widths can cross by chance).
    q_missing[b] = max(q_missing[b], q[b])
    chosen[b] = c.key
    report[b] = {
        "estimator": c.key[0], "gamma": list(c.key[1]), "strategy": strategy[b],
        "n_anchors": int(anchors_v[b].size), "rmse": c.rmse_by_candidate[c.key[0]],
        "rmse_by_candidate": c.rmse_by_candidate,
        "rmse_missing": float(np.sqrt(np.nanmean(res_missing ** 2))) if answered_other.any() else float("nan"),
        "half_width": q[b], "half_width_missing": q_missing[b], "n_validation": int(ok_v.sum())}
    bar.done(f"validate {b}")
  c_avg, report["average"] = _average_scale(J.F[val], val_pred, q, level)
  # The same validation models with a random share of every benchmark's kept items hidden (issue 26): the
  # half-widths for a model that left some kept items unanswered.
  bar.set_description("suite: calibrating for missing answers")
  q_by_missing, c_by_missing = _calibrate_missing(
      irt_v, J, val, glob_v, offs, names, tstats_v, val_regs, q, c_avg, level, seed, n_theta)
  for b in names:
    q_missing[b] = max(q_missing[b], q_by_missing[b][-1])   # never narrower than with 80% of it missing
    report[b]["half_width_missing"] = q_missing[b]
    report[b]["half_width_by_missing"] = {f"{f:g}": h for f, h in zip(MISSING_FRACTIONS, q_by_missing[b])}
  report["average"]["scale_by_missing"] = {f"{f:g}": c for f, c in zip(MISSING_FRACTIONS, c_by_missing)}
  bar.done("missing")
  return _Validation(strategy, chosen, q, q_missing, q_by_missing, c_avg, c_by_missing, report)


def _average_scale(F_val: np.ndarray, val_pred: np.ndarray, q: dict, level: float) -> tuple[float, dict]:
  """The scale ``c`` of the average's half-width ``c sqrt(sum_b q_b^2) / B`` (1 for independent errors), measured
  on the validation models that have every full score, and its validation report."""
  B = len(q)
  full = np.all(np.isfinite(F_val), axis=1)
  hw_avg_raw = math.sqrt(sum(h ** 2 for h in q.values())) / B
  if full.sum() >= 5:
    avg_res = np.abs(val_pred[full].mean(axis=1) - F_val[full].mean(axis=1))
    h = _conformal(avg_res, level)
    # Too few such models for the level: the root-sum-square of the benchmarks' half-widths as it is.
    c_avg = h / hw_avg_raw if hw_avg_raw > 0 and np.isfinite(h) else 1.0
    return c_avg, {"rmse": float(np.sqrt(np.mean(avg_res ** 2))), "half_width": c_avg * hw_avg_raw,
                   "n_validation": int(full.sum())}
  return 1.0, {"rmse": float("nan"), "half_width": hw_avg_raw, "n_validation": int(full.sum())}


def _fit_final(J: _Joint, ks, strategy, chosen, lam, kind, dim, seed, bar):
  """The suite on every model: joint IRT, kept items (the strategy chosen per benchmark), features, and each
  benchmark's chosen regression. Returns (irt, {benchmark: kept global columns}, Z [N, D], theta stats, regs)."""
  names = J.names
  bar.set_description("suite: IRT (all models)")
  irt = fit_irt(J.Y, kind=kind, dim=dim, seed=seed, progress=False)
  bar.done("irt")
  anchors = {}
  for j, b in enumerate(names):
    bar.set_description(f"suite: anchors {b}")
    rows = np.flatnonzero(np.isfinite(J.F[:, j]))
    loc = _choose_anchors(J.Y[np.ix_(rows, J.cols[b])], J.F[rows, j], ks[b], strategy[b], seed + 1009 * j)
    anchors[b] = J.cols[b][loc]
    bar.done(f"anchors {b}")
  glob = np.concatenate([anchors[b] for b in names])
  bar.set_description("suite: features (all models)")
  Z, _, tstats = _features(irt, J.Y[:, glob], glob)
  bar.done("features")
  regs = {}
  offs = _offsets(names, anchors)
  for j, b in enumerate(names):
    bar.set_description(f"suite: fitting {b}")
    rows = np.flatnonzero(np.isfinite(J.F[:, j]))
    est_name, g = chosen[b]
    regs[b] = _reg.fit_bench(Z[rows], J.F[rows, j], np.arange(*offs[b]), irt.dim, est_name, g, lam, rows=rows)
    bar.done(f"fit {b}")
  return irt, anchors, Z, tstats, regs


def hide_answers(Y: np.ndarray, offs, names, fraction: float, rng: np.random.Generator) -> np.ndarray:
  """A copy of ``Y`` [M, K] (kept items of every benchmark side by side, blocks ``offs``) where each model has
  ``floor(fraction * answered)`` of its answered kept items of each benchmark set to NaN, chosen at random.

  Not :func:`tinyjax.tiny.calibration.hide_anchors` (``round(fraction * K)`` of all K anchors, the same random
  order for every fraction, at least one answer kept): the two rules calibrate the published figures of each
  (docs/suites.md, docs/accuracy.md), and one rule for both would change one set of them.
  """
  out = np.array(Y, dtype=float, copy=True)
  for b in names:
    blk = out[:, offs[b][0]:offs[b][1]]                     # a view: hiding writes into ``out``
    ans = ~np.isnan(blk)
    keys = np.where(ans, rng.random(blk.shape), np.inf)
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    n_hide = np.floor(fraction * ans.sum(axis=1) + 1e-9).astype(np.int64)
    blk[rank < n_hide[:, None]] = np.nan
  return out


def _calibrate_missing(irt_v, J: _Joint, val, glob_v, offs, names, tstats, val_regs, q, c_avg, level, seed,
                       n_theta):
  """Half-widths on the validation models with each share of :data:`MISSING_FRACTIONS` of every benchmark's
  kept items hidden at random (features and predictions as for a new model).

  Returns:
    ({benchmark: [F] half-widths, the first ``q[b]``, non-decreasing in the share}, [F] scales of the average's
    half-width, the first ``c_avg``).
  """
  rng = np.random.default_rng([seed, 26])
  Yv, Fv = J.Y[val][:, glob_v], J.F[val]
  B = len(names)
  full = np.all(np.isfinite(Fv), axis=1)
  qs, cs = {b: [q[b]] for b in names}, [c_avg]
  for f in MISSING_FRACTIONS[1:]:
    Z, _, _ = _features(irt_v, hide_answers(Yv, offs, names, f, rng), glob_v, tstats)
    pred = np.full(Fv.shape, np.nan)
    for j, b in enumerate(names):
      reg, Z_train, own = val_regs[b]
      ok = np.isfinite(Fv[:, j])
      pred[ok, j] = _reg.predict_bench(reg, Z_train, Z[ok], own, n_theta)
      h = _conformal(np.abs(pred[ok, j] - Fv[ok, j]), level)
      qs[b].append(max(h, qs[b][-1]) if np.isfinite(h) else qs[b][-1])
    raw = math.sqrt(sum(qs[b][-1] ** 2 for b in names)) / B
    h = _conformal(np.abs(pred[full].mean(axis=1) - Fv[full].mean(axis=1)), level) if full.sum() >= 5 else np.inf
    cs.append(h / raw if raw > 0 and np.isfinite(h) else cs[-1])
  return qs, cs


# Seconds per unit of work of each stage of a build, measured on the Open LLM Leaderboard v1 (one core of the 2-core
# VM, float32; benchmarks/RESULTS.md, "Suite build"): the progress bar advances by each stage's predicted share, so
# that its estimate of the time left holds although the stages differ by orders of magnitude.
_COST_IRT = 4e-6          # per observed entry of the joint IRT fit
_COST_FEATURES = 5e-7     # per (model, feature) of the ability estimates and features
_COST_STEPWISE = 1.5e-9   # per (model, item, step) of the stepwise anchor search, times (1 + steps / 10)
_COST_SOLVE = 3e-11       # per n^3 / 3 of a kernel ridge Cholesky solve
_COST_DIST = 3e-11        # per (model, model, feature) of the kernel distances and predictions
_COST_RIDGE = 3e-11       # per (model D^2 + 10 D^3) of a member's ridge (Gram matrix, eigendecomposition)
_COST_STAGE = 1.0         # a stage's fixed cost (compilation for its shapes, bookkeeping)


def _build_costs(J: _Joint, names, tr, val, ks, strategies, n_gammas: int, dim: int) -> dict[str, float]:
  """{stage: predicted seconds} of :meth:`Suite.fit`, the weights of its progress bar."""
  n_mem = len(_reg.MEMBERS)
  D = sum(ks.values()) + dim
  obs = np.isfinite(J.Y)
  c = {"irt_v": _COST_IRT * obs[tr].sum() + _COST_STAGE, "irt": _COST_IRT * obs.sum() + _COST_STAGE,
       "features_v": _COST_FEATURES * (tr.size + val.size) * D + _COST_STAGE,
       "features": _COST_FEATURES * J.Y.shape[0] * D + _COST_STAGE}
  ridge = lambda n: _COST_RIDGE * (n_mem + 1) * (n * D * D + 10 * D ** 3)  # noqa: E731
  missing = 3 * _COST_FEATURES * val.size * D
  for j, b in enumerate(names):
    n_tr, n_v = int(np.isfinite(J.F[tr, j]).sum()), int(np.isfinite(J.F[val, j]).sum())
    n_all, k, n_items = n_tr + n_v, ks[b], J.cols[b].size
    step = _COST_STAGE if k < n_items and "stepwise" in strategies else 0.0
    c[f"anchors_v {b}"] = step * (1 + _COST_STEPWISE * n_tr * n_items * k * (1 + k / 10)) + 1e-3
    c[f"anchors {b}"] = step * (1 + _COST_STEPWISE * n_all * n_items * k * (1 + k / 10)) + 1e-3
    c[f"validate {b}"] = (_COST_SOLVE * n_gammas * n_mem * n_tr ** 3 / 3 + _COST_DIST * (n_tr + n_v) * n_tr * D
                          + _COST_DIST * n_gammas * n_mem * n_v * n_tr + ridge(n_tr) + 2 * _COST_STAGE)
    c[f"fit {b}"] = (_COST_SOLVE * n_mem * n_all ** 3 / 3 + _COST_DIST * n_all ** 2 * D + ridge(n_all)
                     + _COST_STAGE)
    missing += 3 * _COST_DIST * n_v * n_tr * D
  c["missing"] = missing + _COST_STAGE
  return c


class _WeightedBar:
  """Moves a progress bar of 100 units by each finished stage's predicted share of the work (``cost``), and
  records how long each stage took (:meth:`report`)."""

  def __init__(self, bar, cost: dict[str, float]):
    self._bar, self._cost = bar, cost
    self._total = float(sum(cost.values()))
    self._done = self._shown = 0
    self._t, self._c = time.perf_counter(), time.process_time()
    self.seconds: dict[str, tuple[float, float]] = {}   # {stage: (wall, CPU seconds)}

  def set_description(self, text: str) -> None:
    self._bar.set_description(text)

  def done(self, stage: str) -> None:
    now, cpu = time.perf_counter(), time.process_time()
    self.seconds[stage] = (now - self._t, cpu - self._c)
    self._t, self._c = now, cpu
    self._done += self._cost[stage]
    shown = min(100, int(round(100 * self._done / self._total)))
    self._bar.update(shown - self._shown)
    self._shown = shown

  def report(self) -> str:
    return ", ".join(f"{k} {w:.1f} s ({c:.1f} s CPU) [{100 * self._cost[k] / self._total:.0f}%]"
                     for k, (w, c) in self.seconds.items())


def _offsets(names, anchors) -> dict[str, tuple[int, int]]:
  out, start = {}, 0
  for b in names:
    out[b] = (start, start + int(np.asarray(anchors[b]).size))
    start = out[b][1]
  return out


def _own_ridge_rmse(J: _Joint, rows, rows_v, glob, j) -> float:
  """Validation RMSE of a ridge of benchmark j's full score on its own kept items (NaN filled by item means)."""
  Xt, Xv = J.Y[np.ix_(rows, glob)], J.Y[np.ix_(rows_v, glob)]
  mu = np.nan_to_num(np.nanmean(Xt, axis=0), nan=0.5)
  Xt, Xv = np.where(np.isnan(Xt), mu, Xt), np.where(np.isnan(Xv), mu, Xv)
  reg = _est.fit_score_regression(Xt, J.F[rows, j])
  return float(np.sqrt(np.mean((_est.regression_estimate(Xv, reg) - J.F[rows_v, j]) ** 2)))


def _row_mean(Y: np.ndarray) -> np.ndarray:
  """[M] mean over each row's answered entries (NaN for a row with none)."""
  n = (~np.isnan(Y)).sum(axis=1)
  return np.where(n > 0, np.nansum(Y, axis=1) / np.maximum(n, 1), np.nan)


def _jsonable(x):
  if isinstance(x, dict):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, (np.floating, float)):
    return float(x)
  if isinstance(x, (np.integer,)):
    return int(x)
  return x
