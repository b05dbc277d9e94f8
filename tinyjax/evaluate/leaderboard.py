"""Open LLM Leaderboard v1 items with the prompts the leaderboard used, from metabench's item files.

    items = evaluate.leaderboard_items(folder, "arc")   # {"arc.1041": MultipleChoice, ...}
    res = scoring.score(model, params, tokenizer, list(items.values()))
    res.acc_norm                                   # the scorer's rule for ARC's metric: SCORER_METRIC["arc"]

metabench (github adkipnis/metabench, ``items/final/<benchmark>-secondary.parquet``) stores, for every item it
kept, the question, the choices, the gold answer, the few-shot prompt the Open LLM Leaderboard v1 fed
(``all*shot_longprompt``) and the few-shot examples one by one (``<benchmark>_*_shot_<k>``). The requests follow
lm-evaluation-harness (the leaderboard's tasks, and ``lm_eval/tasks/metabench``):

==========  =====  ===========================================================================  ==========
benchmark   shots  context -> continuations                                                     metric
==========  =====  ===========================================================================  ==========
arc         25     the few-shot prompt, ending ``"Question: {q}\nAnswer:"`` ->                   acc_norm
                   ``" " + choice text``
hellaswag   10     the few-shot prompt, ending with the preprocessed query ->                   acc_norm
                   ``" " + preprocess(ending)`` (lm-eval's hellaswag ``preprocess``)
mmlu        5      the description, 5 shots with their choices, the question -> ``" A"``..``" D"``  acc
winogrande  5      partial scoring: ``prompt[:i] + option`` for each option, ``i`` the position   acc
                   of ``"_"`` -> one continuation ``" " + prompt[i+1:].strip()``
truthfulqa  0      lm-eval's 6-shot QA preamble (part of ``doc_to_text``) + ``"\n\nQ: {q}\nA:"``  mc1 (acc)
                   -> ``" " + answer`` for every ``mc1_targets`` answer, gold 0 (the true one)
gsm8k       5      the few-shot prompt, ending ``"Question: {q}\nAnswer:"`` -> a generation,    exact_match
                   greedy, until ``"Question:"``, ``"</s>"`` or ``"<|im_end|>"`` (at most 256   of strict-
                   new tokens), read by the ``strict-match`` rule (``#### <number>``) and       match
                   compared with the document's ``answer`` (``scoring.filters``)
==========  =====  ===========================================================================  ==========

TruthfulQA is MC1 here, not the leaderboard's displayed metric: the Open LLM Leaderboard v1 reported TruthfulQA
by mc2 (the probability mass on the true answers), but metabench's response matrices, and so the suites fitted on
them, hold the per-item MC1 correctness it scraped (argmax over ``mc1_targets``, gold 0; every truthfulqa full
score is k/817). :data:`LEADERBOARD_METRICS` (:mod:`tinyjax.data.openllm`, the one table) says ``"mc1"`` and
:data:`SCORER_METRIC` the scorer's rule for it, ``"acc"`` over these MC1 items. ``truthfulqa_targets="mc2"``
gives the mc2 answers instead (every true and false answer, with ``labels``, for ``ScoreResult.mc2``), for
comparing with the leaderboard's displayed number; a suite cannot use them.

GSM8K items are :class:`~tinyjax.scoring.Generate` requests whose ``target`` is the document's ``answer``, and
:data:`GENERATION_RULES` names the answer rule (:mod:`tinyjax.scoring.filters`) whose ``exact_match`` the
response matrix holds: ``"strict-match"``. metabench's gsm8k matrix holds the per-item GSM8K metric of the Open
LLM Leaderboard v1, whose harness ran lm-eval's old-style task (``lm_eval/tasks/gsm8k.py``, logged as ``acc``):
the first ``#### (\\-?[0-9\\.\\,]+)`` match of the generation and of the answer, stripped, commas deleted, must
be equal. That is strict-match's pattern, and its ``exact_match`` gives the same verdict on every answer this
pattern can extract except one that ends in a period (``"#### 5."``), correct under strict-match (which
deletes one trailing period) and wrong in the old task. Stop strings: both variants stop at metabench's
``"Question:"``, ``"</s>"``, ``"<|im_end|>"`` (``metabench_gsm8k.yaml``; ``max_gen_toks`` lm-eval's default,
256, as neither task sets one). The leaderboard's own harness commit (b281b09) was not among the sources
searched, so its stop strings are not confirmed: copies of the old task on lm-eval's master stop at ``"\n"``
(earlier) or at ``":"``, ``"Question:"``, ``"Question"`` (later), and lighteval's reproduction of the
leaderboard's GSM8K at ``"Question:"``, ``"Question"``, ``":"``. For GSM8K the two variants differ only in
where the prompt comes from (the recorded prompt or the shot columns), and the two are equal on every row.

``variant="leaderboard"`` (default) uses the prompts the leaderboard fed: the requests behind the response
matrices a suite is fitted on. ``variant="lm_eval"`` gives the requests of lm-eval's
``metabench_<benchmark>_secondary`` tasks, which rebuild the few-shot prompt from the shot columns.
``tests/test_scoring_leaderboard.py`` checks on the pythia-14m ``--log_samples`` files of ``../shared/data/lm_eval``
that ``"lm_eval"`` gives exactly the (context, continuation) pairs lm-eval scored for every document (502 of 502
in ARC, HellaSwag, MMLU, WinoGrande and TruthfulQA), and that the default differs from them only in few-shot text
(HellaSwag: 30 of 58 documents, whose stored shot columns differ from the examples the leaderboard showed;
WinoGrande: 4 of 106, whitespace; TruthfulQA: none, its preamble is fixed); for GSM8K, that both variants give
the logged context and ``until`` of all 249 documents. Item ids are
``"<benchmark>.<metabench_idx>"`` (MMLU: ``"mmlu.<mb_sub_idx>"``), the column names of metabench's response
matrices.
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np

from tinyjax.errors import ConfigError, ItemError, MissingFileError
from tinyjax.scoring.requests import DEFAULT_MAX_GEN_TOKS, Generate, MultipleChoice, fewshot_context
from tinyjax.data.openllm import LEADERBOARD_METRICS, id_field, suite_item_id

__all__ = ("GENERATION_BENCHMARKS", "GENERATION_RULES", "LEADERBOARD_BENCHMARKS", "LEADERBOARD_METRICS",
           "LEADERBOARD_SHOTS", "SCORER_METRIC", "TRUTHFULQA_PREAMBLE", "TRUTHFULQA_TARGETS", "leaderboard_items")

#: The Open LLM Leaderboard v1 benchmarks that have metabench item files.
LEADERBOARD_BENCHMARKS = ("arc", "hellaswag", "mmlu", "winogrande", "truthfulqa", "gsm8k")

#: Few-shot examples in the leaderboard's prompt per benchmark (TruthfulQA's 6-shot QA preamble is part of its
#: ``doc_to_text``, so the task counts as 0-shot).
LEADERBOARD_SHOTS = {"arc": 25, "hellaswag": 10, "mmlu": 5, "winogrande": 5, "truthfulqa": 0, "gsm8k": 5}

#: Benchmarks scored by generating text: :func:`leaderboard_items` gives :class:`~tinyjax.scoring.Generate`
#: items, marked correct by their :data:`GENERATION_RULES` answer rule, not by a log-likelihood rule.
GENERATION_BENCHMARKS = ("gsm8k",)

#: The answer rule (a :data:`tinyjax.scoring.filters.ANSWER_RULES` name) whose ``exact_match`` each generation
#: benchmark's response matrix holds: GSM8K's ``"strict-match"``, the ``#### <number>`` answer that the
#: leaderboard's old-style harness task compared (see the module docstring).
GENERATION_RULES = {"gsm8k": "strict-match"}

#: The scorer's correctness rule (a :class:`~tinyjax.scoring.ScoreResult` field, a ``TinyEvalHook`` metric) that
#: gives each benchmark's :data:`LEADERBOARD_METRICS` over :func:`leaderboard_items`' items: the metric's own
#: name, except TruthfulQA's ``"mc1"``, which is ``"acc"`` (argmax of the log-likelihoods) over the MC1 items
#: (``mc1_targets``, gold 0). Generation benchmarks have none.
SCORER_METRIC = {b: ("acc" if m == "mc1" else m) for b, m in LEADERBOARD_METRICS.items()
                 if b not in GENERATION_BENCHMARKS}

#: TruthfulQA's answer sets: ``"mc1"`` (one true answer, first; what a suite holds) and ``"mc2"`` (every true
#: and false answer, with ``labels``; the leaderboard's displayed metric).
TRUTHFULQA_TARGETS = ("mc1", "mc2")

#: lm-eval's TruthfulQA ``doc_to_text`` preamble (``truthfulqa_mc1.yaml``, also used by ``truthfulqa_mc2``).
TRUTHFULQA_PREAMBLE = (
    "Q: What is human life expectancy in the United States?\n"
    "A: Human life expectancy in the United States is 78 years.\n\n"
    "Q: Who was president of the United States in 1955?\n"
    "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
    "Q: Which party did he belong to?\n"
    "A: He belonged to the Republican Party.\n\n"
    "Q: What is the square root of banana?\n"
    "A: I have no comment.\n\n"
    "Q: How does a telescope work?\n"
    "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
    "Q: Where were the 1992 Olympics held?\n"
    "A: The 1992 Olympics were held in Barcelona, Spain.")

_MMLU_LETTERS = ("A", "B", "C", "D")

# metabench_gsm8k.yaml's generation_kwargs until (lm-eval adds the tokenizer's EOS text itself).
_GSM8K_UNTIL = ("Question:", "</s>", "<|im_end|>")


def _hellaswag_preprocess(text: str) -> str:
  """lm-eval's hellaswag ``preprocess`` (``lm_eval/tasks/hellaswag/utils.py``, also metabench's ``process_txt``)."""
  text = text.strip()
  text = text.replace(" [title]", ". ")   # brackets are artifacts of the WikiHow part of HellaSwag
  text = re.sub("\\[.*?\\]", "", text)
  return text.replace("  ", " ")


def _table(source, benchmark: str):
  """The item file of ``benchmark`` as a DataFrame, from a DataFrame, a .parquet file or the folder holding it."""
  import pandas as pd

  if isinstance(source, pd.DataFrame):
    return source, "the DataFrame given"
  if not isinstance(source, (str, os.PathLike)):
    raise ItemError(f"source must be a path to {benchmark}.parquet, a folder holding it, or a DataFrame; got "
                    f"{type(source).__name__}")
  path = pathlib.Path(source).expanduser()
  if path.is_dir():   # <benchmark>.parquet, or metabench's own layout (what `tinyjax suite fetch` caches)
    candidates = [path / f"{benchmark}.parquet", path / f"{benchmark}-secondary.parquet",
                  path / "items" / "final" / f"{benchmark}-secondary.parquet"]
    path = next((c for c in candidates if c.exists()), candidates[0])
  if not path.exists():
    raise MissingFileError(f"no item file {path} (metabench's items/final/{benchmark}-secondary.parquet, which "
                           "`tinyjax suite fetch openllm-v1` puts in tinyjax.suite.fetch.metabench_dir())")
  try:
    return pd.read_parquet(path), str(path)
  except Exception as e:  # noqa: BLE001  (pyarrow raises several types for a bad file)
    raise ItemError(f"cannot read {path} as a parquet file: {e}") from e


def _need(table, columns: list[str], benchmark: str, where: str):
  missing = [c for c in columns if c not in table.columns]
  if missing:
    raise ItemError(f"{where} lacks the column(s) {missing} of metabench's {benchmark} item file; it has "
                    f"{list(table.columns)[:12]}{' ...' if len(table.columns) > 12 else ''}")


def _strings(value, what: str) -> list[str]:
  seq = list(np.asarray(value, dtype=object).reshape(-1))
  if not seq or not all(isinstance(s, str) for s in seq):
    raise ItemError(f"{what} must be a non-empty list of strings, got {value!r}")
  return seq


def _shots(row, benchmark: str, n: int, fields: list[str]) -> list[dict]:
  """The ``n`` few-shot examples stored in ``<benchmark>_<field>_shot_<k>`` columns, as dicts of ``fields``."""
  try:
    return [{f: row[f"{benchmark}_{f}_shot_{k}"] for f in fields} for k in range(1, n + 1)]
  except KeyError as e:
    raise ItemError(f"variant='lm_eval' rebuilds the few-shot prompt from the shot columns, and column {e} is "
                    "missing") from None


def _arc(row, variant: str) -> MultipleChoice:
  labels = _strings(row["choices"]["label"], "ARC choices.label")
  texts = _strings(row["choices"]["text"], "ARC choices.text")
  if row["answerKey"] not in labels:
    raise ItemError(f"answerKey {row['answerKey']!r} is not one of the labels {labels}")
  if variant == "leaderboard":
    context = row["alltwentyfiveshot_longprompt"]
  else:   # metabench's process_arc: "Question: {q}\nAnswer: {answer text}" per shot
    shots = []
    for shot in _shots(row, "arc", 25, ["question", "choices", "answerKey"]):
      shot_labels = list(shot["choices"]["label"])
      shots.append((f"Question: {shot['question']}\nAnswer:",
                    shot["choices"]["text"][shot_labels.index(shot["answerKey"])]))
    context = fewshot_context(f"Question: {row['question']}\nAnswer:", shots)
  return MultipleChoice(context, texts, gold=labels.index(row["answerKey"]))


def _hellaswag_query(activity_label: str, ctx_a: str, ctx_b: str) -> str:
  return _hellaswag_preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())


def _hellaswag(row, variant: str) -> MultipleChoice:
  endings = [_hellaswag_preprocess(e) for e in _strings(row["endings"], "HellaSwag endings")]
  if variant == "leaderboard":
    context = row["alltenshot_longprompt"]
  else:   # metabench's process_hellaswag: the preprocessed query and its gold ending per shot
    shots = [(_hellaswag_query(shot["activity_labels"], shot["ctx_a"], shot["ctx_b"]),
              _hellaswag_preprocess(shot["endings"][int(shot["label"])]))
             for shot in _shots(row, "hellaswag", 10, ["activity_labels", "ctx_a", "ctx_b", "endings", "label"])]
    context = fewshot_context(_hellaswag_query(row["activity_label"], row["ctx_a"], row["ctx_b"]), shots)
  return MultipleChoice(context, endings, gold=int(row["label"]))


def _mmlu_question(question: str, choices) -> str:
  options = "".join(f"\n{letter}. {c}" for letter, c in zip(_MMLU_LETTERS, _strings(choices, "MMLU choices")))
  return f"{question.strip()}{options}\nAnswer:"


def _mmlu(row, variant: str) -> MultipleChoice:
  if variant == "leaderboard":
    context = row["allfiveshot_longprompt"]
  else:   # metabench's process_mmlu: the subject's description, then question, choices and letter per shot
    shots = [(_mmlu_question(shot["question"], shot["choices"]), _MMLU_LETTERS[int(shot["answers"])])
             for shot in _shots(row, "mmlu", 5, ["question", "choices", "answers"])]
    description = (f"The following are multiple choice questions (with answers) about "
                   f"{' '.join(str(row['subject']).split('_'))}.\n\n")
    context = fewshot_context(_mmlu_question(row["question"], row["choices"]), shots, description=description)
  return MultipleChoice(context, _MMLU_LETTERS, gold=int(row["answer"]))


def _winogrande(row, variant: str) -> MultipleChoice:
  if variant == "leaderboard":
    text = row["allfiveshot_longprompt"]
  else:   # metabench's process_winogrande: each shot's sentence with its answer put in the blank
    shots = []
    for shot in _shots(row, "winogrande", 5, ["prompt", "option1", "option2", "answer"]):
      if str(shot["answer"]) not in ("1", "2"):
        raise ItemError(f"a shot's answer must be '1' or '2', got {shot['answer']!r}")
      shots.append(shot["prompt"].replace("_", shot[f"option{shot['answer']}"]) + "\n\n")
    text = "".join(shots) + row["sentence"]
  if "_" not in text:
    raise ItemError("the prompt has no '_' blank")
  cut = text.index("_")   # lm-eval: doc["sentence"].index("_") on the few-shot prompt + sentence
  answer = str(row["answer"])
  if answer not in ("1", "2"):
    raise ItemError(f"answer must be '1' or '2', got {answer!r}")
  return MultipleChoice(text[:cut], [row["option1"], row["option2"]], gold=int(answer) - 1,
                        continuation=text[cut + 1:].strip())


def _truthfulqa(row, targets: str) -> MultipleChoice:
  """One TruthfulQA item: the QA preamble and the question -> the ``mc1_targets`` (gold 0) or ``mc2_targets``
  answers (with ``labels``); the context is the same in both variants."""
  block = row[f"{targets}_targets"]
  choices = _strings(block["choices"], f"TruthfulQA {targets}_targets.choices")
  labels = [int(x) for x in np.asarray(block["labels"]).reshape(-1)]
  if len(labels) != len(choices):
    raise ItemError(f"{targets}_targets has {len(choices)} choices and {len(labels)} labels")
  context = f"{TRUTHFULQA_PREAMBLE}\n\nQ: {row['question']}\nA:"
  if targets == "mc1":   # lm-eval's truthfulqa_mc1: doc_to_target 0, the one true answer first
    if labels[:1] != [1] or sum(labels) != 1:
      raise ItemError(f"mc1_targets must mark exactly one true answer, the first (lm-eval scores gold 0); got "
                      f"labels {labels}")
    return MultipleChoice(context, choices, gold=0)
  if 1 not in labels:
    raise ItemError(f"{targets}_targets marks no true answer")
  return MultipleChoice(context, choices, gold=labels.index(1), labels=labels)


def _gsm8k(row, variant: str) -> Generate:
  if not isinstance(row["answer"], str) or "#### " not in row["answer"]:
    raise ItemError(f"answer must be GSM8K's worked solution ending '#### <number>', got {row['answer']!r}")
  if variant == "leaderboard":
    context = row["allfiveshot_longprompt"]
  else:   # metabench_gsm8k: "Question: {q}\nAnswer: {worked answer}" per shot (its five_shot_preprompt)
    shots = [(f"Question: {shot['prompt']}\nAnswer:", shot["answer"])
             for shot in _shots(row, "gsm8k", 5, ["prompt", "answer"])]
    context = fewshot_context(f"Question: {row['question']}\nAnswer:", shots)
  return Generate(context, until=_GSM8K_UNTIL, max_gen_toks=DEFAULT_MAX_GEN_TOKS, target=row["answer"])


_BUILDERS = {
    "arc": (["metabench_idx", "question", "choices", "answerKey"], "alltwentyfiveshot_longprompt", _arc),
    "hellaswag": (["metabench_idx", "activity_label", "ctx_a", "ctx_b", "endings", "label"],
                  "alltenshot_longprompt", _hellaswag),
    "mmlu": (["mb_sub_idx", "subject", "question", "choices", "answer"], "allfiveshot_longprompt", _mmlu),
    "winogrande": (["metabench_idx", "sentence", "option1", "option2", "answer"], "allfiveshot_longprompt",
                   _winogrande),
    "truthfulqa": (["metabench_idx", "question"], None, _truthfulqa),
    "gsm8k": (["metabench_idx", "question", "answer"], "allfiveshot_longprompt", _gsm8k),
}


def leaderboard_items(source, benchmark: str, *, variant: str = "leaderboard",
                      truthfulqa_targets: str = "mc1") -> dict[str, MultipleChoice | Generate]:
  """Scoring items of one Open LLM Leaderboard v1 benchmark, with the leaderboard's prompts, keyed by item id.

  Args:
    source: metabench's item file for the benchmark (``<benchmark>.parquet`` or ``<benchmark>-secondary.parquet``),
      the folder holding it (e.g. ``tinyjax.suite.fetch.metabench_dir()``, where ``tinyjax suite fetch`` puts
      them), or that file read into a DataFrame.
    benchmark: one of ``"arc"``, ``"hellaswag"``, ``"mmlu"``, ``"winogrande"``, ``"truthfulqa"`` (multiple
      choice) or ``"gsm8k"`` (generation).
    variant: ``"leaderboard"`` (default): the requests of the Open LLM Leaderboard v1, whose answers the
      response matrices hold: the few-shot prompt it fed (the file's ``all*shot_longprompt`` column).
      ``"lm_eval"``: the requests of lm-evaluation-harness' ``metabench_<benchmark>_secondary`` tasks, which
      rebuild the few-shot prompt from the file's ``<benchmark>_*_shot_<k>`` columns. The two differ only on
      some HellaSwag and WinoGrande prompts (few-shot examples whose stored text differs from what the
      leaderboard showed; whitespace). GSM8K: the same prompts and stop strings either way (the leaderboard's
      own stop strings are not confirmed; see the module docstring).
    truthfulqa_targets: TruthfulQA's answers: ``"mc1"`` (default): the ``mc1_targets`` choices, gold 0 (the
      one true answer), scored by ``acc``: MC1, what metabench's truthfulqa matrix and so a suite hold (the
      leaderboard displayed mc2, but the per-item data is MC1). ``"mc2"``: the ``mc2_targets`` answers with
      ``labels``, for ``ScoreResult.mc2`` (the leaderboard's displayed number; not what a suite is fitted on).
      Ignored for the other benchmarks.

  Returns:
    ``{item id: MultipleChoice}`` in the file's row order (GSM8K: ``{item id: Generate}``, each with
    ``until`` ``("Question:", "</s>", "<|im_end|>")``, ``max_gen_toks`` 256 and the document's ``answer`` as
    ``target``, to be read by the :data:`GENERATION_RULES` rule): ids ``"<benchmark>.<metabench_idx>"``, for
    MMLU ``"mmlu.<mb_sub_idx>"`` (the column names of metabench's response matrices, so they match a suite's
    anchors). WinoGrande items are scored partially (``MultipleChoice.continuation``).

  Raises:
    ConfigError: an unknown benchmark, variant or ``truthfulqa_targets``.
    MissingFileError: no item file at ``source``.
    ItemError: a file without the columns of metabench's item files, an unusable row, duplicate item ids.
  """
  if benchmark not in LEADERBOARD_BENCHMARKS:
    raise ConfigError(f"unknown benchmark {benchmark!r}; the Open LLM Leaderboard v1 item files are "
                      f"{list(LEADERBOARD_BENCHMARKS)}")
  if variant not in ("leaderboard", "lm_eval"):
    raise ConfigError(f"variant must be 'leaderboard' or 'lm_eval', got {variant!r}")
  if truthfulqa_targets not in TRUTHFULQA_TARGETS:
    raise ConfigError(f"truthfulqa_targets must be one of {TRUTHFULQA_TARGETS}, got {truthfulqa_targets!r}")
  table, where = _table(source, benchmark)
  columns, prompt_column, build = _BUILDERS[benchmark]
  if benchmark == "truthfulqa":
    columns = columns + [f"{truthfulqa_targets}_targets"]
  elif variant == "leaderboard":
    columns = columns + [prompt_column]
  _need(table, columns, benchmark, where)
  id_column = id_field(benchmark)
  items: dict[str, MultipleChoice | Generate] = {}
  for row in table.to_dict("records"):
    try:
      item_id = suite_item_id(benchmark, row[id_column])
    except ItemError as e:
      raise ItemError(f"{where}: {e}") from None
    if item_id in items:
      raise ItemError(f"{where}: item id {item_id!r} appears twice")
    try:
      items[item_id] = build(row, truthfulqa_targets if benchmark == "truthfulqa" else variant)
    except (KeyError, TypeError, ValueError) as e:   # ItemError is a ValueError
      raise ItemError(f"{where}: item {item_id!r} cannot be built: {e}") from e
  if not items:
    raise ItemError(f"{where} holds no items")
  return items
