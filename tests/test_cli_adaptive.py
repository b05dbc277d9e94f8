"""`tinyjax build` says which workflow (static or adaptive) is recommended and how to run it; `tinyjax adaptive`
runs adaptive testing on a tiny benchmark from the command line (percent points, items read by id)."""

from __future__ import annotations

import contextlib
import io
import json
import types

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax._cli_tiny import recommendation_lines
from tinyjax.cli import main
from tinyjax.synthetic import simulate_2pl

N_TRAIN, N_TEST, N_ITEMS, N_ANCHORS = 40, 6, 30, 6


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """(tmp folder, the tiny benchmark file, what `tinyjax build` printed, the test models' answers)."""
  tmp = tmp_path_factory.mktemp("cli_adaptive")
  Y, *_ = simulate_2pl(N_TRAIN + N_TEST, N_ITEMS, seed=0)
  cols = [f"q{i}" for i in range(N_ITEMS)]
  pd.DataFrame(Y[:N_TRAIN], index=[f"m{i}" for i in range(N_TRAIN)], columns=cols).to_csv(tmp / "train.csv")
  out = tmp / "tiny.tjx"
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    rc = main(["--no-cache", "build", str(tmp / "train.csv"), "--anchors", str(N_ANCHORS), "--kind", "1pl",
               "--dim", "1", "--folds", "2", "--out", str(out)])
  assert rc == 0
  return tmp, out, printed.getvalue(), Y[N_TRAIN:]


def test_build_prints_the_recommended_workflow_and_how_to_run_it(built):
  _, out, printed, _ = built
  rec = tj.load(out).recommendation
  pts = lambda x: f"{100 * x:.2f}"   # noqa: E731
  line = next(x for x in printed.splitlines() if x.startswith("recommended workflow:"))
  assert line.startswith(f"recommended workflow: {rec['workflow']} (validation mean absolute error in points: "
                         f"static {pts(rec['mae_static'])}, adaptive {pts(rec['mae_adaptive'])}")
  run = next(x for x in printed.splitlines() if x.startswith("run it:"))
  command = f"tinyjax adaptive {out} ANSWERS" if rec["workflow"] == "adaptive" else f"tinyjax estimate {out} ANSWERS"
  assert command in run


def test_recommendation_lines_for_each_workflow():
  def fake(workflow, tail=0.05):
    rec = {"workflow": workflow, "budget": 6, "mae_static": 0.021, "mae_adaptive": 0.0185,
           "mae_static_tail": 0.04, "mae_adaptive_tail": tail}
    return types.SimpleNamespace(recommendation=rec, anchors=np.arange(6))

  adaptive = recommendation_lines(fake("adaptive", tail=0.03), "t.tjx")
  assert adaptive[0] == ("recommended workflow: adaptive (validation mean absolute error in points: static 2.10, "
                         "adaptive 1.85; beyond the train range: static 4.00, adaptive 3.00; adaptive asks 6 items "
                         "chosen one at a time)")
  assert "adaptive_test()" in adaptive[1] and "`tinyjax adaptive t.tjx ANSWERS`" in adaptive[1]
  static = recommendation_lines(fake("static"), "t.tjx")
  assert static[0].startswith("recommended workflow: static (") and "static 2.10, adaptive 1.85" in static[0]
  assert static[1] == "run it: answer the 6 anchor items, then `tinyjax estimate t.tjx ANSWERS`"
  nan = float("nan")   # fitted with compare_adaptive=False
  none = recommendation_lines(types.SimpleNamespace(
      recommendation={"workflow": "static", "budget": 6, "mae_static": 0.02, "mae_adaptive": nan,
                      "mae_static_tail": nan, "mae_adaptive_tail": nan}, anchors=np.arange(6)), "t.tjx")
  assert "not compared" in none[0] and "tinyjax estimate" in none[1]


