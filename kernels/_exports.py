"""Every public name of tinyjax.kernels, re-exported from its private topic module (kernels/__init__.py imports
them all from here). Each topic adds its own block of imports, and every exported name is listed in ``__all__``.
"""

# suites (issue 16): kernel ridge regression of full scores on kept-item answers (kernels/_krr.py)
from tinyjax.kernels._krr import (KernelRidge, grouped_sq_distances, kernel_ridge_fit, kernel_ridge_fit_grid,
                                  kernel_ridge_predict, kernel_ridge_predict_grid, rbf_kernel, weighted_sq_distances)

# k-means (issue 3: anchor selection)
from tinyjax.kernels._kmeans import KMeansInfo, KMeansState, kmeans, kmeans_plusplus_init, lloyd_step, squared_distances

# supervised anchor selection (issue 3): forward stepwise ridge regression of the full score
from tinyjax.kernels._stepwise import StepwiseInfo, loo_mse, ridge_loo, stepwise_select
# tiny-benchmark estimation: p-IRT (kernels/_pirt.py); D-optimal adaptive testing step (kernels/_adaptive.py)
from tinyjax.kernels._pirt import pirt_scores
from tinyjax.kernels._adaptive import AdaptiveRound, AdaptiveStep, adaptive_round, d_optimal_step

# generation (issue 17): greedy / temperature / top-p choice of the next token (kernels/_decode.py)
from tinyjax.kernels._decode import argmax_first, sample_token, top_p_logits

# scoring (issue 5): token log-probabilities and per-segment sums
from tinyjax.kernels._loglik import SegmentScores, segment_logprobs, token_logprobs

# IRT: log-likelihood, priors, MAP fit loop (kernels/_irt.py).
from tinyjax.kernels._irt import IRTFitInfo, IRTFitState, IRTParams, IRTPriorConfig
from tinyjax.kernels._irt import asymptotes, irt_fit_chunk, irt_fit_init, irt_flatten, irt_unflatten
from tinyjax.kernels._irt import irt_log_likelihood, irt_log_prior, irt_logits, irt_objective, irt_prob, slopes
# Ability estimation for one examinee; vmap over models in the caller (kernels/_ability.py).
from tinyjax.kernels._ability import AbilityResult, ability_eap_grid, ability_eap_importance, ability_newton
from tinyjax.kernels._ability import fisher_information, log_likelihood_one
from tinyjax.kernels._ability import ability_eap_table, ability_newton_1d, score_curve_1d, score_curve_start

# training-data selection (issue 7): LSH count-sketch density, exact Gaussian KDE, Gumbel top-k (kernels/_kde.py)
from tinyjax.kernels._kde import LSHParams, gaussian_kde_log_density, gumbel_top_k, lsh_buckets, lsh_codes
from tinyjax.kernels._kde import lsh_collision_probability, lsh_equivalent_bandwidth, lsh_init
from tinyjax.kernels._kde import sketch_add, sketch_query

# bandits (issue 4): ensemble ALS; best-method identification, one (init, aux, select, recommend) per algorithm
from tinyjax.kernels._als import ALSState, als_init, als_moments, als_row_moments, als_sweep, dropout_keep
from tinyjax.kernels._bandit import (BanditAlgorithm, BanditInfo, BanditState, Batch, StepKeys, bandit_reveal,
                                     bandit_state_init, cell_order, empirical_means, example_order, random_argmax,
                                     random_top_k, step_keys)
from tinyjax.kernels._bandit_ucb import (LRF_BONUSES, LRF_COLUMNS, CellOrderAux, LRFAux, LRFState, NoAux,
                                         lrf_bounds, lrf_moments, lrf_refit, row_variances, ucb_bounds, ucbe,
                                         ucbe_lrf, uniform_sampling)
from tinyjax.kernels._bandit_elimination import (ELIMINATION_DERIVED, EliminationState, ExampleOrderAux, elimination,
                                                 elimination_sync, rejects_target, successive_rejects)
from tinyjax.kernels._bandit_halving import (halving_arms, halving_noisy, halving_schedules, halving_targets,
                                             sequential_halving, shared_alpha)
from tinyjax.kernels._bandit_hardness import split_half_correlation, verification_cells

# forecasting (issue 6): scaling-law forms and objectives (_laws.py), local minimisers (_minimize.py), repeated
# sampling: pass@k, coverage law, OSCA allocation, early stopping (_sampling.py); the one L-BFGS driver (_lbfgs.py)
from tinyjax.kernels._lbfgs import (LBFGSState, LBFGSStep, LeanLBFGSState, lbfgs, lbfgs_init, lbfgs_run,
                                    lean_lbfgs_init, lean_lbfgs_run, ftol_rule, patience_rule)
