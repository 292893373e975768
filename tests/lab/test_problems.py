"""Every lab problem's stated solution is optimal, and every method runs on its problems."""

import pytest
import torch

from genopt_cli.lab import deterministic
from genopt_cli.lab.methods import METHODS, applies, run_method
from genopt_cli.lab.problem import CONSTRAINED, GAME, HYPER, LASSO, SMOOTH, SPHERE
from genopt_cli.lab.problems import PROBLEMS, build_problem
from genopt_cli.lab.trace import Settings

# One problem each method runs on in its smoke test.
SMOKE_PROBLEM = {
    **{name: "quadratic" for name in METHODS},
    "natural_gradient": "logistic",
    "sgd": "logistic",
    "minibatch_sgd": "logistic",
    "svrg": "logistic",
    "saga": "logistic",
    "projected_gd": "box",
    "augmented_lagrangian": "simplex",
    "admm": "lasso",
    "gda": "bilinear",
    "alternating_gda": "dirac_gan",
    "extragradient": "dirac_gan",
    "optimistic": "bilinear",
    "riemannian_gd": "sphere",
    "hypergradient": "l2_weight",
}


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_problem_solution_has_zero_error(name):
    problem = build_problem(name)
    assert abs(problem.error(problem.x_star)) < 1e-12
    assert problem.error(problem.x0) > 1e-3


@pytest.mark.parametrize("name", ["quadratic", "worst_case", "rosenbrock", "logistic"])
def test_smooth_problem_gradient_vanishes_at_solution(name):
    problem = build_problem(name)
    assert SMOOTH in problem.kinds
    assert float(torch.linalg.vector_norm(problem.gradient(problem.x_star))) < 1e-10


def test_worst_case_solution_matches_closed_form():
    problem = build_problem("worst_case", dim=9)
    matrix = problem.data["matrix"]
    solved = torch.linalg.solve(matrix, torch.eye(9, dtype=matrix.dtype)[0] / 4)
    assert torch.allclose(solved, problem.x_star)


@pytest.mark.parametrize("name", ["box", "simplex", "ball"])
def test_constrained_solution_beats_feasible_neighbours(name):
    problem = build_problem(name)
    assert CONSTRAINED in problem.kinds
    assert problem.violation(problem.x_star) < 1e-12
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        nearby = problem.project(problem.x_star + 0.1 * torch.randn(2, generator=generator))
        assert float(problem.objective(nearby)) >= problem.f_star - 1e-12


def test_lasso_solution_beats_neighbours():
    problem = build_problem("lasso")
    assert LASSO in problem.kinds
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        nearby = problem.x_star + 0.01 * torch.randn(10, generator=generator, dtype=torch.float64)
        assert float(problem.objective(nearby)) > problem.f_star


def test_sphere_solution_is_leading_eigenvector():
    problem = build_problem("sphere")
    assert SPHERE in problem.kinds
    eigenvalues, eigenvectors = torch.linalg.eigh(problem.data["matrix"])
    assert abs(float(eigenvectors[:, -1] @ problem.x_star)) == pytest.approx(1.0)
    assert problem.f_star == pytest.approx(-0.5 * float(eigenvalues[-1]))


@pytest.mark.parametrize("name", ["bilinear", "dirac_gan"])
def test_game_field_vanishes_at_equilibrium(name):
    from genopt_cli.lab.games import vector_field

    problem = build_problem(name)
    assert GAME in problem.kinds
    assert float(torch.linalg.vector_norm(vector_field(problem, problem.x_star))) < 1e-12


def test_l2_weight_hypergradient_vanishes_at_optimum():
    problem = build_problem("l2_weight")
    assert HYPER in problem.kinds
    assert abs(float(deterministic.hypergradient(problem, problem.x_star))) < 1e-6


def test_logistic_component_gradients_match_autograd():
    problem = build_problem("logistic")
    w = torch.linspace(-1, 1, problem.dim, dtype=torch.float64)
    index = torch.tensor([0, 5, 100])
    closed_form = problem.data["component_gradients"](w.expand(3, -1), index)
    for row, i in zip(closed_form, index, strict=True):
        point = w.clone().requires_grad_(True)
        problem.data["component_loss"](point, i.reshape(1)).backward()
        assert torch.allclose(row, point.grad)


def test_logistic_fisher_is_hessian():
    problem = build_problem("logistic")
    w = torch.linspace(-1, 1, problem.dim, dtype=torch.float64)
    assert torch.allclose(problem.data["fisher"](w), problem.hessian(w))


@pytest.mark.parametrize("method", list(METHODS))
def test_method_reduces_error(method):
    problem = build_problem(SMOKE_PROBLEM[method])
    assert applies(method, problem)
    steps = 2 if problem.name == "logistic" and method not in ("natural_gradient",) else 20
    trace = run_method(method, problem, Settings(steps=steps))
    assert len(trace.points) == steps + 1
    assert torch.isfinite(trace.stacked()).all()
    # Simultaneous GDA spirals away from the equilibrium and alternating GDA circles it.
    if method not in ("gda", "alternating_gda"):
        assert problem.error(trace.points[-1]) < problem.error(trace.points[0])


def test_every_problem_has_a_method():
    for name in PROBLEMS:
        problem = build_problem(name)
        assert any(applies(method, problem) for method in METHODS), name
