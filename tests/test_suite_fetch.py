"""tinyjax.suite.fetch: metabench's files fetched (local folder, file:// URL, a served URL), verified, converted.

The conversion must equal the shared converted files (../shared/data/irt/openllm_v1) for the three benchmarks
whose .rds files the shared copy of metabench holds; a wrong hash, an interruption and a missing network leave
nothing under a final name; a suite by name is built once and then read from the cache.
"""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

import tinyjax as tj
from tinyjax.errors import ArtifactError, ConfigError, MissingFileError
from tinyjax.suite import fetch, load_openllm_v1

LOCAL = ("arc", "gsm8k", "truthfulqa")   # the benchmarks whose .rds the shared copy holds


def _copy_source(shared_data, dest: pathlib.Path, benchmarks=LOCAL) -> pathlib.Path:
  """A copy of the repository's files for ``benchmarks`` (their .rds and item files), laid out like it."""
  for b in benchmarks:
    for rel in (fetch.RDS_FILES[b][0], fetch.ITEM_FILES[b][0]):
      (dest / rel).parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(shared_data / "metabench" / rel, dest / rel)
  return dest


def _leftovers(root: pathlib.Path) -> list[str]:
  """Temporary files or folders left anywhere under ``root``."""
  return [str(p) for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def fetched(shared_data, tmp_path_factory):
  """A data cache filled from a local copy of the repository's files (arc, gsm8k, truthfulqa)."""
  src = _copy_source(shared_data, tmp_path_factory.mktemp("source"))
  cache = tmp_path_factory.mktemp("cache")
  folder = fetch.fetch_openllm_v1(cache, source=src, progress=False, benchmarks=LOCAL)
  return cache, folder, src


@pytest.mark.realdata
@pytest.mark.parametrize("bench", LOCAL)
def test_conversion_equals_the_shared_files(fetched, shared_data, bench):
  _, folder, _ = fetched
  shared = shared_data / "irt" / "openllm_v1"
  got = pd.read_parquet(folder / f"{bench}.responses.parquet")
  want = pd.read_parquet(shared / f"{bench}.responses.parquet")
  # Same models in the same order, same item ids in the same order, same float32 values.
  assert list(got.index) == list(want.index) and got.index.name == want.index.name == "model"
  assert list(got.columns) == list(want.columns) and all(c.startswith(f"{bench}.") for c in got.columns)
  assert (got.dtypes == np.float32).all() and (want.dtypes == np.float32).all()
  np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
  # The full scores: the same csv, byte for byte.
  assert (folder / f"{bench}.full_scores.csv").read_bytes() == (shared / f"{bench}.full_scores.csv").read_bytes()


@pytest.mark.realdata
def test_fetch_from_a_folder_lays_out_the_cache(fetched):
  cache, folder, src = fetched
  assert folder == cache / "openllm_v1"
  raw = fetch.metabench_dir(cache)
  for b in LOCAL:
    for rel, sha in (fetch.RDS_FILES[b], fetch.ITEM_FILES[b]):
      assert fetch._sha256(raw / rel) == sha
  responses, scores = load_openllm_v1(folder)
  assert list(responses) == list(LOCAL)
  assert responses["gsm8k"].shape == (5041, 249) and scores["arc"].index.equals(responses["arc"].index)
  assert fetch.is_fetched(cache, LOCAL) and not fetch.is_fetched(cache)
  assert _leftovers(cache) == []
  # A second call finds everything in the cache: nothing read from the source, nothing converted.
  before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
  assert fetch.fetch_openllm_v1(cache, source=src / "not-read", progress=False, benchmarks=LOCAL) == folder
  assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.realdata
def test_a_source_without_some_files_names_them(shared_data, tmp_path):
  src = _copy_source(shared_data, tmp_path / "src", benchmarks=("truthfulqa",))
  with pytest.raises(MissingFileError, match=r"lacks 2 file\(s\).*arc-2PL.*arc-secondary.*--benchmarks truthfulqa"):
    fetch.fetch_openllm_v1(tmp_path / "cache", source=src, progress=False, benchmarks=("arc", "truthfulqa"))
  assert not (tmp_path / "cache" / "openllm_v1").exists()
  with pytest.raises(ConfigError, match="hellaswag"):
    fetch.fetch_openllm_v1(tmp_path / "cache", source=src, benchmarks=("hellaswag",))
  with pytest.raises(MissingFileError, match="not an existing folder"):
    fetch.fetch_openllm_v1(tmp_path / "cache", source=tmp_path / "missing", benchmarks=("truthfulqa",))


@pytest.mark.realdata
def test_a_wrong_hash_is_named_and_kept_nowhere(shared_data, tmp_path):
  src = _copy_source(shared_data, tmp_path / "src", benchmarks=("truthfulqa",))
  rel, sha = fetch.ITEM_FILES["truthfulqa"]
  with open(src / rel, "ab") as f:   # tamper with the copy
    f.write(b"\0")
  cache = tmp_path / "cache"
  with pytest.raises(ArtifactError) as err:
    fetch.fetch_openllm_v1(cache, source=src, progress=False, benchmarks=("truthfulqa",))
  msg = str(err.value)
  assert rel in msg and sha in msg and fetch._sha256(src / rel) in msg and "\n" not in msg
  assert not (fetch.metabench_dir(cache) / rel).exists()          # not kept under its name
  assert not (cache / "openllm_v1").exists() and _leftovers(cache) == []


@pytest.mark.realdata
def test_an_interrupted_conversion_leaves_nothing(shared_data, tmp_path, monkeypatch):
  src = _copy_source(shared_data, tmp_path / "src", benchmarks=("arc", "truthfulqa"))
  cache = tmp_path / "cache"
  real_write = fetch._write_benchmark
  calls, stop_at = [], [2]

  def write_then_stop(folder, bench, responses, full):
    calls.append(bench)
    if len(calls) == stop_at[0]:     # the first benchmark is written, the second is cut off
      raise KeyboardInterrupt
    return real_write(folder, bench, responses, full)

  monkeypatch.setattr(fetch, "_write_benchmark", write_then_stop)
  with pytest.raises(KeyboardInterrupt):
    fetch.fetch_openllm_v1(cache, source=src, progress=False, benchmarks=("truthfulqa", "arc"))
  assert not (cache / "openllm_v1").exists() and _leftovers(cache) == []
  # A converted folder survives a later conversion cut off halfway, unchanged.
  monkeypatch.setattr(fetch, "_write_benchmark", real_write)
  folder = fetch.fetch_openllm_v1(cache, source=src, progress=False, benchmarks=("truthfulqa",))
  before = {p.name: p.read_bytes() for p in folder.iterdir()}
  calls.clear()
  stop_at[0] = 1                     # truthfulqa is converted already: arc, the only one to write, is cut off
  monkeypatch.setattr(fetch, "_write_benchmark", write_then_stop)
  with pytest.raises(KeyboardInterrupt):
    fetch.fetch_openllm_v1(cache, source=src, progress=False, benchmarks=("truthfulqa", "arc"))
  assert {p.name: p.read_bytes() for p in folder.iterdir()} == before and _leftovers(cache) == []


@pytest.mark.realdata
def test_an_interrupted_download_leaves_nothing(shared_data, tmp_path, monkeypatch):
  rel = fetch.RDS_FILES["truthfulqa"][0]
  data = (shared_data / "metabench" / rel).read_bytes()

  class Cut(io.BytesIO):
    headers = {"Content-Length": str(len(data))}

    def read(self, n=-1):
      if self.tell() > 0:
        raise ConnectionResetError("connection reset by peer")
      return super().read(n)

  monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Cut(data))
  cache = tmp_path / "cache"
  with pytest.raises(MissingFileError, match="failed halfway"):
    fetch.fetch_openllm_v1(cache, progress=False, benchmarks=("truthfulqa",))
  assert not (fetch.metabench_dir(cache) / rel).exists() and _leftovers(cache) == []


