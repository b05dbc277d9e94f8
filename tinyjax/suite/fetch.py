"""The Open LLM Leaderboard v1 data from its source: download, verify, convert, cache; and the suite built on it.

    path = tinyjax.suite.fetch_openllm_v1()                 # ~/.cache/tinyjax/data/openllm_v1
    suite = tj.Suite.load("openllm-v1", n_anchors=100)      # fetched if needed, built once, then cached

:func:`fetch_openllm_v1` downloads 11 files of the public metabench repository (github.com/adkipnis/metabench,
Kipnis et al. 2024) at one pinned commit, checks each against its pinned SHA-256 and converts the R ``.rds``
files into the folder format :func:`tinyjax.suite.load_openllm_v1` reads (``<bench>.responses.parquet``,
``<bench>.full_scores.csv``). :func:`openllm_v1_suite` builds a :class:`tinyjax.Suite` on that folder once and
keeps it in the same cache, keyed by the data files' hashes, the settings and the tinyjax version.

Where things go (the data cache: ``data_dir`` argument, else ``$TINYJAX_DATA_DIR``, else
``~/.cache/tinyjax/data``)::

    metabench/<commit>/analysis/reduced/*.rds     the downloads, at the repository's own paths
    metabench/<commit>/items/final/*.parquet      (so this folder can itself serve as ``source``)
    openllm_v1/<bench>.responses.parquet          the converted matrices: rows = models, columns <bench>.<item>
    openllm_v1/<bench>.full_scores.csv            columns model, full_benchmark_score_pct
    openllm_v1/manifest.json                      what was converted from what (hashes), licence
    suites/openllm-v1-<key>.tjx                   built suites

Every file is written atomically. A download goes to a temporary file that replaces the final name only after
its hash matched; the converted folder is assembled in a temporary folder and renamed into place whole, so a
download or conversion cut off halfway leaves nothing under a final name.

The data's licence is CC BY-NC-SA 4.0 (metabench's LICENSE); tinyjax itself ships none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Mapping

from tinyjax._atomic import atomic_folder, atomic_write, atomic_write_bytes, atomic_write_text
from tinyjax._progress import logger as _logger
from tinyjax._progress import progress_bar
from tinyjax.errors import ArtifactError, ConfigError, InputError, MissingFileError

log = _logger("tinyjax.suite.fetch")

__all__ = ("DATA_ENV", "FILES", "LICENCE", "METABENCH_COMMIT", "NOTICE", "SUITE_NAMES",
           "data_cache", "fetch_openllm_v1", "is_fetched", "metabench_dir", "openllm_v1_suite", "read_metabench_rds")

METABENCH_REPO = "adkipnis/metabench"
METABENCH_COMMIT = "fe74e29972a01cf8bd600dde1a73e0045d07cabc"
DEFAULT_URL = f"https://raw.githubusercontent.com/{METABENCH_REPO}/{METABENCH_COMMIT}"
DATA_ENV = "TINYJAX_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/tinyjax/data"
SUITE_NAMES = ("openllm-v1",)

# Each benchmark's reduced mirt fit (response data, model names, full scores), at metabench's own paths.
RDS_FILES = {
    "arc": ("analysis/reduced/arc-2PL-MAP-0.005-seed=1.rds",
            "3355657d3e1d7d502ae63ff983f18456fc1196de7da3b798cd82d83b092f159f"),
    "gsm8k": ("analysis/reduced/gsm8k-2PL-EAPsum-0.001-seed=1.rds",
              "dd9d3999d35fd3dab070991d88760259fddec8db219373965fbf7af1002c3cbf"),
    "mmlu": ("analysis/reduced/mmlu-3PL-MAP-0.01-seed=1.rds",
             "2260b9e4545a9a4b6bce2e95bb99e11545cf692237ba2e3acf8416808af9af38"),
    "truthfulqa": ("analysis/reduced/truthfulqa-2PL-EAPsum-0.01-seed=1.rds",
                   "c6556e438fd9ec000a42068494978c01371ceec6907158d64a2854122a20772f"),
    "winogrande": ("analysis/reduced/winogrande-4PL-MAP-0.005-seed=1.rds",
                   "c1723713450691b3c8841e34dd206c0ddc6e029409bf31270401f59a18606ee9"),
}
# The kept items' texts and few-shot prompts (metabench's second item set), for scoring and lm-eval's --samples.
ITEM_FILES = {
    "arc": ("items/final/arc-secondary.parquet", "9d9c68bed08f15fbad06e3de3168649b5e6672266f9798ed84d79b0b31811306"),
    "gsm8k": ("items/final/gsm8k-secondary.parquet",
              "f5f773671ce9d18ff990ccbb83cce1da749cada71fcea3d716d56083515b5734"),
    "hellaswag": ("items/final/hellaswag-secondary.parquet",
                  "6d4440dec842170f98c369b8b4a15d6bdf9457b1cac61926942c89930afb1d85"),
    "mmlu": ("items/final/mmlu-secondary.parquet", "c061258c58ccc3d792e9ef94323328c5955b14a40a5b031082da4dd829285bbf"),
    "truthfulqa": ("items/final/truthfulqa-secondary.parquet",
                   "e2ed619ccc4fe9ede53ccebe3ef49a5355a27bef90c065e2979c9d75c368ab45"),
    "winogrande": ("items/final/winogrande-secondary.parquet",
                   "746f414076376b5e72ad3c4d21a16c9f4310bc43c159da5c0518075a47ecf142"),
}
FILES = {path: sha for path, sha in (*RDS_FILES.values(), *ITEM_FILES.values())}   # the 11 pinned files

LICENCE = "CC BY-NC-SA 4.0"
NOTICE = (f"Open LLM Leaderboard v1 data via metabench (Kipnis et al. 2024, github.com/{METABENCH_REPO} at "
          f"{METABENCH_COMMIT[:7]}), built from the Open LLM Leaderboard v1 (Hugging Face) per-item results. "
          f"Licence: {LICENCE} (attribution, non-commercial, share-alike; "
          "https://creativecommons.org/licenses/by-nc-sa/4.0/). tinyjax ships none of this data.")

CONVERTER_VERSION = 1      # bump when the conversion's output changes: cached folders are then converted again
SCORE_COLUMN = "full_benchmark_score_pct"
_FOLDER = "openllm_v1"
_CHUNK = 1 << 20


# --- where ---------------------------------------------------------------------------------------------------
def data_cache(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """The data cache: ``data_dir`` if given, else ``$TINYJAX_DATA_DIR``, else ``~/.cache/tinyjax/data``."""
  if data_dir is None:
    data_dir = os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR
  return pathlib.Path(os.path.expanduser(os.fspath(data_dir)))


def metabench_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """Where the downloaded metabench files lie, at the repository's own paths (e.g. ``items/final/...``)."""
  return data_cache(data_dir) / "metabench" / METABENCH_COMMIT


