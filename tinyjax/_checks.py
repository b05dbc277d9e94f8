"""Argument checks shared by every public entry point (one rule each; errors from :mod:`tinyjax.errors`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyjax.errors import ConfigError

MAX_SEED = 2**63 - 1


def check_seed(seed: Any) -> int:
  """The one rule for seeds: a non-negative int (``jax.random.key`` and numpy both take it)."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
    raise ConfigError(f"seed must be an int in [0, 2**63 - 1], got {seed!r}")
  return int(seed)


def check_count(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
  """An int count in ``[minimum, maximum]`` (bools refused)."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ConfigError(f"{name} must be an int, got {value!r}")
  if value < minimum or (maximum is not None and value > maximum):
    upper = "" if maximum is None else f", <= {maximum}"
    raise ConfigError(f"{name} must be >= {minimum}{upper}, got {value}")
  return int(value)


def check_choice(value: Any, choices: Sequence[str], name: str) -> str:
  """One of ``choices``, else an error that lists them."""
  if value not in choices:
    raise ConfigError(f"{name} must be one of {tuple(choices)}, got {value!r}")
  return value


def check_fraction(value: Any, name: str, *, low: float = 0.0, high: float = 1.0, closed: bool = False) -> float:
  """A finite float in ``(low, high)`` (``[low, high]`` when ``closed``)."""
  try:
    x = float(value)
  except (TypeError, ValueError) as err:
    raise ConfigError(f"{name} must be a number, got {value!r}") from err
  inside = low <= x <= high if closed else low < x < high
  if not np.isfinite(x) or not inside:
    brackets = "[]" if closed else "()"
    raise ConfigError(f"{name} must be in {brackets[0]}{low}, {high}{brackets[1]}, got {value!r}")
  return x
