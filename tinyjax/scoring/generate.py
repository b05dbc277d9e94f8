"""Generation with lm-evaluation-harness ``generate_until`` semantics, bucketed, cached and optionally sharded.

    items = [scoring.Generate(context="Question: ...\\nAnswer:", until=["\\n\\n"], max_gen_toks=256), ...]
    res = scoring.generate(model, None, tokenizer, items, batch_size=8)              # greedy
    res = scoring.generate(model, None, tokenizer, items, temperature=0.8, top_p=0.95, key=key, n=16)
    res.text, res.tokens

:class:`Generator` keeps two jitted functions for its whole life, a prefill and a decode chunk, so each
(prompt bucket, new-token budget) pair compiles once per training run (``Generator.compilations`` counts the
traces). Prompts are left-padded into length buckets, so every row writes its next token to the same cache slot.

The rules follow lm-eval's HF model (``lm_eval/models/huggingface.py``, ``generate_until``):

* the prompt is encoded without special tokens and keeps its last ``max_length - max_gen_toks`` tokens;
* generation stops at the tokenizer's end-of-sequence token, after ``max_gen_toks`` new tokens, or once the
  decoded new text contains a stop string of ``until`` (lm-eval's stopping criterion);
* the text (decoded without special tokens) is cut before each stop string in turn (``s.split(term)[0]``).

A row stops at the first token whose text completes a stop string, which is what lm-eval does for a batch of one;
lm-eval's batches run until every row has stopped, which changes nothing in the cut text except when a later stop
string straddles the point where an earlier one was found. An empty context is replaced by the prefix token (BOS,
else EOS), as for log-likelihoods (lm-eval would fail on an empty prompt).

The cache protocol (what a model implements to be generated with a cache; the GPT-2 and Llama ports do):

* an NNX module with ``init_cache(batch_size, length) -> cache`` (any pytree whose leaves have the batch first)
  and ``generate_step(tokens [B, T], positions [B, T], kv_mask [B, S], cache, index []) -> (logits [B, V],
  cache)``: write the T tokens at cache slots ``index .. index + T - 1``, attend to the slots ``<=`` their own
  where ``kv_mask`` is True, and return the logits of the last of the T positions. The prefill calls it with the
  whole left-padded prompt at index 0, each decode step with one token. Optionally, a module whose class sets
  ``supports_cache_window = True`` (the GPT-2 and Llama ports) also takes ``kv_start=`` ([] int32: ``kv_mask``
  [B, W] then covers slots ``kv_start .. kv_start + W - 1``, the only ones attention reads); its prompts are then
  prefilled in chunks of up to 128 slots (:class:`~tinyjax.scoring.adapter.Chunked`), from the first chunk that
  holds a real token of its group of rows, each chunk attending to the slots up to its own end (no padding-only
  chunk, no upper triangle);
  a module whose class also sets ``supports_cache_groups = True`` (the ports) takes a cache whose layers are
  ``GroupedCache`` tuples, with ``kv_mask`` and ``index`` one per group, so that a batch's decode groups each read
  their own width of cache (:class:`~tinyjax.scoring.adapter.Chunked`);
* an ``apply_fn`` with the attributes ``init_cache(batch_size, length)`` and
  ``generate_step(params, tokens, positions, kv_mask, cache, index)``, the same with the parameters first.

A model without them (a plain ``apply_fn(params, tokens) -> logits`` or module) is generated without a cache: every
step runs the whole sequence again (right-aligned, so that no attention mask is needed), which is much slower.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tinyjax import kernels
from tinyjax.errors import ConfigError, InputError, ItemError
from tinyjax.scoring.batching import power_of_two_buckets
from tinyjax.scoring.items import check_items
from tinyjax.scoring.requests import Generate
from tinyjax.scoring.adapter import ModelAdapter, Recompute, decoder_for, rows_per_batch
from tinyjax.scoring.scorer import DEFAULT_MAX_LENGTH, _WeakScorerCache, put_rows
from tinyjax.scoring.tokenizers import TokenizerAdapter, as_tokenizer

__all__ = ("DEFAULT_CHUNK", "GenerateResult", "Generator", "SampleResult", "generate", "grade", "sample")

#: New tokens per decode call between two host checks of the stop strings.
DEFAULT_CHUNK = 32


@dataclasses.dataclass(frozen=True)
class GenerateResult:
  """Generations of N items (n samples each).

  Attributes:
    text: [N] str, the new text cut before the stop strings; with ``n > 1``, [N] lists of n strings.
    tokens: [N] lists of generated token ids, before the cut (through the token that completed a stop string, or
      the end-of-sequence token); with ``n > 1``, [N] lists of n such lists.
    stop: [N] (or [N][n]) why each generation ended: ``"until"`` (a stop string), ``"eos"`` or ``"length"``
      (``max_gen_toks`` new tokens).
    n_prompt_tokens: real prompt tokens fed (after left truncation), summed over the rows generated.
    n_new_tokens: tokens generated, summed over the rows (the lengths of ``tokens``).
    padding_fraction: share of the prompt positions fed to the model that were padding (dummy rows included).
    idle_fraction: share of the decode row-steps spent on rows that had already stopped, or on dummy rows.
    n_rows: rows generated (identical greedy requests are generated once).
  """

  text: list
  tokens: list
  stop: list
  n_prompt_tokens: int
  n_new_tokens: int
  padding_fraction: float
  idle_fraction: float
  n_rows: int


class _Decode(NamedTuple):
  """Device state between decode chunks (all leaves but ``index`` have the batch first)."""

  carry: Any            # the model cache (or, without one, the right-aligned token buffer and lengths)
  token: jax.Array      # [B] int32, the last token chosen (fed by the next step)
  position: jax.Array   # [B] int32, its model position
  index: jax.Array      # [] int32, its cache slot
  count: jax.Array      # [B] int32, tokens chosen so far
  done: jax.Array       # [B] bool


class _Row(NamedTuple):
  item: int            # index in the request list
  sample: int          # sample index in [0, n)
  prompt: tuple        # prompt ids after truncation
  max_new: int


def _row_keys(key: jax.Array, item: jax.Array, sample: jax.Array) -> jax.Array:
  """[B] keys ``fold_in(fold_in(key, item), sample)``: a row's draws do not depend on its batch."""
  return jax.vmap(lambda i, j: jax.random.fold_in(jax.random.fold_in(key, i), j))(item, sample)


