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

from tinyjax.errors import ConfigError, ItemError


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
  segment_ids: np.ndarray  # [B, L] int32 attention group: 0 = padding, g >= 1 = g-th packed unit of the row
  branch_ids: np.ndarray   # [B, L] int32 request slot k >= 1 of the row; 0 on shared prefixes and padding
  positions: np.ndarray    # [B, L] int32 position within the request
  score_mask: np.ndarray   # [B, L] bool, True where the target is a continuation token
  request_index: np.ndarray  # [B, S] int64, the request in slot k (column k - 1), or -1
  # The scored targets, K per group of R = B // G consecutive rows (the group is read as one flat sequence of
  # R * L positions: row j, column t -> j * L + t). With R = 1 (G = B) these are per-row positions.
  score_index: np.ndarray  # [G, K] int32 flat positions of the scored targets in their group (0 where unused)
  score_targets: np.ndarray  # [G, K] int32 the scored target tokens
  score_slots: np.ndarray  # [G, K] int32 j * S + k for the request in slot k of row j of the group (0 unused)
  score_valid: np.ndarray  # [G, K] bool


@dataclasses.dataclass
class BatchPlan:
  """The batches for a list of requests and their padding statistics."""

  batches: list[Batch]
  n_real_tokens: int    # input positions of the requests (each request counted in full, as lm-eval feeds them)
  n_fed_tokens: int     # non-padding positions sent to the model (fewer than real when prefixes are shared)
  n_slot_tokens: int    # all positions sent to the model (B * L summed over batches)
  shapes: tuple[tuple[int, int], ...]  # the distinct (B, L) shapes, one compilation each

  @property
  def padding_fraction(self) -> float:
    """Share of the positions sent to the model that are padding (dummy rows included)."""
    return 1.0 - self.n_fed_tokens / self.n_slot_tokens if self.n_slot_tokens else 0.0

  @property
  def n_score_slots(self) -> int:
    """Positions where the logits are computed (G * K summed over batches)."""
    return sum(b.score_index.size for b in self.batches)

  @property
  def row_padding_fraction(self) -> float:
    """Padding inside the rows that hold requests (the dummy rows that fill the last batch left out)."""
    used = sum(int(np.count_nonzero(b.request_index[:, 0] >= 0)) * b.tokens.shape[1] for b in self.batches)
    return 1.0 - self.n_fed_tokens / used if used else 0.0


def power_of_two_buckets(max_length: int, min_length: int = 16, half_steps: bool = False,
                         per_octave: int | None = None) -> tuple[int, ...]:
  """``(16, 32, 64, ..., max_length)``: powers of two below ``max_length``, then ``max_length`` itself.

  With ``half_steps``, 1.5 times each power of two is added too (16, 24, 32, 48, 64, 96, ...). ``per_octave=k``
  puts k evenly spaced lengths in each octave instead (k = 4: 16, 20, 24, 28, 32, 40, ...; k = 2 is
  ``half_steps``).
  """
  if max_length < 1:
    raise ConfigError(f"max_length must be >= 1, got {max_length}")
  k = per_octave if per_octave is not None else (2 if half_steps else 1)
  if k < 1:
    raise ConfigError(f"per_octave must be >= 1, got {per_octave}")
  out, b = [], max(1, min_length)
  while b < max_length:
    for step in range(k):
      length = b + (b * step) // k
      if length < max_length and (not out or length > out[-1]):
        out.append(length)
    b *= 2
  out.append(max_length)
  return tuple(out)


def score_budget(length: int, score_fraction: float) -> int:
  """K: the scored positions a row of ``length`` may hold (the logits are only computed there)."""
  return max(1, int(np.ceil(length * score_fraction)))


def _bucket_of(length: int, buckets: Sequence[int], n_cont: int = 0, score_fraction: float = 1.0,
               group_rows: int = 1) -> int:
  for b in buckets:
    if length <= b and n_cont <= score_budget(group_rows * b, score_fraction):
      return b
  raise ItemError(f"a request has {length} input tokens ({n_cont} scored), more than the largest bucket "
                   f"{buckets[-1]} holds")


