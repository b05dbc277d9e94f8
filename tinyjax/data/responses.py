"""The response matrix: :class:`Responses`, :func:`load_responses`, :func:`check_matrix`, :func:`binarize`.

Everything tinyjax fits starts here: a models x items matrix of scores, with NaN for "not answered".

Rules that hold everywhere in :mod:`tinyjax.data`:

* Values are 0/1 or scores in [0, 1]; NaN (or None in Python lists) means missing.
* Bad input raises :class:`~tinyjax.errors.ResponseError` (a ``ValueError``) whose message names the problem
  and where it is (row/column, model/item id, file and line).
* Nothing is dropped or clipped unless asked for (``drop_empty=True``); what is dropped is returned in
  ``Responses.dropped`` and logged (``tinyjax.data`` logger, level INFO; the command line shows it).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyjax._progress import logger as _logger
from tinyjax.data.readers import BAD, MAX_NAMES, id_hint, more, number_or_none, read_source
from tinyjax.errors import ConfigError, ItemError, ResponseError

__all__ = ("Dropped", "Responses", "binarize", "check_matrix", "load_responses")

logger = _logger("tinyjax.data")


@dataclasses.dataclass(frozen=True)
class Dropped:
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
    item_ids_given: False when the source had no item ids (a bare array, a csv without header) and
      ``item_ids`` are the defaults ``item_0, item_1, ...``: columns can then only be matched by position.
  """

  values: np.ndarray
  model_ids: list[str]
  item_ids: list[str]
  dropped: Dropped = Dropped()
  item_ids_given: bool = True

  @classmethod
  def _trusted(cls, values: np.ndarray, model_ids: list[str], item_ids: list[str], dropped: Dropped,
               item_ids_given: bool = True) -> Responses:
    """Wraps already validated parts (read-only float64 values that nobody else holds) without checking again."""
    out = object.__new__(cls)
    for name, value in (("values", values), ("model_ids", model_ids), ("item_ids", item_ids), ("dropped", dropped),
                        ("item_ids_given", bool(item_ids_given))):
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
      raise ResponseError("cannot convert Responses without a copy")
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
    header: bool | None = None,
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
  * ids read from a file (csv/tsv header and id column, parquet columns and index, npz id arrays) lose a UTF-8
    byte-order mark and surrounding whitespace; a DataFrame, Dataset or list given in memory keeps its ids as
    they are. Every csv/tsv line must have as many fields as the first (a ragged line is an error naming it).
  * a ``datasets.Dataset`` with one row per model: numeric columns are items; the model ids are in the
    column ``model_column`` or one named ``model``/``model_id``/``model_name``/``name``.

  Args:
    source: the data, see above.
    model_ids: n_models ids that replace the source's model ids.
    item_ids: n_items ids that replace the source's item ids.
    model_column: name of the column holding model ids (DataFrame, parquet, csv, Dataset).
    binary: require every observed value to be 0 or 1.
    drop_empty: drop models (rows) and items (columns) without any observation instead of raising. What was
      dropped is in the result's ``dropped`` field and is logged (``tinyjax.data`` logger, level INFO).
    header: csv/tsv files only. None (default): the first line is data when every field in it is a number
      (or empty/NaN), else the item ids; a first line that is all numbers is never taken as a header.
      True: the first line holds the item ids. False: the first line is data (item ids default).

  Returns:
    A :class:`Responses` with ``values`` [n_models, n_items] float64 in [0, 1], NaN = missing.

  Raises:
    ResponseError: the matrix is not 2-D or is empty; a value is not a number, is +-inf or lies outside
      [0, 1]; ``binary`` and a value is not 0/1; a row or column has no observation (and not
      ``drop_empty``); ids are duplicated, missing, or their number does not match the matrix.
    MissingFileError: ``source`` is a path that does not exist.
  """
  if isinstance(source, Responses):
    raw, src_models, src_items = source.values, list(source.model_ids), list(source.item_ids)
    if not source.item_ids_given:
      src_items = None
  else:
    raw, src_models, src_items = read_source(source, model_column, header)
  values = _as_float_matrix(
      raw, src_models if model_ids is None else list(model_ids), src_items if item_ids is None else list(item_ids)
  )
  n_models, n_items = values.shape
  if model_ids is None:
    model_ids = src_models if src_models is not None else [f"model_{i}" for i in range(n_models)]
  ids_given = item_ids is not None or src_items is not None
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
          + "; drop them with tinyjax.data.load_responses(Y, drop_empty=True) and pass the result "
          "(CLI: --drop-empty); what is dropped is reported"
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
    _report_dropped(dropped)
  if isinstance(raw, np.ndarray) and np.may_share_memory(values, raw):
    values = values.copy()  # never hold (or freeze) the caller's array
  values.setflags(write=False)
  return Responses._trusted(values, model_ids, item_ids, dropped, ids_given)


def columns_by_id(answers: Any, item_ids: Sequence[str], *, name: str = "answers") -> tuple[Any, np.ndarray] | None:
  """Matches the columns of answers that carry item ids to ``item_ids`` (a model's items), by id, in any order.

  Input with ids: a :class:`Responses` whose item ids came from its source (``item_ids_given``: a csv header,
  parquet or npz columns, ...) and a pandas DataFrame whose columns are not a default ``RangeIndex``. A header is
  ids whatever they look like (``item_0, item_1, ...`` included); only input without ids is read by position.

  Args:
    answers: [n, k] answers.
    item_ids: the [I] ids to match against.
    name: what the answers are called in messages.

  Returns:
    ``(values [n, k], positions [k] into item_ids)``, or None when ``answers`` has no item ids (the caller then
    reads its columns by position).

  Raises:
    ItemError: a duplicated column id, or ids not among ``item_ids`` (named).
  """
  import sys

  if isinstance(answers, Responses):
    if not answers.item_ids_given:
      return None
    ids, values = list(answers.item_ids), answers.values
  else:
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(answers, pd.DataFrame) or isinstance(answers.columns, pd.RangeIndex):
      return None
    ids, values = [str(c) for c in answers.columns], answers.to_numpy()
  seen: set[str] = set()
  dups = [c for c in ids if c in seen or seen.add(c)]
  if dups:
    raise ItemError(f"{name}: duplicated item ids {sorted(set(dups))[:MAX_NAMES]}")
  known = {str(iid): k for k, iid in enumerate(item_ids)}
  unknown = [c for c in ids if c not in known]
  if unknown:
    shown = ", ".join(repr(u) for u in unknown[:5]) + (f", ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
    raise ItemError(f"{name}: {len(unknown)} column(s) are not among the model's {len(known)} items: {shown} "
                    "(columns are matched to the model's items by id)")
  return values, np.array([known[c] for c in ids], dtype=int)


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
    raise ConfigError(f"threshold must be a number in (0, 1], got {threshold!r}")
  r = responses if isinstance(responses, Responses) else load_responses(responses)
  v = r.values
  out = np.where(np.isnan(v), np.nan, (v >= threshold).astype(np.float64))
  out.setflags(write=False)
  return Responses._trusted(out, list(r.model_ids), list(r.item_ids), r.dropped, r.item_ids_given)


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
      v = number_or_none(x) if kind == "O" else BAD
      if v is BAD:
        x = x.item() if isinstance(x, np.generic) else x
        i, j = divmod(k, arr.shape[1])
        raise ResponseError(
            f"non-numeric value {x!r} ({type(x).__name__}) at row {i}{id_hint(model_ids, i, 'model')}, column "
            f"{j}{id_hint(item_ids, j, 'item')}; values must be numbers (0/1 or scores in [0, 1]), "
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
    where = {d: [k for k, x in enumerate(out) if x == d] for d in dups[:MAX_NAMES]}
    detail = ", ".join(f"{d!r} at {axis} {pos}" for d, pos in where.items())
    raise ResponseError(f"duplicated {name}: {len(dups)} id(s) occur more than once: {detail}{more(dups)}")
  return out




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
  shown = [ids[int(p)] for p in positions[:MAX_NAMES]]
  return ", ".join(repr(s) for s in shown) + more(positions)


def _empty_message(rows, cols, model_ids, item_ids) -> str:
  parts = []
  if rows.size:
    parts.append(f"{rows.size} model(s) with no observations (all NaN): {_name_list(model_ids, rows)}")
  if cols.size:
    parts.append(f"{cols.size} item(s) with no observations (all NaN): {_name_list(item_ids, cols)}")
  return "; ".join(parts)


def _report_dropped(dropped: Dropped) -> None:
  parts = []
  for what, ids in (("model(s)", dropped.models), ("item(s)", dropped.items)):
    if ids:
      parts.append(f"{len(ids)} {what} with no observations: {_name_list(ids, range(len(ids)))}")
  logger.info("dropped " + "; dropped ".join(parts))
