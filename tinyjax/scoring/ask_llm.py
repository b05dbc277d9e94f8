"""Ask-LLM quality scoring of training examples (Sachdeva et al., 2024, "How to Train Data-Efficient LLMs").

An instruction-tuned LLM reads each example inside the paper's prompt (:data:`ASK_LLM_TEMPLATE`), and the
example is scored by the probability of "yes" as the next token (:func:`ask_llm_scores`,
:func:`add_ask_llm_column`). The forward passes run on :class:`tinyjax.scoring.Scorer`. Density (coverage)
sampling, the other selection method of the paper, and the choice of the best rows (``selection.top_k``,
``selection.select_top_k``) are :mod:`tinyjax.selection`, which also re-exports these names; this module does not
import it (the LLM runtime loads no statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyjax._checks import check_count
from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring.batching import EncodedRequest
from tinyjax.scoring.items import check_items
from tinyjax.scoring.scorer import cached_scorer
from tinyjax.scoring.tokenizers import as_tokenizer

__all__ = ("ASK_LLM_TEMPLATE", "add_ask_llm_column", "ask_llm_prompt_ids", "ask_llm_scores")


def _is_dataset(obj) -> bool:
  try:
    import datasets
  except ImportError:  # pragma: no cover - datasets is a dependency
    return False
  return isinstance(obj, datasets.Dataset)


#: The Ask-LLM prompt of Sachdeva et al. (2024, Figure 3): the example between ``###`` markers, the question
#: whether it is informative for pre-training, and the options yes / no. The wording is the paper's; the blank
#: lines follow the reference implementation nano-askllm. ``{example}`` marks where the example goes.
ASK_LLM_TEMPLATE = (
    "###\n"
    "{example}\n"
    "###\n"
    "\n"
    "Does the previous paragraph demarcated within ### and ### contain informative signal for pre-training a "
    "large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of "
    "the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n"
    "\n"
    "OPTIONS:\n"
    "- yes\n"
    "- no\n"
)

_PLACEHOLDER = "{example}"


def _split_template(template: str) -> tuple[str, str]:
  if not isinstance(template, str) or template.count(_PLACEHOLDER) != 1:
    raise ConfigError(f"template must be a str containing {_PLACEHOLDER!r} exactly once")
  prefix, suffix = template.split(_PLACEHOLDER)
  return prefix, suffix


def ask_llm_prompt_ids(tokenizer, text: str, *, template: str = ASK_LLM_TEMPLATE, max_length: int = 2048,
                       add_bos: bool = False) -> list[int]:
  """Token ids of the Ask-LLM prompt for one example, cut to fit the model window.

  The prompt is tokenized in three pieces, the template before the example, the example, and the template
  after it; their ids are concatenated. The default template joins the pieces at newlines, where BPE
  tokenizers that split on whitespace (GPT-2, Llama) would cut anyway. An example too long for the window
  loses its last tokens; the instruction is always kept whole.

  Args:
    tokenizer: anything ``tinyjax.scoring.as_tokenizer`` accepts.
    text: the example.
    template: the prompt, with ``{example}`` once.
    max_length: the model window: the prompt plus the answer token use at most ``max_length + 1`` ids, so
      the prompt has at most ``max_length`` ids.
    add_bos: start with the tokenizer's BOS (``prefix_token_id``), as Llama-family models expect.

  Returns:
    The prompt's token ids (the answer token is not included).
  """
  tok = as_tokenizer(tokenizer)
  prefix, suffix = _split_template(template)
  if not isinstance(text, str):
    raise ItemError(f"each example must be a str, got {type(text).__name__}")
  head = tok.encode(prefix) if prefix else []
  tail = tok.encode(suffix) if suffix else []
  if add_bos:
    if tok.prefix_token_id is None:
      raise ConfigError("add_bos=True but the tokenizer has no BOS (or EOS) token")
    head = [tok.prefix_token_id] + head
  budget = max_length - len(head) - len(tail)
  if budget < 1:
    raise ConfigError(f"the Ask-LLM template alone takes {len(head) + len(tail)} tokens, which leaves no room "
                     f"for the example in a window of {max_length}")
  body = tok.encode(text)[:budget]
  ids = head + body + tail
  if not ids:
    raise ItemError("the prompt is empty")
  return ids


def ask_llm_scores(apply_fn, params, tokenizer, texts: Sequence[str], *, template: str = ASK_LLM_TEMPLATE,
                   yes_tokens: Sequence[str] = ("yes",), add_bos: bool = False, mesh=None, batch_size: int = 8,
                   max_length: int | None = None, **scorer_kwargs) -> np.ndarray:
  """Ask-LLM quality scores: the probability that the model answers "yes" to the paper's prompt.

  Each example is put into ``template`` (:data:`ASK_LLM_TEMPLATE`), and its score is
  ``sum_y P(y | prompt)`` over the ``yes_tokens`` (one by default), each probability taken at the first
  answer position with a softmax over the full vocabulary. The computation runs on
  :class:`tinyjax.scoring.Scorer`: the same length buckets, padded batches, optional packing and mesh
  sharding, and one compilation per batch shape (the scorer is reused across calls with the same model,
  tokenizer and settings, without keeping the model alive; see :func:`tinyjax.scoring.score`). Each yes token is one
  single-token continuation request, so m yes tokens cost m forward passes per example.

  Args:
    apply_fn: ``apply_fn(params, tokens [B, L] int32) -> logits [B, L, V]``, or a Flax NNX module.
    params: the parameters of ``apply_fn`` (for a module: None for its current state).
    tokenizer: anything ``tinyjax.scoring.as_tokenizer`` accepts.
    texts: N examples (str).
    template: the prompt, with ``{example}`` once.
    yes_tokens: the answer strings counted as "yes"; each must encode to exactly one token.
    add_bos: start each prompt with the tokenizer's BOS.
    mesh: optional ``jax.sharding.Mesh`` with a ``"data"`` axis: batches are sharded along it.
    batch_size: rows per batch.
    max_length: the model window (default: the model's ``max_length``, else 2048). Long examples are cut.
    **scorer_kwargs: other :class:`tinyjax.scoring.Scorer` settings (``buckets``, ``pack``, ``dtype``...).

  Returns:
    [N] float P("yes"), in [0, 1].
  """
  texts = check_items(texts, str, name="texts")
  if isinstance(yes_tokens, str):
    yes_tokens = (yes_tokens,)
  yes_tokens = tuple(yes_tokens)
  if not yes_tokens:
    raise ConfigError("yes_tokens is empty")
  _split_template(template)
  scorer = cached_scorer(apply_fn, tokenizer, mesh=mesh, batch_size=batch_size, max_length=max_length,
                         **scorer_kwargs)
  yes_ids = []
  for y in yes_tokens:
    ids = scorer.tokenizer.encode(y)
    if len(ids) != 1:
      raise ConfigError(f"yes token {y!r} encodes to {len(ids)} tokens {ids}; each yes token must be one token")
    yes_ids.append(ids[0])
  if len(set(yes_ids)) != len(yes_ids):
    raise ConfigError(f"yes_tokens {yes_tokens} map to repeated token ids {yes_ids}")
  requests = []
  for text in texts:
    prompt = ask_llm_prompt_ids(scorer.tokenizer, text, template=template, max_length=scorer.max_length,
                                add_bos=add_bos)
    requests.extend(EncodedRequest(tuple(prompt) + (y,), 1) for y in yes_ids)
  logprob, _ = scorer.score_encoded(requests, params)
  logprob = np.asarray(logprob, np.float64).reshape(len(texts), len(yes_ids))
  return np.exp(logprob).sum(axis=1).astype(np.dtype(scorer.dtype))


def add_ask_llm_column(dataset, apply_fn, params, tokenizer, *, text_column: str = "text",
                       score_column: str = "ask_llm_score", rows_per_call: int = 4096, **kwargs):
  """Scores every row of a ``datasets.Dataset`` with :func:`ask_llm_scores` and adds the scores as a column.

  Args:
    dataset: a ``datasets.Dataset`` with a string column ``text_column``.
    apply_fn, params, tokenizer: as for :func:`ask_llm_scores`.
    text_column: the column holding the examples.
    score_column: the new column (must not exist yet).
    rows_per_call: rows tokenized and scored per :func:`ask_llm_scores` call (bounds host memory).
    **kwargs: passed to :func:`ask_llm_scores` (template, yes_tokens, batch_size, mesh, ...).

  Returns:
    A new Dataset with the [N] float column ``score_column``.
  """
  if not _is_dataset(dataset):
    raise ItemError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
  if text_column not in dataset.column_names:
    raise ItemError(f"column {text_column!r} not in the dataset (columns: {dataset.column_names})")
  if score_column in dataset.column_names:
    raise ItemError(f"the dataset already has a column {score_column!r}")
  if len(dataset) == 0:
    raise ItemError("the dataset is empty")
  rows_per_call = check_count(rows_per_call, "rows_per_call")
  scores = []
  for start in range(0, len(dataset), rows_per_call):
    texts = dataset[start:start + rows_per_call][text_column]
    scores.append(ask_llm_scores(apply_fn, params, tokenizer, texts, **kwargs))
  return dataset.add_column(score_column, np.concatenate(scores).tolist())

