"""Benchmark items for scoring: :func:`load_items` reads questions, choices and answers (tinyBenchmarks format)."""

from __future__ import annotations

import ast
import dataclasses
import json
import numbers
import os
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tinyjax.errors import ItemError, MissingFileError

__all__ = ("ItemText", "load_items")

#: Column names recognised as holding item ids in :func:`load_items` (first match wins).
ITEM_ID_COLUMN_NAMES = ("item_id", "id", "doc_id")
_ITEM_SUFFIXES = (".json", ".jsonl", ".parquet", ".pq", ".csv")
_MAX_NAMES = 10


@dataclasses.dataclass(frozen=True)
class ItemText:
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
    ItemError: a missing column, split or index out of range, an unusable choices/answer value.
    MissingFileError: a path-like string (with a file suffix, or starting with ``.``, ``/`` or ``~``) that does
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
      raise ItemError(f"{name} {col!r} not in the data; columns: {columns}{hint}")
  if answer_column not in columns:
    if answer_column == "answer" and "answerKey" in columns:
      answer_column = "answerKey"
    else:
      raise ItemError(f"answer_column {answer_column!r} not in the data; columns: {columns}")
  if id_column is not None and id_column not in columns:
    raise ItemError(f"id_column {id_column!r} not in the data; columns: {columns}")
  if id_column is None:
    id_column = next((c for c in ITEM_ID_COLUMN_NAMES if c in columns), None)

  if indices is None:
    rows = list(range(n))
  else:
    idx = np.asarray(indices)
    if idx.ndim != 1:
      raise ItemError(f"indices must be 1-D, got shape {idx.shape}")
    if idx.size and idx.dtype.kind not in "iu":
      raise ItemError(f"indices must be integers, got dtype {idx.dtype}")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
      raise ItemError(f"indices out of range [0, {n}): {idx[bad][:_MAX_NAMES].tolist()}")
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
      raise MissingFileError(f"items file not found: {source}")
    import datasets

    loaded = datasets.load_dataset(text, config, split=split)
    return _item_table(loaded, None, None)
  if ds_mod is not None and isinstance(source, ds_mod.DatasetDict):
    splits = list(source)
    if split is None:
      if len(splits) != 1:
        raise ItemError(f"the dataset has splits {splits}: pass split=")
      split = splits[0]
    if split not in source:
      raise ItemError(f"split {split!r} not found; splits: {splits}")
    return _item_table(source[split], None, None)
  if ds_mod is not None and isinstance(source, ds_mod.Dataset):
    if split is not None and source.split is not None and str(source.split) != split:
      raise ItemError(f"split={split!r} given, but the Dataset is split {str(source.split)!r}")
    return {
        "columns": source.column_names,
        "n": len(source),
        "get": lambda rows: source.select(rows).to_list() if rows else [],
    }
  if pd is not None and isinstance(source, pd.DataFrame):
    if split is not None:
      raise ItemError("split applies to datasets with splits, not to a DataFrame")
    return {
        "columns": [str(c) for c in source.columns],
        "n": len(source),
        "get": lambda rows: source.iloc[rows].to_dict(orient="records"),
    }
  raise ItemError(
      f"cannot read items from {type(source).__name__}: pass a datasets.Dataset, a local path or a Hub name"
  )


def _item_file(path: pathlib.Path, split) -> dict:
  import pandas as pd

  if split is not None:
    raise ItemError(f"split={split!r} applies to datasets with splits, not to the file {path}")
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
    raise ItemError(f"{path}: unknown items file type {suffix!r}; supported: {', '.join(_ITEM_SUFFIXES)}")
  return _item_table(frame, None, None)


def _item_from_record(rec, row, question_column, choices_column, answer_column, id_column) -> ItemText:
  item_id = str(row) if id_column is None else str(rec[id_column])
  where = f"row {row} (item {item_id!r})"
  question = rec[question_column]
  if not isinstance(question, str):
    raise ItemError(f"{where}: {question_column!r} must be a string, got {type(question).__name__}")
  choices, labels = _parse_choices(rec[choices_column], where, choices_column)
  answer = _parse_answer(rec[answer_column], labels, len(choices), where, answer_column)
  return ItemText(item_id, question, choices, answer)


def _as_str_list(x, where, what) -> list[str]:
  if isinstance(x, np.ndarray):
    x = x.tolist()
  if not isinstance(x, (list, tuple)) or not all(isinstance(s, str) for s in x):
    raise ItemError(f"{where}: {what} must be a list of strings, got {x!r:.80}")
  return list(x)


def _parse_choices(raw, where, column):
  if isinstance(raw, str):  # csv: a serialized list
    try:
      raw = json.loads(raw)
    except json.JSONDecodeError:
      try:
        raw = ast.literal_eval(raw)
      except (ValueError, SyntaxError) as err:
        raise ItemError(f"{where}: {column!r} is a string that is not a list literal: {raw!r:.80}") from err
  labels = None
  if isinstance(raw, Mapping):
    if "text" not in raw:
      raise ItemError(f"{where}: {column!r} is a dict without 'text' (ARC style is {{'text': [...], 'label': [...]}})")
    choices = _as_str_list(raw["text"], where, f"{column}['text']")
    if raw.get("label") is not None:
      labels = [str(s) for s in _as_str_list(raw["label"], where, f"{column}['label']")]
      if len(labels) != len(choices):
        raise ItemError(f"{where}: {len(choices)} choices but {len(labels)} labels")
  else:
    choices = _as_str_list(raw, where, column)
  if not choices:
    raise ItemError(f"{where}: no choices")
  return choices, labels


def _parse_answer(raw, labels, n_choices, where, column) -> int:
  if isinstance(raw, (bool, np.bool_)):
    raise ItemError(f"{where}: {column!r} is a bool ({raw!r}), expected an index or a label")
  if isinstance(raw, numbers.Integral):
    answer = int(raw)
  elif isinstance(raw, numbers.Real) and float(raw).is_integer():
    answer = int(raw)
  elif isinstance(raw, str):
    key = raw.strip()
    if labels is not None:
      if key not in labels:
        raise ItemError(f"{where}: answer {raw!r} is not one of the labels {labels}")
      answer = labels.index(key)
    elif len(key) == 1 and "A" <= key <= "Z":
      answer = ord(key) - ord("A")
    elif key.isdigit():
      answer = int(key)
    else:
      raise ItemError(f"{where}: cannot read answer {raw!r} (expected an index, a letter A.. or a label)")
  else:
    raise ItemError(f"{where}: cannot read answer {raw!r} of type {type(raw).__name__}")
  if not 0 <= answer < n_choices:
    raise ItemError(f"{where}: answer index {answer} out of range for {n_choices} choices")
  return answer


def check_items(items: Any, kind: type, *, name: str = "items") -> list:
  """The one validation of a sequence of items (multiple-choice items, Ask-LLM texts) before scoring.

  Args:
    items: a non-empty sequence (not a single string).
    kind: the type every element must have (``MultipleChoice``, ``str``).
    name: what the sequence is called in error messages.

  Returns:
    The items as a list.

  Raises:
    ItemError: ``items`` is one string, is empty, or holds an element of another type.
  """
  if isinstance(items, str):
    raise ItemError(f"{name} must be a sequence of {kind.__name__}, not one string")
  items = list(items)
  if not items:
    raise ItemError(f"{name} is empty")
  for k, it in enumerate(items):
    if not isinstance(it, kind):
      raise ItemError(f"{name}[{k}] is a {type(it).__name__}, expected a {kind.__name__}")
  return items
