"""The layer rules and conventions of docs/architecture.md, checked on the source and the public API.

Each test reads the package (its files, or its public callables) and fails with the offending places.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import subprocess
import sys

import pytest

import tinyjax as tj

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = ROOT / "tinyjax"
KERNELS = ROOT / "kernels"


def _files(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _is_cli(path: pathlib.Path) -> bool:
  return path.name == "cli.py" or path.name.startswith("_cli_")


def _public_modules() -> list[str]:
  names = []
  for p in _files(API):
    rel = p.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    if any(part.startswith("_") for part in parts[1:]) or _is_cli(p):
      continue
    names.append(".".join(parts))
  return names


def _calls(tree: ast.AST, dotted: str) -> list[int]:
  """Line numbers of calls to ``dotted`` (e.g. "jax.config.update" or "print")."""
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Call):
      if ast.unparse(node.func) == dotted:
        out.append(node.lineno)
  return out


def test_public_modules_reachable_in_a_fresh_process():
  code = ("import tinyjax as tj; mods = [tj.io, tj.irt, tj.tiny, tj.cli, tj.data, tj.bandit, tj.scoring, tj.errors, "
          "tj.kernels]; names = dir(tj); assert 'TinyBenchmark' in names and 'fit_irt' in names, names")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
  assert proc.returncode == 0, proc.stderr


def test_no_library_call_changes_jax_config():
  found = []
  for p in _files(API) + _files(KERNELS):
    if _is_cli(p):
      continue
    tree = ast.parse(p.read_text())
    lines = _calls(tree, "jax.config.update")
    # The one opt-in: tinyjax.enable_compilation_cache changes the config because the user calls it.
    opt_in = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "enable_compilation_cache"
              and p.name == "_buckets.py"]
    lines = [n for n in lines if not any(f.lineno <= n <= f.end_lineno for f in opt_in)]
    found += [f"{p.relative_to(ROOT)}:{n}" for n in lines]
  assert not found, f"jax.config.update outside the CLI and tinyjax.enable_compilation_cache: {found}"


def test_library_code_never_prints():
  found = []
  for p in _files(API) + _files(KERNELS):
    if _is_cli(p):
      continue
    found += [f"{p.relative_to(ROOT)}:{n}" for n in _calls(ast.parse(p.read_text()), "print")]
  assert not found, f"print() in library code (use logging): {found}"


_MUTABLE_FACTORIES = {"dict", "list", "set", "OrderedDict", "collections.OrderedDict", "defaultdict",
                      "collections.defaultdict", "WeakKeyDictionary", "weakref.WeakKeyDictionary",
                      "WeakValueDictionary", "weakref.WeakValueDictionary"}


def test_no_module_level_mutable_state():
  """No module-level empty dict/list/set (a cache or registry filled at run time)."""
  found = []
  for p in _files(API) + _files(KERNELS):
    for node in ast.parse(p.read_text()).body:
      if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        v = node.value
        empty_literal = isinstance(v, (ast.Dict, ast.List, ast.Set)) and not (
            getattr(v, "keys", None) or getattr(v, "elts", None))
        factory = isinstance(v, ast.Call) and ast.unparse(v.func) in _MUTABLE_FACTORIES and not v.args
        if empty_literal or factory:
          found.append(f"{p.relative_to(ROOT)}:{node.lineno}")
  assert not found, f"module-level mutable containers: {found}"


def test_api_imports_only_public_kernel_names():
  found = []
  for p in _files(API):
    for node in ast.walk(ast.parse(p.read_text())):
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tinyjax.kernels._"):
        found.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.module}")
      if isinstance(node, ast.ImportFrom) and node.module == "tinyjax.kernels":
        found += [f"{p.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names if a.name.startswith("_")]
  assert not found, f"the API layer imports private kernel modules: {found}"


def test_kernels_export_list_is_complete():
  kernels = importlib.import_module("tinyjax.kernels")
  exported = set(kernels.__all__)
  public = {n for n, v in vars(kernels).items()
            if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
  assert public == exported, (sorted(public - exported), sorted(exported - public))


_USER_ERROR_BUILTINS = {"ValueError", "TypeError", "RuntimeError", "FloatingPointError", "KeyError",
                        "FileNotFoundError"}
# Raised to honour a Python protocol, not for a user's mistake: (file, exception).
_PROTOCOL_RAISES = {("tinyjax/data/responses.py", "ValueError"), ("tinyjax/data.py", "ValueError")}


def test_user_errors_come_from_tinyjax_errors():
  found = []
  for p in _files(API):
    rel = str(p.relative_to(ROOT))
    for node in ast.walk(ast.parse(p.read_text())):
      if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
        name = ast.unparse(node.exc.func)
        if name in _USER_ERROR_BUILTINS and (rel, name) not in _PROTOCOL_RAISES:
          found.append(f"{rel}:{node.lineno} {name}")
  assert not found, f"raise a tinyjax.errors class instead: {found}"


def _public_callables():
  for modname in _public_modules():
    module = importlib.import_module(modname)
    for name, obj in vars(module).items():
      if name.startswith("_") or getattr(obj, "__module__", None) != modname:
        continue
      if inspect.isfunction(obj):
        yield f"{modname}.{name}", obj
      elif inspect.isclass(obj):
        for mname, m in vars(obj).items():
          if mname.startswith("_") and mname != "__init__":
            continue
          f = m.__func__ if isinstance(m, (classmethod, staticmethod)) else m
          if inspect.isfunction(f):
            yield f"{modname}.{name}.{mname}", f


def _hf_config(qual: str) -> bool:
  """Model configs mirror Hugging Face config.json fields (num_attention_heads, ...) and keep their names."""
  return qual.startswith("tinyjax.scoring.models.") and qual.split(".")[-2].endswith("Config")


def test_seeds_are_keyword_only_and_counts_start_with_n():
  bad_seed, bad_count = [], []
  for qual, f in _public_callables():
    for p in inspect.signature(f).parameters.values():
      if p.name == "seed" and p.kind is not inspect.Parameter.KEYWORD_ONLY:
        bad_seed.append(qual)
      if p.name.startswith("num_") and not _hf_config(qual):
        bad_count.append(f"{qual}({p.name})")
  assert not bad_seed, f"seed must be keyword-only: {bad_seed}"
  assert not bad_count, f"count arguments start with n_: {bad_count}"


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_one_rule_for_seeds(seed):
  from tinyjax._checks import check_seed
  with pytest.raises(tj.errors.ConfigError, match="seed"):
    check_seed(seed)
  assert check_seed(7) == 7


def test_readme_names_the_recommended_estimate_and_its_interval():
  """The README, ``Estimates`` and the training hook agree: ``score`` is recommended, ``lo``/``hi`` its interval."""
  import dataclasses
  readme = (ROOT / "README.md").read_text()
  assert "est.score (recommended)" in readme and "est.lo, est.hi" in readme
  fields = {f.name for f in dataclasses.fields(tj.tiny.Estimates)}
  assert "intervals" in fields and all(isinstance(getattr(tj.tiny.Estimates, k), property) for k in ("score", "lo", "hi"))
  hook_doc = importlib.import_module("tinyjax.evaluate.hook").TinyEvalHook.__call__.__doc__
  assert "est.score" in hook_doc and "est.lo" in hook_doc


def test_every_package_is_installed():
  """Each folder of tinyjax/ with an __init__.py is listed in pyproject's packages (else `pip install .` drops it)."""
  import tomllib
  listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
  found = {".".join(p.parent.relative_to(ROOT).parts) for p in API.rglob("__init__.py")} | {"tinyjax.kernels"}
  assert found == listed, (sorted(found - listed), sorted(listed - found))
