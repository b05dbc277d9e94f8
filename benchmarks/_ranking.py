"""The ranking tables of `accuracy.py` (issue 18, part 3): how often a tiny benchmark orders two held-out models
as the full benchmark does, by their true gap (tinyjax.tiny.pairwise_agreement; Yauney et al., ICLR 2026).

`ranking_rows(rows)` takes the rows of `accuracy.py`, each a dict with `matrix`, `split` ("iid" or "top25"),
`seed`, `strategy` (and `method` where several were run) and, per held-out model, the lists

  truth              full-benchmark scores (fractions)
  pred_naive_random  random-anchor naive estimates
  pred_gpirt         gp-IRT estimates
  pred_score         the library's recommended estimate (`est.score`)

and returns two markdown tables: (1) per matrix and split, the smallest true gap (points) from which pairs are
ordered correctly at least 90% of the time, for each estimator, mean over seeds, and the mean over matrices;
(2) the share of pairs ordered correctly per true-gap bin, pooled over matrices and seeds. Rows without the
lists are skipped.
"""

from __future__ import annotations

import numpy as np

from tinyjax.tiny import DEFAULT_METHOD, DEFAULT_STRATEGY, pairwise_agreement

ESTIMATES = (("pred_naive_random", "naive (random anchors)"), ("pred_gpirt", "gp-IRT"),
             ("pred_score", "recommended (est.score)"))
SHORT = {"pred_naive_random": "naive", "pred_gpirt": "gp-IRT", "pred_score": "score"}
BINS = np.array([0.0, 0.01, 0.02, 0.05, 0.10, np.inf])      # true gap, fractions: 0-1, 1-2, 2-5, 5-10, >10 points
BIN_LABELS = ("0-1", "1-2", "2-5", "5-10", ">10")
SPLITS = ("iid", "top25")


def _pick(rows: list[dict], key: str, preferred) -> object:
  values = list(dict.fromkeys(r[key] for r in rows if key in r))
  if not values:
    return None
  return preferred if preferred in values else values[0]


def _gap_cell(values: list[float]) -> str:
  """Mean in points over the finite values; '(k/n n/a)' when k of n never reached the level."""
  v = np.asarray(values, dtype=float)
  ok = np.isfinite(v)
  if not ok.any():
    return "n/a"
  cell = f"{np.mean(v[ok]):.2f}"
  return cell if ok.all() else f"{cell} ({int((~ok).sum())}/{v.size} n/a)"


def ranking_rows(rows: list[dict], *, strategy: str | None = None, method: str | None = None,
                 level: float = 0.9) -> str:
  """Markdown tables of pairwise ranking agreement (see the module docstring).

  Args:
    rows: benchmark rows; those without all of `truth` and the three `pred_*` lists are skipped.
    strategy: the anchor strategy whose rows are read (default: the library's default, else the first found).
    method: the ability method whose rows are read, where rows carry one (default: the library's default).
    level: the share of correctly ordered pairs that defines the min gap.
  """
  keys = ("truth",) + tuple(k for k, _ in ESTIMATES)
  rows = [r for r in rows if all(k in r for k in keys)]
  strategy = strategy or _pick(rows, "strategy", DEFAULT_STRATEGY)
  method = method or _pick(rows, "method", DEFAULT_METHOD)
  rows = [r for r in rows if r.get("strategy") == strategy and r.get("method", method) == method]
  if not rows:
    return "\n(no rows with per-model truth and pred_* lists: no ranking table)\n"

  mats = list(dict.fromkeys(r["matrix"] for r in rows))
  gaps = {}                      # (matrix, split, key) -> [min gap in points per row]
  pooled = {}                    # (split, key) -> (correct [5], pairs [5], correct all, pairs all)
  for r in rows:
    truth = np.asarray(r["truth"], dtype=float)
    for key, _ in ESTIMATES:
      est = np.asarray(r[key], dtype=float)
      fine = pairwise_agreement(est, truth, level=level)                     # 0.5-point bins
      gaps.setdefault((r["matrix"], r["split"], key), []).append(100 * fine.min_gap)
      coarse = pairwise_agreement(est, truth, gaps=BINS, level=level)
      c, n, ca, na = pooled.get((r["split"], key), (0.0, 0, 0.0, 0))
      pooled[(r["split"], key)] = (c + coarse.n_correct, n + coarse.n_pairs, ca + coarse.overall * coarse.n_total,
                                   na + coarse.n_total)

  splits = [s for s in SPLITS if any(r["split"] == s for r in rows)]
  splits += [s for s in dict.fromkeys(r["split"] for r in rows) if s not in splits]
  names = [name for _, name in ESTIMATES]
  out = [f"\n### Ranking: smallest true gap (points) ordered correctly {100 * level:.0f}% of the time "
         f"(strategy {strategy}{', ability ' + method.upper() if method else ''}; mean over seeds; lower is better)\n",
         "Pairs of held-out models are binned by their true gap (0.5-point bins); the min gap is the first bin from "
         f"which the non-decreasing fit of the share ordered correctly reaches {100 * level:.0f}% "
         "(`tinyjax.tiny.pairwise_agreement`, after Yauney et al., ICLR 2026). n/a: never reached.\n",
         "| matrix | split | seeds | " + " | ".join(names) + " |",
         "|---|---|---|" + "---|" * len(names)]
  for split in splits:
    per_matrix = {key: [] for key, _ in ESTIMATES}
    for m in mats:
      if (m, split, ESTIMATES[0][0]) not in gaps:
        continue
      cells = []
      for key, _ in ESTIMATES:
        vals = gaps[(m, split, key)]
        per_matrix[key].append(float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan"))
        cells.append(_gap_cell(vals))
      seeds = len({r["seed"] for r in rows if r["matrix"] == m and r["split"] == split})
      out.append(f"| {m} | {split} | {seeds} | " + " | ".join(cells) + " |")
    n_mats = len(per_matrix[ESTIMATES[0][0]])
    out.append(f"| mean | {split} | {n_mats} matrices | "
               + " | ".join(_gap_cell(per_matrix[key]) for key, _ in ESTIMATES) + " |")

  out.append("\n### Ranking: % of pairs ordered correctly by true gap (points), pooled over matrices and seeds "
             "(naive: random anchors; score: the recommended estimate)\n")
  head = "| true gap | " + " | ".join(f"{s}: {SHORT[k]}" for s in splits for k, _ in ESTIMATES) + " | " \
         + " | ".join(f"{s}: pairs" for s in splits) + " |"
  out += [head, "|---|" + "---|" * (len(splits) * (len(names) + 1))]

  def share(c, n):
    return f"{100 * c / n:.1f}" if n else "-"

  for b, label in enumerate(BIN_LABELS):
    cells = [share(pooled[(s, k)][0][b], pooled[(s, k)][1][b]) for s in splits for k, _ in ESTIMATES]
    counts = [str(int(pooled[(s, ESTIMATES[0][0])][1][b])) for s in splits]
    out.append(f"| {label} | " + " | ".join(cells + counts) + " |")
  cells = [share(pooled[(s, k)][2], pooled[(s, k)][3]) for s in splits for k, _ in ESTIMATES]
  counts = [str(int(pooled[(s, ESTIMATES[0][0])][3])) for s in splits]
  out.append("| all pairs | " + " | ".join(cells + counts) + " |")
  return "\n".join(out) + "\n"
