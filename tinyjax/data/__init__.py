"""Response matrices in, validated: the one input path of tinyjax.

* :mod:`tinyjax.data.responses`: :class:`Responses`, :func:`load_responses` (matrices with ids),
  :func:`check_matrix` (bare arrays), :func:`binarize`.
* :mod:`tinyjax.data.readers`: the readers behind :func:`load_responses` (numpy, pandas, .npy, .npz, .csv,
  .tsv, .parquet, ``datasets``).
* :mod:`tinyjax.data.lm_eval`: :func:`from_lm_eval_samples`, lm-evaluation-harness ``--log_samples`` output, and
  the two steps under it, :func:`find_lm_eval_files` and :func:`read_lm_eval_file` (records grouped by filter).

Benchmark items (questions and choices, for LLM scoring) are read by :func:`tinyjax.scoring.load_items`.
"""

from tinyjax.data.lm_eval import LMEvalFile, LMEvalSample, find_lm_eval_files, from_lm_eval_samples, read_lm_eval_file
from tinyjax.data.readers import MODEL_COLUMN_NAMES
from tinyjax.data.responses import Dropped, Responses, binarize, check_matrix, load_responses
from tinyjax.errors import ResponseError

__all__ = (
    "MODEL_COLUMN_NAMES",
    "Dropped",
    "LMEvalFile",
    "LMEvalSample",
    "ResponseError",
    "Responses",
    "binarize",
    "check_matrix",
    "find_lm_eval_files",
    "from_lm_eval_samples",
    "load_responses",
    "read_lm_eval_file",
)
