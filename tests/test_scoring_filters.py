"""lm-eval's answer filters and exact_match (tinyjax.scoring.filters).

The real check: every record of the pythia-14m GSM8K ``--log_samples`` file, through our rule of its filter, gives
the logged ``filtered_resps`` and ``exact_match``. The synthetic cases take their expected values from lm-eval's
rules (``RegexFilter``: findall, group_select, first non-empty group, strip, fallback; ``exact_match_hf_evaluate``:
ignore regexes, then case, then punctuation, then digits), each worked out by hand in a comment.
"""

from __future__ import annotations

import collections
import random
import re
import string

import numpy as np
import pytest

from tinyjax.data import find_lm_eval_files, read_lm_eval_file
from tinyjax.errors import ConfigError, ItemError
from tinyjax.scoring import filters
from tinyjax.scoring.filters import (ANSWER_RULES, GSM8K_FLEXIBLE, GSM8K_REGEXES_TO_IGNORE, GSM8K_STRICT,
                                     AnswerRule, answer_rule, exact_match, regex_filter)

FLEX = GSM8K_FLEXIBLE.pattern
STRICT = GSM8K_STRICT.pattern


# -- the real harness log -------------------------------------------------------------------------------------


def _gsm8k_groups(shared_data):
  files = [f for f in find_lm_eval_files(shared_data / "lm_eval" / "pythia-14m") if "gsm8k" in f.task]
  assert len(files) == 1, files
  return read_lm_eval_file(files[0])


@pytest.mark.realdata
def test_rules_give_the_logged_filtered_answers_and_exact_match(shared_data):
  """The log has no 'filter' key: the k-th repeat of a document is the k-th filter of gsm8k's filter_list, as
  read_lm_eval_file infers (strict-match, then flexible-extract)."""
  groups = _gsm8k_groups(shared_data)
  assert list(groups) == ["strict-match", "flexible-extract"] == list(ANSWER_RULES)
  answers = collections.defaultdict(dict)
  for name, samples in groups.items():
    rule = answer_rule(name)
    assert len(samples) == 249
    for s in samples:
      rec = s.record
      assert len(rec["resps"]) == 1 and len(rec["resps"][0]) == 1     # one greedy generation: take_first keeps it
      text = rec["resps"][0][0]
      assert rec["target"] == s.doc["answer"]
      assert rule.extract(text) == rec["filtered_resps"][0], (name, s.doc_id, text)
      assert float(rule.correct(text, rec["target"])) == s.metrics["exact_match"], (name, s.doc_id, text)
      answers[s.doc_id][name] = rule.extract(text)
  # The logged generations are one token each (' The', '\n', ' 33'): strict-match never finds "#### " and answers
  # "[invalid]" throughout, while flexible-extract reads a number from ' 33', ' 2', ' 4'. So the two rules
  # differ on some documents, and a swapped or wrong rule would fail above.
  differ = [d for d, a in answers.items() if a["strict-match"] != a["flexible-extract"]]
  assert len(answers) == 249 and len(differ) >= 1
  assert all(a["strict-match"] == "[invalid]" for a in answers.values())


@pytest.mark.realdata
def test_the_gold_solution_is_correct_under_both_rules(shared_data):
  """The logged exact_match is 0 everywhere, so the True side needs its own check. Written out as a generation,
  a document's own answer ('...\\n#### 18' or '#### 1,110') is correct by lm-eval's rules under both filters:
  strict-match reads the number after '#### ' and flexible-extract the last number-like run, which is that same
  final number; after the ignore regexes (commas, '$', everything up to the last '#### ', one trailing '.') the
  reference is that number without commas too."""
  for s in _gsm8k_groups(shared_data)["strict-match"]:
    gold = s.doc["answer"]
    assert GSM8K_STRICT.correct(gold, gold) and GSM8K_FLEXIBLE.correct(gold, gold), gold[-40:]
    assert GSM8K_STRICT.extract(gold) == gold.rsplit("#### ", 1)[1].strip()


# -- RegexFilter ------------------------------------------------------------------------------------------------


