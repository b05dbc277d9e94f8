"""`tinyjax fit` and `tinyjax ability` end to end (in-process, small shapes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax.cli import build_parser, main
from tinyjax.synthetic import simulate_2pl


def test_fit_then_ability(tmp_path, capsys):
  y, theta, _, _ = simulate_2pl(60, 24, seed=7, missing=0.05)
  frame = pd.DataFrame(y, index=[f"m{k}" for k in range(60)], columns=[f"q{k}" for k in range(24)])
  frame.iloc[:50].to_csv(tmp_path / "train.csv")
  # New models answered only the last 12 items, in a different column order.
  frame.iloc[50:, ::-1].iloc[:, :12].to_csv(tmp_path / "new.csv")
  assert main(["fit", str(tmp_path / "train.csv"), "--kind", "2pl", "--dim", "1", "--out",
               str(tmp_path / "m.tjx"), "--quiet"]) == 0
  out = capsys.readouterr().out
  assert "50 models x 24 items" in out and "converged=True" in out
  model = tj.load(tmp_path / "m.tjx")
  assert model.item_ids == [f"q{k}" for k in range(24)]
  assert main(["ability", str(tmp_path / "m.tjx"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "ab.csv")]) == 0
  got = pd.read_csv(tmp_path / "ab.csv")
  assert got["model"].tolist() == [f"m{k}" for k in range(50, 60)]
  cols = [f"q{k}" for k in range(23, 11, -1)]
  items = np.array([model.item_ids.index(c) for c in cols])
  ref = tj.estimate_ability(model, frame.iloc[50:][cols].to_numpy(), items=items)
  np.testing.assert_allclose(got["theta_1"], ref.theta[:, 0], rtol=1e-5)
  np.testing.assert_allclose(got["se_1"], ref.se[:, 0], rtol=1e-5)


def test_cli_errors(tmp_path, capsys):
  np.save(tmp_path / "bad.npy", np.array([[0.0, 3.0], [1.0, 0.0]]))
  assert main(["fit", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "m.tjx")]) == 1
  assert "[0, 1]" in capsys.readouterr().err
  assert main(["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m.tjx")]) == 1


def test_help_explains_options():
  parser = build_parser()
  sub = parser._subparsers._group_actions[0].choices
  for name in ("fit", "ability"):
    text = sub[name].format_help()
    for action in sub[name]._actions:
      if action.option_strings and action.dest != "help":
        assert action.help, f"{name} {action.option_strings} has no help"
  assert "--kind" in sub["fit"].format_help() and "--method" in sub["ability"].format_help()
