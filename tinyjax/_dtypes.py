"""Float dtype resolution for the API layer (kernels follow their inputs' dtypes)."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np


def default_float_dtype():
  """float64 when jax_enable_x64 is on, else float32."""
  return jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32


def resolve_dtype(dtype) -> np.dtype:
  """Resolves a user ``dtype`` argument (None, "float32", "float64", np/jnp dtype) to a numpy dtype.

  Raises:
    ValueError: for a non-float dtype, or float64 requested while jax_enable_x64 is off.
  """
  if dtype is None:
    return np.dtype(default_float_dtype())
  dt = np.dtype(dtype)
  if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
    raise ValueError(f"dtype must be float32 or float64, got {dt}")
  if dt == np.float64 and not jax.config.read("jax_enable_x64"):
    raise ValueError(
        "float64 was requested but jax_enable_x64 is off: call jax.config.update('jax_enable_x64', True) "
        "at program start, or use tinyjax.enable_x64() as a context manager")
  return dt


@contextlib.contextmanager
def enable_x64(enabled: bool = True):
  """Context manager that turns jax_enable_x64 on (or off) inside its block."""
  previous = jax.config.read("jax_enable_x64")
  jax.config.update("jax_enable_x64", enabled)
  try:
    yield
  finally:
    jax.config.update("jax_enable_x64", previous)