class _Unit:
  """A shared context prefix and the requests (branches) that continue it; laid out contiguously in one row.

  The prefix ``P`` (``c = len(P) >= 1`` tokens) is a prefix of the context of every branch. A request ``ids``
  with ``n`` continuation tokens is fed as the shared ``P[:-1]`` (not scored) and its own branch
  ``ids[c - 1:-1]``, whose last ``n`` targets are scored. When ``P`` is the whole context (the choices of one
  item), the branch is just the continuation. Branches see the prefix and themselves, never each other, so a
  unit scores exactly what separate rows would.
  """

  __slots__ = ("prefix", "branches")

  def __init__(self, prefix: tuple[int, ...], branches: list[tuple[int, EncodedRequest]]):
    self.prefix = prefix
    self.branches = branches

  @property
  def length(self) -> int:
    return len(self.prefix) - 1 + sum(self.branch_length(r) for _, r in self.branches)

  def branch_length(self, r: EncodedRequest) -> int:
    return len(r.ids) - len(self.prefix)

  @property
  def scored(self) -> int:
    return sum(r.n_cont for _, r in self.branches)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
  n = min(len(a), len(b))
  for k in range(n):
    if a[k] != b[k]:
      return k
  return n


def _prefix_groups(requests: Sequence[EncodedRequest]) -> list[tuple[tuple[int, ...], list]]:
  """Groups requests whose contexts start with the same tokens, and the common prefix of each group.

  The contexts are taken in lexicographic order (ties by request index), so contexts with long common prefixes
  are neighbours. A request joins the current group when that feeds fewer positions: a group of g requests
  sharing p tokens saves (g - 1) * (p - 1) positions. The choices of one item (same context) always share it;
  contexts that differ only near their end (Winogrande-style options, or a shared few-shot prompt) share the
  common start.
  """
  ctx = [r.ids[:len(r.ids) - r.n_cont] for r in requests]
  groups: list[tuple[tuple[int, ...], list]] = []
  for i in sorted(range(len(requests)), key=lambda i: (ctx[i], i)):
    if groups:
      prefix, members = groups[-1]
      m = _common_prefix(prefix, ctx[i])
      g = len(members)
      if m >= 2 and g * (m - 1) > (g - 1) * (len(prefix) - 1):
        groups[-1] = (prefix[:m], members + [(i, requests[i])])
        continue
    groups.append((ctx[i], [(i, requests[i])]))
  return groups


def _units(requests: Sequence[EncodedRequest], share_prefix: bool, length_cap: int, slot_cap: int,
           score_cap: int) -> list[_Unit]:
  if not share_prefix:
    return [_Unit(r.ids[:len(r.ids) - r.n_cont], [(i, r)]) for i, r in enumerate(requests)]
  units = []
  for prefix, members in _prefix_groups(requests):
    current = _Unit(prefix, [])
    for i, r in sorted(members):
      if current.branches and (current.length + current.branch_length(r) > length_cap
                               or len(current.branches) >= slot_cap or current.scored + r.n_cont > score_cap):
        units.append(current)
        current = _Unit(prefix, [])
      current.branches.append((i, r))
    units.append(current)
  return units


def _fill_row(row: int, units: Sequence[_Unit], arrays: dict, group: int, j: int, k: int) -> int:
  """Writes the units of row ``row`` (row ``j`` of score group ``group``, scored entries from ``k`` on)."""
  length, num_slots = arrays["tokens"].shape[1], arrays["request_index"].shape[1]
  start, slot = 0, 0
  for g, unit in enumerate(units, start=1):
    c = len(unit.prefix)
    p = c - 1                                             # shared prefix positions: ids[0 .. c-2]
    if p > 0:
      ids = np.asarray(unit.prefix, np.int32)
      sl = slice(start, start + p)
      arrays["tokens"][row, sl] = ids[:-1]
      arrays["targets"][row, sl] = ids[1:]
      arrays["segment_ids"][row, sl] = g
      arrays["positions"][row, sl] = np.arange(p, dtype=np.int32)
      start += p
    for index, req in unit.branches:
      slot += 1
      ids = np.asarray(req.ids, np.int32)
      n, m = req.n_cont, len(ids) - c                     # scored targets, branch length
      sl = slice(start, start + m)
      arrays["tokens"][row, sl] = ids[c - 1:-1]
      arrays["targets"][row, sl] = ids[c:]
      arrays["segment_ids"][row, sl] = g
      arrays["branch_ids"][row, sl] = slot
      arrays["positions"][row, sl] = np.arange(p, p + m, dtype=np.int32)
      arrays["score_mask"][row, start + m - n:start + m] = True
      arrays["request_index"][row, slot - 1] = index
      arrays["score_index"][group, k:k + n] = j * length + np.arange(start + m - n, start + m, dtype=np.int32)
      arrays["score_targets"][group, k:k + n] = ids[len(ids) - n:]
      arrays["score_slots"][group, k:k + n] = j * num_slots + slot
      arrays["score_valid"][group, k:k + n] = True
      start += m
      k += n
  return k


