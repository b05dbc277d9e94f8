"""The errors tinyjax raises for a user's mistake. Every one is a ``ValueError``.

One module holds them all, so that a caller (and the ``tinyjax`` command line) can tell a user's mistake
(catch :class:`InputError`) from a bug in tinyjax (anything else). The command line prints an
:class:`InputError` as a one-line message; any other exception keeps its traceback.

============================  ==============================================================================
error                         raised for
============================  ==============================================================================
:class:`InputError`           the base class; also any bad argument that fits none of the classes below
:class:`ConfigError`          a bad setting: an unknown strategy or algorithm, a count out of range, a bad seed
:class:`ResponseError`        a response or score matrix: shape, NaN rows, values outside [0, 1], non-binary data
:class:`ItemError`            benchmark items and scoring requests: choices, gold answers, item ids, harness logs
:class:`PrecisionError`       ``dtype="float64"`` asked for while JAX's ``jax_enable_x64`` is off
:class:`ArtifactError`        a tinyjax file that is corrupt, of another kind or of a newer format
:class:`MissingFileError`     a path that does not exist (also a ``FileNotFoundError``)
============================  ==============================================================================
"""

from __future__ import annotations

__all__ = ("ArtifactError", "ConfigError", "InputError", "ItemError", "MissingFileError", "PrecisionError",
           "ResponseError")


class InputError(ValueError):
  """A user's mistake: bad input data, a bad argument or an unreadable file."""


class ConfigError(InputError):
  """A bad setting: an unknown name (strategy, algorithm, kind), a count or level out of range, a bad seed."""


class ResponseError(InputError):
  """A response or score matrix that cannot be used as given (shape, values, missing rows, ids)."""


class ItemError(InputError):
  """Benchmark items or scoring requests that cannot be used (choices, gold answer, ids, harness logs)."""


class PrecisionError(InputError):
  """float64 was asked for while JAX runs in float32 (``jax_enable_x64`` is off)."""


class ArtifactError(InputError):
  """A tinyjax file is corrupt, of another kind, or from an incompatible format version."""


class MissingFileError(InputError, FileNotFoundError):
  """A file or folder named by the user does not exist."""
