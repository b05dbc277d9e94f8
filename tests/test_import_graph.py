"""Dependencies you can see (issue 27, part 5), checked on the source with ``ast``.

The graph has one node per module of tinyjax/ and kernels/ (installed as ``tinyjax.kernels``) and one edge per
``import`` statement naming another tinyjax module, at any depth (a deferred import inside a function is still a
dependency). The tests fail with the offending files and lines.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parent.parent

# Top-level helpers of tinyjax/ (tinyjax/_x.py) are the project's shared infrastructure: any package may use them.
# A package's private submodule (tinyjax/suite/_logs.py) is for that package only.


def _module_files() -> dict[str, pathlib.Path]:
  """Module name -> file, for every module of tinyjax/ and of kernels/ (as ``tinyjax.kernels``)."""
  out = {}
  for folder, prefix in ((ROOT / "tinyjax", ("tinyjax",)), (ROOT / "kernels", ("tinyjax", "kernels"))):
    for p in sorted(folder.rglob("*.py")):
      if "__pycache__" in p.parts:
        continue
      parts = prefix + p.relative_to(folder).with_suffix("").parts
      if parts[-1] == "__init__":
        parts = parts[:-1]
      out[".".join(parts)] = p
  return out


MODULES = _module_files()


def _resolve(name: str, node: ast.ImportFrom | None, alias: str | None) -> str | None:
  """The tinyjax module an import names: ``from a.b import c`` is module ``a.b.c`` when that is a module,
  else ``a.b``; ``import a.b`` is ``a.b``."""
  if node is not None and alias is not None and f"{name}.{alias}" in MODULES:
    return f"{name}.{alias}"
  return name if name in MODULES else None


def _package(module: str, path: pathlib.Path) -> str:
  return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> list[tuple[str, int, ast.AST]]:
  """(imported tinyjax module, line, node) for every import in ``module``'s file."""
  path = MODULES[module]
  tree = ast.parse(path.read_text(), str(path))
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for a in node.names:
        target = _resolve(a.name, None, None)
        if target:
          out.append((target, node.lineno, node))
    elif isinstance(node, ast.ImportFrom):
      if node.level:   # relative import: resolve against the package
        base = _package(module, path).split(".")
        base = base[:len(base) - node.level + 1]
        name = ".".join(base + ([node.module] if node.module else []))
      else:
        name = node.module or ""
      for a in node.names:
        target = _resolve(name, node, a.name)
        if target:
          out.append((target, node.lineno, node))
  return out


GRAPH = {m: _imports(m) for m in MODULES}


def _where(module: str, line: int) -> str:
  return f"{MODULES[module].relative_to(ROOT)}:{line}"


def _cycles() -> list[list[str]]:
  """The strongly connected components with more than one module (Tarjan), each sorted."""
  index, low, on_stack, stack, out = {}, {}, set(), [], []
  counter = [0]
  edges = {m: sorted({t for t, _, _ in GRAPH[m] if t != m}) for m in GRAPH}

  def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out


def _self_imports() -> list[str]:
  """``import tinyjax`` (as tj or not) inside the library, outside tinyjax/__init__.py."""
  found = []
  for m, imports in GRAPH.items():
    if m == "tinyjax":
      continue
    for target, line, node in imports:
      if target == "tinyjax" and isinstance(node, ast.Import):
        found.append(_where(m, line))
  return found


def _private_imports() -> list[str]:
  """Imports of another package's private submodule (``tinyjax.suite._logs`` from outside ``tinyjax.suite``).
  tinyjax/_x.py top-level helpers (_atomic, _checks, _buckets, _cli_common, ...) are shared and allowed."""
  found = []
  for m, imports in GRAPH.items():
    own = _package(m, MODULES[m])
    for target, line, _ in imports:
      parts = target.split(".")
      private = [i for i, part in enumerate(parts) if part.startswith("_")]
      if not private:
        continue
      owner = ".".join(parts[:private[0]])
      if owner == "tinyjax" and private[0] == 1:   # tinyjax/_x.py: shared infrastructure
        continue
      if own != owner and not own.startswith(owner + "."):
        found.append(f"{_where(m, line)} {target}")
  return found


def test_the_graph_sees_the_modules():
  """The walk finds the packages and resolves ``from package import module`` to the module."""
  assert {"tinyjax", "tinyjax.kernels", "tinyjax.scoring.scorer", "tinyjax.evaluate.hook"} <= set(MODULES)
  targets = {t for t, _, _ in GRAPH["tinyjax.evaluate.hook"]}
  assert "tinyjax.scoring.scorer" in targets
  assert any(t.startswith("tinyjax.kernels") for m in ("tinyjax.irt",) for t, _, _ in GRAPH[m])


def test_no_import_cycles():
  cycles = _cycles()
  assert not cycles, "import cycles among tinyjax modules: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_private_module_imported_from_another_package():
  found = _private_imports()
  assert not found, f"private modules imported from another package (make the name public): {found}"


def test_no_self_import_in_the_library():
  found = _self_imports()
  assert not found, f"`import tinyjax` inside the library (import the module that holds the name): {found}"


def test_scoring_loads_no_statistics():
  """``import tinyjax.scoring`` (the LLM runtime) loads none of the statistics: no IRT, tiny benchmarks, suites,
  anchors or estimators (tinyjax.tiny), selection, bandit or evaluation hook."""
  probe = ("import sys, tinyjax.scoring\n"
           "print(' '.join(sorted(m for m in sys.modules if m.startswith('tinyjax'))))\n")
  out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
  loaded = out.stdout.split()
  assert "tinyjax.scoring.scorer" in loaded   # the probe sees the runtime itself
  statistics = ("tinyjax.irt", "tinyjax.tiny", "tinyjax.suite", "tinyjax.selection", "tinyjax.adaptive", "tinyjax.bandit", "tinyjax.evaluate", "tinyjax.scaling",
                "tinyjax.sampling", "tinyjax.synthetic", "tinyjax.io")
  bad = [m for m in loaded if any(m == s or m.startswith(s + ".") for s in statistics)]
  assert not bad, f"import tinyjax.scoring loaded statistics modules: {bad}"


def test_package_imports_load_no_jax():
  """The packages whose names need JAX load their submodules on first use, and the tables the command line reads
  (the leaderboard's metrics, the bandit's budget rules) are jax-free."""
  probe = ("import sys, tinyjax.suite, tinyjax.bandit, tinyjax.evaluate, tinyjax.data.openllm\n"
           "from tinyjax.bandit import budget_amounts, reveals_enough\n"
           "print(sorted(m for m in ('jax', 'flax', 'tinyjax.suite._suite', 'tinyjax.evaluate.hook') "
           "if m in sys.modules))\n")
  out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip() == "[]", out.stdout
