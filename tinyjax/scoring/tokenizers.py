"""Tokenizer adapters: ``encode(text) -> list[int]`` objects, ``tokenizers.Tokenizer``, transformers tokenizers.

Every adapter encodes *without* special tokens (lm-eval adds none for causal models; the empty-context prefix
token is added by the request encoder instead) and exposes ``prefix_token_id`` (BOS if known, else EOS).
"""

from __future__ import annotations

import os
import pathlib

from tinyjax.errors import ConfigError, MissingFileError


class TokenizerAdapter:
  """Uniform view of a tokenizer: ``encode(text) -> list[int]`` and ``prefix_token_id``.

  Args:
    tokenizer: a ``tokenizers.Tokenizer``, a transformers ``PreTrainedTokenizerBase``, or any object with
      ``encode(text)`` returning a list of ints (or an object with ``.ids``).
    prefix_token_id: override of the token put before an empty context (default: BOS, else EOS, else None).
  """

  def __init__(self, tokenizer, prefix_token_id: int | None = None):
    if isinstance(tokenizer, TokenizerAdapter):
      prefix_token_id = tokenizer.prefix_token_id if prefix_token_id is None else prefix_token_id
      tokenizer = tokenizer.tokenizer
    if not callable(getattr(tokenizer, "encode", None)):
      raise ConfigError(f"a tokenizer needs an encode(text) method; got {type(tokenizer).__name__}")
    self.tokenizer = tokenizer
    self._kind = _kind(tokenizer)
    self.prefix_token_id = prefix_token_id if prefix_token_id is not None else _default_prefix(tokenizer, self._kind)

  def encode(self, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    if self._kind == "tokenizers":
      out = self.tokenizer.encode(text, add_special_tokens=False)
    elif self._kind == "transformers":
      out = self.tokenizer.encode(text, add_special_tokens=False)
    else:
      out = self.tokenizer.encode(text)
    ids = getattr(out, "ids", out)
    try:
      return [int(t) for t in ids]
    except TypeError as e:
      raise ConfigError(f"tokenizer.encode must return a list of ints, got {type(out).__name__}") from e


  def decode(self, ids) -> str:
    """Text of token ids without special tokens (lm-eval's ``tok_decode``, ``skip_special_tokens=True``)."""
    ids = [int(t) for t in ids]
    if self._kind in ("tokenizers", "transformers"):
      return self.tokenizer.decode(ids, skip_special_tokens=True)
    decode = getattr(self.tokenizer, "decode", None)
    if not callable(decode):
      raise ConfigError(f"generation needs a tokenizer with decode(ids); {type(self.tokenizer).__name__} has none")
    return decode(ids)

  @property
  def eos_token_id(self) -> int | None:
    """The end-of-sequence id that stops generation (None when the tokenizer does not say)."""
    return _eos(self.tokenizer, self._kind)


_EOS_TOKENS = ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>", "[EOS]")


def _eos(tok, kind: str) -> int | None:
  if kind == "tokenizers":
    for token in _EOS_TOKENS:
      value = tok.token_to_id(token)
      if value is not None:
        return int(value)
    return None
  for name in ("eos_token_id", "eos_id", "eot_token"):
    value = getattr(tok, name, None)
    if callable(value):
      value = value()
    if isinstance(value, (list, tuple)) and value:
      value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
      return int(value)
  return None


def _kind(tok) -> str:
  module = type(tok).__module__
  if module.startswith("tokenizers") and hasattr(tok, "token_to_id"):
    return "tokenizers"
  if module.startswith("transformers") or hasattr(tok, "bos_token_id") and hasattr(tok, "pad_token_id"):
    return "transformers"
  return "plain"


def _default_prefix(tok, kind: str) -> int | None:
  if kind == "transformers":
    for name in ("bos_token_id", "eos_token_id"):
      value = getattr(tok, name, None)
      if value is not None:
        return int(value)
    return None
  if kind == "tokenizers":
    for token in ("<|endoftext|>", "<s>", "<bos>", "<|begin_of_text|>", "</s>", "<eos>", "[BOS]", "[EOS]"):
      value = tok.token_to_id(token)
      if value is not None:
        return int(value)
    return None
  for name in ("prefix_token_id", "bos_token_id", "bos_id", "eos_token_id", "eos_id", "eot_token"):
    value = getattr(tok, name, None)
    if callable(value):
      value = value()
    if isinstance(value, int) and value >= 0:
      return int(value)
  return None


def as_tokenizer(tokenizer, prefix_token_id: int | None = None) -> TokenizerAdapter:
  """Wraps ``tokenizer`` (see :class:`TokenizerAdapter`); a str or path loads it with :func:`load_tokenizer`."""
  if isinstance(tokenizer, (str, os.PathLike)):
    tokenizer = load_tokenizer(tokenizer)
  if isinstance(tokenizer, TokenizerAdapter) and prefix_token_id is None:
    return tokenizer
  return TokenizerAdapter(tokenizer, prefix_token_id)


def load_tokenizer(path: str | os.PathLike) -> TokenizerAdapter:
  """Loads a tokenizer from a local folder or ``tokenizer.json`` file; never downloads.

  A folder with a transformers tokenizer config is loaded with ``AutoTokenizer.from_pretrained(path,
  local_files_only=True)`` when transformers is installed; otherwise ``tokenizer.json`` is loaded with the
  ``tokenizers`` library.
  """
  p = pathlib.Path(path)
  if not p.exists():
    raise MissingFileError(f"no tokenizer at {p} (tinyjax never downloads: give a local folder)")
  if p.is_file():
    from tokenizers import Tokenizer
    return TokenizerAdapter(Tokenizer.from_file(str(p)))
  if (p / "tokenizer_config.json").exists():
    try:
      from transformers import AutoTokenizer
    except ImportError:
      AutoTokenizer = None
    if AutoTokenizer is not None:
      return TokenizerAdapter(AutoTokenizer.from_pretrained(str(p), local_files_only=True))
  if (p / "tokenizer.json").exists():
    from tokenizers import Tokenizer
    return TokenizerAdapter(Tokenizer.from_file(str(p / "tokenizer.json")))
  raise MissingFileError(f"{p} has neither tokenizer.json nor tokenizer_config.json")