def _benchmarks(benchmarks) -> list[str]:
  from tinyjax.suite import OPENLLM_V1
  if benchmarks is None:
    return list(OPENLLM_V1)
  names = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
  bad = [b for b in names if b not in RDS_FILES]
  if bad or not names:
    raise ConfigError(f"benchmarks must be among {list(OPENLLM_V1)}, got {names}")
  return list(dict.fromkeys(names))


def _wanted(benches: list[str]) -> list[str]:
  """The files to fetch for ``benches``: their .rds and item files (and HellaSwag's items with all five)."""
  from tinyjax.suite import OPENLLM_V1
  items = list(ITEM_FILES) if set(benches) >= set(OPENLLM_V1) else benches
  return [RDS_FILES[b][0] for b in benches] + [ITEM_FILES[b][0] for b in items]


# --- download ------------------------------------------------------------------------------------------------
def _sha256(path: pathlib.Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(_CHUNK), b""):
      h.update(chunk)
  return h.hexdigest()


def _source_kind(source) -> tuple[str, str]:
  """("url", base URL) or ("dir", folder) for a ``source`` argument (None: the pinned GitHub URL)."""
  if source is None:
    return "url", DEFAULT_URL
  text = os.fspath(source)
  if urllib.parse.urlparse(text).scheme in ("http", "https", "file"):
    return "url", text.rstrip("/")
  if os.path.isdir(os.path.expanduser(text)):
    return "dir", os.path.expanduser(text)
  raise MissingFileError(f"source {text}: not an existing folder nor an http(s):// or file:// URL")


def _no_network_hint() -> str:
  return (f"without network, copy the files of github.com/{METABENCH_REPO} at commit {METABENCH_COMMIT} "
          "(same paths) to a folder and pass --source DIR (source=DIR in Python)")


