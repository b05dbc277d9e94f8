"""Artifacts that survive (issue 26, part 3): atomic saves, checks before any array is read, --out before stdout.

Reproductions: `kill -9` during a save left a broken 111 MB file; two processes saving one path gave corrupt
reads; `--out F | head` lost the file; a 1 KB .tjx declaring a 7 TiB array was a MemoryError; a small
compressed member took gigabytes before it was refused.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from tinyjax import io as tio
from tinyjax.errors import ArtifactError

ROOT = pathlib.Path(__file__).resolve().parent.parent
TiB = 2 ** 40


def _npy_bytes(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  np.lib.format.write_array(buf, array, allow_pickle=False)
  return buf.getvalue()


def _npy_header(shape, dtype) -> bytes:
  buf = io.BytesIO()
  np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                             "shape": tuple(shape)})
  return buf.getvalue()


def _header(arrays: dict[str, tuple[list[int], str]], kind: str = "irt_model") -> np.ndarray:
  return np.array(json.dumps({
      "format": "tinyjax", "format_version": tio.FORMAT_VERSION, "kind": kind, "library_version": "test",
      "arrays": {k: {"shape": s, "dtype": d, "sha256": "0" * 64} for k, (s, d) in arrays.items()}, "meta": {}}))


def test_round_trip_keeps_dtypes_and_gives_writable_arrays(tmp_path):
  arrays = {"f": np.linspace(0, 1, 12).reshape(3, 4), "i": np.arange(5, dtype=np.int32), "b": np.array([True, False]),
            "s": np.array(["alpha", "béta", ""]), "scalar": np.float32(2.5), "empty": np.zeros((0, 3)),
            "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
  path = tio.save_artifact(tmp_path / "a.tjx", "test_kind", arrays, {"x": [1, 2]})
  kind, got, meta = tio.load_artifact(path, expected_kind="test_kind")
  assert kind == "test_kind" and meta == {"x": [1, 2]}
  for name, value in arrays.items():
    np.testing.assert_array_equal(got[name], value)
    assert got[name].dtype == np.asarray(value).dtype
  got["f"][0, 0] = 7.0   # loaded arrays are ordinary, writable arrays
  assert list(tmp_path.iterdir()) == [path]   # no temporary file left beside it


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
  path = tio.save_artifact(tmp_path / "m.tjx", "test_kind", {"x": np.arange(3.0)}, {})
  before = path.read_bytes()

  def broken_savez(f, **payload):
    f.write(b"PK\x03\x04 half an archive")
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(tio.np, "savez", broken_savez)
  with pytest.raises(OSError, match="No space"):
    tio.save_artifact(path, "test_kind", {"x": np.arange(1e6)}, {})
  assert path.read_bytes() == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tjx"]


_SAVER = textwrap.dedent("""
    import sys, time, numpy as np
    from tinyjax.io import save_artifact

    class SlowFile:   # every write takes 30 ms more: a kill at a random moment mostly lands mid-write
      def __init__(self, f):
        self._f = f
      def write(self, data):
        time.sleep(0.03)
        return self._f.write(data)
      def __getattr__(self, name):
        return getattr(self._f, name)

    real_savez = np.savez
    np.savez = lambda f, **kw: real_savez(SlowFile(f), **kw)   # this throwaway process only
    path, tag = sys.argv[1], int(sys.argv[2])
    n = 0
    while True:
      n += 1
      save_artifact(path, "test_kind", {"x": np.full(2_000_000, float(tag * 1000 + n % 1000))}, {"writer": tag})
      if n == 1:
        print("saved", flush=True)