from tinyjax.kernels._laws import (bootstrap_counts, chinchilla_huber_objective, chinchilla_log_loss, huber,
                                   loss_to_error, overtrained_loss, reducible_power_law)
from tinyjax.kernels._minimize import MinimizeInfo, fit_curve, lbfgs_minimize, levenberg_marquardt
from tinyjax.kernels._sampling import (AllocationInfo, EarlyStopResult, adaptive_weighted_consistency,
                                       allocate_samples, allocation_coverage, coverage_log, early_stop_best_of_n,
                                       log_fail, log_pass_fail_ratio, pass_at_k_gammaln, pass_at_k_per_problem)

__all__ = (
    "ALSState",
    "AbilityResult",
    "AdaptiveRound",
    "AdaptiveStep",
    "AllocationInfo",
    "BanditAlgorithm",
    "BanditInfo",
    "BanditState",
    "Batch",
    "CellOrderAux",
    "EarlyStopResult",
    "ELIMINATION_DERIVED",
    "EliminationState",
    "ExampleOrderAux",
    "IRTFitInfo",
    "IRTFitState",
    "IRTParams",
    "IRTPriorConfig",
    "KMeansInfo",
    "KMeansState",
    "KernelRidge",
    "LBFGSState",
    "LBFGSStep",
    "LeanLBFGSState",
    "LRFAux",
    "LRFState",
    "LRF_BONUSES",
    "LRF_COLUMNS",
    "LSHParams",
    "MinimizeInfo",
    "NoAux",
    "SegmentScores",
    "StepKeys",
    "StepwiseInfo",
    "ability_eap_grid",
    "ability_eap_importance",
    "ability_eap_table",
    "ability_newton",
    "ability_newton_1d",
    "adaptive_round",
    "adaptive_weighted_consistency",
    "allocate_samples",
    "allocation_coverage",
    "als_init",
    "als_moments",
    "als_row_moments",
    "als_sweep",
    "asymptotes",
    "bandit_reveal",
    "bandit_state_init",
    "bootstrap_counts",
    "cell_order",
    "chinchilla_huber_objective",
    "chinchilla_log_loss",
    "coverage_log",
    "d_optimal_step",
    "dropout_keep",
    "early_stop_best_of_n",
    "elimination",
    "elimination_sync",
    "empirical_means",
    "example_order",
    "fisher_information",
    "fit_curve",
    "ftol_rule",
    "gaussian_kde_log_density",
    "grouped_sq_distances",
    "gumbel_top_k",
    "halving_arms",
    "halving_noisy",
    "halving_schedules",
    "halving_targets",
    "huber",
    "irt_fit_chunk",
    "irt_fit_init",
    "irt_flatten",
    "irt_unflatten",
    "irt_log_likelihood",
    "irt_log_prior",
    "irt_logits",
    "irt_objective",
    "irt_prob",
    "kernel_ridge_fit",
    "kernel_ridge_fit_grid",
    "kernel_ridge_predict",
    "kernel_ridge_predict_grid",
    "kmeans",
    "kmeans_plusplus_init",
    "lbfgs",
    "lbfgs_init",
    "lbfgs_minimize",
    "lbfgs_run",
    "lean_lbfgs_init",
    "lean_lbfgs_run",
    "levenberg_marquardt",
    "lloyd_step",
    "log_fail",
    "log_likelihood_one",
    "log_pass_fail_ratio",
    "loo_mse",
    "loss_to_error",
    "lrf_bounds",
    "lrf_moments",
    "lrf_refit",
    "lsh_buckets",
    "lsh_codes",
    "lsh_collision_probability",
    "lsh_equivalent_bandwidth",
    "lsh_init",
    "overtrained_loss",
    "pass_at_k_gammaln",
    "pass_at_k_per_problem",
    "patience_rule",
    "pirt_scores",
    "random_argmax",
    "random_top_k",
    "rbf_kernel",
    "reducible_power_law",
    "rejects_target",
    "ridge_loo",
    "row_variances",
    "argmax_first",
    "sample_token",
    "score_curve_1d",
    "score_curve_start",
    "segment_logprobs",
    "sequential_halving",
    "shared_alpha",
    "sketch_add",
    "sketch_query",
    "slopes",
    "split_half_correlation",
    "squared_distances",
    "step_keys",
    "stepwise_select",
    "successive_rejects",
    "token_logprobs",
    "top_p_logits",
    "ucb_bounds",
    "ucbe",
    "ucbe_lrf",
    "uniform_sampling",
    "verification_cells",
    "weighted_sq_distances",
)