def _row_constraint(mesh: jax.sharding.Mesh | None, data_axis: str) -> Callable:
  """tree -> tree with every leaf sharded by rows along ``data_axis`` (the identity without a mesh)."""
  if mesh is None:
    return lambda tree: tree

  def one(x):
    spec = P(data_axis, *([None] * (x.ndim - 1))) if x.ndim else P()
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
  return lambda tree: jax.tree.map(one, tree)


class _Batch(NamedTuple):
  """What one batch gives back to :meth:`Generator.generate` (its rows in batch order)."""

  tokens: list          # [rows] lists of new token ids, cut after the token that completed a stop string
  stops: list           # [rows] "until", "eos" or "length"
  n_fed: int            # real prompt tokens fed
  n_padded: int         # padding positions fed with them
  busy: int             # decode row-steps of live rows
  idle: int             # decode row-steps of stopped or dummy rows


class Generator:
  """Generates text for :class:`~tinyjax.scoring.Generate` items, one compilation per (bucket, budget) for its life.

  Args:
    model: an NNX module (the GPT-2 and Llama ports, or a module with the cache protocol of this module's
      docstring), or an ``apply_fn(params, tokens) -> logits`` (optionally with ``init_cache`` /
      ``generate_step`` attributes).
    tokenizer: anything :func:`~tinyjax.scoring.tokenizers.as_tokenizer` accepts; it must ``decode``.
    mesh: optional ``jax.sharding.Mesh`` (Auto axes); rows and the cache are sharded along ``data_axis``, the
      parameters keep the sharding the caller gave them.
    batch_size: rows per batch, rounded up to a multiple of the data-axis size.
    max_length: model window; default ``model.max_length`` or 2048. Prompts keep their last ``max_length -
      max_gen_toks`` tokens.
    buckets: allowed prompt lengths (default eight per octave: 16, 18, 20, ..., 32, 36, 40, ... up to ``max_length``).
    chunk: new tokens per decode call between host checks of the stop strings (default 32; only a speed knob).
    cache: use the model's cache (default: when it has the protocol); False generates without one.
    eos_token_id: the id that ends a generation (default: the tokenizer's end-of-sequence token, if any).
    data_axis: the mesh axis of the rows.
    prefix_token_id: token put in place of an empty context (default: the tokenizer's BOS, else EOS).

  Attributes:
    adapter: the :class:`~tinyjax.scoring.adapter.ModelAdapter` of the model (pure prefill and step functions).
    decoder: how the model is run (:class:`~tinyjax.scoring.adapter.Chunked`, ``OnePass`` or ``Recompute``).
    compilations: traces of the prefill and decode functions (one each per (bucket, budget, mode)).
  """

  def __init__(self, model, tokenizer, *, mesh: jax.sharding.Mesh | None = None, batch_size: int = 8,
               max_length: int | None = None, buckets: Sequence[int] | None = None, chunk: int = DEFAULT_CHUNK,
               cache: bool | None = None, eos_token_id: int | None = None, data_axis: str = "data",
               prefix_token_id: int | None = None):
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
      raise ConfigError(f"chunk must be a positive int, got {chunk!r}")
    self.batch_size, _ = rows_per_batch(batch_size, mesh, data_axis)
    self.tokenizer = as_tokenizer(tokenizer, prefix_token_id)
    self.mesh = mesh
    self.data_axis = data_axis
    self.adapter = ModelAdapter.of(model)
    self._constrain = _row_constraint(mesh, data_axis)
    self.decoder = decoder_for(self.adapter, cache, self._constrain, sharded=mesh is not None)
    self.chunk = int(chunk)
    if max_length is None:
      max_length = self.adapter.max_length or DEFAULT_MAX_LENGTH
    if int(max_length) < 2:
      raise ConfigError(f"max_length must be >= 2, got {max_length}")
    self.max_length = int(max_length)
    self.buckets = (tuple(sorted(int(b) for b in buckets)) if buckets is not None
                    else power_of_two_buckets(self.max_length, per_octave=8))
    self.vocab_size = self.adapter.vocab_size
    eos = self.tokenizer.eos_token_id if eos_token_id is None else int(eos_token_id)
    self.eos_token_id: int | None = eos
    self.compilations = 0
    self.last_shapes: set[tuple[int, int]] = set()
    self._prefill_jit = jax.jit(self._prefill,
                                static_argnames=("cache_len", "max_new", "greedy", "nucleus", "layout"))
    self._chunk_jit = jax.jit(self._chunk, static_argnames=("max_new", "steps", "greedy", "nucleus", "layout"),
                              donate_argnums=(1,))

  @property
  def cached(self) -> bool:
    """Whether the model's KV cache is used (False: every step reruns the whole sequence)."""
    return not isinstance(self.decoder, Recompute)

  # -- device side ------------------------------------------------------------------------------------------
  def _replicated(self, tree):
    if self.mesh is None:
      return tree
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, P())), tree)

  def _choose(self, logits, row_keys, count, temperature, top_p, greedy, nucleus):
    keys = jax.vmap(jax.random.fold_in)(row_keys, count)
    pick = lambda k, lg: kernels.sample_token(k, lg, temperature, top_p, greedy=greedy, nucleus=nucleus)  # noqa
    return jax.vmap(pick)(keys, logits)

  def _prefill(self, params, tokens, valid, live, row_keys, temperature, top_p, *, cache_len, max_new, greedy,
               nucleus, layout):
    """Feeds left-padded prompts [B, T] (``valid`` [B, T] marks real tokens) and chooses the first new token."""
    self.compilations += 1   # runs once per trace
    b, t = tokens.shape
    n_real = jnp.sum(valid, axis=1, dtype=jnp.int32)
    positions = jnp.maximum(jnp.cumsum(valid, axis=1, dtype=jnp.int32) - 1, 0)
    logits, carry = self.decoder.prefill(self.adapter, params, tokens, positions, valid, cache_len, layout)
    count = jnp.zeros(b, jnp.int32)
    token = self._choose(logits, row_keys, count, temperature, top_p, greedy, nucleus)
    token = jnp.where(live, token, 0)
    done = ~live | (token == self._eos) | (max_new <= 1)
    state = _Decode(carry, token, n_real, jnp.int32(t), count + live, done)
    return state, self._replicated((token, done))

  @property
  def _eos(self) -> int:
    return -1 if self.eos_token_id is None else int(self.eos_token_id)

  def _chunk(self, params, state: _Decode, kv_mask, row_keys, temperature, top_p, *, max_new, steps, greedy,
             nucleus, layout):
    """Up to ``steps`` decode steps (fewer once every row is done): (state, tokens [B, steps], steps taken)."""
    self.compilations += 1
    b = state.token.shape[0]
    out = jnp.zeros((b, steps), jnp.int32)

    def cond(c):
      i, st, _ = c
      return (i < steps) & ~jnp.all(st.done)

    def body(c):
      i, st, out = c
      logits, carry = self.decoder.step(self.adapter, params, st.carry, st.token, st.position, kv_mask, st.index,
                                        layout)
      token = self._choose(logits, row_keys, st.count, temperature, top_p, greedy, nucleus)
      token = jnp.where(st.done, 0, token)
      out = out.at[:, i].set(token)
      count = st.count + (~st.done).astype(jnp.int32)
      done = st.done | (token == self._eos) | (count >= max_new)
      return i + 1, _Decode(carry, token, st.position + 1, st.index + 1, count, done), out

    i, state, out = jax.lax.while_loop(cond, body, (jnp.int32(0), state, out))
    return state, self._replicated((out, state.done, state.count, i))

  # -- host side --------------------------------------------------------------------------------------------
  def encode(self, item: Generate) -> list[int]:
    """The prompt ids of one item: lm-eval's encoding, left-truncated to ``max_length - max_gen_toks`` tokens."""
    room = self.max_length - item.max_gen_toks
    if room < 1:
      raise ItemError(f"max_gen_toks {item.max_gen_toks} leaves no room for the prompt in the model window "
                      f"{self.max_length}")
    ids = self.tokenizer.encode(item.context) if item.context else []
    if not ids:
      if self.tokenizer.prefix_token_id is None:
        raise ItemError("an empty context needs a prefix token (BOS/EOS), but the tokenizer has none: pass "
                        "prefix_token_id=")
      ids = [int(self.tokenizer.prefix_token_id)]
    return ids[-room:]

  def _bucket(self, n: int) -> int:
    for b in self.buckets:
      if b >= n:
        return b
    raise ItemError(f"a prompt of {n} tokens is longer than the largest bucket {self.buckets[-1]}")

  def _check_ids(self, rows: Sequence[_Row]):
    ids = [t for r in rows for t in r.prompt]
    if ids and min(ids) < 0:
      raise ItemError("negative token id: the tokenizer returned an id below 0")
    if ids and self.vocab_size is not None and max(ids) >= self.vocab_size:
      raise ItemError(f"token id {max(ids)} is outside the model vocabulary of {self.vocab_size}")

  def generate(self, items: Sequence[Generate], params=None, *, temperature: float = 0.0, top_p: float = 1.0,
               key: jax.Array | None = None, n: int = 1) -> GenerateResult:
    """Generates every item (``n`` samples each); see :class:`GenerateResult`.

    Args:
      items: the :class:`~tinyjax.scoring.Generate` items.
      params: the parameters of an apply_fn; for a module, None (its current state), its state or a module.
      temperature: 0 (default) is greedy; > 0 samples from softmax(logits / temperature).
      top_p: nucleus sampling mass in (0, 1] (1 keeps every token); only with ``temperature > 0``.
      key: PRNG key, required when sampling. Sample j of item i draws from ``fold_in(fold_in(key, i), j)``, so the
        same key gives the same samples whatever the batch size, bucketing or mesh.
      n: samples per item (with greedy decoding they are all the same and are generated once).
    """
    items = check_items(items, Generate)
    temperature, top_p, n = _check_sampling(temperature, top_p, key, n)
    greedy = temperature == 0.0
    params = self.adapter.params(params)
    prompts = [tuple(self.encode(it)) for it in items]
    # rows: one per (item, sample); identical greedy requests once
    rows: list[_Row] = []
    owner: dict[tuple, int] = {}
    where = np.empty((len(items), n), np.int64)
    for i, it in enumerate(items):
      for j in range(n):
        req = (prompts[i], it.max_gen_toks) if greedy else (i, j)
        if req not in owner:
          owner[req] = len(rows)
          rows.append(_Row(i, j, prompts[i], it.max_gen_toks))
        where[i, j] = owner[req]
    self._check_ids(rows)
    for r in rows:
      self._bucket(len(r.prompt))   # every prompt fits a bucket, before any work
    base_key = jax.random.key(0) if key is None else key
    # batches: rows of one budget sorted by prompt length; a batch's bucket holds its longest prompt
    order = sorted(range(len(rows)), key=lambda r: (rows[r].max_new, -len(rows[r].prompt), r))
    generated: list[list[int]] = [[] for _ in rows]
    stops: list[str] = ["length"] * len(rows)
    fed = padded = busy = idle = 0
    self.last_shapes = set()
    for max_new, group in itertools.groupby(order, key=lambda r: rows[r].max_new):
      group = list(group)
      for start in range(0, len(group), self.batch_size):
        batch = group[start:start + self.batch_size]
        bucket = self._bucket(len(rows[batch[0]].prompt))
        self.last_shapes.add((bucket, max_new))
        out = self._run_batch([rows[r] for r in batch], [items[rows[r].item] for r in batch], bucket, max_new,
                              params, base_key, temperature, top_p, greedy)
        for k, r in enumerate(batch):
          generated[r], stops[r] = out.tokens[k], out.stops[k]
        fed += out.n_fed
        padded += out.n_padded
        busy += out.busy
        idle += out.idle
    texts = [_text(items[r.item], self.tokenizer, generated[k], self._eos) for k, r in enumerate(rows)]
    pick = (lambda xs, i: [xs[where[i, j]] for j in range(n)]) if n > 1 else (lambda xs, i: xs[where[i, 0]])
    return GenerateResult(
        text=[pick(texts, i) for i in range(len(items))],
        tokens=[pick([list(g) for g in generated], i) for i in range(len(items))],
        stop=[pick(stops, i) for i in range(len(items))],
        n_prompt_tokens=int(sum(len(rows[where[i, j]].prompt) for i in range(len(items)) for j in range(n))),
        n_new_tokens=int(sum(len(generated[where[i, j]]) for i in range(len(items)) for j in range(n))),
        padding_fraction=float(padded / max(1, fed + padded)),
        idle_fraction=float(idle / max(1, busy + idle)),
        n_rows=len(rows))

  def _run_batch(self, batch: list[_Row], batch_items: list[Generate], bucket: int, max_new: int, params,
                 base_key, temperature, top_p, greedy) -> _Batch:
    """Generates one batch of rows (at most ``batch_size``, padded with dummy rows) in a bucket of ``bucket``."""
    bsz = self.batch_size
    tokens = np.zeros((bsz, bucket), np.int32)
    valid = np.zeros((bsz, bucket), bool)
    live = np.zeros(bsz, bool)
    item_ids = np.zeros(bsz, np.int32)
    sample_ids = np.zeros(bsz, np.int32)
    for k, row in enumerate(batch):
      p = row.prompt
      tokens[k, bucket - len(p):] = p
      valid[k, bucket - len(p):] = True
      live[k] = True
      item_ids[k], sample_ids[k] = row.item, row.sample
    cache_len = bucket + max_new
    lengths = valid.sum(axis=1)
    layout = self.decoder.layout(lengths, bucket, self.buckets)
    put = lambda x: put_rows(x, self.mesh, self.data_axis)  # noqa: E731
    row_keys = _row_keys(base_key, put(item_ids), put(sample_ids))
    temp = jnp.float32(max(temperature, 1e-6))
    nucleus = (not greedy) and top_p < 1.0
    state, (tok0, done0) = self._prefill_jit(
        params, put(tokens), put(valid), put(live), row_keys, temp, jnp.float32(top_p), cache_len=cache_len,
        max_new=max_new, greedy=greedy, nucleus=nucleus, layout=layout)
    kv_mask = put(np.concatenate([valid, np.ones((bsz, max_new), bool)], axis=1))
    out: list[list[int]] = [[t] for t in np.asarray(tok0)[:len(batch)].tolist()]
    reason = ["eos" if toks[-1] == self._eos else "length" for toks in out]
    done = np.array(done0)
    counts = live.astype(np.int64)
    checked = [0] * len(batch)
    busy, idle = len(batch), bsz - len(batch)
    steps = min(self.chunk, max(1, max_new - 1))
    while True:
      for k, it in enumerate(batch_items):   # stop strings, on the host
        end = self._stop_end(it, out[k], checked[k])
        if end is not None:
          out[k], done[k], reason[k] = out[k][:end], True, "until"
        checked[k] = len(out[k])
      if done.all():
        break
      state = state._replace(done=put(done))
      state, (chunk, dev_done, dev_count, taken) = self._chunk_jit(
          params, state, kv_mask, row_keys, temp, jnp.float32(top_p), max_new=max_new, steps=steps,
          greedy=greedy, nucleus=nucleus, layout=layout)
      chunk, dev_count, taken = np.asarray(chunk), np.asarray(dev_count), int(taken)
      for k in range(len(batch)):
        new = chunk[k, :int(dev_count[k] - counts[k])].tolist()
        if new and new[-1] == self._eos:
          reason[k] = "eos"
        out[k] = out[k] + new
        busy += len(new)
      idle += taken * bsz - int((dev_count - counts).sum())
      counts = dev_count.astype(np.int64)
      done = done | np.asarray(dev_done)
    n_fed = int(valid.sum())
    return _Batch(out, reason, n_fed, self.decoder.fed_positions(lengths, bucket) - n_fed, busy, idle)

  def _stop_end(self, item: Generate, ids: list[int], checked: int) -> int | None:
    """Tokens to keep when the new text ``ids`` holds a stop string (through the token completing the first one).

    Returns None when no stop string appears, or when nothing was added since ``checked`` tokens.
    """
    terms = [u for u in item.until if u]
    if not terms or checked >= len(ids):
      return None
    text_ids = ids[:-1] if ids[-1] == self._eos else ids
    if not any(u in self.tokenizer.decode(text_ids) for u in terms):
      return None
    for end in range(checked + 1, len(text_ids) + 1):   # the first token that completes a stop string
      if any(u in self.tokenizer.decode(text_ids[:end]) for u in terms):
        return end
    return len(ids)


