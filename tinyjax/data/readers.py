"""Readers of response matrices: numpy, pandas, files (.npy, .npz, .csv, .tsv, .parquet), ``datasets``.

:func:`read_source` turns a source into ``(raw values, model ids or None, item ids or None)``; the checks
are :mod:`tinyjax.data.responses`' job. Values are never parsed from strings.
"""

from __future__ import annotations

import numbers
import os
import pathlib
import sys
import zipfile
from collections.abc import Sequence

import numpy as np

from tinyjax.errors import MissingFileError, ResponseError

#: Column names recognised as holding model ids (in a DataFrame, parquet file or ``datasets.Dataset``).
MODEL_COLUMN_NAMES = ("model", "model_id", "model_name", "name")
RESPONSE_SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet", ".pq")
MAX_NAMES = 10  # ids named in one message
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


def check_magic(path: pathlib.Path, magic: bytes, what: str, error=ResponseError) -> None:
  """Raises ``error`` naming ``path`` unless the file starts with ``magic`` (empty files included)."""
  with open(path, "rb") as fh:
    start = fh.read(len(magic))
  if not start:
    raise error(f"{path}: the file is empty (0 bytes)")
  if start != magic:
    raise error(f"{path}: not {what}: it does not start with the format's signature")


def read_source(source, model_column, header=None):
  """Returns (array-like, model ids or None, item ids or None).

  ``header`` applies to csv/tsv files only: None decides from the file (see :func:`first_line_is_data`), True
  reads the first line as item ids, False as data.
  """
  if isinstance(source, (str, os.PathLike)):
    return _read_path(pathlib.Path(source), model_column, header)
  if header is not None:
    raise ResponseError("header= applies to csv/tsv files only")
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


def _read_path(path: pathlib.Path, model_column, header=None):
  if not path.exists():
    raise MissingFileError(f"responses file not found: {path}")
  if header is not None and path.suffix.lower() not in (".csv", ".tsv"):
    raise ResponseError(f"{path}: header= (--header/--no-header) applies to csv/tsv files only")
  if path.is_file() and path.stat().st_size == 0:
    raise ResponseError(f"{path}: the file is empty (0 bytes)")
  if path.is_dir():
    import datasets

    try:
      ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
      raise ResponseError(
          f"{path} is a folder but not one written by datasets' save_to_disk; "
          f"pass a file ({', '.join(RESPONSE_SUFFIXES)})"
      ) from err
    return read_source(ds, model_column)
  suffix = path.suffix.lower()
  if suffix == ".npy":
    check_magic(path, NPY_MAGIC, "a .npy file (numpy.save)")
    try:
      arr = np.load(path, allow_pickle=False)
    except ValueError as err:
      if "pickle" not in str(err):
        raise ResponseError(f"{path}: not a readable .npy file ({err})") from err
      raise ResponseError(f"{path}: cannot read without pickle ({err}); save a numeric array") from err
    except (EOFError, OSError) as err:
      raise ResponseError(f"{path}: not a readable .npy file ({type(err).__name__}: {err})") from err
    if model_column is not None:
      raise ResponseError(f"{path}: model_column does not apply to .npy files")
    return arr, None, None
  if suffix == ".npz":
    if model_column is not None:
      raise ResponseError(f"{path}: model_column does not apply to .npz files")
    return _read_npz(path)
  if suffix in (".csv", ".tsv"):
    return _read_csv(path, model_column, sep="\t" if suffix == ".tsv" else ",", header=header)
  if suffix in (".parquet", ".pq"):
    import pandas as pd

    try:
      frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow's ArrowInvalid and friends: the bytes are not a parquet file
      raise ResponseError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})") from err
    return _split_frame(frame, model_column, where=str(path), first_string_column=True, clean=True)
  raise ResponseError(
      f"{path}: unknown file type {suffix!r}; supported: {', '.join(RESPONSE_SUFFIXES)} "
      "or a folder written by datasets' save_to_disk"
  )


