"""Methods that split a problem in parts: the augmented Lagrangian method and ADMM."""

import torch
from torch import Tensor

from genopt_cli.lab.problem import Problem
from genopt_cli.lab.trace import Settings, Trace


def constraint_values(problem: Problem, x: Tensor) -> tuple[Tensor, Tensor]:
    """Return h(x) and g(x), each a 1-D tensor, empty where the problem has none."""
    empty = x.new_zeros(0)
    equalities = problem.equalities(x) if problem.equalities else empty
    inequalities = problem.inequalities(x) if problem.inequalities else empty
    return equalities, inequalities


def augmented_lagrangian_value(problem, x, equality_multipliers, inequality_multipliers, penalty):
    """L(x) = f(x) + lambda^T h(x) + rho/2 |h(x)|^2
    + 1/(2 rho) sum_i (max(0, nu_i + rho g_i(x))^2 - nu_i^2) (Rockafellar's form for g <= 0)."""
    h, g = constraint_values(problem, x)
    value = problem.objective(x) + equality_multipliers @ h + penalty / 2 * h @ h
    shifted = (inequality_multipliers + penalty * g).clamp(min=0)
    return value + (shifted @ shifted - inequality_multipliers @ inequality_multipliers) / (
        2 * penalty
    )


def minimise_inner(function, x: Tensor) -> Tensor:
    """Minimise a smooth function from x with torch.optim.LBFGS to a gradient norm of 1e-12."""
    point = torch.nn.Parameter(x.clone())
    optimizer = torch.optim.LBFGS(
        [point],
        max_iter=500,
        max_eval=1000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        value = function(point)
        value.backward()
        return value

    optimizer.step(closure)
    return point.detach()


def augmented_lagrangian(problem: Problem, settings: Settings) -> Trace:
    """The method of multipliers: one step minimises the augmented Lagrangian, then updates.

    x_{t+1} = argmin_x L(x; lambda_t, nu_t) (by L-BFGS), lambda_{t+1} = lambda_t + rho h(x_{t+1})
    and nu_{t+1} = max(0, nu_t + rho g(x_{t+1})). The default penalty rho is 10.
    """
    penalty = settings.penalty or 10.0
    x = problem.x0.clone()
    h, g = constraint_values(problem, x)
    equality_multipliers, inequality_multipliers = torch.zeros_like(h), torch.zeros_like(g)
    trace = Trace()
    trace.record(x)
    for _ in range(settings.steps):
        multipliers = (equality_multipliers, inequality_multipliers)
        x = minimise_inner(
            lambda point, multipliers=multipliers: augmented_lagrangian_value(
                problem, point, *multipliers, penalty
            ),
            x,
        )
        h, g = constraint_values(problem, x)
        equality_multipliers = equality_multipliers + penalty * h
        inequality_multipliers = (inequality_multipliers + penalty * g).clamp(min=0)
        trace.record(x)
    return trace


def soft_threshold(v: Tensor, threshold: float) -> Tensor:
    return torch.sign(v) * (v.abs() - threshold).clamp(min=0)


def admm(problem: Problem, settings: Settings) -> Trace:
    """ADMM on the lasso, split as f(x) + g(z) with x = z (scaled form, penalty rho).

    x_{t+1} = (A^T A + rho I)^{-1} (A^T b + rho (z_t - u_t)),
    z_{t+1} = S_{weight/rho}(x_{t+1} + u_t), u_{t+1} = u_t + x_{t+1} - z_{t+1},
    with S the soft threshold. The recorded iterate is z, which is sparse. The default rho is 1.
    """
    penalty = settings.penalty or 1.0
    matrix, target, weight = (problem.data[key] for key in ("matrix", "target", "weight"))
    system = matrix.T @ matrix + penalty * torch.eye(problem.dim, dtype=matrix.dtype)
    factor = torch.linalg.cholesky(system)
    correlation = matrix.T @ target
    z = problem.x0.clone()
    scaled_dual = torch.zeros_like(z)
    trace = Trace()
    trace.record(z)
    for _ in range(settings.steps):
        right = (correlation + penalty * (z - scaled_dual)).unsqueeze(1)
        x = torch.cholesky_solve(right, factor).squeeze(1)
        z = soft_threshold(x + scaled_dual, weight / penalty)
        scaled_dual = scaled_dual + x - z
        trace.record(z)
    return trace