def test_adaptive_command_equals_estimate_adaptive_in_percent(built, capsys):
  tmp, out, _, test = built
  tb = tj.load(out)
  cols = [f"q{i}" for i in range(N_ITEMS)]
  frame = pd.DataFrame(test, index=[f"t{i}" for i in range(N_TEST)], columns=cols)
  frame = frame[cols[::-1]].assign(extra=1.0)          # any order, an extra column: matched by item id
  frame.to_csv(tmp / "answers.csv")
  capsys.readouterr()
  rc = main(["--no-cache", "adaptive", str(out), str(tmp / "answers.csv"), "--out", str(tmp / "a.csv"),
             "--json", str(tmp / "a.json")])
  assert rc == 0
  printed = capsys.readouterr().out
  assert "percent points" in printed and "t0" in printed
  assert ("recommends the static workflow" in printed) == (tb.recommendation["workflow"] == "static")
  ref = tb.estimate_adaptive(test)
  got = pd.read_csv(tmp / "a.csv")
  assert list(got.columns) == ["model", "score_pct", "score_lo_pct", "score_hi_pct", "n_asked", "ability_se",
                               "beyond_train_range", "items"]
  np.testing.assert_allclose(got["score_pct"], 100 * ref.score, atol=1e-3)
  np.testing.assert_allclose(got["score_lo_pct"], 100 * ref.lo, atol=1e-3)
  np.testing.assert_allclose(got["score_hi_pct"], 100 * ref.hi, atol=1e-3)
  assert got["n_asked"].tolist() == [N_ANCHORS] * N_TEST
  assert got["items"][0].split() == [f"q{k}" for k in ref.items[0]]
  doc = json.loads((tmp / "a.json").read_text())
  assert doc["unit"] == "percent" and doc["budget"] == N_ANCHORS
  assert doc["recommended_workflow"] == tb.recommendation["workflow"]
  assert doc["models"][1]["items"] == [f"q{k}" for k in ref.items[1]]
  assert doc["models"][1]["score_pct"] == pytest.approx(100 * ref.score[1], abs=1e-3)
  # --budget and --se-target are estimate_adaptive's options.
  rc = main(["--no-cache", "adaptive", str(out), str(tmp / "answers.csv"), "--budget", "12", "--se-target", "0.9",
             "--out", str(tmp / "b.csv")])
  assert rc == 0
  small = tb.estimate_adaptive(test, budget=12, se_target=0.9)
  got = pd.read_csv(tmp / "b.csv")
  assert got["n_asked"].tolist() == small.n_asked.tolist()
  np.testing.assert_allclose(got["score_pct"], 100 * small.score, atol=1e-3)


def test_adaptive_command_says_when_static_is_recommended(built, capsys, monkeypatch):
  tmp, out, _, test = built
  pd.DataFrame(test, columns=[f"q{i}" for i in range(N_ITEMS)]).to_csv(tmp / "plain.csv", index=False)
  for workflow in ("static", "adaptive"):
    rec = {"workflow": workflow, "budget": N_ANCHORS, "mae_static": 0.02, "mae_adaptive": 0.03,
           "mae_static_tail": 0.04, "mae_adaptive_tail": 0.05}
    monkeypatch.setattr(tj.TinyBenchmark, "recommendation", property(lambda self, rec=rec: rec))
    capsys.readouterr()
    assert main(["--no-cache", "adaptive", str(out), str(tmp / "plain.csv")]) == 0
    printed = capsys.readouterr().out
    said = f"{out} recommends the static workflow (validation mean absolute error in points: static 2.00, " \
           f"adaptive 3.00): answer its anchors and run `tinyjax estimate {out} ANSWERS`"
    assert (said in printed) == (workflow == "static")


def test_adaptive_command_errors(built, capsys):
  tmp, out, _, test = built
  pd.DataFrame(test[:, 1:], columns=[f"q{i}" for i in range(1, N_ITEMS)]).to_csv(tmp / "short.csv", index=False)
  capsys.readouterr()
  assert main(["--no-cache", "adaptive", str(out), str(tmp / "short.csv")]) == 1
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "'q0'" in err and err.startswith("tinyjax adaptive: error:")
  pd.DataFrame(test, columns=[f"q{i}" for i in range(N_ITEMS)]).to_csv(tmp / "full.csv", index=False)
  assert main(["--no-cache", "adaptive", str(out), str(tmp / "full.csv"), "--budget", "31"]) == 1
  assert "budget" in capsys.readouterr().err
  for bad in (["--budget", "0"], ["--se-target", "-1"], ["--se-target", "x"]):
    with pytest.raises(SystemExit) as info:
      main(["--no-cache", "adaptive", str(out), str(tmp / "full.csv"), *bad])
    assert info.value.code == 2
