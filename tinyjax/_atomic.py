"""Atomic file writes: every file tinyjax writes goes through :func:`atomic_write`.

A write goes to a temporary file in the destination's own folder (same filesystem), is flushed and
``fsync``'d, then ``os.replace``'d onto the destination. A process killed at any moment leaves either the old
file or the new one under the final name, never a truncated one; a failed write removes its temporary file.
Two processes writing one path each replace it whole: a reader sees one complete version or the other.

Jax-free and dependency-free, so that the command line and the data cache can use it without importing JAX.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO

from tinyjax.errors import ConfigError

__all__ = ("atomic_folder", "atomic_write", "atomic_write_bytes", "atomic_write_text")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO]:
  """Opens a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

  Args:
    path: the destination. Its folder is created if missing.
    mode: ``"wb"`` (default) or ``"w"`` (text).
    encoding, newline: as for :func:`open`, text mode only (``encoding`` defaults to UTF-8 there).

  Yields:
    The open temporary file. If the ``with`` block raises, the temporary file is removed and ``path`` is
    left as it was.
  """
  if mode not in ("w", "wb"):
    raise ConfigError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    if mode == "w":
      f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
    else:
      f = os.fdopen(fd, "wb")
    with f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    # mkstemp creates the file 0600; give the result the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
    raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
  """Writes ``data`` to ``path`` atomically (see :func:`atomic_write`). Returns the path."""
  with atomic_write(path, "wb") as f:
    f.write(data)
  return pathlib.Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> pathlib.Path:
  """Writes ``text`` to ``path`` atomically (see :func:`atomic_write`). Returns the path."""
  with atomic_write(path, "w", encoding=encoding, newline="") as f:
    f.write(text)
  return pathlib.Path(path)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Yields an empty temporary folder beside ``path``; on a clean exit it takes the place of ``path`` whole.

  For outputs that are folders (a converted data set, a ``datasets`` ``save_to_disk`` copy). An existing folder
  at ``path`` is first moved aside, then replaced by the new one and removed, so a process killed at any moment
  leaves the old folder or the new one complete under ``path`` (or, between the two renames, the old one
  still whole beside it), never a half-written one. If the ``with`` block raises, the temporary folder is
  removed and ``path`` is left as it was.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
  try:
    yield stage
    if path.exists():
      gone = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", suffix=".tmp", dir=path.parent))
      os.replace(path, gone / path.name)
      os.replace(stage, path)
      shutil.rmtree(gone, ignore_errors=True)
    else:
      os.replace(stage, path)
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    raise
