"""Deterministic host-side batching: length buckets, fixed batch size, right padding, optional packing.

Every process of a multi-host job that calls :func:`plan_batches` with the same requests gets the same batches
(the plan depends only on the token ids and the settings, and ties are broken by request index), which is what
lets each process build its shard of the global batch without communication.

A planned batch is a ``[B, L]`` grid. Each row holds one request, or several when packing is on (numbered
1..S by ``segment_ids``; 0 marks padding). Dummy rows that fill the last batch of a bucket are all padding.
"""

from __future__ import annotations

import dataclasses
import math
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
  cost: float = 0.0     # the body and attention work of the rows (row_cost summed), in body positions

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
  unit scores exactly what separate rows would. Requests whose inputs ``ids[:-1]`` are the same (one-token
  choices after one context, as lm-eval's one-token-continuation lookup) share one branch and are scored at its
  positions against their own targets.
  """

  __slots__ = ("prefix", "branches")

  def __init__(self, prefix: tuple[int, ...], branches: list[tuple[int, EncodedRequest]]):
    self.prefix = prefix
    self.branches = branches

  @property
  def length(self) -> int:
    return _group_cost(len(self.prefix), self.branches)

  def inputs(self) -> dict[tuple[int, ...], list[tuple[int, EncodedRequest]]]:
    """The branches grouped by their inputs ``ids[:-1]``, in order of first appearance: one fed branch each."""
    out: dict[tuple[int, ...], list[tuple[int, EncodedRequest]]] = {}
    for index, r in self.branches:
      out.setdefault(r.ids[:-1], []).append((index, r))
    return out

  @property
  def scored(self) -> int:
    return sum(r.n_cont for _, r in self.branches)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
  n = min(len(a), len(b))
  for k in range(n):
    if a[k] != b[k]:
      return k
  return n


def _inputs(members: list) -> dict[tuple[int, ...], int]:
  """The distinct inputs ``ids[:-1]`` of ``(index, request)`` pairs, each with its request's length."""
  return {r.ids[:-1]: len(r.ids) for _, r in members}


def _group_cost(prefix_length: int, members: list) -> int:
  """Positions fed for requests sharing a prefix of ``prefix_length`` tokens: the prefix once, then each branch
  (one per distinct input ``ids[:-1]``)."""
  return prefix_length - 1 + sum(n - prefix_length for n in _inputs(members).values())


def _prefix_groups(requests: Sequence[EncodedRequest], window: int = 512) -> list[tuple[tuple[int, ...], list]]:
  """Groups requests whose contexts start with the same tokens, and the common prefix of each group.

  Requests with the same context (the choices of one item) always form one group, which feeds the context once.
  The distinct contexts are taken in lexicographic order (ties by request index), so contexts with long common
  prefixes are neighbours, and the order is cut into the runs that feed the fewest positions in all
  (:func:`_group_cost`, minimised exactly by dynamic programming over runs of at most ``window`` contexts). A
  run's prefix is the common prefix of its contexts: MMLU 5-shot items of one subject share their five examples,
  TruthfulQA's items its six questions, a WinoGrande item's two contexts the sentence before the option; two
  subjects are not joined on their common first line when that would feed each subject's examples again.
  """
  ctx = [r.ids[:len(r.ids) - r.n_cont] for r in requests]
  atoms: list[tuple[tuple[int, ...], list]] = []
  for i in sorted(range(len(requests)), key=lambda i: (ctx[i], i)):
    if atoms and atoms[-1][0] == ctx[i]:
      atoms[-1][1].append((i, requests[i]))
    else:
      atoms.append((ctx[i], [(i, requests[i])]))
  n = len(atoms)
  if n == 0:
    return []
  # Per atom: distinct inputs k and the sum of their lengths s (len(ids) of one request per input). A run a..b
  # with common prefix m feeds m - 1 + sum(s) - m * sum(k) positions (_group_cost).
  k = np.zeros(n + 1, np.int64)
  s = np.zeros(n + 1, np.int64)
  for j, (_, members) in enumerate(atoms):
    inputs = _inputs(members)
    k[j + 1], s[j + 1] = len(inputs), sum(inputs.values())
  k, s = np.cumsum(k), np.cumsum(s)
  lcp = np.array([_common_prefix(atoms[j][0], atoms[j + 1][0]) for j in range(n - 1)], np.int64)
  best = np.zeros(n + 1, np.float64)
  start = np.zeros(n, np.int64)
  for b in range(n):
    lo = max(0, b - window + 1)
    # m for runs a..b, a = b, b - 1, ..., lo: the context's own length, then the running minimum of the LCPs.
    m = np.empty(b - lo + 1, np.int64)
    m[0] = len(atoms[b][0])
    if b > lo:
      m[1:] = np.minimum.accumulate(lcp[lo:b][::-1])
    a = np.arange(b, lo - 1, -1)
    cost = best[a] + m - 1 + (s[b + 1] - s[a]) - m * (k[b + 1] - k[a])
    cost[1:][m[1:] < 1] = np.inf          # a run of several contexts needs a common first token
    j = int(np.argmin(cost))
    best[b + 1], start[b] = cost[j], a[j]
  groups: list[tuple[tuple[int, ...], list]] = []
  b = n - 1
  while b >= 0:
    a = int(start[b])
    m = len(atoms[b][0]) if a == b else int(lcp[a:b].min())
    groups.append((atoms[b][0][:m], [x for atom in atoms[a:b + 1] for x in atom[1]]))
    b = a - 1
  return groups[::-1]


def _units(requests: Sequence[EncodedRequest], share_prefix: bool, length_cap: int, slot_cap: int,
           score_cap: int) -> list[_Unit]:
  if not share_prefix:
    return [_Unit(r.ids[:len(r.ids) - r.n_cont], [(i, r)]) for i, r in enumerate(requests)]
  units = []
  for prefix, members in _prefix_groups(requests):
    current = _Unit(prefix, [])
    for same in _Unit(prefix, sorted(members)).inputs().values():   # requests with one input stay together
      for first in range(0, len(same), slot_cap):
        part = same[first:first + slot_cap]
        grown = _Unit(prefix, current.branches + part)
        if current.branches and (grown.length > length_cap or len(grown.branches) > slot_cap
                                 or grown.scored > score_cap):
          units.append(current)
          grown = _Unit(prefix, list(part))
        current = grown
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
    for same in unit.inputs().values():                   # one fed branch per distinct input
      ids = np.asarray(same[0][1].ids, np.int32)
      m = len(ids) - c                                    # branch length
      sl = slice(start, start + m)
      arrays["tokens"][row, sl] = ids[c - 1:-1]
      arrays["targets"][row, sl] = ids[c:]
      arrays["segment_ids"][row, sl] = g
      arrays["branch_ids"][row, sl] = slot + 1
      arrays["positions"][row, sl] = np.arange(p, p + m, dtype=np.int32)
      for index, req in same:
        slot += 1
        n = req.n_cont                                    # scored targets, the last n of the branch
        arrays["score_mask"][row, start + m - n:start + m] = True
        arrays["request_index"][row, slot - 1] = index
        arrays["score_index"][group, k:k + n] = j * length + np.arange(start + m - n, start + m, dtype=np.int32)
        arrays["score_targets"][group, k:k + n] = req.ids[len(req.ids) - n:]
        arrays["score_slots"][group, k:k + n] = j * num_slots + slot
        arrays["score_valid"][group, k:k + n] = True
        k += n
      start += m
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


def _first_fit(units: list[_Unit], max_segments: int, open_row) -> tuple[list[list[_Unit]], list[int], list[int]]:
  """First-fit-decreasing: each unit (longest first, ties by index) joins the first open row with room for its
  positions, its segments (at most ``max_segments`` a row) and its scored tokens; otherwise it opens a row of the
  ``(length, score budget)`` that ``open_row(unit)`` gives. Returns (rows, each row's length, free positions)."""
  rows: list[list[_Unit]] = []
  row_length: list[int] = []
  free: list[int] = []
  slots: list[int] = []
  room: list[int] = []
  for u in sorted(units, key=lambda u: (-u.length, u.branches[0][0])):
    n, k, m = u.length, len(u.branches), u.scored
    for r in range(len(rows)):
      if n <= free[r] and slots[r] + k <= max_segments and m <= room[r]:
        rows[r].append(u)
        free[r] -= n
        slots[r] += k
        room[r] -= m
        break
    else:
      length, budget = open_row(u)
      rows.append([u])
      row_length.append(length)
      free.append(length - n)
      slots.append(k)
      room.append(budget - m)
  return rows, row_length, free


def _pack(requests, length, batch_size, max_segments, share_prefix, score_fraction, pad_id, group_rows):
  """First-fit-decreasing packing of units into rows of ``length``; returns (batches, fed positions)."""
  budget = score_budget(group_rows * length, score_fraction)
  units = _units(requests, share_prefix, length, max_segments, budget)
  rows, _, free = _first_fit(units, max_segments, lambda u: (length, budget))
  batches = _make_batches(rows, length, batch_size, max_segments, group_rows, budget, pad_id)
  return batches, sum(length - f for f in free)


def _rows_per_batch(length: int, batch_size: int, min_rows: int, row_tokens: int) -> int:
  """B_L: the largest divisor of ``batch_size`` that is a multiple of ``min_rows`` with B_L * L <= ``row_tokens``
  (``min_rows`` when none is)."""
  fits = [b for b in range(min_rows, batch_size + 1, min_rows) if batch_size % b == 0 and b * length <= row_tokens]
  return max(fits, default=min_rows)


def row_cost(length: int, attention_weight: float) -> float:
  """Work of one row of ``length`` positions, in positions through the model body: ``L * (1 + a * L)``.

  The body (projections, MLP) costs the same at every position; dense attention over the row costs ``a`` per
  query-key pair (``a``: the model's attention work per pair relative to its body work per position).
  """
  return length * (1.0 + attention_weight * length)


def _pack_lengths(requests, buckets, batch_size, min_rows, row_tokens, attention_weight, max_segments,
                  share_prefix, score_fraction, pad_id, group_rows):
  """Packs units into rows of several lengths; returns (batches, fed positions).

  Each unit (longest first) goes into the first open row it fits; when none has room, it opens a row of the
  shortest bucket that holds it: a row's cost, :func:`row_cost`, does not depend on what it holds, and attention
  makes two short rows cheaper than one long one. Rows of length L go B_L to a batch
  (:func:`_rows_per_batch`). The last, partial batch of a length (shortest first) then moves into the dummy rows
  that fill the last batches of longer lengths, spread over several of them if need be, when all its rows find
  one: that batch is no longer run, and a dummy row costs as much as a real one (25 MMLU items at GPT-2 small's
  shape: 14,336 -> 10,240 slots).
  """
  per_length = {}
  for length in buckets:
    rows = _rows_per_batch(length, batch_size, min_rows, row_tokens)
    g = math.gcd(group_rows, rows // min_rows)
    per_length[length] = (rows, g, score_budget(g * length, score_fraction))
  units = _units(requests, share_prefix, buckets[-1], max_segments, per_length[buckets[-1]][2])

  def shortest_row(u: _Unit) -> tuple[int, int]:
    fits = [b for b in buckets if u.length <= b and u.scored <= per_length[b][2]]
    if not fits:
      raise ItemError(f"a request has {u.length} input tokens ({u.scored} scored), more than the largest bucket "
                      f"{buckets[-1]} holds")
    return fits[0], per_length[fits[0]][2]

  rows, row_length, free = _first_fit(units, max_segments, shortest_row)
  by_length: dict[int, list[int]] = {}
  for r, length in enumerate(row_length):
    by_length.setdefault(length, []).append(r)
  unmoved = {length: list(members) for length, members in by_length.items()}
  lengths = sorted(by_length)
  for i, shorter in enumerate(lengths):       # a partial batch goes into the dummy rows of longer lengths' batches
    members = by_length[shorter]
    partial = len(members) % per_length[shorter][0]
    if not partial:
      continue
    pool, moves = members[-partial:], []
    for longer in lengths[i + 1:]:            # the nearest longer length first; a row's scored tokens must fit
      if not pool:
        break
      spare = -len(by_length[longer]) % per_length[longer][0]
      fit = [r for r in pool if sum(u.scored for u in rows[r]) <= per_length[longer][2]][:spare]
      moves.append((longer, fit))
      pool = [r for r in pool if r not in fit]
    if not pool:                              # only when the whole partial batch moves (it is then not run)
      for longer, fit in moves:
        by_length[longer].extend(fit)
      del members[-partial:]

  def build(assignment):
    batches = []
    for length in sorted(assignment):
      if assignment[length]:
        b, g, budget = per_length[length]
        batches.extend(_make_batches([rows[r] for r in assignment[length]], length, b, max_segments, g, budget,
                                     pad_id))
    return batches

  def cost(batches):
    return sum(x.tokens.shape[0] * row_cost(x.tokens.shape[1], attention_weight) for x in batches)

  batches = build(by_length)
  if by_length != unmoved:   # moved rows can overflow a score group's budget, which opens a batch: keep the cheaper
    plain = build(unmoved)
    if cost(plain) < cost(batches):
      batches = plain
  return batches, sum(row_length[r] - free[r] for r in range(len(rows)))


def plan_batches(requests: Sequence[EncodedRequest], *, batch_size: int, buckets: Sequence[int],
                 pack: bool = False, pack_length: int | None = None, max_segments: int = 32,
                 share_prefix: bool = False, score_fraction: float = 1.0, pad_id: int = 0,
                 group_rows: int = 1, row_tokens: int | None = None, attention_weight: float = 0.0,
                 min_rows: int = 1) -> BatchPlan:
  """Groups requests into padded batches of fixed shape.

  Without packing, each request gets its own row in the smallest bucket that holds its input length; requests
  are sorted by length (longest first, ties by index) inside a bucket, each bucket is cut into batches of
  ``batch_size`` rows, and the last one is filled with dummy rows. With packing, units (a request, or with
  ``share_prefix`` requests whose contexts start with the same tokens, which then share one copy of that common
  start; see ``_prefix_groups``) are packed first-fit-decreasing into rows of ``pack_length`` positions (default:
  among the next few buckets that hold the longest request, the one that needs the fewest positions), at most
  ``max_segments`` requests a row; a unit never spans two rows. With ``row_tokens`` (and no ``pack_length``),
  rows have several lengths instead: each unit that does not fit an open row opens one of the shortest bucket
  that holds it, so that attention, which covers a whole row, follows the units' own lengths; rows of length L
  go ``B_L`` to a batch (one compilation per length). Rows are then spread over score groups (see
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
      spread over the groups so that rows with many scored positions sit next to rows with few. With
      ``row_tokens``, a length's groups have gcd(R, B_L / min_rows) rows.
    row_tokens: with ``pack`` and no ``pack_length``: rows of several lengths, B_L rows of length L per batch,
      the largest divisor of ``batch_size`` that is a multiple of ``min_rows`` with B_L * L <= row_tokens.
    attention_weight: reported in the plan's ``cost`` (:func:`row_cost`); the attention work of one query-key
      pair relative to the body's work at one position.
    min_rows: the fewest rows of a batch (the data-axis size of a sharded batch; divides ``batch_size``).

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
  if min_rows < 1 or batch_size % min_rows:
    raise ConfigError(f"min_rows must be a positive divisor of batch_size {batch_size}, got {min_rows}")
  if row_tokens is not None and row_tokens < 1:
    raise ConfigError(f"row_tokens must be >= 1, got {row_tokens}")
  if not 0.0 < score_fraction <= 1.0:
    raise ConfigError(f"score_fraction must be in (0, 1], got {score_fraction}")
  if not requests:
    return BatchPlan([], 0, 0, 0, (), 0.0)
  num_real = sum(r.length for r in requests)
  longest = max(r.length for r in requests)
  if pack:
    if max_segments < 1:
      raise ConfigError(f"max_segments must be >= 1, got {max_segments}")
    most_scored = max(r.n_cont for r in requests)
    if pack_length is None and row_tokens is not None:
      batches, num_fed = _pack_lengths(requests, buckets, batch_size, min_rows, int(row_tokens),
                                       float(attention_weight), max_segments, share_prefix, score_fraction, pad_id,
                                       group_rows)
    elif pack_length is None:  # the row length (among the next few buckets) that needs the fewest positions
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
  cost = sum(b.tokens.shape[0] * row_cost(b.tokens.shape[1], attention_weight) for b in batches)
  return BatchPlan(batches, num_real, num_fed, num_slots, shapes, cost)
