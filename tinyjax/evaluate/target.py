"""One evaluation target: what a tiny benchmark, a leaderboard and a suite offer an evaluation loop.

A target names the anchor items to run, per benchmark, and turns one model's answers on them into estimates with
intervals. :class:`tinyjax.TinyBenchmark`, :class:`tinyjax.Leaderboard` and :class:`tinyjax.Suite` implement it, and
:class:`tinyjax.evaluate.TinyEvalHook` takes any of them (or a ``{name: target}`` dict, a :class:`TargetGroup`):

    anchors = target.evaluation_anchors()          # {"mmlu": ["mmlu.abstract_algebra.3", ...], ...}
    ev = target.evaluate_answers({"mmlu": correct})   # correct: [A] 0/1, in the order of anchors["mmlu"]
    ev.scores["mmlu"].estimate, ev.scores["mmlu"].lower, ev.scores["mmlu"].upper

This module imports no statistics (numpy only), so the classes that implement the protocol can import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from tinyjax.errors import ConfigError

__all__ = ("AdaptiveTarget", "EvalTarget", "Evaluation", "Interval", "TargetGroup")


class Interval(NamedTuple):
  """One estimate with its interval, in the target's unit (fractions for tiny benchmarks, the suite's unit)."""

  estimate: float   # the recommended full-score estimate
  lower: float      # lower end of its interval at the target's level
  upper: float      # upper end


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """One model's estimates from its answers on a target's anchors.

  Attributes:
    scores: ``{benchmark: Interval}``, every benchmark of the target, answered or not (a suite or a leaderboard
      estimates an unanswered benchmark from the others), in the order of :meth:`EvalTarget.evaluation_anchors`.
    average: the mean over the benchmarks with its interval, where the target estimates one (a suite), else None.
    others: ``{benchmark: {estimator: value}}``: every estimator's value, where the target has several (a tiny
      benchmark's and a leaderboard's estimators by name); empty otherwise.
  """

  scores: Mapping[str, Interval]
  average: Interval | None = None
  others: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)


@runtime_checkable
class EvalTarget(Protocol):
  """What an evaluation loop needs from a fitted tiny benchmark, leaderboard or suite."""

  def evaluation_anchors(self) -> dict[str, list[str]]:
    """``{benchmark: [item ids]}``: the anchor items to run, per benchmark, in the order answers are given."""

  def evaluate_answers(self, answers: Mapping[str, np.ndarray]) -> Evaluation:
    """One model's estimates from ``{benchmark: [A_b] answers}`` (0/1 or scores in [0, 1], in the order of
    :meth:`evaluation_anchors`); a benchmark left out is unanswered."""


@runtime_checkable
class AdaptiveTarget(EvalTarget, Protocol):
  """A one-benchmark target that can also be tested adaptively (a :class:`tinyjax.TinyBenchmark`): any of its
  items may be asked, by Fisher information at the current ability, and scored by p-IRT."""

  item_ids: list[str]            # [I] every item of the benchmark
  item_weights: np.ndarray       # [I] weight of each item in the full score
  irt_model: object              # the fitted tinyjax.IRTModel

  @property
  def recommendation(self) -> dict: ...

  def adaptive_score(self, Y, asked) -> tuple[np.ndarray, np.ndarray]: ...

  def adaptive_interval(self, score, theta) -> tuple[np.ndarray, np.ndarray]: ...


def check_target(target, what: str = "target") -> EvalTarget:
  """``target`` itself when it implements :class:`EvalTarget`; a ``{name: target}`` mapping as a
  :class:`TargetGroup`."""
  if isinstance(target, Mapping):
    return TargetGroup(target)
  if not isinstance(target, EvalTarget):
    raise ConfigError(f"{what} must be a TinyBenchmark, a Leaderboard, a Suite (anything with evaluation_anchors() "
                      f"and evaluate_answers()) or a {{name: target}} dict, got {type(target).__name__}")
  return target


class TargetGroup:
  """Several targets evaluated side by side, each under its own name: ``{"mmlu": tb_mmlu, "arc": tb_arc}``.

  A member with one benchmark is that benchmark under the member's name; a member with several keeps them as
  ``"<member>/<benchmark>"``. Each member is estimated from its own answers only; a member given no answers is
  left out of :meth:`evaluate_answers` (its benchmarks are not in the result).
  """

  def __init__(self, members: Mapping[str, EvalTarget]):
    if not members:
      raise ConfigError("the targets are empty: give at least one {name: target}")
    self.members = {str(k): check_target(v, f"target {k!r}") for k, v in members.items()}
    self._names: dict[str, tuple[str, str]] = {}   # group name -> (member, the member's own benchmark name)
    for key, member in self.members.items():
      own = list(member.evaluation_anchors())
      for b in own:
        self._names[key if len(own) == 1 else f"{key}/{b}"] = (key, b)

  def member(self, name: str) -> tuple[EvalTarget, str]:
    """The member behind the group's benchmark ``name``, and that benchmark's name inside the member."""
    key, own = self._names[name]
    return self.members[key], own

  def benchmarks_of(self, key: str) -> list[str]:
    """The group's names of member ``key``'s benchmarks."""
    return [name for name, (k, _) in self._names.items() if k == key]

  def evaluation_anchors(self) -> dict[str, list[str]]:
    anchors = {key: m.evaluation_anchors() for key, m in self.members.items()}
    return {name: list(anchors[key][own]) for name, (key, own) in self._names.items()}

  def evaluate_answers(self, answers: Mapping[str, np.ndarray]) -> Evaluation:
    unknown = sorted(set(answers) - set(self._names))
    if unknown:
      raise ConfigError(f"answers name benchmarks the targets do not have: {unknown}; they have {list(self._names)}")
    scores, others = {}, {}
    for key, m in self.members.items():
      names = {self._names[name][1]: name for name in self.benchmarks_of(key)}
      given = {own: answers[name] for own, name in names.items() if name in answers}
      if not given:
        continue
      ev = m.evaluate_answers(given)
      scores.update({names[own]: v for own, v in ev.scores.items()})
      others.update({names[own]: v for own, v in ev.others.items()})
    return Evaluation(scores, None, others)