TEXT = "I have 3 apples and 1,200 pears, so 1,203 fruit."
# findall of (-?[$0-9.,]{2,})|(-?[0-9]+) on TEXT, left to right: "3" is followed by a space, so the first
# alternative (two or more of -$0-9.,) fails and the second gives ('', '3'); "1,200" is five characters of the
# class, ('1,200', ''); the "," after "pears" is one character (too short) without a digit; "1,203" gives
# ('1,203', ''); the final "." is alone. So the matches are [('', '3'), ('1,200', ''), ('1,203', '')], and each
# answer is its tuple's first non-empty group.


@pytest.mark.parametrize("group_select,expected", [(0, "3"), (1, "1,200"), (2, "1,203"), (-1, "1,203"), (-3, "3")])
def test_group_select_indexes_the_matches_and_takes_the_first_non_empty_group(group_select, expected):
  assert regex_filter(TEXT, FLEX, group_select) == expected


def test_strict_match_takes_the_first_hash_answer_and_strips():
  # '#### (\-?[0-9\.\,]+)' has one group, so findall gives strings: ["5", "7"]; group_select 0 -> "5", -1 -> "7".
  assert regex_filter("#### 5\nnope\n#### 7", STRICT) == "5"
  assert regex_filter("#### 5\nnope\n#### 7", STRICT, -1) == "7"
  # The class includes '.' and ',' but not '$': "#### 1,234.50." captures "1,234.50." (kept as is, stripped).
  assert GSM8K_STRICT.extract("so $1,234.50.\n#### 1,234.50.") == "1,234.50."
  # A one-group match is stripped of surrounding whitespace: ":(.*)" captures "  42  " -> "42".
  assert regex_filter("Answer:  42  ", ":(.*)") == "42"
  # A whole match (no groups) of whitespace strips to "", which is returned: findall found a match, so no fallback.
  assert regex_filter("a  b", "\\s+") == ""


def test_fallback_when_nothing_matches():
  # No "#### " -> findall is empty -> the fallback, "[invalid]" by default.
  assert regex_filter("The answer is 5", STRICT) == "[invalid]" == GSM8K_STRICT.extract("The answer is 5")
  assert regex_filter("The answer is 5", STRICT, fallback="none") == "none"
  # flexible-extract has nothing to read in a text without digits (the log's ' The', '\n').
  assert GSM8K_FLEXIBLE.extract(" The") == GSM8K_FLEXIBLE.extract("\n") == "[invalid]"


def test_regex_filter_errors():
  with pytest.raises(ConfigError, match="group_select=5 but"):   # lm-eval: IndexError
    regex_filter(TEXT, FLEX, 5)
  # (x)?(y)? matches the empty string at every position of "z": tuples ('', '') only -> no group to take.
  with pytest.raises(ConfigError, match="every group"):
    regex_filter("z", "(x)?(y)?")
  with pytest.raises(ConfigError, match="not a valid regular expression"):
    regex_filter("z", "(")
  with pytest.raises(ConfigError, match="group_select must be an int"):
    regex_filter("z", "z", True)
  with pytest.raises(ItemError, match="text must be a str"):
    regex_filter(None, "z")


# -- exact_match ------------------------------------------------------------------------------------------------


def test_gsm8k_style_answers_against_the_reference():
  ref = "He pays 1,000 + 234.50 = $<<1000+234.5=1234.50>>1,234.50 in all.\n#### 1,234.50"
  # Reference, GSM8K's regexes in order: "," -> "...1234.50 in all.\n#### 1234.50"; "\$" deletes the dollar sign;
  # "(?s).*#### " (dot matches newlines, greedy) deletes everything up to the last "#### " -> "1234.50"; "\.$"
  # finds no final period. Then lower case: "1234.50".
  # "$1,234.50." (flexible-extract's answer for "... is $1,234.50."): "," -> "$1234.50."; "\$" -> "1234.50.";
  # no "#### "; "\.$" deletes the one final period -> "1234.50": equal.
  assert GSM8K_FLEXIBLE.extract("So the total is $1,234.50.") == "$1,234.50."
  assert GSM8K_FLEXIBLE.correct("So the total is $1,234.50.", ref)
  assert exact_match("$1,234.50.", ref, ignore_case=True, regexes_to_ignore=GSM8K_REGEXES_TO_IGNORE)
  # strict-match's "1,234.50." -> "1234.50." -> "1234.50": equal too.
  assert GSM8K_STRICT.correct("#### 1,234.50.", ref)
  # "1234.5" stays "1234.5", not "1234.50": no numeric comparison.
  assert not GSM8K_STRICT.correct("#### 1234.5", ref)
  # Only one trailing period goes: "5.." -> "5." against "5".
  assert not exact_match("5..", "#### 5", ignore_case=True, regexes_to_ignore=GSM8K_REGEXES_TO_IGNORE)
  # A negative answer keeps its sign on both sides: "-3" == "-3".
  assert GSM8K_STRICT.correct("#### -3", "x\n#### -3") and not GSM8K_STRICT.correct("#### 3", "x\n#### -3")


