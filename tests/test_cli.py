"""The `tinyjax` command as a whole: help of every subcommand and option, seeds, exit codes, broken pipes, the
compilation cache, and `ability` matching columns by item id.

The parser-tree tests walk every subcommand, so they also check the modules of other features
(_cli_tiny, _cli_demo, _cli_bandit, ...); each subcommand is its own test case.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tinyjax.cli import build_parser, main

_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
  """(path, parser, its help line in the parent's list) for every subcommand, nested ones too."""
  for action in parser._actions:
    if isinstance(action, argparse._SubParsersAction):
      helps = {a.dest: a.help for a in action._choices_actions}
      for name, sub in action.choices.items():
        yield path + (name,), sub, helps.get(name)
        yield from _walk(sub, path + (name,))


_TREE = {" ".join(path): (sub, help_) for path, sub, help_ in _walk(build_parser())}
_SKIP = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def _options(parser):
  return [a for a in parser._actions if not isinstance(a, _SKIP)]


def _has_value_default(action) -> bool:
  """An option whose default the help must show: it takes a value and has a default other than None/False/[]."""
  default = action.default
  if default is None or default is False or default is argparse.SUPPRESS or action.nargs == 0:
    return False
  return not (isinstance(default, (list, tuple, str)) and len(default) == 0)


def test_tree_has_every_command():
  for name in ("fit", "ability", "build", "estimate", "demo", "bandit", "select density", "select ask-llm",
               "scaling chinchilla", "scaling overtrained", "scaling error", "coverage fit", "coverage passk",
               "coverage allocate"):
    assert name in _TREE


@pytest.mark.parametrize("name", sorted(_TREE))
def test_subcommand_has_description_and_help(name):
  sub, help_ = _TREE[name]
  assert help_ and help_.strip(), f"'tinyjax {name}' has no help line in its parent's list"
  assert sub.description and sub.description.strip(), f"'tinyjax {name}' has no description"


@pytest.mark.parametrize("name", ["(top)", *sorted(_TREE)])
def test_every_argument_has_help(name):
  parser = build_parser() if name == "(top)" else _TREE[name][0]
  missing = [a.option_strings or [a.dest] for a in _options(parser) if not (a.help and a.help.strip())]
  assert not missing, f"tinyjax {name}: no help for {missing}"
  for action in parser._actions:   # a subcommand list says what it lists
    if isinstance(action, argparse._SubParsersAction):
      assert action.help, f"tinyjax {name}: the {action.metavar} list has no help"


@pytest.mark.parametrize("name", ["(top)", *sorted(_TREE)])
def test_help_shows_defaults_one_way(name):
  parser = build_parser() if name == "(top)" else _TREE[name][0]
  text = " ".join(parser.format_help().split())
  for action in _options(parser):
    assert "(default" not in (action.help or ""), (
        f"tinyjax {name} {action.option_strings}: help writes its own '(default ...)'; the formatter adds it")
    shown = f"(default: {action.default})"
    if _has_value_default(action):
      assert shown in text, f"tinyjax {name} {action.option_strings}: help does not show {shown}"
  for group in parser._action_groups:   # group titles and descriptions say no "(default" either
    assert "(default" not in (group.description or "") and "(default" not in (group.title or ""), name


def test_flags_and_none_defaults_show_no_default():
  text = " ".join(_TREE["fit"][0].format_help().split())
  assert "(default: False)" not in text and "(default: None)" not in text
  assert "(default: 2pl)" in text and "(default: 1)" in text and "(default: 3000)" in text


_SEEDED = sorted(name for name, (sub, _) in _TREE.items()
                 if any("--seed" in a.option_strings for a in sub._actions))


def test_seeded_commands_are_found():
  assert {"fit", "build", "demo", "select density", "scaling chinchilla", "scaling error"} <= set(_SEEDED)


@pytest.mark.parametrize("name", _SEEDED)
def test_negative_seed_is_a_usage_error(name, capsys):
  with pytest.raises(SystemExit) as info:
    build_parser().parse_args([*name.split(), "--seed", "-1"])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert "--seed" in err and "-1" in err, err
  with pytest.raises(SystemExit):
    build_parser().parse_args([*name.split(), "--seed", "one"])
  assert "'one'" in capsys.readouterr().err


def test_dim_defaults_state_why_they_differ():
  fit_help = " ".join(_TREE["fit"][0].format_help().split())
  assert "(default: 1)" in fit_help and "build" in fit_help
  with pytest.raises(SystemExit):
    build_parser().parse_args(["fit", "x.csv", "--out", "m.tjx", "--dim", "0"])
  with pytest.raises(SystemExit):
    build_parser().parse_args(["fit", "x.csv", "--out", "m.tjx", "--prior-scale", "big"])
  assert build_parser().parse_args(["fit", "x.csv", "--out", "m.tjx", "--dim", "auto"]).dim == "auto"


def test_fit_and_ability_take_the_matrix_options():
  for name in ("fit", "ability"):
    flags = {o for a in _TREE[name][0]._actions for o in a.option_strings}
    assert {"--header", "--no-header", "--drop-empty"} <= flags, name


def test_top_help_documents_the_cache():
  text = " ".join(build_parser().format_help().split())
  for word in ("--cache-dir", "--no-cache", "TINYJAX_CACHE_DIR", "~/.cache/tinyjax/xla"):
    assert word in text, word


# ---------------------------------------------------------------------------- exit codes, no tracebacks


def test_out_that_cannot_be_a_file_fails_at_once(tmp_path, capsys):
  (tmp_path / "afile").write_text("x")
  for out in (tmp_path, tmp_path / "afile" / "m.tjx"):
    # RESPONSES does not even exist: the --out check comes first, before any reading or fitting
    assert main(["--no-cache", "fit", str(tmp_path / "r.csv"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and "Traceback" not in err


@pytest.mark.parametrize("exc, code, words", [
    (PermissionError(13, "Permission denied", "/data/m.tjx"), 1, ("/data/m.tjx", "Permission denied")),
    (IsADirectoryError(21, "Is a directory", "/data/out"), 1, ("/data/out", "Is a directory")),
    (KeyboardInterrupt(), 130, ("interrupted",)),
])
def test_os_errors_and_interrupts_end_in_one_line(monkeypatch, capsys, tmp_path, exc, code, words):
  import tinyjax._cli_irt as cli_irt

  monkeypatch.chdir(tmp_path)
  (tmp_path / "r.csv").write_text("a,b\n1,0\n")   # inputs must exist: a missing one is answered before the command

  def boom(args):
    raise exc

  monkeypatch.setattr(cli_irt, "_fit", boom)
  assert main(["--no-cache", "fit", "r.csv", "--out", "m.tjx"]) == code
  err = capsys.readouterr().err
  assert all(w in err for w in words) and len(err.strip().splitlines()) == 1, err


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
  import tinyjax._cli_irt as cli_irt

  monkeypatch.chdir(tmp_path)
  (tmp_path / "r.csv").write_text("a,b\n1,0\n")

  monkeypatch.setattr(cli_irt, "_fit", lambda args: 1 / 0)
  with pytest.raises(ZeroDivisionError):
    main(["--no-cache", "fit", "r.csv", "--out", "m.tjx"])


def _run(args, env=None, **kwargs):
  full_env = {**os.environ, "TINYJAX_CACHE_DIR": "off", **(env or {})}
  return subprocess.Popen([sys.executable, *args], cwd=_ROOT, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kwargs)


def test_closed_stdout_ends_quietly(tmp_path):
  """`tinyjax ... | head -1`: exit 141 like a tool stopped by SIGPIPE, and no traceback."""
  emb = tmp_path / "emb.npy"
  np.save(emb, np.random.default_rng(0).normal(size=(20000, 2)).astype(np.float32))
  proc = _run(["-m", "tinyjax.cli", "--no-cache", "select", "density", str(emb), "--k", "20000",
               "--strategy", "top", "--rows", "2", "--hashes", "1", "--buckets", "64", "--bucket-width", "1"])
  first = proc.stdout.readline()
  proc.stdout.close()
  err = proc.stderr.read().decode()
  assert proc.wait(timeout=120) == 141, err
  assert first.strip().isdigit()
  assert "Traceback" not in err and "BrokenPipeError" not in err, err


_CACHE_PROBE = """
import os, sys, jax
from tinyjax.cli import main
missing = os.path.join(sys.argv[1], "unreadable.csv")   # exists (inputs are checked first), but holds no rows
open(missing, "w").write("x")
main(["--no-cache", "coverage", "passk", missing, "--k", "1"])
print(jax.config.jax_compilation_cache_dir)
main(["--cache-dir", sys.argv[2], "coverage", "passk", missing, "--k", "1"])
print(jax.config.jax_compilation_cache_dir)
"""


def test_cache_options_win_over_the_variable(tmp_path):
  env_dir, opt_dir = tmp_path / "from_env", tmp_path / "from_option"
  proc = _run(["-c", _CACHE_PROBE, str(tmp_path), str(opt_dir)], env={"TINYJAX_CACHE_DIR": str(env_dir)})
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err.decode()
  assert out.decode().split() == ["None", str(opt_dir)]
  assert opt_dir.is_dir() and not env_dir.exists()


# ---------------------------------------------------------------------------- ability matches by item id


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
  """A small 2PL model saved with item ids q0..q7, and the answers of 5 new models."""
  import tinyjax as tj
  from tinyjax.synthetic import simulate_2pl

  folder = tmp_path_factory.mktemp("ability")
  y, _, _, _ = simulate_2pl(35, 8, seed=3)
  frame = pd.DataFrame(y, index=[f"m{k}" for k in range(35)], columns=[f"q{k}" for k in range(8)])
  model = tj.fit_irt(tj.data.load_responses(frame.iloc[:30]), dim=1, seed=0, max_iter=200, progress=False)
  path = model.save(folder / "m.tjx")
  return folder, path, frame.iloc[30:]


@pytest.mark.slow   # the fixture fits (compiles) a small IRT model
def test_ability_names_a_misspelled_item(fitted, capsys):
  folder, model, new = fitted
  # every column present, one misspelled: this used to be read by position without a word
  new.rename(columns={"q3": "q3x"}).to_csv(folder / "typo.csv")
  assert main(["--no-cache", "ability", str(model), str(folder / "typo.csv")]) == 1
  err = capsys.readouterr().err
  assert "'q3x'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_ability_by_position_needs_every_item(fitted, capsys):
  folder, model, new = fitted
  new.iloc[:, :7].to_csv(folder / "bare.csv", header=False, index=False)
  assert main(["--no-cache", "ability", str(model), str(folder / "bare.csv")]) == 1
  assert "no item ids and 7 columns" in capsys.readouterr().err
