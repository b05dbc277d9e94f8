"""Names a package loads on first use (PEP 562), so that importing the package stays cheap (no JAX, no flax)."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Iterable, Mapping


def attach(package: str, lazy: Mapping[str, str], public: Iterable[str]) -> tuple[Callable, Callable]:
  """The ``__getattr__`` and ``__dir__`` of ``package``, which loads each name of ``lazy`` from its submodule.

  Args:
    package: the package's ``__name__``.
    lazy: {name: submodule}; ``name`` is read from ``<package>.<submodule>`` when first asked for, then kept in the
      package's namespace.
    public: the package's ``__all__``.

  Returns:
    ``(__getattr__, __dir__)``, to assign at module level.
  """
  public = tuple(public)

  def __getattr__(name: str):
    if name in lazy:
      value = getattr(importlib.import_module(f"{package}.{lazy[name]}"), name)
      setattr(sys.modules[package], name, value)
      return value
    raise AttributeError(f"module {package!r} has no attribute {name!r}")

  def __dir__() -> list[str]:
    return sorted(set(vars(sys.modules[package])) | set(public))

  return __getattr__, __dir__
