"""Versioned, self-describing artifact files (``.tjx``): arrays plus JSON metadata in one archive, no pickle.

A ``.tjx`` file is an ``.npz`` archive (``numpy.savez``) under tinyjax's own extension; ``.save(path)`` writes
the path exactly as given, so files saved as ``.npz`` by older code load as before.

Layout of a file: every array under its own name, plus ``__tinyjax_meta__``, a 0-d unicode array
holding JSON: ``{"format": "tinyjax", "format_version": 1, "kind": ..., "library_version": ...,
"arrays": {name: {"shape": [...], "dtype": "...", "sha256": "..."}}, "meta": {...}}``. The checksums
detect a corrupt or edited file; ``kind`` tells ``tinyjax.load`` which class to rebuild.

Schema changes: every change to what a kind stores bumps :data:`FORMAT_VERSION`, and the conversion of
older files lives in :func:`_migrate`, the one place that knows about old layouts. Classes read only the
current layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from tinyjax._version import __version__

FORMAT = "tinyjax"
FORMAT_VERSION = 2
_META_KEY = "__tinyjax_meta__"
SUFFIX = ".tjx"
_WRITTEN_BY = ("the .tjx files written by IRTModel/TinyBenchmark/Leaderboard/BanditEvaluator .save() or "
               "`tinyjax fit/build --out`")


from tinyjax.errors import ArtifactError, MissingFileError

__all__ = ("FORMAT_VERSION", "ArtifactError", "load", "load_artifact", "save_artifact")


def _digest(array: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def save_artifact(path: str | os.PathLike, kind: str, arrays: dict[str, np.ndarray],
                  meta: dict[str, Any]) -> pathlib.Path:
  """Writes ``arrays`` and JSON-serialisable ``meta`` to ``path`` (a ``.tjx`` file: an .npz archive).

  Args:
    path: destination, conventionally ending in ``.tjx``. Written exactly as given (numpy's implicit ".npz"
      suffix is not added).
    kind: artifact kind, e.g. "irt_model" or "tiny_benchmark".
    arrays: name -> numeric or unicode array (object arrays are refused: no pickle).
    meta: JSON-serialisable metadata.

  Returns:
    The path written.
  """
  path = pathlib.Path(path)
  arrays = {k: np.asarray(v) for k, v in arrays.items()}
  for name, arr in arrays.items():
    if name == _META_KEY:
      raise ArtifactError(f"array name {_META_KEY!r} is reserved")
    if arr.dtype == object:
      raise ArtifactError(f"array {name!r} has dtype object; store strings as a unicode array")
  header = {
      "format": FORMAT,
      "format_version": FORMAT_VERSION,
      "kind": kind,
      "library_version": __version__,
      "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.str, "sha256": _digest(v)}
                 for k, v in arrays.items()},
      "meta": meta,
  }
  payload = dict(arrays)
  payload[_META_KEY] = np.array(json.dumps(header))
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "wb") as f:
    np.savez(f, **payload)
  return path


def load_artifact(path: str | os.PathLike, expected_kind: str | None = None
                  ) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
  """Reads a file written by :func:`save_artifact` and checks it.

  Args:
    path: the file.
    expected_kind: if given, the artifact must be of this kind.

  Returns:
    ``(kind, arrays, meta)``.

  Raises:
    MissingFileError: no such file (a ``FileNotFoundError``).
    ArtifactError: not a tinyjax file, corrupt (bad zip, checksum mismatch, missing array), another kind,
      or a newer format version.
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise MissingFileError(f"no such file: {path}")
  if path.is_dir():
    raise ArtifactError(f"{path} is a folder, not a tinyjax artifact ({_WRITTEN_BY})")
  with open(path, "rb") as fh:
    start = fh.read(4)
  if start != b"PK\x03\x04":
    what = "the file is empty" if not start else "not an archive"
    raise ArtifactError(f"{path} is not a tinyjax artifact ({what}; artifacts are {_WRITTEN_BY})")
  try:
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
      raise ArtifactError(f"{path} is not a tinyjax artifact (a plain array file; artifacts are {_WRITTEN_BY})")
    with data:
      if _META_KEY not in data.files:
        raise ArtifactError(f"{path} is not a tinyjax artifact (an .npz archive without the {_META_KEY} entry; "
                            f"artifacts are {_WRITTEN_BY})")
      header = json.loads(str(data[_META_KEY][()]))
      arrays = {k: data[k] for k in data.files if k != _META_KEY}
  except ArtifactError:
    raise
  except (zipfile.BadZipFile, OSError, ValueError, EOFError, json.JSONDecodeError) as err:
    raise ArtifactError(f"{path} is not a readable tinyjax artifact (corrupt or truncated): {err}") from err
  if header.get("format") != FORMAT:
    raise ArtifactError(f"{path} is not a tinyjax artifact (format={header.get('format')!r})")
  version = header.get("format_version")
  if not isinstance(version, int) or version > FORMAT_VERSION:
    raise ArtifactError(
        f"{path} has format version {version}, newer than this tinyjax ({__version__}) reads "
        f"(<= {FORMAT_VERSION}); upgrade tinyjax")
  kind = header.get("kind")
  if expected_kind is not None and kind != expected_kind:
    raise ArtifactError(f"{path} holds a {kind!r}, not a {expected_kind!r}")
  declared = header.get("arrays", {})
  if set(declared) != set(arrays):
    raise ArtifactError(f"{path} is corrupt: arrays {sorted(arrays)} do not match the header {sorted(declared)}")
  for name, info in declared.items():
    if _digest(arrays[name]) != info["sha256"] or list(arrays[name].shape) != info["shape"]:
      raise ArtifactError(f"{path} is corrupt: array {name!r} fails its checksum")
  return kind, *_migrate(kind, version, arrays, header.get("meta", {}))


