"""Float dtype resolution for the API layer (kernels follow their inputs' dtypes).

tinyjax never changes JAX's global configuration. float32 is the default; float64 is the user's opt-in:
turn on ``jax_enable_x64`` at program start (``jax.config.update("jax_enable_x64", True)``), or around a
block with JAX's own ``jax.enable_x64(True)`` context, and pass ``dtype="float64"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tinyjax.errors import ConfigError, PrecisionError

X64_HINT = ("turn on 64-bit JAX first: jax.config.update('jax_enable_x64', True) at program start, "
            "or wrap the call in `with jax.enable_x64(True):`")


def x64_enabled() -> bool:
  """Whether JAX runs with 64-bit floats (``jax_enable_x64``)."""
  return bool(jax.config.read("jax_enable_x64"))


def default_float_dtype():
  """float64 when jax_enable_x64 is on, else float32."""
  return jnp.float64 if x64_enabled() else jnp.float32


def resolve_dtype(dtype) -> np.dtype:
  """Resolves a user ``dtype`` argument (None, "float32", "float64", np/jnp dtype) to a numpy dtype.

  None means JAX's default float (float32, or float64 under ``jax_enable_x64``).

  Raises:
    ConfigError: for a non-float dtype.
    PrecisionError: float64 requested while jax_enable_x64 is off.
  """
  if dtype is None:
    return np.dtype(default_float_dtype())
  try:
    dt = np.dtype(dtype)
  except TypeError as err:
    raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}") from err
  if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
    raise ConfigError(f"dtype must be float32 or float64, got {dt}")
  if dt == np.float64 and not x64_enabled():
    raise PrecisionError(f"dtype='float64' was requested but jax_enable_x64 is off: {X64_HINT}")
  return dt