@contextlib.contextmanager
def _open_source(kind: str, base: str, rel: str):
  """Yields (readable binary stream, size or None) for ``rel`` under the source."""
  if kind == "dir":
    path = pathlib.Path(base) / rel
    with open(path, "rb") as f:
      yield f, path.stat().st_size
    return
  url = f"{base}/{urllib.parse.quote(rel, safe='/=')}"
  try:
    resp = urllib.request.urlopen(url, timeout=60)
  except urllib.error.HTTPError as err:
    raise MissingFileError(f"could not download {url}: HTTP {err.code} {err.reason}") from None
  except (urllib.error.URLError, OSError) as err:
    reason = getattr(err, "reason", None) or err
    raise MissingFileError(f"could not download {url} ({reason}); {_no_network_hint()}") from None
  with contextlib.closing(resp):
    size = resp.headers.get("Content-Length") if getattr(resp, "headers", None) is not None else None
    yield resp, int(size) if size and str(size).isdigit() else None


def _fetch_file(kind: str, base: str, rel: str, dest: pathlib.Path, expected: str, progress) -> None:
  """Streams ``rel`` from the source into ``dest`` (atomically), checking its SHA-256 before it gets the name."""
  where = f"{base}/{rel}" if kind == "url" else str(pathlib.Path(base) / rel)
  with _open_source(kind, base, rel) as (stream, size), \
      progress_bar(size, desc=pathlib.PurePosixPath(rel).name, progress=progress, unit="B") as bar:
    if hasattr(bar, "unit_scale"):
      bar.unit_scale = True
    h = hashlib.sha256()
    with atomic_write(dest, "wb") as out:
      while True:
        try:
          chunk = stream.read(_CHUNK)
        except (urllib.error.URLError, OSError) as err:
          raise MissingFileError(f"reading {where} failed halfway ({err}); nothing was kept, run again") from None
        if not chunk:
          break
        h.update(chunk)
        out.write(chunk)
        bar.update(len(chunk))
      got = h.hexdigest()
      if got != expected:   # raised inside atomic_write: the temporary file goes, nothing gets the final name
        raise ArtifactError(f"{rel} from {where} has SHA-256 {got}, expected {expected} (pinned for metabench "
                            f"commit {METABENCH_COMMIT[:7]}); it was not kept")


def _missing(benches: list[str], raw: pathlib.Path) -> list[str]:
  """The wanted files not yet under ``raw`` with their pinned hash."""
  return [rel for rel in _wanted(benches) if not ((raw / rel).is_file() and _sha256(raw / rel) == FILES[rel])]


def _download(benches: list[str], raw: pathlib.Path, source, progress) -> list[str]:
  """Makes every wanted file present and verified under ``raw``; returns the paths it fetched."""
  todo = _missing(benches, raw)
  if not todo:
    return []
  kind, base = _source_kind(source)
  if kind == "dir":
    missing = [rel for rel in todo if not (pathlib.Path(base) / rel).is_file()]
    if missing:
      have = [b for b in benches if (pathlib.Path(base) / RDS_FILES[b][0]).is_file()]
      hint = (f"; to fetch only the benchmarks it has, pass --benchmarks {','.join(have)} (benchmarks=... in "
              "Python)") if have else ""
      raise MissingFileError(f"source {base} lacks {len(missing)} file(s): {', '.join(missing)}{hint}")
  for rel in todo:
    _fetch_file(kind, base, rel, raw / rel, FILES[rel], progress)
  return todo


# --- convert -------------------------------------------------------------------------------------------------
def _tag(obj):
  from rdata.parser import RObjectType
  while obj is not None and obj.info.type == RObjectType.REF:
    obj = obj.referenced_object
  if obj is not None and obj.info.type == RObjectType.SYM:
    return obj.value.value.decode()
  return None


def _attributes(obj) -> dict:
  """An R object's attributes (an S4 object's slots) as {name: parsed object}, unconverted."""
  from rdata.parser import RObjectType
  out, pl = {}, obj.attributes
  while pl is not None and pl.info.type == RObjectType.LIST:
    out[_tag(pl.tag)] = pl.value[0]
    pl = pl.value[1]
  return out


def _convert(obj):
  from rdata.conversion import SimpleConverter
  with warnings.catch_warnings():   # rdata warns about classes it has no converter for (data.table, ...)
    warnings.simplefilter("ignore")
    return SimpleConverter().convert(obj)


