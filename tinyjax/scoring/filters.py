"""lm-evaluation-harness answer filters and ``exact_match``: how a generated text is read and marked correct.

    rule = filters.answer_rule("strict-match")            # GSM8K's "#### <number>" answer
    rule.extract("... so 3+4=7\\n#### 7")                  # "7"
    rule.correct("... #### 1,234", "... #### 1234")        # True: commas are ignored

A generation task in lm-eval (``output_type: generate_until``) runs each answer through the filter pipelines of
its yaml ``filter_list`` and scores every pipeline's result with the task's metrics. GSM8K
(``lm_eval/tasks/gsm8k/gsm8k.yaml``, and metabench's ``metabench_gsm8k.yaml``) has two pipelines, each a
``regex`` filter then ``take_first``, and one metric, ``exact_match`` against the document's whole ``answer``:

=================  ================================  ============  =============================================
rule               pattern                           group_select  reads
=================  ================================  ============  =============================================
strict-match       ``#### (\\-?[0-9\\.\\,]+)``       0             the number after the first ``#### ``
flexible-extract   ``(-?[$0-9.,]{2,})|(-?[0-9]+)``   -1            the last number-like run in the text
=================  ================================  ============  =============================================

Both score with ``ignore_case=True``, ``ignore_punctuation=False`` and ``regexes_to_ignore`` ``","``,
``"\\$"``, ``"(?s).*#### "``, ``"\\.$"``, applied to the prediction and to the reference alike: the reference
(``"...\\n#### 1,234"``) becomes ``"1234"``, and so does a prediction ``"1,234"`` or ``"$1,234."``.

:func:`regex_filter` is lm-eval's ``RegexFilter`` (``lm_eval/filters/extraction.py``) on one response;
``take_first`` (``lm_eval/filters/selection.py``) keeps the first response of a document, which with one
greedy generation per document is that generation, so it needs no function here. :func:`exact_match` is
``exact_match_hf_evaluate`` (``lm_eval/api/metrics.py``, ported from Hugging Face ``evaluate``) on one pair.
``tests/test_scoring_filters.py`` checks both rules against every record of the pythia-14m GSM8K log in
``../shared/data/lm_eval`` (the logged ``filtered_resps`` and ``exact_match``).
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Sequence

from tinyjax.errors import ConfigError, ItemError

__all__ = ("ANSWER_RULES", "GSM8K_FLEXIBLE", "GSM8K_REGEXES_TO_IGNORE", "GSM8K_STRICT", "AnswerRule",
           "answer_rule", "exact_match", "regex_filter")

#: lm-eval's RegexFilter default ``fallback``: the answer of a text the pattern does not match.
INVALID = "[invalid]"

#: GSM8K's ``exact_match`` ``regexes_to_ignore`` (``gsm8k.yaml`` and ``metabench_gsm8k.yaml``), in their order:
#: thousands separators, dollar signs, everything up to the last ``"#### "`` (the reference's worked solution),
#: one trailing period.
GSM8K_REGEXES_TO_IGNORE = (",", "\\$", "(?s).*#### ", "\\.$")

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


def _compile(pattern, what: str) -> re.Pattern:
  if isinstance(pattern, re.Pattern):
    return pattern
  if not isinstance(pattern, str):
    raise ConfigError(f"{what} must be a regular expression string, got {type(pattern).__name__}")
  try:
    return re.compile(pattern)
  except re.error as e:
    raise ConfigError(f"{what} {pattern!r} is not a valid regular expression: {e}") from None


def _check_group_select(group_select) -> int:
  if isinstance(group_select, bool) or not isinstance(group_select, int):
    raise ConfigError(f"group_select must be an int (an index into the matches, negative from the end), got "
                      f"{group_select!r}")
  return group_select


def regex_filter(text: str, pattern: str | re.Pattern, group_select: int = 0, fallback: str = INVALID) -> str:
  """lm-eval's ``RegexFilter`` applied to one response: the selected match of ``pattern`` in ``text``.

  The steps are lm-eval's: every non-overlapping match is collected (``re.findall``: a pattern without groups
  gives the whole matches, one group gives that group, several groups give a tuple per match). With at least
  one match, the ``group_select``-th is taken (Python indexing, so ``-1`` is the last); when it is a tuple, its
  first non-empty group is kept; the result is stripped of surrounding whitespace (and may then be ``""``).
  Without a match the answer is ``fallback``.

  Args:
    text: one generated text (str).
    pattern: the regular expression (a str, or a compiled pattern).
    group_select: which match to take (int; default 0, the first; -1, the last).
    fallback: the answer when nothing matches (default ``"[invalid]"``).

  Returns:
    The extracted answer (str).

  Raises:
    ConfigError: a pattern that does not compile, a non-int ``group_select``, a ``group_select`` past the
      number of matches, or a selected tuple whose groups are all empty (lm-eval fails on these two with an
      IndexError).
    ItemError: ``text`` is not a str.
  """
  if not isinstance(text, str):
    raise ItemError(f"text must be a str, got {type(text).__name__}")
  regex = _compile(pattern, "pattern")
  group_select = _check_group_select(group_select)
  matches = regex.findall(text)
  if not matches:
    return fallback
  try:
    match = matches[group_select]
  except IndexError:
    raise ConfigError(f"group_select={group_select} but {regex.pattern!r} matches {len(matches)} time(s) in "
                      f"{text[:80]!r}") from None
  if isinstance(match, tuple):
    groups = [g for g in match if g]
    if not groups:
      raise ConfigError(f"every group of {regex.pattern!r} is empty in its selected match in {text[:80]!r}: "
                        "there is no answer to take (lm-eval's RegexFilter fails here too)")
    match = groups[0]
  return match.strip()


def _check_regexes(regexes_to_ignore) -> tuple[str, ...]:
  if regexes_to_ignore is None:
    return ()
  if isinstance(regexes_to_ignore, str):
    regexes_to_ignore = (regexes_to_ignore,)
  out = tuple(regexes_to_ignore)
  for r in out:
    _compile(r, "every regexes_to_ignore entry")
  return out


def exact_match(prediction: str, reference: str, *, ignore_case: bool = False, ignore_punctuation: bool = False,
                ignore_numbers: bool = False, regexes_to_ignore: Sequence[str] | None = ()) -> bool:
  """``exact_match_hf_evaluate`` (lm-eval's ``exact_match`` metric) on one prediction and its reference.

  The normalisation is applied to both strings, in lm-eval's order: first each of ``regexes_to_ignore`` in
  turn is deleted (``re.sub(r, "", s)``, so a later pattern sees the text the earlier ones left), then the text
  is lower-cased (``ignore_case``), then ASCII punctuation (``string.punctuation``) is deleted
  (``ignore_punctuation``), then ASCII digits (``ignore_numbers``); the results must be equal. lm-eval runs this
  on numpy string arrays, and two of their fixed-width habits are kept: trailing NUL characters do not count,
  and a lower-cased text is cut to the length it had before (a character such as ``"İ"``, whose lower case is
  two characters, keeps only the first).

  Args:
    prediction: the filtered answer (str), e.g. ``"1,234"``.
    reference: the target (str), e.g. GSM8K's whole ``answer``, ``"...\\n#### 1234"``.
    ignore_case: lower-case both before comparing.
    ignore_punctuation: delete ``string.punctuation`` characters from both.
    ignore_numbers: delete the digits 0-9 from both.
    regexes_to_ignore: patterns deleted from both first, in order (GSM8K: :data:`GSM8K_REGEXES_TO_IGNORE`);
      empty or None: none (lm-eval's default, None).

  Returns:
    True when the normalised strings are equal (lm-eval logs it as 1.0, else 0.0).

  Raises:
    ItemError: ``prediction`` or ``reference`` is not a str.
    ConfigError: a pattern in ``regexes_to_ignore`` does not compile.
  """
  for name, value in (("prediction", prediction), ("reference", reference)):
    if not isinstance(value, str):
      raise ItemError(f"{name} must be a str, got {type(value).__name__}")
  regexes = _check_regexes(regexes_to_ignore)

  def normalise(s: str) -> str:
    # lm-eval builds a numpy array after each step: its width is the length of the text put in (trailing NULs
    # included), and an element reads back without trailing NULs, which the next step then sees.
    width = len(s)
    for r in regexes:
      s = re.sub(r, "", s)
      width = len(s)
      s = s.rstrip("\x00")
    s = s.rstrip("\x00")
    if ignore_case:
      s = s.lower()[:width]
    if ignore_punctuation:
      s = s.translate(_PUNCTUATION)
    if ignore_numbers:
      s = s.translate(_DIGITS)
    return s.rstrip("\x00")

  return normalise(prediction) == normalise(reference)


@dataclasses.dataclass(frozen=True)
class AnswerRule:
  """One lm-eval filter pipeline (``regex`` then ``take_first``) with its task's ``exact_match`` options.

  Attributes:
    name: the pipeline's name in the task's ``filter_list`` (``"strict-match"``).
    pattern: the regular expression of the ``regex`` filter.
    group_select: which match it takes (0: the first, -1: the last).
    fallback: the answer when nothing matches (``"[invalid]"``).
    ignore_case, ignore_punctuation, ignore_numbers, regexes_to_ignore: the ``exact_match`` options of the
      task's ``metric_list`` (see :func:`exact_match`).
  """

  name: str
  pattern: str
  group_select: int = 0
  fallback: str = INVALID
  ignore_case: bool = False
  ignore_punctuation: bool = False
  ignore_numbers: bool = False
  regexes_to_ignore: tuple[str, ...] = ()

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise ConfigError(f"an answer rule needs a non-empty name, got {self.name!r}")
    _compile(self.pattern, f"rule {self.name!r}: pattern")
    _check_group_select(self.group_select)
    if not isinstance(self.fallback, str):
      raise ConfigError(f"rule {self.name!r}: fallback must be a str, got {type(self.fallback).__name__}")
    object.__setattr__(self, "regexes_to_ignore", _check_regexes(self.regexes_to_ignore))

  def extract(self, text: str) -> str:
    """The answer this rule reads in one generated ``text`` (str; :func:`regex_filter`)."""
    return regex_filter(text, self.pattern, self.group_select, self.fallback)

  def correct(self, text: str, target: str) -> bool:
    """Whether ``text``'s answer matches ``target`` (str): :meth:`extract`, then :func:`exact_match` with this
    rule's options, as lm-eval scores this filter's ``exact_match``."""
    return exact_match(self.extract(text), target, ignore_case=self.ignore_case,
                       ignore_punctuation=self.ignore_punctuation, ignore_numbers=self.ignore_numbers,
                       regexes_to_ignore=self.regexes_to_ignore)


# gsm8k.yaml's metric_list: exact_match with these options, for both filters.
_GSM8K_METRIC = {"ignore_case": True, "ignore_punctuation": False, "regexes_to_ignore": GSM8K_REGEXES_TO_IGNORE}

#: GSM8K's ``strict-match``: the number after the first ``"#### "`` (the dataset's own answer format).
GSM8K_STRICT = AnswerRule("strict-match", "#### (\\-?[0-9\\.\\,]+)", group_select=0, **_GSM8K_METRIC)

#: GSM8K's ``flexible-extract``: the last run of at least two of ``-$0-9.,`` (or a lone digit) in the text.
GSM8K_FLEXIBLE = AnswerRule("flexible-extract", "(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1, **_GSM8K_METRIC)

#: The answer rules by name: GSM8K's two filters, in its ``filter_list`` order.
ANSWER_RULES = {GSM8K_STRICT.name: GSM8K_STRICT, GSM8K_FLEXIBLE.name: GSM8K_FLEXIBLE}


def answer_rule(name_or_rule: str | AnswerRule) -> AnswerRule:
  """The :class:`AnswerRule` named ``name_or_rule`` in :data:`ANSWER_RULES`, or the rule itself when given one.

  Raises:
    ConfigError: an unknown name (the message lists the known ones), or neither a str nor an AnswerRule.
  """
  if isinstance(name_or_rule, AnswerRule):
    return name_or_rule
  if isinstance(name_or_rule, str):
    if name_or_rule in ANSWER_RULES:
      return ANSWER_RULES[name_or_rule]
    raise ConfigError(f"unknown answer rule {name_or_rule!r}; the known rules are {list(ANSWER_RULES)} (or pass "
                      "an AnswerRule)")
  raise ConfigError(f"an answer rule must be a name ({list(ANSWER_RULES)}) or an AnswerRule, got "
                    f"{type(name_or_rule).__name__}")