def _text(item: Generate, tokenizer: TokenizerAdapter, ids: list[int], eos: int) -> str:
  if ids and ids[-1] == eos:
    ids = ids[:-1]
  return item.cut(tokenizer.decode(ids))


def _check_sampling(temperature, top_p, key, n) -> tuple[float, float, int]:
  try:
    temperature = float(temperature)
    top_p = float(top_p)
  except (TypeError, ValueError):
    raise ConfigError(f"temperature and top_p must be numbers, got {temperature!r} and {top_p!r}") from None
  if not np.isfinite(temperature) or temperature < 0:
    raise ConfigError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
  if not 0.0 < top_p <= 1.0:
    raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ConfigError(f"n must be a positive int, got {n!r}")
  if temperature > 0 and key is None:
    raise ConfigError("sampling (temperature > 0) needs an explicit key=jax.random.key(...)")
  return temperature, top_p, int(n)


_GENERATOR_CACHE = _WeakScorerCache(16, factory=Generator)


def generate(model_or_apply_fn: Callable | nnx.Module, params, tokenizer, items: Sequence[Generate], mesh=None,
             batch_size: int = 8, temperature: float = 0.0, key: jax.Array | None = None, n: int = 1,
             top_p: float = 1.0, **kwargs) -> GenerateResult:
  """Generates each item with lm-eval ``generate_until`` semantics (see :class:`Generator` for ``kwargs``).

  The Generator is reused across calls with the same model, tokenizer, mesh and settings (the cache never keeps
  a model alive), so repeated calls reuse its compilations. In a training loop, hold a :class:`Generator`.

  Args:
    model_or_apply_fn: an NNX module, or ``apply_fn(params, tokens [B, L]) -> logits [B, L, V]``.
    params: the parameters of ``apply_fn``; for a module, None (its current state), its state, or a module.
    tokenizer: anything :func:`~tinyjax.scoring.tokenizers.as_tokenizer` accepts, with ``decode``.
    items: the :class:`~tinyjax.scoring.Generate` items.
    mesh: optional Mesh; rows are sharded along its ``"data"`` axis.
    batch_size: rows per batch.
    temperature: 0 is greedy; > 0 samples (needs ``key``).
    key: PRNG key for sampling.
    n: samples per item; with ``n > 1``, ``text``/``tokens`` hold a list of n per item.
    top_p: nucleus sampling mass.

  Returns:
    A :class:`GenerateResult`: ``text``, ``tokens``, ``stop`` and the padding and token counts.
  """
  gen = _GENERATOR_CACHE.get(model_or_apply_fn, tokenizer, mesh=mesh, batch_size=batch_size, **kwargs)
  return gen.generate(items, params, temperature=temperature, top_p=top_p, key=key, n=n)


