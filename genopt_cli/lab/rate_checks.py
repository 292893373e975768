"""Checks of the convergence rates of gradient descent and Nesterov's method.

Every check takes knobs with correct defaults: a step scale, and a problem for the method to run
on in place of the check's own (a copy with a sign error, say). The gap is always measured on the
check's own problem. The tests turn the knobs to wrong values and assert that the check fails.
"""

from genopt_cli.lab import deterministic, torch_methods
from genopt_cli.lab.problem import Problem
from genopt_cli.lab.problems import build_problem
from genopt_cli.lab.result import ROUNDING, CheckResult
from genopt_cli.lab.trace import Settings


def distance_sq(problem: Problem) -> float:
    difference = problem.x0 - problem.x_star
    return float(difference @ difference)


def check_descent_lemma(step_scale: float = 1.0, problem: Problem | None = None) -> CheckResult:
    """GD with step 1/L decreases f by at least |grad f|^2 / 2L per step (the descent lemma).

    Measured: the minimum over steps of (f(x_t) - f(x_{t+1})) / (|grad f(x_t)|^2 / 2L), on a
    20-D quadratic with condition number 100 (where L is tight), over 50 steps.
    """
    truth = build_problem("quadratic", dim=20, condition=100.0)
    smoothness = truth.smoothness
    settings = Settings(steps=50, lr=step_scale / smoothness)
    points = deterministic.gradient_descent(problem or truth, settings).points
    problem = truth
    ratios = []
    for before, after in zip(points[:-1], points[1:], strict=True):
        gradient = problem.gradient(before)
        decrease = problem.error(before) - problem.error(after)
        ratios.append(decrease / (float(gradient @ gradient) / (2 * smoothness)))
    measured = min(ratios)
    return CheckResult(
        "descent lemma",
        "GD, step 1/L: f(x_t) - f(x_t+1) >= |grad f|^2 / 2L",
        measured,
        1.0,
        measured >= 1.0 - ROUNDING,
        "min over 50 steps of decrease / (|g|^2 / 2L), 20-D quadratic, L/mu = 100",
        relation=">=",
    )


def check_convex_rate(step_scale: float = 1.0, problem: Problem | None = None) -> CheckResult:
    """GD with step 1/L on a convex L-smooth f: f(x_T) - f* <= L |x_0 - x*|^2 / 2T.

    Beck and Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
    Problems" (SIAM J. Imaging Sciences, 2009), Theorem 3.1, with no non-smooth term. Measured:
    the maximum over T <= 100 of the gap divided by the bound, on Nesterov's worst-case quadratic.
    """
    truth = build_problem("worst_case")
    smoothness, radius_sq = truth.smoothness, distance_sq(truth)
    settings = Settings(steps=100, lr=step_scale / smoothness)
    points = deterministic.gradient_descent(problem or truth, settings).points
    problem = truth
    ratios = [problem.error(points[t]) / (smoothness * radius_sq / (2 * t)) for t in range(1, 101)]
    measured = max(ratios)
    return CheckResult(
        "convex rate O(1/T)",
        "GD, step 1/L, convex: f(x_T) - f* <= L |x0 - x*|^2 / 2T",
        measured,
        1.0,
        measured <= 1.0,
        "max over T <= 100 of gap / bound, Nesterov's worst-case quadratic (n = 201)",
    )


def check_linear_rate(step_scale: float = 1.0, problem: Problem | None = None) -> CheckResult:
    """GD with step 1/L on an L-smooth, mu-strongly convex f: the gap shrinks by (1 - mu/L)^T.

    f(x_T) - f* <= (1 - mu/L)^T (f(x_0) - f*); Karimi, Nutini and Schmidt (ECML-PKDD 2016),
    Theorem 1, which needs only the Polyak-Lojasiewicz inequality that strong convexity implies.
    Measured: the maximum over T <= 200 of the gap divided by the bound, on a 20-D quadratic
    with condition number 100.
    """
    truth = build_problem("quadratic", dim=20, condition=100.0)
    rate = 1 - truth.strong_convexity / truth.smoothness
    settings = Settings(steps=200, lr=step_scale / truth.smoothness)
    points = deterministic.gradient_descent(problem or truth, settings).points
    problem = truth
    start = problem.error(points[0])
    measured = max(problem.error(points[t]) / (rate**t * start) for t in range(1, len(points)))
    return CheckResult(
        "linear rate",
        "GD, step 1/L, strongly convex: gap_T <= (1 - mu/L)^T gap_0",
        measured,
        1.0,
        measured <= 1.0 + ROUNDING,
        "max over T <= 200 of gap / bound, 20-D quadratic, L/mu = 100",
    )


def check_nesterov_rate(step_scale: float = 1.0, problem: Problem | None = None) -> CheckResult:
    """Nesterov's method on a convex L-smooth f: f(x_T) - f* <= 2 L |x_0 - x*|^2 / (T + 1)^2.

    The bound is Beck and Teboulle's (2009), Theorem 4.4, for FISTA with step 1/L, whose momentum
    tends to 1 as (t - 1) / (t + 2). NOTE: the method run here is torch.optim.SGD(nesterov=True)
    with momentum t / (t + 3), and its iterate is FISTA's point of gradient evaluation, one
    gradient step from the sequence the theorem bounds, so the check measures how this sequence
    meets that bound. GD's O(1/T) gap at the same T is in the detail.
    """
    truth = build_problem("worst_case")
    smoothness, radius_sq = truth.smoothness, distance_sq(truth)
    steps = 100
    settings = Settings(steps=steps, lr=step_scale / smoothness)
    points = torch_methods.nesterov(problem or truth, settings).points
    problem = truth
    ratios = [
        problem.error(points[t]) * (t + 1) ** 2 / (2 * smoothness * radius_sq)
        for t in range(1, steps + 1)
    ]
    gd_points = deterministic.gradient_descent(problem, Settings(steps=steps)).points
    measured = max(ratios)
    return CheckResult(
        "Nesterov O(1/T^2)",
        "Nesterov, step 1/L, convex: gap_T <= 2 L |x0 - x*|^2 / (T + 1)^2",
        measured,
        1.0,
        measured <= 1.0,
        f"at T = {steps}: Nesterov gap {problem.error(points[-1]):.2e}, "
        f"GD gap {problem.error(gd_points[-1]):.2e}",
    )
