"""Checks of stochastic, variance-reduced, adaptive and second-order methods, and of the
hypergradient. Each takes a knob (a problem, a method or an optimizer) that the tests break."""

import math

import torch

from genopt_cli.lab import deterministic, stochastic, torch_methods
from genopt_cli.lab.problem import Problem
from genopt_cli.lab.problems import build_problem
from genopt_cli.lab.result import CheckResult
from genopt_cli.lab.trace import Settings


def check_sgd_rate(problem: Problem | None = None) -> CheckResult:
    """SGD with step c/sqrt(t) on a convex finite sum: the O(1/sqrt T) bound, up to log T.

    With steps a_t and unbiased stochastic gradients g_t, expanding |x_t+1 - x*|^2 and summing
    gives E f(xbar_T) - f* <= (|x_1 - x*|^2 + sum_t a_t^2 E|g_t|^2) / (2 sum_t a_t) for the
    a_t-weighted average xbar_T, by the convexity of f. With a_t = c/sqrt(t) that is
    O(log T / sqrt T), and on a bounded domain the log factor goes. The bound is computed from
    the run's own a_t^2 |g_t|^2. NOTE: the theorem bounds an expectation, and one run (seed 0,
    10 epochs) is compared with it.
    """
    truth = build_problem("logistic")
    problem = problem or truth
    trace = stochastic.sgd(problem, Settings(steps=10))
    extras = trace.extras
    bound = (distance_sq(truth) + extras["step_gradient_sq_sum"]) / (2 * extras["step_sum"])
    measured = truth.error(extras["average"])
    return CheckResult(
        "SGD c/sqrt(t)",
        "SGD, step c/sqrt t: gap of the average <= (R^2 + sum a^2 g^2) / 2 sum a",
        measured,
        bound,
        measured <= bound,
        f"logistic regression, c = 1/L_max, {10 * truth.data['size']} steps",
    )


def distance_sq(problem: Problem) -> float:
    difference = problem.x0 - problem.x_star
    return float(difference @ difference)


def epoch_factor(problem: Problem, points: list, first: int) -> float:
    """Return the mean factor per epoch by which the gap shrank from epoch `first` to the end."""
    start, end = problem.error(points[first]), max(problem.error(points[-1]), 1e-300)
    return (end / start) ** (1 / (len(points) - 1 - first))


def check_variance_reduced(name: str, method, epochs: int = 8) -> CheckResult:
    """SVRG or SAGA on strongly convex logistic regression converges linearly.

    Johnson and Zhang (NeurIPS 2013) and Defazio, Bach and Lacoste-Julien (NeurIPS 2014) prove
    E[gap] <= C rho^k for some rho < 1 at their step sizes. Measured: the mean factor per epoch
    of the gap over `epochs` epochs. The bound 0.5 is this check's threshold for clearly linear
    convergence, not a constant from the theorems.
    """
    problem = build_problem("logistic")
    points = method(problem, Settings(steps=epochs)).points
    measured = epoch_factor(problem, points, 0)
    return CheckResult(
        f"{name} linear rate",
        f"{name} on logistic regression: gap shrinks by a constant factor per epoch",
        measured,
        0.5,
        measured <= 0.5,
        f"{epochs} epochs; final gap {problem.error(points[-1]):.1e}",
    )


def check_svrg(method=stochastic.svrg) -> CheckResult:
    return check_variance_reduced("SVRG", method)


def check_saga(method=stochastic.saga) -> CheckResult:
    return check_variance_reduced("SAGA", method, epochs=12)


def check_sgd_noise_floor(method=stochastic.minibatch_sgd) -> CheckResult:
    """SGD with SVRG's constant step stops at a noise floor, where SVRG converges linearly.

    Its gap stops shrinking because the stochastic gradient's variance does not vanish at x*.
    Measured: the mean factor per epoch of the gap over epochs 5 to 15; the check passes when it
    is at least 0.5, so a method that keeps shrinking the gap linearly fails it.
    """
    problem = build_problem("logistic")
    lr = 1 / (5 * problem.data["component_smoothness"])
    points = method(problem, Settings(steps=15, lr=lr, batch=1)).points
    measured = epoch_factor(problem, points, 5)
    return CheckResult(
        "SGD stalls at a noise floor",
        "SGD, SVRG's constant step, batch 1: no linear rate (factor per epoch near 1)",
        measured,
        0.5,
        measured >= 0.5,
        f"final gap {problem.error(points[-1]):.1e}",
        relation=">=",
    )


