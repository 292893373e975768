"""Full-gradient methods written by hand: GD, Newton, BFGS, natural gradient, projected GD,
Riemannian GD on the sphere, and the hypergradient of a regularisation weight."""

import torch
from torch import Tensor

from genopt_cli.lab.problem import Problem
from genopt_cli.lab.trace import Settings, Trace


def iterate(problem: Problem, settings: Settings, update) -> Trace:
    """Run x_{t+1} = update(x_t) for settings.steps steps from x0, recording every iterate."""
    x = problem.x0.clone()
    trace = Trace()
    trace.record(x)
    for _ in range(settings.steps):
        x = update(x)
        trace.record(x)
    return trace


def gradient_descent(problem: Problem, settings: Settings) -> Trace:
    """x_{t+1} = x_t - lr grad f(x_t), with lr = 1/L by default."""
    lr = settings.lr or problem.step_size
    return iterate(problem, settings, lambda x: x - lr * problem.gradient(x))


def newton(problem: Problem, settings: Settings) -> Trace:
    """x_{t+1} = x_t - lr H(x_t)^{-1} grad f(x_t), with lr = 1 (the pure Newton step) by default."""
    lr = settings.lr or 1.0

    def update(x: Tensor) -> Tensor:
        return x - lr * torch.linalg.solve(problem.hessian(x), problem.gradient(x))

    return iterate(problem, settings, update)


def natural_gradient(problem: Problem, settings: Settings) -> Trace:
    """x_{t+1} = x_t - lr F(x_t)^{-1} grad f(x_t), F the Fisher information (plus the L2 term).

    For logistic regression the Fisher information of the model equals the Hessian of the mean
    negative log-likelihood (the logit is the canonical link), so here the natural gradient step
    coincides with Newton's. The default lr is 1.
    """
    lr = settings.lr or 1.0
    fisher = problem.data["fisher"]

    def update(x: Tensor) -> Tensor:
        return x - lr * torch.linalg.solve(fisher(x), problem.gradient(x))

    return iterate(problem, settings, update)


def armijo_step(problem: Problem, x: Tensor, direction: Tensor, gradient: Tensor) -> float:
    """Return the first step in 1, 1/2, 1/4, ... with f(x + a d) <= f(x) + 1e-4 a g^T d."""
    value = float(problem.objective(x))
    slope = float(gradient @ direction)
    step = 1.0
    for _ in range(60):
        if float(problem.objective(x + step * direction)) <= value + 1e-4 * step * slope:
            break
        step /= 2
    return step


def bfgs(problem: Problem, settings: Settings) -> Trace:
    """BFGS with an Armijo backtracking line search.

    x_{t+1} = x_t - a_t H_t g_t, and with s = x_{t+1} - x_t, y = g_{t+1} - g_t, rho = 1 / y^T s:
    H_{t+1} = (I - rho s y^T) H_t (I - rho y s^T) + rho s s^T. H_0 = I. The update is skipped
    when y^T s <= 0, which keeps H positive definite.
    """
    x = problem.x0.clone()
    identity = torch.eye(problem.dim, dtype=x.dtype)
    inverse_hessian = identity.clone()
    gradient = problem.gradient(x)
    trace = Trace()
    trace.record(x)
    for _ in range(settings.steps):
        direction = -inverse_hessian @ gradient
        step = armijo_step(problem, x, direction, gradient)
        new_x = x + step * direction
        new_gradient = problem.gradient(new_x)
        s, y = new_x - x, new_gradient - gradient
        curvature = float(y @ s)
        if curvature > 1e-300:
            rho = 1 / curvature
            left = identity - rho * torch.outer(s, y)
            inverse_hessian = left @ inverse_hessian @ left.T + rho * torch.outer(s, s)
        x, gradient = new_x, new_gradient
        trace.record(x)
    return trace


def projected_gradient_descent(problem: Problem, settings: Settings) -> Trace:
    """x_{t+1} = P(x_t - lr grad f(x_t)), P the Euclidean projection on the set; lr = 1/L."""
    lr = settings.lr or problem.step_size
    return iterate(problem, settings, lambda x: problem.project(x - lr * problem.gradient(x)))


def riemannian_gradient_descent(problem: Problem, settings: Settings) -> Trace:
    """Gradient descent on the unit sphere with the normalisation retraction.

    The Riemannian gradient is the Euclidean one projected on the tangent space,
    (I - x x^T) grad f(x), and x_{t+1} = R(x_t - lr (I - x_t x_t^T) grad f(x_t)) with
    R(v) = v / |v|. The default lr is 1/L.
    """
    lr = settings.lr or problem.step_size

    def update(x: Tensor) -> Tensor:
        gradient = problem.gradient(x)
        tangent = gradient - (x @ gradient) * x
        moved = x - lr * tangent
        return moved / torch.linalg.vector_norm(moved)

    return iterate(problem, settings, update)


def hypergradient(problem: Problem, s: Tensor) -> Tensor:
    """Return d/ds of outer(w*(s)) by implicit differentiation, w*(s) = argmin_w inner(w, s).

    At the inner optimum grad_w inner(w*(s), s) = 0; differentiating in s gives
    H dw*/ds + d/ds grad_w inner = 0, with H the inner Hessian in w, so
    d outer / ds = -grad outer(w*)^T H^{-1} d/ds grad_w inner(w*, s).
    """
    inner, outer = problem.data["inner_loss"], problem.data["outer_loss"]
    s = s.detach().reshape(())
    w = problem.data["inner_solution"](s).detach()
    hessian = torch.func.hessian(inner, argnums=0)(w, s)
    mixed = torch.func.jacrev(torch.func.grad(inner, argnums=0), argnums=1)(w, s)
    outer_gradient = torch.func.grad(outer)(w)
    return -(outer_gradient @ torch.linalg.solve(hessian, mixed)).reshape(1)


def finite_difference(problem: Problem, s: Tensor, h: float = 1e-5) -> Tensor:
    """Return the central difference (F(s + h) - F(s - h)) / 2h of the outer objective F."""
    return (problem.objective(s + h) - problem.objective(s - h)).reshape(1) / (2 * h)


def hypergradient_descent(problem: Problem, settings: Settings) -> Trace:
    """s_{t+1} = s_t - lr dF/ds(s_t), with the hypergradient by implicit differentiation."""
    lr = settings.lr or problem.step_size
    return iterate(problem, settings, lambda s: s - lr * hypergradient(problem, s))
