"""``tinyjax select density`` and ``tinyjax select ask-llm``: training-data selection."""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from tinyjax._cli_common import input_path, seed_type
from tinyjax.errors import ConfigError, InputError, MissingFileError

SELECTION_KIND = "data_selection"


def register(subparsers) -> None:
  from tinyjax.choices import SELECTION_STRATEGIES as STRATEGIES

  top = subparsers.add_parser(
      "select", help="select training data: density (coverage) sampling or Ask-LLM quality scores",
      description="Select k training examples, as in Sachdeva et al. (2024), 'How to Train Data-Efficient LLMs': "
      "density sampling for coverage, or Ask-LLM quality scores from a local model. Run 'tinyjax select METHOD "
      "--help' for the options of each.")
  sub = top.add_subparsers(dest="select_command", metavar="METHOD", help="how to select")
  top.set_defaults(func=lambda args: _usage(top))

  d = sub.add_parser(
      "density", help="sample k examples with probability proportional to 1/density in an embedding space",
      description="Estimate every example's density with a Gaussian-LSH count sketch (two streaming passes: "
      "the embeddings are read chunk by chunk, never loaded whole), then pick k examples. EMBEDDINGS is an "
      "[N, D] .npy file or a datasets folder (saved with save_to_disk) with an embedding column.")
  d.add_argument("embeddings", type=input_path, metavar="EMBEDDINGS", help="[N, D] .npy file, or a datasets folder (with --column)")
  d.add_argument("--k", type=int, required=True, help="number of examples to select (1 <= k <= N)")
  d.add_argument("--strategy", default="inverse", choices=STRATEGIES,
                 help="inverse: sample without replacement with probability ~ density^-power (coverage); "
                 "top: the k densest; bottom: the k sparsest")
  d.add_argument("--power", type=float, default=1.0,
                 help="exponent of the inverse density for --strategy inverse; 0 is uniform sampling")
  d.add_argument("--seed", type=seed_type, default=0, help="seed of the hash functions and of the sampling")
  d.add_argument("--bucket-width", type=float, default=None,
                 help="LSH bucket width w, the kernel bandwidth; without it, the median pairwise distance of "
                 "1000 evenly spaced rows")
  d.add_argument("--rows", type=int, default=128,
                 help="independent sketch rows; more rows, less noise, linear cost")
  d.add_argument("--hashes", type=int, default=4,
                 help="concatenated hash functions per row; more gives a sharper kernel")
  d.add_argument("--buckets", type=int, default=2**16,
                 help="counters per row; fewer buckets means more spurious collisions")
  d.add_argument("--chunk-size", type=int, default=4096, help="rows read and hashed at a time")
  d.add_argument("--column", default=None, help="embedding column, when EMBEDDINGS is a datasets folder")
  d.add_argument("--out", default=None, metavar="FILE",
                 help="save indices and density scores as a tinyjax artifact (.tjx); without it the selected "
                 "indices are printed, one per line")
  d.set_defaults(func=_density)

  a = sub.add_parser(
      "ask-llm", help="score examples by an LLM's P('yes') to the Ask-LLM prompt and keep the top k",
      description="Put every example into the Ask-LLM prompt of Sachdeva et al. (2024) and score it by the "
      "probability of the token 'yes' at the answer position. DATA is a datasets folder (save_to_disk), or a "
      ".jsonl/.json/.csv/.parquet file, or a .txt file with one example per line.")
  a.add_argument("data", type=input_path, metavar="DATA", help="datasets folder, .jsonl/.json/.csv/.parquet, or .txt file")
  a.add_argument("--model", required=True, metavar="DIR",
                 help="local Hugging Face checkpoint folder (GPT-2 or Llama family, safetensors); never downloads")
  a.add_argument("--tokenizer", default=None, metavar="PATH",
                 help="tokenizer folder or tokenizer.json; without it, the model folder")
  a.add_argument("--column", default="text", help="text column of DATA")
  a.add_argument("--k", type=int, default=None, help="keep the k best examples; without it, score every example and keep all")
  a.add_argument("--yes-token", action="append", default=None, metavar="TOKEN",
                 help="answer string counted as yes; repeat to add several, e.g. --yes-token yes --yes-token ' yes' "
                 "(each must be one token); without it, 'yes'")
  a.add_argument("--template-file", default=None, metavar="FILE",
                 help="a prompt template with {example} once; without it, the paper's prompt")
  a.add_argument("--add-bos", action="store_true", help="start each prompt with the tokenizer's BOS token")
  a.add_argument("--batch-size", type=int, default=8, help="rows per batch")
  a.add_argument("--max-length", type=int, default=None,
                 help="model window in tokens; longer examples are cut; without it, the model's window")
  a.add_argument("--score-column", default="ask_llm_score", help="name of the score column")
  a.add_argument("--save-dataset", default=None, metavar="DIR",
                 help="save the dataset with the score column here (save_to_disk); with --k, only the k best rows")
  a.add_argument("--out", default=None, metavar="FILE",
                 help="save scores (and selected indices with --k) as a tinyjax artifact (.tjx); without --out "
                 "or --save-dataset the scores (or the selected indices) are printed, one per line")
  a.set_defaults(func=_ask_llm)