""")


def _spawn_saver(path, tag):
  proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(tag)], stdout=subprocess.PIPE, cwd=ROOT)
  assert proc.stdout.readline().strip() == b"saved"
  return proc


def _check_loads(path):
  kind, arrays, meta = tio.load_artifact(path, expected_kind="test_kind")
  x = arrays["x"]
  assert x.shape == (2_000_000,) and np.all(x == x[0])   # one complete version, never a mix or a torn write
  return meta["writer"]


@pytest.mark.slow
def test_kill_9_during_save_leaves_a_loadable_file(tmp_path):
  """A 16 MB artifact saved in a loop, killed with SIGKILL at random moments: the target always loads."""
  path = tmp_path / "model.tjx"
  rng = np.random.default_rng(0)
  for _ in range(4):
    proc = _spawn_saver(path, 1)
    time.sleep(float(rng.uniform(0.05, 0.5)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _check_loads(path) == 1
  leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.tjx"]
  assert all(name.startswith(".model.tjx.") and name.endswith(".tmp") for name in leftovers)   # only killed temps


@pytest.mark.slow
def test_two_processes_saving_one_path_never_give_a_corrupt_read(tmp_path):
  path = tmp_path / "shared.tjx"
  procs = [_spawn_saver(path, 1), _spawn_saver(path, 2)]
  try:
    writers = {_check_loads(path) for _ in range(30)}
  finally:
    for proc in procs:
      proc.kill()
      proc.wait()
  assert writers <= {1, 2}


def _write_zip(path, members: dict[str, bytes], compress: dict[str, int] | None = None):
  with zipfile.ZipFile(path, "w") as zf:
    for name, data in members.items():
      zf.writestr(name, data, compress_type=(compress or {}).get(name, zipfile.ZIP_STORED))


def test_a_small_file_declaring_7_tib_is_refused_before_reading(tmp_path):
  path = tmp_path / "huge.tjx"
  _write_zip(path, {"__tinyjax_meta__.npy": _npy_bytes(_header({"x": ([7 * TiB // 8], "<f8")})),
                    "x.npy": _npy_bytes(np.zeros(4))})
  assert path.stat().st_size < 2048
  t0 = time.perf_counter()
  with pytest.raises(ArtifactError, match=r"huge.tjx: declares 7696581394432 bytes .*more than the limit"):
    tio.load_artifact(path)
  assert time.perf_counter() - t0 < 1.0


def test_a_member_whose_own_header_declares_7_tib_is_refused(tmp_path):
  """The JSON header is modest but the array member's npy header (and the zip entry) claim 7 TiB."""
  path = tmp_path / "liar.tjx"
  _write_zip(path, {"__tinyjax_meta__.npy": _npy_bytes(_header({"x": ([4], "<f8")})),
                    "x.npy": _npy_header((7 * TiB // 8,), "<f8") + b"\0" * 32})
  with pytest.raises(ArtifactError, match=r"array 'x' holds shape \(962072674304,\) float64, but the header "
                                          r"declares \(4,\) float64"):
    tio.load_artifact(path)


def _zip_bomb(path, declared_shape=(16,), inflated=128 << 20) -> int:
  """An artifact whose compressed member ``x.npy`` inflates to ``inflated`` bytes while its npy header, the JSON
  header and both zip entries declare ``declared_shape`` float64 (the sizes patched after writing). Returns the
  declared size."""
  header = _npy_header(declared_shape, "<f8")
  declared = len(header) + int(np.prod(declared_shape)) * 8
  with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    zf.writestr("__tinyjax_meta__.npy", _npy_bytes(_header({"x": (list(declared_shape), "<f8")})))
    with zf.open("x.npy", "w") as f:   # streamed: nothing large in memory
      f.write(header)
      chunk = bytes(1 << 20)
      for _ in range(inflated >> 20):
        f.write(chunk)
    offset = zf.getinfo("x.npy").header_offset
  raw = bytearray(path.read_bytes())
  assert raw[offset:offset + 4] == b"PK\x03\x04"
  raw[offset + 22:offset + 26] = declared.to_bytes(4, "little")          # local header: uncompressed size
  cd = raw.index(b"PK\x01\x02")
  while raw[cd + 46:cd + 51] != b"x.npy":
    cd = raw.index(b"PK\x01\x02", cd + 4)
  raw[cd + 24:cd + 28] = declared.to_bytes(4, "little")                  # central directory: uncompressed size
  path.write_bytes(bytes(raw))
  return declared


def test_a_zip_bomb_member_is_refused_without_inflating_it(tmp_path):
  """A compressed member declared small (JSON header, npy header, zip entries) that inflates to 128 MB."""
  import tracemalloc

  path = tmp_path / "bomb.tjx"
  declared = _zip_bomb(path)
  assert path.stat().st_size < 1 << 20
  with zipfile.ZipFile(path) as zf:   # what the archive claims
    assert zf.getinfo("x.npy").file_size == declared
  tracemalloc.start()
  t0 = time.perf_counter()
  try:
    with pytest.raises(ArtifactError, match=r"bomb.tjx"):
      tio.load_artifact(path)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert time.perf_counter() - t0 < 2.0
  assert peak < 8 << 20   # nowhere near the 128 MB it inflates to


def test_truncated_file_is_an_artifact_error(tmp_path):
  path = tio.save_artifact(tmp_path / "t.tjx", "test_kind", {"x": np.arange(10_000.0)}, {})
  data = path.read_bytes()
  for cut in (len(data) // 2, len(data) - 30, 200):
    path.write_bytes(data[:cut])
    with pytest.raises(ArtifactError, match=r"t.tjx"):
      tio.load_artifact(path)


def test_wrong_kind_is_an_artifact_error(tmp_path):
  path = tio.save_artifact(tmp_path / "k.tjx", "tiny_benchmark", {"x": np.arange(3.0)}, {})
  with pytest.raises(ArtifactError, match=r"holds a 'tiny_benchmark', not a 'irt_model'"):
    tio.load_artifact(path, expected_kind="irt_model")


def test_object_dtype_is_refused(tmp_path):
  path = tmp_path / "obj.tjx"
  _write_zip(path, {"__tinyjax_meta__.npy": _npy_bytes(_header({"x": ([2], "|O")})),
                    "x.npy": _npy_header((2,), "|O") + b"\0" * 16})
  with pytest.raises(ArtifactError, match=r"dtype object; artifacts hold numbers, booleans and strings only"):
    tio.load_artifact(path)


def test_member_size_must_match_the_header(tmp_path):
  path = tmp_path / "extra.tjx"
  _write_zip(path, {"__tinyjax_meta__.npy": _npy_bytes(_header({"x": ([4], "<f8")})),
                    "x.npy": _npy_bytes(np.zeros(4)) + b"trailing bytes"})
  with pytest.raises(ArtifactError, match=r"is \d+ bytes uncompressed in the archive, but its shape and dtype make"):
    tio.load_artifact(path)


def test_edited_array_fails_its_checksum(tmp_path):
  path = tio.save_artifact(tmp_path / "e.tjx", "test_kind", {"x": np.arange(4.0)}, {})
  with zipfile.ZipFile(path) as zf:
    members = {n: zf.read(n) for n in zf.namelist()}
  members["x.npy"] = _npy_bytes(np.arange(4.0)[::-1].copy())
  _write_zip(path, members)
  with pytest.raises(ArtifactError, match=r"array 'x' fails its checksum"):
    tio.load_artifact(path)


def test_size_limit_keyword_and_environment_variable(tmp_path, monkeypatch):
  path = tio.save_artifact(tmp_path / "l.tjx", "test_kind", {"x": np.zeros(1000)}, {})   # 8000 bytes
  with pytest.raises(ArtifactError, match=r"declares 8000 bytes of arrays .*max_bytes= or TINYJAX_MAX_ARTIFACT_BYTES"):
    tio.load_artifact(path, max_bytes=4000)
  assert tio.load_artifact(path, max_bytes=9000)[1]["x"].shape == (1000,)
  monkeypatch.setenv("TINYJAX_MAX_ARTIFACT_BYTES", "4000")
  with pytest.raises(ArtifactError, match=r"more than the limit of 4000 bytes"):
    tio.load_artifact(path)
  assert tio.load_artifact(path, max_bytes=8000)[1]["x"].shape == (1000,)   # the keyword wins
  monkeypatch.setenv("TINYJAX_MAX_ARTIFACT_BYTES", "lots")
  with pytest.raises(ArtifactError, match=r"TINYJAX_MAX_ARTIFACT_BYTES='lots' is not a number of bytes"):
    tio.load_artifact(path)


def test_tinyjax_load_takes_max_bytes(tmp_path):
  path = tio.save_artifact(tmp_path / "b.tjx", "bandit_state", {"x": np.zeros(1000)}, {})
  with pytest.raises(ArtifactError, match=r"more than the limit of 100 bytes"):
    tio.load(path, max_bytes=100)


# -- the command line: files before stdout, a closed pipe neither loses them nor prints a traceback ----------------

def _scores_file(tmp_path) -> pathlib.Path:
  rng = np.random.default_rng(0)
  path = tmp_path / "scores.npy"
  np.save(path, (rng.random((6, 200)) < np.linspace(0.3, 0.7, 6)[:, None]).astype(float))
  return path


@pytest.mark.slow
def test_cli_closed_pipe_keeps_the_plot_and_prints_no_traceback(tmp_path):
  pytest.importorskip("matplotlib")
  scores = _scores_file(tmp_path)
  plot = tmp_path / "curve.png"
  cmd = (f"{sys.executable} -m tinyjax.cli --no-cache bandit {scores} --seeds 2 --plot {plot} "
         f"--plot-budgets 0.2,0.5 | true; echo \"status=${{PIPESTATUS[0]}}\" >&2")   # the reader is gone at once
  res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
  assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
  assert "status=141" in res.stderr, res.stderr


def test_cli_output_guard_finishes_the_command_after_a_broken_pipe(tmp_path, monkeypatch):
  """In-process: stdout breaks at the first write; the command still writes its file, and main returns 141."""
  from tinyjax import cli

  class Closed(io.StringIO):
    def write(self, text):
      raise BrokenPipeError(32, "Broken pipe")

  written = []

  def fake_cmd(args):
    print("a line before the file")
    written.append(cli.write_json({"ok": True}, tmp_path / "out.json"))
    print("and one after")
    return 0

  parser = cli.build_parser()
  monkeypatch.setattr(cli, "build_parser", lambda: parser)
  monkeypatch.setattr(sys, "stdout", Closed())
  monkeypatch.setattr(cli, "_stdout_to_devnull", lambda: None)
  (tmp_path / "x.npy").write_bytes(b"")   # inputs must exist: a missing one is answered before the command
  args = parser.parse_args(["--no-cache", "bandit", str(tmp_path / "x.npy")])
  monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
  args.func = fake_cmd
  assert cli.main([]) == 141
  assert json.loads((tmp_path / "out.json").read_text()) == {"ok": True}


def test_save_figure_writes_atomically_in_the_suffix_format(tmp_path):
  pytest.importorskip("matplotlib")
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from tinyjax import cli
  from tinyjax.errors import ConfigError

  fig, ax = plt.subplots()
  ax.plot([0, 1], [1, 0])
  cli.save_figure(fig, tmp_path / "f.svg")
  assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
  cli.save_figure(fig, tmp_path / "noext")
  assert (tmp_path / "noext").read_bytes()[:4] == b"\x89PNG"
  with pytest.raises(ConfigError, match=r"cannot write a figure as \.xyz"):
    cli.save_figure(fig, tmp_path / "f.xyz")
  plt.close(fig)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg", "noext"]
