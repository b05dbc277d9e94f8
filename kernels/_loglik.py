"""Token log-probabilities and per-segment sums for LLM scoring.

A scoring batch is a ``[B, T]`` grid of input tokens. Each row holds one or more *segments* (packed requests),
numbered 1..S, and 0 marks padding. ``targets[b, t]`` is the token that should follow ``tokens[b, t]``, and
``score_mask[b, t]`` says whether that prediction belongs to a continuation (the part whose log-likelihood is
wanted) rather than to the context. All sums are taken in float32 (or float64 under x64) whatever the dtype of
the logits, so a bfloat16 model still gets float32 log-likelihoods.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from tinyjax.kernels._decode import argmax_first


class SegmentScores(NamedTuple):
  """Per-segment results of :func:`segment_logprobs`."""

  logprob: jax.Array   # [B, S] float: sum of log p(target) over the segment's scored positions
  is_greedy: jax.Array  # [B, S] bool: every scored target is the argmax of its logits
  n_tokens: jax.Array  # [B, S] int32: number of scored positions in the segment


def token_logprobs(logits: jax.Array, targets: jax.Array, dtype=None) -> tuple[jax.Array, jax.Array]:
  """Log-probability of each target token and whether it is the greedy (argmax) token.

  Args:
    logits: [B, T, V] float array (any float dtype).
    targets: [B, T] int array of token ids in [0, V).
    dtype: the float dtype of the log-softmax (default: float32, or float64 when the logits are float64).

  Returns:
    ``(logp, greedy)``: logp [B, T] in ``dtype``; greedy [B, T] bool.
  """
  if logits.ndim != 3 or targets.shape != logits.shape[:2]:
    raise ValueError(f"logits must be [B, T, V] and targets [B, T], got {logits.shape} and {targets.shape}")
  if dtype is None:
    dtype = jnp.promote_types(logits.dtype, jnp.float32)
  x = logits.astype(dtype)
  logz = jax.nn.logsumexp(x, axis=-1)                                               # [B, T]
  picked = jnp.take_along_axis(x, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]  # [B, T]
  greedy = argmax_first(x) == targets                                               # [B, T]
  return picked - logz, greedy


def segment_logprobs(logits: jax.Array, targets: jax.Array, segment_ids: jax.Array, score_mask: jax.Array,
                     num_segments: int, dtype=None) -> SegmentScores:
  """Sums token log-probabilities over the scored positions of each segment of each row.

  Args:
    logits: [B, T, V] float array, the model's next-token logits for ``tokens[:, t]``.
    targets: [B, T] int array, the next token at each position.
    segment_ids: [B, T] int array in [0, S]; 0 is padding, k >= 1 is the k-th packed request of the row.
    score_mask: [B, T] bool, True where the position's target is a continuation token.
    num_segments: S, a static int >= 1.
    dtype: float dtype of the sums (default float32, float64 for float64 logits).

  Returns:
    SegmentScores with fields of shape [B, S]; segment k is column k - 1. Empty segments get logprob 0,
    is_greedy True and n_tokens 0.
  """
  logp, greedy = token_logprobs(logits, targets, dtype)
  scored = score_mask & (segment_ids > 0)                                           # [B, T]
  onehot = (segment_ids[..., None] == jnp.arange(1, num_segments + 1, dtype=segment_ids.dtype)) & scored[..., None]
  logprob = jnp.sum(jnp.where(onehot, logp[..., None], jnp.zeros((), logp.dtype)), axis=1)   # [B, S]
  all_greedy = jnp.all(jnp.where(onehot, greedy[..., None], True), axis=1)                    # [B, S]
  count = jnp.sum(onehot, axis=1, dtype=jnp.int32)                                             # [B, S]
  return SegmentScores(logprob, all_greedy, count)