def _usage(parser: argparse.ArgumentParser) -> int:
  parser.print_help()
  return 2


def _load_embeddings(path: str, column: str | None):
  p = pathlib.Path(path)
  if not p.exists():
    raise MissingFileError(f"no such file or folder: {p}")
  if p.is_dir():
    import datasets
    if column is None:
      raise ConfigError("EMBEDDINGS is a datasets folder: name the embedding column with --column")
    return datasets.load_from_disk(str(p))
  return p


def _density(args) -> int:
  from tinyjax import selection
  from tinyjax.io import save_artifact

  source = _load_embeddings(args.embeddings, args.column)
  sketch = dict(bucket_width=args.bucket_width, n_rows=args.rows, n_hashes=args.hashes,
                n_buckets=args.buckets, chunk_size=args.chunk_size, column=args.column)
  if args.bucket_width is None:
    sketch["bucket_width"] = selection.default_bucket_width(source, column=args.column)
  scores = selection.density_scores(source, seed=args.seed, **sketch)
  if args.strategy == "top":
    index = selection.top_k(scores, args.k)
  elif args.strategy == "bottom":
    index = selection.bottom_k(scores, args.k)
  else:
    index = selection.inverse_density_sample(scores, args.k, seed=args.seed, power=args.power)
  meta = {"strategy": args.strategy, "source": str(args.embeddings), "n": int(scores.size), "k": int(args.k),
          "seed": args.seed, "power": args.power,
          **{k: v for k, v in sketch.items() if k != "column"}, "column": args.column}
  if args.out is None:
    np.savetxt(sys.stdout, index, fmt="%d")
  else:
    save_artifact(args.out, SELECTION_KIND, {"indices": index.astype(np.int64), "scores": scores}, meta)
    print(f"selected {index.size} of {scores.size} examples ({args.strategy}, bucket width "
          f"{sketch['bucket_width']:.4g}) -> {args.out}", file=sys.stderr)
  return 0


def _load_texts(path: str):
  import datasets

  p = pathlib.Path(path)
  if not p.exists():
    raise MissingFileError(f"no such file or folder: {p}")
  if p.is_dir():
    ds = datasets.load_from_disk(str(p))
    if isinstance(ds, datasets.DatasetDict):
      raise InputError(f"{p} holds a DatasetDict with splits {list(ds)}; point DATA at one split's folder")
    return ds
  suffix = p.suffix.lower()
  if suffix in (".jsonl", ".json"):
    return datasets.Dataset.from_json(str(p))
  if suffix == ".csv":
    return datasets.Dataset.from_csv(str(p))
  if suffix == ".parquet":
    return datasets.Dataset.from_parquet(str(p))
  if suffix == ".txt":
    lines = [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return datasets.Dataset.from_dict({"text": lines})
  raise InputError(f"DATA must be a datasets folder or a .jsonl/.json/.csv/.parquet/.txt file, got {p}")


def _ask_llm(args) -> int:
  from tinyjax import selection
  from tinyjax.io import save_artifact
  from tinyjax.scoring import add_ask_llm_column, load_tokenizer
  from tinyjax.scoring.models import load_model

  ds = _load_texts(args.data)
  model = load_model(args.model)
  tokenizer = load_tokenizer(args.tokenizer or args.model)
  kwargs = dict(batch_size=args.batch_size, max_length=args.max_length, add_bos=args.add_bos)
  if args.yes_token:
    kwargs["yes_tokens"] = tuple(args.yes_token)
  if args.template_file:
    kwargs["template"] = pathlib.Path(args.template_file).read_text(encoding="utf-8")
  scored = add_ask_llm_column(ds, model, None, tokenizer, text_column=args.column,
                                        score_column=args.score_column, **kwargs)
  scores = np.asarray(scored[args.score_column], np.float64)
  index = selection.top_k(scores, args.k) if args.k is not None else None
  if args.save_dataset:
    from tinyjax._atomic import atomic_folder

    with atomic_folder(args.save_dataset) as stage:   # the folder appears whole, or not at all
      (scored.select(index) if index is not None else scored).save_to_disk(str(stage))
  if args.out:
    arrays = {"scores": scores}
    if index is not None:
      arrays["indices"] = index.astype(np.int64)
    meta = {"strategy": "ask-llm", "source": str(args.data), "model": str(args.model), "n": int(scores.size),
            "k": args.k, "column": args.column, "yes_tokens": list(kwargs.get("yes_tokens", ("yes",)))}
    save_artifact(args.out, SELECTION_KIND, arrays, meta)
  if not args.out and not args.save_dataset:
    if index is not None:
      np.savetxt(sys.stdout, index, fmt="%d")
    else:
      np.savetxt(sys.stdout, scores, fmt="%.6g")
  else:
    kept = f", kept the top {args.k}" if index is not None else ""
    print(f"scored {scores.size} examples (mean P(yes) {scores.mean():.4g}){kept}", file=sys.stderr)
  return 0