def _elements(vec, what: str) -> dict:
  """A named R list as {name: parsed element}, unconverted."""
  names = _convert(_attributes(vec).get("names")) if "names" in _attributes(vec) else None
  if names is None or len(names) != len(vec.value):
    raise ArtifactError(f"{what} is not a named R list")
  return {str(n): v for n, v in zip(names, vec.value)}


def read_metabench_rds(path: str | os.PathLike, benchmark: str):
  """Reads one of metabench's reduced ``.rds`` files into the suite's folder format.

  The file is an R list holding a mirt fit. rdata cannot convert the fit (an S4 object) whole, so only three
  parts are converted: the fit's ``Data$data`` (the response matrix, models x items, columns named by item),
  ``theta.train`` (its row names are the models' names, in the matrix's row order) and ``df.score.base`` (each
  model's full-benchmark score in percent, with its train / test set). The rows are the train models, which are
  the rows of the matrix.

  Args:
    path: the ``.rds`` file.
    benchmark: its benchmark name, the prefix of the item ids (``arc.660``, ``mmlu.college_biology.113``).

  Returns:
    ``(responses, full_scores)``: a float32 DataFrame [N, I] of 0/1 (NaN = missing), index ``model`` = the model
    names, columns ``<benchmark>.<item>``; and a DataFrame with columns ``model`` and
    ``full_benchmark_score_pct`` in the same row order.
  """
  import numpy as np
  import pandas as pd
  import rdata

  path = pathlib.Path(path)
  what = f"{path.name}"
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      top = rdata.parser.parse_file(path).object
    parts = _elements(top, what)
    data = _elements(_attributes(parts["model"])["Data"], f"{what}: model@Data")["data"]
    matrix = _convert(data)
    theta = _convert(parts["theta.train"])
    scores = _convert(parts["df.score.base"])
  except (KeyError, AttributeError, TypeError, ValueError, AssertionError, EOFError) as err:
    raise ArtifactError(f"{what}: not a metabench reduced fit this converter knows ({type(err).__name__}: "
                        f"{err})") from None
  values = np.ma.filled(np.ma.asarray(matrix.values if hasattr(matrix, "values") else matrix).astype(np.float64),
                        np.nan)
  if values.ndim != 2:
    raise ArtifactError(f"{what}: the response data is not a matrix (shape {values.shape})")
  values[values == np.iinfo(np.int32).min] = np.nan         # R's NA_integer_
  finite = values[~np.isnan(values)]
  if not np.isin(finite, (0.0, 1.0)).all():
    raise ArtifactError(f"{what}: the response data holds values other than 0/1")
  items = [str(c) for c in matrix.coords[matrix.dims[1]].values]
  models = [str(m) for m in theta.coords[theta.dims[0]].values]
  if len(models) != values.shape[0] or len(items) != values.shape[1]:
    raise ArtifactError(f"{what}: {values.shape[0]} x {values.shape[1]} responses, {len(models)} model names "
                        f"and {len(items)} item names")
  if len(set(models)) != len(models):
    raise ArtifactError(f"{what}: theta.train repeats model names")
  missing = [m for m in models if m not in scores.index]
  if missing or "score" not in scores.columns:
    raise ArtifactError(f"{what}: df.score.base lacks the 'score' of {len(missing)} model(s), e.g. {missing[:3]}")
  full = scores.loc[models, "score"].to_numpy(np.float64)
  if not np.isfinite(full).all() or full.min() < 0 or full.max() > 100:
    raise ArtifactError(f"{what}: full scores outside [0, 100] percent")
  responses = pd.DataFrame(values.astype(np.float32), index=pd.Index(models, name="model"),
                           columns=[f"{benchmark}.{i}" for i in items])
  return responses, pd.DataFrame({"model": models, SCORE_COLUMN: full})


def _write_benchmark(folder: pathlib.Path, benchmark: str, responses, full) -> dict[str, str]:
  """Writes one benchmark's two files into ``folder`` (atomically); returns {file name: sha256}."""
  import io
  buf = io.BytesIO()
  responses.to_parquet(buf)
  names = (f"{benchmark}.responses.parquet", f"{benchmark}.full_scores.csv")
  atomic_write_bytes(folder / names[0], buf.getvalue())
  atomic_write_text(folder / names[1], full.to_csv(index=False))
  return {n: _sha256(folder / n) for n in names}


def _manifest(folder: pathlib.Path) -> dict:
  try:
    doc = json.loads((folder / "manifest.json").read_text())
  except (OSError, ValueError):
    return {}
  return doc if isinstance(doc, dict) and doc.get("converter") == CONVERTER_VERSION else {}


