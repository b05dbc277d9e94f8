"""Versioned, self-describing artifact files (``.tjx``): arrays plus JSON metadata in one archive, no pickle.

A ``.tjx`` file is an ``.npz`` archive (``numpy.savez``) under tinyjax's own extension; ``.save(path)`` writes
the path exactly as given, so files saved as ``.npz`` by older code load as before.

Layout of a file: every array under its own name, plus ``__tinyjax_meta__``, a 0-d unicode array
holding JSON: ``{"format": "tinyjax", "format_version": 1, "kind": ..., "library_version": ...,
"arrays": {name: {"shape": [...], "dtype": "...", "sha256": "..."}}, "meta": {...}}``. ``kind`` tells
``tinyjax.load`` which class to rebuild.

Writing: :func:`save_artifact` writes a temporary file beside the target, flushes it and ``os.replace``s it
onto the target (``tinyjax._atomic``), so a process killed at any moment leaves the old file or the new one,
never a broken one, and two processes saving one path leave one complete file.

Loading is data only: arrays are read without pickle, and a file is checked before any array is read. The JSON
header comes first (format, version, kind, each declared array's shape and dtype; dtypes are numbers, booleans
and strings only), then the declared sizes are summed against a limit (:data:`DEFAULT_MAX_BYTES`, 4 GiB; the
``max_bytes`` keyword of :func:`load_artifact` and :func:`load`, or the environment variable
``TINYJAX_MAX_ARTIFACT_BYTES``; the JSON header itself may take at most 256 MiB), then each member's uncompressed size in the archive must equal what the header
declares, and members are read through a bounded reader, so a compressed member that inflates beyond its
declared size is refused without being inflated. Every failure is an :class:`~tinyjax.errors.ArtifactError`.

What the checksums protect against: the SHA-256 of each array catches accidental damage (a truncated copy, a
flipped bit, a file written by two programs at once). They do not protect against deliberate edits: anyone can
change an array and recompute its checksum, and the file loads. A ``.tjx`` is not signed; trust a file as much
as its source. Loading one never executes code from it.

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
from typing import IO, Any

import numpy as np

from tinyjax._atomic import atomic_write
from tinyjax._version import __version__

FORMAT = "tinyjax"
FORMAT_VERSION = 2
_META_KEY = "__tinyjax_meta__"
SUFFIX = ".tjx"
DEFAULT_MAX_BYTES = 4 * 2 ** 30   # the most array bytes a file may declare, unless max_bytes / the variable says
MAX_BYTES_ENV = "TINYJAX_MAX_ARTIFACT_BYTES"
_DTYPE_KINDS = "biufcUS"          # booleans, integers, floats, complex numbers, strings: never object or void
_MAX_NPY_HEADER = 1 << 16         # bytes of an array member's own npy header
_MAX_META_BYTES = 256 * 2 ** 20   # bytes of the JSON header member (a limit of its own, apart from the arrays')
_WRITTEN_BY = ("the .tjx files written by IRTModel/TinyBenchmark/Leaderboard/BanditEvaluator .save() or "
               "`tinyjax fit/build --out`")


from tinyjax.errors import ArtifactError, MissingFileError

__all__ = ("DEFAULT_MAX_BYTES", "FORMAT_VERSION", "ArtifactError", "load", "load_artifact", "save_artifact")


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
    The path written. The write is atomic: the file appears complete under ``path`` or not at all (a kill
    mid-write leaves the previous file).
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
  with atomic_write(path, "wb") as f:   # a temporary file beside path, os.replace'd when complete
    np.savez(f, **payload)
  return path


def max_artifact_bytes(max_bytes: int | None = None) -> int:
  """The limit on the array bytes a file may declare: ``max_bytes``, else ``$TINYJAX_MAX_ARTIFACT_BYTES``, else 4 GiB."""
  if max_bytes is None:
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
      return DEFAULT_MAX_BYTES
    try:
      max_bytes = int(float(text))
    except ValueError:
      raise ArtifactError(f"{MAX_BYTES_ENV}={text!r} is not a number of bytes") from None
  if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0:
    raise ArtifactError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
  return int(max_bytes)


class _Bounded:
  """A read-only view of a zip member that never yields more than ``limit`` bytes and counts what it gave."""

  def __init__(self, fh: IO[bytes], limit: int):
    self._fh, self.left, self.count = fh, limit, 0

  def read(self, n: int = -1) -> bytes:
    if n is None or n < 0:
      n = self.left
    data = self._fh.read(min(n, self.left))
    self.left -= len(data)
    self.count += len(data)
    return data

  def read_exact(self, n: int) -> bytearray:
    """Exactly ``n`` bytes into a writable buffer (an error if the member ends earlier)."""
    buf = bytearray(n)
    view, pos = memoryview(buf), 0
    while pos < n:
      chunk = self.read(min(n - pos, 1 << 24))
      if not chunk:
        raise ArtifactError(f"ends after {pos} of its {n} bytes")
      view[pos:pos + len(chunk)] = chunk
      pos += len(chunk)
    return buf

  def at_end(self) -> bool:
    return not self._fh.read(1)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int,
                 expect: tuple[tuple[int, ...], np.dtype] | None = None) -> np.ndarray:
  """One ``.npy`` member, read with every size checked before the bytes are: its npy header (shape, dtype,
  both equal to ``expect`` when given), then its size in the archive against ``header + shape x itemsize``
  and ``limit``, then exactly that many bytes through a bounded reader."""
  if info.file_size > limit + _MAX_NPY_HEADER:
    raise ArtifactError(f"takes {info.file_size} bytes uncompressed, more than the limit ({limit})")
  with zf.open(info) as raw:
    fh = _Bounded(raw, info.file_size)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_NPY_HEADER)
    elif version == (2, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_NPY_HEADER)
    else:
      raise ArtifactError(f"has npy format version {version}, which tinyjax does not write")
    dtype = np.dtype(dtype)
    if dtype.kind not in _DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
      raise ArtifactError(f"has dtype {dtype}; artifacts hold numbers, booleans and strings only")
    if expect is not None and (tuple(shape) != expect[0] or dtype != expect[1]):
      raise ArtifactError(f"holds shape {tuple(shape)} {dtype}, but the header declares {expect[0]} {expect[1]}")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > limit:
      raise ArtifactError(f"declares {nbytes} bytes, more than the limit ({limit})")
    if info.file_size != fh.count + nbytes:
      raise ArtifactError(f"is {info.file_size} bytes uncompressed in the archive, but its shape and dtype make "
                          f"{fh.count + nbytes}")
    buf = fh.read_exact(nbytes)
    if not fh.at_end():
      raise ArtifactError("inflates beyond its declared size")
  return np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran else "C")


def _declared(header: dict[str, Any], limit: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  """The arrays the JSON header declares, each ``(shape, dtype)`` checked; their total bytes within ``limit``."""
  declared = header.get("arrays", {})
  if not isinstance(declared, dict):
    raise ArtifactError("its header's 'arrays' is not a mapping")
  out, total = {}, 0
  for name, info in declared.items():
    if not isinstance(info, dict):
      raise ArtifactError(f"its header describes array {name!r} as {info!r}")
    shape = info.get("shape")
    if (not isinstance(shape, list) or
        not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
      raise ArtifactError(f"its header gives array {name!r} the shape {shape!r}")
    try:
      dtype = np.dtype(info.get("dtype"))
    except (TypeError, ValueError):
      raise ArtifactError(f"its header gives array {name!r} the dtype {info.get('dtype')!r}") from None
    if dtype.kind not in _DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
      raise ArtifactError(f"its header gives array {name!r} the dtype {dtype}; artifacts hold numbers, booleans "
                          "and strings only")
    total += int(np.prod(shape, dtype=object)) * dtype.itemsize   # Python ints: no overflow
    out[name] = (tuple(shape), dtype)
  if total > limit:
    raise ArtifactError(f"declares {total} bytes of arrays ({total / 2 ** 30:.4g} GiB), more than the limit of "
                        f"{limit} bytes; if the file is trusted, raise the limit with max_bytes= or "
                        f"{MAX_BYTES_ENV}")
  return out


def load_artifact(path: str | os.PathLike, expected_kind: str | None = None, *, max_bytes: int | None = None
                  ) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
  """Reads a file written by :func:`save_artifact` and checks it, the header before any array.

  Args:
    path: the file.
    expected_kind: if given, the artifact must be of this kind.
    max_bytes: the most array bytes the file may declare (default: ``$TINYJAX_MAX_ARTIFACT_BYTES``, else
      :data:`DEFAULT_MAX_BYTES`, 4 GiB).

  Returns:
    ``(kind, arrays, meta)``.

  Raises:
    MissingFileError: no such file (a ``FileNotFoundError``).
    ArtifactError: not a tinyjax file, corrupt (bad zip, truncated, checksum mismatch, missing array, a member
      larger than its header declares), another kind, a newer format version, a dtype other than numbers,
      booleans and strings, or arrays larger than ``max_bytes``.
  """
  path = pathlib.Path(path)
  limit = max_artifact_bytes(max_bytes)
  if not path.exists():
    raise MissingFileError(f"no such file: {path}")
  if path.is_dir():
    raise ArtifactError(f"{path} is a folder, not a tinyjax artifact ({_WRITTEN_BY})")
  with open(path, "rb") as fh:
    start = fh.read(4)
  if start != b"PK\x03\x04":
    what = "the file is empty" if not start else "not an archive"
    raise ArtifactError(f"{path} is not a tinyjax artifact ({what}; artifacts are {_WRITTEN_BY})")
  meta_member = _META_KEY + ".npy"
  try:
    with zipfile.ZipFile(path) as zf:
      infos = zf.infolist()
      names = [i.filename for i in infos]
      if meta_member not in names:
        raise ArtifactError(f"{path} is not a tinyjax artifact (an .npz archive without the {_META_KEY} entry; "
                            f"artifacts are {_WRITTEN_BY})")
      if len(set(names)) != len(names):
        raise ArtifactError(f"{path} is corrupt: the archive names a member twice")
      by_name = {i.filename: i for i in infos}
      try:
        text = _read_member(zf, by_name[meta_member], _MAX_META_BYTES)
      except ArtifactError as err:
        raise ArtifactError(f"{path} is corrupt: its header {err}") from None
      if text.shape != () or text.dtype.kind != "U":
        raise ArtifactError(f"{path} is corrupt: its header is not a JSON string")
      header = json.loads(str(text[()]))
      if not isinstance(header, dict) or header.get("format") != FORMAT:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise ArtifactError(f"{path} is not a tinyjax artifact (format={fmt!r})")
      version = header.get("format_version")
      if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {version}, newer than this tinyjax ({__version__}) reads "
            f"(<= {FORMAT_VERSION}); upgrade tinyjax")
      kind = header.get("kind")
      if expected_kind is not None and kind != expected_kind:
        raise ArtifactError(f"{path} holds a {kind!r}, not a {expected_kind!r}")
      try:
        declared = _declared(header, limit)
      except ArtifactError as err:
        raise ArtifactError(f"{path}: {err}") from None
      members = {n[:-4] for n in names if n != meta_member and n.endswith(".npy")}
      if set(declared) != members or len(members) != len(names) - 1:
        raise ArtifactError(f"{path} is corrupt: arrays {sorted(n.removesuffix('.npy') for n in names if n != meta_member)} "
                            f"do not match the header {sorted(declared)}")
      arrays = {}
      for name, expect in declared.items():
        try:
          arrays[name] = _read_member(zf, by_name[name + ".npy"], limit, expect)
        except ArtifactError as err:
          raise ArtifactError(f"{path} is corrupt: array {name!r} {err}") from None
  except ArtifactError:
    raise
  except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError, EOFError,
          SyntaxError, json.JSONDecodeError) as err:
    raise ArtifactError(f"{path} is not a readable tinyjax artifact (corrupt or truncated): {err}") from err
  for name, info in header["arrays"].items():
    if _digest(arrays[name]) != info.get("sha256"):
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


def load(path: str | os.PathLike, *, max_bytes: int | None = None):
  """Loads any tinyjax artifact (IRT model, tiny benchmark, leaderboard, bandit state) by its kind.

  ``max_bytes``: the most array bytes the file may declare (see :func:`load_artifact`).
  """
  import importlib

  kind, arrays, meta = load_artifact(path, max_bytes=max_bytes)
  if kind not in _LOADERS:
    raise ArtifactError(f"{path} holds an artifact of unknown kind {kind!r}")
  module, cls = _LOADERS[kind]
  return getattr(importlib.import_module(module), cls)._from_artifact(arrays, meta)