def test_case_punctuation_and_digits():
  # No option: plain string equality.
  assert exact_match("abc", "abc") and not exact_match("ABC", "abc")
  assert exact_match("ABC", "abc", ignore_case=True)
  # ignore_punctuation deletes string.punctuation (ASCII) from both: "a.b!" -> "ab".
  assert exact_match("a.b!", "ab", ignore_punctuation=True) and not exact_match("a.b!", "ab")
  # Spaces are not punctuation: "a b" stays "a b".
  assert not exact_match("a b", "ab", ignore_punctuation=True)
  # ignore_numbers deletes 0-9: "abc123" -> "abc".
  assert exact_match("abc123", "abc", ignore_numbers=True) and not exact_match("abc123", "abc")
  # GSM8K leaves punctuation alone (ignore_punctuation False): "1234!" keeps its "!" (no regex of GSM8K's
  # removes it) and is not "1234".
  assert not exact_match("1234!", "#### 1234", ignore_case=True, regexes_to_ignore=GSM8K_REGEXES_TO_IGNORE)


def test_the_order_of_operations():
  # Regexes before case: "A" (case-sensitive) deletes the capital from "Ab" -> "b", then lower -> "b" == "b".
  # Lower-casing first would give "ab", where "A" no longer matches.
  assert exact_match("Ab", "b", ignore_case=True, regexes_to_ignore=["A"])
  # Case before punctuation and digits does not change a verdict, but regexes see punctuation and digits: the
  # regex "1\." deletes "1." from "x1." -> "x"; deleting punctuation first would leave "x1" for it to miss.
  assert exact_match("x1.", "x", ignore_punctuation=True, regexes_to_ignore=["1\\."])
  # The regexes run in their order, each on what the last left: "5.," with ("," then "\.$"): "5." -> "5";
  # with ("\.$" then ","): the "." is not last, so it stays, and "," goes -> "5.".
  assert exact_match("5.,", "5", regexes_to_ignore=[",", "\\.$"])
  assert not exact_match("5.,", "5", regexes_to_ignore=["\\.$", ","])
  # The same patterns apply to the reference: "$5" and "5" with "\$".
  assert exact_match("5", "$5", regexes_to_ignore=["\\$"])
  # "(?s)" matters: without it ".*#### " cannot cross the newline and leaves "line1\n5".
  assert exact_match("5", "line1\nline2 #### 5", regexes_to_ignore=["(?s).*#### "])
  assert not exact_match("5", "line1\nline2 #### 5", regexes_to_ignore=[".*#### "])


def _lm_eval_exact_match(prediction, reference, regexes_to_ignore=None, ignore_case=False,
                         ignore_punctuation=False, ignore_numbers=False):
  """lm-eval's exact_match_hf_evaluate on one pair, with its numpy string arrays (a reference, in our words).
  No regexes is lm-eval's None (a task whose metric sets no regexes_to_ignore)."""
  preds, refs = [prediction], [reference]
  if regexes_to_ignore:
    for r in regexes_to_ignore:
      preds = np.array([re.sub(r, "", x) for x in preds])
      refs = np.array([re.sub(r, "", x) for x in refs])
  else:
    preds, refs = np.asarray(preds), np.asarray(refs)
  if ignore_case:
    preds, refs = np.char.lower(preds), np.char.lower(refs)
  if ignore_punctuation:
    table = string.punctuation.maketrans("", "", string.punctuation)
    preds, refs = np.char.translate(preds, table=table), np.char.translate(refs, table=table)
  if ignore_numbers:
    table = string.digits.maketrans("", "", string.digits)
    preds, refs = np.char.translate(preds, table=table), np.char.translate(refs, table=table)
  return bool((preds == refs)[0])