@dataclasses.dataclass(frozen=True)
class SampleResult:
  """n sampled answers per problem, graded: the counts that ``tj.sampling`` (pass@k, coverage laws, OSCA) takes.

  Attributes:
    n: [N] int, samples per problem.
    c: [N] int, correct samples per problem (``tj.sampling.pass_at_k(res.n, res.c, k)``).
    correct: [N, n] bool, each sample's grade.
    answers: [N] lists of n extracted answers (the answer rule's filter; the cut text for a callable rule).
    generations: the :class:`GenerateResult` (``text``, ``tokens``, counts).
  """

  n: np.ndarray
  c: np.ndarray
  correct: np.ndarray
  answers: list
  generations: GenerateResult


def grade(items: Sequence[Generate], texts: Sequence[str], rule="strict-match") -> tuple[np.ndarray, list[str]]:
  """Grades one generated text per item: (correct [N] bool, extracted answers [N]).

  Args:
    items: N :class:`~tinyjax.scoring.Generate` items; an answer rule needs each item's ``target``.
    texts: N generated texts (``GenerateResult.text``).
    rule: an answer rule name of :data:`tinyjax.scoring.filters.ANSWER_RULES` (``"strict-match"``,
      ``"flexible-extract"``: GSM8K's), an ``AnswerRule``, or ``rule(text, item) -> bool``.
  """
  from tinyjax.scoring.filters import AnswerRule, answer_rule

  if len(items) != len(texts):
    raise InputError(f"{len(items)} items but {len(texts)} texts")
  if callable(rule) and not isinstance(rule, AnswerRule):
    return np.array([bool(rule(t, it)) for t, it in zip(texts, items)], bool), list(texts)
  rule = answer_rule(rule)
  missing = [k for k, it in enumerate(items) if it.target is None]
  if missing:
    raise ItemError(f"item {missing[0]} (and {len(missing) - 1} more) has no target: the answer rule "
                    f"{rule.name!r} compares the extracted answer with Generate.target")
  return (np.array([rule.correct(t, it.target) for t, it in zip(texts, items)], bool),
          [rule.extract(t) for t in texts])