def torch_adam(parameters, lr: float):
    return torch_methods.catalogue_optimizer("adam", parameters, lr=lr)


def check_adam_first_step(make_optimizer=torch_adam) -> CheckResult:
    """Adam's bias correction makes its first step lr sign(g), whatever the gradient's scale.

    After one step m = (1 - b1) g and v = (1 - b2) g^2; dividing by 1 - b1 and 1 - b2 gives
    m_hat / sqrt(v_hat) = g / |g| (up to eps). Measured: max_i |x_1 - x_0 + lr sign(g_i)| / lr,
    on a 20-D quadratic whose gradient entries differ in size by a factor of about 60.
    """
    problem = build_problem("quadratic", dim=20, condition=1e4)
    lr = 0.01
    x = torch.nn.Parameter(problem.x0.clone())
    optimizer = make_optimizer([x], lr)
    gradient = problem.gradient(problem.x0)
    optimizer.zero_grad()
    problem.objective(x).backward()
    optimizer.step()
    step = x.detach() - problem.x0
    measured = float((step + lr * gradient.sign()).abs().max()) / lr
    return CheckResult(
        "Adam first step",
        "Adam, bias-corrected: x_1 - x_0 = -lr sign(grad f(x_0))",
        measured,
        1e-6,
        measured <= 1e-6,
        f"lr = {lr}; |g_i| from {float(gradient.abs().min()):.1e} to "
        f"{float(gradient.abs().max()):.1e}",
    )


def check_newton_quadratic(step_scale: float = 1.0) -> CheckResult:
    """Newton's method solves a quadratic in one step: x_1 = x_0 - A^{-1} A (x_0 - x*) = x*.

    Measured: |x_1 - x*| / |x_0 - x*| on a 20-D quadratic with condition number 10^4.
    """
    problem = build_problem("quadratic", dim=20, condition=1e4)
    points = deterministic.newton(problem, Settings(steps=1, lr=step_scale)).points
    measured = float(
        torch.linalg.vector_norm(points[1] - problem.x_star)
        / torch.linalg.vector_norm(points[0] - problem.x_star)
    )
    return CheckResult(
        "Newton on a quadratic",
        "Newton on a quadratic: x_1 = x* (one step)",
        measured,
        1e-10,
        measured <= 1e-10,
        "20-D quadratic, L/mu = 1e4",
    )


def check_lbfgs_quadratic(problem: Problem | None = None) -> CheckResult:
    """L-BFGS reaches a 1e-10 relative gap on an n-D quadratic within 3n iterations.

    With exact line searches and memory m >= n, L-BFGS on a strongly convex quadratic generates
    the conjugate-gradient iterates and ends in at most n steps. NOTE: torch's strong Wolfe
    search is inexact, so the bound 3n is this check's threshold, not a theorem. GD needs the
    condition number times log(1e10), about 2,300 iterations here, by the linear rate.
    """
    problem = problem or build_problem("quadratic", dim=10, condition=100.0)
    limit = 3 * problem.dim
    points = torch_methods.lbfgs(problem, Settings(steps=limit + 10)).points
    start = problem.error(points[0])
    reached = [t for t, x in enumerate(points) if problem.error(x) <= 1e-10 * start]
    measured = reached[0] if reached else math.inf
    return CheckResult(
        "L-BFGS on a quadratic",
        "L-BFGS (m = 10 >= n = 10): gap <= 1e-10 gap_0 within 3n iterations",
        measured,
        limit,
        measured <= limit,
        "10-D quadratic, L/mu = 100",
    )


def check_hypergradient(hypergradient=deterministic.hypergradient) -> CheckResult:
    """Compare the hypergradient by implicit differentiation with a central finite difference.

    Measured: |implicit - finite difference| / |finite difference| at three log L2 weights. The
    central difference with h = 1e-5 has an error of order h^2 plus rounding, so 1e-5 is the bound.
    """
    problem = build_problem("l2_weight")
    errors = []
    for value in (-6.0, -3.0, 0.0):
        s = torch.tensor([value], dtype=problem.x0.dtype)
        implicit = hypergradient(problem, s)
        numeric = deterministic.finite_difference(problem, s)
        errors.append(float((implicit - numeric).abs() / numeric.abs()))
    measured = max(errors)
    return CheckResult(
        "hypergradient",
        "implicit-differentiation hypergradient = finite difference",
        measured,
        1e-5,
        measured <= 1e-5,
        "d(validation loss)/d(log L2 weight) at log weights -6, -3, 0",
    )
