"""The table of theorem checks that `genopt lab check` runs, in the order it prints them."""

from genopt_cli.lab import game_checks, method_checks, rate_checks
from genopt_cli.lab.result import CheckResult

CHECKS = {
    "descent_lemma": rate_checks.check_descent_lemma,
    "convex_rate": rate_checks.check_convex_rate,
    "linear_rate": rate_checks.check_linear_rate,
    "nesterov_rate": rate_checks.check_nesterov_rate,
    "gda_expansion": game_checks.check_gda_expansion,
    "extragradient": game_checks.check_extragradient,
    "sgd_rate": method_checks.check_sgd_rate,
    "svrg_linear": method_checks.check_svrg,
    "saga_linear": method_checks.check_saga,
    "sgd_noise_floor": method_checks.check_sgd_noise_floor,
    "adam_first_step": method_checks.check_adam_first_step,
    "newton_quadratic": method_checks.check_newton_quadratic,
    "lbfgs_quadratic": method_checks.check_lbfgs_quadratic,
    "hypergradient": method_checks.check_hypergradient,
}


def run_checks() -> list[CheckResult]:
    return [check() for check in CHECKS.values()]
