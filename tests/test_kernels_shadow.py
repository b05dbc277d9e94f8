"""The repository's kernels/ folder is tinyjax.kernels and never shadows PyPI's ``kernels`` (issue 27, part 6).

Python run from the repository root (a notebook, ``python -c``, ``python -m``) puts the root first on sys.path, so
a plain ``import kernels`` finds the folder before the ``kernels`` package that transformers 5 installs and imports.
"""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(code: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_tinyjax_kernels_imports_from_the_root():
  out = _run("import tinyjax.kernels as k; print(len(k.__all__), k.irt_prob.__module__)")
  assert out.returncode == 0, out.stderr
  n, module = out.stdout.split()
  assert int(n) > 100 and module == "tinyjax.kernels._irt"


def test_plain_kernels_is_never_the_folder():
  out = _run("import os, sys\n"
             "try:\n  import kernels\nexcept ModuleNotFoundError:\n  print('absent')\n"
             "else:\n  print(os.path.dirname(os.path.abspath(kernels.__file__)))\n")
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() != str(ROOT / "kernels")
  if importlib.util.find_spec("kernels") is not None and out.stdout.strip() != "absent":
    assert "tinyjax" not in out.stdout


def test_without_the_other_package_kernels_is_absent():
  code = ("import sys, os\n"
          "sys.path[:] = [p for p in sys.path if 'site-packages' not in p]\n"   # no PyPI kernels, no tinyjax install
          "try:\n  import kernels\nexcept ModuleNotFoundError as e:\n  print('absent', e.name)\n")
  out = _run(code)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "absent kernels"


@pytest.mark.skipif(importlib.util.find_spec("kernels") is None, reason="PyPI's kernels package is not installed")
def test_the_other_kernels_package_loads_from_the_root():
  out = _run("import kernels; print(kernels.__name__, hasattr(kernels, '__all__') or hasattr(kernels, '__version__'))")
  assert out.returncode == 0, out.stderr
  assert out.stdout.split()[0] == "kernels"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
                    reason="needs torch and transformers")
def test_transformers_models_import_from_the_root():
  """The failure the issue reported: transformers 5 imports PyPI's kernels, which the folder used to shadow."""
  out = _run("import transformers; print(transformers.GPT2LMHeadModel.__name__)")
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "GPT2LMHeadModel"


def _can_build_wheels_offline() -> bool:
  """setuptools builds a wheel without build isolation when it has bdist_wheel (setuptools >= 70.1, or wheel)."""
  if importlib.util.find_spec("wheel") is not None:
    return True
  try:
    import setuptools
  except ImportError:
    return False
  return tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit()) >= (70, 1)


@pytest.mark.skipif(not _can_build_wheels_offline(),
                    reason="this setuptools cannot build a wheel without the wheel package")
def test_tinyjax_kernels_from_a_built_wheel(tmp_path):
  """A wheel (not the editable install) carries kernels/ as tinyjax.kernels and no top-level kernels."""
  import shutil
  import zipfile

  # Built from a copy, so that setuptools' build/ and egg-info land in tmp_path, not in the working tree.
  src = tmp_path / "src"
  shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__"))
  build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
  assert build.returncode == 0, build.stderr
  (wheel,) = (tmp_path / "dist").glob("tinyjax-*.whl")
  names = zipfile.ZipFile(wheel).namelist()
  assert "tinyjax/kernels/_irt.py" in names
  assert not any(n.startswith("kernels/") for n in names)
  zipfile.ZipFile(wheel).extractall(tmp_path / "site")
  # Only the unpacked wheel and the stdlib/site-packages (for jax), never the repository or the editable finder.
  code = ("import sys\n"
          f"sys.path.insert(0, {str(tmp_path / 'site')!r})\n"
          "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__.lower()]\n"
          "import tinyjax.kernels as k, tinyjax\n"
          "print(tinyjax.__file__.startswith(sys.path[0]), k.irt_prob.__module__)\n")
  out = subprocess.run([sys.executable, "-S", "-c", "import site; site.main()\n" + code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ["True", "tinyjax.kernels._irt"]