def _ready(folder: pathlib.Path, benches: list[str]) -> dict | None:
  """{bench: its manifest entry} when every benchmark is converted from the pinned file and intact, else None."""
  entries = _manifest(folder).get("benchmarks", {})
  out = {}
  for b in benches:
    e = entries.get(b)
    if not isinstance(e, dict) or e.get("rds_sha256") != RDS_FILES[b][1]:
      return None
    for name, sha in e.get("files", {}).items():
      p = folder / name
      if not p.is_file() or _sha256(p) != sha:
        return None
    out[b] = e
  return out


def is_fetched(data_dir: str | os.PathLike | None = None, benchmarks: Iterable[str] | None = None) -> bool:
  """True when :func:`fetch_openllm_v1` has nothing left to do for ``benchmarks`` (default: all five)."""
  benches = _benchmarks(benchmarks)
  return not _missing(benches, metabench_dir(data_dir)) and _ready(data_cache(data_dir) / _FOLDER, benches) is not None


def _convert_all(root: pathlib.Path, raw: pathlib.Path, benches: list[str], progress) -> pathlib.Path:
  """Converts ``benches`` into ``root/openllm_v1``, keeping what is already converted; the folder is swapped
  in whole, so an interruption leaves the old folder (or none) and never a half-written one."""
  final = root / _FOLDER
  old = _manifest(final).get("benchmarks", {})
  keep = {b: e for b, e in old.items() if b in RDS_FILES and e.get("rds_sha256") == RDS_FILES[b][1]
          and b not in benches and all((final / n).is_file() for n in e.get("files", {}))}
  root.mkdir(parents=True, exist_ok=True)
  with atomic_folder(final) as stage:
    entries = {}
    for b, e in keep.items():
      for name in e["files"]:
        atomic_write_bytes(stage / name, (final / name).read_bytes())
      entries[b] = e
    with progress_bar(len(benches), desc="converting", progress=progress, unit="file") as bar:
      for b in benches:
        rel = RDS_FILES[b][0]
        bar.set_postfix(benchmark=b)
        responses, full = read_metabench_rds(raw / rel, b)
        files = _write_benchmark(stage, b, responses, full)
        entries[b] = {"rds": rel, "rds_sha256": RDS_FILES[b][1], "models": int(responses.shape[0]),
                      "items": int(responses.shape[1]), "files": files}
        bar.update(1)
    doc = {"converter": CONVERTER_VERSION, "source": f"github.com/{METABENCH_REPO}", "commit": METABENCH_COMMIT,
           "licence": LICENCE, "attribution": NOTICE, "benchmarks": entries}
    atomic_write_text(stage / "manifest.json", json.dumps(doc, indent=1) + "\n")
  return final


def fetch_openllm_v1(data_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
                     progress: bool | None = True, benchmarks: Iterable[str] | None = None) -> pathlib.Path:
  """Downloads, verifies and converts metabench's Open LLM Leaderboard v1 data into the cache (once).

  Args:
    data_dir: the data cache (default ``$TINYJAX_DATA_DIR``, else ``~/.cache/tinyjax/data``).
    source: where to read metabench's files: None (github.com/adkipnis/metabench at the pinned commit, raw file
      URLs), another base URL (``http(s)://`` or ``file://``, below which the repository's paths are read), or a
      local folder laid out like the repository (for offline machines).
    progress: show progress bars, and state the data's licence and attribution (a ``tinyjax`` log message at
      WARNING level, so it reaches stderr without any logging set up) when something was fetched or converted;
      False: neither.
    benchmarks: which of arc, gsm8k, truthfulqa, mmlu, winogrande (default: all five). Fewer fetch fewer files,
      e.g. from a local copy that lacks some ``.rds`` files.

  Returns:
    The folder ``<data_dir>/openllm_v1`` that :func:`tinyjax.suite.load_openllm_v1` reads.

  Raises:
    MissingFileError: a file could not be obtained (the message names the URL or the missing paths).
    ArtifactError: a file's SHA-256 differs from the pinned one (the message names the file and both hashes), or
      a ``.rds`` file is not what the converter expects. Nothing is kept under a final name in either case.
  """
  from tinyjax._progress import check_progress
  progress = check_progress(progress)
  benches = _benchmarks(benchmarks)
  root = data_cache(data_dir)
  raw = metabench_dir(data_dir)
  folder = root / _FOLDER
  fetched = _download(benches, raw, source, progress)
  stale = [b for b in benches if _ready(folder, [b]) is None]
  if stale:
    _convert_all(root, raw, stale, progress)
  if (fetched or stale) and progress is not False:
    log.warning("%s", NOTICE)   # the licence, once, when the data arrives (stderr, also without logging set up)
  log.info("Open LLM Leaderboard v1 data (%s) in %s", ", ".join(benches), folder)
  return folder


