"""The command line builds its parser without JAX (issue 28, part 2): --help and --version answer at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import sys
import tinyjax.cli as cli
parser = cli.build_parser()
heavy = sorted(m for m in ("jax", "jaxlib", "flax", "optax", "numpyro", "pandas", "datasets", "tinyjax.kernels")
               if m in sys.modules)
print(",".join(heavy))
"""


def test_parser_imports_no_jax():
  out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "", f"building the parser imported {out.stdout.strip()}"


@pytest.mark.parametrize("argv", [["--version"], ["build", "--help"], ["suite", "estimate", "--help"]])
def test_help_and_version_import_no_jax(argv):
  probe = ("import sys, tinyjax.cli as cli\n"
           "try:\n  cli.main(sys.argv[1:])\nexcept SystemExit:\n  pass\n"
           "sys.stderr.write('JAX' if 'jax' in sys.modules else 'NOJAX')\n")
  out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
  assert out.stderr.strip().endswith("NOJAX"), out.stderr[-500:]


def test_choice_tables_match_the_modules():
  from tinyjax import choices, selection, tiny
  from tinyjax.tiny import anchors

  assert anchors.STRATEGIES == choices.ANCHOR_STRATEGIES
  assert tiny.DEFAULT_STRATEGY == choices.DEFAULT_ANCHOR_STRATEGY
  assert tiny.RECOMMENDED == choices.RECOMMENDED_ESTIMATOR
  assert selection.STRATEGIES == choices.SELECTION_STRATEGIES


@pytest.mark.parametrize("argv", [["estimate", "/no/such.tjx", "/no/such.csv"], ["bandit", "/no/such.npy"],
                                  ["scaling", "chinchilla", "/no/such.csv"], ["fit", "/no/such.csv", "--out", "m.tjx"]])
def test_missing_input_is_answered_before_jax(argv, capsys):
  probe = ("import sys, tinyjax.cli as cli\n"
           "code = cli.main(sys.argv[1:])\n"
           "sys.stderr.write(f'|{code}|' + ('JAX' if 'jax' in sys.modules else 'NOJAX'))\n")
  out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
  assert "no such file or folder: /no/such" in out.stderr
  assert out.stderr.strip().endswith("|1|NOJAX"), out.stderr[-500:]
