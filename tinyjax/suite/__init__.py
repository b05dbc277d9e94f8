"""Suites: several benchmarks built together (a tiny Open LLM Leaderboard), from kept items to FULL scores.

    suite = tj.Suite.fit(responses, full_scores=full, n_anchors=100, seed=0)
    suite.anchors                          # {"mmlu": [item ids], ...}: the questions to run
    est = suite.estimate(answers)          # {"mmlu": DataFrame of answers by item id, ...}
    est.scores, est.lower, est.upper       # DataFrames: one column per benchmark + "average"

Modules: ``_suite`` (:class:`Suite`, :class:`SuiteEstimates`), ``_regression`` (the full-score regression),
``_logs`` (:func:`read_suite_logs`: lm-eval ``--log_samples`` of the metabench and standard tasks).
:func:`fetch_openllm_v1` (module :mod:`fetch`) downloads metabench's Open LLM Leaderboard v1 data from its source
into a cache and converts it; :func:`load_openllm_v1` reads the converted folder; ``Suite.load("openllm-v1")``
(:func:`openllm_v1_suite`) fetches, builds once and reuses the built suite. The leaderboard's metric per
benchmark and its item ids are :mod:`tinyjax.data.openllm`.

Importing this package imports neither JAX nor the submodules: each name loads its module on first use.
"""

from __future__ import annotations

from tinyjax import _lazy
import os
import pathlib

from tinyjax.errors import MissingFileError

OPENLLM_V1 = ("arc", "gsm8k", "truthfulqa", "mmlu", "winogrande")   # benchmarks with a response matrix
SCORE_COLUMN = "full_benchmark_score_pct"

_LAZY = {
    "STRATEGIES": "_suite",
    "Suite": "_suite",
    "SuiteEstimates": "_suite",
    "fetch_openllm_v1": "fetch",
    "openllm_v1_suite": "fetch",
    "LogAnswers": "_logs",
    "read_suite_logs": "_logs",
}



__all__ = ("OPENLLM_V1", "SCORE_COLUMN", "STRATEGIES", "LogAnswers", "Suite", "SuiteEstimates", "fetch_openllm_v1",
           "load_openllm_v1", "openllm_v1_folder", "openllm_v1_suite", "read_suite_logs")
__getattr__, __dir__ = _lazy.attach(__name__, _LAZY, __all__)


def openllm_v1_folder(data_dir: str | os.PathLike) -> pathlib.Path:
  """The folder holding ``<bench>.responses.parquet`` and ``<bench>.full_scores.csv`` under ``data_dir``.

  ``data_dir`` may be that folder itself, or a data root with ``irt/openllm_v1/`` (or ``openllm_v1/``) in it.
  """
  root = pathlib.Path(data_dir)
  for cand in (root, root / "openllm_v1", root / "irt" / "openllm_v1"):
    if any(cand.glob("*.responses.parquet")):
      return cand
  raise MissingFileError(f"{root}: no <benchmark>.responses.parquet here, nor in openllm_v1/ or irt/openllm_v1/ "
                         "below it (`tinyjax suite fetch openllm-v1` downloads and converts the data)")


def load_openllm_v1(data_dir: str | os.PathLike, benchmarks=None):
  """Reads the Open LLM Leaderboard v1 response matrices and full scores.

  Args:
    data_dir: see :func:`openllm_v1_folder`. Each benchmark ``b`` needs ``b.responses.parquet`` (rows = models,
      index = model names, columns = item ids, 0/1) and ``b.full_scores.csv`` (columns ``model`` and
      ``full_benchmark_score_pct``).
    benchmarks: names to read (default: every benchmark of :data:`OPENLLM_V1` present).

  Returns:
    ``(responses, full_scores)``: {benchmark: DataFrame}, {benchmark: Series indexed by model name}, ready for
    :meth:`Suite.fit`.
  """
  import pandas as pd
  folder = openllm_v1_folder(data_dir)
  names = list(benchmarks) if benchmarks is not None else [
      b for b in OPENLLM_V1 if (folder / f"{b}.responses.parquet").exists()]
  responses, scores = {}, {}
  for b in names:
    rp, sp = folder / f"{b}.responses.parquet", folder / f"{b}.full_scores.csv"
    for p in (rp, sp):
      if not p.exists():
        raise MissingFileError(f"{p} is missing (benchmark {b!r})")
    responses[b] = pd.read_parquet(rp)
    fs = pd.read_csv(sp)
    if "model" not in fs.columns or SCORE_COLUMN not in fs.columns:
      raise MissingFileError(f"{sp} must have the columns 'model' and {SCORE_COLUMN!r}, has {list(fs.columns)}")
    scores[b] = fs.set_index("model")[SCORE_COLUMN]
  return responses, scores
