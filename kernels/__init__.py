"""tinyjax.kernels: the numerical core of tinyjax.

Pure JAX functions and NamedTuple pytrees: no I/O, no global state, no jit inside. Every function can
be jitted, vmapped and sharded by the caller (the ``tinyjax`` API layer). Each topic lives in a
private module ``_<topic>.py``; this file only re-exports it. Each topic adds its own block of imports.
"""

# k-means (issue 3: anchor selection)
from tinyjax.kernels._kmeans import KMeansInfo, KMeansState, kmeans, kmeans_plusplus_init, lloyd_step, squared_distances

# supervised anchor selection (issue 3): forward stepwise ridge regression of the full score
from tinyjax.kernels._stepwise import StepwiseInfo, stepwise_select
# tiny-benchmark estimation: p-IRT (kernels/_pirt.py); D-optimal adaptive testing step (kernels/_adaptive.py)
from tinyjax.kernels._pirt import pirt_scores
from tinyjax.kernels._adaptive import AdaptiveStep, d_optimal_step

# scoring (issue 5): token log-probabilities and per-segment sums
from tinyjax.kernels._loglik import SegmentScores, segment_logprobs, token_logprobs

# IRT: log-likelihood, priors, MAP fit loop (kernels/_irt.py).
from tinyjax.kernels._irt import IRTFitInfo, IRTFitState, IRTParams, IRTPriorConfig
from tinyjax.kernels._irt import asymptotes, irt_fit_chunk, irt_fit_init, irt_init_params
from tinyjax.kernels._irt import irt_log_likelihood, irt_log_prior, irt_logits, irt_objective, irt_prob, slopes
# Ability estimation for one examinee; vmap over models in the caller (kernels/_ability.py).
from tinyjax.kernels._ability import AbilityResult, ability_eap_grid, ability_eap_importance, ability_newton
from tinyjax.kernels._ability import fisher_information, log_likelihood_one

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
from tinyjax.kernels._bandit_elimination import (EliminationState, ExampleOrderAux, elimination,
                                                 rejects_target, successive_rejects)
from tinyjax.kernels._bandit_halving import (halving_arms, halving_noisy, halving_schedules, halving_targets,
                                             sequential_halving, shared_alpha)
from tinyjax.kernels._bandit_hardness import split_half_correlation, verification_cells

# forecasting (issue 6): scaling-law forms and objectives (_laws.py), local minimisers (_minimize.py), repeated
# sampling: pass@k, coverage law, OSCA allocation, early stopping (_sampling.py); the one L-BFGS driver (_lbfgs.py)
from tinyjax.kernels._lbfgs import (LBFGSState, LBFGSStep, lbfgs, lbfgs_init, lbfgs_run, ftol_rule,
                                    patience_rule)
from tinyjax.kernels._laws import (bootstrap_counts, chinchilla_huber_objective, chinchilla_log_loss, huber,
                                   loss_to_error, overtrained_loss, reducible_power_law)
from tinyjax.kernels._minimize import MinimizeInfo, fit_curve, lbfgs_minimize, levenberg_marquardt
from tinyjax.kernels._sampling import (AllocationInfo, EarlyStopResult, adaptive_weighted_consistency,
                                       allocate_samples, allocation_coverage, coverage_log, early_stop_best_of_n,
                                       log_fail, log_pass_fail_ratio, pass_at_k_gammaln, pass_at_k_per_problem)
