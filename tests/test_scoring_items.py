"""tinyjax.scoring.load_items: benchmark items (tinyBenchmarks format) from every source, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tinyjax.errors import ItemError, MissingFileError
from tinyjax.scoring.items import ItemText, load_items

# ----------------------------------------------------------------------------------------------------
# Items for scoring
# ----------------------------------------------------------------------------------------------------

MMLU_ROWS = {
    "question": [f"What is {k}+{k}?" for k in range(5)],
    "subject": ["math"] * 5,
    "choices": [[str(2 * k), str(2 * k + 1), "7", "zero"] for k in range(5)],
    "answer": [0, 1, 2, 3, 0],
    "input_formatted": [f"The following are questions.\n\nWhat is {k}+{k}?\nA. ...\nAnswer:" for k in range(5)],
}
EXPECTED_MMLU = [
    ItemText(str(k), MMLU_ROWS["input_formatted"][k], MMLU_ROWS["choices"][k], MMLU_ROWS["answer"][k]) for k in range(5)
]


@pytest.fixture(scope="module")
def mmlu_dataset():
  datasets = pytest.importorskip("datasets")
  features = datasets.Features({
      "question": datasets.Value("string"),
      "subject": datasets.Value("string"),
      "choices": datasets.Sequence(datasets.Value("string")),
      "answer": datasets.ClassLabel(names=["A", "B", "C", "D"]),
      "input_formatted": datasets.Value("string"),
  })
  return datasets.Dataset.from_dict(MMLU_ROWS, features=features)


@pytest.mark.parametrize("kind", ["dataset", "disk", "disk_dict", "json", "jsonl", "parquet", "csv", "frame"])
def test_load_items_every_source(mmlu_dataset, kind, tmp_path):
  import datasets

  frame = pd.DataFrame(MMLU_ROWS)
  kwargs = {}
  if kind == "dataset":
    source = mmlu_dataset
  elif kind == "disk":
    mmlu_dataset.save_to_disk(str(tmp_path / "d"))
    source = str(tmp_path / "d")
  elif kind == "disk_dict":
    datasets.DatasetDict({"test": mmlu_dataset, "dev": mmlu_dataset.select([0])}).save_to_disk(str(tmp_path / "d"))
    source, kwargs = tmp_path / "d", {"split": "test"}
  elif kind == "json":
    frame.to_json(tmp_path / "i.json", orient="records")
    source = tmp_path / "i.json"
  elif kind == "jsonl":
    frame.to_json(tmp_path / "i.jsonl", orient="records", lines=True)
    source = tmp_path / "i.jsonl"
  elif kind == "parquet":
    frame.to_parquet(tmp_path / "i.parquet")
    source = tmp_path / "i.parquet"
  elif kind == "csv":
    frame.assign(choices=[json.dumps(c) for c in MMLU_ROWS["choices"]]).to_csv(tmp_path / "i.csv", index=False)
    source = tmp_path / "i.csv"
  else:
    source = frame
  items = load_items(source, **kwargs)
  assert items == EXPECTED_MMLU
  assert all(isinstance(it.choices, list) and isinstance(it.answer, int) for it in items)
  picked = load_items(source, indices=np.array([3, 0]), **kwargs)
  assert picked == [EXPECTED_MMLU[3], EXPECTED_MMLU[0]]


def test_load_items_arc_style(tmp_path):
  datasets = pytest.importorskip("datasets")
  ds = datasets.Dataset.from_dict({
      "id": ["Mercury_1", "NYSEDREGENTS_2", "ACTAAP_3"],
      "question": ["Which is a gas?", "What melts ice?", "Which is largest?"],
      "choices": [
          {"text": ["rock", "air", "wood", "iron"], "label": ["A", "B", "C", "D"]},
          {"text": ["heat", "cold", "dark"], "label": ["1", "2", "3"]},
          {"text": ["ant", "cat", "whale", "dog"], "label": ["A", "B", "C", "D"]},
      ],
      "answerKey": ["B", "1", "C"],
  })
  items = load_items(ds, question_column="question")  # answer falls back to answerKey
  assert items == [
      ItemText("Mercury_1", "Which is a gas?", ["rock", "air", "wood", "iron"], 1),
      ItemText("NYSEDREGENTS_2", "What melts ice?", ["heat", "cold", "dark"], 0),
      ItemText("ACTAAP_3", "Which is largest?", ["ant", "cat", "whale", "dog"], 2),
  ]
  assert load_items(ds, question_column="question", answer_column="answerKey", indices=[2]) == items[2:]
  bad = ds.map(lambda r: {"answerKey": "E" if r["id"] == "ACTAAP_3" else r["answerKey"]})
  with pytest.raises(ItemError, match=r"row 2 \(item 'ACTAAP_3'\): answer 'E' is not one of the labels"):
    load_items(bad, question_column="question")


def test_load_items_errors(mmlu_dataset, tmp_path):
  import datasets

  with pytest.raises(ItemError, match=r"question_column 'prompt' not in the data"):
    load_items(mmlu_dataset, question_column="prompt")
  with pytest.raises(ItemError, match=r"indices out of range \[0, 5\): \[5, -1\]"):
    load_items(mmlu_dataset, indices=[0, 5, -1])
  with pytest.raises(ItemError, match=r"indices must be integers"):
    load_items(mmlu_dataset, indices=[0.5])
  wrong = mmlu_dataset.cast_column("answer", datasets.Value("int64")).map(
      lambda r, k: {"answer": 9 if k == 1 else r["answer"]}, with_indices=True
  )
  with pytest.raises(ItemError, match=r"row 1 \(item '1'\): answer index 9 out of range for 4 choices"):
    load_items(wrong)
  dsd = datasets.DatasetDict({"test": mmlu_dataset, "dev": mmlu_dataset})
  with pytest.raises(ItemError, match=r"splits \['test', 'dev'\]: pass split="):
    load_items(dsd)
  with pytest.raises(ItemError, match=r"split 'val' not found"):
    load_items(dsd, split="val")
  with pytest.raises(MissingFileError, match="items file not found"):
    load_items(str(tmp_path / "missing.parquet"))
  with pytest.raises(MissingFileError):
    load_items("./not_here")


def test_load_items_hub_name_calls_load_dataset(mmlu_dataset, monkeypatch):
  import datasets

  calls = []

  def fake_load_dataset(name, config=None, split=None):
    calls.append((name, config, split))
    return mmlu_dataset

  monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
  items = load_items("tinyBenchmarks/tinyMMLU", split="test", indices=[1])
  assert calls == [("tinyBenchmarks/tinyMMLU", None, "test")] and items == [EXPECTED_MMLU[1]]