def _read_npz(path):
  check_magic(path, ZIP_MAGIC, "a .npz file (numpy.savez)")
  try:
    with np.load(path, allow_pickle=False) as z:
      arrays = {k: z[k] for k in z.files}
  except ValueError as err:
    if "pickle" not in str(err):
      raise ResponseError(f"{path}: not a readable .npz file ({err})") from err
    raise ResponseError(f"{path}: cannot read without pickle ({err}); store ids as string arrays") from err
  except (EOFError, OSError, zipfile.BadZipFile) as err:
    raise ResponseError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from err
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
        ids[name] = [clean_id(x) for x in a.tolist()]
    return arrays["values"], ids.get("model_ids"), ids.get("item_ids")
  if len(keys) == 1:
    return arrays[keys[0]], None, None
  raise ResponseError(
      f"{path}: ambiguous .npz with arrays {keys}: store the matrix as 'values' (and optionally "
      "'model_ids', 'item_ids'), or save a single array"
  )


def _is_model_column_name(name) -> bool:
  return isinstance(name, str) and name.strip().lower() in MODEL_COLUMN_NAMES


def _is_number_field(field: str) -> bool:
  text = field.strip()
  if text == "" or text.lower() in ("nan", "na", "n/a", "null", "none"):
    return True
  try:
    float(text)
  except ValueError:
    return False
  return True


def first_line_is_data(first: list[str], second: list[str] | None) -> bool:
  """True when a csv's first line is a row of data rather than a header of item ids.

  A line whose fields are all numbers (or empty/NaN) is data, with one exception: an empty first field over a
  second line that starts with text is the header of a frame written with its index (``DataFrame.to_csv()``
  with model ids as the index and numeric item ids).
  """
  if not all(_is_number_field(f) for f in first):
    return False
  if first and first[0].strip() == "" and second and not _is_number_field(second[0]):
    return False
  return True


def _read_csv(path, model_column, sep, header=None):
  import pandas as pd

  if _starts_with(path, GZIP_MAGIC):
    raise ResponseError(f"{path}: a gzip-compressed file, not a text csv/tsv; decompress it first (gunzip)")
  line1, line2 = _check_csv_rows(path, sep)
  if header is None:
    header = not first_line_is_data(line1, line2)
  if header:
    names = [clean_id(n) for n in line1]   # ids: no BOM, no surrounding spaces
    blank = [j for j, n in enumerate(names) if n == "" and j > 0]
    if blank:
      raise ResponseError(f"{path}: the header (line 1) has no item id in column {blank[0]}"
                          f"{f' (and {len(blank) - 1} more)' if len(blank) > 1 else ''}; name every column")
  else:
    if model_column is not None:
      raise ResponseError(f"{path}: model_column= needs a header line naming the columns (--header)")
    names = [f"column {j}" for j in range(len(line1))]
  # pandas renames repeated headers ("q", "q.1"); keep the raw names so duplicates are reported.
  first = names[0]
  if model_column is not None:
    if model_column not in names:
      raise ResponseError(f"{path}: model_column {model_column!r} not in the header {names[:10]}")
    ids_pos = names.index(model_column)
  else:
    ids_pos = None
  text_pos = ids_pos if ids_pos is not None else 0
  try:
    frame = pd.read_csv(path, sep=sep, dtype={text_pos: str}, header=0 if header else None, encoding="utf-8-sig")
  except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
    raise ResponseError(f"{path}: not a readable csv/tsv file ({type(err).__name__}: {' '.join(str(err).split())})"
                        ) from err
  frame.columns = range(frame.shape[1])
  if frame.shape[1] != len(names):   # _check_csv_rows has seen every line: pandas and csv disagree
    raise ResponseError(f"{path}: the first line has {len(names)} fields but rows have {frame.shape[1]}")
  if ids_pos is None:
    col = frame[0]
    observed = col.dropna()
    numeric = pd.to_numeric(observed, errors="coerce").notna().to_numpy()
    header_says_ids = header and (first.strip() == "" or _is_model_column_name(first))
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
    ids = _column_ids(frame[ids_pos], f"{path}: model id column {names[ids_pos]!r}", clean=True)
    frame = frame.drop(columns=[ids_pos])
  item_ids = [names[c] for c in frame.columns] if header else None
  for j, c in enumerate(frame.columns):
    col = frame[c]
    if _numeric_dtype(col):
      continue
    parsed = pd.to_numeric(col, errors="coerce")
    bad = col.notna().to_numpy() & parsed.isna().to_numpy()
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      raise ResponseError(
          f"{path}: non-numeric value {col.iloc[i]!r} at row {i}{id_hint(ids, i, 'model')}, column {j}"
          f"{id_hint(item_ids, j, 'item')} (csv line {i + 1 + int(header)}); values must be numbers, empty or "
          "NaN for missing"
      )
    frame[c] = parsed
  return frame.to_numpy(dtype=np.float64, na_value=np.nan), ids, item_ids