def test_no_network_says_which_url_failed_and_how_to_go_offline(tmp_path, monkeypatch):
  def offline(url, timeout=None):
    raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

  monkeypatch.setattr(urllib.request, "urlopen", offline)
  with pytest.raises(MissingFileError) as err:
    fetch.fetch_openllm_v1(tmp_path / "cache", progress=False)
  msg = str(err.value)
  url = f"https://raw.githubusercontent.com/adkipnis/metabench/{fetch.METABENCH_COMMIT}/{fetch.RDS_FILES['arc'][0]}"
  assert url in msg and "--source DIR" in msg and "\n" not in msg
  assert not (tmp_path / "cache" / "openllm_v1").exists() and _leftovers(tmp_path) == []
  rc = subprocess.run([sys.executable, "-c", "import sys; from tinyjax.cli import main; sys.exit(main(sys.argv[1:]))",
                       "suite", "fetch", "openllm-v1", "--source", "http://127.0.0.1:9/metabench",
                       "--data-dir", str(tmp_path / "c2")], capture_output=True, text=True,
                      env={**os.environ, "HOME": str(tmp_path)})
  assert rc.returncode == 1, rc.stderr
  lines = rc.stderr.strip().splitlines()
  assert len(lines) == 1 and "http://127.0.0.1:9/metabench/analysis/reduced/arc" in lines[0] and "--source" in lines[0]


