"""Requests with lm-evaluation-harness semantics: multiple-choice items, few-shot contexts, pair encoding.

The rules follow EleutherAI's lm-evaluation-harness (``lm_eval/api/task.py``, ``lm_eval/api/model.py``):

* a multiple-choice item becomes one ``(context, target_delimiter + choice)`` log-likelihood request per choice,
  with the target delimiter ``" "`` by default; an item scored partially (lm-eval's ``multiple_input``, as in
  WinoGrande) has one context per choice and one shared continuation: ``(context + choice, target_delimiter +
  continuation)``;
* trailing whitespace of the context moves to the front of the continuation;
* the continuation tokens are the tail of the *joint* encoding of context + continuation after the first
  ``len(encode(context))`` tokens, so BPE merges across the boundary go to the continuation;
* an empty context is replaced by a single prefix token (BOS, else EOS) and the continuation is encoded alone;
* a request longer than the model window keeps its last ``max_length + 1`` tokens (left truncation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tinyjax.errors import ItemError


@dataclasses.dataclass(frozen=True)
class MultipleChoice:
  """One multiple-choice item.

  Attributes:
    context: the prompt (few-shot examples included), e.g. ``"Question: 2+2=?\\nAnswer:"``.
    choices: the answer strings, without the target delimiter.
    gold: index of the correct choice.
    target_delimiter: put between context and each choice (lm-eval default ``" "``).
    labels: optional 0/1 per choice, the true answers for TruthfulQA-mc2 style scoring (``ScoreResult.mc2``).
    continuation: optional shared continuation for partial scoring (lm-eval's ``multiple_input``, WinoGrande):
      each choice completes the context, and choice i's score is the log-likelihood of ``target_delimiter +
      continuation`` after ``context + choice_i``. For WinoGrande, ``context`` is the sentence up to ``"_"``,
      ``choices`` the two options and ``continuation`` the text after ``"_"``. None (default): the choices are
      the continuations.
  """

  context: str
  choices: Sequence[str]
  gold: int = 0
  target_delimiter: str = " "
  labels: Sequence[int] | None = None
  continuation: str | None = None

  def __post_init__(self):
    if not isinstance(self.context, str):
      raise ItemError(f"context must be a str, got {type(self.context).__name__}")
    if isinstance(self.choices, str):
      raise ItemError("choices must be a sequence of strings, not one string")
    choices = tuple(self.choices)
    if not choices:
      raise ItemError("choices is empty: a multiple-choice item needs at least one choice")
    for c in choices:
      if not isinstance(c, str):
        raise ItemError(f"every choice must be a str, got {type(c).__name__}")
    object.__setattr__(self, "choices", choices)
    if isinstance(self.gold, bool) or not isinstance(self.gold, (int, np.integer)):
      raise ItemError(f"gold must be an int index, got {self.gold!r}")
    if not 0 <= int(self.gold) < len(choices):
      raise ItemError(f"gold index {self.gold} is out of range for {len(choices)} choices")
    object.__setattr__(self, "gold", int(self.gold))
    if self.labels is not None:
      labels = tuple(int(x) for x in self.labels)
      if len(labels) != len(choices) or any(x not in (0, 1) for x in labels):
        raise ItemError(f"labels must be 0/1, one per choice ({len(choices)}), got {self.labels!r}")
      if not any(labels):
        raise ItemError("labels mark no true answer")
      object.__setattr__(self, "labels", labels)
    if self.continuation is not None:
      if not isinstance(self.continuation, str):
        raise ItemError(f"continuation must be a str or None, got {type(self.continuation).__name__}")
      if self.target_delimiter + self.continuation == "":
        raise ItemError("continuation and target_delimiter are both empty: a partially scored item has nothing "
                        "to score")

  def requests(self) -> list[tuple[str, str]]:
    """The ``(context, continuation)`` pairs, one per choice, as lm-eval builds them.

    Returns:
      [C] pairs: ``(context, target_delimiter + choice)``, or with partial scoring ``(context + choice,
      target_delimiter + continuation)``.
    """
    if self.continuation is not None:
      return [(self.context + c, self.target_delimiter + self.continuation) for c in self.choices]
    return [(self.context, self.target_delimiter + c) for c in self.choices]

  def norm_texts(self) -> list[str]:
    """The [C] texts whose lengths normalise acc_norm and acc_bytes: lm-eval's ``doc_to_choice``, i.e. the
    choices, or ``context + choice`` with partial scoring (lm-eval divides by the length of each choice's whole
    context there; WinoGrande reports only acc)."""
    if self.continuation is not None:
      return [self.context + c for c in self.choices]
    return list(self.choices)

  def unconditional_requests(self) -> list[tuple[str, str]]:
    """The ``("", continuation)`` pairs used by acc_mutual_info (not defined with partial scoring)."""
    if self.continuation is not None:
      raise ItemError("acc_mutual_info is not defined for a partially scored item (one shared continuation): "
                      "score it without mutual_info")
    return [("", self.target_delimiter + c) for c in self.choices]


#: lm-eval's default stop string of a generation task: its few-shot delimiter.
DEFAULT_UNTIL = ("\n\n",)
#: lm-eval's default generation budget (``max_gen_toks``) in new tokens.
DEFAULT_MAX_GEN_TOKS = 256


@dataclasses.dataclass(frozen=True)
class Generate:
  """One generation request: lm-eval's ``generate_until``.

  The model continues ``context`` greedily (or by sampling) for at most ``max_gen_toks`` new tokens, and stops at
  the end-of-sequence token or once the text contains one of ``until``; the text is then cut before the first
  occurrence of each stop string in turn (lm-eval's ``s.split(term)[0]`` for every term).

  Attributes:
    context: the prompt (few-shot examples included), e.g. ``"Question: ...\\nAnswer:"``.
    until: stop strings (default ``("\\n\\n",)``, lm-eval's default: the few-shot delimiter). The tokenizer's
      end-of-sequence token always stops too, as lm-eval adds its text to ``until``.
    max_gen_toks: most new tokens (lm-eval default 256). The prompt keeps its last ``window - max_gen_toks``
      tokens (left truncation, as lm-eval's HF model).
    target: optional reference answer (GSM8K: the dataset's ``answer``), used by the answer rules
      (``tinyjax.scoring.filters``) to mark a generation correct.
  """

  context: str
  until: Sequence[str] | None = None
  max_gen_toks: int = DEFAULT_MAX_GEN_TOKS
  target: str | None = None

  def __post_init__(self):
    if not isinstance(self.context, str):
      raise ItemError(f"context must be a str, got {type(self.context).__name__}")
    until = DEFAULT_UNTIL if self.until is None else self.until
    if isinstance(until, str):
      until = (until,)
    until = tuple(until)
    for u in until:
      if not isinstance(u, str):
        raise ItemError(f"every stop string in until must be a str, got {type(u).__name__}")
    object.__setattr__(self, "until", until)
    if isinstance(self.max_gen_toks, bool) or not isinstance(self.max_gen_toks, (int, np.integer)) \
        or self.max_gen_toks < 1:
      raise ItemError(f"max_gen_toks must be a positive int, got {self.max_gen_toks!r}")
    object.__setattr__(self, "max_gen_toks", int(self.max_gen_toks))
    if self.target is not None and not isinstance(self.target, str):
      raise ItemError(f"target must be a str or None, got {type(self.target).__name__}")

  def cut(self, text: str) -> str:
    """``text`` cut before each stop string, in ``until`` order (lm-eval: ``s = s.split(term)[0]`` per term)."""
    for term in self.until:
      if term:
        text = text.split(term)[0]
    return text


def fewshot_context(query: str, examples: Sequence[tuple[str, str]] = (), *, description: str = "",
                    target_delimiter: str = " ", fewshot_delimiter: str = "\n\n") -> str:
  """Builds a few-shot prompt the way lm-eval does.

  The result is ``description + ex_1 + fewshot_delimiter + ... + ex_k + fewshot_delimiter + query``, where each
  example ``(text, target)`` is written ``text + target_delimiter + target``.

  Args:
    query: the text of the item being asked (its ``doc_to_text``).
    examples: ``(text, target)`` pairs of solved examples, in order.
    description: optional task description put first.
    target_delimiter: between an example's text and its answer.
    fewshot_delimiter: between examples and before the query.
  """
  parts = [f"{text}{target_delimiter}{target}" for text, target in examples]
  shots = fewshot_delimiter.join(parts)
  return description + (shots + fewshot_delimiter if parts else "") + query


def encode_pair(encode, context: str, continuation: str, prefix_token_id: int | None) -> tuple[list[int], list[int]]:
  """Tokenizes one (context, continuation) request with lm-eval rules.

  Args:
    encode: ``str -> list[int]``, without special tokens.
    context: the context string (may be empty).
    continuation: the continuation string; must be non-empty.
    prefix_token_id: the token put in front when the context is empty (BOS or EOS).

  Returns:
    ``(context_ids, continuation_ids)``.
  """
  if continuation == "":
    raise ItemError("the continuation is empty: there is nothing to score")
  if context == "":
    if prefix_token_id is None:
      raise ItemError("an empty context needs a prefix token (BOS/EOS), but the tokenizer has none: "
                       "pass prefix_token_id=")
    return [int(prefix_token_id)], [int(t) for t in encode(continuation)]
  n_spaces = len(context) - len(context.rstrip())
  if n_spaces > 0:
    continuation = context[-n_spaces:] + continuation
    context = context[:-n_spaces]
  whole = [int(t) for t in encode(context + continuation)]
  ctx = [int(t) for t in encode(context)]
  return ctx, whole[len(ctx):]


def truncate_left(context_ids: Sequence[int], continuation_ids: Sequence[int], max_length: int,
                  truncate: bool = True) -> tuple[list[int], int]:
  """Joins and left-truncates a request to ``max_length + 1`` tokens, as lm-eval's HF model does.

  Args:
    context_ids, continuation_ids: token ids.
    max_length: the model window (number of input positions).
    truncate: if False, raise instead of truncating.

  Returns:
    ``(ids, n_cont)``: the kept ids (at most ``max_length + 1``) and the number of continuation tokens; the
    model reads ``ids[:-1]`` and the last ``n_cont`` targets are scored.
  """
  ids = list(context_ids) + list(continuation_ids)
  n_cont = len(continuation_ids)
  if n_cont == 0:
    raise ItemError("the continuation encodes to zero tokens: there is nothing to score")
  if n_cont > max_length:
    raise ItemError(f"the continuation has {n_cont} tokens, more than the model window {max_length}")
  if len(ids) > max_length + 1:
    if not truncate:
      raise ItemError(f"a request has {len(ids)} tokens, longer than the model window {max_length} + 1 and "
                       "truncate=False")
    ids = ids[-(max_length + 1):]
  return ids, n_cont


def mc2(loglik: np.ndarray, labels: Sequence[int]) -> float:
  """TruthfulQA-mc2: the normalised probability mass on the true answers.

  Args:
    loglik: [C] log-likelihoods of the choices.
    labels: [C] 0/1, 1 for true answers.

  Returns:
    ``sum(p[true]) / sum(p)`` with ``p = exp(loglik)``, computed stably.
  """
  ll = np.asarray(loglik, dtype=np.float64)
  lab = np.asarray(labels, dtype=bool)
  if ll.shape != lab.shape or ll.ndim != 1:
    raise ItemError(f"loglik and labels must be [C] of the same length, got {ll.shape} and {lab.shape}")
  p = np.exp(ll - ll.max())
  return float(p[lab].sum() / p.sum())