def _column_ids(col, where, clean=False) -> list[str]:
  missing = np.flatnonzero(col.isna().to_numpy())
  if missing.size:
    raise ResponseError(f"{where} has a missing id at row {int(missing[0])}")
  return [clean_id(x) if clean else str(x) for x in col.tolist()]


def clean_id(x) -> str:
  """An id read from a file: a string without a byte-order mark and without surrounding whitespace."""
  return str(x).replace("\ufeff", "").strip()


def _starts_with(path, magic: bytes) -> bool:
  with open(path, "rb") as fh:
    return fh.read(len(magic)) == magic


def _check_csv_rows(path, sep) -> tuple[list[str], list[str] | None]:
  """The first two lines of a csv/tsv as fields, after checking that every line has as many fields as the first.

  A ragged line (fewer or more fields than the first) would otherwise become NaN entries or shifted columns
  silently; it is a ``ResponseError`` naming its line number. Blank lines are skipped, as pandas skips them.
  """
  import csv

  first = second = None
  try:
    with open(path, newline="", encoding="utf-8-sig") as fh:
      reader = csv.reader(fh, delimiter=sep)
      n = None
      for row in reader:
        if not row:
          continue
        if n is None:
          first, n, first_line = row, len(row), reader.line_num
          continue
        if second is None:
          second = row
        if len(row) != n:
          raise ResponseError(
              f"{path}: line {reader.line_num} has {len(row)} field(s) but line {first_line} has {n}; every row "
              "needs one field per column (an empty field for a missing answer)")
  except UnicodeDecodeError as err:
    raise ResponseError(f"{path}: not a readable text csv/tsv file (not UTF-8 text: {err})") from err
  except csv.Error as err:
    raise ResponseError(f"{path}: not a readable text csv/tsv file (csv.Error: {err})") from err
  if first is None:
    raise ResponseError(f"{path}: empty csv (no lines)")
  return first, second


def _split_frame(frame, model_column, *, where, first_string_column=False, clean=False):
  """DataFrame -> (values-like, model ids or None, item ids). ``clean``: ids read from a file (parquet) lose a
  byte-order mark and surrounding whitespace, as a csv's do; an in-memory DataFrame keeps its ids as they are."""
  import pandas as pd

  ids = None
  if model_column is not None:
    if model_column not in frame.columns:
      raise ResponseError(f"{where}: model_column {model_column!r} not among the columns {list(frame.columns)[:10]}")
    ids = _column_ids(frame[model_column], f"{where}: model id column {model_column!r}", clean)
    frame = frame.drop(columns=[model_column])
  else:
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    if not default_index:
      ids = _column_ids(frame.index.to_series(), f"{where}: index", clean)
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
        ids = _column_ids(frame[ids_col], f"{where}: model id column {ids_col!r}", clean)
        frame = frame.drop(columns=[ids_col])
  item_ids = [clean_id(c) if clean else str(c) for c in frame.columns]
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
    v = number_or_none(x)
    if v is BAD:
      raise ResponseError(
          f"{where}: non-numeric value {x!r} ({type(x).__name__}) at row {i}{id_hint(model_ids, i, 'model')}, "
          f"column {j}{id_hint(item_ids, j, 'item')}; values must be numbers (0/1 or scores in [0, 1]), "
          "NaN/None for missing"
      )
    out[i] = v
  return out


BAD = object()


def number_or_none(x):
  """float(x) for a real number, NaN for None/NA, BAD otherwise (strings are never parsed)."""
  if x is None or type(x).__name__ in ("NAType", "NaTType"):
    return np.nan
  if isinstance(x, numbers.Real) and not isinstance(x, (np.datetime64, np.timedelta64)):
    return float(x)
  return BAD


def id_hint(ids, k, what) -> str:
  return f" ({what} {ids[k]!r})" if ids is not None and k < len(ids) else ""



def more(names) -> str:
  return f" ... and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