def sample(model_or_apply_fn: Callable | nnx.Module, params, tokenizer, items: Sequence[Generate], *, n: int,
           key: jax.Array, temperature: float = 1.0, top_p: float = 1.0, rule="strict-match", mesh=None,
           batch_size: int = 8, **kwargs) -> SampleResult:
  """Repeated sampling: ``n`` answers per problem, graded, as per-problem correct counts for ``tj.sampling``.

      res = scoring.sample(model, None, tok, items, n=64, key=jax.random.key(0), temperature=0.8)
      tj.sampling.pass_at_k(res.n, res.c, k=[1, 8, 64])       # coverage of each k

  Args:
    model_or_apply_fn, params, tokenizer, mesh, batch_size, **kwargs: as :func:`generate`.
    items: the problems (:class:`~tinyjax.scoring.Generate` with ``target`` for an answer rule).
    n: samples per problem.
    key: PRNG key; sample j of problem i draws from ``fold_in(fold_in(key, i), j)``.
    temperature: sampling temperature (> 0; 0 would repeat one greedy answer n times).
    top_p: nucleus mass.
    rule: how a sample is graded (see :func:`grade`); default GSM8K's strict-match exact match.

  Returns:
    A :class:`SampleResult`: ``n`` [N], ``c`` [N], ``correct`` [N, n], ``answers`` and the generations.
  """
  if key is None:
    raise ConfigError("sample needs an explicit key=jax.random.key(...)")
  items = check_items(items, Generate)
  res = generate(model_or_apply_fn, params, tokenizer, items, mesh=mesh, batch_size=batch_size,
                 temperature=temperature, key=key, n=n, top_p=top_p, **kwargs)
  texts = res.text if n > 1 else [[t] for t in res.text]
  flat_items = [it for it in items for _ in range(n)]
  ok, answers = grade(flat_items, [t for row in texts for t in row], rule)
  correct = ok.reshape(len(items), n)
  return SampleResult(n=np.full(len(items), n, np.int64), c=correct.sum(axis=1).astype(np.int64), correct=correct,
                      answers=[answers[i * n:(i + 1) * n] for i in range(len(items))], generations=res)
