"""What tinyjax.bandit accepts and how it batches: a result does not depend on what else ran in the same call,
a budget that reveals no cell, scores outside [0, 1] and negative seeds are refused, and `tinyjax bandit --plot`
runs only the budgets it names."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import tinyjax as tj
from tinyjax import bandit
from tinyjax.cli import main
from tinyjax.errors import ConfigError, ResponseError


@pytest.fixture(scope="module")
def scores():
  """6 methods x 64 binary examples: many tied estimates, so tie-breaking and batching show."""
  rng = np.random.default_rng(3)
  p = np.linspace(0.35, 0.65, 6)[:, None]
  return (rng.random((6, 64)) < p).astype(float)


@pytest.mark.parametrize("algorithm", ["ucbe", "sequential-halving"])
def test_metrics_do_not_depend_on_the_other_budgets(scores, algorithm):
  alone = bandit.simulate(scores, budgets=[0.25], algorithm=algorithm, seeds=4, batch_size=8)
  together = bandit.simulate(scores, budgets=[0.6, 0.1, 0.25], algorithm=algorithm, seeds=4, batch_size=8)
  j = list(together.budgets).index(0.25)
  for field in ("best", "n_evaluated", "n_steps", "precision", "ndcg", "regret"):
    np.testing.assert_array_equal(getattr(together, field)[:, j], getattr(alone, field)[:, 0], err_msg=field)
  one = bandit.run(scores[np.random.default_rng(2).permutation(6)], budget=0.25, algorithm=algorithm, seed=2,
                   batch_size=8)
  assert one.n_evaluated == alone.n_evaluated[2, 0]


def test_metrics_tie_break_is_the_same_whatever_else_is_scored():
  true = np.array([0.5, 0.4, 0.3, 0.2])
  est = np.array([0.5, 0.5, 0.5, 0.5])   # all tied
  alone = bandit.metrics(true, np.array(0), est, k=4)
  many = bandit.metrics(true, np.zeros(5, int), np.tile(est, (5, 1)), k=4)
  np.testing.assert_array_equal(many["ndcg"], np.full(5, alone["ndcg"]))


def test_budget_that_reveals_no_cell_is_an_error(scores):
  with pytest.raises(ConfigError, match=r"reveals 0 .*smallest workable budget for this matrix is 0\.01562"):
    bandit.run(scores, budget=0.001, seed=0, batch_size=8)
  with pytest.raises(ConfigError, match="fewer than one per method"):
    bandit.simulate(scores, budgets=[0.1, 0.01], seeds=2, batch_size=8)


def test_scores_outside_unit_interval_are_an_error(scores):
  bad = scores.copy()
  bad[2, 5] = 2.0
  for call in (lambda: bandit.run(bad, budget=0.5, seed=0, batch_size=8),
               lambda: bandit.simulate(bad, budgets=[0.5], seeds=2, batch_size=8),
               lambda: bandit.hardness(bad)):
    with pytest.raises(ResponseError, match=r"row 2.*column 5"):
      call()


def test_negative_seed_is_an_error(scores):
  for call in (lambda: tj.bandit.run(scores, budget=0.5, seed=-1, batch_size=8),
               lambda: bandit.simulate(scores, budgets=[0.5], seeds=[0, -1], batch_size=8),
               lambda: bandit.hardness(scores, seed=-1),
               lambda: bandit.BanditEvaluator(6, 64, budget=0.5, seed=-1)):
    with pytest.raises(ConfigError, match="seed"):
      call()


def test_cli_seed(tmp_path, scores, capsys):
  np.save(tmp_path / "s.npy", scores)
  with pytest.raises(SystemExit) as exc:
    main(["bandit", str(tmp_path / "s.npy"), "--seed", "-1"])
  assert exc.value.code == 2
  assert "non-negative" in capsys.readouterr().err
  assert main(["bandit", str(tmp_path / "s.npy"), "--seed", "5", "--seeds", "2", "--batch-size", "8",
               "--budget", "0.5"]) == 0


def test_cli_zero_cell_budget(tmp_path, scores, capsys):
  np.save(tmp_path / "s.npy", scores)
  assert main(["bandit", str(tmp_path / "s.npy"), "--budget", "0.001", "--seeds", "2", "--batch-size", "8"]) == 1
  assert "smallest workable budget" in capsys.readouterr().err


def test_cli_plot_runs_only_the_plot_budgets(tmp_path, scores, monkeypatch, caplog):
  pytest.importorskip("matplotlib")
  np.save(tmp_path / "s.npy", scores)
  ran = []
  real = bandit.simulate

  def counting(*args, budgets, **kwargs):
    ran.extend(float(b) for b in budgets)
    return real(*args, budgets=budgets, **kwargs)

  monkeypatch.setattr(bandit, "simulate", counting)
  png = tmp_path / "p.png"
  with caplog.at_level(logging.INFO, logger="tinyjax"):
    assert main(["bandit", str(tmp_path / "s.npy"), "--budget", "0.5", "--seeds", "2", "--batch-size", "8",
                 "--plot", str(png), "--plot-budgets", "0.3,0.5,0.8"]) == 0
  assert sorted(ran) == [0.3, 0.5, 0.8]
  assert png.stat().st_size > 0
  assert "plot: running 3 budgets x 2 seeds" in caplog.text


def test_cli_help_has_no_default_text_of_its_own():
  from tinyjax.cli import build_parser
  import argparse

  sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["bandit"]
  assert sub.description
  for action in sub._actions:
    if isinstance(action, argparse._HelpAction):
      continue
    assert action.help, action.dest
    assert "default" not in action.help.lower().replace("(when not given)", ""), (action.dest, action.help)
  assert "--plot-budgets" in sub.format_help()


def test_hardness_line_is_plain_words(tmp_path, scores, capsys):
  np.save(tmp_path / "s.npy", scores)
  assert main(["bandit", str(tmp_path / "s.npy"), "--budget", "0.5", "--seeds", "2", "--batch-size", "8"]) == 0
  out = capsys.readouterr().out
  line = next(l for l in out.splitlines() if l.startswith("how hard:"))
  for jargon in ("split-half", "oracle", "z=", "verification cells", "hardness:"):
    assert jargon not in line and jargon not in out, jargon
  assert "budget" in line
