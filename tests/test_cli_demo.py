"""``tinyjax demo``: its first screen, advice that runs as printed, optional dependencies checked first, arguments."""

import sys

import pytest

from tinyjax import cli
from tinyjax._cli_demo import _intro, _strategy_hint
from tinyjax.tiny.results import ESTIMATORS

_ROWS = [("random", {"blend": 0.03}, 0.9), ("stratified", {"blend": 0.02}, 0.9), ("stepwise", {"blend": 0.05}, 0.9)]


def test_intro_explains_the_table_in_plain_lines():
  text = _intro("random")
  for word in ("anchor", "p-IRT", "gp-IRT", "diff", "greg", "ridge", "blend", "blend vs random naive", "default",
               "docs/accuracy.md", "points", ESTIMATORS["naive"]):
    assert word in text, word
  assert len(text.splitlines()) <= 16 and max(map(len, text.splitlines())) <= 120


def test_stratified_hint_gives_a_build_command_with_groups():
  hint = _strategy_hint(_ROWS, "random")
  assert "stratified anchors measured better than the default (0.02 against 0.03" in hint
  assert "tinyjax build RESPONSES.csv --strategy stratified --out tiny.tjx --groups GROUPS.txt" in hint
  assert "one group label per item" in hint and "groups=" in hint


def test_other_strategy_hint_names_the_data_and_no_groups():
  rows = [("random", {"blend": 0.03}, 0.9), ("irt", {"blend": 0.02}, 0.9)]
  hint = _strategy_hint(rows, "random", data="y.csv")
  assert "tinyjax build y.csv --strategy irt --out tiny.tjx" in hint and "--groups" not in hint
  assert _strategy_hint(rows, "irt") is None


def test_plot_without_matplotlib_fails_before_any_work(monkeypatch, tmp_path, capsys):
  import tinyjax

  def no_fit(*a, **k):
    raise AssertionError("the demo started fitting before checking matplotlib")

  monkeypatch.setitem(sys.modules, "matplotlib", None)
  monkeypatch.setattr(tinyjax, "fit_irt", no_fit)
  assert cli.main(["demo", "--plot", str(tmp_path / "x.png")]) == 1
  err = capsys.readouterr().err
  assert "matplotlib" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--anchors", "0"], ["--models", "x"], ["--items", "-5"]])
def test_bad_values_are_one_line_usage_errors(argv, capsys):
  with pytest.raises(SystemExit) as exc:
    cli.main(["demo", *argv])
  assert exc.value.code == 2
  err = capsys.readouterr().err
  assert argv[0] in err and argv[1] in err and "Traceback" not in err
