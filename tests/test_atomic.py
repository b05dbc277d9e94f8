"""tinyjax._atomic: a write or a folder either lands whole under its final name or leaves the old one."""

from __future__ import annotations

import os

import pytest

from tinyjax._atomic import atomic_folder, atomic_write, atomic_write_text
from tinyjax.errors import ConfigError


def _leftovers(folder):
  return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_replaces_whole_and_failure_keeps_old(tmp_path):
  target = tmp_path / "sub" / "a.txt"
  atomic_write_text(target, "old\n")
  with pytest.raises(RuntimeError):
    with atomic_write(target, "w") as f:
      f.write("half")
      raise RuntimeError("killed")
  assert target.read_text() == "old\n"
  assert _leftovers(target.parent) == []
  atomic_write_text(target, "new\n")
  assert target.read_text() == "new\n"
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask   # what open() gives, not mkstemp's 0600
  with pytest.raises(ConfigError):
    with atomic_write(target, "a"):
      pass


def test_folder_replaces_whole_and_failure_keeps_old(tmp_path):
  target = tmp_path / "ds"
  with atomic_folder(target) as stage:
    (stage / "x").write_text("1")
  assert (target / "x").read_text() == "1"
  with pytest.raises(RuntimeError):
    with atomic_folder(target) as stage:
      (stage / "y").write_text("2")
      raise RuntimeError("killed")
  assert sorted(p.name for p in target.iterdir()) == ["x"]
  with atomic_folder(target) as stage:
    (stage / "z").write_text("3")
  assert sorted(p.name for p in target.iterdir()) == ["z"]
  assert _leftovers(tmp_path) == []
