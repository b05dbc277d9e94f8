"""tinyjax: evaluate large language models at a fraction of the usual cost, in JAX.

The public names live here. Heavy submodules (``scoring`` pulls in flax, ``bandit``, ``scaling``,
``sampling``, ``selection``, ``adaptive``) are imported on first use, so that
``import tinyjax`` stays quick.
"""

from __future__ import annotations

import importlib

from tinyjax._version import __version__

_LAZY_SUBMODULES = (
    "adaptive",
    "bandit",
    "cli",
    "data",
    "errors",
    "evaluate",
    "io",
    "irt",
    "kernels",
    "sampling",
    "scaling",
    "scoring",
    "selection",
    "suite",
    "synthetic",
    "tiny",
)
_LAZY_NAMES = {
    "Ability": "tinyjax.irt",
    "IRTModel": "tinyjax.irt",
    "IRTPriors": "tinyjax.irt",
    "estimate_ability": "tinyjax.irt",
    "fit_irt": "tinyjax.irt",
    "select_dim": "tinyjax.irt",
    "load": "tinyjax.io",
    "InputError": "tinyjax.errors",
    "TinyBenchmark": "tinyjax.tiny",
    "Leaderboard": "tinyjax.tiny",
    "Suite": "tinyjax.suite",
    "clear_caches": "tinyjax._buckets",
    "enable_compilation_cache": "tinyjax._buckets",
}


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
  if name in _LAZY_SUBMODULES:
    module = importlib.import_module(f"tinyjax.{name}")
    globals()[name] = module
    return module
  if name in _LAZY_NAMES:
    value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    globals()[name] = value
    return value
  raise AttributeError(f"module 'tinyjax' has no attribute {name!r}")


__all__ = (
    "Ability",
    "IRTModel",
    "IRTPriors",
    "Leaderboard",
    "Suite",
    "TinyBenchmark",
    "InputError",
    "__version__",
    "clear_caches",
    "enable_compilation_cache",
    "estimate_ability",
    "fit_irt",
    "load",
    "select_dim",
    *_LAZY_SUBMODULES,
)
