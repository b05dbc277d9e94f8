"""New models' answers on the anchors, matched to the anchors by item id (the one rule every entry point uses).

``TinyBenchmark.estimate``, ``Leaderboard.estimate``, the training hook and ``tinyjax estimate`` all read
answers through :func:`match_answers`:

* input that carries item ids (a DataFrame's columns, a Series' index, a dict's keys, a
  :class:`tinyjax.data.Responses` read from a file with a header) is matched **by id, in any order**; columns
  that are not anchors are ignored and reported (``tinyjax.tiny`` logger, INFO); a missing anchor is an
  :class:`~tinyjax.errors.ItemError` that names it (with the closest given ids, for typos);
* input without ids (a numpy or jax array, a list of lists, a DataFrame with a default ``RangeIndex`` of
  columns, a csv without header) is read **by position**: it must have exactly one column per anchor, in the
  anchors' order.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from tinyjax.errors import ItemError, ResponseError

log = logging.getLogger("tinyjax.tiny")
_SHOWN = 10


@dataclasses.dataclass(frozen=True, eq=False)
class MatchedAnswers:
  """Answers put in the anchors' order.

  Attributes:
    values: [M, K] answers on the K anchors, in the anchors' order (NaN = not answered).
    model_ids: M model ids when the input had them (DataFrame index, Responses), else None.
    by_id: True when the columns were matched by item id, False when read by position.
    ignored: ids of the given columns that are not anchors (ignored).
  """

  values: np.ndarray
  model_ids: list[str] | None
  by_id: bool
  ignored: tuple[str, ...]


def _frame_of(answers):
  """(values-like, model ids or None, column ids or None) of the inputs that may carry ids."""
  from tinyjax.data import Responses

  if isinstance(answers, Responses):
    return answers.values, list(answers.model_ids), (list(answers.item_ids) if answers.item_ids_given else None)
  pd = sys.modules.get("pandas")
  if pd is not None and isinstance(answers, pd.Series):
    answers = answers.to_frame().T
  if isinstance(answers, Mapping):
    cols = {str(k): np.atleast_1d(np.asarray(v, dtype=float)) for k, v in answers.items()}
    lengths = {v.shape for v in cols.values()}
    if len(lengths) > 1:
      raise ResponseError(f"answers given as a dict must have one value (or one array of the same length) per "
                          f"item id, got shapes {sorted(lengths)}")
    return np.stack(list(cols.values()), axis=1) if cols else np.zeros((1, 0)), None, list(cols)
  if pd is not None and isinstance(answers, pd.DataFrame):
    default_cols = isinstance(answers.columns, pd.RangeIndex)
    default_rows = isinstance(answers.index, pd.RangeIndex) and answers.index.start == 0
    mids = None if default_rows else [str(x) for x in answers.index]
    values = answers.to_numpy(dtype=float, na_value=np.nan) if all(
        pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in answers.dtypes) else answers
    return values, mids, (None if default_cols else [str(c) for c in answers.columns])
  return answers, None, None


def match_answers(answers, anchor_ids: Sequence[str], *, name: str = "answers") -> MatchedAnswers:
  """Puts new models' answers in the anchors' order, by item id when the input has ids.

  Args:
    answers: [M, C] answers (0/1 or scores in [0, 1], NaN = not answered) as a DataFrame (columns = item ids,
      index = model ids), a Series or dict ``{item id: value or [M] values}`` (one or M models), a
      :class:`tinyjax.data.Responses`, or a bare [M, K] / [K] array in the anchors' order.
    anchor_ids: the K anchors' item ids (``TinyBenchmark.anchor_ids``).
    name: what the answers are called in messages.

  Returns:
    :class:`MatchedAnswers` with ``values`` [M, K] (not yet range-checked: the estimators do that).

  Raises:
    ItemError: the input has ids and lacks some anchors (named, with the closest given ids), or has
      duplicated ids; or it has no ids and not exactly K columns.
  """
  anchor_ids = [str(a) for a in anchor_ids]
  raw, model_ids, ids = _frame_of(answers)
  if ids is None:
    Y = np.asarray(raw)
    if Y.ndim == 1:
      Y = Y[None, :]
    if Y.ndim != 2 or Y.shape[1] != len(anchor_ids):
      raise ItemError(
          f"{name} without item ids must have one column per anchor ({len(anchor_ids)}), in the anchors' order, "
          f"got shape {np.shape(raw)}; give columns named by the anchors' item ids (a DataFrame, a csv header) "
          "to match them by name in any order")
    return MatchedAnswers(Y, model_ids, False, ())
  pos, ignored = anchor_positions(ids, anchor_ids, name)
  values = np.asarray(raw)[:, pos] if not hasattr(raw, "iloc") else raw.iloc[:, pos]
  return MatchedAnswers(values, model_ids, True, ignored)


def anchor_positions(ids: Sequence[str], anchor_ids: Sequence[str], name: str = "answers"
                     ) -> tuple[list[int], tuple[str, ...]]:
  """The rule itself: the position in ``ids`` of every anchor id, and the ids that are not anchors.

  Extra ids are ignored and logged (``tinyjax.tiny`` logger, INFO); a missing anchor is an ``ItemError``
  naming it (with the closest given id, for typos); duplicated ids are an ``ItemError``.
  """
  ids = [str(c) for c in ids]
  anchor_ids = [str(a) for a in anchor_ids]
  seen: dict[str, int] = {}
  dups = []
  for j, c in enumerate(ids):
    if c in seen:
      dups.append(c)
    seen[c] = j
  if dups:
    raise ItemError(f"{name}: duplicated item ids {sorted(set(dups))[:_SHOWN]}")
  missing = [a for a in anchor_ids if a not in seen]
  anchor_set = set(anchor_ids)
  ignored = tuple(c for c in ids if c not in anchor_set)
  if missing:
    hints = []
    for a in missing[:_SHOWN]:
      close = difflib.get_close_matches(a, ignored, n=1, cutoff=0.6)
      hints.append(f"{a!r}" + (f" (given: {close[0]!r}?)" if close else ""))
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    raise ItemError(
        f"{name} lack {len(missing)} of the {len(anchor_ids)} anchor items: {', '.join(hints)}{more}. Columns are "
        "matched to the anchors by item id; give every anchor a column (NaN where a model did not answer it: a "
        "missing answer is allowed and widens that model's interval)")
  if ignored:
    log.info("%s: %d column(s) that are not anchors ignored (%s%s)", name, len(ignored),
             ", ".join(ignored[:_SHOWN]), " ..." if len(ignored) > _SHOWN else "")
  return [seen[a] for a in anchor_ids], ignored