def _assign_groups(rows: list[list[_Unit]], group_rows: int, groups_per_batch: int, budget: int) -> list[list[int]]:
  """Spreads rows over score groups of ``group_rows`` rows and at most ``budget`` scored positions each.

  Rows go in decreasing order of scored positions (ties by row order) to the least loaded group that still has a
  free row and room; new batches of groups are opened only when none has. Deterministic.
  """
  scored = [sum(u.scored for u in row) for row in rows]
  n_groups = -(-len(rows) // group_rows)
  n_groups = -(-n_groups // groups_per_batch) * groups_per_batch
  members: list[list[int]] = [[] for _ in range(n_groups)]
  load = [0] * n_groups
  for r in sorted(range(len(rows)), key=lambda r: (-scored[r], r)):
    best = -1
    for g in range(len(members)):
      if len(members[g]) < group_rows and load[g] + scored[r] <= budget and (best < 0 or load[g] < load[best]):
        best = g
    if best < 0:
      best = len(members)
      members.extend([] for _ in range(groups_per_batch))
      load.extend([0] * groups_per_batch)
    members[best].append(r)
    load[best] += scored[r]
  return [sorted(m) for m in members]


def _make_batches(rows: list[list[_Unit]], length: int, batch_size: int, num_slots: int, group_rows: int,
                  budget: int, pad_id: int) -> list[Batch]:
  groups_per_batch = batch_size // group_rows
  groups = _assign_groups(rows, group_rows, groups_per_batch, budget)
  batches = []
  for first in range(0, len(groups), groups_per_batch):
    arrays = {
        "tokens": np.full((batch_size, length), pad_id, np.int32),
        "targets": np.full((batch_size, length), pad_id, np.int32),
        "segment_ids": np.zeros((batch_size, length), np.int32),
        "branch_ids": np.zeros((batch_size, length), np.int32),
        "positions": np.zeros((batch_size, length), np.int32),
        "score_mask": np.zeros((batch_size, length), bool),
        "request_index": np.full((batch_size, num_slots), -1, np.int64),
        "score_index": np.zeros((groups_per_batch, budget), np.int32),
        "score_targets": np.zeros((groups_per_batch, budget), np.int32),
        "score_slots": np.zeros((groups_per_batch, budget), np.int32),
        "score_valid": np.zeros((groups_per_batch, budget), bool),
    }
    for g, members in enumerate(groups[first:first + groups_per_batch]):
      k = 0
      for j, r in enumerate(members):
        k = _fill_row(g * group_rows + j, rows[r], arrays, g, j, k)
    batches.append(Batch(**arrays))
  return batches


def _pack(requests, length, batch_size, max_segments, share_prefix, score_fraction, pad_id, group_rows):
  """First-fit-decreasing packing of units into rows of ``length``; returns (batches, fed positions)."""
  budget = score_budget(group_rows * length, score_fraction)
  units = _units(requests, share_prefix, length, max_segments, budget)
  units.sort(key=lambda u: (-u.length, u.branches[0][0]))
  rows: list[list[_Unit]] = []
  free: list[int] = []
  slots: list[int] = []
  room: list[int] = []
  for u in units:
    n, k, m = u.length, len(u.branches), u.scored
    for r in range(len(rows)):
      if n <= free[r] and slots[r] + k <= max_segments and m <= room[r]:
        rows[r].append(u)
        free[r] -= n
        slots[r] += k
        room[r] -= m
        break
    else:
      rows.append([u])
      free.append(length - n)
      slots.append(k)
      room.append(budget - m)
  batches = _make_batches(rows, length, batch_size, max_segments, group_rows, budget, pad_id)
  return batches, sum(length - f for f in free)


def plan_batches(requests: Sequence[EncodedRequest], *, batch_size: int, buckets: Sequence[int],
                 pack: bool = False, pack_length: int | None = None, max_segments: int = 32,
                 share_prefix: bool = False, score_fraction: float = 1.0, pad_id: int = 0,
                 group_rows: int = 1) -> BatchPlan:
  """Groups requests into padded batches of fixed shape.

  Without packing, each request gets its own row in the smallest bucket that holds its input length; requests
  are sorted by length (longest first, ties by index) inside a bucket, each bucket is cut into batches of
  ``batch_size`` rows, and the last one is filled with dummy rows. With packing, units (a request, or with
  ``share_prefix`` requests whose contexts start with the same tokens, which then share one copy of that common
  start; see ``_prefix_groups``) are packed first-fit-decreasing into rows of ``pack_length`` positions (default:
  among the next few buckets that hold the longest request, the one that needs the fewest positions), at most
  ``max_segments`` requests a row; a unit never spans two rows. Rows are then spread over score groups (see
  ``group_rows``).

  Args:
    requests: the tokenized requests.
    batch_size: rows per batch (B).
    buckets: increasing row lengths allowed (L); each distinct (B, L) is one compilation.
    pack: pack several requests per row (the model must take ``segment_ids``, ``branch_ids``, ``positions``).
    pack_length: row length when packing; must be one of ``buckets``.
    max_segments: S, the most requests in one packed row (the width of the per-row result).
    share_prefix: with ``pack``, feed a context (or the common start of several contexts) once.
    score_fraction: each group of ``group_rows`` rows of length L holds at most
      K = ceil(group_rows * L * score_fraction) scored positions; the logits are gathered (or, for models with a
      ``head``, computed) at those K positions only.
    pad_id: token id written in padding positions (never scored).
    group_rows: R, rows that share one budget of K scored positions (R must divide ``batch_size``). Rows are
      spread over the groups so that rows with many scored positions sit next to rows with few.

  Returns:
    A BatchPlan.
  """
  if batch_size < 1:
    raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
  if group_rows < 1 or batch_size % group_rows:
    raise ConfigError(f"group_rows must be a positive divisor of batch_size {batch_size}, got {group_rows}")
  buckets = tuple(sorted(int(b) for b in buckets))
  if not buckets or buckets[0] < 1:
    raise ConfigError(f"buckets must be positive lengths, got {buckets}")
  if share_prefix and not pack:
    raise ConfigError("share_prefix needs pack=True")
  if not 0.0 < score_fraction <= 1.0:
    raise ConfigError(f"score_fraction must be in (0, 1], got {score_fraction}")
  if not requests:
    return BatchPlan([], 0, 0, 0, ())
  num_real = sum(r.length for r in requests)
  longest = max(r.length for r in requests)
  if pack:
    if max_segments < 1:
      raise ConfigError(f"max_segments must be >= 1, got {max_segments}")
    most_scored = max(r.n_cont for r in requests)
    if pack_length is None:  # the row length (among the next few buckets) that needs the fewest positions
      fits = [b for b in buckets if b >= longest and most_scored <= score_budget(group_rows * b, score_fraction)]
      if not fits:
        raise ItemError(f"a request has {longest} input tokens ({most_scored} scored), more than the largest "
                         f"bucket {buckets[-1]} holds")
      plans = [_pack(requests, b, batch_size, max_segments, share_prefix, score_fraction, pad_id, group_rows)
               for b in fits[:4]]
      batches, num_fed = min(plans, key=lambda pl: (sum(x.tokens.size for x in pl[0]), pl[0][0].tokens.shape[1]))
    else:
      length = int(pack_length)
      if length not in buckets:
        raise ConfigError(f"pack_length {length} is not one of the buckets {buckets}")
      if longest > length or most_scored > score_budget(group_rows * length, score_fraction):
        raise ItemError(f"a request has {longest} input tokens ({most_scored} scored), more than pack_length "
                         f"{length} holds")
      batches, num_fed = _pack(requests, length, batch_size, max_segments, share_prefix, score_fraction, pad_id,
                               group_rows)
  else:
    units = _units(requests, False, longest, 1, longest)
    units.sort(key=lambda u: (-u.length, u.branches[0][0]))
    groups: dict[int, list[list[_Unit]]] = {}
    for u in units:
      length = _bucket_of(u.length, buckets, u.scored, score_fraction, group_rows)
      groups.setdefault(length, []).append([u])
    batches = []
    for length in sorted(groups):
      batches.extend(_make_batches(groups[length], length, batch_size, 1, group_rows,
                                   score_budget(group_rows * length, score_fraction), pad_id))
    num_fed = num_real
  num_slots = sum(b.tokens.size for b in batches)
  shapes = tuple(sorted({b.tokens.shape for b in batches}))
  return BatchPlan(batches, num_real, num_fed, num_slots, shapes)
