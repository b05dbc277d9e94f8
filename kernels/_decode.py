"""Next-token choice for generation: greedy, temperature and nucleus (top-p) sampling of one row of logits.

One row in, one token out; the caller vmaps over rows (each row with its own key) and jits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def top_p_logits(logits: jax.Array, top_p: jax.Array) -> jax.Array:
  """Logits [V] with every token outside the nucleus set to -inf.

  The nucleus is the smallest set of most likely tokens whose probability reaches ``top_p``: a token is kept when
  the probability of the tokens ranked above it is below ``top_p`` (so the most likely token is always kept; the
  same rule as transformers' ``TopPLogitsWarper``). ``top_p >= 1`` keeps every token.

  Args:
    logits: [V] float.
    top_p: [] float in (0, 1].
  """
  order = jnp.argsort(-logits)                                 # most likely first
  probs = jax.nn.softmax(logits[order].astype(jnp.float32))
  above = jnp.cumsum(probs) - probs                            # mass ranked above each token
  keep = jnp.zeros(logits.shape, bool).at[order].set(above < top_p)
  return jnp.where(keep | (top_p >= 1.0), logits, -jnp.inf)


def sample_token(key: jax.Array, logits: jax.Array, temperature: jax.Array, top_p: jax.Array,
                 greedy: bool = False, nucleus: bool = True) -> jax.Array:
  """One next token from logits [V]: the argmax when ``greedy``, else a draw from softmax(logits / T) in the nucleus.

  Args:
    key: a PRNG key (unused when ``greedy``).
    logits: [V] float.
    temperature: [] float > 0 (ignored when ``greedy``).
    top_p: [] float in (0, 1] (see :func:`top_p_logits`; applied after the temperature, as transformers does).
    greedy: static; take the argmax (ties go to the lowest id, as ``torch.argmax``).
    nucleus: static; apply ``top_p`` (False skips the sort over the vocabulary).

  Returns:
    [] int32 token id.
  """
  if greedy:
    return jnp.argmax(logits).astype(jnp.int32)
  scaled = logits.astype(jnp.float32) / temperature
  if nucleus:
    scaled = top_p_logits(scaled, top_p)
  return jax.random.categorical(key, scaled).astype(jnp.int32)
