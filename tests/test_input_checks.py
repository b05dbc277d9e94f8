"""Input checks of issue 15: headerless csv files, empty and broken files, non-artifacts, advice a user can
follow, matrices too small to fit."""

from __future__ import annotations

import numpy as np
import pytest

import tinyjax as tj
import tinyjax.io as tio
from tinyjax import data as tjd
from tinyjax.errors import ArtifactError, ResponseError

N_MODELS, N_ITEMS = 60, 8


@pytest.fixture(scope="module")
def matrix():
  rng = np.random.default_rng(0)
  y = (rng.random((N_MODELS, N_ITEMS)) < 0.6).astype(int)
  y[0] = [1, 1, 0, 0, 1, 1, 0, 1]  # repeated numbers in the first line
  y[:, 0] = 1 - y[:, 1]  # no constant column
  return y


@pytest.fixture()
def headerless(tmp_path, matrix):
  path = tmp_path / "headerless.csv"
  np.savetxt(path, matrix, fmt="%d", delimiter=",")
  return path


def test_headerless_csv_keeps_its_first_row(headerless, matrix):
  r = tjd.load_responses(headerless)
  assert r.values.shape == (N_MODELS, N_ITEMS)
  np.testing.assert_array_equal(r.values, matrix)
  assert r.item_ids == [f"item_{j}" for j in range(N_ITEMS)]


def test_headerless_tsv_with_distinct_numbers_in_first_line(tmp_path, matrix):
  path = tmp_path / "scores.tsv"
  values = matrix * 0.5 + np.linspace(0.01, 0.08, N_ITEMS) * (np.arange(N_MODELS)[:, None] == 0)
  np.savetxt(path, values, fmt="%.3f", delimiter="\t")
  r = tjd.load_responses(path)
  assert r.values.shape == (N_MODELS, N_ITEMS)
  np.testing.assert_allclose(r.values, values, atol=1e-9)


def test_forced_header_and_no_header(tmp_path, matrix):
  path = tmp_path / "numeric_ids.csv"
  with open(path, "w") as fh:
    fh.write(",".join(str(100 + j) for j in range(N_ITEMS)) + "\n")
    np.savetxt(fh, matrix, fmt="%d", delimiter=",")
  with pytest.raises(ResponseError, match=r"outside \[0, 1\]; first 100.0 at row 0"):
    tjd.load_responses(path)  # an all-number first line is data unless told
  forced = tjd.load_responses(path, header=True)
  assert forced.values.shape == (N_MODELS, N_ITEMS)
  assert forced.item_ids == [str(100 + j) for j in range(N_ITEMS)]
  np.testing.assert_array_equal(forced.values, matrix)
  named = tmp_path / "named.csv"
  with open(named, "w") as fh:
    fh.write(",".join(f"q{j}" for j in range(N_ITEMS)) + "\n")
    np.savetxt(fh, matrix, fmt="%d", delimiter=",")
  with pytest.raises(ResponseError, match=r"row 0: 'q0'"):
    tjd.load_responses(named, header=False)


def test_csv_with_real_header_unchanged(tmp_path, matrix):
  path = tmp_path / "with_ids.csv"
  with open(path, "w") as fh:
    fh.write("model," + ",".join(f"q{j}" for j in range(N_ITEMS)) + "\n")
    for i, row in enumerate(matrix):
      fh.write(f"m{i}," + ",".join(map(str, row)) + "\n")
  r = tjd.load_responses(path)
  assert r.values.shape == (N_MODELS, N_ITEMS)
  assert r.item_ids == [f"q{j}" for j in range(N_ITEMS)]
  assert r.model_ids[:2] == ["m0", "m1"]


def _write(path, content: bytes):
  path.write_bytes(content)
  return path


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("empty.npy", b"", r"empty.npy: the file is empty"),
        ("garbage.npy", b"this is not numpy", r"garbage.npy: not a .npy file"),
        ("truncated.npy", None, r"truncated.npy: not a readable .npy file"),
        ("garbage.npz", b"not a zip at all", r"garbage.npz: not a .npz file"),
        ("empty.csv", b"", r"empty.csv: the file is empty"),
        ("binary.csv", b"\x00\xff\xfe\x01\x02", r"binary.csv: not a readable text csv"),
        ("ragged.csv", b"1,0,1\n0,1,0\n1,1,1,0,1\n", r"ragged.csv: line 3 has 5 field"),
        ("garbage.parquet", b"not parquet", r"garbage.parquet: not a readable parquet file"),
    ],
)
def test_empty_and_broken_files_name_the_file(tmp_path, name, content, match):
  path = tmp_path / name
  if content is None:
    np.save(path, np.zeros((4, 4)))
    path.write_bytes(path.read_bytes()[:100])
  else:
    _write(path, content)
  with pytest.raises(ResponseError, match=match):
    tjd.load_responses(path)


@pytest.mark.parametrize("name,content", [("notes.txt", b"hello\n"), ("empty.tjx", b""), ("array.npy", None)])
@pytest.mark.parametrize("loader", ["io.load", "tj.load", "IRTModel.load", "TinyBenchmark.load"])
def test_non_artifact_is_an_artifact_error(tmp_path, name, content, loader):
  path = tmp_path / name
  if content is None:
    np.save(path, np.zeros((2, 2)))
  else:
    _write(path, content)
  fn = {"io.load": tio.load, "tj.load": tj.load, "IRTModel.load": tj.IRTModel.load,
        "TinyBenchmark.load": tj.TinyBenchmark.load}[loader]
  with pytest.raises(ArtifactError, match=r"is not a tinyjax artifact .*\.tjx") as info:
    fn(path)
  assert str(path) in str(info.value)
  assert "pickle" not in str(info.value)


def test_drop_empty_advice_names_load_responses():
  y = np.array([[1.0, 0.0, 1.0], [np.nan, np.nan, np.nan], [0.0, 1.0, 1.0]])
  with pytest.raises(ResponseError, match=r"load_responses\(Y, drop_empty=True\).*--drop-empty"):
    tj.fit_irt(y)
  kept = tjd.load_responses(y, drop_empty=True)
  assert kept.values.shape == (2, 3)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1)])
def test_fit_irt_rejects_matrices_too_small(shape):
  y = np.zeros(shape)
  y.flat[::2] = 1
  with pytest.raises(ResponseError, match=rf"at least 2 models and 2 items.*got {shape[0]} x {shape[1]}"):
    tj.fit_irt(y)


@pytest.mark.slow
def test_cli_fit_on_headerless_csv_counts_every_row(headerless, tmp_path, capsys):
  from tinyjax.cli import main

  assert main(["fit", str(headerless), "--dim", "1", "--out", str(tmp_path / "m.tjx"), "--quiet"]) == 0
  assert f"{N_MODELS} models x {N_ITEMS} items" in capsys.readouterr().out
  assert main(["fit", str(headerless), "--no-header", "--dim", "1", "--out", str(tmp_path / "m2.tjx"),
               "--quiet"]) == 0
  assert f"{N_MODELS} models x {N_ITEMS} items" in capsys.readouterr().out