def _migrate(kind: str, version: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """Converts a file of an older ``format_version`` to the current layout of its ``kind``.

  The one place that knows old layouts; a schema change bumps :data:`FORMAT_VERSION` and adds its step here.

  1 -> 2: a tiny benchmark's or leaderboard's calibration held two blend weight vectors ``blend_w`` (interior,
  exterior); version 2 holds one per regime (``regime_w``: interior and edge take the interior weights, above and
  below the exterior ones), the regime choices (``regime_info``, empty) and the adaptive comparison
  (``adaptive``, None: a version-1 file recommends the static workflow).
  """
  if version < 2 and kind in ("tiny_benchmark", "leaderboard"):
    meta = dict(meta)
    benches = []
    for bench in meta.get("benches", []):
      bench = dict(bench)
      calib = dict(bench.get("calib", {}))
      if "blend_w" in calib:
        inner, outer = calib.pop("blend_w")
        calib["regime_w"] = {"interior": inner, "edge": inner, "above": outer, "below": outer}
        calib.setdefault("regime_info", {})
        calib.setdefault("adaptive", None)
      bench["calib"] = calib
      benches.append(bench)
    meta["benches"] = benches
  return arrays, meta


_LOADERS = {
    "irt_model": ("tinyjax.irt", "IRTModel"),
    "tiny_benchmark": ("tinyjax.tiny", "TinyBenchmark"),
    "leaderboard": ("tinyjax.tiny", "Leaderboard"),
    "suite": ("tinyjax.suite", "Suite"),
    "bandit_state": ("tinyjax.bandit", "BanditEvaluator"),
}


def load(path: str | os.PathLike):
  """Loads any tinyjax artifact (IRT model, tiny benchmark, leaderboard, bandit state) by its kind."""
  import importlib

  kind, arrays, meta = load_artifact(path)
  if kind not in _LOADERS:
    raise ArtifactError(f"{path} holds an artifact of unknown kind {kind!r}")
  module, cls = _LOADERS[kind]
  return getattr(importlib.import_module(module), cls)._from_artifact(arrays, meta)
