"""Deterministic host-side batching: length buckets, fixed batch size, right padding, optional packing.

Every process of a multi-host job that calls :func:`plan_batches` with the same requests gets the same batches
(the plan depends only on the token ids and the settings, and ties are broken by request index), which is what
lets each process build its shard of the global batch without communication.

A planned batch is a ``[B, L]`` grid. Each row holds one request, or several when packing is on (numbered
1..S by ``segment_ids``; 0 marks padding). Dummy rows that fill the last batch of a bucket are all padding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class EncodedRequest:
  """One tokenized request: ``ids`` (context + continuation, left-truncated) and ``n_cont`` scored tokens."""

  ids: tuple[int, ...]
  n_cont: int

  @property
  def length(self) -> int:
    """Number of model input positions (``len(ids) - 1``)."""
    return len(self.ids) - 1


@dataclasses.dataclass
class Batch:
  """One padded batch, ready for the device."""

  tokens: np.ndarray       # [B, L] int32 model inputs
  targets: np.ndarray      # [B, L] int32 next tokens
  segment_ids: np.ndarray  # [B, L] int32, 0 = padding, k >= 1 = k-th request of the row
  positions: np.ndarray    # [B, L] int32 position within the request (restarts at 0 for each segment)
  score_mask: np.ndarray   # [B, L] bool, True where the target is a continuation token
  request_index: np.ndarray  # [B, S] int64, the request in (row, segment k-1), or -1


@dataclasses.dataclass
class BatchPlan:
  """The batches for a list of requests and their padding statistics."""

  batches: list[Batch]
  num_real_tokens: int    # input positions that belong to a request
  num_slot_tokens: int    # all input positions sent to the model (B * L summed over batches)
  shapes: tuple[tuple[int, int], ...]  # the distinct (B, L) shapes, one compilation each

  @property
  def padding_fraction(self) -> float:
    """Share of the input positions sent to the model that are padding (dummy rows included)."""
    return 1.0 - self.num_real_tokens / self.num_slot_tokens if self.num_slot_tokens else 0.0


def power_of_two_buckets(max_length: int, min_length: int = 16) -> tuple[int, ...]:
  """``(16, 32, 64, ..., max_length)``: powers of two below ``max_length``, then ``max_length`` itself."""
  if max_length < 1:
    raise ValueError(f"max_length must be >= 1, got {max_length}")
  out, b = [], max(1, min_length)
  while b < max_length:
    out.append(b)
    b *= 2
  out.append(max_length)
  return tuple(out)


def _bucket_of(length: int, buckets: Sequence[int]) -> int:
  for b in buckets:
    if length <= b:
      return b
  raise ValueError(f"a request has {length} input tokens, more than the largest bucket {buckets[-1]}")


def _fill_row(row: int, reqs: Sequence[tuple[int, EncodedRequest]], arrays: dict, pad_id: int):
  start = 0
  for k, (index, req) in enumerate(reqs, start=1):
    n = req.length
    ids = np.asarray(req.ids, dtype=np.int32)
    sl = slice(start, start + n)
    arrays["tokens"][row, sl] = ids[:-1]
    arrays["targets"][row, sl] = ids[1:]
    arrays["segment_ids"][row, sl] = k
    arrays["positions"][row, sl] = np.arange(n, dtype=np.int32)
    arrays["score_mask"][row, start + n - req.n_cont:start + n] = True
    arrays["request_index"][row, k - 1] = index
    start += n
  del pad_id


def _make_batches(rows: list[list[tuple[int, EncodedRequest]]], length: int, batch_size: int, num_segments: int,
                  pad_id: int) -> list[Batch]:
  batches = []
  for first in range(0, len(rows), batch_size):
    chunk = rows[first:first + batch_size]
    arrays = {
        "tokens": np.full((batch_size, length), pad_id, np.int32),
        "targets": np.full((batch_size, length), pad_id, np.int32),
        "segment_ids": np.zeros((batch_size, length), np.int32),
        "positions": np.zeros((batch_size, length), np.int32),
        "score_mask": np.zeros((batch_size, length), bool),
        "request_index": np.full((batch_size, num_segments), -1, np.int64),
    }
    for r, reqs in enumerate(chunk):
      _fill_row(r, reqs, arrays, pad_id)
    batches.append(Batch(**arrays))
  return batches


def plan_batches(requests: Sequence[EncodedRequest], *, batch_size: int, buckets: Sequence[int],
                 pack: bool = False, pack_length: int | None = None, max_segments: int = 16,
                 pad_id: int = 0) -> BatchPlan:
  """Groups requests into padded batches of fixed shape.

  Without packing, each request goes to the smallest bucket that holds its input length, requests are sorted by
  length (longest first, ties by index) inside a bucket, and each bucket is cut into batches of ``batch_size``
  rows; the last one is filled with dummy rows. With packing, requests are packed first-fit-decreasing into
  rows of ``pack_length`` positions (default: the smallest bucket that holds the longest request), at most
  ``max_segments`` requests a row; a packed request never spans two rows.

  Args:
    requests: the tokenized requests.
    batch_size: rows per batch (B).
    buckets: increasing row lengths allowed (L); each distinct (B, L) is one compilation.
    pack: pack several requests per row.
    pack_length: row length when packing; must be one of ``buckets``.
    max_segments: S, the most requests in one packed row (the width of the per-row result).
    pad_id: token id written in padding positions (never scored).

  Returns:
    A BatchPlan.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  buckets = tuple(sorted(int(b) for b in buckets))
  if not buckets or buckets[0] < 1:
    raise ValueError(f"buckets must be positive lengths, got {buckets}")
  order = sorted(range(len(requests)), key=lambda i: (-requests[i].length, i))
  num_real = sum(r.length for r in requests)
  batches: list[Batch] = []
  if not requests:
    return BatchPlan([], 0, 0, ())
  if pack:
    if max_segments < 1:
      raise ValueError(f"max_segments must be >= 1, got {max_segments}")
    longest = requests[order[0]].length
    length = _bucket_of(longest, buckets) if pack_length is None else int(pack_length)
    if length not in buckets:
      raise ValueError(f"pack_length {length} is not one of the buckets {buckets}")
    if longest > length:
      raise ValueError(f"a request has {longest} input tokens, more than pack_length {length}")
    rows: list[list[tuple[int, EncodedRequest]]] = []
    free: list[int] = []
    for i in order:
      n = requests[i].length
      for r, room in enumerate(free):
        if n <= room and len(rows[r]) < max_segments:
          rows[r].append((i, requests[i]))
          free[r] -= n
          break
      else:
        rows.append([(i, requests[i])])
        free.append(length - n)
    batches = _make_batches(rows, length, batch_size, max_segments, pad_id)
  else:
    groups: dict[int, list[list[tuple[int, EncodedRequest]]]] = {}
    for i in order:
      groups.setdefault(_bucket_of(requests[i].length, buckets), []).append([(i, requests[i])])
    for length in sorted(groups):
      batches.extend(_make_batches(groups[length], length, batch_size, 1, pad_id))
  num_slots = sum(b.tokens.size for b in batches)
  shapes = tuple(sorted({b.tokens.shape for b in batches}))
  return BatchPlan(batches, num_real, num_slots, shapes)