@pytest.mark.realdata
def test_urls_file_and_served(shared_data, tmp_path, monkeypatch):
  src = _copy_source(shared_data, tmp_path / "src", benchmarks=("truthfulqa",))
  a = fetch.fetch_openllm_v1(tmp_path / "a", source=src.as_uri(), progress=False, benchmarks=("truthfulqa",))
  # The default source: raw GitHub URLs at the pinned commit, served here from the local bytes.
  asked = []

  def serve(url, timeout=None):
    asked.append(url)
    rel = url.split(f"/adkipnis/metabench/{fetch.METABENCH_COMMIT}/", 1)[1]
    resp = io.BytesIO((src / rel).read_bytes())
    resp.headers = {"Content-Length": str((src / rel).stat().st_size)}
    return resp

  monkeypatch.setattr(urllib.request, "urlopen", serve)
  b = fetch.fetch_openllm_v1(tmp_path / "b", progress=False, benchmarks=("truthfulqa",))
  assert asked == [f"{fetch.DEFAULT_URL}/{fetch.RDS_FILES['truthfulqa'][0]}",
                   f"{fetch.DEFAULT_URL}/{fetch.ITEM_FILES['truthfulqa'][0]}"]
  assert asked[0].startswith("https://raw.githubusercontent.com/adkipnis/metabench/fe74e29972a01cf8")
  for name in ("truthfulqa.responses.parquet", "truthfulqa.full_scores.csv"):
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_the_eleven_pinned_files():
  assert len(fetch.FILES) == 11 and all(len(s) == 64 for s in fetch.FILES.values())
  assert fetch.METABENCH_COMMIT == "fe74e29972a01cf8bd600dde1a73e0045d07cabc"
  assert "CC BY-NC-SA 4.0" in fetch.NOTICE and "Kipnis et al. 2024" in fetch.NOTICE
  assert "Open LLM Leaderboard v1" in fetch.NOTICE


