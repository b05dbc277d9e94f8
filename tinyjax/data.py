"""Response matrices and benchmark items in, validated.

Everything tinyjax fits starts here: a models x items matrix of scores, with NaN for "not answered".
``load_responses`` reads that matrix from numpy, pandas, files (.npy, .npz, .csv, .tsv, .parquet, a
folder written by ``datasets.Dataset.save_to_disk``) or a Hugging Face ``datasets.Dataset``, and checks
it. ``from_lm_eval_samples`` builds it from lm-evaluation-harness ``--log_samples`` output.
``load_items`` reads the questions behind the items (tinyBenchmarks format) for LLM scoring.

Rules that hold everywhere in this module:

* Values are 0/1 or scores in [0, 1]; NaN (or None in Python lists) means missing.
* Bad input raises :class:`ResponseError` (a ``ValueError``) whose message names the problem and where
  it is (row/column, model/item id, file and line).
* Nothing is dropped or clipped unless asked for (``drop_empty=True``), and what is dropped is returned
  in ``Responses.dropped`` and reported.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import json
import logging
import numbers
import os
import pathlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = (
    "Dropped",
    "ItemText",
    "ResponseError",
    "Responses",
    "binarize",
    "check_matrix",
    "from_lm_eval_samples",
    "load_items",
    "load_responses",
)

logger = logging.getLogger(__name__)

#: Column names recognised as holding model ids (in a DataFrame, parquet file or ``datasets.Dataset``).
MODEL_COLUMN_NAMES = ("model", "model_id", "model_name", "name")
#: Column names recognised as holding item ids in :func:`load_items` (first match wins).
ITEM_ID_COLUMN_NAMES = ("item_id", "id", "doc_id")
_RESPONSE_SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet", ".pq")
_ITEM_SUFFIXES = (".json", ".jsonl", ".parquet", ".pq", ".csv")
_MAX_NAMES = 10


from tinyjax.errors import ResponseError  # noqa: E402  (re-exported: tinyjax.data.ResponseError)


class Dropped(NamedTuple):
  """What ``load_responses(..., drop_empty=True)`` removed.

  Attributes:
    models: ids of the dropped models (rows without a single observation).
    items: ids of the dropped items (columns without a single observation).
    model_index: positions of the dropped rows in the input matrix.
    item_index: positions of the dropped columns in the input matrix.
  """

  models: tuple[str, ...] = ()
  items: tuple[str, ...] = ()
  model_index: tuple[int, ...] = ()
  item_index: tuple[int, ...] = ()

  def __bool__(self) -> bool:
    return bool(self.models or self.items)


@dataclasses.dataclass(frozen=True, eq=False)
class Responses:
  """A validated models x items response matrix.

  Construct it with :func:`load_responses` (or directly: the constructor runs the same checks, except the
  ``binary`` one). ``values`` is stored as a read-only float64 copy; ``np.asarray(responses)`` gives it.

  Attributes:
    values: [n_models, n_items] float64, entries in [0, 1], NaN = missing. Every row and every column has
      at least one observation.
    model_ids: n_models unique strings, one per row.
    item_ids: n_items unique strings, one per column.
    dropped: what was dropped on request while loading (empty unless ``drop_empty=True`` dropped something).
  """

  values: np.ndarray
  model_ids: list[str]
  item_ids: list[str]
  dropped: Dropped = Dropped()

  @classmethod
  def _trusted(cls, values: np.ndarray, model_ids: list[str], item_ids: list[str], dropped: Dropped) -> Responses:
    """Wraps already validated parts (read-only float64 values that nobody else holds) without checking again."""
    out = object.__new__(cls)
    for name, value in (("values", values), ("model_ids", model_ids), ("item_ids", item_ids), ("dropped", dropped)):
      object.__setattr__(out, name, value)
    return out

  def __post_init__(self):
    values = _as_float_matrix(self.values)
    model_ids = _check_ids(self.model_ids, values.shape[0], "model_ids", "rows")
    item_ids = _check_ids(self.item_ids, values.shape[1], "item_ids", "columns")
    _check_values(values, model_ids, item_ids)
    empty_rows, empty_cols = _empty_lines(values)
    if empty_rows.size or empty_cols.size:
      raise ResponseError(_empty_message(empty_rows, empty_cols, model_ids, item_ids))
    values = np.array(values, dtype=np.float64, copy=True)
    values.setflags(write=False)
    object.__setattr__(self, "values", values)
    object.__setattr__(self, "model_ids", model_ids)
    object.__setattr__(self, "item_ids", item_ids)
    if not isinstance(self.dropped, Dropped):
      object.__setattr__(self, "dropped", Dropped(*self.dropped))

  @property
  def mask(self) -> np.ndarray:
    """[n_models, n_items] bool, True where a value is observed (not NaN)."""
    return ~np.isnan(self.values)

  @property
  def shape(self) -> tuple[int, int]:
    """(n_models, n_items)."""
    return self.values.shape

  @property
  def n_models(self) -> int:
    return self.values.shape[0]

  @property
  def n_items(self) -> int:
    return self.values.shape[1]

  def to_frame(self):
    """The matrix as a pandas DataFrame: index "model" = model ids, columns "item" = item ids, float64."""
    import pandas as pd

    return pd.DataFrame(
        np.array(self.values),
        index=pd.Index(self.model_ids, name="model"),
        columns=pd.Index(self.item_ids, name="item"),
    )

  def __array__(self, dtype=None, copy=None):
    if copy is False and dtype not in (None, np.float64):
      raise ValueError("cannot convert Responses without a copy")
    out = self.values if dtype is None else self.values.astype(dtype)
    return np.array(out, copy=True) if copy else out

  def __repr__(self) -> str:
    observed = float(self.mask.mean())
    extra = f", dropped={self.dropped}" if self.dropped else ""
    return f"Responses(n_models={self.n_models}, n_items={self.n_items}, observed={observed:.1%}{extra})"


# ----------------------------------------------------------------------------------------------------
# load_responses
# ----------------------------------------------------------------------------------------------------


def load_responses(
    source: Any,
    *,
    model_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
    model_column: str | None = None,
    binary: bool = False,
    drop_empty: bool = False,
    verbose: bool = True,
) -> Responses:
  """Reads and validates a models x items response matrix.

  Sources, and where the ids come from:

  * numpy array (or anything ``np.asarray`` takes: a jax array, a list of lists with None for missing):
    no ids; they default to ``model_0, model_1, ...`` and ``item_0, item_1, ...``.
  * pandas DataFrame: index = model ids (a default ``RangeIndex`` counts as no index), columns = item ids.
    A non-numeric column named ``model_column`` or one of ``model``, ``model_id``, ``model_name``, ``name``
    holds the model ids instead.
  * :class:`Responses`: checked again and returned (with new ids if given).
  * a path to ``.npy`` (one 2-D array), ``.npz`` (a single array, or the arrays ``values`` and optionally
    ``model_ids``/``item_ids``), ``.csv``/``.tsv`` (header = item ids; the first column holds the model ids
    when its header is empty or a model column name, or when all of its values are text), ``.parquet``
    (the stored index, else a model id column as for DataFrames, else a first column of strings), or a
    folder written by ``datasets.Dataset.save_to_disk``.
  * a ``datasets.Dataset`` with one row per model: numeric columns are items; the model ids are in the
    column ``model_column`` or one named ``model``/``model_id``/``model_name``/``name``.

  Args:
    source: the data, see above.
    model_ids: n_models ids that replace the source's model ids.
    item_ids: n_items ids that replace the source's item ids.
    model_column: name of the column holding model ids (DataFrame, parquet, csv, Dataset).
    binary: require every observed value to be 0 or 1.
    drop_empty: drop models (rows) and items (columns) without any observation instead of raising. What was
      dropped is in the result's ``dropped`` field and is printed to stderr when ``verbose``.
    verbose: print what was dropped.

  Returns:
    A :class:`Responses` with ``values`` [n_models, n_items] float64 in [0, 1], NaN = missing.

  Raises:
    ResponseError: the matrix is not 2-D or is empty; a value is not a number, is +-inf or lies outside
      [0, 1]; ``binary`` and a value is not 0/1; a row or column has no observation (and not
      ``drop_empty``); ids are duplicated, missing, or their number does not match the matrix.
    FileNotFoundError: ``source`` is a path that does not exist.
  """
  raw, src_models, src_items = _read_source(source, model_column)
  values = _as_float_matrix(
      raw, src_models if model_ids is None else list(model_ids), src_items if item_ids is None else list(item_ids)
  )
  n_models, n_items = values.shape
  if model_ids is None:
    model_ids = src_models if src_models is not None else [f"model_{i}" for i in range(n_models)]
  if item_ids is None:
    item_ids = src_items if src_items is not None else [f"item_{j}" for j in range(n_items)]
  model_ids = _check_ids(model_ids, n_models, "model_ids", "rows")
  item_ids = _check_ids(item_ids, n_items, "item_ids", "columns")
  _check_values(values, model_ids, item_ids)
  if binary:
    _check_binary(values, model_ids, item_ids)

  empty_rows, empty_cols = _empty_lines(values)
  dropped = Dropped()
  if empty_rows.size or empty_cols.size:
    if not drop_empty:
      raise ResponseError(
          _empty_message(empty_rows, empty_cols, model_ids, item_ids)
          + "; pass drop_empty=True to drop them (what is dropped is reported)"
      )
    keep_rows = np.setdiff1d(np.arange(n_models), empty_rows)
    keep_cols = np.setdiff1d(np.arange(n_items), empty_cols)
    if keep_rows.size == 0 or keep_cols.size == 0:
      raise ResponseError(f"every entry of the {n_models} x {n_items} matrix is missing (NaN): nothing is left")
    dropped = Dropped(
        models=tuple(model_ids[i] for i in empty_rows),
        items=tuple(item_ids[j] for j in empty_cols),
        model_index=tuple(int(i) for i in empty_rows),
        item_index=tuple(int(j) for j in empty_cols),
    )
    values = values[np.ix_(keep_rows, keep_cols)]
    model_ids = [model_ids[i] for i in keep_rows]
    item_ids = [item_ids[j] for j in keep_cols]
    _report_dropped(dropped, verbose)
  if isinstance(raw, np.ndarray) and np.may_share_memory(values, raw):
    values = values.copy()  # never hold (or freeze) the caller's array
  values.setflags(write=False)
  return Responses._trusted(values, model_ids, item_ids, dropped)


def check_matrix(values: Any, *, name: str = "responses", binary: bool = False, allow_nan: bool = True,
                 min_rows: int = 1, min_cols: int = 1) -> np.ndarray:
  """The one validation every entry point runs on a response or score matrix given as an array.

  Args:
    values: [n_rows, n_cols] array-like of numbers in [0, 1]; NaN = missing (unless ``allow_nan`` is False).
    name: what the matrix is called in error messages ("responses", "scores", "Y_anchor", ...).
    binary: require every observed value to be 0 or 1.
    allow_nan: accept NaN entries.
    min_rows, min_cols: the least shape the caller can work with.

  Returns:
    [n_rows, n_cols] float64 ndarray (a copy when the input was converted; never the caller's array frozen).

  Raises:
    ResponseError: not 2-D, too small, non-numeric, +-inf, outside [0, 1], NaN where not allowed, or
      non-binary where ``binary``. The message names the first bad entry's row and column.
  """
  try:
    arr = _as_float_matrix(values)
  except ResponseError as err:
    raise ResponseError(str(err).replace("responses", name, 1)) from None
  n, m = arr.shape
  if n < min_rows or m < min_cols:
    raise ResponseError(f"{name} needs at least {min_rows} row(s) and {min_cols} column(s), got shape {arr.shape}")
  rows, cols = [f"row_{i}" for i in range(n)], [f"column_{j}" for j in range(m)]
  try:
    _check_values(arr, rows, cols)
    if binary:
      _check_binary(arr, rows, cols)
  except ResponseError as err:
    raise ResponseError(f"{name}: {err}") from None
  if not allow_nan and np.isnan(arr).any():
    k = np.flatnonzero(np.isnan(arr))
    raise ResponseError(f"{name} contains {k.size} NaN (first at {_position(arr, k[0], rows, cols)}); this "
                        "needs a complete matrix: drop or fill those rows or columns first")
  return arr


def binarize(responses: Any, threshold: float = 0.5) -> Responses:
  """Turns scores in [0, 1] into 0/1: 1 where ``value >= threshold``, 0 below it, NaN stays NaN.

  Args:
    responses: a :class:`Responses` or anything :func:`load_responses` accepts; [n_models, n_items].
    threshold: cut in (0, 1].

  Returns:
    A new :class:`Responses` with the same ids (and ``dropped`` record), values in {0, 1, NaN}.
  """
  if not isinstance(threshold, numbers.Real) or not 0.0 < float(threshold) <= 1.0:
    raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
  r = responses if isinstance(responses, Responses) else load_responses(responses, verbose=False)
  v = r.values
  out = np.where(np.isnan(v), np.nan, (v >= threshold).astype(np.float64))
  out.setflags(write=False)
  return Responses._trusted(out, list(r.model_ids), list(r.item_ids), r.dropped)


# ----------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------


def _read_source(source, model_column):
  """Returns (array-like, model ids or None, item ids or None)."""
  if isinstance(source, Responses):
    return source.values, list(source.model_ids), list(source.item_ids)
  if isinstance(source, (str, os.PathLike)):
    return _read_path(pathlib.Path(source), model_column)
  pd = sys.modules.get("pandas")
  if pd is not None and isinstance(source, pd.DataFrame):
    return _split_frame(source, model_column, where="DataFrame")
  if pd is not None and isinstance(source, pd.Series):
    raise ResponseError(
        f"responses must be 2-D (n_models, n_items), got a pandas Series of length {len(source)}; "
        "use series.to_frame().T for one model"
    )
  ds_mod = sys.modules.get("datasets")
  if ds_mod is not None:
    if isinstance(source, ds_mod.DatasetDict):
      raise ResponseError(f"got a DatasetDict with splits {list(source)}: pass one split, e.g. dsd['test']")
    if isinstance(source, ds_mod.Dataset):
      return _split_frame(source.to_pandas(), model_column, where="Dataset")
    if isinstance(source, ds_mod.IterableDataset):
      raise ResponseError("an IterableDataset cannot be read as a matrix; load it without streaming=True")
  if model_column is not None:
    raise ResponseError("model_column applies to DataFrames, Datasets and csv/parquet files, not to arrays")
  try:
    arr = np.asarray(source)
    if arr.dtype.kind in "USO" and isinstance(source, (list, tuple)):
      arr = np.asarray(source, dtype=object)  # keep numbers as numbers, so the error names the bad entry
  except ValueError as err:  # ragged nested lists
    if isinstance(source, Sequence):
      lengths = [len(row) if isinstance(row, Sequence) else None for row in source]
      first = next((i for i, n in enumerate(lengths) if n != lengths[0]), None)
      if first is not None:
        raise ResponseError(
            f"rows have different lengths: row 0 has {lengths[0]} entries, row {first} has {lengths[first]}"
        ) from err
    raise ResponseError(f"could not read responses as an array: {err}") from err
  return arr, None, None


def _read_path(path: pathlib.Path, model_column):
  if not path.exists():
    raise FileNotFoundError(f"responses file not found: {path}")
  if path.is_dir():
    import datasets

    try:
      ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
      raise ResponseError(
          f"{path} is a folder but not one written by datasets' save_to_disk; "
          f"pass a file ({', '.join(_RESPONSE_SUFFIXES)})"
      ) from err
    return _read_source(ds, model_column)
  suffix = path.suffix.lower()
  if suffix == ".npy":
    try:
      arr = np.load(path, allow_pickle=False)
    except ValueError as err:
      raise ResponseError(f"{path}: cannot read without pickle ({err}); save a numeric array") from err
    if model_column is not None:
      raise ResponseError(f"{path}: model_column does not apply to .npy files")
    return arr, None, None
  if suffix == ".npz":
    if model_column is not None:
      raise ResponseError(f"{path}: model_column does not apply to .npz files")
    return _read_npz(path)
  if suffix in (".csv", ".tsv"):
    return _read_csv(path, model_column, sep="\t" if suffix == ".tsv" else ",")
  if suffix in (".parquet", ".pq"):
    import pandas as pd

    frame = pd.read_parquet(path)
    return _split_frame(frame, model_column, where=str(path), first_string_column=True)
  raise ResponseError(
      f"{path}: unknown file type {suffix!r}; supported: {', '.join(_RESPONSE_SUFFIXES)} "
      "or a folder written by datasets' save_to_disk"
  )


def _read_npz(path):
  try:
    with np.load(path, allow_pickle=False) as z:
      arrays = {k: z[k] for k in z.files}
  except ValueError as err:
    raise ResponseError(f"{path}: cannot read without pickle ({err}); store ids as string arrays") from err
  keys = sorted(arrays)
  if not keys:
    raise ResponseError(f"{path}: the .npz holds no arrays")
  if "values" in arrays:
    extra = [k for k in keys if k not in ("values", "model_ids", "item_ids")]
    if extra:
      raise ResponseError(
          f"{path}: unexpected arrays {extra} next to 'values'; a responses .npz holds 'values' and "
          "optionally 'model_ids' and 'item_ids'"
      )
    ids = {}
    for name in ("model_ids", "item_ids"):
      if name in arrays:
        a = arrays[name]
        if a.ndim != 1:
          raise ResponseError(f"{path}: '{name}' must be 1-D, got shape {a.shape}")
        ids[name] = [str(x) for x in a.tolist()]
    return arrays["values"], ids.get("model_ids"), ids.get("item_ids")
  if len(keys) == 1:
    return arrays[keys[0]], None, None
  raise ResponseError(
      f"{path}: ambiguous .npz with arrays {keys}: store the matrix as 'values' (and optionally "
      "'model_ids', 'item_ids'), or save a single array"
  )


def _is_model_column_name(name) -> bool:
  return isinstance(name, str) and name.strip().lower() in MODEL_COLUMN_NAMES


def _read_csv(path, model_column, sep):
  import csv

  import pandas as pd

  with open(path, newline="", encoding="utf-8") as fh:
    header = next(csv.reader(fh, delimiter=sep), None)
  if not header:
    raise ResponseError(f"{path}: empty csv (no header line with item ids)")
  # pandas renames repeated headers ("q", "q.1"); keep the raw names so duplicates are reported.
  first = header[0]
  if model_column is not None:
    if model_column not in header:
      raise ResponseError(f"{path}: model_column {model_column!r} not in the header {header[:10]}")
    ids_pos = header.index(model_column)
  else:
    ids_pos = None
  text_pos = ids_pos if ids_pos is not None else 0
  frame = pd.read_csv(path, sep=sep, dtype={text_pos: str}, header=0)
  frame.columns = range(frame.shape[1])
  if frame.shape[1] != len(header):
    raise ResponseError(f"{path}: the header has {len(header)} names but rows have {frame.shape[1]} fields")
  if ids_pos is None:
    col = frame[0]
    observed = col.dropna()
    numeric = pd.to_numeric(observed, errors="coerce").notna().to_numpy()
    header_says_ids = first.strip() == "" or _is_model_column_name(first)
    if header_says_ids or (len(observed) and not numeric.any()):
      ids_pos = 0
    elif not numeric.all():
      bad = int(observed.index[~numeric][0])
      raise ResponseError(
          f"{path}: first column {first!r} mixes numbers and text (row {bad}: {col[bad]!r}); if it holds model "
          "ids, name its header 'model' or pass model_column=; otherwise fix the non-numeric value"
      )
    else:  # numbers: read the column again as numbers
      frame[0] = pd.to_numeric(col)
  ids = None
  if ids_pos is not None:
    ids = _column_ids(frame[ids_pos], f"{path}: model id column {header[ids_pos]!r}")
    frame = frame.drop(columns=[ids_pos])
  item_ids = [header[c] for c in frame.columns]
  for j, c in enumerate(frame.columns):
    col = frame[c]
    if _numeric_dtype(col):
      continue
    parsed = pd.to_numeric(col, errors="coerce")
    bad = col.notna().to_numpy() & parsed.isna().to_numpy()
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      raise ResponseError(
          f"{path}: non-numeric value {col.iloc[i]!r} at row {i}{_id_hint(ids, i, 'model')}, column {j} "
          f"(item {item_ids[j]!r}) (csv line {i + 2}); values must be numbers, empty or NaN for missing"
      )
    frame[c] = parsed
  return frame.to_numpy(dtype=np.float64, na_value=np.nan), ids, item_ids


def _column_ids(col, where) -> list[str]:
  missing = np.flatnonzero(col.isna().to_numpy())
  if missing.size:
    raise ResponseError(f"{where} has a missing id at row {int(missing[0])}")
  return [str(x) for x in col.tolist()]


def _split_frame(frame, model_column, *, where, first_string_column=False):
  """DataFrame -> (values-like, model ids or None, item ids)."""
  import pandas as pd

  ids = None
  if model_column is not None:
    if model_column not in frame.columns:
      raise ResponseError(f"{where}: model_column {model_column!r} not among the columns {list(frame.columns)[:10]}")
    ids = _column_ids(frame[model_column], f"{where}: model id column {model_column!r}")
    frame = frame.drop(columns=[model_column])
  else:
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    if not default_index:
      ids = _column_ids(frame.index.to_series(), f"{where}: index")
    else:
      text_cols = [c for c in frame.columns if not _numeric_dtype(frame[c])]
      named = [c for c in text_cols if _is_model_column_name(c)]
      if len(named) > 1:
        raise ResponseError(f"{where}: several model id columns {named}; choose one with model_column=")
      if named:
        ids_col = named[0]
      elif first_string_column and frame.shape[1] and text_cols[:1] == [frame.columns[0]] and all(
          isinstance(x, str) for x in frame[frame.columns[0]].dropna()
      ):
        ids_col = frame.columns[0]
      else:
        ids_col = None
      if ids_col is not None:
        ids = _column_ids(frame[ids_col], f"{where}: model id column {ids_col!r}")
        frame = frame.drop(columns=[ids_col])
  item_ids = [str(c) for c in frame.columns]
  if all(_numeric_dtype(dt) for dt in frame.dtypes):
    return frame.to_numpy(dtype=np.float64, na_value=np.nan), ids, item_ids
  values = np.empty(frame.shape, dtype=np.float64)
  for j, name in enumerate(frame.columns):
    col = frame.iloc[:, j]
    if _numeric_dtype(col):
      values[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
      values[:, j] = _object_column(col.to_numpy(dtype=object), j, ids, item_ids, where)
  return values, ids, item_ids


def _numeric_dtype(col_or_dtype) -> bool:
  import pandas as pd

  dt = getattr(col_or_dtype, "dtype", col_or_dtype)
  return (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)) and not pd.api.types.is_complex_dtype(
      dt
  )


def _object_column(col: np.ndarray, j, model_ids, item_ids, where) -> np.ndarray:
  out = np.empty(col.shape[0], dtype=np.float64)
  for i, x in enumerate(col):
    v = _number_or_none(x)
    if v is _BAD:
      raise ResponseError(
          f"{where}: non-numeric value {x!r} ({type(x).__name__}) at row {i}{_id_hint(model_ids, i, 'model')}, "
          f"column {j}{_id_hint(item_ids, j, 'item')}; values must be numbers (0/1 or scores in [0, 1]), "
          "NaN/None for missing"
      )
    out[i] = v
  return out


_BAD = object()


def _number_or_none(x):
  """float(x) for a real number, NaN for None/NA, _BAD otherwise (strings are never parsed)."""
  if x is None or type(x).__name__ in ("NAType", "NaTType"):
    return np.nan
  if isinstance(x, numbers.Real) and not isinstance(x, (np.datetime64, np.timedelta64)):
    return float(x)
  return _BAD


def _id_hint(ids, k, what) -> str:
  return f" ({what} {ids[k]!r})" if ids is not None and k < len(ids) else ""


def _as_float_matrix(raw, model_ids=None, item_ids=None) -> np.ndarray:
  """array-like -> 2-D float64 ndarray, with errors for bad shapes and non-numeric entries."""
  arr = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
  if arr.ndim != 2:
    hint = "; for a single model use values[None, :]" if arr.ndim == 1 else ""
    raise ResponseError(f"responses must be 2-D (n_models, n_items), got shape {arr.shape}{hint}")
  if arr.size == 0:
    raise ResponseError(f"responses are empty: shape {arr.shape} (need at least one model and one item)")
  kind = arr.dtype.kind
  if kind in "biuf":
    return arr.astype(np.float64, copy=False)
  if kind == "c":
    raise ResponseError(f"responses must be real numbers, got complex dtype {arr.dtype}")
  if kind in "OUSV":
    flat = arr.reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.float64)
    for k, x in enumerate(flat):
      v = _number_or_none(x) if kind == "O" else _BAD
      if v is _BAD:
        x = x.item() if isinstance(x, np.generic) else x
        i, j = divmod(k, arr.shape[1])
        raise ResponseError(
            f"non-numeric value {x!r} ({type(x).__name__}) at row {i}{_id_hint(model_ids, i, 'model')}, column "
            f"{j}{_id_hint(item_ids, j, 'item')}; values must be numbers (0/1 or scores in [0, 1]), "
            "NaN/None for missing (strings are not parsed)"
        )
      out[k] = v
    return out.reshape(arr.shape)
  raise ResponseError(f"responses must be numbers, got dtype {arr.dtype}")


def _check_ids(ids, n: int, name: str, axis: str) -> list[str]:
  if isinstance(ids, (str, bytes)):
    raise ResponseError(f"{name} must be a sequence of strings, got a single string {ids!r}")
  ids = list(ids.tolist() if isinstance(ids, np.ndarray) else ids)
  if len(ids) != n:
    raise ResponseError(f"{name} has {len(ids)} entries but the matrix has {n} {axis}")
  out = []
  for k, x in enumerate(ids):
    if x is None or (isinstance(x, float) and np.isnan(x)):
      raise ResponseError(f"{name}[{k}] is missing ({x!r})")
    out.append(x if isinstance(x, str) else str(x))
  if len(set(out)) != len(out):
    seen, dups = set(), []
    for x in out:
      if x in seen and x not in dups:
        dups.append(x)
      seen.add(x)
    where = {d: [k for k, x in enumerate(out) if x == d] for d in dups[:_MAX_NAMES]}
    detail = ", ".join(f"{d!r} at {axis} {pos}" for d, pos in where.items())
    raise ResponseError(f"duplicated {name}: {len(dups)} id(s) occur more than once: {detail}{_more(dups)}")
  return out


def _more(names) -> str:
  return f" ... and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""


def _position(values, flat_k, model_ids, item_ids) -> str:
  i, j = divmod(int(flat_k), values.shape[1])
  return f"row {i} (model {model_ids[i]!r}), column {j} (item {item_ids[j]!r})"


def _check_values(values, model_ids, item_ids):
  lo, hi = np.fmin.reduce(values, axis=None), np.fmax.reduce(values, axis=None)  # NaN-skipping, no temporaries
  if not (lo < 0.0 or hi > 1.0):  # also true when everything is NaN
    return
  inf = np.isinf(values)
  if inf.any():
    k = np.flatnonzero(inf)
    raise ResponseError(
        f"{k.size} infinite value(s) (+-inf); first {float(values.flat[k[0]])} at "
        f"{_position(values, k[0], model_ids, item_ids)}"
        "; use NaN for missing"
    )
  with np.errstate(invalid="ignore"):
    out = (values < 0.0) | (values > 1.0)
  if out.any():
    k = np.flatnonzero(out)
    raise ResponseError(
        f"{k.size} value(s) outside [0, 1]; first {float(values.flat[k[0]])!r} at "
        f"{_position(values, k[0], model_ids, item_ids)}. Responses are 0/1 or scores in [0, 1]; nothing is clipped"
    )


def _check_binary(values, model_ids, item_ids):
  bad = ~np.isnan(values) & (values != 0.0) & (values != 1.0)
  if bad.any():
    k = np.flatnonzero(bad)
    raise ResponseError(
        f"binary=True but {k.size} value(s) are not 0/1; first {float(values.flat[k[0]])!r} at "
        f"{_position(values, k[0], model_ids, item_ids)} (use binarize() to threshold scores)"
    )


def _empty_lines(values):
  observed = ~np.isnan(values)
  return np.flatnonzero(~observed.any(axis=1)), np.flatnonzero(~observed.any(axis=0))


def _name_list(ids, positions) -> str:
  shown = [ids[int(p)] for p in positions[:_MAX_NAMES]]
  return ", ".join(repr(s) for s in shown) + _more(positions)


def _empty_message(rows, cols, model_ids, item_ids) -> str:
  parts = []
  if rows.size:
    parts.append(f"{rows.size} model(s) with no observations (all NaN): {_name_list(model_ids, rows)}")
  if cols.size:
    parts.append(f"{cols.size} item(s) with no observations (all NaN): {_name_list(item_ids, cols)}")
  return "; ".join(parts)


def _report_dropped(dropped: Dropped, verbose: bool):
  parts = []
  for what, ids in (("model(s)", dropped.models), ("item(s)", dropped.items)):
    if ids:
      parts.append(f"{len(ids)} {what} with no observations: {_name_list(ids, range(len(ids)))}")
  msg = "tinyjax.data: dropped " + "; dropped ".join(parts)
  logger.info(msg)
  if verbose:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples
# ----------------------------------------------------------------------------------------------------


class _SamplesFile(NamedTuple):
  path: pathlib.Path
  task: str
  stamp: str
  model: str


def from_lm_eval_samples(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    task: str | Sequence[str] | None = None,
    metric: str | Mapping[str, str] = "acc",
    filter: str | Mapping[str, str] | None = None,  # noqa: A002 (lm-eval's own word)
    on_duplicate: str = "error",
    verbose: bool = True,
) -> Responses:
  """Builds a models x items matrix from lm-evaluation-harness ``--log_samples`` output.

  lm-eval (``lm_eval ... --output_path OUT --log_samples``) writes, per model run, a folder
  ``OUT/<model_name_sanitized>/`` with ``results_<timestamp>.json`` and one ``samples_<task>_<timestamp>.jsonl``
  per task. Each line of a samples file is one document: ``doc_id``, ``doc``, ``target``, ``arguments``,
  ``resps``, ``filtered_resps``, ``filter`` (the filter pipeline, ``"none"`` for most tasks), ``metrics`` (the
  metric names) and each metric's value as a top-level key (``"acc": 1.0``). The task name is the file name
  between ``samples_`` and the last ``_`` (lm-eval's own rule).

  * Model id: ``model_name`` from the ``results_<same timestamp>.json`` beside the samples file (else the only
    results file there, else ``config.model_args``' ``pretrained=``/``model=``/... value), else the folder
    name. Runs in different folders with the same model id are merged into one row (different tasks), or
    are duplicates (same task).
  * Item id: ``"<task>/<doc_id>"``. Columns are grouped by task (in the order of ``task`` when given, else
    sorted by name), doc ids ascending within a task; the union over models. A model that lacks a document
    gets NaN there.
  * Filters: tasks such as gsm8k log each document once per filter (``strict-match``, ``flexible-extract``).
    ``filter`` picks one (a name, or a dict task -> name); by default the first filter in the first samples
    file of the task (files in sorted order) is used, and the choice is printed when ``verbose``.
  * Repeated runs of one model on one task: an error naming them, or with ``on_duplicate="last"`` the run
    with the latest timestamp is used.

  Args:
    paths: samples files and/or folders (searched recursively for ``samples_*.jsonl``).
    task: task name(s) to keep; glob patterns allowed (``"mmlu_*"``). None keeps every task found.
    metric: per-document metric to read (``"acc"``, ``"acc_norm"``, ``"exact_match"``, ...), or a dict
      task -> metric. Values must be numbers in [0, 1] (bools count as 0/1).
    filter: filter name, or a dict task -> filter name; see above.
    on_duplicate: ``"error"`` or ``"last"``.
    verbose: print a one-line summary and the filter choices to stderr.

  Returns:
    :class:`Responses` with values [n_models, n_items] float64, NaN where a model lacks a document. Rows follow
    the order in which models first appear: ``paths`` in the given order, the files of a folder sorted by path.

  Raises:
    ResponseError: no samples files, unparseable lines, a missing metric or filter, non-scalar metric values,
      duplicate runs or documents, or any check of :func:`load_responses`.
    FileNotFoundError: a path does not exist.
  """
  if on_duplicate not in ("error", "last"):
    raise ValueError(f"on_duplicate must be 'error' or 'last', got {on_duplicate!r}")
  files = _find_samples_files(paths)
  tasks_found = sorted({f.task for f in files})
  if task is None:
    tasks = tasks_found
  else:
    patterns = [task] if isinstance(task, str) else list(task)
    tasks = []
    for pat in patterns:
      hits = [t for t in tasks_found if fnmatch.fnmatchcase(t, pat)]
      if not hits:
        raise ResponseError(f"task {pat!r} not found; tasks in the samples files: {tasks_found}")
      tasks.extend(t for t in hits if t not in tasks)
  files = [f for f in files if f.task in tasks]

  # One run per (model, task).
  runs: dict[tuple[str, str], list[_SamplesFile]] = {}
  for f in files:
    runs.setdefault((f.model, f.task), []).append(f)
  chosen: dict[tuple[str, str], _SamplesFile] = {}
  for key, group in runs.items():
    if len(group) > 1 and on_duplicate == "error":
      listing = ", ".join(str(g.path) for g in group)
      raise ResponseError(
          f"model {key[0]!r} has {len(group)} runs of task {key[1]!r}: {listing}; remove all but one or pass "
          "on_duplicate='last' to use the latest timestamp"
      )
    chosen[key] = max(group, key=lambda g: (g.stamp, str(g.path)))

  metric_of = _per_task(metric, tasks, "metric")
  filter_of = _per_task(filter, tasks, "filter") if filter is not None else {}
  model_order: list[str] = []
  for f in files:
    if f.model not in model_order:
      model_order.append(f.model)

  notes = []
  scores: dict[tuple[str, str], dict[Any, float]] = {}
  for t in tasks:
    task_files = sorted((chosen[(m, t)] for m in model_order if (m, t) in chosen), key=lambda f: str(f.path))
    for k, f in enumerate(task_files):
      records = _read_jsonl(f.path)
      if not records:
        raise ResponseError(f"{f.path}: no samples in the file")
      filters = list(dict.fromkeys(r.get("filter", "none") for _, r in records))
      if t not in filter_of:
        filter_of[t] = filters[0]
        if len(filters) > 1:
          notes.append(f"task {t!r} has filters {filters}; using {filters[0]!r} (pass filter= to choose)")
      want = filter_of[t]
      if want not in filters:
        raise ResponseError(f"{f.path}: filter {want!r} not found for task {t!r}; filters in the file: {filters}")
      scores[(f.model, t)] = _metric_values(f, records, want, metric_of[t])

  item_ids, columns = [], {}
  for t in tasks:
    docs = set()
    for m in model_order:
      docs.update(scores.get((m, t), {}))
    for d in sorted(docs, key=_doc_sort_key):
      columns[(t, d)] = len(item_ids)
      item_ids.append(f"{t}/{d}")
  values = np.full((len(model_order), len(item_ids)), np.nan)
  for i, m in enumerate(model_order):
    for t in tasks:
      for d, v in scores.get((m, t), {}).items():
        values[i, columns[(t, d)]] = v
  if verbose:
    for note in notes:
      print(f"tinyjax.data: {note}", file=sys.stderr)
    print(
        f"tinyjax.data: read {len(chosen)} samples file(s): {len(model_order)} model(s) x {len(item_ids)} item(s) "
        f"from {len(tasks)} task(s)",
        file=sys.stderr,
    )
  return load_responses(values, model_ids=model_order, item_ids=item_ids, verbose=verbose)


def _per_task(value, tasks, name) -> dict[str, str]:
  if isinstance(value, str):
    return {t: value for t in tasks}
  if isinstance(value, Mapping):
    missing = [t for t in tasks if t not in value]
    if missing:
      raise ResponseError(f"{name} dict has no entry for task(s) {missing}; it has {sorted(value)}")
    return {t: str(value[t]) for t in tasks}
  raise ValueError(f"{name} must be a string or a dict task -> {name}, got {type(value).__name__}")


def _doc_sort_key(d):
  return (0, d, "") if isinstance(d, int) else (1, 0, str(d))


def _find_samples_files(paths) -> list[_SamplesFile]:
  if isinstance(paths, (str, os.PathLike)):
    paths = [paths]
  found: list[pathlib.Path] = []
  for p in paths:
    p = pathlib.Path(p)
    if not p.exists():
      raise FileNotFoundError(f"lm-eval output not found: {p}")
    if p.is_dir():
      hits = sorted(p.rglob("samples_*.jsonl"))
      if not hits:
        raise ResponseError(f"{p}: no samples_<task>_<timestamp>.jsonl files (was lm_eval run with --log_samples?)")
      found.extend(hits)
    else:
      found.append(p)
  out, seen = [], set()
  for p in found:
    key = p.resolve()
    if key in seen:
      continue
    seen.add(key)
    name = p.name
    if not (name.startswith("samples_") and name.endswith(".jsonl")) or name.count("_") < 2:
      raise ResponseError(f"{p}: not an lm-eval samples file (expected samples_<task>_<timestamp>.jsonl)")
    stem = name[: -len(".jsonl")]
    task, stamp = stem[len("samples_") : stem.rfind("_")], stem[stem.rfind("_") + 1 :]
    if not task:
      raise ResponseError(f"{p}: no task name in the file name (expected samples_<task>_<timestamp>.jsonl)")
    out.append(_SamplesFile(p, task, stamp, _model_name(p.parent, stamp)))
  return out


def _model_name(folder: pathlib.Path, stamp: str) -> str:
  """model_name from results_<stamp>.json (else the only results file), else the folder name."""
  candidates = [folder / f"results_{stamp}.json"]
  if not candidates[0].exists():
    candidates = sorted(folder.glob("results_*.json"))
  names = []
  for c in candidates:
    if c.exists():
      try:
        name = _name_from_results(json.loads(c.read_text(encoding="utf-8")))
      except (OSError, json.JSONDecodeError) as err:
        raise ResponseError(f"{c}: unreadable results file ({err})") from err
      if name:
        names.append(name)
  names = list(dict.fromkeys(names))
  if len(names) == 1:
    return names[0]
  if len(names) > 1:
    raise ResponseError(
        f"{folder}: results files name several models {names} and none has the samples' timestamp {stamp!r}; "
        "put each model's run in its own folder"
    )
  return folder.name


def _name_from_results(results: dict) -> str | None:
  name = results.get("model_name")
  if isinstance(name, str) and name:
    return name
  config = results.get("config") or {}
  args = config.get("model_args")
  prefixes = ("peft", "delta", "pretrained", "model", "path", "engine")  # lm-eval's own order
  if isinstance(args, str):
    pairs = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
    args = {k.strip(): v.strip() for k, v in pairs.items()}
  if isinstance(args, Mapping):
    for key in prefixes:
      if isinstance(args.get(key), str) and args[key]:
        return args[key]
  return None


def _read_jsonl(path: pathlib.Path) -> list[tuple[int, dict]]:
  records = []
  with open(path, encoding="utf-8") as fh:
    for lineno, line in enumerate(fh, start=1):
      if not line.strip():
        continue
      try:
        rec = json.loads(line)
      except json.JSONDecodeError as err:
        raise ResponseError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
      if not isinstance(rec, dict):
        raise ResponseError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
      records.append((lineno, rec))
  return records


def _metric_values(f: _SamplesFile, records, want_filter, metric) -> dict[Any, float]:
  out: dict[Any, float] = {}
  for lineno, rec in records:
    if rec.get("filter", "none") != want_filter:
      continue
    where = f"{f.path}:{lineno}"
    if "doc_id" not in rec:
      raise ResponseError(f"{where}: no 'doc_id' in the sample")
    doc = rec["doc_id"]
    if metric not in rec:
      listed = rec.get("metrics")
      if not isinstance(listed, list):
        listed = sorted(k for k, v in rec.items() if isinstance(v, (int, float)) and k != "doc_id")
      raise ResponseError(f"{where}: metric {metric!r} not logged for task {f.task!r}; available: {listed}")
    v = rec[metric]
    if isinstance(v, bool):
      v = float(v)
    elif not isinstance(v, (int, float)):
      raise ResponseError(
          f"{where}: metric {metric!r} of task {f.task!r} is {type(v).__name__} {v!r:.60}, not a per-document "
          "number (corpus-level metrics such as bleu/f1 log raw pairs); choose a per-document metric"
      )
    if doc in out:
      raise ResponseError(f"{where}: doc_id {doc!r} appears twice for filter {want_filter!r}")
    out[doc] = float(v)
  return out


# ----------------------------------------------------------------------------------------------------
# Items for scoring
# ----------------------------------------------------------------------------------------------------


class ItemText(NamedTuple):
  """One multiple-choice item, ready for scoring.

  Attributes:
    item_id: the id (from an id column, else the row's position in the dataset, as a string).
    question: the context the model continues, e.g. tinyBenchmarks' ``input_formatted`` few-shot prompt
      ending in ``"Answer:"``.
    choices: the answer options, in order.
    answer: index of the correct option in ``choices``.
  """

  item_id: str
  question: str
  choices: list[str]
  answer: int


def load_items(
    source: Any,
    *,
    split: str | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
    question_column: str = "input_formatted",
    choices_column: str = "choices",
    answer_column: str = "answer",
    id_column: str | None = None,
    config: str | None = None,
) -> list[ItemText]:
  """Loads multiple-choice items (question, choices, answer) in the tinyBenchmarks format.

  Supported layouts:

  * tinyBenchmarks / MMLU style (``tinyBenchmarks/tinyMMLU``): ``input_formatted`` (the full prompt),
    ``choices`` (list of strings), ``answer`` (int index, a ClassLabel in the Hub dataset).
  * ARC style (``tinyBenchmarks/tinyAI2_arc``, ``allenai/ai2_arc``): ``choices`` is a dict
    ``{"text": [...], "label": ["A", "B", ...]}`` and the answer is ``answerKey``, a label such as ``"C"``
    (or ``"3"``), turned into its position in ``label``. When ``answer_column`` is left at ``"answer"`` and the
    data has no ``answer`` column but has ``answerKey``, ``answerKey`` is used.
  * A string answer without labels: a letter ``A``.. counts as 0.., a digit string as that index.
  * In csv files the choices column must hold a JSON list (or a Python list literal).

  Args:
    source: a ``datasets.Dataset`` or ``DatasetDict``; a local path: a folder written by ``save_to_disk``, or a
      ``.json``/``.jsonl``/``.parquet``/``.csv`` file; or a Hugging Face Hub name such as
      ``"tinyBenchmarks/tinyMMLU"`` (loaded with ``datasets.load_dataset(name, config, split=split)``, only when
      the string is not an existing local path).
    split: the split of a DatasetDict or Hub dataset; may be omitted when there is a single split.
    indices: row positions to load, in this order (e.g. a tiny benchmark's anchors). None loads all rows.
    question_column: column with the prompt/context.
    choices_column: column with the options.
    answer_column: column with the correct answer.
    id_column: column with item ids. None uses the first of ``item_id``, ``id``, ``doc_id`` present, else the
      row position.
    config: Hub dataset configuration name (e.g. ``"all"``), for Hub names only.

  Returns:
    list of :class:`ItemText`, one per selected row, in ``indices`` order.

  Raises:
    ValueError: a missing column, split or index out of range, an unusable choices/answer value.
    FileNotFoundError: a path-like string (with a file suffix, or starting with ``.``, ``/`` or ``~``) that does
      not exist.
  """
  table = _item_table(source, split, config)
  columns = list(table["columns"])
  n = table["n"]
  for name, col in (("question_column", question_column), ("choices_column", choices_column)):
    if col not in columns:
      hint = ""
      if name == "question_column":
        hint = " (tinyBenchmarks sets have 'input_formatted'; plain sets often 'question')"
      raise ValueError(f"{name} {col!r} not in the data; columns: {columns}{hint}")
  if answer_column not in columns:
    if answer_column == "answer" and "answerKey" in columns:
      answer_column = "answerKey"
    else:
      raise ValueError(f"answer_column {answer_column!r} not in the data; columns: {columns}")
  if id_column is not None and id_column not in columns:
    raise ValueError(f"id_column {id_column!r} not in the data; columns: {columns}")
  if id_column is None:
    id_column = next((c for c in ITEM_ID_COLUMN_NAMES if c in columns), None)

  if indices is None:
    rows = list(range(n))
  else:
    idx = np.asarray(indices)
    if idx.ndim != 1:
      raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
    if idx.size and idx.dtype.kind not in "iu":
      raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
      raise ValueError(f"indices out of range [0, {n}): {idx[bad][:_MAX_NAMES].tolist()}")
    rows = [int(i) for i in idx]
  records = table["get"](rows)
  return [
      _item_from_record(rec, r, question_column, choices_column, answer_column, id_column)
      for r, rec in zip(rows, records)
  ]


def _item_table(source, split, config) -> dict:
  """-> {"columns", "n", "get": rows -> list[dict]} for a Dataset, DataFrame or local file."""
  ds_mod = sys.modules.get("datasets")
  pd = sys.modules.get("pandas")
  if isinstance(source, (str, os.PathLike)):
    path = pathlib.Path(source).expanduser()
    if path.exists():
      if path.is_dir():
        import datasets

        return _item_table(datasets.load_from_disk(str(path)), split, None)
      return _item_file(path, split)
    text = str(source)
    if isinstance(source, os.PathLike) or path.suffix.lower() in _ITEM_SUFFIXES or text.startswith((".", "/", "~")):
      raise FileNotFoundError(f"items file not found: {source}")
    import datasets

    loaded = datasets.load_dataset(text, config, split=split)
    return _item_table(loaded, None, None)
  if ds_mod is not None and isinstance(source, ds_mod.DatasetDict):
    splits = list(source)
    if split is None:
      if len(splits) != 1:
        raise ValueError(f"the dataset has splits {splits}: pass split=")
      split = splits[0]
    if split not in source:
      raise ValueError(f"split {split!r} not found; splits: {splits}")
    return _item_table(source[split], None, None)
  if ds_mod is not None and isinstance(source, ds_mod.Dataset):
    if split is not None and source.split is not None and str(source.split) != split:
      raise ValueError(f"split={split!r} given, but the Dataset is split {str(source.split)!r}")
    return {
        "columns": source.column_names,
        "n": len(source),
        "get": lambda rows: source.select(rows).to_list() if rows else [],
    }
  if pd is not None and isinstance(source, pd.DataFrame):
    if split is not None:
      raise ValueError("split applies to datasets with splits, not to a DataFrame")
    return {
        "columns": [str(c) for c in source.columns],
        "n": len(source),
        "get": lambda rows: source.iloc[rows].to_dict(orient="records"),
    }
  raise TypeError(
      f"cannot read items from {type(source).__name__}: pass a datasets.Dataset, a local path or a Hub name"
  )


def _item_file(path: pathlib.Path, split) -> dict:
  import pandas as pd

  if split is not None:
    raise ValueError(f"split={split!r} applies to datasets with splits, not to the file {path}")
  suffix = path.suffix.lower()
  if suffix == ".jsonl":
    frame = pd.read_json(path, lines=True)
  elif suffix == ".json":
    try:
      frame = pd.read_json(path)
    except ValueError:
      frame = pd.read_json(path, lines=True)
  elif suffix in (".parquet", ".pq"):
    frame = pd.read_parquet(path)
  elif suffix == ".csv":
    frame = pd.read_csv(path)
  else:
    raise ValueError(f"{path}: unknown items file type {suffix!r}; supported: {', '.join(_ITEM_SUFFIXES)}")
  return _item_table(frame, None, None)


def _item_from_record(rec, row, question_column, choices_column, answer_column, id_column) -> ItemText:
  item_id = str(row) if id_column is None else str(rec[id_column])
  where = f"row {row} (item {item_id!r})"
  question = rec[question_column]
  if not isinstance(question, str):
    raise ValueError(f"{where}: {question_column!r} must be a string, got {type(question).__name__}")
  choices, labels = _parse_choices(rec[choices_column], where, choices_column)
  answer = _parse_answer(rec[answer_column], labels, len(choices), where, answer_column)
  return ItemText(item_id, question, choices, answer)


def _as_str_list(x, where, what) -> list[str]:
  if isinstance(x, np.ndarray):
    x = x.tolist()
  if not isinstance(x, (list, tuple)) or not all(isinstance(s, str) for s in x):
    raise ValueError(f"{where}: {what} must be a list of strings, got {x!r:.80}")
  return list(x)


def _parse_choices(raw, where, column):
  if isinstance(raw, str):  # csv: a serialized list
    try:
      raw = json.loads(raw)
    except json.JSONDecodeError:
      try:
        raw = ast.literal_eval(raw)
      except (ValueError, SyntaxError) as err:
        raise ValueError(f"{where}: {column!r} is a string that is not a list literal: {raw!r:.80}") from err
  labels = None
  if isinstance(raw, Mapping):
    if "text" not in raw:
      raise ValueError(f"{where}: {column!r} is a dict without 'text' (ARC style is {{'text': [...], 'label': [...]}})")
    choices = _as_str_list(raw["text"], where, f"{column}['text']")
    if raw.get("label") is not None:
      labels = [str(s) for s in _as_str_list(raw["label"], where, f"{column}['label']")]
      if len(labels) != len(choices):
        raise ValueError(f"{where}: {len(choices)} choices but {len(labels)} labels")
  else:
    choices = _as_str_list(raw, where, column)
  if not choices:
    raise ValueError(f"{where}: no choices")
  return choices, labels


def _parse_answer(raw, labels, n_choices, where, column) -> int:
  if isinstance(raw, (bool, np.bool_)):
    raise ValueError(f"{where}: {column!r} is a bool ({raw!r}), expected an index or a label")
  if isinstance(raw, numbers.Integral):
    answer = int(raw)
  elif isinstance(raw, numbers.Real) and float(raw).is_integer():
    answer = int(raw)
  elif isinstance(raw, str):
    key = raw.strip()
    if labels is not None:
      if key not in labels:
        raise ValueError(f"{where}: answer {raw!r} is not one of the labels {labels}")
      answer = labels.index(key)
    elif len(key) == 1 and "A" <= key <= "Z":
      answer = ord(key) - ord("A")
    elif key.isdigit():
      answer = int(key)
    else:
      raise ValueError(f"{where}: cannot read answer {raw!r} (expected an index, a letter A.. or a label)")
  else:
    raise ValueError(f"{where}: cannot read answer {raw!r} of type {type(raw).__name__}")
  if not 0 <= answer < n_choices:
    raise ValueError(f"{where}: answer index {answer} out of range for {n_choices} choices")
  return answer
