"""tinyjax.kernels: the numerical core of tinyjax.

Pure JAX functions and NamedTuple pytrees: no I/O, no global state, no jit inside. Every function can
be jitted, vmapped and sharded by the caller (the ``tinyjax`` API layer). Each topic lives in a
private module ``_<topic>.py``; ``_exports.py`` re-exports them all (each topic its own block of imports, every
exported name listed in ``__all__``), and this file takes them from there, unless it was reached as a
top-level ``kernels`` (below).
"""

if __name__ == "kernels":
  # This folder was found as a top-level ``kernels`` (Python run from the repository root puts the root first on
  # sys.path). That name belongs to another package (transformers imports PyPI's ``kernels``): hand the import
  # over to it, or fail as if this folder were not there. The numerical core is only ever ``tinyjax.kernels``.
  import importlib.machinery as _machinery
  import importlib.util as _util
  import os as _os
  import sys as _sys

  _root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
  _spec = _machinery.PathFinder.find_spec(
      "kernels", [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != _root])
  if _spec is None:
    raise ModuleNotFoundError("No module named 'kernels' (the repository's kernels/ folder is tinyjax.kernels, "
                              "not a top-level module)", name="kernels")
  _module = _util.module_from_spec(_spec)
  _sys.modules["kernels"] = _module   # what `import kernels` returns once this file has run
  _spec.loader.exec_module(_module)
else:
  from tinyjax.kernels._exports import *  # noqa: F403 (the public names, listed once in _exports.__all__)
  from tinyjax.kernels._exports import __all__  # noqa: F401