def test_the_data_cache_location(tmp_path, monkeypatch):
  monkeypatch.delenv(fetch.DATA_ENV, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  assert fetch.data_cache() == tmp_path / ".cache" / "tinyjax" / "data"
  monkeypatch.setenv(fetch.DATA_ENV, str(tmp_path / "env"))
  assert fetch.data_cache() == tmp_path / "env"
  assert fetch.data_cache(tmp_path / "arg") == tmp_path / "arg"


SMALL = {"n_anchors": 5, "benchmarks": ("arc", "truthfulqa"), "n_models": 60}   # a suite that builds quickly


def _quick(real):
  """Suite.fit with the cheapest settings (one strategy, one kernel width, 1-d IRT)."""
  def quick(cls, responses, full_scores, n_anchors=100, **kw):
    return real(cls, responses, full_scores, n_anchors, **kw, strategies=("random",), gammas=(4.0,), dim=1)
  return classmethod(quick)


def _no_fit(*args, **kwargs):
  raise AssertionError("Suite.fit called for a suite that is in the cache")


@pytest.fixture(scope="module")
def built(fetched):
  """The SMALL suite by name, built once into the fetched cache; returns (cache, source, suite, Suite.fit's calls)."""
  cache, _, src = fetched
  calls, real = [], tj.Suite.fit.__func__
  quick = _quick(real).__func__

  def counted(cls, *args, **kw):
    calls.append(kw)
    return quick(cls, *args, **kw)

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(tj.Suite, "fit", classmethod(counted))
    suite = tj.Suite.load("openllm-v1", **SMALL, data_dir=cache, source=src, progress=False)
  return cache, src, suite, calls


@pytest.mark.realdata
def test_a_suite_by_name_is_built_once_then_reused(built, monkeypatch):
  cache, src, first, calls = built
  assert len(calls) == 1 and calls[0]["unit"] == "percent" and first.unit == "percent"
  assert first.benchmarks == ["arc", "truthfulqa"] and first.n_anchors == {"arc": 5, "truthfulqa": 5}
  files = list((cache / "suites").glob("openllm-v1-*.tjx"))
  assert len(files) == 1
  monkeypatch.setattr(tj.Suite, "fit", classmethod(_no_fit))
  again = tj.Suite.load("openllm-v1", **SMALL, data_dir=cache, progress=False)   # no source needed now
  assert again.anchors == first.anchors and again.validation == first.validation
  # Other settings are another suite; an explicit file still loads as before.
  with pytest.raises(AssertionError, match="in the cache"):
    tj.Suite.load("openllm-v1", **{**SMALL, "n_anchors": 4}, data_dir=cache, progress=False)
  assert tj.Suite.load(str(files[0])).anchors == first.anchors
  with pytest.raises(ConfigError, match="suite name"):
    tj.Suite.load(str(files[0]), n_anchors=5)


@pytest.mark.realdata
def test_cli_estimate_by_name_reuses_the_built_suite(built, shared_data, tmp_path, monkeypatch, capsys):
  from tinyjax.cli import main
  cache, _, suite, _ = built
  monkeypatch.setattr(tj.Suite, "fit", classmethod(_no_fit))
  logs = shared_data / "lm_eval" / "pythia-14m"
  out, js = tmp_path / "est.csv", tmp_path / "est.json"
  assert main(["suite", "estimate", "openllm-v1", str(logs), "--anchors", "5", "--benchmarks", "arc,truthfulqa",
               "--models", "60", "--data-dir", str(cache), "--out", str(out), "--json", str(js)]) == 0
  text = capsys.readouterr()
  assert "using the suite built earlier" in text.err and "average" in text.out
  table = pd.read_csv(out)
  assert list(table["benchmark"]) == ["arc", "truthfulqa", "average"]
  assert {"estimate_pct", "lower_pct", "upper_pct", "kept_accuracy_pct"} <= set(table.columns)
  assert not {"estimate", "lower", "upper", "kept_accuracy"} & set(table.columns)
  est, _ = suite.estimate_from_lm_eval(logs)
  np.testing.assert_allclose(table["estimate_pct"].iloc[:2], est.scores.iloc[0][["arc", "truthfulqa"]])
  kept = 100 * est.kept_accuracy.iloc[0][["arc", "truthfulqa"]]
  np.testing.assert_allclose(table["kept_accuracy_pct"].iloc[:2], kept)
  # Settings of a named suite do not go with a suite file.
  files = list((cache / "suites").glob("openllm-v1-*.tjx"))
  assert main(["suite", "estimate", str(files[0]), str(logs), "--models", "60"]) == 1
  assert "--models" in capsys.readouterr().err


@pytest.mark.realdata
def test_cli_fetch_in_a_fresh_home(shared_data, tmp_path):
  src = _copy_source(shared_data, tmp_path / "src", benchmarks=("truthfulqa",))
  env = {k: v for k, v in os.environ.items() if k != fetch.DATA_ENV}
  env["HOME"] = str(tmp_path / "home")
  cmd = [sys.executable, "-c", "import sys; from tinyjax.cli import main; sys.exit(main(sys.argv[1:]))",
         "suite", "fetch", "openllm-v1", "--source", str(src)]
  # The copy lacks four .rds files: an error naming them and the --benchmarks that would work.
  proc = subprocess.run(cmd + ["--data-dir", str(tmp_path / "d")], capture_output=True, text=True, env=env,
                        cwd=tmp_path)
  assert proc.returncode == 1 and "mmlu-3PL" in proc.stderr and "--benchmarks truthfulqa" in proc.stderr
  assert not (tmp_path / "d" / "openllm_v1").exists()
  proc = subprocess.run(cmd + ["--benchmarks", "truthfulqa"], capture_output=True, text=True, env=env, cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  folder = tmp_path / "home" / ".cache" / "tinyjax" / "data" / "openllm_v1"
  assert str(folder) in proc.stdout and "4280 models x  136 items" in proc.stdout
  assert proc.stderr.count("CC BY-NC-SA 4.0") == 1 and "Kipnis et al. 2024" in proc.stderr
  shared = shared_data / "irt" / "openllm_v1" / "truthfulqa.full_scores.csv"
  assert (folder / "truthfulqa.full_scores.csv").read_bytes() == shared.read_bytes()
  # Again: nothing to do; the licence is still stated.
  proc = subprocess.run(cmd + ["--benchmarks", "truthfulqa"], capture_output=True, text=True, env=env, cwd=tmp_path)
  assert proc.returncode == 0 and "already in" in proc.stdout and "CC BY-NC-SA 4.0" in proc.stdout