# --- the suite by name ---------------------------------------------------------------------------------------
def _pick_models(responses, full, n_models: int):
  """The first ``n_models`` models (in the first benchmark's row order) that have every benchmark."""
  first = next(iter(responses.values())).index
  common = set.intersection(*[set(r.index) for r in responses.values()])
  keep = [m for m in first if m in common][:n_models]
  return {b: r.loc[keep] for b, r in responses.items()}, {b: full[b].loc[keep] for b in responses}


def openllm_v1_suite(n_anchors: int | None | Mapping = 100, *, seed: int = 0, level: float = 0.9,
                     benchmarks: Iterable[str] | None = None, n_models: int | None = None,
                     data_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
                     progress: bool | None = True):
  """The tiny Open LLM Leaderboard: fetched if needed, built on first use, then read from the cache.

  ``tj.Suite.load("openllm-v1", ...)`` calls this. The build is :meth:`tinyjax.Suite.fit` with the settings of
  ``tinyjax suite build`` (percent, every model of the data). The built suite is kept in
  ``<data_dir>/suites/`` under a key made of the data files' SHA-256, these settings and
  ``tinyjax.__version__``: a later call with the same settings reads it back instead of building.

  Args:
    n_anchors: kept items per benchmark (an int, a dict per benchmark, or None for every item).
    seed, level: as for :meth:`tinyjax.Suite.fit`.
    benchmarks: which benchmarks (default: all five).
    n_models: build on the first N models that have every chosen benchmark only (default: all). For quick
      trials and tests; a suite built on few models is less accurate.
    data_dir, source: as for :func:`fetch_openllm_v1`.
    progress: progress bars (fetch and build).

  Returns:
    A :class:`tinyjax.Suite` in percent.
  """
  from tinyjax._checks import check_seed
  from tinyjax._version import __version__
  from tinyjax.suite import Suite, load_openllm_v1

  benches = _benchmarks(benchmarks)
  seed = check_seed(seed)
  if n_models is not None and (isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1):
    raise ConfigError(f"n_models must be a positive int or None, got {n_models!r}")
  anchors = dict(sorted(n_anchors.items())) if isinstance(n_anchors, Mapping) else n_anchors
  folder = fetch_openllm_v1(data_dir, source=source, progress=progress, benchmarks=benches)
  entries = _ready(folder, benches)
  if entries is None:   # pragma: no cover - fetch_openllm_v1 just made it ready
    raise ArtifactError(f"{folder}: the converted data is incomplete; run tinyjax suite fetch openllm-v1 again")
  settings = {"n_anchors": anchors, "seed": seed, "level": float(level), "unit": "percent",
              "benchmarks": benches, "n_models": n_models}
  key_doc = {"suite": "openllm-v1", "data": {n: s for b in benches for n, s in sorted(entries[b]["files"].items())},
             "settings": settings, "tinyjax": __version__}
  key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:20]
  path = data_cache(data_dir) / "suites" / f"openllm-v1-{key}.tjx"
  if path.is_file():
    try:
      suite = Suite.load(path)
      log.info("using the suite built earlier: %s", path)
      return suite
    except InputError as err:
      log.warning("rebuilding: the cached suite %s cannot be read (%s)", path, err)
  responses, full = load_openllm_v1(folder, benchmarks=benches)
  if n_models is not None:
    responses, full = _pick_models(responses, full, n_models)
  n = len(set().union(*[set(r.index) for r in responses.values()]))
  log.info("building the openllm-v1 suite once (%d models, %s kept items per benchmark); it is then kept in %s",
           n, "every" if anchors is None else anchors, path.parent)
  suite = Suite.fit(responses, full, n_anchors=anchors, seed=seed, level=level, unit="percent", progress=progress)
  suite.save(path)
  atomic_write_text(path.with_suffix(".json"), json.dumps(key_doc, indent=1) + "\n")
  return suite
