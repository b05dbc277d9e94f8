"""Shared fixtures. Real data lives in ../shared/data (or $TINYJAX_SHARED_DATA); tests skip without it."""

from __future__ import annotations

import os
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Keep tests hermetic: the CLI's persistent compilation cache stays off unless a test turns it on.
os.environ.setdefault("TINYJAX_CACHE_DIR", "off")


def shared_data_dir() -> pathlib.Path | None:
  """The real-data folder, or None when it is missing."""
  env = os.environ.get("TINYJAX_SHARED_DATA")
  path = pathlib.Path(env) if env else _ROOT.parent / "shared" / "data"
  return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  path = shared_data_dir()
  if path is None:
    pytest.skip("real data folder ../shared/data is missing (set TINYJAX_SHARED_DATA to point at it)")
  return path