def test_exact_match_agrees_with_the_numpy_pipeline_on_random_strings():
  """Random strings over digits, punctuation, '$', '#', spaces, newlines, NULs and 'İ' (whose lower case is two
  characters: numpy keeps the first), every option combination, and GSM8K's regexes."""
  rng = random.Random(0)
  alphabet = "09.,$#  \nAbİ\x00!-" + "5" * 4
  pairs = []
  for _ in range(400):
    a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    b = a if rng.random() < 0.3 else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    pairs.append((a + rng.choice(["", "\x00", "#### 5", "İ"]), b))
  agree = matched = 0
  for a, b in pairs:
    for case in (False, True):
      for punct in (False, True):
        for nums in (False, True):
          for regexes in (None, (), GSM8K_REGEXES_TO_IGNORE, ("#",)):
            ours = exact_match(a, b, ignore_case=case, ignore_punctuation=punct, ignore_numbers=nums,
                               regexes_to_ignore=regexes)
            ref = _lm_eval_exact_match(a, b, regexes, case, punct, nums)
            assert ours == ref, (a, b, case, punct, nums, regexes)
            agree += 1
            matched += ref
  assert agree == 400 * 32 and 0 < matched < agree


def test_exact_match_errors():
  with pytest.raises(ItemError, match="prediction must be a str"):
    exact_match(5, "5")
  with pytest.raises(ItemError, match="reference must be a str"):
    exact_match("5", None)
  with pytest.raises(ConfigError, match="regexes_to_ignore"):
    exact_match("5", "5", regexes_to_ignore=["("])


# -- the rules --------------------------------------------------------------------------------------------------


def test_gsm8k_rules_are_gsm8k_yaml():
  """The values of lm-eval's gsm8k.yaml (and metabench_gsm8k.yaml): filter_list and exact_match's options."""
  assert list(ANSWER_RULES) == ["strict-match", "flexible-extract"]
  assert ANSWER_RULES["strict-match"] is GSM8K_STRICT and ANSWER_RULES["flexible-extract"] is GSM8K_FLEXIBLE
  assert (GSM8K_STRICT.pattern, GSM8K_STRICT.group_select) == (r"#### (\-?[0-9\.\,]+)", 0)
  assert (GSM8K_FLEXIBLE.pattern, GSM8K_FLEXIBLE.group_select) == (r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1)
  for rule in ANSWER_RULES.values():
    assert rule.fallback == "[invalid]"
    assert (rule.ignore_case, rule.ignore_punctuation, rule.ignore_numbers) == (True, False, False)
    assert rule.regexes_to_ignore == (",", r"\$", "(?s).*#### ", r"\.$")


def test_answer_rule_lookup_and_custom_rules():
  assert answer_rule("strict-match") is GSM8K_STRICT and answer_rule(GSM8K_FLEXIBLE) is GSM8K_FLEXIBLE
  with pytest.raises(ConfigError, match=r"unknown answer rule 'loose'.*'strict-match', 'flexible-extract'"):
    answer_rule("loose")
  with pytest.raises(ConfigError, match="must be a name"):
    answer_rule(3)
  # A rule of one's own: "The answer is (\d+)", the last one, case-insensitive comparison.
  rule = AnswerRule("answer-is", r"The answer is (\d+)", group_select=-1, ignore_case=True,
                    regexes_to_ignore=["(?s).*#### "])
  # findall gives ["4", "5"]; -1 -> "5"; the reference "...\n#### 5" -> "5".
  assert rule.extract("The answer is 4. No, The answer is 5.") == "5"
  assert rule.correct("The answer is 4. No, The answer is 5.", "work\n#### 5")
  assert rule.regexes_to_ignore == ("(?s).*#### ",)          # a list is kept as a tuple (the rule is frozen)
  with pytest.raises(ConfigError, match="not a valid regular expression"):
    AnswerRule("bad", "(")
  with pytest.raises(ConfigError, match="group_select must be an int"):
    AnswerRule("bad", "x", group_select=0.5)
  with pytest.raises(ConfigError, match="non-empty name"):
    AnswerRule("", "x")
  assert filters.INVALID == "[invalid]"
