"""Each theorem check passes as shipped and fails when its method is broken on purpose."""

import pytest
import torch

from genopt_cli.lab import deterministic, game_checks, games, method_checks, rate_checks, stochastic
from genopt_cli.lab.checks import CHECKS
from genopt_cli.lab.problems import build_problem


@pytest.mark.parametrize("name", list(CHECKS))
def test_check_passes(name):
    result = CHECKS[name]()
    assert result.passed, result


@pytest.mark.parametrize(
    "check",
    [
        rate_checks.check_descent_lemma,
        rate_checks.check_convex_rate,
        rate_checks.check_linear_rate,
        rate_checks.check_nesterov_rate,
    ],
)
def test_rate_check_fails_at_large_step(check):
    result = check(step_scale=2.5)
    assert not result.passed, result


def flipped(problem):
    """Return a copy of `problem` whose objective has the opposite sign (a sign error)."""
    return type(problem)(**{**problem.__dict__, "objective": lambda x: -problem.objective(x)})


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (rate_checks.check_descent_lemma, ("quadratic", {"dim": 20, "condition": 100.0})),
        (rate_checks.check_convex_rate, ("worst_case", {})),
        (rate_checks.check_linear_rate, ("quadratic", {"dim": 20, "condition": 100.0})),
        (rate_checks.check_nesterov_rate, ("worst_case", {})),
    ],
)
def test_rate_check_fails_with_sign_error(check, problem):
    name, options = problem
    result = check(problem=flipped(build_problem(name, **options)))
    assert not result.passed, result


def test_gda_check_fails_with_wrong_step():
    assert not game_checks.check_gda_expansion(step_scale=2.0).passed


def test_gda_check_fails_for_alternating_updates():
    assert not game_checks.check_gda_expansion(method=games.alternating).passed


def test_extragradient_check_fails_for_simultaneous_gda():
    assert not game_checks.check_extragradient(method=games.simultaneous).passed


def test_sgd_check_fails_with_sign_error():
    problem = build_problem("logistic")
    loss = problem.data["component_loss"]
    data = {**problem.data, "component_loss": lambda w, index: -loss(w, index)}
    broken = type(problem)(**{**problem.__dict__, "data": data})
    result = method_checks.check_sgd_rate(problem=broken)
    assert not result.passed, result


def svrg_without_correction(problem, settings):
    """SVRG with the snapshot's terms dropped, which is plain SGD at SVRG's step."""
    return stochastic.minibatch_sgd(
        problem, type(settings)(**{**settings.__dict__, "batch": 1, "lr": 0.77})
    )


def test_svrg_check_fails_without_variance_reduction():
    assert not method_checks.check_svrg(method=svrg_without_correction).passed


def test_saga_check_fails_without_variance_reduction():
    assert not method_checks.check_saga(method=svrg_without_correction).passed


def test_noise_floor_check_fails_for_svrg():
    assert not method_checks.check_sgd_noise_floor(method=stochastic.svrg).passed


class AdamWithoutBiasCorrection(torch.optim.Optimizer):
    """Adam's first step without dividing m by 1 - b1 and v by 1 - b2."""

    def __init__(self, parameters, lr, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(parameters, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                m = (1 - beta1) * parameter.grad
                v = (1 - beta2) * parameter.grad**2
                parameter -= group["lr"] * m / (v.sqrt() + group["eps"])


def test_adam_check_fails_without_bias_correction():
    result = method_checks.check_adam_first_step(
        make_optimizer=lambda parameters, lr: AdamWithoutBiasCorrection(parameters, lr)
    )
    assert not result.passed, result


def test_newton_check_fails_with_half_step():
    assert not method_checks.check_newton_quadratic(step_scale=0.5).passed


def test_lbfgs_check_fails_on_ill_conditioned_quadratic():
    problem = build_problem("quadratic", dim=10, condition=1e6)
    assert not method_checks.check_lbfgs_quadratic(problem=problem).passed


def test_hypergradient_check_fails_with_sign_error():
    result = method_checks.check_hypergradient(
        hypergradient=lambda problem, s: -deterministic.hypergradient(problem, s)
    )
    assert not result.passed, result
